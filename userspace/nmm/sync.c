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

#include "sync.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int synced_add(struct nmm *n, uint64_t id)
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
bool addrs_text(struct nmm *n, const uint8_t (*in)[AKMP_ADDR_LEN], unsigned int k,
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


int after_add(uint32_t **v, size_t *k, uint32_t id)
{
	uint32_t *grown = reallocarray(*v, *k + 1, sizeof(**v));

	if (!grown)
		return -ENOMEM;
	*v = grown;
	grown[(*k)++] = id;
	return 0;
}

int after_leave(struct after *a, uint32_t node, uint32_t asr)
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
int sync_tx(struct nmm *n, int (*fn)(struct nmm *, const void *, struct after *),
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
int node_gone(struct nmm *n, uint32_t id, struct after *a, bool here)
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
	rm = removal_tag(n, sn.id, tag);
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
	err = sync_tx(n, put_node, &sn);
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
		err = sync_tx(n, del_node, &drop[i]);
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
		return sync_tx(n, del_node, &id);
	case AKMP_ASR_CONFIG:
		return on_asr_config(n, m);
	case AKMP_LEAVE:
		return on_leave(n, akmp_u32(&m->tb[AKMP_T_ASR_ID]));
	case AKMP_ACTIVATE:
		rekey_activate(n, akmp_u32(&m->tb[AKMP_T_ASR_ID]), akmp_u32(&m->tb[AKMP_T_EPOCH]));
		return 0;
	case AKMP_SYNC:
		switch (akmp_u8(&m->tb[AKMP_T_STATE])) {
		case AKMP_SYNC_BEGIN:	/* the root's database may have missed reports too */
			sync_reset(n);
			n->syncing = true;
			status_mark(n, 0);
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

