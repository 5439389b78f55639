// SPDX-License-Identifier: GPL-2.0 OR MIT
/* akmctl cred: the provisioning credentials shared with other nodes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "akmctl.h"

void cred_usage(FILE *f)
{
	fputs("Usage: akmctl cred install id CRED_ID file PATH\n"
	      "       akmctl cred del id CRED_ID\n"
	      "       akmctl cred [show [id CRED_ID]]\n"
	      "CRED_ID is the node id of the peer the credential is shared with.\n"
	      "PATH holds it like a key file; credentials are never shown.\n", f);
}

/* id CRED_ID, and file PATH where path is not NULL. */
static uint32_t parse_cred(struct cmdline *c, const char **path)
{
	uint32_t id = 0;
	const char *w;

	while ((w = arg_next(c))) {
		if (!strcmp(w, "id"))
			arg_id(c, w, &id);
		else if (!strcmp(w, "file") && path)
			arg_file(c, w, path);
		else
			unknown_word(c, w);
	}
	if (path && !*path)
		usage_error(c, "missing 'file'");
	return id;
}

static int cred_install(struct cmdline *c)
{
	uint8_t key[AKM_KEY_LEN];
	const char *path = NULL;
	struct akm_sock *s;
	uint32_t id;
	int ret;

	id = parse_cred(c, &path);
	arg_require(c, "id", id);
	if (read_secret(path, key, sizeof(key)))
		return 1;
	s = akmctl_sock();
	ret = s ? report(akm_cred_install(s, id, key), "cred install") : 1;
	explicit_bzero(key, sizeof(key));
	return ret;
}

static int cred_del(struct cmdline *c)
{
	uint32_t id = parse_cred(c, NULL);
	struct akm_sock *s;

	arg_require(c, "id", id);
	s = akmctl_sock();
	return s ? report(akm_cred_del(s, id), "cred del") : 1;
}

static int cred_show(struct cmdline *c)
{
	uint32_t id = parse_cred(c, NULL);
	struct akm_cred *creds = NULL;
	struct akm_sock *s;
	size_t n, i;
	int err;

	s = akmctl_sock();
	if (!s)
		return 1;
	if (id) {
		creds = malloc(sizeof(*creds));
		n = 1;
		err = creds ? akm_cred_get(s, id, creds) : -ENOMEM;
	} else {
		err = akm_cred_dump(s, &creds, &n);
	}
	if (!err) {
		akm_out_arr_open(&out, NULL);
		for (i = 0; i < n; i++)
			print_cred(&out, &creds[i]);
		akm_out_arr_close(&out);
	}
	free(creds);
	return report(err, "cred show");
}

int do_cred(struct cmdline *c)
{
	static const struct command cmds[] = {
		{ "show", cred_show },
		{ "install", cred_install },
		{ "del", cred_del },
		{ NULL, NULL },
	};

	return dispatch(c, cmds, cred_usage);
}
