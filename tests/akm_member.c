// SPDX-License-Identifier: GPL-2.0
/*
 * AKM member commands: MEMBER_NEW, MEMBER_SET, MEMBER_DEL, MEMBER_GET
 * (doit), addresses, limits and address uniqueness per namespace.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "akm_test_lib.h"

FIXTURE(member) {
	struct akm_nl nl;
};

/* Every test starts in a fresh namespace with ASRs 1 and 2. */
FIXTURE_SETUP(member)
{
	ASSERT_EQ(0, akm_new_netns());
	ASSERT_EQ(0, akm_nl_open(&self->nl)) {
		TH_LOG("cannot open the akm generic netlink family (is akm.ko loaded?)");
	}
	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 1, AKM_ALG_HMAC_SHA256, "one", -1));
	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 2, AKM_ALG_CHACHA20_POLY1305, "two", -1));
}

FIXTURE_TEARDOWN(member)
{
	akm_nl_close(&self->nl);
}

static uint32_t member_count(struct akm_nl *nl, uint32_t asr)
{
	struct akm_asr_info a;

	if (akm_asr_get(nl, asr, &a))
		return 0xdeadbeef;
	return a.member_count;
}

static uint32_t generation(struct akm_nl *nl)
{
	struct akm_node_info n;

	if (akm_node_get(nl, &n))
		return 0xdeadbeef;
	return n.generation;
}

static struct nl_msg *member_msg(struct akm_nl *nl, int cmd, uint32_t asr, uint32_t node)
{
	struct nl_msg *msg = akm_msg(nl, cmd, 0);

	nla_put_u32(msg, AKM_A_ASR_ID, asr);
	nla_put_u32(msg, AKM_A_NODE_ID, node);
	return msg;
}

TEST_F(member, new_defaults)
{
	struct akm_member_info m;

	AKM_ASSERT_OK(&self->nl, akm_member_new(&self->nl, 1, 10, -1, NULL, 0));
	AKM_ASSERT_OK(&self->nl, akm_member_get(&self->nl, 1, 10, &m));
	EXPECT_TRUE(m.has_asr_id);
	EXPECT_EQ(1, m.asr_id);
	EXPECT_TRUE(m.has_node_id);
	EXPECT_EQ(10, m.node_id);
	ASSERT_TRUE(m.has_state);
	EXPECT_EQ(AKM_MEMBER_PROVISIONED, m.state);
	EXPECT_EQ(0, m.naddrs);
	ASSERT_TRUE(m.has_stats);
	EXPECT_TRUE(akm_stats_complete(&m.stats));
	EXPECT_EQ(1, member_count(&self->nl, 1));
	EXPECT_EQ(0, member_count(&self->nl, 2));
}

TEST_F(member, new_with_addrs_and_state)
{
	const char *addrs[] = { "192.0.2.1", "2001:db8::1", "198.51.100.7", "fd00:1:2::3" };
	struct akm_member_info m;
	int i;

	AKM_ASSERT_OK(&self->nl, akm_member_new(&self->nl, 1, 11, AKM_MEMBER_ACTIVE, addrs, 4));
	AKM_ASSERT_OK(&self->nl, akm_member_get(&self->nl, 1, 11, &m));
	EXPECT_EQ(AKM_MEMBER_ACTIVE, m.state);
	ASSERT_TRUE(m.has_addrs);
	EXPECT_EQ(4, m.naddrs);
	for (i = 0; i < 4; i++) {
		EXPECT_TRUE(akm_member_has_addr(&m, addrs[i])) {
			TH_LOG("address %s missing", addrs[i]);
		}
	}
}

TEST_F(member, new_state_revoked)
{
	struct akm_member_info m;

	AKM_ASSERT_OK(&self->nl, akm_member_new(&self->nl, 2, 12, AKM_MEMBER_REVOKED, NULL, 0));
	AKM_ASSERT_OK(&self->nl, akm_member_get(&self->nl, 2, 12, &m));
	EXPECT_EQ(AKM_MEMBER_REVOKED, m.state);
}

TEST_F(member, set_state_keeps_addrs)
{
	const char *addrs[] = { "192.0.2.2", "2001:db8::2" };
	struct akm_member_info m;
	uint32_t gen;

	AKM_ASSERT_OK(&self->nl, akm_member_new(&self->nl, 1, 13, -1, addrs, 2));
	gen = generation(&self->nl);
	AKM_ASSERT_OK(&self->nl, akm_member_set(&self->nl, 1, 13, AKM_MEMBER_ACTIVE, NULL, 0));
	EXPECT_GT(generation(&self->nl), gen);
	AKM_ASSERT_OK(&self->nl, akm_member_get(&self->nl, 1, 13, &m));
	EXPECT_EQ(AKM_MEMBER_ACTIVE, m.state);
	EXPECT_EQ(2, m.naddrs);
	EXPECT_TRUE(akm_member_has_addr(&m, "192.0.2.2"));
	EXPECT_TRUE(akm_member_has_addr(&m, "2001:db8::2"));
}

