/*
 * test_throttle_limits.c - common/throttle_limits.c: the SetThrottleLimits
 * body (members, ranges, null, none, unknown), its JSON written back, and
 * stored values read (docs/internals/throttle.md).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "throttle_limits.h"

/* Parse text; the return code, *member and err for the caller. */
static int
parse(const char *text, struct strata_throttle_limits *l,
    const char **member, char err[200])
{
	json_t *body = json_loads(text, 0, NULL);
	static char kept[64];
	int rc;

	*member = NULL;
	err[0] = '\0';
	rc = strata_throttle_limits_parse(body, l, member, err, 200);
	if (*member != NULL) {
		snprintf(kept, sizeof(kept), "%s", *member);
		*member = kept;
	}
	json_decref(body);
	return rc;
}

static void
test_body_taken(void **state)
{
	struct strata_throttle_limits l;
	const char *member;
	char err[200];
	json_t *back;
	char *text;

	assert_int_equal(parse("{\"publishRate\": 5, \"subscribeRate\": 0, "
	    "\"inboundBytesPerSecond\": null}", &l, &member, err), 0);
	assert_int_equal(l.v[0], 5);
	assert_int_equal(l.v[1], -1);
	assert_int_equal(l.v[2], 0);
	assert_int_equal(l.v[3], -1);
	back = strata_throttle_limits_json(&l);
	text = json_dumps(back, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(text, "{\"publishRate\":5,\"subscribeRate\":0}");
	free(text);
	json_decref(back);
	assert_int_equal(parse("{\"disconnectAfterSeconds\": 86400, "
	    "\"inboundBytesPerSecond\": 1000000000}", &l, &member, err), 0);
	assert_int_equal(l.v[3], 86400);
	assert_int_equal(l.v[1], 1000000000);
}

static void
test_body_refused(void **state)
{
	static const struct {
		const char *text, *member, *words;
	} cases[] = {
		{"{\"publishRate\": \"5\"}", "publishRate", "integer"},
		{"{\"publishRate\": -1}", "publishRate", "from 0"},
		{"{\"publishRate\": 1.5}", "publishRate", "integer"},
		{"{\"subscribeRate\": 1000001}", "subscribeRate", "1000000"},
		{"{\"disconnectAfterSeconds\": 86401}",
		    "disconnectAfterSeconds", "86400"},
		{"{\"publishrate\": 5}", "publishrate", "not a throttle"},
		{"{}", "publishRate", "at least one"},
		{"{\"publishRate\": null}", "publishRate", "at least one"},
	};
	struct strata_throttle_limits l;
	const char *member;
	char err[200];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(parse(cases[i].text, &l, &member, err), -1);
		assert_string_equal(member, cases[i].member);
		assert_non_null(strstr(err, cases[i].words));
	}
	/* no body at all */
	assert_int_equal(strata_throttle_limits_parse(NULL, &l, &member, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "at least one"));
}

static void
test_stored_values(void **state)
{
	assert_int_equal(strata_throttle_limit_value("5", 1, 0), 5);
	assert_int_equal(strata_throttle_limit_value("0", 1, 2), 0);
	assert_int_equal(strata_throttle_limit_value("86400", 5, 3), 86400);
	assert_int_equal(strata_throttle_limit_value("86401", 5, 3), -1);
	assert_int_equal(strata_throttle_limit_value("", 0, 0), -1);
	assert_int_equal(strata_throttle_limit_value("5x", 2, 0), -1);
	assert_int_equal(strata_throttle_limit_value("-5", 2, 0), -1);
	assert_int_equal(strata_throttle_limit_value("99999999999", 11, 1),
	    -1);
	assert_int_equal(strata_throttle_limit_value("5", 1, 4), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_body_taken),
		cmocka_unit_test(test_body_refused),
		cmocka_unit_test(test_stored_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
