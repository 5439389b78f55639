// SPDX-License-Identifier: GPL-2.0
/*
 * The "akm" generic netlink family: configuration of this namespace's node,
 * its ASRs, members and key epochs, counters, and change events.
 */
#include <net/genetlink.h>
#include <net/ipv6.h>
#include <net/sock.h>

#include "akm.h"

static const struct nla_policy akm_addr_policy[AKM_ADDR_A_MAX + 1] = {
	[AKM_ADDR_A_IPV4]	= NLA_POLICY_EXACT_LEN(sizeof(struct in_addr)),
	[AKM_ADDR_A_IPV6]	= NLA_POLICY_EXACT_LEN(sizeof(struct in6_addr)),
};

static struct netlink_range_validation akm_grace_range = {
	.max = AKM_GRACE_MAX,
};

static const struct nla_policy akm_policy[AKM_A_MAX + 1] = {
	[AKM_A_NODE_ID]		= NLA_POLICY_MIN(NLA_U32, 1),
	[AKM_A_KEYRING]		= { .type = NLA_REJECT },
	[AKM_A_GENERATION]	= { .type = NLA_REJECT },
	[AKM_A_ASR_COUNT]	= { .type = NLA_REJECT },
	[AKM_A_ASR_ID]		= NLA_POLICY_MIN(NLA_U32, 1),
	[AKM_A_ASR_NAME]	= { .type = NLA_NUL_STRING,
				    .len = AKM_NAME_MAX - 1 },
	[AKM_A_ASR_ALG]		= NLA_POLICY_RANGE(NLA_U8, 1, AKM_ALG_MAX),
	[AKM_A_ASR_POLICY]	= NLA_POLICY_MAX(NLA_U8, AKM_POLICY_MAX),
	[AKM_A_MEMBER_COUNT]	= { .type = NLA_REJECT },
	[AKM_A_MEMBER_STATE]	= NLA_POLICY_MAX(NLA_U8, AKM_MEMBER_STATE_MAX),
	[AKM_A_MEMBER_ADDRS]	= NLA_POLICY_NESTED(akm_addr_policy),
	[AKM_A_KEY_EPOCH]	= NLA_POLICY_MIN(NLA_U32, 1),
	[AKM_A_KEY_MATERIAL]	= NLA_POLICY_EXACT_LEN(AKM_KEY_LEN),
	[AKM_A_KEY]		= { .type = NLA_REJECT },
	[AKM_A_STATS]		= { .type = NLA_REJECT },
	[AKM_A_ASR_GRACE]	= NLA_POLICY_FULL_RANGE(NLA_U32, &akm_grace_range),
	[AKM_A_FAIL_REASON]	= { .type = NLA_REJECT },
	[AKM_A_FAIL_COUNT]	= { .type = NLA_REJECT },
	[AKM_A_CRED_ID]		= NLA_POLICY_MIN(NLA_U32, 1),
	[AKM_A_CRED_SERIAL]	= { .type = NLA_REJECT },
	[AKM_A_KEY_WRAPPED]	= NLA_POLICY_EXACT_LEN(AKM_WRAPPED_LEN),
	[AKM_A_PROOF_DATA]	= { .type = NLA_BINARY,
				    .len = AKM_PROOF_DATA_MAX },
	[AKM_A_PROOF]		= { .type = NLA_REJECT },
	[AKM_A_ASR_GROUPS]	= NLA_POLICY_NESTED(akm_addr_policy),
	[AKM_A_NODE_RX_MARK]	= { .type = NLA_U32 },
	[AKM_A_ASR_LAST_EPOCH]	= { .type = NLA_REJECT },
	[AKM_A_NODE_INSTANCE]	= { .type = NLA_REJECT },
};

static struct genl_family akm_family;

/* The ASR_ID of a dump request, 0 if absent; the core validated it. */
static u32 akm_dump_asr_id(struct netlink_callback *cb)
{
	struct nlattr *tb[AKM_A_MAX + 1];

	if (nlmsg_parse(cb->nlh, GENL_HDRLEN, tb, AKM_A_MAX, akm_policy, NULL) ||
	    !tb[AKM_A_ASR_ID])
		return 0;
	return nla_get_u32(tb[AKM_A_ASR_ID]);
}

static void *akm_msg_put(struct sk_buff *skb, struct netlink_callback *cb,
			 u32 portid, u32 seq, int flags, u8 cmd)
{
	void *hdr = genlmsg_put(skb, portid, seq, &akm_family, flags, cmd);

	if (hdr && cb)
		genl_dump_check_consistent(cb, hdr);
	return hdr;
}

static int akm_put_stats(struct sk_buff *skb, const struct akm_stats *s)
{
	u64 v[__AKM_STATS_A_MAX];
	struct nlattr *nest;
	int i;

	nest = nla_nest_start(skb, AKM_A_STATS);
	if (!nest)
		return -EMSGSIZE;
	akm_stats_read(s, v);
	for (i = AKM_STATS_A_TX_PACKETS; i < __AKM_STATS_A_MAX; i++) {
		if (nla_put_u64_64bit(skb, i, v[i], AKM_STATS_A_PAD)) {
			nla_nest_cancel(skb, nest);
			return -EMSGSIZE;
		}
	}
	nla_nest_end(skb, nest);
	return 0;
}

