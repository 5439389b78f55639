// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The NMM's secrets in its store, under the master key (lib/secret.c).
 */
#include <errno.h>
#include <stdio.h>

#include "nmm.h"

/*
 * A master key is made only for a store without secrets: one that holds
 * any (a node's credential, an epoch's key) was sealed under a key that
 * must be restored, not replaced. Errors count as secrets.
 */
int master_load(struct nmm *n)
{
	static char store[4096];

	snprintf(store, sizeof(store), "%s/nmm.db", n->state_dir);
	n->master = (struct akm_master){
		.dir = n->state_dir,
		.tpm = n->tpm,
		.store = store,
		.log = nmm_log,
		.has_secrets = db_int(n, 1, "SELECT EXISTS (SELECT 1 FROM nodes) OR "
				      "EXISTS (SELECT 1 FROM epochs) OR "
				      "EXISTS (SELECT 1 FROM uplink)", "") != 0,
	};
	return akm_master_load(&n->master);
}

/* Unseal column 0 of the first row of st (which this finalizes) into out (32 bytes). */
int load_secret(struct nmm *n, const char *ad, uint8_t *out, sqlite3_stmt *st)
{
	int err = -ENOENT;

	if (!st)
		return -EIO;
	if (sqlite3_step(st) == SQLITE_ROW)
		err = akm_unseal(&n->master, ad, sqlite3_column_blob(st, 0),
				 sqlite3_column_bytes(st, 0), out, 32);
	db_done(n, st);
	if (err == -EBADMSG)
		nmm_log("store: %s does not decrypt under the master key", ad);
	return err;
}

int node_cred(struct nmm *n, uint32_t node, uint8_t *c)
{
	char ad[32];

	snprintf(ad, sizeof(ad), "cred:%u", node);
	return load_secret(n, ad, c, db_prep(n, "SELECT cred FROM nodes WHERE id = ? "
					     "AND state != 'removed' AND remote = 0", "u", node));
}
