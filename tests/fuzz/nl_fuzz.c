// SPDX-License-Identifier: GPL-2.0
/*
 * Netlink fuzzer for the akm generic netlink family; runs in the test VM as
 * root with akm.ko loaded (tests/fuzz/nl_fuzz.sh wraps it).
 *
 *   nl_fuzz [-n MESSAGES] [-s SEED] [-k NETNS] [-c CHURN] [-v]
 *
 * Sends MESSAGES requests (default 100000) spread over NETNS network
 * namespaces (default 3) through raw netlink sockets: well-formed requests
 * from a small id space (so that sequences of valid operations build and
 * tear down real state: ASRs, members, keys, credentials), and mutations of
 * them: missing, extra, duplicated, wrong-type, short, oversized, truncated
 * and nested-garbage attributes, random commands, flags and versions, and
 * truncated messages. Every CHURN messages (default 20000, 0: never) one
 * namespace is replaced while it holds state. Every request is acked; a
 * request without an answer within 5 s counts as lost.
 *
 * Every 10000 messages and at the end it checks that each namespace is
 * consistent: NODE_GET works, the ASR and member dumps complete without
 * error, the ASR count matches NODE_GET's and every ASR's member count
 * matches the member dump. Exit status: 0 when consistent and nothing was
 * lost, 1 otherwise; the figures (messages, seconds, messages/s, errors by
 * errno) go to stdout.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include <linux/akm.h>

#define BUF		65536
#define MSG_MAX		16384	/* largest request built */
#define MAX_NS		16
#define N_IDS		6	/* ASR, node, epoch and credential ids 1..N_IDS */

static uint64_t rng;
static bool verbose, dry_run;

static bool akm_cmd_is_event(int cmd)
{
	return cmd == AKM_CMD_KEY_REVOKED || cmd == AKM_CMD_AUTH_FAILURE;
}

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint32_t rn(uint32_t n)
{
	return n ? (uint32_t)(rnd() % n) : 0;
}

struct ns {
	int fd;			/* raw NETLINK_GENERIC socket in that netns */
	int nsfd;		/* /proc/self/ns/net of it */
	uint32_t seq;
};

static struct ns nss[MAX_NS];
static int n_ns = 3;
static int family;
static unsigned long long sent, acked_ok, lost, errs[4096];
static unsigned long long by_cmd_ok[AKM_CMD_MAX + 8];
static unsigned long long dumps, replaced;

/* ---------- message building ---------- */

struct msg {
	unsigned char b[BUF];
	size_t len;
	size_t nest[8];
	int depth;
};

static void *msg_start(struct msg *m, int cmd, int flags, int version)
{
	struct nlmsghdr *nlh = (void *)m->b;
	struct genlmsghdr *g = (void *)(m->b + NLMSG_HDRLEN);

	memset(m->b, 0, NLMSG_HDRLEN + GENL_HDRLEN);
	nlh->nlmsg_type = family;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	g->cmd = cmd;
	g->version = version;
	m->len = NLMSG_HDRLEN + GENL_HDRLEN;
	m->depth = 0;
	return nlh;
}

static bool room(struct msg *m, size_t n)
{
	return m->len + NLA_HDRLEN + NLA_ALIGN(n) + 64 < MSG_MAX;
}

static void put(struct msg *m, int type, const void *data, size_t n)
{
	struct nlattr *a;

	if (!room(m, n))
		return;
	while (m->len % NLA_ALIGNTO)	/* after a truncation */
		m->b[m->len++] = 0;
	a = (void *)(m->b + m->len);
	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + n;
	if (n)
		memcpy(m->b + m->len + NLA_HDRLEN, data, n);
	memset(m->b + m->len + NLA_HDRLEN + n, 0, NLA_ALIGN(n) - n);
	m->len += NLA_HDRLEN + NLA_ALIGN(n);
}

static void put_u32(struct msg *m, int type, uint32_t v)
{
	put(m, type, &v, 4);
}

static void put_u8(struct msg *m, int type, uint8_t v)
{
	put(m, type, &v, 1);
}

