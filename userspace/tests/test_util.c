// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Numbers, addresses and key files. */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <string.h>

#include "fails.h"
#include "libakm.h"
#include "tap.h"

static void test_numbers(void)
{
	static const struct {
		const char *s;
		int err;
		uint32_t v;
	} cases[] = {
		{ "0", 0, 0 },
		{ "1", 0, 1 },
		{ "007", 0, 7 },
		{ "4294967295", 0, UINT32_MAX },
		{ "4294967296", -ERANGE, 0 },
		{ "18446744073709551616", -ERANGE, 0 },
		{ "99999999999999999999999", -ERANGE, 0 },
		{ "", -EINVAL, 0 },
		{ "-1", -EINVAL, 0 },
		{ "+1", -EINVAL, 0 },
		{ " 1", -EINVAL, 0 },
		{ "1 ", -EINVAL, 0 },
		{ "1x", -EINVAL, 0 },
		{ "0x10", -EINVAL, 0 },
		{ "1e3", -EINVAL, 0 },
		{ "1.0", -EINVAL, 0 },
	};
	char name[80];
	uint32_t v;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = 12345;
		snprintf(name, sizeof(name), "akm_parse_u32('%s')", cases[i].s);
		is_int(akm_parse_u32(cases[i].s, &v), cases[i].err, name);
		if (!cases[i].err)
			is_int(v, cases[i].v, name);
	}
	is_int(akm_parse_id("0", &v), -ERANGE, "akm_parse_id rejects 0");
	is_int(akm_parse_id("1x", &v), -EINVAL, "akm_parse_id rejects garbage");
	ok(!akm_parse_id("4294967295", &v) && v == UINT32_MAX, "akm_parse_id takes the maximum");
	ok(!akm_parse_mark("0x100", &v) && v == 0x100, "akm_parse_mark takes hexadecimal");
	ok(!akm_parse_mark("256", &v) && v == 256, "akm_parse_mark takes decimal");
	ok(!akm_parse_mark("0", &v) && v == 0, "akm_parse_mark takes 0");
	is_int(akm_parse_mark("0x100000000", &v), -ERANGE, "akm_parse_mark rejects 2^32");
	is_int(akm_parse_mark("-1", &v), -EINVAL, "akm_parse_mark rejects a sign");
	is_int(akm_parse_mark("0x", &v), -EINVAL, "akm_parse_mark rejects a bare 0x");
}

static void test_addrs(void)
{
	static const struct {
		const char *in, *out;
		int family;
	} good[] = {
		{ "10.0.0.1", "10.0.0.1", AF_INET },
		{ "0.0.0.0", "0.0.0.0", AF_INET },
		{ "fd00::1", "fd00::1", AF_INET6 },
		{ "FD00:0:0::01", "fd00::1", AF_INET6 },
		{ "::ffff:1.2.3.4", "::ffff:1.2.3.4", AF_INET6 },
		{ "::", "::", AF_INET6 },
	};
	static const char *const bad[] = {
		"", "1.2.3", "1.2.3.4.5", "300.1.1.1", "1.2.3.4 ", " 1.2.3.4",
		"fe80::1%eth0", "fd00:::1", "fd00::1/64", "host.example", "1.2.3.04x",
	};
	char buf[AKM_ADDRSTRLEN], name[80];
	struct akm_addr a;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(name, sizeof(name), "address '%s'", good[i].in);
		ok(!akm_addr_parse(good[i].in, &a) && a.family == good[i].family, name);
		is_str(akm_addr_str(&a, buf, sizeof(buf)), good[i].out, name);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(name, sizeof(name), "bad address '%s'", bad[i]);
		is_int(akm_addr_parse(bad[i], &a), -EINVAL, name);
	}
}

