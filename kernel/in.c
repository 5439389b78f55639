// SPDX-License-Identifier: GPL-2.0
/*
 * The receiving side of the packet path (hooks.c): verification, the
 * replay windows, the policy for plain packets from members and to ASR
 * groups, and the LOCAL_IN backstop for what reached this host another way.
 */
#include <linux/icmp.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/netfilter.h>
#include <linux/netfilter_bridge.h>
#include <linux/netdevice.h>
#include <crypto/algapi.h>
#include <net/ip.h>
#include <net/ipv6.h>
#include <net/netfilter/nf_conntrack_tuple.h>
#include <net/netfilter/nf_conntrack.h>

#include "akm.h"

/* The receive window for @epoch, claiming a slot no installed epoch uses. */
static struct akm_rx *akm_rx_slot(struct akm_member *m, u32 epoch)
{
	struct akm_rx *free = NULL;
	int i;

	for (i = 0; i < ARRAY_SIZE(m->rx); i++) {
		if (m->rx[i].epoch == epoch)
			return &m->rx[i];
		if (!free && !akm_epoch_rx(m->asr, m->rx[i].epoch))
			free = &m->rx[i];
	}
	if (free) {
		memset(free, 0, sizeof(*free));
		free->epoch = epoch;
	}
	return free;
}

/* Pre-check a sequence number: replays fail before the MAC. */
static bool akm_rx_check(struct akm_member *m, u32 epoch, u64 seq)
{
	struct akm_rx *rx;
	bool ok = false;

	spin_lock_bh(&m->rx_lock);
	rx = m->dead ? NULL : akm_rx_slot(m, epoch);
	if (rx)
		ok = akm_replay_check(&rx->window, seq);
	spin_unlock_bh(&m->rx_lock);
	return ok;
}

static bool akm_rx_commit(struct akm_member *m, u32 epoch, u64 seq)
{
	struct akm_rx *rx;
	bool ok = false;

	spin_lock_bh(&m->rx_lock);
	rx = m->dead ? NULL : akm_rx_slot(m, epoch);
	if (rx)
		ok = akm_replay_update(&rx->window, seq);
	spin_unlock_bh(&m->rx_lock);
	return ok;
}

/* The ASR whose multicast group a packet is addressed to, if any. */
static struct akm_asr *akm_group(struct akm_net *an, const struct akm_pkt *p)
{
	struct akm_addr *g;

	if (p->v6 ? !ipv6_addr_is_multicast(&p->daddr) :
		    !ipv4_is_multicast(p->daddr.s6_addr32[3]))
		return NULL;
	g = akm_addr_find(an, &p->daddr);
	return g && !g->member ? g->asr : NULL;
}

/*
 * Take the AKM header out of a verified packet and restore the IP header;
 * the MAC header moves along, as xfrm's transport mode moves it. @csum is
 * the Internet checksum of the payload, computed with the tag: the packet
 * becomes CHECKSUM_COMPLETE, so its transport checksum is checked as usual.
 * The tag vouches for the bytes, not for what the sender put in the
 * checksum field (a member that routes a LAN host's packet after NAT never
 * checked it).
 */
static int akm_strip(struct sk_buff *skb, struct akm_pkt *p, __wsum csum)
{
	if (skb_ensure_writable(skb, p->nhlen + AKM_HLEN))
		return -ENOMEM;
	akm_hdr_remove(skb->data, p, skb->len);
	skb_pull(skb, AKM_HLEN);
	skb->ip_summed = CHECKSUM_COMPLETE;
	skb->csum = csum;
	skb_postpush_rcsum(skb, skb->data, p->nhlen);
	skb_reset_network_header(skb);
	skb_set_transport_header(skb, p->nhlen);
	skb_mac_header_rebuild(skb);
	return 0;
}

/*
 * Verify and strip a packet with an AKM header (Documentation/wire-format.md,
 * "Receive processing"); on success *from is its sender.
 */
static unsigned int akm_verify(struct akm_net *an, struct sk_buff *skb,
			       struct akm_pkt *p, u32 self,
			       struct akm_member **from)
{
	struct akm_asr *asr, *g;
	struct akm_member *m;
	struct akm_pseudo ph;
	struct akm_epoch *ep;
	struct akmhdr *h;
	u8 tag[AKM_TAG_LEN];
	u32 asr_id, sender, epoch;
	unsigned int len;
	__wsum csum = 0;
	u64 seq;

