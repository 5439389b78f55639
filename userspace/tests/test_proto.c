// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Unit tests of the NMM <-> node protocol codec (lib/proto.c): every
 * message type round trip, strict lengths, nests, the reader on partial
 * and non-blocking input, the output queue, and a small fuzz loop.
 * Prints "ok - NAME" / "not ok - NAME" lines; run.sh numbers them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "proto.h"

static int failed;

static int ok_(int pass, const char *name, int line)
{
	printf("%sok - proto: %s\n", pass ? "" : "not ", name);
	if (!pass) {
		printf("#   at line %d\n", line);
		failed++;
	}
	return pass;
}
#define ok(c, name) ok_(!!(c), name, __LINE__)
#define is_int(got, want, name) do {					\
	long long g_ = (got), w_ = (want);				\
	if (!ok(g_ == w_, name))					\
		printf("#   got %lld, want %lld\n", g_, w_);		\
} while (0)

/* Build a frame with b, return the parse result of its body. */
static int parse_frame(struct akmp_buf *b, struct akmp_msg *m)
{
	int err = akmp_end(b);

	if (err)
		return err;
	if (b->len < AKMP_HDR_LEN ||
	    ((uint32_t)b->p[0] << 24 | b->p[1] << 16 | b->p[2] << 8 | b->p[3]) !=
	    b->len - AKMP_HDR_LEN)
		return -EFAULT;
	return akmp_parse(b->p + AKMP_HDR_LEN, b->len - AKMP_HDR_LEN, m);
}