static bool nest_start(struct msg *m, int type)
{
	if (m->depth >= 8 || !room(m, 0))
		return false;
	m->len = NLA_ALIGN(m->len);
	m->nest[m->depth++] = m->len;
	put(m, type | NLA_F_NESTED, NULL, 0);
	return true;
}

static void nest_end(struct msg *m)
{
	struct nlattr *a;

	if (!m->depth)
		return;
	a = (void *)(m->b + m->nest[--m->depth]);
	a->nla_len = m->len - m->nest[m->depth];
}

static void rand_bytes(void *p, size_t n)
{
	unsigned char *c = p;

	while (n--)
		*c++ = rnd();
}

static uint32_t some_id(void)
{
	/* mostly the small id space, sometimes the edges */
	switch (rn(16)) {
	case 0: return 0;
	case 1: return UINT32_MAX;
	case 2: return (uint32_t)rnd();
	default: return 1 + rn(N_IDS);
	}
}

static void put_addrs(struct msg *m, int type, bool mcast)
{
	int i, n = rn(12);

	if (!nest_start(m, type))
		return;
	for (i = 0; i < n; i++) {
		unsigned char a[16] = { 0 };

		if (rn(2)) {
			a[0] = mcast ? 239 : 10;
			a[3] = 1 + rn(N_IDS);
			put(m, AKM_ADDR_A_IPV4, a, 4);
		} else {
			a[0] = mcast ? 0xff : 0xfd;
			a[1] = mcast ? 0x0e : 0;
			a[15] = 1 + rn(N_IDS);
			put(m, AKM_ADDR_A_IPV6, a, 16);
		}
	}
	nest_end(m);
}

