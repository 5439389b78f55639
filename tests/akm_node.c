// SPDX-License-Identifier: GPL-2.0
/*
 * AKM node commands (NODE_GET, NODE_SET), the family itself as seen by the
 * generic netlink controller, and strict attribute validation.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <linux/genetlink.h>

#include "kselftest_harness.h"
#include "akm_test_lib.h"

AKM_FIXTURE(node);

struct family_info {
	bool found;
	uint32_t version, maxattr;
	uint32_t op_flags[AKM_CMD_MAX + 8];
	bool op_present[AKM_CMD_MAX + 8];
	bool has_events_grp;
};

static int family_cb(struct nlmsghdr *nlh, void *arg)
{
	struct family_info *fi = arg;
	struct nlattr *tb[CTRL_ATTR_MAX + 1], *a, *b;
	int rem, rem2;

	if (genlmsg_parse(nlh, 0, tb, CTRL_ATTR_MAX, NULL))
		return -EPROTO;
	fi->found = true;
	if (tb[CTRL_ATTR_VERSION])
		fi->version = nla_get_u32(tb[CTRL_ATTR_VERSION]);
	if (tb[CTRL_ATTR_MAXATTR])
		fi->maxattr = nla_get_u32(tb[CTRL_ATTR_MAXATTR]);
	if (tb[CTRL_ATTR_OPS]) {
		nla_for_each_nested(a, tb[CTRL_ATTR_OPS], rem) {
			uint32_t id = 0, flags = 0;

			nla_for_each_nested(b, a, rem2) {
				if (nla_type(b) == CTRL_ATTR_OP_ID)
					id = nla_get_u32(b);
				else if (nla_type(b) == CTRL_ATTR_OP_FLAGS)
					flags = nla_get_u32(b);
			}
			if (id < AKM_CMD_MAX + 8) {
				fi->op_present[id] = true;
				fi->op_flags[id] = flags;
			}
		}
	}
	if (tb[CTRL_ATTR_MCAST_GROUPS]) {
		nla_for_each_nested(a, tb[CTRL_ATTR_MCAST_GROUPS], rem) {
			nla_for_each_nested(b, a, rem2) {
				if (nla_type(b) == CTRL_ATTR_MCAST_GRP_NAME &&
				    !strcmp(nla_get_string(b), AKM_MCGRP_EVENTS))
					fi->has_events_grp = true;
			}
		}
	}
	return 0;
}

/* The controller reports the family, its version, maxattr, ops and group. */
TEST_F(node, family_registered)
{
	struct family_info fi = {};
	struct nl_msg *msg;
	int cmd;

	msg = akm_msg_family(&self->nl, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, 0);
	nla_put_string(msg, CTRL_ATTR_FAMILY_NAME, AKM_GENL_NAME);
	AKM_ASSERT_OK(&self->nl, akm_do(&self->nl, msg, family_cb, &fi));
	ASSERT_TRUE(fi.found);
	EXPECT_EQ(AKM_GENL_VERSION, fi.version);
	EXPECT_EQ(AKM_A_MAX, fi.maxattr);
	EXPECT_TRUE(fi.has_events_grp);
	for (cmd = AKM_CMD_NODE_GET; cmd <= AKM_CMD_MAX; cmd++) {
		if (akm_cmd_is_event_only(cmd)) {
			EXPECT_FALSE(fi.op_present[cmd]) {
				TH_LOG("event-only command %d has an op", cmd);
			}
			continue;
		}
		EXPECT_TRUE(fi.op_present[cmd]) {
			TH_LOG("command %d has no op", cmd);
		}
		EXPECT_TRUE(fi.op_flags[cmd] & (GENL_UNS_ADMIN_PERM | GENL_ADMIN_PERM)) {
			TH_LOG("command %d does not need admin (flags 0x%x)", cmd,
			       fi.op_flags[cmd]);
		}
	}
	EXPECT_TRUE(fi.op_flags[AKM_CMD_ASR_GET] & GENL_CMD_CAP_DUMP);
	EXPECT_TRUE(fi.op_flags[AKM_CMD_ASR_GET] & GENL_CMD_CAP_DO);
	EXPECT_TRUE(fi.op_flags[AKM_CMD_MEMBER_GET] & GENL_CMD_CAP_DUMP);
	EXPECT_TRUE(fi.op_flags[AKM_CMD_MEMBER_GET] & GENL_CMD_CAP_DO);
	EXPECT_TRUE(fi.op_flags[AKM_CMD_NODE_GET] & GENL_CMD_CAP_DO);
}