static int akm_put_epoch(struct sk_buff *skb, const struct akm_epoch *ep,
			 int state)
{
	struct nlattr *nest = nla_nest_start(skb, AKM_A_KEY);

	if (!nest ||
	    nla_put_u32(skb, AKM_KEY_A_EPOCH, ep->epoch) ||
	    nla_put_u8(skb, AKM_KEY_A_STATE, state) ||
	    nla_put_s32(skb, AKM_KEY_A_SERIAL, ep->serial) ||
	    nla_put_u64_64bit(skb, AKM_KEY_A_CREATED, ep->created,
			      AKM_KEY_A_PAD) ||
	    nla_put_u64_64bit(skb, AKM_KEY_A_ACTIVATED, ep->activated,
			      AKM_KEY_A_PAD) ||
	    nla_put_u64_64bit(skb, AKM_KEY_A_TX_SEQ,
			      min_t(u64, atomic64_read(&ep->tx_seq), AKM_SEQ_LIMIT),
			      AKM_KEY_A_PAD)) {
		nla_nest_cancel(skb, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	return 0;
}

static int akm_fill_node(struct sk_buff *skb, struct akm_net *an,
			 struct genl_info *info)
{
	void *hdr = akm_msg_put(skb, NULL, info->snd_portid, info->snd_seq, 0,
				AKM_CMD_NODE_GET);

	if (!hdr)
		return -EMSGSIZE;
	if (nla_put_u32(skb, AKM_A_NODE_ID, an->node_id) ||
	    nla_put_u32(skb, AKM_A_KEYRING, an->keyring->serial) ||
	    nla_put_u32(skb, AKM_A_GENERATION, an->generation) ||
	    nla_put_u32(skb, AKM_A_ASR_COUNT, an->n_asrs) ||
	    nla_put_u32(skb, AKM_A_NODE_RX_MARK, an->rx_mark) ||
	    nla_put_u64_64bit(skb, AKM_A_NODE_INSTANCE, an->instance,
			      AKM_A_PAD) ||
	    akm_put_stats(skb, &an->stats)) {
		genlmsg_cancel(skb, hdr);
		return -EMSGSIZE;
	}
	genlmsg_end(skb, hdr);
	return 0;
}

static int akm_put_addrs(struct sk_buff *skb, int attrtype,
			 const struct akm_addrs *set)
{
	struct nlattr *nest = nla_nest_start(skb, attrtype);
	unsigned int i;
	int err = 0;

	if (!nest)
		return -EMSGSIZE;
	for (i = 0; i < set->n && !err; i++) {
		const struct in6_addr *a = &set->a[i]->addr;

		if (ipv6_addr_v4mapped(a))
			err = nla_put_in_addr(skb, AKM_ADDR_A_IPV4,
					      a->s6_addr32[3]);
		else
			err = nla_put_in6_addr(skb, AKM_ADDR_A_IPV6, a);
	}
	if (err) {
		nla_nest_cancel(skb, nest);
		return err;
	}
	nla_nest_end(skb, nest);
	return 0;
}

/* Epochs in ascending order: previous, current, next. */
static const int akm_epoch_order[] = {
	AKM_KEY_PREVIOUS, AKM_KEY_CURRENT, AKM_KEY_NEXT,
};

static int akm_fill_asr(struct sk_buff *skb, struct akm_net *an,
			struct akm_asr *asr, struct netlink_callback *cb,
			u32 portid, u32 seq, int flags)
{
	void *hdr = akm_msg_put(skb, cb, portid, seq, flags, AKM_CMD_ASR_GET);
	unsigned int i;

	if (!hdr)
		return -EMSGSIZE;
	if (nla_put_u32(skb, AKM_A_ASR_ID, asr->id) ||
	    (asr->name[0] && nla_put_string(skb, AKM_A_ASR_NAME, asr->name)) ||
	    nla_put_u8(skb, AKM_A_ASR_ALG, asr->alg) ||
	    nla_put_u8(skb, AKM_A_ASR_POLICY, asr->policy) ||
	    nla_put_u32(skb, AKM_A_ASR_GRACE, asr->grace) ||
	    nla_put_u32(skb, AKM_A_MEMBER_COUNT, asr->n_members) ||
	    nla_put_u32(skb, AKM_A_ASR_LAST_EPOCH,
			akm_last_epoch(an, asr->id)) ||
	    (asr->groups.n &&
	     akm_put_addrs(skb, AKM_A_ASR_GROUPS, &asr->groups)))
		goto cancel;
	for (i = 0; i < ARRAY_SIZE(akm_epoch_order); i++) {
		int s = akm_epoch_order[i];
		struct akm_epoch *ep;

		ep = rcu_dereference_protected(asr->epochs[s],
					       lockdep_is_held(&an->lock));
		if (ep && akm_put_epoch(skb, ep, s))
			goto cancel;
	}
	if (akm_put_stats(skb, &asr->stats))
		goto cancel;
	genlmsg_end(skb, hdr);
	return 0;

cancel:
	genlmsg_cancel(skb, hdr);
	return -EMSGSIZE;
}

static int akm_fill_member(struct sk_buff *skb, struct akm_member *m,
			   struct netlink_callback *cb, u32 portid, u32 seq,
			   int flags)
{
	void *hdr = akm_msg_put(skb, cb, portid, seq, flags,
				AKM_CMD_MEMBER_GET);

	if (!hdr)
		return -EMSGSIZE;
	if (nla_put_u32(skb, AKM_A_ASR_ID, m->asr->id) ||
	    nla_put_u32(skb, AKM_A_NODE_ID, m->node_id) ||
	    nla_put_u8(skb, AKM_A_MEMBER_STATE, m->state) ||
	    akm_put_addrs(skb, AKM_A_MEMBER_ADDRS, &m->addrs) ||
	    akm_put_stats(skb, &m->stats)) {
		genlmsg_cancel(skb, hdr);
		return -EMSGSIZE;
	}
	genlmsg_end(skb, hdr);
	return 0;
}

/* Events are small: a handful of u32 attributes. */
#define AKM_EVENT_SIZE (4 * nla_total_size(sizeof(u32)))

/*
 * Work items and hooks outlive the family at module exit (namespaces go
 * after it): held for reading around every event, for writing to stop them.
 */
static DECLARE_RWSEM(akm_events_lock);
static bool akm_events_off;

/* Under akm_events_lock (read). */
static struct sk_buff *akm_event_new(struct akm_net *an, u8 cmd, void **hdr)
{
	struct sk_buff *skb;

	if (akm_events_off || !genl_has_listeners(&akm_family, an->net, 0))
		return NULL;
	skb = genlmsg_new(AKM_EVENT_SIZE, GFP_KERNEL);
	if (!skb)
		goto lost;
	*hdr = genlmsg_put(skb, 0, 0, &akm_family, 0, cmd);
	if (!*hdr) {
		nlmsg_free(skb);
		goto lost;
	}
	return skb;

lost:
	/* as on an overrun: the listeners must know they missed a change */
	genl_set_err(&akm_family, an->net, 0, 0, -ENOBUFS);
	return NULL;
}

static void akm_event_send(struct akm_net *an, struct sk_buff *skb,
			   void *hdr, int err)
{
	if (err) {
		nlmsg_free(skb);
		return;
	}
	genlmsg_end(skb, hdr);
	genlmsg_multicast_netns(&akm_family, an->net, skb, 0, 0, GFP_KERNEL);
}

void akm_notify(struct akm_net *an, u8 cmd, u32 asr_id, u32 node_id, u32 epoch)
{
	struct sk_buff *skb;
	void *hdr;

	down_read(&akm_events_lock);
	skb = akm_event_new(an, cmd, &hdr);
	if (skb)
		akm_event_send(an, skb, hdr,
			       (asr_id && nla_put_u32(skb, AKM_A_ASR_ID, asr_id)) ||
			       (node_id && nla_put_u32(skb, AKM_A_NODE_ID, node_id)) ||
			       (epoch && nla_put_u32(skb, AKM_A_KEY_EPOCH, epoch)));
	up_read(&akm_events_lock);
}

void akm_notify_cred(struct akm_net *an, u8 cmd, u32 cred_id)
{
	struct sk_buff *skb;
	void *hdr;

	down_read(&akm_events_lock);
	skb = akm_event_new(an, cmd, &hdr);
	if (skb)
		akm_event_send(an, skb, hdr,
			       nla_put_u32(skb, AKM_A_CRED_ID, cred_id));
	up_read(&akm_events_lock);
}

void akm_notify_fail(struct akm_net *an, u32 count, u8 reason, u32 asr_id,
		     u32 node_id)
{
	struct sk_buff *skb;
	void *hdr;

	down_read(&akm_events_lock);
	skb = akm_event_new(an, AKM_CMD_AUTH_FAILURE, &hdr);
	if (skb)
		akm_event_send(an, skb, hdr,
			       nla_put_u32(skb, AKM_A_FAIL_COUNT, count) ||
			       nla_put_u8(skb, AKM_A_FAIL_REASON, reason) ||
			       (asr_id && nla_put_u32(skb, AKM_A_ASR_ID, asr_id)) ||
			       (node_id && nla_put_u32(skb, AKM_A_NODE_ID, node_id)));
	up_read(&akm_events_lock);
}

/* A configuration change succeeded: dumps in progress must notice. */
static void akm_changed(struct akm_net *an, struct genl_info *info,
			u32 asr_id, u32 node_id, u32 epoch)
{
	an->generation++;
	akm_notify(an, info->genlhdr->cmd, asr_id, node_id, epoch);
}

static struct akm_net *akm_info_net(struct genl_info *info)
{
	return akm_pernet(genl_info_net(info));
}

static struct akm_asr *akm_lookup_asr(struct akm_net *an,
				      struct genl_info *info)
{
	struct nlattr *attr = info->attrs[AKM_A_ASR_ID];
	struct akm_asr *asr = akm_asr_find(an, nla_get_u32(attr));

	if (!asr)
		NL_SET_ERR_MSG_ATTR(info->extack, attr, "no such ASR");
	return asr;
}

static struct akm_member *akm_lookup_member(struct akm_net *an,
					    struct genl_info *info)
{
	struct nlattr *attr = info->attrs[AKM_A_NODE_ID];
	struct akm_asr *asr = akm_lookup_asr(an, info);
	struct akm_member *m;

	if (!asr)
		return NULL;
	m = akm_member_find(asr, nla_get_u32(attr));
	if (!m)
		NL_SET_ERR_MSG_ATTR(info->extack, attr,
				    "no such member in this ASR");
	return m;
}

static int akm_reply(struct genl_info *info, struct sk_buff *skb, int err)
{
	if (err) {
		nlmsg_free(skb);
		return err;
	}
	return genlmsg_reply(skb, info);
}

static int akm_nl_node_get(struct sk_buff *skb, struct genl_info *info)
{
	struct akm_net *an = akm_info_net(info);
	struct sk_buff *msg;
	int err;

	msg = nlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	mutex_lock(&an->lock);
	err = akm_fill_node(msg, an, info);
	mutex_unlock(&an->lock);
	return akm_reply(info, msg, err);
}

static int akm_nl_node_set(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *mark = info->attrs[AKM_A_NODE_RX_MARK];
	struct nlattr *id = info->attrs[AKM_A_NODE_ID];
	struct akm_net *an = akm_info_net(info);

	if (!id && !mark) {
		NL_SET_ERR_MSG(info->extack,
			       "nothing to set: give a node id or an rx mark");
		return -EINVAL;
	}
	mutex_lock(&an->lock);
	if (id)
		WRITE_ONCE(an->node_id, nla_get_u32(id));
	if (mark)
		WRITE_ONCE(an->rx_mark, nla_get_u32(mark));
	akm_changed(an, info, 0, an->node_id, 0);
	mutex_unlock(&an->lock);
	return 0;
}

static bool akm_addr_multicast(const struct in6_addr *a)
{
	return ipv6_addr_v4mapped(a) ? ipv4_is_multicast(a->s6_addr32[3]) :
				       ipv6_addr_is_multicast(a);
}

/* Member addresses are unicast, ASR groups multicast. */
static int akm_parse_addrs(struct nlattr *nest, bool multicast,
			   struct in6_addr *out, unsigned int *n,
			   struct netlink_ext_ack *extack)
{
	struct nlattr *a;
	unsigned int i = 0;
	int rem;

	nla_for_each_nested(a, nest, rem) {
		if (i == AKM_ADDRS_MAX) {
			NL_SET_ERR_MSG_ATTR(extack, a, "too many addresses");
			return -EINVAL;
		}
		if (nla_type(a) == AKM_ADDR_A_IPV4) {
			ipv6_addr_set_v4mapped(nla_get_in_addr(a), &out[i]);
		} else {
			out[i] = nla_get_in6_addr(a);
			if (ipv6_addr_v4mapped(&out[i])) {
				NL_SET_ERR_MSG_ATTR(extack, a,
						    "IPv4-mapped address: give it as IPv4");
				return -EINVAL;
			}
		}
		if (ipv6_addr_any(&out[i]) ||
		    (ipv6_addr_v4mapped(&out[i]) && !out[i].s6_addr32[3])) {
			NL_SET_ERR_MSG_ATTR(extack, a, "unspecified address");
			return -EINVAL;
		}
		if (akm_addr_multicast(&out[i]) != multicast) {
			if (multicast)
				NL_SET_ERR_MSG_ATTR(extack, a,
						    "an ASR group must be a multicast address");
			else
				NL_SET_ERR_MSG_ATTR(extack, a,
						    "a member address must be unicast");
			return -EINVAL;
		}
		i++;
	}
	*n = i;
	return 0;
}

/* Replace a member's addresses (@m) or an ASR's groups (@m NULL). */
static int akm_set_addrs(struct akm_net *an, struct genl_info *info,
			 struct nlattr *nest, struct akm_addrs *set,
			 struct akm_asr *asr, struct akm_member *m)
{
	struct in6_addr addrs[AKM_ADDRS_MAX];
	unsigned int n, bad;
	int err;

	err = akm_parse_addrs(nest, !m, addrs, &n, info->extack);
	if (err)
		return err;
	err = akm_addrs_replace(an, set, asr, m, addrs, n, &bad);
	if (err == -EADDRINUSE)
		NL_SET_ERR_MSG_MOD(info->extack,
				   "address already belongs to another member or ASR group");
	else if (err == -EINVAL)
		NL_SET_ERR_MSG_MOD(info->extack, "address given twice");
	return err;
}

/* Apply MEMBER_ADDRS and MEMBER_STATE, all or nothing. */
static int akm_member_apply(struct akm_net *an, struct akm_member *m,
			    struct genl_info *info)
{
	struct nlattr *nest = info->attrs[AKM_A_MEMBER_ADDRS];
	int err;

	if (nest) {
		err = akm_set_addrs(an, info, nest, &m->addrs, m->asr, m);
		if (err)
			return err;
	}
	if (info->attrs[AKM_A_MEMBER_STATE])
		WRITE_ONCE(m->state,
			   nla_get_u8(info->attrs[AKM_A_MEMBER_STATE]));
	return 0;
}

/* Apply ASR_GROUPS, ASR_NAME, ASR_POLICY and ASR_GRACE, all or nothing. */
static int akm_asr_apply(struct akm_net *an, struct akm_asr *asr,
			 struct genl_info *info)
{
	struct nlattr *groups = info->attrs[AKM_A_ASR_GROUPS];
	int err;

	if (groups) {
		err = akm_set_addrs(an, info, groups, &asr->groups, asr, NULL);
		if (err)
			return err;
	}
	if (info->attrs[AKM_A_ASR_NAME])
		nla_strscpy(asr->name, info->attrs[AKM_A_ASR_NAME],
			    sizeof(asr->name));
	if (info->attrs[AKM_A_ASR_POLICY])
		WRITE_ONCE(asr->policy,
			   nla_get_u8(info->attrs[AKM_A_ASR_POLICY]));
	if (info->attrs[AKM_A_ASR_GRACE])
		asr->grace = nla_get_u32(info->attrs[AKM_A_ASR_GRACE]);
	return 0;
}

static int akm_nl_asr_new(struct sk_buff *skb, struct genl_info *info)
{
	struct akm_net *an = akm_info_net(info);
	struct akm_asr *asr;
	u32 id;
	int err;

	if (GENL_REQ_ATTR_CHECK(info, AKM_A_ASR_ID) ||
	    GENL_REQ_ATTR_CHECK(info, AKM_A_ASR_ALG))
		return -EINVAL;
	id = nla_get_u32(info->attrs[AKM_A_ASR_ID]);

	mutex_lock(&an->lock);
	err = -EEXIST;
	if (akm_asr_find(an, id)) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[AKM_A_ASR_ID],
				    "ASR already exists");
		goto out;
	}
	err = -ENOSPC;
	if (an->n_asrs >= AKM_ASRS_MAX) {
		NL_SET_ERR_MSG_MOD(info->extack,
				   "too many ASRs in this namespace");
		goto out;
	}
	err = akm_asr_new(an, id, nla_get_u8(info->attrs[AKM_A_ASR_ALG]),
			  &asr);
	if (err)
		goto out;
	err = akm_asr_apply(an, asr, info);
	if (err) {
		akm_asr_del(an, asr);
		goto out;
	}
	akm_changed(an, info, id, 0, 0);
out:
	mutex_unlock(&an->lock);
	return err;
}

