/*
 * test_rule.c - the topic rule payload parser (common/rule.c): every
 * action kind with its members and defaults, and a table of refusals with
 * the member each message names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rule.h"

/* The document with ' turned into " and ` into ' (the SQL's quotes).
 * Caller frees. */
static char *
doc(const char *s)
{
	char *d = strdup(s);

	assert_non_null(d);
	for (char *p = d; *p != '\0'; p++)
		if (*p == '\'')
			*p = '"';
		else if (*p == '`')
			*p = '\'';
	return d;
}

static struct strata_rule *
parse_ok(const char *text)
{
	struct strata_rule_error err;
	char *d = doc(text);
	struct strata_rule *r = strata_rule_parse(d, strlen(d), &err);

	if (r == NULL)
		fail_msg("refused: %s\n%s", err.message, d);
	free(d);
	return r;
}

static void
parse_fails(const char *text, const char *want, int line)
{
	struct strata_rule_error err;
	char *d = doc(text);
	struct strata_rule *r = strata_rule_parse(d, strlen(d), &err);

	if (r != NULL)
		fail_msg("accepted: %s", d);
	if (strstr(err.message, want) == NULL)
		fail_msg("%s\nrefused with '%s', expected '%s'", d,
		    err.message, want);
	assert_int_equal(err.line, line);
	free(d);
}

static void
test_minimal_and_defaults(void **state)
{
	struct strata_rule *r = parse_ok("{'sql': 'SELECT * FROM `a/#`'}");

	assert_string_equal(strata_sql_from(r->sql), "a/#");
	assert_string_equal(r->description, "");
	assert_string_equal(r->sql_version, "2015-10-08");
	assert_false(r->disabled);
	assert_int_equal(r->n_actions, 0);
	assert_null(r->error_action);
	strata_rule_free(r);
}

static void
test_every_kind(void **state)
{
	struct strata_rule *r = parse_ok("{'sql': 'SELECT t FROM `f/+`',"
	    "'ruleDisabled': true, 'awsIotSqlVersion': '2016-03-23',"
	    "'description': 'd', 'actions': ["
	    "{'republish': {'topic': 'o/${topic(2)}', 'qos': 1,"
	    " 'retain': true, 'headers': {'contentType': 'a/b',"
	    " 'userProperties': [{'key': 'k', 'value': '${t}'}]}}},"
	    "{'http': {'url': 'https://h/${t}', 'headers': [{'key': 'x',"
	    " 'value': 'v'}], 'timeoutMs': 500, 'retries': 0}},"
	    "{'redis': {'url': 'redis://127.0.0.1:6379', 'command': 'HSET',"
	    " 'key': 'k', 'field': '${topic(2)}', 'maxLength': 3}},"
	    "{'kafka': {'topic': 't', 'key': 'k', 'clientProperties':"
	    " {'bootstrap.servers': 'h:9092'}}},"
	    "{'file': {'path': 'out/a.jsonl', 'maxBytes': 4096,"
	    " 'maxFiles': 2}}],"
	    "'errorAction': {'republish': {'topic': 'errors'}}}");

	assert_true(r->disabled);
	assert_int_equal(r->n_actions, 5);
	assert_int_equal(r->actions[0].kind, STRATA_RULE_REPUBLISH);
	assert_int_equal(r->actions[0].qos, 1);
	assert_true(r->actions[0].retain);
	assert_non_null(r->actions[0].content_type);
	assert_null(r->actions[0].response_topic);
	assert_int_equal(r->actions[0].n_pairs, 1);
	assert_int_equal(r->actions[1].kind, STRATA_RULE_HTTP);
	assert_int_equal(r->actions[1].timeout_ms, 500);
	assert_int_equal(r->actions[1].retries, 0);
	assert_int_equal(r->actions[2].command, STRATA_RULE_REDIS_HSET);
	assert_int_equal(r->actions[2].max_length, 3);
	assert_string_equal(r->actions[2].redis_url, "redis://127.0.0.1:6379");
	assert_int_equal(r->actions[3].kind, STRATA_RULE_KAFKA);
	assert_null(r->actions[3].partition);
	assert_string_equal(r->actions[4].path, "out/a.jsonl");
	assert_int_equal(r->actions[4].max_files, 2);
	assert_non_null(r->error_action);
	assert_string_equal(r->error_action->name, "republish");
	strata_rule_free(r);
}

static void
test_http_defaults(void **state)
{
	struct strata_rule *r = parse_ok("{'sql': 'SELECT * FROM `a`',"
	    "'actions': [{'http': {'url': 'http://h/'}}]}");

	assert_int_equal(r->actions[0].timeout_ms, 3000);
	assert_int_equal(r->actions[0].retries, 3);
	assert_null(r->actions[0].confirmation_url);
	strata_rule_free(r);
}

