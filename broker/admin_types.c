/*
 * admin_types.c - the admin API's thing types: CreateThingType,
 * DescribeThingType, ListThingTypes, DeprecateThingType,
 * DeleteThingType (docs/internals/fleet-groups.md has the keys).
 *
 * A thing type's life:
 *
 *   CreateThingType -> ACTIVE (things may be given it: CreateThing,
 *   UpdateThing, admin_ops.c) -> DeprecateThingType -> DEPRECATED (no
 *   thing may be given it; the things that have it keep it) ->
 *   DeprecateThingType undoDeprecate -> ACTIVE again;
 *   DEPRECATED for thing-type-delete-wait seconds (AWS: 5 minutes) and
 *   no thing has it -> DeleteThingType -> gone.
 *
 * As in admin_ops.c, each operation checks its input in C, then runs one
 * Lua script; a script refuses with "<Kind> <message>" (admin.c).
 */
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "uuid.h"

#define KEY_MAX BROKER_REGISTRY_KEY_MAX
#define TYPES_SEARCHABLE_MAX 3
#define TYPES_DESCRIPTION_MAX 2028
#define TYPES_PAGE_MAX 250

/* thingTypeProperties of the body: the description ("" when none) and
 * the searchable attribute names as a JSON array text (malloc'd).  NULL
 * after a 400. */
static char *
types_body_properties(struct admin_call *call, const char **description)
{
	json_t *p = call->body != NULL ?
	    json_object_get(call->body, "thingTypeProperties") : NULL;
	json_t *sa = p != NULL ? json_object_get(p, "searchableAttributes") :
	    NULL, *v;
	size_t i;

	*description = "";
	if (p != NULL && !json_is_object(p)) {
		admin_error(call, 400, "InvalidRequestException",
		    "thingTypeProperties", "thingTypeProperties must be an "
		    "object");
		return NULL;
	}
	if (!admin_body_string(call, p, "thingTypeDescription", description))
		return NULL;
	if (*description == NULL)
		*description = "";
	if (strlen(*description) > TYPES_DESCRIPTION_MAX) {
		admin_error(call, 400, "InvalidRequestException",
		    "thingTypeDescription", "thingTypeDescription is at most "
		    "%d characters", TYPES_DESCRIPTION_MAX);
		return NULL;
	}
	if (sa == NULL || json_is_null(sa))
		return strdup("[]");
	if (!json_is_array(sa) || json_array_size(sa) > TYPES_SEARCHABLE_MAX) {
		admin_error(call, 400, "InvalidRequestException",
		    "searchableAttributes", "searchableAttributes must be an "
		    "array of at most %d attribute names",
		    TYPES_SEARCHABLE_MAX);
		return NULL;
	}
	json_array_foreach(sa, i, v) {
		json_t *probe;
		bool ok;

		if (!json_is_string(v)) {
			admin_error(call, 400, "InvalidRequestException",
			    "searchableAttributes", "searchableAttributes "
			    "must be attribute names");
			return NULL;
		}
		/* an attribute name, checked as one (a 400 frees the call,
		 * and the body with it: nothing of it is read after) */
		probe = json_object();
		json_object_set_new(probe, json_string_value(v),
		    json_string(""));
		ok = admin_attributes_valid(call, probe, 1,
		    "searchableAttributes");
		json_decref(probe);
		if (!ok)
			return NULL;
	}
	return json_dumps(sa, JSON_COMPACT);
}

/* KEYS: type, types; ARGV: name, description, searchable, now, uuid.
 * The same name and properties again answers the existing type (AWS). */
