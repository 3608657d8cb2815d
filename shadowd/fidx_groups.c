/*
 * fidx_groups.c - dynamic thing groups: their members follow their
 * query over the fleet index (docs/internals/fleet-index.md, section 8).
 *
 * The lease holder of the index (fidx.c) runs a pass every
 * FIDX_GROUPS_EVERY ticks, and at once when a group changes (`group
 * <name>` on strata:registry):
 *
 *   IDLE --pass--> LISTING (the dynamic groups and their queries)
 *        --> for each group: READING (the query's reads and the group's
 *            members, one script) --> APPLYING (members added and
 *            removed, 500 a script, each change PUBLISHed `thing <name>`
 *            on strata:registry as the static groups' API does: the
 *            brokers re-read the thing's policies, the index its
 *            thingGroupNames) --> next group
 *        --> IDLE
 *
 * Group records and membership keys are the thing groups' (the agreed
 * layout: strata:thing-group:{g} with dynamic 1 and query,
 * strata:group-things:{g}, strata:thing-groups-of:{t}).
 */
#include <stdlib.h>
#include <string.h>

#include "fidx_eval.h"
#include "fidx_index.h"
#include "shadowd.h"

#define FIDX_GROUPS_CHUNK 500

struct fidx_group {
	char *name;
	char *query;
};

struct fidx_groups_pass {
	struct shadowd_fidx *f;
	struct fidx_group *groups;
	size_t n, at;
	/* the group being read */
	struct strata_fidx_node *tree;
	struct strata_fidx_plan plan;
	size_t members_at;
	/* its changes: "+thing" / "-thing", owned */
	char **changes;
	size_t nchanges, applied;
};

static void groups_next(struct fidx_groups_pass *p);

static void
groups_pass_free(struct fidx_groups_pass *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->groups[i].name);
		free(p->groups[i].query);
	}
	free(p->groups);
	p->f->groups_busy = false;
	free(p);
}

static void
groups_clear_one(struct fidx_groups_pass *p)
{
	strata_fidx_free(p->tree);
	p->tree = NULL;
	strata_fidx_plan_clear(&p->plan);
	for (size_t i = 0; i < p->nchanges; i++)
		free(p->changes[i]);
	free(p->changes);
	p->changes = NULL;
	p->nchanges = p->applied = 0;
}

/* ---- applying ---- */

/* ARGV: group, its query as read, then "+thing" / "-thing".  Applied
 * only if the group is still dynamic with that query. */
static const char script_apply[] =
    "local g = ARGV[1] "
    "local h = redis.call('HMGET', 'strata:thing-group:{' .. g .. '}', "
    "  'dynamic', 'query') "
    "if h[1] ~= '1' or h[2] ~= ARGV[2] then return 0 end "
    "for i = 3, #ARGV do "
    "  local t = string.sub(ARGV[i], 2) "
    "  if string.sub(ARGV[i], 1, 1) == '+' then "
    "    redis.call('SADD', 'strata:group-things:{' .. g .. '}', t) "
    "    redis.call('SADD', 'strata:thing-groups-of:{' .. t .. '}', g) "
    "  else "
    "    redis.call('SREM', 'strata:group-things:{' .. g .. '}', t) "
    "    redis.call('SREM', 'strata:thing-groups-of:{' .. t .. '}', g) "
    "  end "
    "  redis.call('PUBLISH', 'strata:registry', 'thing ' .. t) "
    "end "
    "return 1";

static void groups_apply(struct fidx_groups_pass *p);

static void
groups_applied(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct fidx_groups_pass *p = arg;

	(void)r;
	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		STRATA_WARN(SHADOWD_COMP, "dynamic group not updated|group=%s",
		    p->groups[p->at].name);
		p->applied = p->nchanges;   /* the next pass does it again */
	}
	groups_apply(p);
}

static void
groups_apply(struct fidx_groups_pass *p)
{
	size_t k = p->nchanges - p->applied, n;
	const char **v;
	size_t *len;

	if (k == 0) {
		groups_clear_one(p);
		p->at++;
		groups_next(p);
		return;
	}
	n = k < FIDX_GROUPS_CHUNK ? k : FIDX_GROUPS_CHUNK;
	v = malloc((n + 5) * sizeof(*v));
	len = malloc((n + 5) * sizeof(*len));
	if (v == NULL || len == NULL)
		abort();
	v[0] = "EVAL";
	v[1] = script_apply;
	v[2] = "0";
	v[3] = p->groups[p->at].name;
	v[4] = p->groups[p->at].query;
	for (size_t i = 0; i < n; i++)
		v[5 + i] = p->changes[p->applied + i];
	for (size_t i = 0; i < n + 5; i++)
		len[i] = strlen(v[i]);
	p->applied += n;
	strata_redis_commandv(p->f->sd->b->redis, groups_applied, p,
	    (int)(n + 5), v, len);
	free(v);
	free(len);
}

/* ---- reading ---- */

