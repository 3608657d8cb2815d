/*
 * partition.c - partition ownership: the lease, balancing over the live
 * routers, and moves (docs/internals/cluster.md, section 2; the Redis
 * layout is in docs/internals/redis.md).
 *
 * Before anything else, on every (re)connect to Redis, the router checks
 * that the cluster's partition scheme is its own (common/scheme.h) and
 * exits with status 2 if not.  Then every second (router_partition_tick)
 * it refreshes its lease (strata:router:<id>:alive, PX 5000) and its
 * address, and runs one claim cycle unless one is under way; every 250 ms
 * (router_partition_fast_tick) it reads strata:{part}:ver and runs a cycle
 * at once when the map moved.  A cycle:
 *
 *   READ    HGETALL strata:routers, strata:{part}:map, strata:{part}:gen,
 *           strata:brokers (pipelined)
 *   LEASES  EXISTS of the lease of every router and broker named, and of
 *           every partition owner not among them
 *   DECIDE  the desired owner of each partition: the live router with the
 *           highest SipHash(router id, partition) (rendezvous hashing);
 *           claims: partitions without a live owner whose desired owner
 *           is this router (any router after two cycles orphaned);
 *           hand-overs: partitions of this router whose desired owner is
 *           another live router seen for 2 s, at most 64 a cycle
 *   CLAIM   one script applies them where the map still says what the
 *           cycle read (and the leases agree), bumps each generation and
 *           strata:{part}:ver
 *   APPLY   each partition's state follows the map:
 *
 *   NONE --map gives it to us (gen g)--> INCOMING(g)
 *   INCOMING --retained and offline sessions of p loaded, and every
 *             linked and every live broker sent PartitionJoin(p, g) (or
 *             3 s passed)--> OWNED:
 *             PartitionServing(p, g) to the brokers that joined, and to
 *             any that joins later
 *   INCOMING/OWNED --map gives it to another router--> RELEASING
 *   RELEASING --10 s (brokers still behind finish with our routes)-->
 *             NONE: exact routes and retained cache of p dropped
 *   RELEASING --map gives it back (gen g')--> INCOMING(g')
 *
 * Any NULL reply (Redis down or past its deadline) ends the cycle with
 * the states unchanged: without Redis the router keeps what it had.
 * A QoS 1/2 publish of a partition that is not OWNED here is refused
 * (PublishAck not_owner): the broker that sent it has a stale map, reads
 * it again and sends the publish to the owner (publish.c).  Only OWNED
 * has every broker's routes: RELEASING misses the subscriptions made
 * since the brokers left, INCOMING those of brokers not joined yet.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "hashmap.h"
#include "log.h"
#include "redis.h"
#include "router.h"
#include "scheme.h"
#include "siphash.h"
#include "status.h"

#define LEASE_MS 5000
#define STABLE_MS 2000          /* a router is given partitions after it */
#define ORPHAN_CYCLES 2         /* any router claims an orphan after it */
#define MOVES_PER_CYCLE 64
#define JOIN_TIMEOUT_MS 3000
#define RELEASE_GRACE_MS 10000

/* Claim or hand over, where the map still holds what the cycle read.
 * KEYS[1] partmap, KEYS[2] partgen, KEYS[3] partver; ARGV quadruples
 * (partition, expected owner or '', new owner, 'claim'|'give').  Returns
 * the {partition, generation} pairs applied. */
static const char partition_script[] =
    "local out = {} "
    "for i = 1, #ARGV, 4 do "
    "local p, exp, new, mode = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3] "
    "local cur = redis.call('HGET', KEYS[1], p) or '' "
    "local ok = cur == exp "
    "if ok and mode == 'claim' and exp ~= '' then ok = redis.call("
    "'EXISTS', 'strata:router:' .. exp .. ':alive') == 0 end "
    "if ok and mode == 'give' then ok = redis.call('EXISTS', "
    "'strata:router:' .. new .. ':alive') == 1 end "
    "if ok then redis.call('HSET', KEYS[1], p, new) "
    "out[#out + 1] = p "
    "out[#out + 1] = tostring(redis.call('HINCRBY', KEYS[2], p, 1)) end "
    "end "
    "if #out > 0 then redis.call('INCR', KEYS[3]) end "
    "return out";

