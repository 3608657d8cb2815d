/*
 * test_policy.c - AWS IoT Core policies: parsing and its refusals,
 * variables, conditions, wildcards, decisions.
 *
 * Documents are written with single quotes for readability; doc() turns
 * them into JSON (no test value needs a real single quote).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy.h"

#define ARN "arn:aws:iot:local:000000000000:"
#define V12 "'Version':'2012-10-17',"

#define CONNECT STRATA_IOT_CONNECT
#define PUBLISH STRATA_IOT_PUBLISH
#define SUBSCRIBE STRATA_IOT_SUBSCRIBE
#define RECEIVE STRATA_IOT_RECEIVE
#define RETAIN STRATA_IOT_RETAIN_PUBLISH

#define ALLOW STRATA_POLICY_ALLOW
#define DENY STRATA_POLICY_DENY_EXPLICIT
#define DEFAULT STRATA_POLICY_DENY_DEFAULT

/* A certificate for cert_field: pairs of name and value. */
struct test_cert {
	const char *fields[16][2];
};

static const char *
test_cert_field(void *ctx, const char *name)
{
	const struct test_cert *cert = ctx;

	for (size_t i = 0; i < 16 && cert->fields[i][0] != NULL; i++)
		if (strcmp(cert->fields[i][0], name) == 0)
			return cert->fields[i][1];
	return NULL;
}

/* The document with ' turned into ". Caller frees. */
static char *
doc(const char *s)
{
	char *d = strdup(s);

	assert_non_null(d);
	for (char *p = d; *p != '\0'; p++)
		if (*p == '\'')
			*p = '"';
	return d;
}

static struct strata_policy *
parse_ok(const char *text)
{
	struct strata_policy_error err;
	struct strata_policy *pol;
	char *d = doc(text);

	pol = strata_policy_parse(d, strlen(d), &err);
	if (pol == NULL)
		fail_msg("refused at '%s' (%d:%d): %s\n%s", err.path, err.line,
		    err.column, err.message, d);
	free(d);
	return pol;
}

/* Parse must fail at path with a message containing want. */
static void
parse_fails(const char *text, const char *path, const char *want)
{
	struct strata_policy_error err;
	struct strata_policy *pol;
	char *d = doc(text);

	pol = strata_policy_parse(d, strlen(d), &err);
	if (pol != NULL)
		fail_msg("accepted: %s", d);
	if (strcmp(err.path, path) != 0 || strstr(err.message, want) == NULL)
		fail_msg("%s\nrefused at '%s' with '%s'; expected '%s' with "
		         "'%s'",
		    d, err.path, err.message, path, want);
	assert_int_equal(err.line, 0);
	assert_int_equal(err.column, 0);
	free(d);
}

struct check {
	int action;
	const char *resource;
	enum strata_policy_decision want;
};

/* Bind the documents to vars and run the checks. */
static void
run(const char *const *docs, size_t ndocs,
    const struct strata_policy_vars *vars, const struct check *checks,
    size_t nchecks)
{
	struct strata_policy *pols[4];
	struct strata_policy_set *set;

	assert_true(ndocs <= 4);
	for (size_t i = 0; i < ndocs; i++)
		pols[i] = parse_ok(docs[i]);
	set = strata_policy_bind(pols, ndocs, vars);
	/* the set must not need the policies any more */
	for (size_t i = 0; i < ndocs; i++)
		strata_policy_free(pols[i]);
	for (size_t i = 0; i < nchecks; i++) {
		enum strata_policy_decision got = strata_policy_check(
		    set, checks[i].action, checks[i].resource);

		if (got != checks[i].want)
			fail_msg(
			    "check %zu: action %d on %s: got %d, want %d\n"
			    "%s",
			    i, checks[i].action, checks[i].resource, got,
			    checks[i].want, docs[0]);
	}
	strata_policy_set_free(set);
}

#define RUN1(d, vars, checks)                                                 \
	do {                                                                  \
		const char *docs_[] = {d};                                    \
		run(docs_, 1, vars, checks,                                   \
		    sizeof(checks) / sizeof((checks)[0]));                    \
	} while (0)

/* ---- decisions ------------------------------------------------------- */

static void
test_allow_and_default_deny(void **state)
{
	struct strata_policy_vars vars = {.client_id = "dev1"};
	static const struct check checks[] = {
	    {CONNECT, ARN "client/dev1", ALLOW},
	    {CONNECT, ARN "client/dev2", DEFAULT},
	    {PUBLISH, ARN "topic/dev1/a", ALLOW},
	    {PUBLISH, ARN "topic/dev2/a", DEFAULT},
	    {SUBSCRIBE, ARN "topicfilter/dev1/a", DEFAULT},
	    {RECEIVE, ARN "topic/dev1/a", DEFAULT},
	    {RETAIN, ARN "topic/dev1/a", DEFAULT},
	    /* region and account are part of the match */
	    {CONNECT, "arn:aws:iot:other:000000000000:client/dev1", DEFAULT},
	    {CONNECT, "arn:aws:iot:local:111111111111:client/dev1", DEFAULT},
	};

	RUN1("{" V12 "'Statement':["
	     "{'Effect':'Allow','Action':['iot:Connect'],"
	     "'Resource':['" ARN "client/${iot:ClientId}']},"
	     "{'Effect':'Allow','Action':'iot:Publish',"
	     "'Resource':'" ARN "topic/${iot:ClientId}/*'}]}",
	    &vars, checks);
}

/* The shadow actions of the HTTPS API: thing/T and thing/T/SHADOW, with
 * certificate variables (HTTP has no client id, so no thing variable). */
static void
test_shadow_actions(void **state)
{
	static const struct test_cert cert = {
	    {{"Subject.CommonName", "lamp-1"}}};
	struct strata_policy_vars vars = {.cert_field = test_cert_field,
	    .cert_ctx = (void *)&cert};
	static const struct check checks[] = {
	    {STRATA_IOT_GET_THING_SHADOW, ARN "thing/lamp-1", ALLOW},
	    {STRATA_IOT_GET_THING_SHADOW, ARN "thing/lamp-1/cfg", ALLOW},
	    {STRATA_IOT_UPDATE_THING_SHADOW, ARN "thing/lamp-1", ALLOW},
	    {STRATA_IOT_UPDATE_THING_SHADOW, ARN "thing/lamp-1/cfg", DEFAULT},
	    {STRATA_IOT_DELETE_THING_SHADOW, ARN "thing/lamp-1", DENY},
	    {STRATA_IOT_LIST_NAMED_SHADOWS, ARN "thing/lamp-1", ALLOW},
	    {STRATA_IOT_GET_THING_SHADOW, ARN "thing/lamp-2", DEFAULT},
	    /* a shadow action is not a publish */
	    {PUBLISH, ARN "thing/lamp-1", DEFAULT},
	    {STRATA_IOT_GET_THING_SHADOW | STRATA_IOT_UPDATE_THING_SHADOW,
	        ARN "thing/lamp-1", DEFAULT},
	};

	RUN1("{" V12 "'Statement':["
	     "{'Effect':'Allow','Action':['iot:GetThingShadow',"
	     "'iot:ListNamedShadowsForThing'],"
	     "'Resource':['" ARN "thing/${iot:Certificate.Subject.CommonName}',"
	     "'" ARN "thing/${iot:Certificate.Subject.CommonName}/*']},"
	     "{'Effect':'Allow','Action':'iot:*ThingShadow',"
	     "'Resource':'" ARN "thing/${iot:Certificate.Subject.CommonName}'},"
	     "{'Effect':'Deny','Action':'iot:DeleteThingShadow',"
	     "'Resource':'*'}]}",
	    &vars, checks);
}

