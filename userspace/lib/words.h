/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The words of an admin command (akmctl nmm ..., akmctl root ...), as the
 * daemons parse them: the parts both akm-nmmd and akm-rootd take. Each
 * returns 0, or -EINVAL with the reason in err (for a usage error).
 */
#ifndef AKM_WORDS_H
#define AKM_WORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libakm.h"

/* the addresses of a node in text, space-separated */
#define AKM_ADDRS_TEXT_MAX	(AKM_ADDRS_MAX * (AKM_ADDRSTRLEN + 1))

struct akm_words {
	int argc;
	char **argv;
	int pos;		/* the next word */
	char err[1024];	/* a usage error: room for a long word */
};

const char *akm_words_next(struct akm_words *w);	/* NULL at the end */

/* "addr A [addr B ...]" to the end: the addresses in one spelling, space-separated. */
int akm_words_addrs(struct akm_words *w, char addrs[AKM_ADDRS_TEXT_MAX]);
/* Is addr in the space-separated list addrs? */
bool akm_addrs_has(const char *addrs, const char *addr);

struct akm_asr_opts {
	int alg, policy;
	uint32_t grace;
	const char *name;	/* "" if none */
};

/* "alg ALG [name NAME] [policy POLICY] [grace SECONDS]" to the end. */
int akm_words_asr(struct akm_words *w, struct akm_asr_opts *o);

#endif /* AKM_WORDS_H */
