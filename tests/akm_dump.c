// SPDX-License-Identifier: GPL-2.0
/*
 * AKM dumps: ASR_GET and MEMBER_GET with NLM_F_DUMP over more objects than
 * fit in one message, exact counts, ordering, the ASR filter and
 * NLM_F_DUMP_INTR when the generation changes during a dump.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "akm_test_lib.h"

AKM_FIXTURE(dump);

/* Create ASRs 1..n in a scrambled order; every third one has a name. */
static int make_asrs(struct akm_nl *nl, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++) {
		uint32_t id = (i * 769u) % n + 1;	/* 769 is odd and prime */
		char name[32];
		int ret;

		snprintf(name, sizeof(name), "asr-%u", id);
		ret = akm_asr_new(nl, id, 1 + id % 2, id % 3 ? NULL : name, id % 2);
		if (ret)
			return ret;
	}
	return 0;
}

struct count_arg {
	int n;
	uint32_t last_id;
	bool ordered;
};

static int count_asr_cb(struct nlmsghdr *nlh, void *arg)
{
	struct count_arg *c = arg;
	struct akm_asr_info a;

	if (akm_parse_asr(nlh, &a))
		return -EPROTO;
	if (c->n && a.id <= c->last_id)
		c->ordered = false;
	c->last_id = a.id;
	c->n++;
	return 0;
}

TEST_F(dump, asr_empty)
{
	struct akm_dump_res res;
	struct akm_asr_info a;
	int n = -1;

	AKM_ASSERT_OK(&self->nl, akm_asr_dump(&self->nl, &a, 1, &n, &res));
	EXPECT_EQ(0, n);
	EXPECT_EQ(0, res.msgs);
	EXPECT_FALSE(res.intr);
}

/* AKM_ASRS_MAX ASRs: every one exactly once, ascending, complete. */
TEST_F_TIMEOUT(dump, asr_many, 600)
{
	struct akm_asr_info *a = calloc(AKM_ASRS_MAX + 16, sizeof(*a));
	struct akm_dump_res res;
	int n = 0, i, bad = 0;

	ASSERT_NE(NULL, a);
	AKM_ASSERT_OK(&self->nl, make_asrs(&self->nl, AKM_ASRS_MAX));
	AKM_ASSERT_OK(&self->nl, akm_asr_dump(&self->nl, a, AKM_ASRS_MAX + 16, &n, &res));
	EXPECT_EQ(AKM_ASRS_MAX, n);
	EXPECT_EQ(AKM_ASRS_MAX, res.msgs);
	EXPECT_GT(res.recvs, 1) {
		TH_LOG("the dump fit in one datagram: nothing tested");
	}
	EXPECT_FALSE(res.multi_missing);
	EXPECT_FALSE(res.intr);
	for (i = 0; i < n && i < AKM_ASRS_MAX; i++) {
		uint32_t id = (uint32_t)i + 1;
		char name[32];

		snprintf(name, sizeof(name), "asr-%u", id);
		if (a[i].id != id || a[i].alg != 1 + id % 2 || a[i].policy != id % 2 ||
		    a[i].has_name != !(id % 3) || (a[i].has_name && strcmp(a[i].name, name)) ||
		    !a[i].has_member_count || !a[i].has_stats ||
		    !akm_stats_complete(&a[i].stats)) {
			if (bad++ < 5)
				TH_LOG("entry %d: id %u alg %u policy %u name '%s'", i, a[i].id,
				       a[i].alg, a[i].policy, a[i].name);
		}
	}
	EXPECT_EQ(0, bad);
	free(a);
}

