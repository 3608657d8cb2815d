/*
 * partition.c - partition ownership in Redis (layout: docs/internals/
 * redis.md).
 *
 * Before anything else, on every (re)connect to Redis, the router checks
 * that the cluster's partition scheme is its own (common/scheme.h) and
 * exits with status 2 if not.  Then every second (router_partition_tick)
 * the router refreshes its lease
 * (strata:router:<id>:alive, PX 5000) and its address in strata:routers,
 * then runs one claim cycle unless the previous one is still waiting:
 *
 *   IDLE --tick, Redis up--> READ_MAP     HGETALL strata:partmap
 *   READ_MAP --reply--> CHECK_OWNERS      EXISTS <owner>:alive per other
 *                                         owner named in the map
 *   CHECK_OWNERS --all replies--> CLAIM   HSET strata:partmap p <self> ...
 *                                         for every partition with no
 *                                         owner or a dead one
 *   CLAIM --reply--> IDLE                 owned[] updated; retained
 *                                         messages of newly owned
 *                                         partitions loaded (HGETALL each,
 *                                         pipelined)
 * Any NULL reply (Redis down) ends the cycle at IDLE with owned[]
 * unchanged: without Redis the router keeps what it had.
 *
 * A partition the map gives to another live router is released (its cached
 * retained messages dropped).  Two routers claiming the same partition in
 * the same second both HSET; the map keeps the last, and the other one
 * sees that on its next cycle.  Not built yet (cluster issue): balancing
 * partitions between live routers (the first router keeps them all) and
 * re-sending in-flight traffic on failover.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "redis.h"
#include "router.h"
#include "scheme.h"
#include "status.h"

#define LEASE_MS 5000

/* Context of one claim cycle; freed when it ends. */
struct partition_cycle {
	struct strata_router *r;
	char *owner[STRATA_PARTITIONS];   /* from the map; NULL: none */
	bool claim[STRATA_PARTITIONS];    /* to HSET to self */
	unsigned pending;                 /* EXISTS replies awaited */
	struct partition_check {
		struct partition_cycle *cycle;
		const char *owner;            /* points into owner[] */
		bool alive;
	} *checks;
	size_t nchecks;
};

/* Arguments of the retained loads, one per partition. */
struct partition_load {
	struct strata_router *r;
	uint32_t partition;
};

static void
partition_cycle_end(struct partition_cycle *c)
{
	c->r->parts.cycle_running = false;
	for (size_t i = 0; i < STRATA_PARTITIONS; i++)
		free(c->owner[i]);
	free(c->checks);
	free(c);
}

bool
router_partition_owned(const struct strata_router *r, uint32_t partition)
{
	return partition < STRATA_PARTITIONS && r->parts.owned[partition];
}

static void
partition_load_done(struct strata_redis *redis, redisReply *reply,
    void *arg)
{
	struct partition_load *ld = arg;
	struct strata_router *r = ld->r;
	size_t loaded = 0, bad = 0, refused = 0;

	r->parts.loading--;
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    !router_partition_owned(r, ld->partition))
		goto out;
	for (size_t i = 0; i + 1 < reply->elements; i += 2) {
		redisReply *k = reply->element[i], *v = reply->element[i + 1];
		int rc = STRATA_EINVAL;

		if (k->type == REDIS_REPLY_STRING &&
		    v->type == REDIS_REPLY_STRING)
			rc = router_retained_load(&r->retained, k->str, k->len,
			    ld->partition, (const uint8_t *)v->str, v->len);
		if (rc == 0)
			loaded++;
		else if (rc == STRATA_ENOSPC)
			refused++;
		else
			bad++;
	}
	(*r->m.retained_refused) += refused;
	if (bad > 0 || refused > 0)
		STRATA_WARN("router", "retained messages not loaded|"
		    "partition=%u undecodable=%zu over_bounds=%zu",
		    ld->partition, bad, refused);
	if (loaded > 0)
		STRATA_DEBUG("router", "retained loaded|partition=%u "
		    "count=%zu", ld->partition, loaded);
out:
	free(ld);
}

