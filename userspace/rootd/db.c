// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The root's database: PostgreSQL through libpq, one connection per
 * instance. Every change runs in a SERIALIZABLE transaction (admin.c retries
 * it after a serialization failure), so instances serving one database never
 * see each other's half-made changes; events are NOTIFY'd inside the
 * transaction and reach every instance's watchers once it commits, with a
 * MAC under a key from the master key (NOTIFY needs no privilege: another
 * role could send anything). The schema is migrated on connect, one version
 * at a time, under an advisory lock, so that instances starting together
 * migrate once; the deployment is checked on every connect (a failover to
 * the wrong server is refused). Statements, locks and connections have
 * timeouts, and every statement a deadline after which the connection is
 * given up (COMMIT waiting for a synchronous standby that is gone
 * included): a database that hangs holds the event loop for seconds.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "root.h"

#define SCHEMA_LOCK	0x414b4d52	/* "AKMR": pg_advisory_xact_lock() */

/* Each step takes the schema from its index to the next version. */
static const char *const migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE sites ("
	" id integer PRIMARY KEY CHECK (id >= 1),"
	" name text NOT NULL UNIQUE,"
	" endpoint text NOT NULL,"
	" cred bytea NOT NULL,"
	" state text NOT NULL DEFAULT 'provisioned' CHECK (state IN ('provisioned', 'active')),"
	" created timestamptz NOT NULL DEFAULT now(),"
	" last_contact timestamptz);"
	"CREATE TABLE nodes ("
	" id integer PRIMARY KEY CHECK (id >= 1),"
	" name text NOT NULL,"
	" site integer NOT NULL REFERENCES sites (id),"
	" cred bytea,"
	" state text NOT NULL DEFAULT 'provisioned'"
	"  CHECK (state IN ('provisioned', 'active', 'removed')),"
	" created timestamptz NOT NULL DEFAULT now(),"
	" CHECK ((cred IS NULL) = (state = 'removed')));"
	"CREATE UNIQUE INDEX nodes_name ON nodes (name) WHERE state != 'removed';"
	"CREATE INDEX nodes_site ON nodes (site);"
	"CREATE TABLE addrs ("
	" addr inet PRIMARY KEY,"
	" node integer NOT NULL REFERENCES nodes (id) ON DELETE CASCADE);"
	"CREATE INDEX addrs_node ON addrs (node);"
	"CREATE TABLE asrs ("
	" id integer PRIMARY KEY CHECK (id >= 1),"
	" name text NOT NULL DEFAULT '',"
	" alg smallint NOT NULL,"
	" policy smallint NOT NULL,"
	" grace integer NOT NULL,"
	" epoch bigint NOT NULL DEFAULT 0,"
	" deleted boolean NOT NULL DEFAULT false,"	/* kept: its epochs never restart */
	" created timestamptz NOT NULL DEFAULT now());"
	"CREATE TABLE members ("
	" asr integer NOT NULL REFERENCES asrs (id) ON DELETE CASCADE,"
	" node integer NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,"
	" state text NOT NULL CHECK (state IN ('live', 'revoked')),"
	" changed timestamptz NOT NULL DEFAULT now(),"
	" PRIMARY KEY (asr, node));"
	"CREATE INDEX members_node ON members (node);"
	"CREATE TABLE epochs ("
	" asr integer NOT NULL REFERENCES asrs (id) ON DELETE CASCADE,"
	" epoch bigint NOT NULL CHECK (epoch BETWEEN 1 AND 4294967295),"
	" key bytea NOT NULL,"
	" members integer[] NOT NULL,"
	" state text NOT NULL CHECK (state IN ('pending', 'active', 'superseded', 'retired')),"
	" made timestamptz NOT NULL DEFAULT now(),"
	" PRIMARY KEY (asr, epoch));"
	"CREATE SEQUENCE events;",		/* numbers the events (db_event()) */
	/* 1 -> 2: the sites' link: the last session epoch given, a session up */
	"ALTER TABLE sites ADD COLUMN session bigint NOT NULL DEFAULT 0"
	" CHECK (session BETWEEN 0 AND 4294967295);"
	"ALTER TABLE sites ADD COLUMN up boolean NOT NULL DEFAULT false;",
	/*
	 * 2 -> 3: site synchronisation: when a site last had an ASR's epochs
	 * jump (ESTALE), or re-keyed (its store ahead of the database's)
	 */
	"ALTER TABLE asrs ADD COLUMN jumped timestamptz;"
	"ALTER TABLE asrs ADD COLUMN rekeyed timestamptz;",
	/*
	 * 3 -> 4: several instances: the endpoints sites may connect to
	 * (instances.c); which instance's database connection has a site's
	 * session (its backend pid)
	 */
	"CREATE TABLE instances ("
	" addr inet NOT NULL,"
	" port integer NOT NULL CHECK (port BETWEEN 1 AND 65535),"
	" seen timestamptz NOT NULL DEFAULT now(),"
	" PRIMARY KEY (addr, port));"
	"ALTER TABLE sites ADD COLUMN owner integer;",
	/* 4 -> 5: what the sites report of their nodes (status.c) */
	"CREATE TABLE node_status ("
	" node integer PRIMARY KEY REFERENCES nodes (id) ON DELETE CASCADE,"
	" online boolean NOT NULL,"
	" last_contact timestamptz,"
	" left_out boolean NOT NULL DEFAULT false,"	/* its counters: too many to send */
	" reported timestamptz NOT NULL DEFAULT now());"
	"CREATE TABLE node_counters ("
	" node integer NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,"
	" asr bigint NOT NULL,"				/* 0: the node's own */
	" name text NOT NULL,"
	" value bigint NOT NULL,"
	" PRIMARY KEY (node, asr, name));",
	/*
	 * 5 -> 6: activation across sites (ask.c): the sites whose online
	 * members installed an ASR's current epoch; the site's session whose
	 * HELLO said it sends ACKs (0 none): another session, even one an
	 * older instance gave, is not waited for
	 */
	"CREATE TABLE acks ("
	" asr integer NOT NULL REFERENCES asrs (id) ON DELETE CASCADE,"
	" epoch bigint NOT NULL,"
	" site integer NOT NULL REFERENCES sites (id) ON DELETE CASCADE,"
	" PRIMARY KEY (asr, epoch, site));"
	"ALTER TABLE sites ADD COLUMN acks bigint NOT NULL DEFAULT 0;",
};

