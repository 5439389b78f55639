/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The NMM <-> node protocol of Documentation/protocol.md: framing, TLVs,
 * message encoding and strict decoding, and buffered non-blocking I/O.
 * Shared by akm-nmmd, akm-agent and akm-rootd. No crypto here.
 *
 * Frame: be32 length (of what follows, 1..AKMP_LEN_MAX) | u8 type | TLVs
 * TLV:   be16 type | be16 length | value
 *
 * Functions returning int return 0 (or a count) on success and a negative
 * errno on failure: -EBADMSG for malformed input, -EMSGSIZE for a message
 * over the limit, -ENOMEM.
 */
#ifndef AKM_PROTO_H
#define AKM_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libakm.h"

#define AKMP_VERSION		3	/* 3: T covers SESSION (the connection's kind) */
#define AKMP_PORT		4790
#define AKMP_HDR_LEN		4		/* the be32 length */
#define AKMP_LEN_MAX		65536		/* type + TLVs */
#define AKMP_TLV_HDR		4
#define AKMP_NONCE_LEN		32
#define AKMP_PROOF_LEN		32
#define AKMP_ADDR_LEN		16		/* IPv4 as ::ffff:a.b.c.d */
#define AKMP_TEXT_MAX		1024		/* MESSAGE and NAME */
#define AKMP_OUTQ_MAX		(1u << 20)	/* bytes queued per connection */
#define AKMP_HEARTBEAT_SECS	10
#define AKMP_FLAG_FRESH		(1u << 0)	/* HELLO FLAGS: kernel holds no ASR state */
#define AKMP_FLAG_INSTANCES	(1u << 1)	/* ... a site that takes INSTANCES */
#define AKMP_FLAG_ACK		(1u << 2)	/* ... a site that ACKs epochs, takes ACTIVATE */
#define AKMP_WELCOME_STATUS	(1u << 0)	/* session WELCOME FLAGS: a root takes NODE_STATUS */
#define AKMP_WELCOME_ACTIVATE	(1u << 1)	/* ... activates epochs across its sites */
#define AKMP_PROV_ASR(node)	(0x80000000u | (node))
#define AKMP_NODE_ONLINE	1	/* NODE_STATUS STATE (0: offline) */
#define AKMP_STATUS_NO_COUNTERS	(1u << 0)	/* NODE_STATUS FLAGS: too many to send */
#define AKMP_SYNC_BEGIN		1	/* SYNC STATE */
#define AKMP_SYNC_END		2
#define AKMP_SYNC_KEEP		3	/* ... with NODE_ID or ASR_ID: held as it is */
#define AKMP_MEMBER_SITE	(1u << 0)	/* MEMBER FLAGS, root -> site: a node of that site */
/* the handshake transcript T both proofs cover (protocol.md) */
#define AKMP_TRANSCRIPT_LEN	(8 + 2 * AKMP_NONCE_LEN + 4 + 4 + 8 + 4)
/* what a proof is computed over: label (at most 7 bytes) || T [|| be32 epoch] */
#define AKMP_PROOF_INPUT_MAX	(7 + AKMP_TRANSCRIPT_LEN + 4)

enum akmp_type {
	AKMP_HELLO = 1,
	AKMP_CHALLENGE,
	AKMP_AUTH,
	AKMP_WELCOME,
	AKMP_ASR_CONFIG,
	AKMP_ACTIVATE,
	AKMP_LEAVE,
	AKMP_ACK,
	AKMP_HEARTBEAT,
	AKMP_EVENT,
	AKMP_SITE_NODE,		/* root -> site: one of its nodes (root.md) */
	AKMP_NODE_DEL,		/* root -> site: that node was removed */
	AKMP_SYNC,		/* root -> site: STATE 1 all follows, 2 that was all */
	AKMP_REKEY,		/* site -> root: new epochs for a node's ASRs */
	AKMP_REMOVE,		/* site -> root: a node removed at the site */
	AKMP_INSTANCES,		/* root -> site: the instances it may connect to */
	AKMP_NODE_STATUS,	/* site -> root: one of its nodes, online, counters */
	__AKMP_TYPE_MAX
};
#define AKMP_TYPE_MAX (__AKMP_TYPE_MAX - 1)

