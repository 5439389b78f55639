// SPDX-License-Identifier: GPL-2.0
/*
 * ASRs and their members. All changes are made under akm_net.lock; the
 * lookups the packet path needs (ASR by id, member by address) are RCU
 * hash tables, and every object is freed after a grace period.
 */
#include <linux/jhash.h>
#include <linux/slab.h>
#include <net/ipv6.h>

#include "akm.h"

struct akm_asr *akm_asr_find(struct akm_net *an, u32 id)
{
	struct akm_asr *asr;

	hash_for_each_possible_rcu(an->asr_hash, asr, node, id,
				   lockdep_is_held(&an->lock))
		if (asr->id == id)
			return asr;
	return NULL;
}

static void akm_addrs_unhash(struct akm_addrs *set)
{
	unsigned int i;

	for (i = 0; i < set->n; i++) {
		hash_del_rcu(&set->a[i]->node);
		kfree_rcu(set->a[i], rcu);
		set->a[i] = NULL;
	}
	set->n = 0;
}

static void akm_member_free_rcu(struct rcu_head *rcu)
{
	struct akm_member *m = container_of(rcu, struct akm_member, rcu);

	akm_stats_free(&m->stats);
	kfree(m);
}

/* Out of the lookups and the ASR's list; readers may still hold it. */
static void akm_member_unlink(struct akm_member *m)
{
	akm_addrs_unhash(&m->addrs);
	list_del_rcu(&m->list);
	m->asr->n_members--;
}

int akm_asr_new(struct akm_net *an, u32 id, u8 alg, struct akm_asr **out)
{
	struct akm_asr *asr, *pos;
	int err;

	asr = kzalloc(sizeof(*asr), GFP_KERNEL_ACCOUNT);
	if (!asr)
		return -ENOMEM;
	err = akm_stats_init(&asr->stats);
	if (err) {
		kfree(asr);
		return err;
	}
	asr->id = id;
	asr->alg = alg;
	asr->policy = AKM_POLICY_DROP;
	asr->grace = AKM_GRACE_DEFAULT;
	INIT_LIST_HEAD(&asr->members);
	INIT_LIST_HEAD(&asr->stash);

	/* keep the list sorted by id: dumps resume after the last id sent */
	list_for_each_entry(pos, &an->asrs, list)
		if (pos->id > id)
			break;
	list_add_tail_rcu(&asr->list, &pos->list);
	hash_add_rcu(an->asr_hash, &asr->node, id);
	an->n_asrs++;
	*out = asr;
	return 0;
}

static void akm_asr_free_rcu(struct rcu_head *rcu)
{
	struct akm_asr *asr = container_of(rcu, struct akm_asr, rcu);

	akm_stats_free(&asr->stats);
	kfree(asr);
}

void akm_asr_del(struct akm_net *an, struct akm_asr *asr)
{
	struct akm_member *m, *tmp;

	hash_del_rcu(&asr->node);
	list_del_rcu(&asr->list);
	an->n_asrs--;
	/* its epochs go too: no window of its members matters any more */
	list_for_each_entry_safe(m, tmp, &asr->members, list) {
		akm_member_unlink(m);
		call_rcu(&m->rcu, akm_member_free_rcu);
	}
	akm_stash_prune(an, asr, true);
	akm_addrs_unhash(&asr->groups);
	akm_epochs_flush(an, asr);
	call_rcu(&asr->rcu, akm_asr_free_rcu);
}

void akm_asr_flush(struct akm_net *an)
{
	struct akm_asr *asr, *tmp;

	list_for_each_entry_safe(asr, tmp, &an->asrs, list)
		akm_asr_del(an, asr);
}

struct akm_member *akm_member_find(struct akm_asr *asr, u32 node_id)
{
	struct akm_member *m;

	list_for_each_entry(m, &asr->members, list)
		if (m->node_id == node_id)
			return m;
	return NULL;
}

static u32 akm_addr_hash(const struct in6_addr *a)
{
	return jhash2((const u32 *)a, 4, 0);
}

struct akm_addr *akm_addr_find(struct akm_net *an, const struct in6_addr *a)
{
	struct akm_addr *e;

	hash_for_each_possible_rcu(an->addrs, e, node, akm_addr_hash(a),
				   lockdep_is_held(&an->lock))
		if (ipv6_addr_equal(&e->addr, a))
			return e;
	return NULL;
}

