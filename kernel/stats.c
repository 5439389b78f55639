// SPDX-License-Identifier: GPL-2.0
/*
 * Per-CPU counters. Writers touch only their own CPU's copy; readers sum.
 * A reset records the current sums as a base instead of writing to other
 * CPUs' copies, so it never races with the packet path.
 */
#include <linux/netdevice.h>
#include <linux/percpu.h>
#include <linux/string.h>

#include "akm.h"

/* Charged, like every object of a namespace, to the caller's memory cgroup. */
int akm_stats_init(struct akm_stats *s)
{
	int cpu;

	memset(s->base, 0, sizeof(s->base));
	s->pcpu = alloc_percpu_gfp(struct akm_pcpu_stats, GFP_KERNEL_ACCOUNT);
	if (!s->pcpu)
		return -ENOMEM;
	for_each_possible_cpu(cpu)
		u64_stats_init(&per_cpu_ptr(s->pcpu, cpu)->syncp);
	return 0;
}

void akm_stats_free(struct akm_stats *s)
{
	free_percpu(s->pcpu);
	s->pcpu = NULL;
}

static void akm_stats_sum(const struct akm_stats *s, u64 *out)
{
	int cpu, i;

	memset(out, 0, sizeof(u64) * __AKM_STATS_A_MAX);
	for_each_possible_cpu(cpu) {
		const struct akm_pcpu_stats *p = per_cpu_ptr(s->pcpu, cpu);
		u64 v[__AKM_STATS_A_MAX];
		unsigned int start;

		do {
			start = u64_stats_fetch_begin(&p->syncp);
			for (i = 0; i < __AKM_STATS_A_MAX; i++)
				v[i] = u64_stats_read(&p->c[i]);
		} while (u64_stats_fetch_retry(&p->syncp, start));
		for (i = 0; i < __AKM_STATS_A_MAX; i++)
			out[i] += v[i];
	}
}

/* @out has __AKM_STATS_A_MAX entries. */
void akm_stats_read(const struct akm_stats *s, u64 *out)
{
	int i;

	akm_stats_sum(s, out);
	for (i = 0; i < __AKM_STATS_A_MAX; i++)
		out[i] -= s->base[i];
}

/* Caller serialises resets (akm_net.lock). */
void akm_stats_reset(struct akm_stats *s)
{
	akm_stats_sum(s, s->base);
}