enum akmp_tlv_type {
	AKMP_T_VERSION = 1,	/* u8 */
	AKMP_T_NODE_ID,		/* be32 */
	AKMP_T_NMM_ID,		/* be32 */
	AKMP_T_NONCE,		/* 32 bytes */
	AKMP_T_PROOF,		/* 32 bytes */
	AKMP_T_STATUS,		/* be32: 0 or an errno value */
	AKMP_T_MESSAGE,		/* text */
	AKMP_T_ASR_ID,		/* be32 */
	AKMP_T_ALG,		/* u8 */
	AKMP_T_POLICY,		/* u8 */
	AKMP_T_GRACE,		/* be32 */
	AKMP_T_EPOCH,		/* be32 */
	AKMP_T_MEMBER,		/* nest: NODE_ID, STATE, ADDR * n */
	AKMP_T_STATE,		/* u8 */
	AKMP_T_ADDR,		/* 16 bytes */
	AKMP_T_WRAPPED,		/* AKM_WRAPPED_LEN bytes */
	AKMP_T_COUNTER,		/* nest: ASR_ID, (NAME, VALUE) * n */
	AKMP_T_NAME,		/* text */
	AKMP_T_VALUE,		/* be64 */
	AKMP_T_FLAGS,		/* be32 */
	AKMP_T_INSTANCE,	/* be64: the node kernel's AKM_A_NODE_INSTANCE */
	AKMP_T_SESSION,		/* be32: 0 bootstrap connection, else its session epoch */
	AKMP_T_LAST,		/* be32: ACK STATUS ESTALE: the ASR's last epoch there */
	AKMP_T_ENDPOINT,	/* 18 bytes: address (as ADDR) and be16 TCP port */
	__AKMP_T_MAX
};
#define AKMP_T_MAX (__AKMP_T_MAX - 1)

/* ---- encoding ---- */

/*
 * A message being built. Errors are sticky: after the first failure the
 * put functions do nothing and akmp_end() returns the error.
 */
struct akmp_buf {
	uint8_t *p;
	size_t len, cap;
	int err;
};

void akmp_begin(struct akmp_buf *b, uint8_t type);	/* (re)starts b */
void akmp_put(struct akmp_buf *b, uint16_t type, const void *v, size_t len);
void akmp_put_u8(struct akmp_buf *b, uint16_t type, uint8_t v);
void akmp_put_u32(struct akmp_buf *b, uint16_t type, uint32_t v);
void akmp_put_u64(struct akmp_buf *b, uint16_t type, uint64_t v);
void akmp_put_str(struct akmp_buf *b, uint16_t type, const char *s);
size_t akmp_nest_start(struct akmp_buf *b, uint16_t type);
void akmp_nest_end(struct akmp_buf *b, size_t start);
/* Fills in the length; 0, or the first error. The frame is b->p, b->len. */
int akmp_end(struct akmp_buf *b);
void akmp_buf_free(struct akmp_buf *b);			/* wipes and frees */

/* ---- decoding ---- */

struct akmp_tlv {
	uint16_t type;
	uint16_t len;
	const uint8_t *v;		/* NULL: absent */
};

/* Walk the TLVs of data/len: 1 with *t filled, 0 at the end, -EBADMSG. */
struct akmp_iter {
	const uint8_t *p, *end;
};
void akmp_iter_init(struct akmp_iter *it, const uint8_t *data, size_t len);
int akmp_iter_next(struct akmp_iter *it, struct akmp_tlv *t);

/* A validated message; the TLV pointers point into the buffer given to akmp_parse(). */
struct akmp_msg {
	uint8_t type;
	const uint8_t *body;		/* the TLVs */
	size_t len;
	struct akmp_tlv tb[AKMP_T_MAX + 1];	/* last top-level TLV of each type */
};

/*
 * Parse and validate one message (type byte and TLVs, without the length
 * header): known message type, every known TLV (nested too) of the right
 * size, the message's required TLVs present. Unknown TLVs are skipped.
 * -EPROTONOSUPPORT for a VERSION other than AKMP_VERSION.
 */
