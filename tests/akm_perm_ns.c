// SPDX-License-Identifier: GPL-2.0
/*
 * AKM permissions and network namespaces: every command needs
 * CAP_NET_ADMIN in the user namespace owning the network namespace, and
 * each network namespace has its own node, ASRs, members and keyring.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <keyutils.h>

#include "kselftest_harness.h"
#include "akm_test_lib.h"

AKM_FIXTURE(perm);

/* A valid request for every command (objects 1/1/epoch 1). */
static struct nl_msg *valid_request(struct akm_nl *nl, int cmd, bool *dump)
{
	static uint8_t key[AKM_KEY_LEN] = { 1, 2, 3 };
	struct nl_msg *msg = akm_msg(nl, cmd, 0);

	*dump = false;
	switch (cmd) {
	case AKM_CMD_NODE_SET:
		nla_put_u32(msg, AKM_A_NODE_ID, 9);
		break;
	case AKM_CMD_ASR_NEW:
		nla_put_u32(msg, AKM_A_ASR_ID, 2);
		nla_put_u8(msg, AKM_A_ASR_ALG, AKM_ALG_HMAC_SHA256);
		break;
	case AKM_CMD_ASR_DEL:
	case AKM_CMD_ASR_GET:
	case AKM_CMD_STATS_GET:
	case AKM_CMD_STATS_RESET:
		nla_put_u32(msg, AKM_A_ASR_ID, 1);
		break;
	case AKM_CMD_ASR_SET:
		nla_put_u32(msg, AKM_A_ASR_ID, 1);
		nla_put_string(msg, AKM_A_ASR_NAME, "pwned");
		break;
	case AKM_CMD_MEMBER_NEW:
		nla_put_u32(msg, AKM_A_ASR_ID, 1);
		nla_put_u32(msg, AKM_A_NODE_ID, 2);
		break;
	case AKM_CMD_MEMBER_SET:
	case AKM_CMD_MEMBER_DEL:
	case AKM_CMD_MEMBER_GET:
		nla_put_u32(msg, AKM_A_ASR_ID, 1);
		nla_put_u32(msg, AKM_A_NODE_ID, 1);
		if (cmd == AKM_CMD_MEMBER_SET)
			nla_put_u8(msg, AKM_A_MEMBER_STATE, AKM_MEMBER_REVOKED);
		break;
	case AKM_CMD_KEY_INSTALL:
		nla_put_u32(msg, AKM_A_ASR_ID, 1);
		nla_put_u32(msg, AKM_A_KEY_EPOCH, 2);
		nla_put(msg, AKM_A_KEY_MATERIAL, AKM_KEY_LEN, key);
		break;
	case AKM_CMD_KEY_ACTIVATE:
	case AKM_CMD_KEY_RETIRE:
		nla_put_u32(msg, AKM_A_ASR_ID, 1);
		nla_put_u32(msg, AKM_A_KEY_EPOCH, 1);
		break;
	}
	return msg;
}

/* Objects the EPERM tests try to touch. */
static int populate(struct akm_nl *nl)
{
	static const char *addrs[] = { "192.0.2.1" };
	uint8_t key[AKM_KEY_LEN];
	int ret;

	akm_material(key, sizeof(key), 1);
	ret = akm_node_set(nl, 1);
	ret = ret ?: akm_asr_new(nl, 1, AKM_ALG_HMAC_SHA256, "orig", -1);
	ret = ret ?: akm_member_new(nl, 1, 1, AKM_MEMBER_ACTIVE, addrs, 1);
	ret = ret ?: akm_key_install(nl, 1, 1, key, sizeof(key));
	return ret;
}

/* Nothing changed by the refused requests. */
static void check_untouched(struct __test_metadata *_metadata, struct akm_nl *nl,
			    uint32_t gen)
{
	struct akm_node_info n;
	struct akm_asr_info a;
	struct akm_member_info m;

	AKM_ASSERT_OK(nl, akm_node_get(nl, &n));
	EXPECT_EQ(gen, n.generation);
	EXPECT_EQ(1, n.node_id);
	EXPECT_EQ(1, n.asr_count);
	AKM_ASSERT_OK(nl, akm_asr_get(nl, 1, &a));
	EXPECT_STREQ("orig", a.name);
	ASSERT_EQ(1, a.nkeys);
	EXPECT_EQ(AKM_KEY_NEXT, a.keys[0].state);
	AKM_ASSERT_OK(nl, akm_member_get(nl, 1, 1, &m));
	EXPECT_EQ(AKM_MEMBER_ACTIVE, m.state);
}

