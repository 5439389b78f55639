// SPDX-License-Identifier: GPL-2.0
/*
 * AKM key epochs: KEY_INSTALL, KEY_ACTIVATE, KEY_RETIRE, the next /
 * current / previous lifecycle and its errors. Key material is never sent
 * back by the kernel.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "akm_test_lib.h"

FIXTURE(key) {
	struct akm_nl nl;
	uint8_t k[8][AKM_KEY_LEN];
};

FIXTURE_SETUP(key)
{
	int i;

	ASSERT_EQ(0, akm_new_netns());
	ASSERT_EQ(0, akm_nl_open(&self->nl)) {
		TH_LOG("cannot open the akm generic netlink family (is akm.ko loaded?)");
	}
	for (i = 0; i < 8; i++)
		akm_material(self->k[i], AKM_KEY_LEN, 100 + i);
	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 1, AKM_ALG_HMAC_SHA256, NULL, -1));
	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 2, AKM_ALG_CHACHA20_POLY1305, NULL, -1));
}

FIXTURE_TEARDOWN(key)
{
	akm_nl_close(&self->nl);
}

static uint32_t generation(struct akm_nl *nl)
{
	struct akm_node_info n;

	if (akm_node_get(nl, &n))
		return 0xdeadbeef;
	return n.generation;
}

/* No two epochs of an ASR share a state. */
static bool states_unique(const struct akm_asr_info *a)
{
	int seen[AKM_KEY_STATE_MAX + 1] = {};
	int i;

	for (i = 0; i < a->nkeys && i < AKM_MAX_KEYS; i++) {
		if (a->keys[i].state > AKM_KEY_STATE_MAX)
			return false;
		if (seen[a->keys[i].state]++)
			return false;
	}
	return a->nkeys <= AKM_KEY_STATE_MAX + 1;
}

static int key_state(struct akm_nl *nl, uint32_t asr, uint32_t epoch)
{
	struct akm_asr_info a;
	const struct akm_key_info *k;

	if (akm_asr_get(nl, asr, &a))
		return -100;
	k = akm_find_key(&a, epoch);
	return k ? k->state : -1;
}

struct raw_scan {
	const uint8_t *needle;
	bool found;
	int msgs;
};

static int scan_cb(struct nlmsghdr *nlh, void *arg)
{
	struct raw_scan *s = arg;
	const uint8_t *p = (const uint8_t *)nlh;
	size_t i;

	s->msgs++;
	for (i = 0; i + AKM_KEY_LEN <= nlh->nlmsg_len; i++)
		if (!memcmp(p + i, s->needle, AKM_KEY_LEN))
			s->found = true;
	return 0;
}

TEST_F(key, install_as_next)
{
	struct akm_asr_info a;
	const struct akm_key_info *k;
	time_t now = time(NULL);
	uint32_t gen = generation(&self->nl);

	AKM_ASSERT_OK(&self->nl, akm_key_install(&self->nl, 1, 1, self->k[1], AKM_KEY_LEN));
	EXPECT_GT(generation(&self->nl), gen);
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 1, &a));
	ASSERT_EQ(1, a.nkeys);
	k = &a.keys[0];
	EXPECT_TRUE(k->has_epoch);
	EXPECT_EQ(1, k->epoch);
	EXPECT_TRUE(k->has_state);
	EXPECT_EQ(AKM_KEY_NEXT, k->state);
	EXPECT_TRUE(k->has_serial);
	EXPECT_GT(k->serial, 0);
	EXPECT_TRUE(k->has_created);
	EXPECT_GE(k->created + 5, (uint64_t)now);
	EXPECT_LE(k->created, (uint64_t)time(NULL) + 5);
	EXPECT_TRUE(k->has_activated);
	EXPECT_EQ(0, k->activated);
	EXPECT_FALSE(a.has_material);
	/* ASR 2 is untouched */
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 2, &a));
	EXPECT_EQ(0, a.nkeys);
}