/* A request that the kernel should take (given the right state). */
static int build_valid(struct msg *m)
{
	int cmd = 1 + rn(AKM_CMD_MAX);
	int flags = 0;
	unsigned char key[AKM_KEY_LEN], wrapped[AKM_WRAPPED_LEN], data[256];
	char name[AKM_NAME_MAX];

	if (akm_cmd_is_event(cmd))
		cmd = AKM_CMD_ASR_NEW;
	if ((cmd == AKM_CMD_ASR_GET || cmd == AKM_CMD_MEMBER_GET ||
	     cmd == AKM_CMD_CRED_GET) && rn(2))
		flags = NLM_F_DUMP;
	msg_start(m, cmd, flags, AKM_GENL_VERSION);
	switch (cmd) {
	case AKM_CMD_NODE_SET:
		put_u32(m, AKM_A_NODE_ID, 1 + rn(N_IDS));
		break;
	case AKM_CMD_ASR_NEW:
	case AKM_CMD_ASR_SET:
		put_u32(m, AKM_A_ASR_ID, 1 + rn(N_IDS));
		if (cmd == AKM_CMD_ASR_NEW)
			put_u8(m, AKM_A_ASR_ALG, 1 + rn(AKM_ALG_MAX));
		if (rn(2)) {
			snprintf(name, sizeof(name), "asr-%u", rn(1000));
			put(m, AKM_A_ASR_NAME, name, strlen(name) + 1);
		}
		if (rn(2))
			put_u8(m, AKM_A_ASR_POLICY, rn(AKM_POLICY_MAX + 1));
		if (rn(3) == 0)
			put_u32(m, AKM_A_ASR_GRACE, rn(100));
		if (rn(3) == 0)
			put_addrs(m, AKM_A_ASR_GROUPS, true);
		break;
	case AKM_CMD_ASR_DEL:
		put_u32(m, AKM_A_ASR_ID, 1 + rn(N_IDS));
		break;
	case AKM_CMD_ASR_GET:
		if (!flags)
			put_u32(m, AKM_A_ASR_ID, 1 + rn(N_IDS));
		break;
	case AKM_CMD_MEMBER_NEW:
	case AKM_CMD_MEMBER_SET:
		put_u32(m, AKM_A_ASR_ID, 1 + rn(N_IDS));
		put_u32(m, AKM_A_NODE_ID, 1 + rn(N_IDS));
		if (rn(2))
			put_u8(m, AKM_A_MEMBER_STATE, rn(AKM_MEMBER_STATE_MAX + 1));
		if (rn(2))
			put_addrs(m, AKM_A_MEMBER_ADDRS, false);
		break;
	case AKM_CMD_MEMBER_DEL:
	case AKM_CMD_MEMBER_GET:
		if (!flags || rn(2))
			put_u32(m, AKM_A_ASR_ID, 1 + rn(N_IDS));
		if (!flags)
			put_u32(m, AKM_A_NODE_ID, 1 + rn(N_IDS));
		break;
	case AKM_CMD_KEY_INSTALL:
		put_u32(m, AKM_A_ASR_ID, 1 + rn(N_IDS));
		put_u32(m, AKM_A_KEY_EPOCH, 1 + rn(N_IDS));
		switch (rn(4)) {
		case 0:
			put_u32(m, AKM_A_CRED_ID, 1 + rn(N_IDS));
			rand_bytes(wrapped, sizeof(wrapped));
			put(m, AKM_A_KEY_WRAPPED, wrapped, sizeof(wrapped));
			break;
		case 1:
			put_u32(m, AKM_A_CRED_ID, 1 + rn(N_IDS));
			break;
		default:
			rand_bytes(key, sizeof(key));
			put(m, AKM_A_KEY_MATERIAL, key, sizeof(key));
		}
		break;
	case AKM_CMD_KEY_ACTIVATE:
	case AKM_CMD_KEY_RETIRE:
		put_u32(m, AKM_A_ASR_ID, 1 + rn(N_IDS));
		put_u32(m, AKM_A_KEY_EPOCH, 1 + rn(N_IDS));
		break;
	case AKM_CMD_STATS_GET:
	case AKM_CMD_STATS_RESET:
		if (rn(3)) {
			put_u32(m, AKM_A_ASR_ID, 1 + rn(N_IDS));
			if (rn(2))
				put_u32(m, AKM_A_NODE_ID, 1 + rn(N_IDS));
		}
		break;
	case AKM_CMD_CRED_INSTALL:
		put_u32(m, AKM_A_CRED_ID, 1 + rn(N_IDS));
		rand_bytes(key, sizeof(key));
		put(m, AKM_A_KEY_MATERIAL, key, sizeof(key));
		break;
	case AKM_CMD_CRED_DEL:
	case AKM_CMD_CRED_GET:
		if (!flags)
			put_u32(m, AKM_A_CRED_ID, 1 + rn(N_IDS));
		break;
	case AKM_CMD_CRED_PROVE: {
		size_t n = rn(sizeof(data) + 1);

		put_u32(m, AKM_A_CRED_ID, 1 + rn(N_IDS));
		rand_bytes(data, n);
		put(m, AKM_A_PROOF_DATA, data, n);
		break;
	}
	default:
		break;
	}
	return cmd;
}

/* An attribute of any type with a payload of any (mostly wrong) shape. */
static void put_garbage(struct msg *m, int depth)
{
	unsigned char data[2048];
	int type = rn(4) ? rn(AKM_A_MAX + 3) : (int)(rnd() & 0x7fff);
	size_t n;

	switch (rn(8)) {
	case 0: n = 0; break;
	case 1: n = 1; break;
	case 2: n = 2; break;
	case 3: n = 4; break;
	case 4: n = 8; break;
	case 5: n = AKM_KEY_LEN + rn(3) - 1; break;
	case 6: n = rn(sizeof(data)); break;
	default: n = rn(40); break;
	}
	if (depth < 6 && rn(4) == 0) {	/* nested garbage */
		int i, k = rn(5);

		if (!nest_start(m, type))
			return;
		for (i = 0; i < k; i++)
			put_garbage(m, depth + 1);
		nest_end(m);
		return;
	}
	if (rn(2) && n >= 4) {	/* plausible values: ids, 0, max */
		uint32_t v = some_id();

		memcpy(data, &v, 4);
		rand_bytes(data + 4, n - 4);
	} else {
		rand_bytes(data, n);
	}
	if (type == AKM_A_ASR_NAME && n && rn(2))
		data[n - 1] = 0;
	put(m, type | (rn(8) == 0 ? NLA_F_NESTED : 0), data, n);
}