/* A fresh namespace: node id 0, a keyring, no ASRs, every counter. */
TEST_F(node, get_defaults)
{
	struct akm_node_info n;

	AKM_ASSERT_OK(&self->nl, akm_node_get(&self->nl, &n));
	ASSERT_TRUE(n.has_node_id);
	EXPECT_EQ(0, n.node_id);
	ASSERT_TRUE(n.has_keyring);
	EXPECT_NE(0, n.keyring);
	EXPECT_TRUE(n.has_generation);
	ASSERT_TRUE(n.has_asr_count);
	EXPECT_EQ(0, n.asr_count);
	ASSERT_TRUE(n.has_stats);
	EXPECT_TRUE(akm_stats_complete(&n.stats));
	EXPECT_TRUE(akm_stats_zero(&n.stats));
}

TEST_F(node, set_and_get)
{
	struct akm_node_info n0, n1, n2;

	AKM_ASSERT_OK(&self->nl, akm_node_get(&self->nl, &n0));
	AKM_ASSERT_OK(&self->nl, akm_node_set(&self->nl, 42));
	AKM_ASSERT_OK(&self->nl, akm_node_get(&self->nl, &n1));
	EXPECT_EQ(42, n1.node_id);
	EXPECT_GT(n1.generation, n0.generation);
	AKM_ASSERT_OK(&self->nl, akm_node_set(&self->nl, 7));
	AKM_ASSERT_OK(&self->nl, akm_node_get(&self->nl, &n2));
	EXPECT_EQ(7, n2.node_id);
	EXPECT_GT(n2.generation, n1.generation);
	EXPECT_EQ(n0.keyring, n2.keyring);
}

TEST_F(node, set_max_id)
{
	struct akm_node_info n;

	AKM_ASSERT_OK(&self->nl, akm_node_set(&self->nl, 0xffffffffu));
	AKM_ASSERT_OK(&self->nl, akm_node_get(&self->nl, &n));
	EXPECT_EQ(0xffffffffu, n.node_id);
}

/* NODE_ID 0 is out of range; nothing changes. */
TEST_F(node, set_zero_einval)
{
	struct akm_node_info n0, n1;

	AKM_ASSERT_OK(&self->nl, akm_node_set(&self->nl, 5));
	AKM_ASSERT_OK(&self->nl, akm_node_get(&self->nl, &n0));
	AKM_EXPECT_INVAL(&self->nl, akm_node_set(&self->nl, 0));
	AKM_ASSERT_OK(&self->nl, akm_node_get(&self->nl, &n1));
	EXPECT_EQ(5, n1.node_id);
	EXPECT_EQ(n0.generation, n1.generation);
}

TEST_F(node, set_missing_id)
{
	struct nl_msg *msg = akm_msg(&self->nl, AKM_CMD_NODE_SET, 0);

	AKM_EXPECT_MISSING(&self->nl, akm_do(&self->nl, msg, NULL, NULL),
			   AKM_A_NODE_ID, "NODE_ID");
}

/* u32 attributes must be exactly 4 bytes. */
TEST_F(node, set_id_as_u16)
{
	struct nl_msg *msg = akm_msg(&self->nl, AKM_CMD_NODE_SET, 0);

	nla_put_u16(msg, AKM_A_NODE_ID, 9);
	AKM_EXPECT_ERR(&self->nl, -EINVAL, akm_do(&self->nl, msg, NULL, NULL));
}

TEST_F(node, set_id_as_u64)
{
	struct nl_msg *msg = akm_msg(&self->nl, AKM_CMD_NODE_SET, 0);
	struct akm_node_info n;

	nla_put_u64(msg, AKM_A_NODE_ID, 9);
	AKM_EXPECT_ERR(&self->nl, -EINVAL, akm_do(&self->nl, msg, NULL, NULL));
	AKM_ASSERT_OK(&self->nl, akm_node_get(&self->nl, &n));
	EXPECT_EQ(0, n.node_id);
}

