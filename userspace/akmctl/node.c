// SPDX-License-Identifier: GPL-2.0 OR MIT
/* akmctl node: this namespace's node id, keyring and counters. */
#include <string.h>

#include "akmctl.h"

void node_usage(FILE *f)
{
	fputs("Usage: akmctl node [show]\n"
	      "       akmctl node set id NODE_ID\n", f);
}

static int node_show(struct cmdline *c)
{
	struct akm_node node;
	struct akm_sock *s;
	int err;

	if (c->argc)
		unknown_word(c, *c->argv);
	s = akmctl_sock();
	if (!s)
		return 1;
	err = akm_node_get(s, &node);
	if (!err)
		print_node(&out, &node);
	return report(err, "node show");
}

static int node_set(struct cmdline *c)
{
	uint32_t id = 0;
	struct akm_sock *s;
	const char *w;

	while ((w = arg_next(c))) {
		if (!strcmp(w, "id"))
			arg_id(c, w, &id);
		else
			unknown_word(c, w);
	}
	arg_require(c, "id", id);
	s = akmctl_sock();
	if (!s)
		return 1;
	return report(akm_node_set_id(s, id), "node set");
}

int do_node(struct cmdline *c)
{
	static const struct command cmds[] = {
		{ "show", node_show },
		{ "set", node_set },
		{ NULL, NULL },
	};

	return dispatch(c, cmds, node_usage);
}
