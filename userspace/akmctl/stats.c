// SPDX-License-Identifier: GPL-2.0 OR MIT
/* akmctl stats: counters of the node, its ASRs and their members. */
#include <stdlib.h>
#include <string.h>

#include "akmctl.h"

void stats_usage(FILE *f)
{
	fputs("Usage: akmctl stats [show] [asr ASR_ID [node NODE_ID]]\n"
	      "       akmctl stats reset [asr ASR_ID [node NODE_ID]]\n"
	      "Without an ASR: the node-wide counters and those of every ASR and member;\n"
	      "with one: its counters and those of its members (or of one of them).\n", f);
}

static int stats_show(struct cmdline *c)
{
	uint32_t asr_id = 0, node_id = 0;
	struct akm_member *members = NULL;
	struct akm_asr *asrs = NULL;
	size_t n = 0, nm = 0, i, j = 0;
	struct akm_stats stats;
	struct akm_sock *s;
	int err;

	parse_target(c, &asr_id, &node_id);
	s = akmctl_sock();
	if (!s)
		return 1;
	err = akm_stats_get(s, asr_id, node_id, &stats);
	if (!err && !asr_id)
		err = akm_asr_dump(s, &asrs, &n);
	if (!err && !node_id)
		err = akm_member_dump(s, asr_id, &members, &nm);
	if (err)
		goto out;

	akm_out_arr_open(&out, NULL);
	print_stats_entry(&out, asr_id, node_id, &stats);
	for (i = 0; i < n; i++) {
		print_stats_entry(&out, asrs[i].id, 0, &asrs[i].stats);
		for (; j < nm && members[j].asr_id <= asrs[i].id; j++)
			print_stats_entry(&out, members[j].asr_id, members[j].node_id,
					  &members[j].stats);
	}
	for (; j < nm; j++)
		print_stats_entry(&out, members[j].asr_id, members[j].node_id, &members[j].stats);
	akm_out_arr_close(&out);
out:
	free(asrs);
	free(members);
	return report(err, "stats show");
}

static int stats_reset(struct cmdline *c)
{
	uint32_t asr_id = 0, node_id = 0;
	struct akm_sock *s;

	parse_target(c, &asr_id, &node_id);
	s = akmctl_sock();
	return s ? report(akm_stats_reset(s, asr_id, node_id), "stats reset") : 1;
}

int do_stats(struct cmdline *c)
{
	static const struct command cmds[] = {
		{ "show", stats_show },
		{ "reset", stats_reset },
		{ NULL, NULL },
	};

	/* "show" may be left out before arguments too. */
	if (c->argc && (!strcmp(*c->argv, "asr") || !strcmp(*c->argv, "node")))
		return stats_show(c);
	return dispatch(c, cmds, stats_usage);
}
