// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Site synchronisation (root.md): over a site's session the root sends
 * what the site's NMM needs and nothing more: its own nodes (SITE_NODE,
 * each credential wrapped under the site's K_wrap; NODE_DEL once removed)
 * and every ASR with a live member at the site (ASR_CONFIG: the current
 * epoch, its key wrapped under the site's K_wrap, the members of every site
 * with their addresses; LEAVE once the site has none). At the start of a
 * session and after the database came back, all of it between SYNC begin
 * and SYNC end (the NMM drops what a round did not bring); otherwise each
 * change as its event arrives, from any instance. Sending is paced by the
 * site's connection: a batch per loop pass while less than SYNC_ROUND is
 * queued; a change that finds no room is marked and sent when there is.
 * The sites share SYNC_PASS_MS of each loop pass (and a record), in turns:
 * their changes in the first half, then their rounds (sync_all()). However
 * many sites start their rounds at once, the loop goes on to handshakes,
 * heartbeats and reports after that.
 * A record that cannot be sent (a secret that does not open) goes as SYNC
 * keep: the site holds what it has of it, and the round ends.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "link.h"

#define SYNC_ROUND	(256u << 10)	/* sending pauses while this much is queued */
#define SYNC_BATCH	64		/* records per step */
#define SYNC_RETRY_MS	1000		/* a round that could not start, again after */
#define SYNC_PASS_MS	100		/* sending in one loop pass, at most */

/* ---- idset ---- */