static void test_endpoints(void)
{
	static const struct {
		const char *in, *addr;
		uint16_t port;
	} good[] = {
		{ "10.0.0.1", "10.0.0.1", 4790 },
		{ "10.0.0.1:5000", "10.0.0.1", 5000 },
		{ "10.0.0.1:65535", "10.0.0.1", 65535 },
		{ "[10.0.0.1]:1", "10.0.0.1", 1 },
		{ "fd00::1", "fd00::1", 4790 },
		{ "fd00::1:80", "fd00::1:80", 4790 },	/* no brackets: all address */
		{ "::1", "::1", 4790 },
		{ "[fd00::1]", "fd00::1", 4790 },
		{ "[fd00::1]:5000", "fd00::1", 5000 },
		{ "[::ffff:1.2.3.4]:7", "::ffff:1.2.3.4", 7 },
	};
	static const char *const bad[] = {
		"", "[]", "[]:1", ":1", "10.0.0.1:", "10.0.0.1:0", "10.0.0.1:65536",
		"10.0.0.1:-1", "10.0.0.1:1x", "10.0.0.1: 1", "[fd00::1", "fd00::1]",
		"[fd00::1]:", "[fd00::1]:0", "[fd00::1]5000", "[fd00::1]:5000x", "[fd00::1]]",
		"[[fd00::1]]", "host.example:1", "fd00:::1", "[fd00::1%eth0]", "10.0.0.1:1:2",
		"[10.0.0.1:1]",
	};
	char buf[AKM_ADDRSTRLEN], name[80];
	struct akm_addr a;
	uint16_t port;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		port = 4790;
		snprintf(name, sizeof(name), "endpoint '%s'", good[i].in);
		ok(!akm_endpoint_parse(good[i].in, &a, &port), name);
		snprintf(name, sizeof(name), "endpoint '%s': address %s", good[i].in, good[i].addr);
		is_str(akm_addr_str(&a, buf, sizeof(buf)), good[i].addr, name);
		snprintf(name, sizeof(name), "endpoint '%s': port %u", good[i].in, good[i].port);
		is_int(port, good[i].port, name);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		port = 4790;
		snprintf(name, sizeof(name), "bad endpoint '%s'", bad[i]);
		is_int(akm_endpoint_parse(bad[i], &a, &port), -EINVAL, name);
		snprintf(name, sizeof(name), "bad endpoint '%s': port unchanged", bad[i]);
		is_int(port, 4790, name);
	}
}

static char dir[] = "/tmp/akm-unit-XXXXXX";

/* Write len bytes to a file and read it back as a key. */
static int read_key(const void *data, size_t len, uint8_t key[AKM_KEY_LEN])
{
	char path[64];
	int fd, err;

	snprintf(path, sizeof(path), "%s/key", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len) {
		perror(path);
		exit(1);
	}
	close(fd);
	err = akm_key_read(path, key);
	unlink(path);
	return err;
}

static void test_wrapped_file(void);

