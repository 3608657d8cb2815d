/*
 * iam_policy.c - IAM identity policies of the admin API: compile a
 * document, decide a request.
 *
 * Parsing loads the document with the device-policy engine's reader
 * (size limit, duplicate keys refused, JSON paths of refusals:
 * policy-t.h), then walks it once and keeps what a check needs, all
 * decided at compile time:
 *
 *   - per statement its effect; its actions and resources as escaped globs
 *     (policy-t.h), with a flag for NotAction / NotResource;
 *   - its conditions, each an operator (which names its one key) with
 *     its values already converted: IPv4/IPv6 networks (address bytes and
 *     prefix length), times (epoch seconds and whether a fraction of a
 *     second follows), booleans.
 *
 * Anything a check could not read is refused here instead: unknown
 * elements, operators and keys, an operator on a key it does not apply
 * to, values that are not addresses, dates or booleans.
 *
 * A check reads the request's source address once, then walks every
 * statement of every policy: action, then resource, then conditions.
 * The first applying Deny ends it; an applying Allow is remembered.  No
 * allocation, no state: a compiled policy is never written after parse.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "iam_policy.h"
#include "policy-t.h"
#include "status.h"

#define IAM_VERSION_CURRENT "2012-10-17"
#define IAM_VERSION_OLD "2008-10-17"
#define IAM_ARN_COLONS 5    /* arn:partition:service:region:account:... */
#define IAM_EPOCH_DIGITS 12 /* epoch seconds as a string */
#define IAM_EPOCH_LIMIT 1000000000000LL /* and as a number: 12 digits too */
#define IAM_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the compiled form ----------------------------------------------- */

/* A string of the document as an escaped glob (policy-t.h). */
struct iam_pattern {
	char *glob;
	size_t len;
};

/* Action or NotAction, Resource or NotResource. */
struct iam_patterns {
	bool negated; /* Not...: the statement applies when none matches */
	size_t n;
	struct iam_pattern *items;
};

enum iam_key {
	IAM_KEY_SOURCE_IP,
	IAM_KEY_CURRENT_TIME,
	IAM_KEY_SECURE_TRANSPORT,
};

enum iam_operator {
	IAM_OP_IP_ADDRESS,
	IAM_OP_NOT_IP_ADDRESS,
	IAM_OP_DATE_GREATER_THAN,
	IAM_OP_DATE_GREATER_THAN_EQUALS,
	IAM_OP_DATE_LESS_THAN,
	IAM_OP_DATE_LESS_THAN_EQUALS,
	IAM_OP_BOOL,
};

/* An address (prefix: all its bits) or a network. */
struct iam_network {
	int family; /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	unsigned prefix; /* leading bits that must match */
};

/* A point in time: seconds, or just after them when fraction is set (a
 * value with a non-zero fraction of a second; now is whole seconds, so
 * where in that second it lies does not matter). */
struct iam_time {
	long long seconds;
	bool fraction;
};

union iam_value {
	struct iam_network network;
	struct iam_time time;
	bool flag;
};

/* One key under one operator: "IpAddress": {"aws:SourceIp": [...]} */
struct iam_condition {
	enum iam_operator op;
	bool if_exists;
	size_t nvalues;
	union iam_value *values; /* any one matching satisfies the key */
};

struct iam_statement {
	bool deny;
	struct iam_patterns actions, resources;
	size_t nconditions;
	struct iam_condition *conditions; /* all must hold */
};

struct strata_iam_policy {
	size_t nstatements;
	struct iam_statement *statements;
};

/* What each operator is: its name, its one key, whether it negates. */
static const struct {
	const char *name;
	enum iam_key key;
	bool negated;
} iam_operators[] = {
    [IAM_OP_IP_ADDRESS] = {"IpAddress", IAM_KEY_SOURCE_IP, false},
    [IAM_OP_NOT_IP_ADDRESS] = {"NotIpAddress", IAM_KEY_SOURCE_IP, true},
    [IAM_OP_DATE_GREATER_THAN] = {"DateGreaterThan", IAM_KEY_CURRENT_TIME,
        false},
    [IAM_OP_DATE_GREATER_THAN_EQUALS] = {"DateGreaterThanEquals",
        IAM_KEY_CURRENT_TIME, false},
    [IAM_OP_DATE_LESS_THAN] = {"DateLessThan", IAM_KEY_CURRENT_TIME, false},
    [IAM_OP_DATE_LESS_THAN_EQUALS] = {"DateLessThanEquals",
        IAM_KEY_CURRENT_TIME, false},
    [IAM_OP_BOOL] = {"Bool", IAM_KEY_SECURE_TRANSPORT, false},
};

