// SPDX-License-Identifier: GPL-2.0
/*
 * The packet path: netfilter hooks that tag packets to ASR members and
 * verify packets from them, for IPv4 and IPv6, in transport mode as IPsec
 * AH does it: the rest of the stack (conntrack, NAT, the firewall, ICMP,
 * sockets) sees every packet as what it is, as if AKM were not there.
 *
 *   PRE_ROUTING, AKM_PRI_IN (-350): after defragmentation (-400), before
 *       the raw table (-300), conntrack (-200) and everything else. A
 *       packet delivered to this host that carries an AKM header is
 *       verified and the header removed here, so conntrack never sees it:
 *       the inner packet is classified, NATed and filtered as it was sent.
 *       A packet without a header from a member's address follows the ASR
 *       policy; ICMP errors are checked and unwrapped (icmp.c). Packets
 *       routed through this host pass untouched.
 *   POST_ROUTING, AKM_PRI_OUT (conntrack confirm - 1): after NAT, the
 *       firewall and every other hook that may look at the inner packet.
 *       Conntrack's own confirm step (helpers, sequence adjustment) would
 *       parse the AKM header as the transport header, so for a packet
 *       that gets one it is done here first, and the entry detached.
 *       GSO packets are segmented here and each segment tagged and sent.
 *
 * The kernel's transport modes have a second option: xfrm4_transport_finish
 * re-runs PRE_ROUTING on the decapsulated packet with a secpath that tells
 * the second pass what happened. Verifying before conntrack needs neither
 * the second pass nor a per-packet extension.
 *
 * A VRF runs both hooks twice, once with its master device: the slave's
 * pass is the one conntrack uses, so AKM works there and skips the other.
 *
 * Lookups are RCU, counters per CPU; nothing here allocates memory except
 * what the stack itself does to segment or unshare a packet.
 */
#include <linux/icmp.h>
#include <linux/icmpv6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6.h>
#include <linux/tcp.h>
#include <net/addrconf.h>
#include <net/ip.h>
#include <crypto/algapi.h>
#include <net/ipv6.h>
#include <net/ndisc.h>
#include <net/netfilter/ipv4/nf_defrag_ipv4.h>
#include <net/netfilter/ipv6/nf_defrag_ipv6.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/netfilter/nf_conntrack_core.h>
#ifdef AKM_HAVE_NET_GSO
#include <net/gso.h>
#endif
#include <net/route.h>
#include <net/tcp.h>

#include "akm.h"

#define AKM_PRI_IN	(NF_IP_PRI_RAW - 50)
#define AKM_PRI_OUT	(NF_IP_PRI_CONNTRACK_CONFIRM - 1)

/* Find the headers, pulling what akm_parse_hdrs() asks for into the head. */
int akm_parse(struct sk_buff *skb, bool v6, struct akm_pkt *p)
{
	int need;

	while ((need = akm_parse_hdrs(skb->data, skb_headlen(skb), v6, p)) > 0)
		if (!pskb_may_pull(skb, need))
			return -EINVAL;
	return need;
}

/*
 * IPv6 neighbour discovery must work before keys exist, and its hop limit
 * check already confines it to the link: it is neither tagged nor policed.
 */
static bool akm_is_nd(struct sk_buff *skb, const struct akm_pkt *p)
{
	u8 _type;
	const u8 *type;

	if (!p->v6 || p->proto != IPPROTO_ICMPV6)
		return false;
	type = skb_header_pointer(skb, p->nhlen, sizeof(_type), &_type);
	return type && *type >= NDISC_ROUTER_SOLICITATION &&
	       *type <= NDISC_REDIRECT;
}

/*
 * The active member of an ASR that owns this address, unless it is this
 * node itself (traffic to our own addresses is left alone).
 */
static struct akm_member *akm_peer(struct akm_net *an,
				   const struct in6_addr *addr)
{
	struct akm_addr *a = akm_addr_find(an, addr);

	if (!a || !a->member || a->member->node_id == READ_ONCE(an->node_id))
		return NULL;
	return a->member;
}

/*
 * The member or group this node tags packets to @dst for: an active member
 * other than itself, or an ASR group; NULL if packets to @dst stay plain.
 */
struct akm_addr *akm_dst(struct akm_net *an, const struct in6_addr *dst)
{
	struct akm_addr *a;

