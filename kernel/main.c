// SPDX-License-Identifier: GPL-2.0
/*
 * AKM: symmetric-key group authentication for IP traffic.
 * Module entry points and per network namespace state.
 */
#include <linux/module.h>
#include <linux/random.h>
#include <net/genetlink.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>

#include "akm.h"

static unsigned int akm_net_id __read_mostly;

static unsigned int proto = AKM_PROTO_DEFAULT;
module_param(proto, uint, 0444);
MODULE_PARM_DESC(proto, "IP protocol number of the AKM header (default 253)");

u64 akm_tx_seq_start;
module_param_named(tx_seq_start, akm_tx_seq_start, ullong, 0600);
MODULE_PARM_DESC(tx_seq_start,
		 "testing only: the sequence number after which epochs installed from now on start sending (default 0)");

u8 akm_proto __read_mostly;
struct workqueue_struct *akm_wq __read_mostly;

struct akm_net *akm_pernet(const struct net *net)
{
	return net_generic(net, akm_net_id);
}

static int __net_init akm_net_init(struct net *net)
{
	struct akm_net *an = akm_pernet(net);
	int err;

	an->net = net;
	mutex_init(&an->lock);
	INIT_LIST_HEAD(&an->asrs);
	INIT_LIST_HEAD(&an->creds);
	hash_init(an->asr_hash);
	hash_init(an->addrs);
	hash_init(an->last_epochs);
	do {	/* 0 means "unknown" to the NMM */
		get_random_bytes(&an->instance, sizeof(an->instance));
	} while (!an->instance);
	INIT_DELAYED_WORK(&an->retire_work, akm_retire_expired);
	INIT_DELAYED_WORK(&an->fail_work, akm_fail_announce);
	an->generation = 1;

	err = akm_stats_init(&an->stats);
	if (err)
		return err;
	err = akm_keyring_create(an);
	if (err)
		goto err_stats;
	err = akm_hooks_init(net);
	if (err)
		goto err_keyring;
	return 0;

err_keyring:
	akm_keyring_destroy(an);
err_stats:
	akm_stats_free(&an->stats);
	return err;
}

/*
 * Unregistering a hook does not wait for the CPUs still running it; the
 * namespace core waits for an RCU grace period between pre_exit and exit,
 * so that no hook can re-arm fail_work or touch the counters after exit.
 */
static void __net_exit akm_net_pre_exit(struct net *net)
{
	akm_hooks_exit(net);
}

static void __net_exit akm_net_exit(struct net *net)
{
	struct akm_net *an = akm_pernet(net);

	mutex_lock(&an->lock);
	akm_asr_flush(an);
	akm_cred_flush(an);
	mutex_unlock(&an->lock);
	cancel_delayed_work_sync(&an->retire_work);
	cancel_delayed_work_sync(&an->fail_work);
	akm_keyring_destroy(an);
	akm_last_flush(an);
	/* the objects' RCU callbacks do not touch akm_net */
	akm_stats_free(&an->stats);
}

static struct pernet_operations akm_net_ops = {
	.init = akm_net_init,
	.pre_exit = akm_net_pre_exit,
	.exit = akm_net_exit,
	.id = &akm_net_id,
	.size = sizeof(struct akm_net),
};

static int __init akm_init(void)
{
	int err;

	if (!proto || proto >= IPPROTO_MAX || proto == IPPROTO_RAW) {
		pr_err("akm: proto=%u is not a usable IP protocol number\n",
		       proto);
		return -EINVAL;
	}
	akm_proto = proto;
	err = akm_crypto_selftest();
	if (err)
		return err;
	akm_wq = alloc_workqueue("akm", WQ_UNBOUND, 0);
	if (!akm_wq)
		return -ENOMEM;
	err = akm_keys_init();
	if (err)
		goto err_wq;
	err = register_pernet_subsys(&akm_net_ops);
	if (err)
		goto err_keys;
	err = akm_genl_init();
	if (err)
		goto err_pernet;
	return 0;

err_pernet:
	unregister_pernet_subsys(&akm_net_ops);
err_keys:
	akm_keys_exit();
err_wq:
	destroy_workqueue(akm_wq);
	return err;
}

static void __exit akm_exit(void)
{
	akm_genl_exit();
	unregister_pernet_subsys(&akm_net_ops);
	akm_keys_exit();
	rcu_barrier();		/* epochs are freed by RCU work on akm_wq */
	destroy_workqueue(akm_wq);
}

module_init(akm_init);
module_exit(akm_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("AKM symmetric-key group authentication");
MODULE_AUTHOR("AKM for Linux developers");
MODULE_ALIAS_GENL_FAMILY(AKM_GENL_NAME);
MODULE_VERSION(AKM_VERSION);
