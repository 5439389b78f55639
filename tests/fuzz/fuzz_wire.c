// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * libFuzzer harness for the kernel's packet layout code, kernel/wire.c,
 * compiled as is. The input is a raw IP packet (the seeds in corpus/wire
 * are real AKM packets). The harness plays the IP stack up to LOCAL_IN
 * (what ip_rcv_core()/ip6_rcv_core() check and trim) and the sk_buff (a
 * linear head that grows as akm_parse() pulls), then calls the functions
 * the way kernel/hooks.c does:
 *
 *   receive (akm_in, akm_verify, akm_strip): akm_parse_hdrs() until it
 *     stops asking, the header checks, akm_pseudo_fill(), akm_hdr_remove();
 *   send (akm_tag, akm_clamp_mss): akm_hdr_insert() on a plain packet, then
 *     the receive side on the result, which must give the packet back;
 *     akm_mss_find() on TCP options.
 *
 * Every buffer is allocated to its exact size, so ASan sees any read past
 * what the kernel would have made linear; UBSan checks the arithmetic.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

#define AKM_PROTO	AKM_PROTO_DEFAULT
#define IP_MAX_MTU	0xffffu

#define CHECK(c) do { if (!(c)) { \
	fprintf(stderr, "fuzz_wire: %s:%d: %s\n", __FILE__, __LINE__, #c); \
	abort(); } } while (0)

static u8 *dup(const u8 *b, size_t n)
{
	u8 *d = malloc(n ? n : 1);

	CHECK(d);
	memcpy(d, b, n);
	return d;
}

static unsigned int get16(const u8 *b)
{
	return b[0] << 8 | b[1];
}

static u16 csum(const u8 *b, unsigned int n)
{
	u32 s = 0;
	unsigned int i;

	for (i = 0; i + 1 < n; i += 2)
		s += get16(b + i);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (u16)~s;
}

/*
 * ip_rcv_core() / ip6_rcv_core() and ipv6_parse_hopopts(): the IP length of
 * a packet LOCAL_IN can see, 0 if the stack drops it before.
 */
static unsigned int ip_rcv_len(const u8 *b, size_t size, bool *v6)
{
	unsigned int len;

	if (size < 20 || size > IP_MAX_MTU)
		return 0;
	*v6 = b[0] >> 4 == 6;
	if (b[0] >> 4 == 4) {
		len = get16(b + 2);
		if ((b[0] & 0xf) < 5 || len > size || len < (b[0] & 0xfu) * 4)
			return 0;
		return len;
	}
	if (!*v6 || size < 40 || get16(b + 4) + 40u > size)
		return 0;
	len = get16(b + 4) + 40;
	if (b[6] == NEXTHDR_HOP && (len < 48 || len < 40 + (b[41] + 1u) * 8))
		return 0;
	return len;
}

/* akm_parse(): -1 where the kernel's pskb_may_pull() would fail */
static int parse(const u8 *pkt, unsigned int len, unsigned int head, bool v6,
		 struct akm_pkt *p)
{
	int need;

	for (;;) {
		u8 *h = dup(pkt, head);	/* only the linear part is readable */

		need = akm_parse_hdrs(h, head, v6, p);
		free(h);
		if (need <= 0)
			break;
		CHECK((unsigned int)need > head);	/* so the loop ends */
		if ((unsigned int)need > len)
			return -1;
		head = need;
	}
	if (need < 0)
		return -1;
	CHECK(p->v6 == v6);
	CHECK(p->nhlen <= len && p->protoff < p->nhlen);
	CHECK(p->proto == pkt[p->protoff]);
	if (!v6)
		CHECK(p->nhlen == (pkt[0] & 0xfu) * 4 && p->nhlen >= 20);
	else
		CHECK(p->nhlen == (pkt[6] == NEXTHDR_HOP ? 40 + (pkt[41] + 1u) * 8 : 40));
	return 0;
}

/*
 * akm_strip() of the AKM packet @pkt: what follows the IP headers loses its
 * AKM_HLEN bytes, the IP header names the carried protocol, describes the
 * new length and has a valid checksum; nothing else changes.
 */
