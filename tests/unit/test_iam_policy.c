/*
 * test_iam_policy.c - IAM identity policies of the admin API: parsing and
 * its refusals (with JSON paths), wildcards, NotAction / NotResource,
 * every condition operator, IfExists, several policies.
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

#include "iam_policy.h"

#define IOT "arn:aws:iot:local:000000000000:"
#define IAM "arn:aws:iam::000000000000:"
#define V12 "'Version':'2012-10-17',"

#define ALLOW STRATA_POLICY_ALLOW
#define DENY STRATA_POLICY_DENY_EXPLICIT
#define DEFAULT STRATA_POLICY_DENY_DEFAULT

/* 2026-12-02T18:00:00Z */
#define T 1796234400LL

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

static struct strata_iam_policy *
parse_ok(const char *text)
{
	struct strata_policy_error err;
	struct strata_iam_policy *pol;
	char *d = doc(text);

	pol = strata_iam_policy_parse(d, strlen(d), &err);
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
	struct strata_iam_policy *pol;
	char *d = doc(text);

	pol = strata_iam_policy_parse(d, strlen(d), &err);
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

/* One statement of the given effect, action and resource, and an optional
 * condition (Statement as a single object). */
static char *
statement_doc(const char *effect, const char *action, const char *resource,
    const char *condition)
{
	char *text = NULL;
	int n;

	n = asprintf(&text,
	    "{" V12 "'Statement':{'Effect':'%s','Action':%s,"
	    "'Resource':%s%s%s}}",
	    effect, action, resource, condition ? ",'Condition':" : "",
	    condition ? condition : "");
	assert_true(n > 0);
	return text;
}

/* A request for the checks below: loopback, over TLS, at T. */
static struct strata_iam_request
request(const char *action, const char *resource)
{
	struct strata_iam_request req = {
	    .action = action,
	    .resource = resource,
	    .source_ip = "127.0.0.1",
	    .now = T,
	    .secure_transport = true,
	};

	return req;
}

/* The decision of one document on req. */
static enum strata_policy_decision
decide(const char *text, const struct strata_iam_request *req)
{
	struct strata_iam_policy *pol = parse_ok(text);
	enum strata_policy_decision d = strata_iam_policy_check(&pol, 1, req);

	strata_iam_policy_free(pol);
	return d;
}

/* The decision of an Allow of everything under one condition block. */
static enum strata_policy_decision
decide_condition(const char *condition, const struct strata_iam_request *req)
{
	char *text = statement_doc("Allow", "'*'", "'*'", condition);
	enum strata_policy_decision d = decide(text, req);

	free(text);
	return d;
}

/* The decision of one document on (action, resource). */
static enum strata_policy_decision
decide_on(const char *text, const char *action, const char *resource)
{
	struct strata_iam_request req = request(action, resource);

	return decide(text, &req);
}

/* ---- decisions ------------------------------------------------------- */

static void
test_allow_and_default_deny(void **state)
{
	static const char *const d =
	    "{" V12 "'Statement':[{'Sid':'Things','Effect':'Allow',"
	    "'Action':['iot:CreateThing','iot:DescribeThing'],"
	    "'Resource':'" IOT "thing/lamp1'},"
	    "{'Effect':'Allow','Action':'iot:ListThings','Resource':'*'}]}";

	assert_int_equal(
	    decide_on(d, "iot:CreateThing", IOT "thing/lamp1"), ALLOW);
	assert_int_equal(
	    decide_on(d, "iot:DescribeThing", IOT "thing/lamp1"), ALLOW);
	assert_int_equal(
	    decide_on(d, "iot:DeleteThing", IOT "thing/lamp1"), DEFAULT);
	assert_int_equal(
	    decide_on(d, "iot:CreateThing", IOT "thing/lamp2"), DEFAULT);
	assert_int_equal(
	    decide_on(d, "iot:CreateThing", IOT "thing/lamp10"), DEFAULT);
	assert_int_equal(decide_on(d, "iot:ListThings", "*"), ALLOW);
	/* a call with no resource is matched only by "*" */
	assert_int_equal(decide_on(d, "iot:CreateThing", "*"), DEFAULT);
	/* region and account are part of the ARN */
	assert_int_equal(decide_on(d, "iot:CreateThing",
	                     "arn:aws:iot:other:000000000000:thing/lamp1"),
	    DEFAULT);
}

static void
test_deny_beats_allow(void **state)
{
	struct strata_iam_policy *pols[4];
	struct strata_iam_request secret =
	    request("iot:DeleteThing", IOT "thing/secret");
	struct strata_iam_request other =
	    request("iot:DeleteThing", IOT "thing/other");

	pols[0] = parse_ok("{'Statement':{'Effect':'Allow','Action':'*',"
	                   "'Resource':'*'}}");
	pols[1] = parse_ok(
	    "{" V12 "'Statement':{'Effect':'Deny',"
	    "'Action':'iot:Delete*','Resource':'" IOT "thing/secret'}}");
	pols[2] = NULL;
	pols[3] = parse_ok("{" V12 "'Statement':[{'Effect':'Allow',"
	                   "'Action':'iot:*','Resource':'" IOT "thing/*'},"
	                   "{'Effect':'Deny','Action':'iot:*',"
	                   "'Resource':'" IOT "thing/other'}]}");
	/* across policies, in either order; NULL entries are skipped */
	assert_int_equal(strata_iam_policy_check(pols, 2, &secret), DENY);
	assert_int_equal(strata_iam_policy_check(pols, 2, &other), ALLOW);
	assert_int_equal(strata_iam_policy_check(pols + 1, 2, &secret), DENY);
	assert_int_equal(
	    strata_iam_policy_check(pols + 1, 2, &other), DEFAULT);
	assert_int_equal(
	    strata_iam_policy_check(pols + 2, 1, &other), DEFAULT);
	/* in one policy, the Deny after the Allow */
	assert_int_equal(strata_iam_policy_check(pols + 3, 1, &other), DENY);
	assert_int_equal(strata_iam_policy_check(pols + 3, 1, &secret), ALLOW);
	/* all four: a Deny anywhere wins */
	assert_int_equal(strata_iam_policy_check(pols, 4, &other), DENY);
	assert_int_equal(strata_iam_policy_check(pols, 4, &secret), DENY);
	/* no policy at all */
	assert_int_equal(strata_iam_policy_check(pols, 0, &other), DEFAULT);
	assert_int_equal(strata_iam_policy_check(NULL, 0, &other), DEFAULT);
	for (size_t i = 0; i < 4; i++)
		strata_iam_policy_free(pols[i]);
}

static void
test_bad_requests(void **state)
{
	struct strata_iam_policy *pol = parse_ok(
	    "{'Statement':{'Effect':'Allow','Action':'*','Resource':'*'}}");
	struct strata_iam_request req = request("iot:ListThings", "*");

	assert_int_equal(strata_iam_policy_check(&pol, 1, &req), ALLOW);
	assert_int_equal(strata_iam_policy_check(&pol, 1, NULL), DEFAULT);
	req.action = NULL;
	assert_int_equal(strata_iam_policy_check(&pol, 1, &req), DEFAULT);
	req = request("iot:ListThings", NULL);
	assert_int_equal(strata_iam_policy_check(&pol, 1, &req), DEFAULT);
	/* "*" matches even an empty action or resource */
	req = request("", "");
	assert_int_equal(strata_iam_policy_check(&pol, 1, &req), ALLOW);
	strata_iam_policy_free(pol);
}

/* ---- wildcards ------------------------------------------------------- */

static void
test_action_wildcards(void **state)
{
	static const struct {
		const char *pattern, *action;
		enum strata_policy_decision want;
	} cases[] = {
	    {"'*'", "iot:CreateThing", ALLOW},
	    {"'*'", "iam:CreateUser", ALLOW},
	    {"'iot:*'", "iot:CreateThing", ALLOW},
	    {"'iot:*'", "iam:CreateUser", DEFAULT},
	    {"'iam:*'", "iam:CreateAccessKey", ALLOW},
	    {"'iot:Update*'", "iot:UpdateCertificate", ALLOW},
	    {"'iot:Update*'", "iot:DescribeCertificate", DEFAULT},
	    {"'iot:*Certificate'", "iot:UpdateCertificate", ALLOW},
	    {"'iot:*Certificate'", "iot:UpdateCACertificate", ALLOW},
	    {"'iot:*Certificate'", "iot:ListCertificates", DEFAULT},
	    {"'iam:*AccessKey*'", "iam:ListAccessKeys", ALLOW},
	    {"'iot:?etPolicy'", "iot:GetPolicy", ALLOW},
	    {"'iot:?etPolicy'", "iot:SetPolicy", ALLOW},
	    {"'iot:?etPolicy'", "iot:GetPolicyVersion", DEFAULT},
	    {"'iot:Get?'", "iot:Get", DEFAULT},
	    /* case-insensitive, both ways */
	    {"'IOT:creatething'", "iot:CreateThing", ALLOW},
	    {"'iot:CreateThing'", "IoT:CREATETHING", ALLOW},
	    {"'iot:create*'", "iot:CreateThing", ALLOW},
	    /* unknown actions are accepted; they match only themselves */
	    {"'iot:NoSuchOperation'", "iot:NoSuchOperation", ALLOW},
	    {"'iot:NoSuchOperation'", "iot:CreateThing", DEFAULT},
	    {"['iot:CreateThing','iam:GetUser']", "iam:GetUser", ALLOW},
	    {"['iot:CreateThing','iam:GetUser']", "iam:GetUsers", DEFAULT},
	    /* the whole action: no prefix or suffix match */
	    {"'iot:Create'", "iot:CreateThing", DEFAULT},
	    {"'ot:CreateThing'", "iot:CreateThing", DEFAULT},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text =
		    statement_doc("Allow", cases[i].pattern, "'*'", NULL);
		enum strata_policy_decision got =
		    decide_on(text, cases[i].action, "*");

		if (got != cases[i].want)
			fail_msg("%s on %s: got %d, want %d", cases[i].pattern,
			    cases[i].action, got, cases[i].want);
		free(text);
	}
}

static void
test_resource_wildcards(void **state)
{
	static const struct {
		const char *pattern, *resource;
		enum strata_policy_decision want;
	} cases[] = {
	    {"'*'", "*", ALLOW},
	    {"'*'", IOT "thing/lamp", ALLOW},
	    {"'*'", "", ALLOW},
	    {"'" IOT "thing/*'", IOT "thing/lamp", ALLOW},
	    {"'" IOT "thing/*'", IOT "thing/", ALLOW},
	    {"'" IOT "thing/*'", IOT "cert/abc", DEFAULT},
	    {"'" IOT "thing/*'", "*", DEFAULT},
	    /* case-sensitive */
	    {"'" IOT "thing/Lamp'", IOT "thing/lamp", DEFAULT},
	    {"'" IOT "THING/lamp'", IOT "thing/lamp", DEFAULT},
	    /* '?' is one character (a UTF-8 one included) */
	    {"'" IOT "thing/lamp?'", IOT "thing/lamp1", ALLOW},
	    {"'" IOT "thing/lamp?'", IOT "thing/lamp", DEFAULT},
	    {"'" IOT "thing/lamp?'", IOT "thing/lamp12", DEFAULT},
	    {"'" IOT "thing/lamp?'", IOT "thing/lamp\xc3\xa9", ALLOW},
	    /* wildcards in any segment; '*' spans '/' and ':' */
	    {"'arn:aws:iot:*:*:thing/lamp'", IOT "thing/lamp", ALLOW},
	    {"'arn:aws:iot:*:*:thing/lamp'", IAM "user/lamp", DEFAULT},
	    {"'arn:aws:*:*:*:*'", IAM "user/admin", ALLOW},
	    {"'arn:aws:iam::*:user/*'", IAM "user/admin", ALLOW},
	    {"'arn:aws:iam::*:user/*'", IAM "policy/admin", DEFAULT},
	    /* several: any one */
	    {"['" IOT "thing/a','" IOT "thing/b']", IOT "thing/b", ALLOW},
	    {"['" IOT "thing/a','" IOT "thing/b']", IOT "thing/c", DEFAULT},
	    /* the document's backslash is a literal, not an escape */
	    {"'" IOT "thing/a\\\\*'", IOT "thing/a\\xyz", ALLOW},
	    {"'" IOT "thing/a\\\\*'", IOT "thing/a*", DEFAULT},
	    {"'" IOT "thing/a\\\\?'", IOT "thing/a\\b", ALLOW},
	    {"'" IOT "thing/a\\\\'", IOT "thing/a\\", ALLOW},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text =
		    statement_doc("Allow", "'*'", cases[i].pattern, NULL);
		enum strata_policy_decision got =
		    decide_on(text, "iot:DescribeThing", cases[i].resource);

		if (got != cases[i].want)
			fail_msg("%s on %s: got %d, want %d", cases[i].pattern,
			    cases[i].resource, got, cases[i].want);
		free(text);
	}
}

static void
test_pathological_pattern(void **state)
{
	static char resource[20100];
	struct strata_iam_policy *pol;
	struct strata_iam_request req;
	size_t n = sizeof(IOT "thing/") - 1;

	/* many stars against a long run that almost matches: the greedy
	 * matcher backtracks to the last star only */
	pol = parse_ok("{'Statement':{'Effect':'Allow','Action':'*',"
	               "'Resource':'" IOT "thing/*a*a*a*a*a*a*a*a*a*a*b'}}");
	memcpy(resource, IOT "thing/", n);
	memset(resource + n, 'a', 20000);
	resource[n + 20000] = '\0';
	req = request("iot:DescribeThing", resource);
	assert_int_equal(strata_iam_policy_check(&pol, 1, &req), DEFAULT);
	resource[n + 19999] = 'b';
	assert_int_equal(strata_iam_policy_check(&pol, 1, &req), ALLOW);
	strata_iam_policy_free(pol);
}

/* ---- NotAction and NotResource --------------------------------------- */

static void
test_not_action(void **state)
{
	/* everything but the iam: actions */
	static const char *const allow =
	    "{" V12 "'Statement':{'Effect':'Allow','NotAction':'iam:*',"
	    "'Resource':'*'}}";
	/* nothing but reads */
	static const char *const deny =
	    "{" V12 "'Statement':[{'Effect':'Allow','Action':'*',"
	    "'Resource':'*'},{'Effect':'Deny',"
	    "'NotAction':['iot:Describe*','iot:List*','iam:Get*'],"
	    "'Resource':'*'}]}";

	assert_int_equal(decide_on(allow, "iot:CreateThing", "*"), ALLOW);
	assert_int_equal(decide_on(allow, "iam:CreateUser", "*"), DEFAULT);
	assert_int_equal(decide_on(allow, "IAM:CreateUser", "*"), DEFAULT);
	assert_int_equal(decide_on(deny, "iot:DescribeThing", "*"), ALLOW);
	assert_int_equal(decide_on(deny, "iot:listthings", "*"), ALLOW);
	assert_int_equal(decide_on(deny, "iam:GetUser", "*"), ALLOW);
	assert_int_equal(decide_on(deny, "iot:DeleteThing", "*"), DENY);
	assert_int_equal(decide_on(deny, "iam:CreateAccessKey", "*"), DENY);
}

static void
test_not_resource(void **state)
{
	static const char *const allow =
	    "{" V12 "'Statement':{'Effect':'Allow','Action':'iot:*',"
	    "'NotResource':['" IOT "thing/secret*','" IOT "cert/*']}}";
	static const char *const deny =
	    "{" V12 "'Statement':[{'Effect':'Allow','Action':'*',"
	    "'Resource':'*'},{'Effect':'Deny','Action':'iam:*',"
	    "'NotResource':'" IAM "user/${aws:username}'}]}";
	static const char *const old_deny =
	    "{'Statement':[{'Effect':'Allow','Action':'*',"
	    "'Resource':'*'},{'Effect':'Deny','Action':'iam:*',"
	    "'NotResource':'" IAM "user/${aws:username}'}]}";
	static const char *const none =
	    "{'Statement':{'Effect':'Allow','Action':'*',"
	    "'NotResource':'*'}}";

	assert_int_equal(
	    decide_on(allow, "iot:DescribeThing", IOT "thing/x"), ALLOW);
	assert_int_equal(decide_on(allow, "iot:DescribeThing", "*"), ALLOW);
	assert_int_equal(
	    decide_on(allow, "iot:DescribeThing", IOT "thing/secret1"),
	    DEFAULT);
	assert_int_equal(
	    decide_on(allow, "iot:DescribeCertificate", IOT "cert/ab"),
	    DEFAULT);
	assert_int_equal(
	    decide_on(allow, "iam:GetUser", IOT "thing/x"), DEFAULT);
	/* 2012-10-17 would substitute the variable: not supported */
	parse_fails(deny, "Statement[1].NotResource",
	    "policy variables (${...}) are not supported");
	/* without Version (2008-10-17), ${...} is literal text */
	assert_int_equal(
	    decide_on(old_deny, "iam:GetUser", IAM "user/${aws:username}"),
	    ALLOW);
	assert_int_equal(
	    decide_on(old_deny, "iam:GetUser", IAM "user/admin"), DENY);
	assert_int_equal(decide_on(old_deny, "iot:ListThings", "*"), ALLOW);
	/* NotResource "*" leaves nothing, "*" itself included */
	assert_int_equal(decide_on(none, "iot:ListThings", "*"), DEFAULT);
	assert_int_equal(
	    decide_on(none, "iot:DescribeThing", IOT "thing/x"), DEFAULT);
}

/* ---- conditions: aws:SourceIp ---------------------------------------- */

struct ip_case {
	const char *ip;
	bool in; /* inside the networks of the condition */
};

/* IpAddress allows exactly the addresses inside; NotIpAddress the rest;
 * an absent key (NULL or unparsable address) neither IpAddress nor (IAM)
 * fails NotIpAddress. */
static void
check_networks(const char *values, const struct ip_case *cases, size_t n)
{
	char in[512], out[512];
	struct strata_iam_request req = request("iot:ListThings", "*");

	snprintf(in, sizeof(in), "{'IpAddress':{'aws:SourceIp':%s}}", values);
	snprintf(
	    out, sizeof(out), "{'NotIpAddress':{'aws:SourceIp':%s}}", values);
	for (size_t i = 0; i < n; i++) {
		req.source_ip = cases[i].ip;
		if (decide_condition(in, &req) !=
		    (cases[i].in ? ALLOW : DEFAULT))
			fail_msg("IpAddress %s on %s: want %s", values,
			    cases[i].ip, cases[i].in ? "in" : "out");
		if (decide_condition(out, &req) !=
		    (cases[i].in ? DEFAULT : ALLOW))
			fail_msg("NotIpAddress %s on %s: want %s", values,
			    cases[i].ip, cases[i].in ? "in" : "out");
	}
}

#define CHECK_NETWORKS(values, cases)                                         \
	check_networks(values, cases, sizeof(cases) / sizeof((cases)[0]))

static void
test_ipv4_networks(void **state)
{
	static const struct ip_case slash8[] = {
	    {"9.255.255.255", false}, {"10.0.0.0", true}, {"10.1.2.3", true},
	    {"10.255.255.255", true}, {"11.0.0.0", false},
	    {"::ffff:10.0.0.1", true}, /* IPv4-mapped: read as IPv4 */
	    {"::ffff:11.0.0.1", false},
	    {"::a00:1", false}, /* IPv6, not 10.0.0.1 */
	};
	/* 172.16.0.0/12: 172.16.0.0 .. 172.31.255.255 */
	static const struct ip_case slash12[] = {
	    {"172.15.255.255", false},
	    {"172.16.0.0", true},
	    {"172.31.255.255", true},
	    {"172.32.0.0", false},
	};
	static const struct ip_case host[] = {
	    {"203.0.113.7", true},
	    {"203.0.113.6", false},
	    {"203.0.113.8", false},
	    {"127.0.0.1", false},
	};
	/* 192.0.2.128/31: two addresses */
	static const struct ip_case slash31[] = {
	    {"192.0.2.127", false},
	    {"192.0.2.128", true},
	    {"192.0.2.129", true},
	    {"192.0.2.130", false},
	};
	static const struct ip_case all[] = {
	    {"0.0.0.0", true}, {"255.255.255.255", true},
	    {"::1", false}, /* 0.0.0.0/0 is every IPv4 address only */
	};
	static const struct ip_case several[] = {
	    {"127.0.0.1", true},
	    {"192.168.1.1", true},
	    {"192.168.2.1", false},
	    {"::1", true},
	};

	CHECK_NETWORKS("'10.0.0.0/8'", slash8);
	CHECK_NETWORKS("'172.16.0.0/12'", slash12);
	/* host bits beyond the prefix are ignored */
	CHECK_NETWORKS("'172.20.1.1/12'", slash12);
	CHECK_NETWORKS("'203.0.113.7'", host);
	CHECK_NETWORKS("'203.0.113.7/32'", host);
	CHECK_NETWORKS("'192.0.2.128/31'", slash31);
	CHECK_NETWORKS("'0.0.0.0/0'", all);
	CHECK_NETWORKS("['127.0.0.1','192.168.1.0/24','::1']", several);
}

static void
test_ipv6_networks(void **state)
{
	static const struct ip_case slash32[] = {
	    {"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", false},
	    {"2001:db8::", true}, {"2001:db8::1", true},
	    {"2001:DB8:ffff:ffff:ffff:ffff:ffff:ffff", true},
	    {"2001:db9::", false},
	    {"32.1.13.184", false}, /* the same first bytes, but IPv4 */
	};
	/* 2001:db8::/127: ::0 and ::1 */
	static const struct ip_case slash127[] = {
	    {"2001:db8::", true},
	    {"2001:db8::1", true},
	    {"2001:db8::2", false},
	    {"2001:db8:0:0:0:0:0:0", true},
	};
	/* fe80::/10: fe80:: .. febf:ffff:... */
	static const struct ip_case slash10[] = {
	    {"fe7f:ffff::1", false},
	    {"fe80::1", true},
	    {"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true},
	    {"fec0::", false},
	};
	static const struct ip_case loopback[] = {
	    {"::1", true},
	    {"0:0:0:0:0:0:0:1", true},
	    {"::2", false},
	    {"127.0.0.1", false},
	};
	static const struct ip_case all[] = {
	    {"::", true}, {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true},
	    {"127.0.0.1", false},
	    {"::ffff:127.0.0.1", false}, /* read as IPv4 */
	};

	CHECK_NETWORKS("'2001:db8::/32'", slash32);
	CHECK_NETWORKS("'2001:DB8::/127'", slash127);
	CHECK_NETWORKS("'fe80::/10'", slash10);
	CHECK_NETWORKS("'::1'", loopback);
	CHECK_NETWORKS("'::1/128'", loopback);
	CHECK_NETWORKS("'::/0'", all);
}

static void
test_source_ip_absent(void **state)
{
	static const char *const absent[] = {NULL, "", "localhost",
	    "10.0.0.1/8", "10.0.0.256", "fe80::1%eth0", " 10.0.0.1"};
	struct strata_iam_request req = request("iot:ListThings", "*");
	static const char *const ip =
	    "{'IpAddress':{'aws:SourceIp':'0.0.0.0/0'}}";
	static const char *const not_ip =
	    "{'NotIpAddress':{'aws:SourceIp':'10.0.0.0/8'}}";
	static const char *const ip_if =
	    "{'IpAddressIfExists':{'aws:SourceIp':'10.0.0.0/8'}}";
	static const char *const not_ip_if =
	    "{'NotIpAddressIfExists':{'aws:SourceIp':'10.0.0.0/8'}}";
	char *deny_outside;

	for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
		req.source_ip = absent[i];
		/* IAM: absent makes a condition false ... */
		assert_int_equal(decide_condition(ip, &req), DEFAULT);
		/* ... but a negated one true */
		assert_int_equal(decide_condition(not_ip, &req), ALLOW);
		/* IfExists: true */
		assert_int_equal(decide_condition(ip_if, &req), ALLOW);
		assert_int_equal(decide_condition(not_ip_if, &req), ALLOW);
	}
	/* IfExists does not change anything when the key is present */
	req.source_ip = "10.0.0.1";
	assert_int_equal(decide_condition(ip_if, &req), ALLOW);
	assert_int_equal(decide_condition(not_ip_if, &req), DEFAULT);
	req.source_ip = "11.0.0.1";
	assert_int_equal(decide_condition(ip_if, &req), DEFAULT);
	assert_int_equal(decide_condition(not_ip_if, &req), ALLOW);
	/* so "deny outside the network" also denies a call with no address */
	deny_outside = statement_doc("Deny", "'*'", "'*'", not_ip);
	req.source_ip = NULL;
	assert_int_equal(decide(deny_outside, &req), DENY);
	req.source_ip = "10.9.9.9";
	assert_int_equal(decide(deny_outside, &req), DEFAULT);
	free(deny_outside);
}

/* ---- conditions: aws:CurrentTime ------------------------------------- */

/* The decision of operator op with value (JSON text) at now. */
static enum strata_policy_decision
at(const char *op, const char *value, long long now)
{
	struct strata_iam_request req = request("iot:ListThings", "*");
	char cond[256];

	req.now = now;
	snprintf(
	    cond, sizeof(cond), "{'%s':{'aws:CurrentTime':%s}}", op, value);
	return decide_condition(cond, &req);
}

/* Every operator on value, which must stand for exactly T. */
static void
check_time_is_t(const char *value)
{
	static const struct {
		const char *op;
		enum strata_policy_decision before, same, after;
	} ops[] = {
	    {"DateGreaterThan", DEFAULT, DEFAULT, ALLOW},
	    {"DateGreaterThanEquals", DEFAULT, ALLOW, ALLOW},
	    {"DateLessThan", ALLOW, DEFAULT, DEFAULT},
	    {"DateLessThanEquals", ALLOW, ALLOW, DEFAULT},
	};

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (at(ops[i].op, value, T - 1) != ops[i].before ||
		    at(ops[i].op, value, T) != ops[i].same ||
		    at(ops[i].op, value, T + 1) != ops[i].after)
			fail_msg("%s %s is not %lld", ops[i].op, value, T);
	}
}