#define SCHEMA_VERSION ((int64_t)(sizeof(migrations) / sizeof(migrations[0])))

/* Text from the server or the network on one line, printable. */
static void one_line(char *s)
{
	size_t len = strlen(s);

	while (len && isspace((unsigned char)s[len - 1]))
		s[--len] = 0;
	for (; *s; s++)
		if (iscntrl((unsigned char)*s))
			*s = ' ';
}

static void set_error(struct root *r, const PGresult *res, const char *fallback)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	snprintf(r->sqlstate, sizeof(r->sqlstate), "%s", state ? state : "");
	snprintf(r->errmsg, sizeof(r->errmsg), "%s", msg ? msg : fallback);
	one_line(r->errmsg);
	if (res && !db_retry(r))
		root_log("database%s: %s%s%s", r->read_only ? " (reads)" : "", r->errmsg,
			 *r->sqlstate ? " SQLSTATE " : "", r->sqlstate);
}

bool db_retry(const struct root *r)
{
	/* serialization_failure, deadlock_detected */
	return !strcmp(r->sqlstate, "40001") || !strcmp(r->sqlstate, "40P01");
}

bool db_busy(const struct root *r)
{
	/* lock_not_available (lock_timeout), query_canceled (statement_timeout) */
	return !strcmp(r->sqlstate, "55P03") || !strcmp(r->sqlstate, "57014");
}

/* The connection is gone (the server restarted, the network failed), or given up. */
static void lost(struct root *r, bool given_up)
{
	if (!r->pg || (PQstatus(r->pg) == CONNECTION_OK && !given_up))
		return;
	root_log("database%s: connection %s: %s", r->read_only ? " (reads)" : "",
		 given_up ? "given up" : "lost", r->errmsg);
	admin_broadcast(r, "database-lost", "");
	db_disconnect(r);
	r->pg_delay = 1;
	r->pg_retry_at = root_now();
}

