/*
 * admin_groups.c - the admin API's static thing groups: their records
 * and hierarchy, which things are in them, the policies attached to
 * them, and GetEffectivePolicies (docs/internals/fleet-groups.md has the
 * keys, the limits and the differences from AWS IoT).
 *
 * A hierarchy is a tree: each group names its parent (or none: a root);
 * at most 7 levels.  A thing is a direct member of at most 10 groups,
 * and of at most one group of each hierarchy (tree).  Dynamic groups
 * (made from an index query elsewhere) share the records: they have no
 * parent, and things are not added to them by hand.
 *
 * What a device may do is its certificate's policies plus those of the
 * groups of its thing and of their ancestors (broker/device.c).  So every
 * change of membership PUBLISHes "thing <name>" on strata:registry, and
 * every change of a group's policies or its deletion "group <name>":
 * the brokers look up again the certificates concerned.
 *
 * As in admin_ops.c each operation checks its input in C, then runs one
 * Lua script; a script refuses with "<Kind> <message>" (admin.c).  The
 * scripts name keys of several hash tags (a group and its ancestors): one
 * Redis primary, as the rest of the registry.
 */
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "uuid.h"

#define KEY_MAX BROKER_REGISTRY_KEY_MAX
#define GROUPS_DESCRIPTION_MAX 2028
#define GROUPS_ATTRIBUTES_MAX 50
#define GROUPS_POLICIES_MAX 10

/* Lua shared by the scripts: the record key of a group, its ancestors
 * (parent first; at most 8 steps, so a damaged record cannot loop), the
 * root of its tree and its descendants (breadth first). */
#define GROUPS_LUA                                                          \
    "local function gkey(g) return 'strata:thing-group:{' .. g .. '}' end " \
    "local function ancestors(g) "                                          \
    "  local out = {} "                                                     \
    "  local p = redis.call('HGET', gkey(g), 'parent') "                    \
    "  while p and p ~= '' and #out < 8 do "                                \
    "    out[#out + 1] = p "                                                \
    "    p = redis.call('HGET', gkey(p), 'parent') "                        \
    "  end return out end "                                                 \
    "local function root(g) "                                               \
    "  local a = ancestors(g) "                                             \
    "  if #a > 0 then return a[#a] end return g end "                       \
    "local function descendants(g, all) "                                   \
    "  local out, i = {}, 0 "                                               \
    "  local q = {g} "                                                      \
    "  while i < #q do i = i + 1 "                                          \
    "    for _, c in ipairs(redis.call('SMEMBERS', "                        \
    "        'strata:group-children:{' .. q[i] .. '}')) do "                \
    "      out[#out + 1] = c "                                              \
    "      if all then q[#q + 1] = c end "                                  \
    "    end "                                                              \
    "  end return out end "

/* ---- helpers ---- */

static void
groups_arn(struct admin_call *call, char *out, size_t len, const char *name)
{
	admin_iot_arn(call, out, len, "thinggroup", name);
}

/* The name in a "<kind>/<name>" ARN of this registry, or false. */
static bool
groups_arn_name(struct admin_call *call, const char *arn, const char *kind,
    char name[ADMIN_MAX_NAME + 1])
{
	char prefix[200];
	size_t n;

	admin_iot_arn(call, prefix, sizeof(prefix), kind, "");
	n = strlen(prefix);
	if (arn == NULL || strncmp(arn, prefix, n) != 0 ||
	    !broker_registry_name_valid(arn + n))
		return false;
	snprintf(name, ADMIN_MAX_NAME + 1, "%s", arn + n);
	return true;
}

bool
admin_group_arn_name(struct admin_call *call, const char *arn,
    char name[ADMIN_MAX_NAME + 1])
{
	return groups_arn_name(call, arn, "thinggroup", name);
}

/* A name given by name (field) or by ARN (arn_field), in the body; false
 * after a 400 (neither, both different, or a bad one). */
static bool
groups_body_ref(struct admin_call *call, const char *field,
    const char *arn_field, const char *kind, char name[ADMIN_MAX_NAME + 1])
{
	const char *n, *arn;
	char from_arn[ADMIN_MAX_NAME + 1];

	if (!admin_body_string(call, call->body, field, &n) ||
	    !admin_body_string(call, call->body, arn_field, &arn))
		return false;
	if (arn != NULL && !groups_arn_name(call, arn, kind, from_arn)) {
		admin_error(call, 400, "InvalidRequestException", arn_field,
		    "%s is not a %s ARN of this registry", arn_field, kind);
		return false;
	}
	if (n != NULL && !broker_registry_name_valid(n)) {
		admin_error(call, 400, "InvalidRequestException", field,
		    "%s must match [a-zA-Z0-9:_-]+ (1 to 128 characters)",
		    field);
		return false;
	}
	if ((n == NULL && arn == NULL) ||
	    (n != NULL && arn != NULL && strcmp(n, from_arn) != 0)) {
		admin_error(call, 400, "InvalidRequestException", field,
		    "give %s or %s (the same one when both)", field, arn_field);
		return false;
	}
	snprintf(name, ADMIN_MAX_NAME + 1, "%s", n != NULL ? n : from_arn);
	return true;
}

/* A reply that is a Lua array of strings, as a JSON array. */
static json_t *
groups_strings(const redisReply *r)
{
	json_t *a = json_array();

	for (size_t i = 0; r != NULL && r->type == REDIS_REPLY_ARRAY &&
	     i < r->elements; i++)
		if (r->element[i]->type == REDIS_REPLY_STRING)
			json_array_append_new(a,
			    json_string(r->element[i]->str));
	return a;
}

