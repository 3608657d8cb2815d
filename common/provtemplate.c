/*
 * provtemplate.c - AWS IoT provisioning templates (provtemplate.h).
 *
 * Evaluation walks the template once:
 *
 *   sections known? -> Parameters (Type String, Default) -> each
 *   resource: its Condition (Conditions section, evaluated on demand,
 *   depth-bounded so a cycle ends as an error) -> its properties, each a
 *   value -> DeviceConfiguration -> the plan
 *
 * A value evaluates to a new jansson reference: a string, an array of
 * strings (a list: Fn::Split, a literal array) or json_null() for
 * {"Ref": "AWS::NoValue"} (the property is left out).  Check mode (the
 * admin API storing a template) resolves every parameter to its Default
 * or "", evaluates both branches of Fn::If, forgives indexes and map keys
 * it cannot know, and checks no names; everything else is the same code
 * as evaluation, so what the check accepts evaluates or fails with a
 * named error, never differently.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "policy.h"
#include "provtemplate.h"

struct pt_ctx {
	const json_t *params;     /* name -> string */
	const json_t *declared;   /* Parameters */
	const json_t *mappings;
	const json_t *conditions;
	bool check;
	int depth;
	long steps;               /* evaluation steps left */
	char *err;
	size_t errlen;
	bool failed;
};

static const char *const pt_pseudo[] = {
	"AWS::IoT::Certificate::Id",
	"AWS::IoT::Certificate::CommonName",
	"AWS::IoT::Certificate::Country",
	"AWS::IoT::Certificate::Organization",
	"AWS::IoT::Certificate::OrganizationalUnit",
	"AWS::IoT::Certificate::DistinguishedNameQualifier",
	"AWS::IoT::Certificate::StateName",
	"AWS::IoT::Certificate::SerialNumber",
};

static json_t *pt_eval(struct pt_ctx *x, const json_t *v);
static int pt_condition(struct pt_ctx *x, const char *name);

static void __attribute__((format(printf, 2, 3)))
pt_fail(struct pt_ctx *x, const char *fmt, ...)
{
	va_list ap;

	if (x->failed)
		return;
	x->failed = true;
	va_start(ap, fmt);
	vsnprintf(x->err, x->errlen, fmt, ap);
	va_end(ap);
}

bool
strata_provtemplate_pseudo(const char *name)
{
	for (size_t i = 0; i < sizeof(pt_pseudo) / sizeof(pt_pseudo[0]); i++)
		if (strcmp(name, pt_pseudo[i]) == 0)
			return true;
	return false;
}

bool
strata_provtemplate_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == ':' || ch == '_' ||
		    ch == '-'))
			return false;
	}
	return true;
}

/* The one key of a function object, or NULL. */
static const char *
pt_function(const json_t *v, const json_t **arg)
{
	void *it;

	if (!json_is_object(v) || json_object_size(v) != 1)
		return NULL;
	it = json_object_iter((json_t *)v);
	*arg = json_object_iter_value(it);
	return json_object_iter_key(it);
}

/* v evaluated as a string (NULL after pt_fail; a list or no value is an
 * error).  Returns a new reference. */
static json_t *
pt_string(struct pt_ctx *x, const json_t *v, const char *what)
{
	json_t *r = pt_eval(x, v);

	if (r == NULL || json_is_string(r))
		return r;
	pt_fail(x, "%s must be a string", what);
	json_decref(r);
	return NULL;
}

/* v evaluated as a list of strings (a string alone is a list of one). */
static json_t *
pt_list(struct pt_ctx *x, const json_t *v, const char *what)
{
	json_t *r = pt_eval(x, v), *a;

	if (r == NULL || json_is_array(r))
		return r;
	if (json_is_string(r)) {
		a = json_array();
		json_array_append_new(a, r);
		return a;
	}
	pt_fail(x, "%s must be a list", what);
	json_decref(r);
	return NULL;
}

static json_t *
pt_bounded(struct pt_ctx *x, char *s, size_t len)
{
	json_t *r;

	if (len > STRATA_PROVTEMPLATE_MAX_STRING) {
		pt_fail(x, "a value longer than %d characters",
		    STRATA_PROVTEMPLATE_MAX_STRING);
		free(s);
		return NULL;
	}
	r = json_stringn_nocheck(s, len);
	free(s);
	if (r == NULL)
		abort();
	return r;
}

