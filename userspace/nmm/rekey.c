// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Membership changes and key delivery (protocol.md, steps 4-5). All state
 * is in the store, written before anything is sent: an epoch is 'pending'
 * until every online member installed it (delivery 'installed'), then
 * 'active' (ACTIVATE sent to each member that installed it, delivery
 * 'activated' on its ACK), then 'retired' after the grace period. Members
 * that are offline, or whose delivery failed, do not hold anyone up: they
 * get what they are owed when they come back, or when it is tried again.
 *
 * A delivery is owed while it is 'pending', or 'stale' (the member list the
 * node holds for that epoch is out of date: an address moved, a pair's
 * addresses went to another ASR). A restarted NMM finds the same state in
 * the store and carries on.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "nmm.h"

/* The ids of the epoch's member list ("1 2 3") into ids; count or <0. */
static int parse_ids(const char *s, uint32_t *ids, unsigned int max)
{
	unsigned int n = 0;
	char *end;

	while (*s) {
		unsigned long v = strtoul(s, &end, 10);

		if (end == s || n == max || !v || v > UINT32_MAX)
			return -EINVAL;
		ids[n++] = v;
		s = end;
		while (*s == ' ')
			s++;
	}
	return n;
}

static struct outstanding *outstanding(struct conn *c, uint32_t asr, uint32_t epoch,
				       uint8_t type)
{
	unsigned int i;

	for (i = 0; i < c->nout; i++)
		if (c->outq[i].asr == asr && c->outq[i].epoch == epoch && c->outq[i].type == type)
			return &c->outq[i];
	return NULL;
}

static void expect_ack(struct conn *c, uint32_t asr, uint32_t epoch, uint8_t type, int64_t stale)
{
	c->outq[c->nout++] = (struct outstanding){ asr, epoch, type, stale, nmm_now() };
}

bool node_online(struct nmm *n, uint32_t node)
{
	struct conn *c = peer_find(n, node);

	return c && c->state == CS_UP;
}

/*
 * What a receiver is told of each member of an ASR: its addresses go where
 * the receiver holds them. An address has one owner per namespace and names
 * the ASR of its packets, so a pair's addresses are carried by one ASR: the
 * lowest both are live members of; with none, the lowest where the
 * receiver is live and the peer revoked (so that its packets are dropped).
 * Both ends of a pair choose the same. Read in one query per delivery.
 */
struct peer_row {
	uint32_t id;
	uint32_t live;		/* lowest ASR both are live in, 0: none */
	uint32_t dead;		/* lowest where the peer is revoked, 0: none */
	char *addrs;
};

struct peers {
	struct peer_row *row;
	size_t n;
};

static void peers_free(struct peers *p)
{
	while (p->n)
		free(p->row[--p->n].addrs);
	free(p->row);
	p->row = NULL;
}

/* asr's members (live and revoked), by id */
static int peers_load(struct nmm *n, uint32_t asr, uint32_t receiver, struct peers *p)
{
	/* the live carrier, else minus the revoked one (asked only then) */
	static const char sql[] =
		"SELECT o.id, o.addrs, coalesce((SELECT min(r.asr) FROM members r JOIN members q "
		"ON q.asr = r.asr WHERE r.node = ?2 AND r.revoked = 0 AND q.node = o.id AND "
		"q.revoked = 0), -(SELECT min(r.asr) FROM members r JOIN members q "
		"ON q.asr = r.asr WHERE r.node = ?2 AND r.revoked = 0 AND q.node = o.id AND "
		"q.revoked = 1), 0) FROM nodes o WHERE o.id IN (SELECT node FROM members "
		"WHERE asr = ?1) ORDER BY o.id";
	sqlite3_stmt *st = db_prep(n, sql, "uu", asr, receiver);
	int64_t carrier;
	size_t cap = 0;
	int rc = SQLITE_ERROR;

	memset(p, 0, sizeof(*p));
	while (st && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct peer_row *r;

		if (p->n == cap) {
			cap = cap ? 2 * cap : 64;
			r = reallocarray(p->row, cap, sizeof(*r));
			if (!r)
				break;
			p->row = r;
		}
		r = &p->row[p->n];
		r->id = sqlite3_column_int64(st, 0);
		r->addrs = strdup((const char *)sqlite3_column_text(st, 1));
		carrier = sqlite3_column_int64(st, 2);
		r->live = carrier > 0 ? carrier : 0;
		r->dead = carrier < 0 ? -carrier : 0;
		if (!r->addrs)
			break;
		p->n++;
	}
	db_done(n, st);
	if (rc == SQLITE_DONE)
		return 0;
	peers_free(p);
	return rc == SQLITE_ROW ? -ENOMEM : -EIO;
}

static int peer_cmp(const void *key, const void *elem)
{
	uint32_t id = *(const uint32_t *)key, e = ((const struct peer_row *)elem)->id;

	return id < e ? -1 : id > e;
}

