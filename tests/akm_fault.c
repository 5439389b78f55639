// SPDX-License-Identifier: GPL-2.0
/*
 * Fault tests.
 *
 * fault.*: every control command that allocates, with its n-th kernel
 * allocation failed (syzkaller's fail-nth: /proc/thread-self/fail-nth and
 * failslab) for n = 1, 2, ... until the command makes fewer than n
 * allocations. Each attempt must end in success or a clean error, and
 * leave the namespace consistent: the object is there with everything the
 * request gave it, or not at all; a retry without the fault succeeds.
 * Errors allowed: ENOMEM (the module, or the generic netlink core before
 * the command runs) and ENOBUFS (the netlink core: no skb for the request,
 * for a dump datagram, or for the ACK - then the command may have been
 * applied, so either state is accepted, but never a partial one).
 *
 * netns_delete: namespaces full of state (ASRs, members, keys in every
 * state with a grace period pending, a credential, traffic) die; their
 * keyring and keys must go, the initial namespace stays intact.
 *
 * The fault tests need CONFIG_FAULT_INJECTION, CONFIG_FAILSLAB and
 * CONFIG_FAULT_INJECTION_DEBUG_FS (the debug kernel of
 * scripts/debug-kernel.sh) and skip elsewhere.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <keyutils.h>

#include "kselftest_harness.h"
#include "akm_test_lib.h"

#define FAILSLAB	"/sys/kernel/debug/failslab"
#define MAX_NTH		2000	/* no command makes that many allocations */
#define BIG		200	/* objects for the dump tests: several datagrams */
#define MAXO		(BIG + 16)

enum { S_BAD, S_OLD, S_NEW };

/* fail-nth and the failslab settings to restore */
struct fault {
	int fd;
	char ignore_gfp_wait[8], verbose[8];
};

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	ret = write(fd, s, strlen(s)) == (ssize_t)strlen(s) ? 0 : -EIO;
	close(fd);
	return ret;
}

static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* NULL, or why fail-nth cannot be used on this kernel. */
static const char *failslab_setup(struct fault *f)
{
	struct stat st;

	f->fd = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
	if (f->fd < 0)
		return "no /proc/thread-self/fail-nth: kernel without CONFIG_FAULT_INJECTION";
	if (stat(FAILSLAB, &st))
		mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	if (read_file(FAILSLAB "/ignore-gfp-wait", f->ignore_gfp_wait,
		      sizeof(f->ignore_gfp_wait)) ||
	    read_file(FAILSLAB "/verbose", f->verbose, sizeof(f->verbose)))
		return "no " FAILSLAB ": kernel without CONFIG_FAILSLAB or CONFIG_FAULT_INJECTION_DEBUG_FS";
	/* the default Y never fails GFP_KERNEL allocations; 1: one line each */
	if (write_file(FAILSLAB "/ignore-gfp-wait", "N") ||
	    write_file(FAILSLAB "/verbose", "1"))
		return "cannot configure " FAILSLAB;
	/* no page fault (and its page table allocations) while armed */
	if (mlockall(MCL_CURRENT | MCL_FUTURE))
		return "mlockall failed";
	return NULL;
}

static void failslab_restore(struct fault *f)
{
	if (f->fd < 0)
		return;
	close(f->fd);
	f->fd = -1;
	if (f->ignore_gfp_wait[0])
		write_file(FAILSLAB "/ignore-gfp-wait", f->ignore_gfp_wait);
	if (f->verbose[0])
		write_file(FAILSLAB "/verbose", f->verbose);
}

/* Fail this thread's nth allocation from now on (0: none). */
static int fail_nth(struct fault *f, unsigned int nth)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%u", nth);

	return pwrite(f->fd, buf, len, 0) == len ? 0 : -errno;
}

/* Disarm; true if the armed allocation happened (the counter ran out). */
static bool fail_nth_hit(struct fault *f)
{
	char buf[16] = "";
	ssize_t n = pread(f->fd, buf, sizeof(buf) - 1, 0);

	fail_nth(f, 0);
	return n > 0 && strtoul(buf, NULL, 10) == 0;
}

struct counts {
	int iters, injected, ok, enomem, enobufs, lost;
};

FIXTURE(fault) {
	struct akm_nl nl;	/* setup and checks, never armed */
	struct akm_nl ev;	/* a listener: events allocate too */
	struct fault f;
	const char *skip;
	uint32_t keyring;
	uint32_t node_id;	/* NODE_SET: the current and the requested id */
	uint32_t want;
	uint32_t epoch;		/* last epoch installed in ASR 1 */
	uint32_t cur;		/* its current epoch */
	uint32_t doomed;	/* last epoch installed in ASR 10 */
	int toggle;		/* *_SET: which of two settings is requested */
	int replies, bad;	/* read-only commands: replies and bad ones */
	struct akm_asr_info *asrs;
	struct akm_member_info *members;
};

FIXTURE_VARIANT(fault) {
	const char *name;
	int cmd;		/* what reply_cb checks */
	bool dump;
	int big;		/* 1: BIG more ASRs, 2: BIG more members */
	int replies;		/* read-only commands: replies expected */
	/* before arming, optional */
	void (*prepare)(FIXTURE_DATA(fault) *self);
	/* the request (never NULL for netlink) */
	struct nl_msg *(*msg)(FIXTURE_DATA(fault) *self, struct akm_nl *nl);
	/* commands that change state: S_OLD, S_NEW or S_BAD, after ret */
	int (*state)(FIXTURE_DATA(fault) *self, int ret);
	/* after S_NEW, optional: make the next attempt possible */
	void (*undo)(FIXTURE_DATA(fault) *self);
	bool need_enomem;	/* the test is void unless ENOMEM was seen */
};