/* Rewrite one attribute of @m in place (length, type or payload). */
static void mutate_attr(struct msg *m)
{
	size_t off = NLMSG_HDRLEN + GENL_HDRLEN, pick;
	int n = 0;

	for (pick = off; pick + NLA_HDRLEN <= m->len;) {
		struct nlattr *a = (void *)(m->b + pick);

		if (a->nla_len < NLA_HDRLEN || pick + NLA_ALIGN(a->nla_len) > m->len)
			break;
		n++;
		pick += NLA_ALIGN(a->nla_len);
	}
	if (!n)
		return;
	n = rn(n);
	for (pick = off; n--;)
		pick += NLA_ALIGN(((struct nlattr *)(m->b + pick))->nla_len);
	{
		struct nlattr *a = (void *)(m->b + pick);
		size_t plen = a->nla_len - NLA_HDRLEN;

		switch (rn(6)) {
		case 0:	/* shorter: the rest becomes garbage attributes */
			if (plen)
				a->nla_len -= 1 + rn(plen);
			break;
		case 1:	/* claims to be longer than it is */
			a->nla_len += 1 + rn(64);
			break;
		case 2:
			a->nla_type = rn(AKM_A_MAX + 3) | (rn(4) ? 0 : NLA_F_NESTED);
			break;
		case 3:
			a->nla_type ^= NLA_F_NESTED | (rn(2) ? NLA_F_NET_BYTEORDER : 0);
			break;
		case 4:	/* flip payload bytes */
			if (plen) {
				int k = 1 + rn(4);

				while (k--)
					m->b[pick + NLA_HDRLEN + rn(plen)] ^= 1 << rn(8);
			}
			break;
		default: {	/* drop it */
			size_t alen = NLA_ALIGN(a->nla_len);

			memmove(m->b + pick, m->b + pick + alen, m->len - pick - alen);
			m->len -= alen;
			break;
		}
		}
	}
}

static int build_mutated(struct msg *m)
{
	struct nlmsghdr *nlh = (void *)m->b;
	struct genlmsghdr *g = (void *)(m->b + NLMSG_HDRLEN);
	int i, k, cmd = build_valid(m);

	k = 1 + rn(3);
	for (i = 0; i < k; i++) {
		switch (rn(9)) {
		case 0:
		case 1:
		case 2:
			mutate_attr(m);
			break;
		case 3:
		case 4:	/* extra attributes, valid types or not */
			put_garbage(m, 0);
			break;
		case 5:	/* a duplicate of a valid attribute */
			if (m->len > NLMSG_HDRLEN + GENL_HDRLEN) {
				struct nlattr *a = (void *)(m->b + NLMSG_HDRLEN + GENL_HDRLEN);

				if (a->nla_len >= NLA_HDRLEN &&
				    NLMSG_HDRLEN + GENL_HDRLEN + a->nla_len <= m->len)
					put(m, a->nla_type, (char *)a + NLA_HDRLEN,
					    a->nla_len - NLA_HDRLEN);
			}
			break;
		case 6:	/* another command with these attributes */
			cmd = rn(AKM_CMD_MAX + 4);
			g->cmd = cmd;
			break;
		case 7:	/* flags and version */
			if (rn(2))
				nlh->nlmsg_flags ^= NLM_F_DUMP;
			else
				g->version = rn(4);
			break;
		default:	/* truncated: anywhere after the netlink header */
			if (m->len > NLMSG_HDRLEN)
				m->len = NLMSG_HDRLEN + rn(m->len - NLMSG_HDRLEN);
			break;
		}
	}
	return g->cmd;
}

/* ---------- sending and receiving ---------- */

static unsigned char rxb[1 << 20];

/*
 * Send @m and read until its ACK / NLMSG_DONE / error. @cb sees every
 * reply. Returns 0 or -errno from the kernel, or 1 if no answer came.
 */
