// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Anti-replay window: a ring of 64-bit words as in RFC 6479, so that moving
 * the window forward clears whole words instead of shifting the bitmap.
 * Sequence numbers start at 1; 0 is never valid.
 */
#include "replay.h"

/*
 * The full sequence number for the low 32 bits seen on the wire, assuming
 * it lies in the window or ahead of it (RFC 4303, A.2.2). The guess is
 * authenticated by the tag, so a wrong one only fails verification.
 * Returns 0 when no valid sequence number fits.
 */
u64 akm_replay_expand(const struct akm_replay *r, u32 seq_lo)
{
	u32 tl = (u32)r->top, th = (u32)(r->top >> 32);
	const u32 w = AKM_REPLAY_WINDOW;

	if (tl >= w - 1) {
		if (seq_lo >= tl - (w - 1))
			return (u64)th << 32 | seq_lo;
		if (th == (u32)~0U)
			return 0;
		return (u64)(th + 1) << 32 | seq_lo;
	}
	if (seq_lo >= tl - (w - 1)) {	/* wraps: seq_lo is in the subspace below */
		if (!th)
			return 0;
		return (u64)(th - 1) << 32 | seq_lo;
	}
	return (u64)th << 32 | seq_lo;
}

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
