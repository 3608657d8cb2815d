/*
 * http.c - the HTTP interface of the Device Shadow service: AWS IoT's
 * Device Shadow REST API (docs/internals/shadowd-http.md), on up to two
 * listeners, each a struct shadowd_http:
 *   http-port  plain HTTP.  With http-auth iam (the default) every
 *              caller is an admin identity whose admin policies must
 *              allow iot:GetThingShadow, ... on the thing
 *              (broker_admin_guard, the admin API's authentication);
 *              http-auth none is for development on loopback.
 *   https-port HTTPS with the device's client certificate, as the
 *              managed service's port 8443: the certificate is looked up
 *              in the registry and its IoT policies must allow the action
 *              on thing/T (classic) or thing/T/N (named)
 *              (broker_device_request, device.c).
 *
 * Routes (AWS's paths, thing names percent-decoded):
 *   GET    /things/T/shadow[?name=N]   GetThingShadow     -> shadowd_call
 *   POST   /things/T/shadow[?name=N]   UpdateThingShadow  -> shadowd_call
 *   DELETE /things/T/shadow[?name=N]   DeleteThingShadow  -> shadowd_call
 *   GET    /api/things/shadow/ListNamedShadowsForThing/T
 *          [?nextToken=K&pageSize=S]   -> SMEMBERS of the names set
 *
 * A request runs:
 *   route by path (404) and method (405) -> query parsed (400) -> names
 *   checked (400) -> over max-inflight (429) -> the caller authenticated
 *   and authorized: http-auth iam (401, 403, 503; the guard answers
 *   those), or the device certificate on HTTPS (401 certificate
 *   refused, 403 policies deny, 503 registry not answering) -> update
 *   body at most the request limit (413) ->
 *   ops.c (shadowd_call) or the names set -> answer (and the admin audit
 *   line).
 * The answer is 200 with the document the MQTT accepted topic carries,
 * or the error's status with the body of /rejected ({"code", "message",
 * "timestamp"}); errors of the HTTP layer itself have the same body.
 *
 * The client may go away while Redis answers: the connection's close
 * callback marks the call `gone`, and the answer is then dropped (the
 * request was freed with its connection).  ops.c answers every call, at
 * the latest when the Redis deadline passes or the client is freed; so
 * does device.c.  At exit the listener is freed first: its calls still
 * waiting are marked gone and detached (h NULL), and freed when their
 * answer comes.
 */
#include <sys/queue.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/ssl.h>

#include "http-t.h"
#include "shadow.h"

/* Bodies between the request limit and this get our JSON 413; longer
 * ones libevent's own 413 page, sent before the body is read. */
#define HTTP_MAX_BODY (2 * STRATA_SHADOW_MAX_REQUEST_BYTES)
#define HTTP_MAX_HEADERS 16384
#define HTTP_TIMEOUT_S 30
/* ListNamedShadowsForThing: AWS's page sizes; its default is not
 * documented. */
#define HTTP_PAGE_MAX 100
#define HTTP_PAGE_DEFAULT 25

static const int http_codes[HTTP_N_CODES] = {200, 400, 401, 403, 404, 405,
    409, 413, 415, 429, 500, 503};

/* ---- answers ---- */

static const char *
http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

static void
http_call_free(struct http_call *call)
{
	if (call->h != NULL)
		TAILQ_REMOVE(&call->h->calls, call, link);
	if (call->admin != NULL)
		broker_admin_guard_done(call->admin, call->status, NULL);
	evhttp_clear_headers(&call->query);
	strata_dataplane_publish_free(&call->pub);
	json_decref(call->page);
	free(call);
}

static void
http_count(struct shadowd_http *h, int status)
{
	size_t i;

	for (i = 0; i < HTTP_N_CODES; i++)
		if (http_codes[i] == status)
			break;
	(*h->requests[i])++;
}

/* Send body (only read) with status and free the call; a call whose
 * client is gone is only freed. */
