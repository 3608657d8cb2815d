/*
 * admin_detect.c - Device Defender Detect in the admin API: security
 * profiles (Create, Describe, Update, Delete, List), their targets
 * (Attach, Detach, ListTargetsForSecurityProfile,
 * ListSecurityProfilesForTarget), mitigation actions (Create, Describe,
 * List, Delete), and the violations the brokers found
 * (ListActiveViolations, ListViolationEvents).  The evaluation is
 * detect.c's; docs/internals/detect.md has the shapes, the keys and
 * every difference from AWS.
 *
 * A profile's life:
 *
 *   CreateSecurityProfile -> version 1, no target: nothing evaluated
 *   AttachSecurityProfile (a thing group, or all things) -> its
 *     behaviours are evaluated for the things targeted
 *   UpdateSecurityProfile [expectedVersion] -> version + 1
 *   DetachSecurityProfile -> no longer evaluated for that target
 *   DeleteSecurityProfile [expectedVersion] -> its targets and its
 *     active violations go (things it quarantined leave the group)
 *
 * Behaviours are checked by common/behavior.c, which also writes the
 * evaluation form kept beside them (field eval).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "behavior.h"
#include "uuid.h"

#define DETECT_EVENTS_PAGE 250

/* ---- security profiles ---- */

static bool
detect_profile_key(struct admin_call *call, char *key, size_t len)
{
	if (!admin_arg_name(call, "securityProfileName"))
		return false;
	snprintf(key, len, "strata:dd-profile:{%s}", call->arg);
	return true;
}

/* A JSON member of the body into fields[name] as text ("" for null). */
static void
detect_field_json(json_t *fields, const char *name, json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	if (text == NULL)
		abort();
	json_object_set_new(fields, name, json_string(text));
	free(text);
}

/* mitigationActions (Strata's): a list of at most 10 action names. */
static bool
detect_mitigations_valid(struct admin_call *call, json_t *list)
{
	json_t *v;
	size_t i;

	if (!json_is_array(list) || json_array_size(list) > 10)
		goto bad;
	json_array_foreach(list, i, v)
		if (!json_is_string(v) ||
		    !broker_registry_name_valid(json_string_value(v)))
			goto bad;
	return true;
bad:
	admin_error(call, 400, "InvalidRequestException", "mitigationActions",
	    "mitigationActions must be a list of at most 10 mitigation "
	    "action names");
	return false;
}

/* The fields a Create or Update body sets, as {field: text}; NULL after
 * a 400.  deleteBehaviors and the like (Update) empty their field. */
static json_t *
detect_profile_fields(struct admin_call *call)
{
	json_t *body = call->body, *fields = json_object(), *v, *eval;
	const char *desc;
	char err[256];

	if (body != NULL && !json_is_object(body)) {
		admin_error(call, 400, "InvalidRequestException", NULL,
		    "the body must be a JSON object");
		goto fail;
	}
	if (!admin_body_string(call, body, "securityProfileDescription",
	    &desc))
		goto fail;
	if (desc != NULL && strlen(desc) > 1000) {
		admin_error(call, 400, "InvalidRequestException",
		    "securityProfileDescription", "securityProfileDescription "
		    "is at most 1000 characters");
		goto fail;
	}
	if (desc != NULL)
		json_object_set_new(fields, "description", json_string(desc));
	if ((v = json_object_get(body, "behaviors")) != NULL) {
		if (strata_behaviors_check(v, call->b->cfg.defender_min_duration,
		    &eval, err, sizeof(err)) != 0) {
			admin_error(call, 400, "InvalidRequestException",
			    "behaviors", "%s", err);
			goto fail;
		}
		detect_field_json(fields, "behaviors", v);
		detect_field_json(fields, "eval", eval);
		json_decref(eval);
	}
	if (json_is_true(json_object_get(body, "deleteBehaviors"))) {
		json_object_set_new(fields, "behaviors", json_string("[]"));
		json_object_set_new(fields, "eval", json_string("[]"));
	}
	if ((v = json_object_get(body, "alertTargets")) != NULL)
		detect_field_json(fields, "alertTargets", v);
	if (json_is_true(json_object_get(body, "deleteAlertTargets")))
		json_object_set_new(fields, "alertTargets", json_string(""));
	if ((v = json_object_get(body, "additionalMetricsToRetainV2")) != NULL)
		detect_field_json(fields, "metrics", v);
	if (json_is_true(json_object_get(body,
	    "deleteAdditionalMetricsToRetain")))
		json_object_set_new(fields, "metrics", json_string(""));
	if ((v = json_object_get(body, "mitigationActions")) != NULL) {
		if (!detect_mitigations_valid(call, v))
			goto fail;
		detect_field_json(fields, "mitigations", v);
	}
	return fields;
fail:
	json_decref(fields);
	return NULL;
}

static json_t *
detect_json_field(const redisReply *r, const char *name)
{
	const char *v = admin_field(r, name);

	return v != NULL && v[0] != '\0' ? json_loads(v, JSON_DECODE_ANY,
	    NULL) : NULL;
}

/* DescribeSecurityProfile's answer of a profile's HGETALL. */
static json_t *
detect_profile_json(struct admin_call *call, const redisReply *r)
{
	const char *name = admin_field(r, "name");
	json_t *o = json_object(), *v;
	char arn[400];

	name = name != NULL ? name : "";
	admin_iot_arn(call, arn, sizeof(arn), "securityprofile", name);
	json_object_set_new(o, "securityProfileName", json_string(name));
	json_object_set_new(o, "securityProfileArn", json_string(arn));
	if ((v = json_string(admin_field(r, "description"))) != NULL)
		json_object_set_new(o, "securityProfileDescription", v);
	json_object_set_new(o, "behaviors", (v = detect_json_field(r,
	    "behaviors")) != NULL ? v : json_array());
	if ((v = detect_json_field(r, "alertTargets")) != NULL)
		json_object_set_new(o, "alertTargets", v);
	if ((v = detect_json_field(r, "metrics")) != NULL)
		json_object_set_new(o, "additionalMetricsToRetainV2", v);
	json_object_set_new(o, "mitigationActions", (v = detect_json_field(r,
	    "mitigations")) != NULL ? v : json_array());
	json_object_set_new(o, "version", json_integer(strtoll(
	    admin_field(r, "version") ? admin_field(r, "version") : "0",
	    NULL, 10)));
	json_object_set_new(o, "creationDate", json_integer(strtoll(
	    admin_field(r, "created") ? admin_field(r, "created") : "0",
	    NULL, 10)));
	json_object_set_new(o, "lastModifiedDate", json_integer(strtoll(
	    admin_field(r, "modified") ? admin_field(r, "modified") : "0",
	    NULL, 10)));
	return o;
}

