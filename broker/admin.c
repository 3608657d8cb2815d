/*
 * admin.c - the admin API's HTTP side: listener, routing, JSON in and
 * out, error answers, the audit line.  Who may call is admin_auth.c's;
 * the operations are admin_ops.c's (registry), admin_iam.c's
 * (identities) and admin_rules.c's (topic rules).
 *
 * A request runs:
 *   query parsed (400) -> route found by method and path, its 404 / 405
 *   kept -> authenticated (401, admin_auth.c) -> no route: 404 / 405 ->
 *   authorized for the route's action and resource (403) -> body read as
 *   JSON (400, 413) -> the operation's handler, which answers at once (a
 *   bad input: 400) or after its Redis calls (admin_eval).
 * The client may go away while Redis answers: the connection's close
 * callback marks the call `gone`, and the answer is then dropped (the
 * request was freed with its connection).  Every Redis call has the
 * redis-timeout deadline, so a call lives at most that long.
 *
 * Errors are AWS IoT's: an HTTP status and {"error": type, "message":
 * text[, "field": name]} (docs/internals/admin.md).
 */
#include <sys/queue.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "admin.h"

#define ADMIN_MAX_BODY (64 * 1024)

/* ---- answers ---- */

/* The audit record of a call: who, what, on what, from where, and how
 * it ended (docs/internals/admin-authz.md, section 5).  The path parameter
 * is the caller's: quotes and control characters become '?'. */
static void
admin_audit(const struct admin_call *call, int status, const char *error)
{
	char resource[ADMIN_MAX_NAME + 1];
	size_t i;

	for (i = 0; call->arg[i] != '\0' && i < sizeof(resource) - 1; i++)
		resource[i] = (unsigned char)call->arg[i] < 0x20 ||
		    call->arg[i] == '"' || call->arg[i] == '\\' ||
		    call->arg[i] == 0x7f ? '?' : call->arg[i];
	resource[i] = '\0';
	STRATA_INFO("admin", "admin call|identity=%s key=%s action=%s "
	    "resource=\"%s\" source=%s status=%d error=%s",
	    call->user_arn[0] != '\0' ? call->user_arn : "anonymous",
	    call->key_id[0] != '\0' ? call->key_id : "-",
	    call->route != NULL ? call->route->action : "-",
	    call->resource[0] != '\0' ? call->resource : resource,
	    call->source, status, error != NULL ? error : "-");
	admin_auditlog_keep(call, status, error, call->resource[0] != '\0' ?
	    call->resource : resource);
}

static const char *admin_reason(int status);

static void
admin_send(struct admin_call *call, int status, const char *reason,
    json_t *body)
{
	struct evbuffer *buf;
	char *text;

	admin_audit(call, status, json_string_value(json_object_get(body,
	    "error")));
	if (call->gone) {
		json_decref(body);
		admin_call_free(call);
		return;
	}
	evhttp_connection_set_closecb(evhttp_request_get_connection(call->req),
	    NULL, NULL);
	text = json_dumps(body, JSON_COMPACT);
	buf = evbuffer_new();
	if (text == NULL || buf == NULL)
		abort();
	evbuffer_add_printf(buf, "%s\n", text);
	evhttp_add_header(evhttp_request_get_output_headers(call->req),
	    "Content-Type", "application/json");
	/* answers hold secrets (keys, the console's CSRF token): a browser
	 * keeps none of them */
	if (evhttp_find_header(evhttp_request_get_output_headers(call->req),
	    "Cache-Control") == NULL)
		evhttp_add_header(evhttp_request_get_output_headers(call->req),
		    "Cache-Control", "no-store");
	evhttp_send_reply(call->req, status, reason, buf);
	evbuffer_free(buf);
	free(text);
	json_decref(body);
	(*call->b->m.admin_requests[status >= 500 ? 2 : status >= 400 ? 1 :
	    0])++;
	admin_call_free(call);
}

void
admin_reply(struct admin_call *call, json_t *body)
{
	admin_send(call, 200, "OK", body != NULL ? body : json_object());
}

void
admin_reply_status(struct admin_call *call, int status, json_t *body)
{
	admin_send(call, status, status == 200 ? "OK" : admin_reason(status),
	    body);
}