/* A dump entry says the same as ASR_GET for that id. */
TEST_F(dump, asr_matches_doit)
{
	const char *addrs[] = { "192.0.2.1" };
	uint8_t key[AKM_KEY_LEN];
	struct akm_asr_info d[4], g;
	int n = 0, i;

	akm_material(key, sizeof(key), 3);
	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 30, AKM_ALG_HMAC_SHA256, "thirty", 1));
	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 3, AKM_ALG_CHACHA20_POLY1305, NULL, -1));
	AKM_ASSERT_OK(&self->nl, akm_member_new(&self->nl, 30, 1, 1, addrs, 1));
	AKM_ASSERT_OK(&self->nl, akm_member_new(&self->nl, 30, 2, -1, NULL, 0));
	AKM_ASSERT_OK(&self->nl, akm_key_install(&self->nl, 30, 1, key, sizeof(key)));
	AKM_ASSERT_OK(&self->nl, akm_key_activate(&self->nl, 30, 1));
	AKM_ASSERT_OK(&self->nl, akm_key_install(&self->nl, 30, 2, key, sizeof(key)));
	AKM_ASSERT_OK(&self->nl, akm_asr_dump(&self->nl, d, 4, &n, NULL));
	ASSERT_EQ(2, n);
	EXPECT_EQ(3, d[0].id);
	EXPECT_EQ(30, d[1].id);
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 30, &g));
	EXPECT_STREQ(g.name, d[1].name);
	EXPECT_EQ(g.alg, d[1].alg);
	EXPECT_EQ(g.policy, d[1].policy);
	EXPECT_EQ(2, d[1].member_count);
	EXPECT_EQ(g.member_count, d[1].member_count);
	ASSERT_EQ(2, d[1].nkeys);
	ASSERT_EQ(g.nkeys, d[1].nkeys);
	for (i = 0; i < g.nkeys; i++) {
		const struct akm_key_info *k = akm_find_key(&d[1], g.keys[i].epoch);

		ASSERT_NE(NULL, k);
		EXPECT_EQ(g.keys[i].state, k->state);
		EXPECT_EQ(g.keys[i].serial, k->serial);
		EXPECT_EQ(g.keys[i].created, k->created);
		EXPECT_EQ(g.keys[i].activated, k->activated);
	}
	EXPECT_EQ(0, d[0].nkeys);
}

/* AKM_MEMBERS_MAX members with AKM_ADDRS_MAX addresses each. */
TEST_F_TIMEOUT(dump, member_many, 600)
{
	struct akm_member_info *m = calloc(AKM_MEMBERS_MAX + 16, sizeof(*m));
	char bufs[AKM_ADDRS_MAX][64];
	const char *addrs[AKM_ADDRS_MAX];
	struct akm_dump_res res;
	uint32_t node, i;
	int n = 0, bad = 0, j;

	ASSERT_NE(NULL, m);
	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 5, AKM_ALG_HMAC_SHA256, NULL, -1));
	for (i = 0; i < AKM_MEMBERS_MAX; i++) {
		node = (i * 131u) % AKM_MEMBERS_MAX + 1;
		for (j = 0; j < AKM_ADDRS_MAX; j++) {
			if (j % 2)
				snprintf(bufs[j], sizeof(bufs[j]), "fd00:%x::%x", node, j + 1);
			else
				snprintf(bufs[j], sizeof(bufs[j]), "10.%u.%u.%u", node / 256,
					 node % 256, j + 1);
			addrs[j] = bufs[j];
		}
		AKM_ASSERT_OK(&self->nl, akm_member_new(&self->nl, 5, node, node % 3, addrs,
							AKM_ADDRS_MAX));
	}
	AKM_ASSERT_OK(&self->nl, akm_member_dump(&self->nl, 0, m, AKM_MEMBERS_MAX + 16, &n, &res));
	EXPECT_EQ(AKM_MEMBERS_MAX, n);
	EXPECT_EQ(AKM_MEMBERS_MAX, res.msgs);
	EXPECT_GT(res.recvs, 1);
	EXPECT_FALSE(res.multi_missing);
	for (j = 0; j < n && j < AKM_MEMBERS_MAX; j++) {
		char want[64];

		node = (uint32_t)j + 1;
		snprintf(want, sizeof(want), "fd00:%x::%x", node, 8);
		if (m[j].asr_id != 5 || m[j].node_id != node || m[j].state != node % 3 ||
		    m[j].naddrs != AKM_ADDRS_MAX || !akm_member_has_addr(&m[j], want) ||
		    !m[j].has_stats || !akm_stats_complete(&m[j].stats)) {
			if (bad++ < 5)
				TH_LOG("entry %d: asr %u node %u state %u naddrs %d", j,
				       m[j].asr_id, m[j].node_id, m[j].state, m[j].naddrs);
		}
	}
	EXPECT_EQ(0, bad);
	/* the same with the ASR filter */
	AKM_ASSERT_OK(&self->nl, akm_member_dump(&self->nl, 5, m, AKM_MEMBERS_MAX + 16, &n, &res));
	EXPECT_EQ(AKM_MEMBERS_MAX, n);
	free(m);
}

