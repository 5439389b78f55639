// SPDX-License-Identifier: GPL-2.0 OR MIT
/* akmctl key: install, activate, retire and show the epochs of ASR keys. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "akmctl.h"

void key_usage(FILE *f)
{
	fputs("Usage: akmctl key install asr ASR_ID epoch EPOCH file PATH\n"
	      "       akmctl key activate asr ASR_ID epoch EPOCH\n"
	      "       akmctl key retire asr ASR_ID epoch EPOCH\n"
	      "       akmctl key [show [asr ASR_ID]]\n"
	      "PATH holds the key: 32 raw bytes, or 64 hex digits and an optional newline;\n"
	      "'-' reads it from standard input. Keys are never shown.\n", f);
}

/* asr ASR_ID epoch EPOCH, and file PATH where path is not NULL. */
static void parse_key(struct cmdline *c, uint32_t *asr_id, uint32_t *epoch,
		      const char **path)
{
	const char *w;

	*asr_id = *epoch = 0;
	while ((w = arg_next(c))) {
		if (!strcmp(w, "asr")) {
			arg_id(c, w, asr_id);
		} else if (!strcmp(w, "epoch")) {
			arg_id(c, w, epoch);
		} else if (!strcmp(w, "file") && path) {
			if (*path)
				usage_error(c, "'%s' given twice", w);
			*path = arg_value(c, w);
		} else {
			unknown_word(c, w);
		}
	}
	arg_require(c, "asr", *asr_id);
	arg_require(c, "epoch", *epoch);
	if (path && !*path)
		usage_error(c, "missing 'file'");
}

static int key_install(struct cmdline *c)
{
	uint8_t key[AKM_KEY_LEN];
	const char *path = NULL;
	uint32_t asr_id, epoch;
	struct akm_sock *s;
	int err, ret;

	parse_key(c, &asr_id, &epoch, &path);
	err = akm_key_read(path, key);
	if (err == -EINVAL) {
		fprintf(stderr, "akmctl: %s: a key file holds %d raw bytes, or %d hex digits "
			"and an optional newline\n", path, AKM_KEY_LEN, 2 * AKM_KEY_LEN);
		return 1;
	}
	if (err) {
		fprintf(stderr, "akmctl: cannot read key file '%s': %s\n", path, strerror(-err));
		return 1;
	}
	s = akmctl_sock();
	ret = s ? report(akm_key_install(s, asr_id, epoch, key), "key install") : 1;
	explicit_bzero(key, sizeof(key));
	return ret;
}

static int key_activate(struct cmdline *c)
{
	uint32_t asr_id, epoch;
	struct akm_sock *s;

	parse_key(c, &asr_id, &epoch, NULL);
	s = akmctl_sock();
	return s ? report(akm_key_activate(s, asr_id, epoch), "key activate") : 1;
}

static int key_retire(struct cmdline *c)
{
	uint32_t asr_id, epoch;
	struct akm_sock *s;

	parse_key(c, &asr_id, &epoch, NULL);
	s = akmctl_sock();
	return s ? report(akm_key_retire(s, asr_id, epoch), "key retire") : 1;
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