static uint8_t material[AKM_KEY_LEN] = { 1, 2, 3 };

/* ASR_SET and MEMBER_SET alternate between two settings. */
struct asr_cfg {
	const char *name;
	int policy, grace, ngroups;
	const char *groups[3];
};

static const struct asr_cfg asr_cfgs[2] = {
	{ "alpha", 0, 0, 1, { "239.1.1.1" } },
	{ "beta-config", 1, 9, 3, { "239.2.2.2", "ff15::2", "239.2.2.3" } },
};

struct member_cfg {
	int state, naddrs;
	const char *addrs[3];
};

static const struct member_cfg member_cfgs[2] = {
	{ AKM_MEMBER_ACTIVE, 2, { "10.0.0.2", "fd00::2" } },
	{ AKM_MEMBER_REVOKED, 3, { "10.0.2.2", "fd00:3::2", "10.0.2.3" } },
};

static int put_groups(struct nl_msg *msg, const char *const *addrs, int n)
{
	struct nlattr *nest = nla_nest_start(msg, AKM_A_ASR_GROUPS | NLA_F_NESTED);
	int i;

	for (i = 0; nest && i < n; i++) {
		struct akm_addr a;

		if (akm_parse_addr(addrs[i], &a))
			return -EINVAL;
		nla_put(msg, a.family == AF_INET ? AKM_ADDR_A_IPV4 : AKM_ADDR_A_IPV6,
			a.family == AF_INET ? 4 : 16, a.a);
	}
	return nest ? nla_nest_end(msg, nest) : -ENOMEM;
}

static struct nl_msg *msg_asr_cfg(struct akm_nl *nl, int cmd, uint32_t id, int alg,
				  const struct asr_cfg *c)
{
	struct nl_msg *msg = akm_msg(nl, cmd, 0);

	nla_put_u32(msg, AKM_A_ASR_ID, id);
	if (alg)
		nla_put_u8(msg, AKM_A_ASR_ALG, alg);
	nla_put_string(msg, AKM_A_ASR_NAME, c->name);
	nla_put_u8(msg, AKM_A_ASR_POLICY, c->policy);
	nla_put_u32(msg, AKM_A_ASR_GRACE, c->grace);
	put_groups(msg, c->groups, c->ngroups);
	return msg;
}

static bool asr_is(const struct akm_asr_info *a, int alg, const struct asr_cfg *c)
{
	return a->alg == alg && a->has_name && !strcmp(a->name, c->name) &&
	       a->policy == c->policy && a->grace == (uint32_t)c->grace &&
	       akm_addrs_match(a->groups, a->ngroups, c->groups, c->ngroups);
}

static struct nl_msg *msg_member(struct akm_nl *nl, int cmd, uint32_t asr, uint32_t node,
				 const struct member_cfg *c)
{
	struct nl_msg *msg = akm_msg(nl, cmd, 0);

	nla_put_u32(msg, AKM_A_ASR_ID, asr);
	nla_put_u32(msg, AKM_A_NODE_ID, node);
	nla_put_u8(msg, AKM_A_MEMBER_STATE, c->state);
	akm_put_addrs(msg, c->addrs, c->naddrs);
	return msg;
}

static int member_state(struct akm_nl *nl, uint32_t asr, uint32_t node,
			const struct member_cfg *c)
{
	struct akm_member_info m;
	int ret = akm_member_get(nl, asr, node, &m);

	if (ret)
		return ret;
	return m.state == c->state && akm_addrs_match(m.addrs, m.naddrs, c->addrs, c->naddrs);
}

static struct nl_msg *msg_asr_epoch(struct akm_nl *nl, int cmd, uint32_t asr, uint32_t epoch)
{
	struct nl_msg *msg = akm_msg(nl, cmd, 0);

	nla_put_u32(msg, AKM_A_ASR_ID, asr);
	nla_put_u32(msg, AKM_A_KEY_EPOCH, epoch);
	return msg;
}

static struct nl_msg *msg_cred(struct akm_nl *nl, int cmd, uint32_t id)
{
	struct nl_msg *msg = akm_msg(nl, cmd, 0);

	nla_put_u32(msg, AKM_A_CRED_ID, id);
	return msg;
}

static int cred_install(struct akm_nl *nl, uint32_t id)
{
	struct nl_msg *msg = msg_cred(nl, AKM_CMD_CRED_INSTALL, id);

	nla_put(msg, AKM_A_KEY_MATERIAL, AKM_KEY_LEN, material);
	return akm_do(nl, msg, NULL, NULL);
}

static int serial_cb(struct nlmsghdr *nlh, void *arg)
{
	struct nlattr *tb[AKM_A_MAX + 1];

	if (genlmsg_parse(nlh, 0, tb, AKM_A_MAX, NULL) || !tb[AKM_A_CRED_SERIAL])
		return -EPROTO;
	*(int32_t *)arg = (int32_t)nla_get_u32(tb[AKM_A_CRED_SERIAL]);
	return 0;
}

