/*
 * policy.c - parse an AWS IoT Core policy document into its compiled form.
 *
 * The document is read with jansson (duplicate keys refused), then walked
 * once, element by element, keeping the JSON path of the element being
 * read so that any refusal names it ("Statement[1].Action[0]").  What
 * comes out (policy-t.h) is what binding needs and nothing else: per
 * statement the effect, the STRATA_IOT_* bits its actions match, its
 * resources and condition values as templates (escaped literal text and
 * variables), its conditions with their keys resolved to a variable kind.
 * Everything a later step could trip on is refused here instead: unknown
 * variables or keys, variables before the resource part of an ARN,
 * unsupported operators and elements.
 *
 * Allocation failure aborts: every size is bounded by the 2048-character
 * limit, checked before jansson sees the document.
 *
 * The reading of a document that does not depend on its grammar (JSON
 * paths of refusals, the size limit and the JSON load, policy-t.h) is
 * exported for the admin API's engine, iam_policy.c.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy-t.h"
#include "status.h"

#define POLICY_VERSION_VARIABLES "2012-10-17"
#define POLICY_VERSION_OLD "2008-10-17"

struct policy_parser {
	struct policy_path path;
	bool variables; /* Version 2012-10-17: ${...} is a variable */
};

/* In the order of the STRATA_IOT_* bits. */
static const char *const policy_action_names[POLICY_ACTIONS] = {"iot:Connect",
    "iot:Publish", "iot:Subscribe", "iot:Receive", "iot:RetainPublish",
    "iot:GetThingShadow", "iot:UpdateThingShadow", "iot:DeleteThingShadow",
    "iot:ListNamedShadowsForThing", "iot:GetRetainedMessage",
    "iot:ListRetainedMessages"};

/* Distinguished-name attributes of Subject and Issuer (AWS's list). */
static const char *const policy_cert_attributes[] = {
    "DistinguishedNameQualifier", "Country", "Organization",
    "OrganizationalUnit", "State", "CommonName", "SerialNumber", "Title",
    "Surname", "GivenName", "Initials", "Pseudonym", "GenerationQualifier"};

static const char *const policy_cert_alt_names[] = {"RFC822Name", "DNSName",
    "DirectoryName", "UniformResourceIdentifier", "IPAddress"};

#define POLICY_COUNT(a) (sizeof(a) / sizeof((a)[0]))

void *
strata_policy_calloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (p == NULL)
		abort();
	return p;
}

static char *
policy_strdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		abort();
	return p;
}

static void
buf_put(struct policy_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 32;

		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (b->p == NULL)
			abort();
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void
strata_policy_buf_put(struct policy_buf *b, const char *s, size_t n)
{
	buf_put(b, s, n);
}

/* Append document text: its '*' and '?' stay wildcards, '\' is literal. */
static void
buf_put_document(struct policy_buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\')
			buf_put(b, "\\", 1);
		buf_put(b, s + i, 1);
	}
}

void
strata_policy_buf_put_document(struct policy_buf *b, const char *s, size_t n)
{
	buf_put_document(b, s, n);
}

/* ---- paths, errors and loading (shared with iam_policy.c) ----------- */

size_t
strata_policy_path_push(struct policy_path *path, const char *fmt, ...)
{
	size_t old = path->len;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(path->text + old, sizeof(path->text) - old, fmt, ap);
	va_end(ap);
	if (n > 0)
		path->len = old + (size_t)n < sizeof(path->text)
		                ? old + (size_t)n
		                : sizeof(path->text) - 1;
	return old;
}

size_t
strata_policy_path_push_key(struct policy_path *path, const char *key)
{
	return strata_policy_path_push(path, path->len ? ".%s" : "%s", key);
}

void
strata_policy_path_pop(struct policy_path *path, size_t old)
{
	path->len = old;
	path->text[old] = '\0';
}

int
strata_policy_path_fail(struct policy_path *path, const char *fmt, ...)
{
	va_list ap;

	if (path->err == NULL)
		return STRATA_EINVAL;
	path->err->line = 0;
	path->err->column = 0;
	snprintf(path->err->path, sizeof(path->err->path), "%s", path->text);
	va_start(ap, fmt);
	vsnprintf(path->err->message, sizeof(path->err->message), fmt, ap);
	va_end(ap);
	return STRATA_EINVAL;
}

