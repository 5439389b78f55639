// SPDX-License-Identifier: GPL-2.0 OR MIT
/* akmctl node: this namespace's node id, keyring and counters. */
#include <stdbool.h>
#include <string.h>

#include "akmctl.h"

void node_usage(FILE *f)
{
	fputs("Usage: akmctl node [show]\n"
	      "       akmctl node set [id NODE_ID] [rx-mark MARK]\n"
	      "MARK: bits set in the mark of every packet AKM verified (0: none),\n"
	      "      decimal or 0x hexadecimal, for firewall rules\n", f);
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
	bool have_mark = false;
	uint32_t id = 0, mark;
	struct akm_sock *s;
	const char *w, *v;
	int err = 0;

	while ((w = arg_next(c))) {
		if (!strcmp(w, "id")) {
			arg_id(c, w, &id);
		} else if (!strcmp(w, "rx-mark")) {
			v = arg_value(c, w);
			if (have_mark)
				usage_error(c, "'%s' given twice", w);
			if (akm_parse_mark(v, &mark))
				usage_error(c, "invalid rx-mark '%s' (expected 0 to 0x%x)",
					    v, UINT32_MAX);
			have_mark = true;
		} else {
			unknown_word(c, w);
		}
	}
	if (!id && !have_mark)
		usage_error(c, "nothing to set: give 'id NODE_ID' or 'rx-mark MARK'");
	s = akmctl_sock();
	if (!s)
		return 1;
	if (id)
		err = akm_node_set_id(s, id);
	if (!err && have_mark)
		err = akm_node_set_rx_mark(s, mark);
	return report(err, "node set");
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
