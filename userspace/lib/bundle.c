// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Credential bundle encoding (Documentation/protocol.md): a fixed 164-byte
 * layout, C under XChaCha20-Poly1305 with a key stretched from the transfer
 * code by Argon2id, and a SHA-256 over everything before it so that a
 * damaged file is told apart from a wrong code without the slow hash.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <sodium.h>

#include "bundle.h"
#include "libakm.h"

/* Offsets of the fields. */
#define B_MAGIC		0
#define B_VERSION	4
#define B_NODE		8
#define B_NMM		12
#define B_ADDR		16
#define B_PORT		32
#define B_CREATED	36
#define B_SALT		44
#define B_NONCE		60
#define B_BOX		84
#define B_HASH		132

#define BOX_LEN		(AKM_CRED_LEN + crypto_aead_xchacha20poly1305_ietf_ABYTES)

_Static_assert(B_NONCE - B_SALT == crypto_pwhash_SALTBYTES, "salt size");
_Static_assert(B_BOX - B_NONCE == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "nonce size");
_Static_assert(B_HASH - B_BOX == BOX_LEN, "box size");
_Static_assert(AKM_BUNDLE_LEN - B_HASH == crypto_hash_sha256_BYTES, "hash size");

static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

static void set_msg(char *msg, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_msg(char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!msg || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
	while (n--) {
		p[n] = v & 0xff;
		v >>= 8;
	}
}

static uint64_t get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | *p++;
	return v;
}

int akm_code_new(char code[AKM_CODE_LEN + 1])
{
	uint8_t raw[AKM_CODE_BYTES];
	unsigned int bits = 0, nbits = 0, i, n = 0;

	if (sodium_init() < 0)
		return -EIO;
	randombytes_buf(raw, sizeof(raw));
	for (i = 0; i < sizeof(raw); i++) {
		bits = (bits << 8 | raw[i]) & 0xfff;
		nbits += 8;
		while (nbits >= 5) {
			nbits -= 5;
			code[n++] = b32[(bits >> nbits) & 31];
		}
	}
	if (nbits)	/* 96 bits: the last character holds one bit */
		code[n++] = b32[(bits << (5 - nbits)) & 31];
	code[n] = '\0';
	sodium_memzero(raw, sizeof(raw));
	return n == AKM_CODE_LEN ? 0 : -EINVAL;
}

int akm_code_normalize(const char *in, char out[AKM_CODE_LEN + 1])
{
	size_t n = 0;

	for (; *in; in++) {
		char c = *in >= 'a' && *in <= 'z' ? *in - 'a' + 'A' : *in;

		if (c == ' ' || c == '-')
			continue;
		if (n == AKM_CODE_LEN || !strchr(b32, c))
			goto bad;
		out[n++] = c;
	}
	if (n == AKM_CODE_LEN) {
		out[n] = '\0';
		return 0;
	}
bad:
	sodium_memzero(out, AKM_CODE_LEN + 1);
	return -EINVAL;
}

