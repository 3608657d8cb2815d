/*
 * routes.h - the router's route table: topic filter -> the broker nodes
 * that have local subscribers of it.
 *
 * A broker sends RouteUpdate ADD when it gets its first local subscriber of
 * a filter and REMOVE when it loses the last one.  The table keeps a count
 * per (filter, broker) so that a repeated ADD needs as many REMOVEs, and so
 * that "$share/g/f" and "f" (indexed at the same place by the subtree) stay
 * separate entries.  A broker's routes are dropped all at once on RESET and
 * when its link goes down.
 *
 * The table knows brokers only as struct routes_peer, embedded in the
 * router's broker struct, so it can be tested without links.
 */
#ifndef STRATA_ROUTER_ROUTES_H
#define STRATA_ROUTER_ROUTES_H

#include <stddef.h>
#include <stdint.h>

struct strata_hashmap;
struct strata_subtree;

/* One destination of routes.  Zero it, then routes_peer_init(). */
struct routes_peer {
	struct strata_hashmap *filters; /* filter -> count (uintptr_t) */
	uint64_t mark;                  /* routes_match() de-duplication */
};

struct routes {
	struct strata_subtree *index; /* filter -> struct routes_entry * */
	uint64_t mark;
	struct routes_peer **dest;    /* result buffer of routes_match() */
	size_t ndest, dest_cap;
};

void routes_peer_init(struct routes_peer *p);
/* The peer must have no routes left (routes_reset() first). */
void routes_peer_fini(struct routes_peer *p);

void routes_init(struct routes *t);
/* Every peer must have been reset first. */
void routes_fini(struct routes *t);

/* Add one reference of (filter, peer).  Returns 0 or
 * STRATA_ERR(STRATA_RC_TOPIC_FILTER_INVALID) for an invalid filter. */
int routes_add(struct routes *t, struct routes_peer *p, const char *filter,
    size_t len);
/* Drop one reference.  Returns 0 or STRATA_ENOTFOUND. */
int routes_remove(struct routes *t, struct routes_peer *p,
    const char *filter, size_t len);
/* Drop every route of the peer. */
void routes_reset(struct routes *t, struct routes_peer *p);

/* The distinct peers with a filter matching topic; *out is valid until the
 * next call.  Returns their number. */
size_t routes_match(struct routes *t, const char *topic, size_t len,
    struct routes_peer ***out);

/* Number of distinct filters in the table. */
size_t routes_count(const struct routes *t);

#endif