/* Characters of the document outside white space (UTF-8 sequences count
 * once), as AWS counts against its limits. */
static size_t
policy_count_chars(const char *doc, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)doc[i];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r' &&
		    (c & 0xC0) != 0x80)
			n++;
	}
	return n;
}

json_t *
strata_policy_load(const char *doc, size_t len, size_t max_chars,
    struct strata_policy_error *err)
{
	struct policy_path path = {.err = err};
	size_t chars = policy_count_chars(doc, len);
	json_error_t jerr;
	json_t *root;

	if (err != NULL)
		memset(err, 0, sizeof(*err));
	if (chars > max_chars) {
		strata_policy_path_fail(&path,
		    "the document has %zu characters besides white space; the "
		    "limit is %zu",
		    chars, max_chars);
		return NULL;
	}
	root = json_loadb(doc, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL && err != NULL) {
		err->line = jerr.line;
		err->column = jerr.column;
		snprintf(err->message, sizeof(err->message), "%s", jerr.text);
	}
	return root;
}

/* ---- variables and condition keys ------------------------------------ */

/* Does s start with prefix (ASCII case-insensitive)?  Then *rest is what
 * follows. */
static bool
policy_prefix(const char *s, const char *prefix, const char **rest)
{
	size_t n = strlen(prefix);

	if (strncasecmp(s, prefix, n) != 0)
		return false;
	*rest = s + n;
	return true;
}

/* Index of s in names (case-insensitive), or -1. */
static int
policy_lookup(const char *s, size_t len, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(names[i]) == len &&
		    strncasecmp(s, names[i], len) == 0)
			return (int)i;
	return -1;
}

/* Parse the suffix of a multi-valued field: "" (first value), ".1" to
 * ".4", or ".List" when allowed.  Appends the canonical form. */
static bool
policy_cert_suffix(
    const char *s, bool allow_list, struct policy_buf *name, bool *list)
{
	if (*s == '\0')
		return true;
	if (s[0] == '.' && s[1] >= '1' && s[1] <= '4' && s[2] == '\0') {
		buf_put(name, s, 2);
		return true;
	}
	if (allow_list && strcasecmp(s, ".List") == 0) {
		*list = true;
		return true;
	}
	return false;
}

/* The name of names that s starts with, up to its next '.' or end, put
 * into b in its canonical spelling; returns the rest of s, or NULL. */
static const char *
policy_cert_name(
    const char *s, const char *const *names, size_t n, struct policy_buf *b)
{
	size_t len = strcspn(s, ".");
	int i = policy_lookup(s, len, names, n);

	if (i < 0)
		return NULL;
	buf_put(b, names[i], strlen(names[i]));
	return s + len;
}

/* A certificate field as after "iot:Certificate.": canonical spelling in
 * *name (caller frees), *list for ".List". */
static bool
policy_cert_field(const char *s, bool allow_list, char **name, bool *list)
{
	struct policy_buf b = {0};
	const char *rest;

	if (strcasecmp(s, "SerialNumber") == 0) {
		*name = policy_strdup("SerialNumber");
		return true;
	}
	if (policy_prefix(s, "Subject.", &rest))
		buf_put(&b, "Subject.", 8);
	else if (policy_prefix(s, "Issuer.", &rest))
		buf_put(&b, "Issuer.", 7);
	else
		return false;
	if (policy_prefix(rest, "AlternativeName.", &rest)) {
		buf_put(&b, "AlternativeName.", 16);
		rest = policy_cert_name(rest, policy_cert_alt_names,
		    POLICY_COUNT(policy_cert_alt_names), &b);
	} else {
		rest = policy_cert_name(rest, policy_cert_attributes,
		    POLICY_COUNT(policy_cert_attributes), &b);
	}
	if (rest == NULL || !policy_cert_suffix(rest, allow_list, &b, list)) {
		free(b.p);
		return false;
	}
	*name = b.p;
	return true;
}

/*
 * The variable or condition key called `s` (without "${}"), matched
 * case-insensitively as IAM does; false if Strata does not know it.
 * allow_list: a condition key may be a multi-valued "....List".
 */
