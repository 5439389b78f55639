// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The admin socket (STATE/admin.sock, 0600, root only): "akmctl nmm ARGS"
 * sends its arguments and output mode, the daemon runs the command and
 * answers with its output, its error messages and an exit status (0 ok,
 * 1 failed, 2 usage). "watch" keeps the connection and streams events.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sodium.h>

#include "bundle.h"
#include "nmm.h"
#include "words.h"

#define ARGS_MAX 64

struct req {
	struct nmm *n;
	struct conn *c;
	int argc;
	char **argv;
	int pos;
	struct akm_out o;
	FILE *out, *err;
	char *outbuf, *errbuf;
	size_t outlen, errlen;
	int status;
};

static void send_frame(struct nmm *n, struct conn *c, uint8_t type, uint16_t tlv,
		       const void *data, size_t len)
{
	struct akmp_buf b = { 0 };

	akmp_begin(&b, type);
	if (tlv == NMM_ADMIN_T_STATUS)
		akmp_put_u32(&b, tlv, *(const uint32_t *)data);
	else
		akmp_put(&b, tlv, data, len);
	conn_send(n, c, &b);
	akmp_buf_free(&b);
}

static void send_text(struct nmm *n, struct conn *c, uint8_t type, const char *s, size_t len)
{
	size_t chunk;

	while (len) {
		chunk = len > 60000 ? 60000 : len;
		send_frame(n, c, type, NMM_ADMIN_T_TEXT, s, chunk);
		s += chunk;
		len -= chunk;
	}
}

static int fail(struct req *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct req *r, int status, const char *fmt, ...)
{
	va_list ap;

	fputs("akmctl nmm: ", r->err);
	va_start(ap, fmt);
	vfprintf(r->err, fmt, ap);
	va_end(ap);
	fputc('\n', r->err);
	r->status = status;
	return status;
}

#define usage(r, ...) fail(r, 2, __VA_ARGS__)

static const char *next(struct req *r)
{
	return r->pos < r->argc ? r->argv[r->pos++] : NULL;
}

static const char *value(struct req *r, const char *kw)
{
	const char *v = next(r);

	if (!v)
		usage(r, "missing value after '%s'", kw);
	return v;
}

/* Node id by name; 0 if there is no such (non-removed) node. */
static uint32_t node_by_name(struct nmm *n, const char *name)
{
	return db_int(n, 0, "SELECT id FROM nodes WHERE name = ? AND state != 'removed' AND "
		      "remote = 0",
		      "t", name);
}

/* Fail if an address of addrs is a node's (not removed) other than self. */
static bool addr_taken(struct req *r, const char *addrs, uint32_t self)
{
	sqlite3_stmt *st = db_prep(r->n, "SELECT id, name, addrs FROM nodes WHERE id != ? AND "
				   "state != 'removed'", "u", self);
	char *copy = strdup(addrs), *tok, *save;
	bool taken = false;

	if (!st || !copy) {
		fail(r, 1, "store error");
		taken = true;
	}
	while (!taken && sqlite3_step(st) == SQLITE_ROW)
		for (tok = strtok_r(strcpy(copy, addrs), " ", &save); tok && !taken;
		     tok = strtok_r(NULL, " ", &save))
			if (akm_addrs_has((const char *)sqlite3_column_text(st, 2), tok)) {
				fail(r, 1, "address %s belongs to node '%s' (id %lld)", tok,
				     (const char *)sqlite3_column_text(st, 1),
				     (long long)sqlite3_column_int64(st, 0));
				taken = true;
			}
	db_done(r->n, st);
	free(copy);
	return taken;
}

char *node_addrs_text(struct nmm *n, uint32_t id)
{
	sqlite3_stmt *st = db_prep(n, "SELECT addrs FROM nodes WHERE id = ?", "u", id);
	char *addrs = NULL;

	if (st && sqlite3_step(st) == SQLITE_ROW)
		addrs = strdup((const char *)sqlite3_column_text(st, 0));
	db_done(n, st);
	return addrs;
}

/* Removed nodes with one of addrs: the lists that hold them revoked go again. */
int restale_removed(struct nmm *n, const char *addrs)
{
	sqlite3_stmt *st = db_prep(n, "SELECT id, addrs FROM nodes WHERE state = 'removed'", "");
	char *copy = strdup(addrs), *tok, *save;
	int err = st && copy ? 0 : -EIO;

	while (!err && sqlite3_step(st) == SQLITE_ROW)
		for (tok = strtok_r(strcpy(copy, addrs), " ", &save); tok && !err;
		     tok = strtok_r(NULL, " ", &save))
			if (akm_addrs_has((const char *)sqlite3_column_text(st, 1), tok))
				err = rekey_restale_node(n, sqlite3_column_int64(st, 0));
	db_done(n, st);
	free(copy);
	return err;
}

/* Parse "addr A [addr B ...]" to the end of the request into addrs (stored form). */
static int parse_addrs(struct req *r, char addrs[AKM_ADDRS_TEXT_MAX])
{
	struct akm_words w = { .argc = r->argc, .argv = r->argv, .pos = r->pos };

	if (akm_words_addrs(&w, addrs))
		return usage(r, "%s", w.err);
	r->pos = w.pos;
	return 0;
}

/* ---- node ---- */

int node_forget_removed(struct nmm *n, uint32_t id, const char *name)
{
	static const char *const del[] = {
		"DELETE FROM counters WHERE node IN (SELECT id FROM nodes WHERE (id = ? OR "
		"name = ?) AND state = 'removed')",
		"DELETE FROM members WHERE node IN (SELECT id FROM nodes WHERE (id = ? OR "
		"name = ?) AND state = 'removed')",
		"DELETE FROM deliveries WHERE node IN (SELECT id FROM nodes WHERE (id = ? OR "
		"name = ?) AND state = 'removed')",
		"DELETE FROM leaves WHERE node IN (SELECT id FROM nodes WHERE (id = ? OR "
		"name = ?) AND state = 'removed')",
		"DELETE FROM nodes WHERE (id = ? OR name = ?) AND state = 'removed'",
	};
	sqlite3_stmt *st;
	unsigned int i;
	int err = 0;

	/* the lists that held it revoked go again */
	st = db_prep(n, "SELECT id FROM nodes WHERE (id = ? OR name = ?) AND state = 'removed'",
		     "ut", id, name);
	while (st && !err && sqlite3_step(st) == SQLITE_ROW)
		err = rekey_restale_node(n, sqlite3_column_int64(st, 0));
	db_done(n, st);
	for (i = 0; i < sizeof(del) / sizeof(del[0]) && !err; i++)
		if (db_exec(n, del[i], "ut", id, name) < 0)
			err = -EIO;
	return st ? err : -EIO;
}