static void
test_deny_beats_allow(void **state)
{
	struct strata_policy_vars vars = {.client_id = "dev1"};
	static const char *const allow =
	    "{" V12 "'Statement':"
	    "{'Effect':'Allow','Action':'iot:*','Resource':'*'}}";
	static const char *const deny =
	    "{" V12 "'Statement':"
	    "{'Effect':'Deny','Action':'iot:Publish',"
	    "'Resource':'" ARN "topic/secret/*'}}";
	static const struct check checks[] = {
	    {PUBLISH, ARN "topic/secret/x", DENY},
	    {PUBLISH, ARN "topic/public/x", ALLOW},
	    {RECEIVE, ARN "topic/secret/x", ALLOW},
	};
	const char *both[] = {allow, deny}, *reversed[] = {deny, allow};
	const char *alone[] = {deny};
	static const struct check deny_alone[] = {
	    {PUBLISH, ARN "topic/secret/x", DENY},
	    {PUBLISH, ARN "topic/public/x", DEFAULT},
	};
	static const struct check same_doc[] = {
	    {PUBLISH, ARN "topic/a/b", ALLOW},
	    {PUBLISH, ARN "topic/a/bar", DENY},
	};

	run(both, 2, &vars, checks, 3);
	run(reversed, 2, &vars, checks, 3);
	run(alone, 1, &vars, deny_alone, 2);
	/* AWS's example: all of a prefix but one topic, in one document */
	RUN1("{" V12 "'Statement':["
	     "{'Effect':'Allow','Action':['iot:Publish'],"
	     "'Resource':['" ARN "topic/a/*']},"
	     "{'Effect':'Deny','Action':['iot:Publish'],"
	     "'Resource':['" ARN "topic/a/bar']}]}",
	    &vars, same_doc);
}

static void
test_no_policies(void **state)
{
	struct strata_policy_set *set = strata_policy_bind(NULL, 0, NULL);

	assert_int_equal(
	    strata_policy_check(set, CONNECT, ARN "client/x"), DEFAULT);
	strata_policy_set_free(set);
	strata_policy_set_free(NULL);
	strata_policy_free(NULL);
	assert_int_equal(strata_policy_check(NULL, CONNECT, "x"), DEFAULT);
}

static void
test_check_bad_arguments(void **state)
{
	static const struct check checks[] = {
	    {0, ARN "topic/a", DEFAULT},
	    {PUBLISH | SUBSCRIBE, ARN "topic/a", DEFAULT},
	    {2048, ARN "topic/a", DEFAULT},
	    {-1, ARN "topic/a", DEFAULT},
	    {PUBLISH, ARN "topic/a", ALLOW},
	};
	struct strata_policy *pol =
	    parse_ok("{" V12 "'Statement':"
	             "{'Effect':'Allow','Action':'*','Resource':'*'}}");
	struct strata_policy_set *set = strata_policy_bind(&pol, 1, NULL);

	assert_int_equal(strata_policy_check(set, PUBLISH, NULL), DEFAULT);
	/* "*" matches any resource, ARN or not */
	assert_int_equal(
	    strata_policy_check(set, PUBLISH, "not an arn"), ALLOW);
	strata_policy_set_free(set);
	strata_policy_free(pol);
	RUN1("{" V12 "'Statement':"
	     "{'Effect':'Allow','Action':'*','Resource':'*'}}",
	    NULL, checks);
}

/* ---- actions --------------------------------------------------------- */

/* Which of the nine actions does Action a allow on any resource? */
static unsigned
actions_of(const char *a)
{
	static const int all[] = {CONNECT, PUBLISH, SUBSCRIBE, RECEIVE,
	    RETAIN, STRATA_IOT_GET_THING_SHADOW, STRATA_IOT_UPDATE_THING_SHADOW,
	    STRATA_IOT_DELETE_THING_SHADOW, STRATA_IOT_LIST_NAMED_SHADOWS,
	    STRATA_IOT_GET_RETAINED_MESSAGE,
	    STRATA_IOT_LIST_RETAINED_MESSAGES};
	char text[256];
	struct strata_policy *pol;
	struct strata_policy_set *set;
	unsigned bits = 0;

	snprintf(text, sizeof(text),
	    "{" V12 "'Statement':{'Effect':'Allow','Action':%s,"
	    "'Resource':'*'}}",
	    a);
	pol = parse_ok(text);
	set = strata_policy_bind(&pol, 1, NULL);
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (strata_policy_check(set, all[i], ARN "topic/x") == ALLOW)
			bits |= (unsigned)all[i];
	strata_policy_set_free(set);
	strata_policy_free(pol);
	return bits;
}

static void
test_action_wildcards(void **state)
{
	assert_int_equal(actions_of("'*'"), 2047);
	assert_int_equal(actions_of("'iot:*'"), 2047);
	assert_int_equal(actions_of("'iot:Connect'"), CONNECT);
	assert_int_equal(actions_of("'iot:Pub*'"), PUBLISH);
	assert_int_equal(actions_of("'iot:*Publish'"), PUBLISH | RETAIN);
	assert_int_equal(actions_of("'iot:Re*'"), RECEIVE | RETAIN);
	assert_int_equal(actions_of("'iot:?ublish'"), PUBLISH);
	assert_int_equal(actions_of("'iot:Subscrib?'"), SUBSCRIBE);
	assert_int_equal(actions_of("'iot:Subscrib'"), 0);
	/* action names are case-insensitive, as in IAM */
	assert_int_equal(actions_of("'IOT:publish'"), PUBLISH);
	assert_int_equal(
	    actions_of("['iot:Connect','iot:Receive']"), CONNECT | RECEIVE);
	/* the Device Shadow REST API's actions */
	assert_int_equal(actions_of("'iot:UpdateThingShadow'"),
	    STRATA_IOT_UPDATE_THING_SHADOW);
	assert_int_equal(actions_of("'iot:*ThingShadow'"),
	    STRATA_IOT_GET_THING_SHADOW | STRATA_IOT_UPDATE_THING_SHADOW |
	        STRATA_IOT_DELETE_THING_SHADOW);
	assert_int_equal(actions_of("'iot:*Shadow*'"),
	    STRATA_IOT_GET_THING_SHADOW | STRATA_IOT_UPDATE_THING_SHADOW |
	        STRATA_IOT_DELETE_THING_SHADOW |
	        STRATA_IOT_LIST_NAMED_SHADOWS);
	/* the data plane's retained-message actions */
	assert_int_equal(actions_of("'iot:*RetainedMessage*'"),
	    STRATA_IOT_GET_RETAINED_MESSAGE |
	        STRATA_IOT_LIST_RETAINED_MESSAGES);
	/* other iot: actions are accepted and grant nothing here */
	assert_int_equal(actions_of("'iot:DescribeJobExecution'"), 0);
	assert_int_equal(actions_of("['iot:DescribeEndpoint',"
	                            "'iot:Subscribe']"),
	    SUBSCRIBE);
	parse_fails("{" V12 "'Statement':{'Effect':'Allow',"
	            "'Action':'s3:GetObject','Resource':'*'}}",
	    "Statement.Action", "not an AWS IoT action");
	parse_fails("{" V12 "'Statement':[{'Effect':'Allow',"
	            "'Action':['iot:Publish','io*'],'Resource':'*'}]}",
	    "Statement[0].Action[1]", "not an AWS IoT action");
}

