// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * TPM sealing against real (software) TPMs: tpm_unit, run by
 * tests/nmm/agent_tpm.sh with $AKM_TPM_TCTI naming one swtpm and
 * $AKM_TPM_TCTI_OTHER another. TAP lines like the other unit tests.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "tpm.h"

int tap_failed;

int main(void)
{
	static const uint8_t secret[32] = "0123456789abcdef0123456789abcde";
	const char *other = getenv("AKM_TPM_TCTI_OTHER");
	uint8_t out[32], *blob = NULL;
	size_t blob_len = 0;
	char msg[256] = "";
	int err;

	setvbuf(stdout, NULL, _IOLBF, 0);
	err = akm_tpm_seal(secret, sizeof(secret), &blob, &blob_len, msg, sizeof(msg));
	if (!ok(!err, "tpm: seal")) {
		printf("#   %s\n", msg);
		return 1;
	}
	ok(blob_len > 100 && !memmem(blob, blob_len, secret, 8), "tpm: blob holds no clear text");
	err = akm_tpm_unseal(blob, blob_len, out, sizeof(out), msg, sizeof(msg));
	if (!ok(!err && !memcmp(out, secret, sizeof(out)), "tpm: unseal gives the secret"))
		printf("#   %d %s\n", err, msg);
	is_int(akm_tpm_unseal(blob, blob_len, out, 16, msg, sizeof(msg)), -EBADMSG,
	       "tpm: wrong expected length refused");
	is_int(akm_tpm_unseal(blob, blob_len - 1, out, sizeof(out), msg, sizeof(msg)), -EBADMSG,
	       "tpm: truncated blob refused");
	blob[blob_len - 5] ^= 1;	/* inside the encrypted private part */
	err = akm_tpm_unseal(blob, blob_len, out, sizeof(out), msg, sizeof(msg));
	ok(err == -EACCES || err == -EIO, "tpm: modified blob refused");
	blob[blob_len - 5] ^= 1;
	if (other) {
		setenv("AKM_TPM_TCTI", other, 1);
		is_int(akm_tpm_unseal(blob, blob_len, out, sizeof(out), msg, sizeof(msg)),
		       -EACCES, "tpm: another TPM cannot unseal");
		ok(strstr(msg, "does not load on this TPM"), "tpm: another TPM: message");
	}
	setenv("AKM_TPM_TCTI", "swtpm:host=127.0.0.1,port=1", 1);
	ok(akm_tpm_unseal(blob, blob_len, out, sizeof(out), msg, sizeof(msg)) < 0,
	   "tpm: unreachable TPM fails");
	free(blob);
	return tap_failed ? 1 : 0;
}
