// SPDX-License-Identifier: GPL-2.0
/*
 * AKM and the kernel keyring: the per-namespace keyring, keys of type
 * "akm" that can be described but never read, and what happens when
 * somebody revokes or unlinks such a key behind the module's back.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <keyutils.h>

#include "kselftest_harness.h"
#include "akm_test_lib.h"

FIXTURE(keyring) {
	struct akm_nl nl;
	struct akm_node_info node;
	uint8_t k[AKM_KEY_LEN];
};

FIXTURE_SETUP(keyring)
{
	ASSERT_EQ(0, akm_new_netns());
	ASSERT_EQ(0, akm_nl_open(&self->nl)) {
		TH_LOG("cannot open the akm generic netlink family (is akm.ko loaded?)");
	}
	akm_material(self->k, AKM_KEY_LEN, 4242);
	AKM_ASSERT_OK(&self->nl, akm_node_get(&self->nl, &self->node));
	ASSERT_NE(0, self->node.keyring);
	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 7, AKM_ALG_HMAC_SHA256, "kr", -1));
}

FIXTURE_TEARDOWN(keyring)
{
	akm_nl_close(&self->nl);
}

/* Install epoch and return its serial (0 on failure). */
static int32_t install(struct akm_nl *nl, uint32_t asr, uint32_t epoch, const uint8_t *k)
{
	struct akm_asr_info a;
	const struct akm_key_info *ki;

	if (akm_key_install(nl, asr, epoch, k, AKM_KEY_LEN))
		return 0;
	if (akm_asr_get(nl, asr, &a))
		return 0;
	ki = akm_find_key(&a, epoch);
	return ki && ki->has_serial ? ki->serial : 0;
}

/* Split "type;uid;gid;perm;description". */
static int describe(int32_t serial, char *type, size_t tlen, char *desc, size_t dlen)
{
	char buf[512], *p, *f[5];
	int i;

	if (keyctl_describe(serial, buf, sizeof(buf)) < 0)
		return -errno;
	p = buf;
	for (i = 0; i < 4; i++) {
		f[i] = p;
		p = strchr(p, ';');
		if (!p)
			return -EPROTO;
		*p++ = '\0';
	}
	f[4] = p;
	snprintf(type, tlen, "%s", f[0]);
	snprintf(desc, dlen, "%s", f[4]);
	return 0;
}

/* Poll ASR_GET until epoch is gone (or timeout_ms passes). */
static bool epoch_disappears(struct akm_nl *nl, uint32_t asr, uint32_t epoch, int timeout_ms)
{
	long long end = akm_now_ms() + timeout_ms;
	struct akm_asr_info a;

	do {
		if (akm_asr_get(nl, asr, &a))
			return false;
		if (!akm_find_key(&a, epoch))
			return true;
		usleep(20000);
	} while (akm_now_ms() < end);
	return false;
}

/* The namespace's keyring is a "keyring" named akm:net:<netns inode>. */
TEST_F(keyring, node_keyring)
{
	char type[64], desc[256], want[64];

	ASSERT_EQ(0, describe(self->node.keyring, type, sizeof(type), desc, sizeof(desc)));
	EXPECT_STREQ("keyring", type);
	snprintf(want, sizeof(want), "akm:net:%lu", akm_netns_inode());
	EXPECT_STREQ(want, desc);
}

/* KEY nest carries the serial of an "akm" key "asr:<id>:epoch:<n>". */
TEST_F(keyring, key_describe)
{
	char type[64], desc[256];
	int32_t serial;

	serial = install(&self->nl, 7, 3, self->k);
	ASSERT_GT(serial, 0);
	ASSERT_EQ(0, describe(serial, type, sizeof(type), desc, sizeof(desc)));
	EXPECT_STREQ("akm", type);
	EXPECT_STREQ("asr:7:epoch:3", desc);
	EXPECT_TRUE(akm_keyring_contains(self->node.keyring, serial));
}

/* The material can never be read back. */
TEST_F(keyring, key_read_fails)
{
	char buf[256];
	int32_t serial;
	long n;

	serial = install(&self->nl, 7, 1, self->k);
	ASSERT_GT(serial, 0);
	n = keyctl_read(serial, buf, sizeof(buf));
	EXPECT_LT(n, 0) {
		TH_LOG("keyctl_read returned %ld bytes", n);
	}
	/* and the keyring listing holds serials only */
	EXPECT_TRUE(akm_keyring_contains(self->node.keyring, serial));
}

