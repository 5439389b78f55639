// SPDX-License-Identifier: GPL-2.0 OR MIT
/* JSON escaping and the text/JSON writer. */
#include <stdlib.h>

#include "libakm.h"
#include "tap.h"

static char *buf;
static size_t len;

static FILE *mem(void)
{
	FILE *f = open_memstream(&buf, &len);

	if (!f) {
		perror("open_memstream");
		exit(1);
	}
	return f;
}

/* Close f and compare what was written with want. */
static void check(FILE *f, const char *want, const char *name)
{
	fclose(f);
	is_str(buf, want, name);
	free(buf);
}

static void escape(const char *in, const char *want, const char *name)
{
	FILE *f = mem();

	akm_json_string(f, in);
	check(f, want, name);
}

static void test_escape(void)
{
	escape("", "\"\"", "escape: empty");
	escape("plain", "\"plain\"", "escape: plain");
	escape("a\"b\\c/", "\"a\\\"b\\\\c/\"", "escape: quote and backslash");
	escape("\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"", "escape: short forms");
	escape("\x01\x1f\x7f", "\"\\u0001\\u001f\x7f\"", "escape: other controls");
	escape("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91\"",
	       "escape: valid UTF-8 kept");
	escape("a\xff" "b", "\"a\\ufffdb\"", "escape: invalid byte");
	escape("\xc0\xaf", "\"\\ufffd\\ufffd\"", "escape: overlong form");
	escape("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"", "escape: surrogate");
	escape("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"", "escape: above U+10FFFF");
	escape("\xe2\x82", "\"\\ufffd\\ufffd\"", "escape: truncated sequence");
	escape("\x80x", "\"\\ufffdx\"", "escape: lone continuation byte");
}

/* The same document in each mode. */
static void document(struct akm_out *o)
{
	akm_out_obj_open(o, NULL);
	akm_out_uint(o, "id", "asr", 1);
	akm_out_str(o, "name", "name", "a \"b\"");
	akm_out_int(o, "serial", "serial", -5);
	akm_out_text(o, "\n    ");
	akm_out_arr_open(o, "addrs");
	akm_out_str(o, NULL, "addr", "10.0.0.1");
	akm_out_str(o, NULL, "addr", "fd00::1");
	akm_out_arr_close(o);
	akm_out_arr_open(o, "empty");
	akm_out_arr_close(o);
	akm_out_obj_open(o, "stats");
	akm_out_uint(o, "tx", "tx", UINT64_MAX);
	akm_out_obj_close(o);
	akm_out_text(o, "\n");
	akm_out_obj_close(o);
}

static void test_writer(void)
{
	struct akm_out o;
	FILE *f;

	f = mem();
	akm_out_init(&o, f, AKM_OUT_TEXT);
	ok(!akm_out_json(&o), "text mode is not JSON");
	document(&o);
	check(f, "asr 1 name a \"b\" serial -5\n    addr 10.0.0.1 addr fd00::1 "
	      "tx 18446744073709551615\n", "writer: text");

	f = mem();
	akm_out_init(&o, f, AKM_OUT_JSON);
	document(&o);
	check(f, "{\"id\":1,\"name\":\"a \\\"b\\\"\",\"serial\":-5,"
	      "\"addrs\":[\"10.0.0.1\",\"fd00::1\"],\"empty\":[],"
	      "\"stats\":{\"tx\":18446744073709551615}}\n", "writer: JSON");

	f = mem();
	akm_out_init(&o, f, AKM_OUT_JSON_PRETTY);
	document(&o);
	check(f, "{\n"
	      "  \"id\": 1,\n"
	      "  \"name\": \"a \\\"b\\\"\",\n"
	      "  \"serial\": -5,\n"
	      "  \"addrs\": [\n"
	      "    \"10.0.0.1\",\n"
	      "    \"fd00::1\"\n"
	      "  ],\n"
	      "  \"empty\": [],\n"
	      "  \"stats\": {\n"
	      "    \"tx\": 18446744073709551615\n"
	      "  }\n"
	      "}\n", "writer: pretty JSON");

	f = mem();
	akm_out_init(&o, f, AKM_OUT_JSON);
	akm_out_arr_open(&o, NULL);
	akm_out_obj_open(&o, NULL);
	akm_out_obj_close(&o);
	akm_out_obj_open(&o, NULL);
	akm_out_uint(&o, "a", NULL, 0);
	akm_out_obj_close(&o);
	akm_out_arr_close(&o);
	akm_out_arr_open(&o, NULL);
	akm_out_arr_close(&o);
	check(f, "[{},{\"a\":0}]\n[]\n", "writer: top-level documents, one per line");
}

/* A watch line: time, event, then the pairs; a quoted value may hold spaces. */
static void test_event(void)
{
	FILE *f;

	f = mem();
	akm_out_event(f, AKM_OUT_TEXT, 0, "node-exported", "node 2 file \"/a b/c\" x 1");
	check(f, "1970-01-01T00:00:00Z node-exported node 2 file /a b/c x 1\n",
	      "event: text, a quoted value with a space");
	f = mem();
	akm_out_event(f, AKM_OUT_JSON, 5, "epoch-created", "asr 1 epoch 4 members 2,3");
	check(f, "{\"time\":5,\"event\":\"epoch-created\",\"asr\":1,\"epoch\":4,"
	      "\"members\":\"2,3\"}\n", "event: JSON, numbers as numbers");
	f = mem();
	akm_out_event(f, AKM_OUT_JSON_PRETTY, 5, "database-lost", "");
	check(f, "{\"time\":5,\"event\":\"database-lost\"}\n",
	      "event: JSON for a pretty watcher too, one line, no pairs");
}

void test_out(void)
{
	test_escape();
	test_writer();
	test_event();
}
