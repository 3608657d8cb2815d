/*
 * fidx_eval.h - a fleet indexing query (fidx_query.h) evaluated over the
 * index in Redis (fidx_index.h): a plan of read commands, one per leaf
 * of the tree (ZRANGEBYLEX over a field's values, ZRANGEBYSCORE over its
 * numbers, ZRANGE of every thing for NOT), sent with the configuration
 * as one MULTI/EXEC transaction (one round trip, one snapshot), then the
 * tree evaluated over their replies as merges of sorted arrays of thing
 * names.
 *
 * Used by the admin API (SearchIndex and the aggregations) and by
 * strata-shadowd (dynamic thing groups).
 */
#ifndef STRATA_FIDX_EVAL_H
#define STRATA_FIDX_EVAL_H

#include <stdbool.h>
#include <stddef.h>

#include "fidx_query.h"
#include "redis.h"

/* A thing name: a view into a Redis reply. */
struct strata_fidx_name {
	const char *p;
	size_t len;
};

/* Names sorted (byte order) and unique; v is owned (free), the names
 * are not. */
struct strata_fidx_set {
	struct strata_fidx_name *v;
	size_t n;
};

struct strata_fidx_plan_arg {
	char *s;
	size_t len;
};

/* The reads (each its argument count, then its arguments) and, while
 * evaluating, their answer.  Zeroed to
 * start; strata_fidx_plan_clear() after. */
struct strata_fidx_plan {
	struct strata_fidx_plan_arg *args;
	size_t nargs, capargs;
	size_t ncmds;        /* command i's reply is element i (1-based) */
	bool need_all;
	size_t all_at;
	size_t cursor;
	const redisReply *reply;
};

/* The commands of tree's leaves (and of every thing, for NOT). */
void strata_fidx_plan_query(struct strata_fidx_plan *p,
    const struct strata_fidx_node *tree);
/* One more command; its reply's index in the answer. */
size_t strata_fidx_plan_command(struct strata_fidx_plan *p, int argc,
    const char *const *argv);
/* Send the transaction; cb gets EXEC's answer: {HMGET config mode
 * status custom, the reply of each command} (ncmds + 1), or NULL. */
int strata_fidx_plan_send(struct strata_fidx_plan *p,
    struct strata_redis *r, strata_redis_cb cb, void *arg);
/* The things tree finds in reply (the answer of the plan made for the
 * same tree); names are views into reply. */
struct strata_fidx_set strata_fidx_plan_eval(struct strata_fidx_plan *p,
    const struct strata_fidx_node *tree, const redisReply *reply);
void strata_fidx_plan_clear(struct strata_fidx_plan *p);

/* Byte order of two struct strata_fidx_name (qsort's signature). */
int strata_fidx_name_cmp(const void *a, const void *b);

#endif
