/*
 * admin_ops.c - the admin API's operations on the registry in Redis:
 * things, certificates, CA certificates, policies and their attachments
 * (docs/internals/admin.md has the keys and the operations table).
 *
 * Each operation checks its input in C (400 naming the field), then runs
 * one Lua script, so that what it reads and writes is one atomic step:
 * "does it exist, is it attached, which version" never races with another
 * broker's call.  A script refuses with an error reply "<Kind> <message>"
 * (NotFound, Exists, DeleteConflict, VersionConflict, CertificateState,
 * Invalid) that admin.c turns into the status and JSON body.  A change
 * that the brokers' caches must see is PUBLISHed on strata:registry from
 * the same script: "cert <id>", "policy <name>", "attach <id>",
 * "thing <name>", "ca <id>".
 *
 * The scripts touch keys of several hash tags (a certificate and the
 * things it is attached to): that is fine on one Redis primary (with or
 * without Sentinel), not on Redis Cluster (docs/internals/redis-ha.md).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509v3.h>

#include "admin.h"
#include "policy.h"
#include "provtemplate.h"
#include "uuid.h"

#define KEY_MAX BROKER_REGISTRY_KEY_MAX

/* ---- helpers ---- */

void
broker_registry_key(char out[BROKER_REGISTRY_KEY_MAX], const char *kind,
    const char *name)
{
	snprintf(out, BROKER_REGISTRY_KEY_MAX, "strata:%s:{%s}", kind, name);
}

static void
ops_arn(struct admin_call *call, char *out, size_t len, const char *kind,
    const char *name)
{
	snprintf(out, len, "arn:aws:iot:%s:%s:%s/%s", call->b->cfg.iot_region,
	    call->b->cfg.iot_account, kind, name);
}

static void
ops_now(char out[24])
{
	snprintf(out, 24, "%lld", (long long)time(NULL));
}

/* Thing and policy names: [a-zA-Z0-9:_-]+, 1..128 (AWS IoT's), the
 * names a provisioning template may make. */
bool
broker_registry_name_valid(const char *s)
{
	return strata_provtemplate_name_valid(s);
}

static bool
ops_chars_valid(const char *s, size_t max, const char *extra, bool empty)
{
	size_t n = strlen(s);

	if ((n == 0 && !empty) || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr(extra, ch) != NULL))
			return false;
	}
	return true;
}

/* A named path parameter; false after answering 400. */
static bool
ops_arg_name(struct admin_call *call, const char *field)
{
	if (broker_registry_name_valid(call->arg))
		return true;
	admin_error(call, 400, "InvalidRequestException", field,
	    "%s must match [a-zA-Z0-9:_-]+ (1 to 128 characters)", field);
	return false;
}

static bool
ops_arg_cert_id(struct admin_call *call, const char *field)
{
	if (broker_cert_id_valid(call->arg))
		return true;
	admin_error(call, 400, "InvalidRequestException", field,
	    "%s must be 64 lower-case hex digits", field);
	return false;
}

/* The certificate id of an ARN ".../cert/<id>" of this registry. */
static bool
ops_principal_id(struct admin_call *call, const char *arn, const char *field,
    char id[BROKER_CERT_ID_LEN + 1])
{
	char prefix[160];

	ops_arn(call, prefix, sizeof(prefix), "cert", "");
	if (arn == NULL || strncmp(arn, prefix, strlen(prefix)) != 0 ||
	    !broker_cert_id_valid(arn + strlen(prefix))) {
		admin_error(call, 400, "InvalidRequestException", field,
		    "%s must be a certificate ARN, %s<64 hex digits>", field,
		    prefix);
		return false;
	}
	memcpy(id, arn + strlen(prefix), BROKER_CERT_ID_LEN + 1);
	return true;
}

/* The value of field in a flat HGETALL-style array, or NULL. */
static const char *
ops_field(const redisReply *r, const char *field)
{
	if (r == NULL || r->type != REDIS_REPLY_ARRAY)
		return NULL;
	for (size_t i = 0; i + 1 < r->elements; i += 2)
		if (r->element[i]->type == REDIS_REPLY_STRING &&
		    strcmp(r->element[i]->str, field) == 0 &&
		    r->element[i + 1]->type == REDIS_REPLY_STRING)
			return r->element[i + 1]->str;
	return NULL;
}

static json_t *
ops_int_field(const redisReply *r, const char *field)
{
	const char *v = ops_field(r, field);

	return json_integer(v != NULL ? strtoll(v, NULL, 10) : 0);
}

/* A JSON string field of the body; NULL when absent; false after a 400
 * for a non-string. */
static bool
ops_body_string(struct admin_call *call, const char *field, const char **out)
{
	return admin_body_string(call, call->body, field, out);
}

static void
ops_done_empty(struct admin_call *call, redisReply *reply)
{
	admin_reply(call, NULL);
}

static bool ops_attributes_valid(struct admin_call *call, json_t *attrs,
    size_t max, const char *field);

/* The helpers above, for admin_types.c and admin_groups.c (admin.h). */
void
admin_iot_arn(struct admin_call *call, char *out, size_t len,
    const char *kind, const char *name)
{
	ops_arn(call, out, len, kind, name);
}

void
admin_now(char out[24])
{
	ops_now(out);
}

bool
admin_arg_name(struct admin_call *call, const char *field)
{
	return ops_arg_name(call, field);
}

bool
admin_body_string(struct admin_call *call, json_t *obj, const char *field,
    const char **out)
{
	json_t *v = obj != NULL ? json_object_get(obj, field) : NULL;

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_string(v)) {
		admin_error(call, 400, "InvalidRequestException", field,
		    "%s must be a string", field);
		return false;
	}
	*out = json_string_value(v);
	return true;
}

bool
admin_attributes_valid(struct admin_call *call, json_t *attrs, size_t max,
    const char *field)
{
	return ops_attributes_valid(call, attrs, max, field);
}

const char *
admin_field(const redisReply *r, const char *field)
{
	return ops_field(r, field);
}

void
admin_done_empty(struct admin_call *call, redisReply *reply)
{
	admin_reply(call, NULL);
}

/* ---- things ---- */

/* Attributes: at most max (50 for a thing with a type, 3 without, 50 for
 * a group), names [a-zA-Z0-9_.,@/:#-]+ up to 128, values
 * [a-zA-Z0-9_.,@/:#=\[\]-]* up to 800 (AWS IoT's); merge may remove one
 * with "" . */
static bool
ops_attributes_valid(struct admin_call *call, json_t *attrs, size_t max,
    const char *field)
{
	const char *k;
	json_t *v;

	if (!json_is_object(attrs) || json_object_size(attrs) > max) {
		admin_error(call, 400, "InvalidRequestException", field,
		    "attributes must be an object of at most %zu strings%s",
		    max, max == 3 ? " (a thing without a thing type has at "
		    "most 3 attributes, with one 50)" : "");
		return false;
	}
	json_object_foreach(attrs, k, v) {
		if (!ops_chars_valid(k, 128, "_.,@/:#-", false) ||
		    !json_is_string(v) || !ops_chars_valid(json_string_value(v),
		    800, "_.,@/:#=[]-", true)) {
			admin_error(call, 400, "InvalidRequestException",
			    field, "attribute '%s': "
			    "names match [a-zA-Z0-9_.,@/:#-]+ (up to 128), "
			    "values are strings matching "
			    "[a-zA-Z0-9_.,@/:#=\\[\\]-]* (up to 800)", k);
			return false;
		}
	}
	return true;
}

/* attributePayload.attributes of the body as compact JSON (malloc'd),
 * "{}" when absent, at most max of them; *merge from
 * attributePayload.merge.  NULL after a 400. */
