// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * A site's records from the root (root.md, "Site synchronisation"). While
 * a root is known, the NMM's nodes and ASRs are the root's: on the link's
 * session the root sends this site's nodes (SITE_NODE, the credential
 * wrapped under the site's K_wrap; NODE_DEL), and every ASR with a live
 * member here (ASR_CONFIG: its current epoch, the key wrapped under K_wrap,
 * the members of every site with their addresses; LEAVE). The NMM keeps
 * them in its store as it keeps its own (members at other sites as
 * 'remote' nodes: addresses, no credential) and delivers to its nodes as
 * before: each node gets what it is owed, wrapped for it. A full round
 * (SYNC begin ... end) drops what it did not bring. Epochs are the root's:
 * a node's new kernel, an ESTALE answer, or a root behind this store asks
 * the root for new ones (REKEY). A node removed here (node del) is out at
 * once and the removal is sent to the root (REMOVE) until it is applied.
 *
 * A record that cannot be right (a secret that does not open under the
 * site's K_wrap, an id that is this NMM's or the root's) ends the session;
 * one this NMM cannot hold (an unknown algorithm, an address twice or the
 * root's) is logged and left out, so one bad record does not stop the rest.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>

#include "nmm.h"
#include "words.h"

#define SYNCED_ASR	(1ull << 32)
#define SYNCED_OFFERED	(1ull << 33)	/* a node removed here that the root still has */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int synced_add(struct nmm *n, uint64_t id)
{
	uint64_t *grown;

	if (!n->syncing)
		return 0;
	if (n->nsynced == n->synced_cap) {
		grown = reallocarray(n->synced, n->synced_cap ? 2 * n->synced_cap : 256,
				     sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		n->synced = grown;
		n->synced_cap = n->synced_cap ? 2 * n->synced_cap : 256;
	}
	n->synced[n->nsynced++] = id;
	return 0;
}

void sync_reset(struct nmm *n)
{
	n->syncing = false;
	n->nsynced = 0;
}

/*
 * The wire's addresses as stored ("a b"); false if one is there twice or
 * is the root's (the link's kernel entry has it).
 */
static bool addrs_text(struct nmm *n, const uint8_t (*in)[AKMP_ADDR_LEN], unsigned int k,
		       char out[AKM_ADDRS_TEXT_MAX])
{
	char buf[AKM_ADDRSTRLEN];
	struct akm_addr a;
	size_t len = 0;
	unsigned int i;

	out[0] = 0;
	for (i = 0; i < k && i < AKM_ADDRS_MAX; i++) {
		akmp_addr_get(in[i], &a);
		akm_addr_str(&a, buf, sizeof(buf));
		if (akm_addrs_has(out, buf) || akm_addr_eq(&a, &n->up.addr))
			return false;
		len += snprintf(out + len, AKM_ADDRS_TEXT_MAX - len, "%s%s", len ? " " : "", buf);
	}
	return true;
}

/*
 * What follows a commit: LEAVEs; nodes removed, or with a new credential,
 * lose their connections and kernel state (made anew when they connect);
 * nodes with new addresses get them in the kernel and lose their
 * connections (the next comes from a new address).
 */
struct after {
	uint32_t *gone;			/* nodes removed, or with a new credential */
	size_t ngone;
	uint32_t (*left)[2];		/* node, asr: LEAVE */
	size_t nleft;
	uint32_t *moved;		/* nodes with new addresses */
	size_t nmoved;
};

static int after_add(uint32_t **v, size_t *k, uint32_t id)
{
	uint32_t *grown = reallocarray(*v, *k + 1, sizeof(**v));

	if (!grown)
		return -ENOMEM;
	*v = grown;
	grown[(*k)++] = id;
	return 0;
}

static int after_leave(struct after *a, uint32_t node, uint32_t asr)
{
	uint32_t (*grown)[2] = reallocarray(a->left, a->nleft + 1, sizeof(*grown));

	if (!grown)
		return -ENOMEM;
	a->left = grown;
	grown[a->nleft][0] = node;
	grown[a->nleft++][1] = asr;
	return 0;
}

static void after_run(struct nmm *n, struct after *a, bool committed)
{
	struct nodest *s;
	size_t i;

	for (i = 0; committed && i < a->nleft; i++)
		node_leave(n, a->left[i][0], a->left[i][1]);
	for (i = 0; committed && i < a->ngone; i++) {
		peer_drop(n, a->gone[i]);
		kern_node_del(n, a->gone[i]);
	}
	for (i = 0; committed && i < a->nmoved; i++) {
		/* an address another's entry still holds: all made anew at its next connection */
		if (kern_node_addrs(n, a->moved[i]))
			kern_node_del(n, a->moved[i]);
		s = nodest(n, a->moved[i], false);
		if (s)
			nodest_addrs(n, s);
		peer_drop(n, a->moved[i]);
	}
	free(a->gone);
	free(a->left);
	free(a->moved);
	if (committed)
		rekey_kick(n);
}

/* Run fn in a transaction, then what it left for after the commit. */
static int in_tx(struct nmm *n, int (*fn)(struct nmm *, const void *, struct after *),
		 const void *arg)
{
	struct after a = { 0 };
	int err = store_begin(n);

	if (!err)
		err = fn(n, arg, &a);
	if (!err)
		err = store_commit(n);
	if (err)
		store_rollback(n);
	after_run(n, &a, !err);
	return err;
}

/*
 * Inside a transaction: the root removed this site's node. Locked out at
 * once, as 'node del' does at an NMM of its own: revoked in its ASRs (the
 * root's new epochs follow), LEAVE, its connections and kernel state gone.
 */
static int node_gone(struct nmm *n, uint32_t id, struct after *a, bool here)
{
	int64_t live = db_int(n, -1, "SELECT count(*) FROM nodes WHERE id = ? AND remote = 0 AND "
			      "state != 'removed'", "u", id);
	char *addrs = live > 0 ? node_addrs_text(n, id) : NULL;
	uint32_t *asrs = NULL;
	size_t k = 0, i;
	int rows, err;

	if (!live)
		return 0;	/* not (or no longer) one of this site's */
	rows = addrs ? db_exec(n, "UPDATE nodes SET state = 'removed', cred = x'' WHERE id = ? "
			       "AND remote = 0 AND state != 'removed'", "u", id) : -EIO;
	err = rows <= 0 ? rows : node_asrs(n, id, &asrs, &k);
	if (rows > 0 && !err &&
	    (db_exec(n, "UPDATE members SET revoked = 1, added = ? WHERE node = ? AND "
		     "revoked = 0", "iu", (int64_t)time(NULL), id) < 0 ||
	     rekey_restale_node(n, id) || restale_removed(n, addrs) ||
	     db_exec(n, "INSERT OR IGNORE INTO leaves (node, asr) SELECT node, asr FROM members "
		     "WHERE node = ?", "u", id) < 0 || after_add(&a->gone, &a->ngone, id)))
		err = -EIO;
	for (i = 0; rows > 0 && i < k && !err; i++)
		err = after_leave(a, id, asrs[i]);
	if (rows > 0 && !err && !here)
		nmm_event(n, "node-removed", "node %u by root %u", id, n->up.peer);
	free(asrs);
	free(addrs);
	return err;
}

/* The removal pending for node: 1 (its tag into tag), 0 none, or -EIO. */
static int removal(struct nmm *n, uint32_t node, uint8_t tag[32])
{
	sqlite3_stmt *st = db_prep(n, "SELECT tag FROM removals WHERE node = ?", "u", node);
	int rc = st ? sqlite3_step(st) : SQLITE_ERROR, ret = -EIO;

	if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 32) {
		memcpy(tag, sqlite3_column_blob(st, 0), 32);
		ret = 1;
	} else if (rc == SQLITE_DONE) {
		ret = 0;
	}
	db_done(n, st);
	return ret;
}

struct site_node {
	uint32_t id;
	char name[AKM_NAME_MAX + 1];
	char addrs[AKM_ADDRS_TEXT_MAX];
	uint8_t sealed[AKM_SEALED_LEN(32)];
	bool new_cred;
	int remote;			/* its row: -1 none (or removed), 0 ours, 1 remote */
	char *old;			/* ... its addresses */
};

static int put_node(struct nmm *n, const void *arg, struct after *a)
{
	const struct site_node *sn = arg;
	bool moved = sn->old && strcmp(sn->old, sn->addrs);
	sqlite3_stmt *st;
	int err = 0;

	/* another node of that name: a removed one is forgotten, a live one is gone */
	st = db_prep(n, "SELECT id FROM nodes WHERE name = ? AND id != ? AND remote = 0 AND "
		     "state != 'removed'", "tu", sn->name, sn->id);
	while (st && !err && sqlite3_step(st) == SQLITE_ROW)
		err = node_gone(n, sqlite3_column_int64(st, 0), a, false);
	db_done(n, st);
	/* a new credential under a node's id: another node; the old one is gone */
	if (!err && st && sn->remote == 0 && sn->new_cred)
		err = node_gone(n, sn->id, a, false);
	if (err || !st ||
	    node_forget_removed(n, sn->remote < 0 || sn->new_cred ? sn->id : 0, sn->name))
		return -EIO;
	if (sn->remote < 0 || (sn->remote == 0 && sn->new_cred)) {
		if (db_exec(n, "INSERT INTO nodes (id, name, addrs, cred, state, created) VALUES "
			    "(?, ?, ?, ?, 'provisioned', ?)", "uttbi", sn->id, sn->name, sn->addrs,
			    sn->sealed, sizeof(sn->sealed), (int64_t)time(NULL)) != 1 ||
		    restale_removed(n, sn->addrs))
			return -EIO;
		nmm_event(n, "node-added", "node %u name %s by root %u", sn->id, sn->name,
			  n->up.peer);
		return 0;
	}
	/* another site's member before, or this site's with a new name or addresses */
	if (db_exec(n, "UPDATE nodes SET name = ?, addrs = ?, remote = 0, cred = CASE WHEN "
		    "remote = 1 THEN ? ELSE cred END, kernel = CASE WHEN remote = 1 THEN 0 ELSE "
		    "kernel END WHERE id = ?", "ttbu", sn->name, sn->addrs, sn->sealed,
		    sizeof(sn->sealed), sn->id) != 1)
		return -EIO;
	if (moved && (rekey_restale_node(n, sn->id) || restale_removed(n, sn->addrs) ||
		      restale_removed(n, sn->old)))
		return -EIO;
	/* another site's node before: nothing it was owed is this one's */
	if (sn->remote == 1 && (rekey_restale_node(n, sn->id) ||
				db_exec(n, "DELETE FROM leaves WHERE node = ?", "u", sn->id) < 0))
		return -EIO;
	if (moved && sn->remote == 0)
		err = after_add(&a->moved, &a->nmoved, sn->id);
	nmm_event(n, "node-changed", "node %u name %s by root %u", sn->id, sn->name, n->up.peer);
	return err;
}

/* The row of node id: sn->remote and sn->old; the stored name into name. */
static int node_row(struct nmm *n, struct site_node *sn, char name[AKM_NAME_MAX + 1])
{
	sqlite3_stmt *st = db_prep(n, "SELECT remote, addrs, name FROM nodes WHERE id = ? AND "
				   "(remote = 1 OR state != 'removed')", "u", sn->id);

	if (!st)
		return -EIO;
	sn->remote = -1;
	if (sqlite3_step(st) == SQLITE_ROW) {
		sn->remote = sqlite3_column_int(st, 0);
		sn->old = strdup((const char *)sqlite3_column_text(st, 1));
		snprintf(name, AKM_NAME_MAX + 1, "%s", (const char *)sqlite3_column_text(st, 2));
	}
	db_done(n, st);
	return sn->remote >= 0 && !sn->old ? -ENOMEM : 0;
}

static int on_site_node(struct nmm *n, const struct akmp_msg *m)
{
	uint8_t addrs[AKM_ADDRS_MAX][AKMP_ADDR_LEN], *site = akm_secure_alloc(32);
	uint8_t *cred = akm_secure_alloc(32), *old = akm_secure_alloc(32);
	struct site_node sn = { .id = akmp_u32(&m->tb[AKMP_T_NODE_ID]) };
	char ad[32], name[AKM_NAME_MAX + 1] = "";
	uint8_t tag[32], offered[32];
	int rm;
	struct akmp_iter it;
	struct akmp_tlv t;
	unsigned int k = 0;
	int err = -ENOMEM;

	if (!site || !cred || !old)
		goto out;
	err = -EBADMSG;
	if (!sn.id || sn.id >= AKMP_PROV_ASR(0) || sn.id == n->id || sn.id == n->up.peer ||
	    akmp_str(&m->tb[AKMP_T_NAME], sn.name, sizeof(sn.name)) || !akm_name_ok(sn.name))
		goto out;
	akmp_iter_init(&it, m->body, m->len);
	while (akmp_iter_next(&it, &t) > 0)
		if (t.type == AKMP_T_ADDR && k < AKM_ADDRS_MAX)
			memcpy(addrs[k++], t.v, AKMP_ADDR_LEN);
	err = uplink_cred(n, site);
	if (!err && akm_unwrap_cred(site, m->tb[AKMP_T_WRAPPED].v, n->id, sn.id, cred)) {
		nmm_log("root link: node %u: its credential does not open with this site's", sn.id);
		err = -EBADMSG;
	}
	if (!err)
		err = node_row(n, &sn, name);
	if (err)
		goto out;
	rm = removal(n, sn.id, tag);
	if (rm > 0) {
		akm_remove_tag(cred, n->id, sn.id, offered);
		rm = sodium_memcmp(tag, offered, 32) ? 0 : 1;
		if (!rm && db_exec(n, "DELETE FROM removals WHERE node = ?", "u", sn.id) < 0)
			rm = -EIO;	/* another node of that id: the removal is over */
	}
	if (rm) {
		/* removed here, the root not told yet: it stays removed */
		err = rm < 0 ? -EIO : synced_add(n, SYNCED_OFFERED | sn.id);
		goto out;
	}
	if (!k || !addrs_text(n, (const uint8_t (*)[AKMP_ADDR_LEN])addrs, k, sn.addrs)) {
		nmm_log("root link: node %u (%s): no address, one twice, or the root's: left out",
			sn.id, sn.name);
		goto out;	/* err 0: not synced, so a round drops it */
	}
	if (sn.remote == 0) {
		err = node_cred(n, sn.id, old);
		if (err == -EIO)
			goto out;
		sn.new_cred = err || sodium_memcmp(old, cred, 32);
		err = 0;
	} else {
		sn.new_cred = true;
	}
	/* the same as held: nothing to write */
	if (sn.remote == 0 && !sn.new_cred && !strcmp(sn.old, sn.addrs) && !strcmp(name, sn.name))
		goto synced;
	snprintf(ad, sizeof(ad), "cred:%u", sn.id);
	akm_seal(&n->master, ad, cred, 32, sn.sealed);
	err = in_tx(n, put_node, &sn);
synced:
	if (!err)
		err = synced_add(n, sn.id);
out:
	free(sn.old);
	sodium_memzero(&sn, sizeof(sn));
	akm_secure_free(site);
	akm_secure_free(cred);
	akm_secure_free(old);
	return err;
}

static int del_node(struct nmm *n, const void *arg, struct after *a)
{
	uint32_t id = *(const uint32_t *)arg;

	return node_gone(n, id, a, false) < 0 ||
	       db_exec(n, "DELETE FROM removals WHERE node = ?", "u", id) < 0 ? -EIO : 0;
}

/*
 * node del at a root's site: out here now, and a removal for the root,
 * bound to this node's credential (the root may give its id to another).
 */
static int remove_node(struct nmm *n, const void *arg, struct after *a)
{
	uint32_t id = *(const uint32_t *)arg;
	uint8_t *cred = akm_secure_alloc(32), tag[32];
	int err = cred ? node_cred(n, id, cred) : -ENOMEM;

	if (!err) {
		akm_remove_tag(cred, n->id, id, tag);
		err = node_gone(n, id, a, true) < 0 ||
		      db_exec(n, "INSERT OR REPLACE INTO removals (node, at, tag) VALUES (?, ?, ?)",
			      "uib", id, (int64_t)time(NULL), tag, sizeof(tag)) != 1 ? -EIO : 0;
	}
	akm_secure_free(cred);
	return err;
}


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
static void behind_done(struct nmm *n, uint32_t asr)
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
	return in_tx(n, revoke_only, sa);
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

static int on_asr_config(struct nmm *n, const struct akmp_msg *m)
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
		err = in_tx(n, put_asr, &sa);
	}
	if (!err)
		err = synced_add(n, SYNCED_ASR | sa.cfg.asr_id);
out:
	akmp_asr_config_free(&sa.cfg);
	akm_secure_free(site);
	akm_secure_free(key);
	return err;
}