/* ---- Ref ---- */

static json_t *
pt_ref(struct pt_ctx *x, const char *name)
{
	const json_t *decl = json_object_get(x->declared, name);
	const json_t *given = json_object_get(x->params, name);
	const json_t *def = json_object_get(decl, "Default");

	if (strcmp(name, "AWS::NoValue") == 0)
		return json_null();
	if (decl == NULL && !strata_provtemplate_pseudo(name)) {
		pt_fail(x, "Ref to unknown parameter %s", name);
		return NULL;
	}
	if (x->check)
		return json_is_string(def) ? json_incref((json_t *)def) :
		    json_string("");
	if (json_is_string(given))
		return json_incref((json_t *)given);
	if (json_is_string(def))
		return json_incref((json_t *)def);
	if (decl == NULL)
		return json_string(""); /* a pseudo parameter not supplied */
	pt_fail(x, "missing parameter %s", name);
	return NULL;
}

/* ---- functions ---- */

static json_t *
pt_join(struct pt_ctx *x, const json_t *arg)
{
	const json_t *sep = json_array_get(arg, 0);
	json_t *parts, *p;
	size_t i, n = 0, sl;
	char *out;

	if (!json_is_array(arg) || json_array_size(arg) != 2 ||
	    !json_is_string(sep)) {
		pt_fail(x, "Fn::Join takes [separator, [values]]");
		return NULL;
	}
	parts = pt_list(x, json_array_get(arg, 1), "Fn::Join's values");
	if (parts == NULL)
		return NULL;
	sl = json_string_length(sep);
	json_array_foreach(parts, i, p)
		n += json_string_length(p) + (i > 0 ? sl : 0);
	if (n > STRATA_PROVTEMPLATE_MAX_STRING) {
		json_decref(parts);
		return pt_bounded(x, NULL, n);
	}
	out = malloc(n + 1);
	if (out == NULL)
		abort();
	n = 0;
	json_array_foreach(parts, i, p) {
		if (i > 0) {
			memcpy(out + n, json_string_value(sep), sl);
			n += sl;
		}
		memcpy(out + n, json_string_value(p), json_string_length(p));
		n += json_string_length(p);
	}
	json_decref(parts);
	return pt_bounded(x, out, n);
}

static json_t *
pt_split(struct pt_ctx *x, const json_t *arg)
{
	const json_t *delim = json_array_get(arg, 0);
	json_t *s, *out;
	const char *p, *hit;
	size_t dl;

	if (!json_is_array(arg) || json_array_size(arg) != 2 ||
	    !json_is_string(delim) || json_string_length(delim) == 0) {
		pt_fail(x, "Fn::Split takes [delimiter, string]");
		return NULL;
	}
	s = pt_string(x, json_array_get(arg, 1), "Fn::Split's string");
	if (s == NULL)
		return NULL;
	out = json_array();
	dl = json_string_length(delim);
	p = json_string_value(s);
	while ((hit = strstr(p, json_string_value(delim))) != NULL) {
		json_array_append_new(out, json_stringn_nocheck(p,
		    (size_t)(hit - p)));
		p = hit + dl;
	}
	json_array_append_new(out, json_string_nocheck(p));
	json_decref(s);
	return out;
}

static json_t *
pt_select(struct pt_ctx *x, const json_t *arg)
{
	const json_t *iv = json_array_get(arg, 0);
	json_t *list, *idx = NULL, *r;
	long long i = -1;
	char *end;

	if (!json_is_array(arg) || json_array_size(arg) != 2) {
		pt_fail(x, "Fn::Select takes [index, list]");
		return NULL;
	}
	if (json_is_integer(iv))
		i = json_integer_value(iv);
	else if ((idx = pt_string(x, iv, "Fn::Select's index")) != NULL) {
		i = strtoll(json_string_value(idx), &end, 10);
		if (*end != '\0' || end == json_string_value(idx))
			i = x->check && json_string_length(idx) == 0 ? 0 : -1;
		json_decref(idx);
	} else
		return NULL;
	list = pt_list(x, json_array_get(arg, 1), "Fn::Select's list");
	if (list == NULL)
		return NULL;
	r = i >= 0 ? json_array_get(list, (size_t)i) : NULL;
	if (r != NULL)
		json_incref(r);
	else if (x->check && i >= 0)
		r = json_string("");
	else
		pt_fail(x, "Fn::Select: index %lld is not in the list", i);
	json_decref(list);
	return r;
}

