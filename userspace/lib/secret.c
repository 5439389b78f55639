// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Secrets at rest, for akm-nmmd and akm-rootd: every credential and epoch
 * key in a store is sealed with XChaCha20-Poly1305 under a 256-bit master
 * key, with associated data naming the row ("cred:<node>",
 * "key:<asr>:<epoch>") so that a sealed value cannot be moved to another row.
 *
 * The master key lives in DIR/master.key (0600, from randombytes), or,
 * with tpm, sealed to the TPM 2.0 as DIR/master.tpm.pub and .priv (a
 * sealed data object under the owner hierarchy's primary key, via
 * tpm2-tools; the TCTI comes from TPM2TOOLS_TCTI as for any tpm2 tool).
 * A new master key is made only while the store holds no sealed secret.
 *
 * Also the key derivation and key wrapping of protocol.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sodium.h>

#include "secret.h"

#define MASTER_LEN AKM_MASTER_LEN

void *akm_secure_alloc(size_t len)
{
	return sodium_malloc(len);	/* guarded, mlock()ed, wiped on free */
}

void akm_secure_free(void *p)
{
	if (p)
		sodium_free(p);
}

static int read_exact(int fd, uint8_t *buf, size_t len)
{
	size_t done = 0;
	ssize_t r;

	while (done < len) {
		r = read(fd, buf + done, len - done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EINVAL;
		done += r;
	}
	return 0;
}

/*
 * Run a tpm2 tool: argv, with in (inlen bytes) on its stdin and up to
 * outlen bytes of its stdout in out (NULL: to /dev/null). 0 or -EIO.
 */
static int run_tool(const struct akm_master *m, char *const argv[], const uint8_t *in,
		    size_t inlen, uint8_t *out, size_t outlen)
{
	int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, status, err = 0;
	pid_t pid;

	if (pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC)) {
		err = -errno;
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		err = -errno;
		goto out;
	}
	if (!pid) {
		int null = open("/dev/null", O_WRONLY);

		dup2(pin[0], 0);
		dup2(out ? pout[1] : null, 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pin[0]);
	close(pout[1]);
	pin[0] = pout[1] = -1;
	if (in)
		err = akm_write_all(pin[1], in, inlen);
	close(pin[1]);
	pin[1] = -1;
	if (!err && out)
		err = read_exact(pout[0], out, outlen);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!err && (!WIFEXITED(status) || WEXITSTATUS(status))) {
		m->log("master key: %s failed (status %d)", argv[0],
			WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		err = -EIO;
	}
out:
	for (int i = 0; i < 2; i++) {
		if (pin[i] >= 0)
			close(pin[i]);
		if (pout[i] >= 0)
			close(pout[i]);
	}
	return err;
}

/* Without a resource manager, transient objects stay loaded: flush them. */
static void tpm_flush(const struct akm_master *m)
{
	char *argv[] = { "tpm2_flushcontext", "-t", NULL };
	char *sessions[] = { "tpm2_flushcontext", "-l", NULL };

	run_tool(m, sessions, NULL, 0, NULL, 0);

	run_tool(m, argv, NULL, 0, NULL, 0);
}

static int tpm_run(const struct akm_master *m, char *const argv[], const uint8_t *in,
		   size_t inlen, uint8_t *out, size_t outlen)
{
	int err = run_tool(m, argv, in, inlen, out, outlen);

	tpm_flush(m);
	return err;
}

static int tpm_primary(const struct akm_master *m, const char *ctx)
{
	char *argv[] = { "tpm2_createprimary", "-Q", "-C", "o", "-g", "sha256", "-G",
			 "ecc", "-c", (char *)ctx, NULL };

	return tpm_run(m, argv, NULL, 0, NULL, 0);
}

/* Unseal (or, the first time, create and seal) the master key with the TPM. */
static int master_tpm(struct akm_master *m, uint8_t *key)
{
	char pub[4096], priv[4096], prim[4096], obj[4096];
	int err;

	snprintf(pub, sizeof(pub), "%s/master.tpm.pub", m->dir);
	snprintf(priv, sizeof(priv), "%s/master.tpm.priv", m->dir);
	snprintf(prim, sizeof(prim), "%s/.primary.ctx", m->dir);
	snprintf(obj, sizeof(obj), "%s/.master.ctx", m->dir);
	if (access(pub, F_OK) && errno == ENOENT && m->has_secrets) {
		m->log("master key: %s is missing, but %s holds secrets sealed under it: "
		       "restore master.tpm.pub and master.tpm.priv from a backup (they open only "
		       "with this machine's TPM); a new master key would not open them",
		       pub, m->store);
		return -ENOENT;
	}
	tpm_flush(m);
	err = tpm_primary(m, prim);
	if (err)
		goto out;
	if (access(pub, F_OK)) {
		char *argv[] = { "tpm2_create", "-Q", "-C", prim, "-i", "-", "-u", pub,
				 "-r", priv, NULL };

		randombytes_buf(key, MASTER_LEN);
		err = tpm_run(m, argv, key, MASTER_LEN, NULL, 0);
		if (!err && (chmod(pub, 0600) || chmod(priv, 0600)))
			err = -errno;
		if (!err)
			m->log("master key: created and sealed to the TPM");
	} else {
		char *load[] = { "tpm2_load", "-Q", "-C", prim, "-u", pub, "-r", priv,
				 "-c", obj, NULL };
		char *unseal[] = { "tpm2_unseal", "-Q", "-c", obj, NULL };

		err = tpm_run(m, load, NULL, 0, NULL, 0);
		if (!err)
			err = tpm_run(m, unseal, NULL, 0, key, MASTER_LEN);
		if (!err)
			m->log("master key: unsealed by the TPM");
	}
out:
	tpm_flush(m);
	unlink(prim);
	unlink(obj);
	if (err)
		m->log("master key: the TPM could not %s it (is TPM2TOOLS_TCTI set?)",
		       access(pub, F_OK) ? "seal" : "unseal");
	return err;
}

static int master_file(struct akm_master *m, uint8_t *key)
{
	char path[4096];
	struct stat st;
	int fd, err;

	snprintf(path, sizeof(path), "%s/master.key", m->dir);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size != MASTER_LEN ||
		    st.st_uid != geteuid() || (st.st_mode & 077)) {
			m->log("master key: %s must be a %d-byte file owned by us, mode 0600",
			       path, MASTER_LEN);
			close(fd);
			return -EPERM;
		}
		err = read_exact(fd, key, MASTER_LEN);
		close(fd);
		return err;
	}
	if (errno != ENOENT) {
		err = -errno;
		m->log("master key: %s: %s", path, strerror(-err));
		return err;
	}
	if (m->has_secrets) {
		m->log("master key: %s is missing, but %s holds secrets sealed under it: "
		       "restore %s from a backup; a new master key would not open them",
		       path, m->store, path);
		return -ENOENT;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		err = -errno;
		m->log("master key: cannot create %s: %s", path, strerror(-err));
		return err;
	}
	randombytes_buf(key, MASTER_LEN);
	err = akm_write_all(fd, key, MASTER_LEN);
	if (!err && fsync(fd))
		err = -errno;
	close(fd);
	if (err)
		unlink(path);
	else
		m->log("master key: created %s", path);
	return err;
}

