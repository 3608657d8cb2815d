/*
 * fuzz_policy.c - libFuzzer target for the policy engine: parse, bind and
 * check on fuzzed documents, variables and resources.
 *
 * The first byte chooses the mode and flags; the rest is sections
 * separated by NUL bytes.
 *
 * Document mode (flags bit 7 clear):
 *   flags  bit 0: the thing is attached; bit 1: line 4 of the variables
 *          is the thing's attributes (a JSON object); bit 2: certificate
 *          lines are answered; bit 3: bind with no variables at all
 *   [0] policy document A
 *   [1] policy document B (empty: only A)
 *   [2] variables, one per line: client id, thing name, thing type,
 *       attributes, then "Field=value" certificate fields ("Subject.
 *       CommonName=dev1"); an empty line leaves its field NULL
 *   [3] checks, one per line: an action digit then a resource ARN;
 *       '0'..'4' are the five actions, '5'..'9' values that are not one
 *       action
 * Every input must be refused with a message or accepted; every check
 * must give one of the three decisions, and the decision for A and B
 * bound together (in either order) must be what IAM's rule makes of the
 * decisions for A alone and B alone (any Deny, else any Allow, else
 * default).  The policies are freed before any check: a set must not
 * need them.
 *
 * Glob mode (flags bit 7 set): [0] a pattern, [1] a topic.  The pattern
 * becomes the resource "arn:aws:iot:r:1:topic/PATTERN" of a document
 * without Version (no variables), and the decision on topic/TOPIC must be
 * what a plain dynamic-programming matcher says ('*' any run of
 * characters, '?' one character, every other byte literal).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

#define FUZZ_SECTIONS 4
#define FUZZ_CERT_FIELDS 16
#define FUZZ_GLOB_MAX 256

struct fuzz_cert {
	size_t n;
	const char *name[FUZZ_CERT_FIELDS], *value[FUZZ_CERT_FIELDS];
};

static const char *
fuzz_cert_field(void *ctx, const char *name)
{
	const struct fuzz_cert *cert = ctx;

	for (size_t i = 0; i < cert->n; i++)
		if (strcmp(cert->name[i], name) == 0)
			return cert->value[i];
	return NULL;
}

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

/* Next line of *p (NUL-terminated in place), or NULL at the end. */
static char *
fuzz_line(char **p, char *end)
{
	char *line = *p, *nl;

	if (line >= end)
		return NULL;
	nl = memchr(line, '\n', (size_t)(end - line));
	if (nl == NULL)
		nl = end;
	*nl = '\0';
	*p = nl + 1;
	return line;
}

