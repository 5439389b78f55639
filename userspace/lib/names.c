// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Names of the ABI's enums, as akmctl reads and prints them. */
#include <errno.h>
#include <string.h>

#include "libakm.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const char *const alg_names[] = {
	[AKM_ALG_HMAC_SHA256]		= "hmac-sha256",
	[AKM_ALG_CHACHA20_POLY1305]	= "chacha20-poly1305",
};

static const char *const policy_names[] = {
	[AKM_POLICY_DROP]	= "drop",
	[AKM_POLICY_ACCEPT]	= "accept",
};

static const char *const member_state_names[] = {
	[AKM_MEMBER_PROVISIONED]	= "provisioned",
	[AKM_MEMBER_ACTIVE]		= "active",
	[AKM_MEMBER_REVOKED]		= "revoked",
};

static const char *const key_state_names[] = {
	[AKM_KEY_NEXT]		= "next",
	[AKM_KEY_CURRENT]	= "current",
	[AKM_KEY_PREVIOUS]	= "previous",
};

static const char *const cmd_names[] = {
	[AKM_CMD_NODE_GET]	= "node-get",
	[AKM_CMD_NODE_SET]	= "node-set",
	[AKM_CMD_ASR_NEW]	= "asr-new",
	[AKM_CMD_ASR_DEL]	= "asr-del",
	[AKM_CMD_ASR_SET]	= "asr-set",
	[AKM_CMD_ASR_GET]	= "asr-get",
	[AKM_CMD_MEMBER_NEW]	= "member-new",
	[AKM_CMD_MEMBER_SET]	= "member-set",
	[AKM_CMD_MEMBER_DEL]	= "member-del",
	[AKM_CMD_MEMBER_GET]	= "member-get",
	[AKM_CMD_KEY_INSTALL]	= "key-install",
	[AKM_CMD_KEY_ACTIVATE]	= "key-activate",
	[AKM_CMD_KEY_RETIRE]	= "key-retire",
	[AKM_CMD_KEY_REVOKED]	= "key-revoked",
	[AKM_CMD_STATS_GET]	= "stats-get",
	[AKM_CMD_STATS_RESET]	= "stats-reset",
	[AKM_CMD_CRED_INSTALL]	= "cred-install",
	[AKM_CMD_CRED_DEL]	= "cred-del",
	[AKM_CMD_CRED_GET]	= "cred-get",
	[AKM_CMD_CRED_PROVE]	= "cred-prove",
	[AKM_CMD_AUTH_FAILURE]	= "auth-failure",
};

static const char *const stats_names[] = {
	[AKM_STATS_A_TX_PACKETS]		= "tx_packets",
	[AKM_STATS_A_TX_BYTES]			= "tx_bytes",
	[AKM_STATS_A_RX_PACKETS]		= "rx_packets",
	[AKM_STATS_A_RX_BYTES]			= "rx_bytes",
	[AKM_STATS_A_TX_NO_KEY]			= "tx_no_key",
	[AKM_STATS_A_DROP_BAD_TAG]		= "drop_bad_tag",
	[AKM_STATS_A_DROP_REPLAY]		= "drop_replay",
	[AKM_STATS_A_DROP_UNKNOWN_ASR]		= "drop_unknown_asr",
	[AKM_STATS_A_DROP_UNKNOWN_EPOCH]	= "drop_unknown_epoch",
	[AKM_STATS_A_DROP_NOT_MEMBER]		= "drop_not_member",
	[AKM_STATS_A_DROP_MALFORMED]		= "drop_malformed",
	[AKM_STATS_A_DROP_PLAIN]		= "drop_plain",
	[AKM_STATS_A_ACCEPT_PLAIN]		= "accept_plain",
	[AKM_STATS_A_DROP_ICMP]			= "drop_icmp",
};

static const struct {
	const char *const *names;
	unsigned int n;
} tables[] = {
	[AKM_ENUM_ALG]		= { alg_names, ARRAY_SIZE(alg_names) },
	[AKM_ENUM_POLICY]	= { policy_names, ARRAY_SIZE(policy_names) },
	[AKM_ENUM_MEMBER_STATE]	= { member_state_names, ARRAY_SIZE(member_state_names) },
	[AKM_ENUM_KEY_STATE]	= { key_state_names, ARRAY_SIZE(key_state_names) },
	[AKM_ENUM_CMD]		= { cmd_names, ARRAY_SIZE(cmd_names) },
	[AKM_ENUM_STATS]	= { stats_names, ARRAY_SIZE(stats_names) },
};

_Static_assert(ARRAY_SIZE(alg_names) == AKM_ALG_MAX + 1, "alg names");
_Static_assert(ARRAY_SIZE(policy_names) == AKM_POLICY_MAX + 1, "policy names");
_Static_assert(ARRAY_SIZE(member_state_names) == AKM_MEMBER_STATE_MAX + 1,
	       "member state names");
_Static_assert(ARRAY_SIZE(key_state_names) == AKM_KEY_STATE_MAX + 1, "key state names");
_Static_assert(ARRAY_SIZE(cmd_names) == AKM_CMD_MAX + 1, "command names");
_Static_assert(ARRAY_SIZE(stats_names) == AKM_STATS_A_MAX + 1, "stats names");

const char *akm_enum_name(enum akm_enum e, unsigned int v)
{
	if ((unsigned int)e >= ARRAY_SIZE(tables) || v >= tables[e].n)
		return NULL;
	return tables[e].names[v];
}

int akm_enum_value(enum akm_enum e, const char *name)
{
	unsigned int v;

	if ((unsigned int)e >= ARRAY_SIZE(tables))
		return -EINVAL;
	for (v = 0; v < tables[e].n; v++)
		if (tables[e].names[v] && !strcmp(tables[e].names[v], name))
			return v;
	return -EINVAL;
}

/* The largest value of the enum; names of some values below may be NULL. */
unsigned int akm_enum_max(enum akm_enum e)
{
	return (unsigned int)e < ARRAY_SIZE(tables) ? tables[e].n - 1 : 0;
}
