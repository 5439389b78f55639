// SPDX-License-Identifier: GPL-2.0
/*
 * ICMP errors delivered to this host, seen in PRE_ROUTING before conntrack
 * (in.c).
 *
 * An error quotes the start of the packet it is about. For a packet this
 * node tagged that is IP | AKM | transport, which conntrack cannot relate
 * to the inner flow and whose inner protocol never hears of it. So, as
 * ah4_err() and esp6_err() take the error of an IPsec packet, the quote is
 * unwrapped here to IP | transport, as the inner protocol sent it, and a
 * reported MTU lowered by the header: conntrack relates the error to the
 * inner flow ("related"), and the inner protocol's handler (tcp_v4_err(),
 * udpv6_err(), ...) learns the MTU left for it.
 *
 * This node sends nothing plain to a member: an error quoting a plain
 * packet to a member is forged (to shrink a path MTU or reset a
 * connection), unless that member itself sent it with a tag, or this
 * host's own stack did; so is one quoting an AKM header this node did not
 * send lately. Both are dropped and counted (drop_icmp).
 */
#include <linux/icmp.h>
#include <linux/icmpv6.h>
#include <linux/skbuff.h>
#include <net/ip.h>
#include <net/ip6_checksum.h>
#include <net/ipv6.h>
#include <net/ndisc.h>

#include "akm.h"

/* How far back a quoted sequence number may be: well over one RTT. */
#define AKM_ICMP_SEQ_WINDOW	BIT(20)
/* No genuine error is longer (RFC 4443: 1280 bytes; RFC 1812: 576). */
#define AKM_ICMP_MAX		2048

/*
 * Could this node have sent the quoted AKM header @h to @q->daddr lately?
 * Our sender id, the ASR of that destination, the current or previous
 * epoch, a sequence number among the last ones sent under it.
 */
static bool akm_icmp_ours(struct akm_net *an, const struct akmhdr *h,
			  const struct akm_pkt *q, u32 self)
{
	struct akm_addr *a = akm_dst(an, &q->daddr, self);
	struct akm_epoch *ep;
	u64 seq = akm_hdr_seq(h);
	int i;

	if (!a || !self || !seq || !akm_hdr_valid(h) ||
	    a->asr->id != ntohl(h->asr_id) || ntohl(h->sender) != self)
		return false;
	for (i = AKM_KEY_CURRENT; i <= AKM_KEY_PREVIOUS; i++) {
		ep = rcu_dereference(a->asr->epochs[i]);
		if (ep && ep->epoch == ntohl(h->epoch)) {
			u64 tx = atomic64_read(&ep->tx_seq);

			return seq <= tx && tx - seq < AKM_ICMP_SEQ_WINDOW;
		}
	}
	return false;
}

/*
 * The upper-layer protocol of a quoted IPv6 packet and its offset @*off,
 * past the extension headers after the first @*off bytes (as
 * icmpv6_notify() goes); @*frag if one is a fragment header. -1 if the
 * quote ends first.
 */
static int akm_quote_proto6(const u8 *q, unsigned int len, unsigned int *off,
			    u8 nexthdr, bool *frag)
{
	unsigned int o = *off, hl;

	while (ipv6_ext_hdr(nexthdr) && nexthdr != NEXTHDR_NONE) {
		if (o + 8 > len)
			return -1;
		if (nexthdr == NEXTHDR_FRAGMENT) {
			*frag = true;
			hl = 8;
		} else if (nexthdr == NEXTHDR_AUTH) {
			hl = ipv6_authlen((const struct ipv6_opt_hdr *)(q + o));
		} else {
			hl = ipv6_optlen((const struct ipv6_opt_hdr *)(q + o));
		}
		nexthdr = q[o];
		o += hl;
	}
	*off = o;
	return nexthdr;
}

