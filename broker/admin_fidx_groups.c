/*
 * admin_fidx_groups.c - the admin API's dynamic thing groups, AWS IoT's
 * CreateDynamicThingGroup, UpdateDynamicThingGroup and
 * DeleteDynamicThingGroup (docs/internals/fleet-index.md, section 8).
 *
 * A dynamic group is a thing group record of the thing groups' layout
 * (dynamic 1, its query, index AWS_Things); each operation checks its
 * input in C (the query parses: InvalidQueryException) and runs one
 * script, which PUBLISHes `group <name>` on strata:registry.  Its
 * members are kept by strata-shadowd (shadowd/fidx_groups.c); deleting
 * the group takes them out, each PUBLISHed `thing <name>`.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "fidx_index.h"
#include "fidx_query.h"
#include "uuid.h"

#define FIDX_GROUP_DESCRIPTION_MAX 2028
#define FIDX_GROUP_ATTRIBUTES_MAX 50
#define FIDX_QUERY_VERSION "2017-09-30"

/* thingGroupProperties checked: description and attributes (JSON text,
 * owned; NULL when absent), merge. */
struct fidx_group_props {
	const char *description;
	char *attributes;
	bool merge;
};

static bool
fidx_group_props(struct admin_call *call, struct fidx_group_props *gp)
{
	json_t *props = json_object_get(call->body, "thingGroupProperties");
	json_t *d, *payload, *attrs, *v;
	const char *k;

	memset(gp, 0, sizeof(*gp));
	if (props == NULL || json_is_null(props))
		return true;
	d = json_object_get(props, "thingGroupDescription");
	payload = json_object_get(props, "attributePayload");
	attrs = json_object_get(payload, "attributes");
	if (!json_is_object(props) || (d != NULL && (!json_is_string(d) ||
	    json_string_length(d) > FIDX_GROUP_DESCRIPTION_MAX)) ||
	    (payload != NULL && !json_is_object(payload)) ||
	    (attrs != NULL && (!json_is_object(attrs) ||
	    json_object_size(attrs) > FIDX_GROUP_ATTRIBUTES_MAX)))
		goto bad;
	json_object_foreach(attrs, k, v)
		if (!json_is_string(v) || strlen(k) < 1 || strlen(k) > 128 ||
		    json_string_length(v) > 800)
			goto bad;
	gp->description = json_string_value(d);
	gp->merge = json_is_true(json_object_get(payload, "merge"));
	if (attrs != NULL)
		gp->attributes = json_dumps(attrs, JSON_COMPACT);
	return true;
bad:
	admin_error(call, 400, "InvalidRequestException",
	    "thingGroupProperties", "thingGroupProperties: "
	    "thingGroupDescription a string of at most %d characters, "
	    "attributePayload.attributes at most %d string values",
	    FIDX_GROUP_DESCRIPTION_MAX, FIDX_GROUP_ATTRIBUTES_MAX);
	return false;
}

/* The group name of the path and a queryString that parses (required
 * or not); false after answering. */
static bool
fidx_group_input(struct admin_call *call, bool query_required,
    const char **query)
{
	const char *index, *version;
	struct strata_fidx_node *tree;
	char err[256];

	if (strlen(call->arg) < 1 || strlen(call->arg) > 128 ||
	    !broker_registry_name_valid(call->arg)) {
		admin_error(call, 400, "InvalidRequestException",
		    "thingGroupName", "thingGroupName must match "
		    "[a-zA-Z0-9:_-]+ (1 to 128 characters)");
		return false;
	}
	if (call->body == NULL)
		call->body = json_object();
	if (!admin_body_string(call, call->body, "indexName", &index) ||
	    !admin_fidx_index_name(call, index) ||
	    !admin_body_string(call, call->body, "queryVersion", &version) ||
	    !admin_body_string(call, call->body, "queryString", query))
		return false;
	if (*query == NULL) {
		if (!query_required)
			return true;
		admin_error(call, 400, "InvalidRequestException",
		    "queryString", "queryString is required");
		return false;
	}
	if (strata_fidx_parse(*query, strlen(*query), &tree, err,
	    sizeof(err)) != 0) {
		admin_error(call, 400, "InvalidQueryException", "queryString",
		    "%s", err);
		return false;
	}
	strata_fidx_free(tree);
	return true;
}

static void
fidx_group_arn(struct admin_call *call, char *out, size_t len)
{
	snprintf(out, len, "arn:aws:iot:%s:%s:thinggroup/%s",
	    call->b->cfg.iot_region, call->b->cfg.iot_account, call->arg);
}

/* KEYS: group, groups, config; ARGV: name, description, attributes,
 * now, uuid, query, index.  The same group again answers it. */