static void
test_date_operators(void **state)
{
	check_time_is_t("'2026-12-02T18:00:00Z'");
	check_time_is_t("'2026-12-02T20:00:00+02:00'");
	check_time_is_t("'2026-12-02T12:30:00-05:30'");
	check_time_is_t("'2026-12-03T03:00:00+09:00'"); /* the next day */
	check_time_is_t("'2026-12-02T18:00:00.000Z'");
	check_time_is_t("'2026-12-02T18:00:00.0+00:00'");
	check_time_is_t("'1796234400'");
	check_time_is_t("1796234400");
	/* several values: any one */
	check_time_is_t("['2026-12-02T18:00:00Z']");
	assert_int_equal(
	    at("DateLessThan", "['2000-01-01','2030-01-01']", T), ALLOW);
	assert_int_equal(
	    at("DateLessThan", "['2000-01-01','2001-01-01']", T), DEFAULT);
	/* the IfExists forms: the key is always present */
	assert_int_equal(
	    at("DateLessThanIfExists", "'2026-12-02T18:00:00Z'", T), DEFAULT);
	assert_int_equal(
	    at("DateGreaterThanEqualsIfExists", "'2026-12-02'", T), ALLOW);
}

static void
test_date_forms(void **state)
{
	/* a date alone is its midnight UTC */
	assert_int_equal(
	    at("DateGreaterThanEquals", "'2026-12-02'", 1796169600LL), ALLOW);
	assert_int_equal(
	    at("DateGreaterThanEquals", "'2026-12-02'", 1796169599LL),
	    DEFAULT);
	/* a leap day */
	assert_int_equal(
	    at("DateGreaterThanEquals", "'2028-02-29'", 1835395200LL), ALLOW);
	assert_int_equal(
	    at("DateGreaterThanEquals", "'2028-02-29'", 1835395199LL),
	    DEFAULT);
	/* a fraction puts the value just after its second */
	assert_int_equal(
	    at("DateGreaterThan", "'2026-12-02T18:00:00.5Z'", T), DEFAULT);
	assert_int_equal(
	    at("DateGreaterThan", "'2026-12-02T18:00:00.5Z'", T + 1), ALLOW);
	assert_int_equal(
	    at("DateGreaterThanEquals", "'2026-12-02T18:00:00.001Z'", T),
	    DEFAULT);
	assert_int_equal(
	    at("DateLessThan", "'2026-12-02T18:00:00.000000001Z'", T), ALLOW);
	assert_int_equal(
	    at("DateLessThanEquals", "'2026-12-02T17:59:59.999Z'", T),
	    DEFAULT);
	assert_int_equal(
	    at("DateLessThanEquals", "'2026-12-02T17:59:59.999Z'", T - 1),
	    ALLOW);
	/* epoch 0 and the far future */
	assert_int_equal(at("DateGreaterThan", "0", T), ALLOW);
	assert_int_equal(
	    at("DateLessThan", "'9999-12-31T23:59:59Z'", T), ALLOW);
	assert_int_equal(at("DateLessThan", "'999999999999'", T), ALLOW);
	/* before 1970 */
	assert_int_equal(at("DateGreaterThan", "'1969-12-31'", 0), ALLOW);
	assert_int_equal(
	    at("DateGreaterThan", "'1969-12-31'", -86401), DEFAULT);
}

