// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Configuration files (lib/config.c): what becomes an option, what is refused. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "tap.h"

static const struct option opts[] = {
	{ "id", required_argument, NULL, 'i' },
	{ "state", required_argument, NULL, 's' },
	{ "tpm", no_argument, NULL, 't' },
	{ NULL, 0, NULL, 0 },
};

/* args of a file holding text, with the command line "prog" + extra */
static int load(const char *text, int must, struct akm_args *a, char *err, size_t len)
{
	char path[] = "/tmp/akm-config-XXXXXX";
	char *argv[] = { "prog", "--id", "9", NULL };
	int fd = mkstemp(path), ret;

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		return -EIO;
	close(fd);
	ret = akm_config_args(path, must, opts, 3, argv, a, err, len);
	unlink(path);
	if (ret && !strncmp(err, path, strlen(path)))	/* "FILE:LINE: ..." -> ":LINE: ..." */
		memmove(err, err + strlen(path), strlen(err + strlen(path)) + 1);
	return ret;
}

static void test_good(void)
{
	struct akm_args a;
	char err[256] = "";

	is_int(load("# comment\n\n  id = 7  \nstate=/x y\ntpm\ntpm = no\ntpm = yes\r\n", 1,
		    &a, err, sizeof(err)), 0, "config: comments, spaces, CRLF");
	is_int(a.argc, 7, "config: file options, then the command line's");
	if (a.argc == 7) {
		is_str(a.argv[0], "prog", "config: argv[0] first");
		is_str(a.argv[1], "--id=7", "config: id = 7");
		is_str(a.argv[2], "--state=/x y", "config: a value keeps inner spaces");
		is_str(a.argv[3], "--tpm", "config: a flag alone is yes");
		is_str(a.argv[4], "--tpm", "config: tpm = no adds nothing, yes adds it");
		is_str(a.argv[5], "--id", "config: the command line comes last (overrides)");
		ok(!a.argv[7], "config: argv ends with NULL");
	}
	akm_config_free(&a);
}

static void test_bad(void)
{
	static const struct {
		const char *text, *err;
	} cases[] = {
		{ "listen = 1.2.3.4\n", ":1: unknown setting 'listen'" },
		{ "\n\nid\n", ":3: 'id' needs a value (id = VALUE)" },
		{ "id =\n", ":1: 'id' needs a value (id = VALUE)" },
		{ "tpm = maybe\n", ":1: 'tpm' takes yes or no, not 'maybe'" },
		{ "= 3\n", ":1: expected KEY = VALUE, not ''" },
		{ "id 3\n", ":1: expected KEY = VALUE, not 'id 3'" },
		{ "--id = 3\n", ":1: unknown setting '--id'" },
	};
	struct akm_args a;
	char err[256], name[96];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		snprintf(name, sizeof(name), "config: refused with its line: %s", cases[i].err);
		if (ok(load(cases[i].text, 1, &a, err, sizeof(err)) == -EINVAL, name))
			is_str(err, cases[i].err, "config: the message");
	}
}

static void test_missing(void)
{
	char *argv[] = { "prog", "--config", "/nonexistent/akm.conf", "-x", NULL };
	struct akm_args a;
	char err[256] = "";
	int must = -1;

	is_str(akm_config_path(4, argv, "/etc/akm/x.conf", &must), "/nonexistent/akm.conf",
	       "config: --config FILE names the file");
	is_int(must, 1, "config: a file named by --config must exist");
	is_int(akm_config_args("/nonexistent/akm.conf", 1, opts, 4, argv, &a, err, sizeof(err)),
	       -ENOENT, "config: a missing --config file is an error");
	is_str(err, "/nonexistent/akm.conf: No such file or directory", "config: its message");
	is_int(akm_config_args("/nonexistent/akm.conf", 0, opts, 4, argv, &a, err, sizeof(err)),
	       0, "config: a missing default file adds nothing");
	is_int(a.argc, 4, "config: then the command line alone");
	akm_config_free(&a);
	akm_config_path(2, (char *[]){ "prog", "--config=/a", NULL }, "/d", &must);
	is_int(must, 1, "config: --config=FILE too");
	is_str(akm_config_path(3, (char *[]){ "prog", "--", "--config=/a", NULL }, "/d", &must),
	       "/d", "config: not after --");
}

void test_config(void)
{
	test_good();
	test_bad();
	test_missing();
}
