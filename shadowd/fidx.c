/*
 * fidx.c - strata-shadowd keeps the fleet index (AWS_Things) in Redis
 * (docs/internals/fleet-index.md).
 *
 * Every change reaches the index through one script, the reindex script
 * of common/fidx_index.c, which recomputes a thing's document from its
 * records; so who calls it, how often and in which order never matters
 * for the result, only that it is called after each change:
 *   - a shadow written by this instance (ops.c): reindex that thing;
 *   - a lifecycle presence event (the internal session's shared
 *     subscription: one instance of the group gets each): record it,
 *     reindex;
 *   - a registry change (`thing <name>`, `group <name>` on
 *     strata:registry, which every instance hears): the leader only;
 *   - a build: the leader reindexes every thing of the registry and
 *     every thing of the index, on taking the lease (catching up with
 *     what happened while no leader ran) and whenever the configuration's
 *     generation is not the one built (UpdateIndexingConfiguration).
 * Once the index is built, the leader also keeps the dynamic thing
 * groups' members (fidx_groups.c).
 *
 * The leader lease (strata:fidx:leader, 10 s, renewed every second):
 *
 *   FOLLOWER --SET NX won--> LEADER (build pending) --build--> LEADER
 *   LEADER --renewal refused (another node holds it)--> FOLLOWER
 *
 * A lease renewal that gets no answer (Redis slow) changes nothing;
 * only a lease taken anew (1 from the script) starts a catching-up build.
 *
 * A build walks the registry's thing set (SSCAN) then the index's thing
 * set (ZSCAN), 100 names a step, each step's scripts pipelined, 5 ms
 * between steps; at the
 * end it marks the generation built and the index ACTIVE, unless the
 * configuration changed meanwhile (then it builds again).
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/sha.h>

#include "fidx_index.h"
#include "shadowd.h"

#define FIDX_LEASE_MS "10000"
#define FIDX_STEP "100"
#define FIDX_STEP_PAUSE_MS 5   /* between steps: other clients' turn */
#define FIDX_GROUPS_EVERY 5    /* ticks between dynamic group passes */



static const char *const fidx_scripts[FIDX_NSCRIPTS] = {
	strata_fidx_script_reindex, strata_fidx_script_presence,
};

typedef void (*fidx_done_cb)(struct shadowd_fidx *f, redisReply *reply,
    void *arg);

/* One script call: EVALSHA, and EVAL once if Redis does not have it. */
struct fidx_cmd {
	struct shadowd_fidx *f;
	enum shadowd_fidx_script script;
	int argc;
	char *argv[5];
	fidx_done_cb done;
	void *arg;
	bool retried;
};

static void fidx_send(struct fidx_cmd *c);

/* Stopped (shadowd_fidx_free): answers still arriving send nothing. */
static bool
fidx_stopped(const struct shadowd_fidx *f)
{
	return f->tick == NULL;
}

static void
fidx_cmd_free(struct fidx_cmd *c)
{
	for (int i = 0; i < c->argc; i++)
		free(c->argv[i]);
	free(c);
}

static void
fidx_ran(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct fidx_cmd *c = arg;

	(void)r;
	if (reply != NULL && reply->type == REDIS_REPLY_ERROR &&
	    strncmp(reply->str, "NOSCRIPT", 8) == 0 && !c->retried &&
	    !fidx_stopped(c->f)) {
		c->retried = true;
		fidx_send(c);
		return;
	}
	if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
		STRATA_WARN(SHADOWD_COMP, "fleet index script failed|"
		    "error=\"%s\"", reply->str);
	if (c->done != NULL)
		c->done(c->f, reply, c->arg);
	fidx_cmd_free(c);
}

static void
fidx_send(struct fidx_cmd *c)
{
	const char *v[8];
	size_t len[8];
	int n = 0;

	v[n++] = c->retried ? "EVAL" : "EVALSHA";
	v[n++] = c->retried ? fidx_scripts[c->script] : c->f->sha[c->script];
	v[n++] = "0";
	for (int i = 0; i < c->argc; i++)
		v[n++] = c->argv[i];
	for (int i = 0; i < n; i++)
		len[i] = strlen(v[i]);
	strata_redis_commandv(c->f->sd->b->redis, fidx_ran, c, n, v, len);
}

