// SPDX-License-Identifier: GPL-2.0 OR MIT
/* One function per command of the family, in terms of the structs. */
#include <errno.h>
#include <stdlib.h>
#include <netlink/genl/genl.h>

#include "libakm.h"

_Static_assert(AKM_A_MAX < 32, "AKM_BIT() needs a wider mask");

/* Send msg unless building it failed (err), then free it. */
static int send_free(struct akm_sock *s, struct nl_msg *msg, int err,
		     akm_msg_cb fn, void *arg)
{
	if (!err)
		err = akm_transact(s, msg, fn, arg);
	nlmsg_free(msg);
	return err;
}

/* cmd with ASR_ID and a second u32 attribute, each left out if 0. */
static int request(struct akm_sock *s, uint8_t cmd, uint32_t asr_id,
		   int attr, uint32_t val, akm_msg_cb fn, void *arg)
{
	struct nl_msg *msg = akm_msg_alloc(s, cmd, 0);
	int err = 0;

	if (!msg)
		return -ENOMEM;
	if ((asr_id && nla_put_u32(msg, AKM_A_ASR_ID, asr_id) < 0) ||
	    (val && nla_put_u32(msg, attr, val) < 0))
		err = -EMSGSIZE;
	return send_free(s, msg, err, fn, arg);
}

/* A request answered by exactly one message, parsed into out. */
struct one {
	int (*parse)(const struct akm_msg *msg, void *out);
	void *out;
	bool got;
};

static int one_cb(const struct akm_msg *msg, void *arg)
{
	struct one *one = arg;

	if (one->got)
		return -EPROTO;
	one->got = true;
	return one->parse(msg, one->out);
}

static int get_one(struct akm_sock *s, uint8_t cmd, uint32_t asr_id,
		   int attr, uint32_t val, struct one *one)
{
	int err = request(s, cmd, asr_id, attr, val, one_cb, one);

	return !err && !one->got ? -EPROTO : err;
}

static int parse_node(const struct akm_msg *msg, void *out)
{
	return akm_node_parse(msg, out);
}

static int parse_asr(const struct akm_msg *msg, void *out)
{
	return akm_asr_parse(msg, out);
}

static int parse_member(const struct akm_msg *msg, void *out)
{
	return akm_member_parse(msg, out);
}

static int parse_stats(const struct akm_msg *msg, void *out)
{
	return msg->tb[AKM_A_STATS] ? akm_stats_parse(msg->tb[AKM_A_STATS], out) : -EPROTO;
}

/* A dump collected into a sorted array. */
struct vec {
	int (*parse)(const struct akm_msg *msg, void *out);
	size_t size;
	char *items;
	size_t n, cap;
};

static int vec_cb(const struct akm_msg *msg, void *arg)
{
	struct vec *v = arg;
	int err;

	if (v->n == v->cap) {
		size_t cap = v->cap ? 2 * v->cap : 16;
		void *items = reallocarray(v->items, cap, v->size);

		if (!items)
			return -ENOMEM;
		v->items = items;
		v->cap = cap;
	}
	err = v->parse(msg, v->items + v->n * v->size);
	if (!err)
		v->n++;
	return err;
}

static int vec_restart(void *arg)
{
	((struct vec *)arg)->n = 0;
	return 0;
}

static int dump_sorted(struct akm_sock *s, uint8_t cmd, uint32_t asr_id, struct vec *v,
		       int (*cmp)(const void *, const void *), void **items, size_t *n)
{
	int err = akm_dump(s, cmd, asr_id, vec_cb, vec_restart, v);

	if (err) {
		free(v->items);
		return err;
	}
	if (v->n)
		qsort(v->items, v->n, v->size, cmp);
	*items = v->items;
	*n = v->n;
	return 0;
}

static int cmp_u32(uint32_t a, uint32_t b)
{
	return a < b ? -1 : a > b;
}

static int cmp_asr(const void *a, const void *b)
{
	return cmp_u32(((const struct akm_asr *)a)->id, ((const struct akm_asr *)b)->id);
}

static int cmp_member(const void *a, const void *b)
{
	const struct akm_member *x = a, *y = b;

	return cmp_u32(x->asr_id, y->asr_id) ?: cmp_u32(x->node_id, y->node_id);
}

