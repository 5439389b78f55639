// SPDX-License-Identifier: GPL-2.0
/*
 * AKM events: every successful change is multicast on the "events" group
 * with the command that made it and the attributes naming the object;
 * failed requests announce nothing and no event carries key material.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "akm_test_lib.h"

#define EV_WAIT_MS 2000

FIXTURE(events) {
	struct akm_nl nl;
	struct akm_nl ev;
	uint8_t k[AKM_KEY_LEN];
};

FIXTURE_SETUP(events)
{
	ASSERT_EQ(0, akm_new_netns());
	ASSERT_EQ(0, akm_nl_open(&self->nl)) {
		TH_LOG("cannot open the akm generic netlink family (is akm.ko loaded?)");
	}
	ASSERT_EQ(0, akm_events_open(&self->ev)) {
		TH_LOG("cannot join the \"%s\" group", AKM_MCGRP_EVENTS);
	}
	akm_material(self->k, AKM_KEY_LEN, 77);
}

FIXTURE_TEARDOWN(events)
{
	akm_nl_close(&self->ev);
	akm_nl_close(&self->nl);
}

/* The next event must be cmd, with the given identifying attributes. */
static void expect_event(struct __test_metadata *_metadata, struct akm_nl *ev, int cmd,
			 long asr, long node, long epoch)
{
	struct akm_event e;
	int ret = akm_event_next(ev, &e, EV_WAIT_MS);

	ASSERT_EQ(0, ret) {
		TH_LOG("no event for command %d: %d", cmd, ret);
	}
	EXPECT_EQ(cmd, e.cmd);
	EXPECT_FALSE(e.has_material);
	if (asr >= 0) {
		EXPECT_TRUE(e.has_asr_id);
		EXPECT_EQ((uint32_t)asr, e.asr_id);
	}
	if (node >= 0) {
		EXPECT_TRUE(e.has_node_id);
		EXPECT_EQ((uint32_t)node, e.node_id);
	}
	if (epoch >= 0) {
		EXPECT_TRUE(e.has_epoch);
		EXPECT_EQ((uint32_t)epoch, e.epoch);
	}
}

static void expect_no_event(struct __test_metadata *_metadata, struct akm_nl *ev)
{
	struct akm_event e;
	int ret = akm_event_next(ev, &e, 200);

	EXPECT_EQ(-ETIMEDOUT, ret) {
		TH_LOG("unexpected event: cmd %d asr %u node %u epoch %u", e.cmd, e.asr_id,
		       e.node_id, e.epoch);
	}
}

TEST_F(events, node_set)
{
	AKM_ASSERT_OK(&self->nl, akm_node_set(&self->nl, 31));
	expect_event(_metadata, &self->ev, AKM_CMD_NODE_SET, -1, 31, -1);
	expect_no_event(_metadata, &self->ev);
}

TEST_F(events, asr_new_set_del)
{
	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 3, AKM_ALG_HMAC_SHA256, "ev", -1));
	expect_event(_metadata, &self->ev, AKM_CMD_ASR_NEW, 3, -1, -1);
	AKM_ASSERT_OK(&self->nl, akm_asr_set(&self->nl, 3, "ev2", 1));
	expect_event(_metadata, &self->ev, AKM_CMD_ASR_SET, 3, -1, -1);
	AKM_ASSERT_OK(&self->nl, akm_asr_del(&self->nl, 3));
	expect_event(_metadata, &self->ev, AKM_CMD_ASR_DEL, 3, -1, -1);
	expect_no_event(_metadata, &self->ev);
}

TEST_F(events, member_new_set_del)
{
	const char *addrs[] = { "192.0.2.40" };

	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 4, AKM_ALG_HMAC_SHA256, NULL, -1));
	expect_event(_metadata, &self->ev, AKM_CMD_ASR_NEW, 4, -1, -1);
	AKM_ASSERT_OK(&self->nl, akm_member_new(&self->nl, 4, 40, -1, addrs, 1));
	expect_event(_metadata, &self->ev, AKM_CMD_MEMBER_NEW, 4, 40, -1);
	AKM_ASSERT_OK(&self->nl, akm_member_set(&self->nl, 4, 40, AKM_MEMBER_ACTIVE, NULL, 0));
	expect_event(_metadata, &self->ev, AKM_CMD_MEMBER_SET, 4, 40, -1);
	AKM_ASSERT_OK(&self->nl, akm_member_del(&self->nl, 4, 40));
	expect_event(_metadata, &self->ev, AKM_CMD_MEMBER_DEL, 4, 40, -1);
	expect_no_event(_metadata, &self->ev);
}

