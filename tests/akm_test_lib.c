// SPDX-License-Identifier: GPL-2.0
/*
 * Shared helpers for the AKM control-plane selftests (see akm_test_lib.h).
 *
 * Messages are built and parsed with libnl-genl-3; replies are read with
 * plain recv() on the libnl socket so that the tests see every netlink
 * header flag (NLM_F_MULTI, NLM_F_DUMP_INTR) and the extended ACK.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <keyutils.h>

#include "akm_test_lib.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

#define RXBUF_LEN (1024 * 1024)

static unsigned char *rxbuf(void)
{
	static unsigned char *buf;

	if (!buf)
		buf = malloc(RXBUF_LEN);
	return buf;
}

static void clear_ext(struct akm_nl *nl)
{
	nl->err = 0;
	nl->ext_msg[0] = '\0';
	nl->ext_miss_type = -1;
	nl->ext_offs = -1;
}

static int sock_setup(struct akm_nl *nl)
{
	int one = 1, fd;

	memset(nl, 0, sizeof(*nl));
	nl->family = -1;
	nl->events_grp = -1;
	clear_ext(nl);
	nl->sk = nl_socket_alloc();
	if (!nl->sk)
		return -ENOMEM;
	if (genl_connect(nl->sk)) {
		nl_socket_free(nl->sk);
		nl->sk = NULL;
		return -ECONNREFUSED;
	}
	nl_socket_disable_auto_ack(nl->sk);
	nl_socket_set_buffer_size(nl->sk, 1 << 20, 1 << 20);
	fd = nl_socket_get_fd(nl->sk);
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	return 0;
}

int akm_nl_open(struct akm_nl *nl)
{
	int ret = sock_setup(nl);

	if (ret)
		return ret;
	nl->family = genl_ctrl_resolve(nl->sk, AKM_GENL_NAME);
	if (nl->family < 0) {
		akm_nl_close(nl);
		return -ENOENT;
	}
	nl->events_grp = genl_ctrl_resolve_grp(nl->sk, AKM_GENL_NAME, AKM_MCGRP_EVENTS);
	if (nl->events_grp < 0)
		nl->events_grp = -1;
	return 0;
}

void akm_nl_close(struct akm_nl *nl)
{
	if (nl->sk)
		nl_socket_free(nl->sk);
	nl->sk = NULL;
	free(nl->evbuf);
	nl->evbuf = NULL;
}

int akm_events_open(struct akm_nl *ev)
{
	int ret = akm_nl_open(ev);

	if (ret)
		return ret;
	if (ev->events_grp < 0) {
		akm_nl_close(ev);
		return -ENOENT;
	}
	ret = nl_socket_add_membership(ev->sk, ev->events_grp);
	if (ret) {
		akm_nl_close(ev);
		return -EPROTO;
	}
	nl_socket_set_nonblocking(ev->sk);
	return 0;
}

long long akm_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int akm_event_next(struct akm_nl *ev, struct akm_event *e, int timeout_ms)
{
	long long deadline = akm_now_ms() + timeout_ms;
	int fd = nl_socket_get_fd(ev->sk);

	if (!ev->evbuf) {
		ev->evbuf = malloc(RXBUF_LEN);
		if (!ev->evbuf)
			return -ENOMEM;
		ev->evlen = ev->evoff = 0;
	}
	for (;;) {
		while (ev->evoff < ev->evlen) {
			struct nlmsghdr *nlh = (struct nlmsghdr *)(ev->evbuf + ev->evoff);
			int rem = ev->evlen - ev->evoff;

			if (!NLMSG_OK(nlh, rem)) {
				ev->evlen = ev->evoff = 0;
				break;
			}
			ev->evoff += NLMSG_ALIGN(nlh->nlmsg_len);
			if (nlh->nlmsg_type != ev->family)
				continue;
			return akm_parse_event(nlh, e);
		}
		long long left = deadline - akm_now_ms();
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int n;

		if (left < 0)
			return -ETIMEDOUT;
		n = poll(&pfd, 1, (int)left);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n <= 0)
			continue;
		n = recv(fd, ev->evbuf, RXBUF_LEN, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -errno;
		}
		ev->evlen = n;
		ev->evoff = 0;
	}
}

int akm_event_wait(struct akm_nl *ev, int cmd, struct akm_event *e, int timeout_ms)
{
	long long deadline = akm_now_ms() + timeout_ms;

	for (;;) {
		long long left = deadline - akm_now_ms();
		int ret;

		if (left < 0)
			left = 0;
		ret = akm_event_next(ev, e, (int)left);
		if (ret)
			return ret;
		if (e->cmd == cmd)
			return 0;
	}
}

void akm_events_drain(struct akm_nl *ev)
{
	struct akm_event e;

	while (akm_event_next(ev, &e, 0) == 0)
		;
}

struct nl_msg *akm_msg_family(struct akm_nl *nl, int family, int cmd, int version, int flags)
{
	struct nl_msg *msg = nlmsg_alloc_size(1 << 16);

	if (!msg)
		return NULL;
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0,
			 NLM_F_REQUEST | flags, cmd, version)) {
		nlmsg_free(msg);
		return NULL;
	}
	(void)nl;
	return msg;
}

struct nl_msg *akm_msg(struct akm_nl *nl, int cmd, int flags)
{
	return akm_msg_family(nl, nl->family, cmd, AKM_GENL_VERSION, flags);
}

static void parse_ack(struct akm_nl *nl, struct nlmsghdr *nlh)
{
	struct nlmsgerr *err = NLMSG_DATA(nlh);
	size_t off, len;
	unsigned char *p;

	nl->err = err->error;
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	off = sizeof(*err);
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += NLMSG_ALIGN(err->msg.nlmsg_len) - sizeof(struct nlmsghdr);
	if (NLMSG_HDRLEN + off >= nlh->nlmsg_len)
		return;
	p = (unsigned char *)err + off;
	len = nlh->nlmsg_len - NLMSG_HDRLEN - off;
	while (len >= sizeof(struct nlattr)) {
		struct nlattr *a = (struct nlattr *)p;
		size_t alen = a->nla_len;
		void *d = p + NLA_HDRLEN;
		size_t dlen;

		if (alen < NLA_HDRLEN || alen > len)
			break;
		dlen = alen - NLA_HDRLEN;
		switch (a->nla_type & NLA_TYPE_MASK) {
		case NLMSGERR_ATTR_MSG:
			snprintf(nl->ext_msg, sizeof(nl->ext_msg), "%.*s", (int)dlen, (char *)d);
			break;
		case NLMSGERR_ATTR_OFFS:
			if (dlen >= 4)
				nl->ext_offs = *(uint32_t *)d;
			break;
		case NLMSGERR_ATTR_MISS_TYPE:
			if (dlen >= 4)
				nl->ext_miss_type = *(uint32_t *)d;
			break;
		}
		if (NLA_ALIGN(alen) >= len)
			break;
		len -= NLA_ALIGN(alen);
		p += NLA_ALIGN(alen);
	}
}

/* 0, or -errno of sendmsg() (e.g. -ENOBUFS: no skb for the request) */
static int send_msg(struct akm_nl *nl, struct nl_msg *msg, uint32_t *seq)
{
	int ret, err;

	clear_ext(nl);
	if (!msg)
		return -ENOMEM;
	nl_complete_msg(nl->sk, msg);
	*seq = nlmsg_hdr(msg)->nlmsg_seq;
	errno = 0;
	ret = nl_send(nl->sk, msg);
	err = errno;
	nlmsg_free(msg);
	if (ret < 0)
		return err ? -err : -EIO;
	return 0;
}

