/*
 * authorizer.c - the custom authorizer: an HTTP endpoint (authorizer-url)
 * that answers, for a client without a certificate, what AWS IoT Core's
 * authorizer Lambda answers: whether it is authenticated, and the
 * policies it gets.  Wire format: authwire.c.
 *
 * Who is sent there (device.c decides, asks here at CONNECT and binds
 * the policies given): TLS clients without a client certificate and,
 * with authorizer-tcp, plain TCP clients that give a user name.
 *
 * The states of one connection (struct broker_authz_conn):
 *
 *   CONNECT, no answer yet
 *     -> a cached answer for (user name, SHA-256 of the password, token)
 *        younger than min(refreshAfterInSeconds,
 *        authorizer-cache-seconds): ANSWERED at once
 *     -> else ASKING: the CONNECT frame is copied, the connection goes
 *        WAITING (reads stop), one POST goes out from an event of its own
 *        (never inside the connection's dispatch), deadline
 *        authorizer-timeout
 *   ASKING --isAuthenticated true--> ANSWERED: the CONNECT is handled
 *        again from the copy, the normal path runs (device.c binds the
 *        policies and checks iot:Connect)
 *   ASKING --false, or an error (unreachable, late, not 200, not an
 *        answer)--> CONNACK 0x86 (3.1.1: 0x04), close
 *   ANSWERED --iot:Connect allowed--> LIVE: a timer at
 *        disconnectAfterInSeconds (DISCONNECT 0xA0 Maximum connect
 *        time) and one at refreshAfterInSeconds -> REFRESHING (the cache
 *        first, else the same request again)
 *   REFRESHING --true--> LIVE, the new policies bound (device.c)
 *              --false--> DISCONNECT 0x87
 *              --error--> LIVE with the policies it had, asked again
 *                         after refreshAfterInSeconds
 *
 * A call (struct authz_call) outlives the connection that made it: a
 * connection that leaves detaches it, and an answer that authenticates
 * still goes to the cache.  Each call has an HTTP connection of its own
 * (a slow answer makes no other CONNECT queue behind it) and one event:
 * it sends the request, then is the deadline, then frees the call; the
 * call is never freed inside libevent's HTTP callback.
 *
 * Fail closed: nothing but an answer that parses whole with
 * isAuthenticated true lets a client in.  Every call is counted by result
 * (strata_broker_authorizer_calls_total) and every refusal logged.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/http.h>

#include "broker.h"
#include "uuid.h"

#define AUTHZ_MAX_BODY 65536      /* of an answer */
#define AUTHZ_MAX_HEADERS 16384   /* of an answer's headers */
#define AUTHZ_CACHE_MAX 100000    /* answers cached at most */

struct broker_authorizer {
	struct strata_broker *b;
	char *host;                   /* to connect to (no brackets) */
	char *host_header;            /* Host: */
	uint16_t port;
	char *path;                   /* path and query of authorizer-url */
	struct evdns_base *dns;       /* NULL: host is an address */
	struct strata_hashmap *cache; /* key -> struct authz_cached */
	struct strata_list calls;     /* struct authz_call, all of them */
	struct strata_log_limit refused_log;
};

struct authz_cached {
	uint64_t expires_ms;
	struct broker_authwire_answer *answer;
};

struct broker_authz_conn {
	struct broker_authorizer *az;
	struct broker_conn *conn;
	struct authz_call *call;      /* ASKING, REFRESHING */
	struct broker_authwire_answer *answer; /* ANSWERED, LIVE */
	uint8_t *frame;               /* the CONNECT, held while ASKING */
	size_t frame_len;
	char *request;                /* the body POSTed, again on refresh */
	char *client_id;              /* for the log */
	uint8_t key[BROKER_AUTHWIRE_KEY_LEN];
	struct event *expiry;         /* disconnectAfterInSeconds */
	struct event *refresh;        /* refreshAfterInSeconds */
	bool live;                    /* iot:Connect allowed */
};

struct authz_call {
	struct strata_list node;      /* az->calls */
	struct broker_authorizer *az;
	struct broker_authz_conn *st; /* NULL once the connection left */
	struct evhttp_connection *evcon;
	struct evhttp_request *req;   /* while in flight */
	struct event *ev;             /* send, then deadline, then free */
	enum evhttp_request_error error; /* libevent's, when it failed */
	uint8_t key[BROKER_AUTHWIRE_KEY_LEN];
	bool sent;
	bool failed;                  /* error is set */
	bool done;
};