static void check_remove(const u8 *pkt, unsigned int len, struct akm_pkt p)
{
	u8 nexthdr = pkt[p.nhlen], *b = dup(pkt, len), *out = b + AKM_HLEN;
	unsigned int n = len - AKM_HLEN;

	CHECK(!akm_hdr_remove(b, &p, len));
	CHECK(p.proto == nexthdr && out[p.protoff] == nexthdr);
	CHECK(!memcmp(out + p.nhlen, pkt + p.nhlen + AKM_HLEN, n - p.nhlen));
	if (!p.v6) {
		CHECK(get16(out + 2) == n && !csum(out, p.nhlen));
		CHECK(!memcmp(out, pkt, 2) && !memcmp(out + 4, pkt + 4, 5));
		CHECK(!memcmp(out + 12, pkt + 12, p.nhlen - 12));
	} else {
		CHECK(get16(out + 4) + 40 == n);
		CHECK(!memcmp(out, pkt, 4) && !memcmp(out + 7, pkt + 7, 33));
		if (p.nhlen > 40)
			CHECK(!memcmp(out + 41, pkt + 41, p.nhlen - 41) &&
			      out[6] == NEXTHDR_HOP);
	}
	free(b);
}

/* akm_tag(): insert the header into a plain packet, then take it out again */
static void check_insert(const u8 *pkt, unsigned int len, const struct akm_pkt *p)
{
	unsigned int n = len + AKM_HLEN;
	u8 *b = malloc(n);
	struct akmhdr *h;
	struct akm_pkt q;

	CHECK(b);
	memcpy(b + AKM_HLEN, pkt, len);
	akm_hdr_insert(b, p, AKM_PROTO, n);
	h = (struct akmhdr *)(b + p->nhlen);
	memset(h, 0, AKM_HLEN);
	h->nexthdr = p->proto;
	h->version = AKM_WIRE_VERSION;
	CHECK(!parse(b, n, n, p->v6, &q));
	CHECK(q.nhlen == p->nhlen && q.protoff == p->protoff && q.proto == AKM_PROTO);
	CHECK(!memcmp(&q.saddr, &p->saddr, 16) && !memcmp(&q.daddr, &p->daddr, 16));
	CHECK(!memcmp(b + p->nhlen + AKM_HLEN, pkt + p->nhlen, len - p->nhlen));
	CHECK(!akm_hdr_remove(b, &q, n));
	/* the packet comes back; an IPv4 header with its checksum made valid */
	if (!p->v6)
		CHECK(!memcmp(b + AKM_HLEN, pkt, 10) && !csum(b + AKM_HLEN, p->nhlen) &&
		      !memcmp(b + AKM_HLEN + 12, pkt + 12, len - 12));
	else
		CHECK(!memcmp(b + AKM_HLEN, pkt, len));
	free(b);
}

/* akm_clamp_mss() */
static void check_mss(const u8 *pkt, unsigned int len, const struct akm_pkt *p)
{
	const u8 *th = pkt + p->nhlen;
	unsigned int optlen;
	int off;
	u8 *opt;

	if (len < p->nhlen + 20u || (th[12] >> 4) * 4u < 20 ||
	    (th[12] >> 4) * 4u > len - p->nhlen)
		return;
	optlen = (th[12] >> 4) * 4u - 20;
	opt = dup(th + 20, optlen);
	off = akm_mss_find(opt, optlen);
	CHECK(off == -ENOENT ||
	      (off >= 2 && off + 2u <= optlen && opt[off - 2] == TCPOPT_MSS &&
	       opt[off - 1] == TCPOLEN_MSS));
	free(opt);
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	struct akm_pseudo ph;
	struct akm_pkt p;
	unsigned int len;
	bool v6;
	u8 *pkt;

	len = ip_rcv_len(data, size, &v6);
	if (!len)
		return 0;
	pkt = dup(data, len);	/* trimmed to the IP length */
	/* the linear head: the fixed header (the stack guarantees more) */
	if (parse(pkt, len, v6 ? 40 : 20, v6, &p))
		goto out;
	if (p.proto == AKM_PROTO) {
		const struct akmhdr *h = (const void *)(pkt + p.nhlen);

		/* akm_verify(): pskb_may_pull(nhlen + AKM_HLEN), akm_hdr_valid() */
		if (len < p.nhlen + AKM_HLEN)
			goto out;
		/* akm_in(): looped-back multicast is stripped unchecked */
		check_remove(pkt, len, p);
		if (!akm_hdr_valid(h))
			goto out;
		akm_pseudo_fill(&ph, &p, h, (u64)get16(data) << 32 | 1,
				len - p.nhlen - AKM_HLEN);
		CHECK(!memcmp(ph.saddr, &p.saddr, 16) && !memcmp(ph.hdr, h, AKM_HLEN_NOTAG));
		CHECK(ntohl(ph.len) == len - p.nhlen - AKM_HLEN &&
		      ntohl(ph.seq_hi) == get16(data));
	} else if (len + AKM_HLEN <= IP_MAX_MTU) {
		check_insert(pkt, len, &p);
		if (p.proto == IPPROTO_TCP)
			check_mss(pkt, len, &p);
	}
out:
	free(pkt);
	return 0;
}