/*
 * Read datagrams until an ACK/error (doit) or NLMSG_DONE (dump) for seq.
 * If once is set, read exactly one datagram and report whether it ended
 * the exchange in *done.
 */
static int recv_replies(struct akm_nl *nl, uint32_t seq, akm_msg_cb cb, void *arg,
			struct akm_dump_res *res, bool once, bool *done)
{
	unsigned char *buf = rxbuf();
	int fd = nl_socket_get_fd(nl->sk);
	int cb_ret = 0;

	if (done)
		*done = false;
	for (;;) {
		struct nlmsghdr *nlh;
		int n;

		n = recv(fd, buf, RXBUF_LEN, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (res)
			res->recvs++;
		for (nlh = (struct nlmsghdr *)buf; NLMSG_OK(nlh, n); nlh = NLMSG_NEXT(nlh, n)) {
			if (nlh->nlmsg_seq != seq)
				continue;
			if (res && (nlh->nlmsg_flags & NLM_F_DUMP_INTR))
				res->intr = true;
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				parse_ack(nl, nlh);
				if (done)
					*done = true;
				return nl->err ? nl->err : cb_ret;
			}
			if (nlh->nlmsg_type == NLMSG_DONE) {
				if (res && nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(int)))
					res->done_err = *(int *)NLMSG_DATA(nlh);
				if (res && res->done_err) {
					nl->err = res->done_err;
					if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
						/* reuse the ACK parser: DONE carries an int then TLVs */
					}
				}
				if (done)
					*done = true;
				return res && res->done_err ? res->done_err : cb_ret;
			}
			if (nlh->nlmsg_type == NLMSG_NOOP || nlh->nlmsg_type == NLMSG_OVERRUN)
				continue;
			if (res) {
				res->msgs++;
				if (!(nlh->nlmsg_flags & NLM_F_MULTI))
					res->multi_missing = true;
			}
			if (cb && !cb_ret)
				cb_ret = cb(nlh, arg);
		}
		if (once)
			return cb_ret;
	}
}