static int akm_nl_asr_set(struct sk_buff *skb, struct genl_info *info)
{
	struct akm_net *an = akm_info_net(info);
	struct akm_asr *asr;
	int err = -ENOENT;

	if (GENL_REQ_ATTR_CHECK(info, AKM_A_ASR_ID))
		return -EINVAL;
	if (info->attrs[AKM_A_ASR_ALG]) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[AKM_A_ASR_ALG],
				    "the algorithm of an ASR cannot change");
		return -EINVAL;
	}
	mutex_lock(&an->lock);
	asr = akm_lookup_asr(an, info);
	if (asr) {
		err = akm_asr_apply(an, asr, info);
		if (!err)
			akm_changed(an, info, asr->id, 0, 0);
	}
	mutex_unlock(&an->lock);
	return err;
}

static int akm_nl_asr_del(struct sk_buff *skb, struct genl_info *info)
{
	struct akm_net *an = akm_info_net(info);
	struct akm_asr *asr;
	int err = -ENOENT;

	if (GENL_REQ_ATTR_CHECK(info, AKM_A_ASR_ID))
		return -EINVAL;
	mutex_lock(&an->lock);
	asr = akm_lookup_asr(an, info);
	if (asr) {
		akm_changed(an, info, asr->id, 0, 0);
		akm_asr_del(an, asr);
		err = 0;
	}
	mutex_unlock(&an->lock);
	return err;
}

