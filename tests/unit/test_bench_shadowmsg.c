/*
 * test_bench_shadowmsg.c - strata-bench's shadow mode messages: the update
 * request (unpadded and padded to a size), its clientToken, and reading
 * clientToken and code from answers as a shadow service writes them.
 *
 * The test harness links only libstrata, so the source (a leaf with no
 * dependencies) is compiled into this test directly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>

#include "../../bench/shadowmsg.c"

static void
test_token_round_trip(void **state)
{
	char tok[SHADOWMSG_TOKEN_BUF];
	uint32_t nonce, thing, seq;
	size_t n;

	n = shadowmsg_token(tok, 0xdeadbeef, 4294967295u, 4294967295u);
	assert_string_equal(tok, "deadbeef-4294967295-4294967295");
	assert_int_equal(n, strlen(tok));
	assert_int_equal(
	    shadowmsg_token_parse(tok, n, &nonce, &thing, &seq), 0);
	assert_int_equal(nonce, 0xdeadbeef);
	assert_int_equal(thing, 4294967295u);
	assert_int_equal(seq, 4294967295u);
	n = shadowmsg_token(tok, 7, 0, 12);
	assert_string_equal(tok, "00000007-0-12");
	assert_int_equal(
	    shadowmsg_token_parse(tok, n, &nonce, &thing, &seq), 0);
	assert_int_equal(thing, 0);
	assert_int_equal(seq, 12);
}

static void
test_token_refused(void **state)
{
	static const char *const bad[] = {"", "0000007-0-1", "000000070-0-1",
	    "00000007-0", "00000007--1", "00000007-0-", "00000007-0-1-",
	    "00000007-4294967296-1", "0000000G-0-1", "00000007-0-1x",
	    "some-other-token"};
	uint32_t nonce, thing, seq;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(shadowmsg_token_parse(bad[i], strlen(bad[i]),
		                     &nonce, &thing, &seq),
		    -1);
}

static void
test_update_unpadded_is_the_document(void **state)
{
	uint8_t buf[SHADOWMSG_UPDATE_MIN + 64];
	const char *want = "{\"state\":{\"reported\":{\"seq\":3,\"t\":"
	                   "1764686400123}},\"clientToken\":\"00000001-2-3\"}";
	size_t n = shadowmsg_update(
	    buf, sizeof(buf), 3, 1764686400123ull, "00000001-2-3", 0);

	assert_int_equal(n, strlen(want));
	assert_memory_equal(buf, want, n);
	/* a size below the unpadded length changes nothing */
	assert_int_equal(shadowmsg_update(buf, sizeof(buf), 3,
	                     1764686400123ull, "00000001-2-3", 40),
	    n);
	/* too small a buffer for the size asked */
	assert_int_equal(
	    shadowmsg_update(buf, sizeof(buf), 3, 1, "00000001-2-3", 1000), 0);
}

static void
test_update_padded_to_size(void **state)
{
	static uint8_t buf[SHADOWMSG_UPDATE_MIN + 8192];
	size_t sizes[] = {109, 110, 500, 8192}, i, n;
	json_t *doc, *reported;
	json_error_t err;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		n = shadowmsg_update(buf, sizeof(buf), 4000000000u,
		    1764686400123ull, "0000abcd-9999-4000000000", sizes[i]);
		assert_int_equal(n, sizes[i]);
		doc = json_loadb((const char *)buf, n, 0, &err);
		assert_non_null(doc);
		reported =
		    json_object_get(json_object_get(doc, "state"), "reported");
		assert_int_equal(
		    json_integer_value(json_object_get(reported, "seq")),
		    4000000000ll);
		assert_non_null(json_object_get(reported, "pad"));
		assert_string_equal(
		    json_string_value(json_object_get(doc, "clientToken")),
		    "0000abcd-9999-4000000000");
		json_decref(doc);
	}
}

static void
test_answers(void **state)
{
	static const char accepted[] =
	    "{\"state\":{\"reported\":{\"seq\":3,\"t\":1}},\"metadata\":{"
	    "\"reported\":{\"seq\":{\"timestamp\":1},\"t\":{\"timestamp\":1}}}"
	    ","
	    "\"version\":4,\"timestamp\":1,\"clientToken\":\"00000001-2-3\"}";
	static const char rejected[] =
	    "{ \"code\" : 409, \"message\":\"a \\\"code\\\": 1\","
	    "\"timestamp\":1, \"clientToken\" :\"00000001-2-3\"}";
	const uint8_t *val;
	long code = 0;

	assert_int_equal(shadowmsg_string((const uint8_t *)accepted,
	                     strlen(accepted), "clientToken", &val),
	    12);
	assert_memory_equal(val, "00000001-2-3", 12);
	assert_int_equal(shadowmsg_int((const uint8_t *)accepted,
	                     strlen(accepted), "version", &code),
	    0);
	assert_int_equal(code, 4);
	assert_int_equal(shadowmsg_int((const uint8_t *)rejected,
	                     strlen(rejected), "code", &code),
	    0);
	assert_int_equal(code, 409);
	assert_int_equal(shadowmsg_string((const uint8_t *)rejected,
	                     strlen(rejected), "clientToken", &val),
	    12);
}

static void
test_answers_without_the_member(void **state)
{
	static const char *const bad[] = {"", "{}", "{\"clientToken\"",
	    "{\"clientToken\":", "{\"clientToken\":\"abc",
	    "{\"clientToken\":12}", "{\"clientToken\":\"a\\\"b\"}",
	    "{\"xclientToken\":\"a\"}", "{\"clientTokenx\":\"a\"}",
	    "[\"clientToken\",\"a\"]"};
	const uint8_t *val;
	long code;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(shadowmsg_string((const uint8_t *)bad[i],
		                     strlen(bad[i]), "clientToken", &val),
		    -1);
	assert_int_equal(shadowmsg_int((const uint8_t *)"{\"code\":\"4\"}", 12,
	                     "code", &code),
	    -1);
	assert_int_equal(
	    shadowmsg_int((const uint8_t *)"{\"code\":}", 9, "code", &code),
	    -1);
	assert_int_equal(
	    shadowmsg_int((const uint8_t *)"{\"code\":1234567890123456789}",
	        28, "code", &code),
	    -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_token_round_trip),
	    cmocka_unit_test(test_token_refused),
	    cmocka_unit_test(test_update_unpadded_is_the_document),
	    cmocka_unit_test(test_update_padded_to_size),
	    cmocka_unit_test(test_answers),
	    cmocka_unit_test(test_answers_without_the_member),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