/* 0 and the credential's key serial, or -errno */
static int cred_get(struct akm_nl *nl, uint32_t id, int32_t *serial)
{
	return akm_do(nl, msg_cred(nl, AKM_CMD_CRED_GET, id), serial_cb, serial);
}

static int count_cb(struct nlmsghdr *nlh, void *arg)
{
	(void)nlh;
	++*(int *)arg;
	return 0;
}

/*
 * The namespace as a whole: ASR_COUNT agrees with a complete ASR dump, the
 * member counts with a complete member dump, and the keyring holds exactly
 * one live key per epoch and credential. 0 or the number of the failed check.
 */
static int ns_check(FIXTURE_DATA(fault) *self)
{
	int nasr, nmem, ncred = 0, members = 0, keys = 0, i, k;
	struct akm_dump_res res;
	struct akm_node_info n;

	if (akm_node_get(&self->nl, &n) || !n.has_asr_count || n.keyring != self->keyring ||
	    !akm_stats_complete(&n.stats))
		return 1;
	if (akm_asr_dump(&self->nl, self->asrs, MAXO, &nasr, &res) || res.intr ||
	    nasr != (int)n.asr_count || nasr > MAXO)
		return 2;
	for (i = 0; i < nasr; i++) {
		const struct akm_asr_info *a = &self->asrs[i];

		if (!a->has_id || !a->has_alg || !a->has_policy || !a->has_grace ||
		    !a->has_member_count || !akm_stats_complete(&a->stats))
			return 3;
		members += a->member_count;
		for (k = 0; k < a->nkeys; k++, keys++)
			if (!akm_key_live(a->keys[k].serial))
				return 4;
	}
	if (akm_member_dump(&self->nl, 0, self->members, MAXO, &nmem, &res) || res.intr ||
	    nmem != members || nmem > MAXO)
		return 5;
	for (i = 0; i < nmem; i++)
		if (!self->members[i].has_state || !self->members[i].has_addrs ||
		    !akm_stats_complete(&self->members[i].stats))
			return 6;
	if (akm_dump(&self->nl, akm_msg(&self->nl, AKM_CMD_CRED_GET, 0), count_cb, &ncred,
		     &res) || res.intr)
		return 7;
	if (akm_keyring_live_keys(self->keyring) != keys + ncred)
		return 8;
	return 0;
}

/* --- the commands --- */

static void prep_node_set(FIXTURE_DATA(fault) *self)
{
	self->want = self->node_id + 1;
}

static struct nl_msg *msg_node_set(FIXTURE_DATA(fault) *self, struct akm_nl *nl)
{
	struct nl_msg *msg = akm_msg(nl, AKM_CMD_NODE_SET, 0);

	nla_put_u32(msg, AKM_A_NODE_ID, self->want);
	return msg;
}

static int state_node_set(FIXTURE_DATA(fault) *self, int ret)
{
	struct akm_node_info n;

	(void)ret;
	if (akm_node_get(&self->nl, &n))
		return S_BAD;
	return n.node_id == self->node_id ? S_OLD : n.node_id == self->want ? S_NEW : S_BAD;
}

static void undo_node_set(FIXTURE_DATA(fault) *self)
{
	self->node_id = self->want;
}

static struct nl_msg *msg_asr_new(FIXTURE_DATA(fault) *self, struct akm_nl *nl)
{
	static const struct asr_cfg c = { "fault-ten", 1, 7, 2, { "239.1.2.3", "ff15::10" } };

	(void)self;
	return msg_asr_cfg(nl, AKM_CMD_ASR_NEW, 10, AKM_ALG_CHACHA20_POLY1305, &c);
}

static int state_asr_new(FIXTURE_DATA(fault) *self, int ret)
{
	static const struct asr_cfg c = { "fault-ten", 1, 7, 2, { "239.1.2.3", "ff15::10" } };
	struct akm_asr_info a;

	(void)ret;
	ret = akm_asr_get(&self->nl, 10, &a);
	if (ret == -ENOENT)
		return S_OLD;
	return !ret && asr_is(&a, AKM_ALG_CHACHA20_POLY1305, &c) && a.member_count == 0 &&
	       a.nkeys == 0 ? S_NEW : S_BAD;
}

static void undo_asr_new(FIXTURE_DATA(fault) *self)
{
	akm_asr_del(&self->nl, 10);
}

static void prep_toggle(FIXTURE_DATA(fault) *self)
{
	self->toggle = !self->toggle;
}

static struct nl_msg *msg_asr_set(FIXTURE_DATA(fault) *self, struct akm_nl *nl)
{
	return msg_asr_cfg(nl, AKM_CMD_ASR_SET, 1, 0, &asr_cfgs[self->toggle]);
}

static int state_asr_set(FIXTURE_DATA(fault) *self, int ret)
{
	struct akm_asr_info a;

	(void)ret;
	if (akm_asr_get(&self->nl, 1, &a))
		return S_BAD;
	if (asr_is(&a, AKM_ALG_HMAC_SHA256, &asr_cfgs[self->toggle]))
		return S_NEW;
	return asr_is(&a, AKM_ALG_HMAC_SHA256, &asr_cfgs[!self->toggle]) ? S_OLD : S_BAD;
}

static struct nl_msg *msg_member_new(FIXTURE_DATA(fault) *self, struct akm_nl *nl)
{
	static const struct member_cfg c = { AKM_MEMBER_ACTIVE, 3,
		{ "10.0.1.50", "fd00:1::50", "fd00:2::50" } };

