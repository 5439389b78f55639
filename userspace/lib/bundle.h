/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Credential bundles (Documentation/protocol.md, "Step 1–2"): the file the
 * NMM exports for one node and the node agent imports, and the one-time
 * transfer code that opens it. Needs libsodium.
 *
 * Functions return 0 or a negative errno; where they take msg, they leave a
 * one-line explanation for the operator in it on failure.
 */
#ifndef AKM_BUNDLE_H
#define AKM_BUNDLE_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#define AKM_BUNDLE_LEN		164
#define AKM_BUNDLE_VERSION	1
#define AKM_CRED_LEN		32	/* the provisioning credential C */
#define AKM_CODE_LEN		20	/* characters of a transfer code */
#define AKM_CODE_BYTES		12	/* random bytes behind them */
#define AKM_CODE_INPUT_MAX	256	/* characters read for one, spaces and dashes included */
#define AKM_NMM_PORT		4790	/* default TCP port of the NMM */

struct akm_bundle {
	uint32_t node_id;
	uint32_t nmm_id;
	struct in6_addr nmm_addr;	/* IPv4 as ::ffff:a.b.c.d */
	uint16_t nmm_port;
	uint64_t created;		/* seconds since 1970 (UTC) */
};

/* A fresh transfer code: 20 characters of RFC 4648 base32, upper case. */
int akm_code_new(char code[AKM_CODE_LEN + 1]);
/*
 * The canonical form of a code typed by a person: upper case, without the
 * spaces and dashes that may group it. -EINVAL if it is not a code.
 */
int akm_code_normalize(const char *in, char out[AKM_CODE_LEN + 1]);

/*
 * Read a transfer code from fd and put its canonical form in out: one line,
 * a trailing newline dropped, at most AKM_CODE_INPUT_MAX characters. Reads
 * to the end of the file, or of the first line if fd is a terminal. The raw
 * input is only ever in a locked buffer, wiped before return. -ENODATA for
 * an empty input, -EINVAL if it is not one line holding a code, -errno if
 * fd cannot be read.
 */
int akm_code_read(int fd, char out[AKM_CODE_LEN + 1], char *msg, size_t msglen);
/*
 * The transfer code for the bundle file: from code_file ("-": standard
 * input), else standard input; from a terminal, asked for without echo
 * (the terminal is always restored). option: how to name a code file in
 * the message that asks for one.
 */
int akm_code_get(const char *code_file, const char *file, const char *option,
		 char code[AKM_CODE_LEN + 1], char *msg, size_t msglen);

/* Encrypt cred into a bundle opened by code (canonical form). */
int akm_bundle_seal(const struct akm_bundle *b, const uint8_t cred[AKM_CRED_LEN],
		    const char *code, uint8_t out[AKM_BUNDLE_LEN]);
/*
 * Check and decrypt a bundle, in the order of the protocol: size, magic,
 * version, SHA-256, code, AEAD. cred is wiped on failure. Errors: -EINVAL
 * (size, magic, code format), -EPROTONOSUPPORT (version), -EBADMSG (hash),
 * -EACCES (wrong code or modified), -ENOMEM.
 */
int akm_bundle_open(const uint8_t *buf, size_t len, const char *code,
		    struct akm_bundle *b, uint8_t cred[AKM_CRED_LEN],
		    char *msg, size_t msglen);

/* A bundle for cred sealed with a new code. */
int akm_bundle_make(const struct akm_bundle *b, const uint8_t cred[AKM_CRED_LEN],
		    char code[AKM_CODE_LEN + 1], uint8_t buf[AKM_BUNDLE_LEN], char *msg,
		    size_t msglen);

/* The same, written to path (mode 0600). */
int akm_bundle_export(const char *path, const struct akm_bundle *b,
		      const uint8_t cred[AKM_CRED_LEN], char code[AKM_CODE_LEN + 1],
		      char *msg, size_t msglen);
/* Read and open the bundle at path (import). */
int akm_bundle_import(const char *path, const char *code, struct akm_bundle *b,
		      uint8_t cred[AKM_CRED_LEN], char *msg, size_t msglen);

#endif /* AKM_BUNDLE_H */
