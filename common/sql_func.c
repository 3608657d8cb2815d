/*
 * sql_func.c - the functions of the rules SQL, and their table (name,
 * number of arguments, implementation).
 *
 * A function's arguments are converted by the type rules of
 * sql_eval.c: a function that wants text takes an Int, a Decimal, a
 * Boolean, an Array or an Object as its text (sql_to_text), one that
 * wants a number takes a String that reads as one.  A value the
 * function cannot use makes its result Undefined, as on AWS.  Strings
 * are counted in Unicode code points (substring, length, indexof, get).
 *
 * Regular expressions are PCRE2 (UTF mode).  A pattern that is a literal
 * of the statement is compiled once when the statement is parsed (a bad
 * one is a parse error); any other is compiled per evaluation, at most
 * SQL_MAX_DYNAMIC_PATTERN bytes.  Every match runs under PCRE2's match,
 * depth and heap limits: a pattern that runs away fails the evaluation.
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <openssl/evp.h>
#include <pcre2.h>

#include "sql-t.h"
#include "uuid.h"

/* ---- argument helpers ----------------------------------------------- */

struct sql_text {
	char *p;
	size_t len;
};

/* argv[0..n) as text, all or none (false: some is Null). */
static bool
fn_texts(json_t **argv, size_t n, struct sql_text *t)
{
	for (size_t i = 0; i < n; i++) {
		t[i].p = sql_to_text(argv[i], &t[i].len);
		if (t[i].p == NULL) {
			while (i-- > 0)
				free(t[i].p);
			return false;
		}
	}
	return true;
}

static void
fn_texts_free(struct sql_text *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(t[i].p);
}

/* An argument as an Int (a Decimal or numeric String rounded down). */
static bool
fn_int(const json_t *v, int64_t *i)
{
	json_t *c = sql_cast(v, SQL_TYPE_INT);

	if (c == NULL || json_is_boolean(v))
		return json_decref(c), false;
	*i = json_integer_value(c);
	json_decref(c);
	return true;
}

/* A String result of len bytes; over SQL_MAX_VALUE fails the
 * evaluation.  Consumes s. */
static json_t *
fn_result(struct sql_eval *ev, const struct sql_node *call, char *s,
    size_t len)
{
	json_t *r = NULL;

	if (len > SQL_MAX_VALUE)
		sql_eval_fail(ev, call, "the result of '%s' is over %d bytes",
		    call->func->name, SQL_MAX_VALUE);
	else
		r = sql_string(s, len);
	free(s);
	return r;
}

static char *
fn_alloc(size_t n)
{
	char *p = malloc(n + 1);

	if (p == NULL)
		abort();
	return p;
}

/* Byte offset of code point k of s (len bytes), clamped to len. */
static size_t
fn_utf8_offset(const char *s, size_t len, int64_t k)
{
	size_t i = 0;

	for (; i < len && k > 0; k--)
		for (i++; i < len && ((unsigned char)s[i] & 0xC0) == 0x80; i++)
			;
	return i;
}

static int64_t
fn_utf8_count(const char *s, size_t len)
{
	int64_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xC0) != 0x80;
	return n;
}

/* ---- message ----------------------------------------------------------*/

static json_t *
fn_topic(struct sql_eval *ev, const struct sql_node *call, json_t **argv,
    size_t argc)
{
	const char *t = ev->in->topic, *end, *slash;
	int64_t level;

	if (t == NULL)
		return NULL;
	end = t + ev->in->topic_len;
	if (argc == 0)
		return sql_string(t, ev->in->topic_len);
	if (!fn_int(argv[0], &level) || level < 1)
		return NULL;
	for (; level > 1; level--) {
		if ((slash = memchr(t, '/', (size_t)(end - t))) == NULL)
			return NULL;
		t = slash + 1;
	}
	slash = memchr(t, '/', (size_t)(end - t));
	return sql_string(t, (size_t)((slash ? slash : end) - t));
}

static json_t *
fn_input_string(const char *s)
{
	return s != NULL ? sql_string(s, strlen(s)) : NULL;
}

static json_t *
fn_clientid(struct sql_eval *ev, const struct sql_node *call, json_t **argv,
    size_t argc)
{
	return fn_input_string(ev->in->client_id);
}

