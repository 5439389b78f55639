// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Node connections (Documentation/protocol.md): the handshake, bootstrap and
 * session connections, and the messages of a session. Every malformed or
 * unexpected message closes that connection only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sodium.h>

#include "nmm.h"

static bool addr_in(const struct akm_addr *a, const struct akm_addr *set, unsigned int k)
{
	while (k--)
		if (akm_addr_eq(a, &set[k]))
			return true;
	return false;
}

/* Is a one of the node's addresses (as the store has them)? */
static bool node_has_addr(struct nmm *n, uint32_t node, const struct akm_addr *a)
{
	struct akm_member m = { 0 };

	return !node_addrs(n, node, &m) && addr_in(a, m.addrs, m.naddrs);
}

void nodest_addrs(struct nmm *n, struct nodest *s)
{
	struct akm_member m = { 0 };

	s->naddrs = node_addrs(n, s->id, &m) ? 0 : m.naddrs;
	memcpy(s->addrs, m.addrs, sizeof(s->addrs));
}

/*
 * A connection from an address of a node whose provisioning ASR is in
 * session mode: the NMM's kernel drops plain packets from there, so it is
 * the node's (limits for strangers do not apply to it). From memory: it
 * is asked for every connection from a limited address.
 */
static bool session_addr(struct nmm *n, const struct akm_addr *a)
{
	struct nodest *s;

	for (s = n->nodes; s; s = s->next)
		if ((s->mode == NODE_SESSION || s->mode == NODE_SESSION_WAIT) &&
		    addr_in(a, s->addrs, s->naddrs))
			return true;
	return false;
}

/* ---- failed handshakes per source address ---- */

bool fail_limited(struct nmm *n, const struct akm_addr *a)
{
	return akm_fails_limited(&n->fails, a, nmm_now(), false) && !session_addr(n, a);
}

void fail_record(struct nmm *n, const struct akm_addr *a)
{
	akm_fails_record(&n->fails, a, nmm_now(), false);
}

/* ---- node modes ---- */

struct nodest *nodest(struct nmm *n, uint32_t node, bool make)
{
	struct nodest *s;

	for (s = n->nodes; s; s = s->next)
		if (s->id == node)
			return s;
	if (!make)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->id = node;
	s->mode = NODE_BOOTSTRAP;
	s->next = n->nodes;
	n->nodes = s;
	return s;
}

/* Not removed (a removed node's provisioning ASR is gone for good). */
static bool node_live(struct nmm *n, uint32_t node)
{
	return db_int(n, 0, "SELECT count(*) FROM nodes WHERE id = ? AND state != 'removed' AND "
		      "remote = 0", "u", node) > 0;
}

void node_bootstrap(struct nmm *n, uint32_t node, const char *why)
{
	struct nodest *s = nodest(n, node, true);

	if (s && s->mode == NODE_BOOTSTRAP)
		return;
	if (s) {
		if (s->session)		/* its session's last segment, still tagged */
			conn_reset(s->session);
		s->mode = NODE_BOOTSTRAP;
		s->since = nmm_now();
		s->epoch = 0;
		s->session = NULL;
	}
	if (node_live(n, node))
		kern_bootstrap(n, node);
	status_mark(n, node);
	nmm_event(n, "node-offline", "node %u reason %s", node, why);
}

/* ---- connections ---- */

/*
 * A connection that ends before the node's kernel state changes (its mode,
 * its addresses, the node removed): closed at once with a reset, sent under
 * the state it ran in. A FIN, or data retransmitted, after the change would
 * be dropped by the node (or by this kernel), and its socket left to
 * linger; nothing unacknowledged could be delivered after it anyway.
 */
void conn_reset(struct conn *c)
{
	if (c->fd >= 0)
		akmp_close_reset(c->fd);
	c->fd = -1;
	c->state = CS_CLOSING;
	c->dead = true;
}

void peer_drop(struct nmm *n, uint32_t node)
{
	struct conn *c;

	for (c = n->conns; c; c = c->next)
		if (c->kind == CONN_NODE && c->node == node) {
			akmp_flush(c->fd, &c->out);
			conn_reset(c);
		}
}