static int akm_nl_asr_get(struct sk_buff *skb, struct genl_info *info)
{
	struct akm_net *an = akm_info_net(info);
	struct akm_asr *asr;
	struct sk_buff *msg;
	int err = -ENOENT;

	if (GENL_REQ_ATTR_CHECK(info, AKM_A_ASR_ID))
		return -EINVAL;
	msg = nlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	mutex_lock(&an->lock);
	asr = akm_lookup_asr(an, info);
	if (asr)
		err = akm_fill_asr(msg, an, asr, NULL, info->snd_portid,
				   info->snd_seq, 0);
	mutex_unlock(&an->lock);
	return akm_reply(info, msg, err);
}

/* A dump ends when a call adds nothing; an object too big alone is an error. */
static int akm_dump_ret(struct sk_buff *skb, int err)
{
	if (err == -EMSGSIZE && skb->len)
		err = 0;
	return err ?: skb->len;
}

/* cb->args[0]: id of the last ASR sent */
static int akm_nl_asr_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct akm_net *an = akm_pernet(sock_net(skb->sk));
	struct akm_asr *asr;
	int err = 0;

	mutex_lock(&an->lock);
	cb->seq = an->generation;
	list_for_each_entry(asr, &an->asrs, list) {
		if (asr->id <= cb->args[0])
			continue;
		err = akm_fill_asr(skb, an, asr, cb,
				   NETLINK_CB(cb->skb).portid,
				   cb->nlh->nlmsg_seq, NLM_F_MULTI);
		if (err)
			break;
		cb->args[0] = asr->id;
	}
	mutex_unlock(&an->lock);
	return akm_dump_ret(skb, err);
}

