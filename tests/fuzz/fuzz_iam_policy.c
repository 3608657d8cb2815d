/*
 * fuzz_iam_policy.c - libFuzzer target for the admin API's IAM policy
 * engine: parse fuzzed documents, then check requests against them.
 *
 * The first byte chooses the mode and flags; the rest is sections
 * separated by NUL bytes.
 *
 * Document mode (flags bit 7 clear):
 *   flags  bit 0: the requests of section 2 came over TLS
 *   [0] policy document A
 *   [1] policy document B (empty: only A)
 *   [2] requests, one per line: action, resource, source address and
 *       epoch seconds, separated by tabs (a missing field: "*", "*",
 *       absent, 0)
 * Every document must be refused with a message (and a JSON path only
 * without a line) or accepted.  Each accepted one is checked against a
 * fixed list of requests and those of section 2: the decision for A and
 * B together (in either order, with a NULL between them) must be what
 * IAM's rule makes of the decisions for A alone and B alone (any Deny,
 * else any Allow, else default).
 *
 * Value mode (flags bit 7 set): one condition value against one request.
 *   flags  bits 0-1: the key (0 aws:SourceIp, 1 aws:CurrentTime,
 *          2 and 3 aws:SecureTransport); bit 2: the request is over TLS;
 *          bit 6: section 0 is JSON text (else it is the string value)
 *   [0] the value   [1] the request's source address   [2] its epoch
 *       seconds (decimal)
 * The value goes under each operator of a complementary pair (IpAddress
 * and NotIpAddress; DateLessThan and DateGreaterThanEquals; DateGreaterThan
 * and DateLessThanEquals; Bool on the value and on the other request):
 * both documents are accepted or both refused, and when accepted exactly
 * one of the two allows, and the IfExists form decides as the plain one.
 */
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iam_policy.h"

#define FUZZ_SECTIONS 3
#define FUZZ_IOT "arn:aws:iot:local:000000000000:"
#define FUZZ_IAM "arn:aws:iam::000000000000:"
#define FUZZ_T 1796234400LL /* 2026-12-02T18:00:00Z */

static const struct strata_iam_request fuzz_requests[] = {
    {"iot:CreateThing", FUZZ_IOT "thing/lamp", "127.0.0.1", FUZZ_T, true},
    {"iot:DescribeThing", FUZZ_IOT "thing/lamp", "::1", FUZZ_T + 1, false},
    {"iot:ListThings", "*", NULL, 0, true},
    {"iam:CreateUser", FUZZ_IAM "user/admin", "10.1.2.3", FUZZ_T - 1, true},
    {"iam:GetUser", FUZZ_IAM "user/a*b", "::ffff:192.0.2.1", -1, false},
    {"IOT:updatecertificate", FUZZ_IOT "cert/ab", "2001:db8::1", FUZZ_T, true},
    {"iam:ListAccessKeys", FUZZ_IAM "user/${aws:username}", "fe80::1",
        LLONG_MAX, true},
    {"", "", "garbage", LLONG_MIN, false},
};

/* Cut buf at its NUL bytes into up to n sections (missing ones empty). */
static void
fuzz_sections(char *buf, size_t len, char *sec[], size_t seclen[], size_t n)
{
	size_t start = 0, k = 0;

	for (size_t i = 0; i <= len && k < n; i++) {
		if (i < len && buf[i] != '\0')
			continue;
		sec[k] = buf + start;
		seclen[k++] = i - start;
		start = i + 1;
	}
	for (; k < n; k++) {
		sec[k] = buf + len; /* the final NUL */
		seclen[k] = 0;
	}
}

/* Next field of *p up to sep or end (NUL-terminated in place), or NULL
 * past the end. */
static char *
fuzz_field(char **p, char *end, char sep)
{
	char *field = *p, *stop;

	if (field > end)
		return NULL;
	stop = memchr(field, sep, (size_t)(end - field));
	if (stop == NULL)
		stop = end;
	*stop = '\0';
	*p = stop + 1;
	return field;
}

static struct strata_iam_policy *
fuzz_parse(const char *doc, size_t len)
{
	struct strata_policy_error err;
	struct strata_iam_policy *pol;

	memset(&err, 0x55, sizeof(err));
	pol = strata_iam_policy_parse(doc, len, &err);
	if (memchr(err.path, '\0', sizeof(err.path)) == NULL ||
	    memchr(err.message, '\0', sizeof(err.message)) == NULL)
		abort();
	if (pol == NULL && err.message[0] == '\0')
		abort();
	if (pol == NULL && err.path[0] != '\0' && err.line != 0)
		abort();
	return pol;
}

static enum strata_policy_decision
fuzz_combine(enum strata_policy_decision a, enum strata_policy_decision b)
{
	if (a == STRATA_POLICY_DENY_EXPLICIT ||
	    b == STRATA_POLICY_DENY_EXPLICIT)
		return STRATA_POLICY_DENY_EXPLICIT;
	if (a == STRATA_POLICY_ALLOW || b == STRATA_POLICY_ALLOW)
		return STRATA_POLICY_ALLOW;
	return STRATA_POLICY_DENY_DEFAULT;
}

