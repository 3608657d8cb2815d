/*
 * test_trace.c - common/trace.c: client ids that may be traced, the
 * seconds of a trace, members of strata:traces
 * (docs/internals/trace.md).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "trace.h"

static bool
valid(const char *s)
{
	return strata_trace_client_id_valid(s, strlen(s));
}

static void
test_client_ids(void **state)
{
	char long_id[STRATA_TRACE_CLIENT_MAX + 2];

	(void)state;
	assert_true(valid("dev-1"));
	assert_true(valid("lamps/kitchen/1"));
	assert_true(valid("capteur-\xc3\xa9t\xc3\xa9"));   /* été */
	assert_true(valid("\xf0\x9f\x92\xa1"));           /* U+1F4A1 */
	assert_false(valid(""));
	assert_false(valid("a\x01" "b"));
	assert_false(valid("a\x7f"));
	assert_false(valid("\xc0\xaf"));                  /* overlong */
	assert_false(valid("\xed\xa0\x80"));              /* surrogate */
	assert_false(valid("\xe2\x82"));                  /* cut short */
	assert_false(strata_trace_client_id_valid("a\0b", 3));
	memset(long_id, 'x', sizeof(long_id));
	assert_true(strata_trace_client_id_valid(long_id,
	    STRATA_TRACE_CLIENT_MAX));
	assert_false(strata_trace_client_id_valid(long_id,
	    STRATA_TRACE_CLIENT_MAX + 1));
}

static void
test_seconds(void **state)
{
	(void)state;
	assert_int_equal(strata_trace_seconds(NULL), 60);
	assert_int_equal(strata_trace_seconds("1"), 1);
	assert_int_equal(strata_trace_seconds("600"), 600);
	assert_int_equal(strata_trace_seconds("601"), -1);
	assert_int_equal(strata_trace_seconds("0"), -1);
	assert_int_equal(strata_trace_seconds(""), -1);
	assert_int_equal(strata_trace_seconds("-5"), -1);
	assert_int_equal(strata_trace_seconds("+5"), -1);
	assert_int_equal(strata_trace_seconds("5s"), -1);
	assert_int_equal(strata_trace_seconds("00060"), -1);
}

static void
test_members(void **state)
{
	const char *m = "0123456789abcdef lamps/1", *id;
	size_t len = 0;

	(void)state;
	id = strata_trace_member_client(m, strlen(m), &len);
	assert_ptr_equal(id, m + 17);
	assert_int_equal(len, strlen("lamps/1"));
	m = "0123456789ABCDEF lamps/1";
	assert_null(strata_trace_member_client(m, strlen(m), &len));
	m = "0123456789abcdef ";
	assert_null(strata_trace_member_client(m, strlen(m), &len));
	m = "0123456789abcde lamps/1";
	assert_null(strata_trace_member_client(m, strlen(m), &len));
	m = "0123456789abcdef a\x01";
	assert_null(strata_trace_member_client(m, strlen(m), &len));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_ids),
		cmocka_unit_test(test_seconds),
		cmocka_unit_test(test_members),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