static json_t *
pt_find_in_map(struct pt_ctx *x, const json_t *arg)
{
	json_t *k[3] = {NULL, NULL, NULL}, *r = NULL;
	const json_t *v;

	if (!json_is_array(arg) || json_array_size(arg) != 3) {
		pt_fail(x, "Fn::FindInMap takes [map, top key, second key]");
		return NULL;
	}
	for (int i = 0; i < 3; i++)
		if ((k[i] = pt_string(x, json_array_get(arg, i),
		    "Fn::FindInMap's keys")) == NULL)
			goto out;
	v = json_object_get(x->mappings, json_string_value(k[0]));
	if (v == NULL && !(x->check && json_string_length(k[0]) == 0)) {
		pt_fail(x, "Fn::FindInMap: no mapping %s",
		    json_string_value(k[0]));
		goto out;
	}
	v = json_object_get(json_object_get(v, json_string_value(k[1])),
	    json_string_value(k[2]));
	if (json_is_string(v))
		r = json_incref((json_t *)v);
	else if (x->check)
		r = json_string("");
	else
		pt_fail(x, "Fn::FindInMap: %s has no %s / %s",
		    json_string_value(k[0]), json_string_value(k[1]),
		    json_string_value(k[2]));
out:
	for (int i = 0; i < 3; i++)
		json_decref(k[i]);
	return r;
}

static json_t *
pt_if(struct pt_ctx *x, const json_t *arg)
{
	const json_t *name = json_array_get(arg, 0);
	json_t *other;
	int c;

	if (!json_is_array(arg) || json_array_size(arg) != 3 ||
	    !json_is_string(name)) {
		pt_fail(x, "Fn::If takes [condition, then, else]");
		return NULL;
	}
	c = pt_condition(x, json_string_value(name));
	if (c < 0)
		return NULL;
	if (x->check) {
		other = pt_eval(x, json_array_get(arg, c ? 2 : 1));
		if (other == NULL)
			return NULL;
		json_decref(other);
	}
	return pt_eval(x, json_array_get(arg, c ? 1 : 2));
}

/* A growing string, bounded. */
struct pt_buf {
	char *p;
	size_t len, cap;
};

static bool
pt_buf_add(struct pt_buf *b, const char *s, size_t n)
{
	if (b->len + n > STRATA_PROVTEMPLATE_MAX_STRING)
		return false;
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		if (b->p == NULL)
			abort();
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	return true;
}

/* The value of ${name}: vars first (Fn::Sub's map), then as a Ref. */
static json_t *
pt_sub_var(struct pt_ctx *x, const char *name, const json_t *vars)
{
	json_t *ref, *r;

	if (json_object_get(vars, name) != NULL)
		return pt_string(x, json_object_get(vars, name),
		    "an Fn::Sub variable");
	ref = json_pack("{s:s}", "Ref", name);
	if (ref == NULL)
		abort();
	r = pt_string(x, ref, "a Ref");
	json_decref(ref);
	return r;
}

/* text with each ${Name} replaced; ${!x} is the literal ${x}. */
static json_t *
pt_sub_text(struct pt_ctx *x, const char *text, const json_t *vars)
{
	struct pt_buf b = {NULL, 0, 0};
	const char *p = text, *end;
	char name[256];
	json_t *val;
	size_t nl;
	bool ok = true;

	pt_buf_add(&b, "", 0);
	while (ok && *p != '\0') {
		if (p[0] != '$' || p[1] != '{' ||
		    (end = strchr(p + 2, '}')) == NULL) {
			ok = pt_buf_add(&b, p++, 1);
			continue;
		}
		nl = (size_t)(end - p - 2);
		if (p[2] == '!') {
			ok = pt_buf_add(&b, "${", 2) &&
			    pt_buf_add(&b, p + 3, nl - 1) &&
			    pt_buf_add(&b, "}", 1);
			p = end + 1;
			continue;
		}
		if (nl == 0 || nl >= sizeof(name)) {
			pt_fail(x, "Fn::Sub: a variable name must have 1 to "
			    "255 characters");
			free(b.p);
			return NULL;
		}
		memcpy(name, p + 2, nl);
		name[nl] = '\0';
		if ((val = pt_sub_var(x, name, vars)) == NULL) {
			free(b.p);
			return NULL;
		}
		ok = pt_buf_add(&b, json_string_value(val),
		    json_string_length(val));
		json_decref(val);
		p = end + 1;
	}
	if (!ok) {
		free(b.p);
		return pt_bounded(x, NULL, STRATA_PROVTEMPLATE_MAX_STRING + 1);
	}
	return pt_bounded(x, b.p, b.len);
}