static unsigned int akm_icmp_drop(struct akm_net *an, struct akm_addr *a)
{
	if (!a) {
		akm_fail(an, &an->stats, AKM_STATS_A_DROP_ICMP, 0, 0);
		return NF_DROP;
	}
	if (a->member)
		akm_stats_add(&a->member->stats, AKM_STATS_A_DROP_ICMP, 1);
	akm_fail(an, &a->asr->stats, AKM_STATS_A_DROP_ICMP, a->asr->id,
		 a->member ? a->member->node_id : 0);
	return NF_DROP;
}

/* The ICMP message at @ih, @len bytes: its checksum; 0 if right. */
static __sum16 akm_icmp_csum(const u8 *nh, const struct akm_pkt *p,
			     const void *ih, unsigned int len)
{
	const struct ipv6hdr *ip6h = (const struct ipv6hdr *)nh;

	if (!p->v6)
		return ip_compute_csum(ih, len);
	return csum_ipv6_magic(&ip6h->saddr, &ip6h->daddr, len, IPPROTO_ICMPV6,
			       csum_partial(ih, len, 0));
}

/*
 * The errors worth unwrapping: the MTU, unreachable and time exceeded.
 * A peer's "protocol unreachable" about AKM, or a parameter problem,
 * stays about AKM: no inner protocol is to blame.
 */
static bool akm_icmp_unwrap(const struct akm_pkt *p, const u8 *ih)
{
	if (!p->v6)
		return (ih[0] == ICMP_DEST_UNREACH && ih[1] != ICMP_PROT_UNREACH) ||
		       ih[0] == ICMP_TIME_EXCEEDED;
	return ih[0] == ICMPV6_DEST_UNREACH || ih[0] == ICMPV6_PKT_TOOBIG ||
	       ih[0] == ICMPV6_TIME_EXCEED;
}

/*
 * After the quote lost AKM_HLEN bytes: lower a reported MTU by as much,
 * correct an RFC 4884 length, write the new checksum.
 */
static void akm_icmp_finish(u8 *nh, const struct akm_pkt *p, unsigned int ioff,
			    unsigned int len)
{
	if (!p->v6) {
		struct icmphdr *ih = (struct icmphdr *)(nh + ioff);
		u16 mtu = ntohs(ih->un.frag.mtu);

		if (ih->type == ICMP_DEST_UNREACH &&
		    ih->code == ICMP_FRAG_NEEDED && mtu > AKM_HLEN)
			ih->un.frag.mtu = htons(mtu - AKM_HLEN);
		if (ih->un.reserved[1] >= AKM_HLEN / 4)	/* 32-bit words */
			ih->un.reserved[1] -= AKM_HLEN / 4;
		ih->checksum = 0;
		ih->checksum = ip_compute_csum(ih, len);
	} else {
		struct icmp6hdr *ih = (struct icmp6hdr *)(nh + ioff);
		u32 mtu = ntohl(ih->icmp6_mtu);

		/*
		 * Not below the IPv6 minimum, which the inner protocols would
		 * ignore: on such a path the sender fragments what it tags.
		 */
		if (ih->icmp6_type == ICMPV6_PKT_TOOBIG && mtu > IPV6_MIN_MTU)
			ih->icmp6_mtu = htonl(max_t(u32, mtu - AKM_HLEN,
						    IPV6_MIN_MTU));
		else if (ih->icmp6_type != ICMPV6_PKT_TOOBIG)
			ih->icmp6_datagram_len = 0;	/* 64-bit words: gone */
		ih->icmp6_cksum = 0;
		ih->icmp6_cksum = akm_icmp_csum(nh, p, ih, len);
	}
}

/*
 * An ICMP error @p, its message at @ioff, delivered to this host: from
 * member @from (verified), or from this host's own stack (@local), or
 * from anyone. Returns the verdict.
 */
