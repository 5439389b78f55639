// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Membership changes and key delivery (protocol.md, steps 4-5). All state
 * is in the store, written before anything is sent: an epoch is 'pending'
 * until every member installed it (delivery 'installed') or the timeout
 * passed, then 'active' (ACTIVATE sent to each member that installed it,
 * delivery 'activated' on its ACK), then 'retired' after the grace period.
 * A restarted NMM finds the same state and carries on: members get
 * ASR_CONFIG for the latest epoch whenever their session starts.
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

static bool outstanding(struct conn *c, uint32_t asr, uint32_t epoch, uint8_t type)
{
	unsigned int i;

	for (i = 0; i < c->nout; i++)
		if (c->outq[i].asr == asr && c->outq[i].epoch == epoch && c->outq[i].type == type)
			return true;
	return false;
}

static int expect_ack(struct conn *c, uint32_t asr, uint32_t epoch, uint8_t type)
{
	if (c->nout == NMM_OUTSTANDING_MAX)
		return -ENOBUFS;
	c->outq[c->nout++] = (struct outstanding){ asr, epoch, type };
	return 0;
}

/* One MEMBER entry for id; the receiver's own entry without addresses. */
static int member_entry(struct nmm *n, uint32_t id, uint32_t receiver, struct akmp_member *mb)
{
	sqlite3_stmt *st = db_prep(n, "SELECT state, addrs FROM nodes WHERE id = ?", "u", id);
	char *copy = NULL, *tok, *save;
	struct akm_addr a;
	int err = -ENOENT;

	memset(mb, 0, sizeof(*mb));
	mb->node_id = id;
	if (!st)
		return -EIO;
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *state = (const char *)sqlite3_column_text(st, 0);

		mb->state = !strcmp(state, "active") ? AKM_MEMBER_ACTIVE :
			    !strcmp(state, "removed") ? AKM_MEMBER_REVOKED :
			    AKM_MEMBER_PROVISIONED;
		copy = strdup((const char *)sqlite3_column_text(st, 1));
		err = copy ? 0 : -ENOMEM;
	}
	sqlite3_finalize(st);
	if (id != receiver)
		for (tok = copy ? strtok_r(copy, " ", &save) : NULL;
		     tok && mb->naddrs < AKM_ADDRS_MAX; tok = strtok_r(NULL, " ", &save))
			if (!akm_addr_parse(tok, &a))
				akmp_addr_put(&a, mb->addrs[mb->naddrs++]);
	free(copy);
	return err;
}

/* The revoked members of asr, ascending, at most max. */
static int revoked_ids(struct nmm *n, uint32_t asr, uint32_t *ids, int max)
{
	sqlite3_stmt *st = db_prep(n, "SELECT node FROM members WHERE asr = ? AND revoked = 1 "
				   "ORDER BY node", "u", asr);
	int k = 0;

	if (!st)
		return -EIO;
	while (k < max && sqlite3_step(st) == SQLITE_ROW)
		ids[k++] = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return k;
}

