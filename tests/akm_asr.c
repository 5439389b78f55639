// SPDX-License-Identifier: GPL-2.0
/*
 * AKM ASR commands: ASR_NEW, ASR_SET, ASR_DEL, ASR_GET (doit) and their
 * bad-input classes, the per-namespace limit and the generation counter.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "akm_test_lib.h"

AKM_FIXTURE(asr);

static uint32_t generation(struct akm_nl *nl)
{
	struct akm_node_info n;

	if (akm_node_get(nl, &n))
		return 0xdeadbeef;
	return n.generation;
}

static uint32_t asr_count(struct akm_nl *nl)
{
	struct akm_node_info n;

	if (akm_node_get(nl, &n))
		return 0xdeadbeef;
	return n.asr_count;
}

TEST_F(asr, new_get_defaults)
{
	struct akm_asr_info a;

	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 1, AKM_ALG_HMAC_SHA256, NULL, -1));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 1, &a));
	ASSERT_TRUE(a.has_id);
	EXPECT_EQ(1, a.id);
	EXPECT_FALSE(a.has_name);
	ASSERT_TRUE(a.has_alg);
	EXPECT_EQ(AKM_ALG_HMAC_SHA256, a.alg);
	ASSERT_TRUE(a.has_policy);
	EXPECT_EQ(AKM_POLICY_DROP, a.policy);
	ASSERT_TRUE(a.has_grace);
	EXPECT_EQ(AKM_GRACE_DEFAULT, a.grace);
	ASSERT_TRUE(a.has_member_count);
	EXPECT_EQ(0, a.member_count);
	EXPECT_EQ(0, a.nkeys);
	ASSERT_TRUE(a.has_stats);
	EXPECT_TRUE(akm_stats_complete(&a.stats));
	EXPECT_EQ(1, asr_count(&self->nl));
}

TEST_F(asr, new_all_attributes)
{
	struct akm_asr_info a;

	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 77, AKM_ALG_CHACHA20_POLY1305,
					     "edge-group", AKM_POLICY_ACCEPT));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 77, &a));
	EXPECT_EQ(77, a.id);
	ASSERT_TRUE(a.has_name);
	EXPECT_STREQ("edge-group", a.name);
	EXPECT_EQ(AKM_ALG_CHACHA20_POLY1305, a.alg);
	EXPECT_EQ(AKM_POLICY_ACCEPT, a.policy);
}

TEST_F(asr, new_max_id)
{
	struct akm_asr_info a;

	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 0xffffffffu, AKM_ALG_HMAC_SHA256,
					     NULL, -1));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 0xffffffffu, &a));
	EXPECT_EQ(0xffffffffu, a.id);
}

/* 31 characters + NUL is the longest name. */
TEST_F(asr, name_31_chars_ok)
{
	char name[AKM_NAME_MAX];
	struct akm_asr_info a;

	memset(name, 'n', AKM_NAME_MAX - 1);
	name[AKM_NAME_MAX - 1] = '\0';
	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 2, AKM_ALG_HMAC_SHA256, name, -1));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 2, &a));
	EXPECT_STREQ(name, a.name);
}

TEST_F(asr, name_32_chars_einval)
{
	char name[AKM_NAME_MAX + 8];
	struct akm_asr_info a;

	memset(name, 'n', AKM_NAME_MAX);
	name[AKM_NAME_MAX] = '\0';
	AKM_EXPECT_INVAL(&self->nl, akm_asr_new(&self->nl, 2, AKM_ALG_HMAC_SHA256, name, -1));
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_asr_get(&self->nl, 2, &a));
	memset(name, 'n', AKM_NAME_MAX + 6);
	name[AKM_NAME_MAX + 6] = '\0';
	AKM_EXPECT_INVAL(&self->nl, akm_asr_new(&self->nl, 2, AKM_ALG_HMAC_SHA256, name, -1));
	EXPECT_EQ(0, asr_count(&self->nl));
}