static int xfer(struct ns *ns, struct msg *m,
		void (*cb)(struct nlmsghdr *, void *), void *arg)
{
	struct nlmsghdr *nlh = (void *)m->b;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	uint32_t seq = ++ns->seq;
	bool dump = (nlh->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
	int res = 0;

	nlh->nlmsg_len = m->len;
	nlh->nlmsg_seq = seq;
	if (dry_run) {	/* -D: only build messages (to test the generator) */
		if (m->len < NLMSG_HDRLEN || m->len > MSG_MAX) {
			fprintf(stderr, "nl_fuzz: built a %zu-byte message\n", m->len);
			abort();
		}
		sent++;
		return 0;
	}
	if (sendto(ns->fd, m->b, m->len, 0, (void *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "nl_fuzz: sendto (%zu bytes): %s\n", m->len, strerror(errno));
		exit(1);
	}
	sent++;
	for (;;) {
		struct pollfd p = { .fd = ns->fd, .events = POLLIN };
		ssize_t r;
		struct nlmsghdr *h;

		if (poll(&p, 1, 5000) <= 0)
			return 1;
		r = recv(ns->fd, rxb, sizeof(rxb), MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			fprintf(stderr, "nl_fuzz: recv: %s\n", strerror(errno));
			return -errno;
		}
		for (h = (void *)rxb; NLMSG_OK(h, (size_t)r); h = NLMSG_NEXT(h, r)) {
			if (h->nlmsg_seq != seq)
				continue;	/* a late answer to a lost request */
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);

				/* a dump that failed to start: error, then no ACK */
				if (!dump || e->error)
					return e->error;
				/* the ACK after NLMSG_DONE */
				return res;
			}
			if (h->nlmsg_type == NLMSG_DONE) {
				res = *(int *)NLMSG_DATA(h);
				/* with NLM_F_ACK a dump ends with DONE, then an ACK on
				 * newer kernels only: stop at DONE either way
				 */
				return res;
			}
			if (cb)
				cb(h, arg);
		}
	}
}

/* ---------- consistency ---------- */

struct census {
	int asrs, members;
	uint32_t asr_count;	/* NODE_GET */
	uint32_t member_count[N_IDS * 64];	/* by ASR id, from ASR dump */
	uint32_t asr_ids[AKM_ASRS_MAX + 1];
	int members_of[N_IDS * 64];		/* from the member dump */
	bool bad;
};

static struct nlattr *attr(struct nlmsghdr *h, int type)
{
	int len = h->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN;
	struct nlattr *a = (void *)((char *)NLMSG_DATA(h) + GENL_HDRLEN);

	for (; len >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= len;
	     len -= NLA_ALIGN(a->nla_len), a = (void *)((char *)a + NLA_ALIGN(a->nla_len)))
		if ((a->nla_type & NLA_TYPE_MASK) == type)
			return a;
	return NULL;
}

static uint32_t a_u32(struct nlattr *a)
{
	uint32_t v;

	memcpy(&v, (char *)a + NLA_HDRLEN, 4);
	return v;
}

static void node_cb(struct nlmsghdr *h, void *arg)
{
	struct census *c = arg;
	struct nlattr *a = attr(h, AKM_A_ASR_COUNT);

	if (a)
		c->asr_count = a_u32(a);
	else
		c->bad = true;
}

static void asr_cb(struct nlmsghdr *h, void *arg)
{
	struct census *c = arg;
	struct nlattr *id = attr(h, AKM_A_ASR_ID), *mc = attr(h, AKM_A_MEMBER_COUNT);

	if (!id || !mc || attr(h, AKM_A_KEY_MATERIAL)) {
		c->bad = true;
		fprintf(stderr, "nl_fuzz: ASR dump entry without id/member count, or with key material\n");
		return;
	}
	if (a_u32(id) < N_IDS * 64)
		c->member_count[a_u32(id)] = a_u32(mc);
	c->asrs++;
}

static void member_cb(struct nlmsghdr *h, void *arg)
{
	struct census *c = arg;
	struct nlattr *id = attr(h, AKM_A_ASR_ID);

	if (!id || !attr(h, AKM_A_NODE_ID)) {
		c->bad = true;
		return;
	}
	if (a_u32(id) < N_IDS * 64)
		c->members_of[a_u32(id)]++;
	c->members++;
}

