// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The netlink socket: family resolution, requests answered by an ack (with
 * the extended ack message), dumps retried when a concurrent change
 * interrupts them, and events.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>

#include "libakm.h"

#define EINTR_DUMP EINTR	/* akm_transact(): an interrupted dump */

struct akm_sock {
	struct nl_sock *nl;
	struct nl_cb *cb;	/* ours; the socket's own stays plain for libnl */
	int family;
	/* The request or event read in progress. */
	akm_msg_cb fn;
	void *arg;
	int error;
	bool done;
	char msg[256];
};

static void set_msg(struct akm_sock *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_msg(struct akm_sock *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->msg, sizeof(s->msg), fmt, ap);
	va_end(ap);
}

static void set_error(struct akm_sock *s, int err)
{
	if (!s->error)
		s->error = err;
}

static int nl2errno(int nlerr)
{
	switch (abs(nlerr)) {
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_AGAIN:
		return -EAGAIN;
	case NLE_PERM:
		return -EPERM;
	case NLE_NOACCESS:
		return -EACCES;
	case NLE_OBJ_NOTFOUND:
		return -ENOENT;
	case NLE_INVAL:
		return -EINVAL;
	case NLE_MSGSIZE:
	case NLE_MSG_TRUNC:
		return -EMSGSIZE;
	default:
		return -EIO;
	}
}

/* A failure of libnl itself rather than of the kernel. */
static int local_error(struct akm_sock *s, int nlerr)
{
	set_msg(s, "%s", nl_geterror(nlerr));
	set_error(s, nl2errno(nlerr));
	return s->error;
}

/* Keep the message of the extended ack attributes found at offset off. */
static void parse_extack(struct akm_sock *s, struct nlmsghdr *nlh, size_t off)
{
	static const struct nla_policy policy[NLMSGERR_ATTR_MAX + 1] = {
		[NLMSGERR_ATTR_MSG] = { .type = NLA_STRING },
	};
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	size_t len = nlmsg_datalen(nlh);

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS) || off > len)
		return;
	if (nla_parse(tb, NLMSGERR_ATTR_MAX, (struct nlattr *)((char *)nlmsg_data(nlh) + off),
		      len - off, policy) < 0)
		return;
	if (tb[NLMSGERR_ATTR_MSG])
		set_msg(s, "%s", nla_get_string(tb[NLMSGERR_ATTR_MSG]));
}

/* The attributes follow the request's header, or all of it unless capped. */
static void parse_ack_extack(struct akm_sock *s, struct nlmsghdr *nlh)
{
	struct nlmsgerr *e = nlmsg_data(nlh);
	size_t off = sizeof(*e);

	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(e->msg);
	parse_extack(s, nlh, off);
}

static int on_error(struct sockaddr_nl *who, struct nlmsgerr *e, void *arg)
{
	struct akm_sock *s = arg;

	(void)who;
	/* libnl hands us the payload of the error message; its header precedes it. */
	parse_ack_extack(s, (struct nlmsghdr *)((char *)e - NLMSG_HDRLEN));
	set_error(s, e->error < 0 ? e->error : -EPROTO);
	s->done = true;
	return NL_STOP;
}

static int on_ack(struct nl_msg *m, void *arg)
{
	struct akm_sock *s = arg;

	parse_ack_extack(s, nlmsg_hdr(m));
	s->done = true;
	return NL_STOP;
}

/* NLMSG_DONE ends a dump; it carries the dump's error and extended ack. */
static int on_done(struct nl_msg *m, void *arg)
{
	struct nlmsghdr *nlh = nlmsg_hdr(m);
	struct akm_sock *s = arg;
	int err;

	if (nlmsg_datalen(nlh) >= (int)sizeof(err)) {
		memcpy(&err, nlmsg_data(nlh), sizeof(err));
		if (err < 0)
			set_error(s, err);
		parse_extack(s, nlh, sizeof(err));
	}
	s->done = true;
	return NL_STOP;
}

/* After an error, keep reading (to the end of a dump) but ignore replies. */
static int on_valid(struct nl_msg *m, void *arg)
{
	struct akm_sock *s = arg;
	struct akm_msg msg;
	int err;

	if (s->error || !s->fn)
		return NL_OK;
	err = akm_parse_msg(nlmsg_hdr(m), &msg);
	if (!err)
		err = s->fn(&msg, s->arg);
	if (err == -EPROTO)
		set_msg(s, "malformed message from the kernel");
	if (err < 0)
		set_error(s, err);
	return NL_OK;
}

static int on_any_seq(struct nl_msg *m, void *arg)
{
	(void)m;
	(void)arg;
	return NL_OK;
}

int akm_open(struct akm_sock **sp)
{
	struct akm_sock *s;
	struct nl_cb *cb;
	int one = 1, err;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	err = -ENOMEM;
	s->cb = nl_cb_alloc(NL_CB_DEFAULT);
	cb = nl_cb_alloc(NL_CB_DEFAULT);	/* never the NLCB debug handlers */
	if (!s->cb || !cb)
		goto fail;
	s->nl = nl_socket_alloc_cb(cb);
	if (!s->nl)
		goto fail;
	err = genl_connect(s->nl);
	if (err < 0) {
		err = nl2errno(err);
		goto fail;
	}
	/* Both exist since Linux 4.12; without them errors merely lose their text. */
	setsockopt(nl_socket_get_fd(s->nl), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(nl_socket_get_fd(s->nl), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));

	s->family = genl_ctrl_resolve(s->nl, AKM_GENL_NAME);
	if (s->family < 0) {
		err = s->family == -NLE_OBJ_NOTFOUND ? -AKM_ENOFAMILY : nl2errno(s->family);
		goto fail;
	}
	nl_cb_err(s->cb, NL_CB_CUSTOM, on_error, s);
	nl_cb_set(s->cb, NL_CB_ACK, NL_CB_CUSTOM, on_ack, s);
	nl_cb_set(s->cb, NL_CB_FINISH, NL_CB_CUSTOM, on_done, s);
	nl_cb_set(s->cb, NL_CB_VALID, NL_CB_CUSTOM, on_valid, s);
	nl_cb_put(cb);
	*sp = s;
	return 0;
fail:
	if (cb)
		nl_cb_put(cb);
	akm_close(s);
	return err;
}