/* [{"groupName", "groupArn"}...] of names. */
static json_t *
groups_name_arns(struct admin_call *call, const json_t *names)
{
	json_t *a = json_array(), *v;
	char arn[400];
	size_t i;

	json_array_foreach(names, i, v) {
		json_t *o = json_object();

		groups_arn(call, arn, sizeof(arn), json_string_value(v));
		json_object_set_new(o, "groupName", json_incref(v));
		json_object_set_new(o, "groupArn", json_string(arn));
		json_array_append_new(a, o);
	}
	return a;
}

/* A page of a list of names, answered. */
static void
groups_answer_page(struct admin_call *call, json_t *items, const char *key,
    const char *member)
{
	json_t *o = json_object();

	if (admin_page(call, items, key, member, o) == 0)
		admin_reply(call, o);
	else
		json_decref(o);
	json_decref(items);
}

/* thingGroupProperties of the body: description (NULL: not given) and
 * attributes (malloc'd JSON text, NULL: not given), *merge.  False after
 * a 400. */
struct groups_props {
	const char *description;
	char *attributes;
	bool merge;
};

static bool
groups_body_properties(struct admin_call *call, struct groups_props *gp)
{
	json_t *p = call->body != NULL ?
	    json_object_get(call->body, "thingGroupProperties") : NULL;
	json_t *ap = p != NULL ? json_object_get(p, "attributePayload") : NULL;
	json_t *attrs = ap != NULL ? json_object_get(ap, "attributes") : NULL;

	memset(gp, 0, sizeof(*gp));
	if ((p != NULL && !json_is_object(p)) ||
	    (ap != NULL && !json_is_object(ap))) {
		admin_error(call, 400, "InvalidRequestException",
		    "thingGroupProperties", "thingGroupProperties and its "
		    "attributePayload must be objects");
		return false;
	}
	if (!admin_body_string(call, p, "thingGroupDescription",
	    &gp->description))
		return false;
	if (gp->description != NULL &&
	    strlen(gp->description) > GROUPS_DESCRIPTION_MAX) {
		admin_error(call, 400, "InvalidRequestException",
		    "thingGroupDescription", "thingGroupDescription is at "
		    "most %d characters", GROUPS_DESCRIPTION_MAX);
		return false;
	}
	gp->merge = ap != NULL && json_is_true(json_object_get(ap, "merge"));
	if (attrs == NULL)
		return true;
	if (!admin_attributes_valid(call, attrs, GROUPS_ATTRIBUTES_MAX,
	    "thingGroupProperties.attributePayload.attributes"))
		return false;
	gp->attributes = json_dumps(attrs, JSON_COMPACT | JSON_SORT_KEYS);
	return gp->attributes != NULL;
}

/* ---- create, describe, update, delete ---- */

/* KEYS: group, groups; ARGV: name, parent, description, attributes,
 * now, uuid.  The same name, parent and properties again answers the
 * existing group. */
static const char script_create_group[] = GROUPS_LUA
    "local g = redis.call('HMGET', KEYS[1], 'id', 'parent', "
    "  'description', 'attributes') "
    "if g[1] then "
    "  if g[2] == ARGV[2] and g[3] == ARGV[3] and g[4] == ARGV[4] then "
    "    return g[1] end "
    "  return redis.error_reply('Exists thing group ' .. ARGV[1] .. "
    "    ' already exists with a different parent or properties') "
    "end "
    "if ARGV[2] ~= '' then "
    "  local p = redis.call('HMGET', gkey(ARGV[2]), 'name', 'dynamic') "
    "  if not p[1] then return redis.error_reply('NotFound parent thing "
    "group ' .. ARGV[2] .. ' does not exist') end "
    "  if p[2] == '1' then return redis.error_reply('Invalid a dynamic "
    "thing group cannot be a parent') end "
    "  if #ancestors(ARGV[2]) + 2 > 7 then return redis.error_reply("
    "    'Invalid a thing group hierarchy has at most 7 levels') end "
    "  redis.call('SADD', 'strata:group-children:{' .. ARGV[2] .. '}', "
    "    ARGV[1]) "
    "end "
    "redis.call('HSET', KEYS[1], 'name', ARGV[1], 'id', ARGV[6], "
    "  'parent', ARGV[2], 'description', ARGV[3], 'attributes', ARGV[4], "
    "  'version', 1, 'created', ARGV[5], 'dynamic', 0, 'query', '', "
    "  'index_name', '') "
    "redis.call('SADD', KEYS[2], ARGV[1]) "
    "return ARGV[6]";

static void
groups_created(struct admin_call *call, redisReply *reply)
{
	json_t *o = json_object();
	char arn[400];

	groups_arn(call, arn, sizeof(arn), call->arg);
	json_object_set_new(o, "thingGroupName", json_string(call->arg));
	json_object_set_new(o, "thingGroupArn", json_string(arn));
	json_object_set_new(o, "thingGroupId", json_string(reply->type ==
	    REDIS_REPLY_STRING ? reply->str : ""));
	admin_reply(call, o);
}