struct evhttp_request *
admin_stream_start(struct admin_call *call, const char *content_type)
{
	struct evhttp_request *req = call->req;

	admin_audit(call, 200, NULL);
	if (call->gone) {
		admin_call_free(call);
		return NULL;
	}
	evhttp_connection_set_closecb(evhttp_request_get_connection(req),
	    NULL, NULL);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", content_type);
	evhttp_send_reply_start(req, 200, "OK");
	(*call->b->m.admin_requests[0])++;
	admin_call_free(call);
	return req;
}

static const char *
admin_reason(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 429: return "Too Many Requests";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

void
admin_error(struct admin_call *call, int status, const char *type,
    const char *field, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	json_t *o = json_object();

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_set_new(o, "error", json_string(type));
	json_object_set_new(o, "message", json_string(msg));
	if (field != NULL)
		json_object_set_new(o, "field", json_string(field));
	if (status >= 500)
		STRATA_WARN(BROKER_COMP, "admin call failed|op=%s status=%d "
		    "error=\"%s\"", call->op, status, msg);
	admin_send(call, status, admin_reason(status), o);
}

/* A Redis error reply of an admin script: "<Kind> <message>". */
static void
admin_script_error(struct admin_call *call, const char *text)
{
	static const struct {
		const char *kind;
		int status;
		const char *type;
	} kinds[] = {
		{"NotFound", 404, "ResourceNotFoundException"},
		{"Exists", 409, "ResourceAlreadyExistsException"},
		{"DeleteConflict", 409, "DeleteConflictException"},
		{"VersionConflict", 409, "VersionConflictException"},
		{"CertificateState", 409, "CertificateStateException"},
		{"Invalid", 400, "InvalidRequestException"},
		{"Unauthorized", 401, "UnauthorizedException"},
		{"LimitExceeded", 409, "LimitExceededException"},
		{"Conflict", 409, "ConflictingResourceUpdateException"},
	};
	size_t n;

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		n = strlen(kinds[i].kind);
		if (strncmp(text, kinds[i].kind, n) == 0 && text[n] == ' ') {
			admin_error(call, kinds[i].status, kinds[i].type, NULL,
			    "%s", text + n + 1);
			return;
		}
	}
	admin_error(call, 500, "InternalFailureException", NULL,
	    "registry script failed: %s", text);
}

/* ---- Redis ---- */

struct admin_eval_arg {
	struct admin_call *call;
	admin_done_cb done;
};

static void
admin_evaluated(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct admin_eval_arg *ea = arg;
	struct admin_call *call = ea->call;
	admin_done_cb done = ea->done;

	free(ea);
	if (call->gone) {
		admin_call_free(call);
	} else if (reply == NULL) {
		admin_error(call, 503, "ServiceUnavailableException", NULL,
		    "the registry (Redis) did not answer");
	} else if (reply->type == REDIS_REPLY_ERROR) {
		admin_script_error(call, reply->str);
	} else {
		done(call, reply);
	}
}

static const char script_describe_hash[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply("
    "  'NotFound ' .. ARGV[2] .. ' ' .. ARGV[1] .. ' does not exist') end "
    "return redis.call('HGETALL', KEYS[1])";

void
admin_describe_hash(struct admin_call *call, const char *key,
    const char *what, admin_done_cb done)
{
	admin_eval(call, script_describe_hash, 1, 3, (const char *[]){key,
	    call->arg, what}, done);
}

void
admin_eval(struct admin_call *call, const char *script, int nkeys,
    int argc, const char **argv, admin_done_cb done)
{
	const char *v[2 + ADMIN_MAX_ARGS];
	size_t len[2 + ADMIN_MAX_ARGS];
	char nk[16];
	struct admin_eval_arg *ea = malloc(sizeof(*ea));

	if (ea == NULL || argc > ADMIN_MAX_ARGS - 1)
		abort();
	snprintf(nk, sizeof(nk), "%d", nkeys);
	v[0] = "EVAL";
	v[1] = script;
	v[2] = nk;
	for (int i = 0; i < argc; i++)
		v[3 + i] = argv[i];
	for (int i = 0; i < 3 + argc; i++)
		len[i] = strlen(v[i]);
	ea->call = call;
	ea->done = done;
	strata_redis_commandv(call->b->redis, admin_evaluated, ea, 3 + argc,
	    v, len);
}

/* ---- requests ---- */

void
admin_call_free(struct admin_call *call)
{
	if (call->allowed != NULL)   /* a guarded call refused or gone */
		call->allowed(NULL, call->allowed_ctx);
	evhttp_clear_headers(&call->query);
	admin_cred_free(call);
	json_decref(call->body);
	free(call->state);
	free(call);
}

static void
admin_conn_closed(struct evhttp_connection *evcon, void *arg)
{
	struct admin_call *call = arg;

	call->gone = true;
}

const char *
admin_query(struct admin_call *call, const char *name)
{
	return evhttp_find_header(&call->query, name);
}

bool
admin_query_true(struct admin_call *call, const char *name)
{
	const char *v = admin_query(call, name);

	return v != NULL && strcmp(v, "true") == 0;
}

const char *
admin_method_name(enum evhttp_cmd_type method)
{
	switch (method) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_PATCH: return "PATCH";
	default: return "OTHER";
	}
}

const char *
admin_header(struct admin_call *call, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(call->req),
	    name);
}

