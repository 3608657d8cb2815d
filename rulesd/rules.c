/*
 * rules.c - rulesd's rule table, kept equal to the rules in Redis.
 *
 * Sources (docs/internals/rules-admin.md has the keys):
 *   - at start, every minute, and whenever the core's session comes up
 *     again: every rule (RULES_SCRIPT_ALL);
 *   - a rule name on the Redis channel strata:rules (the admin API
 *     publishes it in the script that changes the rule): that rule again
 *     (RULES_SCRIPT_ONE), so a change applies within a round trip.
 *
 * A rule's states here:
 *   ABSENT  --stored, enabled--> SUBSCRIBED (SUBSCRIBE of its three
 *           filters sent; ready once its SUBACK came)
 *   SUBSCRIBED --payload changed--> the new rule replaces the old one in
 *           the table (messages being handled keep the old one); a new
 *           FROM filter is subscribed, the old one unsubscribed
 *   SUBSCRIBED --disabled or deleted--> its filters unsubscribed, the
 *           entry dropped (freed when no message holds it)
 * Every rule keeps its subscription identifier for the life of the
 * process (so a delivery already on its way still finds it while the
 * rule exists).  Its three filters, in the share group of the rule:
 *   $share/strata-rulesd-<rule>/<FROM filter>
 *   $share/strata-rulesd-<rule>/$aws/rules/<rule>      (Basic Ingest)
 *   $share/strata-rulesd-<rule>/$aws/rules/<rule>/#
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "hashmap.h"
#include "ruledest.h"
#include "rulesd.h"
#include "u64map.h"

#define RULES_RELOAD_S 60
#define RULES_FILTER_MAX 600

/* KEYS: -; ARGV: -.  Every rule: {name, payload, disabled}. */
static const char RULES_SCRIPT_ALL[] =
    "local out = {} "
    "for _, n in ipairs(redis.call('ZRANGE', 'strata:rule-names', 0, -1)) do "
    "  local h = redis.call('HMGET', 'strata:rule:{' .. n .. '}', "
    "    'payload', 'disabled') "
    "  if h[1] then out[#out + 1] = {n, h[1], h[2] or '0'} end "
    "end "
    "return out";

/* KEYS: the rule's key; ARGV: its name.  {name, payload, disabled} or
 * {name} when it is gone. */
static const char RULES_SCRIPT_ONE[] =
    "local h = redis.call('HMGET', KEYS[1], 'payload', 'disabled') "
    "if not h[1] then return {ARGV[1]} end "
    "return {ARGV[1], h[1], h[2] or '0'}";

/* One rule of the table. */
struct rules_entry {
	struct rulesd_rule *rule;     /* the current version */
	char *payload;                /* its stored text (change detection) */
	char *from;                   /* the FROM filter subscribed, or NULL */
	uint16_t sub_packet;          /* SUBSCRIBE waiting for its SUBACK */
	bool seen;                    /* named by the running full reload */
};

struct rulesd_rules {
	struct rulesd *rd;
	struct strata_hashmap *by_name;   /* name -> rules_entry */
	struct strata_hashmap *metrics;   /* name -> rulesd_rule_metrics,
					     kept while the process lives
					     (the series stay registered) */
	struct strata_u64map by_sub_id;   /* sub id -> rulesd_rule */
	uint32_t next_sub_id;
	struct strata_redis *sub;         /* strata:rules */
	struct event *reload;
	size_t pending_subacks;
};

/* ---- rules and their references ---- */

void
rulesd_rule_unref(struct rulesd_rule *r)
{
	if (r == NULL || --r->refs > 0)
		return;
	strata_rule_free(r->rule);
	free(r);
}

struct rulesd_rule *
rulesd_rule_get(struct rulesd *rd, uint32_t sub_id)
{
	struct rulesd_rule *r = strata_u64map_get(&rd->rules->by_sub_id,
	    sub_id);

	if (r != NULL)
		r->refs++;
	return r;
}

