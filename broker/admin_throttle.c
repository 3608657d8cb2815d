/*
 * admin_throttle.c - Strata's own admin operations (AWS IoT has none):
 * throttle limits attached to a thing group or a thing type,
 * SetThrottleLimits, GetThrottleLimits, DeleteThrottleLimits,
 * ListThrottleLimits (docs/internals/throttle.md has the rule that
 * resolves a connection's limits, the keys and the differences).
 *
 * The limits of a group or type are fields of its record
 * (strata:thing-group:{<name>}, strata:thing-type:{<name>}), so they go
 * with it when it is deleted; strata:throttle-limits (SET of
 * "thing-group/<name>", "thing-type/<name>") lists the records that had
 * some, for ListThrottleLimits (a deleted record's name is skipped
 * there).  Each change PUBLISHes "group <name>" or "type <name>" on
 * strata:registry: every broker looks up again the certificates of the
 * things concerned and sets their connections' limits (device.c).
 *
 * As in admin_ops.c each operation checks its input in C (400 naming the
 * field), then runs one Lua script; a script refuses with "<Kind>
 * <message>" (admin.c).
 */
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "throttle_limits.h"

#define KEY_MAX BROKER_REGISTRY_KEY_MAX
#define THROTTLE_INDEX "strata:throttle-limits"

/* What a route's path names: its kind, as the record key, the index
 * member, the ARN and the messages say it. */
struct throttle_target {
	const char *record;   /* "thing-group" */
	const char *arn_kind; /* "thinggroup" */
	const char *type;     /* "THING_GROUP" */
	const char *words;    /* "thing group" */
	const char *message;  /* "group": strata:registry's word */
	const char *field;    /* "thingGroupName": the name's, for a 400 */
};

static const struct throttle_target throttle_group = {"thing-group",
    "thinggroup", "THING_GROUP", "thing group", "group", "thingGroupName"};
static const struct throttle_target throttle_type = {"thing-type",
    "thingtype", "THING_TYPE", "thing type", "type", "thingTypeName"};

static const struct throttle_target *
throttle_target_of(const struct admin_call *call)
{
	return strstr(call->route->pattern, "thing-types") != NULL ?
	    &throttle_type : &throttle_group;
}

/* {"targetType", "targetName", "targetArn", the limits set} from the
 * values of the record's four fields (a Lua array, nil or "" unset). */
static json_t *
throttle_json(struct admin_call *call, const struct throttle_target *t,
    const char *name, const redisReply *values)
{
	json_t *o = json_object(), *set;
	struct strata_throttle_limits l;
	char arn[400];

	admin_iot_arn(call, arn, sizeof(arn), t->arn_kind, name);
	json_object_set_new(o, "targetType", json_string(t->type));
	json_object_set_new(o, "targetName", json_string(name));
	json_object_set_new(o, "targetArn", json_string(arn));
	for (int i = 0; i < STRATA_THROTTLE_LIMITS; i++) {
		const redisReply *v = values->type == REDIS_REPLY_ARRAY &&
		    (size_t)i < values->elements ? values->element[i] : NULL;

		l.v[i] = v != NULL && v->type == REDIS_REPLY_STRING ?
		    strata_throttle_limit_value(v->str, v->len, i) : -1;
	}
	set = strata_throttle_limits_json(&l);
	json_object_update(o, set);
	json_decref(set);
	return o;
}

/* The body's limits as decimal text ("" where absent); false after a
 * 400 naming the member (throttle_limits.h says which). */
static bool
throttle_body(struct admin_call *call, char values[][24])
{
	struct strata_throttle_limits l;
	const char *member = NULL;
	char err[200], field[80];

	if (strata_throttle_limits_parse(call->body, &l, &member, err,
	    sizeof(err)) != 0) {
		/* the member may live in the body the error frees */
		snprintf(field, sizeof(field), "%s", member);
		admin_error(call, 400, "InvalidRequestException", field, "%s",
		    err);
		return false;
	}
	for (int i = 0; i < STRATA_THROTTLE_LIMITS; i++) {
		values[i][0] = '\0';
		if (l.v[i] >= 0)
			snprintf(values[i], 24, "%ld", l.v[i]);
	}
	return true;
}

