/*
 * topicalias.h - the topic aliases a sender assigns on one MQTT 5
 * connection (MQTT 5.0 3.3.2.3.4): topic -> alias 1..max.
 *
 * The broker keeps one table per connection for what it sends the client.
 * A topic without an alias gets a free one while any is left; once all
 * are taken it gets the least recently used one, whose old topic is
 * forgotten (the receiver replaces its mapping when it sees the alias
 * with the new topic).  Lookups, assignments and replacements are O(1):
 * a chained hash index over the aliases and a doubly linked recency list,
 * both threaded through one array of entries by alias number.  The array
 * and the index grow by doubling up to max, so a table costs what its
 * used aliases need.  Each entry owns a copy of its topic; a replaced
 * entry reuses that buffer when the new topic fits.
 *
 * The hash is the caller's (strata_hash_bytes of the topic, computed once
 * per message and shared by every connection's table); topics are
 * compared in full, so colliding hashes cost a compare, never a wrong
 * alias.  Allocation failure aborts (max bounds every size).
 */
#ifndef STRATA_TOPICALIAS_H
#define STRATA_TOPICALIAS_H

#include <stddef.h>
#include <stdint.h>

struct strata_topicalias;

/* A table handing out aliases 1..max (max >= 1).  Nothing is allocated
 * for entries until the first assignment. */
struct strata_topicalias *strata_topicalias_new(uint16_t max);
void strata_topicalias_free(struct strata_topicalias *t);

/* The alias of topic[0..len) (hash: its hash), made the most recently
 * used; 0 when it has none. */
uint16_t strata_topicalias_lookup(
    struct strata_topicalias *t, const char *topic, size_t len, uint64_t hash);

/* Give topic[0..len), which has no alias (lookup returned 0), an alias: a
 * free one, else the least recently used one (its topic is dropped).
 * Returns it, now the most recently used. */
uint16_t strata_topicalias_assign(
    struct strata_topicalias *t, const char *topic, size_t len, uint64_t hash);

/* Aliases assigned so far (at most max). */
uint16_t strata_topicalias_count(const struct strata_topicalias *t);

#endif
