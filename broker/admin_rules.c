/*
 * admin_rules.c - the admin API's topic rule operations, AWS IoT's
 * CreateTopicRule, GetTopicRule, ListTopicRules, ReplaceTopicRule,
 * DeleteTopicRule, EnableTopicRule and DisableTopicRule
 * (docs/internals/rules-admin.md has the keys, the channel and every
 * difference from AWS).
 *
 * A payload is parsed with strata_rule_parse() (common/rule.h) before
 * anything is written: a payload that does not parse is answered 400
 * (SqlParseException for its statement, InvalidRequestException for
 * the rest) and never reaches Redis, so strata-rulesd only ever reads
 * payloads that parsed once.  What is stored is the payload normalized:
 * the members AWS returns, in its order, defaults filled in, unknown
 * members dropped, without ruleDisabled (the record's own `disabled`
 * field says that, so that enable and disable do not rewrite JSON in
 * Lua).
 *
 * As in admin_ops.c, each operation is one Lua script, and each change
 * PUBLISHes the rule's name on strata:rules from that script: a reader
 * that gets the name reads the record again (gone: the rule was
 * deleted).  A rule that does not exist is UnauthorizedException (401),
 * as the managed service answers it (its API lists no not-found error
 * for these operations).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "admin.h"
#include "rule.h"
#include "topic.h"

#define KEY_MAX BROKER_REGISTRY_KEY_MAX
#define RULES_INDEX "strata:rule-names"
#define RULES_MAX_RESULTS 10000   /* AWS's maximum of maxResults */

/* ---- helpers ---- */

static void
rules_arn(struct admin_call *call, char *out, size_t len, const char *name)
{
	snprintf(out, len, "arn:aws:iot:%s:%s:rule/%s",
	    call->b->cfg.iot_region, call->b->cfg.iot_account, name);
}

/* The rule name of the path; false after answering 400. */
static bool
rules_arg_name(struct admin_call *call)
{
	if (strata_rule_name_valid(call->arg, strlen(call->arg)))
		return true;
	admin_error(call, 400, "InvalidRequestException", "ruleName",
	    "ruleName must match ^[a-zA-Z0-9_]+$ (1 to %d characters)",
	    STRATA_RULE_NAME_MAX);
	return false;
}

static void
rules_done_empty(struct admin_call *call, redisReply *reply)
{
	admin_reply(call, NULL);
}

/* A payload as it is stored (see the top of the file). */
struct rules_payload {
	char *json;       /* normalized, compact; owned */
	char *topic;      /* the statement's FROM filter; owned */
	bool disabled;    /* ruleDisabled as given */
};

static void
rules_payload_clear(struct rules_payload *p)
{
	free(p->json);
	free(p->topic);
}

/* Is the refusal about the statement rather than the rest?  The parser
 * gives a statement's errors a position, and names the member at fault
 * first in its message ("sql: ..."). */
static bool
rules_error_is_sql(const struct strata_rule_error *err)
{
	return err->line > 0 || (strncmp(err->message, "sql", 3) == 0 &&
	    (err->message[3] == ':' || err->message[3] == ' ' ||
	    err->message[3] == '\0'));
}

static void
rules_refuse(struct admin_call *call, const struct strata_rule_error *err)
{
	if (!rules_error_is_sql(err))
		admin_error(call, 400, "InvalidRequestException",
		    "topicRulePayload", "%s", err->message);
	else if (err->line > 0)
		admin_error(call, 400, "SqlParseException", "sql",
		    "%s (line %d, column %d)", err->message, err->line,
		    err->column);
	else
		admin_error(call, 400, "SqlParseException", "sql", "%s",
		    err->message);
}

/* The stored form of a parsed rule: the members AWS returns, in its
 * order; actions and errorAction as given (the parser checked them). */
static char *
rules_normalize(const struct strata_rule *rule, json_t *body)
{
	json_t *o = json_object(), *actions = json_object_get(body, "actions");
	json_t *error_action = json_object_get(body, "errorAction");
	char *text;

	json_object_set_new(o, "sql", json_string(rule->sql_text));
	json_object_set_new(o, "description", json_string(rule->description));
	json_object_set_new(o, "actions", actions != NULL ?
	    json_incref(actions) : json_array());
	json_object_set_new(o, "awsIotSqlVersion",
	    json_string(rule->sql_version));
	if (error_action != NULL && !json_is_null(error_action))
		json_object_set(o, "errorAction", error_action);
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (text == NULL)
		abort();
	return text;
}