int akm_do(struct akm_nl *nl, struct nl_msg *msg, akm_msg_cb cb, void *arg)
{
	uint32_t seq;
	int ret;

	if (msg)
		nlmsg_hdr(msg)->nlmsg_flags |= NLM_F_ACK;
	ret = send_msg(nl, msg, &seq);
	if (ret)
		return ret;
	return recv_replies(nl, seq, cb, arg, NULL, false, NULL);
}

int akm_dump_start(struct akm_nl *nl, struct nl_msg *msg, akm_msg_cb cb, void *arg,
		   struct akm_dump_res *res, bool *done)
{
	int ret;

	memset(res, 0, sizeof(*res));
	if (msg)
		nlmsg_hdr(msg)->nlmsg_flags |= NLM_F_DUMP;
	ret = send_msg(nl, msg, &nl->dump_seq);
	if (ret)
		return ret;
	return recv_replies(nl, nl->dump_seq, cb, arg, res, true, done);
}

int akm_dump_finish(struct akm_nl *nl, akm_msg_cb cb, void *arg, struct akm_dump_res *res)
{
	return recv_replies(nl, nl->dump_seq, cb, arg, res, false, NULL);
}

int akm_dump(struct akm_nl *nl, struct nl_msg *msg, akm_msg_cb cb, void *arg,
	     struct akm_dump_res *res)
{
	struct akm_dump_res local;
	bool done;
	int ret;

	if (!res)
		res = &local;
	ret = akm_dump_start(nl, msg, cb, arg, res, &done);
	if (done || ret)
		return ret;
	return akm_dump_finish(nl, cb, arg, res);
}

static void norm_name(const char *in, char *out, size_t len)
{
	size_t i;

	for (i = 0; in[i] && i + 1 < len; i++)
		out[i] = (in[i] == '-' || in[i] == ' ') ? '_' : toupper((unsigned char)in[i]);
	out[i] = '\0';
}

bool akm_extack_names(const struct akm_nl *nl, int type, const char *name)
{
	char msg[256], want[64];
	const char *short_name = name;

	if (nl->ext_miss_type == type)
		return true;
	norm_name(nl->ext_msg, msg, sizeof(msg));
	norm_name(name, want, sizeof(want));
	if (strstr(msg, want))
		return true;
	/* "AKM_A_ASR_ID" may be written as "ASR_ID" */
	if (!strncmp(want, "AKM_A_", 6))
		short_name = want + 6;
	else
		short_name = want;
	return strstr(msg, short_name) != NULL;
}

/* --- builders --- */

int akm_parse_addr(const char *s, struct akm_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, a->a) == 1) {
		a->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, a->a) == 1) {
		a->family = AF_INET6;
		return 0;
	}
	return -EINVAL;
}

int akm_put_addrs(struct nl_msg *msg, const char *const *addrs, int n)
{
	struct nlattr *nest = nla_nest_start(msg, AKM_A_MEMBER_ADDRS | NLA_F_NESTED);
	int i;

	if (!nest)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct akm_addr a;

		if (akm_parse_addr(addrs[i], &a))
			return -EINVAL;
		if (a.family == AF_INET)
			nla_put(msg, AKM_ADDR_A_IPV4, 4, a.a);
		else
			nla_put(msg, AKM_ADDR_A_IPV6, 16, a.a);
	}
	/* an empty nest means "no addresses": keep it */
	nla_nest_end_keep_empty(msg, nest);
	return 0;
}

int akm_put_addr_raw(struct nl_msg *msg, int type, const void *data, int len)
{
	struct nlattr *nest = nla_nest_start(msg, AKM_A_MEMBER_ADDRS | NLA_F_NESTED);

	if (!nest)
		return -ENOMEM;
	nla_put(msg, type, len, data);
	nla_nest_end(msg, nest);
	return 0;
}

void akm_material(uint8_t *buf, int len, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 0x9e3779b9u;
	int i;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (uint8_t)x;
	}
}

/* --- parsers --- */

