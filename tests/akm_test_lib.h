/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared helpers for the AKM control-plane selftests: a generic netlink
 * socket bound to the "akm" family, requests that return -errno plus the
 * extended ACK, a dump collector, attribute builders and reply parsers.
 *
 * Include this after kselftest_harness.h to get the AKM_* check macros.
 */
#ifndef AKM_TEST_LIB_H
#define AKM_TEST_LIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <linux/netlink.h>

#include <netlink/netlink.h>
#include <netlink/genl/genl.h>
#include <netlink/genl/ctrl.h>

#include <linux/akm.h>

#define AKM_MAX_KEYS	8
#define AKM_MAX_ADDRS	32

/* One generic netlink socket talking to the "akm" family. */
struct akm_nl {
	struct nl_sock *sk;
	int family;		/* resolved family id */
	int events_grp;		/* multicast group id of "events", or -1 */
	/* extended ACK of the last request */
	int err;		/* last error (-errno), 0 on success */
	char ext_msg[256];	/* NLMSGERR_ATTR_MSG, "" if none */
	int ext_miss_type;	/* NLMSGERR_ATTR_MISS_TYPE, -1 if none */
	int ext_offs;		/* NLMSGERR_ATTR_OFFS, -1 if none */
	uint32_t dump_seq;	/* sequence number of the dump in progress */
	unsigned char *evbuf;	/* events received but not handed out yet */
	int evlen, evoff;
};

/* Result of a dump. */
struct akm_dump_res {
	int msgs;		/* messages received (excluding NLMSG_DONE) */
	int recvs;		/* datagrams read */
	bool intr;		/* NLM_F_DUMP_INTR seen on any message (incl. DONE) */
	bool multi_missing;	/* a message lacked NLM_F_MULTI */
	int done_err;		/* error carried in NLMSG_DONE */
};

struct akm_stats {
	uint64_t v[AKM_STATS_A_MAX + 1];
	bool present[AKM_STATS_A_MAX + 1];
	int unknown;		/* attributes with types beyond AKM_STATS_A_MAX */
};

struct akm_node_info {
	bool has_node_id, has_keyring, has_generation, has_asr_count, has_stats;
	uint32_t node_id, keyring, generation, asr_count;
	struct akm_stats stats;
};

struct akm_key_info {
	bool has_epoch, has_state, has_serial, has_created, has_activated, has_tx_seq;
	uint32_t epoch;
	uint8_t state;
	int32_t serial;
	uint64_t created, activated, tx_seq;
};

struct akm_addr {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t a[16];
};

struct akm_asr_info {
	bool has_id, has_name, has_alg, has_policy, has_member_count, has_stats;
	bool has_material;	/* must never be true */
	bool has_grace, has_last_epoch;
	uint32_t grace, last_epoch;
	uint32_t id;
	char name[128];
	uint8_t alg, policy;
	uint32_t member_count;
	int ngroups;		/* ASR_GROUPS entries (may exceed AKM_MAX_ADDRS) */
	struct akm_addr groups[AKM_MAX_ADDRS];
	int nkeys;
	struct akm_key_info keys[AKM_MAX_KEYS];
	struct akm_stats stats;
};

struct akm_member_info {
	bool has_asr_id, has_node_id, has_state, has_addrs, has_stats;
	uint32_t asr_id, node_id;
	uint8_t state;
	int naddrs;
	struct akm_addr addrs[AKM_MAX_ADDRS];
	struct akm_stats stats;
};

/* An event read from the "events" multicast group. */
struct akm_event {
	int cmd;
	bool has_asr_id, has_node_id, has_epoch, has_material, has_cred_id;
	uint32_t asr_id, node_id, epoch, cred_id;
	int len;		/* payload length */
};

/* Called for every reply message; return 0 to continue. */
typedef int (*akm_msg_cb)(struct nlmsghdr *nlh, void *arg);

/* --- sockets --- */
int akm_nl_open(struct akm_nl *nl);
void akm_nl_close(struct akm_nl *nl);
/* A second socket joined to the "events" group (nonblocking). */
int akm_events_open(struct akm_nl *ev);
/* Wait up to timeout_ms for any event; 0, -ETIMEDOUT or -errno. */
int akm_event_next(struct akm_nl *ev, struct akm_event *e, int timeout_ms);
/* Wait up to timeout_ms for an event with command cmd, skipping others. */
int akm_event_wait(struct akm_nl *ev, int cmd, struct akm_event *e, int timeout_ms);
/* Discard every pending event. */
void akm_events_drain(struct akm_nl *ev);

