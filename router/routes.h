/*
 * routes.h - the router's route table: topic filter -> the broker nodes
 * that have local subscribers of it.
 *
 * A broker sends RouteUpdate ADD when it gets its first local subscriber of
 * a filter and REMOVE when it loses the last one.  The table keeps a count
 * per (filter, broker) so that a repeated ADD needs as many REMOVEs, and so
 * that "$share/g/f" and "f" (indexed at the same place by the subtree) stay
 * separate entries.  A broker's whole table is replaced atomically by a
 * resync (RESET ... COMMIT), and its exact routes of one partition are
 * dropped when the partition moves (PARTITION_RESET, or the partition is
 * released).  Its routes go when the broker is gone, not when its link
 * drops (brokers.c).
 *
 * The table knows brokers only as struct router_routes_peer, embedded in the
 * router's broker struct, so it can be tested without links.
 */
#ifndef STRATA_ROUTER_ROUTES_H
#define STRATA_ROUTER_ROUTES_H

#include <stddef.h>
#include <stdint.h>

struct strata_hashmap;
struct strata_subtree;

/* One destination of routes.  Zero it, then router_routes_peer_init(). */
struct router_routes_peer {
	struct strata_hashmap *filters; /* filter -> count (uintptr_t) */
	struct strata_hashmap *resync;  /* the same being resynced, or NULL */
	uint64_t mark; /* router_routes_match() de-duplication */
};

struct router_routes {
	struct strata_subtree *index; /* filter -> struct routes_entry * */
	uint64_t mark;
	/* result buffer of router_routes_match() */
	struct router_routes_peer **dest;
	size_t ndest, dest_cap;
};

void router_routes_peer_init(struct router_routes_peer *p);
/* The peer must have no routes left (router_routes_reset() first). */
void router_routes_peer_fini(struct router_routes_peer *p);

void router_routes_init(struct router_routes *t);
/* Every peer must have been reset first. */
void router_routes_fini(struct router_routes *t);

/* Add one reference of (filter, peer).  Returns 0 or
 * STRATA_ERR(STRATA_RC_TOPIC_FILTER_INVALID) for an invalid filter. */
int router_routes_add(struct router_routes *t, struct router_routes_peer *p,
    const char *filter, size_t len);
/* Drop one reference.  Returns 0 or STRATA_ENOTFOUND. */
int router_routes_remove(struct router_routes *t, struct router_routes_peer *p,
    const char *filter, size_t len);
/* Drop every route of the peer. */
void router_routes_reset(
    struct router_routes *t, struct router_routes_peer *p);

/*
 * Resync of a peer's whole table, applied atomically: between begin and
 * commit the peer's ADDs and REMOVEs go to a table aside (the peer's
 * current routes stay in force); commit replaces the current routes by
 * it in one call; abort forgets it (the link dropped mid-resync).
 */
void router_routes_resync_begin(struct router_routes_peer *p);
void router_routes_resync_commit(struct router_routes *t,
    struct router_routes_peer *p);
void router_routes_resync_abort(struct router_routes_peer *p);

/* Drop the peer's routes whose filter lives in partition `partition`
 * (no wildcard in its first `levels` levels); with a resync under way,
 * the table aside loses them too. */
void router_routes_drop_partition(struct router_routes *t,
    struct router_routes_peer *p, uint32_t partition, unsigned levels);

/* The distinct peers with a filter matching topic; *out is valid until the
 * next call.  Returns their number. */
size_t router_routes_match(struct router_routes *t, const char *topic,
    size_t len, struct router_routes_peer ***out);

/* Number of distinct filters in the table. */
size_t router_routes_count(const struct router_routes *t);

#endif