static const char *const authz_result_names[] = {"allow", "deny", "error"};

static void authz_deliver(struct broker_authz_conn *st,
    enum broker_authwire_result result,
    struct broker_authwire_answer *answer, const char *why);

/* ---- the URL ---- */

/* Parse url into az (NULL: only check it). */
static int
authz_parse_url(const char *url, struct broker_authorizer *az, char *err,
    size_t errlen)
{
	struct evhttp_uri *u = evhttp_uri_parse(url);
	const char *scheme = u != NULL ? evhttp_uri_get_scheme(u) : NULL;
	const char *host = u != NULL ? evhttp_uri_get_host(u) : NULL;
	const char *path, *query;
	size_t hl;
	int port;

	if (scheme == NULL || strcmp(scheme, "http") != 0 || host == NULL ||
	    host[0] == '\0' || evhttp_uri_get_userinfo(u) != NULL ||
	    evhttp_uri_get_fragment(u) != NULL) {
		snprintf(err, errlen, "authorizer-url must be "
		    "http://host[:port][/path] (https is not supported), not "
		    "'%s'", url);
		if (u != NULL)
			evhttp_uri_free(u);
		return STRATA_EINVAL;
	}
	if (az != NULL) {
		port = evhttp_uri_get_port(u);
		az->port = (uint16_t)(port > 0 ? port : 80);
		hl = strlen(host);
		az->host = host[0] == '[' ? strndup(host + 1, hl - 2) :
		    strdup(host);
		path = evhttp_uri_get_path(u);
		query = evhttp_uri_get_query(u);
		if (az->host == NULL || asprintf(&az->path, "%s%s%s",
		    path != NULL && path[0] != '\0' ? path : "/",
		    query != NULL ? "?" : "", query != NULL ? query : "") < 0 ||
		    asprintf(&az->host_header, "%s:%u", host, az->port) < 0)
			abort();
	}
	evhttp_uri_free(u);
	return 0;
}

int
broker_authorizer_check_url(const char *url, char *err, size_t errlen)
{
	if (url == NULL || url[0] == '\0')
		return 0;
	return authz_parse_url(url, NULL, err, errlen);
}

/* ---- the cache ---- */

static void
authz_cached_free(void *v)
{
	struct authz_cached *e = v;

	broker_authwire_answer_unref(e->answer);
	free(e);
}

static struct broker_authwire_answer *
authz_cache_get(struct broker_authorizer *az, const uint8_t *key)
{
	struct authz_cached *e = strata_hashmap_get(az->cache, key,
	    BROKER_AUTHWIRE_KEY_LEN);

	if (e == NULL)
		return NULL;
	if (broker_now_ms() < e->expires_ms)
		return e->answer;
	strata_hashmap_delete(az->cache, key, BROKER_AUTHWIRE_KEY_LEN);
	return NULL;
}

struct authz_sweep {
	uint64_t now;
	uint8_t (*keys)[BROKER_AUTHWIRE_KEY_LEN];
	size_t n;
};

static int
authz_sweep_one(const void *key, size_t len, void *value, void *arg)
{
	struct authz_sweep *s = arg;
	struct authz_cached *e = value;

	if (e->expires_ms <= s->now)
		memcpy(s->keys[s->n++], key, BROKER_AUTHWIRE_KEY_LEN);
	return 0;
}

/* Drop the expired answers (the cache is full). */
static void
authz_cache_sweep(struct broker_authorizer *az)
{
	struct authz_sweep s = {broker_now_ms(), NULL, 0};

	s.keys = malloc(strata_hashmap_count(az->cache) * sizeof(*s.keys));
	if (s.keys == NULL)
		abort();
	strata_hashmap_foreach(az->cache, authz_sweep_one, &s);
	for (size_t i = 0; i < s.n; i++)
		strata_hashmap_delete(az->cache, s.keys[i],
		    BROKER_AUTHWIRE_KEY_LEN);
	free(s.keys);
}

/* Keep a for min(refreshAfterInSeconds, authorizer-cache-seconds). */
static void
authz_cache_put(struct broker_authorizer *az, const uint8_t *key,
    struct broker_authwire_answer *a)
{
	long cap = az->b->cfg.authorizer_cache_seconds;
	long life = a->refresh_s > 0 && a->refresh_s < cap ? a->refresh_s : cap;
	struct authz_cached *e;

