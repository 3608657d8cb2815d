/*
 * run.c - one message through the rules it was delivered for.
 *
 * A PUBLISH from the core carries the subscription identifiers of the
 * rules whose share group picked this rulesd.  For each rule:
 *   the rule (by identifier; none: counted, skipped) -> the input (the
 *   topic, Basic Ingest's without "$aws/rules/<rule>/"; a trace id) ->
 *   (a rule calling get_thing_shadow(): the shadows read first) ->
 *   strata_sql_eval: WHERE not true or an error ends it (counted) ->
 *   the output as the actions' body (compact JSON, or the raw payload of
 *   SELECT * on one that is not JSON) -> every action at once:
 *     republish: topic rendered; a topic the rule's own FROM matches is
 *       refused (a loop); else published through the session, with the
 *       rendered MQTT 5 properties;
 *     http, redis, kafka, file: fields rendered, the job handed to the
 *       sinks (sink.c), which call back once done
 *   -> when every action is done and one failed: the errorAction, with
 *   AWS's error payload ({"ruleName", "topic", "cloudwatchTraceId",
 *   "clientId", "base64OriginalPayload", "failures": [{"failedAction",
 *   "failedResource", "errorMessage"}]}).
 * The PUBLISH is acknowledged once every rule has evaluated it and handed
 * its actions over (not when the targets answer: a slow target holds its
 * own queue, not the cluster's).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>


#include "base64.h"
#include "reader.h"
#include "rulesd.h"
#include "shadow.h"
#include "sink.h"
#include "topic.h"
#include "uuid.h"

/* One rule's run on one message, alive until its last action is done. */
struct run_rule {
	struct rulesd *rd;
	struct rulesd_rule *r;           /* referenced */
	char *topic;                     /* as the rule sees it */
	uint8_t *payload;
	size_t len;
	struct strata_sql_input in;
	char trace_id[37];
	char client_id[256];             /* clientid(): the publisher's */
	unsigned pending;                /* actions not done, + 1 while
					    starting them */
	json_t *failures;                /* [{failedAction, ...}] */
	bool is_error_action;
};

static uint64_t
run_now_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

static void
run_rule_free(struct run_rule *rr)
{
	rulesd_rule_unref(rr->r);
	json_decref(rr->failures);
	free(rr->topic);
	free(rr->payload);
	free(rr);
}

/* ---- recent errors ---- */

#define RUN_ERRORS_KEPT "19"         /* LTRIM's last index: 20 kept */
#define RUN_ERRORS_TTL "604800"      /* a week after the last one */

/*
 * strata:rule-errors:{<rule>}: the rule's last 20 errors, newest first,
 * each {"time" (ms), "node", "kind" (evaluation, action, errorAction),
 * "topic", "action"?, "resource"?, "message"}, for the web console
 * (ListTopicRuleErrors, docs/internals/console.md).  At most one a
 * second per rule and instance is written: a failing target at full
 * rate costs Redis one write a second, the counters count them all.
 */
static void
run_record_error(struct run_rule *rr, const char *kind, const char *action,
    const char *resource, const char *message)
{
	struct rulesd_rule *r = rr->r;
	long long now_us = (long long)run_now_us();
	char key[STRATA_RULE_NAME_MAX + 40], *text;
	json_t *o;

	if (r->error_recorded == now_us / 1000000)
		return;
	r->error_recorded = now_us / 1000000;
	o = json_pack("{s:I, s:s, s:s, s:s, s:s}", "time",
	    (json_int_t)(now_us / 1000), "node", rr->rd->b->cfg.node_id,
	    "kind", kind, "topic", rr->topic, "message",
	    message != NULL ? message : "failed");
	if (o == NULL)
		abort();
	if (action != NULL)
		json_object_set_new(o, "action", json_string(action));
	if (resource != NULL)
		json_object_set_new(o, "resource", json_string(resource));
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (text == NULL)
		abort();
	snprintf(key, sizeof(key), "strata:rule-errors:{%s}", r->name);
	strata_redis_command(rr->rd->b->redis, NULL, NULL, "LPUSH %s %s", key,
	    text);
	strata_redis_command(rr->rd->b->redis, NULL, NULL, "LTRIM %s 0 "
	    RUN_ERRORS_KEPT, key);
	strata_redis_command(rr->rd->b->redis, NULL, NULL, "EXPIRE %s "
	    RUN_ERRORS_TTL, key);
	free(text);
}

