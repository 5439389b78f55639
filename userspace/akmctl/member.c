// SPDX-License-Identifier: GPL-2.0 OR MIT
/* akmctl member: the nodes of an ASR, their state and addresses. */
#include <stdlib.h>
#include <string.h>

#include "akmctl.h"

void member_usage(FILE *f)
{
	fputs("Usage: akmctl member add asr ASR_ID node NODE_ID [addr ADDR]... [state STATE]\n"
	      "       akmctl member set asr ASR_ID node NODE_ID [addr ADDR]... [state STATE]\n"
	      "       akmctl member del asr ASR_ID node NODE_ID\n"
	      "       akmctl member [show [asr ASR_ID [node NODE_ID]]]\n"
	      "ADDR := an IPv4 or IPv6 address; at most 8, and those given to 'set' replace the list\n"
	      "STATE := { provisioned | active | revoked }\n", f);
}

/* asr ASR_ID node NODE_ID [addr ADDR]... [state STATE]; returns the attributes given. */
static uint32_t parse_member(struct cmdline *c, struct akm_member *m)
{
	uint32_t attrs = 0;
	const char *w;

	memset(m, 0, sizeof(*m));
	while ((w = arg_next(c))) {
		if (!strcmp(w, "asr")) {
			arg_id(c, w, &m->asr_id);
		} else if (!strcmp(w, "node")) {
			arg_id(c, w, &m->node_id);
		} else if (!strcmp(w, "state")) {
			arg_once(c, w, &attrs, AKM_A_MEMBER_STATE);
			m->state = arg_enum(c, w, AKM_ENUM_MEMBER_STATE);
		} else if (!strcmp(w, "addr")) {
			const char *v = arg_value(c, w);

			if (m->naddrs == AKM_ADDRS_MAX)
				usage_error(c, "more than %d addresses", AKM_ADDRS_MAX);
			if (akm_addr_parse(v, &m->addrs[m->naddrs++]))
				usage_error(c, "invalid address '%s'", v);
			attrs |= AKM_BIT(AKM_A_MEMBER_ADDRS);
		} else {
			unknown_word(c, w);
		}
	}
	arg_require(c, "asr", m->asr_id);
	arg_require(c, "node", m->node_id);
	return attrs;
}

static int member_add(struct cmdline *c)
{
	struct akm_member m;
	uint32_t attrs = parse_member(c, &m);
	struct akm_sock *s = akmctl_sock();

	return s ? report(akm_member_new(s, &m, attrs), "member add") : 1;
}

static int member_set(struct cmdline *c)
{
	struct akm_member m;
	uint32_t attrs = parse_member(c, &m);
	struct akm_sock *s;

	if (!attrs)
		usage_error(c, "nothing to set");
	s = akmctl_sock();
	return s ? report(akm_member_set(s, &m, attrs), "member set") : 1;
}

static int member_del(struct cmdline *c)
{
	uint32_t asr_id = 0, node_id = 0;
	struct akm_sock *s;

	parse_target(c, &asr_id, &node_id);
	arg_require(c, "asr", asr_id);
	arg_require(c, "node", node_id);
	s = akmctl_sock();
	return s ? report(akm_member_del(s, asr_id, node_id), "member del") : 1;
}

static int member_show(struct cmdline *c)
{
	uint32_t asr_id = 0, node_id = 0;
	struct akm_member *members, one;
	struct akm_sock *s;
	size_t n, i;
	int err;

	parse_target(c, &asr_id, &node_id);
	s = akmctl_sock();
	if (!s)
		return 1;
	if (node_id) {
		err = akm_member_get(s, asr_id, node_id, &one);
		members = &one;
		n = 1;
	} else {
		err = akm_member_dump(s, asr_id, &members, &n);
	}
	if (err)
		return report(err, "member show");
	akm_out_arr_open(&out, NULL);
	for (i = 0; i < n; i++) {
		print_member(&out, &members[i], "");
		akm_out_text(&out, "\n");
	}
	akm_out_arr_close(&out);
	if (members != &one)
		free(members);
	return report(0, "member show");
}

int do_member(struct cmdline *c)
{
	static const struct command cmds[] = {
		{ "show", member_show },
		{ "add", member_add },
		{ "set", member_set },
		{ "del", member_del },
		{ NULL, NULL },
	};

	return dispatch(c, cmds, member_usage);
}