/* install -> next, activate -> current, the old current becomes previous. */
TEST_F(key, lifecycle)
{
	struct akm_asr_info a;
	const struct akm_key_info *k;
	int32_t serial1;

	AKM_ASSERT_OK(&self->nl, akm_key_install(&self->nl, 1, 1, self->k[1], AKM_KEY_LEN));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 1, &a));
	serial1 = a.keys[0].serial;
	AKM_ASSERT_OK(&self->nl, akm_key_activate(&self->nl, 1, 1));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 1, &a));
	ASSERT_EQ(1, a.nkeys);
	EXPECT_EQ(AKM_KEY_CURRENT, a.keys[0].state);
	EXPECT_GT(a.keys[0].activated, 0);
	EXPECT_GE(a.keys[0].activated, a.keys[0].created);
	EXPECT_EQ(serial1, a.keys[0].serial);

	AKM_ASSERT_OK(&self->nl, akm_key_install(&self->nl, 1, 2, self->k[2], AKM_KEY_LEN));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 1, &a));
	ASSERT_EQ(2, a.nkeys);
	EXPECT_EQ(AKM_KEY_CURRENT, key_state(&self->nl, 1, 1));
	EXPECT_EQ(AKM_KEY_NEXT, key_state(&self->nl, 1, 2));
	k = akm_find_key(&a, 2);
	ASSERT_NE(NULL, k);
	EXPECT_NE(serial1, k->serial);

	AKM_ASSERT_OK(&self->nl, akm_key_activate(&self->nl, 1, 2));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 1, &a));
	ASSERT_EQ(2, a.nkeys);
	EXPECT_EQ(AKM_KEY_PREVIOUS, key_state(&self->nl, 1, 1));
	EXPECT_EQ(AKM_KEY_CURRENT, key_state(&self->nl, 1, 2));
	EXPECT_TRUE(states_unique(&a));

	AKM_ASSERT_OK(&self->nl, akm_key_install(&self->nl, 1, 3, self->k[3], AKM_KEY_LEN));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 1, &a));
	EXPECT_EQ(3, a.nkeys);
	EXPECT_TRUE(states_unique(&a));
	EXPECT_EQ(AKM_KEY_NEXT, key_state(&self->nl, 1, 3));

	AKM_ASSERT_OK(&self->nl, akm_key_retire(&self->nl, 1, 1));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 1, &a));
	EXPECT_EQ(2, a.nkeys);
	EXPECT_EQ(-1, key_state(&self->nl, 1, 1));
	AKM_ASSERT_OK(&self->nl, akm_key_activate(&self->nl, 1, 3));
	EXPECT_EQ(AKM_KEY_PREVIOUS, key_state(&self->nl, 1, 2));
	EXPECT_EQ(AKM_KEY_CURRENT, key_state(&self->nl, 1, 3));
	AKM_ASSERT_OK(&self->nl, akm_key_retire(&self->nl, 1, 2));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 1, &a));
	ASSERT_EQ(1, a.nkeys);
	EXPECT_EQ(3, a.keys[0].epoch);
	EXPECT_EQ(AKM_KEY_CURRENT, a.keys[0].state);
}

/* Activating with next, current and previous present keeps one of each state. */
TEST_F(key, activate_with_previous_present)
{
	struct akm_asr_info a;
	int ret;

	AKM_ASSERT_OK(&self->nl, akm_key_install(&self->nl, 1, 1, self->k[1], AKM_KEY_LEN));
	AKM_ASSERT_OK(&self->nl, akm_key_activate(&self->nl, 1, 1));
	AKM_ASSERT_OK(&self->nl, akm_key_install(&self->nl, 1, 2, self->k[2], AKM_KEY_LEN));
	AKM_ASSERT_OK(&self->nl, akm_key_activate(&self->nl, 1, 2));
	AKM_ASSERT_OK(&self->nl, akm_key_install(&self->nl, 1, 3, self->k[3], AKM_KEY_LEN));
	ret = akm_key_activate(&self->nl, 1, 3);
	EXPECT_TRUE(ret == 0 || ret == -EBUSY) {
		TH_LOG("activate with a previous epoch present: %d (%s)", ret, self->nl.ext_msg);
	}
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 1, &a));
	EXPECT_TRUE(states_unique(&a));
	if (ret == 0) {
		EXPECT_EQ(2, a.nkeys);
		EXPECT_EQ(-1, key_state(&self->nl, 1, 1));
		EXPECT_EQ(AKM_KEY_PREVIOUS, key_state(&self->nl, 1, 2));
		EXPECT_EQ(AKM_KEY_CURRENT, key_state(&self->nl, 1, 3));
	}
}

