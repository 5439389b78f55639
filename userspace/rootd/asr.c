// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * akmctl root asr ...: ASRs, whose members may be at any site, and their
 * epochs. Every change of the live member set makes a new epoch with a
 * fresh key, sealed under the master key; the ASR's row is locked first, so
 * that changes from several instances make their epochs one after another
 * (a change that waited for another's lock fails its serialization and runs
 * again). A deleted ASR's row stays, marked: an ASR made again with its id
 * goes on from its last epoch, never reusing one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "root.h"

/* Lock the ASR's row for this transaction: its next epoch, 0 if there is no such ASR. */
static int64_t asr_lock(struct req *q, uint32_t asr)
{
	return db_int(q->r, -1, "SELECT coalesce((SELECT epoch + 1 FROM asrs WHERE id = $1 "
		      "AND NOT deleted FOR UPDATE), 0)", "u", asr);
}

int asr_new_epoch(struct req *q, uint32_t asr)
{
	uint8_t *key, sealed[AKM_SEALED_LEN(32)];
	PGresult *res;
	int64_t epoch;
	char ad[48];
	int err;

	epoch = asr_lock(q, asr);
	if (epoch <= 0)
		return epoch ? req_db(q) : req_fail(q, 1, "no ASR %u", asr);
	if (epoch > UINT32_MAX)
		return req_fail(q, 1, "ASR %u is out of epochs: make a new ASR with another id",
				asr);
	key = akm_secure_alloc(32);
	if (!key)
		return req_fail(q, 1, "out of memory");
	randombytes_buf(key, 32);
	snprintf(ad, sizeof(ad), "key:%u:%u", asr, (uint32_t)epoch);
	akm_seal(&q->r->master, ad, key, 32, sealed);
	akm_secure_free(key);
	/*
	 * an epoch never activated is superseded, an activated one retired (the
	 * sites hold it through its grace period); no key is kept that is not
	 * needed
	 */
	err = db_exec(q->r, "UPDATE epochs SET state = CASE state WHEN 'pending' THEN "
		      "'superseded' ELSE 'retired' END, key = '' WHERE asr = $1 AND state IN "
		      "('pending', 'active')", "u", asr) < 0 ||
	      db_exec(q->r, "DELETE FROM acks WHERE asr = $1", "u", asr) < 0;
	res = err ? NULL :
		db_q(q->r, "INSERT INTO epochs (asr, epoch, key, members, state) SELECT $1, $2, $3, "
		     "coalesce(array_agg(node ORDER BY node), '{}') , 'pending' FROM members "
		     "WHERE asr = $1 AND state = 'live' RETURNING array_to_string(members, ',')",
		     "uib", asr, epoch, sealed, sizeof(sealed));
	sodium_memzero(sealed, sizeof(sealed));
	if (!res || PQntuples(res) != 1 ||
	    db_exec(q->r, "UPDATE asrs SET epoch = $2 WHERE id = $1", "ui", asr, epoch) != 1 ||
	    db_event(q->r, "epoch-created", "asr %u epoch %u members %s", asr, (uint32_t)epoch,
		     *PQgetvalue(res, 0, 0) ? PQgetvalue(res, 0, 0) : "none"))
		err = req_db(q);
	PQclear(res);
	return err ? q->status : 0;
}

static int asr_id(struct req *q, uint32_t *id)
{
	const char *v = req_next(q);

	if (!v)
		return req_usage(q, "missing ASR_ID");
	if (akm_parse_id(v, id) || *id >= 0x80000000u)
		return req_usage(q, "invalid ASR_ID '%s' (1 to %u; above is for provisioning)", v,
				 0x7fffffffu);
	return 0;
}

static int asr_add(struct req *q)
{
	struct akm_words w = { .argc = q->argc, .argv = q->argv };
	struct akm_asr_opts o;
	uint32_t id;
	int rows;

	if (asr_id(q, &id))
		return q->status;
	w.pos = q->pos;
	if (akm_words_asr(&w, &o))
		return req_usage(q, "%s", w.err);
	/* a deleted ASR of that id comes back with its epochs counted on */
	rows = db_exec(q->r, "INSERT INTO asrs (id, name, alg, policy, grace) VALUES "
		       "($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
		       "alg = excluded.alg, policy = excluded.policy, grace = excluded.grace, "
		       "deleted = false, created = now() WHERE asrs.deleted", "utiiu", id, o.name,
		       (int64_t)o.alg, (int64_t)o.policy, o.grace);
	if (rows < 0)
		return req_db(q);
	if (!rows)
		return req_fail(q, 1, "ASR %u exists", id);
	if (db_event(q->r, "asr-added", "asr %u", id))
		return req_db(q);
	return 0;
}