static void
groups_change(struct fidx_groups_pass *p, char sign,
    const struct strata_fidx_name *name, size_t *cap)
{
	char *c = malloc(name->len + 2);

	if (c == NULL)
		abort();
	c[0] = sign;
	memcpy(c + 1, name->p, name->len);
	c[name->len + 1] = '\0';
	if (p->nchanges == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		p->changes = realloc(p->changes, *cap * sizeof(*p->changes));
		if (p->changes == NULL)
			abort();
	}
	p->changes[p->nchanges++] = c;
}

/* found (the query's things) against members (the group's now): the
 * changes.  Both sorted. */
static void
groups_diff(struct fidx_groups_pass *p, const struct strata_fidx_set *found,
    const struct strata_fidx_set *members)
{
	size_t i = 0, j = 0, cap = 0;

	while (i < found->n || j < members->n) {
		int c = i == found->n ? 1 : j == members->n ? -1 :
		    strata_fidx_name_cmp(&found->v[i], &members->v[j]);

		if (c == 0) {
			i++;
			j++;
		} else if (c < 0) {
			groups_change(p, '+', &found->v[i++], &cap);
		} else {
			groups_change(p, '-', &members->v[j++], &cap);
		}
	}
}

static void
groups_read(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct fidx_groups_pass *p = arg;
	struct strata_fidx_set found, members = {0};
	const redisReply *m;

	(void)r;
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != p->plan.ncmds + 1) {
		groups_clear_one(p);
		p->at = p->n;   /* Redis slow: the next pass */
		groups_next(p);
		return;
	}
	found = strata_fidx_plan_eval(&p->plan, p->tree, reply);
	m = reply->element[p->members_at];
	if (m->type == REDIS_REPLY_ARRAY) {
		members.v = calloc(m->elements + 1, sizeof(*members.v));
		if (members.v == NULL)
			abort();
		for (size_t i = 0; i < m->elements; i++)
			if (m->element[i]->type == REDIS_REPLY_STRING)
				members.v[members.n++] = (struct strata_fidx_name)
				    {m->element[i]->str, m->element[i]->len};
		qsort(members.v, members.n, sizeof(*members.v),
		    strata_fidx_name_cmp);
	}
	groups_diff(p, &found, &members);
	free(found.v);
	free(members.v);
	groups_apply(p);
}

/* The next group of the pass, or the end of it. */
static void
groups_next(struct fidx_groups_pass *p)
{
	char err[256], key[400];
	const char *v[2] = {"SMEMBERS", key};

	for (; p->at < p->n; p->at++) {
		const struct fidx_group *g = &p->groups[p->at];

		if (strata_fidx_parse(g->query, strlen(g->query), &p->tree,
		    err, sizeof(err)) == 0)
			break;
		STRATA_WARN(SHADOWD_COMP, "dynamic group query does not "
		    "parse|group=%s error=\"%s\"", g->name, err);
	}
	if (p->at >= p->n || p->f->tick == NULL) {
		groups_clear_one(p);
		groups_pass_free(p);
		return;
	}
	strata_fidx_plan_query(&p->plan, p->tree);
	snprintf(key, sizeof(key), "strata:group-things:{%s}",
	    p->groups[p->at].name);
	p->members_at = strata_fidx_plan_command(&p->plan, 2, v);
	strata_fidx_plan_send(&p->plan, p->f->sd->b->redis, groups_read, p);
}

/* ---- listing ---- */

/* {name, query, ...} of the dynamic groups */
static const char script_list[] =
    "local out = {} "
    "for _, g in ipairs(redis.call('SMEMBERS', 'strata:thing-groups')) do "
    "  local h = redis.call('HMGET', 'strata:thing-group:{' .. g .. '}', "
    "    'dynamic', 'query') "
    "  if h[1] == '1' and h[2] then "
    "    out[#out + 1] = g; out[#out + 1] = h[2] end "
    "end "
    "return out";

static void
groups_listed(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct fidx_groups_pass *p = arg;

	(void)r;
	if (reply != NULL && reply->type == REDIS_REPLY_ARRAY &&
	    reply->elements > 0) {
		p->groups = calloc(reply->elements / 2 + 1,
		    sizeof(*p->groups));
		if (p->groups == NULL)
			abort();
		for (size_t i = 0; i + 1 < reply->elements; i += 2) {
			if (reply->element[i]->type != REDIS_REPLY_STRING ||
			    reply->element[i + 1]->type != REDIS_REPLY_STRING)
				continue;
			p->groups[p->n].name = strdup(reply->element[i]->str);
			p->groups[p->n].query =
			    strdup(reply->element[i + 1]->str);
			if (p->groups[p->n].name == NULL ||
			    p->groups[p->n].query == NULL)
				abort();
			p->n++;
		}
	}
	groups_next(p);
}

void
shadowd_fidx_groups_pass(struct shadowd_fidx *f)
{
	struct fidx_groups_pass *p;
	const char *v[] = {"EVAL", script_list, "0"};
	size_t len[3];

	if (f->groups_busy || f->tick == NULL)
		return;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		abort();
	p->f = f;
	f->groups_busy = true;
	for (int i = 0; i < 3; i++)
		len[i] = strlen(v[i]);
	strata_redis_commandv(f->sd->b->redis, groups_listed, p, 3, v, len);
}