static int node_add(struct req *r)
{
	struct nmm *n = r->n;
	const char *name = next(r), *w;
	char addrs[AKM_ADDRS_TEXT_MAX] = "";
	uint8_t *cred, sealed[AKM_SEALED_LEN(32)];
	uint32_t id = 0;
	char ad[32];
	int err;

	if (!name)
		return usage(r, "missing NAME");
	if (!akm_name_ok(name))
		return usage(r, "invalid name '%s' (1 to 31 of A-Z a-z 0-9 . _ -)", name);
	while ((w = next(r)) && !strcmp(w, "id")) {
		const char *v = value(r, w);

		if (!v)
			return r->status;
		if (id)
			return usage(r, "'id' given twice");
		if (akm_parse_id(v, &id) || id >= 0x80000000u)
			return usage(r, "invalid id '%s' (1 to %u)", v, 0x7fffffffu);
	}
	if (w)
		r->pos--;	/* addr ... */
	if (!id)
		return usage(r, w && strcmp(w, "addr") ? "unknown argument '%s'" : "missing 'id'",
			     w);
	if (parse_addrs(r, addrs))
		return r->status;
	if (id == n->id)
		return fail(r, 1, "node id %u is the NMM's own id", id);
	if (db_int(n, 0, "SELECT count(*) FROM nodes WHERE (id = ? OR name = ?) AND "
		   "state != 'removed'", "ut", id, name))
		return fail(r, 1, "a node named '%s' or with id %u exists", name, id);
	if (db_int(n, 0, "SELECT count(*) FROM nodes WHERE state != 'removed' AND remote = 0",
		   "") >= NMM_NODES_MAX)
		return fail(r, 1, "this NMM has %d nodes, its kernel's limit", NMM_NODES_MAX);
	if (addr_taken(r, addrs, 0))
		return r->status;

	cred = akm_secure_alloc(32);
	if (!cred)
		return fail(r, 1, "out of memory");
	randombytes_buf(cred, 32);
	snprintf(ad, sizeof(ad), "cred:%u", id);
	akm_seal(&n->master, ad, cred, 32, sealed);
	akm_secure_free(cred);
	err = store_begin(n);
	if (!err)
		err = node_forget_removed(n, id, name);
	if (!err && db_exec(n, "INSERT INTO nodes (id, name, addrs, cred, state, created) "
			    "VALUES (?, ?, ?, ?, 'provisioned', ?)", "uttbi", id, name, addrs, sealed,
			    sizeof(sealed), (int64_t)time(NULL)) != 1)
		err = -EIO;
	/* a removed node's address is the new node's now: out of the lists that drop it */
	if (!err)
		err = restale_removed(n, addrs);
	sodium_memzero(sealed, sizeof(sealed));
	if (err || store_commit(n)) {
		store_rollback(n);
		return fail(r, 1, "cannot store node '%s' (see the daemon's log)", name);
	}
	nmm_event(n, "node-added", "node %u name %s", id, name);
	rekey_kick(n);
	akm_out_obj_open(&r->o, NULL);
	akm_out_str(&r->o, "name", "node", name);
	akm_out_uint(&r->o, "id", "id", id);
	akm_out_str(&r->o, "state", "state", "provisioned");
	akm_out_text(&r->o, "\n");
	akm_out_obj_close(&r->o);
	return 0;
}

static int node_export(struct req *r)
{
	struct nmm *n = r->n;
	const char *name = next(r), *w, *path = NULL, *endpoint = NULL;
	struct akm_bundle b = { .nmm_id = n->id, .nmm_port = n->port };
	char code[AKM_CODE_LEN + 1], msg[256] = "";
	struct akm_addr a = n->listen_addr;
	uint8_t *cred, bundle[AKM_BUNDLE_LEN];
	int err;

	if (!name)
		return usage(r, "missing NAME");
	while ((w = next(r))) {
		const char *v = value(r, w);

		if (!v)
			return r->status;
		if (!strcmp(w, "file") && !path)
			path = v;
		else if (!strcmp(w, "endpoint") && !endpoint)
			endpoint = v;
		else
			return usage(r, "unknown argument '%s'", w);
	}
	if (!path)
		return usage(r, "missing 'file'");
	/* akmctl writes the file (NMM_ADMIN_FILE) and names it by its absolute path */
	if (path[0] != '/')
		return usage(r, "'file %s' is a relative path: give an absolute one", path);
	if (endpoint) {
		err = akm_endpoint_parse(endpoint, &a, &b.nmm_port);
		if (err == -ENOMEM)
			return fail(r, 1, "out of memory");
		if (err)
			return usage(r, "invalid endpoint '%s': give ADDR, [ADDR], [ADDR]:PORT or "
				     "a.b.c.d:PORT", endpoint);
	}
	if ((a.family == AF_INET && !a.v4.s_addr) ||
	    (a.family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&a.v6)))
		return fail(r, 1, "the NMM listens on a wildcard address: give 'endpoint "
			    "ADDR[:PORT]' for the node to connect to");
	b.node_id = node_by_name(n, name);
	if (!b.node_id)
		return fail(r, 1, "no node named '%s'", name);
	akmp_addr_put(&a, b.nmm_addr.s6_addr);
	b.created = time(NULL);
	cred = akm_secure_alloc(32);
	if (!cred)
		return fail(r, 1, "out of memory");
	err = node_cred(n, b.node_id, cred);
	if (!err)
		err = akm_bundle_make(&b, cred, code, bundle, msg, sizeof(msg));
	akm_secure_free(cred);
	if (err)
		return fail(r, 1, "cannot export node '%s': %s", name, *msg ? msg : strerror(-err));
	/* akmctl writes it, as the operator: the daemon may not write there */
	send_frame(n, r->c, NMM_ADMIN_FILE, NMM_ADMIN_T_DATA, bundle, sizeof(bundle));
	nmm_event(n, "node-exported", "node %u file \"%s\"", b.node_id, path);
	akm_out_obj_open(&r->o, NULL);
	akm_out_str(&r->o, "name", "node", name);
	akm_out_uint(&r->o, "id", "id", b.node_id);
	akm_out_str(&r->o, "file", "file", path);
	akm_out_text(&r->o, "\n");
	akm_out_str(&r->o, "code", "transfer code", code);
	akm_out_text(&r->o, "\n");
	akm_out_obj_close(&r->o);
	sodium_memzero(code, sizeof(code));
	return 0;
}

static const char *link_str(struct nmm *n, uint32_t node)
{
	return node_online(n, node) ? "online" : "offline";
}

