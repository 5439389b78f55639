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

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* ---- failed handshakes per source address ---- */

static struct fail_slot *fail_slot(struct nmm *n, const struct akm_addr *a, bool make)
{
	struct fail_slot *s, *oldest = &n->fails[0];
	time_t now = time(NULL);

	for (s = n->fails; s < n->fails + NMM_FAIL_SLOTS; s++) {
		if (s->count && now - s->since >= NMM_FAIL_WINDOW)
			s->count = 0;
		if (s->count && !memcmp(&s->addr, a, sizeof(*a)))
			return s;
		if (s->since < oldest->since || !s->count)
			oldest = s->count ? oldest : s;
	}
	if (!make)
		return NULL;
	memset(oldest, 0, sizeof(*oldest));
	oldest->addr = *a;
	oldest->since = now;
	return oldest;
}

bool fail_limited(struct nmm *n, const struct akm_addr *a)
{
	struct fail_slot *s = fail_slot(n, a, false);

	return s && s->count >= NMM_FAIL_MAX;
}

void fail_record(struct nmm *n, const struct akm_addr *a)
{
	struct fail_slot *s = fail_slot(n, a, true);

	s->count++;
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
	return db_int(n, 0, "SELECT count(*) FROM nodes WHERE id = ? AND state != 'removed'",
		      "u", node) > 0;
}

void node_bootstrap(struct nmm *n, uint32_t node, const char *why)
{
	struct nodest *s = nodest(n, node, true);

	if (s && s->mode == NODE_BOOTSTRAP)
		return;
	if (s) {
		s->mode = NODE_BOOTSTRAP;
		s->since = time(NULL);
		s->session = NULL;
	}
	if (node_live(n, node))
		kern_bootstrap(n, node);
	nmm_event(n, "node-offline", "node %u reason %s", node, why);
}

/* ---- connections ---- */

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
	if (!err && akmp_flush(c->fd, &c->out) < 0)
		err = -EPIPE;
	if (err) {
		c->state = CS_CLOSING;
		c->dead = true;
	}
	return err;
}

void peer_accept(struct nmm *n)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct akm_addr a = { 0 };
	struct conn *c;
	int fd;

	fd = accept4(n->listen_fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		akmp_addr_get(s6->sin6_addr.s6_addr, &a);
	} else if (ss.ss_family == AF_INET) {
		a.family = AF_INET;
		a.v4 = ((struct sockaddr_in *)&ss)->sin_addr;
	}
	if (fail_limited(n, &a)) {
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

	akmp_begin(&b, AKMP_WELCOME);
	akmp_put_u32(&b, AKMP_T_STATUS, status);
	akmp_put_str(&b, AKMP_T_MESSAGE, msg);
	if (epoch) {
		akmp_put_u32(&b, AKMP_T_EPOCH, epoch);
		akmp_put(&b, AKMP_T_PROOF, proof, AKMP_PROOF_LEN);
	}
	conn_send(n, c, &b);
	akmp_buf_free(&b);
}

static int refuse(struct nmm *n, struct conn *c, const char *why)
{
	char buf[AKM_ADDRSTRLEN];

	fail_record(n, &c->peer);
	nmm_event(n, "auth-failure", "node %u addr %s reason %s", c->node,
		  addr_str(&c->peer, buf, sizeof(buf)), why);
	welcome(n, c, EACCES, "access denied", 0, NULL);
	c->state = CS_CLOSING;
	return 0;
}

/* proof = CRED_PROVE(node, label || T [|| be32 epoch]), label at most 7 bytes */
static int prove(struct nmm *n, struct conn *c, const char *label, uint32_t epoch,
		 uint8_t proof[32])
{
	uint8_t data[8 + AKMP_TRANSCRIPT_LEN + 4];
	size_t l = strlen(label);

	memcpy(data, label, l);
	l += akmp_transcript(data + l, c->node, n->id, c->nn, c->nm, c->flags, c->last,
			     c->instance);
	if (epoch) {
		put_be32(data + l, epoch);
		l += 4;
	}
	return akm_cred_prove(n->nl, c->node, data, l, proof);
}