/* The name is a NUL-terminated string. */
TEST_F(asr, name_without_nul_einval)
{
	struct nl_msg *msg = akm_msg(&self->nl, AKM_CMD_ASR_NEW, 0);

	nla_put_u32(msg, AKM_A_ASR_ID, 3);
	nla_put_u8(msg, AKM_A_ASR_ALG, AKM_ALG_HMAC_SHA256);
	nla_put(msg, AKM_A_ASR_NAME, 4, "abcd");
	AKM_EXPECT_ERR(&self->nl, -EINVAL, akm_do(&self->nl, msg, NULL, NULL));
	EXPECT_EQ(0, asr_count(&self->nl));
}

TEST_F(asr, new_missing_id)
{
	struct nl_msg *msg = akm_msg(&self->nl, AKM_CMD_ASR_NEW, 0);

	nla_put_u8(msg, AKM_A_ASR_ALG, AKM_ALG_HMAC_SHA256);
	AKM_EXPECT_MISSING(&self->nl, akm_do(&self->nl, msg, NULL, NULL),
			   AKM_A_ASR_ID, "ASR_ID");
	EXPECT_EQ(0, asr_count(&self->nl));
}

TEST_F(asr, new_missing_alg)
{
	struct nl_msg *msg = akm_msg(&self->nl, AKM_CMD_ASR_NEW, 0);
	struct akm_asr_info a;

	nla_put_u32(msg, AKM_A_ASR_ID, 4);
	nla_put_string(msg, AKM_A_ASR_NAME, "no-alg");
	AKM_EXPECT_MISSING(&self->nl, akm_do(&self->nl, msg, NULL, NULL),
			   AKM_A_ASR_ALG, "ASR_ALG");
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_asr_get(&self->nl, 4, &a));
}

TEST_F(asr, new_alg_zero_einval)
{
	AKM_EXPECT_INVAL(&self->nl, akm_asr_new(&self->nl, 5, 0, NULL, -1));
	EXPECT_EQ(0, asr_count(&self->nl));
}

TEST_F(asr, new_alg_99_einval)
{
	AKM_EXPECT_INVAL(&self->nl, akm_asr_new(&self->nl, 5, 99, NULL, -1));
	AKM_EXPECT_INVAL(&self->nl, akm_asr_new(&self->nl, 5, AKM_ALG_MAX + 1, NULL, -1));
	EXPECT_EQ(0, asr_count(&self->nl));
}

TEST_F(asr, new_policy_2_einval)
{
	AKM_EXPECT_INVAL(&self->nl, akm_asr_new(&self->nl, 6, AKM_ALG_HMAC_SHA256, NULL, AKM_POLICY_MAX + 1));
	EXPECT_EQ(0, asr_count(&self->nl));
}

TEST_F(asr, new_id_zero_einval)
{
	AKM_EXPECT_INVAL(&self->nl, akm_asr_new(&self->nl, 0, AKM_ALG_HMAC_SHA256, NULL, -1));
	EXPECT_EQ(0, asr_count(&self->nl));
}

/* Wrong attribute widths: ASR_ID as u16/u64, ALG as u32. */
TEST_F(asr, new_wrong_length_einval)
{
	struct nl_msg *msg;

	msg = akm_msg(&self->nl, AKM_CMD_ASR_NEW, 0);
	nla_put_u16(msg, AKM_A_ASR_ID, 8);
	nla_put_u8(msg, AKM_A_ASR_ALG, AKM_ALG_HMAC_SHA256);
	AKM_EXPECT_ERR(&self->nl, -EINVAL, akm_do(&self->nl, msg, NULL, NULL));

	msg = akm_msg(&self->nl, AKM_CMD_ASR_NEW, 0);
	nla_put_u64(msg, AKM_A_ASR_ID, 8);
	nla_put_u8(msg, AKM_A_ASR_ALG, AKM_ALG_HMAC_SHA256);
	AKM_EXPECT_ERR(&self->nl, -EINVAL, akm_do(&self->nl, msg, NULL, NULL));

	msg = akm_msg(&self->nl, AKM_CMD_ASR_NEW, 0);
	nla_put_u32(msg, AKM_A_ASR_ID, 8);
	nla_put_u32(msg, AKM_A_ASR_ALG, AKM_ALG_HMAC_SHA256);
	AKM_EXPECT_ERR(&self->nl, -EINVAL, akm_do(&self->nl, msg, NULL, NULL));
	EXPECT_EQ(0, asr_count(&self->nl));
}

