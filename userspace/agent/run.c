// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The daemon: one poll() loop over the NMM connection, the kernel's event
 * socket and a signalfd.
 *
 * Connections (Documentation/protocol.md, "Step 3"): a bootstrap connection
 * (plain, the provisioning ASR in bootstrap mode) ends with WELCOME carrying
 * a session epoch; the agent resets it, keys the provisioning ASR for that
 * epoch and opens the session connection, authenticated by the kernel, on
 * which the NMM sends ASR_CONFIG, ACTIVATE and LEAVE and both sides send
 * HEARTBEATs. Any failure goes back to a bootstrap connection after an
 * exponential backoff (1 s doubling to 60 s, with jitter).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netlink/attr.h>
#include <sodium.h>
#include <systemd/sd-daemon.h>

#include "agent.h"

#define CONNECT_MS	10000
#define HANDSHAKE_MS	15000
#define HEARTBEAT_MS	(AKMP_HEARTBEAT_SECS * 1000)
#define SILENCE_MS	(3 * HEARTBEAT_MS)
#define BACKOFF_MIN_MS	1000
#define BACKOFF_MAX_MS	60000
#define SWITCH_MS	200	/* bootstrap connection reset -> session connection */

enum conn_state { ST_IDLE, ST_CONNECTING, ST_HELLO, ST_AUTH, ST_SESSION };

struct agent {
	const char *dir;
	struct agent_conf c;
	struct akm_sock *nl;		/* requests */
	struct akm_sock *ev;		/* events */
	int sig, fd;
	enum conn_state st;
	bool session_conn;		/* the current (or next) connection is a session one */
	uint32_t epoch;			/* session epoch of the last bootstrap WELCOME */
	bool fresh;			/* the kernel had lost its state: HELLO FLAGS bit 0 */
	struct akmp_hs hs;		/* this connection's handshake */
	struct akmp_reader rd;
	struct akmp_outq out;
	int64_t wake;			/* ST_IDLE: next attempt; else the deadline */
	int64_t next_hb;
	unsigned int backoff;
	struct agent_status status;
	bool ready;			/* READY=1 sent to systemd */
	bool stop;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *kmsg(const struct agent *a)
{
	return a->nl ? akm_errmsg(a->nl) : "";
}

static void save_status(struct agent *a, const char *state)
{
	if (state && strcmp(state, a->status.state)) {
		snprintf(a->status.state, sizeof(a->status.state), "%s", state);
		a->status.since = time(NULL);
	}
	snprintf(a->status.conn, sizeof(a->status.conn), "%s",
		 a->session_conn ? "session" : "bootstrap");
	a->status.epoch = a->epoch;
	status_save(a->dir, &a->status);
	sd_notifyf(0, "STATUS=node %u, NMM %u: %s (%s connection)", a->c.node_id, a->c.nmm_id,
		   a->status.state, a->status.conn);
}

static void conn_close(struct agent *a, bool reset)
{
	if (a->fd >= 0) {
		if (reset) {	/* nothing left to send: no FIN exchange after the switch */
			struct linger l = { .l_onoff = 1, .l_linger = 0 };

			setsockopt(a->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		}
		close(a->fd);
		a->fd = -1;
	}
	akmp_reader_free(&a->rd);
	akmp_outq_free(&a->out);
}

/* Give up this connection (attempt); the next one is a bootstrap connection. */
static void fail(struct agent *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct agent *a, const char *fmt, ...)
{
	unsigned int delay;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->status.error, sizeof(a->status.error), fmt, ap);
	va_end(ap);
	conn_close(a, true);	/* a reset: no orphan socket to linger after the switch */
	a->st = ST_IDLE;
	a->session_conn = false;
	/* 75% to 125% of the backoff, at most the cap */
	delay = a->backoff * 3 / 4 + randombytes_uniform(a->backoff / 2 + 1);
	if (delay > BACKOFF_MAX_MS)
		delay = BACKOFF_MAX_MS;
	a->wake = now_ms() + delay;
	agent_log("%s; next attempt in %.1f s", a->status.error, delay / 1000.0);
	a->backoff = a->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : a->backoff * 2;
	save_status(a, "backoff");
}

/* Build, queue and try to send a message. */
static int send_msg(struct agent *a, struct akmp_buf *b)
{
	int err = akmp_end(b);

	if (!err)
		err = akmp_queue(&a->out, b);
	akmp_buf_free(b);
	if (!err)
		err = akmp_flush(a->fd, &a->out);
	if (err < 0) {
		fail(a, "sending to the NMM: %s", strerror(-err));
		return err;
	}
	return 0;
}

static int open_netlink(struct agent *a)
{
	int err;

	akm_close(a->nl);
	akm_close(a->ev);
	a->nl = a->ev = NULL;
	err = akm_open(&a->nl);
	if (!err)
		err = akm_open(&a->ev);
	if (!err)
		err = akm_subscribe(a->ev);
	if (err == -AKM_ENOFAMILY)
		agent_log("%s", AKM_NOFAMILY_MSG);
	return err;
}

/* Kernel checks, then a non-blocking connect. */
static void attempt(struct agent *a)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sslen;
	int err;