int db_reconnect(struct root *r)
{
	int err;

	if (r->pg)
		return 0;
	err = db_connect(r);
	if (!err) {
		root_log("database%s: connected again", r->read_only ? " (reads)" : "");
		admin_broadcast(r, "database-back", "");
		link_event(r, "database-back", "");
		r->pg_delay = 1;
	}
	return err;
}

/*
 * PQexecParams() with a deadline: ROOT_QUERY_SECS for the answer (on
 * SIGTERM, ROOT_STOP_SECS more at most), then the connection is given up
 * (r->pg_given_up): closed, as a lost one. No cancel request is sent: libpq
 * 15's PQcancel() blocks without a limit on a server that does not answer.
 * Lock and statement timeouts end the ordinary waits well before; what is
 * left is a dead server, or a COMMIT waiting for a synchronous standby that
 * is gone (committed on the primary: reported as unknown). The last
 * result, or NULL.
 */
static PGresult *exec_params(struct root *r, const char *sql, int n, const char *const *vals,
			     const int *lens, const int *fmts)
{
	int64_t deadline = root_now_ms() + ROOT_QUERY_SECS * 1000, stop;
	PGresult *res, *last = NULL;
	struct pollfd pfd;
	int64_t left;
	int more = 0;

	r->pg_given_up = false;
	if (!PQsendQueryParams(r->pg, sql, n, NULL, vals, lens, fmts, 0))
		return NULL;
	for (;;) {
		more = PQflush(r->pg);
		if (more < 0)
			break;
		if (!more && !PQisBusy(r->pg)) {
			res = PQgetResult(r->pg);
			if (!res)
				return last;
			PQclear(last);
			last = res;
			continue;
		}
		stop = root_stopping() ? root_stop_ms() + ROOT_STOP_SECS * 1000 : deadline;
		left = (stop < deadline ? stop : deadline) - root_now_ms();
		if (left <= 0) {
			snprintf(r->errmsg, sizeof(r->errmsg), "no answer within %d s",
				 (int)((root_now_ms() - deadline) / 1000 + ROOT_QUERY_SECS));
			r->pg_given_up = true;
			break;
		}
		/* the reader's thread sees no signal: it looks again every 100 ms */
		if (r->read_only && left > 100)
			left = 100;
		pfd = (struct pollfd){ .fd = PQsocket(r->pg), .events = POLLIN | (more ? POLLOUT : 0) };
		if ((poll(&pfd, 1, left) < 0 && errno != EINTR) || !PQconsumeInput(r->pg))
			break;
	}
	PQclear(last);
	if (!r->pg_given_up && PQstatus(r->pg) == CONNECTION_OK) {
		/* a statement still running on it: the connection is no use */
		snprintf(r->errmsg, sizeof(r->errmsg), "waiting for the answer failed");
		r->pg_given_up = true;
	}
	return NULL;
}

static PGresult *vq(struct root *r, const char *sql, const char *types, va_list ap)
{
	char *vals[16] = { NULL }, *bufs[16] = { NULL };
	int lens[16] = { 0 }, fmts[16] = { 0 }, n = 0, i;
	PGresult *res = NULL;

	r->sqlstate[0] = 0;
	if (!r->pg) {
		snprintf(r->errmsg, sizeof(r->errmsg), "the database is unreachable");
		return NULL;
	}
	for (; types[n]; n++) {
		if (n == 16)
			goto out;
		switch (types[n]) {
		case 'u':
			if (asprintf(&bufs[n], "%u", va_arg(ap, uint32_t)) < 0)
				goto out;
			vals[n] = bufs[n];
			break;
		case 'i':
			if (asprintf(&bufs[n], "%lld", (long long)va_arg(ap, int64_t)) < 0)
				goto out;
			vals[n] = bufs[n];
			break;
		case 't':
			vals[n] = va_arg(ap, char *);
			break;
		case 'b':
			vals[n] = va_arg(ap, char *);
			lens[n] = va_arg(ap, size_t);
			fmts[n] = 1;
			break;
		default:
			goto out;
		}
	}
	res = exec_params(r, sql, n, (const char *const *)vals, lens, fmts);
	if (!res && r->pg_given_up) {
		lost(r, true);
	} else if (PQresultStatus(res) != PGRES_COMMAND_OK &&
		   PQresultStatus(res) != PGRES_TUPLES_OK) {
		set_error(r, res, PQerrorMessage(r->pg));
		PQclear(res);
		res = NULL;
		lost(r, false);
	}
out:
	for (i = 0; i < 16; i++)
		free(bufs[i]);
	if (!res && !r->errmsg[0])
		snprintf(r->errmsg, sizeof(r->errmsg), "out of memory");
	return res;
}

