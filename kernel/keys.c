// SPDX-License-Identifier: GPL-2.0
/*
 * Key epochs in the kernel keyring.
 *
 * Each network namespace has a keyring ".akm:net:<inode>"; every installed
 * epoch of every ASR is a key of type "akm" in it, described as
 * "asr:<id>:epoch:<n>". The key type has no read method, so the material
 * never goes back to user space, and only this module can create such keys:
 * instantiation requires a cookie that never leaves the kernel.
 *
 * The keyring is for inspection only. Its keys and the keyring itself are
 * kept (KEY_FLAG_KEEP) and grant their owner view and read (and search of
 * the keyring, for keyctl show): keyctl cannot revoke, invalidate, unlink,
 * clear, time out or re-permission them, so another namespace whose root
 * has the same uid cannot stop this one's traffic. Nobody in user space
 * possesses them: nothing can be linked to them, and a name starting with
 * '.' is not published, so the keyring cannot be joined as a session
 * keyring. What they grant a possessor is for the module's own lookups.
 * Epochs and credentials go by netlink (KEY_RETIRE, CRED_DEL), which needs
 * CAP_NET_ADMIN here.
 *
 * No (key, nonce) pair is used twice (Documentation/wire-format.md): the
 * namespace remembers the last epoch installed for every ASR id, also
 * after the ASR is deleted, and refuses an epoch at or below it.
 */
#include <crypto/algapi.h>
#include <linux/cred.h>
#include <linux/key-type.h>
#include <linux/random.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/timekeeping.h>
#include <linux/user_namespace.h>
#include <net/net_namespace.h>

#include "akm.h"

/* The last epoch installed for one ASR id in a namespace. */
struct akm_last {
	struct hlist_node node;		/* in akm_net.last_epochs */
	u32 asr_id;
	u32 epoch;
};

struct akm_key_init {
	u8 cookie[16];
	struct akm_key *key;
};

static u8 akm_key_cookie[16] __ro_after_init;

static const char *const akm_alg_names[] = {
	[AKM_ALG_HMAC_SHA256] = "hmac-sha256",
	[AKM_ALG_CHACHA20_POLY1305] = "chacha20-poly1305",
};

static const char *const akm_key_state_names[] = {
	[AKM_KEY_NEXT] = "next",
	[AKM_KEY_CURRENT] = "current",
	[AKM_KEY_PREVIOUS] = "previous",
};

void akm_key_put(struct akm_key *k)
{
	if (refcount_dec_and_test(&k->ref))
		kfree_sensitive(k);
}

static int akm_key_instantiate(struct key *key,
			       struct key_preparsed_payload *prep)
{
	const struct akm_key_init *init = prep->data;

	/* keys of this type are made by the module only */
	if (prep->datalen != sizeof(*init) ||
	    crypto_memneq(init->cookie, akm_key_cookie, sizeof(init->cookie)))
		return -EPERM;
	refcount_inc(&init->key->ref);
	key->payload.data[0] = init->key;
	return 0;
}

static void akm_key_destroy(struct key *key)
{
	struct akm_key *k = key->payload.data[0];

	if (k)
		akm_key_put(k);
}

static void akm_key_describe(const struct key *key, struct seq_file *m)
{
	const struct akm_key *k = key->payload.data[0];

	seq_puts(m, key->description);
	if (!key_is_positive(key) || !k)
		return;
	if (!k->alg) {	/* a provisioning credential */
		seq_puts(m, ": credential");
		return;
	}
	seq_printf(m, ": %s %s", akm_alg_names[k->alg],
		   akm_key_state_names[READ_ONCE(k->state)]);
}

static struct key_type akm_key_type = {
	.name		= "akm",
	.instantiate	= akm_key_instantiate,
	.destroy	= akm_key_destroy,
	.describe	= akm_key_describe,
};

/* Nothing but this module may link keys into an AKM keyring. */
static int akm_keyring_restrict(struct key *keyring, const struct key_type *type,
				const union key_payload *payload,
				struct key *restriction_key)
{
	return -EPERM;
}

