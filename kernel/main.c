// SPDX-License-Identifier: GPL-2.0
/*
 * AKM: symmetric-key group authentication for IP traffic.
 * Module entry points and per network namespace state.
 */
#include <linux/module.h>
#include <net/genetlink.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>

#include "akm.h"

static unsigned int akm_net_id __read_mostly;

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
	hash_init(an->asr_hash);
	hash_init(an->addrs);
	INIT_WORK(&an->key_work, akm_keys_reap);
	an->generation = 1;

	err = akm_stats_init(&an->stats);
	if (err)
		return err;
	err = akm_keyring_create(an);
	if (err)
		akm_stats_free(&an->stats);
	return err;
}

static void __net_exit akm_net_exit(struct net *net)
{
	struct akm_net *an = akm_pernet(net);

	mutex_lock(&an->lock);
	akm_asr_flush(an);
	mutex_unlock(&an->lock);
	cancel_work_sync(&an->key_work);
	akm_keyring_destroy(an);
	/* the objects' RCU callbacks do not touch akm_net */
	akm_stats_free(&an->stats);
}

static struct pernet_operations akm_net_ops = {
	.init = akm_net_init,
	.exit = akm_net_exit,
	.id = &akm_net_id,
	.size = sizeof(struct akm_net),
};

static int __init akm_init(void)
{
	int err;

	err = akm_keys_init();
	if (err)
		return err;
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
	return err;
}

static void __exit akm_exit(void)
{
	akm_genl_exit();
	unregister_pernet_subsys(&akm_net_ops);
	akm_keys_exit();
	rcu_barrier();
}

module_init(akm_init);
module_exit(akm_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("AKM symmetric-key group authentication");
MODULE_AUTHOR("AKM for Linux developers");
MODULE_ALIAS_GENL_FAMILY(AKM_GENL_NAME);