static void parse_stats(struct nlattr *nest, struct akm_stats *s)
{
	struct nlattr *a;
	int rem;

	memset(s, 0, sizeof(*s));
	nla_for_each_nested(a, nest, rem) {
		int t = nla_type(a);

		if (t == AKM_STATS_A_PAD)
			continue;
		if (t <= 0 || t > AKM_STATS_A_MAX) {
			s->unknown++;
			continue;
		}
		if (nla_len(a) != 8) {
			s->unknown++;
			continue;
		}
		s->present[t] = true;
		s->v[t] = nla_get_u64(a);
	}
}

bool akm_stats_complete(const struct akm_stats *s)
{
	int t;

	for (t = AKM_STATS_A_TX_PACKETS; t <= AKM_STATS_A_MAX; t++)
		if (!s->present[t])
			return false;
	return s->unknown == 0;
}

bool akm_stats_zero(const struct akm_stats *s)
{
	int t;

	for (t = AKM_STATS_A_TX_PACKETS; t <= AKM_STATS_A_MAX; t++)
		if (s->v[t])
			return false;
	return true;
}

static int parse_top(struct nlmsghdr *nlh, struct nlattr **tb)
{
	return genlmsg_parse(nlh, 0, tb, AKM_A_MAX, NULL) ? -EPROTO : 0;
}

int akm_parse_node(struct nlmsghdr *nlh, struct akm_node_info *n)
{
	struct nlattr *tb[AKM_A_MAX + 1];

	memset(n, 0, sizeof(*n));
	if (parse_top(nlh, tb))
		return -EPROTO;
	if (tb[AKM_A_NODE_ID]) {
		n->has_node_id = true;
		n->node_id = nla_get_u32(tb[AKM_A_NODE_ID]);
	}
	if (tb[AKM_A_KEYRING]) {
		n->has_keyring = true;
		n->keyring = nla_get_u32(tb[AKM_A_KEYRING]);
	}
	if (tb[AKM_A_GENERATION]) {
		n->has_generation = true;
		n->generation = nla_get_u32(tb[AKM_A_GENERATION]);
	}
	if (tb[AKM_A_ASR_COUNT]) {
		n->has_asr_count = true;
		n->asr_count = nla_get_u32(tb[AKM_A_ASR_COUNT]);
	}
	if (tb[AKM_A_STATS]) {
		n->has_stats = true;
		parse_stats(tb[AKM_A_STATS], &n->stats);
	}
	return 0;
}

/* Addresses of a nest into out[0..max); returns their count (may exceed max). */
static int parse_addr_nest(struct nlattr *nest, struct akm_addr *out, int max)
{
	struct nlattr *a;
	int rem, n = 0;

	nla_for_each_nested(a, nest, rem) {
		struct akm_addr *ad;

		if (n >= max) {
			n++;
			continue;
		}
		ad = &out[n++];
		memset(ad, 0, sizeof(*ad));
		if (nla_type(a) == AKM_ADDR_A_IPV4 && nla_len(a) == 4) {
			ad->family = AF_INET;
			memcpy(ad->a, nla_data(a), 4);
		} else if (nla_type(a) == AKM_ADDR_A_IPV6 && nla_len(a) == 16) {
			ad->family = AF_INET6;
			memcpy(ad->a, nla_data(a), 16);
		} else {
			ad->family = -1;
		}
	}
	return n;
}

static void parse_addrs(struct nlattr *nest, struct akm_member_info *m)
{
	m->naddrs = parse_addr_nest(nest, m->addrs, AKM_MAX_ADDRS);
}

static void parse_key(struct nlattr *nest, struct akm_key_info *k)
{
	struct nlattr *a;
	int rem;

	memset(k, 0, sizeof(*k));
	nla_for_each_nested(a, nest, rem) {
		switch (nla_type(a)) {
		case AKM_KEY_A_EPOCH:
			k->has_epoch = true;
			k->epoch = nla_get_u32(a);
			break;
		case AKM_KEY_A_STATE:
			k->has_state = true;
			k->state = nla_get_u8(a);
			break;
		case AKM_KEY_A_SERIAL:
			k->has_serial = true;
			k->serial = (int32_t)nla_get_u32(a);
			break;
		case AKM_KEY_A_CREATED:
			k->has_created = true;
			k->created = nla_get_u64(a);
			break;
		case AKM_KEY_A_ACTIVATED:
			k->has_activated = true;
			k->activated = nla_get_u64(a);
			break;
		case AKM_KEY_A_TX_SEQ:
			k->has_tx_seq = true;
			k->tx_seq = nla_get_u64(a);
			break;
		}
	}
}