TEST_F(key, second_next_ebusy)
{
	struct akm_asr_info a;

	AKM_ASSERT_OK(&self->nl, akm_key_install(&self->nl, 1, 1, self->k[1], AKM_KEY_LEN));
	AKM_EXPECT_ERR(&self->nl, -EBUSY,
		       akm_key_install(&self->nl, 1, 2, self->k[2], AKM_KEY_LEN));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 1, &a));
	EXPECT_EQ(1, a.nkeys);
	AKM_ASSERT_OK(&self->nl, akm_key_activate(&self->nl, 1, 1));
	AKM_ASSERT_OK(&self->nl, akm_key_install(&self->nl, 1, 2, self->k[2], AKM_KEY_LEN));
	AKM_EXPECT_ERR(&self->nl, -EBUSY,
		       akm_key_install(&self->nl, 1, 3, self->k[3], AKM_KEY_LEN));
}

/* An installed epoch again is EEXIST; an older one ESTALE. */
TEST_F(key, epoch_not_greater_estale)
{
	struct akm_asr_info a;

	AKM_ASSERT_OK(&self->nl, akm_key_install(&self->nl, 1, 5, self->k[5], AKM_KEY_LEN));
	AKM_ASSERT_OK(&self->nl, akm_key_activate(&self->nl, 1, 5));
	AKM_EXPECT_ERR(&self->nl, -EEXIST,
		       akm_key_install(&self->nl, 1, 5, self->k[6], AKM_KEY_LEN));
	AKM_EXPECT_ERR(&self->nl, -ESTALE,
		       akm_key_install(&self->nl, 1, 4, self->k[4], AKM_KEY_LEN));
	AKM_EXPECT_ERR(&self->nl, -ESTALE,
		       akm_key_install(&self->nl, 1, 1, self->k[1], AKM_KEY_LEN));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 1, &a));
	EXPECT_EQ(1, a.nkeys);
	AKM_EXPECT_OK(&self->nl, akm_key_install(&self->nl, 1, 7, self->k[7], AKM_KEY_LEN));
	/* epochs are per ASR */
	AKM_EXPECT_OK(&self->nl, akm_key_install(&self->nl, 2, 1, self->k[1], AKM_KEY_LEN));
}

/*
 * Every way an epoch could come back with its sender counter at 1 again:
 * retired (current, previous, or next and never activated), the ASR
 * deleted and made again, an epoch derived from a credential. The
 * namespace remembers the last epoch of each ASR id.
 */
