/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Shared by the site's side of synchronisation with the root: sync.c (the
 * rounds, nodes, LEAVE), syncasr.c (ASR_CONFIG, a root behind the store)
 * and ask.c (REKEY and REMOVE: what the site asks of the root).
 */
#ifndef NMM_SYNC_H
#define NMM_SYNC_H

#include "nmm.h"
#include "words.h"

#define SYNCED_ASR	(1ull << 32)
#define SYNCED_OFFERED	(1ull << 33)	/* a node removed here that the root still has */

/*
 * What follows a commit: LEAVEs; nodes removed, or with a new credential,
 * lose their connections and kernel state (made anew when they connect);
 * nodes with new addresses get them in the kernel and lose their
 * connections (the next comes from a new address).
 */
struct after {
	uint32_t *gone;			/* nodes removed, or with a new credential */
	size_t ngone;
	uint32_t (*left)[2];		/* node, asr: LEAVE */
	size_t nleft;
	uint32_t *moved;		/* nodes with new addresses */
	size_t nmoved;
};

/* sync.c */
int after_add(uint32_t **v, size_t *k, uint32_t id);
int after_leave(struct after *a, uint32_t node, uint32_t asr);
/* Run fn in a transaction, then what it left for after the commit. */
int sync_tx(struct nmm *n, int (*fn)(struct nmm *, const void *, struct after *),
	    const void *arg);
int synced_add(struct nmm *n, uint64_t id);	/* brought by this round */
bool addrs_text(struct nmm *n, const uint8_t (*in)[AKMP_ADDR_LEN], unsigned int k,
		char out[AKM_ADDRS_TEXT_MAX]);
/* Inside a transaction: this site's node removed (here: by this NMM, else by the root). */
int node_gone(struct nmm *n, uint32_t id, struct after *a, bool here);

/* syncasr.c */
int on_asr_config(struct nmm *n, const struct akmp_msg *m);
void behind_done(struct nmm *n, uint32_t asr);	/* the root caught up, or the ASR went */
void behind_tick(struct nmm *n);		/* the root asked again when due */

/* ask.c: the removal pending for node: 1 (its tag into tag), 0 none, or -EIO */
int removal_tag(struct nmm *n, uint32_t node, uint8_t tag[32]);

#endif /* NMM_SYNC_H */
