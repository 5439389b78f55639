// SPDX-License-Identifier: GPL-2.0
/*
 * AKM and the kernel keyring: the per-namespace keyring, keys of type
 * "akm" that can be described but never read, and that keyctl cannot
 * revoke, invalidate, unlink, clear or re-permission, from this namespace
 * or another one.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <keyutils.h>
#include <linux/capability.h>

#include "kselftest_harness.h"
#include "akm_test_lib.h"

FIXTURE(keyring) {
	struct akm_nl nl;
	struct akm_node_info node;
	uint8_t k[AKM_KEY_LEN];
};

FIXTURE_SETUP(keyring)
{
	ASSERT_EQ(0, akm_new_netns());
	ASSERT_EQ(0, akm_nl_open(&self->nl)) {
		TH_LOG("cannot open the akm generic netlink family (is akm.ko loaded?)");
	}
	akm_material(self->k, AKM_KEY_LEN, 4242);
	AKM_ASSERT_OK(&self->nl, akm_node_get(&self->nl, &self->node));
	ASSERT_NE(0, self->node.keyring);
	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 7, AKM_ALG_HMAC_SHA256, "kr", -1));
}

FIXTURE_TEARDOWN(keyring)
{
	akm_nl_close(&self->nl);
}

/* Install epoch and return its serial (0 on failure). */
static int32_t install(struct akm_nl *nl, uint32_t asr, uint32_t epoch, const uint8_t *k)
{
	struct akm_asr_info a;
	const struct akm_key_info *ki;

	if (akm_key_install(nl, asr, epoch, k, AKM_KEY_LEN))
		return 0;
	if (akm_asr_get(nl, asr, &a))
		return 0;
	ki = akm_find_key(&a, epoch);
	return ki && ki->has_serial ? ki->serial : 0;
}

/* Split "type;uid;gid;perm;description". */
static int describe(int32_t serial, char *type, size_t tlen, char *desc, size_t dlen)
{
	char buf[512], *p, *f[5];
	int i;

	if (keyctl_describe(serial, buf, sizeof(buf)) < 0)
		return -errno;
	p = buf;
	for (i = 0; i < 4; i++) {
		f[i] = p;
		p = strchr(p, ';');
		if (!p)
			return -EPROTO;
		*p++ = '\0';
	}
	f[4] = p;
	snprintf(type, tlen, "%s", f[0]);
	snprintf(desc, dlen, "%s", f[4]);
	return 0;
}

/* The namespace's keyring is a "keyring" named .akm:net:<netns inode>. */
TEST_F(keyring, node_keyring)
{
	char type[64], desc[256], want[64];

	ASSERT_EQ(0, describe(self->node.keyring, type, sizeof(type), desc, sizeof(desc)));
	EXPECT_STREQ("keyring", type);
	snprintf(want, sizeof(want), ".akm:net:%lu", akm_netns_inode());
	EXPECT_STREQ(want, desc);
}

/* KEY nest carries the serial of an "akm" key "asr:<id>:epoch:<n>". */
TEST_F(keyring, key_describe)
{
	char type[64], desc[256];
	int32_t serial;

	serial = install(&self->nl, 7, 3, self->k);
	ASSERT_GT(serial, 0);
	ASSERT_EQ(0, describe(serial, type, sizeof(type), desc, sizeof(desc)));
	EXPECT_STREQ("akm", type);
	EXPECT_STREQ("asr:7:epoch:3", desc);
	EXPECT_TRUE(akm_keyring_contains(self->node.keyring, serial));
}

/* The material can never be read back. */
TEST_F(keyring, key_read_fails)
{
	char buf[256];
	int32_t serial;
	long n;

	serial = install(&self->nl, 7, 1, self->k);
	ASSERT_GT(serial, 0);
	n = keyctl_read(serial, buf, sizeof(buf));
	EXPECT_LT(n, 0) {
		TH_LOG("keyctl_read returned %ld bytes", n);
	}
	/* and the keyring listing holds serials only */
	EXPECT_TRUE(akm_keyring_contains(self->node.keyring, serial));
}

TEST_F(keyring, proc_keys_line)
{
	char line[512], want[64];
	int32_t serial;

	serial = install(&self->nl, 7, 2, self->k);
	ASSERT_GT(serial, 0);
	ASSERT_TRUE(akm_proc_keys_line(serial, line, sizeof(line))) {
		TH_LOG("serial %08x not in /proc/keys", serial);
	}
	EXPECT_NE(NULL, strstr(line, " akm "));
	snprintf(want, sizeof(want), "asr:7:epoch:2");
	EXPECT_NE(NULL, strstr(line, want)) {
		TH_LOG("line: %s", line);
	}
	/* nothing that looks like material */
	EXPECT_EQ(NULL, memmem(line, strlen(line), self->k, 4));
	/* the keyring is there too */
	EXPECT_TRUE(akm_proc_keys_line(self->node.keyring, line, sizeof(line)));
}