TEST_F(member, set_addrs_replaces_list)
{
	const char *a1[] = { "192.0.2.3", "2001:db8::3" };
	const char *a2[] = { "203.0.113.3" };
	struct akm_member_info m;

	AKM_ASSERT_OK(&self->nl, akm_member_new(&self->nl, 1, 14, AKM_MEMBER_ACTIVE, a1, 2));
	AKM_ASSERT_OK(&self->nl, akm_member_set(&self->nl, 1, 14, -1, a2, 1));
	AKM_ASSERT_OK(&self->nl, akm_member_get(&self->nl, 1, 14, &m));
	EXPECT_EQ(AKM_MEMBER_ACTIVE, m.state);
	EXPECT_EQ(1, m.naddrs);
	EXPECT_TRUE(akm_member_has_addr(&m, "203.0.113.3"));
	EXPECT_FALSE(akm_member_has_addr(&m, "192.0.2.3"));
	/* the old addresses are free for another member */
	AKM_EXPECT_OK(&self->nl, akm_member_new(&self->nl, 1, 15, -1, a1, 2));
}

TEST_F(member, set_empty_addrs_clears)
{
	const char *a1[] = { "192.0.2.4" };
	struct akm_member_info m;

	AKM_ASSERT_OK(&self->nl, akm_member_new(&self->nl, 1, 16, -1, a1, 1));
	AKM_ASSERT_OK(&self->nl, akm_member_set(&self->nl, 1, 16, -1, a1, 0));
	AKM_ASSERT_OK(&self->nl, akm_member_get(&self->nl, 1, 16, &m));
	EXPECT_EQ(0, m.naddrs);
}

/* Setting a member's own address again is not a conflict. */
TEST_F(member, set_same_addrs_ok)
{
	const char *a1[] = { "192.0.2.5", "2001:db8::5" };

	AKM_ASSERT_OK(&self->nl, akm_member_new(&self->nl, 1, 17, -1, a1, 2));
	AKM_EXPECT_OK(&self->nl, akm_member_set(&self->nl, 1, 17, AKM_MEMBER_ACTIVE, a1, 2));
}

TEST_F(member, del)
{
	struct akm_member_info m;
	uint32_t gen;

	AKM_ASSERT_OK(&self->nl, akm_member_new(&self->nl, 1, 18, -1, NULL, 0));
	AKM_ASSERT_OK(&self->nl, akm_member_new(&self->nl, 1, 19, -1, NULL, 0));
	EXPECT_EQ(2, member_count(&self->nl, 1));
	gen = generation(&self->nl);
	AKM_ASSERT_OK(&self->nl, akm_member_del(&self->nl, 1, 18));
	EXPECT_GT(generation(&self->nl), gen);
	EXPECT_EQ(1, member_count(&self->nl, 1));
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_member_get(&self->nl, 1, 18, &m));
	AKM_EXPECT_OK(&self->nl, akm_member_get(&self->nl, 1, 19, &m));
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_member_del(&self->nl, 1, 18));
}

TEST_F(member, duplicate_eexist)
{
	const char *a1[] = { "192.0.2.6" };
	struct akm_member_info m;

	AKM_ASSERT_OK(&self->nl, akm_member_new(&self->nl, 1, 20, AKM_MEMBER_ACTIVE, a1, 1));
	AKM_EXPECT_ERR(&self->nl, -EEXIST,
		       akm_member_new(&self->nl, 1, 20, AKM_MEMBER_REVOKED, NULL, 0));
	AKM_ASSERT_OK(&self->nl, akm_member_get(&self->nl, 1, 20, &m));
	EXPECT_EQ(AKM_MEMBER_ACTIVE, m.state);
	EXPECT_EQ(1, m.naddrs);
	EXPECT_EQ(1, member_count(&self->nl, 1));
}

/* The same node may be a member of several ASRs. */
TEST_F(member, same_node_in_two_asrs)
{
	const char *a1[] = { "192.0.2.7" };
	const char *a2[] = { "192.0.2.8" };

	AKM_ASSERT_OK(&self->nl, akm_member_new(&self->nl, 1, 21, -1, a1, 1));
	AKM_EXPECT_OK(&self->nl, akm_member_new(&self->nl, 2, 21, -1, a2, 1));
	EXPECT_EQ(1, member_count(&self->nl, 1));
	EXPECT_EQ(1, member_count(&self->nl, 2));
}

