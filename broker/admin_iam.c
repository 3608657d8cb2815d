/*
 * admin_iam.c - the admin API's identity operations: admin users, their
 * access keys, admin (IAM-style) policies and their attachments
 * (docs/internals/admin-authz.md has the keys and the operations table).
 *
 * As in admin_ops.c, each operation checks its input in C (400 naming
 * the field) and then runs one Lua script, so that "does it exist, how
 * many keys has it, is it attached" never races with another broker's
 * call.  Bodies and answers are IAM's (PascalCase), as `aws iam` prints
 * them.  A script answers a record or a list as JSON text (cjson) that
 * the C side reshapes; refusals are "<Kind> <message>" error replies.
 *
 * Secrets: CreateAccessKey makes the secret here, answers it once, and
 * stores only its verifier and signing key (admin_auth.c derives both).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/crypto.h>

#include "admin.h"
#include "iam_policy.h"

#define KEY_MAX BROKER_REGISTRY_KEY_MAX

/* ---- helpers ---- */

/* IAM's names: [A-Za-z0-9+=,.@_-], 1..max. */
static bool
iam_name_valid(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' &&
		    s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		    strchr("+=,.@_-", s[i]) != NULL))
			return false;
	return true;
}

static bool
iam_arg_user(struct admin_call *call)
{
	if (iam_name_valid(call->arg, 64))
		return true;
	admin_error(call, 400, "InvalidRequestException", "UserName",
	    "UserName must match [A-Za-z0-9+=,.@_-]+ (1 to 64 characters)");
	return false;
}

static bool
iam_arg_policy(struct admin_call *call, const char *name)
{
	if (iam_name_valid(name, 128))
		return true;
	admin_error(call, 400, "InvalidRequestException", "PolicyName",
	    "PolicyName must match [A-Za-z0-9+=,.@_-]+ (1 to 128 "
	    "characters)");
	return false;
}

static bool
iam_arg_key_id(struct admin_call *call)
{
	if (admin_key_id_valid(call->arg2))
		return true;
	admin_error(call, 400, "InvalidRequestException", "AccessKeyId",
	    "AccessKeyId must be 16 to 32 characters of [A-Z0-9]");
	return false;
}

void
admin_iam_arn(struct admin_call *call, char *out, size_t len,
    const char *kind, const char *name)
{
	snprintf(out, len, "arn:aws:iam::%s:%s/%s", call->b->cfg.iot_account,
	    kind, name);
}

/* Now as IAM writes dates: 2026-12-02T18:07:14Z. */
static void
iam_now(char out[24])
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 24, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* prefix and n characters of alphabet, from the kernel's random. */
static void
iam_random(char *out, const char *prefix, size_t n, const char *alphabet)
{
	unsigned char r[64];
	size_t p = strlen(prefix), a = strlen(alphabet);

	if (n > sizeof(r) || getrandom(r, n, 0) != (ssize_t)n)
		abort();
	memcpy(out, prefix, p);
	for (size_t i = 0; i < n; i++)
		out[p + i] = alphabet[r[i] % a];   /* a divides 256 */
	out[p + n] = '\0';
	OPENSSL_cleanse(r, sizeof(r));
}

static const char iam_base32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
static const char iam_base64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The script's JSON answer; NULL after a 500. */
static json_t *
iam_json(struct admin_call *call, const redisReply *reply)
{
	json_t *v = reply->type == REDIS_REPLY_STRING ?
	    json_loadb(reply->str, reply->len, 0, NULL) : NULL;

	if (v == NULL)
		admin_error(call, 500, "InternalFailureException", NULL,
		    "identity script answered no JSON");
	return v;
}

/* The script's JSON list (cjson writes an empty one as {}); NULL after a
 * 500. */
static json_t *
iam_list(struct admin_call *call, const redisReply *reply)
{
	json_t *v = iam_json(call, reply);

	if (v == NULL || json_is_array(v))
		return v;
	json_decref(v);
	return json_array();
}

