// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The sites' link (root.md, "The sites' link"): a site's NMM connects to a
 * root instance as a node connects to its NMM (protocol.md), the site in
 * the node's role and the root in the NMM's: the same handshake, a
 * bootstrap connection that gives a session epoch, then a session
 * connection authenticated by both kernels under the provisioning ASR
 * 0x80000000 | site id. Session epochs come from the database, so a site
 * may reach any instance. Every malformed or unexpected message closes
 * that connection only.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sodium.h>

#include "link.h"

static void site_gone(struct root *r, uint32_t id);
static void sites_refresh(struct root *r);

/*
 * SQL: another instance has the site's session: it heard from it in the
 * last secs (a parameter), and its database connection is still there.
 */
#define SESSION_ELSEWHERE(secs) "(up AND last_contact > now() - make_interval(secs => " secs \
	") AND (owner IS NULL OR EXISTS (SELECT 1 FROM pg_stat_activity a WHERE " \
	"a.pid = sites.owner AND a.datname = current_database())))"
static bool site_endpoint(struct root *r, const struct akm_addr *a);

static const char *addr_str(const struct akm_addr *a, char *buf, size_t len)
{
	return a->family ? akm_addr_str(a, buf, len) : "?";
}

struct sitest *link_sitest(struct root *r, uint32_t id)
{
	struct sitest *s;

	for (s = r->sitests; s && s->id != id; s = s->next)
		;
	return s;
}

static struct sitest *sitest(struct root *r, uint32_t id, bool make)
{
	struct sitest *s;

	for (s = r->sitests; s; s = s->next)
		if (s->id == id)
			return s;
	if (!make)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->id = id;
	s->next = r->sitests;
	r->sitests = s;
	return s;
}

/* "ADDR:PORT" to the address, IPv4 in one spelling. */
static int endpoint_addr(const char *ep, struct akm_addr *a)
{
	uint16_t port;
	int err = akm_endpoint_parse(ep, a, &port);

	if (!err)
		akm_addr_unmap(a);
	return err;
}

/*
 * The site's endpoint address (where its NMM connects from) and its sealed
 * credential, in one query whether the site exists or not. 0, -ENOENT, -EIO.
 */
static int site_row(struct root *r, uint32_t site, struct akm_addr *a,
		    uint8_t sealed[AKM_SEALED_LEN(32)])
{
	PGresult *res = db_q(r, "SELECT endpoint, cred FROM sites WHERE id = $1", "u", site);
	int err;

	if (!res)
		return -EIO;
	err = PQntuples(res) == 1 ? endpoint_addr(PQgetvalue(res, 0, 0), a) : -ENOENT;
	if (!err)
		err = db_bytes(res, 0, 1, sealed, AKM_SEALED_LEN(32));
	PQclear(res);
	return err == -EBADMSG ? -EIO : err;
}

/*
 * An event of the site's link, after sql (a statement with the site's id
 * as $1 and arg as $2, or NULL; with changed, the event only if it changed
 * a row), in a transaction of its own, run again after a conflict with
 * another instance's: every instance sees it.
 */
static void site_event(struct root *r, const char *sql, uint32_t site, uint32_t arg,
		       bool changed, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));
static void site_event(struct root *r, const char *sql, uint32_t site, uint32_t arg,
		       bool changed, const char *kind, const char *fmt, ...)
{
	unsigned int try;
	char text[128];
	va_list ap;
	int rows;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	for (try = 0; try < 3; try++) {
		if (try)
			usleep(1000 << try);
		/* not worth waiting for a synchronous standby: the link's state is advisory */
		if (db_begin(r))
			return;
		if (db_exec(r, "SET LOCAL synchronous_commit = local", "") < 0) {
			db_rollback(r);
			return;
		}
		rows = !sql ? 1 : strstr(sql, "$2") ? db_exec(r, sql, "uu", site, arg) :
		       db_exec(r, sql, "u", site);
		if (rows >= 0 && (!rows && changed)) {
			db_rollback(r);
			return;
		}
		if (rows >= 0 && !db_event(r, kind, "%s", text) && !db_commit(r))
			return;
		db_rollback(r);
		if (!db_retry(r))
			return;
	}
}

/*
 * A connection that ends before the site's kernel state changes (its mode,
 * the site deleted): closed at once with a reset, sent under the state it
 * ran in. A FIN, or data retransmitted, after the change would be dropped
 * by the site, and its socket left to linger.
 */
