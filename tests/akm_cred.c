// SPDX-License-Identifier: GPL-2.0
/*
 * AKM provisioning credentials: CRED_INSTALL, CRED_DEL, CRED_GET (doit and
 * dump), CRED_PROVE, and KEY_INSTALL with a wrapped or derived key. The
 * expected proofs and wrapped keys are computed here with libsodium from
 * the constructions documented in the kernel:
 *
 *   proof:  HMAC-SHA256(HMAC-SHA256(C, "AKM v1 auth"), data)
 *   wrap:   XChaCha20-Poly1305, key HMAC-SHA256(C, "AKM v1 wrap"), nonce(24) ||
 *           ciphertext(32) || tag(16), associated data "AKM v1 wrap" ||
 *           be32 asr || be32 epoch || u8 alg || be32 n || be32 node * n
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <keyutils.h>
#include <sodium.h>

#include "kselftest_harness.h"
#include "akm_test_lib.h"

FIXTURE(cred) {
	struct akm_nl nl;
	uint8_t c[AKM_KEY_LEN];
};

FIXTURE_SETUP(cred)
{
	ASSERT_EQ(0, akm_new_netns());
	ASSERT_EQ(0, akm_nl_open(&self->nl)) {
		TH_LOG("cannot open the akm generic netlink family (is akm.ko loaded?)");
	}
	ASSERT_LE(0, sodium_init());
	akm_material(self->c, AKM_KEY_LEN, 555);
}

FIXTURE_TEARDOWN(cred)
{
	akm_nl_close(&self->nl);
}

struct cred_info {
	int n;
	uint32_t ids[64];
	int32_t serials[64];
	bool material_seen;
	bool proof_seen;
	uint8_t proof[64];
	int proof_len;
	const uint8_t *needle;
};

static int cred_cb(struct nlmsghdr *nlh, void *arg)
{
	struct cred_info *ci = arg;
	struct nlattr *tb[AKM_A_MAX + 1];
	const uint8_t *p = (const uint8_t *)nlh;
	size_t i;

	if (genlmsg_parse(nlh, 0, tb, AKM_A_MAX, NULL))
		return -EPROTO;
	if (ci->needle)
		for (i = 0; i + AKM_KEY_LEN <= nlh->nlmsg_len; i++)
			if (!memcmp(p + i, ci->needle, AKM_KEY_LEN))
				ci->material_seen = true;
	if (tb[AKM_A_KEY_MATERIAL])
		ci->material_seen = true;
	if (tb[AKM_A_PROOF]) {
		ci->proof_seen = true;
		ci->proof_len = nla_len(tb[AKM_A_PROOF]);
		if (ci->proof_len <= (int)sizeof(ci->proof))
			memcpy(ci->proof, nla_data(tb[AKM_A_PROOF]), ci->proof_len);
	}
	if (ci->n < 64) {
		ci->ids[ci->n] = tb[AKM_A_CRED_ID] ? nla_get_u32(tb[AKM_A_CRED_ID]) : 0;
		ci->serials[ci->n] = tb[AKM_A_CRED_SERIAL] ?
				     (int32_t)nla_get_u32(tb[AKM_A_CRED_SERIAL]) : 0;
	}
	ci->n++;
	return 0;
}

static int cred_install(struct akm_nl *nl, uint32_t id, const uint8_t *m, int len)
{
	struct nl_msg *msg = akm_msg(nl, AKM_CMD_CRED_INSTALL, 0);

	nla_put_u32(msg, AKM_A_CRED_ID, id);
	nla_put(msg, AKM_A_KEY_MATERIAL, len, m);
	return akm_do(nl, msg, NULL, NULL);
}

static int cred_id_cmd(struct akm_nl *nl, int cmd, uint32_t id, struct cred_info *ci)
{
	struct nl_msg *msg = akm_msg(nl, cmd, 0);

	if (ci)
		memset(ci, 0, sizeof(*ci));
	nla_put_u32(msg, AKM_A_CRED_ID, id);
	return akm_do(nl, msg, ci ? cred_cb : NULL, ci);
}

static int cred_prove(struct akm_nl *nl, uint32_t id, const void *data, int len,
		      struct cred_info *ci)
{
	struct nl_msg *msg = akm_msg(nl, AKM_CMD_CRED_PROVE, 0);

	memset(ci, 0, sizeof(*ci));
	nla_put_u32(msg, AKM_A_CRED_ID, id);
	nla_put(msg, AKM_A_PROOF_DATA, len, data);
	return akm_do(nl, msg, cred_cb, ci);
}

static void hmac(const uint8_t *key, size_t klen, const void *d, size_t dlen, uint8_t *out)
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, key, klen);
	crypto_auth_hmacsha256_update(&st, d, dlen);
	crypto_auth_hmacsha256_final(&st, out);
}

/* Wrap key for (asr, epoch, alg, members) under credential c. */
static void wrap(const uint8_t *c, uint32_t asr, uint32_t epoch, uint8_t alg,
		 const uint32_t *nodes, uint32_t n, const uint8_t *key, uint8_t *out)
{
	static const char label[] = "AKM v1 wrap";
	uint8_t k[32], ad[128], *p = ad;
	unsigned long long clen;
	uint32_t be, i;

	hmac(c, AKM_KEY_LEN, label, strlen(label), k);
	memcpy(p, label, strlen(label));
	p += strlen(label);
	be = htonl(asr);
	memcpy(p, &be, 4);
	be = htonl(epoch);
	memcpy(p + 4, &be, 4);
	p[8] = alg;
	be = htonl(n);
	memcpy(p + 9, &be, 4);
	p += 13;
	for (i = 0; i < n; i++, p += 4) {
		be = htonl(nodes[i]);
		memcpy(p, &be, 4);
	}
	randombytes_buf(out, 24);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + 24, &clen, key, AKM_KEY_LEN, ad,
						   p - ad, NULL, out, k);
}

