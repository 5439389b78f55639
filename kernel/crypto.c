// SPDX-License-Identifier: GPL-2.0
/*
 * Per-packet tags.
 *
 * Each epoch's MAC key is derived from the epoch key, bound to the ASR id,
 * the epoch and the suite:
 *
 *   K_mac = HMAC-SHA256(K_epoch, "AKM v1 mac" || be32 asr || be32 epoch || u8 alg)
 *
 * and each packet's tag over the byte string M (struct akm_pseudo, then the
 * payload) is
 *
 *   hmac-sha256:       HMAC-SHA256(K_mac, M), first 16 bytes;
 *   chacha20-poly1305: the RFC 8439 AEAD tag of an empty plaintext with
 *                      associated data M, key K_mac and nonce
 *                      be32 sender || be64 seq, i.e. Poly1305 under a
 *                      one-time key from ChaCha20 block 0 of that nonce.
 *
 * Both run synchronously without allocation on the packet path: the HMAC
 * tfm is keyed once per epoch and is reentrant, the Poly1305 state lives on
 * the stack.
 */
#include <crypto/algapi.h>
#include <crypto/chacha.h>
#include <crypto/hash.h>
#include <crypto/poly1305.h>
#include <crypto/sha2.h>
#include <linux/skbuff.h>
#include <net/checksum.h>
#include <net/ipv6.h>

#include "akm.h"

#define AKM_KDF_LABEL "AKM v1 mac"

/* HMAC-SHA256(key, d1 || d2); process context (allocates a tfm). */
int akm_hmac_sha256(const u8 *key, unsigned int klen, const void *d1,
		    unsigned int l1, const void *d2, unsigned int l2, u8 *out)
{
	struct crypto_shash *tfm;
	int err;

	tfm = crypto_alloc_shash("hmac(sha256)", 0, 0);
	if (IS_ERR(tfm))
		return PTR_ERR(tfm);
	err = crypto_shash_setkey(tfm, key, klen);
	if (!err) {
		SHASH_DESC_ON_STACK(desc, tfm);

		desc->tfm = tfm;
		err = crypto_shash_init(desc) ?:
		      crypto_shash_update(desc, d1, l1) ?:
		      crypto_shash_update(desc, d2, l2) ?:
		      crypto_shash_final(desc, out);
		shash_desc_zero(desc);
	}
	crypto_free_shash(tfm);
	return err;
}

/* Derive an epoch's MAC key; process context (allocates the HMAC tfm). */
int akm_mac_init(struct akm_mac *mac, u8 alg, u32 asr_id, u32 epoch,
		 const u8 *key)
{
	struct crypto_shash *tfm = NULL;
	u8 info[9];
	int err, i;

	put_unaligned_be32(asr_id, info);
	put_unaligned_be32(epoch, info + 4);
	info[8] = alg;
	err = akm_hmac_sha256(key, AKM_KEY_LEN, AKM_KDF_LABEL,
			      strlen(AKM_KDF_LABEL), info, sizeof(info),
			      mac->key);
	if (!err && alg == AKM_ALG_HMAC_SHA256) {
		tfm = crypto_alloc_shash("hmac(sha256)", 0, 0);
		err = PTR_ERR_OR_ZERO(tfm);
		if (!err)
			err = crypto_shash_setkey(tfm, mac->key, AKM_KEY_LEN);
		if (err && !IS_ERR(tfm))
			crypto_free_shash(tfm);
	}
	if (err) {
		memzero_explicit(mac->key, sizeof(mac->key));
		return err;
	}
	mac->alg = alg;
	mac->hmac = tfm;
	for (i = 0; i < ARRAY_SIZE(mac->chacha_key); i++)
		mac->chacha_key[i] = get_unaligned_le32(mac->key + 4 * i);
	return 0;
}

void akm_mac_free(struct akm_mac *mac)
{
	crypto_free_shash(mac->hmac);
	memzero_explicit(mac, sizeof(*mac));
}

