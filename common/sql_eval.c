/*
 * sql_eval.c - values and their type rules, the evaluation of a compiled
 * statement against one message, and the rendering of templates.
 *
 * Every step returns a new reference or NULL (Undefined).  Undefined
 * spreads: an operator or function given Undefined gives Undefined
 * (except isUndefined() and its kin), a comparison with Undefined is
 * Undefined, and WHERE holds only for true, so a missing attribute never
 * selects a message.  An evaluation error (a regular expression over its
 * limits, a value over SQL_MAX_VALUE) sets ev->failed; the first error's
 * message is kept and the evaluation unwinds with Undefined.
 *
 * The type rules are AWS's (docs/internals/rules-sql.md, "Type rules").
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sql-t.h"

/* ---- values ---------------------------------------------------------- */

json_t *
sql_decimal(double d)
{
	return isfinite(d) ? json_real(d) : NULL;
}

json_t *
sql_string(const char *s, size_t len)
{
	if (len > SQL_MAX_VALUE)
		return NULL;
	return json_stringn(s, len);
}

bool
sql_parse_decimal(const char *s, size_t len, double *d)
{
	size_t i = 0, digits = 0;
	char buf[64];

	if (len == 0 || len >= sizeof(buf))
		return false;
	if (s[i] == '+' || s[i] == '-')
		i++;
	for (; i < len && isdigit((unsigned char)s[i]); i++)
		digits++;
	if (i < len && s[i] == '.')
		for (i++; i < len && isdigit((unsigned char)s[i]); i++)
			digits++;
	if (digits == 0)
		return false;
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i == len || !isdigit((unsigned char)s[i]))
			return false;
		while (i < len && isdigit((unsigned char)s[i]))
			i++;
	}
	if (i != len)
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	*d = strtod(buf, NULL);
	return isfinite(*d);
}

bool
sql_to_double(const json_t *v, double *d)
{
	if (json_is_integer(v))
		*d = (double)json_integer_value(v);
	else if (json_is_real(v))
		*d = json_real_value(v);
	else if (json_is_string(v))
		return sql_parse_decimal(json_string_value(v),
		    json_string_length(v), d);
	else
		return false;
	return true;
}

/* The shortest text of d that reads back as d, with a ".0" when it
 * would read as an Int. */
static void
sql_format_decimal(char *buf, size_t cap, double d)
{
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, cap, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	if (strpbrk(buf, ".en") == NULL)
		strncat(buf, ".0", cap - strlen(buf) - 1);
}

