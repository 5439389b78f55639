// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Validation of the kernel's attributes and their conversion to structs. */
#include <errno.h>
#include <string.h>
#include <netlink/genl/genl.h>

#include "libakm.h"

static const struct nla_policy attr_policy[AKM_A_MAX + 1] = {
	[AKM_A_NODE_ID]		= { .type = NLA_U32 },
	[AKM_A_NODE_RX_MARK]	= { .type = NLA_U32 },
	[AKM_A_NODE_INSTANCE]	= { .type = NLA_U64 },
	[AKM_A_KEYRING]		= { .type = NLA_U32 },
	[AKM_A_GENERATION]	= { .type = NLA_U32 },
	[AKM_A_ASR_COUNT]	= { .type = NLA_U32 },
	[AKM_A_ASR_ID]		= { .type = NLA_U32 },
	[AKM_A_ASR_NAME]	= { .type = NLA_STRING, .maxlen = AKM_NAME_MAX },
	[AKM_A_ASR_ALG]		= { .type = NLA_U8 },
	[AKM_A_ASR_POLICY]	= { .type = NLA_U8 },
	[AKM_A_MEMBER_COUNT]	= { .type = NLA_U32 },
	[AKM_A_ASR_LAST_EPOCH]	= { .type = NLA_U32 },
	[AKM_A_MEMBER_STATE]	= { .type = NLA_U8 },
	[AKM_A_MEMBER_ADDRS]	= { .type = NLA_NESTED },
	[AKM_A_ASR_GROUPS]	= { .type = NLA_NESTED },
	[AKM_A_KEY_EPOCH]	= { .type = NLA_U32 },
	[AKM_A_KEY]		= { .type = NLA_NESTED },
	[AKM_A_STATS]		= { .type = NLA_NESTED },
	[AKM_A_ASR_GRACE]	= { .type = NLA_U32 },
	[AKM_A_FAIL_REASON]	= { .type = NLA_U8 },
	[AKM_A_FAIL_COUNT]	= { .type = NLA_U32 },
	[AKM_A_CRED_ID]		= { .type = NLA_U32 },
	[AKM_A_CRED_SERIAL]	= { .type = NLA_S32, .minlen = 4 },
	[AKM_A_PROOF]		= { .minlen = AKM_PROOF_LEN, .maxlen = AKM_PROOF_LEN },
};

static const struct nla_policy addr_policy[AKM_ADDR_A_MAX + 1] = {
	[AKM_ADDR_A_IPV4]	= { .minlen = 4, .maxlen = 4 },
	[AKM_ADDR_A_IPV6]	= { .minlen = 16, .maxlen = 16 },
};

static const struct nla_policy key_policy[AKM_KEY_A_MAX + 1] = {
	[AKM_KEY_A_EPOCH]	= { .type = NLA_U32 },
	[AKM_KEY_A_STATE]	= { .type = NLA_U8 },
	[AKM_KEY_A_SERIAL]	= { .type = NLA_S32, .minlen = 4 },
	[AKM_KEY_A_CREATED]	= { .type = NLA_U64 },
	[AKM_KEY_A_ACTIVATED]	= { .type = NLA_U64 },
	[AKM_KEY_A_TX_SEQ]	= { .type = NLA_U64 },
};

static const struct nla_policy stats_policy[AKM_STATS_A_MAX + 1] = {
	[AKM_STATS_A_TX_PACKETS ... AKM_STATS_A_MAX] = { .type = NLA_U64 },
};

static uint32_t get_u32(struct nlattr *a)
{
	return a ? nla_get_u32(a) : 0;
}

static uint8_t get_u8(struct nlattr *a)
{
	return a ? nla_get_u8(a) : 0;
}

int akm_parse_msg(struct nlmsghdr *nlh, struct akm_msg *msg)
{
	struct genlmsghdr *ghdr;

	if (!genlmsg_valid_hdr(nlh, 0))
		return -EPROTO;
	ghdr = genlmsg_hdr(nlh);
	memset(msg, 0, sizeof(*msg));
	msg->cmd = ghdr->cmd;
	msg->attrs = genlmsg_attrdata(ghdr, 0);
	msg->len = genlmsg_attrlen(ghdr, 0);
	if (nla_parse(msg->tb, AKM_A_MAX, msg->attrs, msg->len, attr_policy) < 0)
		return -EPROTO;
	return 0;
}

int akm_stats_parse(struct nlattr *nest, struct akm_stats *stats)
{
	struct nlattr *tb[AKM_STATS_A_MAX + 1];
	int i;

	memset(stats, 0, sizeof(*stats));
	if (!nest)
		return 0;
	if (nla_parse_nested(tb, AKM_STATS_A_MAX, nest, stats_policy) < 0)
		return -EPROTO;
	for (i = AKM_STATS_A_TX_PACKETS; i <= AKM_STATS_A_MAX; i++)
		if (tb[i])
			stats->v[i] = nla_get_u64(tb[i]);
	return 0;
}

