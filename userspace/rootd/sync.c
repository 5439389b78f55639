// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Site synchronisation (root.md): over a site's session the root sends
 * what the site's NMM needs and nothing more: its own nodes (SITE_NODE,
 * each credential wrapped under the site's K_wrap; NODE_DEL once removed)
 * and every ASR with a member at the site (ASR_CONFIG: the current epoch,
 * its key wrapped under the site's K_wrap, every member of every site with
 * its addresses; LEAVE once the site has none). At the start of a session,
 * after the database came back, or when the site read too slowly, all of
 * it again between SYNC begin and SYNC end: the NMM drops what was not in
 * it. Otherwise each change as its event arrives (from any instance).
 * What a site is sent is paced by its connection: a full round goes on as
 * its output queue drains.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "link.h"

#define SYNC_ROUND	(256u << 10)	/* a full round stops at this much queued */
#define SYNC_ROOM	(768u << 10)	/* a change that does not fit: a full round */
#define SYNC_BATCH	64		/* rows read at once */

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

bool idset_has(const struct idset *s, uint32_t id)
{
	size_t i = idset_pos(s, id);

	return i < s->n && s->id[i] == id;
}

int idset_add(struct idset *s, uint32_t id)
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

void idset_del(struct idset *s, uint32_t id)
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

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* ---- sending ---- */

static size_t queued(const struct link *l)
{
	return l->out.len - l->out.off;
}