TEST_F(keyring, proc_keys_line)
{
	char line[512], want[64];
	int32_t serial;

	serial = install(&self->nl, 7, 2, self->k);
	ASSERT_GT(serial, 0);
	ASSERT_TRUE(akm_proc_keys_line(serial, line, sizeof(line))) {
		TH_LOG("serial %08x not in /proc/keys", serial);
	}
	EXPECT_NE(NULL, strstr(line, " akm "));
	snprintf(want, sizeof(want), "asr:7:epoch:2");
	EXPECT_NE(NULL, strstr(line, want)) {
		TH_LOG("line: %s", line);
	}
	/* nothing that looks like material */
	EXPECT_EQ(NULL, memmem(line, strlen(line), self->k, 4));
	/* the keyring is there too */
	EXPECT_TRUE(akm_proc_keys_line(self->node.keyring, line, sizeof(line)));
}

static void revoke_or_unlink(struct __test_metadata *_metadata, FIXTURE_DATA(keyring) *self,
			     bool unlink)
{
	struct akm_nl ev;
	struct akm_event e;
	struct akm_asr_info a;
	int32_t s1, s2;

	ASSERT_EQ(0, akm_events_open(&ev));
	s1 = install(&self->nl, 7, 1, self->k);
	ASSERT_GT(s1, 0);
	AKM_ASSERT_OK(&self->nl, akm_key_activate(&self->nl, 7, 1));
	s2 = install(&self->nl, 7, 2, self->k);
	ASSERT_GT(s2, 0);
	akm_events_drain(&ev);

	if (unlink) {
		ASSERT_EQ(0, keyctl_unlink(s2, self->node.keyring));
	} else {
		ASSERT_EQ(0, keyctl_revoke(s2));
	}
	EXPECT_TRUE(epoch_disappears(&self->nl, 7, 2, 2000)) {
		TH_LOG("epoch 2 still in ASR_GET 2 s after %s", unlink ? "unlink" : "revoke");
	}
	ASSERT_EQ(0, akm_event_wait(&ev, AKM_CMD_KEY_REVOKED, &e, 2000));
	EXPECT_TRUE(e.has_asr_id);
	EXPECT_EQ(7, e.asr_id);
	EXPECT_TRUE(e.has_epoch);
	EXPECT_EQ(2, e.epoch);
	/* the other epoch is unaffected */
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 7, &a));
	ASSERT_EQ(1, a.nkeys);
	EXPECT_EQ(1, a.keys[0].epoch);
	EXPECT_EQ(AKM_KEY_CURRENT, a.keys[0].state);
	/* a revoked key may stay linked until the keyring gc; an unlinked one may not */
	if (unlink) {
		EXPECT_TRUE(akm_keyring_drops(self->node.keyring, s2, 2000));
	}
	EXPECT_TRUE(akm_keyring_contains(self->node.keyring, s1));
	/* a new next epoch can be installed */
	AKM_EXPECT_OK(&self->nl, akm_key_install(&self->nl, 7, 3, self->k, AKM_KEY_LEN));
	akm_nl_close(&ev);
}

TEST_F(keyring, revoke_removes_epoch)
{
	revoke_or_unlink(_metadata, self, false);
}

TEST_F(keyring, unlink_removes_epoch)
{
	revoke_or_unlink(_metadata, self, true);
}

/* Revoking the current key takes the current epoch away too. */
TEST_F(keyring, revoke_current)
{
	struct akm_nl ev;
	struct akm_event e;
	int32_t s1;

	ASSERT_EQ(0, akm_events_open(&ev));
	s1 = install(&self->nl, 7, 1, self->k);
	ASSERT_GT(s1, 0);
	AKM_ASSERT_OK(&self->nl, akm_key_activate(&self->nl, 7, 1));
	akm_events_drain(&ev);
	ASSERT_EQ(0, keyctl_revoke(s1));
	EXPECT_TRUE(epoch_disappears(&self->nl, 7, 1, 2000));
	ASSERT_EQ(0, akm_event_wait(&ev, AKM_CMD_KEY_REVOKED, &e, 2000));
	EXPECT_EQ(7, e.asr_id);
	EXPECT_EQ(1, e.epoch);
	akm_nl_close(&ev);
}

