// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * akmctl nmm|root [socket PATH] ARGS...: a thin client of the admin socket
 * of akm-nmmd or akm-rootd. It sends the words and the output mode; the
 * daemon parses them, runs the command and sends back stdout, stderr and
 * the exit status.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sodium.h>

#include "akmctl.h"
#include "bundle.h"
#include "proto.h"

#define NMM_SOCKET	"/var/lib/akm/nmm/admin.sock"
#define ROOT_SOCKET	"/var/lib/akm/root/admin.sock"

/* Which daemon: its object word, its name, its socket, its usage. */
struct daemon {
	const char *obj, *name, *socket;
	void (*usage)(FILE *f);
};

void nmm_usage(FILE *f)
{
	fputs("Usage: akmctl nmm [socket PATH] node add NAME id NODE_ID addr ADDR [addr ADDR ...]\n"
	      "       akmctl nmm [socket PATH] node export NAME file PATH [endpoint ADDR[:PORT]]\n"
	      "       akmctl nmm [socket PATH] node list [NAME]\n"
	      "       akmctl nmm [socket PATH] node set NAME addr ADDR [addr ADDR ...]\n"
	      "       akmctl nmm [socket PATH] node del NAME\n"
	      "       akmctl nmm [socket PATH] asr add ASR_ID alg ALG [name NAME] "
	      "[policy POLICY] [grace SECONDS]\n"
	      "       akmctl nmm [socket PATH] asr add-member ASR_ID node NAME\n"
	      "       akmctl nmm [socket PATH] asr del-member ASR_ID node NAME\n"
	      "       akmctl nmm [socket PATH] asr del ASR_ID\n"
	      "       akmctl nmm [socket PATH] asr purge ASR_ID\n"
	      "       akmctl nmm [socket PATH] asr show [ASR_ID]\n"
	      "       akmctl nmm [socket PATH] root import FILE [code-file PATH]\n"
	      "       akmctl nmm [socket PATH] root show\n"
	      "       akmctl nmm [socket PATH] root forget\n"
	      "       akmctl nmm [socket PATH] watch\n"
	      "Talks to akm-nmmd over its admin socket (default " NMM_SOCKET ").\n", f);
}

void root_usage(FILE *f)
{
	fputs("Usage: akmctl root [socket PATH] site add NAME id ID endpoint ADDR[:PORT]\n"
	      "       akmctl root [socket PATH] site list [NAME]\n"
	      "       akmctl root [socket PATH] site export NAME file PATH [endpoint ADDR[:PORT]]\n"
	      "       akmctl root [socket PATH] site del NAME\n"
	      "       akmctl root [socket PATH] node add NAME id ID site SITE addr ADDR "
	      "[addr ADDR ...]\n"
	      "       akmctl root [socket PATH] node list [NAME]\n"
	      "       akmctl root [socket PATH] node del NAME\n"
	      "       akmctl root [socket PATH] node rekey NAME\n"
	      "       akmctl root [socket PATH] asr add ASR_ID alg ALG [name NAME] "
	      "[policy POLICY] [grace SECONDS]\n"
	      "       akmctl root [socket PATH] asr add-member ASR_ID node NAME\n"
	      "       akmctl root [socket PATH] asr del-member ASR_ID node NAME\n"
	      "       akmctl root [socket PATH] asr del ASR_ID\n"
	      "       akmctl root [socket PATH] asr show [ASR_ID]\n"
	      "       akmctl root [socket PATH] instance [list]\n"
	      "       akmctl root [socket PATH] instance del ADDR[:PORT]\n"
	      "       akmctl root [socket PATH] watch\n"
	      "Talks to akm-rootd over its admin socket (default " ROOT_SOCKET ").\n", f);
}

/*
 * Print one answer frame, or write the file it carries to file (node
 * export: the daemon may not write where the operator can). Its exit status
 * for NMM_ADMIN_EXIT, -1 otherwise; after a failed write, 1 and no more
 * output (*failed).
 */