PGresult *db_q(struct root *r, const char *sql, const char *types, ...)
{
	PGresult *res;
	va_list ap;

	r->errmsg[0] = 0;
	va_start(ap, types);
	res = vq(r, sql, types, ap);
	va_end(ap);
	return res;
}

int db_exec(struct root *r, const char *sql, const char *types, ...)
{
	PGresult *res;
	va_list ap;
	int rows;

	r->errmsg[0] = 0;
	va_start(ap, types);
	res = vq(r, sql, types, ap);
	va_end(ap);
	if (!res)
		return -EIO;
	rows = atoi(PQcmdTuples(res));
	PQclear(res);
	return rows;
}

int64_t db_int(struct root *r, int64_t dflt, const char *sql, const char *types, ...)
{
	PGresult *res;
	int64_t v = dflt;
	va_list ap;

	r->errmsg[0] = 0;
	va_start(ap, types);
	res = vq(r, sql, types, ap);
	va_end(ap);
	if (res && PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
		v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return v;
}

int db_bytes(const PGresult *res, int row, int col, uint8_t *out, size_t len)
{
	unsigned char *b;
	size_t got;
	int err = 0;

	if (PQgetisnull(res, row, col))
		return -ENOENT;
	b = PQunescapeBytea((const unsigned char *)PQgetvalue(res, row, col), &got);
	if (!b)
		return -ENOMEM;
	if (got == len)
		memcpy(out, b, len);
	else
		err = -EBADMSG;
	PQfreemem(b);
	return err;
}

int db_begin(struct root *r)
{
	/* a snapshot for a read: it never conflicts */
	return db_exec(r, r->read_only ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" :
		       "BEGIN ISOLATION LEVEL SERIALIZABLE", "") < 0 ? -EIO : 0;
}

static int events_send(struct root *r);
static void events_drop(struct root *r);

/*
 * r->committing stays set after a failure: a connection lost now leaves the
 * outcome unknown (req_db() says so; admin.c clears it for the next try).
 */
int db_commit(struct root *r)
{
	PGresult *res;
	int err = 0;

	err = events_send(r);
	events_drop(r);
	if (err)
		return err;
	r->committing = !r->read_only;	/* a read lost there is run again */
	res = db_q(r, "COMMIT", "");
	if (!res)
		return -EIO;
	if (strcmp(PQcmdStatus(res), "COMMIT")) {	/* "ROLLBACK": it had failed */
		snprintf(r->errmsg, sizeof(r->errmsg), "the transaction was rolled back");
		err = -EIO;
	} else {
		r->committing = false;
	}
	PQclear(res);
	return err;
}

void db_rollback(struct root *r)
{
	char state[6], msg[sizeof(r->errmsg)];

	/* keep what failed, not the rollback's own outcome */
	memcpy(state, r->sqlstate, sizeof(state));
	memcpy(msg, r->errmsg, sizeof(msg));
	events_drop(r);
	if (r->pg && PQtransactionStatus(r->pg) != PQTRANS_IDLE)
		db_exec(r, "ROLLBACK", "");
	memcpy(r->sqlstate, state, sizeof(state));
	memcpy(r->errmsg, msg, sizeof(msg));
}

/*
 * The MAC of an event: hex of HMAC-SHA256(K_events, be32 root id || body),
 * 128 bits, where body is "SEQ kind text" and SEQ a number from the
 * database's sequence "events", new for every event: a captured
 * notification sent again is a number already seen (db_notifies()).
 */
static void event_mac(const struct root *r, const char *body, char hex[33])
{
	crypto_auth_hmacsha256_state st;
	uint8_t key[32], mac[32], id[4] = { r->id >> 24, r->id >> 16, r->id >> 8, r->id };

	akm_kdf(r->master.key, "AKM v1 root events", key);
	crypto_auth_hmacsha256_init(&st, key, sizeof(key));
	crypto_auth_hmacsha256_update(&st, id, sizeof(id));
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)body, strlen(body));
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_bin2hex(hex, 33, mac, 16);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(&st, sizeof(st));
}