/* One MEMBER entry of asr for receiver: node id, state, addresses where they belong. */
static int member_entry(struct nmm *n, uint32_t asr, uint32_t id, bool revoked,
			uint32_t receiver, const struct peers *p, struct akmp_member *mb)
{
	const struct peer_row *r = bsearch(&id, p->row, p->n, sizeof(*p->row), peer_cmp);
	char *copy, *tok, *save;
	struct akm_addr a;

	memset(mb, 0, sizeof(*mb));
	mb->node_id = id;
	mb->state = revoked ? AKM_MEMBER_REVOKED : AKM_MEMBER_ACTIVE;
	/* not a member any more (an epoch that could not be replaced): no address */
	if (!r || id == receiver || (revoked ? r->live || r->dead != asr : r->live != asr))
		return 0;
	copy = strdup(r->addrs);
	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, " ", &save); tok && mb->naddrs < AKM_ADDRS_MAX;
	     tok = strtok_r(NULL, " ", &save)) {
		/*
		 * A removed node's address belongs to a node of today that has
		 * it, else to the newest removed node that had it: one owner.
		 * (A node of today revoked here keeps its own.)
		 */
		if (revoked && db_int(n, 0, "SELECT count(*) FROM nodes o, nodes p WHERE "
				      "p.id = ?1 AND p.state = 'removed' AND o.id != ?1 AND "
				      "(o.state != 'removed' OR "
				      "o.created > p.created OR (o.created = p.created AND "
				      "o.id > p.id)) AND ' ' || o.addrs || ' ' LIKE "
				      "'% ' || ?2 || ' %'", "ut", id, tok))
			continue;
		if (!akm_addr_parse(tok, &a))
			akmp_addr_put(&a, mb->addrs[mb->naddrs++]);
	}
	free(copy);
	return 0;
}

/* The live (revoked 0, ascending) or revoked (1, the newest first) members of asr, at most max. */
static int member_ids(struct nmm *n, uint32_t asr, int revoked, uint32_t *ids, int max)
{
	sqlite3_stmt *st = db_prep(n, revoked ? "SELECT node FROM members WHERE asr = ? AND "
				   "revoked = 1 ORDER BY added DESC" : "SELECT node FROM members "
				   "WHERE asr = ? AND revoked = 0 ORDER BY node", "u", asr);
	int k = 0;

	if (!st)
		return -EIO;
	while (k < max && sqlite3_step(st) == SQLITE_ROW)
		ids[k++] = sqlite3_column_int64(st, 0);
	db_done(n, st);
	return k;
}

/*
 * A delivery to c's node failed with errno status: shown, an event, tried
 * again after a backoff doubling to NMM_RETRY_MAX; it holds nobody up.
 */
static void mark_failed(struct nmm *n, struct conn *c, uint32_t asr, uint32_t epoch,
			uint32_t status)
{
	db_exec(n, "UPDATE deliveries SET failed = 1, error = ?, updated = ? WHERE asr = ? AND "
		"epoch = ? AND node = ?", "tiuuu", strerror(status), (int64_t)time(NULL), asr,
		epoch, c->node);
	nmm_event(n, "delivery-failed", "asr %u epoch %u node %u error %s", asr, epoch, c->node,
		  strerrorname_np(status) ?: "unknown");
	c->retry_delay = c->retry_delay ? c->retry_delay * 2 : NMM_RETRY_MIN;
	if (c->retry_delay > NMM_RETRY_MAX)
		c->retry_delay = NMM_RETRY_MAX;
	if (!c->retry_at)
		c->retry_at = nmm_now() + c->retry_delay;
}

/*
 * Send ASR_CONFIG for the latest epoch of asr to c, if c's node is in it and
 * nothing for that epoch is outstanding; 0 if sent or nothing to send.
 */