static void link_reset(struct link *l)
{
	if (l->fd >= 0)
		akmp_close_reset(l->fd);
	l->fd = -1;
	l->state = LS_CLOSING;
	l->dead = true;
}

/* Back to bootstrap mode (its session, if any, ended). */
static void site_bootstrap(struct root *r, struct sitest *s, const char *why)
{
	bool was_up = s->mode == SITE_SESSION;
	uint32_t epoch = s->epoch;

	if (s->mode == SITE_BOOTSTRAP)
		return;
	if (s->session)
		link_reset(s->session);
	s->mode = SITE_BOOTSTRAP;
	s->session = NULL;
	s->epoch = 0;
	s->since = root_now();
	kern_site_bootstrap(r, s->id, &s->addr);
	/* not if another instance gave it a newer session meanwhile */
	if (was_up)
		site_event(r, "UPDATE sites SET up = false WHERE id = $1 AND session = $2",
			   s->id, epoch, true, "site-offline", "site %u reason %s", s->id, why);
}

static void link_free(struct root *r, struct link *l)
{
	struct link **pp;

	for (pp = &r->links; *pp; pp = &(*pp)->next)
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	if (l->fd >= 0)
		close(l->fd);
	akmp_reader_free(&l->rd);
	akmp_outq_free(&l->out);
	sync_link_free(l);
	sodium_memzero(&l->hs, sizeof(l->hs));
	free(l);
}

static void fail_record(struct root *r, const struct akm_addr *a)
{
	akm_fails_record(&r->fails, a, root_now(), site_endpoint(r, a));
}

int link_send(struct link *l, struct akmp_buf *b)
{
	int err = akmp_end(b);

	if (!err)
		err = akmp_queue(&l->out, b);
	if (!err && (l->fd < 0 || akmp_flush(l->fd, &l->out) < 0))
		err = -EPIPE;
	if (err) {
		l->state = LS_CLOSING;
		l->dead = true;
	}
	return err;
}

static void welcome(struct link *l, uint32_t status, const char *msg, uint32_t epoch,
		    const uint8_t *proof)
{
	struct akmp_buf b = { 0 };

	akmp_welcome(&b, status, msg, epoch, proof);
	link_send(l, &b);
	akmp_buf_free(&b);
}

static void auth_failure(struct root *r, struct link *l, const char *why)
{
	char buf[AKM_ADDRSTRLEN];

	fail_record(r, &l->peer);
	root_log("site %u from %s: handshake failed: %s", l->hs.node,
		 addr_str(&l->peer, buf, sizeof(buf)), why);
}

static int turn_away(struct link *l, uint32_t status, const char *msg)
{
	welcome(l, status, msg, 0, NULL);
	l->state = LS_CLOSING;
	return 0;
}

static int refuse(struct root *r, struct link *l, const char *why)
{
	auth_failure(r, l, why);
	return turn_away(l, EACCES, "access denied");
}

/* A site that came from another address than its endpoint's, or a second time. */
static int conflict(struct root *r, struct link *l, uint32_t status, const char *why)
{
	char buf[AKM_ADDRSTRLEN];

	fail_record(r, &l->peer);
	root_log("site %u from %s: refused: %s", l->hs.node,
		 addr_str(&l->peer, buf, sizeof(buf)), why);
	return turn_away(l, status, status == EBUSY ? "this site has a session from another place" :
			 "access denied");
}

/* proof = CRED_PROVE(site, label || T [|| be32 epoch]) */
static int prove(struct root *r, struct link *l, const char *label, uint32_t epoch,
		 uint8_t proof[AKMP_PROOF_LEN])
{
	uint8_t data[AKMP_PROOF_INPUT_MAX];
	size_t len = akmp_proof_input(data, label, &l->hs, epoch);

	return akm_cred_prove(r->nl, l->hs.node, data, len, proof);
}