int akm_keyring_create(struct akm_net *an)
{
	struct user_namespace *ns = an->net->user_ns;
	struct key_restriction *restriction;
	char desc[AKM_KEY_DESC_LEN];
	kuid_t uid = make_kuid(ns, 0);
	kgid_t gid = make_kgid(ns, 0);
	struct key *keyring;

	if (!uid_valid(uid))
		uid = GLOBAL_ROOT_UID;
	if (!gid_valid(gid))
		gid = GLOBAL_ROOT_GID;

	restriction = kzalloc(sizeof(*restriction), GFP_KERNEL_ACCOUNT);
	if (!restriction)
		return -ENOMEM;
	restriction->check = akm_keyring_restrict;
	/* the key GC replaces the check once the module is gone */
	restriction->keytype = &akm_key_type;

	snprintf(desc, sizeof(desc), ".akm:net:%u", an->net->ns.inum);
	/* one per namespace, AKM used or not: outside the owner's quota */
	keyring = keyring_alloc(desc, uid, gid, current_cred(),
				KEY_POS_VIEW | KEY_POS_READ | KEY_POS_WRITE |
				KEY_POS_SEARCH | KEY_USR_VIEW | KEY_USR_READ |
				KEY_USR_SEARCH,
				KEY_ALLOC_NOT_IN_QUOTA | KEY_ALLOC_SET_KEEP,
				restriction, NULL);
	if (IS_ERR(keyring)) {
		kfree(restriction);
		return PTR_ERR(keyring);
	}
	an->keyring = keyring;
	return 0;
}

/* After every epoch and credential is gone. */
void akm_keyring_destroy(struct akm_net *an)
{
	key_invalidate(an->keyring);
	key_put(an->keyring);
}

/*
 * Add a key of type "akm" to the namespace keyring. The caller gets one
 * reference to the material, the keyring link holds the other.
 *
 * In a namespace owned by a user namespace other than the initial one the
 * key is charged to the caller's key quota (that user's own, e.g. after
 * unshare -Urn). In the initial one it is not: root's quota is shared with
 * every root process of the host, capable or not, and one that filled it
 * must not keep the host from re-keying; there AKM_ASRS_MAX and
 * AKM_CREDS_MAX bound the keys, and memcg their memory.
 */
struct akm_key *akm_key_add(struct akm_net *an, const char *desc,
			    const u8 *material, u8 alg, s32 *serial,
			    struct netlink_ext_ack *extack)
{
	struct akm_key_init init;
	struct akm_key *k;
	key_ref_t kref;

	k = kzalloc(sizeof(*k), GFP_KERNEL_ACCOUNT);
	if (!k)
		return ERR_PTR(-ENOMEM);
	refcount_set(&k->ref, 1);
	k->alg = alg;
	memcpy(k->material, material, AKM_KEY_LEN);

	memcpy(init.cookie, akm_key_cookie, sizeof(init.cookie));
	init.key = k;
	kref = key_create_or_update(make_key_ref(an->keyring, true),
				    akm_key_type.name, desc, &init, sizeof(init),
				    KEY_POS_VIEW | KEY_POS_SEARCH |
				    KEY_USR_VIEW | KEY_USR_READ,
				    KEY_ALLOC_SET_KEEP |
				    KEY_ALLOC_BYPASS_RESTRICTION |
				    (an->net->user_ns == &init_user_ns ?
				     KEY_ALLOC_NOT_IN_QUOTA : 0));
	memzero_explicit(&init, sizeof(init));
	if (IS_ERR(kref)) {
		if (PTR_ERR(kref) == -EDQUOT)
			NL_SET_ERR_MSG_MOD(extack,
					   "the key quota of this user is used up (kernel.keys.maxkeys, maxbytes)");
		else
			NL_SET_ERR_MSG_MOD(extack, "cannot add the key to the keyring");
		akm_key_put(k);
		return ERR_CAST(kref);
	}
	*serial = key_ref_to_ptr(kref)->serial;
	key_ref_put(kref);
	return k;
}

/* Invalidate the key @desc in the keyring; its material goes when unused. */
void akm_key_drop(struct akm_net *an, const char *desc)
{
	key_ref_t kref;

	kref = keyring_search(make_key_ref(an->keyring, true), &akm_key_type,
			      desc, false);
	if (!IS_ERR(kref)) {
		key_invalidate(key_ref_to_ptr(kref));
		key_ref_put(kref);
	}
}

static struct akm_epoch *akm_slot(struct akm_net *an, struct akm_asr *asr,
				  int state)
{
	return rcu_dereference_protected(asr->epochs[state],
					 lockdep_is_held(&an->lock));
}

struct akm_epoch *akm_epoch_find(struct akm_net *an, struct akm_asr *asr,
				 u32 epoch, int *state)
{
	int s;

	for (s = 0; s < __AKM_KEY_STATE_MAX; s++) {
		struct akm_epoch *ep = akm_slot(an, asr, s);

		if (ep && ep->epoch == epoch) {
			*state = s;
			return ep;
		}
	}
	return NULL;
}