/* Members of several ASRs: ordered by (ASR, node); the filter selects one ASR. */
TEST_F(dump, member_order_and_filter)
{
	struct akm_member_info m[32];
	uint32_t asrs[] = { 9, 2, 40 };
	uint32_t nodes[] = { 5, 1, 3, 100 };
	int n = 0, i, j;

	for (i = 0; i < 3; i++)
		AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, asrs[i], AKM_ALG_HMAC_SHA256,
						     NULL, -1));
	for (i = 0; i < 3; i++)
		for (j = 0; j < 4; j++)
			AKM_ASSERT_OK(&self->nl, akm_member_new(&self->nl, asrs[i], nodes[j], -1,
								NULL, 0));
	AKM_ASSERT_OK(&self->nl, akm_member_dump(&self->nl, 0, m, 32, &n, NULL));
	ASSERT_EQ(12, n);
	for (i = 1; i < n; i++) {
		bool asc = m[i - 1].asr_id < m[i].asr_id ||
			   (m[i - 1].asr_id == m[i].asr_id && m[i - 1].node_id < m[i].node_id);

		EXPECT_TRUE(asc) {
			TH_LOG("entry %d (%u,%u) after (%u,%u)", i, m[i].asr_id, m[i].node_id,
			       m[i - 1].asr_id, m[i - 1].node_id);
		}
	}
	EXPECT_EQ(2, m[0].asr_id);
	EXPECT_EQ(1, m[0].node_id);
	EXPECT_EQ(40, m[11].asr_id);
	EXPECT_EQ(100, m[11].node_id);

	AKM_ASSERT_OK(&self->nl, akm_member_dump(&self->nl, 9, m, 32, &n, NULL));
	ASSERT_EQ(4, n);
	for (i = 0; i < n; i++) {
		EXPECT_EQ(9, m[i].asr_id);
	}
	EXPECT_EQ(1, m[0].node_id);
	EXPECT_EQ(3, m[1].node_id);
	EXPECT_EQ(5, m[2].node_id);
	EXPECT_EQ(100, m[3].node_id);

	/* an ASR without members dumps nothing */
	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 41, AKM_ALG_HMAC_SHA256, NULL, -1));
	AKM_ASSERT_OK(&self->nl, akm_member_dump(&self->nl, 41, m, 32, &n, NULL));
	EXPECT_EQ(0, n);
}

/* Strict validation applies to dump requests too. */
TEST_F(dump, unknown_attr_einval)
{
	struct nl_msg *msg;
	struct akm_dump_res res;

	msg = akm_msg(&self->nl, AKM_CMD_ASR_GET, 0);
	nla_put_u32(msg, AKM_A_MAX + 1, 1);
	AKM_EXPECT_ERR(&self->nl, -EINVAL, akm_dump(&self->nl, msg, NULL, NULL, &res));
	msg = akm_msg(&self->nl, AKM_CMD_MEMBER_GET, 0);
	nla_put_u32(msg, AKM_A_MAX + 1, 1);
	AKM_EXPECT_ERR(&self->nl, -EINVAL, akm_dump(&self->nl, msg, NULL, NULL, &res));
	msg = akm_msg(&self->nl, AKM_CMD_MEMBER_GET, 0);
	nla_put_u16(msg, AKM_A_ASR_ID, 1);
	AKM_EXPECT_ERR(&self->nl, -EINVAL, akm_dump(&self->nl, msg, NULL, NULL, &res));
}