/* JSON: seconds since 1970 under key. Text: ISO 8601 UTC or "never" after label. */
static void print_time(struct akm_out *o, const char *key, const char *label, int64_t t)
{
	char buf[32];
	struct tm tm;
	time_t tt = t;

	if (akm_out_json(o))
		akm_out_int(o, key, label, t);
	else if (!t)
		akm_out_str(o, NULL, label, "never");
	else if (gmtime_r(&tt, &tm) && strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm))
		akm_out_str(o, NULL, label, buf);
}

/*
 * The counters the node last reported, of one ASR (asr >= 0) or all: in
 * text only those that are not zero (akm_out_counter()); in JSON each one.
 */
static void print_counters(struct nmm *n, struct akm_out *o, uint32_t node, int64_t asr,
			   const char *indent)
{
	int64_t last = -1;
	sqlite3_stmt *st;

	st = db_prep(n, "SELECT asr, name, value FROM counters WHERE node = ?1 AND "
		     "(?2 < 0 OR asr = ?2) ORDER BY asr, name", "ui", node, asr);
	akm_out_arr_open(o, "counters");
	while (st && sqlite3_step(st) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0), value = sqlite3_column_int64(st, 2);
		const char *name = (const char *)sqlite3_column_text(st, 1);

		if (akm_out_json(o) || value)	/* in text, those that are not zero */
			akm_out_counter(o, &last, asr >= 0, id, name, value, indent);
	}
	akm_out_arr_close(o);
	db_done(n, st);
}

static void print_addrs(struct akm_out *o, const char *addrs)
{
	char *copy = strdup(addrs), *tok, *save;

	akm_out_arr_open(o, "addrs");
	for (tok = copy ? strtok_r(copy, " ", &save) : NULL; tok;
	     tok = strtok_r(NULL, " ", &save))
		akm_out_str(o, NULL, "addr", tok);
	akm_out_arr_close(o);
	free(copy);
}

static int node_list(struct req *r)
{
	struct nmm *n = r->n;
	const char *name = next(r);
	struct akm_out *o = &r->o;
	sqlite3_stmt *st;
	int count = 0;

	if (name && next(r))
		return usage(r, "unknown argument '%s'", r->argv[r->pos - 1]);
	st = db_prep(n, "SELECT id, name, addrs, state, created, last_contact, session, "
		     "auth_failures FROM nodes WHERE state != 'removed' AND remote = 0 AND "
		     "(?1 IS NULL OR "
		     "name = ?1) ORDER BY id", "t", name);
	if (!st)
		return fail(r, 1, "store error");
	akm_out_arr_open(o, NULL);
	while (sqlite3_step(st) == SQLITE_ROW) {
		uint32_t id = sqlite3_column_int64(st, 0);
		int64_t last = sqlite3_column_int64(st, 5);

		count++;
		akm_out_obj_open(o, NULL);
		akm_out_uint(o, "id", "node", id);
		akm_out_str(o, "name", "name", (const char *)sqlite3_column_text(st, 1));
		akm_out_str(o, "state", "state", (const char *)sqlite3_column_text(st, 3));
		akm_out_str(o, "link", NULL, link_str(n, id));
		print_time(o, "last_contact", "last-contact", last);
		akm_out_uint(o, "session", "session", sqlite3_column_int64(st, 6));
		akm_out_uint(o, "auth_failures", "auth-failures", sqlite3_column_int64(st, 7));
		akm_out_text(o, "\n    ");
		print_addrs(o, (const char *)sqlite3_column_text(st, 2));
		print_time(o, "created", "created", sqlite3_column_int64(st, 4));
		print_counters(n, o, id, -1, "    ");
		akm_out_text(o, "\n");
		akm_out_obj_close(o);
	}
	akm_out_arr_close(o);
	db_done(n, st);
	if (name && !count)
		return fail(r, 1, "no node named '%s'", name);
	return 0;
}

/* Remember the latest epoch of asr: the request answers once its members switched. */
static int wait_for(struct req *r, uint32_t asr)
{
	struct wait *grown = realloc(r->c->waits, (r->c->nwaits + 1) * sizeof(*grown));

	if (!grown)
		return fail(r, 1, "out of memory");
	r->c->waits = grown;
	grown[r->c->nwaits++] = (struct wait){
		asr, db_int(r->n, 0, "SELECT epoch FROM asrs WHERE id = ?", "u", asr) };
	return 0;
}

void node_leave(struct nmm *n, uint32_t node, uint32_t asr)
{
	struct conn *c = peer_find(n, node);
	struct akmp_buf b = { 0 };

	db_exec(n, "DELETE FROM counters WHERE node = ? AND asr = ?", "uu", node, asr);
	status_mark(n, node);
	if (!c || c->state != CS_UP)
		return;
	akmp_begin(&b, AKMP_LEAVE);
	akmp_put_u32(&b, AKMP_T_ASR_ID, asr);
	conn_send(n, c, &b);
	akmp_buf_free(&b);
}