static void
fidx_run(struct shadowd_fidx *f, enum shadowd_fidx_script script, int argc,
    const char **argv, fidx_done_cb done, void *arg)
{
	struct fidx_cmd *c = calloc(1, sizeof(*c));

	if (c == NULL)
		abort();
	c->f = f;
	c->script = script;
	c->argc = argc;
	for (int i = 0; i < argc; i++)
		if ((c->argv[i] = strdup(argv[i])) == NULL)
			abort();
	c->done = done;
	c->arg = arg;
	if (fidx_stopped(f)) {
		fidx_ran(NULL, NULL, c);
		return;
	}
	fidx_send(c);
}

static void
fidx_reindex(struct shadowd_fidx *f, const char *thing, fidx_done_cb done,
    void *arg)
{
	fidx_run(f, FIDX_REINDEX, 1, &thing, done, arg);
}

void
shadowd_fidx_thing(struct shadowd *sd, const char *thing)
{
	/* not skipped when the index looked OFF at the last tick: it may
	 * have been turned on since (the script returns at once if not) */
	if (sd->fidx.sd != NULL)
		fidx_reindex(&sd->fidx, thing, NULL, NULL);
}

/* ---- presence events ---- */

struct fidx_event {
	struct shadowd *sd;
	char thing[129];
	unsigned generation;
	uint16_t packet_id;
};

static void
fidx_event_done(struct shadowd_fidx *f, redisReply *reply, void *arg)
{
	struct fidx_event *e = arg;

	(void)reply;
	shadowd_request_done(f->sd, e->generation, e->packet_id);
	free(e);
}

static void
fidx_event_recorded(struct shadowd_fidx *f, redisReply *reply, void *arg)
{
	struct fidx_event *e = arg;
	const char *thing = e->thing;

	if (reply != NULL && reply->type == REDIS_REPLY_INTEGER &&
	    reply->integer == 1) {
		fidx_reindex(f, thing, fidx_event_done, e);
		return;
	}
	fidx_event_done(f, reply, e);
}

void
shadowd_fidx_presence(struct shadowd *sd, const uint8_t *payload,
    size_t len, unsigned generation, uint16_t packet_id)
{
	struct shadowd_fidx *f = &sd->fidx;
	json_t *ev = json_loadb((const char *)payload, len, 0, NULL);
	const char *client = json_string_value(json_object_get(ev, "clientId"));
	const char *type = json_string_value(json_object_get(ev, "eventType"));
	const char *reason = json_string_value(json_object_get(ev,
	    "disconnectReason"));
	json_t *ts = json_object_get(ev, "timestamp");
	json_t *ver = json_object_get(ev, "versionNumber");
	struct fidx_event *e;
	char tsb[24], verb[24];

	if (f->sd == NULL || client == NULL || type == NULL ||
	    !json_is_integer(ts) || !json_is_integer(ver) ||
	    strlen(client) > 128 || (strcmp(type, "connected") != 0 &&
	    strcmp(type, "disconnected") != 0)) {
		json_decref(ev);
		shadowd_request_done(sd, generation, packet_id);
		return;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		abort();
	e->sd = sd;
	snprintf(e->thing, sizeof(e->thing), "%s", client);
	e->generation = generation;
	e->packet_id = packet_id;
	snprintf(tsb, sizeof(tsb), "%lld", (long long)json_integer_value(ts));
	snprintf(verb, sizeof(verb), "%lld",
	    (long long)json_integer_value(ver));
	fidx_run(f, FIDX_PRESENCE, 5, (const char *[]){client, type, tsb, verb,
	    reason != NULL ? reason : ""}, fidx_event_recorded, e);
	json_decref(ev);
}

/* ---- registry changes ---- */

/* The things whose documents name group g (or that are its members). */
static const char script_group_things[] =
    "local g = string.lower(ARGV[1]) "
    "local out = redis.call('SMEMBERS', 'strata:group-things:{' .. "
    "  ARGV[1] .. '}') "
    "for _, m in ipairs(redis.call('ZRANGEBYLEX', "
    "  'strata:fidx:s:thingGroupNames', '[' .. g .. '\\0', "
    "  '(' .. g .. '\\1')) do "
    "  out[#out + 1] = string.sub(m, #g + 2) end "
    "return out";

static void
fidx_group_things(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct shadowd_fidx *f = arg;

	(void)r;
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i < reply->elements; i++)
		if (reply->element[i]->type == REDIS_REPLY_STRING)
			fidx_reindex(f, reply->element[i]->str, NULL, NULL);
}

