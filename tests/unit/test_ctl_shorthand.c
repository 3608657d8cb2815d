/*
 * test_ctl_shorthand.c - stratactl's shorthand parser and the choice
 * between shorthand and JSON for a structure parameter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shorthand.h"

/* text parsed as a structure parameter, as compact JSON (a static
 * buffer), or the error message prefixed with "error: ". */
static const char *
parse(const char *text)
{
	static char out[512];
	char msg[256];
	json_t *value;
	char *dump;

	if (ctl_shorthand_object(text, &value, msg, sizeof(msg)) != 0) {
		snprintf(out, sizeof(out), "error: %s", msg);
		return out;
	}
	dump = json_dumps(value, JSON_COMPACT | JSON_PRESERVE_ORDER);
	snprintf(out, sizeof(out), "%s", dump);
	free(dump);
	json_decref(value);
	return out;
}

static void
test_pairs_and_nesting(void **state)
{
	assert_string_equal(parse("attributes={a=1,b=two},merge=true"),
	    "{\"attributes\":{\"a\":\"1\",\"b\":\"two\"},\"merge\":\"true\"}");
	assert_string_equal(parse("templateBody=x"),
	    "{\"templateBody\":\"x\"}");
	assert_string_equal(parse("a={b={c=d}}"),
	    "{\"a\":{\"b\":{\"c\":\"d\"}}}");
	assert_string_equal(parse("attributes={}"), "{\"attributes\":{}}");
}

static void
test_blanks_empty_values_and_equals(void **state)
{
	assert_string_equal(parse(" a = x y , b= "),
	    "{\"a\":\"x y\",\"b\":\"\"}");
	assert_string_equal(parse("a=b=c"), "{\"a\":\"b=c\"}");
	assert_string_equal(parse("attributes={ k = v }"),
	    "{\"attributes\":{\"k\":\"v\"}}");
}

static void
test_quotes_and_escapes(void **state)
{
	assert_string_equal(parse("a=\"x,y}\",b='q\"r'"),
	    "{\"a\":\"x,y}\",\"b\":\"q\\\"r\"}");
	assert_string_equal(parse("a=x\\,y"), "{\"a\":\"x,y\"}");
	assert_string_equal(parse("a=\"\\\"\""), "{\"a\":\"\\\"\"}");
	assert_string_equal(parse("attributes={k=a\\}b}"),
	    "{\"attributes\":{\"k\":\"a}b\"}}");
}

static void
test_errors_say_where(void **state)
{
	assert_string_equal(parse("a"),
	    "error: expected '=' after the key at column 2");
	assert_string_equal(parse(""), "error: expected a key at column 1");
	assert_string_equal(parse("a=1,"),
	    "error: expected a key at column 5");
	assert_string_equal(parse("a={b=c"),
	    "error: expected '}' at column 7");
	assert_string_equal(parse("a=\"x"),
	    "error: unterminated quoted string at column 5");
	assert_string_equal(parse("a=\"x\"y"),
	    "error: expected ',' at column 6");
	assert_string_equal(parse("a={b=c}d"),
	    "error: expected ',' at column 8");
	assert_string_equal(parse("a={{=1}}"),
	    "error: expected a key at column 4");
}

static void
test_depth_is_bounded(void **state)
{
	char text[128] = "";
	int i;

	for (i = 0; i < CTL_SHORTHAND_MAX_DEPTH + 1; i++)
		strcat(text, "a={");
	strcat(text, "b=c");
	for (i = 0; i < CTL_SHORTHAND_MAX_DEPTH + 1; i++)
		strcat(text, "}");
	assert_non_null(strstr(parse(text), "too deeply nested"));
}

static void
test_json_when_it_starts_with_a_brace(void **state)
{
	assert_string_equal(parse(" {\"attributes\": {\"a\": \"1\"}, "
	    "\"merge\": false}"),
	    "{\"attributes\":{\"a\":\"1\"},\"merge\":false}");
	assert_non_null(strstr(parse("{\"a\": }"), "Invalid JSON: "));
	assert_non_null(strstr(parse("{\"a\": }"), "line 1 column 7"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pairs_and_nesting),
		cmocka_unit_test(test_blanks_empty_values_and_equals),
		cmocka_unit_test(test_quotes_and_escapes),
		cmocka_unit_test(test_errors_say_where),
		cmocka_unit_test(test_depth_is_bounded),
		cmocka_unit_test(test_json_when_it_starts_with_a_brace),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