	err = open_netlink(a);
	if (err) {
		fail(a, "netlink: %s", strerror(-err));
		return;
	}
	err = kern_cred_present(a->nl, &a->c);
	if (!err) {
		agent_log("the kernel lost the credential (fresh boot?): installing it again from %s",
			  a->c.tpm ? "the TPM" : "the state directory");
		err = kern_cred_reinstall(a->dir, &a->c);
		if (!err)
			a->fresh = true;
	}
	if (err < 0) {
		fail(a, "credential: %s", strerror(-err));
		return;
	}
	err = kern_node_id(a->nl, &a->c);
	if (!err && !a->session_conn)
		err = kern_bootstrap(a->nl, &a->c);
	if (err) {
		fail(a, "preparing the kernel: %s%s%s", strerror(-err), *kmsg(a) ? ": " : "",
		     kmsg(a));
		return;
	}
	if (!a->ready) {	/* the kernel holds the credential and node id again */
		sd_notify(0, "READY=1");
		a->ready = true;
	}

	if (a->c.nmm_addr.family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_addr = a->c.nmm_addr.v4;
		sin->sin_port = htons(a->c.nmm_port);
		sslen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = a->c.nmm_addr.v6;
		sin6->sin6_port = htons(a->c.nmm_port);
		sslen = sizeof(*sin6);
	}
	a->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (a->fd < 0) {
		fail(a, "socket: %s", strerror(errno));
		return;
	}
	a->status.connects++;
	agent_debug("connecting (%s connection)", a->session_conn ? "session" : "bootstrap");
	if (connect(a->fd, (struct sockaddr *)&ss, sslen) && errno != EINPROGRESS) {
		fail(a, "connect: %s", strerror(errno));
		return;
	}
	a->st = ST_CONNECTING;
	a->wake = now_ms() + CONNECT_MS;
	save_status(a, "connecting");
}

static void send_hello(struct agent *a)
{
	struct akmp_buf b = { 0 };
	struct akm_node self;

	memset(&a->hs, 0, sizeof(a->hs));	/* no proof of an earlier handshake counts */
	a->hs.node = a->c.node_id;
	a->hs.nmm = a->c.nmm_id;
	randombytes_buf(a->hs.nn, sizeof(a->hs.nn));
	a->hs.flags = a->fresh ? AKMP_FLAG_FRESH : 0;
	a->hs.last = kern_session_last(a->nl, &a->c);
	a->hs.instance = akm_node_get(a->nl, &self) ? 0 : self.instance;
	a->hs.session = a->session_conn ? a->epoch : 0;
	if (!a->hs.instance) {	/* the NMM could not tell a new kernel state */
		fail(a, "the kernel gives no AKM instance: akm.ko older than this agent?");
		return;
	}
	akmp_begin(&b, AKMP_HELLO);
	akmp_put_u8(&b, AKMP_T_VERSION, AKMP_VERSION);
	akmp_put_u32(&b, AKMP_T_NODE_ID, a->hs.node);
	akmp_put_u32(&b, AKMP_T_NMM_ID, a->hs.nmm);
	akmp_put(&b, AKMP_T_NONCE, a->hs.nn, sizeof(a->hs.nn));
	akmp_put_u32(&b, AKMP_T_FLAGS, a->hs.flags);
	akmp_put_u32(&b, AKMP_T_EPOCH, a->hs.last);
	akmp_put_u64(&b, AKMP_T_INSTANCE, a->hs.instance);
	akmp_put_u32(&b, AKMP_T_SESSION, a->hs.session);
	if (send_msg(a, &b))
		return;
	a->st = ST_HELLO;
	a->wake = now_ms() + HANDSHAKE_MS;
	save_status(a, "handshake");
}