/* One claim cycle; freed when it ends. */
struct partition_cycle {
	struct strata_router *r;
	char *owner[STRATA_PARTITIONS];   /* from the map; NULL: none */
	uint64_t gen[STRATA_PARTITIONS];
	const char *asked[STRATA_PARTITIONS]; /* new owner asked (a name
					     of the cycle or ours), NULL */
	char **names;                     /* routers then brokers checked */
	bool *alive;
	bool *is_router;
	size_t n_names, cap_names;
	unsigned pending;                 /* replies awaited */
	bool failed;
};

static void partition_cycle_start(struct strata_router *r);

/* ---- helpers ---- */

bool
router_partition_owned(const struct strata_router *r, uint32_t partition)
{
	return partition < STRATA_PARTITIONS &&
	    (r->parts.p[partition].state == PART_INCOMING ||
	    r->parts.p[partition].state == PART_OWNED);
}

bool
router_partition_serving(const struct strata_router *r, uint32_t partition)
{
	return partition < STRATA_PARTITIONS &&
	    r->parts.p[partition].state == PART_OWNED;
}

static void
partition_cycle_end(struct partition_cycle *c)
{
	struct strata_router *r = c->r;

	r->parts.cycle_running = false;
	for (size_t i = 0; i < STRATA_PARTITIONS; i++)
		free(c->owner[i]);
	for (size_t i = 0; i < c->n_names; i++)
		free(c->names[i]);
	free(c->names);
	free(c->alive);
	free(c->is_router);
	free(c);
	/* the map moved while this cycle ran: read it again */
	if (r->parts.cycle_again && !r->stopping &&
	    strata_redis_is_up(r->redis))
		partition_cycle_start(r);
}

/* Index of name among the checked names (adding it), or -1 when full. */
static size_t
partition_name(struct partition_cycle *c, const char *name, size_t len,
    bool is_router)
{
	for (size_t i = 0; i < c->n_names; i++)
		if (c->is_router[i] == is_router &&
		    strlen(c->names[i]) == len &&
		    memcmp(c->names[i], name, len) == 0)
			return i;
	if (c->n_names == c->cap_names) {
		c->cap_names = c->cap_names ? c->cap_names * 2 : 16;
		c->names = realloc(c->names, c->cap_names * sizeof(*c->names));
		c->alive = realloc(c->alive, c->cap_names * sizeof(*c->alive));
		c->is_router = realloc(c->is_router,
		    c->cap_names * sizeof(*c->is_router));
		if (c->names == NULL || c->alive == NULL ||
		    c->is_router == NULL)
			abort();
	}
	c->names[c->n_names] = strndup(name, len);
	if (c->names[c->n_names] == NULL)
		abort();
	c->alive[c->n_names] = false;
	c->is_router[c->n_names] = is_router;
	return c->n_names++;
}

static bool
partition_alive(const struct partition_cycle *c, const char *name,
    bool is_router)
{
	for (size_t i = 0; i < c->n_names; i++)
		if (c->is_router[i] == is_router &&
		    strcmp(c->names[i], name) == 0)
			return c->alive[i];
	return false;
}

static bool
partition_is_self(const struct strata_router *r, const char *id)
{
	return id != NULL && strcmp(id, r->cfg.node_id) == 0;
}

/* ---- states ---- */

static void
partition_send_serving(struct router_node *n, uint32_t p, uint64_t gen)
{
	Strata__PartitionServing s = STRATA__PARTITION_SERVING__INIT;

	s.partition = p;
	s.generation = gen;
	(void)router_node_send(n, STRATA_LINK_PARTITION_SERVING, &s.base,
	    ROUTER_DROP_ACK_QUEUE_FULL);
}

