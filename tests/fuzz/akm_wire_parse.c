// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Receive-side parse of kernel/hooks.c on a linear buffer (see the header).
 * Every check carries the name of the kernel function it mirrors.
 */
#include <string.h>

#include "akm_wire_parse.h"

#define NEXTHDR_HOP	0
#define IPV4_HLEN	20
#define IPV6_HLEN	40

static u16 get16(const u8 *b)
{
	return (u16)(b[0] << 8 | b[1]);
}

static u32 get32(const u8 *b)
{
	return (u32)b[0] << 24 | (u32)b[1] << 16 | (u32)b[2] << 8 | b[3];
}

static void put16(u8 *b, u16 v)
{
	b[0] = v >> 8;
	b[1] = v & 0xff;
}

u16 akm_wire_csum(const u8 *data, size_t len)
{
	u32 s = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		s += get16(data + i);
	if (len & 1)
		s += (u32)data[len - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (u16)~s;
}

enum akm_wire_verdict akm_wire_parse(const u8 *buf, size_t len, u8 akm_proto,
				     struct akm_wire_pkt *p)
{
	const struct akmhdr *h;

	memset(p, 0, sizeof(*p));
	if (len < 1)
		return AKM_WIRE_NOT_IP;
	p->pf = buf[0] >> 4;
	if (p->pf == 4) {
		unsigned int ihl, tot;

		/* ip_rcv_core(); the header checksum is not checked here */
		if (len < IPV4_HLEN)
			return AKM_WIRE_NOT_IP;
		ihl = (buf[0] & 0xf) * 4u;
		if (ihl < IPV4_HLEN || len < ihl)
			return AKM_WIRE_NOT_IP;
		tot = get16(buf + 2);
		if (len < tot || tot < ihl)
			return AKM_WIRE_NOT_IP;
		p->len = tot;			/* pskb_trim_rcsum() */
		/* akm_parse() */
		memset(p->saddr + 10, 0xff, 2);	/* ipv6_addr_set_v4mapped() */
		memcpy(p->saddr + 12, buf + 12, 4);
		memset(p->daddr + 10, 0xff, 2);
		memcpy(p->daddr + 12, buf + 16, 4);
		p->nhlen = ihl;			/* ip_hdrlen() */
		p->protoff = 9;			/* offsetof(struct iphdr, protocol) */
		p->proto = buf[9];
	} else if (p->pf == 6) {
		unsigned int plen;

		/* ip6_rcv_core() */
		if (len < IPV6_HLEN)
			return AKM_WIRE_NOT_IP;
		plen = get16(buf + 4);
		p->len = len;
		/* plen 0 with hop-by-hop options: a jumbogram, not trimmed */
		if (plen || buf[6] != NEXTHDR_HOP) {
			if (plen + IPV6_HLEN > len)
				return AKM_WIRE_NOT_IP;
			p->len = plen + IPV6_HLEN;
		}
		/* ipv6_parse_hopopts(): the header must be there */
		if (buf[6] == NEXTHDR_HOP &&
		    (p->len < IPV6_HLEN + 8 ||
		     p->len < IPV6_HLEN + (buf[IPV6_HLEN + 1] + 1u) * 8))
			return AKM_WIRE_NOT_IP;
		/* akm_parse() */
		memcpy(p->saddr, buf + 8, 16);
		memcpy(p->daddr, buf + 24, 16);
		p->nhlen = IPV6_HLEN;
		p->protoff = 6;			/* offsetof(struct ipv6hdr, nexthdr) */
		p->proto = buf[6];
		if (p->proto == NEXTHDR_HOP) {
			/* skb_header_pointer(skb, p->nhlen, 2, _h) */
			if (p->len < p->nhlen + 2u)
				return AKM_WIRE_PASS;
			p->protoff = p->nhlen;
			p->proto = buf[p->nhlen];
			/* ipv6_optlen() */
			p->nhlen += (buf[p->nhlen + 1] + 1u) << 3;
			/* pskb_may_pull(skb, p->nhlen) */
			if (p->len < p->nhlen)
				return AKM_WIRE_PASS;
		}
	} else {
		return AKM_WIRE_NOT_IP;
	}

	/* akm_in() */
	if (p->proto != akm_proto)
		return AKM_WIRE_PLAIN;
	/* akm_verify(): pskb_may_pull(skb, p->nhlen + AKM_HLEN) */
	if (p->len < (size_t)p->nhlen + AKM_HLEN)
		return AKM_WIRE_MALFORMED;
	h = (const struct akmhdr *)(buf + p->nhlen);
	/* set even when malformed: akm_in() strips looped-back packets unchecked */
	p->h = h;
	p->asr_id = get32(buf + p->nhlen + 4);
	p->epoch = get32(buf + p->nhlen + 8);
	p->sender = get32(buf + p->nhlen + 12);
	p->seq_lo = get32(buf + p->nhlen + 16);
	/* len = skb->len - p->nhlen - AKM_HLEN (an unsigned int) */
	p->payload_len = (unsigned int)(p->len - p->nhlen - AKM_HLEN);
	if (!akm_hdr_valid(h))
		return AKM_WIRE_MALFORMED;
	return AKM_WIRE_AKM;
}

size_t akm_wire_strip(const u8 *buf, const struct akm_wire_pkt *p, u8 *out)
{
	size_t n = p->len - AKM_HLEN;

	/* memmove(skb->data + AKM_HLEN, skb->data, p->nhlen); skb_pull() */
	memcpy(out, buf, p->nhlen);
	memcpy(out + p->nhlen, buf + p->nhlen + AKM_HLEN, n - p->nhlen);
	/* akm_fix_iphdr() */
	out[p->protoff] = p->h->nexthdr;
	if (p->pf == 4) {
		put16(out + 2, (u16)n);			/* htons(skb->len) */
		put16(out + 10, 0);			/* ip_send_check() */
		put16(out + 10, akm_wire_csum(out, p->nhlen));
	} else {
		put16(out + 4, (u16)(n - IPV6_HLEN));	/* htons(skb->len - 40) */
	}
	return n;
}
