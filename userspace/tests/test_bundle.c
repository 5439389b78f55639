// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Unit tests of the credential bundle and the transfer code (agent_unit,
 * run by run.sh): round trip, every refusal of protocol.md in its order,
 * and the layout a second implementation would have to read.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sodium.h>

#include "bundle.h"
#include "secret.h"
#include "tap.h"

int tap_failed;

static const uint8_t cred[AKM_CRED_LEN] = {
	0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
	0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xf0,
};

static struct akm_bundle sample(void)
{
	struct akm_bundle b = {
		.node_id = 7, .nmm_id = 1, .nmm_port = 4790, .created = 1700000000,
	};

	inet_pton(AF_INET6, "::ffff:10.0.0.1", &b.nmm_addr);
	return b;
}

static void test_code(void)
{
	char code[AKM_CODE_LEN + 1], other[AKM_CODE_LEN + 1], canon[AKM_CODE_LEN + 1];

	ok(!akm_code_new(code), "code: new");
	is_int(strlen(code), AKM_CODE_LEN, "code: 20 characters");
	ok(strspn(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") == AKM_CODE_LEN, "code: base32 alphabet");
	/* 96 bits in 20 characters: the last one holds a single bit */
	ok(strchr("AQ", code[AKM_CODE_LEN - 1]), "code: last character carries one bit");
	ok(!akm_code_new(other) && strcmp(code, other), "code: two codes differ");
	ok(!akm_code_normalize("abcd-efgh ijkl-mnop-2345", canon), "code: lower case and groups");
	is_str(canon, "ABCDEFGHIJKLMNOP2345", "code: canonical form");
	ok(akm_code_normalize("ABCDEFGHIJKLMNOP234", canon) == -EINVAL, "code: 19 characters");
	ok(akm_code_normalize("ABCDEFGHIJKLMNOP23456", canon) == -EINVAL, "code: 21 characters");
	ok(akm_code_normalize("ABCDEFGHIJKLMNOP2341", canon) == -EINVAL, "code: '1' is not base32");
	ok(akm_code_normalize("", canon) == -EINVAL, "code: empty");
}

static void test_layout(void)
{
	struct akm_bundle b = sample();
	uint8_t buf[AKM_BUNDLE_LEN], hash[32];
	static const uint8_t head[36] = {
		'A', 'K', 'M', 'B', 1, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 1,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1,
		0x12, 0xb6, 0, 0,
	};

	ok(!akm_bundle_seal(&b, cred, "ABCDEFGHIJKLMNOPQRST", buf), "layout: seal");
	ok(!memcmp(buf, head, sizeof(head)), "layout: magic, version, ids, address, port");
	ok(!memcmp(buf + 36, "\0\0\0\0\x65\x53\xf1\x00", 8), "layout: created, big endian");
	crypto_hash_sha256(hash, buf, 132);
	ok(!memcmp(hash, buf + 132, 32), "layout: SHA-256 of bytes 0-131 at 132");
	ok(!memmem(buf, sizeof(buf), cred, 8), "layout: the credential is not in clear");
}

static void test_round_trip(void)
{
	struct akm_bundle b = sample(), got;
	uint8_t buf[AKM_BUNDLE_LEN], out[AKM_CRED_LEN];
	char code[AKM_CODE_LEN + 1], msg[160];

	ok(!akm_code_new(code) && !akm_bundle_seal(&b, cred, code, buf), "round trip: seal");
	memset(&got, 0, sizeof(got));
	is_int(akm_bundle_open(buf, sizeof(buf), code, &got, out, msg, sizeof(msg)), 0,
	       "round trip: open");
	ok(!memcmp(out, cred, sizeof(out)), "round trip: same credential");
	ok(got.node_id == 7 && got.nmm_id == 1 && got.nmm_port == 4790 &&
	   got.created == 1700000000 && !memcmp(&got.nmm_addr, &b.nmm_addr, 16),
	   "round trip: same metadata");
	code[0] = code[0] == 'A' ? 'B' : 'A';
	is_int(akm_bundle_open(buf, sizeof(buf), code, &got, out, msg, sizeof(msg)), -EACCES,
	       "wrong code: refused");
	is_str(msg, "wrong transfer code, or the bundle was modified", "wrong code: message");
	ok(sodium_is_zero(out, sizeof(out)), "wrong code: output wiped");
	is_int(akm_bundle_open(buf, sizeof(buf), "not a code", &got, out, msg, sizeof(msg)),
	       -EINVAL, "malformed code: refused");
}

static void test_refusals(void)
{
	struct akm_bundle b = sample(), got;
	uint8_t buf[AKM_BUNDLE_LEN], bad[AKM_BUNDLE_LEN + 1], out[AKM_CRED_LEN];
	const char *code = "ABCDEFGHIJKLMNOPQRST";
	char msg[160], name[80];
	int i, n_bad = 0, n_msg = 0;

	ok(!akm_bundle_seal(&b, cred, code, buf), "refusals: seal");
	is_int(akm_bundle_open(buf, sizeof(buf) - 1, code, &got, out, msg, sizeof(msg)), -EINVAL,
	       "truncated: refused");
	is_str(msg, "bundle has 163 bytes, a version 1 bundle has 164", "truncated: message");
	is_int(akm_bundle_open(buf, 0, code, &got, out, msg, sizeof(msg)), -EINVAL,
	       "empty: refused");
	memcpy(bad, buf, sizeof(buf));
	bad[sizeof(buf)] = 0;
	is_int(akm_bundle_open(bad, sizeof(bad), code, &got, out, msg, sizeof(msg)), -EINVAL,
	       "one byte too long: refused");

	memcpy(bad, buf, sizeof(buf));
	bad[0] = 'X';
	is_int(akm_bundle_open(bad, sizeof(buf), code, &got, out, msg, sizeof(msg)), -EINVAL,
	       "bad magic: refused");
	is_str(msg, "not an AKM credential bundle (bad magic)", "bad magic: message");

	memcpy(bad, buf, sizeof(buf));
	bad[4] = 2;
	is_int(akm_bundle_open(bad, sizeof(buf), code, &got, out, msg, sizeof(msg)),
	       -EPROTONOSUPPORT, "version 2: refused");
	is_str(msg, "bundle version 2 not supported (this program reads version 1)",
	       "version 2: message");

	/* Every single flipped byte after the version is caught by the hash. */
	for (i = 5; i < AKM_BUNDLE_LEN; i++) {
		memcpy(bad, buf, sizeof(buf));
		bad[i] ^= 0x01;
		if (akm_bundle_open(bad, sizeof(buf), code, &got, out, msg, sizeof(msg)) != -EBADMSG)
			n_bad++;
		else if (strcmp(msg, "bundle is corrupt or was modified"))
			n_msg++;
	}
	ok(!n_bad, "tampered byte: every position refused as corrupt");
	ok(!n_msg, "tampered byte: message");

	/* A modified field with a recomputed hash still fails: the AEAD binds it. */
	for (i = 8; i < 132; i += 12) {
		memcpy(bad, buf, sizeof(buf));
		bad[i] ^= 0x80;
		crypto_hash_sha256(bad + 132, bad, 132);
		snprintf(name, sizeof(name), "modified byte %d with a new hash: refused", i);
		is_int(akm_bundle_open(bad, sizeof(buf), code, &got, out, msg, sizeof(msg)),
		       -EACCES, name);
	}
	ok(!akm_bundle_open(buf, sizeof(buf), code, &got, out, msg, sizeof(msg)) &&
	   !memcmp(out, cred, sizeof(out)), "original still opens");
}

static void test_files(void)
{
	char dir[] = "/tmp/akm-bundle-XXXXXX", path[64], code[AKM_CODE_LEN + 1], msg[160];
	struct akm_bundle b = sample(), got;
	uint8_t out[AKM_CRED_LEN];
	FILE *f;

	if (!ok(mkdtemp(dir), "files: temporary directory"))
		return;
	snprintf(path, sizeof(path), "%s/node.akmb", dir);
	is_int(akm_bundle_export(path, &b, cred, code, msg, sizeof(msg)), 0, "export: written");
	ok(access(path, R_OK) == 0, "export: file exists");
	is_int(akm_bundle_import(path, code, &got, out, msg, sizeof(msg)), 0, "import: opens");
	ok(!memcmp(out, cred, sizeof(out)) && got.node_id == 7, "import: same content");
	f = fopen(path, "ab");
	if (f) {
		fputc(0, f);
		fclose(f);
	}
	is_int(akm_bundle_import(path, code, &got, out, msg, sizeof(msg)), -EINVAL,
	       "import: appended byte refused");
	unlink(path);
	is_int(akm_bundle_import(path, code, &got, out, msg, sizeof(msg)), -ENOENT,
	       "import: missing file");
	ok(strstr(msg, "cannot open"), "import: missing file message");
	snprintf(path, sizeof(path), "%s/none/x", dir);
	ok(akm_bundle_export(path, &b, cred, code, msg, sizeof(msg)) == -ENOENT,
	   "export: missing directory");
	rmdir(dir);
}

/* akm_code_read() on a pipe holding in (len bytes). */
static int code_read(const char *in, size_t len, char out[AKM_CODE_LEN + 1], char *msg,
		     size_t msglen)
{
	int p[2], err;

	if (pipe(p) || write(p[1], in, len) != (ssize_t)len) {
		perror("pipe");
		exit(1);
	}
	close(p[1]);
	err = akm_code_read(p[0], out, msg, msglen);
	close(p[0]);
	return err;
}

static void test_code_read(void)
{
	char out[AKM_CODE_LEN + 1], msg[160], big[300];
	static const char bad[] = "a transfer code is 20 characters of A-Z and 2-7 "
				  "(spaces and dashes are ignored)";

	is_int(code_read("ABCDEFGHIJKLMNOPQRST\n", 21, out, msg, sizeof(msg)), 0,
	       "code read: one line");
	is_str(out, "ABCDEFGHIJKLMNOPQRST", "code read: the code");
	is_int(code_read("abcd-efgh ijkl-mnop-qrst", 24, out, msg, sizeof(msg)), 0,
	       "code read: no newline, lower case, dashes and spaces");
	is_str(out, "ABCDEFGHIJKLMNOPQRST", "code read: canonical form");
	is_int(code_read("", 0, out, msg, sizeof(msg)), -ENODATA, "code read: empty");
	is_str(msg, "no transfer code (empty input)", "code read: empty: message");
	is_int(code_read("\n", 1, out, msg, sizeof(msg)), -ENODATA, "code read: an empty line");
	is_int(code_read("ABCDEFGHIJKLMNOPQRST\n\n", 22, out, msg, sizeof(msg)), -EINVAL,
	       "code read: two lines");
	is_str(msg, "more than one line: give the transfer code alone",
	       "code read: two lines: message");
	is_int(code_read("ABCDEFGHIJKLMNOPQRST\r\n", 22, out, msg, sizeof(msg)), -EINVAL,
	       "code read: CRLF");
	is_str(msg, bad, "code read: CRLF: message");
	is_int(code_read("ABCDEFGHIJ\0KLMNOPQRST", 21, out, msg, sizeof(msg)), -EINVAL,
	       "code read: a NUL byte");
	ok(!out[0], "code read: nothing left in out after a refusal");
	memset(big, '-', sizeof(big));
	big[AKM_CODE_INPUT_MAX] = '\n';
	is_int(code_read(big, AKM_CODE_INPUT_MAX + 1, out, msg, sizeof(msg)), -EINVAL,
	       "code read: 256 characters and a newline are read whole");
	is_str(msg, bad, "code read: 256 characters: not a code");
	is_int(code_read(big, AKM_CODE_INPUT_MAX + 2, out, msg, sizeof(msg)), -EINVAL,
	       "code read: 257 characters");
	is_str(msg, "the transfer code is longer than 256 characters: not a code",
	       "code read: 257 characters: message");
	is_int(code_read(big, sizeof(big), out, msg, sizeof(msg)), -EINVAL,
	       "code read: 300 characters");
	is_int(akm_code_read(-1, out, msg, sizeof(msg)), -EBADF, "code read: a bad descriptor");
}

/* A site's wrapping of node credentials and group keys (root.md): bound to what it is for. */
static void test_site_wrap(void)
{
	static const uint32_t ids[] = { 3, 11, 21 }, other[] = { 3, 11, 22 };
	uint8_t site[32], key[32], out[32], w[AKM_WRAPPED_LEN];

	randombytes_buf(site, sizeof(site));
	randombytes_buf(key, sizeof(key));
	akm_wrap_cred(site, cred, 2, 11, w);
	ok(!akm_unwrap_cred(site, w, 2, 11, out) && !memcmp(out, cred, 32),
	   "site wrap: a node's credential opens for its site and id");
	is_int(akm_unwrap_cred(site, w, 3, 11, out), -EBADMSG, "site wrap: not for another site");
	is_int(akm_unwrap_cred(site, w, 2, 12, out), -EBADMSG, "site wrap: not as another node");
	is_int(akm_unwrap_cred(key, w, 2, 11, out), -EBADMSG, "site wrap: not with another K_wrap");
	w[30] ^= 1;
	is_int(akm_unwrap_cred(site, w, 2, 11, out), -EBADMSG, "site wrap: tampered: refused");
	is_int(akm_wrap_key(site, key, 1, 5, 1, ids, 3, w), 0, "site wrap: a group key");
	ok(!akm_unwrap_key(site, w, 1, 5, 1, ids, 3, out) && !memcmp(out, key, 32),
	   "site wrap: the key opens for its ASR, epoch, algorithm and members");
	is_int(akm_unwrap_key(site, w, 1, 6, 1, ids, 3, out), -EBADMSG,
	       "site wrap: not for another epoch");
	is_int(akm_unwrap_key(site, w, 2, 5, 1, ids, 3, out), -EBADMSG,
	       "site wrap: not for another ASR");
	is_int(akm_unwrap_key(site, w, 1, 5, 2, ids, 3, out), -EBADMSG,
	       "site wrap: not for another algorithm");
	is_int(akm_unwrap_key(site, w, 1, 5, 1, other, 3, out), -EBADMSG,
	       "site wrap: not for another member set");
	is_int(akm_unwrap_key(site, w, 1, 5, 1, ids, 2, out), -EBADMSG,
	       "site wrap: not for fewer members");
	akm_wrap_cred(site, key, 1, 5, w);
	is_int(akm_unwrap_key(site, w, 1, 5, 1, ids, 0, out), -EBADMSG,
	       "site wrap: a wrapped credential is no group key");
	akm_remove_tag(cred, 2, 11, out);
	akm_remove_tag(cred, 2, 11, key);
	ok(!memcmp(out, key, 32), "remove tag: the same for the same node");
	akm_remove_tag(cred, 2, 12, key);
	ok(memcmp(out, key, 32), "remove tag: another for another node id");
	akm_remove_tag(site, 2, 11, key);
	ok(memcmp(out, key, 32), "remove tag: another for another credential");
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_code();
	test_code_read();
	test_layout();
	test_round_trip();
	test_refusals();
	test_files();
	test_site_wrap();
	test_agent();
	return tap_failed ? 1 : 0;
}