static bool
policy_key_parse(const char *s, bool allow_list, struct policy_key *key)
{
	static const struct {
		const char *name;
		enum policy_var var;
	} fixed[] = {
	    {"iot:ClientId", POLICY_VAR_CLIENT_ID},
	    {"iot:Connection.Thing.ThingName", POLICY_VAR_THING_NAME},
	    {"iot:Connection.Thing.ThingTypeName", POLICY_VAR_THING_TYPE_NAME},
	    {"iot:Connection.Thing.IsAttached", POLICY_VAR_IS_ATTACHED},
	};
	const char *rest;
	size_t n;

	memset(key, 0, sizeof(*key));
	for (size_t i = 0; i < POLICY_COUNT(fixed); i++) {
		if (strcasecmp(s, fixed[i].name) == 0) {
			key->var = fixed[i].var;
			return true;
		}
	}
	if (policy_prefix(s, "iot:Connection.Thing.Attributes[", &rest)) {
		n = strcspn(rest, "]");
		if (n == 0 || rest[n] != ']' || rest[n + 1] != '\0')
			return false;
		key->var = POLICY_VAR_THING_ATTRIBUTE;
		key->name = strndup(rest, n);
		if (key->name == NULL)
			abort();
		return true;
	}
	if (policy_prefix(s, "iot:Certificate.", &rest)) {
		key->var = POLICY_VAR_CERT;
		return policy_cert_field(
		    rest, allow_list, &key->name, &key->list);
	}
	return false;
}

/* ---- templates ------------------------------------------------------- */

static void
template_free(struct policy_template *t)
{
	for (size_t i = 0; i < t->nparts; i++) {
		free(t->parts[i].text);
		free(t->parts[i].source);
	}
	free(t->parts);
	t->parts = NULL;
	t->nparts = 0;
}

static struct policy_part *
template_add(struct policy_template *t)
{
	struct policy_part *parts;

	parts = realloc(t->parts, (t->nparts + 1) * sizeof(*parts));
	if (parts == NULL)
		abort();
	t->parts = parts;
	memset(&parts[t->nparts], 0, sizeof(*parts));
	return &parts[t->nparts++];
}

/* Move the literal text gathered so far into a part of its own. */
static void
template_flush(struct policy_template *t, struct policy_buf *lit)
{
	if (lit->len == 0)
		return;
	template_add(t)->text = lit->p;
	memset(lit, 0, sizeof(*lit));
}

/* One ${name} of a string: an escape or a variable. */
static int
template_variable(struct policy_parser *pp, struct policy_template *t,
    struct policy_buf *lit, const char *name, size_t len)
{
	struct policy_key key;
	struct policy_part *part;
	char *s = strndup(name, len);

	if (s == NULL)
		abort();
	if (strcmp(s, "*") == 0 || strcmp(s, "?") == 0) {
		buf_put(lit, "\\", 1);
		buf_put(lit, s, 1);
	} else if (strcmp(s, "$") == 0) {
		buf_put(lit, "$", 1);
	} else if (policy_key_parse(s, false, &key)) {
		template_flush(t, lit);
		part = template_add(t);
		part->is_var = true;
		part->var = key.var;
		part->text = key.name;
		part->source = malloc(len + 4);
		if (part->source == NULL)
			abort();
		snprintf(part->source, len + 4, "${%s}", s);
	} else {
		int rc = strata_policy_path_fail(
		    &pp->path, "unknown policy variable ${%s}", s);

		free(s);
		return rc;
	}
	free(s);
	return 0;
}

/* Compile string s of the document (a resource or condition value). */
static int
template_compile(
    struct policy_parser *pp, const char *s, struct policy_template *t)
{
	struct policy_buf lit = {0};
	const char *p = s, *open, *close;
	int rc = 0;

	memset(t, 0, sizeof(*t));
	while (pp->variables && (open = strstr(p, "${")) != NULL) {
		buf_put_document(&lit, p, (size_t)(open - p));
		close = strchr(open + 2, '}');
		if (close == NULL) {
			rc = strata_policy_path_fail(&pp->path,
			    "'${' without a closing '}' "
			    "(write ${$} for a literal '$')");
			break;
		}
		rc = template_variable(
		    pp, t, &lit, open + 2, (size_t)(close - open - 2));
		if (rc != 0)
			break;
		p = close + 1;
	}
	if (rc == 0) {
		buf_put_document(&lit, p, strlen(p));
		template_flush(t, &lit);
	}
	free(lit.p);
	if (rc != 0)
		template_free(t);
	return rc;
}