static void test_handshake(void)
{
	uint8_t nonce[AKMP_NONCE_LEN], proof[AKMP_PROOF_LEN + 1];
	struct akmp_buf b = { 0 };
	struct akmp_msg m;
	char text[64];

	memset(nonce, 0xa5, sizeof(nonce));
	memset(proof, 0x5a, sizeof(proof));

	akmp_begin(&b, AKMP_HELLO);
	akmp_put_u8(&b, AKMP_T_VERSION, AKMP_VERSION);
	akmp_put_u32(&b, AKMP_T_NODE_ID, 7);
	akmp_put_u32(&b, AKMP_T_NMM_ID, 1);
	akmp_put(&b, AKMP_T_NONCE, nonce, sizeof(nonce));
	akmp_put_u32(&b, AKMP_T_FLAGS, AKMP_FLAG_FRESH);
	akmp_put_u32(&b, AKMP_T_EPOCH, 5);
	akmp_put_u64(&b, AKMP_T_INSTANCE, 0x0123456789abcdefULL);
	akmp_put_u32(&b, AKMP_T_SESSION, 9);
	is_int(parse_frame(&b, &m), 0, "HELLO parses");
	is_int(m.type, AKMP_HELLO, "HELLO type");
	is_int(akmp_u32(&m.tb[AKMP_T_NODE_ID]), 7, "HELLO node id");
	is_int(akmp_u32(&m.tb[AKMP_T_NMM_ID]), 1, "HELLO NMM id");
	ok(m.tb[AKMP_T_NONCE].v && !memcmp(m.tb[AKMP_T_NONCE].v, nonce, 32), "HELLO nonce");
	is_int(akmp_u32(&m.tb[AKMP_T_FLAGS]), AKMP_FLAG_FRESH, "HELLO flags");
	is_int(akmp_u32(&m.tb[AKMP_T_EPOCH]), 5, "HELLO last session epoch");
	ok(akmp_u64(&m.tb[AKMP_T_INSTANCE]) == 0x0123456789abcdefULL, "HELLO instance");
	is_int(akmp_u32(&m.tb[AKMP_T_SESSION]), 9, "HELLO session epoch");

	/* version 2 (a transcript that does not say which connection it is for) */
	akmp_begin(&b, AKMP_HELLO);
	akmp_put_u8(&b, AKMP_T_VERSION, 2);
	akmp_put_u32(&b, AKMP_T_NODE_ID, 7);
	akmp_put_u32(&b, AKMP_T_NMM_ID, 1);
	akmp_put(&b, AKMP_T_NONCE, nonce, sizeof(nonce));
	akmp_put_u32(&b, AKMP_T_FLAGS, 0);
	akmp_put_u32(&b, AKMP_T_EPOCH, 0);
	akmp_put_u64(&b, AKMP_T_INSTANCE, 1);
	is_int(parse_frame(&b, &m), -EPROTONOSUPPORT, "HELLO version 2 refused");

	akmp_begin(&b, AKMP_HELLO);
	akmp_put_u8(&b, AKMP_T_VERSION, AKMP_VERSION);
	akmp_put_u32(&b, AKMP_T_NODE_ID, 7);
	akmp_put_u32(&b, AKMP_T_NMM_ID, 1);
	akmp_put(&b, AKMP_T_NONCE, nonce, sizeof(nonce));
	akmp_put_u32(&b, AKMP_T_FLAGS, 0);
	akmp_put_u32(&b, AKMP_T_EPOCH, 0);
	akmp_put_u64(&b, AKMP_T_INSTANCE, 1);
	is_int(parse_frame(&b, &m), -EBADMSG, "HELLO without SESSION refused");

	/* version 1 (a transcript without FLAGS, EPOCH, INSTANCE): refused as such */
	akmp_begin(&b, AKMP_HELLO);
	akmp_put_u8(&b, AKMP_T_VERSION, 1);
	akmp_put_u32(&b, AKMP_T_NODE_ID, 7);
	akmp_put_u32(&b, AKMP_T_NMM_ID, 1);
	akmp_put(&b, AKMP_T_NONCE, nonce, sizeof(nonce));
	akmp_put_u32(&b, AKMP_T_FLAGS, 0);
	is_int(parse_frame(&b, &m), -EPROTONOSUPPORT, "HELLO version 1 refused");

	akmp_begin(&b, AKMP_HELLO);
	akmp_put_u8(&b, AKMP_T_VERSION, AKMP_VERSION);
	akmp_put_u32(&b, AKMP_T_NODE_ID, 7);
	akmp_put(&b, AKMP_T_NONCE, nonce, sizeof(nonce));
	akmp_put_u32(&b, AKMP_T_FLAGS, 0);
	akmp_put_u32(&b, AKMP_T_EPOCH, 0);
	akmp_put_u64(&b, AKMP_T_INSTANCE, 1);
	is_int(parse_frame(&b, &m), -EBADMSG, "HELLO without NMM_ID refused");

	akmp_begin(&b, AKMP_HELLO);
	akmp_put_u8(&b, AKMP_T_VERSION, AKMP_VERSION);
	akmp_put_u32(&b, AKMP_T_NODE_ID, 7);
	akmp_put_u32(&b, AKMP_T_NMM_ID, 1);
	akmp_put(&b, AKMP_T_NONCE, nonce, sizeof(nonce));
	akmp_put_u32(&b, AKMP_T_FLAGS, 0);
	akmp_put_u32(&b, AKMP_T_EPOCH, 0);
	is_int(parse_frame(&b, &m), -EBADMSG, "HELLO without INSTANCE refused");

	akmp_begin(&b, AKMP_HELLO);
	akmp_put_u8(&b, AKMP_T_VERSION, AKMP_VERSION);
	akmp_put_u32(&b, AKMP_T_NODE_ID, 7);
	akmp_put_u32(&b, AKMP_T_NMM_ID, 1);
	akmp_put(&b, AKMP_T_NONCE, nonce, 31);
	akmp_put_u32(&b, AKMP_T_FLAGS, 0);
	is_int(parse_frame(&b, &m), -EBADMSG, "HELLO with a 31-byte nonce refused");

	akmp_begin(&b, AKMP_CHALLENGE);
	akmp_put(&b, AKMP_T_NONCE, nonce, sizeof(nonce));
	akmp_put(&b, AKMP_T_PROOF, proof, AKMP_PROOF_LEN);
	is_int(parse_frame(&b, &m), 0, "CHALLENGE parses");
	ok(!memcmp(m.tb[AKMP_T_PROOF].v, proof, 32), "CHALLENGE proof");

	akmp_begin(&b, AKMP_AUTH);
	akmp_put(&b, AKMP_T_PROOF, proof, 33);
	is_int(parse_frame(&b, &m), -EBADMSG, "AUTH with a 33-byte proof refused");
	akmp_begin(&b, AKMP_AUTH);
	akmp_put(&b, AKMP_T_PROOF, proof, AKMP_PROOF_LEN);
	is_int(parse_frame(&b, &m), 0, "AUTH parses");

	akmp_begin(&b, AKMP_WELCOME);
	akmp_put_u32(&b, AKMP_T_STATUS, EACCES);
	akmp_put_str(&b, AKMP_T_MESSAGE, "access denied");
	is_int(parse_frame(&b, &m), 0, "WELCOME parses");
	is_int(akmp_u32(&m.tb[AKMP_T_STATUS]), EACCES, "WELCOME status");
	is_int(akmp_str(&m.tb[AKMP_T_MESSAGE], text, sizeof(text)), 0, "WELCOME message");
	ok(!strcmp(text, "access denied"), "WELCOME message text");
	is_int(akmp_str(&m.tb[AKMP_T_MESSAGE], text, 5), -EBADMSG, "text longer than buffer");

	akmp_begin(&b, AKMP_WELCOME);
	akmp_put_u32(&b, AKMP_T_STATUS, 0);
	akmp_put(&b, AKMP_T_MESSAGE, "a\0b", 3);
	is_int(parse_frame(&b, &m), -EBADMSG, "text with a NUL refused");

	akmp_buf_free(&b);
}