/* ---- conditions: aws:SecureTransport --------------------------------- */

static void
test_bool(void **state)
{
	static const char *const yes[] = {
	    "'true'", "true", "'TRUE'", "'True'", "['false','true']"};
	static const char *const no[] = {"'false'", "false", "'FALSE'"};
	struct strata_iam_request tls = request("iot:ListThings", "*");
	struct strata_iam_request plain = tls;
	char cond[128];

	plain.secure_transport = false;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		snprintf(cond, sizeof(cond),
		    "{'Bool':{'aws:SecureTransport':%s}}", yes[i]);
		assert_int_equal(decide_condition(cond, &tls), ALLOW);
		assert_int_equal(decide_condition(cond, &plain),
		    strchr(yes[i], '[') ? ALLOW : DEFAULT);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		snprintf(cond, sizeof(cond),
		    "{'BoolIfExists':{'aws:SecureTransport':%s}}", no[i]);
		assert_int_equal(decide_condition(cond, &tls), DEFAULT);
		assert_int_equal(decide_condition(cond, &plain), ALLOW);
	}
}

/* ---- conditions together --------------------------------------------- */

static void
test_conditions_combined(void **state)
{
	/* every operator and key must hold; condition keys are
	 * case-insensitive */
	static const char *const cond =
	    "{'IpAddress':{'aws:sourceip':['127.0.0.0/8','::1']},"
	    "'Bool':{'AWS:SECURETRANSPORT':'true'},"
	    "'DateGreaterThan':{'aws:CurrentTime':'2026-01-01T00:00:00Z'},"
	    "'DateLessThan':{'aws:currenttime':'2027-01-01T00:00:00Z'}}";
	struct strata_iam_request req = request("iot:ListThings", "*");

	assert_int_equal(decide_condition(cond, &req), ALLOW);
	req.source_ip = "::1";
	assert_int_equal(decide_condition(cond, &req), ALLOW);
	req.source_ip = "192.0.2.1";
	assert_int_equal(decide_condition(cond, &req), DEFAULT);
	req = request("iot:ListThings", "*");
	req.secure_transport = false;
	assert_int_equal(decide_condition(cond, &req), DEFAULT);
	req = request("iot:ListThings", "*");
	req.now = 1798761600LL; /* 2027-01-01T00:00:00Z */
	assert_int_equal(decide_condition(cond, &req), DEFAULT);
	/* two keys under one operator, spelled differently: both hold */
	assert_int_equal(
	    decide_condition("{'IpAddress':{'aws:SourceIp':'127.0.0.1',"
	                     "'aws:sourceIP':'127.0.0.0/8'}}",
	        &req),
	    ALLOW);
	assert_int_equal(
	    decide_condition("{'IpAddress':{'aws:SourceIp':'127.0.0.1',"
	                     "'aws:sourceIP':'10.0.0.0/8'}}",
	        &req),
	    DEFAULT);
	/* an empty block holds */
	assert_int_equal(decide_condition("{}", &req), ALLOW);
	assert_int_equal(decide_condition("{'IpAddress':{}}", &req), ALLOW);
}

