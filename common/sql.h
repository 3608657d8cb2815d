/*
 * sql.h - the AWS IoT rules engine's SQL (version 2016-03-23): parse a
 * rule's statement once, evaluate it per message; and the substitution
 * templates ("a/${topic(2)}/b") of the rules' actions.
 *
 *   strata_sql_parse()    SELECT <expressions | *> FROM '<filter>'
 *                         [WHERE <condition>] -> a compiled statement, or
 *                         the line and column of what is wrong.
 *   strata_sql_eval()     one message -> the SELECT's output (a JSON
 *                         object, or the raw payload for SELECT * of a
 *                         payload that is not JSON), or "WHERE was not
 *                         true", or an evaluation error.
 *   strata_sql_template_* the same expressions inside ${...} of a
 *                         string, rendered against the incoming message.
 *
 * Values follow the managed service's type rules: Int, Decimal, String,
 * Boolean, Array, Object, Null and Undefined (a missing attribute; a
 * comparison with Undefined is false; an Undefined field is left out of
 * the output).  Semantics and every difference from AWS IoT:
 * docs/internals/rules-sql.md.
 *
 * Compiled statements and templates are immutable: one may be evaluated
 * by any number of callers.  Nothing here does I/O; get_thing_shadow()
 * asks the caller (struct strata_sql_input).  Not thread-safe beyond
 * that immutability.
 */
#ifndef STRATA_SQL_H
#define STRATA_SQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Limits: a statement of at most 16 KB (AWS's rule SQL limit is 256 KB
 * of payload; Strata keeps statements small), expressions nested at most
 * 64 deep, a payload of at most 128 KB (the MQTT limit of the managed
 * service). */
#define STRATA_SQL_MAX_TEXT 16384
#define STRATA_SQL_MAX_DEPTH 64
#define STRATA_SQL_MAX_PAYLOAD (128 * 1024)

struct strata_sql;          /* a compiled statement */
struct strata_sql_template; /* a compiled substitution template */

/* Why a statement or template was refused, or an evaluation failed.
 * line and column count from 1 (0: not a position in the text); message
 * is one English sentence without a trailing period, always
 * NUL-terminated. */
struct strata_sql_error {
	int line, column;
	char message[256];
};

/* One message as the rule sees it. */
struct strata_sql_input {
	/* topic(): for Basic Ingest ($aws/rules/<rule>/...) the topic
	 * without that prefix, as AWS does */
	const char *topic;
	size_t topic_len;
	const uint8_t *payload;
	size_t payload_len;
	const char *client_id;   /* clientid(); "" when unknown */
	const char *principal;   /* principal(); "" when unknown */
	int64_t timestamp_ms;    /* timestamp(): when the broker got it */
	const char *trace_id;    /* traceid(): one per message */
	/*
	 * get_thing_shadow(thing, roleArn[, shadowName]): the stored
	 * shadow document (get/accepted's shape), a new reference the
	 * evaluator releases, or NULL (Undefined: no such shadow, or no
	 * callback).  Synchronous: the caller fetched it before, or keeps
	 * a cache.
	 */
	json_t *(*get_thing_shadow)(void *arg, const char *thing,
	    const char *shadow_name);
	void *arg;
};

/*
 * Parse a statement of len bytes (no NUL needed).  Returns the compiled
 * statement (the caller frees it with strata_sql_free), or NULL with
 * *err filled (err may be NULL): a syntax error, an unknown function, a
 * wrong number of arguments, a FROM that is not a valid MQTT topic
 * filter, a statement over STRATA_SQL_MAX_TEXT.
 */
struct strata_sql *strata_sql_parse(const char *text, size_t len,
    struct strata_sql_error *err);
void strata_sql_free(struct strata_sql *sql);

/* The FROM topic filter, NUL-terminated, valid while sql lives. */
const char *strata_sql_from(const struct strata_sql *sql);

/* The SELECT's output for one message. */
struct strata_sql_output {
	json_t *doc;           /* a JSON object (owned by the caller), or
				  NULL when raw is set */
	const uint8_t *raw;    /* SELECT * of a payload that is not JSON:
				  the payload itself (a view into the
				  input), raw_len bytes */
	size_t raw_len;
};

enum strata_sql_result {
	STRATA_SQL_SELECTED = 0, /* *out is set */
	STRATA_SQL_FILTERED = 1, /* WHERE was not true: no output */
	STRATA_SQL_FAILED = -1,  /* evaluation error: *err says which */
};

/*
 * Evaluate sql against in.  Never allocates unboundedly: intermediate
 * values are bounded by the payload size and the statement; regular
 * expressions run with PCRE2 match limits (a runaway pattern fails the
 * evaluation, it does not hang it).
 */
enum strata_sql_result strata_sql_eval(const struct strata_sql *sql,
    const struct strata_sql_input *in, struct strata_sql_output *out,
    struct strata_sql_error *err);

/* Free what strata_sql_eval put in out (out itself is the caller's). */
void strata_sql_output_clear(struct strata_sql_output *out);

/*
 * A substitution template: literal text with ${expression} parts (the
 * expressions of the SELECT clause, functions included).  NULL with
 * *err when an expression does not parse or a "${" is not closed.
 */
struct strata_sql_template *strata_sql_template_parse(const char *text,
    size_t len, struct strata_sql_error *err);
void strata_sql_template_free(struct strata_sql_template *t);
/* True when the template has no ${...} part (its text is fixed). */
bool strata_sql_template_is_literal(const struct strata_sql_template *t);

/*
 * Render t against the incoming message in: each ${expression} replaced
 * by its value (a string as itself, a number or boolean as JSON text, an
 * object or array as compact JSON, Undefined as nothing).  Returns a
 * malloc'd NUL-terminated string (*len its length, len may be NULL), or
 * NULL with *err when an expression fails.
 */
char *strata_sql_template_render(const struct strata_sql_template *t,
    const struct strata_sql_input *in, size_t *len,
    struct strata_sql_error *err);

#endif
