/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Failed handshakes per source address, for a daemon that accepts
 * connections from the network (akm-nmmd, akm-rootd): an address with
 * AKM_FAIL_MAX failures in AKM_FAIL_WINDOW seconds is not served until its
 * window ends. IPv6 addresses count per /64 (one host has them all).
 */
#ifndef AKM_FAILS_H
#define AKM_FAILS_H

#include <stdbool.h>
#include <stdint.h>

#include "libakm.h"

#define AKM_FAIL_WINDOW		60	/* s */
#define AKM_FAIL_MAX		5	/* failed handshakes per address per window */
#define AKM_FAIL_SLOTS		1024

struct akm_fails {
	struct akm_fail_slot {
		struct akm_addr addr;
		int64_t since;		/* now of the first failure */
		unsigned int count;
	} slot[AKM_FAIL_SLOTS];
	int64_t full_until;		/* strangers are not served until then */
};

/*
 * now: seconds of a monotonic clock. known: an address the caller serves
 * (a site's endpoint): limited by its own failures only, counted for it
 * alone (not with its /64), and not for want of room in a table that
 * strangers filled.
 */
bool akm_fails_limited(struct akm_fails *f, const struct akm_addr *a, int64_t now, bool known);
void akm_fails_record(struct akm_fails *f, const struct akm_addr *a, int64_t now, bool known);

#endif /* AKM_FAILS_H */