static int on_hello(struct root *r, struct link *l, const struct akmp_msg *m)
{
	uint8_t pm[AKMP_PROOF_LEN];
	uint8_t sealed[AKM_SEALED_LEN(32)];
	struct akmp_buf b = { 0 };
	struct akm_cred cred;
	struct sitest *s;
	struct akm_addr a;
	int err;

	akmp_hello_hs(m, r->id, &l->hs);
	randombytes_buf(l->hs.nm, sizeof(l->hs.nm));
	if (akmp_u32(&m->tb[AKMP_T_NMM_ID]) != r->id)
		return refuse(r, l, "wrong-root-id");
	/*
	 * An unknown site gets a CHALLENGE like any other and is refused
	 * after AUTH; both cost one query: the answers do not tell which ids
	 * are sites. A session connection for the session this instance gave
	 * needs no database (its credential is in the kernel). A bootstrap
	 * connection installs the credential from the database when it is not
	 * the one in the kernel (a site deleted and made again with its id
	 * has a new one).
	 */
	s = sitest(r, l->hs.node, false);
	if (l->hs.node >= AKMP_PROV_ASR(0)) {
		l->decoy = "unknown-site";
	} else if (s && s->mode != SITE_BOOTSTRAP && l->hs.session == s->epoch &&
		   !akm_cred_get(r->nl, s->id, &cred)) {
		l->ep = s->addr;
	} else {
		err = site_row(r, l->hs.node, &a, sealed);
		if (err && err != -ENOENT)	/* the database's trouble, not the site's */
			return turn_away(l, EAGAIN, "the root cannot read its database: try again");
		if (err) {
			l->decoy = "unknown-site";
		} else {
			l->ep = a;
			s = sitest(r, l->hs.node, true);
			if (!s)
				return -ENOMEM;
			if ((memcmp(s->cred_tag, sealed, sizeof(s->cred_tag)) ||
			     akm_cred_get(r->nl, s->id, &cred) == -ENOENT) &&
			    kern_site_cred(r, s->id, sealed, sizeof(sealed)))
				l->decoy = "no-credential";
			else
				memcpy(s->cred_tag, sealed, sizeof(s->cred_tag));
		}
		sodium_memzero(sealed, sizeof(sealed));
	}
	if (!l->decoy && prove(r, l, "nmm", 0, pm))
		l->decoy = "no-credential";
	if (l->decoy)
		randombytes_buf(pm, sizeof(pm));
	akmp_challenge(&b, &l->hs, pm);
	link_send(l, &b);
	akmp_buf_free(&b);
	l->state = LS_AUTH;
	return 0;
}

/*
 * A bootstrap connection: a fresh session epoch from the database, above
 * every one given by any instance, the last one this kernel had and the
 * site's; stored before WELCOME, proven with T. The switch to the session
 * follows when the site has closed the connection (link_close()).
 */
static int bootstrap_welcome(struct root *r, struct link *l, struct sitest *s)
{
	uint8_t pw[AKMP_PROOF_LEN];
	int64_t last, session;
	struct link *o;

	if (s->mode == SITE_SESSION && s->session && s->session->state == LS_UP)
		return conflict(r, l, EBUSY, "bootstrap-during-session");
	/* its session would have to come from there: a copy elsewhere gets nothing */
	if (!akm_addr_eq(&l->peer, &l->ep))
		return conflict(r, l, EACCES, "bootstrap-from-foreign-address");
	/* a site (or a copy of its credential) starting over and over costs once a second */
	if (root_now_ms() - s->boot_ms < ROOT_BOOTSTRAP_MS)
		return turn_away(l, EAGAIN, "too many bootstrap connections: try again");
	site_bootstrap(r, s, "bootstrap-connection");
	s->addr = l->ep;
	last = kern_site_last(r, s->id, &s->addr);
	if (last < 0)
		return -EIO;
	if ((int64_t)l->hs.last > last)
		last = l->hs.last;
	/*
	 * Not while another instance has the site's session (it heard from it
	 * in the last 30 s, and its database connection is there), and not
	 * more than 2^16 above the database's last epoch for the site's word
	 * alone: its kernel's last one is proven, but so is a copy's.
	 */
	session = db_int(r, -1, "UPDATE sites SET session = greatest(session, $2) + 1 "
			 "WHERE id = $1 AND greatest(session, $2) < 4294967295 AND "
			 "$2 <= session + 65536 AND NOT " SESSION_ELSEWHERE("$3")
			 " RETURNING session", "uii", s->id, last, (int64_t)ROOT_OFFLINE_AFTER);
	if (session == -1 && !r->errmsg[0]) {	/* no row: why */
		int64_t busy = db_int(r, -1, "SELECT " SESSION_ELSEWHERE("$2") "::int FROM "
				      "sites WHERE id = $1", "ui", s->id,
				      (int64_t)ROOT_OFFLINE_AFTER);

		if (busy == 1)
			return conflict(r, l, EBUSY, "bootstrap-during-session-elsewhere");
		root_log("site %u: no session epoch above %lld can be given (the last is near "
			 "2^32, or far below the site's): delete the site and add it with "
			 "another id", s->id, (long long)last);
		return turn_away(l, ERANGE, "no session epoch can be given");
	}
	if (session <= 0 || prove(r, l, "welcome", session, pw))
		return -EIO;
	/* an earlier bootstrap connection of the site that was not closed is over */
	for (o = r->links; o; o = o->next)
		if (o != l && o->state == LS_WELCOMED && o->hs.node == s->id) {
			o->state = LS_CLOSING;
			o->session_epoch = 0;
		}
	s->boot_ms = root_now_ms();
	l->session_epoch = session;
	welcome(l, 0, "welcome", session, pw);
	l->state = LS_WELCOMED;
	return 0;
}

