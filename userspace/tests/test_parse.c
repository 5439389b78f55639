// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Attributes -> structs, and the rejection of malformed messages. */
#include <errno.h>
#include <arpa/inet.h>

#include "msg.h"
#include "tap.h"

static void test_asr(void)
{
	struct akm_msg msg;
	struct akm_asr asr;
	struct nlattr *nest;
	struct nl_msg *m;
	int i;

	m = msg_new(AKM_CMD_ASR_GET);
	nla_put_u32(m, AKM_A_ASR_ID, 7);
	nla_put_string(m, AKM_A_ASR_NAME, "edge");
	nla_put_u8(m, AKM_A_ASR_ALG, AKM_ALG_CHACHA20_POLY1305);
	nla_put_u8(m, AKM_A_ASR_POLICY, AKM_POLICY_ACCEPT);
	nla_put_u32(m, AKM_A_MEMBER_COUNT, 4);
	nla_put_u32(m, AKM_A_ASR_GRACE, 60);
	put_key(m, 2, AKM_KEY_CURRENT, 1234, 1700000000, 1700000100);
	put_key(m, 3, AKM_KEY_NEXT, -1, 1700000200, 0);
	nest = nla_nest_start(m, AKM_A_STATS);
	nla_put_u64(m, AKM_STATS_A_TX_PACKETS, 10);
	nla_put_u64(m, AKM_STATS_A_ACCEPT_PLAIN, 1ULL << 40);
	nla_put_u64(m, AKM_STATS_A_MAX + 1, 99);	/* from a newer kernel */
	nla_nest_end(m, nest);
	nla_put_u32(m, AKM_A_MAX + 5, 1);		/* from a newer kernel */
	ok(!msg_parse(m, &msg) && msg.cmd == AKM_CMD_ASR_GET, "ASR message parses");
	ok(!akm_asr_parse(&msg, &asr), "ASR attributes parse");
	is_int(asr.id, 7, "ASR id");
	is_str(asr.name, "edge", "ASR name");
	is_int(asr.alg, AKM_ALG_CHACHA20_POLY1305, "ASR alg");
	is_int(asr.policy, AKM_POLICY_ACCEPT, "ASR policy");
	is_int(asr.member_count, 4, "ASR member count");
	is_int(asr.grace, 60, "ASR grace period");
	is_int(asr.nkeys, 2, "both key epochs");
	ok(asr.keys[0].epoch == 2 && asr.keys[0].state == AKM_KEY_CURRENT &&
	   asr.keys[0].serial == 1234 && asr.keys[0].created == 1700000000 &&
	   asr.keys[0].activated == 1700000100, "first key");
	ok(asr.keys[1].epoch == 3 && asr.keys[1].serial == -1 && !asr.keys[1].activated,
	   "second key");
	ok(asr.stats.v[AKM_STATS_A_TX_PACKETS] == 10 &&
	   asr.stats.v[AKM_STATS_A_ACCEPT_PLAIN] == 1ULL << 40 &&
	   !asr.stats.v[AKM_STATS_A_RX_BYTES], "ASR counters");
	nlmsg_free(m);

	m = msg_new(AKM_CMD_ASR_GET);
	nla_put_u32(m, AKM_A_ASR_ID, 1);
	for (i = 1; i <= AKM_KEYS_MAX + 1; i++)
		put_key(m, i, AKM_KEY_NEXT, i, 0, 0);
	ok(!msg_parse(m, &msg), "four keys: message parses");
	is_int(akm_asr_parse(&msg, &asr), -EPROTO, "four keys: rejected");
	nlmsg_free(m);

	m = msg_new(AKM_CMD_ASR_GET);
	nla_put_string(m, AKM_A_ASR_NAME, "x");
	ok(!msg_parse(m, &msg), "no ASR id: message parses");
	is_int(akm_asr_parse(&msg, &asr), -EPROTO, "no ASR id: rejected");
	nlmsg_free(m);

	m = msg_new(AKM_CMD_ASR_GET);
	nla_put_u32(m, AKM_A_ASR_ID, 1);
	nest = nla_nest_start(m, AKM_A_KEY);
	nla_put_u8(m, AKM_KEY_A_STATE, AKM_KEY_NEXT);
	nla_nest_end(m, nest);
	ok(!msg_parse(m, &msg), "key without epoch: message parses");
	is_int(akm_asr_parse(&msg, &asr), -EPROTO, "key without epoch: rejected");
	nlmsg_free(m);
}

static void bad_msg(int attr, const void *data, int len, const char *name)
{
	struct nl_msg *m = msg_new(AKM_CMD_ASR_GET);
	struct akm_msg msg;

	nla_put(m, attr, len, data);
	is_int(msg_parse(m, &msg), -EPROTO, name);
	nlmsg_free(m);
}

static void test_malformed(void)
{
	char name[AKM_NAME_MAX + 1];
	struct nlmsghdr nlh = { .nlmsg_len = NLMSG_HDRLEN + 2 };
	struct akm_msg msg;

	bad_msg(AKM_A_ASR_ID, "\1\0", 2, "short u32");
	bad_msg(AKM_A_ASR_NAME, "abc", 3, "name without NUL");
	memset(name, 'a', sizeof(name) - 1);
	name[AKM_NAME_MAX] = '\0';
	bad_msg(AKM_A_ASR_NAME, name, sizeof(name), "name too long");
	bad_msg(AKM_A_ASR_ALG, "", 0, "empty u8");
	is_int(akm_parse_msg(&nlh, &msg), -EPROTO, "truncated generic netlink header");
}