	if (life <= 0)
		return;
	if (strata_hashmap_count(az->cache) >= AUTHZ_CACHE_MAX)
		authz_cache_sweep(az);
	if (strata_hashmap_count(az->cache) >= AUTHZ_CACHE_MAX)
		return;
	e = malloc(sizeof(*e));
	if (e == NULL)
		abort();
	e->expires_ms = broker_now_ms() + (uint64_t)life * 1000;
	e->answer = a;
	a->refs++;
	strata_hashmap_put(az->cache, key, BROKER_AUTHWIRE_KEY_LEN, e);
}

/* ---- calls ---- */

static void
authz_call_free(struct authz_call *call)
{
	if (call->st != NULL)
		call->st->call = NULL;
	strata_list_remove(&call->node);
	if (call->req != NULL)
		evhttp_cancel_request(call->req);
	if (call->evcon != NULL)
		evhttp_connection_free(call->evcon);
	event_free(call->ev);
	free(call);
}

/* The call is over: counted, its event frees it next, the answer goes
 * to the cache and to the connection that waits, if any. */
static void
authz_call_finish(struct authz_call *call, enum broker_authwire_result result,
    struct broker_authwire_answer *answer, const char *why)
{
	struct broker_authorizer *az = call->az;
	struct broker_authz_conn *st = call->st;

	call->done = true;
	call->req = NULL;
	event_del(call->ev);
	event_active(call->ev, EV_TIMEOUT, 0);
	(*az->b->m.authorizer_calls[result])++;
	if (result == BROKER_AUTHWIRE_ALLOW)
		authz_cache_put(az, call->key, answer);
	if (st == NULL)
		return;
	call->st = NULL;
	st->call = NULL;
	authz_deliver(st, result, answer, why);
}

static void
authz_call_error_cb(enum evhttp_request_error error, void *arg)
{
	struct authz_call *call = arg;

	call->error = error;
	call->failed = true;
}

static const char *
authz_http_error(const struct authz_call *call)
{
	if (!call->failed)
		return "connection failed";
	switch (call->error) {
	case EVREQ_HTTP_TIMEOUT:
		return "HTTP timeout";
	case EVREQ_HTTP_EOF:
		return "connection refused or closed";
	case EVREQ_HTTP_INVALID_HEADER:
		return "invalid HTTP answer";
	case EVREQ_HTTP_DATA_TOO_LONG:
		return "answer over 64 KiB, or its headers over 16 KiB";
	default:
		return "HTTP error";
	}
}

/* libevent's answer (req NULL: the request failed). */
static void
authz_call_done(struct evhttp_request *req, void *arg)
{
	struct authz_call *call = arg;
	struct broker_authwire_answer *answer = NULL;
	enum broker_authwire_result result = BROKER_AUTHWIRE_ERROR;
	int code = req != NULL ? evhttp_request_get_response_code(req) : 0;
	struct evbuffer *body;
	char why[256];

	if (call->done)
		return;
	call->req = NULL; /* libevent frees it after this callback */
	if (code == 0) {
		snprintf(why, sizeof(why), "authorizer unreachable: %s",
		    authz_http_error(call));
	} else if (code != 200) {
		snprintf(why, sizeof(why), "authorizer answered HTTP %d", code);
	} else {
		body = evhttp_request_get_input_buffer(req);
		result = broker_authwire_answer(
		    (const char *)evbuffer_pullup(body, -1),
		    evbuffer_get_length(body), &answer, why, sizeof(why));
	}
	authz_call_finish(call, result, answer, why);
	broker_authwire_answer_unref(answer);
}

/* POST the request of the call's connection. */
static void
authz_call_send(struct authz_call *call)
{
	struct broker_authorizer *az = call->az;
	const char *body = call->st->request;
	long ms = az->b->cfg.authorizer_timeout;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	struct evkeyvalq *h;

	call->sent = true;
	event_add(call->ev, &tv);
	call->evcon = evhttp_connection_base_new(az->b->base, az->dns,
	    az->host, az->port);
	if (call->evcon != NULL)
		call->req = evhttp_request_new(authz_call_done, call);
	if (call->req == NULL) {
		authz_call_finish(call, BROKER_AUTHWIRE_ERROR, NULL,
		    "could not make the HTTP request");
		return;
	}
	evhttp_connection_set_max_body_size(call->evcon, AUTHZ_MAX_BODY);
	evhttp_connection_set_max_headers_size(call->evcon,
	    AUTHZ_MAX_HEADERS);
	evhttp_request_set_error_cb(call->req, authz_call_error_cb);
	h = evhttp_request_get_output_headers(call->req);
	evhttp_add_header(h, "Host", az->host_header);
	evhttp_add_header(h, "Content-Type", "application/json");
	evbuffer_add(evhttp_request_get_output_buffer(call->req), body,
	    strlen(body));
	if (evhttp_make_request(call->evcon, call->req, EVHTTP_REQ_POST,
	    az->path) != 0 && !call->done) {
		call->req = NULL;
		authz_call_finish(call, BROKER_AUTHWIRE_ERROR, NULL,
		    "could not send the HTTP request");
	}
}

