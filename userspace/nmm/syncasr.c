// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * A site's ASRs from the root (root.md, "Site synchronisation"): ASR_CONFIG
 * with the ASR's current epoch, its key wrapped for the site and the
 * members of every site; the members at other sites kept as 'remote'
 * nodes. A root behind this store (an older epoch, or the same with another
 * key) gets its revocations taken and is asked for an epoch above ours.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>

#include "sync.h"

struct site_asr {
	struct akmp_asr_config cfg;
	char name[AKM_NAME_MAX + 1];
	const uint8_t *key;
	int64_t cur;			/* the epoch held, -1: none */
};

enum { ROW_NONE, ROW_LIVE, ROW_REMOVED, ROW_REMOTE };

/* What the store has of node id: ROW_*, or -EIO. */
static int node_state(struct nmm *n, uint32_t id)
{
	sqlite3_stmt *st = db_prep(n, "SELECT remote, state FROM nodes WHERE id = ?", "u", id);
	int rc = st ? sqlite3_step(st) : SQLITE_ERROR, row = -EIO;

	if (rc == SQLITE_ROW)
		row = sqlite3_column_int(st, 0) ? ROW_REMOTE :
		      strcmp((const char *)sqlite3_column_text(st, 1), "removed") ? ROW_LIVE :
		      ROW_REMOVED;
	else if (rc == SQLITE_DONE)
		row = ROW_NONE;
	db_done(n, st);
	return row;
}

/* A member's node row as another site's (or a stand-in for one of ours not sent yet). */
static int put_remote(struct nmm *n, uint32_t id, const char *addrs)
{
	char name[16];

	snprintf(name, sizeof(name), "~%u", id);	/* no node's name */
	return node_forget_removed(n, id, NULL) ||
	       db_exec(n, "DELETE FROM leaves WHERE node = ?", "u", id) < 0 ||
	       db_exec(n, "INSERT INTO nodes (id, name, addrs, cred, created, remote) VALUES "
		       "(?, ?, ?, x'', ?, 1)", "utti", id, name, addrs, (int64_t)time(NULL)) != 1 ||
	       restale_removed(n, addrs) ? -EIO : 0;
}

/*
 * One MEMBER: its node row (another site's: addresses only) and its member
 * row; *changed if either changed (the pairs with it place addresses anew).
 * The root flags the members that are this site's nodes: a node of this
 * site that the root lists as another's was removed at the root while this
 * site was away, and its id given to another site's node.
 */
static int put_member(struct nmm *n, uint32_t asr, const struct akmp_member *mb, bool *changed,
		      struct after *a)
{
	bool live = mb->state == AKM_MEMBER_ACTIVE, ours = mb->flags & AKMP_MEMBER_SITE;
	char addrs[AKM_ADDRS_TEXT_MAX];
	sqlite3_stmt *st;
	int64_t was;
	int rows, row;

	*changed = false;
	/*
	 * Removed here, the root not told yet: revoked whatever the root says;
	 * the id another site's now: the root removed it (the removal is over).
	 */
	if (db_int(n, 1, "SELECT count(*) FROM removals WHERE node = ?", "u", mb->node_id)) {
		if (ours)
			live = false;
		else if (db_exec(n, "DELETE FROM removals WHERE node = ?", "u", mb->node_id) < 0)
			return -EIO;
	}
	if (!addrs_text(n, (const uint8_t (*)[AKMP_ADDR_LEN])mb->addrs, mb->naddrs, addrs))
		addrs[0] = 0;	/* none that it could hold: its packets are a stranger's */
	row = node_state(n, mb->node_id);
	if (row < 0)
		return -EIO;
	if (!ours && row == ROW_LIVE && node_gone(n, mb->node_id, a, false))
		return -EIO;
	if (row == ROW_NONE || (!ours && (row == ROW_LIVE || row == ROW_REMOVED))) {
		/* another site's, or one of ours whose SITE_NODE is still to come */
		if (put_remote(n, mb->node_id, addrs))
			return -EIO;
		*changed = true;
		row = ROW_REMOTE;
	} else if (row == ROW_REMOTE) {
		rows = db_exec(n, "UPDATE nodes SET addrs = ? WHERE id = ? AND addrs != ?", "tut",
			       addrs, mb->node_id, addrs);
		if (rows < 0 || (rows && (rekey_restale_node(n, mb->node_id) ||
					  restale_removed(n, addrs))))
			return -EIO;
		*changed = rows > 0;
	}
	st = db_prep(n, "SELECT revoked FROM members WHERE asr = ? AND node = ?", "uu", asr,
		     mb->node_id);
	if (!st)
		return -EIO;
	was = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	db_done(n, st);
	if (was == !live)
		return 0;
	*changed = true;
	if (db_exec(n, "INSERT INTO members (asr, node, added, revoked) VALUES (?, ?, ?, ?) ON "
		    "CONFLICT (asr, node) DO UPDATE SET revoked = excluded.revoked, added = "
		    "excluded.added", "uuii", asr, mb->node_id, (int64_t)time(NULL),
		    (int64_t)!live) < 0)
		return -EIO;
	if (row != ROW_LIVE)	/* another site's tells it; a removed one has left */
		return 0;
	if (live)
		return db_exec(n, "DELETE FROM leaves WHERE node = ? AND asr = ?", "uu",
			       mb->node_id, asr) < 0 ? -EIO : 0;
	if (db_exec(n, "INSERT OR IGNORE INTO leaves (node, asr) VALUES (?, ?)", "uu",
		    mb->node_id, asr) < 0)
		return -EIO;
	return was == 0 ? after_leave(a, mb->node_id, asr) : 0;
}