/* The request body as a TopicRulePayload into *out; false after a 400.
 * The raw bytes are parsed (the JSON object admin.c read is the same
 * text), so the parser's positions are the caller's. */
static bool
rules_payload(struct admin_call *call, struct rules_payload *out)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(call->req);
	size_t n = evbuffer_get_length(in);
	struct strata_rule_error err = {0};
	struct strata_rule *rule;
	json_t *actions, *error_action;

	memset(out, 0, sizeof(*out));
	if (call->body == NULL) {
		admin_error(call, 400, "InvalidRequestException",
		    "topicRulePayload", "the body must be a TopicRulePayload "
		    "(a JSON object with sql and actions)");
		return false;
	}
	if (n > STRATA_RULE_MAX_PAYLOAD) {
		admin_error(call, 400, "InvalidRequestException",
		    "topicRulePayload", "a topic rule payload has at most %d "
		    "bytes", STRATA_RULE_MAX_PAYLOAD);
		return false;
	}
	rule = strata_rule_parse((const char *)evbuffer_pullup(in, -1), n,
	    &err);
	if (rule == NULL) {
		err.message[sizeof(err.message) - 1] = '\0';
		rules_refuse(call, &err);
		return false;
	}
	/* what is stored as given must have the shape AWS gives it */
	actions = json_object_get(call->body, "actions");
	error_action = json_object_get(call->body, "errorAction");
	if ((actions != NULL && !json_is_array(actions)) ||
	    (error_action != NULL && !json_is_null(error_action) &&
	    !json_is_object(error_action))) {
		strata_rule_free(rule);
		admin_error(call, 400, "InvalidRequestException",
		    "topicRulePayload", "actions must be an array and "
		    "errorAction an object");
		return false;
	}
	out->json = rules_normalize(rule, call->body);
	out->topic = strdup(strata_sql_from(rule->sql));
	out->disabled = rule->disabled;
	strata_rule_free(rule);
	if (out->topic == NULL)
		abort();
	return true;
}

/* ---- create, replace ---- */