static void on_connected(struct agent *a)
{
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	if (getsockopt(a->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) || soerr) {
		fail(a, "cannot connect to the NMM: %s", strerror(soerr ? soerr : errno));
		return;
	}
	send_hello(a);
}

/* The kernel's proof over label || T [|| be32 epoch] with the credential shared with the NMM. */
static int prove(struct agent *a, const char *label, uint32_t epoch, uint8_t *out)
{
	uint8_t data[AKMP_PROOF_INPUT_MAX];
	size_t len = akmp_proof_input(data, label, &a->hs, epoch);

	return akm_cred_prove(a->nl, a->c.nmm_id, data, len, out);
}

static void on_challenge(struct agent *a, const struct akmp_msg *m)
{
	uint8_t pm[AKMP_PROOF_LEN], pn[AKMP_PROOF_LEN];
	struct akmp_buf b = { 0 };
	int err;

	memcpy(a->hs.nm, m->tb[AKMP_T_NONCE].v, sizeof(a->hs.nm));
	/* the NMM proves first; we prove nothing to an NMM that could not */
	err = prove(a, "nmm", 0, pm);
	if (err) {
		fail(a, "the kernel cannot prove with the credential: %s%s%s", strerror(-err),
		     *kmsg(a) ? ": " : "", kmsg(a));
		return;
	}
	if (sodium_memcmp(pm, m->tb[AKMP_T_PROOF].v, sizeof(pm))) {
		fail(a, "the NMM failed to prove it holds this node's credential");
		return;
	}
	err = prove(a, "node", 0, pn);
	if (err) {
		fail(a, "the kernel cannot prove with the credential: %s", strerror(-err));
		return;
	}
	akmp_begin(&b, AKMP_AUTH);
	akmp_put(&b, AKMP_T_PROOF, pn, sizeof(pn));
	if (send_msg(a, &b))
		return;
	a->st = ST_AUTH;
}

static void on_welcome(struct agent *a, const struct akmp_msg *m)
{
	const struct akmp_tlv *ep = &m->tb[AKMP_T_EPOCH];
	uint32_t status = akmp_u32(&m->tb[AKMP_T_STATUS]);
	char text[AKMP_TEXT_MAX + 1] = "";
	size_t i;
	int err;

	if (m->tb[AKMP_T_MESSAGE].v && akmp_str(&m->tb[AKMP_T_MESSAGE], text, sizeof(text)))
		text[0] = '\0';
	for (i = 0; text[i]; i++)	/* the NMM's words go to the log: one line */
		if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
			text[i] = ' ';
	if (status) {
		/* EAGAIN on a session connection: the session stands, come again so */
		bool again = a->session_conn && status == EAGAIN && a->st == ST_AUTH;

		fail(a, "the NMM refused this node: %s%s%s", strerror(status), text[0] ? ": " : "",
		     text);
		a->session_conn = again;
		return;
	}
	/* only after CHALLENGE, our check of Pm and AUTH: a WELCOME before says nothing */
	if (a->st != ST_AUTH) {
		fail(a, "protocol error: WELCOME before the handshake was done");
		return;
	}
	if (!a->session_conn) {
		uint8_t pw[AKMP_PROOF_LEN];

		/* the session epoch is the NMM's word: checked before it is kept */
		if (!ep->v || !m->tb[AKMP_T_PROOF].v || !akmp_u32(ep) ||
		    prove(a, "welcome", akmp_u32(ep), pw) ||
		    sodium_memcmp(pw, m->tb[AKMP_T_PROOF].v, sizeof(pw))) {
			fail(a, "the NMM's WELCOME on a bootstrap connection has no session epoch "
			     "with a valid proof");
			return;
		}
		/* bootstrap connection done: switch, and come back authenticated */
		a->epoch = akmp_u32(ep);
		conn_close(a, true);
		err = kern_session(a->nl, &a->c, a->epoch);
		if (err) {
			fail(a, "cannot key the provisioning ASR for session epoch %u: %s%s%s",
			     a->epoch, strerror(-err), *kmsg(a) ? ": " : "", kmsg(a));
			return;
		}
		agent_log("activated by NMM %u: session epoch %u, reconnecting authenticated",
			  a->c.nmm_id, a->epoch);
		a->session_conn = true;
		a->st = ST_IDLE;
		a->wake = now_ms() + SWITCH_MS;
		save_status(a, "switching");
		return;
	}
	if (ep->v) {
		fail(a, "protocol error: a session epoch in WELCOME on a session connection");
		return;
	}
	agent_log("session with NMM %u up (session epoch %u)%s", a->c.nmm_id, a->epoch,
		  a->fresh ? "; told the NMM this kernel lost its state" : "");
	a->st = ST_SESSION;
	a->fresh = false;
	a->backoff = BACKOFF_MIN_MS;
	a->next_hb = now_ms();
	a->wake = a->next_hb + SILENCE_MS;
	a->status.sessions++;
	a->status.error[0] = '\0';
	save_status(a, "session");
}