/* Has every linked broker joined generation gen of p?  The missing count
 * in *missing (partition_live_missing adds the live unlinked ones). */
static bool
partition_all_joined(struct strata_router *r, uint32_t p, uint64_t gen,
    unsigned *missing)
{
	struct strata_list *pos;

	*missing = 0;
	for (pos = r->nodes.next; pos != &r->nodes; pos = pos->next) {
		struct router_node *n = STRATA_CONTAINER_OF(pos,
		    struct router_node, node);

		if (n->link != NULL && n->joined[p] < gen)
			(*missing)++;
	}
	return *missing == 0;
}

struct partition_live_ctx {
	struct strata_router *r;
	uint32_t p;
	uint64_t gen;
	unsigned missing;
};

static int
partition_live_missing(const void *key, size_t len, void *value, void *arg)
{
	struct partition_live_ctx *c = arg;
	char id[256];
	struct router_node *n;

	if (len >= sizeof(id))
		return 0;
	memcpy(id, key, len);
	id[len] = '\0';
	n = router_node_find(c->r, id);
	if (n == NULL || (n->link == NULL && n->joined[c->p] < c->gen))
		c->missing++;
	return 0;
}

/* INCOMING -> OWNED when it can be. */
static void
partition_check_ready(struct strata_router *r, uint32_t p)
{
	struct router_part *pt = &r->parts.p[p];
	struct partition_live_ctx lc = { r, p, pt->gen, 0 };
	struct strata_list *pos;
	unsigned missing;
	bool late;

	if (pt->state != PART_INCOMING || !pt->loaded)
		return;
	(void)partition_all_joined(r, p, pt->gen, &missing);
	if (r->parts.live_brokers != NULL)
		strata_hashmap_foreach(r->parts.live_brokers,
		    partition_live_missing, &lc);
	missing += lc.missing;
	late = router_now_ms() >= pt->since_ms + JOIN_TIMEOUT_MS;
	if (missing > 0 && !late)
		return;
	if (missing > 0) {
		(*r->m.join_timeouts) += missing;
		STRATA_WARN("router", "partition served without every broker|"
		    "partition=%u generation=%llu missing=%u", p,
		    (unsigned long long)pt->gen, missing);
	}
	pt->state = PART_OWNED;
	(*r->m.moved_in)++;
	for (pos = r->nodes.next; pos != &r->nodes; pos = pos->next) {
		struct router_node *n = STRATA_CONTAINER_OF(pos,
		    struct router_node, node);

		if (n->joined[p] >= pt->gen)
			partition_send_serving(n, p, pt->gen);
	}
}

struct partition_load {
	struct strata_router *r;
	uint32_t partition;
	uint64_t gen;
};

static void
partition_load_done(struct strata_redis *redis, redisReply *reply,
    void *arg)
{
	struct partition_load *ld = arg;
	struct strata_router *r = ld->r;
	struct router_part *pt = &r->parts.p[ld->partition];
	size_t loaded = 0, bad = 0, refused = 0;

	r->parts.loading--;
	if (pt->state != PART_INCOMING || pt->gen != ld->gen)
		goto out;
	pt->loading = false;
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY)
		goto out; /* loaded again by the next cycle */
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
	pt->loaded = true;
	partition_check_ready(r, ld->partition);
out:
	free(ld);
}

static void
partition_load(struct strata_router *r, uint32_t p)
{
	struct partition_load *ld = malloc(sizeof(*ld));

	if (ld == NULL)
		abort();
	ld->r = r;
	ld->partition = p;
	ld->gen = r->parts.p[p].gen;
	r->parts.p[p].loading = true;
	r->parts.loading++;
	/* its offline sessions first: loaded when the retained are */
	router_sessions_load(r, (int)p);
	strata_redis_command(r->redis, partition_load_done, ld,
	    "HGETALL strata:retained:%u", p);
}