static void test_key_files(void)
{
	static const char hex[] =
		"000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F";
	uint8_t want[AKM_KEY_LEN], key[AKM_KEY_LEN], raw[AKM_KEY_LEN + 1];
	char text[80];
	int i, fd, saved;

	if (!mkdtemp(dir)) {
		perror(dir);
		exit(1);
	}
	for (i = 0; i < AKM_KEY_LEN; i++)
		want[i] = i;

	memset(key, 0xaa, sizeof(key));
	ok(!read_key(want, AKM_KEY_LEN, key) && !memcmp(key, want, AKM_KEY_LEN),
	   "key file: 32 raw bytes");
	memset(raw, '\n', sizeof(raw));
	ok(!read_key(raw, AKM_KEY_LEN, key) && key[0] == '\n' && key[31] == '\n',
	   "key file: raw bytes that look like text");
	memset(key, 0, sizeof(key));
	ok(!read_key(hex, 64, key) && !memcmp(key, want, AKM_KEY_LEN),
	   "key file: 64 hex digits, either case");
	snprintf(text, sizeof(text), "%s\n", hex);
	ok(!read_key(text, 65, key) && !memcmp(key, want, AKM_KEY_LEN),
	   "key file: 64 hex digits and a newline");

	is_int(read_key(raw, 0, key), -EINVAL, "key file: empty");
	is_int(read_key(raw, 31, key), -EINVAL, "key file: 31 bytes");
	is_int(read_key(raw, 33, key), -EINVAL, "key file: 33 bytes");
	is_int(read_key(hex, 63, key), -EINVAL, "key file: 63 hex digits");
	snprintf(text, sizeof(text), "%s0", hex);
	is_int(read_key(text, 65, key), -EINVAL, "key file: 65 hex digits");
	snprintf(text, sizeof(text), "%s\r\n", hex);
	is_int(read_key(text, 66, key), -EINVAL, "key file: CRLF");
	snprintf(text, sizeof(text), "%s\n\n", hex);
	is_int(read_key(text, 66, key), -EINVAL, "key file: two newlines");
	snprintf(text, sizeof(text), "%s", hex);
	text[40] = 'g';
	memset(key, 0xaa, sizeof(key));
	is_int(read_key(text, 64, key), -EINVAL, "key file: a non-hex digit");
	ok(!memcmp(key, (uint8_t[AKM_KEY_LEN]){ 0 }, AKM_KEY_LEN),
	   "key file: a rejected key leaves the buffer wiped");
	snprintf(text, sizeof(text), " %s", hex);
	is_int(read_key(text, 65, key), -EINVAL, "key file: leading blank");

	is_int(akm_key_read("/nonexistent/key", key), -ENOENT, "key file: missing");
	is_int(akm_secret_read("/dev/null", key, AKM_SECRET_MAX + 1), -EINVAL,
	       "secret longer than the maximum");
	is_int(akm_key_read(dir, key), -EISDIR, "key file: a directory");

	/* "-" is standard input. */
	snprintf(text, sizeof(text), "%s/stdin", dir);
	fd = open(text, O_RDWR | O_CREAT | O_TRUNC, 0600);
	saved = dup(STDIN_FILENO);
	if (fd < 0 || saved < 0 || write(fd, hex, 64) != 64 || lseek(fd, 0, SEEK_SET) ||
	    dup2(fd, STDIN_FILENO) < 0) {
		perror(text);
		exit(1);
	}
	memset(key, 0, sizeof(key));
	ok(!akm_key_read("-", key) && !memcmp(key, want, AKM_KEY_LEN), "key file: '-' is stdin");
	dup2(saved, STDIN_FILENO);
	close(saved);
	close(fd);
	unlink(text);
	test_wrapped_file();
	rmdir(dir);
}

/* The longest secret, a wrapped key, as hex. */
static void test_wrapped_file(void)
{
	uint8_t want[AKM_WRAPPED_LEN], got[AKM_WRAPPED_LEN];
	char hex[2 * AKM_WRAPPED_LEN + 2], path[64];
	int i, fd, err;

	for (i = 0; i < AKM_WRAPPED_LEN; i++) {
		want[i] = 0xff - i;
		sprintf(hex + 2 * i, "%02x", want[i]);
	}
	strcat(hex, "\n");
	snprintf(path, sizeof(path), "%s/wrapped", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, hex, strlen(hex)) != (ssize_t)strlen(hex)) {
		perror(path);
		exit(1);
	}
	close(fd);
	err = akm_secret_read(path, got, AKM_WRAPPED_LEN);
	ok(!err && !memcmp(got, want, sizeof(want)), "wrapped key: 144 hex digits");
	is_int(akm_secret_read(path, got, AKM_KEY_LEN), -EINVAL,
	       "wrapped key is not a key");
	unlink(path);
}

