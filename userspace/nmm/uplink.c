// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The NMM's link to the root (root.md, "The sites' link"): an NMM whose
 * site bundle was imported (akmctl nmm root import) connects to the root
 * as a node connects to its NMM, the NMM in the node's role: the site's
 * credential in this kernel under CRED_ID = the root id, the provisioning
 * ASR 0x80000000 | this NMM's id with the root as its other member, a
 * bootstrap connection, then a session authenticated by both kernels
 * (lib/client.c). The bundle's credential is kept sealed in the store.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>

#include "bundle.h"
#include "nmm.h"

static struct nmm *nmm_of(struct akmc *c)
{
	return c->arg;
}

static int nl_fail(struct akmc *c, int err, const char *what)
{
	akmc_fail(c, "kernel: %s: %s%s%s", what, strerror(-err),
		  *akm_errmsg(c->nl) ? ": " : "", akm_errmsg(c->nl));
	return err;
}

/* The site's credential from the store into the kernel, as CRED_ID = the root id. */
static int cred_install(struct nmm *n)
{
	uint8_t *c = akm_secure_alloc(32);
	char ad[32];
	int err;

	if (!c)
		return -ENOMEM;
	snprintf(ad, sizeof(ad), "uplink:%u", n->up.peer);
	err = load_secret(n, ad, c, db_prep(n, "SELECT cred FROM uplink", ""));
	if (!err) {
		akm_cred_del(n->nl, n->up.peer);
		err = akm_cred_install(n->nl, n->up.peer, c);
	}
	akm_secure_free(c);
	return err;
}

/* Before a connection: the credential in the kernel; for a bootstrap one, bootstrap mode. */
static int prepare(struct akmc *c, bool session)
{
	struct nmm *n = nmm_of(c);
	uint32_t id = AKMP_PROV_ASR(n->id);
	struct akm_member root = { .asr_id = id, .node_id = c->peer, .naddrs = 1,
				   .addrs = { c->addr } };
	struct akm_cred cred;
	int err;

	err = akm_cred_get(c->nl, c->peer, &cred);
	if (err == -ENOENT) {
		err = cred_install(n);
		c->fresh = !err;
	}
	if (err)
		return nl_fail(c, err, "the site's credential");
	if (session)
		return 0;
	err = akm_prov_make(c->nl, id, "root", n->id, &root);
	if (!err)	/* the address, should the bundle have named another */
		err = akm_member_set(c->nl, &root, AKM_BIT(AKM_A_MEMBER_ADDRS));
	if (!err)
		err = akm_prov_bootstrap(c->nl, id, c->peer);
	return err ? nl_fail(c, err, "the root's provisioning ASR in bootstrap mode") : 0;
}

/* Session mode: K(prov, epoch) current, the root active, policy drop. */
static int session(struct akmc *c, uint32_t epoch)
{
	return akm_prov_session(c->nl, AKMP_PROV_ASR(nmm_of(c)->id), c->peer, epoch);
}

static uint32_t last(struct akmc *c)
{
	int64_t last = akm_prov_last(c->nl, AKMP_PROV_ASR(nmm_of(c)->id));

	return last < 0 ? 0 : last;
}

/* Nothing comes from the root on the session yet but HEARTBEATs. */
static void message(struct akmc *c, const struct akmp_msg *m)
{
	akmc_fail(c, "protocol error: unexpected %s from the root", akmp_type_name(m->type));
}

static int heartbeat(struct akmc *c)
{
	struct akmp_buf b = { 0 };
	int err;

	akmp_begin(&b, AKMP_HEARTBEAT);
	err = akmp_end(&b);
	if (!err)
		err = akmp_queue(&c->out, &b);
	akmp_buf_free(&b);
	return err;
}

static void changed(struct akmc *c, const char *state)
{
	struct nmm *n = nmm_of(c);
	bool up = !strcmp(state, "session");

	if (up == n->up_session)
		return;
	n->up_session = up;
	if (up)
		nmm_event(n, "root-online", "root %u session %u", c->peer, c->epoch);
	else
		nmm_event(n, "root-offline", "root %u reason \"%s\"", c->peer, c->error);
}

static void debug(const char *fmt, ...)
{
	(void)fmt;
}

static const struct akmc_ops uplink_ops = {
	.prepare = prepare,
	.session = session,
	.last = last,
	.message = message,
	.heartbeat = heartbeat,
	.changed = changed,
	.log = nmm_log,
	.debug = debug,
};

/* From the store: connect if a bundle was imported (and this NMM has a kernel). */
int uplink_start(struct nmm *n)
{
	sqlite3_stmt *st = db_prep(n, "SELECT root, addr, port FROM uplink", "");
	int err = -ENOENT;

	uplink_stop(n);
	if (!st)
		return -EIO;
	if (sqlite3_step(st) == SQLITE_ROW) {
		n->up.peer = sqlite3_column_int64(st, 0);
		err = akm_addr_parse((const char *)sqlite3_column_text(st, 1), &n->up.addr);
		n->up.port = sqlite3_column_int64(st, 2);
	}
	db_done(n, st);
	if (err)
		return err == -ENOENT ? 0 : err;
	if (!n->nl) {
		nmm_log("root %u: not connecting without the kernel (--no-kernel)", n->up.peer);
		return 0;
	}
	n->up.ops = &uplink_ops;
	n->up.arg = n;
	n->up.server = "root";
	n->up.role = "site";
	n->up.self = n->id;
	n->up.nl = n->nl;
	akmc_init(&n->up);
	n->up_on = true;
	return 0;
}

