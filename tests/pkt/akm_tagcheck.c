// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * akm_tagcheck: recompute the tag of captured AKM packets in user space with
 * libsodium, independently of the kernel, exactly as kernel/crypto.c and
 * kernel/wire.h define it:
 *
 *   K_mac = HMAC-SHA256(K_epoch, "AKM v1 mac" || be32 asr || be32 epoch || u8 alg)
 *   M     = saddr[16] || daddr[16] (IPv4 as ::ffff:a.b.c.d) || be32 seq >> 32 ||
 *           be32 payload length || the first 20 bytes of the AKM header ||
 *           the payload
 *   hmac-sha256:       tag = HMAC-SHA256(K_mac, M)[0..15]
 *   chacha20-poly1305: tag = AEAD tag of an empty message, AD = M, key K_mac,
 *                      nonce = be32 sender || be64 seq
 *   seq   = the 48-bit sequence number: header bytes 2-3 (bits 32-47) and
 *           16-19 (bits 0-31)
 *
 * Usage:
 *   akm_tagcheck -k KEYFILE -A ASR -e EPOCH -a ALG [-F]
 *                (-x HEX | -r PCAP)
 *   akm_tagcheck --selftest
 *
 * KEYFILE holds the 32-byte epoch key (raw, or 64 hex digits). -x takes one
 * IP packet (IPv4 or IPv6, starting at the IP header) in hex; -r a pcap file
 * (Ethernet, raw IP, Linux cooked v1/v2 link types), whose AKM packets are
 * all checked. -F additionally flips, one at a time, every byte the tag
 * covers (addresses, AKM header, tag, payload) and requires that none of
 * these modified packets verifies. The ASR id and epoch given must match the
 * packet's header.
 *
 * Output: one line per packet; exit status 0 if every packet verified (and
 * no flipped copy did), 1 if one did not, 2 for usage or input errors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define AKM_HLEN	36
#define AKM_HLEN_NOTAG	20
#define AKM_TAG_LEN	16
#define AKM_KEY_LEN	32
#define AKM_PSEUDO_LEN	60
#define AKM_KDF_LABEL	"AKM v1 mac"

enum { ALG_HMAC = 1, ALG_CHACHA = 2 };

static unsigned int akm_proto = 253;

struct pkt {
	const uint8_t *ip;	/* IP header */
	size_t len;		/* whole IP packet */
	size_t nhlen;		/* IP header length */
	int v6;
};

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void kdf(const uint8_t *k_epoch, uint32_t asr, uint32_t epoch,
		uint8_t alg, uint8_t *k_mac)
{
	uint8_t info[sizeof(AKM_KDF_LABEL) - 1 + 9];
	uint8_t *p = info + sizeof(AKM_KDF_LABEL) - 1;

	memcpy(info, AKM_KDF_LABEL, sizeof(AKM_KDF_LABEL) - 1);
	put_be32(p, asr);
	put_be32(p + 4, epoch);
	p[8] = alg;
	crypto_auth_hmacsha256(k_mac, info, sizeof(info), k_epoch);
}

/* The tag over M = pseudo header || payload. */
static void tag_of(const uint8_t *k_mac, int alg, const uint8_t *m, size_t mlen,
		   uint32_t sender, uint64_t seq, uint8_t *tag)
{
	if (alg == ALG_HMAC) {
		uint8_t full[crypto_auth_hmacsha256_BYTES];
		crypto_auth_hmacsha256_state st;

		crypto_auth_hmacsha256_init(&st, k_mac, AKM_KEY_LEN);
		crypto_auth_hmacsha256_update(&st, m, mlen);
		crypto_auth_hmacsha256_final(&st, full);
		memcpy(tag, full, AKM_TAG_LEN);
	} else {
		uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];
		unsigned long long maclen;
		uint8_t c[1];	/* an empty message: no ciphertext is written */

		put_be32(nonce, sender);
		put_be32(nonce + 4, seq >> 32);
		put_be32(nonce + 8, (uint32_t)seq);
		crypto_aead_chacha20poly1305_ietf_encrypt_detached(
			c, tag, &maclen, (const uint8_t *)"", 0, m, mlen, NULL,
			nonce, k_mac);
	}
}

