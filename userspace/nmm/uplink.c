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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <netinet/in.h>
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

int uplink_cred(struct nmm *n, uint8_t *c)
{
	char ad[32];

	snprintf(ad, sizeof(ad), "uplink:%u", n->up.peer);
	return load_secret(n, ad, c, db_prep(n, "SELECT cred FROM uplink", ""));
}

/* The site's credential from the store into the kernel, as CRED_ID = the root id. */
static int cred_install(struct nmm *n)
{
	uint8_t *c = akm_secure_alloc(AKM_CRED_LEN);
	int err;

	if (!c)
		return -ENOMEM;
	err = uplink_cred(n, c);
	if (!err)
		err = akm_cred_install(n->nl, n->up.peer, c);
	akm_secure_free(c);
	return err;
}

/* "a.b.c.d:port" or "[v6]:port" */
static char *ep_str(const struct akmp_endpoint *e, char *buf, size_t len)
{
	char a[AKM_ADDRSTRLEN];

	akm_addr_str(&e->addr, a, sizeof(a));
	snprintf(buf, len, e->addr.family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, e->port);
	return buf;
}

static bool eps_has(const struct nmm *n, const struct akmp_endpoint *e)
{
	int i;

	for (i = 0; i < n->up_neps; i++)
		if (akmp_endpoint_eq(&n->up_eps[i], e))
			return true;
	return false;
}

/* Does a node (not removed) have the address a? */
static bool node_has(struct nmm *n, const char *a)
{
	return db_int(n, 1, "SELECT count(*) FROM nodes WHERE state != 'removed' AND "
		      "' ' || addrs || ' ' LIKE '% ' || ? || ' %'", "t", a) != 0;
}

/*
 * The endpoints to try, in turn: the root's instances (as stored: "EP EP
 * ..."), those of the bundle's address family that are no node's address,
 * then the bundle's unless it is one of them. The next one tried is the
 * one after that connected to (the first if it is no longer listed).
 */
static void eps_load(struct nmm *n, const char *instances)
{
	struct akmp_endpoint cur = n->up_eps[n->up_ep], e;
	char copy[AKMP_INSTANCES_MAX * (AKM_ADDRSTRLEN + 8)], *tok, *save, a[AKM_ADDRSTRLEN];
	bool had = n->up_neps > 0;
	int i;

	n->up_neps = 0;
	snprintf(copy, sizeof(copy), "%s", instances);
	for (tok = strtok_r(copy, " ", &save); tok && n->up_neps < AKMP_INSTANCES_MAX;
	     tok = strtok_r(NULL, " ", &save)) {
		e.port = AKM_NMM_PORT;
		if (akm_endpoint_parse(tok, &e.addr, &e.port) || eps_has(n, &e) ||
		    e.addr.family != n->up_bundle.addr.family)
			continue;
		if (node_has(n, akm_addr_str(&e.addr, a, sizeof(a)))) {
			nmm_log("root link: instance %s left out: it is a node's address", tok);
			continue;
		}
		n->up_eps[n->up_neps++] = e;
	}
	if (!eps_has(n, &n->up_bundle))
		n->up_eps[n->up_neps++] = n->up_bundle;
	n->up_ep = had ? n->up_neps - 1 : 0;
	for (i = 0; had && i < n->up_neps; i++)
		if (akmp_endpoint_eq(&n->up_eps[i], &cur))
			n->up_ep = i;
}

/*
 * INSTANCES: the root's instances this site may connect to, tried in turn
 * from the next bootstrap connection on, and kept in the store.
 */