/* The body as JSON: none is NULL; false after answering 400/413. */
bool
admin_read_body(struct admin_call *call)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(call->req);
	size_t n = evbuffer_get_length(in);
	json_error_t jerr;

	if (n == 0)
		return true;
	if (n > ADMIN_MAX_BODY) {
		admin_error(call, 413, "InvalidRequestException", NULL,
		    "request body over %d bytes", ADMIN_MAX_BODY);
		return false;
	}
	call->body = json_loadb((const char *)evbuffer_pullup(in, -1), n, 0,
	    &jerr);
	if (call->body == NULL || !json_is_object(call->body)) {
		admin_error(call, 400, "InvalidRequestException", NULL,
		    "request body is not a JSON object (line %d column %d: %s)",
		    jerr.line, jerr.column, call->body == NULL ? jerr.text :
		    "not an object");
		return false;
	}
	return true;
}

/* Split the decoded path into at most 4 segments; -1 when it does not
 * parse or has more. */
static int
admin_segments(const char *path, char seg[4][ADMIN_MAX_NAME + 1])
{
	char raw[3 * ADMIN_MAX_NAME + 1];
	const char *p = path;
	int n = 0;

	if (*p != '/')
		return -1;
	while (*p == '/' && p[1] != '\0') {
		size_t len;
		char *dec;

		p++;
		len = strcspn(p, "/");
		if (n == 4 || len == 0 || len >= sizeof(raw))
			return -1;
		memcpy(raw, p, len);
		raw[len] = '\0';
		dec = evhttp_uridecode(raw, 0, &len);
		if (dec == NULL || len > ADMIN_MAX_NAME || strlen(dec) != len) {
			free(dec);
			return -1;
		}
		memcpy(seg[n++], dec, len + 1);
		free(dec);
		p += strlen(raw);
	}
	return *p == '\0' ? n : -1;
}

/* Does the route's pattern ("things/ * /principals", '*' a parameter)
 * match the segments?  The parameters go to arg and arg2. */
static bool
admin_route_match(const char *pattern, char seg[4][ADMIN_MAX_NAME + 1],
    int n, struct admin_call *call)
{
	char pat[64], *save = NULL, *tok;
	int i = 0, params = 0;

	snprintf(pat, sizeof(pat), "%s", pattern);
	for (tok = strtok_r(pat, "/", &save); tok != NULL;
	     tok = strtok_r(NULL, "/", &save), i++) {
		if (i >= n)
			return false;
		if (strcmp(tok, "*") == 0)
			strcpy(params++ == 0 ? call->arg : call->arg2, seg[i]);
		else if (strcmp(tok, seg[i]) != 0)
			return false;
	}
	return i == n;
}