int akm_master_load(struct akm_master *m)
{
	char other[4096];
	int err;

	m->key = akm_secure_alloc(MASTER_LEN);
	if (!m->key)
		return -ENOMEM;
	/* refuse to silently switch between the two kinds */
	snprintf(other, sizeof(other), m->tpm ? "%s/master.key" : "%s/master.tpm.pub", m->dir);
	if (!access(other, F_OK)) {
		if (m->no_tpm)
			m->log("master key: %s holds a master key sealed to a TPM, which this "
			       "daemon does not use", m->dir);
		else
			m->log("master key: this store's master key is %s; %s --tpm",
			       m->tpm ? "in a file" : "sealed to a TPM",
			       m->tpm ? "start without" : "start with");
		return -EINVAL;
	}
	err = m->tpm ? master_tpm(m, m->key) : master_file(m, m->key);
	if (!err)
		sodium_mprotect_readonly(m->key);
	return err;
}

void akm_master_free(struct akm_master *m)
{
	akm_secure_free(m->key);
	m->key = NULL;
}

void akm_seal(const struct akm_master *m, const char *ad, const uint8_t *in, size_t len,
	      uint8_t *out)
{
	randombytes_buf(out, 24);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + 24, NULL, in, len,
						   (const uint8_t *)ad, strlen(ad), NULL,
						   out, m->key);
}

int akm_unseal(const struct akm_master *m, const char *ad, const uint8_t *in, size_t inlen,
	       uint8_t *out, size_t outlen)
{
	if (inlen != AKM_SEALED_LEN(outlen))
		return -EBADMSG;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, in + 24, inlen - 24,
						       (const uint8_t *)ad, strlen(ad),
						       in, m->key))
		return -EBADMSG;
	return 0;
}

void akm_kdf(const uint8_t c[32], const char *label, uint8_t out[32])
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, c, 32);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)label, strlen(label));
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

static void be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