static void
partition_incoming(struct strata_router *r, uint32_t p, uint64_t gen)
{
	struct router_part *pt = &r->parts.p[p];

	if (pt->state != PART_INCOMING && pt->state != PART_OWNED)
		r->parts.owned_count++;
	pt->state = PART_INCOMING;
	pt->gen = gen;
	pt->since_ms = router_now_ms();
	pt->loaded = false;
	partition_load(r, p);
}

static void
partition_releasing(struct strata_router *r, uint32_t p, const char *owner)
{
	struct router_part *pt = &r->parts.p[p];

	r->parts.owned_count--;
	pt->state = PART_RELEASING;
	pt->since_ms = router_now_ms();
	(*r->m.moved_out)++;
	STRATA_INFO("router", "partition given away|partition=%u owner=%s",
	    p, owner != NULL ? owner : "-");
}

/* RELEASING -> NONE: the routes of p and its retained cache go. */
static void
partition_release(struct strata_router *r, uint32_t p)
{
	struct strata_list *pos;

	r->parts.p[p].state = PART_NONE;
	router_retained_drop_partition(&r->retained, p);
	router_sessions_drop_partition(r, p);
	for (pos = r->nodes.next; pos != &r->nodes; pos = pos->next) {
		struct router_node *n = STRATA_CONTAINER_OF(pos,
		    struct router_node, node);

		router_routes_drop_partition(&r->routes, &n->routes, p,
		    (unsigned)r->cfg.partition_levels);
		router_shares_drop_partition(n, p);
	}
}

/* Bring p's state in line with the map (owner, generation). */
static void
partition_follow(struct strata_router *r, uint32_t p, const char *owner,
    uint64_t gen)
{
	struct router_part *pt = &r->parts.p[p];
	bool mine = partition_is_self(r, owner);
	bool ours = pt->state == PART_INCOMING || pt->state == PART_OWNED;

	if (mine && (!ours || pt->gen != gen))
		partition_incoming(r, p, gen);
	else if (mine && pt->state == PART_INCOMING && !pt->loading &&
	    !pt->loaded)
		partition_load(r, p); /* the load failed: again */
	else if (!mine && ours)
		partition_releasing(r, p, owner);
}

/* Every second: INCOMING past its join timeout, RELEASING past its grace. */
static void
partition_timers(struct strata_router *r)
{
	uint64_t now = router_now_ms();

	for (uint32_t p = 0; p < STRATA_PARTITIONS; p++) {
		struct router_part *pt = &r->parts.p[p];

		if (pt->state == PART_INCOMING)
			partition_check_ready(r, p);
		else if (pt->state == PART_RELEASING &&
		    now >= pt->since_ms + RELEASE_GRACE_MS)
			partition_release(r, p);
	}
}

void
router_partition_join(struct router_node *n, uint32_t p, uint64_t gen)
{
	struct strata_router *r = n->router;
	struct router_part *pt = &r->parts.p[p];

	if (gen > n->joined[p])
		n->joined[p] = gen;
	if (pt->state == PART_OWNED && pt->gen == gen)
		partition_send_serving(n, p, gen);
	else if (pt->state == PART_INCOMING)
		partition_check_ready(r, p);
}

void
router_partition_node_linked(struct router_node *n)
{
	(void)n;
}

/* ---- the cycle: APPLY ---- */

static void
partition_apply(struct partition_cycle *c)
{
	struct strata_router *r = c->r;
	unsigned before = r->parts.owned_count;

	for (uint32_t p = 0; p < STRATA_PARTITIONS; p++)
		partition_follow(r, p, c->owner[p], c->gen[p]);
	if (r->parts.owned_count != before)
		STRATA_INFO("router", "partitions owned|count=%u",
		    r->parts.owned_count);
	partition_timers(r);
	partition_cycle_end(c);
}