static json_t *
fn_principal(struct sql_eval *ev, const struct sql_node *call,
    json_t **argv, size_t argc)
{
	return fn_input_string(ev->in->principal);
}

static json_t *
fn_traceid(struct sql_eval *ev, const struct sql_node *call, json_t **argv,
    size_t argc)
{
	return fn_input_string(ev->in->trace_id);
}

static json_t *
fn_timestamp(struct sql_eval *ev, const struct sql_node *call,
    json_t **argv, size_t argc)
{
	return json_integer(ev->in->timestamp_ms);
}

/* A random (version 4) UUID. */
static json_t *
fn_newuuid(struct sql_eval *ev, const struct sql_node *call, json_t **argv,
    size_t argc)
{
	char s[STRATA_UUID_LEN + 1];

	strata_uuid4(s);
	return json_stringn(s, STRATA_UUID_LEN);
}

/* The stored shadow, as the caller's callback gives it. */
static json_t *
fn_get_thing_shadow(struct sql_eval *ev, const struct sql_node *call,
    json_t **argv, size_t argc)
{
	const struct strata_sql_input *in = ev->in;

	if (in->get_thing_shadow == NULL || !json_is_string(argv[0]) ||
	    !json_is_string(argv[1]) ||
	    (argc > 2 && !json_is_string(argv[2])))
		return NULL;
	return in->get_thing_shadow(in->arg, json_string_value(argv[0]),
	    argc > 2 ? json_string_value(argv[2]) : NULL);
}

/* ---- base64 ------------------------------------------------------------*/

static const char fn_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *
fn_base64_encode(const unsigned char *p, size_t len, size_t *out_len)
{
	char *o = fn_alloc((len + 2) / 3 * 4);
	size_t n = 0;
	uint32_t w;

	for (size_t i = 0; i < len; i += 3) {
		w = (uint32_t)p[i] << 16;
		if (i + 1 < len)
			w |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			w |= p[i + 2];
		o[n++] = fn_b64[w >> 18 & 63];
		o[n++] = fn_b64[w >> 12 & 63];
		o[n++] = i + 1 < len ? fn_b64[w >> 6 & 63] : '=';
		o[n++] = i + 2 < len ? fn_b64[w & 63] : '=';
	}
	*out_len = n;
	return o;
}

/* Standard alphabet, padding optional; NULL when not base64. */
static char *
fn_base64_decode(const char *s, size_t len, size_t *out_len)
{
	char *o;
	const char *c;
	uint32_t w = 0;
	size_t n = 0, bits = 0;

	while (len > 0 && s[len - 1] == '=' && len % 4 != 1)
		len--;
	if (len % 4 == 1)
		return NULL;
	o = fn_alloc(len / 4 * 3 + 3);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\0' || (c = strchr(fn_b64, s[i])) == NULL) {
			free(o);
			return NULL;
		}
		w = w << 6 | (uint32_t)(c - fn_b64);
		if ((bits += 6) >= 8) {
			bits -= 8;
			o[n++] = (char)(w >> bits & 0xFF);
		}
	}
	*out_len = n;
	return o;
}

/* encode(value, 'base64'): '*' is the payload's raw bytes (JSON or
 * not: it takes Undefined for that), anything else its text. */
static json_t *
fn_encode(struct sql_eval *ev, const struct sql_node *call, json_t **argv,
    size_t argc)
{
	struct sql_text t;
	size_t len;
	char *o;

	if (!json_is_string(argv[1]) ||
	    strcmp(json_string_value(argv[1]), "base64") != 0)
		return NULL;
	if (call->args[0]->kind == SQL_N_PAYLOAD) {
		o = fn_base64_encode(ev->in->payload, ev->in->payload_len, &len);
		return fn_result(ev, call, o, len);
	}
	if (argv[0] == NULL || !fn_texts(argv, 1, &t))
		return NULL;
	if (t.len > SQL_MAX_VALUE) {
		free(t.p);
		return NULL;
	}
	o = fn_base64_encode((const unsigned char *)t.p, t.len, &len);
	free(t.p);
	return fn_result(ev, call, o, len);
}

/* decode(value, 'base64'): the decoded bytes as a String (Undefined
 * when they are not UTF-8). */