void
shadowd_http_send(struct http_call *call, int status, const json_t *body)
{
	struct evhttp_connection *conn;
	struct evbuffer *buf;
	char *text;

	call->status = status;
	if (call->gone) {
		http_call_free(call);
		return;
	}
	conn = evhttp_request_get_connection(call->req);
	evhttp_connection_set_closecb(conn, NULL, NULL);
	text = strata_shadow_dumps(body);
	buf = evbuffer_new();
	if (text == NULL || buf == NULL)
		abort();
	evbuffer_add(buf, text, strlen(text));
	evhttp_add_header(evhttp_request_get_output_headers(call->req),
	    "Content-Type", "application/json");
	if (call->allow != NULL)
		evhttp_add_header(evhttp_request_get_output_headers(call->req),
		    "Allow", call->allow);
	evhttp_send_reply(call->req, status, http_reason(status), buf);
	evbuffer_free(buf);
	free(text);
	http_count(call->h, status);
	http_call_free(call);
}

void
shadowd_http_fail(struct http_call *call, int status, const char *type,
    const char *message)
{
	json_t *body = json_pack("{s:s}", "message", message);

	if (body == NULL)
		abort();
	if (!call->gone)
		evhttp_add_header(evhttp_request_get_output_headers(call->req),
		    "x-amzn-ErrorType", type);
	shadowd_http_send(call, status, body);
	json_decref(body);
}

/* An error of the HTTP layer, in the body ops.c's rejections have. */
static void
http_error(struct http_call *call, int status, const char *message)
{
	struct strata_shadow_error err = {.code = status};
	json_t *body;

	snprintf(err.message, sizeof(err.message), "%s", message);
	body = strata_shadow_error_body(&err, NULL, (long long)time(NULL));
	shadowd_http_send(call, status, body);
	json_decref(body);
}

/* ops.c's answer to a shadowd_call. */
static void
http_answered(void *arg, int status, const json_t *body)
{
	shadowd_http_send(arg, status, body);
}

static void
http_conn_closed(struct evhttp_connection *conn, void *arg)
{
	struct http_call *call = arg;

	call->gone = true;
}

/* ---- ListNamedShadowsForThing ---- */

static int
http_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* {"results": [the page], "nextToken": "<offset>" when more follow,
 * "timestamp"}: the names sorted, so that offsets stay meaningful
 * between calls while the set does not change. */
static json_t *
http_list_page(const struct http_call *call, const redisReply *reply)
{
	const char **names = calloc(reply->elements + 1, sizeof(*names));
	json_t *results = json_array(), *page = json_object();
	size_t n = 0, end;
	char token[24];

	if (names == NULL || results == NULL || page == NULL)
		abort();
	for (size_t i = 0; i < reply->elements; i++)
		if (reply->element[i]->type == REDIS_REPLY_STRING)
			names[n++] = reply->element[i]->str;
	qsort(names, n, sizeof(*names), http_name_cmp);
	end = call->offset < n && n - call->offset > call->page_size ?
	    call->offset + call->page_size : n;
	for (size_t i = call->offset; i < end; i++)
		json_array_append_new(results, json_string(names[i]));
	json_object_set_new(page, "results", results);
	if (end < n) {
		snprintf(token, sizeof(token), "%zu", end);
		json_object_set_new(page, "nextToken", json_string(token));
	}
	json_object_set_new(page, "timestamp",
	    json_integer((json_int_t)time(NULL)));
	free(names);
	return page;
}

static void
http_listed(struct strata_redis *redis, redisReply *reply, void *arg)
{
	struct http_call *call = arg;
	json_t *page;

	if (call->gone) {
		http_call_free(call);
		return;
	}
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
		http_error(call, 500, "Internal service failure");
		return;
	}
	page = http_list_page(call, reply);
	shadowd_http_send(call, 200, page);
	json_decref(page);
}