/* A member dropped from the list (forgotten at the root): out, and a remote one gone. */
static int drop_member(struct nmm *n, uint32_t asr, uint32_t node, struct after *a)
{
	int64_t remote = db_int(n, -1, "SELECT remote FROM nodes WHERE id = ?", "u", node);

	if (remote < 0 || rekey_restale_pairs(n, asr, node) ||
	    db_exec(n, "DELETE FROM members WHERE asr = ? AND node = ?", "uu", asr, node) < 0)
		return -EIO;
	if (remote)
		return db_exec(n, "DELETE FROM nodes WHERE id = ?1 AND remote = 1 AND NOT EXISTS "
			       "(SELECT 1 FROM members WHERE node = ?1)", "u", node) < 0 ? -EIO : 0;
	if (db_exec(n, "INSERT OR IGNORE INTO leaves (node, asr) VALUES (?, ?)", "uu", node,
		    asr) < 0)
		return -EIO;
	return after_leave(a, node, asr);
}

static int put_asr(struct nmm *n, const void *arg, struct after *a)
{
	const struct site_asr *sa = arg;
	const struct akmp_asr_config *cfg = &sa->cfg;
	uint32_t asr = cfg->asr_id, *gone = NULL;
	bool changed, any = false;
	size_t ngone = 0, i;
	sqlite3_stmt *st;
	unsigned int j;
	int err = 0;

	if (sa->cur < 0 ?
	    db_exec(n, "INSERT INTO asrs (id, name, alg, policy, grace, created) VALUES "
		    "(?, ?, ?, ?, ?, ?)", "utiiui", asr, sa->name, (int64_t)cfg->alg,
		    (int64_t)cfg->policy, cfg->grace, (int64_t)time(NULL)) != 1 :
	    db_exec(n, "UPDATE asrs SET name = ?, alg = ?, policy = ?, grace = ? WHERE id = ?",
		    "tiiuu", sa->name, (int64_t)cfg->alg, (int64_t)cfg->policy, cfg->grace,
		    asr) != 1)
		return -EIO;
	/* members that changed: the lists of their pairs place addresses anew */
	for (j = 0; j < cfg->nmembers && !err; j++) {
		err = put_member(n, asr, &cfg->members[j], &changed, a);
		if (!err && changed)
			err = rekey_restale_pairs(n, asr, cfg->members[j].node_id);
		any |= changed;
	}
	/* members no longer in the list (forgotten at the root): out */
	st = err ? NULL : db_prep(n, "SELECT node FROM members WHERE asr = ?", "u", asr);
	while (st && !err && sqlite3_step(st) == SQLITE_ROW) {
		uint32_t node = sqlite3_column_int64(st, 0);

		for (j = 0; j < cfg->nmembers && cfg->members[j].node_id != node; j++)
			;
		if (j == cfg->nmembers)
			err = after_add(&gone, &ngone, node);
	}
	db_done(n, st);
	for (i = 0; i < ngone && !err; i++)
		err = drop_member(n, asr, gone[i], a);
	free(gone);
	if (err)
		return err;
	if (cfg->epoch > sa->cur)
		return rekey_put_epoch(n, asr, cfg->epoch, sa->key) ? -EIO : 0;
	/* the same epoch, its list changed (addresses, revoked members): sent again */
	if ((any || ngone) &&
	    db_exec(n, "UPDATE deliveries SET stale = stale + 1 WHERE asr = ? AND epoch = ?",
		    "uu", asr, cfg->epoch) < 0)
		return -EIO;
	return 0;
}

