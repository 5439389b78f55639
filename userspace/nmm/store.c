// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The NMM store: SQLite in STATE/nmm.db, WAL, foreign keys on, schema
 * version in PRAGMA user_version, migrated step by step on open.
 * Secrets (credentials, epoch keys) are stored sealed (secret.c).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "nmm.h"

/* migrations[v] takes the schema from version v to v + 1. */
static const char *const migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);"
	"CREATE TABLE nodes ("
	"  id INTEGER PRIMARY KEY CHECK (id BETWEEN 1 AND 2147483647),"
	"  name TEXT NOT NULL UNIQUE,"
	"  addrs TEXT NOT NULL,"			/* space-separated */
	"  cred BLOB NOT NULL,"				/* sealed, 72 bytes */
	"  state TEXT NOT NULL DEFAULT 'provisioned'"
	"    CHECK (state IN ('provisioned', 'active', 'removed')),"
	"  created INTEGER NOT NULL,"
	"  last_contact INTEGER NOT NULL DEFAULT 0,"
	"  session INTEGER NOT NULL DEFAULT 0,"		/* last provisioning session epoch */
	"  auth_failures INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE counters ("
	"  node INTEGER NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,"
	"  asr INTEGER NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL,"
	"  PRIMARY KEY (node, asr, name));"
	"CREATE TABLE asrs ("
	"  id INTEGER PRIMARY KEY CHECK (id BETWEEN 1 AND 2147483647),"
	"  name TEXT NOT NULL DEFAULT '',"
	"  alg INTEGER NOT NULL, policy INTEGER NOT NULL DEFAULT 0,"
	"  grace INTEGER NOT NULL DEFAULT 30,"
	"  epoch INTEGER NOT NULL DEFAULT 0,"		/* latest */
	"  created INTEGER NOT NULL);"
	"CREATE TABLE members ("
	"  asr INTEGER NOT NULL REFERENCES asrs(id) ON DELETE CASCADE,"
	"  node INTEGER NOT NULL REFERENCES nodes(id),"
	"  added INTEGER NOT NULL,"
	"  PRIMARY KEY (asr, node));"
	"CREATE TABLE epochs ("
	"  asr INTEGER NOT NULL REFERENCES asrs(id) ON DELETE CASCADE,"
	"  epoch INTEGER NOT NULL,"
	"  key BLOB NOT NULL,"				/* sealed, 72 bytes */
	"  members TEXT NOT NULL,"			/* ascending ids, space-separated */
	"  state TEXT NOT NULL DEFAULT 'pending'"
	"    CHECK (state IN ('pending', 'active', 'retired')),"
	"  created INTEGER NOT NULL,"
	"  activated INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (asr, epoch));"
	"CREATE TABLE deliveries ("
	"  asr INTEGER NOT NULL, epoch INTEGER NOT NULL,"
	"  node INTEGER NOT NULL REFERENCES nodes(id),"
	"  state TEXT NOT NULL DEFAULT 'pending'"
	"    CHECK (state IN ('pending', 'installed', 'activated')),"
	"  updated INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (asr, epoch, node),"
	"  FOREIGN KEY (asr, epoch) REFERENCES epochs(asr, epoch) ON DELETE CASCADE);"
	"CREATE INDEX deliveries_node ON deliveries(node);",
	/* 1 -> 2: removed members stay, revoked (protocol.md) */
	"ALTER TABLE members ADD COLUMN revoked INTEGER NOT NULL DEFAULT 0 "
	"  CHECK (revoked IN (0, 1));",
	/* 2 -> 3: the node kernel's AKM instance we last re-keyed for */
	"ALTER TABLE nodes ADD COLUMN kernel INTEGER NOT NULL DEFAULT 0;",
	/*
	 * 3 -> 4: a delivery's member list out of date (stale: a counter, 0 =
	 * up to date), its last failure; LEAVEs owed to nodes of deleted ASRs
	 */
	"ALTER TABLE deliveries ADD COLUMN stale INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE deliveries ADD COLUMN failed INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE deliveries ADD COLUMN error TEXT NOT NULL DEFAULT '';"
	"CREATE TABLE leaves (node INTEGER NOT NULL, asr INTEGER NOT NULL,"
	"  PRIMARY KEY (node, asr));"
	"CREATE INDEX members_node ON members(node, asr);"
	/* LEAVEs owed so far (deliveries of ASRs a node is no longer in) */
	"INSERT OR IGNORE INTO leaves (node, asr) SELECT DISTINCT node, asr FROM deliveries d "
	"  WHERE NOT EXISTS (SELECT 1 FROM members m WHERE m.asr = d.asr AND "
	"  m.node = d.node AND m.revoked = 0);"
	/* lists made before addresses were placed per pair: sent again */
	"UPDATE deliveries SET stale = 1 WHERE epoch = "
	"  (SELECT epoch FROM asrs WHERE id = deliveries.asr);",
	/* 4 -> 5: the site bundle from the root (uplink.c) */
	"CREATE TABLE uplink ("
	"  one INTEGER PRIMARY KEY CHECK (one = 1),"
	"  root INTEGER NOT NULL CHECK (root BETWEEN 1 AND 2147483647),"
	"  addr TEXT NOT NULL, port INTEGER NOT NULL,"
	"  cred BLOB NOT NULL);",				/* sealed, "uplink:<root>" */
	/* 5 -> 6: members of the root's ASRs at other sites (sync.c): no credential */
	"ALTER TABLE nodes ADD COLUMN remote INTEGER NOT NULL DEFAULT 0 "
	"  CHECK (remote IN (0, 1));",
	/* 6 -> 7: nodes removed at a root's site, until the root removed them (sync.c) */
	"CREATE TABLE removals (node INTEGER PRIMARY KEY, at INTEGER NOT NULL,"
	"  tag BLOB NOT NULL,"				/* akm_remove_tag() */
	"  sent INTEGER NOT NULL DEFAULT 0);",		/* nmm_now() */
	/* 7 -> 8: the root's instances, as it last sent them (uplink.c) */
	"ALTER TABLE uplink ADD COLUMN instances TEXT NOT NULL DEFAULT '';",
	/* 8 -> 9: the nodes whose status the root is still to be told (status.c) */
	"ALTER TABLE nodes ADD COLUMN reported INTEGER NOT NULL DEFAULT 0;",
};