static struct rulesd_rule_metrics *
rules_metrics(struct rulesd_rules *t, const char *name)
{
	struct strata_metrics *m = t->rd->b->metrics;
	struct rulesd_rule_metrics *rm = strata_hashmap_get(t->metrics, name,
	    strlen(name));
	char l[STRATA_RULE_NAME_MAX + 64];

	if (rm != NULL)
		return rm;
	rm = calloc(1, sizeof(*rm));
	if (rm == NULL)
		abort();
	strata_hashmap_put(t->metrics, name, strlen(name), rm);
	snprintf(l, sizeof(l), "rule=\"%s\"", name);
	rm->matched = strata_metrics_counter(m, "strata_rulesd_matched_total",
	    "messages delivered for the rule", l);
	rm->selected = strata_metrics_counter(m,
	    "strata_rulesd_selected_total", "messages whose WHERE was true "
	    "(actions ran)", l);
	rm->filtered = strata_metrics_counter(m,
	    "strata_rulesd_where_false_total", "messages whose WHERE was not "
	    "true", l);
	rm->eval_failed = strata_metrics_counter(m,
	    "strata_rulesd_eval_errors_total", "messages the rule's SQL "
	    "failed on", l);
	rm->actions_ok = strata_metrics_counter(m,
	    "strata_rulesd_actions_ok_total", "actions done", l);
	rm->actions_failed = strata_metrics_counter(m,
	    "strata_rulesd_actions_failed_total", "actions failed", l);
	rm->error_actions = strata_metrics_counter(m,
	    "strata_rulesd_error_actions_total", "errorAction runs", l);
	rm->eval_us = strata_metrics_counter(m,
	    "strata_rulesd_eval_microseconds_total", "time spent evaluating "
	    "the rule's SQL", l);
	return rm;
}

/* ---- subscriptions ---- */

static void
rules_filters(const char *name, const char *from, char f[3][RULES_FILTER_MAX])
{
	snprintf(f[0], RULES_FILTER_MAX, "$share/" RULESD_GROUP_PREFIX
	    "%s/%s", name, from);
	snprintf(f[1], RULES_FILTER_MAX, "$share/" RULESD_GROUP_PREFIX
	    "%s/$aws/rules/%s", name, name);
	snprintf(f[2], RULES_FILTER_MAX, "$share/" RULESD_GROUP_PREFIX
	    "%s/$aws/rules/%s/#", name, name);
}

static void
rules_subscribe(struct rulesd_rules *t, struct rules_entry *e)
{
	struct rulesd_rule *r = e->rule;
	char f[3][RULES_FILTER_MAX];
	const char *list[3] = {f[0], f[1], f[2]};

	rules_filters(r->name, strata_sql_from(r->rule->sql), f);
	if (e->sub_packet == 0)
		t->pending_subacks++;
	e->sub_packet = broker_insession_subscribe(t->rd->session, list, 3,
	    r->sub_id);
	if (e->sub_packet == 0)
		t->pending_subacks--; /* not up: subscribed when it is */
}

/* Unsubscribe e's filters: all three, or (from_only) the FROM one. */
static void
rules_unsubscribe(struct rulesd_rules *t, struct rules_entry *e,
    bool from_only)
{
	char f[3][RULES_FILTER_MAX];

	if (e->from == NULL)
		return;
	rules_filters(e->rule->name, e->from, f);
	for (int i = 0; i < (from_only ? 1 : 3); i++)
		broker_insession_unsubscribe(t->rd->session, f[i]);
}

void
rulesd_rules_suback(struct rulesd *rd, uint16_t packet_id,
    const uint8_t *reasons, size_t n)
{
	struct rulesd_rules *t = rd->rules;

	for (size_t i = 0; i < n; i++)
		if (reasons[i] > 2)
			STRATA_ERROR(RULESD_COMP, "rule filter refused|"
			    "packet=%u reason=0x%02x", (unsigned)packet_id,
			    reasons[i]);
	if (t->pending_subacks > 0)
		t->pending_subacks--;
}

/* ---- applying what Redis holds ---- */

static void
rules_entry_free(void *v)
{
	struct rules_entry *e = v;

	rulesd_rule_unref(e->rule);
	free(e->payload);
	free(e->from);
	free(e);
}

static void
rules_drop(struct rulesd_rules *t, const char *name)
{
	struct rules_entry *e = strata_hashmap_get(t->by_name, name,
	    strlen(name));

	if (e == NULL)
		return;
	rules_unsubscribe(t, e, false);
	strata_u64map_take(&t->by_sub_id, e->rule->sub_id);
	STRATA_INFO(RULESD_COMP, "rule stopped|rule=%s", name);
	strata_hashmap_delete(t->by_name, name, strlen(name));
	*t->rd->m_rules = (int64_t)strata_hashmap_count(t->by_name);
}