struct conn *peer_find(struct nmm *n, uint32_t node)
{
	struct nodest *s = nodest(n, node, false);

	return s && s->mode == NODE_SESSION ? s->session : NULL;
}

int conn_send(struct nmm *n, struct conn *c, struct akmp_buf *b)
{
	int err = akmp_end(b);

	(void)n;
	if (!err)
		err = akmp_queue(&c->out, b);
	if (!err && (c->fd < 0 || akmp_flush(c->fd, &c->out) < 0))
		err = -EPIPE;
	if (err) {
		c->state = CS_CLOSING;
		c->dead = true;
	}
	return err;
}

/* accept(2) failed: without descriptors or memory, pause instead of spinning. */
void accept_failed(int64_t *paused, const char *what)
{
	if (errno != EMFILE && errno != ENFILE && errno != ENOBUFS && errno != ENOMEM)
		return;
	nmm_log("%s: %s; not accepting connections for a second", what, strerror(errno));
	*paused = nmm_now() + 1;
}

/* Too many handshakes under way, overall or from this address? */
static bool pending_full(struct nmm *n, const struct akm_addr *a)
{
	unsigned int all = 0, here = 0;
	struct conn *c;

	for (c = n->conns; c; c = c->next)
		if (c->kind == CONN_NODE && (c->state == CS_HELLO || c->state == CS_AUTH)) {
			all++;
			here += akm_addr_eq(&c->peer, a);
		}
	return (all >= NMM_PENDING_MAX || here >= NMM_PENDING_PER_ADDR) && !session_addr(n, a);
}

void peer_accept(struct nmm *n)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct akm_addr a = { 0 };
	struct conn *c;
	int fd;

	fd = accept4(n->listen_fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		accept_failed(&n->listen_paused, "accepting a node connection");
		return;
	}
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		akmp_addr_get(s6->sin6_addr.s6_addr, &a);
	} else if (ss.ss_family == AF_INET) {
		a.family = AF_INET;
		a.v4 = ((struct sockaddr_in *)&ss)->sin_addr;
	}
	if (fail_limited(n, &a) || pending_full(n, &a)) {
		close(fd);
		return;
	}
	c = conn_add(n, fd, CONN_NODE);
	if (c)
		c->peer = a;
}

static void welcome(struct nmm *n, struct conn *c, uint32_t status, const char *msg,
		    uint32_t epoch, const uint8_t *proof)
{
	struct akmp_buf b = { 0 };

	akmp_welcome(&b, status, msg, epoch, proof);
	conn_send(n, c, &b);
	akmp_buf_free(&b);
}

static void auth_failure(struct nmm *n, struct conn *c, const char *why)
{
	char buf[AKM_ADDRSTRLEN];

	fail_record(n, &c->peer);
	nmm_event(n, "auth-failure", "node %u addr %s reason %s", c->node,
		  addr_str(&c->peer, buf, sizeof(buf)), why);
}

static int refuse(struct nmm *n, struct conn *c, const char *why)
{
	auth_failure(n, c, why);
	welcome(n, c, EACCES, "access denied", 0, NULL);
	c->state = CS_CLOSING;
	return 0;
}

/*
 * The handshake ended after CHALLENGE, by the node or by the timeout: a
 * node refuses a CHALLENGE whose proof fails (so does a removed node, told
 * nothing else).
 */
void peer_gave_up(struct nmm *n, struct conn *c)
{
	auth_failure(n, c, c->decoy ? c->decoy : "no-auth");
}

/* A proven node whose connection does not fit its state: told why, then closed. */
static int turn_away(struct nmm *n, struct conn *c, uint32_t status, const char *msg)
{
	welcome(n, c, status, msg, 0, NULL);
	c->state = CS_CLOSING;
	return 0;
}

/* proof = CRED_PROVE(node, label || T [|| be32 epoch]) */
static int prove(struct nmm *n, struct conn *c, const char *label, uint32_t epoch,
		 uint8_t proof[32])
{
	uint8_t data[AKMP_PROOF_INPUT_MAX];
	size_t len = akmp_proof_input(data, label, &c->hs, epoch);

	return akm_cred_prove(n->nl, c->node, data, len, proof);
}