/* Mitigation actions named must exist; fields written; version moved.
 * KEYS: profile, profiles; ARGV: name, fields (JSON {field: text}), now,
 * create 1 / update 0, expectedVersion or "". */
static const char script_put_profile[] =
    "local f = cjson.decode(ARGV[2]) "
    "local cur = redis.call('HGET', KEYS[1], 'version') "
    "if ARGV[4] == '1' and cur then return redis.error_reply('Exists "
    "security profile ' .. ARGV[1] .. ' already exists') end "
    "if ARGV[4] == '0' and not cur then return redis.error_reply("
    "  'NotFound security profile ' .. ARGV[1] .. ' does not exist') end "
    "if ARGV[5] ~= '' and cur ~= ARGV[5] then return redis.error_reply("
    "  'VersionConflict security profile ' .. ARGV[1] .. ' is at version "
    "' .. tostring(cur)) end "
    "if f.mitigations then "
    "  for _, m in ipairs(cjson.decode(f.mitigations)) do "
    "    if redis.call('EXISTS', 'strata:dd-action:{' .. m .. '}') == 0 "
    "    then return redis.error_reply('Invalid mitigation action ' .. m "
    "      .. ' does not exist') end end end "
    "for k, v in pairs(f) do redis.call('HSET', KEYS[1], k, v) end "
    "if ARGV[4] == '1' then "
    "  redis.call('HSET', KEYS[1], 'name', ARGV[1], 'created', ARGV[3], "
    "    'version', 1) "
    "  redis.call('SADD', KEYS[2], ARGV[1]) "
    "else redis.call('HINCRBY', KEYS[1], 'version', 1) end "
    "redis.call('HSET', KEYS[1], 'modified', ARGV[3]) "
    "return redis.call('HGETALL', KEYS[1])";

static void
detect_profile_created(struct admin_call *call, redisReply *reply)
{
	json_t *o = json_object();
	char arn[400];

	(void)reply;
	admin_iot_arn(call, arn, sizeof(arn), "securityprofile", call->arg);
	json_object_set_new(o, "securityProfileName", json_string(call->arg));
	json_object_set_new(o, "securityProfileArn", json_string(arn));
	admin_reply(call, o);
}

static void
detect_profile_described(struct admin_call *call, redisReply *reply)
{
	admin_reply(call, detect_profile_json(call, reply));
}

/* The expectedVersion query parameter: "" when absent; false after a
 * 400. */
static bool
detect_expected_version(struct admin_call *call, const char **out)
{
	const char *v = admin_query(call, "expectedVersion");
	char *end;

	*out = "";
	if (v == NULL)
		return true;
	if (*v == '\0' || strtoll(v, &end, 10) < 1 || *end != '\0') {
		admin_error(call, 400, "InvalidRequestException",
		    "expectedVersion", "expectedVersion must be a positive "
		    "whole number");
		return false;
	}
	*out = v;
	return true;
}

static void
detect_put_profile(struct admin_call *call, bool create)
{
	char key[ADMIN_MAX_NAME + 32], now[24], *text;
	const char *expected;
	json_t *fields;

	if (!detect_profile_key(call, key, sizeof(key)) ||
	    !detect_expected_version(call, &expected) ||
	    (fields = detect_profile_fields(call)) == NULL)
		return;
	if (create && json_object_get(fields, "behaviors") == NULL) {
		json_object_set_new(fields, "behaviors", json_string("[]"));
		json_object_set_new(fields, "eval", json_string("[]"));
	}
	text = json_dumps(fields, JSON_COMPACT);
	json_decref(fields);
	if (text == NULL)
		abort();
	admin_now(now);
	admin_eval(call, script_put_profile, 2, 7, (const char *[]){key,
	    "strata:dd-profiles", call->arg, text, now, create ? "1" : "0",
	    expected}, create ? detect_profile_created :
	    detect_profile_described);
	free(text);
}

static void
op_create_profile(struct admin_call *call)
{
	detect_put_profile(call, true);
}

static void
op_update_profile(struct admin_call *call)
{
	detect_put_profile(call, false);
}

static void
op_describe_profile(struct admin_call *call)
{
	char key[ADMIN_MAX_NAME + 32];

	if (!detect_profile_key(call, key, sizeof(key)))
		return;
	admin_describe_hash(call, key, "security profile",
	    detect_profile_described);
}

/* The profile and its targets go; its active violations are invalidated
 * by the evaluation (detect.c's tick), which lets things they
 * quarantined out.  KEYS: profile, profiles; ARGV: name, expectedVersion
 * or "". */
static const char script_delete_profile[] =
    "local p = ARGV[1] "
    "local cur = redis.call('HGET', KEYS[1], 'version') "
    "if not cur then return 'OK' end "
    "if ARGV[2] ~= '' and cur ~= ARGV[2] then return redis.error_reply("
    "  'VersionConflict security profile ' .. p .. ' is at version ' .. "
    "  cur) end "
    "local tk = 'strata:dd-profile-targets:{' .. p .. '}' "
    "for _, t in ipairs(redis.call('SMEMBERS', tk)) do "
    "  redis.call('SREM', 'strata:dd-target-profiles:{' .. t .. '}', p) "
    "end "
    "redis.call('DEL', tk, KEYS[1]) "
    "redis.call('SREM', KEYS[2], p) "
    "redis.call('SREM', 'strata:dd-attached', p) "
    "return 'OK'";