static void
partition_claim_done(struct strata_redis *redis, redisReply *reply,
    void *arg)
{
	struct partition_cycle *c = arg;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
		partition_apply(c); /* the map as read still holds */
		return;
	}
	for (size_t i = 0; i + 1 < reply->elements; i += 2) {
		redisReply *k = reply->element[i], *g = reply->element[i + 1];
		unsigned long p;

		if (k->type != REDIS_REPLY_STRING ||
		    g->type != REDIS_REPLY_STRING)
			continue;
		p = strtoul(k->str, NULL, 10);
		if (p >= STRATA_PARTITIONS)
			continue;
		/* the script applied it: owner as asked, new generation */
		c->gen[p] = strtoull(g->str, NULL, 10);
		if (c->asked[p] == NULL)
			continue;
		free(c->owner[p]);
		c->owner[p] = strdup(c->asked[p]);
		if (c->owner[p] == NULL)
			abort();
	}
	partition_apply(c);
}

/* ---- the cycle: DECIDE ---- */

/* The desired owner of p among the live routers (NULL: none). */
static const char *
partition_desired(const struct partition_cycle *c, uint32_t p)
{
	static const struct strata_siphash_key key = {
		0x7374726174612d70ull, 0x617274697469306eull };
	const char *best = NULL;
	uint64_t best_h = 0;
	uint8_t buf[300];

	for (size_t i = 0; i < c->n_names; i++) {
		size_t len = strlen(c->names[i]);
		uint64_t h;

		if (!c->is_router[i] || !c->alive[i] || len + 4 > sizeof(buf))
			continue;
		memcpy(buf, c->names[i], len);
		buf[len] = (uint8_t)(p >> 24);
		buf[len + 1] = (uint8_t)(p >> 16);
		buf[len + 2] = (uint8_t)(p >> 8);
		buf[len + 3] = (uint8_t)p;
		h = strata_siphash13(&key, buf, len + 4);
		if (best == NULL || h > best_h ||
		    (h == best_h && strcmp(c->names[i], best) < 0)) {
			best = c->names[i];
			best_h = h;
		}
	}
	return best;
}

/* Has router id been seen for STABLE_MS (this router's own clock)? */
static bool
partition_stable(struct strata_router *r, const char *id)
{
	void **slot = strata_hashmap_slot(r->parts.seen_routers, id,
	    strlen(id), true);
	uint64_t now = router_now_ms();

	if (*slot == NULL)
		*slot = (void *)(uintptr_t)now;
	return now >= (uint64_t)(uintptr_t)*slot + STABLE_MS;
}

struct partition_moves {
	const char **argv;
	char (*num)[12];
	int argc;
	unsigned gives;
};

static void
partition_move(struct partition_cycle *c, struct partition_moves *mv,
    uint32_t p, const char *new, const char *mode)
{
	snprintf(mv->num[p], sizeof(mv->num[p]), "%u", p);
	mv->argv[mv->argc++] = mv->num[p];
	mv->argv[mv->argc++] = c->owner[p] != NULL ? c->owner[p] : "";
	mv->argv[mv->argc++] = new;
	mv->argv[mv->argc++] = mode;
	c->asked[p] = new;
}

/* What to claim and give for partition p. */
static void
partition_decide_one(struct partition_cycle *c, struct partition_moves *mv,
    uint32_t p)
{
	struct strata_router *r = c->r;
	struct router_part *pt = &r->parts.p[p];
	const char *owner = c->owner[p];
	const char *desired = partition_desired(c, p);
	bool live = owner != NULL && partition_alive(c, owner, true);

	if (!live) {
		if (pt->orphan_cycles < 255)
			pt->orphan_cycles++;
		if (partition_is_self(r, desired) ||
		    pt->orphan_cycles > ORPHAN_CYCLES)
			partition_move(c, mv, p, r->cfg.node_id, "claim");
		return;
	}
	pt->orphan_cycles = 0;
	if (partition_is_self(r, owner) && desired != NULL &&
	    !partition_is_self(r, desired) && mv->gives < MOVES_PER_CYCLE &&
	    partition_stable(r, desired)) {
		partition_move(c, mv, p, desired, "give");
		mv->gives++;
	}
}

