// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The root instance's own kernel, when it listens for sites: its node id
 * (the root id), and per site that reached it a credential (CRED_ID = the
 * site id) and a provisioning ASR 0x80000000 | site id, in bootstrap or
 * session mode (protocol.md). The network namespace is the instance's: a
 * lock (an abstract socket, one per namespace) keeps a second instance
 * out; at start and at a clean stop every provisioning ASR and credential
 * in it goes, and each is made again from the database when its site
 * connects.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "proto.h"
#include "root.h"

static int nl_err(struct root *r, int err, const char *what, uint32_t id)
{
	if (err)
		root_log("kernel: %s %u: %s%s%s", what, id, strerror(-err),
			 *akm_errmsg(r->nl) ? ": " : "", akm_errmsg(r->nl));
	return err;
}

/* Every provisioning ASR and credential of this namespace's kernel. */
static void kern_clear(struct root *r)
{
	struct akm_cred *creds = NULL;
	struct akm_asr *asrs = NULL;
	size_t k = 0, i;

	if (!akm_asr_dump(r->nl, &asrs, &k))
		for (i = 0; i < k; i++)
			if (asrs[i].id >= AKMP_PROV_ASR(0))
				akm_asr_del(r->nl, asrs[i].id);
	free(asrs);
	k = 0;
	if (!akm_cred_dump(r->nl, &creds, &k))
		for (i = 0; i < k; i++)
			akm_cred_del(r->nl, creds[i].id);
	free(creds);
}

/* One instance per network namespace: the abstract socket "akm-rootd" is its. */
static int kern_lock(struct root *r)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX, .sun_path = "\0akm-rootd" };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sun, offsetof(struct sockaddr_un, sun_path) + 10)) {
		int err = -errno;

		close(fd);
		if (err == -EADDRINUSE)
			root_log("kernel: another akm-rootd listens for sites in this network "
				 "namespace: one instance per namespace (or machine)");
		return err;
	}
	r->lock_fd = fd;
	return 0;
}

int kern_open(struct root *r)
{
	struct akm_node self;
	int err;

	err = kern_lock(r);
	if (err)
		return err;
	err = akm_open(&r->nl);
	if (err) {
		root_log("kernel: %s", err == AKM_ENOFAMILY ?
			 "the akm module is not loaded (modprobe akm)" : strerror(-err));
		return err;
	}
	err = akm_node_get(r->nl, &self);
	if (!err && self.node_id && self.node_id != r->id) {
		root_log("kernel: this network namespace's AKM node id is %u, not the root's "
			 "%u: run akm-rootd in a namespace (or on a machine) of its own",
			 self.node_id, r->id);
		err = -EEXIST;
	} else if (!err && !self.node_id) {
		err = nl_err(r, akm_node_set_id(r->nl, r->id), "set node id", r->id);
	}
	if (err) {	/* not ours: nothing of it is cleared at the stop */
		akm_close(r->nl);
		r->nl = NULL;
		return err;
	}
	kern_clear(r);
	r->eps_stale = true;
	return 0;
}

/* A clean stop: the sites' credentials leave the kernel with the instance. */
void kern_close(struct root *r)
{
	if (r->nl) {
		kern_clear(r);
		akm_close(r->nl);
	}
	r->nl = NULL;
	if (r->lock_fd >= 0)
		close(r->lock_fd);
	r->lock_fd = -1;
}

int kern_site_cred(struct root *r, uint32_t site, const uint8_t *sealed, size_t len)
{
	char ad[32];
	uint8_t *c;
	int err;

	c = akm_secure_alloc(32);
	if (!c)
		return -ENOMEM;
	snprintf(ad, sizeof(ad), "cred:%u", site);
	err = akm_unseal(&r->master, ad, sealed, len, c, 32);
	if (err) {
		root_log("site %u: its credential does not open under the master key", site);
	} else {
		akm_cred_del(r->nl, site);
		err = nl_err(r, akm_cred_install(r->nl, site, c), "install credential", site);
	}
	akm_secure_free(c);
	return err;
}

static int prov_make(struct root *r, uint32_t site, const struct akm_addr *addr)
{
	struct akm_member peer = { .node_id = site, .naddrs = 1, .addrs = { *addr } };
	char name[AKM_NAME_MAX];
	int err;

	snprintf(name, sizeof(name), "site-%u", site);
	peer.asr_id = AKMP_PROV_ASR(site);
	err = akm_prov_make(r->nl, peer.asr_id, name, r->id, &peer);
	if (!err)	/* the endpoint the database has now */
		err = akm_member_set(r->nl, &peer, AKM_BIT(AKM_A_MEMBER_ADDRS));
	return nl_err(r, err, "make provisioning ASR", peer.asr_id);
}

/* Bootstrap mode: policy accept, the site's member state provisioned. */
int kern_site_bootstrap(struct root *r, uint32_t site, const struct akm_addr *addr)
{
	int err = prov_make(r, site, addr);

	return err ? err : nl_err(r, akm_prov_bootstrap(r->nl, AKMP_PROV_ASR(site), site),
				  "provisioning ASR to bootstrap mode", AKMP_PROV_ASR(site));
}

/* Session mode with epoch: K(prov, epoch) current, the site active, policy drop. */
int kern_site_session(struct root *r, uint32_t site, const struct akm_addr *addr,
		      uint32_t epoch)
{
	int err = prov_make(r, site, addr);

	if (!err)
		err = nl_err(r, akm_prov_session(r->nl, AKMP_PROV_ASR(site), site, epoch),
			     "provisioning ASR to session mode", AKMP_PROV_ASR(site));
	if (err)
		kern_site_bootstrap(r, site, addr);
	return err;
}

/* The last session epoch of site in this kernel (0: none), or -errno. */
int64_t kern_site_last(struct root *r, uint32_t site, const struct akm_addr *addr)
{
	int64_t last = prov_make(r, site, addr);

	if (last)
		return last;
	last = akm_prov_last(r->nl, AKMP_PROV_ASR(site));
	return last < 0 ? nl_err(r, last, "read provisioning ASR", AKMP_PROV_ASR(site)) : last;
}

void kern_site_del(struct root *r, uint32_t site)
{
	int err = akm_asr_del(r->nl, AKMP_PROV_ASR(site));

	if (err && err != -ENOENT)
		nl_err(r, err, "delete provisioning ASR", AKMP_PROV_ASR(site));
	err = akm_cred_del(r->nl, site);
	if (err && err != -ENOENT)
		nl_err(r, err, "delete credential", site);
}
