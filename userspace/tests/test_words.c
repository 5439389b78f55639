// SPDX-License-Identifier: GPL-2.0 OR MIT
/* The words of admin commands (lib/words.c), names, addresses in one spelling. */
#include <errno.h>
#include <string.h>

#include "libakm.h"
#include "tap.h"
#include "words.h"

static int words(struct akm_words *w, char **argv, int argc)
{
	*w = (struct akm_words){ .argc = argc, .argv = argv };
	return 0;
}

#define W(...) ((char *[]){ __VA_ARGS__ }), (int)(sizeof((char *[]){ __VA_ARGS__ }) / sizeof(char *))

static void test_canon(void)
{
	char buf[AKM_ADDRSTRLEN], small[8];

	ok(!akm_addr_canon("::ffff:10.1.2.3", buf, sizeof(buf)) && !strcmp(buf, "10.1.2.3"),
	   "canon: an IPv4-mapped address is its IPv4 form");
	ok(!akm_addr_canon("FD00:0::1", buf, sizeof(buf)) && !strcmp(buf, "fd00::1"),
	   "canon: IPv6 in its short lower-case form");
	is_int(akm_addr_canon("10.1.2.300", buf, sizeof(buf)), -EINVAL, "canon: a bad address");
	is_int(akm_addr_canon("10.1.2.3", small, sizeof(small)), -ENOSPC,
	       "canon: a buffer too small is refused, not cut");
	ok(akm_name_ok("a.b_c-D9"), "name: letters, digits, . _ -");
	ok(!akm_name_ok("") && !akm_name_ok("a b") && !akm_name_ok("a/b"),
	   "name: empty, a space, a slash refused");
	ok(akm_name_ok("1234567890123456789012345678901") &&
	   !akm_name_ok("12345678901234567890123456789012"), "name: 31 characters, not 32");
}

static void test_addrs(void)
{
	char addrs[AKM_ADDRS_TEXT_MAX], big[300];
	struct akm_words w;
	int i;

	words(&w, W("addr", "10.0.0.1", "addr", "::ffff:10.0.0.2", "addr", "FD00::3"));
	ok(!akm_words_addrs(&w, addrs) && !strcmp(addrs, "10.0.0.1 10.0.0.2 fd00::3") &&
	   w.pos == 6, "addrs: three, in one spelling, to the end");
	ok(akm_addrs_has(addrs, "10.0.0.2") && !akm_addrs_has(addrs, "10.0.0.") &&
	   !akm_addrs_has(addrs, "0.0.0.1") && !akm_addrs_has(addrs, ""),
	   "addrs: membership is of whole words, never of the empty word");
	words(&w, W("addr", "10.0.0.1", "addr", "::ffff:10.0.0.1"));
	ok(akm_words_addrs(&w, addrs) == -EINVAL && strstr(w.err, "given twice"),
	   "addrs: the same address in two spellings");
	words(&w, W("addr"));
	ok(akm_words_addrs(&w, addrs) == -EINVAL &&
	   !strcmp(w.err, "missing value after 'addr'"), "addrs: no value");
	words(&w, W("host", "x"));
	ok(akm_words_addrs(&w, addrs) == -EINVAL && !strcmp(w.err, "unknown argument 'host'"),
	   "addrs: an unknown word");
	words(&w, NULL, 0);
	ok(akm_words_addrs(&w, addrs) == -EINVAL && !strcmp(w.err, "missing 'addr'"),
	   "addrs: none");
	{
		char *argv[2 * (AKM_ADDRS_MAX + 1)], v[AKM_ADDRS_MAX + 1][64];

		for (i = 0; i <= AKM_ADDRS_MAX; i++) {
			/* the longest spelling inet_ntop() gives: 39 characters */
			snprintf(v[i], sizeof(v[i]), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff%02x",
				 (unsigned int)i & 0xff);
			argv[2 * i] = "addr";
			argv[2 * i + 1] = v[i];
		}
		words(&w, argv, 2 * AKM_ADDRS_MAX);
		ok(!akm_words_addrs(&w, addrs) && strlen(addrs) < AKM_ADDRS_TEXT_MAX,
		   "addrs: eight of the longest spelling fit");
		words(&w, argv, 2 * (AKM_ADDRS_MAX + 1));
		ok(akm_words_addrs(&w, addrs) == -EINVAL && strstr(w.err, "more than 8"),
		   "addrs: nine are refused");
	}
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	words(&w, W("addr", big));
	ok(akm_words_addrs(&w, addrs) == -EINVAL && strstr(w.err, big) &&
	   w.err[strlen(w.err) - 1] == '\'', "addrs: a long bad word is named whole");
}

static void test_asr(void)
{
	struct akm_asr_opts o;
	struct akm_words w;

	words(&w, W("alg", "hmac-sha256"));
	ok(!akm_words_asr(&w, &o) && o.alg == AKM_ALG_HMAC_SHA256 && o.policy == AKM_POLICY_DROP &&
	   o.grace == AKM_GRACE_DEFAULT && !*o.name, "asr: alg alone, the defaults");
	words(&w, W("grace", "0", "policy", "accept", "name", "g1", "alg", "chacha20-poly1305"));
	ok(!akm_words_asr(&w, &o) && o.alg == AKM_ALG_CHACHA20_POLY1305 && !o.grace &&
	   o.policy == AKM_POLICY_ACCEPT && !strcmp(o.name, "g1"), "asr: every option, any order");
	words(&w, W("name", "g1"));
	ok(akm_words_asr(&w, &o) == -EINVAL && !strcmp(w.err, "missing 'alg'"), "asr: no alg");
	words(&w, W("alg", "hmac-sha256", "alg", "hmac-sha256"));
	ok(akm_words_asr(&w, &o) == -EINVAL && strstr(w.err, "repeated argument 'alg'"),
	   "asr: alg twice");
	words(&w, W("alg", "md5"));
	ok(akm_words_asr(&w, &o) == -EINVAL && strstr(w.err, "invalid alg 'md5'"), "asr: bad alg");
	words(&w, W("alg", "hmac-sha256", "grace", "86401"));
	ok(akm_words_asr(&w, &o) == -EINVAL && strstr(w.err, "invalid grace '86401'"),
	   "asr: grace over the limit");
	words(&w, W("alg"));
	ok(akm_words_asr(&w, &o) == -EINVAL && !strcmp(w.err, "missing value after 'alg'"),
	   "asr: no value");
}

void test_words(void)
{
	test_canon();
	test_addrs();
	test_asr();
}
