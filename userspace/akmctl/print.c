// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Objects as text or JSON, with one routine each for both. */
#include <string.h>
#include <time.h>
#include <netlink/attr.h>

#include "akmctl.h"

static const char *enum_str(enum akm_enum e, unsigned int v)
{
	const char *name = akm_enum_name(e, v);

	return name ? name : "unknown";
}

/* JSON: seconds since the epoch. Text: ISO 8601 UTC, "never" for 0. */
static void print_time(struct akm_out *o, const char *key, uint64_t t)
{
	time_t tt = t;
	char buf[32];
	struct tm tm;

	if (akm_out_json(o) || (t && (!gmtime_r(&tt, &tm) ||
			      !strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm))))
		akm_out_uint(o, key, key, t);
	else
		akm_out_str(o, key, key, t ? buf : "never");
}

static void print_addrs(struct akm_out *o, const char *key, const char *label,
			const struct akm_addr *addrs, unsigned int n)
{
	char buf[AKM_ADDRSTRLEN];
	unsigned int i;

	akm_out_arr_open(o, key);
	for (i = 0; i < n; i++)
		akm_out_str(o, NULL, label, akm_addr_str(&addrs[i], buf, sizeof(buf)));
	akm_out_arr_close(o);
}

/*
 * Text: the counters on two lines below the current one, each starting with
 * indent, or on the current line if indent is NULL.
 */
void print_stats(struct akm_out *o, const struct akm_stats *stats, const char *indent)
{
	unsigned int i;

	akm_out_obj_open(o, "stats");
	for (i = AKM_STATS_A_TX_PACKETS; i <= AKM_STATS_A_MAX; i++) {
		const char *name = akm_enum_name(AKM_ENUM_STATS, i);

		if (indent && (i == AKM_STATS_A_TX_PACKETS || i == AKM_STATS_A_DROP_BAD_TAG))
			akm_out_text(o, "\n%s", indent);
		akm_out_uint(o, name, name, stats->v[i]);
	}
	akm_out_obj_close(o);
}

void print_node(struct akm_out *o, const struct akm_node *node)
{
	akm_out_obj_open(o, NULL);
	if (node->node_id || akm_out_json(o))
		akm_out_uint(o, "id", "node", node->node_id);
	else
		akm_out_str(o, NULL, "node", "none");
	akm_out_uint(o, "keyring", "keyring", node->keyring);
	akm_out_uint(o, "generation", "generation", node->generation);
	akm_out_uint(o, "asr_count", "asrs", node->asr_count);
	if (akm_out_json(o))
		akm_out_uint(o, "rx_mark", NULL, node->rx_mark);
	else if (node->rx_mark)
		akm_out_text(o, " rx-mark 0x%x", node->rx_mark);
	print_stats(o, &node->stats, "    ");
	akm_out_text(o, "\n");
	akm_out_obj_close(o);
}

/* Text: prefix, then the key's fields, without a line break. */
void print_key(struct akm_out *o, const struct akm_key *key, uint32_t asr_id,
	       const char *prefix)
{
	akm_out_obj_open(o, NULL);
	akm_out_text(o, "%s", prefix);
	if (asr_id)
		akm_out_uint(o, "asr", "asr", asr_id);
	akm_out_uint(o, "epoch", "epoch", key->epoch);
	akm_out_str(o, "state", "state", enum_str(AKM_ENUM_KEY_STATE, key->state));
	akm_out_int(o, "serial", "serial", key->serial);
	print_time(o, "created", key->created);
	print_time(o, "activated", key->activated);
	akm_out_uint(o, "tx_seq", "sent", key->tx_seq);
	akm_out_obj_close(o);
}

/* Text: prefix, then the member's fields ("asr" unless prefixed), without a line break. */
void print_member(struct akm_out *o, const struct akm_member *m, const char *prefix)
{
	akm_out_obj_open(o, NULL);
	akm_out_text(o, "%s", prefix);
	if (!*prefix || akm_out_json(o))
		akm_out_uint(o, "asr", "asr", m->asr_id);
	akm_out_uint(o, "node", "node", m->node_id);
	akm_out_str(o, "state", "state", enum_str(AKM_ENUM_MEMBER_STATE, m->state));
	print_addrs(o, "addrs", "addr", m->addrs, m->naddrs);
	if (akm_out_json(o))
		print_stats(o, &m->stats, NULL);
	akm_out_obj_close(o);
}

void print_asr(struct akm_out *o, const struct akm_asr *asr,
	       const struct akm_member *members, size_t n)
{
	unsigned int i;

	akm_out_obj_open(o, NULL);
	akm_out_uint(o, "id", "asr", asr->id);
	if (*asr->name || akm_out_json(o))
		akm_out_str(o, "name", "name", asr->name);
	akm_out_str(o, "alg", "alg", enum_str(AKM_ENUM_ALG, asr->alg));
	akm_out_str(o, "policy", "policy", enum_str(AKM_ENUM_POLICY, asr->policy));
	akm_out_uint(o, "grace", "grace", asr->grace);
	akm_out_uint(o, "member_count", "members", asr->member_count);
	akm_out_uint(o, "last_epoch", "last-epoch", asr->last_epoch);
	print_addrs(o, "groups", "group", asr->groups, asr->ngroups);
	akm_out_text(o, "\n");
	akm_out_arr_open(o, "keys");
	for (i = 0; i < asr->nkeys; i++) {
		print_key(o, &asr->keys[i], 0, "    key ");
		akm_out_text(o, "\n");
	}
	akm_out_arr_close(o);
	akm_out_arr_open(o, "members");
	for (i = 0; i < n; i++) {
		print_member(o, &members[i], "    member ");
		akm_out_text(o, "\n");
	}
	akm_out_arr_close(o);
	if (akm_out_json(o))
		print_stats(o, &asr->stats, NULL);
	akm_out_obj_close(o);
}

