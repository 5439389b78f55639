/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Anti-replay window (RFC 6479) over the 48-bit sequence numbers the wire
 * carries whole. Pure C: the same file builds in the kernel and in user
 * space (for unit tests and fuzzing).
 */
#ifndef _AKM_REPLAY_H
#define _AKM_REPLAY_H

/* user space: build with -include tests/unit/kshim.h for u8, u32, u64, bool */
#include <linux/types.h>

#define AKM_REPLAY_BITS		2048
#define AKM_REPLAY_WORDS	(AKM_REPLAY_BITS / 64)
/* sequence numbers this far behind the newest one are still accepted */
#define AKM_REPLAY_WINDOW	(AKM_REPLAY_BITS - 64)

struct akm_replay {
	u64 top;	/* highest sequence number accepted; 0: none yet */
	u64 bitmap[AKM_REPLAY_WORDS];
};

bool akm_replay_check(const struct akm_replay *r, u64 seq);
bool akm_replay_update(struct akm_replay *r, u64 seq);

#endif /* _AKM_REPLAY_H */