static int install_wrapped(struct akm_nl *nl, uint32_t asr, uint32_t epoch, uint32_t cred,
			   const uint8_t *wrapped, int len)
{
	struct nl_msg *msg = akm_msg(nl, AKM_CMD_KEY_INSTALL, 0);

	nla_put_u32(msg, AKM_A_ASR_ID, asr);
	nla_put_u32(msg, AKM_A_KEY_EPOCH, epoch);
	nla_put_u32(msg, AKM_A_CRED_ID, cred);
	if (wrapped)
		nla_put(msg, AKM_A_KEY_WRAPPED, len, wrapped);
	return akm_do(nl, msg, NULL, NULL);
}

TEST_F(cred, install_get_describe)
{
	struct akm_node_info n0, n1;
	struct cred_info ci;
	char buf[256];

	AKM_ASSERT_OK(&self->nl, akm_node_get(&self->nl, &n0));
	AKM_ASSERT_OK(&self->nl, cred_install(&self->nl, 5, self->c, AKM_KEY_LEN));
	AKM_ASSERT_OK(&self->nl, akm_node_get(&self->nl, &n1));
	EXPECT_GT(n1.generation, n0.generation);
	AKM_ASSERT_OK(&self->nl, cred_id_cmd(&self->nl, AKM_CMD_CRED_GET, 5, &ci));
	ASSERT_EQ(1, ci.n);
	EXPECT_EQ(5, ci.ids[0]);
	ASSERT_GT(ci.serials[0], 0);
	ASSERT_GE(keyctl_describe(ci.serials[0], buf, sizeof(buf)), 0);
	EXPECT_EQ(0, strncmp(buf, "akm;", 4)) {
		TH_LOG("describe: %s", buf);
	}
	EXPECT_NE(NULL, strstr(buf, ";cred:5")) {
		TH_LOG("describe: %s", buf);
	}
	EXPECT_LT(keyctl_read(ci.serials[0], buf, sizeof(buf)), 0);
	EXPECT_TRUE(akm_keyring_contains(n1.keyring, ci.serials[0]));
}