static void
op_create_thing_group(struct admin_call *call)
{
	char key[KEY_MAX], now[24], uuid[37];
	struct groups_props gp;
	const char *parent;

	if (!admin_arg_name(call, "thingGroupName") ||
	    !admin_body_string(call, call->body, "parentGroupName", &parent))
		return;
	if (parent != NULL && !broker_registry_name_valid(parent)) {
		admin_error(call, 400, "InvalidRequestException",
		    "parentGroupName", "parentGroupName must match "
		    "[a-zA-Z0-9:_-]+ (1 to 128 characters)");
		return;
	}
	if (!groups_body_properties(call, &gp))
		return;
	broker_registry_key(key, "thing-group", call->arg);
	admin_now(now);
	strata_uuid4(uuid);
	admin_eval(call, script_create_group, 2, 8, (const char *[]){key,
	    "strata:thing-groups", call->arg, parent != NULL ? parent : "",
	    gp.description != NULL ? gp.description : "",
	    gp.attributes != NULL ? gp.attributes : "{}", now, uuid},
	    groups_created);
	free(gp.attributes);
}

/* KEYS: group; ARGV: name.  {HGETALL, ancestors parent first} */
static const char script_describe_group[] = GROUPS_LUA
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply("
    "  'NotFound thing group ' .. ARGV[1] .. ' does not exist') end "
    "return {redis.call('HGETALL', KEYS[1]), ancestors(ARGV[1])}";

static json_t *
groups_properties_json(const redisReply *r)
{
	const char *desc = admin_field(r, "description");
	const char *attrs = admin_field(r, "attributes");
	json_t *p = json_object(), *ap = json_object();
	json_t *a = json_loads(attrs != NULL ? attrs : "{}", 0, NULL);

	if (desc != NULL && desc[0] != '\0')
		json_object_set_new(p, "thingGroupDescription",
		    json_string(desc));
	json_object_set_new(ap, "attributes", a != NULL ? a : json_object());
	json_object_set_new(p, "attributePayload", ap);
	return p;
}

static json_t *
groups_metadata_json(struct admin_call *call, const redisReply *r,
    const redisReply *up)
{
	const char *parent = admin_field(r, "parent");
	const char *created = admin_field(r, "created");
	json_t *m = json_object(), *names = json_array(), *chain;

	if (parent != NULL && parent[0] != '\0')
		json_object_set_new(m, "parentGroupName", json_string(parent));
	for (size_t i = up->elements; up->type == REDIS_REPLY_ARRAY && i > 0;
	     i--)
		json_array_append_new(names,
		    json_string(up->element[i - 1]->str));
	chain = groups_name_arns(call, names);
	json_decref(names);
	if (json_array_size(chain) > 0)
		json_object_set_new(m, "rootToParentThingGroups", chain);
	else
		json_decref(chain);
	json_object_set_new(m, "creationDate", json_integer(created != NULL ?
	    strtoll(created, NULL, 10) : 0));
	return m;
}

static void
groups_described(struct admin_call *call, redisReply *reply)
{
	const redisReply *r, *up;
	const char *dyn, *v;
	json_t *o = json_object();
	char arn[400];

	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
		json_decref(o);
		admin_error(call, 500, "InternalFailureException", NULL,
		    "thing group record is malformed");
		return;
	}
	r = reply->element[0];
	up = reply->element[1];
	dyn = admin_field(r, "dynamic");
	groups_arn(call, arn, sizeof(arn), call->arg);
	json_object_set_new(o, "thingGroupName", json_string(call->arg));
	v = admin_field(r, "id");
	json_object_set_new(o, "thingGroupId", json_string(v ? v : ""));
	json_object_set_new(o, "thingGroupArn", json_string(arn));
	v = admin_field(r, "version");
	json_object_set_new(o, "version", json_integer(v ? strtoll(v, NULL,
	    10) : 1));
	json_object_set_new(o, "thingGroupProperties",
	    groups_properties_json(r));
	json_object_set_new(o, "thingGroupMetadata",
	    groups_metadata_json(call, r, up));
	if (dyn != NULL && strcmp(dyn, "1") == 0) {
		/* AWS answers these for dynamic groups only */
		v = admin_field(r, "index_name");
		json_object_set_new(o, "indexName", json_string(v ? v : ""));
		v = admin_field(r, "query");
		json_object_set_new(o, "queryString", json_string(v ? v : ""));
		v = admin_field(r, "status");
		json_object_set_new(o, "status", json_string(v && v[0] ? v :
		    "ACTIVE"));
	}
	admin_reply(call, o);
}

static void
op_describe_thing_group(struct admin_call *call)
{
	char key[KEY_MAX];

	if (!admin_arg_name(call, "thingGroupName"))
		return;
	broker_registry_key(key, "thing-group", call->arg);
	admin_eval(call, script_describe_group, 1, 2, (const char *[]){key,
	    call->arg}, groups_described);
}

/* KEYS: group; ARGV: name, expectedVersion or "", description given
 * 1/0, description, attributes JSON or "", merge 1/0.  The new version. */