static void
partition_decide(struct partition_cycle *c)
{
	struct strata_router *r = c->r;
	struct partition_moves mv;
	static const char *const head[] = {"EVAL", partition_script, "3",
	    "strata:{part}:map", "strata:{part}:gen", "strata:{part}:ver"};

	mv.argv = malloc((6 + 4 * STRATA_PARTITIONS) * sizeof(*mv.argv));
	mv.num = malloc(STRATA_PARTITIONS * sizeof(*mv.num));
	if (mv.argv == NULL || mv.num == NULL)
		abort();
	memcpy(mv.argv, head, sizeof(head));
	mv.argc = 6;
	mv.gives = 0;
	for (uint32_t p = 0; p < STRATA_PARTITIONS; p++)
		partition_decide_one(c, &mv, p);
	if (mv.argc == 6)
		partition_apply(c);
	else
		strata_redis_commandv(r->redis, partition_claim_done, c,
		    mv.argc, mv.argv, NULL);
	free(mv.argv);
	free(mv.num);
}

/* ---- the cycle: READ and LEASES ---- */

/* One reply of the cycle is in; at the last, go on (or end on failure). */
static void
partition_reply_in(struct partition_cycle *c, void (*next)(
    struct partition_cycle *))
{
	if (--c->pending != 0)
		return;
	if (c->failed) {
		partition_cycle_end(c);
		return;
	}
	next(c);
}

struct partition_check {
	struct partition_cycle *cycle;
	size_t index;
};

/* The live brokers of the cycle become r->parts.live_brokers; a DOWN
 * node without a lease is gone. */
static void
partition_brokers_follow(struct partition_cycle *c)
{
	struct strata_router *r = c->r;
	struct strata_list *pos, *tmp;

	strata_hashmap_free(r->parts.live_brokers);
	r->parts.live_brokers = strata_hashmap_new(NULL);
	for (size_t i = 0; i < c->n_names; i++)
		if (!c->is_router[i] && c->alive[i])
			strata_hashmap_put(r->parts.live_brokers, c->names[i],
			    strlen(c->names[i]), (void *)1);
	STRATA_LIST_FOREACH_SAFE(pos, tmp, &r->nodes) {
		struct router_node *n = STRATA_CONTAINER_OF(pos,
		    struct router_node, node);

		if (n->link == NULL && !partition_alive(c, n->node_id, false))
			router_node_gone(n);
	}
}

/* Routers and brokers without a lease leave strata:routers and
 * strata:brokers (brokers stop dialling a dead router; the lists do not
 * grow with every node id that ever ran). */
static void
partition_forget_dead(struct partition_cycle *c)
{
	for (size_t i = 0; i < c->n_names; i++)
		if (!c->alive[i])
			strata_redis_command(c->r->redis, NULL, NULL,
			    "HDEL strata:%s %s", c->is_router[i] ? "routers" :
			    "brokers", c->names[i]);
}

static void
partition_leases_done(struct partition_cycle *c)
{
	partition_brokers_follow(c);
	partition_forget_dead(c);
	partition_decide(c);
}

static void
partition_exists_done(struct strata_redis *redis, redisReply *reply,
    void *arg)
{
	struct partition_check *k = arg;
	struct partition_cycle *c = k->cycle;

	if (reply == NULL || reply->type != REDIS_REPLY_INTEGER)
		c->failed = true;
	else
		c->alive[k->index] = reply->integer > 0 ||
		    (c->is_router[k->index] &&
		    partition_is_self(c->r, c->names[k->index]));
	free(k);
	partition_reply_in(c, partition_leases_done);
}