/* A new version of the rule name (enabled, payload parsed). */
static void
rules_install(struct rulesd_rules *t, const char *name, const char *payload,
    struct strata_rule *parsed)
{
	struct rules_entry *e = strata_hashmap_get(t->by_name, name,
	    strlen(name));
	struct rulesd_rule *r = calloc(1, sizeof(*r));
	const char *from = strata_sql_from(parsed->sql);

	if (r == NULL)
		abort();
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->refs = 1;
	r->rule = parsed;
	if (e == NULL) {
		e = calloc(1, sizeof(*e));
		if (e == NULL)
			abort();
		strata_hashmap_put(t->by_name, r->name, strlen(r->name), e);
		r->sub_id = ++t->next_sub_id;
		r->m = rules_metrics(t, name);
	} else {
		r->sub_id = e->rule->sub_id;
		r->m = e->rule->m;
		if (e->from != NULL && strcmp(e->from, from) != 0)
			rules_unsubscribe(t, e, true);
		rulesd_rule_unref(e->rule);
		free(e->payload);
		free(e->from);
	}
	e->rule = r;
	e->payload = strdup(payload);
	e->from = strdup(from);
	if (e->payload == NULL || e->from == NULL)
		abort();
	strata_u64map_put(&t->by_sub_id, r->sub_id, r);
	rules_subscribe(t, e);
	*t->rd->m_rules = (int64_t)strata_hashmap_count(t->by_name);
	STRATA_INFO(RULESD_COMP, "rule running|rule=%s from=%s", name, from);
}

/* One stored rule: {name, payload, disabled} (or {name}: gone). */
static void
rules_apply(struct rulesd_rules *t, const redisReply *row)
{
	struct strata_rule_error err;
	struct strata_rule *parsed;
	const struct rules_entry *e;
	const char *name, *payload;

	if (row->type != REDIS_REPLY_ARRAY || row->elements < 1 ||
	    row->element[0]->type != REDIS_REPLY_STRING)
		return;
	name = row->element[0]->str;
	if (!strata_rule_name_valid(name, strlen(name)))
		return;
	if (row->elements < 3 || row->element[1]->type != REDIS_REPLY_STRING ||
	    strcmp(row->element[2]->type == REDIS_REPLY_STRING ?
	    row->element[2]->str : "0", "1") == 0) {
		rules_drop(t, name);
		return;
	}
	payload = row->element[1]->str;
	e = strata_hashmap_get(t->by_name, name, strlen(name));
	if (e != NULL && strcmp(e->payload, payload) == 0)
		return;   /* unchanged */
	parsed = strata_rule_parse(payload, strlen(payload), &err);
	if (parsed == NULL) {
		STRATA_ERROR(RULESD_COMP, "stored rule does not parse, "
		    "stopped|rule=%s error=\"%s\"", name, err.message);
		rules_drop(t, name);
		return;
	}
	rules_install(t, name, payload, parsed);
}

static int
rules_unseen(const void *key, size_t len, void *value, void *arg)
{
	struct rules_entry *e = value;
	const char **name = arg;

	if (e->seen)
		return 0;
	*name = e->rule->name;
	return 1;
}

static int
rules_clear_seen(const void *key, size_t len, void *value, void *arg)
{
	((struct rules_entry *)value)->seen = false;
	return 0;
}

static void
rules_loaded_all(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct rulesd_rules *t = arg;
	const char *gone;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
		STRATA_WARN(RULESD_COMP, "rules not loaded: Redis did not "
		    "answer (trying again within a minute)");
		return;
	}
	strata_hashmap_foreach(t->by_name, rules_clear_seen, NULL);
	for (size_t i = 0; i < reply->elements; i++) {
		struct rules_entry *e;

		rules_apply(t, reply->element[i]);
		if (reply->element[i]->type == REDIS_REPLY_ARRAY &&
		    reply->element[i]->elements > 0 &&
		    (e = strata_hashmap_get(t->by_name,
		    reply->element[i]->element[0]->str,
		    strlen(reply->element[i]->element[0]->str))) != NULL)
			e->seen = true;
	}
	/* rules in the table but no longer stored */
	while (gone = NULL, strata_hashmap_foreach(t->by_name, rules_unseen,
	    &gone) != 0) {
		char name[STRATA_RULE_NAME_MAX + 1];

		snprintf(name, sizeof(name), "%s", gone);
		rules_drop(t, name);
	}
}

