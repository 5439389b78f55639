// SPDX-License-Identifier: GPL-2.0 OR MIT
/* akmctl key: install, activate, retire and show the epochs of ASR keys. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "akmctl.h"

void key_usage(FILE *f)
{
	fputs("Usage: akmctl key install asr ASR_ID epoch EPOCH file PATH\n"
	      "       akmctl key install asr ASR_ID epoch EPOCH cred CRED_ID [wrapped PATH]\n"
	      "       akmctl key activate asr ASR_ID epoch EPOCH\n"
	      "       akmctl key retire asr ASR_ID epoch EPOCH\n"
	      "       akmctl key [show [asr ASR_ID]]\n"
	      "'file': PATH holds the key, 32 raw bytes or 64 hex digits and an optional\n"
	      "newline; '-' reads standard input. 'cred' with 'wrapped': PATH holds the key\n"
	      "wrapped under the credential (72 bytes or 144 hex digits), unwrapped in the\n"
	      "kernel. 'cred' alone: the provisioning ASR's key, derived from the\n"
	      "credential. Keys are never shown.\n", f);
}

struct key_args {
	uint32_t asr_id, epoch, cred_id;
	const char *file, *wrapped;
};

/* asr ASR_ID epoch EPOCH, and for "install" (install set) its sources. */
static void parse_key(struct cmdline *c, struct key_args *k, bool install)
{
	const char *w;

	memset(k, 0, sizeof(*k));
	while ((w = arg_next(c))) {
		if (!strcmp(w, "asr"))
			arg_id(c, w, &k->asr_id);
		else if (!strcmp(w, "epoch"))
			arg_id(c, w, &k->epoch);
		else if (!strcmp(w, "file") && install)
			arg_file(c, w, &k->file);
		else if (!strcmp(w, "cred") && install)
			arg_id(c, w, &k->cred_id);
		else if (!strcmp(w, "wrapped") && install)
			arg_file(c, w, &k->wrapped);
		else
			unknown_word(c, w);
	}
	arg_require(c, "asr", k->asr_id);
	arg_require(c, "epoch", k->epoch);
	if (!install)
		return;
	if (!k->file == !k->cred_id)
		usage_error(c, "give either 'file' or 'cred'");
	if (k->wrapped && !k->cred_id)
		usage_error(c, "'wrapped' needs 'cred'");
}

static int key_install(struct cmdline *c)
{
	uint8_t secret[AKM_SECRET_MAX];
	struct akm_sock *s;
	struct key_args k;
	int err, ret;

	parse_key(c, &k, true);
	if ((k.file && read_secret(k.file, secret, AKM_KEY_LEN)) ||
	    (k.wrapped && read_secret(k.wrapped, secret, AKM_WRAPPED_LEN)))
		return 1;
	ret = 1;
	s = akmctl_sock();
	if (s) {
		if (k.file)
			err = akm_key_install(s, k.asr_id, k.epoch, secret);
		else if (k.wrapped)
			err = akm_key_install_wrapped(s, k.asr_id, k.epoch, k.cred_id, secret);
		else
			err = akm_key_install_cred(s, k.asr_id, k.epoch, k.cred_id);
		ret = report(err, "key install");
	}
	explicit_bzero(secret, sizeof(secret));
	return ret;
}

static int key_activate(struct cmdline *c)
{
	struct akm_sock *s;
	struct key_args k;

	parse_key(c, &k, false);
	s = akmctl_sock();
	return s ? report(akm_key_activate(s, k.asr_id, k.epoch), "key activate") : 1;
}

static int key_retire(struct cmdline *c)
{
	struct akm_sock *s;
	struct key_args k;

	parse_key(c, &k, false);
	s = akmctl_sock();
	return s ? report(akm_key_retire(s, k.asr_id, k.epoch), "key retire") : 1;
}

static int key_show(struct cmdline *c)
{
	struct akm_asr *asrs;
	uint32_t asr_id = 0;
	struct akm_sock *s;
	unsigned int k;
	size_t n, i;
	int err;

	parse_target(c, &asr_id, NULL);
	s = akmctl_sock();
	if (!s)
		return 1;
	err = asr_list(s, asr_id, &asrs, &n);
	if (err)
		return report(err, "key show");
	akm_out_arr_open(&out, NULL);
	for (i = 0; i < n; i++) {
		for (k = 0; k < asrs[i].nkeys; k++) {
			print_key(&out, &asrs[i].keys[k], asrs[i].id, "");
			akm_out_text(&out, "\n");
		}
	}
	akm_out_arr_close(&out);
	free(asrs);
	return report(0, "key show");
}

int do_key(struct cmdline *c)
{
	static const struct command cmds[] = {
		{ "show", key_show },
		{ "install", key_install },
		{ "activate", key_activate },
		{ "retire", key_retire },
		{ NULL, NULL },
	};

	return dispatch(c, cmds, key_usage);
}
