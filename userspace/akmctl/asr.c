// SPDX-License-Identifier: GPL-2.0 OR MIT
/* akmctl asr: create, change, delete and show ASRs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "akmctl.h"

void asr_usage(FILE *f)
{
	fputs("Usage: akmctl asr add ASR_ID alg ALG [name NAME] [policy POLICY] [grace SECONDS]\n"
	      "                    [group ADDR [group ADDR ...]]\n"
	      "       akmctl asr set ASR_ID [name NAME] [policy POLICY] [grace SECONDS]\n"
	      "                    [group ADDR [group ADDR ...] | group none]\n"
	      "       akmctl asr del ASR_ID\n"
	      "       akmctl asr [show [ASR_ID]]\n"
	      "ALG := { hmac-sha256 | chacha20-poly1305 }\n"
	      "POLICY := { drop | accept }   for plain packets from members (default drop)\n"
	      "NAME is at most 31 bytes.\n"
	      "SECONDS: how long the previous key stays accepted after an activation\n"
	      "(default 30, at most 86400; 0: until the next activation or a retire).\n"
	      "ADDR: a multicast address of the ASR; packets to it are authenticated\n"
	      "(at most 8; 'group none' clears the list).\n", f);
}

/* ASR_ID, then the keywords allowed in attrs; returns those given. */
static uint32_t parse_asr(struct cmdline *c, struct akm_asr *asr, uint32_t allowed)
{
	uint32_t attrs = 0;
	const char *w;

	memset(asr, 0, sizeof(*asr));
	w = arg_next(c);
	if (!w)
		usage_error(c, "missing ASR_ID");
	asr->id = id_value(c, "ASR_ID", w);
	while ((w = arg_next(c))) {
		if (!strcmp(w, "alg") && (allowed & AKM_BIT(AKM_A_ASR_ALG))) {
			arg_once(c, w, &attrs, AKM_A_ASR_ALG);
			asr->alg = arg_enum(c, w, AKM_ENUM_ALG);
		} else if (!strcmp(w, "policy") && (allowed & AKM_BIT(AKM_A_ASR_POLICY))) {
			arg_once(c, w, &attrs, AKM_A_ASR_POLICY);
			asr->policy = arg_enum(c, w, AKM_ENUM_POLICY);
		} else if (!strcmp(w, "grace") && (allowed & AKM_BIT(AKM_A_ASR_GRACE))) {
			const char *v = arg_value(c, w);

			arg_once(c, w, &attrs, AKM_A_ASR_GRACE);
			if (akm_parse_u32(v, &asr->grace) || asr->grace > AKM_GRACE_MAX)
				usage_error(c, "invalid grace '%s' (expected 0 to %d seconds)",
					    v, AKM_GRACE_MAX);
		} else if (!strcmp(w, "group") && (allowed & AKM_BIT(AKM_A_ASR_GROUPS))) {
			const char *v = arg_value(c, w);

			attrs |= AKM_BIT(AKM_A_ASR_GROUPS);
			if (!strcmp(v, "none"))
				continue;
			if (asr->ngroups == AKM_ADDRS_MAX)
				usage_error(c, "more than %d groups", AKM_ADDRS_MAX);
			if (akm_addr_parse(v, &asr->groups[asr->ngroups++]))
				usage_error(c, "invalid address '%s'", v);
		} else if (!strcmp(w, "name") && (allowed & AKM_BIT(AKM_A_ASR_NAME))) {
			const char *name = arg_value(c, w);

			arg_once(c, w, &attrs, AKM_A_ASR_NAME);
			if (strlen(name) >= sizeof(asr->name))
				usage_error(c, "name '%s' is longer than %zu bytes",
					    name, sizeof(asr->name) - 1);
			strcpy(asr->name, name);
		} else {
			unknown_word(c, w);
		}
	}
	return attrs;
}

static int asr_add(struct cmdline *c)
{
	const uint32_t allowed = AKM_BIT(AKM_A_ASR_ALG) | AKM_BIT(AKM_A_ASR_NAME) |
				 AKM_BIT(AKM_A_ASR_POLICY) | AKM_BIT(AKM_A_ASR_GRACE) |
				 AKM_BIT(AKM_A_ASR_GROUPS);
	struct akm_sock *s;
	struct akm_asr asr;
	uint32_t attrs;

	attrs = parse_asr(c, &asr, allowed);
	if (!(attrs & AKM_BIT(AKM_A_ASR_ALG)))
		usage_error(c, "missing 'alg'");
	s = akmctl_sock();
	if (!s)
		return 1;
	return report(akm_asr_new(s, &asr, attrs), "asr add");
}

static int asr_set(struct cmdline *c)
{
	struct akm_sock *s;
	struct akm_asr asr;
	uint32_t attrs;

	attrs = parse_asr(c, &asr, AKM_BIT(AKM_A_ASR_NAME) | AKM_BIT(AKM_A_ASR_POLICY) |
				   AKM_BIT(AKM_A_ASR_GRACE) | AKM_BIT(AKM_A_ASR_GROUPS));
	if (!attrs)
		usage_error(c, "nothing to set");
	s = akmctl_sock();
	if (!s)
		return 1;
	return report(akm_asr_set(s, &asr, attrs), "asr set");
}

static int asr_del(struct cmdline *c)
{
	struct akm_sock *s;
	struct akm_asr asr;

	parse_asr(c, &asr, 0);
	s = akmctl_sock();
	if (!s)
		return 1;
	return report(akm_asr_del(s, asr.id), "asr del");
}

/* ASR asr_id, or all if it is 0; free *asrs. */
int asr_list(struct akm_sock *s, uint32_t asr_id, struct akm_asr **asrs, size_t *n)
{
	int err;

	if (!asr_id)
		return akm_asr_dump(s, asrs, n);
	*asrs = malloc(sizeof(**asrs));
	if (!*asrs)
		return -ENOMEM;
	err = akm_asr_get(s, asr_id, *asrs);
	if (err) {
		free(*asrs);
		return err;
	}
	*n = 1;
	return 0;
}

/* One ASR or all, each with its members. */
static int asr_show(struct cmdline *c)
{
	struct akm_member *members;
	struct akm_asr *asrs, one;
	struct akm_sock *s;
	size_t n, nm, i;
	int err;

	one.id = 0;
	if (c->argc)
		parse_asr(c, &one, 0);
	s = akmctl_sock();
	if (!s)
		return 1;
	err = asr_list(s, one.id, &asrs, &n);
	if (err)
		return report(err, "asr show");
	akm_out_arr_open(&out, NULL);
	for (i = 0; i < n; i++) {
		err = akm_member_dump(s, asrs[i].id, &members, &nm);
		if (err == -ENOENT && !one.id) {	/* deleted since the ASR dump */
			err = 0;
			continue;
		}
		if (err)
			break;
		print_asr(&out, &asrs[i], members, nm);
		free(members);
	}
	akm_out_arr_close(&out);
	free(asrs);
	return report(err, "asr show");
}

int do_asr(struct cmdline *c)
{
	static const struct command cmds[] = {
		{ "show", asr_show },
		{ "add", asr_add },
		{ "set", asr_set },
		{ "del", asr_del },
		{ NULL, NULL },
	};

	return dispatch(c, cmds, asr_usage);
}