/* A session connection: from the site's endpoint address, for its session epoch. */
static int session_welcome(struct root *r, struct link *l, struct sitest *s)
{
	struct akmp_buf b = { 0 };

	if ((s->mode != SITE_SESSION_WAIT && s->mode != SITE_SESSION) ||
	    s->epoch != l->hs.session)
		return turn_away(l, ESTALE, "no such session: start with a bootstrap connection");
	if (!akm_addr_eq(&l->peer, &s->addr))	/* not one this kernel authenticates */
		return conflict(r, l, EACCES, "session-from-foreign-address");
	if (s->session && s->session != l)
		s->session->state = LS_CLOSING;
	s->mode = SITE_SESSION;
	s->session = l;
	l->state = LS_UP;
	akmp_welcome(&b, 0, "welcome", 0, NULL);
	/* it takes NODE_STATUS, and activates epochs across its sites */
	akmp_put_u32(&b, AKMP_T_FLAGS, AKMP_WELCOME_STATUS | AKMP_WELCOME_ACTIVATE);
	link_send(l, &b);
	akmp_buf_free(&b);
	s->written = root_now();
	site_event(r, "UPDATE sites SET up = true, last_contact = now(), owner = "
		   "pg_backend_pid(), acks = $2 WHERE id = $1",
		   s->id, l->hs.flags & AKMP_FLAG_ACK ? s->epoch : 0, false, "site-online",
		   "site %u session %u", s->id, s->epoch);
	instances_send(r, l);
	sync_start(l);		/* its round starts at the end of this pass */
	return 0;
}

static int on_auth(struct root *r, struct link *l, const struct akmp_msg *m)
{
	uint8_t pn[AKMP_PROOF_LEN];
	struct sitest *s;

	if (l->decoy)
		return refuse(r, l, l->decoy);
	if (prove(r, l, "node", 0, pn) ||
	    sodium_memcmp(pn, m->tb[AKMP_T_PROOF].v, AKMP_PROOF_LEN))
		return refuse(r, l, "bad-proof");
	if (!l->hs.instance)	/* a client never sends 0 */
		return refuse(r, l, "no-instance");
	s = sitest(r, l->hs.node, true);
	if (!s)
		return -ENOMEM;
	if (l->hs.session)
		return session_welcome(r, l, s);
	site_event(r, "UPDATE sites SET state = 'active' WHERE id = $1 AND "
		   "state = 'provisioned'", s->id, 0, true, "site-activated",
		   "site %u", s->id);
	if (bootstrap_welcome(r, l, s))	/* the database's or the kernel's trouble */
		return turn_away(l, EAGAIN, "the root cannot give a session now: try again");
	return 0;
}

/*
 * HEARTBEAT: answered first; its contact written at most once per
 * heartbeat interval (the counters are the site kernel's own). A session
 * the database no longer has (the site deleted, or given a newer session
 * elsewhere while this instance missed it) ends; a database out of reach
 * ends none.
 */