static int answer(const struct daemon *d, const uint8_t *data, size_t len, const char *file,
		  int *written, bool *failed)
{
	struct akmp_iter it;
	struct akmp_tlv t;
	struct stat st;
	int status = -1, err;

	akmp_iter_init(&it, data + 1, len - 1);
	while (akmp_iter_next(&it, &t) > 0) {
		if (*failed) {
			break;
		} else if (t.type == NMM_ADMIN_T_DATA && data[0] == NMM_ADMIN_FILE) {
			if (!file || *written || t.len != AKM_BUNDLE_LEN) {
				fprintf(stderr, "akmctl %s: %s sent an unexpected file\n", d->obj,
					d->name);
				*failed = true;
			} else if (!lstat(file, &st) && !S_ISREG(st.st_mode)) {
				fprintf(stderr, "akmctl %s: '%s' exists and is not a regular "
					"file\n", d->obj, file);
				*failed = true;
			} else if ((err = akm_file_write(file, t.v, t.len, 0600))) {
				fprintf(stderr, "akmctl %s: cannot write '%s': %s\n", d->obj,
					file, strerror(-err));
				*failed = true;
			}
			(*written)++;
		} else if (t.type == NMM_ADMIN_T_TEXT && data[0] == NMM_ADMIN_OUT && file &&
			   !*written) {		/* the code, for a file not written */
			fprintf(stderr, "akmctl %s: %s sent no bundle to write\n", d->obj,
				d->name);
			*failed = true;
		} else if (t.type == NMM_ADMIN_T_TEXT && data[0] == NMM_ADMIN_OUT) {
			fwrite(t.v, 1, t.len, stdout);
			fflush(stdout);
		} else if (t.type == NMM_ADMIN_T_TEXT && data[0] == NMM_ADMIN_ERR) {
			fwrite(t.v, 1, t.len, stderr);
		} else if (t.type == NMM_ADMIN_T_STATUS && t.len == 4 && data[0] == NMM_ADMIN_EXIT) {
			status = akmp_u32(&t);
		}
	}
	if (data[0] == NMM_ADMIN_EXIT && !status && file && !*written) {
		fprintf(stderr, "akmctl %s: %s sent no bundle to write\n", d->obj, d->name);
		*failed = true;
	}
	if (*failed)
		return data[0] == NMM_ADMIN_EXIT ? 1 : -1;
	return data[0] == NMM_ADMIN_EXIT ? (status < 0 ? 1 : status) : -1;
}

/* In 'node|site export NAME ... file PATH ...', the index of PATH, or -1. */
static int export_file(int argc, char **argv)
{
	int i;

	if (argc < 3 || (strcmp(argv[0], "node") && strcmp(argv[0], "site")) ||
	    strcmp(argv[1], "export"))
		return -1;
	for (i = 3; i + 1 < argc; i += 2)	/* NAME, then keyword-value pairs */
		if (!strcmp(argv[i], "file"))
			return i + 1;
	return -1;
}

/* path against our current directory, allocated; NULL after an error message. */
static char *absolute(const struct daemon *d, const char *path)
{
	char *cwd = getcwd(NULL, 0), *abs = NULL;

	if (!cwd) {
		fprintf(stderr, "akmctl %s: cannot find the current directory (%s): give an "
			"absolute path after 'file'\n", d->obj, strerror(errno));
		return NULL;
	}
	if (asprintf(&abs, "%s%s%s", cwd, strcmp(cwd, "/") ? "/" : "", path) < 0) {
		fprintf(stderr, "akmctl %s: out of memory\n", d->obj);
		abs = NULL;
	}
	free(cwd);
	return abs;
}

/*
 * 'nmm root import FILE [code-file PATH]': the words sent are "root import
 * HEX CODE", the file's bytes in hex and the transfer code (asked for on a
 * terminal without echo, or read from PATH, "-" for standard input): the
 * daemon opens the bundle. words[2] and words[3] are allocated; 0, or 1
 * after an error message.
 */