static int node_del(struct req *r)
{
	struct nmm *n = r->n;
	const char *name = next(r);
	char *addrs;
	uint32_t id, *asrs;
	size_t k, i;
	int err;

	if (!name)
		return usage(r, "missing NAME");
	if (next(r))
		return usage(r, "unknown argument '%s'", r->argv[r->pos - 1]);
	id = node_by_name(n, name);
	if (!id)
		return fail(r, 1, "no node named '%s'", name);
	/* at a root's site: out here at once, the root told (it makes the epochs) */
	if (n->up.peer) {
		bool told;

		if (sync_remove(n, id, &told))
			return fail(r, 1, "cannot remove node '%s' (see the daemon's log)", name);
		akm_out_obj_open(&r->o, NULL);
		akm_out_str(&r->o, "name", "node", name);
		akm_out_str(&r->o, "root", "root", told ? "told" : "to be told");
		akm_out_obj_close(&r->o);
		akm_out_text(&r->o, "\n");
		return 0;
	}
	/* every ASR of the node gets a new epoch, however many */
	if (node_asrs(n, id, &asrs, &k))
		return fail(r, 1, "cannot remove node '%s' (see the daemon's log)", name);
	addrs = node_addrs_text(n, id);
	err = addrs ? store_begin(n) : -EIO;
	/* revoked now: the member lists keep the most recently removed first */
	if (!err && db_exec(n, "UPDATE members SET revoked = 1, added = ? WHERE node = ? AND "
			    "revoked = 0", "iu", (int64_t)time(NULL), id) < 0)
		err = -EIO;
	for (i = 0; i < k && !err; i++) {
		/* an ASR out of epochs does not keep the node in: it is named below */
		err = rekey_new_epoch(n, asrs[i]);
		if (err == -ERANGE) {
			fail(r, 1, "ASR %u is out of epochs and still has the removed node's "
			     "key: delete it (asr del %u) and make a new one", asrs[i], asrs[i]);
			err = 0;
		}
	}
	if (!err && db_exec(n, "UPDATE nodes SET state = 'removed', cred = x'' WHERE id = ?",
			    "u", id) != 1)
		err = -EIO;
	/*
	 * Its addresses move to the revoked entries (from those of an older
	 * removed node that had them): every list with them goes again.
	 */
	if (!err && (rekey_restale_node(n, id) || restale_removed(n, addrs) ||
		     db_exec(n, "INSERT OR IGNORE INTO leaves (node, asr) SELECT node, asr FROM "
			     "members WHERE node = ?", "u", id) < 0))
		err = -EIO;
	free(addrs);
	if (err || store_commit(n)) {
		store_rollback(n);
		free(asrs);
		return fail(r, 1, "cannot remove node '%s' (see the daemon's log)", name);
	}
	for (i = 0; i < k; i++)
		node_leave(n, id, asrs[i]);
	/*
	 * Close its connections while their packets are still tagged (a FIN
	 * sent after the provisioning ASR is gone would be dropped by the
	 * node), then remove its credential and provisioning ASR.
	 */
	peer_drop(n, id);
	kern_node_del(n, id);
	nmm_event(n, "node-removed", "node %u name %s", id, name);
	rekey_kick(n);
	for (i = 0; i < k && !r->status; i++)
		wait_for(r, asrs[i]);
	free(asrs);
	return r->status;
}

/* node set NAME addr ADDR [addr ADDR ...] */
static int node_set(struct req *r)
{
	struct nmm *n = r->n;
	const char *name = next(r);
	char addrs[AKM_ADDRS_TEXT_MAX], *old = NULL;
	struct nodest *s;
	struct conn *c;
	uint32_t id;
	int err;

	if (!name)
		return usage(r, "missing NAME");
	if (parse_addrs(r, addrs))
		return r->status;
	id = node_by_name(n, name);
	if (!id)
		return fail(r, 1, "no node named '%s'", name);
	if (addr_taken(r, addrs, id))
		return r->status;
	/* the addresses it gives up may go back to a removed node that had them */
	old = node_addrs_text(n, id);
	/* the NMM's kernel authenticates the node's session by them: both or neither */
	err = !old || store_begin(n) ||
	      db_exec(n, "UPDATE nodes SET addrs = ? WHERE id = ?", "tu", addrs, id) != 1 ||
	      rekey_restale_node(n, id) || restale_removed(n, addrs) || restale_removed(n, old) ||
	      kern_node_addrs(n, id) || store_commit(n);
	free(old);
	if (err) {
		store_rollback(n);
		kern_node_addrs(n, id);		/* the old ones back */
		return fail(r, 1, "cannot change node '%s' (see the daemon's log)", name);
	}
	s = nodest(n, id, false);
	if (s)
		nodest_addrs(n, s);
	/* its session must come from a new address now: it starts over */
	c = peer_find(n, id);
	if (c)
		c->state = CS_CLOSING;
	nmm_event(n, "node-changed", "node %u name %s", id, name);
	rekey_kick(n);
	return 0;
}

/* ---- asr ---- */

static int asr_add(struct req *r)
{
	struct nmm *n = r->n;
	const char *idstr = next(r);
	struct akm_words w = { .argc = r->argc, .argv = r->argv };
	struct akm_asr_opts o;
	uint32_t id;

	if (!idstr)
		return usage(r, "missing ASR_ID");
	if (akm_parse_id(idstr, &id) || id >= 0x80000000u)
		return usage(r, "invalid ASR_ID '%s' (1 to %u; above is for provisioning)",
			     idstr, 0x7fffffffu);
	w.pos = r->pos;
	if (akm_words_asr(&w, &o))
		return usage(r, "%s", w.err);
	if (db_int(n, 0, "SELECT count(*) FROM asrs WHERE id = ?", "u", id))
		return fail(r, 1, "ASR %u exists", id);
	if (db_exec(n, "INSERT INTO asrs (id, name, alg, policy, grace, created) VALUES "
		    "(?, ?, ?, ?, ?, ?)", "utiiui", id, o.name, (int64_t)o.alg, (int64_t)o.policy,
		    o.grace, (int64_t)time(NULL)) != 1)
		return fail(r, 1, "cannot store ASR %u", id);
	nmm_event(n, "asr-added", "asr %u", id);
	return 0;
}

/* add-member / del-member ID node NAME */
static int asr_member(struct req *r, bool add)
{
	struct nmm *n = r->n;
	const char *idstr = next(r), *kw = next(r), *name;
	uint32_t id, node;
	int err, rows;

	if (!idstr)
		return usage(r, "missing ASR_ID");
	if (akm_parse_id(idstr, &id))
		return usage(r, "invalid ASR_ID '%s'", idstr);
	if (!kw || strcmp(kw, "node"))
		return usage(r, kw ? "unknown argument '%s'" : "missing 'node'", kw);
	name = value(r, kw);
	if (!name)
		return r->status;
	if (next(r))
		return usage(r, "unknown argument '%s'", r->argv[r->pos - 1]);
	if (!db_int(n, 0, "SELECT count(*) FROM asrs WHERE id = ?", "u", id))
		return fail(r, 1, "no ASR %u", id);
	node = node_by_name(n, name);
	if (!node)
		return fail(r, 1, "no node named '%s'", name);
	if (add && db_int(n, 0, "SELECT count(*) FROM members WHERE asr = ? AND revoked = 0",
			  "u", id) >= AKM_MEMBERS_MAX)
		return fail(r, 1, "ASR %u has %d members already", id, AKM_MEMBERS_MAX);
	if (add && db_int(n, 0, "SELECT count(*) FROM members WHERE node = ? AND revoked = 0",
			  "u", node) >= AKM_ASRS_MAX - 1)
		return fail(r, 1, "node '%s' is in %d ASRs already, its kernel's limit", name,
			    AKM_ASRS_MAX - 1);
	err = store_begin(n);
	if (err)
		return fail(r, 1, "store error");
	rows = add ? db_exec(n, "INSERT INTO members (asr, node, added) VALUES (?, ?, ?) "
			     "ON CONFLICT (asr, node) DO UPDATE SET revoked = 0, added = "
			     "excluded.added WHERE revoked = 1", "uui", id, node,
			     (int64_t)time(NULL)) :
		     db_exec(n, "UPDATE members SET revoked = 1, added = ? WHERE asr = ? AND "
			     "node = ? AND revoked = 0", "iuu", (int64_t)time(NULL), id, node);
	if (rows == 0) {
		store_rollback(n);
		return fail(r, 1, "node '%s' is %s ASR %u", name, add ? "already in" : "not in",
			    id);
	}
	if (rows < 0 || rekey_new_epoch(n, id) || rekey_restale_pairs(n, id, node) ||
	    db_exec(n, add ? "DELETE FROM leaves WHERE node = ? AND asr = ?" :
		    "INSERT OR IGNORE INTO leaves (node, asr) VALUES (?, ?)", "uu", node, id) < 0 ||
	    store_commit(n)) {
		store_rollback(n);
		return fail(r, 1, "cannot change ASR %u (see the daemon's log)", id);
	}
	nmm_event(n, add ? "member-added" : "member-removed", "asr %u node %u", id, node);
	if (!add)
		node_leave(n, node, id);
	rekey_kick(n);
	return wait_for(r, id);
}

