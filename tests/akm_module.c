// SPDX-License-Identifier: GPL-2.0
/*
 * Unload akm.ko while it holds ASRs, members and keys in two network
 * namespaces, load it again from $AKM_MODULE with finit_module() and check
 * that every namespace starts from a fresh state; unloading during a dump
 * waits for the dump. Run this last.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <keyutils.h>

#include "kselftest_harness.h"
#include "akm_test_lib.h"

static const char *module_path(void)
{
	const char *p = getenv("AKM_MODULE");

	return p && *p && access(p, R_OK) == 0 ? p : NULL;
}

static bool module_loaded(void)
{
	struct stat st;

	return stat("/sys/module/akm", &st) == 0;
}

static int unload(void)
{
	long long end = akm_now_ms() + 10000;

	for (;;) {
		if (syscall(SYS_delete_module, "akm", O_NONBLOCK) == 0)
			return 0;
		if ((errno != EAGAIN && errno != EBUSY) || akm_now_ms() > end)
			return -errno;
		usleep(100000);
	}
}

static int load(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, "", 0) ? -errno : 0;
	close(fd);
	return ret;
}

static bool proc_keys_has(const char *needle)
{
	char buf[512];
	bool found = false;
	FILE *f = fopen("/proc/keys", "r");

	if (!f)
		return false;
	while (fgets(buf, sizeof(buf), f))
		if (strstr(buf, needle))
			found = true;
	fclose(f);
	return found;
}

static int populate(struct akm_nl *nl, uint32_t base)
{
	char a[3][64];
	const char *addrs[3] = { a[0], a[1], a[2] };
	uint8_t key[AKM_KEY_LEN];
	uint32_t i, node;
	int ret = 0;

	akm_material(key, sizeof(key), base);
	ret = akm_node_set(nl, base);
	for (i = base; i < base + 3 && !ret; i++) {
		ret = akm_asr_new(nl, i, 1 + i % 2, "module-test", -1);
		for (node = 1; node <= 4 && !ret; node++) {
			snprintf(a[0], sizeof(a[0]), "10.%u.%u.%u", base % 200, i % 200, node);
			snprintf(a[1], sizeof(a[1]), "fd00:%x:%x::%x", base, i, node);
			snprintf(a[2], sizeof(a[2]), "fd01:%x:%x::%x", base, i, node);
			ret = akm_member_new(nl, i, node, node % 3, addrs, 3);
		}
		ret = ret ?: akm_key_install(nl, i, 1, key, sizeof(key));
		ret = ret ?: akm_key_activate(nl, i, 1);
		ret = ret ?: akm_key_install(nl, i, 2, key, sizeof(key));
	}
	return ret;
}

static int count_cb(struct nlmsghdr *nlh, void *arg)
{
	(void)nlh;
	++*(int *)arg;
	return 0;
}

/* 0 if the namespace of nl looks freshly loaded. */
static int fresh_state(struct akm_nl *nl, uint32_t old_keyring)
{
	struct akm_node_info n;
	struct akm_asr_info a;
	struct akm_member_info m;
	int cnt, ret;

	ret = akm_node_get(nl, &n);
	if (ret)
		return 1;
	if (n.node_id != 0 || n.asr_count != 0 || !n.keyring || n.keyring == old_keyring)
		return 2;
	if (akm_asr_dump(nl, &a, 1, &cnt, NULL) || cnt != 0)
		return 3;
	if (akm_member_dump(nl, 0, &m, 1, &cnt, NULL) || cnt != 0)
		return 4;
	if (akm_stats_get(nl, 0, 0, &n.stats) || !akm_stats_zero(&n.stats))
		return 5;
	return 0;
}

