// SPDX-License-Identifier: GPL-2.0
/*
 * Provisioning credentials: a 256-bit secret shared with one peer, kept in
 * the namespace keyring as "cred:<peer node id>". User space never gets it
 * back; it asks the kernel to use it:
 *
 *   proof:  HMAC-SHA256(HMAC-SHA256(C, "AKM v1 auth"), data)
 *   unwrap: XChaCha20-Poly1305 open of nonce(24) || ciphertext(32) || tag(16)
 *           under HMAC-SHA256(C, "AKM v1 wrap"), with associated data
 *           "AKM v1 wrap" || be32 asr || be32 epoch || u8 alg ||
 *           be32 n || be32 node id * n (the ASR's members that are not
 *           revoked, ascending), so a wrapped key only installs into the
 *           ASR, epoch and member set it was made for;
 *   derive: HMAC-SHA256(C, "AKM v1 prov" || be32 asr || be32 epoch), the
 *           epoch key of the two-member provisioning ASR.
 */
#include <crypto/algapi.h>
#include <crypto/chacha20poly1305.h>
#include <crypto/sha2.h>
#include <linux/slab.h>

#include "akm.h"

#define AKM_LABEL_AUTH "AKM v1 auth"
#define AKM_LABEL_WRAP "AKM v1 wrap"
#define AKM_LABEL_PROV "AKM v1 prov"

struct akm_cred *akm_cred_find(struct akm_net *an, u32 id)
{
	struct akm_cred *c;

	list_for_each_entry(c, &an->creds, list)
		if (c->id == id)
			return c;
	return NULL;
}

int akm_cred_install(struct akm_net *an, u32 id, const u8 *material,
		     struct netlink_ext_ack *extack)
{
	char desc[AKM_KEY_DESC_LEN];
	struct akm_cred *c, *pos;

	if (akm_cred_find(an, id)) {
		NL_SET_ERR_MSG_MOD(extack, "credential already installed");
		return -EEXIST;
	}
	if (an->n_creds >= AKM_CREDS_MAX) {
		NL_SET_ERR_MSG_MOD(extack, "too many credentials in this namespace");
		return -ENOSPC;
	}
	c = kzalloc(sizeof(*c), GFP_KERNEL_ACCOUNT);
	if (!c)
		return -ENOMEM;
	snprintf(desc, sizeof(desc), "cred:%u", id);
	c->key = akm_key_add(an, desc, material, 0, &c->serial, extack);
	if (IS_ERR(c->key)) {
		int err = PTR_ERR(c->key);

		kfree(c);
		return err;
	}
	c->id = id;
	list_for_each_entry(pos, &an->creds, list)
		if (pos->id > id)
			break;
	list_add_tail(&c->list, &pos->list);
	an->n_creds++;
	return 0;
}

void akm_cred_del(struct akm_net *an, struct akm_cred *c)
{
	char desc[AKM_KEY_DESC_LEN];

	snprintf(desc, sizeof(desc), "cred:%u", c->id);
	akm_key_drop(an, desc);
	akm_key_put(c->key);
	list_del(&c->list);
	an->n_creds--;
	kfree(c);
}

void akm_cred_flush(struct akm_net *an)
{
	struct akm_cred *c, *tmp;

	list_for_each_entry_safe(c, tmp, &an->creds, list)
		akm_cred_del(an, c);
}

/* HMAC-SHA256(C, label || be32 a || be32 b) into @out (32 bytes) */
static int akm_cred_kdf(const struct akm_cred *c, const char *label,
			u32 a, u32 b, bool with_ids, u8 *out)
{
	u8 ids[8];

	put_unaligned_be32(a, ids);
	put_unaligned_be32(b, ids + 4);
	return akm_hmac_sha256(c->key->material, AKM_KEY_LEN, label,
			       strlen(label), ids, with_ids ? sizeof(ids) : 0,
			       out);
}

int akm_cred_prove(const struct akm_cred *c, const u8 *data, unsigned int len,
		   u8 *proof)
{
	u8 k[SHA256_DIGEST_SIZE];
	int err;

	err = akm_cred_kdf(c, AKM_LABEL_AUTH, 0, 0, false, k);
	if (!err)
		err = akm_hmac_sha256(k, sizeof(k), data, len, NULL, 0, proof);
	memzero_explicit(k, sizeof(k));
	return err;
}

int akm_cred_derive(const struct akm_cred *c, u32 asr_id, u32 epoch, u8 *key)
{
	return akm_cred_kdf(c, AKM_LABEL_PROV, asr_id, epoch, true, key);
}

/* Caller holds an->lock (the member list is part of the associated data). */
int akm_cred_unwrap(const struct akm_cred *c, const struct akm_asr *asr,
		    u32 epoch, const u8 *wrapped, u8 *key)
{
	size_t lablen = strlen(AKM_LABEL_WRAP);
	const struct akm_member *m;
	u8 k[SHA256_DIGEST_SIZE];
	unsigned int n = 0;
	u8 *ad, *p;
	size_t adlen;
	int err;

	adlen = lablen + 4 + 4 + 1 + 4 + 4 * asr->n_members;
	ad = kmalloc(adlen, GFP_KERNEL);
	if (!ad)
		return -ENOMEM;
	memcpy(ad, AKM_LABEL_WRAP, lablen);
	p = ad + lablen;
	put_unaligned_be32(asr->id, p);
	put_unaligned_be32(epoch, p + 4);
	p[8] = asr->alg;
	p += 13;
	list_for_each_entry(m, &asr->members, list) {
		if (m->state == AKM_MEMBER_REVOKED)
			continue;
		put_unaligned_be32(m->node_id, p);
		p += 4;
		n++;
	}
	put_unaligned_be32(n, ad + lablen + 9);
	adlen = p - ad;

	err = akm_cred_kdf(c, AKM_LABEL_WRAP, 0, 0, false, k);
	if (!err &&
	    !xchacha20poly1305_decrypt(key, wrapped + XCHACHA20POLY1305_NONCE_SIZE,
				       AKM_KEY_LEN + CHACHA20POLY1305_AUTHTAG_SIZE,
				       ad, adlen, wrapped, k))
		err = -EBADMSG;
	memzero_explicit(k, sizeof(k));
	kfree(ad);
	return err;
}