/* Lua shared by the scripts: the record's limit fields. */
#define THROTTLE_LUA                                                        \
    "local LF = {'throttle_publish_rate', 'throttle_inbound_bytes', "     \
    "  'throttle_subscribe_rate', 'throttle_disconnect_after'} "          \
    "if redis.call('EXISTS', KEYS[1]) == 0 then return "                  \
    "  redis.error_reply('NotFound ' .. ARGV[2] .. ' ' .. ARGV[1] .. "    \
    "  ' does not exist') end "

/* KEYS: record, index; ARGV: name, words, member, message, v1..v4.
 * The limits given replace those the record had. */
static const char script_set[] =
    THROTTLE_LUA
    "redis.call('HDEL', KEYS[1], LF[1], LF[2], LF[3], LF[4]) "
    "for i = 1, 4 do "
    "  if ARGV[4 + i] ~= '' then "
    "    redis.call('HSET', KEYS[1], LF[i], ARGV[4 + i]) end "
    "end "
    "redis.call('SADD', KEYS[2], ARGV[3]) "
    "redis.call('PUBLISH', 'strata:registry', ARGV[4] .. ' ' .. ARGV[1]) "
    "return redis.call('HMGET', KEYS[1], LF[1], LF[2], LF[3], LF[4])";

/* KEYS: record; ARGV: name, words.  NotFound also when none is set. */
static const char script_get[] =
    THROTTLE_LUA
    "local v = redis.call('HMGET', KEYS[1], LF[1], LF[2], LF[3], LF[4]) "
    "for i = 1, 4 do if v[i] and v[i] ~= '' then return v end end "
    "return redis.error_reply('NotFound ' .. ARGV[2] .. ' ' .. ARGV[1] "
    "  .. ' has no throttle limits')";

/* KEYS: record, index; ARGV: name, words, member, message. */
static const char script_delete[] =
    THROTTLE_LUA
    "local n = redis.call('HDEL', KEYS[1], LF[1], LF[2], LF[3], LF[4]) "
    "redis.call('SREM', KEYS[2], ARGV[3]) "
    "if n > 0 then redis.call('PUBLISH', 'strata:registry', ARGV[4] .. "
    "  ' ' .. ARGV[1]) end "
    "return n";

/* KEYS: index.  {{member, {v1..v4}}...} sorted by member; a record with
 * no limit any more (its group or type deleted since) is left out and
 * its member dropped from the index. */
static const char script_list[] =
    "local out = {} "
    "local names = redis.call('SMEMBERS', KEYS[1]) table.sort(names) "
    "for _, m in ipairs(names) do "
    "  local kind, name = string.match(m, '^(thing%-%a+)/(.+)$') "
    "  local found = false "
    "  if kind then "
    "    local v = redis.call('HMGET', 'strata:' .. kind .. ':{' .. name "
    "      .. '}', 'throttle_publish_rate', 'throttle_inbound_bytes', "
    "      'throttle_subscribe_rate', 'throttle_disconnect_after') "
    "    for i = 1, 4 do "
    "      if v[i] and v[i] ~= '' then found = true end "
    "    end "
    "    if found then out[#out + 1] = {m, v} end "
    "  end "
    "  if not found then redis.call('SREM', KEYS[1], m) end "
    "end return out";

static void
throttle_answered(struct admin_call *call, redisReply *reply)
{
	admin_reply(call, throttle_json(call, throttle_target_of(call),
	    call->arg, reply));
}

/* The record key and the index member of call->arg; false after a 400
 * for a bad name. */
static bool
throttle_keys(struct admin_call *call, const struct throttle_target *t,
    char key[KEY_MAX], char member[KEY_MAX])
{
	if (!admin_arg_name(call, t->field))
		return false;
	broker_registry_key(key, t->record, call->arg);
	snprintf(member, KEY_MAX, "%s/%s", t->record, call->arg);
	return true;
}

static void
op_set_throttle_limits(struct admin_call *call)
{
	const struct throttle_target *t = throttle_target_of(call);
	char key[KEY_MAX], member[KEY_MAX], v[STRATA_THROTTLE_LIMITS][24];

	if (!throttle_keys(call, t, key, member) || !throttle_body(call, v))
		return;
	admin_eval(call, script_set, 2, 10, (const char *[]){key,
	    THROTTLE_INDEX, call->arg, t->words, member, t->message, v[0],
	    v[1], v[2], v[3]}, throttle_answered);
}

