// SPDX-License-Identifier: GPL-2.0 OR MIT
/* akmctl: configure and inspect AKM in the kernel over generic netlink. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "akmctl.h"

struct akm_out out;

static struct akm_sock *sock;
static const char *netns;

static const struct object {
	const char *name;
	int (*run)(struct cmdline *c);
	void (*usage)(FILE *f);
} objects[] = {
	{ "node", do_node, node_usage },
	{ "asr", do_asr, asr_usage },
	{ "member", do_member, member_usage },
	{ "key", do_key, key_usage },
	{ "stats", do_stats, stats_usage },
	{ "cred", do_cred, cred_usage },
	{ "monitor", do_monitor, monitor_usage },
	{ "nmm", do_nmm, nmm_usage },
	{ "root", do_root, root_usage },
};

static void usage(FILE *f)
{
	size_t i;

	fputs("Usage: akmctl [OPTIONS] OBJECT {COMMAND | help}\n"
	      "OBJECT := { node | asr | member | key | stats | cred | monitor | nmm | root }\n"
	      "OPTIONS := { -j[son] | -p[retty] | -n[etns] NAME | -h[elp] | -V[ersion] }\n"
	      "  -j, --json          print JSON\n"
	      "  -p, --pretty        print indented JSON (implies -j)\n"
	      "  -n, --netns NAME    act in the network namespace /run/netns/NAME\n"
	      "  -h, --help          print this help\n"
	      "  -V, --version       print the version\n", f);
	for (i = 0; i < sizeof(objects) / sizeof(objects[0]); i++) {
		fputc('\n', f);
		objects[i].usage(f);
	}
}

noreturn void usage_error(const struct cmdline *c, const char *fmt, ...)
{
	va_list ap;

	fputs("akmctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (c && c->object)
		fprintf(stderr, "; try 'akmctl %s help'\n", c->object);
	else
		fputs("; try 'akmctl help'\n", stderr);
	exit(2);
}

noreturn void unknown_word(const struct cmdline *c, const char *word)
{
	usage_error(c, "unknown argument '%s'", word);
}

const char *arg_next(struct cmdline *c)
{
	if (!c->argc)
		return NULL;
	c->argc--;
	return *c->argv++;
}

/* The value following keyword kw. */
const char *arg_value(struct cmdline *c, const char *kw)
{
	const char *v = arg_next(c);

	if (!v)
		usage_error(c, "missing value after '%s'", kw);
	return v;
}

/* v as an id (1 to 2^32 - 1) named kw. */
uint32_t id_value(struct cmdline *c, const char *kw, const char *v)
{
	uint32_t id;

	if (akm_parse_id(v, &id))
		usage_error(c, "invalid %s '%s' (expected 1 to %u)", kw, v, UINT32_MAX);
	return id;
}

/* The id following kw, stored once in *id. */
void arg_id(struct cmdline *c, const char *kw, uint32_t *id)
{
	const char *v = arg_value(c, kw);

	if (*id)
		usage_error(c, "'%s' given twice", kw);
	*id = id_value(c, kw, v);
}

unsigned int arg_enum(struct cmdline *c, const char *kw, enum akm_enum e)
{
	const char *v = arg_value(c, kw);
	int val = akm_enum_value(e, v);
	char names[128] = "";
	size_t len = 0;
	unsigned int i;

	if (val >= 0)
		return val;
	for (i = 0; i <= akm_enum_max(e) && len < sizeof(names); i++)
		if (akm_enum_name(e, i))
			len += snprintf(names + len, sizeof(names) - len, " %s",
					akm_enum_name(e, i));
	usage_error(c, "invalid %s '%s' (one of:%s)", kw, v, names);
}

/* Record that optional attribute attr, keyword kw, was given, only once. */
void arg_once(struct cmdline *c, const char *kw, uint32_t *attrs, int attr)
{
	if (*attrs & AKM_BIT(attr))
		usage_error(c, "'%s' given twice", kw);
	*attrs |= AKM_BIT(attr);
}

void arg_require(struct cmdline *c, const char *kw, uint32_t id)
{
	if (!id)
		usage_error(c, "missing '%s'", kw);
}

/* The path following kw, once. */
void arg_file(struct cmdline *c, const char *kw, const char **path)
{
	const char *v = arg_value(c, kw);

	if (*path)
		usage_error(c, "'%s' given twice", kw);
	*path = v;
}

