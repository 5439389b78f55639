// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * akmctl root node ...: the nodes of every site. A node's credential is made
 * here; an address has one owner (a kernel keeps an address for one member),
 * which the addrs table's primary key enforces across instances.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "root.h"

/* Node id of a node that is not removed, by name; 0 if none, -1 on error. */
int64_t node_by_name(struct req *q, const char *name)
{
	return db_int(q->r, -1, "SELECT coalesce((SELECT id FROM nodes WHERE name = $1 AND "
		      "state != 'removed'), 0)", "t", name);
}

/* Refuse an address of addrs owned by a node that is not removed; take it from a removed one. */
static int claim_addrs(struct req *q, const char *addrs)
{
	PGresult *res;
	int err = 0;

	res = db_q(q->r, "SELECT a.addr, n.name, n.id FROM addrs a JOIN nodes n ON n.id = a.node "
		   "WHERE a.addr = ANY (string_to_array($1, ' ')::inet[]) AND n.state != 'removed' "
		   "ORDER BY a.addr LIMIT 1", "t", addrs);
	if (!res)
		return req_db(q);
	if (PQntuples(res))
		err = req_fail(q, 1, "address %s belongs to node '%s' (id %s)",
			       PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2));
	PQclear(res);
	if (!err && db_exec(q->r, "DELETE FROM addrs WHERE addr = ANY (string_to_array($1, ' ')"
			    "::inet[])", "t", addrs) < 0)
		err = req_db(q);
	return err;
}

static int node_add(struct req *q)
{
	const char *name = req_next(q), *w, *v, *site = NULL;
	char addrs[AKM_ADDRS_TEXT_MAX];
	uint8_t sealed[AKM_SEALED_LEN(32)];
	int64_t site_id, n;
	uint32_t id = 0;
	int err;

	if (!name)
		return req_usage(q, "missing NAME");
	if (!akm_name_ok(name))
		return req_usage(q, "invalid name '%s' (1 to 31 of A-Z a-z 0-9 . _ -)", name);
	while ((w = req_next(q)) && strcmp(w, "addr")) {
		v = req_value(q, w);
		if (!v)
			return q->status;
		if (!strcmp(w, "id") && !id) {
			if (akm_parse_id(v, &id) || id >= 0x80000000u)
				return req_usage(q, "invalid id '%s' (1 to %u)", v, 0x7fffffffu);
		} else if (!strcmp(w, "site") && !site) {
			site = v;
		} else {
			return req_usage(q, "unknown or repeated argument '%s'", w);
		}
	}
	if (w)
		q->pos--;	/* addr ... */
	if (!id || !site)
		return req_usage(q, "missing '%s'", !id ? "id" : "site");
	if (req_addrs(q, addrs))
		return q->status;
	site_id = db_int(q->r, -1, "SELECT coalesce((SELECT id FROM sites WHERE name = $1), 0)",
			 "t", site);
	if (site_id <= 0)
		return site_id ? req_db(q) : req_fail(q, 1, "no site named '%s'", site);
	if (id_taken(q, id))
		return q->status;
	n = node_by_name(q, name);
	if (n)
		return n < 0 ? req_db(q) : req_fail(q, 1, "a node named '%s' exists", name);
	n = db_int(q->r, -1, "SELECT count(*) FROM nodes WHERE site = $1 AND state != 'removed'",
		   "i", site_id);
	if (n < 0)
		return req_db(q);
	if (n >= ROOT_SITE_NODES_MAX)
		return req_fail(q, 1, "site '%s' has %d nodes, its NMM kernel's limit", site,
				ROOT_SITE_NODES_MAX);
	/*
	 * A removed node of that id or name is forgotten, with its revoked
	 * entries, and so are removed nodes' entries of the addresses: the
	 * sites get those lists again.
	 */
	if (asrs_changed(q, db_q(q->r, "SELECT DISTINCT asr FROM members WHERE node IN "
				 "(SELECT id FROM nodes WHERE (id = $1 OR name = $2) AND "
				 "state = 'removed') OR node IN (SELECT node FROM addrs WHERE "
				 "addr = ANY (string_to_array($3, ' ')::inet[]))", "utt", id, name,
				 addrs)))
		return q->status;
	if (db_exec(q->r, "DELETE FROM nodes WHERE (id = $1 OR name = $2) AND state = 'removed'",
		    "ut", id, name) < 0)
		return req_db(q);
	if (claim_addrs(q, addrs))
		return q->status;
	if (new_cred(q->r, id, sealed))
		return req_fail(q, 1, "out of memory");
	err = db_exec(q->r, "INSERT INTO nodes (id, name, site, cred) VALUES ($1, $2, $3, $4)",
		      "utib", id, name, site_id, sealed, sizeof(sealed));
	sodium_memzero(sealed, sizeof(sealed));
	if (err < 0 ||
	    db_exec(q->r, "INSERT INTO addrs (addr, node) SELECT unnest(string_to_array($1, ' ')"
		    "::inet[]), $2", "tu", addrs, id) < 0 ||
	    db_event(q->r, "node-added", "node %u name %s site %s", id, name, site))
		return req_db(q);
	akm_out_obj_open(&q->o, NULL);
	akm_out_str(&q->o, "name", "node", name);
	akm_out_uint(&q->o, "id", "id", id);
	akm_out_str(&q->o, "site", "site", site);
	akm_out_obj_close(&q->o);
	akm_out_text(&q->o, "\n");
	return 0;
}