static int
fuzz_action(char c)
{
	static const int odd[] = {0, 3, 32, -1, 6};

	if (c >= '0' && c <= '4')
		return 1 << (c - '0');
	return odd[(unsigned char)c % 5];
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

static struct strata_policy *
fuzz_parse(const char *doc, size_t len)
{
	struct strata_policy_error err;
	struct strata_policy *pol;

	memset(&err, 0x55, sizeof(err));
	pol = strata_policy_parse(doc, len, &err);
	if (memchr(err.path, '\0', sizeof(err.path)) == NULL ||
	    memchr(err.message, '\0', sizeof(err.message)) == NULL)
		abort();
	if (pol == NULL && err.message[0] == '\0')
		abort();
	if (pol == NULL && err.path[0] != '\0' && err.line != 0)
		abort();
	return pol;
}

/* The variables of section 2. */
static void
fuzz_vars(uint8_t flags, char *p, char *end, struct strata_policy_vars *vars,
    struct fuzz_cert *cert, json_t **attrs)
{
	const char **fields[] = {
	    &vars->client_id, &vars->thing_name, &vars->thing_type_name};
	char *line, *eq;

	memset(vars, 0, sizeof(*vars));
	vars->is_attached = flags & 1;
	for (size_t i = 0; i < 3 && (line = fuzz_line(&p, end)) != NULL; i++)
		*fields[i] = line[0] != '\0' ? line : NULL;
	line = fuzz_line(&p, end);
	if (line != NULL && (flags & 2))
		*attrs = json_loads(line, JSON_DECODE_ANY, NULL);
	vars->thing_attributes = *attrs;
	while ((line = fuzz_line(&p, end)) != NULL &&
	       cert->n < FUZZ_CERT_FIELDS) {
		eq = strchr(line, '=');
		if (eq == NULL)
			continue;
		*eq = '\0';
		cert->name[cert->n] = line;
		cert->value[cert->n++] = eq + 1;
	}
	if (flags & 4) {
		vars->cert_field = fuzz_cert_field;
		vars->cert_ctx = cert;
	}
}

/* Bind a then b (either may be NULL: refused, or absent). */
static struct strata_policy_set *
fuzz_bind(struct strata_policy *a, struct strata_policy *b,
    const struct strata_policy_vars *vars)
{
	struct strata_policy *pols[2] = {a, b};

	return strata_policy_bind(pols, 2, vars);
}

static void
fuzz_documents(uint8_t flags, char *sec[], size_t seclen[])
{
	struct strata_policy *a, *b;
	struct strata_policy_set *sa, *sb, *sab, *sba;
	struct strata_policy_vars vars;
	struct fuzz_cert cert = {0};
	json_t *attrs = NULL;
	char *p, *line;

	a = fuzz_parse(sec[0], seclen[0]);
	b = seclen[1] ? fuzz_parse(sec[1], seclen[1]) : NULL;
	fuzz_vars(flags, sec[2], sec[2] + seclen[2], &vars, &cert, &attrs);
	sa = fuzz_bind(a, NULL, flags & 8 ? NULL : &vars);
	sb = fuzz_bind(b, NULL, flags & 8 ? NULL : &vars);
	sab = fuzz_bind(a, b, flags & 8 ? NULL : &vars);
	sba = fuzz_bind(b, a, flags & 8 ? NULL : &vars);
	strata_policy_free(a);
	strata_policy_free(b);
	json_decref(attrs);
	p = sec[3];
	while ((line = fuzz_line(&p, sec[3] + seclen[3])) != NULL) {
		int action = line[0] != '\0' ? fuzz_action(line[0]) : 1;
		const char *res = line[0] != '\0' ? line + 1 : line;
		enum strata_policy_decision da, db, dab, dba;

		da = strata_policy_check(sa, action, res);
		db = strata_policy_check(sb, action, res);
		dab = strata_policy_check(sab, action, res);
		dba = strata_policy_check(sba, action, res);
		if (da > STRATA_POLICY_DENY_EXPLICIT ||
		    db > STRATA_POLICY_DENY_EXPLICIT ||
		    dab != fuzz_combine(da, db) || dba != dab)
			abort();
	}
	strata_policy_set_free(sa);
	strata_policy_set_free(sb);
	strata_policy_set_free(sab);
	strata_policy_set_free(sba);
}

/* Start of the character after the one at i. */
static size_t
fuzz_next(const char *s, size_t len, size_t i)
{
	i++;
	while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
		i++;
	return i;
}

/* Reference glob: m[pi][si] = pattern from pi matches s from si. */
static bool
fuzz_glob_reference(const char *p, size_t plen, const char *s, size_t slen)
{
	size_t w = slen + 1;
	bool *m = calloc((plen + 1) * w, sizeof(bool));
	bool result;

	if (m == NULL)
		abort();
	m[plen * w + slen] = true;
	for (size_t pi = plen; pi-- > 0;) {
		for (size_t si = slen + 1; si-- > 0;) {
			bool r = false;

			if (p[pi] == '*')
				r = m[(pi + 1) * w + si] ||
				    (si < slen &&
				        m[pi * w + fuzz_next(s, slen, si)]);
			else if (p[pi] == '?')
				r = si < slen &&
				    m[(pi + 1) * w + fuzz_next(s, slen, si)];
			else
				r = si < slen && p[pi] == s[si] &&
				    m[(pi + 1) * w + si + 1];
			m[pi * w + si] = r;
		}
	}
	result = m[0];
	free(m);
	return result;
}

static void
fuzz_glob(char *sec[], size_t seclen[])
{
	static const char arn[] = "arn:aws:iot:r:1:topic/";
	char resource[sizeof(arn) + FUZZ_GLOB_MAX];
	struct strata_policy *pol;
	struct strata_policy_set *set;
	json_t *pattern, *topic, *doc;
	char *text;
	bool want;

	if (seclen[0] > FUZZ_GLOB_MAX || seclen[1] > FUZZ_GLOB_MAX)
		return;
	/* jansson checks both are UTF-8, as MQTT topics are */
	pattern = json_sprintf("%s%s", arn, sec[0]);
	topic = json_stringn(sec[1], seclen[1]);
	if (pattern == NULL || topic == NULL) {
		json_decref(pattern);
		json_decref(topic);
		return;
	}
	doc = json_pack("{s:{s:s,s:s,s:o}}", "Statement", "Effect", "Allow",
	    "Action", "iot:Publish", "Resource", pattern);
	text = json_dumps(doc, JSON_COMPACT);
	pol = strata_policy_parse(text, strlen(text), NULL);
	if (pol == NULL)
		abort();
	set = strata_policy_bind(&pol, 1, NULL);
	strata_policy_free(pol);
	snprintf(resource, sizeof(resource), "%s%s", arn, sec[1]);
	want = fuzz_glob_reference(sec[0], seclen[0], sec[1], seclen[1]);
	if ((strata_policy_check(set, STRATA_IOT_PUBLISH, resource) ==
	        STRATA_POLICY_ALLOW) != want)
		abort();
	strata_policy_set_free(set);
	free(text);
	json_decref(doc);
	json_decref(topic);
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
		fuzz_glob(sec, seclen);
	else
		fuzz_documents(data[0], sec, seclen);
	free(buf);
	return 0;
}
