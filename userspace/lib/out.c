// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * One printing routine per object serves both outputs: text in iproute2
 * style ("label value" pairs) and JSON (compact or pretty).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto.h"

#define DEPTH_MAX 31

void akm_out_init(struct akm_out *o, FILE *f, enum akm_out_mode mode)
{
	memset(o, 0, sizeof(*o));
	o->f = f;
	o->mode = mode;
}

bool akm_out_json(const struct akm_out *o)
{
	return o->mode != AKM_OUT_TEXT;
}

/* Length of the valid UTF-8 sequence at s, or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	/* No overlong forms, no surrogates, nothing above U+10FFFF. */
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/* A JSON string; bytes that are not valid UTF-8 become U+FFFD. */
void akm_json_string(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t len;

	fputc('"', f);
	while (*s) {
		switch (*s) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\b':
			fputs("\\b", f);
			break;
		case '\f':
			fputs("\\f", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (*s < 0x20) {
				fprintf(f, "\\u%04x", *s);
			} else if (*s < 0x80) {
				fputc(*s, f);
			} else {
				len = utf8_len(s);
				if (len) {
					fwrite(s, 1, len, f);
					s += len;
					continue;
				}
				fputs("\\ufffd", f);
			}
		}
		s++;
	}
	fputc('"', f);
}

static void json_indent(struct akm_out *o, unsigned int depth)
{
	fputc('\n', o->f);
	fprintf(o->f, "%*s", 2 * depth, "");
}

/* Start a JSON element: comma, line break, key. */
static void json_elem(struct akm_out *o, const char *key)
{
	uint32_t bit = 1u << o->depth;

	if (o->depth) {
		if (o->nonempty & bit)
			fputc(',', o->f);
		o->nonempty |= bit;
		if (o->mode == AKM_OUT_JSON_PRETTY)
			json_indent(o, o->depth);
	}
	if (key) {
		akm_json_string(o->f, key);
		fputs(o->mode == AKM_OUT_JSON_PRETTY ? ": " : ":", o->f);
	}
}

/* Start a text item: separator, label. */
static void text_item(struct akm_out *o, const char *label)
{
	if (o->sep)
		fputc(' ', o->f);
	if (label)
		fprintf(o->f, "%s ", label);
	o->sep = true;
}

static void open_container(struct akm_out *o, const char *key, char c)
{
	if (!akm_out_json(o) || o->depth >= DEPTH_MAX)
		return;
	json_elem(o, key);
	fputc(c, o->f);
	o->depth++;
	o->nonempty &= ~(1u << o->depth);
}

static void close_container(struct akm_out *o, char c)
{
	if (!akm_out_json(o) || !o->depth)
		return;
	if (o->mode == AKM_OUT_JSON_PRETTY && (o->nonempty & (1u << o->depth)))
		json_indent(o, o->depth - 1);
	o->depth--;
	fputc(c, o->f);
	if (!o->depth)
		fputc('\n', o->f);
}

void akm_out_obj_open(struct akm_out *o, const char *key)
{
	open_container(o, key, '{');
}

void akm_out_obj_close(struct akm_out *o)
{
	close_container(o, '}');
}

void akm_out_arr_open(struct akm_out *o, const char *key)
{
	open_container(o, key, '[');
}

void akm_out_arr_close(struct akm_out *o)
{
	close_container(o, ']');
}

void akm_out_uint(struct akm_out *o, const char *key, const char *label, uint64_t v)
{
	if (akm_out_json(o))
		json_elem(o, key);
	else
		text_item(o, label);
	fprintf(o->f, "%" PRIu64, v);
}

void akm_out_int(struct akm_out *o, const char *key, const char *label, int64_t v)
{
	if (akm_out_json(o))
		json_elem(o, key);
	else
		text_item(o, label);
	fprintf(o->f, "%" PRId64, v);
}

void akm_out_str(struct akm_out *o, const char *key, const char *label, const char *v)
{
	if (akm_out_json(o)) {
		json_elem(o, key);
		akm_json_string(o->f, v);
	} else {
		text_item(o, label);
		for (; *v; v++)		/* one line, no terminal controls */
			fputc((unsigned char)*v < 0x20 || *v == 0x7f ? '?' : *v, o->f);
	}
}

void akm_out_counter(struct akm_out *o, int64_t *last, bool one_asr, int64_t asr,
		     const char *name, uint64_t value, const char *indent)
{
	if (akm_out_json(o)) {
		akm_out_obj_open(o, NULL);
		akm_out_uint(o, "asr", NULL, asr);
		akm_out_str(o, "name", NULL, name);
		akm_out_uint(o, "value", NULL, value);
		akm_out_obj_close(o);
		return;
	}
	if (asr != *last)
		akm_out_text(o, "\n%s%s", indent, one_asr ? "counters:" : !asr ? "node:" :
			     asr >= AKMP_PROV_ASR(0) ? "provisioning:" : "");
	if (asr != *last && !one_asr && asr && asr < AKMP_PROV_ASR(0))
		akm_out_text(o, "asr %lld:", (long long)asr);
	*last = asr;
	akm_out_text(o, " %s %lld", name, (long long)value);
}

void akm_out_text(struct akm_out *o, const char *fmt, ...)
{
	va_list ap;
	char *text;
	int len;

	if (akm_out_json(o))
		return;
	va_start(ap, fmt);
	len = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (len < 0)
		return;
	fputs(text, o->f);
	if (len)
		o->sep = text[len - 1] != ' ' && text[len - 1] != '\n';
	free(text);
}

void akm_out_event(FILE *f, enum akm_out_mode mode, time_t now, const char *kind,
		   const char *text)
{
	char *copy, *tok, *save, *val;
	struct akm_out o;

	akm_out_init(&o, f, mode == AKM_OUT_TEXT ? AKM_OUT_TEXT : AKM_OUT_JSON);
	akm_out_obj_open(&o, NULL);
	if (akm_out_json(&o)) {
		akm_out_int(&o, "time", NULL, now);
	} else {
		char ts[32];
		struct tm tm;

		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
		akm_out_str(&o, NULL, NULL, ts);
	}
	akm_out_str(&o, "event", NULL, kind);
	/* "key value ...": a value in double quotes may hold spaces */
	copy = strdup(text);
	for (tok = copy ? strtok_r(copy, " ", &save) : NULL; tok;
	     tok = strtok_r(NULL, " ", &save)) {
		uint32_t v;

		val = *save == '"' ? strtok_r(NULL, "\"", &save) : strtok_r(NULL, " ", &save);
		if (!val)
			break;
		if (akm_out_json(&o) && !akm_parse_u32(val, &v))
			akm_out_uint(&o, tok, tok, v);
		else
			akm_out_str(&o, tok, tok, val);
	}
	free(copy);
	akm_out_obj_close(&o);
	if (!akm_out_json(&o))	/* JSON ends its line itself */
		fputc('\n', f);
}
