// SPDX-License-Identifier: GPL-2.0 OR MIT
/* The connecting side of protocol.md's connections (client.h). */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sodium.h>

#include "client.h"

int64_t akmc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *kmsg(const struct akmc *c)
{
	return c->nl ? akm_errmsg(c->nl) : "";
}

void akmc_init(struct akmc *c)
{
	c->fd = -1;
	c->st = AKMC_IDLE;
	c->backoff = AKMC_BACKOFF_MIN_MS;
	c->wake = akmc_now_ms();
}

void akmc_close(struct akmc *c, bool reset)
{
	if (c->fd >= 0) {
		if (reset)	/* nothing left to send: no FIN exchange after the switch */
			akmp_close_reset(c->fd);
		else
			close(c->fd);
		c->fd = -1;
	}
	akmp_reader_free(&c->rd);
	akmp_outq_free(&c->out);
}

void akmc_fail(struct akmc *c, const char *fmt, ...)
{
	unsigned int delay;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
	akmc_close(c, true);	/* a reset: no orphan socket to linger after the switch */
	c->st = AKMC_IDLE;
	c->session_conn = false;
	/* 75% to 125% of the backoff, at most the cap */
	delay = c->backoff * 3 / 4 + randombytes_uniform(c->backoff / 2 + 1);
	if (delay > AKMC_BACKOFF_MAX_MS)
		delay = AKMC_BACKOFF_MAX_MS;
	c->wake = akmc_now_ms() + delay;
	c->ops->log("%s; next attempt in %.1f s", c->error, delay / 1000.0);
	c->backoff = c->backoff * 2 > AKMC_BACKOFF_MAX_MS ? AKMC_BACKOFF_MAX_MS : c->backoff * 2;
	c->ops->changed(c, "backoff");
}

int akmc_send(struct akmc *c, struct akmp_buf *b)
{
	int err = akmp_end(b);

	if (!err)
		err = akmp_queue(&c->out, b);
	akmp_buf_free(b);
	if (!err)
		err = akmp_flush(c->fd, &c->out);
	if (err < 0) {
		akmc_fail(c, "sending to the %s: %s", c->server, strerror(-err));
		return err;
	}
	return 0;
}

/* The source address the server knows this side by (its session connections come from there). */
static int bind_src(struct akmc *c)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_addr = c->src.v6 };
	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_addr = c->src.v4 };

	return c->src.family == AF_INET ? bind(c->fd, (struct sockaddr *)&s4, sizeof(s4)) :
	       bind(c->fd, (struct sockaddr *)&s6, sizeof(s6));
}

/* The kernel's checks, then a non-blocking connect. */
static void attempt(struct akmc *c)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sslen;

	if (c->ops->prepare(c, c->session_conn))
		return;
	if (c->addr.family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_addr = c->addr.v4;
		sin->sin_port = htons(c->port);
		sslen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = c->addr.v6;
		sin6->sin6_port = htons(c->port);
		sslen = sizeof(*sin6);
	}
	c->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		akmc_fail(c, "socket: %s", strerror(errno));
		return;
	}
	if (c->src.family && bind_src(c)) {
		char buf[AKM_ADDRSTRLEN];

		akmc_fail(c, "cannot connect from %s: %s", akm_addr_str(&c->src, buf, sizeof(buf)),
			  strerror(errno));
		return;
	}
	c->connects++;
	if (c->ops->debug)
		c->ops->debug("connecting (%s connection)",
			      c->session_conn ? "session" : "bootstrap");
	if (connect(c->fd, (struct sockaddr *)&ss, sslen) && errno != EINPROGRESS) {
		akmc_fail(c, "connect: %s", strerror(errno));
		return;
	}
	c->st = AKMC_CONNECTING;
	c->wake = akmc_now_ms() + AKMC_CONNECT_MS;
	c->ops->changed(c, "connecting");
}

