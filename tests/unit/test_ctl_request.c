/*
 * test_ctl_request.c - stratactl's table and the requests built from it:
 * URL encoding, path templates (one or two variables), query strings,
 * JSON bodies and headers, from command lines as a user types them; the
 * identity commands against the table of docs/internals/admin-authz.md,
 * section 4; the shadow commands against docs/internals/shadowd-http.md
 * (payloads as bytes, outfiles as positional words); the topic rule
 * commands against docs/internals/rules-admin.md (the payload as the
 * whole body, its shape checked as the AWS CLI checks it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "args.h"
#include "request.h"
#include "table.h"

#define ARN "arn:aws:iot:local:000000000000:cert/ab12"
#define ARN_ENCODED "arn%3Aaws%3Aiot%3Alocal%3A000000000000%3Acert%2Fab12"

struct built {
	struct ctl_invocation inv;
	struct ctl_request req;
	struct ctl_error err;
	int rc;
};

/* Parse the NULL-terminated words after "stratactl" and build the
 * request under base. */
static void
build(struct built *b, const char *base, ...)
{
	char *argv[32] = { "stratactl" };
	int argc = 1;
	va_list ap;

	va_start(ap, base);
	while ((argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	memset(b, 0, sizeof(*b));
	assert_int_equal(ctl_args_parse(&b->inv, argc, argv, &b->err), 0);
	b->rc = ctl_request_build(&b->req, &b->inv, base, &b->err);
}

static void
done(struct built *b)
{
	ctl_request_clear(&b->req);
	ctl_args_clear(&b->inv);
}

static void
test_encode_keeps_only_unreserved(void **state)
{
	char *s = ctl_request_encode("AZaz09-._~");

	assert_string_equal(s, "AZaz09-._~");
	free(s);
	s = ctl_request_encode("a:b/c d%+?&=#");
	assert_string_equal(s, "a%3Ab%2Fc%20d%25%2B%3F%26%3D%23");
	free(s);
	s = ctl_request_encode("\xc3\xa9");
	assert_string_equal(s, "%C3%A9");
	free(s);
	s = ctl_request_encode(ARN);
	assert_string_equal(s, ARN_ENCODED);
	free(s);
}

/* Every {variable} of a path has a required path flag and every path
 * flag a variable; names are unique; each row fits the table's rules. */
static void
check_row(const struct ctl_command *c)
{
	size_t i, j, n = ctl_table_flag_count(c);
	char variable[80];
	const char *p;

	for (i = 0; i < n; i++) {
		const struct ctl_flag *f = &c->flags[i];

		for (j = i + 1; j < n; j++) {
			assert_string_not_equal(f->name, c->flags[j].name);
			/* one payload, one positional outfile at most */
			if (f->place == CTL_PAYLOAD ||
			    f->place == CTL_PAYLOAD_OUTFILE)
				assert_int_not_equal(f->place,
				    c->flags[j].place);
		}
		if (f->place == CTL_PATH) {
			snprintf(variable, sizeof(variable), "{%s}", f->wire);
			assert_non_null(strstr(c->path, variable));
			assert_true(f->options & CTL_REQUIRED);
		}
		/* one of several: none is required alone */
		if (f->place == CTL_PATH_TAIL) {
			assert_int_equal(f->kind, CTL_STRING);
			assert_false(f->options & CTL_REQUIRED);
		}
		if (f->kind == CTL_BOOLEAN)
			assert_false(f->options & CTL_REQUIRED);
		if (f->place == CTL_OUTFILE ||
		    f->place == CTL_PAYLOAD_OUTFILE)
			assert_int_equal(f->kind, CTL_STRING);
		/* a blob is the whole body, never a member beside others */
		assert_int_equal(f->place == CTL_PAYLOAD, f->kind == CTL_BLOB);
		if (f->place == CTL_PAYLOAD) {
			assert_false(ctl_table_has_body(c));
			assert_true(f->options & CTL_REQUIRED);
		}
		if (f->place == CTL_PAYLOAD_OUTFILE) {
			assert_true(f->options & CTL_REQUIRED);
			assert_int_equal(c->api, CTL_API_DATA);
		}
		/* a whole JSON body is a rule payload, required, alone */
		assert_int_equal(f->place == CTL_BODY_WHOLE,
		    f->kind == CTL_RULE_PAYLOAD);
		if (f->place == CTL_BODY_WHOLE) {
			assert_true(f->options & CTL_REQUIRED);
			assert_int_equal(ctl_table_flag_at(c, CTL_BODY), -1);
			assert_int_equal(ctl_table_flag_at(c, CTL_PAYLOAD),
			    -1);
		}
		if (f->options & CTL_NOT_EMPTY)
			assert_int_equal(f->place, CTL_QUERY);
		if (f->options & CTL_PRIVATE)
			assert_int_equal(f->place, CTL_OUTFILE);
		if (f->choices != NULL)
			assert_int_equal(f->kind, CTL_STRING);
	}
	for (p = strchr(c->path, '{'); p != NULL; p = strchr(p + 1, '{')) {
		for (i = 0; i < n; i++)
			if (c->flags[i].place == CTL_PATH &&
			    strncmp(p + 1, c->flags[i].wire,
				strlen(c->flags[i].wire)) == 0 &&
			    p[1 + strlen(c->flags[i].wire)] == '}')
				break;
		assert_true(i < n);
	}
}

static void
test_table_rows_are_consistent(void **state)
{
	size_t i, j;

	assert_int_equal(ctl_table_count, 133);
	for (i = 0; i < ctl_table_count; i++) {
		check_row(&ctl_table_commands[i]);
		assert_ptr_equal(ctl_table_find(ctl_table_commands[i].name),
		    &ctl_table_commands[i]);
		for (j = i + 1; j < ctl_table_count; j++)
			assert_string_not_equal(
			    ctl_table_commands[i].operation,
			    ctl_table_commands[j].operation);
	}
	assert_null(ctl_table_find("create-things"));
}

static void
test_create_thing_body_and_path(void **state)
{
	struct built b;

	build(&b, "", "create-thing", "--thing-name", "lamp:1",
	    "--thing-type-name", "lamp", "--attribute-payload",
	    "attributes={color=red,watts=60}", NULL);
	assert_int_equal(b.rc, 0);
	assert_int_equal(b.req.method, EVHTTP_REQ_POST);
	assert_string_equal(b.req.target, "/things/lamp%3A1");
	assert_string_equal(b.req.body, "{\"thingTypeName\":\"lamp\","
	    "\"attributePayload\":{\"attributes\":{\"color\":\"red\","
	    "\"watts\":\"60\"}}}");
	assert_int_equal(b.req.header_count, 0);
	done(&b);
}

static void
test_update_thing_types_its_members(void **state)
{
	struct built b;

	build(&b, "", "update-thing", "--thing-name", "t",
	    "--remove-thing-type", "--expected-version=7",
	    "--attribute-payload", "attributes={a=1},merge=false", NULL);
	assert_int_equal(b.rc, 0);
	assert_int_equal(b.req.method, EVHTTP_REQ_PATCH);
	assert_string_equal(b.req.body, "{\"removeThingType\":true,"
	    "\"attributePayload\":{\"attributes\":{\"a\":\"1\"},"
	    "\"merge\":false},\"expectedVersion\":7}");
	done(&b);
	/* no body flag given: still a JSON body */
	build(&b, "", "update-thing", "--thing-name", "t", NULL);
	assert_string_equal(b.req.body, "{}");
	done(&b);
}

static void
test_query_flags(void **state)
{
	struct built b;

	build(&b, "", "delete-thing", "--thing-name", "t",
	    "--expected-version", "3", NULL);
	assert_int_equal(b.req.method, EVHTTP_REQ_DELETE);
	assert_string_equal(b.req.target, "/things/t?expectedVersion=3");
	assert_null(b.req.body);
	done(&b);
	build(&b, "", "register-ca-certificate", "--ca-certificate", "PEM",
	    "--set-as-active", "--no-allow-auto-registration", NULL);
	assert_string_equal(b.req.target, "/cacertificate?setAsActive=true"
	    "&allowAutoRegistration=false");
	assert_string_equal(b.req.body, "{\"caCertificate\":\"PEM\"}");
	done(&b);
	build(&b, "", "update-certificate", "--certificate-id", "ab",
	    "--new-status", "REVOKED", NULL);
	assert_int_equal(b.req.method, EVHTTP_REQ_PUT);
	assert_string_equal(b.req.target,
	    "/certificates/ab?newStatus=REVOKED");
	assert_null(b.req.body);
	done(&b);
}

static void
test_arn_in_path_and_header(void **state)
{
	struct built b;

	build(&b, "", "list-attached-policies", "--target", ARN, NULL);
	assert_int_equal(b.req.method, EVHTTP_REQ_POST);
	assert_string_equal(b.req.target, "/attached-policies/" ARN_ENCODED);
	assert_null(b.req.body);
	done(&b);
	build(&b, "", "attach-thing-principal", "--thing-name", "t",
	    "--principal", ARN, NULL);
	assert_string_equal(b.req.target, "/things/t/principals");
	assert_int_equal(b.req.header_count, 1);
	assert_string_equal(b.req.headers[0].name, "x-amzn-principal");
	assert_string_equal(b.req.headers[0].value, ARN);
	done(&b);
}

static void
test_base_path_prefixes_the_target(void **state)
{
	struct built b;

	build(&b, "/admin", "list-things", "--max-results", "5", NULL);
	assert_string_equal(b.req.target, "/admin/things?maxResults=5");
	done(&b);
}

static void
test_policy_document_is_a_string(void **state)
{
	struct built b;

	build(&b, "", "create-policy", "--policy-name", "p",
	    "--policy-document", "{\"Version\": \"2012-10-17\"}", NULL);
	assert_string_equal(b.req.body,
	    "{\"policyDocument\":\"{\\\"Version\\\": \\\"2012-10-17\\\"}\"}");
	done(&b);
}

static void
test_refusals(void **state)
{
	struct built b;

	build(&b, "", "describe-thing", "--thing-name", "", NULL);
	assert_int_equal(b.rc, -1);
	assert_int_equal(b.err.status, CTL_EXIT_USAGE);
	assert_non_null(strstr(b.err.message, "Invalid length for "
	    "parameter thingName"));
	done(&b);
	build(&b, "", "create-thing", "--thing-name", "t",
	    "--attribute-payload", "attributes={a=1},color=red", NULL);
	assert_int_equal(b.rc, -1);
	assert_string_equal(b.err.message, "Parameter validation failed: "
	    "Unknown parameter in attributePayload: \"color\", must be one "
	    "of: attributes, merge");
	done(&b);
	build(&b, "", "create-thing", "--thing-name", "t",
	    "--attribute-payload", "{\"attributes\": {\"a\": 1}}", NULL);
	assert_int_equal(b.rc, -1);
	assert_non_null(
	    strstr(b.err.message, "attributePayload.attributes.a"));
	done(&b);
	build(&b, "", "update-thing", "--thing-name", "t",
	    "--attribute-payload", "merge=yes", NULL);
	assert_int_equal(b.rc, -1);
	assert_non_null(strstr(b.err.message, "attributePayload.merge"));
	done(&b);
	build(&b, "", "update-ca-certificate", "--certificate-id", "c",
	    "--registration-config", "templateBody", NULL);
	assert_int_equal(b.rc, -1);
	assert_string_equal(b.err.message, "Error parsing parameter "
	    "'--registration-config': expected '=' after the key at "
	    "column 13");
	done(&b);
}

static void
test_registration_config_shorthand(void **state)
{
	struct built b;

	build(&b, "", "update-ca-certificate", "--certificate-id", "c",
	    "--new-status", "ACTIVE", "--registration-config",
	    "templateBody='{\"a\": 1}'", NULL);
	assert_int_equal(b.rc, 0);
	assert_string_equal(b.req.target, "/cacertificate/c?newStatus=ACTIVE");
	assert_string_equal(b.req.body, "{\"registrationConfig\":"
	    "{\"templateBody\":\"{\\\"a\\\": 1}\"}}");
	done(&b);
}

/* One identity command line and what it must send. */
struct identity_case {
	const char *words[10];      /* after "stratactl", NULL-ended */
	enum evhttp_cmd_type method;
	const char *target;
	const char *body;           /* NULL: no body */
};

static const struct identity_case identity_cases[] = {
	{ { "create-admin-user", "--user-name", "ops", NULL },
	    EVHTTP_REQ_POST, "/admin-users/ops", NULL },
	{ { "get-admin-user", "--user-name", "ops", NULL },
	    EVHTTP_REQ_GET, "/admin-users/ops", NULL },
	{ { "list-admin-users", NULL }, EVHTTP_REQ_GET, "/admin-users",
	    NULL },
	{ { "delete-admin-user", "--user-name", "ops", NULL },
	    EVHTTP_REQ_DELETE, "/admin-users/ops", NULL },
	{ { "create-access-key", "--user-name", "ops", NULL },
	    EVHTTP_REQ_POST, "/admin-users/ops/access-keys", NULL },
	{ { "list-access-keys", "--user-name", "ops", NULL },
	    EVHTTP_REQ_GET, "/admin-users/ops/access-keys", NULL },
	{ { "update-access-key", "--user-name", "ops", "--access-key-id",
	      "AKIAABCDEFGHIJKLMNOP", "--status", "Inactive", NULL },
	    EVHTTP_REQ_PATCH,
	    "/admin-users/ops/access-keys/AKIAABCDEFGHIJKLMNOP",
	    "{\"Status\":\"Inactive\"}" },
	{ { "delete-access-key", "--access-key-id", "AKIAABCDEFGHIJKLMNOP",
	      "--user-name", "ops", NULL },
	    EVHTTP_REQ_DELETE,
	    "/admin-users/ops/access-keys/AKIAABCDEFGHIJKLMNOP", NULL },
	{ { "create-admin-policy", "--policy-name", "ReadOnly",
	      "--policy-document", "{\"Version\": \"2012-10-17\"}", NULL },
	    EVHTTP_REQ_POST, "/admin-policies/ReadOnly",
	    "{\"PolicyDocument\":\"{\\\"Version\\\": "
	    "\\\"2012-10-17\\\"}\"}" },
	{ { "get-admin-policy", "--policy-name", "ReadOnly", NULL },
	    EVHTTP_REQ_GET, "/admin-policies/ReadOnly", NULL },
	{ { "list-admin-policies", NULL }, EVHTTP_REQ_GET, "/admin-policies",
	    NULL },
	{ { "delete-admin-policy", "--policy-name", "ReadOnly", NULL },
	    EVHTTP_REQ_DELETE, "/admin-policies/ReadOnly", NULL },
	{ { "attach-admin-policy", "--user-name", "ops", "--policy-name",
	      "ReadOnly", NULL },
	    EVHTTP_REQ_PUT, "/admin-users/ops/policies/ReadOnly", NULL },
	{ { "detach-admin-policy", "--policy-name", "ReadOnly",
	      "--user-name", "ops", NULL },
	    EVHTTP_REQ_DELETE, "/admin-users/ops/policies/ReadOnly", NULL },
	{ { "list-attached-admin-policies", "--user-name", "ops", NULL },
	    EVHTTP_REQ_GET, "/admin-users/ops/policies", NULL },
};

/* Build argv from words and the request under base. */
static void
build_words(struct built *b, const char *base, const char *const *words)
{
	char *argv[16] = { "stratactl" };
	int argc = 1;

	while (words[argc - 1] != NULL) {
		argv[argc] = (char *)words[argc - 1];
		argc++;
	}
	memset(b, 0, sizeof(*b));
	assert_int_equal(ctl_args_parse(&b->inv, argc, argv, &b->err), 0);
	b->rc = ctl_request_build(&b->req, &b->inv, base, &b->err);
}

static void
test_identity_commands(void **state)
{
	size_t i, n = sizeof(identity_cases) / sizeof(identity_cases[0]);
	struct built b;

	assert_int_equal(n, 15);
	for (i = 0; i < n; i++) {
		const struct identity_case *c = &identity_cases[i];

		build_words(&b, "", c->words);
		assert_int_equal(b.rc, 0);
		assert_int_equal(b.req.method, c->method);
		assert_string_equal(b.req.target, c->target);
		if (c->body == NULL)
			assert_null(b.req.body);
		else
			assert_string_equal(b.req.body, c->body);
		assert_int_equal(b.req.header_count, 0);
		done(&b);
	}
}

static void
test_two_path_variables_are_encoded(void **state)
{
	struct built b;

	build(&b, "/admin", "attach-admin-policy", "--user-name",
	    "ops+1@example.com", "--policy-name", "a=b,c", NULL);
	assert_int_equal(b.rc, 0);
	assert_string_equal(b.req.target, "/admin/admin-users/"
	    "ops%2B1%40example.com/policies/a%3Db%2Cc");
	done(&b);
	build(&b, "", "delete-access-key", "--user-name", "ops",
	    "--access-key-id", "", NULL);
	assert_int_equal(b.rc, -1);
	assert_string_equal(b.err.message, "Invalid length for parameter "
	    "accessKeyId (--access-key-id), value: 0, valid min length: 1");
	done(&b);
}

/* One shadow command line and what it must send. */
struct shadow_case {
	const char *words[12];      /* after "stratactl", NULL-ended */
	enum evhttp_cmd_type method;
	const char *target;
	const char *body;           /* NULL: no body */
	const char *outfile;        /* NULL: none */
};

static const struct shadow_case shadow_cases[] = {
	{ { "get-thing-shadow", "--thing-name", "lamp-1", "out.json", NULL },
	    EVHTTP_REQ_GET, "/things/lamp-1/shadow", NULL, "out.json" },
	/* the outfile anywhere after the command; '-' is a file name */
	{ { "get-thing-shadow", "-", "--thing-name", "lamp:1",
	      "--shadow-name", "night_light", NULL },
	    EVHTTP_REQ_GET, "/things/lamp%3A1/shadow?name=night_light", NULL,
	    "-" },
	{ { "update-thing-shadow", "--thing-name", "lamp-1", "--payload",
	      "eyJzdGF0ZSI6e319", "out.json", NULL },
	    EVHTTP_REQ_POST, "/things/lamp-1/shadow", "{\"state\":{}}",
	    "out.json" },
	{ { "update-thing-shadow", "--cli-binary-format",
	      "raw-in-base64-out", "--thing-name", "lamp-1", "--shadow-name",
	      "a b", "--payload", "{\"state\": {}}", "o", NULL },
	    EVHTTP_REQ_POST, "/things/lamp-1/shadow?name=a%20b",
	    "{\"state\": {}}", "o" },
	{ { "delete-thing-shadow", "--thing-name", "lamp-1", "--shadow-name",
	      "s", "o", NULL },
	    EVHTTP_REQ_DELETE, "/things/lamp-1/shadow?name=s", NULL, "o" },
	{ { "list-named-shadows-for-thing", "--thing-name", "lamp-1", NULL },
	    EVHTTP_REQ_GET,
	    "/api/things/shadow/ListNamedShadowsForThing/lamp-1", NULL,
	    NULL },
	{ { "list-named-shadows-for-thing", "--page-size", "10",
	      "--thing-name", "lamp-1", "--next-token", "25", NULL },
	    EVHTTP_REQ_GET, "/api/things/shadow/ListNamedShadowsForThing/"
	    "lamp-1?nextToken=25&pageSize=10", NULL, NULL },
};

static void
test_shadow_commands(void **state)
{
	size_t i, n = sizeof(shadow_cases) / sizeof(shadow_cases[0]);
	struct built b;

	for (i = 0; i < n; i++) {
		const struct shadow_case *c = &shadow_cases[i];

		build_words(&b, "", c->words);
		assert_int_equal(b.rc, 0);
		assert_int_equal(b.inv.command->api, CTL_API_DATA);
		assert_int_equal(b.req.method, c->method);
		assert_string_equal(b.req.target, c->target);
		/* a payload is sent as it is, without a content type */
		assert_null(b.req.content_type);
		if (c->body == NULL) {
			assert_null(b.req.body);
			assert_int_equal(b.req.body_len, 0);
		} else {
			assert_int_equal(b.req.body_len, strlen(c->body));
			assert_memory_equal(b.req.body, c->body,
			    b.req.body_len);
		}
		if (c->outfile == NULL)
			assert_null(ctl_args_value(&b.inv, "outfile"));
		else
			assert_string_equal(ctl_args_value(&b.inv, "outfile"),
			    c->outfile);
		done(&b);
	}
	/* the admin API's JSON bodies say so */
	build(&b, "", "update-thing", "--thing-name", "t", NULL);
	assert_string_equal(b.req.content_type, "application/json");
	assert_int_equal(b.req.body_len, 2);
	done(&b);
}

static void
test_shadow_refusals(void **state)
{
	struct built b;

	build(&b, "", "get-thing-shadow", "--thing-name", "t",
	    "--shadow-name", "", "o", NULL);
	assert_int_equal(b.rc, -1);
	assert_int_equal(b.err.status, CTL_EXIT_USAGE);
	assert_string_equal(b.err.message, "Invalid length for parameter "
	    "name (--shadow-name), value: 0, valid min length: 1");
	done(&b);
	/* JSON typed without raw-in-base64-out: the AWS CLI v2's error */
	build(&b, "/base", "update-thing-shadow", "--thing-name", "t",
	    "--payload", "{\"state\":{\"desired\":{\"on\":true}}}", "o",
	    NULL);
	assert_int_equal(b.rc, -1);
	assert_int_equal(b.err.status, CTL_EXIT_FAILED);
	assert_string_equal(b.err.message, "Invalid base64: "
	    "\"{\"state\":{\"desired\":{\"on\":true}}}\"");
	assert_null(b.req.target);
	done(&b);
}

#define RULE_JSON "{\"sql\":\"SELECT * FROM 'a/+'\",\"actions\":[]}"

/* One topic rule command line and what it must send. */
struct rule_case {
	const char *words[12];      /* after "stratactl", NULL-ended */
	enum evhttp_cmd_type method;
	const char *target;
	const char *body;           /* NULL: no body */
};

static const struct rule_case rule_cases[] = {
	{ { "create-topic-rule", "--rule-name", "r_1",
	      "--topic-rule-payload", RULE_JSON, NULL },
	    EVHTTP_REQ_POST, "/rules/r_1", RULE_JSON },
	{ { "get-topic-rule", "--rule-name", "r_1", NULL },
	    EVHTTP_REQ_GET, "/rules/r_1", NULL },
	{ { "list-topic-rules", NULL }, EVHTTP_REQ_GET, "/rules", NULL },
	{ { "list-topic-rules", "--rule-disabled", "--topic", "a/+/#",
	      "--next-token", "r_1", "--max-results", "5", NULL },
	    EVHTTP_REQ_GET, "/rules?topic=a%2F%2B%2F%23&maxResults=5"
	    "&nextToken=r_1&ruleDisabled=true", NULL },
	{ { "replace-topic-rule", "--rule-name", "r_1",
	      "--topic-rule-payload", "{\"sql\": \"SELECT * FROM 'b'\", "
	      "\"actions\": [{\"republish\": {\"topic\": \"c\"}}], "
	      "\"ruleDisabled\": true}", NULL },
	    EVHTTP_REQ_PATCH, "/rules/r_1", "{\"sql\":\"SELECT * FROM 'b'\","
	    "\"actions\":[{\"republish\":{\"topic\":\"c\"}}],"
	    "\"ruleDisabled\":true}" },
	{ { "delete-topic-rule", "--rule-name", "r_1", NULL },
	    EVHTTP_REQ_DELETE, "/rules/r_1", NULL },
	{ { "enable-topic-rule", "--rule-name", "r_1", NULL },
	    EVHTTP_REQ_POST, "/rules/r_1/enable", NULL },
	{ { "disable-topic-rule", "--rule-name", "r_1", NULL },
	    EVHTTP_REQ_POST, "/rules/r_1/disable", NULL },
	{ { "create-topic-rule-destination", "--destination-configuration",
	      "httpUrlConfiguration={confirmationUrl=https://h/x}", NULL },
	    EVHTTP_REQ_POST, "/destinations", "{\"destinationConfiguration\":"
	    "{\"httpUrlConfiguration\":{\"confirmationUrl\":\"https://h/x\"}}}" },
	{ { "get-topic-rule-destination", "--arn", "arn:a/b", NULL },
	    EVHTTP_REQ_GET, "/destinations/arn%3Aa%2Fb", NULL },
	{ { "update-topic-rule-destination", "--arn", "arn:a", "--status",
	      "ENABLED", NULL },
	    EVHTTP_REQ_PATCH, "/destinations",
	    "{\"arn\":\"arn:a\",\"status\":\"ENABLED\"}" },
	{ { "confirm-topic-rule-destination", "--confirmation-token", "t-1",
	      NULL },
	    EVHTTP_REQ_GET, "/confirmdestination/t-1", NULL },
};

static void
test_topic_rule_commands(void **state)
{
	size_t i, n = sizeof(rule_cases) / sizeof(rule_cases[0]);
	struct built b;

	for (i = 0; i < n; i++) {
		const struct rule_case *c = &rule_cases[i];

		build_words(&b, "", c->words);
		assert_int_equal(b.rc, 0);
		assert_int_equal(b.req.method, c->method);
		assert_string_equal(b.req.target, c->target);
		if (c->body == NULL) {
			assert_null(b.req.body);
		} else {
			assert_string_equal(b.req.body, c->body);
			assert_string_equal(b.req.content_type,
			    "application/json");
		}
		done(&b);
	}
}

/* The payload's check: the message of text, or "" when it passes (the
 * object then in sent). */
static void
rule_check(const char *text, char *msg, size_t msglen, char **sent)
{
	json_t *payload = json_loads(text, 0, NULL);

	assert_non_null(payload);
	msg[0] = '\0';
	if (ctl_request_rule_payload(payload, msg, msglen) == 0) {
		assert_string_equal(msg, "");
		*sent = json_dumps(payload, JSON_COMPACT);
	} else {
		*sent = NULL;
	}
	json_decref(payload);
}

static void
test_topic_rule_payload_is_checked(void **state)
{
	static const struct {
		const char *payload;
		const char *message;   /* NULL: passes */
	} cases[] = {
		{ "{\"sql\": \"s\", \"actions\": [], \"description\": \"d\","
		  " \"ruleDisabled\": false, \"awsIotSqlVersion\": \"v\","
		  " \"errorAction\": {}}", NULL },
		{ "{\"sql\": \"s\", \"actions\": [], \"tags\": \"a=b\"}",
		  "Unknown parameter in topicRulePayload: \"tags\", must be "
		  "one of: sql, description, actions, ruleDisabled, "
		  "awsIotSqlVersion, errorAction" },
		{ "{\"actions\": []}", "Missing required parameter in "
		  "topicRulePayload: \"sql\"" },
		{ "{\"sql\": \"s\"}", "Missing required parameter in "
		  "topicRulePayload: \"actions\"" },
		{ "{\"sql\": 1, \"actions\": []}", "Invalid type for "
		  "parameter topicRulePayload.sql, valid types: string" },
		{ "{\"sql\": \"s\", \"actions\": {}}", "Invalid type for "
		  "parameter topicRulePayload.actions, valid types: list" },
		{ "{\"sql\": \"s\", \"actions\": [], \"errorAction\": []}",
		  "Invalid type for parameter topicRulePayload.errorAction, "
		  "valid types: object" },
		{ "{\"sql\": \"s\", \"actions\": [], \"ruleDisabled\": 0}",
		  "Invalid type for parameter topicRulePayload.ruleDisabled, "
		  "valid types: boolean" },
		{ "{\"sql\": \"s\", \"actions\": [], \"ruleDisabled\": "
		  "\"yes\"}", "Invalid type for parameter "
		  "topicRulePayload.ruleDisabled, valid types: boolean" },
		{ "{\"sql\": \"s\", \"actions\": [], \"description\": "
		  "null}", "Invalid type for parameter "
		  "topicRulePayload.description, valid types: string" },
	};
	char msg[256], *sent;
	struct built b;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rule_check(cases[i].payload, msg, sizeof(msg), &sent);
		if (cases[i].message == NULL)
			assert_non_null(sent);
		else
			assert_string_equal(msg, cases[i].message);
		free(sent);
	}
	/* shorthand has no lists: never a whole payload */
	build(&b, "", "create-topic-rule", "--rule-name", "r",
	    "--topic-rule-payload", "sql=SELECT * FROM t,ruleDisabled=true",
	    NULL);
	assert_int_equal(b.rc, -1);
	assert_string_equal(b.err.message, "Parameter validation failed: "
	    "Missing required parameter in topicRulePayload: \"actions\"");
	done(&b);
	/* the command line: refused before anything is built */
	build(&b, "", "create-topic-rule", "--rule-name", "r",
	    "--topic-rule-payload", "{\"sql\": \"s\"}", NULL);
	assert_int_equal(b.rc, -1);
	assert_int_equal(b.err.status, CTL_EXIT_USAGE);
	assert_string_equal(b.err.message, "Parameter validation failed: "
	    "Missing required parameter in topicRulePayload: \"actions\"");
	assert_null(b.req.target);
	done(&b);
	build(&b, "", "create-topic-rule", "--rule-name", "r",
	    "--topic-rule-payload", "{\"sql\": ", NULL);
	assert_int_equal(b.rc, -1);
	assert_non_null(strstr(b.err.message, "'--topic-rule-payload'"));
	done(&b);
}

/* The throttle limits commands: the one target given is the path's
 * tail (encoded); none or both is a usage error. */
static void
test_path_tail_names_one_target(void **state)
{
	struct built b;

	build(&b, "", "set-throttle-limits", "--thing-group-name", "g:1",
	    "--publish-rate", "5", "--subscribe-rate", "0", NULL);
	assert_int_equal(b.rc, 0);
	assert_int_equal(b.req.method, EVHTTP_REQ_PUT);
	assert_string_equal(b.req.target,
	    "/strata/throttle-limits/thing-groups/g%3A1");
	assert_string_equal(b.req.body, "{\"publishRate\":5,"
	    "\"subscribeRate\":0}");
	done(&b);
	build(&b, "/base", "get-throttle-limits", "--thing-type-name", "lamp",
	    NULL);
	assert_int_equal(b.rc, 0);
	assert_string_equal(b.req.target,
	    "/base/strata/throttle-limits/thing-types/lamp");
	done(&b);
	build(&b, "", "delete-throttle-limits", NULL);
	assert_int_equal(b.rc, -1);
	assert_int_equal(b.err.status, CTL_EXIT_USAGE);
	assert_string_equal(b.err.message, "give exactly one of "
	    "--thing-group-name and --thing-type-name");
	done(&b);
	build(&b, "", "delete-throttle-limits", "--thing-group-name", "g",
	    "--thing-type-name", "t", NULL);
	assert_int_equal(b.rc, -1);
	assert_int_equal(b.err.status, CTL_EXIT_USAGE);
	done(&b);
	build(&b, "", "list-throttle-limits", "--target-type", "THING_TYPE",
	    NULL);
	assert_int_equal(b.rc, 0);
	assert_string_equal(b.req.target,
	    "/strata/throttle-limits?targetType=THING_TYPE");
	done(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_keeps_only_unreserved),
		cmocka_unit_test(test_table_rows_are_consistent),
		cmocka_unit_test(test_create_thing_body_and_path),
		cmocka_unit_test(test_update_thing_types_its_members),
		cmocka_unit_test(test_query_flags),
		cmocka_unit_test(test_arn_in_path_and_header),
		cmocka_unit_test(test_base_path_prefixes_the_target),
		cmocka_unit_test(test_policy_document_is_a_string),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_registration_config_shorthand),
		cmocka_unit_test(test_identity_commands),
		cmocka_unit_test(test_two_path_variables_are_encoded),
		cmocka_unit_test(test_shadow_commands),
		cmocka_unit_test(test_shadow_refusals),
		cmocka_unit_test(test_topic_rule_commands),
		cmocka_unit_test(test_topic_rule_payload_is_checked),
		cmocka_unit_test(test_path_tail_names_one_target),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
