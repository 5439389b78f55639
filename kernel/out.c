// SPDX-License-Identifier: GPL-2.0
/*
 * The sending side of the packet path (hooks.c): which packets get a
 * header, conntrack's confirm step before it, GSO, the header and tag.
 */
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/netfilter.h>
#include <linux/netdevice.h>
#include <linux/tcp.h>
#include <net/ip.h>
#include <net/ipv6.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/netfilter/nf_conntrack_core.h>
#include <net/netfilter/nf_conntrack_helper.h>
#include <net/netfilter/nf_conntrack_tuple.h>
#include <net/inet_sock.h>
#ifdef AKM_HAVE_NET_GSO
#include <net/gso.h>
#endif
#include <net/tcp.h>

#include "akm.h"

/*
 * Lower the MSS option of a TCP SYN by the AKM header, so that full-size
 * segments still fit the path MTU once tagged. Called before the checksum
 * is final (CHECKSUM_PARTIAL) or fixes it up.
 */
static void akm_clamp_mss(struct sk_buff *skb, unsigned int thoff)
{
	struct tcphdr *th;
	u16 old, new;
	u8 *mss;
	int off;

	if (!pskb_may_pull(skb, thoff + sizeof(*th)))
		return;
	th = (struct tcphdr *)(skb->data + thoff);
	if (!th->syn || th->doff * 4 < sizeof(*th) ||
	    skb_ensure_writable(skb, thoff + th->doff * 4))
		return;
	th = (struct tcphdr *)(skb->data + thoff);
	off = akm_mss_find((u8 *)(th + 1), th->doff * 4 - sizeof(*th));
	if (off < 0)
		return;
	mss = (u8 *)(th + 1) + off;
	old = get_unaligned_be16(mss);
	if (old <= AKM_HLEN + 536)
		return;
	new = old - AKM_HLEN;
	put_unaligned_be16(new, mss);
	if (skb->ip_summed != CHECKSUM_PARTIAL)
		inet_proto_csum_replace2(&th->check, skb, htons(old), htons(new),
					 false);
}

/*
 * Insert the AKM header into a non-GSO packet to @asr's member @m, or to one
 * of its groups (@m NULL), and tag it.
 */
static int akm_tag(struct akm_asr *asr, struct akm_member *m,
		   struct akm_epoch *ep, u32 sender, struct sk_buff *skb,
		   u8 pf)
{
	struct akm_pseudo ph;
	struct akm_pkt p;
	struct akmhdr *h;
	unsigned int len;
	u64 seq;

	if (akm_parse(skb, pf == NFPROTO_IPV6, &p))
		return -EINVAL;
	/*
	 * One header per datagram, before fragmentation: defragmentation in
	 * LOCAL_OUT and PRE_ROUTING means none arrives here unless a rule
	 * bypassed it. (An IPv6 fragment header is payload: it stays whole.)
	 */
	if (!p.v6 && ip_is_fragment(ip_hdr(skb)))
		return -EINVAL;
	if (skb->len + AKM_HLEN > IP_MAX_MTU)
		return -EMSGSIZE;
	if (p.proto == IPPROTO_TCP)
		akm_clamp_mss(skb, p.nhlen);
	/* the tag covers the final checksum: an Internet one or SCTP's CRC32c */
	if (skb->ip_summed == CHECKSUM_PARTIAL && skb_csum_hwoffload_help(skb, 0))
		return -ENOMEM;
	if (skb_cow_head(skb, AKM_HLEN + LL_RESERVED_SPACE(skb_dst(skb)->dev)))
		return -ENOMEM;

	len = skb->len - p.nhlen;
	skb_push(skb, AKM_HLEN);
	akm_hdr_insert(skb->data, &p, akm_proto, skb->len);
	skb_reset_network_header(skb);
	skb_set_transport_header(skb, p.nhlen);
	skb->ignore_df = 1;	/* it may no longer fit: fragment, don't drop */

	seq = atomic64_inc_return(&ep->tx_seq);
	if (seq > AKM_SEQ_LIMIT) {	/* lost a race for the last ones */
		akm_stats_add(&asr->stats, AKM_STATS_A_TX_NO_KEY, 1);
		return -EKEYEXPIRED;
	}
	h = (struct akmhdr *)(skb->data + p.nhlen);
	h->nexthdr = p.proto;
	h->version = AKM_WIRE_VERSION;
	h->asr_id = htonl(asr->id);
	h->epoch = htonl(ep->epoch);
	h->sender = htonl(sender);
	akm_hdr_set_seq(h, seq);
	akm_pseudo_fill(&ph, &p, h, seq, len);
	akm_mac_tag(&ep->mac, &ph, skb, p.nhlen + AKM_HLEN, len, sender, seq,
		    NULL, h->tag);

	akm_stats_add(&asr->stats, AKM_STATS_A_TX_PACKETS, 1);
	akm_stats_add(&asr->stats, AKM_STATS_A_TX_BYTES, len);
	if (m) {
		akm_stats_add(&m->stats, AKM_STATS_A_TX_PACKETS, 1);
		akm_stats_add(&m->stats, AKM_STATS_A_TX_BYTES, len);
	}
	return 0;
}