static const char script_create_dynamic[] =
    "local mode = redis.call('HGET', KEYS[3], 'mode') "
    "if not mode or mode == 'OFF' then return redis.error_reply("
    "  'NotFound index AWS_Things does not exist: thing indexing is OFF') "
    "end "
    "local g = redis.call('HMGET', KEYS[1], 'id', 'dynamic', 'query', "
    "  'description', 'attributes') "
    "if g[1] then "
    "  if g[2] == '1' and g[3] == ARGV[6] and g[4] == ARGV[2] and "
    "    g[5] == ARGV[3] then return g[1] end "
    "  return redis.error_reply('Exists thing group ' .. ARGV[1] .. "
    "    ' already exists') "
    "end "
    "redis.call('HSET', KEYS[1], 'name', ARGV[1], 'id', ARGV[5], "
    "  'parent', '', 'description', ARGV[2], 'attributes', ARGV[3], "
    "  'version', 1, 'created', ARGV[4], 'dynamic', 1, 'query', ARGV[6], "
    "  'index_name', ARGV[7]) "
    "redis.call('SADD', KEYS[2], ARGV[1]) "
    "redis.call('PUBLISH', 'strata:registry', 'group ' .. ARGV[1]) "
    "return ARGV[5]";

static void
fidx_group_created(struct admin_call *call, redisReply *reply)
{
	char arn[400];
	const char *query = json_string_value(json_object_get(call->body,
	    "queryString"));

	fidx_group_arn(call, arn, sizeof(arn));
	admin_reply(call, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}",
	    "thingGroupName", call->arg, "thingGroupArn", arn,
	    "thingGroupId", reply->type == REDIS_REPLY_STRING ? reply->str :
	    "", "indexName", STRATA_FIDX_INDEX_NAME, "queryString",
	    query != NULL ? query : "", "queryVersion", FIDX_QUERY_VERSION));
}

static void
op_create_dynamic_thing_group(struct admin_call *call)
{
	char key[BROKER_REGISTRY_KEY_MAX], now[24], uuid[STRATA_UUID_LEN + 1];
	struct fidx_group_props gp;
	const char *query;

	if (!fidx_group_input(call, true, &query) ||
	    !fidx_group_props(call, &gp))
		return;
	broker_registry_key(key, "thing-group", call->arg);
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	strata_uuid4(uuid);
	admin_eval(call, script_create_dynamic, 3, 10, (const char *[]){key,
	    "strata:thing-groups", STRATA_FIDX_CONFIG, call->arg,
	    gp.description != NULL ? gp.description : "",
	    gp.attributes != NULL ? gp.attributes : "{}", now, uuid, query,
	    STRATA_FIDX_INDEX_NAME}, fidx_group_created);
	free(gp.attributes);
}

/* KEYS: group; ARGV: name, expected version or "", "1" description
 * given, description, "1" attributes given, attributes, "1" merge,
 * query or "".  The new version. */
static const char script_update_dynamic[] =
    "local g = redis.call('HMGET', KEYS[1], 'dynamic', 'version', "
    "  'attributes') "
    "if not g[1] then return redis.error_reply('NotFound thing group ' "
    "  .. ARGV[1] .. ' does not exist') end "
    "if g[1] ~= '1' then return redis.error_reply('Invalid thing group ' "
    "  .. ARGV[1] .. ' is static: UpdateThingGroup updates it') end "
    "if ARGV[2] ~= '' and ARGV[2] ~= g[2] then return redis.error_reply("
    "  'VersionConflict the version of thing group ' .. ARGV[1] .. "
    "  ' is ' .. g[2]) end "
    "if ARGV[3] == '1' then redis.call('HSET', KEYS[1], 'description', "
    "  ARGV[4]) end "
    "if ARGV[5] == '1' then "
    "  local a = cjson.decode(ARGV[6]) "
    "  if ARGV[7] == '1' then "
    "    local old = cjson.decode(g[3] or '{}') "
    "    for k, v in pairs(a) do "
    "      if v == '' then old[k] = nil else old[k] = v end end "
    "    a = old "
    "  end "
    "  local text = '{}' "
    "  if next(a) ~= nil then text = cjson.encode(a) end "
    "  redis.call('HSET', KEYS[1], 'attributes', text) "
    "end "
    "if ARGV[8] ~= '' then redis.call('HSET', KEYS[1], 'query', ARGV[8]) "
    "end "
    "local v = redis.call('HINCRBY', KEYS[1], 'version', 1) "
    "redis.call('PUBLISH', 'strata:registry', 'group ' .. ARGV[1]) "
    "return v";

static void
fidx_group_updated(struct admin_call *call, redisReply *reply)
{
	admin_reply(call, json_pack("{s:I}", "version",
	    (json_int_t)reply->integer));
}

/* expectedVersion of the body (or of the query string) as text; false
 * after answering. */