/* Strict validation: unknown attribute types, output-only attributes. */
TEST_F(asr, new_unknown_attr_einval)
{
	struct nl_msg *msg;

	msg = akm_msg(&self->nl, AKM_CMD_ASR_NEW, 0);
	nla_put_u32(msg, AKM_A_ASR_ID, 9);
	nla_put_u8(msg, AKM_A_ASR_ALG, AKM_ALG_HMAC_SHA256);
	nla_put_u32(msg, AKM_A_MAX + 1, 0);
	AKM_EXPECT_ERR(&self->nl, -EINVAL, akm_do(&self->nl, msg, NULL, NULL));

	msg = akm_msg(&self->nl, AKM_CMD_ASR_NEW, 0);
	nla_put_u32(msg, AKM_A_ASR_ID, 9);
	nla_put_u8(msg, AKM_A_ASR_ALG, AKM_ALG_HMAC_SHA256);
	nla_put_u32(msg, 0x3fff, 0);
	AKM_EXPECT_ERR(&self->nl, -EINVAL, akm_do(&self->nl, msg, NULL, NULL));
	EXPECT_EQ(0, asr_count(&self->nl));
}

/* A duplicate is refused and changes nothing (no half-applied update). */
TEST_F(asr, new_duplicate_eexist)
{
	struct akm_asr_info a;
	uint32_t gen;

	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 10, AKM_ALG_HMAC_SHA256, "first", 0));
	gen = generation(&self->nl);
	AKM_EXPECT_ERR(&self->nl, -EEXIST,
		       akm_asr_new(&self->nl, 10, AKM_ALG_CHACHA20_POLY1305, "second", 1));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 10, &a));
	EXPECT_STREQ("first", a.name);
	EXPECT_EQ(AKM_ALG_HMAC_SHA256, a.alg);
	EXPECT_EQ(AKM_POLICY_DROP, a.policy);
	EXPECT_EQ(gen, generation(&self->nl));
	EXPECT_EQ(1, asr_count(&self->nl));
}

TEST_F(asr, get_unknown_enoent)
{
	struct akm_asr_info a;

	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_asr_get(&self->nl, 1234, &a));
	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 1, AKM_ALG_HMAC_SHA256, NULL, -1));
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_asr_get(&self->nl, 2, &a));
}

TEST_F(asr, get_missing_id)
{
	struct akm_asr_info a;
	struct nl_msg *msg = akm_msg(&self->nl, AKM_CMD_ASR_GET, 0);

	(void)a;
	AKM_EXPECT_MISSING(&self->nl, akm_do(&self->nl, msg, NULL, NULL),
			   AKM_A_ASR_ID, "ASR_ID");
}

TEST_F(asr, set_name_and_policy)
{
	struct akm_asr_info a;
	uint32_t gen0, gen1;

	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 11, AKM_ALG_CHACHA20_POLY1305,
					     "old", -1));
	gen0 = generation(&self->nl);
	AKM_ASSERT_OK(&self->nl, akm_asr_set(&self->nl, 11, "new-name", -1));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 11, &a));
	EXPECT_STREQ("new-name", a.name);
	EXPECT_EQ(AKM_POLICY_DROP, a.policy);
	EXPECT_EQ(AKM_ALG_CHACHA20_POLY1305, a.alg);
	gen1 = generation(&self->nl);
	EXPECT_GT(gen1, gen0);

	AKM_ASSERT_OK(&self->nl, akm_asr_set(&self->nl, 11, NULL, AKM_POLICY_ACCEPT));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 11, &a));
	EXPECT_STREQ("new-name", a.name);
	EXPECT_EQ(AKM_POLICY_ACCEPT, a.policy);
	EXPECT_GT(generation(&self->nl), gen1);

	AKM_ASSERT_OK(&self->nl, akm_asr_set(&self->nl, 11, "both", AKM_POLICY_DROP));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 11, &a));
	EXPECT_STREQ("both", a.name);
	EXPECT_EQ(AKM_POLICY_DROP, a.policy);
}

TEST_F(asr, set_unknown_enoent)
{
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_asr_set(&self->nl, 12, "x", -1));
	EXPECT_EQ(0, asr_count(&self->nl));
}

