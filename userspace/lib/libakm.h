/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * libakm: a small client library for the "akm" generic netlink family,
 * shared by akmctl, the NMM daemon and the node agent.
 *
 * Functions returning int return 0 (or a count) on success and a negative
 * errno on failure. After a failed request, akm_errmsg() holds the kernel's
 * extended ack message (or a local explanation), "" if there is none; after
 * a successful one it holds a kernel warning, if any.
 */
#ifndef LIBAKM_H
#define LIBAKM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <netinet/in.h>
#include <linux/akm.h>

/* Bit for an optional attribute in the "attrs" masks below. */
#define AKM_BIT(attr)		(1u << (attr))

#define AKM_DUMP_TRIES		5	/* dumps interrupted by changes are retried */
#define AKM_ADDRSTRLEN		INET6_ADDRSTRLEN
#define AKM_KEYS_MAX		(AKM_KEY_STATE_MAX + 1)
#define AKM_SECRET_MAX		AKM_WRAPPED_LEN	/* longest akm_secret_read() */

/* Returned by akm_open() when the family is not registered. */
#define AKM_ENOFAMILY		ENOENT
#define AKM_NOFAMILY_MSG	"akm: generic netlink family not found; " \
				"is akm.ko loaded? (modprobe akm / insmod akm.ko)"

struct akm_addr {
	int family;			/* AF_INET or AF_INET6 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	};
};

struct akm_stats {
	uint64_t v[AKM_STATS_A_MAX + 1];	/* indexed by enum akm_stats_attr */
};

struct akm_node {
	uint32_t node_id;		/* 0: not set */
	uint32_t keyring;
	uint32_t generation;
	uint32_t asr_count;
	uint32_t rx_mark;		/* set in skb->mark of verified packets */
	uint64_t instance;		/* random, new with every kernel state */
	struct akm_stats stats;
};

struct akm_key {
	uint32_t epoch;
	uint8_t state;			/* enum akm_key_state */
	int32_t serial;
	uint64_t created;
	uint64_t activated;		/* 0: never */
	uint64_t tx_seq;		/* last sequence number sent */
};

struct akm_asr {
	uint32_t id;
	char name[AKM_NAME_MAX];
	uint8_t alg;			/* enum akm_alg */
	uint8_t policy;			/* enum akm_policy */
	uint32_t member_count;
	uint32_t grace;			/* seconds; 0: until the next activation */
	uint32_t last_epoch;		/* highest ever installed here */
	unsigned int ngroups;		/* multicast addresses of the ASR */
	struct akm_addr groups[AKM_ADDRS_MAX];
	unsigned int nkeys;
	struct akm_key keys[AKM_KEYS_MAX];
	struct akm_stats stats;
};

struct akm_member {
	uint32_t asr_id;
	uint32_t node_id;
	uint8_t state;			/* enum akm_member_state */
	unsigned int naddrs;
	struct akm_addr addrs[AKM_ADDRS_MAX];
	struct akm_stats stats;
};

/* A provisioning credential: the peer's node id and the key's serial. */
struct akm_cred {
	uint32_t id;
	int32_t serial;
};

/* A received message: its command and its validated top-level attributes. */
struct akm_msg {
	uint8_t cmd;
	struct nlattr *tb[AKM_A_MAX + 1];	/* last of each type */
	struct nlattr *attrs;			/* all, for repeated types */
	int len;
};

/* Called for each reply or event; a negative return aborts (and is returned). */
typedef int (*akm_msg_cb)(const struct akm_msg *msg, void *arg);

struct akm_sock;
struct nlattr;
struct nlmsghdr;
struct nl_msg;

/* Socket and raw requests (nl.c). */
int akm_open(struct akm_sock **sp);
void akm_close(struct akm_sock *s);
const char *akm_errmsg(const struct akm_sock *s);
int akm_fd(const struct akm_sock *s);
struct nl_msg *akm_msg_alloc(struct akm_sock *s, uint8_t cmd, int flags);
void akm_msg_free_secret(struct nl_msg *msg);
int akm_transact(struct akm_sock *s, struct nl_msg *msg, akm_msg_cb cb, void *arg);
int akm_dump(struct akm_sock *s, uint8_t cmd, uint32_t asr_id,
	     akm_msg_cb cb, int (*restart)(void *arg), void *arg);

/* Events: use a socket of its own, not one that sends requests. */
int akm_subscribe(struct akm_sock *s);
int akm_recv_events(struct akm_sock *s, akm_msg_cb cb, void *arg);

