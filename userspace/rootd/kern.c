// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The root instance's own kernel, when it listens for sites: its node id
 * (the root id), and per site that reached it a credential (CRED_ID = the
 * site id) and a provisioning ASR 0x80000000 | site id, in bootstrap or
 * session mode (protocol.md). The kernel is the root's: at start every
 * provisioning ASR and credential in it goes, and each is made again from
 * the database when its site connects.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "root.h"

static int nl_err(struct root *r, int err, const char *what, uint32_t id)
{
	if (err)
		root_log("kernel: %s %u: %s%s%s", what, id, strerror(-err),
			 *akm_errmsg(r->nl) ? ": " : "", akm_errmsg(r->nl));
	return err;
}

int kern_open(struct root *r)
{
	struct akm_cred *creds = NULL;
	struct akm_asr *asrs = NULL;
	struct akm_node self;
	size_t k = 0, i;
	int err;

	err = akm_open(&r->nl);
	if (err) {
		root_log("kernel: %s", err == AKM_ENOFAMILY ?
			 "the akm module is not loaded (modprobe akm)" : strerror(-err));
		return err;
	}
	err = akm_node_get(r->nl, &self);
	if (!err && self.node_id && self.node_id != r->id) {
		root_log("kernel: this network namespace's AKM node id is %u, not the root's "
			 "%u: run akm-rootd in a namespace (or on a machine) of its own",
			 self.node_id, r->id);
		return -EEXIST;
	}
	if (!err && !self.node_id)
		err = akm_node_set_id(r->nl, r->id);
	if (nl_err(r, err, "set node id", r->id))
		return err;
	if (!akm_asr_dump(r->nl, &asrs, &k))
		for (i = 0; i < k; i++)
			if (asrs[i].id >= AKMP_PROV_ASR(0))
				akm_asr_del(r->nl, asrs[i].id);
	free(asrs);
	k = 0;
	if (!akm_cred_dump(r->nl, &creds, &k))
		for (i = 0; i < k; i++)
			akm_cred_del(r->nl, creds[i].id);
	free(creds);
	return 0;
}

void kern_close(struct root *r)
{
	if (r->nl)
		akm_close(r->nl);
	r->nl = NULL;
}

int kern_site_cred(struct root *r, uint32_t site)
{
	uint8_t sealed[AKM_SEALED_LEN(32)], *c;
	PGresult *res;
	char ad[32];
	int err;

	res = db_q(r, "SELECT cred FROM sites WHERE id = $1", "u", site);
	if (!res)
		return -EIO;
	err = PQntuples(res) == 1 ? db_bytes(res, 0, 0, sealed, sizeof(sealed)) : -ENOENT;
	PQclear(res);
	if (err)
		return err;
	c = akm_secure_alloc(32);
	if (!c)
		return -ENOMEM;
	snprintf(ad, sizeof(ad), "cred:%u", site);
	err = akm_unseal(&r->master, ad, sealed, sizeof(sealed), c, 32);
	if (err) {
		root_log("site %u: its credential does not open under the master key", site);
	} else {
		akm_cred_del(r->nl, site);
		err = nl_err(r, akm_cred_install(r->nl, site, c), "install credential", site);
	}
	akm_secure_free(c);
	return err;
}