/* Does a receive window of @m hold packets of an installed epoch? */
static bool akm_rx_live(struct akm_net *an, struct akm_member *m)
{
	int i, state;

	for (i = 0; i < ARRAY_SIZE(m->rx); i++)
		if (m->rx[i].window.top &&
		    akm_epoch_find(an, m->asr, m->rx[i].epoch, &state))
			return true;
	return false;
}

/* Free the stashed members whose windows no longer matter (@all: every one). */
void akm_stash_prune(struct akm_net *an, struct akm_asr *asr, bool all)
{
	struct akm_member *m, *tmp;

	list_for_each_entry_safe(m, tmp, &asr->stash, stash) {
		if (!all && akm_rx_live(an, m))
			continue;
		list_del(&m->stash);
		call_rcu(&m->rcu, akm_member_free_rcu);
	}
}

/*
 * A node added again takes over the windows it had before it was deleted
 * (final since then: a dead member's windows accept nothing).
 */
static void akm_stash_take(struct akm_asr *asr, struct akm_member *new)
{
	struct akm_member *m;

	list_for_each_entry(m, &asr->stash, stash) {
		if (m->node_id != new->node_id)
			continue;
		memcpy(new->rx, m->rx, sizeof(new->rx));
		list_del(&m->stash);
		call_rcu(&m->rcu, akm_member_free_rcu);
		return;
	}
}

int akm_member_new(struct akm_net *an, struct akm_asr *asr, u32 node_id,
		   struct akm_member **out)
{
	struct akm_member *m, *pos;
	int err;

	m = kzalloc(sizeof(*m), GFP_KERNEL_ACCOUNT);
	if (!m)
		return -ENOMEM;
	err = akm_stats_init(&m->stats);
	if (err) {
		kfree(m);
		return err;
	}
	m->asr = asr;
	m->node_id = node_id;
	m->state = AKM_MEMBER_PROVISIONED;
	spin_lock_init(&m->rx_lock);
	akm_stash_take(asr, m);

	list_for_each_entry(pos, &asr->members, list)
		if (pos->node_id > node_id)
			break;
	list_add_tail_rcu(&m->list, &pos->list);
	asr->n_members++;
	*out = m;
	return 0;
}

/*
 * Replace the addresses of a member (@m) or the groups of an ASR (@m NULL).
 * An address may have one owner per namespace, so that a packet's peer
 * address names its ASR. Either all new addresses are installed or nothing
 * changes. On -EADDRINUSE (another owner) or -EINVAL (given twice), *bad is
 * the offending index.
 */
int akm_addrs_replace(struct akm_net *an, struct akm_addrs *set,
		      struct akm_asr *asr, struct akm_member *m,
		      const struct in6_addr *addrs, unsigned int n,
		      unsigned int *bad)
{
	struct akm_addr *new[AKM_ADDRS_MAX] = {};
	unsigned int i, j;
	int err = -ENOMEM;

	for (i = 0; i < n; i++) {
		struct akm_addr *e = akm_addr_find(an, &addrs[i]);

		*bad = i;
		err = -EADDRINUSE;
		if (e && (e->asr != asr || e->member != m))
			goto err;
		err = -EINVAL;
		for (j = 0; j < i; j++)
			if (ipv6_addr_equal(&addrs[i], &addrs[j]))
				goto err;
		err = -ENOMEM;
		new[i] = kzalloc(sizeof(*new[i]), GFP_KERNEL_ACCOUNT);
		if (!new[i])
			goto err;
		new[i]->addr = addrs[i];
		new[i]->asr = asr;
		new[i]->member = m;
	}

	/*
	 * New entries first: an address in both sets never goes missing, so
	 * its packets are never sent plain or accepted plain in between.
	 */
	for (i = 0; i < n; i++)
		hash_add_rcu(an->addrs, &new[i]->node,
			     akm_addr_hash(&new[i]->addr));
	akm_addrs_unhash(set);
	memcpy(set->a, new, sizeof(new[0]) * n);
	set->n = n;
	return 0;

err:
	while (i--)
		kfree(new[i]);
	return err;
}

void akm_member_del(struct akm_net *an, struct akm_member *m)
{
	bool live;

	akm_member_unlink(m);
	/* readers that still hold it commit nothing from now on */
	spin_lock_bh(&m->rx_lock);
	m->dead = true;
	live = akm_rx_live(an, m);
	spin_unlock_bh(&m->rx_lock);
	akm_stash_prune(an, m->asr, false);
	if (live)
		list_add(&m->stash, &m->asr->stash);
	else
		call_rcu(&m->rcu, akm_member_free_rcu);
}
