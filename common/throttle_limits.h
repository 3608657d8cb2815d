/*
 * throttle_limits.h - the throttle limits a thing group or thing type
 * may carry (Strata's own, docs/internals/throttle.md): their names in
 * the admin API's JSON and in the record, their ranges, the admin body
 * read into them and written back, and a stored value read.  No daemon
 * state; fuzzed (tests/fuzz/fuzz_throttle_limits.c).
 */
#ifndef STRATA_THROTTLE_LIMITS_H
#define STRATA_THROTTLE_LIMITS_H

#include <stddef.h>

#include <jansson.h>

/* publish rate, inbound bytes, subscribe rate, disconnect-after: the
 * order of the broker's enum broker_throttle_limit */
#define STRATA_THROTTLE_LIMITS 4

struct strata_throttle_limit_def {
	const char *member;    /* admin JSON: "publishRate" */
	const char *field;     /* record field: "throttle_publish_rate" */
	long max;              /* values 0 (no limit) to max */
};

extern const struct strata_throttle_limit_def
    strata_throttle_limit_defs[STRATA_THROTTLE_LIMITS];

/* Values; -1 where none is set. */
struct strata_throttle_limits {
	long v[STRATA_THROTTLE_LIMITS];
};

/* An admin body (a JSON object, or NULL: none) read into out.  0; or -1
 * with *member naming the member at fault (a pointer into body or into
 * the definitions) and err the message: a member that is not a limit, a
 * value that is not an integer in its range, or no limit at all. */
int strata_throttle_limits_parse(const json_t *body,
    struct strata_throttle_limits *out, const char **member, char *err,
    size_t errlen);

/* The members set, as an object of integers (a new reference). */
json_t *strata_throttle_limits_json(const struct strata_throttle_limits *l);

/* A stored value of limit i: its decimal text (as the admin API writes
 * it) in range, else -1 (none, or a damaged record). */
long strata_throttle_limit_value(const char *text, size_t len, int i);

#endif