/* "ASR_ID" and nothing more, of an ASR that exists; r->status on failure */
static int asr_arg(struct req *r, uint32_t *id)
{
	const char *idstr = next(r);

	if (!idstr)
		return usage(r, "missing ASR_ID");
	if (akm_parse_id(idstr, id))
		return usage(r, "invalid ASR_ID '%s'", idstr);
	if (next(r))
		return usage(r, "unknown argument '%s'", r->argv[r->pos - 1]);
	if (!db_int(r->n, 0, "SELECT count(*) FROM asrs WHERE id = ?", "u", *id))
		return fail(r, 1, "no ASR %u", *id);
	return 0;
}

int asr_remove(struct nmm *n, uint32_t id)
{
	if (rekey_restale_pairs(n, id, 0) ||
	    db_exec(n, "INSERT OR IGNORE INTO leaves (node, asr) SELECT node, asr FROM members "
		    "WHERE asr = ?1 AND node IN (SELECT id FROM nodes WHERE remote = 0) UNION "
		    "SELECT node, asr FROM deliveries WHERE asr = ?1", "u", id) < 0 ||
	    db_exec(n, "DELETE FROM deliveries WHERE asr = ?", "u", id) < 0 ||
	    db_exec(n, "UPDATE nodes SET reported = 0 WHERE id IN (SELECT node FROM counters "
		    "WHERE asr = ?)", "u", id) < 0 ||
	    db_exec(n, "DELETE FROM counters WHERE asr = ?", "u", id) < 0 ||
	    db_exec(n, "DELETE FROM asrs WHERE id = ?", "u", id) != 1 ||
	    /* members of other sites in no ASR of this one any more */
	    db_exec(n, "DELETE FROM nodes WHERE remote = 1 AND id NOT IN "
		    "(SELECT node FROM members)", "") < 0)
		return -EIO;
	nmm_event(n, "asr-deleted", "asr %u", id);
	return 0;
}

void asr_gone(struct nmm *n, uint32_t id)
{
	sqlite3_stmt *st = db_prep(n, "SELECT node FROM leaves WHERE asr = ?", "u", id);

	while (st && sqlite3_step(st) == SQLITE_ROW)
		node_leave(n, sqlite3_column_int64(st, 0), id);
	db_done(n, st);
	rekey_forget_asr(n, id);
	rekey_kick(n);
}

/* asr del ASR_ID: its members leave it (offline ones when they come back) */
static int asr_del(struct req *r)
{
	struct nmm *n = r->n;
	uint32_t id;

	if (asr_arg(r, &id))
		return r->status;
	if (store_begin(n) || asr_remove(n, id) || store_commit(n)) {
		store_rollback(n);
		return fail(r, 1, "cannot delete ASR %u (see the daemon's log)", id);
	}
	asr_gone(n, id);
	return 0;
}

/* asr purge ASR_ID: forget its revoked members */
static int asr_purge(struct req *r)
{
	struct nmm *n = r->n;
	uint32_t id;
	int rows = 0;

	if (asr_arg(r, &id))
		return r->status;
	/* pairs with them may move their addresses to another ASR: all of x's pairs */
	if (store_begin(n) || rekey_restale_pairs(n, id, 0) ||
	    db_exec(n, "UPDATE deliveries SET stale = stale + 1 WHERE asr = ? AND epoch = "
		    "(SELECT epoch FROM asrs WHERE id = ?)", "uu", id, id) < 0 ||
	    (rows = db_exec(n, "DELETE FROM members WHERE asr = ? AND revoked = 1", "u", id)) < 0 ||
	    store_commit(n)) {
		store_rollback(n);
		return fail(r, 1, "cannot purge ASR %u (see the daemon's log)", id);
	}
	nmm_event(n, "asr-purged", "asr %u members %d", id, rows);
	rekey_kick(n);
	akm_out_obj_open(&r->o, NULL);
	akm_out_uint(&r->o, "asr", "asr", id);
	akm_out_uint(&r->o, "purged", "purged", rows);
	akm_out_text(&r->o, "\n");
	akm_out_obj_close(&r->o);
	return 0;
}

static const char *enum_str(enum akm_enum e, unsigned int v)
{
	const char *s = akm_enum_name(e, v);

	return s ? s : "unknown";
}