/*
 * Every keyctl that could take a key or the keyring away, or open them up:
 * the number that succeeded (0 expected), each logged.
 */
static int keyctl_attempts(int32_t key, int32_t keyring, const char *name)
{
	struct { const char *what; long ret; } t[] = {
		{ "revoke key", keyctl_revoke(key) },
		{ "invalidate key", keyctl_invalidate(key) },
		{ "unlink key", keyctl_unlink(key, keyring) },
		{ "set_timeout key", keyctl_set_timeout(key, 1) },
		{ "setperm key", keyctl_setperm(key, KEY_POS_ALL | KEY_USR_ALL) },
		{ "chown key", keyctl_chown(key, 1, -1) },
		{ "link key", keyctl_link(key, KEY_SPEC_PROCESS_KEYRING) },
		{ "clear keyring", keyctl_clear(keyring) },
		{ "revoke keyring", keyctl_revoke(keyring) },
		{ "invalidate keyring", keyctl_invalidate(keyring) },
		{ "setperm keyring", keyctl_setperm(keyring, KEY_POS_ALL | KEY_USR_ALL) },
		{ "link keyring", keyctl_link(keyring, KEY_SPEC_PROCESS_KEYRING) },
		{ "search keyring", keyctl_search(keyring, "akm", "asr:7:epoch:1", 0) },
	};
	unsigned int i;
	int n = 0;

	/* joining it by name would make it possessed: not published */
	if (keyctl_join_session_keyring(name) == keyring) {
		fprintf(stderr, "# keyctl join %s: joined\n", name);
		n++;
	}
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (t[i].ret >= 0) {
			fprintf(stderr, "# keyctl %s: succeeded\n", t[i].what);
			n++;
		}
	}
	return n;
}

/* Both epochs and their keys are as they were; nothing was announced. */
static void check_intact(struct __test_metadata *_metadata, FIXTURE_DATA(keyring) *self,
			 struct akm_nl *ev, int32_t s1, int32_t s2)
{
	struct akm_asr_info a;
	struct akm_event e;
	char type[64], desc[256];

	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 7, &a));
	ASSERT_EQ(2, a.nkeys);
	EXPECT_EQ(AKM_KEY_CURRENT, akm_find_key(&a, 1)->state);
	EXPECT_EQ(AKM_KEY_NEXT, akm_find_key(&a, 2)->state);
	EXPECT_TRUE(akm_keyring_contains(self->node.keyring, s1));
	EXPECT_TRUE(akm_keyring_contains(self->node.keyring, s2));
	/* the owner can still inspect them */
	ASSERT_EQ(0, describe(s1, type, sizeof(type), desc, sizeof(desc)));
	EXPECT_STREQ("asr:7:epoch:1", desc);
	EXPECT_NE(0, akm_event_wait(ev, AKM_CMD_KEY_REVOKED, &e, 300));
}

/* Epoch 1 current, 2 next, their serials; events open and drained. */
static void two_epochs(struct __test_metadata *_metadata, FIXTURE_DATA(keyring) *self,
		       struct akm_nl *ev, int32_t s[2], char name[64])
{
	snprintf(name, 64, ".akm:net:%lu", akm_netns_inode());
	ASSERT_EQ(0, akm_events_open(ev));
	s[0] = install(&self->nl, 7, 1, self->k);
	ASSERT_GT(s[0], 0);
	AKM_ASSERT_OK(&self->nl, akm_key_activate(&self->nl, 7, 1));
	s[1] = install(&self->nl, 7, 2, self->k);
	ASSERT_GT(s[1], 0);
	akm_events_drain(ev);
}

/* Root with every capability, in the keyring's own namespace. */
TEST_F(keyring, keyctl_refused_here)
{
	struct akm_nl ev;
	int32_t s[2];
	char name[64];

	two_epochs(_metadata, self, &ev, s, name);
	EXPECT_EQ(0, keyctl_attempts(s[0], self->node.keyring, name));
	EXPECT_EQ(0, keyctl_attempts(s[1], self->node.keyring, name));
	check_intact(_metadata, self, &ev, s[0], s[1]);
	akm_nl_close(&ev);
}

/* Drop CAP_NET_ADMIN from the effective and permitted sets. */
static int drop_net_admin(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -1;
	d[CAP_NET_ADMIN / 32].effective &= ~(1u << (CAP_NET_ADMIN % 32));
	d[CAP_NET_ADMIN / 32].permitted &= ~(1u << (CAP_NET_ADMIN % 32));
	return syscall(SYS_capset, &h, d);
}