#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

static int bind_args(struct nmm *n, sqlite3_stmt *st, const char *types, va_list ap)
{
	int i, rc = SQLITE_OK;

	for (i = 1; *types && rc == SQLITE_OK; types++, i++) {
		switch (*types) {
		case 'i':
			rc = sqlite3_bind_int64(st, i, va_arg(ap, int64_t));
			break;
		case 'u':
			rc = sqlite3_bind_int64(st, i, va_arg(ap, uint32_t));
			break;
		case 't':
			rc = sqlite3_bind_text(st, i, va_arg(ap, const char *), -1,
					       SQLITE_TRANSIENT);
			break;
		case 'b': {
			const void *p = va_arg(ap, const void *);
			size_t len = va_arg(ap, size_t);

			rc = sqlite3_bind_blob(st, i, p, len, SQLITE_TRANSIENT);
			break;
		}
		default:
			rc = SQLITE_MISUSE;
		}
	}
	if (rc != SQLITE_OK)
		nmm_log("store: bind: %s", sqlite3_errmsg(n->db));
	return rc;
}

/*
 * Prepared statements are kept in a small table, by the hash of their text
 * (a few slots from there): a re-key runs the same few thousand times. One
 * handed out already (a query inside the loop over another of the same
 * text), or without a free slot, is prepared anew and finalized by
 * db_done().
 */
#define STMT_PROBES 4

static sqlite3_stmt **stmt_slot(struct nmm *n, const char *sql)
{
	uint32_t h = 2166136261u;
	sqlite3_stmt **free_slot = NULL;
	size_t i, k;

	for (k = 0; sql[k]; k++)
		h = (h ^ (uint8_t)sql[k]) * 16777619u;
	for (k = 0; k < STMT_PROBES; k++) {
		i = (h + k) % NMM_STMT_CACHE;
		if (!n->stmts[i]) {
			free_slot = free_slot ?: &n->stmts[i];
		} else if (!n->stmt_out[i] && !strcmp(sqlite3_sql(n->stmts[i]), sql)) {
			n->stmt_out[i] = true;
			return &n->stmts[i];
		}
	}
	return free_slot;
}

static sqlite3_stmt *prep_v(struct nmm *n, const char *sql, const char *types, va_list ap)
{
	sqlite3_stmt **s = stmt_slot(n, sql), *st = s ? *s : NULL;
	const char *tail = "";

	if (!st) {
		if (sqlite3_prepare_v3(n->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st,
				       &tail) != SQLITE_OK || !st || *tail) {
			nmm_log("store: %s: %s", sql, *tail ? "one statement only" :
				sqlite3_errmsg(n->db));
			sqlite3_finalize(st);
			return NULL;
		}
		if (s) {
			*s = st;
			n->stmt_out[s - n->stmts] = true;
		}
	}
	if (bind_args(n, st, types, ap) != SQLITE_OK) {
		db_done(n, st);
		return NULL;
	}
	return st;
}

