/*
 * dataplane.c - AWS IoT's data-plane HTTP API beside the Device Shadow
 * REST API, on both of shadowd's listeners (docs/internals/data-plane.md):
 *
 *   POST /topics/TOPIC[?qos=&retain=&contentType=&responseTopic=
 *                      &messageExpiry=]              Publish
 *   GET  /retainedMessage/TOPIC                       GetRetainedMessage
 *   GET  /retainedMessage[?maxResults=&nextToken=]    ListRetainedMessages
 *
 * A request runs: route -> method (405) -> query and headers
 * (common/dataplane.c; 400) -> topic (400; a reserved one 403) -> body
 * over max-payload (413) -> publishes in flight over max-inflight (429)
 * -> the caller: http-auth iam, an admin identity whose admin policies
 * allow the action (the admin guard answers 401/403/503); HTTPS, the
 * device certificate's IoT policies (401 refused, 403 denied, 503
 * registry down), iot:Publish and then, for retain=true,
 * iot:RetainPublish -> the operation -> 200 or an error in AWS's REST
 * shape ({"message"} and x-amzn-ErrorType).
 *
 * Publish, per request:
 *   CHECKED  -> QoS 0: handed to the internal session (its PUBLISH goes
 *               out at once): 200.
 *            -> QoS 1: WAITING for the core's PUBACK (the router has
 *               taken the message): reason < 0x80 -> 200; >= 0x80, or
 *               the session closed first (-1) -> 503.
 *   A client gone while WAITING: the answer is dropped (the call is
 *   freed by the done callback, which always comes).
 *
 * ListRetainedMessages scans the hashes strata:retained:0..1023 in
 * order, one HSCAN at a time, until the page holds maxResults or the
 * last partition is done; the page token says where it stopped
 * (partition, the cursor of that batch, entries of it already listed).
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "base64.h"
#include "http-t.h"
#include "lifecycle.h"
#include "retained_value.h"
#include "topic.h"
#include "uuid.h"

/* ListRetainedMessages: AWS's range; its default is not documented. */
#define DATAPLANE_PAGE_MAX 200
#define DATAPLANE_PAGE_DEFAULT 200
/* HSCAN COUNT: at least this many per round trip. */
#define DATAPLANE_SCAN_MIN 50

/* ---- answers ---- */

static void
dataplane_bad(struct http_call *call, const char *message)
{
	shadowd_http_fail(call, 400, "InvalidRequestException", message);
}

/* {"message": "OK", "traceId": a random UUID}, as AWS answers. */
static void
dataplane_ok(struct http_call *call)
{
	char id[STRATA_UUID_LEN + 1];
	json_t *body;

	strata_uuid4(id);
	body = json_pack("{s:s,s:s}", "message", "OK", "traceId", id);
	if (body == NULL)
		abort();
	shadowd_http_send(call, 200, body);
	json_decref(body);
}

/* ---- Publish ---- */

/* The core's PUBACK for a QoS 1 publish, or -1 (lost). */
static void
dataplane_published(void *arg, int reason)
{
	struct http_call *call = arg;
	char why[96];

	if (call->h != NULL) {
		call->h->sd->publishing--;
		if (reason >= 0 && reason < 0x80)
			(*call->h->sd->m.publishes[1])++;
	}
	call->publishing = false;
	if (reason >= 0 && reason < 0x80) {
		dataplane_ok(call);
		return;
	}
	if (reason < 0)
		snprintf(why, sizeof(why), "The message was not delivered; "
		    "publish it again");
	else
		snprintf(why, sizeof(why), "The message was not accepted "
		    "(reason 0x%02x)", reason);
	shadowd_http_fail(call, 503, "ServiceUnavailableException", why);
}

static void
dataplane_publish(struct http_call *call)
{
	struct shadowd *sd = call->h->sd;
	struct evbuffer *in = evhttp_request_get_input_buffer(call->req);
	size_t len = evbuffer_get_length(in);
	const uint8_t *payload = len > 0 ? evbuffer_pullup(in, -1) : NULL;
	struct broker_insession_msg m = {.topic = call->topic,
	    .payload = payload != NULL ? payload : (const uint8_t *)"",
	    .len = len, .qos = call->pub.qos, .retain = call->pub.retain,
	    .props = &call->pub.props};

	if (!shadowd_session_ready(sd)) {
		shadowd_http_fail(call, 503, "ServiceUnavailableException",
		    "The message broker is not available");
		return;
	}
	if (m.qos == 0) {
		shadowd_publish_msg(sd, &m);
		(*sd->m.publishes[0])++;
		dataplane_ok(call);
		return;
	}
	m.done = dataplane_published;
	m.done_arg = call;
	call->publishing = true;
	sd->publishing++;
	shadowd_publish_msg(sd, &m);
}