/*
 * uid 0 in another network namespace, without CAP_NET_ADMIN: it sees the
 * serials (same uid) but can do nothing to them.
 */
TEST_F(keyring, keyctl_refused_other_netns)
{
	struct akm_nl ev;
	int32_t s[2];
	char name[64];
	int status;
	pid_t pid;

	two_epochs(_metadata, self, &ev, s, name);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		if (unshare(CLONE_NEWNET) || drop_net_admin())
			_exit(100);
		_exit(keyctl_attempts(s[0], self->node.keyring, name) +
		      keyctl_attempts(s[1], self->node.keyring, name));
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	check_intact(_metadata, self, &ev, s[0], s[1]);
	akm_nl_close(&ev);
}

/* KEY_RETIRE unlinks the key from the namespace keyring. */
TEST_F(keyring, retire_unlinks_key)
{
	int32_t s1, s2;

	s1 = install(&self->nl, 7, 1, self->k);
	ASSERT_GT(s1, 0);
	AKM_ASSERT_OK(&self->nl, akm_key_activate(&self->nl, 7, 1));
	s2 = install(&self->nl, 7, 2, self->k);
	ASSERT_GT(s2, 0);
	EXPECT_NE(s1, s2);
	AKM_ASSERT_OK(&self->nl, akm_key_retire(&self->nl, 7, 1));
	EXPECT_TRUE(akm_keyring_drops(self->node.keyring, s1, 2000));
	EXPECT_TRUE(akm_keyring_contains(self->node.keyring, s2));
}

/* ASR_DEL unlinks every key of the ASR, and only those. */
TEST_F(keyring, asr_del_unlinks_keys)
{
	int32_t s1, s2, s3;

	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 8, AKM_ALG_HMAC_SHA256, NULL, -1));
	s1 = install(&self->nl, 7, 1, self->k);
	ASSERT_GT(s1, 0);
	AKM_ASSERT_OK(&self->nl, akm_key_activate(&self->nl, 7, 1));
	s2 = install(&self->nl, 7, 2, self->k);
	s3 = install(&self->nl, 8, 1, self->k);
	ASSERT_GT(s2, 0);
	ASSERT_GT(s3, 0);
	AKM_ASSERT_OK(&self->nl, akm_asr_del(&self->nl, 7));
	EXPECT_TRUE(akm_keyring_drops(self->node.keyring, s1, 2000));
	EXPECT_TRUE(akm_keyring_drops(self->node.keyring, s2, 2000));
	EXPECT_TRUE(akm_keyring_contains(self->node.keyring, s3));
}

/* Each network namespace has a keyring of its own. */
TEST_F(keyring, per_netns_keyring)
{
	struct akm_nl other;
	struct akm_node_info n;
	char type[64], desc[256], want[64];
	int32_t s_here, s_there;

	s_here = install(&self->nl, 7, 1, self->k);
	ASSERT_GT(s_here, 0);
	ASSERT_EQ(0, akm_new_netns());
	ASSERT_EQ(0, akm_nl_open(&other));
	AKM_ASSERT_OK(&other, akm_node_get(&other, &n));
	EXPECT_NE(self->node.keyring, n.keyring);
	ASSERT_EQ(0, describe(n.keyring, type, sizeof(type), desc, sizeof(desc)));
	snprintf(want, sizeof(want), ".akm:net:%lu", akm_netns_inode());
	EXPECT_STREQ(want, desc);
	AKM_ASSERT_OK(&other, akm_asr_new(&other, 7, AKM_ALG_HMAC_SHA256, NULL, -1));
	s_there = install(&other, 7, 1, self->k);
	ASSERT_GT(s_there, 0);
	EXPECT_NE(s_here, s_there);
	EXPECT_TRUE(akm_keyring_contains(n.keyring, s_there));
	EXPECT_TRUE(akm_keyring_drops(n.keyring, s_here, 2000));
	EXPECT_TRUE(akm_keyring_drops(self->node.keyring, s_there, 2000));
	akm_nl_close(&other);
}

/* A user cannot plant a key of type "akm" into the namespace keyring. */
TEST_F(keyring, user_cannot_add_akm_key)
{
	struct akm_asr_info a;
	key_serial_t k;

	k = add_key("akm", "asr:7:epoch:9", self->k, AKM_KEY_LEN, self->node.keyring);
	if (k >= 0)
		TH_LOG("add_key(\"akm\") made key %d", k);
	EXPECT_LT(k, 0);
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 7, &a));
	EXPECT_EQ(0, a.nkeys);
}

TEST_HARNESS_MAIN