static int on_hello(struct nmm *n, struct conn *c, const struct akmp_msg *m)
{
	uint8_t pm[AKMP_PROOF_LEN];
	struct akmp_buf b = { 0 };
	struct akm_cred cred;
	int64_t known;
	int err;

	c->node = akmp_u32(&m->tb[AKMP_T_NODE_ID]);
	c->flags = akmp_u32(&m->tb[AKMP_T_FLAGS]);
	c->last = akmp_u32(&m->tb[AKMP_T_EPOCH]);
	c->instance = akmp_u64(&m->tb[AKMP_T_INSTANCE]);
	memcpy(c->nn, m->tb[AKMP_T_NONCE].v, AKMP_NONCE_LEN);
	if (akmp_u32(&m->tb[AKMP_T_NMM_ID]) != n->id)
		return refuse(n, c, "wrong-nmm-id");
	known = db_int(n, 0, "SELECT count(*) FROM nodes WHERE id = ? AND state != 'removed'",
		       "u", c->node);
	if (!known)
		return refuse(n, c, "unknown-node");
	/* the credential goes into this kernel when the node first shows up */
	if (!n->nl || (akm_cred_get(n->nl, c->node, &cred) == -ENOENT &&
			kern_node_cred(n, c->node)))
		return refuse(n, c, "no-credential");
	randombytes_buf(c->nm, sizeof(c->nm));
	err = prove(n, c, "nmm", 0, pm);
	if (err)
		return refuse(n, c, "no-credential");
	akmp_begin(&b, AKMP_CHALLENGE);
	akmp_put(&b, AKMP_T_NONCE, c->nm, AKMP_NONCE_LEN);
	akmp_put(&b, AKMP_T_PROOF, pm, AKMP_PROOF_LEN);
	conn_send(n, c, &b);
	akmp_buf_free(&b);
	c->state = CS_AUTH;
	return 0;
}

static int on_auth(struct nmm *n, struct conn *c, const struct akmp_msg *m)
{
	uint8_t pn[AKMP_PROOF_LEN];
	struct nodest *s;
	time_t now = time(NULL);
	bool first;
	int64_t session;

	if (prove(n, c, "node", 0, pn) ||
	    sodium_memcmp(pn, m->tb[AKMP_T_PROOF].v, AKMP_PROOF_LEN))
		return refuse(n, c, "bad-proof");
	s = nodest(n, c->node, true);
	if (!s)
		return -ENOMEM;
	first = db_exec(n, "UPDATE nodes SET state = 'active' WHERE id = ? AND "
			"state = 'provisioned'", "u", c->node) > 0;
	db_exec(n, "UPDATE nodes SET last_contact = ? WHERE id = ?", "iu", (int64_t)now,
		c->node);
	if (first)
		nmm_event(n, "node-activated", "node %u", c->node);

	if (s->mode == NODE_BOOTSTRAP) {
		/*
		 * Bootstrap connection: a fresh session epoch, stored first, above
		 * every one either kernel had (each refuses those again: a store
		 * restored from a backup, a node id provisioned again; the node's
		 * last one is in T), and proven to the node with T.
		 */
		uint8_t pw[AKMP_PROOF_LEN];

		int64_t last = kern_session_last(n, c->node);

		session = db_int(n, -1, "SELECT session FROM nodes WHERE id = ?", "u", c->node);
		if (session < 0 || last < 0)
			return -EIO;
		if (last > session)
			session = last;
		if (c->last > session)
			session = c->last;
		if (++session > UINT32_MAX)
			return -ERANGE;
		if (db_exec(n, "UPDATE nodes SET session = ? WHERE id = ?", "iu", session,
			    c->node) != 1 || prove(n, c, "welcome", session, pw))
			return -EIO;
		c->session_epoch = session;
		welcome(n, c, 0, "welcome", session, pw);
		c->state = CS_CLOSING;		/* the node closes; then we switch */
		return 0;
	}
	/*
	 * A kernel that lost its state (another instance than the one we last
	 * served: a reboot, a module reload, the node's first session; 0:
	 * unknown) gets no epoch it may have sent under: every ASR of the node
	 * is re-keyed first, then the instance stored, before anything is
	 * delivered. A crash or failure in between re-keys again next time.
	 */
	if (!c->instance ||
	    (uint64_t)db_int(n, 0, "SELECT kernel FROM nodes WHERE id = ?", "u", c->node) !=
	    c->instance) {
		if (rekey_node_asrs(n, c->node) ||
		    (c->instance && db_exec(n, "UPDATE nodes SET kernel = ? WHERE id = ?", "iu",
					    (int64_t)c->instance, c->node) != 1)) {
			nmm_log("node %u: cannot re-key its ASRs for its new kernel; it will "
				"come again", c->node);
			welcome(n, c, EAGAIN, "try again", 0, NULL);
			c->state = CS_CLOSING;
			return 0;
		}
	}
	/* session connection: it replaces any older one of this node */
	if (s->session && s->session != c)
		s->session->state = CS_CLOSING;
	s->mode = NODE_SESSION;
	s->session = c;
	c->state = CS_UP;
	c->up = true;
	welcome(n, c, 0, "welcome", 0, NULL);
	nmm_event(n, "node-online", "node %u session %lld", c->node,
		  (long long)db_int(n, 0, "SELECT session FROM nodes WHERE id = ?", "u", c->node));
	rekey_catch_up(n, c);
	return 0;
}