static void
test_condition_on_deny(void **state)
{
	/* everything, but nothing over plain HTTP and nothing from outside
	 * loopback */
	static const char *const d =
	    "{" V12 "'Statement':[{'Effect':'Allow','Action':'*',"
	    "'Resource':'*'},"
	    "{'Effect':'Deny','Action':'*','Resource':'*','Condition':"
	    "{'Bool':{'aws:SecureTransport':false}}},"
	    "{'Effect':'Deny','Action':'iam:*','Resource':'*','Condition':"
	    "{'NotIpAddress':{'aws:SourceIp':['127.0.0.0/8','::1']}}}]}";
	struct strata_iam_request req =
	    request("iam:CreateUser", IAM "user/a");

	assert_int_equal(decide(d, &req), ALLOW);
	req.source_ip = "203.0.113.9";
	assert_int_equal(decide(d, &req), DENY);
	req.action = "iot:ListThings";
	assert_int_equal(decide(d, &req), ALLOW);
	req.secure_transport = false;
	assert_int_equal(decide(d, &req), DENY);
}

/* ---- refusals -------------------------------------------------------- */

static void
test_json_syntax_errors(void **state)
{
	static const char bad[] = "{\"Statement\": [\n  {\"Effect\": }]}";
	static const char dup[] =
	    "{\"Statement\": {\"Effect\": \"Allow\", \"Effect\": \"Deny\", "
	    "\"Action\": \"*\", \"Resource\": \"*\"}}";
	struct strata_policy_error err;

	assert_null(strata_iam_policy_parse(bad, strlen(bad), &err));
	assert_int_equal(err.line, 2);
	assert_true(err.column > 0);
	assert_string_equal(err.path, "");
	assert_true(err.message[0] != '\0');
	assert_null(strata_iam_policy_parse(dup, strlen(dup), &err));
	assert_int_equal(err.line, 1);
	assert_string_equal(err.path, "");
	assert_non_null(strstr(err.message, "duplicate"));
	/* no NUL needed, and none read past len */
	assert_null(strata_iam_policy_parse("{}garbage", 2, &err));
	assert_string_equal(err.path, "");
	assert_non_null(strstr(err.message, "Statement"));
	assert_null(strata_iam_policy_parse("", 0, &err));
	assert_int_equal(err.line, 1);
	/* err may be NULL */
	assert_null(strata_iam_policy_parse(bad, strlen(bad), NULL));
	assert_null(strata_iam_policy_parse("[]", 2, NULL));
}