/* KEY_RETIRE unlinks the key from the namespace keyring. */
TEST_F(keyring, retire_unlinks_key)
{
	int32_t s1, s2;

	s1 = install(&self->nl, 7, 1, self->k);
	ASSERT_GT(s1, 0);
	AKM_ASSERT_OK(&self->nl, akm_key_activate(&self->nl, 7, 1));
	s2 = install(&self->nl, 7, 2, self->k);
	ASSERT_GT(s2, 0);
	EXPECT_NE(s1, s2);
	AKM_ASSERT_OK(&self->nl, akm_key_retire(&self->nl, 7, 1));
	EXPECT_TRUE(akm_keyring_drops(self->node.keyring, s1, 2000));
	EXPECT_TRUE(akm_keyring_contains(self->node.keyring, s2));
}

/* ASR_DEL unlinks every key of the ASR, and only those. */
TEST_F(keyring, asr_del_unlinks_keys)
{
	int32_t s1, s2, s3;

	AKM_ASSERT_OK(&self->nl, akm_asr_new(&self->nl, 8, AKM_ALG_HMAC_SHA256, NULL, -1));
	s1 = install(&self->nl, 7, 1, self->k);
	ASSERT_GT(s1, 0);
	AKM_ASSERT_OK(&self->nl, akm_key_activate(&self->nl, 7, 1));
	s2 = install(&self->nl, 7, 2, self->k);
	s3 = install(&self->nl, 8, 1, self->k);
	ASSERT_GT(s2, 0);
	ASSERT_GT(s3, 0);
	AKM_ASSERT_OK(&self->nl, akm_asr_del(&self->nl, 7));
	EXPECT_TRUE(akm_keyring_drops(self->node.keyring, s1, 2000));
	EXPECT_TRUE(akm_keyring_drops(self->node.keyring, s2, 2000));
	EXPECT_TRUE(akm_keyring_contains(self->node.keyring, s3));
}

/* Each network namespace has a keyring of its own. */
TEST_F(keyring, per_netns_keyring)
{
	struct akm_nl other;
	struct akm_node_info n;
	char type[64], desc[256], want[64];
	int32_t s_here, s_there;

	s_here = install(&self->nl, 7, 1, self->k);
	ASSERT_GT(s_here, 0);
	ASSERT_EQ(0, akm_new_netns());
	ASSERT_EQ(0, akm_nl_open(&other));
	AKM_ASSERT_OK(&other, akm_node_get(&other, &n));
	EXPECT_NE(self->node.keyring, n.keyring);
	ASSERT_EQ(0, describe(n.keyring, type, sizeof(type), desc, sizeof(desc)));
	snprintf(want, sizeof(want), "akm:net:%lu", akm_netns_inode());
	EXPECT_STREQ(want, desc);
	AKM_ASSERT_OK(&other, akm_asr_new(&other, 7, AKM_ALG_HMAC_SHA256, NULL, -1));
	s_there = install(&other, 7, 1, self->k);
	ASSERT_GT(s_there, 0);
	EXPECT_NE(s_here, s_there);
	EXPECT_TRUE(akm_keyring_contains(n.keyring, s_there));
	EXPECT_TRUE(akm_keyring_drops(n.keyring, s_here, 2000));
	EXPECT_TRUE(akm_keyring_drops(self->node.keyring, s_there, 2000));
	akm_nl_close(&other);
}

/* A user cannot plant a key of type "akm" into the namespace keyring. */
TEST_F(keyring, user_cannot_add_akm_key)
{
	struct akm_asr_info a;
	key_serial_t k;

	k = add_key("akm", "asr:7:epoch:9", self->k, AKM_KEY_LEN, self->node.keyring);
	if (k >= 0)
		TH_LOG("add_key(\"akm\") made key %d", k);
	EXPECT_LT(k, 0);
	AKM_ASSERT_OK(&self->nl, akm_asr_get(&self->nl, 7, &a));
	EXPECT_EQ(0, a.nkeys);
}

TEST_HARNESS_MAIN
