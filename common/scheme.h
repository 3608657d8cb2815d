/*
 * scheme.h - the cluster-wide partition scheme, kept in Redis.
 *
 * The partition count and partition-levels decide which router owns a
 * topic, so every broker and router of a cluster must agree on them.  The
 * first node to reach Redis writes its own to the hash strata:cluster
 * (fields partitions and partition_levels, HSETNX); every node compares
 * its own with what is there on every (re)connect to Redis, before it
 * routes anything.  A node that disagrees must not serve: the daemons log
 * the two schemes and exit with status 2.
 */
#ifndef STRATA_SCHEME_H
#define STRATA_SCHEME_H

struct strata_redis;

enum strata_scheme_result {
	STRATA_SCHEME_OK,       /* the cluster's scheme is ours */
	STRATA_SCHEME_MISMATCH, /* it is not: partitions/levels are its */
	STRATA_SCHEME_UNKNOWN,  /* no usable answer (Redis down, bad reply) */
};

/* partitions, levels: the cluster's values for MISMATCH, else ours. */
typedef void (*strata_scheme_cb)(enum strata_scheme_result result,
    long partitions, long levels, void *arg);

/* Write-if-absent and compare, in one script.  cb runs once, from the
 * event loop (also with UNKNOWN when the client is freed first). */
void strata_scheme_check(struct strata_redis *r, long partitions,
    long levels, strata_scheme_cb cb, void *arg);

#endif