/* T: ids, nonces, then what HELLO said of the kernel and the connection (protocol.md). */
static void test_transcript(void)
{
	uint8_t t[AKMP_TRANSCRIPT_LEN + 1], in[AKMP_PROOF_INPUT_MAX];
	struct akmp_hs h = {
		.node = 2, .nmm = 0x01000001, .flags = AKMP_FLAG_FRESH, .last = 0x1234,
		.instance = 0x0123456789abcdefULL, .session = 0x01020304,
	};
	const uint8_t tail[20] = { 0, 0, 0, 1, 0, 0, 0x12, 0x34,
				   0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
				   0x01, 0x02, 0x03, 0x04 };

	memset(h.nn, 0xaa, sizeof(h.nn));
	memset(h.nm, 0xbb, sizeof(h.nm));
	t[AKMP_TRANSCRIPT_LEN] = 0x5a;
	is_int(akmp_transcript(t, &h), 92, "transcript: 92 bytes");
	ok(!memcmp(t, "\0\0\0\2\1\0\0\1", 8) && t[8] == 0xaa && t[39] == 0xaa &&
	   t[40] == 0xbb && t[71] == 0xbb && !memcmp(t + 72, tail, 20) &&
	   t[AKMP_TRANSCRIPT_LEN] == 0x5a,
	   "transcript: ids, Nn, Nm, FLAGS, last epoch, instance, session, big endian");
	is_int(akmp_proof_input(in, "welcome", &h, 0x0a0b0c0d), 7 + 92 + 4,
	       "proof input: label, T, epoch");
	ok(!memcmp(in, "welcome", 7) && !memcmp(in + 7, t, 92) &&
	   !memcmp(in + 99, "\x0a\x0b\x0c\x0d", 4), "proof input: bytes");
	is_int(akmp_proof_input(in, "node", &h, 0), 4 + 92, "proof input without epoch");
	h.session = 0;
	akmp_transcript(t, &h);
	ok(!memcmp(t + 88, "\0\0\0\0", 4), "transcript: a bootstrap connection says 0");
}