/* The call's event: first the send, then the deadline, then the free. */
static void
authz_call_event(evutil_socket_t fd, short what, void *arg)
{
	struct authz_call *call = arg;

	if (call->done || (!call->sent && call->st == NULL)) {
		authz_call_free(call);
		return;
	}
	if (!call->sent) {
		authz_call_send(call);
		return;
	}
	evhttp_cancel_request(call->req);
	call->req = NULL;
	authz_call_finish(call, BROKER_AUTHWIRE_ERROR, NULL,
	    "no answer within authorizer-timeout");
}

/* Ask the authorizer about st, soon (from the call's own event). */
static void
authz_call_start(struct broker_authz_conn *st)
{
	struct broker_authorizer *az = st->az;
	struct authz_call *call = calloc(1, sizeof(*call));

	if (call == NULL)
		abort();
	call->az = az;
	call->st = st;
	memcpy(call->key, st->key, sizeof(call->key));
	call->ev = event_new(az->b->base, -1, 0, authz_call_event, call);
	if (call->ev == NULL)
		abort();
	strata_list_push_back(&az->calls, &call->node);
	st->call = call;
	event_active(call->ev, EV_TIMEOUT, 0);
}

/* ---- connections ---- */

static void
authz_log(const struct broker_authz_conn *st,
    enum broker_authwire_result result,
    const struct broker_authwire_answer *answer, const char *why)
{
	const char *phase = st->live ? "refresh" : "connect";

	if (result == BROKER_AUTHWIRE_ALLOW) {
		STRATA_INFO(BROKER_COMP, "authorizer authenticated|peer=%s "
		    "client_id=%s principal=%s policies=%zu phase=%s",
		    st->conn->peer, st->client_id, answer->principal,
		    answer->n_pols, phase);
		return;
	}
	strata_log_limited(&st->az->refused_log, STRATA_LOG_WARN, BROKER_COMP,
	    "authorizer refused|peer=%s client_id=%s result=%s phase=%s "
	    "reason=\"%s\"", st->conn->peer, st->client_id,
	    authz_result_names[result], phase, why);
}

static void
authz_arm(struct event *ev, long seconds)
{
	struct timeval tv = {seconds, 0};

	if (ev != NULL && seconds > 0)
		event_add(ev, &tv);
}

/* The answer authenticates the waiting client: its CONNECT is handled
 * again.  That may close the connection (and free st): st is not used
 * after. */
static void
authz_resume(struct broker_authz_conn *st,
    struct broker_authwire_answer *answer)
{
	struct broker_conn *c = st->conn;
	uint8_t *frame = st->frame;
	size_t len = st->frame_len;

	answer->refs++;
	st->answer = answer;
	st->frame = NULL;
	c->state = CONN_NEW;
	broker_dispatch_replay(c, frame, len);
	free(frame);
	/* packets sent behind CONNECT are dispatched now */
	broker_conn_input_changed(c);
}

/* A refresh answered: new policies, a close, or (error) the old ones
 * kept until the next refresh. */
static void
authz_refreshed(struct broker_authz_conn *st,
    enum broker_authwire_result result,
    struct broker_authwire_answer *answer)
{
	struct broker_conn *c = st->conn;

	if (result == BROKER_AUTHWIRE_DENY) {
		(*c->broker->m.authorizer_disconnects[1])++;
		broker_conn_disconnect(c, STRATA_RC_NOT_AUTHORIZED,
		    "the authorizer no longer authenticates the client");
		return;
	}
	if (result == BROKER_AUTHWIRE_ALLOW) {
		answer->refs++;
		broker_authwire_answer_unref(st->answer);
		st->answer = answer;
	}
	authz_arm(st->refresh, st->answer->refresh_s);
	/* last: iot:Connect no longer allowed closes c and frees st */
	if (result == BROKER_AUTHWIRE_ALLOW)
		broker_device_authorizer_changed(c);
}

