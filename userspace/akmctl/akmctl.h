/* SPDX-License-Identifier: GPL-2.0 OR MIT */
#ifndef AKMCTL_H
#define AKMCTL_H

#include <stdnoreturn.h>

#include "libakm.h"

/* The words left to parse, and the object they belong to (for messages). */
struct cmdline {
	int argc;
	char **argv;
	const char *object;
};

struct command {
	const char *name;
	int (*run)(struct cmdline *c);
};

extern struct akm_out out;

/* main.c */
struct akm_sock *akmctl_sock(void);
int report(int err, const char *what);
int dispatch(struct cmdline *c, const struct command *cmds, void (*usage)(FILE *f));
noreturn void usage_error(const struct cmdline *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
noreturn void unknown_word(const struct cmdline *c, const char *word);
const char *arg_next(struct cmdline *c);
const char *arg_value(struct cmdline *c, const char *kw);
uint32_t id_value(struct cmdline *c, const char *kw, const char *v);
void arg_id(struct cmdline *c, const char *kw, uint32_t *id);
unsigned int arg_enum(struct cmdline *c, const char *kw, enum akm_enum e);
void arg_once(struct cmdline *c, const char *kw, uint32_t *attrs, int attr);
void arg_require(struct cmdline *c, const char *kw, uint32_t id);
void arg_file(struct cmdline *c, const char *kw, const char **path);
void parse_target(struct cmdline *c, uint32_t *asr_id, uint32_t *node_id);
int read_secret(const char *path, uint8_t *secret, size_t len);

/* asr.c */
int asr_list(struct akm_sock *s, uint32_t asr_id, struct akm_asr **asrs, size_t *n);

/* print.c */
void print_node(struct akm_out *o, const struct akm_node *node);
void print_asr(struct akm_out *o, const struct akm_asr *asr,
	       const struct akm_member *members, size_t n);
void print_member(struct akm_out *o, const struct akm_member *m, const char *prefix);
void print_key(struct akm_out *o, const struct akm_key *key, uint32_t asr_id,
	       const char *prefix);
void print_stats(struct akm_out *o, const struct akm_stats *stats, const char *indent);
void print_stats_entry(struct akm_out *o, uint32_t asr_id, uint32_t node_id,
		       const struct akm_stats *stats);
void print_cred(struct akm_out *o, const struct akm_cred *cred);
void print_event(struct akm_out *o, const struct akm_msg *msg);

/* One file per object. */
int do_node(struct cmdline *c);
int do_asr(struct cmdline *c);
int do_member(struct cmdline *c);
int do_key(struct cmdline *c);
int do_stats(struct cmdline *c);
int do_cred(struct cmdline *c);
int do_monitor(struct cmdline *c);
int do_nmm(struct cmdline *c);
int do_root(struct cmdline *c);
void node_usage(FILE *f);
void asr_usage(FILE *f);
void member_usage(FILE *f);
void key_usage(FILE *f);
void stats_usage(FILE *f);
void cred_usage(FILE *f);
void monitor_usage(FILE *f);
void nmm_usage(FILE *f);
void root_usage(FILE *f);

#endif /* AKMCTL_H */
