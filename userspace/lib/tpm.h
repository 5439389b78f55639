/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Sealing a small secret to a TPM 2.0 (tpm2-tss ESAPI): the secret becomes
 * a sealed-data object under a primary storage key of the owner hierarchy,
 * re-created from the TPM's own seed whenever it is needed. The blob
 * (public and encrypted private part) only loads on the TPM that made it.
 *
 * The TPM is reached through a TCTI named by $AKM_TPM_TCTI, else
 * $TPM2TOOLS_TCTI, else $TCTI (for example "swtpm:host=127.0.0.1,port=2321"
 * or "device:/dev/tpmrm0"), else the tss2 default (tabrmd, /dev/tpmrm0,
 * /dev/tpm0). The owner hierarchy must have an empty password. Commands and
 * responses that carry the secret are encrypted on the bus by a salted
 * session.
 */
#ifndef AKM_TPM_H
#define AKM_TPM_H

#include <stddef.h>
#include <stdint.h>

#define AKM_TPM_SECRET_MAX	128

/* Seal len bytes; *blob (malloc) holds the result. -errno, msg explains. */
int akm_tpm_seal(const uint8_t *secret, size_t len, uint8_t **blob, size_t *blob_len,
		 char *msg, size_t msglen);
/* Unseal a blob into secret, which must hold exactly len bytes. */
int akm_tpm_unseal(const uint8_t *blob, size_t blob_len, uint8_t *secret, size_t len,
		   char *msg, size_t msglen);

#endif /* AKM_TPM_H */