static void
op_delete_profile(struct admin_call *call)
{
	char key[ADMIN_MAX_NAME + 32];
	const char *expected;

	if (!detect_profile_key(call, key, sizeof(key)) ||
	    !detect_expected_version(call, &expected))
		return;
	admin_eval(call, script_delete_profile, 2, 4, (const char *[]){key,
	    "strata:dd-profiles", call->arg, expected}, admin_done_empty);
}

static int
detect_name_cmp(const void *a, const void *b)
{
	return strcmp(json_string_value(json_object_get(*(json_t *const *)a,
	    "name")), json_string_value(json_object_get(*(json_t *const *)b,
	    "name")));
}

/* items (a new array of objects with "name") sorted by name, paged into
 * member of the answer; drop: "name" was the sort key only (not in AWS's
 * shape) and goes. */
static void
detect_reply_page(struct admin_call *call, json_t *items, const char *member,
    bool drop)
{
	size_t n = json_array_size(items);
	json_t **v = calloc(n + 1, sizeof(*v)), *sorted = json_array();
	json_t *o = json_object();

	if (v == NULL)
		abort();
	for (size_t i = 0; i < n; i++)
		v[i] = json_array_get(items, i);
	qsort(v, n, sizeof(*v), detect_name_cmp);
	for (size_t i = 0; i < n; i++)
		json_array_append(sorted, v[i]);
	free(v);
	json_decref(items);
	if (admin_page(call, sorted, "name", member, o) == 0) {
		json_t *e;
		size_t i;

		json_array_foreach(json_object_get(o, member), i, e)
			if (drop)
				json_object_del(e, "name");
		admin_reply(call, o);
	} else
		json_decref(o);
	json_decref(sorted);
}

static const char script_list_names[] =
    "return redis.call('SMEMBERS', KEYS[1])";

static void
detect_profiles_listed(struct admin_call *call, redisReply *reply)
{
	json_t *items = json_array();
	char arn[400];

	for (size_t i = 0; i < reply->elements; i++) {
		const char *n = reply->element[i]->str;

		admin_iot_arn(call, arn, sizeof(arn), "securityprofile", n);
		json_array_append_new(items, json_pack("{ssss}", "name", n,
		    "arn", arn));
	}
	detect_reply_page(call, items, "securityProfileIdentifiers", false);
}

static void
op_list_profiles(struct admin_call *call)
{
	if (!admin_page_valid(call))
		return;
	admin_eval(call, script_list_names, 1, 1,
	    (const char *[]){"strata:dd-profiles"}, detect_profiles_listed);
}

/* ValidateSecurityProfileBehaviors: the check of Create, answered. */
static void
op_validate_behaviors(struct admin_call *call)
{
	json_t *b = call->body != NULL ? json_object_get(call->body,
	    "behaviors") : NULL, *eval, *o = json_object(), *errs = json_array();
	char err[256];

	if (b == NULL) {
		admin_error(call, 400, "InvalidRequestException", "behaviors",
		    "behaviors is required");
		json_decref(o);
		json_decref(errs);
		return;
	}
	if (strata_behaviors_check(b, call->b->cfg.defender_min_duration,
	    &eval, err, sizeof(err)) == 0)
		json_decref(eval);
	else
		json_array_append_new(errs, json_pack("{ss}", "errorMessage",
		    err));
	json_object_set_new(o, "valid", json_boolean(json_array_size(errs) ==
	    0));
	json_object_set_new(o, "validationErrors", errs);
	admin_reply(call, o);
}

/* ---- targets ---- */

/* The stored form of a target ARN: "all" for every thing, "group:<name>"
 * for a thing group; false after a 400. */
static bool
detect_target(struct admin_call *call, char out[ADMIN_MAX_NAME + 16])
{
	const char *arn = admin_query(call, "securityProfileTargetArn");
	char all[200], group[ADMIN_MAX_NAME + 1];

	if (arn == NULL) {
		admin_error(call, 400, "InvalidRequestException",
		    "securityProfileTargetArn", "securityProfileTargetArn is "
		    "required");
		return false;
	}
	admin_iot_arn(call, all, sizeof(all), "all", "things");
	if (strcmp(arn, all) == 0) {
		strcpy(out, "all");
		return true;
	}
	admin_iot_arn(call, all, sizeof(all), "all", "registered-things");
	if (strcmp(arn, all) == 0) {
		strcpy(out, "all");
		return true;
	}
	if (admin_group_arn_name(call, arn, group)) {
		snprintf(out, ADMIN_MAX_NAME + 16, "group:%s", group);
		return true;
	}
	admin_error(call, 400, "InvalidRequestException",
	    "securityProfileTargetArn", "securityProfileTargetArn must be a "
	    "thing group ARN or %s of this registry (unregistered things have "
	    "no thing to evaluate)", all);
	return false;
}

/* The ARN of a stored target. */
static void
detect_target_arn(struct admin_call *call, const char *t, char *out,
    size_t len)
{
	if (strncmp(t, "group:", 6) == 0)
		admin_iot_arn(call, out, len, "thinggroup", t + 6);
	else
		admin_iot_arn(call, out, len, "all", "things");
}

