/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * akm-nmmd: the Network Management Module. One process, one event loop:
 * node connections (protocol.md), the admin socket (akmctl nmm ...), the
 * SQLite store and its own kernel over the akm netlink family.
 */
#ifndef NMM_H
#define NMM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <sqlite3.h>

#include "client.h"
#include "fails.h"
#include "libakm.h"
#include "proto.h"
#include "secret.h"

#define NMM_STATE_DIR		"/var/lib/akm/nmm"
#define NMM_CONFIG		"/etc/akm/nmmd.conf"
#define NMM_REKEY_TIMEOUT	5	/* s: a pending epoch activates at the latest after this */
#define NMM_STALE_JUMP_MAX	(1u << 16)	/* epochs an ESTALE ACK may skip, ... */
#define NMM_STALE_JUMP_EVERY	3600		/* ... once an hour per node and ASR */
#define NMM_FRESH_MIN		10	/* s: between two re-keys for a node's new kernel */
#define NMM_FRESH_RETRY		15	/* s: the root asked again (it re-keys one per 10 s) */
#define NMM_STATUS_PER_SEC	64	/* NODE_STATUS to the root, at most (status.c) */
#define NMM_REKEYS_PER_SEC	3	/* REKEYs to the root (it takes 4 in its second) */
#define NMM_ACKS_PER_SEC	48	/* ACKs to the root (it takes 64) */
#define NMM_RETRY_MIN		2	/* s: a failed delivery is tried again, doubling ... */
#define NMM_RETRY_MAX		60	/* ... up to this */
#define NMM_WAIT_SECS		10	/* akmctl nmm waits this long for the members to switch */
#define NMM_HANDSHAKE_TIMEOUT	10	/* s */
#define NMM_OFFLINE_AFTER	(3 * AKMP_HEARTBEAT_SECS)
#define NMM_SESSION_WAIT	10	/* s: for the session connection after the switch */
#define NMM_OUTSTANDING_MAX	64	/* unanswered ASR_CONFIG/ACTIVATE per connection */
#define NMM_ADMIN_REQ_MAX	8192
#define NMM_STMT_CACHE		251	/* prepared statements kept */
#define NMM_FRAMES_PER_PASS	16	/* read from one connection per poll pass */
#define NMM_EVENTS_PER_SEC	10	/* EVENTs of one session stored per second */
/* a credential and a provisioning ASR per node in the NMM's kernel */
#define NMM_NODES_MAX		(AKM_CREDS_MAX < AKM_ASRS_MAX ? AKM_CREDS_MAX : AKM_ASRS_MAX)
#define NMM_PENDING_MAX		256	/* connections before AUTH, all addresses */
#define NMM_PENDING_PER_ADDR	8	/* ... from one address */

enum conn_kind { CONN_NODE, CONN_ADMIN };
/* CS_WELCOMED: a bootstrap connection that got WELCOME, until the node closes it */
enum conn_state { CS_HELLO, CS_AUTH, CS_UP, CS_WELCOMED, CS_CLOSING };

struct outstanding {
	uint32_t asr, epoch;
	uint8_t type;			/* AKMP_ASR_CONFIG or AKMP_ACTIVATE */
	int64_t stale;			/* ASR_CONFIG: the delivery's stale count it answers */
	int64_t sent;			/* nmm_now() */
};

/* A pending epoch and since when (nmm_now()): it activates at the latest NMM_REKEY_TIMEOUT on. */
struct pending {
	uint32_t asr, epoch;
	int64_t since;
	bool inherited;			/* pending when the NMM started */
	uint64_t acked;			/* up.sessions when the root was sent ACK of it, 0 none */
	bool root_go;			/* the root's ACTIVATE came */
};

/* An epoch an admin request waits for (every online member switched). */
struct wait {
	uint32_t asr, epoch;
};