static void
fidx_registry(struct strata_redis *r, const char *msg, size_t len,
    void *arg)
{
	struct shadowd_fidx *f = arg;
	char name[200];

	(void)r;
	if (!f->leader || len >= sizeof(name))
		return;
	if (len > 6 && memcmp(msg, "thing ", 6) == 0) {
		memcpy(name, msg + 6, len - 6);
		name[len - 6] = '\0';
		fidx_reindex(f, name, NULL, NULL);
	} else if (len > 6 && memcmp(msg, "group ", 6) == 0) {
		const char *v[] = {"EVAL", script_group_things, "0", name};
		size_t l[4];

		memcpy(name, msg + 6, len - 6);
		name[len - 6] = '\0';
		f->groups_due = true;   /* maybe a dynamic group */
		for (int i = 0; i < 4; i++)
			l[i] = strlen(v[i]);
		strata_redis_commandv(f->sd->b->redis, fidx_group_things, f,
		    4, v, l);
	}
}

/* ---- builds ---- */

static void fidx_step(struct shadowd_fidx *f);

/* KEYS: config; ARGV: the generation built.  ACTIVE unless another
 * generation came meanwhile. */
static const char script_built[] =
    "if (redis.call('HGET', KEYS[1], 'generation') or '0') ~= ARGV[1] "
    "then return 0 end "
    "redis.call('HSET', KEYS[1], 'built', ARGV[1], 'status', 'ACTIVE') "
    "return 1";

static void
fidx_built(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct shadowd_fidx *f = arg;

	(void)r;
	f->building = false;
	if (reply != NULL && reply->type == REDIS_REPLY_INTEGER &&
	    reply->integer == 1)
		STRATA_INFO(SHADOWD_COMP, "fleet index built|generation=%s",
		    f->gen);
}

static void
fidx_step_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	fidx_step(arg);
}

/* The next step after a pause: a build's scripts come in bursts of
 * FIDX_STEP, and Redis serves the other clients between them (without
 * it, on a loaded machine, a build kept the admin API from getting an
 * answer within redis-timeout). */
static void
fidx_step_later(struct shadowd_fidx *f)
{
	struct timeval pause = {0, FIDX_STEP_PAUSE_MS * 1000};

	if (fidx_stopped(f) || event_base_once(f->sd->b->base, -1, EV_TIMEOUT,
	    fidx_step_timer, f, &pause) != 0)
		fidx_step(f);
}

static void
fidx_step_done(struct shadowd_fidx *f, redisReply *reply, void *arg)
{
	(void)arg;
	if (arg == (void *)f && (reply == NULL ||
	    reply->type == REDIS_REPLY_ERROR))
		f->step_failed = true;
	if (--f->pending > 0)
		return;
	if (f->step_failed) {
		/* a thing of this step may be stale: the step again, from
		 * the next tick */
		f->step_failed = false;
		f->phase = f->step_phase;
		snprintf(f->cursor, sizeof(f->cursor), "%s", f->step_cursor);
		f->building = false;
		f->resume = true;
		return;
	}
	fidx_step_later(f);
}

static void
fidx_scanned(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct shadowd_fidx *f = arg;
	const redisReply *names;
	size_t step = f->phase == 0 ? 1 : 2;   /* ZSCAN: member, score */

	(void)r;
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != 2 ||
	    reply->element[0]->type != REDIS_REPLY_STRING ||
	    reply->element[1]->type != REDIS_REPLY_ARRAY) {
		/* Redis slow or gone: the next tick goes on from this
		 * step (the cursor is kept) */
		f->building = false;
		f->resume = true;
		return;
	}
	snprintf(f->cursor, sizeof(f->cursor), "%s", reply->element[0]->str);
	if (strcmp(f->cursor, "0") == 0)   /* this set is done */
		f->phase++;
	names = reply->element[1];
	f->pending = 1;
	for (size_t i = 0; i < names->elements; i += step)
		if (names->element[i]->type == REDIS_REPLY_STRING) {
			f->pending++;
			fidx_reindex(f, names->element[i]->str,
			    fidx_step_done, f);
		}
	fidx_step_done(f, NULL, NULL);
}

/* The next SSCAN / ZSCAN step, or the end of the build. */
static void
fidx_step(struct shadowd_fidx *f)
{
	if (fidx_stopped(f)) {
		f->building = false;
		return;
	}
	if (f->phase >= 2) {
		const char *v[] = {"EVAL", script_built, "1",
		    STRATA_FIDX_CONFIG, f->gen};
		size_t len[5];

		for (int i = 0; i < 5; i++)
			len[i] = strlen(v[i]);
		strata_redis_commandv(f->sd->b->redis, fidx_built, f, 5, v,
		    len);
		return;
	}
	f->step_phase = f->phase;
	snprintf(f->step_cursor, sizeof(f->step_cursor), "%s", f->cursor);
	strata_redis_command(f->sd->b->redis, fidx_scanned, f,
	    "%s %s %s COUNT " FIDX_STEP, f->phase == 0 ? "SSCAN" : "ZSCAN",
	    f->phase == 0 ? "strata:things" : STRATA_FIDX_THINGS, f->cursor);
}