/* Canonical spellings of the keys (matched case-insensitively). */
static const char *const iam_keys[] = {
    [IAM_KEY_SOURCE_IP] = "aws:SourceIp",
    [IAM_KEY_CURRENT_TIME] = "aws:CurrentTime",
    [IAM_KEY_SECURE_TRANSPORT] = "aws:SecureTransport",
};

struct iam_parser {
	struct policy_path path;
	bool version_current; /* 2012-10-17: "${" would be a variable */
};

/* ---- freeing --------------------------------------------------------- */

static void
iam_patterns_free(struct iam_patterns *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->items[i].glob);
	free(p->items);
}

static void
iam_statement_free(struct iam_statement *st)
{
	iam_patterns_free(&st->actions);
	iam_patterns_free(&st->resources);
	for (size_t i = 0; i < st->nconditions; i++)
		free(st->conditions[i].values);
	free(st->conditions);
}

void
strata_iam_policy_free(struct strata_iam_policy *pol)
{
	if (pol == NULL)
		return;
	for (size_t i = 0; i < pol->nstatements; i++)
		iam_statement_free(&pol->statements[i]);
	free(pol->statements);
	free(pol);
}

/* ---- Action and Resource --------------------------------------------- */

/* "*", or a service prefix (letters, digits, '-') and a non-empty
 * operation pattern: "iot:Update*". */