/* add-member / del-member ASR_ID node NAME */
static int asr_member(struct req *q, bool add)
{
	const char *kw, *name;
	int64_t node, n, epoch;
	uint32_t id;
	int rows;

	if (asr_id(q, &id))
		return q->status;
	kw = req_next(q);
	if (!kw || strcmp(kw, "node"))
		return req_usage(q, kw ? "unknown argument '%s'" : "missing 'node'", kw);
	name = req_value(q, kw);
	if (!name)
		return q->status;
	if (req_next(q))
		return req_usage(q, "unknown argument '%s'", q->argv[q->pos - 1]);
	epoch = asr_lock(q, id);
	if (epoch <= 0)
		return epoch ? req_db(q) : req_fail(q, 1, "no ASR %u", id);
	node = node_by_name(q, name);
	if (node <= 0)
		return node ? req_db(q) : req_fail(q, 1, "no node named '%s'", name);
	if (add) {
		n = db_int(q->r, -1, "SELECT count(*) FROM members WHERE asr = $1 AND "
			   "state = 'live'", "u", id);
		if (n >= ROOT_MEMBERS_MAX)
			return req_fail(q, 1, "ASR %u has %d members already", id,
					ROOT_MEMBERS_MAX);
		n = n < 0 ? n : db_int(q->r, -1, "SELECT count(*) FROM members WHERE node = $1 "
				       "AND state = 'live'", "i", node);
		if (n >= ROOT_ASRS_PER_NODE)
			return req_fail(q, 1, "node '%s' is in %d ASRs already", name,
					ROOT_ASRS_PER_NODE);
		if (n < 0)
			return req_db(q);
		rows = db_exec(q->r, "INSERT INTO members (asr, node, state) VALUES ($1, $2, "
			       "'live') ON CONFLICT (asr, node) DO UPDATE SET state = 'live', "
			       "changed = now() WHERE members.state = 'revoked'", "ui", id, node);
	} else {
		rows = db_exec(q->r, "UPDATE members SET state = 'revoked', changed = now() "
			       "WHERE asr = $1 AND node = $2 AND state = 'live'", "ui", id, node);
		/* what its site reported of it in this ASR is no longer shown */
		if (rows > 0 && db_exec(q->r, "DELETE FROM node_counters WHERE asr = $1 AND "
					"node = $2", "ui", id, node) < 0)
			rows = -1;
	}
	if (rows < 0)
		return req_db(q);
	if (!rows)
		return req_fail(q, 1, add ? "node '%s' is a member of ASR %u already" :
				"node '%s' is not a member of ASR %u", name, id);
	if (db_event(q->r, add ? "member-added" : "member-removed", "asr %u node %lld", id,
		     (long long)node))
		return req_db(q);
	if (asr_new_epoch(q, id))
		return q->status;
	akm_out_obj_open(&q->o, NULL);
	akm_out_uint(&q->o, "asr", "asr", id);
	akm_out_uint(&q->o, "epoch", "epoch", epoch);
	akm_out_str(&q->o, "state", NULL, "pending");
	akm_out_obj_close(&q->o);
	akm_out_text(&q->o, "\n");
	return 0;
}

int asrs_changed(struct req *q, PGresult *res)
{
	int i;

	for (i = 0; res && i < PQntuples(res); i++)
		if (db_event(q->r, "asr-changed", "asr %s", PQgetvalue(res, i, 0)))
			break;
	if (!res || i < PQntuples(res)) {
		PQclear(res);
		return req_db(q);
	}
	PQclear(res);
	return 0;
}

static int asr_del(struct req *q)
{
	uint32_t id;
	int rows;

	if (asr_id(q, &id))
		return q->status;
	if (req_next(q))
		return req_usage(q, "unknown argument '%s'", q->argv[q->pos - 1]);
	rows = db_exec(q->r, "UPDATE asrs SET deleted = true WHERE id = $1 AND NOT deleted", "u",
		       id);
	if (rows < 0)
		return req_db(q);
	if (!rows)
		return req_fail(q, 1, "no ASR %u", id);
	/* its members go; its epochs stay as numbers, without their keys */
	if (db_exec(q->r, "DELETE FROM members WHERE asr = $1", "u", id) < 0 ||
	    db_exec(q->r, "DELETE FROM node_counters WHERE asr = $1", "u", id) < 0 ||
	    db_exec(q->r, "DELETE FROM acks WHERE asr = $1", "u", id) < 0 ||
	    db_exec(q->r, "UPDATE epochs SET state = 'retired', key = '' WHERE asr = $1", "u",
		    id) < 0)
		return req_db(q);
	if (db_event(q->r, "asr-deleted", "asr %u", id))
		return req_db(q);
	return 0;
}

/* An enum's name, or "unknown(N)" for a value this version does not know. */
static const char *enum_name(enum akm_enum e, const char *v, char *buf, size_t len)
{
	const char *name = akm_enum_name(e, atoi(v));

	if (name)
		return name;
	snprintf(buf, len, "unknown(%s)", v);
	return buf;
}