#define ST(body)                                                              \
	"{" V12 "'Statement':[{'Effect':'Allow','Action':'*',"                \
	"'Resource':'*'}," body "]}"
#define ALLOW_ALL "'Effect':'Allow','Action':'*','Resource':'*'"

static void
test_document_errors(void **state)
{
	parse_fails("[]", "", "must be a JSON object");
	parse_fails("{'Version':'2012-10-17'}", "", "no Statement");
	parse_fails("{'Statement':{" ALLOW_ALL "},'Foo':1}", "Foo",
	    "unknown policy element Foo");
	parse_fails("{'Version':'2012-10-18','Statement':{" ALLOW_ALL "}}",
	    "Version", "Version must be");
	parse_fails("{'Version':20121017,'Statement':{" ALLOW_ALL "}}",
	    "Version", "Version must be");
	parse_fails("{'Id':1,'Statement':{" ALLOW_ALL "}}", "Id",
	    "Id must be a string");
	parse_fails("{'Statement':[]}", "Statement", "non-empty list");
	parse_fails("{'Statement':'x'}", "Statement", "object or a non-empty");
	parse_fails("{'Statement':[{" ALLOW_ALL "},'x']}", "Statement[1]",
	    "a statement must be a JSON object");
	parse_fails(ST("{" ALLOW_ALL ",'Foo':1}"), "Statement[1].Foo",
	    "unknown statement element Foo");
	parse_fails("{'Statement':{" ALLOW_ALL ",'Principal':'*'}}",
	    "Statement.Principal", "identity policy");
	parse_fails(ST("{" ALLOW_ALL ",'NotPrincipal':{'AWS':'*'}}"),
	    "Statement[1].NotPrincipal", "identity policy");
	/* element names are case-sensitive */
	parse_fails(ST("{'effect':'Allow','Action':'*','Resource':'*'}"),
	    "Statement[1].effect", "unknown statement element");
}