static char *
ops_body_attributes(struct admin_call *call, bool *merge, bool *given,
    size_t max)
{
	json_t *ap = call->body != NULL ?
	    json_object_get(call->body, "attributePayload") : NULL;
	json_t *attrs = ap != NULL ? json_object_get(ap, "attributes") : NULL;

	*merge = ap != NULL && json_is_true(json_object_get(ap, "merge"));
	*given = attrs != NULL;
	if (ap != NULL && !json_is_object(ap)) {
		admin_error(call, 400, "InvalidRequestException",
		    "attributePayload", "attributePayload must be an object");
		return NULL;
	}
	if (attrs == NULL)
		return strdup("{}");
	if (!ops_attributes_valid(call, attrs, max,
	    "attributePayload.attributes"))
		return NULL;
	return json_dumps(attrs, JSON_COMPACT | JSON_SORT_KEYS);
}

static bool
ops_body_type(struct admin_call *call, const char **type)
{
	if (!ops_body_string(call, "thingTypeName", type))
		return false;
	if (*type != NULL && !broker_registry_name_valid(*type)) {
		admin_error(call, 400, "InvalidRequestException",
		    "thingTypeName", "thingTypeName must match "
		    "[a-zA-Z0-9:_-]+ (1 to 128 characters)");
		return false;
	}
	return true;
}

/* The thing type named ARGV[2] ("" none) must exist and not be
 * deprecated (CreateThing, UpdateThing). */
#define OPS_TYPE_CHECK                                                     \
    "if ARGV[2] ~= '' then "                                               \
    "  local tt = redis.call('HMGET', 'strata:thing-type:{' .. ARGV[2] .. " \
    "    '}', 'name', 'deprecated') "                                      \
    "  if not tt[1] then return redis.error_reply('NotFound thing type ' " \
    "    .. ARGV[2] .. ' does not exist') end "                            \
    "  if tt[2] == '1' then return redis.error_reply('Invalid thing type ' " \
    "    .. ARGV[2] .. ' is deprecated: no thing may be given it') end "   \
    "end "

static const char script_create_thing[] =
    "local t = redis.call('HMGET', KEYS[1], 'id', 'type', 'attributes') "
    "if t[1] then "
    "  if t[2] == ARGV[2] and t[3] == ARGV[3] then return t[1] end "
    "  return redis.error_reply('Exists thing ' .. ARGV[1] .. "
    "    ' already exists with different attributes') "
    "end "
    OPS_TYPE_CHECK
    "redis.call('HSET', KEYS[1], 'name', ARGV[1], 'type', ARGV[2], "
    "  'attributes', ARGV[3], 'version', 1, 'created', ARGV[4], "
    "  'id', ARGV[5]) "
    "redis.call('SADD', KEYS[2], ARGV[1]) "
    "redis.call('PUBLISH', 'strata:registry', 'thing ' .. ARGV[1]) "
    "return ARGV[5]";

static void
ops_thing_created(struct admin_call *call, redisReply *reply)
{
	json_t *o = json_object();
	char arn[400];

	ops_arn(call, arn, sizeof(arn), "thing", call->arg);
	json_object_set_new(o, "thingName", json_string(call->arg));
	json_object_set_new(o, "thingArn", json_string(arn));
	json_object_set_new(o, "thingId", json_string(reply->type ==
	    REDIS_REPLY_STRING ? reply->str : ""));
	admin_reply(call, o);
}

static void
op_create_thing(struct admin_call *call)
{
	char key[KEY_MAX], now[24], uuid[37];
	const char *type;
	bool merge, given;
	char *attrs;

	if (!ops_arg_name(call, "thingName") || !ops_body_type(call, &type))
		return;
	attrs = ops_body_attributes(call, &merge, &given, type != NULL ? 50 :
	    3);
	if (attrs == NULL)
		return;
	broker_registry_key(key, "thing", call->arg);
	ops_now(now);
	strata_uuid4(uuid);
	admin_eval(call, script_create_thing, 2, 7, (const char *[]){key,
	    "strata:things", call->arg, type != NULL ? type : "", attrs, now,
	    uuid}, ops_thing_created);
	free(attrs);
}

/* The thing of an HMGET name type attributes version id as JSON. */
static json_t *
ops_thing_json(struct admin_call *call, redisReply **f, bool describe)
{
	json_t *o = json_object();
	json_t *attrs = json_loads(f[2]->type == REDIS_REPLY_STRING ?
	    f[2]->str : "{}", 0, NULL);
	char arn[400];

	ops_arn(call, arn, sizeof(arn), "thing", f[0]->str);
	if (describe)
		json_object_set_new(o, "defaultClientId", json_string(f[0]->str));
	json_object_set_new(o, "thingName", json_string(f[0]->str));
	if (describe && f[4]->type == REDIS_REPLY_STRING)
		json_object_set_new(o, "thingId", json_string(f[4]->str));
	json_object_set_new(o, "thingArn", json_string(arn));
	if (f[1]->type == REDIS_REPLY_STRING && f[1]->str[0] != '\0')
		json_object_set_new(o, "thingTypeName", json_string(f[1]->str));
	json_object_set_new(o, "attributes", attrs != NULL ? attrs :
	    json_object());
	json_object_set_new(o, "version", json_integer(f[3]->type ==
	    REDIS_REPLY_STRING ? strtoll(f[3]->str, NULL, 10) : 1));
	return o;
}

static bool
ops_is_thing(const redisReply *r)
{
	return r->type == REDIS_REPLY_ARRAY && r->elements == 5 &&
	    r->element[0]->type == REDIS_REPLY_STRING;
}

static const char script_describe_thing[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then "
    "  return redis.error_reply('NotFound thing ' .. ARGV[1] .. "
    "    ' does not exist') end "
    "return redis.call('HMGET', KEYS[1], 'name', 'type', 'attributes', "
    "  'version', 'id')";

static void
ops_thing_described(struct admin_call *call, redisReply *reply)
{
	if (!ops_is_thing(reply)) {
		admin_error(call, 500, "InternalFailureException", NULL,
		    "thing record is malformed");
		return;
	}
	admin_reply(call, ops_thing_json(call, reply->element, true));
}

static void
op_describe_thing(struct admin_call *call)
{
	char key[KEY_MAX];

	if (!ops_arg_name(call, "thingName"))
		return;
	broker_registry_key(key, "thing", call->arg);
	admin_eval(call, script_describe_thing, 1, 2,
	    (const char *[]){key, call->arg}, ops_thing_described);
}

static const char script_list_things[] =
    "local out = {} "
    "local names = redis.call('SMEMBERS', KEYS[1]) table.sort(names) "
    "for _, n in ipairs(names) do "
    "  local t = redis.call('HMGET', 'strata:thing:{' .. n .. '}', "
    "    'name', 'type', 'attributes', 'version', 'id') "
    "  if t[1] then out[#out + 1] = t end "
    "end return out";

/* The filters of list-things: attributeName/attributeValue and
 * thingTypeName. */
static bool
ops_thing_listed_match(struct admin_call *call, const json_t *thing)
{
	const char *an = admin_query(call, "attributeName");
	const char *av = admin_query(call, "attributeValue");
	const char *tt = admin_query(call, "thingTypeName");
	const json_t *v;

	if (tt != NULL) {
		v = json_object_get(thing, "thingTypeName");
		if (v == NULL || strcmp(json_string_value(v), tt) != 0)
			return false;
	}
	if (an != NULL) {
		v = json_object_get(json_object_get(thing, "attributes"), an);
		if (v == NULL || (av != NULL &&
		    strcmp(json_string_value(v), av) != 0))
			return false;
	}
	return true;
}

static void
ops_things_listed(struct admin_call *call, redisReply *reply)
{
	json_t *things = json_array(), *o = json_object();

	for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY &&
	     i < reply->elements; i++) {
		json_t *t;

		if (!ops_is_thing(reply->element[i]))
			continue;
		t = ops_thing_json(call, reply->element[i]->element, false);
		if (ops_thing_listed_match(call, t))
			json_array_append_new(things, t);
		else
			json_decref(t);
	}
	json_object_set_new(o, "things", things);
	admin_reply(call, o);
}

