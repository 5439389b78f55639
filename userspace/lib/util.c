// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Strict parsing of numbers, addresses and key files. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libakm.h"

/* Digits only: no sign, no blanks, no trailing garbage, no overflow. */
static int parse_u32(const char *s, uint32_t *v, int base)
{
	unsigned long long n;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	n = strtoull(s, &end, base);
	if (*end)
		return -EINVAL;
	if (errno == ERANGE || n > UINT32_MAX)
		return -ERANGE;
	*v = n;
	return 0;
}

int akm_parse_u32(const char *s, uint32_t *v)
{
	return parse_u32(s, v, 10);
}

/* A mark, as iproute2 takes one: decimal, 0x hexadecimal or 0 octal. */
int akm_parse_mark(const char *s, uint32_t *v)
{
	return parse_u32(s, v, 0);
}

int akm_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int akm_parse_id(const char *s, uint32_t *v)
{
	int err = akm_parse_u32(s, v);

	if (!err && !*v)
		return -ERANGE;
	return err;
}

int akm_addr_parse(const char *s, struct akm_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, &a->v4) == 1)
		a->family = AF_INET;
	else if (inet_pton(AF_INET6, s, &a->v6) == 1)
		a->family = AF_INET6;
	else
		return -EINVAL;
	return 0;
}

/*
 * ADDR, [ADDR], [ADDR]:PORT or a.b.c.d:PORT. An IPv6 address without
 * brackets has no port. *port changes only if a port (1 to 65535) is given.
 */
int akm_endpoint_parse(const char *s, struct akm_addr *a, uint16_t *port)
{
	const char *host = s, *colon = NULL, *end;
	uint32_t p = 0;
	size_t len;
	char *h;
	int err;

	if (*s == '[') {
		host = s + 1;
		end = strchr(host, ']');
		if (!end || (end[1] && end[1] != ':'))
			return -EINVAL;
		len = end - host;
		if (end[1])
			colon = end + 1;
	} else {
		colon = strchr(s, ':');
		if (colon && strchr(colon + 1, ':'))
			colon = NULL;		/* IPv6: all of it is the address */
		len = colon ? (size_t)(colon - s) : strlen(s);
	}
	if (colon && (akm_parse_u32(colon + 1, &p) || !p || p > 65535))
		return -EINVAL;
	h = strndup(host, len);
	if (!h)
		return -ENOMEM;
	err = akm_addr_parse(h, a);
	free(h);
	if (err)
		return err;
	if (colon)
		*port = p;
	return 0;
}

bool akm_addr_eq(const struct akm_addr *a, const struct akm_addr *b)
{
	if (a->family != b->family)
		return false;
	return a->family == AF_INET ? a->v4.s_addr == b->v4.s_addr :
	       !memcmp(&a->v6, &b->v6, sizeof(a->v6));
}

const char *akm_addr_str(const struct akm_addr *a, char *buf, size_t len)
{
	if (!inet_ntop(a->family, &a->v4, buf, len))
		snprintf(buf, len, "?");
	return buf;
}

int akm_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	ssize_t w;

	while (len) {
		w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		len -= w;
	}
	return 0;
}

int akm_addr_canon(const char *s, char *buf, size_t len)
{
	struct akm_addr a;

	if (len < AKM_ADDRSTRLEN)
		return -ENOSPC;
	if (akm_addr_parse(s, &a))
		return -EINVAL;
	akm_addr_unmap(&a);
	akm_addr_str(&a, buf, len);
	return 0;
}

void akm_addr_unmap(struct akm_addr *a)
{
	if (a->family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&a->v6)) {
		a->family = AF_INET;
		memcpy(&a->v4, &a->v6.s6_addr[12], 4);
	}
}

bool akm_name_ok(const char *s)
{
	size_t len = strlen(s);

	if (!len || len >= AKM_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return false;
	return true;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Read at most len bytes, stopping only at end of file. */
static ssize_t read_all(int fd, uint8_t *buf, size_t len)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = read(fd, buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n)
			break;
		done += n;
	}
	return done;
}

/*
 * A secret file holds exactly len raw bytes, or 2 * len hex digits and an
 * optional newline; "-" is standard input. Returns -EINVAL for any other
 * content (or len above AKM_SECRET_MAX), -errno if the file cannot be read.
 * No copy of the secret is left behind but the caller's buffer.
 */