static void
partition_check_leases(struct partition_cycle *c)
{
	struct strata_router *r = c->r;
	struct strata_list *pos;
	size_t n;

	/* owners named by the map, and DOWN nodes, are checked too */
	for (uint32_t p = 0; p < STRATA_PARTITIONS; p++)
		if (c->owner[p] != NULL)
			(void)partition_name(c, c->owner[p],
			    strlen(c->owner[p]), true);
	for (pos = r->nodes.next; pos != &r->nodes; pos = pos->next) {
		const char *id = STRATA_CONTAINER_OF(pos, struct router_node,
		    node)->node_id;

		(void)partition_name(c, id, strlen(id), false);
	}
	n = c->n_names;
	c->pending = (unsigned)n + 1;
	for (size_t i = 0; i < n; i++) {
		struct partition_check *k = malloc(sizeof(*k));

		if (k == NULL)
			abort();
		k->cycle = c;
		k->index = i;
		strata_redis_command(r->redis, partition_exists_done, k,
		    "EXISTS strata:%s:%s:alive", c->is_router[i] ?
		    "router" : "broker", c->names[i]);
	}
	partition_reply_in(c, partition_leases_done);
}

/* A HASH reply's fields as names of the cycle. */
static void
partition_names_of(struct partition_cycle *c, const redisReply *reply,
    bool is_router)
{
	for (size_t i = 0; i + 1 < reply->elements; i += 2) {
		const redisReply *k = reply->element[i];

		if (k->type == REDIS_REPLY_STRING && k->len > 0 &&
		    k->len < 256)
			(void)partition_name(c, k->str, k->len, is_router);
	}
}

static void
partition_map_of(struct partition_cycle *c, const redisReply *reply,
    bool gens)
{
	for (size_t i = 0; i + 1 < reply->elements; i += 2) {
		const redisReply *k = reply->element[i];
		const redisReply *v = reply->element[i + 1];
		char *end;
		unsigned long p;

		if (k->type != REDIS_REPLY_STRING ||
		    v->type != REDIS_REPLY_STRING || v->len == 0 ||
		    v->len >= 256)
			continue;
		p = strtoul(k->str, &end, 10);
		if (*end != '\0' || p >= STRATA_PARTITIONS)
			continue;
		if (gens) {
			c->gen[p] = strtoull(v->str, NULL, 10);
			continue;
		}
		free(c->owner[p]);
		c->owner[p] = strndup(v->str, v->len);
		if (c->owner[p] == NULL)
			abort();
	}
}

enum partition_read { READ_ROUTERS, READ_MAP, READ_GENS, READ_BROKERS };

struct partition_read_arg {
	struct partition_cycle *cycle;
	enum partition_read what;
};

static void
partition_read_done(struct strata_redis *redis, redisReply *reply,
    void *arg)
{
	struct partition_read_arg *a = arg;
	struct partition_cycle *c = a->cycle;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY)
		c->failed = true;
	else if (a->what == READ_ROUTERS || a->what == READ_BROKERS)
		partition_names_of(c, reply, a->what == READ_ROUTERS);
	else
		partition_map_of(c, reply, a->what == READ_GENS);
	free(a);
	partition_reply_in(c, partition_check_leases);
}

static void
partition_cycle_start(struct strata_router *r)
{
	static const char *const keys[] = {"strata:routers",
	    "strata:{part}:map", "strata:{part}:gen", "strata:brokers"};
	struct partition_cycle *c = calloc(1, sizeof(*c));

	if (c == NULL)
		abort();
	c->r = r;
	r->parts.cycle_running = true;
	r->parts.cycle_again = false;
	c->pending = 4;
	/* this router is live, whatever its lease says this instant */
	(void)partition_name(c, r->cfg.node_id, strlen(r->cfg.node_id), true);
	for (int i = 0; i < 4; i++) {
		struct partition_read_arg *a = malloc(sizeof(*a));

		if (a == NULL)
			abort();
		a->cycle = c;
		a->what = (enum partition_read)i;
		strata_redis_command(r->redis, partition_read_done, a,
		    "HGETALL %s", keys[i]);
	}
}