	if (!pskb_may_pull(skb, p->nhlen + AKM_HLEN))
		goto malformed;
	h = (struct akmhdr *)(skb->data + p->nhlen);
	if (!akm_hdr_valid(h))
		goto malformed;
	asr_id = ntohl(h->asr_id);
	sender = ntohl(h->sender);
	epoch = ntohl(h->epoch);

	asr = akm_asr_find(an, asr_id);
	if (!asr) {
		akm_fail(an, &an->stats, AKM_STATS_A_DROP_UNKNOWN_ASR, asr_id,
			 sender);
		return NF_DROP;
	}
	/* a group hears its own ASR only: no other key may speak to it */
	g = akm_group(an, p);
	m = akm_peer(an, &p->saddr, self);
	if (!m || m->asr != asr || m->node_id != sender ||
	    READ_ONCE(m->state) != AKM_MEMBER_ACTIVE || (g && g != asr)) {
		akm_fail(an, &asr->stats, AKM_STATS_A_DROP_NOT_MEMBER, asr_id,
			 sender);
		return NF_DROP;
	}
	ep = akm_epoch_rx(asr, epoch);
	if (!ep) {
		akm_stats_add(&m->stats, AKM_STATS_A_DROP_UNKNOWN_EPOCH, 1);
		akm_fail(an, &asr->stats, AKM_STATS_A_DROP_UNKNOWN_EPOCH,
			 asr_id, sender);
		return NF_DROP;
	}
	seq = akm_hdr_seq(h);
	if (!akm_rx_check(m, epoch, seq))
		goto replay;

	len = skb->len - p->nhlen - AKM_HLEN;
	akm_pseudo_fill(&ph, p, h, seq, len);
	akm_mac_tag(&ep->mac, &ph, skb, p->nhlen + AKM_HLEN, len, sender, seq,
		    &csum, tag);
	if (crypto_memneq(tag, h->tag, AKM_TAG_LEN)) {
		akm_stats_add(&m->stats, AKM_STATS_A_DROP_BAD_TAG, 1);
		akm_fail(an, &asr->stats, AKM_STATS_A_DROP_BAD_TAG, asr_id,
			 sender);
		return NF_DROP;
	}
	if (!akm_rx_commit(m, epoch, seq))
		goto replay;

	if (akm_strip(skb, p, csum))
		return NF_DROP;
	skb->mark |= READ_ONCE(an->rx_mark);
	*from = m;

	akm_stats_add(&asr->stats, AKM_STATS_A_RX_PACKETS, 1);
	akm_stats_add(&asr->stats, AKM_STATS_A_RX_BYTES, len);
	akm_stats_add(&m->stats, AKM_STATS_A_RX_PACKETS, 1);
	akm_stats_add(&m->stats, AKM_STATS_A_RX_BYTES, len);
	return NF_ACCEPT;

replay:
	akm_stats_add(&m->stats, AKM_STATS_A_DROP_REPLAY, 1);
	akm_fail(an, &asr->stats, AKM_STATS_A_DROP_REPLAY, asr_id, sender);
	return NF_DROP;
malformed:
	akm_fail(an, &an->stats, AKM_STATS_A_DROP_MALFORMED, 0, 0);
	return NF_DROP;
}

/*
 * Our own multicast, looped back to our own sockets after we tagged it
 * (PACKET_LOOPBACK, which nothing on a wire can set). It has no replay
 * window of its own, but it must be ours: our sender id and one of our
 * addresses, an epoch we send with, a sequence number we used and a tag
 * that verifies; else a local user could have an address of a member's
 * looped back as verified.
 */
