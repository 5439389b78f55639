// SPDX-License-Identifier: GPL-2.0 OR MIT
/* The NMM <-> node protocol codec (Documentation/protocol.md). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "proto.h"

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- encoding ---- */

static uint8_t *reserve(struct akmp_buf *b, size_t n)
{
	uint8_t *p;
	size_t cap;

	if (b->err)
		return NULL;
	if (n > AKMP_HDR_LEN + AKMP_LEN_MAX - b->len) {
		b->err = -EMSGSIZE;
		return NULL;
	}
	if (b->len + n > b->cap) {
		cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		/* grow by copying, so that the old copy can be wiped */
		p = malloc(cap);
		if (!p) {
			b->err = -ENOMEM;
			return NULL;
		}
		if (b->p) {
			memcpy(p, b->p, b->len);
			explicit_bzero(b->p, b->cap);
			free(b->p);
		}
		b->p = p;
		b->cap = cap;
	}
	p = b->p + b->len;
	b->len += n;
	return p;
}

void akmp_begin(struct akmp_buf *b, uint8_t type)
{
	uint8_t *p;

	b->len = 0;
	b->err = 0;
	p = reserve(b, AKMP_HDR_LEN + 1);
	if (p)
		p[AKMP_HDR_LEN] = type;
}

void akmp_put(struct akmp_buf *b, uint16_t type, const void *v, size_t len)
{
	uint8_t *p;

	if (len > UINT16_MAX) {
		if (!b->err)
			b->err = -EMSGSIZE;
		return;
	}
	p = reserve(b, AKMP_TLV_HDR + len);
	if (!p)
		return;
	put_be16(p, type);
	put_be16(p + 2, len);
	if (len)
		memcpy(p + AKMP_TLV_HDR, v, len);
}

void akmp_put_u8(struct akmp_buf *b, uint16_t type, uint8_t v)
{
	akmp_put(b, type, &v, 1);
}

void akmp_put_u32(struct akmp_buf *b, uint16_t type, uint32_t v)
{
	uint8_t p[4];

	put_be32(p, v);
	akmp_put(b, type, p, sizeof(p));
}

void akmp_put_u64(struct akmp_buf *b, uint16_t type, uint64_t v)
{
	uint8_t p[8];

	put_be32(p, v >> 32);
	put_be32(p + 4, (uint32_t)v);
	akmp_put(b, type, p, sizeof(p));
}

void akmp_put_str(struct akmp_buf *b, uint16_t type, const char *s)
{
	akmp_put(b, type, s, strnlen(s, AKMP_TEXT_MAX));
}

size_t akmp_nest_start(struct akmp_buf *b, uint16_t type)
{
	size_t start = b->len;

	akmp_put(b, type, NULL, 0);
	return start;
}

void akmp_nest_end(struct akmp_buf *b, size_t start)
{
	size_t len = b->len - start - AKMP_TLV_HDR;

	if (b->err)
		return;
	if (len > UINT16_MAX) {
		b->err = -EMSGSIZE;
		return;
	}
	put_be16(b->p + start + 2, len);
}

int akmp_end(struct akmp_buf *b)
{
	if (!b->err && b->len < AKMP_HDR_LEN + 1)
		b->err = -EINVAL;	/* no akmp_begin() */
	if (b->err)
		return b->err;
	put_be32(b->p, b->len - AKMP_HDR_LEN);
	return 0;
}

void akmp_buf_free(struct akmp_buf *b)
{
	if (b->p) {
		explicit_bzero(b->p, b->cap);
		free(b->p);
	}
	*b = (struct akmp_buf){ 0 };
}

/* ---- decoding ---- */

void akmp_iter_init(struct akmp_iter *it, const uint8_t *data, size_t len)
{
	it->p = data;
	it->end = data + len;
}