static int deliver(struct nmm *n, struct conn *c, uint32_t asr)
{
	struct akmp_asr_config cfg = { .asr_id = asr };
	uint32_t ids[AKM_MEMBERS_MAX], rids[AKM_MEMBERS_MAX];
	struct akmp_buf b = { 0 };
	uint8_t *key = NULL, *cred = NULL;
	struct peers peers = { 0 };
	sqlite3_stmt *st;
	uint32_t lids[AKM_MEMBERS_MAX];
	char ad[48], *members = NULL;
	int i, j, nids = -1, revoked, live, err = 0;
	int64_t stale;

	st = db_prep(n, "SELECT a.alg, a.policy, a.grace, e.epoch, e.members FROM asrs a "
		     "JOIN epochs e ON e.asr = a.id AND e.epoch = a.epoch WHERE a.id = ?",
		     "u", asr);
	if (!st)
		return -EIO;
	if (sqlite3_step(st) == SQLITE_ROW) {
		cfg.alg = sqlite3_column_int(st, 0);
		cfg.policy = sqlite3_column_int(st, 1);
		cfg.grace = sqlite3_column_int64(st, 2);
		cfg.epoch = sqlite3_column_int64(st, 3);
		members = strdup((const char *)sqlite3_column_text(st, 4));
	}
	db_done(n, st);
	if (members)
		nids = parse_ids(members, ids, AKM_MEMBERS_MAX);
	free(members);
	for (i = 0; i < nids && ids[i] != c->node; i++)
		;
	if (nids <= 0 || i == nids || outstanding(c, asr, cfg.epoch, AKMP_ASR_CONFIG))
		return 0;
	if (c->nout == NMM_OUTSTANDING_MAX)
		return -ENOBUFS;	/* refill() sends it when ACKs come */
	stale = db_int(n, 0, "SELECT stale FROM deliveries WHERE asr = ? AND epoch = ? AND "
		       "node = ?", "uuu", asr, cfg.epoch, c->node);

	/*
	 * Revoked since the epoch was made (at a root's site, a node removed
	 * there before the root's new epoch): out of the live ones, and of
	 * the key's member set (the receiver's kernel takes it from the list).
	 */
	live = member_ids(n, asr, 0, lids, AKM_MEMBERS_MAX);
	for (i = 0, j = 0; i < nids && live >= 0; i++)
		if (bsearch(&ids[i], lids, live, sizeof(*lids), akm_cmp_u32))
			ids[j++] = ids[i];
	nids = live < 0 ? 0 : j;
	for (i = 0; i < nids && ids[i] != c->node; i++)
		;
	if (i == nids)
		return 0;	/* the receiver among them */
	/* removed members stay, revoked, the newest first, as far as room goes */
	revoked = member_ids(n, asr, 1, rids, AKM_MEMBERS_MAX - nids);
	cfg.members = calloc(nids + (revoked > 0 ? revoked : 0), sizeof(*cfg.members));
	key = akm_secure_alloc(32);
	cred = akm_secure_alloc(32);
	err = revoked < 0 ? revoked : -ENOMEM;
	if (revoked < 0 || !cfg.members || !key || !cred)
		goto out;
	err = peers_load(n, asr, c->node, &peers);
	for (i = 0; !err && i < nids; i++)
		err = member_entry(n, asr, ids[i], false, c->node, &peers, &cfg.members[i]);
	for (i = 0; !err && i < revoked; i++)
		err = member_entry(n, asr, rids[i], true, c->node, &peers,
				   &cfg.members[nids + i]);
	if (err)
		goto out;
	cfg.nmembers = nids + revoked;
	snprintf(ad, sizeof(ad), "key:%u:%u", asr, cfg.epoch);
	err = load_secret(n, ad, key, db_prep(n, "SELECT key FROM epochs WHERE asr = ? AND "
					      "epoch = ?", "uu", asr, cfg.epoch));
	if (!err)
		err = node_cred(n, c->node, cred);
	if (err)
		goto out;
	err = akm_wrap_key(cred, key, asr, cfg.epoch, cfg.alg, ids, nids, cfg.wrapped);
	if (err)
		goto out;
	akmp_asr_config(&b, &cfg);
	err = conn_send(n, c, &b);
	if (!err)
		expect_ack(c, asr, cfg.epoch, AKMP_ASR_CONFIG, stale);
out:
	if (err && c->state == CS_UP) {
		/* as if the node had failed it: shown, tried again, holds nobody up */
		nmm_log("asr %u: cannot deliver epoch %u to node %u: %s", asr, cfg.epoch,
			c->node, strerror(-err));
		mark_failed(n, c, asr, cfg.epoch, -err);
	}
	akmp_buf_free(&b);
	akm_secure_free(key);
	akm_secure_free(cred);
	peers_free(&peers);
	free(cfg.members);
	return err;
}

static int send_activate(struct nmm *n, struct conn *c, uint32_t asr, uint32_t epoch)
{
	struct akmp_buf b = { 0 };
	int err;

	if (outstanding(c, asr, epoch, AKMP_ACTIVATE))
		return 0;
	if (c->nout == NMM_OUTSTANDING_MAX)
		return -ENOBUFS;
	akmp_begin(&b, AKMP_ACTIVATE);
	akmp_put_u32(&b, AKMP_T_ASR_ID, asr);
	akmp_put_u32(&b, AKMP_T_EPOCH, epoch);
	err = conn_send(n, c, &b);
	if (!err)
		expect_ack(c, asr, epoch, AKMP_ACTIVATE, 0);
	akmp_buf_free(&b);
	return err;
}

static void send_leave(struct nmm *n, struct conn *c, uint32_t asr)
{
	struct akmp_buf b = { 0 };

	akmp_begin(&b, AKMP_LEAVE);
	akmp_put_u32(&b, AKMP_T_ASR_ID, asr);
	conn_send(n, c, &b);
	akmp_buf_free(&b);
	db_exec(n, "DELETE FROM counters WHERE node = ? AND asr = ?", "uu", c->node, asr);
}

/*
 * What c's node is owed, as far as its outstanding slots go (a node in
 * more ASRs than NMM_OUTSTANDING_MAX gets the rest as ACKs come in): the
 * latest epoch of each ASR whose delivery is pending or stale and has not
 * failed, then ACTIVATE for each active one it installed.
 */