/* ACK; for ESTALE with the ASR's last epoch here (last), so the NMM goes above it */
static void send_ack(struct agent *a, uint32_t asr, uint32_t epoch, int err, uint32_t last)
{
	struct akmp_buf b = { 0 };

	akmp_begin(&b, AKMP_ACK);
	akmp_put_u32(&b, AKMP_T_ASR_ID, asr);
	akmp_put_u32(&b, AKMP_T_EPOCH, epoch);
	akmp_put_u32(&b, AKMP_T_STATUS, -err);
	if (err == -ESTALE)
		akmp_put_u32(&b, AKMP_T_LAST, last);
	send_msg(a, &b);
}

static void on_asr_config(struct agent *a, const struct akmp_msg *m)
{
	struct akmp_asr_config cfg;
	uint32_t last = 0;
	int err;

	err = akmp_asr_config_parse(m, &cfg);
	if (err) {
		fail(a, "malformed ASR_CONFIG from the NMM");
		return;
	}
	err = kern_asr_config(a->nl, &a->c, &cfg, &last);
	if (err < 0)
		agent_log("ASR %u epoch %u: not installed: %s%s%s", cfg.asr_id, cfg.epoch,
			  strerror(-err), *kmsg(a) ? ": " : "", kmsg(a));
	else if (err)
		agent_debug("ASR %u: epoch %u is installed already; members up to date",
			    cfg.asr_id, cfg.epoch);
	else
		agent_log("ASR %u: epoch %u installed as next (%u members)", cfg.asr_id,
			  cfg.epoch, cfg.nmembers);
	err = err < 0 ? err : 0;
	a->status.configs++;
	send_ack(a, cfg.asr_id, cfg.epoch, err, last);
	akmp_asr_config_free(&cfg);
}

static void on_session_msg(struct agent *a, const struct akmp_msg *m)
{
	uint32_t asr, epoch;
	int err;

	switch (m->type) {
	case AKMP_ASR_CONFIG:
		on_asr_config(a, m);
		break;
	case AKMP_ACTIVATE:
		asr = akmp_u32(&m->tb[AKMP_T_ASR_ID]);
		epoch = akmp_u32(&m->tb[AKMP_T_EPOCH]);
		err = kern_activate(a->nl, &a->c, asr, epoch);
		if (err)
			agent_log("ASR %u: cannot activate epoch %u: %s%s%s", asr, epoch,
				  strerror(-err), *kmsg(a) ? ": " : "", kmsg(a));
		else
			agent_log("ASR %u: epoch %u active", asr, epoch);
		send_ack(a, asr, epoch, err, 0);
		break;
	case AKMP_LEAVE:
		asr = akmp_u32(&m->tb[AKMP_T_ASR_ID]);
		err = kern_leave(a->nl, &a->c, asr);
		if (err)
			agent_log("ASR %u: cannot leave: %s", asr, strerror(-err));
		else
			agent_log("ASR %u: left (removed by the NMM)", asr);
		break;
	case AKMP_HEARTBEAT:
		break;
	default:
		fail(a, "protocol error: unexpected %s in a session", akmp_type_name(m->type));
	}
}