/* ---- action results ---- */

static void run_action(struct run_rule *rr,
    const struct strata_rule_action *a, const uint8_t *body, size_t len);

/* AWS's names of the failed action in the error payload. */
static const char *
run_action_name(enum strata_rule_action_kind kind)
{
	switch (kind) {
	case STRATA_RULE_REPUBLISH: return "RepublishAction";
	case STRATA_RULE_HTTP: return "HttpAction";
	case STRATA_RULE_REDIS: return "RedisAction";
	case STRATA_RULE_KAFKA: return "KafkaAction";
	default: return "FileAction";
	}
}

static void
run_failure(struct run_rule *rr, enum strata_rule_action_kind kind,
    const char *resource, const char *error)
{
	json_t *f = json_object();

	(*rr->r->m->actions_failed)++;
	json_object_set_new(f, "failedAction",
	    json_string(run_action_name(kind)));
	json_object_set_new(f, "failedResource",
	    json_string(resource != NULL ? resource : ""));
	json_object_set_new(f, "errorMessage",
	    json_string(error != NULL ? error : "failed"));
	json_array_append_new(rr->failures, f);
	run_record_error(rr, rr->is_error_action ? "errorAction" : "action",
	    run_action_name(kind), resource, error);
	STRATA_WARN(RULESD_COMP, "action failed|rule=%s action=%s%s "
	    "resource=\"%s\" error=\"%s\"", rr->r->name,
	    run_action_name(kind), rr->is_error_action ? " (errorAction)" :
	    "", resource != NULL ? resource : "", error != NULL ? error : "");
}

/* AWS's error action payload for rr's failures. */
static char *
run_error_payload(const struct run_rule *rr)
{
	json_t *doc = json_object();
	char *b64 = strata_base64(rr->payload, rr->len), *text;

	json_object_set_new(doc, "ruleName", json_string(rr->r->name));
	json_object_set_new(doc, "topic", json_string(rr->topic));
	json_object_set_new(doc, "cloudwatchTraceId",
	    json_string(rr->trace_id));
	json_object_set_new(doc, "clientId", json_string(rr->in.client_id));
	json_object_set_new(doc, "base64OriginalPayload", json_string(b64));
	json_object_set(doc, "failures", rr->failures);
	text = json_dumps(doc, JSON_COMPACT);
	if (text == NULL)
		abort();
	json_decref(doc);
	free(b64);
	return text;
}

/* One action of rr is done: the last one runs the errorAction when
 * another failed, or frees rr. */
static void
run_rule_done(struct run_rule *rr)
{
	const struct strata_rule_action *ea = rr->r->rule->error_action;
	char *payload;

	if (--rr->pending > 0)
		return;
	if (json_array_size(rr->failures) > 0 && ea != NULL &&
	    !rr->is_error_action && !rr->rd->b->stopping) {
		(*rr->r->m->error_actions)++;
		payload = run_error_payload(rr);
		rr->is_error_action = true;
		json_array_clear(rr->failures);
		rr->pending = 1;
		run_action(rr, ea, (const uint8_t *)payload, strlen(payload));
		free(payload);
		run_rule_done(rr);
		return;
	}
	run_rule_free(rr);
}

/* A sink's answer on one job. */
struct run_job_ctx {
	struct run_rule *rr;
	enum strata_rule_action_kind kind;
};

static void
run_job_done(void *arg, bool ok, const char *error, const char *resource)
{
	struct run_job_ctx *ctx = arg;
	struct run_rule *rr = ctx->rr;

	if (ok)
		(*rr->r->m->actions_ok)++;
	else
		run_failure(rr, ctx->kind, resource, error);
	free(ctx);
	run_rule_done(rr);
}

/* ---- rendering ---- */

/* t rendered against rr's message into *out (NULL template: *out NULL);
 * false (and the failure noted) when it fails. */