static bool
iam_action_valid(const char *s)
{
	size_t service = strspn(s,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-");

	if (strcmp(s, "*") == 0)
		return true;
	return service > 0 && s[service] == ':' && s[service + 1] != '\0';
}

/* "*", or an ARN: "arn:" and at least five ':' in all. */
static bool
iam_resource_valid(const char *s)
{
	size_t colons = 0;

	if (strcmp(s, "*") == 0)
		return true;
	if (strncmp(s, "arn:", 4) != 0)
		return false;
	for (; *s != '\0'; s++)
		colons += *s == ':';
	return colons >= IAM_ARN_COLONS;
}

static int
iam_action(struct iam_parser *pp, const char *s)
{
	if (!iam_action_valid(s))
		return strata_policy_path_fail(&pp->path,
		    "action '%s' is neither '*' nor service:Operation "
		    "(iot:CreateThing, iam:*)",
		    s);
	return 0;
}

static int
iam_resource(struct iam_parser *pp, const char *s)
{
	if (!iam_resource_valid(s))
		return strata_policy_path_fail(&pp->path,
		    "resource '%s' is neither '*' nor an ARN "
		    "(arn:aws:iot:REGION:ACCOUNT:...)",
		    s);
	if (pp->version_current && strstr(s, "${") != NULL)
		return strata_policy_path_fail(
		    &pp->path, "policy variables (${...}) are not supported");
	return 0;
}

/* Validate one string of an Action or Resource list with check, then
 * keep it as an escaped glob. */
static int
iam_pattern(struct iam_parser *pp, const char *s, struct iam_pattern *pat,
    int (*check)(struct iam_parser *, const char *))
{
	struct policy_buf b = {0};
	int rc = check(pp, s);

	if (rc != 0)
		return rc;
	strata_policy_buf_put_document(&b, s, strlen(s));
	pat->glob = b.p;
	pat->len = b.len;
	return 0;
}

/* A string or a non-empty list of strings (element what, e.g. "Action")
 * into p, each checked by check with the path at it. */
static int
iam_patterns(struct iam_parser *pp, json_t *v, const char *what,
    int (*check)(struct iam_parser *, const char *), struct iam_patterns *p)
{
	json_t *item;
	size_t i, old;
	int rc;

	if (json_is_string(v)) {
		p->items = strata_policy_calloc(1, sizeof(*p->items));
		p->n = 1;
		return iam_pattern(pp, json_string_value(v), p->items, check);
	}
	if (!json_is_array(v) || json_array_size(v) == 0)
		return strata_policy_path_fail(&pp->path,
		    "%s must be a string or a non-empty list of strings",
		    what);
	p->n = json_array_size(v);
	p->items = strata_policy_calloc(p->n, sizeof(*p->items));
	json_array_foreach(v, i, item) {
		old = strata_policy_path_push(&pp->path, "[%zu]", i);
		if (!json_is_string(item))
			return strata_policy_path_fail(
			    &pp->path, "%s must be a string", what);
		rc = iam_pattern(
		    pp, json_string_value(item), &p->items[i], check);
		if (rc != 0)
			return rc;
		strata_policy_path_pop(&pp->path, old);
	}
	return 0;
}

/* Exactly one of name and "Not" name (Action or NotAction) of statement
 * obj into p. */
static int
iam_target(struct iam_parser *pp, json_t *obj, const char *name,
    int (*check)(struct iam_parser *, const char *), struct iam_patterns *p)
{
	char negated[32];
	json_t *v, *not_v;
	size_t old;
	int rc;

	snprintf(negated, sizeof(negated), "Not%s", name);
	v = json_object_get(obj, name);
	not_v = json_object_get(obj, negated);
	if (v != NULL && not_v != NULL)
		return strata_policy_path_fail(&pp->path,
		    "the statement has both %s and %s: give one", name,
		    negated);
	if (v == NULL && not_v == NULL)
		return strata_policy_path_fail(&pp->path,
		    "the statement has no %s (or %s)", name, negated);
	p->negated = v == NULL;
	if (p->negated) {
		name = negated;
		v = not_v;
	}
	old = strata_policy_path_push_key(&pp->path, name);
	rc = iam_patterns(pp, v, name, check, p);
	if (rc == 0)
		strata_policy_path_pop(&pp->path, old);
	return rc;
}

/* ---- condition values ------------------------------------------------ */

/* "a.b.c.d", "a.b.c.d/n", an IPv6 address, "ipv6/n". */
static bool
iam_network_parse(const char *s, struct iam_network *net)
{
	char addr[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t len = slash != NULL ? (size_t)(slash - s) : strlen(s);
	unsigned bits, prefix = 0;

	if (len >= sizeof(addr))
		return false;
	memcpy(addr, s, len);
	addr[len] = '\0';
	memset(net, 0, sizeof(*net));
	net->family = strchr(addr, ':') != NULL ? AF_INET6 : AF_INET;
	if (inet_pton(net->family, addr, net->addr) != 1)
		return false;
	bits = net->family == AF_INET ? 32 : 128;
	net->prefix = bits;
	if (slash == NULL)
		return true;
	s = slash + 1;
	if (*s == '\0' || strspn(s, "0123456789") != strlen(s) ||
	    strlen(s) > 3)
		return false;
	for (; *s != '\0'; s++)
		prefix = prefix * 10 + (unsigned)(*s - '0');
	net->prefix = prefix;
	return prefix <= bits;
}

/* Exactly n digits at *p into *out; advances *p. */
static bool
iam_digits(const char **p, int n, int *out)
{
	*out = 0;
	for (int i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return false;
		*out = *out * 10 + ((*p)[i] - '0');
	}
	*p += n;
	return true;
}

/* The character c at *p; advances *p. */
static bool
iam_char(const char **p, char c)
{
	if (**p != c)
		return false;
	(*p)++;
	return true;
}

static bool
iam_date_valid(int year, int month, int day)
{
	static const int days[] = {
	    31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	if (month < 1 || month > 12 || day < 1)
		return false;
	return day <= days[month - 1] + (month == 2 && leap);
}

/* "YYYY-MM-DD" into tm. */
static bool
iam_read_date(const char **p, struct tm *tm)
{
	int year, month, day;

	if (!iam_digits(p, 4, &year) || !iam_char(p, '-') ||
	    !iam_digits(p, 2, &month) || !iam_char(p, '-') ||
	    !iam_digits(p, 2, &day) || !iam_date_valid(year, month, day))
		return false;
	tm->tm_year = year - 1900;
	tm->tm_mon = month - 1;
	tm->tm_mday = day;
	return true;
}

/* "Thh:mm:ss" and an optional fraction ".d..." into tm and *fraction. */
static bool
iam_read_clock(const char **p, struct tm *tm, bool *fraction)
{
	int digit;

	if (!iam_char(p, 'T') || !iam_digits(p, 2, &tm->tm_hour) ||
	    !iam_char(p, ':') || !iam_digits(p, 2, &tm->tm_min) ||
	    !iam_char(p, ':') || !iam_digits(p, 2, &tm->tm_sec))
		return false;
	if (tm->tm_hour > 23 || tm->tm_min > 59 || tm->tm_sec > 59)
		return false;
	if (!iam_char(p, '.'))
		return true;
	if (!iam_digits(p, 1, &digit))
		return false;
	do
		*fraction = *fraction || digit != 0;
	while (iam_digits(p, 1, &digit));
	return true;
}

/* "Z", "+hh:mm" or "-hh:mm": *offset is the seconds to add to get UTC. */
static bool
iam_read_zone(const char **p, long long *offset)
{
	int sign, hours, minutes;

	if (iam_char(p, 'Z')) {
		*offset = 0;
		return true;
	}
	if (**p != '+' && **p != '-')
		return false;
	sign = *(*p)++ == '+' ? -1 : 1;
	if (!iam_digits(p, 2, &hours) || !iam_char(p, ':') ||
	    !iam_digits(p, 2, &minutes) || hours > 23 || minutes > 59)
		return false;
	*offset = sign * (hours * 3600LL + minutes * 60LL);
	return true;
}

/* "2026-12-02", "2026-12-02T18:00:00Z", "...T18:00:00.250+02:00". */
static bool
iam_time_parse_iso(const char *s, struct iam_time *t)
{
	struct tm tm = {0};
	long long offset = 0;
	time_t seconds;

	t->fraction = false;
	if (!iam_read_date(&s, &tm))
		return false;
	if (*s != '\0' && (!iam_read_clock(&s, &tm, &t->fraction) ||
	                      !iam_read_zone(&s, &offset) || *s != '\0'))
		return false;
	seconds = timegm(&tm);
	t->seconds = (long long)seconds + offset;
	return true;
}

/* A date string, epoch seconds as a string, or a JSON integer. */
static bool
iam_time_parse(json_t *v, struct iam_time *t)
{
	const char *s = json_string_value(v);
	size_t digits;

	t->fraction = false;
	if (json_is_integer(v)) {
		t->seconds = json_integer_value(v);
		return t->seconds >= 0 && t->seconds < IAM_EPOCH_LIMIT;
	}
	if (s == NULL)
		return false;
	digits = strspn(s, "0123456789");
	if (digits == 0 || s[digits] != '\0' || digits > IAM_EPOCH_DIGITS)
		return iam_time_parse_iso(s, t);
	t->seconds = strtoll(s, NULL, 10);
	return true;
}

/* "true" / "false" (any case) or a JSON boolean. */
static bool
iam_bool_parse(json_t *v, bool *flag)
{
	const char *s = json_is_string(v) ? json_string_value(v) : "";

	if (json_is_boolean(v))
		*flag = json_is_true(v);
	else if (strcasecmp(s, "true") == 0 || strcasecmp(s, "false") == 0)
		*flag = strcasecmp(s, "true") == 0;
	else
		return false;
	return true;
}

/* One value of a condition, read as its operator's key needs. */
static int
iam_condition_value(
    struct iam_parser *pp, json_t *v, enum iam_key key, union iam_value *value)
{
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;

	switch (key) {
	case IAM_KEY_SOURCE_IP:
		if (s == NULL || !iam_network_parse(s, &value->network))
			return strata_policy_path_fail(&pp->path,
			    "aws:SourceIp values are IPv4 or IPv6 addresses "
			    "or CIDR blocks (203.0.113.0/24, 2001:db8::/32)");
		return 0;
	case IAM_KEY_CURRENT_TIME:
		if (!iam_time_parse(v, &value->time))
			return strata_policy_path_fail(&pp->path,
			    "aws:CurrentTime values are dates "
			    "(2026-12-02T18:00:00Z, "
			    "2026-12-02T20:00:00+02:00, "
			    "2026-12-02) or epoch seconds");
		return 0;
	case IAM_KEY_SECURE_TRANSPORT:
		if (!iam_bool_parse(v, &value->flag))
			return strata_policy_path_fail(&pp->path,
			    "aws:SecureTransport values are \"true\" or "
			    "\"false\"");
		return 0;
	}
	return strata_policy_path_fail(&pp->path, "unknown condition key");
}

/* ---- Condition ------------------------------------------------------- */

/* "Operator[IfExists]" (case-sensitive) into c; false if unknown. */
static bool
iam_operator_parse(const char *s, struct iam_condition *c)
{
	for (size_t i = 0; i < IAM_COUNT(iam_operators); i++) {
		size_t n = strlen(iam_operators[i].name);

		if (strncmp(s, iam_operators[i].name, n) != 0)
			continue;
		if (s[n] != '\0' && strcmp(s + n, "IfExists") != 0)
			continue;
		c->op = (enum iam_operator)i;
		c->if_exists = s[n] != '\0';
		return true;
	}
	return false;
}

/* Index of the key called s (case-insensitive), or -1. */
static int
iam_key_lookup(const char *s)
{
	for (size_t i = 0; i < IAM_COUNT(iam_keys); i++)
		if (strcasecmp(s, iam_keys[i]) == 0)
			return (int)i;
	return -1;
}

static struct iam_condition *
iam_condition_add(struct iam_statement *st, const struct iam_condition *proto)
{
	struct iam_condition *c;

	c = realloc(
	    st->conditions, (st->nconditions + 1) * sizeof(*st->conditions));
	if (c == NULL)
		abort();
	st->conditions = c;
	c = &st->conditions[st->nconditions++];
	*c = *proto;
	return c;
}

/* "key": value or [values] under the operator of proto. */
static int
iam_condition(struct iam_parser *pp, const struct iam_condition *proto,
    const char *keyname, json_t *values, struct iam_statement *st)
{
	enum iam_key want = iam_operators[proto->op].key;
	int key = iam_key_lookup(keyname);
	struct iam_condition *c;
	size_t n = json_is_array(values) ? json_array_size(values) : 1;
	size_t old;
	int rc;

	if (key < 0)
		return strata_policy_path_fail(&pp->path,
		    "condition key %s is not supported (aws:SourceIp, "
		    "aws:CurrentTime, aws:SecureTransport)",
		    keyname);
	if ((enum iam_key)key != want)
		return strata_policy_path_fail(&pp->path,
		    "%s does not apply to %s, only to %s",
		    iam_operators[proto->op].name, iam_keys[key],
		    iam_keys[want]);
	if (n == 0)
		return strata_policy_path_fail(
		    &pp->path, "%s has no values", keyname);
	c = iam_condition_add(st, proto);
	c->values = strata_policy_calloc(n, sizeof(*c->values));
	c->nvalues = n;
	if (!json_is_array(values))
		return iam_condition_value(pp, values, want, &c->values[0]);
	for (size_t i = 0; i < n; i++) {
		old = strata_policy_path_push(&pp->path, "[%zu]", i);
		rc = iam_condition_value(
		    pp, json_array_get(values, i), want, &c->values[i]);
		if (rc != 0)
			return rc;
		strata_policy_path_pop(&pp->path, old);
	}
	return 0;
}

/* One operator's block: {"aws:SourceIp": ..., ...}. */
static int
iam_condition_block(struct iam_parser *pp, const char *opname, json_t *block,
    struct iam_statement *st)
{
	struct iam_condition proto = {0};
	const char *keyname;
	json_t *values;
	size_t old;
	int rc;

	if (!iam_operator_parse(opname, &proto))
		return strata_policy_path_fail(&pp->path,
		    "condition operator %s is not supported (IpAddress, "
		    "NotIpAddress, DateGreaterThan, DateGreaterThanEquals, "
		    "DateLessThan, DateLessThanEquals, Bool, each also with "
		    "IfExists)",
		    opname);
	if (!json_is_object(block))
		return strata_policy_path_fail(&pp->path,
		    "%s must be an object of condition keys", opname);
	json_object_foreach(block, keyname, values) {
		old = strata_policy_path_push_key(&pp->path, keyname);
		rc = iam_condition(pp, &proto, keyname, values, st);
		if (rc != 0)
			return rc;
		strata_policy_path_pop(&pp->path, old);
	}
	return 0;
}

static int
iam_conditions(struct iam_parser *pp, json_t *cond, struct iam_statement *st)
{
	const char *opname;
	json_t *block;
	size_t old;
	int rc;

	if (!json_is_object(cond))
		return strata_policy_path_fail(&pp->path,
		    "Condition must be an object of condition operators");
	json_object_foreach(cond, opname, block) {
		old = strata_policy_path_push_key(&pp->path, opname);
		rc = iam_condition_block(pp, opname, block, st);
		if (rc != 0)
			return rc;
		strata_policy_path_pop(&pp->path, old);
	}
	return 0;
}

/* ---- Statement and document ------------------------------------------ */

/* Refuse the members of a statement that IAM does not define or that an
 * identity policy may not have. */
static int
iam_statement_members(struct iam_parser *pp, json_t *obj)
{
	static const char *const known[] = {"Sid", "Effect", "Action",
	    "NotAction", "Resource", "NotResource", "Condition"};
	const char *key;
	json_t *v;
	size_t i;

	json_object_foreach(obj, key, v) {
		for (i = 0; i < IAM_COUNT(known); i++)
			if (strcmp(key, known[i]) == 0)
				break;
		if (i < IAM_COUNT(known))
			continue;
		strata_policy_path_push_key(&pp->path, key);
		if (strcmp(key, "Principal") == 0 ||
		    strcmp(key, "NotPrincipal") == 0)
			return strata_policy_path_fail(&pp->path,
			    "%s has no place in an identity policy: it "
			    "applies "
			    "to the user it is attached to",
			    key);
		return strata_policy_path_fail(
		    &pp->path, "unknown statement element %s", key);
	}
	return 0;
}

/* Sid (optional) and Effect. */
static int
iam_statement_effect(
    struct iam_parser *pp, json_t *obj, struct iam_statement *st)
{
	json_t *sid = json_object_get(obj, "Sid");
	json_t *effect = json_object_get(obj, "Effect");
	const char *s =
	    json_is_string(effect) ? json_string_value(effect) : "";

	if (sid != NULL && !json_is_string(sid)) {
		strata_policy_path_push_key(&pp->path, "Sid");
		return strata_policy_path_fail(
		    &pp->path, "Sid must be a string");
	}
	if (effect == NULL)
		return strata_policy_path_fail(
		    &pp->path, "the statement has no Effect");
	if (strcmp(s, "Allow") != 0 && strcmp(s, "Deny") != 0) {
		strata_policy_path_push_key(&pp->path, "Effect");
		return strata_policy_path_fail(
		    &pp->path, "Effect must be \"Allow\" or \"Deny\"");
	}
	st->deny = strcmp(s, "Deny") == 0;
	return 0;
}

static int
iam_statement(struct iam_parser *pp, json_t *obj, struct iam_statement *st)
{
	json_t *cond;
	size_t old;
	int rc;

	if (!json_is_object(obj))
		return strata_policy_path_fail(
		    &pp->path, "a statement must be a JSON object");
	rc = iam_statement_members(pp, obj);
	if (rc == 0)
		rc = iam_statement_effect(pp, obj, st);
	if (rc == 0)
		rc = iam_target(pp, obj, "Action", iam_action, &st->actions);
	if (rc == 0)
		rc = iam_target(
		    pp, obj, "Resource", iam_resource, &st->resources);
	cond = json_object_get(obj, "Condition");
	if (rc != 0 || cond == NULL)
		return rc;
	old = strata_policy_path_push_key(&pp->path, "Condition");
	rc = iam_conditions(pp, cond, st);
	if (rc == 0)
		strata_policy_path_pop(&pp->path, old);
	return rc;
}

/* Version and Id; refuse other members besides Statement. */
static int
iam_header(struct iam_parser *pp, json_t *root)
{
	const char *key, *version;
	json_t *v;

	json_object_foreach(root, key, v) {
		if (strcmp(key, "Version") == 0 ||
		    strcmp(key, "Statement") == 0)
			continue;
		strata_policy_path_push_key(&pp->path, key);
		if (strcmp(key, "Id") != 0)
			return strata_policy_path_fail(
			    &pp->path, "unknown policy element %s", key);
		if (!json_is_string(v))
			return strata_policy_path_fail(
			    &pp->path, "Id must be a string");
		strata_policy_path_pop(&pp->path, 0);
	}
	v = json_object_get(root, "Version");
	if (v == NULL)
		return 0; /* IAM: then 2008-10-17 */
	version = json_is_string(v) ? json_string_value(v) : "";
	if (strcmp(version, IAM_VERSION_CURRENT) != 0 &&
	    strcmp(version, IAM_VERSION_OLD) != 0) {
		strata_policy_path_push_key(&pp->path, "Version");
		return strata_policy_path_fail(&pp->path,
		    "Version must be \"%s\" or \"%s\"", IAM_VERSION_CURRENT,
		    IAM_VERSION_OLD);
	}
	pp->version_current = strcmp(version, IAM_VERSION_CURRENT) == 0;
	return 0;
}

static int
iam_document(
    struct iam_parser *pp, json_t *root, struct strata_iam_policy *pol)
{
	json_t *statements;
	size_t old;
	int rc;

	if (!json_is_object(root))
		return strata_policy_path_fail(
		    &pp->path, "a policy document must be a JSON object");
	rc = iam_header(pp, root);
	if (rc != 0)
		return rc;
	statements = json_object_get(root, "Statement");
	if (statements == NULL)
		return strata_policy_path_fail(
		    &pp->path, "the document has no Statement");
	strata_policy_path_push_key(&pp->path, "Statement");
	if (json_is_object(statements)) {
		pol->statements =
		    strata_policy_calloc(1, sizeof(*pol->statements));
		pol->nstatements = 1;
		return iam_statement(pp, statements, pol->statements);
	}
	if (!json_is_array(statements) || json_array_size(statements) == 0)
		return strata_policy_path_fail(&pp->path,
		    "Statement must be an object or a non-empty list of "
		    "objects");
	pol->nstatements = json_array_size(statements);
	pol->statements =
	    strata_policy_calloc(pol->nstatements, sizeof(*pol->statements));
	for (size_t i = 0; i < pol->nstatements; i++) {
		old = strata_policy_path_push(&pp->path, "[%zu]", i);
		rc = iam_statement(
		    pp, json_array_get(statements, i), &pol->statements[i]);
		if (rc != 0)
			return rc;
		strata_policy_path_pop(&pp->path, old);
	}
	return 0;
}

struct strata_iam_policy *
strata_iam_policy_parse(
    const char *doc, size_t len, struct strata_policy_error *err)
{
	struct iam_parser pp = {.path.err = err};
	struct strata_iam_policy *pol;
	json_t *root;
	int rc;

	root = strata_policy_load(doc, len, STRATA_IAM_POLICY_MAX_CHARS, err);
	if (root == NULL)
		return NULL;
	pol = strata_policy_calloc(1, sizeof(*pol));
	rc = iam_document(&pp, root, pol);
	json_decref(root);
	if (rc != 0) {
		strata_iam_policy_free(pol);
		return NULL;
	}
	return pol;
}

/* ---- check ----------------------------------------------------------- */

/* The request as the statements read it. */
struct iam_context {
	const struct strata_iam_request *req;
	size_t action_len, resource_len;
	bool has_address; /* aws:SourceIp is present */
	struct iam_network address;
};

/* The request's source address; an IPv4-mapped IPv6 one (a dual-stack
 * listener's view of an IPv4 client) as IPv4. */
static bool
iam_address_parse(const char *s, struct iam_network *a)
{
	static const unsigned char mapped[12] = {
	    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (s == NULL || !iam_network_parse(s, a) || strchr(s, '/') != NULL)
		return false;
	if (a->family == AF_INET6 && memcmp(a->addr, mapped, 12) == 0) {
		memmove(a->addr, a->addr + 12, 4);
		memset(a->addr + 4, 0, 12);
		a->family = AF_INET;
		a->prefix = 32;
	}
	return true;
}

static bool
iam_network_contains(
    const struct iam_network *net, const struct iam_network *a)
{
	unsigned whole = net->prefix / 8, rest = net->prefix % 8;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));

	if (net->family != a->family || memcmp(net->addr, a->addr, whole) != 0)
		return false;
	return rest == 0 || ((net->addr[whole] ^ a->addr[whole]) & mask) == 0;
}

/* now against t: negative, 0, positive as now is before, at, after it. */
static int
iam_time_compare(long long now, const struct iam_time *t)
{
	if (now != t->seconds)
		return now < t->seconds ? -1 : 1;
	return t->fraction ? -1 : 0;
}

/* Does the key's value match this one value of the condition? */
static bool
iam_value_matches(enum iam_operator op, const union iam_value *v,
    const struct iam_context *ctx)
{
	long long now = ctx->req->now;

	switch (op) {
	case IAM_OP_IP_ADDRESS:
	case IAM_OP_NOT_IP_ADDRESS:
		return iam_network_contains(&v->network, &ctx->address);
	case IAM_OP_DATE_GREATER_THAN:
		return iam_time_compare(now, &v->time) > 0;
	case IAM_OP_DATE_GREATER_THAN_EQUALS:
		return iam_time_compare(now, &v->time) >= 0;
	case IAM_OP_DATE_LESS_THAN:
		return iam_time_compare(now, &v->time) < 0;
	case IAM_OP_DATE_LESS_THAN_EQUALS:
		return iam_time_compare(now, &v->time) <= 0;
	case IAM_OP_BOOL:
		return v->flag == ctx->req->secure_transport;
	}
	return false;
}

/*
 * IAM's rule: a key absent from the request makes the condition false,
 * except for a negated operator (true) and ...IfExists (true).  Present:
 * any value matching satisfies it, or, negated, none may match.
 */
static bool
iam_condition_holds(
    const struct iam_condition *c, const struct iam_context *ctx)
{
	bool negated = iam_operators[c->op].negated;
	bool present =
	    iam_operators[c->op].key != IAM_KEY_SOURCE_IP || ctx->has_address;
	bool any = false;

	if (!present)
		return c->if_exists || negated;
	for (size_t i = 0; i < c->nvalues && !any; i++)
		any = iam_value_matches(c->op, &c->values[i], ctx);
	return any != negated;
}

static bool
iam_patterns_match(
    const struct iam_patterns *p, const char *s, size_t len, bool fold)
{
	for (size_t i = 0; i < p->n; i++)
		if (strata_policy_glob(
		        p->items[i].glob, p->items[i].len, s, len, fold))
			return !p->negated;
	return p->negated;
}

static bool
iam_statement_applies(
    const struct iam_statement *st, const struct iam_context *ctx)
{
	if (!iam_patterns_match(
	        &st->actions, ctx->req->action, ctx->action_len, true) ||
	    !iam_patterns_match(
	        &st->resources, ctx->req->resource, ctx->resource_len, false))
		return false;
	for (size_t i = 0; i < st->nconditions; i++)
		if (!iam_condition_holds(&st->conditions[i], ctx))
			return false;
	return true;
}

/* The decision of one policy alone. */
static enum strata_policy_decision
iam_policy_decide(
    const struct strata_iam_policy *pol, const struct iam_context *ctx)
{
	bool allowed = false;

	for (size_t i = 0; i < pol->nstatements; i++) {
		if (!iam_statement_applies(&pol->statements[i], ctx))
			continue;
		if (pol->statements[i].deny)
			return STRATA_POLICY_DENY_EXPLICIT;
		allowed = true;
	}
	return allowed ? STRATA_POLICY_ALLOW : STRATA_POLICY_DENY_DEFAULT;
}

enum strata_policy_decision
strata_iam_policy_check(struct strata_iam_policy *const *pols, size_t n,
    const struct strata_iam_request *req)
{
	struct iam_context ctx = {.req = req};
	enum strata_policy_decision decision = STRATA_POLICY_DENY_DEFAULT;

	if (req == NULL || req->action == NULL || req->resource == NULL)
		return STRATA_POLICY_DENY_DEFAULT;
	ctx.action_len = strlen(req->action);
	ctx.resource_len = strlen(req->resource);
	ctx.has_address = iam_address_parse(req->source_ip, &ctx.address);
	for (size_t i = 0; i < n; i++) {
		if (pols[i] == NULL)
			continue;
		switch (iam_policy_decide(pols[i], &ctx)) {
		case STRATA_POLICY_DENY_EXPLICIT:
			return STRATA_POLICY_DENY_EXPLICIT;
		case STRATA_POLICY_ALLOW:
			decision = STRATA_POLICY_ALLOW;
			break;
		case STRATA_POLICY_DENY_DEFAULT:
			break;
		}
	}
	return decision;
}
