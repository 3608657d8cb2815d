/*
 * test_fidx_query.c - the fleet indexing query parser: each element of
 * AWS's syntax (terms, fields, phrases, wildcards, ranges, comparisons,
 * AND/OR/NOT/- precedence, grouping, field grouping, escapes) read into
 * its canonical form, every refusal with its message, the wildcard
 * matcher and the field names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fidx_query.h"

/* The canonical form of q, which must parse. */
static void
parses_as(const char *q, const char *want)
{
	struct strata_fidx_node *n;
	char err[256], buf[1024];

	if (strata_fidx_parse(q, strlen(q), &n, err, sizeof(err)) != 0)
		fail_msg("%s: refused: %s", q, err);
	strata_fidx_format(n, buf, sizeof(buf));
	if (strcmp(buf, want) != 0)
		fail_msg("%s: got %s, want %s", q, buf, want);
	strata_fidx_free(n);
}

/* q must be refused with a message holding want. */
static void
refused(const char *q, const char *want)
{
	struct strata_fidx_node *n = (void *)1;
	char err[256];

	if (strata_fidx_parse(q, strlen(q), &n, err, sizeof(err)) == 0)
		fail_msg("%s: accepted", q);
	assert_null(n);
	if (strstr(err, want) == NULL)
		fail_msg("%s: message %s, want %s", q, err, want);
}

static void
test_terms(void **state)
{
	(void)state;
	parses_as("thingName:Lamp-1", "thingName=\"lamp-1\"");
	parses_as("lamp", "*=\"lamp\"");
	parses_as("*", "ALL");
	parses_as("attributes.color:\"Dark Red\"",
	    "attributes.color=\"dark red\"");
	parses_as("\"a b\"", "*=\"a b\"");
	parses_as("connectivity.connected:true",
	    "connectivity.connected=\"true\"");
	parses_as("thingGroupNames:g1", "thingGroupNames=\"g1\"");
	parses_as("shadow.name.cfg.reported.mode:eco",
	    "shadow.name.cfg.reported.mode=\"eco\"");
	parses_as("shadow.reported.temp:-5", "shadow.reported.temp=\"-5\"");
	parses_as("thingName:a\\:b", "thingName=\"a:b\"");
	parses_as("attributes.x:\"a\\\"b\"", "attributes.x=\"a\"b\"");
}

static void
test_wildcards(void **state)
{
	(void)state;
	parses_as("thingName:lamp*", "thingName~\"lamp*\"");
	parses_as("thingName:l?mp", "thingName~\"l?mp\"");
	parses_as("shadow.reported.x:*", "shadow.reported.x~\"*\"");
	parses_as("thingName:*mp", "thingName~\"*mp\"");
	parses_as("thingName:a\\*b*", "thingName~\"a\\*b*\"");
	refused("thingName:*a OR attributes.b:*c", "leading wildcard");
}

static void
test_ranges(void **state)
{
	(void)state;
	parses_as("shadow.reported.battery<20",
	    "shadow.reported.battery{- TO 20}");
	parses_as("shadow.reported.battery<=20",
	    "shadow.reported.battery{- TO 20]");
	parses_as("shadow.reported.battery>20",
	    "shadow.reported.battery{20 TO -}");
	parses_as("shadow.reported.battery>=-2.5",
	    "shadow.reported.battery[-2.5 TO -}");
	parses_as("shadow.reported.battery:>=20",
	    "shadow.reported.battery[20 TO -}");
	parses_as("shadow.reported.b:[10 TO 20]", "shadow.reported.b[10 TO 20]");
	parses_as("shadow.reported.b:{10 TO 20]", "shadow.reported.b{10 TO 20]");
	parses_as("shadow.reported.b:[* TO -3}", "shadow.reported.b[- TO -3}");
	parses_as("thingName:[a TO c]", "thingName[a TO c]");
	refused("shadow.reported.b:[10 20]", "[lower TO upper]");
	refused("shadow.reported.b:[10 TO 20", "] or }");
	refused("shadow.reported.b<", "needs a value");
}

