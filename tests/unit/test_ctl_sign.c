/*
 * test_ctl_sign.c - STRATA-HMAC-SHA256 signatures of admin API requests
 * (docs/internals/admin-authz.md, section 3): the text signed, the
 * signature against fixed vectors, and the X-Strata-Date format.
 *
 * The vectors were computed once, apart from this code, with Python's
 * hmac and hashlib modules, following the design's words:
 *   key  = hmac.new(secret, b"strata-admin-signing", sha256).digest()
 *   text = "\n".join(["STRATA-HMAC-SHA256", date, method, path, query,
 *                     sha256(body).hexdigest()])
 *   hmac.new(key, text, sha256).hexdigest()
 * with path and query the target split at its first '?'.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sign.h"

#define SECRET "kJ8+u2Qw/Zr5Tn0Lm7Yc3Xv9Bp1Hd6Gf4Se2Aa0W"
#define DATE "20260102T030405Z"
#define GET_SIGNATURE                                                       \
	"0d51a0e7794e85e7c01dab5fda769511984cd66539906cf1049a76f607008082"
#define EMPTY_SHA256                                                        \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static struct ctl_request
request(enum evhttp_cmd_type method, const char *target, const char *body)
{
	struct ctl_request r = { .method = method, .target = (char *)target,
		.body = (char *)body,
		.body_len = body != NULL ? strlen(body) : 0 };

	return r;
}

static void
test_text_splits_the_target_as_sent(void **state)
{
	struct ctl_request r = request(EVHTTP_REQ_PATCH,
	    "/admin/admin-users/ops%2B1/access-keys/AKIAABCDEFGHIJKLMNOP"
	    "?x=1&y=%2F", "{\"Status\":\"Inactive\"}");
	char *text = ctl_sign_text(DATE, &r);

	assert_string_equal(text, "STRATA-HMAC-SHA256\n" DATE "\nPATCH\n"
	    "/admin/admin-users/ops%2B1/access-keys/AKIAABCDEFGHIJKLMNOP\n"
	    "x=1&y=%2F\n"
	    "1a4c3899fd12cc1d45706249d633ebf1"
	    "a55fe210269f732ae5d2bd9ea2bacd68");
	free(text);
	r = request(EVHTTP_REQ_GET, "/admin-users", NULL);
	text = ctl_sign_text(DATE, &r);
	assert_string_equal(text, "STRATA-HMAC-SHA256\n" DATE "\nGET\n"
	    "/admin-users\n\n" EMPTY_SHA256);
	free(text);
	/* a '?' with nothing after it: an empty query all the same */
	r = request(EVHTTP_REQ_DELETE, "/a?", NULL);
	text = ctl_sign_text(DATE, &r);
	assert_string_equal(text, "STRATA-HMAC-SHA256\n" DATE "\nDELETE\n"
	    "/a\n\n" EMPTY_SHA256);
	free(text);
}

/* A payload's bytes are hashed by their length, NULs included:
 * sha256(b"{\x00}"), not sha256(b"{"). */
static void
test_binary_body_is_hashed_whole(void **state)
{
	struct ctl_request r = request(EVHTTP_REQ_POST, "/things/t/shadow",
	    NULL);
	char *text;

	r.body = "{\0}";
	r.body_len = 3;
	text = ctl_sign_text(DATE, &r);
	assert_string_equal(text, "STRATA-HMAC-SHA256\n" DATE "\nPOST\n"
	    "/things/t/shadow\n\n"
	    "e3866582d3f9634fec41e794cd76e706"
	    "db674ba62af61ac3ad8aeed8f569f820");
	free(text);
}

static void
test_signature_vectors(void **state)
{
	struct ctl_request r = request(EVHTTP_REQ_PATCH,
	    "/admin/admin-users/ops%2B1/access-keys/AKIAABCDEFGHIJKLMNOP"
	    "?x=1&y=%2F", "{\"Status\":\"Inactive\"}");
	char hex[CTL_SIGN_HEX_LEN + 1];

	ctl_sign(SECRET, DATE, &r, hex);
	assert_string_equal(hex, "29b6db193a490e8d791e19243a9eb8ff"
	    "372bb70f7c73407a6e1d9c0c2b7c6d72");
	r = request(EVHTTP_REQ_GET, "/admin-users", NULL);
	ctl_sign(SECRET, DATE, &r, hex);
	assert_string_equal(hex, GET_SIGNATURE);
	/* an empty body is hashed as no body */
	r = request(EVHTTP_REQ_GET, "/admin-users", "");
	ctl_sign(SECRET, DATE, &r, hex);
	assert_string_equal(hex, GET_SIGNATURE);
}

/* Each part of the request is covered: changing any changes the
 * signature. */
static void
test_every_part_is_signed(void **state)
{
	struct ctl_request base = request(EVHTTP_REQ_PUT, "/p/x?q=1", "{}");
	struct ctl_request changed[] = {
		request(EVHTTP_REQ_POST, "/p/x?q=1", "{}"),
		request(EVHTTP_REQ_PUT, "/p/y?q=1", "{}"),
		request(EVHTTP_REQ_PUT, "/p/x?q=2", "{}"),
		request(EVHTTP_REQ_PUT, "/p/x?q=1", "{ }"),
		request(EVHTTP_REQ_PUT, "/p/x%3F?q=1", "{}"),
	};
	char first[CTL_SIGN_HEX_LEN + 1], other[CTL_SIGN_HEX_LEN + 1];
	size_t i;

	ctl_sign(SECRET, DATE, &base, first);
	for (i = 0; i < sizeof(changed) / sizeof(changed[0]); i++) {
		ctl_sign(SECRET, DATE, &changed[i], other);
		assert_string_not_equal(first, other);
	}
	ctl_sign(SECRET, "20260102T030406Z", &base, other);
	assert_string_not_equal(first, other);
	ctl_sign("another secret", DATE, &base, other);
	assert_string_not_equal(first, other);
}

static void
test_date_format(void **state)
{
	char date[CTL_SIGN_DATE_LEN + 1];

	ctl_sign_date(0, date);
	assert_string_equal(date, "19700101T000000Z");
	ctl_sign_date(1767323045, date);
	assert_string_equal(date, DATE);
	ctl_sign_date(4102444799, date);
	assert_string_equal(date, "20991231T235959Z");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_splits_the_target_as_sent),
		cmocka_unit_test(test_binary_body_is_hashed_whole),
		cmocka_unit_test(test_signature_vectors),
		cmocka_unit_test(test_every_part_is_signed),
		cmocka_unit_test(test_date_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