/* ---- resources ------------------------------------------------------- */

static void
test_resource_wildcards(void **state)
{
	static const struct check checks[] = {
	    /* '*' is any run, '/' included */
	    {PUBLISH, ARN "topic/a/", ALLOW},
	    {PUBLISH, ARN "topic/a/b/c/d", ALLOW},
	    {PUBLISH, ARN "topic/a", DEFAULT},
	    /* '?' is one character, a multi-byte one too */
	    {PUBLISH, ARN "topic/b/x", ALLOW},
	    {PUBLISH, ARN "topic/b/\xc3\xa9", ALLOW},
	    {PUBLISH, ARN "topic/b/xy", DEFAULT},
	    {PUBLISH, ARN "topic/b/", DEFAULT},
	    /* wildcards in the middle */
	    {PUBLISH, ARN "topic/c/1/end", ALLOW},
	    {PUBLISH, ARN "topic/c/1/2/end", ALLOW},
	    {PUBLISH, ARN "topic/c/end", DEFAULT},
	    {PUBLISH, ARN "topic/c/1/endx", DEFAULT},
	    /* exact: case matters in resources */
	    {PUBLISH, ARN "topic/Exact", ALLOW},
	    {PUBLISH, ARN "topic/exact", DEFAULT},
	    {PUBLISH, ARN "topic/Exact/", DEFAULT},
	    /* a literal backslash */
	    {PUBLISH, ARN "topic/back\\slash", ALLOW},
	    {PUBLISH, ARN "topic/backslash", DEFAULT},
	};
	static const struct check any_region[] = {
	    {PUBLISH, "arn:aws:iot:eu-west-1:123456789012:topic/t", ALLOW},
	    {PUBLISH, ARN "topic/t", ALLOW},
	    /* a '*' of the region or account segment spans no ':' */
	    {PUBLISH, ARN "topic/x:topic/t", DEFAULT},
	    {PUBLISH, "arn:aws:iot:r:a:b:topic/t", DEFAULT},
	    /* 'topic*' also covers topicfilter/: it is one string to the glob
	     */
	    {SUBSCRIBE, ARN "topicfilter/t", ALLOW},
	    {SUBSCRIBE, ARN "topicfilter/u", DEFAULT},
	    /* not an ARN: only '*' could match it */
	    {PUBLISH, "topic/t", DEFAULT},
	};

	RUN1("{" V12 "'Statement':{'Effect':'Allow','Action':'iot:Publish',"
	     "'Resource':['" ARN "topic/a/*','" ARN "topic/b/?',"
	     "'" ARN "topic/c/*/end','" ARN "topic/Exact',"
	     "'" ARN "topic/back\\\\slash']}}",
	    NULL, checks);
	RUN1("{" V12 "'Statement':{'Effect':'Allow',"
	     "'Action':['iot:Publish','iot:Subscribe'],"
	     "'Resource':['arn:aws:iot:*:*:topic/"
	     "t','arn:aws:iot:*:*:topic*ter/t']}}",
	    NULL, any_region);
}

static void
test_mqtt_wildcards_are_literal(void **state)
{
	static const struct check checks[] = {
	    {SUBSCRIBE, ARN "topicfilter/some/+/topic", ALLOW},
	    {SUBSCRIBE, ARN "topicfilter/some/x/topic", DEFAULT},
	    {SUBSCRIBE, ARN "topicfilter/a/#", ALLOW},
	    {SUBSCRIBE, ARN "topicfilter/a/b", DEFAULT},
	    {SUBSCRIBE, ARN "topicfilter/a/+", DEFAULT},
	    /* a topic name never holds + or #, so topic/a/# allows none */
	    {RECEIVE, ARN "topic/a/#", ALLOW},
	    {RECEIVE, ARN "topic/a/b", DEFAULT},
	    /* '*' in a topicfilter resource covers filters holding + or # */
	    {SUBSCRIBE, ARN "topicfilter/w/+/x", ALLOW},
	    {SUBSCRIBE, ARN "topicfilter/w/#", ALLOW},
	};

	RUN1("{" V12 "'Statement':["
	     "{'Effect':'Allow','Action':'iot:Subscribe',"
	     "'Resource':['" ARN "topicfilter/some/+/topic',"
	     "'" ARN "topicfilter/a/#','" ARN "topicfilter/w/*']},"
	     "{'Effect':'Allow','Action':'iot:Receive',"
	     "'Resource':'" ARN "topic/a/#'}]}",
	    NULL, checks);
}

/* ---- variables ------------------------------------------------------- */

