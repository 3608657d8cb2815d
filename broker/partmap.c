/*
 * partmap.c - the broker's view of the partition map and its part in
 * moving a partition between routers (docs/internals/cluster.md, section
 * 2).
 *
 * Every 250 ms, once the cluster's partition scheme agrees with the
 * broker's own (common/scheme.h), the broker reads strata:{part}:ver; when it
 * changed (and every second anyway) it reads strata:routers (router id ->
 * "host:port": links are kept to each, routerlink.c), strata:{part}:map
 * (partition -> router id) and strata:{part}:gen (partition -> generation).
 *
 * Each partition (struct broker_part):
 *   STEADY - owner serves it: its publishes go to the owner.
 *   MOVING - the map gave it a new owner or generation: its publishes wait
 *            in the unsent list, in order.  The previous owner gets
 *            PartitionLeave(p, g) and answers PartitionLeaveAck once every
 *            publish of p it had from this broker is acknowledged (its
 *            link going down counts as the answer: what it did not
 *            acknowledge is re-sent to the new owner, first).  Then the
 *            new owner gets this broker's exact routes of p
 *            (PARTITION_RESET, ADDs) and PartitionJoin(p, g); it answers
 *            PartitionServing(p, g) once every broker joined.  Both
 *            answers in: STEADY, the held publishes go out.
 * STEADY --the owner refuses a publish of p (PublishAck not_owner: it
 *          gave p away, or is loading it)--> MOVING: that publish and
 *          the later ones of p sent to it go back to the front of the
 *          unsent list (routerlink.c), the owner is joined again, and
 *          the whole map is read at once; a new owner there starts the
 *          move above (Leave to the refusing router, Join to the new
 *          one), or the same owner answers Serving once it serves p.
 * A router link that goes down makes its partitions MOVING again (the
 * publishes unacknowledged on it go back to the front of the unsent
 * list); when it comes back the broker resyncs its whole table
 * atomically (RESET ... COMMIT) and joins again, and the router, still
 * owner, answers Serving at once.
 * While a partition moves, route updates of its filters go to both the
 * old owner (until it answered) and the new one, so the old owner, which
 * may still process publishes of stale brokers, keeps current routes.
 */
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "scheme.h"

#define PARTMAP_FULL_EVERY 4 /* fast ticks between full reads */

/* ---- sending ---- */

static void
partmap_send_leave(struct strata_broker *b, uint32_t p)
{
	struct broker_part *pt = &b->parts[p];
	Strata__PartitionLeave m = STRATA__PARTITION_LEAVE__INIT;

	m.partition = p;
	m.generation = pt->gen;
	pt->leave_sent = broker_router_send(pt->old,
	    STRATA_LINK_PARTITION_LEAVE, &m.base) == 0;
}

static void
partmap_send_join(struct strata_broker *b, uint32_t p)
{
	struct broker_part *pt = &b->parts[p];
	Strata__PartitionJoin m = STRATA__PARTITION_JOIN__INIT;

	m.partition = p;
	m.generation = pt->gen;
	pt->joined = broker_router_send(pt->owner,
	    STRATA_LINK_PARTITION_JOIN, &m.base) == 0;
}

/* Join every MOVING partition whose old owner has answered and whose new
 * owner's link is up; with_routes: send the exact routes of each first
 * (not after a full resync, which carried them). */
static void
partmap_join_ready(struct strata_broker *b, struct broker_router *only,
    bool with_routes)
{
	bool want[STRATA_PARTITIONS];
	size_t n = 0;

	for (uint32_t p = 0; p < STRATA_PARTITIONS; p++) {
		struct broker_part *pt = &b->parts[p];

		want[p] = pt->moving && pt->leave_done && !pt->joined &&
		    pt->owner != NULL && pt->owner->up &&
		    !pt->owner->resync && (only == NULL || pt->owner == only);
		n += want[p];
	}
	if (n == 0)
		return;
	if (with_routes)
		broker_routers_send_partitions(b, want);
	for (uint32_t p = 0; p < STRATA_PARTITIONS; p++)
		if (want[p])
			partmap_send_join(b, p);
}

/* MOVING -> STEADY when both answers are in. */
static void
partmap_settle(struct strata_broker *b, uint32_t p)
{
	struct broker_part *pt = &b->parts[p];

	if (!pt->moving || !pt->leave_done || !pt->serving)
		return;
	pt->moving = false;
	pt->old = NULL;
	b->parts_moving--;
}

/* ---- answers from routers ---- */

void
broker_partmap_leave_ack(struct broker_router *r,
    const Strata__PartitionLeaveAck *a)
{
	struct strata_broker *b = r->broker;
	struct broker_part *pt;

	if (a->partition >= STRATA_PARTITIONS) {
		broker_link_error(b, "invalid partition");
		return;
	}
	pt = &b->parts[a->partition];
	if (!pt->moving || pt->old != r || pt->gen != a->generation ||
	    pt->leave_done)
		return;
	pt->leave_done = true;
	partmap_join_ready(b, pt->owner, true);
}