static int show_one(struct req *q, PGresult *asrs, int i)
{
	struct akm_out *o = &q->o;
	const char *id = PQgetvalue(asrs, i, 0);
	PGresult *res, *cnt;
	char buf[32];
	int j;

	akm_out_obj_open(o, NULL);
	akm_out_uint(o, "id", "asr", strtoul(id, NULL, 10));
	if (*PQgetvalue(asrs, i, 1))
		akm_out_str(o, "name", "name", PQgetvalue(asrs, i, 1));
	akm_out_uint(o, "epoch", "epoch", strtoul(PQgetvalue(asrs, i, 5), NULL, 10));
	akm_out_str(o, "alg", "alg", enum_name(AKM_ENUM_ALG, PQgetvalue(asrs, i, 2), buf,
						      sizeof(buf)));
	akm_out_str(o, "policy", "policy", enum_name(AKM_ENUM_POLICY, PQgetvalue(asrs, i, 3),
						     buf, sizeof(buf)));
	akm_out_uint(o, "grace", "grace", strtoul(PQgetvalue(asrs, i, 4), NULL, 10));
	akm_out_text(o, "\n");
	res = db_q(q->r, "SELECT epoch, state FROM epochs WHERE asr = $1 AND state IN "
		   "('pending', 'active') ORDER BY epoch", "t", id);
	if (!res)
		return req_db(q);
	akm_out_arr_open(o, "epochs");
	for (j = 0; j < PQntuples(res); j++) {
		akm_out_obj_open(o, NULL);
		akm_out_text(o, "    ");
		akm_out_uint(o, "epoch", "epoch", strtoul(PQgetvalue(res, j, 0), NULL, 10));
		akm_out_str(o, "state", NULL, PQgetvalue(res, j, 1));
		akm_out_obj_close(o);
		akm_out_text(o, "\n");
	}
	akm_out_arr_close(o);
	PQclear(res);
	res = db_q(q->r, "SELECT n.id, n.name, s.name, n.state, m.state, " NODE_LINK_SQL("st", "s")
		   ", " NODE_CONTACT_SQL("st") ", coalesce(st.left_out, false) FROM members m "
		   "JOIN nodes n ON n.id = m.node JOIN sites s ON s.id = n.site LEFT JOIN "
		   "node_status st ON st.node = n.id WHERE m.asr = $1 ORDER BY m.state, n.id", "t",
		   id);
	cnt = res ? db_q(q->r, "SELECT c.node, c.asr, c.name, c.value FROM node_counters c "
			 "JOIN members m ON m.node = c.node AND m.asr = c.asr WHERE c.asr = $1 "
			 "ORDER BY c.node, c.name COLLATE \"C\"", "t", id) : NULL;
	if (!cnt) {
		PQclear(res);
		return req_db(q);
	}
	akm_out_arr_open(o, "members");
	for (j = 0; j < PQntuples(res); j++) {
		bool revoked = !strcmp(PQgetvalue(res, j, 4), "revoked");
		uint32_t node = strtoul(PQgetvalue(res, j, 0), NULL, 10);

		akm_out_obj_open(o, NULL);
		akm_out_text(o, "    ");
		akm_out_uint(o, "node", "member", node);
		akm_out_str(o, "name", "name", PQgetvalue(res, j, 1));
		akm_out_str(o, "site", "site", PQgetvalue(res, j, 2));
		akm_out_str(o, "state", "state", revoked ? "revoked" : PQgetvalue(res, j, 3));
		status_out(o, res, j, 5);
		counters_out(o, cnt, 0, node, strtoll(id, NULL, 10), "      ");
		akm_out_obj_close(o);
		akm_out_text(o, "\n");
	}
	akm_out_arr_close(o);
	PQclear(res);
	PQclear(cnt);
	akm_out_obj_close(o);
	return 0;
}

static int asr_show(struct req *q)
{
	const char *v = req_next(q);
	PGresult *res;
	uint32_t id = 0;
	int i;

	if (v && (akm_parse_id(v, &id) || id >= 0x80000000u))
		return req_usage(q, "invalid ASR_ID '%s'", v);
	if (v && req_next(q))
		return req_usage(q, "unknown argument '%s'", q->argv[q->pos - 1]);
	res = db_q(q->r, "SELECT id, name, alg, policy, grace, epoch FROM asrs WHERE NOT deleted "
		   "AND ($1 = 0 OR id = $1) ORDER BY id", "u", id);
	if (!res)
		return req_db(q);
	if (id && !PQntuples(res)) {
		PQclear(res);
		return req_fail(q, 1, "no ASR %u", id);
	}
	if (!id)
		akm_out_arr_open(&q->o, NULL);
	for (i = 0; i < PQntuples(res) && !q->status; i++)
		show_one(q, res, i);
	if (!id)
		akm_out_arr_close(&q->o);
	PQclear(res);
	return q->status;
}

int cmd_asr(struct req *q, const char *cmd)
{
	if (!strcmp(cmd, "add"))
		return asr_add(q);
	if (!strcmp(cmd, "add-member"))
		return asr_member(q, true);
	if (!strcmp(cmd, "del-member"))
		return asr_member(q, false);
	if (!strcmp(cmd, "del"))
		return asr_del(q);
	if (!strcmp(cmd, "show"))
		return asr_show(q);
	return req_usage(q, "unknown asr command '%s'; try 'akmctl root help'", cmd);
}