/* Literal colons in t before its first variable: an ARN's variables must
 * all come after the fifth (IAM: only in the resource part). */
static size_t
template_colons_before_variable(const struct policy_template *t, size_t *total)
{
	size_t colons = 0, before = SIZE_MAX;

	for (size_t i = 0; i < t->nparts; i++) {
		const char *s = t->parts[i].text;

		if (t->parts[i].is_var) {
			if (before == SIZE_MAX)
				before = colons;
			continue;
		}
		for (size_t j = 0; s[j] != '\0'; j++) {
			if (s[j] == '\\' && s[j + 1] != '\0')
				j++;
			else if (s[j] == ':')
				colons++;
		}
	}
	*total = colons;
	return before == SIZE_MAX ? colons : before;
}

/* ---- Action and Resource --------------------------------------------- */

/* The STRATA_IOT_* bits an action pattern matches (case-insensitive). */
static unsigned
policy_action_bits(const char *pattern)
{
	struct policy_buf b = {0};
	unsigned bits = 0;

	buf_put_document(&b, pattern, strlen(pattern));
	for (unsigned i = 0; i < POLICY_ACTIONS; i++)
		if (strata_policy_glob(b.p, b.len, policy_action_names[i],
		        strlen(policy_action_names[i]), true))
			bits |= 1u << i;
	free(b.p);
	return bits;
}

/* v is a string or a list of strings: call each(pp, string, arg) with the
 * path at each string. */
static int
policy_each_string(struct policy_parser *pp, json_t *v, const char *what,
    int (*each)(struct policy_parser *, const char *, void *), void *arg)
{
	size_t i, old;
	json_t *item;
	int rc;

	if (json_is_string(v))
		return each(pp, json_string_value(v), arg);
	if (!json_is_array(v))
		return strata_policy_path_fail(&pp->path,
		    "%s must be a string or a list of strings", what);
	json_array_foreach(v, i, item) {
		old = strata_policy_path_push(&pp->path, "[%zu]", i);
		rc = json_is_string(item)
		         ? each(pp, json_string_value(item), arg)
		         : strata_policy_path_fail(&pp->path,
		               "%s must be a string or a list of strings",
		               what);
		if (rc != 0)
			return rc;
		strata_policy_path_pop(&pp->path, old);
	}
	return 0;
}

static int
policy_action(struct policy_parser *pp, const char *s, void *arg)
{
	struct policy_statement *st = arg;

	if (strcmp(s, "*") != 0 && strncasecmp(s, "iot:", 4) != 0)
		return strata_policy_path_fail(&pp->path,
		    "action '%s' is not an AWS IoT action (iot:...) or '*'",
		    s);
	st->actions |= policy_action_bits(s);
	return 0;
}

static int
policy_resource(struct policy_parser *pp, const char *s, void *arg)
{
	struct policy_statement *st = arg;
	struct policy_template t;
	size_t colons, before;
	int rc;

	if (strcmp(s, "*") != 0 && strncmp(s, "arn:", 4) != 0)
		return strata_policy_path_fail(&pp->path,
		    "resource '%s' is neither '*' nor an ARN "
		    "(arn:aws:iot:REGION:ACCOUNT:...)",
		    s);
	rc = template_compile(pp, s, &t);
	if (rc != 0)
		return rc;
	before = template_colons_before_variable(&t, &colons);
	if (strcmp(s, "*") == 0)
		rc = 0;
	else if (colons < POLICY_ARN_SEGMENTS - 1)
		rc = strata_policy_path_fail(&pp->path,
		    "resource '%s' is not a whole ARN "
		    "(arn:aws:iot:REGION:ACCOUNT:...)",
		    s);
	else if (before < POLICY_ARN_SEGMENTS - 1)
		rc = strata_policy_path_fail(&pp->path,
		    "a policy variable may only stand in the resource "
		    "part of an ARN, after its fifth ':'");
	if (rc != 0) {
		template_free(&t);
		return rc;
	}
	st->resources = realloc(
	    st->resources, (st->nresources + 1) * sizeof(*st->resources));
	if (st->resources == NULL)
		abort();
	st->resources[st->nresources++] = t;
	return 0;
}

/* ---- Condition ------------------------------------------------------- */