static void
op_list_things(struct admin_call *call)
{
	admin_eval(call, script_list_things, 1, 1,
	    (const char *[]){"strata:things"}, ops_things_listed);
}

/* ARGV: name, type or "", expectedVersion or "", removeType 0/1,
 * attributes JSON or "", merge 0/1.  The type must exist and not be
 * deprecated (unless the thing has it already); the attributes after the
 * change at most 50 with a type, 3 without (AWS IoT's). */
static const char script_update_thing[] =
    "local t = redis.call('HMGET', KEYS[1], 'version', 'attributes', "
    "  'type') "
    "if not t[1] then return redis.error_reply('NotFound thing ' .. "
    "  ARGV[1] .. ' does not exist') end "
    "if ARGV[3] ~= '' and ARGV[3] ~= t[1] then return redis.error_reply("
    "  'VersionConflict expected version ' .. ARGV[3] .. ', thing is at ' "
    "  .. t[1]) end "
    "if ARGV[2] ~= (t[3] or '') then " OPS_TYPE_CHECK "end "
    "local ty = t[3] or '' "
    "if ARGV[2] ~= '' then ty = ARGV[2] elseif ARGV[4] == '1' then "
    "  ty = '' end "
    "local new = cjson.decode(t[2] or '{}') "
    "if ARGV[5] ~= '' then "
    "  local given = cjson.decode(ARGV[5]) "
    "  if ARGV[6] == '1' then "
    "    for k, v in pairs(given) do "
    "      if v == '' then new[k] = nil else new[k] = v end end "
    "  else new = given end "
    "end "
    "local n = 0 for _ in pairs(new) do n = n + 1 end "
    "if (ty == '' and n > 3) or n > 50 then return redis.error_reply("
    "  'Invalid a thing without a thing type has at most 3 attributes, "
    "with one 50') end "
    "redis.call('HSET', KEYS[1], 'type', ty) "
    "if ARGV[5] ~= '' then "
    "  local enc = cjson.encode(new) "
    "  if n == 0 then enc = '{}' end "
    "  redis.call('HSET', KEYS[1], 'attributes', enc) "
    "end "
    "redis.call('HINCRBY', KEYS[1], 'version', 1) "
    "redis.call('PUBLISH', 'strata:registry', 'thing ' .. ARGV[1]) "
    "return 1";

static void
op_update_thing(struct admin_call *call)
{
	char key[KEY_MAX], version[24] = "";
	const char *type;
	json_t *ev = call->body != NULL ?
	    json_object_get(call->body, "expectedVersion") : NULL;
	bool merge, given, remove = call->body != NULL &&
	    json_is_true(json_object_get(call->body, "removeThingType"));
	char *attrs;

	if (!ops_arg_name(call, "thingName") || !ops_body_type(call, &type))
		return;
	if (ev != NULL && !json_is_integer(ev)) {
		admin_error(call, 400, "InvalidRequestException",
		    "expectedVersion", "expectedVersion must be an integer");
		return;
	}
	if (ev != NULL)
		snprintf(version, sizeof(version), "%lld",
		    (long long)json_integer_value(ev));
	/* the count with or without a type is checked after the merge, in
	 * the script */
	attrs = ops_body_attributes(call, &merge, &given, 50);
	if (attrs == NULL)
		return;
	broker_registry_key(key, "thing", call->arg);
	admin_eval(call, script_update_thing, 1, 7, (const char *[]){key,
	    call->arg, type != NULL ? type : "", version, remove ? "1" : "0",
	    given ? attrs : "", merge ? "1" : "0"}, ops_done_empty);
	free(attrs);
}

static const char script_delete_thing[] =
    "local v = redis.call('HGET', KEYS[1], 'version') "
    "if not v then return 0 end "
    "if ARGV[2] ~= '' and ARGV[2] ~= v then return redis.error_reply("
    "  'VersionConflict expected version ' .. ARGV[2] .. ', thing is at ' "
    "  .. v) end "
    "if redis.call('SCARD', KEYS[3]) > 0 then return redis.error_reply("
    "  'Invalid cannot delete thing ' .. ARGV[1] .. ' which has "
    "principals attached') end "
    "redis.call('DEL', KEYS[1]) redis.call('SREM', KEYS[2], ARGV[1]) "
    "local of = 'strata:thing-groups-of:{' .. ARGV[1] .. '}' "
    "for _, g in ipairs(redis.call('SMEMBERS', of)) do "
    "  redis.call('SREM', 'strata:group-things:{' .. g .. '}', ARGV[1]) "
    "end "
    "redis.call('DEL', of) "
    "redis.call('PUBLISH', 'strata:registry', 'thing ' .. ARGV[1]) "
    "return 1";

static void
op_delete_thing(struct admin_call *call)
{
	char key[KEY_MAX], pkey[KEY_MAX];
	const char *ev = admin_query(call, "expectedVersion");

	if (!ops_arg_name(call, "thingName"))
		return;
	broker_registry_key(key, "thing", call->arg);
	broker_registry_key(pkey, "thing-principals", call->arg);
	admin_eval(call, script_delete_thing, 3, 5, (const char *[]){key,
	    "strata:things", pkey, call->arg, ev != NULL ? ev : ""},
	    ops_done_empty);
}

/* ---- thing principals ---- */

/* KEYS: thing, cert, thing-principals, cert-things; ARGV: thing, id,
 * attach 1 / detach 0 */