static void
test_statement_errors(void **state)
{
	parse_fails(ST("{'Sid':1," ALLOW_ALL "}"), "Statement[1].Sid",
	    "Sid must be a string");
	parse_fails(
	    ST("{'Action':'*','Resource':'*'}"), "Statement[1]", "no Effect");
	parse_fails(ST("{'Effect':'allow','Action':'*','Resource':'*'}"),
	    "Statement[1].Effect", "\"Allow\" or \"Deny\"");
	parse_fails(ST("{'Effect':true,'Action':'*','Resource':'*'}"),
	    "Statement[1].Effect", "\"Allow\" or \"Deny\"");
	parse_fails(ST("{'Effect':'Allow','Resource':'*'}"), "Statement[1]",
	    "no Action (or NotAction)");
	parse_fails(ST("{'Effect':'Allow','Action':'*','NotAction':'iam:*',"
	               "'Resource':'*'}"),
	    "Statement[1]", "both Action and NotAction");
	parse_fails(ST("{'Effect':'Allow','Action':'*'}"), "Statement[1]",
	    "no Resource (or NotResource)");
	parse_fails(ST("{'Effect':'Allow','Action':'*','Resource':'*',"
	               "'NotResource':'*'}"),
	    "Statement[1]", "both Resource and NotResource");
}