	if (!READ_ONCE(an->n_asrs))
		return NULL;
	a = akm_addr_find(an, dst);
	if (a && a->member &&
	    (a->member->node_id == READ_ONCE(an->node_id) ||
	     READ_ONCE(a->member->state) != AKM_MEMBER_ACTIVE))
		return NULL;
	return a;
}

/* Is @addr a unicast address of this host (in the VRF of @dev, if any)? */
static bool akm_local_addr(struct net *net, const struct net_device *dev,
			   const struct akm_pkt *p, const struct in6_addr *addr)
{
	if (p->v6)
		return ipv6_chk_addr(net, addr, dev, 0);
	return inet_addr_type_dev_table(net, dev, addr->s6_addr32[3]) ==
	       RTN_LOCAL;
}

/*
 * Will the packet be delivered to this host rather than routed on? Its
 * destination is one of our addresses, a broadcast or a multicast group:
 * the same answer the routing decision after this hook gives, except that
 * multicast counts whether or not we joined (a group we did not join gets
 * nothing delivered, verified or not).
 */
static bool akm_for_us(struct net *net, const struct net_device *in,
		       const struct akm_pkt *p)
{
	__be32 d = p->daddr.s6_addr32[3];

	if (p->v6)
		return ipv6_addr_is_multicast(&p->daddr) ||
		       ipv6_chk_addr(net, &p->daddr, in, 0);
	if (ipv4_is_multicast(d) || ipv4_is_lbcast(d))
		return true;
	switch (inet_addr_type_dev_table(net, in, d)) {
	case RTN_LOCAL:
	case RTN_BROADCAST:
	case RTN_MULTICAST:
		return true;
	default:
		return false;
	}
}

static bool akm_l3mdev(const struct net_device *dev)
{
	return dev && netif_is_l3_master(dev);
}

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
static int akm_tag(struct akm_net *an, struct akm_asr *asr,
		   struct akm_member *m, struct akm_epoch *ep,
		   struct sk_buff *skb, u8 pf)
{
	struct akm_pseudo ph;
	struct akm_pkt p;
	struct akmhdr *h;
	unsigned int len;
	u32 sender;
	u64 seq;

	if (akm_parse(skb, pf == NFPROTO_IPV6, &p))
		return -EINVAL;
	if (akm_is_nd(skb, &p))
		return 1;
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
	if (skb_cow_head(skb, AKM_HLEN))
		return -ENOMEM;

	len = skb->len - p.nhlen;
	skb_push(skb, AKM_HLEN);
	akm_hdr_insert(skb->data, &p, akm_proto, skb->len);
	skb_reset_network_header(skb);
	skb_set_transport_header(skb, p.nhlen);
	skb->ignore_df = 1;	/* it may no longer fit: fragment, don't drop */

	sender = READ_ONCE(an->node_id);
	seq = atomic64_inc_return(&ep->tx_seq);
	h = (struct akmhdr *)(skb->data + p.nhlen);
	h->nexthdr = p.proto;
	h->version = AKM_WIRE_VERSION;
	h->reserved = 0;
	h->asr_id = htonl(asr->id);
	h->epoch = htonl(ep->epoch);
	h->sender = htonl(sender);
	h->seq = htonl((u32)seq);
	akm_pseudo_fill(&ph, &p, h, seq, len);
	akm_mac_tag(&ep->mac, &ph, skb, p.nhlen + AKM_HLEN, len, sender, seq,
		    h->tag);

	akm_stats_add(&asr->stats, AKM_STATS_A_TX_PACKETS, 1);
	akm_stats_add(&asr->stats, AKM_STATS_A_TX_BYTES, len);
	if (m) {
		akm_stats_add(&m->stats, AKM_STATS_A_TX_PACKETS, 1);
		akm_stats_add(&m->stats, AKM_STATS_A_TX_BYTES, len);
	}
	return 0;
}

/*
 * Conntrack's confirm step for a packet about to be tagged, which its own
 * hook after ours could no longer parse: helpers and sequence adjustment
 * see the inner packet, the entry is confirmed, then detached so that the
 * confirm hook finds nothing left to do. Without conntrack: nothing.
 */