static bool
run_render(struct run_rule *rr, const struct strata_rule_action *a,
    const struct strata_sql_template *t, char **out)
{
	struct strata_sql_error err;

	*out = NULL;
	if (t == NULL)
		return true;
	*out = strata_sql_template_render(t, &rr->in, NULL, &err);
	if (*out != NULL)
		return true;
	run_failure(rr, a->kind, "", err.message);
	return false;
}

/* ---- republish ---- */

/* The user property entries of the headers: a property block's bytes
 * (0x26, key, value, each string with its 2-byte length). */
static bool
run_user_props(struct run_rule *rr, const struct strata_rule_action *a,
    struct strata_mqtt_props *p, uint8_t **block)
{
	size_t n = 0;
	uint8_t *b = NULL;

	for (size_t i = 0; i < a->n_pairs; i++) {
		char *k, *v;
		size_t kl, vl;

		if (!run_render(rr, a, a->pairs[i].key, &k) ||
		    !run_render(rr, a, a->pairs[i].value, &v)) {
			free(k);
			free(b);
			return false;
		}
		kl = strlen(k) > 65535 ? 65535 : strlen(k);
		vl = strlen(v) > 65535 ? 65535 : strlen(v);
		if ((b = realloc(b, n + 5 + kl + vl)) == NULL)
			abort();
		b[n++] = STRATA_PROP_USER_PROPERTY;
		b[n++] = (uint8_t)(kl >> 8);
		b[n++] = (uint8_t)kl;
		memcpy(b + n, k, kl);
		n += kl;
		b[n++] = (uint8_t)(vl >> 8);
		b[n++] = (uint8_t)vl;
		memcpy(b + n, v, vl);
		n += vl;
		free(k);
		free(v);
	}
	p->user_src = (struct strata_bytes){b, n};
	p->n_user_props = (uint32_t)a->n_pairs;
	*block = b;
	return true;
}

/* A decimal header value into *v (hi its maximum). */
static bool
run_number(const char *s, uint32_t hi, uint32_t *v)
{
	char *end;
	unsigned long n = strtoul(s, &end, 10);

	if (*s == '\0' || *end != '\0' || n > hi)
		return false;
	*v = (uint32_t)n;
	return true;
}

/* The republish headers as MQTT 5 properties; strings kept in hold[]
 * and block (the caller frees them). */
static bool
run_republish_props(struct run_rule *rr, const struct strata_rule_action *a,
    struct strata_mqtt_props *p, char *hold[5], uint8_t **block)
{
	uint32_t v;

	if (!run_render(rr, a, a->content_type, &hold[0]) ||
	    !run_render(rr, a, a->response_topic, &hold[1]) ||
	    !run_render(rr, a, a->correlation_data, &hold[2]) ||
	    !run_render(rr, a, a->message_expiry, &hold[3]) ||
	    !run_render(rr, a, a->payload_format, &hold[4]))
		return false;
	if (hold[0] != NULL) {
		p->present |= STRATA_PROP_BIT(STRATA_PROP_CONTENT_TYPE);
		p->content_type = (struct strata_bytes){
		    (const uint8_t *)hold[0], strlen(hold[0])};
	}
	if (hold[1] != NULL) {
		p->present |= STRATA_PROP_BIT(STRATA_PROP_RESPONSE_TOPIC);
		p->response_topic = (struct strata_bytes){
		    (const uint8_t *)hold[1], strlen(hold[1])};
	}
	if (hold[2] != NULL) {
		p->present |= STRATA_PROP_BIT(STRATA_PROP_CORRELATION_DATA);
		p->correlation_data = (struct strata_bytes){
		    (const uint8_t *)hold[2], strlen(hold[2])};
	}
	if (hold[3] != NULL) {
		if (!run_number(hold[3], UINT32_MAX, &v)) {
			run_failure(rr, a->kind, "", "messageExpiry is not "
			    "a number of seconds");
			return false;
		}
		p->present |= STRATA_PROP_BIT(STRATA_PROP_MESSAGE_EXPIRY);
		p->message_expiry = v;
	}
	if (hold[4] != NULL) {
		if (!run_number(hold[4], 1, &v)) {
			run_failure(rr, a->kind, "", "payloadFormatIndicator "
			    "must be 0 or 1");
			return false;
		}
		p->present |= STRATA_PROP_BIT(STRATA_PROP_PAYLOAD_FORMAT);
		p->payload_format = (uint8_t)v;
	}
	return run_user_props(rr, a, p, block);
}