static int on_hello(struct nmm *n, struct conn *c, const struct akmp_msg *m)
{
	uint8_t pm[AKMP_PROOF_LEN];
	struct akmp_buf b = { 0 };
	struct akm_cred cred;

	akmp_hello_hs(m, n->id, &c->hs);
	c->node = c->hs.node;
	randombytes_buf(c->hs.nm, sizeof(c->hs.nm));
	if (akmp_u32(&m->tb[AKMP_T_NMM_ID]) != n->id)
		return refuse(n, c, "wrong-nmm-id");
	/*
	 * An unknown node gets a CHALLENGE that looks like any other, and is
	 * refused after AUTH: the answers do not tell which node ids exist.
	 */
	if (!db_int(n, 0, "SELECT count(*) FROM nodes WHERE id = ? AND state != 'removed' AND "
		    "remote = 0", "u", c->node))
		c->decoy = "unknown-node";
	/* the credential goes into this kernel when the node first shows up */
	else if (!n->nl || (akm_cred_get(n->nl, c->node, &cred) == -ENOENT &&
			    kern_node_cred(n, c->node)) || prove(n, c, "nmm", 0, pm))
		c->decoy = "no-credential";
	if (c->decoy)
		randombytes_buf(pm, sizeof(pm));
	akmp_challenge(&b, &c->hs, pm);
	conn_send(n, c, &b);
	akmp_buf_free(&b);
	c->state = CS_AUTH;
	return 0;
}

/*
 * A bootstrap connection: a fresh session epoch, stored first, above every
 * one either kernel had (each refuses those again: a store restored from a
 * backup, a node id provisioned again; the node's last one is in T), and
 * proven to the node with T. The NMM switches when the node has closed the
 * connection after reading WELCOME (peer_input(), peer_closed()).
 */
static int bootstrap_welcome(struct nmm *n, struct conn *c, struct nodest *s)
{
	char buf[AKM_ADDRSTRLEN];
	uint8_t pw[AKMP_PROOF_LEN];
	int64_t last, session;

	if (s->mode == NODE_SESSION && s->session && s->session->state == CS_UP) {
		/*
		 * Its kernel drops the node's plain packets while a session is
		 * up: this one came from elsewhere (a second machine with the
		 * node's credential, or a relay). The session stays.
		 */
		fail_record(n, &c->peer);
		nmm_event(n, "node-conflict", "node %u addr %s reason bootstrap-during-session",
			  c->node, addr_str(&c->peer, buf, sizeof(buf)));
		return turn_away(n, c, EBUSY, "this node has a session from another place");
	}
	if (s->mode != NODE_BOOTSTRAP)
		node_bootstrap(n, c->node, "bootstrap-connection");
	last = kern_session_last(n, c->node);
	session = db_int(n, -1, "SELECT session FROM nodes WHERE id = ?", "u", c->node);
	if (session < 0 || last < 0)
		return -EIO;
	if (last > session)
		session = last;
	if (c->hs.last > session)
		session = c->hs.last;
	if (++session > UINT32_MAX)
		return -ERANGE;
	if (db_exec(n, "UPDATE nodes SET session = ? WHERE id = ?", "iu", session,
		    c->node) != 1 || prove(n, c, "welcome", session, pw))
		return -EIO;
	c->session_epoch = session;
	welcome(n, c, 0, "welcome", session, pw);
	c->state = CS_WELCOMED;
	return 0;
}