static void
iam_done_empty(struct admin_call *call, redisReply *reply)
{
	admin_reply(call, NULL);
}

/* A user or policy record the script made, with its Arn, its members in
 * the order `aws iam` prints them (the record is consumed). */
static json_t *
iam_record(struct admin_call *call, json_t *rec, const char *kind,
    const char *name_field)
{
	static const char *const order[] = {"UserName", "UserId",
	    "PolicyName", "Arn", "AttachmentCount", "CreateDate",
	    "PolicyDocument"};
	const char *name = json_string_value(json_object_get(rec, name_field));
	json_t *out = json_object(), *v;
	char arn[400];

	admin_iam_arn(call, arn, sizeof(arn), kind, name != NULL ? name : "");
	json_object_set_new(rec, "Arn", json_string(arn));
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if ((v = json_object_get(rec, order[i])) != NULL)
			json_object_set(out, order[i], v);
	json_decref(rec);
	return out;
}

/* ---- users ---- */

#define IAM_USER_KEYS(k, name)                                               \
	broker_registry_key((k)[0], "admin-user", (name));                    \
	broker_registry_key((k)[1], "admin-user-keys", (name));               \
	broker_registry_key((k)[2], "admin-user-policies", (name))

/* KEYS: user, users; ARGV: name, id, now */
static const char script_create_user[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply("
    "  'Exists User with name ' .. ARGV[1] .. ' already exists.') end "
    "redis.call('HSET', KEYS[1], 'name', ARGV[1], 'id', ARGV[2], "
    "  'created', ARGV[3]) "
    "redis.call('SADD', KEYS[2], ARGV[1]) "
    "return cjson.encode({UserName = ARGV[1], UserId = ARGV[2], "
    "  CreateDate = ARGV[3]})";

static void
iam_user_answered(struct admin_call *call, redisReply *reply)
{
	json_t *rec = iam_json(call, reply);

	if (rec != NULL)
		admin_reply(call, json_pack("{s:o}", "User",
		    iam_record(call, rec, "user", "UserName")));
}

static void
op_create_admin_user(struct admin_call *call)
{
	char k[3][KEY_MAX], id[24], now[24];

	if (!iam_arg_user(call))
		return;
	IAM_USER_KEYS(k, call->arg);
	iam_random(id, "AIDA", 16, iam_base32);
	iam_now(now);
	admin_eval(call, script_create_user, 2, 5, (const char *[]){k[0],
	    "strata:admin-users", call->arg, id, now}, iam_user_answered);
}

/* KEYS: user; ARGV: name */
static const char script_get_user[] =
    "local u = redis.call('HMGET', KEYS[1], 'name', 'id', 'created') "
    "if not u[1] then return redis.error_reply('NotFound The user with "
    "  name ' .. ARGV[1] .. ' cannot be found.') end "
    "return cjson.encode({UserName = u[1], UserId = u[2], "
    "  CreateDate = u[3]})";

static void
op_get_admin_user(struct admin_call *call)
{
	char k[3][KEY_MAX];

	if (!iam_arg_user(call))
		return;
	IAM_USER_KEYS(k, call->arg);
	admin_eval(call, script_get_user, 1, 2, (const char *[]){k[0],
	    call->arg}, iam_user_answered);
}

/* KEYS: users */
static const char script_list_users[] =
    "local out = {} local names = redis.call('SMEMBERS', KEYS[1]) "
    "table.sort(names) "
    "for _, n in ipairs(names) do "
    "  local u = redis.call('HMGET', 'strata:admin-user:{' .. n .. '}', "
    "    'id', 'created') "
    "  out[#out + 1] = {UserName = n, UserId = u[1], CreateDate = u[2]} "
    "end "
    "return cjson.encode(out)";

/* A list of user or policy records, each given its Arn, answered as
 * {"<wrap>": [...]}. */
static void
iam_records_listed(struct admin_call *call, redisReply *reply,
    const char *wrap, const char *kind, const char *name_field)
{
	json_t *list = iam_list(call, reply), *rec;
	size_t i;

	if (list == NULL)
		return;
	json_array_foreach(list, i, rec)
		json_array_set_new(list, i, iam_record(call, json_incref(rec),
		    kind, name_field));
	admin_reply(call, json_pack("{s:o}", wrap, list));
}

static void
iam_users_listed(struct admin_call *call, redisReply *reply)
{
	iam_records_listed(call, reply, "Users", "user", "UserName");
}

static void
op_list_admin_users(struct admin_call *call)
{
	admin_eval(call, script_list_users, 1, 1,
	    (const char *[]){"strata:admin-users"}, iam_users_listed);
}

/* KEYS: user, user keys, user policies, users; ARGV: name */
static const char script_delete_user[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply("
    "  'NotFound The user with name ' .. ARGV[1] .. ' cannot be found.') "
    "end "
    "if redis.call('SCARD', KEYS[2]) > 0 then return redis.error_reply("
    "  'DeleteConflict Cannot delete entity, must delete access keys "
    "  first.') end "
    "if redis.call('SCARD', KEYS[3]) > 0 then return redis.error_reply("
    "  'DeleteConflict Cannot delete entity, must detach all policies "
    "  first.') end "
    "redis.call('DEL', KEYS[1]) redis.call('SREM', KEYS[4], ARGV[1]) "
    "return 1";

static void
op_delete_admin_user(struct admin_call *call)
{
	char k[3][KEY_MAX];

	if (!iam_arg_user(call))
		return;
	IAM_USER_KEYS(k, call->arg);
	admin_eval(call, script_delete_user, 4, 5, (const char *[]){k[0], k[1],
	    k[2], "strata:admin-users", call->arg}, iam_done_empty);
}

/* ---- access keys ---- */

/* KEYS: user, user keys, key; ARGV: user, id, verifier, signing, now */
static const char script_create_key[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply("
    "  'NotFound The user with name ' .. ARGV[1] .. ' cannot be found.') "
    "end "
    "if redis.call('SCARD', KEYS[2]) >= 2 then return redis.error_reply("
    "  'LimitExceeded Cannot exceed quota for AccessKeysPerUser: 2') end "
    "if redis.call('EXISTS', KEYS[3]) == 1 then return redis.error_reply("
    "  'Exists access key ' .. ARGV[2] .. ' exists') end "
    "redis.call('HSET', KEYS[3], 'user', ARGV[1], 'status', 'Active', "
    "  'verifier', ARGV[3], 'signing', ARGV[4], 'created', ARGV[5]) "
    "redis.call('SADD', KEYS[2], ARGV[2]) "
    "return 1";

struct iam_key_state {
	char id[24];
	char secret[ADMIN_SECRET_LEN + 1];
	char created[24];
};

static void
iam_key_created(struct admin_call *call, redisReply *reply)
{
	struct iam_key_state *st = call->state;
	json_t *k = json_pack("{s:s, s:s, s:s, s:s, s:s}", "UserName",
	    call->arg, "AccessKeyId", st->id, "Status", "Active",
	    "SecretAccessKey", st->secret, "CreateDate", st->created);

	OPENSSL_cleanse(st->secret, sizeof(st->secret));
	admin_reply(call, json_pack("{s:o}", "AccessKey", k));
}

static void
op_create_access_key(struct admin_call *call)
{
	struct iam_key_state *st = calloc(1, sizeof(*st));
	char k[4][KEY_MAX], verifier[65], signing[65];

	if (st == NULL)
		abort();
	call->state = st;
	if (!iam_arg_user(call))
		return;
	IAM_USER_KEYS(k, call->arg);
	iam_random(st->id, "AKIA", 16, iam_base32);
	iam_random(st->secret, "", ADMIN_SECRET_LEN, iam_base64);
	iam_now(st->created);
	broker_registry_key(k[3], "admin-key", st->id);
	admin_key_derive(st->secret, verifier, signing);
	admin_eval(call, script_create_key, 3, 8, (const char *[]){k[0], k[1],
	    k[3], call->arg, st->id, verifier, signing, st->created},
	    iam_key_created);
	OPENSSL_cleanse(signing, sizeof(signing));
}

/* KEYS: user, user keys; ARGV: user */
static const char script_list_keys[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply("
    "  'NotFound The user with name ' .. ARGV[1] .. ' cannot be found.') "
    "end "
    "local out = {} local ids = redis.call('SMEMBERS', KEYS[2]) "
    "table.sort(ids) "
    "for _, id in ipairs(ids) do "
    "  local k = redis.call('HMGET', 'strata:admin-key:{' .. id .. '}', "
    "    'status', 'created') "
    "  out[#out + 1] = {UserName = ARGV[1], AccessKeyId = id, "
    "    Status = k[1], CreateDate = k[2]} "
    "end "
    "return cjson.encode(out)";

static void
iam_keys_listed(struct admin_call *call, redisReply *reply)
{
	json_t *list = iam_list(call, reply);

	if (list != NULL)
		admin_reply(call, json_pack("{s:o}", "AccessKeyMetadata",
		    list));
}

static void
op_list_access_keys(struct admin_call *call)
{
	char k[3][KEY_MAX];

	if (!iam_arg_user(call))
		return;
	IAM_USER_KEYS(k, call->arg);
	admin_eval(call, script_list_keys, 2, 3, (const char *[]){k[0], k[1],
	    call->arg}, iam_keys_listed);
}

/*
 * Shared by update and delete: the key must be the user's, and the last
 * Active key of the cluster may not go (an operator could lock everyone
 * out).  KEYS: key, user keys, users; ARGV: user, id, new status or
 * "" to delete.
 */
static const char script_change_key[] =
    "local k = redis.call('HMGET', KEYS[1], 'user', 'status') "
    "if k[1] ~= ARGV[1] then return redis.error_reply('NotFound The "
    "  Access Key with id ' .. ARGV[2] .. ' cannot be found.') end "
    "if k[2] == 'Active' and ARGV[3] ~= 'Active' then "
    "  local active = 0 "
    "  for _, u in ipairs(redis.call('SMEMBERS', KEYS[3])) do "
    "    for _, id in ipairs(redis.call('SMEMBERS', "
    "        'strata:admin-user-keys:{' .. u .. '}')) do "
    "      if redis.call('HGET', 'strata:admin-key:{' .. id .. '}', "
    "          'status') == 'Active' then active = active + 1 end "
    "    end "
    "  end "
    "  if active <= 1 then return redis.error_reply('DeleteConflict "
    "    access key ' .. ARGV[2] .. ' is the last Active key of the "
    "    cluster') end "
    "end "
    "if ARGV[3] == '' then redis.call('DEL', KEYS[1]) "
    "  redis.call('SREM', KEYS[2], ARGV[2]) "
    "else redis.call('HSET', KEYS[1], 'status', ARGV[3]) end "
    "return 1";

static void
iam_change_key(struct admin_call *call, const char *status)
{
	char k[4][KEY_MAX];

	IAM_USER_KEYS(k, call->arg);
	broker_registry_key(k[3], "admin-key", call->arg2);
	admin_eval(call, script_change_key, 3, 6, (const char *[]){k[3], k[1],
	    "strata:admin-users", call->arg, call->arg2, status},
	    iam_done_empty);
}

static void
op_update_access_key(struct admin_call *call)
{
	json_t *s = call->body != NULL ? json_object_get(call->body, "Status") :
	    NULL;
	const char *status = json_string_value(s);

	if (!iam_arg_user(call) || !iam_arg_key_id(call))
		return;
	if (status == NULL || (strcmp(status, "Active") != 0 &&
	    strcmp(status, "Inactive") != 0)) {
		admin_error(call, 400, "InvalidRequestException", "Status",
		    "Status must be Active or Inactive");
		return;
	}
	iam_change_key(call, status);
}

static void
op_delete_access_key(struct admin_call *call)
{
	if (iam_arg_user(call) && iam_arg_key_id(call))
		iam_change_key(call, "");
}

/* ---- admin policies ---- */

/* KEYS: policy, policies; ARGV: name, document, now */
static const char script_create_policy[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply("
    "  'Exists A policy called ' .. ARGV[1] .. ' already exists.') end "
    "redis.call('HSET', KEYS[1], 'name', ARGV[1], 'document', ARGV[2], "
    "  'created', ARGV[3]) "
    "redis.call('SADD', KEYS[2], ARGV[1]) "
    "return cjson.encode({PolicyName = ARGV[1], CreateDate = ARGV[3], "
    "  AttachmentCount = 0})";

static void
iam_policy_answered(struct admin_call *call, redisReply *reply)
{
	json_t *rec = iam_json(call, reply);

	if (rec != NULL)
		admin_reply(call, json_pack("{s:o}", "Policy",
		    iam_record(call, rec, "policy", "PolicyName")));
}

/* A document that iam_policy.c compiles; false after a 400. */
static bool
iam_document_valid(struct admin_call *call, const char *doc)
{
	struct strata_policy_error perr;
	struct strata_iam_policy *pol;

	pol = strata_iam_policy_parse(doc, strlen(doc), &perr);
	if (pol != NULL) {
		strata_iam_policy_free(pol);
		return true;
	}
	if (perr.path[0] != '\0')
		admin_error(call, 400, "MalformedPolicyException",
		    "PolicyDocument", "%s: %s", perr.path, perr.message);
	else
		admin_error(call, 400, "MalformedPolicyException",
		    "PolicyDocument", "line %d column %d: %s", perr.line,
		    perr.column, perr.message);
	return false;
}

static void
op_create_admin_policy(struct admin_call *call)
{
	json_t *d = call->body != NULL ?
	    json_object_get(call->body, "PolicyDocument") : NULL;
	const char *doc = json_string_value(d);
	char k[KEY_MAX], now[24];

	if (!iam_arg_policy(call, call->arg))
		return;
	if (doc == NULL) {
		admin_error(call, 400, "InvalidRequestException",
		    "PolicyDocument", "PolicyDocument is required (a string)");
		return;
	}
	if (!iam_document_valid(call, doc))
		return;
	broker_registry_key(k, "admin-policy", call->arg);
	iam_now(now);
	admin_eval(call, script_create_policy, 2, 5, (const char *[]){k,
	    "strata:admin-policies", call->arg, doc, now},
	    iam_policy_answered);
}

/* KEYS: policy, policy users; ARGV: name */
static const char script_get_policy[] =
    "local p = redis.call('HMGET', KEYS[1], 'document', 'created') "
    "if not p[1] then return redis.error_reply('NotFound Policy ' .. "
    "  ARGV[1] .. ' was not found.') end "
    "return cjson.encode({PolicyName = ARGV[1], PolicyDocument = p[1], "
    "  CreateDate = p[2], AttachmentCount = redis.call('SCARD', KEYS[2])})";

static void
op_get_admin_policy(struct admin_call *call)
{
	char k[2][KEY_MAX];

	if (!iam_arg_policy(call, call->arg))
		return;
	broker_registry_key(k[0], "admin-policy", call->arg);
	broker_registry_key(k[1], "admin-policy-users", call->arg);
	admin_eval(call, script_get_policy, 2, 3, (const char *[]){k[0], k[1],
	    call->arg}, iam_policy_answered);
}

/* KEYS: policies */
static const char script_list_policies[] =
    "local out = {} local names = redis.call('SMEMBERS', KEYS[1]) "
    "table.sort(names) "
    "for _, n in ipairs(names) do "
    "  out[#out + 1] = {PolicyName = n, CreateDate = redis.call('HGET', "
    "    'strata:admin-policy:{' .. n .. '}', 'created'), "
    "    AttachmentCount = redis.call('SCARD', "
    "    'strata:admin-policy-users:{' .. n .. '}')} "
    "end "
    "return cjson.encode(out)";

static void
iam_policies_listed(struct admin_call *call, redisReply *reply)
{
	iam_records_listed(call, reply, "Policies", "policy", "PolicyName");
}

static void
op_list_admin_policies(struct admin_call *call)
{
	admin_eval(call, script_list_policies, 1, 1,
	    (const char *[]){"strata:admin-policies"}, iam_policies_listed);
}

/* KEYS: policy, policy users, policies; ARGV: name */
static const char script_delete_policy[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply("
    "  'NotFound Policy ' .. ARGV[1] .. ' was not found.') end "
    "if redis.call('SCARD', KEYS[2]) > 0 then return redis.error_reply("
    "  'DeleteConflict Cannot delete a policy attached to entities.') end "
    "redis.call('DEL', KEYS[1]) redis.call('SREM', KEYS[3], ARGV[1]) "
    "return 1";

static void
op_delete_admin_policy(struct admin_call *call)
{
	char k[2][KEY_MAX];

	if (!iam_arg_policy(call, call->arg))
		return;
	broker_registry_key(k[0], "admin-policy", call->arg);
	broker_registry_key(k[1], "admin-policy-users", call->arg);
	admin_eval(call, script_delete_policy, 3, 4, (const char *[]){k[0],
	    k[1], "strata:admin-policies", call->arg}, iam_done_empty);
}

/* ---- attachments ---- */

/* KEYS: user, policy, user policies, policy users; ARGV: user, policy,
 * "attach" or "detach" */
static const char script_attach[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply("
    "  'NotFound The user with name ' .. ARGV[1] .. ' cannot be found.') "
    "end "
    "if redis.call('EXISTS', KEYS[2]) == 0 then return redis.error_reply("
    "  'NotFound Policy ' .. ARGV[2] .. ' was not found.') end "
    "if ARGV[3] == 'detach' then "
    "  if redis.call('SREM', KEYS[3], ARGV[2]) == 0 then "
    "    return redis.error_reply('NotFound Policy ' .. ARGV[2] .. "
    "      ' is not attached to user ' .. ARGV[1] .. '.') end "
    "  redis.call('SREM', KEYS[4], ARGV[1]) return 1 "
    "end "
    "if redis.call('SISMEMBER', KEYS[3], ARGV[2]) == 0 and "
    "    redis.call('SCARD', KEYS[3]) >= 10 then return redis.error_reply("
    "  'LimitExceeded Cannot exceed quota for PoliciesPerUser: 10') end "
    "redis.call('SADD', KEYS[3], ARGV[2]) "
    "redis.call('SADD', KEYS[4], ARGV[1]) "
    "return 1";

static void
iam_attach(struct admin_call *call, const char *what)
{
	char k[5][KEY_MAX];

	if (!iam_arg_user(call) || !iam_arg_policy(call, call->arg2))
		return;
	IAM_USER_KEYS(k, call->arg);
	broker_registry_key(k[3], "admin-policy", call->arg2);
	broker_registry_key(k[4], "admin-policy-users", call->arg2);
	admin_eval(call, script_attach, 4, 7, (const char *[]){k[0], k[3],
	    k[2], k[4], call->arg, call->arg2, what}, iam_done_empty);
}

static void
op_attach_admin_policy(struct admin_call *call)
{
	iam_attach(call, "attach");
}

static void
op_detach_admin_policy(struct admin_call *call)
{
	iam_attach(call, "detach");
}

/* KEYS: user, user policies; ARGV: user */
static const char script_list_attached[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply("
    "  'NotFound The user with name ' .. ARGV[1] .. ' cannot be found.') "
    "end "
    "local m = redis.call('SMEMBERS', KEYS[2]) table.sort(m) "
    "return cjson.encode(m)";

static void
iam_attached_listed(struct admin_call *call, redisReply *reply)
{
	json_t *names = iam_list(call, reply), *out, *n;
	char arn[400];
	size_t i;

	if (names == NULL)
		return;
	out = json_array();
	json_array_foreach(names, i, n) {
		admin_iam_arn(call, arn, sizeof(arn), "policy",
		    json_string_value(n));
		json_array_append_new(out, json_pack("{s:O, s:s}",
		    "PolicyName", n, "PolicyArn", arn));
	}
	json_decref(names);
	admin_reply(call, json_pack("{s:o}", "AttachedPolicies", out));
}

static void
op_list_attached_admin_policies(struct admin_call *call)
{
	char k[3][KEY_MAX];

	if (!iam_arg_user(call))
		return;
	IAM_USER_KEYS(k, call->arg);
	admin_eval(call, script_list_attached, 2, 3, (const char *[]){k[0],
	    k[2], call->arg}, iam_attached_listed);
}

/* ---- routes ---- */

const struct admin_route admin_iam_routes[] = {
	{EVHTTP_REQ_GET, "admin-users", "ListAdminUsers", "iam:ListUsers",
	    ADMIN_RES_ANY, op_list_admin_users},
	{EVHTTP_REQ_POST, "admin-users/*", "CreateAdminUser", "iam:CreateUser",
	    ADMIN_RES_USER, op_create_admin_user},
	{EVHTTP_REQ_GET, "admin-users/*", "GetAdminUser", "iam:GetUser",
	    ADMIN_RES_USER, op_get_admin_user},
	{EVHTTP_REQ_DELETE, "admin-users/*", "DeleteAdminUser",
	    "iam:DeleteUser", ADMIN_RES_USER, op_delete_admin_user},
	{EVHTTP_REQ_POST, "admin-users/*/access-keys", "CreateAccessKey",
	    "iam:CreateAccessKey", ADMIN_RES_USER, op_create_access_key},
	{EVHTTP_REQ_GET, "admin-users/*/access-keys", "ListAccessKeys",
	    "iam:ListAccessKeys", ADMIN_RES_USER, op_list_access_keys},
	{EVHTTP_REQ_PATCH, "admin-users/*/access-keys/*", "UpdateAccessKey",
	    "iam:UpdateAccessKey", ADMIN_RES_USER, op_update_access_key},
	{EVHTTP_REQ_DELETE, "admin-users/*/access-keys/*", "DeleteAccessKey",
	    "iam:DeleteAccessKey", ADMIN_RES_USER, op_delete_access_key},
	{EVHTTP_REQ_GET, "admin-users/*/policies", "ListAttachedAdminPolicies",
	    "iam:ListAttachedUserPolicies", ADMIN_RES_USER,
	    op_list_attached_admin_policies},
	{EVHTTP_REQ_PUT, "admin-users/*/policies/*", "AttachAdminPolicy",
	    "iam:AttachUserPolicy", ADMIN_RES_USER, op_attach_admin_policy},
	{EVHTTP_REQ_DELETE, "admin-users/*/policies/*", "DetachAdminPolicy",
	    "iam:DetachUserPolicy", ADMIN_RES_USER, op_detach_admin_policy},
	{EVHTTP_REQ_GET, "admin-policies", "ListAdminPolicies",
	    "iam:ListPolicies", ADMIN_RES_ANY, op_list_admin_policies},
	{EVHTTP_REQ_POST, "admin-policies/*", "CreateAdminPolicy",
	    "iam:CreatePolicy", ADMIN_RES_ADMIN_POLICY, op_create_admin_policy},
	{EVHTTP_REQ_GET, "admin-policies/*", "GetAdminPolicy", "iam:GetPolicy",
	    ADMIN_RES_ADMIN_POLICY, op_get_admin_policy},
	{EVHTTP_REQ_DELETE, "admin-policies/*", "DeleteAdminPolicy",
	    "iam:DeletePolicy", ADMIN_RES_ADMIN_POLICY, op_delete_admin_policy},
	{0, NULL, NULL, NULL, 0, NULL},
};