TEST(unload_with_objects_then_reload)
{
	const char *path = module_path();
	int to_child[2], to_parent[2];
	struct akm_nl nl, ev;
	struct akm_node_info n;
	struct akm_asr_info a;
	int32_t key_serial;
	uint32_t keyring, child_keyring = 0;
	pid_t pid;
	int status, ret;
	char c;

	if (!path)
		SKIP(return, "AKM_MODULE not set or not readable: cannot reload, not unloading");
	ASSERT_TRUE(module_loaded());
	ASSERT_EQ(0, pipe(to_child));
	ASSERT_EQ(0, pipe(to_parent));

	/* objects in a second namespace, owned by a child */
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct akm_nl cn;
		struct akm_node_info cn_node;
		uint32_t kr = 0;

		if (unshare(CLONE_NEWNET) || akm_nl_open(&cn))
			_exit(100);
		if (populate(&cn, 500) || akm_node_get(&cn, &cn_node))
			_exit(101);
		kr = cn_node.keyring;
		akm_nl_close(&cn);
		if (write(to_parent[1], &kr, sizeof(kr)) != sizeof(kr))
			_exit(102);
		if (read(to_child[0], &c, 1) != 1)
			_exit(103);
		if (akm_nl_open(&cn))
			_exit(104);
		_exit(fresh_state(&cn, kr) ? 110 + fresh_state(&cn, kr) : 0);
	}
	ASSERT_EQ(sizeof(child_keyring), read(to_parent[0], &child_keyring, sizeof(child_keyring)));

	/* objects in this (initial) namespace */
	ASSERT_EQ(0, akm_nl_open(&nl));
	ASSERT_EQ(0, akm_events_open(&ev));
	AKM_ASSERT_OK(&nl, populate(&nl, 300));
	AKM_ASSERT_OK(&nl, akm_node_get(&nl, &n));
	keyring = n.keyring;
	AKM_ASSERT_OK(&nl, akm_asr_get(&nl, 300, &a));
	ASSERT_EQ(2, a.nkeys);
	key_serial = a.keys[0].serial;
	ASSERT_TRUE(akm_proc_keys_line(key_serial, NULL, 0));
	akm_nl_close(&nl);

	/* unload with all of that present (an event listener stays open) */
	ret = unload();
	ASSERT_EQ(0, ret) {
		TH_LOG("delete_module(akm): %s", strerror(-ret));
	}
	EXPECT_FALSE(module_loaded());
	EXPECT_EQ(-ENOENT, akm_nl_open(&nl));
	{
		char desc[256];

		EXPECT_LT(keyctl_describe(key_serial, desc, sizeof(desc)), 0);
	}
	{
		long long end = akm_now_ms() + 5000;

		while (akm_now_ms() < end &&
		       (akm_proc_keys_line(keyring, NULL, 0) ||
			akm_proc_keys_line(child_keyring, NULL, 0) || proc_keys_has(" akm ")))
			usleep(50000);
	}
	EXPECT_FALSE(akm_proc_keys_line(key_serial, NULL, 0));
	EXPECT_FALSE(proc_keys_has(" akm ")) {
		TH_LOG("keys of type akm left after unload");
	}
	EXPECT_FALSE(akm_proc_keys_line(keyring, NULL, 0)) {
		TH_LOG("keyring %08x left after unload", keyring);
	}
	EXPECT_FALSE(akm_proc_keys_line(child_keyring, NULL, 0)) {
		TH_LOG("keyring %08x of the other namespace left after unload", child_keyring);
	}
	akm_nl_close(&ev);

	/* load again: a fresh state everywhere */
	ret = load(path);
	ASSERT_EQ(0, ret) {
		TH_LOG("finit_module(%s): %s", path, strerror(-ret));
	}
	ASSERT_TRUE(module_loaded());
	ASSERT_EQ(0, akm_nl_open(&nl));
	EXPECT_EQ(0, fresh_state(&nl, keyring));
	AKM_EXPECT_ERR(&nl, -ENOENT, akm_asr_get(&nl, 300, &a));
	/* and it works */
	AKM_EXPECT_OK(&nl, akm_asr_new(&nl, 300, AKM_ALG_HMAC_SHA256, NULL, -1));
	AKM_EXPECT_OK(&nl, akm_asr_del(&nl, 300));
	akm_nl_close(&nl);

	ASSERT_EQ(1, write(to_child[1], "g", 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status)) {
		TH_LOG("other namespace after reload: check %d failed", WEXITSTATUS(status));
	}
}