int akm_secret_read(const char *path, uint8_t *secret, size_t len)
{
	uint8_t buf[2 * AKM_SECRET_MAX + 2];	/* one byte more than the longest form */
	bool std_in = !strcmp(path, "-");
	size_t i, want = 2 * len + 2;
	ssize_t n;
	int fd, err = 0;

	if (len > AKM_SECRET_MAX)
		return -EINVAL;
	fd = std_in ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read_all(fd, buf, want);
	if (!std_in)
		close(fd);
	if (n < 0)
		return n;

	if ((size_t)n == len) {
		memcpy(secret, buf, len);
	} else if ((size_t)n == 2 * len || ((size_t)n == 2 * len + 1 && buf[n - 1] == '\n')) {
		for (i = 0; i < len && !err; i++) {
			int hi = hexval(buf[2 * i]), lo = hexval(buf[2 * i + 1]);

			if (hi < 0 || lo < 0)
				err = -EINVAL;
			else
				secret[i] = hi << 4 | lo;
		}
	} else {
		err = -EINVAL;
	}
	explicit_bzero(buf, sizeof(buf));
	if (err)
		explicit_bzero(secret, len);
	return err;
}

int akm_key_read(const char *path, uint8_t key[AKM_KEY_LEN])
{
	return akm_secret_read(path, key, AKM_KEY_LEN);
}

/* Open the directory that holds path, for fsync() after a rename. */
static int open_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd;

	if (!slash)
		return open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (slash == path)
		return open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dir = strndup(path, slash - path);
	if (!dir) {
		errno = ENOMEM;
		return -1;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	return fd;
}

/*
 * Write a whole file with @mode through a new temporary file in the same
 * directory (PATH.tmp.XXXXXX, created exclusively, never through a link),
 * synced, renamed into place and the directory synced: readers see the old
 * or the new content, never a part, and the new one survives a crash.
 */
int akm_file_write(const char *path, const void *buf, size_t len, int mode)
{
	char *tmp = NULL;
	size_t off = 0;
	int fd, dfd, err = 0;

	dfd = open_parent(path);
	if (dfd < 0)
		return -errno;
	if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0) {
		close(dfd);
		return -ENOMEM;
	}
	/* mkostemp adds O_RDWR | O_CREAT | O_EXCL and a random suffix */
	fd = mkostemp(tmp, O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	if (fchmod(fd, mode))
		err = -errno;
	while (off < len && !err) {
		ssize_t n = write(fd, (const uint8_t *)buf + off, len - off);

		if (n < 0 && errno != EINTR)
			err = -errno;
		else if (n > 0)
			off += n;
	}
	if (!err && fsync(fd))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err) {
		unlink(tmp);
		goto out;
	}
	/* the rename is durable once the directory is; EINVAL: cannot be synced */
	if (fsync(dfd) && errno != EINVAL)
		err = -errno;
out:
	free(tmp);
	close(dfd);
	return err;
}

bool akm_stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	return e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 && !fstat(2, &st) &&
	       st.st_dev == dev && st.st_ino == ino;
}

char *akm_daemon_start(const char *prog, const char *dir, const char *log, bool foreground,
		       bool *journal)
{
	char *abs, path[4096];
	int fd;

	umask(077);
	if (mkdir(dir, 0700) && errno != EEXIST) {
		fprintf(stderr, "%s: cannot create %s: %s\n", prog, dir, strerror(errno));
		return NULL;
	}
	abs = realpath(dir, NULL);	/* absolute: daemon() changes to / */
	if (!abs) {
		fprintf(stderr, "%s: %s: %s\n", prog, dir, strerror(errno));
		return NULL;
	}
	if (!foreground) {
		snprintf(path, sizeof(path), "%s/%s", abs, log);
		fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd < 0 || daemon(0, 1)) {
			fprintf(stderr, "%s: cannot detach: %s\n", prog, strerror(errno));
			if (fd >= 0)
				close(fd);
			free(abs);
			return NULL;
		}
		dup2(fd, 2);
		close(fd);
	}
	setvbuf(stderr, NULL, _IOLBF, 0);
	*journal = foreground && akm_stderr_is_journal();
	return abs;
}
