/*
 * policy_bind.c - bind compiled policies to one connection; check an
 * action on a resource against the bound set.
 *
 * Binding does all the work that depends only on the connection, once:
 * variables are substituted (a value becomes escaped literal text), every
 * Condition is evaluated (its keys are all connection keys: client id,
 * thing, certificate), and the statements left are filed by action into a
 * deny list and an allow list of resource patterns.  Each pattern is an
 * escaped glob pre-split at the first five unescaped ':' of its ARN, so a
 * wildcard in the region or account segment never spans a ':'.
 *
 * A check is then: split the resource ARN once, scan the action's deny
 * list (a match is an explicit deny), then its allow list (a match
 * allows), else default deny.  No allocation, no condition work.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy-t.h"

/* Where one segment of an ARN (or of a pattern's text) lies. */
struct bind_span {
	size_t off, len;
};

/* One bound resource pattern. */
struct policy_pattern {
	bool any; /* Resource "*": every resource, ARN or not */
	struct bind_span seg[POLICY_ARN_SEGMENTS];
	size_t len;
	char text[]; /* escaped glob */
};

struct policy_list {
	size_t n, cap;
	const struct policy_pattern **v;
};

struct strata_policy_set {
	size_t npatterns, cap;
	struct policy_pattern **patterns; /* owned */
	struct policy_list deny[POLICY_ACTIONS], allow[POLICY_ACTIONS];
};

/* ---- matching -------------------------------------------------------- */

/* Start of the UTF-8 character after the one at i (i < len). */
static size_t
bind_utf8_next(const char *s, size_t len, size_t i)
{
	i++;
	while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
		i++;
	return i;
}

static bool
bind_byte_equal(char a, char b, bool fold)
{
	if (fold) {
		a = a >= 'A' && a <= 'Z' ? (char)(a - 'A' + 'a') : a;
		b = b >= 'A' && b <= 'Z' ? (char)(b - 'A' + 'a') : b;
	}
	return a == b;
}

/*
 * Greedy glob with one backtrack point, the last '*' seen: when a later
 * part fails, that '*' takes one more character and the rest is tried
 * again.  Earlier stars never need to move (whatever they could take the
 * last one can), so the cost is O(plen * slen) at worst.
 */
bool
strata_policy_glob(
    const char *p, size_t plen, const char *s, size_t slen, bool fold)
{
	size_t pi = 0, si = 0, star_p = SIZE_MAX, star_s = 0, lit;

	while (si < slen) {
		if (pi < plen && p[pi] == '*') {
			star_p = ++pi;
			star_s = si;
			continue;
		}
		if (pi < plen && p[pi] == '?') {
			pi++;
			si = bind_utf8_next(s, slen, si);
			continue;
		}
		if (pi < plen) {
			lit = p[pi] == '\\' && pi + 1 < plen ? pi + 1 : pi;
			if (bind_byte_equal(p[lit], s[si], fold)) {
				pi = lit + 1;
				si++;
				continue;
			}
		}
		if (star_p == SIZE_MAX)
			return false;
		star_s = bind_utf8_next(s, slen, star_s);
		pi = star_p;
		si = star_s;
	}
	while (pi < plen && p[pi] == '*')
		pi++;
	return pi == plen;
}

/* Is escaped p, with its wildcards read as plain characters, equal to s?
 * (StringEquals: "a*" equals only "a*".) */
static bool
bind_literal_equal(const char *p, const char *s)
{
	for (;; p++, s++) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		if (*p != *s)
			return false;
		if (*p == '\0')
			return true;
	}
}

/* Split an ARN at its first five ':'; false if it has fewer. */
static bool
bind_split(const char *s, size_t len, struct bind_span seg[])
{
	size_t start = 0, n = 0;

	for (size_t i = 0; i < len && n < POLICY_ARN_SEGMENTS - 1; i++) {
		if (s[i] != ':')
			continue;
		seg[n].off = start;
		seg[n++].len = i - start;
		start = i + 1;
	}
	seg[n].off = start;
	seg[n].len = len - start;
	return n == POLICY_ARN_SEGMENTS - 1;
}