#define WRAP_LABEL	"AKM v1 wrap"	/* K_wrap's label; a group key's ad starts so */
#define NODE_LABEL	"AKM v1 node"	/* the start of a node credential's ad */

/* ad of a group key: "AKM v1 wrap" || be32 asr || be32 epoch || u8 alg || be32 n || ids */
static uint8_t *key_ad(uint32_t asr, uint32_t epoch, uint8_t alg, const uint32_t *ids,
		       unsigned int n, size_t *adlen)
{
	size_t lablen = sizeof(WRAP_LABEL) - 1;
	uint8_t *ad, *p;
	unsigned int i;

	*adlen = lablen + 13 + 4 * (size_t)n;
	ad = malloc(*adlen);
	if (!ad)
		return NULL;
	memcpy(ad, WRAP_LABEL, lablen);
	p = ad + lablen;
	be32(p, asr);
	be32(p + 4, epoch);
	p[8] = alg;
	be32(p + 9, n);
	for (i = 0; i < n; i++)
		be32(p + 13 + 4 * i, ids[i]);
	return ad;
}

static void wrap(const uint8_t c[32], const uint8_t in[32], const uint8_t *ad, size_t adlen,
		 uint8_t out[AKM_WRAPPED_LEN])
{
	uint8_t kw[32];

	akm_kdf(c, WRAP_LABEL, kw);
	randombytes_buf(out, 24);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + 24, NULL, in, 32, ad, adlen, NULL, out,
						   kw);
	sodium_memzero(kw, sizeof(kw));
}

static int unwrap(const uint8_t c[32], const uint8_t in[AKM_WRAPPED_LEN], const uint8_t *ad,
		  size_t adlen, uint8_t out[32])
{
	uint8_t kw[32];
	int err;

	akm_kdf(c, WRAP_LABEL, kw);
	err = crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, in + 24,
							 AKM_WRAPPED_LEN - 24, ad, adlen,
							 in, kw) ? -EBADMSG : 0;
	sodium_memzero(kw, sizeof(kw));
	return err;
}

int akm_wrap_key(const uint8_t c[32], const uint8_t key[32], uint32_t asr, uint32_t epoch,
		 uint8_t alg, const uint32_t *ids, unsigned int n, uint8_t out[AKM_WRAPPED_LEN])
{
	size_t adlen;
	uint8_t *ad = key_ad(asr, epoch, alg, ids, n, &adlen);

	if (!ad)
		return -ENOMEM;
	wrap(c, key, ad, adlen, out);
	free(ad);
	return 0;
}

int akm_unwrap_key(const uint8_t c[32], const uint8_t in[AKM_WRAPPED_LEN], uint32_t asr,
		   uint32_t epoch, uint8_t alg, const uint32_t *ids, unsigned int n,
		   uint8_t key[32])
{
	size_t adlen;
	uint8_t *ad = key_ad(asr, epoch, alg, ids, n, &adlen);
	int err;

	if (!ad)
		return -ENOMEM;
	err = unwrap(c, in, ad, adlen, key);
	free(ad);
	return err;
}

#define CRED_AD_LEN	(sizeof(NODE_LABEL) - 1 + 8)

/* ad of a node's credential for its site: "AKM v1 node" || be32 site || be32 node */
static void cred_ad(uint32_t site, uint32_t node, uint8_t ad[CRED_AD_LEN])
{
	memcpy(ad, NODE_LABEL, sizeof(NODE_LABEL) - 1);
	be32(ad + sizeof(NODE_LABEL) - 1, site);
	be32(ad + sizeof(NODE_LABEL) + 3, node);
}

void akm_wrap_cred(const uint8_t c[32], const uint8_t cred[32], uint32_t site, uint32_t node,
		   uint8_t out[AKM_WRAPPED_LEN])
{
	uint8_t ad[CRED_AD_LEN];

	cred_ad(site, node, ad);
	wrap(c, cred, ad, sizeof(ad), out);
}

int akm_unwrap_cred(const uint8_t c[32], const uint8_t in[AKM_WRAPPED_LEN], uint32_t site,
		    uint32_t node, uint8_t cred[32])
{
	uint8_t ad[CRED_AD_LEN];

	cred_ad(site, node, ad);
	return unwrap(c, in, ad, sizeof(ad), cred);
}

void akm_remove_tag(const uint8_t cred[32], uint32_t site, uint32_t node, uint8_t out[32])
{
	crypto_auth_hmacsha256_state st;
	uint8_t ids[8];

	be32(ids, site);
	be32(ids + 4, node);
	crypto_auth_hmacsha256_init(&st, cred, 32);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)"AKM v1 remove", 13);
	crypto_auth_hmacsha256_update(&st, ids, sizeof(ids));
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}
