/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The AKM authentication header, carried between the IP header and the
 * payload (Documentation/wire-format.md). Pure C: also built in user space.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +---------------+---------------+-------------------------------+
 * |  Next Header  |    Version    |  Sequence number (bits 32-47) |
 * +---------------+---------------+-------------------------------+
 * |                            ASR id                             |
 * +---------------------------------------------------------------+
 * |                          Key epoch                            |
 * +---------------------------------------------------------------+
 * |                        Sender node id                         |
 * +---------------------------------------------------------------+
 * |                  Sequence number (bits 0-31)                  |
 * +---------------------------------------------------------------+
 * |                                                               |
 * +                      Tag (128 bits)                           +
 * |                                                               |
 * +---------------------------------------------------------------+
 */
#ifndef _AKM_WIRE_H
#define _AKM_WIRE_H

#ifdef __KERNEL__
#include <asm/byteorder.h>
#include <linux/in6.h>
#include <linux/types.h>
#endif
/* user space: build with -include tests/unit/kshim.h, which stands in for them */

#define AKM_WIRE_VERSION	1
#define AKM_PROTO_DEFAULT	253	/* RFC 3692 experimentation */
#define AKM_TAG_LEN		16

struct akmhdr {
	u8	nexthdr;
	u8	version;
	__be16	seq_hi;
	__be32	asr_id;
	__be32	epoch;
	__be32	sender;
	__be32	seq;
	u8	tag[AKM_TAG_LEN];
};

#define AKM_HLEN		((unsigned int)sizeof(struct akmhdr))	/* 36 */
#define AKM_HLEN_NOTAG		(AKM_HLEN - AKM_TAG_LEN)		/* 20 */

/*
 * The tag covers, in this order: the source and destination addresses as
 * 16 bytes each (IPv4 as ::ffff:a.b.c.d), bits 32-63 of the sequence
 * number (bits 48-63 are 0) and the payload length (bytes after this header), big endian, the
 * first AKM_HLEN_NOTAG bytes of this header, then the payload.
 */
struct akm_pseudo {
	u8	saddr[16];
	u8	daddr[16];
	__be32	seq_hi;
	__be32	len;
	u8	hdr[AKM_HLEN_NOTAG];
};

#define AKM_PSEUDO_LEN		((unsigned int)sizeof(struct akm_pseudo))	/* 60 */

/* Structural checks on a received header; the rest needs the tag. */
static inline int akm_hdr_valid(const struct akmhdr *h)
{
	return h->version == AKM_WIRE_VERSION;
}

/* The sequence number a header carries (0 is never valid). */
static inline u64 akm_hdr_seq(const struct akmhdr *h)
{
	return (u64)ntohs(h->seq_hi) << 32 | ntohl(h->seq);
}

static inline void akm_hdr_set_seq(struct akmhdr *h, u64 seq)
{
	h->seq_hi = htons(seq >> 32);
	h->seq = htonl((u32)seq);
}

/* Where an IP packet's addresses and headers are; IPv4 is mapped into IPv6. */
struct akm_pkt {
	struct in6_addr saddr;
	struct in6_addr daddr;
	unsigned int nhlen;	/* IPv4 header with options, or IPv6 header
				 * and hop-by-hop options (which stay first)
				 */
	unsigned int protoff;	/* offset of the byte naming @proto */
	u8 proto;		/* the protocol that follows those headers */
	bool v6;
};

/*
 * kernel/wire.c: the layout work of kernel/hooks.c on a linear buffer @nh
 * that starts with the IP header (see there).
 */
int akm_parse_hdrs(const void *nh, unsigned int len, bool v6,
		   struct akm_pkt *p);
void akm_set_iphdr(void *nh, const struct akm_pkt *p, u8 proto,
		   unsigned int len);
void akm_hdr_insert(void *nh, const struct akm_pkt *p, u8 proto,
		    unsigned int len);
int akm_hdr_remove(void *nh, struct akm_pkt *p, unsigned int len);
void akm_pseudo_fill(struct akm_pseudo *ph, const struct akm_pkt *p,
		     const struct akmhdr *h, u64 seq, unsigned int len);
int akm_mss_find(const u8 *opt, unsigned int optlen);

#endif /* _AKM_WIRE_H */
