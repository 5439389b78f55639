// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The NMM's own kernel: its node id, one credential per node (CRED_ID = the
 * node id) for the handshake proofs, and one provisioning ASR per active
 * node that has reached it, in bootstrap or session mode (protocol.md).
 * kern_sync() rebuilds it from the store at start, all nodes in bootstrap
 * mode, so a reboot of the NMM machine loses nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nmm.h"

static int nl_err(struct nmm *n, int err, const char *what, uint32_t id)
{
	if (err)
		nmm_log("kernel: %s %u: %s%s%s", what, id, strerror(-err),
			*akm_errmsg(n->nl) ? ": " : "", akm_errmsg(n->nl));
	return err;
}

int kern_node_cred(struct nmm *n, uint32_t node)
{
	uint8_t *c;
	int err;

	if (!n->nl)
		return -ENOTCONN;
	c = akm_secure_alloc(32);
	if (!c)
		return -ENOMEM;
	err = node_cred(n, node, c);
	if (!err) {
		err = akm_cred_del(n->nl, node);
		if (err && err != -ENOENT)
			nl_err(n, err, "delete credential", node);
		err = nl_err(n, akm_cred_install(n->nl, node, c), "install credential", node);
	}
	akm_secure_free(c);
	return err;
}

/* The node's addresses from the store into m. */
int node_addrs(struct nmm *n, uint32_t node, struct akm_member *m)
{
	sqlite3_stmt *st = db_prep(n, "SELECT addrs FROM nodes WHERE id = ?", "u", node);
	char *copy = NULL, *tok, *save;
	int err = -ENOENT;

	if (!st)
		return -EIO;
	if (sqlite3_step(st) == SQLITE_ROW) {
		copy = strdup((const char *)sqlite3_column_text(st, 0));
		err = copy ? 0 : -ENOMEM;
	}
	db_done(n, st);
	for (tok = copy ? strtok_r(copy, " ", &save) : NULL; tok && !err;
	     tok = strtok_r(NULL, " ", &save)) {
		if (m->naddrs == AKM_ADDRS_MAX || akm_addr_parse(tok, &m->addrs[m->naddrs]))
			err = -EINVAL;
		else
			m->naddrs++;
	}
	free(copy);
	return err;
}

/* Create the provisioning ASR in bootstrap mode, or set its node's addresses. */
static int prov_asr_make(struct nmm *n, uint32_t node)
{
	uint32_t id = AKMP_PROV_ASR(node);
	struct akm_member peer = { .node_id = node };
	char name[AKM_NAME_MAX];
	struct akm_asr cur;
	int err;

	if (!n->nl)
		return -ENOTCONN;
	if (!akm_asr_get(n->nl, id, &cur)) {
		/* as the store has them; the mode is set all the same */
		kern_node_addrs(n, node);
		return 0;
	}
	snprintf(name, sizeof(name), "prov-%u", node);
	err = node_addrs(n, node, &peer);
	if (!err)
		err = nl_err(n, akm_prov_make(n->nl, id, name, n->id, &peer),
			     "create provisioning ASR", id);
	return err;
}

/* The node's addresses in its provisioning ASR, if that exists. */
int kern_node_addrs(struct nmm *n, uint32_t node)
{
	struct akm_member peer = { .asr_id = AKMP_PROV_ASR(node), .node_id = node };
	struct akm_asr cur;
	int err;

	if (!n->nl || akm_asr_get(n->nl, peer.asr_id, &cur))
		return 0;
	err = node_addrs(n, node, &peer);
	if (!err)
		err = nl_err(n, akm_member_set(n->nl, &peer, AKM_BIT(AKM_A_MEMBER_ADDRS)),
			     "provisioning ASR: node addresses", peer.asr_id);
	return err;
}

/* Bootstrap mode: policy accept, the node's member state provisioned. */
int kern_bootstrap(struct nmm *n, uint32_t node)
{
	int err = prov_asr_make(n, node);

	return err ? err : nl_err(n, akm_prov_bootstrap(n->nl, AKMP_PROV_ASR(node), node),
				  "provisioning ASR to bootstrap mode", AKMP_PROV_ASR(node));
}

