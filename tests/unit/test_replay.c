// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Unit tests of the kernel's replay window (kernel/replay.c) and wire
 * layout (kernel/wire.h), built in user space with ASan and UBSan.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay.h"
#include "wire.h"

static int failed, n;

static void ok(int pass, const char *name)
{
	printf("%sok %d - %s\n", pass ? "" : "not ", ++n, name);
	failed += !pass;
}

static void test_layout(void)
{
	ok(AKM_HLEN == 36, "AKM header is 36 bytes");
	ok(AKM_PSEUDO_LEN == 60, "pseudo header is 60 bytes");
	ok(offsetof(struct akmhdr, asr_id) == 4 && offsetof(struct akmhdr, epoch) == 8 &&
	   offsetof(struct akmhdr, sender) == 12 && offsetof(struct akmhdr, seq) == 16 &&
	   offsetof(struct akmhdr, tag) == 20, "header field offsets");
	ok(offsetof(struct akm_pseudo, seq_hi) == 32 && offsetof(struct akm_pseudo, hdr) == 40,
	   "pseudo header field offsets");
}

static void test_basic(void)
{
	struct akm_replay r = { 0 };

	ok(!akm_replay_check(&r, 0), "sequence number 0 is never valid");
	ok(akm_replay_update(&r, 1), "first packet accepted");
	ok(!akm_replay_update(&r, 1), "its replay rejected");
	ok(akm_replay_update(&r, 5), "a jump ahead accepted");
	ok(akm_replay_update(&r, 3), "a late packet inside the window accepted");
	ok(!akm_replay_update(&r, 3), "the late packet's replay rejected");
	ok(akm_replay_check(&r, 4) && akm_replay_check(&r, 2), "unseen ones still acceptable");
	ok(r.top == 5, "top is the highest accepted");
}

static void test_window_edge(void)
{
	struct akm_replay r = { 0 };
	u64 top = 100000;

	akm_replay_update(&r, top);
	ok(akm_replay_check(&r, top - (AKM_REPLAY_WINDOW - 1)), "oldest in-window accepted");
	ok(!akm_replay_check(&r, top - AKM_REPLAY_WINDOW), "one past the window rejected");
	ok(AKM_REPLAY_WINDOW >= 1024, "window is at least 1024");
	/* a big jump must not leave stale bits that reject fresh numbers */
	ok(akm_replay_update(&r, top + 10 * AKM_REPLAY_BITS), "jump of 10 windows");
	{
		int all = 1;
		u64 s;

		for (s = top + 10 * AKM_REPLAY_BITS - AKM_REPLAY_WINDOW + 1;
		     s < top + 10 * AKM_REPLAY_BITS; s++)
			all &= akm_replay_check(&r, s);
		ok(all, "whole window fresh after a jump");
	}
	ok(!akm_replay_update(&r, top), "pre-jump packet now too old");
}

/* Compare against a direct model: seen set plus the window rule. */
static void test_model(void)
{
	enum { MAX = 1 << 16 };
	static unsigned char seen[MAX];
	struct akm_replay r = { 0 };
	u64 top = 0, s;
	int i, agree = 1;

	srand(1);
	for (i = 0; i < 200000 && agree; i++) {
		s = top + (rand() % 64) - (rand() % (AKM_REPLAY_WINDOW + 200));
		if ((int64_t)s < 1 || s >= MAX - 64)
			continue;
		{
			int want = !seen[s] && (s > top || top - s < AKM_REPLAY_WINDOW);
			int got = akm_replay_update(&r, s);

			agree &= want == got;
			if (want) {
				seen[s] = 1;
				if (s > top)
					top = s;
			}
		}
	}
	ok(agree, "200000 random updates agree with the model");
}

int main(void)
{
	test_layout();
	test_basic();
	test_window_edge();
	test_model();
	printf("1..%d\n", n);
	return failed != 0;
}