static void akm_tag_hmac(const struct akm_mac *mac, const struct akm_pseudo *ph,
			 struct sk_buff *skb, unsigned int off,
			 unsigned int len, __wsum *csum, u8 *out)
{
	SHASH_DESC_ON_STACK(desc, mac->hmac);
	struct skb_seq_state st;
	unsigned int n, done = 0;
	const u8 *data;

	desc->tfm = mac->hmac;
	crypto_shash_init(desc);
	crypto_shash_update(desc, (const u8 *)ph, AKM_PSEUDO_LEN);
	skb_prepare_seq_read(skb, off, off + len, &st);
	while ((n = skb_seq_read(done, &data, &st)) != 0) {
		crypto_shash_update(desc, data, n);
		if (csum)
			*csum = csum_block_add(*csum, csum_partial(data, n, 0),
					       done);
		done += n;
	}
	crypto_shash_final(desc, out);
	shash_desc_zero(desc);
}

static void akm_tag_poly(const struct akm_mac *mac, const struct akm_pseudo *ph,
			 struct sk_buff *skb, unsigned int off,
			 unsigned int len, u32 sender, u64 seq, __wsum *csum,
			 u8 *out)
{
	static const u8 zeros[POLY1305_BLOCK_SIZE];
	__le64 lens[2] = { cpu_to_le64(AKM_PSEUDO_LEN + len), 0 };
	u8 iv[CHACHA_IV_SIZE] = {}, otk[CHACHA_BLOCK_SIZE];
	struct poly1305_desc_ctx poly;
	struct skb_seq_state st;
	unsigned int n, done = 0;
	const u8 *data;
	u32 state[16];

	put_unaligned_be32(sender, iv + 4);
	put_unaligned_be64(seq, iv + 8);
	chacha_init(state, mac->chacha_key, iv);
	chacha20_block(state, otk);	/* the first 32 bytes are the key */
	poly1305_init(&poly, otk);

	poly1305_update(&poly, (const u8 *)ph, AKM_PSEUDO_LEN);
	skb_prepare_seq_read(skb, off, off + len, &st);
	while ((n = skb_seq_read(done, &data, &st)) != 0) {
		poly1305_update(&poly, data, n);
		if (csum)
			*csum = csum_block_add(*csum, csum_partial(data, n, 0),
					       done);
		done += n;
	}
	poly1305_update(&poly, zeros,
			-(AKM_PSEUDO_LEN + len) % POLY1305_BLOCK_SIZE);
	poly1305_update(&poly, (const u8 *)lens, sizeof(lens));
	poly1305_final(&poly, out);
	memzero_explicit(state, sizeof(state));
	memzero_explicit(otk, sizeof(otk));
}

/*
 * Tag the pseudo header and @len bytes of @skb from @off into @tag
 * (AKM_TAG_LEN bytes). With @csum, also add those bytes' Internet checksum
 * to it, in the same pass (the receiver's CHECKSUM_COMPLETE).
 */
void akm_mac_tag(const struct akm_mac *mac, const struct akm_pseudo *ph,
		 struct sk_buff *skb, unsigned int off, unsigned int len,
		 u32 sender, u64 seq, __wsum *csum, u8 *tag)
{
	u8 buf[SHA256_DIGEST_SIZE];

	if (mac->alg == AKM_ALG_HMAC_SHA256)
		akm_tag_hmac(mac, ph, skb, off, len, csum, buf);
	else
		akm_tag_poly(mac, ph, skb, off, len, sender, seq, csum, buf);
	memcpy(tag, buf, AKM_TAG_LEN);
	memzero_explicit(buf, sizeof(buf));
}

/*
 * Known answers: RFC 4231 test case 2 for HMAC-SHA256, then the KDF and
 * both suites' tags over a two-fragment packet, with values computed by
 * libsodium (crypto_auth_hmacsha256, crypto_aead_chacha20poly1305_ietf).
 */
static const u8 akm_kat_rfc4231[] = {
	0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e,
	0x6a, 0x04, 0x24, 0x26, 0x08, 0x95, 0x75, 0xc7,
	0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83,
	0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43,
};

/* K_epoch = 0x42 * 32, ASR 1, epoch 2, hmac-sha256 */
static const u8 akm_kat_kdf[] = {
	0x2b, 0xae, 0xba, 0xa7, 0xdd, 0xd9, 0x16, 0x90,
	0x92, 0x81, 0xaa, 0xf1, 0xe3, 0x63, 0xda, 0x65,
	0xb3, 0x41, 0x92, 0x42, 0xab, 0x81, 0x83, 0x7f,
	0xd2, 0x5f, 0xff, 0x24, 0xd7, 0x8b, 0x50, 0x85,
};

