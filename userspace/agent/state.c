// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The state directory (0700, root's):
 *
 *   agent.conf   node id, NMM id and endpoint, where the credential is kept
 *   cred         the credential, 32 raw bytes, 0600 (without --tpm)
 *   cred.tpm     the credential sealed to this machine's TPM (with --tpm)
 *   run.status   what the running daemon does, for 'akm-agent status'
 *
 * Files are replaced atomically (write a temporary file, fsync, rename).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>

#include "agent.h"
#include "bundle.h"
#include "tpm.h"

#define CONF_MAX	4096

int state_path(char *buf, size_t len, const char *dir, const char *name)
{
	return snprintf(buf, len, "%s/%s", dir, name) >= (int)len ? -ENAMETOOLONG : 0;
}

int state_mkdir(const char *dir)
{
	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

/* Read a whole file of at most max bytes; -EFBIG if it is longer. */
int file_read(const char *path, void *buf, size_t max, size_t *len)
{
	size_t got = 0;
	uint8_t extra;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n = got < max ? read(fd, (uint8_t *)buf + got, max - got)
				      : read(fd, &extra, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			break;
		}
		if (!n)
			break;
		if (got == max) {
			err = -EFBIG;
			break;
		}
		got += n;
	}
	close(fd);
	*len = got;
	return err;
}

int conf_load(const char *dir, struct agent_conf *c, char *msg, size_t msglen)
{
	char path[4096], buf[CONF_MAX + 1], key[32], val[128], *line, *save;
	unsigned int seen = 0;
	size_t len;
	int err;

	memset(c, 0, sizeof(*c));
	err = state_path(path, sizeof(path), dir, "agent.conf");
	if (!err)
		err = file_read(path, buf, CONF_MAX, &len);
	if (err) {
		snprintf(msg, msglen, "%s: %s%s", path, strerror(-err),
			 err == -ENOENT ? " (no credential imported: run 'akm-agent import')" : "");
		return err;
	}
	buf[len] = '\0';
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#' || !line[0])
			continue;
		if (sscanf(line, "%31s %127s", key, val) != 2)
			goto bad;
		if (!strcmp(key, "node_id")) {
			err = akm_parse_id(val, &c->node_id);
			seen |= 1;
		} else if (!strcmp(key, "nmm_id")) {
			err = akm_parse_id(val, &c->nmm_id);
			seen |= 2;
		} else if (!strcmp(key, "nmm_addr")) {
			err = akm_addr_parse(val, &c->nmm_addr);
			seen |= 4;
		} else if (!strcmp(key, "nmm_port")) {
			uint32_t port;

			err = akm_parse_id(val, &port);
			if (!err && port > 65535)
				err = -ERANGE;
			c->nmm_port = port;
			seen |= 8;
		} else if (!strcmp(key, "storage")) {
			c->tpm = !strcmp(val, "tpm");
			err = c->tpm || !strcmp(val, "file") ? 0 : -EINVAL;
			seen |= 16;
		} else if (!strcmp(key, "created")) {
			c->created = strtoull(val, NULL, 10);
		}	/* unknown keys: from a newer agent, ignored */
		if (err)
			goto bad;
	}
	if (seen == 31)
		return 0;
bad:
	snprintf(msg, msglen, "%s: damaged (re-import the credential)", path);
	return -EINVAL;
}

int conf_save(const char *dir, const struct agent_conf *c)
{
	char path[4096], addr[AKM_ADDRSTRLEN], buf[CONF_MAX];
	int n, err;

	err = state_path(path, sizeof(path), dir, "agent.conf");
	if (err)
		return err;
	n = snprintf(buf, sizeof(buf),
		     "# akm-agent state, written by 'akm-agent import'\n"
		     "node_id %" PRIu32 "\nnmm_id %" PRIu32 "\nnmm_addr %s\nnmm_port %u\n"
		     "storage %s\ncreated %" PRIu64 "\n",
		     c->node_id, c->nmm_id, akm_addr_str(&c->nmm_addr, addr, sizeof(addr)),
		     c->nmm_port, c->tpm ? "tpm" : "file", c->created);
	return akm_file_write(path, buf, n, 0600);
}