static void
test_every_variable(void **state)
{
	json_t *attrs = json_pack("{s:s, s:i}", "Color", "red", "Count", 3);
	struct test_cert cert = {{
	    {"Subject.CommonName", "cn1"},
	    {"Subject.Organization", "Org"},
	    {"Subject.OrganizationalUnit", "Unit"},
	    {"Subject.Country", "DE"},
	    {"Subject.Country.1", "FR"},
	    {"Subject.State", "Berlin"},
	    {"Subject.SerialNumber", "s42"},
	    {"Subject.DistinguishedNameQualifier", "dnq"},
	    {"Issuer.CommonName", "ca1"},
	    {"Issuer.Organization", "CA Org"},
	    {"SerialNumber", "12345"},
	    {"Subject.AlternativeName.DNSName", "dev.example"},
	    {"Issuer.AlternativeName.RFC822Name", "ca@example"},
	}};
	struct strata_policy_vars vars = {
	    .client_id = "c1",
	    .thing_name = "t1",
	    .thing_type_name = "lamp",
	    .is_attached = true,
	    .thing_attributes = attrs,
	    .cert_field = test_cert_field,
	    .cert_ctx = &cert,
	};
	static const struct check checks[] = {
	    {PUBLISH, ARN "topic/client/c1", ALLOW},
	    {PUBLISH, ARN "topic/thing/t1", ALLOW},
	    {PUBLISH, ARN "topic/type/lamp", ALLOW},
	    {PUBLISH, ARN "topic/color/red", ALLOW},
	    {PUBLISH, ARN "topic/attached/true", ALLOW},
	    {PUBLISH, ARN "topic/cn/cn1", ALLOW},
	    {PUBLISH, ARN "topic/o/Org/Unit", ALLOW},
	    {PUBLISH, ARN "topic/c/DE/FR", ALLOW},
	    {PUBLISH, ARN "topic/st/Berlin/s42/dnq", ALLOW},
	    {PUBLISH, ARN "topic/issuer/ca1/CA Org", ALLOW},
	    {PUBLISH, ARN "topic/serial/12345", ALLOW},
	    {PUBLISH, ARN "topic/san/dev.example/ca@example", ALLOW},
	    {PUBLISH, ARN "topic/all/c1/t1/lamp", ALLOW},
	    {PUBLISH, ARN "topic/client/c2", DEFAULT},
	    /* an attribute that is not a string does not resolve */
	    {PUBLISH, ARN "topic/count/3", DEFAULT},
	};

	/* variable names are case-insensitive, as IAM's keys */
	RUN1("{" V12 "'Statement':{'Effect':'Allow','Action':'iot:Publish',"
	     "'Resource':['" ARN "topic/client/${iot:ClientId}',"
	     "'" ARN "topic/thing/${iot:Connection.Thing.ThingName}',"
	     "'" ARN "topic/type/${iot:Connection.Thing.ThingTypeName}',"
	     "'" ARN "topic/color/${iot:Connection.Thing.Attributes[Color]}',"
	     "'" ARN "topic/attached/${iot:Connection.Thing.IsAttached}',"
	     "'" ARN "topic/cn/${iot:Certificate.Subject.CommonName}',"
	     "'" ARN "topic/o/${iot:Certificate.Subject.Organization}/"
	     "${iot:Certificate.Subject.OrganizationalUnit}',"
	     "'" ARN "topic/c/${iot:Certificate.Subject.Country}/"
	     "${iot:certificate.subject.country.1}',"
	     "'" ARN "topic/st/${iot:Certificate.Subject.State}/"
	     "${iot:Certificate.Subject.SerialNumber}/"
	     "${iot:Certificate.Subject.DistinguishedNameQualifier}',"
	     "'" ARN "topic/issuer/${iot:Certificate.Issuer.CommonName}/"
	     "${iot:Certificate.Issuer.Organization}',"
	     "'" ARN "topic/serial/${iot:Certificate.SerialNumber}',"
	     "'" ARN "topic/san/${iot:Certificate.Subject.AlternativeName."
	     "DNSName}/${iot:Certificate.Issuer.AlternativeName.RFC822Name}',"
	     "'" ARN "topic/all/${IOT:CLIENTID}/"
	     "${iot:connection.thing.thingname}/"
	     "${iot:Connection.Thing.ThingTypeName}',"
	     "'" ARN "topic/count/${iot:Connection.Thing.Attributes[Count]}'"
	     "]}}",
	    &vars, checks);
	json_decref(attrs);
}

static void
test_unresolved_variables(void **state)
{
	/* no thing attached, no certificate field */
	struct test_cert cert = {{{"Subject.CommonName", "cn1"}}};
	struct strata_policy_vars vars = {
	    .client_id = "c1",
	    .cert_field = test_cert_field,
	    .cert_ctx = &cert,
	};
	static const char *const allow =
	    "{" V12 "'Statement':"
	    "{'Effect':'Allow','Action':'iot:Publish','Resource':["
	    "'" ARN "topic/${iot:Connection.Thing.ThingName}/*',"
	    "'" ARN "topic/t/${iot:Connection.Thing.Attributes[Color]}',"
	    "'" ARN "topic/o/${iot:Certificate.Subject.Organization}',"
	    "'" ARN "topic/c/${iot:Certificate.Subject.Country.2}',"
	    "'" ARN "topic/own/${iot:ClientId}']}}";
	static const char *const deny =
	    "{" V12 "'Statement':"
	    "{'Effect':'Deny','Action':'iot:Publish','Resource':"
	    "'" ARN "topic/own/${iot:Connection.Thing.ThingTypeName}*'}}";
	static const struct check checks[] = {
	    /* a resource with a variable that has no value matches
	     * nothing, not even the text of the variable or "" */
	    {PUBLISH, ARN "topic//x", DEFAULT},
	    {PUBLISH, ARN "topic/${iot:Connection.Thing.ThingName}/x",
	        DEFAULT},
	    {PUBLISH, ARN "topic/t/", DEFAULT},
	    {PUBLISH, ARN "topic/o/", DEFAULT},
	    {PUBLISH, ARN "topic/c/", DEFAULT},
	    /* the statement's other resources still count, and the Deny
	     * whose only resource did not resolve denies nothing */
	    {PUBLISH, ARN "topic/own/c1", ALLOW},
	};
	const char *docs[] = {allow, deny};

	run(docs, 2, &vars, checks, sizeof(checks) / sizeof(checks[0]));
	/* vars NULL: nothing resolves, IsAttached included */
	static const struct check none[] = {
	    {PUBLISH, ARN "topic/own/c1", DEFAULT},
	    {PUBLISH, ARN "topic/own/", DEFAULT},
	};
	run(docs, 2, NULL, none, 2);
	/* no cert_field: no certificate variable resolves */
	vars.cert_field = NULL;
	static const struct check nocert[] = {
	    {CONNECT, ARN "client/cn1", DEFAULT},
	};
	RUN1("{" V12 "'Statement':{'Effect':'Allow','Action':'iot:Connect',"
	     "'Resource':'" ARN "client/${iot:Certificate.Subject.CommonName}'"
	     "}}",
	    &vars, nocert);
}

static void
test_values_are_literal(void **state)
{
	struct strata_policy_vars star = {.client_id = "a*"};
	struct strata_policy_vars plus = {.client_id = "+"};
	struct strata_policy_vars mark = {.client_id = "b?\\"};
	static const char *const d =
	    "{" V12 "'Statement':{'Effect':'Allow',"
	    "'Action':['iot:Publish','iot:Subscribe'],'Resource':["
	    "'" ARN "topic/${iot:ClientId}',"
	    "'" ARN "topicfilter/my/${iot:ClientId}/topic']}}";
	/* a '*' in a client id is a '*', not a wildcard */
	static const struct check star_checks[] = {
	    {PUBLISH, ARN "topic/a*", ALLOW},
	    {PUBLISH, ARN "topic/ab", DEFAULT},
	    {PUBLISH, ARN "topic/a", DEFAULT},
	};
	/* AWS's warning: client id "+" gets the filter my/+/topic */
	static const struct check plus_checks[] = {
	    {SUBSCRIBE, ARN "topicfilter/my/+/topic", ALLOW},
	    {SUBSCRIBE, ARN "topicfilter/my/x/topic", DEFAULT},
	};
	static const struct check mark_checks[] = {
	    {PUBLISH, ARN "topic/b?\\", ALLOW},
	    {PUBLISH, ARN "topic/bx\\", DEFAULT},
	};

	RUN1(d, &star, star_checks);
	RUN1(d, &plus, plus_checks);
	RUN1(d, &mark, mark_checks);
}