/* The query and headers of a publish, the body's size and format. */
static bool
dataplane_publish_check(struct http_call *call)
{
	const struct evkeyvalq *hdr = evhttp_request_get_input_headers(
	    call->req);
	const struct strata_dataplane_publish_request r = {
		.qos = evhttp_find_header(&call->query, "qos"),
		.retain = evhttp_find_header(&call->query, "retain"),
		.content_type = evhttp_find_header(&call->query, "contentType"),
		.response_topic = evhttp_find_header(&call->query,
		    "responseTopic"),
		.message_expiry = evhttp_find_header(&call->query,
		    "messageExpiry"),
		.user_properties = evhttp_find_header(hdr,
		    "x-amz-mqtt5-user-properties"),
		.correlation_data = evhttp_find_header(hdr,
		    "x-amz-mqtt5-correlation-data"),
		.payload_format = evhttp_find_header(hdr,
		    "x-amz-mqtt5-payload-format-indicator"),
	};
	struct evbuffer *in = evhttp_request_get_input_buffer(call->req);
	size_t len = evbuffer_get_length(in);
	struct shadowd *sd = call->h->sd;
	char err[128];

	if (strata_dataplane_publish_parse(&r, &call->pub, err,
	    sizeof(err)) != 0) {
		dataplane_bad(call, err);
		return false;
	}
	if (len > (size_t)sd->b->cfg.max_payload) {
		shadowd_http_fail(call, 413, "RequestEntityTooLargeException",
		    "The payload exceeds the maximum size allowed");
		return false;
	}
	if (call->pub.props.payload_format == 1 && len > 0 &&
	    !strata_utf8_valid(evbuffer_pullup(in, -1), len)) {
		dataplane_bad(call, "The payload is not UTF-8 "
		    "(payloadFormatIndicator UTF8_DATA)");
		return false;
	}
	if (sd->publishing >= sd->max_inflight) {
		shadowd_http_fail(call, 429, "ThrottlingException",
		    "Rate exceeded");
		return false;
	}
	return true;
}

/* ---- GetRetainedMessage ---- */

static json_t *
dataplane_retained_doc(const char *topic, const struct strata_retained_value *v)
{
	char *payload = strata_base64(v->payload, v->payload_len);
	char *user = strata_dataplane_user_props_json(v->props, v->props_len);
	json_t *doc = json_pack("{s:s,s:s,s:I,s:I}", "topic", topic,
	    "payload", payload, "qos", (json_int_t)v->qos,
	    "lastModifiedTime", (json_int_t)v->stored_at_ms);

	if (doc == NULL)
		abort();
	if (user != NULL)
		json_object_set_new(doc, "userProperties", json_string(user));
	free(payload);
	free(user);
	return doc;
}

static void
dataplane_got(struct strata_redis *redis, redisReply *reply, void *arg)
{
	struct http_call *call = arg;
	struct strata_retained_value v;
	json_t *doc;

	if (call->gone || reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		shadowd_http_fail(call, 503, "ServiceUnavailableException",
		    "The retained messages are not available");
		return;
	}
	if (reply->type == REDIS_REPLY_NIL) {
		shadowd_http_fail(call, 404, "ResourceNotFoundException",
		    "No retained message exists for this topic");
		return;
	}
	if (reply->type != REDIS_REPLY_STRING ||
	    strata_retained_value_decode((const uint8_t *)reply->str,
	    reply->len, &v) != 0) {
		STRATA_ERROR(SHADOWD_COMP, "retained message does not "
		    "decode|topic=%s", call->topic);
		shadowd_http_fail(call, 500, "InternalFailureException",
		    "Internal service failure");
		return;
	}
	doc = dataplane_retained_doc(call->topic, &v);
	strata_retained_value_release(&v);
	if (call->h != NULL)
		(*call->h->sd->m.retained_reads[0])++;
	shadowd_http_send(call, 200, doc);
	json_decref(doc);
}