/* Send ASR_CONFIG for the latest epoch of asr to c, if c's node is in it. */
void rekey_deliver(struct nmm *n, struct conn *c, uint32_t asr)
{
	struct akmp_asr_config cfg = { .asr_id = asr };
	uint32_t ids[AKM_MEMBERS_MAX], rids[AKM_MEMBERS_MAX];
	struct akmp_buf b = { 0 };
	uint8_t *key = NULL, *cred = NULL;
	sqlite3_stmt *st;
	char ad[48], *members = NULL;
	int i, nids = -1, revoked, err = -ENOENT;

	st = db_prep(n, "SELECT a.alg, a.policy, a.grace, e.epoch, e.members FROM asrs a "
		     "JOIN epochs e ON e.asr = a.id AND e.epoch = a.epoch WHERE a.id = ?",
		     "u", asr);
	if (!st)
		return;
	if (sqlite3_step(st) == SQLITE_ROW) {
		cfg.alg = sqlite3_column_int(st, 0);
		cfg.policy = sqlite3_column_int(st, 1);
		cfg.grace = sqlite3_column_int64(st, 2);
		cfg.epoch = sqlite3_column_int64(st, 3);
		members = strdup((const char *)sqlite3_column_text(st, 4));
	}
	sqlite3_finalize(st);
	if (members)
		nids = parse_ids(members, ids, AKM_MEMBERS_MAX);
	free(members);
	for (i = 0; i < nids && ids[i] != c->node; i++)
		;
	if (nids <= 0 || i == nids || outstanding(c, asr, cfg.epoch, AKMP_ASR_CONFIG) ||
	    c->nout >= NMM_OUTSTANDING_MAX)	/* refill() sends it later */
		return;

	revoked = revoked_ids(n, asr, rids, AKM_MEMBERS_MAX - nids);
	cfg.members = calloc(nids + (revoked > 0 ? revoked : 0), sizeof(*cfg.members));
	key = secure_alloc(32);
	cred = secure_alloc(32);
	if (!cfg.members || !key || !cred)
		goto out;
	for (i = 0; i < nids; i++)
		if (member_entry(n, ids[i], c->node, &cfg.members[i]))
			goto out;
	/* removed members stay, revoked, and out of the wrapping's member set */
	for (i = 0; i < revoked; i++) {
		if (member_entry(n, rids[i], c->node, &cfg.members[nids + i]))
			goto out;
		cfg.members[nids + i].state = AKM_MEMBER_REVOKED;
	}
	cfg.nmembers = nids + (revoked > 0 ? revoked : 0);
	snprintf(ad, sizeof(ad), "key:%u:%u", asr, cfg.epoch);
	err = load_secret(n, ad, key, db_prep(n, "SELECT key FROM epochs WHERE asr = ? AND "
					      "epoch = ?", "uu", asr, cfg.epoch));
	if (!err)
		err = node_cred(n, c->node, cred);
	if (err)
		goto out;
	wrap_key(cred, key, asr, cfg.epoch, cfg.alg, ids, nids, cfg.wrapped);
	akmp_asr_config(&b, &cfg);
	if (!conn_send(n, c, &b))
		expect_ack(c, asr, cfg.epoch, AKMP_ASR_CONFIG);
out:
	if (err)
		nmm_log("asr %u: cannot deliver epoch %u to node %u: %s", asr, cfg.epoch,
			c->node, strerror(-err));
	akmp_buf_free(&b);
	secure_free(key);
	secure_free(cred);
	free(cfg.members);
}

static void send_activate(struct nmm *n, struct conn *c, uint32_t asr, uint32_t epoch)
{
	struct akmp_buf b = { 0 };

	if (outstanding(c, asr, epoch, AKMP_ACTIVATE) || c->nout >= NMM_OUTSTANDING_MAX)
		return;
	akmp_begin(&b, AKMP_ACTIVATE);
	akmp_put_u32(&b, AKMP_T_ASR_ID, asr);
	akmp_put_u32(&b, AKMP_T_EPOCH, epoch);
	if (!conn_send(n, c, &b))
		expect_ack(c, asr, epoch, AKMP_ACTIVATE);
	akmp_buf_free(&b);
}

/* ACTIVATE to c for every active epoch it installed but did not activate. */
static void push_activates(struct nmm *n, struct conn *c)
{
	sqlite3_stmt *st = db_prep(n, "SELECT d.asr, d.epoch FROM deliveries d JOIN epochs e "
				   "ON e.asr = d.asr AND e.epoch = d.epoch JOIN asrs a "
				   "ON a.id = d.asr AND a.epoch = d.epoch WHERE d.node = ? AND "
				   "d.state = 'installed' AND e.state = 'active'", "u", c->node);

	if (!st)
		return;
	while (sqlite3_step(st) == SQLITE_ROW)
		send_activate(n, c, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1));
	sqlite3_finalize(st);
}

static void send_leave(struct nmm *n, struct conn *c, uint32_t asr)
{
	struct akmp_buf b = { 0 };

	akmp_begin(&b, AKMP_LEAVE);
	akmp_put_u32(&b, AKMP_T_ASR_ID, asr);
	conn_send(n, c, &b);
	akmp_buf_free(&b);
}