static void
test_certificate_value_with_wildcard(void **state)
{
	char long_cn[1100];
	struct test_cert cert = {{
	    {"Subject.CommonName", "dev*"},
	    {"Subject.Organization", long_cn},
	    {"Subject.OrganizationalUnit", "unit#1"},
	}};
	struct strata_policy_vars vars = {
	    .cert_field = test_cert_field,
	    .cert_ctx = &cert,
	};
	/* AWS leaves the variable's own text in the document when the value
	 * holds * $ + ? # or is over 1024 characters */
	static const struct check checks[] = {
	    {PUBLISH, ARN "topic/dev1", DEFAULT},
	    {PUBLISH, ARN "topic/dev*", DEFAULT},
	    {PUBLISH, ARN "topic/${iot:Certificate.Subject.CommonName}",
	        ALLOW},
	    {PUBLISH, ARN "topic/o/${iot:Certificate.Subject.Organization}",
	        ALLOW},
	    {PUBLISH,
	        ARN "topic/u/${iot:Certificate.Subject."
	            "OrganizationalUnit}",
	        ALLOW},
	    {PUBLISH, ARN "topic/u/unit#1", DEFAULT},
	};

	memset(long_cn, 'x', 1025);
	long_cn[1025] = '\0';
	RUN1("{" V12 "'Statement':{'Effect':'Allow','Action':'iot:Publish',"
	     "'Resource':['" ARN
	     "topic/${iot:Certificate.Subject.CommonName}',"
	     "'" ARN "topic/o/${iot:Certificate.Subject.Organization}',"
	     "'" ARN "topic/u/${iot:Certificate.Subject.OrganizationalUnit}']"
	     "}}",
	    &vars, checks);
	/* exactly 1024 characters is substituted */
	long_cn[1024] = '\0';
	struct strata_policy *pol = parse_ok(
	    "{" V12 "'Statement':{"
	    "'Effect':'Allow','Action':'iot:Publish','Resource':"
	    "'" ARN "topic/${iot:Certificate.Subject.Organization}'}}");
	struct strata_policy_set *set = strata_policy_bind(&pol, 1, &vars);
	char topic[1200];

	snprintf(topic, sizeof(topic), ARN "topic/%s", long_cn);
	assert_int_equal(strata_policy_check(set, PUBLISH, topic), ALLOW);
	strata_policy_set_free(set);
	strata_policy_free(pol);
}

static void
test_escapes(void **state)
{
	static const struct check checks[] = {
	    {PUBLISH, ARN "topic/a*", ALLOW},
	    {PUBLISH, ARN "topic/ab", DEFAULT},
	    {PUBLISH, ARN "topic/b?", ALLOW},
	    {PUBLISH, ARN "topic/bx", DEFAULT},
	    {PUBLISH, ARN "topic/${x}", ALLOW},
	    {PUBLISH, ARN "topic/$", ALLOW},
	    {PUBLISH, ARN "topic/c*/1/2", ALLOW},
	    {PUBLISH, ARN "topic/cc/1", DEFAULT},
	};

	RUN1("{" V12 "'Statement':{'Effect':'Allow','Action':'iot:Publish',"
	     "'Resource':['" ARN "topic/a${*}','" ARN "topic/b${?}',"
	     "'" ARN "topic/${$}{x}','" ARN "topic/$',"
	     "'" ARN "topic/c${*}/*']}}",
	    NULL, checks);
}

static void
test_old_version_has_no_variables(void **state)
{
	struct strata_policy_vars vars = {.client_id = "c1"};
	static const struct check checks[] = {
	    {PUBLISH, ARN "topic/${iot:ClientId}", ALLOW},
	    {PUBLISH, ARN "topic/c1", DEFAULT},
	    {PUBLISH, ARN "topic/${nothing", ALLOW},
	};

	/* IAM: without Version 2012-10-17, ${...} is literal text */
	RUN1("{'Version':'2008-10-17','Statement':{'Effect':'Allow',"
	     "'Action':'iot:Publish','Resource':['" ARN
	     "topic/${iot:ClientId}',"
	     "'" ARN "topic/${nothing']}}",
	    &vars, checks);
	RUN1("{'Statement':{'Effect':'Allow',"
	     "'Action':'iot:Publish','Resource':['" ARN
	     "topic/${iot:ClientId}',"
	     "'" ARN "topic/${nothing']}}",
	    &vars, checks);
}

/* ---- conditions ------------------------------------------------------ */

/* Is Publish on topic/x allowed under the condition block cond? */
static bool
condition_allows(const char *cond, const struct strata_policy_vars *vars)
{
	char text[1024];
	struct strata_policy *pol;
	struct strata_policy_set *set;
	bool allowed;

	snprintf(text, sizeof(text),
	    "{" V12 "'Statement':{'Effect':'Allow','Action':'iot:Publish',"
	    "'Resource':'*','Condition':%s}}",
	    cond);
	pol = parse_ok(text);
	set = strata_policy_bind(&pol, 1, vars);
	allowed = strata_policy_check(set, PUBLISH, ARN "topic/x") == ALLOW;
	strata_policy_set_free(set);
	strata_policy_free(pol);
	return allowed;
}

static void
test_string_conditions(void **state)
{
	struct strata_policy_vars v = {.client_id = "dev-1"};

	assert_true(
	    condition_allows("{'StringEquals':{'iot:ClientId':'dev-1'}}", &v));
	assert_false(
	    condition_allows("{'StringEquals':{'iot:ClientId':'dev-*'}}", &v));
	assert_true(condition_allows(
	    "{'StringEquals':{'iot:ClientId':['x','dev-1']}}", &v));
	assert_false(
	    condition_allows("{'StringEquals':{'iot:ClientId':'DEV-1'}}", &v));
	assert_true(condition_allows(
	    "{'StringNotEquals':{'iot:ClientId':['x','y']}}", &v));
	assert_false(condition_allows(
	    "{'StringNotEquals':{'iot:ClientId':['x','dev-1']}}", &v));
	assert_true(
	    condition_allows("{'StringLike':{'iot:ClientId':'dev-?'}}", &v));
	assert_true(condition_allows(
	    "{'StringLike':{'iot:ClientId':['a*','d*']}}", &v));
	assert_false(
	    condition_allows("{'StringLike':{'iot:ClientId':'dev-1?'}}", &v));
	assert_true(
	    condition_allows("{'StringNotLike':{'iot:ClientId':'x*'}}", &v));
	assert_false(
	    condition_allows("{'StringNotLike':{'iot:ClientId':'d*'}}", &v));
	/* operators and keys are ANDed */
	assert_false(condition_allows("{'StringLike':{'iot:ClientId':'d*'},"
	                              "'StringEquals':{'iot:ClientId':'x'}}",
	    &v));
	assert_true(condition_allows("{'StringLike':{'iot:ClientId':'d*'},"
	                             "'StringNotEquals':{'iot:ClientId':'x'}}",
	    &v));
	/* an empty list: nothing equals, nothing is unequal to */
	assert_false(
	    condition_allows("{'StringEquals':{'iot:ClientId':[]}}", &v));
	assert_true(
	    condition_allows("{'StringNotEquals':{'iot:ClientId':[]}}", &v));
}

static void
test_conditions_on_absent_keys(void **state)
{
	struct strata_policy_vars v = {.client_id = "c1"}; /* no thing */

	assert_false(condition_allows(
	    "{'StringEquals':{'iot:Connection.Thing.ThingName':'t'}}", &v));
	assert_false(condition_allows(
	    "{'StringLike':{'iot:Connection.Thing.ThingName':'*'}}", &v));
	/* negated operators pass on an absent key (IAM) */
	assert_true(condition_allows(
	    "{'StringNotEquals':{'iot:Connection.Thing.ThingName':'t'}}", &v));
	assert_true(condition_allows(
	    "{'StringNotLike':{'iot:Connection.Thing.ThingName':'*'}}", &v));
	/* ...IfExists passes on an absent key, tests a present one */
	assert_true(condition_allows("{'StringEqualsIfExists':"
	                             "{'iot:Connection.Thing.ThingName':'t'}}",
	    &v));
	assert_false(condition_allows("{'StringEqualsIfExists':"
	                              "{'iot:ClientId':'t'}}",
	    &v));
	assert_true(condition_allows("{'StringLikeIfExists':"
	                             "{'iot:ClientId':'c*'}}",
	    &v));
	/* Null */
	assert_true(condition_allows(
	    "{'Null':{'iot:Connection.Thing.ThingTypeName':'true'}}", &v));
	assert_false(condition_allows(
	    "{'Null':{'iot:Connection.Thing.ThingTypeName':false}}", &v));
	assert_true(condition_allows("{'Null':{'iot:ClientId':'false'}}", &v));
	assert_false(condition_allows(
	    "{'Null':{'iot:Certificate.SerialNumber':'false'}}", &v));
}