int akmp_iter_next(struct akmp_iter *it, struct akmp_tlv *t)
{
	size_t left = it->end - it->p;

	if (!left)
		return 0;
	if (left < AKMP_TLV_HDR)
		return -EBADMSG;
	t->type = get_be16(it->p);
	t->len = get_be16(it->p + 2);
	if (t->len > left - AKMP_TLV_HDR)
		return -EBADMSG;
	t->v = it->p + AKMP_TLV_HDR;
	it->p += AKMP_TLV_HDR + t->len;
	return 1;
}

enum { FIXED, TEXT, NEST };

static const struct {
	uint8_t kind;
	uint8_t len;			/* FIXED */
} policy[AKMP_T_MAX + 1] = {
	[AKMP_T_VERSION] = { FIXED, 1 },
	[AKMP_T_NODE_ID] = { FIXED, 4 },
	[AKMP_T_NMM_ID] = { FIXED, 4 },
	[AKMP_T_NONCE] = { FIXED, AKMP_NONCE_LEN },
	[AKMP_T_PROOF] = { FIXED, AKMP_PROOF_LEN },
	[AKMP_T_STATUS] = { FIXED, 4 },
	[AKMP_T_MESSAGE] = { TEXT, 0 },
	[AKMP_T_ASR_ID] = { FIXED, 4 },
	[AKMP_T_ALG] = { FIXED, 1 },
	[AKMP_T_POLICY] = { FIXED, 1 },
	[AKMP_T_GRACE] = { FIXED, 4 },
	[AKMP_T_EPOCH] = { FIXED, 4 },
	[AKMP_T_MEMBER] = { NEST, 0 },
	[AKMP_T_STATE] = { FIXED, 1 },
	[AKMP_T_ADDR] = { FIXED, AKMP_ADDR_LEN },
	[AKMP_T_WRAPPED] = { FIXED, AKM_WRAPPED_LEN },
	[AKMP_T_COUNTER] = { NEST, 0 },
	[AKMP_T_NAME] = { TEXT, 0 },
	[AKMP_T_VALUE] = { FIXED, 8 },
	[AKMP_T_FLAGS] = { FIXED, 4 },
	[AKMP_T_INSTANCE] = { FIXED, 8 },
	[AKMP_T_SESSION] = { FIXED, 4 },
	[AKMP_T_LAST] = { FIXED, 4 },
	[AKMP_T_ENDPOINT] = { FIXED, AKMP_ADDR_LEN + 2 },
};

#define REQ(t) (1u << (t))

/* Required top-level TLVs of each message type. */
static const uint32_t required[AKMP_TYPE_MAX + 1] = {
	[AKMP_HELLO] = REQ(AKMP_T_VERSION) | REQ(AKMP_T_NODE_ID) | REQ(AKMP_T_NMM_ID) |
		       REQ(AKMP_T_NONCE) | REQ(AKMP_T_FLAGS) | REQ(AKMP_T_EPOCH) |
		       REQ(AKMP_T_INSTANCE) | REQ(AKMP_T_SESSION),
	[AKMP_CHALLENGE] = REQ(AKMP_T_NONCE) | REQ(AKMP_T_PROOF),
	[AKMP_AUTH] = REQ(AKMP_T_PROOF),
	[AKMP_WELCOME] = REQ(AKMP_T_STATUS),
	[AKMP_ASR_CONFIG] = REQ(AKMP_T_ASR_ID) | REQ(AKMP_T_ALG) | REQ(AKMP_T_POLICY) |
			    REQ(AKMP_T_GRACE) | REQ(AKMP_T_EPOCH) | REQ(AKMP_T_MEMBER) |
			    REQ(AKMP_T_WRAPPED),
	[AKMP_ACTIVATE] = REQ(AKMP_T_ASR_ID) | REQ(AKMP_T_EPOCH),
	[AKMP_LEAVE] = REQ(AKMP_T_ASR_ID),
	[AKMP_ACK] = REQ(AKMP_T_ASR_ID) | REQ(AKMP_T_EPOCH) | REQ(AKMP_T_STATUS),
	[AKMP_HEARTBEAT] = 0,
	[AKMP_EVENT] = REQ(AKMP_T_ASR_ID) | REQ(AKMP_T_NAME) | REQ(AKMP_T_VALUE),
	[AKMP_SITE_NODE] = REQ(AKMP_T_NODE_ID) | REQ(AKMP_T_NAME) | REQ(AKMP_T_WRAPPED),
	[AKMP_NODE_DEL] = REQ(AKMP_T_NODE_ID),
	[AKMP_SYNC] = REQ(AKMP_T_STATE),
	[AKMP_REKEY] = REQ(AKMP_T_NODE_ID),
	[AKMP_REMOVE] = REQ(AKMP_T_NODE_ID),
	[AKMP_INSTANCES] = 0,
	[AKMP_NODE_STATUS] = REQ(AKMP_T_NODE_ID) | REQ(AKMP_T_STATE) | REQ(AKMP_T_VALUE),
};