int akmp_parse(const uint8_t *data, size_t len, struct akmp_msg *m);
/* What one handshake is about: both sides' nonces and what HELLO said. */
struct akmp_hs {
	uint32_t node, nmm;
	uint8_t nn[AKMP_NONCE_LEN], nm[AKMP_NONCE_LEN];
	uint32_t flags;			/* HELLO FLAGS */
	uint32_t last;			/* HELLO EPOCH: the node's last session epoch */
	uint64_t instance;		/* HELLO INSTANCE */
	uint32_t session;		/* HELLO SESSION: 0 bootstrap, else the session epoch */
};

/*
 * The server's side of a handshake: hs from a parsed HELLO with nmm = self
 * (its NMM_ID is for the caller to check, its nonce nm to make); the
 * CHALLENGE and WELCOME messages (epoch 0: no EPOCH and PROOF).
 */
void akmp_hello_hs(const struct akmp_msg *m, uint32_t self, struct akmp_hs *hs);
void akmp_challenge(struct akmp_buf *b, const struct akmp_hs *hs,
		    const uint8_t proof[AKMP_PROOF_LEN]);
void akmp_welcome(struct akmp_buf *b, uint32_t status, const char *msg, uint32_t epoch,
		  const uint8_t *proof);
/* T of the handshake (protocol.md); returns AKMP_TRANSCRIPT_LEN */
size_t akmp_transcript(uint8_t t[AKMP_TRANSCRIPT_LEN], const struct akmp_hs *h);
/* label || T [|| be32 epoch, if not 0] into out; returns its length */
size_t akmp_proof_input(uint8_t out[AKMP_PROOF_INPUT_MAX], const char *label,
			const struct akmp_hs *h, uint32_t epoch);
/* Loose accessors for TLVs akmp_parse() validated. */
uint8_t akmp_u8(const struct akmp_tlv *t);
uint32_t akmp_u32(const struct akmp_tlv *t);
uint64_t akmp_u64(const struct akmp_tlv *t);
/* Copy text to buf (NUL-terminated); -EBADMSG if it holds a NUL or is too long. */
int akmp_str(const struct akmp_tlv *t, char *buf, size_t size);

const char *akmp_type_name(unsigned int type);	/* "HELLO", ...; NULL: unknown */

/* ---- typed messages ---- */

struct akmp_member {
	uint32_t node_id;
	uint8_t state;			/* enum akm_member_state */
	uint32_t flags;			/* FLAGS: AKMP_MEMBER_* */
	unsigned int naddrs;
	uint8_t addrs[AKM_ADDRS_MAX][AKMP_ADDR_LEN];
};

struct akmp_asr_config {
	uint32_t asr_id;
	uint8_t alg, policy;
	uint32_t grace, epoch;
	unsigned int nmembers;
	struct akmp_member *members;	/* nmembers, from malloc */
	uint8_t wrapped[AKM_WRAPPED_LEN];
};

void akmp_put_member(struct akmp_buf *b, const struct akmp_member *m);
void akmp_asr_config(struct akmp_buf *b, const struct akmp_asr_config *c);
/* Decode ASR_CONFIG: at least 1, at most AKM_MEMBERS_MAX distinct members. */
int akmp_asr_config_parse(const struct akmp_msg *m, struct akmp_asr_config *c);
void akmp_asr_config_free(struct akmp_asr_config *c);
int akmp_member_parse(const struct akmp_tlv *nest, struct akmp_member *mb);

/* One counter of a HEARTBEAT's COUNTER nests, for akmp_counters_parse(). */
typedef int (*akmp_counter_cb)(uint32_t asr_id, const char *name, uint64_t value,
			       void *arg);
/* Call cb for every NAME/VALUE pair of every COUNTER; a negative cb return stops. */
int akmp_counters_parse(const struct akmp_msg *m, akmp_counter_cb cb, void *arg);

/* Addresses as 16 bytes (IPv4-mapped) and back. */
void akmp_addr_put(const struct akm_addr *a, uint8_t out[AKMP_ADDR_LEN]);
void akmp_addr_get(const uint8_t in[AKMP_ADDR_LEN], struct akm_addr *a);