/* A decimal in [lo, hi] from the query; absent: def. */
static bool
http_query_number(struct http_call *call, const char *key, size_t lo,
    size_t hi, size_t def, size_t *out)
{
	const char *v = evhttp_find_header(&call->query, key);
	size_t n = 0;

	*out = def;
	if (v == NULL)
		return true;
	if (*v == '\0' || strlen(v) > 9 || strspn(v, "0123456789") !=
	    strlen(v))
		return false;
	for (; *v != '\0'; v++)
		n = n * 10 + (size_t)(*v - '0');
	*out = n;
	return n >= lo && n <= hi;
}

static void
http_list(struct http_call *call)
{
	char key[BROKER_REGISTRY_KEY_MAX];
	const char *v[] = {"SMEMBERS", key};
	size_t len[2];

	if (!http_query_number(call, "pageSize", 1, HTTP_PAGE_MAX,
	    HTTP_PAGE_DEFAULT, &call->page_size)) {
		http_error(call, 400, "pageSize must be from 1 to 100");
		return;
	}
	if (!http_query_number(call, "nextToken", 0, 999999999, 0,
	    &call->offset)) {
		http_error(call, 400, "Invalid nextToken");
		return;
	}
	broker_registry_key(key, "shadow-names", call->thing);
	len[0] = strlen(v[0]);
	len[1] = strlen(key);
	strata_redis_commandv(call->h->sd->b->redis, http_listed, call, 2, v,
	    len);
}

/* ---- Get, Update, DeleteThingShadow ---- */

static void
http_shadow(struct http_call *call, enum shadowd_op op)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(call->req);
	struct shadowd_call c = {.op = op, .thing = call->thing,
	    .name = call->name, .payload = "", .answered = http_answered,
	    .arg = call};

	if (op == SHADOWD_UPDATE) {
		c.len = evbuffer_get_length(in);
		if (c.len > STRATA_SHADOW_MAX_REQUEST_BYTES) {
			http_error(call, 413, "The payload exceeds the "
			    "maximum size allowed");
			return;
		}
		c.payload = (const char *)evbuffer_pullup(in, -1);
		if (c.payload == NULL)
			c.payload = "";
	}
	shadowd_call(call->h->sd, &c);
}

/* ---- routing ---- */

/* The path's segments (views into path), at most max; -1 when there are
 * more, or an empty one. */
static int
http_segments(const char *path, const char *seg[], size_t seglen[],
    int max)
{
	int n = 0;

	if (*path != '/')
		return -1;
	while (*path == '/') {
		path++;
		if (n == max)
			return -1;
		seg[n] = path;
		seglen[n] = strcspn(path, "/");
		if (seglen[n] == 0)
			return -1;
		path += seglen[n++];
	}
	return n;
}

static bool
http_is(const char *seg, size_t len, const char *word)
{
	return len == strlen(word) && memcmp(seg, word, len) == 0;
}

/* The route of path, with its thing segment (still encoded); false: none
 * (404). */
static bool
http_route(const char *path, enum http_route *route, const char **thing,
    size_t *thing_len)
{
	const char *seg[5];
	size_t len[5];
	int n = http_segments(path, seg, len, 5);

	if (n == 3 && http_is(seg[0], len[0], "things") &&
	    http_is(seg[2], len[2], "shadow")) {
		*route = HTTP_ROUTE_SHADOW;
		*thing = seg[1];
		*thing_len = len[1];
		return true;
	}
	if (n == 5 && http_is(seg[0], len[0], "api") &&
	    http_is(seg[1], len[1], "things") &&
	    http_is(seg[2], len[2], "shadow") &&
	    http_is(seg[3], len[3], "ListNamedShadowsForThing")) {
		*route = HTTP_ROUTE_LIST;
		*thing = seg[4];
		*thing_len = len[4];
		return true;
	}
	return false;
}

/* The thing's name, percent-decoded, into call->thing; false if it is
 * not one AWS allows. */
