/*
 * test_cbor.c - the CBOR subset of the fleet provisioning API: RFC 8949
 * appendix A's examples decoded and (for the shortest forms) encoded
 * back byte for byte, and every refusal named.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "cbor.h"

static size_t
unhex(const char *h, uint8_t *out)
{
	size_t n = strlen(h) / 2;

	for (size_t i = 0; i < n; i++)
		sscanf(h + 2 * i, "%2hhx", &out[i]);
	return n;
}

static const struct {
	const char *hex, *json;
	int roundtrip;  /* our encoding is the same bytes */
} vectors[] = {
	{"00", "0", 1}, {"17", "23", 1}, {"1818", "24", 1},
	{"1864", "100", 1}, {"1903e8", "1000", 1},
	{"1a000f4240", "1000000", 1},
	{"1b000000e8d4a51000", "1000000000000", 1},
	{"20", "-1", 1}, {"3903e7", "-1000", 1},
	{"6161", "\"a\"", 1}, {"6449455446", "\"IETF\"", 1},
	{"60", "\"\"", 1}, {"62c3bc", "\"\\u00fc\"", 1},
	{"83010203", "[1,2,3]", 1}, {"80", "[]", 1},
	{"a26161016162820203", "{\"a\":1,\"b\":[2,3]}", 1},
	{"f4", "false", 1}, {"f5", "true", 1}, {"f6", "null", 1},
	{"f93e00", "1.5", 0}, {"fa47c35000", "100000.0", 0},
	{"fb3ff199999999999a", "1.1", 1}, {"f90000", "0.0", 0},
	{"f9c400", "-4.0", 0},
};

static void
test_vectors(void **state)
{
	uint8_t in[64], *out;
	size_t n, len;
	char err[128];
	json_t *v, *want;

	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		n = unhex(vectors[i].hex, in);
		v = strata_cbor_decode(in, n, err, sizeof(err));
		want = json_loads(vectors[i].json, JSON_DECODE_ANY, NULL);
		if (v == NULL || !json_equal(v, want))
			fail_msg("vector %s: %s", vectors[i].hex,
			    v == NULL ? err : "another value");
		out = strata_cbor_encode(v, &len);
		if (vectors[i].roundtrip && (len != n ||
		    memcmp(out, in, n) != 0))
			fail_msg("vector %s: encoded differently",
			    vectors[i].hex);
		free(out);
		json_decref(v);
		json_decref(want);
	}
}

static void
test_refusals(void **state)
{
	static const struct {
		const char *hex, *why;
	} bad[] = {
		{"", "ends inside an item"},
		{"4161", "byte string"},
		{"c074", "tag"},
		{"5f41614100ff", "indefinite"},
		{"9f01ff", "indefinite"},
		{"f7", "simple value"},
		{"f818", "simple value"},
		{"8201", "array longer"},
		{"a10101", "not a text string"},
		{"a2616101616102", "duplicate"},
		{"0000", "bytes after"},
		{"62c3", "longer than the input"},
		{"61ff", "not UTF-8"},
		{"1b8000000000000000", "over 2^63"},
		{"3b8000000000000000", "under -2^63"},
		{"f97c00", "not finite"},
		{"1c", "reserved"},
		{"9b00000000ffffffff", "array longer"},
		{"bb00000000ffffffff", "map longer"},
		{"a1616100616200", "after"},
	};
	uint8_t in[64];
	char err[128];
	json_t *v;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = strata_cbor_decode(in, unhex(bad[i].hex, in), err,
		    sizeof(err));
		if (v != NULL || strstr(err, bad[i].why) == NULL)
			fail_msg("%s: '%s' lacks '%s'", bad[i].hex,
			    v != NULL ? "(accepted)" : err, bad[i].why);
	}
}

static void
test_depth(void **state)
{
	uint8_t in[40];
	char err[128];
	json_t *v;

	(void)state;
	memset(in, 0x81, sizeof(in));
	in[31] = 0x00; /* 31 arrays and an integer: 32 items deep */
	v = strata_cbor_decode(in, 32, err, sizeof(err));
	assert_non_null(v);
	json_decref(v);
	in[31] = 0x81;
	in[32] = 0x00;
	assert_null(strata_cbor_decode(in, 33, err, sizeof(err)));
	assert_non_null(strstr(err, "deeper"));
}

static void
test_provisioning_answer(void **state)
{
	json_t *v = json_pack("{s:s, s:{s:s, s:i}, s:b}", "thingName", "t-1",
	    "deviceConfiguration", "url", "https://x", "port", 8883, "ok", 1);
	json_t *back;
	uint8_t *out;
	size_t len;
	char err[128];

	(void)state;
	out = strata_cbor_encode(v, &len);
	back = strata_cbor_decode(out, len, err, sizeof(err));
	assert_non_null(back);
	assert_true(json_equal(v, back));
	free(out);
	json_decref(v);
	json_decref(back);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_provisioning_answer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