static json_t *
fn_decode(struct sql_eval *ev, const struct sql_node *call, json_t **argv,
    size_t argc)
{
	size_t len;
	char *o;

	if (!json_is_string(argv[0]) || !json_is_string(argv[1]) ||
	    strcmp(json_string_value(argv[1]), "base64") != 0)
		return NULL;
	o = fn_base64_decode(json_string_value(argv[0]),
	    json_string_length(argv[0]), &len);
	return o != NULL ? fn_result(ev, call, o, len) : NULL;
}

/* ---- numbers ----------------------------------------------------------*/

/* d as an Int when it is whole and in range, else NULL. */
static json_t *
fn_whole(double d)
{
	if (!isfinite(d) || d < -9.2233720368547758e18 ||
	    d >= 9.2233720368547758e18)
		return NULL;
	return json_integer((json_int_t)d);
}

static json_t *
fn_abs(struct sql_eval *ev, const struct sql_node *call, json_t **argv,
    size_t argc)
{
	double d;

	if (json_is_integer(argv[0]) && json_integer_value(argv[0]) != INT64_MIN)
		return json_integer(llabs(json_integer_value(argv[0])));
	return sql_to_double(argv[0], &d) ? sql_decimal(fabs(d)) : NULL;
}

/* ceil, floor, round: an Int stays; a Decimal becomes an Int. */
static json_t *
fn_rounding(json_t *v, double (*f)(double))
{
	double d;

	if (json_is_integer(v))
		return json_incref(v);
	return sql_to_double(v, &d) ? fn_whole(f(d)) : NULL;
}

static json_t *
fn_ceil(struct sql_eval *ev, const struct sql_node *call, json_t **argv,
    size_t argc)
{
	return fn_rounding(argv[0], ceil);
}

static json_t *
fn_floor(struct sql_eval *ev, const struct sql_node *call, json_t **argv,
    size_t argc)
{
	return fn_rounding(argv[0], floor);
}

static json_t *
fn_round(struct sql_eval *ev, const struct sql_node *call, json_t **argv,
    size_t argc)
{
	return fn_rounding(argv[0], round);
}

/* sqrt, ln, log, power: Decimal (Undefined outside the domain). */
static json_t *
fn_real(json_t **argv, size_t argc, double (*f1)(double),
    double (*f2)(double, double))
{
	double x, y = 0;

	if (!sql_to_double(argv[0], &x) ||
	    (argc > 1 && !sql_to_double(argv[1], &y)))
		return NULL;
	return sql_decimal(f2 != NULL ? f2(x, y) : f1(x));
}

static json_t *
fn_sqrt(struct sql_eval *ev, const struct sql_node *call, json_t **argv,
    size_t argc)
{
	return fn_real(argv, 1, sqrt, NULL);
}

static json_t *
fn_ln(struct sql_eval *ev, const struct sql_node *call, json_t **argv,
    size_t argc)
{
	return fn_real(argv, 1, log, NULL);
}

static json_t *
fn_log(struct sql_eval *ev, const struct sql_node *call, json_t **argv,
    size_t argc)
{
	return fn_real(argv, 1, log10, NULL);
}

static json_t *
fn_power(struct sql_eval *ev, const struct sql_node *call, json_t **argv,
    size_t argc)
{
	return fn_real(argv, 2, NULL, pow);
}

/* mod(a, b): as a % b (Int for Ints, the sign of a; 0: Undefined). */
static json_t *
fn_mod(struct sql_eval *ev, const struct sql_node *call, json_t **argv,
    size_t argc)
{
	json_int_t a, b;
	double x, y;

	if (json_is_integer(argv[0]) && json_is_integer(argv[1])) {
		a = json_integer_value(argv[0]);
		b = json_integer_value(argv[1]);
		if (b == 0)
			return NULL;
		return json_integer(b == -1 ? 0 : a % b);
	}
	if (!sql_to_double(argv[0], &x) || !sql_to_double(argv[1], &y) ||
	    y == 0)
		return NULL;
	return sql_decimal(fmod(x, y));
}

/* ---- strings ----------------------------------------------------------*/

