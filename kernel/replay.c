// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Anti-replay window: a ring of 64-bit words as in RFC 6479, so that moving
 * the window forward clears whole words instead of shifting the bitmap.
 * Sequence numbers start at 1; 0 is never valid.
 */
#include "replay.h"

/* Whether @seq is new and inside the window; changes nothing. */
bool akm_replay_check(const struct akm_replay *r, u64 seq)
{
	u32 bit = seq % AKM_REPLAY_BITS;

	if (!seq)
		return false;
	if (seq > r->top)
		return true;
	if (r->top - seq >= AKM_REPLAY_WINDOW)
		return false;
	return !(r->bitmap[bit / 64] & (1ULL << (bit % 64)));
}

/* Record @seq after its packet was authenticated; false if it is a replay. */
bool akm_replay_update(struct akm_replay *r, u64 seq)
{
	u32 bit = seq % AKM_REPLAY_BITS;

	if (!akm_replay_check(r, seq))
		return false;
	if (seq > r->top) {
		u64 cur = r->top / 64, new = seq / 64;
		u64 n = new - cur;

		if (n > AKM_REPLAY_WORDS)
			n = AKM_REPLAY_WORDS;
		while (n--)
			r->bitmap[(++cur) % AKM_REPLAY_WORDS] = 0;
		r->top = seq;
	}
	r->bitmap[bit / 64] |= 1ULL << (bit % 64);
	return true;
}