static const char *const type_names[AKMP_TYPE_MAX + 1] = {
	[AKMP_HELLO] = "HELLO",
	[AKMP_CHALLENGE] = "CHALLENGE",
	[AKMP_AUTH] = "AUTH",
	[AKMP_WELCOME] = "WELCOME",
	[AKMP_ASR_CONFIG] = "ASR_CONFIG",
	[AKMP_ACTIVATE] = "ACTIVATE",
	[AKMP_LEAVE] = "LEAVE",
	[AKMP_ACK] = "ACK",
	[AKMP_HEARTBEAT] = "HEARTBEAT",
	[AKMP_EVENT] = "EVENT",
	[AKMP_SITE_NODE] = "SITE_NODE",
	[AKMP_NODE_DEL] = "NODE_DEL",
	[AKMP_SYNC] = "SYNC",
	[AKMP_REKEY] = "REKEY",
	[AKMP_REMOVE] = "REMOVE",
	[AKMP_INSTANCES] = "INSTANCES",
	[AKMP_NODE_STATUS] = "NODE_STATUS",
};

const char *akmp_type_name(unsigned int type)
{
	return type <= AKMP_TYPE_MAX ? type_names[type] : NULL;
}

/* Check one TLV's size; nested TLVs, one level deep, too. */
static int validate(const struct akmp_tlv *t, bool nested)
{
	struct akmp_iter it;
	struct akmp_tlv c;
	int ret;

	if (!t->type || t->type > AKMP_T_MAX)
		return 0;		/* unknown: ignored */
	switch (policy[t->type].kind) {
	case FIXED:
		return t->len == policy[t->type].len ? 0 : -EBADMSG;
	case TEXT:
		return t->len <= AKMP_TEXT_MAX && !memchr(t->v, 0, t->len) ? 0 : -EBADMSG;
	}
	if (nested)
		return -EBADMSG;	/* no nests in nests */
	akmp_iter_init(&it, t->v, t->len);
	while ((ret = akmp_iter_next(&it, &c)) > 0)
		if (validate(&c, true))
			return -EBADMSG;
	return ret;
}

int akmp_parse(const uint8_t *data, size_t len, struct akmp_msg *m)
{
	struct akmp_iter it;
	struct akmp_tlv t;
	uint32_t seen = 0;
	int ret;

	memset(m, 0, sizeof(*m));
	if (len < 1 || len > AKMP_LEN_MAX)
		return -EBADMSG;
	if (!akmp_type_name(data[0]))
		return -EBADMSG;
	m->type = data[0];
	m->body = data + 1;
	m->len = len - 1;
	akmp_iter_init(&it, m->body, m->len);
	while ((ret = akmp_iter_next(&it, &t)) > 0) {
		if (validate(&t, false))
			return -EBADMSG;
		if (t.type && t.type <= AKMP_T_MAX) {
			m->tb[t.type] = t;
			seen |= REQ(t.type);
		}
	}
	if (ret < 0)
		return ret;
	if (m->tb[AKMP_T_VERSION].v && akmp_u8(&m->tb[AKMP_T_VERSION]) != AKMP_VERSION)
		return -EPROTONOSUPPORT;
	if ((seen & required[m->type]) != required[m->type])
		return -EBADMSG;
	return 0;
}