/* lower, upper: ASCII letters only (UTF-8 sequences are kept). */
static json_t *
fn_case(struct sql_eval *ev, const struct sql_node *call, json_t **argv,
    int (*f)(int))
{
	struct sql_text t;

	if (!fn_texts(argv, 1, &t))
		return NULL;
	for (size_t i = 0; i < t.len; i++)
		if ((unsigned char)t.p[i] < 0x80)
			t.p[i] = (char)f((unsigned char)t.p[i]);
	return fn_result(ev, call, t.p, t.len);
}

static json_t *
fn_lower(struct sql_eval *ev, const struct sql_node *call, json_t **argv,
    size_t argc)
{
	return fn_case(ev, call, argv, tolower);
}

static json_t *
fn_upper(struct sql_eval *ev, const struct sql_node *call, json_t **argv,
    size_t argc)
{
	return fn_case(ev, call, argv, toupper);
}

/* trim, ltrim, rtrim: bytes up to ' ' (spaces and controls) off the
 * chosen ends. */
static json_t *
fn_trim_ends(struct sql_eval *ev, const struct sql_node *call,
    json_t **argv, bool left, bool right)
{
	struct sql_text t;
	size_t a = 0, b;

	if (!fn_texts(argv, 1, &t))
		return NULL;
	b = t.len;
	while (left && a < b && (unsigned char)t.p[a] <= ' ')
		a++;
	while (right && b > a && (unsigned char)t.p[b - 1] <= ' ')
		b--;
	memmove(t.p, t.p + a, b - a);
	return fn_result(ev, call, t.p, b - a);
}

static json_t *
fn_trim(struct sql_eval *ev, const struct sql_node *call, json_t **argv,
    size_t argc)
{
	return fn_trim_ends(ev, call, argv, true, true);
}

static json_t *
fn_ltrim(struct sql_eval *ev, const struct sql_node *call, json_t **argv,
    size_t argc)
{
	return fn_trim_ends(ev, call, argv, true, false);
}

static json_t *
fn_rtrim(struct sql_eval *ev, const struct sql_node *call, json_t **argv,
    size_t argc)
{
	return fn_trim_ends(ev, call, argv, false, true);
}

static json_t *
fn_length(struct sql_eval *ev, const struct sql_node *call, json_t **argv,
    size_t argc)
{
	struct sql_text t;
	int64_t n;

	if (!fn_texts(argv, 1, &t))
		return NULL;
	n = fn_utf8_count(t.p, t.len);
	free(t.p);
	return json_integer(n);
}

/* substring(s, start[, end]): code points [start, end), both clamped to
 * the string; end before start: "". */
static json_t *
fn_substring(struct sql_eval *ev, const struct sql_node *call,
    json_t **argv, size_t argc)
{
	struct sql_text t;
	int64_t start, end = INT64_MAX;
	size_t a, b;

	if (!fn_int(argv[1], &start) || (argc > 2 && !fn_int(argv[2], &end)) ||
	    !fn_texts(argv, 1, &t))
		return NULL;
	a = fn_utf8_offset(t.p, t.len, start < 0 ? 0 : start);
	b = fn_utf8_offset(t.p, t.len, end < 0 ? 0 : end);
	if (b < a)
		b = a;
	memmove(t.p, t.p + a, b - a);
	return fn_result(ev, call, t.p, b - a);
}

/* startswith, endswith, indexof: two texts. */
static json_t *
fn_find(json_t **argv, int which)
{
	struct sql_text t[2];
	const char *hit;
	json_t *r;

	if (!fn_texts(argv, 2, t))
		return NULL;
	if (which == 0)
		r = json_boolean(t[0].len >= t[1].len &&
		                 memcmp(t[0].p, t[1].p, t[1].len) == 0);
	else if (which == 1)
		r = json_boolean(t[0].len >= t[1].len &&
		                 memcmp(t[0].p + t[0].len - t[1].len, t[1].p,
		                     t[1].len) == 0);
	else if ((hit = memmem(t[0].p, t[0].len, t[1].p, t[1].len)) == NULL)
		r = json_integer(-1);
	else
		r = json_integer(fn_utf8_count(t[0].p, (size_t)(hit - t[0].p)));
	fn_texts_free(t, 2);
	return r;
}

static json_t *
fn_startswith(struct sql_eval *ev, const struct sql_node *call,
    json_t **argv, size_t argc)
{
	return fn_find(argv, 0);
}