/* The route of the request, or its 404 / 405 in call->route_status. */
static void
admin_route(struct admin_call *call, char seg[4][ADMIN_MAX_NAME + 1],
    int n)
{
	static const struct admin_route *const tables[] = {admin_routes,
	    admin_iam_routes, admin_rule_routes, admin_dest_routes,
	    admin_type_routes, admin_group_routes, admin_prov_routes,
	    admin_fidx_routes, admin_fidx_group_routes, admin_audit_routes,
	    admin_detect_routes, admin_usage_routes, admin_throttle_routes,
	    admin_auditlog_routes, admin_node_routes, admin_trace_routes,
	    admin_shadow_routes};
	enum evhttp_cmd_type method = evhttp_request_get_command(call->req);

	call->route_status = 404;
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (const struct admin_route *r = tables[t];
		     r->pattern != NULL; r++) {
			if (!admin_route_match(r->pattern, seg, n, call))
				continue;
			call->route_status = 405;
			if (r->method == method) {
				call->route = r;
				call->op = r->op;
				return;
			}
		}
	call->arg[0] = call->arg2[0] = '\0';
}

/* Authenticated: answer a request that has no route, or check the
 * caller's policies and run the operation. */
static void
admin_authenticated(struct admin_call *call)
{
	if (call->route == NULL) {
		if (call->route_status == 405)
			admin_error(call, 405, "MethodNotAllowedException",
			    NULL, "method not allowed on this path");
		else
			admin_error(call, 404, "ResourceNotFoundException",
			    NULL, "no such operation");
		return;
	}
	if (admin_authorize(call) && admin_read_body(call))
		call->route->handle(call);
}

/* The caller's address, kept for the audit record (the connection may be
 * gone when the call ends). */
static void
admin_source(struct admin_call *call)
{
	char *host = NULL;
	ev_uint16_t port = 0;

	evhttp_connection_get_peer(evhttp_request_get_connection(call->req),
	    &host, &port);
	snprintf(call->source, sizeof(call->source), "%s",
	    host != NULL ? host : "-");
}

/* Answers go out at once: with Nagle's algorithm the last segment of a
 * large answer waits for the client's delayed ACK (40 ms). */
static void
admin_nodelay(struct evhttp_request *req)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(
	    evhttp_request_get_connection(req));
	evutil_socket_t fd = bev != NULL ? bufferevent_getfd(bev) : -1;

	if (fd >= 0)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1},
		    sizeof(int));
}

static void
admin_handle(struct evhttp_request *req, void *arg)
{
	struct broker_admin *a = arg;
	struct admin_call *call = calloc(1, sizeof(*call));
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	const char *q = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
	char seg[4][ADMIN_MAX_NAME + 1];
	int n;

	if (call == NULL)
		abort();
	call->b = a->b;
	call->req = req;
	call->op = "?";
	TAILQ_INIT(&call->query);
	evhttp_connection_set_closecb(evhttp_request_get_connection(req),
	    admin_conn_closed, call);
	admin_source(call);
	admin_nodelay(req);
	if (q != NULL && evhttp_parse_query_str(q, &call->query) != 0) {
		admin_error(call, 400, "InvalidRequestException", NULL,
		    "query string does not parse");
		return;
	}
	if (path != NULL && admin_console_handle(call, path))
		return;
	n = path != NULL ? admin_segments(path, seg) : -1;
	if (n >= 0)
		admin_route(call, seg, n);
	else
		call->route_status = 404;
	if (call->route != NULL &&
	    call->route->resource == ADMIN_RES_TOKEN &&
	    admin_header(call, "Authorization") == NULL) {
		/* the token is the credential; kept out of the audit line */
		snprintf(call->resource, sizeof(call->resource), "*");
		call->route->handle(call);
		return;
	}
	if (admin_header(call, "Authorization") == NULL &&
	    admin_console_authenticate(call, admin_authenticated))
		return;
	admin_authenticate(call, admin_authenticated);
}

/* ---- listener ---- */

static struct bufferevent *
admin_tls_bev(struct event_base *base, void *arg)
{
	struct broker_admin *a = arg;
	SSL *ssl = SSL_new(a->b->admin_ssl_ctx);

	if (ssl == NULL)
		return NULL;
	return bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

/* The token file's first line. */
static int
admin_load_token(struct broker_admin *a, const char *path)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL || fgets(a->token, sizeof(a->token), f) == NULL) {
		STRATA_ERROR(BROKER_COMP, "config error: admin-token-file "
		    "cannot be read|file=%s", path);
		if (f != NULL)
			fclose(f);
		return STRATA_EINVAL;
	}
	fclose(f);
	n = strcspn(a->token, "\r\n");
	a->token[n] = '\0';
	if (n < 16) {
		STRATA_ERROR(BROKER_COMP, "config error: admin token shorter "
		    "than 16 characters|file=%s", path);
		return STRATA_EINVAL;
	}
	return 0;
}