static unsigned int akm_ct_confirm(struct sk_buff *skb,
				   const struct nf_hook_state *state)
{
#if IS_ENABLED(CONFIG_NF_CONNTRACK)
	enum ip_conntrack_info ctinfo;
	unsigned int ret;

	if (!nf_ct_get(skb, &ctinfo))
		return NF_ACCEPT;
#ifdef AKM_HAVE_NF_CONFIRM_HOOK
	ret = nf_confirm(NULL, skb, state);
#else
	{	/* 6.1: what ipv4_confirm() and ipv6_confirm() do */
		struct nf_conn *ct = nf_ct_get(skb, &ctinfo);
		__be16 frag_off = 0;
		int protoff;
		u8 pnum;

		if (state->pf == NFPROTO_IPV4) {
			protoff = skb_network_offset(skb) + ip_hdrlen(skb);
		} else {
			pnum = ipv6_hdr(skb)->nexthdr;
			protoff = ipv6_skip_exthdr(skb, sizeof(struct ipv6hdr),
						   &pnum, &frag_off);
		}
		if (ctinfo == IP_CT_RELATED_REPLY || protoff < 0 ||
		    (frag_off & htons(~0x7)))
			ret = nf_conntrack_confirm(skb);
		else
			ret = nf_confirm(skb, protoff, ct, ctinfo);
	}
#endif
	if (ret == NF_ACCEPT)
		nf_reset_ct(skb);
	return ret;
#else
	return NF_ACCEPT;
#endif
}

/* Segment a GSO packet, tag each segment and send it on. */
static unsigned int akm_out_segs(struct akm_net *an, struct akm_addr *a,
				 struct akm_epoch *ep, struct sk_buff *skb,
				 const struct nf_hook_state *state)
{
	struct sk_buff *segs, *seg, *next;

	segs = skb_gso_segment(skb, NETIF_F_SG);
	if (IS_ERR_OR_NULL(segs))
		return NF_DROP;
	consume_skb(skb);
	skb_list_walk_safe(segs, seg, next) {
		skb_mark_not_on_list(seg);
		if (akm_tag(an, a->asr, a->member, ep, seg, state->pf) < 0)
			kfree_skb(seg);
		else
			state->okfn(state->net, state->sk, seg);
	}
	return NF_STOLEN;
}

static unsigned int akm_out(void *priv, struct sk_buff *skb,
			    const struct nf_hook_state *state)
{
	struct akm_net *an = akm_pernet(state->net);
	bool v6 = state->pf == NFPROTO_IPV6;
	struct akm_epoch *ep;
	struct akm_addr *a;
	struct in6_addr dst;
	struct akm_pkt p;
	unsigned int ret;

	if (!READ_ONCE(an->n_asrs) || akm_l3mdev(state->out))
		return NF_ACCEPT;
	if (v6)
		dst = ipv6_hdr(skb)->daddr;
	else
		ipv6_addr_set_v4mapped(ip_hdr(skb)->daddr, &dst);
	a = akm_dst(an, &dst);
	if (!a)
		return NF_ACCEPT;
	if (akm_parse(skb, v6, &p))
		return NF_DROP;
	/* a header already there (routed through us) is never doubled */
	if (p.proto == akm_proto)
		return NF_ACCEPT;
	/*
	 * This node tags what it sends as itself: what it originates, and
	 * what it routes (an input device, which locally made packets lack)
	 * after source NAT gave it one of our addresses. Other routed
	 * packets pass as they came.
	 */
	if (state->in && !akm_local_addr(state->net, state->out, &p, &p.saddr))
		return NF_ACCEPT;

	ep = rcu_dereference(a->asr->epochs[AKM_KEY_CURRENT]);
	if (!ep || READ_ONCE(ep->key->dead) || !READ_ONCE(an->node_id)) {
		akm_stats_add(&a->asr->stats, AKM_STATS_A_TX_NO_KEY, 1);
		return NF_DROP;
	}
	ret = akm_ct_confirm(skb, state);
	if (ret != NF_ACCEPT)
		return ret;
	if (skb_is_gso(skb))
		return akm_out_segs(an, a, ep, skb, state);
	return akm_tag(an, a->asr, a->member, ep, skb, state->pf) < 0 ?
	       NF_DROP : NF_ACCEPT;
}

/* Count a failed check and let fail_work announce it (rate-limited). */
void akm_fail(struct akm_net *an, struct akm_stats *s, u8 reason,
	      u32 asr_id, u32 node_id)
{
	akm_stats_add(s, reason, 1);
	WRITE_ONCE(an->fail_reason, reason);
	WRITE_ONCE(an->fail_asr, asr_id);
	WRITE_ONCE(an->fail_node, node_id);
	atomic_inc(&an->fail_count);
	if (!delayed_work_pending(&an->fail_work))
		queue_delayed_work(akm_wq, &an->fail_work, HZ);
}