int akm_parse_asr(struct nlmsghdr *nlh, struct akm_asr_info *a)
{
	struct nlattr *attr;
	int rem;

	memset(a, 0, sizeof(*a));
	if (nlh->nlmsg_len < NLMSG_LENGTH(GENL_HDRLEN))
		return -EPROTO;
	nla_for_each_attr(attr, genlmsg_attrdata(genlmsg_hdr(nlh), 0),
			  genlmsg_attrlen(genlmsg_hdr(nlh), 0), rem) {
		switch (nla_type(attr)) {
		case AKM_A_ASR_ID:
			a->has_id = true;
			a->id = nla_get_u32(attr);
			break;
		case AKM_A_ASR_NAME:
			a->has_name = true;
			snprintf(a->name, sizeof(a->name), "%.*s", nla_len(attr),
				 (char *)nla_data(attr));
			break;
		case AKM_A_ASR_ALG:
			a->has_alg = true;
			a->alg = nla_get_u8(attr);
			break;
		case AKM_A_ASR_POLICY:
			a->has_policy = true;
			a->policy = nla_get_u8(attr);
			break;
		case AKM_A_MEMBER_COUNT:
			a->has_member_count = true;
			a->member_count = nla_get_u32(attr);
			break;
		case AKM_A_KEY:
			if (a->nkeys < AKM_MAX_KEYS)
				parse_key(attr, &a->keys[a->nkeys]);
			a->nkeys++;
			break;
		case AKM_A_KEY_MATERIAL:
			a->has_material = true;
			break;
		case AKM_A_ASR_GROUPS:
			a->ngroups = parse_addr_nest(attr, a->groups, AKM_MAX_ADDRS);
			break;
		case AKM_A_ASR_GRACE:
			a->has_grace = true;
			a->grace = nla_get_u32(attr);
			break;
		case AKM_A_ASR_LAST_EPOCH:
			a->has_last_epoch = true;
			a->last_epoch = nla_get_u32(attr);
			break;
		case AKM_A_STATS:
			a->has_stats = true;
			parse_stats(attr, &a->stats);
			break;
		}
	}
	return 0;
}


int akm_parse_member(struct nlmsghdr *nlh, struct akm_member_info *m)
{
	struct nlattr *tb[AKM_A_MAX + 1];

	memset(m, 0, sizeof(*m));
	if (parse_top(nlh, tb))
		return -EPROTO;
	if (tb[AKM_A_ASR_ID]) {
		m->has_asr_id = true;
		m->asr_id = nla_get_u32(tb[AKM_A_ASR_ID]);
	}
	if (tb[AKM_A_NODE_ID]) {
		m->has_node_id = true;
		m->node_id = nla_get_u32(tb[AKM_A_NODE_ID]);
	}
	if (tb[AKM_A_MEMBER_STATE]) {
		m->has_state = true;
		m->state = nla_get_u8(tb[AKM_A_MEMBER_STATE]);
	}
	if (tb[AKM_A_MEMBER_ADDRS]) {
		m->has_addrs = true;
		parse_addrs(tb[AKM_A_MEMBER_ADDRS], m);
	}
	if (tb[AKM_A_STATS]) {
		m->has_stats = true;
		parse_stats(tb[AKM_A_STATS], &m->stats);
	}
	return 0;
}

int akm_parse_stats_reply(struct nlmsghdr *nlh, struct akm_stats *s, bool *has)
{
	struct nlattr *tb[AKM_A_MAX + 1];

	memset(s, 0, sizeof(*s));
	*has = false;
	if (parse_top(nlh, tb))
		return -EPROTO;
	if (tb[AKM_A_STATS]) {
		*has = true;
		parse_stats(tb[AKM_A_STATS], s);
	}
	return 0;
}

int akm_parse_event(struct nlmsghdr *nlh, struct akm_event *e)
{
	struct nlattr *tb[AKM_A_MAX + 1];

	memset(e, 0, sizeof(*e));
	e->cmd = genlmsg_hdr(nlh)->cmd;
	e->len = nlh->nlmsg_len;
	if (parse_top(nlh, tb))
		return -EPROTO;
	if (tb[AKM_A_ASR_ID]) {
		e->has_asr_id = true;
		e->asr_id = nla_get_u32(tb[AKM_A_ASR_ID]);
	}
	if (tb[AKM_A_NODE_ID]) {
		e->has_node_id = true;
		e->node_id = nla_get_u32(tb[AKM_A_NODE_ID]);
	}
	if (tb[AKM_A_KEY_EPOCH]) {
		e->has_epoch = true;
		e->epoch = nla_get_u32(tb[AKM_A_KEY_EPOCH]);
	}
	if (tb[AKM_A_CRED_ID]) {
		e->has_cred_id = true;
		e->cred_id = nla_get_u32(tb[AKM_A_CRED_ID]);
	}
	if (tb[AKM_A_KEY_MATERIAL] || tb[AKM_A_KEY_WRAPPED])
		e->has_material = true;
	return 0;
}