/* The CA that signs create-keys-and-certificate, if configured. */
static int
admin_load_ca(struct broker_admin *a, const struct broker_config *cfg)
{
	FILE *f;

	if (cfg->registry_ca_cert[0] == '\0')
		return 0;
	f = fopen(cfg->registry_ca_cert, "r");
	a->ca = f != NULL ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f != NULL)
		fclose(f);
	f = fopen(cfg->registry_ca_key, "r");
	a->ca_key = f != NULL ? PEM_read_PrivateKey(f, NULL, NULL, NULL) :
	    NULL;
	if (f != NULL)
		fclose(f);
	if (a->ca == NULL || a->ca_key == NULL ||
	    X509_check_private_key(a->ca, a->ca_key) != 1 ||
	    broker_cert_id(a->ca, a->ca_id) != 0) {
		STRATA_ERROR(BROKER_COMP, "config error: registry-ca-cert / "
		    "registry-ca-key cannot be read or do not match|cert=%s "
		    "key=%s", cfg->registry_ca_cert, cfg->registry_ca_key);
		return STRATA_EINVAL;
	}
	return 0;
}

int
broker_admin_start(struct strata_broker *b)
{
	const struct broker_config *cfg = &b->cfg;
	struct broker_admin *a = calloc(1, sizeof(*a));

	if (a == NULL)
		abort();
	a->b = b;
	a->console_fd = -1;
	b->admin = a;
	if (admin_load_ca(a, cfg) != 0)
		return STRATA_EINVAL;
	if (cfg->admin_port == 0)
		return 0;
	if (admin_load_token(a, cfg->admin_token_file) != 0 ||
	    admin_auth_init(a, cfg->admin_bootstrap_key_id) != 0)
		return STRATA_EINVAL;
	if (admin_console_start(a) != 0 || admin_shadow_start(a) != 0)
		return STRATA_EINVAL;
	if (cfg->admin_tls && broker_tls_admin_start(b) != 0)
		return STRATA_EINVAL;
	a->http = evhttp_new(b->base);
	if (a->http == NULL)
		abort();
	evhttp_set_max_body_size(a->http, 4 * ADMIN_MAX_BODY);
	evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH);
	evhttp_set_timeout(a->http, 30);
	if (cfg->admin_tls)
		evhttp_set_bevcb(a->http, admin_tls_bev, a);
	evhttp_set_gencb(a->http, admin_handle, a);
	if (evhttp_bind_socket_with_handle(a->http, cfg->admin_bind,
	    (uint16_t)cfg->admin_port) == NULL) {
		STRATA_ERROR(BROKER_COMP, "cannot listen|listener=admin "
		    "address=%s port=%ld error=\"%s\"", cfg->admin_bind,
		    cfg->admin_port, strerror(errno));
		return STRATA_EIO;
	}
	STRATA_INFO(BROKER_COMP, "listening|listener=admin address=%s "
	    "port=%ld tls=%s", cfg->admin_bind, cfg->admin_port,
	    cfg->admin_tls ? "yes" : "no");
	admin_audit_timer_start(a);
	return admin_auditlog_start(a);
}

const char *
broker_admin_ca_id(const struct strata_broker *b)
{
	return b->admin != NULL && b->admin->ca != NULL ? b->admin->ca_id :
	    "-";
}

void
broker_admin_free(struct strata_broker *b)
{
	struct broker_admin *a = b->admin;

	if (a == NULL)
		return;
	if (a->http != NULL)
		evhttp_free(a->http);
	admin_audit_timer_free(a);
	admin_auditlog_free(a);
	admin_console_free(a);
	X509_free(a->ca);
	EVP_PKEY_free(a->ca_key);
	OPENSSL_cleanse(a->token, sizeof(a->token));
	free(a);
	b->admin = NULL;
}

/* ---- guarding another HTTP API ---- */