static int on_leave(struct nmm *n, uint32_t asr)
{
	behind_done(n, asr);
	if (!db_int(n, 1, "SELECT count(*) FROM asrs WHERE id = ?", "u", asr))
		return 0;
	if (store_begin(n) || asr_remove(n, asr) || store_commit(n)) {
		store_rollback(n);
		return -EIO;
	}
	asr_gone(n, asr);
	return 0;
}

/* SYNC end: what the round did not bring is no longer this site's. */
static int sync_end(struct nmm *n)
{
	uint32_t *drop = NULL;
	size_t k = 0, i;
	sqlite3_stmt *st;
	int err = 0;
	uint64_t key;

	qsort(n->synced, n->nsynced, sizeof(*n->synced), cmp_u64);
	st = db_prep(n, "SELECT id FROM nodes WHERE remote = 0 AND state != 'removed'", "");
	while (st && !err && sqlite3_step(st) == SQLITE_ROW) {
		key = sqlite3_column_int64(st, 0);
		if (!bsearch(&key, n->synced, n->nsynced, sizeof(key), cmp_u64))
			err = after_add(&drop, &k, key);
	}
	db_done(n, st);
	for (i = 0; i < k && !err; i++)
		err = in_tx(n, del_node, &drop[i]);
	free(drop);
	drop = NULL;
	k = 0;
	st = err ? NULL : db_prep(n, "SELECT id FROM asrs", "");
	while (st && !err && sqlite3_step(st) == SQLITE_ROW) {
		key = SYNCED_ASR | sqlite3_column_int64(st, 0);
		if (!bsearch(&key, n->synced, n->nsynced, sizeof(key), cmp_u64))
			err = after_add(&drop, &k, key & UINT32_MAX);
	}
	db_done(n, st);
	for (i = 0; i < k && !err; i++)
		err = on_leave(n, drop[i]);
	free(drop);
	/* removals the root no longer has as this site's nodes: done */
	st = err ? NULL : db_prep(n, "SELECT node FROM removals", "");
	drop = NULL;
	k = 0;
	while (st && !err && sqlite3_step(st) == SQLITE_ROW) {
		key = SYNCED_OFFERED | sqlite3_column_int64(st, 0);
		if (!bsearch(&key, n->synced, n->nsynced, sizeof(key), cmp_u64))
			err = after_add(&drop, &k, key & UINT32_MAX);
	}
	db_done(n, st);
	for (i = 0; i < k && !err; i++)
		if (db_exec(n, "DELETE FROM removals WHERE node = ?", "u", drop[i]) < 0)
			err = -EIO;
	free(drop);
	if (!err)
		nmm_event(n, "root-synced", "root %u nodes %lld asrs %lld", n->up.peer,
			  (long long)db_int(n, 0, "SELECT count(*) FROM nodes WHERE remote = 0 "
					    "AND state != 'removed'", ""),
			  (long long)db_int(n, 0, "SELECT count(*) FROM asrs", ""));
	sync_reset(n);
	return err;
}