static int counter_cb(uint32_t asr, const char *name, uint64_t value, void *arg)
{
	struct conn *c = ((void **)arg)[1];
	struct nmm *n = ((void **)arg)[0];

	return db_exec(n, "INSERT INTO counters (node, asr, name, value) VALUES (?, ?, ?, ?) "
		       "ON CONFLICT (node, asr, name) DO UPDATE SET value = excluded.value",
		       "uuti", c->node, asr, name, (int64_t)value) < 0 ? -EIO : 0;
}

static int on_session_msg(struct nmm *n, struct conn *c, const struct akmp_msg *m)
{
	struct akmp_buf b = { 0 };
	void *arg[2] = { n, c };
	char name[64];
	int err = 0;

	switch (m->type) {
	case AKMP_ACK:
		rekey_ack(n, c, akmp_u32(&m->tb[AKMP_T_ASR_ID]), akmp_u32(&m->tb[AKMP_T_EPOCH]),
			  akmp_u32(&m->tb[AKMP_T_STATUS]));
		return 0;
	case AKMP_HEARTBEAT:
		if (store_begin(n))
			return -EIO;
		db_exec(n, "DELETE FROM counters WHERE node = ?", "u", c->node);
		err = akmp_counters_parse(m, counter_cb, arg);
		if (err) {
			store_rollback(n);
			return err;
		}
		db_exec(n, "UPDATE nodes SET last_contact = ? WHERE id = ?", "iu",
			(int64_t)time(NULL), c->node);
		store_commit(n);
		akmp_begin(&b, AKMP_HEARTBEAT);
		conn_send(n, c, &b);
		akmp_buf_free(&b);
		return 0;
	case AKMP_EVENT:
		if (akmp_str(&m->tb[AKMP_T_NAME], name, sizeof(name)))
			return -EBADMSG;
		db_exec(n, "UPDATE nodes SET auth_failures = auth_failures + ?, "
			"last_contact = ? WHERE id = ?", "iiu",
			(int64_t)akmp_u64(&m->tb[AKMP_T_VALUE]), (int64_t)time(NULL), c->node);
		nmm_event(n, "auth-failure", "node %u asr %u reason %s count %llu", c->node,
			  akmp_u32(&m->tb[AKMP_T_ASR_ID]), name,
			  (unsigned long long)akmp_u64(&m->tb[AKMP_T_VALUE]));
		return 0;
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
	case CS_CLOSING:
		return 0;	/* whatever comes after our last word */
	}
	return -EBADMSG;
}

int peer_input(struct nmm *n, struct conn *c)
{
	char buf[AKM_ADDRSTRLEN];
	struct akmp_msg m;
	int ret;

	while ((ret = akmp_read(c->fd, &c->rd)) == 1) {
		c->last_rx = time(NULL);
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
	if (ret == -EPIPE || ret == -ECONNRESET)
		return -EPIPE;		/* closed by the node */
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
		/* the bootstrap connection ended after WELCOME: switch to the session */
		s = nodest(n, c->node, true);
		if (s && node_live(n, c->node) && !kern_session(n, c->node, c->session_epoch)) {
			s->mode = NODE_SESSION_WAIT;
			s->since = time(NULL);
			s->session = NULL;
		}
		return;
	}
	s = c->up ? nodest(n, c->node, false) : NULL;
	if (s && s->session == c) {
		s->session = NULL;
		node_bootstrap(n, c->node, "connection-closed");
	}
}