static void
admin_guard_authenticated(struct admin_call *call)
{
	broker_admin_allowed_cb allowed = call->allowed;

	if (!admin_authorize(call))
		return;
	evhttp_connection_set_closecb(evhttp_request_get_connection(call->req),
	    NULL, NULL);
	call->allowed = NULL;
	allowed(call, call->allowed_ctx);
}

static void
admin_guard_start(struct strata_broker *b, struct evhttp_request *req,
    const struct broker_admin_guarded *g, broker_admin_allowed_cb allowed,
    void *ctx)
{
	struct admin_call *call = calloc(1, sizeof(*call));
	const char *op = g->op, *action = g->action;

	if (call == NULL)
		abort();
	call->b = b;
	call->req = req;
	snprintf(call->guard_op, sizeof(call->guard_op), "%s", op);
	snprintf(call->guard_action, sizeof(call->guard_action), "%s", action);
	call->op = call->guard_op;
	TAILQ_INIT(&call->query);
	snprintf(call->guard_action2, sizeof(call->guard_action2), "%s",
	    g->action2 != NULL ? g->action2 : "");
	call->guard_route = (struct admin_route){.method =
	    evhttp_request_get_command(req), .op = call->guard_op,
	    .action = call->guard_action, .resource = g->topic != NULL ?
	    ADMIN_RES_TOPIC : g->thing != NULL ? ADMIN_RES_THING :
	    ADMIN_RES_ANY};
	call->route = &call->guard_route;
	snprintf(call->arg, sizeof(call->arg), "%s", g->topic != NULL ?
	    g->topic : g->thing != NULL ? g->thing : "");
	call->allowed = allowed;
	call->allowed_ctx = ctx;
	evhttp_connection_set_closecb(evhttp_request_get_connection(req),
	    admin_conn_closed, call);
	admin_source(call);
	admin_authenticate(call, admin_guard_authenticated);
}

void
broker_admin_guard(struct strata_broker *b, struct evhttp_request *req,
    const char *op, const char *action, const char *thing,
    broker_admin_allowed_cb allowed, void *ctx)
{
	const struct broker_admin_guarded g = {.op = op, .action = action,
	    .thing = thing};

	admin_guard_start(b, req, &g, allowed, ctx);
}

void
broker_admin_guard_resource(struct strata_broker *b,
    struct evhttp_request *req, const struct broker_admin_guarded *g,
    broker_admin_allowed_cb allowed, void *ctx)
{
	admin_guard_start(b, req, g, allowed, ctx);
}

void
broker_admin_guard_done(struct admin_call *call, int status,
    const char *error_type)
{
	admin_audit(call, status, error_type);
	admin_call_free(call);
}

int
broker_admin_registry_ca(struct strata_broker *b, const char *cert)
{
	struct broker_admin *a = b->admin;
	FILE *f;

	if (a == NULL || a->ca != NULL)
		return STRATA_EINVAL;
	f = fopen(cert, "r");
	a->ca = f != NULL ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f != NULL)
		fclose(f);
	if (a->ca == NULL || broker_cert_id(a->ca, a->ca_id) != 0) {
		STRATA_ERROR(BROKER_COMP, "config error: registry-ca-cert "
		    "cannot be read|cert=%s", cert);
		return STRATA_EINVAL;
	}
	return 0;
}

int
broker_admin_identities(struct strata_broker *b, const char *token_file,
    const char *boot_id)
{
	if (b->admin == NULL)
		return STRATA_EINVAL;
	if (admin_load_token(b->admin, token_file) != 0 ||
	    admin_auth_init(b->admin, boot_id) != 0)
		return STRATA_EINVAL;
	return 0;
}

/* Seconds since the epoch of an integer or an ISO 8601 UTC time
 * (2026-12-03T08:00:00Z, as the AWS CLI sends); -1 when neither. */
long long
admin_time(const char *s)
{
	struct tm tm;
	char *end;
	long long v;

	if (s == NULL || *s == '\0')
		return -1;
	v = strtoll(s, &end, 10);
	if (*end == '\0' || (*end == '.' && end[1] >= '0' && end[1] <= '9'))
		return v;
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end == NULL)
		return -1;
	if (*end == '.')
		while (*++end >= '0' && *end <= '9')
			;
	if (*end != '\0' && strcmp(end, "Z") != 0 && strcmp(end, "+00:00"))
		return -1;
	return (long long)timegm(&tm);
}