static bool
bind_pattern_matches(const struct policy_pattern *pat, const char *res,
    const struct bind_span seg[], bool is_arn)
{
	if (pat->any)
		return true;
	if (!is_arn)
		return false;
	for (size_t i = 0; i < POLICY_ARN_SEGMENTS; i++)
		if (!strata_policy_glob(pat->text + pat->seg[i].off,
		        pat->seg[i].len, res + seg[i].off, seg[i].len, false))
			return false;
	return true;
}

/* ---- variables ------------------------------------------------------- */

/* What variable (or key) var/name reads for this connection, or NULL. */
static const char *
bind_value(enum policy_var var, const char *name,
    const struct strata_policy_vars *vars)
{
	const json_t *attr;

	if (vars == NULL)
		return NULL;
	switch (var) {
	case POLICY_VAR_CLIENT_ID:
		return vars->client_id;
	case POLICY_VAR_THING_NAME:
		return vars->thing_name;
	case POLICY_VAR_THING_TYPE_NAME:
		return vars->thing_type_name;
	case POLICY_VAR_IS_ATTACHED:
		return vars->is_attached ? "true" : "false";
	case POLICY_VAR_THING_ATTRIBUTE:
		attr = json_object_get(vars->thing_attributes, name);
		return json_is_string(attr) ? json_string_value(attr) : NULL;
	case POLICY_VAR_CERT:
		return vars->cert_field != NULL
		           ? vars->cert_field(vars->cert_ctx, name)
		           : NULL;
	}
	return NULL;
}

/* Append a value as literal text: its '*', '?' and '\' escaped. */
static void
bind_put_literal(struct policy_buf *b, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '*' || *v == '?' || *v == '\\')
			strata_policy_buf_put(b, "\\", 1);
		strata_policy_buf_put(b, v, 1);
	}
}

/* AWS leaves a certificate variable as its own "${...}" text when the
 * value holds a wildcard character or is over 1024 characters. */
static bool
bind_cert_unusable(const char *v)
{
	return strpbrk(v, "*$+?#") != NULL || strlen(v) > POLICY_VALUE_MAX;
}

/* Expand t into b (an escaped glob); false if a variable has no value. */
static bool
bind_template(const struct policy_template *t,
    const struct strata_policy_vars *vars, struct policy_buf *b)
{
	const struct policy_part *part;
	const char *v;

	b->len = 0;
	strata_policy_buf_put(b, "", 0);
	for (size_t i = 0; i < t->nparts; i++) {
		part = &t->parts[i];
		if (!part->is_var) {
			strata_policy_buf_put(
			    b, part->text, strlen(part->text));
			continue;
		}
		v = bind_value(part->var, part->text, vars);
		if (v == NULL)
			return false;
		if (part->var == POLICY_VAR_CERT && bind_cert_unusable(v))
			v = part->source;
		bind_put_literal(b, v);
	}
	return true;
}

/* ---- conditions ------------------------------------------------------ */

/* The values of a condition key (0: absent).  A ".List" key reads the
 * certificate field, then its ".1" to ".4", up to the first missing. */
static size_t
bind_key_values(const struct policy_key *key,
    const struct strata_policy_vars *vars, const char *out[])
{
	char name[128];
	size_t n;

	if (!key->list) {
		out[0] = bind_value(key->var, key->name, vars);
		return out[0] != NULL;
	}
	for (n = 0; n < POLICY_LIST_MAX; n++) {
		if (n == 0)
			snprintf(name, sizeof(name), "%s", key->name);
		else
			snprintf(name, sizeof(name), "%s.%zu", key->name, n);
		out[n] = bind_value(key->var, name, vars);
		if (out[n] == NULL)
			break;
	}
	return n;
}