/* K_mac = 00 01 .. 1f; 10.0.0.1 -> 10.0.0.2, UDP, ASR 1, epoch 1, sender 1,
 * seq 1, payload "payload"
 */
static const u8 akm_kat_hmac_tag[AKM_TAG_LEN] = {
	0xaa, 0x8e, 0xe2, 0x41, 0x3e, 0x96, 0x6d, 0xc2,
	0x3a, 0x77, 0x67, 0x8c, 0xef, 0x05, 0x31, 0x90,
};

static const u8 akm_kat_poly_tag[AKM_TAG_LEN] = {
	0xcc, 0xe8, 0xb1, 0x91, 0x1e, 0xc0, 0x7b, 0x8c,
	0x67, 0x9d, 0x1f, 0x94, 0x0f, 0x6a, 0xa1, 0x3f,
};

static int akm_kat_tag(u8 alg, const u8 *expect)
{
	static const u8 hdr[AKM_HLEN_NOTAG] = {
		17, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1,
	};
	struct akm_pseudo ph = {
		.seq_hi = 0,
		.len = htonl(7),
	};
	struct akm_mac mac = { .alg = alg };
	struct sk_buff *skb;
	struct page *page;
	u8 tag[AKM_TAG_LEN];
	int i, err;

	for (i = 0; i < AKM_KEY_LEN; i++)
		mac.key[i] = i;
	for (i = 0; i < ARRAY_SIZE(mac.chacha_key); i++)
		mac.chacha_key[i] = get_unaligned_le32(mac.key + 4 * i);
	ipv6_addr_set_v4mapped(htonl(0x0a000001), (struct in6_addr *)ph.saddr);
	ipv6_addr_set_v4mapped(htonl(0x0a000002), (struct in6_addr *)ph.daddr);
	memcpy(ph.hdr, hdr, sizeof(hdr));

	if (alg == AKM_ALG_HMAC_SHA256) {
		mac.hmac = crypto_alloc_shash("hmac(sha256)", 0, 0);
		if (IS_ERR(mac.hmac))
			return PTR_ERR(mac.hmac);
		err = crypto_shash_setkey(mac.hmac, mac.key, AKM_KEY_LEN);
		if (err)
			goto out;
	}

	/* "pay" in the linear part, "load" in a page fragment */
	err = -ENOMEM;
	skb = alloc_skb(16, GFP_KERNEL);
	page = alloc_page(GFP_KERNEL);
	if (!skb || !page) {
		kfree_skb(skb);
		if (page)
			__free_page(page);
		goto out;
	}
	skb_put_data(skb, "pay", 3);
	memcpy(page_address(page), "load", 4);
	skb_add_rx_frag(skb, 0, page, 0, 4, PAGE_SIZE);

	akm_mac_tag(&mac, &ph, skb, 0, skb->len, 1, 1, NULL, tag);
	kfree_skb(skb);
	err = crypto_memneq(tag, expect, AKM_TAG_LEN) ? -EBADMSG : 0;
out:
	akm_mac_free(&mac);
	return err;
}

int __init akm_crypto_selftest(void)
{
	static const char data[] = "what do ya want for nothing?";
	struct akm_mac mac;
	u8 key[AKM_KEY_LEN], out[SHA256_DIGEST_SIZE];
	int err;

	err = akm_hmac_sha256("Jefe", 4, data, sizeof(data) - 1, NULL, 0, out);
	if (!err && crypto_memneq(out, akm_kat_rfc4231, sizeof(out)))
		err = -EBADMSG;
	if (err)
		goto fail;

	memset(key, 0x42, sizeof(key));
	err = akm_mac_init(&mac, AKM_ALG_HMAC_SHA256, 1, 2, key);
	if (err)
		goto fail;
	if (crypto_memneq(mac.key, akm_kat_kdf, sizeof(akm_kat_kdf)))
		err = -EBADMSG;
	akm_mac_free(&mac);

	err = err ?: akm_kat_tag(AKM_ALG_HMAC_SHA256, akm_kat_hmac_tag);
	err = err ?: akm_kat_tag(AKM_ALG_CHACHA20_POLY1305, akm_kat_poly_tag);
	if (!err)
		return 0;
fail:
	pr_err("akm: crypto self-test failed (%d)\n", err);
	return err ? err : -EBADMSG;
}