static const char script_thing_principal[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply("
    "  'NotFound thing ' .. ARGV[1] .. ' does not exist') end "
    "if ARGV[3] == '1' then "
    "  if redis.call('EXISTS', KEYS[2]) == 0 then return "
    "    redis.error_reply('NotFound certificate ' .. ARGV[2] .. "
    "    ' does not exist') end "
    "  redis.call('SADD', KEYS[3], ARGV[2]) "
    "  redis.call('SADD', KEYS[4], ARGV[1]) "
    "else "
    "  redis.call('SREM', KEYS[3], ARGV[2]) "
    "  redis.call('SREM', KEYS[4], ARGV[1]) "
    "end "
    "redis.call('PUBLISH', 'strata:registry', 'attach ' .. ARGV[2]) "
    "return 1";

static void
ops_thing_principal(struct admin_call *call, bool attach)
{
	char id[BROKER_CERT_ID_LEN + 1], k[4][KEY_MAX];

	if (!ops_arg_name(call, "thingName") || !ops_principal_id(call,
	    admin_header(call, "x-amzn-principal"), "principal", id))
		return;
	broker_registry_key(k[0], "thing", call->arg);
	broker_registry_key(k[1], "cert", id);
	broker_registry_key(k[2], "thing-principals", call->arg);
	broker_registry_key(k[3], "cert-things", id);
	admin_eval(call, script_thing_principal, 4, 7, (const char *[]){k[0],
	    k[1], k[2], k[3], call->arg, id, attach ? "1" : "0"},
	    ops_done_empty);
}

static void
op_attach_thing_principal(struct admin_call *call)
{
	ops_thing_principal(call, true);
}

static void
op_detach_thing_principal(struct admin_call *call)
{
	ops_thing_principal(call, false);
}

/* KEYS: the record that must exist, the set to list; ARGV: what it is */
static const char script_members[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply("
    "  'NotFound ' .. ARGV[1] .. ' does not exist') end "
    "local m = redis.call('SMEMBERS', KEYS[2]) table.sort(m) return m";

static void
ops_principals_listed(struct admin_call *call, redisReply *reply)
{
	json_t *a = json_array(), *o = json_object();
	char arn[400];

	for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY &&
	     i < reply->elements; i++) {
		ops_arn(call, arn, sizeof(arn), "cert", reply->element[i]->str);
		json_array_append_new(a, json_string(arn));
	}
	json_object_set_new(o, "principals", a);
	admin_reply(call, o);
}

static void
op_list_thing_principals(struct admin_call *call)
{
	char k[2][KEY_MAX], what[ADMIN_MAX_NAME + 8];

	if (!ops_arg_name(call, "thingName"))
		return;
	broker_registry_key(k[0], "thing", call->arg);
	broker_registry_key(k[1], "thing-principals", call->arg);
	snprintf(what, sizeof(what), "thing %s", call->arg);
	admin_eval(call, script_members, 2, 3, (const char *[]){k[0], k[1],
	    what}, ops_principals_listed);
}

static void
ops_names_listed(struct admin_call *call, redisReply *reply)
{
	json_t *a = json_array(), *o = json_object();

	for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY &&
	     i < reply->elements; i++)
		json_array_append_new(a, json_string(reply->element[i]->str));
	json_object_set_new(o, "things", a);
	admin_reply(call, o);
}

static void
op_list_principal_things(struct admin_call *call)
{
	char id[BROKER_CERT_ID_LEN + 1], k[2][KEY_MAX], what[96];

	if (!ops_principal_id(call, admin_header(call, "x-amzn-principal"),
	    "principal", id))
		return;
	broker_registry_key(k[0], "cert", id);
	broker_registry_key(k[1], "cert-things", id);
	snprintf(what, sizeof(what), "certificate %s", id);
	admin_eval(call, script_members, 2, 3, (const char *[]){k[0], k[1],
	    what}, ops_names_listed);
}

/* ---- certificates ---- */

/* KEYS: cert, certs; ARGV: id, pem, status, ca, now, not_before,
 * not_after */
static const char script_store_cert[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply("
    "  'Exists certificate ' .. ARGV[1] .. ' is already registered') end "
    "redis.call('HSET', KEYS[1], 'pem', ARGV[2], 'status', ARGV[3], "
    "  'ca', ARGV[4], 'created', ARGV[5], 'modified', ARGV[5], "
    "  'not_before', ARGV[6], 'not_after', ARGV[7]) "
    "redis.call('SADD', KEYS[2], ARGV[1]) "
    "redis.call('PUBLISH', 'strata:registry', 'cert ' .. ARGV[1]) "
    "return 1";

struct ops_cert_state {
	struct broker_issued issued;  /* create-keys-and-certificate */
	char id[BROKER_CERT_ID_LEN + 1];
	X509 *cert;                   /* register-certificate */
};

static void
ops_cert_state_free(struct admin_call *call)
{
	struct ops_cert_state *st = call->state;

	broker_issued_free(&st->issued);
	X509_free(st->cert);
}

/* Store cert as id with status and its CA, then done. */
static void
ops_store_cert(struct admin_call *call, X509 *cert, const char *pem,
    const char *status, const char *ca, admin_done_cb done)
{
	char k[KEY_MAX], now[24], nb[24], na[24];
	struct ops_cert_state *st = call->state;

	broker_registry_key(k, "cert", st->id);
	ops_now(now);
	broker_cert_validity(cert, nb, na);
	admin_eval(call, script_store_cert, 2, 9, (const char *[]){k,
	    "strata:certs", st->id, pem, status, ca, now, nb, na}, done);
}

static void
ops_keys_created(struct admin_call *call, redisReply *reply)
{
	struct ops_cert_state *st = call->state;
	json_t *o = json_object(), *kp = json_object();
	char arn[400];

	ops_arn(call, arn, sizeof(arn), "cert", st->id);
	json_object_set_new(o, "certificateArn", json_string(arn));
	json_object_set_new(o, "certificateId", json_string(st->id));
	json_object_set_new(o, "certificatePem",
	    json_string(st->issued.cert_pem));
	json_object_set_new(kp, "PublicKey", json_string(st->issued.public_pem));
	json_object_set_new(kp, "PrivateKey",
	    json_string(st->issued.private_pem));
	json_object_set_new(o, "keyPair", kp);
	ops_cert_state_free(call);
	admin_reply(call, o);
}

static void
op_create_keys_and_certificate(struct admin_call *call)
{
	struct broker_admin *a = call->b->admin;
	struct ops_cert_state *st = calloc(1, sizeof(*st));

	if (st == NULL)
		abort();
	call->state = st;
	if (a->ca == NULL) {
		admin_error(call, 400, "InvalidRequestException", NULL,
		    "this broker has no issuing CA (registry-ca-cert, "
		    "registry-ca-key)");
		return;
	}
	if (broker_cert_issue(a->ca, a->ca_key, call->b->cfg.registry_cert_days,
	    &st->issued) != 0) {
		admin_error(call, 500, "InternalFailureException", NULL,
		    "could not make a key pair and certificate");
		return;
	}
	memcpy(st->id, st->issued.id, sizeof(st->id));
	ops_store_cert(call, st->issued.cert, st->issued.cert_pem,
	    admin_query_true(call, "setAsActive") ? "ACTIVE" : "INACTIVE",
	    a->ca_id, ops_keys_created);
}

/* A PEM body field as a certificate; NULL after a 400. */
static X509 *
ops_body_cert(struct admin_call *call, const char *field, bool required)
{
	const char *pem;
	X509 *x;

	if (!ops_body_string(call, field, &pem))
		return NULL;
	if (pem == NULL) {
		if (required)
			admin_error(call, 400, "InvalidRequestException", field,
			    "%s is required", field);
		return NULL;
	}
	x = broker_cert_from_pem(pem, strlen(pem));
	if (x == NULL)
		admin_error(call, 400, "InvalidRequestException", field,
		    "%s is not a PEM certificate", field);
	return x;
}

static void
ops_cert_registered(struct admin_call *call, redisReply *reply)
{
	struct ops_cert_state *st = call->state;
	json_t *o = json_object();
	char arn[400];

	ops_arn(call, arn, sizeof(arn), "cert", st->id);
	json_object_set_new(o, "certificateArn", json_string(arn));
	json_object_set_new(o, "certificateId", json_string(st->id));
	ops_cert_state_free(call);
	admin_reply(call, o);
}

/* The registered CAs with the certificate's issuer as subject: which
 * one signed it? */
static const char script_ca_candidates[] =
    "local out = {} "
    "for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do "
    "  local c = redis.call('HMGET', 'strata:ca:{' .. id .. '}', 'pem', "
    "    'status') "
    "  if c[1] then out[#out + 1] = {id, c[1], c[2]} end "
    "end return out";

static void
ops_register_with_ca(struct admin_call *call, const char *ca_id)
{
	struct ops_cert_state *st = call->state;
	char *pem = broker_cert_to_pem(st->cert);

	if (pem == NULL)
		abort();
	ops_store_cert(call, st->cert, pem, admin_query_true(call,
	    "setAsActive") ? "ACTIVE" : "INACTIVE", ca_id,
	    ops_cert_registered);
	free(pem);
}

static void
ops_ca_candidates(struct admin_call *call, redisReply *reply)
{
	struct ops_cert_state *st = call->state;

	for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY &&
	     i < reply->elements; i++) {
		redisReply *c = reply->element[i];
		X509 *ca;
		EVP_PKEY *pk;
		bool signs;

		if (c->type != REDIS_REPLY_ARRAY || c->elements != 3)
			continue;
		ca = broker_cert_from_pem(c->element[1]->str,
		    c->element[1]->len);
		pk = ca != NULL ? X509_get0_pubkey(ca) : NULL;
		signs = pk != NULL && X509_verify(st->cert, pk) == 1;
		X509_free(ca);
		if (signs) {
			ops_register_with_ca(call, c->element[0]->str);
			return;
		}
	}
	admin_error(call, 400, "InvalidRequestException", "certificatePem",
	    "the certificate is not signed by a registered CA certificate");
}

void
broker_cert_issuer_key(X509 *x, bool issuer, char *out, size_t len)
{
	snprintf(out, len, "strata:ca-subject:{%08lx}", X509_NAME_hash_ex(
	    issuer ? X509_get_issuer_name(x) : X509_get_subject_name(x),
	    NULL, NULL, NULL));
}

static void
op_register_certificate(struct admin_call *call)
{
	struct broker_admin *a = call->b->admin;
	struct ops_cert_state *st = calloc(1, sizeof(*st));
	char k[KEY_MAX];

	if (st == NULL)
		abort();
	call->state = st;
	st->cert = ops_body_cert(call, "certificatePem", true);
	if (st->cert == NULL)
		return;
	if (broker_cert_id(st->cert, st->id) != 0)
		abort();
	/* the cluster's own CA needs no registration */
	if (a->ca != NULL && X509_verify(st->cert,
	    X509_get0_pubkey(a->ca)) == 1) {
		ops_register_with_ca(call, a->ca_id);
		return;
	}
	broker_cert_issuer_key(st->cert, true, k, sizeof(k));
	admin_eval(call, script_ca_candidates, 1, 1, (const char *[]){k},
	    ops_ca_candidates);
}

/* KEYS: cert; ARGV: id, status, now */
static const char script_update_cert[] =
    "local s = redis.call('HGET', KEYS[1], 'status') "
    "if not s then return redis.error_reply('NotFound certificate ' .. "
    "  ARGV[1] .. ' does not exist') end "
    "if s == 'REVOKED' and ARGV[2] ~= 'REVOKED' then return "
    "  redis.error_reply('CertificateState a REVOKED certificate cannot "
    "become ' .. ARGV[2]) end "
    "redis.call('HSET', KEYS[1], 'status', ARGV[2], 'modified', ARGV[3]) "
    "redis.call('PUBLISH', 'strata:registry', 'cert ' .. ARGV[1]) "
    "return 1";

static bool
ops_status_valid(const char *s, bool ca)
{
	return s != NULL && (strcmp(s, "ACTIVE") == 0 ||
	    strcmp(s, "INACTIVE") == 0 || (!ca && strcmp(s, "REVOKED") == 0));
}

static void
op_update_certificate(struct admin_call *call)
{
	const char *status = admin_query(call, "newStatus");
	char k[KEY_MAX], now[24];

	if (!ops_arg_cert_id(call, "certificateId"))
		return;
	if (!ops_status_valid(status, false)) {
		admin_error(call, 400, "InvalidRequestException", "newStatus",
		    "newStatus must be ACTIVE, INACTIVE or REVOKED");
		return;
	}
	broker_registry_key(k, "cert", call->arg);
	ops_now(now);
	admin_eval(call, script_update_cert, 1, 4, (const char *[]){k,
	    call->arg, status, now}, ops_done_empty);
}

/* A certificate's (or CA's) description as the API gives it. */
static json_t *
ops_cert_description(struct admin_call *call, const redisReply *r,
    const char *kind)
{
	json_t *o = json_object(), *v = json_object();
	const char *ca = ops_field(r, "ca");
	char arn[400];

	ops_arn(call, arn, sizeof(arn), kind, call->arg);
	json_object_set_new(o, "certificateArn", json_string(arn));
	json_object_set_new(o, "certificateId", json_string(call->arg));
	if (ca != NULL && ca[0] != '\0')
		json_object_set_new(o, "caCertificateId", json_string(ca));
	json_object_set_new(o, "status", json_string(ops_field(r, "status") ?
	    ops_field(r, "status") : ""));
	json_object_set_new(o, "certificatePem", json_string(
	    ops_field(r, "pem") ? ops_field(r, "pem") : ""));
	json_object_set_new(o, "ownedBy",
	    json_string(call->b->cfg.iot_account));
	json_object_set_new(o, "creationDate", ops_int_field(r, "created"));
	json_object_set_new(o, "lastModifiedDate",
	    ops_int_field(r, "modified"));
	json_object_set_new(v, "notBefore", ops_int_field(r, "not_before"));
	json_object_set_new(v, "notAfter", ops_int_field(r, "not_after"));
	json_object_set_new(o, "validity", v);
	return o;
}

static void
ops_cert_described(struct admin_call *call, redisReply *reply)
{
	json_t *o = json_object();

	json_object_set_new(o, "certificateDescription",
	    ops_cert_description(call, reply, "cert"));
	admin_reply(call, o);
}

static void
op_describe_certificate(struct admin_call *call)
{
	char k[KEY_MAX];

	if (!ops_arg_cert_id(call, "certificateId"))
		return;
	broker_registry_key(k, "cert", call->arg);
	admin_describe_hash(call, k, "certificate", ops_cert_described);
}

/* KEYS: the set of ids; ARGV: the record kind ("cert" / "ca") */
static const char script_list_certs[] =
    "local out = {} "
    "local ids = redis.call('SMEMBERS', KEYS[1]) table.sort(ids) "
    "for _, id in ipairs(ids) do "
    "  local c = redis.call('HMGET', 'strata:' .. ARGV[1] .. ':{' .. id "
    "    .. '}', 'status', 'created') "
    "  if c[1] then out[#out + 1] = {id, c[1], c[2]} end "
    "end return out";

static void
ops_certs_listed(struct admin_call *call, const redisReply *reply,
    const char *kind)
{
	json_t *a = json_array(), *o = json_object();
	char arn[400];

	for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY &&
	     i < reply->elements; i++) {
		redisReply **f = reply->element[i]->element;
		json_t *c = json_object();

		if (reply->element[i]->elements != 3 ||
		    f[1]->type != REDIS_REPLY_STRING) {
			json_decref(c);
			continue;
		}
		ops_arn(call, arn, sizeof(arn), kind, f[0]->str);
		json_object_set_new(c, "certificateArn", json_string(arn));
		json_object_set_new(c, "certificateId", json_string(f[0]->str));
		json_object_set_new(c, "status", json_string(f[1]->str));
		json_object_set_new(c, "creationDate", json_integer(
		    f[2]->type == REDIS_REPLY_STRING ?
		    strtoll(f[2]->str, NULL, 10) : 0));
		json_array_append_new(a, c);
	}
	json_object_set_new(o, "certificates", a);
	admin_reply(call, o);
}

static void
ops_device_certs_listed(struct admin_call *call, redisReply *reply)
{
	ops_certs_listed(call, reply, "cert");
}

static void
op_list_certificates(struct admin_call *call)
{
	admin_eval(call, script_list_certs, 1, 2,
	    (const char *[]){"strata:certs", "cert"}, ops_device_certs_listed);
}

/* KEYS: cert, certs, cert-things, cert-policies; ARGV: id, force */
static const char script_delete_cert[] =
    "local s = redis.call('HGET', KEYS[1], 'status') "
    "if not s then return redis.error_reply('NotFound certificate ' .. "
    "  ARGV[1] .. ' does not exist') end "
    "if s == 'ACTIVE' then return redis.error_reply('CertificateState "
    "an ACTIVE certificate cannot be deleted: set it INACTIVE first') end "
    "if redis.call('SCARD', KEYS[3]) > 0 then return redis.error_reply("
    "  'DeleteConflict the certificate is attached to things') end "
    "local pols = redis.call('SMEMBERS', KEYS[4]) "
    "if #pols > 0 and ARGV[2] ~= '1' then return redis.error_reply("
    "  'DeleteConflict the certificate has policies attached') end "
    "for _, p in ipairs(pols) do redis.call('SREM', "
    "  'strata:policy-targets:{' .. p .. '}', ARGV[1]) end "
    "redis.call('DEL', KEYS[1], KEYS[4]) "
    "redis.call('SREM', KEYS[2], ARGV[1]) "
    "redis.call('PUBLISH', 'strata:registry', 'cert ' .. ARGV[1]) "
    "return 1";

static void
op_delete_certificate(struct admin_call *call)
{
	char k[3][KEY_MAX];

	if (!ops_arg_cert_id(call, "certificateId"))
		return;
	broker_registry_key(k[0], "cert", call->arg);
	broker_registry_key(k[1], "cert-things", call->arg);
	broker_registry_key(k[2], "cert-policies", call->arg);
	admin_eval(call, script_delete_cert, 4, 6, (const char *[]){k[0],
	    "strata:certs", k[1], k[2], call->arg,
	    admin_query_true(call, "forceDelete") ? "1" : "0"},
	    ops_done_empty);
}

/* ---- CA certificates ---- */

/* KEYS: ca, cas, ca-subject; ARGV: id, pem, status, auto, template, now,
 * not_before, not_after, template name */
static const char script_store_ca[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply("
    "  'Exists CA certificate ' .. ARGV[1] .. ' is already registered') "
    "end "
    "redis.call('HSET', KEYS[1], 'pem', ARGV[2], 'status', ARGV[3], "
    "  'auto_registration', ARGV[4], 'template', ARGV[5], "
    "  'created', ARGV[6], 'modified', ARGV[6], 'not_before', ARGV[7], "
    "  'not_after', ARGV[8], 'subject_key', KEYS[3], 'template_name', "
    "  ARGV[9]) "
    "redis.call('SADD', KEYS[2], ARGV[1]) "
    "redis.call('SADD', KEYS[3], ARGV[1]) "
    "redis.call('PUBLISH', 'strata:registry', 'ca ' .. ARGV[1]) "
    "return 1";

/* registrationConfig.templateName: a provisioning template of type JITP
 * (admin_prov.c; just-in-time provisioning reads it when a device
 * connects); "" when absent; NULL after a 400. */
static const char *
ops_body_template_name(struct admin_call *call)
{
	json_t *rc = call->body != NULL ?
	    json_object_get(call->body, "registrationConfig") : NULL;
	json_t *tn = rc != NULL ? json_object_get(rc, "templateName") : NULL;

	if (tn == NULL)
		return "";
	if (!json_is_string(tn) || !broker_prov_template_name_valid(
	    json_string_value(tn)) ||
	    json_object_get(rc, "templateBody") != NULL) {
		admin_error(call, 400, "InvalidRequestException",
		    "registrationConfig.templateName", "templateName must "
		    "match [0-9A-Za-z_-]+ (1 to 36), and comes without "
		    "templateBody");
		return NULL;
	}
	return json_string_value(tn);
}

/* registrationConfig.templateBody: a JSON text (the provisioning
 * template); "" when absent; NULL after a 400. */
static const char *
ops_body_template(struct admin_call *call)
{
	json_t *rc = call->body != NULL ?
	    json_object_get(call->body, "registrationConfig") : NULL;
	json_t *tb = rc != NULL ? json_object_get(rc, "templateBody") : NULL;
	json_t *parsed;
	json_error_t jerr;

	if (tb == NULL)
		return "";
	if (!json_is_string(tb)) {
		admin_error(call, 400, "InvalidRequestException",
		    "registrationConfig.templateBody", "templateBody must be "
		    "a string holding the template's JSON");
		return NULL;
	}
	parsed = json_loads(json_string_value(tb), 0, &jerr);
	if (parsed == NULL || !broker_jitp_template_valid(parsed, jerr.text,
	    sizeof(jerr.text))) {
		admin_error(call, 400, "InvalidRequestException",
		    "registrationConfig.templateBody", "templateBody: %s "
		    "(line %d column %d)", jerr.text, parsed ? 0 : jerr.line,
		    parsed ? 0 : jerr.column);
		json_decref(parsed);
		return NULL;
	}
	json_decref(parsed);
	return json_string_value(tb);
}

static void
op_register_ca_certificate(struct admin_call *call)
{
	struct ops_cert_state *st = calloc(1, sizeof(*st));
	char k[2][KEY_MAX], now[24], nb[24], na[24];
	const char *tmpl, *tmpl_name;
	char *pem;

	if (st == NULL)
		abort();
	call->state = st;
	st->cert = ops_body_cert(call, "caCertificate", true);
	if (st->cert == NULL)
		return;
	if (X509_check_ca(st->cert) == 0) {
		admin_error(call, 400, "InvalidRequestException",
		    "caCertificate", "caCertificate is not a CA certificate "
		    "(basicConstraints CA:TRUE)");
		return;
	}
	tmpl = ops_body_template(call);
	if (tmpl == NULL || (tmpl_name = ops_body_template_name(call)) ==
	    NULL)
		return;
	if (broker_cert_id(st->cert, st->id) != 0)
		abort();
	pem = broker_cert_to_pem(st->cert);
	broker_registry_key(k[0], "ca", st->id);
	broker_cert_issuer_key(st->cert, false, k[1], sizeof(k[1]));
	ops_now(now);
	broker_cert_validity(st->cert, nb, na);
	admin_eval(call, script_store_ca, 3, 12, (const char *[]){k[0],
	    "strata:cas", k[1], st->id, pem,
	    admin_query_true(call, "setAsActive") ? "ACTIVE" : "INACTIVE",
	    admin_query_true(call, "allowAutoRegistration") ? "1" : "0", tmpl,
	    now, nb, na, tmpl_name}, ops_cert_registered);
	free(pem);
}

static void
ops_ca_described(struct admin_call *call, redisReply *reply)
{
	json_t *o = json_object(), *d = ops_cert_description(call, reply,
	    "cacert");
	const char *tmpl = ops_field(reply, "template");
	const char *tmpl_name = ops_field(reply, "template_name");
	const char *ar = ops_field(reply, "auto_registration");

	json_object_set_new(d, "autoRegistrationStatus", json_string(
	    ar != NULL && strcmp(ar, "1") == 0 ? "ENABLE" : "DISABLE"));
	json_object_set_new(o, "certificateDescription", d);
	if (tmpl != NULL && tmpl[0] != '\0') {
		json_t *rc = json_object();

		json_object_set_new(rc, "templateBody", json_string(tmpl));
		json_object_set_new(o, "registrationConfig", rc);
	} else if (tmpl_name != NULL && tmpl_name[0] != '\0') {
		json_object_set_new(o, "registrationConfig", json_pack(
		    "{s:s}", "templateName", tmpl_name));
	}
	admin_reply(call, o);
}

static void
op_describe_ca_certificate(struct admin_call *call)
{
	char k[KEY_MAX];

	if (!ops_arg_cert_id(call, "caCertificateId"))
		return;
	broker_registry_key(k, "ca", call->arg);
	admin_describe_hash(call, k, "certificate", ops_ca_described);
}

static void
ops_cas_listed(struct admin_call *call, redisReply *reply)
{
	ops_certs_listed(call, reply, "cacert");
}

static void
op_list_ca_certificates(struct admin_call *call)
{
	admin_eval(call, script_list_certs, 1, 2,
	    (const char *[]){"strata:cas", "ca"}, ops_cas_listed);
}

/* KEYS: ca; ARGV: id, status or "", now, template or "-" (unchanged),
 * auto registration "1"/"0"/"" */
static const char script_update_ca[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply("
    "  'NotFound CA certificate ' .. ARGV[1] .. ' does not exist') end "
    "if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'status', ARGV[2]) "
    "end "
    "if ARGV[4] ~= '-' then redis.call('HSET', KEYS[1], 'template', "
    "  ARGV[4], 'template_name', ARGV[6]) end "
    "if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], "
    "  'auto_registration', ARGV[5]) end "
    "redis.call('HSET', KEYS[1], 'modified', ARGV[3]) "
    "redis.call('PUBLISH', 'strata:registry', 'ca ' .. ARGV[1]) "
    "return 1";

static void
op_update_ca_certificate(struct admin_call *call)
{
	const char *status = admin_query(call, "newStatus");
	const char *ar = admin_query(call, "newAutoRegistrationStatus");
	bool has_tmpl = call->body != NULL &&
	    json_object_get(call->body, "registrationConfig") != NULL;
	const char *tmpl = "-", *tmpl_name = "";
	char k[KEY_MAX], now[24];

	if (!ops_arg_cert_id(call, "caCertificateId"))
		return;
	if (status != NULL && !ops_status_valid(status, true)) {
		admin_error(call, 400, "InvalidRequestException", "newStatus",
		    "newStatus must be ACTIVE or INACTIVE");
		return;
	}
	if (ar != NULL && strcmp(ar, "ENABLE") != 0 &&
	    strcmp(ar, "DISABLE") != 0) {
		admin_error(call, 400, "InvalidRequestException",
		    "newAutoRegistrationStatus", "newAutoRegistrationStatus "
		    "must be ENABLE or DISABLE");
		return;
	}
	if (has_tmpl && ((tmpl = ops_body_template(call)) == NULL ||
	    (tmpl_name = ops_body_template_name(call)) == NULL))
		return;
	broker_registry_key(k, "ca", call->arg);
	ops_now(now);
	admin_eval(call, script_update_ca, 1, 7, (const char *[]){k, call->arg,
	    status != NULL ? status : "", now, tmpl, ar == NULL ? "" :
	    strcmp(ar, "ENABLE") == 0 ? "1" : "0", tmpl_name},
	    ops_done_empty);
}

/* KEYS: ca, cas; ARGV: id */
static const char script_delete_ca[] =
    "local c = redis.call('HMGET', KEYS[1], 'status', 'subject_key') "
    "if not c[1] then return redis.error_reply('NotFound CA certificate "
    "' .. ARGV[1] .. ' does not exist') end "
    "if c[1] == 'ACTIVE' then return redis.error_reply('CertificateState "
    "an ACTIVE CA certificate cannot be deleted: set it INACTIVE first') "
    "end "
    "redis.call('DEL', KEYS[1]) redis.call('SREM', KEYS[2], ARGV[1]) "
    "if c[2] then redis.call('SREM', c[2], ARGV[1]) end "
    "redis.call('PUBLISH', 'strata:registry', 'ca ' .. ARGV[1]) "
    "return 1";

static void
op_delete_ca_certificate(struct admin_call *call)
{
	char k[KEY_MAX];

	if (!ops_arg_cert_id(call, "caCertificateId"))
		return;
	broker_registry_key(k, "ca", call->arg);
	admin_eval(call, script_delete_ca, 2, 3, (const char *[]){k,
	    "strata:cas", call->arg}, ops_done_empty);
}

/* ---- policies ---- */

/* KEYS: policy, policies; ARGV: name, document, now */
static const char script_create_policy[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply("
    "  'Exists policy ' .. ARGV[1] .. ' already exists') end "
    "redis.call('HSET', KEYS[1], 'document', ARGV[2], 'created', ARGV[3], "
    "  'modified', ARGV[3]) "
    "redis.call('SADD', KEYS[2], ARGV[1]) "
    "redis.call('PUBLISH', 'strata:registry', 'policy ' .. ARGV[1]) "
    "return 1";

static void
ops_policy_created(struct admin_call *call, redisReply *reply)
{
	json_t *o = json_object();
	const char *doc;
	char arn[400];

	ops_body_string(call, "policyDocument", &doc);
	ops_arn(call, arn, sizeof(arn), "policy", call->arg);
	json_object_set_new(o, "policyName", json_string(call->arg));
	json_object_set_new(o, "policyArn", json_string(arn));
	json_object_set_new(o, "policyDocument", json_string(doc));
	json_object_set_new(o, "policyVersionId", json_string("1"));
	admin_reply(call, o);
}

static void
op_create_policy(struct admin_call *call)
{
	struct strata_policy_error perr;
	struct strata_policy *pol;
	const char *doc;
	char k[KEY_MAX], now[24];

	if (!ops_arg_name(call, "policyName") ||
	    !ops_body_string(call, "policyDocument", &doc))
		return;
	if (doc == NULL) {
		admin_error(call, 400, "InvalidRequestException",
		    "policyDocument", "policyDocument is required");
		return;
	}
	pol = strata_policy_parse(doc, strlen(doc), &perr);
	if (pol == NULL) {
		if (perr.path[0] != '\0')
			admin_error(call, 400, "MalformedPolicyException",
			    "policyDocument", "%s: %s", perr.path,
			    perr.message);
		else
			admin_error(call, 400, "MalformedPolicyException",
			    "policyDocument", "line %d column %d: %s",
			    perr.line, perr.column, perr.message);
		return;
	}
	strata_policy_free(pol);
	broker_registry_key(k, "policy", call->arg);
	ops_now(now);
	admin_eval(call, script_create_policy, 2, 5, (const char *[]){k,
	    "strata:policies", call->arg, doc, now}, ops_policy_created);
}

static void
ops_policy_got(struct admin_call *call, redisReply *reply)
{
	json_t *o = json_object();
	const char *doc = ops_field(reply, "document");
	char arn[400];

	ops_arn(call, arn, sizeof(arn), "policy", call->arg);
	json_object_set_new(o, "policyName", json_string(call->arg));
	json_object_set_new(o, "policyArn", json_string(arn));
	json_object_set_new(o, "policyDocument", json_string(doc ? doc : ""));
	json_object_set_new(o, "defaultVersionId", json_string("1"));
	json_object_set_new(o, "creationDate", ops_int_field(reply, "created"));
	json_object_set_new(o, "lastModifiedDate",
	    ops_int_field(reply, "modified"));
	admin_reply(call, o);
}

static void
op_get_policy(struct admin_call *call)
{
	char k[KEY_MAX];

	if (!ops_arg_name(call, "policyName"))
		return;
	broker_registry_key(k, "policy", call->arg);
	admin_describe_hash(call, k, "policy", ops_policy_got);
}

/* {"policies": [{policyName, policyArn}...]} of a list of names: the
 * policies, attached policies of a target or a group. */
void
admin_policies_reply(struct admin_call *call, redisReply *reply)
{
	json_t *a = json_array(), *o = json_object();
	char arn[400];

	for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY &&
	     i < reply->elements; i++) {
		json_t *p = json_object();

		ops_arn(call, arn, sizeof(arn), "policy",
		    reply->element[i]->str);
		json_object_set_new(p, "policyName",
		    json_string(reply->element[i]->str));
		json_object_set_new(p, "policyArn", json_string(arn));
		json_array_append_new(a, p);
	}
	json_object_set_new(o, "policies", a);
	admin_reply(call, o);
}

static void
op_list_policies(struct admin_call *call)
{
	admin_eval(call, "local m = redis.call('SMEMBERS', KEYS[1]) "
	    "table.sort(m) return m", 1, 1,
	    (const char *[]){"strata:policies"}, admin_policies_reply);
}

/* KEYS: policy, policies, policy-targets, policy-groups; ARGV: name */
static const char script_delete_policy[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply("
    "  'NotFound policy ' .. ARGV[1] .. ' does not exist') end "
    "if redis.call('SCARD', KEYS[3]) > 0 then return redis.error_reply("
    "  'DeleteConflict policy ' .. ARGV[1] .. ' is attached to "
    "certificates') end "
    "if redis.call('SCARD', KEYS[4]) > 0 then return redis.error_reply("
    "  'DeleteConflict policy ' .. ARGV[1] .. ' is attached to "
    "thing groups') end "
    "redis.call('DEL', KEYS[1]) redis.call('SREM', KEYS[2], ARGV[1]) "
    "redis.call('PUBLISH', 'strata:registry', 'policy ' .. ARGV[1]) "
    "return 1";

static void
op_delete_policy(struct admin_call *call)
{
	char k[3][KEY_MAX];

	if (!ops_arg_name(call, "policyName"))
		return;
	broker_registry_key(k[0], "policy", call->arg);
	broker_registry_key(k[1], "policy-targets", call->arg);
	broker_registry_key(k[2], "policy-groups", call->arg);
	admin_eval(call, script_delete_policy, 4, 5, (const char *[]){k[0],
	    "strata:policies", k[1], k[2], call->arg}, ops_done_empty);
}

/* KEYS: policy, cert, cert-policies, policy-targets; ARGV: name, id,
 * attach 1 / detach 0 */
static const char script_target_policy[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply("
    "  'NotFound policy ' .. ARGV[1] .. ' does not exist') end "
    "if redis.call('EXISTS', KEYS[2]) == 0 then return redis.error_reply("
    "  'NotFound certificate ' .. ARGV[2] .. ' does not exist') end "
    "if ARGV[3] == '1' then "
    "  if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 0 and "
    "     redis.call('SCARD', KEYS[3]) >= 10 then return "
    "    redis.error_reply('Invalid a certificate has at most 10 "
    "policies attached') end "
    "  redis.call('SADD', KEYS[3], ARGV[1]) "
    "  redis.call('SADD', KEYS[4], ARGV[2]) "
    "else "
    "  redis.call('SREM', KEYS[3], ARGV[1]) "
    "  redis.call('SREM', KEYS[4], ARGV[2]) "
    "end "
    "redis.call('PUBLISH', 'strata:registry', 'attach ' .. ARGV[2]) "
    "return 1";

static void
ops_target_policy(struct admin_call *call, bool attach)
{
	char id[BROKER_CERT_ID_LEN + 1], k[4][KEY_MAX];
	char group[ADMIN_MAX_NAME + 1];
	const char *target;

	if (!ops_arg_name(call, "policyName") ||
	    !ops_body_string(call, "target", &target))
		return;
	if (target != NULL && admin_group_arn_name(call, target, group)) {
		admin_group_target_policy(call, group, attach);
		return;
	}
	if (!ops_principal_id(call, target, "target", id))
		return;
	broker_registry_key(k[0], "policy", call->arg);
	broker_registry_key(k[1], "cert", id);
	broker_registry_key(k[2], "cert-policies", id);
	broker_registry_key(k[3], "policy-targets", call->arg);
	admin_eval(call, script_target_policy, 4, 7, (const char *[]){k[0],
	    k[1], k[2], k[3], call->arg, id, attach ? "1" : "0"},
	    ops_done_empty);
}

static void
op_attach_policy(struct admin_call *call)
{
	ops_target_policy(call, true);
}

static void
op_detach_policy(struct admin_call *call)
{
	ops_target_policy(call, false);
}

static void
op_list_attached_policies(struct admin_call *call)
{
	char id[BROKER_CERT_ID_LEN + 1], k[2][KEY_MAX], what[96];
	char group[ADMIN_MAX_NAME + 1];

	if (admin_group_arn_name(call, call->arg, group)) {
		admin_group_attached_policies(call, group);
		return;
	}
	if (!ops_principal_id(call, call->arg, "target", id))
		return;
	broker_registry_key(k[0], "cert", id);
	broker_registry_key(k[1], "cert-policies", id);
	snprintf(what, sizeof(what), "certificate %s", id);
	admin_eval(call, script_members, 2, 3, (const char *[]){k[0], k[1],
	    what}, admin_policies_reply);
}

const struct admin_route admin_routes[] = {
	{EVHTTP_REQ_GET, "things", "ListThings",
	    "iot:ListThings", ADMIN_RES_ANY, op_list_things},
	{EVHTTP_REQ_POST, "things/*", "CreateThing",
	    "iot:CreateThing", ADMIN_RES_THING, op_create_thing},
	{EVHTTP_REQ_GET, "things/*", "DescribeThing",
	    "iot:DescribeThing", ADMIN_RES_THING, op_describe_thing},
	{EVHTTP_REQ_PATCH, "things/*", "UpdateThing",
	    "iot:UpdateThing", ADMIN_RES_THING, op_update_thing},
	{EVHTTP_REQ_DELETE, "things/*", "DeleteThing",
	    "iot:DeleteThing", ADMIN_RES_THING, op_delete_thing},
	{EVHTTP_REQ_PUT, "things/*/principals", "AttachThingPrincipal",
	    "iot:AttachThingPrincipal", ADMIN_RES_THING,
	    op_attach_thing_principal},
	{EVHTTP_REQ_DELETE, "things/*/principals", "DetachThingPrincipal",
	    "iot:DetachThingPrincipal", ADMIN_RES_THING,
	    op_detach_thing_principal},
	{EVHTTP_REQ_GET, "things/*/principals", "ListThingPrincipals",
	    "iot:ListThingPrincipals", ADMIN_RES_THING,
	    op_list_thing_principals},
	{EVHTTP_REQ_GET, "principals/things", "ListPrincipalThings",
	    "iot:ListPrincipalThings", ADMIN_RES_ANY, op_list_principal_things},
	{EVHTTP_REQ_POST, "keys-and-certificate", "CreateKeysAndCertificate",
	    "iot:CreateKeysAndCertificate", ADMIN_RES_ANY,
	    op_create_keys_and_certificate},
	{EVHTTP_REQ_POST, "certificate/register", "RegisterCertificate",
	    "iot:RegisterCertificate", ADMIN_RES_ANY, op_register_certificate},
	{EVHTTP_REQ_GET, "certificates", "ListCertificates",
	    "iot:ListCertificates", ADMIN_RES_ANY, op_list_certificates},
	{EVHTTP_REQ_GET, "certificates/*", "DescribeCertificate",
	    "iot:DescribeCertificate", ADMIN_RES_CERT, op_describe_certificate},
	{EVHTTP_REQ_PUT, "certificates/*", "UpdateCertificate",
	    "iot:UpdateCertificate", ADMIN_RES_CERT, op_update_certificate},
	{EVHTTP_REQ_DELETE, "certificates/*", "DeleteCertificate",
	    "iot:DeleteCertificate", ADMIN_RES_CERT, op_delete_certificate},
	{EVHTTP_REQ_POST, "cacertificate", "RegisterCACertificate",
	    "iot:RegisterCACertificate", ADMIN_RES_ANY,
	    op_register_ca_certificate},
	{EVHTTP_REQ_GET, "cacertificates", "ListCACertificates",
	    "iot:ListCACertificates", ADMIN_RES_ANY, op_list_ca_certificates},
	{EVHTTP_REQ_GET, "cacertificate/*", "DescribeCACertificate",
	    "iot:DescribeCACertificate", ADMIN_RES_CACERT,
	    op_describe_ca_certificate},
	{EVHTTP_REQ_PUT, "cacertificate/*", "UpdateCACertificate",
	    "iot:UpdateCACertificate", ADMIN_RES_CACERT,
	    op_update_ca_certificate},
	{EVHTTP_REQ_DELETE, "cacertificate/*", "DeleteCACertificate",
	    "iot:DeleteCACertificate", ADMIN_RES_CACERT,
	    op_delete_ca_certificate},
	{EVHTTP_REQ_GET, "policies", "ListPolicies",
	    "iot:ListPolicies", ADMIN_RES_ANY, op_list_policies},
	{EVHTTP_REQ_POST, "policies/*", "CreatePolicy",
	    "iot:CreatePolicy", ADMIN_RES_POLICY, op_create_policy},
	{EVHTTP_REQ_GET, "policies/*", "GetPolicy",
	    "iot:GetPolicy", ADMIN_RES_POLICY, op_get_policy},
	{EVHTTP_REQ_DELETE, "policies/*", "DeletePolicy",
	    "iot:DeletePolicy", ADMIN_RES_POLICY, op_delete_policy},
	{EVHTTP_REQ_PUT, "target-policies/*", "AttachPolicy",
	    "iot:AttachPolicy", ADMIN_RES_POLICY, op_attach_policy},
	{EVHTTP_REQ_POST, "target-policies/*", "DetachPolicy",
	    "iot:DetachPolicy", ADMIN_RES_POLICY, op_detach_policy},
	{EVHTTP_REQ_POST, "attached-policies/*", "ListAttachedPolicies",
	    "iot:ListAttachedPolicies", ADMIN_RES_ARN,
	    op_list_attached_policies},
	{0, NULL, NULL, NULL, 0, NULL},
};