unsigned int akm_icmp_in(struct akm_net *an, struct sk_buff *skb,
			 const struct akm_pkt *p, unsigned int ioff, u32 self,
			 const struct akm_member *from, bool local)
{
	unsigned int q = ioff + sizeof(struct icmphdr), qoff, qlen;
	const struct iphdr *qiph;
	struct akm_pkt qp;
	struct akm_addr *a;
	bool frag = false;
	int proto;
	u8 *nh;

	BUILD_BUG_ON(sizeof(struct icmphdr) != sizeof(struct icmp6hdr));
	if (skb->len <= q)
		return NF_ACCEPT;	/* the ICMP layer drops it */
	if (skb->len > AKM_ICMP_MAX)
		return akm_icmp_drop(an, NULL);
	if (!pskb_may_pull(skb, skb->len))
		return NF_DROP;
	nh = skb->data;
	if (akm_parse_hdrs(nh + q, skb->len - q, p->v6, &qp))
		return NF_ACCEPT;	/* too short: the ICMP layer ignores it */
	qiph = (const struct iphdr *)(nh + q);
	qoff = qp.nhlen;
	proto = qp.proto;
	if (qp.v6 && proto != akm_proto)
		proto = akm_quote_proto6(nh + q, skb->len - q, &qoff, qp.proto,
					 &frag);
	if (proto < 0)
		return NF_ACCEPT;	/* too short: as above */

	if (proto != akm_proto) {
		a = akm_dst(an, &qp.daddr, self);
		if (!a || local || (from && a->member == from))
			return NF_ACCEPT;
		/* neighbour discovery is sent plain, but too big it is not */
		if (qp.v6 && proto == IPPROTO_ICMPV6 && q + qoff < skb->len &&
		    nh[q + qoff] >= NDISC_ROUTER_SOLICITATION &&
		    nh[q + qoff] <= NDISC_REDIRECT &&
		    nh[ioff] != ICMPV6_PKT_TOOBIG)
			return NF_ACCEPT;
		return akm_icmp_drop(an, a);
	}
	/*
	 * Our packet, fragmented (IPv6: the AKM header behind a fragment
	 * header, or any other): the ICMP layer finds no handler for it.
	 */
	if (frag || qoff != qp.nhlen ||
	    (!qp.v6 && (qiph->frag_off & htons(IP_OFFSET))))
		return NF_ACCEPT;
	/* the whole AKM header and the inner ports, or nothing to unwrap */
	if (skb->len < q + qp.nhlen + AKM_HLEN + 8)
		return NF_ACCEPT;
	if (!akm_icmp_ours(an, (const struct akmhdr *)(nh + q + qp.nhlen), &qp,
			   self))
		return akm_icmp_drop(an, NULL);
	qlen = qp.v6 ? ntohs(((const struct ipv6hdr *)qiph)->payload_len) +
		       sizeof(struct ipv6hdr) : ntohs(qiph->tot_len);
	if (!akm_icmp_unwrap(p, nh + ioff) || qlen < qp.nhlen + AKM_HLEN ||
	    akm_icmp_csum(nh, p, nh + ioff, skb->len - ioff))
		return NF_ACCEPT;	/* left about AKM, or counted as broken */
	if (skb_ensure_writable(skb, skb->len))
		return NF_DROP;

	/* close the quoted header's room, then move what precedes it up */
	nh = skb->data;
	akm_hdr_remove(nh + q, &qp, qlen);
	memmove(nh + AKM_HLEN, nh, q);
	skb_pull(skb, AKM_HLEN);
	skb_reset_network_header(skb);
	skb_set_transport_header(skb, p->nhlen);
	skb_mac_header_rebuild(skb);
	nh = skb->data;
	akm_set_iphdr(nh, p, p->proto, skb->len);
	akm_icmp_finish(nh, p, ioff, skb->len - ioff);
	skb->ip_summed = CHECKSUM_UNNECESSARY;	/* checked, then rewritten */
	skb->csum_level = 0;
	return NF_ACCEPT;
}
