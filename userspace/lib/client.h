/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The connecting side of Documentation/protocol.md's connections: a node's
 * agent to its NMM, and a site's NMM to the root. A bootstrap connection
 * (plain, the provisioning ASR in bootstrap mode) ends with WELCOME
 * carrying a session epoch; the client resets it, keys the provisioning
 * ASR for that epoch and opens the session connection, authenticated by
 * the kernel, on which both sides send HEARTBEATs and the server sends its
 * messages. Any failure goes back to a bootstrap connection after an
 * exponential backoff (1 s doubling to 60 s, with jitter). The kernel
 * makes every proof: the credential shared with the server is installed
 * under CRED_ID = the server's id.
 *
 * The owner polls the client's socket (akmc_poll_fd()), calls akmc_io()
 * when it is ready and akmc_timer() by akmc_wake(); what is particular to
 * it is in struct akmc_ops.
 */
#ifndef AKM_CLIENT_H
#define AKM_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "libakm.h"
#include "proto.h"

#define AKMC_CONNECT_MS		10000
#define AKMC_HANDSHAKE_MS	15000
#define AKMC_HEARTBEAT_MS	(AKMP_HEARTBEAT_SECS * 1000)
#define AKMC_SILENCE_MS		(3 * AKMC_HEARTBEAT_MS)
#define AKMC_BACKOFF_MIN_MS	1000
#define AKMC_BACKOFF_MAX_MS	60000
#define AKMC_SWITCH_MS		200	/* bootstrap connection reset -> session one */
#define AKMC_FRAMES_PER_CALL	16	/* read by one akmc_io() */

enum akmc_state { AKMC_IDLE, AKMC_CONNECTING, AKMC_HELLO, AKMC_AUTH, AKMC_SESSION };

struct akmc;

struct akmc_ops {
	/*
	 * Before each connection: c->nl usable, the credential in the kernel
	 * (set c->fresh if it had to be installed again), the node id set;
	 * for a bootstrap connection the provisioning ASR in bootstrap mode.
	 * 0, or a negative errno after calling akmc_fail() (which it must).
	 */
	int (*prepare)(struct akmc *c, bool session);
	/* Key the provisioning ASR for the session epoch (a bootstrap connection's WELCOME). */
	int (*session)(struct akmc *c, uint32_t epoch);
	/* The last session epoch of the provisioning ASR in the kernel, 0 if none. */
	uint32_t (*last)(struct akmc *c);
	/* A message on the session other than HEARTBEAT; may call akmc_fail(). */
	void (*message)(struct akmc *c, const struct akmp_msg *m);
	/* Queue this side's HEARTBEAT(s) on c->out; 0 or -errno. */
	int (*heartbeat)(struct akmc *c);
	/* The state changed ("backoff", "connecting", "handshake", "switching", "session"). */
	void (*changed)(struct akmc *c, const char *state);
	void (*log)(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
	/* optional */
	void (*debug)(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
};

struct akmc {
	/* set by the owner */
	const struct akmc_ops *ops;
	void *arg;
	const char *server;		/* "NMM", "root": for messages */
	const char *role;		/* this side: "node", "site" */
	uint32_t self, peer;		/* HELLO NODE_ID and NMM_ID */
	struct akm_addr addr;		/* the server's */
	uint16_t port;
	struct akm_addr src;		/* connect from this address (family 0: any) */
	struct akm_sock *nl;		/* for the proofs (ops->prepare may open it anew) */
	bool fresh;			/* HELLO FLAGS bit 0 until a session */
	uint32_t flags;			/* HELLO FLAGS it always sends (what it takes) */
	uint32_t peer_flags;		/* the session WELCOME's FLAGS (what the server takes) */
	/* the client's */
	int fd;
	enum akmc_state st;
	bool session_conn;		/* the current (or next) connection is a session one */
	uint32_t epoch;			/* the session epoch of the last bootstrap WELCOME */
	struct akmp_hs hs;
	struct akmp_reader rd;
	struct akmp_outq out;
	int64_t wake;			/* AKMC_IDLE: the next attempt; else the deadline */
	int64_t next_hb;
	unsigned int backoff;
	char error[160];		/* the last failure */
	int64_t last_contact;		/* time(NULL) of the server's last message, 0: none */
	uint64_t connects, sessions;
};

int64_t akmc_now_ms(void);	/* CLOCK_MONOTONIC */
/* Before the first use: a first attempt at once. */
void akmc_init(struct akmc *c);
/* Give up this connection; the next one is a bootstrap connection, after the backoff. */
void akmc_fail(struct akmc *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Queue, and try to send, a message (b is freed); a failure is akmc_fail(). */
int akmc_send(struct akmc *c, struct akmp_buf *b);
/* What to poll: the socket and its events (fd -1: none), and the next timer (ms). */
int akmc_poll_fd(const struct akmc *c, short *events);
int64_t akmc_wake(const struct akmc *c);	/* akmc_now_ms() of the next timer */
/* "backoff", "connecting", "handshake", "switching", "session" */
const char *akmc_state_name(const struct akmc *c);
void akmc_io(struct akmc *c, short revents);
void akmc_timer(struct akmc *c);
/* Now, if waiting: the backoff starts again. */
void akmc_kick(struct akmc *c);
void akmc_close(struct akmc *c, bool reset);

#endif /* AKM_CLIENT_H */