/* A and B alone and together must agree with IAM's rule on req. */
static void
fuzz_check(struct strata_iam_policy *a, struct strata_iam_policy *b,
    const struct strata_iam_request *req)
{
	struct strata_iam_policy *ab[3] = {a, NULL, b}, *ba[2] = {b, a};
	enum strata_policy_decision da, db, dab;

	da = strata_iam_policy_check(&a, 1, req);
	db = strata_iam_policy_check(&b, 1, req);
	dab = strata_iam_policy_check(ab, 3, req);
	if (da > STRATA_POLICY_DENY_EXPLICIT ||
	    db > STRATA_POLICY_DENY_EXPLICIT || dab != fuzz_combine(da, db) ||
	    strata_iam_policy_check(ba, 2, req) != dab)
		abort();
}

static void
fuzz_documents(uint8_t flags, char *sec[], size_t seclen[])
{
	struct strata_iam_policy *a, *b;
	struct strata_iam_request req;
	char *p = sec[2], *end = sec[2] + seclen[2], *line, *q, *field;

	a = fuzz_parse(sec[0], seclen[0]);
	b = seclen[1] ? fuzz_parse(sec[1], seclen[1]) : NULL;
	for (size_t i = 0;
	     i < sizeof(fuzz_requests) / sizeof(fuzz_requests[0]); i++)
		fuzz_check(a, b, &fuzz_requests[i]);
	while (seclen[2] && (line = fuzz_field(&p, end, '\n')) != NULL) {
		char *line_end = line + strlen(line);

		memset(&req, 0, sizeof(req));
		req.secure_transport = flags & 1;
		q = line;
		field = fuzz_field(&q, line_end, '\t');
		req.action = field != NULL ? field : "*";
		field = fuzz_field(&q, line_end, '\t');
		req.resource = field != NULL ? field : "*";
		req.source_ip = fuzz_field(&q, line_end, '\t');
		field = fuzz_field(&q, line_end, '\t');
		req.now = field != NULL ? strtoll(field, NULL, 10) : 0;
		fuzz_check(a, b, &req);
	}
	strata_iam_policy_free(a);
	strata_iam_policy_free(b);
}

/* The decision of {"Allow" everything if op: {key: value}} on req, or -1
 * when the document is refused. */
static int
fuzz_decide(const char *op, const char *key, json_t *value,
    const struct strata_iam_request *req)
{
	json_t *doc;
	char *text;
	struct strata_iam_policy *pol;
	int d = -1;

	doc = json_pack("{s:{s:s,s:s,s:s,s:{s:{s:O}}}}", "Statement", "Effect",
	    "Allow", "Action", "*", "Resource", "*", "Condition", op, key,
	    value);
	if (doc == NULL)
		abort();
	text = json_dumps(doc, JSON_COMPACT);
	if (text == NULL)
		abort();
	pol = fuzz_parse(text, strlen(text));
	if (pol != NULL)
		d = (int)strata_iam_policy_check(&pol, 1, req);
	strata_iam_policy_free(pol);
	free(text);
	json_decref(doc);
	return d;
}

/* op and its complement on value: exactly one allows (or both refused);
 * IfExists changes nothing for the complement (the time and the
 * transport are always present; an absent address already makes
 * NotIpAddress true). */
static void
fuzz_pair(const char *op, const char *not_op, const char *key, json_t *value,
    const struct strata_iam_request *req,
    const struct strata_iam_request *not_req)
{
	char if_exists[64];
	int d = fuzz_decide(op, key, value, req);
	int nd = fuzz_decide(not_op, key, value, not_req);

	if ((d < 0) != (nd < 0))
		abort();
	if (d < 0)
		return;
	if ((d == STRATA_POLICY_ALLOW) == (nd == STRATA_POLICY_ALLOW))
		abort();
	snprintf(if_exists, sizeof(if_exists), "%sIfExists", not_op);
	if (fuzz_decide(if_exists, key, value, not_req) != nd)
		abort();
}

static void
fuzz_value(uint8_t flags, char *sec[], size_t seclen[])
{
	struct strata_iam_request req = {
	    "iot:ListThings", "*", sec[1], 0, (flags & 4) != 0};
	struct strata_iam_request other = req;
	json_t *value;

	req.now = strtoll(sec[2], NULL, 10);
	other.now = req.now;
	other.secure_transport = !req.secure_transport;
	if (flags & 0x40)
		value = json_loadb(sec[0], seclen[0], JSON_DECODE_ANY, NULL);
	else
		value = json_stringn(sec[0], seclen[0]);
	if (value == NULL)
		return;
	/* NotIpAddress is "none of the values", the complement of
	 * IpAddress's "any"; the others are complements for one value only */
	if ((flags & 3) == 0)
		fuzz_pair("IpAddress", "NotIpAddress", "aws:SourceIp", value,
		    &req, &req);
	else if ((flags & 3) == 1 && !json_is_array(value)) {
		fuzz_pair("DateLessThan", "DateGreaterThanEquals",
		    "aws:CurrentTime", value, &req, &req);
		fuzz_pair("DateGreaterThan", "DateLessThanEquals",
		    "aws:CurrentTime", value, &req, &req);
	} else if (!json_is_array(value)) {
		fuzz_pair("Bool", "Bool", "aws:SecureTransport", value, &req,
		    &other);
	}
	json_decref(value);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *sec[FUZZ_SECTIONS];
	size_t seclen[FUZZ_SECTIONS];
	char *buf;

	if (size == 0)
		return 0;
	buf = malloc(size);
	if (buf == NULL)
		abort();
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = '\0';
	fuzz_sections(buf, size - 1, sec, seclen, FUZZ_SECTIONS);
	if (data[0] & 0x80)
		fuzz_value(data[0], sec, seclen);
	else
		fuzz_documents(data[0], sec, seclen);
	free(buf);
	return 0;
}