static void on_msg(struct agent *a, const struct akmp_msg *m)
{
	a->status.last_contact = time(NULL);
	agent_debug("received %s", akmp_type_name(m->type));
	if (a->st == ST_HELLO && m->type == AKMP_CHALLENGE)
		on_challenge(a, m);
	else if ((a->st == ST_HELLO || a->st == ST_AUTH) && m->type == AKMP_WELCOME)
		on_welcome(a, m);	/* in ST_HELLO only a refusal */
	else if (a->st == ST_SESSION)
		on_session_msg(a, m);
	else
		fail(a, "protocol error: unexpected %s during the handshake",
		     akmp_type_name(m->type));
}

static void on_readable(struct agent *a)
{
	struct akmp_msg m;
	int ret;

	while (a->fd >= 0 && (a->st == ST_HELLO || a->st == ST_AUTH || a->st == ST_SESSION)) {
		ret = akmp_read(a->fd, &a->rd);
		if (!ret)
			return;
		if (ret == -EPIPE) {
			fail(a, "the NMM closed the connection");
			return;
		}
		if (ret < 0) {
			fail(a, "reading from the NMM: %s", strerror(-ret));
			return;
		}
		if (a->st == ST_SESSION)
			a->wake = now_ms() + SILENCE_MS;
		ret = akmp_parse(a->rd.buf, a->rd.len, &m);
		if (ret) {
			fail(a, "malformed message from the NMM: %s", strerror(-ret));
			return;
		}
		on_msg(a, &m);
	}
}

static int on_event(const struct akm_msg *msg, void *arg)
{
	struct agent *a = arg;
	struct akmp_buf b = { 0 };
	const char *name;
	uint32_t asr, count;
	uint8_t reason;

	if (msg->cmd != AKM_CMD_AUTH_FAILURE)
		return 0;
	asr = msg->tb[AKM_A_ASR_ID] ? nla_get_u32(msg->tb[AKM_A_ASR_ID]) : 0;
	count = msg->tb[AKM_A_FAIL_COUNT] ? nla_get_u32(msg->tb[AKM_A_FAIL_COUNT]) : 0;
	reason = msg->tb[AKM_A_FAIL_REASON] ? nla_get_u8(msg->tb[AKM_A_FAIL_REASON]) : 0;
	name = akm_enum_name(AKM_ENUM_STATS, reason);
	agent_debug("kernel: %u authentication failures, last %s, ASR %u", count,
		    name ? name : "?", asr);
	/*
	 * Not for the provisioning ASR: its drops follow every switch between
	 * bootstrap and session mode on either side (a restart, a reconnect),
	 * and the heartbeat's counters carry them. Not outside a session either.
	 */
	if (a->st != ST_SESSION || asr == kern_prov_asr(&a->c))
		return 0;
	akmp_begin(&b, AKMP_EVENT);
	akmp_put_u32(&b, AKMP_T_ASR_ID, asr);
	akmp_put_str(&b, AKMP_T_NAME, name ? name : "unknown");
	akmp_put_u64(&b, AKMP_T_VALUE, count);
	a->status.events++;
	if (!send_msg(a, &b))
		save_status(a, NULL);
	return 0;
}

static void on_events(struct agent *a)
{
	int err = akm_recv_events(a->ev, on_event, a);

	if (err == -ENOBUFS) {
		agent_log("kernel events were lost (queue overflow)");
	} else if (err) {	/* reopened with the next connection */
		agent_log("kernel events: %s", strerror(-err));
		akm_close(a->ev);
		a->ev = NULL;
	}
}

static void heartbeat(struct agent *a)
{
	int err = kern_heartbeats(a->nl, &a->out);

	if (!err)
		err = akmp_flush(a->fd, &a->out);
	if (err < 0) {
		fail(a, "sending a heartbeat: %s", strerror(-err));
		return;
	}
	a->next_hb = now_ms() + HEARTBEAT_MS;
	save_status(a, NULL);
}

static void on_timer(struct agent *a, int64_t now)
{
	if (a->st == ST_IDLE && now >= a->wake) {
		attempt(a);
		return;
	}
	if (a->st == ST_SESSION && now >= a->next_hb)
		heartbeat(a);
	if (a->st != ST_IDLE && now >= a->wake)
		fail(a, a->st == ST_CONNECTING ? "no connection to the NMM within %d s"
		     : a->st == ST_SESSION ? "the NMM was silent for %d s"
		     : "handshake not done within %d s",
		     (a->st == ST_CONNECTING ? CONNECT_MS : a->st == ST_SESSION ? SILENCE_MS
		      : HANDSHAKE_MS) / 1000);
}

