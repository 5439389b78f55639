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
 *       A packet without a header from a member's address, or to an ASR's
 *       group, follows the policy of that ASR (of both, if both); ICMP
 *       errors are checked and unwrapped (icmp.c). Packets
 *       routed through this host pass untouched. (in.c)
 *   LOCAL_IN, AKM_PRI_IN: the backstop for what reached this host although
 *       PRE_ROUTING could not know it would (REDIRECT, TPROXY, ...). (in.c)
 *   POST_ROUTING, AKM_PRI_OUT (conntrack confirm - 1): after NAT, the
 *       firewall and every other hook that may look at the inner packet.
 *       Conntrack's confirm step (helpers, sequence adjustment) would parse
 *       the AKM header as the transport header, so for a packet that gets
 *       one it is done here first. GSO packets are segmented here and each
 *       segment tagged and sent on. (out.c)
 *
 * The kernel's transport modes have a second way: xfrm4_transport_finish()
 * re-runs PRE_ROUTING on the decapsulated packet with a secpath that tells
 * the later hooks what happened. Verifying before conntrack needs no second
 * pass; the LOCAL_IN backstop recognises a packet PRE_ROUTING saw by its
 * destination as it arrived (before DNAT), so no per-packet state either.
 *
 * A VRF runs PRE_ROUTING and POST_ROUTING twice, once with its master
 * device: the slave's pass is the one conntrack uses, so AKM works there
 * and skips the other.
 *
 * Lookups are RCU, counters per CPU; nothing here allocates memory except
 * what the stack itself does to segment or unshare a packet.
 */
#include <linux/ip.h>
#include <linux/icmpv6.h>
#include <linux/ipv6.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6.h>
#include <net/addrconf.h>
#include <net/ip.h>
#include <net/ipv6.h>
#include <net/ndisc.h>
#include <net/netfilter/ipv4/nf_defrag_ipv4.h>
#include <net/netfilter/ipv6/nf_defrag_ipv6.h>
#include <net/route.h>

#include "akm.h"

#define AKM_PRI_IN	(NF_IP_PRI_RAW - 50)
#define AKM_PRI_OUT	(NF_IP_PRI_CONNTRACK_CONFIRM - 1)
#define AKM_PRI6_IN	(NF_IP6_PRI_RAW - 50)
#define AKM_PRI6_OUT	(NF_IP6_PRI_LAST - 1)	/* ipv6_confirm: LAST */

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
 * Link control: IPv6 neighbour discovery, MLD and IGMP must work before
 * keys exist, switches that snoop MLD and IGMP must read them, and the
 * hop limit of 1 (255 for ND) confines them to the link: they are neither
 * tagged nor policed.
 */
bool akm_is_nd(struct sk_buff *skb, const struct akm_pkt *p)
{
	u8 _type;
	const u8 *type;

	if (!p->v6)
		return p->proto == IPPROTO_IGMP;
	if (p->proto != IPPROTO_ICMPV6)
		return false;
	type = skb_header_pointer(skb, p->nhlen, sizeof(_type), &_type);
	return type && ((*type >= ICMPV6_MGM_QUERY &&
			 *type <= ICMPV6_MGM_REDUCTION) ||
			*type == ICMPV6_MLD2_REPORT ||
			(*type >= NDISC_ROUTER_SOLICITATION &&
			 *type <= NDISC_REDIRECT));
}

/*
 * The active member of an ASR that owns this address, unless it is this
 * node itself (traffic to our own addresses is left alone).
 */
struct akm_member *akm_peer(struct akm_net *an, const struct in6_addr *addr,
			    u32 self)
{
	struct akm_addr *a = akm_addr_find(an, addr);

	if (!a || !a->member || a->member->node_id == self)
		return NULL;
	return a->member;
}

/*
 * The member or group this node tags packets to @dst for: an active member
 * other than itself, or an ASR group; NULL if packets to @dst stay plain.
 */
struct akm_addr *akm_dst(struct akm_net *an, const struct in6_addr *dst,
			 u32 self)
{
	struct akm_addr *a = akm_addr_find(an, dst);

	if (a && a->member &&
	    (a->member->node_id == self ||
	     READ_ONCE(a->member->state) != AKM_MEMBER_ACTIVE))
		return NULL;
	return a;
}

/* Is @addr a unicast address of this host (in the VRF of @dev, if any)? */
bool akm_local_addr(struct net *net, const struct net_device *dev,
		    const struct akm_pkt *p, const struct in6_addr *addr)
{
	if (p->v6)
		return ipv6_chk_addr(net, addr, dev, 0);
	return inet_addr_type_dev_table(net, dev, addr->s6_addr32[3]) ==
	       RTN_LOCAL;
}

/*
 * Will the packet be delivered to this host rather than routed on? Its
 * destination is one of our addresses (in the VRF of @in), a broadcast or a
 * multicast group, joined or not. Routing after this hook agrees but for
 * what DNAT, TPROXY, local routes in other tables or anycast deliver here:
 * the LOCAL_IN backstop (in.c) takes those.
 */
bool akm_for_us(struct net *net, const struct net_device *in,
		const struct akm_pkt *p)
{
	__be32 d = p->daddr.s6_addr32[3];

	/* link-local: ours, or dropped, never routed on; whatever @in is */
	if (p->v6)
		return ipv6_addr_is_multicast(&p->daddr) ||
		       ipv6_addr_type(&p->daddr) & IPV6_ADDR_LINKLOCAL ||
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

bool akm_l3mdev(const struct net_device *dev)
{
	return dev && netif_is_l3_master(dev);
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

static const struct nf_hook_ops akm_nf_ops[] = {
	{
		.hook = akm_in,
		.pf = NFPROTO_IPV4,
		.hooknum = NF_INET_PRE_ROUTING,
		.priority = AKM_PRI_IN,
	}, {
		.hook = akm_local_in,
		.pf = NFPROTO_IPV4,
		.hooknum = NF_INET_LOCAL_IN,
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
		.priority = AKM_PRI6_IN,
	}, {
		.hook = akm_local_in,
		.pf = NFPROTO_IPV6,
		.hooknum = NF_INET_LOCAL_IN,
		.priority = AKM_PRI6_IN,
	}, {
		.hook = akm_out,
		.pf = NFPROTO_IPV6,
		.hooknum = NF_INET_POST_ROUTING,
		.priority = AKM_PRI6_OUT,
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