static bool
http_thing(struct http_call *call, const char *raw, size_t raw_len)
{
	char encoded[3 * HTTP_THING_MAX + 1], *decoded;
	size_t len;
	bool ok;

	if (raw_len >= sizeof(encoded))
		return false;
	memcpy(encoded, raw, raw_len);
	encoded[raw_len] = '\0';
	decoded = evhttp_uridecode(encoded, 0, &len);
	if (decoded == NULL)
		return false;
	ok = shadowd_name_valid(decoded, len, HTTP_THING_MAX);
	if (ok)
		memcpy(call->thing, decoded, len + 1);
	free(decoded);
	return ok;
}

/* The shadow's name from the query into call->name ("" for the classic
 * shadow); false if it is not one AWS allows. */
static bool
http_shadow_name(struct http_call *call)
{
	const char *name = evhttp_find_header(&call->query, "name");

	if (call->route != HTTP_ROUTE_SHADOW || name == NULL)
		return true;
	if (!shadowd_name_valid(name, strlen(name), HTTP_SHADOW_MAX))
		return false;
	memcpy(call->name, name, strlen(name) + 1);
	return true;
}

/* The operation of method on route, or -1 (405). */
static int
http_op(enum http_route route, enum evhttp_cmd_type method)
{
	if (route == HTTP_ROUTE_LIST)
		return method == EVHTTP_REQ_GET ? SHADOWD_GET : -1;
	switch (method) {
	case EVHTTP_REQ_GET: return SHADOWD_GET;
	case EVHTTP_REQ_POST: return SHADOWD_UPDATE;
	case EVHTTP_REQ_DELETE: return SHADOWD_DELETE;
	default: return -1;
	}
}

void
shadowd_http_run(struct http_call *call)
{
	if (call->route >= HTTP_ROUTE_PUBLISH)
		shadowd_dataplane_run(call);
	else if (call->route == HTTP_ROUTE_LIST)
		http_list(call);
	else
		http_shadow(call, (enum shadowd_op)call->op);
}

/* The guard's verdict: the caller may (admin is its call), or it was
 * answered 401 / 403 / 503 or went away (admin NULL). */
void
shadowd_http_allowed(struct admin_call *admin, void *arg)
{
	struct http_call *call = arg;

	if (admin == NULL) {
		http_call_free(call);
		return;
	}
	call->admin = admin;
	evhttp_connection_set_closecb(evhttp_request_get_connection(call->req),
	    http_conn_closed, call);
	shadowd_http_run(call);
}

/* device.c's verdict on the request's certificate and policies. */
static void
http_device_decided(void *arg, int verdict, const char *why)
{
	struct http_call *call = arg;

	switch (verdict) {
	case BROKER_DEVICE_ALLOWED:
		if (call->gone)
			http_call_free(call);
		else
			shadowd_http_run(call);
		return;
	case BROKER_DEVICE_REFUSED:
		http_error(call, 401, why);
		return;
	case BROKER_DEVICE_DENIED:
		http_error(call, 403, why);
		return;
	default:
		http_error(call, 503, "The registry is not available");
	}
}

/* HTTPS: the client certificate's IoT policies must allow the action on
 * the thing, or on the named shadow (AWS's resource thing/T/N). */
X509 *
shadowd_http_peer(struct http_call *call)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(
	    evhttp_request_get_connection(call->req));
	SSL *ssl = bev != NULL ? bufferevent_openssl_get_ssl(bev) : NULL;

	return ssl != NULL ? SSL_get0_peer_certificate(ssl) : NULL;
}

static void
http_device_guard(struct http_call *call, int action)
{
	struct strata_broker *b = call->h->sd->b;
	X509 *x509 = shadowd_http_peer(call);
	char arn[512];

	if (x509 == NULL) {
		http_error(call, 401, "A client certificate is required");
		return;
	}
	snprintf(arn, sizeof(arn), "arn:aws:iot:%s:%s:thing/%s%s%s",
	    b->cfg.iot_region, b->cfg.iot_account, call->thing,
	    call->name[0] != '\0' ? "/" : "", call->name);
	broker_device_request(b, x509, action, arn, http_device_decided,
	    call);
}