	(void)self;
	return msg_member(nl, AKM_CMD_MEMBER_NEW, 1, 50, &c);
}

static int state_member_new(FIXTURE_DATA(fault) *self, int ret)
{
	static const struct member_cfg c = { AKM_MEMBER_ACTIVE, 3,
		{ "10.0.1.50", "fd00:1::50", "fd00:2::50" } };

	(void)ret;
	ret = member_state(&self->nl, 1, 50, &c);
	return ret == -ENOENT ? S_OLD : ret == 1 ? S_NEW : S_BAD;
}

static void undo_member_new(FIXTURE_DATA(fault) *self)
{
	akm_member_del(&self->nl, 1, 50);
}

static struct nl_msg *msg_member_set(FIXTURE_DATA(fault) *self, struct akm_nl *nl)
{
	return msg_member(nl, AKM_CMD_MEMBER_SET, 1, 2, &member_cfgs[self->toggle]);
}

static int state_member_set(FIXTURE_DATA(fault) *self, int ret)
{
	(void)ret;
	if (member_state(&self->nl, 1, 2, &member_cfgs[self->toggle]) == 1)
		return S_NEW;
	return member_state(&self->nl, 1, 2, &member_cfgs[!self->toggle]) == 1 ? S_OLD : S_BAD;
}

/* The state of epoch in ASR 1: -1 absent, else AKM_KEY_* (-2: broken). */
static int epoch_state(FIXTURE_DATA(fault) *self, uint32_t epoch)
{
	const struct akm_key_info *k;
	struct akm_asr_info a;

	if (akm_asr_get(&self->nl, 1, &a))
		return -2;
	k = akm_find_key(&a, epoch);
	if (!k)
		return -1;
	return k->has_state && k->has_serial && akm_key_live(k->serial) ? k->state : -2;
}

static void prep_next_epoch(FIXTURE_DATA(fault) *self)
{
	self->epoch++;
}

static struct nl_msg *msg_key_install(FIXTURE_DATA(fault) *self, struct akm_nl *nl)
{
	struct nl_msg *msg = msg_asr_epoch(nl, AKM_CMD_KEY_INSTALL, 1, self->epoch);

	nla_put(msg, AKM_A_KEY_MATERIAL, AKM_KEY_LEN, material);
	return msg;
}

static struct nl_msg *msg_key_derive(FIXTURE_DATA(fault) *self, struct akm_nl *nl)
{
	struct nl_msg *msg = msg_asr_epoch(nl, AKM_CMD_KEY_INSTALL, 1, self->epoch);

	nla_put_u32(msg, AKM_A_CRED_ID, 5);
	return msg;
}

static int state_key_install(FIXTURE_DATA(fault) *self, int ret)
{
	int s = epoch_state(self, self->epoch);

	(void)ret;
	return s == -1 ? S_OLD : s == AKM_KEY_NEXT ? S_NEW : S_BAD;
}

static void undo_key_install(FIXTURE_DATA(fault) *self)
{
	akm_key_retire(&self->nl, 1, self->epoch);
}

/* install the next epoch, without a fault */
static void prep_installed(FIXTURE_DATA(fault) *self)
{
	self->epoch++;
	if (akm_key_install(&self->nl, 1, self->epoch, material, AKM_KEY_LEN))
		self->epoch = 0;	/* the state check fails */
}

static struct nl_msg *msg_key_activate(FIXTURE_DATA(fault) *self, struct akm_nl *nl)
{
	return msg_asr_epoch(nl, AKM_CMD_KEY_ACTIVATE, 1, self->epoch);
}

static int state_key_activate(FIXTURE_DATA(fault) *self, int ret)
{
	int s = epoch_state(self, self->epoch), c = epoch_state(self, self->cur);

	(void)ret;
	if (s == AKM_KEY_NEXT && c == AKM_KEY_CURRENT)
		return S_OLD;
	return s == AKM_KEY_CURRENT && c == AKM_KEY_PREVIOUS ? S_NEW : S_BAD;
}

static void undo_key_activate(FIXTURE_DATA(fault) *self)
{
	self->cur = self->epoch;
}

static struct nl_msg *msg_key_retire(FIXTURE_DATA(fault) *self, struct akm_nl *nl)
{
	return msg_asr_epoch(nl, AKM_CMD_KEY_RETIRE, 1, self->epoch);
}

static int state_key_retire(FIXTURE_DATA(fault) *self, int ret)
{
	int s = epoch_state(self, self->epoch);

	(void)ret;
	return s == AKM_KEY_NEXT ? S_OLD : s == -1 ? S_NEW : S_BAD;
}

/* ASR 10 with a member and a current and a next epoch, to be deleted */
static void prep_asr_del(FIXTURE_DATA(fault) *self)
{
	const char *addr = "10.0.3.3";

	/* ASR 10 comes back, its epochs never do */
	self->doomed += 2;
	if (akm_asr_new(&self->nl, 10, AKM_ALG_HMAC_SHA256, "doomed", -1) ||
	    akm_member_new(&self->nl, 10, 3, -1, &addr, 1) ||
	    akm_key_install(&self->nl, 10, self->doomed - 1, material, AKM_KEY_LEN) ||
	    akm_key_activate(&self->nl, 10, self->doomed - 1) ||
	    akm_key_install(&self->nl, 10, self->doomed, material, AKM_KEY_LEN))
		akm_asr_del(&self->nl, 10);	/* the state check fails */
}