void
broker_partmap_serving(struct broker_router *r,
    const Strata__PartitionServing *s)
{
	struct strata_broker *b = r->broker;
	struct broker_part *pt;

	if (s->partition >= STRATA_PARTITIONS) {
		broker_link_error(b, "invalid partition");
		return;
	}
	pt = &b->parts[s->partition];
	if (!pt->moving || pt->owner != r || pt->gen != s->generation ||
	    !pt->joined)
		return;
	pt->serving = true;
	partmap_settle(b, s->partition);
	broker_routers_flush(b);
}

/* ---- a router that does not serve what we sent it ---- */

static void partmap_poll(evutil_socket_t fd, short what, void *arg);

void
broker_partmap_not_served(struct broker_router *r, uint32_t p)
{
	struct strata_broker *b = r->broker;
	struct broker_part *pt = &b->parts[p];

	STRATA_DEBUG(BROKER_COMP, "publish not served by its router|"
	    "router=%s partition=%u", r->id, p);
	if (!pt->moving && pt->owner == r) {
		/* STEADY on r: wait for r's Serving (it is loading), or for
		 * the map that names the new owner */
		b->parts_moving++;
		pt->moving = true;
		pt->old = NULL;
		pt->leave_done = true;
		pt->leave_sent = false;
		pt->joined = false;
		pt->serving = false;
		partmap_join_ready(b, r, true);
	}
	b->map_stale = true;
	partmap_poll(-1, 0, b);
}

/* ---- link events ---- */

void
broker_partmap_router_up(struct broker_router *r)
{
	/* the resync that just went out carried every route */
	partmap_join_ready(r->broker, r, false);
}

void
broker_partmap_router_drained(struct broker_router *r)
{
	struct strata_broker *b = r->broker;

	for (uint32_t p = 0; p < STRATA_PARTITIONS; p++) {
		struct broker_part *pt = &b->parts[p];

		if (pt->moving && pt->old == r && !pt->leave_done &&
		    !pt->leave_sent)
			partmap_send_leave(b, p);
	}
	partmap_join_ready(b, r, true);
}

/* r's link is down (gone: true when r leaves the table). */
void
broker_partmap_router_down(struct broker_router *r, bool gone)
{
	struct strata_broker *b = r->broker;

	for (uint32_t p = 0; p < STRATA_PARTITIONS; p++) {
		struct broker_part *pt = &b->parts[p];

		if (pt->old == r && !pt->leave_done)
			pt->leave_done = true; /* what it did not ack is
						  re-sent to the new owner */
		if (pt->old == r && gone)
			pt->old = NULL;
		if (pt->owner != r)
			continue;
		if (!pt->moving)
			b->parts_moving++;
		pt->moving = true;
		pt->joined = false;
		pt->serving = false;
		if (gone)
			pt->owner = NULL;
	}
	partmap_join_ready(b, NULL, true);
}

/* ---- the map ---- */

/* Partition p now belongs to owner (generation gen). */
static void
partmap_move(struct strata_broker *b, uint32_t p, struct broker_router *owner,
    uint64_t gen)
{
	struct broker_part *pt = &b->parts[p];
	struct broker_router *old = pt->moving && pt->old != NULL &&
	    !pt->leave_done ? pt->old : pt->owner;

	if (!pt->moving)
		b->parts_moving++;
	pt->moving = true;
	pt->joined = false;
	pt->serving = false;
	pt->gen = gen;
	pt->owner = owner;
	pt->old = old != owner ? old : NULL;
	pt->leave_done = pt->old == NULL || !pt->old->up;
	pt->leave_sent = false;
	if (!pt->leave_done)
		partmap_send_leave(b, p);
}

struct partmap_read {
	struct strata_broker *b;
	struct broker_router *owner[STRATA_PARTITIONS];
	uint64_t gen[STRATA_PARTITIONS];
};

static void
partmap_apply(struct strata_broker *b, const struct partmap_read *rd)
{
	unsigned moved = 0;

	for (uint32_t p = 0; p < STRATA_PARTITIONS; p++) {
		struct broker_part *pt = &b->parts[p];

		if (rd->owner[p] == pt->owner && rd->gen[p] == pt->gen)
			continue;
		partmap_move(b, p, rd->owner[p], rd->gen[p]);
		moved++;
	}
	if (moved == 0)
		return;
	STRATA_INFO(BROKER_COMP, "partition map changed|moved=%u", moved);
	partmap_join_ready(b, NULL, true);
}

static void
partmap_gens_cb(struct strata_redis *rd, redisReply *reply, void *arg)
{
	struct partmap_read *m = arg;
	struct strata_broker *b = m->b;

	b->polling = false;
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || b->stopping)
		goto out;
	for (size_t i = 0; i + 1 < reply->elements; i += 2) {
		redisReply *k = reply->element[i], *v = reply->element[i + 1];
		long part;

		if (k->type != REDIS_REPLY_STRING ||
		    v->type != REDIS_REPLY_STRING)
			continue;
		part = strtol(k->str, NULL, 10);
		if (part >= 0 && part < STRATA_PARTITIONS)
			m->gen[part] = strtoull(v->str, NULL, 10);
	}
	partmap_apply(b, m);
out:
	free(m);
}