static void test_asr_config(void)
{
	struct akmp_asr_config c = { 0 }, d;
	struct akmp_member mb[3] = { 0 };
	struct akmp_buf b = { 0 };
	struct akm_addr a, back;
	struct akmp_msg m;
	unsigned int i;

	akm_addr_parse("10.0.0.2", &a);
	akmp_addr_put(&a, mb[0].addrs[0]);
	mb[0].node_id = 2;
	mb[0].state = AKM_MEMBER_ACTIVE;
	mb[0].naddrs = 1;
	akm_addr_parse("fd00::3", &a);
	akmp_addr_put(&a, mb[1].addrs[0]);
	akm_addr_parse("10.0.0.3", &a);
	akmp_addr_put(&a, mb[1].addrs[1]);
	mb[1].node_id = 3;
	mb[1].state = AKM_MEMBER_ACTIVE;
	mb[1].naddrs = 2;
	mb[2].node_id = 4;		/* the receiver itself: no addresses */
	mb[2].state = AKM_MEMBER_ACTIVE;

	c.asr_id = 1;
	c.alg = AKM_ALG_HMAC_SHA256;
	c.policy = AKM_POLICY_DROP;
	c.grace = 30;
	c.epoch = 5;
	c.nmembers = 3;
	c.members = mb;
	for (i = 0; i < AKM_WRAPPED_LEN; i++)
		c.wrapped[i] = i;
	akmp_asr_config(&b, &c);
	is_int(parse_frame(&b, &m), 0, "ASR_CONFIG parses");
	is_int(akmp_asr_config_parse(&m, &d), 0, "ASR_CONFIG decodes");
	is_int(d.asr_id, 1, "ASR_CONFIG asr");
	is_int(d.epoch, 5, "ASR_CONFIG epoch");
	is_int(d.grace, 30, "ASR_CONFIG grace");
	is_int(d.alg, AKM_ALG_HMAC_SHA256, "ASR_CONFIG alg");
	is_int(d.nmembers, 3, "ASR_CONFIG members");
	ok(d.nmembers == 3 && !memcmp(d.members, mb, sizeof(mb)), "ASR_CONFIG members equal");
	ok(!memcmp(d.wrapped, c.wrapped, AKM_WRAPPED_LEN), "ASR_CONFIG wrapped");
	akmp_addr_get(d.members[1].addrs[0], &back);
	is_int(back.family, AF_INET6, "IPv6 address family");
	akmp_addr_get(d.members[1].addrs[1], &back);
	is_int(back.family, AF_INET, "IPv4-mapped address family");
	ok(back.v4.s_addr == htonl(0x0a000003), "IPv4 address value");
	akmp_asr_config_free(&d);

	/* a member without a STATE */
	akmp_begin(&b, AKMP_ASR_CONFIG);
	akmp_put_u32(&b, AKMP_T_ASR_ID, 1);
	akmp_put_u8(&b, AKMP_T_ALG, 1);
	akmp_put_u8(&b, AKMP_T_POLICY, 0);
	akmp_put_u32(&b, AKMP_T_GRACE, 30);
	akmp_put_u32(&b, AKMP_T_EPOCH, 2);
	{
		size_t n = akmp_nest_start(&b, AKMP_T_MEMBER);

		akmp_put_u32(&b, AKMP_T_NODE_ID, 9);
		akmp_nest_end(&b, n);
	}
	akmp_put(&b, AKMP_T_WRAPPED, c.wrapped, AKM_WRAPPED_LEN);
	is_int(parse_frame(&b, &m), 0, "ASR_CONFIG with a short member parses");
	is_int(akmp_asr_config_parse(&m, &d), -EBADMSG, "member without STATE refused");

	/* duplicate member */
	c.members[1].node_id = 2;
	akmp_asr_config(&b, &c);
	is_int(parse_frame(&b, &m), 0, "ASR_CONFIG with a duplicate parses");
	is_int(akmp_asr_config_parse(&m, &d), -EBADMSG, "duplicate member refused");
	c.members[1].node_id = 3;

	/* nine addresses */
	mb[0].naddrs = AKM_ADDRS_MAX;
	akmp_asr_config(&b, &c);
	{
		size_t n = akmp_nest_start(&b, AKMP_T_MEMBER);

		akmp_put_u32(&b, AKMP_T_NODE_ID, 10);
		akmp_put_u8(&b, AKMP_T_STATE, 1);
		for (i = 0; i <= AKM_ADDRS_MAX; i++)
			akmp_put(&b, AKMP_T_ADDR, mb[0].addrs[0], AKMP_ADDR_LEN);
		akmp_nest_end(&b, n);
	}
	is_int(parse_frame(&b, &m), 0, "member with 9 addresses parses");
	is_int(akmp_asr_config_parse(&m, &d), -EBADMSG, "member with 9 addresses refused");

	/* nest inside a nest, wrong size inside a nest */
	akmp_asr_config(&b, &c);
	{
		size_t n = akmp_nest_start(&b, AKMP_T_MEMBER);
		size_t n2 = akmp_nest_start(&b, AKMP_T_MEMBER);

		akmp_nest_end(&b, n2);
		akmp_nest_end(&b, n);
	}
	is_int(parse_frame(&b, &m), -EBADMSG, "nest in a nest refused");
	akmp_asr_config(&b, &c);
	{
		size_t n = akmp_nest_start(&b, AKMP_T_MEMBER);

		akmp_put_u8(&b, AKMP_T_NODE_ID, 3);
		akmp_nest_end(&b, n);
	}
	is_int(parse_frame(&b, &m), -EBADMSG, "1-byte NODE_ID in a nest refused");

	/* WRAPPED of 71 bytes */
	akmp_begin(&b, AKMP_ASR_CONFIG);
	akmp_put_u32(&b, AKMP_T_ASR_ID, 1);
	akmp_put_u8(&b, AKMP_T_ALG, 1);
	akmp_put_u8(&b, AKMP_T_POLICY, 0);
	akmp_put_u32(&b, AKMP_T_GRACE, 30);
	akmp_put_u32(&b, AKMP_T_EPOCH, 2);
	akmp_put_member(&b, &mb[0]);
	akmp_put(&b, AKMP_T_WRAPPED, c.wrapped, AKM_WRAPPED_LEN - 1);
	is_int(parse_frame(&b, &m), -EBADMSG, "71-byte WRAPPED refused");

	akmp_buf_free(&b);
}

static int count_cb(uint32_t asr_id, const char *name, uint64_t value, void *arg)
{
	uint64_t *sum = arg;

	sum[0]++;
	sum[1] += asr_id + value + strlen(name);
	return 0;
}