static int on_heartbeat(struct root *r, struct link *l)
{
	struct sitest *s = sitest(r, l->hs.node, false);
	struct akmp_buf b = { 0 };
	int rows;

	akmp_begin(&b, AKMP_HEARTBEAT);
	link_send(l, &b);
	akmp_buf_free(&b);
	if (!s || root_now() - s->written < AKMP_HEARTBEAT_SECS)
		return 0;
	s->written = root_now();
	if (db_begin(r))
		return 0;
	if (db_exec(r, "SET LOCAL synchronous_commit = local", "") < 0) {
		db_rollback(r);
		return 0;
	}
	rows = db_exec(r, "UPDATE sites SET up = true, last_contact = now(), owner = "
		       "pg_backend_pid() WHERE id = $1 AND session = $2", "uu", s->id, s->epoch);
	if (rows < 0 || db_commit(r)) {
		db_rollback(r);
		return 0;
	}
	if (rows)
		return 0;
	if (!db_int(r, 1, "SELECT count(*) FROM sites WHERE id = $1", "u", s->id))
		site_gone(r, s->id);
	else
		site_bootstrap(r, s, "session-superseded");
	return 0;
}

static int on_session_msg(struct root *r, struct link *l, const struct akmp_msg *m)
{
	switch (m->type) {
	case AKMP_HEARTBEAT:
		return on_heartbeat(r, l);
	case AKMP_EVENT:
		return 0;	/* its kernel's authentication failures: not ours to keep */
	case AKMP_REMOVE:
		status_flush(r);	/* the reports that came before it, written before it */
		return sync_rekey(r, l, m);
	case AKMP_REKEY:
		return sync_rekey(r, l, m);
	case AKMP_NODE_STATUS:
		return status_take(r, l, m);
	case AKMP_ACK:
		return sync_ack(r, l, m);
	}
	return -EBADMSG;
}

static int on_msg(struct root *r, struct link *l, const struct akmp_msg *m)
{
	switch (l->state) {
	case LS_HELLO:
		return m->type == AKMP_HELLO ? on_hello(r, l, m) : -EBADMSG;
	case LS_AUTH:
		return m->type == AKMP_AUTH ? on_auth(r, l, m) : -EBADMSG;
	case LS_UP:
		return on_session_msg(r, l, m);
	case LS_WELCOMED:
		return -EBADMSG;	/* the site has nothing to say after AUTH */
	case LS_CLOSING:
		return 0;
	}
	return -EBADMSG;
}

/* <0: close the connection. */
static int link_input(struct root *r, struct link *l)
{
	char buf[AKM_ADDRSTRLEN];
	unsigned int frames;
	struct akmp_msg m;
	int ret = 0;

	for (frames = 0; frames < ROOT_FRAMES_PER_PASS && l->state != LS_CLOSING &&
	     (ret = akmp_read(l->fd, &l->rd)) == 1; frames++) {
		l->last_rx = root_now();
		ret = akmp_parse(l->rd.buf, l->rd.len, &m);
		if (!ret)
			ret = on_msg(r, l, &m);
		if (ret < 0) {
			root_log("site %u from %s: %s message %s: %s", l->hs.node,
				 addr_str(&l->peer, buf, sizeof(buf)),
				 l->rd.len ? akmp_type_name(l->rd.buf[0]) ?: "unknown" : "empty",
				 ret == -EBADMSG ? "malformed or unexpected" : "failed",
				 strerror(-ret));
			if (l->state != LS_UP)
				fail_record(r, &l->peer);
			return ret;
		}
	}
	if (ret == -EPIPE || ret == -ECONNRESET) {
		/* a bootstrap connection ends so once the site has WELCOME */
		l->closed_by_site = l->state == LS_WELCOMED && !akmp_pending(&l->out);
		if (l->state == LS_AUTH)
			auth_failure(r, l, l->decoy ?: "no-auth");
		return -EPIPE;
	}
	if (ret < 0 && l->state != LS_UP)
		fail_record(r, &l->peer);
	return ret;
}

static void link_close(struct root *r, struct link *l)
{
	struct sitest *s = sitest(r, l->hs.node, false);

	if (s && l->session_epoch) {
		/*
		 * A bootstrap connection after WELCOME: the session starts once
		 * the site closed it, having read WELCOME; closed otherwise,
		 * the site starts over (protocol.md).
		 */
		if (l->closed_by_site && s->mode == SITE_BOOTSTRAP &&
		    !kern_site_session(r, s->id, &s->addr, l->session_epoch)) {
			s->mode = SITE_SESSION_WAIT;
			s->epoch = l->session_epoch;
			s->since = root_now();
		}
	} else if (s && s->session == l) {
		site_bootstrap(r, s, "connection-closed");
	}
	link_free(r, l);
}

