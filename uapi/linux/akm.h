/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * AKM: symmetric-key group authentication for IP traffic.
 *
 * This header is the single source of truth for the "akm" generic netlink
 * family. Documentation/netlink/specs/akm.yaml describes the same ABI for
 * the kernel's ynl tool and Documentation/netlink-abi.md explains it.
 *
 * Objects, all per network namespace:
 *   node    this namespace's own AKM node id and keyring;
 *   ASR     an AKM Security Relationship: id, name, MAC algorithm, policy
 *           for plain packets, up to three key epochs (next, current,
 *           previous) and a list of members;
 *   member  a node id, its state and its IPv4/IPv6 addresses;
 *   key     one epoch of an ASR's group key, stored in the kernel keyring
 *           as a key of type "akm" that can never be read back;
 *   cred    a provisioning credential shared with one peer (on a node: the
 *           NMM; on the NMM: a node), also an "akm" key. The kernel uses
 *           it to prove possession (CRED_PROVE), to unwrap group keys
 *           delivered under it (KEY_INSTALL with KEY_WRAPPED) and to key
 *           the two-member provisioning ASR (KEY_INSTALL with CRED_ID only).
 *
 * All commands need CAP_NET_ADMIN in the user namespace that owns the
 * network namespace. Changes are announced on the "events" multicast group
 * with the command that made them; no message ever carries key material
 * from the kernel.
 */
#ifndef _UAPI_LINUX_AKM_H
#define _UAPI_LINUX_AKM_H

#define AKM_GENL_NAME		"akm"
#define AKM_GENL_VERSION	1
#define AKM_MCGRP_EVENTS	"events"

#define AKM_KEY_LEN		32	/* bytes of ASR key material per epoch */
#define AKM_NAME_MAX		32	/* ASR name, including the final NUL */
#define AKM_ASRS_MAX		1024	/* ASRs per network namespace */
#define AKM_MEMBERS_MAX		256	/* members per ASR */
#define AKM_ADDRS_MAX		8	/* addresses per member */
#define AKM_CREDS_MAX		1024	/* provisioning credentials per namespace */
#define AKM_WRAPPED_LEN		72	/* nonce 24, key 32, tag 16 */
#define AKM_PROOF_LEN		32	/* HMAC-SHA256 */
#define AKM_PROOF_DATA_MAX	1024
#define AKM_GRACE_DEFAULT	30	/* seconds */
#define AKM_GRACE_MAX		86400
#define AKM_SEQ_LIMIT		((1ULL << 48) - 1)	/* packets per epoch and sender:
							 * 48 bits on the wire
							 */

enum akm_alg {
	AKM_ALG_HMAC_SHA256 = 1,	/* HMAC-SHA-256, tag truncated to 128 bits */
	AKM_ALG_CHACHA20_POLY1305,	/* Poly1305 tag over an empty plaintext */
	__AKM_ALG_MAX
};

#define AKM_ALG_MAX (__AKM_ALG_MAX - 1)

/*
 * What happens to plain (unauthenticated) packets delivered from a member's
 * address or to one of the ASR's groups (from both: the stricter wins).
 */
enum akm_policy {
	AKM_POLICY_DROP,		/* default */
	AKM_POLICY_ACCEPT,		/* counted, for migration */
	__AKM_POLICY_MAX
};

#define AKM_POLICY_MAX (__AKM_POLICY_MAX - 1)

enum akm_member_state {
	AKM_MEMBER_PROVISIONED,
	AKM_MEMBER_ACTIVE,
	AKM_MEMBER_REVOKED,
	__AKM_MEMBER_STATE_MAX
};

#define AKM_MEMBER_STATE_MAX (__AKM_MEMBER_STATE_MAX - 1)

enum akm_key_state {
	AKM_KEY_NEXT,		/* accepted on receive, not yet sent with */
	AKM_KEY_CURRENT,	/* sent with and accepted */
	AKM_KEY_PREVIOUS,	/* accepted during the grace period */
	__AKM_KEY_STATE_MAX
};

#define AKM_KEY_STATE_MAX (__AKM_KEY_STATE_MAX - 1)