static void test_small_messages(void)
{
	struct akmp_buf b = { 0 };
	struct akmp_msg m;
	uint64_t sum[2] = { 0 };
	uint8_t wrapped[AKM_WRAPPED_LEN] = { 0 };
	size_t n;
	char name[32];

	akmp_begin(&b, AKMP_ACTIVATE);
	akmp_put_u32(&b, AKMP_T_ASR_ID, 1);
	akmp_put_u32(&b, AKMP_T_EPOCH, 3);
	is_int(parse_frame(&b, &m), 0, "ACTIVATE parses");
	is_int(akmp_u32(&m.tb[AKMP_T_EPOCH]), 3, "ACTIVATE epoch");
	akmp_begin(&b, AKMP_ACTIVATE);
	akmp_put_u32(&b, AKMP_T_ASR_ID, 1);
	is_int(parse_frame(&b, &m), -EBADMSG, "ACTIVATE without EPOCH refused");

	akmp_begin(&b, AKMP_LEAVE);
	akmp_put_u32(&b, AKMP_T_ASR_ID, 1);
	is_int(parse_frame(&b, &m), 0, "LEAVE parses");

	akmp_begin(&b, AKMP_ACK);
	akmp_put_u32(&b, AKMP_T_ASR_ID, 1);
	akmp_put_u32(&b, AKMP_T_EPOCH, 3);
	akmp_put_u32(&b, AKMP_T_STATUS, 0);
	is_int(parse_frame(&b, &m), 0, "ACK parses");
	akmp_begin(&b, AKMP_ACK);
	akmp_put_u32(&b, AKMP_T_ASR_ID, 1);
	akmp_put_u32(&b, AKMP_T_STATUS, 0);
	is_int(parse_frame(&b, &m), -EBADMSG, "ACK without EPOCH refused");

	akmp_begin(&b, AKMP_HEARTBEAT);
	is_int(parse_frame(&b, &m), 0, "empty HEARTBEAT parses");
	is_int(b.len, 5, "empty HEARTBEAT is 5 bytes");
	is_int(akmp_counters_parse(&m, count_cb, sum), 0, "no counters");
	is_int(sum[0], 0, "no counter called back");

	akmp_begin(&b, AKMP_HEARTBEAT);
	n = akmp_nest_start(&b, AKMP_T_COUNTER);
	akmp_put_u32(&b, AKMP_T_ASR_ID, 1);
	akmp_put_str(&b, AKMP_T_NAME, "drop-bad-tag");
	akmp_put_u64(&b, AKMP_T_VALUE, 1ull << 40);
	akmp_put_str(&b, AKMP_T_NAME, "drop-replay");
	akmp_put_u64(&b, AKMP_T_VALUE, 2);
	akmp_nest_end(&b, n);
	n = akmp_nest_start(&b, AKMP_T_COUNTER);
	akmp_put_u32(&b, AKMP_T_ASR_ID, 2);
	akmp_put_str(&b, AKMP_T_NAME, "x");
	akmp_put_u64(&b, AKMP_T_VALUE, 3);
	akmp_nest_end(&b, n);
	is_int(parse_frame(&b, &m), 0, "HEARTBEAT with counters parses");
	is_int(akmp_counters_parse(&m, count_cb, sum), 0, "counters decode");
	is_int(sum[0], 3, "three counters");
	is_int(sum[1], 1 + (1ull << 40) + 12 + 1 + 2 + 11 + 2 + 3 + 1, "counter values");

	akmp_begin(&b, AKMP_HEARTBEAT);
	n = akmp_nest_start(&b, AKMP_T_COUNTER);
	akmp_put_u64(&b, AKMP_T_VALUE, 3);
	akmp_nest_end(&b, n);
	is_int(parse_frame(&b, &m), 0, "VALUE without NAME parses");
	is_int(akmp_counters_parse(&m, count_cb, sum), -EBADMSG, "VALUE without NAME refused");

	akmp_begin(&b, AKMP_EVENT);
	akmp_put_u32(&b, AKMP_T_ASR_ID, 1);
	akmp_put_str(&b, AKMP_T_NAME, "auth-failure");
	akmp_put_u64(&b, AKMP_T_VALUE, 4);
	akmp_put(&b, 999, "ignored", 7);
	is_int(parse_frame(&b, &m), 0, "EVENT with an unknown TLV parses");
	is_int(akmp_str(&m.tb[AKMP_T_NAME], name, sizeof(name)), 0, "EVENT name");
	ok(!strcmp(name, "auth-failure"), "EVENT name text");
	is_int(akmp_u64(&m.tb[AKMP_T_VALUE]), 4, "EVENT value");

	/* the root's messages to a site, and its REKEY: required TLVs */
	akmp_begin(&b, AKMP_SITE_NODE);
	akmp_put_u32(&b, AKMP_T_NODE_ID, 11);
	akmp_put_str(&b, AKMP_T_NAME, "e1");
	is_int(parse_frame(&b, &m), -EBADMSG, "SITE_NODE without WRAPPED refused");
	akmp_put(&b, AKMP_T_WRAPPED, wrapped, AKM_WRAPPED_LEN);
	is_int(parse_frame(&b, &m), 0, "SITE_NODE with NODE_ID, NAME, WRAPPED parses");
	akmp_begin(&b, AKMP_NODE_DEL);
	is_int(parse_frame(&b, &m), -EBADMSG, "NODE_DEL without NODE_ID refused");
	akmp_begin(&b, AKMP_SYNC);
	is_int(parse_frame(&b, &m), -EBADMSG, "SYNC without STATE refused");
	akmp_put_u8(&b, AKMP_T_STATE, AKMP_SYNC_END);
	is_int(parse_frame(&b, &m), 0, "SYNC with STATE parses");
	akmp_begin(&b, AKMP_REKEY);
	akmp_put_u32(&b, AKMP_T_ASR_ID, 1);
	is_int(parse_frame(&b, &m), -EBADMSG, "REKEY without NODE_ID refused");
	ok(!strcmp(akmp_type_name(AKMP_REKEY), "REKEY"), "type 14 is REKEY");

	akmp_begin(&b, AKMP_REMOVE);
	is_int(parse_frame(&b, &m), -EBADMSG, "REMOVE without NODE_ID refused");
	ok(!strcmp(akmp_type_name(AKMP_REMOVE), "REMOVE"), "type 15 is REMOVE");

	/* INSTANCES: usable endpoints in order, each once, the first AKMP_INSTANCES_MAX */
	{
		struct akmp_endpoint e[AKMP_INSTANCES_MAX + 1], got[AKMP_INSTANCES_MAX], x;
		static const char *const bad[] = { "0.0.0.0", "127.0.0.1", "224.0.0.1",
						   "255.255.255.255", "169.254.1.1", "::", "::1",
						   "ff02::1", "fe80::1" };
		unsigned int i, usable;
		char a[32];

		ok(!strcmp(akmp_type_name(AKMP_INSTANCES), "INSTANCES"), "type 16 is INSTANCES");
		akmp_begin(&b, AKMP_INSTANCES);
		is_int(parse_frame(&b, &m), 0, "INSTANCES without endpoints parses");
		is_int(akmp_instances_parse(&m, got), 0, "... none");
		for (i = 0; i <= AKMP_INSTANCES_MAX; i++) {
			snprintf(a, sizeof(a), i ? "10.0.0.%u" : "2001:db8::7", i);
			akm_addr_parse(a, &e[i].addr);
			e[i].port = 4790 + i;
			akmp_put_endpoint(&b, &e[i]);
		}
		is_int(parse_frame(&b, &m), 0, "INSTANCES with 9 endpoints parses");
		is_int(akmp_instances_parse(&m, got), AKMP_INSTANCES_MAX, "... the first 8 taken");
		ok(akm_addr_eq(&got[0].addr, &e[0].addr) && got[0].port == 4790 &&
		   akm_addr_eq(&got[7].addr, &e[7].addr) && got[7].port == 4797,
		   "... in order, IPv6 and IPv4, their ports");
		akmp_begin(&b, AKMP_INSTANCES);
		akmp_put_endpoint(&b, &e[1]);
		akmp_put_endpoint(&b, &e[1]);
		x = e[2];
		x.port = 0;
		akmp_put_endpoint(&b, &x);
		for (i = 0, usable = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			akm_addr_parse(bad[i], &x.addr);
			x.port = 4790;
			usable += akmp_endpoint_usable(&x);
			akmp_put_endpoint(&b, &x);
		}
		is_int(usable, 0, "unspecified, loopback, multicast, broadcast, link-local: unusable");
		akmp_put_endpoint(&b, &e[2]);
		is_int(parse_frame(&b, &m), 0, "a duplicate, port 0 and unusable addresses parse");
		is_int(akmp_instances_parse(&m, got), 2, "... and are left out");
		ok(got[0].port == 4791 && got[1].port == 4792, "... the usable ones kept");
		akmp_begin(&b, AKMP_INSTANCES);
		akmp_put(&b, AKMP_T_ENDPOINT, wrapped, 16);
		is_int(parse_frame(&b, &m), -EBADMSG, "an ENDPOINT of 16 bytes refused");
	}

	akmp_begin(&b, 17);
	is_int(parse_frame(&b, &m), -EBADMSG, "message type 17 refused");
	akmp_begin(&b, 0);
	is_int(parse_frame(&b, &m), -EBADMSG, "message type 0 refused");
	is_int(akmp_parse((const uint8_t *)"", 0, &m), -EBADMSG, "empty message refused");

	/* truncated TLV header and value */
	{
		static const uint8_t t1[] = { AKMP_LEAVE, 0, 8, 0 };
		static const uint8_t t2[] = { AKMP_LEAVE, 0, 8, 0, 4, 0, 0, 1 };
		static const uint8_t t3[] = { AKMP_LEAVE, 0, 8, 0, 4, 0, 0, 0, 1 };

		is_int(akmp_parse(t1, sizeof(t1), &m), -EBADMSG, "truncated TLV header refused");
		is_int(akmp_parse(t2, sizeof(t2), &m), -EBADMSG, "truncated TLV value refused");
		is_int(akmp_parse(t3, sizeof(t3), &m), 0, "whole TLV accepted");
	}

	/* size limit */
	{
		static uint8_t big[AKMP_LEN_MAX];
		int i;

		akmp_begin(&b, AKMP_HEARTBEAT);
		for (i = 0; i < 2; i++)
			akmp_put(&b, 999, big, 32000);
		is_int(akmp_end(&b), 0, "a 64004-byte message builds");
		akmp_put(&b, 999, big, 2000);
		is_int(akmp_end(&b), -EMSGSIZE, "a message over 65536 bytes does not build");
		akmp_begin(&b, AKMP_HEARTBEAT);
		akmp_put(&b, 999, big, 65536);
		is_int(akmp_end(&b), -EMSGSIZE, "a TLV over 65535 bytes does not build");
		big[0] = AKMP_HEARTBEAT;
		is_int(akmp_parse(big, AKMP_LEN_MAX + 1, &m), -EBADMSG,
		       "parse refuses a body over the limit");
	}
	akmp_buf_free(&b);
}