/* A republish to a topic the rule's own FROM matches would feed the rule
 * its own output without end: refused. */
static bool
run_is_loop(const struct run_rule *rr, const char *topic)
{
	const char *from = strata_sql_from(rr->r->rule->sql);

	return strata_topic_match((const uint8_t *)from, strlen(from),
	    (const uint8_t *)topic, strlen(topic));
}

static void
run_republish(struct run_rule *rr, const struct strata_rule_action *a,
    const uint8_t *body, size_t len)
{
	struct strata_mqtt_props props;
	struct broker_insession_msg m = {.payload = body, .len = len,
	    .qos = a->qos, .retain = a->retain, .props = &props};
	char *topic = NULL, *hold[5] = {NULL};
	uint8_t *block = NULL;

	memset(&props, 0, sizeof(props));
	if (rr->rd->session == NULL) {
		run_failure(rr, a->kind, "", "shutting down");
		return;
	}
	if (!run_render(rr, a, a->topic, &topic) ||
	    !run_republish_props(rr, a, &props, hold, &block))
		goto out;
	if (strata_topic_name_check((const uint8_t *)topic, strlen(topic)) != 0) {
		run_failure(rr, a->kind, topic, "the topic is not a valid "
		    "MQTT topic name");
		goto out;
	}
	if (run_is_loop(rr, topic)) {
		(*rr->rd->m_loops)++;
		run_failure(rr, a->kind, topic, "republish loop refused: the "
		    "rule's own FROM filter matches the topic");
		goto out;
	}
	m.topic = topic;
	broker_insession_publish(rr->rd->session, &m);
	(*rr->r->m->actions_ok)++;
out:
	free(topic);
	for (int i = 0; i < 5; i++)
		free(hold[i]);
	free(block);
}

/* ---- the sinks ---- */

/* The http / kafka headers, rendered into the job. */
static bool
run_sink_headers(struct run_rule *rr, const struct strata_rule_action *a,
    struct rulesd_job *job)
{
	if (a->n_pairs == 0 || a->kind == STRATA_RULE_REPUBLISH)
		return true;
	job->header_keys = calloc(a->n_pairs, sizeof(char *));
	job->header_values = calloc(a->n_pairs, sizeof(char *));
	if (job->header_keys == NULL || job->header_values == NULL)
		abort();
	for (size_t i = 0; i < a->n_pairs; i++) {
		job->n_headers++;
		if (!run_render(rr, a, a->pairs[i].key,
		    &job->header_keys[i]) || !run_render(rr, a,
		    a->pairs[i].value, &job->header_values[i]))
			return false;
	}
	return true;
}

/* An http action posts only where an ENABLED topic rule destination
 * covers its url (dest.c); false with the failure noted. */
static bool
run_destination(struct run_rule *rr, const struct strata_rule_action *a,
    const struct rulesd_job *job)
{
	char err[600];

	if (a->kind != STRATA_RULE_HTTP || rulesd_dests_allow(rr->rd,
	    job->target, err, sizeof(err)))
		return true;
	run_failure(rr, a->kind, job->target, err);
	return false;
}

