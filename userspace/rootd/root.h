/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * akm-rootd: the AKM Backend Root Server, the authority of a deployment
 * (Documentation/root.md). Its state is in PostgreSQL; several instances may
 * serve one database. One process, one event loop: the admin socket
 * (akmctl root ...), the sites' link and the database connection, whose
 * notifications carry the events of every instance; beside it one thread
 * that runs the admin socket's reads on a connection of its own (reader.c).
 */
#ifndef ROOT_H
#define ROOT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <poll.h>
#include <libpq-fe.h>

#include "fails.h"
#include "proto.h"
#include "libakm.h"
#include "secret.h"
#include "words.h"

#define ROOT_STATE_DIR		"/var/lib/akm/root"
#define ROOT_CONFIG		"/etc/akm/rootd.conf"
#define ROOT_DATABASE		"dbname=akm"
#define ROOT_CHANNEL		"akm_root"	/* NOTIFY channel of the events */
#define ROOT_RETRY_SECS		5		/* a transaction, again after serialization failures */
#define ROOT_QUERY_SECS		20		/* a statement's answer, then the connection goes */
#define ROOT_STOP_SECS		5		/* ... at most, once SIGTERM came */
#define ROOT_EVENT_WINDOW	65536		/* event numbers accepted below the highest */
#define ROOT_RECONNECT_MAX	8		/* s between attempts to reach the database */
#define ROOT_ADMIN_REQ_MAX	8192
#define ROOT_ADMIN_ARGS_MAX	64
#define ROOT_ADMIN_TIMEOUT	10		/* s for a request to arrive */
#define ROOT_ADMIN_STALL	30		/* s a client may leave its answer unread */
#define ROOT_ADMIN_MAX		256		/* admin connections at once */
#define ROOT_READS_MAX		32		/* reads waiting for the reader (reader.c) */
#define ROOT_WATCH_BACKLOG	(1u << 20)	/* bytes of events a watcher may fall behind */
#define ROOT_HANDSHAKE_SECS	10		/* s for a site's handshake */
#define ROOT_SESSION_WAIT	10		/* s for the session connection after the switch */
#define ROOT_OFFLINE_AFTER	(3 * AKMP_HEARTBEAT_SECS)	/* a silent session ends */
#define ROOT_PENDING_MAX	256		/* site connections before AUTH, ... */
#define ROOT_PENDING_PER_ADDR	8		/* ... from one address */
#define ROOT_FRAMES_PER_PASS	16		/* read from one connection per poll pass */
#define ROOT_BOOTSTRAP_MS	1000		/* between two bootstraps of one site */
#define ROOT_SITES_REFRESH	30		/* s between reads of the sites' endpoints */
#define ROOT_INSTANCE_TTL	3600		/* s an instance not seen stays offered */
#define ROOT_FRESH_SECS		10		/* s between a new kernel's re-keys */
#define ROOT_JUMP_EVERY		3600		/* s between an ASR's ESTALE jumps */
#define ROOT_JUMP_MAX		(1u << 16)	/* epochs such a jump may skip */
/* the kernel of an instance that listens holds a credential and an ASR per site */
#define ROOT_SITES_MAX		(AKM_CREDS_MAX < AKM_ASRS_MAX ? AKM_CREDS_MAX : AKM_ASRS_MAX)
#define ROOT_MEMBERS_MAX	AKM_MEMBERS_MAX
#define ROOT_ASRS_PER_NODE	(AKM_ASRS_MAX - 1)	/* its provisioning ASR is one */
/* a site's NMM holds a credential and a provisioning ASR per node, and the root's link's */
#define ROOT_SITE_NODES_MAX	((AKM_CREDS_MAX < AKM_ASRS_MAX ? AKM_CREDS_MAX : AKM_ASRS_MAX) - 1)

struct admin;
struct job;
struct link;
struct reader;
struct sitest;
struct statuses;