static json_t *
pt_sub(struct pt_ctx *x, const json_t *arg)
{
	const json_t *vars = NULL, *text = arg;

	if (json_is_array(arg)) {
		text = json_array_get(arg, 0);
		vars = json_array_get(arg, 1);
		if (json_array_size(arg) != 2 || !json_is_object(vars))
			text = NULL;
	}
	if (!json_is_string(text)) {
		pt_fail(x, "Fn::Sub takes a string or [string, {variables}]");
		return NULL;
	}
	return pt_sub_text(x, json_string_value(text), vars);
}

static json_t *
pt_call(struct pt_ctx *x, const char *fn, const json_t *arg)
{
	if (strcmp(fn, "Ref") == 0) {
		if (!json_is_string(arg)) {
			pt_fail(x, "Ref takes a parameter name");
			return NULL;
		}
		return pt_ref(x, json_string_value(arg));
	}
	if (strcmp(fn, "Fn::Join") == 0)
		return pt_join(x, arg);
	if (strcmp(fn, "Fn::Sub") == 0)
		return pt_sub(x, arg);
	if (strcmp(fn, "Fn::If") == 0)
		return pt_if(x, arg);
	if (strcmp(fn, "Fn::FindInMap") == 0)
		return pt_find_in_map(x, arg);
	if (strcmp(fn, "Fn::Split") == 0)
		return pt_split(x, arg);
	if (strcmp(fn, "Fn::Select") == 0)
		return pt_select(x, arg);
	pt_fail(x, "unknown function %s", fn);
	return NULL;
}

static json_t *
pt_array(struct pt_ctx *x, const json_t *v)
{
	json_t *out = json_array(), *e;
	const json_t *item;
	size_t i;

	json_array_foreach(v, i, item) {
		e = pt_eval(x, item);
		if (e == NULL) {
			json_decref(out);
			return NULL;
		}
		if (json_is_string(e))
			json_array_append(out, e);
		else if (!json_is_null(e)) {
			pt_fail(x, "a list holds strings only");
			json_decref(e);
			json_decref(out);
			return NULL;
		}
		json_decref(e);
	}
	return out;
}

static json_t *
pt_eval(struct pt_ctx *x, const json_t *v)
{
	const json_t *arg;
	const char *fn;
	json_t *r;

	if (x->failed)
		return NULL;
	if (json_is_string(v))
		return json_incref((json_t *)v);
	if (--x->steps < 0) {
		pt_fail(x, "the template takes more than %d steps to "
		    "evaluate", STRATA_PROVTEMPLATE_MAX_STEPS);
		return NULL;
	}
	if (++x->depth > STRATA_PROVTEMPLATE_MAX_DEPTH) {
		pt_fail(x, "values nested deeper than %d",
		    STRATA_PROVTEMPLATE_MAX_DEPTH);
		x->depth--;
		return NULL;
	}
	if (json_is_array(v))
		r = pt_array(x, v);
	else if ((fn = pt_function(v, &arg)) != NULL)
		r = pt_call(x, fn, arg);
	else {
		pt_fail(x, "a value must be a string, a list or one function");
		r = NULL;
	}
	x->depth--;
	return r;
}

/* ---- conditions ---- */

static int pt_cond_expr(struct pt_ctx *x, const json_t *v);

static int
pt_cond_list(struct pt_ctx *x, const char *fn, const json_t *arg)
{
	bool and = strcmp(fn, "Fn::And") == 0;
	const json_t *item;
	size_t i;
	int acc = and ? 1 : 0, c;

	if (!json_is_array(arg) || json_array_size(arg) < 2 ||
	    json_array_size(arg) > 10) {
		pt_fail(x, "%s takes 2 to 10 conditions", fn);
		return -1;
	}
	json_array_foreach(arg, i, item) {
		if ((c = pt_cond_expr(x, item)) < 0)
			return -1;
		acc = and ? (acc && c) : (acc || c);
	}
	return acc;
}

