/*
 * fuzz_sql.c - libFuzzer target for the rules SQL engine: a statement and
 * a substitution template parsed, then evaluated and rendered against a
 * message.
 *
 * The input is three sections separated by the first two NUL bytes:
 *   statement \0 template \0 payload
 * (the payload is everything after the second NUL, NULs included; a
 * missing section is empty).  The message is on topic "dev/d1/temp" from
 * client "c1"; get_thing_shadow() answers {"state":{"reported":{}}}
 * naming the thing, or nothing for a thing named "none".
 *
 * Invariants:
 *   - a refused statement or template has a message (NUL-terminated,
 *     not empty) and a line and column inside the text (0:0 only for
 *     the limits of the whole text);
 *   - a statement's FROM is a valid topic filter;
 *   - an evaluation gives exactly one of its three results: SELECTED
 *     with a JSON object (which dumps and reads back) or with the
 *     payload itself as raw (strings may hold NULs: JSON_ALLOW_NUL),
 *     FILTERED with no output, FAILED with a message and no output;
 *   - evaluating twice gives the same kind of result (newuuid() aside,
 *     nothing depends on anything but the message);
 *   - a rendered template is NUL-terminated at its length and within
 *     the engine's value limit.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sql.h"
#include "topic.h"

/* The engine's bound on a rendered template (sql-t.h SQL_MAX_VALUE). */
#define FUZZ_MAX_RENDER (4 * STRATA_SQL_MAX_PAYLOAD)

static json_t *
fuzz_shadow(void *arg, const char *thing, const char *shadow_name)
{
	if (strcmp(thing, "none") == 0)
		return NULL;
	return json_pack("{s:{s:{s:s}}}", "state", "reported", "thing", thing);
}

/* Next section of [*p, end) up to a NUL (last: up to the end). */
static void
fuzz_section(const uint8_t **p, const uint8_t *end, bool last,
    const uint8_t **sec, size_t *len)
{
	const uint8_t *stop =
	    last ? NULL : memchr(*p, '\0', (size_t)(end - *p));

	*sec = *p;
	*len = (size_t)((stop != NULL ? stop : end) - *p);
	*p = stop != NULL ? stop + 1 : end;
}

/* An error inside a text of len bytes on `lines` lines. */
static void
fuzz_check_error(const struct strata_sql_error *err, size_t len,
    int lines)
{
	if (memchr(err->message, '\0', sizeof(err->message)) == NULL ||
	    err->message[0] == '\0')
		abort();
	if (err->line < 0 || err->column < 0 || err->line > lines ||
	    (size_t)err->column > len + 1 ||
	    (err->line == 0) != (err->column == 0))
		abort();
}

static int
fuzz_lines(const uint8_t *p, size_t len)
{
	int n = 1;

	for (size_t i = 0; i < len; i++)
		n += p[i] == '\n';
	return n;
}

static void
fuzz_check_output(const struct strata_sql_input *in,
    enum strata_sql_result r, const struct strata_sql_output *out,
    const struct strata_sql_error *err, size_t len, int lines)
{
	char *text;
	json_t *back;

	if (r == STRATA_SQL_FAILED || r == STRATA_SQL_FILTERED) {
		if (out->doc != NULL || out->raw != NULL)
			abort();
		if (r == STRATA_SQL_FAILED)
			fuzz_check_error(err, len, lines);
		return;
	}
	if (r != STRATA_SQL_SELECTED)
		abort();
	if (out->doc == NULL) {
		if (out->raw != in->payload || out->raw_len != in->payload_len)
			abort();
		return;
	}
	if (!json_is_object(out->doc))
		abort();
	text = json_dumps(out->doc, JSON_COMPACT);
	back = json_loads(text, JSON_ALLOW_NUL, NULL);
	if (text == NULL || back == NULL || !json_equal(back, out->doc))
		abort();
	json_decref(back);
	free(text);
}

static void
fuzz_statement(const uint8_t *s, size_t len,
    const struct strata_sql_input *in)
{
	struct strata_sql_error err;
	struct strata_sql_output out, again;
	struct strata_sql *q = strata_sql_parse((const char *)s, len, &err);
	enum strata_sql_result r;
	const char *from;

	if (q == NULL) {
		if (len <= STRATA_SQL_MAX_TEXT &&
		    memchr(s, '\0', len) == NULL && err.line == 0)
			abort();
		fuzz_check_error(&err, len, fuzz_lines(s, len));
		return;
	}
	from = strata_sql_from(q);
	if (strata_topic_filter_check((const uint8_t *)from, strlen(from)) !=
	    0)
		abort();
	r = strata_sql_eval(q, in, &out, &err);
	fuzz_check_output(in, r, &out, &err, len, fuzz_lines(s, len));
	if (strata_sql_eval(q, in, &again, NULL) != r)
		abort();
	strata_sql_output_clear(&out);
	strata_sql_output_clear(&again);
	strata_sql_free(q);
}

static void
fuzz_template(const uint8_t *s, size_t len,
    const struct strata_sql_input *in)
{
	struct strata_sql_error err;
	struct strata_sql_template *t =
	    strata_sql_template_parse((const char *)s, len, &err);
	size_t out_len = 0;
	char *text;

	if (t == NULL) {
		fuzz_check_error(&err, len, fuzz_lines(s, len));
		return;
	}
	text = strata_sql_template_render(t, in, &out_len, &err);
	if (text == NULL) {
		fuzz_check_error(&err, len, fuzz_lines(s, len));
	} else if (text[out_len] != '\0' || out_len > FUZZ_MAX_RENDER ||
	           (strata_sql_template_is_literal(t) &&
	               (out_len != len || memcmp(text, s, len) != 0))) {
		abort();
	}
	free(text);
	strata_sql_template_free(t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size, *sql, *tmpl, *payload;
	size_t sql_len, tmpl_len, payload_len;
	struct strata_sql_input in = {
	    .topic = "dev/d1/temp",
	    .topic_len = 11,
	    .client_id = "c1",
	    .principal = "p1",
	    .timestamp_ms = 1700000000123LL,
	    .trace_id = "t-1",
	    .get_thing_shadow = fuzz_shadow,
	};

	fuzz_section(&p, end, false, &sql, &sql_len);
	fuzz_section(&p, end, false, &tmpl, &tmpl_len);
	fuzz_section(&p, end, true, &payload, &payload_len);
	in.payload = payload;
	in.payload_len = payload_len;
	fuzz_statement(sql, sql_len, &in);
	fuzz_template(tmpl, tmpl_len, &in);
	return 0;
}