int rekey_new_epoch(struct nmm *n, uint32_t asr)
{
	uint8_t *key = secure_alloc(32), sealed[SEALED_LEN(32)];
	char ad[48], members[AKM_MEMBERS_MAX * 11 + 1] = "";
	size_t len = 0;
	sqlite3_stmt *st;
	int64_t epoch;
	int err = -EIO;

	if (!key)
		return -ENOMEM;
	epoch = db_int(n, -1, "SELECT epoch FROM asrs WHERE id = ?", "u", asr) + 1;
	st = db_prep(n, "SELECT node FROM members WHERE asr = ? AND revoked = 0 ORDER BY node",
		     "u", asr);
	if (epoch <= 0 || epoch > UINT32_MAX || !st)
		goto out;
	while (sqlite3_step(st) == SQLITE_ROW)
		len += snprintf(members + len, sizeof(members) - len, "%s%lld", len ? " " : "",
				(long long)sqlite3_column_int64(st, 0));
	sqlite3_finalize(st);

	randombytes_buf(key, 32);
	snprintf(ad, sizeof(ad), "key:%u:%u", asr, (uint32_t)epoch);
	seal(n, ad, key, 32, sealed);
	/* an epoch never activated is superseded */
	if (db_exec(n, "UPDATE epochs SET state = 'retired' WHERE asr = ? AND state = 'pending'",
		    "u", asr) < 0 ||
	    db_exec(n, "INSERT INTO epochs (asr, epoch, key, members, state, created) "
		    "VALUES (?, ?, ?, ?, 'pending', ?)", "uibti", asr, epoch, sealed,
		    sizeof(sealed), members, (int64_t)time(NULL)) < 0 ||
	    db_exec(n, "INSERT INTO deliveries (asr, epoch, node, state, updated) "
		    "SELECT asr, ?, node, 'pending', ? FROM members WHERE asr = ? AND revoked = 0",
		    "iiu",
		    epoch, (int64_t)time(NULL), asr) < 0 ||
	    db_exec(n, "UPDATE asrs SET epoch = ? WHERE id = ?", "iu", epoch, asr) != 1)
		goto out;
	err = 0;
	nmm_event(n, "epoch-created", "asr %u epoch %u members %s", asr, (uint32_t)epoch,
		  members);
out:
	secure_free(key);
	sodium_memzero(sealed, sizeof(sealed));
	return err;
}

void rekey_kick(struct nmm *n, uint32_t asr)
{
	struct conn *c;
	struct nodest *s;

	for (s = n->nodes; s; s = s->next) {
		c = s->mode == NODE_SESSION ? s->session : NULL;
		if (c && c->state == CS_UP)
			rekey_deliver(n, c, asr);
	}
}

void rekey_catch_up(struct nmm *n, struct conn *c)
{
	sqlite3_stmt *st;

	/* ASRs it was in but left while away: LEAVE, once */
	st = db_prep(n, "SELECT DISTINCT asr FROM deliveries WHERE node = ?1 AND asr NOT IN "
		     "(SELECT asr FROM members WHERE node = ?1 AND revoked = 0)", "u", c->node);
	if (st) {
		while (sqlite3_step(st) == SQLITE_ROW)
			send_leave(n, c, sqlite3_column_int64(st, 0));
		sqlite3_finalize(st);
		db_exec(n, "DELETE FROM deliveries WHERE node = ?1 AND asr NOT IN "
			"(SELECT asr FROM members WHERE node = ?1 AND revoked = 0)", "u", c->node);
	}
	st = db_prep(n, "SELECT asr FROM members WHERE node = ? AND revoked = 0 ORDER BY asr",
		     "u", c->node);
	if (!st)
		return;
	while (sqlite3_step(st) == SQLITE_ROW)
		rekey_deliver(n, c, sqlite3_column_int64(st, 0));
	sqlite3_finalize(st);
}

static void activate_epoch(struct nmm *n, uint32_t asr, uint32_t epoch)
{
	struct nodest *s;

	if (db_exec(n, "UPDATE epochs SET state = 'active', activated = ? WHERE asr = ? AND "
		    "epoch = ? AND state = 'pending'", "iuu", (int64_t)time(NULL), asr,
		    epoch) != 1)
		return;
	nmm_event(n, "epoch-activated", "asr %u epoch %u installed %lld of %lld", asr, epoch,
		  (long long)db_int(n, 0, "SELECT count(*) FROM deliveries WHERE asr = ? AND "
				    "epoch = ? AND state != 'pending'", "uu", asr, epoch),
		  (long long)db_int(n, 0, "SELECT count(*) FROM deliveries WHERE asr = ? AND "
				    "epoch = ?", "uu", asr, epoch));
	for (s = n->nodes; s; s = s->next)
		if (s->mode == NODE_SESSION && s->session && s->session->state == CS_UP)
			push_activates(n, s->session);
}