static int on_instances(struct nmm *n, const struct akmp_msg *m)
{
	char text[AKMP_INSTANCES_MAX * (AKM_ADDRSTRLEN + 8)] = "", buf[AKM_ADDRSTRLEN + 8];
	struct akmp_endpoint e[AKMP_INSTANCES_MAX];
	size_t len = 0;
	int k, i, rows;

	k = akmp_instances_parse(m, e);
	for (i = 0; i < k && len < sizeof(text); i++)
		len += snprintf(text + len, sizeof(text) - len, "%s%s", i ? " " : "",
				ep_str(&e[i], buf, sizeof(buf)));
	rows = db_exec(n, "UPDATE uplink SET instances = ? WHERE instances != ?", "tt", text,
		       text);
	if (rows < 0)	/* tried all the same, and sent again at the next session */
		nmm_log("root link: cannot keep the root's instances in the store");
	if (!rows)
		return 0;
	eps_load(n, text);
	nmm_event(n, "root-instances", "root %u instances %d", n->up.peer, k);
	return 0;
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
	/*
	 * After a connection that failed or ended, the next instance (all
	 * serve alike); a pass over them at the first pace of the backoff.
	 */
	if (c->sessions != n->up_sessions) {
		n->up_sessions = c->sessions;
		n->up_pass = 0;
	}
	if (n->up_tried && n->up_neps) {
		n->up_ep = (n->up_ep + 1) % n->up_neps;
		if (++n->up_pass < n->up_neps)
			c->backoff = AKMC_BACKOFF_MIN_MS;
	}
	n->up_tried = true;
	if (n->up_neps) {
		c->addr = n->up_eps[n->up_ep].addr;
		c->port = n->up_eps[n->up_ep].port;
		root.addrs[0] = c->addr;
	}
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

/* The site's records (sync.c); one the NMM cannot take ends the session (all again next). */
static void message(struct akmc *c, const struct akmp_msg *m)
{
	int err = m->type == AKMP_INSTANCES ? on_instances(nmm_of(c), m) :
		  sync_message(nmm_of(c), m);

	if (err)
		akmc_fail(c, "%s from the root: %s", akmp_type_name(m->type),
			  err == -EBADMSG ? "malformed, or not for this site" : strerror(-err));
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
	char why[sizeof(c->error)];
	size_t i;

	if (up == n->up_session)
		return;
	n->up_session = up;
	sync_reset(n);
	if (up) {
		sync_removals(n);
		status_mark(n, 0);	/* the root hears of every node again */
	}
	/* the reason may quote the root's words: no quote of theirs ends ours */
	for (i = 0; i < sizeof(why) - 1 && c->error[i]; i++)
		why[i] = c->error[i] == '"' || c->error[i] == '\\' ? '\'' : c->error[i];
	why[i] = 0;
	if (up)
		nmm_event(n, "root-online", "root %u session %u", c->peer, c->epoch);
	else
		nmm_event(n, "root-offline", "root %u reason \"%s\"", c->peer, why);
}

static void uplink_log(const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	nmm_log("root link: %s", text);
}

static const struct akmc_ops uplink_ops = {
	.prepare = prepare,
	.session = session,
	.last = last,
	.message = message,
	.heartbeat = heartbeat,
	.changed = changed,
	.log = uplink_log,
};

/*
 * The link to root ends (with a reset: nothing is left to retransmit in
 * the clear); its provisioning ASR and root's credential leave the kernel,
 * which keeps the ASR's last epoch.
 */
static void link_clear(struct nmm *n, uint32_t root)
{
	uplink_stop(n, true);
	if (n->nl && root) {
		akm_asr_del(n->nl, AKMP_PROV_ASR(n->id));
		akm_cred_del(n->nl, root);
	}
}

/* The kernel's link state from the store: the provisioning ASR made anew, the credential. */
static int kern_reset(struct nmm *n, uint32_t root)
{
	link_clear(n, root);
	return cred_install(n);
}

/*
 * From the store: connect if a bundle was imported (and this NMM has a
 * kernel). Trouble with the link is logged and shown by 'root show'; the
 * NMM serves its nodes all the same.
 */
void uplink_start(struct nmm *n)
{
	sqlite3_stmt *st = db_prep(n, "SELECT root, addr, port, instances FROM uplink", "");
	struct akmc *c = &n->up;
	int err = -ENOENT;

	uplink_stop(n, false);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	n->up_neps = n->up_ep = n->up_pass = 0;
	n->up_sessions = 0;
	n->up_tried = false;
	if (!st) {
		snprintf(c->error, sizeof(c->error), "cannot read the store");
		return;
	}
	if (sqlite3_step(st) == SQLITE_ROW) {
		c->peer = sqlite3_column_int64(st, 0);
		err = akm_addr_parse((const char *)sqlite3_column_text(st, 1),
				     &n->up_bundle.addr);
		n->up_bundle.port = sqlite3_column_int64(st, 2);
		if (!err)
			eps_load(n, (const char *)sqlite3_column_text(st, 3));
		c->addr = n->up_bundle.addr;
		c->port = n->up_bundle.port;
	}
	db_done(n, st);
	if (err == -ENOENT)
		return;
	if (err) {
		snprintf(c->error, sizeof(c->error), "the root's address in the store is damaged");
	} else if (!n->nl) {
		snprintf(c->error, sizeof(c->error), "no kernel (--no-kernel)");
	} else if ((err = kern_reset(n, c->peer))) {
		snprintf(c->error, sizeof(c->error), "cannot install the site's credential: %s",
			 strerror(-err));
	} else {
		c->ops = &uplink_ops;
		c->arg = n;
		c->server = "root";
		c->role = "site";
		c->flags = AKMP_FLAG_INSTANCES | AKMP_FLAG_ACK;
		c->self = n->id;
		c->nl = n->nl;
		/* from the address the root knows the site by, if it is one */
		if (n->listen_addr.family == c->addr.family &&
		    (c->addr.family == AF_INET ? n->listen_addr.v4.s_addr != INADDR_ANY :
		     !IN6_IS_ADDR_UNSPECIFIED(&n->listen_addr.v6)))
			c->src = n->listen_addr;
		akmc_init(c);
		n->up_on = true;
		return;
	}
	nmm_log("root link: root %u: %s", c->peer, c->error);
}

/*
 * Close the link. reset: its provisioning ASR goes next, so nothing is
 * left to retransmit in the clear; else the kernel keeps it (bootstrap
 * mode next time).
 */
void uplink_stop(struct nmm *n, bool reset)
{
	if (!n->up_on)
		return;
	akmc_close(&n->up, reset);
	if (n->up_session) {
		snprintf(n->up.error, sizeof(n->up.error), "stopped");
		changed(&n->up, "stopped");
	}
	n->up_on = false;
}

/*
 * Forget the root: the stored credential, then the link and its kernel
 * state. The NMM keeps its site's records as its own: the members at other
 * sites go, and each ASR they were in gets a new epoch of its own.
 */
int uplink_forget(struct nmm *n)
{
	uint32_t root = n->up.peer, *asrs = NULL, *grown;
	size_t k = 0, i;
	sqlite3_stmt *st;
	int err;

	err = store_begin(n);
	st = err ? NULL : db_prep(n, "SELECT DISTINCT asr FROM members WHERE node IN (SELECT id "
				  "FROM nodes WHERE remote = 1)", "");
	while (st && !err && sqlite3_step(st) == SQLITE_ROW) {
		grown = reallocarray(asrs, k + 1, sizeof(*asrs));
		if (!grown)
			err = -ENOMEM;
		else
			asrs = grown;
		if (!err)
			asrs[k++] = sqlite3_column_int64(st, 0);
	}
	db_done(n, st);
	for (i = 0; i < k && !err; i++)
		err = rekey_restale_pairs(n, asrs[i], 0);
	if (err || !st ||
	    db_exec(n, "DELETE FROM members WHERE node IN (SELECT id FROM nodes WHERE "
		    "remote = 1)", "") < 0 ||
	    db_exec(n, "DELETE FROM nodes WHERE remote = 1", "") < 0)
		err = -EIO;
	for (i = 0; i < k && !err; i++)
		err = rekey_new_epoch(n, asrs[i]);
	free(asrs);
	/* removals the root was not told of stay its to make ('root forget' says so) */
	if (err || db_exec(n, "DELETE FROM uplink", "") < 0 ||
	    db_exec(n, "DELETE FROM removals", "") < 0 || store_commit(n)) {
		store_rollback(n);
		return -EIO;
	}
	link_clear(n, root);
	memset(&n->up, 0, sizeof(n->up));
	n->nbehind = 0;
	nmm_event(n, "root-forgotten", "root %u", root);
	rekey_kick(n);
	return 0;
}

int uplink_import(struct nmm *n, const uint8_t *bundle, size_t len, const char *code,
		  char *msg, size_t msglen)
{
	uint8_t *cred = akm_secure_alloc(AKM_CRED_LEN), sealed[AKM_SEALED_LEN(AKM_CRED_LEN)];
	char ad[32], addr[AKM_ADDRSTRLEN] = "";
	struct akm_bundle b;
	struct akm_addr a;
	int err;

	if (!cred)
		return -ENOMEM;
	err = akm_bundle_open(bundle, len, code, &b, cred, msg, msglen);
	if (!err) {
		akmp_addr_get(b.nmm_addr.s6_addr, &a);
		akm_addr_str(&a, addr, sizeof(addr));
	}
	if (!err && b.node_id != n->id) {
		snprintf(msg, msglen, "this bundle is for site %u, and this NMM's id is %u: "
			 "export the bundle of this NMM's site", b.node_id, n->id);
		err = -EINVAL;
	} else if (!err && (!b.nmm_id || b.nmm_id >= AKMP_PROV_ASR(0) || b.nmm_id == n->id)) {
		snprintf(msg, msglen, "the bundle names root %u, which cannot be (the root's id "
			 "is 1 to 2147483647, and not this NMM's)", b.nmm_id);
		err = -EINVAL;
	} else if (!err && db_int(n, 1, "SELECT count(*) FROM nodes WHERE id = ?", "u",
				  b.nmm_id)) {
		snprintf(msg, msglen, "the root's id %u is a node's of this NMM (or was: ids of "
			 "removed nodes count): ids are one space in a deployment", b.nmm_id);
		err = -EEXIST;
	} else if (!err && node_has(n, addr)) {
		snprintf(msg, msglen, "the root's address %s is a node's of this NMM", addr);
		err = -EADDRINUSE;
	} else if (!err && !n->up.peer && db_int(n, 1, "SELECT (SELECT count(*) FROM nodes "
						 "WHERE state != 'removed') + (SELECT count(*) "
						 "FROM asrs)", "")) {
		snprintf(msg, msglen, "this NMM has nodes or ASRs of its own, and a site's come "
			 "from the root: remove them first (node del, asr del), or use a new "
			 "state directory");
		err = -EEXIST;
	}
	/* another root: the removals were for the one before */
	if (!err && n->up.peer && n->up.peer != b.nmm_id &&
	    db_exec(n, "DELETE FROM removals", "") < 0) {
		snprintf(msg, msglen, "cannot write the store");
		err = -EIO;
	}
	if (!err) {
		snprintf(ad, sizeof(ad), "uplink:%u", b.nmm_id);
		akm_seal(&n->master, ad, cred, AKM_CRED_LEN, sealed);
		if (db_exec(n, "INSERT OR REPLACE INTO uplink (one, root, addr, port, cred) "
			    "VALUES (1, ?, ?, ?, ?)", "utub", b.nmm_id, addr, (uint32_t)b.nmm_port,
			    sealed, sizeof(sealed)) != 1) {
			snprintf(msg, msglen, "cannot write the store");
			err = -EIO;
		}
		sodium_memzero(sealed, sizeof(sealed));
	}
	akm_secure_free(cred);
	if (err)
		return err;
	/*
	 * A new credential, perhaps of another root: the link starts over,
	 * the kernel's copy and provisioning ASR of the old one go.
	 */
	link_clear(n, n->up.peer);
	nmm_event(n, "root-imported", "root %u endpoint %s port %u", b.nmm_id, addr, b.nmm_port);
	uplink_start(n);
	return 0;
}

void uplink_show(struct nmm *n, struct akm_out *o)
{
	char buf[AKM_ADDRSTRLEN + 8];
	int i;

	akm_out_obj_open(o, NULL);
	akm_out_uint(o, "root", "root", n->up.peer);
	akm_out_str(o, "addr", "addr", akm_addr_str(&n->up.addr, buf, sizeof(buf)));
	akm_out_uint(o, "port", "port", n->up.port);
	akm_out_str(o, "state", "state", n->up_on ? akmc_state_name(&n->up) : "stopped");
	akm_out_uint(o, "session", "session", n->up.epoch);
	akm_out_uint(o, "connects", "connects", n->up.connects);
	akm_out_uint(o, "sessions", "sessions", n->up.sessions);
	akm_out_text(o, "\n");
	/* the endpoints tried in turn: the root's instances, the bundle's */
	akm_out_arr_open(o, "instances");
	for (i = 0; i < n->up_neps; i++)
		akm_out_str(o, NULL, i ? NULL : "    instances",
			    ep_str(&n->up_eps[i], buf, sizeof(buf)));
	akm_out_arr_close(o);
	if (n->up_neps)
		akm_out_text(o, "\n");
	if (n->up.error[0] || akm_out_json(o))
		akm_out_str(o, "error", "    error", n->up.error);
	akm_out_obj_close(o);
	if (n->up.error[0] && !akm_out_json(o))
		akm_out_text(o, "\n");
}