void akm_fail_announce(struct work_struct *work)
{
	struct akm_net *an = container_of(to_delayed_work(work),
					  struct akm_net, fail_work);
	int count = atomic_xchg(&an->fail_count, 0);

	if (count)
		akm_notify_fail(an, count, READ_ONCE(an->fail_reason),
				READ_ONCE(an->fail_asr),
				READ_ONCE(an->fail_node));
}

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

/* Expand and pre-check a sequence number (replays fail before the MAC). */
static u64 akm_rx_seq(struct akm_member *m, u32 epoch, u32 seq_lo)
{
	struct akm_rx *rx;
	u64 seq = 0;

	spin_lock_bh(&m->rx_lock);
	rx = akm_rx_slot(m, epoch);
	if (rx) {
		seq = akm_replay_expand(&rx->window, seq_lo);
		if (!akm_replay_check(&rx->window, seq))
			seq = 0;
	}
	spin_unlock_bh(&m->rx_lock);
	return seq;
}

static bool akm_rx_commit(struct akm_member *m, u32 epoch, u64 seq)
{
	struct akm_rx *rx;
	bool ok = false;

	spin_lock_bh(&m->rx_lock);
	rx = akm_rx_slot(m, epoch);
	if (rx)
		ok = akm_replay_update(&rx->window, seq);
	spin_unlock_bh(&m->rx_lock);
	return ok;
}

/*
 * Take the AKM header out of a verified packet and restore the IP header.
 * A CHECKSUM_COMPLETE sum loses the bytes removed and gains the new IP
 * header. Otherwise the transport checksum (level 0 only: not that of a
 * tunnel inside) is marked verified: the tag proves every byte is what the
 * sender's stack produced after it resolved its checksum offload, so the
 * checksum is as right as the sender made it, which a member could get
 * wrong on purpose no more than it could forge anything else. A packet
 * that is NATed and routed on keeps a checksum its next hop checks again.
 */
static int akm_strip(struct sk_buff *skb, struct akm_pkt *p)
{
	if (skb_ensure_writable(skb, p->nhlen + AKM_HLEN))
		return -ENOMEM;
	if (skb->len < p->nhlen + AKM_HLEN)
		return -EINVAL;
	skb_postpull_rcsum(skb, skb->data, p->nhlen + AKM_HLEN);
	akm_hdr_remove(skb->data, p, skb->len);
	skb_pull(skb, AKM_HLEN);
	skb_postpush_rcsum(skb, skb->data, p->nhlen);
	skb_reset_network_header(skb);
	skb_set_transport_header(skb, p->nhlen);
	if (skb->ip_summed == CHECKSUM_NONE) {
		skb->ip_summed = CHECKSUM_UNNECESSARY;
		skb->csum_level = 0;
	}
	return 0;
}