static bool consistent(int i, bool report)
{
	static struct census c;
	static struct msg m;
	int r, id;

	memset(&c, 0, sizeof(c));
	msg_start(&m, AKM_CMD_NODE_GET, 0, AKM_GENL_VERSION);
	r = xfer(&nss[i], &m, node_cb, &c);
	if (r) {
		fprintf(stderr, "nl_fuzz: ns %d: NODE_GET: %d\n", i, r);
		return false;
	}
	msg_start(&m, AKM_CMD_ASR_GET, NLM_F_DUMP, AKM_GENL_VERSION);
	r = xfer(&nss[i], &m, asr_cb, &c);
	if (r) {
		fprintf(stderr, "nl_fuzz: ns %d: ASR dump: %d\n", i, r);
		return false;
	}
	msg_start(&m, AKM_CMD_MEMBER_GET, NLM_F_DUMP, AKM_GENL_VERSION);
	r = xfer(&nss[i], &m, member_cb, &c);
	if (r) {
		fprintf(stderr, "nl_fuzz: ns %d: member dump: %d\n", i, r);
		return false;
	}
	dumps += 2;
	if (c.bad)
		return false;
	if ((uint32_t)c.asrs != c.asr_count) {
		fprintf(stderr, "nl_fuzz: ns %d: %d ASRs dumped, NODE_GET says %u\n",
			i, c.asrs, c.asr_count);
		return false;
	}
	for (id = 0; id < N_IDS * 64; id++)
		if ((int)c.member_count[id] != c.members_of[id]) {
			fprintf(stderr, "nl_fuzz: ns %d: ASR %d: member count %u, %d dumped\n",
				i, id, c.member_count[id], c.members_of[id]);
			return false;
		}
	if (report)
		printf("nl_fuzz: ns %d: %d ASRs, %d members\n", i, c.asrs, c.members);
	return true;
}

/* ---------- namespaces ---------- */

static int resolve_family(int fd)
{
	struct {
		struct nlmsghdr h;
		struct genlmsghdr g;
		char buf[1024];
	} req;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct nlattr *a;
	ssize_t r;
	struct nlmsghdr *h;

	memset(&req, 0, sizeof(req));
	req.h.nlmsg_type = GENL_ID_CTRL;
	req.h.nlmsg_flags = NLM_F_REQUEST;
	req.g.cmd = CTRL_CMD_GETFAMILY;
	req.g.version = 1;
	a = (void *)req.buf;
	a->nla_type = CTRL_ATTR_FAMILY_NAME;
	a->nla_len = NLA_HDRLEN + sizeof(AKM_GENL_NAME);
	memcpy((char *)a + NLA_HDRLEN, AKM_GENL_NAME, sizeof(AKM_GENL_NAME));
	req.h.nlmsg_len = NLMSG_HDRLEN + GENL_HDRLEN + NLA_ALIGN(a->nla_len);
	if (sendto(fd, &req, req.h.nlmsg_len, 0, (void *)&sa, sizeof(sa)) < 0)
		return -1;
	r = recv(fd, rxb, sizeof(rxb), 0);
	for (h = (void *)rxb; NLMSG_OK(h, (size_t)r); h = NLMSG_NEXT(h, r)) {
		if (h->nlmsg_type == NLMSG_ERROR)
			return -1;
		a = attr(h, CTRL_ATTR_FAMILY_ID);
		if (a)
			return *(uint16_t *)((char *)a + NLA_HDRLEN);
	}
	return -1;
}

