// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * What a site asks of the root over its session (root.md, "Site
 * synchronisation", "Autonomy"): REKEY (new epochs for a node's new kernel,
 * an ESTALE answer, a site's store ahead of the database), REMOVE (a node
 * removed at its site) and ACK (its members installed an epoch). Each runs
 * as a change of the database (admin_run()), checked inside its
 * transaction; at most REKEYS_PER_SEC REKEYs and REMOVEs and ACKS_PER_SEC
 * ACKs a second per site.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "link.h"

#define REKEYS_PER_SEC	4		/* REKEYs and REMOVEs taken from a site per second */
#define ACKS_PER_SEC	64		/* ACKs taken from a site per second */
/*
 * link remove SITE NODE TAG (the sites' link only): the node was removed at
 * its site; removed here as 'node del' does, if it is that site's node of
 * that credential (TAG, akm_remove_tag()): its id may be another's now.
 */
static int link_remove(struct req *q)
{
	uint8_t sealed[AKM_SEALED_LEN(32)], tag[32], mine[32], *cred;
	const char *w[3];
	char name[AKM_NAME_MAX + 1], ad[32];
	uint32_t site, node;
	PGresult *res;
	size_t len;
	int i, err;

	for (i = 0; i < 3; i++)
		w[i] = req_next(q);
	if (!w[2] || req_next(q) || akm_parse_id(w[0], &site) || akm_parse_id(w[1], &node) ||
	    sodium_hex2bin(tag, sizeof(tag), w[2], strlen(w[2]), NULL, &len, NULL) ||
	    len != sizeof(tag))
		return req_usage(q, "link remove: bad arguments");
	res = db_q(q->r, "SELECT name, cred FROM nodes WHERE id = $1 AND site = $2 AND "
		   "state != 'removed'", "uu", node, site);
	if (!res)
		return req_db(q);
	err = PQntuples(res) == 1 ? db_bytes(res, 0, 1, sealed, sizeof(sealed)) : -ENOENT;
	snprintf(name, sizeof(name), "%s", err ? "" : PQgetvalue(res, 0, 0));
	PQclear(res);
	cred = err ? NULL : akm_secure_alloc(32);
	snprintf(ad, sizeof(ad), "cred:%u", node);
	if (!err && (!cred || akm_unseal(&q->r->master, ad, sealed, sizeof(sealed), cred, 32)))
		err = -EBADMSG;
	if (!err) {
		akm_remove_tag(cred, site, node, mine);
		if (sodium_memcmp(mine, tag, sizeof(tag)))
			err = -ESTALE;
	}
	akm_secure_free(cred);
	sodium_memzero(sealed, sizeof(sealed));
	if (err == -ENOENT)
		return req_fail(q, 1, "node %u is not one of site %u's", node, site);
	if (err)
		return req_fail(q, 1, "node %u of site %u: %s", node, site, err == -ESTALE ?
				"another node has its id now" : "its credential does not open");
	return node_remove(q, node, name, site);
}

/*
 * link ack SITE ASR EPOCH (the sites' link only): the site's online members
 * of the ASR installed EPOCH, its current epoch. Once every site with a
 * live member and a session up that sends ACKs did, the epoch is activated
 * (state 'active', event epoch-activated: each site holding it gets
 * ACTIVATE).
 * An older epoch, or an ASR without a live member at the site: nothing.
 */
static int link_ack(struct req *q, const uint32_t v[3])
{
	int64_t rows;

	rows = db_int(q->r, -1, "SELECT count(*) FROM asrs a JOIN epochs e ON e.asr = a.id AND "
		      "e.epoch = a.epoch WHERE a.id = $1 AND a.epoch = $2 AND NOT a.deleted AND "
		      "e.state = 'pending' AND EXISTS (SELECT 1 FROM members m JOIN nodes n ON "
		      "n.id = m.node WHERE m.asr = a.id AND m.state = 'live' AND n.site = $3)",
		      "uiu", v[1], (int64_t)v[2], v[0]);
	if (rows != 1)
		return rows < 0 ? req_db(q) : 0;
	/* not worth waiting for a synchronous standby: a lost ACK costs the deadline */
	if (db_exec(q->r, "SET LOCAL synchronous_commit = local", "") < 0 ||
	    db_exec(q->r, "INSERT INTO acks (asr, epoch, site) VALUES ($1, $2, $3) ON CONFLICT "
		    "DO NOTHING", "uiu", v[1], (int64_t)v[2], v[0]) < 0)
		return req_db(q);
	rows = db_int(q->r, -1, "SELECT count(*) FROM sites s WHERE s.up AND s.acks = s.session "
		      "AND s.last_contact > "
		      "now() - make_interval(secs => $3) AND EXISTS (SELECT 1 FROM members m JOIN "
		      "nodes n ON n.id = m.node WHERE m.asr = $1 AND m.state = 'live' AND "
		      "n.site = s.id) AND NOT EXISTS (SELECT 1 FROM acks k WHERE k.asr = $1 AND "
		      "k.epoch = $2 AND k.site = s.id)", "uii", v[1], (int64_t)v[2],
		      (int64_t)ROOT_OFFLINE_AFTER);
	if (rows)
		return rows < 0 ? req_db(q) : 0;	/* others to come */
	if (db_exec(q->r, "UPDATE epochs SET state = 'active' WHERE asr = $1 AND epoch = $2",
		    "ui", v[1], (int64_t)v[2]) != 1 ||
	    db_exec(q->r, "DELETE FROM acks WHERE asr = $1", "u", v[1]) < 0 ||
	    db_event(q->r, "epoch-activated", "asr %u epoch %u", v[1], v[2]))
		return req_db(q);
	return 0;
}