static int akm_nl_member_new(struct sk_buff *skb, struct genl_info *info)
{
	struct akm_net *an = akm_info_net(info);
	struct akm_member *m;
	struct akm_asr *asr;
	u32 node_id;
	int err = -ENOENT;

	if (GENL_REQ_ATTR_CHECK(info, AKM_A_ASR_ID) ||
	    GENL_REQ_ATTR_CHECK(info, AKM_A_NODE_ID))
		return -EINVAL;
	node_id = nla_get_u32(info->attrs[AKM_A_NODE_ID]);

	mutex_lock(&an->lock);
	asr = akm_lookup_asr(an, info);
	if (!asr)
		goto out;
	err = -EEXIST;
	if (akm_member_find(asr, node_id)) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[AKM_A_NODE_ID],
				    "node is already a member of this ASR");
		goto out;
	}
	err = -ENOSPC;
	if (asr->n_members >= AKM_MEMBERS_MAX) {
		NL_SET_ERR_MSG_MOD(info->extack, "too many members in this ASR");
		goto out;
	}
	err = akm_member_new(an, asr, node_id, &m);
	if (err)
		goto out;
	err = akm_member_apply(an, m, info);
	if (err) {
		akm_member_del(an, m);
		goto out;
	}
	akm_changed(an, info, asr->id, node_id, 0);
out:
	mutex_unlock(&an->lock);
	return err;
}

static int akm_nl_member_set(struct sk_buff *skb, struct genl_info *info)
{
	struct akm_net *an = akm_info_net(info);
	struct akm_member *m;
	int err = -ENOENT;

	if (GENL_REQ_ATTR_CHECK(info, AKM_A_ASR_ID) ||
	    GENL_REQ_ATTR_CHECK(info, AKM_A_NODE_ID))
		return -EINVAL;
	mutex_lock(&an->lock);
	m = akm_lookup_member(an, info);
	if (m) {
		err = akm_member_apply(an, m, info);
		if (!err)
			akm_changed(an, info, m->asr->id, m->node_id, 0);
	}
	mutex_unlock(&an->lock);
	return err;
}