/* Entries of dir besides . and .. */
static int dir_entries(const char *path)
{
	struct dirent *e;
	DIR *d = opendir(path);
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

static void test_file_write(void)
{
	char fdir[] = "/tmp/akm-unit-XXXXXX", path[64], tmp[80], victim[64], sub[64], buf[32];
	struct stat st;
	ssize_t n;
	int fd;

	if (!mkdtemp(fdir)) {
		perror(fdir);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/f", fdir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	snprintf(victim, sizeof(victim), "%s/victim", fdir);
	snprintf(sub, sizeof(sub), "%s/sub", fdir);

	is_int(akm_file_write(path, "one", 3, 0640), 0, "file write: new file");
	ok(!stat(path, &st) && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0640 &&
	   st.st_size == 3, "file write: mode 0640 as asked, umask or not");
	is_int(akm_file_write(path, "second", 6, 0600), 0, "file write: replace");
	fd = open(path, O_RDONLY);
	n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
	if (fd >= 0)
		close(fd);
	ok(n == 6 && !memcmp(buf, "second", 6), "file write: the new content, whole");
	ok(!stat(path, &st) && (st.st_mode & 07777) == 0600, "file write: the new mode");
	is_int(dir_entries(fdir), 1, "file write: no temporary file left");

	/* someone who can write the directory plants PATH.tmp -> another file */
	fd = open(victim, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || write(fd, "victim", 6) != 6 || symlink(victim, tmp)) {
		perror(victim);
		exit(1);
	}
	close(fd);
	is_int(akm_file_write(path, "third", 5, 0600), 0, "file write: beside a planted PATH.tmp");
	ok(!stat(victim, &st) && st.st_size == 6 && !lstat(tmp, &st) && S_ISLNK(st.st_mode),
	   "file write: the symlink at PATH.tmp is not followed");
	ok(!lstat(path, &st) && S_ISREG(st.st_mode) && st.st_size == 5,
	   "file write: PATH is the new regular file");
	unlink(tmp);
	unlink(victim);

	/* a failed rename (onto a directory) leaves no temporary file */
	if (mkdir(sub, 0700)) {
		perror(sub);
		exit(1);
	}
	is_int(akm_file_write(sub, "x", 1, 0600), -EISDIR, "file write: onto a directory");
	is_int(dir_entries(fdir), 2, "file write: a failure leaves no temporary file");
	rmdir(sub);
	is_int(akm_file_write("/nonexistent/dir/f", "x", 1, 0600), -ENOENT,
	       "file write: a missing directory");
	unlink(path);
	rmdir(fdir);
}

/* Failed handshakes per address (lib/fails.c). */
static void test_fails(void)
{
	static struct akm_fails f;	/* 40 KB: not on the stack */
	struct akm_addr a, b, c;
	unsigned int i;

	memset(&f, 0, sizeof(f));
	akm_addr_parse("192.0.2.1", &a);
	akm_addr_parse("2001:db8:1:2::1", &b);
	akm_addr_parse("2001:db8:1:2:ffff::9", &c);
	for (i = 0; i < AKM_FAIL_MAX - 1; i++)
		akm_fails_record(&f, &a, 100, false);
	ok(!akm_fails_limited(&f, &a, 100, false), "fails: below the limit, served");
	akm_fails_record(&f, &a, 101, false);
	ok(akm_fails_limited(&f, &a, 101, false), "fails: at the limit, not served");
	ok(!akm_fails_limited(&f, &b, 101, false), "fails: another address is served");
	ok(akm_fails_limited(&f, &a, 100 + AKM_FAIL_WINDOW - 1, false), "fails: ... for the window");
	ok(!akm_fails_limited(&f, &a, 100 + AKM_FAIL_WINDOW, false), "fails: ... and then served");
	for (i = 0; i < AKM_FAIL_MAX; i++)
		akm_fails_record(&f, &b, 200, false);
	ok(akm_fails_limited(&f, &c, 200, false), "fails: IPv6 counts per /64");
	ok(!akm_fails_limited(&f, &c, 200, true), "fails: ... but a known address for itself");
	/* every slot at the limit: a stranger waits a window, the limited stay */
	memset(&f, 0, sizeof(f));
	for (i = 0; i < AKM_FAIL_SLOTS; i++) {
		struct akm_addr x = { .family = AF_INET, .v4.s_addr = htonl(0x0a000000 + i) };
		unsigned int k;

		for (k = 0; k < AKM_FAIL_MAX; k++)
			akm_fails_record(&f, &x, 300, false);
	}
	ok(!akm_fails_limited(&f, &a, 300, false), "fails: a full table serves a stranger ...");
	akm_fails_record(&f, &a, 300, false);
	ok(akm_fails_limited(&f, &a, 301, false), "fails: ... until one more fails: none for a window");
	ok(!akm_fails_limited(&f, &a, 300 + AKM_FAIL_WINDOW, false), "fails: ... which ends");
	ok(!akm_fails_limited(&f, &c, 301, true), "fails: a known address is served all the same");
}

void test_util(void)
{
	test_numbers();
	test_addrs();
	test_endpoints();
	test_key_files();
	test_file_write();
	test_fails();
}