/* --- raw requests --- */
/* New request for the akm family; flags are added to NLM_F_REQUEST. */
struct nl_msg *akm_msg(struct akm_nl *nl, int cmd, int flags);
/* New request for any family (e.g. GENL_ID_CTRL). */
struct nl_msg *akm_msg_family(struct akm_nl *nl, int family, int cmd, int version, int flags);
/*
 * Send msg (always freed) as a doit request with NLM_F_ACK. cb is called
 * for each reply message. Returns 0 or -errno from the ACK; the extended
 * ACK is left in nl->ext_*.
 */
int akm_do(struct akm_nl *nl, struct nl_msg *msg, akm_msg_cb cb, void *arg);
/* Send msg (freed) with NLM_F_DUMP and collect every message into cb. */
int akm_dump(struct akm_nl *nl, struct nl_msg *msg, akm_msg_cb cb, void *arg,
	     struct akm_dump_res *res);
/*
 * Split dump: akm_dump_start() sends the request and reads exactly one
 * datagram; akm_dump_finish() reads the rest.
 */
int akm_dump_start(struct akm_nl *nl, struct nl_msg *msg, akm_msg_cb cb, void *arg,
		   struct akm_dump_res *res, bool *done);
int akm_dump_finish(struct akm_nl *nl, akm_msg_cb cb, void *arg,
		    struct akm_dump_res *res);

/* Commands the kernel only sends (events), never accepts. */
static inline bool akm_cmd_is_event_only(int cmd)
{
	return cmd == AKM_CMD_KEY_REVOKED || cmd == AKM_CMD_AUTH_FAILURE;
}

/* true if the last error's extack names attribute type (MISS_TYPE) or its name. */
bool akm_extack_names(const struct akm_nl *nl, int type, const char *name);

/* --- attribute builders --- */
int akm_put_addrs(struct nl_msg *msg, const char *const *addrs, int n);
int akm_put_addr_raw(struct nl_msg *msg, int type, const void *data, int len);
/* Parse "1.2.3.4" or "fd00::1". */
int akm_parse_addr(const char *s, struct akm_addr *a);
void akm_material(uint8_t *buf, int len, uint32_t seed);

/* --- parsers --- */
int akm_parse_node(struct nlmsghdr *nlh, struct akm_node_info *n);
int akm_parse_asr(struct nlmsghdr *nlh, struct akm_asr_info *a);
int akm_parse_member(struct nlmsghdr *nlh, struct akm_member_info *m);
int akm_parse_stats_reply(struct nlmsghdr *nlh, struct akm_stats *s, bool *has);
int akm_parse_event(struct nlmsghdr *nlh, struct akm_event *e);
const struct akm_key_info *akm_find_key(const struct akm_asr_info *a, uint32_t epoch);
bool akm_member_has_addr(const struct akm_member_info *m, const char *addr);
/* Are a[0..n) exactly the addresses want[0..nwant), in any order? */
bool akm_addrs_match(const struct akm_addr *a, int n, const char *const *want, int nwant);
bool akm_stats_complete(const struct akm_stats *s);
bool akm_stats_zero(const struct akm_stats *s);

/* --- typed commands (return 0 or -errno) --- */
int akm_node_get(struct akm_nl *nl, struct akm_node_info *n);
int akm_node_set(struct akm_nl *nl, uint32_t node_id);
/* name may be NULL, policy < 0 means "not sent" */
int akm_asr_new(struct akm_nl *nl, uint32_t id, int alg, const char *name, int policy);
int akm_asr_set(struct akm_nl *nl, uint32_t id, const char *name, int policy);
int akm_asr_del(struct akm_nl *nl, uint32_t id);
int akm_asr_get(struct akm_nl *nl, uint32_t id, struct akm_asr_info *a);
/* Dump into out[0..max), count in *n (may exceed max), res optional. */
int akm_asr_dump(struct akm_nl *nl, struct akm_asr_info *out, int max, int *n,
		 struct akm_dump_res *res);
/* state < 0: not sent; addrs NULL: no MEMBER_ADDRS nest */
int akm_member_new(struct akm_nl *nl, uint32_t asr, uint32_t node, int state,
		   const char *const *addrs, int naddrs);
int akm_member_set(struct akm_nl *nl, uint32_t asr, uint32_t node, int state,
		   const char *const *addrs, int naddrs);
int akm_member_del(struct akm_nl *nl, uint32_t asr, uint32_t node);
int akm_member_get(struct akm_nl *nl, uint32_t asr, uint32_t node, struct akm_member_info *m);
/* asr 0: no filter */
int akm_member_dump(struct akm_nl *nl, uint32_t asr, struct akm_member_info *out, int max,
		    int *n, struct akm_dump_res *res);
int akm_key_install(struct akm_nl *nl, uint32_t asr, uint32_t epoch,
		    const uint8_t *material, int len);