static int import_words(struct cmdline *c, char *words[4])
{
	uint8_t buf[AKM_BUNDLE_LEN + 1];
	char code[AKM_CODE_LEN + 1], msg[320];
	const char *file, *code_file = NULL;
	ssize_t len = -1;
	int fd;

	if (c->argc != 3 && !(c->argc == 5 && !strcmp(c->argv[3], "code-file")))
		usage_error(c, "use 'root import FILE [code-file PATH]'");
	file = c->argv[2];
	if (c->argc == 5)
		code_file = c->argv[4];
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		len = read(fd, buf, sizeof(buf));
		close(fd);
	}
	if (len != AKM_BUNDLE_LEN) {
		fprintf(stderr, "akmctl nmm: %s: %s\n", file, len < 0 ? strerror(errno) :
			"not a bundle (wrong size)");
		return 1;
	}
	if (akm_code_get(code_file, file, "code-file PATH", code, msg, sizeof(msg))) {
		fprintf(stderr, "akmctl nmm: %s\n", msg);
		return 1;
	}
	words[0] = "root";
	words[1] = "import";
	words[2] = malloc(2 * AKM_BUNDLE_LEN + 1);
	words[3] = strdup(code);
	explicit_bzero(code, sizeof(code));
	if (!words[2] || !words[3]) {
		free(words[2]);
		free(words[3]);
		fprintf(stderr, "akmctl nmm: out of memory\n");
		return 1;
	}
	sodium_bin2hex(words[2], 2 * AKM_BUNDLE_LEN + 1, buf, AKM_BUNDLE_LEN);
	return 0;
}

static int client(struct cmdline *c, const struct daemon *d)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	const char *path = d->socket;
	struct akmp_reader rd = { 0 };
	struct akmp_buf b = { 0 };
	char *abs_path = NULL;
	const char *file = NULL;
	int fd, ret, status = -1, i, rel, written = 0, nwords = 0;
	char *words[4];
	bool failed = false;

	if (c->argc >= 1 && !strcmp(c->argv[0], "socket")) {
		arg_next(c);
		path = arg_value(c, "socket");
	}
	if (c->argc == 1 && !strcmp(c->argv[0], "help")) {
		d->usage(stdout);
		return 0;
	}
	if (!c->argc)
		usage_error(c, "missing command");
	if (strlen(path) >= sizeof(sun.sun_path))
		usage_error(c, "socket path too long");
	strcpy(sun.sun_path, path);
	/* the file is ours to write; the daemon reports it by its absolute path */
	rel = export_file(c->argc, c->argv);
	if (rel >= 0)
		file = c->argv[rel];
	if (file && file[0] != '/' && !(abs_path = absolute(d, file)))
		return 1;
	if (!abs_path)
		rel = -1;

	if (!strcmp(d->obj, "nmm") && c->argc >= 2 && !strcmp(c->argv[0], "root") &&
	    !strcmp(c->argv[1], "import")) {
		if (import_words(c, words))
			return 1;
		nwords = 4;
	}
	akmp_begin(&b, NMM_ADMIN_RUN);
	akmp_put_u8(&b, NMM_ADMIN_T_MODE, out.mode);
	for (i = 0; i < (nwords ? nwords : c->argc); i++) {
		const char *w = nwords ? words[i] : i == rel ? abs_path : c->argv[i];

		akmp_put(&b, NMM_ADMIN_T_ARG, w, strlen(w));
	}
	free(abs_path);
	if (nwords) {
		free(words[2]);
		explicit_bzero(words[3], strlen(words[3]));
		free(words[3]);
	}
	if (akmp_end(&b)) {
		akmp_buf_free(&b);
		usage_error(c, "arguments too long");
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		fprintf(stderr, "akmctl %s: cannot reach %s at %s: %s\n", d->obj, d->name, path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		akmp_buf_free(&b);
		return 1;
	}
	ret = akm_write_all(fd, b.p, b.len);
	akmp_buf_free(&b);
	while (!ret && status < 0) {
		ret = akmp_read(fd, &rd);
		if (ret == 1)
			ret = rd.len ? (status = answer(d, rd.buf, rd.len, file, &written,
							 &failed), 0) : -EBADMSG;
		else if (!ret)
			ret = -EAGAIN;	/* a blocking socket never says so */
	}
	if (status < 0)
		fprintf(stderr, "akmctl %s: %s%s\n", d->obj, ret == -EPIPE ? d->name : "",
			ret == -EPIPE ? " closed the connection" : strerror(-ret));
	akmp_reader_free(&rd);
	close(fd);
	return status < 0 ? 1 : status;
}

int do_nmm(struct cmdline *c)
{
	static const struct daemon nmm = { "nmm", "akm-nmmd", NMM_SOCKET, nmm_usage };

	return client(c, &nmm);
}

int do_root(struct cmdline *c)
{
	static const struct daemon root = { "root", "akm-rootd", ROOT_SOCKET, root_usage };

	return client(c, &root);
}