static const char script_update_group[] =
    "local t = redis.call('HMGET', KEYS[1], 'version', 'attributes') "
    "if not t[1] then return redis.error_reply('NotFound thing group ' .. "
    "  ARGV[1] .. ' does not exist') end "
    "if ARGV[2] ~= '' and ARGV[2] ~= t[1] then return redis.error_reply("
    "  'VersionConflict expected version ' .. ARGV[2] .. "
    "  ', thing group is at ' .. t[1]) end "
    "if ARGV[5] ~= '' then "
    "  local new = cjson.decode(ARGV[5]) "
    "  if ARGV[6] == '1' then "
    "    local old = cjson.decode(t[2] or '{}') "
    "    for k, v in pairs(new) do "
    "      if v == '' then old[k] = nil else old[k] = v end end "
    "    new = old "
    "  end "
    "  local n = 0 for _ in pairs(new) do n = n + 1 end "
    "  if n > 50 then return redis.error_reply('Invalid a thing group has "
    "at most 50 attributes') end "
    "  local enc = cjson.encode(new) "
    "  if n == 0 then enc = '{}' end "
    "  redis.call('HSET', KEYS[1], 'attributes', enc) "
    "end "
    "if ARGV[3] == '1' then "
    "  redis.call('HSET', KEYS[1], 'description', ARGV[4]) end "
    "return redis.call('HINCRBY', KEYS[1], 'version', 1)";

static void
groups_updated(struct admin_call *call, redisReply *reply)
{
	json_t *o = json_object();

	json_object_set_new(o, "version", json_integer(reply->type ==
	    REDIS_REPLY_INTEGER ? reply->integer : 0));
	admin_reply(call, o);
}

static void
op_update_thing_group(struct admin_call *call)
{
	json_t *ev = call->body != NULL ?
	    json_object_get(call->body, "expectedVersion") : NULL;
	char key[KEY_MAX], version[24] = "";
	struct groups_props gp;

	if (!admin_arg_name(call, "thingGroupName"))
		return;
	if (call->body == NULL || json_object_get(call->body,
	    "thingGroupProperties") == NULL) {
		admin_error(call, 400, "InvalidRequestException",
		    "thingGroupProperties", "thingGroupProperties is required");
		return;
	}
	if (ev != NULL && !json_is_integer(ev)) {
		admin_error(call, 400, "InvalidRequestException",
		    "expectedVersion", "expectedVersion must be an integer");
		return;
	}
	if (ev != NULL)
		snprintf(version, sizeof(version), "%lld",
		    (long long)json_integer_value(ev));
	if (!groups_body_properties(call, &gp))
		return;
	broker_registry_key(key, "thing-group", call->arg);
	admin_eval(call, script_update_group, 1, 7, (const char *[]){key,
	    call->arg, version, gp.description != NULL ? "1" : "0",
	    gp.description != NULL ? gp.description : "",
	    gp.attributes != NULL ? gp.attributes : "", gp.merge ? "1" : "0"},
	    groups_updated);
	free(gp.attributes);
}

/* KEYS: group, groups; ARGV: name, expectedVersion or "".  A group that
 * does not exist is deleted already (AWS answers 200). */
static const char script_delete_group[] =
    "local g = redis.call('HMGET', KEYS[1], 'version', 'parent', "
    "  'dynamic') "
    "if not g[1] then return 0 end "
    "if ARGV[2] ~= '' and ARGV[2] ~= g[1] then return redis.error_reply("
    "  'VersionConflict expected version ' .. ARGV[2] .. "
    "  ', thing group is at ' .. g[1]) end "
    "if g[3] == '1' then return redis.error_reply('Invalid thing group ' "
    "  .. ARGV[1] .. ' is dynamic: DeleteDynamicThingGroup deletes it') "
    "end "
    "local ch = 'strata:group-children:{' .. ARGV[1] .. '}' "
    "if redis.call('SCARD', ch) > 0 then return redis.error_reply("
    "  'Invalid cannot delete thing group ' .. ARGV[1] .. "
    "  ' which has child groups') end "
    "if g[2] and g[2] ~= '' then redis.call('SREM', "
    "  'strata:group-children:{' .. g[2] .. '}', ARGV[1]) end "
    "local gt = 'strata:group-things:{' .. ARGV[1] .. '}' "
    "for _, t in ipairs(redis.call('SMEMBERS', gt)) do "
    "  redis.call('SREM', 'strata:thing-groups-of:{' .. t .. '}', ARGV[1]) "
    "end "
    "local gp = 'strata:group-policies:{' .. ARGV[1] .. '}' "
    "for _, p in ipairs(redis.call('SMEMBERS', gp)) do "
    "  redis.call('SREM', 'strata:policy-groups:{' .. p .. '}', ARGV[1]) "
    "end "
    "redis.call('DEL', KEYS[1], gt, gp, ch) "
    "redis.call('SREM', KEYS[2], ARGV[1]) "
    "redis.call('PUBLISH', 'strata:registry', 'group ' .. ARGV[1]) "
    "return 1";

static void
op_delete_thing_group(struct admin_call *call)
{
	const char *ev = admin_query(call, "expectedVersion");
	char key[KEY_MAX];

	if (!admin_arg_name(call, "thingGroupName"))
		return;
	broker_registry_key(key, "thing-group", call->arg);
	admin_eval(call, script_delete_group, 2, 4, (const char *[]){key,
	    "strata:thing-groups", call->arg, ev != NULL ? ev : ""},
	    admin_done_empty);
}

/* ---- lists ---- */

/* KEYS: groups; ARGV: parent or "", recursive 1/0.  Sorted names: every
 * group, or the parent's children (recursive: all its descendants). */
static const char script_list_groups[] = GROUPS_LUA
    "local names "
    "if ARGV[1] == '' then names = redis.call('SMEMBERS', KEYS[1]) "
    "else "
    "  if redis.call('EXISTS', gkey(ARGV[1])) == 0 then return "
    "    redis.error_reply('NotFound thing group ' .. ARGV[1] .. "
    "    ' does not exist') end "
    "  names = descendants(ARGV[1], ARGV[2] == '1') "
    "end "
    "table.sort(names) return names";

