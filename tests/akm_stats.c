// SPDX-License-Identifier: GPL-2.0
/*
 * AKM counters: STATS_GET and STATS_RESET at node, ASR and member level,
 * and the STATS nests of NODE_GET, ASR_GET and MEMBER_GET. There is no
 * packet path in these tests, so the counters must be present and zero.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "akm_test_lib.h"

FIXTURE(stats) {
	struct akm_nl nl;
};

FIXTURE_SETUP(stats)
{
	const char *addrs[] = { "192.0.2.1" };

	ASSERT_EQ(0, akm_new_netns());
	ASSERT_EQ(0, akm_nl_open(&self->nl)) {
		TH_LOG("cannot open the akm generic netlink family (is akm.ko loaded?)");
	}
	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 1, AKM_ALG_HMAC_SHA256, NULL, -1));
	AKM_ASSERT_OK(&self->nl, akm_member_new(&self->nl, 1, 2, AKM_MEMBER_ACTIVE, addrs, 1));
}

FIXTURE_TEARDOWN(stats)
{
	akm_nl_close(&self->nl);
}

static void log_missing(struct __test_metadata *_metadata, const struct akm_stats *s)
{
	int t;

	for (t = AKM_STATS_A_TX_PACKETS; t <= AKM_STATS_A_MAX; t++)
		if (!s->present[t])
			TH_LOG("counter %d missing", t);
	if (s->unknown)
		TH_LOG("%d unknown attributes in STATS", s->unknown);
}

TEST_F(stats, node_get)
{
	struct akm_stats s;

	AKM_ASSERT_OK(&self->nl, akm_stats_get(&self->nl, 0, 0, &s));
	EXPECT_TRUE(akm_stats_complete(&s)) {
		log_missing(_metadata, &s);
	}
	EXPECT_TRUE(akm_stats_zero(&s));
}

TEST_F(stats, asr_get)
{
	struct akm_stats s;

	AKM_ASSERT_OK(&self->nl, akm_stats_get(&self->nl, 1, 0, &s));
	EXPECT_TRUE(akm_stats_complete(&s)) {
		log_missing(_metadata, &s);
	}
	EXPECT_TRUE(akm_stats_zero(&s));
}

TEST_F(stats, member_get)
{
	struct akm_stats s;

	AKM_ASSERT_OK(&self->nl, akm_stats_get(&self->nl, 1, 2, &s));
	EXPECT_TRUE(akm_stats_complete(&s)) {
		log_missing(_metadata, &s);
	}
	EXPECT_TRUE(akm_stats_zero(&s));
}

/* NODE_GET, ASR_GET and MEMBER_GET carry the same complete nest. */
TEST_F(stats, in_object_replies)
{
	struct akm_node_info n;
	struct akm_asr_info a;
	struct akm_member_info m;

	AKM_ASSERT_OK(&self->nl, akm_node_get(&self->nl, &n));
	ASSERT_TRUE(n.has_stats);
	EXPECT_TRUE(akm_stats_complete(&n.stats));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 1, &a));
	ASSERT_TRUE(a.has_stats);
	EXPECT_TRUE(akm_stats_complete(&a.stats));
	AKM_ASSERT_OK(&self->nl, akm_member_get(&self->nl, 1, 2, &m));
	ASSERT_TRUE(m.has_stats);
	EXPECT_TRUE(akm_stats_complete(&m.stats));
}

TEST_F(stats, unknown_objects_enoent)
{
	struct akm_stats s;

	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_stats_get(&self->nl, 9, 0, &s));
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_stats_get(&self->nl, 1, 9, &s));
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_stats_get(&self->nl, 9, 2, &s));
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_stats_reset(&self->nl, 9, 0));
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_stats_reset(&self->nl, 1, 9));
}

/* A member is selected by ASR and node: NODE_ID alone is no selector. */
TEST_F(stats, node_id_without_asr_einval)
{
	struct nl_msg *msg;

	msg = akm_msg(&self->nl, AKM_CMD_STATS_GET, 0);
	nla_put_u32(msg, AKM_A_NODE_ID, 2);
	AKM_EXPECT_ERR(&self->nl, -EINVAL, akm_do(&self->nl, msg, NULL, NULL));
	msg = akm_msg(&self->nl, AKM_CMD_STATS_RESET, 0);
	nla_put_u32(msg, AKM_A_NODE_ID, 2);
	AKM_EXPECT_ERR(&self->nl, -EINVAL, akm_do(&self->nl, msg, NULL, NULL));
}