int sync_message(struct nmm *n, const struct akmp_msg *m)
{
	uint32_t id;

	switch (m->type) {
	case AKMP_SITE_NODE:
		return on_site_node(n, m);
	case AKMP_NODE_DEL:
		id = akmp_u32(&m->tb[AKMP_T_NODE_ID]);
		return in_tx(n, del_node, &id);
	case AKMP_ASR_CONFIG:
		return on_asr_config(n, m);
	case AKMP_LEAVE:
		return on_leave(n, akmp_u32(&m->tb[AKMP_T_ASR_ID]));
	case AKMP_SYNC:
		switch (akmp_u8(&m->tb[AKMP_T_STATE])) {
		case AKMP_SYNC_BEGIN:
			sync_reset(n);
			n->syncing = true;
			return 0;
		case AKMP_SYNC_END:
			return n->syncing ? sync_end(n) : -EBADMSG;
		case AKMP_SYNC_KEEP:	/* the root could not send it: held as it is */
			if (m->tb[AKMP_T_NODE_ID].v)	/* held: a removal of it goes on */
				return synced_add(n, akmp_u32(&m->tb[AKMP_T_NODE_ID])) ||
				       synced_add(n, SYNCED_OFFERED |
						  akmp_u32(&m->tb[AKMP_T_NODE_ID]));
			if (m->tb[AKMP_T_ASR_ID].v)
				return synced_add(n, SYNCED_ASR |
						  akmp_u32(&m->tb[AKMP_T_ASR_ID]));
			break;
		}
		break;
	}
	return -EBADMSG;
}

