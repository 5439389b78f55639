// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * libFuzzer harness for the receive-side parse (akm_wire_parse.c, a mirror
 * of kernel/hooks.c). The input is a raw IP packet as the LOCAL_IN hook
 * sees it (the seeds in corpus/wire are real AKM packets). Checks memory
 * safety (ASan), arithmetic (UBSan, and the invariants below) and that
 * stripping the header gives a packet that parses back to the same layout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "akm_wire_parse.h"

#define AKM_PROTO	AKM_PROTO_DEFAULT
#define IPPROTO_ICMPV6	58

#define CHECK(c) do { if (!(c)) { \
	fprintf(stderr, "fuzz_wire: %s:%d: %s\n", __FILE__, __LINE__, #c); \
	abort(); } } while (0)

static void check_strip(const u8 *buf, const struct akm_wire_pkt *p)
{
	size_t n;
	u8 *out;

	CHECK(p->len >= (size_t)p->nhlen + AKM_HLEN);
	out = malloc(p->len - AKM_HLEN);	/* exact size: ASan sees overruns */
	CHECK(out);
	n = akm_wire_strip(buf, p, out);
	CHECK(n == p->len - AKM_HLEN);
	CHECK(!memcmp(out + p->nhlen, buf + p->nhlen + AKM_HLEN, n - p->nhlen));
	if (p->pf == 4)
		CHECK(akm_wire_csum(out, p->nhlen) == 0);
	/*
	 * The IP header is unchanged but for the protocol, length and checksum
	 * fields, and those describe the stripped packet. (Not a full reparse:
	 * the stack does not run ipv6_parse_hopopts() again, and the inner
	 * next header may be anything the authenticated sender chose.)
	 */
	CHECK(out[p->protoff] == p->h->nexthdr);
	if (p->pf == 4) {
		CHECK((out[0] & 0xf) * 4u == p->nhlen);
		CHECK(((size_t)out[2] << 8 | out[3]) == n);
		CHECK(!memcmp(out + 12, buf + 12, 8) && !memcmp(out + 20, buf + 20, p->nhlen - 20));
	} else {
		/* payload_len is 16 bits: a stripped jumbogram would be cut */
		CHECK(((size_t)out[4] << 8 | out[5]) + 40 == n);
		CHECK(!memcmp(out + 8, buf + 8, 32));
		if (p->nhlen > 40)
			CHECK(out[41] == buf[41]);
	}
	free(out);
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	struct akm_wire_pkt p;
	struct akm_pseudo ph;
	enum akm_wire_verdict v;
	volatile u8 sink;

	v = akm_wire_parse(data, size, AKM_PROTO, &p);
	if (v == AKM_WIRE_NOT_IP)
		return 0;
	CHECK(p.pf == 4 || p.pf == 6);
	CHECK(p.len <= size);
	CHECK(p.protoff < p.nhlen || v == AKM_WIRE_PASS);
	if (p.pf == 4)
		CHECK(p.nhlen >= 20 && p.nhlen <= 60 && p.len >= p.nhlen);
	else
		CHECK(p.nhlen == 40 || (p.nhlen >= 48 && p.nhlen <= 40 + 256 * 8));
	switch (v) {
	case AKM_WIRE_PLAIN:
		CHECK(p.len >= p.nhlen);
		/* akm_is_nd(): skb_header_pointer(skb, p->nhlen, 1, ...) */
		if (p.pf == 6 && p.proto == IPPROTO_ICMPV6 && p.len > p.nhlen)
			sink = data[p.nhlen];
		break;
	case AKM_WIRE_MALFORMED:
		/* akm_in(): a looped-back packet is stripped unchecked */
		if (p.h)
			check_strip(data, &p);
		break;
	case AKM_WIRE_AKM:
		CHECK(p.h == (const void *)(data + p.nhlen));
		CHECK(p.payload_len == p.len - p.nhlen - AKM_HLEN);
		CHECK(p.payload_len <= p.len && p.payload_len < 0x10000u + 8 * 256);
		/* akm_pseudo_fill() */
		memcpy(ph.saddr, p.saddr, 16);
		memcpy(ph.daddr, p.daddr, 16);
		ph.len = p.payload_len;
		memcpy(ph.hdr, p.h, sizeof(ph.hdr));
		sink = ph.hdr[AKM_HLEN_NOTAG - 1];
		/* the tag covers the payload: it must be inside the packet */
		sink = p.payload_len ? data[p.nhlen + AKM_HLEN + p.payload_len - 1] : 0;
		check_strip(data, &p);
		break;
	default:
		break;
	}
	(void)sink;
	return 0;
}