int db_event(struct root *r, const char *kind, const char *fmt, ...)
{
	char *text = NULL, *event = NULL, **q;
	va_list ap;
	int err;

	va_start(ap, fmt);
	err = vasprintf(&text, fmt, ap) < 0 ? -ENOMEM : 0;
	va_end(ap);
	if (!err && asprintf(&event, "%s %s", kind, text) < 0)
		err = -ENOMEM;
	q = err ? NULL : realloc(r->evq, (r->nevq + 1) * sizeof(*q));
	if (q) {
		r->evq = q;
		r->evq[r->nevq++] = event;
		event = NULL;
	} else if (!err) {
		err = -ENOMEM;
	}
	free(text);
	free(event);
	if (err)
		snprintf(r->errmsg, sizeof(r->errmsg), "out of memory");
	return err;
}

static void events_drop(struct root *r)
{
	while (r->nevq)
		free(r->evq[--r->nevq]);
	free(r->evq);
	r->evq = NULL;
}

/* "mac s" as an element of a PostgreSQL array literal. */
static void array_elem(FILE *f, const char *mac, const char *s)
{
	fprintf(f, "\"%s ", mac);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

/*
 * Send the transaction's events, numbered now, at its end, in one
 * statement: a transaction run again takes no numbers meanwhile, and
 * numbers are taken close to the commits that deliver them, in nearly
 * their order.
 */
static int events_send(struct root *r)
{
	char *body = NULL, *arr = NULL, mac[33];
	PGresult *res;
	size_t i, len;
	FILE *f = NULL;
	int err = 0;

	if (!r->nevq)
		return 0;
	res = db_q(r, "SELECT nextval('events') FROM generate_series(1, $1)", "i",
		   (int64_t)r->nevq);
	if (!res || (size_t)PQntuples(res) != r->nevq)
		err = -EIO;
	if (!err && !(f = open_memstream(&arr, &len)))
		err = -ENOMEM;
	for (i = 0; !err && i < r->nevq; i++) {
		if (asprintf(&body, "%s %s", PQgetvalue(res, i, 0), r->evq[i]) < 0) {
			body = NULL;
			err = -ENOMEM;
			break;
		}
		event_mac(r, body, mac);
		fputs(i ? "," : "{", f);
		array_elem(f, mac, body);
		free(body);
		body = NULL;
	}
	PQclear(res);
	if (f) {
		fputc('}', f);
		if (fclose(f) && !err)
			err = -ENOMEM;
	}
	if (!err && db_exec(r, "SELECT count(pg_notify('" ROOT_CHANNEL "', p)) FROM (SELECT p "
			    "FROM unnest($1::text[]) WITH ORDINALITY AS e (p, o) ORDER BY o) s",
			    "t", arr) < 0)
		err = -EIO;
	free(arr);
	if (err == -ENOMEM)
		snprintf(r->errmsg, sizeof(r->errmsg), "out of memory");
	return err;
}

void db_input(struct root *r)
{
	if (!r->pg)
		return;
	if (!PQconsumeInput(r->pg)) {
		set_error(r, NULL, PQerrorMessage(r->pg));
		lost(r, false);
		return;
	}
	db_notifies(r);
}

/* "MAC kind text" from an instance of this deployment: kind and text, else NULL. */
/*
 * Was seq seen (or is it older than the window)? Marks it seen. Sequence
 * numbers are taken in one order and committed in another: a window of
 * ROOT_EVENT_WINDOW numbers below the highest seen is still accepted once.
 */
static bool event_seen(struct root *r, uint64_t seq)
{
	uint64_t *w = r->ev_window, d;

	if (seq > r->ev_max) {
		for (d = r->ev_max + 1; d <= seq && d <= r->ev_max + ROOT_EVENT_WINDOW; d++)
			w[d / 64 % (ROOT_EVENT_WINDOW / 64)] &= ~(1ULL << (d % 64));
		r->ev_max = seq;
	} else if (r->ev_max - seq >= ROOT_EVENT_WINDOW) {
		return true;
	}
	if (w[seq / 64 % (ROOT_EVENT_WINDOW / 64)] & (1ULL << (seq % 64)))
		return true;
	w[seq / 64 % (ROOT_EVENT_WINDOW / 64)] |= 1ULL << (seq % 64);
	return false;
}

/* "MAC SEQ kind text" of this deployment, not seen before: kind and text, else NULL. */
static char *event_open(struct root *r, char *payload, char **text)
{
	char mac[33], *body, *kind, *sp, *end;
	unsigned long long seq;

	if (strlen(payload) < 34 || payload[32] != ' ' || !r->master.key)
		return NULL;
	body = payload + 33;
	event_mac(r, body, mac);
	if (sodium_memcmp(mac, payload, 32))
		return NULL;
	seq = strtoull(body, &end, 10);
	if (end == body || *end != ' ' || event_seen(r, seq))
		return NULL;
	kind = end + 1;
	sp = strchr(kind, ' ');
	if (!sp)
		return NULL;
	*sp = 0;
	*text = sp + 1;
	return kind;
}

/*
 * Events numbered up to now were sent before this connection: seen. A
 * sequence behind what was seen (a restored database) starts the count
 * again, or no event would be shown until it caught up.
 */
static int events_start(struct root *r, int64_t last)
{
	if ((uint64_t)last < r->ev_max)
		root_log("database: its events are numbered from %lld, below the %llu seen: "
			 "a restored or older copy?", (long long)last,
			 (unsigned long long)r->ev_max);
	if ((uint64_t)last != r->ev_max) {
		r->ev_max = last;
		memset(r->ev_window, 0xff, sizeof(r->ev_window));
	}
	return 0;
}

void db_notifies(struct root *r)
{
	char *kind, *text;
	PGnotify *nt;

	while (r->pg && (nt = PQnotifies(r->pg))) {
		kind = event_open(r, nt->extra, &text);
		if (kind) {
			root_log("event %s %s", kind, text);
			admin_broadcast(r, kind, text);
			link_event(r, kind, text);
		} else if (!r->forged++) {	/* once: whoever sends them can send many */
			root_log("database: ignored a notification on %s without this "
				 "deployment's MAC, or one seen before (another role of the "
				 "server sent it)", ROOT_CHANNEL);
		}
		PQfreemem(nt);
	}
}

/* Several statements without parameters (a migration step): 0 or -EIO. */
static int script(struct root *r, const char *sql)
{
	PGresult *res = PQexec(r->pg, sql);
	int err = 0;

	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		set_error(r, res, PQerrorMessage(r->pg));
		err = -EIO;
	}
	PQclear(res);
	return err;
}