static void
fidx_build(struct shadowd_fidx *f, const char *gen)
{
	f->building = true;
	f->reconcile = false;
	f->resume = false;
	f->phase = 0;
	snprintf(f->gen, sizeof(f->gen), "%s", gen);
	snprintf(f->cursor, sizeof(f->cursor), "0");
	STRATA_INFO(SHADOWD_COMP, "fleet index build|generation=%s", gen);
	fidx_step(f);
}

/* ---- the tick: configuration, lease, builds ---- */

/* ARGV: node id, lease ms.  2 this node held the lease and still does,
 * 1 it has just taken it, 0 another node holds it. */
static const char script_lease[] =
    "local cur = redis.call('GET', KEYS[1]) "
    "if cur == ARGV[1] then "
    "  redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 2 end "
    "if cur then return 0 end "
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1";

static void
fidx_config_read(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct shadowd_fidx *f = arg;
	const redisReply *gen, *built;

	(void)r;
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != 3)
		return;
	gen = reply->element[1];
	built = reply->element[2];
	if (!f->leader || f->building || fidx_stopped(f))
		return;
	if (gen->type != REDIS_REPLY_STRING)   /* never configured */
		return;
	if (f->resume) {
		f->resume = false;
		f->building = true;
		fidx_step(f);
		return;
	}
	if (f->reconcile || built->type != REDIS_REPLY_STRING ||
	    strcmp(gen->str, built->str) != 0) {
		fidx_build(f, gen->str);
		return;
	}
	/* the index is built: dynamic groups follow it */
	if (++f->groups_ticks >= FIDX_GROUPS_EVERY || f->groups_due) {
		f->groups_ticks = 0;
		f->groups_due = false;
		shadowd_fidx_groups_pass(f);
	}
}

static void
fidx_leased(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct shadowd_fidx *f = arg;

	(void)r;
	if (fidx_stopped(f))
		return;
	/* no answer (Redis slow): the lease is as it was */
	if (reply != NULL && reply->type == REDIS_REPLY_INTEGER) {
		if (reply->integer == 1) {   /* taken: catch up */
			STRATA_INFO(SHADOWD_COMP, "fleet index leader|node=%s",
			    f->sd->b->cfg.node_id);
			f->reconcile = true;
		}
		f->leader = reply->integer != 0;
	}
	strata_redis_command(f->sd->b->redis, fidx_config_read, f,
	    "HMGET %s mode generation built", STRATA_FIDX_CONFIG);
}

static void
fidx_tick(evutil_socket_t fd, short what, void *arg)
{
	struct shadowd_fidx *f = arg;
	const char *v[] = {"EVAL", script_lease, "1", STRATA_FIDX_LEADER,
	    f->sd->b->cfg.node_id, FIDX_LEASE_MS};
	size_t len[6];

	(void)fd;
	(void)what;
	for (int i = 0; i < 6; i++)
		len[i] = strlen(v[i]);
	strata_redis_commandv(f->sd->b->redis, fidx_leased, f, 6, v, len);
}

int
shadowd_fidx_start(struct shadowd *sd)
{
	struct shadowd_fidx *f = &sd->fidx;
	struct timeval second = {1, 0};
	unsigned char md[SHA_DIGEST_LENGTH];

	memset(f, 0, sizeof(*f));
	f->sd = sd;
	for (int s = 0; s < FIDX_NSCRIPTS; s++) {
		SHA1((const unsigned char *)fidx_scripts[s],
		    strlen(fidx_scripts[s]), md);
		for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
			snprintf(f->sha[s] + 2 * i, 3, "%02x", md[i]);
	}
	f->sub = broker_redis_new(sd->b, NULL, NULL);
	f->tick = event_new(sd->b->base, -1, EV_PERSIST, fidx_tick, f);
	if (f->sub == NULL || f->tick == NULL)
		abort();
	strata_redis_subscribe(f->sub, "strata:registry", fidx_registry, f);
	event_add(f->tick, &second);
	return 0;
}

void
shadowd_fidx_free(struct shadowd *sd)
{
	struct shadowd_fidx *f = &sd->fidx;

	/* f stays (it is sd's): commands in flight still answer into it */
	if (f->tick != NULL)
		event_free(f->tick);
	strata_redis_free(f->sub);
	f->tick = NULL;
	f->sub = NULL;
	f->leader = false;
}
