/*
 * admin_prov.c - the admin API's provisioning templates, AWS IoT's
 * CreateProvisioningTemplate, DescribeProvisioningTemplate,
 * ListProvisioningTemplates, UpdateProvisioningTemplate and
 * DeleteProvisioningTemplate (docs/internals/fleet-provisioning.md has
 * the keys and every difference from AWS).
 *
 * The template body is checked when it is created (common/provtemplate.c:
 * a 400 naming what is wrong); fleet.c reads the record when a device
 * asks to be provisioned.  Each operation is one Lua script.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/http.h>

#include "admin.h"
#include "provtemplate.h"

#define PROV_SET "strata:prov-templates"
#define PROV_NAME_MAX 36
#define PROV_BODY_MAX 10240
#define PROV_DESC_MAX 500
#define PROV_HOOK_VERSION "2020-04-01"

/* The fields describe reads, in this order. */
#define PROV_FIELDS "'name', 'description', 'body', 'enabled', 'role', " \
    "'type', 'hook_target', 'hook_version', 'created', 'modified'"
#define PROV_NFIELDS 10

/* ---- helpers ---- */

/* [0-9A-Za-z_-]{1,36}, AWS's templateName. */
bool
broker_prov_template_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > PROV_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

static bool
prov_arg_name(struct admin_call *call, const char *name)
{
	if (name != NULL && broker_prov_template_name_valid(name))
		return true;
	admin_error(call, 400, "InvalidRequestException", "templateName",
	    "templateName must match [0-9A-Za-z_-]+ (1 to 36 characters)");
	return false;
}

void
broker_prov_template_arn(const struct strata_broker *b, const char *name,
    char *out, size_t len)
{
	snprintf(out, len, "arn:aws:iot:%s:%s:provisioningtemplate/%s",
	    b->cfg.iot_region, b->cfg.iot_account, name);
}

bool
broker_prov_hook_url_valid(const char *url)
{
	struct evhttp_uri *u = evhttp_uri_parse(url);
	const char *scheme = u != NULL ? evhttp_uri_get_scheme(u) : NULL;
	const char *host = u != NULL ? evhttp_uri_get_host(u) : NULL;
	bool ok = scheme != NULL && (strcmp(scheme, "http") == 0 ||
	    strcmp(scheme, "https") == 0) &&
	    host != NULL && host[0] != '\0' &&
	    evhttp_uri_get_userinfo(u) == NULL &&
	    evhttp_uri_get_fragment(u) == NULL && strlen(url) <= 2048;

	if (u != NULL)
		evhttp_uri_free(u);
	return ok;
}

/* An optional string member (max characters); false after a 400. */
static bool
prov_body_string(struct admin_call *call, const char *field, size_t max,
    const char **out)
{
	json_t *v = json_object_get(call->body, field);

	*out = NULL;
	if (v == NULL)
		return true;
	if (!json_is_string(v) || json_string_length(v) > max) {
		admin_error(call, 400, "InvalidRequestException", field,
		    "%s must be a string of at most %zu characters", field,
		    max);
		return false;
	}
	*out = json_string_value(v);
	return true;
}

/* An optional boolean member: -1 absent, 0, 1; -2 after a 400. */
static int
prov_body_bool(struct admin_call *call, const char *field)
{
	json_t *v = json_object_get(call->body, field);

	if (v == NULL)
		return -1;
	if (!json_is_boolean(v)) {
		admin_error(call, 400, "InvalidRequestException", field,
		    "%s must be true or false", field);
		return -2;
	}
	return json_is_true(v);
}

/* preProvisioningHook {targetArn, payloadVersion}: the two strings, or
 * NULL when absent; false after a 400. */
static bool
prov_body_hook(struct admin_call *call, const char **target,
    const char **version)
{
	json_t *h = json_object_get(call->body, "preProvisioningHook");
	json_t *v;

	*target = *version = NULL;
	if (h == NULL)
		return true;
	*target = json_string_value(json_object_get(h, "targetArn"));
	v = json_object_get(h, "payloadVersion");
	*version = v != NULL ? json_string_value(v) : PROV_HOOK_VERSION;
	if (!json_is_object(h) || *target == NULL ||
	    !broker_prov_hook_url_valid(*target)) {
		admin_error(call, 400, "InvalidRequestException",
		    "preProvisioningHook.targetArn", "preProvisioningHook."
		    "targetArn must be an http(s)://host[:port]/path URL "
		    "(Strata calls an HTTP endpoint where AWS calls a Lambda "
		    "function)");
		return false;
	}
	if (*version == NULL || strcmp(*version, PROV_HOOK_VERSION) != 0) {
		admin_error(call, 400, "InvalidRequestException",
		    "preProvisioningHook.payloadVersion", "payloadVersion must "
		    "be %s", PROV_HOOK_VERSION);
		return false;
	}
	return true;
}

