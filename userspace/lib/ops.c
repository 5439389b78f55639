// SPDX-License-Identifier: GPL-2.0 OR MIT
/* One function per command of the family, in terms of the structs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
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
static struct nl_msg *ids_msg(struct akm_sock *s, uint8_t cmd, uint32_t asr_id,
			      int attr, uint32_t val, int *err)
{
	struct nl_msg *msg = akm_msg_alloc(s, cmd, 0);

	*err = msg ? 0 : -ENOMEM;
	if (msg && ((asr_id && nla_put_u32(msg, AKM_A_ASR_ID, asr_id) < 0) ||
		    (val && nla_put_u32(msg, attr, val) < 0)))
		*err = -EMSGSIZE;
	return msg;
}

static int request(struct akm_sock *s, uint8_t cmd, uint32_t asr_id,
		   int attr, uint32_t val, akm_msg_cb fn, void *arg)
{
	int err;
	struct nl_msg *msg = ids_msg(s, cmd, asr_id, attr, val, &err);

	return msg ? send_free(s, msg, err, fn, arg) : err;
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

static int send_one(struct akm_sock *s, struct nl_msg *msg, int err, struct one *one)
{
	err = send_free(s, msg, err, one_cb, one);
	return !err && !one->got ? -EPROTO : err;
}

static int get_one(struct akm_sock *s, uint8_t cmd, uint32_t asr_id,
		   int attr, uint32_t val, struct one *one)
{
	int err;
	struct nl_msg *msg = ids_msg(s, cmd, asr_id, attr, val, &err);

	return msg ? send_one(s, msg, err, one) : err;
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

static int parse_cred(const struct akm_msg *msg, void *out)
{
	return akm_cred_parse(msg, out);
}

static int parse_proof(const struct akm_msg *msg, void *out)
{
	if (!msg->tb[AKM_A_PROOF])
		return -EPROTO;
	memcpy(out, nla_data(msg->tb[AKM_A_PROOF]), AKM_PROOF_LEN);
	return 0;
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

static int cmp_cred(const void *a, const void *b)
{
	return cmp_u32(((const struct akm_cred *)a)->id, ((const struct akm_cred *)b)->id);
}

static int cmp_member(const void *a, const void *b)
{
	const struct akm_member *x = a, *y = b;

	return cmp_u32(x->asr_id, y->asr_id) ?: cmp_u32(x->node_id, y->node_id);
}

static int put_addrs(struct nl_msg *msg, int type, const struct akm_addr *addrs, unsigned int n)
{
	struct nlattr *nest = nla_nest_start(msg, type);
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
	/* empty is a value: "group none" clears the list */
	nla_nest_end_keep_empty(msg, nest);
	return 0;
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
	if (attrs & AKM_BIT(AKM_A_ASR_GROUPS))
		return put_addrs(msg, AKM_A_ASR_GROUPS, asr->groups, asr->ngroups);
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
		return put_addrs(msg, AKM_A_MEMBER_ADDRS, m->addrs, m->naddrs);
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

int akm_node_set_rx_mark(struct akm_sock *s, uint32_t mark)
{
	struct nl_msg *msg = akm_msg_alloc(s, AKM_CMD_NODE_SET, 0);

	if (!msg)
		return -ENOMEM;
	return send_free(s, msg, nla_put_u32(msg, AKM_A_NODE_RX_MARK, mark) < 0 ?
			 -EMSGSIZE : 0, NULL, NULL);
}

static int asr_send(struct akm_sock *s, uint8_t cmd, const struct akm_asr *asr, uint32_t attrs)
{
	struct nl_msg *msg = akm_msg_alloc(s, cmd, 0);

	if (!msg)
		return -ENOMEM;
	return send_free(s, msg, put_asr(msg, asr, attrs), NULL, NULL);
}

/* ALG is always sent; NAME, POLICY, GRACE and GROUPS if in attrs. */
int akm_asr_new(struct akm_sock *s, const struct akm_asr *asr, uint32_t attrs)
{
	return asr_send(s, AKM_CMD_ASR_NEW, asr, attrs | AKM_BIT(AKM_A_ASR_ALG));
}

/* NAME, POLICY, GRACE and GROUPS (replacing the list) if in attrs. */
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

/*
 * cmd with ASR_ID, KEY_EPOCH and CRED_ID (each left out if 0) and the secret
 * attribute attr (if data is not NULL); the message is wiped before it is
 * freed.
 */
static int secret_request(struct akm_sock *s, uint8_t cmd, uint32_t asr_id, uint32_t epoch,
			  uint32_t cred_id, int attr, const void *data, size_t len)
{
	struct nl_msg *msg = akm_msg_alloc(s, cmd, 0);
	int err;

	if (!msg)
		return -ENOMEM;
	if ((asr_id && nla_put_u32(msg, AKM_A_ASR_ID, asr_id) < 0) ||
	    (epoch && nla_put_u32(msg, AKM_A_KEY_EPOCH, epoch) < 0) ||
	    (cred_id && nla_put_u32(msg, AKM_A_CRED_ID, cred_id) < 0) ||
	    (data && nla_put(msg, attr, len, data) < 0))
		err = -EMSGSIZE;
	else
		err = akm_transact(s, msg, NULL, NULL);
	akm_msg_free_secret(msg);
	return err;
}