TEST_F(cred, material_never_returned)
{
	struct cred_info ci;
	struct akm_dump_res res;

	AKM_ASSERT_OK(&self->nl, cred_install(&self->nl, 6, self->c, AKM_KEY_LEN));
	memset(&ci, 0, sizeof(ci));
	ci.needle = self->c;
	AKM_ASSERT_OK(&self->nl, akm_dump(&self->nl, akm_msg(&self->nl, AKM_CMD_CRED_GET, 0),
					  cred_cb, &ci, &res));
	EXPECT_EQ(1, ci.n);
	EXPECT_FALSE(ci.material_seen);
}

TEST_F(cred, dump_ordered)
{
	uint32_t ids[] = { 30, 4, 17, 1, 999 };
	struct akm_dump_res res;
	struct cred_info ci;
	unsigned int i;

	for (i = 0; i < 5; i++)
		AKM_ASSERT_OK(&self->nl, cred_install(&self->nl, ids[i], self->c, AKM_KEY_LEN));
	memset(&ci, 0, sizeof(ci));
	AKM_ASSERT_OK(&self->nl, akm_dump(&self->nl, akm_msg(&self->nl, AKM_CMD_CRED_GET, 0),
					  cred_cb, &ci, &res));
	ASSERT_EQ(5, ci.n);
	EXPECT_EQ(1, ci.ids[0]);
	EXPECT_EQ(4, ci.ids[1]);
	EXPECT_EQ(17, ci.ids[2]);
	EXPECT_EQ(30, ci.ids[3]);
	EXPECT_EQ(999, ci.ids[4]);
	for (i = 1; i < 5; i++) {
		EXPECT_NE(ci.serials[i - 1], ci.serials[i]);
	}
}

TEST_F(cred, duplicate_eexist)
{
	uint8_t other[AKM_KEY_LEN];
	struct cred_info a, b;

	akm_material(other, sizeof(other), 9);
	AKM_ASSERT_OK(&self->nl, cred_install(&self->nl, 7, self->c, AKM_KEY_LEN));
	AKM_ASSERT_OK(&self->nl, cred_id_cmd(&self->nl, AKM_CMD_CRED_GET, 7, &a));
	AKM_EXPECT_ERR(&self->nl, -EEXIST, cred_install(&self->nl, 7, other, AKM_KEY_LEN));
	AKM_ASSERT_OK(&self->nl, cred_id_cmd(&self->nl, AKM_CMD_CRED_GET, 7, &b));
	EXPECT_EQ(a.serials[0], b.serials[0]);
	/* still the first secret */
	{
		struct cred_info p;
		uint8_t k[32], want[32];

		AKM_ASSERT_OK(&self->nl, cred_prove(&self->nl, 7, "x", 1, &p));
		hmac(self->c, AKM_KEY_LEN, "AKM v1 auth", 11, k);
		hmac(k, 32, "x", 1, want);
		EXPECT_EQ(0, memcmp(want, p.proof, 32));
	}
}

TEST_F(cred, del)
{
	struct akm_node_info n;
	struct cred_info ci;
	int32_t serial;

	AKM_ASSERT_OK(&self->nl, akm_node_get(&self->nl, &n));
	AKM_ASSERT_OK(&self->nl, cred_install(&self->nl, 8, self->c, AKM_KEY_LEN));
	AKM_ASSERT_OK(&self->nl, cred_id_cmd(&self->nl, AKM_CMD_CRED_GET, 8, &ci));
	serial = ci.serials[0];
	AKM_ASSERT_OK(&self->nl, cred_id_cmd(&self->nl, AKM_CMD_CRED_DEL, 8, NULL));
	AKM_EXPECT_ERR(&self->nl, -ENOENT, cred_id_cmd(&self->nl, AKM_CMD_CRED_GET, 8, &ci));
	AKM_EXPECT_ERR(&self->nl, -ENOENT, cred_id_cmd(&self->nl, AKM_CMD_CRED_DEL, 8, NULL));
	EXPECT_TRUE(akm_keyring_drops(n.keyring, serial, 2000));
	/* the id is free again */
	AKM_EXPECT_OK(&self->nl, cred_install(&self->nl, 8, self->c, AKM_KEY_LEN));
}