enum akm_cmd {
	AKM_CMD_UNSPEC,
	AKM_CMD_NODE_GET,	/* -> NODE_ID, KEYRING, GENERATION, ASR_COUNT,
				 * NODE_RX_MARK, STATS
				 */
	AKM_CMD_NODE_SET,	/* [NODE_ID], [NODE_RX_MARK]: at least one */
	AKM_CMD_ASR_NEW,	/* ASR_ID, ALG, [ASR_NAME], [ASR_POLICY], [ASR_GRACE],
				 * [ASR_GROUPS]
				 */
	AKM_CMD_ASR_DEL,	/* ASR_ID */
	AKM_CMD_ASR_SET,	/* ASR_ID, [ASR_NAME], [ASR_POLICY], [ASR_GRACE],
				 * [ASR_GROUPS]: replaces the list
				 */
	AKM_CMD_ASR_GET,	/* ASR_ID | dump -> ASR attributes, KEY*, STATS */
	AKM_CMD_MEMBER_NEW,	/* ASR_ID, NODE_ID, [MEMBER_STATE], [MEMBER_ADDRS] */
	AKM_CMD_MEMBER_SET,	/* ASR_ID, NODE_ID, [MEMBER_STATE], [MEMBER_ADDRS] */
	AKM_CMD_MEMBER_DEL,	/* ASR_ID, NODE_ID */
	AKM_CMD_MEMBER_GET,	/* ASR_ID, NODE_ID | dump [ASR_ID] -> member, STATS */
	AKM_CMD_KEY_INSTALL,	/* ASR_ID, KEY_EPOCH, and one of: KEY_MATERIAL;
				 * CRED_ID + KEY_WRAPPED; CRED_ID alone
				 * (provisioning ASR): new next epoch
				 */
	AKM_CMD_KEY_ACTIVATE,	/* ASR_ID, KEY_EPOCH: next becomes current */
	AKM_CMD_KEY_RETIRE,	/* ASR_ID, KEY_EPOCH: forget an epoch */
	AKM_CMD_KEY_REVOKED,	/* unused: keys cannot be revoked from user space */
	AKM_CMD_STATS_GET,	/* [ASR_ID [NODE_ID]] -> STATS of node, ASR or member */
	AKM_CMD_STATS_RESET,	/* [ASR_ID [NODE_ID]] */
	AKM_CMD_CRED_INSTALL,	/* CRED_ID, KEY_MATERIAL */
	AKM_CMD_CRED_DEL,	/* CRED_ID */
	AKM_CMD_CRED_GET,	/* CRED_ID | dump -> CRED_ID, CRED_SERIAL */
	AKM_CMD_CRED_PROVE,	/* CRED_ID, PROOF_DATA -> PROOF */
	AKM_CMD_AUTH_FAILURE,	/* event only, at most one a second per namespace:
				 * FAIL_COUNT failures since the last event, the
				 * last one's FAIL_REASON, [ASR_ID], [NODE_ID]
				 */
	__AKM_CMD_MAX
};

#define AKM_CMD_MAX (__AKM_CMD_MAX - 1)

enum akm_attr {
	AKM_A_UNSPEC,
	AKM_A_PAD,
	AKM_A_NODE_ID,		/* u32, 1.. */
	AKM_A_KEYRING,		/* u32: serial of this namespace's keyring */
	AKM_A_GENERATION,	/* u32: bumped by every change */
	AKM_A_ASR_COUNT,	/* u32 */
	AKM_A_ASR_ID,		/* u32, 1.. */
	AKM_A_ASR_NAME,		/* NUL-terminated string, < AKM_NAME_MAX */
	AKM_A_ASR_ALG,		/* u8: enum akm_alg */
	AKM_A_ASR_POLICY,	/* u8: enum akm_policy */
	AKM_A_MEMBER_COUNT,	/* u32 */
	AKM_A_MEMBER_STATE,	/* u8: enum akm_member_state */
	AKM_A_MEMBER_ADDRS,	/* nest: AKM_ADDR_A_IPV4/IPV6, repeated */
	AKM_A_KEY_EPOCH,	/* u32, 1.. */
	AKM_A_KEY_MATERIAL,	/* binary, exactly AKM_KEY_LEN; never sent by the kernel */
	AKM_A_KEY,		/* nest: enum akm_key_attr, repeated, one per epoch */
	AKM_A_STATS,		/* nest: enum akm_stats_attr */
	AKM_A_ASR_GRACE,	/* u32: seconds the previous epoch stays
				 * accepted after an activation, default 30,
				 * 0: until the next activation or a retire
				 */
	AKM_A_FAIL_REASON,	/* u8: the AKM_STATS_A_DROP_* counter it hit */
	AKM_A_FAIL_COUNT,	/* u32 */
	AKM_A_CRED_ID,		/* u32, 1..: the peer's node id */
	AKM_A_CRED_SERIAL,	/* s32: keyring serial of the credential */
	AKM_A_KEY_WRAPPED,	/* binary, exactly AKM_WRAPPED_LEN */
	AKM_A_PROOF_DATA,	/* binary, at most AKM_PROOF_DATA_MAX */
	AKM_A_PROOF,		/* binary, AKM_PROOF_LEN */
	AKM_A_ASR_GROUPS,	/* nest: AKM_ADDR_A_IPV4/IPV6 multicast
				 * addresses of the ASR, repeated, at most
				 * AKM_ADDRS_MAX: packets to them are tagged
				 */
	AKM_A_NODE_RX_MARK,	/* u32: bits set in skb->mark of every packet
				 * verified, for firewall rules; 0: none
				 */
	AKM_A_ASR_LAST_EPOCH,	/* u32: the highest epoch ever installed for
				 * this ASR id in this namespace, also before
				 * an ASR_DEL; KEY_INSTALL needs a higher one
				 */
	AKM_A_NODE_INSTANCE,	/* u64: random, drawn when the namespace's
				 * AKM state was made; another value means
				 * every epoch and counter was lost
				 */
	__AKM_A_MAX
};