#ifdef AKM_HAVE_NF_CONFIRM_HOOK
static unsigned int akm_nf_confirm(struct sk_buff *skb,
				   const struct nf_hook_state *state)
{
	return nf_confirm(NULL, skb, state);
}
#else
/* 6.1: what ipv4_confirm() and ipv6_confirm() do around nf_confirm() */
static unsigned int akm_nf_confirm(struct sk_buff *skb,
				   const struct nf_hook_state *state)
{
	enum ip_conntrack_info ctinfo;
	struct nf_conn *ct = nf_ct_get(skb, &ctinfo);
	__be16 frag_off = 0;
	int protoff;
	u8 pnum;

	if (state->pf == NFPROTO_IPV4) {
		protoff = skb_network_offset(skb) + ip_hdrlen(skb);
	} else {
		pnum = ipv6_hdr(skb)->nexthdr;
		protoff = ipv6_skip_exthdr(skb, sizeof(struct ipv6hdr), &pnum,
					   &frag_off);
	}
	if (ctinfo == IP_CT_RELATED_REPLY || protoff < 0 ||
	    (frag_off & htons(~0x7)))
		return nf_conntrack_confirm(skb);
	return nf_confirm(skb, protoff, ct, ctinfo);
}
#endif

/*
 * Conntrack's confirm step, for a packet about to be tagged, before its own
 * hook after ours: helpers and sequence adjustment see the inner packet.
 * Where they would run again on the tagged packet, the entry is detached
 * from it; otherwise it stays (for tc and the qdiscs), already confirmed.
 */
static unsigned int akm_ct_confirm(struct sk_buff *skb,
				   const struct nf_hook_state *state)
{
	enum ip_conntrack_info ctinfo;
	struct nf_conn *ct = nf_ct_get(skb, &ctinfo);
	unsigned int ret;

	if (!ct)
		return NF_ACCEPT;
	ret = akm_nf_confirm(skb, state);
	if (ret == NF_ACCEPT &&
	    (nfct_help(ct) || test_bit(IPS_SEQ_ADJUST_BIT, &ct->status)))
		nf_reset_ct(skb);
	return ret;
}

/*
 * Did NAT rewrite the source address of this routed packet? Compared on
 * the tuples, not the status bits, which a port-only mapping sets too.
 */
static bool akm_snat(struct sk_buff *skb)
{
	const struct nf_conntrack_tuple *o, *r;
	enum ip_conntrack_info ctinfo;
	struct nf_conn *ct;

	ct = nf_ct_get(skb, &ctinfo);
	if (!ct || !(ct->status & IPS_NAT_MASK))
		return false;
	o = &ct->tuplehash[IP_CT_DIR_ORIGINAL].tuple;
	r = &ct->tuplehash[IP_CT_DIR_REPLY].tuple;
	if (CTINFO2DIR(ctinfo) == IP_CT_DIR_ORIGINAL)
		return !nf_inet_addr_cmp(&o->src.u3, &r->dst.u3);
	return !nf_inet_addr_cmp(&o->dst.u3, &r->src.u3);
}

