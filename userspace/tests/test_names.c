// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Enum <-> string tables. */
#include <errno.h>

#include "libakm.h"
#include "tap.h"

void test_names(void)
{
	static const enum akm_enum all[] = {
		AKM_ENUM_ALG, AKM_ENUM_POLICY, AKM_ENUM_MEMBER_STATE,
		AKM_ENUM_KEY_STATE, AKM_ENUM_CMD, AKM_ENUM_STATS,
	};
	unsigned int i, v, named;
	char name[64];
	bool round_trip;

	is_str(akm_enum_name(AKM_ENUM_ALG, AKM_ALG_HMAC_SHA256), "hmac-sha256", "alg name");
	is_int(akm_enum_value(AKM_ENUM_ALG, "chacha20-poly1305"), AKM_ALG_CHACHA20_POLY1305,
	       "alg value");
	is_str(akm_enum_name(AKM_ENUM_ALG, 0), NULL, "alg 0 has no name");
	is_str(akm_enum_name(AKM_ENUM_ALG, AKM_ALG_MAX + 1), NULL, "unknown alg has no name");
	is_int(akm_enum_value(AKM_ENUM_ALG, "HMAC-SHA256"), -EINVAL, "names are case-sensitive");
	is_int(akm_enum_value(AKM_ENUM_ALG, ""), -EINVAL, "empty name");
	is_int(akm_enum_value(AKM_ENUM_POLICY, "accept"), AKM_POLICY_ACCEPT, "policy value");
	is_int(akm_enum_value(AKM_ENUM_MEMBER_STATE, "revoked"), AKM_MEMBER_REVOKED,
	       "member state value");
	is_str(akm_enum_name(AKM_ENUM_KEY_STATE, AKM_KEY_PREVIOUS), "previous", "key state name");
	is_str(akm_enum_name(AKM_ENUM_CMD, AKM_CMD_ASR_NEW), "asr-new", "command name");
	is_str(akm_enum_name(AKM_ENUM_CMD, AKM_CMD_KEY_REVOKED), "key-revoked", "event name");
	is_str(akm_enum_name(AKM_ENUM_STATS, AKM_STATS_A_DROP_REPLAY), "drop_replay",
	       "counter name");
	is_int(akm_enum_max(AKM_ENUM_CMD), AKM_CMD_MAX, "largest command");
	is_str(akm_enum_name((enum akm_enum)99, 0), NULL, "unknown enum");
	is_int(akm_enum_value((enum akm_enum)99, "x"), -EINVAL, "unknown enum value");

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		round_trip = true;
		named = 0;
		for (v = 0; v <= akm_enum_max(all[i]); v++) {
			const char *s = akm_enum_name(all[i], v);

			if (s && akm_enum_value(all[i], s) != (int)v)
				round_trip = false;
			named += !!s;
		}
		snprintf(name, sizeof(name), "enum %u: every name maps back to its value", i);
		ok(round_trip && named, name);
	}
}
