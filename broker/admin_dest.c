/*
 * admin_dest.c - the admin API's HTTP topic rule destinations, AWS IoT's
 * CreateTopicRuleDestination, GetTopicRuleDestination,
 * ListTopicRuleDestinations, UpdateTopicRuleDestination,
 * DeleteTopicRuleDestination and ConfirmTopicRuleDestination
 * (docs/internals/rules-admin.md, "Topic rule destinations", has the
 * keys and every difference from AWS; common/ruledest.h the states).
 *
 * The admin API keeps the records; strata-rulesd sends the confirmation
 * request (rulesd/dest.c): a create, or an update to IN_PROGRESS, marks
 * the record `pending` and PUBLISHes "ruledest:<uuid>" on strata:rules;
 * every rulesd reloads the destinations, and the one whose claim script
 * clears `pending` first POSTs to the confirmationUrl through its http
 * sink.  The enableUrl it carries is this API's
 * /confirmdestination/<token>, on the Host the creating call came to.
 *
 * Each operation is one Lua script.  A destination that does not exist
 * is UnauthorizedException (401), as for topic rules (AWS's API lists no
 * not-found error for these operations).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "admin.h"
#include "ruledest.h"
#include "uuid.h"

#define DEST_IDS "strata:ruledest-ids"     /* ZSET of uuids, score 0 */
#define DEST_URLS "strata:ruledest-urls"   /* HASH confirmationUrl -> uuid */
#define DEST_MAX_RESULTS 1000              /* AWS's maximum of maxResults */
#define DEST_ARN_MAX 300
#define DEST_ENABLE_MAX 400

/* ---- helpers ---- */

static void
dest_key(char *out, const char *uuid)
{
	broker_registry_key(out, "ruledest", uuid);
}

static void
dest_arn(struct admin_call *call, char *out, const char *uuid)
{
	snprintf(out, DEST_ARN_MAX, "arn:aws:iot:%s:%s:ruledestination/http/%s",
	    call->b->cfg.iot_region, call->b->cfg.iot_account, uuid);
}

/* 32 random bytes as base64url without padding: 43 characters. */
static void
dest_token(char out[STRATA_RULEDEST_TOKEN_LEN + 1])
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
	    "qrstuvwxyz0123456789-_";
	unsigned char r[33] = {0};
	size_t o = 0;

	if (getrandom(r, 32, 0) != 32)
		abort();
	for (size_t i = 0; i < 33; i += 3) {
		unsigned v = (unsigned)r[i] << 16 | (unsigned)r[i + 1] << 8 |
		    r[i + 2];

		for (int k = 0; k < 4 && o < STRATA_RULEDEST_TOKEN_LEN; k++)
			out[o++] = b64[(v >> (18 - 6 * k)) & 63];
	}
	out[o] = '\0';
}

/* The enableUrl of token: this API as the caller reached it (its Host
 * header when it is a plain host[:port]), else its bind address. */
static void
dest_enable_url(struct admin_call *call, const char *token, char *out)
{
	const char *scheme = call->b->cfg.admin_tls ? "https" : "http";
	const char *host = admin_header(call, "Host");
	char base[300], why[128];

	snprintf(base, sizeof(base), "%s://%s", scheme, host != NULL ? host :
	    "");
	if (host == NULL || strlen(host) > 255 || strchr(host, '/') != NULL ||
	    strchr(host, '?') != NULL ||
	    !strata_ruledest_url_valid(base, why, sizeof(why)))
		snprintf(base, sizeof(base), "%s://%s:%ld", scheme,
		    call->b->cfg.admin_bind, call->b->cfg.admin_port);
	snprintf(out, DEST_ENABLE_MAX, "%s/confirmdestination/%s", base, token);
}

/* The destination ARN of the path; false after answering 400. */
static bool
dest_arg_uuid(struct admin_call *call, const char *arn, char *uuid)
{
	if (arn != NULL && strata_ruledest_arn_uuid(arn,
	    call->b->cfg.iot_region, call->b->cfg.iot_account, uuid))
		return true;
	admin_error(call, 400, "InvalidRequestException", "arn", "arn must be "
	    "arn:aws:iot:%s:%s:ruledestination/http/<uuid>",
	    call->b->cfg.iot_region, call->b->cfg.iot_account);
	return false;
}

