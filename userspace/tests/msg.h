/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/* Building kernel-like messages for the parsing and printing tests. */
#ifndef MSG_H
#define MSG_H

#include <stdlib.h>
#include <netlink/genl/genl.h>

#include "libakm.h"

static inline struct nl_msg *msg_new(uint8_t cmd)
{
	struct nl_msg *m = nlmsg_alloc();

	if (!m || !genlmsg_put(m, 0, 0, 0x20, 0, 0, cmd, AKM_GENL_VERSION)) {
		fputs("cannot build a message\n", stderr);
		exit(1);
	}
	return m;
}

/* Parse m into msg, which points into m: free m after using msg. */
static inline int msg_parse(struct nl_msg *m, struct akm_msg *msg)
{
	return akm_parse_msg(nlmsg_hdr(m), msg);
}

static inline void put_key(struct nl_msg *m, uint32_t epoch, uint8_t state,
			   int32_t serial, uint64_t created, uint64_t activated)
{
	struct nlattr *nest = nla_nest_start(m, AKM_A_KEY);

	nla_put_u32(m, AKM_KEY_A_EPOCH, epoch);
	nla_put_u8(m, AKM_KEY_A_STATE, state);
	nla_put_s32(m, AKM_KEY_A_SERIAL, serial);
	nla_put_u64(m, AKM_KEY_A_CREATED, created);
	nla_put_u64(m, AKM_KEY_A_ACTIVATED, activated);
	nla_nest_end(m, nest);
}

#endif /* MSG_H */