/* ---- ticks ---- */

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
		/* sessions with a wildcard in the partition key are every
		 * router's */
		router_sessions_load(r, -1);
		router_partition_tick(r);
	}
}

/* strata:nodeinfo:router:<id>: this router's figures for the web
 * console's ListNodes (docs/internals/console.md), gone with the lease. */
static void
partition_node_info(struct strata_router *r)
{
	const struct router_metrics *m = &r->m;
	unsigned long long pubs = 0;

	if (r->started == 0)
		r->started = (long long)time(NULL);
	for (int i = 0; i < 3; i++)
		pubs += m->publishes[i] != NULL ? *m->publishes[i] : 0;
	strata_redis_command(r->redis, NULL, NULL, "HSET "
	    "strata:nodeinfo:router:%s role router address %s started %lld "
	    "partitions %u links %u publishes_in %llu publishes_out %llu",
	    r->cfg.node_id, r->link_address != NULL ? r->link_address : "",
	    r->started, r->parts.owned_count, r->broker_count, pubs,
	    m->deliveries != NULL ? (unsigned long long)*m->deliveries : 0ULL);
	strata_redis_command(r->redis, NULL, NULL,
	    "PEXPIRE strata:nodeinfo:router:%s %d", r->cfg.node_id, LEASE_MS);
}

void
router_partition_tick(struct strata_router *r)
{
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
	partition_node_info(r);
	if (r->parts.cycle_running)
		r->parts.cycle_again = true;
	else
		partition_cycle_start(r);
}

static void
partition_ver_done(struct strata_redis *redis, redisReply *reply, void *arg)
{
	struct strata_router *r = arg;
	uint64_t ver;

	r->parts.ver_checking = false;
	if (reply == NULL || r->stopping)
		return;
	ver = reply->type == REDIS_REPLY_STRING ?
	    strtoull(reply->str, NULL, 10) : 0;
	if (ver == r->parts.partver)
		return;
	r->parts.partver = ver;
	if (r->parts.cycle_running)
		r->parts.cycle_again = true;
	else
		partition_cycle_start(r);
}

void
router_partition_fast_tick(struct strata_router *r)
{
	if (!r->scheme_ok || r->stopping || r->parts.ver_checking ||
	    !strata_redis_is_up(r->redis))
		return;
	r->parts.ver_checking = true;
	strata_redis_command(r->redis, partition_ver_done, r,
	    "GET strata:{part}:ver");
}

void
router_partition_start(struct strata_router *r)
{
	memset(&r->parts, 0, sizeof(r->parts));
	r->parts.seen_routers = strata_hashmap_new(NULL);
}

void
router_partition_fini(struct strata_router *r)
{
	strata_hashmap_free(r->parts.seen_routers);
	strata_hashmap_free(r->parts.live_brokers);
	r->parts.seen_routers = NULL;
	r->parts.live_brokers = NULL;
}

/*
 * Give the lease up at shutdown: delete the alive key and the address, and
 * bump strata:{part}:ver, so other routers claim the partitions at once
 * instead of after the lease expiry.  done runs when Redis has answered
 * (or at once, with NULL, if it is down).
 */
void
router_partition_stop(struct strata_router *r, strata_redis_cb done, void *arg)
{
	r->stopping = true;
	strata_redis_command(r->redis, NULL, NULL,
	    "DEL strata:router:%s:alive", r->cfg.node_id);
	strata_redis_command(r->redis, NULL, NULL, "INCR strata:{part}:ver");
	strata_redis_command(r->redis, done, arg, "HDEL strata:routers %s",
	    r->cfg.node_id);
}
