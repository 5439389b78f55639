// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The words of admin commands, shared by akm-nmmd and akm-rootd.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "libakm.h"
#include "words.h"

static int bad(struct akm_words *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(struct akm_words *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->err, sizeof(w->err), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

const char *akm_words_next(struct akm_words *w)
{
	return w->pos < w->argc ? w->argv[w->pos++] : NULL;
}

bool akm_addrs_has(const char *addrs, const char *addr)
{
	size_t len = strlen(addr);
	const char *p;

	if (!len)
		return false;
	for (p = addrs; (p = strstr(p, addr)); p++)
		if ((p == addrs || p[-1] == ' ') && (!p[len] || p[len] == ' '))
			return true;
	return false;
}

int akm_words_addrs(struct akm_words *w, char addrs[AKM_ADDRS_TEXT_MAX])
{
	char buf[AKM_ADDRSTRLEN];
	unsigned int naddrs = 0;
	const char *kw, *v;
	size_t len = 0;

	*addrs = 0;
	while ((kw = akm_words_next(w))) {
		if (strcmp(kw, "addr"))
			return bad(w, "unknown argument '%s'", kw);
		v = akm_words_next(w);
		if (!v)
			return bad(w, "missing value after 'addr'");
		if (naddrs == AKM_ADDRS_MAX)
			return bad(w, "more than %d addresses", AKM_ADDRS_MAX);
		if (akm_addr_canon(v, buf, sizeof(buf)))
			return bad(w, "invalid address '%s'", v);
		if (akm_addrs_has(addrs, buf))
			return bad(w, "address '%s' given twice", v);
		len += snprintf(addrs + len, AKM_ADDRS_TEXT_MAX - len, "%s%s", naddrs ? " " : "",
				buf);
		naddrs++;
	}
	return naddrs ? 0 : bad(w, "missing 'addr'");
}

int akm_words_asr(struct akm_words *w, struct akm_asr_opts *o)
{
	bool have_policy = false, have_grace = false;
	const char *kw, *v;

	*o = (struct akm_asr_opts){ .alg = -1, .policy = AKM_POLICY_DROP,
				    .grace = AKM_GRACE_DEFAULT, .name = "" };
	while ((kw = akm_words_next(w))) {
		v = akm_words_next(w);
		if (!v)
			return bad(w, "missing value after '%s'", kw);
		if (!strcmp(kw, "alg") && o->alg < 0) {
			o->alg = akm_enum_value(AKM_ENUM_ALG, v);
			if (o->alg < 0)
				return bad(w, "invalid alg '%s' (one of: hmac-sha256 "
					   "chacha20-poly1305)", v);
		} else if (!strcmp(kw, "name") && !*o->name) {
			if (!akm_name_ok(v))
				return bad(w, "invalid name '%s'", v);
			o->name = v;
		} else if (!strcmp(kw, "policy") && !have_policy) {
			o->policy = akm_enum_value(AKM_ENUM_POLICY, v);
			if (o->policy < 0)
				return bad(w, "invalid policy '%s' (one of: drop accept)", v);
			have_policy = true;
		} else if (!strcmp(kw, "grace") && !have_grace) {
			if (akm_parse_u32(v, &o->grace) || o->grace > AKM_GRACE_MAX)
				return bad(w, "invalid grace '%s' (0 to %u)", v, AKM_GRACE_MAX);
			have_grace = true;
		} else {
			return bad(w, "unknown or repeated argument '%s'", kw);
		}
	}
	return o->alg < 0 ? bad(w, "missing 'alg'") : 0;
}