static void
dest_done_empty(struct admin_call *call, redisReply *reply)
{
	(void)reply;
	admin_reply(call, NULL);
}

/* ---- the answer's TopicRuleDestination ---- */

/* The fields every script reads, in this order. */
#define DEST_FIELDS "'arn', 'url', 'status', 'reason', 'expires', " \
    "'created', 'updated'"
#define DEST_NFIELDS 7

/* A stored record as AWS answers it; summary: a list entry's names.  An
 * IN_PROGRESS destination whose token expired is ERROR. */
static json_t *
dest_json(redisReply **f, bool summary)
{
	json_t *o = json_object(), *http = json_object();
	const char *status = f[2]->str, *reason = f[3]->str;

	if (strcmp(status, "IN_PROGRESS") == 0 &&
	    strtoll(f[4]->str, NULL, 10) < (long long)time(NULL)) {
		status = "ERROR";
		reason = "Destination confirmation timed out";
	}
	json_object_set_new(o, "arn", json_string(f[0]->str));
	json_object_set_new(o, "createdAt",
	    json_integer(strtoll(f[5]->str, NULL, 10)));
	json_object_set_new(http, "confirmationUrl", json_string(f[1]->str));
	json_object_set_new(o, summary ? "httpUrlSummary" :
	    "httpUrlProperties", http);
	json_object_set_new(o, "lastUpdatedAt",
	    json_integer(strtoll(f[6]->str, NULL, 10)));
	json_object_set_new(o, "status", json_string(status));
	json_object_set_new(o, "statusReason", json_string(reason));
	return o;
}

static void
dest_got(struct admin_call *call, redisReply *reply)
{
	json_t *o;

	if (!strata_redis_is_strings(reply, DEST_NFIELDS)) {
		admin_error(call, 500, "InternalFailureException", NULL,
		    "destination record is malformed");
		return;
	}
	o = json_object();
	json_object_set_new(o, "topicRuleDestination",
	    dest_json(reply->element, false));
	admin_reply(call, o);
}

/* ---- create ---- */

/* KEYS: record, ids, urls, token; ARGV: uuid, url, token, now, expires,
 * enable url, ttl, arn.  Answers the record's fields. */
static const char script_create[] =
    "local u = redis.call('HGET', KEYS[3], ARGV[2]) "
    "if u then return redis.error_reply('Exists a topic rule destination "
    "  for ' .. ARGV[2] .. ' already exists') end "
    "redis.call('HSET', KEYS[1], 'arn', ARGV[8], 'url', ARGV[2], "
    "  'status', 'IN_PROGRESS', 'reason', '', 'token', ARGV[3], "
    "  'expires', ARGV[5], 'created', ARGV[4], 'updated', ARGV[4], "
    "  'enable', ARGV[6], 'pending', '1') "
    "redis.call('ZADD', KEYS[2], 0, ARGV[1]) "
    "redis.call('HSET', KEYS[3], ARGV[2], ARGV[1]) "
    "redis.call('SET', KEYS[4], ARGV[1], 'EX', ARGV[7]) "
    "redis.call('PUBLISH', 'strata:rules', 'ruledest:' .. ARGV[1]) "
    "return redis.call('HMGET', KEYS[1], " DEST_FIELDS ")";

/* The confirmationUrl of a CreateTopicRuleDestination body, or NULL
 * after answering 400. */
static const char *
dest_body_url(struct admin_call *call)
{
	json_t *conf = json_object_get(call->body, "destinationConfiguration");
	json_t *http = json_object_get(conf, "httpUrlConfiguration");
	const char *url = json_string_value(json_object_get(http,
	    "confirmationUrl"));
	char why[128];

	if (json_object_get(conf, "vpcConfiguration") != NULL) {
		admin_error(call, 400, "InvalidRequestException",
		    "destinationConfiguration", "VPC destinations are not "
		    "supported");
		return NULL;
	}
	if (url == NULL) {
		admin_error(call, 400, "InvalidRequestException",
		    "destinationConfiguration", "the body must be "
		    "{\"destinationConfiguration\": {\"httpUrlConfiguration\": "
		    "{\"confirmationUrl\": \"https://...\"}}}");
		return NULL;
	}
	if (!strata_ruledest_url_valid(url, why, sizeof(why))) {
		admin_error(call, 400, "InvalidRequestException",
		    "confirmationUrl", "confirmationUrl: %s", why);
		return NULL;
	}
	return url;
}