TEST_F(cred, unknown_enoent)
{
	struct cred_info ci;

	AKM_EXPECT_ERR(&self->nl, -ENOENT, cred_id_cmd(&self->nl, AKM_CMD_CRED_GET, 9, &ci));
	AKM_EXPECT_ERR(&self->nl, -ENOENT, cred_id_cmd(&self->nl, AKM_CMD_CRED_DEL, 9, NULL));
	AKM_EXPECT_ERR(&self->nl, -ENOENT, cred_prove(&self->nl, 9, "abc", 3, &ci));
}

TEST_F(cred, bad_input)
{
	uint8_t big[AKM_PROOF_DATA_MAX + 8] = {};
	struct cred_info ci;
	struct nl_msg *msg;

	AKM_EXPECT_INVAL(&self->nl, cred_install(&self->nl, 0, self->c, AKM_KEY_LEN));
	AKM_EXPECT_INVAL(&self->nl, cred_install(&self->nl, 1, self->c, AKM_KEY_LEN - 1));
	AKM_EXPECT_INVAL(&self->nl, cred_install(&self->nl, 1, big, AKM_KEY_LEN + 1));
	msg = akm_msg(&self->nl, AKM_CMD_CRED_INSTALL, 0);
	nla_put(msg, AKM_A_KEY_MATERIAL, AKM_KEY_LEN, self->c);
	AKM_EXPECT_MISSING(&self->nl, akm_do(&self->nl, msg, NULL, NULL),
			   AKM_A_CRED_ID, "CRED_ID");
	msg = akm_msg(&self->nl, AKM_CMD_CRED_INSTALL, 0);
	nla_put_u32(msg, AKM_A_CRED_ID, 1);
	AKM_EXPECT_MISSING(&self->nl, akm_do(&self->nl, msg, NULL, NULL),
			   AKM_A_KEY_MATERIAL, "KEY_MATERIAL");
	msg = akm_msg(&self->nl, AKM_CMD_CRED_DEL, 0);
	AKM_EXPECT_MISSING(&self->nl, akm_do(&self->nl, msg, NULL, NULL),
			   AKM_A_CRED_ID, "CRED_ID");

	AKM_ASSERT_OK(&self->nl, cred_install(&self->nl, 1, self->c, AKM_KEY_LEN));
	msg = akm_msg(&self->nl, AKM_CMD_CRED_PROVE, 0);
	nla_put_u32(msg, AKM_A_CRED_ID, 1);
	AKM_EXPECT_MISSING(&self->nl, akm_do(&self->nl, msg, NULL, NULL),
			   AKM_A_PROOF_DATA, "PROOF_DATA");
	AKM_EXPECT_INVAL(&self->nl, cred_prove(&self->nl, 1, big, AKM_PROOF_DATA_MAX + 1, &ci));
	/* CRED_SERIAL and PROOF are output only */
	msg = akm_msg(&self->nl, AKM_CMD_CRED_PROVE, 0);
	nla_put_u32(msg, AKM_A_CRED_ID, 1);
	nla_put(msg, AKM_A_PROOF_DATA, 4, "data");
	nla_put(msg, AKM_A_PROOF, AKM_PROOF_LEN, big);
	AKM_EXPECT_ERR(&self->nl, -EINVAL, akm_do(&self->nl, msg, NULL, NULL));
}