/* KEYS: profile; ARGV: name, target, attach 1 / detach 0. */
static const char script_target[] =
    "local p, t = ARGV[1], ARGV[2] "
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply("
    "  'NotFound security profile ' .. p .. ' does not exist') end "
    "local g = string.match(t, '^group:(.*)$') "
    "if ARGV[3] == '1' and g and redis.call('EXISTS', "
    "    'strata:thing-group:{' .. g .. '}') == 0 then "
    "  return redis.error_reply('NotFound thing group ' .. g .. "
    "    ' does not exist') end "
    "local tk = 'strata:dd-profile-targets:{' .. p .. '}' "
    "if ARGV[3] == '1' then "
    "  redis.call('SADD', tk, t) "
    "  redis.call('SADD', 'strata:dd-target-profiles:{' .. t .. '}', p) "
    "  redis.call('SADD', 'strata:dd-attached', p) "
    "  redis.call('PUBLISH', 'strata:detect', 'attached ' .. p) "
    "else "
    "  redis.call('SREM', tk, t) "
    "  redis.call('SREM', 'strata:dd-target-profiles:{' .. t .. '}', p) "
    "  if redis.call('SCARD', tk) == 0 then "
    "    redis.call('SREM', 'strata:dd-attached', p) end "
    "end "
    "return 'OK'";

static void
detect_attach(struct admin_call *call, bool attach)
{
	char key[ADMIN_MAX_NAME + 32], target[ADMIN_MAX_NAME + 16];

	if (!detect_profile_key(call, key, sizeof(key)) ||
	    !detect_target(call, target))
		return;
	admin_eval(call, script_target, 1, 4, (const char *[]){key, call->arg,
	    target, attach ? "1" : "0"}, admin_done_empty);
}

static void
op_attach_profile(struct admin_call *call)
{
	detect_attach(call, true);
}

static void
op_detach_profile(struct admin_call *call)
{
	detect_attach(call, false);
}

static const char script_profile_targets[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply("
    "  'NotFound security profile ' .. ARGV[1] .. ' does not exist') end "
    "return redis.call('SMEMBERS', KEYS[2])";

static void
detect_targets_listed(struct admin_call *call, redisReply *reply)
{
	json_t *items = json_array();
	char arn[400];

	for (size_t i = 0; i < reply->elements; i++) {
		detect_target_arn(call, reply->element[i]->str, arn,
		    sizeof(arn));
		json_array_append_new(items, json_pack("{ssss}", "name", arn,
		    "arn", arn));
	}
	detect_reply_page(call, items, "securityProfileTargets",
	    true);
}

static void
op_list_targets(struct admin_call *call)
{
	char key[ADMIN_MAX_NAME + 32], tkey[ADMIN_MAX_NAME + 40];

	if (!detect_profile_key(call, key, sizeof(key)) ||
	    !admin_page_valid(call))
		return;
	snprintf(tkey, sizeof(tkey), "strata:dd-profile-targets:{%s}",
	    call->arg);
	admin_eval(call, script_profile_targets, 2, 3, (const char *[]){key,
	    tkey, call->arg}, detect_targets_listed);
}

static void
detect_profiles_for_target(struct admin_call *call, redisReply *reply)
{
	json_t *items = json_array();
	char arn[400], tarn[400];

	snprintf(tarn, sizeof(tarn), "%s",
	    admin_query(call, "securityProfileTargetArn"));
	for (size_t i = 0; i < reply->elements; i++) {
		const char *n = reply->element[i]->str;

		admin_iot_arn(call, arn, sizeof(arn), "securityprofile", n);
		json_array_append_new(items, json_pack(
		    "{sss{ssss}s{ss}}", "name", n,
		    "securityProfileIdentifier", "name", n, "arn", arn,
		    "target", "arn", tarn));
	}
	detect_reply_page(call, items, "securityProfileTargetMappings",
	    true);
}

static void
op_profiles_for_target(struct admin_call *call)
{
	char target[ADMIN_MAX_NAME + 16], key[ADMIN_MAX_NAME + 48];

	if (!detect_target(call, target) || !admin_page_valid(call))
		return;
	snprintf(key, sizeof(key), "strata:dd-target-profiles:{%s}", target);
	admin_eval(call, script_list_names, 1, 1, (const char *[]){key},
	    detect_profiles_for_target);
}

/* ---- mitigation actions ---- */

/* The action's type from its actionParams (exactly one member); NULL
 * after a 400. */
static const char *
detect_action_type(struct admin_call *call, json_t *params)
{
	json_t *v;

	if (!json_is_object(params) || json_object_size(params) != 1)
		goto bad;
	if ((v = json_object_get(params, "addThingsToThingGroupParams"))) {
		json_t *names = json_object_get(v, "thingGroupNames"), *g;
		size_t i;

		if (!json_is_array(names) || json_array_size(names) < 1 ||
		    json_array_size(names) > 10)
			goto bad_groups;
		json_array_foreach(names, i, g)
			if (!json_is_string(g) || !broker_registry_name_valid(
			    json_string_value(g)))
				goto bad_groups;
		return "ADD_THINGS_TO_THING_GROUP";
	}
	if ((v = json_object_get(params, "updateDeviceCertificateParams"))) {
		if (!json_is_string(json_object_get(v, "action")) || strcmp(
		    json_string_value(json_object_get(v, "action")),
		    "DEACTIVATE") != 0) {
			admin_error(call, 400, "InvalidRequestException",
			    "actionParams", "updateDeviceCertificateParams."
			    "action must be DEACTIVATE");
			return NULL;
		}
		return "UPDATE_DEVICE_CERTIFICATE";
	}
	if ((v = json_object_get(params, "publishToTopicParams"))) {
		const char *t = json_string_value(json_object_get(v, "topic"));

		if (t == NULL || t[0] == '\0' || strlen(t) > 256 ||
		    strpbrk(t, "+#") != NULL) {
			admin_error(call, 400, "InvalidRequestException",
			    "actionParams", "publishToTopicParams.topic must be "
			    "a topic name (no wildcard, at most 256 "
			    "characters)");
			return NULL;
		}
		return "PUBLISH_TO_TOPIC";
	}
bad:
	admin_error(call, 400, "InvalidRequestException", "actionParams",
	    "actionParams must hold one of addThingsToThingGroupParams, "
	    "updateDeviceCertificateParams or publishToTopicParams (the "
	    "actions Strata applies)");
	return NULL;
bad_groups:
	admin_error(call, 400, "InvalidRequestException", "actionParams",
	    "addThingsToThingGroupParams.thingGroupNames must be a list of 1 "
	    "to 10 thing group names");
	return NULL;
}

/* Create (ARGV[8] "1") or update ("0"; an empty type, roleArn or params
 * keeps the stored one).  KEYS: action, actions; ARGV: name, id, type,
 * roleArn, params, now, groups (JSON list, checked to exist and be
 * static), create.  The action's id. */
static const char script_put_action[] =
    "local exists = redis.call('EXISTS', KEYS[1]) == 1 "
    "if ARGV[8] == '1' and exists then return redis.error_reply("
    "  'Exists mitigation action ' .. ARGV[1] .. ' already exists') end "
    "if ARGV[8] == '0' and not exists then return redis.error_reply("
    "  'NotFound mitigation action ' .. ARGV[1] .. ' does not exist') end "
    "for _, g in ipairs(cjson.decode(ARGV[7])) do "
    "  local h = redis.call('HMGET', 'strata:thing-group:{' .. g .. '}', "
    "    'name', 'dynamic') "
    "  if not h[1] then return redis.error_reply('Invalid thing group ' .. "
    "    g .. ' does not exist') end "
    "  if h[2] == '1' then return redis.error_reply('Invalid thing group ' "
    "    .. g .. ' is dynamic: its query decides its things') end end "
    "if ARGV[8] == '1' then "
    "  redis.call('HSET', KEYS[1], 'name', ARGV[1], 'id', ARGV[2], "
    "    'created', ARGV[6]) "
    "  redis.call('SADD', KEYS[2], ARGV[1]) end "
    "for i, f in ipairs({'type', 'roleArn', 'params'}) do "
    "  if ARGV[2 + i] ~= '' then "
    "    redis.call('HSET', KEYS[1], f, ARGV[2 + i]) end end "
    "redis.call('HSET', KEYS[1], 'modified', ARGV[6]) "
    "return redis.call('HGET', KEYS[1], 'id')";

static void
detect_action_created(struct admin_call *call, redisReply *reply)
{
	json_t *o = json_object();
	char arn[400];

	admin_iot_arn(call, arn, sizeof(arn), "mitigationaction", call->arg);
	json_object_set_new(o, "actionArn", json_string(arn));
	json_object_set_new(o, "actionId", json_string(reply->str));
	admin_reply(call, o);
}

/* CreateMitigationAction (create) and UpdateMitigationAction, whose
 * roleArn and actionParams are each optional. */
static void
detect_put_action(struct admin_call *call, bool create)
{
	json_t *params = call->body != NULL ?
	    json_object_get(call->body, "actionParams") : NULL, *groups;
	const char *type = "", *role;
	char key[ADMIN_MAX_NAME + 32], now[24], id[40], *ptext, *gtext;

	if (!admin_arg_name(call, "actionName") ||
	    !admin_body_string(call, call->body, "roleArn", &role))
		return;
	if (role == NULL && create) {
		admin_error(call, 400, "InvalidRequestException", "roleArn",
		    "roleArn is required");
		return;
	}
	if ((params != NULL || create) &&
	    (type = detect_action_type(call, params)) == NULL)
		return;
	groups = json_object_get(json_object_get(params,
	    "addThingsToThingGroupParams"), "thingGroupNames");
	ptext = params != NULL ? json_dumps(params, JSON_COMPACT) : strdup("");
	gtext = groups != NULL ? json_dumps(groups, JSON_COMPACT |
	    JSON_ENCODE_ANY) : strdup("[]");
	if (ptext == NULL || gtext == NULL)
		abort();
	snprintf(key, sizeof(key), "strata:dd-action:{%s}", call->arg);
	strata_uuid4(id);
	admin_now(now);
	admin_eval(call, script_put_action, 2, 10, (const char *[]){key,
	    "strata:dd-actions", call->arg, id, type, role != NULL ? role : "",
	    ptext, now, gtext, create ? "1" : "0"}, detect_action_created);
	free(ptext);
	free(gtext);
}

static void
op_create_action(struct admin_call *call)
{
	detect_put_action(call, true);
}

static void
op_update_action(struct admin_call *call)
{
	detect_put_action(call, false);
}

static json_t *
detect_action_json(struct admin_call *call, const redisReply *r, bool full)
{
	const char *name = admin_field(r, "name");
	json_t *o = json_object();
	char arn[400];

	name = name != NULL ? name : "";
	admin_iot_arn(call, arn, sizeof(arn), "mitigationaction", name);
	json_object_set_new(o, "actionName", json_string(name));
	json_object_set_new(o, "actionArn", json_string(arn));
	json_object_set_new(o, "creationDate", json_integer(strtoll(
	    admin_field(r, "created") ? admin_field(r, "created") : "0",
	    NULL, 10)));
	if (!full)
		return o;
	json_object_set_new(o, "actionType", json_string(admin_field(r,
	    "type") ? admin_field(r, "type") : ""));
	json_object_set_new(o, "actionId", json_string(admin_field(r, "id") ?
	    admin_field(r, "id") : ""));
	json_object_set_new(o, "roleArn", json_string(admin_field(r,
	    "roleArn") ? admin_field(r, "roleArn") : ""));
	json_object_set_new(o, "actionParams", detect_json_field(r,
	    "params"));
	json_object_set_new(o, "lastModifiedDate", json_integer(strtoll(
	    admin_field(r, "modified") ? admin_field(r, "modified") : "0",
	    NULL, 10)));
	return o;
}

static void
detect_action_described(struct admin_call *call, redisReply *reply)
{
	admin_reply(call, detect_action_json(call, reply, true));
}

static void
op_describe_action(struct admin_call *call)
{
	char key[ADMIN_MAX_NAME + 32];

	if (!admin_arg_name(call, "actionName"))
		return;
	snprintf(key, sizeof(key), "strata:dd-action:{%s}", call->arg);
	admin_describe_hash(call, key, "mitigation action",
	    detect_action_described);
}

static const char script_delete_action[] =
    "redis.call('DEL', KEYS[1]) redis.call('SREM', KEYS[2], ARGV[1]) "
    "return 'OK'";

static void
op_delete_action(struct admin_call *call)
{
	char key[ADMIN_MAX_NAME + 32];

	if (!admin_arg_name(call, "actionName"))
		return;
	snprintf(key, sizeof(key), "strata:dd-action:{%s}", call->arg);
	admin_eval(call, script_delete_action, 2, 3, (const char *[]){key,
	    "strata:dd-actions", call->arg}, admin_done_empty);
}

static const char script_list_actions[] =
    "local out = {} "
    "for _, n in ipairs(redis.call('SMEMBERS', KEYS[1])) do "
    "  local t = redis.call('HGETALL', 'strata:dd-action:{' .. n .. '}') "
    "  if #t > 0 then out[#out + 1] = t end end "
    "return out";

static void
detect_actions_listed(struct admin_call *call, redisReply *reply)
{
	const char *type = admin_query(call, "actionType");
	json_t *items = json_array();

	for (size_t i = 0; i < reply->elements; i++) {
		const redisReply *r = reply->element[i];
		const char *t = admin_field(r, "type");
		json_t *o;

		if (type != NULL && (t == NULL || strcmp(t, type) != 0))
			continue;
		o = detect_action_json(call, r, false);
		json_object_set(o, "name", json_object_get(o, "actionName"));
		json_array_append_new(items, o);
	}
	detect_reply_page(call, items, "actionIdentifiers",
	    true);
}

static void
op_list_actions(struct admin_call *call)
{
	if (!admin_page_valid(call))
		return;
	admin_eval(call, script_list_actions, 1, 1,
	    (const char *[]){"strata:dd-actions"}, detect_actions_listed);
}

/* ---- violations ---- */

/* Does violation v pass the query's filters? */
static bool
detect_violation_wanted(struct admin_call *call, const json_t *v)
{
	const char *thing = admin_query(call, "thingName");
	const char *prof = admin_query(call, "securityProfileName");
	const char *type = admin_query(call, "behaviorCriteriaType");
	const char *sup = admin_query(call, "listSuppressedAlerts");
	const json_t *b = json_object_get(v, "behavior");

	if (thing != NULL && strcmp(thing, json_string_value(json_object_get(
	    v, "thingName")) ? json_string_value(json_object_get(v,
	    "thingName")) : "") != 0)
		return false;
	if (prof != NULL && strcmp(prof, json_string_value(json_object_get(v,
	    "securityProfileName")) ? json_string_value(json_object_get(v,
	    "securityProfileName")) : "") != 0)
		return false;
	if (type != NULL && strcmp(type, "STATIC") != 0)
		return false;  /* Strata's behaviours are all STATIC */
	if (sup != NULL && strcmp(sup, "false") == 0 &&
	    json_is_true(json_object_get(b, "suppressAlerts")))
		return false;
	return true;
}

/* One page of the JSON texts of reply (from offset nextToken), filtered,
 * into member.  Tokens are the number of entries already passed. */
static void
detect_violations_page(struct admin_call *call, const redisReply *reply,
    const char *member)
{
	const char *token = admin_query(call, "nextToken");
	const char *max = admin_query(call, "maxResults");
	long limit = max != NULL ? strtol(max, NULL, 10) : DETECT_EVENTS_PAGE;
	long skip = token != NULL ? strtol(token, NULL, 10) : 0, n = 0;
	json_t *list = json_array(), *o = json_object();
	size_t i;

	for (i = 0; i < reply->elements; i++) {
		json_t *v = json_loads(reply->element[i]->str, 0, NULL);

		if (v == NULL || !detect_violation_wanted(call, v)) {
			json_decref(v);
			continue;
		}
		if (skip > 0) {
			skip--;
			json_decref(v);
			continue;
		}
		if (n == limit) {
			json_decref(v);
			json_object_set_new(o, "nextToken", json_sprintf("%ld",
			    (token != NULL ? strtol(token, NULL, 10) : 0) +
			    limit));
			break;
		}
		json_array_append_new(list, v);
		n++;
	}
	json_object_set_new(o, member, list);
	admin_reply(call, o);
}

static bool
detect_token_valid(struct admin_call *call)
{
	const char *token = admin_query(call, "nextToken");
	char *end;

	if (!admin_page_valid(call))
		return false;
	if (token != NULL && (*token == '\0' || strtol(token, &end, 10) < 0 ||
	    *end != '\0')) {
		admin_error(call, 400, "InvalidRequestException", "nextToken",
		    "nextToken is not one this API gave");
		return false;
	}
	return true;
}

/* Active violations ordered by start time (their ids begin with it). */
static const char script_active[] =
    "local v = redis.call('HVALS', KEYS[1]) "
    "local ids = {} "
    "for i, j in ipairs(v) do ids[i] = {cjson.decode(j).violationStartTime, "
    "  cjson.decode(j).violationId, j} end "
    "table.sort(ids, function(a, b) if a[1] ~= b[1] then return a[1] < b[1] "
    "  end return a[2] < b[2] end) "
    "local out = {} "
    "for i, e in ipairs(ids) do out[i] = e[3] end "
    "return out";

static void
detect_active_listed(struct admin_call *call, redisReply *reply)
{
	detect_violations_page(call, reply, "activeViolations");
}

static void
op_list_active(struct admin_call *call)
{
	if (!detect_token_valid(call))
		return;
	admin_eval(call, script_active, 1, 1,
	    (const char *[]){"strata:dd-active"}, detect_active_listed);
}

static const char script_events[] =
    "return redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[2])";

static void
detect_events_listed(struct admin_call *call, redisReply *reply)
{
	detect_violations_page(call, reply, "violationEvents");
}

static void
op_list_events(struct admin_call *call)
{
	long long from = admin_time(admin_query(call, "startTime"));
	long long to = admin_time(admin_query(call, "endTime"));
	char a[32], b[32];

	if (from < 0 || to < 0) {
		admin_error(call, 400, "InvalidRequestException",
		    from < 0 ? "startTime" : "endTime", "startTime and "
		    "endTime are required: epoch seconds or ISO 8601 UTC");
		return;
	}
	if (!detect_token_valid(call))
		return;
	snprintf(a, sizeof(a), "%lld", from * 1000);
	snprintf(b, sizeof(b), "%lld", to * 1000 + 999);
	admin_eval(call, script_events, 1, 3, (const char *[]){
	    "strata:dd-events", a, b}, detect_events_listed);
}

/* ---- detect mitigation actions tasks ---- */

#define DETECT_TASK_TTL "7776000"  /* 90 days, as audit tasks */

static bool
detect_task_id_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' &&
		    s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '-' || s[i] == '_'))
			return false;
	return true;
}