const struct akm_key_info *akm_find_key(const struct akm_asr_info *a, uint32_t epoch)
{
	int i;

	for (i = 0; i < a->nkeys && i < AKM_MAX_KEYS; i++)
		if (a->keys[i].epoch == epoch)
			return &a->keys[i];
	return NULL;
}

bool akm_member_has_addr(const struct akm_member_info *m, const char *addr)
{
	struct akm_addr want;
	int i;

	if (akm_parse_addr(addr, &want))
		return false;
	for (i = 0; i < m->naddrs && i < AKM_MAX_ADDRS; i++) {
		if (m->addrs[i].family != want.family)
			continue;
		if (!memcmp(m->addrs[i].a, want.a, want.family == AF_INET ? 4 : 16))
			return true;
	}
	return false;
}

bool akm_addrs_match(const struct akm_addr *a, int n, const char *const *want, int nwant)
{
	int i, j;

	if (n != nwant || n > AKM_MAX_ADDRS)
		return false;
	for (i = 0; i < nwant; i++) {
		struct akm_addr w;

		if (akm_parse_addr(want[i], &w))
			return false;
		for (j = 0; j < n; j++)
			if (a[j].family == w.family &&
			    !memcmp(a[j].a, w.a, w.family == AF_INET ? 4 : 16))
				break;
		if (j == n)
			return false;
	}
	return true;
}

/* --- typed commands --- */

static int node_cb(struct nlmsghdr *nlh, void *arg)
{
	return akm_parse_node(nlh, arg);
}

int akm_node_get(struct akm_nl *nl, struct akm_node_info *n)
{
	memset(n, 0, sizeof(*n));
	return akm_do(nl, akm_msg(nl, AKM_CMD_NODE_GET, 0), node_cb, n);
}

int akm_node_set(struct akm_nl *nl, uint32_t node_id)
{
	struct nl_msg *msg = akm_msg(nl, AKM_CMD_NODE_SET, 0);

	nla_put_u32(msg, AKM_A_NODE_ID, node_id);
	return akm_do(nl, msg, NULL, NULL);
}

int akm_asr_new(struct akm_nl *nl, uint32_t id, int alg, const char *name, int policy)
{
	struct nl_msg *msg = akm_msg(nl, AKM_CMD_ASR_NEW, 0);

	nla_put_u32(msg, AKM_A_ASR_ID, id);
	nla_put_u8(msg, AKM_A_ASR_ALG, (uint8_t)alg);
	if (name)
		nla_put_string(msg, AKM_A_ASR_NAME, name);
	if (policy >= 0)
		nla_put_u8(msg, AKM_A_ASR_POLICY, (uint8_t)policy);
	return akm_do(nl, msg, NULL, NULL);
}

int akm_asr_set(struct akm_nl *nl, uint32_t id, const char *name, int policy)
{
	struct nl_msg *msg = akm_msg(nl, AKM_CMD_ASR_SET, 0);

	nla_put_u32(msg, AKM_A_ASR_ID, id);
	if (name)
		nla_put_string(msg, AKM_A_ASR_NAME, name);
	if (policy >= 0)
		nla_put_u8(msg, AKM_A_ASR_POLICY, (uint8_t)policy);
	return akm_do(nl, msg, NULL, NULL);
}

int akm_asr_del(struct akm_nl *nl, uint32_t id)
{
	struct nl_msg *msg = akm_msg(nl, AKM_CMD_ASR_DEL, 0);

	nla_put_u32(msg, AKM_A_ASR_ID, id);
	return akm_do(nl, msg, NULL, NULL);
}

static int asr_cb(struct nlmsghdr *nlh, void *arg)
{
	return akm_parse_asr(nlh, arg);
}

int akm_asr_get(struct akm_nl *nl, uint32_t id, struct akm_asr_info *a)
{
	struct nl_msg *msg = akm_msg(nl, AKM_CMD_ASR_GET, 0);

	memset(a, 0, sizeof(*a));
	nla_put_u32(msg, AKM_A_ASR_ID, id);
	return akm_do(nl, msg, asr_cb, a);
}

