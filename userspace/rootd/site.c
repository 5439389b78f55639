// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * akmctl root site ...: the sites, each served by one NMM. A site's id is
 * its NMM's node id; sites, nodes and the root share one id space.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "proto.h"
#include "root.h"

/* Is id taken by the root, a site, or a node that is not removed? */
int id_taken(struct req *q, uint32_t id)
{
	int64_t n;

	if (id == q->r->id)
		return req_fail(q, 1, "id %u is the root's own", id);
	n = db_int(q->r, -1, "SELECT (SELECT count(*) FROM sites WHERE id = $1) + "
		   "(SELECT count(*) FROM nodes WHERE id = $1 AND state != 'removed')", "u", id);
	if (n < 0)
		return req_db(q);
	return n ? req_fail(q, 1, "id %u is taken by a site or a node", id) : 0;
}

/* A new random credential, sealed as "cred:<id>" into sealed. */
int new_cred(struct root *r, uint32_t id, uint8_t sealed[AKM_SEALED_LEN(32)])
{
	uint8_t *cred = akm_secure_alloc(32);
	char ad[32];

	if (!cred)
		return -ENOMEM;
	randombytes_buf(cred, 32);
	snprintf(ad, sizeof(ad), "cred:%u", id);
	akm_seal(&r->master, ad, cred, 32, sealed);
	akm_secure_free(cred);
	return 0;
}

static int site_add(struct req *q)
{
	const char *name = req_next(q), *w, *v, *endpoint = NULL;
	uint8_t sealed[AKM_SEALED_LEN(32)];
	char ep[AKM_ADDRSTRLEN + 16], buf[AKM_ADDRSTRLEN];
	uint16_t port = AKMP_PORT;
	struct akm_addr a;
	uint32_t id = 0;
	int err;

	if (!name)
		return req_usage(q, "missing NAME");
	if (!akm_name_ok(name))
		return req_usage(q, "invalid name '%s' (1 to 31 of A-Z a-z 0-9 . _ -)", name);
	while ((w = req_next(q))) {
		v = req_value(q, w);
		if (!v)
			return q->status;
		if (!strcmp(w, "id") && !id) {
			if (akm_parse_id(v, &id) || id >= 0x80000000u)
				return req_usage(q, "invalid id '%s' (1 to %u)", v, 0x7fffffffu);
		} else if (!strcmp(w, "endpoint") && !endpoint) {
			if (akm_endpoint_parse(v, &a, &port))
				return req_usage(q, "invalid endpoint '%s' (ADDR, [ADDR]:PORT or "
						 "a.b.c.d:PORT)", v);
			endpoint = v;
		} else {
			return req_usage(q, "unknown or repeated argument '%s'", w);
		}
	}
	if (!id || !endpoint)
		return req_usage(q, "missing '%s'", !id ? "id" : "endpoint");
	if (a.family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&a.v6)) {	/* one spelling */
		a.family = AF_INET;
		memcpy(&a.v4, &a.v6.s6_addr[12], 4);
	}
	akm_addr_str(&a, buf, sizeof(buf));
	snprintf(ep, sizeof(ep), a.family == AF_INET6 ? "[%s]:%u" : "%s:%u", buf, port);
	if (id_taken(q, id))
		return q->status;
	/* a removed node of that id is forgotten, with its revoked entries */
	if (db_exec(q->r, "DELETE FROM nodes WHERE id = $1 AND state = 'removed'", "u", id) < 0)
		return req_db(q);
	err = db_int(q->r, -1, "SELECT count(*) FROM sites WHERE name = $1", "t", name);
	if (err)
		return err < 0 ? req_db(q) : req_fail(q, 1, "a site named '%s' exists", name);
	if (new_cred(q->r, id, sealed))
		return req_fail(q, 1, "out of memory");
	err = db_exec(q->r, "INSERT INTO sites (id, name, endpoint, cred) VALUES ($1, $2, $3, $4)",
		      "uttb", id, name, ep, sealed, sizeof(sealed));
	sodium_memzero(sealed, sizeof(sealed));
	if (err < 0 || db_event(q->r, "site-added", "site %u name %s endpoint %s", id, name, ep))
		return req_db(q);
	akm_out_obj_open(&q->o, NULL);
	akm_out_str(&q->o, "name", "site", name);
	akm_out_uint(&q->o, "id", "id", id);
	akm_out_str(&q->o, "endpoint", "endpoint", ep);
	akm_out_obj_close(&q->o);
	akm_out_text(&q->o, "\n");
	return 0;
}