static struct nl_msg *msg_asr_del(FIXTURE_DATA(fault) *self, struct akm_nl *nl)
{
	struct nl_msg *msg = akm_msg(nl, AKM_CMD_ASR_DEL, 0);

	(void)self;
	nla_put_u32(msg, AKM_A_ASR_ID, 10);
	return msg;
}

static int state_asr_del(FIXTURE_DATA(fault) *self, int ret)
{
	struct akm_asr_info a;

	(void)ret;
	ret = akm_asr_get(&self->nl, 10, &a);
	if (ret == -ENOENT)
		return S_NEW;
	return !ret && a.member_count == 1 && a.nkeys == 2 ? S_OLD : S_BAD;
}

static void prep_cred(FIXTURE_DATA(fault) *self)
{
	self->want++;
}

static struct nl_msg *msg_cred_install(FIXTURE_DATA(fault) *self, struct akm_nl *nl)
{
	struct nl_msg *msg = msg_cred(nl, AKM_CMD_CRED_INSTALL, self->want);

	nla_put(msg, AKM_A_KEY_MATERIAL, AKM_KEY_LEN, material);
	return msg;
}

static int state_cred_install(FIXTURE_DATA(fault) *self, int ret)
{
	int32_t serial = 0;

	(void)ret;
	ret = cred_get(&self->nl, self->want, &serial);
	if (ret == -ENOENT)
		return S_OLD;
	return !ret && akm_key_live(serial) ? S_NEW : S_BAD;
}

static void undo_cred_install(FIXTURE_DATA(fault) *self)
{
	akm_do(&self->nl, msg_cred(&self->nl, AKM_CMD_CRED_DEL, self->want), NULL, NULL);
}

/* read-only commands */

static struct nl_msg *msg_cred_prove(FIXTURE_DATA(fault) *self, struct akm_nl *nl)
{
	struct nl_msg *msg = msg_cred(nl, AKM_CMD_CRED_PROVE, 5);

	(void)self;
	nla_put(msg, AKM_A_PROOF_DATA, 9, "challenge");
	return msg;
}

static struct nl_msg *msg_node_get(FIXTURE_DATA(fault) *self, struct akm_nl *nl)
{
	(void)self;
	return akm_msg(nl, AKM_CMD_NODE_GET, 0);
}

static struct nl_msg *msg_asr_get(FIXTURE_DATA(fault) *self, struct akm_nl *nl)
{
	struct nl_msg *msg = akm_msg(nl, AKM_CMD_ASR_GET, 0);

	(void)self;
	nla_put_u32(msg, AKM_A_ASR_ID, 1);
	return msg;
}

static struct nl_msg *msg_member_get(FIXTURE_DATA(fault) *self, struct akm_nl *nl)
{
	struct nl_msg *msg = akm_msg(nl, AKM_CMD_MEMBER_GET, 0);

	(void)self;
	nla_put_u32(msg, AKM_A_ASR_ID, 1);
	nla_put_u32(msg, AKM_A_NODE_ID, 2);
	return msg;
}

static struct nl_msg *msg_stats_get(FIXTURE_DATA(fault) *self, struct akm_nl *nl)
{
	struct nl_msg *msg = akm_msg(nl, AKM_CMD_STATS_GET, 0);

	(void)self;
	nla_put_u32(msg, AKM_A_ASR_ID, 1);
	nla_put_u32(msg, AKM_A_NODE_ID, 2);
	return msg;
}

static struct nl_msg *msg_dump(FIXTURE_DATA(fault) *self, struct akm_nl *nl, int cmd)
{
	(void)self;
	return akm_msg(nl, cmd, 0);
}

static struct nl_msg *msg_asr_dump(FIXTURE_DATA(fault) *self, struct akm_nl *nl)
{
	return msg_dump(self, nl, AKM_CMD_ASR_GET);
}

static struct nl_msg *msg_member_dump(FIXTURE_DATA(fault) *self, struct akm_nl *nl)
{
	return msg_dump(self, nl, AKM_CMD_MEMBER_GET);
}

static struct nl_msg *msg_cred_dump(FIXTURE_DATA(fault) *self, struct akm_nl *nl)
{
	return msg_dump(self, nl, AKM_CMD_CRED_GET);
}

/* Is a reply to a read-only command complete? */
struct reply_arg {
	FIXTURE_DATA(fault) *self;
	int cmd;
};