/* Revocations of a list the NMM does not take otherwise (the root behind its store). */
static int revoke_only(struct nmm *n, const void *arg, struct after *a)
{
	const struct akmp_asr_config *cfg = &((const struct site_asr *)arg)->cfg;
	unsigned int i;
	int rows, err = 0;
	bool any = false;

	for (i = 0; i < cfg->nmembers && !err; i++) {
		uint32_t id = cfg->members[i].node_id;

		if (cfg->members[i].state == AKM_MEMBER_ACTIVE)
			continue;
		rows = db_exec(n, "UPDATE members SET revoked = 1, added = ? WHERE asr = ? AND "
			       "node = ? AND revoked = 0", "iuu", (int64_t)time(NULL),
			       cfg->asr_id, id);
		any |= rows > 0;
		if (rows < 0 || (rows && rekey_restale_pairs(n, cfg->asr_id, id)))
			err = -EIO;
		else if (rows && !db_int(n, 1, "SELECT remote FROM nodes WHERE id = ?", "u", id))
			err = db_exec(n, "INSERT OR IGNORE INTO leaves (node, asr) VALUES (?, ?)",
				      "uu", id, cfg->asr_id) < 0 ? -EIO :
			      after_leave(a, id, cfg->asr_id);
	}
	if (!err && any &&
	    db_exec(n, "UPDATE deliveries SET stale = stale + 1 WHERE asr = ?1 AND "
		    "epoch = (SELECT epoch FROM asrs WHERE id = ?1)", "u", cfg->asr_id) < 0)
		err = -EIO;
	return err;
}

/* An ASR the root caught up with (or that went): asked for no more. */
void behind_done(struct nmm *n, uint32_t asr)
{
	size_t j;

	for (j = 0; j < n->nbehind; j++)
		if (n->behind[j].asr == asr) {
			n->behind[j] = n->behind[--n->nbehind];
			return;
		}
}

/* The root limits these itself (once an hour per ASR, 10 s for a re-key): asked until it answers. */
static void ask_above(struct nmm *n, struct behind *b)
{
	if (!sync_above(n, b->node, b->asr, b->epoch, b->held))
		b->asked = nmm_now();	/* else not now: sync_tick() */
}

/*
 * The root sent an older epoch than this store holds, or the same one with
 * another key (its database restored from a backup): neither goes to a
 * node, but its revocations are applied. The root is asked for an epoch
 * above ours, through a live member here, and asked again (sync_tick())
 * until one comes.
 */
