// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Failed handshakes per source address (fails.h). */
#include <string.h>
#include <sys/socket.h>

#include "fails.h"

static struct akm_addr fail_key(const struct akm_addr *a, bool known)
{
	struct akm_addr k = *a;

	if (k.family == AF_INET6 && !known)
		memset(&k.v6.s6_addr[8], 0, 8);
	return k;
}

/*
 * The slot of a's failures. A new one takes a free slot, else the one with
 * the fewest failures that is not at the limit: a limited address is
 * never forgotten before its window ends, however many others fail.
 * With every slot at the limit there is none (NULL): the table is full of
 * addresses that failed, and a new one is not served (f->full_until).
 */
static struct akm_fail_slot *fail_slot(struct akm_fails *f, const struct akm_addr *a,
				       int64_t now, bool known, bool make)
{
	struct akm_addr key = fail_key(a, known);
	struct akm_fail_slot *s, *victim = NULL;

	for (s = f->slot; s < f->slot + AKM_FAIL_SLOTS; s++) {
		if (s->count && now - s->since >= AKM_FAIL_WINDOW)
			s->count = 0;
		if (s->count && akm_addr_eq(&s->addr, &key))
			return s;
		if (s->count >= AKM_FAIL_MAX)
			continue;
		if (!victim || s->count < victim->count ||
		    (s->count == victim->count && s->since < victim->since))
			victim = s;
	}
	if (!make || !victim)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	victim->addr = key;
	victim->since = now;
	return victim;
}

bool akm_fails_limited(struct akm_fails *f, const struct akm_addr *a, int64_t now, bool known)
{
	struct akm_fail_slot *s = fail_slot(f, a, now, known, false);

	return s ? s->count >= AKM_FAIL_MAX : now < f->full_until && !known;
}

void akm_fails_record(struct akm_fails *f, const struct akm_addr *a, int64_t now, bool known)
{
	struct akm_fail_slot *s = fail_slot(f, a, now, known, true);

	if (s)
		s->count++;
	else	/* no room to count it: strangers wait a window */
		f->full_until = now + AKM_FAIL_WINDOW;
}