/* A session connection: only from the node's own address, for its session epoch. */
static int session_welcome(struct nmm *n, struct conn *c, struct nodest *s)
{
	char buf[AKM_ADDRSTRLEN];

	if ((s->mode != NODE_SESSION_WAIT && s->mode != NODE_SESSION) ||
	    s->epoch != c->hs.session)
		return turn_away(n, c, ESTALE, "no such session: start with a bootstrap connection");
	if (!node_has_addr(n, c->node, &c->peer)) {
		/* not one the NMM's kernel authenticates: a relay, or a copy */
		fail_record(n, &c->peer);
		nmm_event(n, "node-conflict", "node %u addr %s reason session-from-foreign-address",
			  c->node, addr_str(&c->peer, buf, sizeof(buf)));
		return turn_away(n, c, EACCES, "access denied");
	}
	/*
	 * A kernel that lost its state (another instance than the one we last
	 * served: a reboot, a module reload, the node's first session) gets
	 * no epoch it may have sent under: every ASR of the node is re-keyed
	 * first, then the instance stored, before anything is delivered. A
	 * crash or failure in between re-keys again next time.
	 */
	if ((uint64_t)db_int(n, 0, "SELECT kernel FROM nodes WHERE id = ?", "u", c->node) !=
	    c->hs.instance) {
		int err;

		if (n->up.peer) {
			/* at a root's site the root makes the epochs: asked for, then waited for */
			err = sync_fresh(n, s, c->hs.instance);
		} else if (s->fresh_at && nmm_now() - s->fresh_at < NMM_FRESH_MIN) {
			err = -EBUSY;
		} else {
			s->fresh_at = nmm_now();
			err = rekey_node_asrs(n, c->node);
		}
		if (err == -EBUSY) {
			/* a node whose kernel changes every few seconds re-keys no faster */
			nmm_event(n, "node-conflict", "node %u addr %s reason kernel-churn",
				  c->node, addr_str(&c->peer, buf, sizeof(buf)));
			return turn_away(n, c, EAGAIN, "try again");
		}
		if (err == -EAGAIN)
			return turn_away(n, c, EAGAIN, "new epochs for this node's kernel are on "
					 "their way: try again");
		if (!err && db_exec(n, "UPDATE nodes SET kernel = ? WHERE id = ?", "iu",
				    (int64_t)c->hs.instance, c->node) != 1)
			err = -EIO;
		if (err) {
			nmm_log("node %u: cannot re-key its ASRs for its new kernel (%s); it will "
				"come again", c->node, err == -ENOTCONN ?
				"the root is out of reach" : strerror(-err));
			return turn_away(n, c, EAGAIN, err == -ENOTCONN ?
					 "the root is out of reach: this node's new kernel needs "
					 "new epochs from it; try again" : "try again");
		}
	}
	/* it replaces any older session connection of this node */
	if (s->session && s->session != c)
		s->session->state = CS_CLOSING;
	s->mode = NODE_SESSION;
	s->session = c;
	c->state = CS_UP;
	c->up = true;
	welcome(n, c, 0, "welcome", 0, NULL);
	nmm_event(n, "node-online", "node %u session %u", c->node, s->epoch);
	status_mark(n, c->node);
	rekey_catch_up(n, c);
	return 0;
}

static int on_auth(struct nmm *n, struct conn *c, const struct akmp_msg *m)
{
	uint8_t pn[AKMP_PROOF_LEN];
	struct nodest *s;

	if (c->decoy)
		return refuse(n, c, c->decoy);
	if (prove(n, c, "node", 0, pn) ||
	    sodium_memcmp(pn, m->tb[AKMP_T_PROOF].v, AKMP_PROOF_LEN))
		return refuse(n, c, "bad-proof");
	s = nodest(n, c->node, true);
	if (!s)
		return -ENOMEM;
	if (!c->hs.instance)	/* the agent never sends 0 */
		return refuse(n, c, "no-instance");
	if (db_exec(n, "UPDATE nodes SET state = 'active' WHERE id = ? AND "
		    "state = 'provisioned'", "u", c->node) > 0)
		nmm_event(n, "node-activated", "node %u", c->node);
	db_exec(n, "UPDATE nodes SET last_contact = ? WHERE id = ?", "iu", (int64_t)time(NULL),
		c->node);
	return c->hs.session ? session_welcome(n, c, s) : bootstrap_welcome(n, c, s);
}

/* One COUNTER of a HEARTBEAT: the ASR's old counters go when its first one comes. */
struct counters {
	struct nmm *n;
	uint32_t node;
	int64_t asr;			/* the ASR whose counters were cleared last */
};

