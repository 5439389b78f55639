// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * What the agent asks of its kernel: the credential, the provisioning ASR in
 * bootstrap or session mode, ASR_CONFIG / ACTIVATE / LEAVE, and the drop
 * counters for HEARTBEAT. Every change is idempotent, so a message applied
 * twice (after a reconnect, or a restart of either side) changes nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sodium.h>

#include "agent.h"
#include "bundle.h"

uint32_t kern_prov_asr(const struct agent_conf *c)
{
	return AKMP_PROV_ASR(c->node_id);
}

/* 1 if the kernel holds the credential shared with the NMM, 0 if not. */
int kern_cred_present(struct akm_sock *s, const struct agent_conf *c)
{
	struct akm_cred cred;
	int err = akm_cred_get(s, c->nmm_id, &cred);

	if (err == -ENOENT)
		return 0;
	return err ? err : 1;
}

/*
 * Put the credential back into the kernel after a fresh boot. A child
 * process reads it (TPM or file), installs it and exits, so that it never
 * enters the daemon's memory.
 */
int kern_cred_reinstall(const char *dir, const struct agent_conf *c)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		uint8_t *cred = sodium_malloc(AKM_CRED_LEN);
		struct akm_sock *s = NULL;
		char msg[256];
		int err;

		if (!cred)
			_exit(2);
		err = cred_load(dir, c, cred, msg, sizeof(msg));
		if (!err) {
			err = akm_open(&s);
			if (err)
				snprintf(msg, sizeof(msg), "netlink: %s", strerror(-err));
		}
		if (!err) {
			err = akm_cred_install(s, c->nmm_id, cred);
			if (err == -EEXIST)	/* installed meanwhile */
				err = 0;
			if (err)
				snprintf(msg, sizeof(msg), "installing the credential: %s%s%s",
					 strerror(-err), *akm_errmsg(s) ? ": " : "", akm_errmsg(s));
		}
		sodium_free(cred);
		akm_close(s);
		if (err)
			agent_log("cannot re-install the credential: %s", msg);
		_exit(err ? 1 : 0);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : -EIO;
}

/* Set the kernel's node id if it is not ours. */
int kern_node_id(struct akm_sock *s, const struct agent_conf *c)
{
	struct akm_node node;
	int err = akm_node_get(s, &node);

	if (!err && node.node_id != c->node_id)
		err = akm_node_set_id(s, c->node_id);
	return err;
}

static int member_put(struct akm_sock *s, struct akm_member *m);

/* The provisioning ASR with plain traffic to and from the NMM. */
int kern_bootstrap(struct akm_sock *s, const struct agent_conf *c)
{
	struct akm_asr asr = {
		.id = kern_prov_asr(c), .alg = AKM_ALG_HMAC_SHA256, .policy = AKM_POLICY_ACCEPT,
		.name = AGENT_PROV_NAME,
	};
	struct akm_member nmm = {
		.asr_id = asr.id, .node_id = c->nmm_id, .state = AKM_MEMBER_PROVISIONED,
		.naddrs = 1, .addrs = { c->nmm_addr },
	};
	struct akm_member self = {
		.asr_id = asr.id, .node_id = c->node_id, .state = AKM_MEMBER_ACTIVE,
	};
	struct akm_asr cur;
	int err;

	err = akm_asr_get(s, asr.id, &cur);
	if (err == -ENOENT)
		err = akm_asr_new(s, &asr, AKM_BIT(AKM_A_ASR_NAME) | AKM_BIT(AKM_A_ASR_POLICY));
	else if (!err && cur.policy != AKM_POLICY_ACCEPT)
		err = akm_asr_set(s, &asr, AKM_BIT(AKM_A_ASR_POLICY));
	if (!err)
		err = member_put(s, &nmm);
	if (!err)
		err = member_put(s, &self);
	return err;
}

/* The provisioning ASR keyed for session epoch, traffic with the NMM tagged. */
int kern_session(struct akm_sock *s, const struct agent_conf *c, uint32_t epoch)
{
	return akm_prov_session(s, kern_prov_asr(c), c->nmm_id, epoch);
}

/* The last session epoch this kernel had (0: none), for the NMM to pass. */
uint32_t kern_session_last(struct akm_sock *s, const struct agent_conf *c)
{
	int64_t last = akm_prov_last(s, kern_prov_asr(c));

	return last < 0 ? 0 : last;
}