uint8_t akmp_u8(const struct akmp_tlv *t)
{
	return t->v && t->len >= 1 ? t->v[0] : 0;
}

uint32_t akmp_u32(const struct akmp_tlv *t)
{
	return t->v && t->len >= 4 ? get_be32(t->v) : 0;
}

uint64_t akmp_u64(const struct akmp_tlv *t)
{
	return t->v && t->len >= 8 ? (uint64_t)get_be32(t->v) << 32 | get_be32(t->v + 4) : 0;
}

int akmp_str(const struct akmp_tlv *t, char *buf, size_t size)
{
	if (!size)
		return -EINVAL;
	buf[0] = 0;
	if (!t->v)
		return 0;
	if (t->len >= size || memchr(t->v, 0, t->len))
		return -EBADMSG;
	memcpy(buf, t->v, t->len);
	buf[t->len] = 0;
	return 0;
}

/* ---- typed messages ---- */

void akmp_put_member(struct akmp_buf *b, const struct akmp_member *mb)
{
	size_t nest = akmp_nest_start(b, AKMP_T_MEMBER);
	unsigned int i;

	akmp_put_u32(b, AKMP_T_NODE_ID, mb->node_id);
	akmp_put_u8(b, AKMP_T_STATE, mb->state);
	if (mb->flags)
		akmp_put_u32(b, AKMP_T_FLAGS, mb->flags);
	for (i = 0; i < mb->naddrs && i < AKM_ADDRS_MAX; i++)
		akmp_put(b, AKMP_T_ADDR, mb->addrs[i], AKMP_ADDR_LEN);
	akmp_nest_end(b, nest);
}

void akmp_asr_config(struct akmp_buf *b, const struct akmp_asr_config *c)
{
	unsigned int i;

	akmp_begin(b, AKMP_ASR_CONFIG);
	akmp_put_u32(b, AKMP_T_ASR_ID, c->asr_id);
	akmp_put_u8(b, AKMP_T_ALG, c->alg);
	akmp_put_u8(b, AKMP_T_POLICY, c->policy);
	akmp_put_u32(b, AKMP_T_GRACE, c->grace);
	akmp_put_u32(b, AKMP_T_EPOCH, c->epoch);
	for (i = 0; i < c->nmembers; i++)
		akmp_put_member(b, &c->members[i]);
	akmp_put(b, AKMP_T_WRAPPED, c->wrapped, AKM_WRAPPED_LEN);
}

int akmp_member_parse(const struct akmp_tlv *nest, struct akmp_member *mb)
{
	struct akmp_iter it;
	struct akmp_tlv t;
	bool state = false;
	int ret;

	memset(mb, 0, sizeof(*mb));
	akmp_iter_init(&it, nest->v, nest->len);
	while ((ret = akmp_iter_next(&it, &t)) > 0) {
		if (validate(&t, true))
			return -EBADMSG;
		switch (t.type) {
		case AKMP_T_NODE_ID:
			mb->node_id = akmp_u32(&t);
			break;
		case AKMP_T_STATE:
			mb->state = akmp_u8(&t);
			state = true;
			break;
		case AKMP_T_FLAGS:
			mb->flags = akmp_u32(&t);
			break;
		case AKMP_T_ADDR:
			if (mb->naddrs == AKM_ADDRS_MAX)
				return -EBADMSG;
			memcpy(mb->addrs[mb->naddrs++], t.v, AKMP_ADDR_LEN);
			break;
		}
	}
	if (ret < 0)
		return ret;
	if (!mb->node_id || !state || mb->state > AKM_MEMBER_STATE_MAX)
		return -EBADMSG;
	return 0;
}