/* The site's credential, unsealed, into c (32 bytes, secure memory). */
static int site_cred(struct root *r, uint32_t site, uint8_t *c)
{
	PGresult *res = db_q(r, "SELECT cred FROM sites WHERE id = $1", "u", site);
	uint8_t sealed[AKM_SEALED_LEN(32)];
	char ad[32];
	int err;

	if (!res)
		return -EIO;
	err = PQntuples(res) == 1 ? db_bytes(res, 0, 0, sealed, sizeof(sealed)) : -ENOENT;
	PQclear(res);
	snprintf(ad, sizeof(ad), "cred:%u", site);
	if (!err && akm_unseal(&r->master, ad, sealed, sizeof(sealed), c, 32))
		err = -EBADMSG;
	sodium_memzero(sealed, sizeof(sealed));
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
 * Queue b on l if there is room; else the site gets everything again once
 * its queue drained (a slow site never blocks the others, nor is dropped).
 */
static void send_or_resync(struct link *l, struct akmp_buf *b, size_t room)
{
	if (akmp_end(b) || queued(l) + b->len > room) {
		l->resync = true;
		return;
	}
	link_send(l, b);
}

static void send_node_del(struct link *l, uint32_t node)
{
	struct akmp_buf b = { 0 };

	akmp_begin(&b, AKMP_NODE_DEL);
	akmp_put_u32(&b, AKMP_T_NODE_ID, node);
	send_or_resync(l, &b, SYNC_ROOM);
	akmp_buf_free(&b);
	idset_del(&l->nodes, node);
}

static void send_leave(struct link *l, uint32_t asr)
{
	struct akmp_buf b = { 0 };

	akmp_begin(&b, AKMP_LEAVE);
	akmp_put_u32(&b, AKMP_T_ASR_ID, asr);
	send_or_resync(l, &b, SYNC_ROOM);
	akmp_buf_free(&b);
	idset_del(&l->asrs, asr);
}

/* Columns: id, name, cred, addresses. */
#define NODE_COLS "n.id, n.name, n.cred, coalesce((SELECT string_agg(host(a.addr), ' ' " \
		  "ORDER BY a.addr) FROM addrs a WHERE a.node = n.id), '')"

/* SITE_NODE for row i of res, its credential wrapped for the site (c). */
static int send_node(struct root *r, struct link *l, const uint8_t *c, PGresult *res, int i,
		     size_t room)
{
	uint8_t sealed[AKM_SEALED_LEN(32)], addrs[AKM_ADDRS_MAX][AKMP_ADDR_LEN];
	uint8_t *cred = akm_secure_alloc(32), wrapped[AKM_WRAPPED_LEN];
	uint32_t node = strtoul(PQgetvalue(res, i, 0), NULL, 10);
	struct akmp_buf b = { 0 };
	unsigned int k, j;
	char ad[32];
	int err;

	if (!cred)
		return -ENOMEM;
	snprintf(ad, sizeof(ad), "cred:%u", node);
	err = db_bytes(res, i, 2, sealed, sizeof(sealed));
	if (!err && akm_unseal(&r->master, ad, sealed, sizeof(sealed), cred, 32))
		err = -EBADMSG;
	if (!err) {
		akm_wrap_cred(c, cred, l->hs.node, node, wrapped);
		akmp_begin(&b, AKMP_SITE_NODE);
		akmp_put_u32(&b, AKMP_T_NODE_ID, node);
		akmp_put_str(&b, AKMP_T_NAME, PQgetvalue(res, i, 1));
		k = addrs_get(PQgetvalue(res, i, 3), addrs);
		for (j = 0; j < k; j++)
			akmp_put(&b, AKMP_T_ADDR, addrs[j], AKMP_ADDR_LEN);
		akmp_put(&b, AKMP_T_WRAPPED, wrapped, sizeof(wrapped));
		send_or_resync(l, &b, room);
		if (!l->resync)
			err = idset_add(&l->nodes, node);
	} else {
		root_log("site %u: node %u: its credential does not open: not sent", l->hs.node,
			 node);
	}
	akm_secure_free(cred);
	akmp_buf_free(&b);
	sodium_memzero(sealed, sizeof(sealed));
	return err == -EBADMSG ? 0 : err;
}

/*
 * ASR_CONFIG of asr's current epoch for the site of l, if it has a member
 * there (else LEAVE, if it was sent): live members all, revoked ones the
 * most recently removed first as far as room goes, each with its
 * addresses (the NMM places them per pair); the key wrapped for the site.
 */
static int send_asr(struct root *r, struct link *l, const uint8_t *c, uint32_t asr,
		    size_t room)
{
	struct akmp_asr_config cfg = { .asr_id = asr };
	uint32_t ids[AKM_MEMBERS_MAX];
	uint8_t sealed[AKM_SEALED_LEN(32)], *key = NULL;
	struct akmp_buf b = { 0 };
	PGresult *a, *m = NULL;
	unsigned int nids = 0;
	int i, err = -EIO;
	char ad[48];

	a = db_q(r, "SELECT a.alg, a.policy, a.grace, a.epoch, e.key FROM asrs a JOIN epochs e "
		 "ON e.asr = a.id AND e.epoch = a.epoch WHERE a.id = $1 AND NOT a.deleted AND "
		 "EXISTS (SELECT 1 FROM members m JOIN nodes n ON n.id = m.node WHERE "
		 "m.asr = a.id AND n.site = $2)", "uu", asr, l->hs.node);
	if (!a)
		return -EIO;
	if (PQntuples(a) != 1) {
		if (idset_has(&l->asrs, asr))
			send_leave(l, asr);
		PQclear(a);
		return 0;
	}
	cfg.alg = atoi(PQgetvalue(a, 0, 0));
	cfg.policy = atoi(PQgetvalue(a, 0, 1));
	cfg.grace = strtoul(PQgetvalue(a, 0, 2), NULL, 10);
	cfg.epoch = strtoul(PQgetvalue(a, 0, 3), NULL, 10);
	m = db_q(r, "SELECT m.node, m.state = 'live', coalesce(string_agg(host(x.addr), ' ' "
		 "ORDER BY x.addr), '') FROM members m LEFT JOIN addrs x ON x.node = m.node "
		 "WHERE m.asr = $1 GROUP BY m.node, m.state, m.changed "
		 "ORDER BY m.state = 'live' DESC, m.changed DESC, m.node LIMIT $2", "ui", asr,
		 (int64_t)AKM_MEMBERS_MAX);
	cfg.members = calloc(AKM_MEMBERS_MAX, sizeof(*cfg.members));
	key = akm_secure_alloc(32);
	if (!m || !cfg.members || !key)
		goto out;
	for (i = 0; i < PQntuples(m); i++) {
		struct akmp_member *mb = &cfg.members[cfg.nmembers++];

		mb->node_id = strtoul(PQgetvalue(m, i, 0), NULL, 10);
		mb->state = *PQgetvalue(m, i, 1) == 't' ? AKM_MEMBER_ACTIVE : AKM_MEMBER_REVOKED;
		mb->naddrs = addrs_get(PQgetvalue(m, i, 2), mb->addrs);
		if (mb->state == AKM_MEMBER_ACTIVE)
			ids[nids++] = mb->node_id;
	}
	qsort(ids, nids, sizeof(*ids), cmp_u32);
	snprintf(ad, sizeof(ad), "key:%u:%u", asr, cfg.epoch);
	err = db_bytes(a, 0, 4, sealed, sizeof(sealed));
	if (!err && akm_unseal(&r->master, ad, sealed, sizeof(sealed), key, 32))
		err = -EBADMSG;
	if (err) {
		root_log("asr %u: the key of epoch %u does not open: not sent to site %u", asr,
			 cfg.epoch, l->hs.node);
		err = 0;
		goto out;
	}
	akm_wrap_key(c, key, asr, cfg.epoch, cfg.alg, ids, nids, cfg.wrapped);
	akmp_asr_config(&b, &cfg);
	send_or_resync(l, &b, room);
	if (!l->resync)
		err = idset_add(&l->asrs, asr);
out:
	akmp_buf_free(&b);
	akm_secure_free(key);
	sodium_memzero(sealed, sizeof(sealed));
	free(cfg.members);
	PQclear(a);
	PQclear(m);
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
 * A full round, or its next part: nodes above l->cursor, then ASRs (from
 * cursor_asr), until the queue holds SYNC_ROUND; SYNC end when done.
 */
static void round_step(struct root *r, struct link *l)
{
	uint8_t *c = akm_secure_alloc(32);
	PGresult *res = NULL;
	int i, k = 0, err = -EIO;

	if (!c || site_cred(r, l->hs.node, c))
		goto out;
	while (l->round && queued(l) < SYNC_ROUND && !l->resync) {
		PQclear(res);
		if (l->round == 1)
			res = db_q(r, "SELECT " NODE_COLS " FROM nodes n WHERE n.site = $1 AND "
				   "n.state != 'removed' AND n.id > $2 ORDER BY n.id LIMIT $3",
				   "uui", l->hs.node, l->cursor, (int64_t)SYNC_BATCH);
		else
			res = db_q(r, "SELECT DISTINCT m.asr FROM members m JOIN nodes n ON "
				   "n.id = m.node WHERE n.site = $1 AND m.asr > $2 ORDER BY m.asr "
				   "LIMIT $3", "uui", l->hs.node, l->cursor, (int64_t)SYNC_BATCH);
		if (!res)
			goto out;
		k = PQntuples(res);
		for (i = 0; i < k && queued(l) < SYNC_ROUND && !l->resync; i++) {
			uint32_t id = strtoul(PQgetvalue(res, i, 0), NULL, 10);

			err = l->round == 1 ? send_node(r, l, c, res, i, AKMP_OUTQ_MAX) :
			      send_asr(r, l, c, id, AKMP_OUTQ_MAX);
			if (err)
				goto out;
			l->cursor = id;
		}
		if (i == k && k < SYNC_BATCH) {	/* this part is done */
			l->cursor = 0;
			if (++l->round == 3) {
				l->round = 0;
				send_sync(l, AKMP_SYNC_END);
			}
		}
	}
	err = 0;
out:
	PQclear(res);
	akm_secure_free(c);
	if (err) {
		root_log("site %u: cannot send its records (%s): it gets them all again",
			 l->hs.node, strerror(-err));
		l->round = 0;
		l->resync = true;
	}
}

/* Everything again: SYNC begin, the nodes, the ASRs, SYNC end (paced by round_step()). */
void sync_site(struct root *r, struct link *l)
{
	if (l->state != LS_UP || queued(l) >= SYNC_ROUND)
		return;
	l->resync = false;
	idset_free(&l->nodes);
	idset_free(&l->asrs);
	send_sync(l, AKMP_SYNC_BEGIN);
	l->round = 1;
	l->cursor = 0;
	round_step(r, l);
}

/* The queue drained: the round goes on, or starts again if something did not fit. */
void sync_drained(struct root *r, struct link *l)
{
	if (l->state != LS_UP || queued(l) >= SYNC_ROUND)
		return;
	if (l->resync)
		sync_site(r, l);
	else if (l->round)
		round_step(r, l);
}

static void node_event(struct root *r, uint32_t node, bool removed)
{
	uint8_t *c = NULL;
	PGresult *res;
	struct link *l;

	res = removed ? NULL : db_q(r, "SELECT " NODE_COLS ", n.site FROM nodes n WHERE "
				    "n.id = $1 AND n.state != 'removed'", "u", node);
	for (l = r->links; l; l = l->next) {
		if (l->state != LS_UP)
			continue;
		if (removed) {
			if (idset_has(&l->nodes, node))
				send_node_del(l, node);
		} else if (res && PQntuples(res) == 1 &&
			   strtoul(PQgetvalue(res, 0, 4), NULL, 10) == l->hs.node) {
			c = akm_secure_alloc(32);
			if (!c || site_cred(r, l->hs.node, c) || send_node(r, l, c, res, 0, SYNC_ROOM))
				l->resync = true;
			akm_secure_free(c);
		}
	}
	PQclear(res);
}

static void asr_event(struct root *r, uint32_t asr)
{
	uint8_t *c = akm_secure_alloc(32);
	struct link *l;

	for (l = r->links; l && c; l = l->next)
		if (l->state == LS_UP && !l->resync &&
		    (site_cred(r, l->hs.node, c) || send_asr(r, l, c, asr, SYNC_ROOM)))
			l->resync = true;
	akm_secure_free(c);
}

/* An event of any instance: each site with a session here gets what changed for it. */
void sync_event(struct root *r, const char *kind, const char *text)
{
	unsigned int id;
	struct link *l;

	if (!strcmp(kind, "database-back")) {	/* events may have been missed */
		for (l = r->links; l; l = l->next)
			l->resync = l->state == LS_UP;
	} else if (!strcmp(kind, "node-added") && sscanf(text, "node %u", &id) == 1) {
		node_event(r, id, false);
	} else if (!strcmp(kind, "node-removed") && sscanf(text, "node %u", &id) == 1) {
		node_event(r, id, true);
	} else if ((!strcmp(kind, "epoch-created") || !strcmp(kind, "asr-deleted")) &&
		   sscanf(text, "asr %u", &id) == 1) {
		asr_event(r, id);
	}
}

/*
 * REKEY from a site: new epochs for a node of that site, every ASR it is
 * a live member of (its kernel is new: nothing it may have sent under goes
 * to it again), or one ASR above LAST (an ESTALE answer: its kernel had a
 * higher epoch). At most once every ROOT_FRESH_SECS per node, and once an
 * hour per node and ASR for a jump of at most 2^16: a compromised site
 * cannot use up the epochs of the ASRs it has a member of.
 */
int sync_rekey(struct root *r, struct link *l, struct sitest *s, const struct akmp_msg *m)
{
	uint32_t node = akmp_u32(&m->tb[AKMP_T_NODE_ID]), asr = akmp_u32(&m->tb[AKMP_T_ASR_ID]);
	uint32_t epoch = akmp_u32(&m->tb[AKMP_T_EPOCH]), last = akmp_u32(&m->tb[AKMP_T_LAST]);
	char name[AKM_NAME_MAX + 1], a[16], e[16], t[16];
	struct jump *j = NULL, *grown;
	int64_t now = root_now();
	PGresult *res;
	size_t i;

	if (!s || (asr && (!m->tb[AKMP_T_EPOCH].v || !m->tb[AKMP_T_LAST].v)))
		return -EBADMSG;
	res = db_q(r, "SELECT name FROM nodes WHERE id = $1 AND site = $2 AND "
		   "state != 'removed'", "uu", node, l->hs.node);
	if (!res)
		return 0;	/* the database's trouble: the site asks again */
	if (PQntuples(res) != 1) {
		PQclear(res);
		root_log("site %u: REKEY for node %u, which is not one of its nodes", l->hs.node,
			 node);
		return 0;
	}
	snprintf(name, sizeof(name), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	for (i = 0; i < s->njumps && !j; i++)
		if (s->jumps[i].node == node && s->jumps[i].asr == asr)
			j = &s->jumps[i];
	if (j && now - j->at < (asr ? ROOT_JUMP_EVERY : ROOT_FRESH_SECS))
		return 0;
	if (!j) {
		grown = reallocarray(s->jumps, s->njumps + 1, sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		s->jumps = grown;
		j = &grown[s->njumps++];
		*j = (struct jump){ node, asr, 0 };
	}
	j->at = now;
	snprintf(a, sizeof(a), "%u", asr);
	snprintf(e, sizeof(e), "%u", epoch);
	snprintf(t, sizeof(t), "%u", last);
	if (asr)
		admin_run(r, (char *[]){ "asr", "above", a, "node", name, "epoch", e, "last", t,
					 NULL });
	else
		admin_run(r, (char *[]){ "node", "rekey", name, NULL });
	return 0;
}