static void
authz_deliver(struct broker_authz_conn *st,
    enum broker_authwire_result result,
    struct broker_authwire_answer *answer, const char *why)
{
	authz_log(st, result, answer, why);
	if (st->live)
		authz_refreshed(st, result, answer);
	else if (result == BROKER_AUTHWIRE_ALLOW)
		authz_resume(st, answer);
	else
		/* the details stay in the log */
		broker_connect_refuse(st->conn, STRATA_RC_BAD_USER_PASS,
		    result == BROKER_AUTHWIRE_DENY ? "credentials refused by "
		    "the authorizer" : "authorizer unavailable");
}

static void
authz_expiry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct broker_authz_conn *st = arg;

	STRATA_INFO(BROKER_COMP, "closing connection|peer=%s client_id=%s "
	    "reason=\"disconnectAfterInSeconds reached\"", st->conn->peer,
	    st->client_id);
	(*st->az->b->m.authorizer_disconnects[0])++;
	broker_conn_disconnect(st->conn, STRATA_RC_MAX_CONNECT_TIME,
	    "the authorizer's disconnectAfterInSeconds reached");
}

static void
authz_refresh_cb(evutil_socket_t fd, short what, void *arg)
{
	struct broker_authz_conn *st = arg;
	struct broker_authwire_answer *cached;

	if (st->call != NULL)
		return;
	cached = authz_cache_get(st->az, st->key);
	if (cached != NULL) {
		(*st->az->b->m.authorizer_cache_hits)++;
		authz_deliver(st, BROKER_AUTHWIRE_ALLOW, cached, "cached");
		return;
	}
	authz_call_start(st);
}

/* The client's address without its port (c->peer is "ip:port" or
 * "[ip]:port"). */
static void
authz_source_ip(const struct broker_conn *c, char *out, size_t len)
{
	const char *colon = strrchr(c->peer, ':');
	const char *start = c->peer[0] == '[' ? c->peer + 1 : c->peer;
	size_t n = colon != NULL ? (size_t)(colon - start) : strlen(start);

	if (n > 0 && start[n - 1] == ']')
		n--;
	snprintf(out, len, "%.*s", (int)n, start);
}

static struct broker_authz_conn *
authz_conn_new(struct broker_authorizer *az, struct broker_conn *c,
    const struct strata_mqtt_connect *cn)
{
	struct broker_authz_conn *st = calloc(1, sizeof(*st));
	struct broker_authwire_request r = {cn, NULL, broker_conn_is_tls(c),
	    NULL, NULL, NULL, broker_ws_http(c)};
	char id[37], ip[64];
	SSL *ssl = broker_conn_ssl(c);

	if (st == NULL)
		abort();
	st->az = az;
	st->conn = c;
	st->client_id = strndup(cn->client_id.len > 0 ?
	    (const char *)cn->client_id.p : "-", cn->client_id.len > 0 ?
	    cn->client_id.len : 1);
	r.token = broker_authwire_token(cn, az->b->cfg.authorizer_token_key);
	/* over WebSocket, a header or query parameter of the opening
	 * request may carry it instead (ws.c) */
	if (r.token == NULL && broker_ws_token(c) != NULL &&
	    (r.token = strdup(broker_ws_token(c))) == NULL)
		abort();
	if (ssl != NULL)
		r.server_name = SSL_get_servername(ssl,
		    TLSEXT_NAMETYPE_host_name);
	strata_uuid4(id);
	authz_source_ip(c, ip, sizeof(ip));
	r.connection_id = id;
	r.source_ip = ip;
	st->request = broker_authwire_request(&r);
	broker_authwire_key(cn, r.token, st->key);
	free((char *)r.token);
	broker_ws_auth_taken(c); /* the request holds what it needs */
	if (st->client_id == NULL)
		abort();
	return st;
}

bool
broker_authorizer_wants_tcp(const struct broker_conn *c,
    const struct strata_mqtt_connect *cn)
{
	return c->broker->authorizer != NULL && !broker_conn_is_tls(c) &&
	    c->broker->cfg.authorizer_tcp && cn->has_username;
}