static json_t *
fn_endswith(struct sql_eval *ev, const struct sql_node *call,
    json_t **argv, size_t argc)
{
	return fn_find(argv, 1);
}

static json_t *
fn_indexof(struct sql_eval *ev, const struct sql_node *call, json_t **argv,
    size_t argc)
{
	return fn_find(argv, 2);
}

/* Append n bytes to o (cap grown); false past SQL_MAX_VALUE. */
static bool
fn_append(char **o, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (n > SQL_MAX_VALUE - *len)
		return false;
	if (*len + n + 1 > *cap) {
		*cap = 2 * (*len + n + 1);
		if ((*o = realloc(*o, *cap)) == NULL)
			abort();
	}
	memcpy(*o + *len, s, n);
	*len += n;
	return true;
}

/* Every occurrence of t[1] in t[0] replaced by t[2]; an empty t[1]
 * matches before each code point and at the end. */
static bool
fn_replace_all(struct sql_text *t, char **o, size_t *len)
{
	size_t cap = 0, i = 0, step;
	const char *hit;
	bool ok = true;

	*o = NULL;
	*len = 0;
	ok = fn_append(o, len, &cap, "", 0);
	while (ok && i <= t[0].len) {
		hit = t[1].len == 0 ? t[0].p + i
		                    : memmem(t[0].p + i, t[0].len - i, t[1].p,
		                          t[1].len);
		if (hit == NULL)
			break;
		ok = fn_append(o, len, &cap, t[0].p + i,
		         (size_t)(hit - t[0].p) - i) &&
		     fn_append(o, len, &cap, t[2].p, t[2].len);
		i = (size_t)(hit - t[0].p) + t[1].len;
		if (t[1].len == 0 && i < t[0].len) {
			step = fn_utf8_offset(t[0].p + i, t[0].len - i, 1);
			ok = ok && fn_append(o, len, &cap, t[0].p + i, step);
			i += step;
		} else if (t[1].len == 0) {
			i++;
		}
	}
	if (ok && i < t[0].len)
		ok = fn_append(o, len, &cap, t[0].p + i, t[0].len - i);
	return ok;
}

static json_t *
fn_replace(struct sql_eval *ev, const struct sql_node *call, json_t **argv,
    size_t argc)
{
	struct sql_text t[3];
	char *o;
	size_t len;
	bool ok;

	if (!fn_texts(argv, 3, t))
		return NULL;
	ok = fn_replace_all(t, &o, &len);
	fn_texts_free(t, 3);
	return fn_result(ev, call, o, ok ? len : SIZE_MAX);
}

/* concat(v, ...): an Array when any argument is one (arrays spliced,
 * other values appended), else the texts joined. */
static json_t *
fn_concat_array(struct sql_eval *ev, const struct sql_node *call,
    json_t **argv, size_t argc)
{
	json_t *a = json_array();

	if (a == NULL)
		abort();
	for (size_t i = 0; i < argc; i++) {
		if (json_is_array(argv[i]))
			json_array_extend(a, argv[i]);
		else
			json_array_append(a, argv[i]);
		if (json_array_size(a) > SQL_MAX_VALUE) {
			json_decref(a);
			sql_eval_fail(ev, call, "the result of 'concat' is "
			                        "over %d elements", SQL_MAX_VALUE);
			return NULL;
		}
	}
	return a;
}

static json_t *
fn_concat(struct sql_eval *ev, const struct sql_node *call, json_t **argv,
    size_t argc)
{
	struct sql_text t;
	char *o = NULL;
	size_t len = 0, cap = 0;
	bool ok = fn_append(&o, &len, &cap, "", 0);

	for (size_t i = 0; i < argc; i++)
		if (json_is_array(argv[i])) {
			free(o);
			return fn_concat_array(ev, call, argv, argc);
		}
	for (size_t i = 0; ok && i < argc; i++) {
		if (!fn_texts(argv + i, 1, &t)) {
			free(o);
			return NULL;
		}
		ok = fn_append(&o, &len, &cap, t.p, t.len);
		free(t.p);
	}
	return fn_result(ev, call, o, ok ? len : SIZE_MAX);
}

/* ---- regular expressions ----------------------------------------------*/