int akm_key_activate(struct akm_nl *nl, uint32_t asr, uint32_t epoch);
int akm_key_retire(struct akm_nl *nl, uint32_t asr, uint32_t epoch);
/* asr 0: node level; node 0: ASR level */
int akm_stats_get(struct akm_nl *nl, uint32_t asr, uint32_t node, struct akm_stats *s);
int akm_stats_reset(struct akm_nl *nl, uint32_t asr, uint32_t node);

/* --- environment --- */
/* unshare(CLONE_NEWNET) so the test has a private, empty AKM state. */
int akm_new_netns(void);
/* inode of /proc/self/ns/net */
unsigned long akm_netns_inode(void);
/* Does /proc/keys have a line with this serial, return it in line. */
bool akm_proc_keys_line(int32_t serial, char *line, size_t len);
bool akm_keyring_contains(int32_t keyring, int32_t serial);
/* Is the key in /proc/keys and neither revoked, dead nor invalidated? */
bool akm_key_live(int32_t serial);
/* Number of live keys (akm_key_live) linked in keyring, or -errno. */
int akm_keyring_live_keys(int32_t keyring);
/*
 * Wait up to timeout_ms until serial is no longer linked in keyring
 * (invalidated keys are unlinked by the keyring garbage collector).
 */
bool akm_keyring_drops(int32_t keyring, int32_t serial, int timeout_ms);
/* Milliseconds since an arbitrary point. */
long long akm_now_ms(void);

/* --- check macros for kselftest_harness tests --- */
#ifdef __KSELFTEST_HARNESS_H
#include <string.h>
#define AKM_EXPECT_ERR(nl, expected, expr) do {					\
	int __akm_r = (expr);							\
	if (__akm_r != (expected))						\
		TH_LOG("%s = %d (%s), want %d (%s); extack \"%s\"", #expr,	\
		       __akm_r, strerror(-__akm_r), (int)(expected),		\
		       strerror(-(int)(expected)), (nl)->ext_msg);		\
	EXPECT_EQ((expected), __akm_r);						\
} while (0)
#define AKM_ASSERT_ERR(nl, expected, expr) do {					\
	int __akm_r = (expr);							\
	if (__akm_r != (expected))						\
		TH_LOG("%s = %d (%s), want %d (%s); extack \"%s\"", #expr,	\
		       __akm_r, strerror(-__akm_r), (int)(expected),		\
		       strerror(-(int)(expected)), (nl)->ext_msg);		\
	ASSERT_EQ((expected), __akm_r);						\
} while (0)
#define AKM_ASSERT_OK(nl, expr) AKM_ASSERT_ERR(nl, 0, expr)
#define AKM_EXPECT_OK(nl, expr) AKM_EXPECT_ERR(nl, 0, expr)
/*
 * An attribute the policy rejects: the netlink core answers EINVAL for
 * wrong types and lengths and ERANGE for values or binary lengths outside
 * a policy range (NLA_POLICY_RANGE/MIN/MAX/EXACT_LEN).
 */
#define AKM_EXPECT_INVAL(nl, expr) do {						\
	int __akm_r = (expr);							\
	if (__akm_r != -EINVAL && __akm_r != -ERANGE)				\
		TH_LOG("%s = %d (%s), want -EINVAL or -ERANGE; extack \"%s\"",	\
		       #expr, __akm_r, strerror(-__akm_r), (nl)->ext_msg);	\
	EXPECT_TRUE(__akm_r == -EINVAL || __akm_r == -ERANGE);			\
} while (0)
/* EINVAL whose extack names the missing attribute */
#define AKM_EXPECT_MISSING(nl, expr, type, name) do {				\
	AKM_EXPECT_ERR(nl, -EINVAL, expr);					\
	if (!akm_extack_names(nl, type, name))					\
		TH_LOG("extack does not name %s: msg \"%s\" miss_type %d",	\
		       name, (nl)->ext_msg, (nl)->ext_miss_type);		\
	EXPECT_TRUE(akm_extack_names(nl, type, name));				\
} while (0)

/* Every test runs in its own network namespace: a fresh, empty AKM state. */
#define AKM_FIXTURE(name)							\
FIXTURE(name) {								\
	struct akm_nl nl;							\
};									\
FIXTURE_SETUP(name)							\
{									\
	ASSERT_EQ(0, akm_new_netns());						\
	ASSERT_EQ(0, akm_nl_open(&self->nl)) {					\
		TH_LOG("cannot open the akm generic netlink family "		\
		       "(is akm.ko loaded?)");					\
	}									\
}									\
FIXTURE_TEARDOWN(name)							\
{									\
	akm_nl_close(&self->nl);						\
}
#endif

#endif /* AKM_TEST_LIB_H */