static void refill(struct nmm *n, struct conn *c)
{
	sqlite3_stmt *st;
	int err = 0;

	if (c->state != CS_UP)
		return;
	st = db_prep(n, "SELECT d.asr FROM deliveries d JOIN asrs a ON a.id = d.asr AND "
		     "a.epoch = d.epoch WHERE d.node = ? AND d.failed = 0 AND "
		     "(d.state = 'pending' OR d.stale != 0) ORDER BY d.state != 'pending', d.asr",
		     "u", c->node);
	while (st && err != -ENOBUFS && c->state == CS_UP && sqlite3_step(st) == SQLITE_ROW)
		err = deliver(n, c, sqlite3_column_int64(st, 0));
	db_done(n, st);
	st = db_prep(n, "SELECT d.asr, d.epoch FROM deliveries d JOIN epochs e "
		     "ON e.asr = d.asr AND e.epoch = d.epoch JOIN asrs a "
		     "ON a.id = d.asr AND a.epoch = d.epoch WHERE d.node = ? AND d.failed = 0 AND "
		     "d.state = 'installed' AND e.state = 'active'", "u", c->node);
	err = 0;
	while (st && err != -ENOBUFS && c->state == CS_UP && sqlite3_step(st) == SQLITE_ROW)
		err = send_activate(n, c, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1));
	db_done(n, st);
}

int rekey_put_epoch(struct nmm *n, uint32_t asr, uint32_t epoch, const uint8_t key[32])
{
	uint8_t sealed[AKM_SEALED_LEN(32)];
	char ad[48], members[AKM_MEMBERS_MAX * 11 + 1] = "";
	size_t len = 0;
	sqlite3_stmt *st;
	int err = -EIO;

	st = db_prep(n, "SELECT node FROM members WHERE asr = ? AND revoked = 0 ORDER BY node",
		     "u", asr);
	if (!st)
		return -EIO;
	while (len < sizeof(members) - 11 && sqlite3_step(st) == SQLITE_ROW)
		len += snprintf(members + len, sizeof(members) - len, "%s%lld", len ? " " : "",
				(long long)sqlite3_column_int64(st, 0));
	db_done(n, st);

	snprintf(ad, sizeof(ad), "key:%u:%u", asr, epoch);
	akm_seal(&n->master, ad, key, 32, sealed);
	/*
	 * An epoch never activated is superseded; no key is kept that is not
	 * needed. Members at other sites (remote) are delivered by their NMMs.
	 */
	if (db_exec(n, "UPDATE epochs SET state = 'retired', key = x'' WHERE asr = ? AND "
		    "state = 'pending'", "u", asr) < 0 ||
	    db_exec(n, "INSERT INTO epochs (asr, epoch, key, members, state, created) "
		    "VALUES (?, ?, ?, ?, 'pending', ?)", "uubti", asr, epoch, sealed,
		    sizeof(sealed), members, (int64_t)time(NULL)) < 0 ||
	    db_exec(n, "INSERT INTO deliveries (asr, epoch, node, state, updated) "
		    "SELECT asr, ?, node, 'pending', ? FROM members m WHERE asr = ? AND "
		    "revoked = 0 AND EXISTS (SELECT 1 FROM nodes o WHERE o.id = m.node AND o.remote = 0 AND "
		    "o.state != 'removed')",
		    "uiu", epoch, (int64_t)time(NULL), asr) < 0 ||
	    db_exec(n, "UPDATE asrs SET epoch = ? WHERE id = ?", "uu", epoch, asr) != 1)
		goto out;
	err = 0;
	for (len = 0; members[len]; len++)	/* one word in the event */
		if (members[len] == ' ')
			members[len] = ',';
	nmm_event(n, "epoch-created", "asr %u epoch %u members %s", asr, epoch,
		  *members ? members : "none");
out:
	sodium_memzero(sealed, sizeof(sealed));
	return err;
}

int rekey_new_epoch(struct nmm *n, uint32_t asr)
{
	uint8_t *key;
	int64_t epoch;
	int err;

	epoch = db_int(n, -1, "SELECT epoch FROM asrs WHERE id = ?", "u", asr) + 1;
	if (epoch > UINT32_MAX) {
		nmm_log("asr %u: out of epochs: delete it and make a new one", asr);
		return -ERANGE;
	}
	if (epoch <= 0)
		return -EIO;
	key = akm_secure_alloc(32);
	if (!key)
		return -ENOMEM;
	randombytes_buf(key, 32);
	err = rekey_put_epoch(n, asr, epoch, key);
	akm_secure_free(key);
	return err;
}