static int
pt_equals(struct pt_ctx *x, const json_t *arg)
{
	json_t *a, *b;
	int r;

	if (!json_is_array(arg) || json_array_size(arg) != 2) {
		pt_fail(x, "Fn::Equals takes [value, value]");
		return -1;
	}
	a = pt_string(x, json_array_get(arg, 0), "Fn::Equals' values");
	b = a != NULL ? pt_string(x, json_array_get(arg, 1),
	    "Fn::Equals' values") : NULL;
	r = b == NULL ? -1 : json_equal(a, b);
	json_decref(a);
	json_decref(b);
	return r;
}

static int
pt_cond_expr(struct pt_ctx *x, const json_t *v)
{
	const json_t *arg;
	const char *fn = pt_function(v, &arg);
	int r;

	if (x->failed)
		return -1;
	if (--x->steps < 0) {
		pt_fail(x, "the template takes more than %d steps to "
		    "evaluate", STRATA_PROVTEMPLATE_MAX_STEPS);
		return -1;
	}
	if (++x->depth > STRATA_PROVTEMPLATE_MAX_DEPTH) {
		pt_fail(x, "conditions nested deeper than %d (or a cycle)",
		    STRATA_PROVTEMPLATE_MAX_DEPTH);
		x->depth--;
		return -1;
	}
	if (fn == NULL) {
		pt_fail(x, "a condition must be one function");
		r = -1;
	} else if (strcmp(fn, "Fn::Equals") == 0)
		r = pt_equals(x, arg);
	else if (strcmp(fn, "Fn::And") == 0 || strcmp(fn, "Fn::Or") == 0)
		r = pt_cond_list(x, fn, arg);
	else if (strcmp(fn, "Fn::Not") == 0) {
		if (!json_is_array(arg) || json_array_size(arg) != 1) {
			pt_fail(x, "Fn::Not takes [condition]");
			r = -1;
		} else if ((r = pt_cond_expr(x, json_array_get(arg, 0))) >= 0)
			r = !r;
	} else if (strcmp(fn, "Condition") == 0 && json_is_string(arg))
		r = pt_condition(x, json_string_value(arg));
	else {
		pt_fail(x, "unknown condition function %s", fn);
		r = -1;
	}
	x->depth--;
	return r;
}

static int
pt_condition(struct pt_ctx *x, const char *name)
{
	const json_t *c = json_object_get(x->conditions, name);

	if (c == NULL) {
		pt_fail(x, "unknown condition %s", name);
		return -1;
	}
	return pt_cond_expr(x, c);
}

/* ---- resources ---- */

/* Property name of props as a string into *out (absent or no value:
 * *out stays NULL).  false after pt_fail. */
static bool
pt_prop(struct pt_ctx *x, const json_t *props, const char *name, char **out)
{
	const json_t *v = json_object_get(props, name);
	json_t *r;

	if (v == NULL)
		return true;
	r = pt_eval(x, v);
	if (r == NULL)
		return false;
	if (json_is_string(r))
		*out = strdup(json_string_value(r));
	else if (!json_is_null(r)) {
		pt_fail(x, "%s must be a string", name);
		json_decref(r);
		return false;
	}
	json_decref(r);
	return true;
}

/* The first key of o not in names (NULL-terminated), or NULL. */
static const char *
pt_unknown_key(const json_t *o, const char *const *names)
{
	const char *k;
	const json_t *v;

	json_object_foreach((json_t *)o, k, v) {
		size_t i;

		for (i = 0; names[i] != NULL && strcmp(names[i], k) != 0; i++)
			;
		if (names[i] == NULL)
			return k;
	}
	return NULL;
}

static bool
pt_known_props(struct pt_ctx *x, const char *res, const json_t *props,
    const char *const *names)
{
	const char *k = pt_unknown_key(props, names);

	if (k != NULL)
		pt_fail(x, "resource %s: unknown property %s", res, k);
	return k == NULL;
}