int akmp_asr_config_parse(const struct akmp_msg *m, struct akmp_asr_config *c)
{
	struct akmp_iter it;
	struct akmp_tlv t;
	unsigned int i;
	int ret;

	memset(c, 0, sizeof(*c));
	if (m->type != AKMP_ASR_CONFIG)
		return -EINVAL;
	c->asr_id = akmp_u32(&m->tb[AKMP_T_ASR_ID]);
	c->alg = akmp_u8(&m->tb[AKMP_T_ALG]);
	c->policy = akmp_u8(&m->tb[AKMP_T_POLICY]);
	c->grace = akmp_u32(&m->tb[AKMP_T_GRACE]);
	c->epoch = akmp_u32(&m->tb[AKMP_T_EPOCH]);
	memcpy(c->wrapped, m->tb[AKMP_T_WRAPPED].v, AKM_WRAPPED_LEN);
	if (!c->asr_id || !c->epoch)
		return -EBADMSG;
	c->members = calloc(AKM_MEMBERS_MAX, sizeof(*c->members));
	if (!c->members)
		return -ENOMEM;
	akmp_iter_init(&it, m->body, m->len);
	while ((ret = akmp_iter_next(&it, &t)) > 0) {
		if (t.type != AKMP_T_MEMBER)
			continue;
		if (c->nmembers == AKM_MEMBERS_MAX) {
			ret = -EBADMSG;
			break;
		}
		ret = akmp_member_parse(&t, &c->members[c->nmembers]);
		if (ret)
			break;
		for (i = 0; i < c->nmembers; i++)
			if (c->members[i].node_id == c->members[c->nmembers].node_id)
				ret = -EBADMSG;
		if (ret)
			break;
		c->nmembers++;
	}
	if (ret < 0) {
		akmp_asr_config_free(c);
		return ret;
	}
	return 0;
}

void akmp_asr_config_free(struct akmp_asr_config *c)
{
	free(c->members);
	c->members = NULL;
	c->nmembers = 0;
}

int akmp_counters_parse(const struct akmp_msg *m, akmp_counter_cb cb, void *arg)
{
	struct akmp_iter it, in;
	struct akmp_tlv t, c;
	char name[AKMP_TEXT_MAX + 1];
	uint32_t asr_id;
	bool have_name;
	int ret;

	akmp_iter_init(&it, m->body, m->len);
	while ((ret = akmp_iter_next(&it, &t)) > 0) {
		if (t.type != AKMP_T_COUNTER)
			continue;
		asr_id = 0;
		have_name = false;
		akmp_iter_init(&in, t.v, t.len);
		while ((ret = akmp_iter_next(&in, &c)) > 0) {
			if (validate(&c, true))
				return -EBADMSG;
			if (c.type == AKMP_T_ASR_ID) {
				asr_id = akmp_u32(&c);
			} else if (c.type == AKMP_T_NAME) {
				if (akmp_str(&c, name, sizeof(name)))
					return -EBADMSG;
				have_name = true;
			} else if (c.type == AKMP_T_VALUE) {
				if (!have_name)
					return -EBADMSG;
				ret = cb(asr_id, name, akmp_u64(&c), arg);
				if (ret < 0)
					return ret;
				have_name = false;
			}
		}
		if (ret < 0)
			return ret;
	}
	return ret;
}

void akmp_hello_hs(const struct akmp_msg *m, uint32_t self, struct akmp_hs *hs)
{
	hs->node = akmp_u32(&m->tb[AKMP_T_NODE_ID]);
	hs->nmm = self;
	hs->flags = akmp_u32(&m->tb[AKMP_T_FLAGS]);
	hs->last = akmp_u32(&m->tb[AKMP_T_EPOCH]);
	hs->instance = akmp_u64(&m->tb[AKMP_T_INSTANCE]);
	hs->session = akmp_u32(&m->tb[AKMP_T_SESSION]);
	memcpy(hs->nn, m->tb[AKMP_T_NONCE].v, AKMP_NONCE_LEN);
}