static bool
prov_body_role(struct admin_call *call, bool required, const char **role)
{
	if (!prov_body_string(call, "provisioningRoleArn", 2048, role))
		return false;
	if ((*role == NULL && required) ||
	    (*role != NULL && strlen(*role) < 20)) {
		admin_error(call, 400, "InvalidRequestException",
		    "provisioningRoleArn", "provisioningRoleArn is required "
		    "(20 to 2048 characters; stored, not used)");
		return false;
	}
	return true;
}

/* templateBody: required, at most 10240 characters, a valid template. */
static bool
prov_body_template(struct admin_call *call, const char **body)
{
	json_t *parsed;
	json_error_t jerr;
	char err[256];

	if (!prov_body_string(call, "templateBody", PROV_BODY_MAX, body))
		return false;
	if (*body == NULL) {
		admin_error(call, 400, "InvalidRequestException",
		    "templateBody", "templateBody is required");
		return false;
	}
	parsed = json_loads(*body, 0, &jerr);
	if (parsed == NULL) {
		admin_error(call, 400, "InvalidRequestException",
		    "templateBody", "templateBody is not JSON: %s (line %d "
		    "column %d)", jerr.text, jerr.line, jerr.column);
		return false;
	}
	if (strata_provtemplate_check(parsed, err, sizeof(err)) != 0) {
		admin_error(call, 400, "InvalidRequestException",
		    "templateBody", "templateBody: %s", err);
		json_decref(parsed);
		return false;
	}
	json_decref(parsed);
	return true;
}

/* ---- create ---- */

/* KEYS: record, set; ARGV: name, description, body, enabled, role, type,
 * hook target, hook version, now */