static void all_commands_eperm(struct __test_metadata *_metadata, struct akm_nl *nl)
{
	int cmd;

	for (cmd = AKM_CMD_NODE_GET; cmd <= AKM_CMD_MAX; cmd++) {
		bool dump;
		struct nl_msg *msg;
		int ret;

		if (akm_cmd_is_event_only(cmd))
			continue;
		msg = valid_request(nl, cmd, &dump);
		ret = akm_do(nl, msg, NULL, NULL);
		EXPECT_EQ(-EPERM, ret) {
			TH_LOG("command %d: %d (%s)", cmd, ret, nl->ext_msg);
		}
	}
	/* dumps too */
	{
		struct akm_dump_res res;

		AKM_EXPECT_ERR(nl, -EPERM, akm_dump(nl, akm_msg(nl, AKM_CMD_ASR_GET, 0),
						    NULL, NULL, &res));
		EXPECT_EQ(0, res.msgs);
		AKM_EXPECT_ERR(nl, -EPERM, akm_dump(nl, akm_msg(nl, AKM_CMD_MEMBER_GET, 0),
						    NULL, NULL, &res));
		EXPECT_EQ(0, res.msgs);
	}
}

/*
 * A process in a new user namespace has all capabilities there, but none
 * over the network namespace (owned by the initial user namespace).
 */
TEST_F(perm, userns_without_netns_admin_eperm)
{
	struct akm_node_info n;
	struct akm_nl unpriv;

	AKM_ASSERT_OK(&self->nl, populate(&self->nl));
	AKM_ASSERT_OK(&self->nl, akm_node_get(&self->nl, &n));
	ASSERT_EQ(0, unshare(CLONE_NEWUSER)) {
		TH_LOG("unshare(CLONE_NEWUSER): %s", strerror(errno));
	}
	/* a socket opened after unshare: the family is still visible */
	ASSERT_EQ(0, akm_nl_open(&unpriv));
	all_commands_eperm(_metadata, &unpriv);
	/* a socket opened before unshare by a privileged opener */
	all_commands_eperm(_metadata, &self->nl);
	akm_nl_close(&unpriv);
	/* nothing changed (checked from a privileged process) */
}

static int drop_to_userns(void)
{
	return unshare(CLONE_NEWUSER);
}

static int drop_to_nobody(void)
{
	return setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534);
}

/*
 * A child that dropped its privileges with @drop sends every command once:
 * each must fail with EPERM, and the state (checked from this privileged
 * process) must be untouched.
 */
static void check_refused_child(struct __test_metadata *_metadata, struct akm_nl *nl,
				int (*drop)(void))
{
	struct akm_node_info n;
	pid_t pid;
	int status;

	AKM_ASSERT_OK(nl, populate(nl));
	AKM_ASSERT_OK(nl, akm_node_get(nl, &n));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct akm_nl u;
		int cmd, bad = 0;

		if (drop() || akm_nl_open(&u))
			_exit(100);
		for (cmd = AKM_CMD_NODE_GET; cmd <= AKM_CMD_MAX; cmd++) {
			bool dump;
			int ret;

			if (akm_cmd_is_event_only(cmd))
				continue;
			ret = akm_do(&u, valid_request(&u, cmd, &dump), NULL, NULL);
			if (ret != -EPERM) {
				fprintf(stderr, "# command %d: %d\n", cmd, ret);
				bad++;
			}
		}
		_exit(bad);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	check_untouched(_metadata, nl, n.generation);
}

/* The same from a new user namespace, checked afterwards from outside. */
TEST_F(perm, userns_requests_change_nothing)
{
	check_refused_child(_metadata, &self->nl, drop_to_userns);
}

/* A non-root user without capabilities is refused too. */
TEST_F(perm, unprivileged_user_eperm)
{
	check_refused_child(_metadata, &self->nl, drop_to_nobody);
}

/*
 * The owner of a user namespace administers the network namespaces it
 * creates: with CLONE_NEWUSER|CLONE_NEWNET every command works there.
 */