static void
op_create_destination(struct admin_call *call)
{
	char key[BROKER_REGISTRY_KEY_MAX], tkey[BROKER_REGISTRY_KEY_MAX];
	char uuid[37], token[STRATA_RULEDEST_TOKEN_LEN + 1], arn[DEST_ARN_MAX];
	char enable[DEST_ENABLE_MAX], now[24], expires[24], ttl[24];
	const char *url = dest_body_url(call);
	long long t = (long long)time(NULL);

	if (url == NULL)
		return;
	strata_uuid4(uuid);
	dest_token(token);
	dest_key(key, uuid);
	broker_registry_key(tkey, "ruledest-token", token);
	dest_arn(call, arn, uuid);
	dest_enable_url(call, token, enable);
	snprintf(now, sizeof(now), "%lld", t);
	snprintf(expires, sizeof(expires), "%lld", t + STRATA_RULEDEST_TTL_S);
	snprintf(ttl, sizeof(ttl), "%d", STRATA_RULEDEST_TTL_S);
	admin_eval(call, script_create, 4, 12, (const char *[]){key, DEST_IDS,
	    DEST_URLS, tkey, uuid, url, token, now, expires, enable, ttl, arn},
	    dest_got);
}

/* ---- get, delete ---- */

/* KEYS: record */
static const char script_get[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply("
    "  'Unauthorized topic rule destination does not exist') end "
    "return redis.call('HMGET', KEYS[1], " DEST_FIELDS ")";

/* KEYS: record, ids, urls; ARGV: uuid */
static const char script_delete[] =
    "local h = redis.call('HMGET', KEYS[1], 'url', 'token') "
    "if not h[1] then return redis.error_reply("
    "  'Unauthorized topic rule destination does not exist') end "
    "redis.call('DEL', KEYS[1], 'strata:ruledest-token:{' .. h[2] .. '}') "
    "redis.call('ZREM', KEYS[2], ARGV[1]) "
    "redis.call('HDEL', KEYS[3], h[1]) "
    "redis.call('PUBLISH', 'strata:rules', 'ruledest:' .. ARGV[1]) "
    "return 1";

static void
op_get_destination(struct admin_call *call)
{
	char key[BROKER_REGISTRY_KEY_MAX], uuid[37];

	if (!dest_arg_uuid(call, call->arg, uuid))
		return;
	dest_key(key, uuid);
	admin_eval(call, script_get, 1, 1, (const char *[]){key}, dest_got);
}

static void
op_delete_destination(struct admin_call *call)
{
	char key[BROKER_REGISTRY_KEY_MAX], uuid[37];

	if (!dest_arg_uuid(call, call->arg, uuid))
		return;
	dest_key(key, uuid);
	admin_eval(call, script_delete, 3, 4, (const char *[]){key, DEST_IDS,
	    DEST_URLS, uuid}, dest_done_empty);
}

/* ---- list ---- */

/* KEYS: ids; ARGV: the uuid after which to start ("": the first), the
 * page size.  One more than a page is read: whether a next page exists. */
static const char script_list[] =
    "local from = '-' "
    "if ARGV[1] ~= '' then from = '(' .. ARGV[1] end "
    "local out = {} "
    "for _, u in ipairs(redis.call('ZRANGEBYLEX', KEYS[1], from, '+', "
    "    'LIMIT', 0, tonumber(ARGV[2]) + 1)) do "
    "  out[#out + 1] = redis.call('HMGET', 'strata:ruledest:{' .. u .. '}', "
    "    " DEST_FIELDS ") "
    "end return out";

static void
dest_listed(struct admin_call *call, redisReply *reply)
{
	long max = *(long *)call->state;
	json_t *list = json_array(), *o = json_object();
	const char *last = NULL;
	char uuid[37];
	size_t i;

	for (i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements &&
	     i < (size_t)max; i++) {
		redisReply *r = reply->element[i];

		if (!strata_redis_is_strings(r, DEST_NFIELDS))
			continue;
		json_array_append_new(list, dest_json(r->element, true));
		last = r->element[0]->str;
	}
	json_object_set_new(o, "destinationSummaries", list);
	if (reply->type == REDIS_REPLY_ARRAY && reply->elements > (size_t)max &&
	    last != NULL && strata_ruledest_arn_uuid(last,
	    call->b->cfg.iot_region, call->b->cfg.iot_account, uuid))
		json_object_set_new(o, "nextToken", json_string(uuid));
	admin_reply(call, o);
}

static void
op_list_destinations(struct admin_call *call)
{
	const char *max = admin_query(call, "maxResults");
	const char *token = admin_query(call, "nextToken");
	long *n = malloc(sizeof(*n));
	char *end, page[24], arn[DEST_ARN_MAX], uuid[37];

	if (n == NULL)
		abort();
	call->state = n;   /* freed with the call */
	*n = max != NULL ? strtol(max, &end, 10) : DEST_MAX_RESULTS;
	if (max != NULL && (*max == '\0' || *end != '\0' || *n < 1 ||
	    *n > DEST_MAX_RESULTS)) {
		admin_error(call, 400, "InvalidRequestException", "maxResults",
		    "maxResults must be an integer from 1 to %d",
		    DEST_MAX_RESULTS);
		return;
	}
	if (token != NULL)
		dest_arn(call, arn, token);
	if (token != NULL && !strata_ruledest_arn_uuid(arn,
	    call->b->cfg.iot_region, call->b->cfg.iot_account, uuid)) {
		admin_error(call, 400, "InvalidRequestException", "nextToken",
		    "nextToken is not one this API gave");
		return;
	}
	snprintf(page, sizeof(page), "%ld", *n);
	admin_eval(call, script_list, 1, 3, (const char *[]){DEST_IDS,
	    token != NULL ? token : "", page}, dest_listed);
}

/* ---- update ---- */

/*
 * KEYS: record; ARGV: wanted status, now, new token, expires, ttl, new
 * token's key.  ENABLED only from DISABLED (or ENABLED), DISABLED only
 * from ENABLED (or DISABLED): an unconfirmed destination cannot be
 * enabled by an update.  IN_PROGRESS from any status: a new token (the
 * old one forgotten) and a new confirmation request (pending).
 */
static const char script_update[] =
    "local h = redis.call('HMGET', KEYS[1], 'status', 'token') "
    "if not h[1] then return redis.error_reply("
    "  'Unauthorized topic rule destination does not exist') end "
    "local want = ARGV[1] "
    "if want == 'IN_PROGRESS' then "
    "  redis.call('DEL', 'strata:ruledest-token:{' .. h[2] .. '}') "
    "  redis.call('SET', ARGV[6], string.match(KEYS[1], '{(.*)}'), "
    "    'EX', ARGV[5]) "
    "  redis.call('HSET', KEYS[1], 'status', want, 'reason', '', "
    "    'token', ARGV[3], 'expires', ARGV[4], 'pending', '1', "
    "    'enable', ARGV[7]) "
    "elseif (want == 'ENABLED' and h[1] ~= 'DISABLED' and "
    "    h[1] ~= 'ENABLED') or (want == 'DISABLED' and "
    "    h[1] ~= 'ENABLED' and h[1] ~= 'DISABLED') then "
    "  return redis.error_reply('Conflict a destination in status ' .. "
    "    h[1] .. ' cannot be set to ' .. want .. ' (confirm it first)') "
    "else redis.call('HSET', KEYS[1], 'status', want) end "
    "redis.call('HSET', KEYS[1], 'updated', ARGV[2]) "
    "redis.call('PUBLISH', 'strata:rules', 'ruledest:' .. "
    "  string.match(KEYS[1], '{(.*)}')) "
    "return 1";

/* The status of an UpdateTopicRuleDestination body, or NULL after a
 * 400. */
static const char *
dest_body_status(struct admin_call *call)
{
	const char *s = json_string_value(json_object_get(call->body,
	    "status"));
	enum strata_ruledest_status st = strata_ruledest_status_parse(s);

	if (st == STRATA_RULEDEST_UNKNOWN || st == STRATA_RULEDEST_ERROR) {
		admin_error(call, 400, "InvalidRequestException", "status",
		    "status must be ENABLED, DISABLED or IN_PROGRESS");
		return NULL;
	}
	return s;
}

static void
op_update_destination(struct admin_call *call)
{
	char key[BROKER_REGISTRY_KEY_MAX], tkey[BROKER_REGISTRY_KEY_MAX];
	char uuid[37], token[STRATA_RULEDEST_TOKEN_LEN + 1];
	char enable[DEST_ENABLE_MAX], now[24], expires[24], ttl[24];
	const char *status = NULL;
	long long t = (long long)time(NULL);

	if (!dest_arg_uuid(call, json_string_value(json_object_get(call->body,
	    "arn")), uuid) || (status = dest_body_status(call)) == NULL)
		return;
	dest_key(key, uuid);
	dest_token(token);
	broker_registry_key(tkey, "ruledest-token", token);
	dest_enable_url(call, token, enable);
	snprintf(now, sizeof(now), "%lld", t);
	snprintf(expires, sizeof(expires), "%lld", t + STRATA_RULEDEST_TTL_S);
	snprintf(ttl, sizeof(ttl), "%d", STRATA_RULEDEST_TTL_S);
	admin_eval(call, script_update, 1, 8, (const char *[]){key, status,
	    now, token, expires, ttl, tkey, enable}, dest_done_empty);
}

/* ---- confirm ---- */

/* KEYS: token; ARGV: the token, now.  IN_PROGRESS with this token ->
 * ENABLED; the token is used up. */
static const char script_confirm[] =
    "local u = redis.call('GET', KEYS[1]) "
    "if not u then return redis.error_reply('Invalid the confirmation "
    "  token is not valid (unknown, used or expired)') end "
    "local k = 'strata:ruledest:{' .. u .. '}' "
    "local h = redis.call('HMGET', k, 'status', 'token') "
    "redis.call('DEL', KEYS[1]) "
    "if h[2] ~= ARGV[1] or h[1] ~= 'IN_PROGRESS' then "
    "  return redis.error_reply('Invalid the confirmation token is not "
    "  valid (unknown, used or expired)') end "
    "redis.call('HSET', k, 'status', 'ENABLED', 'reason', '', 'pending', "
    "  '0', 'updated', ARGV[2]) "
    "redis.call('PUBLISH', 'strata:rules', 'ruledest:' .. u) "
    "return 1";

static void
op_confirm_destination(struct admin_call *call)
{
	char tkey[BROKER_REGISTRY_KEY_MAX], now[24];

	if (!strata_ruledest_token_valid(call->arg)) {
		admin_error(call, 400, "InvalidRequestException",
		    "confirmationToken", "confirmationToken must be 1 to %d "
		    "characters of A-Z a-z 0-9 _ -", STRATA_RULEDEST_TOKEN_MAX);
		return;
	}
	broker_registry_key(tkey, "ruledest-token", call->arg);
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	admin_eval(call, script_confirm, 1, 3, (const char *[]){tkey,
	    call->arg, now}, dest_done_empty);
}

const struct admin_route admin_dest_routes[] = {
	{EVHTTP_REQ_POST, "destinations", "CreateTopicRuleDestination",
	    "iot:CreateTopicRuleDestination", ADMIN_RES_ANY,
	    op_create_destination},
	{EVHTTP_REQ_GET, "destinations", "ListTopicRuleDestinations",
	    "iot:ListTopicRuleDestinations", ADMIN_RES_ANY,
	    op_list_destinations},
	{EVHTTP_REQ_PATCH, "destinations", "UpdateTopicRuleDestination",
	    "iot:UpdateTopicRuleDestination", ADMIN_RES_ANY,
	    op_update_destination},
	{EVHTTP_REQ_GET, "destinations/*", "GetTopicRuleDestination",
	    "iot:GetTopicRuleDestination", ADMIN_RES_ARN,
	    op_get_destination},
	{EVHTTP_REQ_DELETE, "destinations/*", "DeleteTopicRuleDestination",
	    "iot:DeleteTopicRuleDestination", ADMIN_RES_ARN,
	    op_delete_destination},
	{EVHTTP_REQ_GET, "confirmdestination/*", "ConfirmTopicRuleDestination",
	    "iot:ConfirmTopicRuleDestination", ADMIN_RES_TOKEN,
	    op_confirm_destination},
	{0, NULL, NULL, NULL, 0, NULL},
};