static void ns_open(int i, int home)
{
	int one = 1, sz = 4 << 20;

	if (unshare(CLONE_NEWNET)) {
		perror("nl_fuzz: unshare(CLONE_NEWNET)");
		exit(1);
	}
	nss[i].nsfd = open("/proc/self/ns/net", O_RDONLY);
	nss[i].fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (nss[i].fd < 0 || nss[i].nsfd < 0) {
		perror("nl_fuzz: socket");
		exit(1);
	}
	setsockopt(nss[i].fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz));
	setsockopt(nss[i].fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(nss[i].fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	family = resolve_family(nss[i].fd);
	if (family < 0) {
		fprintf(stderr, "nl_fuzz: no \"%s\" genl family (akm.ko loaded?)\n", AKM_GENL_NAME);
		exit(1);
	}
	if (setns(home, CLONE_NEWNET)) {
		perror("nl_fuzz: setns");
		exit(1);
	}
}

static void ns_close(int i)
{
	close(nss[i].fd);
	close(nss[i].nsfd);
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	unsigned long long n = 100000, i, churn = 20000;
	static struct msg m;
	int opt, home, k, bad = 0;
	uint64_t seed = 0;
	double t0, t;

	while ((opt = getopt(argc, argv, "n:s:k:c:vD")) != -1) {
		switch (opt) {
		case 'n': n = strtoull(optarg, NULL, 0); break;
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'k': n_ns = atoi(optarg); break;
		case 'c': churn = strtoull(optarg, NULL, 0); break;
		case 'v': verbose = true; break;
		case 'D': dry_run = true; break;
		default:
			fprintf(stderr, "usage: %s [-n MESSAGES] [-s SEED] [-k NETNS] [-c CHURN] [-v]\n",
				argv[0]);
			return 2;
		}
	}
	if (n_ns < 1 || n_ns > MAX_NS)
		n_ns = 3;
	if (!seed)
		seed = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
	rng = seed;	/* never 0: xorshift would stay 0 */
	printf("nl_fuzz: %llu messages, seed %llu, %d namespaces, churn every %llu\n",
	       n, (unsigned long long)seed, n_ns, churn);
	fflush(stdout);
	home = open("/proc/self/ns/net", O_RDONLY);
	for (k = 0; k < n_ns && !dry_run; k++)
		ns_open(k, home);

	t0 = now();
	for (i = 1; i <= n; i++) {
		struct ns *ns = &nss[rn(n_ns)];
		int cmd, r;

		cmd = rn(10) < 4 ? build_valid(&m) : build_mutated(&m);
		r = xfer(ns, &m, NULL, NULL);
		if (r == 1) {
			lost++;
			if (verbose) {
				size_t b;

				fprintf(stderr, "nl_fuzz: no answer to cmd %d (%zu bytes):", cmd, m.len);
				for (b = 0; b < m.len && b < 256; b++)
					fprintf(stderr, " %02x", m.b[b]);
				fprintf(stderr, "\n");
			}
		} else if (r == 0) {
			acked_ok++;
			if (cmd >= 0 && cmd < (int)(sizeof(by_cmd_ok) / sizeof(by_cmd_ok[0])))
				by_cmd_ok[cmd]++;
		} else if (-r < 4096) {
			errs[-r]++;
		}
		if (dry_run)
			continue;
		if (churn && i % churn == 0) {
			k = rn(n_ns);
			ns_close(k);
			ns_open(k, home);
			replaced++;
		}
		if (i % 10000 == 0) {
			for (k = 0; k < n_ns; k++)
				if (!consistent(k, false)) {
					fprintf(stderr, "nl_fuzz: inconsistent after %llu messages\n", i);
					bad = 1;
				}
			if (verbose) {
				t = now() - t0;
				fprintf(stderr, "nl_fuzz: %llu messages, %.0f/s\n", i, i / t);
			}
			if (bad)
				break;
		}
	}
	t = now() - t0;
	for (k = 0; k < n_ns && !dry_run; k++)
		if (!consistent(k, true))
			bad = 1;
	printf("nl_fuzz: %llu messages in %.1f s: %.0f messages/s; %llu ok, %llu lost, "
	       "%llu namespaces replaced, %llu consistency dumps\n",
	       sent, t, sent / t, acked_ok, lost, replaced, dumps);
	printf("nl_fuzz: ok by command:");
	for (k = 0; k < (int)(sizeof(by_cmd_ok) / sizeof(by_cmd_ok[0])); k++)
		if (by_cmd_ok[k])
			printf(" %d:%llu", k, by_cmd_ok[k]);
	printf("\nnl_fuzz: errors:");
	for (k = 0; k < 4096; k++)
		if (errs[k])
			printf(" %s:%llu", strerrorname_np(k) ?: "?", errs[k]);
	printf("\n");
	for (k = 0; k < n_ns && !dry_run; k++)
		ns_close(k);
	if (lost)
		bad = 1;
	printf("nl_fuzz: %s\n", bad ? "FAILED" : "ok");
	return bad;
}