/* REKEY, or REMOVE (asr 0, remove): paced for the root, which takes so many a second */
static int send_up(struct nmm *n, uint8_t type, uint32_t node, uint32_t asr, uint32_t epoch,
		   uint32_t last, const uint8_t *tag)
{
	struct akmp_buf b = { 0 };

	if (!n->up_on || !n->up_session)
		return -ENOTCONN;
	/* the root takes 4 a second: the others are asked again later */
	if (n->rekey_sec != nmm_now()) {
		n->rekey_sec = nmm_now();
		n->rekeys = 0;
	}
	if (n->rekeys >= NMM_REKEYS_PER_SEC)
		return -EAGAIN;
	n->rekeys++;
	akmp_begin(&b, type);
	akmp_put_u32(&b, AKMP_T_NODE_ID, node);
	if (asr) {
		akmp_put_u32(&b, AKMP_T_ASR_ID, asr);
		akmp_put_u32(&b, AKMP_T_EPOCH, epoch);
		akmp_put_u32(&b, AKMP_T_LAST, last);
	}
	if (tag)
		akmp_put(&b, AKMP_T_PROOF, tag, 32);
	return akmc_send(&n->up, &b);
}

/*
 * A node's new kernel: the epochs of its ASRs when it came are the
 * baseline; it is let in once each ASR it is still a live member of has a
 * newer one. The root is asked, and asked again every NMM_FRESH_RETRY
 * (it re-keys a node at most every 10 s); a kernel that changes again
 * within NMM_FRESH_MIN waits (-EBUSY).
 */
