// SPDX-License-Identifier: GPL-2.0 OR MIT
/* akmctl's output of objects and events, as text and JSON. */
#include "../akmctl/akmctl.h"
#include "msg.h"
#include "tap.h"

static char *buf;
static size_t len;

static void start(struct akm_out *o, enum akm_out_mode mode)
{
	FILE *f = open_memstream(&buf, &len);

	if (!f) {
		perror("open_memstream");
		exit(1);
	}
	akm_out_init(o, f, mode);
}

static void check(struct akm_out *o, const char *want, const char *name)
{
	fclose(o->f);
	is_str(buf, want, name);
	free(buf);
}

static const struct akm_asr asr = {
	.id = 1, .name = "edge", .alg = AKM_ALG_HMAC_SHA256, .policy = AKM_POLICY_DROP,
	.grace = 30, .member_count = 2, .last_epoch = 3, .nkeys = 2,
	.keys = {
		{ .epoch = 2, .state = AKM_KEY_CURRENT, .serial = 77,
		  .created = 1700000000, .activated = 1700000060, .tx_seq = 41 },
		{ .epoch = 3, .state = AKM_KEY_NEXT, .serial = 78, .created = 1700000120 },
	},
};

static void test_asr(void)
{
	struct akm_member members[2] = {
		{ .asr_id = 1, .node_id = 2, .state = AKM_MEMBER_ACTIVE, .naddrs = 2 },
		{ .asr_id = 1, .node_id = 3, .state = 9 },
	};
	struct akm_out o;

	akm_addr_parse("10.0.0.2", &members[0].addrs[0]);
	akm_addr_parse("fd00::2", &members[0].addrs[1]);
	members[0].stats.v[AKM_STATS_A_RX_PACKETS] = 5;

	start(&o, AKM_OUT_TEXT);
	print_asr(&o, &asr, members, 2);
	check(&o, "asr 1 name edge alg hmac-sha256 policy drop grace 30 members 2 "
	      "last-epoch 3\n"
	      "    key epoch 2 state current serial 77 created 2023-11-14T22:13:20Z "
	      "activated 2023-11-14T22:14:20Z sent 41\n"
	      "    key epoch 3 state next serial 78 created 2023-11-14T22:15:20Z "
	      "activated never sent 0\n"
	      "    member node 2 state active addr 10.0.0.2 addr fd00::2\n"
	      "    member node 3 state unknown\n", "asr show: text");

	start(&o, AKM_OUT_JSON);
	print_asr(&o, &asr, members, 1);
	check(&o, "{\"id\":1,\"name\":\"edge\",\"alg\":\"hmac-sha256\",\"policy\":\"drop\","
	      "\"grace\":30,\"member_count\":2,\"last_epoch\":3,\"groups\":[],\"keys\":["
	      "{\"epoch\":2,\"state\":\"current\",\"serial\":77,"
	      "\"created\":1700000000,\"activated\":1700000060,\"tx_seq\":41},"
	      "{\"epoch\":3,\"state\":\"next\",\"serial\":78,"
	      "\"created\":1700000120,\"activated\":0,\"tx_seq\":0}],"
	      "\"members\":[{\"asr\":1,\"node\":2,\"state\":\"active\","
	      "\"addrs\":[\"10.0.0.2\",\"fd00::2\"],\"stats\":{"
	      "\"tx_packets\":0,\"tx_bytes\":0,\"rx_packets\":5,\"rx_bytes\":0,"
	      "\"tx_no_key\":0,\"drop_bad_tag\":0,\"drop_replay\":0,"
	      "\"drop_unknown_asr\":0,\"drop_unknown_epoch\":0,\"drop_not_member\":0,"
	      "\"drop_malformed\":0,\"drop_plain\":0,\"accept_plain\":0,\"drop_icmp\":0}}],"
	      "\"stats\":{\"tx_packets\":0,\"tx_bytes\":0,\"rx_packets\":0,\"rx_bytes\":0,"
	      "\"tx_no_key\":0,\"drop_bad_tag\":0,\"drop_replay\":0,"
	      "\"drop_unknown_asr\":0,\"drop_unknown_epoch\":0,\"drop_not_member\":0,"
	      "\"drop_malformed\":0,\"drop_plain\":0,\"accept_plain\":0,\"drop_icmp\":0}}\n",
	      "asr show: JSON");

	start(&o, AKM_OUT_TEXT);
	print_key(&o, &asr.keys[1], 1, "");
	check(&o, "asr 1 epoch 3 state next serial 78 created 2023-11-14T22:15:20Z "
	      "activated never sent 0", "key show: text");
}

