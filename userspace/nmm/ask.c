// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * What a site asks of the root (root.md): REKEY for a node's new kernel
 * (its ASRs re-keyed before any key reaches it), for an ESTALE answer or a
 * root behind this store; REMOVE for a node removed here (node del), out at
 * once and kept until the root applied it. Paced: the root takes 4 a second.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>

#include "sync.h"

/* The removal pending for node: 1 (its tag into tag), 0 none, or -EIO. */
int removal_tag(struct nmm *n, uint32_t node, uint8_t tag[32])
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

/* One more of max a second (counted in *count since *sec)? */
static bool paced(int64_t *sec, unsigned int *count, unsigned int max)
{
	if (*sec != nmm_now()) {
		*sec = nmm_now();
		*count = 0;
	}
	if (*count >= max)
		return false;
	(*count)++;
	return true;
}

/* REKEY, or REMOVE (asr 0, remove): paced for the root, which takes so many a second */
static int send_up(struct nmm *n, uint8_t type, uint32_t node, uint32_t asr, uint32_t epoch,
		   uint32_t last, const uint8_t *tag)
{
	struct akmp_buf b = { 0 };

	if (!n->up_on || !n->up_session)
		return -ENOTCONN;
	/* the root takes 4 a second: the others are asked again later */
	if (!paced(&n->rekey_sec, &n->rekeys, NMM_REKEYS_PER_SEC))
		return -EAGAIN;
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

bool sync_acks(struct nmm *n, uint32_t asr)
{
	return n->up_on && n->up_session && (n->up.peer_flags & AKMP_WELCOME_ACTIVATE) &&
	       db_int(n, 0, "SELECT count(*) FROM members m JOIN nodes x ON x.id = m.node "
		      "WHERE m.asr = ? AND m.revoked = 0 AND x.remote = 1", "u", asr) > 0;
}

/* ACK, paced for the root: -EAGAIN past NMM_ACKS_PER_SEC (sent on a later tick) */
int sync_ack(struct nmm *n, uint32_t asr, uint32_t epoch)
{
	struct akmp_buf b = { 0 };

	if (!n->up_on || !n->up_session)
		return -ENOTCONN;
	if (!paced(&n->ack_sec, &n->acks, NMM_ACKS_PER_SEC))
		return -EAGAIN;
	akmp_begin(&b, AKMP_ACK);
	akmp_put_u32(&b, AKMP_T_ASR_ID, asr);
	akmp_put_u32(&b, AKMP_T_EPOCH, epoch);
	akmp_put_u32(&b, AKMP_T_STATUS, 0);
	return akmc_send(&n->up, &b);
}

void sync_tick(struct nmm *n)
{
	int64_t now = nmm_now();
	uint32_t node;
	sqlite3_stmt *st;

	behind_tick(n);
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
	int err = sync_tx(n, remove_node, &node);

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
