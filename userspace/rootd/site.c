// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * akmctl root site ...: the sites, each served by one NMM. A site's id is
 * its NMM's node id; sites, nodes and the root share one id space.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>

#include "bundle.h"
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
	char ep[AKM_ADDRSTRLEN + 16], buf[AKM_ADDRSTRLEN], prefix[AKM_ADDRSTRLEN + 4];
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
	akm_addr_unmap(&a);	/* one spelling */
	akm_addr_str(&a, buf, sizeof(buf));
	snprintf(ep, sizeof(ep), a.family == AF_INET6 ? "[%s]:%u" : "%s:%u", buf, port);
	if (id_taken(q, id))
		return q->status;
	/* the root's kernel has an address for one member: one site per address */
	snprintf(prefix, sizeof(prefix), a.family == AF_INET6 ? "[%s]:" : "%s:", buf);
	err = db_int(q->r, -1, "SELECT count(*) FROM sites WHERE starts_with(endpoint, $1)", "t",
		     prefix);
	if (err)
		return err < 0 ? req_db(q) :
			req_fail(q, 1, "another site's endpoint has the address %s", buf);
	/* a removed node of that id is forgotten, with its revoked entries */
	if (asrs_changed(q, db_q(q->r, "SELECT DISTINCT asr FROM members WHERE node IN "
				 "(SELECT id FROM nodes WHERE id = $1 AND state = 'removed')", "u",
				 id)))
		return q->status;
	if (db_exec(q->r, "DELETE FROM nodes WHERE id = $1 AND state = 'removed'", "u", id) < 0)
		return req_db(q);
	err = db_int(q->r, -1, "SELECT count(*) FROM sites WHERE name = $1", "t", name);
	if (err)
		return err < 0 ? req_db(q) : req_fail(q, 1, "a site named '%s' exists", name);
	err = db_int(q->r, -1, "SELECT count(*) FROM sites", "");
	if (err >= ROOT_SITES_MAX)
		return req_fail(q, 1, "%d sites already: the most an instance's kernel can serve",
				ROOT_SITES_MAX);
	if (err < 0)
		return req_db(q);
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
		   "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'never'), "
		   "s.up AND coalesce(s.last_contact > now() - make_interval(secs => $2), false) "
		   "FROM sites s WHERE $1::text IS NULL OR s.name = $1 ORDER BY s.id", "ti", name,
		   (int64_t)ROOT_OFFLINE_AFTER);
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
		akm_out_str(&q->o, "link", "link",
			    *PQgetvalue(res, i, 6) == 't' ? "online" : "offline");
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
	if (asrs_changed(q, db_q(q->r, "SELECT DISTINCT asr FROM members WHERE node IN "
				 "(SELECT id FROM nodes WHERE site = $1)", "i", id)))
		return q->status;
	if (db_exec(q->r, "DELETE FROM nodes WHERE site = $1", "i", id) < 0 ||
	    db_exec(q->r, "DELETE FROM sites WHERE id = $1", "i", id) != 1 ||
	    db_event(q->r, "site-removed", "site %lld name %s", (long long)id, name))
		return req_db(q);
	return 0;
}

/*
 * The site's bundle (protocol.md, Step 1-2, one level up): its credential
 * for its NMM to import, with the root's id and the address of the
 * instance it connects to, sealed with a new transfer code.
 */
static int site_export(struct req *q)
{
	const char *name = req_next(q), *w, *v, *path = NULL, *endpoint = NULL;
	struct akm_bundle b = { .nmm_id = q->r->id, .nmm_port = q->r->port };
	struct akm_addr a = q->r->listen_addr;
	uint8_t sealed[AKM_SEALED_LEN(32)], *cred;
	char code[AKM_CODE_LEN + 1], msg[256] = "", ad[32];
	PGresult *res;
	int err;

	if (!name)
		return req_usage(q, "missing NAME");
	while ((w = req_next(q))) {
		v = req_value(q, w);
		if (!v)
			return q->status;
		if (!strcmp(w, "file") && !path)
			path = v;
		else if (!strcmp(w, "endpoint") && !endpoint)
			endpoint = v;
		else
			return req_usage(q, "unknown or repeated argument '%s'", w);
	}
	if (!path)
		return req_usage(q, "missing 'file'");
	if (path[0] != '/')	/* akmctl writes it, and names it by its absolute path */
		return req_usage(q, "'file %s' is a relative path: give an absolute one", path);
	if (endpoint && akm_endpoint_parse(endpoint, &a, &b.nmm_port))
		return req_usage(q, "invalid endpoint '%s' (ADDR, [ADDR]:PORT or a.b.c.d:PORT)",
				 endpoint);
	if (!endpoint && !q->r->nl)
		return req_fail(q, 1, "this instance does not listen for sites (--listen): give "
				"'endpoint ADDR[:PORT]' of one that does");
	if ((a.family == AF_INET && !a.v4.s_addr) ||
	    (a.family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&a.v6)))
		return req_fail(q, 1, "this instance listens on a wildcard address: give "
				"'endpoint ADDR[:PORT]' for the site's NMM to connect to");
	res = db_q(q->r, "SELECT id, cred FROM sites WHERE name = $1", "t", name);
	if (!res)
		return req_db(q);
	err = PQntuples(res) == 1 ? db_bytes(res, 0, 1, sealed, sizeof(sealed)) : -ENOENT;
	if (!err)
		b.node_id = strtoul(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	if (err)
		return req_fail(q, 1, err == -ENOENT ? "no site named '%s'" :
				"site '%s': its credential in the database is damaged", name);
	akmp_addr_put(&a, b.nmm_addr.s6_addr);
	b.created = time(NULL);
	q->file = malloc(AKM_BUNDLE_LEN);
	q->file_len = q->file ? AKM_BUNDLE_LEN : 0;
	cred = akm_secure_alloc(32);
	snprintf(ad, sizeof(ad), "cred:%u", b.node_id);
	if (!q->file || !cred)
		err = -ENOMEM;
	else if (akm_unseal(&q->r->master, ad, sealed, sizeof(sealed), cred, 32))
		err = -EKEYREJECTED;
	else
		err = akm_bundle_make(&b, cred, code, q->file, msg, sizeof(msg));
	akm_secure_free(cred);
	if (err)
		return req_fail(q, 1, "cannot export site '%s': %s", name,
				*msg ? msg : strerror(-err));
	if (db_event(q->r, "site-exported", "site %u file \"%s\"", b.node_id, path)) {
		sodium_memzero(code, sizeof(code));
		return req_db(q);
	}
	akm_out_obj_open(&q->o, NULL);
	akm_out_str(&q->o, "name", "site", name);
	akm_out_uint(&q->o, "id", "id", b.node_id);
	akm_out_str(&q->o, "file", "file", path);
	akm_out_text(&q->o, "\n");
	akm_out_str(&q->o, "code", "transfer code", code);
	akm_out_text(&q->o, "\n");
	akm_out_obj_close(&q->o);
	sodium_memzero(code, sizeof(code));
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
	if (!strcmp(cmd, "export"))
		return site_export(q);
	return req_usage(q, "unknown site command '%s'; try 'akmctl root help'", cmd);
}