static unsigned int akm_loop(struct akm_net *an, struct sk_buff *skb,
			     struct akm_pkt *p, const struct net_device *in,
			     u32 self)
{
	struct akm_pseudo ph;
	struct akm_epoch *ep;
	struct akm_asr *asr;
	struct akmhdr *h;
	u8 tag[AKM_TAG_LEN];
	unsigned int len;
	__wsum csum = 0;
	u64 seq, tx;

	if (!pskb_may_pull(skb, p->nhlen + AKM_HLEN))
		return NF_DROP;
	h = (struct akmhdr *)(skb->data + p->nhlen);
	asr = akm_asr_find(an, ntohl(h->asr_id));
	ep = asr ? rcu_dereference(asr->epochs[AKM_KEY_CURRENT]) : NULL;
	if (!ep || !self || !akm_hdr_valid(h) || ntohl(h->sender) != self ||
	    ntohl(h->epoch) != ep->epoch ||
	    !akm_local_addr(dev_net(in), in, p, &p->saddr))
		goto bad;
	tx = atomic64_read(&ep->tx_seq);
	seq = akm_hdr_seq(h);
	if (!seq || seq > tx)
		goto bad;
	len = skb->len - p->nhlen - AKM_HLEN;
	akm_pseudo_fill(&ph, p, h, seq, len);
	akm_mac_tag(&ep->mac, &ph, skb, p->nhlen + AKM_HLEN, len, self, seq,
		    &csum, tag);
	if (crypto_memneq(tag, h->tag, AKM_TAG_LEN) || akm_strip(skb, p, csum))
		goto bad;
	skb->mark |= READ_ONCE(an->rx_mark);
	return NF_ACCEPT;
bad:
	akm_fail(an, &an->stats, AKM_STATS_A_DROP_MALFORMED, 0, 0);
	return NF_DROP;
}

/* One ASR's policy for a packet without an AKM header; @m: its member. */
static unsigned int akm_policy(struct akm_asr *asr, struct akm_member *m)
{
	u8 c = AKM_STATS_A_DROP_PLAIN;

	if (READ_ONCE(asr->policy) == AKM_POLICY_ACCEPT)
		c = AKM_STATS_A_ACCEPT_PLAIN;
	if (m)
		akm_stats_add(&m->stats, c, 1);
	akm_stats_add(&asr->stats, c, 1);
	return c == AKM_STATS_A_ACCEPT_PLAIN ? NF_ACCEPT : NF_DROP;
}

/*
 * A packet without an AKM header delivered to us, from member @m or to
 * the group of ASR @g (or both): it must pass the policy of each.
 */
static unsigned int akm_police(struct akm_member *m, struct akm_asr *g)
{
	unsigned int v = NF_ACCEPT;

	if (m)
		v = akm_policy(m->asr, m);
	if (g && (!m || g != m->asr) && akm_policy(g, NULL) == NF_DROP)
		v = NF_DROP;
	return v;
}

/*
 * A multicast or broadcast frame br_netfilter shows us on its way into a
 * bridge, which floods it to other ports too: left whole here, the host's
 * own copy is verified or policed at LOCAL_IN.
 */
static bool akm_bridged(const struct sk_buff *skb,
			const struct net_device *in)
{
	return netif_is_bridge_port(in) && skb->pkt_type != PACKET_HOST;
}

/* The offset of an ICMP or ICMPv6 error message in the packet, or 0. */
static unsigned int akm_icmp_err(struct sk_buff *skb, const struct akm_pkt *p)
{
	unsigned int off = p->nhlen;
	u8 proto = p->proto, _type;
	const u8 *type;

	if (p->v6 && proto != IPPROTO_ICMPV6 && !ipv6_ext_hdr(proto))
		return 0;
	if (p->v6) {	/* past any extension header, as ipv6_rcv() goes */
		__be16 frag_off;
		int o;

		proto = ipv6_hdr(skb)->nexthdr;
		o = ipv6_skip_exthdr(skb, sizeof(struct ipv6hdr), &proto,
				     &frag_off);
		if (o < 0 || proto != IPPROTO_ICMPV6 || frag_off)
			return 0;
		off = o;
	} else if (proto != IPPROTO_ICMP) {
		return 0;
	}
	type = skb_header_pointer(skb, off, sizeof(_type), &_type);
	if (!type)
		return 0;
	/* ICMPv6: every type below 128 reaches the error handlers */
	return (p->v6 ? *type < 128 : icmp_is_err(*type)) ? off : 0;
}

/*
 * PRE_ROUTING: verify and strip what is delivered here with a header,
 * police what comes plain from members, check ICMP errors.
 */
