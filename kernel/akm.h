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

#include "replay.h"
#include "wire.h"

#ifdef AKM_HAVE_LINUX_UNALIGNED	/* set by Kbuild: the header moved in 6.12 */
#include <linux/unaligned.h>
#else
#include <asm/unaligned.h>
#endif

struct crypto_shash;
struct key;
struct net;
struct sk_buff;

extern u8 akm_proto;
extern u64 akm_tx_seq_start;
extern struct workqueue_struct *akm_wq;

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
	u8 state;		/* enum akm_key_state, for describe */
	u8 alg;
	u8 material[AKM_KEY_LEN];
};

/* An epoch's derived MAC key (crypto.c). */
struct akm_mac {
	u8 alg;
	u8 key[AKM_KEY_LEN];
	u32 chacha_key[AKM_KEY_LEN / 4];
	struct crypto_shash *hmac;	/* keyed with key, hmac-sha256 only */
};

struct akm_epoch {
	u32 epoch;
	s32 serial;		/* keyring serial of the key */
	time64_t created;
	time64_t activated;
	unsigned long retire_at;	/* jiffies; previous epoch, 0: never */
	atomic64_t tx_seq;	/* last sequence number sent */
	struct akm_key *key;
	struct akm_mac mac;
	struct rcu_work free_work;
};

/*
 * An address known to this node: a member's (@member set), or a multicast
 * group of an ASR (@member NULL). One owner per address per namespace.
 */
struct akm_addr {
	struct hlist_node node;		/* in akm_net.addrs */
	struct in6_addr addr;		/* IPv4 as ::ffff:a.b.c.d */
	struct akm_asr *asr;
	struct akm_member *member;
	struct rcu_head rcu;
};

struct akm_addrs {
	u8 n;
	struct akm_addr *a[AKM_ADDRS_MAX];
};

/* Receive state of one sender under one epoch. */
struct akm_rx {
	u32 epoch;			/* 0: unused */
	struct akm_replay window;
};

struct akm_member {
	struct list_head list;		/* in akm_asr.members, by node id */
	struct akm_asr *asr;
	u32 node_id;
	u8 state;			/* enum akm_member_state */
	struct akm_addrs addrs;
	struct akm_stats stats;
	spinlock_t rx_lock;		/* rx */
	struct akm_rx rx[__AKM_KEY_STATE_MAX];
	bool dead;			/* deleted: rx is final (under rx_lock) */
	struct list_head stash;		/* in akm_asr.stash once deleted */
	struct rcu_head rcu;
};

struct akm_asr {
	struct list_head list;		/* in akm_net.asrs, by id */
	struct hlist_node node;		/* in akm_net.asr_hash */
	u32 id;
	u8 alg;				/* enum akm_alg */
	u8 policy;			/* enum akm_policy */
	u32 grace;			/* seconds */
	char name[AKM_NAME_MAX];
	unsigned int n_members;
	struct list_head members;
	struct akm_addrs groups;	/* multicast addresses */
	/*
	 * Deleted members whose receive windows name an installed epoch: if
	 * the node is added again, its windows go on (no replay).
	 */
	struct list_head stash;
	struct akm_epoch __rcu *epochs[__AKM_KEY_STATE_MAX];	/* by state */
	struct akm_stats stats;
	struct rcu_head rcu;
};

/* A provisioning credential shared with the peer whose node id is @id. */
struct akm_cred {
	struct list_head list;		/* in akm_net.creds, by id */
	u32 id;
	s32 serial;
	struct akm_key *key;
};

#define AKM_KEY_DESC_LEN 32	/* "asr:<id>:epoch:<n>", "cred:<id>" */

