// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The instances a site may connect to (root.md, "Several instances for a
 * site"): each instance that listens on an address a site can reach
 * writes it to the database when it starts and every ROOT_SITES_REFRESH
 * seconds, and deletes it at a clean stop. A site whose NMM takes them
 * (HELLO FLAGS) is sent the instances seen in the last ROOT_INSTANCE_TTL
 * seconds (INSTANCES: this one first, the others in a stable order turned
 * by the site's id, so that the sites of an instance that goes do not all
 * move to the same next one; at most AKMP_INSTANCES_MAX) at the start of
 * its session and whenever the list changes; its NMM tries them in turn.
 * instance list shows them, instance del forgets one that is gone.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "link.h"

/* This instance's endpoint, if it is one a site can connect to. */
static bool advertised(const struct root *r, struct akmp_endpoint *self)
{
	*self = (struct akmp_endpoint){ .addr = r->listen_addr, .port = r->port };
	return r->nl && akmp_endpoint_usable(self);
}

/* The list from the database into r->inst, this instance first: 0 or -EIO. */
static int instances_get(struct root *r)
{
	struct akmp_endpoint self;
	char a[AKM_ADDRSTRLEN];
	bool own = advertised(r, &self);
	PGresult *res;
	int i, k = 0;

	res = db_q(r, "SELECT host(addr), port FROM instances WHERE seen > now() - "
		   "make_interval(secs => $3) AND seen < now() + interval '1 minute' ORDER BY "
		   "coalesce(addr = $1::inet AND port = $2, false) DESC, addr, port LIMIT $4",
		   "tiii", own ? akm_addr_str(&self.addr, a, sizeof(a)) : NULL,
		   (int64_t)r->port, (int64_t)ROOT_INSTANCE_TTL, (int64_t)AKMP_INSTANCES_MAX);
	if (!res)
		return -EIO;
	for (i = 0; i < PQntuples(res); i++)
		if (!akm_addr_parse(PQgetvalue(res, i, 0), &r->inst[k].addr))
			r->inst[k++].port = atoi(PQgetvalue(res, i, 1));
	PQclear(res);
	r->ninst = k;
	r->inst_self = own && k && akmp_endpoint_eq(&r->inst[0], &self);
	return 0;
}

static void send_list(struct root *r, struct link *l)
{
	int first = r->inst_self, others = r->ninst - first, i;
	struct akmp_buf b = { 0 };

	if (!(l->hs.flags & AKMP_FLAG_INSTANCES))
		return;		/* an NMM that does not know the message */
	akmp_begin(&b, AKMP_INSTANCES);
	if (first)
		akmp_put_endpoint(&b, &r->inst[0]);
	for (i = 0; i < others; i++)
		akmp_put_endpoint(&b, &r->inst[first + (i + l->hs.node) % others]);
	if (!akmp_end(&b))
		link_send(l, &b);
	akmp_buf_free(&b);
}

void instances_send(struct root *r, struct link *l)
{
	if (r->ninst >= 0 || !instances_get(r))
		send_list(r, l);
}

void instances_tick(struct root *r)
{
	struct akmp_endpoint was[AKMP_INSTANCES_MAX], self;
	int nwas = r->ninst, i;
	char a[AKM_ADDRSTRLEN];
	struct link *l;

	if (advertised(r, &self))
		db_exec(r, "INSERT INTO instances (addr, port) VALUES ($1, $2) ON CONFLICT "
			"(addr, port) DO UPDATE SET seen = now()", "ti",
			akm_addr_str(&self.addr, a, sizeof(a)), (int64_t)self.port);
	db_exec(r, "DELETE FROM instances WHERE seen < now() - make_interval(secs => $1)", "i",
		(int64_t)ROOT_INSTANCE_TTL);
	for (i = 0; i < nwas; i++)
		was[i] = r->inst[i];
	if (instances_get(r))
		return;
	for (i = 0; i < nwas && nwas == r->ninst; i++)
		if (!akmp_endpoint_eq(&was[i], &r->inst[i]))
			break;
	if (nwas == r->ninst && i == nwas)
		return;
	for (l = r->links; l; l = l->next)
		if (l->state == LS_UP)
			send_list(r, l);
}

void instances_stop(struct root *r)
{
	struct akmp_endpoint self;
	char a[AKM_ADDRSTRLEN];

	if (r->pg && advertised(r, &self))
		db_exec(r, "DELETE FROM instances WHERE addr = $1 AND port = $2", "ti",
			akm_addr_str(&self.addr, a, sizeof(a)), (int64_t)self.port);
}

/* ---- instance list, instance del ADDR[:PORT] ---- */