static int akm_nl_member_del(struct sk_buff *skb, struct genl_info *info)
{
	struct akm_net *an = akm_info_net(info);
	struct akm_member *m;
	int err = -ENOENT;

	if (GENL_REQ_ATTR_CHECK(info, AKM_A_ASR_ID) ||
	    GENL_REQ_ATTR_CHECK(info, AKM_A_NODE_ID))
		return -EINVAL;
	mutex_lock(&an->lock);
	m = akm_lookup_member(an, info);
	if (m) {
		akm_changed(an, info, m->asr->id, m->node_id, 0);
		akm_member_del(an, m);
		err = 0;
	}
	mutex_unlock(&an->lock);
	return err;
}

static int akm_nl_member_get(struct sk_buff *skb, struct genl_info *info)
{
	struct akm_net *an = akm_info_net(info);
	struct akm_member *m;
	struct sk_buff *msg;
	int err = -ENOENT;

	if (GENL_REQ_ATTR_CHECK(info, AKM_A_ASR_ID) ||
	    GENL_REQ_ATTR_CHECK(info, AKM_A_NODE_ID))
		return -EINVAL;
	msg = nlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	mutex_lock(&an->lock);
	m = akm_lookup_member(an, info);
	if (m)
		err = akm_fill_member(msg, m, NULL, info->snd_portid,
				      info->snd_seq, 0);
	mutex_unlock(&an->lock);
	return akm_reply(info, msg, err);
}

/*
 * Members of all ASRs, or of the one in ASR_ID, ordered by (ASR, node).
 * cb->args[0], [1]: ASR id and node id of the last member sent.
 */
static int akm_nl_member_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct akm_net *an = akm_pernet(sock_net(skb->sk));
	u32 only = akm_dump_asr_id(cb);
	struct akm_member *m;
	struct akm_asr *asr;
	int err = 0;

	mutex_lock(&an->lock);
	cb->seq = an->generation;
	list_for_each_entry(asr, &an->asrs, list) {
		if (asr->id < cb->args[0] || (only && asr->id != only))
			continue;
		list_for_each_entry(m, &asr->members, list) {
			if (asr->id == cb->args[0] && m->node_id <= cb->args[1])
				continue;
			err = akm_fill_member(skb, m, cb,
					      NETLINK_CB(cb->skb).portid,
					      cb->nlh->nlmsg_seq, NLM_F_MULTI);
			if (err)
				goto out;
			cb->args[0] = asr->id;
			cb->args[1] = m->node_id;
		}
	}
out:
	mutex_unlock(&an->lock);
	return akm_dump_ret(skb, err);
}

/*
 * The epoch key to install: given in KEY_MATERIAL, wrapped under a
 * credential (CRED_ID + KEY_WRAPPED), or derived from a credential for the
 * provisioning ASR (CRED_ID alone). Exactly one form.
 */
static int akm_key_material(struct akm_net *an, struct akm_asr *asr,
			    u32 epoch, struct genl_info *info, u8 *key)
{
	struct nlattr *raw = info->attrs[AKM_A_KEY_MATERIAL];
	struct nlattr *wrapped = info->attrs[AKM_A_KEY_WRAPPED];
	struct nlattr *cid = info->attrs[AKM_A_CRED_ID];
	struct akm_cred *c;
	int err;

	if (!!raw + !!cid != 1 || (wrapped && !cid)) {
		NL_SET_ERR_MSG_MOD(info->extack,
				   "give KEY_MATERIAL, or CRED_ID with or without KEY_WRAPPED");
		return -EINVAL;
	}
	if (raw) {
		memcpy(key, nla_data(raw), AKM_KEY_LEN);
		return 0;
	}
	c = akm_cred_find(an, nla_get_u32(cid));
	if (!c) {
		NL_SET_ERR_MSG_ATTR(info->extack, cid, "no such credential");
		return -ENOENT;
	}
	if (!wrapped)
		return akm_cred_derive(c, asr->id, epoch, key);
	err = akm_cred_unwrap(c, asr, epoch, nla_data(wrapped), key);
	if (err == -EBADMSG)
		NL_SET_ERR_MSG_ATTR(info->extack, wrapped,
				    "wrapped key does not open for this credential, ASR, epoch and member set");
	return err;
}

static int akm_nl_key_install(struct sk_buff *skb, struct genl_info *info)
{
	struct akm_net *an = akm_info_net(info);
	u8 key[AKM_KEY_LEN];
	struct akm_asr *asr;
	u32 epoch;
	int err = -ENOENT;

	if (GENL_REQ_ATTR_CHECK(info, AKM_A_ASR_ID) ||
	    GENL_REQ_ATTR_CHECK(info, AKM_A_KEY_EPOCH))
		return -EINVAL;
	epoch = nla_get_u32(info->attrs[AKM_A_KEY_EPOCH]);
	mutex_lock(&an->lock);
	asr = akm_lookup_asr(an, info);
	if (asr) {
		err = akm_key_material(an, asr, epoch, info, key);
		if (!err)
			err = akm_epoch_install(an, asr, epoch, key,
						info->extack);
		if (!err)
			akm_changed(an, info, asr->id, 0, epoch);
	}
	mutex_unlock(&an->lock);
	memzero_explicit(key, sizeof(key));
	return err;
}

static int akm_nl_key_change(struct sk_buff *skb, struct genl_info *info)
{
	struct akm_net *an = akm_info_net(info);
	struct akm_asr *asr;
	u32 epoch;
	int err = -ENOENT;

	if (GENL_REQ_ATTR_CHECK(info, AKM_A_ASR_ID) ||
	    GENL_REQ_ATTR_CHECK(info, AKM_A_KEY_EPOCH))
		return -EINVAL;
	epoch = nla_get_u32(info->attrs[AKM_A_KEY_EPOCH]);
	mutex_lock(&an->lock);
	asr = akm_lookup_asr(an, info);
	if (asr) {
		if (info->genlhdr->cmd == AKM_CMD_KEY_ACTIVATE)
			err = akm_epoch_activate(an, asr, epoch, info->extack);
		else
			err = akm_epoch_retire(an, asr, epoch, info->extack);
		if (!err)
			akm_changed(an, info, asr->id, 0, epoch);
	}
	mutex_unlock(&an->lock);
	return err;
}

