// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * What the sites report of their nodes (root.md, "Deployment-wide view"):
 * NODE_STATUS, taken for a node of the sending site only, into
 * node_status and node_counters (the node's counters replaced), with the
 * events node-online and node-offline when its link changes. At most
 * ROOT_STATUS_PER_SEC a second from one site (its NMM sends 64); more are
 * dropped (its NMM reports every node again every 10 minutes), and logged
 * once a session. Shown by node list and asr show: a
 * node's link is unknown while its site has no session.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "link.h"

#define ROOT_STATUS_PER_SEC	256	/* 4 times an NMM's pace: a backlog read at once */

_Static_assert(ROOT_OFFLINE_AFTER == 30, "NODE_LINK_SQL's interval");

/* The counters of a NODE_STATUS as three PostgreSQL array literals. */
struct rows {
	FILE *asr, *name, *value;
	char *a, *n, *v;
	size_t alen, nlen, vlen;
	unsigned int k;
};

static int row_cb(uint32_t asr, const char *name, uint64_t value, void *arg)
{
	struct rows *w = arg;
	const char *sep;

	if (akm_enum_value(AKM_ENUM_STATS, name) < 0)
		return 0;	/* a kernel's counter this root does not know: left out */
	sep = w->k++ ? "," : "";
	fprintf(w->asr, "%s%u", sep, asr);
	fprintf(w->name, "%s\"%s\"", sep, name);	/* a counter's name: [a-z_0-9] */
	fprintf(w->value, "%s%lld", sep, (long long)(value > INT64_MAX ? INT64_MAX : value));
	return 0;
}

static int rows_make(const struct akmp_msg *m, struct rows *w)
{
	int err;

	w->asr = open_memstream(&w->a, &w->alen);
	w->name = open_memstream(&w->n, &w->nlen);
	w->value = open_memstream(&w->v, &w->vlen);
	if (!w->asr || !w->name || !w->value)
		return -ENOMEM;
	fputc('{', w->asr);
	fputc('{', w->name);
	fputc('{', w->value);
	err = akmp_counters_parse(m, row_cb, w);
	fputc('}', w->asr);
	fputc('}', w->name);
	fputc('}', w->value);
	if (fclose(w->asr) | fclose(w->name) | fclose(w->value))
		err = err ?: -ENOMEM;
	w->asr = w->name = w->value = NULL;
	return err;
}

static void rows_free(struct rows *w)
{
	if (w->asr)
		fclose(w->asr);
	if (w->name)
		fclose(w->name);
	if (w->value)
		fclose(w->value);
	free(w->a);
	free(w->n);
	free(w->v);
}

/* One transaction: 1 taken, 0 not the site's node, -EAGAIN a conflict, -EIO. */
static int take(struct root *r, uint32_t site, uint32_t node, bool online, int64_t last,
		bool left_out, const struct rows *w)
{
	int64_t was;
	int rows, err = -EIO;

	if (db_begin(r))
		return -EIO;
	/* not worth a flush, nor a synchronous standby: a report is advisory */
	if (db_exec(r, "SET LOCAL synchronous_commit = off", "") < 0)
		goto out;
	was = db_int(r, -2, "WITH old AS (SELECT online FROM node_status WHERE node = $1) "
		     "INSERT INTO node_status (node, online, last_contact, left_out) SELECT $1, "
		     "$3::boolean, CASE WHEN $4::bigint = 0 THEN NULL ELSE to_timestamp($4) END, "
		     "$5::boolean WHERE EXISTS (SELECT 1 FROM nodes WHERE id = $1 AND site = $2 "
		     "AND state != 'removed') ON CONFLICT (node) DO UPDATE SET online = "
		     "excluded.online, last_contact = excluded.last_contact, left_out = "
		     "excluded.left_out, reported = now() RETURNING coalesce((SELECT "
		     "online::int FROM old), -1)", "uutit", node, site, online ? "t" : "f",
		     last, left_out ? "t" : "f");
	if (was == -2) {	/* no row: not a node of the site's (or the statement failed) */
		err = r->errmsg[0] ? -EIO : 0;
		goto out;
	}
	/* the node's own, its provisioning ASR's and those of its ASRs, each once */
	if (db_exec(r, "DELETE FROM node_counters WHERE node = $1", "u", node) < 0 ||
	    db_exec(r, "INSERT INTO node_counters (node, asr, name, value) SELECT $1, a, n, v "
		    "FROM unnest($2::bigint[], $3::text[], $4::bigint[]) AS c (a, n, v) WHERE "
		    "a = 0 OR a = $5 OR EXISTS (SELECT 1 FROM members m WHERE m.asr = a AND "
		    "m.node = $1 AND m.state = 'live') ON CONFLICT DO NOTHING", "utttu", node,
		    w->a, w->n, w->v, AKMP_PROV_ASR(node)) < 0)
		goto out;
	/* its first session at its site makes it active, as at the site's NMM */
	rows = online ? db_exec(r, "UPDATE nodes SET state = 'active' WHERE id = $1 AND "
				"state = 'provisioned'", "u", node) : 0;
	if (rows < 0 || (rows && db_event(r, "node-activated", "node %u site %u", node, site)))
		goto out;
	/* a change of its link (the first report is none) */
	if (was >= 0 && was != online &&
	    db_event(r, online ? "node-online" : "node-offline", "node %u site %u", node, site))
		goto out;
	if (!db_commit(r))
		return 1;
out:
	err = db_retry(r) ? -EAGAIN : err;
	db_rollback(r);
	return err;
}

int status_take(struct root *r, struct link *l, const struct akmp_msg *m)
{
	uint32_t node = akmp_u32(&m->tb[AKMP_T_NODE_ID]);
	uint32_t flags = akmp_u32(&m->tb[AKMP_T_FLAGS]);
	int64_t now = root_now(), last = (int64_t)akmp_u64(&m->tb[AKMP_T_VALUE]);
	struct rows w = { 0 };
	unsigned int try;
	int err;

	if (l->status_sec != now) {
		l->status_sec = now;
		l->statuses = 0;
	}
	if (++l->statuses > ROOT_STATUS_PER_SEC) {
		if (!l->status_flood)
			root_log("site %u: more than %d NODE_STATUS a second: the rest dropped",
				 l->hs.node, ROOT_STATUS_PER_SEC);
		l->status_flood = true;
		return 0;
	}
	if (last < 0 || last > (int64_t)time(NULL) + 86400)
		last = 0;	/* no time this root can keep */
	err = rows_make(m, &w);
	for (try = 0; !err; try++) {
		err = take(r, l->hs.node, node, akmp_u8(&m->tb[AKMP_T_STATE]) == AKMP_NODE_ONLINE,
			   last, flags & AKMP_STATUS_NO_COUNTERS, &w);
		if (err != -EAGAIN || try == 2)
			break;
		usleep(2000 << try);	/* another instance's change: again */
		err = 0;
	}
	rows_free(&w);
	if (err == -EBADMSG)
		return err;	/* a malformed report ends the session */
	if (!err && !l->status_foreign)
		root_log("site %u: NODE_STATUS for node %u, not one of its nodes: dropped",
			 l->hs.node, node);
	l->status_foreign |= !err;
	return 0;	/* the database's trouble is not the site's */
}

/* ---- in node list and asr show ---- */

void status_out(struct akm_out *o, PGresult *res, int i, int col)
{
	time_t t = strtoll(PQgetvalue(res, i, col + 1), NULL, 10);
	char buf[32];
	struct tm tm;

	akm_out_str(o, "link", "link", PQgetvalue(res, i, col));
	if (akm_out_json(o))
		akm_out_int(o, "last_contact", NULL, t);
	else if (t && gmtime_r(&t, &tm) && strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm))
		akm_out_str(o, NULL, "last-contact", buf);
	if (*PQgetvalue(res, i, col + 2) == 't')	/* too many to report: none */
		akm_out_str(o, "counters_left_out", "counters", "left-out");
}

int counters_out(struct akm_out *o, PGresult *cnt, int j, uint32_t node, int64_t asr,
		 const char *indent)
{
	int64_t last = -1;

	while (j < PQntuples(cnt) && strtoul(PQgetvalue(cnt, j, 0), NULL, 10) < node)
		j++;
	akm_out_arr_open(o, "counters");
	for (; j < PQntuples(cnt) && strtoul(PQgetvalue(cnt, j, 0), NULL, 10) == node; j++) {
		int64_t id = strtoll(PQgetvalue(cnt, j, 1), NULL, 10);

		if (asr < 0 || id == asr)	/* the database's values: 0 to 2^63 - 1 */
			akm_out_counter(o, &last, asr >= 0, id, PQgetvalue(cnt, j, 2),
					strtoll(PQgetvalue(cnt, j, 3), NULL, 10), indent);
	}
	akm_out_arr_close(o);
	return j;
}