static void
run_sink(struct run_rule *rr, const struct strata_rule_action *a,
    const uint8_t *body, size_t len)
{
	struct rulesd_job *job = rulesd_job_new();
	struct run_job_ctx *ctx = calloc(1, sizeof(*ctx));
	const struct strata_sql_template *target = a->kind ==
	    STRATA_RULE_HTTP ? a->url : a->kind == STRATA_RULE_REDIS ?
	    a->key : a->kind == STRATA_RULE_KAFKA ? a->topic : NULL;
	const struct strata_sql_template *field = a->kind ==
	    STRATA_RULE_REDIS ? a->field : a->kind == STRATA_RULE_KAFKA ?
	    a->key : NULL;

	if (ctx == NULL)
		abort();
	if (!run_render(rr, a, target, &job->target) ||
	    !run_render(rr, a, field, &job->field) ||
	    !run_render(rr, a, a->partition, &job->partition) ||
	    !run_sink_headers(rr, a, job) || !run_destination(rr, a, job)) {
		rulesd_job_free(job);
		free(ctx);
		return;
	}
	job->action = a;
	job->rule_name = strdup(rr->r->name);
	job->body = malloc(len + 1);
	if (job->rule_name == NULL || job->body == NULL)
		abort();
	memcpy(job->body, body, len);
	job->body_len = len;
	ctx->rr = rr;
	ctx->kind = a->kind;
	rr->pending++;
	rulesd_sinks_submit(rr->rd->sinks, job, run_job_done, ctx);
}

static void
run_action(struct run_rule *rr, const struct strata_rule_action *a,
    const uint8_t *body, size_t len)
{
	if (a->kind == STRATA_RULE_REPUBLISH)
		run_republish(rr, a, body, len);
	else
		run_sink(rr, a, body, len);
}

/* ---- one rule, one message ---- */

/* The topic the rule sees: Basic Ingest's without its prefix. */
static char *
run_rule_topic(const char *rule, const char *topic, size_t len)
{
	char prefix[STRATA_RULE_NAME_MAX + 16];
	size_t n = (size_t)snprintf(prefix, sizeof(prefix), "$aws/rules/%s",
	    rule);
	const char *t = topic;

	if (len >= n && memcmp(topic, prefix, n) == 0 &&
	    (len == n || topic[n] == '/')) {
		t = len == n ? topic + n : topic + n + 1;
		len -= (size_t)(t - topic);
	}
	return strndup(t, len);
}

/* The publisher's client id the core adds for in-process sessions
 * (BROKER_ORIGIN_PROPERTY), into out; "" when absent. */
static void
run_client_id(const struct strata_mqtt_props *props, char *out, size_t cap)
{
	struct strata_reader it = strata_reader_init(props->user_src.p,
	    props->user_src.len);
	struct strata_bytes k, v;
	size_t kl = sizeof(BROKER_ORIGIN_PROPERTY) - 1;

	out[0] = '\0';
	while (strata_mqtt_user_next(&it, &k, &v) == 0)
		if (k.len == kl && memcmp(k.p, BROKER_ORIGIN_PROPERTY, kl) == 0) {
			snprintf(out, cap, "%.*s", (int)v.len,
			    (const char *)v.p);
			return;
		}
}

/* ---- get_thing_shadow() ---- */

/*
 * A rule that calls get_thing_shadow() is evaluated twice: a first pass
 * records the shadows it asks for (the callback answers Undefined), they
 * are read from Redis (the stored documents of strata-shadowd, as
 * get/accepted shows them), and the second pass gets them.  A shadow asked
 * for only in the second pass (its name came from another shadow) is
 * Undefined.
 */
#define RUN_SHADOWS_MAX 4

struct run_shadow {
	char thing[129];
	char name[65];
	json_t *doc;                     /* get/accepted, or NULL */
};

/* The message's place in the session: acknowledged when its last rule
 * has evaluated. */
struct run_msg {
	struct rulesd *rd;
	unsigned generation;
	uint16_t packet_id;
	unsigned pending;
};

struct run_eval {
	struct run_rule *rr;
	struct run_msg *msg;
	uint64_t t0;
	struct run_shadow shadows[RUN_SHADOWS_MAX];
	size_t n_shadows;
	size_t waiting;                  /* Redis replies still to come */
};

static void
run_msg_done(struct run_msg *msg)
{
	if (--msg->pending > 0)
		return;
	if (msg->rd->session != NULL)
		broker_insession_ack(msg->rd->session, msg->generation,
		    msg->packet_id);
	free(msg);
}