/*
 * What c's node is still owed, as far as its outstanding slots go: a node
 * in more ASRs than NMM_OUTSTANDING_MAX gets the rest as ACKs come in.
 */
static void refill(struct nmm *n, struct conn *c)
{
	sqlite3_stmt *st;

	st = db_prep(n, "SELECT d.asr FROM deliveries d JOIN asrs a ON a.id = d.asr AND "
		     "a.epoch = d.epoch WHERE d.node = ? AND d.state = 'pending'", "u", c->node);
	if (!st)
		return;
	while (c->nout < NMM_OUTSTANDING_MAX && sqlite3_step(st) == SQLITE_ROW)
		rekey_deliver(n, c, sqlite3_column_int64(st, 0));
	sqlite3_finalize(st);
	push_activates(n, c);
}

void rekey_ack(struct nmm *n, struct conn *c, uint32_t asr, uint32_t epoch, uint32_t status)
{
	unsigned int i;
	uint8_t type;

	for (i = 0; i < c->nout; i++)
		if (c->outq[i].asr == asr && c->outq[i].epoch == epoch)
			break;
	if (i == c->nout) {
		nmm_log("node %u: ACK for asr %u epoch %u that was not asked for", c->node,
			asr, epoch);
		return;
	}
	type = c->outq[i].type;
	memmove(&c->outq[i], &c->outq[i + 1], (c->nout - i - 1) * sizeof(c->outq[0]));
	c->nout--;
	if (status) {
		nmm_event(n, "delivery-failed", "asr %u epoch %u node %u step %s error %s", asr,
			  epoch, c->node, type == AKMP_ACTIVATE ? "activate" : "install",
			  strerror(status));
		return;
	}
	if (type == AKMP_ASR_CONFIG) {
		if (db_exec(n, "UPDATE deliveries SET state = 'installed', updated = ? WHERE "
			    "asr = ? AND epoch = ? AND node = ? AND state = 'pending'", "iuuu",
			    (int64_t)time(NULL), asr, epoch, c->node) == 1)
			nmm_event(n, "key-delivered", "asr %u epoch %u node %u", asr, epoch,
				  c->node);
		push_activates(n, c);
		rekey_tick(n);
	} else if (db_exec(n, "UPDATE deliveries SET state = 'activated', updated = ? WHERE "
			   "asr = ? AND epoch = ? AND node = ? AND state != 'activated'", "iuuu",
			   (int64_t)time(NULL), asr, epoch, c->node) == 1) {
		nmm_event(n, "key-switched", "asr %u epoch %u node %u", asr, epoch, c->node);
	}
	refill(n, c);
}

void rekey_tick(struct nmm *n)
{
	time_t now = time(NULL);
	sqlite3_stmt *st;

	/* pending latest epochs: every member has it, or the time is up */
	st = db_prep(n, "SELECT e.asr, e.epoch FROM epochs e JOIN asrs a ON a.id = e.asr AND "
		     "a.epoch = e.epoch WHERE e.state = 'pending' AND (e.created <= ? OR NOT "
		     "EXISTS (SELECT 1 FROM deliveries d WHERE d.asr = e.asr AND d.epoch = "
		     "e.epoch AND d.state = 'pending'))", "i", (int64_t)(now - NMM_REKEY_TIMEOUT));
	if (st) {
		uint32_t todo[64][2];
		int k = 0, i;

		while (k < 64 && sqlite3_step(st) == SQLITE_ROW) {
			todo[k][0] = sqlite3_column_int64(st, 0);
			todo[k++][1] = sqlite3_column_int64(st, 1);
		}
		sqlite3_finalize(st);
		for (i = 0; i < k; i++)
			activate_epoch(n, todo[i][0], todo[i][1]);
	}
	/* active epochs with a newer active one, past the grace period */
	db_exec(n, "UPDATE epochs SET state = 'retired' WHERE state = 'active' AND EXISTS "
		"(SELECT 1 FROM epochs e2 JOIN asrs a ON a.id = e2.asr WHERE e2.asr = "
		"epochs.asr AND e2.epoch > epochs.epoch AND e2.state != 'pending' AND "
		"e2.activated > 0 AND e2.activated + a.grace <= ?)", "i", (int64_t)now);
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
	sqlite3_finalize(st);
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
	for (i = 0; i < k; i++)
		rekey_kick(n, asrs[i]);
out:
	free(asrs);
	return err;
}