static bool
pt_name_ok(struct pt_ctx *x, const char *what, const char *name)
{
	if (x->check || name == NULL || strata_provtemplate_name_valid(name))
		return true;
	pt_fail(x, "%s '%.64s' is not a valid name ([a-zA-Z0-9:_-]+, 1 to "
	    "128)", what, name);
	return false;
}

static bool
pt_attributes(struct pt_ctx *x, const json_t *ap,
    struct strata_provtemplate_plan *p)
{
	json_t *attrs = json_object(), *r;
	const char *k;
	const json_t *v;

	if (ap != NULL && !json_is_object(ap)) {
		pt_fail(x, "AttributePayload must be an object");
		json_decref(attrs);
		return false;
	}
	json_object_foreach((json_t *)ap, k, v) {
		r = pt_eval(x, v);
		if (r == NULL || (!json_is_string(r) && !json_is_null(r))) {
			pt_fail(x, "attribute %s must be a string", k);
			json_decref(r);
			json_decref(attrs);
			return false;
		}
		if (json_is_string(r))
			json_object_set(attrs, k, r);
		json_decref(r);
	}
	p->attributes = json_dumps(attrs, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(attrs);
	return p->attributes != NULL;
}

static bool
pt_thing(struct pt_ctx *x, const char *res, const json_t *props,
    struct strata_provtemplate_plan *p)
{
	static const char *const names[] = {"ThingName", "ThingTypeName",
		"ThingGroups", "AttributePayload", "BillingGroup", NULL};
	const json_t *g = json_object_get(props, "ThingGroups"), *e;
	json_t *groups;
	size_t i;

	if (!pt_known_props(x, res, props, names) ||
	    !pt_prop(x, props, "ThingName", &p->thing) ||
	    !pt_prop(x, props, "ThingTypeName", &p->thing_type))
		return false;
	if (p->thing == NULL) {
		pt_fail(x, "resource %s: AWS::IoT::Thing needs ThingName", res);
		return false;
	}
	if (!pt_name_ok(x, "ThingName", p->thing) ||
	    !pt_name_ok(x, "ThingTypeName", p->thing_type))
		return false;
	if (g != NULL) {
		groups = pt_list(x, g, "ThingGroups");
		if (groups == NULL)
			return false;
		json_decref(p->groups);
		p->groups = groups;
		json_array_foreach(groups, i, e)
			if (!pt_name_ok(x, "a thing group", json_string_value(e)))
				return false;
	}
	return pt_attributes(x, json_object_get(props, "AttributePayload"), p);
}

static bool
pt_certificate(struct pt_ctx *x, const char *res, const json_t *props,
    struct strata_provtemplate_plan *p)
{
	static const char *const names[] = {"CertificateId", "CertificatePem",
		"Status", NULL};
	char *id = NULL, *pem = NULL, *status = NULL;
	bool ok = pt_known_props(x, res, props, names) &&
	    pt_prop(x, props, "CertificateId", &id) &&
	    pt_prop(x, props, "CertificatePem", &pem) &&
	    pt_prop(x, props, "Status", &status);