static json_t *
run_shadow_record(void *arg, const char *thing, const char *name)
{
	struct run_eval *ev = arg;

	for (size_t i = 0; i < ev->n_shadows; i++)
		if (strcmp(ev->shadows[i].thing, thing) == 0 &&
		    strcmp(ev->shadows[i].name, name != NULL ? name : "") == 0)
			return NULL;
	if (ev->n_shadows < RUN_SHADOWS_MAX &&
	    strlen(thing) < sizeof(ev->shadows[0].thing) &&
	    (name == NULL || strlen(name) < sizeof(ev->shadows[0].name))) {
		struct run_shadow *sh = &ev->shadows[ev->n_shadows++];

		snprintf(sh->thing, sizeof(sh->thing), "%s", thing);
		snprintf(sh->name, sizeof(sh->name), "%s", name ? name : "");
	}
	return NULL;
}

static json_t *
run_shadow_answer(void *arg, const char *thing, const char *name)
{
	struct run_eval *ev = arg;

	for (size_t i = 0; i < ev->n_shadows; i++)
		if (strcmp(ev->shadows[i].thing, thing) == 0 &&
		    strcmp(ev->shadows[i].name, name != NULL ? name : "") ==
		    0 && ev->shadows[i].doc != NULL)
			return json_incref(ev->shadows[i].doc);
	return NULL;
}

static bool
run_uses_shadows(const struct strata_rule *rule)
{
	return strcasestr(rule->sql_text, "get_thing_shadow") != NULL;
}

static void run_eval_finish(struct run_eval *ev);

struct run_shadow_read {
	struct run_eval *ev;
	struct run_shadow *sh;
};

static void
run_shadow_got(struct strata_redis *redis, redisReply *reply, void *arg)
{
	struct run_shadow_read *rd = arg;
	struct run_eval *ev = rd->ev;
	struct strata_shadow_error err;
	json_t *stored;

	if (reply != NULL && reply->type == REDIS_REPLY_STRING &&
	    (stored = json_loadb(reply->str, reply->len, 0, NULL)) != NULL) {
		rd->sh->doc = strata_shadow_get(stored, NULL,
		    (long long)time(NULL), &err);
		json_decref(stored);
	}
	free(rd);
	if (--ev->waiting == 0)
		run_eval_finish(ev);
}

static void
run_shadows_fetch(struct run_eval *ev)
{
	struct strata_redis *redis = ev->rr->rd->b->redis;

	ev->waiting = ev->n_shadows;
	for (size_t i = 0; i < ev->n_shadows; i++) {
		struct run_shadow_read *rd = calloc(1, sizeof(*rd));
		char key[BROKER_REGISTRY_KEY_MAX], full[BROKER_REGISTRY_KEY_MAX +
		    80];
		const char *v[] = {"HGET", full, "doc"};
		size_t len[3];

		if (rd == NULL)
			abort();
		rd->ev = ev;
		rd->sh = &ev->shadows[i];
		broker_registry_key(key, "shadow", rd->sh->thing);
		snprintf(full, sizeof(full), "%s:%s", key, rd->sh->name);
		for (int k = 0; k < 3; k++)
			len[k] = strlen(v[k]);
		strata_redis_commandv(redis, run_shadow_got, rd, 3, v, len);
	}
}

/* ---- one rule, one message ---- */

/* The evaluation (its shadows read, if any): actions or nothing. */
static void
run_eval_finish(struct run_eval *ev)
{
	struct run_rule *rr = ev->rr;
	struct rulesd_rule *r = rr->r;
	struct strata_sql_output out = {0};
	struct strata_sql_error err;
	enum strata_sql_result res;
	char *text = NULL;

	rr->in.get_thing_shadow = run_shadow_answer;
	rr->in.arg = ev;
	res = strata_sql_eval(r->rule->sql, &rr->in, &out, &err);
	*r->m->eval_us += run_now_us() - ev->t0;
	for (size_t i = 0; i < ev->n_shadows; i++)
		json_decref(ev->shadows[i].doc);
	run_msg_done(ev->msg);
	free(ev);
	rr->in.get_thing_shadow = NULL;
	if (res != STRATA_SQL_SELECTED) {
		if (res == STRATA_SQL_FAILED) {
			(*r->m->eval_failed)++;
			run_record_error(rr, "evaluation", NULL, NULL,
			    err.message);
			STRATA_WARN(RULESD_COMP, "evaluation failed|rule=%s "
			    "topic=%s error=\"%s\"", r->name, rr->topic,
			    err.message);
		} else {
			(*r->m->filtered)++;
		}
		run_rule_free(rr);
		return;
	}
	(*r->m->selected)++;
	if (out.doc != NULL && (text = json_dumps(out.doc, JSON_COMPACT |
	    JSON_ENCODE_ANY)) == NULL)
		abort();
	rr->pending = 1;
	for (size_t i = 0; i < r->rule->n_actions; i++)
		run_action(rr, &r->rule->actions[i],
		    text != NULL ? (const uint8_t *)text : out.raw,
		    text != NULL ? strlen(text) : out.raw_len);
	free(text);
	strata_sql_output_clear(&out);
	run_rule_done(rr);
}

