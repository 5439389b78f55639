// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Unit tests of the kernel's packet layout code (kernel/wire.c), built in
 * user space with ASan and UBSan. Buffers are allocated to their exact
 * size, so a read past what the caller made linear is an ASan report.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

static int failed, n;

static void ok(int pass, const char *name)
{
	printf("%sok %d - %s\n", pass ? "" : "not ", ++n, name);
	failed += !pass;
}

/* akm_parse_hdrs() on the first @head bytes of @pkt, copied exactly */
static int parse(const u8 *pkt, unsigned int head, bool v6, struct akm_pkt *p)
{
	u8 *b = malloc(head ? head : 1);
	int r;

	memcpy(b, pkt, head);
	r = akm_parse_hdrs(b, head, v6, p);
	free(b);
	return r;
}

static u16 csum(const u8 *b, unsigned int len)
{
	u32 s = 0;
	unsigned int i;

	for (i = 0; i < len; i += 2)
		s += b[i] << 8 | b[i + 1];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (u16)~s;
}

/* An IPv4 UDP packet 10.0.0.1 -> 10.0.0.2 with @opts bytes of options. */
static unsigned int ipv4(u8 *b, unsigned int opts, unsigned int payload)
{
	unsigned int len = 20 + opts + payload, i;
	u16 c;

	memset(b, 0, len);
	b[0] = 0x40 | (20 + opts) / 4;
	b[2] = len >> 8;
	b[3] = len & 0xff;
	b[8] = 64;
	b[9] = IPPROTO_UDP;
	b[12] = 10, b[15] = 1;
	b[16] = 10, b[19] = 2;
	for (i = 0; i < opts; i++)
		b[20 + i] = 1;		/* NOP */
	for (i = 0; i < payload; i++)
		b[20 + opts + i] = (u8)(i * 7);
	c = csum(b, 20 + opts);
	b[10] = c >> 8;
	b[11] = c & 0xff;
	return len;
}

/* An IPv6 UDP packet fd00::1 -> fd00::2, with a hop-by-hop header of @hop bytes. */
static unsigned int ipv6(u8 *b, unsigned int hop, unsigned int payload)
{
	unsigned int len = 40 + hop + payload, i;

	memset(b, 0, len);
	b[0] = 0x60;
	b[4] = (len - 40) >> 8;
	b[5] = (len - 40) & 0xff;
	b[6] = hop ? NEXTHDR_HOP : IPPROTO_UDP;
	b[7] = 64;
	b[8] = 0xfd, b[23] = 1;
	b[24] = 0xfd, b[39] = 2;
	if (hop) {
		b[40] = IPPROTO_UDP;
		b[41] = hop / 8 - 1;
		b[42] = 1;		/* PadN over the rest */
		b[43] = hop - 4;
	}
	for (i = 0; i < payload; i++)
		b[40 + hop + i] = (u8)(i * 7);
	return len;
}

static void test_parse_ipv4(void)
{
	static const u8 mapped[16] = { [10] = 0xff, 0xff, 10, 0, 0, 1 };
	struct akm_pkt p;
	u8 b[128];

	ipv4(b, 0, 8);
	ok(parse(b, 20, false, &p) == 0 && p.nhlen == 20 && p.protoff == 9 &&
	   p.proto == IPPROTO_UDP && !p.v6, "IPv4: header, protocol");
	ok(!memcmp(&p.saddr, mapped, 16) && p.daddr.s6_addr[15] == 2,
	   "IPv4: addresses mapped into IPv6");
	ok(parse(b, 19, false, &p) == 20, "IPv4: 19 linear bytes: asks for 20");
	ipv4(b, 12, 8);
	ok(parse(b, 20, false, &p) == 32 && parse(b, 32, false, &p) == 0 &&
	   p.nhlen == 32, "IPv4 with 12 bytes of options: asks for 32, then 32");
	b[0] = 0x44;
	ok(parse(b, 20, false, &p) == -EINVAL, "IPv4: IHL 4 is refused");
}

static void test_parse_ipv6(void)
{
	struct akm_pkt p;
	u8 b[128];

	ipv6(b, 0, 8);
	ok(parse(b, 40, true, &p) == 0 && p.nhlen == 40 && p.protoff == 6 &&
	   p.proto == IPPROTO_UDP && p.v6 && p.saddr.s6_addr[15] == 1,
	   "IPv6: header, next header, addresses");
	ok(parse(b, 39, true, &p) == 40, "IPv6: 39 linear bytes: asks for 40");
	ipv6(b, 24, 8);
	ok(parse(b, 40, true, &p) == 42, "IPv6 + hop-by-hop: asks for its first 2 bytes");
	ok(parse(b, 42, true, &p) == 64, "... then for all 24 of it");
	ok(parse(b, 64, true, &p) == 0 && p.nhlen == 64 && p.protoff == 40 &&
	   p.proto == IPPROTO_UDP, "... then the protocol after it, named at offset 40");
}