static const char script_create[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply("
    "  'Exists provisioning template ' .. ARGV[1] .. ' already exists') "
    "end "
    "redis.call('HSET', KEYS[1], 'name', ARGV[1], 'description', ARGV[2], "
    "  'body', ARGV[3], 'enabled', ARGV[4], 'role', ARGV[5], 'type', "
    "  ARGV[6], 'hook_target', ARGV[7], 'hook_version', ARGV[8], "
    "  'created', ARGV[9], 'modified', ARGV[9]) "
    "redis.call('SADD', KEYS[2], ARGV[1]) "
    "return 1";

static void
prov_created(struct admin_call *call, redisReply *reply)
{
	json_t *o = json_object();
	const char *name = call->state;
	char arn[400];

	(void)reply;
	broker_prov_template_arn(call->b, name, arn, sizeof(arn));
	json_object_set_new(o, "templateArn", json_string(arn));
	json_object_set_new(o, "templateName", json_string(name));
	json_object_set_new(o, "defaultVersionId", json_integer(1));
	admin_reply(call, o);
}

static void
op_create_provisioning_template(struct admin_call *call)
{
	const char *name = json_string_value(json_object_get(call->body,
	    "templateName"));
	const char *desc, *body, *role, *type, *target, *version;
	char k[BROKER_REGISTRY_KEY_MAX], now[24];
	int enabled;

	if (!prov_arg_name(call, name) ||
	    !prov_body_string(call, "description", PROV_DESC_MAX, &desc) ||
	    !prov_body_template(call, &body) ||
	    !prov_body_role(call, true, &role) ||
	    !prov_body_string(call, "type", 32, &type) ||
	    !prov_body_hook(call, &target, &version) ||
	    (enabled = prov_body_bool(call, "enabled")) == -2)
		return;
	if (type != NULL && strcmp(type, "FLEET_PROVISIONING") != 0 &&
	    strcmp(type, "JITP") != 0) {
		admin_error(call, 400, "InvalidRequestException", "type",
		    "type must be FLEET_PROVISIONING or JITP");
		return;
	}
	if (type != NULL && strcmp(type, "JITP") == 0 && target != NULL) {
		admin_error(call, 400, "InvalidRequestException",
		    "preProvisioningHook", "a JITP template has no "
		    "pre-provisioning hook (fleet provisioning's only)");
		return;
	}
	call->state = strdup(name);
	if (call->state == NULL)
		abort();
	broker_registry_key(k, "prov-template", name);
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	admin_eval(call, script_create, 2, 11, (const char *[]){k, PROV_SET,
	    name, desc != NULL ? desc : "", body, enabled == 1 ? "1" : "0",
	    role, type != NULL ? type : "FLEET_PROVISIONING",
	    target != NULL ? target : "",
	    version != NULL ? version : "", now}, prov_created);
}

/* ---- describe, list ---- */

static const char script_describe[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply("
    "  'NotFound provisioning template ' .. ARGV[1] .. ' does not exist') "
    "end "
    "return redis.call('HMGET', KEYS[1], " PROV_FIELDS ")";

/* f: the PROV_FIELDS of one record; full: Describe's answer, else a
 * list entry. */
static json_t *
prov_json(struct admin_call *call, redisReply **f, bool full)
{
	json_t *o = json_object(), *hook;
	char arn[400];

	broker_prov_template_arn(call->b, f[0]->str, arn, sizeof(arn));
	json_object_set_new(o, "templateArn", json_string(arn));
	json_object_set_new(o, "templateName", json_string(f[0]->str));
	json_object_set_new(o, "description", json_string(f[1]->str));
	json_object_set_new(o, "creationDate",
	    json_integer(strtoll(f[8]->str, NULL, 10)));
	json_object_set_new(o, "lastModifiedDate",
	    json_integer(strtoll(f[9]->str, NULL, 10)));
	json_object_set_new(o, "enabled", json_boolean(strcmp(f[3]->str,
	    "1") == 0));
	json_object_set_new(o, "type", json_string(f[5]->str));
	if (!full)
		return o;
	json_object_set_new(o, "defaultVersionId", json_integer(1));
	json_object_set_new(o, "templateBody", json_string(f[2]->str));
	json_object_set_new(o, "provisioningRoleArn", json_string(f[4]->str));
	if (f[6]->str[0] != '\0') {
		hook = json_pack("{s:s, s:s}", "targetArn", f[6]->str,
		    "payloadVersion", f[7]->str);
		json_object_set_new(o, "preProvisioningHook", hook);
	}
	return o;
}

static void
prov_described(struct admin_call *call, redisReply *reply)
{
	if (!strata_redis_is_strings(reply, PROV_NFIELDS)) {
		admin_error(call, 500, "InternalFailureException", NULL,
		    "provisioning template record is malformed");
		return;
	}
	admin_reply(call, prov_json(call, reply->element, true));
}

static void
op_describe_provisioning_template(struct admin_call *call)
{
	char k[BROKER_REGISTRY_KEY_MAX];

	if (!prov_arg_name(call, call->arg))
		return;
	broker_registry_key(k, "prov-template", call->arg);
	admin_eval(call, script_describe, 1, 2, (const char *[]){k,
	    call->arg}, prov_described);
}

static const char script_list[] =
    "local out = {} "
    "local names = redis.call('SMEMBERS', KEYS[1]) table.sort(names) "
    "for _, n in ipairs(names) do "
    "  local r = redis.call('HMGET', 'strata:prov-template:{' .. n .. "
    "    '}', " PROV_FIELDS ") "
    "  if r[1] then out[#out + 1] = r end "
    "end return out";

static void
prov_listed(struct admin_call *call, redisReply *reply)
{
	json_t *a = json_array(), *o = json_object();

	for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY &&
	     i < reply->elements; i++)
		if (strata_redis_is_strings(reply->element[i], PROV_NFIELDS))
			json_array_append_new(a, prov_json(call,
			    reply->element[i]->element, false));
	json_object_set_new(o, "templates", a);
	admin_reply(call, o);
}

static void
op_list_provisioning_templates(struct admin_call *call)
{
	admin_eval(call, script_list, 1, 1, (const char *[]){PROV_SET},
	    prov_listed);
}

/* ---- update, delete ---- */

/* KEYS: record; ARGV: name, then field/value pairs (modified last) */
static const char script_update[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply("
    "  'NotFound provisioning template ' .. ARGV[1] .. ' does not exist') "
    "end "
    "redis.call('HSET', KEYS[1], unpack(ARGV, 2)) "
    "return 1";

static void
prov_done_empty(struct admin_call *call, redisReply *reply)
{
	(void)reply;
	admin_reply(call, NULL);
}

static void
op_update_provisioning_template(struct admin_call *call)
{
	const char *desc, *role, *target, *version, *argv[ADMIN_MAX_ARGS];
	char k[BROKER_REGISTRY_KEY_MAX], now[24];
	int enabled, remove, n = 0;

	if (!prov_arg_name(call, call->arg) ||
	    !prov_body_string(call, "description", PROV_DESC_MAX, &desc) ||
	    !prov_body_role(call, false, &role) ||
	    !prov_body_hook(call, &target, &version) ||
	    (enabled = prov_body_bool(call, "enabled")) == -2 ||
	    (remove = prov_body_bool(call, "removePreProvisioningHook")) == -2)
		return;
	if (json_object_get(call->body, "templateBody") != NULL) {
		admin_error(call, 400, "InvalidRequestException",
		    "templateBody", "a template's body cannot be changed "
		    "(AWS makes a new version; Strata has none): delete and "
		    "create it");
		return;
	}
	broker_registry_key(k, "prov-template", call->arg);
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	argv[n++] = k;
	argv[n++] = call->arg;
	if (desc != NULL) {
		argv[n++] = "description";
		argv[n++] = desc;
	}
	if (enabled >= 0) {
		argv[n++] = "enabled";
		argv[n++] = enabled ? "1" : "0";
	}
	if (role != NULL) {
		argv[n++] = "role";
		argv[n++] = role;
	}
	if (target != NULL || remove == 1) {
		argv[n++] = "hook_target";
		argv[n++] = remove == 1 ? "" : target;
		argv[n++] = "hook_version";
		argv[n++] = remove == 1 ? "" : version;
	}
	argv[n++] = "modified";
	argv[n++] = now;
	admin_eval(call, script_update, 1, n, argv, prov_done_empty);
}

/* KEYS: record, set; ARGV: name */
static const char script_delete[] =
    "if redis.call('DEL', KEYS[1]) == 0 then return redis.error_reply("
    "  'NotFound provisioning template ' .. ARGV[1] .. ' does not exist') "
    "end "
    "redis.call('SREM', KEYS[2], ARGV[1]) "
    "return 1";

static void
op_delete_provisioning_template(struct admin_call *call)
{
	char k[BROKER_REGISTRY_KEY_MAX];

	if (!prov_arg_name(call, call->arg))
		return;
	broker_registry_key(k, "prov-template", call->arg);
	admin_eval(call, script_delete, 2, 3, (const char *[]){k, PROV_SET,
	    call->arg}, prov_done_empty);
}

const struct admin_route admin_prov_routes[] = {
	{EVHTTP_REQ_POST, "provisioning-templates",
	    "CreateProvisioningTemplate", "iot:CreateProvisioningTemplate",
	    ADMIN_RES_ANY, op_create_provisioning_template},
	{EVHTTP_REQ_GET, "provisioning-templates",
	    "ListProvisioningTemplates", "iot:ListProvisioningTemplates",
	    ADMIN_RES_ANY, op_list_provisioning_templates},
	{EVHTTP_REQ_GET, "provisioning-templates/*",
	    "DescribeProvisioningTemplate",
	    "iot:DescribeProvisioningTemplate", ADMIN_RES_PROV_TEMPLATE,
	    op_describe_provisioning_template},
	{EVHTTP_REQ_PATCH, "provisioning-templates/*",
	    "UpdateProvisioningTemplate", "iot:UpdateProvisioningTemplate",
	    ADMIN_RES_PROV_TEMPLATE, op_update_provisioning_template},
	{EVHTTP_REQ_DELETE, "provisioning-templates/*",
	    "DeleteProvisioningTemplate", "iot:DeleteProvisioningTemplate",
	    ADMIN_RES_PROV_TEMPLATE, op_delete_provisioning_template},
	{0, NULL, NULL, NULL, 0, NULL},
};