/* A first pass that only notes the shadows the rule asks for. */
static void
run_eval_shadows(struct run_eval *ev)
{
	struct strata_sql_output out = {0};
	struct run_rule *rr = ev->rr;

	rr->in.get_thing_shadow = run_shadow_record;
	rr->in.arg = ev;
	(void)strata_sql_eval(rr->r->rule->sql, &rr->in, &out, NULL);
	strata_sql_output_clear(&out);
	if (ev->n_shadows == 0 || rr->rd->b->stopping) {
		run_eval_finish(ev);
		return;
	}
	run_shadows_fetch(ev);
}

static void
run_one(struct rulesd *rd, struct rulesd_rule *r,
    const struct strata_mqtt_packet *p, int64_t now_ms,
    struct run_msg *msg)
{
	const struct strata_mqtt_publish *pub = &p->u.publish;
	struct run_rule *rr = calloc(1, sizeof(*rr));
	struct run_eval *ev = calloc(1, sizeof(*ev));

	if (rr == NULL || ev == NULL)
		abort();
	rr->rd = rd;
	rr->r = r;
	rr->topic = run_rule_topic(r->name, (const char *)pub->topic.p,
	    pub->topic.len);
	rr->payload = malloc(pub->payload.len + 1);
	rr->failures = json_array();
	if (rr->topic == NULL || rr->payload == NULL || rr->failures == NULL)
		abort();
	memcpy(rr->payload, pub->payload.p, pub->payload.len);
	rr->len = pub->payload.len;
	strata_uuid4(rr->trace_id);
	run_client_id(&p->props, rr->client_id, sizeof(rr->client_id));
	rr->in = (struct strata_sql_input){.topic = rr->topic,
	    .topic_len = strlen(rr->topic), .payload = rr->payload,
	    .payload_len = rr->len, .client_id = rr->client_id,
	    .principal = "",
	    .timestamp_ms = now_ms, .trace_id = rr->trace_id};
	(*r->m->matched)++;
	ev->rr = rr;
	ev->msg = msg;
	ev->t0 = run_now_us();
	msg->pending++;
	if (r->rule == NULL) {
		(*r->m->filtered)++;
		run_msg_done(msg);
		free(ev);
		run_rule_free(rr);
	} else if (run_uses_shadows(r->rule)) {
		run_eval_shadows(ev);
	} else {
		run_eval_finish(ev);
	}
}

void
rulesd_message(struct rulesd *rd, const struct strata_mqtt_packet *p,
    unsigned generation)
{
	const struct strata_mqtt_publish *pub = &p->u.publish;
	struct run_msg *msg = calloc(1, sizeof(*msg));
	struct timeval tv;
	int64_t now_ms;

	if (msg == NULL)
		abort();
	msg->rd = rd;
	msg->generation = generation;
	msg->packet_id = pub->packet_id;
	msg->pending = 1;   /* until every rule has started */
	gettimeofday(&tv, NULL);
	now_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
	for (uint8_t i = 0; i < p->props.n_sub_ids; i++) {
		struct rulesd_rule *r = rulesd_rule_get(rd, p->props.sub_ids[i]);

		if (r == NULL) {
			(*rd->m_unknown_sub)++;
			continue;
		}
		run_one(rd, r, p, now_ms, msg);
	}
	run_msg_done(msg);
}