static bool is_member(const struct akmp_asr_config *cfg, uint32_t node)
{
	unsigned int i;

	for (i = 0; i < cfg->nmembers; i++)
		if (cfg->members[i].node_id == node)
			return true;
	return false;
}

static bool has_addr(const struct akm_member *m, const struct akm_addr *a)
{
	unsigned int i;

	for (i = 0; i < m->naddrs; i++)
		if (akm_addr_eq(&m->addrs[i], a))
			return true;
	return false;
}

/* Same state and the same set of addresses? */
static bool member_same(const struct akm_member *a, const struct akm_member *b)
{
	unsigned int i;

	if (a->state != b->state || a->naddrs != b->naddrs)
		return false;
	for (i = 0; i < a->naddrs; i++)
		if (!has_addr(b, &a->addrs[i]))
			return false;
	return true;
}

/*
 * Addresses of m held by a member of another ASR give way if that is the
 * same node (the NMM moved the pair's addresses to this ASR) or a revoked
 * member (a removed node's address is a live member's now); a revoked m
 * gives way itself. 0 if m can be put now, -EADDRINUSE if a live member of
 * another node holds one (two nodes with one address).
 */
static int make_room(struct akm_sock *s, struct akm_member *m)
{
	struct akm_asr *asrs = NULL;
	struct akm_member *cur;
	size_t n = 0, k, i, j;
	int err;

	err = akm_asr_dump(s, &asrs, &n);
	for (i = 0; !err && i < n; i++) {
		if (asrs[i].id == m->asr_id)
			continue;
		cur = NULL;
		err = akm_member_dump(s, asrs[i].id, &cur, &k);
		for (j = 0; !err && j < k; j++) {
			struct akm_member *h = &cur[j], keep = *h;
			unsigned int a;
			bool clash = false;

			keep.naddrs = 0;
			for (a = 0; a < h->naddrs; a++) {
				if (has_addr(m, &h->addrs[a]))
					clash = true;
				else
					keep.addrs[keep.naddrs++] = h->addrs[a];
			}
			if (!clash)
				continue;
			if (h->node_id == m->node_id ||
			    (h->state == AKM_MEMBER_REVOKED && m->state != AKM_MEMBER_REVOKED)) {
				/* the same node's entry elsewhere, or a revoked one: it gives way */
				err = akm_member_set(s, &keep, AKM_BIT(AKM_A_MEMBER_ADDRS));
			} else if (m->state == AKM_MEMBER_REVOKED) {
				/* a revoked m keeps none of those */
				keep = *m;
				m->naddrs = 0;
				for (a = 0; a < keep.naddrs; a++)
					if (!has_addr(h, &keep.addrs[a]))
						m->addrs[m->naddrs++] = keep.addrs[a];
			} else {
				agent_log("ASR %u member %u: an address of it belongs to node %u "
					  "in ASR %u", m->asr_id, m->node_id, h->node_id,
					  h->asr_id);
				err = -EADDRINUSE;
			}
		}
		free(cur);
	}
	free(asrs);
	return err;
}

static int member_set_or_new(struct akm_sock *s, const struct akm_member *m)
{
	uint32_t attrs = AKM_BIT(AKM_A_MEMBER_STATE) | AKM_BIT(AKM_A_MEMBER_ADDRS);
	int err = akm_member_set(s, m, attrs);

	return err == -ENOENT ? akm_member_new(s, m, attrs) : err;
}

/* Create a member or change its state and addresses, making room for them. */
static int member_put(struct akm_sock *s, struct akm_member *m)
{
	int err = member_set_or_new(s, m);

	if (err == -EADDRINUSE) {
		err = make_room(s, m);
		if (!err)
			err = member_set_or_new(s, m);
	}
	return err;
}

static void first_err(int *err, int e)
{
	if (!*err)
		*err = e;
}

/*
 * Make the ASR's member list equal to the configuration's: removals first,
 * then addresses that leave a member, then the rest, so that an address
 * moving between members of this ASR never has two owners.
 */