struct root {
	uint32_t id;
	const char *state_dir;
	const char *conninfo;
	PGconn *pg;			/* NULL while the database is unreachable */
	int64_t pg_retry_at;		/* root_now() of the next attempt */
	int64_t pg_delay;
	bool committing;		/* COMMIT sent: a lost connection may have made it */
	bool pg_given_up;		/* the last statement got no answer in time */
	bool checked;			/* the deployment was checked once: it exists */
	bool read_only;			/* reader.c's: no LISTEN, no migration, READ ONLY */
	unsigned int forged;		/* notifications without our MAC, or replayed */
	char **evq;			/* the transaction's events, sent at COMMIT */
	size_t nevq;
	uint64_t ev_max;		/* the highest event number seen */
	uint64_t ev_window[ROOT_EVENT_WINDOW / 64];	/* which below it were seen */
	int64_t admin_paused;		/* root_now() until which none is accepted */
	int64_t polled_at;		/* root_now() when poll() last returned */
	struct akm_master master;
	int admin_fd;
	struct admin *admins;
	struct reader *reader;		/* the thread of the admin socket's reads */
	/* the sites' link (--listen): this instance's kernel and connections */
	struct akm_sock *nl;		/* NULL: not listening */
	struct akm_addr listen_addr;
	uint16_t port;
	int listen_fd;
	int64_t listen_paused;		/* root_now() until which none is accepted */
	struct link *links;
	struct sitest *sitests;
	struct akm_fails fails;		/* failed handshakes per address */
	struct akm_addr *eps;		/* the sites' endpoint addresses, as last read */
	size_t neps;
	int64_t eps_at;			/* root_now() of that read */
	bool eps_stale;			/* a site was added or removed since */
	struct akmp_endpoint inst[AKMP_INSTANCES_MAX];	/* INSTANCES, as last sent */
	int ninst;			/* -1: none sent yet */
	bool inst_self;			/* inst[0] is this instance */
	int lock_fd;			/* this network namespace's root instance */
	/* sync.c: the rows of an event's ASR, read once for all its sites */
	uint32_t shared_asr;
	PGresult *shared_rows;
	int64_t sync_from;		/* root_now_ms() this pass began to send; 0 not yet */
	uint32_t sync_next[2];		/* the sites left out of the changes, the rounds */
	struct statuses *statuses;	/* status.c: the pass's NODE_STATUS reports */
	bool stop;
	/* the last failed statement */
	char sqlstate[6];
	char errmsg[256];
};

/* main.c */
int64_t root_now(void);		/* seconds, CLOCK_MONOTONIC */
int64_t root_now_ms(void);
bool root_stopping(void);	/* SIGTERM or SIGINT came */
int64_t root_stop_ms(void);	/* ... at this root_now_ms() */
/* The database is this deployment's: its root id, its master key. 0 or -errno. */
int root_check(struct root *r);
void root_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * db.c: the database. Statements take their parameters as text: types
 * 'u' uint32_t, 'i' int64_t, 't' text (NULL: SQL NULL), 'b' bytes (pointer,
 * size_t). A NULL result means the statement failed: r->sqlstate and
 * r->errmsg say why (logged unless it is a serialization failure).
 */