static void test_member(void)
{
	struct in6_addr v6;
	struct akm_member mb;
	struct akm_msg msg;
	struct nlattr *nest;
	struct nl_msg *m;
	char buf[AKM_ADDRSTRLEN];
	uint8_t v4[4] = { 10, 0, 0, 2 };
	int i;

	inet_pton(AF_INET6, "fd00::2", &v6);
	m = msg_new(AKM_CMD_MEMBER_GET);
	nla_put_u32(m, AKM_A_ASR_ID, 1);
	nla_put_u32(m, AKM_A_NODE_ID, 2);
	nla_put_u8(m, AKM_A_MEMBER_STATE, AKM_MEMBER_ACTIVE);
	nest = nla_nest_start(m, AKM_A_MEMBER_ADDRS);
	nla_put(m, AKM_ADDR_A_IPV4, 4, v4);
	nla_put(m, AKM_ADDR_A_MAX + 1, 3, "new");	/* from a newer kernel */
	nla_put(m, AKM_ADDR_A_IPV6, 16, &v6);
	nla_nest_end(m, nest);
	ok(!msg_parse(m, &msg) && !akm_member_parse(&msg, &mb), "member parses");
	ok(mb.asr_id == 1 && mb.node_id == 2 && mb.state == AKM_MEMBER_ACTIVE,
	   "member ids and state");
	is_int(mb.naddrs, 2, "member addresses, unknown types skipped");
	is_str(akm_addr_str(&mb.addrs[0], buf, sizeof(buf)), "10.0.0.2", "IPv4 address");
	is_str(akm_addr_str(&mb.addrs[1], buf, sizeof(buf)), "fd00::2", "IPv6 address");
	nlmsg_free(m);

	m = msg_new(AKM_CMD_MEMBER_GET);
	nla_put_u32(m, AKM_A_ASR_ID, 1);
	nla_put_u32(m, AKM_A_NODE_ID, 2);
	nest = nla_nest_start(m, AKM_A_MEMBER_ADDRS);
	nla_put(m, AKM_ADDR_A_IPV4, 5, "12345");
	nla_nest_end(m, nest);
	ok(!msg_parse(m, &msg), "5-byte IPv4: message parses");
	is_int(akm_member_parse(&msg, &mb), -EPROTO, "5-byte IPv4: rejected");
	nlmsg_free(m);

	m = msg_new(AKM_CMD_MEMBER_GET);
	nla_put_u32(m, AKM_A_ASR_ID, 1);
	nla_put_u32(m, AKM_A_NODE_ID, 2);
	nest = nla_nest_start(m, AKM_A_MEMBER_ADDRS);
	for (i = 0; i <= AKM_ADDRS_MAX; i++)
		nla_put(m, AKM_ADDR_A_IPV4, 4, v4);
	nla_nest_end(m, nest);
	ok(!msg_parse(m, &msg), "too many addresses: message parses");
	is_int(akm_member_parse(&msg, &mb), -EPROTO, "too many addresses: rejected");
	nlmsg_free(m);

	m = msg_new(AKM_CMD_MEMBER_GET);
	nla_put_u32(m, AKM_A_ASR_ID, 1);
	ok(!msg_parse(m, &msg), "member without node: message parses");
	is_int(akm_member_parse(&msg, &mb), -EPROTO, "member without node: rejected");
	nlmsg_free(m);
}

static void test_node(void)
{
	struct akm_node node;
	struct akm_msg msg;
	struct nlattr *nest;
	struct nl_msg *m;

	m = msg_new(AKM_CMD_NODE_GET);
	nla_put_u32(m, AKM_A_NODE_ID, 9);
	nla_put_u32(m, AKM_A_KEYRING, 0x1234);
	nla_put_u32(m, AKM_A_GENERATION, 5);
	nla_put_u32(m, AKM_A_ASR_COUNT, 2);
	nest = nla_nest_start(m, AKM_A_STATS);
	nla_put_u64(m, AKM_STATS_A_DROP_MALFORMED, 3);
	nla_nest_end(m, nest);
	ok(!msg_parse(m, &msg) && !akm_node_parse(&msg, &node), "node parses");
	ok(node.node_id == 9 && node.keyring == 0x1234 && node.generation == 5 &&
	   node.asr_count == 2 && node.stats.v[AKM_STATS_A_DROP_MALFORMED] == 3, "node fields");
	nlmsg_free(m);

	m = msg_new(AKM_CMD_NODE_GET);
	nest = nla_nest_start(m, AKM_A_STATS);
	nla_put_u32(m, AKM_STATS_A_TX_PACKETS, 3);
	nla_nest_end(m, nest);
	ok(!msg_parse(m, &msg), "32-bit counter: message parses");
	is_int(akm_node_parse(&msg, &node), -EPROTO, "32-bit counter: rejected");
	nlmsg_free(m);
}

static void test_cred(void)
{
	struct akm_cred cred;
	struct akm_msg msg;
	struct nl_msg *m;

	m = msg_new(AKM_CMD_CRED_GET);
	nla_put_u32(m, AKM_A_CRED_ID, 4);
	nla_put_s32(m, AKM_A_CRED_SERIAL, 123456);
	ok(!msg_parse(m, &msg) && !akm_cred_parse(&msg, &cred) &&
	   cred.id == 4 && cred.serial == 123456, "credential parses");
	nlmsg_free(m);

	m = msg_new(AKM_CMD_CRED_GET);
	nla_put_u32(m, AKM_A_CRED_ID, 4);
	ok(!msg_parse(m, &msg), "credential without serial: message parses");
	is_int(akm_cred_parse(&msg, &cred), -EPROTO, "credential without serial: rejected");
	nlmsg_free(m);
}

void test_parse(void)
{
	test_cred();
	test_asr();
	test_malformed();
	test_member();
	test_node();
}