static int put_asr(struct nl_msg *msg, const struct akm_asr *asr, uint32_t attrs)
{
	if (nla_put_u32(msg, AKM_A_ASR_ID, asr->id) < 0 ||
	    ((attrs & AKM_BIT(AKM_A_ASR_ALG)) && nla_put_u8(msg, AKM_A_ASR_ALG, asr->alg) < 0) ||
	    ((attrs & AKM_BIT(AKM_A_ASR_NAME)) &&
	     nla_put_string(msg, AKM_A_ASR_NAME, asr->name) < 0) ||
	    ((attrs & AKM_BIT(AKM_A_ASR_POLICY)) &&
	     nla_put_u8(msg, AKM_A_ASR_POLICY, asr->policy) < 0) ||
	    ((attrs & AKM_BIT(AKM_A_ASR_GRACE)) &&
	     nla_put_u32(msg, AKM_A_ASR_GRACE, asr->grace) < 0))
		return -EMSGSIZE;
	return 0;
}

static int put_addrs(struct nl_msg *msg, const struct akm_addr *addrs, unsigned int n)
{
	struct nlattr *nest = nla_nest_start(msg, AKM_A_MEMBER_ADDRS);
	unsigned int i;
	int err = 0;

	if (!nest)
		return -EMSGSIZE;
	for (i = 0; i < n && !err; i++) {
		if (addrs[i].family == AF_INET)
			err = nla_put(msg, AKM_ADDR_A_IPV4, sizeof(addrs[i].v4), &addrs[i].v4);
		else
			err = nla_put(msg, AKM_ADDR_A_IPV6, sizeof(addrs[i].v6), &addrs[i].v6);
	}
	if (err < 0)
		return -EMSGSIZE;
	nla_nest_end(msg, nest);
	return 0;
}

static int put_member(struct nl_msg *msg, const struct akm_member *m, uint32_t attrs)
{
	if (nla_put_u32(msg, AKM_A_ASR_ID, m->asr_id) < 0 ||
	    nla_put_u32(msg, AKM_A_NODE_ID, m->node_id) < 0 ||
	    ((attrs & AKM_BIT(AKM_A_MEMBER_STATE)) &&
	     nla_put_u8(msg, AKM_A_MEMBER_STATE, m->state) < 0))
		return -EMSGSIZE;
	if (attrs & AKM_BIT(AKM_A_MEMBER_ADDRS))
		return put_addrs(msg, m->addrs, m->naddrs);
	return 0;
}

int akm_node_get(struct akm_sock *s, struct akm_node *node)
{
	struct one one = { .parse = parse_node, .out = node };

	return get_one(s, AKM_CMD_NODE_GET, 0, 0, 0, &one);
}

int akm_node_set_id(struct akm_sock *s, uint32_t node_id)
{
	return request(s, AKM_CMD_NODE_SET, 0, AKM_A_NODE_ID, node_id, NULL, NULL);
}

static int asr_send(struct akm_sock *s, uint8_t cmd, const struct akm_asr *asr, uint32_t attrs)
{
	struct nl_msg *msg = akm_msg_alloc(s, cmd, 0);

	if (!msg)
		return -ENOMEM;
	return send_free(s, msg, put_asr(msg, asr, attrs), NULL, NULL);
}

/* ALG is always sent; NAME, POLICY and GRACE if in attrs. */
int akm_asr_new(struct akm_sock *s, const struct akm_asr *asr, uint32_t attrs)
{
	return asr_send(s, AKM_CMD_ASR_NEW, asr, attrs | AKM_BIT(AKM_A_ASR_ALG));
}

/* NAME, POLICY and GRACE if in attrs. */
int akm_asr_set(struct akm_sock *s, const struct akm_asr *asr, uint32_t attrs)
{
	return asr_send(s, AKM_CMD_ASR_SET, asr, attrs & ~AKM_BIT(AKM_A_ASR_ALG));
}

int akm_asr_del(struct akm_sock *s, uint32_t asr_id)
{
	return request(s, AKM_CMD_ASR_DEL, asr_id, 0, 0, NULL, NULL);
}

int akm_asr_get(struct akm_sock *s, uint32_t asr_id, struct akm_asr *asr)
{
	struct one one = { .parse = parse_asr, .out = asr };

	return get_one(s, AKM_CMD_ASR_GET, asr_id, 0, 0, &one);
}