/* A bad SET changes nothing. */
TEST_F(asr, set_bad_values_einval)
{
	char longname[AKM_NAME_MAX + 1];
	struct akm_asr_info a;

	memset(longname, 'x', AKM_NAME_MAX);
	longname[AKM_NAME_MAX] = '\0';
	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 13, AKM_ALG_HMAC_SHA256, "keep", -1));
	AKM_EXPECT_INVAL(&self->nl, akm_asr_set(&self->nl, 13, "changed", 2));
	AKM_EXPECT_INVAL(&self->nl, akm_asr_set(&self->nl, 13, longname, 1));
	AKM_EXPECT_INVAL(&self->nl, akm_asr_set(&self->nl, 0, "zero", 1));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 13, &a));
	EXPECT_STREQ("keep", a.name);
	EXPECT_EQ(AKM_POLICY_DROP, a.policy);
}

TEST_F(asr, set_missing_id)
{
	struct nl_msg *msg = akm_msg(&self->nl, AKM_CMD_ASR_SET, 0);

	nla_put_string(msg, AKM_A_ASR_NAME, "x");
	AKM_EXPECT_MISSING(&self->nl, akm_do(&self->nl, msg, NULL, NULL),
			   AKM_A_ASR_ID, "ASR_ID");
}

TEST_F(asr, del)
{
	struct akm_asr_info a;
	uint32_t gen;

	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 14, AKM_ALG_HMAC_SHA256, NULL, -1));
	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 15, AKM_ALG_HMAC_SHA256, NULL, -1));
	EXPECT_EQ(2, asr_count(&self->nl));
	gen = generation(&self->nl);
	AKM_ASSERT_OK(&self->nl, akm_asr_del(&self->nl, 14));
	EXPECT_GT(generation(&self->nl), gen);
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_asr_get(&self->nl, 14, &a));
	AKM_EXPECT_OK(&self->nl, akm_asr_get(&self->nl, 15, &a));
	EXPECT_EQ(1, asr_count(&self->nl));
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_asr_del(&self->nl, 14));
	/* the id can be used again */
	AKM_EXPECT_OK(&self->nl, akm_asr_new(&self->nl, 14, AKM_ALG_CHACHA20_POLY1305, NULL, -1));
}

TEST_F(asr, del_unknown_enoent)
{
	uint32_t gen = generation(&self->nl);

	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_asr_del(&self->nl, 16));
	EXPECT_EQ(gen, generation(&self->nl));
}

TEST_F(asr, del_missing_id)
{
	struct nl_msg *msg = akm_msg(&self->nl, AKM_CMD_ASR_DEL, 0);

	AKM_EXPECT_MISSING(&self->nl, akm_do(&self->nl, msg, NULL, NULL),
			   AKM_A_ASR_ID, "ASR_ID");
}

/* ASR_DEL takes the ASR's members and keys with it. */
TEST_F(asr, del_removes_members_and_keys)
{
	const char *addrs[] = { "192.0.2.17", "2001:db8::17" };
	struct akm_member_info m;
	struct akm_asr_info a;
	struct akm_node_info n;
	uint8_t key[AKM_KEY_LEN];
	int32_t serial;

	akm_material(key, sizeof(key), 17);
	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 17, AKM_ALG_HMAC_SHA256, NULL, -1));
	AKM_ASSERT_OK(&self->nl, akm_member_new(&self->nl, 17, 1, -1, addrs, 2));
	AKM_ASSERT_OK(&self->nl, akm_member_new(&self->nl, 17, 2, -1, NULL, 0));
	AKM_ASSERT_OK(&self->nl, akm_key_install(&self->nl, 17, 1, key, sizeof(key)));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 17, &a));
	ASSERT_EQ(1, a.nkeys);
	serial = a.keys[0].serial;
	AKM_ASSERT_OK(&self->nl, akm_node_get(&self->nl, &n));
	EXPECT_TRUE(akm_keyring_contains(n.keyring, serial));

	AKM_ASSERT_OK(&self->nl, akm_asr_del(&self->nl, 17));
	EXPECT_TRUE(akm_keyring_drops(n.keyring, serial, 2000));
	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 17, AKM_ALG_HMAC_SHA256, NULL, -1));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 17, &a));
	EXPECT_EQ(0, a.member_count);
	EXPECT_EQ(0, a.nkeys);
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_member_get(&self->nl, 17, 1, &m));
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_member_get(&self->nl, 17, 2, &m));
	/* the addresses are free again */
	AKM_EXPECT_OK(&self->nl, akm_member_new(&self->nl, 17, 3, -1, addrs, 2));
}