static int migrate(struct root *r)
{
	int64_t version;
	int err = db_exec(r, "BEGIN", "") < 0 ? -EIO : 0;

	if (!err && db_exec(r, "SELECT pg_advisory_xact_lock($1)", "i",
			    (int64_t)SCHEMA_LOCK) < 0)
		err = -EIO;
	if (!err && db_exec(r, "CREATE TABLE IF NOT EXISTS meta (k text PRIMARY KEY, "
			    "v bigint, b bytea)", "") < 0)
		err = -EIO;
	version = err ? -1 : db_int(r, -1, "SELECT coalesce((SELECT v FROM meta WHERE "
				     "k = 'schema'), 0)", "");
	if (version < 0)
		err = -EIO;
	if (!err && version > SCHEMA_VERSION) {
		root_log("database: schema version %lld is newer than this akm-rootd knows "
			 "(%lld): run the newer akm-rootd", (long long)version,
			 (long long)SCHEMA_VERSION);
		err = -EPROTO;
	}
	for (; !err && version < SCHEMA_VERSION; version++) {
		if (script(r, migrations[version]) ||
		    db_exec(r, "INSERT INTO meta (k, v) VALUES ('schema', $1) ON CONFLICT (k) "
			    "DO UPDATE SET v = excluded.v", "i", version + 1) < 0)
			err = -EIO;
		else
			root_log("database: schema migrated to version %lld",
				 (long long)version + 1);
	}
	if (!err)
		err = db_commit(r);
	if (err) {
		if (err == -EIO)
			root_log("database: cannot migrate the schema: %s", r->errmsg);
		db_rollback(r);
	}
	return err;
}