static pcre2_code *
fn_regex_compile(const char *pattern, size_t len, char *msg, size_t cap)
{
	int code;
	PCRE2_SIZE offset;
	PCRE2_UCHAR text[128];
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, len, PCRE2_UTF,
	    &code, &offset, NULL);

	if (re == NULL) {
		pcre2_get_error_message(code, text, sizeof(text));
		snprintf(msg, cap, "invalid regular expression at offset %zu: "
		                   "%s", (size_t)offset, (const char *)text);
	}
	return re;
}

/* prepare: a literal pattern (the second argument) compiled once. */
static int
fn_regex_prepare(struct sql_node *call, struct strata_sql_error *err)
{
	const struct sql_node *a = call->args[1];
	char msg[200];

	if (a->kind != SQL_N_LITERAL || !json_is_string(a->literal))
		return 0;
	call->compiled = fn_regex_compile(json_string_value(a->literal),
	    json_string_length(a->literal), msg, sizeof(msg));
	if (call->compiled != NULL)
		return 0;
	if (err != NULL) {
		err->line = a->line;
		err->column = a->column;
		snprintf(err->message, sizeof(err->message), "%s", msg);
	}
	return -1;
}

void
sql_func_release(struct sql_node *call)
{
	pcre2_code_free(call->compiled);
	call->compiled = NULL;
}

/* The pattern of a call: the one compiled at parse time, or the text
 * text of argv[1] compiled now (*owned: the caller frees it). */
static pcre2_code *
fn_regex(struct sql_eval *ev, const struct sql_node *call, json_t *pattern,
    bool *owned)
{
	struct sql_text t;
	char msg[200];
	pcre2_code *re;

	*owned = false;
	if (call->compiled != NULL)
		return call->compiled;
	if (!fn_texts(&pattern, 1, &t))
		return NULL;
	if (t.len > SQL_MAX_DYNAMIC_PATTERN) {
		free(t.p);
		sql_eval_fail(ev, call, "a regular expression that is not a "
		                        "literal is over %d bytes",
		    SQL_MAX_DYNAMIC_PATTERN);
		return NULL;
	}
	re = fn_regex_compile(t.p, t.len, msg, sizeof(msg));
	free(t.p);
	if (re == NULL)
		sql_eval_fail(ev, call, "%s", msg);
	*owned = re != NULL;
	return re;
}

static pcre2_match_context *
fn_match_context(void)
{
	pcre2_match_context *mc = pcre2_match_context_create(NULL);

	if (mc == NULL)
		abort();
	pcre2_set_match_limit(mc, SQL_REGEX_MATCH_LIMIT);
	pcre2_set_depth_limit(mc, SQL_REGEX_DEPTH_LIMIT);
	pcre2_set_heap_limit(mc, SQL_REGEX_HEAP_LIMIT_KB);
	return mc;
}

/* A PCRE2 result that is neither a match nor "no match" fails the
 * evaluation; returns whether rc is a match. */
static bool
fn_regex_rc(struct sql_eval *ev, const struct sql_node *call, int rc)
{
	PCRE2_UCHAR text[128];

	if (rc >= 0 || rc == PCRE2_ERROR_NOMATCH)
		return rc >= 0;
	pcre2_get_error_message(rc, text, sizeof(text));
	sql_eval_fail(ev, call, "'%s' failed: %s", call->func->name,
	    (const char *)text);
	return false;
}

/* regexp_matches (which 0) and regexp_substr (1): the first match. */
static json_t *
fn_regex_find(struct sql_eval *ev, const struct sql_node *call,
    json_t **argv, int which)
{
	struct sql_text t;
	bool owned, hit;
	pcre2_code *re = fn_regex(ev, call, argv[1], &owned);
	pcre2_match_context *mc;
	pcre2_match_data *md;
	PCRE2_SIZE *ov;
	json_t *r;

	if (re == NULL || !fn_texts(argv, 1, &t)) {
		if (owned)
			pcre2_code_free(re);
		return NULL;
	}
	mc = fn_match_context();
	md = pcre2_match_data_create_from_pattern(re, NULL);
	hit = fn_regex_rc(ev, call, pcre2_match(re, (PCRE2_SPTR)t.p, t.len, 0,
	                                0, md, mc));
	ov = pcre2_get_ovector_pointer(md);
	if (which == 0)
		r = json_boolean(hit);
	else
		r = hit ? sql_string(t.p + ov[0], ov[1] - ov[0])
		        : json_string("");
	pcre2_match_data_free(md);
	pcre2_match_context_free(mc);
	if (owned)
		pcre2_code_free(re);
	free(t.p);
	return ev->failed ? (json_decref(r), NULL) : r;
}