static void
template_literal(struct policy_template *t, const char *s)
{
	struct policy_buf lit = {0};

	memset(t, 0, sizeof(*t));
	buf_put_document(&lit, s, strlen(s));
	template_flush(t, &lit);
}

/* "[ForAnyValue:|ForAllValues:]Operator[IfExists]" into c; false if not
 * one Strata supports. */
static bool
policy_operator_parse(const char *s, struct policy_condition *c)
{
	static const struct {
		const char *name;
		enum policy_op op;
	} ops[] = {
	    {"StringEquals", POLICY_OP_STRING_EQUALS},
	    {"StringNotEquals", POLICY_OP_STRING_NOT_EQUALS},
	    {"StringLike", POLICY_OP_STRING_LIKE},
	    {"StringNotLike", POLICY_OP_STRING_NOT_LIKE},
	    {"Bool", POLICY_OP_BOOL},
	    {"Null", POLICY_OP_NULL},
	};
	const char *rest = s;

	c->quantifier = POLICY_SINGLE;
	if (strncmp(s, "ForAnyValue:", 12) == 0) {
		c->quantifier = POLICY_ANY_VALUE;
		rest = s + 12;
	} else if (strncmp(s, "ForAllValues:", 13) == 0) {
		c->quantifier = POLICY_ALL_VALUES;
		rest = s + 13;
	}
	for (size_t i = 0; i < POLICY_COUNT(ops); i++) {
		size_t n = strlen(ops[i].name);

		if (strncmp(rest, ops[i].name, n) != 0)
			continue;
		if (rest[n] != '\0' && strcmp(rest + n, "IfExists") != 0)
			continue;
		c->op = ops[i].op;
		c->if_exists = rest[n] != '\0';
		/* Null tests presence itself: no IfExists, no set form */
		return c->op != POLICY_OP_NULL ||
		       (!c->if_exists && c->quantifier == POLICY_SINGLE);
	}
	return false;
}

/* One value of a condition into t. */
static int
policy_condition_value(struct policy_parser *pp, json_t *v,
    const struct policy_condition *c, struct policy_template *t)
{
	char num[32];

	if (c->op == POLICY_OP_BOOL || c->op == POLICY_OP_NULL) {
		const char *s = json_is_string(v) ? json_string_value(v) : "";

		if (json_is_true(v) || strcasecmp(s, "true") == 0)
			template_literal(t, "true");
		else if (json_is_false(v) || strcasecmp(s, "false") == 0)
			template_literal(t, "false");
		else
			return strata_policy_path_fail(&pp->path,
			    "a %s value is \"true\" or \"false\"",
			    c->op == POLICY_OP_BOOL ? "Bool" : "Null");
		return 0;
	}
	if (json_is_string(v))
		return template_compile(pp, json_string_value(v), t);
	if (json_is_integer(v)) {
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		template_literal(t, num);
	} else if (json_is_boolean(v)) {
		template_literal(t, json_is_true(v) ? "true" : "false");
	} else {
		return strata_policy_path_fail(
		    &pp->path, "a condition value must be a string");
	}
	return 0;
}

static void
condition_free(struct policy_condition *c)
{
	free(c->key.name);
	for (size_t i = 0; i < c->nvalues; i++)
		template_free(&c->values[i]);
	free(c->values);
}

/* "key": value or [values] under the operator described by proto. */
static int
policy_condition(struct policy_parser *pp,
    const struct policy_condition *proto, const char *keyname, json_t *values,
    struct policy_statement *st)
{
	struct policy_condition *c;
	size_t n = json_is_array(values) ? json_array_size(values) : 1;
	size_t old;
	int rc;

	st->conditions = realloc(
	    st->conditions, (st->nconditions + 1) * sizeof(*st->conditions));
	if (st->conditions == NULL)
		abort();
	c = &st->conditions[st->nconditions++];
	*c = *proto;
	if (!policy_key_parse(keyname, true, &c->key))
		return strata_policy_path_fail(&pp->path,
		    "condition key %s is not supported (iot:ClientId, "
		    "iot:Connection.Thing.*, iot:Certificate.*)",
		    keyname);
	if (c->key.list && c->quantifier == POLICY_SINGLE)
		return strata_policy_path_fail(&pp->path,
		    "%s has several values: use ForAnyValue: or ForAllValues:",
		    keyname);
	c->values = strata_policy_calloc(n, sizeof(*c->values));
	if (!json_is_array(values)) {
		c->nvalues = 1;
		return policy_condition_value(pp, values, c, &c->values[0]);
	}
	for (size_t i = 0; i < n; i++) {
		old = strata_policy_path_push(&pp->path, "[%zu]", i);
		rc = policy_condition_value(
		    pp, json_array_get(values, i), c, &c->values[i]);
		if (rc != 0)
			return rc;
		c->nvalues++;
		strata_policy_path_pop(&pp->path, old);
	}
	return 0;
}