/* One element of "stats show": node-wide if asr_id is 0, else an ASR's or a member's. */
void print_stats_entry(struct akm_out *o, uint32_t asr_id, uint32_t node_id,
		       const struct akm_stats *stats)
{
	akm_out_obj_open(o, NULL);
	if (!asr_id)
		akm_out_text(o, "node");
	if (asr_id)
		akm_out_uint(o, "asr", "asr", asr_id);
	if (node_id)
		akm_out_uint(o, "node", "node", node_id);
	print_stats(o, stats, "    ");
	akm_out_text(o, "\n");
	akm_out_obj_close(o);
}

void print_cred(struct akm_out *o, const struct akm_cred *cred)
{
	akm_out_obj_open(o, NULL);
	akm_out_uint(o, "id", "cred", cred->id);
	akm_out_int(o, "serial", "serial", cred->serial);
	akm_out_text(o, "\n");
	akm_out_obj_close(o);
}

static void print_u32_attr(struct akm_out *o, struct nlattr *a, const char *key)
{
	if (a)
		akm_out_uint(o, key, key, nla_get_u32(a));
}

static void print_enum_attr(struct akm_out *o, struct nlattr *a, const char *key,
			    enum akm_enum e)
{
	if (a)
		akm_out_str(o, key, key, enum_str(e, nla_get_u8(a)));
}

/* The counter an authentication failure hit, without its "drop_". */
static void print_reason(struct akm_out *o, struct nlattr *a)
{
	const char *reason;

	if (!a)
		return;
	reason = enum_str(AKM_ENUM_STATS, nla_get_u8(a));
	if (!strncmp(reason, "drop_", 5))
		reason += 5;
	akm_out_str(o, "reason", "reason", reason);
}

/* One line: "[asr-new] asr 1 name ...", or one JSON object. */
void print_event(struct akm_out *o, const struct akm_msg *msg)
{
	struct nlattr *const *tb = msg->tb;
	struct akm_addr addrs[AKM_ADDRS_MAX];
	struct akm_stats stats;
	struct akm_key key;
	struct nlattr *a;
	unsigned int n;
	int rem;

	akm_out_obj_open(o, NULL);
	akm_out_text(o, "[%s]", enum_str(AKM_ENUM_CMD, msg->cmd));
	if (akm_out_json(o))
		akm_out_str(o, "event", NULL, enum_str(AKM_ENUM_CMD, msg->cmd));
	print_u32_attr(o, tb[AKM_A_ASR_ID], "asr");
	print_u32_attr(o, tb[AKM_A_NODE_ID], "node");
	print_u32_attr(o, tb[AKM_A_KEY_EPOCH], "epoch");
	print_u32_attr(o, tb[AKM_A_CRED_ID], "cred");
	if (tb[AKM_A_CRED_SERIAL])
		akm_out_int(o, "serial", "serial", nla_get_s32(tb[AKM_A_CRED_SERIAL]));
	if (tb[AKM_A_ASR_NAME])
		akm_out_str(o, "name", "name", nla_get_string(tb[AKM_A_ASR_NAME]));
	print_enum_attr(o, tb[AKM_A_ASR_ALG], "alg", AKM_ENUM_ALG);
	print_enum_attr(o, tb[AKM_A_ASR_POLICY], "policy", AKM_ENUM_POLICY);
	print_u32_attr(o, tb[AKM_A_ASR_GRACE], "grace");
	print_enum_attr(o, tb[AKM_A_MEMBER_STATE], "state", AKM_ENUM_MEMBER_STATE);
	if (tb[AKM_A_MEMBER_ADDRS] &&
	    !akm_addrs_parse(tb[AKM_A_MEMBER_ADDRS], addrs, AKM_ADDRS_MAX, &n))
		print_addrs(o, "addrs", "addr", addrs, n);
	if (tb[AKM_A_ASR_GROUPS] &&
	    !akm_addrs_parse(tb[AKM_A_ASR_GROUPS], addrs, AKM_ADDRS_MAX, &n))
		print_addrs(o, "groups", "group", addrs, n);
	print_reason(o, tb[AKM_A_FAIL_REASON]);
	print_u32_attr(o, tb[AKM_A_FAIL_COUNT], "count");
	print_u32_attr(o, tb[AKM_A_MEMBER_COUNT], "member_count");
	print_u32_attr(o, tb[AKM_A_ASR_COUNT], "asr_count");
	print_u32_attr(o, tb[AKM_A_KEYRING], "keyring");
	print_u32_attr(o, tb[AKM_A_GENERATION], "generation");
	if (nla_find(msg->attrs, msg->len, AKM_A_KEY)) {
		akm_out_arr_open(o, "keys");
		nla_for_each_attr(a, msg->attrs, msg->len, rem)
			if (nla_type(a) == AKM_A_KEY && !akm_key_parse(a, &key))
				print_key(o, &key, 0, "key ");
		akm_out_arr_close(o);
	}
	if (tb[AKM_A_STATS] && !akm_stats_parse(tb[AKM_A_STATS], &stats))
		print_stats(o, &stats, NULL);
	akm_out_text(o, "\n");
	akm_out_obj_close(o);
}