/*
 * Too many handshakes under way from this address, or overall (a site's
 * endpoint is not held up by strangers')? Bootstrap connections that got
 * WELCOME count until they close.
 */
static bool pending_full(struct root *r, const struct akm_addr *a, bool site)
{
	unsigned int all = 0, here = 0;
	struct link *l;

	for (l = r->links; l; l = l->next)
		if (l->state == LS_HELLO || l->state == LS_AUTH || l->state == LS_WELCOMED) {
			all++;
			here += akm_addr_eq(&l->peer, a);
		}
	return here >= ROOT_PENDING_PER_ADDR || (all >= ROOT_PENDING_MAX && !site);
}

static void link_accept(struct root *r)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct akm_addr a = { 0 };
	struct link *l, **pp;
	bool site;
	int fd;

	fd = accept4(r->listen_fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			root_log("accepting a site connection: %s; not accepting for a second",
				 strerror(errno));
			r->listen_paused = root_now() + 1;
		}
		return;
	}
	if (ss.ss_family == AF_INET6) {
		akmp_addr_get(((struct sockaddr_in6 *)&ss)->sin6_addr.s6_addr, &a);
	} else if (ss.ss_family == AF_INET) {
		a.family = AF_INET;
		a.v4 = ((struct sockaddr_in *)&ss)->sin_addr;
	}
	/* a site's endpoint counts its own failures, not the strangers' that fill the table */
	site = site_endpoint(r, &a);
	if (akm_fails_limited(&r->fails, &a, root_now(), site) || pending_full(r, &a, site)) {
		close(fd);
		return;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		close(fd);
		return;
	}
	l->fd = fd;
	l->peer = a;
	l->opened = l->last_rx = root_now();
	/* at the tail: the sessions stay first in the poll set */
	for (pp = &r->links; *pp; pp = &(*pp)->next)
		;
	*pp = l;
}

int link_open(struct root *r, const struct akm_addr *a, uint16_t port)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct sockaddr *sa = (struct sockaddr *)&s6;
	socklen_t len = sizeof(s6);
	int fd, one = 1, err;

	if (a->family == AF_INET) {
		s4.sin_addr = a->v4;
		sa = (struct sockaddr *)&s4;
		len = sizeof(s4);
	} else {
		s6.sin6_addr = a->v6;
	}
	fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, sa, len) || listen(fd, 128)) {
		err = -errno;
		close(fd);
		return err;
	}
	r->listen_fd = fd;
	return 0;
}

void link_close_all(struct root *r)
{
	struct sitest *s;

	instances_stop(r);
	status_free(r);
	while (r->links)
		link_free(r, r->links);
	while ((s = r->sitests)) {
		r->sitests = s->next;
		free(s->fresh);
		free(s);
	}
	free(r->eps);
	r->eps = NULL;
	r->neps = 0;
	if (r->listen_fd >= 0)
		close(r->listen_fd);
	r->listen_fd = -1;
}

int link_poll_count(struct root *r)
{
	struct link *l;
	int n = 1;

	for (l = r->links; l; l = l->next)
		n++;
	return n;
}

int link_poll_fds(struct root *r, struct pollfd *pfd, int max)
{
	struct link *l;
	int n = 0;

	if (r->listen_fd < 0 || max < 1)
		return 0;
	pfd[n++] = (struct pollfd){ .fd = r->listen_paused ? -1 : r->listen_fd,
				    .events = POLLIN };
	for (l = r->links; l && n < max; l = l->next)
		pfd[n++] = (struct pollfd){
			.fd = l->fd,
			.events = (l->state != LS_CLOSING ? POLLIN : 0) |
				  (akmp_pending(&l->out) || sync_pending(r, l) ? POLLOUT : 0),
		};
	return n;
}

void link_poll_done(struct root *r, const struct pollfd *pfd, int n)
{
	struct link *l, *next;
	int i;

	if (n < 1)
		return;
	/* the links of this pass, in order (new ones are added at the tail) */
	for (i = 1, l = r->links; l && i < n; l = next, i++) {
		next = l->next;
		if (pfd[i].fd != l->fd || !pfd[i].revents)
			continue;
		if (((pfd[i].revents & POLLOUT) && akmp_flush(l->fd, &l->out) < 0) ||
		    ((pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) && link_input(r, l) < 0))
			link_close(r, l);
	}
	status_flush(r);
	if (pfd[0].revents & POLLIN)
		link_accept(r);
}