/* All ASRs sorted by id; free *asrs. */
int akm_asr_dump(struct akm_sock *s, struct akm_asr **asrs, size_t *n)
{
	struct vec v = { .parse = parse_asr, .size = sizeof(**asrs) };

	return dump_sorted(s, AKM_CMD_ASR_GET, 0, &v, cmp_asr, (void **)asrs, n);
}

static int member_send(struct akm_sock *s, uint8_t cmd, const struct akm_member *m,
		       uint32_t attrs)
{
	struct nl_msg *msg = akm_msg_alloc(s, cmd, 0);

	if (!msg)
		return -ENOMEM;
	return send_free(s, msg, put_member(msg, m, attrs), NULL, NULL);
}

/* STATE and ADDRS if in attrs. */
int akm_member_new(struct akm_sock *s, const struct akm_member *m, uint32_t attrs)
{
	return member_send(s, AKM_CMD_MEMBER_NEW, m, attrs);
}

/* STATE and ADDRS (replacing the list) if in attrs. */
int akm_member_set(struct akm_sock *s, const struct akm_member *m, uint32_t attrs)
{
	return member_send(s, AKM_CMD_MEMBER_SET, m, attrs);
}

int akm_member_del(struct akm_sock *s, uint32_t asr_id, uint32_t node_id)
{
	return request(s, AKM_CMD_MEMBER_DEL, asr_id, AKM_A_NODE_ID, node_id, NULL, NULL);
}

int akm_member_get(struct akm_sock *s, uint32_t asr_id, uint32_t node_id,
		   struct akm_member *m)
{
	struct one one = { .parse = parse_member, .out = m };

	return get_one(s, AKM_CMD_MEMBER_GET, asr_id, AKM_A_NODE_ID, node_id, &one);
}

/* Members of one ASR, or of all if asr_id is 0, sorted; free *members. */
int akm_member_dump(struct akm_sock *s, uint32_t asr_id,
		    struct akm_member **members, size_t *n)
{
	struct vec v = { .parse = parse_member, .size = sizeof(**members) };

	return dump_sorted(s, AKM_CMD_MEMBER_GET, asr_id, &v, cmp_member, (void **)members, n);
}

/* The message holding the key is wiped before it is freed. */
int akm_key_install(struct akm_sock *s, uint32_t asr_id, uint32_t epoch,
		    const uint8_t key[AKM_KEY_LEN])
{
	struct nl_msg *msg = akm_msg_alloc(s, AKM_CMD_KEY_INSTALL, 0);
	int err;

	if (!msg)
		return -ENOMEM;
	if (nla_put_u32(msg, AKM_A_ASR_ID, asr_id) < 0 ||
	    nla_put_u32(msg, AKM_A_KEY_EPOCH, epoch) < 0 ||
	    nla_put(msg, AKM_A_KEY_MATERIAL, AKM_KEY_LEN, key) < 0)
		err = -EMSGSIZE;
	else
		err = akm_transact(s, msg, NULL, NULL);
	akm_msg_free_secret(msg);
	return err;
}

int akm_key_activate(struct akm_sock *s, uint32_t asr_id, uint32_t epoch)
{
	return request(s, AKM_CMD_KEY_ACTIVATE, asr_id, AKM_A_KEY_EPOCH, epoch, NULL, NULL);
}

int akm_key_retire(struct akm_sock *s, uint32_t asr_id, uint32_t epoch)
{
	return request(s, AKM_CMD_KEY_RETIRE, asr_id, AKM_A_KEY_EPOCH, epoch, NULL, NULL);
}

/* The node's counters if asr_id is 0, else the ASR's, or its member's. */
int akm_stats_get(struct akm_sock *s, uint32_t asr_id, uint32_t node_id,
		  struct akm_stats *stats)
{
	struct one one = { .parse = parse_stats, .out = stats };

	return get_one(s, AKM_CMD_STATS_GET, asr_id, AKM_A_NODE_ID, node_id, &one);
}

int akm_stats_reset(struct akm_sock *s, uint32_t asr_id, uint32_t node_id)
{
	return request(s, AKM_CMD_STATS_RESET, asr_id, AKM_A_NODE_ID, node_id, NULL, NULL);
}