/* A new next epoch from key material. */
int akm_key_install(struct akm_sock *s, uint32_t asr_id, uint32_t epoch,
		    const uint8_t key[AKM_KEY_LEN])
{
	return secret_request(s, AKM_CMD_KEY_INSTALL, asr_id, epoch, 0,
			      AKM_A_KEY_MATERIAL, key, AKM_KEY_LEN);
}

/* A new next epoch from a key wrapped under credential cred_id. */
int akm_key_install_wrapped(struct akm_sock *s, uint32_t asr_id, uint32_t epoch,
			    uint32_t cred_id, const uint8_t wrapped[AKM_WRAPPED_LEN])
{
	return secret_request(s, AKM_CMD_KEY_INSTALL, asr_id, epoch, cred_id,
			      AKM_A_KEY_WRAPPED, wrapped, AKM_WRAPPED_LEN);
}

/* A new next epoch of a provisioning ASR, derived from credential cred_id. */
int akm_key_install_cred(struct akm_sock *s, uint32_t asr_id, uint32_t epoch,
			 uint32_t cred_id)
{
	return secret_request(s, AKM_CMD_KEY_INSTALL, asr_id, epoch, cred_id, 0, NULL, 0);
}

/*
 * Make epoch, derived from credential cred_id, the current one of asr_id:
 * nothing to do if it is; -ESTALE if the namespace had it or a later one
 * before (its counter would start again at 1); else a next epoch that was
 * never activated is retired, and epoch installed and activated.
 */
int akm_key_session(struct akm_sock *s, uint32_t asr_id, uint32_t epoch, uint32_t cred_id)
{
	struct akm_asr asr;
	unsigned int i;
	int err;

	err = akm_asr_get(s, asr_id, &asr);
	if (err)
		return err;
	for (i = 0; i < asr.nkeys; i++) {
		if (asr.keys[i].epoch != epoch)
			continue;
		if (asr.keys[i].state == AKM_KEY_CURRENT)
			return 0;
		if (asr.keys[i].state == AKM_KEY_NEXT)
			return akm_key_activate(s, asr_id, epoch);
		return -ESTALE;
	}
	if (epoch <= asr.last_epoch)
		return -ESTALE;
	for (i = 0; !err && i < asr.nkeys; i++)
		if (asr.keys[i].state == AKM_KEY_NEXT)
			err = akm_key_retire(s, asr_id, asr.keys[i].epoch);
	if (!err)
		err = akm_key_install_cred(s, asr_id, epoch, cred_id);
	return err ? err : akm_key_activate(s, asr_id, epoch);
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

int akm_cred_install(struct akm_sock *s, uint32_t cred_id, const uint8_t key[AKM_KEY_LEN])
{
	return secret_request(s, AKM_CMD_CRED_INSTALL, 0, 0, cred_id,
			      AKM_A_KEY_MATERIAL, key, AKM_KEY_LEN);
}

int akm_cred_del(struct akm_sock *s, uint32_t cred_id)
{
	return request(s, AKM_CMD_CRED_DEL, 0, AKM_A_CRED_ID, cred_id, NULL, NULL);
}

int akm_cred_get(struct akm_sock *s, uint32_t cred_id, struct akm_cred *cred)
{
	struct one one = { .parse = parse_cred, .out = cred };

	return get_one(s, AKM_CMD_CRED_GET, 0, AKM_A_CRED_ID, cred_id, &one);
}

/* All credentials sorted by id; free *creds. */
int akm_cred_dump(struct akm_sock *s, struct akm_cred **creds, size_t *n)
{
	struct vec v = { .parse = parse_cred, .size = sizeof(**creds) };

	return dump_sorted(s, AKM_CMD_CRED_GET, 0, &v, cmp_cred, (void **)creds, n);
}

/* The kernel's proof of possession of credential cred_id over data. */
int akm_cred_prove(struct akm_sock *s, uint32_t cred_id, const void *data, size_t len,
		   uint8_t proof[AKM_PROOF_LEN])
{
	struct one one = { .parse = parse_proof, .out = proof };
	struct nl_msg *msg;
	int err;

	if (len > AKM_PROOF_DATA_MAX)
		return -EMSGSIZE;
	msg = ids_msg(s, AKM_CMD_CRED_PROVE, 0, AKM_A_CRED_ID, cred_id, &err);
	if (!msg)
		return err;
	if (!err && nla_put(msg, AKM_A_PROOF_DATA, len, data) < 0)
		err = -EMSGSIZE;
	return send_one(s, msg, err, &one);
}