static void
partmap_map_cb(struct strata_redis *rd, redisReply *reply, void *arg)
{
	struct partmap_read *m = arg;
	struct strata_broker *b = m->b;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || b->stopping) {
		b->polling = false;
		free(m);
		return;
	}
	for (size_t i = 0; i + 1 < reply->elements; i += 2) {
		redisReply *k = reply->element[i], *v = reply->element[i + 1];
		long part;

		if (k->type != REDIS_REPLY_STRING ||
		    v->type != REDIS_REPLY_STRING)
			continue;
		part = strtol(k->str, NULL, 10);
		if (part >= 0 && part < STRATA_PARTITIONS)
			m->owner[part] = broker_routers_find(b, v->str,
			    v->len);
	}
	if (strata_redis_command(b->redis, partmap_gens_cb, m,
	    "HGETALL strata:{part}:gen") != 0)
		b->polling = false;
}

static void
partmap_routers_cb(struct strata_redis *rd, redisReply *reply, void *arg)
{
	struct strata_broker *b = arg;
	struct partmap_read *m;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || b->stopping) {
		b->polling = false;
		return;
	}
	broker_routers_update(b, reply);
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		abort();
	m->b = b;
	if (strata_redis_command(b->redis, partmap_map_cb, m,
	    "HGETALL strata:{part}:map") != 0)
		b->polling = false;
}

static void
partmap_read(struct strata_broker *b)
{
	b->polling = true;
	b->poll_count = 0;
	b->map_stale = false;
	if (strata_redis_command(b->redis, partmap_routers_cb, b,
	    "HGETALL strata:routers") != 0)
		b->polling = false;
}

static void
partmap_ver_cb(struct strata_redis *rd, redisReply *reply, void *arg)
{
	struct strata_broker *b = arg;
	uint64_t ver;

	b->ver_checking = false;
	if (reply == NULL || b->stopping || b->polling)
		return;
	ver = reply->type == REDIS_REPLY_STRING ?
	    strtoull(reply->str, NULL, 10) : 0;
	if (ver != b->partver || b->poll_count >= PARTMAP_FULL_EVERY ||
	    b->map_stale) {
		b->partver = ver;
		partmap_read(b);
	}
}

/* The partition scheme answer (see common/scheme.h): routes are followed
 * only once the cluster agrees with this broker's partition-levels. */
static void
partmap_scheme_cb(enum strata_scheme_result res, long partitions,
    long levels, void *arg)
{
	struct strata_broker *b = arg;

	b->scheme_checking = false;
	if (b->stopping)
		return;
	if (res == STRATA_SCHEME_MISMATCH) {
		STRATA_ERROR(BROKER_COMP, "config error: the cluster's "
		    "partition scheme (Redis strata:cluster: partitions %ld, "
		    "partition-levels %ld) is not this broker's (partitions "
		    "%d, partition-levels %ld); set partition-levels %ld",
		    partitions, levels, STRATA_PARTITIONS,
		    b->cfg.partition_levels, levels);
		broker_exit(b, 2);
		return;
	}
	if (res == STRATA_SCHEME_OK && !b->scheme_ok) {
		b->scheme_ok = true;
		partmap_read(b);
	}
}

static void
partmap_poll(evutil_socket_t fd, short what, void *arg)
{
	struct strata_broker *b = arg;

	if (b->polling || b->stopping || b->scheme_checking ||
	    b->ver_checking)
		return;
	if (!b->scheme_ok) {
		b->scheme_checking = true;
		strata_scheme_check(b->redis, STRATA_PARTITIONS,
		    b->cfg.partition_levels, partmap_scheme_cb, b);
		return;
	}
	b->poll_count++;
	b->ver_checking = true;
	if (strata_redis_command(b->redis, partmap_ver_cb, b,
	    "GET strata:{part}:ver") != 0)
		b->ver_checking = false;
}

/* Every (re)connect checks the scheme again: Redis may be a new one. */
void
broker_partmap_redis_up(struct strata_redis *r, void *arg)
{
	struct strata_broker *b = arg;

	STRATA_INFO(BROKER_COMP, "redis connected");
	broker_cluster_redis_up(b);
	b->scheme_ok = false;
	partmap_poll(-1, 0, b);
}

int
broker_partmap_start(struct strata_broker *b)
{
	struct timeval tv = {0, 250000};

	b->poll_timer = event_new(b->base, -1, EV_PERSIST, partmap_poll, b);
	if (b->poll_timer == NULL)
		return STRATA_EIO;
	event_add(b->poll_timer, &tv);
	return 0;
}

void
broker_partmap_stop(struct strata_broker *b)
{
	if (b->poll_timer != NULL)
		event_free(b->poll_timer);
	b->poll_timer = NULL;
}

/* Every partition at r, served (fuzz targets and tests attach a router
 * without the map). */
void
broker_partmap_attach(struct strata_broker *b, struct broker_router *r)
{
	for (uint32_t p = 0; p < STRATA_PARTITIONS; p++) {
		b->parts[p].owner = r;
		b->parts[p].gen = 0;
		b->parts[p].moving = false;
	}
	b->parts_moving = 0;
}