/* The counters named by [ASR_ID [NODE_ID]]: node, ASR or member. */
static struct akm_stats *akm_lookup_stats(struct akm_net *an,
					  struct genl_info *info)
{
	struct akm_member *m;
	struct akm_asr *asr;

	if (!info->attrs[AKM_A_ASR_ID]) {
		if (info->attrs[AKM_A_NODE_ID]) {
			NL_SET_ERR_MSG_ATTR(info->extack,
					    info->attrs[AKM_A_NODE_ID],
					    "member counters need an ASR id");
			return ERR_PTR(-EINVAL);
		}
		return &an->stats;
	}
	if (!info->attrs[AKM_A_NODE_ID]) {
		asr = akm_lookup_asr(an, info);
		return asr ? &asr->stats : ERR_PTR(-ENOENT);
	}
	m = akm_lookup_member(an, info);
	return m ? &m->stats : ERR_PTR(-ENOENT);
}

static int akm_nl_stats_get(struct sk_buff *skb, struct genl_info *info)
{
	struct akm_net *an = akm_info_net(info);
	struct akm_stats *stats;
	struct sk_buff *msg;
	void *hdr;
	int err;

	msg = nlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	mutex_lock(&an->lock);
	stats = akm_lookup_stats(an, info);
	err = PTR_ERR_OR_ZERO(stats);
	if (err)
		goto out;
	err = -EMSGSIZE;
	hdr = akm_msg_put(msg, NULL, info->snd_portid, info->snd_seq, 0,
			  AKM_CMD_STATS_GET);
	if (!hdr)
		goto out;
	if ((info->attrs[AKM_A_ASR_ID] &&
	     nla_put_u32(msg, AKM_A_ASR_ID,
			 nla_get_u32(info->attrs[AKM_A_ASR_ID]))) ||
	    (info->attrs[AKM_A_NODE_ID] &&
	     nla_put_u32(msg, AKM_A_NODE_ID,
			 nla_get_u32(info->attrs[AKM_A_NODE_ID]))) ||
	    akm_put_stats(msg, stats))
		goto out;
	genlmsg_end(msg, hdr);
	err = 0;
out:
	mutex_unlock(&an->lock);
	return akm_reply(info, msg, err);
}

static int akm_nl_stats_reset(struct sk_buff *skb, struct genl_info *info)
{
	struct akm_net *an = akm_info_net(info);
	struct akm_stats *stats;
	int err;

	mutex_lock(&an->lock);
	stats = akm_lookup_stats(an, info);
	err = PTR_ERR_OR_ZERO(stats);
	if (!err)
		akm_stats_reset(stats);
	mutex_unlock(&an->lock);
	return err;
}

static int akm_nl_cred_install(struct sk_buff *skb, struct genl_info *info)
{
	struct akm_net *an = akm_info_net(info);
	u32 id;
	int err;

	if (GENL_REQ_ATTR_CHECK(info, AKM_A_CRED_ID) ||
	    GENL_REQ_ATTR_CHECK(info, AKM_A_KEY_MATERIAL))
		return -EINVAL;
	id = nla_get_u32(info->attrs[AKM_A_CRED_ID]);
	mutex_lock(&an->lock);
	err = akm_cred_install(an, id,
			       nla_data(info->attrs[AKM_A_KEY_MATERIAL]),
			       info->extack);
	if (!err) {
		an->generation++;
		akm_notify_cred(an, AKM_CMD_CRED_INSTALL, id);
	}
	mutex_unlock(&an->lock);
	return err;
}

static struct akm_cred *akm_lookup_cred(struct akm_net *an,
					struct genl_info *info)
{
	struct nlattr *attr = info->attrs[AKM_A_CRED_ID];
	struct akm_cred *c = akm_cred_find(an, nla_get_u32(attr));

	if (!c)
		NL_SET_ERR_MSG_ATTR(info->extack, attr, "no such credential");
	return c;
}

static int akm_nl_cred_del(struct sk_buff *skb, struct genl_info *info)
{
	struct akm_net *an = akm_info_net(info);
	struct akm_cred *c;
	int err = -ENOENT;

	if (GENL_REQ_ATTR_CHECK(info, AKM_A_CRED_ID))
		return -EINVAL;
	mutex_lock(&an->lock);
	c = akm_lookup_cred(an, info);
	if (c) {
		akm_notify_cred(an, AKM_CMD_CRED_DEL, c->id);
		akm_cred_del(an, c);
		an->generation++;
		err = 0;
	}
	mutex_unlock(&an->lock);
	return err;
}

static int akm_fill_cred(struct sk_buff *skb, const struct akm_cred *c,
			 struct netlink_callback *cb, u32 portid, u32 seq,
			 int flags)
{
	void *hdr = akm_msg_put(skb, cb, portid, seq, flags, AKM_CMD_CRED_GET);

	if (!hdr)
		return -EMSGSIZE;
	if (nla_put_u32(skb, AKM_A_CRED_ID, c->id) ||
	    nla_put_s32(skb, AKM_A_CRED_SERIAL, c->serial)) {
		genlmsg_cancel(skb, hdr);
		return -EMSGSIZE;
	}
	genlmsg_end(skb, hdr);
	return 0;
}