static bool
bind_op_negated(enum policy_op op)
{
	return op == POLICY_OP_STRING_NOT_EQUALS ||
	       op == POLICY_OP_STRING_NOT_LIKE;
}

/* Does key value v equal (or be like) one of the condition's values?
 * A value whose variable did not resolve (NULL) matches nothing. */
static bool
bind_value_matches(
    const struct policy_condition *c, const char *v, char *const *values)
{
	for (size_t i = 0; i < c->nvalues; i++) {
		const char *want = values[i];

		if (want == NULL)
			continue;
		switch (c->op) {
		case POLICY_OP_STRING_LIKE:
		case POLICY_OP_STRING_NOT_LIKE:
			if (strata_policy_glob(
			        want, strlen(want), v, strlen(v), false))
				return true;
			break;
		case POLICY_OP_BOOL:
			if (strcasecmp(want, v) == 0)
				return true;
			break;
		default:
			if (bind_literal_equal(want, v))
				return true;
			break;
		}
	}
	return false;
}

/* The condition on the key values kv[0..n) (n > 0), as IAM reads it:
 * negated operators pass when no value matches; ForAnyValue needs one
 * key value to pass, ForAllValues every one. */
static bool
bind_condition_values(const struct policy_condition *c, const char *kv[],
    size_t n, char *const *values)
{
	bool negated = bind_op_negated(c->op);

	for (size_t i = 0; i < n; i++) {
		bool pass = bind_value_matches(c, kv[i], values) != negated;

		if (c->quantifier == POLICY_ALL_VALUES && !pass)
			return false;
		if (c->quantifier != POLICY_ALL_VALUES && pass)
			return true;
	}
	return c->quantifier == POLICY_ALL_VALUES;
}

/* Null: "true" passes when the key is absent, "false" when present. */
static bool
bind_null(const struct policy_condition *c, bool present)
{
	for (size_t i = 0; i < c->nvalues; i++) {
		bool want_absent =
		    strcmp(c->values[i].parts[0].text, "true") == 0;

		if (want_absent != present)
			return true;
	}
	return false;
}

static bool
bind_condition(const struct policy_condition *c,
    const struct strata_policy_vars *vars, struct policy_buf *b)
{
	const char *kv[POLICY_LIST_MAX];
	size_t n = bind_key_values(&c->key, vars, kv);
	char **values;
	bool pass;

	if (c->op == POLICY_OP_NULL)
		return bind_null(c, n > 0);
	if (n == 0) {
		if (c->if_exists || c->quantifier == POLICY_ALL_VALUES)
			return true;
		return c->quantifier == POLICY_SINGLE &&
		       bind_op_negated(c->op);
	}
	values = calloc(c->nvalues ? c->nvalues : 1, sizeof(*values));
	if (values == NULL)
		abort();
	for (size_t i = 0; i < c->nvalues; i++) {
		if (bind_template(&c->values[i], vars, b) &&
		    (values[i] = strdup(b->p)) == NULL)
			abort();
	}
	pass = bind_condition_values(c, kv, n, values);
	for (size_t i = 0; i < c->nvalues; i++)
		free(values[i]);
	free(values);
	return pass;
}

/* ---- the set --------------------------------------------------------- */

static void
bind_list_add(struct policy_list *l, const struct policy_pattern *pat)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 4;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		if (l->v == NULL)
			abort();
	}
	l->v[l->n++] = pat;
}