static int counter_cb(uint32_t asr, const char *name, uint64_t value, void *arg)
{
	struct counters *k = arg;

	/*
	 * Only the kernel's counters, of the node itself, its provisioning
	 * ASR and the ASRs it is a member of: nothing else grows the store.
	 */
	if (akm_enum_value(AKM_ENUM_STATS, name) < 0 ||
	    (asr && asr != AKMP_PROV_ASR(k->node) &&
	     !db_int(k->n, 0, "SELECT count(*) FROM members WHERE asr = ? AND node = ? AND "
		     "revoked = 0", "uu", asr, k->node)))
		return 0;
	if (k->asr != asr &&
	    db_exec(k->n, "DELETE FROM counters WHERE node = ? AND asr = ?", "uu", k->node,
		    asr) < 0)
		return -EIO;
	k->asr = asr;
	return db_exec(k->n, "INSERT INTO counters (node, asr, name, value) VALUES (?, ?, ?, ?) "
		       "ON CONFLICT (node, asr, name) DO UPDATE SET value = excluded.value",
		       "uuti", k->node, asr, name, (int64_t)value) < 0 ? -EIO : 0;
}

/*
 * HEARTBEAT: the counters it carries replace those of the same ASRs (a node
 * in many ASRs splits them over several HEARTBEATs), all or nothing.
 */
static int on_heartbeat(struct nmm *n, struct conn *c, const struct akmp_msg *m)
{
	struct counters k = { .n = n, .node = c->node, .asr = -1 };
	struct akmp_buf b = { 0 };
	int64_t was[2], now[2];
	int err;

	if (store_begin(n))
		return -EIO;
	if (n->up_on)
		status_digest(n, c->node, was);
	err = akmp_counters_parse(m, counter_cb, &k);
	if (!err && db_exec(n, "UPDATE nodes SET last_contact = ? WHERE id = ?", "iu",
			    (int64_t)time(NULL), c->node) < 0)
		err = -EIO;
	if (!err && n->up_on) {		/* the root is told of a change */
		status_digest(n, c->node, now);
		if (now[0] != was[0] || now[1] != was[1])
			status_mark(n, c->node);
	}
	if (!err && store_commit(n))
		err = -EIO;
	if (err) {
		store_rollback(n);
		return err;
	}
	akmp_begin(&b, AKMP_HEARTBEAT);
	conn_send(n, c, &b);
	akmp_buf_free(&b);
	return 0;
}

/*
 * EVENT: the kernel's count of authentication failures, for one of the
 * node's ASRs or for the node (ASR 0). More than NMM_EVENTS_PER_SEC from
 * one session are read but not stored: each is a write to the store.
 */
static int on_event(struct nmm *n, struct conn *c, const struct akmp_msg *m)
{
	uint32_t asr = akmp_u32(&m->tb[AKMP_T_ASR_ID]);
	uint64_t value = akmp_u64(&m->tb[AKMP_T_VALUE]);
	int64_t now = nmm_now();
	char name[64];

	if (akmp_str(&m->tb[AKMP_T_NAME], name, sizeof(name)) ||
	    (akm_enum_value(AKM_ENUM_STATS, name) < 0 && strcmp(name, "unknown")))
		return -EBADMSG;	/* a counter's name, nothing else goes to the log */
	if (now != c->events_at) {
		c->events_at = now;
		c->events = 0;
	}
	if (++c->events > NMM_EVENTS_PER_SEC)
		return 0;
	/* not one of its ASRs (packets for an unknown one): the node's own */
	if (asr && !db_int(n, 0, "SELECT count(*) FROM members WHERE asr = ? AND node = ?",
			   "uu", asr, c->node))
		asr = 0;
	if (value > UINT32_MAX)	/* the kernel counts in 32 bits */
		value = UINT32_MAX;
	db_exec(n, "UPDATE nodes SET auth_failures = auth_failures + ?, last_contact = ? "
		"WHERE id = ?", "iiu", (int64_t)value, (int64_t)time(NULL), c->node);
	nmm_event(n, "auth-failure", "node %u asr %u reason %s count %llu", c->node, asr, name,
		  (unsigned long long)value);
	return 0;
}