static bool
fidx_expected_version(struct admin_call *call, char *out, size_t len)
{
	json_t *v = call->body != NULL ? json_object_get(call->body,
	    "expectedVersion") : NULL;
	const char *q = admin_query(call, "expectedVersion");
	char *end;
	long long n;

	out[0] = '\0';
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 1)
			goto bad;
		snprintf(out, len, "%lld", (long long)json_integer_value(v));
	} else if (q != NULL) {
		n = strtoll(q, &end, 10);
		if (*q == '\0' || *end != '\0' || n < 1)
			goto bad;
		snprintf(out, len, "%lld", n);
	}
	return true;
bad:
	admin_error(call, 400, "InvalidRequestException", "expectedVersion",
	    "expectedVersion must be a positive integer");
	return false;
}

static void
op_update_dynamic_thing_group(struct admin_call *call)
{
	char key[BROKER_REGISTRY_KEY_MAX], ev[24];
	struct fidx_group_props gp;
	const char *query;

	if (!fidx_group_input(call, false, &query) ||
	    !fidx_expected_version(call, ev, sizeof(ev)) ||
	    !fidx_group_props(call, &gp))
		return;
	broker_registry_key(key, "thing-group", call->arg);
	admin_eval(call, script_update_dynamic, 1, 9, (const char *[]){key,
	    call->arg, ev, gp.description != NULL ? "1" : "0",
	    gp.description != NULL ? gp.description : "",
	    gp.attributes != NULL ? "1" : "0",
	    gp.attributes != NULL ? gp.attributes : "{}",
	    gp.merge ? "1" : "0", query != NULL ? query : ""},
	    fidx_group_updated);
	free(gp.attributes);
}

/* KEYS: group, groups; ARGV: name, expected version or "".  Members
 * leave it (each PUBLISHed), its policies are detached (the thing
 * groups' keys: strata:group-policies, strata:policy-groups), then the
 * group goes. */
static const char script_delete_dynamic[] =
    "local g = redis.call('HMGET', KEYS[1], 'dynamic', 'version') "
    "if not g[1] then return 0 end "
    "if g[1] ~= '1' then return redis.error_reply('Invalid thing group ' "
    "  .. ARGV[1] .. ' is static: DeleteThingGroup deletes it') end "
    "if ARGV[2] ~= '' and ARGV[2] ~= g[2] then return redis.error_reply("
    "  'VersionConflict the version of thing group ' .. ARGV[1] .. "
    "  ' is ' .. g[2]) end "
    "local mk = 'strata:group-things:{' .. ARGV[1] .. '}' "
    "for _, t in ipairs(redis.call('SMEMBERS', mk)) do "
    "  redis.call('SREM', 'strata:thing-groups-of:{' .. t .. '}', ARGV[1]) "
    "  redis.call('PUBLISH', 'strata:registry', 'thing ' .. t) "
    "end "
    "local gp = 'strata:group-policies:{' .. ARGV[1] .. '}' "
    "for _, p in ipairs(redis.call('SMEMBERS', gp)) do "
    "  redis.call('SREM', 'strata:policy-groups:{' .. p .. '}', ARGV[1]) "
    "end "
    "redis.call('DEL', mk, KEYS[1], gp) "
    "redis.call('SREM', KEYS[2], ARGV[1]) "
    "redis.call('PUBLISH', 'strata:registry', 'group ' .. ARGV[1]) "
    "return 1";

static void
fidx_group_deleted(struct admin_call *call, redisReply *reply)
{
	(void)reply;
	admin_reply(call, NULL);
}

static void
op_delete_dynamic_thing_group(struct admin_call *call)
{
	char key[BROKER_REGISTRY_KEY_MAX], ev[24];

	if (strlen(call->arg) < 1 || strlen(call->arg) > 128 ||
	    !broker_registry_name_valid(call->arg)) {
		admin_error(call, 400, "InvalidRequestException",
		    "thingGroupName", "thingGroupName must match "
		    "[a-zA-Z0-9:_-]+ (1 to 128 characters)");
		return;
	}
	if (!fidx_expected_version(call, ev, sizeof(ev)))
		return;
	broker_registry_key(key, "thing-group", call->arg);
	admin_eval(call, script_delete_dynamic, 2, 4, (const char *[]){key,
	    "strata:thing-groups", call->arg, ev}, fidx_group_deleted);
}

const struct admin_route admin_fidx_group_routes[] = {
	{EVHTTP_REQ_POST, "dynamic-thing-groups/*", "CreateDynamicThingGroup",
	    "iot:CreateDynamicThingGroup", ADMIN_RES_THING_GROUP,
	    op_create_dynamic_thing_group},
	{EVHTTP_REQ_PATCH, "dynamic-thing-groups/*", "UpdateDynamicThingGroup",
	    "iot:UpdateDynamicThingGroup", ADMIN_RES_THING_GROUP,
	    op_update_dynamic_thing_group},
	{EVHTTP_REQ_DELETE, "dynamic-thing-groups/*", "DeleteDynamicThingGroup",
	    "iot:DeleteDynamicThingGroup", ADMIN_RES_THING_GROUP,
	    op_delete_dynamic_thing_group},
	{0, NULL, NULL, NULL, 0, NULL},
};
