// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * TPM 2.0 sealing with the tpm2-tss ESAPI. Blob layout (big endian):
 *
 *   "AKMT" | u8 version 1 | 3 zero | be16 n | TPM2B_PUBLIC (n bytes)
 *          | be16 m | TPM2B_PRIVATE (m bytes)
 *
 * The parent is the ECC P-256 storage key of the TCG provisioning guidance
 * ("SRK" template, empty unique), created on demand in the owner hierarchy:
 * the same TPM always re-creates the same key, another TPM cannot.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "tpm.h"

#define BLOB_HDR	8
#define BLOB_VERSION	1

struct tpm {
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *ctx;
	ESYS_TR primary, session;
	char *msg;
	size_t msglen;
};

static void set_msg(struct tpm *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_msg(struct tpm *t, const char *fmt, ...)
{
	va_list ap;

	if (!t->msg || !t->msglen)
		return;
	va_start(ap, fmt);
	vsnprintf(t->msg, t->msglen, fmt, ap);
	va_end(ap);
}

/* Report a failed TSS call; every TSS failure maps to -EIO. */
static int tss_fail(struct tpm *t, const char *what, TSS2_RC rc)
{
	set_msg(t, "TPM: %s failed: %s", what, Tss2_RC_Decode(rc));
	return -EIO;
}

static const char *tcti_conf(void)
{
	static const char *const vars[] = { "AKM_TPM_TCTI", "TPM2TOOLS_TCTI", "TCTI" };
	size_t i;

	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = getenv(vars[i]);

		if (v && *v)
			return v;
	}
	return NULL;
}

static void tpm_close(struct tpm *t)
{
	if (t->ctx) {
		if (t->session != ESYS_TR_NONE)
			Esys_FlushContext(t->ctx, t->session);
		if (t->primary != ESYS_TR_NONE)
			Esys_FlushContext(t->ctx, t->primary);
		Esys_Finalize(&t->ctx);
	}
	if (t->tcti)
		Tss2_TctiLdr_Finalize(&t->tcti);
}

/* Connect, make the primary key and a salted session that encrypts parameters. */
static int tpm_open(struct tpm *t)
{
	static const TPM2B_SENSITIVE_CREATE no_auth;
	static const TPM2B_DATA no_data;
	static const TPML_PCR_SELECTION no_pcrs;
	static const TPMT_SYM_DEF sym = {
		.algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB,
	};
	TPM2B_PUBLIC srk = {
		.publicArea = {
			.type = TPM2_ALG_ECC,
			.nameAlg = TPM2_ALG_SHA256,
			.objectAttributes = TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED |
				TPMA_OBJECT_DECRYPT | TPMA_OBJECT_FIXEDTPM |
				TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
				TPMA_OBJECT_NODA,
			.parameters.eccDetail = {
				.symmetric = {
					.algorithm = TPM2_ALG_AES,
					.keyBits.aes = 128,
					.mode.aes = TPM2_ALG_CFB,
				},
				.scheme.scheme = TPM2_ALG_NULL,
				.curveID = TPM2_ECC_NIST_P256,
				.kdf.scheme = TPM2_ALG_NULL,
			},
			.unique.ecc = { .x.size = 32, .y.size = 32 },
		},
	};
	const char *conf = tcti_conf();
	TSS2_RC rc;

	t->primary = t->session = ESYS_TR_NONE;
	rc = Tss2_TctiLdr_Initialize(conf, &t->tcti);
	if (rc != TSS2_RC_SUCCESS) {
		set_msg(t, "TPM: cannot reach the TPM through %s%s%s: %s",
			conf ? "TCTI '" : "the default TCTI", conf ? conf : "", conf ? "'" : "",
			Tss2_RC_Decode(rc));
		return -ENODEV;
	}
	rc = Esys_Initialize(&t->ctx, t->tcti, NULL);
	if (rc != TSS2_RC_SUCCESS)
		return tss_fail(t, "Esys_Initialize", rc);
	rc = Esys_Startup(t->ctx, TPM2_SU_CLEAR);
	if (rc != TSS2_RC_SUCCESS && rc != TPM2_RC_INITIALIZE)
		return tss_fail(t, "Startup", rc);
	rc = Esys_CreatePrimary(t->ctx, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				ESYS_TR_NONE, &no_auth, &srk, &no_data, &no_pcrs, &t->primary,
				NULL, NULL, NULL, NULL);
	if (rc != TSS2_RC_SUCCESS)
		return tss_fail(t, "creating the storage key (owner password set?)", rc);
	rc = Esys_StartAuthSession(t->ctx, t->primary, ESYS_TR_NONE, ESYS_TR_NONE,
				   ESYS_TR_NONE, ESYS_TR_NONE, NULL, TPM2_SE_HMAC, &sym,
				   TPM2_ALG_SHA256, &t->session);
	if (rc != TSS2_RC_SUCCESS)
		return tss_fail(t, "starting a session", rc);
	rc = Esys_TRSess_SetAttributes(t->ctx, t->session,
				       TPMA_SESSION_DECRYPT | TPMA_SESSION_ENCRYPT |
				       TPMA_SESSION_CONTINUESESSION, 0xff);
	if (rc != TSS2_RC_SUCCESS)
		return tss_fail(t, "setting session attributes", rc);
	return 0;
}