/* PROOF = HMAC-SHA256(HMAC-SHA256(C, "AKM v1 auth"), data). */
TEST_F(cred, prove_matches_construction)
{
	uint8_t data[AKM_PROOF_DATA_MAX], k[32], want[32];
	struct cred_info ci;
	int lens[] = { 1, 16, 100, AKM_PROOF_DATA_MAX };
	unsigned int i;

	randombytes_buf(data, sizeof(data));
	hmac(self->c, AKM_KEY_LEN, "AKM v1 auth", 11, k);
	AKM_ASSERT_OK(&self->nl, cred_install(&self->nl, 11, self->c, AKM_KEY_LEN));
	for (i = 0; i < 4; i++) {
		AKM_ASSERT_OK(&self->nl, cred_prove(&self->nl, 11, data, lens[i], &ci));
		ASSERT_TRUE(ci.proof_seen);
		ASSERT_EQ(AKM_PROOF_LEN, ci.proof_len);
		hmac(k, sizeof(k), data, lens[i], want);
		EXPECT_EQ(0, memcmp(want, ci.proof, AKM_PROOF_LEN)) {
			TH_LOG("proof over %d bytes differs", lens[i]);
		}
	}
	/* proving is not a change */
	{
		struct akm_node_info a, b;

		AKM_ASSERT_OK(&self->nl, akm_node_get(&self->nl, &a));
		AKM_ASSERT_OK(&self->nl, cred_prove(&self->nl, 11, data, 8, &ci));
		AKM_ASSERT_OK(&self->nl, akm_node_get(&self->nl, &b));
		EXPECT_EQ(a.generation, b.generation);
	}
}

/* A key wrapped for this ASR, epoch and member set installs as next. */
TEST_F(cred, key_install_wrapped)
{
	uint32_t nodes[] = { 1, 2, 3 };
	uint8_t key[AKM_KEY_LEN], w[AKM_WRAPPED_LEN];
	struct akm_asr_info a;
	unsigned int i;

	akm_material(key, sizeof(key), 77);
	AKM_ASSERT_OK(&self->nl, cred_install(&self->nl, 2, self->c, AKM_KEY_LEN));
	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 10, AKM_ALG_CHACHA20_POLY1305, NULL, -1));
	for (i = 0; i < 3; i++)
		AKM_ASSERT_OK(&self->nl, akm_member_new(&self->nl, 10, nodes[3 - 1 - i], -1,
							NULL, 0));
	wrap(self->c, 10, 1, AKM_ALG_CHACHA20_POLY1305, nodes, 3, key, w);
	AKM_ASSERT_OK(&self->nl, install_wrapped(&self->nl, 10, 1, 2, w, sizeof(w)));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 10, &a));
	ASSERT_EQ(1, a.nkeys);
	EXPECT_EQ(1, a.keys[0].epoch);
	EXPECT_EQ(AKM_KEY_NEXT, a.keys[0].state);
	AKM_EXPECT_OK(&self->nl, akm_key_activate(&self->nl, 10, 1));
}

/* A wrapped key made for anything else does not open. */
TEST_F(cred, key_install_wrapped_mismatch)
{
	uint32_t nodes[] = { 1, 2 }, fewer[] = { 1 }, other[] = { 1, 3 };
	uint8_t key[AKM_KEY_LEN], w[AKM_WRAPPED_LEN], c2[AKM_KEY_LEN];
	struct akm_asr_info a;

	akm_material(key, sizeof(key), 78);
	akm_material(c2, sizeof(c2), 79);
	AKM_ASSERT_OK(&self->nl, cred_install(&self->nl, 2, self->c, AKM_KEY_LEN));
	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 12, AKM_ALG_HMAC_SHA256, NULL, -1));
	AKM_ASSERT_OK(&self->nl, akm_member_new(&self->nl, 12, 1, -1, NULL, 0));
	AKM_ASSERT_OK(&self->nl, akm_member_new(&self->nl, 12, 2, -1, NULL, 0));

	wrap(self->c, 12, 2, AKM_ALG_HMAC_SHA256, nodes, 2, key, w);	/* other epoch */
	AKM_EXPECT_ERR(&self->nl, -EBADMSG, install_wrapped(&self->nl, 12, 1, 2, w, sizeof(w)));
	wrap(self->c, 13, 1, AKM_ALG_HMAC_SHA256, nodes, 2, key, w);	/* other ASR */
	AKM_EXPECT_ERR(&self->nl, -EBADMSG, install_wrapped(&self->nl, 12, 1, 2, w, sizeof(w)));
	wrap(self->c, 12, 1, AKM_ALG_CHACHA20_POLY1305, nodes, 2, key, w); /* other alg */
	AKM_EXPECT_ERR(&self->nl, -EBADMSG, install_wrapped(&self->nl, 12, 1, 2, w, sizeof(w)));
	wrap(self->c, 12, 1, AKM_ALG_HMAC_SHA256, fewer, 1, key, w);	/* member set */
	AKM_EXPECT_ERR(&self->nl, -EBADMSG, install_wrapped(&self->nl, 12, 1, 2, w, sizeof(w)));
	wrap(self->c, 12, 1, AKM_ALG_HMAC_SHA256, other, 2, key, w);
	AKM_EXPECT_ERR(&self->nl, -EBADMSG, install_wrapped(&self->nl, 12, 1, 2, w, sizeof(w)));
	wrap(c2, 12, 1, AKM_ALG_HMAC_SHA256, nodes, 2, key, w);	/* other credential */
	AKM_EXPECT_ERR(&self->nl, -EBADMSG, install_wrapped(&self->nl, 12, 1, 2, w, sizeof(w)));
	wrap(self->c, 12, 1, AKM_ALG_HMAC_SHA256, nodes, 2, key, w);	/* tampered */
	w[AKM_WRAPPED_LEN - 1] ^= 1;
	AKM_EXPECT_ERR(&self->nl, -EBADMSG, install_wrapped(&self->nl, 12, 1, 2, w, sizeof(w)));
	w[AKM_WRAPPED_LEN - 1] ^= 1;
	AKM_EXPECT_INVAL(&self->nl, install_wrapped(&self->nl, 12, 1, 2, w, sizeof(w) - 1));
	AKM_EXPECT_ERR(&self->nl, -ENOENT, install_wrapped(&self->nl, 12, 1, 3, w, sizeof(w)));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 12, &a));
	EXPECT_EQ(0, a.nkeys);
	/* and the right one does */
	AKM_EXPECT_OK(&self->nl, install_wrapped(&self->nl, 12, 1, 2, w, sizeof(w)));
}