static void send_hello(struct akmc *c)
{
	struct akmp_buf b = { 0 };
	struct akm_node self;

	memset(&c->hs, 0, sizeof(c->hs));	/* no proof of an earlier handshake counts */
	c->hs.node = c->self;
	c->hs.nmm = c->peer;
	randombytes_buf(c->hs.nn, sizeof(c->hs.nn));
	c->hs.flags = c->flags | (c->fresh ? AKMP_FLAG_FRESH : 0);
	c->hs.last = c->ops->last(c);
	c->hs.instance = akm_node_get(c->nl, &self) ? 0 : self.instance;
	c->hs.session = c->session_conn ? c->epoch : 0;
	if (!c->hs.instance) {	/* the server could not tell a new kernel state */
		akmc_fail(c, "the kernel gives no AKM instance: akm.ko older than this program?");
		return;
	}
	akmp_begin(&b, AKMP_HELLO);
	akmp_put_u8(&b, AKMP_T_VERSION, AKMP_VERSION);
	akmp_put_u32(&b, AKMP_T_NODE_ID, c->hs.node);
	akmp_put_u32(&b, AKMP_T_NMM_ID, c->hs.nmm);
	akmp_put(&b, AKMP_T_NONCE, c->hs.nn, sizeof(c->hs.nn));
	akmp_put_u32(&b, AKMP_T_FLAGS, c->hs.flags);
	akmp_put_u32(&b, AKMP_T_EPOCH, c->hs.last);
	akmp_put_u64(&b, AKMP_T_INSTANCE, c->hs.instance);
	akmp_put_u32(&b, AKMP_T_SESSION, c->hs.session);
	if (akmc_send(c, &b))
		return;
	c->st = AKMC_HELLO;
	c->wake = akmc_now_ms() + AKMC_HANDSHAKE_MS;
	c->ops->changed(c, "handshake");
}

static void on_connected(struct akmc *c)
{
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) || soerr) {
		akmc_fail(c, "cannot connect to the %s: %s", c->server,
			  strerror(soerr ? soerr : errno));
		return;
	}
	send_hello(c);
}

/* The kernel's proof over label || T [|| be32 epoch] with the credential shared with the server. */
static int prove(struct akmc *c, const char *label, uint32_t epoch, uint8_t *out)
{
	uint8_t data[AKMP_PROOF_INPUT_MAX];
	size_t len = akmp_proof_input(data, label, &c->hs, epoch);

	return akm_cred_prove(c->nl, c->peer, data, len, out);
}

static void on_challenge(struct akmc *c, const struct akmp_msg *m)
{
	uint8_t pm[AKMP_PROOF_LEN], pn[AKMP_PROOF_LEN];
	struct akmp_buf b = { 0 };
	int err;

	memcpy(c->hs.nm, m->tb[AKMP_T_NONCE].v, sizeof(c->hs.nm));
	/* the server proves first; we prove nothing to one that could not */
	err = prove(c, "nmm", 0, pm);
	if (err) {
		akmc_fail(c, "the kernel cannot prove with the credential: %s%s%s", strerror(-err),
			  *kmsg(c) ? ": " : "", kmsg(c));
		return;
	}
	if (sodium_memcmp(pm, m->tb[AKMP_T_PROOF].v, sizeof(pm))) {
		akmc_fail(c, "the %s failed to prove it holds this %s's credential", c->server,
			  c->role);
		return;
	}
	err = prove(c, "node", 0, pn);
	if (err) {
		akmc_fail(c, "the kernel cannot prove with the credential: %s", strerror(-err));
		return;
	}
	akmp_begin(&b, AKMP_AUTH);
	akmp_put(&b, AKMP_T_PROOF, pn, sizeof(pn));
	if (akmc_send(c, &b))
		return;
	c->st = AKMC_AUTH;
}