/* Strict validation: attribute types beyond AKM_A_MAX are refused. */
TEST_F(node, unknown_attr_rejected)
{
	struct nl_msg *msg = akm_msg(&self->nl, AKM_CMD_NODE_SET, 0);
	struct akm_node_info n;

	nla_put_u32(msg, AKM_A_NODE_ID, 3);
	nla_put_u32(msg, AKM_A_MAX + 1, 1);
	AKM_EXPECT_ERR(&self->nl, -EINVAL, akm_do(&self->nl, msg, NULL, NULL));
	AKM_ASSERT_OK(&self->nl, akm_node_get(&self->nl, &n));
	EXPECT_EQ(0, n.node_id);

	msg = akm_msg(&self->nl, AKM_CMD_NODE_GET, 0);
	nla_put_u32(msg, 200, 1);
	AKM_EXPECT_ERR(&self->nl, -EINVAL, akm_do(&self->nl, msg, NULL, NULL));
}

/* Strict validation: attribute type 0 (UNSPEC) is refused. */
TEST_F(node, unspec_attr_rejected)
{
	struct nl_msg *msg = akm_msg(&self->nl, AKM_CMD_NODE_SET, 0);

	nla_put_u32(msg, AKM_A_NODE_ID, 3);
	nla_put_u32(msg, AKM_A_UNSPEC, 1);
	AKM_EXPECT_ERR(&self->nl, -EINVAL, akm_do(&self->nl, msg, NULL, NULL));
}

/* Strict validation: bytes left over after the attributes are refused. */
TEST_F(node, trailing_garbage_rejected)
{
	struct nl_msg *msg = akm_msg(&self->nl, AKM_CMD_NODE_SET, 0);
	char junk[3] = { 1, 2, 3 };
	struct akm_node_info n;

	nla_put_u32(msg, AKM_A_NODE_ID, 3);
	ASSERT_EQ(0, nlmsg_append(msg, junk, sizeof(junk), 0));
	AKM_EXPECT_ERR(&self->nl, -EINVAL, akm_do(&self->nl, msg, NULL, NULL));
	AKM_ASSERT_OK(&self->nl, akm_node_get(&self->nl, &n));
	EXPECT_EQ(0, n.node_id);
}

TEST_F(node, unknown_command)
{
	AKM_EXPECT_ERR(&self->nl, -EOPNOTSUPP,
		       akm_do(&self->nl, akm_msg(&self->nl, AKM_CMD_MAX + 1, 0), NULL, NULL));
	AKM_EXPECT_ERR(&self->nl, -EOPNOTSUPP,
		       akm_do(&self->nl, akm_msg(&self->nl, 99, 0), NULL, NULL));
	AKM_EXPECT_ERR(&self->nl, -EOPNOTSUPP,
		       akm_do(&self->nl, akm_msg(&self->nl, AKM_CMD_UNSPEC, 0), NULL, NULL));
}

/* KEY_REVOKED and AUTH_FAILURE are events, not requests. */
TEST_F(node, event_only_command_rejected)
{
	struct nl_msg *msg = akm_msg(&self->nl, AKM_CMD_KEY_REVOKED, 0);

	nla_put_u32(msg, AKM_A_ASR_ID, 1);
	nla_put_u32(msg, AKM_A_KEY_EPOCH, 1);
	AKM_EXPECT_ERR(&self->nl, -EOPNOTSUPP, akm_do(&self->nl, msg, NULL, NULL));
	msg = akm_msg(&self->nl, AKM_CMD_AUTH_FAILURE, 0);
	nla_put_u32(msg, AKM_A_ASR_ID, 1);
	AKM_EXPECT_ERR(&self->nl, -EOPNOTSUPP, akm_do(&self->nl, msg, NULL, NULL));
}

