/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The sites' link of an instance that listens: link.c (the connections,
 * the handshake, the sessions) and sync.c (what the sites are sent).
 */
#ifndef ROOT_LINK_H
#define ROOT_LINK_H

#include "proto.h"
#include "root.h"

/* A set of ids, ascending (sync.c). */
struct idset {
	uint32_t *id;
	size_t n, cap;
};

void idset_free(struct idset *s);

/* A node's last REKEY for its new kernel (sync.c). */
struct fresh {
	uint32_t node;
	int64_t at;		/* root_now() */
};

/* What a site's provisioning ASR is in this instance's kernel (protocol.md). */
enum site_mode { SITE_BOOTSTRAP, SITE_SESSION_WAIT, SITE_SESSION };

struct sitest {
	struct sitest *next;
	uint32_t id;
	enum site_mode mode;
	uint32_t epoch;			/* session modes: the session epoch */
	int64_t since;			/* root_now() */
	struct akm_addr addr;		/* its endpoint address, as last read */
	struct link *session;		/* SITE_SESSION: its connection */
	uint8_t cred_tag[24];		/* the sealed credential in the kernel: its nonce */
	int64_t boot_ms;		/* root_now_ms() of its last bootstrap WELCOME */
	int64_t written;		/* root_now() of its last heartbeat write */
	struct fresh *fresh;		/* its nodes' new kernels, re-keyed (sync.c) */
	size_t nfresh;
};

enum sync_round { ROUND_NONE, ROUND_NODES, ROUND_ASRS };

/* LS_WELCOMED: a bootstrap connection that got WELCOME, until the site closes it */
enum link_state { LS_HELLO, LS_AUTH, LS_WELCOMED, LS_UP, LS_CLOSING };

struct link {
	struct link *next;
	int fd;
	enum link_state state;
	struct akm_addr peer;
	int64_t opened, last_rx;	/* root_now() */
	struct akmp_reader rd;
	struct akmp_outq out;
	struct akmp_hs hs;		/* hs.node is the site's id */
	struct akm_addr ep;		/* the site's endpoint address, at HELLO */
	const char *decoy;		/* HELLO refused: why, told only after AUTH */
	uint32_t session_epoch;		/* bootstrap: WELCOME gave this epoch */
	bool closed_by_site;		/* ... and the site closed it after reading it */
	bool dead;			/* a write failed: close without flushing */
	/* LS_UP: the site's records (sync.c) */
	uint8_t *cred;			/* the site's credential, for K_wrap */
	struct idset nodes, asrs;	/* what it holds of ours (sent, not removed since) */
	struct idset dirty_nodes, dirty_asrs;	/* changed, to be sent as the queue drains */
	enum sync_round round;		/* a full round under way: which part */
	uint32_t cursor;		/* ... the last id sent of it */
	bool rounded;			/* a round ended in this session */
	bool resync;			/* a full round is due ... */
	int64_t resync_ms;		/* ... from this root_now_ms() */
	int64_t rekey_sec;		/* root_now() of the REKEYs counted in rekeys */
	unsigned int rekeys;
	bool noisy, rekey_noisy;	/* logged trouble sending, a REKEY refused */
	int64_t ack_sec;		/* root_now() of the ACKs counted in acks */
	unsigned int acks;
	bool ack_noisy;			/* an ACK refused or dropped, logged */
	int64_t status_sec;		/* root_now() of the NODE_STATUS counted in statuses */
	unsigned int statuses;
	bool status_flood, status_foreign;	/* logged NODE_STATUS dropped: too many, not its */
};

/* link.c */
int link_send(struct link *l, struct akmp_buf *b);	/* b stays the caller's */
struct sitest *link_sitest(struct root *r, uint32_t id);	/* NULL if none */

/* instances.c: the instances a site may connect to (INSTANCES) */
void instances_send(struct root *r, struct link *l);	/* at the start of its session */
void instances_tick(struct root *r);	/* this one seen; a changed list to every site */
void instances_stop(struct root *r);	/* a clean stop: this one no longer offered */

/* sync.c: the site's records, at the start of its session and as they change. */
void sync_start(struct link *l);	/* its session started: a full round */
bool sync_pending(struct root *r, const struct link *l);	/* work to send */
void sync_all(struct root *r);	/* every site's, as far as the pass's time goes */
void sync_event(struct root *r, const char *kind, const char *text);
void sync_link_free(struct link *l);
/* status.c: a site's NODE_STATUS, written at the end of the loop pass */
int status_take(struct root *r, struct link *l, const struct akmp_msg *m);
void status_flush(struct root *r);
void status_free(struct root *r);
/* ask.c: a site's REKEY or REMOVE */
int sync_rekey(struct root *r, struct link *l, const struct akmp_msg *m);
int sync_ack(struct root *r, struct link *l, const struct akmp_msg *m);

#endif /* ROOT_LINK_H */