	p->has_cert = true;
	free(id);
	free(pem);
	if (ok && status != NULL && (status[0] != '\0' || !x->check)) {
		for (char *s = status; *s != '\0'; s++)
			if (*s >= 'a' && *s <= 'z')
				*s = (char)(*s - 'a' + 'A');
		if (strcmp(status, "ACTIVE") != 0 &&
		    strcmp(status, "INACTIVE") != 0) {
			pt_fail(x, "resource %s: Status must be ACTIVE or "
			    "INACTIVE", res);
			ok = false;
		} else {
			free(p->cert_status);
			p->cert_status = status;
			status = NULL;
		}
	}
	free(status);
	return ok;
}

/* The name of a policy given by document only. */
static char *
pt_policy_name(const char *prefix, const char *doc)
{
	unsigned char md[32];
	unsigned int n = 0;
	size_t pl = strlen(prefix);
	char *out = malloc(pl + 17);

	if (out == NULL)
		abort();
	EVP_Digest(doc, strlen(doc), md, &n, EVP_sha256(), NULL);
	memcpy(out, prefix, pl);
	for (int i = 0; i < 8; i++)
		snprintf(out + pl + 2 * i, 3, "%02x", md[i]);
	return out;
}

static bool
pt_policy(struct pt_ctx *x, const char *res, const json_t *props,
    const char *prefix, struct strata_provtemplate_plan *p)
{
	static const char *const names[] = {"PolicyName", "PolicyDocument",
		NULL};
	const json_t *literal = json_object_get(props, "PolicyDocument");
	struct strata_policy_error perr;
	struct strata_policy *pol;

	if (!pt_known_props(x, res, props, names) ||
	    !pt_prop(x, props, "PolicyName", &p->policy_name) ||
	    !pt_prop(x, props, "PolicyDocument", &p->policy_doc))
		return false;
	if (p->policy_name == NULL && p->policy_doc == NULL) {
		pt_fail(x, "resource %s: AWS::IoT::Policy needs PolicyName or "
		    "PolicyDocument", res);
		return false;
	}
	if (p->policy_doc != NULL && (!x->check || json_is_string(literal))) {
		pol = strata_policy_parse(p->policy_doc,
		    strlen(p->policy_doc), &perr);
		if (pol == NULL) {
			pt_fail(x, "resource %s: PolicyDocument: %s%s%s", res,
			    perr.path, perr.path[0] != '\0' ? ": " : "",
			    perr.message);
			return false;
		}
		strata_policy_free(pol);
	}
	if (p->policy_name == NULL)
		p->policy_name = pt_policy_name(prefix, p->policy_doc);
	return pt_name_ok(x, "PolicyName", p->policy_name);
}

enum { PT_THING = 1, PT_CERT = 2, PT_POLICY = 4 };

static void
pt_plan_init(struct strata_provtemplate_plan *p)
{
	memset(p, 0, sizeof(*p));
	p->groups = json_array();
	p->device_config = json_object();
	p->cert_status = strdup("ACTIVE");
	if (p->groups == NULL || p->device_config == NULL ||
	    p->cert_status == NULL)
		abort();
}

static bool
pt_resource_into(struct pt_ctx *x, const char *res, unsigned kind,
    const json_t *props, const char *prefix,
    struct strata_provtemplate_plan *p)
{
	if (kind == PT_THING)
		return pt_thing(x, res, props, p);
	if (kind == PT_CERT)
		return pt_certificate(x, res, props, p);
	return pt_policy(x, res, props, prefix, p);
}

/* Check mode: a second resource of a kind (under another condition) is
 * checked into a plan of its own. */
static bool
pt_resource_scratch(struct pt_ctx *x, const char *res, unsigned kind,
    const json_t *props, const char *prefix)
{
	struct strata_provtemplate_plan scratch;
	bool ok;

	pt_plan_init(&scratch);
	ok = pt_resource_into(x, res, kind, props, prefix, &scratch);
	strata_provtemplate_plan_free(&scratch);
	return ok;
}

static bool
pt_resource(struct pt_ctx *x, const char *res, const json_t *r,
    const char *prefix, unsigned *seen, struct strata_provtemplate_plan *p)
{
	const char *type = json_string_value(json_object_get(r, "Type"));
	const json_t *props = json_object_get(r, "Properties");
	const json_t *cond = json_object_get(r, "Condition");
	unsigned kind;
	int c = 1;

	if (type == NULL || !json_is_object(props)) {
		pt_fail(x, "resource %s needs Type and Properties", res);
		return false;
	}
	if (cond != NULL && (!json_is_string(cond) ||
	    (c = pt_condition(x, json_string_value(cond))) < 0)) {
		pt_fail(x, "resource %s: Condition must name a condition", res);
		return false;
	}
	kind = strcmp(type, "AWS::IoT::Thing") == 0 ? PT_THING :
	    strcmp(type, "AWS::IoT::Certificate") == 0 ? PT_CERT :
	    strcmp(type, "AWS::IoT::Policy") == 0 ? PT_POLICY : 0;
	if (kind == 0) {
		pt_fail(x, "resource %s: Type %s is not supported", res, type);
		return false;
	}
	if (c == 0 && !x->check)
		return true;
	if ((*seen & kind) && !x->check) {
		pt_fail(x, "resource %s: a second %s", res, type);
		return false;
	}
	if (*seen & kind)
		return pt_resource_scratch(x, res, kind, props, prefix);
	*seen |= kind;
	return pt_resource_into(x, res, kind, props, prefix, p);
}

/* ---- sections ---- */

static bool
pt_sections(struct pt_ctx *x, const json_t *tmpl)
{
	static const char *const known[] = {"Parameters", "Mappings",
		"Conditions", "Resources", "DeviceConfiguration",
		"AWSTemplateFormatVersion", "Description", NULL};
	const char *k, *pk;
	const json_t *v, *pv;

	if (!json_is_object(tmpl)) {
		pt_fail(x, "the template must be a JSON object");
		return false;
	}
	if ((k = pt_unknown_key(tmpl, known)) != NULL) {
		pt_fail(x, "unknown template section %s", k);
		return false;
	}
	json_object_foreach((json_t *)tmpl, k, v) {
		if (!json_is_object(v) && strcmp(k, "Description") != 0 &&
		    strcmp(k, "AWSTemplateFormatVersion") != 0) {
			pt_fail(x, "%s must be an object", k);
			return false;
		}
	}
	json_object_foreach((json_t *)x->declared, pk, pv) {
		const json_t *t = json_object_get(pv, "Type");
		const json_t *d = json_object_get(pv, "Default");

		if (!json_is_string(t) || strcmp(json_string_value(t),
		    "String") != 0 || (d != NULL && !json_is_string(d))) {
			pt_fail(x, "parameter %s: Type must be String and "
			    "Default a string", pk);
			return false;
		}
	}
	if (!json_is_object(json_object_get(tmpl, "Resources"))) {
		pt_fail(x, "the template has no Resources object");
		return false;
	}
	return true;
}

static bool
pt_device_config(struct pt_ctx *x, const json_t *dc,
    struct strata_provtemplate_plan *p)
{
	const char *k;
	const json_t *v;
	json_t *r;