/*
 * The reads' server is the one the changes go to (a hot standby's answers
 * may be behind), of the schema the loop's connection migrated to.
 */
static int read_server(struct root *r)
{
	int64_t v = db_int(r, -1, "SELECT CASE WHEN pg_is_in_recovery() THEN -2 ELSE "
			   "coalesce((SELECT v FROM meta WHERE k = 'schema'), 0) END", "");

	if (v == SCHEMA_VERSION)
		return 0;
	if (v != -1)
		snprintf(r->errmsg, sizeof(r->errmsg), v == -2 ? "the server is a standby" :
			 "schema version %lld, not %lld", (long long)v,
			 (long long)SCHEMA_VERSION);
	return -EIO;
}

/* The server's warnings, in our log on one line (libpq prints them raw). */
static void notice(void *arg, const char *msg)
{
	char buf[512];

	(void)arg;
	snprintf(buf, sizeof(buf), "%s", msg);
	one_line(buf);
	root_log("database: %s", buf);
}

int db_connect(struct root *r)
{
	/* defaults first: what the connection string says overrides them */
	static const char *const keys[] = {
		"connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval",
		"keepalives_count", "tcp_user_timeout", "application_name", "dbname", NULL,
	};
	const char *vals[] = {
		"10", "1", "30", "10", "3", "20000", r->read_only ? "akm-rootd reads" : "akm-rootd",
		r->conninfo, NULL,
	};
	int err = 0;

	r->pg = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(r->pg) != CONNECTION_OK) {
		snprintf(r->errmsg, sizeof(r->errmsg), "%s", PQerrorMessage(r->pg));
		one_line(r->errmsg);
		db_disconnect(r);
		return -ECONNREFUSED;
	}
	PQsetNoticeProcessor(r->pg, notice, NULL);
	/*
	 * The notices of CREATE ... IF NOT EXISTS are not worth a log line; a
	 * lock held elsewhere (another instance cut off mid-change) or a slow
	 * server fails a command in seconds instead of stalling every client.
	 * Texts in UTF-8 whatever the environment says: events_send() escapes
	 * bytes.
	 */
	if (db_exec(r, "SET client_min_messages = warning", "") < 0 ||
	    db_exec(r, "SET client_encoding = 'UTF8'", "") < 0 ||
	    db_exec(r, "SET lock_timeout = '5s'", "") < 0 ||
	    db_exec(r, "SET statement_timeout = '15s'", "") < 0 ||
	    db_exec(r, "SET idle_in_transaction_session_timeout = '60s'", "") < 0)
		err = -EIO;
	/* again (a failover): this deployment's database, before anything is written */
	if (!err && r->checked)
		err = root_check(r);
	if (!err && r->read_only)
		err = read_server(r);
	else if (!err)
		err = migrate(r);
	if (!err && r->checked && !r->read_only)	/* the first start listens once it checked */
		err = db_listen(r);
	if (err)
		db_disconnect(r);
	return err;
}

int db_listen(struct root *r)
{
	/* numbered before LISTEN: an event committed in between is not lost */
	int64_t last = db_int(r, -1, "SELECT CASE WHEN is_called THEN last_value ELSE 0 END "
			      "FROM events", "");

	if (last < 0 || db_exec(r, "LISTEN " ROOT_CHANNEL, "") < 0)
		return -EIO;
	return events_start(r, last);
}

void db_disconnect(struct root *r)
{
	PQfinish(r->pg);
	r->pg = NULL;
}

void db_tick(struct root *r)
{
	int64_t now = root_now();

	if (r->pg || now < r->pg_retry_at)
		return;
	if (!db_reconnect(r))
		return;
	root_log("database: unreachable, trying again in %llds: %s",
		 (long long)r->pg_delay, r->errmsg);
	r->pg_retry_at = now + r->pg_delay;
	if (r->pg_delay < ROOT_RECONNECT_MAX)
		r->pg_delay *= 2;
}