/*
 * link rekey SITE NODE (the sites' link only): a new epoch of every ASR
 * the node of that site is a live member of (its kernel is new).
 * link above SITE NODE ASR EPOCH LAST: the node answered EPOCH with
 * ESTALE, its kernel having had LAST: one epoch above LAST unless the ASR
 * has one already; EPOCH at most the current one, LAST at most 2^16
 * above it, once an hour per ASR (whichever site asks): a compromised
 * site cannot use up an ASR's epochs.
 */
int cmd_link(struct req *q, const char *cmd)
{
	uint32_t v[5] = { 0 };
	unsigned int i, k = !strcmp(cmd, "above") ? 5 : !strcmp(cmd, "ack") ? 3 : 2;
	int64_t next;
	int rows;

	if (!q->link || (strcmp(cmd, "rekey") && strcmp(cmd, "remove") && k == 2))
		return req_usage(q, "unknown command 'link'; try 'akmctl root help'");
	if (!strcmp(cmd, "remove"))
		return link_remove(q);
	for (i = 0; i < k; i++) {
		const char *w = req_next(q);

		if (!w || akm_parse_id(w, &v[i]))
			return req_usage(q, "link %s: bad arguments", cmd);
	}
	if (req_next(q))
		return req_usage(q, "link %s: bad arguments", cmd);
	if (k == 3)
		return link_ack(q, v);
	rows = db_int(q->r, -1, "SELECT count(*) FROM nodes WHERE id = $1 AND site = $2 AND "
		      "state != 'removed'", "uu", v[1], v[0]);
	if (rows != 1)
		return rows < 0 ? req_db(q) : req_fail(q, 1, "node %u is not one of site %u's",
						       v[1], v[0]);
	if (k == 2)
		return rekey_node_asrs(q, "SELECT asr FROM members WHERE node = $1 AND "
				       "state = 'live' ORDER BY asr", v[1], &rows);
	next = db_int(q->r, -1, "SELECT coalesce((SELECT epoch + 1 FROM asrs WHERE id = $1 AND "
		      "NOT deleted AND id IN (SELECT asr FROM members WHERE node = $2 AND "
		      "state = 'live') FOR UPDATE), 0)", "uu", v[2], v[1]);
	if (next <= 0)
		return next ? req_db(q) : req_fail(q, 1, "node %u is not a member of ASR %u",
						   v[1], v[2]);
	if (next - 1 > v[4])
		return 0;	/* a newer epoch is on its way */
	if (v[3] > next - 1 || v[4] < v[3] || v[4] - v[3] > ROOT_JUMP_MAX)
		return req_fail(q, 1, "ASR %u: node %u says its last epoch is %u (sent %u, the "
				"ASR's %lld): not followed", v[2], v[1], v[4], v[3],
				(long long)next - 1);
	/*
	 * LAST the current epoch (a site holds it with another key): a new
	 * one, no jump, once every ROOT_FRESH_SECS per ASR; else a jump, once
	 * every ROOT_JUMP_EVERY per ASR.
	 */
	if (v[4] == next - 1)
		rows = db_exec(q->r, "UPDATE asrs SET rekeyed = now() WHERE id = $1 AND "
			       "(rekeyed IS NULL OR rekeyed < now() - make_interval(secs => $2))",
			       "ui", v[2], (int64_t)ROOT_FRESH_SECS);
	else
		rows = db_exec(q->r, "UPDATE asrs SET epoch = $2, jumped = now() WHERE id = $1 "
			       "AND (jumped IS NULL OR jumped < now() - make_interval(secs => $3))",
			       "uii", v[2], (int64_t)v[4], (int64_t)ROOT_JUMP_EVERY);
	if (rows != 1)
		return rows < 0 ? req_db(q) :
		       req_fail(q, 1, "ASR %u was re-keyed for a site just now: not again yet",
				v[2]);
	if (db_event(q->r, "epoch-stale", "asr %u epoch %u node %u last %u", v[2], v[3], v[1],
		     v[4]))
		return req_db(q);
	return asr_new_epoch(q, v[2]);
}