TEST_F(perm, userns_owner_of_netns_allowed)
{
	struct akm_nl u;
	struct akm_node_info n;
	struct akm_asr_info a;
	uint8_t key[AKM_KEY_LEN];

	akm_material(key, sizeof(key), 5);
	ASSERT_EQ(0, unshare(CLONE_NEWUSER | CLONE_NEWNET)) {
		TH_LOG("unshare: %s", strerror(errno));
	}
	ASSERT_EQ(0, akm_nl_open(&u));
	AKM_ASSERT_OK(&u, akm_node_get(&u, &n));
	EXPECT_EQ(0, n.asr_count);
	AKM_EXPECT_OK(&u, akm_node_set(&u, 3));
	AKM_ASSERT_OK(&u, akm_asr_new(&u, 1, AKM_ALG_HMAC_SHA256, "userns", -1));
	AKM_EXPECT_OK(&u, akm_member_new(&u, 1, 3, -1, NULL, 0));
	AKM_EXPECT_OK(&u, akm_key_install(&u, 1, 1, key, sizeof(key)));
	AKM_EXPECT_OK(&u, akm_key_activate(&u, 1, 1));
	AKM_ASSERT_OK(&u, akm_asr_get(&u, 1, &a));
	EXPECT_EQ(1, a.member_count);
	EXPECT_EQ(1, a.nkeys);
	AKM_EXPECT_OK(&u, akm_asr_del(&u, 1));
	akm_nl_close(&u);
}

/* Two sockets in two namespaces: nothing crosses over. */
TEST_F(perm, netns_isolation)
{
	const char *addrs[] = { "192.0.2.50", "2001:db8::50" };
	struct akm_nl other;
	struct akm_node_info n0, n1;
	struct akm_asr_info a[4];
	struct akm_member_info m;
	int n;

	AKM_ASSERT_OK(&self->nl, akm_node_set(&self->nl, 100));
	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 1, AKM_ALG_HMAC_SHA256, "here", -1));
	AKM_ASSERT_OK(&self->nl, akm_member_new(&self->nl, 1, 5, -1, addrs, 2));

	ASSERT_EQ(0, akm_new_netns());
	ASSERT_EQ(0, akm_nl_open(&other));

	/* the new namespace starts empty */
	AKM_ASSERT_OK(&other, akm_node_get(&other, &n1));
	EXPECT_EQ(0, n1.node_id);
	EXPECT_EQ(0, n1.asr_count);
	AKM_ASSERT_OK(&other, akm_asr_dump(&other, a, 4, &n, NULL));
	EXPECT_EQ(0, n);
	AKM_EXPECT_ERR(&other, -ENOENT, akm_asr_get(&other, 1, a));
	AKM_EXPECT_ERR(&other, -ENOENT, akm_member_get(&other, 1, 5, &m));

	/* the same ids and addresses are free there */
	AKM_ASSERT_OK(&other, akm_node_set(&other, 200));
	AKM_ASSERT_OK(&other, akm_asr_new(&other, 1, AKM_ALG_CHACHA20_POLY1305, "there", -1));
	AKM_ASSERT_OK(&other, akm_asr_new(&other, 2, AKM_ALG_HMAC_SHA256, NULL, -1));
	AKM_EXPECT_OK(&other, akm_member_new(&other, 2, 6, -1, addrs, 2));

	/* and the original namespace did not see any of it */
	AKM_ASSERT_OK(&self->nl, akm_node_get(&self->nl, &n0));
	EXPECT_EQ(100, n0.node_id);
	EXPECT_EQ(1, n0.asr_count);
	EXPECT_NE(n0.keyring, n1.keyring);
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 1, a));
	EXPECT_STREQ("here", a[0].name);
	EXPECT_EQ(AKM_ALG_HMAC_SHA256, a[0].alg);
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_asr_get(&self->nl, 2, a));
	AKM_ASSERT_OK(&self->nl, akm_asr_dump(&self->nl, a, 4, &n, NULL));
	EXPECT_EQ(1, n);
	AKM_ASSERT_OK(&other, akm_node_get(&other, &n1));
	EXPECT_EQ(200, n1.node_id);
	EXPECT_EQ(2, n1.asr_count);
	akm_nl_close(&other);
}

/*
 * The same with a child process that unshares its network namespace: what
 * it makes stays invisible to the parent, and the other way round.
 */
