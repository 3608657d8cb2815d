/*
 * admin_shadow.c - the Device Shadow REST operations (GetThingShadow,
 * UpdateThingShadow, DeleteThingShadow: GET, POST, DELETE
 * /things/{thingName}/shadow[?name=]) on the admin API, so that the web
 * console edits shadows as its user (docs/internals/console.md).  The
 * shadow service is strata-shadowd's: the admin API authenticates the
 * caller and authorizes the action on the shadow's thing ARN
 * (thing/<thing>, or thing/<thing>/<shadow> for a named one) with its
 * admin policies, then forwards the request to shadowd's REST API
 * (shadow-http-url) with the bootstrap identity's token, and answers
 * with shadowd's status and document as they are.
 *
 * A forwarded call:
 *   authorized --shadow-http-url empty--> 404 ResourceNotFoundException
 *   authorized --request sent--> WAITING
 *   WAITING --shadowd answers JSON--> its status and body
 *   WAITING --no connection, no answer in 10 s, not JSON--> 503
 *          ServiceUnavailableException
 *   WAITING --the caller went away--> the answer is dropped (the call
 *          freed when it comes: admin_reply_status frees a gone call)
 * Each request has a connection of its own, freed on the next turn of
 * the loop after its answer (or failure).
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>

#include "admin.h"
#include "shadow.h"

#define SHADOW_TIMEOUT_S 10
/* The largest answer of shadowd taken (a document is at most a 128 KiB
 * request's state with its metadata); a larger one is a 503 */
#define SHADOW_MAX_ANSWER (4 * STRATA_SHADOW_MAX_REQUEST_BYTES)

/* shadow-http-url: "http://host:port", checked at start. */
int
admin_shadow_start(struct broker_admin *a)
{
	const char *url = a->b->cfg.shadow_http_url;
	struct evhttp_uri *u;
	int port;

	if (url[0] == '\0')
		return 0;
	u = evhttp_uri_parse(url);
	port = u != NULL ? evhttp_uri_get_port(u) : -1;
	if (u == NULL || evhttp_uri_get_scheme(u) == NULL ||
	    strcmp(evhttp_uri_get_scheme(u), "http") != 0 ||
	    evhttp_uri_get_host(u) == NULL || port <= 0 ||
	    strlen(evhttp_uri_get_host(u)) >= sizeof(a->shadow_host)) {
		STRATA_ERROR(BROKER_COMP, "config error: shadow-http-url is "
		    "not http://<host>:<port>|value=%s", url);
		if (u != NULL)
			evhttp_uri_free(u);
		return STRATA_EINVAL;
	}
	snprintf(a->shadow_host, sizeof(a->shadow_host), "%s",
	    evhttp_uri_get_host(u));
	a->shadow_port = (uint16_t)port;
	evhttp_uri_free(u);
	return 0;
}