TEST_F(member, unknown_asr_enoent)
{
	struct akm_member_info m;

	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_member_new(&self->nl, 99, 1, -1, NULL, 0));
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_member_get(&self->nl, 99, 1, &m));
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_member_set(&self->nl, 99, 1, 1, NULL, 0));
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_member_del(&self->nl, 99, 1));
}

TEST_F(member, unknown_node_enoent)
{
	struct akm_member_info m;

	AKM_ASSERT_OK(&self->nl, akm_member_new(&self->nl, 1, 22, -1, NULL, 0));
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_member_get(&self->nl, 1, 23, &m));
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_member_set(&self->nl, 1, 23, 1, NULL, 0));
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_member_del(&self->nl, 1, 23));
	/* member of ASR 1 is not a member of ASR 2 */
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_member_get(&self->nl, 2, 22, &m));
}

TEST_F(member, node_id_zero_einval)
{
	AKM_EXPECT_INVAL(&self->nl, akm_member_new(&self->nl, 1, 0, -1, NULL, 0));
	EXPECT_EQ(0, member_count(&self->nl, 1));
}

TEST_F(member, state_3_einval)
{
	struct akm_member_info m;

	AKM_EXPECT_INVAL(&self->nl, akm_member_new(&self->nl, 1, 24, AKM_MEMBER_STATE_MAX + 1, NULL, 0));
	EXPECT_EQ(0, member_count(&self->nl, 1));
	AKM_ASSERT_OK(&self->nl, akm_member_new(&self->nl, 1, 24, -1, NULL, 0));
	AKM_EXPECT_INVAL(&self->nl, akm_member_set(&self->nl, 1, 24, AKM_MEMBER_STATE_MAX + 1, NULL, 0));
	AKM_EXPECT_INVAL(&self->nl, akm_member_set(&self->nl, 1, 24, 255, NULL, 0));
	AKM_ASSERT_OK(&self->nl, akm_member_get(&self->nl, 1, 24, &m));
	EXPECT_EQ(AKM_MEMBER_PROVISIONED, m.state);
}

TEST_F(member, missing_attrs)
{
	struct nl_msg *msg;
	int cmd;
	int cmds[] = { AKM_CMD_MEMBER_NEW, AKM_CMD_MEMBER_SET, AKM_CMD_MEMBER_DEL,
		       AKM_CMD_MEMBER_GET };
	unsigned int i;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		cmd = cmds[i];
		msg = akm_msg(&self->nl, cmd, 0);
		nla_put_u32(msg, AKM_A_ASR_ID, 1);
		AKM_EXPECT_MISSING(&self->nl, akm_do(&self->nl, msg, NULL, NULL),
				   AKM_A_NODE_ID, "NODE_ID");
		msg = akm_msg(&self->nl, cmd, 0);
		nla_put_u32(msg, AKM_A_NODE_ID, 1);
		AKM_EXPECT_MISSING(&self->nl, akm_do(&self->nl, msg, NULL, NULL),
				   AKM_A_ASR_ID, "ASR_ID");
	}
	EXPECT_EQ(0, member_count(&self->nl, 1));
}

TEST_F(member, ipv4_wrong_length_einval)
{
	uint8_t buf[16] = { 192, 0, 2, 9, 9 };
	struct nl_msg *msg;

	msg = member_msg(&self->nl, AKM_CMD_MEMBER_NEW, 1, 25);
	akm_put_addr_raw(msg, AKM_ADDR_A_IPV4, buf, 3);
	AKM_EXPECT_INVAL(&self->nl, akm_do(&self->nl, msg, NULL, NULL));
	msg = member_msg(&self->nl, AKM_CMD_MEMBER_NEW, 1, 25);
	akm_put_addr_raw(msg, AKM_ADDR_A_IPV4, buf, 5);
	AKM_EXPECT_INVAL(&self->nl, akm_do(&self->nl, msg, NULL, NULL));
	msg = member_msg(&self->nl, AKM_CMD_MEMBER_NEW, 1, 25);
	akm_put_addr_raw(msg, AKM_ADDR_A_IPV4, buf, 16);
	AKM_EXPECT_INVAL(&self->nl, akm_do(&self->nl, msg, NULL, NULL));
	EXPECT_EQ(0, member_count(&self->nl, 1));
}