static int node_list(struct req *q)
{
	const char *name = req_next(q);
	PGresult *res, *cnt;
	char *addrs, *tok, *save;
	int i, j = 0;

	if (name && req_next(q))
		return req_usage(q, "unknown argument '%s'", q->argv[q->pos - 1]);
	res = db_q(q->r, "SELECT n.id, n.name, s.name, n.state, "
		   "coalesce((SELECT string_agg(host(a.addr), ' ' ORDER BY a.addr) FROM addrs a "
		   "WHERE a.node = n.id), ''), "
		   "(SELECT count(*) FROM members m WHERE m.node = n.id AND m.state = 'live'), "
		   NODE_LINK_SQL("st", "s") ", " NODE_CONTACT_SQL("st") ", coalesce(st.left_out, "
		   "false) FROM nodes n JOIN sites s ON s.id = n.site LEFT JOIN node_status st ON "
		   "st.node = n.id WHERE n.state != 'removed' AND ($1::text IS NULL OR "
		   "n.name = $1) ORDER BY n.id", "t", name);
	if (!res)
		return req_db(q);
	if (name && !PQntuples(res)) {
		PQclear(res);
		return req_fail(q, 1, "no node named '%s'", name);
	}
	/* the counters of all of them, in the same order: one query */
	cnt = db_q(q->r, "SELECT c.node, c.asr, c.name, c.value FROM node_counters c JOIN nodes n "
		   "ON n.id = c.node WHERE n.state != 'removed' AND ($1::text IS NULL OR "
		   "n.name = $1) ORDER BY c.node, c.asr, c.name COLLATE \"C\"", "t", name);
	if (!cnt) {
		PQclear(res);
		return req_db(q);
	}
	akm_out_arr_open(&q->o, NULL);
	for (i = 0; i < PQntuples(res); i++) {
		uint32_t id = strtoul(PQgetvalue(res, i, 0), NULL, 10);

		akm_out_obj_open(&q->o, NULL);
		akm_out_str(&q->o, "name", "node", PQgetvalue(res, i, 1));
		akm_out_uint(&q->o, "id", "id", id);
		akm_out_str(&q->o, "site", "site", PQgetvalue(res, i, 2));
		akm_out_str(&q->o, "state", "state", PQgetvalue(res, i, 3));
		akm_out_uint(&q->o, "asrs", "asrs", strtoul(PQgetvalue(res, i, 5), NULL, 10));
		status_out(&q->o, res, i, 6);
		addrs = strdup(PQgetvalue(res, i, 4));
		if (!addrs) {	/* whole or not at all */
			PQclear(res);
			PQclear(cnt);
			return req_fail(q, 1, "out of memory");
		}
		akm_out_arr_open(&q->o, "addrs");
		for (tok = strtok_r(addrs, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
			akm_out_str(&q->o, NULL, "addr", tok);
		free(addrs);
		akm_out_arr_close(&q->o);
		j = counters_out(&q->o, cnt, j, id, -1, "    ");
		akm_out_obj_close(&q->o);
		akm_out_text(&q->o, "\n");
	}
	akm_out_arr_close(&q->o);
	PQclear(res);
	PQclear(cnt);
	return 0;
}

int rekey_node_asrs(struct req *q, const char *sql, int64_t node, int *k)
{
	PGresult *res = db_q(q->r, sql, "i", node);
	int i;

	if (!res)
		return req_db(q);
	*k = PQntuples(res);
	for (i = 0; i < *k; i++)
		if (asr_new_epoch(q, strtoul(PQgetvalue(res, i, 0), NULL, 10)))
			break;
	PQclear(res);
	return i == *k ? 0 : q->status;
}

/* NAME, the last word: the node's id, or 0 with q->status set. */
static int64_t node_arg(struct req *q, const char **name)
{
	int64_t id;

	*name = req_next(q);
	if (!*name) {
		req_usage(q, "missing NAME");
		return 0;
	}
	if (req_next(q)) {
		req_usage(q, "unknown argument '%s'", q->argv[q->pos - 1]);
		return 0;
	}
	id = node_by_name(q, *name);
	if (id <= 0) {
		if (id)
			req_db(q);
		else
			req_fail(q, 1, "no node named '%s'", *name);
		return 0;
	}
	return id;
}

int node_remove(struct req *q, int64_t id, const char *name, uint32_t site)
{
	int k;

	if (rekey_node_asrs(q, "UPDATE members SET state = 'revoked', changed = now() "
			    "WHERE node = $1 AND state = 'live' RETURNING asr", id, &k))
		return q->status;
	if (db_exec(q->r, "DELETE FROM node_status WHERE node = $1", "i", id) < 0 ||
	    db_exec(q->r, "DELETE FROM node_counters WHERE node = $1", "i", id) < 0 ||
	    db_exec(q->r, "UPDATE nodes SET state = 'removed', cred = NULL WHERE id = $1", "i",
		    id) != 1 ||
	    (site ? db_event(q->r, "node-removed", "node %lld name %s by site %u", (long long)id,
			     name, site) :
	     db_event(q->r, "node-removed", "node %lld name %s", (long long)id, name)))
		return req_db(q);
	return 0;
}

/* Revoke the node in every ASR it is a live member of: a new epoch each. */
static int node_del(struct req *q)
{
	const char *name;
	int64_t id = node_arg(q, &name);

	return id ? node_remove(q, id, name, 0) : q->status;
}

/* node rekey NAME: a new epoch of every ASR the node is a live member of (a new kernel) */
static int node_rekey(struct req *q)
{
	const char *name;
	int64_t id = node_arg(q, &name);
	int k;

	if (!id || rekey_node_asrs(q, "SELECT asr FROM members WHERE node = $1 AND "
				   "state = 'live' ORDER BY asr", id, &k))
		return q->status;
	if (db_event(q->r, "node-rekeyed", "node %lld asrs %d", (long long)id, k))
		return req_db(q);
	akm_out_obj_open(&q->o, NULL);
	akm_out_str(&q->o, "name", "node", name);
	akm_out_uint(&q->o, "asrs", "rekeyed", k);
	akm_out_obj_close(&q->o);
	akm_out_text(&q->o, "\n");
	return 0;
}

int cmd_node(struct req *q, const char *cmd)
{
	if (!strcmp(cmd, "add"))
		return node_add(q);
	if (!strcmp(cmd, "list") || !strcmp(cmd, "show"))
		return node_list(q);
	if (!strcmp(cmd, "del"))
		return node_del(q);
	if (!strcmp(cmd, "rekey"))
		return node_rekey(q);
	return req_usage(q, "unknown node command '%s'; try 'akmctl root help'", cmd);
}