int akm_code_read(int fd, char out[AKM_CODE_LEN + 1], char *msg, size_t msglen)
{
	char *buf, scratch[64];
	bool tty = isatty(fd), over = false;
	size_t len = 0;
	int err = 0;

	sodium_memzero(out, AKM_CODE_LEN + 1);
	if (sodium_init() < 0) {
		set_msg(msg, msglen, "cannot initialise libsodium");
		return -EIO;
	}
	/* a line of the longest input, its newline and a NUL */
	buf = sodium_malloc(AKM_CODE_INPUT_MAX + 2);	/* locked, wiped on free */
	if (!buf) {
		set_msg(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	for (;;) {
		/* once buf is full, read on (and drop) to the end of the line or file */
		bool full = len == AKM_CODE_INPUT_MAX + 1;
		char *p = full ? scratch : buf + len;
		size_t room = full ? sizeof(scratch) : AKM_CODE_INPUT_MAX + 1 - len;
		ssize_t n = read(fd, p, room);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			set_msg(msg, msglen, "cannot read the transfer code: %s", strerror(errno));
			break;
		}
		if (!n)
			break;
		if (full)
			over = true;
		else
			len += n;
		/* a terminal (in canonical mode) gives one line per read */
		if (tty && memchr(p, '\n', n))
			break;
	}
	sodium_memzero(scratch, sizeof(scratch));
	if (err)
		goto out;
	if (len && buf[len - 1] == '\n')
		len--;
	buf[len] = '\0';
	err = -EINVAL;
	if (over || len > AKM_CODE_INPUT_MAX)
		set_msg(msg, msglen, "the transfer code is longer than %d characters: not a code",
			AKM_CODE_INPUT_MAX);
	else if (!len)
		err = -ENODATA;
	else if (memchr(buf, '\n', len))
		set_msg(msg, msglen, "more than one line: give the transfer code alone");
	else if (memchr(buf, '\0', len) || akm_code_normalize(buf, out))
		set_msg(msg, msglen, "a transfer code is %d characters of A-Z and 2-7 "
			"(spaces and dashes are ignored)", AKM_CODE_LEN);
	else
		err = 0;
	if (err == -ENODATA)
		set_msg(msg, msglen, "no transfer code (empty input)");
out:
	sodium_free(buf);
	return err;
}

/* The terminal whose echo prompt_code() turned off, for the signal handler. */
static volatile sig_atomic_t tty_fd = -1;
static struct termios tty_saved;

static void tty_signal(int sig)
{
	if (tty_fd >= 0)
		tcsetattr(tty_fd, TCSANOW, &tty_saved);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Ask for the code on the terminal fd, with echo off; the terminal is always restored. */
static int prompt_code(int fd, const char *file, char code[AKM_CODE_LEN + 1], char *msg,
		       size_t msglen)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	struct sigaction sa = { .sa_handler = tty_signal }, old[4];
	struct termios t;
	unsigned int i;
	int err;

	if (tcgetattr(fd, &tty_saved)) {
		err = -errno;
		snprintf(msg, msglen, "cannot read the terminal's settings: %s", strerror(errno));
		return err;
	}
	t = tty_saved;
	t.c_lflag &= ~(ECHO | ECHOE | ECHOK);
	t.c_lflag |= ECHONL | ICANON;	/* one line; its newline is still shown */
	for (i = 0; i < 4; i++)
		sigaction(sigs[i], &sa, &old[i]);
	tty_fd = fd;
	fprintf(stderr, "transfer code for %s: ", file);
	fflush(stderr);
	if (tcsetattr(fd, TCSAFLUSH, &t)) {
		err = -errno;
		snprintf(msg, msglen, "cannot turn off the terminal's echo: %s", strerror(errno));
	} else {
		err = akm_code_read(fd, code, msg, msglen);
	}
	tcsetattr(fd, TCSANOW, &tty_saved);
	tty_fd = -1;
	for (i = 0; i < 4; i++)
		sigaction(sigs[i], &old[i], NULL);
	return err;
}

int akm_code_get(const char *code_file, const char *file, const char *option,
		 char code[AKM_CODE_LEN + 1], char *msg, size_t msglen)
{
	bool named = code_file && strcmp(code_file, "-");
	int fd = STDIN_FILENO, err;
	char why[256];

	if (named) {
		fd = open(code_file, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			err = -errno;
			set_msg(msg, msglen, "cannot open the code file %s: %s", code_file,
				strerror(errno));
			return err;
		}
	}
	if (isatty(fd))
		err = prompt_code(fd, file, code, why, sizeof(why));
	else
		err = akm_code_read(fd, code, why, sizeof(why));
	if (named)
		close(fd);
	if (err == -ENODATA && !code_file)
		set_msg(msg, msglen, "standard input: %s; give the code on standard input or "
			"with %s, or run this on a terminal to be asked for it", why, option);
	else if (err)
		set_msg(msg, msglen, "%s: %s", named ? code_file : "standard input", why);
	return err;
}

/* The transfer key from the code and the bundle's salt. */
static int transfer_key(uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES],
			const char *code, const uint8_t *salt)
{
	if (crypto_pwhash(key, crypto_aead_xchacha20poly1305_ietf_KEYBYTES, code, strlen(code),
			  salt, crypto_pwhash_OPSLIMIT_INTERACTIVE,
			  crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13))
		return -ENOMEM;
	return 0;
}

int akm_bundle_seal(const struct akm_bundle *b, const uint8_t cred[AKM_CRED_LEN],
		    const char *code, uint8_t out[AKM_BUNDLE_LEN])
{
	uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
	int err;

	if (sodium_init() < 0)
		return -EIO;
	memset(out, 0, AKM_BUNDLE_LEN);
	memcpy(out + B_MAGIC, "AKMB", 4);
	out[B_VERSION] = AKM_BUNDLE_VERSION;
	put_be(out + B_NODE, b->node_id, 4);
	put_be(out + B_NMM, b->nmm_id, 4);
	memcpy(out + B_ADDR, &b->nmm_addr, 16);
	put_be(out + B_PORT, b->nmm_port, 2);
	put_be(out + B_CREATED, b->created, 8);
	randombytes_buf(out + B_SALT, crypto_pwhash_SALTBYTES);
	randombytes_buf(out + B_NONCE, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);

	err = transfer_key(key, code, out + B_SALT);
	if (!err)
		crypto_aead_xchacha20poly1305_ietf_encrypt(out + B_BOX, NULL, cred, AKM_CRED_LEN,
							   out, B_NONCE, NULL, out + B_NONCE, key);
	sodium_memzero(key, sizeof(key));
	if (err)
		return err;
	crypto_hash_sha256(out + B_HASH, out, B_HASH);
	return 0;
}