static int akm_nl_cred_get(struct sk_buff *skb, struct genl_info *info)
{
	struct akm_net *an = akm_info_net(info);
	struct akm_cred *c;
	struct sk_buff *msg;
	int err = -ENOENT;

	if (GENL_REQ_ATTR_CHECK(info, AKM_A_CRED_ID))
		return -EINVAL;
	msg = nlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	mutex_lock(&an->lock);
	c = akm_lookup_cred(an, info);
	if (c)
		err = akm_fill_cred(msg, c, NULL, info->snd_portid,
				    info->snd_seq, 0);
	mutex_unlock(&an->lock);
	return akm_reply(info, msg, err);
}

/* cb->args[0]: id of the last credential sent */
static int akm_nl_cred_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct akm_net *an = akm_pernet(sock_net(skb->sk));
	struct akm_cred *c;
	int err = 0;

	mutex_lock(&an->lock);
	cb->seq = an->generation;
	list_for_each_entry(c, &an->creds, list) {
		if (c->id <= cb->args[0])
			continue;
		err = akm_fill_cred(skb, c, cb, NETLINK_CB(cb->skb).portid,
				    cb->nlh->nlmsg_seq, NLM_F_MULTI);
		if (err)
			break;
		cb->args[0] = c->id;
	}
	mutex_unlock(&an->lock);
	return akm_dump_ret(skb, err);
}

static int akm_nl_cred_prove(struct sk_buff *skb, struct genl_info *info)
{
	struct akm_net *an = akm_info_net(info);
	struct nlattr *data = info->attrs[AKM_A_PROOF_DATA];
	u8 proof[AKM_PROOF_LEN];
	struct akm_cred *c;
	struct sk_buff *msg;
	void *hdr;
	int err = -ENOENT;

	if (GENL_REQ_ATTR_CHECK(info, AKM_A_CRED_ID) ||
	    GENL_REQ_ATTR_CHECK(info, AKM_A_PROOF_DATA))
		return -EINVAL;
	mutex_lock(&an->lock);
	c = akm_lookup_cred(an, info);
	if (c)
		err = akm_cred_prove(c, nla_data(data), nla_len(data), proof);
	mutex_unlock(&an->lock);
	if (err)
		return err;

	msg = nlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = akm_msg_put(msg, NULL, info->snd_portid, info->snd_seq, 0,
			  AKM_CMD_CRED_PROVE);
	err = -EMSGSIZE;
	if (hdr && !nla_put(msg, AKM_A_PROOF, sizeof(proof), proof)) {
		genlmsg_end(msg, hdr);
		err = 0;
	}
	return akm_reply(info, msg, err);
}

#define AKM_OP(_cmd, _doit, _dumpit) {			\
	.cmd = _cmd,					\
	.doit = _doit,					\
	.dumpit = _dumpit,				\
	.flags = GENL_UNS_ADMIN_PERM,			\
}

static const struct genl_ops akm_ops[] = {
	AKM_OP(AKM_CMD_NODE_GET, akm_nl_node_get, NULL),
	AKM_OP(AKM_CMD_NODE_SET, akm_nl_node_set, NULL),
	AKM_OP(AKM_CMD_ASR_NEW, akm_nl_asr_new, NULL),
	AKM_OP(AKM_CMD_ASR_DEL, akm_nl_asr_del, NULL),
	AKM_OP(AKM_CMD_ASR_SET, akm_nl_asr_set, NULL),
	AKM_OP(AKM_CMD_ASR_GET, akm_nl_asr_get, akm_nl_asr_dump),
	AKM_OP(AKM_CMD_MEMBER_NEW, akm_nl_member_new, NULL),
	AKM_OP(AKM_CMD_MEMBER_SET, akm_nl_member_set, NULL),
	AKM_OP(AKM_CMD_MEMBER_DEL, akm_nl_member_del, NULL),
	AKM_OP(AKM_CMD_MEMBER_GET, akm_nl_member_get, akm_nl_member_dump),
	AKM_OP(AKM_CMD_KEY_INSTALL, akm_nl_key_install, NULL),
	AKM_OP(AKM_CMD_KEY_ACTIVATE, akm_nl_key_change, NULL),
	AKM_OP(AKM_CMD_KEY_RETIRE, akm_nl_key_change, NULL),
	AKM_OP(AKM_CMD_STATS_GET, akm_nl_stats_get, NULL),
	AKM_OP(AKM_CMD_STATS_RESET, akm_nl_stats_reset, NULL),
	AKM_OP(AKM_CMD_CRED_INSTALL, akm_nl_cred_install, NULL),
	AKM_OP(AKM_CMD_CRED_DEL, akm_nl_cred_del, NULL),
	AKM_OP(AKM_CMD_CRED_GET, akm_nl_cred_get, akm_nl_cred_dump),
	AKM_OP(AKM_CMD_CRED_PROVE, akm_nl_cred_prove, NULL),
};

static const struct genl_multicast_group akm_mcgrps[] = {
	{ .name = AKM_MCGRP_EVENTS, .flags = GENL_MCAST_CAP_NET_ADMIN },
};

static struct genl_family akm_family __ro_after_init = {
	.name		= AKM_GENL_NAME,
	.version	= AKM_GENL_VERSION,
	.maxattr	= AKM_A_MAX,
	.policy		= akm_policy,
	.netnsok	= true,
	.parallel_ops	= true,
	.module		= THIS_MODULE,
	.ops		= akm_ops,
	.n_ops		= ARRAY_SIZE(akm_ops),
	.mcgrps		= akm_mcgrps,
	.n_mcgrps	= ARRAY_SIZE(akm_mcgrps),
};

int __init akm_genl_init(void)
{
	return genl_register_family(&akm_family);
}

void akm_genl_exit(void)
{
	down_write(&akm_events_lock);
	akm_events_off = true;
	up_write(&akm_events_lock);
	genl_unregister_family(&akm_family);
}