struct conn {
	struct conn *next;
	enum conn_kind kind;
	enum conn_state state;
	int fd;
	struct akm_addr peer;
	int64_t opened, last_rx;	/* nmm_now() */
	struct akmp_reader rd;
	struct akmp_outq out;
	/* node connections */
	uint32_t node;			/* after HELLO */
	struct akmp_hs hs;		/* the handshake */
	const char *decoy;		/* HELLO refused: why, told only after AUTH */
	uint32_t session_epoch;		/* bootstrap: WELCOME gave this epoch */
	bool closed_by_node;		/* ... and the node closed it after reading it */
	bool up;			/* a session connection that got WELCOME */
	bool dead;			/* write failed: close without flushing */
	bool noisy;			/* logged an unexpected message already */
	int64_t events_at;		/* nmm_now() of the EVENTs counted in events */
	unsigned int events;
	unsigned int nout;
	struct outstanding outq[NMM_OUTSTANDING_MAX];
	int64_t retry_at, retry_delay;	/* failed deliveries: when to try again */
	/* admin connections */
	bool watch;
	enum akm_out_mode mode;
	struct wait *waits;		/* a membership change waiting for its epochs */
	size_t nwaits;
	int64_t wait_until;		/* nmm_now() */
	struct timespec wait_start;
};

/* Where a node's provisioning ASR is in this kernel (protocol.md). */
enum node_mode { NODE_BOOTSTRAP, NODE_SESSION_WAIT, NODE_SESSION };

struct nodest {
	struct nodest *next;
	uint32_t id;
	enum node_mode mode;
	uint32_t epoch;			/* NODE_SESSION(_WAIT): the session epoch */
	int64_t since;			/* nmm_now() */
	int64_t fresh_at;		/* nmm_now() of the last re-key for a new kernel */
	struct conn *session;		/* NODE_SESSION: its connection */
	struct akm_addr addrs[AKM_ADDRS_MAX];	/* session modes: its addresses */
	unsigned int naddrs;
	struct jump {			/* ESTALE jumps of its ASRs (rekey.c) */
		uint32_t asr;
		int64_t at;		/* nmm_now() */
	} *jumps;
	size_t njumps;
	/* a new kernel at a root's site (sync.c): its ASRs' epochs when it came */
	uint64_t fresh_instance;
	struct fresh {
		uint32_t asr, epoch;
	} *fresh;
	size_t nfresh;
	int64_t fresh_asked;		/* nmm_now() of the last REKEY for it */
};

struct nmm {
	uint32_t id;
	const char *state_dir;
	bool tpm;
	sqlite3 *db;
	struct akm_master master;
	struct akm_sock *nl;
	struct akm_addr listen_addr;
	uint16_t port;
	int listen_fd, admin_fd;
	struct conn *conns;
	struct nodest *nodes;
	struct akm_fails fails;		/* failed handshakes per address */
	struct pending *pending;	/* the pending epoch of each ASR, since when */
	size_t npending;
	int64_t last_tick;
	int64_t listen_paused, admin_paused;	/* nmm_now() until which none is accepted */
	sqlite3_stmt *stmts[NMM_STMT_CACHE];	/* prepared, by the hash of their text */
	bool stmt_out[NMM_STMT_CACHE];		/* ... and handed out */
	struct akmc up;			/* the link to the root (uplink.c), if up_on */
	bool up_on, up_session;
	/* the root's instances, then the bundle's endpoint if not one of them */
	struct akmp_endpoint up_eps[AKMP_INSTANCES_MAX + 1], up_bundle;
	int up_neps, up_ep;		/* how many; the one connected to (or last tried) */
	bool up_tried;			/* a bootstrap connection was prepared */
	uint64_t up_sessions;		/* up.sessions when the pass began */
	int up_pass;			/* bootstrap connections tried in it */
	uint32_t status_next;		/* the last node reported to the root (status.c) */
	int64_t status_full;		/* nmm_now() when all were marked last */
	bool syncing;			/* between SYNC begin and end (sync.c) */
	struct behind {			/* ASRs whose epoch here is above the root's */
		uint32_t asr, node;	/* ... and a member here to ask for */
		uint32_t epoch, held;	/* the root's, ours */
		int64_t asked;		/* nmm_now() */
	} *behind;
	size_t nbehind;
	int64_t removals_at;		/* nmm_now() the root was last told of removals */
	int64_t rekey_sec;		/* nmm_now() of the REKEYs counted in rekeys */
	unsigned int rekeys;
	int64_t ack_sec;		/* nmm_now() of the ACKs counted in acks */
	unsigned int acks;
	uint64_t *synced;		/* ... the node ids it brought, ASR ids | 1 << 32 */
	size_t nsynced, synced_cap;
	char **held;			/* events of the open transaction */
	size_t nheld;
	bool stop;
};