#define AKM_A_MAX (__AKM_A_MAX - 1)

enum akm_addr_attr {
	AKM_ADDR_A_UNSPEC,
	AKM_ADDR_A_IPV4,	/* 4 bytes, network order */
	AKM_ADDR_A_IPV6,	/* 16 bytes, network order */
	__AKM_ADDR_A_MAX
};

#define AKM_ADDR_A_MAX (__AKM_ADDR_A_MAX - 1)

enum akm_key_attr {
	AKM_KEY_A_UNSPEC,
	AKM_KEY_A_PAD,
	AKM_KEY_A_EPOCH,	/* u32 */
	AKM_KEY_A_STATE,	/* u8: enum akm_key_state */
	AKM_KEY_A_SERIAL,	/* s32: keyring serial of the key */
	AKM_KEY_A_CREATED,	/* u64: installed, seconds since the epoch (UTC) */
	AKM_KEY_A_ACTIVATED,	/* u64: made current, 0 if never */
	AKM_KEY_A_TX_SEQ,	/* u64: the last sequence number sent under
				 * it; it sends nothing past AKM_SEQ_LIMIT
				 */
	__AKM_KEY_A_MAX
};

#define AKM_KEY_A_MAX (__AKM_KEY_A_MAX - 1)

/*
 * Counters, all u64. Node-level counters hold what cannot be attributed to
 * an ASR (unknown ASR, malformed headers); ASR and member counters hold the
 * rest. A reset sets the reported values back to zero.
 */
enum akm_stats_attr {
	AKM_STATS_A_UNSPEC,
	AKM_STATS_A_PAD,
	AKM_STATS_A_TX_PACKETS,
	AKM_STATS_A_TX_BYTES,
	AKM_STATS_A_RX_PACKETS,
	AKM_STATS_A_RX_BYTES,
	AKM_STATS_A_TX_NO_KEY,		/* egress to a member or group without a
					 * current epoch, or one whose counter
					 * reached AKM_SEQ_LIMIT
					 */
	AKM_STATS_A_DROP_BAD_TAG,
	AKM_STATS_A_DROP_REPLAY,
	AKM_STATS_A_DROP_UNKNOWN_ASR,
	AKM_STATS_A_DROP_UNKNOWN_EPOCH,
	AKM_STATS_A_DROP_NOT_MEMBER,
	AKM_STATS_A_DROP_MALFORMED,
	AKM_STATS_A_DROP_PLAIN,		/* plain packet from a member or to a
					 * group, policy drop
					 */
	AKM_STATS_A_ACCEPT_PLAIN,	/* the same, policy accept */
	AKM_STATS_A_DROP_ICMP,		/* forged ICMP error about a packet to a member */
	__AKM_STATS_A_MAX
};

#define AKM_STATS_A_MAX (__AKM_STATS_A_MAX - 1)

#endif /* _UAPI_LINUX_AKM_H */