static void
detect_task_started(struct admin_call *call, redisReply *reply)
{
	json_t *o = json_object();

	broker_detect_answer(call->b, reply);
	json_object_set_new(o, "taskId", json_string(call->arg));
	admin_reply(call, o);
}

/* The body's target and actions, checked; false after a 400. */
static bool
detect_task_body(struct admin_call *call, json_t **target, json_t **actions)
{
	json_t *b = call->body, *v;
	size_t i;

	*target = json_object_get(b, "target");
	*actions = json_object_get(b, "actions");
	if (!json_is_object(*target) ||
	    (!json_is_array(json_object_get(*target, "violationIds")) &&
	    !json_is_string(json_object_get(*target, "securityProfileName")))) {
		admin_error(call, 400, "InvalidRequestException", "target",
		    "target needs violationIds or securityProfileName");
		return false;
	}
	if (!json_is_array(*actions) || json_array_size(*actions) < 1 ||
	    json_array_size(*actions) > 5)
		goto bad_actions;
	json_array_foreach(*actions, i, v)
		if (!json_is_string(v) ||
		    !broker_registry_name_valid(json_string_value(v)))
			goto bad_actions;
	json_array_foreach(json_object_get(*target, "violationIds"), i, v)
		if (!json_is_string(v)) {
			admin_error(call, 400, "InvalidRequestException",
			    "target", "violationIds must be strings");
			return false;
		}
	if (json_object_get(b, "violationEventOccurrenceRange") != NULL ||
	    json_is_false(json_object_get(b, "includeOnlyActiveViolations"))) {
		admin_error(call, 400, "InvalidRequestException",
		    "includeOnlyActiveViolations", "Strata applies mitigation "
		    "actions to active violations only");
		return false;
	}
	return true;
bad_actions:
	admin_error(call, 400, "InvalidRequestException", "actions",
	    "actions must be a list of 1 to 5 mitigation action names");
	return false;
}