TEST_F(events, key_install_activate_retire)
{
	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 5, AKM_ALG_CHACHA20_POLY1305, NULL, -1));
	expect_event(_metadata, &self->ev, AKM_CMD_ASR_NEW, 5, -1, -1);
	AKM_ASSERT_OK(&self->nl, akm_key_install(&self->nl, 5, 1, self->k, AKM_KEY_LEN));
	expect_event(_metadata, &self->ev, AKM_CMD_KEY_INSTALL, 5, -1, 1);
	AKM_ASSERT_OK(&self->nl, akm_key_activate(&self->nl, 5, 1));
	expect_event(_metadata, &self->ev, AKM_CMD_KEY_ACTIVATE, 5, -1, 1);
	AKM_ASSERT_OK(&self->nl, akm_key_install(&self->nl, 5, 2, self->k, AKM_KEY_LEN));
	expect_event(_metadata, &self->ev, AKM_CMD_KEY_INSTALL, 5, -1, 2);
	AKM_ASSERT_OK(&self->nl, akm_key_activate(&self->nl, 5, 2));
	expect_event(_metadata, &self->ev, AKM_CMD_KEY_ACTIVATE, 5, -1, 2);
	AKM_ASSERT_OK(&self->nl, akm_key_retire(&self->nl, 5, 1));
	expect_event(_metadata, &self->ev, AKM_CMD_KEY_RETIRE, 5, -1, 1);
	expect_no_event(_metadata, &self->ev);
}

/* Refused requests announce nothing. */
TEST_F(events, failures_are_silent)
{
	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 6, AKM_ALG_HMAC_SHA256, NULL, -1));
	expect_event(_metadata, &self->ev, AKM_CMD_ASR_NEW, 6, -1, -1);
	AKM_EXPECT_ERR(&self->nl, -EEXIST, akm_asr_new(&self->nl, 6, AKM_ALG_HMAC_SHA256,
						       NULL, -1));
	AKM_EXPECT_INVAL(&self->nl, akm_asr_new(&self->nl, 7, 0, NULL, -1));
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_asr_del(&self->nl, 8));
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_member_del(&self->nl, 6, 1));
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_key_activate(&self->nl, 6, 1));
	AKM_EXPECT_INVAL(&self->nl, akm_key_install(&self->nl, 6, 1, self->k, 31));
	AKM_EXPECT_INVAL(&self->nl, akm_node_set(&self->nl, 0));
	expect_no_event(_metadata, &self->ev);
}

/* Reads and counters are not changes. */
TEST_F(events, reads_are_silent)
{
	struct akm_node_info n;
	struct akm_asr_info a;
	struct akm_stats s;
	int cnt;

	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 9, AKM_ALG_HMAC_SHA256, NULL, -1));
	expect_event(_metadata, &self->ev, AKM_CMD_ASR_NEW, 9, -1, -1);
	AKM_ASSERT_OK(&self->nl, akm_node_get(&self->nl, &n));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 9, &a));
	AKM_ASSERT_OK(&self->nl, akm_asr_dump(&self->nl, &a, 1, &cnt, NULL));
	AKM_ASSERT_OK(&self->nl, akm_stats_get(&self->nl, 9, 0, &s));
	expect_no_event(_metadata, &self->ev);
}

/* A sequence of changes arrives complete and in order. */
TEST_F(events, ordered_sequence)
{
	struct akm_event e;
	uint32_t i;

	for (i = 1; i <= 50; i++)
		AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, i, AKM_ALG_HMAC_SHA256, NULL, -1));
	for (i = 1; i <= 50; i++) {
		ASSERT_EQ(0, akm_event_next(&self->ev, &e, EV_WAIT_MS));
		EXPECT_EQ(AKM_CMD_ASR_NEW, e.cmd);
		EXPECT_EQ(i, e.asr_id);
	}
	expect_no_event(_metadata, &self->ev);
}

/* Deleting an ASR with members and keys announces at least the ASR_DEL. */
TEST_F(events, asr_del_with_contents)
{
	struct akm_event e;

	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 10, AKM_ALG_HMAC_SHA256, NULL, -1));
	AKM_ASSERT_OK(&self->nl, akm_member_new(&self->nl, 10, 1, -1, NULL, 0));
	AKM_ASSERT_OK(&self->nl, akm_key_install(&self->nl, 10, 1, self->k, AKM_KEY_LEN));
	akm_events_drain(&self->ev);
	AKM_ASSERT_OK(&self->nl, akm_asr_del(&self->nl, 10));
	ASSERT_EQ(0, akm_event_wait(&self->ev, AKM_CMD_ASR_DEL, &e, EV_WAIT_MS));
	EXPECT_EQ(10, e.asr_id);
	EXPECT_FALSE(e.has_material);
}

/* Two listeners each get every event. */
TEST_F(events, two_listeners)
{
	struct akm_nl ev2;

	ASSERT_EQ(0, akm_events_open(&ev2));
	AKM_ASSERT_OK(&self->nl, akm_node_set(&self->nl, 12));
	expect_event(_metadata, &self->ev, AKM_CMD_NODE_SET, -1, 12, -1);
	expect_event(_metadata, &ev2, AKM_CMD_NODE_SET, -1, 12, -1);
	akm_nl_close(&ev2);
}

TEST_HARNESS_MAIN