/* Run retire_work when the earliest grace period ends. */
static void akm_retire_schedule(struct akm_net *an)
{
	unsigned long first = 0;
	struct akm_asr *asr;

	list_for_each_entry(asr, &an->asrs, list) {
		struct akm_epoch *ep = akm_slot(an, asr, AKM_KEY_PREVIOUS);

		if (ep && ep->retire_at &&
		    (!first || time_before(ep->retire_at, first)))
			first = ep->retire_at;
	}
	if (first)
		mod_delayed_work(akm_wq, &an->retire_work,
				 time_after(first, jiffies) ? first - jiffies : 0);
}

static void akm_epoch_free(struct work_struct *work)
{
	struct akm_epoch *ep = container_of(to_rcu_work(work), struct akm_epoch,
					    free_work);

	akm_mac_free(&ep->mac);
	akm_key_put(ep->key);
	kfree_sensitive(ep);
}

/*
 * The epoch is already out of its slot: drop its key from the keyring, and
 * the windows of deleted members that only it kept.
 */
static void akm_epoch_destroy(struct akm_net *an, struct akm_asr *asr,
			      struct akm_epoch *ep)
{
	char desc[AKM_KEY_DESC_LEN];

	snprintf(desc, sizeof(desc), "asr:%u:epoch:%u", asr->id, ep->epoch);
	akm_key_drop(an, desc);
	queue_rcu_work(akm_wq, &ep->free_work);
	akm_stash_prune(an, asr, false);
}

static struct akm_last *akm_last_find(struct akm_net *an, u32 id)
{
	struct akm_last *l;

	hash_for_each_possible(an->last_epochs, l, node, id)
		if (l->asr_id == id)
			return l;
	return NULL;
}

/* The last epoch ever installed for ASR @id in this namespace, or 0. */
u32 akm_last_epoch(struct akm_net *an, u32 id)
{
	struct akm_last *l = akm_last_find(an, id);

	return l ? l->epoch : 0;
}

void akm_last_flush(struct akm_net *an)
{
	struct hlist_node *tmp;
	struct akm_last *l;
	int b;

	hash_for_each_safe(an->last_epochs, b, tmp, l, node) {
		hash_del(&l->node);
		kfree(l);
	}
}

int akm_epoch_install(struct akm_net *an, struct akm_asr *asr, u32 epoch,
		      const u8 *material, struct netlink_ext_ack *extack)
{
	struct akm_last *last = akm_last_find(an, asr->id);
	char desc[AKM_KEY_DESC_LEN];
	struct akm_epoch *ep;
	struct akm_key *k;
	int state, err;

	if (akm_epoch_find(an, asr, epoch, &state)) {
		NL_SET_ERR_MSG_MOD(extack, "epoch already installed");
		return -EEXIST;
	}
	/* a sender's counter starts at 1 again under every installed key */
	if (last && epoch <= last->epoch) {
		NL_SET_ERR_MSG_MOD(extack,
				   "epoch was installed in this namespace before: install one above the ASR's last epoch");
		return -ESTALE;
	}
	if (akm_slot(an, asr, AKM_KEY_NEXT)) {
		NL_SET_ERR_MSG_MOD(extack,
				   "ASR already has a next epoch; activate or retire it first");
		return -EBUSY;
	}

	err = -ENOMEM;
	if (!last) {	/* made first, so that recording it cannot fail later */
		last = kzalloc(sizeof(*last), GFP_KERNEL_ACCOUNT);
		if (!last)
			return -ENOMEM;
		last->asr_id = asr->id;
	}
	ep = kzalloc(sizeof(*ep), GFP_KERNEL_ACCOUNT);
	if (!ep)
		goto err_last;
	err = akm_mac_init(&ep->mac, asr->alg, asr->id, epoch, material);
	if (err) {
		NL_SET_ERR_MSG_MOD(extack, "cannot set up the MAC for this epoch");
		goto err_free;
	}
	snprintf(desc, sizeof(desc), "asr:%u:epoch:%u", asr->id, epoch);
	k = akm_key_add(an, desc, material, asr->alg, &ep->serial, extack);
	if (IS_ERR(k)) {
		err = PTR_ERR(k);
		akm_mac_free(&ep->mac);
		goto err_free;
	}
	INIT_RCU_WORK(&ep->free_work, akm_epoch_free);
	ep->epoch = epoch;
	ep->key = k;
	ep->created = ktime_get_real_seconds();
	atomic64_set(&ep->tx_seq,
		     min_t(u64, READ_ONCE(akm_tx_seq_start), AKM_SEQ_LIMIT));
	if (!last->epoch)
		hash_add(an->last_epochs, &last->node, asr->id);
	last->epoch = epoch;
	rcu_assign_pointer(asr->epochs[AKM_KEY_NEXT], ep);
	return 0;

err_free:
	kfree(ep);
err_last:
	if (!last->epoch)
		kfree(last);
	return err;
}