struct collect {
	void *out;
	int max, n;
	size_t size;
	int (*parse)(struct nlmsghdr *, void *);
};

static int collect_cb(struct nlmsghdr *nlh, void *arg)
{
	struct collect *c = arg;

	if (c->n < c->max) {
		int ret = c->parse(nlh, (char *)c->out + c->n * c->size);

		if (ret)
			return ret;
	}
	c->n++;
	return 0;
}

static int parse_asr_v(struct nlmsghdr *nlh, void *p)
{
	return akm_parse_asr(nlh, p);
}

static int parse_member_v(struct nlmsghdr *nlh, void *p)
{
	return akm_parse_member(nlh, p);
}

int akm_asr_dump(struct akm_nl *nl, struct akm_asr_info *out, int max, int *n,
		 struct akm_dump_res *res)
{
	struct collect c = { out, max, 0, sizeof(*out), parse_asr_v };
	int ret;

	ret = akm_dump(nl, akm_msg(nl, AKM_CMD_ASR_GET, 0), collect_cb, &c, res);
	*n = c.n;
	return ret;
}

static int member_msg(struct akm_nl *nl, int cmd, uint32_t asr, uint32_t node, int state,
		      const char *const *addrs, int naddrs)
{
	struct nl_msg *msg = akm_msg(nl, cmd, 0);

	nla_put_u32(msg, AKM_A_ASR_ID, asr);
	nla_put_u32(msg, AKM_A_NODE_ID, node);
	if (state >= 0)
		nla_put_u8(msg, AKM_A_MEMBER_STATE, (uint8_t)state);
	if (addrs && akm_put_addrs(msg, addrs, naddrs)) {
		nlmsg_free(msg);
		return -EINVAL;
	}
	return akm_do(nl, msg, NULL, NULL);
}

int akm_member_new(struct akm_nl *nl, uint32_t asr, uint32_t node, int state,
		   const char *const *addrs, int naddrs)
{
	return member_msg(nl, AKM_CMD_MEMBER_NEW, asr, node, state, addrs, naddrs);
}

int akm_member_set(struct akm_nl *nl, uint32_t asr, uint32_t node, int state,
		   const char *const *addrs, int naddrs)
{
	return member_msg(nl, AKM_CMD_MEMBER_SET, asr, node, state, addrs, naddrs);
}

int akm_member_del(struct akm_nl *nl, uint32_t asr, uint32_t node)
{
	struct nl_msg *msg = akm_msg(nl, AKM_CMD_MEMBER_DEL, 0);

	nla_put_u32(msg, AKM_A_ASR_ID, asr);
	nla_put_u32(msg, AKM_A_NODE_ID, node);
	return akm_do(nl, msg, NULL, NULL);
}

static int member_cb(struct nlmsghdr *nlh, void *arg)
{
	return akm_parse_member(nlh, arg);
}

int akm_member_get(struct akm_nl *nl, uint32_t asr, uint32_t node, struct akm_member_info *m)
{
	struct nl_msg *msg = akm_msg(nl, AKM_CMD_MEMBER_GET, 0);

	memset(m, 0, sizeof(*m));
	nla_put_u32(msg, AKM_A_ASR_ID, asr);
	nla_put_u32(msg, AKM_A_NODE_ID, node);
	return akm_do(nl, msg, member_cb, m);
}

int akm_member_dump(struct akm_nl *nl, uint32_t asr, struct akm_member_info *out, int max,
		    int *n, struct akm_dump_res *res)
{
	struct collect c = { out, max, 0, sizeof(*out), parse_member_v };
	struct nl_msg *msg = akm_msg(nl, AKM_CMD_MEMBER_GET, 0);
	int ret;

	if (asr)
		nla_put_u32(msg, AKM_A_ASR_ID, asr);
	ret = akm_dump(nl, msg, collect_cb, &c, res);
	*n = c.n;
	return ret;
}

int akm_key_install(struct akm_nl *nl, uint32_t asr, uint32_t epoch,
		    const uint8_t *material, int len)
{
	struct nl_msg *msg = akm_msg(nl, AKM_CMD_KEY_INSTALL, 0);

	nla_put_u32(msg, AKM_A_ASR_ID, asr);
	nla_put_u32(msg, AKM_A_KEY_EPOCH, epoch);
	nla_put(msg, AKM_A_KEY_MATERIAL, len, material);
	return akm_do(nl, msg, NULL, NULL);
}