/*
 * Session mode with epoch s: K(prov, s) current (installed and activated
 * unless it is already), the node active, policy drop.
 */
int kern_session(struct nmm *n, uint32_t node, uint32_t epoch)
{
	int err = prov_asr_make(n, node);

	if (!err)
		err = nl_err(n, akm_prov_session(n->nl, AKMP_PROV_ASR(node), node, epoch),
			     "provisioning ASR to session mode", AKMP_PROV_ASR(node));
	if (err)
		kern_bootstrap(n, node);
	return err;
}

/*
 * The last session epoch of the node in this kernel (0: none), or -errno;
 * the kernel remembers it also while the provisioning ASR is gone, so that
 * is made first.
 */
int64_t kern_session_last(struct nmm *n, uint32_t node)
{
	int64_t last;

	if (!n->nl)
		return 0;	/* --no-kernel */
	last = prov_asr_make(n, node);
	if (!last)
		last = akm_prov_last(n->nl, AKMP_PROV_ASR(node));
	return last < 0 ? nl_err(n, last, "read provisioning ASR", AKMP_PROV_ASR(node)) : last;
}

void kern_node_del(struct nmm *n, uint32_t node)
{
	int err;

	if (!n->nl)
		return;
	err = akm_asr_del(n->nl, AKMP_PROV_ASR(node));

	if (err && err != -ENOENT)
		nl_err(n, err, "delete provisioning ASR", AKMP_PROV_ASR(node));
	err = akm_cred_del(n->nl, node);
	if (err && err != -ENOENT)
		nl_err(n, err, "delete credential", node);
}

/*
 * Credentials and provisioning ASRs of removed nodes (a crash after 'node
 * del' committed, before the kernel was cleaned up). Only those: the
 * kernel may hold credentials that are not this NMM's.
 */
static void kern_prune(struct nmm *n)
{
	struct akm_cred *creds = NULL;
	struct akm_asr *asrs = NULL;
	size_t k = 0, i;

	if (!akm_cred_dump(n->nl, &creds, &k))
		for (i = 0; i < k; i++)
			if (db_int(n, 0, "SELECT count(*) FROM nodes WHERE id = ? AND "
				    "state = 'removed'", "u", creds[i].id))
				kern_node_del(n, creds[i].id);
	free(creds);
	if (!akm_asr_dump(n->nl, &asrs, &k))
		for (i = 0; i < k; i++)
			if (asrs[i].id >= AKMP_PROV_ASR(0) &&
			    db_int(n, 0, "SELECT count(*) FROM nodes WHERE id = ? AND "
				   "state = 'removed'", "u", asrs[i].id & ~AKMP_PROV_ASR(0)))
				kern_node_del(n, asrs[i].id & ~AKMP_PROV_ASR(0));
	free(asrs);
}

int kern_sync(struct nmm *n)
{
	struct akm_node self;
	sqlite3_stmt *st;
	int err;

	if (!n->nl)
		return 0;	/* --no-kernel */
	err = akm_node_get(n->nl, &self);
	if (!err && self.node_id != n->id)
		err = akm_node_set_id(n->nl, n->id);
	if (nl_err(n, err, "set node id", n->id))
		return err;
	kern_prune(n);
	st = db_prep(n, "SELECT id, state FROM nodes WHERE state != 'removed' AND remote = 0 "
		     "ORDER BY id", "");
	if (!st)
		return -EIO;
	while (sqlite3_step(st) == SQLITE_ROW) {
		uint32_t node = sqlite3_column_int64(st, 0);
		bool active = !strcmp((const char *)sqlite3_column_text(st, 1), "active");

		/* every node starts in bootstrap mode; trouble is logged, not fatal */
		if (active && !kern_node_cred(n, node))
			kern_bootstrap(n, node);
	}
	db_done(n, st);
	return 0;
}