TEST_F(key, epoch_never_installed_twice)
{
	struct akm_asr_info a;

	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 1, &a));
	EXPECT_TRUE(a.has_last_epoch);
	EXPECT_EQ(0, a.last_epoch);
	AKM_ASSERT_OK(&self->nl, akm_key_install(&self->nl, 1, 1, self->k[1], AKM_KEY_LEN));
	AKM_ASSERT_OK(&self->nl, akm_key_activate(&self->nl, 1, 1));
	AKM_ASSERT_OK(&self->nl, akm_key_install(&self->nl, 1, 2, self->k[2], AKM_KEY_LEN));
	AKM_ASSERT_OK(&self->nl, akm_key_activate(&self->nl, 1, 2));
	AKM_ASSERT_OK(&self->nl, akm_key_install(&self->nl, 1, 3, self->k[3], AKM_KEY_LEN));
	/* previous, current and next retired: none comes back */
	AKM_ASSERT_OK(&self->nl, akm_key_retire(&self->nl, 1, 1));
	AKM_ASSERT_OK(&self->nl, akm_key_retire(&self->nl, 1, 2));
	AKM_ASSERT_OK(&self->nl, akm_key_retire(&self->nl, 1, 3));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 1, &a));
	EXPECT_EQ(0, a.nkeys);
	EXPECT_EQ(3, a.last_epoch);
	for (int e = 1; e <= 3; e++) {
		AKM_EXPECT_ERR(&self->nl, -ESTALE,
			       akm_key_install(&self->nl, 1, e, self->k[e], AKM_KEY_LEN));
		EXPECT_NE(NULL, strstr(self->nl.ext_msg, "installed in this namespace before"));
	}
	/* the ASR deleted and made again: still remembered */
	AKM_ASSERT_OK(&self->nl, akm_asr_del(&self->nl, 1));
	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 1, AKM_ALG_CHACHA20_POLY1305, NULL, -1));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 1, &a));
	EXPECT_EQ(3, a.last_epoch);
	AKM_EXPECT_ERR(&self->nl, -ESTALE,
		       akm_key_install(&self->nl, 1, 3, self->k[3], AKM_KEY_LEN));
	AKM_EXPECT_OK(&self->nl, akm_key_install(&self->nl, 1, 4, self->k[4], AKM_KEY_LEN));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 1, &a));
	EXPECT_EQ(4, a.last_epoch);
	/* a failed install does not move it */
	AKM_EXPECT_ERR(&self->nl, -EBUSY,
		       akm_key_install(&self->nl, 1, 9, self->k[7], AKM_KEY_LEN));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 1, &a));
	EXPECT_EQ(4, a.last_epoch);
	/* other ASRs have their own */
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 2, &a));
	EXPECT_EQ(0, a.last_epoch);
}

/* A new key's counter starts at 0 (nothing sent) and is reported. */
TEST_F(key, tx_seq_reported)
{
	struct akm_asr_info a;

	AKM_ASSERT_OK(&self->nl, akm_key_install(&self->nl, 1, 1, self->k[1], AKM_KEY_LEN));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 1, &a));
	ASSERT_EQ(1, a.nkeys);
	EXPECT_TRUE(a.keys[0].has_tx_seq);
	EXPECT_EQ(0, a.keys[0].tx_seq);
}

TEST_F(key, activate_retire_unknown_epoch_enoent)
{
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_key_activate(&self->nl, 1, 1));
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_key_retire(&self->nl, 1, 1));
	AKM_ASSERT_OK(&self->nl, akm_key_install(&self->nl, 1, 1, self->k[1], AKM_KEY_LEN));
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_key_activate(&self->nl, 1, 2));
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_key_retire(&self->nl, 1, 2));
	/* epoch 1 exists in ASR 1 only */
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_key_activate(&self->nl, 2, 1));
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_key_retire(&self->nl, 2, 1));
	EXPECT_EQ(AKM_KEY_NEXT, key_state(&self->nl, 1, 1));
}

TEST_F(key, activate_current_ealready)
{
	uint32_t gen;

	AKM_ASSERT_OK(&self->nl, akm_key_install(&self->nl, 1, 1, self->k[1], AKM_KEY_LEN));
	AKM_ASSERT_OK(&self->nl, akm_key_activate(&self->nl, 1, 1));
	gen = generation(&self->nl);
	AKM_EXPECT_ERR(&self->nl, -EALREADY, akm_key_activate(&self->nl, 1, 1));
	EXPECT_EQ(gen, generation(&self->nl));
	EXPECT_EQ(AKM_KEY_CURRENT, key_state(&self->nl, 1, 1));
}

TEST_F(key, unknown_asr_enoent)
{
	AKM_EXPECT_ERR(&self->nl, -ENOENT,
		       akm_key_install(&self->nl, 9, 1, self->k[1], AKM_KEY_LEN));
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_key_activate(&self->nl, 9, 1));
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_key_retire(&self->nl, 9, 1));
}

