/* SPDX-License-Identifier: GPL-2.0 */
/*
 * AKM: symmetric-key group authentication for IP traffic.
 * Internal declarations shared by the module's files.
 */
#ifndef _AKM_H
#define _AKM_H

#include <linux/hashtable.h>
#include <linux/in6.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/netlink.h>
#include <linux/rcupdate.h>
#include <linux/refcount.h>
#include <linux/u64_stats_sync.h>
#include <linux/workqueue.h>
#include <linux/akm.h>

struct key;
struct net;

/* Counters, indexed by enum akm_stats_attr; per CPU, read as a sum. */
struct akm_pcpu_stats {
	u64_stats_t c[__AKM_STATS_A_MAX];
	struct u64_stats_sync syncp;
};

struct akm_stats {
	struct akm_pcpu_stats __percpu *pcpu;
	u64 base[__AKM_STATS_A_MAX];	/* values at the last reset */
};

/* Key material of one epoch: the payload of an "akm" key in the keyring. */
struct akm_key {
	refcount_t ref;		/* one for the keyring key, one for the epoch */
	struct akm_net *owner;	/* under akm_keys_lock; NULL once detached */
	bool dead;		/* revoked or unlinked from user space */
	u8 state;		/* enum akm_key_state, for describe */
	u8 alg;
	u8 material[AKM_KEY_LEN];
};

struct akm_epoch {
	u32 epoch;
	s32 serial;		/* keyring serial of the key */
	time64_t created;
	time64_t activated;
	struct akm_key *key;
	struct rcu_head rcu;
};

struct akm_addr {
	struct hlist_node node;		/* in akm_net.addrs */
	struct in6_addr addr;		/* IPv4 as ::ffff:a.b.c.d */
	struct akm_member *member;
	struct rcu_head rcu;
};

struct akm_member {
	struct list_head list;		/* in akm_asr.members, by node id */
	struct akm_asr *asr;
	u32 node_id;
	u8 state;			/* enum akm_member_state */
	u8 n_addrs;
	struct akm_addr *addrs[AKM_ADDRS_MAX];
	struct akm_stats stats;
	struct rcu_head rcu;
};

struct akm_asr {
	struct list_head list;		/* in akm_net.asrs, by id */
	struct hlist_node node;		/* in akm_net.asr_hash */
	u32 id;
	u8 alg;				/* enum akm_alg */
	u8 policy;			/* enum akm_policy */
	char name[AKM_NAME_MAX];
	unsigned int n_members;
	struct list_head members;
	struct akm_epoch __rcu *epochs[__AKM_KEY_STATE_MAX];	/* by state */
	struct akm_stats stats;
	struct rcu_head rcu;
};

/* Per network namespace state: one AKM node. */
struct akm_net {
	struct net *net;
	struct mutex lock;		/* serialises all configuration */
	u32 node_id;
	u32 generation;			/* bumped by every change, for dumps */
	unsigned int n_asrs;
	struct list_head asrs;
	DECLARE_HASHTABLE(asr_hash, 8);
	DECLARE_HASHTABLE(addrs, 10);
	struct key *keyring;
	struct work_struct key_work;	/* reaps keys revoked from user space */
	struct akm_stats stats;
};

struct akm_net *akm_pernet(const struct net *net);

/* asr.c: objects; callers hold an->lock unless noted */
struct akm_asr *akm_asr_find(struct akm_net *an, u32 id);	/* or RCU */
int akm_asr_new(struct akm_net *an, u32 id, u8 alg, struct akm_asr **out);
void akm_asr_del(struct akm_net *an, struct akm_asr *asr);
void akm_asr_flush(struct akm_net *an);
struct akm_member *akm_member_find(struct akm_asr *asr, u32 node_id);
struct akm_addr *akm_addr_find(struct akm_net *an, const struct in6_addr *a);
int akm_member_new(struct akm_net *an, struct akm_asr *asr, u32 node_id,
		   struct akm_member **out);
int akm_member_set_addrs(struct akm_net *an, struct akm_member *m,
			 const struct in6_addr *addrs, unsigned int n,
			 unsigned int *bad);
void akm_member_del(struct akm_net *an, struct akm_member *m);

/* keys.c: the "akm" key type, the per-netns keyring and key epochs */
int akm_keys_init(void);
void akm_keys_exit(void);
int akm_keyring_create(struct akm_net *an);
void akm_keyring_destroy(struct akm_net *an);
struct akm_epoch *akm_epoch_find(struct akm_net *an, struct akm_asr *asr,
				 u32 epoch, int *state);
int akm_epoch_install(struct akm_net *an, struct akm_asr *asr, u32 epoch,
		      const u8 *material, struct netlink_ext_ack *extack);
int akm_epoch_activate(struct akm_net *an, struct akm_asr *asr, u32 epoch,
		       struct netlink_ext_ack *extack);
int akm_epoch_retire(struct akm_net *an, struct akm_asr *asr, u32 epoch,
		     struct netlink_ext_ack *extack);
void akm_epochs_flush(struct akm_net *an, struct akm_asr *asr);
void akm_keys_reap(struct work_struct *work);

/* stats.c */
int akm_stats_init(struct akm_stats *s);
void akm_stats_free(struct akm_stats *s);
void akm_stats_read(const struct akm_stats *s, u64 *out);
void akm_stats_reset(struct akm_stats *s);

static inline void akm_stats_add(struct akm_stats *s, unsigned int idx, u64 n)
{
	struct akm_pcpu_stats *p = this_cpu_ptr(s->pcpu);

	u64_stats_update_begin(&p->syncp);
	u64_stats_add(&p->c[idx], n);
	u64_stats_update_end(&p->syncp);
}

/* netlink.c */
int akm_genl_init(void);
void akm_genl_exit(void);
void akm_notify(struct akm_net *an, u8 cmd, u32 asr_id, u32 node_id, u32 epoch);

#endif /* _AKM_H */