static void
rules_load_all(struct rulesd_rules *t)
{
	const char *argv[] = {"EVAL", RULES_SCRIPT_ALL, "0"};
	size_t len[] = {4, sizeof(RULES_SCRIPT_ALL) - 1, 1};

	strata_redis_commandv(t->rd->b->redis, rules_loaded_all, t, 3, argv,
	    len);
	rulesd_dests_reload(t->rd);
}

static void
rules_loaded_one(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct rulesd_rules *t = arg;

	if (reply != NULL && reply->type == REDIS_REPLY_ARRAY)
		rules_apply(t, reply);
}

static void
rules_on_change(struct strata_redis *r, const char *msg, size_t len,
    void *arg)
{
	struct rulesd_rules *t = arg;
	char name[STRATA_RULE_NAME_MAX + 1], key[BROKER_REGISTRY_KEY_MAX];
	const char *argv[5];
	size_t lens[5];

	if (len > strlen(STRATA_RULEDEST_CHANNEL_PREFIX) && memcmp(msg,
	    STRATA_RULEDEST_CHANNEL_PREFIX,
	    strlen(STRATA_RULEDEST_CHANNEL_PREFIX)) == 0) {
		rulesd_dests_reload(t->rd);   /* a destination changed */
		return;
	}
	if (!strata_rule_name_valid(msg, len))
		return;
	memcpy(name, msg, len);
	name[len] = '\0';
	broker_registry_key(key, "rule", name);
	argv[0] = "EVAL";
	argv[1] = RULES_SCRIPT_ONE;
	argv[2] = "1";
	argv[3] = key;
	argv[4] = name;
	for (int i = 0; i < 5; i++)
		lens[i] = strlen(argv[i]);
	strata_redis_commandv(t->rd->b->redis, rules_loaded_one, t, 5, argv,
	    lens);
}

/* ---- life ---- */

static int
rules_resubscribe(const void *key, size_t len, void *value, void *arg)
{
	struct rules_entry *e = value;

	e->sub_packet = 0;
	rules_subscribe(arg, e);
	return 0;
}

void
rulesd_rules_subscribe_all(struct rulesd *rd)
{
	rd->rules->pending_subacks = 0;
	strata_hashmap_foreach(rd->rules->by_name, rules_resubscribe,
	    rd->rules);
	rules_load_all(rd->rules);
}

bool
rulesd_rules_ready(const struct rulesd *rd)
{
	return rd->rules->pending_subacks == 0;
}

static void
rules_reload_cb(evutil_socket_t fd, short what, void *arg)
{
	rules_load_all(arg);
}

static void
rules_sub_up(struct strata_redis *r, void *arg)
{
	rules_load_all(arg); /* changes missed while disconnected */
}

int
rulesd_rules_start(struct rulesd *rd)
{
	struct rulesd_rules *t = calloc(1, sizeof(*t));
	struct timeval tv = {RULES_RELOAD_S, 0};

	if (t == NULL)
		abort();
	t->rd = rd;
	rd->rules = t;
	t->by_name = strata_hashmap_new(rules_entry_free);
	t->metrics = strata_hashmap_new(free);
	strata_u64map_init(&t->by_sub_id);
	t->sub = broker_redis_new(rd->b, rules_sub_up, t);
	strata_redis_subscribe(t->sub, "strata:rules", rules_on_change, t);
	t->reload = event_new(rd->b->base, -1, EV_PERSIST, rules_reload_cb, t);
	if (t->sub == NULL || t->reload == NULL)
		abort();
	event_add(t->reload, &tv);
	return 0;
}

void
rulesd_rules_free(struct rulesd *rd)
{
	struct rulesd_rules *t = rd->rules;

	if (t == NULL)
		return;
	event_free(t->reload);
	strata_redis_free(t->sub);
	strata_hashmap_free(t->by_name);
	strata_hashmap_free(t->metrics);
	strata_u64map_fini(&t->by_sub_id);
	free(t);
	rd->rules = NULL;
}