static void test_reader(void)
{
	struct akmp_reader r = { 0 };
	struct akmp_outq q = { 0 };
	struct akmp_buf b = { 0 };
	struct akmp_msg m;
	uint8_t stream[256];
	size_t len = 0, used, off;
	int sv[2], ret, frames, i;

	/* three frames in one stream, fed a byte at a time */
	for (i = 1; i <= 3; i++) {
		akmp_begin(&b, AKMP_ACTIVATE);
		akmp_put_u32(&b, AKMP_T_ASR_ID, i);
		akmp_put_u32(&b, AKMP_T_EPOCH, 10 * i);
		akmp_end(&b);
		memcpy(stream + len, b.p, b.len);
		len += b.len;
	}
	frames = 0;
	for (off = 0; off < len; off += used) {
		ret = akmp_feed(&r, stream + off, 1, &used);
		if (ret < 0 || used != 1)
			break;
		if (ret == 1) {
			frames++;
			if (akmp_parse(r.buf, r.len, &m) ||
			    akmp_u32(&m.tb[AKMP_T_EPOCH]) != 10u * frames)
				break;
		}
	}
	is_int(frames, 3, "three frames fed byte by byte");

	/* fed all at once: one frame per call */
	frames = 0;
	for (off = 0; off < len; off += used) {
		ret = akmp_feed(&r, stream + off, len - off, &used);
		if (ret != 1)
			break;
		frames++;
	}
	is_int(frames, 3, "three frames fed at once");

	/* bad headers */
	{
		static const uint8_t zero[4] = { 0 };
		static const uint8_t huge[4] = { 0, 1, 0, 1 };
		static const uint8_t max[4] = { 0, 1, 0, 0 };
		struct akmp_reader r2 = { 0 };

		is_int(akmp_feed(&r2, zero, 4, &used), -EBADMSG, "length 0 refused");
		akmp_reader_free(&r2);
		is_int(akmp_feed(&r2, huge, 4, &used), -EMSGSIZE, "length 65537 refused");
		akmp_reader_free(&r2);
		is_int(akmp_feed(&r2, max, 4, &used), 0, "length 65536 accepted");
		akmp_reader_free(&r2);
	}

	/* a non-blocking socket pair, data trickling in */
	ok(!socketpair(AF_UNIX, SOCK_STREAM, 0, sv), "socketpair");
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	is_int(akmp_read(sv[0], &r), 0, "nothing to read yet");
	frames = 0;
	for (off = 0; off < len; off += 3) {
		size_t n = len - off < 3 ? len - off : 3;

		if (write(sv[1], stream + off, n) != (ssize_t)n)
			break;
		while ((ret = akmp_read(sv[0], &r)) == 1)
			frames++;
		if (ret < 0)
			break;
	}
	is_int(frames, 3, "three frames from a trickling socket");

	/* output queue to the socket, read back */
	for (i = 0; i < 3; i++) {
		akmp_begin(&b, AKMP_LEAVE);
		akmp_put_u32(&b, AKMP_T_ASR_ID, 100 + i);
		akmp_end(&b);
		is_int(akmp_queue(&q, &b), 0, "queue a frame");
	}
	ok(akmp_pending(&q), "queue pending");
	is_int(akmp_flush(sv[1], &q), 1, "flush writes everything");
	ok(!akmp_pending(&q), "queue empty");
	frames = 0;
	while ((ret = akmp_read(sv[0], &r)) == 1)
		if (!akmp_parse(r.buf, r.len, &m) && m.type == AKMP_LEAVE &&
		    akmp_u32(&m.tb[AKMP_T_ASR_ID]) == 100u + frames)
			frames++;
	is_int(frames, 3, "queued frames read back in order");

	/* fill the socket until the queue has to hold data */
	{
		static uint8_t pad[60000];

		akmp_begin(&b, AKMP_HEARTBEAT);
		akmp_put(&b, 999, pad, sizeof(pad));
		akmp_end(&b);
		ret = 1;
		for (i = 0; i < 64 && ret == 1; i++) {
			if (akmp_queue(&q, &b))
				break;
			ret = akmp_flush(sv[1], &q);
		}
		is_int(ret, 0, "flush reports a full socket");
		ok(akmp_pending(&q), "data left in the queue");
		for (i = 0; i < 100 && akmp_queue(&q, &b) == 0; i++)
			;
		is_int(akmp_queue(&q, &b), -ENOBUFS, "queue refuses more than 1 MiB");
		/* drain */
		frames = 0;
		for (i = 0; i < 10000 && akmp_pending(&q); i++) {
			while ((ret = akmp_read(sv[0], &r)) == 1)
				frames++;
			akmp_flush(sv[1], &q);
		}
		while ((ret = akmp_read(sv[0], &r)) == 1)
			frames++;
		ok(!akmp_pending(&q) && frames > 16, "queue drains, frames intact");
	}

	/* end of stream in the middle of a frame */
	if (write(sv[1], stream, 6) != 6)
		ok(0, "write");
	close(sv[1]);
	is_int(akmp_read(sv[0], &r), -EPIPE, "EOF in a frame is -EPIPE");
	close(sv[0]);

	akmp_outq_free(&q);
	akmp_reader_free(&r);
	akmp_buf_free(&b);
}