static int setup(struct agent *a, const char *dir, int *lock)
{
	char msg[512], path[4096];
	sigset_t set;

	a->dir = dir;
	a->fd = a->sig = *lock = -1;
	a->backoff = BACKOFF_MIN_MS;
	a->status.pid = getpid();
	if (sodium_init() < 0)
		return -EIO;
	if (conf_load(dir, &a->c, msg, sizeof(msg))) {
		agent_log("%s", msg);
		return -ENOENT;
	}
	if (state_path(path, sizeof(path), dir, "run.lock"))
		return -ENAMETOOLONG;
	*lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (*lock < 0 || flock(*lock, LOCK_EX | LOCK_NB)) {
		agent_log("another akm-agent runs with %s", dir);
		return -EBUSY;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	a->sig = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return a->sig < 0 ? -errno : 0;
}

/* SIGHUP: the configuration again, and the NMM now if waiting. True: stop. */
static bool on_signal(struct agent *a)
{
	struct signalfd_siginfo si;
	bool reloaded;

	if (read(a->sig, &si, sizeof(si)) != sizeof(si))
		return false;	/* EAGAIN: nothing after all */
	if (si.ssi_signo != SIGHUP) {
		agent_log("stopping; keys and membership stay in the kernel");
		sd_notify(0, "STOPPING=1");
		a->stop = true;
		return true;
	}
	if (a->ready)
		sd_notify(0, "RELOADING=1");
	reloaded = agent_reload();
	agent_log("%s; %s", reloaded ? "reloaded" : "settings kept",
		  a->st == ST_IDLE ? "connecting to the NMM now" : "the connection to the NMM stays");
	if (a->st == ST_IDLE) {
		a->wake = now_ms();
		a->backoff = BACKOFF_MIN_MS;
	}
	if (a->ready)
		sd_notify(0, "READY=1");
	return false;
}

int agent_run(const char *dir)
{
	struct agent a = { 0 };
	int lock, err;

	err = setup(&a, dir, &lock);
	if (!err) {
		agent_log("node %u, NMM %u, credential %s", a.c.node_id, a.c.nmm_id,
			  a.c.tpm ? "sealed to the TPM" : "in the state directory");
		save_status(&a, "starting");
	}
	while (!err && !a.stop) {
		struct pollfd p[3] = {
			{ .fd = a.sig, .events = POLLIN },
			{ .fd = a.ev ? akm_fd(a.ev) : -1, .events = POLLIN },
			{ .fd = a.fd, .events = POLLIN },
		};
		int64_t now = now_ms(), until;

		on_timer(&a, now);
		p[2].fd = a.fd;
		p[2].events = a.st == ST_CONNECTING ? POLLOUT
			      : POLLIN | (akmp_pending(&a.out) ? POLLOUT : 0);
		p[1].fd = a.ev ? akm_fd(a.ev) : -1;
		until = a.st == ST_SESSION && a.next_hb < a.wake ? a.next_hb : a.wake;
		if (poll(p, 3, until > now ? (int)(until - now) : 0) < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (p[0].revents && on_signal(&a))
			break;
		if (p[1].revents && a.ev)
			on_events(&a);
		if (p[2].revents && a.fd >= 0) {
			if (a.st == ST_CONNECTING) {
				on_connected(&a);
				continue;
			}
			if ((p[2].revents & POLLOUT) && akmp_pending(&a.out) &&
			    akmp_flush(a.fd, &a.out) < 0) {
				fail(&a, "sending to the NMM: %s", strerror(errno));
				continue;
			}
			if (p[2].revents & (POLLIN | POLLHUP | POLLERR))
				on_readable(&a);
		}
	}
	if (a.dir && lock >= 0) {
		a.session_conn = false;
		save_status(&a, "stopped");
	}
	conn_close(&a, false);
	akm_close(a.nl);
	akm_close(a.ev);
	if (a.sig >= 0)
		close(a.sig);
	if (lock >= 0)
		close(lock);
	return err;
}