unsigned int akm_in(void *priv, struct sk_buff *skb,
		    const struct nf_hook_state *state)
{
	struct akm_net *an = akm_pernet(state->net);
	bool v6 = state->pf == NFPROTO_IPV6;
	struct akm_member *m = NULL;
	unsigned int ret, ioff;
	struct akm_asr *g;
	struct akm_pkt p;
	u32 self;

	/* the VRF's second pass; its local delivery is the only one */
	if (akm_l3mdev(state->in) && skb->pkt_type != PACKET_LOOPBACK)
		return NF_ACCEPT;
	/* the rx mark means "verified here": nobody else sets it */
	skb->mark &= ~READ_ONCE(an->rx_mark);
	if (!READ_ONCE(an->n_asrs))
		return NF_ACCEPT;
	if (akm_parse(skb, v6, &p))
		return NF_DROP;
	self = READ_ONCE(an->node_id);
	if (p.proto == akm_proto) {
		if (skb->pkt_type == PACKET_LOOPBACK)
			return akm_loop(an, skb, &p, state->in, self);
		if (!akm_for_us(state->net, state->in, &p))
			return NF_ACCEPT;	/* routed on untouched */
		if (akm_bridged(skb, state->in))
			return NF_ACCEPT;
		/* a fragment that bypassed defragmentation cannot be verified */
		if (!v6 && ip_is_fragment(ip_hdr(skb))) {
			akm_fail(an, &an->stats, AKM_STATS_A_DROP_MALFORMED, 0, 0);
			return NF_DROP;
		}
		ret = akm_verify(an, skb, &p, self, &m);
		if (ret != NF_ACCEPT)
			return ret;
		ioff = akm_icmp_err(skb, &p);
		return ioff ? akm_icmp_in(an, skb, &p, ioff, self, m, false) :
			      NF_ACCEPT;
	}

	m = akm_peer(an, &p.saddr, self);
	g = akm_group(an, &p);
	ioff = akm_icmp_err(skb, &p);
	if ((!m && !g && !ioff) || !akm_for_us(state->net, state->in, &p) ||
	    akm_bridged(skb, state->in))
		return NF_ACCEPT;
	if ((m || g) && !akm_is_nd(skb, &p) && akm_police(m, g) != NF_ACCEPT)
		return NF_DROP;
	/* the errors of our own stack come on the loopback device */
	return ioff ? akm_icmp_in(an, skb, &p, ioff, self, NULL,
				  !!(state->in->flags & IFF_LOOPBACK)) :
		      NF_ACCEPT;
}

/*
 * Was the packet addressed to this host when it arrived (before DNAT)? Then
 * akm_in() verified or policed it in PRE_ROUTING.
 */
static bool akm_arrived_for_us(struct sk_buff *skb,
			       const struct nf_hook_state *state,
			       const struct akm_pkt *p)
{
	enum ip_conntrack_info ctinfo;
	struct nf_conn *ct = nf_ct_get(skb, &ctinfo);
	struct akm_pkt q = *p;

	if (ct && (ct->status & IPS_NAT_MASK)) {
		const union nf_inet_addr *d =
			&ct->tuplehash[CTINFO2DIR(ctinfo)].tuple.dst.u3;

		if (p->v6)
			q.daddr = d->in6;
		else
			ipv6_addr_set_v4mapped(d->ip, &q.daddr);
	}
	return akm_for_us(state->net, state->in, &q);
}

/*
 * LOCAL_IN, the backstop: what was delivered here although PRE_ROUTING
 * could not know it would be (REDIRECT and DNAT to this host, TPROXY, local
 * routes in other tables, anycast, a bridge's multicast) is verified or
 * policed now. For such packets conntrack saw the outer header.
 */
unsigned int akm_local_in(void *priv, struct sk_buff *skb,
			  const struct nf_hook_state *state)
{
	struct akm_net *an = akm_pernet(state->net);
	bool v6 = state->pf == NFPROTO_IPV6;
	struct akm_member *m;
	struct akm_asr *g;
	struct akm_pkt p;
	u32 self;

	if (!READ_ONCE(an->n_asrs))
		return NF_ACCEPT;
	if (akm_parse(skb, v6, &p))
		return NF_DROP;
	self = READ_ONCE(an->node_id);
	if (p.proto == akm_proto)
		return skb->pkt_type == PACKET_LOOPBACK ?
		       akm_loop(an, skb, &p, state->in, self) :
		       akm_verify(an, skb, &p, self, &m);
	m = akm_peer(an, &p.saddr, self);
	g = akm_group(an, &p);
	if ((!m && !g) || akm_is_nd(skb, &p))
		return NF_ACCEPT;
	/* bridged multicast left to us, or delivered by another way */
	if (!(nf_bridge_info_exists(skb) && skb->pkt_type != PACKET_HOST) &&
	    akm_arrived_for_us(skb, state, &p))
		return NF_ACCEPT;
	return akm_police(m, g);
}