/* AKM_ASRS_MAX ASRs per namespace; the next one is ENOSPC. */
TEST_F_TIMEOUT(asr, limit_enospc, 600)
{
	struct akm_asr_info a;
	uint32_t i;

	for (i = 1; i <= AKM_ASRS_MAX; i++)
		AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, i, AKM_ALG_HMAC_SHA256, NULL, -1));
	EXPECT_EQ(AKM_ASRS_MAX, asr_count(&self->nl));
	AKM_EXPECT_ERR(&self->nl, -ENOSPC,
		       akm_asr_new(&self->nl, AKM_ASRS_MAX + 1, AKM_ALG_HMAC_SHA256, NULL, -1));
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_asr_get(&self->nl, AKM_ASRS_MAX + 1, &a));
	EXPECT_EQ(AKM_ASRS_MAX, asr_count(&self->nl));
	/* room again after a delete */
	AKM_ASSERT_OK(&self->nl, akm_asr_del(&self->nl, 500));
	AKM_EXPECT_OK(&self->nl,
		      akm_asr_new(&self->nl, AKM_ASRS_MAX + 1, AKM_ALG_HMAC_SHA256, NULL, -1));
	AKM_EXPECT_ERR(&self->nl, -ENOSPC, akm_asr_new(&self->nl, 500, AKM_ALG_HMAC_SHA256,
						       NULL, -1));
}

static int asr_grace_msg(struct akm_nl *nl, int cmd, uint32_t id, uint32_t grace)
{
	struct nl_msg *msg = akm_msg(nl, cmd, 0);

	nla_put_u32(msg, AKM_A_ASR_ID, id);
	if (cmd == AKM_CMD_ASR_NEW)
		nla_put_u8(msg, AKM_A_ASR_ALG, AKM_ALG_HMAC_SHA256);
	nla_put_u32(msg, AKM_A_ASR_GRACE, grace);
	return akm_do(nl, msg, NULL, NULL);
}

/* ASR_GRACE: 0..AKM_GRACE_MAX seconds, on ASR_NEW and ASR_SET. */
TEST_F(asr, grace)
{
	struct akm_asr_info a;

	AKM_ASSERT_OK(&self->nl, asr_grace_msg(&self->nl, AKM_CMD_ASR_NEW, 20, 0));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 20, &a));
	EXPECT_EQ(0, a.grace);
	AKM_ASSERT_OK(&self->nl, asr_grace_msg(&self->nl, AKM_CMD_ASR_SET, 20, AKM_GRACE_MAX));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 20, &a));
	EXPECT_EQ(AKM_GRACE_MAX, a.grace);
	AKM_ASSERT_OK(&self->nl, akm_asr_set(&self->nl, 20, "keeps-grace", 1));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 20, &a));
	EXPECT_EQ(AKM_GRACE_MAX, a.grace);
	AKM_ASSERT_OK(&self->nl, asr_grace_msg(&self->nl, AKM_CMD_ASR_NEW, 21, 5));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 21, &a));
	EXPECT_EQ(5, a.grace);
}

TEST_F(asr, grace_out_of_range)
{
	struct akm_asr_info a;

	AKM_EXPECT_INVAL(&self->nl, asr_grace_msg(&self->nl, AKM_CMD_ASR_NEW, 22,
						  AKM_GRACE_MAX + 1));
	AKM_EXPECT_ERR(&self->nl, -ENOENT, akm_asr_get(&self->nl, 22, &a));
	AKM_ASSERT_OK(&self->nl, asr_grace_msg(&self->nl, AKM_CMD_ASR_NEW, 22, 7));
	AKM_EXPECT_INVAL(&self->nl, asr_grace_msg(&self->nl, AKM_CMD_ASR_SET, 22, 0xffffffffu));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 22, &a));
	EXPECT_EQ(7, a.grace);
}

TEST_HARNESS_MAIN