static void
dataplane_get(struct http_call *call)
{
	struct strata_broker *b = call->h->sd->b;
	size_t tlen = strlen(call->topic);
	uint32_t p = strata_topic_partition((const uint8_t *)call->topic,
	    tlen, (unsigned)b->cfg.partition_levels);
	char key[48];
	const char *v[] = {"HGET", key, call->topic};
	size_t len[3];

	snprintf(key, sizeof(key), "strata:retained:%u", (unsigned)p);
	len[0] = 4;
	len[1] = strlen(key);
	len[2] = tlen;
	strata_redis_commandv(b->redis, dataplane_got, call, 3, v, len);
}

/* ---- ListRetainedMessages ---- */

static void dataplane_scan(struct http_call *call);

static void
dataplane_page_done(struct http_call *call, bool more)
{
	json_t *body = json_object();
	char token[STRATA_DATAPLANE_TOKEN_MAX];

	if (body == NULL)
		abort();
	json_object_set(body, "retainedTopics", call->page);
	if (more) {
		strata_dataplane_token_format(&call->at, token);
		json_object_set_new(body, "nextToken", json_string(token));
	}
	if (call->h != NULL)
		(*call->h->sd->m.retained_reads[1])++;
	shadowd_http_send(call, 200, body);
	json_decref(body);
}

/* One entry of a batch: {"topic", "payloadSize", "qos",
 * "lastModifiedTime"}; a value that does not decode is left out. */
static void
dataplane_list_one(struct http_call *call, const redisReply *k,
    const redisReply *val)
{
	struct strata_retained_value v;

	if (k->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING ||
	    strata_retained_value_decode((const uint8_t *)val->str, val->len,
	    &v) != 0) {
		STRATA_WARN(SHADOWD_COMP, "retained message does not decode, "
		    "not listed|partition=%u", (unsigned)call->at.partition);
		return;
	}
	json_array_append_new(call->page, json_pack("{s:s%,s:I,s:I,s:I}",
	    "topic", k->str, k->len, "payloadSize",
	    (json_int_t)v.payload_len, "qos", (json_int_t)v.qos,
	    "lastModifiedTime", (json_int_t)v.stored_at_ms));
	strata_retained_value_release(&v);
}

/* Take the batch's entries from at.skip on; true when the page is
 * full (at then names the rest). */
static bool
dataplane_list_batch(struct http_call *call, const redisReply *entries,
    uint64_t next)
{
	size_t n = entries->elements / 2;

	for (size_t i = call->at.skip; i < n; i++) {
		if (json_array_size(call->page) == call->max_results) {
			call->at.skip = (uint32_t)i;
			return true;
		}
		dataplane_list_one(call, entries->element[2 * i],
		    entries->element[2 * i + 1]);
	}
	call->at.skip = 0;
	call->at.cursor = next;
	if (next == 0)
		call->at.partition++;
	return json_array_size(call->page) == call->max_results;
}

static void
dataplane_scanned(struct strata_redis *redis, redisReply *reply, void *arg)
{
	struct http_call *call = arg;
	const redisReply *entries;
	uint64_t next;
	char *end;

	if (call->gone || reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != 2 ||
	    reply->element[0]->type != REDIS_REPLY_STRING ||
	    reply->element[1]->type != REDIS_REPLY_ARRAY) {
		shadowd_http_fail(call, 503, "ServiceUnavailableException",
		    "The retained messages are not available");
		return;
	}
	entries = reply->element[1];
	next = strtoull(reply->element[0]->str, &end, 10);
	if (dataplane_list_batch(call, entries, next)) {
		dataplane_page_done(call, call->at.partition <
		    STRATA_PARTITIONS);
		return;
	}
	if (call->at.partition >= STRATA_PARTITIONS) {
		dataplane_page_done(call, false);
		return;
	}
	dataplane_scan(call);
}