static int site_list(struct req *q)
{
	const char *name = req_next(q);
	PGresult *res;
	int i;

	if (name && req_next(q))
		return req_usage(q, "unknown argument '%s'", q->argv[q->pos - 1]);
	res = db_q(q->r, "SELECT s.id, s.name, s.endpoint, s.state, "
		   "(SELECT count(*) FROM nodes n WHERE n.site = s.id AND n.state != 'removed'), "
		   "coalesce(to_char(s.last_contact AT TIME ZONE 'UTC', "
		   "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'never') "
		   "FROM sites s WHERE $1::text IS NULL OR s.name = $1 ORDER BY s.id", "t", name);
	if (!res)
		return req_db(q);
	if (name && !PQntuples(res)) {
		PQclear(res);
		return req_fail(q, 1, "no site named '%s'", name);
	}
	akm_out_arr_open(&q->o, NULL);
	for (i = 0; i < PQntuples(res); i++) {
		akm_out_obj_open(&q->o, NULL);
		akm_out_str(&q->o, "name", "site", PQgetvalue(res, i, 1));
		akm_out_uint(&q->o, "id", "id", strtoul(PQgetvalue(res, i, 0), NULL, 10));
		akm_out_str(&q->o, "endpoint", "endpoint", PQgetvalue(res, i, 2));
		akm_out_str(&q->o, "state", "state", PQgetvalue(res, i, 3));
		akm_out_uint(&q->o, "nodes", "nodes", strtoul(PQgetvalue(res, i, 4), NULL, 10));
		akm_out_str(&q->o, "last_contact", "last-contact", PQgetvalue(res, i, 5));
		akm_out_obj_close(&q->o);
		akm_out_text(&q->o, "\n");
	}
	akm_out_arr_close(&q->o);
	PQclear(res);
	return 0;
}

static int site_del(struct req *q)
{
	const char *name = req_next(q);
	int64_t id, nodes;

	if (!name)
		return req_usage(q, "missing NAME");
	if (req_next(q))
		return req_usage(q, "unknown argument '%s'", q->argv[q->pos - 1]);
	id = db_int(q->r, -1, "SELECT coalesce((SELECT id FROM sites WHERE name = $1), 0)", "t",
		    name);
	if (id <= 0)
		return id ? req_db(q) : req_fail(q, 1, "no site named '%s'", name);
	nodes = db_int(q->r, -1, "SELECT count(*) FROM nodes WHERE site = $1 AND "
		       "state != 'removed'", "i", id);
	if (nodes)
		return nodes < 0 ? req_db(q) :
			req_fail(q, 1, "site '%s' has %lld nodes: delete them first", name,
				 (long long)nodes);
	/* its removed nodes are forgotten, with their revoked entries */
	if (db_exec(q->r, "DELETE FROM nodes WHERE site = $1", "i", id) < 0 ||
	    db_exec(q->r, "DELETE FROM sites WHERE id = $1", "i", id) != 1 ||
	    db_event(q->r, "site-removed", "site %lld name %s", (long long)id, name))
		return req_db(q);
	return 0;
}

int cmd_site(struct req *q, const char *cmd)
{
	if (!strcmp(cmd, "add"))
		return site_add(q);
	if (!strcmp(cmd, "list") || !strcmp(cmd, "show"))
		return site_list(q);
	if (!strcmp(cmd, "del"))
		return site_del(q);
	return req_usage(q, "unknown site command '%s'; try 'akmctl root help'", cmd);
}
