// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The daemon: one poll() loop over the NMM connection (lib/client.c:
 * bootstrap and session connections, heartbeats, the backoff), the
 * kernel's event socket and a signalfd. On the session the NMM sends
 * ASR_CONFIG, ACTIVATE and LEAVE, which go to the kernel here.
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
#include <time.h>
#include <unistd.h>
#include <netlink/attr.h>
#include <sodium.h>
#include <systemd/sd-daemon.h>

#include "agent.h"
#include "client.h"

struct agent {
	const char *dir;
	struct agent_conf c;
	struct akmc cl;			/* the connection to the NMM; cl.nl for requests */
	struct akm_sock *ev;		/* events */
	int sig;
	struct agent_status status;
	bool ready;			/* READY=1 sent to systemd */
	bool stop;
};

static struct agent *agent_of(struct akmc *cl)
{
	return cl->arg;
}

static const char *kmsg(const struct agent *a)
{
	return a->cl.nl ? akm_errmsg(a->cl.nl) : "";
}

static void save_status(struct agent *a, const char *state)
{
	if (state && strcmp(state, a->status.state)) {
		snprintf(a->status.state, sizeof(a->status.state), "%s", state);
		a->status.since = time(NULL);
	}
	snprintf(a->status.conn, sizeof(a->status.conn), "%s",
		 a->cl.session_conn ? "session" : "bootstrap");
	a->status.epoch = a->cl.epoch;
	a->status.connects = a->cl.connects;
	a->status.sessions = a->cl.sessions;
	a->status.last_contact = a->cl.last_contact;
	snprintf(a->status.error, sizeof(a->status.error), "%s", a->cl.error);
	status_save(a->dir, &a->status);
	sd_notifyf(0, "STATUS=node %u, NMM %u: %s (%s connection)", a->c.node_id, a->c.nmm_id,
		   a->status.state, a->status.conn);
}

static void changed(struct akmc *cl, const char *state)
{
	save_status(agent_of(cl), state);
}

static int open_netlink(struct agent *a)
{
	int err;

	akm_close(a->cl.nl);
	akm_close(a->ev);
	a->cl.nl = a->ev = NULL;
	err = akm_open(&a->cl.nl);
	if (!err)
		err = akm_open(&a->ev);
	if (!err)
		err = akm_subscribe(a->ev);
	if (err == -AKM_ENOFAMILY)
		agent_log("%s", AKM_NOFAMILY_MSG);
	return err;
}

/* Before each connection: the kernel holds the credential, the node id, bootstrap mode. */
static int prepare(struct akmc *cl, bool session)
{
	struct agent *a = agent_of(cl);
	int err;

	err = open_netlink(a);
	if (err) {
		akmc_fail(cl, "netlink: %s", strerror(-err));
		return err;
	}
	err = kern_cred_present(cl->nl, &a->c);
	if (!err) {
		agent_log("the kernel lost the credential (fresh boot?): installing it again from %s",
			  a->c.tpm ? "the TPM" : "the state directory");
		err = kern_cred_reinstall(a->dir, &a->c);
		if (!err)
			cl->fresh = true;
	}
	if (err < 0) {
		akmc_fail(cl, "credential: %s", strerror(-err));
		return err;
	}
	err = kern_node_id(cl->nl, &a->c);
	if (!err && !session)
		err = kern_bootstrap(cl->nl, &a->c);
	if (err) {
		akmc_fail(cl, "preparing the kernel: %s%s%s", strerror(-err), *kmsg(a) ? ": " : "",
			  kmsg(a));
		return err;
	}
	if (!a->ready) {	/* the kernel holds the credential and node id again */
		sd_notify(0, "READY=1");
		a->ready = true;
	}
	return 0;
}

static int session(struct akmc *cl, uint32_t epoch)
{
	return kern_session(cl->nl, &agent_of(cl)->c, epoch);
}

static uint32_t last(struct akmc *cl)
{
	return kern_session_last(cl->nl, &agent_of(cl)->c);
}

static int heartbeat(struct akmc *cl)
{
	return kern_heartbeats(cl->nl, &cl->out);
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
	akmc_send(&a->cl, &b);
}