static size_t idset_pos(const struct idset *s, uint32_t id)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (s->id[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool idset_has(const struct idset *s, uint32_t id)
{
	size_t i = idset_pos(s, id);

	return i < s->n && s->id[i] == id;
}

static int idset_add(struct idset *s, uint32_t id)
{
	size_t i = idset_pos(s, id);
	uint32_t *grown;

	if (i < s->n && s->id[i] == id)
		return 0;
	if (s->n == s->cap) {
		grown = reallocarray(s->id, s->cap ? 2 * s->cap : 64, sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		s->id = grown;
		s->cap = s->cap ? 2 * s->cap : 64;
	}
	memmove(&s->id[i + 1], &s->id[i], (s->n - i) * sizeof(*s->id));
	s->id[i] = id;
	s->n++;
	return 0;
}

static void idset_del(struct idset *s, uint32_t id)
{
	size_t i = idset_pos(s, id);

	if (i < s->n && s->id[i] == id) {
		memmove(&s->id[i], &s->id[i + 1], (s->n - i - 1) * sizeof(*s->id));
		s->n--;
	}
}

void idset_free(struct idset *s)
{
	free(s->id);
	*s = (struct idset){ 0 };
}

/* ---- sending ---- */

static size_t queued(const struct link *l)
{
	return l->out.len - l->out.off;
}

/*
 * Is the pass's sending less than ms old? Its first question starts the
 * clock: the changes have the first half, the rounds the rest.
 */
static bool in_time(struct root *r, int64_t ms)
{
	int64_t now = root_now_ms();

	if (!r->sync_from)
		r->sync_from = now;
	return now - r->sync_from < ms;
}

/* Everything again, from a root_now_ms() on. */
static void resync(struct link *l, int64_t delay_ms)
{
	l->resync = true;
	l->resync_ms = root_now_ms() + delay_ms;
	l->round = ROUND_NONE;
}

/* The site's credential into l->cred, once per session. */
static int site_cred(struct root *r, struct link *l)
{
	uint8_t sealed[AKM_SEALED_LEN(32)];
	PGresult *res;
	char ad[32];
	int err;

	if (l->cred)
		return 0;
	res = db_q(r, "SELECT cred FROM sites WHERE id = $1", "u", l->hs.node);
	if (!res)
		return -EIO;
	err = PQntuples(res) == 1 ? db_bytes(res, 0, 0, sealed, sizeof(sealed)) : -ENOENT;
	PQclear(res);
	l->cred = err ? NULL : akm_secure_alloc(32);
	snprintf(ad, sizeof(ad), "cred:%u", l->hs.node);
	if (!err && (!l->cred || akm_unseal(&r->master, ad, sealed, sizeof(sealed), l->cred, 32)))
		err = l->cred ? -EBADMSG : -ENOMEM;
	sodium_memzero(sealed, sizeof(sealed));
	if (err) {
		akm_secure_free(l->cred);
		l->cred = NULL;
	}
	return err;
}

/* "a b c" (as the database prints them) into the wire form; how many. */
static unsigned int addrs_get(const char *text, uint8_t out[AKM_ADDRS_MAX][AKMP_ADDR_LEN])
{
	char copy[AKM_ADDRS_TEXT_MAX], *tok, *save;
	struct akm_addr a;
	unsigned int n = 0;

	snprintf(copy, sizeof(copy), "%s", text);
	for (tok = strtok_r(copy, " ", &save); tok && n < AKM_ADDRS_MAX;
	     tok = strtok_r(NULL, " ", &save))
		if (!akm_addr_parse(tok, &a))
			akmp_addr_put(&a, out[n++]);
	return n;
}

/*
 * May the site hold id? What it was sent this session; before the
 * session's first round ended, anything (it may have it from before).
 */
static bool held(const struct link *l, const struct idset *s, uint32_t id)
{
	return !l->rounded || idset_has(s, id);
}

/* Queue b if the queue is below SYNC_ROUND (a frame is at most 64 KiB: it fits). */
static int send_room(struct link *l, struct akmp_buf *b)
{
	int err = akmp_end(b);

	if (!err && queued(l) >= SYNC_ROUND)
		err = -ENOBUFS;
	if (!err)
		err = link_send(l, b);
	akmp_buf_free(b);
	return err;
}

static int send_id(struct link *l, uint8_t type, uint16_t tlv, uint32_t id)
{
	struct akmp_buf b = { 0 };

	akmp_begin(&b, type);
	akmp_put_u32(&b, tlv, id);
	return send_room(l, &b);
}

/* Columns: id, name, cred, addresses, site, state. */
#define NODE_SQL "SELECT n.id, n.name, n.cred, coalesce((SELECT string_agg(host(a.addr), " \
		 "' ' ORDER BY a.addr) FROM addrs a WHERE a.node = n.id), ''), n.site, " \
		 "n.state FROM nodes n "

/*
 * Row i of res (NODE_SQL): SITE_NODE if it is a node of l's site, else
 * NODE_DEL if the site holds it. 0, -ENOBUFS (no room), or an error.
 */
static int send_node(struct root *r, struct link *l, PGresult *res, int i)
{
	uint32_t node = strtoul(PQgetvalue(res, i, 0), NULL, 10);
	uint8_t sealed[AKM_SEALED_LEN(32)], addrs[AKM_ADDRS_MAX][AKMP_ADDR_LEN];
	uint8_t *cred, wrapped[AKM_WRAPPED_LEN];
	struct akmp_buf b = { 0 };
	unsigned int k, j;
	char ad[32];
	int err;

	if (strtoul(PQgetvalue(res, i, 4), NULL, 10) != l->hs.node ||
	    !strcmp(PQgetvalue(res, i, 5), "removed")) {
		err = held(l, &l->nodes, node) ? send_id(l, AKMP_NODE_DEL, AKMP_T_NODE_ID,
							 node) : 0;
		if (!err)
			idset_del(&l->nodes, node);
		return err;
	}
	cred = akm_secure_alloc(32);
	if (!cred)
		return -ENOMEM;
	snprintf(ad, sizeof(ad), "cred:%u", node);
	err = db_bytes(res, i, 2, sealed, sizeof(sealed));
	if (!err && akm_unseal(&r->master, ad, sealed, sizeof(sealed), cred, 32))
		err = -EBADMSG;
	if (!err) {
		akm_wrap_cred(l->cred, cred, l->hs.node, node, wrapped);
		akmp_begin(&b, AKMP_SITE_NODE);
		akmp_put_u32(&b, AKMP_T_NODE_ID, node);
		akmp_put_str(&b, AKMP_T_NAME, PQgetvalue(res, i, 1));
		k = addrs_get(PQgetvalue(res, i, 3), addrs);
		for (j = 0; j < k; j++)
			akmp_put(&b, AKMP_T_ADDR, addrs[j], AKMP_ADDR_LEN);
		akmp_put(&b, AKMP_T_WRAPPED, wrapped, sizeof(wrapped));
		err = send_room(l, &b);
		if (!err)
			err = idset_add(&l->nodes, node);
	} else if (!l->noisy) {
		root_log("site %u: node %u: its credential does not open (this instance's master "
			 "key?): not sent", l->hs.node, node);
		l->noisy = true;
	}
	akm_secure_free(cred);
	sodium_memzero(sealed, sizeof(sealed));
	return err;
}

static int send_node_id(struct root *r, struct link *l, uint32_t node)
{
	PGresult *res = db_q(r, NODE_SQL "WHERE n.id = $1", "u", node);
	int err;

	if (!res)
		return -EIO;
	err = PQntuples(res) ? send_node(r, l, res, 0) :
	      held(l, &l->nodes, node) ? send_id(l, AKMP_NODE_DEL, AKMP_T_NODE_ID, node) : 0;
	if (!err && !PQntuples(res))
		idset_del(&l->nodes, node);
	PQclear(res);
	return err;
}

/* live members are all within the statement's LIMIT */
_Static_assert(ROOT_MEMBERS_MAX <= AKM_MEMBERS_MAX, "ROOT_MEMBERS_MAX");

/*
 * asr's current epoch and its members, in one statement (one snapshot):
 * live members all, revoked ones the most recently removed first as far
 * as room goes, each with its addresses (the NMM places them per pair) and
 * its site; whether the epoch is activated across the sites. The rows of
 * the ASR whose event sync_event() sends are read once for every site it
 * concerns (r->shared_rows: *kept, the caller leaves them): no other event
 * comes until they are dropped, and a change committed after they were
 * read has an event of its own, sent after.
 */
static PGresult *asr_rows(struct root *r, uint32_t asr, bool *kept)
{
	PGresult *res;

	*kept = r->shared_rows && r->shared_asr == asr;
	if (*kept)
		return r->shared_rows;
	res = db_q(r, "SELECT a.alg, a.policy, a.grace, a.epoch, e.key, "
		   "array_to_string(e.members, ' '), m.node, m.state = 'live', "
		   "coalesce((SELECT string_agg(host(x.addr), ' ' ORDER BY x.addr) FROM addrs x "
		   "WHERE x.node = m.node), ''), a.name, n.site, e.state = 'active' FROM asrs a "
		   "JOIN epochs e ON e.asr = a.id AND e.epoch = a.epoch JOIN members m ON "
		   "m.asr = a.id JOIN nodes n ON n.id = m.node WHERE a.id = $1 AND NOT a.deleted "
		   "ORDER BY m.state = 'live' DESC, m.changed DESC, m.node LIMIT $2", "ui", asr,
		   (int64_t)AKM_MEMBERS_MAX);
	*kept = res && r->shared_asr == asr;
	if (*kept)
		r->shared_rows = res;
	return res;
}

/* Is row i of asr_rows() a node of site? */
static bool row_site(const PGresult *res, int i, uint32_t site)
{
	return strtoul(PQgetvalue(res, i, 10), NULL, 10) == site;
}

/* Has site a live member in asr_rows()? */
static bool rows_here(const PGresult *res, uint32_t site)
{
	int i;

	for (i = 0; i < PQntuples(res) && *PQgetvalue(res, i, 7) == 't'; i++)
		if (row_site(res, i, site))
			return true;
	return false;
}

/*
 * ACTIVATE of asr's epoch, to a site that takes it; room: only if the queue
 * has room (else as part of what was just queued). 0, -ENOBUFS, or an error.
 */
static int send_activate(struct link *l, uint32_t asr, uint32_t epoch, bool room)
{
	struct akmp_buf b = { 0 };
	int err;

	if (!(l->hs.flags & AKMP_FLAG_ACK))
		return 0;
	akmp_begin(&b, AKMP_ACTIVATE);
	akmp_put_u32(&b, AKMP_T_ASR_ID, asr);
	akmp_put_u32(&b, AKMP_T_EPOCH, epoch);
	if (room)
		return send_room(l, &b);
	err = link_send(l, &b);
	akmp_buf_free(&b);
	return err;
}

/*
 * ASR_CONFIG of asr's current epoch for l's site, if it has a live member
 * there (else LEAVE, if the site holds it): the key wrapped for the site
 * over the epoch's member set; ACTIVATE after it if the epoch is activated.
 * 0, -ENOBUFS (no room: all of it again), or an error.
 */
static int send_asr(struct root *r, struct link *l, uint32_t asr)
{
	struct akmp_asr_config cfg = { .asr_id = asr };
	uint8_t sealed[AKM_SEALED_LEN(32)], *key = NULL;
	uint32_t ids[AKM_MEMBERS_MAX];
	unsigned int nids = 0;
	char ad[48], *tok, *save, *set = NULL;
	PGresult *res;
	int i, err = -ENOMEM;
	bool kept;

	res = asr_rows(r, asr, &kept);
	if (!res)
		return -EIO;
	if (!rows_here(res, l->hs.node)) {
		if (!kept)
			PQclear(res);
		err = held(l, &l->asrs, asr) ? send_id(l, AKMP_LEAVE, AKMP_T_ASR_ID, asr) : 0;
		if (!err)
			idset_del(&l->asrs, asr);
		return err;
	}
	cfg.alg = atoi(PQgetvalue(res, 0, 0));
	cfg.policy = atoi(PQgetvalue(res, 0, 1));
	cfg.grace = strtoul(PQgetvalue(res, 0, 2), NULL, 10);
	cfg.epoch = strtoul(PQgetvalue(res, 0, 3), NULL, 10);
	cfg.members = calloc(PQntuples(res), sizeof(*cfg.members));
	set = strdup(PQgetvalue(res, 0, 5));
	key = akm_secure_alloc(32);
	if (!cfg.members || !set || !key)
		goto out;
	for (tok = strtok_r(set, " ", &save); tok && nids < AKM_MEMBERS_MAX;
	     tok = strtok_r(NULL, " ", &save))
		ids[nids++] = strtoul(tok, NULL, 10);
	qsort(ids, nids, sizeof(*ids), akm_cmp_u32);
	for (i = 0; i < PQntuples(res); i++) {
		struct akmp_member *mb = &cfg.members[cfg.nmembers++];

		mb->node_id = strtoul(PQgetvalue(res, i, 6), NULL, 10);
		mb->state = *PQgetvalue(res, i, 7) == 't' ? AKM_MEMBER_ACTIVE : AKM_MEMBER_REVOKED;
		mb->naddrs = addrs_get(PQgetvalue(res, i, 8), mb->addrs);
		mb->flags = row_site(res, i, l->hs.node) ? AKMP_MEMBER_SITE : 0;
	}
	snprintf(ad, sizeof(ad), "key:%u:%u", asr, cfg.epoch);
	err = db_bytes(res, 0, 4, sealed, sizeof(sealed));
	if (!err && akm_unseal(&r->master, ad, sealed, sizeof(sealed), key, 32))
		err = -EBADMSG;
	if (err) {
		if (!l->noisy)
			root_log("asr %u: the key of epoch %u does not open (this instance's "
				 "master key?): not sent to site %u", asr, cfg.epoch, l->hs.node);
		l->noisy = true;
		goto out;
	}
	err = akm_wrap_key(l->cred, key, asr, cfg.epoch, cfg.alg, ids, nids, cfg.wrapped);
	if (!err) {
		struct akmp_buf b = { 0 };

		akmp_asr_config(&b, &cfg);
		if (*PQgetvalue(res, 0, 9))
			akmp_put_str(&b, AKMP_T_NAME, PQgetvalue(res, 0, 9));
		err = send_room(l, &b);
	}
	if (!err && *PQgetvalue(res, 0, 11) == 't')
		err = send_activate(l, asr, cfg.epoch, false);
	if (!err)
		err = idset_add(&l->asrs, asr);
out:
	akm_secure_free(key);
	sodium_memzero(sealed, sizeof(sealed));
	free(set);
	free(cfg.members);
	if (!kept)
		PQclear(res);
	return err;
}

static void send_sync(struct link *l, uint8_t state)
{
	struct akmp_buf b = { 0 };

	akmp_begin(&b, AKMP_SYNC);
	akmp_put_u8(&b, AKMP_T_STATE, state);
	if (!akmp_end(&b))
		link_send(l, &b);
	akmp_buf_free(&b);
}

/*
 * SYNC keep: the site holds that record as it is (this instance cannot
 * send it: a secret that does not open): the round ends all the same.
 */
static int send_keep(struct link *l, uint16_t tlv, uint32_t id)
{
	struct akmp_buf b = { 0 };

	akmp_begin(&b, AKMP_SYNC);
	akmp_put_u8(&b, AKMP_T_STATE, AKMP_SYNC_KEEP);
	akmp_put_u32(&b, tlv, id);
	return send_room(l, &b);
}

/* The next batch of a full round: its nodes above the cursor, then its ASRs; SYNC end. */
static int round_step(struct root *r, struct link *l)
{
	PGresult *res;
	int i, k, err = 0;

	if (l->round == ROUND_NODES)
		res = db_q(r, NODE_SQL "WHERE n.site = $1 AND n.state != 'removed' AND n.id > $2 "
			   "ORDER BY n.id LIMIT $3", "uui", l->hs.node, l->cursor,
			   (int64_t)SYNC_BATCH);
	else
		res = db_q(r, "SELECT DISTINCT m.asr FROM members m JOIN nodes n ON "
			   "n.id = m.node WHERE n.site = $1 AND m.state = 'live' AND m.asr > $2 "
			   "ORDER BY m.asr LIMIT $3", "uui", l->hs.node, l->cursor,
			   (int64_t)SYNC_BATCH);
	if (!res)
		return -EIO;
	k = PQntuples(res);
	for (i = 0; i < k && !err && (!i || in_time(r, SYNC_PASS_MS)); i++) {
		uint32_t id = strtoul(PQgetvalue(res, i, 0), NULL, 10);

		err = l->round == ROUND_NODES ? send_node(r, l, res, i) : send_asr(r, l, id);
		if (err == -EBADMSG) {
			err = send_keep(l, l->round == ROUND_NODES ? AKMP_T_NODE_ID :
					AKMP_T_ASR_ID, id);
			if (!err)	/* the site holds it: a removal goes to it */
				err = idset_add(l->round == ROUND_NODES ? &l->nodes : &l->asrs,
						id);
		}
		if (!err)
			l->cursor = id;
	}
	PQclear(res);
	if (err == -ENOBUFS || (!err && i < k))
		return 0;	/* from the cursor on: when the queue drained, next pass */
	if (!err && k < SYNC_BATCH) {
		l->cursor = 0;
		if (l->round == ROUND_ASRS) {
			l->round = ROUND_NONE;
			l->rounded = true;
			send_sync(l, AKMP_SYNC_END);
		} else {
			l->round = ROUND_ASRS;
		}
	}
	return err;
}

/*
 * Changed records, as many as fit. One that cannot be sent leaves the set
 * (the round the error starts covers it), so none holds up the others. No
 * ASR goes before the nodes it lists: none while a round sends nodes (its
 * ASR part sends them all), none after a node failed.
 */
static int dirty_step(struct root *r, struct link *l)
{
	unsigned int done = 0;
	uint32_t id;
	int err = 0, first = 0;

	while ((l->dirty_nodes.n || (l->dirty_asrs.n && l->round != ROUND_NODES && !first)) &&
	       done++ < SYNC_BATCH) {
		bool node = l->dirty_nodes.n;

		id = node ? l->dirty_nodes.id[0] : l->dirty_asrs.id[0];
		err = node ? send_node_id(r, l, id) : send_asr(r, l, id);
		if (err == -ENOBUFS)
			return first;
		idset_del(node ? &l->dirty_nodes : &l->dirty_asrs, id);
		if (err && !first)
			first = err;
		if (!in_time(r, SYNC_PASS_MS / 2))
			break;
	}
	return first;
}

void sync_start(struct link *l)
{
	resync(l, 0);
}

/* Is l's site owed something it has room for: its changes, or (round) its round? */
static bool owed(struct root *r, const struct link *l, bool round)
{
	if (l->state != LS_UP || !r->pg || queued(l) >= SYNC_ROUND)
		return false;
	if (l->resync)	/* nothing else until the round starts */
		return round && root_now_ms() >= l->resync_ms;
	return round ? l->round != ROUND_NONE : l->dirty_nodes.n || l->dirty_asrs.n;
}

bool sync_pending(struct root *r, const struct link *l)
{
	return owed(r, l, false) || owed(r, l, true);
}

/*
 * One step of what l's site is owed: marked changes go, or a round that is
 * due starts (SYNC begin) or goes on. On trouble, all of it again a second
 * later.
 */
static void sync_step(struct root *r, struct link *l, bool round)
{
	int err = 0;

	if (l->resync) {
		err = site_cred(r, l);
		if (!err) {
			l->resync = false;
			send_sync(l, AKMP_SYNC_BEGIN);
			l->round = ROUND_NODES;
			l->cursor = 0;
		}
	}
	if (!err)
		err = round ? round_step(r, l) : dirty_step(r, l);
	if (err) {
		if (!l->noisy)
			root_log("site %u: cannot send its records (%s): all of them again in a "
				 "second", l->hs.node, strerror(-err));
		l->noisy = true;
		resync(l, SYNC_RETRY_MS);
	}
}

/*
 * A step for each site owed something, while the pass has time: every
 * site's changes first (in the first half), then the rounds; each from the
 * site that was left out of it last, and the next pass starts with the
 * first one this one left out.
 */
void sync_all(struct root *r)
{
	struct link *start, *l;
	int round;

	for (round = 0; round < 2 && r->links; round++) {
		for (start = r->links; start && (start->state != LS_UP ||
			     start->hs.node != r->sync_next[round]); start = start->next)
			;
		l = start = start ?: r->links;
		r->sync_next[round] = 0;
		do {
			if (owed(r, l, round)) {
				if (!in_time(r, round ? SYNC_PASS_MS : SYNC_PASS_MS / 2)) {
					r->sync_next[round] = l->hs.node;
					break;
				}
				sync_step(r, l, round);
			}
			l = l->next ?: r->links;
		} while (l != start);
	}
}

void sync_link_free(struct link *l)
{
	akm_secure_free(l->cred);
	l->cred = NULL;
	idset_free(&l->nodes);
	idset_free(&l->asrs);
	idset_free(&l->dirty_nodes);
	idset_free(&l->dirty_asrs);
}

/* Mark id changed for every session link concerned (all of them: NULL). */
static void mark(struct root *r, bool node, uint32_t id, PGresult *sites)
{
	struct link *l;
	bool ours;
	int i;

	for (l = r->links; l; l = l->next) {
		if (l->state != LS_UP)
			continue;
		if (!sites) {	/* the database could not say which: all again */
			resync(l, 0);
			continue;
		}
		ours = held(l, node ? &l->nodes : &l->asrs, id);
		for (i = 0; i < PQntuples(sites) && !ours; i++)
			ours = strtoul(PQgetvalue(sites, i, 0), NULL, 10) == l->hs.node;
		if (ours && idset_add(node ? &l->dirty_nodes : &l->dirty_asrs, id))
			resync(l, 0);
	}
}

/*
 * asr's epoch was activated across the sites: ACTIVATE to each site here
 * that this session sent the ASR, unless it is to go again (send_asr()
 * then sends ACTIVATE after it).
 */
static void activated(struct root *r, uint32_t asr, uint32_t epoch)
{
	struct link *l;

	for (l = r->links; l; l = l->next) {
		if (l->state != LS_UP || !idset_has(&l->asrs, asr) ||
		    idset_has(&l->dirty_asrs, asr))
			continue;
		if (send_activate(l, asr, epoch, true) == -ENOBUFS &&
		    idset_add(&l->dirty_asrs, asr))
			resync(l, 0);
	}
}

/* An event of any instance: each site with a session here gets what changed for it. */
void sync_event(struct root *r, const char *kind, const char *text)
{
	unsigned int id, epoch;
	PGresult *res = NULL;
	struct link *l;

	for (l = r->links; l && l->state != LS_UP; l = l->next)
		;
	if (!l)
		return;		/* no site has a session here */
	if (!strcmp(kind, "database-back")) {	/* events may have been missed */
		for (l = r->links; l; l = l->next)
			if (l->state == LS_UP)
				resync(l, 0);
	} else if ((!strcmp(kind, "node-added") || !strcmp(kind, "node-removed")) &&
		   sscanf(text, "node %u", &id) == 1) {
		res = db_q(r, "SELECT site FROM nodes WHERE id = $1", "u", id);
		mark(r, true, id, res);
	} else if ((!strcmp(kind, "epoch-created") || !strcmp(kind, "asr-deleted") ||
		    !strcmp(kind, "asr-changed")) && sscanf(text, "asr %u", &id) == 1) {
		res = db_q(r, "SELECT DISTINCT n.site FROM members m JOIN nodes n ON "
			   "n.id = m.node WHERE m.asr = $1 AND m.state = 'live'", "u", id);
		mark(r, false, id, res);
		r->shared_asr = id;
	} else if (!strcmp(kind, "epoch-activated") &&
		   sscanf(text, "asr %u epoch %u", &id, &epoch) == 2) {
		activated(r, id, epoch);
	}
	PQclear(res);
	sync_all(r);	/* at once, as far as there is room and time */
	PQclear(r->shared_rows);
	r->shared_rows = NULL;
	r->shared_asr = 0;
}
