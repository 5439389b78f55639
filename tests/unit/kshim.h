/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * What the module's pure-C files (kernel/replay.c, kernel/wire.c) take from
 * the kernel, for building them in user space: cc -include this file.
 */
#ifndef AKM_KSHIM_H
#define AKM_KSHIM_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>		/* before the uapi headers: struct in6_addr */
#include <linux/types.h>
#include <linux/ip.h>
#include <linux/ipv6.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

/* include/net/ipv6.h */
#define NEXTHDR_HOP		0
#define ipv6_optlen(p)		(((p)->hdrlen + 1) << 3)

static inline void ipv6_addr_set_v4mapped(__be32 addr, struct in6_addr *v4mapped)
{
	memset(v4mapped->s6_addr, 0, 10);
	memset(v4mapped->s6_addr + 10, 0xff, 2);
	memcpy(v4mapped->s6_addr + 12, &addr, 4);
}

/* include/net/tcp.h */
#define TCPOPT_EOL		0
#define TCPOPT_NOP		1
#define TCPOPT_MSS		2
#define TCPOLEN_MSS		4

/* net/ipv4/ip_output.c, with the generic ip_fast_csum() of lib/checksum.c */
static inline void ip_send_check(struct iphdr *iph)
{
	const u8 *b = (const u8 *)iph;
	u32 sum = 0;
	unsigned int i;
	u16 w;

	iph->check = 0;
	for (i = 0; i < iph->ihl * 4u; i += 2) {
		memcpy(&w, b + i, 2);
		sum += w;
	}
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	iph->check = (u16)~sum;
}

#endif /* AKM_KSHIM_H */