static int behind(struct nmm *n, const struct site_asr *sa)
{
	struct behind *b = NULL, *grown;
	unsigned int i;
	size_t j;

	const struct akmp_member *mb = NULL;

	for (j = 0; j < n->nbehind && !b; j++)
		if (n->behind[j].asr == sa->cfg.asr_id)
			b = &n->behind[j];
	/* asked through a live member here (the root refuses any other) */
	for (i = 0; i < sa->cfg.nmembers && !mb; i++)
		if (sa->cfg.members[i].state == AKM_MEMBER_ACTIVE &&
		    (sa->cfg.members[i].flags & AKMP_MEMBER_SITE) &&
		    !db_int(n, 1, "SELECT count(*) FROM removals WHERE node = ?", "u",
			    sa->cfg.members[i].node_id))
			mb = &sa->cfg.members[i];
	if (!mb && b)
		behind_done(n, sa->cfg.asr_id);
	if (mb && !b) {
		grown = reallocarray(n->behind, n->nbehind + 1, sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		n->behind = grown;
		b = &grown[n->nbehind++];
		*b = (struct behind){ .asr = sa->cfg.asr_id };
		nmm_event(n, "epoch-behind", "asr %u epoch %u held %lld", sa->cfg.asr_id,
			  sa->cfg.epoch, (long long)sa->cur);
	}
	if (mb) {
		b->node = mb->node_id;
		b->epoch = sa->cfg.epoch;
		b->held = sa->cur;
		if (!b->asked)
			ask_above(n, b);
	}
	return sync_tx(n, revoke_only, sa);
}

/* Is key the one the store holds for asr's epoch? */
static bool same_key(struct nmm *n, uint32_t asr, uint32_t epoch, const uint8_t *key)
{
	uint8_t *held = akm_secure_alloc(32);
	char ad[48];
	bool same;

	snprintf(ad, sizeof(ad), "key:%u:%u", asr, epoch);
	same = held && !load_secret(n, ad, held, db_prep(n, "SELECT key FROM epochs WHERE "
							 "asr = ? AND epoch = ?", "uu", asr,
							 epoch)) && !sodium_memcmp(held, key, 32);
	akm_secure_free(held);
	return same;
}

int on_asr_config(struct nmm *n, const struct akmp_msg *m)
{
	struct site_asr sa = { 0 };
	uint8_t *site = akm_secure_alloc(32), *key = akm_secure_alloc(32);
	uint32_t ids[AKM_MEMBERS_MAX];
	unsigned int nids = 0, i;
	int err = -ENOMEM;

	if (!site || !key)
		goto out;
	err = akmp_asr_config_parse(m, &sa.cfg);
	if (err)
		goto out;
	err = -EBADMSG;
	if (sa.cfg.asr_id >= AKMP_PROV_ASR(0))
		goto out;
	if (m->tb[AKMP_T_NAME].v &&
	    (akmp_str(&m->tb[AKMP_T_NAME], sa.name, sizeof(sa.name)) || !akm_name_ok(sa.name)))
		sa.name[0] = 0;		/* a name this NMM would not take: none */
	for (i = 0; i < sa.cfg.nmembers; i++) {
		uint32_t id = sa.cfg.members[i].node_id;

		if (!id || id >= AKMP_PROV_ASR(0) || id == n->id || id == n->up.peer)
			goto out;
		if (sa.cfg.members[i].state == AKM_MEMBER_ACTIVE)
			ids[nids++] = id;
	}
	qsort(ids, nids, sizeof(*ids), akm_cmp_u32);
	err = uplink_cred(n, site);
	if (!err && akm_unwrap_key(site, sa.cfg.wrapped, sa.cfg.asr_id, sa.cfg.epoch,
				   sa.cfg.alg, ids, nids, key)) {
		nmm_log("root link: asr %u epoch %u: the key does not open with this site's "
			"credential", sa.cfg.asr_id, sa.cfg.epoch);
		err = -EBADMSG;
	}
	if (err)
		goto out;
	if (!akm_enum_name(AKM_ENUM_ALG, sa.cfg.alg) ||
	    !akm_enum_name(AKM_ENUM_POLICY, sa.cfg.policy)) {
		nmm_log("root link: asr %u: algorithm %u or policy %u unknown here: left out",
			sa.cfg.asr_id, sa.cfg.alg, sa.cfg.policy);
		goto out;	/* err 0: not synced, so a round drops it */
	}
	sa.key = key;
	sa.cur = db_int(n, -1, "SELECT epoch FROM asrs WHERE id = ?", "u", sa.cfg.asr_id);
	if (sa.cur > sa.cfg.epoch ||
	    (sa.cur == sa.cfg.epoch && !same_key(n, sa.cfg.asr_id, sa.cfg.epoch, key))) {
		err = behind(n, &sa);
	} else {
		behind_done(n, sa.cfg.asr_id);
		err = sync_tx(n, put_asr, &sa);
	}
	if (!err)
		err = synced_add(n, SYNCED_ASR | sa.cfg.asr_id);
out:
	akmp_asr_config_free(&sa.cfg);
	akm_secure_free(site);
	akm_secure_free(key);
	return err;
}

void behind_tick(struct nmm *n)
{
	size_t j;

	for (j = 0; j < n->nbehind; j++)
		if (nmm_now() - n->behind[j].asked >= NMM_FRESH_RETRY)
			ask_above(n, &n->behind[j]);
}