static json_t *
fn_regexp_matches(struct sql_eval *ev, const struct sql_node *call,
    json_t **argv, size_t argc)
{
	return fn_regex_find(ev, call, argv, 0);
}

static json_t *
fn_regexp_substr(struct sql_eval *ev, const struct sql_node *call,
    json_t **argv, size_t argc)
{
	return fn_regex_find(ev, call, argv, 1);
}

/* Substitute every match of re in t[0] by t[2] (PCRE2's $n syntax);
 * the output grows once to what PCRE2 says it needs. */
static json_t *
fn_substitute(struct sql_eval *ev, const struct sql_node *call,
    pcre2_code *re, struct sql_text *t)
{
	pcre2_match_context *mc = fn_match_context();
	PCRE2_SIZE cap = t[0].len + t[2].len + 64, len;
	char *o = NULL;
	int rc = 0;

	for (int round = 0; round < 2; round++) {
		if (cap > SQL_MAX_VALUE + 1)
			break;
		o = realloc(o, cap);
		if (o == NULL)
			abort();
		len = cap;
		rc = pcre2_substitute(re, (PCRE2_SPTR)t[0].p, t[0].len, 0,
		    PCRE2_SUBSTITUTE_GLOBAL | PCRE2_SUBSTITUTE_OVERFLOW_LENGTH,
		    NULL, mc, (PCRE2_SPTR)t[2].p, t[2].len, (PCRE2_UCHAR *)o,
		    &len);
		if (rc != PCRE2_ERROR_NOMEMORY)
			break;
		cap = len;
	}
	pcre2_match_context_free(mc);
	if (cap > SQL_MAX_VALUE + 1)
		return fn_result(ev, call, o, SIZE_MAX);
	if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
		free(o);
		fn_regex_rc(ev, call, rc);
		return NULL;
	}
	return fn_result(ev, call, o, len);
}

static json_t *
fn_regexp_replace(struct sql_eval *ev, const struct sql_node *call,
    json_t **argv, size_t argc)
{
	struct sql_text t[3];
	bool owned;
	pcre2_code *re = fn_regex(ev, call, argv[1], &owned);
	json_t *r = NULL;

	if (re != NULL && fn_texts(argv, 3, t)) {
		r = fn_substitute(ev, call, re, t);
		fn_texts_free(t, 3);
	}
	if (owned)
		pcre2_code_free(re);
	return r;
}

/* ---- types ------------------------------------------------------------*/

static json_t *
fn_is(json_t *v, int type)
{
	if (type < 0)
		return json_boolean(v == NULL);
	if (type == JSON_INTEGER)
		return json_boolean(json_is_number(v));
	if (type == JSON_TRUE)
		return json_boolean(json_is_boolean(v));
	return json_boolean(v != NULL && (int)json_typeof(v) == type);
}

#define FN_IS(name, type)                                                     \
	static json_t *fn_##name(struct sql_eval *ev,                         \
	    const struct sql_node *call, json_t **argv, size_t argc)          \
	{                                                                     \
		return fn_is(argv[0], type);                                  \
	}
FN_IS(isUndefined, -1)
FN_IS(isNull, JSON_NULL)
FN_IS(isString, JSON_STRING)
FN_IS(isNumber, JSON_INTEGER)
FN_IS(isBoolean, JSON_TRUE)
FN_IS(isObject, JSON_OBJECT)
FN_IS(isArray, JSON_ARRAY)

/* get(array, index), get(object, key), get(string, index). */
static json_t *
fn_get(struct sql_eval *ev, const struct sql_node *call, json_t **argv,
    size_t argc)
{
	const char *s;
	size_t len, a, b;
	int64_t i;

	if (json_is_object(argv[0]))
		return json_is_string(argv[1])
		           ? sql_normalize(json_incref(json_object_get(argv[0],
		                 json_string_value(argv[1]))))
		           : NULL;
	if (!fn_int(argv[1], &i) || i < 0)
		return NULL;
	if (json_is_array(argv[0]))
		return sql_normalize(
		    json_incref(json_array_get(argv[0], (size_t)i)));
	if (!json_is_string(argv[0]))
		return NULL;
	s = json_string_value(argv[0]);
	len = json_string_length(argv[0]);
	a = fn_utf8_offset(s, len, i);
	b = fn_utf8_offset(s, len, i + 1);
	return a < b ? sql_string(s + a, b - a) : NULL;
}