static struct nl_msg *zero_asr_msg(struct akm_nl *nl)
{
	struct nl_msg *msg = akm_msg(nl, AKM_CMD_STATS_GET, 0);

	nla_put_u32(msg, AKM_A_ASR_ID, 0);
	return msg;
}

TEST_F(stats, bad_selector_einval)
{
	struct nl_msg *msg;

	msg = akm_msg(&self->nl, AKM_CMD_STATS_GET, 0);
	nla_put_u16(msg, AKM_A_ASR_ID, 1);
	AKM_EXPECT_ERR(&self->nl, -EINVAL, akm_do(&self->nl, msg, NULL, NULL));
	/* ASR_ID 0 is out of range */
	AKM_EXPECT_INVAL(&self->nl, akm_do(&self->nl, zero_asr_msg(&self->nl), NULL, NULL));
	msg = akm_msg(&self->nl, AKM_CMD_STATS_RESET, 0);
	nla_put_u32(msg, AKM_A_ASR_ID, 1);
	nla_put_u32(msg, AKM_A_MAX + 1, 1);
	AKM_EXPECT_ERR(&self->nl, -EINVAL, akm_do(&self->nl, msg, NULL, NULL));
	/* STATS is output only */
	msg = akm_msg(&self->nl, AKM_CMD_STATS_RESET, 0);
	nla_put_u32(msg, AKM_A_ASR_ID, 1);
	nla_nest_end_keep_empty(msg, nla_nest_start(msg, AKM_A_STATS | NLA_F_NESTED));
	AKM_EXPECT_ERR(&self->nl, -EINVAL, akm_do(&self->nl, msg, NULL, NULL));
}

TEST_F(stats, reset_node)
{
	struct akm_stats s;

	AKM_ASSERT_OK(&self->nl, akm_stats_reset(&self->nl, 0, 0));
	AKM_ASSERT_OK(&self->nl, akm_stats_get(&self->nl, 0, 0, &s));
	EXPECT_TRUE(akm_stats_complete(&s));
	EXPECT_TRUE(akm_stats_zero(&s));
}

TEST_F(stats, reset_asr)
{
	struct akm_stats s;

	AKM_ASSERT_OK(&self->nl, akm_stats_reset(&self->nl, 1, 0));
	AKM_ASSERT_OK(&self->nl, akm_stats_get(&self->nl, 1, 0, &s));
	EXPECT_TRUE(akm_stats_complete(&s));
	EXPECT_TRUE(akm_stats_zero(&s));
}

TEST_F(stats, reset_member)
{
	struct akm_stats s;
	struct akm_member_info m;

	AKM_ASSERT_OK(&self->nl, akm_stats_reset(&self->nl, 1, 2));
	AKM_ASSERT_OK(&self->nl, akm_stats_get(&self->nl, 1, 2, &s));
	EXPECT_TRUE(akm_stats_complete(&s));
	EXPECT_TRUE(akm_stats_zero(&s));
	/* the member itself is untouched */
	AKM_ASSERT_OK(&self->nl, akm_member_get(&self->nl, 1, 2, &m));
	EXPECT_EQ(AKM_MEMBER_ACTIVE, m.state);
	EXPECT_EQ(1, m.naddrs);
}

/* Deleted and re-created objects start from zero. */
TEST_F(stats, recreated_objects_start_at_zero)
{
	struct akm_stats s;

	AKM_ASSERT_OK(&self->nl, akm_asr_del(&self->nl, 1));
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_stats_get(&self->nl, 1, 0, &s));
	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 1, AKM_ALG_HMAC_SHA256, NULL, -1));
	AKM_ASSERT_OK(&self->nl, akm_stats_get(&self->nl, 1, 0, &s));
	EXPECT_TRUE(akm_stats_complete(&s));
	EXPECT_TRUE(akm_stats_zero(&s));
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_stats_get(&self->nl, 1, 2, &s));
}

TEST_HARNESS_MAIN