static void
op_get_throttle_limits(struct admin_call *call)
{
	const struct throttle_target *t = throttle_target_of(call);
	char key[KEY_MAX], member[KEY_MAX];

	if (!throttle_keys(call, t, key, member))
		return;
	admin_eval(call, script_get, 1, 3, (const char *[]){key, call->arg,
	    t->words}, throttle_answered);
}

static void
op_delete_throttle_limits(struct admin_call *call)
{
	const struct throttle_target *t = throttle_target_of(call);
	char key[KEY_MAX], member[KEY_MAX];

	if (!throttle_keys(call, t, key, member))
		return;
	admin_eval(call, script_delete, 2, 6, (const char *[]){key,
	    THROTTLE_INDEX, call->arg, t->words, member, t->message},
	    admin_done_empty);
}

static void
throttle_listed(struct admin_call *call, redisReply *reply)
{
	const char *only = admin_query(call, "targetType");
	json_t *all = json_array(), *o = json_object();

	for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY &&
	     i < reply->elements; i++) {
		const redisReply *r = reply->element[i];
		const struct throttle_target *t;
		const char *m;

		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING)
			continue;
		m = r->element[0]->str;
		t = strncmp(m, "thing-type/", 11) == 0 ? &throttle_type :
		    &throttle_group;
		if (only != NULL && strcmp(only, t->type) != 0)
			continue;
		json_array_append_new(all, throttle_json(call, t,
		    strchr(m, '/') + 1, r->element[1]));
	}
	if (admin_page(call, all, "targetArn", "throttleLimits", o) == 0)
		admin_reply(call, o);
	else
		json_decref(o);
	json_decref(all);
}

static void
op_list_throttle_limits(struct admin_call *call)
{
	const char *only = admin_query(call, "targetType");

	if (only != NULL && strcmp(only, "THING_GROUP") != 0 &&
	    strcmp(only, "THING_TYPE") != 0) {
		admin_error(call, 400, "InvalidRequestException",
		    "targetType", "targetType must be THING_GROUP or "
		    "THING_TYPE");
		return;
	}
	if (!admin_page_valid(call))
		return;
	admin_eval(call, script_list, 1, 1, (const char *[]){THROTTLE_INDEX},
	    throttle_listed);
}

const struct admin_route admin_throttle_routes[] = {
	{EVHTTP_REQ_GET, "strata/throttle-limits", "ListThrottleLimits",
	    "iot:ListThrottleLimits", ADMIN_RES_ANY, op_list_throttle_limits},
	{EVHTTP_REQ_PUT, "strata/throttle-limits/thing-groups/*",
	    "SetThrottleLimits", "iot:SetThrottleLimits",
	    ADMIN_RES_THING_GROUP, op_set_throttle_limits},
	{EVHTTP_REQ_GET, "strata/throttle-limits/thing-groups/*",
	    "GetThrottleLimits", "iot:GetThrottleLimits",
	    ADMIN_RES_THING_GROUP, op_get_throttle_limits},
	{EVHTTP_REQ_DELETE, "strata/throttle-limits/thing-groups/*",
	    "DeleteThrottleLimits", "iot:DeleteThrottleLimits",
	    ADMIN_RES_THING_GROUP, op_delete_throttle_limits},
	{EVHTTP_REQ_PUT, "strata/throttle-limits/thing-types/*",
	    "SetThrottleLimits", "iot:SetThrottleLimits",
	    ADMIN_RES_THING_TYPE, op_set_throttle_limits},
	{EVHTTP_REQ_GET, "strata/throttle-limits/thing-types/*",
	    "GetThrottleLimits", "iot:GetThrottleLimits",
	    ADMIN_RES_THING_TYPE, op_get_throttle_limits},
	{EVHTTP_REQ_DELETE, "strata/throttle-limits/thing-types/*",
	    "DeleteThrottleLimits", "iot:DeleteThrottleLimits",
	    ADMIN_RES_THING_TYPE, op_delete_throttle_limits},
	{0, NULL, NULL, NULL, 0, NULL},
};
