/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * A user-space mirror of the receive-side parse in kernel/hooks.c
 * (akm_parse(), the structural part of akm_verify(), akm_strip() and
 * akm_fix_iphdr()) on a linear buffer, for fuzzing. It is a copy, not the
 * kernel's code: see tests/fuzz/README.md for what has to move into a
 * shared pure-C file in kernel/ so the kernel's own parser is fuzzed.
 */
#ifndef AKM_WIRE_PARSE_H
#define AKM_WIRE_PARSE_H

#include <stddef.h>

#include "wire.h"

enum akm_wire_verdict {
	AKM_WIRE_NOT_IP,	/* the IP stack would have dropped it before LOCAL_IN */
	AKM_WIRE_PLAIN,		/* not an AKM packet: the ASR policy decides */
	AKM_WIRE_PASS,		/* akm_parse() failed: NF_ACCEPT */
	AKM_WIRE_MALFORMED,	/* akm_verify(): AKM_STATS_A_DROP_MALFORMED */
	AKM_WIRE_AKM,		/* structurally valid: goes on to the tag check */
};

/* struct akm_pkt of kernel/hooks.c plus what akm_verify() reads */
struct akm_wire_pkt {
	u8 pf;			/* 4 or 6 */
	u8 saddr[16], daddr[16];	/* IPv4 mapped into IPv6 */
	size_t len;		/* skb->len: the buffer trimmed to the IP length */
	unsigned int nhlen;
	unsigned int protoff;
	u8 proto;
	/* AKM_WIRE_AKM, and AKM_WIRE_MALFORMED with the header there (h set) */
	const struct akmhdr *h;
	u32 asr_id, epoch, sender, seq_lo;
	unsigned int payload_len;	/* skb->len - nhlen - AKM_HLEN */
};

/*
 * What the IP stack has checked before LOCAL_IN (ip_rcv_core() /
 * ip6_rcv_core()), then akm_parse() and akm_verify()'s checks up to the
 * key lookups. @buf stays const; @p points into it.
 */
enum akm_wire_verdict akm_wire_parse(const u8 *buf, size_t len, u8 akm_proto,
				     struct akm_wire_pkt *p);

/*
 * akm_strip() + akm_fix_iphdr() on a copy: writes the packet without the
 * AKM header to @out (room for p->len - AKM_HLEN bytes) and returns its
 * length.
 */
size_t akm_wire_strip(const u8 *buf, const struct akm_wire_pkt *p, u8 *out);

u16 akm_wire_csum(const u8 *data, size_t len);

#endif /* AKM_WIRE_PARSE_H */