int akm_key_parse(struct nlattr *nest, struct akm_key *key)
{
	struct nlattr *tb[AKM_KEY_A_MAX + 1];

	memset(key, 0, sizeof(*key));
	if (nla_parse_nested(tb, AKM_KEY_A_MAX, nest, key_policy) < 0 ||
	    !tb[AKM_KEY_A_EPOCH] || !tb[AKM_KEY_A_STATE])
		return -EPROTO;
	key->epoch = nla_get_u32(tb[AKM_KEY_A_EPOCH]);
	key->state = nla_get_u8(tb[AKM_KEY_A_STATE]);
	if (tb[AKM_KEY_A_SERIAL])
		key->serial = nla_get_s32(tb[AKM_KEY_A_SERIAL]);
	if (tb[AKM_KEY_A_CREATED])
		key->created = nla_get_u64(tb[AKM_KEY_A_CREATED]);
	if (tb[AKM_KEY_A_ACTIVATED])
		key->activated = nla_get_u64(tb[AKM_KEY_A_ACTIVATED]);
	if (tb[AKM_KEY_A_TX_SEQ])
		key->tx_seq = nla_get_u64(tb[AKM_KEY_A_TX_SEQ]);
	return 0;
}

int akm_addrs_parse(struct nlattr *nest, struct akm_addr *addrs,
		    unsigned int max, unsigned int *n)
{
	struct nlattr *a;
	int rem;

	*n = 0;
	if (!nest)
		return 0;
	if (nla_validate(nla_data(nest), nla_len(nest), AKM_ADDR_A_MAX, addr_policy) < 0)
		return -EPROTO;
	nla_for_each_nested(a, nest, rem) {
		int type = nla_type(a);

		if (type != AKM_ADDR_A_IPV4 && type != AKM_ADDR_A_IPV6)
			continue;
		if (*n == max)
			return -EPROTO;
		memset(&addrs[*n], 0, sizeof(addrs[*n]));
		addrs[*n].family = type == AKM_ADDR_A_IPV4 ? AF_INET : AF_INET6;
		memcpy(&addrs[*n].v4, nla_data(a), nla_len(a));
		(*n)++;
	}
	return 0;
}

int akm_node_parse(const struct akm_msg *msg, struct akm_node *node)
{
	struct nlattr *const *tb = msg->tb;

	memset(node, 0, sizeof(*node));
	node->node_id = get_u32(tb[AKM_A_NODE_ID]);
	node->keyring = get_u32(tb[AKM_A_KEYRING]);
	node->generation = get_u32(tb[AKM_A_GENERATION]);
	node->asr_count = get_u32(tb[AKM_A_ASR_COUNT]);
	node->rx_mark = get_u32(tb[AKM_A_NODE_RX_MARK]);
	if (tb[AKM_A_NODE_INSTANCE])
		node->instance = nla_get_u64(tb[AKM_A_NODE_INSTANCE]);
	return akm_stats_parse(tb[AKM_A_STATS], &node->stats);
}

int akm_asr_parse(const struct akm_msg *msg, struct akm_asr *asr)
{
	struct nlattr *const *tb = msg->tb;
	struct nlattr *a;
	int rem, err;

	memset(asr, 0, sizeof(*asr));
	if (!tb[AKM_A_ASR_ID])
		return -EPROTO;
	asr->id = nla_get_u32(tb[AKM_A_ASR_ID]);
	if (tb[AKM_A_ASR_NAME])
		strcpy(asr->name, nla_get_string(tb[AKM_A_ASR_NAME]));
	asr->alg = get_u8(tb[AKM_A_ASR_ALG]);
	asr->policy = get_u8(tb[AKM_A_ASR_POLICY]);
	asr->member_count = get_u32(tb[AKM_A_MEMBER_COUNT]);
	asr->grace = get_u32(tb[AKM_A_ASR_GRACE]);
	asr->last_epoch = get_u32(tb[AKM_A_ASR_LAST_EPOCH]);
	if (tb[AKM_A_ASR_GROUPS]) {
		err = akm_addrs_parse(tb[AKM_A_ASR_GROUPS], asr->groups, AKM_ADDRS_MAX,
				      &asr->ngroups);
		if (err)
			return err;
	}
	nla_for_each_attr(a, msg->attrs, msg->len, rem) {
		if (nla_type(a) != AKM_A_KEY)
			continue;
		if (asr->nkeys == AKM_KEYS_MAX)
			return -EPROTO;
		err = akm_key_parse(a, &asr->keys[asr->nkeys++]);
		if (err)
			return err;
	}
	return akm_stats_parse(tb[AKM_A_STATS], &asr->stats);
}

int akm_cred_parse(const struct akm_msg *msg, struct akm_cred *cred)
{
	if (!msg->tb[AKM_A_CRED_ID] || !msg->tb[AKM_A_CRED_SERIAL])
		return -EPROTO;
	cred->id = nla_get_u32(msg->tb[AKM_A_CRED_ID]);
	cred->serial = nla_get_s32(msg->tb[AKM_A_CRED_SERIAL]);
	return 0;
}

int akm_member_parse(const struct akm_msg *msg, struct akm_member *m)
{
	struct nlattr *const *tb = msg->tb;
	int err;

	memset(m, 0, sizeof(*m));
	if (!tb[AKM_A_ASR_ID] || !tb[AKM_A_NODE_ID])
		return -EPROTO;
	m->asr_id = nla_get_u32(tb[AKM_A_ASR_ID]);
	m->node_id = nla_get_u32(tb[AKM_A_NODE_ID]);
	m->state = get_u8(tb[AKM_A_MEMBER_STATE]);
	err = akm_addrs_parse(tb[AKM_A_MEMBER_ADDRS], m->addrs, AKM_ADDRS_MAX, &m->naddrs);
	if (err)
		return err;
	return akm_stats_parse(tb[AKM_A_STATS], &m->stats);
}