static void
test_bool_and_thing_conditions(void **state)
{
	json_t *attrs = json_pack("{s:s}", "Manufacturer", "bar");
	struct strata_policy_vars attached = {
	    .client_id = "t1",
	    .thing_name = "t1",
	    .is_attached = true,
	    .thing_attributes = attrs,
	};
	struct strata_policy_vars loose = {.client_id = "t1"};
	static const char *const is_attached =
	    "{'Bool':{'iot:Connection.Thing.IsAttached':['true']}}";

	assert_true(condition_allows(is_attached, &attached));
	assert_false(condition_allows(is_attached, &loose));
	assert_true(condition_allows(
	    "{'Bool':{'iot:Connection.Thing.IsAttached':true}}", &attached));
	assert_true(condition_allows(
	    "{'Bool':{'iot:Connection.Thing.IsAttached':'FALSE'}}", &loose));
	assert_true(condition_allows("{'BoolIfExists':"
	                             "{'iot:Connection.Thing.IsAttached':"
	                             "'true'}}",
	    &attached));
	/* AWS's example: ForAnyValue:StringLike on an attribute */
	assert_true(condition_allows("{'ForAnyValue:StringLike':"
	                             "{'iot:Connection.Thing.Attributes"
	                             "[Manufacturer]':['foo','bar','baz']}}",
	    &attached));
	assert_false(condition_allows("{'ForAnyValue:StringLike':"
	                              "{'iot:Connection.Thing.Attributes"
	                              "[Manufacturer]':['foo','bar','baz']}}",
	    &loose));
	/* ForAllValues on an absent key passes (every one of no values) */
	assert_true(condition_allows("{'ForAllValues:StringEquals':"
	                             "{'iot:Connection.Thing.Attributes"
	                             "[Manufacturer]':'foo'}}",
	    &loose));
	assert_false(condition_allows("{'ForAllValues:StringEquals':"
	                              "{'iot:Connection.Thing.Attributes"
	                              "[Manufacturer]':'foo'}}",
	    &attached));
	/* a condition value may use a variable */
	assert_true(condition_allows("{'StringEquals':"
	                             "{'iot:Connection.Thing.ThingName':"
	                             "'${iot:ClientId}'}}",
	    &attached));
	json_decref(attrs);
}

static void
test_certificate_list_conditions(void **state)
{
	struct test_cert two = {{
	    {"Subject.Organization", "Example Corp"},
	    {"Subject.Organization.1", "AnyCompany"},
	    {"Subject.CommonName", "cn1"},
	}};
	struct test_cert other = {{
	    {"Subject.Organization", "Example Corp"},
	    {"Subject.Organization.1", "Evil"},
	}};
	struct strata_policy_vars v2 = {
	    .cert_field = test_cert_field, .cert_ctx = &two};
	struct strata_policy_vars vo = {
	    .cert_field = test_cert_field, .cert_ctx = &other};
	static const char *const all =
	    "{'ForAllValues:StringEquals':"
	    "{'iot:Certificate.Subject.Organization.List':"
	    "['Example Corp','AnyCompany']}}";
	static const char *const any =
	    "{'ForAnyValue:StringEquals':"
	    "{'iot:Certificate.Subject.Organization.List':'AnyCompany'}}";

	/* AWS's example: every organization of the certificate listed */
	assert_true(condition_allows(all, &v2));
	assert_false(condition_allows(all, &vo));
	assert_true(condition_allows(any, &v2));
	assert_false(condition_allows(any, &vo));
	assert_true(condition_allows("{'StringEquals':"
	                             "{'iot:Certificate.Subject.CommonName':"
	                             "'cn1'}}",
	    &v2));
	assert_true(
	    condition_allows("{'StringEquals':"
	                     "{'iot:Certificate.Subject.Organization.1':"
	                     "'AnyCompany'}}",
	        &v2));
}

static void
test_unresolved_condition_values(void **state)
{
	struct strata_policy_vars v = {.client_id = "c1"}; /* no thing */

	/* a value whose variable has no value equals nothing... */
	assert_false(condition_allows("{'StringEquals':{'iot:ClientId':"
	                              "'${iot:Connection.Thing.ThingName}'}}",
	    &v));
	assert_false(condition_allows("{'StringLike':{'iot:ClientId':"
	                              "'${iot:Connection.Thing.ThingName}*'}}",
	    &v));
	/* ...so a negated operator passes */
	assert_true(condition_allows("{'StringNotEquals':{'iot:ClientId':"
	                             "'${iot:Connection.Thing.ThingName}'}}",
	    &v));
	/* other values still count */
	assert_true(condition_allows("{'StringEquals':{'iot:ClientId':"
	                             "['${iot:Connection.Thing.ThingName}',"
	                             "'c1']}}",
	    &v));
}

static void
test_condition_on_deny(void **state)
{
	struct strata_policy_vars loose = {.client_id = "c1"};
	struct strata_policy_vars attached = {
	    .client_id = "c1", .thing_name = "c1", .is_attached = true};
	static const char *const d =
	    "{" V12 "'Statement':["
	    "{'Effect':'Allow','Action':'iot:Connect','Resource':'*'},"
	    "{'Effect':'Deny','Action':'iot:Connect','Resource':'*',"
	    "'Condition':{'Bool':{'iot:Connection.Thing.IsAttached':'false'}}}"
	    "]}";
	static const struct check denied[] = {
	    {CONNECT, ARN "client/c1", DENY},
	};
	static const struct check allowed[] = {
	    {CONNECT, ARN "client/c1", ALLOW},
	};

	RUN1(d, &loose, denied);
	RUN1(d, &attached, allowed);
}

/* ---- refusals -------------------------------------------------------- */

static void
test_json_syntax_errors(void **state)
{
	struct strata_policy_error err;
	char *d = doc("{\n  'Version': '2012-10-17',\n  'Statement': [\n"
	              "    {'Effect': 'Allow',}\n  ]\n}");

	assert_null(strata_policy_parse(d, strlen(d), &err));
	assert_int_equal(err.line, 4);
	assert_true(err.column > 0);
	assert_string_equal(err.path, "");
	assert_true(err.message[0] != '\0');
	free(d);
	d = doc("{'Statement': [], 'Statement': []}");
	assert_null(strata_policy_parse(d, strlen(d), &err));
	assert_int_equal(err.line, 1);
	assert_non_null(strstr(err.message, "duplicate"));
	free(d);
	assert_null(strata_policy_parse("", 0, &err));
	assert_true(err.message[0] != '\0');
	/* err may be NULL */
	assert_null(strata_policy_parse("{", 1, NULL));
	assert_null(strata_policy_parse("[]", 2, NULL));
	/* bad UTF-8 */
	assert_null(strata_policy_parse("{\"\xff\":1}", 7, &err));
	assert_true(err.line > 0);
}