static void test_insert_remove(bool v6, unsigned int ext, const char *name)
{
	unsigned int len, i;
	u8 orig[256], *b;
	struct akm_pkt p;
	char what[128];
	bool same;

	len = v6 ? ipv6(orig, ext, 50) : ipv4(orig, ext, 50);
	b = malloc(len + AKM_HLEN);
	memcpy(b + AKM_HLEN, orig, len);
	parse(orig, len, v6, &p);
	akm_hdr_insert(b, &p, AKM_PROTO_DEFAULT, len + AKM_HLEN);
	b[p.nhlen] = p.proto;
	snprintf(what, sizeof(what), "%s: insert: the IP header names AKM, counts the header", name);
	ok(b[p.protoff] == AKM_PROTO_DEFAULT &&
	   (v6 ? (b[4] << 8 | b[5]) + 40u == len + AKM_HLEN :
		 (b[2] << 8 | b[3]) + 0u == len + AKM_HLEN && !csum(b, p.nhlen)), what);
	snprintf(what, sizeof(what), "%s: insert: headers and payload kept", name);
	same = !memcmp(b + p.nhlen + AKM_HLEN, orig + p.nhlen, len - p.nhlen);
	for (i = 0; i < p.nhlen; i++)
		same &= i == p.protoff || b[i] == orig[i] ||
			(v6 ? i == 4 || i == 5 : i == 2 || i == 3 || i == 10 || i == 11);
	ok(same, what);
	snprintf(what, sizeof(what), "%s: remove gives the packet back", name);
	p.proto = 0;
	ok(!akm_hdr_remove(b, &p, len + AKM_HLEN) && p.proto == IPPROTO_UDP &&
	   !memcmp(b + AKM_HLEN, orig, len), what);
	snprintf(what, sizeof(what), "%s: remove refuses a packet shorter than the headers", name);
	ok(akm_hdr_remove(b, &p, p.nhlen + AKM_HLEN - 1) == -EINVAL, what);
	free(b);
}

static void test_pseudo(void)
{
	struct akm_pseudo ph;
	struct akmhdr h = { .nexthdr = 17, .version = 1, .seq = htonl(5) };
	struct akm_pkt p;
	u8 b[64];

	ipv4(b, 0, 8);
	parse(b, 20, false, &p);
	akm_pseudo_fill(&ph, &p, &h, 0x700000005ULL, 8);
	ok(ph.saddr[10] == 0xff && ph.saddr[15] == 1 && ph.daddr[15] == 2 &&
	   ntohl(ph.seq_hi) == 7 && ntohl(ph.len) == 8 && !memcmp(ph.hdr, &h, AKM_HLEN_NOTAG),
	   "pseudo-header: addresses, high sequence bits, length, header");
}

/* 48 bits on the wire: bytes 2-3 hold bits 32-47, bytes 16-19 bits 0-31. */
static void test_seq(void)
{
	static const u64 v[] = { 1, 0xffffffffULL, 0x100000000ULL, 0x123456789abcULL,
				 (1ULL << 48) - 1 };
	struct akmhdr h = { 0 };
	const u8 *b = (const u8 *)&h;
	unsigned int i;
	int same = 1;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		akm_hdr_set_seq(&h, v[i]);
		same &= akm_hdr_seq(&h) == v[i];
	}
	ok(same, "sequence numbers up to 2^48 - 1 survive the header");
	ok(b[2] == 0xff && b[3] == 0xff && b[16] == 0xff && b[19] == 0xff &&
	   akm_hdr_valid(&h) == 0, "bits 32-47 in bytes 2-3, bits 0-31 in bytes 16-19");
	h.version = AKM_WIRE_VERSION;
	ok(akm_hdr_valid(&h), "a header with bits 32-47 set is valid");
}

static void test_mss(void)
{
	static const struct {
		u8 opt[12];
		unsigned int len;
		int off;
		const char *name;
	} t[] = {
		{ { 2, 4, 5, 0xb4 }, 4, 2, "MSS alone" },
		{ { 1, 1, 4, 2, 2, 4, 5, 0xb4 }, 8, 6, "after NOP, NOP, SACK-permitted" },
		{ { 0, 2, 4, 5, 0xb4 }, 5, -ENOENT, "after EOL: not looked at" },
		{ { 8, 0, 2, 4, 5, 0xb4 }, 6, -ENOENT, "after a zero-length option: stops" },
		{ { 8, 9, 2, 4, 5, 0xb4 }, 6, -ENOENT, "after an option overrunning the list" },
		{ { 2, 3, 0, 2, 4, 5, 0xb4 }, 7, 5, "a 3-byte MSS is skipped" },
		{ { 1, 1, 2, 4, 5 }, 5, -ENOENT, "MSS cut by the end of the options" },
		{ { 1, 2 }, 2, -ENOENT, "an option kind as the last byte" },
		{ { 0 }, 0, -ENOENT, "no options" },
	};
	unsigned int i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		u8 *o = malloc(t[i].len ? t[i].len : 1);
		char what[96];

		memcpy(o, t[i].opt, t[i].len);
		snprintf(what, sizeof(what), "MSS option: %s", t[i].name);
		ok(akm_mss_find(o, t[i].len) == t[i].off, what);
		free(o);
	}
}

int main(void)
{
	test_parse_ipv4();
	test_parse_ipv6();
	test_insert_remove(false, 0, "IPv4");
	test_insert_remove(false, 40, "IPv4 with 40 bytes of options");
	test_insert_remove(true, 0, "IPv6");
	test_insert_remove(true, 24, "IPv6 with hop-by-hop");
	test_pseudo();
	test_seq();
	test_mss();
	printf("1..%d\n", n);
	return failed != 0;
}