TEST_F(key, material_wrong_length_einval)
{
	uint8_t big[AKM_KEY_LEN * 2];
	struct akm_asr_info a;

	akm_material(big, sizeof(big), 7);
	AKM_EXPECT_INVAL(&self->nl, akm_key_install(&self->nl, 1, 1, big, AKM_KEY_LEN - 1));
	AKM_EXPECT_INVAL(&self->nl, akm_key_install(&self->nl, 1, 1, big, AKM_KEY_LEN + 1));
	AKM_EXPECT_INVAL(&self->nl, akm_key_install(&self->nl, 1, 1, big, 16));
	AKM_EXPECT_INVAL(&self->nl, akm_key_install(&self->nl, 1, 1, big, 0));
	AKM_EXPECT_INVAL(&self->nl, akm_key_install(&self->nl, 1, 1, big, sizeof(big)));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 1, &a));
	EXPECT_EQ(0, a.nkeys);
}

TEST_F(key, epoch_zero_einval)
{
	struct akm_asr_info a;

	AKM_EXPECT_INVAL(&self->nl, akm_key_install(&self->nl, 1, 0, self->k[0], AKM_KEY_LEN));
	AKM_EXPECT_INVAL(&self->nl, akm_key_activate(&self->nl, 1, 0));
	AKM_EXPECT_INVAL(&self->nl, akm_key_retire(&self->nl, 1, 0));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 1, &a));
	EXPECT_EQ(0, a.nkeys);
}

TEST_F(key, missing_attrs)
{
	struct nl_msg *msg;
	int cmds[] = { AKM_CMD_KEY_ACTIVATE, AKM_CMD_KEY_RETIRE };
	unsigned int i;

	msg = akm_msg(&self->nl, AKM_CMD_KEY_INSTALL, 0);
	nla_put_u32(msg, AKM_A_ASR_ID, 1);
	nla_put_u32(msg, AKM_A_KEY_EPOCH, 1);
	AKM_EXPECT_MISSING(&self->nl, akm_do(&self->nl, msg, NULL, NULL),
			   AKM_A_KEY_MATERIAL, "KEY_MATERIAL");
	msg = akm_msg(&self->nl, AKM_CMD_KEY_INSTALL, 0);
	nla_put_u32(msg, AKM_A_ASR_ID, 1);
	nla_put(msg, AKM_A_KEY_MATERIAL, AKM_KEY_LEN, self->k[1]);
	AKM_EXPECT_MISSING(&self->nl, akm_do(&self->nl, msg, NULL, NULL),
			   AKM_A_KEY_EPOCH, "KEY_EPOCH");
	msg = akm_msg(&self->nl, AKM_CMD_KEY_INSTALL, 0);
	nla_put_u32(msg, AKM_A_KEY_EPOCH, 1);
	nla_put(msg, AKM_A_KEY_MATERIAL, AKM_KEY_LEN, self->k[1]);
	AKM_EXPECT_MISSING(&self->nl, akm_do(&self->nl, msg, NULL, NULL),
			   AKM_A_ASR_ID, "ASR_ID");
	for (i = 0; i < 2; i++) {
		msg = akm_msg(&self->nl, cmds[i], 0);
		nla_put_u32(msg, AKM_A_ASR_ID, 1);
		AKM_EXPECT_MISSING(&self->nl, akm_do(&self->nl, msg, NULL, NULL),
				   AKM_A_KEY_EPOCH, "KEY_EPOCH");
		msg = akm_msg(&self->nl, cmds[i], 0);
		nla_put_u32(msg, AKM_A_KEY_EPOCH, 1);
		AKM_EXPECT_MISSING(&self->nl, akm_do(&self->nl, msg, NULL, NULL),
				   AKM_A_ASR_ID, "ASR_ID");
	}
}

/* A pending next epoch can be retired; then a new next can come. */
TEST_F(key, retire_next)
{
	struct akm_asr_info a;

	AKM_ASSERT_OK(&self->nl, akm_key_install(&self->nl, 1, 1, self->k[1], AKM_KEY_LEN));
	AKM_ASSERT_OK(&self->nl, akm_key_activate(&self->nl, 1, 1));
	AKM_ASSERT_OK(&self->nl, akm_key_install(&self->nl, 1, 2, self->k[2], AKM_KEY_LEN));
	AKM_ASSERT_OK(&self->nl, akm_key_retire(&self->nl, 1, 2));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 1, &a));
	ASSERT_EQ(1, a.nkeys);
	EXPECT_EQ(AKM_KEY_CURRENT, a.keys[0].state);
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_key_activate(&self->nl, 1, 2));
	AKM_EXPECT_OK(&self->nl, akm_key_install(&self->nl, 1, 3, self->k[3], AKM_KEY_LEN));
	EXPECT_EQ(AKM_KEY_NEXT, key_state(&self->nl, 1, 3));
}