static void print_asr(struct nmm *n, struct akm_out *o, sqlite3_stmt *a)
{
	uint32_t id = sqlite3_column_int64(a, 0), epoch = sqlite3_column_int64(a, 5);
	int64_t current = db_int(n, 0, "SELECT max(epoch) FROM epochs WHERE asr = ? AND "
				 "state = 'active'", "u", id);
	int64_t previous = db_int(n, 0, "SELECT max(epoch) FROM epochs WHERE asr = ? AND "
				  "state = 'active' AND epoch < ?", "ui", id, current);
	sqlite3_stmt *st;

	akm_out_obj_open(o, NULL);
	akm_out_uint(o, "id", "asr", id);
	akm_out_str(o, "name", "name", (const char *)sqlite3_column_text(a, 1));
	akm_out_uint(o, "epoch", "epoch", epoch);
	akm_out_str(o, "alg", "alg", enum_str(AKM_ENUM_ALG, sqlite3_column_int(a, 2)));
	akm_out_str(o, "policy", "policy", enum_str(AKM_ENUM_POLICY, sqlite3_column_int(a, 3)));
	akm_out_uint(o, "grace", "grace", sqlite3_column_int64(a, 4));

	akm_out_arr_open(o, "epochs");
	st = db_prep(n, "SELECT epoch, state, created, activated, members FROM epochs WHERE "
		     "asr = ? AND (state != 'retired' OR epoch = ?) ORDER BY epoch DESC", "uu",
		     id, epoch);
	while (st && sqlite3_step(st) == SQLITE_ROW) {
		const char *state = (const char *)sqlite3_column_text(st, 1);

		/*
		 * An active epoch with a newer active one is in its grace period;
		 * the kernels keep one such, the newest, until the NMM's tick
		 * records it retired.
		 */
		if (!strcmp(state, "active") && sqlite3_column_int64(st, 0) < previous)
			continue;	/* gone from the kernels: retired */
		if (!strcmp(state, "active") && sqlite3_column_int64(st, 0) < current)
			state = "previous";
		akm_out_text(o, "\n    ");
		akm_out_obj_open(o, NULL);
		akm_out_uint(o, "epoch", "epoch", sqlite3_column_int64(st, 0));
		akm_out_str(o, "state", NULL, state);
		print_time(o, "created", "created", sqlite3_column_int64(st, 2));
		print_time(o, "activated", "activated", sqlite3_column_int64(st, 3));
		akm_out_str(o, "members", "members", (const char *)sqlite3_column_text(st, 4));
		akm_out_obj_close(o);
	}
	db_done(n, st);
	akm_out_arr_close(o);

	akm_out_arr_open(o, "members");
	st = db_prep(n, "SELECT m.node, n.name, CASE WHEN m.revoked THEN 'revoked' WHEN "
		     "n.remote THEN 'remote' ELSE n.state END, n.last_contact, n.addrs, "
		     "d.state, d.error FROM members m JOIN nodes n ON n.id = m.node "
		     "LEFT JOIN deliveries d ON d.asr = m.asr AND d.node = m.node AND "
		     "d.epoch = ? WHERE m.asr = ? ORDER BY m.node", "uu", epoch, id);
	while (st && sqlite3_step(st) == SQLITE_ROW) {
		uint32_t node = sqlite3_column_int64(st, 0);
		int64_t last = sqlite3_column_int64(st, 3);
		const char *dl = (const char *)sqlite3_column_text(st, 5);
		const char *error = (const char *)sqlite3_column_text(st, 6);

		akm_out_text(o, "\n    ");
		akm_out_obj_open(o, NULL);
		akm_out_uint(o, "node", "member", node);
		akm_out_str(o, "name", "name", (const char *)sqlite3_column_text(st, 1));
		akm_out_str(o, "state", "state", (const char *)sqlite3_column_text(st, 2));
		akm_out_str(o, "link", NULL, link_str(n, node));
		print_time(o, "last_contact", "last-contact", last);
		/* a failure shows until the delivery succeeds (it is tried again) */
		akm_out_str(o, "delivery", "delivery", error && *error ? "failed" : dl ? dl : "none");
		if (error && *error)
			akm_out_str(o, "error", "error", error);
		akm_out_text(o, "\n      ");
		print_addrs(o, (const char *)sqlite3_column_text(st, 4));
		print_counters(n, o, node, id, "      ");
		akm_out_obj_close(o);
	}
	db_done(n, st);
	akm_out_arr_close(o);
	akm_out_text(o, "\n");
	akm_out_obj_close(o);
}

static int asr_show(struct req *r)
{
	struct nmm *n = r->n;
	const char *idstr = next(r);
	uint32_t id = 0;
	sqlite3_stmt *st;
	int count = 0;

	if (idstr && akm_parse_id(idstr, &id))
		return usage(r, "invalid ASR_ID '%s'", idstr);
	if (idstr && next(r))
		return usage(r, "unknown argument '%s'", r->argv[r->pos - 1]);
	st = db_prep(n, "SELECT id, name, alg, policy, grace, epoch FROM asrs WHERE "
		     "?1 = 0 OR id = ?1 ORDER BY id", "u", id);
	if (!st)
		return fail(r, 1, "store error");
	if (!id)
		akm_out_arr_open(&r->o, NULL);
	while (sqlite3_step(st) == SQLITE_ROW) {
		count++;
		print_asr(n, &r->o, st);
	}
	if (!id)
		akm_out_arr_close(&r->o);
	db_done(n, st);
	if (id && !count)
		return fail(r, 1, "no ASR %u", id);
	return 0;
}

/* ---- the root ---- */

/*
 * root import HEX CODE: akmctl read the bundle file (hex here) and its
 * transfer code; the code is never an argument of a process.
 */
static int root_cmd(struct req *r, const char *cmd)
{
	struct nmm *n = r->n;
	const char *hex, *code;
	uint8_t bundle[AKM_BUNDLE_LEN];
	char msg[256] = "";
	size_t len;
	int err;

	if (!cmd || !strcmp(cmd, "show")) {
		if (next(r))
			return usage(r, "unknown argument '%s'", r->argv[r->pos - 1]);
		if (!n->up.peer)
			return fail(r, 1, "no root: import this site's bundle with 'akmctl nmm root "
				    "import FILE'");
		uplink_show(n, &r->o);
		return 0;
	}
	if (!strcmp(cmd, "forget")) {
		if (next(r))
			return usage(r, "unknown argument '%s'", r->argv[r->pos - 1]);
		if (!n->up.peer)
			return fail(r, 1, "no root to forget");
		if (uplink_forget(n))
			return fail(r, 1, "cannot write the store");
		return 0;
	}
	if (strcmp(cmd, "import"))
		return usage(r, "unknown root command '%s'; try 'akmctl nmm help'", cmd);
	hex = next(r);
	code = hex ? next(r) : NULL;
	if (!code || next(r))
		return usage(r, "use 'akmctl nmm root import FILE [code-file PATH]'");
	if (sodium_hex2bin(bundle, sizeof(bundle), hex, strlen(hex), NULL, &len, NULL) ||
	    len != sizeof(bundle))
		return fail(r, 1, "the file is not a bundle (%zu bytes of hex, %zu expected)",
			    strlen(hex) / 2, sizeof(bundle));
	err = uplink_import(n, bundle, sizeof(bundle), code, msg, sizeof(msg));
	sodium_memzero((char *)code, strlen(code));
	if (err)
		return fail(r, 1, "cannot import: %s", *msg ? msg : strerror(-err));
	uplink_show(n, &r->o);
	return 0;
}

/* ---- dispatch ---- */