/* The caller must be allowed the operation on the thing: an admin
 * identity (http-auth iam), a device certificate (HTTPS), or anyone
 * (http-auth none). */
static void
http_guard(struct http_call *call)
{
	static const struct {
		const char *name;
		int action;
	} ops[] = {
		[SHADOWD_UPDATE] = {"UpdateThingShadow",
		    STRATA_IOT_UPDATE_THING_SHADOW},
		[SHADOWD_GET] = {"GetThingShadow", STRATA_IOT_GET_THING_SHADOW},
		[SHADOWD_DELETE] = {"DeleteThingShadow",
		    STRATA_IOT_DELETE_THING_SHADOW},
	};
	bool list = call->route == HTTP_ROUTE_LIST;
	const char *op = list ? "ListNamedShadowsForThing" :
	    ops[call->op].name;
	char action[64];

	switch (call->h->auth) {
	case SHADOWD_HTTP_AUTH_NONE:
		shadowd_http_run(call);
		return;
	case SHADOWD_HTTP_AUTH_DEVICE:
		http_device_guard(call, list ? STRATA_IOT_LIST_NAMED_SHADOWS :
		    ops[call->op].action);
		return;
	case SHADOWD_HTTP_AUTH_IAM:
		snprintf(action, sizeof(action), "iot:%s", op);
		broker_admin_guard(call->h->sd->b, call->req, op, action,
		    call->thing, shadowd_http_allowed, call);
		return;
	}
}

/* The route is known: method, query, names, load, then the operation. */
static void
http_dispatch(struct http_call *call, enum http_route route,
    const char *thing, size_t thing_len)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(call->req);
	const char *q = evhttp_uri_get_query(uri);
	int op = http_op(route, evhttp_request_get_command(call->req));
	struct shadowd *sd = call->h->sd;

	call->route = route;
	if (op < 0) {
		call->allow = route == HTTP_ROUTE_LIST ? "GET" :
		    "GET, POST, DELETE";
		http_error(call, 405, "Method not allowed on this path");
	} else if (q != NULL && evhttp_parse_query_str(q, &call->query) != 0) {
		http_error(call, 400, "Invalid query string");
	} else if (!http_thing(call, thing, thing_len) ||
	    !http_shadow_name(call)) {
		http_error(call, 400, "Invalid thing or shadow name");
	} else if (sd->inflight >= sd->max_inflight) {
		http_error(call, 429, "Too many requests");
	} else {
		call->op = op;
		http_guard(call);
	}
}

static void
http_handle(struct evhttp_request *req, void *arg)
{
	struct http_call *call = calloc(1, sizeof(*call));
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	const char *thing = NULL;
	size_t thing_len = 0;
	enum http_route route;

	if (call == NULL)
		abort();
	call->h = arg;
	call->req = req;
	TAILQ_INSERT_TAIL(&call->h->calls, call, link);
	TAILQ_INIT(&call->query);
	evhttp_connection_set_closecb(evhttp_request_get_connection(req),
	    http_conn_closed, call);
	if (path != NULL && shadowd_dataplane_handle(call, path))
		return;
	if (path == NULL || !http_route(path, &route, &thing, &thing_len))
		http_error(call, 404, "No such operation");
	else
		http_dispatch(call, route, thing, thing_len);
}

/* ---- listener ---- */

static void
http_metrics(struct shadowd_http *h)
{
	char labels[64];

	for (size_t i = 0; i <= HTTP_N_CODES; i++) {
		if (i < HTTP_N_CODES)
			snprintf(labels, sizeof(labels), "listener=\"%s\","
			    "code=\"%d\"", h->listener, http_codes[i]);
		else
			snprintf(labels, sizeof(labels), "listener=\"%s\","
			    "code=\"other\"", h->listener);
		h->requests[i] = strata_metrics_counter(h->sd->b->metrics,
		    "strata_shadowd_http_requests_total", "HTTP shadow "
		    "requests answered, by listener and status", labels);
	}
}