/* Exactly one of KEY_MATERIAL, CRED_ID + KEY_WRAPPED, CRED_ID. */
TEST_F(cred, key_install_forms_exclusive)
{
	uint8_t w[AKM_WRAPPED_LEN] = {};
	struct nl_msg *msg;

	AKM_ASSERT_OK(&self->nl, cred_install(&self->nl, 2, self->c, AKM_KEY_LEN));
	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 14, AKM_ALG_HMAC_SHA256, NULL, -1));
	msg = akm_msg(&self->nl, AKM_CMD_KEY_INSTALL, 0);
	nla_put_u32(msg, AKM_A_ASR_ID, 14);
	nla_put_u32(msg, AKM_A_KEY_EPOCH, 1);
	nla_put(msg, AKM_A_KEY_MATERIAL, AKM_KEY_LEN, self->c);
	nla_put_u32(msg, AKM_A_CRED_ID, 2);
	AKM_EXPECT_ERR(&self->nl, -EINVAL, akm_do(&self->nl, msg, NULL, NULL));
	msg = akm_msg(&self->nl, AKM_CMD_KEY_INSTALL, 0);
	nla_put_u32(msg, AKM_A_ASR_ID, 14);
	nla_put_u32(msg, AKM_A_KEY_EPOCH, 1);
	nla_put(msg, AKM_A_KEY_WRAPPED, sizeof(w), w);
	AKM_EXPECT_ERR(&self->nl, -EINVAL, akm_do(&self->nl, msg, NULL, NULL));
	msg = akm_msg(&self->nl, AKM_CMD_KEY_INSTALL, 0);
	nla_put_u32(msg, AKM_A_ASR_ID, 14);
	nla_put_u32(msg, AKM_A_KEY_EPOCH, 1);
	AKM_EXPECT_ERR(&self->nl, -EINVAL, akm_do(&self->nl, msg, NULL, NULL));
}