static const char usage_text[] =
	"Usage: akmctl nmm node add NAME id NODE_ID addr ADDR [addr ADDR ...]\n"
	"       akmctl nmm node export NAME file PATH [endpoint ADDR[:PORT]]\n"
	"       akmctl nmm node list [NAME]\n"
	"       akmctl nmm node set NAME addr ADDR [addr ADDR ...]\n"
	"       akmctl nmm node del NAME\n"
	"       akmctl nmm asr add ASR_ID alg ALG [name NAME] [policy POLICY] [grace SECONDS]\n"
	"       akmctl nmm asr add-member ASR_ID node NAME\n"
	"       akmctl nmm asr del-member ASR_ID node NAME\n"
	"       akmctl nmm asr del ASR_ID\n"
	"       akmctl nmm asr purge ASR_ID\n"
	"       akmctl nmm asr show [ASR_ID]\n"
	"       akmctl nmm root import FILE [code-file PATH]\n"
	"       akmctl nmm root show\n"
	"       akmctl nmm root forget\n"
	"       akmctl nmm watch\n";

/* A change of records at a root's site: refused, with where to make it. */
static bool n_rooted(struct req *r, const char *obj, const char *cmd)
{
	static const char *const changes[] = { "node add", "node set", "asr add",
					       "asr add-member", "asr del-member", "asr del",
					       "asr purge" };
	char what[64];
	unsigned int i;

	if (!r->n->up.peer || !cmd)
		return false;
	snprintf(what, sizeof(what), "%s %s", obj, cmd);
	for (i = 0; i < sizeof(changes) / sizeof(changes[0]); i++)
		if (!strcmp(what, changes[i])) {
			fail(r, 1, "this NMM's site takes its nodes and ASRs from root %u: "
			     "change them there ('akmctl root help'), or forget the root "
			     "('akmctl nmm root forget')", r->n->up.peer);
			return true;
		}
	return false;
}

static int run(struct req *r)
{
	const char *obj = next(r), *cmd;

	if (!obj)
		return usage(r, "missing command; try 'akmctl nmm help'");
	if (!strcmp(obj, "help")) {
		fputs(usage_text, r->out);
		return 0;
	}
	if (!strcmp(obj, "watch")) {
		if (next(r))
			return usage(r, "unknown argument '%s'", r->argv[r->pos - 1]);
		r->c->watch = true;
		return 0;
	}
	cmd = next(r);
	/* a site's records are the root's: changed there, sent here */
	if (n_rooted(r, obj, cmd))
		return r->status;
	if (!strcmp(obj, "node")) {
		if (!cmd || !strcmp(cmd, "list") || !strcmp(cmd, "show"))
			return node_list(r);
		if (!strcmp(cmd, "add"))
			return node_add(r);
		if (!strcmp(cmd, "export"))
			return node_export(r);
		if (!strcmp(cmd, "del"))
			return node_del(r);
		if (!strcmp(cmd, "set"))
			return node_set(r);
	} else if (!strcmp(obj, "asr")) {
		if (!cmd || !strcmp(cmd, "show") || !strcmp(cmd, "list"))
			return asr_show(r);
		if (!strcmp(cmd, "add"))
			return asr_add(r);
		if (!strcmp(cmd, "add-member"))
			return asr_member(r, true);
		if (!strcmp(cmd, "del-member"))
			return asr_member(r, false);
		if (!strcmp(cmd, "del"))
			return asr_del(r);
		if (!strcmp(cmd, "purge"))
			return asr_purge(r);
	} else if (!strcmp(obj, "root")) {
		return root_cmd(r, cmd);
	} else {
		return usage(r, "unknown command '%s'; try 'akmctl nmm help'", obj);
	}
	return usage(r, "unknown %s command '%s'; try 'akmctl nmm help'", obj, cmd);
}

static int handle(struct nmm *n, struct conn *c, const uint8_t *data, size_t len)
{
	char *argv[ARGS_MAX + 1];
	struct akmp_admin_req a = { .argv = argv, .max = ARGS_MAX };
	struct req r = { .n = n, .c = c, .argv = argv };
	enum akm_out_mode mode;
	uint32_t status;
	int ret;

	ret = akmp_admin_req(data, len, &a);
	if (ret < 0)
		goto out;
	r.argc = a.argc;
	mode = a.mode;
	c->mode = mode;
	r.out = open_memstream(&r.outbuf, &r.outlen);
	r.err = open_memstream(&r.errbuf, &r.errlen);
	if (!r.out || !r.err) {
		ret = -ENOMEM;
		goto out;
	}
	akm_out_init(&r.o, r.out, mode);
	if (a.toomany)
		usage(&r, "more than %d arguments", ARGS_MAX);
	else
		run(&r);
	fflush(r.out);
	fflush(r.err);
	if (r.outlen)
		send_text(n, c, NMM_ADMIN_OUT, r.outbuf, r.outlen);
	if (r.errlen)
		send_text(n, c, NMM_ADMIN_ERR, r.errbuf, r.errlen);
	if (c->nwaits && !r.status) {
		/* answered by admin_wait_check() once the members switched */
		clock_gettime(CLOCK_MONOTONIC, &c->wait_start);
		c->wait_until = nmm_now() + NMM_WAIT_SECS + c->nwaits / 16;
		admin_wait_check(n);
	} else if (!c->watch || r.status) {
		status = r.status;
		send_frame(n, c, NMM_ADMIN_EXIT, NMM_ADMIN_T_STATUS, &status, 4);
		c->watch = false;
		c->state = CS_CLOSING;
	}
	ret = 0;
out:
	if (r.out)
		fclose(r.out);
	if (r.err)
		fclose(r.err);
	if (r.outbuf)	/* it may hold a transfer code */
		sodium_memzero(r.outbuf, r.outlen);
	free(r.outbuf);
	free(r.errbuf);
	akmp_admin_req_free(&a);
	return ret;
}

/* Members of a waited-for epoch, by how they stand. */
struct standing {
	unsigned int switched;
	bool done;
	struct akm_out *o;
	FILE *err;
	int status;
	uint64_t ms;			/* since the request */
};

/*
 * Report the latest epoch of w's ASR (a later change supersedes the epoch
 * the request made): switched members are counted, offline, failed and
 * still switching ones named. Done once none is still switching.
 */