/* A pattern of b's text, owned by the set. */
static struct policy_pattern *
bind_pattern(struct strata_policy_set *set, const struct policy_buf *b)
{
	struct policy_pattern *pat = calloc(1, sizeof(*pat) + b->len + 1);
	size_t start = 0, n = 0;

	if (pat == NULL)
		abort();
	memcpy(pat->text, b->p, b->len + 1);
	pat->len = b->len;
	pat->any = b->len == 1 && b->p[0] == '*';
	for (size_t i = 0; i < b->len && n < POLICY_ARN_SEGMENTS - 1; i++) {
		if (b->p[i] == '\\') {
			i++;
		} else if (b->p[i] == ':') {
			pat->seg[n].off = start;
			pat->seg[n++].len = i - start;
			start = i + 1;
		}
	}
	pat->seg[n].off = start;
	pat->seg[n].len = b->len - start;
	/* policy.c refuses a resource that is neither "*" nor an ARN, and
	 * variables before its fifth ':' */
	assert(pat->any || n == POLICY_ARN_SEGMENTS - 1);
	if (set->npatterns == set->cap) {
		set->cap = set->cap ? 2 * set->cap : 8;
		set->patterns =
		    realloc(set->patterns, set->cap * sizeof(*set->patterns));
		if (set->patterns == NULL)
			abort();
	}
	set->patterns[set->npatterns++] = pat;
	return pat;
}

static void
bind_statement(struct strata_policy_set *set,
    const struct policy_statement *st, const struct strata_policy_vars *vars,
    struct policy_buf *b)
{
	struct policy_list *lists = st->deny ? set->deny : set->allow;
	const struct policy_pattern *pat;

	if (st->actions == 0)
		return;
	for (size_t i = 0; i < st->nconditions; i++)
		if (!bind_condition(&st->conditions[i], vars, b))
			return;
	for (size_t i = 0; i < st->nresources; i++) {
		/* IAM: a resource whose variable has no value matches
		 * nothing; the statement's other resources still count */
		if (!bind_template(&st->resources[i], vars, b))
			continue;
		pat = bind_pattern(set, b);
		for (unsigned a = 0; a < POLICY_ACTIONS; a++)
			if (st->actions & (1u << a))
				bind_list_add(&lists[a], pat);
	}
}

struct strata_policy_set *
strata_policy_bind(struct strata_policy *const *pols, size_t n,
    const struct strata_policy_vars *vars)
{
	struct strata_policy_set *set = calloc(1, sizeof(*set));
	struct policy_buf b = {0};

	if (set == NULL)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (pols[i] == NULL)
			continue;
		for (size_t j = 0; j < pols[i]->nstatements; j++)
			bind_statement(set, &pols[i]->statements[j], vars, &b);
	}
	free(b.p);
	return set;
}

void
strata_policy_set_free(struct strata_policy_set *set)
{
	if (set == NULL)
		return;
	for (size_t i = 0; i < set->npatterns; i++)
		free(set->patterns[i]);
	free(set->patterns);
	for (unsigned a = 0; a < POLICY_ACTIONS; a++) {
		free(set->deny[a].v);
		free(set->allow[a].v);
	}
	free(set);
}

/* ---- check ----------------------------------------------------------- */

/* The index of a single STRATA_IOT_* bit, or -1. */
static int
check_action_index(int action)
{
	if (action <= 0 || action >= 1 << POLICY_ACTIONS ||
	    (action & (action - 1)) != 0)
		return -1;
	return __builtin_ctz((unsigned)action);
}

static bool
check_list(const struct policy_list *l, const char *res,
    const struct bind_span seg[], bool is_arn)
{
	for (size_t i = 0; i < l->n; i++)
		if (bind_pattern_matches(l->v[i], res, seg, is_arn))
			return true;
	return false;
}

enum strata_policy_decision
strata_policy_check(
    const struct strata_policy_set *set, int action, const char *resource)
{
	struct bind_span seg[POLICY_ARN_SEGMENTS];
	int a = check_action_index(action);
	bool is_arn;

	if (set == NULL || resource == NULL || a < 0)
		return STRATA_POLICY_DENY_DEFAULT;
	is_arn = bind_split(resource, strlen(resource), seg);
	if (check_list(&set->deny[a], resource, seg, is_arn))
		return STRATA_POLICY_DENY_EXPLICIT;
	if (check_list(&set->allow[a], resource, seg, is_arn))
		return STRATA_POLICY_ALLOW;
	return STRATA_POLICY_DENY_DEFAULT;
}