static int reply_cb(struct nlmsghdr *nlh, void *arg)
{
	struct reply_arg *r = arg;
	struct nlattr *tb[AKM_A_MAX + 1];
	struct akm_member_info m;
	struct akm_node_info n;
	struct akm_asr_info a;
	struct akm_stats s;
	bool ok = false, has;

	switch (r->cmd) {
	case AKM_CMD_NODE_GET:
		ok = !akm_parse_node(nlh, &n) && n.has_node_id && n.has_keyring &&
		     n.has_generation && n.has_asr_count && akm_stats_complete(&n.stats);
		break;
	case AKM_CMD_ASR_GET:
		ok = !akm_parse_asr(nlh, &a) && a.has_id && a.has_alg && a.has_policy &&
		     a.has_grace && a.has_member_count && akm_stats_complete(&a.stats) &&
		     (a.id != 1 || a.nkeys == 1);
		break;
	case AKM_CMD_MEMBER_GET:
		ok = !akm_parse_member(nlh, &m) && m.has_state && m.has_addrs &&
		     akm_stats_complete(&m.stats) &&
		     (m.node_id != 2 || m.naddrs == member_cfgs[0].naddrs);
		break;
	case AKM_CMD_STATS_GET:
		ok = !akm_parse_stats_reply(nlh, &s, &has) && has && akm_stats_complete(&s);
		break;
	case AKM_CMD_CRED_GET:
	case AKM_CMD_CRED_PROVE:
		ok = !genlmsg_parse(nlh, 0, tb, AKM_A_MAX, NULL) &&
		     (r->cmd == AKM_CMD_CRED_GET ? tb[AKM_A_CRED_SERIAL] != NULL :
		      tb[AKM_A_PROOF] && nla_len(tb[AKM_A_PROOF]) == AKM_PROOF_LEN);
		break;
	}
	r->self->replies++;
	r->self->bad += !ok;
	return 0;
}

FIXTURE_SETUP(fault)
{
	const struct member_cfg *mc = &member_cfgs[0];
	struct akm_node_info n;
	uint32_t i;

	self->f.fd = -1;
	ASSERT_EQ(0, akm_new_netns());
	self->skip = failslab_setup(&self->f);
	if (self->skip)
		return;
	self->asrs = calloc(MAXO, sizeof(*self->asrs));
	self->members = calloc(MAXO, sizeof(*self->members));
	ASSERT_TRUE(self->asrs && self->members);
	ASSERT_EQ(0, akm_nl_open(&self->nl));
	ASSERT_EQ(0, akm_events_open(&self->ev));
	self->node_id = 1;
	AKM_ASSERT_OK(&self->nl, akm_node_set(&self->nl, 1));
	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 1, AKM_ALG_HMAC_SHA256, NULL, -1));
	AKM_ASSERT_OK(&self->nl, akm_do(&self->nl, msg_asr_cfg(&self->nl, AKM_CMD_ASR_SET, 1, 0,
							       &asr_cfgs[0]), NULL, NULL));
	AKM_ASSERT_OK(&self->nl, akm_member_new(&self->nl, 1, 2, mc->state, mc->addrs,
						mc->naddrs));
	AKM_ASSERT_OK(&self->nl, akm_key_install(&self->nl, 1, 1, material, AKM_KEY_LEN));
	AKM_ASSERT_OK(&self->nl, akm_key_activate(&self->nl, 1, 1));
	self->epoch = self->cur = 1;
	AKM_ASSERT_OK(&self->nl, cred_install(&self->nl, 5));
	self->want = 100;	/* CRED_INSTALL: the ids tried */
	for (i = 0; i < BIG && variant->big == 1; i++)
		AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 100 + i, AKM_ALG_HMAC_SHA256,
						     "a-long-name-for-a-big-dump", -1));
	for (i = 0; i < BIG && variant->big == 2; i++) {
		char a[32];
		const char *addrs[] = { a };

		snprintf(a, sizeof(a), "fd00:b::%x", 100 + i);
		AKM_ASSERT_OK(&self->nl, akm_member_new(&self->nl, 1, 100 + i, -1, addrs, 1));
	}
	AKM_ASSERT_OK(&self->nl, akm_node_get(&self->nl, &n));
	self->keyring = n.keyring;
	ASSERT_EQ(0, ns_check(self));
	if (variant->big) {
		struct reply_arg r = { self, variant->cmd };
		struct akm_dump_res res;

		AKM_ASSERT_OK(&self->nl, akm_dump(&self->nl, variant->msg(self, &self->nl),
						  reply_cb, &r, &res));
		ASSERT_GT(res.recvs, 2) {
			TH_LOG("the dump fits in %d datagrams: too few to test", res.recvs);
		}
	}
}

FIXTURE_TEARDOWN(fault)
{
	failslab_restore(&self->f);
	akm_nl_close(&self->ev);
	akm_nl_close(&self->nl);
	free(self->asrs);
	free(self->members);
}

