// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * What the sites report of their nodes (root.md, "Deployment-wide view"):
 * NODE_STATUS, taken for a node of the sending site only, into
 * node_status and node_counters (the node's counters replaced), with the
 * events node-online and node-offline when its link changes. The reports
 * of a loop pass, from every site, are written in one transaction at its
 * end (status_flush()): a site's session start brings one per node. At
 * most ROOT_STATUS_PER_SEC a second from one site (its NMM sends 64); more
 * are dropped (its NMM reports every node again every 10 minutes), and
 * logged once a session. Shown by node list and asr show: a node's link is
 * unknown while its site has no session.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "link.h"

#define ROOT_STATUS_PER_SEC	256	/* 4 times an NMM's pace: a backlog read at once */
#define STATUS_BATCH		512	/* reports in one transaction, at most ... */
#define STATUS_COUNTERS		16384	/* ... and counters, about */
#define STATUS_LOG_SECS		60	/* between two logs of reports dropped */

_Static_assert(ROOT_OFFLINE_AFTER == 30, "NODE_LINK_SQL's interval");

struct report {
	uint32_t site, node;
	uint32_t session;		/* the site's session that sent it */
	int64_t last;			/* its last contact, seconds since 1970; 0 none */
	bool online, left_out;
};

struct counter {
	uint32_t node;
	uint32_t asr;
	unsigned int stat;		/* enum akm_enum AKM_ENUM_STATS */
	bool keep;			/* the node's own or its provisioning ASR's */
	int64_t value;
};

/* The reports of this loop pass, not written yet. */
struct statuses {
	struct report rep[STATUS_BATCH];
	unsigned int n;
	struct counter *c;
	size_t nc, cap;
	int64_t logged;			/* root_now() of the last log of reports dropped */
};

struct take {
	struct statuses *b;
	uint32_t node;
};

static int counter_cb(uint32_t asr, const char *name, uint64_t value, void *arg)
{
	struct take *t = arg;
	struct statuses *b = t->b;
	struct counter *grown;
	int stat = akm_enum_value(AKM_ENUM_STATS, name);

	if (stat < 0)
		return 0;	/* a kernel's counter this root does not know: left out */
	if (b->nc == b->cap) {
		grown = reallocarray(b->c, b->cap ? 2 * b->cap : 256, sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		b->c = grown;
		b->cap = b->cap ? 2 * b->cap : 256;
	}
	b->c[b->nc++] = (struct counter){
		.node = t->node, .asr = asr, .stat = stat,
		.keep = !asr || asr == AKMP_PROV_ASR(t->node),
		.value = value > INT64_MAX ? INT64_MAX : (int64_t)value,
	};
	return 0;
}

/* A PostgreSQL array literal, written as it is built. */
struct arr {
	FILE *f;
	char *s;
	size_t len;
};

static int arr_open(struct arr *a)
{
	a->f = open_memstream(&a->s, &a->len);
	if (!a->f)
		return -ENOMEM;
	fputc('{', a->f);
	return 0;
}

static void arr_sep(struct arr *a, size_t i)
{
	if (i)
		fputc(',', a->f);
}

static int arr_close(struct arr *a)
{
	int err = 0;

	if (a->f) {
		fputc('}', a->f);
		err = fclose(a->f) ? -ENOMEM : 0;
		a->f = NULL;
	}
	return err;
}

static void arr_free(struct arr *a)
{
	if (a->f)
		fclose(a->f);
	free(a->s);
	*a = (struct arr){ 0 };
}

/* The taken reports' nodes (column 0 of res), and those online. */
static int taken_arrays(PGresult *res, struct arr *all, struct arr *on)
{
	int i, k = 0;

	if (arr_open(all) || arr_open(on))
		return -ENOMEM;
	for (i = 0; i < PQntuples(res); i++) {
		arr_sep(all, i);
		fputs(PQgetvalue(res, i, 0), all->f);
		if (*PQgetvalue(res, i, 1) == 't') {
			arr_sep(on, k++);
			fputs(PQgetvalue(res, i, 0), on->f);
		}
	}
	return arr_close(all) | arr_close(on);
}

/*
 * The batch's reports and counters (a[0..4]: node, site, online, last,
 * left_out; a[5..9]: the counters' node, asr, name, value, keep).
 */
static int batch_arrays(const struct statuses *b, struct arr a[10])
{
	size_t i;
	int j, err = 0;

	for (j = 0; j < 10; j++)
		if (arr_open(&a[j]))
			return -ENOMEM;
	for (i = 0; i < b->n; i++) {
		const struct report *p = &b->rep[i];

		for (j = 0; j < 5; j++)
			arr_sep(&a[j], i);
		fprintf(a[0].f, "%u", p->node);
		fprintf(a[1].f, "%u", p->site);
		fputc(p->online ? 't' : 'f', a[2].f);
		fprintf(a[3].f, "%lld", (long long)p->last);
		fputc(p->left_out ? 't' : 'f', a[4].f);
	}
	for (i = 0; i < b->nc; i++) {
		const struct counter *c = &b->c[i];

		for (j = 5; j < 10; j++)
			arr_sep(&a[j], i);
		fprintf(a[5].f, "%u", c->node);
		fprintf(a[6].f, "%u", c->asr);
		/* a counter's name: [a-z_0-9] */
		fprintf(a[7].f, "\"%s\"", akm_enum_name(AKM_ENUM_STATS, c->stat));
		fprintf(a[8].f, "%lld", (long long)c->value);
		fputc(c->keep ? 't' : 'f', a[9].f);
	}
	for (j = 0; j < 10; j++)
		err |= arr_close(&a[j]);
	return err;
}

/*
 * The batch in one transaction; the rows of the reports taken (node,
 * online, its link before: -1 none, site) into *taken. 0, -EAGAIN a
 * deadlock with another instance, -ENOMEM, -EIO. READ COMMITTED: a report
 * is advisory; a serializable read of every reported node would make other
 * instances' changes of the nodes fail.
 */
static int write_batch(struct root *r, struct arr a[10], PGresult **taken)
{
	struct arr all = { 0 }, on = { 0 };
	PGresult *res = NULL, *act = NULL;
	int i, err = -EIO;

	*taken = NULL;
	if (db_exec(r, "BEGIN ISOLATION LEVEL READ COMMITTED", "") < 0)
		return -EIO;
	/* not worth a flush, nor a synchronous standby: a report is advisory */
	if (db_exec(r, "SET LOCAL synchronous_commit = off", "") < 0)
		goto out;
	/*
	 * A report of a node of the site's (another's is not taken), the node
	 * locked against its removal (node_remove() drops its rows) and in
	 * one order; every part of the WITH sees the rows before it: old is
	 * the link before this report.
	 */
	res = db_q(r, "WITH p AS (SELECT p.* FROM unnest($1::bigint[], $2::bigint[], "
		   "$3::boolean[], $4::bigint[], $5::boolean[]) AS p (node, site, online, last, "
		   "left_out) JOIN nodes n ON n.id = p.node AND n.site = p.site AND "
		   "n.state != 'removed' ORDER BY p.node FOR SHARE OF n), old AS (SELECT s.node, s.online FROM node_status s "
		   "JOIN p USING (node)), w AS (INSERT INTO node_status (node, online, "
		   "last_contact, left_out) SELECT node, online, CASE WHEN last = 0 THEN NULL "
		   "ELSE to_timestamp(last) END, left_out FROM p ON CONFLICT (node) DO UPDATE "
		   "SET online = excluded.online, last_contact = excluded.last_contact, "
		   "left_out = excluded.left_out, reported = now()) SELECT p.node, p.online, "
		   "coalesce(old.online::int, -1), p.site FROM p LEFT JOIN old USING (node)",
		   "ttttt", a[0].s, a[1].s, a[2].s, a[3].s, a[4].s);
	if (!res)
		goto out;
	if (taken_arrays(res, &all, &on)) {
		snprintf(r->errmsg, sizeof(r->errmsg), "out of memory");
		goto out;
	}
	if (!PQntuples(res))
		goto commit;
	/* each node's own, its provisioning ASR's and those of its ASRs, each once */
	if (db_exec(r, "DELETE FROM node_counters WHERE node = ANY ($1::bigint[])", "t",
		    all.s) < 0 ||
	    db_exec(r, "INSERT INTO node_counters (node, asr, name, value) SELECT c.node, c.a, "
		    "c.n, c.v FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], "
		    "$5::boolean[]) AS c (node, a, n, v, keep) WHERE c.node = ANY ($6::bigint[]) "
		    "AND (keep OR EXISTS (SELECT 1 FROM members m WHERE m.asr = c.a AND m.node = "
		    "c.node AND m.state = 'live')) ON CONFLICT DO NOTHING", "tttttt", a[5].s,
		    a[6].s, a[7].s, a[8].s, a[9].s, all.s) < 0)
		goto out;
	/* its first session at its site makes a node active, as at the site's NMM */
	act = db_q(r, "UPDATE nodes SET state = 'active' WHERE id = ANY ($1::bigint[]) AND "
		   "state = 'provisioned' RETURNING id, site", "t", on.s);
	if (!act)
		goto out;
	for (i = 0; i < PQntuples(act); i++)
		if (db_event(r, "node-activated", "node %s site %s", PQgetvalue(act, i, 0),
			     PQgetvalue(act, i, 1)))
			goto out;
	/* a change of its link (the first report is none) */
	for (i = 0; i < PQntuples(res); i++) {
		bool online = *PQgetvalue(res, i, 1) == 't';
		int was = atoi(PQgetvalue(res, i, 2));

		if (was >= 0 && was != online &&
		    db_event(r, online ? "node-online" : "node-offline", "node %s site %s",
			     PQgetvalue(res, i, 0), PQgetvalue(res, i, 3)))
			goto out;
	}
commit:
	if (!db_commit(r)) {
		*taken = res;
		res = NULL;
		err = 0;
	}
out:
	if (err) {
		err = db_retry(r) ? -EAGAIN : -EIO;
		db_rollback(r);
	}
	PQclear(act);
	PQclear(res);
	arr_free(&all);
	arr_free(&on);
	return err;
}

/* Reports of nodes not the site's: logged once a session (the one that sent them). */
static void foreign(struct root *r, const struct statuses *b, PGresult *taken)
{
	unsigned int i;
	struct sitest *s;
	int j;

	for (i = 0; i < b->n; i++) {
		for (j = 0; j < PQntuples(taken) &&
		     strtoul(PQgetvalue(taken, j, 0), NULL, 10) != b->rep[i].node; j++)
			;
		s = j < PQntuples(taken) ? NULL : link_sitest(r, b->rep[i].site);
		if (!s || !s->session || s->epoch != b->rep[i].session ||
		    s->session->status_foreign)
			continue;
		root_log("site %u: NODE_STATUS for node %u, not one of its nodes: dropped",
			 b->rep[i].site, b->rep[i].node);
		s->session->status_foreign = true;
	}
}

/*
 * The pass's reports into the database; dropped if it cannot take them
 * (their sites report every node again within 10 minutes).
 */
void status_flush(struct root *r)
{
	struct statuses *b = r->statuses;
	struct arr a[10] = { 0 };
	PGresult *taken = NULL;
	unsigned int try;
	int j, err;

	if (!b || !b->n)
		return;
	err = batch_arrays(b, a);
	for (try = 0; !err; try++) {
		err = write_batch(r, a, &taken);
		if (err != -EAGAIN || try == 2)
			break;
		usleep(2000 << try);	/* another instance's change: again */
		err = 0;
	}
	if (!err) {
		foreign(r, b, taken);
	} else if (root_now() - b->logged >= STATUS_LOG_SECS) {
		b->logged = root_now();
		root_log("%u node reports not written (%s): dropped", b->n,
			 err == -ENOMEM ? "out of memory" : r->errmsg[0] ? r->errmsg :
			 "a conflict with another instance");
	}
	PQclear(taken);
	for (j = 0; j < 10; j++)
		arr_free(&a[j]);
	b->n = 0;
	b->nc = 0;
}

void status_free(struct root *r)
{
	if (r->statuses)
		free(r->statuses->c);
	free(r->statuses);
	r->statuses = NULL;
}

int status_take(struct root *r, struct link *l, const struct akmp_msg *m)
{
	uint32_t node = akmp_u32(&m->tb[AKMP_T_NODE_ID]);
	uint32_t flags = akmp_u32(&m->tb[AKMP_T_FLAGS]);
	int64_t now = root_now(), last = (int64_t)akmp_u64(&m->tb[AKMP_T_VALUE]);
	struct statuses *b = r->statuses;
	struct take t = { .node = node };
	unsigned int i;
	size_t nc;
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
	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b)
			return 0;	/* dropped: reported again in 10 minutes */
		r->statuses = b;
	}
	/* a node reported twice in a pass: the first report written first */
	for (i = 0; i < b->n && b->rep[i].node != node; i++)
		;
	if (i < b->n || b->n == STATUS_BATCH || b->nc >= STATUS_COUNTERS)
		status_flush(r);
	if (last < 0 || last > (int64_t)time(NULL) + 86400)
		last = 0;	/* no time this root can keep */
	nc = b->nc;
	t.b = b;
	err = akmp_counters_parse(m, counter_cb, &t);
	if (err) {
		b->nc = nc;
		return err == -EBADMSG ? err : 0;	/* a malformed report ends the session */
	}
	b->rep[b->n++] = (struct report){
		.site = l->hs.node, .session = l->hs.session, .node = node, .last = last,
		.online = akmp_u8(&m->tb[AKMP_T_STATE]) == AKMP_NODE_ONLINE,
		.left_out = flags & AKMP_STATUS_NO_COUNTERS,
	};
	return 0;
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