static void
groups_listed(struct admin_call *call, redisReply *reply)
{
	const char *prefix = admin_query(call, "namePrefixFilter");
	json_t *names = groups_strings(reply), *kept = json_array(), *v;
	size_t i;

	json_array_foreach(names, i, v)
		if (prefix == NULL || strncmp(json_string_value(v), prefix,
		    strlen(prefix)) == 0)
			json_array_append(kept, v);
	json_decref(names);
	groups_answer_page(call, groups_name_arns(call, kept), "groupName",
	    "thingGroups");
	json_decref(kept);
}

static void
op_list_thing_groups(struct admin_call *call)
{
	const char *parent = admin_query(call, "parentGroup");
	const char *rec = admin_query(call, "recursive");
	const char *prefix = admin_query(call, "namePrefixFilter");

	if (!admin_page_valid(call))
		return;
	if (parent != NULL && !broker_registry_name_valid(parent)) {
		admin_error(call, 400, "InvalidRequestException",
		    "parentGroup", "parentGroup must match [a-zA-Z0-9:_-]+ "
		    "(1 to 128 characters)");
		return;
	}
	if (prefix != NULL && !broker_registry_name_valid(prefix)) {
		admin_error(call, 400, "InvalidRequestException",
		    "namePrefixFilter", "namePrefixFilter must match "
		    "[a-zA-Z0-9:_-]+ (1 to 128 characters)");
		return;
	}
	admin_eval(call, script_list_groups, 1, 3, (const char *[]){
	    "strata:thing-groups", parent != NULL ? parent : "",
	    rec != NULL && strcmp(rec, "true") == 0 ? "1" : "0"},
	    groups_listed);
}

/* KEYS: group; ARGV: name, recursive 1/0.  The sorted names of the
 * group's things (recursive: and of its descendants'). */