static void standing(struct nmm *n, const struct wait *w, bool final, struct standing *st)
{
	int64_t epoch = db_int(n, 0, "SELECT epoch FROM asrs WHERE id = ?", "u", w->asr);
	struct akm_out *o = st->o;
	const char *state;
	sqlite3_stmt *q;
	int pass;

	st->switched = 0;
	st->done = true;
	if (!epoch) {	/* deleted meanwhile */
		if (final) {
			akm_out_obj_open(o, NULL);
			akm_out_uint(o, "asr", "asr", w->asr);
			akm_out_str(o, "state", NULL, "deleted");
			akm_out_text(o, "\n");
			akm_out_obj_close(o);
		}
		return;
	}
	state = db_int(n, 0, "SELECT count(*) FROM epochs WHERE asr = ? AND epoch = ? AND "
		       "state = 'pending'", "ui", w->asr, epoch) ? "pending" : "active";
	if (!strcmp(state, "pending"))
		st->done = false;
	/* pass 0 counts; pass 1 (final) prints */
	for (pass = 0; pass < (final ? 2 : 1); pass++) {
		q = db_prep(n, "SELECT d.node, n.name, d.state, d.failed, d.error FROM deliveries d "
			    "JOIN nodes n ON n.id = d.node WHERE d.asr = ? AND d.epoch = ? "
			    "ORDER BY d.node", "ui", w->asr, epoch);
		if (pass) {
			akm_out_obj_open(o, NULL);
			akm_out_uint(o, "asr", "asr", w->asr);
			akm_out_uint(o, "epoch", "epoch", epoch);
			akm_out_str(o, "state", NULL, st->done ? state : "switching");
			akm_out_uint(o, "switched", "switched", st->switched);
			akm_out_uint(o, "ms", "after", st->ms);
			akm_out_text(o, " ms");
			akm_out_arr_open(o, "members");
		}
		while (q && sqlite3_step(q) == SQLITE_ROW) {
			uint32_t node = sqlite3_column_int64(q, 0);
			const char *name = (const char *)sqlite3_column_text(q, 1);
			const char *dl = (const char *)sqlite3_column_text(q, 2);
			const char *error = (const char *)sqlite3_column_text(q, 4);
			const char *how;

			if (!strcmp(dl, "activated"))
				how = "switched";
			else if (!node_online(n, node))
				how = "offline";
			else if (sqlite3_column_int(q, 3))
				how = "failed";
			else
				how = "switching";
			if (!pass) {
				st->switched += !strcmp(how, "switched");
				st->done &= strcmp(how, "switching") != 0;
				if (!st->done && !final)
					break;	/* still waiting: no need to count */
				continue;
			}
			if (!strcmp(how, "switched"))
				continue;
			akm_out_text(o, "\n    ");
			akm_out_obj_open(o, NULL);
			akm_out_str(o, "name", "member", name);
			akm_out_str(o, "state", NULL, how);
			if (!strcmp(how, "offline")) {
				akm_out_text(o, ": gets epoch %lld when it connects",
					     (long long)epoch);
			} else if (!strcmp(how, "failed")) {
				akm_out_str(o, "error", NULL, error);
				akm_out_text(o, " (tried again)");
				fprintf(st->err, "akmctl nmm: node '%s' did not take epoch %lld of "
					"ASR %u: %s; the NMM tries again (akmctl nmm asr show %u)\n",
					name, (long long)epoch, w->asr, error, w->asr);
				st->status = 1;
			} else {
				fprintf(st->err, "akmctl nmm: node '%s' has not switched to epoch "
					"%lld of ASR %u yet; the NMM goes on\n", name,
					(long long)epoch, w->asr);
				st->status = 1;
			}
			akm_out_obj_close(o);
		}
		db_done(n, q);
		if (pass) {
			akm_out_arr_close(o);
			akm_out_text(o, "\n");
			akm_out_obj_close(o);
		}
	}
}

/* Answer the admin requests whose epochs are done, or whose time is up. */
void admin_wait_check(struct nmm *n)
{
	struct conn *c;

	for (c = n->conns; c; c = c->next) {
		struct standing st = { 0 };
		struct timespec now;
		char *out = NULL, *err = NULL;
		size_t outlen = 0, errlen = 0, i;
		bool done = true, final;
		uint32_t status;
		struct akm_out o;

		if (c->kind != CONN_ADMIN || !c->nwaits || c->state != CS_UP)
			continue;
		for (i = 0; i < c->nwaits && done; i++) {
			standing(n, &c->waits[i], false, &st);
			done = st.done;
		}
		final = done || nmm_now() >= c->wait_until;
		if (!final)
			continue;
		clock_gettime(CLOCK_MONOTONIC, &now);
		st.ms = (now.tv_sec - c->wait_start.tv_sec) * 1000 +
			(now.tv_nsec - c->wait_start.tv_nsec) / 1000000;
		st.err = open_memstream(&err, &errlen);
		st.o = &o;
		akm_out_init(&o, open_memstream(&out, &outlen), c->mode);
		if (!st.err || !o.f) {
			c->dead = true;
			continue;
		}
		akm_out_arr_open(&o, NULL);
		for (i = 0; i < c->nwaits; i++)
			standing(n, &c->waits[i], true, &st);
		akm_out_arr_close(&o);
		fclose(o.f);
		fclose(st.err);
		send_text(n, c, NMM_ADMIN_OUT, out, outlen);
		send_text(n, c, NMM_ADMIN_ERR, err, errlen);
		status = st.status;
		send_frame(n, c, NMM_ADMIN_EXIT, NMM_ADMIN_T_STATUS, &status, 4);
		c->state = CS_CLOSING;
		free(out);
		free(err);
		free(c->waits);
		c->waits = NULL;
		c->nwaits = 0;
	}
}

void admin_accept(struct nmm *n)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int fd;

	fd = accept4(n->admin_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		accept_failed(&n->admin_paused, "accepting an admin connection");
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) ||
	    (cred.uid != 0 && cred.uid != geteuid())) {
		close(fd);
		return;
	}
	conn_add(n, fd, CONN_ADMIN);
}

int admin_input(struct nmm *n, struct conn *c)
{
	int ret;

	while ((ret = akmp_read(c->fd, &c->rd)) == 1) {
		if (c->state != CS_HELLO || c->rd.len > NMM_ADMIN_REQ_MAX)
			return -EBADMSG;
		c->state = CS_UP;
		ret = handle(n, c, c->rd.buf, c->rd.len);
		if (ret < 0)
			return ret;
	}
	return ret;
}

/* Send an event line (or JSON object) to every watcher. */
void admin_broadcast(struct nmm *n, const char *kind, const char *text)
{
	time_t now = time(NULL);
	char *buf = NULL;
	size_t len = 0;
	struct conn *c;
	FILE *f;

	for (c = n->conns; c; c = c->next) {
		if (c->kind != CONN_ADMIN || !c->watch || c->state != CS_UP)
			continue;
		f = open_memstream(&buf, &len);
		if (!f)
			return;
		akm_out_event(f, c->mode, now, kind, text);
		fclose(f);
		send_text(n, c, NMM_ADMIN_OUT, buf, len);
		free(buf);
		buf = NULL;
	}
}
