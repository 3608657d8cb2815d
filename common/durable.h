/*
 * durable.h - what brokers and routers share about persistent sessions in
 * Redis (docs/internals/cluster.md, section 4): key names, the queue
 * entry names and the append script both run.
 *
 * Keys of the session of client c ({c} keeps them in one Redis Cluster
 * slot):
 *   strata:sess:{c}  HASH  expiry (seconds or "never"), node (the broker
 *                          holding it, "" when none), drops
 *   strata:subs:{c}  HASH  filter -> "<options>,<subscription id>"
 *   strata:q:{c}     ZSET  entry name -> sequence (the queue's order)
 *   strata:qm:{c}    HASH  entry name -> strata.SessionMessage
 *   strata:q2:{c}    SET   inbound QoS 2 packet ids answered with PUBREC
 * An entry's name is "<origin broker>/<boot>/<seq>" of the publish, so the
 * same message queued twice (by its holder and by a router) is one entry.
 */
#ifndef STRATA_DURABLE_H
#define STRATA_DURABLE_H

#include <stddef.h>
#include <stdint.h>

#define STRATA_DURABLE_QID_MAX 160
#define STRATA_DURABLE_KEYS 5   /* sess, subs, q, qm, q2 */

/* KEYS sess, q, qm; ARGV name, packed message, bound, overwrite ("1": a
 * duplicate replaces the stored copy).  Returns the sequence, 0 for a
 * duplicate, -1 when the session is gone, -2 when the queue is full
 * (counted in sess.drops).  The queue keys take the session's TTL. */
extern const char strata_durable_append_script[];

/* Kinds, in the key order above. */
extern const char *const strata_durable_kinds[STRATA_DURABLE_KEYS];

/* "strata:<kind>:{<client>}", malloc'd; *len its length. */
char *strata_durable_key(const char *kind, const char *client, size_t len,
    size_t *keylen);

/* The entry name of a publish; returns its length (truncated to cap). */
size_t strata_durable_qid(char *buf, size_t cap, const char *node,
    uint64_t boot, uint64_t seq);

#endif