/* INSTANCES: the root's instances a site may connect to, at most this many. */
#define AKMP_INSTANCES_MAX	8
struct akmp_endpoint {
	struct akm_addr addr;
	uint16_t port;
};
void akmp_put_endpoint(struct akmp_buf *b, const struct akmp_endpoint *e);
bool akmp_endpoint_eq(const struct akmp_endpoint *a, const struct akmp_endpoint *b);
/* One a site can connect to: a port; not unspecified, loopback, multicast, link-local. */
bool akmp_endpoint_usable(const struct akmp_endpoint *e);
/*
 * Its usable ENDPOINTs in order, each once, the first AKMP_INSTANCES_MAX
 * of them (a later root may send more): how many.
 */
int akmp_instances_parse(const struct akmp_msg *m, struct akmp_endpoint e[AKMP_INSTANCES_MAX]);

/* ---- non-blocking I/O ---- */

/*
 * Reads one frame at a time from a non-blocking stream. akmp_read() returns
 * 1 when a whole frame is in r->buf (type at r->buf[0], length r->len; parse
 * it, then call again: the next call starts a new frame), 0 when the socket
 * has no more data for now, -EPIPE at end of stream (clean between frames
 * or not), -EMSGSIZE / -EBADMSG for a bad length header, -errno.
 */
struct akmp_reader {
	uint8_t hdr[AKMP_HDR_LEN];
	size_t hdr_got;
	uint8_t *buf;			/* AKMP_LEN_MAX bytes once allocated */
	size_t len, got;		/* frame length (0: header not complete) */
	bool done;			/* the last call returned a frame */
};

int akmp_read(int fd, struct akmp_reader *r);
/* Feed bytes instead of reading a socket; *used is set to how many it took. */
int akmp_feed(struct akmp_reader *r, const uint8_t *data, size_t len, size_t *used);
void akmp_reader_free(struct akmp_reader *r);

/* Output queue: akmp_queue() appends a frame, akmp_flush() writes what it can. */
struct akmp_outq {
	uint8_t *p;
	size_t len, off, cap;
};

int akmp_queue(struct akmp_outq *q, const struct akmp_buf *b);	/* -ENOBUFS: full */
/* 1: all written, 0: more pending (wait for POLLOUT), -errno. */
int akmp_flush(int fd, struct akmp_outq *q);
bool akmp_pending(const struct akmp_outq *q);
/*
 * Close a connection with a reset, sent at once: before the kernel switches
 * the peer's mode, so its last segment goes out under the mode the
 * connection ran in and no orphan socket lingers at either end.
 */
void akmp_close_reset(int fd);
void akmp_outq_free(struct akmp_outq *q);

/* The NMM admin socket (akmctl nmm): frames as above (be32 length | u8 type | TLVs). */
enum {
	NMM_ADMIN_RUN = 100,	/* client: MODE, ARG * n */
	NMM_ADMIN_OUT,		/* server: TEXT (stdout) */
	NMM_ADMIN_ERR,		/* server: TEXT (stderr) */
	NMM_ADMIN_EXIT,		/* server: STATUS; then the server closes */
	NMM_ADMIN_FILE,		/* server: DATA, for akmctl to write to 'file' */
};
enum {
	NMM_ADMIN_T_MODE = 1,	/* u8: enum akm_out_mode */
	NMM_ADMIN_T_ARG,	/* text */
	NMM_ADMIN_T_TEXT,	/* text */
	NMM_ADMIN_T_STATUS,	/* be32 exit status */
	NMM_ADMIN_T_DATA,	/* bytes */
};

/* A decoded RUN request: its words (allocated) and output mode. */
struct akmp_admin_req {
	char **argv;		/* room for max words, given by the caller */
	int argc, max;
	uint8_t mode;		/* enum akm_out_mode */
	bool toomany;		/* more than max words came: a usage error */
};

/* Decode RUN (type byte and TLVs); -EBADMSG, -ENOMEM. akmp_admin_req_free() after. */
int akmp_admin_req(const uint8_t *data, size_t len, struct akmp_admin_req *q);
void akmp_admin_req_free(struct akmp_admin_req *q);

#endif /* AKM_PROTO_H */