static void
test_action_and_resource_errors(void **state)
{
	static const struct {
		const char *element, *value, *path, *want;
	} cases[] = {
	    {"Action", "[]", "Statement.Action", "non-empty list"},
	    {"Action", "{}", "Statement.Action", "non-empty list"},
	    {"Action", "7", "Statement.Action", "non-empty list"},
	    {"NotAction", "['iot:*',7]", "Statement.NotAction[1]",
	        "must be a string"},
	    {"Action", "'iot'", "Statement.Action", "service:Operation"},
	    {"Action", "'iot:'", "Statement.Action", "service:Operation"},
	    {"Action", "''", "Statement.Action", "service:Operation"},
	    {"Action", "':CreateThing'", "Statement.Action",
	        "service:Operation"},
	    {"Action", "['iot:*','io*:Get']", "Statement.Action[1]",
	        "service:Operation"},
	    {"Action", "'**'", "Statement.Action", "service:Operation"},
	    {"Action", "'i t:Get'", "Statement.Action", "service:Operation"},
	    {"Resource", "[]", "Statement.Resource", "non-empty list"},
	    {"Resource", "'thing/lamp'", "Statement.Resource", "nor an ARN"},
	    {"Resource", "''", "Statement.Resource", "nor an ARN"},
	    {"Resource", "'arn:aws:iot:r:1'", "Statement.Resource",
	        "nor an ARN"},
	    {"Resource", "'arn:*'", "Statement.Resource", "nor an ARN"},
	    {"Resource", "'ARN:aws:iot:r:1:thing/x'", "Statement.Resource",
	        "nor an ARN"},
	    {"NotResource", "['*',null]", "Statement.NotResource[1]",
	        "must be a string"},
	    {"Resource", "['*','" IOT "thing/${aws:username}']",
	        "Statement.Resource[1]", "policy variables"},
	};
	char text[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool action = strstr(cases[i].element, "Action") != NULL;

		snprintf(text, sizeof(text),
		    "{" V12 "'Statement':{'Effect':'Allow','%s':%s,'%s':%s}}",
		    cases[i].element, cases[i].value,
		    action ? "Resource" : "Action", "'*'");
		parse_fails(text, cases[i].path, cases[i].want);
	}
}

static void
test_condition_errors(void **state)
{
	static const struct {
		const char *condition, *path, *want;
	} cases[] = {
	    {"[]", "Statement[1].Condition", "object of condition operators"},
	    {"{'StringEquals':{'aws:SourceIp':'x'}}",
	        "Statement[1].Condition.StringEquals",
	        "condition operator StringEquals is not supported"},
	    {"{'ipaddress':{'aws:SourceIp':'::1'}}",
	        "Statement[1].Condition.ipaddress", "is not supported"},
	    {"{'IpAddressIfExist':{'aws:SourceIp':'::1'}}",
	        "Statement[1].Condition.IpAddressIfExist", "is not supported"},
	    {"{'ForAnyValue:IpAddress':{'aws:SourceIp':'::1'}}",
	        "Statement[1].Condition.ForAnyValue:IpAddress",
	        "is not supported"},
	    {"{'DateEquals':{'aws:CurrentTime':'2026-12-02'}}",
	        "Statement[1].Condition.DateEquals", "is not supported"},
	    {"{'IpAddress':['::1']}", "Statement[1].Condition.IpAddress",
	        "object of condition keys"},
	    {"{'IpAddress':{'aws:UserAgent':'x'}}",
	        "Statement[1].Condition.IpAddress.aws:UserAgent",
	        "condition key aws:UserAgent is not supported"},
	    {"{'Bool':{'aws:MultiFactorAuthPresent':'true'}}",
	        "Statement[1].Condition.Bool.aws:MultiFactorAuthPresent",
	        "is not supported"},
	    {"{'IpAddress':{'aws:CurrentTime':'::1'}}",
	        "Statement[1].Condition.IpAddress.aws:CurrentTime",
	        "IpAddress does not apply to aws:CurrentTime, only to "
	        "aws:SourceIp"},
	    {"{'DateLessThan':{'aws:SecureTransport':'2026-12-02'}}",
	        "Statement[1].Condition.DateLessThan.aws:SecureTransport",
	        "only to aws:CurrentTime"},
	    {"{'Bool':{'aws:SourceIp':'true'}}",
	        "Statement[1].Condition.Bool.aws:SourceIp",
	        "only to aws:SecureTransport"},
	    {"{'IpAddress':{'aws:SourceIp':[]}}",
	        "Statement[1].Condition.IpAddress.aws:SourceIp", "no values"},
	};
	char text[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text),
		    ST("{" ALLOW_ALL ",'Condition':%s}"), cases[i].condition);
		parse_fails(text, cases[i].path, cases[i].want);
	}
}

/* Each of values, after the valid value first, must be refused under
 * op/key at its path. */
static void
values_refused(const char *op, const char *key, const char *first,
    const char *const *values, size_t n, const char *want)
{
	char text[512], path[256];

	snprintf(path, sizeof(path), "Statement.Condition.%s.%s[1]", op, key);
	for (size_t i = 0; i < n; i++) {
		snprintf(text, sizeof(text),
		    "{'Statement':{" ALLOW_ALL
		    ",'Condition':{'%s':{'%s':[%s,%s]}}}}",
		    op, key, first, values[i]);
		parse_fails(text, path, want);
	}
}

static void
test_value_errors(void **state)
{
	static const char *const ips[] = {"'10.0.0.256'", "'10.0.0.0/33'",
	    "'::1/129'", "'10.0.0.0/'", "'10.0.0.0/8/8'", "'10.0.0.0/+8'",
	    "'10.0.0.0/-1'", "'10.0.0.0/0008'", "'10.0.0'", "'::1 '", "''",
	    "'localhost'", "'fe80::1%eth0'", "10", "true", "null",
	    "'1:2:3:4:5:6:7:8:9:10:11:12:13:14:15:16:17:18'"};
	static const char *const dates[] = {"'2026-13-01'", "'2026-00-01'",
	    "'2026-02-29'", "'2026-04-31'", "'2026-12-00'",
	    "'2026-12-02T24:00:00Z'", "'2026-12-02T18:60:00Z'",
	    "'2026-12-02T18:00:60Z'", "'2026-12-02T18:00:00'",
	    "'2026-12-02T18:00Z'", "'2026-12-02T18:00:00.Z'",
	    "'2026-12-02T18:00:00+2:00'", "'2026-12-02T18:00:00+24:00'",
	    "'2026-12-02T18:00:00+02:60'", "'2026-12-02T18:00:00+0200'",
	    "'2026-12-02 18:00:00Z'", "'2026-12-02t18:00:00z'",
	    "'2026-12-02T18:00:00Zjunk'", "'26-12-02'", "'tomorrow'", "''",
	    "'1234567890123'", "'-1'", "'+5'", "1.5", "-1", "1000000000000",
	    "true", "null"};
	static const char *const bools[] = {
	    "'yes'", "'1'", "1", "''", "null", "'true '"};

	values_refused("IpAddress", "aws:SourceIp", "'::1'", ips,
	    sizeof(ips) / sizeof(ips[0]), "IPv4 or IPv6 addresses");
	values_refused("NotIpAddressIfExists", "aws:SourceIp", "'10.0.0.0/8'",
	    ips, 3, "IPv4 or IPv6 addresses");
	values_refused("DateLessThan", "aws:CurrentTime", "0", dates,
	    sizeof(dates) / sizeof(dates[0]), "aws:CurrentTime values are");
	values_refused("DateGreaterThanEqualsIfExists", "aws:CurrentTime",
	    "'2026-12-02'", dates, 3, "aws:CurrentTime values are");
	values_refused("Bool", "aws:SecureTransport", "true", bools,
	    sizeof(bools) / sizeof(bools[0]), "\"true\" or \"false\"");
	/* a single value (no list) is refused at the key */
	parse_fails("{'Statement':{" ALLOW_ALL ",'Condition':{'IpAddress':"
	            "{'aws:SourceIp':'10.0.0.0/40'}}}}",
	    "Statement.Condition.IpAddress.aws:SourceIp",
	    "IPv4 or IPv6 addresses");
}