int rekey_restale_pairs(struct nmm *n, uint32_t asr, uint32_t node)
{
	/*
	 * A pair's addresses are in x or in the lowest other ASR that would
	 * carry them (live, or revoked on one side): only that list changes,
	 * at each end. Every pair of x (node 0: an ASR deleted or purged).
	 */
	static const char one[] =
		"WITH pr AS (SELECT p.node AS q, "
		"(SELECT min(a.asr) FROM members a JOIN members b ON b.asr = a.asr WHERE "
		"a.node = p.node AND b.node = ?2 AND a.revoked = 0 AND b.revoked = 0 AND "
		"a.asr != ?1) AS live, "
		"(SELECT min(a.asr) FROM members a JOIN members b ON b.asr = a.asr WHERE "
		"a.node = p.node AND b.node = ?2 AND a.revoked = 0 AND b.revoked = 1 AND "
		"a.asr != ?1) AS revq, "
		"(SELECT min(a.asr) FROM members a JOIN members b ON b.asr = a.asr WHERE "
		"a.node = ?2 AND b.node = p.node AND a.revoked = 0 AND b.revoked = 1 AND "
		"a.asr != ?1) AS revn "
		"FROM members p WHERE p.asr = ?1 AND p.node != ?2) "
		"UPDATE deliveries SET stale = stale + 1 WHERE epoch = "
		"(SELECT epoch FROM asrs WHERE id = deliveries.asr) AND (asr, node) IN "
		"(SELECT live, q FROM pr UNION SELECT live, ?2 FROM pr UNION "
		"SELECT revq, q FROM pr UNION SELECT revn, ?2 FROM pr)";
	static const char all[] =
		"UPDATE deliveries SET stale = stale + 1 WHERE asr != ?1 AND "
		"epoch = (SELECT epoch FROM asrs WHERE id = deliveries.asr) AND "
		"node IN (SELECT node FROM members WHERE asr = ?1) AND EXISTS "
		"(SELECT 1 FROM members q WHERE q.asr = deliveries.asr AND "
		"q.node != deliveries.node AND q.node IN "
		"(SELECT node FROM members WHERE asr = ?1))";

	return db_exec(n, node ? one : all, node ? "uu" : "u", asr, node) < 0 ? -EIO : 0;
}

int rekey_restale_node(struct nmm *n, uint32_t node)
{
	return db_exec(n, "UPDATE deliveries SET stale = stale + 1 WHERE node != ?1 AND "
		       "epoch = (SELECT epoch FROM asrs WHERE id = deliveries.asr) AND "
		       "asr IN (SELECT asr FROM members WHERE node = ?1)", "u", node) < 0 ?
	       -EIO : 0;
}

void rekey_kick(struct nmm *n)
{
	struct nodest *s;

	for (s = n->nodes; s; s = s->next)
		if (s->mode == NODE_SESSION && s->session)
			refill(n, s->session);
}

void rekey_catch_up(struct nmm *n, struct conn *c)
{
	sqlite3_stmt *st;

	/*
	 * ASRs it left (or that were deleted): LEAVE at every session start,
	 * until it is in that ASR again (nothing acknowledges a LEAVE, and
	 * one the node never read would leave it a stale ASR for good).
	 */
	st = db_prep(n, "SELECT asr FROM leaves WHERE node = ?", "u", c->node);
	while (st && sqlite3_step(st) == SQLITE_ROW)
		send_leave(n, c, sqlite3_column_int64(st, 0));
	db_done(n, st);
	/* a new session: what failed is tried again now */
	db_exec(n, "UPDATE deliveries SET failed = 0 WHERE node = ?", "u", c->node);
	refill(n, c);
}

/* by: what let it go (the event says it) */
static void activate_epoch(struct nmm *n, uint32_t asr, uint32_t epoch, const char *by)
{
	sqlite3_stmt *st;
	struct conn *c;

	if (db_exec(n, "UPDATE epochs SET state = 'active', activated = ? WHERE asr = ? AND "
		    "epoch = ? AND state = 'pending'", "iuu", (int64_t)time(NULL), asr,
		    epoch) != 1)
		return;
	nmm_event(n, "epoch-activated", "asr %u epoch %u installed %lld of %lld by %s", asr, epoch,
		  (long long)db_int(n, 0, "SELECT count(*) FROM deliveries WHERE asr = ? AND "
				    "epoch = ? AND state != 'pending'", "uu", asr, epoch),
		  (long long)db_int(n, 0, "SELECT count(*) FROM deliveries WHERE asr = ? AND "
				    "epoch = ?", "uu", asr, epoch), by);
	st = db_prep(n, "SELECT node FROM deliveries WHERE asr = ? AND epoch = ? AND "
		     "state = 'installed'", "uu", asr, epoch);
	while (st && sqlite3_step(st) == SQLITE_ROW) {
		c = peer_find(n, sqlite3_column_int64(st, 0));
		if (c && c->state == CS_UP)
			send_activate(n, c, asr, epoch);
	}
	db_done(n, st);
}

/*
 * asr's pending epoch and since when it is (in this process: a restart
 * counts anew); NULL without memory (then it is due at once).
 */