static unsigned int akm_verify(struct akm_net *an, struct sk_buff *skb,
			       struct akm_pkt *p)
{
	struct akm_member *m;
	struct akm_pseudo ph;
	struct akm_epoch *ep;
	struct akm_asr *asr;
	struct akmhdr *h;
	u8 tag[AKM_TAG_LEN];
	u32 asr_id, sender, epoch;
	unsigned int len;
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
	m = akm_peer(an, &p->saddr);
	if (!m || m->asr != asr || m->node_id != sender ||
	    READ_ONCE(m->state) != AKM_MEMBER_ACTIVE) {
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
	seq = akm_rx_seq(m, epoch, ntohl(h->seq));
	if (!seq)
		goto replay;

	len = skb->len - p->nhlen - AKM_HLEN;
	akm_pseudo_fill(&ph, p, h, seq, len);
	akm_mac_tag(&ep->mac, &ph, skb, p->nhlen + AKM_HLEN, len, sender, seq,
		    tag);
	if (crypto_memneq(tag, h->tag, AKM_TAG_LEN)) {
		akm_stats_add(&m->stats, AKM_STATS_A_DROP_BAD_TAG, 1);
		akm_fail(an, &asr->stats, AKM_STATS_A_DROP_BAD_TAG, asr_id,
			 sender);
		return NF_DROP;
	}
	if (!akm_rx_commit(m, epoch, seq))
		goto replay;

	if (akm_strip(skb, p))
		return NF_DROP;

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

/* A packet without an AKM header from member @m, delivered to us. */
static unsigned int akm_police(struct akm_member *m)
{
	u8 c = AKM_STATS_A_DROP_PLAIN;

	if (READ_ONCE(m->asr->policy) == AKM_POLICY_ACCEPT)
		c = AKM_STATS_A_ACCEPT_PLAIN;
	akm_stats_add(&m->stats, c, 1);
	akm_stats_add(&m->asr->stats, c, 1);
	return c == AKM_STATS_A_ACCEPT_PLAIN ? NF_ACCEPT : NF_DROP;
}

/* Is it an ICMP or ICMPv6 error? */
static bool akm_is_icmp_err(struct sk_buff *skb, const struct akm_pkt *p)
{
	u8 _type;
	const u8 *type;

	if (p->proto != (p->v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP))
		return false;
	type = skb_header_pointer(skb, p->nhlen, sizeof(_type), &_type);
	return type && (p->v6 ? icmpv6_is_err(*type) : icmp_is_err(*type));
}

static unsigned int akm_in(void *priv, struct sk_buff *skb,
			   const struct nf_hook_state *state)
{
	struct akm_net *an = akm_pernet(state->net);
	bool v6 = state->pf == NFPROTO_IPV6;
	struct akm_member *m;
	unsigned int ret;
	struct akm_pkt p;
	bool err;

	if (!READ_ONCE(an->n_asrs) || akm_l3mdev(state->in))
		return NF_ACCEPT;
	if (akm_parse(skb, v6, &p))
		return NF_ACCEPT;	/* the IP layer drops it */
	if (p.proto == akm_proto) {
		/* our own multicast, looped back after we tagged it */
		if (skb->pkt_type == PACKET_LOOPBACK)
			return akm_strip(skb, &p) ? NF_DROP : NF_ACCEPT;
		if (!akm_for_us(state->net, state->in, &p))
			return NF_ACCEPT;
		/* a fragment that bypassed defragmentation cannot be verified */
		if (!v6 && ip_is_fragment(ip_hdr(skb))) {
			akm_fail(an, &an->stats, AKM_STATS_A_DROP_MALFORMED, 0, 0);
			return NF_DROP;
		}
		ret = akm_verify(an, skb, &p);
		if (ret != NF_ACCEPT)
			return ret;
		skb->mark |= READ_ONCE(an->rx_mark);
		return akm_is_icmp_err(skb, &p) ? akm_icmp_in(an, skb, &p, true) :
						  NF_ACCEPT;
	}

	m = akm_peer(an, &p.saddr);
	err = akm_is_icmp_err(skb, &p);
	if ((!m && !err) || !akm_for_us(state->net, state->in, &p))
		return NF_ACCEPT;
	if (m && !akm_is_nd(skb, &p) && akm_police(m) != NF_ACCEPT)
		return NF_DROP;
	/* the errors of our own stack come on the loopback device */
	return err ? akm_icmp_in(an, skb, &p, state->in->flags & IFF_LOOPBACK) :
		     NF_ACCEPT;
}

static const struct nf_hook_ops akm_nf_ops[] = {
	{
		.hook = akm_in,
		.pf = NFPROTO_IPV4,
		.hooknum = NF_INET_PRE_ROUTING,
		.priority = AKM_PRI_IN,
	}, {
		.hook = akm_out,
		.pf = NFPROTO_IPV4,
		.hooknum = NF_INET_POST_ROUTING,
		.priority = AKM_PRI_OUT,
	}, {
		.hook = akm_in,
		.pf = NFPROTO_IPV6,
		.hooknum = NF_INET_PRE_ROUTING,
		.priority = AKM_PRI_IN,
	}, {
		.hook = akm_out,
		.pf = NFPROTO_IPV6,
		.hooknum = NF_INET_POST_ROUTING,
		.priority = AKM_PRI_OUT,
	},
};

/* Every packet we verify or tag is a whole datagram: defragment first. */
int akm_hooks_init(struct net *net)
{
	int err;

	err = nf_defrag_ipv4_enable(net);
	if (err)
		return err;
	err = nf_defrag_ipv6_enable(net);
	if (err)
		goto err_v4;
	err = nf_register_net_hooks(net, akm_nf_ops, ARRAY_SIZE(akm_nf_ops));
	if (err)
		goto err_v6;
	return 0;

err_v6:
	nf_defrag_ipv6_disable(net);
err_v4:
	nf_defrag_ipv4_disable(net);
	return err;
}

void akm_hooks_exit(struct net *net)
{
	nf_unregister_net_hooks(net, akm_nf_ops, ARRAY_SIZE(akm_nf_ops));
	nf_defrag_ipv6_disable(net);
	nf_defrag_ipv4_disable(net);
}