/* Both algorithms take keys. */
TEST_F(key, chacha_asr_key)
{
	AKM_ASSERT_OK(&self->nl, akm_key_install(&self->nl, 2, 1, self->k[1], AKM_KEY_LEN));
	AKM_ASSERT_OK(&self->nl, akm_key_activate(&self->nl, 2, 1));
	EXPECT_EQ(AKM_KEY_CURRENT, key_state(&self->nl, 2, 1));
}

/* Every key operation bumps the generation; failures do not. */
TEST_F(key, generation_bumps)
{
	uint32_t g0, g1, g2, g3;

	g0 = generation(&self->nl);
	AKM_ASSERT_OK(&self->nl, akm_key_install(&self->nl, 1, 1, self->k[1], AKM_KEY_LEN));
	g1 = generation(&self->nl);
	EXPECT_GT(g1, g0);
	AKM_ASSERT_OK(&self->nl, akm_key_activate(&self->nl, 1, 1));
	g2 = generation(&self->nl);
	EXPECT_GT(g2, g1);
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_key_retire(&self->nl, 1, 9));
	EXPECT_EQ(g2, generation(&self->nl));
	AKM_ASSERT_OK(&self->nl, akm_key_retire(&self->nl, 1, 1));
	g3 = generation(&self->nl);
	EXPECT_GT(g3, g2);
}

/* The material never comes back: not in ASR_GET, not in a dump. */
TEST_F(key, material_never_returned)
{
	struct raw_scan s = { .needle = self->k[4] };
	struct nl_msg *msg;

	AKM_ASSERT_OK(&self->nl, akm_key_install(&self->nl, 1, 1, self->k[4], AKM_KEY_LEN));
	AKM_ASSERT_OK(&self->nl, akm_key_activate(&self->nl, 1, 1));
	AKM_ASSERT_OK(&self->nl, akm_key_install(&self->nl, 1, 2, self->k[5], AKM_KEY_LEN));
	msg = akm_msg(&self->nl, AKM_CMD_ASR_GET, 0);
	nla_put_u32(msg, AKM_A_ASR_ID, 1);
	AKM_ASSERT_OK(&self->nl, akm_do(&self->nl, msg, scan_cb, &s));
	EXPECT_EQ(1, s.msgs);
	EXPECT_FALSE(s.found);
	s.msgs = 0;
	AKM_ASSERT_OK(&self->nl, akm_dump(&self->nl, akm_msg(&self->nl, AKM_CMD_ASR_GET, 0),
					  scan_cb, &s, NULL));
	EXPECT_EQ(2, s.msgs);
	EXPECT_FALSE(s.found);
	s.needle = self->k[5];
	AKM_ASSERT_OK(&self->nl, akm_dump(&self->nl, akm_msg(&self->nl, AKM_CMD_ASR_GET, 0),
					  scan_cb, &s, NULL));
	EXPECT_FALSE(s.found);
}

/* Same epoch number in two ASRs: two different keys. */
TEST_F(key, per_asr_keys)
{
	struct akm_asr_info a1, a2;

	AKM_ASSERT_OK(&self->nl, akm_key_install(&self->nl, 1, 1, self->k[1], AKM_KEY_LEN));
	AKM_ASSERT_OK(&self->nl, akm_key_install(&self->nl, 2, 1, self->k[1], AKM_KEY_LEN));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 1, &a1));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 2, &a2));
	ASSERT_EQ(1, a1.nkeys);
	ASSERT_EQ(1, a2.nkeys);
	EXPECT_NE(a1.keys[0].serial, a2.keys[0].serial);
	AKM_ASSERT_OK(&self->nl, akm_key_retire(&self->nl, 1, 1));
	EXPECT_EQ(AKM_KEY_NEXT, key_state(&self->nl, 2, 1));
}

TEST_HARNESS_MAIN