void akmp_challenge(struct akmp_buf *b, const struct akmp_hs *hs,
		    const uint8_t proof[AKMP_PROOF_LEN])
{
	akmp_begin(b, AKMP_CHALLENGE);
	akmp_put(b, AKMP_T_NONCE, hs->nm, AKMP_NONCE_LEN);
	akmp_put(b, AKMP_T_PROOF, proof, AKMP_PROOF_LEN);
}

void akmp_welcome(struct akmp_buf *b, uint32_t status, const char *msg, uint32_t epoch,
		  const uint8_t *proof)
{
	akmp_begin(b, AKMP_WELCOME);
	akmp_put_u32(b, AKMP_T_STATUS, status);
	akmp_put_str(b, AKMP_T_MESSAGE, msg);
	if (epoch) {
		akmp_put_u32(b, AKMP_T_EPOCH, epoch);
		akmp_put(b, AKMP_T_PROOF, proof, AKMP_PROOF_LEN);
	}
}

/*
 * T = be32 node || be32 NMM || Nn || Nm || be32 FLAGS || be32 EPOCH ||
 * be64 INSTANCE || be32 SESSION, the last four as HELLO carried them: the
 * proofs cover what the node said about its kernel and which connection
 * this is. Returns AKMP_TRANSCRIPT_LEN.
 */
size_t akmp_transcript(uint8_t t[AKMP_TRANSCRIPT_LEN], const struct akmp_hs *h)
{
	put_be32(t, h->node);
	put_be32(t + 4, h->nmm);
	memcpy(t + 8, h->nn, AKMP_NONCE_LEN);
	memcpy(t + 8 + AKMP_NONCE_LEN, h->nm, AKMP_NONCE_LEN);
	t += 8 + 2 * AKMP_NONCE_LEN;
	put_be32(t, h->flags);
	put_be32(t + 4, h->last);
	put_be32(t + 8, h->instance >> 32);
	put_be32(t + 12, (uint32_t)h->instance);
	put_be32(t + 16, h->session);
	return AKMP_TRANSCRIPT_LEN;
}

size_t akmp_proof_input(uint8_t out[AKMP_PROOF_INPUT_MAX], const char *label,
			const struct akmp_hs *h, uint32_t epoch)
{
	size_t l = strnlen(label, 7);

	memcpy(out, label, l);
	l += akmp_transcript(out + l, h);
	if (epoch) {
		put_be32(out + l, epoch);
		l += 4;
	}
	return l;
}

void akmp_addr_put(const struct akm_addr *a, uint8_t out[AKMP_ADDR_LEN])
{
	if (a->family == AF_INET) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &a->v4, 4);
	} else {
		memcpy(out, &a->v6, AKMP_ADDR_LEN);
	}
}

void akmp_addr_get(const uint8_t in[AKMP_ADDR_LEN], struct akm_addr *a)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

	memset(a, 0, sizeof(*a));
	if (!memcmp(in, mapped, sizeof(mapped))) {
		a->family = AF_INET;
		memcpy(&a->v4, in + 12, 4);
	} else {
		a->family = AF_INET6;
		memcpy(&a->v6, in, AKMP_ADDR_LEN);
	}
}

void akmp_put_endpoint(struct akmp_buf *b, const struct akmp_endpoint *e)
{
	uint8_t v[AKMP_ADDR_LEN + 2];

	akmp_addr_put(&e->addr, v);
	v[AKMP_ADDR_LEN] = e->port >> 8;
	v[AKMP_ADDR_LEN + 1] = e->port & 0xff;
	akmp_put(b, AKMP_T_ENDPOINT, v, sizeof(v));
}