int akm_epoch_activate(struct akm_net *an, struct akm_asr *asr, u32 epoch,
		       struct netlink_ext_ack *extack)
{
	struct akm_epoch *ep, *cur, *prev;
	int state;

	ep = akm_epoch_find(an, asr, epoch, &state);
	if (!ep) {
		NL_SET_ERR_MSG_MOD(extack, "no such epoch in this ASR");
		return -ENOENT;
	}
	if (state == AKM_KEY_CURRENT) {
		NL_SET_ERR_MSG_MOD(extack, "epoch is already current");
		return -EALREADY;
	}
	if (state != AKM_KEY_NEXT) {
		NL_SET_ERR_MSG_MOD(extack, "only the next epoch can be activated");
		return -EINVAL;
	}

	cur = akm_slot(an, asr, AKM_KEY_CURRENT);
	prev = akm_slot(an, asr, AKM_KEY_PREVIOUS);
	if (cur) {
		WRITE_ONCE(cur->key->state, AKM_KEY_PREVIOUS);
		if (asr->grace)
			cur->retire_at = jiffies + asr->grace * HZ ?: 1;
	}
	rcu_assign_pointer(asr->epochs[AKM_KEY_PREVIOUS], cur);
	ep->activated = ktime_get_real_seconds();
	WRITE_ONCE(ep->key->state, AKM_KEY_CURRENT);
	rcu_assign_pointer(asr->epochs[AKM_KEY_CURRENT], ep);
	RCU_INIT_POINTER(asr->epochs[AKM_KEY_NEXT], NULL);
	if (prev)
		akm_epoch_destroy(an, asr, prev);
	akm_retire_schedule(an);
	return 0;
}

int akm_epoch_retire(struct akm_net *an, struct akm_asr *asr, u32 epoch,
		     struct netlink_ext_ack *extack)
{
	struct akm_epoch *ep;
	int state;

	ep = akm_epoch_find(an, asr, epoch, &state);
	if (!ep) {
		NL_SET_ERR_MSG_MOD(extack, "no such epoch in this ASR");
		return -ENOENT;
	}
	RCU_INIT_POINTER(asr->epochs[state], NULL);
	akm_epoch_destroy(an, asr, ep);
	return 0;
}

void akm_epochs_flush(struct akm_net *an, struct akm_asr *asr)
{
	int s;

	for (s = 0; s < __AKM_KEY_STATE_MAX; s++) {
		struct akm_epoch *ep = akm_slot(an, asr, s);

		if (ep) {
			RCU_INIT_POINTER(asr->epochs[s], NULL);
			akm_epoch_destroy(an, asr, ep);
		}
	}
}

void akm_retire_expired(struct work_struct *work)
{
	struct akm_net *an = container_of(to_delayed_work(work),
					  struct akm_net, retire_work);
	struct akm_asr *asr;

	mutex_lock(&an->lock);
	list_for_each_entry(asr, &an->asrs, list) {
		struct akm_epoch *ep = akm_slot(an, asr, AKM_KEY_PREVIOUS);
		u32 epoch;

		if (!ep || !ep->retire_at || time_before(jiffies, ep->retire_at))
			continue;
		epoch = ep->epoch;
		RCU_INIT_POINTER(asr->epochs[AKM_KEY_PREVIOUS], NULL);
		akm_epoch_destroy(an, asr, ep);
		an->generation++;
		akm_notify(an, AKM_CMD_KEY_RETIRE, asr->id, 0, epoch);
	}
	akm_retire_schedule(an);
	mutex_unlock(&an->lock);
}

/* The epoch a received packet names, if it is installed. RCU. */
struct akm_epoch *akm_epoch_rx(struct akm_asr *asr, u32 epoch)
{
	int s;

	for (s = 0; s < __AKM_KEY_STATE_MAX; s++) {
		struct akm_epoch *ep = rcu_dereference(asr->epochs[s]);

		if (ep && ep->epoch == epoch)
			return ep;
	}
	return NULL;
}

int akm_keys_init(void)
{
	get_random_bytes(akm_key_cookie, sizeof(akm_key_cookie));
	return register_key_type(&akm_key_type);
}

void akm_keys_exit(void)
{
	unregister_key_type(&akm_key_type);
}