/* CRED_ID alone: the provisioning ASR's key is derived in the kernel. */
TEST_F(cred, key_install_derived)
{
	struct akm_asr_info a;

	AKM_ASSERT_OK(&self->nl, cred_install(&self->nl, 2, self->c, AKM_KEY_LEN));
	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 15, AKM_ALG_HMAC_SHA256, "prov", -1));
	AKM_ASSERT_OK(&self->nl, install_wrapped(&self->nl, 15, 1, 2, NULL, 0));
	AKM_ASSERT_OK(&self->nl, akm_key_activate(&self->nl, 15, 1));
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 15, &a));
	ASSERT_EQ(1, a.nkeys);
	EXPECT_EQ(AKM_KEY_CURRENT, a.keys[0].state);
	AKM_EXPECT_ERR(&self->nl, -ENOENT, install_wrapped(&self->nl, 15, 2, 99, NULL, 0));
	/*
	 * A session epoch derived again would be the same key with its counter
	 * at 1: refused once retired, also with the credential installed anew.
	 */
	AKM_ASSERT_OK(&self->nl, akm_key_retire(&self->nl, 15, 1));
	AKM_EXPECT_ERR(&self->nl, -ESTALE, install_wrapped(&self->nl, 15, 1, 2, NULL, 0));
	AKM_ASSERT_OK(&self->nl, cred_id_cmd(&self->nl, AKM_CMD_CRED_DEL, 2, NULL));
	AKM_ASSERT_OK(&self->nl, cred_install(&self->nl, 2, self->c, AKM_KEY_LEN));
	AKM_EXPECT_ERR(&self->nl, -ESTALE, install_wrapped(&self->nl, 15, 1, 2, NULL, 0));
	AKM_EXPECT_OK(&self->nl, install_wrapped(&self->nl, 15, 2, 2, NULL, 0));
}

/* CRED_INSTALL and CRED_DEL are announced with the CRED_ID. */
TEST_F(cred, events)
{
	struct akm_nl ev;
	struct akm_event e;

	ASSERT_EQ(0, akm_events_open(&ev));
	AKM_ASSERT_OK(&self->nl, cred_install(&self->nl, 21, self->c, AKM_KEY_LEN));
	ASSERT_EQ(0, akm_event_next(&ev, &e, 2000));
	EXPECT_EQ(AKM_CMD_CRED_INSTALL, e.cmd);
	EXPECT_EQ(21, e.cred_id);
	EXPECT_FALSE(e.has_material);
	AKM_ASSERT_OK(&self->nl, cred_id_cmd(&self->nl, AKM_CMD_CRED_DEL, 21, NULL));
	ASSERT_EQ(0, akm_event_next(&ev, &e, 2000));
	EXPECT_EQ(AKM_CMD_CRED_DEL, e.cmd);
	EXPECT_EQ(21, e.cred_id);
	akm_nl_close(&ev);
}

/* Credentials belong to their network namespace. */
TEST_F(cred, per_netns)
{
	struct akm_nl other;
	struct cred_info ci;

	AKM_ASSERT_OK(&self->nl, cred_install(&self->nl, 3, self->c, AKM_KEY_LEN));
	ASSERT_EQ(0, akm_new_netns());
	ASSERT_EQ(0, akm_nl_open(&other));
	AKM_EXPECT_ERR(&other, -ENOENT, cred_id_cmd(&other, AKM_CMD_CRED_GET, 3, &ci));
	AKM_EXPECT_OK(&other, cred_install(&other, 3, self->c, AKM_KEY_LEN));
	akm_nl_close(&other);
}

/* AKM_CREDS_MAX per namespace; the next one is ENOSPC. */
TEST_F_TIMEOUT(cred, limit_enospc, 600)
{
	uint32_t i;

	for (i = 1; i <= AKM_CREDS_MAX; i++)
		AKM_ASSERT_OK(&self->nl, cred_install(&self->nl, i, self->c, AKM_KEY_LEN));
	AKM_EXPECT_ERR(&self->nl, -ENOSPC,
		       cred_install(&self->nl, AKM_CREDS_MAX + 1, self->c, AKM_KEY_LEN));
	AKM_ASSERT_OK(&self->nl, cred_id_cmd(&self->nl, AKM_CMD_CRED_DEL, 1, NULL));
	AKM_EXPECT_OK(&self->nl, cred_install(&self->nl, AKM_CREDS_MAX + 1, self->c, AKM_KEY_LEN));
}

TEST_HARNESS_MAIN