#define CMD(v, ...)							\
FIXTURE_VARIANT_ADD(fault, v) {						\
	.name = #v, .msg = msg_##v, __VA_ARGS__				\
}
#define SET(v, prep, ...)						\
	CMD(v, .prepare = prep, .state = state_##v, __VA_ARGS__)

SET(node_set, prep_node_set, .undo = undo_node_set);
SET(asr_new, NULL, .undo = undo_asr_new, .need_enomem = true);
SET(asr_set, prep_toggle);
SET(member_new, NULL, .undo = undo_member_new);
SET(member_set, prep_toggle);
SET(key_install, prep_next_epoch, .undo = undo_key_install);
CMD(key_derive, .prepare = prep_next_epoch, .state = state_key_install,
    .undo = undo_key_install);
SET(key_activate, prep_installed, .undo = undo_key_activate);
SET(key_retire, prep_installed);
SET(asr_del, prep_asr_del);
SET(cred_install, prep_cred, .undo = undo_cred_install);
CMD(cred_prove, .cmd = AKM_CMD_CRED_PROVE, .replies = 1);
CMD(node_get, .cmd = AKM_CMD_NODE_GET, .replies = 1);
CMD(asr_get, .cmd = AKM_CMD_ASR_GET, .replies = 1);
CMD(member_get, .cmd = AKM_CMD_MEMBER_GET, .replies = 1);
CMD(stats_get, .cmd = AKM_CMD_STATS_GET, .replies = 1);
CMD(asr_dump, .cmd = AKM_CMD_ASR_GET, .dump = true, .big = 1, .replies = 1 + BIG);
CMD(member_dump, .cmd = AKM_CMD_MEMBER_GET, .dump = true, .big = 2, .replies = 1 + BIG);
CMD(cred_dump, .cmd = AKM_CMD_CRED_GET, .dump = true, .replies = 1);

/* Did the listener get an event, or an error telling it that it lost one? */
static bool listener_told(struct akm_nl *ev)
{
	struct akm_event e;
	int ret = akm_event_next(ev, &e, 200);

	akm_events_drain(ev);
	return ret != -ETIMEDOUT;
}

/* One attempt: the request with the nth allocation failed. */
static int attempt(FIXTURE_DATA(fault) *self, const FIXTURE_VARIANT(fault) *variant,
		   unsigned int nth, bool *hit)
{
	struct reply_arg r = { self, variant->cmd };
	struct akm_dump_res res;
	struct nl_msg *msg = NULL;
	struct akm_nl it;
	int ret;

	/* a fresh socket: a failed dump may still be running on the last one */
	if (akm_nl_open(&it))
		return -EPIPE;
	msg = variant->msg(self, &it);
	self->replies = self->bad = 0;
	if (fail_nth(&self->f, nth)) {
		akm_nl_close(&it);
		return -EPIPE;
	}
	if (variant->dump)
		ret = akm_dump(&it, msg, reply_cb, &r, &res);
	else
		ret = akm_do(&it, msg, reply_cb, &r);
	*hit = fail_nth_hit(&self->f);
	akm_nl_close(&it);
	return ret;
}

TEST_F_TIMEOUT(fault, fail_nth, 600)
{
	struct counts c = {};
	unsigned int nth;
	bool hit = true;
	int ret, st = S_OLD, chk;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	for (nth = 1; hit && nth <= MAX_NTH; nth++) {
		if (variant->prepare)
			variant->prepare(self);
		akm_events_drain(&self->ev);
		ret = attempt(self, variant, nth, &hit);
		c.iters++;
		c.injected += hit;
		c.ok += !ret;
		c.enomem += ret == -ENOMEM;
		c.enobufs += ret == -ENOBUFS;
		ASSERT_TRUE(!ret || ret == -ENOMEM || ret == -ENOBUFS) {
			TH_LOG("fail-nth %u: %d (%s)", nth, ret, strerror(-ret));
		}
		if (variant->state) {
			st = variant->state(self, ret);
			ASSERT_NE(S_BAD, st) {
				TH_LOG("fail-nth %u: %d (%s): partial state", nth, ret,
				       strerror(-ret));
			}
			/* ENOMEM: not done; ENOBUFS: maybe done, only the ACK lost */
			if (!ret || ret == -ENOMEM)
				ASSERT_EQ(ret ? S_OLD : S_NEW, st) {
					TH_LOG("fail-nth %u: %d (%s) but the state is %s", nth,
					       ret, strerror(-ret), st == S_NEW ? "new" : "old");
				}
			/* a change without an event nor ENOBUFS for the listener */
			if (st == S_NEW)
				c.lost += !listener_told(&self->ev);
		} else if (!ret) {
			ASSERT_EQ(0, self->bad);
			ASSERT_EQ(variant->replies, self->replies);
		}
		chk = ns_check(self);
		ASSERT_EQ(0, chk) {
			TH_LOG("fail-nth %u: %d (%s): namespace check %d failed", nth, ret,
			       strerror(-ret), chk);
		}
		/* without a fault, the same request works */
		if (ret && (!variant->state || st == S_OLD)) {
			bool unused;

			ret = attempt(self, variant, 0, &unused);
			ASSERT_EQ(0, ret) {
				TH_LOG("fail-nth %u: the retry failed: %s", nth, strerror(-ret));
			}
			if (variant->state)
				ASSERT_EQ(S_NEW, variant->state(self, ret));
			ASSERT_EQ(0, ns_check(self));
		}
		if (variant->undo)
			variant->undo(self);
		akm_events_drain(&self->ev);
	}
	ASSERT_FALSE(hit) {
		TH_LOG("still failing allocations after %u attempts", MAX_NTH);
	}
	ksft_print_msg("%s: %d attempts, %d faults injected: %d ENOMEM, %d ENOBUFS, %d succeeded; %d events lost silently\n",
		       variant->name, c.iters, c.injected, c.enomem, c.enobufs, c.ok, c.lost);
	fflush(stdout);
	EXPECT_EQ(0, c.lost) {
		TH_LOG("changes announced neither by an event nor by ENOBUFS");
	}
	if (variant->need_enomem)
		ASSERT_GT(c.enomem, 0) {
			TH_LOG("no attempt failed with ENOMEM: is fail-nth injecting?");
		}
}

/* --- namespace deletion with state present --- */

static int lo_up(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret = -1;

	if (fd < 0)
		return -1;
	if (!ioctl(fd, SIOCGIFFLAGS, &ifr)) {
		ifr.ifr_flags |= IFF_UP;
		ret = ioctl(fd, SIOCSIFFLAGS, &ifr);
	}
	close(fd);
	return ret;
}

/* A few datagrams to a member's address, authenticated on lo. */
static void traffic(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(9) };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), i;

	if (fd < 0)
		return;
	inet_pton(AF_INET, "127.0.0.2", &sin.sin_addr);
	for (i = 0; i < 10; i++)
		sendto(fd, "akm", 3, MSG_DONTWAIT, (struct sockaddr *)&sin, sizeof(sin));
	close(fd);
}

