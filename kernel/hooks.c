// SPDX-License-Identifier: GPL-2.0
/*
 * The packet path: netfilter hooks that tag packets to ASR members and
 * verify packets from them, for IPv4 and IPv6.
 *
 *   LOCAL_OUT, first:   GSO packets to a member are segmented and each
 *                       segment is sent through ip{,6}_local_out again, so
 *                       every packet on the wire carries its own tag.
 *   POST_ROUTING, last: after NAT, the AKM header is inserted after the IP
 *                       header and the tag computed; TCP SYNs get their MSS
 *                       lowered by the header's size.
 *   LOCAL_IN, first:    after reassembly (IPv6 via nf_defrag_ipv6), before
 *                       any socket: the header is checked, the tag and the
 *                       replay window verified and the header removed;
 *                       plain packets from members follow the ASR policy.
 *
 * Lookups are RCU, counters per CPU; nothing here allocates memory except
 * what the stack itself does to segment or unshare a packet.
 */
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6.h>
#include <linux/tcp.h>
#include <net/ip.h>
#include <crypto/algapi.h>
#include <net/ipv6.h>
#include <net/ndisc.h>
#include <net/netfilter/ipv6/nf_defrag_ipv6.h>
#ifdef AKM_HAVE_NET_GSO
#include <net/gso.h>
#endif
#include <net/tcp.h>

#include "akm.h"