static void
test_semantic_errors(void **state)
{
	static const struct {
		const char *doc, *path, *message;
	} cases[] = {
	    {"[]", "", "JSON object"},
	    {"{'Version':'2012-10-17'}", "", "no Statement"},
	    {"{'Version':'2013-01-01','Statement':[]}", "Version",
	        "2012-10-17"},
	    {"{'Version':17,'Statement':[]}", "Version", "2012-10-17"},
	    {"{'Statement':[],'Foo':1}", "Foo", "unknown policy element"},
	    {"{'Statement':[],'Id':1}", "Id", "must be a string"},
	    {"{'Statement':'x'}", "Statement", "object or a list"},
	    {"{'Statement':['x']}", "Statement[0]", "JSON object"},
	    {"{'Statement':{'Effect':'allow','Action':'*','Resource':'*'}}",
	        "Statement.Effect", "\"Allow\" or \"Deny\""},
	    {"{'Statement':[{'Effect':'Allow','Action':'*','Resource':'*'},"
	     "{'Effect':'Permit','Action':'*','Resource':'*'}]}",
	        "Statement[1].Effect", "\"Allow\" or \"Deny\""},
	    {"{'Statement':[{'Action':'*','Resource':'*'}]}", "Statement[0]",
	        "no Effect"},
	    {"{'Statement':[{'Effect':'Allow','Resource':'*'}]}",
	        "Statement[0]", "no Action"},
	    {"{'Statement':[{'Effect':'Allow','Action':'*'}]}", "Statement[0]",
	        "no Resource"},
	    {"{'Statement':[{'Effect':'Allow','NotAction':'iot:Publish',"
	     "'Resource':'*'}]}",
	        "Statement[0].NotAction", "not supported"},
	    {"{'Statement':[{'Effect':'Allow','Action':'*',"
	     "'NotResource':'*'}]}",
	        "Statement[0].NotResource", "not supported"},
	    {"{'Statement':[{'Effect':'Allow','Action':'*','Resource':'*',"
	     "'Principal':'*'}]}",
	        "Statement[0].Principal", "no place"},
	    {"{'Statement':[{'Effect':'Allow','Action':'*','Resource':'*',"
	     "'Sid':1}]}",
	        "Statement[0].Sid", "string"},
	    {"{'Statement':[{'Effect':'Allow','Action':'*','Resource':'*',"
	     "'effect':'Deny'}]}",
	        "Statement[0].effect", "unknown statement element"},
	    {"{'Statement':[{'Effect':'Allow','Action':42,'Resource':'*'}]}",
	        "Statement[0].Action", "string or a list"},
	    {"{'Statement':[{'Effect':'Allow','Action':['iot:Publish',3],"
	     "'Resource':'*'}]}",
	        "Statement[0].Action[1]", "string or a list"},
	    {"{'Statement':[{'Effect':'Allow','Action':'*',"
	     "'Resource':'topic/a'}]}",
	        "Statement[0].Resource", "neither '*' nor an ARN"},
	    {"{'Statement':[{'Effect':'Allow','Action':'*',"
	     "'Resource':['*','arn:aws:iot:topic/a']}]}",
	        "Statement[0].Resource[1]", "not a whole ARN"},
	    {"{" V12 "'Statement':[{'Effect':'Allow','Action':'*',"
	     "'Resource':['*','" ARN "topic/${iot:Foo}']}]}",
	        "Statement[0].Resource[1]",
	        "unknown policy variable ${iot:Foo}"},
	    {"{" V12 "'Statement':[{'Effect':'Allow','Action':'*',"
	     "'Resource':'" ARN "topic/${iot:Thing.ThingName}'}]}",
	        "Statement[0].Resource", "unknown policy variable"},
	    {"{" V12 "'Statement':[{'Effect':'Allow','Action':'*',"
	     "'Resource':'" ARN "topic/${iot:Connection.Thing.Attributes[]}'"
	     "}]}",
	        "Statement[0].Resource", "unknown policy variable"},
	    {"{" V12 "'Statement':[{'Effect':'Allow','Action':'*',"
	     "'Resource':'" ARN "topic/${iot:Certificate.Subject.Locality}'"
	     "}]}",
	        "Statement[0].Resource", "unknown policy variable"},
	    {"{" V12 "'Statement':[{'Effect':'Allow','Action':'*',"
	     "'Resource':'" ARN "topic/${iot:Certificate.Subject.Country.5}'"
	     "}]}",
	        "Statement[0].Resource", "unknown policy variable"},
	    /* a multi-valued key is no variable */
	    {"{" V12 "'Statement':[{'Effect':'Allow','Action':'*',"
	     "'Resource':'" ARN
	     "topic/${iot:Certificate.Subject.Country.List}'"
	     "}]}",
	        "Statement[0].Resource", "unknown policy variable"},
	    {"{" V12 "'Statement':[{'Effect':'Allow','Action':'*',"
	     "'Resource':'" ARN "topic/${iot:ClientId, \\u0027x\\u0027}'}]}",
	        "Statement[0].Resource", "unknown policy variable"},
	    {"{" V12 "'Statement':[{'Effect':'Allow','Action':'*',"
	     "'Resource':'" ARN "topic/${iot:ClientId'}]}",
	        "Statement[0].Resource", "without a closing"},
	    {"{" V12 "'Statement':[{'Effect':'Allow','Action':'*',"
	     "'Resource':'arn:aws:iot:${iot:ClientId}:1:topic/x'}]}",
	        "Statement[0].Resource", "after its fifth ':'"},
	    {"{'Statement':[{'Effect':'Allow','Action':'*','Resource':'*',"
	     "'Condition':[]}]}",
	        "Statement[0].Condition", "object of condition operators"},
	    {"{'Statement':[{'Effect':'Allow','Action':'*','Resource':'*',"
	     "'Condition':{'NumericEquals':{'iot:ClientId':'1'}}}]}",
	        "Statement[0].Condition.NumericEquals", "not supported"},
	    {"{'Statement':[{'Effect':'Allow','Action':'*','Resource':'*',"
	     "'Condition':{'StringEqualsIgnoreCase':{'iot:ClientId':'a'}}}]}",
	        "Statement[0].Condition.StringEqualsIgnoreCase",
	        "not supported"},
	    {"{'Statement':[{'Effect':'Allow','Action':'*','Resource':'*',"
	     "'Condition':{'NullIfExists':{'iot:ClientId':'true'}}}]}",
	        "Statement[0].Condition.NullIfExists", "not supported"},
	    {"{'Statement':[{'Effect':'Allow','Action':'*','Resource':'*',"
	     "'Condition':{'StringEquals':'x'}}]}",
	        "Statement[0].Condition.StringEquals",
	        "object of condition keys"},
	    {"{'Statement':[{'Effect':'Allow','Action':'*','Resource':'*',"
	     "'Condition':{'StringEquals':{'aws:SourceIp':'1'}}}]}",
	        "Statement[0].Condition.StringEquals.aws:SourceIp",
	        "not supported"},
	    {"{'Statement':[{'Effect':'Allow','Action':'*','Resource':'*',"
	     "'Condition':{'StringEquals':"
	     "{'iot:Certificate.Subject.Organization.List':'x'}}}]}",
	        "Statement[0].Condition.StringEquals."
	        "iot:Certificate.Subject.Organization.List",
	        "ForAnyValue"},
	    {"{'Statement':[{'Effect':'Allow','Action':'*','Resource':'*',"
	     "'Condition':{'Bool':{'iot:Connection.Thing.IsAttached':'yes'}}}"
	     "]}",
	        "Statement[0].Condition.Bool.iot:Connection.Thing.IsAttached",
	        "\"true\" or \"false\""},
	    {"{'Statement':[{'Effect':'Allow','Action':'*','Resource':'*',"
	     "'Condition':{'StringLike':{'iot:ClientId':['a',{}]}}}]}",
	        "Statement[0].Condition.StringLike.iot:ClientId[1]",
	        "must be a string"},
	    {"{'Statement':[{'Effect':'Allow','Action':'*','Resource':'*',"
	     "'Condition':{'StringLike':{'iot:ClientId':1.5}}}]}",
	        "Statement[0].Condition.StringLike.iot:ClientId",
	        "must be a string"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		parse_fails(cases[i].doc, cases[i].path, cases[i].message);
}

static void
test_accepted_forms(void **state)
{
	static const char *const good[] = {
	    "{'Statement':[]}",
	    "{'Version':'2008-10-17','Id':'x','Statement':[]}",
	    "{'Statement':{'Sid':'s','Effect':'Deny','Action':[],"
	    "'Resource':[]}}",
	    /* integers and booleans as condition values */
	    "{'Statement':{'Effect':'Allow','Action':'*','Resource':'*',"
	    "'Condition':{'StringEquals':{'iot:ClientId':[1,true]},"
	    "'Null':{'iot:ClientId':false},"
	    "'ForAllValues:StringNotLikeIfExists':"
	    "{'iot:Certificate.Issuer.AlternativeName.DNSName.List':'x'}}}}",
	    /* keys are case-insensitive, element names are not */
	    "{'Statement':{'Effect':'Allow','Action':'*','Resource':'*',"
	    "'Condition':{'StringEquals':{'IOT:CLIENTID':'a'}}}}",
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		strata_policy_free(parse_ok(good[i]));
}

/* A document of exactly n characters besides white space (n >= 100). */
static char *
sized_doc(size_t n, size_t spaces, bool multibyte)
{
	static const char head[] =
	    "{\"Statement\":{\"Effect\":\"Allow\","
	    "\"Action\":\"*\",\"Resource\":\"" ARN "topic/";
	static const char tail[] = "\"}}";
	size_t fill = n - (sizeof(head) - 1) - (sizeof(tail) - 1);
	char *d = malloc(sizeof(head) + 2 * fill + spaces + sizeof(tail));
	size_t len = 0;

	assert_non_null(d);
	memset(d, ' ', spaces);
	len = spaces;
	memcpy(d + len, head, sizeof(head) - 1);
	len += sizeof(head) - 1;
	for (size_t i = 0; i < fill; i++) {
		if (multibyte) {
			memcpy(d + len, "\xc3\xa9", 2);
			len += 2;
		} else {
			d[len++] = 'a';
		}
	}
	memcpy(d + len, tail, sizeof(tail));
	return d;
}

static void
test_size_limit(void **state)
{
	struct strata_policy_error err;
	struct strata_policy *pol;
	char *d;

	d = sized_doc(STRATA_POLICY_MAX_CHARS, 0, false);
	pol = strata_policy_parse(d, strlen(d), &err);
	assert_non_null(pol);
	strata_policy_free(pol);
	free(d);
	/* white space does not count */
	d = sized_doc(STRATA_POLICY_MAX_CHARS, 10000, false);
	pol = strata_policy_parse(d, strlen(d), &err);
	assert_non_null(pol);
	strata_policy_free(pol);
	free(d);
	/* a multi-byte character counts once */
	d = sized_doc(STRATA_POLICY_MAX_CHARS, 0, true);
	pol = strata_policy_parse(d, strlen(d), &err);
	assert_non_null(pol);
	strata_policy_free(pol);
	free(d);
	d = sized_doc(STRATA_POLICY_MAX_CHARS + 1, 0, false);
	assert_null(strata_policy_parse(d, strlen(d), &err));
	assert_string_equal(err.path, "");
	assert_int_equal(err.line, 0);
	assert_non_null(strstr(err.message, "2049 characters"));
	assert_non_null(strstr(err.message, "2048"));
	free(d);
}

/* ---- matching cost --------------------------------------------------- */

static void
test_pathological_pattern(void **state)
{
	char topic[20000];
	struct strata_policy *pol;
	struct strata_policy_set *set;

	/* many stars against a long run that almost matches: the greedy
	 * matcher backtracks to the last star only */
	pol = parse_ok("{'Statement':{'Effect':'Allow','Action':'*',"
	               "'Resource':'" ARN "topic/*a*a*a*a*a*a*a*a*a*a*b'}}");
	set = strata_policy_bind(&pol, 1, NULL);
	memcpy(topic, ARN "topic/", sizeof(ARN "topic/") - 1);
	memset(topic + sizeof(ARN "topic/") - 1, 'a', 19000);
	topic[sizeof(ARN "topic/") - 1 + 19000] = '\0';
	assert_int_equal(strata_policy_check(set, PUBLISH, topic), DEFAULT);
	topic[sizeof(ARN "topic/") - 1 + 18999] = 'b';
	assert_int_equal(strata_policy_check(set, PUBLISH, topic), ALLOW);
	strata_policy_set_free(set);
	strata_policy_free(pol);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_allow_and_default_deny),
	    cmocka_unit_test(test_deny_beats_allow),
	    cmocka_unit_test(test_shadow_actions),
	    cmocka_unit_test(test_no_policies),
	    cmocka_unit_test(test_check_bad_arguments),
	    cmocka_unit_test(test_action_wildcards),
	    cmocka_unit_test(test_resource_wildcards),
	    cmocka_unit_test(test_mqtt_wildcards_are_literal),
	    cmocka_unit_test(test_every_variable),
	    cmocka_unit_test(test_unresolved_variables),
	    cmocka_unit_test(test_values_are_literal),
	    cmocka_unit_test(test_certificate_value_with_wildcard),
	    cmocka_unit_test(test_escapes),
	    cmocka_unit_test(test_old_version_has_no_variables),
	    cmocka_unit_test(test_string_conditions),
	    cmocka_unit_test(test_conditions_on_absent_keys),
	    cmocka_unit_test(test_bool_and_thing_conditions),
	    cmocka_unit_test(test_certificate_list_conditions),
	    cmocka_unit_test(test_unresolved_condition_values),
	    cmocka_unit_test(test_condition_on_deny),
	    cmocka_unit_test(test_json_syntax_errors),
	    cmocka_unit_test(test_semantic_errors),
	    cmocka_unit_test(test_accepted_forms),
	    cmocka_unit_test(test_size_limit),
	    cmocka_unit_test(test_pathological_pattern),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