static int
policy_conditions(
    struct policy_parser *pp, json_t *cond, struct policy_statement *st)
{
	struct policy_condition proto;
	const char *opname, *keyname;
	json_t *block, *values;
	size_t old, old_key;
	int rc;

	if (!json_is_object(cond))
		return strata_policy_path_fail(&pp->path,
		    "Condition must be an object of condition operators");
	json_object_foreach(cond, opname, block) {
		old = strata_policy_path_push_key(&pp->path, opname);
		memset(&proto, 0, sizeof(proto));
		if (!policy_operator_parse(opname, &proto))
			return strata_policy_path_fail(&pp->path,
			    "condition operator %s is not supported "
			    "(StringEquals, StringNotEquals, StringLike, "
			    "StringNotLike, Bool, each with IfExists and "
			    "ForAnyValue: or ForAllValues:, and Null)",
			    opname);
		if (!json_is_object(block))
			return strata_policy_path_fail(&pp->path,
			    "%s must be an object of condition keys", opname);
		json_object_foreach(block, keyname, values) {
			old_key =
			    strata_policy_path_push_key(&pp->path, keyname);
			rc = policy_condition(pp, &proto, keyname, values, st);
			if (rc != 0)
				return rc;
			strata_policy_path_pop(&pp->path, old_key);
		}
		strata_policy_path_pop(&pp->path, old);
	}
	return 0;
}

/* ---- Statement and document ------------------------------------------ */

static void
statement_free(struct policy_statement *st)
{
	for (size_t i = 0; i < st->nresources; i++)
		template_free(&st->resources[i]);
	free(st->resources);
	for (size_t i = 0; i < st->nconditions; i++)
		condition_free(&st->conditions[i]);
	free(st->conditions);
}

/* Is s exactly one of names?  (Element names are case-sensitive.) */
static bool
policy_is_one_of(const char *s, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return true;
	return false;
}

/* Refuse the members of a statement Strata does not read. */
static int
policy_statement_members(struct policy_parser *pp, json_t *obj)
{
	static const char *const known[] = {
	    "Sid", "Effect", "Action", "Resource", "Condition"};
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		if (policy_is_one_of(key, known, POLICY_COUNT(known)))
			continue;
		strata_policy_path_push_key(&pp->path, key);
		if (strcmp(key, "NotAction") == 0 ||
		    strcmp(key, "NotResource") == 0)
			return strata_policy_path_fail(&pp->path,
			    "%s is not supported: list what the statement "
			    "covers in %s",
			    key, key + 3);
		if (strcmp(key, "Principal") == 0 ||
		    strcmp(key, "NotPrincipal") == 0)
			return strata_policy_path_fail(&pp->path,
			    "%s has no place in an AWS IoT policy: it applies "
			    "to what it is attached to",
			    key);
		return strata_policy_path_fail(
		    &pp->path, "unknown statement element %s", key);
	}
	return 0;
}

static int
policy_effect(struct policy_parser *pp, json_t *v, struct policy_statement *st)
{
	const char *effect = json_is_string(v) ? json_string_value(v) : "";

	if (strcmp(effect, "Allow") != 0 && strcmp(effect, "Deny") != 0)
		return strata_policy_path_fail(
		    &pp->path, "Effect must be \"Allow\" or \"Deny\"");
	st->deny = strcmp(effect, "Deny") == 0;
	return 0;
}

static int
policy_actions(
    struct policy_parser *pp, json_t *v, struct policy_statement *st)
{
	return policy_each_string(pp, v, "Action", policy_action, st);
}

static int
policy_resources(
    struct policy_parser *pp, json_t *v, struct policy_statement *st)
{
	return policy_each_string(pp, v, "Resource", policy_resource, st);
}

/* Parse member key of a statement (absent: refused if required) with the
 * path at it. */