static void put16(uint8_t *p, size_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static size_t get16(const uint8_t *p)
{
	return (size_t)p[0] << 8 | p[1];
}

int akm_tpm_seal(const uint8_t *secret, size_t len, uint8_t **blob, size_t *blob_len,
		 char *msg, size_t msglen)
{
	static const TPM2B_DATA no_data;
	static const TPML_PCR_SELECTION no_pcrs;
	TPM2B_PUBLIC tmpl = {
		.publicArea = {
			.type = TPM2_ALG_KEYEDHASH,
			.nameAlg = TPM2_ALG_SHA256,
			.objectAttributes = TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_FIXEDTPM |
				TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_NODA,
			.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL,
		},
	};
	struct tpm t = { .msg = msg, .msglen = msglen };
	TPM2B_SENSITIVE_CREATE in = { 0 };
	TPM2B_PRIVATE *priv = NULL;
	TPM2B_PUBLIC *pub = NULL;
	uint8_t *out = NULL;
	size_t pub_len = 0, priv_len = 0;
	TSS2_RC rc;
	int err;

	if (!len || len > AKM_TPM_SECRET_MAX || len > sizeof(in.sensitive.data.buffer)) {
		set_msg(&t, "TPM: cannot seal %zu bytes", len);
		return -EINVAL;
	}
	err = tpm_open(&t);
	if (err)
		goto out;
	in.sensitive.data.size = len;
	memcpy(in.sensitive.data.buffer, secret, len);
	rc = Esys_Create(t.ctx, t.primary, t.session, ESYS_TR_NONE, ESYS_TR_NONE, &in, &tmpl,
			 &no_data, &no_pcrs, &priv, &pub, NULL, NULL, NULL);
	explicit_bzero(&in, sizeof(in));
	if (rc != TSS2_RC_SUCCESS) {
		err = tss_fail(&t, "sealing", rc);
		goto out;
	}
	out = malloc(BLOB_HDR + 2 + sizeof(*pub) + 2 + sizeof(*priv));
	if (!out) {
		err = -ENOMEM;
		goto out;
	}
	memcpy(out, "AKMT\x01\0\0\0", BLOB_HDR);
	rc = Tss2_MU_TPM2B_PUBLIC_Marshal(pub, out + BLOB_HDR + 2, sizeof(*pub), &pub_len);
	if (rc == TSS2_RC_SUCCESS) {
		put16(out + BLOB_HDR, pub_len);
		rc = Tss2_MU_TPM2B_PRIVATE_Marshal(priv, out + BLOB_HDR + 4 + pub_len,
						   sizeof(*priv), &priv_len);
		put16(out + BLOB_HDR + 2 + pub_len, priv_len);
	}
	if (rc != TSS2_RC_SUCCESS) {
		err = tss_fail(&t, "encoding the sealed object", rc);
		free(out);
		goto out;
	}
	*blob = out;
	*blob_len = BLOB_HDR + 4 + pub_len + priv_len;
out:
	Esys_Free(priv);
	Esys_Free(pub);
	tpm_close(&t);
	return err;
}

/* Split a blob into its public and private parts. */
static int blob_parse(struct tpm *t, const uint8_t *blob, size_t blob_len,
		      TPM2B_PUBLIC *pub, TPM2B_PRIVATE *priv)
{
	size_t n, m, off = 0;

	if (blob_len < BLOB_HDR + 2 || memcmp(blob, "AKMT", 4) || blob[4] != BLOB_VERSION)
		goto bad;
	n = get16(blob + BLOB_HDR);
	if (blob_len < BLOB_HDR + 4 + n)
		goto bad;
	m = get16(blob + BLOB_HDR + 2 + n);
	if (blob_len != BLOB_HDR + 4 + n + m)
		goto bad;
	if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(blob + BLOB_HDR + 2, n, &off, pub) ||
	    off != n)
		goto bad;
	off = 0;
	if (Tss2_MU_TPM2B_PRIVATE_Unmarshal(blob + BLOB_HDR + 4 + n, m, &off, priv) ||
	    off != m)
		goto bad;
	return 0;
bad:
	set_msg(t, "TPM: the sealed credential is damaged (not a version %d blob)",
		BLOB_VERSION);
	return -EBADMSG;
}

int akm_tpm_unseal(const uint8_t *blob, size_t blob_len, uint8_t *secret, size_t len,
		   char *msg, size_t msglen)
{
	struct tpm t = { .msg = msg, .msglen = msglen };
	TPM2B_SENSITIVE_DATA *data = NULL;
	ESYS_TR obj = ESYS_TR_NONE;
	TPM2B_PRIVATE priv = { 0 };
	TPM2B_PUBLIC pub = { 0 };
	TSS2_RC rc;
	int err;

	t.primary = t.session = ESYS_TR_NONE;
	err = blob_parse(&t, blob, blob_len, &pub, &priv);
	if (!err)
		err = tpm_open(&t);
	if (err)
		goto out;
	rc = Esys_Load(t.ctx, t.primary, t.session, ESYS_TR_NONE, ESYS_TR_NONE, &priv, &pub,
		       &obj);
	if (rc != TSS2_RC_SUCCESS) {
		set_msg(&t, "TPM: the sealed credential does not load on this TPM "
			"(sealed on another one, or the TPM was cleared): %s", Tss2_RC_Decode(rc));
		err = -EACCES;
		goto out;
	}
	rc = Esys_Unseal(t.ctx, obj, t.session, ESYS_TR_NONE, ESYS_TR_NONE, &data);
	if (rc != TSS2_RC_SUCCESS) {
		err = tss_fail(&t, "unsealing", rc);
		goto out;
	}
	if (data->size != len) {
		set_msg(&t, "TPM: the sealed secret has %u bytes, expected %zu", data->size, len);
		err = -EBADMSG;
	} else {
		memcpy(secret, data->buffer, len);
	}
	explicit_bzero(data, sizeof(*data));
out:
	Esys_Free(data);
	if (obj != ESYS_TR_NONE)
		Esys_FlushContext(t.ctx, obj);
	tpm_close(&t);
	return err;
}