int sync_fresh(struct nmm *n, struct nodest *s, uint64_t instance)
{
	int64_t now = nmm_now();
	uint32_t *asrs;
	size_t k, i;
	int err;

	if (s->fresh_instance != instance) {
		if (s->fresh_instance && now - s->fresh_at < NMM_FRESH_MIN)
			return -EBUSY;
		err = node_asrs(n, s->id, &asrs, &k);
		if (err)
			return err;
		free(s->fresh);
		s->fresh = calloc(k ? k : 1, sizeof(*s->fresh));
		s->nfresh = 0;
		for (i = 0; s->fresh && i < k; i++)
			s->fresh[s->nfresh++] = (struct fresh){ asrs[i], db_int(n, UINT32_MAX,
				"SELECT epoch FROM asrs WHERE id = ?", "u", asrs[i]) };
		free(asrs);
		if (!s->fresh)
			return -ENOMEM;
		s->fresh_instance = instance;
		s->fresh_at = now;
		s->fresh_asked = 0;
	}
	for (i = 0; i < s->nfresh; i++)
		if (db_int(n, 1, "SELECT count(*) FROM asrs a JOIN members m ON m.asr = a.id "
			   "WHERE a.id = ? AND m.node = ? AND m.revoked = 0 AND a.epoch <= ?",
			   "uuu", s->fresh[i].asr, s->id, s->fresh[i].epoch))
			break;
	if (i == s->nfresh)
		return 0;
	if (s->fresh_asked && now - s->fresh_asked < NMM_FRESH_RETRY)
		return -EAGAIN;
	err = send_up(n, AKMP_REKEY, s->id, 0, 0, 0, NULL);
	if (err)
		return err;
	if (!s->fresh_asked)
		nmm_event(n, "node-fresh", "node %u asrs %zu asked of root %u", s->id, s->nfresh,
			  n->up.peer);
	s->fresh_asked = now;
	return -EAGAIN;
}