/* Parse the IP header; 0 if it is an AKM packet we can check. */
static int parse(struct pkt *p, const uint8_t *ip, size_t len, const char **why)
{
	p->ip = ip;
	p->len = len;
	if (len < 20) {
		*why = "shorter than an IP header";
		return -1;
	}
	if ((ip[0] >> 4) == 4) {
		size_t tot = (size_t)ip[2] << 8 | ip[3];

		p->v6 = 0;
		p->nhlen = (ip[0] & 15) * 4;
		if (p->nhlen < 20 || tot < p->nhlen || tot > len) {
			*why = "bad IPv4 header";
			return -1;
		}
		if (ip[9] != akm_proto) {
			*why = "not an AKM packet";
			return 1;
		}
		if ((ip[6] & 0x3f) || ip[7]) {
			*why = "an IPv4 fragment";
			return -1;
		}
		p->len = tot;
	} else if ((ip[0] >> 4) == 6) {
		size_t plen;

		if (len < 40) {
			*why = "shorter than an IPv6 header";
			return -1;
		}
		plen = (size_t)ip[4] << 8 | ip[5];
		p->v6 = 1;
		p->nhlen = 40;
		if (40 + plen > len) {
			*why = "truncated IPv6 packet";
			return -1;
		}
		if (ip[6] != akm_proto) {
			*why = "not an AKM packet (or has extension headers)";
			return 1;
		}
		p->len = 40 + plen;
	} else {
		*why = "not IPv4 or IPv6";
		return -1;
	}
	if (p->len < p->nhlen + AKM_HLEN) {
		*why = "AKM header truncated";
		return -1;
	}
	return 0;
}

/* Whether the tag on the wire is the one recomputed from @ip. */
static int verify(const uint8_t *ip, const struct pkt *p, const uint8_t *k_mac,
		  int alg, uint8_t *calc)
{
	const uint8_t *h = ip + p->nhlen;
	size_t plen = p->len - p->nhlen - AKM_HLEN;
	uint8_t *m = malloc(AKM_PSEUDO_LEN + plen + 1);
	uint64_t seq;
	int ok;

	if (!m) {
		perror("malloc");
		exit(2);
	}
	memset(m, 0, 32);
	if (p->v6) {
		memcpy(m, ip + 8, 16);
		memcpy(m + 16, ip + 24, 16);
	} else {
		m[10] = m[11] = 0xff;
		memcpy(m + 12, ip + 12, 4);
		m[26] = m[27] = 0xff;
		memcpy(m + 28, ip + 16, 4);
	}
	seq = (uint64_t)(h[2] << 8 | h[3]) << 32 | get_be32(h + 16);
	put_be32(m + 32, (uint32_t)(seq >> 32));
	put_be32(m + 36, (uint32_t)plen);
	memcpy(m + 40, h, AKM_HLEN_NOTAG);
	memcpy(m + AKM_PSEUDO_LEN, h + AKM_HLEN, plen);
	tag_of(k_mac, alg, m, AKM_PSEUDO_LEN + plen, get_be32(h + 12), seq, calc);
	ok = !sodium_memcmp(calc, h + AKM_HLEN_NOTAG, AKM_TAG_LEN);
	free(m);
	return ok;
}