int
broker_authorizer_connect(struct broker_conn *c,
    const struct strata_mqtt_packet *p, struct broker_authz_conn **stp)
{
	struct strata_broker *b = c->broker;
	struct broker_authz_conn *st = *stp;
	struct broker_authwire_answer *cached;

	if (st != NULL && st->answer != NULL)
		return 0; /* the CONNECT again, after the answer */
	if (b->authorizer == NULL || b->cur_frame == NULL) {
		broker_why(b, "no authorizer");
		return STRATA_ERR(STRATA_RC_BAD_USER_PASS);
	}
	if (st == NULL)
		st = *stp = authz_conn_new(b->authorizer, c, &p->u.connect);
	cached = authz_cache_get(b->authorizer, st->key);
	if (cached != NULL) {
		(*b->m.authorizer_cache_hits)++;
		cached->refs++;
		st->answer = cached;
		return 0;
	}
	st->frame = malloc(b->cur_frame_len);
	if (st->frame == NULL)
		abort();
	memcpy(st->frame, b->cur_frame, b->cur_frame_len);
	st->frame_len = b->cur_frame_len;
	c->state = CONN_WAITING;
	broker_conn_input_changed(c);
	authz_call_start(st);
	return STRATA_AGAIN;
}

size_t
broker_authorizer_policies(const struct broker_authz_conn *st,
    struct strata_policy **out, size_t max)
{
	size_t n = 0;

	for (; st != NULL && st->answer != NULL && n < st->answer->n_pols &&
	    n < max; n++)
		out[n] = st->answer->pols[n];
	return n;
}

void
broker_authorizer_connected(struct broker_authz_conn *st)
{
	struct event_base *base = st->az->b->base;

	if (st->live)
		return;
	st->live = true;
	st->expiry = evtimer_new(base, authz_expiry_cb, st);
	st->refresh = evtimer_new(base, authz_refresh_cb, st);
	if (st->expiry == NULL || st->refresh == NULL)
		abort();
	authz_arm(st->expiry, st->answer->disconnect_s);
	authz_arm(st->refresh, st->answer->refresh_s);
}

void
broker_authorizer_conn_free(struct broker_authz_conn *st)
{
	if (st == NULL)
		return;
	if (st->call != NULL)
		st->call->st = NULL;
	if (st->expiry != NULL)
		event_free(st->expiry);
	if (st->refresh != NULL)
		event_free(st->refresh);
	broker_authwire_answer_unref(st->answer);
	free(st->frame);
	free(st->request);
	free(st->client_id);
	free(st);
}

/* ---- life cycle ---- */

/* A DNS resolver only for a host name (an address needs none). */
static void
authz_dns(struct broker_authorizer *az)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (inet_pton(AF_INET, az->host, &a4) == 1 ||
	    inet_pton(AF_INET6, az->host, &a6) == 1)
		return;
	az->dns = evdns_base_new(az->b->base,
	    EVDNS_BASE_INITIALIZE_NAMESERVERS);
	if (az->dns == NULL)
		STRATA_WARN(BROKER_COMP, "no DNS resolver: the authorizer's "
		    "host name is resolved blocking|host=%s", az->host);
}

int
broker_authorizer_start(struct strata_broker *b)
{
	struct broker_authorizer *az;
	char err[256];

	if (b->cfg.authorizer_url == NULL || b->cfg.authorizer_url[0] == '\0')
		return 0;
	az = calloc(1, sizeof(*az));
	if (az == NULL)
		abort();
	az->b = b;
	b->authorizer = az;
	strata_list_init(&az->calls);
	az->cache = strata_hashmap_new(authz_cached_free);
	if (authz_parse_url(b->cfg.authorizer_url, az, err,
	    sizeof(err)) != 0) {
		STRATA_ERROR(BROKER_COMP, "config error: %s", err);
		return STRATA_EINVAL;
	}
	authz_dns(az);
	STRATA_INFO(BROKER_COMP, "custom authorizer|url=%s timeout_ms=%ld "
	    "cache_s=%ld tcp=%d", b->cfg.authorizer_url,
	    b->cfg.authorizer_timeout, b->cfg.authorizer_cache_seconds,
	    b->cfg.authorizer_tcp);
	return 0;
}

void
broker_authorizer_free(struct strata_broker *b)
{
	struct broker_authorizer *az = b->authorizer;

	if (az == NULL)
		return;
	while (!strata_list_empty(&az->calls))
		authz_call_free(STRATA_CONTAINER_OF(az->calls.next,
		    struct authz_call, node));
	strata_hashmap_free(az->cache);
	if (az->dns != NULL)
		evdns_base_free(az->dns, 0);
	free(az->host);
	free(az->host_header);
	free(az->path);
	free(az);
	b->authorizer = NULL;
}