TEST_F(member, ipv6_wrong_length_einval)
{
	uint8_t buf[20] = { 0x20, 0x01, 0x0d, 0xb8 };
	struct nl_msg *msg;

	buf[15] = 9;
	msg = member_msg(&self->nl, AKM_CMD_MEMBER_NEW, 1, 26);
	akm_put_addr_raw(msg, AKM_ADDR_A_IPV6, buf, 15);
	AKM_EXPECT_INVAL(&self->nl, akm_do(&self->nl, msg, NULL, NULL));
	msg = member_msg(&self->nl, AKM_CMD_MEMBER_NEW, 1, 26);
	akm_put_addr_raw(msg, AKM_ADDR_A_IPV6, buf, 17);
	AKM_EXPECT_INVAL(&self->nl, akm_do(&self->nl, msg, NULL, NULL));
	msg = member_msg(&self->nl, AKM_CMD_MEMBER_NEW, 1, 26);
	akm_put_addr_raw(msg, AKM_ADDR_A_IPV6, buf, 4);
	AKM_EXPECT_INVAL(&self->nl, akm_do(&self->nl, msg, NULL, NULL));
	EXPECT_EQ(0, member_count(&self->nl, 1));
}

/* Strict validation inside the MEMBER_ADDRS nest. */
TEST_F(member, addrs_unknown_type_einval)
{
	uint8_t buf[4] = { 192, 0, 2, 10 };
	struct nl_msg *msg;

	msg = member_msg(&self->nl, AKM_CMD_MEMBER_NEW, 1, 27);
	akm_put_addr_raw(msg, AKM_ADDR_A_MAX + 1, buf, 4);
	AKM_EXPECT_ERR(&self->nl, -EINVAL, akm_do(&self->nl, msg, NULL, NULL));
	msg = member_msg(&self->nl, AKM_CMD_MEMBER_NEW, 1, 27);
	akm_put_addr_raw(msg, AKM_ADDR_A_UNSPEC, buf, 4);
	AKM_EXPECT_ERR(&self->nl, -EINVAL, akm_do(&self->nl, msg, NULL, NULL));
	EXPECT_EQ(0, member_count(&self->nl, 1));
}

/* Strict validation: a nest must carry NLA_F_NESTED. */
TEST_F(member, addrs_without_nested_flag_einval)
{
	uint8_t buf[4] = { 192, 0, 2, 11 };
	struct nl_msg *msg;
	struct nlattr *nest;

	msg = member_msg(&self->nl, AKM_CMD_MEMBER_NEW, 1, 28);
	nest = nla_nest_start(msg, AKM_A_MEMBER_ADDRS);
	nla_put(msg, AKM_ADDR_A_IPV4, 4, buf);
	nla_nest_end(msg, nest);
	nest->nla_type &= ~NLA_F_NESTED;
	AKM_EXPECT_ERR(&self->nl, -EINVAL, akm_do(&self->nl, msg, NULL, NULL));
	EXPECT_EQ(0, member_count(&self->nl, 1));
}

TEST_F(member, unspecified_or_repeated_addr_einval)
{
	const char *zero4[] = { "0.0.0.0" };
	const char *zero6[] = { "::" };
	const char *twice[] = { "192.0.2.12", "192.0.2.12" };

	AKM_EXPECT_ERR(&self->nl, -EINVAL, akm_member_new(&self->nl, 1, 29, -1, zero4, 1));
	AKM_EXPECT_ERR(&self->nl, -EINVAL, akm_member_new(&self->nl, 1, 29, -1, zero6, 1));
	AKM_EXPECT_ERR(&self->nl, -EINVAL, akm_member_new(&self->nl, 1, 29, -1, twice, 2));
	EXPECT_EQ(0, member_count(&self->nl, 1));
}

TEST_F(member, max_addrs)
{
	const char *addrs[AKM_ADDRS_MAX + 1] = {
		"10.1.0.1", "10.1.0.2", "10.1.0.3", "10.1.0.4",
		"fd01::1", "fd01::2", "fd01::3", "fd01::4", "10.1.0.9",
	};
	struct akm_member_info m;

	AKM_EXPECT_ERR(&self->nl, -EINVAL,
		       akm_member_new(&self->nl, 1, 30, -1, addrs, AKM_ADDRS_MAX + 1));
	EXPECT_EQ(0, member_count(&self->nl, 1));
	AKM_ASSERT_OK(&self->nl, akm_member_new(&self->nl, 1, 30, -1, addrs, AKM_ADDRS_MAX));
	AKM_ASSERT_OK(&self->nl, akm_member_get(&self->nl, 1, 30, &m));
	EXPECT_EQ(AKM_ADDRS_MAX, m.naddrs);
	/* a SET with too many addresses leaves the list alone */
	AKM_EXPECT_ERR(&self->nl, -EINVAL,
		       akm_member_set(&self->nl, 1, 30, -1, addrs, AKM_ADDRS_MAX + 1));
	AKM_ASSERT_OK(&self->nl, akm_member_get(&self->nl, 1, 30, &m));
	EXPECT_EQ(AKM_ADDRS_MAX, m.naddrs);
	EXPECT_FALSE(akm_member_has_addr(&m, "10.1.0.9"));
}

