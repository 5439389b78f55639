// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * What a root's site reports of its nodes (root.md, "Deployment-wide
 * view"): NODE_STATUS with the node's link (online or not), its last
 * contact and the counters of its last heartbeats that are not zero, to a
 * root whose session WELCOME says it takes them. A node is marked
 * (nodes.reported = 0) when it comes online or goes offline, leaves an ASR,
 * and when a heartbeat changes its counters; all of them when a session
 * with the root starts, at each full round of the root's records and every
 * NMM_STATUS_FULL seconds (a report the root dropped is not lost for
 * long). Marked nodes are sent NMM_STATUS_PER_SEC a second at most, in
 * turn from where the last second stopped, while the queue to the root is
 * short.
 */
#include <errno.h>

#include "nmm.h"

#define NMM_STATUS_FULL		600
#define NMM_STATUS_QUEUE	(256u << 10)	/* bytes queued to the root: no more now */

void status_mark(struct nmm *n, uint32_t node)
{
	if (!n->up_on)
		return;		/* no root to tell */
	if (node)
		db_exec(n, "UPDATE nodes SET reported = 0 WHERE id = ? AND remote = 0", "u", node);
	else
		db_exec(n, "UPDATE nodes SET reported = 0 WHERE remote = 0 AND "
			"state != 'removed'", "");
}

/* What changes when node's counters that are not zero change: how many, their sum. */
void status_digest(struct nmm *n, uint32_t node, int64_t d[2])
{
	sqlite3_stmt *st = db_prep(n, "SELECT count(*), coalesce(sum(value), 0) FROM counters "
				   "WHERE node = ? AND value != 0", "u", node);

	d[0] = d[1] = -1;
	if (st && sqlite3_step(st) == SQLITE_ROW) {
		d[0] = sqlite3_column_int64(st, 0);
		d[1] = sqlite3_column_int64(st, 1);
	}
	db_done(n, st);
}

/* NODE_STATUS of node; counters: with its counters that are not zero. */
static int status_msg(struct nmm *n, uint32_t node, int64_t last, bool counters,
		      struct akmp_buf *b)
{
	sqlite3_stmt *st = NULL;
	int64_t asr = -1;
	size_t nest = 0;

	akmp_begin(b, AKMP_NODE_STATUS);
	akmp_put_u32(b, AKMP_T_NODE_ID, node);
	akmp_put_u8(b, AKMP_T_STATE, node_online(n, node) ? AKMP_NODE_ONLINE : 0);
	akmp_put_u64(b, AKMP_T_VALUE, last);
	if (!counters) {
		akmp_put_u32(b, AKMP_T_FLAGS, AKMP_STATUS_NO_COUNTERS);
		return akmp_end(b);
	}
	st = db_prep(n, "SELECT asr, name, value FROM counters WHERE node = ? AND value != 0 "
		     "ORDER BY asr, name", "u", node);
	if (!st)
		return -EIO;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (sqlite3_column_int64(st, 0) != asr) {
			if (asr >= 0)
				akmp_nest_end(b, nest);
			asr = sqlite3_column_int64(st, 0);
			nest = akmp_nest_start(b, AKMP_T_COUNTER);
			akmp_put_u32(b, AKMP_T_ASR_ID, asr);
		}
		akmp_put_str(b, AKMP_T_NAME, (const char *)sqlite3_column_text(st, 1));
		akmp_put_u64(b, AKMP_T_VALUE, sqlite3_column_int64(st, 2));
	}
	db_done(n, st);
	if (asr >= 0)
		akmp_nest_end(b, nest);
	return akmp_end(b);
}

void status_tick(struct nmm *n)
{
	uint32_t ids[NMM_STATUS_PER_SEC];
	int64_t last[NMM_STATUS_PER_SEC];
	struct akmp_buf b = { 0 };
	sqlite3_stmt *st;
	int k = 0, i;

	if (!n->up_on || !n->up_session || !(n->up.peer_flags & AKMP_WELCOME_STATUS) ||
	    n->up.out.len - n->up.out.off >= NMM_STATUS_QUEUE)
		return;
	if (nmm_now() - n->status_full >= NMM_STATUS_FULL) {
		n->status_full = nmm_now();
		status_mark(n, 0);
	}
	/* from the one after the last sent on, then from the start */
	st = db_prep(n, "SELECT id, last_contact FROM nodes WHERE reported = 0 AND remote = 0 "
		     "AND state != 'removed' ORDER BY id <= ?, id LIMIT ?", "ui",
		     n->status_next, (int64_t)NMM_STATUS_PER_SEC);
	while (st && k < NMM_STATUS_PER_SEC && sqlite3_step(st) == SQLITE_ROW) {
		ids[k] = sqlite3_column_int64(st, 0);
		last[k++] = sqlite3_column_int64(st, 1);
	}
	db_done(n, st);
	if (!k || store_begin(n))
		return;
	for (i = 0; i < k && n->up_session; i++) {
		int err = status_msg(n, ids[i], last[i], true, &b);

		if (err == -EMSGSIZE)	/* whole or not at all: the root says so */
			err = status_msg(n, ids[i], last[i], false, &b);
		if (!err && n->up.out.len - n->up.out.off + b.len > NMM_STATUS_QUEUE) {
			akmp_buf_free(&b);
			break;		/* the rest when the queue drained */
		}
		if (err) {		/* kept marked: again next time */
			akmp_buf_free(&b);
			continue;
		}
		if (akmc_send(&n->up, &b))
			break;		/* the session ended: all again at the next */
		db_exec(n, "UPDATE nodes SET reported = 1 WHERE id = ?", "u", ids[i]);
		n->status_next = ids[i];
	}
	if (store_commit(n))
		store_rollback(n);
}