static const char script_create_type[] =
    "local t = redis.call('HMGET', KEYS[1], 'id', 'description', "
    "  'searchable') "
    "if t[1] then "
    "  if t[2] == ARGV[2] and t[3] == ARGV[3] then return t[1] end "
    "  return redis.error_reply('Exists thing type ' .. ARGV[1] .. "
    "    ' already exists with different properties') "
    "end "
    "redis.call('HSET', KEYS[1], 'name', ARGV[1], 'id', ARGV[5], "
    "  'description', ARGV[2], 'searchable', ARGV[3], 'deprecated', 0, "
    "  'deprecated_at', '', 'created', ARGV[4]) "
    "redis.call('SADD', KEYS[2], ARGV[1]) "
    "return ARGV[5]";

static void
types_created(struct admin_call *call, redisReply *reply)
{
	json_t *o = json_object();
	char arn[400];

	admin_iot_arn(call, arn, sizeof(arn), "thingtype", call->arg);
	json_object_set_new(o, "thingTypeName", json_string(call->arg));
	json_object_set_new(o, "thingTypeArn", json_string(arn));
	json_object_set_new(o, "thingTypeId", json_string(reply->type ==
	    REDIS_REPLY_STRING ? reply->str : ""));
	admin_reply(call, o);
}

static void
op_create_thing_type(struct admin_call *call)
{
	char key[KEY_MAX], now[24], uuid[37];
	const char *description;
	char *searchable;

	if (!admin_arg_name(call, "thingTypeName"))
		return;
	searchable = types_body_properties(call, &description);
	if (searchable == NULL)
		return;
	broker_registry_key(key, "thing-type", call->arg);
	admin_now(now);
	strata_uuid4(uuid);
	admin_eval(call, script_create_type, 2, 7, (const char *[]){key,
	    "strata:thing-types", call->arg, description, searchable, now,
	    uuid}, types_created);
	free(searchable);
}

/* A thing type's HGETALL reply as AWS's ThingTypeDefinition (list) or
 * DescribeThingType answer (describe: with thingTypeId). */
static json_t *
types_json(struct admin_call *call, const redisReply *r, bool describe)
{
	const char *name = admin_field(r, "name");
	const char *sa = admin_field(r, "searchable");
	const char *dep = admin_field(r, "deprecated");
	const char *dep_at = admin_field(r, "deprecated_at");
	const char *created = admin_field(r, "created");
	json_t *o = json_object(), *props = json_object(),
	    *meta = json_object(), *list;
	char arn[400];
	bool deprecated = dep != NULL && strcmp(dep, "1") == 0;

	name = name != NULL ? name : "";
	admin_iot_arn(call, arn, sizeof(arn), "thingtype", name);
	json_object_set_new(o, "thingTypeName", json_string(name));
	if (describe)
		json_object_set_new(o, "thingTypeId", json_string(
		    admin_field(r, "id") ? admin_field(r, "id") : ""));
	json_object_set_new(o, "thingTypeArn", json_string(arn));
	if (admin_field(r, "description") != NULL &&
	    admin_field(r, "description")[0] != '\0')
		json_object_set_new(props, "thingTypeDescription",
		    json_string(admin_field(r, "description")));
	list = json_loads(sa != NULL ? sa : "[]", 0, NULL);
	json_object_set_new(props, "searchableAttributes", list != NULL ?
	    list : json_array());
	json_object_set_new(o, "thingTypeProperties", props);
	json_object_set_new(meta, "deprecated", json_boolean(deprecated));
	if (deprecated && dep_at != NULL && dep_at[0] != '\0')
		json_object_set_new(meta, "deprecationDate",
		    json_integer(strtoll(dep_at, NULL, 10)));
	json_object_set_new(meta, "creationDate", json_integer(
	    created != NULL ? strtoll(created, NULL, 10) : 0));
	json_object_set_new(o, "thingTypeMetadata", meta);
	return o;
}

static void
types_described(struct admin_call *call, redisReply *reply)
{
	admin_reply(call, types_json(call, reply, true));
}

static void
op_describe_thing_type(struct admin_call *call)
{
	char key[KEY_MAX];

	if (!admin_arg_name(call, "thingTypeName"))
		return;
	broker_registry_key(key, "thing-type", call->arg);
	admin_describe_hash(call, key, "thing type", types_described);
}

