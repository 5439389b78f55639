// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Configuration files of the daemons, turned into long options.
 *
 * A line is "KEY = VALUE", "KEY", empty or a comment (its first non-blank
 * character is #: a # after a value is part of it). KEY is a long option of
 * the daemon; an option without an argument takes yes/no (true/false, on/off,
 * 1/0) or nothing (yes), and "no" leaves it out. The result is argv[0], the
 * file's options in order, then the command line's, so getopt_long() lets a
 * flag override the file.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

const char *akm_config_path(int argc, char **argv, const char *def, int *must_exist)
{
	const char *path = def;
	int i;

	*must_exist = 0;
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strncmp(argv[i], "--config=", 9)) {
			path = argv[i] + 9;
			*must_exist = 1;
		} else if (!strcmp(argv[i], "--config") && i + 1 < argc) {
			path = argv[++i];
			*must_exist = 1;
		}
	}
	return path;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && strchr(" \t\r\n", e[-1]))
		*--e = '\0';
	return s;
}

static int flag_value(const char *v)
{
	static const char *const yes[] = { "", "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!strcmp(v, yes[i]))
			return 1;
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (!strcmp(v, no[i]))
			return 0;
	return -1;
}

static int push(struct akm_args *a, size_t *cap, char *s)
{
	if (!s)
		return -ENOMEM;
	if ((size_t)a->argc + 2 > *cap) {
		size_t n = *cap ? *cap * 2 : 16;
		char **v = realloc(a->argv, n * sizeof(*v));

		if (!v) {
			free(s);
			return -ENOMEM;
		}
		a->argv = v;
		*cap = n;
	}
	a->argv[a->argc++] = s;
	a->argv[a->argc] = NULL;
	return 0;
}

static int line_args(const char *path, unsigned int no, char *line, const struct option *opts,
		     struct akm_args *a, size_t *cap, char *err, size_t errlen)
{
	const struct option *o;
	char *key = trim(line), *val = NULL, *eq, *arg;
	int f;

	if (!*key || *key == '#')
		return 0;
	eq = strchr(key, '=');
	if (eq) {
		*eq = '\0';
		val = trim(eq + 1);
		key = trim(key);
	}
	if (strpbrk(key, " \t") || !*key) {
		snprintf(err, errlen, "%s:%u: expected KEY = VALUE, not '%s'", path, no, key);
		return -EINVAL;
	}
	for (o = opts; o->name; o++)
		if (!strcmp(o->name, key))
			break;
	if (!o->name) {
		snprintf(err, errlen, "%s:%u: unknown setting '%s'", path, no, key);
		return -EINVAL;
	}
	if (o->has_arg == no_argument) {
		f = flag_value(val ? val : "");
		if (f < 0) {
			snprintf(err, errlen, "%s:%u: '%s' takes yes or no, not '%s'", path, no,
				 key, val);
			return -EINVAL;
		}
		if (!f)
			return 0;
		arg = malloc(strlen(key) + 3);
		if (arg)
			sprintf(arg, "--%s", key);
	} else {
		if (!val || !*val) {
			snprintf(err, errlen, "%s:%u: '%s' needs a value (%s = VALUE)", path, no,
				 key, key);
			return -EINVAL;
		}
		arg = malloc(strlen(key) + strlen(val) + 4);
		if (arg)
			sprintf(arg, "--%s=%s", key, val);
	}
	return push(a, cap, arg);
}

int akm_config_args(const char *path, int must_exist, const struct option *opts,
		    int argc, char **argv, struct akm_args *args, char *err, size_t errlen)
{
	struct akm_args a = { 0 };
	size_t cap = 0, len = 0;
	unsigned int no = 0;
	char *line = NULL;
	FILE *f;
	int i, ret = 0;

	if (argc < 1) {
		snprintf(err, errlen, "no program name");
		return -EINVAL;
	}
	f = fopen(path, "re");
	if (!f && (errno != ENOENT || must_exist)) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return ret;
	}
	ret = push(&a, &cap, strdup(argv[0]));
	while (f && !ret && getline(&line, &len, f) >= 0)
		ret = line_args(path, ++no, line, opts, &a, &cap, err, errlen);
	if (f && !ret && ferror(f)) {
		ret = -EIO;
		snprintf(err, errlen, "%s: read error", path);
	}
	free(line);
	if (f)
		fclose(f);
	for (i = 1; !ret && i < argc; i++)
		ret = push(&a, &cap, strdup(argv[i]));
	if (ret == -ENOMEM)
		snprintf(err, errlen, "%s: out of memory", path);
	if (ret) {
		akm_config_free(&a);
		return ret;
	}
	*args = a;
	return 0;
}

void akm_config_free(struct akm_args *args)
{
	int i;

	if (!args->argv)
		return;
	for (i = 0; i < args->argc; i++)
		free(args->argv[i]);
	free(args->argv);
	args->argv = NULL;
	args->argc = 0;
}