static void
op_start_task(struct admin_call *call)
{
	json_t *target, *actions;
	const char *prof, *beh;
	char now[24], *a, *ids, *t;

	if (!detect_task_id_valid(call->arg)) {
		admin_error(call, 400, "InvalidRequestException", "taskId",
		    "taskId must be 1 to 128 of [a-zA-Z0-9_-]");
		return;
	}
	if (!detect_task_body(call, &target, &actions))
		return;
	prof = json_string_value(json_object_get(target, "securityProfileName"));
	beh = json_string_value(json_object_get(target, "behaviorName"));
	a = json_dumps(actions, JSON_COMPACT);
	ids = json_is_array(json_object_get(target, "violationIds")) ?
	    json_dumps(json_object_get(target, "violationIds"), JSON_COMPACT) :
	    strdup("[]");
	t = json_dumps(target, JSON_COMPACT);
	if (a == NULL || ids == NULL || t == NULL)
		abort();
	snprintf(now, sizeof(now), "%llu", (unsigned long long)time(NULL) *
	    1000ull);
	admin_eval(call, broker_detect_script, 0, 9, (const char *[]){"task",
	    now, call->arg, a, prof != NULL ? prof : "", beh != NULL ? beh : "",
	    ids, DETECT_TASK_TTL, t}, detect_task_started);
	free(a);
	free(ids);
	free(t);
}

