// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * A provisioning ASR (protocol.md): two members, this kernel's node and its
 * peer, keyed with K(prov, s) from the credential shared with the peer
 * (CRED_ID = the peer's id). Both ends of every link use these: a node and
 * its NMM, a site's NMM and the root.
 */
#include <errno.h>
#include <stdio.h>

#include "libakm.h"

int akm_prov_make(struct akm_sock *s, uint32_t id, const char *name, uint32_t self,
		  const struct akm_member *peer)
{
	struct akm_asr asr = { .id = id, .alg = AKM_ALG_HMAC_SHA256, .policy = AKM_POLICY_ACCEPT };
	struct akm_member me = { .asr_id = id, .node_id = self, .state = AKM_MEMBER_ACTIVE };
	struct akm_member p = *peer;
	struct akm_asr cur;
	int err;

	if (!akm_asr_get(s, id, &cur))
		return 0;
	snprintf(asr.name, sizeof(asr.name), "%s", name);
	p.asr_id = id;
	p.state = AKM_MEMBER_PROVISIONED;
	err = akm_asr_new(s, &asr, AKM_BIT(AKM_A_ASR_NAME) | AKM_BIT(AKM_A_ASR_POLICY));
	if (!err)
		err = akm_member_new(s, &me, AKM_BIT(AKM_A_MEMBER_STATE));
	if (!err)
		err = akm_member_new(s, &p, AKM_BIT(AKM_A_MEMBER_STATE) |
				     AKM_BIT(AKM_A_MEMBER_ADDRS));
	if (err)
		akm_asr_del(s, id);
	return err;
}

int akm_prov_bootstrap(struct akm_sock *s, uint32_t id, uint32_t peer)
{
	struct akm_member p = { .asr_id = id, .node_id = peer, .state = AKM_MEMBER_PROVISIONED };
	struct akm_asr asr = { .id = id, .policy = AKM_POLICY_ACCEPT };
	int err = akm_member_set(s, &p, AKM_BIT(AKM_A_MEMBER_STATE));

	return err ? err : akm_asr_set(s, &asr, AKM_BIT(AKM_A_ASR_POLICY));
}

int akm_prov_session(struct akm_sock *s, uint32_t id, uint32_t peer, uint32_t epoch)
{
	struct akm_member p = { .asr_id = id, .node_id = peer, .state = AKM_MEMBER_ACTIVE };
	struct akm_asr asr = { .id = id, .policy = AKM_POLICY_DROP };
	int err = akm_key_session(s, id, epoch, peer);

	if (!err)
		err = akm_member_set(s, &p, AKM_BIT(AKM_A_MEMBER_STATE));
	return err ? err : akm_asr_set(s, &asr, AKM_BIT(AKM_A_ASR_POLICY));
}

int64_t akm_prov_last(struct akm_sock *s, uint32_t id)
{
	struct akm_asr asr;
	int err = akm_asr_get(s, id, &asr);

	return err ? (int64_t)err : (int64_t)asr.last_epoch;
}