void db_done(struct nmm *n, sqlite3_stmt *st)
{
	size_t i;

	for (i = 0; i < NMM_STMT_CACHE && n->stmts[i] != st; i++)
		;
	if (!st || i == NMM_STMT_CACHE) {
		sqlite3_finalize(st);
		return;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	n->stmt_out[i] = false;
}

sqlite3_stmt *db_prep(struct nmm *n, const char *sql, const char *types, ...)
{
	sqlite3_stmt *st;
	va_list ap;

	va_start(ap, types);
	st = prep_v(n, sql, types, ap);
	va_end(ap);
	return st;
}

int db_exec(struct nmm *n, const char *sql, const char *types, ...)
{
	sqlite3_stmt *st;
	va_list ap;
	int rc;

	va_start(ap, types);
	st = prep_v(n, sql, types, ap);
	va_end(ap);
	if (!st)
		return -EIO;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	db_done(n, st);
	if (rc != SQLITE_DONE) {
		nmm_log("store: %s: %s", sql, sqlite3_errmsg(n->db));
		return rc == SQLITE_CONSTRAINT ? -EEXIST : -EIO;
	}
	return sqlite3_changes(n->db);
}

int64_t db_int(struct nmm *n, int64_t dflt, const char *sql, const char *types, ...)
{
	sqlite3_stmt *st;
	int64_t v = dflt;
	va_list ap;

	va_start(ap, types);
	st = prep_v(n, sql, types, ap);
	va_end(ap);
	if (!st)
		return dflt;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(st, 0);
	db_done(n, st);
	return v;
}

static int exec_plain(struct nmm *n, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(n->db, sql, NULL, NULL, &err) != SQLITE_OK) {
		nmm_log("store: %s", err ? err : sqlite3_errmsg(n->db));
		sqlite3_free(err);
		return -EIO;
	}
	return 0;
}

int store_begin(struct nmm *n)
{
	return exec_plain(n, "BEGIN IMMEDIATE");
}

int store_commit(struct nmm *n)
{
	int err = exec_plain(n, "COMMIT");

	if (!err)
		nmm_events_release(n, true);
	return err;
}

void store_rollback(struct nmm *n)
{
	if (!sqlite3_get_autocommit(n->db))
		exec_plain(n, "ROLLBACK");
	nmm_events_release(n, false);
}

static int migrate(struct nmm *n)
{
	char sql[64];
	int v = db_int(n, -1, "PRAGMA user_version", "");

	if (v < 0)
		return -EIO;
	if (v > SCHEMA_VERSION) {
		nmm_log("store: schema version %d is newer than this akm-nmmd (%d)",
			v, SCHEMA_VERSION);
		return -EPROTONOSUPPORT;
	}
	for (; v < SCHEMA_VERSION; v++) {
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if (store_begin(n))
			return -EIO;
		if (exec_plain(n, migrations[v]) || exec_plain(n, sql) || store_commit(n)) {
			store_rollback(n);
			return -EIO;
		}
		nmm_log("store: schema migrated to version %d", v + 1);
	}
	return 0;
}

int store_open(struct nmm *n)
{
	char path[4096];
	int err;

	snprintf(path, sizeof(path), "%s/nmm.db", n->state_dir);
	if (sqlite3_open_v2(path, &n->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			    SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
		nmm_log("store: cannot open %s: %s", path,
			n->db ? sqlite3_errmsg(n->db) : "out of memory");
		return -EIO;
	}
	sqlite3_busy_timeout(n->db, 5000);
	if (exec_plain(n, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
		       "PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;"))
		return -EIO;
	err = migrate(n);
	if (err)
		return err;
	if (db_int(n, 0, "PRAGMA foreign_keys", "") != 1) {
		nmm_log("store: SQLite without foreign keys");
		return -EIO;
	}
	return 0;
}

void store_close(struct nmm *n)
{
	size_t i;

	for (i = 0; i < NMM_STMT_CACHE; i++) {
		sqlite3_finalize(n->stmts[i]);
		n->stmts[i] = NULL;
		n->stmt_out[i] = false;
	}
	if (n->db)
		sqlite3_close(n->db);
	n->db = NULL;
}

int store_meta_get(struct nmm *n, const char *k, int64_t *v)
{
	sqlite3_stmt *st = db_prep(n, "SELECT v FROM meta WHERE k = ?", "t", k);
	int rc;

	if (!st)
		return -EIO;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*v = sqlite3_column_int64(st, 0);
	db_done(n, st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : -EIO;
}

int store_meta_set(struct nmm *n, const char *k, int64_t v)
{
	int rc = db_exec(n, "INSERT INTO meta (k, v) VALUES (?, ?) "
			 "ON CONFLICT (k) DO UPDATE SET v = excluded.v", "ti", k, v);

	return rc < 0 ? rc : 0;
}