/*
 * REKEY from a site, for one of its nodes: its new kernel (at most once
 * every ROOT_FRESH_SECS per node), or an ESTALE answer; or REMOVE: the
 * node was removed at its site. At most REKEYS_PER_SEC a second per site,
 * whatever they ask; each runs as a change of the link's (cmd_link()).
 */
int sync_rekey(struct root *r, struct link *l, const struct akmp_msg *m)
{
	uint32_t node = akmp_u32(&m->tb[AKMP_T_NODE_ID]), asr = akmp_u32(&m->tb[AKMP_T_ASR_ID]);
	struct sitest *s = link_sitest(r, l->hs.node);
	struct fresh *f = NULL, *grown;
	char w[5][16];
	int64_t now = root_now();
	size_t i;

	if (m->type == AKMP_REKEY && asr && (!m->tb[AKMP_T_EPOCH].v || !m->tb[AKMP_T_LAST].v))
		return -EBADMSG;
	if (l->rekey_sec != now) {
		l->rekey_sec = now;
		l->rekeys = 0;
	}
	if (!s || ++l->rekeys > REKEYS_PER_SEC) {
		if (s && !l->rekey_noisy)
			root_log("site %u: more than %d REKEYs a second: the rest ignored", l->hs.node,
				 REKEYS_PER_SEC);
		l->rekey_noisy = true;
		return 0;	/* the site asks again */
	}
	for (i = 0; !asr && m->type == AKMP_REKEY && i < s->nfresh && !f; i++)
		if (s->fresh[i].node == node)
			f = &s->fresh[i];
	if (f && now - f->at < ROOT_FRESH_SECS)
		return 0;
	snprintf(w[0], sizeof(w[0]), "%u", l->hs.node);
	snprintf(w[1], sizeof(w[1]), "%u", node);
	snprintf(w[2], sizeof(w[2]), "%u", asr);
	snprintf(w[3], sizeof(w[3]), "%u", akmp_u32(&m->tb[AKMP_T_EPOCH]));
	snprintf(w[4], sizeof(w[4]), "%u", akmp_u32(&m->tb[AKMP_T_LAST]));
	if (m->type == AKMP_REMOVE) {
		char hex[65];

		if (!m->tb[AKMP_T_PROOF].v)
			return -EBADMSG;
		sodium_bin2hex(hex, sizeof(hex), m->tb[AKMP_T_PROOF].v, 32);
		if (admin_run(r, (char *[]){ "link", "remove", w[0], w[1], hex, NULL },
			      !l->rekey_noisy))
			l->rekey_noisy = true;
		return 0;
	}
	if (admin_run(r, asr ? (char *[]){ "link", "above", w[0], w[1], w[2], w[3], w[4], NULL } :
			  (char *[]){ "link", "rekey", w[0], w[1], NULL }, !l->rekey_noisy)) {
		l->rekey_noisy = true;
		return 0;
	}
	if (asr)
		return 0;
	/* remembered once it worked: at most one per node of the site */
	s = link_sitest(r, l->hs.node);	/* events ran meanwhile */
	f = NULL;
	for (i = 0; s && i < s->nfresh && !f; i++)
		if (s->fresh[i].node == node)
			f = &s->fresh[i];
	if (s && !f) {
		grown = reallocarray(s->fresh, s->nfresh + 1, sizeof(*grown));
		if (!grown)
			return 0;
		s->fresh = grown;
		f = &grown[s->nfresh++];
		f->node = node;
	}
	if (f)
		f->at = now;
	return 0;
}

/*
 * ACK from a site that said it sends them (HELLO FLAGS): its online
 * members of ASR_ID installed EPOCH (link_ack()). At most ACKS_PER_SEC a
 * second; the rest are dropped (the site activates on its own, later).
 */
int sync_ack(struct root *r, struct link *l, const struct akmp_msg *m)
{
	int64_t now = root_now();
	char w[3][16];

	if (!(l->hs.flags & AKMP_FLAG_ACK))
		return -EBADMSG;
	if (l->ack_sec != now) {
		l->ack_sec = now;
		l->acks = 0;
	}
	if (++l->acks > ACKS_PER_SEC) {
		if (!l->ack_noisy)
			root_log("site %u: more than %d ACKs a second: the rest ignored", l->hs.node,
				 ACKS_PER_SEC);
		l->ack_noisy = true;
		return 0;	/* the site activates at its deadline */
	}
	snprintf(w[0], sizeof(w[0]), "%u", l->hs.node);
	snprintf(w[1], sizeof(w[1]), "%u", akmp_u32(&m->tb[AKMP_T_ASR_ID]));
	snprintf(w[2], sizeof(w[2]), "%u", akmp_u32(&m->tb[AKMP_T_EPOCH]));
	if (admin_run(r, (char *[]){ "link", "ack", w[0], w[1], w[2], NULL }, !l->ack_noisy))
		l->ack_noisy = true;
	return 0;
}