static struct pending *pending(struct nmm *n, uint32_t asr, uint32_t epoch)
{
	struct pending *p, *grown;
	size_t i;

	for (i = 0; i < n->npending; i++) {
		p = &n->pending[i];
		if (p->asr != asr)
			continue;
		if (p->epoch != epoch)
			*p = (struct pending){ .asr = asr, .epoch = epoch, .since = nmm_now() };
		return p;
	}
	grown = realloc(n->pending, (n->npending + 1) * sizeof(*grown));
	if (!grown)
		return NULL;
	n->pending = grown;
	grown[n->npending] = (struct pending){ .asr = asr, .epoch = epoch, .since = nmm_now() };
	return &grown[n->npending++];
}

/* At start: the epochs pending then wait for their deadline (their members reconnect). */
void rekey_start(struct nmm *n)
{
	sqlite3_stmt *st = db_prep(n, "SELECT e.asr, e.epoch FROM epochs e JOIN asrs a ON "
				   "a.id = e.asr AND a.epoch = e.epoch WHERE e.state = 'pending'",
				   "");
	struct pending *p;

	while (st && sqlite3_step(st) == SQLITE_ROW) {
		p = pending(n, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1));
		if (p)
			p->inherited = true;
	}
	db_done(n, st);
}

static void pending_done(struct nmm *n, uint32_t asr)
{
	size_t i;

	for (i = 0; i < n->npending; i++)
		if (n->pending[i].asr == asr) {
			n->pending[i] = n->pending[--n->npending];
			return;
		}
}

void rekey_forget_asr(struct nmm *n, uint32_t asr)
{
	struct nodest *s;
	struct conn *c;
	unsigned int i;
	size_t j;

	pending_done(n, asr);
	/* an ACK still to come for it answers nothing of an ASR of that id made anew */
	for (c = n->conns; c; c = c->next)
		for (i = 0; i < c->nout; i++)
			if (c->outq[i].asr == asr)
				c->outq[i].type = 0;
	/* an ASR of that id made anew may need a jump at once */
	for (s = n->nodes; s; s = s->next)
		for (j = 0; j < s->njumps; j++)
			if (s->jumps[j].asr == asr)
				s->jumps[j] = s->jumps[--s->njumps];
}

/* Is epoch asr's latest, not activated yet? */
static bool latest_pending(struct nmm *n, uint32_t asr, uint32_t epoch)
{
	return db_int(n, 0, "SELECT count(*) FROM asrs a JOIN epochs e ON e.asr = a.id AND "
		      "e.epoch = a.epoch WHERE a.id = ? AND a.epoch = ? AND e.state = 'pending'",
		      "uu", asr, epoch) == 1;
}

/*
 * Activate the pending epoch of asr once every online member installed it,
 * or NMM_REKEY_TIMEOUT after it was made: a member that is offline, failed
 * it, or does not answer (however often it reconnects) holds nobody up
 * longer than that. For an epoch pending when the NMM started, whose
 * members are still coming back, only the deadline counts. Only the latest
 * epoch is activated (an ACK for an older one changes nothing). An ASR with
 * members at other sites, while the root's session is up and the root
 * activates across its sites: the root is sent ACK once the online members
 * installed the epoch, and its ACTIVATE (every site did) or the deadline
 * lets it go.
 */
static void epoch_check(struct nmm *n, uint32_t asr, uint32_t epoch)
{
	bool installed = true, late, wait;
	struct pending *p;
	sqlite3_stmt *st;

	if (!latest_pending(n, asr, epoch))
		return;
	p = pending(n, asr, epoch);
	late = !p || nmm_now() - p->since >= NMM_REKEY_TIMEOUT;
	if (!late && p->inherited)
		return;
	st = db_prep(n, "SELECT node FROM deliveries WHERE asr = ? AND epoch = ? AND "
		     "state = 'pending' AND failed = 0", "uu", asr, epoch);
	if (!st)
		return;
	while (installed && sqlite3_step(st) == SQLITE_ROW)
		installed = !node_online(n, sqlite3_column_int64(st, 0));
	db_done(n, st);
	wait = installed && !late && !p->root_go && sync_acks(n, asr);
	/* the root is told once a session; it says when every site is there */
	if (wait && p->acked != n->up.sessions && !sync_ack(n, asr, epoch))
		p->acked = n->up.sessions;
	if (late || (installed && !wait)) {
		pending_done(n, asr);
		activate_epoch(n, asr, epoch, late ? "deadline" : p->root_go ? "root" : "members");
	}
}

/* The root's ACTIVATE: every site installed it; here, once the online members did. */
void rekey_activate(struct nmm *n, uint32_t asr, uint32_t epoch)
{
	struct pending *p;

	if (!latest_pending(n, asr, epoch))
		return;		/* an older one, or activated here already */
	p = pending(n, asr, epoch);
	if (p)
		p->root_go = true;
	epoch_check(n, asr, epoch);
}

/*
 * The node's kernel had an epoch at or above the one sent (a store restored
 * from a backup, an ASR id deleted and made again): one new epoch above it.
 * false if that cannot be done.
 */