static int
policy_member(struct policy_parser *pp, json_t *obj, const char *key,
    bool required,
    int (*parse)(struct policy_parser *, json_t *, struct policy_statement *),
    struct policy_statement *st)
{
	json_t *v = json_object_get(obj, key);
	size_t old;
	int rc;

	if (v == NULL)
		return required ? strata_policy_path_fail(&pp->path,
		                      "the statement has no %s", key)
		                : 0;
	old = strata_policy_path_push_key(&pp->path, key);
	rc = parse(pp, v, st);
	if (rc == 0)
		strata_policy_path_pop(&pp->path, old);
	return rc;
}

static int
policy_statement(
    struct policy_parser *pp, json_t *obj, struct policy_statement *st)
{
	json_t *sid;
	int rc;

	if (!json_is_object(obj))
		return strata_policy_path_fail(
		    &pp->path, "a statement must be a JSON object");
	rc = policy_statement_members(pp, obj);
	if (rc != 0)
		return rc;
	sid = json_object_get(obj, "Sid");
	if (sid != NULL && !json_is_string(sid)) {
		strata_policy_path_push_key(&pp->path, "Sid");
		return strata_policy_path_fail(
		    &pp->path, "Sid must be a string");
	}
	rc = policy_member(pp, obj, "Effect", true, policy_effect, st);
	if (rc == 0)
		rc =
		    policy_member(pp, obj, "Action", true, policy_actions, st);
	if (rc == 0)
		rc = policy_member(
		    pp, obj, "Resource", true, policy_resources, st);
	if (rc == 0)
		rc = policy_member(
		    pp, obj, "Condition", false, policy_conditions, st);
	return rc;
}

/* Version, Id and the members of the document. */
static int
policy_header(struct policy_parser *pp, json_t *root)
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
		return 0; /* IAM: 2008-10-17, variables are literal text */
	version = json_is_string(v) ? json_string_value(v) : "";
	if (strcmp(version, POLICY_VERSION_VARIABLES) != 0 &&
	    strcmp(version, POLICY_VERSION_OLD) != 0) {
		strata_policy_path_push_key(&pp->path, "Version");
		return strata_policy_path_fail(&pp->path,
		    "Version must be \"%s\" or \"%s\"",
		    POLICY_VERSION_VARIABLES, POLICY_VERSION_OLD);
	}
	pp->variables = strcmp(version, POLICY_VERSION_VARIABLES) == 0;
	return 0;
}

static int
policy_document(
    struct policy_parser *pp, json_t *root, struct strata_policy *pol)
{
	json_t *statements;
	size_t old;
	int rc;

	if (!json_is_object(root))
		return strata_policy_path_fail(
		    &pp->path, "a policy document must be a JSON object");
	rc = policy_header(pp, root);
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
		return policy_statement(pp, statements, &pol->statements[0]);
	}
	if (!json_is_array(statements))
		return strata_policy_path_fail(&pp->path,
		    "Statement must be an object or a list of objects");
	pol->nstatements = json_array_size(statements);
	pol->statements =
	    strata_policy_calloc(pol->nstatements, sizeof(*pol->statements));
	for (size_t i = 0; i < pol->nstatements; i++) {
		old = strata_policy_path_push(&pp->path, "[%zu]", i);
		rc = policy_statement(
		    pp, json_array_get(statements, i), &pol->statements[i]);
		if (rc != 0)
			return rc;
		strata_policy_path_pop(&pp->path, old);
	}
	return 0;
}

struct strata_policy *
strata_policy_parse(
    const char *doc, size_t len, struct strata_policy_error *err)
{
	struct policy_parser pp = {.path.err = err};
	struct strata_policy *pol;
	json_t *root;
	int rc;

	root = strata_policy_load(doc, len, STRATA_POLICY_MAX_CHARS, err);
	if (root == NULL)
		return NULL;
	pol = strata_policy_calloc(1, sizeof(*pol));
	rc = policy_document(&pp, root, pol);
	json_decref(root);
	if (rc != 0) {
		strata_policy_free(pol);
		return NULL;
	}
	return pol;
}

void
strata_policy_free(struct strata_policy *pol)
{
	if (pol == NULL)
		return;
	for (size_t i = 0; i < pol->nstatements; i++)
		statement_free(&pol->statements[i]);
	free(pol->statements);
	free(pol);
}
