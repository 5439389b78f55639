// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * libFuzzer harness for the anti-replay window (kernel/replay.c), checked
 * against a reference model: the set of accepted sequence numbers and the
 * window rule (accept iff non-zero, not accepted before, and above the top
 * or less than AKM_REPLAY_WINDOW behind it). Any disagreement aborts.
 *
 * The input is a sequence of operations; each starts with a byte whose low
 * 3 bits choose the operation and the rest are its operands:
 *   0 update(u64 absolute)           8 bytes
 *   1 update(top + s16)              2 bytes
 *   2 check(top + s16)               2 bytes
 *   3 receive(u48 wire)              6 bytes: check, then update
 *   4 receive(top + s16)             2 bytes: the same, near the top
 *   5 update(top + u32 << (0..31))   5 bytes: big jumps
 *   6 update(hi << 32 | lo) with hi one of 0, 1, 2^32-1, top's +-1
 *   7 check(u48 wire)                6 bytes
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay.h"

#define MAX_OPS		1024
#define W		((u64)AKM_REPLAY_WINDOW)

#define CHECK(c) do { if (!(c)) { \
	fprintf(stderr, "fuzz_replay: %s:%d: %s\n", __FILE__, __LINE__, #c); \
	abort(); } } while (0)

/* the model: accepted numbers not yet out of the window, and the top */
static u64 acc[MAX_OPS];
static unsigned int n_acc;
static u64 mtop;

static int model_seen(u64 s)
{
	unsigned int i;

	for (i = 0; i < n_acc; i++)
		if (acc[i] == s)
			return 1;
	return 0;
}

static int model_check(u64 s)
{
	if (!s || model_seen(s))
		return 0;
	return s > mtop || mtop - s < W;
}

static int model_update(u64 s)
{
	unsigned int i, j;

	if (!model_check(s))
		return 0;
	if (s > mtop) {
		mtop = s;
		for (i = j = 0; i < n_acc; i++)	/* forget what fell out */
			if (mtop - acc[i] < W)
				acc[j++] = acc[i];
		n_acc = j;
	}
	acc[n_acc++] = s;
	return 1;
}

static u64 get(const u8 **d, size_t *n, unsigned int bytes)
{
	u64 v = 0;

	while (bytes--) {
		v <<= 8;
		if (*n) {
			v |= **d;
			(*d)++;
			(*n)--;
		}
	}
	return v;
}

static void do_update(struct akm_replay *r, u64 s)
{
	int m = model_update(s);

	CHECK(akm_replay_update(r, s) == m);
	CHECK(r->top == mtop);
	CHECK(!akm_replay_check(r, s));	/* never twice */
}

int LLVMFuzzerTestOneInput(const u8 *d, size_t n)
{
	struct akm_replay r;
	unsigned int ops = 0;

	memset(&r, 0, sizeof(r));
	n_acc = 0;
	mtop = 0;
	while (n && ops++ < MAX_OPS) {
		u8 op = (u8)get(&d, &n, 1);
		u64 s;
		int16_t dl;

		switch (op & 7) {
		case 0:
			do_update(&r, get(&d, &n, 8));
			break;
		case 1:
			dl = (int16_t)get(&d, &n, 2);
			do_update(&r, mtop + (u64)(int64_t)dl);
			break;
		case 2:
			dl = (int16_t)get(&d, &n, 2);
			s = mtop + (u64)(int64_t)dl;
			CHECK(akm_replay_check(&r, s) == model_check(s));
			break;
		case 3:
		case 4:
			if ((op & 7) == 3)
				s = get(&d, &n, 6);
			else
				s = mtop + (u64)(int64_t)(int16_t)get(&d, &n, 2);
			/* akm_rx_check() then akm_rx_commit() in kernel/in.c */
			CHECK(akm_replay_check(&r, s) == model_check(s));
			if (akm_replay_check(&r, s) && !(op & 0x80))
				do_update(&r, s);
			break;
		case 5:
			s = get(&d, &n, 4) << ((op >> 3) & 31);
			do_update(&r, mtop + s);
			break;
		case 6: {
			static const u64 his[] = { 0, 1, 0xffffffffULL, 0xfffffffeULL };
			u64 hi = (op >> 3) & 4 ? (mtop >> 32) + ((op >> 6) & 1) - ((op >> 7) & 1)
					       : his[(op >> 3) & 3];

			s = get(&d, &n, 4);
			do_update(&r, (hi & 0xffffffffULL) << 32 | s);
			break;
		}
		case 7:
			s = get(&d, &n, 6);
			CHECK(akm_replay_check(&r, s) == model_check(s));
			break;
		}
	}
	/* everything the model remembers is still rejected */
	for (unsigned int i = 0; i < n_acc; i++)
		CHECK(!akm_replay_check(&r, acc[i]));
	return 0;
}