void akm_close(struct akm_sock *s)
{
	if (!s)
		return;
	if (s->nl)
		nl_socket_free(s->nl);
	if (s->cb)
		nl_cb_put(s->cb);
	free(s);
}

const char *akm_errmsg(const struct akm_sock *s)
{
	return s->msg;
}

int akm_fd(const struct akm_sock *s)
{
	return nl_socket_get_fd(s->nl);
}

struct nl_msg *akm_msg_alloc(struct akm_sock *s, uint8_t cmd, int flags)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (msg && !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, s->family, 0,
				flags, cmd, AKM_GENL_VERSION)) {
		nlmsg_free(msg);
		msg = NULL;
	}
	return msg;
}

/* Free a message that held key material, wiping it first. */
void akm_msg_free_secret(struct nl_msg *msg)
{
	explicit_bzero(nlmsg_hdr(msg), nlmsg_hdr(msg)->nlmsg_len);
	nlmsg_free(msg);
}

static void start(struct akm_sock *s, akm_msg_cb fn, void *arg)
{
	s->fn = fn;
	s->arg = arg;
	s->error = 0;
	s->done = false;
	s->msg[0] = '\0';
}

/*
 * Send msg and read until its ack (or the end of its dump), calling fn for
 * each reply. Returns the kernel's error, fn's, or -EINTR if a dump was
 * interrupted by a concurrent change; the caller keeps msg.
 */
int akm_transact(struct akm_sock *s, struct nl_msg *msg, akm_msg_cb fn, void *arg)
{
	bool interrupted = false;
	int err;

	start(s, fn, arg);
	nlmsg_hdr(msg)->nlmsg_seq = NL_AUTO_SEQ;	/* a new one if sent again */
	err = nl_send_auto(s->nl, msg);
	if (err < 0)
		return local_error(s, err);
	while (!s->done) {
		err = nl_recvmsgs(s->nl, s->cb);
		if (err == -NLE_DUMP_INTR)
			interrupted = true;
		else if (err < 0 && !s->error)
			return local_error(s, err);
		else if (err < 0)
			break;
	}
	if (s->error)
		return s->error;
	return interrupted ? -EINTR_DUMP : 0;
}

/*
 * Dump cmd, for one ASR if asr_id is not 0. An interrupted dump is retried,
 * after restart(arg) if given, so that fn can drop what it collected.
 */
int akm_dump(struct akm_sock *s, uint8_t cmd, uint32_t asr_id,
	     akm_msg_cb fn, int (*restart)(void *arg), void *arg)
{
	struct nl_msg *msg;
	int err, try;

	msg = akm_msg_alloc(s, cmd, NLM_F_DUMP);
	if (!msg)
		return -ENOMEM;
	if (asr_id && nla_put_u32(msg, AKM_A_ASR_ID, asr_id) < 0) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	for (try = 0; try < AKM_DUMP_TRIES; try++) {
		err = try && restart ? restart(arg) : 0;
		if (!err)
			err = akm_transact(s, msg, fn, arg);
		if (err != -EINTR_DUMP)
			break;
	}
	nlmsg_free(msg);
	if (err == -EINTR_DUMP) {
		set_msg(s, "dump interrupted by concurrent changes, try again");
		err = -EAGAIN;
	}
	return err;
}

/* Join the events group; the socket becomes non-blocking. */
int akm_subscribe(struct akm_sock *s)
{
	int grp, err;

	start(s, NULL, NULL);
	grp = genl_ctrl_resolve_grp(s->nl, AKM_GENL_NAME, AKM_MCGRP_EVENTS);
	if (grp < 0)
		return local_error(s, grp);
	err = nl_socket_add_membership(s->nl, grp);
	if (!err)
		err = nl_socket_set_nonblocking(s->nl);
	if (!err)	/* capped by net.core.rmem_max; a bigger queue loses fewer events */
		err = nl_socket_set_buffer_size(s->nl, 1 << 20, 0);
	if (err < 0)
		return local_error(s, err);
	nl_cb_set(s->cb, NL_CB_SEQ_CHECK, NL_CB_CUSTOM, on_any_seq, NULL);
	return 0;
}

/*
 * Call fn for each event queued on a subscribed socket. Returns 0 once the
 * queue is empty, -ENOBUFS if it overflowed and events were lost.
 */
int akm_recv_events(struct akm_sock *s, akm_msg_cb fn, void *arg)
{
	int err;

	start(s, fn, arg);
	do	/* > 0: messages read; 0 or -NLE_AGAIN: none left */
		err = nl_recvmsgs(s->nl, s->cb);
	while (err > 0 && !s->error);
	if (s->error)
		return s->error;
	if (!err || err == -NLE_AGAIN)
		return 0;
	if (err == -NLE_NOMEM) {	/* how libnl reports ENOBUFS */
		set_msg(s, "event queue overflowed, events were lost");
		return -ENOBUFS;
	}
	return local_error(s, err);
}
