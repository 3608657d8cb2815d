/*
 * scheme.c - the cluster-wide partition scheme (see scheme.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "redis.h"
#include "scheme.h"

#define SCHEME_KEY "strata:cluster"

/* KEYS[1] strata:cluster, ARGV[1] partitions, ARGV[2] levels: set each
 * field if absent, return both. */
static const char scheme_script[] =
    "redis.call('HSETNX', KEYS[1], 'partitions', ARGV[1]) "
    "redis.call('HSETNX', KEYS[1], 'partition_levels', ARGV[2]) "
    "return redis.call('HMGET', KEYS[1], 'partitions', "
    "'partition_levels')";

struct scheme_call {
	strata_scheme_cb cb;
	void *arg;
	long partitions, levels;
};

/* A decimal field of the reply, or -1. */
static long
scheme_field(const redisReply *r)
{
	char *end;
	long v;

	if (r == NULL || r->type != REDIS_REPLY_STRING || r->len == 0 ||
	    r->len > 18)
		return -1;
	errno = 0;
	v = strtol(r->str, &end, 10);
	if (errno != 0 || end != r->str + r->len || v < 0)
		return -1;
	return v;
}

static void
scheme_reply(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct scheme_call *c = arg;
	enum strata_scheme_result res = STRATA_SCHEME_UNKNOWN;
	long parts = c->partitions, levels = c->levels;

	if (reply != NULL && reply->type == REDIS_REPLY_ARRAY &&
	    reply->elements == 2) {
		long p = scheme_field(reply->element[0]);
		long l = scheme_field(reply->element[1]);

		if (p >= 0 && l >= 0 && p == parts && l == levels) {
			res = STRATA_SCHEME_OK;
		} else if (p >= 0 && l >= 0) {
			res = STRATA_SCHEME_MISMATCH;
			parts = p;
			levels = l;
		}
	}
	c->cb(res, parts, levels, c->arg);
	free(c);
}

void
strata_scheme_check(struct strata_redis *r, long partitions, long levels,
    strata_scheme_cb cb, void *arg)
{
	struct scheme_call *c = malloc(sizeof(*c));
	char p[24], l[24];

	if (c == NULL)
		abort();
	c->cb = cb;
	c->arg = arg;
	c->partitions = partitions;
	c->levels = levels;
	snprintf(p, sizeof(p), "%ld", partitions);
	snprintf(l, sizeof(l), "%ld", levels);
	strata_redis_command(r, scheme_reply, c, "EVAL %s 1 %s %s %s",
	    scheme_script, SCHEME_KEY, p, l);
}