/* Generation changes between the parts of a dump set NLM_F_DUMP_INTR. */
TEST_F_TIMEOUT(dump, asr_dump_intr, 600)
{
	struct count_arg c = { .ordered = true };
	struct akm_dump_res res;
	struct akm_nl other;
	bool done;

	AKM_ASSERT_OK(&self->nl, make_asrs(&self->nl, AKM_ASRS_MAX - 1));
	ASSERT_EQ(0, akm_nl_open(&other));

	/* without a change: no flag */
	AKM_ASSERT_OK(&self->nl, akm_dump_start(&self->nl, akm_msg(&self->nl, AKM_CMD_ASR_GET, 0),
						count_asr_cb, &c, &res, &done));
	ASSERT_FALSE(done);
	AKM_ASSERT_OK(&self->nl, akm_dump_finish(&self->nl, count_asr_cb, &c, &res));
	EXPECT_FALSE(res.intr);
	EXPECT_EQ(AKM_ASRS_MAX - 1, c.n);
	EXPECT_TRUE(c.ordered);

	/* a new ASR made on another socket after the first part */
	memset(&c, 0, sizeof(c));
	AKM_ASSERT_OK(&self->nl, akm_dump_start(&self->nl, akm_msg(&self->nl, AKM_CMD_ASR_GET, 0),
						count_asr_cb, &c, &res, &done));
	ASSERT_FALSE(done);
	EXPECT_GT(c.n, 0);
	AKM_ASSERT_OK(&other, akm_asr_new(&other, AKM_ASRS_MAX, AKM_ALG_HMAC_SHA256, NULL, -1));
	AKM_ASSERT_OK(&self->nl, akm_dump_finish(&self->nl, count_asr_cb, &c, &res));
	EXPECT_TRUE(res.intr) {
		TH_LOG("no NLM_F_DUMP_INTR after a change during the dump (%d recvs)", res.recvs);
	}

	/* a delete during the dump also interrupts it */
	memset(&c, 0, sizeof(c));
	AKM_ASSERT_OK(&self->nl, akm_dump_start(&self->nl, akm_msg(&self->nl, AKM_CMD_ASR_GET, 0),
						count_asr_cb, &c, &res, &done));
	ASSERT_FALSE(done);
	AKM_ASSERT_OK(&other, akm_asr_del(&other, AKM_ASRS_MAX));
	AKM_ASSERT_OK(&self->nl, akm_dump_finish(&self->nl, count_asr_cb, &c, &res));
	EXPECT_TRUE(res.intr);

	/* and a fresh dump afterwards is clean again */
	memset(&c, 0, sizeof(c));
	c.ordered = true;
	AKM_ASSERT_OK(&self->nl, akm_dump(&self->nl, akm_msg(&self->nl, AKM_CMD_ASR_GET, 0),
					  count_asr_cb, &c, &res));
	EXPECT_FALSE(res.intr);
	EXPECT_EQ(AKM_ASRS_MAX - 1, c.n);
	akm_nl_close(&other);
}

static int count_member_cb(struct nlmsghdr *nlh, void *arg)
{
	(void)nlh;
	((struct count_arg *)arg)->n++;
	return 0;
}

TEST_F_TIMEOUT(dump, member_dump_intr, 600)
{
	const char *addrs[AKM_ADDRS_MAX];
	char bufs[AKM_ADDRS_MAX][64];
	struct count_arg c = {};
	struct akm_dump_res res;
	struct akm_nl other;
	uint32_t node;
	bool done;
	int j;

	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 1, AKM_ALG_HMAC_SHA256, NULL, -1));
	for (node = 1; node <= AKM_MEMBERS_MAX; node++) {
		for (j = 0; j < AKM_ADDRS_MAX; j++) {
			snprintf(bufs[j], sizeof(bufs[j]), "fd00:%x::%x", node, j + 1);
			addrs[j] = bufs[j];
		}
		AKM_ASSERT_OK(&self->nl, akm_member_new(&self->nl, 1, node, -1, addrs,
							AKM_ADDRS_MAX));
	}
	ASSERT_EQ(0, akm_nl_open(&other));
	AKM_ASSERT_OK(&self->nl, akm_dump_start(&self->nl,
						akm_msg(&self->nl, AKM_CMD_MEMBER_GET, 0),
						count_member_cb, &c, &res, &done));
	ASSERT_FALSE(done);
	AKM_ASSERT_OK(&other, akm_member_set(&other, 1, AKM_MEMBERS_MAX, AKM_MEMBER_ACTIVE,
					     NULL, 0));
	AKM_ASSERT_OK(&self->nl, akm_dump_finish(&self->nl, count_member_cb, &c, &res));
	EXPECT_TRUE(res.intr);
	EXPECT_EQ(AKM_MEMBERS_MAX, c.n);
	akm_nl_close(&other);
}