/*
 * A compromised node must not use up an ASR's epochs: one jump per node and
 * ASR in NMM_STALE_JUMP_EVERY.
 */
int rekey_jump(struct nmm *n, uint32_t node, uint32_t asr, bool take)
{
	struct nodest *s = nodest(n, node, true);
	struct jump *j = NULL, *grown;
	int64_t now = nmm_now();
	size_t i;

	if (!s)
		return -ENOMEM;
	for (i = 0; i < s->njumps && !j; i++)
		if (s->jumps[i].asr == asr)
			j = &s->jumps[i];
	if (j && now - j->at < NMM_STALE_JUMP_EVERY)
		return -EAGAIN;
	if (!take)
		return 0;
	if (!j) {
		grown = realloc(s->jumps, (s->njumps + 1) * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		s->jumps = grown;
		j = &grown[s->njumps++];
		j->asr = asr;
	}
	j->at = now;
	return 0;
}

static bool epoch_above(struct nmm *n, struct conn *c, uint32_t asr, uint32_t epoch,
			uint32_t last)
{
	if (last < epoch || last - epoch > NMM_STALE_JUMP_MAX)
		goto refuse;
	if (db_int(n, 0, "SELECT epoch FROM asrs WHERE id = ?", "u", asr) > last)
		return true;	/* one above it exists already: it goes to the node */
	if (rekey_jump(n, c->node, asr, false))
		goto refuse;
	/* at a root's site the root makes it (sync.c); meanwhile this one waits */
	if (n->up.peer) {
		if (sync_above(n, c->node, asr, epoch, last) ||
		    rekey_jump(n, c->node, asr, true))
			return false;
		db_exec(n, "UPDATE deliveries SET failed = 1, error = 'waiting for an epoch above "
			"the node''s last from the root', updated = ? WHERE asr = ? AND epoch = ? "
			"AND node = ?", "iuuu", (int64_t)time(NULL), asr, epoch, c->node);
		return true;
	}
	if (store_begin(n) ||
	    db_exec(n, "UPDATE asrs SET epoch = ? WHERE id = ?", "uu", last, asr) != 1 ||
	    rekey_new_epoch(n, asr) || store_commit(n)) {
		store_rollback(n);
		return false;
	}
	rekey_jump(n, c->node, asr, true);
	nmm_event(n, "epoch-stale", "asr %u epoch %u node %u last %u", asr, epoch, c->node, last);
	rekey_kick(n);
	return true;
refuse:
	nmm_log("asr %u: node %u says its last epoch is %u (sent %u): not followed", asr,
		c->node, last, epoch);
	return false;
}

void rekey_ack(struct nmm *n, struct conn *c, const struct akmp_msg *m)
{
	uint32_t asr = akmp_u32(&m->tb[AKMP_T_ASR_ID]), epoch = akmp_u32(&m->tb[AKMP_T_EPOCH]);
	uint32_t status = akmp_u32(&m->tb[AKMP_T_STATUS]);
	struct outstanding o;
	unsigned int i;

	for (i = 0; i < c->nout; i++)
		if (c->outq[i].asr == asr && c->outq[i].epoch == epoch)
			break;
	if (i == c->nout) {
		if (!c->noisy)	/* once a connection: the log is not the node's */
			nmm_log("node %u: ACK for asr %u epoch %u that was not asked for", c->node,
				asr, epoch);
		c->noisy = true;
		return;
	}
	o = c->outq[i];
	memmove(&c->outq[i], &c->outq[i + 1], (c->nout - i - 1) * sizeof(c->outq[0]));
	c->nout--;
	if (!o.type) {
		/* for an ASR deleted since */
	} else if (status) {
		/* ESTALE: the node's kernel had it; a newer epoch goes there instead */
		if (status != ESTALE || o.type != AKMP_ASR_CONFIG || !m->tb[AKMP_T_LAST].v ||
		    !epoch_above(n, c, asr, epoch, akmp_u32(&m->tb[AKMP_T_LAST]))) {
			mark_failed(n, c, asr, epoch, status);
			epoch_check(n, asr, epoch);
		}
	} else if (o.type == AKMP_ASR_CONFIG) {
		bool was_pending = db_int(n, 0, "SELECT count(*) FROM deliveries WHERE asr = ? AND "
					  "epoch = ? AND node = ? AND state = 'pending'", "uuu",
					  asr, epoch, c->node);

		/* installed; the member list it answers is current unless it changed since */
		db_exec(n, "UPDATE deliveries SET state = CASE WHEN state = 'pending' THEN "
			"'installed' ELSE state END, stale = CASE WHEN stale = ? THEN 0 ELSE "
			"stale END, failed = 0, error = '', updated = ? WHERE asr = ? AND "
			"epoch = ? AND node = ?", "iiuuu", o.stale, (int64_t)time(NULL), asr, epoch,
			c->node);
		if (was_pending)
			nmm_event(n, "key-delivered", "asr %u epoch %u node %u", asr, epoch,
				  c->node);
		epoch_check(n, asr, epoch);
	} else if (db_exec(n, "UPDATE deliveries SET state = 'activated', failed = 0, "
			   "error = '', updated = ? WHERE asr = ? AND epoch = ? AND node = ? AND "
			   "state != 'activated'", "iuuu", (int64_t)time(NULL), asr, epoch,
			   c->node) == 1) {
		nmm_event(n, "key-switched", "asr %u epoch %u node %u", asr, epoch, c->node);
	}
	if (!status)
		c->retry_delay = 0;
	refill(n, c);
	admin_wait_check(n);
}

void rekey_tick(struct nmm *n)
{
	int64_t now = nmm_now();
	uint32_t (*todo)[2] = NULL, (*grown)[2];
	size_t k = 0, cap = 0, i;
	struct nodest *s;
	sqlite3_stmt *st;

	/* pending latest epochs: activated once no online member holds them up */
	st = db_prep(n, "SELECT e.asr, e.epoch FROM epochs e JOIN asrs a ON a.id = e.asr AND "
		     "a.epoch = e.epoch WHERE e.state = 'pending'", "");
	while (st && sqlite3_step(st) == SQLITE_ROW) {
		if (k == cap) {
			cap = cap ? 2 * cap : 64;
			grown = realloc(todo, cap * sizeof(*todo));
			if (!grown)
				break;
			todo = grown;
		}
		todo[k][0] = sqlite3_column_int64(st, 0);
		todo[k++][1] = sqlite3_column_int64(st, 1);
	}
	db_done(n, st);
	for (i = 0; i < k; i++)
		epoch_check(n, todo[i][0], todo[i][1]);
	free(todo);
	/* retired epochs before the latest go, with their deliveries */
	if (now % 60 == 0)
		db_exec(n, "DELETE FROM epochs WHERE state = 'retired' AND epoch < "
			"(SELECT epoch FROM asrs WHERE id = epochs.asr)", "");
	/* active epochs with a newer active one, past the grace period */
	db_exec(n, "UPDATE epochs SET state = 'retired', key = x'' WHERE state = 'active' AND EXISTS "
		"(SELECT 1 FROM epochs e2 JOIN asrs a ON a.id = e2.asr WHERE e2.asr = "
		"epochs.asr AND e2.epoch > epochs.epoch AND e2.state != 'pending' AND "
		"e2.activated > 0 AND e2.activated + a.grace <= ?)", "i", (int64_t)time(NULL));
	sync_tick(n);
	/* failed deliveries of online nodes: again, after their backoff */
	for (s = n->nodes; s; s = s->next) {
		struct conn *c = s->mode == NODE_SESSION ? s->session : NULL;

		if (!c || c->state != CS_UP || !c->retry_at || now < c->retry_at)
			continue;
		c->retry_at = 0;
		db_exec(n, "UPDATE deliveries SET failed = 0 WHERE node = ?", "u", c->node);
		refill(n, c);
	}
	admin_wait_check(n);
}

/* The ASRs node is a member of (not revoked), however many; free *asrs. */
int node_asrs(struct nmm *n, uint32_t node, uint32_t **asrs, size_t *k)
{
	size_t cap = 0;
	uint32_t *grown;
	sqlite3_stmt *st;
	int err = 0, rc;

	*asrs = NULL;
	*k = 0;
	st = db_prep(n, "SELECT asr FROM members WHERE node = ? AND revoked = 0", "u", node);
	if (!st)
		return -EIO;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*k == cap) {
			cap = cap ? 2 * cap : 64;
			grown = realloc(*asrs, cap * sizeof(**asrs));
			if (!grown) {
				err = -ENOMEM;
				break;
			}
			*asrs = grown;
		}
		(*asrs)[(*k)++] = sqlite3_column_int64(st, 0);
	}
	db_done(n, st);
	if (!err && rc != SQLITE_DONE)	/* a short list is no list */
		err = -EIO;
	if (err) {
		free(*asrs);
		*asrs = NULL;
	}
	return err;
}

int rekey_node_asrs(struct nmm *n, uint32_t node)
{
	uint32_t *asrs;
	size_t k, i;
	int err;

	/*
	 * Every ASR it is a member of: its latest epoch may have reached the
	 * node even if the acknowledgement did not, and one left out would
	 * be sent to the node again with its counter back at 1.
	 */
	err = node_asrs(n, node, &asrs, &k);
	if (err || !k)
		return err;
	if (store_begin(n)) {
		err = -EIO;
		goto out;
	}
	for (i = 0; i < k && !err; i++)
		err = rekey_new_epoch(n, asrs[i]);
	if (err || store_commit(n)) {
		store_rollback(n);
		err = -EIO;
		goto out;
	}
	nmm_event(n, "node-fresh", "node %u asrs %zu rekeyed", node, k);
	rekey_kick(n);
out:
	free(asrs);
	return err;
}