	json_object_foreach((json_t *)dc, k, v) {
		if (json_is_number(v) || json_is_boolean(v)) {
			json_object_set(p->device_config, k, (json_t *)v);
			continue;
		}
		r = pt_eval(x, v);
		if (r == NULL)
			return false;
		if (!json_is_null(r))
			json_object_set(p->device_config, k, r);
		json_decref(r);
	}
	return true;
}

static int
pt_run(const json_t *tmpl, const json_t *params, const char *prefix,
    bool check, struct strata_provtemplate_plan *p, char *err,
    size_t errlen)
{
	struct pt_ctx x = {.params = params, .check = check, .err = err,
		.errlen = errlen, .steps = STRATA_PROVTEMPLATE_MAX_STEPS};
	const json_t *r;
	const char *k;
	unsigned seen = 0;

	pt_plan_init(p);
	x.declared = json_object_get(tmpl, "Parameters");
	x.mappings = json_object_get(tmpl, "Mappings");
	x.conditions = json_object_get(tmpl, "Conditions");
	if (!pt_sections(&x, tmpl))
		goto fail;
	if (check)
		json_object_foreach((json_t *)x.conditions, k, r)
			if (pt_condition(&x, k) < 0)
				goto fail;
	json_object_foreach(json_object_get(tmpl, "Resources"), k, r)
		if (!pt_resource(&x, k, r, prefix, &seen, p))
			goto fail;
	if (!pt_device_config(&x, json_object_get(tmpl,
	    "DeviceConfiguration"), p))
		goto fail;
	if (p->attributes == NULL && (p->attributes = strdup("{}")) == NULL)
		abort();
	return 0;
fail:
	pt_fail(&x, "the template is not valid");
	strata_provtemplate_plan_free(p);
	return -1;
}

int
strata_provtemplate_check(const json_t *tmpl, char *err, size_t errlen)
{
	struct strata_provtemplate_plan p;
	int rc = pt_run(tmpl, NULL, "x-", true, &p, err, errlen);

	strata_provtemplate_plan_free(&p);
	return rc;
}

int
strata_provtemplate_eval(const json_t *tmpl, const json_t *params,
    const char *policy_prefix, struct strata_provtemplate_plan *plan,
    char *err, size_t errlen)
{
	return pt_run(tmpl, params, policy_prefix, false, plan, err, errlen);
}

void
strata_provtemplate_plan_free(struct strata_provtemplate_plan *p)
{
	free(p->thing);
	free(p->thing_type);
	json_decref(p->groups);
	free(p->attributes);
	free(p->cert_status);
	free(p->policy_name);
	free(p->policy_doc);
	json_decref(p->device_config);
	memset(p, 0, sizeof(*p));
}