/* Random mutations of valid frames never crash the parsers (ASan/UBSan watch). */
static void test_fuzz(void)
{
	struct akmp_asr_config c = { 0 }, d;
	struct akmp_member mb = { .node_id = 2, .state = 1, .naddrs = 1 };
	struct akmp_buf b = { 0 };
	struct akmp_msg m;
	uint8_t *copy;
	uint64_t sum[2];
	unsigned int seed = 1, i, j;
	int parsed = 0;

	c.asr_id = 1;
	c.alg = 1;
	c.epoch = 2;
	c.nmembers = 1;
	c.members = &mb;
	akmp_asr_config(&b, &c);
	akmp_end(&b);
	copy = malloc(b.len);
	for (i = 0; i < 20000; i++) {
		size_t len = b.len - AKMP_HDR_LEN;

		memcpy(copy, b.p + AKMP_HDR_LEN, len);
		for (j = 0; j < 1 + (unsigned int)rand_r(&seed) % 4; j++)
			copy[rand_r(&seed) % len] ^= 1u << (rand_r(&seed) % 8);
		if (rand_r(&seed) % 4 == 0)
			len = rand_r(&seed) % len;
		if (akmp_parse(copy, len, &m))
			continue;
		parsed++;
		if (m.type == AKMP_ASR_CONFIG && !akmp_asr_config_parse(&m, &d))
			akmp_asr_config_free(&d);
		akmp_counters_parse(&m, count_cb, sum);
	}
	free(copy);
	ok(parsed > 0, "fuzz: 20000 mutated frames, no crash");
	akmp_buf_free(&b);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_handshake();
	test_transcript();
	test_asr_config();
	test_small_messages();
	test_reader();
	test_fuzz();
	return failed ? 1 : 0;
}