static void on_welcome(struct akmc *c, const struct akmp_msg *m)
{
	const struct akmp_tlv *ep = &m->tb[AKMP_T_EPOCH];
	uint32_t status = akmp_u32(&m->tb[AKMP_T_STATUS]);
	char text[AKMP_TEXT_MAX + 1] = "";
	uint8_t pw[AKMP_PROOF_LEN];
	size_t i;
	int err;

	if (m->tb[AKMP_T_MESSAGE].v && akmp_str(&m->tb[AKMP_T_MESSAGE], text, sizeof(text)))
		text[0] = '\0';
	for (i = 0; text[i]; i++)	/* the server's words go to the log: one line */
		if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
			text[i] = ' ';
	if (status) {
		/* EAGAIN on a session connection: the session stands, come again so */
		bool again = c->session_conn && status == EAGAIN && c->st == AKMC_AUTH;

		akmc_fail(c, "the %s refused this %s: %s%s%s", c->server, c->role, strerror(status),
			  text[0] ? ": " : "", text);
		c->session_conn = again;
		return;
	}
	/* only after CHALLENGE, our check of Pm and AUTH: a WELCOME before says nothing */
	if (c->st != AKMC_AUTH) {
		akmc_fail(c, "protocol error: WELCOME before the handshake was done");
		return;
	}
	if (!c->session_conn) {
		/* the session epoch is the server's word: checked before it is kept */
		if (!ep->v || !m->tb[AKMP_T_PROOF].v || !akmp_u32(ep) ||
		    prove(c, "welcome", akmp_u32(ep), pw) ||
		    sodium_memcmp(pw, m->tb[AKMP_T_PROOF].v, sizeof(pw))) {
			akmc_fail(c, "the %s's WELCOME on a bootstrap connection has no session "
				  "epoch with a valid proof", c->server);
			return;
		}
		/* bootstrap connection done: switch, and come back authenticated */
		c->epoch = akmp_u32(ep);
		akmc_close(c, true);
		err = c->ops->session(c, c->epoch);
		if (err) {
			akmc_fail(c, "cannot key the provisioning ASR for session epoch %u: %s%s%s",
				  c->epoch, strerror(-err), *kmsg(c) ? ": " : "", kmsg(c));
			return;
		}
		c->ops->log("activated by %s %u: session epoch %u, reconnecting authenticated",
			    c->server, c->peer, c->epoch);
		c->session_conn = true;
		c->st = AKMC_IDLE;
		c->wake = akmc_now_ms() + AKMC_SWITCH_MS;
		c->ops->changed(c, "switching");
		return;
	}
	if (ep->v) {
		akmc_fail(c, "protocol error: a session epoch in WELCOME on a session connection");
		return;
	}
	c->ops->log("session with %s %u up (session epoch %u)%s", c->server, c->peer, c->epoch,
		    c->fresh ? "; told it this kernel lost its state" : "");
	c->st = AKMC_SESSION;
	c->peer_flags = akmp_u32(&m->tb[AKMP_T_FLAGS]);	/* 0 if none */
	c->fresh = false;
	c->backoff = AKMC_BACKOFF_MIN_MS;
	c->next_hb = akmc_now_ms();
	c->wake = c->next_hb + AKMC_SILENCE_MS;
	c->sessions++;
	c->error[0] = '\0';
	c->ops->changed(c, "session");
}

static void on_msg(struct akmc *c, const struct akmp_msg *m)
{
	c->last_contact = time(NULL);
	if (c->ops->debug)
		c->ops->debug("received %s", akmp_type_name(m->type));
	if (c->st == AKMC_HELLO && m->type == AKMP_CHALLENGE)
		on_challenge(c, m);
	else if ((c->st == AKMC_HELLO || c->st == AKMC_AUTH) && m->type == AKMP_WELCOME)
		on_welcome(c, m);	/* in AKMC_HELLO only a refusal */
	else if (c->st == AKMC_SESSION && m->type != AKMP_HEARTBEAT)
		c->ops->message(c, m);
	else if (c->st != AKMC_SESSION)
		akmc_fail(c, "protocol error: unexpected %s during the handshake",
			  akmp_type_name(m->type));
}