/* KEYS: rule, index; ARGV: name, payload, disabled 1/0, topic, now */
static const char script_create_rule[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply("
    "  'Exists rule ' .. ARGV[1] .. ' already exists') end "
    "redis.call('HSET', KEYS[1], 'payload', ARGV[2], 'disabled', ARGV[3], "
    "  'topic', ARGV[4], 'created', ARGV[5]) "
    "redis.call('ZADD', KEYS[2], 0, ARGV[1]) "
    "redis.call('PUBLISH', 'strata:rules', ARGV[1]) "
    "return 1";

/* KEYS: rule; ARGV: name, payload, disabled 1/0, topic */
static const char script_replace_rule[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply("
    "  'Unauthorized rule ' .. ARGV[1] .. ' does not exist') end "
    "redis.call('HSET', KEYS[1], 'payload', ARGV[2], 'disabled', ARGV[3], "
    "  'topic', ARGV[4]) "
    "redis.call('PUBLISH', 'strata:rules', ARGV[1]) "
    "return 1";

static void
op_create_topic_rule(struct admin_call *call)
{
	struct rules_payload p;
	char key[KEY_MAX], now[24];

	if (!rules_arg_name(call) || !rules_payload(call, &p))
		return;
	broker_registry_key(key, "rule", call->arg);
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	admin_eval(call, script_create_rule, 2, 7, (const char *[]){key,
	    RULES_INDEX, call->arg, p.json, p.disabled ? "1" : "0", p.topic,
	    now}, rules_done_empty);
	rules_payload_clear(&p);
}

static void
op_replace_topic_rule(struct admin_call *call)
{
	struct rules_payload p;
	char key[KEY_MAX];

	if (!rules_arg_name(call) || !rules_payload(call, &p))
		return;
	broker_registry_key(key, "rule", call->arg);
	admin_eval(call, script_replace_rule, 1, 5, (const char *[]){key,
	    call->arg, p.json, p.disabled ? "1" : "0", p.topic},
	    rules_done_empty);
	rules_payload_clear(&p);
}

/* ---- get ---- */

/* KEYS: rule; ARGV: name */
static const char script_get_rule[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply("
    "  'Unauthorized rule ' .. ARGV[1] .. ' does not exist') end "
    "return redis.call('HMGET', KEYS[1], 'payload', 'created', "
    "  'disabled')";

/* GetTopicRule's rule: the stored payload's members with the name,
 * createdAt and ruleDisabled put in AWS's order. */
static json_t *
rules_topic_rule(const char *name, json_t *payload, const char *created,
    const char *disabled)
{
	static const char *const tail[] = {"actions", "ruleDisabled",
	    "awsIotSqlVersion", "errorAction"};
	json_t *o = json_object(), *v;

	json_object_set_new(o, "ruleName", json_string(name));
	json_object_set(o, "sql", json_object_get(payload, "sql"));
	json_object_set(o, "description",
	    json_object_get(payload, "description"));
	json_object_set_new(o, "createdAt",
	    json_integer(strtoll(created, NULL, 10)));
	for (size_t i = 0; i < sizeof(tail) / sizeof(tail[0]); i++) {
		if (strcmp(tail[i], "ruleDisabled") == 0)
			json_object_set_new(o, tail[i],
			    json_boolean(strcmp(disabled, "1") == 0));
		else if ((v = json_object_get(payload, tail[i])) != NULL)
			json_object_set(o, tail[i], v);
	}
	return o;
}

static void
rules_got(struct admin_call *call, redisReply *reply)
{
	json_t *payload, *o;
	char arn[400];

	payload = strata_redis_is_strings(reply, 3) ? json_loadb(
	    reply->element[0]->str, reply->element[0]->len, 0, NULL) : NULL;
	if (!json_is_object(payload)) {
		json_decref(payload);
		admin_error(call, 500, "InternalFailureException", NULL,
		    "rule record is malformed");
		return;
	}
	rules_arn(call, arn, sizeof(arn), call->arg);
	o = json_object();
	json_object_set_new(o, "ruleArn", json_string(arn));
	json_object_set_new(o, "rule", rules_topic_rule(call->arg, payload,
	    reply->element[1]->str, reply->element[2]->str));
	json_decref(payload);
	admin_reply(call, o);
}

static void
op_get_topic_rule(struct admin_call *call)
{
	char key[KEY_MAX];

	if (!rules_arg_name(call))
		return;
	broker_registry_key(key, "rule", call->arg);
	admin_eval(call, script_get_rule, 1, 2, (const char *[]){key,
	    call->arg}, rules_got);
}

/* ---- recent errors (not AWS's: the web console's) ---- */

/* KEYS: rule, its errors; ARGV: name.  strata-rulesd writes the errors
 * (rulesd/run.c, at most one a second per rule and instance, the last
 * 20 kept). */
static const char script_rule_errors[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply("
    "  'Unauthorized rule ' .. ARGV[1] .. ' does not exist') end "
    "return redis.call('LRANGE', KEYS[2], 0, -1)";

static void
rules_errors_listed(struct admin_call *call, redisReply *reply)
{
	json_t *errors = json_array(), *e;

	for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY &&
	     i < reply->elements; i++) {
		redisReply *r = reply->element[i];

		e = r->type == REDIS_REPLY_STRING ? json_loadb(r->str, r->len,
		    0, NULL) : NULL;
		if (json_is_object(e))
			json_array_append(errors, e);
		json_decref(e);
	}
	admin_reply(call, json_pack("{s:o}", "errors", errors));
}

/* ListTopicRuleErrors: GET /strata/rules/{ruleName}/errors (**differs**: AWS
 * shows a rule's errors in CloudWatch, not through this API). */
static void
op_list_topic_rule_errors(struct admin_call *call)
{
	char key[KEY_MAX], errors[KEY_MAX];

	if (!rules_arg_name(call))
		return;
	broker_registry_key(key, "rule", call->arg);
	snprintf(errors, sizeof(errors), "strata:rule-errors:{%s}",
	    call->arg);
	admin_eval(call, script_rule_errors, 2, 3, (const char *[]){key,
	    errors, call->arg}, rules_errors_listed);
}

/* ---- list ---- */

/*
 * KEYS: index; ARGV: the name after which to start ("": the first).
 * Answers {name, created, disabled, topic} of every rule after it, in
 * name order (the index is a sorted set of score 0: ZRANGEBYLEX).  The
 * filters and the page are cut in C: rules are few (AWS allows 1000 an
 * account), and topic matching is MQTT's, which C has.
 */
static const char script_list_rules[] =
    "local from = '-' "
    "if ARGV[1] ~= '' then from = '(' .. ARGV[1] end "
    "local out = {} "
    "for _, n in ipairs(redis.call('ZRANGEBYLEX', KEYS[1], from, '+')) do "
    "  local r = redis.call('HMGET', 'strata:rule:{' .. n .. '}', "
    "    'created', 'disabled', 'topic') "
    "  if r[1] and r[2] and r[3] then "
    "    out[#out + 1] = {n, r[1], r[2], r[3]} end "
    "end return out";

/* The query of a ListTopicRules, checked. */
struct rules_list_query {
	long max_results;
	int disabled;          /* -1: either, else 0 / 1 */
	const char *topic;     /* NULL: any */
};

static bool
rules_list_query(struct admin_call *call, struct rules_list_query *q)
{
	const char *max = admin_query(call, "maxResults");
	const char *dis = admin_query(call, "ruleDisabled");
	const char *token = admin_query(call, "nextToken");
	char *end;

	q->max_results = RULES_MAX_RESULTS;
	q->disabled = -1;
	q->topic = admin_query(call, "topic");
	if (max != NULL) {
		q->max_results = strtol(max, &end, 10);
		if (*max == '\0' || *end != '\0' || q->max_results < 1 ||
		    q->max_results > RULES_MAX_RESULTS) {
			admin_error(call, 400, "InvalidRequestException",
			    "maxResults", "maxResults must be an integer from "
			    "1 to %d", RULES_MAX_RESULTS);
			return false;
		}
	}
	if (dis != NULL && strcmp(dis, "true") != 0 &&
	    strcmp(dis, "false") != 0) {
		admin_error(call, 400, "InvalidRequestException",
		    "ruleDisabled", "ruleDisabled must be true or false");
		return false;
	}
	if (dis != NULL)
		q->disabled = strcmp(dis, "true") == 0;
	if (token != NULL && !strata_rule_name_valid(token, strlen(token))) {
		admin_error(call, 400, "InvalidRequestException", "nextToken",
		    "nextToken is not one this API gave");
		return false;
	}
	return true;
}

/* Does a rule of topic pattern (its FROM filter) apply to topic: the
 * same filter, or a topic name it matches? */
static bool
rules_topic_applies(const char *pattern, const char *topic)
{
	return strcmp(pattern, topic) == 0 || strata_topic_match(
	    (const uint8_t *)pattern, strlen(pattern),
	    (const uint8_t *)topic, strlen(topic));
}

static bool
rules_listed_match(const struct rules_list_query *q, redisReply **f)
{
	if (q->disabled >= 0 && (strcmp(f[2]->str, "1") == 0) !=
	    (q->disabled == 1))
		return false;
	return q->topic == NULL || rules_topic_applies(f[3]->str, q->topic);
}

static json_t *
rules_list_item(struct admin_call *call, redisReply **f)
{
	json_t *o = json_object();
	char arn[400];

	rules_arn(call, arn, sizeof(arn), f[0]->str);
	json_object_set_new(o, "ruleArn", json_string(arn));
	json_object_set_new(o, "ruleName", json_string(f[0]->str));
	json_object_set_new(o, "topicPattern", json_string(f[3]->str));
	json_object_set_new(o, "createdAt",
	    json_integer(strtoll(f[1]->str, NULL, 10)));
	json_object_set_new(o, "ruleDisabled",
	    json_boolean(strcmp(f[2]->str, "1") == 0));
	return o;
}

static void
rules_listed(struct admin_call *call, redisReply *reply)
{
	const struct rules_list_query *q = call->state;
	json_t *rules = json_array(), *o = json_object();
	const char *last = NULL;
	size_t i;

	for (i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements;
	     i++) {
		redisReply *r = reply->element[i];

		if (!strata_redis_is_strings(r, 4) || !rules_listed_match(q,
		    r->element))
			continue;
		if (json_array_size(rules) == (size_t)q->max_results)
			break;
		json_array_append_new(rules, rules_list_item(call,
		    r->element));
		last = r->element[0]->str;
	}
	json_object_set_new(o, "rules", rules);
	if (reply->type == REDIS_REPLY_ARRAY && i < reply->elements &&
	    last != NULL)
		json_object_set_new(o, "nextToken", json_string(last));
	admin_reply(call, o);
}

static void
op_list_topic_rules(struct admin_call *call)
{
	struct rules_list_query *q = calloc(1, sizeof(*q));
	const char *token = admin_query(call, "nextToken");

	if (q == NULL)
		abort();
	call->state = q;   /* freed with the call; its topic is the query's */
	if (!rules_list_query(call, q))
		return;
	admin_eval(call, script_list_rules, 1, 2, (const char *[]){
	    RULES_INDEX, token != NULL ? token : ""}, rules_listed);
}

/* ---- delete, enable, disable ---- */

/* KEYS: rule, index; ARGV: name */
static const char script_delete_rule[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply("
    "  'Unauthorized rule ' .. ARGV[1] .. ' does not exist') end "
    "redis.call('DEL', KEYS[1]) redis.call('ZREM', KEYS[2], ARGV[1]) "
    "redis.call('PUBLISH', 'strata:rules', ARGV[1]) "
    "return 1";

/* KEYS: rule; ARGV: name, disabled 1/0 */
static const char script_set_disabled[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply("
    "  'Unauthorized rule ' .. ARGV[1] .. ' does not exist') end "
    "redis.call('HSET', KEYS[1], 'disabled', ARGV[2]) "
    "redis.call('PUBLISH', 'strata:rules', ARGV[1]) "
    "return 1";

static void
op_delete_topic_rule(struct admin_call *call)
{
	char key[KEY_MAX];

	if (!rules_arg_name(call))
		return;
	broker_registry_key(key, "rule", call->arg);
	admin_eval(call, script_delete_rule, 2, 3, (const char *[]){key,
	    RULES_INDEX, call->arg}, rules_done_empty);
}

static void
rules_set_disabled(struct admin_call *call, bool disabled)
{
	char key[KEY_MAX];

	if (!rules_arg_name(call))
		return;
	broker_registry_key(key, "rule", call->arg);
	admin_eval(call, script_set_disabled, 1, 3, (const char *[]){key,
	    call->arg, disabled ? "1" : "0"}, rules_done_empty);
}

static void
op_enable_topic_rule(struct admin_call *call)
{
	rules_set_disabled(call, false);
}

static void
op_disable_topic_rule(struct admin_call *call)
{
	rules_set_disabled(call, true);
}

const struct admin_route admin_rule_routes[] = {
	{EVHTTP_REQ_GET, "rules", "ListTopicRules",
	    "iot:ListTopicRules", ADMIN_RES_ANY, op_list_topic_rules},
	{EVHTTP_REQ_POST, "rules/*", "CreateTopicRule",
	    "iot:CreateTopicRule", ADMIN_RES_RULE, op_create_topic_rule},
	{EVHTTP_REQ_GET, "rules/*", "GetTopicRule",
	    "iot:GetTopicRule", ADMIN_RES_RULE, op_get_topic_rule},
	{EVHTTP_REQ_PATCH, "rules/*", "ReplaceTopicRule",
	    "iot:ReplaceTopicRule", ADMIN_RES_RULE, op_replace_topic_rule},
	{EVHTTP_REQ_DELETE, "rules/*", "DeleteTopicRule",
	    "iot:DeleteTopicRule", ADMIN_RES_RULE, op_delete_topic_rule},
	{EVHTTP_REQ_POST, "rules/*/enable", "EnableTopicRule",
	    "iot:EnableTopicRule", ADMIN_RES_RULE, op_enable_topic_rule},
	{EVHTTP_REQ_POST, "rules/*/disable", "DisableTopicRule",
	    "iot:DisableTopicRule", ADMIN_RES_RULE, op_disable_topic_rule},
	{EVHTTP_REQ_GET, "strata/rules/*/errors", "ListTopicRuleErrors",
	    "iot:ListTopicRuleErrors", ADMIN_RES_RULE,
	    op_list_topic_rule_errors},
	{0, NULL, NULL, NULL, 0, NULL},
};