static void
partition_take(struct strata_router *r, uint32_t p)
{
	struct partition_load *ld = malloc(sizeof(*ld));

	if (ld == NULL)
		abort();
	r->parts.owned[p] = true;
	r->parts.owned_count++;
	ld->r = r;
	ld->partition = p;
	r->parts.loading++;
	strata_redis_command(r->redis, partition_load_done, ld,
	    "HGETALL strata:retained:%u", p);
}

static void
partition_release(struct strata_router *r, uint32_t p, const char *owner)
{
	r->parts.owned[p] = false;
	r->parts.owned_count--;
	router_retained_drop_partition(&r->retained, p);
	STRATA_INFO("router", "partition released|partition=%u owner=%s", p,
	    owner);
}

/* CLAIM done (claimed: the HSET succeeded): bring owned[] in line. */
static void
partition_apply(struct partition_cycle *c, bool claimed)
{
	struct strata_router *r = c->r;
	const char *self = r->cfg.node_id;
	unsigned before = r->parts.owned_count;

	for (uint32_t p = 0; p < STRATA_PARTITIONS; p++) {
		bool mine = (c->claim[p] && claimed) ||
		    (c->owner[p] != NULL && strcmp(c->owner[p], self) == 0);

		if (mine && !r->parts.owned[p])
			partition_take(r, p);
		else if (!mine && r->parts.owned[p] && !c->claim[p])
			partition_release(r, p, c->owner[p] ? c->owner[p] :
			    "-");
	}
	if (r->parts.owned_count != before)
		STRATA_INFO("router", "partitions owned|count=%u",
		    r->parts.owned_count);
	partition_cycle_end(c);
}

static void
partition_claim_done(struct strata_redis *redis, redisReply *reply,
    void *arg)
{
	bool ok = reply != NULL && reply->type != REDIS_REPLY_ERROR;

	partition_apply(arg, ok);
}

static bool
partition_owner_alive(const struct partition_cycle *c, const char *owner)
{
	for (size_t i = 0; i < c->nchecks; i++)
		if (strcmp(c->checks[i].owner, owner) == 0)
			return c->checks[i].alive;
	return false;
}

/* CHECK_OWNERS done: HSET every orphan partition to self in one command. */
static void
partition_claim(struct partition_cycle *c)
{
	struct strata_router *r = c->r;
	const char **argv = malloc((2 + 2 * STRATA_PARTITIONS) *
	    sizeof(*argv));
	char (*num)[8] = malloc(STRATA_PARTITIONS * sizeof(*num));
	int argc = 2;

	if (argv == NULL || num == NULL)
		abort();
	argv[0] = "HSET";
	argv[1] = "strata:partmap";
	for (uint32_t p = 0; p < STRATA_PARTITIONS; p++) {
		const char *o = c->owner[p];

		if (o != NULL && (strcmp(o, r->cfg.node_id) == 0 ||
		    partition_owner_alive(c, o)))
			continue;
		c->claim[p] = true;
		snprintf(num[p], sizeof(num[p]), "%u", p);
		argv[argc++] = num[p];
		argv[argc++] = r->cfg.node_id;
	}
	if (argc == 2)
		partition_apply(c, false);
	else
		strata_redis_commandv(r->redis, partition_claim_done, c, argc,
		    argv, NULL);
	free(argv);
	free(num);
}

static void
partition_exists_done(struct strata_redis *redis, redisReply *reply,
    void *arg)
{
	struct partition_check *k = arg;
	struct partition_cycle *c = k->cycle;

	if (reply == NULL) {
		/* Unknown: count the owner alive, so nothing is stolen. */
		k->alive = true;
	} else {
		k->alive = reply->type == REDIS_REPLY_INTEGER &&
		    reply->integer > 0;
	}
	if (--c->pending == 0)
		partition_claim(c);
}