/* KEYS: task; ARGV: taskId.  The task's fields, then each action's. */
static const char script_describe_task[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply("
    "  'NotFound task ' .. ARGV[1] .. ' does not exist') end "
    "local out = {redis.call('HGETALL', KEYS[1])} "
    "for _, n in ipairs(cjson.decode(redis.call('HGET', KEYS[1], "
    "    'actions'))) do "
    "  out[#out + 1] = redis.call('HGETALL', 'strata:dd-action:{' .. n .. "
    "    '}') end "
    "return out";

static void
detect_task_described(struct admin_call *call, redisReply *reply)
{
	const redisReply *t = reply->element[0];
	json_t *s = json_object(), *defs = json_array(), *o = json_object();

	json_object_set_new(s, "taskId", json_string(call->arg));
	json_object_set_new(s, "taskStatus", json_string(admin_field(t,
	    "status")));
	json_object_set_new(s, "taskStartTime", json_real(strtod(admin_field(
	    t, "start"), NULL)));
	json_object_set_new(s, "taskEndTime", json_real(strtod(admin_field(t,
	    "end"), NULL)));
	json_object_set_new(s, "target", detect_json_field(t, "target"));
	json_object_set_new(s, "onlyActiveViolationsIncluded", json_true());
	json_object_set_new(s, "suppressedAlertsIncluded", json_true());
	for (size_t i = 1; i < reply->elements; i++) {
		const redisReply *r = reply->element[i];

		if (r->elements == 0)
			continue;  /* deleted since */
		json_array_append_new(defs, json_pack("{ssssssso*}", "name",
		    admin_field(r, "name"), "id", admin_field(r, "id"),
		    "roleArn", admin_field(r, "roleArn"), "actionParams",
		    detect_json_field(r, "params")));
	}
	json_object_set_new(s, "actionsDefinition", defs);
	json_object_set_new(s, "taskStatistics", detect_json_field(t,
	    "stats"));
	json_object_set_new(o, "taskSummary", s);
	admin_reply(call, o);
}

static void
op_describe_task(struct admin_call *call)
{
	char key[ADMIN_MAX_NAME + 32];

	if (!detect_task_id_valid(call->arg)) {
		admin_error(call, 400, "InvalidRequestException", "taskId",
		    "taskId must be 1 to 128 of [a-zA-Z0-9_-]");
		return;
	}
	snprintf(key, sizeof(key), "strata:dd-task:{%s}", call->arg);
	admin_eval(call, script_describe_task, 1, 2, (const char *[]){key,
	    call->arg}, detect_task_described);
}

static const char script_executions[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply("
    "  'NotFound task ' .. ARGV[1] .. ' does not exist') end "
    "return redis.call('LRANGE', KEYS[2], 0, -1)";

static void
detect_executions_listed(struct admin_call *call, redisReply *reply)
{
	detect_violations_page(call, reply, "actionsExecutions");
}

static void
op_list_executions(struct admin_call *call)
{
	const char *id = admin_query(call, "taskId");
	char key[ADMIN_MAX_NAME + 32], ekey[ADMIN_MAX_NAME + 40];

	if (id == NULL || !detect_task_id_valid(id)) {
		admin_error(call, 400, "InvalidRequestException", "taskId",
		    "taskId is required (1 to 128 of [a-zA-Z0-9_-])");
		return;
	}
	if (!detect_token_valid(call))
		return;
	snprintf(key, sizeof(key), "strata:dd-task:{%s}", id);
	snprintf(ekey, sizeof(ekey), "strata:dd-task-execs:{%s}", id);
	admin_eval(call, script_executions, 2, 3, (const char *[]){key, ekey,
	    id}, detect_executions_listed);
}

const struct admin_route admin_detect_routes[] = {
	{EVHTTP_REQ_GET, "security-profiles", "ListSecurityProfiles",
	    "iot:ListSecurityProfiles", ADMIN_RES_ANY, op_list_profiles},
	{EVHTTP_REQ_POST, "security-profiles/*", "CreateSecurityProfile",
	    "iot:CreateSecurityProfile", ADMIN_RES_ANY, op_create_profile},
	{EVHTTP_REQ_GET, "security-profiles/*", "DescribeSecurityProfile",
	    "iot:DescribeSecurityProfile", ADMIN_RES_ANY,
	    op_describe_profile},
	{EVHTTP_REQ_PATCH, "security-profiles/*", "UpdateSecurityProfile",
	    "iot:UpdateSecurityProfile", ADMIN_RES_ANY, op_update_profile},
	{EVHTTP_REQ_DELETE, "security-profiles/*", "DeleteSecurityProfile",
	    "iot:DeleteSecurityProfile", ADMIN_RES_ANY, op_delete_profile},
	{EVHTTP_REQ_PUT, "security-profiles/*/targets",
	    "AttachSecurityProfile", "iot:AttachSecurityProfile",
	    ADMIN_RES_ANY, op_attach_profile},
	{EVHTTP_REQ_DELETE, "security-profiles/*/targets",
	    "DetachSecurityProfile", "iot:DetachSecurityProfile",
	    ADMIN_RES_ANY, op_detach_profile},
	{EVHTTP_REQ_GET, "security-profiles/*/targets",
	    "ListTargetsForSecurityProfile",
	    "iot:ListTargetsForSecurityProfile", ADMIN_RES_ANY,
	    op_list_targets},
	{EVHTTP_REQ_GET, "security-profiles-for-target",
	    "ListSecurityProfilesForTarget",
	    "iot:ListSecurityProfilesForTarget", ADMIN_RES_ANY,
	    op_profiles_for_target},
	{EVHTTP_REQ_GET, "active-violations", "ListActiveViolations",
	    "iot:ListActiveViolations", ADMIN_RES_ANY, op_list_active},
	{EVHTTP_REQ_GET, "violation-events", "ListViolationEvents",
	    "iot:ListViolationEvents", ADMIN_RES_ANY, op_list_events},
	{EVHTTP_REQ_GET, "mitigationactions/actions", "ListMitigationActions",
	    "iot:ListMitigationActions", ADMIN_RES_ANY, op_list_actions},
	{EVHTTP_REQ_POST, "mitigationactions/actions/*",
	    "CreateMitigationAction", "iot:CreateMitigationAction",
	    ADMIN_RES_ANY, op_create_action},
	{EVHTTP_REQ_PATCH, "mitigationactions/actions/*",
	    "UpdateMitigationAction", "iot:UpdateMitigationAction",
	    ADMIN_RES_ANY, op_update_action},
	{EVHTTP_REQ_POST, "security-profile-behaviors/validate",
	    "ValidateSecurityProfileBehaviors",
	    "iot:ValidateSecurityProfileBehaviors", ADMIN_RES_ANY,
	    op_validate_behaviors},
	{EVHTTP_REQ_GET, "mitigationactions/actions/*",
	    "DescribeMitigationAction", "iot:DescribeMitigationAction",
	    ADMIN_RES_ANY, op_describe_action},
	{EVHTTP_REQ_DELETE, "mitigationactions/actions/*",
	    "DeleteMitigationAction", "iot:DeleteMitigationAction",
	    ADMIN_RES_ANY, op_delete_action},
	{EVHTTP_REQ_PUT, "detect/mitigationactions/tasks/*",
	    "StartDetectMitigationActionsTask",
	    "iot:StartDetectMitigationActionsTask", ADMIN_RES_ANY,
	    op_start_task},
	{EVHTTP_REQ_GET, "detect/mitigationactions/tasks/*",
	    "DescribeDetectMitigationActionsTask",
	    "iot:DescribeDetectMitigationActionsTask", ADMIN_RES_ANY,
	    op_describe_task},
	{EVHTTP_REQ_GET, "detect/mitigationactions/executions",
	    "ListDetectMitigationActionsExecutions",
	    "iot:ListDetectMitigationActionsExecutions", ADMIN_RES_ANY,
	    op_list_executions},
	{0, NULL, NULL, NULL, 0, NULL},
};