/* A few frames a call: a server that keeps sending holds up nothing else of the owner's. */
static void on_readable(struct akmc *c)
{
	unsigned int frames = 0;
	struct akmp_msg m;
	int ret;

	while (c->fd >= 0 && (c->st == AKMC_HELLO || c->st == AKMC_AUTH ||
			      c->st == AKMC_SESSION) && frames++ < AKMC_FRAMES_PER_CALL) {
		ret = akmp_read(c->fd, &c->rd);
		if (!ret)
			return;
		if (ret == -EPIPE) {
			akmc_fail(c, "the %s closed the connection", c->server);
			return;
		}
		if (ret < 0) {
			akmc_fail(c, "reading from the %s: %s", c->server, strerror(-ret));
			return;
		}
		if (c->st == AKMC_SESSION)
			c->wake = akmc_now_ms() + AKMC_SILENCE_MS;
		ret = akmp_parse(c->rd.buf, c->rd.len, &m);
		if (ret) {
			akmc_fail(c, "malformed message from the %s: %s", c->server,
				  strerror(-ret));
			return;
		}
		on_msg(c, &m);
	}
}

int akmc_poll_fd(const struct akmc *c, short *events)
{
	*events = c->st == AKMC_CONNECTING ? POLLOUT :
		  POLLIN | (akmp_pending(&c->out) ? POLLOUT : 0);
	return c->fd;
}

const char *akmc_state_name(const struct akmc *c)
{
	switch (c->st) {
	case AKMC_IDLE:
		return c->session_conn ? "switching" : "backoff";
	case AKMC_CONNECTING:
		return "connecting";
	case AKMC_HELLO:
	case AKMC_AUTH:
		return "handshake";
	case AKMC_SESSION:
		return "session";
	}
	return "?";
}

int64_t akmc_wake(const struct akmc *c)
{
	return c->st == AKMC_SESSION && c->next_hb < c->wake ? c->next_hb : c->wake;
}

void akmc_io(struct akmc *c, short revents)
{
	if (c->fd < 0 || !revents)
		return;
	if (c->st == AKMC_CONNECTING) {
		on_connected(c);
		return;
	}
	if ((revents & POLLOUT) && akmp_pending(&c->out) && akmp_flush(c->fd, &c->out) < 0) {
		akmc_fail(c, "sending to the %s: %s", c->server, strerror(errno));
		return;
	}
	if (revents & (POLLIN | POLLHUP | POLLERR))
		on_readable(c);
}

static void heartbeat(struct akmc *c)
{
	int err = c->ops->heartbeat(c);

	if (!err)
		err = akmp_flush(c->fd, &c->out);
	if (err < 0) {
		akmc_fail(c, "sending a heartbeat: %s", strerror(-err));
		return;
	}
	c->next_hb = akmc_now_ms() + AKMC_HEARTBEAT_MS;
	c->ops->changed(c, "session");
}

void akmc_timer(struct akmc *c)
{
	int64_t now = akmc_now_ms();

	if (c->st == AKMC_IDLE) {
		if (now >= c->wake)
			attempt(c);
		return;
	}
	if (c->st == AKMC_SESSION && now >= c->next_hb)
		heartbeat(c);
	if (c->st != AKMC_IDLE && now >= c->wake)
		akmc_fail(c, c->st == AKMC_CONNECTING ? "no connection to the %s within %d s" :
			  c->st == AKMC_SESSION ? "the %s was silent for %d s" :
			  "handshake with the %s not done within %d s", c->server,
			  (c->st == AKMC_CONNECTING ? AKMC_CONNECT_MS :
			   c->st == AKMC_SESSION ? AKMC_SILENCE_MS : AKMC_HANDSHAKE_MS) / 1000);
}

void akmc_kick(struct akmc *c)
{
	if (c->st == AKMC_IDLE) {
		c->wake = akmc_now_ms();
		c->backoff = AKMC_BACKOFF_MIN_MS;
	}
}