/*
 * A dump holds a reference to the module of its family (netlink_dump_start
 * takes it for generic netlink families) from its first datagram until it
 * ends or its socket is closed: unloading meanwhile fails with EWOULDBLOCK
 * (delete_module with O_NONBLOCK, as rmmod does).
 */
static void check_unload_during_dump(struct __test_metadata *_metadata, bool finish)
{
	const char *path = module_path();
	struct akm_dump_res res;
	struct akm_node_info n;
	struct akm_nl nl;
	long long t;
	uint32_t i;
	bool done;
	int ret, count = 0;

	if (!path)
		SKIP(return, "AKM_MODULE not set or not readable: cannot reload, not unloading");
	ASSERT_TRUE(module_loaded());
	ASSERT_EQ(0, akm_new_netns());
	ASSERT_EQ(0, akm_nl_open(&nl));
	for (i = 1; i <= 400; i++)
		AKM_ASSERT_OK(&nl, akm_asr_new(&nl, i, AKM_ALG_HMAC_SHA256, "a-dump-of-many", -1));

	AKM_ASSERT_OK(&nl, akm_dump_start(&nl, akm_msg(&nl, AKM_CMD_ASR_GET, 0),
					  count_cb, &count, &res, &done));
	ASSERT_FALSE(done) {
		TH_LOG("the dump fit in one datagram: nothing tested");
	}
	ASSERT_EQ(-1, syscall(SYS_delete_module, "akm", O_NONBLOCK));
	EXPECT_EQ(EWOULDBLOCK, errno) {
		TH_LOG("delete_module during a dump: %s", strerror(errno));
	}
	ASSERT_TRUE(module_loaded());

	if (finish) {
		AKM_EXPECT_OK(&nl, akm_dump_finish(&nl, count_cb, &count, &res));
		EXPECT_EQ(400, count);
		EXPECT_FALSE(res.intr);
		AKM_EXPECT_OK(&nl, akm_node_get(&nl, &n));
		EXPECT_EQ(400, n.asr_count);
	}
	akm_nl_close(&nl);

	t = akm_now_ms();
	ret = unload();
	ASSERT_EQ(0, ret) {
		TH_LOG("delete_module after the dump %s: %s",
		       finish ? "ended" : "socket was closed", strerror(-ret));
	}
	TH_LOG("unloaded %lld ms after the dump %s", akm_now_ms() - t,
	       finish ? "ended" : "socket was closed");
	ret = load(path);
	ASSERT_EQ(0, ret) {
		TH_LOG("finit_module(%s): %s", path, strerror(-ret));
	}
	ASSERT_EQ(0, akm_nl_open(&nl));
	AKM_EXPECT_OK(&nl, akm_node_get(&nl, &n));
	EXPECT_EQ(0, n.asr_count);
	akm_nl_close(&nl);
}

TEST(unload_during_dump)
{
	check_unload_during_dump(_metadata, true);
}

TEST(unload_during_dump_socket_closed)
{
	check_unload_during_dump(_metadata, false);
}

/* Loading the module twice is refused and leaves the loaded one working. */
TEST(load_twice_eexist)
{
	const char *path = module_path();
	struct akm_nl nl;
	struct akm_node_info n;

	if (!path)
		SKIP(return, "AKM_MODULE not set or not readable");
	ASSERT_TRUE(module_loaded());
	EXPECT_EQ(-EEXIST, load(path));
	ASSERT_EQ(0, akm_nl_open(&nl));
	AKM_EXPECT_OK(&nl, akm_node_get(&nl, &n));
	akm_nl_close(&nl);
}

/* Namespaces made after the reload work as usual. */
TEST(new_netns_after_reload)
{
	struct akm_nl nl;
	struct akm_node_info n;

	ASSERT_EQ(0, akm_new_netns());
	ASSERT_EQ(0, akm_nl_open(&nl));
	AKM_ASSERT_OK(&nl, akm_node_get(&nl, &n));
	EXPECT_EQ(0, n.asr_count);
	EXPECT_NE(0, n.keyring);
	AKM_EXPECT_OK(&nl, populate(&nl, 700));
	akm_nl_close(&nl);
}

TEST_HARNESS_MAIN