/* Find the headers, pulling what akm_parse_hdrs() asks for into the head. */
static int akm_parse(struct sk_buff *skb, u8 pf, struct akm_pkt *p)
{
	int need;

	while ((need = akm_parse_hdrs(skb->data, skb_headlen(skb),
				      pf == NFPROTO_IPV6, p)) > 0)
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

	if (akm_parse(skb, pf, &p))
		return -EINVAL;
	if (akm_is_nd(skb, &p))
		return 1;
	if (skb->len + AKM_HLEN > IP_MAX_MTU)
		return -EMSGSIZE;
	if (p.proto == IPPROTO_TCP)
		akm_clamp_mss(skb, p.nhlen);
	if (skb->ip_summed == CHECKSUM_PARTIAL && skb_checksum_help(skb))
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

/* The member or group a packet is sent to, if it must be tagged. */
static struct akm_addr *akm_out_addr(struct akm_net *an, struct sk_buff *skb,
				     u8 pf)
{
	struct in6_addr dst;
	struct akm_addr *a;

	if (!READ_ONCE(an->n_asrs))
		return NULL;
	if (pf == NFPROTO_IPV4)
		ipv6_addr_set_v4mapped(ip_hdr(skb)->daddr, &dst);
	else
		dst = ipv6_hdr(skb)->daddr;
	a = akm_addr_find(an, &dst);
	if (a && a->member &&
	    (a->member->node_id == READ_ONCE(an->node_id) ||
	     READ_ONCE(a->member->state) != AKM_MEMBER_ACTIVE))
		return NULL;
	return a;
}

static unsigned int akm_out_gso(void *priv, struct sk_buff *skb,
				const struct nf_hook_state *state)
{
	struct akm_net *an = akm_pernet(state->net);
	struct sk_buff *segs, *seg, *next;

	if (!skb_is_gso(skb) || !akm_out_addr(an, skb, state->pf))
		return NF_ACCEPT;

	segs = skb_gso_segment(skb, NETIF_F_SG);
	if (IS_ERR_OR_NULL(segs))
		return NF_DROP;
	consume_skb(skb);
	skb_list_walk_safe(segs, seg, next) {
		skb_mark_not_on_list(seg);
		if (state->pf == NFPROTO_IPV4)
			ip_local_out(state->net, state->sk, seg);
		else
			ip6_local_out(state->net, state->sk, seg);
	}
	return NF_STOLEN;
}

static unsigned int akm_out(void *priv, struct sk_buff *skb,
			    const struct nf_hook_state *state)
{
	struct akm_net *an = akm_pernet(state->net);
	struct akm_addr *a = akm_out_addr(an, skb, state->pf);
	struct akm_epoch *ep;
	int err;

	if (!a)
		return NF_ACCEPT;
	ep = rcu_dereference(a->asr->epochs[AKM_KEY_CURRENT]);
	if (!ep || READ_ONCE(ep->key->dead) || !READ_ONCE(an->node_id)) {
		akm_stats_add(&a->asr->stats, AKM_STATS_A_TX_NO_KEY, 1);
		return NF_DROP;
	}
	if (skb_is_gso(skb))	/* GSO'd after LOCAL_OUT, e.g. by DNAT */
		return NF_DROP;
	err = akm_tag(an, a->asr, a->member, ep, skb, state->pf);
	return err < 0 ? NF_DROP : NF_ACCEPT;
}

/* Count a failed check and let fail_work announce it (rate-limited). */
static void akm_fail(struct akm_net *an, struct akm_stats *s, u8 reason,
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

/* Take the AKM header out of a verified packet and restore the IP header. */
static int akm_strip(struct sk_buff *skb, struct akm_pkt *p)
{
	if (skb_ensure_writable(skb, p->nhlen + AKM_HLEN))
		return -ENOMEM;
	if (akm_hdr_remove(skb->data, p, skb->len))
		return -EINVAL;
	skb_pull(skb, AKM_HLEN);
	skb_reset_network_header(skb);
	skb_set_transport_header(skb, p->nhlen);
	/* the tag covered the payload as its sender checksummed it */
	skb->ip_summed = CHECKSUM_UNNECESSARY;
	skb->csum_level = ~0;
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

static unsigned int akm_in(void *priv, struct sk_buff *skb,
			   const struct nf_hook_state *state)
{
	struct akm_net *an = akm_pernet(state->net);
	struct akm_member *m;
	struct akm_pkt p;

	if (!READ_ONCE(an->n_asrs))
		return NF_ACCEPT;
	if (akm_parse(skb, state->pf, &p))
		return NF_ACCEPT;	/* the IPv6 input path checked it */
	if (p.proto == akm_proto) {
		/* our own multicast, looped back after we tagged it */
		if (skb->pkt_type == PACKET_LOOPBACK &&
		    pskb_may_pull(skb, p.nhlen + AKM_HLEN))
			return akm_strip(skb, &p) ? NF_DROP : NF_ACCEPT;
		return akm_verify(an, skb, &p);
	}

	m = akm_peer(an, &p.saddr);
	if (!m || akm_is_nd(skb, &p))
		return NF_ACCEPT;
	if (READ_ONCE(m->asr->policy) == AKM_POLICY_ACCEPT) {
		akm_stats_add(&m->stats, AKM_STATS_A_ACCEPT_PLAIN, 1);
		akm_stats_add(&m->asr->stats, AKM_STATS_A_ACCEPT_PLAIN, 1);
		return NF_ACCEPT;
	}
	akm_stats_add(&m->stats, AKM_STATS_A_DROP_PLAIN, 1);
	akm_stats_add(&m->asr->stats, AKM_STATS_A_DROP_PLAIN, 1);
	return NF_DROP;
}

static const struct nf_hook_ops akm_nf_ops[] = {
	{
		.hook = akm_out_gso,
		.pf = NFPROTO_IPV4,
		.hooknum = NF_INET_LOCAL_OUT,
		.priority = NF_IP_PRI_FIRST,
	}, {
		.hook = akm_out,
		.pf = NFPROTO_IPV4,
		.hooknum = NF_INET_POST_ROUTING,
		.priority = NF_IP_PRI_LAST,
	}, {
		.hook = akm_in,
		.pf = NFPROTO_IPV4,
		.hooknum = NF_INET_LOCAL_IN,
		.priority = NF_IP_PRI_FIRST,
	}, {
		.hook = akm_out_gso,
		.pf = NFPROTO_IPV6,
		.hooknum = NF_INET_LOCAL_OUT,
		.priority = NF_IP6_PRI_FIRST,
	}, {
		.hook = akm_out,
		.pf = NFPROTO_IPV6,
		.hooknum = NF_INET_POST_ROUTING,
		.priority = NF_IP6_PRI_LAST,
	}, {
		.hook = akm_in,
		.pf = NFPROTO_IPV6,
		.hooknum = NF_INET_LOCAL_IN,
		.priority = NF_IP6_PRI_FIRST,
	},
};

int akm_hooks_init(struct net *net)
{
	int err = nf_defrag_ipv6_enable(net);

	if (err)
		return err;
	err = nf_register_net_hooks(net, akm_nf_ops, ARRAY_SIZE(akm_nf_ops));
	if (err)
		nf_defrag_ipv6_disable(net);
	return err;
}

void akm_hooks_exit(struct net *net)
{
	nf_unregister_net_hooks(net, akm_nf_ops, ARRAY_SIZE(akm_nf_ops));
	nf_defrag_ipv6_disable(net);
}