/* Typed requests (ops.c). "attrs" is a mask of AKM_BIT(optional attribute). */
int akm_node_get(struct akm_sock *s, struct akm_node *node);
int akm_node_set_id(struct akm_sock *s, uint32_t node_id);
int akm_node_set_rx_mark(struct akm_sock *s, uint32_t mark);
int akm_asr_new(struct akm_sock *s, const struct akm_asr *asr, uint32_t attrs);
int akm_asr_set(struct akm_sock *s, const struct akm_asr *asr, uint32_t attrs);
int akm_asr_del(struct akm_sock *s, uint32_t asr_id);
int akm_asr_get(struct akm_sock *s, uint32_t asr_id, struct akm_asr *asr);
int akm_asr_dump(struct akm_sock *s, struct akm_asr **asrs, size_t *n);
int akm_member_new(struct akm_sock *s, const struct akm_member *m, uint32_t attrs);
int akm_member_set(struct akm_sock *s, const struct akm_member *m, uint32_t attrs);
int akm_member_del(struct akm_sock *s, uint32_t asr_id, uint32_t node_id);
int akm_member_get(struct akm_sock *s, uint32_t asr_id, uint32_t node_id,
		   struct akm_member *m);
int akm_member_dump(struct akm_sock *s, uint32_t asr_id,
		    struct akm_member **members, size_t *n);
int akm_key_install(struct akm_sock *s, uint32_t asr_id, uint32_t epoch,
		    const uint8_t key[AKM_KEY_LEN]);
int akm_key_install_wrapped(struct akm_sock *s, uint32_t asr_id, uint32_t epoch,
			    uint32_t cred_id, const uint8_t wrapped[AKM_WRAPPED_LEN]);
int akm_key_session(struct akm_sock *s, uint32_t asr_id, uint32_t epoch, uint32_t cred_id);
int akm_key_install_cred(struct akm_sock *s, uint32_t asr_id, uint32_t epoch,
			 uint32_t cred_id);
int akm_key_activate(struct akm_sock *s, uint32_t asr_id, uint32_t epoch);
int akm_key_retire(struct akm_sock *s, uint32_t asr_id, uint32_t epoch);
int akm_stats_get(struct akm_sock *s, uint32_t asr_id, uint32_t node_id,
		  struct akm_stats *stats);
int akm_stats_reset(struct akm_sock *s, uint32_t asr_id, uint32_t node_id);
int akm_cred_install(struct akm_sock *s, uint32_t cred_id, const uint8_t key[AKM_KEY_LEN]);
int akm_cred_del(struct akm_sock *s, uint32_t cred_id);
int akm_cred_get(struct akm_sock *s, uint32_t cred_id, struct akm_cred *cred);
int akm_cred_dump(struct akm_sock *s, struct akm_cred **creds, size_t *n);
/*
 * prov.c: the provisioning ASR id between this kernel's node self and peer
 * (protocol.md). make: created in bootstrap mode unless it exists, the peer
 * with peer->addrs. bootstrap: plain traffic with the peer. session: keyed
 * for epoch from the credential CRED_ID = peer, every packet tagged.
 * last: its last session epoch (the kernel keeps it while the ASR is
 * gone), or -errno.
 */
int akm_prov_make(struct akm_sock *s, uint32_t id, const char *name, uint32_t self,
		  const struct akm_member *peer);
int akm_prov_bootstrap(struct akm_sock *s, uint32_t id, uint32_t peer);
int akm_prov_session(struct akm_sock *s, uint32_t id, uint32_t peer, uint32_t epoch);
int64_t akm_prov_last(struct akm_sock *s, uint32_t id);
int akm_cred_prove(struct akm_sock *s, uint32_t cred_id, const void *data, size_t len,
		   uint8_t proof[AKM_PROOF_LEN]);

/* Attributes -> structs (parse.c); -EPROTO on malformed input. */
int akm_parse_msg(struct nlmsghdr *nlh, struct akm_msg *msg);
int akm_node_parse(const struct akm_msg *msg, struct akm_node *node);
int akm_asr_parse(const struct akm_msg *msg, struct akm_asr *asr);
int akm_member_parse(const struct akm_msg *msg, struct akm_member *m);
int akm_cred_parse(const struct akm_msg *msg, struct akm_cred *cred);
int akm_key_parse(struct nlattr *nest, struct akm_key *key);
int akm_stats_parse(struct nlattr *nest, struct akm_stats *stats);
int akm_addrs_parse(struct nlattr *nest, struct akm_addr *addrs,
		    unsigned int max, unsigned int *n);

/* Enum <-> string (names.c). */
enum akm_enum {
	AKM_ENUM_ALG,
	AKM_ENUM_POLICY,
	AKM_ENUM_MEMBER_STATE,
	AKM_ENUM_KEY_STATE,
	AKM_ENUM_CMD,
	AKM_ENUM_STATS,
};
const char *akm_enum_name(enum akm_enum e, unsigned int v);	/* NULL: unknown */
int akm_enum_value(enum akm_enum e, const char *name);		/* -EINVAL: unknown */
unsigned int akm_enum_max(enum akm_enum e);