/* ---- accepted forms and the size limit ------------------------------- */

static void
test_accepted_forms(void **state)
{
	static const char *const ok[] = {
	    /* the bootstrap AdministratorAccess policy */
	    "{" V12 "'Statement':[{'Effect':'Allow','Action':'*',"
	    "'Resource':'*'}]}",
	    "{'Version':'2008-10-17','Statement':{" ALLOW_ALL "}}",
	    "{'Statement':{" ALLOW_ALL "}}",
	    "{'Id':'admins'," V12 "'Statement':{'Sid':'',"
	    "'Effect':'Deny','NotAction':['iot:*'],'NotResource':['*']}}",
	    "{'Statement':{" ALLOW_ALL ",'Condition':{}}}",
	    "{'Statement':{'Effect':'Allow','Action':'IAM:Get*',"
	    "'Resource':'arn:aws:iam::000000000000:user/a:b'}}",
	    "{'Statement':{" ALLOW_ALL ",'Condition':{"
	    "'IpAddressIfExists':{'AWS:SourceIP':'10.0.0.1'},"
	    "'NotIpAddress':{'aws:SourceIp':['::ffff:10.0.0.1','::/0']},"
	    "'DateGreaterThanIfExists':{'aws:CurrentTime':0},"
	    "'DateLessThanEqualsIfExists':{'aws:CurrentTime':'2026-12-02'},"
	    "'BoolIfExists':{'aws:SecureTransport':[true,'false']}}}}",
	    /* a date with a very long fraction */
	    "{'Statement':{" ALLOW_ALL ",'Condition':{'DateLessThan':"
	    "{'aws:CurrentTime':'2026-12-02T18:00:00.1234567890123456789Z'}"
	    "}}}",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		strata_iam_policy_free(parse_ok(ok[i]));
	strata_iam_policy_free(NULL);
}

/* A valid document of exactly chars characters outside white space, with
 * pad spaces; multibyte: padded with two-byte characters. */
static char *
sized_doc(size_t chars, size_t pad, bool multibyte)
{
	static const char head[] =
	    "{\"Statement\":{\"Effect\":\"Allow\","
	    "\"Action\":\"*\",\"Resource\":\"arn:a:b:c:d:";
	static const char tail[] = "\"}}";
	size_t fixed = sizeof(head) - 1 + sizeof(tail) - 1;
	size_t fill = chars - fixed;
	char *d = malloc(sizeof(head) + 2 * fill + pad + sizeof(tail));
	char *p = d;

	assert_non_null(d);
	memset(p, ' ', pad);
	p += pad;
	memcpy(p, head, sizeof(head) - 1);
	p += sizeof(head) - 1;
	for (size_t i = 0; i < fill; i++) {
		if (multibyte) {
			*p++ = (char)0xc3;
			*p++ = (char)0xa9;
		} else {
			*p++ = 'x';
		}
	}
	memcpy(p, tail, sizeof(tail));
	return d;
}

static void
test_size_limit(void **state)
{
	struct strata_policy_error err;
	struct strata_iam_policy *pol;
	char *d;

	d = sized_doc(STRATA_IAM_POLICY_MAX_CHARS, 0, false);
	pol = strata_iam_policy_parse(d, strlen(d), &err);
	assert_non_null(pol);
	strata_iam_policy_free(pol);
	free(d);
	/* white space does not count, a two-byte character counts once */
	d = sized_doc(STRATA_IAM_POLICY_MAX_CHARS, 20000, true);
	pol = strata_iam_policy_parse(d, strlen(d), &err);
	assert_non_null(pol);
	strata_iam_policy_free(pol);
	free(d);
	d = sized_doc(STRATA_IAM_POLICY_MAX_CHARS + 1, 0, false);
	assert_null(strata_iam_policy_parse(d, strlen(d), &err));
	assert_string_equal(err.path, "");
	assert_int_equal(err.line, 0);
	assert_non_null(strstr(err.message, "6145 characters"));
	assert_non_null(strstr(err.message, "6144"));
	free(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_allow_and_default_deny),
	    cmocka_unit_test(test_deny_beats_allow),
	    cmocka_unit_test(test_bad_requests),
	    cmocka_unit_test(test_action_wildcards),
	    cmocka_unit_test(test_resource_wildcards),
	    cmocka_unit_test(test_pathological_pattern),
	    cmocka_unit_test(test_not_action),
	    cmocka_unit_test(test_not_resource),
	    cmocka_unit_test(test_ipv4_networks),
	    cmocka_unit_test(test_ipv6_networks),
	    cmocka_unit_test(test_source_ip_absent),
	    cmocka_unit_test(test_date_operators),
	    cmocka_unit_test(test_date_forms),
	    cmocka_unit_test(test_bool),
	    cmocka_unit_test(test_conditions_combined),
	    cmocka_unit_test(test_condition_on_deny),
	    cmocka_unit_test(test_json_syntax_errors),
	    cmocka_unit_test(test_document_errors),
	    cmocka_unit_test(test_statement_errors),
	    cmocka_unit_test(test_action_and_resource_errors),
	    cmocka_unit_test(test_condition_errors),
	    cmocka_unit_test(test_value_errors),
	    cmocka_unit_test(test_accepted_forms),
	    cmocka_unit_test(test_size_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