/* An address belongs to one member per namespace, across ASRs. */
TEST_F(member, addr_in_use_eaddrinuse)
{
	const char *a1[] = { "192.0.2.13", "2001:db8::13" };
	const char *v4[] = { "192.0.2.13" };
	const char *v6[] = { "2001:db8::13" };
	const char *other[] = { "192.0.2.14", "2001:db8::13" };

	AKM_ASSERT_OK(&self->nl, akm_member_new(&self->nl, 1, 31, -1, a1, 2));
	/* same ASR, other node */
	AKM_EXPECT_ERR(&self->nl, -EADDRINUSE, akm_member_new(&self->nl, 1, 32, -1, v4, 1));
	/* other ASR, other node */
	AKM_EXPECT_ERR(&self->nl, -EADDRINUSE, akm_member_new(&self->nl, 2, 33, -1, v6, 1));
	/* one free, one taken: nothing is created */
	AKM_EXPECT_ERR(&self->nl, -EADDRINUSE, akm_member_new(&self->nl, 2, 33, -1, other, 2));
	EXPECT_EQ(1, member_count(&self->nl, 1));
	EXPECT_EQ(0, member_count(&self->nl, 2));
	/* once the owner is gone, the address is free */
	AKM_ASSERT_OK(&self->nl, akm_member_del(&self->nl, 1, 31));
	AKM_EXPECT_OK(&self->nl, akm_member_new(&self->nl, 2, 33, -1, other, 2));
}

/* MEMBER_SET to a taken address fails and changes nothing. */
TEST_F(member, set_addr_in_use_not_half_applied)
{
	const char *a1[] = { "192.0.2.15" };
	const char *a2[] = { "192.0.2.16" };
	const char *clash[] = { "198.51.100.16", "192.0.2.15" };
	struct akm_member_info m;
	uint32_t gen;

	AKM_ASSERT_OK(&self->nl, akm_member_new(&self->nl, 1, 34, -1, a1, 1));
	AKM_ASSERT_OK(&self->nl, akm_member_new(&self->nl, 2, 35, -1, a2, 1));
	gen = generation(&self->nl);
	AKM_EXPECT_ERR(&self->nl, -EADDRINUSE,
		       akm_member_set(&self->nl, 2, 35, AKM_MEMBER_ACTIVE, clash, 2));
	EXPECT_EQ(gen, generation(&self->nl));
	AKM_ASSERT_OK(&self->nl, akm_member_get(&self->nl, 2, 35, &m));
	EXPECT_EQ(AKM_MEMBER_PROVISIONED, m.state);
	EXPECT_EQ(1, m.naddrs);
	EXPECT_TRUE(akm_member_has_addr(&m, "192.0.2.16"));
	/* 198.51.100.16 was not taken on the way */
	AKM_EXPECT_OK(&self->nl, akm_member_new(&self->nl, 1, 36, -1, clash, 1));
}

/* AKM_MEMBERS_MAX members per ASR; the next one is ENOSPC. */
TEST_F_TIMEOUT(member, limit_enospc, 600)
{
	uint32_t node;

	for (node = 1; node <= AKM_MEMBERS_MAX; node++)
		AKM_ASSERT_OK(&self->nl, akm_member_new(&self->nl, 1, node, -1, NULL, 0));
	EXPECT_EQ(AKM_MEMBERS_MAX, member_count(&self->nl, 1));
	AKM_EXPECT_ERR(&self->nl, -ENOSPC,
		       akm_member_new(&self->nl, 1, AKM_MEMBERS_MAX + 1, -1, NULL, 0));
	EXPECT_EQ(AKM_MEMBERS_MAX, member_count(&self->nl, 1));
	/* the limit is per ASR */
	AKM_EXPECT_OK(&self->nl, akm_member_new(&self->nl, 2, AKM_MEMBERS_MAX + 1, -1, NULL, 0));
	AKM_ASSERT_OK(&self->nl, akm_member_del(&self->nl, 1, 7));
	AKM_EXPECT_OK(&self->nl, akm_member_new(&self->nl, 1, AKM_MEMBERS_MAX + 1, -1, NULL, 0));
}

TEST_HARNESS_MAIN