/* Numbers, addresses and key files (util.c). */
int akm_parse_u32(const char *s, uint32_t *v);	/* decimal, strict */
int akm_parse_id(const char *s, uint32_t *v);	/* as above, and not 0 */
int akm_cmp_u32(const void *a, const void *b);	/* for qsort() and bsearch() of uint32_t */
int akm_parse_mark(const char *s, uint32_t *v);	/* decimal, 0x hex or 0 octal */
int akm_addr_parse(const char *s, struct akm_addr *a);
/* ADDR, [ADDR], [ADDR]:PORT, a.b.c.d:PORT; *port is set only if given */
int akm_endpoint_parse(const char *s, struct akm_addr *a, uint16_t *port);
const char *akm_addr_str(const struct akm_addr *a, char *buf, size_t len);
bool akm_addr_eq(const struct akm_addr *a, const struct akm_addr *b);
/* All of buf to fd (a pipe, a socket), again after EINTR and short writes. */
int akm_write_all(int fd, const void *buf, size_t len);
/* An address in its one spelling (::ffff:a.b.c.d is a.b.c.d) into buf. */
int akm_addr_canon(const char *s, char *buf, size_t len);
/* a in that spelling: ::ffff:a.b.c.d made a.b.c.d. */
void akm_addr_unmap(struct akm_addr *a);
/* An object name: 1 to AKM_NAME_MAX - 1 of A-Z a-z 0-9 . _ - */
bool akm_name_ok(const char *s);
int akm_secret_read(const char *path, uint8_t *secret, size_t len);
int akm_key_read(const char *path, uint8_t key[AKM_KEY_LEN]);
int akm_file_write(const char *path, const void *buf, size_t len, int mode);
/* stderr is the journal ($JOURNAL_STREAM names it), which keeps its own time */
bool akm_stderr_is_journal(void);
/*
 * A daemon's start: umask 077, its state directory made (0700) and its
 * absolute path returned (allocated); unless foreground, detached with
 * stderr appended to dir/log. *journal: stderr is the journal (no
 * timestamps of its own). NULL after a message on stderr.
 */
char *akm_daemon_start(const char *prog, const char *dir, const char *log, bool foreground,
		       bool *journal);

/* Text or JSON output (out.c). */
enum akm_out_mode {
	AKM_OUT_TEXT,
	AKM_OUT_JSON,
	AKM_OUT_JSON_PRETTY,
};

struct akm_out {
	FILE *f;
	enum akm_out_mode mode;
	unsigned int depth;
	uint32_t nonempty;		/* bit d: open container d has elements */
	bool sep;			/* text: the next item needs a space */
};

void akm_out_init(struct akm_out *o, FILE *f, enum akm_out_mode mode);
bool akm_out_json(const struct akm_out *o);
/*
 * JSON: "key": value ("key" omitted if NULL, inside arrays). Text: "label
 * value", or just the value if label is NULL, separated by a space, with
 * control characters in strings shown as '?'. Containers print nothing in
 * text mode.
 */
void akm_out_obj_open(struct akm_out *o, const char *key);
void akm_out_obj_close(struct akm_out *o);
void akm_out_arr_open(struct akm_out *o, const char *key);
void akm_out_arr_close(struct akm_out *o);
void akm_out_uint(struct akm_out *o, const char *key, const char *label, uint64_t v);
void akm_out_int(struct akm_out *o, const char *key, const char *label, int64_t v);
void akm_out_str(struct akm_out *o, const char *key, const char *label, const char *v);
/* Text mode only; text ending in a space or newline needs no separator after it. */
void akm_out_text(struct akm_out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/*
 * One counter of a node's heartbeats (nmm node list, root node list and asr
 * show): in JSON an object (asr, name, value); in text one line per ASR
 * after indent, "node:" for the node's own, "provisioning:" for its
 * provisioning ASR, "asr N:", or "counters:" in a list of one ASR's
 * (one_asr). *last: the ASR of the line so far (-1: none yet).
 */
void akm_out_counter(struct akm_out *o, int64_t *last, bool one_asr, int64_t asr,
		     const char *name, uint64_t value, const char *indent);
/*
 * An event as one line (or JSON object) of "watch": its time, its kind, and
 * text's "key value" pairs (a value in double quotes may hold spaces).
 */
void akm_out_event(FILE *f, enum akm_out_mode mode, time_t now, const char *kind,
		   const char *text);
void akm_json_string(FILE *f, const char *s);

#endif /* LIBAKM_H */