/* The provisioning ASR of site, made if it is missing; its peer at addr. */
static int prov_make(struct root *r, uint32_t site, const struct akm_addr *addr)
{
	uint32_t id = AKMP_PROV_ASR(site);
	struct akm_asr asr = { .id = id, .alg = AKM_ALG_HMAC_SHA256,
			       .policy = AKM_POLICY_ACCEPT };
	struct akm_member self = { .asr_id = id, .node_id = r->id, .state = AKM_MEMBER_ACTIVE };
	struct akm_member peer = { .asr_id = id, .node_id = site, .naddrs = 1,
				   .addrs = { *addr }, .state = AKM_MEMBER_PROVISIONED };
	struct akm_asr cur;
	int err;

	if (!akm_asr_get(r->nl, id, &cur))
		return 0;
	snprintf(asr.name, sizeof(asr.name), "site-%u", site);
	err = nl_err(r, akm_asr_new(r->nl, &asr, AKM_BIT(AKM_A_ASR_NAME) |
				    AKM_BIT(AKM_A_ASR_POLICY)), "create provisioning ASR", id);
	if (!err)
		err = nl_err(r, akm_member_new(r->nl, &self, AKM_BIT(AKM_A_MEMBER_STATE)),
			     "add self to provisioning ASR", id);
	if (!err)
		err = nl_err(r, akm_member_new(r->nl, &peer, AKM_BIT(AKM_A_MEMBER_STATE) |
					       AKM_BIT(AKM_A_MEMBER_ADDRS)),
			     "add site to provisioning ASR", id);
	if (err)
		akm_asr_del(r->nl, id);
	return err;
}

/* Bootstrap mode: policy accept, the site's member state provisioned. */
int kern_site_bootstrap(struct root *r, uint32_t site, const struct akm_addr *addr)
{
	uint32_t id = AKMP_PROV_ASR(site);
	struct akm_asr asr = { .id = id, .policy = AKM_POLICY_ACCEPT };
	struct akm_member peer = { .asr_id = id, .node_id = site,
				   .state = AKM_MEMBER_PROVISIONED };
	int err = prov_make(r, site, addr);

	if (!err)
		err = nl_err(r, akm_member_set(r->nl, &peer, AKM_BIT(AKM_A_MEMBER_STATE)),
			     "provisioning ASR bootstrap: member state", id);
	if (!err)
		err = nl_err(r, akm_asr_set(r->nl, &asr, AKM_BIT(AKM_A_ASR_POLICY)),
			     "provisioning ASR bootstrap: policy", id);
	return err;
}

/* Session mode with epoch: K(prov, epoch) current, the site active, policy drop. */
int kern_site_session(struct root *r, uint32_t site, const struct akm_addr *addr,
		      uint32_t epoch)
{
	uint32_t id = AKMP_PROV_ASR(site);
	struct akm_asr asr = { .id = id, .policy = AKM_POLICY_DROP };
	struct akm_member peer = { .asr_id = id, .node_id = site, .state = AKM_MEMBER_ACTIVE };
	int err = prov_make(r, site, addr);

	if (!err)
		err = nl_err(r, akm_key_session(r->nl, id, epoch, site),
			     "key the session epoch of provisioning ASR", id);
	if (!err)
		err = nl_err(r, akm_member_set(r->nl, &peer, AKM_BIT(AKM_A_MEMBER_STATE)),
			     "provisioning ASR session: member state", id);
	if (!err)
		err = nl_err(r, akm_asr_set(r->nl, &asr, AKM_BIT(AKM_A_ASR_POLICY)),
			     "provisioning ASR session: policy", id);
	if (err)
		kern_site_bootstrap(r, site, addr);
	return err;
}

/* The last session epoch of site in this kernel (0: none), or -errno. */
int64_t kern_site_last(struct root *r, uint32_t site, const struct akm_addr *addr)
{
	struct akm_asr asr;
	int err = prov_make(r, site, addr);

	if (!err)
		err = nl_err(r, akm_asr_get(r->nl, AKMP_PROV_ASR(site), &asr),
			     "read provisioning ASR", AKMP_PROV_ASR(site));
	return err ? (int64_t)err : (int64_t)asr.last_epoch;
}

void kern_site_del(struct root *r, uint32_t site)
{
	int err = akm_asr_del(r->nl, AKMP_PROV_ASR(site));

	if (err && err != -ENOENT)
		nl_err(r, err, "delete provisioning ASR", AKMP_PROV_ASR(site));
	err = akm_cred_del(r->nl, site);
	if (err && err != -ENOENT)
		nl_err(r, err, "delete credential", site);
}