static int members_sync(struct akm_sock *s, const struct agent_conf *c,
			const struct akmp_asr_config *cfg)
{
	struct akm_member *cur = NULL, *want;
	unsigned int i, j, k, pass;
	size_t n = 0;
	int err;

	want = calloc(cfg->nmembers, sizeof(*want));
	if (!want)
		return -ENOMEM;
	for (i = 0; i < cfg->nmembers; i++) {
		const struct akmp_member *src = &cfg->members[i];

		want[i].asr_id = cfg->asr_id;
		want[i].node_id = src->node_id;
		want[i].state = src->state;
		if (src->node_id != c->node_id) {	/* one's own entry has no address */
			want[i].naddrs = src->naddrs;
			for (j = 0; j < src->naddrs; j++)
				akmp_addr_get(src->addrs[j], &want[i].addrs[j]);
		}
	}
	/*
	 * Past a failure, the rest is still done (the first error is told):
	 * a member that cannot be put locks no removed one in.
	 */
	err = akm_member_dump(s, cfg->asr_id, &cur, &n);
	for (k = 0; k < n; k++) {
		struct akm_member shrunk = cur[k];

		for (i = 0; i < cfg->nmembers && want[i].node_id != cur[k].node_id; i++)
			;
		if (i == cfg->nmembers) {
			first_err(&err, akm_member_del(s, cfg->asr_id, cur[k].node_id));
			continue;
		}
		if (member_same(&cur[k], &want[i])) {
			want[i].asr_id = 0;	/* nothing to do */
			continue;
		}
		shrunk.naddrs = 0;
		for (j = 0; j < cur[k].naddrs; j++)
			if (has_addr(&want[i], &cur[k].addrs[j]))
				shrunk.addrs[shrunk.naddrs++] = cur[k].addrs[j];
		if (shrunk.naddrs != cur[k].naddrs)
			first_err(&err, akm_member_set(s, &shrunk, AKM_BIT(AKM_A_MEMBER_ADDRS)));
	}
	free(cur);
	/* revocations before the others */
	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < cfg->nmembers; i++)
			if (want[i].asr_id && (want[i].state == AKM_MEMBER_REVOKED) == !pass)
				first_err(&err, member_put(s, &want[i]));
	free(want);
	return err;
}

/*
 * 0: installed as next; 1: that epoch was installed already (its member
 * list brought up to date); -ESTALE with *last the ASR's last epoch here:
 * an epoch at or below it cannot be installed again.
 */
int kern_asr_config(struct akm_sock *s, const struct agent_conf *c,
		    const struct akmp_asr_config *cfg, uint32_t *last)
{
	uint32_t attrs = AKM_BIT(AKM_A_ASR_POLICY) | AKM_BIT(AKM_A_ASR_GRACE);
	struct akm_asr want = {
		.id = cfg->asr_id, .alg = cfg->alg, .policy = cfg->policy, .grace = cfg->grace,
	};
	struct akm_asr cur;
	unsigned int i;
	bool installed = false;
	int err;

	if (cfg->asr_id & AKMP_PROV_ASR(0) || !is_member(cfg, c->node_id))
		return -EINVAL;	/* not for us, or the provisioning ASR */
	err = akm_asr_get(s, cfg->asr_id, &cur);
	/* refused anyway (an epoch used before): change nothing */
	if (!err && cfg->epoch <= cur.last_epoch) {
		for (i = 0; i < cur.nkeys; i++)
			installed |= cur.keys[i].epoch == cfg->epoch;
		/* the member list of an older epoch than ours is no news either */
		if (!installed || cfg->epoch < cur.last_epoch || cur.alg != cfg->alg) {
			*last = cur.last_epoch;
			return -ESTALE;
		}
	}
	if (!err && cur.alg != cfg->alg) {
		agent_log("ASR %u: algorithm changes, re-creating it", cfg->asr_id);
		err = akm_asr_del(s, cfg->asr_id);
		if (!err)
			err = -ENOENT;
	}
	if (err == -ENOENT)
		err = akm_asr_new(s, &want, attrs);
	else if (!err && (cur.policy != want.policy || cur.grace != want.grace))
		err = akm_asr_set(s, &want, attrs);
	if (!err)
		err = members_sync(s, c, cfg);
	if (err || installed)
		return err ? err : 1;
	/* a next epoch that was never activated is superseded by this one */
	err = akm_asr_get(s, cfg->asr_id, &cur);
	for (i = 0; !err && i < cur.nkeys; i++)
		if (cur.keys[i].state == AKM_KEY_NEXT)
			err = akm_key_retire(s, cfg->asr_id, cur.keys[i].epoch);
	if (!err)
		err = akm_key_install_wrapped(s, cfg->asr_id, cfg->epoch, c->nmm_id, cfg->wrapped);
	/* the ASR was made anew here, but the namespace had the epoch: say its last */
	if (err == -ESTALE && !akm_asr_get(s, cfg->asr_id, &cur))
		*last = cur.last_epoch;
	return err;
}