static int key_cmd(struct akm_nl *nl, int cmd, uint32_t asr, uint32_t epoch)
{
	struct nl_msg *msg = akm_msg(nl, cmd, 0);

	nla_put_u32(msg, AKM_A_ASR_ID, asr);
	nla_put_u32(msg, AKM_A_KEY_EPOCH, epoch);
	return akm_do(nl, msg, NULL, NULL);
}

int akm_key_activate(struct akm_nl *nl, uint32_t asr, uint32_t epoch)
{
	return key_cmd(nl, AKM_CMD_KEY_ACTIVATE, asr, epoch);
}

int akm_key_retire(struct akm_nl *nl, uint32_t asr, uint32_t epoch)
{
	return key_cmd(nl, AKM_CMD_KEY_RETIRE, asr, epoch);
}

struct stats_arg {
	struct akm_stats *s;
	bool has;
	int replies;
};

static int stats_cb(struct nlmsghdr *nlh, void *arg)
{
	struct stats_arg *sa = arg;

	sa->replies++;
	return akm_parse_stats_reply(nlh, sa->s, &sa->has);
}

int akm_stats_get(struct akm_nl *nl, uint32_t asr, uint32_t node, struct akm_stats *s)
{
	struct nl_msg *msg = akm_msg(nl, AKM_CMD_STATS_GET, 0);
	struct stats_arg sa = { s, false, 0 };
	int ret;

	memset(s, 0, sizeof(*s));
	if (asr)
		nla_put_u32(msg, AKM_A_ASR_ID, asr);
	if (node)
		nla_put_u32(msg, AKM_A_NODE_ID, node);
	ret = akm_do(nl, msg, stats_cb, &sa);
	if (!ret && (!sa.replies || !sa.has))
		return -ENODATA;
	return ret;
}

int akm_stats_reset(struct akm_nl *nl, uint32_t asr, uint32_t node)
{
	struct nl_msg *msg = akm_msg(nl, AKM_CMD_STATS_RESET, 0);

	if (asr)
		nla_put_u32(msg, AKM_A_ASR_ID, asr);
	if (node)
		nla_put_u32(msg, AKM_A_NODE_ID, node);
	return akm_do(nl, msg, NULL, NULL);
}

/* --- environment --- */

int akm_new_netns(void)
{
	return unshare(CLONE_NEWNET) ? -errno : 0;
}

unsigned long akm_netns_inode(void)
{
	struct stat st;

	if (stat("/proc/self/ns/net", &st))
		return 0;
	return st.st_ino;
}

bool akm_proc_keys_line(int32_t serial, char *line, size_t len)
{
	char buf[512], want[16];
	bool found = false;
	FILE *f = fopen("/proc/keys", "r");

	if (!f)
		return false;
	snprintf(want, sizeof(want), "%08x ", (uint32_t)serial);
	while (fgets(buf, sizeof(buf), f)) {
		if (!strncmp(buf, want, strlen(want))) {
			if (line)
				snprintf(line, len, "%s", buf);
			found = true;
			break;
		}
	}
	fclose(f);
	return found;
}

bool akm_keyring_contains(int32_t keyring, int32_t serial)
{
	key_serial_t ids[4096];
	long n = keyctl_read(keyring, (char *)ids, sizeof(ids));
	long i;

	if (n < 0)
		return false;
	if (n > (long)sizeof(ids))
		n = sizeof(ids);
	for (i = 0; i < n / (long)sizeof(key_serial_t); i++)
		if (ids[i] == serial)
			return true;
	return false;
}

bool akm_key_live(int32_t serial)
{
	char line[512], flags[16];

	if (!akm_proc_keys_line(serial, line, sizeof(line)) ||
	    sscanf(line, "%*x %15s", flags) != 1)
		return false;
	/* IRDQUNi: instantiated, revoked, dead, ..., invalidated */
	return flags[0] == 'I' && !strpbrk(flags, "RDi");
}

int akm_keyring_live_keys(int32_t keyring)
{
	key_serial_t ids[4096];
	long n = keyctl_read(keyring, (char *)ids, sizeof(ids));
	int i, live = 0;

	if (n < 0)
		return -errno;
	if (n > (long)sizeof(ids))
		return -E2BIG;
	for (i = 0; i < n / (long)sizeof(key_serial_t); i++)
		live += akm_key_live(ids[i]);
	return live;
}

bool akm_keyring_drops(int32_t keyring, int32_t serial, int timeout_ms)
{
	long long end = akm_now_ms() + timeout_ms;

	while (akm_keyring_contains(keyring, serial)) {
		if (akm_now_ms() > end)
			return false;
		usleep(20000);
	}
	return true;
}
