// SPDX-License-Identifier: GPL-2.0
/*
 * ICMP errors about packets to members, seen in PRE_ROUTING before
 * conntrack (hooks.c) and only when addressed to this host.
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
 * This node sends nothing plain to a member: an error that came without a
 * tag and quotes a plain packet to a member is forged (to shrink a path
 * MTU or reset a connection), as is one quoting an AKM header that this
 * node did not send lately. Both are dropped and counted (drop_icmp).
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

/* Could this node have sent the quoted AKM header @h, to @q->daddr? */
static bool akm_icmp_ours(struct akm_net *an, const struct akmhdr *h,
			  const struct akm_pkt *q)
{
	struct akm_addr *a = akm_dst(an, &q->daddr);
	struct akm_epoch *ep;

	if (!a || !akm_hdr_valid(h) || a->asr->id != ntohl(h->asr_id) ||
	    ntohl(h->sender) != READ_ONCE(an->node_id))
		return false;
	ep = akm_epoch_rx(a->asr, ntohl(h->epoch));
	return ep && (u32)atomic64_read(&ep->tx_seq) - ntohl(h->seq) <
		     AKM_ICMP_SEQ_WINDOW;
}

/* A quoted plain packet that this node would have tagged? */
static struct akm_addr *akm_icmp_plain(struct akm_net *an, const u8 *quote,
				       unsigned int len,
				       const struct akm_pkt *q)
{
	if (q->v6 && q->proto == NEXTHDR_FRAGMENT)
		return NULL;	/* the AKM header may follow: cannot tell */
	if (q->v6 && q->proto == IPPROTO_ICMPV6 && len > q->nhlen &&
	    quote[q->nhlen] >= NDISC_ROUTER_SOLICITATION &&
	    quote[q->nhlen] <= NDISC_REDIRECT)
		return NULL;	/* neighbour discovery is sent plain */
	return akm_dst(an, &q->daddr);
}

static void akm_icmp_drop(struct akm_net *an, struct akm_addr *a)
{
	if (!a) {
		akm_fail(an, &an->stats, AKM_STATS_A_DROP_ICMP, 0, 0);
		return;
	}
	if (a->member)
		akm_stats_add(&a->member->stats, AKM_STATS_A_DROP_ICMP, 1);
	akm_fail(an, &a->asr->stats, AKM_STATS_A_DROP_ICMP, a->asr->id,
		 a->member ? a->member->node_id : 0);
}

/* Is the checksum of the ICMP message at @ih, @len bytes, right? */
static bool akm_icmp_csum_ok(const u8 *nh, const struct akm_pkt *p,
			     const void *ih, unsigned int len)
{
	const struct ipv6hdr *ip6h = (const struct ipv6hdr *)nh;

	if (!p->v6)
		return !ip_compute_csum(ih, len);
	return !csum_ipv6_magic(&ip6h->saddr, &ip6h->daddr, len,
				IPPROTO_ICMPV6, csum_partial(ih, len, 0));
}

/* Lower a reported MTU by the AKM header and write the new checksum. */
static void akm_icmp_finish(u8 *nh, const struct akm_pkt *p, unsigned int len)
{
	if (!p->v6) {
		struct icmphdr *ih = (struct icmphdr *)(nh + p->nhlen);
		u16 mtu = ntohs(ih->un.frag.mtu);

		if (ih->type == ICMP_DEST_UNREACH &&
		    ih->code == ICMP_FRAG_NEEDED && mtu > AKM_HLEN)
			ih->un.frag.mtu = htons(mtu - AKM_HLEN);
		ih->checksum = 0;
		ih->checksum = ip_compute_csum(ih, len);
	} else {
		struct icmp6hdr *ih = (struct icmp6hdr *)(nh + p->nhlen);
		struct ipv6hdr *ip6h = (struct ipv6hdr *)nh;
		u32 mtu = ntohl(ih->icmp6_mtu);

		/*
		 * Not below the IPv6 minimum, which the inner protocols would
		 * ignore: on such a path the sender fragments what it tags.
		 */
		if (ih->icmp6_type == ICMPV6_PKT_TOOBIG && mtu > IPV6_MIN_MTU)
			ih->icmp6_mtu = htonl(max_t(u32, mtu - AKM_HLEN,
						    IPV6_MIN_MTU));
		ih->icmp6_cksum = 0;
		ih->icmp6_cksum = csum_ipv6_magic(&ip6h->saddr, &ip6h->daddr,
						  len, IPPROTO_ICMPV6,
						  csum_partial(ih, len, 0));
	}
}

/*
 * An ICMP error @p delivered to this host; @trusted if it came with a
 * verified tag or from this host's own stack. Returns the verdict.
 */
unsigned int akm_icmp_in(struct akm_net *an, struct sk_buff *skb,
			 const struct akm_pkt *p, bool trusted)
{
	unsigned int q = p->nhlen + sizeof(struct icmphdr);
	const struct iphdr *qiph;
	struct akm_pkt qp;
	struct akm_addr *a;
	unsigned int qlen;
	u8 *nh;

	BUILD_BUG_ON(sizeof(struct icmphdr) != sizeof(struct icmp6hdr));
	/* errors are short (576 bytes, 1280 for IPv6): work on them linear */
	if (skb->len <= q || !pskb_may_pull(skb, skb->len))
		return NF_ACCEPT;
	nh = skb->data;
	if (akm_parse_hdrs(nh + q, skb->len - q, p->v6, &qp))
		return NF_ACCEPT;	/* too short to say: the ICMP layer judges */
	qiph = (const struct iphdr *)(nh + q);
	if (!qp.v6 && (qiph->frag_off & htons(IP_OFFSET)))
		return NF_ACCEPT;	/* a later fragment: no headers quoted */

	if (qp.proto != akm_proto) {
		a = trusted ? NULL : akm_icmp_plain(an, nh + q, skb->len - q, &qp);
		if (!a)
			return NF_ACCEPT;
		akm_icmp_drop(an, a);
		return NF_DROP;
	}

	/* the whole AKM header and the inner ports, or nothing to unwrap */
	if (skb->len < q + qp.nhlen + AKM_HLEN + 8)
		return NF_ACCEPT;
	if (!akm_icmp_ours(an, (const struct akmhdr *)(nh + q + qp.nhlen),
			   &qp)) {
		akm_icmp_drop(an, NULL);
		return NF_DROP;
	}
	qlen = qp.v6 ? ntohs(((const struct ipv6hdr *)qiph)->payload_len) +
		       sizeof(struct ipv6hdr) : ntohs(qiph->tot_len);
	if (qlen < qp.nhlen + AKM_HLEN ||
	    !akm_icmp_csum_ok(nh, p, nh + p->nhlen, skb->len - p->nhlen))
		return NF_ACCEPT;	/* broken: the ICMP layer counts it */
	if (skb_ensure_writable(skb, skb->len))
		return NF_DROP;

	/* close the quoted header's room, then move what precedes it up */
	nh = skb->data;
	akm_hdr_remove(nh + q, &qp, qlen);
	memmove(nh + AKM_HLEN, nh, q);
	skb_pull(skb, AKM_HLEN);
	skb_reset_network_header(skb);
	skb_set_transport_header(skb, p->nhlen);
	nh = skb->data;
	akm_set_iphdr(nh, p, p->proto, skb->len);
	akm_icmp_finish(nh, p, skb->len - p->nhlen);
	skb->ip_summed = CHECKSUM_UNNECESSARY;	/* checked, then rewritten */
	skb->csum_level = 0;
	return NF_ACCEPT;
}