bool
admin_shadow_name_valid(const char *name)
{
	size_t n = name != NULL ? strlen(name) : 1;

	return name == NULL || (n >= 1 && n <= ADMIN_SHADOW_NAME_MAX &&
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789:_-") == n);
}

/* One forwarded request: the call it answers, the connection used. */
struct shadow_forward {
	struct admin_call *call;
	struct evhttp_connection *conn;
};

/* A connection is freed after its request's callback has returned (not
 * inside it); evhttp_connection_free_on_completion does not free one
 * whose connect failed (libevent 2.1). */
static void
shadow_conn_free(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	evhttp_connection_free(arg);
}

/* shadowd's answer: its status and JSON body, or 503. */
static void
shadow_answered(struct evhttp_request *req, void *arg)
{
	struct shadow_forward *f = arg;
	struct admin_call *call = f->call;
	const struct timeval now = {0, 0};
	int status = req != NULL ? evhttp_request_get_response_code(req) : 0;
	struct evbuffer *in = req != NULL ?
	    evhttp_request_get_input_buffer(req) : NULL;
	json_t *body = NULL;

	if (event_base_once(call->b->base, -1, EV_TIMEOUT, shadow_conn_free,
	    f->conn, &now) != 0)
		abort();
	free(f);
	if (status != 0 && in != NULL && evbuffer_get_length(in) > 0)
		body = json_loadb((const char *)evbuffer_pullup(in, -1),
		    evbuffer_get_length(in), 0, NULL);
	if (status == 0 || body == NULL) {
		json_decref(body);
		admin_error(call, 503, "ServiceUnavailableException", NULL,
		    "the shadow service (shadow-http-url) did not answer%s",
		    status != 0 ? " with JSON" : "");
		return;
	}
	admin_reply_status(call, status, body);
}

/* The request to shadowd: the same method, path and name, the caller's
 * body, the bootstrap identity's token. */
static void
op_shadow(struct admin_call *call)
{
	struct broker_admin *a = call->b->admin;
	const char *name = admin_query(call, "name");
	struct shadow_forward *f;
	struct evhttp_connection *conn;
	struct evhttp_request *req;
	struct evbuffer *body = evhttp_request_get_input_buffer(call->req);
	char uri[3 * 2 * ADMIN_MAX_NAME + 64], auth[ADMIN_TOKEN_MAX + 16];
	char host[sizeof(a->shadow_host) + 8], *thing, *sname = NULL;

	if (a->shadow_port == 0) {
		admin_error(call, 404, "ResourceNotFoundException", NULL,
		    "this broker forwards no shadow calls (shadow-http-url)");
		return;
	}
	thing = evhttp_uriencode(call->arg, -1, 0);
	if (name != NULL)
		sname = evhttp_uriencode(name, -1, 0);
	if (thing == NULL || (name != NULL && sname == NULL))
		abort();
	snprintf(uri, sizeof(uri), "/things/%s/shadow%s%s", thing,
	    sname != NULL ? "?name=" : "", sname != NULL ? sname : "");
	free(thing);
	free(sname);
	conn = evhttp_connection_base_new(call->b->base, NULL, a->shadow_host,
	    a->shadow_port);
	f = calloc(1, sizeof(*f));
	req = conn != NULL && f != NULL ? evhttp_request_new(shadow_answered,
	    f) : NULL;
	if (req == NULL)
		abort();
	f->call = call;
	f->conn = conn;
	evhttp_connection_set_timeout(conn, SHADOW_TIMEOUT_S);
	evhttp_connection_set_max_body_size(conn, SHADOW_MAX_ANSWER);
	snprintf(host, sizeof(host), "%s:%u", a->shadow_host,
	    (unsigned)a->shadow_port);
	snprintf(auth, sizeof(auth), "Bearer %s", a->token);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host", host);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Authorization", auth);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	if (evbuffer_get_length(body) > 0)
		evbuffer_add(evhttp_request_get_output_buffer(req),
		    evbuffer_pullup(body, -1), evbuffer_get_length(body));
	OPENSSL_cleanse(auth, sizeof(auth));
	if (evhttp_make_request(conn, req, evhttp_request_get_command(
	    call->req), uri) != 0) {   /* req freed by libevent */
		evhttp_connection_free(conn);
		free(f);
		admin_error(call, 503, "ServiceUnavailableException", NULL,
		    "the shadow service (shadow-http-url) cannot be reached");
	}
}

const struct admin_route admin_shadow_routes[] = {
	{EVHTTP_REQ_GET, "things/*/shadow", "GetThingShadow",
	    "iot:GetThingShadow", ADMIN_RES_SHADOW, op_shadow},
	{EVHTTP_REQ_POST, "things/*/shadow", "UpdateThingShadow",
	    "iot:UpdateThingShadow", ADMIN_RES_SHADOW, op_shadow},
	{EVHTTP_REQ_DELETE, "things/*/shadow", "DeleteThingShadow",
	    "iot:DeleteThingShadow", ADMIN_RES_SHADOW, op_shadow},
	{0, NULL, NULL, NULL, ADMIN_RES_ANY, NULL},
};