static bool
http_loopback(const char *bind)
{
	return strncmp(bind, "127.", 4) == 0 || strcmp(bind, "::1") == 0 ||
	    strcmp(bind, "localhost") == 0;
}

/* HTTPS: each connection a TLS server bufferevent of the core's context
 * (tls-cert, tls-key, tls-ca; its verify callback lets the registry
 * judge certificates of CAs registered at run time). */
static struct bufferevent *
http_tls_bev(struct event_base *base, void *arg)
{
	struct shadowd_http *h = arg;
	SSL *ssl = SSL_new(h->sd->b->ssl_ctx);

	if (ssl == NULL)
		abort();
	return bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

static struct shadowd_http *
http_new(struct shadowd *sd, enum shadowd_http_auth auth)
{
	struct shadowd_http *h = calloc(1, sizeof(*h));

	if (h == NULL || (h->http = evhttp_new(sd->b->base)) == NULL)
		abort();
	h->sd = sd;
	h->auth = auth;
	h->listener = auth == SHADOWD_HTTP_AUTH_DEVICE ? "https" : "http";
	TAILQ_INIT(&h->calls);
	http_metrics(h);
	evhttp_set_max_body_size(h->http, HTTP_MAX_BODY);
	evhttp_set_max_headers_size(h->http, HTTP_MAX_HEADERS);
	evhttp_set_timeout(h->http, HTTP_TIMEOUT_S);
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
	    EVHTTP_REQ_PATCH);
	evhttp_set_gencb(h->http, http_handle, h);
	if (auth == SHADOWD_HTTP_AUTH_DEVICE)
		evhttp_set_bevcb(h->http, http_tls_bev, h);
	return h;
}

int
shadowd_http_start(struct shadowd *sd, const char *bind, uint16_t port,
    enum shadowd_http_auth auth)
{
	struct shadowd_http *h = http_new(sd, auth);

	if (auth == SHADOWD_HTTP_AUTH_DEVICE)
		sd->https = h;
	else
		sd->http = h;
	h->socket = evhttp_bind_socket_with_handle(h->http, bind, port);
	if (h->socket == NULL) {
		STRATA_ERROR(SHADOWD_COMP, "cannot listen|listener=%s "
		    "address=%s port=%u error=\"%s\"", h->listener, bind,
		    (unsigned)port, strerror(errno));
		return STRATA_EIO;
	}
	if (auth == SHADOWD_HTTP_AUTH_NONE && !http_loopback(bind))
		STRATA_WARN(SHADOWD_COMP, "the HTTP shadow API has no "
		    "authentication and is not on loopback|address=%s", bind);
	STRATA_INFO(SHADOWD_COMP, "listening|listener=%s address=%s "
	    "port=%u", h->listener, bind, (unsigned)port);
	return 0;
}

static void
http_stop(struct shadowd_http *h)
{
	if (h == NULL || h->socket == NULL)
		return;
	evhttp_del_accept_socket(h->http, h->socket);
	h->socket = NULL;
}

void
shadowd_http_stop(struct shadowd *sd)
{
	http_stop(sd->http);
	http_stop(sd->https);
}

/* Calls still waiting for ops.c, Redis or device.c are detached: their
 * answer only frees them. */
static void
http_free(struct shadowd_http *h)
{
	struct http_call *call;

	if (h == NULL)
		return;
	while ((call = TAILQ_FIRST(&h->calls)) != NULL) {
		TAILQ_REMOVE(&h->calls, call, link);
		call->h = NULL;
		call->gone = true;
	}
	if (h->http != NULL)
		evhttp_free(h->http);
	free(h);
}

void
shadowd_http_free(struct shadowd *sd)
{
	http_free(sd->http);
	http_free(sd->https);
	sd->http = NULL;
	sd->https = NULL;
}