static void
test_refusals(void **state)
{
	static const struct {
		const char *text, *want;
		int line;
	} cases[] = {
		{"[1]", "must be a JSON object", 0},
		{"{'sql': 1}", "'sql' must be a string", 0},
		{"{}", "'sql' is required", 0},
		{"{'sql': 'SELEC x'}", "sql: ", 1},
		{"{'sql': 'SELECT * FROM `a`', 'ruleDisabled': 1}",
		    "'ruleDisabled' must be", 0},
		{"{'sql': 'SELECT * FROM `a`', 'awsIotSqlVersion': 'x'}",
		    "'awsIotSqlVersion' must be", 0},
		{"{'sql': 'SELECT * FROM `a`', 'actions': {}}",
		    "'actions' must be a list", 0},
		{"{'sql': 'SELECT * FROM `a`', 'actions': [{'lambda': {}}]}",
		    "action 'lambda' is not supported", 0},
		{"{'sql': 'SELECT * FROM `a`', 'actions': [{'http': {},"
		    " 'republish': {}}]}", "exactly one member", 0},
		{"{'sql': 'SELECT * FROM `a`', 'actions': [{'republish':"
		    " {}}]}", "actions[0].republish: 'topic' is required", 0},
		{"{'sql': 'SELECT * FROM `a`', 'actions': [{'republish':"
		    " {'topic': 'x', 'qos': 2}}]}", "'qos' must be an integer",
		    0},
		{"{'sql': 'SELECT * FROM `a`', 'actions': [{'republish':"
		    " {'topic': 'x/${nosuch()}'}}]}", "'topic': ", 0},
		{"{'sql': 'SELECT * FROM `a`', 'actions': [{'http':"
		    " {'url': 'http://x', 'auth': {}}}]}", "SigV4", 0},
		{"{'sql': 'SELECT * FROM `a`', 'actions': [{'http':"
		    " {'url': 'http://x', 'headers': [{'key': '${a}',"
		    " 'value': 'v'}]}}]}", "cannot have ${...}", 0},
		{"{'sql': 'SELECT * FROM `a`', 'actions': [{'redis':"
		    " {'url': 'http://x', 'command': 'XADD', 'key': 'k'}}]}",
		    "'url' must be redis://", 0},
		{"{'sql': 'SELECT * FROM `a`', 'actions': [{'redis':"
		    " {'url': 'redis://x', 'command': 'DEL', 'key': 'k'}}]}",
		    "'command' must be XADD, LPUSH or HSET", 0},
		{"{'sql': 'SELECT * FROM `a`', 'actions': [{'redis':"
		    " {'url': 'redis://x', 'command': 'HSET', 'key': 'k'}}]}",
		    "'field' is required", 0},
		{"{'sql': 'SELECT * FROM `a`', 'actions': [{'kafka':"
		    " {'topic': 't', 'clientProperties': {}}}]}",
		    "bootstrap.servers", 0},
		{"{'sql': 'SELECT * FROM `a`', 'actions': [{'file':"
		    " {'path': '../etc/passwd'}}]}", "without '..'", 0},
		{"{'sql': 'SELECT * FROM `a`', 'actions': [{'file':"
		    " {'path': '/tmp/x'}}]}", "'path' must be relative", 0},
		{"{'sql': 'SELECT * FROM `a`', 'errorAction': {'s3': {}}}",
		    "errorAction: action 's3' is not supported", 0},
		{"{'sql': 'SELECT * FROM `a`', 'sql': 'x'}",
		    "invalid JSON", 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		parse_fails(cases[i].text, cases[i].want, cases[i].line);
}

static void
test_limits(void **state)
{
	struct strata_rule_error err;
	char *big = malloc(STRATA_RULE_MAX_PAYLOAD + 2);
	char actions[2048] = "";
	char text[4096];

	assert_non_null(big);
	memset(big, ' ', STRATA_RULE_MAX_PAYLOAD + 1);
	assert_null(strata_rule_parse(big, STRATA_RULE_MAX_PAYLOAD + 1, &err));
	assert_non_null(strstr(err.message, "over"));
	free(big);
	for (int i = 0; i < STRATA_RULE_MAX_ACTIONS + 1; i++)
		strcat(actions, i > 0 ? ",{'republish':{'topic':'x'}}" :
		    "{'republish':{'topic':'x'}}");
	snprintf(text, sizeof(text), "{'sql': 'SELECT * FROM `a`', "
	    "'actions': [%s]}", actions);
	parse_fails(text, "at most 10 actions", 0);
}

static void
test_names(void **state)
{
	char long_name[STRATA_RULE_NAME_MAX + 2];

	assert_true(strata_rule_name_valid("temp_rule_1", 11));
	assert_false(strata_rule_name_valid("", 0));
	assert_false(strata_rule_name_valid("a-b", 3));
	assert_false(strata_rule_name_valid("a/b", 3));
	memset(long_name, 'a', sizeof(long_name));
	assert_true(strata_rule_name_valid(long_name, STRATA_RULE_NAME_MAX));
	assert_false(strata_rule_name_valid(long_name,
	    STRATA_RULE_NAME_MAX + 1));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_minimal_and_defaults),
	    cmocka_unit_test(test_every_kind),
	    cmocka_unit_test(test_http_defaults),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