static void hex(const uint8_t *b, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

struct opts {
	uint8_t key[AKM_KEY_LEN];
	uint32_t asr, epoch;
	int alg, flip;
};

/* Check one packet; returns 0 if everything was as it must be. */
static int check(const struct opts *o, const uint8_t *ip, size_t len, int idx)
{
	uint8_t k_mac[AKM_KEY_LEN], calc[AKM_TAG_LEN];
	char wire_hex[2 * AKM_TAG_LEN + 1], calc_hex[2 * AKM_TAG_LEN + 1];
	const char *why = NULL;
	struct pkt p;
	const uint8_t *h;
	int r, ok;

	r = parse(&p, ip, len, &why);
	if (r) {
		printf("packet %d: skipped: %s\n", idx, why);
		return r < 0 ? 2 : -1;
	}
	h = ip + p.nhlen;
	if (h[1] != 1) {
		printf("packet %d: bad AKM version %u\n", idx, h[1]);
		return 1;
	}
	if (get_be32(h + 4) != o->asr || get_be32(h + 8) != o->epoch) {
		printf("packet %d: ASR %u epoch %u, expected ASR %u epoch %u\n",
		       idx, get_be32(h + 4), get_be32(h + 8), o->asr, o->epoch);
		return 1;
	}
	kdf(o->key, o->asr, o->epoch, o->alg, k_mac);
	ok = verify(ip, &p, k_mac, o->alg, calc);
	hex(h + AKM_HLEN_NOTAG, AKM_TAG_LEN, wire_hex);
	hex(calc, AKM_TAG_LEN, calc_hex);
	printf("packet %d: IPv%d asr %u epoch %u sender %u seq %" PRIu64 " next %u len %zu: wire tag %s, computed %s: %s\n",
	       idx, p.v6 ? 6 : 4, o->asr, o->epoch, get_be32(h + 12),
	       (uint64_t)(h[2] << 8 | h[3]) << 32 | get_be32(h + 16), h[0],
	       p.len - p.nhlen - AKM_HLEN, wire_hex,
	       calc_hex, ok ? "MATCH" : "MISMATCH");
	if (!ok)
		return 1;

	if (o->flip) {
		/* every covered byte: addresses, AKM header incl. tag, payload */
		uint8_t *copy = malloc(p.len);
		size_t off, n = 0, bad = 0;
		size_t a0 = p.v6 ? 8 : 12, a1 = p.v6 ? 40 : 20;

		if (!copy) {
			perror("malloc");
			exit(2);
		}
		for (off = a0; off < p.len; off++) {
			if (off >= a1 && off < p.nhlen)
				continue;	/* IPv4 options */
			memcpy(copy, ip, p.len);
			copy[off] ^= 0x01;
			n++;
			if (verify(copy, &p, k_mac, o->alg, calc)) {
				printf("packet %d: flipping byte %zu still verifies\n",
				       idx, off);
				bad++;
			}
		}
		free(copy);
		printf("packet %d: %zu single-byte flips, %zu still verified: %s\n",
		       idx, n, bad, bad ? "MISMATCH EXPECTED BUT MATCHED" : "all rejected");
		if (bad)
			return 1;
	}
	return 0;
}

static int read_key(const char *path, uint8_t *key)
{
	uint8_t buf[130];
	size_t n, bin;
	FILE *f = fopen(path, "rb");

	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (n == AKM_KEY_LEN) {
		memcpy(key, buf, AKM_KEY_LEN);
		return 0;
	}
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (n == 2 * AKM_KEY_LEN &&
	    !sodium_hex2bin(key, AKM_KEY_LEN, (const char *)buf, n, NULL, &bin,
			    NULL) && bin == AKM_KEY_LEN)
		return 0;
	fprintf(stderr, "%s: not a 32-byte key (raw or 64 hex digits)\n", path);
	return -1;
}

static uint16_t rd16(const uint8_t *p, int swap)
{
	return swap ? (uint16_t)(p[1] << 8 | p[0]) : (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p, int swap)
{
	return swap ? (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 |
		      (uint32_t)p[1] << 8 | p[0] : get_be32(p);
}

/* Check every AKM packet of a pcap file. */
static int check_pcap(const struct opts *o, const char *path)
{
	uint8_t gh[24], rh[16], *buf = NULL;
	int swap, idx = 0, checked = 0, rc = 0;
	uint32_t linktype;
	FILE *f = fopen(path, "rb");

	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return 2;
	}
	if (fread(gh, 1, sizeof(gh), f) != sizeof(gh))
		goto bad;
	if (get_be32(gh) == 0xa1b2c3d4 || get_be32(gh) == 0xa1b23c4d)
		swap = 0;
	else if (get_be32(gh) == 0xd4c3b2a1 || get_be32(gh) == 0x4d3cb2a1)
		swap = 1;
	else
		goto bad;
	linktype = rd32(gh + 20, swap) & 0x0fffffff;
	for (;;) {
		uint32_t caplen;
		size_t off = 0;
		uint16_t et;
		int r;

		if (fread(rh, 1, sizeof(rh), f) != sizeof(rh))
			break;
		caplen = rd32(rh + 8, swap);
		if (caplen > 262144)
			goto bad;
		free(buf);
		buf = malloc(caplen ? caplen : 1);
		if (!buf || fread(buf, 1, caplen, f) != caplen)
			goto bad;
		idx++;
		switch (linktype) {
		case 1:		/* Ethernet */
			if (caplen < 14)
				continue;
			et = rd16(buf + 12, 0);
			off = 14;
			if (et == 0x8100 && caplen >= 18) {
				et = rd16(buf + 16, 0);
				off = 18;
			}
			if (et != 0x0800 && et != 0x86dd)
				continue;
			break;
		case 12: case 101: case 228: case 229:	/* raw IP */
			break;
		case 113:	/* Linux cooked v1 */
			off = 16;
			break;
		case 276:	/* Linux cooked v2 */
			off = 20;
			break;
		default:
			fprintf(stderr, "%s: link type %u not supported\n",
				path, linktype);
			free(buf);
			fclose(f);
			return 2;
		}
		if (caplen < off)
			continue;
		r = check(o, buf + off, caplen - off, idx);
		if (r < 0)
			continue;
		checked++;
		if (r > rc)
			rc = r;
	}
	free(buf);
	fclose(f);
	if (!checked) {
		printf("%s: no AKM packet found\n", path);
		return 2;
	}
	printf("%s: %d AKM packet(s) checked: %s\n", path, checked,
	       rc ? "FAILED" : "all tags match");
	return rc;
bad:
	fprintf(stderr, "%s: not a readable pcap file\n", path);
	free(buf);
	fclose(f);
	return 2;
}

/*
 * The known answers of kernel/crypto.c (akm_crypto_selftest), recomputed
 * here: the kernel's constants say they came from libsodium, this proves it.
 */
static int selftest(void)
{
	static const uint8_t kdf_expect[32] = {
		0x2b, 0xae, 0xba, 0xa7, 0xdd, 0xd9, 0x16, 0x90,
		0x92, 0x81, 0xaa, 0xf1, 0xe3, 0x63, 0xda, 0x65,
		0xb3, 0x41, 0x92, 0x42, 0xab, 0x81, 0x83, 0x7f,
		0xd2, 0x5f, 0xff, 0x24, 0xd7, 0x8b, 0x50, 0x85,
	};
	static const uint8_t hmac_expect[16] = {
		0xaa, 0x8e, 0xe2, 0x41, 0x3e, 0x96, 0x6d, 0xc2,
		0x3a, 0x77, 0x67, 0x8c, 0xef, 0x05, 0x31, 0x90,
	};
	static const uint8_t poly_expect[16] = {
		0xcc, 0xe8, 0xb1, 0x91, 0x1e, 0xc0, 0x7b, 0x8c,
		0x67, 0x9d, 0x1f, 0x94, 0x0f, 0x6a, 0xa1, 0x3f,
	};
	static const uint8_t hdr[20] = {
		17, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1,
	};
	uint8_t key[32], k_mac[32], m[AKM_PSEUDO_LEN + 7], tag[16];
	int fails = 0, i;

	memset(key, 0x42, sizeof(key));
	kdf(key, 1, 2, ALG_HMAC, k_mac);
	i = !memcmp(k_mac, kdf_expect, 32);
	printf("%s 1 KDF known answer (K=0x42*32, ASR 1, epoch 2, hmac-sha256)\n",
	       i ? "ok" : "not ok");
	fails += !i;

	for (i = 0; i < 32; i++)
		k_mac[i] = i;
	memset(m, 0, sizeof(m));
	m[10] = m[11] = 0xff;
	m[12] = 10, m[15] = 1;
	m[26] = m[27] = 0xff;
	m[28] = 10, m[31] = 2;
	put_be32(m + 36, 7);
	memcpy(m + 40, hdr, sizeof(hdr));
	memcpy(m + AKM_PSEUDO_LEN, "payload", 7);

	tag_of(k_mac, ALG_HMAC, m, sizeof(m), 1, 1, tag);
	i = !memcmp(tag, hmac_expect, 16);
	printf("%s 2 hmac-sha256 tag known answer\n", i ? "ok" : "not ok");
	fails += !i;
	tag_of(k_mac, ALG_CHACHA, m, sizeof(m), 1, 1, tag);
	i = !memcmp(tag, poly_expect, 16);
	printf("%s 3 chacha20-poly1305 tag known answer\n", i ? "ok" : "not ok");
	fails += !i;
	return fails ? 1 : 0;
}

static void usage(void)
{
	fputs("usage: akm_tagcheck -k KEYFILE -A ASR -e EPOCH -a ALG [-p PROTO] [-F] (-x HEX | -r PCAP)\n"
	      "       akm_tagcheck --selftest\n"
	      "ALG: hmac-sha256 | chacha20-poly1305\n", stderr);
	exit(2);
}

static uint32_t num(const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || !*s || *end || v > 0xffffffffUL)
		usage();
	return v;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "selftest", no_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *keyfile = NULL, *hexpkt = NULL, *pcap = NULL;
	struct opts o = { .alg = 0 };
	int c, have_asr = 0, have_epoch = 0;

	if (sodium_init() < 0) {
		fputs("sodium_init failed\n", stderr);
		return 2;
	}
	while ((c = getopt_long(argc, argv, "k:A:e:a:p:Fx:r:h", lo, NULL)) != -1) {
		switch (c) {
		case 'T':
			return selftest();
		case 'k':
			keyfile = optarg;
			break;
		case 'A':
			o.asr = num(optarg);
			have_asr = 1;
			break;
		case 'e':
			o.epoch = num(optarg);
			have_epoch = 1;
			break;
		case 'a':
			if (!strcmp(optarg, "hmac-sha256"))
				o.alg = ALG_HMAC;
			else if (!strcmp(optarg, "chacha20-poly1305"))
				o.alg = ALG_CHACHA;
			else
				usage();
			break;
		case 'p':
			akm_proto = num(optarg);
			break;
		case 'F':
			o.flip = 1;
			break;
		case 'x':
			hexpkt = optarg;
			break;
		case 'r':
			pcap = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || !keyfile || !have_asr || !have_epoch || !o.alg ||
	    !!hexpkt == !!pcap)
		usage();
	if (read_key(keyfile, o.key))
		return 2;
	if (hexpkt) {
		size_t n = strlen(hexpkt) / 2, bin;
		uint8_t *ip = malloc(n + 1);
		int r;

		if (!ip || sodium_hex2bin(ip, n, hexpkt, strlen(hexpkt), ": ",
					  &bin, NULL)) {
			fputs("-x: not a hex string\n", stderr);
			return 2;
		}
		r = check(&o, ip, bin, 1);
		free(ip);
		sodium_memzero(o.key, sizeof(o.key));
		return r < 0 ? 2 : r;
	}
	c = check_pcap(&o, pcap);
	sodium_memzero(o.key, sizeof(o.key));
	return c;
}
