/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The sites' link of an instance that listens: link.c (the connections,
 * the handshake, the sessions) and sync.c (what the sites are sent).
 */
#ifndef ROOT_LINK_H
#define ROOT_LINK_H

#include "proto.h"
#include "root.h"

/* A set of ids, ascending. */
struct idset {
	uint32_t *id;
	size_t n, cap;
};

bool idset_has(const struct idset *s, uint32_t id);
int idset_add(struct idset *s, uint32_t id);
void idset_del(struct idset *s, uint32_t id);
void idset_free(struct idset *s);

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
	struct jump {			/* REKEY of its nodes (sync.c) */
		uint32_t node, asr;	/* asr 0: every ASR of a new kernel */
		int64_t at;		/* root_now() */
	} *jumps;
	size_t njumps;
};

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
	/* LS_UP: what the site was sent of the root's records (sync.c) */
	struct idset nodes, asrs;
	bool resync;			/* everything again, once the queue drained */
	uint8_t round;			/* a full round: 1 nodes, 2 ASRs, 0 none */
	uint32_t cursor;		/* ... the last id sent of this part */
};

/* link.c */
int link_send(struct link *l, struct akmp_buf *b);	/* b stays the caller's */

/* sync.c: the site's records, at the start of its session and as they change. */
void sync_site(struct root *r, struct link *l);
void sync_drained(struct root *r, struct link *l);	/* room in its queue */
void sync_event(struct root *r, const char *kind, const char *text);
int sync_rekey(struct root *r, struct link *l, struct sitest *s, const struct akmp_msg *m);

#endif /* ROOT_LINK_H */