static void on_asr_config(struct agent *a, const struct akmp_msg *m)
{
	struct akmp_asr_config cfg;
	uint32_t last = 0;
	int err;

	err = akmp_asr_config_parse(m, &cfg);
	if (err) {
		akmc_fail(&a->cl, "malformed ASR_CONFIG from the NMM");
		return;
	}
	err = kern_asr_config(a->cl.nl, &a->c, &cfg, &last);
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

static void on_session_msg(struct akmc *cl, const struct akmp_msg *m)
{
	struct agent *a = agent_of(cl);
	uint32_t asr, epoch;
	int err;

	switch (m->type) {
	case AKMP_ASR_CONFIG:
		on_asr_config(a, m);
		break;
	case AKMP_ACTIVATE:
		asr = akmp_u32(&m->tb[AKMP_T_ASR_ID]);
		epoch = akmp_u32(&m->tb[AKMP_T_EPOCH]);
		err = kern_activate(cl->nl, &a->c, asr, epoch);
		if (err)
			agent_log("ASR %u: cannot activate epoch %u: %s%s%s", asr, epoch,
				  strerror(-err), *kmsg(a) ? ": " : "", kmsg(a));
		else
			agent_log("ASR %u: epoch %u active", asr, epoch);
		send_ack(a, asr, epoch, err, 0);
		break;
	case AKMP_LEAVE:
		asr = akmp_u32(&m->tb[AKMP_T_ASR_ID]);
		err = kern_leave(cl->nl, &a->c, asr);
		if (err)
			agent_log("ASR %u: cannot leave: %s", asr, strerror(-err));
		else
			agent_log("ASR %u: left (removed by the NMM)", asr);
		break;
	default:
		akmc_fail(cl, "protocol error: unexpected %s in a session",
			  akmp_type_name(m->type));
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
	if (a->cl.st != AKMC_SESSION || asr == kern_prov_asr(&a->c))
		return 0;
	akmp_begin(&b, AKMP_EVENT);
	akmp_put_u32(&b, AKMP_T_ASR_ID, asr);
	akmp_put_str(&b, AKMP_T_NAME, name ? name : "unknown");
	akmp_put_u64(&b, AKMP_T_VALUE, count);
	a->status.events++;
	if (!akmc_send(&a->cl, &b))
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

static int setup(struct agent *a, const char *dir, int *lock)
{
	char msg[512], path[4096];
	sigset_t set;

	a->dir = dir;
	a->sig = *lock = -1;
	a->status.pid = getpid();
	akmc_init(&a->cl);
	if (sodium_init() < 0)
		return -EIO;
	if (conf_load(dir, &a->c, msg, sizeof(msg))) {
		agent_log("%s", msg);
		return -ENOENT;
	}
	a->cl.self = a->c.node_id;
	a->cl.peer = a->c.nmm_id;
	a->cl.addr = a->c.nmm_addr;
	a->cl.port = a->c.nmm_port;
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
		  a->cl.st == AKMC_IDLE ? "connecting to the NMM now" :
		  "the connection to the NMM stays");
	akmc_kick(&a->cl);
	if (a->ready)
		sd_notify(0, "READY=1");
	return false;
}

static const struct akmc_ops agent_ops = {
	.prepare = prepare,
	.session = session,
	.last = last,
	.message = on_session_msg,
	.heartbeat = heartbeat,
	.changed = changed,
	.log = agent_log,
	.debug = agent_debug,
};

int agent_run(const char *dir)
{
	struct agent a = { .cl = { .ops = &agent_ops, .server = "NMM", .role = "node" } };
	int lock, err;

	a.cl.arg = &a;
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
			{ .fd = -1 },
		};
		int64_t now, until;

		akmc_timer(&a.cl);
		p[2].fd = akmc_poll_fd(&a.cl, &p[2].events);
		p[1].fd = a.ev ? akm_fd(a.ev) : -1;
		now = akmc_now_ms();
		until = akmc_wake(&a.cl);
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
		if (p[2].fd >= 0)
			akmc_io(&a.cl, p[2].revents);
	}
	if (a.dir && lock >= 0) {
		a.cl.session_conn = false;
		save_status(&a, "stopped");
	}
	akmc_close(&a.cl, false);
	akm_close(a.cl.nl);
	akm_close(a.ev);
	if (a.sig >= 0)
		close(a.sig);
	if (lock >= 0)
		close(lock);
	return err;
}