int sync_above(struct nmm *n, uint32_t node, uint32_t asr, uint32_t epoch, uint32_t last)
{
	return send_up(n, AKMP_REKEY, node, asr, epoch, last, NULL);
}

void sync_tick(struct nmm *n)
{
	int64_t now = nmm_now();
	uint32_t node;
	sqlite3_stmt *st;
	size_t j;

	for (j = 0; j < n->nbehind; j++)
		if (now - n->behind[j].asked >= NMM_FRESH_RETRY)
			ask_above(n, &n->behind[j]);
	/* removals here: told to the root, again every 15 s until it removed them */
	if (!n->up_session)
		return;
	st = db_prep(n, "SELECT node, tag FROM removals WHERE sent = 0 OR sent <= ? "
		     "ORDER BY sent, at", "i", now - NMM_FRESH_RETRY);
	while (st && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 1) == 32) {
		node = sqlite3_column_int64(st, 0);
		if (send_up(n, AKMP_REMOVE, node, 0, 0, 0, sqlite3_column_blob(st, 1)))
			break;
		db_exec(n, "UPDATE removals SET sent = ? WHERE node = ?", "iu", now, node);
	}
	db_done(n, st);
}

void sync_removals(struct nmm *n)
{
	db_exec(n, "UPDATE removals SET sent = 0", "");
}

int sync_remove(struct nmm *n, uint32_t node, bool *told)
{
	int err = in_tx(n, remove_node, &node);

	*told = false;
	if (err)
		return err;
	/* during a round: it stays past its end whatever the round brings */
	err = synced_add(n, SYNCED_OFFERED | node);
	sync_tick(n);
	*told = db_int(n, 0, "SELECT sent FROM removals WHERE node = ?", "u", node) > 0;
	nmm_event(n, "node-removed", "node %u here, root %u %s", node, n->up.peer,
		  *told ? "told" : "to be told");
	return err;
}