#define INSTANCE_RUNNING	(2 * ROOT_SITES_REFRESH)	/* s: seen since, it runs */

/*
 * SQL: an instance's state by its row: running (seen in the last
 * INSTANCE_RUNNING s, $1), silent (offered to the sites until
 * ROOT_INSTANCE_TTL s, $2), expired (no longer offered), ahead (seen more
 * than a minute ahead of the database's clock: not offered either).
 */
#define INSTANCE_STATE_SQL "CASE WHEN seen >= now() + interval '1 minute' THEN 'ahead' " \
	"WHEN seen > now() - make_interval(secs => $1) THEN 'running' WHEN seen > now() - " \
	"make_interval(secs => $2) THEN 'silent' ELSE 'expired' END"

static int instance_list(struct req *q)
{
	PGresult *res;
	int i;

	if (req_next(q))
		return req_usage(q, "unknown argument '%s'", q->argv[q->pos - 1]);
	res = db_q(q->r, "SELECT host(addr), port, to_char(seen AT TIME ZONE 'UTC', "
		   "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), " INSTANCE_STATE_SQL " FROM instances "
		   "ORDER BY addr, port", "ii", (int64_t)INSTANCE_RUNNING,
		   (int64_t)ROOT_INSTANCE_TTL);
	if (!res)
		return req_db(q);
	akm_out_arr_open(&q->o, NULL);
	for (i = 0; i < PQntuples(res); i++) {
		akm_out_obj_open(&q->o, NULL);
		akm_out_str(&q->o, "addr", "instance", PQgetvalue(res, i, 0));
		akm_out_uint(&q->o, "port", "port", strtoul(PQgetvalue(res, i, 1), NULL, 10));
		akm_out_str(&q->o, "state", "state", PQgetvalue(res, i, 3));
		akm_out_str(&q->o, "last_seen", "last-seen", PQgetvalue(res, i, 2));
		akm_out_obj_close(&q->o);
		akm_out_text(&q->o, "\n");
	}
	akm_out_arr_close(&q->o);
	PQclear(res);
	return 0;
}

/*
 * An instance that is gone without a clean stop (its machine lost) is no
 * longer offered to the sites. One that runs would write itself again:
 * refused, and so is this one.
 */
static int instance_del(struct req *q)
{
	const char *ep = req_next(q);
	char a[AKM_ADDRSTRLEN], state[16];
	struct akmp_endpoint self, e = { .port = AKMP_PORT };
	PGresult *res;

	if (!ep)
		return req_usage(q, "missing ADDR[:PORT]");
	if (req_next(q))
		return req_usage(q, "unknown argument '%s'", q->argv[q->pos - 1]);
	if (akm_endpoint_parse(ep, &e.addr, &e.port))
		return req_usage(q, "invalid instance '%s' (ADDR, [ADDR]:PORT or a.b.c.d:PORT)",
				 ep);
	akm_addr_unmap(&e.addr);
	akm_addr_str(&e.addr, a, sizeof(a));
	if (advertised(q->r, &self) && akmp_endpoint_eq(&self, &e))
		return req_fail(q, 1, "%s port %u is this instance: stop it (a clean stop "
				"removes it)", a, e.port);
	res = db_q(q->r, "SELECT " INSTANCE_STATE_SQL " FROM instances WHERE addr = $3::inet "
		   "AND port = $4", "iiti", (int64_t)INSTANCE_RUNNING,
		   (int64_t)ROOT_INSTANCE_TTL, a, (int64_t)e.port);
	if (!res)
		return req_db(q);
	snprintf(state, sizeof(state), "%s", PQntuples(res) ? PQgetvalue(res, 0, 0) : "");
	PQclear(res);
	if (!*state)
		return req_fail(q, 1, "no instance at %s port %u (an IPv6 address with a port: "
				"[ADDR]:PORT)", a, e.port);
	if (!strcmp(state, "running"))
		return req_fail(q, 1, "the instance at %s port %u was seen in the last %d s: it "
				"runs; stop it (a clean stop removes it)", a, e.port,
				INSTANCE_RUNNING);
	if (db_exec(q->r, "DELETE FROM instances WHERE addr = $1::inet AND port = $2", "ti", a,
		    (int64_t)e.port) < 0 ||
	    db_event(q->r, "instance-removed", "instance %s port %u", a, e.port))
		return req_db(q);
	return 0;
}

int cmd_instance(struct req *q, const char *cmd)
{
	if (!strcmp(cmd, "list"))
		return instance_list(q);
	if (!strcmp(cmd, "del"))
		return instance_del(q);
	return req_usage(q, "unknown instance command '%s'; try 'akmctl root help'", cmd);
}
