/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Secrets at rest (the master key, sealing) and the key derivation and
 * wrapping of Documentation/protocol.md, for the daemons that hold
 * credentials: akm-nmmd and akm-rootd. libsodium; functions returning int
 * return 0 or a negative errno.
 */
#ifndef AKM_SECRET_H
#define AKM_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libakm.h"

#define AKM_MASTER_LEN		32
#define AKM_SEALED_LEN(len)	(24 + (len) + 16)

struct akm_master {
	const char *dir;		/* master.key or master.tpm.{pub,priv} */
	bool tpm;			/* sealed to the TPM (tpm2-tools) */
	bool no_tpm;			/* the daemon has no --tpm */
	bool has_secrets;		/* the store holds sealed secrets: never make a new key */
	const char *store;		/* the store, for messages */
	void (*log)(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
	uint8_t *key;			/* AKM_MASTER_LEN, guarded; after akm_master_load() */
};

void *akm_secure_alloc(size_t len);	/* locked, guarded, wiped on akm_secure_free() */
void akm_secure_free(void *p);

/* Load the master key of m->dir, or make one for a store without secrets. */
int akm_master_load(struct akm_master *m);
void akm_master_free(struct akm_master *m);
/* Encrypt len bytes into AKM_SEALED_LEN(len) bytes, bound to the text ad. */
void akm_seal(const struct akm_master *m, const char *ad, const uint8_t *in, size_t len,
	      uint8_t *out);
int akm_unseal(const struct akm_master *m, const char *ad, const uint8_t *in, size_t inlen,
	       uint8_t *out, size_t outlen);		/* -EBADMSG: not sealed so */

/* HMAC-SHA256(c, label) */
void akm_kdf(const uint8_t c[32], const char *label, uint8_t out[32]);
/* nonce || XChaCha20-Poly1305(K_wrap(c), key, ad) as protocol.md; 0 or -ENOMEM */
int akm_wrap_key(const uint8_t c[32], const uint8_t key[32], uint32_t asr, uint32_t epoch,
		 uint8_t alg, const uint32_t *ids, unsigned int n, uint8_t out[AKM_WRAPPED_LEN]);
/* ... and back into key (32 bytes); -EBADMSG: not wrapped so, -ENOMEM */
int akm_unwrap_key(const uint8_t c[32], const uint8_t in[AKM_WRAPPED_LEN], uint32_t asr,
		   uint32_t epoch, uint8_t alg, const uint32_t *ids, unsigned int n,
		   uint8_t key[32]);
/*
 * A node's credential for its site's NMM (root.md): nonce ||
 * XChaCha20-Poly1305(K_wrap(c), cred, "AKM v1 node" || be32 site || be32 node)
 */
void akm_wrap_cred(const uint8_t c[32], const uint8_t cred[32], uint32_t site, uint32_t node,
		   uint8_t out[AKM_WRAPPED_LEN]);
int akm_unwrap_cred(const uint8_t c[32], const uint8_t in[AKM_WRAPPED_LEN], uint32_t site,
		    uint32_t node, uint8_t cred[32]);
/*
 * Which node a site's REMOVE is of (root.md, "Autonomy"):
 * HMAC-SHA256(C_node, "AKM v1 remove" || be32 site || be32 node)
 */
void akm_remove_tag(const uint8_t cred[32], uint32_t site, uint32_t node, uint8_t out[32]);

#endif /* AKM_SECRET_H */