/* Two dumps on two sockets at the same time do not disturb each other. */
TEST_F_TIMEOUT(dump, concurrent_dumps, 600)
{
	struct count_arg c1 = { .ordered = true }, c2 = { .ordered = true };
	struct akm_dump_res r1, r2;
	struct akm_nl other;
	bool d1, d2;

	AKM_ASSERT_OK(&self->nl, make_asrs(&self->nl, 600));
	ASSERT_EQ(0, akm_nl_open(&other));
	AKM_ASSERT_OK(&self->nl, akm_dump_start(&self->nl, akm_msg(&self->nl, AKM_CMD_ASR_GET, 0),
						count_asr_cb, &c1, &r1, &d1));
	AKM_ASSERT_OK(&other, akm_dump_start(&other, akm_msg(&other, AKM_CMD_ASR_GET, 0),
					     count_asr_cb, &c2, &r2, &d2));
	ASSERT_FALSE(d2);
	AKM_ASSERT_OK(&other, akm_dump_finish(&other, count_asr_cb, &c2, &r2));
	if (!d1)
		AKM_ASSERT_OK(&self->nl, akm_dump_finish(&self->nl, count_asr_cb, &c1, &r1));
	EXPECT_EQ(600, c1.n);
	EXPECT_EQ(600, c2.n);
	EXPECT_TRUE(c1.ordered);
	EXPECT_TRUE(c2.ordered);
	EXPECT_FALSE(r1.intr);
	EXPECT_FALSE(r2.intr);
	akm_nl_close(&other);
}

/*
 * Dumps while another process keeps creating and deleting ASRs and members:
 * every dump is ordered, has no duplicates and ends cleanly, and one not
 * flagged as interrupted is complete.
 */
TEST_F_TIMEOUT(dump, dumps_during_churn, 600)
{
	struct count_arg c;
	struct akm_dump_res res;
	int dumps = 0, intr = 0, status;
	pid_t pid;

	AKM_ASSERT_OK(&self->nl, make_asrs(&self->nl, 300));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct akm_nl w;
		const char *addrs[] = { "192.0.2.99", "2001:db8::99" };
		int i, bad = 0;

		if (akm_nl_open(&w))
			_exit(100);
		for (i = 0; i < 400; i++) {
			uint32_t id = 1 + (i * 7) % 300;

			bad += akm_asr_del(&w, id) != 0;
			bad += akm_asr_new(&w, id, AKM_ALG_HMAC_SHA256, NULL, -1) != 0;
			bad += akm_member_new(&w, id, 1, -1, addrs, 2) != 0;
			bad += akm_member_del(&w, id, 1) != 0;
		}
		_exit(bad ? 1 : 0);
	}
	do {
		memset(&c, 0, sizeof(c));
		c.ordered = true;
		AKM_ASSERT_OK(&self->nl, akm_dump(&self->nl, akm_msg(&self->nl, AKM_CMD_ASR_GET, 0),
						  count_asr_cb, &c, &res));
		EXPECT_TRUE(c.ordered);
		EXPECT_LE(c.n, 300);
		/*
		 * A dump that was not flagged NLM_F_DUMP_INTR is a snapshot:
		 * at most the one ASR between its del and new is missing.
		 * A flagged one may have missed any number.
		 */
		if (!res.intr)
			EXPECT_GE(c.n, 299);
		dumps++;
		intr += res.intr;
	} while (waitpid(pid, &status, WNOHANG) == 0);
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	TH_LOG("%d dumps, %d interrupted", dumps, intr);
	memset(&c, 0, sizeof(c));
	AKM_ASSERT_OK(&self->nl, akm_dump(&self->nl, akm_msg(&self->nl, AKM_CMD_ASR_GET, 0),
					  count_asr_cb, &c, &res));
	EXPECT_EQ(300, c.n);
	EXPECT_FALSE(res.intr);
}

TEST_HARNESS_MAIN