/*
 * Did this node send the packet as itself, from one of its addresses? It
 * made it (no input interface: skb_iif is set on receive and cleared when a
 * tunnel encapsulates), or routed it after NAT gave it one of our addresses
 * (a member masquerading a LAN, or answering for a service it DNATs to). A
 * routed packet that merely claims one of our addresses is not ours: IPv6
 * forwarding does not refuse such a source. Nor is a frame the bridge
 * forwards, which br_netfilter shows us leaving through a bridge port. The
 * source of what an ordinary socket sends is ours; what a transparent
 * proxy, SYNPROXY or a reset on another's behalf sends (no full socket)
 * may not be, and peers drop a tag from us on another's address.
 */
static bool akm_own(struct sk_buff *skb, const struct nf_hook_state *state,
		    const struct akm_pkt *p)
{
	struct sock *sk = skb->sk;

	if (netif_is_bridge_port(state->out))
		return false;
	if (skb->skb_iif && !akm_snat(skb))
		return false;
	if (!skb->skb_iif && sk && sk_fullsock(sk) &&
	    !inet_sk_transparent(sk))
		return true;
	return akm_local_addr(state->net, state->out, p, &p->saddr);
}

/* Segment a GSO packet, tag each segment and send it on. */
static unsigned int akm_out_segs(struct akm_addr *a, struct akm_epoch *ep,
				 u32 sender, struct sk_buff *skb,
				 const struct nf_hook_state *state)
{
	struct sk_buff *segs, *seg, *next;

	segs = skb_gso_segment(skb, NETIF_F_SG);
	if (IS_ERR_OR_NULL(segs))
		return NF_DROP;
	consume_skb(skb);
	skb_list_walk_safe(segs, seg, next) {
		skb_mark_not_on_list(seg);
		if (akm_tag(a->asr, a->member, ep, sender, seg, state->pf))
			kfree_skb(seg);
		else
			state->okfn(state->net, state->sk, seg);
	}
	return NF_STOLEN;
}

unsigned int akm_out(void *priv, struct sk_buff *skb,
		     const struct nf_hook_state *state)
{
	struct akm_net *an = akm_pernet(state->net);
	bool v6 = state->pf == NFPROTO_IPV6;
	struct akm_epoch *ep;
	struct akm_addr *a;
	struct in6_addr dst;
	struct akm_pkt p;
	unsigned int ret;
	u32 sender;

	if (!READ_ONCE(an->n_asrs) || akm_l3mdev(state->out))
		return NF_ACCEPT;
	if (v6)
		dst = ipv6_hdr(skb)->daddr;
	else
		ipv6_addr_set_v4mapped(ip_hdr(skb)->daddr, &dst);
	sender = READ_ONCE(an->node_id);
	a = akm_dst(an, &dst, sender);
	if (!a)
		return NF_ACCEPT;
	if (akm_parse(skb, v6, &p))
		return NF_DROP;
	/* already tagged (routed through us): never twice; link control plain */
	if (p.proto == akm_proto || akm_is_nd(skb, &p) ||
	    !akm_own(skb, state, &p))
		return NF_ACCEPT;

	/* an epoch whose counter ran out is no usable key either */
	ep = rcu_dereference(a->asr->epochs[AKM_KEY_CURRENT]);
	if (!ep || atomic64_read(&ep->tx_seq) >= AKM_SEQ_LIMIT || !sender) {
		akm_stats_add(&a->asr->stats, AKM_STATS_A_TX_NO_KEY, 1);
		return NF_DROP;
	}
	ret = akm_ct_confirm(skb, state);
	if (ret != NF_ACCEPT)
		return ret;
	if (skb_is_gso(skb))
		return akm_out_segs(a, ep, sender, skb, state);
	return akm_tag(a->asr, a->member, ep, sender, skb, state->pf) ?
	       NF_DROP : NF_ACCEPT;
}