/* ---- hashes -----------------------------------------------------------*/

static json_t *
fn_digest(json_t **argv, const EVP_MD *md)
{
	struct sql_text t;
	unsigned char h[EVP_MAX_MD_SIZE];
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	unsigned n = 0;

	if (!fn_texts(argv, 1, &t))
		return NULL;
	if (EVP_Digest(t.p, t.len, h, &n, md, NULL) != 1)
		abort();
	free(t.p);
	for (unsigned i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	return json_stringn(hex, 2 * n);
}

static json_t *
fn_md5(struct sql_eval *ev, const struct sql_node *call, json_t **argv,
    size_t argc)
{
	return fn_digest(argv, EVP_md5());
}

static json_t *
fn_sha1(struct sql_eval *ev, const struct sql_node *call, json_t **argv,
    size_t argc)
{
	return fn_digest(argv, EVP_sha1());
}

static json_t *
fn_sha256(struct sql_eval *ev, const struct sql_node *call, json_t **argv,
    size_t argc)
{
	return fn_digest(argv, EVP_sha256());
}

/* ---- time (sql_time.c) -----------------------------------------------*/

static json_t *
fn_parse_time(struct sql_eval *ev, const struct sql_node *call,
    json_t **argv, size_t argc)
{
	return sql_time_format(argv, argc);
}

static json_t *
fn_time_to_epoch(struct sql_eval *ev, const struct sql_node *call,
    json_t **argv, size_t argc)
{
	return sql_time_parse(argv);
}

/* ---- the table --------------------------------------------------------*/

#define FN(name, lo, hi) {#name, lo, hi, false, fn_##name, NULL}
#define FN_ANY(name) {#name, 1, 1, true, fn_##name, NULL}
#define FN_RE(name, lo, hi) {#name, lo, hi, false, fn_##name, fn_regex_prepare}

static const struct sql_func sql_funcs[] = {
    FN(topic, 0, 1), FN(clientid, 0, 0), FN(principal, 0, 0),
    FN(timestamp, 0, 0), FN(newuuid, 0, 0), FN(traceid, 0, 0),
    FN(get_thing_shadow, 2, 3),
    {"encode", 2, 2, true, fn_encode, NULL}, FN(decode, 2, 2),
    FN(abs, 1, 1), FN(ceil, 1, 1), FN(floor, 1, 1), FN(round, 1, 1),
    FN(mod, 2, 2), FN(power, 2, 2), FN(sqrt, 1, 1), FN(ln, 1, 1),
    FN(log, 1, 1), FN(lower, 1, 1), FN(upper, 1, 1), FN(trim, 1, 1),
    FN(ltrim, 1, 1), FN(rtrim, 1, 1), FN(length, 1, 1),
    FN(substring, 2, 3), FN(startswith, 2, 2), FN(endswith, 2, 2),
    FN(indexof, 2, 2), FN(replace, 3, 3), FN(concat, 1, 64),
    FN_RE(regexp_matches, 2, 2), FN_RE(regexp_replace, 3, 3),
    FN_RE(regexp_substr, 2, 2), FN_ANY(isUndefined), FN_ANY(isNull),
    FN_ANY(isString), FN_ANY(isNumber), FN_ANY(isBoolean),
    FN_ANY(isObject), FN_ANY(isArray), FN(get, 2, 2),
    FN(parse_time, 2, 3), FN(time_to_epoch, 2, 2), FN(md5, 1, 1),
    FN(sha1, 1, 1), FN(sha256, 1, 1),
};

const struct sql_func *
sql_func_find(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(sql_funcs) / sizeof(*sql_funcs); i++)
		if (strlen(sql_funcs[i].name) == len &&
		    strncasecmp(sql_funcs[i].name, name, len) == 0)
			return &sql_funcs[i];
	return NULL;
}