/*
 * The credential from STATE/cred or, unsealed by the TPM, STATE/cred.tpm.
 * Only 'import' and the short-lived child of kern_cred_reinstall() call it.
 */
int cred_load(const char *dir, const struct agent_conf *c, uint8_t *cred,
	      char *msg, size_t msglen)
{
	uint8_t blob[1024];
	char path[4096];
	size_t len = 0;
	int err;

	err = state_path(path, sizeof(path), dir, c->tpm ? "cred.tpm" : "cred");
	if (!err)
		err = file_read(path, c->tpm ? blob : cred, c->tpm ? sizeof(blob) : AKM_CRED_LEN,
				&len);
	if (err) {
		snprintf(msg, msglen, "%s: %s", path, strerror(-err));
		if (!c->tpm)
			sodium_memzero(cred, AKM_CRED_LEN);
		return err;
	}
	if (c->tpm)
		return akm_tpm_unseal(blob, len, cred, AKM_CRED_LEN, msg, msglen);
	if (len != AKM_CRED_LEN) {
		sodium_memzero(cred, AKM_CRED_LEN);
		snprintf(msg, msglen, "%s: not a credential (%zu bytes)", path, len);
		return -EINVAL;
	}
	return 0;
}

/*
 * run.status has one "key value" per line, and the error text may come from
 * the NMM (the MESSAGE of a WELCOME): control characters become spaces so
 * that it cannot add lines.
 */
int status_save(const char *dir, const struct agent_status *st)
{
	char path[4096], buf[1024], error[sizeof(st->error)];
	size_t i;
	int n, err;

	err = state_path(path, sizeof(path), dir, "run.status");
	if (err)
		return err;
	for (i = 0; i < sizeof(error) - 1 && st->error[i]; i++) {
		unsigned char ch = st->error[i];

		error[i] = ch < 0x20 || ch == 0x7f ? ' ' : ch;
	}
	error[i] = '\0';
	n = snprintf(buf, sizeof(buf),
		     "pid %ld\nstate %s\nconn %s\nepoch %" PRIu32 "\nsince %" PRId64 "\n"
		     "last_contact %" PRId64 "\nconnects %" PRIu64 "\nsessions %" PRIu64 "\n"
		     "configs %" PRIu64 "\nevents %" PRIu64 "\nerror %s\n",
		     st->pid, st->state, st->conn, st->epoch, st->since, st->last_contact,
		     st->connects, st->sessions, st->configs, st->events, error);
	return akm_file_write(path, buf, n < (int)sizeof(buf) ? (size_t)n : sizeof(buf) - 1, 0600);
}

int status_load(const char *dir, struct agent_status *st)
{
	char path[4096], buf[1024], *line, *save, *v;
	size_t len;
	int err;

	memset(st, 0, sizeof(*st));
	err = state_path(path, sizeof(path), dir, "run.status");
	if (!err)
		err = file_read(path, buf, sizeof(buf) - 1, &len);
	if (err)
		return err;
	buf[len] = '\0';
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		v = strchr(line, ' ');
		if (!v)
			continue;
		*v++ = '\0';
		if (!strcmp(line, "pid"))
			st->pid = strtol(v, NULL, 10);
		else if (!strcmp(line, "state"))
			snprintf(st->state, sizeof(st->state), "%s", v);
		else if (!strcmp(line, "conn"))
			snprintf(st->conn, sizeof(st->conn), "%s", v);
		else if (!strcmp(line, "epoch"))
			st->epoch = strtoul(v, NULL, 10);
		else if (!strcmp(line, "since"))
			st->since = strtoll(v, NULL, 10);
		else if (!strcmp(line, "last_contact"))
			st->last_contact = strtoll(v, NULL, 10);
		else if (!strcmp(line, "connects"))
			st->connects = strtoull(v, NULL, 10);
		else if (!strcmp(line, "sessions"))
			st->sessions = strtoull(v, NULL, 10);
		else if (!strcmp(line, "configs"))
			st->configs = strtoull(v, NULL, 10);
		else if (!strcmp(line, "events"))
			st->events = strtoull(v, NULL, 10);
		else if (!strcmp(line, "error"))
			snprintf(st->error, sizeof(st->error), "%s", v);
	}
	return 0;
}