bool akmp_endpoint_eq(const struct akmp_endpoint *a, const struct akmp_endpoint *b)
{
	return a->port == b->port && akm_addr_eq(&a->addr, &b->addr);
}

bool akmp_endpoint_usable(const struct akmp_endpoint *e)
{
	const struct in6_addr *a6 = &e->addr.v6;
	uint32_t a4 = ntohl(e->addr.v4.s_addr);

	if (!e->port)
		return false;
	if (e->addr.family == AF_INET)
		return a4 && a4 >> 24 != 127 && !IN_MULTICAST(a4) && a4 != INADDR_BROADCAST &&
		       a4 >> 16 != 0xa9fe;	/* 169.254/16 */
	return e->addr.family == AF_INET6 && !IN6_IS_ADDR_UNSPECIFIED(a6) &&
	       !IN6_IS_ADDR_LOOPBACK(a6) && !IN6_IS_ADDR_MULTICAST(a6) &&
	       !IN6_IS_ADDR_LINKLOCAL(a6) && !IN6_IS_ADDR_V4MAPPED(a6);
}

int akmp_instances_parse(const struct akmp_msg *m, struct akmp_endpoint e[AKMP_INSTANCES_MAX])
{
	struct akmp_iter it;
	struct akmp_tlv t;
	int n = 0, i;

	akmp_iter_init(&it, m->body, m->len);	/* akmp_parse() checked the TLVs */
	while (n < AKMP_INSTANCES_MAX && akmp_iter_next(&it, &t) > 0) {
		if (t.type != AKMP_T_ENDPOINT)
			continue;
		akmp_addr_get(t.v, &e[n].addr);
		e[n].port = t.v[AKMP_ADDR_LEN] << 8 | t.v[AKMP_ADDR_LEN + 1];
		for (i = 0; i < n; i++)
			if (akmp_endpoint_eq(&e[i], &e[n]))
				break;
		if (i == n && akmp_endpoint_usable(&e[n]))
			n++;
	}
	return n;
}

/* ---- non-blocking I/O ---- */

int akmp_feed(struct akmp_reader *r, const uint8_t *data, size_t len, size_t *used)
{
	size_t n;

	*used = 0;
	if (r->done) {
		r->done = false;
		r->hdr_got = r->len = r->got = 0;
	}
	if (r->hdr_got < AKMP_HDR_LEN) {
		n = AKMP_HDR_LEN - r->hdr_got;
		if (n > len)
			n = len;
		memcpy(r->hdr + r->hdr_got, data, n);
		r->hdr_got += n;
		*used += n;
		data += n;
		len -= n;
		if (r->hdr_got < AKMP_HDR_LEN)
			return 0;
		r->len = get_be32(r->hdr);
		if (r->len > AKMP_LEN_MAX)
			return -EMSGSIZE;
		if (!r->len)
			return -EBADMSG;
		if (!r->buf) {
			r->buf = malloc(AKMP_LEN_MAX);
			if (!r->buf)
				return -ENOMEM;
		}
	}
	n = r->len - r->got;
	if (n > len)
		n = len;
	memcpy(r->buf + r->got, data, n);
	r->got += n;
	*used += n;
	if (r->got < r->len)
		return 0;
	r->done = true;
	return 1;
}

int akmp_read(int fd, struct akmp_reader *r)
{
	uint8_t tmp[AKMP_HDR_LEN];
	size_t used, want;
	ssize_t n;
	int ret;

	if (r->done) {
		r->done = false;
		r->hdr_got = r->len = r->got = 0;
	}
	for (;;) {
		/* Read only what this frame still needs: never a byte of the next. */
		if (r->hdr_got < AKMP_HDR_LEN) {
			want = AKMP_HDR_LEN - r->hdr_got;
			n = read(fd, tmp, want);
			if (n > 0) {
				ret = akmp_feed(r, tmp, n, &used);
				if (ret)
					return ret;
				continue;
			}
		} else {
			want = r->len - r->got;
			n = read(fd, r->buf + r->got, want);
			if (n > 0) {
				r->got += n;
				if (r->got == r->len) {
					r->done = true;
					return 1;
				}
				continue;
			}
		}
		if (n == 0)
			return -EPIPE;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return -errno;
	}
}