/* Close the link; the kernel keeps its provisioning ASR (bootstrap mode next time). */
void uplink_stop(struct nmm *n)
{
	if (!n->up_on)
		return;
	akmc_close(&n->up, false);
	if (n->up_session) {
		snprintf(n->up.error, sizeof(n->up.error), "stopped");
		changed(&n->up, "stopped");
	}
	n->up_on = false;
}

/* Forget the root: the link, its kernel state, the stored credential. */
int uplink_forget(struct nmm *n)
{
	uint32_t root = n->up.peer;
	int err;

	uplink_stop(n);
	err = db_exec(n, "DELETE FROM uplink", "") < 0 ? -EIO : 0;
	if (!err && n->nl && root) {
		akm_asr_del(n->nl, AKMP_PROV_ASR(n->id));
		akm_cred_del(n->nl, root);
	}
	memset(&n->up, 0, sizeof(n->up));
	return err;
}

int uplink_import(struct nmm *n, const uint8_t *bundle, size_t len, const char *code,
		  char *msg, size_t msglen)
{
	uint8_t *cred = akm_secure_alloc(AKM_CRED_LEN), sealed[AKM_SEALED_LEN(32)];
	char ad[32], addr[AKM_ADDRSTRLEN];
	struct akm_bundle b;
	struct akm_addr a;
	int err;

	if (!cred)
		return -ENOMEM;
	err = akm_bundle_open(bundle, len, code, &b, cred, msg, msglen);
	if (!err && b.node_id != n->id) {
		snprintf(msg, msglen, "this bundle is for site %u, and this NMM's id is %u: "
			 "export the bundle of this NMM's site", b.node_id, n->id);
		err = -EINVAL;
	}
	if (!err && db_int(n, 1, "SELECT count(*) FROM nodes WHERE id = ?", "u", b.nmm_id)) {
		snprintf(msg, msglen, "the root's id %u is a node's of this NMM: ids are one space "
			 "in a deployment", b.nmm_id);
		err = -EEXIST;
	}
	if (!err) {
		akmp_addr_get(b.nmm_addr.s6_addr, &a);
		snprintf(ad, sizeof(ad), "uplink:%u", b.nmm_id);
		akm_seal(&n->master, ad, cred, AKM_CRED_LEN, sealed);
		if (db_exec(n, "INSERT OR REPLACE INTO uplink (one, root, addr, port, cred, "
			    "created, imported) VALUES (1, ?, ?, ?, ?, ?, ?)", "utubii", b.nmm_id,
			    akm_addr_str(&a, addr, sizeof(addr)), (uint32_t)b.nmm_port, sealed,
			    sizeof(sealed), (int64_t)b.created, (int64_t)time(NULL)) != 1) {
			snprintf(msg, msglen, "cannot write the store");
			err = -EIO;
		}
		sodium_memzero(sealed, sizeof(sealed));
	}
	akm_secure_free(cred);
	if (err)
		return err;
	/*
	 * A new credential, perhaps of another root: the kernel's copy and the
	 * provisioning ASR go (the kernel keeps its last session epoch), the
	 * next connection makes them again.
	 */
	uplink_stop(n);
	if (n->up.peer && n->nl) {
		akm_asr_del(n->nl, AKMP_PROV_ASR(n->id));
		akm_cred_del(n->nl, n->up.peer);
	}
	nmm_event(n, "root-imported", "root %u endpoint %s port %u", b.nmm_id, addr, b.nmm_port);
	return uplink_start(n);
}

void uplink_show(struct nmm *n, struct akm_out *o)
{
	static const char *const states[] = {
		[AKMC_IDLE] = "backoff", [AKMC_CONNECTING] = "connecting",
		[AKMC_HELLO] = "handshake", [AKMC_AUTH] = "handshake", [AKMC_SESSION] = "session",
	};
	char buf[AKM_ADDRSTRLEN + 8];

	akm_out_obj_open(o, NULL);
	akm_out_uint(o, "root", "root", n->up.peer);
	akm_out_str(o, "addr", "addr", akm_addr_str(&n->up.addr, buf, sizeof(buf)));
	akm_out_uint(o, "port", "port", n->up.port);
	akm_out_str(o, "state", "state", !n->up_on ? "stopped" : states[n->up.st]);
	akm_out_uint(o, "session", "session", n->up.epoch);
	akm_out_uint(o, "connects", "connects", n->up.connects);
	akm_out_uint(o, "sessions", "sessions", n->up.sessions);
	akm_out_text(o, "\n");
	if (n->up.error[0] || akm_out_json(o))
		akm_out_str(o, "error", "    error", n->up.error);
	akm_out_obj_close(o);
	if (n->up.error[0] && !akm_out_json(o))
		akm_out_text(o, "\n");
}