/* Every type, sorted by name, as HGETALL replies. */
static const char script_list_types[] =
    "local out = {} "
    "local names = redis.call('SMEMBERS', KEYS[1]) table.sort(names) "
    "for _, n in ipairs(names) do "
    "  local t = redis.call('HGETALL', 'strata:thing-type:{' .. n .. '}') "
    "  if #t > 0 then out[#out + 1] = t end "
    "end return out";

static void
types_listed(struct admin_call *call, redisReply *reply)
{
	const char *only = admin_query(call, "thingTypeName");
	json_t *all = json_array(), *o = json_object();

	for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY &&
	     i < reply->elements; i++) {
		const char *name = admin_field(reply->element[i], "name");

		if (name == NULL || (only != NULL && strcmp(only, name) != 0))
			continue;
		json_array_append_new(all, types_json(call, reply->element[i],
		    false));
	}
	if (admin_page(call, all, "thingTypeName", "thingTypes", o) == 0)
		admin_reply(call, o);
	else
		json_decref(o);
	json_decref(all);
}

static void
op_list_thing_types(struct admin_call *call)
{
	if (!admin_page_valid(call))
		return;
	admin_eval(call, script_list_types, 1, 1,
	    (const char *[]){"strata:thing-types"}, types_listed);
}

/* KEYS: type; ARGV: name, undo 1/0, now */
static const char script_deprecate_type[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply("
    "  'NotFound thing type ' .. ARGV[1] .. ' does not exist') end "
    "if ARGV[2] == '1' then "
    "  redis.call('HSET', KEYS[1], 'deprecated', 0, 'deprecated_at', '') "
    "elseif redis.call('HGET', KEYS[1], 'deprecated') ~= '1' then "
    "  redis.call('HSET', KEYS[1], 'deprecated', 1, 'deprecated_at', "
    "    ARGV[3]) "
    "end return 1";

static void
op_deprecate_thing_type(struct admin_call *call)
{
	json_t *undo = call->body != NULL ?
	    json_object_get(call->body, "undoDeprecate") : NULL;
	char key[KEY_MAX], now[24];

	if (!admin_arg_name(call, "thingTypeName"))
		return;
	if (undo != NULL && !json_is_boolean(undo)) {
		admin_error(call, 400, "InvalidRequestException",
		    "undoDeprecate", "undoDeprecate must be a boolean");
		return;
	}
	broker_registry_key(key, "thing-type", call->arg);
	admin_now(now);
	admin_eval(call, script_deprecate_type, 1, 4, (const char *[]){key,
	    call->arg, json_is_true(undo) ? "1" : "0", now},
	    admin_done_empty);
}

/* KEYS: type, types; ARGV: name, now, wait (s).  Refused unless
 * deprecated for wait seconds and no thing has the type (a walk over
 * every thing: deletes are rare). */
static const char script_delete_type[] =
    "local t = redis.call('HMGET', KEYS[1], 'deprecated', "
    "  'deprecated_at') "
    "if not t[1] then return redis.error_reply('NotFound thing type ' .. "
    "  ARGV[1] .. ' does not exist') end "
    "if t[1] ~= '1' then return redis.error_reply('Invalid thing type ' "
    "  .. ARGV[1] .. ' must be deprecated before it is deleted') end "
    "local left = tonumber(t[2] or '0') + tonumber(ARGV[3]) - "
    "  tonumber(ARGV[2]) "
    "if left > 0 then return redis.error_reply('Invalid thing type ' .. "
    "  ARGV[1] .. ' was deprecated less than ' .. ARGV[3] .. "
    "  ' seconds ago: it may be deleted in ' .. left .. ' seconds') end "
    "for _, n in ipairs(redis.call('SMEMBERS', 'strata:things')) do "
    "  if redis.call('HGET', 'strata:thing:{' .. n .. '}', 'type') == "
    "      ARGV[1] then return redis.error_reply('Invalid thing type ' .. "
    "    ARGV[1] .. ' still has things, as ' .. n .. ': change their "
    "type first') end "
    "end "
    "redis.call('DEL', KEYS[1]) redis.call('SREM', KEYS[2], ARGV[1]) "
    "return 1";

static void
op_delete_thing_type(struct admin_call *call)
{
	char key[KEY_MAX], now[24], wait[24];

	if (!admin_arg_name(call, "thingTypeName"))
		return;
	broker_registry_key(key, "thing-type", call->arg);
	admin_now(now);
	snprintf(wait, sizeof(wait), "%ld",
	    call->b->cfg.thing_type_delete_wait);
	admin_eval(call, script_delete_type, 2, 5, (const char *[]){key,
	    "strata:thing-types", call->arg, now, wait}, admin_done_empty);
}

/* ---- pages (shared with admin_groups.c) ---- */

bool
admin_page_valid(struct admin_call *call)
{
	const char *max = admin_query(call, "maxResults");
	char *end;
	long n;

	if (max == NULL)
		return true;
	n = strtol(max, &end, 10);
	if (*max == '\0' || *end != '\0' || n < 1 || n > TYPES_PAGE_MAX) {
		admin_error(call, 400, "InvalidRequestException",
		    "maxResults", "maxResults must be 1 to %d",
		    TYPES_PAGE_MAX);
		return false;
	}
	return true;
}

/* The name an item of a page is sorted by. */
static const char *
page_name(json_t *item, const char *key)
{
	json_t *v = key != NULL ? json_object_get(item, key) : item;

	return json_is_string(v) ? json_string_value(v) : "";
}

int
admin_page(struct admin_call *call, json_t *items, const char *key,
    const char *member, json_t *out)
{
	const char *token = admin_query(call, "nextToken");
	const char *max = admin_query(call, "maxResults");
	size_t limit = max != NULL ? (size_t)strtol(max, NULL, 10) :
	    TYPES_PAGE_MAX;
	json_t *page = json_array(), *item;
	size_t i, n = 0;

	if (token != NULL && token[0] == '\0') {
		admin_error(call, 400, "InvalidRequestException", "nextToken",
		    "nextToken is empty");
		json_decref(page);
		return -1;
	}
	json_array_foreach(items, i, item) {
		if (token != NULL && strcmp(page_name(item, key), token) <= 0)
			continue;
		if (n == limit) {
			json_object_set_new(out, "nextToken", json_string(
			    page_name(json_array_get(page, n - 1), key)));
			break;
		}
		json_array_append(page, item);
		n++;
	}
	json_object_set_new(out, member, page);
	return 0;
}

const struct admin_route admin_type_routes[] = {
	{EVHTTP_REQ_GET, "thing-types", "ListThingTypes",
	    "iot:ListThingTypes", ADMIN_RES_ANY, op_list_thing_types},
	{EVHTTP_REQ_POST, "thing-types/*", "CreateThingType",
	    "iot:CreateThingType", ADMIN_RES_THING_TYPE, op_create_thing_type},
	{EVHTTP_REQ_GET, "thing-types/*", "DescribeThingType",
	    "iot:DescribeThingType", ADMIN_RES_THING_TYPE,
	    op_describe_thing_type},
	{EVHTTP_REQ_DELETE, "thing-types/*", "DeleteThingType",
	    "iot:DeleteThingType", ADMIN_RES_THING_TYPE, op_delete_thing_type},
	{EVHTTP_REQ_POST, "thing-types/*/deprecate", "DeprecateThingType",
	    "iot:DeprecateThingType", ADMIN_RES_THING_TYPE,
	    op_deprecate_thing_type},
	{0, NULL, NULL, NULL, 0, NULL},
};