static int on_session_msg(struct nmm *n, struct conn *c, const struct akmp_msg *m)
{
	switch (m->type) {
	case AKMP_ACK:
		rekey_ack(n, c, m);
		return 0;
	case AKMP_HEARTBEAT:
		return on_heartbeat(n, c, m);
	case AKMP_EVENT:
		return on_event(n, c, m);
	}
	return -EBADMSG;
}

static int on_msg(struct nmm *n, struct conn *c, const struct akmp_msg *m)
{
	switch (c->state) {
	case CS_HELLO:
		return m->type == AKMP_HELLO ? on_hello(n, c, m) : -EBADMSG;
	case CS_AUTH:
		return m->type == AKMP_AUTH ? on_auth(n, c, m) : -EBADMSG;
	case CS_UP:
		return on_session_msg(n, c, m);
	case CS_WELCOMED:
		return -EBADMSG;	/* the node has nothing to say after AUTH */
	case CS_CLOSING:
		return 0;	/* whatever comes after our last word */
	}
	return -EBADMSG;
}

int peer_input(struct nmm *n, struct conn *c)
{
	char buf[AKM_ADDRSTRLEN];
	unsigned int frames;
	struct akmp_msg m;
	int ret = 0;

	/*
	 * A few frames a pass, none once closing: a peer that keeps sending
	 * holds up neither the other connections nor the timers.
	 */
	for (frames = 0; frames < NMM_FRAMES_PER_PASS && c->state != CS_CLOSING &&
	     (ret = akmp_read(c->fd, &c->rd)) == 1; frames++) {
		c->last_rx = nmm_now();
		ret = akmp_parse(c->rd.buf, c->rd.len, &m);
		if (!ret)
			ret = on_msg(n, c, &m);
		if (ret < 0) {
			nmm_log("node %u from %s: %s message %s: %s", c->node,
				addr_str(&c->peer, buf, sizeof(buf)),
				c->rd.len ? akmp_type_name(c->rd.buf[0]) ?: "unknown" : "empty",
				ret == -EBADMSG ? "malformed or unexpected" : "failed",
				strerror(-ret));
			if (c->state != CS_UP)
				fail_record(n, &c->peer);
			return ret;
		}
	}
	if (ret == -EPIPE || ret == -ECONNRESET) {
		/* a bootstrap connection ends so once the node has WELCOME */
		c->closed_by_node = c->state == CS_WELCOMED && !akmp_pending(&c->out);
		if (c->state == CS_AUTH)
			peer_gave_up(n, c);
		return -EPIPE;
	}
	if (ret < 0) {
		nmm_log("node %u from %s: %s", c->node, addr_str(&c->peer, buf, sizeof(buf)),
			strerror(-ret));
		if (c->state != CS_UP)
			fail_record(n, &c->peer);
	}
	return ret;
}

/* Called by conn_close() before the connection is freed. */
void peer_closed(struct nmm *n, struct conn *c)
{
	struct nodest *s;

	if (c->session_epoch) {
		/*
		 * A bootstrap connection after WELCOME: switch to the session
		 * once the node closed it, having read WELCOME (a segment of it
		 * retransmitted after the switch would go out tagged, and be
		 * dropped by a node still in bootstrap mode). Closed otherwise
		 * (a timeout, a failed write), the node starts over.
		 */
		s = c->closed_by_node ? nodest(n, c->node, true) : NULL;
		if (s && s->mode == NODE_BOOTSTRAP && node_live(n, c->node) &&
		    !kern_session(n, c->node, c->session_epoch)) {
			s->mode = NODE_SESSION_WAIT;
			s->epoch = c->session_epoch;
			s->since = nmm_now();
			s->session = NULL;
			nodest_addrs(n, s);
		}
		return;
	}
	s = c->up ? nodest(n, c->node, false) : NULL;
	if (s && s->session == c)
		node_bootstrap(n, c->node, "connection-closed");
}