#define NS_KEYS 32

/*
 * In a new namespace: 4 ASRs with 8 members and 3 epochs (previous in its
 * grace period, current, next) each, a credential, traffic. Writes the
 * keyring and key serials to fd; 0 or the failed step.
 */
static int fill_netns(int fd)
{
	int32_t serials[NS_KEYS] = {};
	struct akm_node_info n;
	struct akm_asr_info a;
	struct akm_nl nl;
	uint32_t asr, node, e;
	int k = 0, i;

	if (akm_new_netns() || akm_nl_open(&nl) || lo_up())
		return 1;
	if (akm_node_set(&nl, 1) || cred_install(&nl, 9) || akm_node_get(&nl, &n) ||
	    cred_get(&nl, 9, &serials[k++]))
		return 2;
	serials[k++] = n.keyring;
	for (asr = 1; asr <= 4; asr++) {
		if (akm_asr_new(&nl, asr, 1 + asr % 2, "doomed", -1))
			return 3;
		for (node = 2; node <= 9; node++) {
			char a4[32], a6[32];
			const char *addrs[] = { a4, a6 };

			snprintf(a4, sizeof(a4), "127.0.%u.%u", asr - 1, node);
			snprintf(a6, sizeof(a6), "fd00:%x::%x", asr, node);
			if (akm_member_new(&nl, asr, node, AKM_MEMBER_ACTIVE, addrs, 2))
				return 4;
		}
		for (e = 1; e <= 3; e++)
			if (akm_key_install(&nl, asr, e, material, AKM_KEY_LEN) ||
			    (e < 3 && akm_key_activate(&nl, asr, e)))
				return 5;
		if (akm_asr_get(&nl, asr, &a) || a.nkeys != 3)
			return 6;
		for (i = 0; i < a.nkeys; i++)
			serials[k++] = a.keys[i].serial;
	}
	traffic();
	if (write(fd, serials, sizeof(serials)) != sizeof(serials))
		return 7;
	akm_nl_close(&nl);
	return 0;
}

static int keys_left(const int32_t *serials)
{
	int i, n = 0;

	for (i = 0; i < NS_KEYS; i++)
		n += serials[i] && akm_proc_keys_line(serials[i], NULL, 0);
	return n;
}

FIXTURE(netns) {
	int unused;
};

FIXTURE_SETUP(netns)
{
}

FIXTURE_TEARDOWN(netns)
{
}

TEST_F_TIMEOUT(netns, delete_with_state, 600)
{
	const char *addr = "192.0.2.42";
	long long start = akm_now_ms(), worst = 0;
	struct akm_asr_info a;
	struct akm_nl nl;
	int round, status, left;

	/* an ASR in the initial namespace must not notice */
	ASSERT_EQ(0, akm_nl_open(&nl));
	AKM_ASSERT_OK(&nl, akm_asr_new(&nl, 4242, AKM_ALG_HMAC_SHA256, "survivor", -1));
	AKM_ASSERT_OK(&nl, akm_member_new(&nl, 4242, 7, -1, &addr, 1));
	AKM_ASSERT_OK(&nl, akm_key_install(&nl, 4242, 1, material, AKM_KEY_LEN));

	for (round = 0; round < 20; round++) {
		int32_t serials[NS_KEYS] = {};
		long long t;
		int p[2];
		pid_t pid;

		ASSERT_EQ(0, pipe(p));
		pid = fork();
		ASSERT_GE(pid, 0);
		if (!pid) {
			close(p[0]);
			_exit(fill_netns(p[1]));
		}
		close(p[1]);
		ASSERT_EQ(sizeof(serials), read(p[0], serials, sizeof(serials)));
		close(p[0]);
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		ASSERT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status)) {
			TH_LOG("round %d: filling the namespace failed at step %d", round,
			       WEXITSTATUS(status));
		}
		/* the namespace is gone with the child: its keys follow */
		t = akm_now_ms();
		while ((left = keys_left(serials)) && akm_now_ms() - t < 30000)
			usleep(20000);
		ASSERT_EQ(0, left) {
			TH_LOG("round %d: %d keys of the dead namespace still in /proc/keys",
			       round, left);
		}
		if (akm_now_ms() - t > worst)
			worst = akm_now_ms() - t;
	}
	ksft_print_msg("20 namespaces deleted in %lld ms; keys gone at most %lld ms after the owner exited\n",
		       akm_now_ms() - start, worst);
	fflush(stdout);

	AKM_EXPECT_OK(&nl, akm_asr_get(&nl, 4242, &a));
	EXPECT_EQ(1, a.member_count);
	ASSERT_EQ(1, a.nkeys);
	EXPECT_TRUE(akm_key_live(a.keys[0].serial));
	AKM_EXPECT_OK(&nl, akm_asr_del(&nl, 4242));
	akm_nl_close(&nl);
}

TEST_HARNESS_MAIN