int akm_bundle_open(const uint8_t *buf, size_t len, const char *code,
		    struct akm_bundle *b, uint8_t cred[AKM_CRED_LEN],
		    char *msg, size_t msglen)
{
	uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
	uint8_t hash[crypto_hash_sha256_BYTES];
	char canon[AKM_CODE_LEN + 1];
	int err;

	sodium_memzero(cred, AKM_CRED_LEN);
	if (sodium_init() < 0) {
		set_msg(msg, msglen, "cannot initialise libsodium");
		return -EIO;
	}
	if (len != AKM_BUNDLE_LEN) {
		set_msg(msg, msglen, "bundle has %zu bytes, a version %d bundle has %d",
			len, AKM_BUNDLE_VERSION, AKM_BUNDLE_LEN);
		return -EINVAL;
	}
	if (memcmp(buf + B_MAGIC, "AKMB", 4)) {
		set_msg(msg, msglen, "not an AKM credential bundle (bad magic)");
		return -EINVAL;
	}
	if (buf[B_VERSION] != AKM_BUNDLE_VERSION) {
		set_msg(msg, msglen, "bundle version %u not supported (this program reads version %d)",
			buf[B_VERSION], AKM_BUNDLE_VERSION);
		return -EPROTONOSUPPORT;
	}
	crypto_hash_sha256(hash, buf, B_HASH);
	if (sodium_memcmp(hash, buf + B_HASH, sizeof(hash))) {
		set_msg(msg, msglen, "bundle is corrupt or was modified");
		return -EBADMSG;
	}
	if (akm_code_normalize(code, canon)) {
		set_msg(msg, msglen, "a transfer code is %d characters of A-Z and 2-7",
			AKM_CODE_LEN);
		return -EINVAL;
	}
	err = transfer_key(key, canon, buf + B_SALT);
	sodium_memzero(canon, sizeof(canon));
	if (err) {
		set_msg(msg, msglen, "out of memory for the transfer key (Argon2id needs 64 MiB)");
		return err;
	}
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(cred, NULL, NULL, buf + B_BOX, BOX_LEN,
						       buf, B_NONCE, buf + B_NONCE, key)) {
		sodium_memzero(cred, AKM_CRED_LEN);
		set_msg(msg, msglen, "wrong transfer code, or the bundle was modified");
		err = -EACCES;
	}
	sodium_memzero(key, sizeof(key));
	if (err)
		return err;
	b->node_id = get_be(buf + B_NODE, 4);
	b->nmm_id = get_be(buf + B_NMM, 4);
	memcpy(&b->nmm_addr, buf + B_ADDR, 16);
	b->nmm_port = get_be(buf + B_PORT, 2);
	b->created = get_be(buf + B_CREATED, 8);
	return 0;
}

int akm_bundle_make(const struct akm_bundle *b, const uint8_t cred[AKM_CRED_LEN],
		    char code[AKM_CODE_LEN + 1], uint8_t buf[AKM_BUNDLE_LEN], char *msg,
		    size_t msglen)
{
	int err;

	err = akm_code_new(code);
	if (!err)
		err = akm_bundle_seal(b, cred, code, buf);
	if (err) {
		set_msg(msg, msglen, "cannot make a bundle: %s", strerror(-err));
		sodium_memzero(code, AKM_CODE_LEN + 1);
	}
	return err;
}

int akm_bundle_export(const char *path, const struct akm_bundle *b,
		      const uint8_t cred[AKM_CRED_LEN], char code[AKM_CODE_LEN + 1],
		      char *msg, size_t msglen)
{
	uint8_t buf[AKM_BUNDLE_LEN];
	int err;

	err = akm_bundle_make(b, cred, code, buf, msg, msglen);
	if (err)
		return err;
	err = akm_file_write(path, buf, sizeof(buf), 0600);
	if (err) {
		set_msg(msg, msglen, "cannot write '%s': %s", path, strerror(-err));
		sodium_memzero(code, AKM_CODE_LEN + 1);
	}
	return err;
}

int akm_bundle_import(const char *path, const char *code, struct akm_bundle *b,
		      uint8_t cred[AKM_CRED_LEN], char *msg, size_t msglen)
{
	uint8_t buf[AKM_BUNDLE_LEN + 1];	/* one more to see a longer file */
	size_t len = 0;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		set_msg(msg, msglen, "cannot open '%s': %s", path, strerror(errno));
		return err;
	}
	while (len < sizeof(buf)) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			set_msg(msg, msglen, "cannot read '%s': %s", path, strerror(errno));
			break;
		}
		if (!n)
			break;
		len += n;
	}
	close(fd);
	if (!err)
		err = akm_bundle_open(buf, len, code, b, cred, msg, msglen);
	return err;
}
