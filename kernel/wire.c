// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The packet layout work of the hooks, on a linear buffer that starts with
 * the IP header: where the headers and addresses are, making and closing
 * the AKM header's room, the tag's pseudo-header, the TCP MSS option.
 * No sk_buff here: the hooks make the bytes linear and writable first.
 *
 * Pure C: the same file builds in user space (with tests/unit/kshim.h
 * standing in for the kernel headers) for the unit tests and the fuzzer
 * tests/fuzz/fuzz_wire.c, so those run the kernel's own code.
 */
#ifdef __KERNEL__
#include <linux/errno.h>
#include <linux/string.h>
#include <net/ip.h>
#include <net/ipv6.h>
#include <net/tcp.h>
#endif

#include "wire.h"

/*
 * Find the headers of the IP packet at @nh, of which @len bytes are linear:
 * the IPv4 header with its options, or the IPv6 header and a hop-by-hop
 * header. Returns 0; or the number of linear bytes it needs to go on, more
 * than @len (the caller makes them linear and calls again; a packet shorter
 * than that is broken); or -EINVAL.
 */
int akm_parse_hdrs(const void *nh, unsigned int len, bool v6,
		   struct akm_pkt *p)
{
	const struct ipv6hdr *ip6h = nh;
	const struct iphdr *iph = nh;
	const u8 *hop;

	p->v6 = v6;
	if (!v6) {
		if (len < sizeof(*iph))
			return sizeof(*iph);
		if (iph->ihl < 5)
			return -EINVAL;
		ipv6_addr_set_v4mapped(iph->saddr, &p->saddr);
		ipv6_addr_set_v4mapped(iph->daddr, &p->daddr);
		p->nhlen = iph->ihl * 4;
		p->protoff = offsetof(struct iphdr, protocol);
		p->proto = iph->protocol;
		return len < p->nhlen ? p->nhlen : 0;
	}
	if (len < sizeof(*ip6h))
		return sizeof(*ip6h);
	p->saddr = ip6h->saddr;
	p->daddr = ip6h->daddr;
	p->nhlen = sizeof(*ip6h);
	p->protoff = offsetof(struct ipv6hdr, nexthdr);
	p->proto = ip6h->nexthdr;
	if (p->proto != NEXTHDR_HOP)
		return 0;
	if (len < sizeof(*ip6h) + 2)
		return sizeof(*ip6h) + 2;
	hop = (const u8 *)nh + sizeof(*ip6h);
	p->protoff = sizeof(*ip6h);
	p->proto = hop[0];
	p->nhlen += ipv6_optlen((const struct ipv6_opt_hdr *)hop);
	return len < p->nhlen ? p->nhlen : 0;
}

/*
 * Name @proto after the headers found by akm_parse_hdrs() and set the
 * length of a packet that is now @len bytes long (at most IP_MAX_MTU).
 */
void akm_set_iphdr(void *nh, const struct akm_pkt *p, u8 proto,
		   unsigned int len)
{
	((u8 *)nh)[p->protoff] = proto;
	if (!p->v6) {
		struct iphdr *iph = nh;

		iph->tot_len = htons(len);
		ip_send_check(iph);
	} else {
		struct ipv6hdr *ip6h = nh;

		ip6h->payload_len = htons(len - sizeof(*ip6h));
	}
}

/*
 * Open the AKM header's room after the IP headers: @nh is the new start of
 * the packet, AKM_HLEN bytes before the old one, and @len its new length.
 * The caller fills the AKM header at @nh + p->nhlen.
 */
void akm_hdr_insert(void *nh, const struct akm_pkt *p, u8 proto,
		    unsigned int len)
{
	memmove(nh, (u8 *)nh + AKM_HLEN, p->nhlen);
	akm_set_iphdr(nh, p, proto, len);
}

/*
 * Close it again in the @len bytes at @nh: the IP headers move AKM_HLEN
 * bytes up, to the new start of the packet, and name the protocol the AKM
 * header carried (now in p->proto).
 */
int akm_hdr_remove(void *nh, struct akm_pkt *p, unsigned int len)
{
	if (len < p->nhlen + AKM_HLEN)
		return -EINVAL;
	p->proto = ((const struct akmhdr *)((u8 *)nh + p->nhlen))->nexthdr;
	memmove((u8 *)nh + AKM_HLEN, nh, p->nhlen);
	akm_set_iphdr((u8 *)nh + AKM_HLEN, p, p->proto, len - AKM_HLEN);
	return 0;
}

void akm_pseudo_fill(struct akm_pseudo *ph, const struct akm_pkt *p,
		     const struct akmhdr *h, u64 seq, unsigned int len)
{
	memcpy(ph->saddr, &p->saddr, sizeof(ph->saddr));
	memcpy(ph->daddr, &p->daddr, sizeof(ph->daddr));
	ph->seq_hi = htonl(seq >> 32);
	ph->len = htonl(len);
	memcpy(ph->hdr, h, AKM_HLEN_NOTAG);
}

/*
 * The offset of the MSS value in the TCP options @opt, or -ENOENT. Stops at
 * the end of the list and at the first malformed option.
 */
int akm_mss_find(const u8 *opt, unsigned int optlen)
{
	unsigned int i = 0;

	while (i < optlen && opt[i] != TCPOPT_EOL) {
		if (opt[i] == TCPOPT_NOP) {
			i++;
			continue;
		}
		if (i + 1 >= optlen || opt[i + 1] < 2 || i + opt[i + 1] > optlen)
			break;
		if (opt[i] == TCPOPT_MSS && opt[i + 1] == TCPOLEN_MSS)
			return i + 2;
		i += opt[i + 1];
	}
	return -ENOENT;
}