/* main.c */
int64_t nmm_now(void);		/* seconds, CLOCK_MONOTONIC: for every timeout */
void nmm_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* An event for the log and every "akmctl nmm watch": kind, then "key value" text. */
void nmm_event(struct nmm *n, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The events held by a transaction: emitted (commit) or dropped (rollback). */
void nmm_events_release(struct nmm *n, bool emit);

/* store.c: the database. Every function returns 0 or a negative errno. */
int store_open(struct nmm *n);
void store_close(struct nmm *n);
int store_begin(struct nmm *n);
int store_commit(struct nmm *n);
void store_rollback(struct nmm *n);
/*
 * Prepare sql and bind args by types: 'i' int64_t, 'u' uint32_t, 't' text,
 * 'b' blob (pointer, size_t). NULL on error (logged).
 */
sqlite3_stmt *db_prep(struct nmm *n, const char *sql, const char *types, ...);
void db_done(struct nmm *n, sqlite3_stmt *st);	/* instead of sqlite3_finalize() */
int db_exec(struct nmm *n, const char *sql, const char *types, ...);	/* changes, or <0 */
int64_t db_int(struct nmm *n, int64_t dflt, const char *sql, const char *types, ...);
int store_meta_get(struct nmm *n, const char *k, int64_t *v);
int store_meta_set(struct nmm *n, const char *k, int64_t v);

/* secret.c: the store's secrets under the master key (lib/secret.h). */
int master_load(struct nmm *n);
/* Unseal column 0 of the first row of st (which this finalizes) into out (32 bytes). */
int load_secret(struct nmm *n, const char *ad, uint8_t *out, sqlite3_stmt *st);
/* The credential of node into c (32 bytes, from akm_secure_alloc()). */
int node_cred(struct nmm *n, uint32_t node, uint8_t *c);

/* kern.c: this machine's kernel. */
int kern_sync(struct nmm *n);
int kern_node_cred(struct nmm *n, uint32_t node);	/* (re)install a node's credential */
int kern_bootstrap(struct nmm *n, uint32_t node);	/* provisioning ASR: bootstrap */
int kern_session(struct nmm *n, uint32_t node, uint32_t epoch);
int kern_node_addrs(struct nmm *n, uint32_t node);	/* its addresses changed */
int node_addrs(struct nmm *n, uint32_t node, struct akm_member *m);	/* from the store */
int64_t kern_session_last(struct nmm *n, uint32_t node);	/* or -errno */	/* ... session */
void kern_node_del(struct nmm *n, uint32_t node);

/* peer.c: node connections. */
void peer_accept(struct nmm *n);
void accept_failed(int64_t *paused, const char *what);
int peer_input(struct nmm *n, struct conn *c);	/* <0: close it */
void peer_closed(struct nmm *n, struct conn *c);
void peer_gave_up(struct nmm *n, struct conn *c);	/* no AUTH after CHALLENGE */
struct conn *peer_find(struct nmm *n, uint32_t node);	/* its session connection */
void peer_drop(struct nmm *n, uint32_t node);	/* close its connections (flushed, reset) */
void conn_reset(struct conn *c);	/* close it now with a reset (peer.c) */
void nodest_addrs(struct nmm *n, struct nodest *s);	/* s->addrs from the store */
struct nodest *nodest(struct nmm *n, uint32_t node, bool make);
void node_bootstrap(struct nmm *n, uint32_t node, const char *why);
int conn_send(struct nmm *n, struct conn *c, struct akmp_buf *b);
bool fail_limited(struct nmm *n, const struct akm_addr *a);
void fail_record(struct nmm *n, const struct akm_addr *a);

/* rekey.c: membership changes and key delivery. */
int rekey_new_epoch(struct nmm *n, uint32_t asr);	/* inside a transaction */
/* ... of the given number and key (from the root) */
int rekey_put_epoch(struct nmm *n, uint32_t asr, uint32_t epoch, const uint8_t key[32]);
void rekey_catch_up(struct nmm *n, struct conn *c);
void rekey_ack(struct nmm *n, struct conn *c, const struct akmp_msg *m);
void rekey_tick(struct nmm *n);
void rekey_start(struct nmm *n);	/* before the loop */
void rekey_activate(struct nmm *n, uint32_t asr, uint32_t epoch);	/* the root's ACTIVATE */
void rekey_kick(struct nmm *n);		/* send what is owed to every online node */
int node_asrs(struct nmm *n, uint32_t node, uint32_t **asrs, size_t *k);
int rekey_node_asrs(struct nmm *n, uint32_t node);	/* new epoch for each ASR of node */
/*
 * Inside a transaction: the member lists other ASRs hold of the pairs in
 * asr (node: only the pairs with it; 0: all) may place addresses
 * differently now: send them again (rekey_kick() after the commit).
 */
int rekey_restale_pairs(struct nmm *n, uint32_t asr, uint32_t node);
/* ... of every ASR node is in, to every other member (its addresses changed) */
int rekey_restale_node(struct nmm *n, uint32_t node);
bool node_online(struct nmm *n, uint32_t node);
void rekey_forget_asr(struct nmm *n, uint32_t asr);	/* it was deleted */
/* An epoch jump of asr for node: 0 if allowed now (take: and counted), -EAGAIN if not yet. */
int rekey_jump(struct nmm *n, uint32_t node, uint32_t asr, bool take);

/* status.c: what the root is told of the site's nodes */
void status_mark(struct nmm *n, uint32_t node);	/* to be sent (0: all) */
void status_digest(struct nmm *n, uint32_t node, int64_t d[2]);	/* its counters changed? */
void status_tick(struct nmm *n);		/* send what is marked */

/* uplink.c: the link to the root, once a site bundle was imported. */
void uplink_start(struct nmm *n);	/* from the store, if there is one */
void uplink_stop(struct nmm *n, bool reset);
int uplink_forget(struct nmm *n);
/* Open a site bundle with its code and keep it; msg says why not. */
int uplink_import(struct nmm *n, const uint8_t *bundle, size_t len, const char *code,
		  char *msg, size_t msglen);
void uplink_show(struct nmm *n, struct akm_out *o);
/* The site's credential (C of the bundle) into c (32 bytes, from akm_secure_alloc()). */
int uplink_cred(struct nmm *n, uint8_t *c);

/* sync.c, syncasr.c, ask.c: the site's records from the root, its requests (root.md). */
int sync_message(struct nmm *n, const struct akmp_msg *m);	/* <0: the session fails */
void sync_reset(struct nmm *n);		/* a session with the root ended */
void sync_tick(struct nmm *n);		/* ask the root again for what it has not answered */
/* node del at a root's site: the node out at once here, the root told when it is reachable */
int sync_remove(struct nmm *n, uint32_t node, bool *told);
void sync_removals(struct nmm *n);	/* the session started: the root told of them */
/* A node's new kernel: 0 once the root gave new epochs of its ASRs, else -EAGAIN. */
int sync_fresh(struct nmm *n, struct nodest *s, uint64_t instance);
/* ESTALE: ask the root for an epoch of asr above last (node: a live member here). */
int sync_above(struct nmm *n, uint32_t node, uint32_t asr, uint32_t epoch, uint32_t last);
/* Does the root activate asr's epochs (members at other sites, its session says so)? */
bool sync_acks(struct nmm *n, uint32_t asr);
int sync_ack(struct nmm *n, uint32_t asr, uint32_t epoch);	/* installed here */
/* admin.c */
void admin_accept(struct nmm *n);
int admin_input(struct nmm *n, struct conn *c);
void admin_broadcast(struct nmm *n, const char *kind, const char *text);
void admin_wait_check(struct nmm *n);	/* answer requests whose epochs are done */

/* Inside a transaction: the ASR goes, its members leave it (after the commit: asr_gone()). */
int asr_remove(struct nmm *n, uint32_t asr);
void asr_gone(struct nmm *n, uint32_t asr);
/* Its counters of asr go; LEAVE if it is online (it stays owed in 'leaves'). */
void node_leave(struct nmm *n, uint32_t node, uint32_t asr);
/* Inside a transaction: removed nodes of that id or name are forgotten, with their lists. */
int node_forget_removed(struct nmm *n, uint32_t id, const char *name);
/* The node's addresses as stored ("a b"), to be freed; NULL if none. */
char *node_addrs_text(struct nmm *n, uint32_t id);
/* Inside a transaction: removed nodes with one of addrs: their lists go again. */
int restale_removed(struct nmm *n, const char *addrs);

/* main.c */
struct conn *conn_add(struct nmm *n, int fd, enum conn_kind kind);
void conn_close(struct nmm *n, struct conn *c);
const char *addr_str(const struct akm_addr *a, char *buf, size_t len);

#endif /* NMM_H */