static const char script_group_things[] = GROUPS_LUA
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply("
    "  'NotFound thing group ' .. ARGV[1] .. ' does not exist') end "
    "local groups = {ARGV[1]} "
    "if ARGV[2] == '1' then "
    "  for _, g in ipairs(descendants(ARGV[1], true)) do "
    "    groups[#groups + 1] = g end "
    "end "
    "local seen, out = {}, {} "
    "for _, g in ipairs(groups) do "
    "  for _, t in ipairs(redis.call('SMEMBERS', "
    "      'strata:group-things:{' .. g .. '}')) do "
    "    if not seen[t] then seen[t] = true out[#out + 1] = t end "
    "  end "
    "end "
    "table.sort(out) return out";

static void
groups_things_listed(struct admin_call *call, redisReply *reply)
{
	groups_answer_page(call, groups_strings(reply), NULL, "things");
}

static void
op_list_things_in_thing_group(struct admin_call *call)
{
	const char *rec = admin_query(call, "recursive");
	char key[KEY_MAX];

	if (!admin_arg_name(call, "thingGroupName") ||
	    !admin_page_valid(call))
		return;
	broker_registry_key(key, "thing-group", call->arg);
	admin_eval(call, script_group_things, 1, 3, (const char *[]){key,
	    call->arg, rec != NULL && strcmp(rec, "true") == 0 ? "1" : "0"},
	    groups_things_listed);
}

/* KEYS: thing, thing-groups-of; ARGV: name */
static const char script_thing_groups[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply("
    "  'NotFound thing ' .. ARGV[1] .. ' does not exist') end "
    "local m = redis.call('SMEMBERS', KEYS[2]) table.sort(m) return m";

static void
groups_of_thing_listed(struct admin_call *call, redisReply *reply)
{
	json_t *names = groups_strings(reply);

	groups_answer_page(call, groups_name_arns(call, names), "groupName",
	    "thingGroups");
	json_decref(names);
}

static void
op_list_thing_groups_for_thing(struct admin_call *call)
{
	char k[2][KEY_MAX];

	if (!admin_arg_name(call, "thingName") || !admin_page_valid(call))
		return;
	broker_registry_key(k[0], "thing", call->arg);
	broker_registry_key(k[1], "thing-groups-of", call->arg);
	admin_eval(call, script_thing_groups, 2, 3, (const char *[]){k[0],
	    k[1], call->arg}, groups_of_thing_listed);
}

/* ---- membership ---- */

/* KEYS: thing; ARGV: thing, overrideDynamicGroups 1/0, groups to leave
 * (JSON array), groups to join (JSON array).  The new membership is
 * planned whole, then written: either every change is made or none.
 * A thing is in at most 10 groups, of which at most one per hierarchy
 * (dynamic groups are each their own); past 10, overrideDynamicGroups
 * lets a static group take a dynamic group's place.  Things are neither
 * added to nor removed from a dynamic group by hand. */
static const char script_membership[] = GROUPS_LUA
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply("
    "  'NotFound thing ' .. ARGV[1] .. ' does not exist') end "
    "local of = 'strata:thing-groups-of:{' .. ARGV[1] .. '}' "
    "local cur = redis.call('SMEMBERS', of) "
    "local sim = {} "
    "for _, c in ipairs(cur) do sim[c] = true end "
    "for _, g in ipairs(cjson.decode(ARGV[3])) do "
    "  local h = redis.call('HMGET', gkey(g), 'name', 'dynamic') "
    "  if not h[1] then return redis.error_reply('NotFound thing group ' "
    "    .. g .. ' does not exist') end "
    "  if h[2] == '1' then return redis.error_reply('Invalid thing group ' "
    "    .. g .. ' is dynamic: its query decides its things') end "
    "  sim[g] = nil "
    "end "
    "for _, g in ipairs(cjson.decode(ARGV[4])) do "
    "  local h = redis.call('HMGET', gkey(g), 'name', 'dynamic') "
    "  if not h[1] then return redis.error_reply('NotFound thing group ' "
    "    .. g .. ' does not exist') end "
    "  if h[2] == '1' then return redis.error_reply('Invalid thing group ' "
    "    .. g .. ' is dynamic: its query decides its things') end "
    "  if not sim[g] then "
    "    local r, n, dyn = root(g), 0, nil "
    "    for c in pairs(sim) do "
    "      n = n + 1 "
    "      if redis.call('HGET', gkey(c), 'dynamic') == '1' then dyn = c "
    "      elseif root(c) == r then return redis.error_reply('Invalid "
    "thing ' .. ARGV[1] .. ' is already in thing group ' .. c .. "
    "        ' of the same hierarchy as ' .. g) end "
    "    end "
    "    if n >= 10 then "
    "      if ARGV[2] == '1' and dyn then sim[dyn] = nil "
    "      else return redis.error_reply('Invalid thing ' .. ARGV[1] .. "
    "        ' is already in 10 thing groups, the most a thing may be "
    "in') end "
    "    end "
    "    sim[g] = true "
    "  end "
    "end "
    "local changed = false "
    "for _, c in ipairs(cur) do "
    "  if not sim[c] then "
    "    redis.call('SREM', of, c) "
    "    redis.call('SREM', 'strata:group-things:{' .. c .. '}', ARGV[1]) "
    "    changed = true "
    "  end "
    "end "
    "for g in pairs(sim) do "
    "  if redis.call('SADD', of, g) == 1 then "
    "    redis.call('SADD', 'strata:group-things:{' .. g .. '}', ARGV[1]) "
    "    changed = true "
    "  end "
    "end "
    "if changed then redis.call('PUBLISH', 'strata:registry', 'thing ' .. "
    "  ARGV[1]) end "
    "return 1";

static void
groups_membership(struct admin_call *call, const char *thing,
    const char *leave, const char *join)
{
	char key[KEY_MAX];
	bool override = call->body != NULL && json_is_true(
	    json_object_get(call->body, "overrideDynamicGroups"));

	broker_registry_key(key, "thing", thing);
	admin_eval(call, script_membership, 1, 5, (const char *[]){key, thing,
	    override ? "1" : "0", leave, join}, admin_done_empty);
}

/* AddThingToThingGroup (join) and RemoveThingFromThingGroup. */
static void
groups_add_remove(struct admin_call *call, bool join)
{
	char thing[ADMIN_MAX_NAME + 1], group[ADMIN_MAX_NAME + 1];
	json_t *one;
	char *list;

	if (!groups_body_ref(call, "thingGroupName", "thingGroupArn",
	    "thinggroup", group) ||
	    !groups_body_ref(call, "thingName", "thingArn", "thing", thing))
		return;
	one = json_pack("[s]", group);
	list = json_dumps(one, JSON_COMPACT);
	json_decref(one);
	if (list == NULL)
		abort();
	groups_membership(call, thing, join ? "[]" : list, join ? list : "[]");
	free(list);
}

static void
op_add_thing_to_thing_group(struct admin_call *call)
{
	groups_add_remove(call, true);
}

static void
op_remove_thing_from_thing_group(struct admin_call *call)
{
	groups_add_remove(call, false);
}

/* A body member that is an array of group names, as JSON text ("[]"
 * when absent); NULL after a 400. */
static char *
groups_body_names(struct admin_call *call, const char *field)
{
	json_t *a = call->body != NULL ? json_object_get(call->body, field) :
	    NULL, *v;
	size_t i;

	if (a == NULL || json_is_null(a))
		return strdup("[]");
	if (!json_is_array(a) || json_array_size(a) > 10) {
		admin_error(call, 400, "InvalidRequestException", field,
		    "%s must be an array of at most 10 thing group names",
		    field);
		return NULL;
	}
	json_array_foreach(a, i, v)
		if (!json_is_string(v) ||
		    !broker_registry_name_valid(json_string_value(v))) {
			admin_error(call, 400, "InvalidRequestException", field,
			    "%s: thing group names match [a-zA-Z0-9:_-]+ "
			    "(1 to 128 characters)", field);
			return NULL;
		}
	return json_dumps(a, JSON_COMPACT);
}

static void
op_update_thing_groups_for_thing(struct admin_call *call)
{
	const char *thing;
	char *join = NULL, *leave = NULL;

	if (!admin_body_string(call, call->body, "thingName", &thing))
		return;
	if (thing == NULL || !broker_registry_name_valid(thing)) {
		admin_error(call, 400, "InvalidRequestException", "thingName",
		    "thingName is required and must match [a-zA-Z0-9:_-]+ "
		    "(1 to 128 characters)");
		return;
	}
	if ((join = groups_body_names(call, "thingGroupsToAdd")) != NULL &&
	    (leave = groups_body_names(call, "thingGroupsToRemove")) != NULL)
		groups_membership(call, thing, leave, join);
	free(join);
	free(leave);
}

/* ---- policies ---- */

/* KEYS: policy, group, group-policies, policy-groups; ARGV: policy,
 * group, attach 1 / detach 0 */
static const char script_group_policy[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply("
    "  'NotFound policy ' .. ARGV[1] .. ' does not exist') end "
    "if redis.call('EXISTS', KEYS[2]) == 0 then return redis.error_reply("
    "  'NotFound thing group ' .. ARGV[2] .. ' does not exist') end "
    "if ARGV[3] == '1' then "
    "  if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 0 and "
    "     redis.call('SCARD', KEYS[3]) >= 10 then return "
    "    redis.error_reply('Invalid a thing group has at most 10 "
    "policies attached') end "
    "  redis.call('SADD', KEYS[3], ARGV[1]) "
    "  redis.call('SADD', KEYS[4], ARGV[2]) "
    "else "
    "  redis.call('SREM', KEYS[3], ARGV[1]) "
    "  redis.call('SREM', KEYS[4], ARGV[2]) "
    "end "
    "redis.call('PUBLISH', 'strata:registry', 'group ' .. ARGV[2]) "
    "return 1";

void
admin_group_target_policy(struct admin_call *call, const char *group,
    bool attach)
{
	char k[4][KEY_MAX];

	broker_registry_key(k[0], "policy", call->arg);
	broker_registry_key(k[1], "thing-group", group);
	broker_registry_key(k[2], "group-policies", group);
	broker_registry_key(k[3], "policy-groups", call->arg);
	admin_eval(call, script_group_policy, 4, 7, (const char *[]){k[0],
	    k[1], k[2], k[3], call->arg, group, attach ? "1" : "0"},
	    admin_done_empty);
}

/* KEYS: group; ARGV: name, recursive 1/0.  Sorted policy names of the
 * group (recursive: and of its ancestors). */
static const char script_group_policies[] = GROUPS_LUA
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply("
    "  'NotFound thing group ' .. ARGV[1] .. ' does not exist') end "
    "local groups = {ARGV[1]} "
    "if ARGV[2] == '1' then "
    "  for _, g in ipairs(ancestors(ARGV[1])) do groups[#groups + 1] = g "
    "  end "
    "end "
    "local seen, out = {}, {} "
    "for _, g in ipairs(groups) do "
    "  for _, p in ipairs(redis.call('SMEMBERS', "
    "      'strata:group-policies:{' .. g .. '}')) do "
    "    if not seen[p] then seen[p] = true out[#out + 1] = p end "
    "  end "
    "end "
    "table.sort(out) return out";

void
admin_group_attached_policies(struct admin_call *call, const char *group)
{
	char key[KEY_MAX];

	broker_registry_key(key, "thing-group", group);
	admin_eval(call, script_group_policies, 1, 3, (const char *[]){key,
	    group, admin_query_true(call, "recursive") ? "1" : "0"},
	    admin_policies_reply);
}

/* KEYS: policy, policy-targets, policy-groups; ARGV: name.
 * {certificate ids, group names}, each sorted. */
static const char script_policy_targets[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply("
    "  'NotFound policy ' .. ARGV[1] .. ' does not exist') end "
    "local c = redis.call('SMEMBERS', KEYS[2]) table.sort(c) "
    "local g = redis.call('SMEMBERS', KEYS[3]) table.sort(g) "
    "return {c, g}";

static void
groups_targets_listed(struct admin_call *call, redisReply *reply)
{
	json_t *a = json_array(), *o = json_object();
	static const char *const kinds[2] = {"cert", "thinggroup"};
	char arn[400];

	for (size_t k = 0; reply->type == REDIS_REPLY_ARRAY && k < 2 &&
	     k < reply->elements; k++) {
		const redisReply *r = reply->element[k];

		for (size_t i = 0; r->type == REDIS_REPLY_ARRAY &&
		     i < r->elements; i++) {
			admin_iot_arn(call, arn, sizeof(arn), kinds[k],
			    r->element[i]->str);
			json_array_append_new(a, json_string(arn));
		}
	}
	json_object_set_new(o, "targets", a);
	admin_reply(call, o);
}

static void
op_list_targets_for_policy(struct admin_call *call)
{
	char k[3][KEY_MAX];

	if (!admin_arg_name(call, "policyName"))
		return;
	broker_registry_key(k[0], "policy", call->arg);
	broker_registry_key(k[1], "policy-targets", call->arg);
	broker_registry_key(k[2], "policy-groups", call->arg);
	admin_eval(call, script_policy_targets, 3, 4, (const char *[]){k[0],
	    k[1], k[2], call->arg}, groups_targets_listed);
}

/* ARGV: thing or "", certificate id or "".  {{name, document}...}: the
 * certificate's policies, then those of the thing's groups and their
 * ancestors, each once. */
static const char script_effective[] = GROUPS_LUA
    "local names, seen = {}, {} "
    "local function add(set) "
    "  for _, p in ipairs(redis.call('SMEMBERS', set)) do "
    "    if not seen[p] then seen[p] = true names[#names + 1] = p end "
    "  end end "
    "if ARGV[2] ~= '' then "
    "  if redis.call('EXISTS', 'strata:cert:{' .. ARGV[2] .. '}') == 0 "
    "  then return redis.error_reply('NotFound certificate ' .. ARGV[2] "
    "    .. ' does not exist') end "
    "  add('strata:cert-policies:{' .. ARGV[2] .. '}') "
    "end "
    "if ARGV[1] ~= '' then "
    "  if redis.call('EXISTS', 'strata:thing:{' .. ARGV[1] .. '}') == 0 "
    "  then return redis.error_reply('NotFound thing ' .. ARGV[1] .. "
    "    ' does not exist') end "
    "  for _, g in ipairs(redis.call('SMEMBERS', "
    "      'strata:thing-groups-of:{' .. ARGV[1] .. '}')) do "
    "    add('strata:group-policies:{' .. g .. '}') "
    "    for _, a in ipairs(ancestors(g)) do "
    "      add('strata:group-policies:{' .. a .. '}') end "
    "  end "
    "end "
    "local out = {} "
    "for _, p in ipairs(names) do "
    "  local d = redis.call('HGET', 'strata:policy:{' .. p .. '}', "
    "    'document') "
    "  if d then out[#out + 1] = {p, d} end "
    "end return out";

static void
groups_effective(struct admin_call *call, redisReply *reply)
{
	json_t *a = json_array(), *o = json_object();
	char arn[400];

	for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY &&
	     i < reply->elements; i++) {
		const redisReply *r = reply->element[i];
		json_t *p;

		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
			continue;
		p = json_object();
		admin_iot_arn(call, arn, sizeof(arn), "policy",
		    r->element[0]->str);
		json_object_set_new(p, "policyName",
		    json_string(r->element[0]->str));
		json_object_set_new(p, "policyArn", json_string(arn));
		json_object_set_new(p, "policyDocument",
		    json_string(r->element[1]->str));
		json_array_append_new(a, p);
	}
	json_object_set_new(o, "effectivePolicies", a);
	admin_reply(call, o);
}

static void
op_get_effective_policies(struct admin_call *call)
{
	const char *thing = admin_query(call, "thingName");
	const char *principal;
	char prefix[200];
	const char *id = "";

	if (!admin_body_string(call, call->body, "principal", &principal))
		return;
	if (thing != NULL && !broker_registry_name_valid(thing)) {
		admin_error(call, 400, "InvalidRequestException", "thingName",
		    "thingName must match [a-zA-Z0-9:_-]+ (1 to 128 "
		    "characters)");
		return;
	}
	admin_iot_arn(call, prefix, sizeof(prefix), "cert", "");
	if (principal != NULL) {
		if (strncmp(principal, prefix, strlen(prefix)) != 0 ||
		    !broker_cert_id_valid(principal + strlen(prefix))) {
			admin_error(call, 400, "InvalidRequestException",
			    "principal", "principal must be a certificate "
			    "ARN, %s<64 hex digits>", prefix);
			return;
		}
		id = principal + strlen(prefix);
	}
	admin_eval(call, script_effective, 0, 2, (const char *[]){
	    thing != NULL ? thing : "", id}, groups_effective);
}

const struct admin_route admin_group_routes[] = {
	{EVHTTP_REQ_GET, "thing-groups", "ListThingGroups",
	    "iot:ListThingGroups", ADMIN_RES_ANY, op_list_thing_groups},
	{EVHTTP_REQ_PUT, "thing-groups/addThingToThingGroup",
	    "AddThingToThingGroup", "iot:AddThingToThingGroup", ADMIN_RES_ANY,
	    op_add_thing_to_thing_group},
	{EVHTTP_REQ_PUT, "thing-groups/removeThingFromThingGroup",
	    "RemoveThingFromThingGroup", "iot:RemoveThingFromThingGroup",
	    ADMIN_RES_ANY, op_remove_thing_from_thing_group},
	{EVHTTP_REQ_PUT, "thing-groups/updateThingGroupsForThing",
	    "UpdateThingGroupsForThing", "iot:UpdateThingGroupsForThing",
	    ADMIN_RES_ANY, op_update_thing_groups_for_thing},
	{EVHTTP_REQ_POST, "thing-groups/*", "CreateThingGroup",
	    "iot:CreateThingGroup", ADMIN_RES_THING_GROUP,
	    op_create_thing_group},
	{EVHTTP_REQ_GET, "thing-groups/*", "DescribeThingGroup",
	    "iot:DescribeThingGroup", ADMIN_RES_THING_GROUP,
	    op_describe_thing_group},
	{EVHTTP_REQ_PATCH, "thing-groups/*", "UpdateThingGroup",
	    "iot:UpdateThingGroup", ADMIN_RES_THING_GROUP,
	    op_update_thing_group},
	{EVHTTP_REQ_DELETE, "thing-groups/*", "DeleteThingGroup",
	    "iot:DeleteThingGroup", ADMIN_RES_THING_GROUP,
	    op_delete_thing_group},
	{EVHTTP_REQ_GET, "thing-groups/*/things", "ListThingsInThingGroup",
	    "iot:ListThingsInThingGroup", ADMIN_RES_THING_GROUP,
	    op_list_things_in_thing_group},
	{EVHTTP_REQ_GET, "things/*/thing-groups", "ListThingGroupsForThing",
	    "iot:ListThingGroupsForThing", ADMIN_RES_THING,
	    op_list_thing_groups_for_thing},
	{EVHTTP_REQ_POST, "policy-targets/*", "ListTargetsForPolicy",
	    "iot:ListTargetsForPolicy", ADMIN_RES_POLICY,
	    op_list_targets_for_policy},
	{EVHTTP_REQ_POST, "effective-policies", "GetEffectivePolicies",
	    "iot:GetEffectivePolicies", ADMIN_RES_ANY,
	    op_get_effective_policies},
	{0, NULL, NULL, NULL, 0, NULL},
};