void link_tick(struct root *r)
{
	int64_t now = root_now();
	struct link *l, *next;
	struct sitest *s;

	if (r->listen_paused && now >= r->listen_paused)
		r->listen_paused = 0;
	if (r->nl && (r->eps_stale || now - r->eps_at >= ROOT_SITES_REFRESH)) {
		sites_refresh(r);
		instances_tick(r);
	}
	for (l = r->links; l; l = next) {
		next = l->next;
		if (l->state == LS_CLOSING && (l->dead || !akmp_pending(&l->out) ||
					       now - l->last_rx >= ROOT_HANDSHAKE_SECS)) {
			link_close(r, l);
		} else if (l->state != LS_UP && now - l->opened >= ROOT_HANDSHAKE_SECS) {
			if (l->state == LS_AUTH)
				auth_failure(r, l, l->decoy ?: "no-auth");
			else if (l->state == LS_HELLO)
				fail_record(r, &l->peer);
			link_close(r, l);
		} else if (l->state == LS_UP && now - l->last_rx >= ROOT_OFFLINE_AFTER) {
			link_close(r, l);	/* silent for 3 heartbeats */
		}
	}
	sync_all(r);		/* what the sites are owed (main.c starts a new clock) */
	for (s = r->sitests; s; s = s->next)
		if (s->mode == SITE_SESSION_WAIT && now - s->since >= ROOT_SESSION_WAIT)
			site_bootstrap(r, s, "no-session-connection");
}

/* A site deleted (by any instance): its link ends, its kernel state goes. */
static void site_gone(struct root *r, uint32_t id)
{
	struct sitest **pp, *s;
	struct link *l;

	for (l = r->links; l; l = l->next)
		if (l->hs.node == id && l->state == LS_WELCOMED) {
			l->state = LS_CLOSING;
			l->session_epoch = 0;
		}
	for (pp = &r->sitests; (s = *pp); pp = &s->next)
		if (s->id == id) {
			if (s->session)
				link_reset(s->session);
			*pp = s->next;
			free(s->fresh);
			free(s);
			break;
		}
	kern_site_del(r, id);
}

/* The sites' endpoints from the database, and sites deleted while this instance missed it. */
static void sites_refresh(struct root *r)
{
	struct akm_addr *eps = NULL;
	struct sitest *s, *next;
	PGresult *res;
	int i, k = 0;

	r->eps_at = root_now();
	res = db_q(r, "SELECT id, endpoint FROM sites", "");
	if (!res)
		return;
	k = PQntuples(res);
	eps = calloc(k ? k : 1, sizeof(*eps));
	if (!eps) {
		PQclear(res);
		return;
	}
	for (i = 0; i < k; i++)
		endpoint_addr(PQgetvalue(res, i, 1), &eps[i]);
	for (s = r->sitests; s; s = next) {
		next = s->next;
		for (i = 0; i < k && strtoul(PQgetvalue(res, i, 0), NULL, 10) != s->id; i++)
			;
		if (i == k)
			site_gone(r, s->id);
	}
	PQclear(res);
	free(r->eps);
	r->eps = eps;
	r->neps = k;
	r->eps_stale = false;
}

/* Is a one of the sites' endpoints (as last read)? */
static bool site_endpoint(struct root *r, const struct akm_addr *a)
{
	size_t i;

	for (i = 0; i < r->neps; i++)
		if (akm_addr_eq(&r->eps[i], a))
			return true;
	return false;
}

/* Events of every instance: a deleted site's link ends here too. */
void link_event(struct root *r, const char *kind, const char *text)
{
	unsigned int id;

	if (!r->nl)
		return;
	sync_event(r, kind, text);
	/* the list of instances read again with the sites' endpoints */
	if (!strcmp(kind, "site-added") || !strcmp(kind, "database-back") ||
	    !strcmp(kind, "instance-removed"))
		r->eps_stale = true;
	if (!strcmp(kind, "site-removed") && sscanf(text, "site %u", &id) == 1) {
		site_gone(r, id);
		r->eps_stale = true;
	}
}