int kern_activate(struct akm_sock *s, const struct agent_conf *c, uint32_t asr_id,
		  uint32_t epoch)
{
	struct akm_asr asr;
	unsigned int i;
	int err;

	if (asr_id & AKMP_PROV_ASR(0) || asr_id == kern_prov_asr(c))
		return -EINVAL;
	err = akm_asr_get(s, asr_id, &asr);
	for (i = 0; !err && i < asr.nkeys; i++)
		if (asr.keys[i].epoch == epoch && asr.keys[i].state == AKM_KEY_CURRENT)
			return 0;	/* already */
	return err ? err : akm_key_activate(s, asr_id, epoch);
}

int kern_leave(struct akm_sock *s, const struct agent_conf *c, uint32_t asr_id)
{
	int err;

	if (asr_id & AKMP_PROV_ASR(0) || asr_id == kern_prov_asr(c))
		return -EINVAL;
	err = akm_asr_del(s, asr_id);
	return err == -ENOENT ? 0 : err;
}

/* The counters a heartbeat reports: every drop counter, and tx_no_key. */
static const int hb_counters[] = {
	AKM_STATS_A_TX_NO_KEY, AKM_STATS_A_DROP_BAD_TAG, AKM_STATS_A_DROP_REPLAY,
	AKM_STATS_A_DROP_UNKNOWN_ASR, AKM_STATS_A_DROP_UNKNOWN_EPOCH,
	AKM_STATS_A_DROP_NOT_MEMBER, AKM_STATS_A_DROP_MALFORMED, AKM_STATS_A_DROP_PLAIN,
};

static void put_counter(struct akmp_buf *b, uint32_t asr_id, const struct akm_stats *st,
			bool node_level)
{
	size_t nest = akmp_nest_start(b, AKMP_T_COUNTER);
	unsigned int i;

	akmp_put_u32(b, AKMP_T_ASR_ID, asr_id);
	for (i = 0; i < sizeof(hb_counters) / sizeof(hb_counters[0]); i++) {
		int k = hb_counters[i];
		bool node_only = k == AKM_STATS_A_DROP_UNKNOWN_ASR || k == AKM_STATS_A_DROP_MALFORMED;

		if (node_only != node_level)
			continue;
		akmp_put_str(b, AKMP_T_NAME, akm_enum_name(AKM_ENUM_STATS, k));
		akmp_put_u64(b, AKMP_T_VALUE, st->v[k]);
	}
	akmp_nest_end(b, nest);
}

/* Queue HEARTBEATs with the node's and every ASR's counters, split below the size limit. */
int kern_heartbeats(struct akm_sock *s, struct akmp_outq *q)
{
	struct akmp_buf b = { 0 };
	struct akm_asr *asrs = NULL;
	struct akm_node node;
	size_t n = 0, i;
	int err;

	err = akm_node_get(s, &node);
	if (!err)
		err = akm_asr_dump(s, &asrs, &n);
	akmp_begin(&b, AKMP_HEARTBEAT);
	if (!err)
		put_counter(&b, 0, &node.stats, true);
	for (i = 0; !err && i < n; i++) {
		if (b.len > AKMP_LEN_MAX / 2) {
			err = akmp_end(&b);
			if (!err)
				err = akmp_queue(q, &b);
			akmp_begin(&b, AKMP_HEARTBEAT);
		}
		put_counter(&b, asrs[i].id, &asrs[i].stats, false);
	}
	free(asrs);
	if (err) {	/* still a heartbeat, without counters */
		agent_log("cannot read the kernel's counters: %s", strerror(-err));
		akmp_begin(&b, AKMP_HEARTBEAT);
	}
	err = akmp_end(&b);
	if (!err)
		err = akmp_queue(q, &b);
	akmp_buf_free(&b);
	return err;
}
