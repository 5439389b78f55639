/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Minimal TAP producer: "ok - NAME" / "not ok - NAME" lines with "#"
 * diagnostics; run.sh numbers them and prints the plan.
 */
#ifndef TAP_H
#define TAP_H

#include <stdio.h>
#include <string.h>

extern int tap_failed;

#define ok(cond, name) tap_ok(!!(cond), name, __FILE__, __LINE__)

#define is_int(got, want, name) do {						\
	long long got_ = (got), want_ = (want);					\
	if (!ok(got_ == want_, name))						\
		printf("#   got %lld, want %lld\n", got_, want_);		\
} while (0)

#define is_str(got, want, name) do {						\
	const char *got_ = (got), *want_ = (want);				\
	if (!ok(got_ && want_ ? !strcmp(got_, want_) : got_ == want_, name))	\
		printf("#   got  '%s'\n#   want '%s'\n",			\
		       got_ ? got_ : "(null)", want_ ? want_ : "(null)");	\
} while (0)

static inline int tap_ok(int pass, const char *name, const char *file, int line)
{
	printf("%sok - %s\n", pass ? "" : "not ", name);
	if (!pass) {
		printf("#   at %s:%d\n", file, line);
		tap_failed++;
	}
	return pass;
}

void test_util(void);
void test_words(void);
void test_config(void);
void test_names(void);
void test_out(void);
void test_parse(void);
void test_print(void);
void test_agent(void);	/* agent_unit */

#endif /* TAP_H */