static void
test_boolean(void **state)
{
	(void)state;
	parses_as("a OR b AND c", "(OR *=\"a\" (AND *=\"b\" *=\"c\"))");
	parses_as("(a OR b) AND c", "(AND (OR *=\"a\" *=\"b\") *=\"c\")");
	parses_as("a b", "(AND *=\"a\" *=\"b\")");
	parses_as("NOT a AND b", "(AND (NOT *=\"a\") *=\"b\")");
	parses_as("a -b", "(AND *=\"a\" (NOT *=\"b\"))");
	parses_as("thingName:(tv* AND -plasma)",
	    "(AND thingName~\"tv*\" (NOT thingName=\"plasma\"))");
	parses_as("a && b || c", "(OR (AND *=\"a\" *=\"b\") *=\"c\")");
	parses_as("NOT NOT a", "(NOT (NOT *=\"a\"))");
	parses_as("thingName:a OR NOT connectivity.connected:true",
	    "(OR thingName=\"a\" (NOT connectivity.connected=\"true\"))");
}

static void
test_refusals(void **state)
{
	char big[STRATA_FIDX_MAX_QUERY + 2];

	(void)state;
	refused("", "1 to");
	refused("   ", "Empty query");
	refused("(a OR b", "Missing ')'");
	refused("a)", "Unexpected token");
	refused("a OR", "Unexpected token");
	refused("AND a", "Unexpected token");
	refused("nosuch:1", "Unknown field: nosuch");
	refused("shadow.reported:1", "Unknown field");
	refused("attributes.:1", "Unknown field");
	refused("shadow.name..reported.x:1", "Unknown field");
	refused("thingName:a@b", "Unsupported character '@'");
	refused("thingName:a/b", "Unsupported character '/'");
	refused("thingName:", "has no value");
	refused("\"open", "Unterminated");
	refused("a\\", "escape");
	refused("thingName:(attributes.x:1)", "inside a field group");
	refused("a b c d e f g h i j k l m", "Too many terms");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	refused(big, "1 to");
	refused("((((((((((((((((((a))))))))))))))))))", "nested too deeply");
	refused("thingName:*a OR thingName:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    "at most 100");
	refused("a = b", "Unexpected '='");
}

static void
test_match(void **state)
{
	(void)state;
	assert_true(strata_fidx_match("lamp*", "lamp-1", 6));
	assert_true(strata_fidx_match("*", "", 0));
	assert_true(strata_fidx_match("l?mp", "lamp", 4));
	assert_false(strata_fidx_match("l?mp", "lmp", 3));
	assert_true(strata_fidx_match("*mp", "lamp", 4));
	assert_true(strata_fidx_match("a*b*c", "axxbyyc", 7));
	assert_false(strata_fidx_match("a*b*c", "axxbyy", 6));
	assert_true(strata_fidx_match("a\\*b", "a*b", 3));
	assert_false(strata_fidx_match("a\\*b", "axb", 3));
	assert_false(strata_fidx_match("abc", "ab", 2));
}

static void
test_prefix_fields_numbers(void **state)
{
	char out[16];
	double d;

	(void)state;
	assert_int_equal(strata_fidx_prefix("lamp*x", out, sizeof(out)), 4);
	assert_string_equal(out, "lamp");
	assert_int_equal(strata_fidx_prefix("a\\*b?", out, sizeof(out)), 3);
	assert_string_equal(out, "a*b");
	assert_int_equal(strata_fidx_prefix("*", out, sizeof(out)), 0);
	assert_true(strata_fidx_field_valid("shadow.version"));
	assert_true(strata_fidx_field_valid("shadow.hasDelta"));
	assert_true(strata_fidx_field_valid("shadow.delta.a.b"));
	assert_true(strata_fidx_field_valid("shadow.metadata.reported.a"));
	assert_true(strata_fidx_field_valid("shadow.name.n1.version"));
	assert_false(strata_fidx_field_valid("shadow.name.n1"));
	assert_false(strata_fidx_field_valid("thingname"));
	assert_true(strata_fidx_number("20", &d) && d == 20);
	assert_true(strata_fidx_number("-2.5e1", &d) && d == -25);
	assert_false(strata_fidx_number("0x10", &d));
	assert_false(strata_fidx_number("nan", &d));
	assert_false(strata_fidx_number("20a", &d));
	assert_false(strata_fidx_number("", &d));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_terms),
		cmocka_unit_test(test_wildcards),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_boolean),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_prefix_fields_numbers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