/* Connect, check (after the first start), migrate, LISTEN (after the first start). */
int db_connect(struct root *r);
int db_listen(struct root *r);		/* the events of every instance */
void db_disconnect(struct root *r);
void db_tick(struct root *r);		/* reconnect when it is time */
int db_reconnect(struct root *r);	/* now, if the connection is gone */
void db_input(struct root *r);		/* the connection is readable: notifications */
/* Notifications that came with the answers to statements (our own commits). */
void db_notifies(struct root *r);
PGresult *db_q(struct root *r, const char *sql, const char *types, ...);
int db_exec(struct root *r, const char *sql, const char *types, ...);	/* rows, or -EIO */
int64_t db_int(struct root *r, int64_t dflt, const char *sql, const char *types, ...);
bool db_retry(const struct root *r);	/* the last failure was a serialization failure */
bool db_busy(const struct root *r);	/* ... a lock or statement timeout */
int db_begin(struct root *r);
int db_commit(struct root *r);
void db_rollback(struct root *r);
/* An event: NOTIFY'd at the end of the transaction, so it is seen only if it commits. */
int db_event(struct root *r, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A bytea column as bytes into out (exactly len); -EBADMSG otherwise. */
int db_bytes(const PGresult *res, int row, int col, uint8_t *out, size_t len);

/* admin.c: the admin socket and its requests. */
int admin_open(struct root *r);
void admin_close_all(struct root *r);
int admin_poll_fds(struct root *r, struct pollfd *pfd, int max);
void admin_poll_done(struct root *r, const struct pollfd *pfd, int n);
void admin_tick(struct root *r);
void admin_broadcast(struct root *r, const char *kind, const char *text);
/* A command of the sites' link (argv NULL-terminated), as an operator's; its failure logged. */
int admin_run(struct root *r, char **argv, bool log);
struct req;
/* Run q's command in a transaction, again after a conflict; *out, *err: what it printed. */
void admin_transact(struct req *q, char **out, size_t *outlen, char **err, size_t *errlen);
/* The answer to a's request, given to reader_submit(). */
void admin_answer(struct root *r, struct admin *a, const char *out, size_t outlen,
		  const char *err, size_t errlen, int status);

/* reader.c: the admin socket's reads, in a thread of their own. */
int reader_start(struct root *r);	/* after the database was checked */
void reader_stop(struct root *r);
int reader_fd(const struct root *r);	/* readable: reader_done() has answers */
/* NULL, errno EBUSY (ROOT_READS_MAX wait) or ENOMEM */
struct job *reader_submit(struct root *r, struct admin *a, char **argv, int argc,
			  enum akm_out_mode mode);
void reader_cancel(struct root *r, struct job *j);	/* a left */
void reader_done(struct root *r);

/* kern.c: this instance's kernel, for the sites' link. 0 or -errno. */
int kern_open(struct root *r);
void kern_close(struct root *r);
/* Install the site's credential, sealed as the database has it. */
int kern_site_cred(struct root *r, uint32_t site, const uint8_t *sealed, size_t len);
int kern_site_bootstrap(struct root *r, uint32_t site, const struct akm_addr *addr);
int kern_site_session(struct root *r, uint32_t site, const struct akm_addr *addr,
		      uint32_t epoch);
int64_t kern_site_last(struct root *r, uint32_t site, const struct akm_addr *addr);
void kern_site_del(struct root *r, uint32_t site);

/* link.c: the sites' connections (protocol.md, the root in the NMM's role). */
int link_open(struct root *r, const struct akm_addr *a, uint16_t port);
void link_close_all(struct root *r);
int link_poll_count(struct root *r);	/* how many link_poll_fds() fills, at most */
int link_poll_fds(struct root *r, struct pollfd *pfd, int max);
void link_poll_done(struct root *r, const struct pollfd *pfd, int n);
void link_tick(struct root *r);
void link_event(struct root *r, const char *kind, const char *text);	/* of any instance */

/* The request being run: its words, its output, its exit status. */
struct req {
	struct root *r;
	int argc;
	char **argv;
	int pos;
	struct akm_out o;
	FILE *out, *err;
	int status;
	uint8_t *file;			/* for akmctl to write (a bundle), from malloc */
	size_t file_len;
	bool link;			/* from the sites' link (admin_run()) */
};

int req_fail(struct req *q, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define req_usage(q, ...) req_fail(q, 2, __VA_ARGS__)
/*
 * The database failed a statement: a retry (-EAGAIN: a serialization
 * failure; -ENOTCONN: the connection was lost before COMMIT), or the error
 * for the operator.
 */
int req_db(struct req *q);
const char *req_next(struct req *q);
const char *req_value(struct req *q, const char *kw);	/* after kw; usage error if none */
/* "addr A [addr B ...]" to the end: addresses in one spelling, space-separated. */
int req_addrs(struct req *q, char addrs[AKM_ADDRS_TEXT_MAX]);

/* site.c */
int id_taken(struct req *q, uint32_t id);	/* the root's, a site's or a node's */
int new_cred(struct root *r, uint32_t id, uint8_t sealed[AKM_SEALED_LEN(32)]);
/* node.c: the id of the node (not removed) named name, 0 if none, -1 on error */
int64_t node_by_name(struct req *q, const char *name);

/* site.c, node.c, asr.c: the commands (in a transaction, retried by admin.c). */
int cmd_site(struct req *q, const char *cmd);
int cmd_node(struct req *q, const char *cmd);
int cmd_asr(struct req *q, const char *cmd);
/* asr.c: a new epoch of asr for its live members now (inside a transaction). */
int asr_new_epoch(struct req *q, uint32_t asr);
/* asr.c: "asr-changed" for each ASR res (one column of ids) names: sites are sent it again. */
int asrs_changed(struct req *q, PGresult *res);
/* node.c: the node revoked in every ASR (a new epoch each), removed, its credential gone. */
int node_remove(struct req *q, int64_t id, const char *name, uint32_t site);	/* site: its own */
/*
 * status.c: what the sites report of their nodes. SQL of a node's link
 * ('online', 'offline', 'unknown' while its site has no session or it was
 * not reported) and last contact (seconds, 0: none) from node_status st and
 * sites s; status_out() prints them from column col on, with a third:
 * counters left out. counters_out() prints the counters of node (of one
 * ASR, or all: asr -1) from rows (node, asr, name, value) ordered by node,
 * from row j on; the row after them.
 */
#define NODE_LINK_SQL(st, s) "CASE WHEN " st ".node IS NULL OR NOT coalesce(" s ".up AND " s \
	".last_contact > now() - interval '30 seconds', false) THEN 'unknown' WHEN " st \
	".online THEN 'online' ELSE 'offline' END"
#define NODE_CONTACT_SQL(st) "coalesce(extract(epoch FROM " st ".last_contact)::bigint, 0)"
void status_out(struct akm_out *o, PGresult *res, int i, int col);
int counters_out(struct akm_out *o, PGresult *cnt, int j, uint32_t node, int64_t asr,
		 const char *indent);

/* node.c: a new epoch of each ASR sql (the node's id as $1) returns; *k how many. */
int rekey_node_asrs(struct req *q, const char *sql, int64_t node, int *k);
/* instances.c: instance list, instance del (in a transaction, as the others) */
int cmd_instance(struct req *q, const char *cmd);
/* ask.c: the commands of the sites' link (q->link) */
int cmd_link(struct req *q, const char *cmd);

#endif /* ROOT_H */