/* Reading does not change anything: two NODE_GETs agree. */
TEST_F(node, get_is_stable)
{
	struct akm_node_info n, m;

	AKM_ASSERT_OK(&self->nl, akm_node_get(&self->nl, &n));
	AKM_ASSERT_OK(&self->nl, akm_node_get(&self->nl, &m));
	EXPECT_EQ(n.node_id, m.node_id);
	EXPECT_EQ(n.keyring, m.keyring);
	EXPECT_EQ(n.generation, m.generation);
	EXPECT_EQ(n.asr_count, m.asr_count);
}

static uint32_t rnd(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/*
 * Random requests (commands, attribute types, lengths, nests, contents)
 * get an answer, never a crash; the family keeps working afterwards.
 */
TEST_F_TIMEOUT(node, random_requests, 300)
{
	static const int allowed[] = { 0, -EINVAL, -ERANGE, -ENOENT, -EEXIST, -EOPNOTSUPP,
				       -ENOSPC, -EBUSY, -EALREADY, -EADDRINUSE, -EBADMSG,
				       -EMSGSIZE };
	uint32_t seed = 0x5eed1234;
	struct akm_node_info n;
	int i, j, bad = 0;

	for (i = 0; i < 3000; i++) {
		int cmd = rnd(&seed) % (AKM_CMD_MAX + 3);
		int nattrs = rnd(&seed) % 6;
		bool dump = !(rnd(&seed) % 8);
		struct nl_msg *msg = akm_msg(&self->nl, cmd, 0);
		struct akm_dump_res res;
		unsigned int k;
		int ret;

		for (j = 0; j < nattrs; j++) {
			int type = rnd(&seed) % (AKM_A_MAX + 3);
			int len = rnd(&seed) % 3 ? (int)(rnd(&seed) % 5) * 4 : (int)(rnd(&seed) % 80);
			uint8_t buf[80];

			for (k = 0; k < sizeof(buf); k++)
				buf[k] = rnd(&seed) % 4 ? rnd(&seed) % 3 : rnd(&seed);
			if (type == AKM_A_MEMBER_ADDRS && rnd(&seed) % 2) {
				struct nlattr *nest = nla_nest_start(msg, type | NLA_F_NESTED);

				nla_put(msg, rnd(&seed) % 4, rnd(&seed) % 2 ? 4 : 16, buf);
				nla_nest_end_keep_empty(msg, nest);
			} else {
				nla_put(msg, type, len, buf);
			}
		}
		if (dump)
			ret = akm_dump(&self->nl, msg, NULL, NULL, &res);
		else
			ret = akm_do(&self->nl, msg, NULL, NULL);
		for (k = 0; k < sizeof(allowed) / sizeof(allowed[0]); k++)
			if (ret == allowed[k])
				break;
		if (k == sizeof(allowed) / sizeof(allowed[0]) && bad++ < 10)
			TH_LOG("request %d (cmd %d%s): %d (%s) \"%s\"", i, cmd, dump ? ", dump" : "",
			       ret, strerror(-ret), self->nl.ext_msg);
	}
	EXPECT_EQ(0, bad);
	AKM_EXPECT_OK(&self->nl, akm_node_get(&self->nl, &n));
}

/* The same works in the initial network namespace (objects cleaned up). */
TEST(init_netns_roundtrip)
{
	struct akm_nl nl;
	struct akm_node_info n0, n1;
	struct akm_asr_info a;
	uint32_t id = 0x7fff0001u;

	ASSERT_EQ(0, akm_nl_open(&nl));
	AKM_ASSERT_OK(&nl, akm_node_get(&nl, &n0));
	EXPECT_NE(0, n0.keyring);
	AKM_ASSERT_OK(&nl, akm_asr_new(&nl, id, AKM_ALG_HMAC_SHA256, "init-net", -1));
	AKM_EXPECT_OK(&nl, akm_asr_get(&nl, id, &a));
	EXPECT_EQ(id, a.id);
	EXPECT_STREQ("init-net", a.name);
	AKM_ASSERT_OK(&nl, akm_node_get(&nl, &n1));
	EXPECT_EQ(n0.asr_count + 1, n1.asr_count);
	AKM_EXPECT_OK(&nl, akm_asr_del(&nl, id));
	AKM_EXPECT_ERR(&nl, -ENOENT, akm_asr_get(&nl, id, &a));
	akm_nl_close(&nl);
}

TEST_HARNESS_MAIN