/* Per network namespace state: one AKM node. */
struct akm_net {
	struct net *net;
	struct mutex lock;		/* serialises all configuration */
	u32 node_id;
	u32 rx_mark;			/* or'ed into skb->mark when verified */
	u32 generation;			/* bumped by every change, for dumps */
	unsigned int n_asrs;
	struct list_head asrs;
	unsigned int n_creds;
	struct list_head creds;
	DECLARE_HASHTABLE(asr_hash, 8);
	DECLARE_HASHTABLE(addrs, 10);
	struct key *keyring;
	u64 instance;			/* random: this namespace's AKM state */
	DECLARE_HASHTABLE(last_epochs, 6);	/* struct akm_last, by ASR id */
	struct delayed_work retire_work;	/* ends grace periods */
	struct delayed_work fail_work;	/* announces authentication failures */
	atomic_t fail_count;
	u8 fail_reason;			/* of the last failure */
	u32 fail_asr;
	u32 fail_node;
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
int akm_addrs_replace(struct akm_net *an, struct akm_addrs *set,
		      struct akm_asr *asr, struct akm_member *m,
		      const struct in6_addr *addrs, unsigned int n,
		      unsigned int *bad);
void akm_member_del(struct akm_net *an, struct akm_member *m);
void akm_stash_prune(struct akm_net *an, struct akm_asr *asr, bool all);

/* keys.c: the "akm" key type, the per-netns keyring and key epochs */
int akm_keys_init(void);
void akm_keys_exit(void);
int akm_keyring_create(struct akm_net *an);
void akm_keyring_destroy(struct akm_net *an);
struct akm_key *akm_key_add(struct akm_net *an, const char *desc,
			    const u8 *material, u8 alg, s32 *serial,
			    struct netlink_ext_ack *extack);
void akm_key_drop(struct akm_net *an, const char *desc);
void akm_key_put(struct akm_key *k);
struct akm_epoch *akm_epoch_find(struct akm_net *an, struct akm_asr *asr,
				 u32 epoch, int *state);
int akm_epoch_install(struct akm_net *an, struct akm_asr *asr, u32 epoch,
		      const u8 *material, struct netlink_ext_ack *extack);
int akm_epoch_activate(struct akm_net *an, struct akm_asr *asr, u32 epoch,
		       struct netlink_ext_ack *extack);
int akm_epoch_retire(struct akm_net *an, struct akm_asr *asr, u32 epoch,
		     struct netlink_ext_ack *extack);
void akm_epochs_flush(struct akm_net *an, struct akm_asr *asr);
u32 akm_last_epoch(struct akm_net *an, u32 id);
void akm_last_flush(struct akm_net *an);
void akm_retire_expired(struct work_struct *work);
struct akm_epoch *akm_epoch_rx(struct akm_asr *asr, u32 epoch);

/* cred.c */
struct akm_cred *akm_cred_find(struct akm_net *an, u32 id);
int akm_cred_install(struct akm_net *an, u32 id, const u8 *material,
		     struct netlink_ext_ack *extack);
void akm_cred_del(struct akm_net *an, struct akm_cred *c);
void akm_cred_flush(struct akm_net *an);
int akm_cred_prove(const struct akm_cred *c, const u8 *data, unsigned int len,
		   u8 *proof);
int akm_cred_derive(const struct akm_cred *c, u32 asr_id, u32 epoch, u8 *key);
int akm_cred_unwrap(const struct akm_cred *c, const struct akm_asr *asr,
		    u32 epoch, const u8 *wrapped, u8 *key);

/* crypto.c */
int akm_hmac_sha256(const u8 *key, unsigned int klen, const void *d1,
		    unsigned int l1, const void *d2, unsigned int l2, u8 *out);
int akm_mac_init(struct akm_mac *mac, u8 alg, u32 asr_id, u32 epoch,
		 const u8 *key);
void akm_mac_free(struct akm_mac *mac);
void akm_mac_tag(const struct akm_mac *mac, const struct akm_pseudo *ph,
		 struct sk_buff *skb, unsigned int off, unsigned int len,
		 u32 sender, u64 seq, __wsum *csum, u8 *tag);
int akm_crypto_selftest(void);

/* hooks.c: what the packet path shares */
struct net_device;
struct nf_hook_state;
int akm_hooks_init(struct net *net);
void akm_hooks_exit(struct net *net);
int akm_parse(struct sk_buff *skb, bool v6, struct akm_pkt *p);
bool akm_is_nd(struct sk_buff *skb, const struct akm_pkt *p);
struct akm_member *akm_peer(struct akm_net *an, const struct in6_addr *addr,
			    u32 self);
struct akm_addr *akm_dst(struct akm_net *an, const struct in6_addr *dst,
			 u32 self);
bool akm_local_addr(struct net *net, const struct net_device *dev,
		    const struct akm_pkt *p, const struct in6_addr *addr);
bool akm_for_us(struct net *net, const struct net_device *in,
		const struct akm_pkt *p);
bool akm_l3mdev(const struct net_device *dev);
void akm_fail(struct akm_net *an, struct akm_stats *s, u8 reason,
	      u32 asr_id, u32 node_id);
void akm_fail_announce(struct work_struct *work);

/* in.c, out.c: the hooks */
unsigned int akm_in(void *priv, struct sk_buff *skb,
		    const struct nf_hook_state *state);
unsigned int akm_local_in(void *priv, struct sk_buff *skb,
			  const struct nf_hook_state *state);
unsigned int akm_out(void *priv, struct sk_buff *skb,
		     const struct nf_hook_state *state);

/* icmp.c */
unsigned int akm_icmp_in(struct akm_net *an, struct sk_buff *skb,
			 const struct akm_pkt *p, unsigned int ioff, u32 self,
			 const struct akm_member *from, bool local);

/* stats.c */
int akm_stats_init(struct akm_stats *s);
void akm_stats_free(struct akm_stats *s);
void akm_stats_read(const struct akm_stats *s, u64 *out);
void akm_stats_reset(struct akm_stats *s);

/* Egress hooks may run in preemptible process context: pin the CPU. */
static inline void akm_stats_add(struct akm_stats *s, unsigned int idx, u64 n)
{
	struct akm_pcpu_stats *p = get_cpu_ptr(s->pcpu);

	u64_stats_update_begin(&p->syncp);
	u64_stats_add(&p->c[idx], n);
	u64_stats_update_end(&p->syncp);
	put_cpu_ptr(s->pcpu);
}

/* netlink.c */
int akm_genl_init(void);
void akm_genl_exit(void);
void akm_notify(struct akm_net *an, u8 cmd, u32 asr_id, u32 node_id, u32 epoch);
void akm_notify_cred(struct akm_net *an, u8 cmd, u32 cred_id);
void akm_notify_fail(struct akm_net *an, u32 count, u8 reason, u32 asr_id,
		     u32 node_id);

#endif /* _AKM_H */