/* A key or other secret of len bytes from a file; 0, or 1 once explained. */
int read_secret(const char *path, uint8_t *secret, size_t len)
{
	int err = akm_secret_read(path, secret, len);

	if (err == -EINVAL)
		fprintf(stderr, "akmctl: %s: this file must hold %zu raw bytes, or %zu hex digits "
			"and an optional newline\n", path, len, 2 * len);
	else if (err)
		fprintf(stderr, "akmctl: cannot read '%s': %s\n", path, strerror(-err));
	return err ? 1 : 0;
}

/* [asr ASR_ID [node NODE_ID]]: the rest of the line. */
void parse_target(struct cmdline *c, uint32_t *asr_id, uint32_t *node_id)
{
	const char *w;

	while ((w = arg_next(c))) {
		if (!strcmp(w, "asr"))
			arg_id(c, w, asr_id);
		else if (!strcmp(w, "node") && node_id)
			arg_id(c, w, node_id);
		else
			unknown_word(c, w);
	}
	if (node_id && *node_id)
		arg_require(c, "asr", *asr_id);
}

/* Run the command named by the next word; none means the first, "show". */
int dispatch(struct cmdline *c, const struct command *cmds, void (*usage)(FILE *f))
{
	const char *w = arg_next(c);

	if (!w)
		return cmds[0].run(c);
	if (!strcmp(w, "help")) {
		if (c->argc)
			unknown_word(c, *c->argv);
		usage(stdout);
		return 0;
	}
	for (; cmds->name; cmds++)
		if (!strcmp(w, cmds->name))
			return cmds->run(c);
	usage_error(c, "unknown %s command '%s'", c->object, w);
}

static int enter_netns(const char *name)
{
	char path[PATH_MAX];
	int fd, err = 0;

	if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) {
		fprintf(stderr, "akmctl: invalid network namespace name '%s'\n", name);
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET)) {
		err = -errno;
		fprintf(stderr, "akmctl: cannot enter network namespace '%s': %s\n",
			name, strerror(errno));
	}
	if (fd >= 0)
		close(fd);
	return err;
}

/* The socket, opened on first use; NULL once the failure has been printed. */
struct akm_sock *akmctl_sock(void)
{
	int err;

	if (sock)
		return sock;
	if (netns && enter_netns(netns))
		return NULL;
	err = akm_open(&sock);
	if (err == -AKM_ENOFAMILY)
		fputs(AKM_NOFAMILY_MSG "\n", stderr);
	else if (err)
		fprintf(stderr, "akmctl: cannot open the netlink socket: %s\n", strerror(-err));
	return err ? NULL : sock;
}

/* The exit status for the outcome err of a request, after printing any message. */
int report(int err, const char *what)
{
	const char *msg = sock ? akm_errmsg(sock) : "";

	if (!err) {
		if (*msg)
			fprintf(stderr, "akmctl: warning: %s\n", msg);
		return 0;
	}
	if (*msg)
		fprintf(stderr, "akmctl: %s: %s (%s)\n", what, msg, strerror(-err));
	else
		fprintf(stderr, "akmctl: %s: %s\n", what, strerror(-err));
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "pretty", no_argument, NULL, 'p' },
		{ "netns", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	enum akm_out_mode mode = AKM_OUT_TEXT;
	struct cmdline c;
	const char *w;
	size_t i;
	int opt, ret;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+jpn:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			if (mode == AKM_OUT_TEXT)
				mode = AKM_OUT_JSON;
			break;
		case 'p':
			mode = AKM_OUT_JSON_PRETTY;
			break;
		case 'n':
			netns = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("akmctl " AKM_VERSION " (akm generic netlink version %d)\n", AKM_GENL_VERSION);
			return 0;
		default:
			if (optopt == 'n')
				usage_error(NULL, "option '%s' needs a value", argv[optind - 1]);
			usage_error(NULL, "unknown option '%s'", argv[optind - 1]);
		}
	}
	akm_out_init(&out, stdout, mode);
	c = (struct cmdline){ argc - optind, argv + optind, NULL };

	w = arg_next(&c);
	if (!w)
		usage_error(NULL, "missing object");
	if (!strcmp(w, "help")) {
		usage(stdout);
		return 0;
	}
	for (i = 0; i < sizeof(objects) / sizeof(objects[0]); i++)
		if (!strcmp(w, objects[i].name))
			break;
	if (i == sizeof(objects) / sizeof(objects[0]))
		usage_error(NULL, "unknown command '%s'", w);
	c.object = objects[i].name;
	ret = objects[i].run(&c);
	akm_close(sock);
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "akmctl: write error: %s\n", strerror(errno));
		ret = 1;
	}
	return ret;
}