static void
dataplane_scan(struct http_call *call)
{
	size_t want = call->max_results - json_array_size(call->page);
	char key[48], cursor[24], count[24];
	const char *v[] = {"HSCAN", key, cursor, "COUNT", count};
	size_t len[5];

	if (call->h == NULL) {
		shadowd_http_send(call, 503, NULL);
		return;
	}
	snprintf(key, sizeof(key), "strata:retained:%u",
	    (unsigned)call->at.partition);
	snprintf(cursor, sizeof(cursor), "%llu",
	    (unsigned long long)call->at.cursor);
	snprintf(count, sizeof(count), "%zu", want + call->at.skip <
	    DATAPLANE_SCAN_MIN ? (size_t)DATAPLANE_SCAN_MIN :
	    want + call->at.skip);
	for (int i = 0; i < 5; i++)
		len[i] = strlen(v[i]);
	strata_redis_commandv(call->h->sd->b->redis, dataplane_scanned, call,
	    5, v, len);
}

static bool
dataplane_list_check(struct http_call *call)
{
	const char *max = evhttp_find_header(&call->query, "maxResults");
	const char *token = evhttp_find_header(&call->query, "nextToken");
	char *end;
	long n;

	call->max_results = DATAPLANE_PAGE_DEFAULT;
	if (max != NULL) {
		n = strtol(max, &end, 10);
		if (*max < '0' || *max > '9' || *end != '\0' || n < 1 ||
		    n > DATAPLANE_PAGE_MAX) {
			dataplane_bad(call, "maxResults must be from 1 to 200");
			return false;
		}
		call->max_results = (size_t)n;
	}
	if (token != NULL && strata_dataplane_token_parse(token,
	    STRATA_PARTITIONS, 100000, &call->at) != 0) {
		dataplane_bad(call, "Invalid nextToken");
		return false;
	}
	call->page = json_array();
	if (call->page == NULL)
		abort();
	return true;
}

/* ---- routing, guard ---- */

/* The topic of the path (percent-decoded) into call->topic; false (400
 * answered) when it is not a topic name AWS would take. */
static bool
dataplane_topic(struct http_call *call, const char *raw)
{
	struct strata_broker *b = call->h->sd->b;
	size_t len;
	char *t = evhttp_uridecode(raw, 0, &len);
	bool ok = t != NULL && strlen(t) == len && len > 0 &&
	    len <= STRATA_DATAPLANE_TOPIC_MAX &&
	    strata_utf8_valid((const uint8_t *)t, len) &&
	    strata_topic_name_check((const uint8_t *)t, len) == 0;

	if (ok)
		memcpy(call->topic, t, len + 1);
	free(t);
	if (!ok)
		dataplane_bad(call, "Invalid topic name");
	else if (broker_topic_too_deep(&b->cfg, (const uint8_t *)call->topic,
	    len))
		dataplane_bad(call, "The topic has too many levels");
	else
		return true;
	return false;
}

static void
dataplane_device_decided(void *arg, int verdict, const char *why)
{
	struct http_call *call = arg;
	struct strata_broker *b;
	char arn[STRATA_DATAPLANE_TOPIC_MAX + 128];

	switch (verdict) {
	case BROKER_DEVICE_ALLOWED:
		if (call->gone || call->h == NULL) {
			shadowd_http_send(call, 503, NULL);
		} else if (call->route == HTTP_ROUTE_PUBLISH &&
		    call->pub.retain && !call->retain_asked) {
			b = call->h->sd->b;
			call->retain_asked = true;
			snprintf(arn, sizeof(arn), "arn:aws:iot:%s:%s:topic/%s",
			    b->cfg.iot_region, b->cfg.iot_account, call->topic);
			broker_device_request(b, shadowd_http_peer(call),
			    STRATA_IOT_RETAIN_PUBLISH, arn,
			    dataplane_device_decided, call);
		} else {
			shadowd_http_run(call);
		}
		return;
	case BROKER_DEVICE_REFUSED:
		shadowd_http_fail(call, 401, "UnauthorizedException", why);
		return;
	case BROKER_DEVICE_DENIED:
		shadowd_http_fail(call, 403, "ForbiddenException", why);
		return;
	default:
		shadowd_http_fail(call, 503, "ServiceUnavailableException",
		    "The registry is not available");
	}
}