/* Collect the distinct owners other than self and ask if they live. */
static void
partition_check_owners(struct partition_cycle *c)
{
	struct strata_router *r = c->r;

	c->checks = calloc(STRATA_PARTITIONS, sizeof(*c->checks));
	if (c->checks == NULL)
		abort();
	for (uint32_t p = 0; p < STRATA_PARTITIONS; p++) {
		const char *o = c->owner[p];
		size_t i;

		if (o == NULL || strcmp(o, r->cfg.node_id) == 0)
			continue;
		for (i = 0; i < c->nchecks; i++)
			if (strcmp(c->checks[i].owner, o) == 0)
				break;
		if (i == c->nchecks)
			c->checks[c->nchecks++] = (struct partition_check){
				c, o, false };
	}
	if (c->nchecks == 0) {
		partition_claim(c);
		return;
	}
	c->pending = (unsigned)c->nchecks;
	for (size_t i = 0; i < c->nchecks; i++)
		strata_redis_command(r->redis, partition_exists_done,
		    &c->checks[i], "EXISTS strata:router:%s:alive",
		    c->checks[i].owner);
}

static void
partition_map_done(struct strata_redis *redis, redisReply *reply, void *arg)
{
	struct partition_cycle *c = arg;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
		partition_cycle_end(c);
		return;
	}
	for (size_t i = 0; i + 1 < reply->elements; i += 2) {
		redisReply *k = reply->element[i], *v = reply->element[i + 1];
		char *end;
		unsigned long p;

		if (k->type != REDIS_REPLY_STRING ||
		    v->type != REDIS_REPLY_STRING)
			continue;
		p = strtoul(k->str, &end, 10);
		if (*end != '\0' || p >= STRATA_PARTITIONS)
			continue;
		free(c->owner[p]);
		c->owner[p] = strdup(v->str);
		if (c->owner[p] == NULL)
			abort();
	}
	partition_check_owners(c);
}

static void
partition_scheme_cb(enum strata_scheme_result res, long partitions,
    long levels, void *arg)
{
	struct strata_router *r = arg;

	r->scheme_checking = false;
	if (r->stopping)
		return;
	if (res == STRATA_SCHEME_MISMATCH) {
		STRATA_ERROR("router", "config error: the cluster's partition "
		    "scheme (Redis strata:cluster: partitions %ld, "
		    "partition-levels %ld) is not this router's (partitions "
		    "%d, partition-levels %ld); set partition-levels %ld",
		    partitions, levels, STRATA_PARTITIONS,
		    r->cfg.partition_levels, levels);
		router_exit(r, 2);
		return;
	}
	if (res == STRATA_SCHEME_OK && !r->scheme_ok) {
		r->scheme_ok = true;
		router_partition_tick(r);
	}
}

void
router_partition_tick(struct strata_router *r)
{
	struct partition_cycle *c;

	if (!strata_redis_is_up(r->redis) || r->stopping ||
	    r->scheme_checking)
		return;
	if (!r->scheme_ok) {
		/* nothing is claimed before the cluster agrees on the
		 * partition scheme (common/scheme.h) */
		r->scheme_checking = true;
		strata_scheme_check(r->redis, STRATA_PARTITIONS,
		    r->cfg.partition_levels, partition_scheme_cb, r);
		return;
	}
	strata_redis_command(r->redis, NULL, NULL,
	    "SET strata:router:%s:alive 1 PX %d", r->cfg.node_id, LEASE_MS);
	if (r->link_address != NULL)
		strata_redis_command(r->redis, NULL, NULL,
		    "HSET strata:routers %s %s", r->cfg.node_id,
		    r->link_address);
	if (r->parts.cycle_running)
		return;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		abort();
	c->r = r;
	r->parts.cycle_running = true;
	strata_redis_command(r->redis, partition_map_done, c,
	    "HGETALL strata:partmap");
}

void
router_partition_start(struct strata_router *r)
{
	memset(&r->parts, 0, sizeof(r->parts));
}

/*
 * Give the lease up at shutdown: delete the alive key and the address so
 * other routers claim the partitions on their next cycle instead of after
 * the lease expiry.  done runs when Redis has answered (or at once, with
 * NULL, if it is down).
 */
void
router_partition_stop(struct strata_router *r, strata_redis_cb done, void *arg)
{
	r->stopping = true;
	strata_redis_command(r->redis, NULL, NULL,
	    "DEL strata:router:%s:alive", r->cfg.node_id);
	strata_redis_command(r->redis, done, arg, "HDEL strata:routers %s",
	    r->cfg.node_id);
}