TEST_F(perm, netns_isolation_child)
{
	int to_child[2], to_parent[2];
	struct akm_asr_info a;
	struct akm_member_info m;
	pid_t pid;
	int status;
	char c;

	ASSERT_EQ(0, pipe(to_child));
	ASSERT_EQ(0, pipe(to_parent));
	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 78, AKM_ALG_HMAC_SHA256, "parent", -1));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		const char *addrs[] = { "198.51.100.77" };
		struct akm_asr_info ca[4];
		struct akm_nl cn;
		int n, bad = 0;

		if (unshare(CLONE_NEWNET) || akm_nl_open(&cn))
			_exit(100);
		if (akm_asr_get(&cn, 78, ca) != -ENOENT)
			bad |= 1;
		if (akm_asr_new(&cn, 77, AKM_ALG_HMAC_SHA256, "child", -1) ||
		    akm_member_new(&cn, 77, 1, -1, addrs, 1))
			bad |= 2;
		if (write(to_parent[1], "x", 1) != 1)
			bad |= 4;
		if (read(to_child[0], &c, 1) != 1)
			bad |= 8;
		/* the parent made ASR 79 meanwhile */
		if (akm_asr_get(&cn, 79, ca) != -ENOENT)
			bad |= 16;
		if (akm_asr_dump(&cn, ca, 4, &n, NULL) || n != 1 || ca[0].id != 77)
			bad |= 32;
		_exit(bad);
	}
	ASSERT_EQ(1, read(to_parent[0], &c, 1));
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_asr_get(&self->nl, 77, &a));
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_member_get(&self->nl, 77, 1, &m));
	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 79, AKM_ALG_HMAC_SHA256, NULL, -1));
	/* the child's address is free here */
	{
		const char *addrs[] = { "198.51.100.77" };

		AKM_EXPECT_OK(&self->nl, akm_member_new(&self->nl, 79, 1, -1, addrs, 1));
	}
	ASSERT_EQ(1, write(to_child[1], "y", 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status)) {
		TH_LOG("child check bits 0x%x", WEXITSTATUS(status));
	}
}

/* Events of one namespace are not seen in another. */
TEST_F(perm, netns_events_isolated)
{
	struct akm_nl ev, other;
	struct akm_event e;

	ASSERT_EQ(0, akm_events_open(&ev));
	ASSERT_EQ(0, akm_new_netns());
	ASSERT_EQ(0, akm_nl_open(&other));
	AKM_ASSERT_OK(&other, akm_asr_new(&other, 5, AKM_ALG_HMAC_SHA256, NULL, -1));
	AKM_ASSERT_OK(&other, akm_node_set(&other, 5));
	EXPECT_EQ(-ETIMEDOUT, akm_event_next(&ev, &e, 300)) {
		TH_LOG("got event cmd %d asr %u from another namespace", e.cmd, e.asr_id);
	}
	/* while changes in its own namespace arrive */
	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 6, AKM_ALG_HMAC_SHA256, NULL, -1));
	ASSERT_EQ(0, akm_event_wait(&ev, AKM_CMD_ASR_NEW, &e, 2000));
	EXPECT_EQ(6, e.asr_id);
	akm_nl_close(&other);
	akm_nl_close(&ev);
}

/* When a namespace goes away, so do its keys. */
TEST_F(perm, netns_exit_frees_keys)
{
	int to_parent[2], to_child[2];
	int32_t serials[2] = { 0, 0 };
	long long end;
	pid_t pid;
	int status;
	char c;

	ASSERT_EQ(0, pipe(to_parent));
	ASSERT_EQ(0, pipe(to_child));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct akm_nl cn;
		struct akm_asr_info a;
		struct akm_node_info n;
		uint8_t key[AKM_KEY_LEN];
		int32_t out[2];

		akm_material(key, sizeof(key), 9);
		if (unshare(CLONE_NEWNET) || akm_nl_open(&cn))
			_exit(100);
		if (akm_node_get(&cn, &n) ||
		    akm_asr_new(&cn, 4321, AKM_ALG_HMAC_SHA256, NULL, -1) ||
		    akm_key_install(&cn, 4321, 1, key, sizeof(key)) ||
		    akm_asr_get(&cn, 4321, &a) || a.nkeys != 1)
			_exit(101);
		out[0] = a.keys[0].serial;
		out[1] = (int32_t)n.keyring;
		if (write(to_parent[1], out, sizeof(out)) != sizeof(out))
			_exit(102);
		akm_nl_close(&cn);
		if (read(to_child[0], &c, 1) != 1)
			_exit(103);
		_exit(0);
	}
	ASSERT_EQ(sizeof(serials), read(to_parent[0], serials, sizeof(serials)));
	ASSERT_GT(serials[0], 0);
	EXPECT_TRUE(akm_proc_keys_line(serials[0], NULL, 0));
	EXPECT_TRUE(akm_proc_keys_line(serials[1], NULL, 0));
	ASSERT_EQ(1, write(to_child[1], "q", 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* namespace teardown is asynchronous */
	end = akm_now_ms() + 10000;
	while (akm_now_ms() < end && (akm_proc_keys_line(serials[0], NULL, 0) ||
				      akm_proc_keys_line(serials[1], NULL, 0)))
		usleep(50000);
	EXPECT_FALSE(akm_proc_keys_line(serials[0], NULL, 0)) {
		TH_LOG("key %08x survived its namespace", serials[0]);
	}
	EXPECT_FALSE(akm_proc_keys_line(serials[1], NULL, 0)) {
		TH_LOG("keyring %08x survived its namespace", serials[1]);
	}
}

TEST_HARNESS_MAIN