static void
dataplane_guard(struct http_call *call)
{
	static const struct {
		const char *op, *action;
		int bit;
	} ops[] = {
		[HTTP_ROUTE_PUBLISH] = {"Publish", "iot:Publish",
		    STRATA_IOT_PUBLISH},
		[HTTP_ROUTE_RETAINED] = {"GetRetainedMessage",
		    "iot:GetRetainedMessage", STRATA_IOT_GET_RETAINED_MESSAGE},
		[HTTP_ROUTE_RETAINED_LIST] = {"ListRetainedMessages",
		    "iot:ListRetainedMessages",
		    STRATA_IOT_LIST_RETAINED_MESSAGES},
	};
	bool list = call->route == HTTP_ROUTE_RETAINED_LIST;
	struct strata_broker *b = call->h->sd->b;
	struct broker_admin_guarded g = {.op = ops[call->route].op,
	    .action = ops[call->route].action, .topic = list ? NULL :
	    call->topic, .action2 = call->pub.retain ? "iot:RetainPublish" :
	    NULL};
	char arn[STRATA_DATAPLANE_TOPIC_MAX + 128];

	switch (call->h->auth) {
	case SHADOWD_HTTP_AUTH_NONE:
		shadowd_http_run(call);
		return;
	case SHADOWD_HTTP_AUTH_IAM:
		broker_admin_guard_resource(b, call->req, &g,
		    shadowd_http_allowed, call);
		return;
	case SHADOWD_HTTP_AUTH_DEVICE:
		break;
	}
	if (shadowd_http_peer(call) == NULL) {
		shadowd_http_fail(call, 401, "UnauthorizedException",
		    "A client certificate is required");
		return;
	}
	snprintf(arn, sizeof(arn), list ? "*" : "arn:aws:iot:%s:%s:topic/%s",
	    b->cfg.iot_region, b->cfg.iot_account, call->topic);
	broker_device_request(b, shadowd_http_peer(call), ops[call->route].bit,
	    arn, dataplane_device_decided, call);
}

/* The route of path and its topic part (still encoded); false: none. */
static bool
dataplane_route(const char *path, enum http_route *route, const char **raw)
{
	static const char topics[] = "/topics/", retained[] =
	    "/retainedMessage";

	if (strncmp(path, topics, sizeof(topics) - 1) == 0) {
		*route = HTTP_ROUTE_PUBLISH;
		*raw = path + sizeof(topics) - 1;
		return true;
	}
	if (strncmp(path, retained, sizeof(retained) - 1) != 0)
		return false;
	*raw = path + sizeof(retained) - 1;
	if (**raw == '\0') {
		*route = HTTP_ROUTE_RETAINED_LIST;
		return true;
	}
	if (**raw != '/')
		return false;
	(*raw)++;
	*route = HTTP_ROUTE_RETAINED;
	return true;
}

/* Method, query, topic and the route's own checks; false: answered. */
static bool
dataplane_check(struct http_call *call, const char *raw)
{
	enum evhttp_cmd_type method = evhttp_request_get_command(call->req);
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(call->req);
	const char *q = evhttp_uri_get_query(uri);
	bool publish = call->route == HTTP_ROUTE_PUBLISH;

	if (method != (publish ? EVHTTP_REQ_POST : EVHTTP_REQ_GET)) {
		call->allow = publish ? "POST" : "GET";
		shadowd_http_fail(call, 405, "MethodNotAllowedException",
		    "Method not allowed on this path");
		return false;
	}
	if (q != NULL && evhttp_parse_query_str(q, &call->query) != 0) {
		dataplane_bad(call, "Invalid query string");
		return false;
	}
	if (call->route == HTTP_ROUTE_RETAINED_LIST)
		return dataplane_list_check(call);
	if (!dataplane_topic(call, raw))
		return false;
	if (publish && strata_lifecycle_reserved(call->topic,
	    strlen(call->topic))) {
		shadowd_http_fail(call, 403, "ForbiddenException", "The topic "
		    "is reserved for the broker's events");
		return false;
	}
	return !publish || dataplane_publish_check(call);
}

bool
shadowd_dataplane_handle(struct http_call *call, const char *path)
{
	const char *raw;

	if (!dataplane_route(path, &call->route, &raw))
		return false;
	if (dataplane_check(call, raw))
		dataplane_guard(call);
	return true;
}

void
shadowd_dataplane_run(struct http_call *call)
{
	switch (call->route) {
	case HTTP_ROUTE_PUBLISH:
		dataplane_publish(call);
		return;
	case HTTP_ROUTE_RETAINED:
		dataplane_get(call);
		return;
	default:
		dataplane_scan(call);
	}
}