static void test_stats(void)
{
	struct akm_stats stats = { .v = { [AKM_STATS_A_DROP_REPLAY] = 4 } };
	struct akm_out o;

	start(&o, AKM_OUT_TEXT);
	print_stats_entry(&o, 0, 0, &stats);
	print_stats_entry(&o, 1, 2, &stats);
	check(&o, "node\n"
	      "    tx_packets 0 tx_bytes 0 rx_packets 0 rx_bytes 0 tx_no_key 0\n"
	      "    drop_bad_tag 0 drop_replay 4 drop_unknown_asr 0 drop_unknown_epoch 0 "
	      "drop_not_member 0 drop_malformed 0 drop_plain 0 accept_plain 0 drop_icmp 0\n"
	      "asr 1 node 2\n"
	      "    tx_packets 0 tx_bytes 0 rx_packets 0 rx_bytes 0 tx_no_key 0\n"
	      "    drop_bad_tag 0 drop_replay 4 drop_unknown_asr 0 drop_unknown_epoch 0 "
	      "drop_not_member 0 drop_malformed 0 drop_plain 0 accept_plain 0 drop_icmp 0\n",
	      "stats show: text");
}

static void test_events(void)
{
	struct akm_msg msg;
	struct akm_out o;
	struct nlattr *nest;
	struct nl_msg *m;
	uint8_t v4[4] = { 192, 0, 2, 1 };

	m = msg_new(AKM_CMD_ASR_NEW);
	nla_put_u32(m, AKM_A_ASR_ID, 1);
	nla_put_string(m, AKM_A_ASR_NAME, "a\nb");
	nla_put_u8(m, AKM_A_ASR_ALG, AKM_ALG_HMAC_SHA256);
	nla_put_u8(m, AKM_A_ASR_POLICY, AKM_POLICY_DROP);
	msg_parse(m, &msg);
	start(&o, AKM_OUT_TEXT);
	print_event(&o, &msg);
	check(&o, "[asr-new] asr 1 name a?b alg hmac-sha256 policy drop\n",
	      "event: text, control characters masked");
	start(&o, AKM_OUT_JSON);
	print_event(&o, &msg);
	check(&o, "{\"event\":\"asr-new\",\"asr\":1,\"name\":\"a\\nb\",\"alg\":\"hmac-sha256\","
	      "\"policy\":\"drop\"}\n", "event: JSON line");
	nlmsg_free(m);

	m = msg_new(AKM_CMD_MEMBER_SET);
	nla_put_u32(m, AKM_A_ASR_ID, 1);
	nla_put_u32(m, AKM_A_NODE_ID, 4);
	nla_put_u8(m, AKM_A_MEMBER_STATE, AKM_MEMBER_REVOKED);
	nest = nla_nest_start(m, AKM_A_MEMBER_ADDRS);
	nla_put(m, AKM_ADDR_A_IPV4, 4, v4);
	nla_nest_end(m, nest);
	msg_parse(m, &msg);
	start(&o, AKM_OUT_TEXT);
	print_event(&o, &msg);
	check(&o, "[member-set] asr 1 node 4 state revoked addr 192.0.2.1\n", "member event");
	nlmsg_free(m);

	m = msg_new(AKM_CMD_KEY_REVOKED);
	nla_put_u32(m, AKM_A_ASR_ID, 1);
	nla_put_u32(m, AKM_A_KEY_EPOCH, 2);
	msg_parse(m, &msg);
	start(&o, AKM_OUT_TEXT);
	print_event(&o, &msg);
	check(&o, "[key-revoked] asr 1 epoch 2\n", "key-revoked event");
	start(&o, AKM_OUT_JSON);
	print_event(&o, &msg);
	check(&o, "{\"event\":\"key-revoked\",\"asr\":1,\"epoch\":2}\n", "key-revoked event: JSON");
	nlmsg_free(m);

	m = msg_new(AKM_CMD_AUTH_FAILURE);
	nla_put_u32(m, AKM_A_ASR_ID, 1);
	nla_put_u8(m, AKM_A_FAIL_REASON, AKM_STATS_A_DROP_REPLAY);
	nla_put_u32(m, AKM_A_FAIL_COUNT, 12);
	msg_parse(m, &msg);
	start(&o, AKM_OUT_TEXT);
	print_event(&o, &msg);
	check(&o, "[auth-failure] asr 1 reason replay count 12\n", "auth-failure event");
	nlmsg_free(m);

	m = msg_new(AKM_CMD_MAX + 1);
	put_key(m, 5, AKM_KEY_CURRENT, 9, 0, 0);
	msg_parse(m, &msg);
	start(&o, AKM_OUT_JSON);
	print_event(&o, &msg);
	check(&o, "{\"event\":\"unknown\",\"keys\":[{\"epoch\":5,\"state\":\"current\","
	      "\"serial\":9,\"created\":0,\"activated\":0,\"tx_seq\":0}]}\n",
	      "unknown event with a key");
	nlmsg_free(m);
}

void test_print(void)
{
	test_asr();
	test_stats();
	test_events();
}