static char *
sql_dup(const char *s, size_t len)
{
	char *d = malloc(len + 1);

	if (d == NULL)
		abort();
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

char *
sql_to_text(const json_t *v, size_t *len)
{
	char buf[64];
	char *s;

	switch (json_typeof(v)) {
	case JSON_STRING:
		*len = json_string_length(v);
		return sql_dup(json_string_value(v), *len);
	case JSON_INTEGER:
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		break;
	case JSON_REAL:
		sql_format_decimal(buf, sizeof(buf), json_real_value(v));
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		snprintf(buf, sizeof(buf), "%s",
		    json_is_true(v) ? "true" : "false");
		break;
	case JSON_OBJECT:
	case JSON_ARRAY:
		s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		if (s == NULL)
			abort();
		*len = strlen(s);
		if (*len <= SQL_MAX_VALUE)
			return s;
		free(s);
		return NULL;
	default:
		return NULL;
	}
	*len = strlen(buf);
	return sql_dup(buf, *len);
}

bool
sql_equal(const json_t *a, const json_t *b)
{
	double x, y;

	if (json_is_integer(a) && json_is_integer(b))
		return json_integer_value(a) == json_integer_value(b);
	if (json_is_number(a) && json_is_number(b)) {
		sql_to_double(a, &x);
		sql_to_double(b, &y);
		return x == y;
	}
	return json_equal(a, b);
}

json_t *
sql_normalize(json_t *v)
{
	double d;

	if (!json_is_real(v))
		return v;
	d = json_real_value(v);
	if (d != floor(d) || fabs(d) >= 9.2233720368547758e18)
		return v;
	json_decref(v);
	return json_integer((json_int_t)d);
}

/* "true"/"false" (any case) or a Boolean: 1 or 0; else -1. */
static int
sql_truth(const json_t *v)
{
	if (json_is_boolean(v))
		return json_is_true(v);
	if (json_is_string(v) && strcasecmp(json_string_value(v), "true") == 0)
		return 1;
	if (json_is_string(v) && strcasecmp(json_string_value(v), "false") == 0)
		return 0;
	return -1;
}

/* A double rounded down to an Int; NULL when out of range. */
static json_t *
sql_floor_int(double d)
{
	d = floor(d);
	if (!isfinite(d) || d < -9.2233720368547758e18 ||
	    d >= 9.2233720368547758e18)
		return NULL;
	return json_integer((json_int_t)d);
}

json_t *
sql_cast(const json_t *v, enum sql_type t)
{
	double d;
	char *s;
	size_t len;
	json_t *r;

	if (v == NULL || json_is_null(v))
		return NULL;
	switch (t) {
	case SQL_TYPE_INT:
		if (json_is_integer(v))
			return json_incref((json_t *)v);
		if (json_is_boolean(v))
			return json_integer(json_is_true(v));
		return sql_to_double(v, &d) ? sql_floor_int(d) : NULL;
	case SQL_TYPE_DECIMAL:
		if (json_is_boolean(v))
			return json_real(json_is_true(v) ? 1.0 : 0.0);
		return sql_to_double(v, &d) ? sql_decimal(d) : NULL;
	case SQL_TYPE_BOOLEAN:
		if (json_is_number(v))
			return sql_to_double(v, &d) ? json_boolean(d != 0) : NULL;
		return sql_truth(v) >= 0 ? json_boolean(sql_truth(v)) : NULL;
	case SQL_TYPE_STRING:
		if ((s = sql_to_text(v, &len)) == NULL)
			return NULL;
		r = sql_string(s, len);
		free(s);
		return r;
	}
	return NULL;
}

/* ---- evaluation helpers --------------------------------------------- */

void
sql_eval_fail(struct sql_eval *ev, const struct sql_node *n,
    const char *fmt, ...)
{
	va_list ap;

	if (ev->failed)
		return;
	ev->failed = true;
	if (ev->err == NULL)
		return;
	ev->err->line = n != NULL ? n->line : 0;
	ev->err->column = n != NULL ? n->column : 0;
	va_start(ap, fmt);
	vsnprintf(ev->err->message, sizeof(ev->err->message), fmt, ap);
	va_end(ap);
}

json_t *
sql_eval_payload(struct sql_eval *ev)
{
	const struct strata_sql_input *in = ev->in;

	if (!ev->payload_done) {
		ev->payload_done = true;
		if (in->payload_len > 0)
			ev->payload = json_loadb((const char *)in->payload,
			    in->payload_len, JSON_DECODE_ANY, NULL);
	}
	return ev->payload;
}

/* A member of an object, or Undefined. */
static json_t *
sql_member(json_t *obj, const char *name)
{
	json_t *v = json_object_get(obj, name);

	return v != NULL ? sql_normalize(json_incref(v)) : NULL;
}

static json_t *
sql_eval_index(const json_t *base, const json_t *index)
{
	json_int_t i;

	if (json_is_object(base) && json_is_string(index))
		return sql_member((json_t *)base, json_string_value(index));
	if (!json_is_array(base) || !json_is_integer(index))
		return NULL;
	i = json_integer_value(index);
	if (i < 0 || (size_t)i >= json_array_size(base))
		return NULL;
	return sql_normalize(json_incref(json_array_get(base, (size_t)i)));
}

/* ---- operators ------------------------------------------------------- */

static json_t *
sql_logic(enum sql_op op, const json_t *a, const json_t *b)
{
	int x = sql_truth(a), y = op == SQL_OP_NOT ? 0 : sql_truth(b);

	if (x < 0 || y < 0)
		return NULL;
	if (op == SQL_OP_NOT)
		return json_boolean(!x);
	return json_boolean(op == SQL_OP_AND ? x && y : x || y);
}

/* <, <=, >, >=: numbers, or strings that read as numbers. */
static json_t *
sql_order(enum sql_op op, const json_t *a, const json_t *b)
{
	double x, y;
	int c;

	if (json_is_integer(a) && json_is_integer(b)) {
		c = (json_integer_value(a) > json_integer_value(b)) -
		    (json_integer_value(a) < json_integer_value(b));
	} else if (sql_to_double(a, &x) && sql_to_double(b, &y)) {
		c = (x > y) - (x < y);
	} else {
		return NULL;
	}
	switch (op) {
	case SQL_OP_LT:
		return json_boolean(c < 0);
	case SQL_OP_LE:
		return json_boolean(c <= 0);
	case SQL_OP_GT:
		return json_boolean(c > 0);
	default:
		return json_boolean(c >= 0);
	}
}

static bool
sql_array_has(const json_t *arr, const json_t *v)
{
	size_t i;
	json_t *e;

	json_array_foreach(arr, i, e) {
		if (sql_equal(e, v))
			return true;
	}
	return false;
}

static json_t *
sql_membership(enum sql_op op, const json_t *a, const json_t *b)
{
	const char *hay, *needle;

	if (op == SQL_OP_IN)
		return json_is_array(b) ? json_boolean(sql_array_has(b, a))
		                        : NULL;
	if (json_is_array(a))
		return json_boolean(sql_array_has(a, b));
	if (!json_is_string(a) || !json_is_string(b))
		return NULL;
	hay = json_string_value(a);
	needle = json_string_value(b);
	return json_boolean(memmem(hay, json_string_length(a), needle,
	                        json_string_length(b)) != NULL);
}

/* Int op Int: an Int, or false when it overflows (a Decimal then). */
static bool
sql_int_arith(enum sql_op op, json_int_t x, json_int_t y, json_t **r)
{
	long long z;

	switch (op) {
	case SQL_OP_ADD:
		if (__builtin_add_overflow(x, y, &z))
			return false;
		break;
	case SQL_OP_SUB:
		if (__builtin_sub_overflow(x, y, &z))
			return false;
		break;
	case SQL_OP_MUL:
		if (__builtin_mul_overflow(x, y, &z))
			return false;
		break;
	default: /* DIV, MOD */
		if (y == 0) {
			*r = NULL;
			return true;
		}
		if (y == -1 && x == INT64_MIN)
			return false;
		z = op == SQL_OP_DIV ? x / y : x % y;
		break;
	}
	*r = json_integer(z);
	return true;
}

static json_t *
sql_arith(enum sql_op op, const json_t *a, const json_t *b)
{
	double x, y;
	json_t *r;

	if (json_is_integer(a) && json_is_integer(b) &&
	    sql_int_arith(op, json_integer_value(a), json_integer_value(b),
	        &r))
		return r;
	if (!sql_to_double(a, &x) || !sql_to_double(b, &y))
		return NULL;
	switch (op) {
	case SQL_OP_ADD:
		return sql_decimal(x + y);
	case SQL_OP_SUB:
		return sql_decimal(x - y);
	case SQL_OP_MUL:
		return sql_decimal(x * y);
	case SQL_OP_DIV:
		return y == 0 ? NULL : sql_decimal(x / y);
	default:
		return y == 0 ? NULL : sql_decimal(fmod(x, y));
	}
}

static json_t *
sql_negate(const json_t *a)
{
	double d;

	if (json_is_integer(a) && json_integer_value(a) != INT64_MIN)
		return json_integer(-json_integer_value(a));
	return sql_to_double(a, &d) ? sql_decimal(-d) : NULL;
}

/* A binary operator on two values (either may be Undefined). */
static json_t *
sql_apply(enum sql_op op, const json_t *a, const json_t *b)
{
	if (a == NULL || (b == NULL && op != SQL_OP_NOT && op != SQL_OP_NEG))
		return NULL;
	switch (op) {
	case SQL_OP_OR:
	case SQL_OP_AND:
	case SQL_OP_NOT:
		return sql_logic(op, a, b);
	case SQL_OP_EQ:
		return json_boolean(sql_equal(a, b));
	case SQL_OP_NE:
		return json_boolean(!sql_equal(a, b));
	case SQL_OP_LT:
	case SQL_OP_LE:
	case SQL_OP_GT:
	case SQL_OP_GE:
		return sql_order(op, a, b);
	case SQL_OP_IN:
	case SQL_OP_CONTAINS:
		return sql_membership(op, a, b);
	case SQL_OP_NEG:
		return sql_negate(a);
	default:
		return sql_arith(op, a, b);
	}
}

/* ---- nodes ----------------------------------------------------------- */

static json_t *
sql_eval_attr(struct sql_eval *ev, const struct sql_node *n)
{
	json_t *payload = sql_eval_payload(ev);

	return json_is_object(payload) ? sql_member(payload, n->name) : NULL;
}

static json_t *
sql_eval_operator(struct sql_eval *ev, const struct sql_node *n)
{
	json_t *a = sql_eval_node(ev, n->args[0]);
	json_t *b = n->n_args > 1 ? sql_eval_node(ev, n->args[1]) : NULL;
	json_t *r = ev->failed ? NULL : sql_apply(n->op, a, b);

	json_decref(a);
	json_decref(b);
	return r;
}

static json_t *
sql_eval_case(struct sql_eval *ev, const struct sql_node *n)
{
	size_t i = n->has_subject ? 1 : 0;
	size_t arms_end = n->n_args - (n->has_else ? 1 : 0);
	json_t *subject = n->has_subject ? sql_eval_node(ev, n->args[0]) : NULL;
	json_t *w;
	bool hit = false;

	for (; !ev->failed && !hit && i < arms_end; i += 2) {
		w = sql_eval_node(ev, n->args[i]);
		hit = n->has_subject ? subject != NULL && w != NULL &&
		                           sql_equal(subject, w)
		                     : sql_truth(w) == 1;
		json_decref(w);
	}
	json_decref(subject);
	if (ev->failed)
		return NULL;
	if (hit)
		return sql_eval_node(ev, n->args[i - 1]);
	return n->has_else ? sql_eval_node(ev, n->args[n->n_args - 1]) : NULL;
}

/* Object and array literals: Undefined members and elements are left
 * out, as they are of the output. */
static json_t *
sql_eval_container(struct sql_eval *ev, const struct sql_node *n)
{
	json_t *c = n->kind == SQL_N_OBJECT ? json_object() : json_array();
	json_t *v;

	if (c == NULL)
		abort();
	for (size_t i = 0; i < n->n_args && !ev->failed; i++) {
		if ((v = sql_eval_node(ev, n->args[i])) == NULL)
			continue;
		if (n->kind == SQL_N_OBJECT)
			json_object_set_new(c, n->keys[i], v);
		else
			json_array_append_new(c, v);
	}
	return c;
}

static json_t *
sql_eval_call(struct sql_eval *ev, const struct sql_node *n)
{
	json_t *argv[n->n_args > 0 ? n->n_args : 1];
	json_t *r = NULL;
	bool undefined = false;

	for (size_t i = 0; i < n->n_args; i++) {
		argv[i] = ev->failed ? NULL : sql_eval_node(ev, n->args[i]);
		undefined = undefined || argv[i] == NULL;
	}
	if (!ev->failed && (!undefined || n->func->takes_undefined))
		r = n->func->impl(ev, n, argv, n->n_args);
	for (size_t i = 0; i < n->n_args; i++)
		json_decref(argv[i]);
	return r;
}

static json_t *
sql_eval_access(struct sql_eval *ev, const struct sql_node *n)
{
	json_t *base = sql_eval_node(ev, n->args[0]);
	json_t *index = n->kind == SQL_N_INDEX ? sql_eval_node(ev, n->args[1])
	                                       : NULL;
	json_t *r = NULL;

	if (n->kind == SQL_N_MEMBER && json_is_object(base))
		r = sql_member(base, n->name);
	else if (n->kind == SQL_N_INDEX && index != NULL)
		r = sql_eval_index(base, index);
	json_decref(base);
	json_decref(index);
	return r;
}

static json_t *
sql_eval_cast(struct sql_eval *ev, const struct sql_node *n)
{
	json_t *v = sql_eval_node(ev, n->args[0]);
	json_t *r = sql_cast(v, n->cast);

	json_decref(v);
	return r;
}

json_t *
sql_eval_node(struct sql_eval *ev, const struct sql_node *n)
{
	if (ev->failed)
		return NULL;
	switch (n->kind) {
	case SQL_N_LITERAL:
		return json_incref(n->literal);
	case SQL_N_PAYLOAD:
		return json_incref(sql_eval_payload(ev));
	case SQL_N_ATTR:
		return sql_eval_attr(ev, n);
	case SQL_N_MEMBER:
	case SQL_N_INDEX:
		return sql_eval_access(ev, n);
	case SQL_N_UNARY:
	case SQL_N_BINARY:
		return sql_eval_operator(ev, n);
	case SQL_N_CASE:
		return sql_eval_case(ev, n);
	case SQL_N_OBJECT:
	case SQL_N_ARRAY:
		return sql_eval_container(ev, n);
	case SQL_N_CALL:
		return sql_eval_call(ev, n);
	case SQL_N_CAST:
		return sql_eval_cast(ev, n);
	case SQL_N_MERGE:
		break; /* never in a tree: the parser takes it apart */
	}
	return NULL;
}

/* ---- statements ------------------------------------------------------ */

static void
sql_eval_init(struct sql_eval *ev, const struct strata_sql_input *in,
    struct strata_sql_error *err)
{
	memset(ev, 0, sizeof(*ev));
	ev->in = in;
	ev->err = err;
	if (err != NULL)
		memset(err, 0, sizeof(*err));
	if (in->payload_len > STRATA_SQL_MAX_PAYLOAD)
		sql_eval_fail(ev, NULL, "the payload is over %d bytes",
		    STRATA_SQL_MAX_PAYLOAD);
}

/* One SELECT item into doc; a bare '*' of a payload that is not a JSON
 * object sets *raw instead (used when it is the only item). */
static void
sql_select_item(struct sql_eval *ev, const struct sql_item *it,
    json_t *doc, bool *raw)
{
	json_t *v;

	v = it->expr != NULL ? sql_eval_node(ev, it->expr)
	                     : json_incref(sql_eval_payload(ev));
	if (it->merge && json_is_object(v))
		json_object_update(doc, v);
	else if (it->merge && it->expr == NULL)
		*raw = true;
	else if (!it->merge && v != NULL)
		json_object_set(doc, it->name, v);
	json_decref(v);
}

static enum strata_sql_result
sql_select(const struct strata_sql *sql, struct sql_eval *ev,
    struct strata_sql_output *out)
{
	json_t *doc = json_object();
	bool raw = false;

	if (doc == NULL)
		abort();
	for (size_t i = 0; i < sql->n_items && !ev->failed; i++)
		sql_select_item(ev, &sql->items[i], doc, &raw);
	if (ev->failed) {
		json_decref(doc);
		return STRATA_SQL_FAILED;
	}
	if (raw && sql->n_items == 1) {
		json_decref(doc);
		out->raw = ev->in->payload;
		out->raw_len = ev->in->payload_len;
		return STRATA_SQL_SELECTED;
	}
	out->doc = doc;
	return STRATA_SQL_SELECTED;
}

enum strata_sql_result
strata_sql_eval(const struct strata_sql *sql,
    const struct strata_sql_input *in, struct strata_sql_output *out,
    struct strata_sql_error *err)
{
	struct sql_eval ev;
	enum strata_sql_result r = STRATA_SQL_FILTERED;
	json_t *cond = NULL;

	memset(out, 0, sizeof(*out));
	sql_eval_init(&ev, in, err);
	if (!ev.failed && sql->where != NULL)
		cond = sql_eval_node(&ev, sql->where);
	if (ev.failed)
		r = STRATA_SQL_FAILED;
	else if (sql->where == NULL || sql_truth(cond) == 1)
		r = sql_select(sql, &ev, out);
	json_decref(cond);
	json_decref(ev.payload);
	return r;
}

void
strata_sql_output_clear(struct strata_sql_output *out)
{
	json_decref(out->doc);
	memset(out, 0, sizeof(*out));
}

/* ---- templates ------------------------------------------------------- */

struct sql_buf {
	char *p;
	size_t len, cap;
};

static bool
sql_buf_add(struct sql_buf *b, const char *s, size_t n)
{
	if (n > SQL_MAX_VALUE - b->len)
		return false;
	if (b->len + n + 1 > b->cap) {
		b->cap = 2 * (b->len + n + 1);
		b->p = realloc(b->p, b->cap);
		if (b->p == NULL)
			abort();
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return true;
}

/* A value as a template renders it: text as itself, null as "null",
 * Undefined as nothing, anything else as its (compact JSON) text. */
static bool
sql_render_value(struct sql_buf *b, const json_t *v)
{
	char *s;
	size_t len;
	bool ok;

	if (v == NULL)
		return true;
	if (json_is_null(v))
		return sql_buf_add(b, "null", 4);
	if ((s = sql_to_text(v, &len)) == NULL)
		return false;
	ok = sql_buf_add(b, s, len);
	free(s);
	return ok;
}

static bool
sql_render_part(struct sql_eval *ev, const struct sql_part *part,
    struct sql_buf *b)
{
	json_t *v;
	bool ok;

	if (part->expr == NULL)
		return sql_buf_add(b, part->text, part->len);
	v = sql_eval_node(ev, part->expr);
	ok = ev->failed || sql_render_value(b, v);
	json_decref(v);
	if (!ok)
		sql_eval_fail(ev, part->expr, "the rendered text is over %d "
		                              "bytes", SQL_MAX_VALUE);
	return !ev->failed;
}

char *
strata_sql_template_render(const struct strata_sql_template *t,
    const struct strata_sql_input *in, size_t *len,
    struct strata_sql_error *err)
{
	struct sql_buf b = {NULL, 0, 0};
	struct sql_eval ev;

	sql_eval_init(&ev, in, err);
	sql_buf_add(&b, "", 0);
	for (size_t i = 0; i < t->n_parts && !ev.failed; i++)
		sql_render_part(&ev, &t->parts[i], &b);
	json_decref(ev.payload);
	if (ev.failed) {
		free(b.p);
		return NULL;
	}
	if (len != NULL)
		*len = b.len;
	return b.p;
}