void akmp_reader_free(struct akmp_reader *r)
{
	if (r->buf) {
		explicit_bzero(r->buf, AKMP_LEN_MAX);
		free(r->buf);
	}
	explicit_bzero(r, sizeof(*r));
}

int akmp_queue(struct akmp_outq *q, const struct akmp_buf *b)
{
	size_t cap;
	uint8_t *p;

	if (b->err || !b->len)
		return b->err ? b->err : -EINVAL;
	if (q->off && q->off == q->len)
		q->off = q->len = 0;
	if (b->len > AKMP_OUTQ_MAX - (q->len - q->off))
		return -ENOBUFS;
	if (q->len + b->len > q->cap) {
		/* compact first, then grow by copying (wiping the old copy) */
		cap = q->cap ? q->cap : 4096;
		while (cap < q->len - q->off + b->len)
			cap *= 2;
		p = malloc(cap);
		if (!p)
			return -ENOMEM;
		if (q->p) {
			memcpy(p, q->p + q->off, q->len - q->off);
			explicit_bzero(q->p, q->cap);
			free(q->p);
		}
		q->len -= q->off;
		q->off = 0;
		q->p = p;
		q->cap = cap;
	}
	memcpy(q->p + q->len, b->p, b->len);
	q->len += b->len;
	return 0;
}

int akmp_flush(int fd, struct akmp_outq *q)
{
	ssize_t n;

	while (q->off < q->len) {
		n = send(fd, q->p + q->off, q->len - q->off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -errno;
		}
		q->off += n;
	}
	if (q->p)
		explicit_bzero(q->p, q->len);
	q->off = q->len = 0;
	return 1;
}

void akmp_close_reset(int fd)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

bool akmp_pending(const struct akmp_outq *q)
{
	return q->off < q->len;
}

void akmp_outq_free(struct akmp_outq *q)
{
	if (q->p) {
		explicit_bzero(q->p, q->cap);
		free(q->p);
	}
	*q = (struct akmp_outq){ 0 };
}

int akmp_admin_req(const uint8_t *data, size_t len, struct akmp_admin_req *q)
{
	struct akmp_iter it;
	struct akmp_tlv t;
	int ret;

	q->argc = 0;
	q->mode = 0;
	q->toomany = false;
	if (len < 1 || data[0] != NMM_ADMIN_RUN)
		return -EBADMSG;
	akmp_iter_init(&it, data + 1, len - 1);
	while ((ret = akmp_iter_next(&it, &t)) > 0) {
		if (t.type == NMM_ADMIN_T_MODE && t.len == 1 && t.v[0] <= AKM_OUT_JSON_PRETTY) {
			q->mode = t.v[0];
		} else if (t.type == NMM_ADMIN_T_ARG && q->argc == q->max) {
			q->toomany = true;
		} else if (t.type == NMM_ADMIN_T_ARG && !memchr(t.v, 0, t.len)) {
			q->argv[q->argc] = strndup((const char *)t.v, t.len);
			if (!q->argv[q->argc])
				return -ENOMEM;
			q->argc++;
		} else {
			return -EBADMSG;
		}
	}
	return ret;
}

/* The words are wiped: one may be a transfer code (akmctl nmm root import). */
void akmp_admin_req_free(struct akmp_admin_req *q)
{
	while (q->argc) {
		char *w = q->argv[--q->argc];

		explicit_bzero(w, strlen(w));
		free(w);
	}
}
