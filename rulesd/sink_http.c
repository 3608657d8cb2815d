/*
 * sink_http.c - the http action: POST the body to the url with libevent's
 * evhttp client, over at most SINK_HTTP_CONNS keep-alive connections per
 * origin (scheme://host:port), https through bufferevent_openssl with the
 * certificate and host name verified against the sinks' CA bundle.
 *
 * An origin's host is resolved (evdns) before its first connection and
 * again after a connection could not be made; unless http_allow_private,
 * an address that is loopback, private, link-local, shared, multicast or
 * unspecified is refused (the job fails, not retried).  Every attempt has
 * the action's timeoutMs; a connection failure, a timeout, 429 and 5xx
 * are tried again up to the action's retries, after 100 ms * 2^n (capped
 * at 10 s), jittered down to half; 2xx is success, any other status
 * fails at once.
 *
 * Slot states: FREE (no connection) -> IDLE (connection, no request) <->
 * BUSY (a request and its timer); a connection that closed or failed is
 * marked dead and freed by the next pump (never inside its own
 * callback), the slot FREE again.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "rule.h"
#include "sink_impl.h"

#define SINK_HTTP_CONNS 8
#define SINK_HTTP_TIMEOUT_MS_DEFAULT 3000
#define SINK_HTTP_BACKOFF_MS 100
#define SINK_HTTP_BACKOFF_MAX_MS 10000
#define SINK_HTTP_RETRIES_MAX 10
#define SINK_HTTP_DNS_FAILED_MS 1000   /* remember a failed lookup */
#define SINK_HTTP_MAX_BODY (1024 * 1024)
#define SINK_HTTP_MAX_HEADERS (64 * 1024)
#define SINK_HTTP_HOST_MAX 256

enum sink_http_dns {
	SINK_HTTP_UNRESOLVED,
	SINK_HTTP_RESOLVING,
	SINK_HTTP_RESOLVED,
	SINK_HTTP_UNUSABLE,    /* failed lookup or refused address */
};

struct sink_http_slot {
	struct sink_target *t;
	struct evhttp_connection *evcon;   /* NULL: FREE */
	struct sink_job *job;              /* non-NULL: BUSY */
	struct event *timeout_ev;
	bool dead;
};

struct sink_http {
	bool https;
	char host[SINK_HTTP_HOST_MAX];     /* as in the url ([v6] too) */
	char name[SINK_HTTP_HOST_MAX];     /* to resolve and verify */
	uint16_t port;
	char host_header[SINK_HTTP_HOST_MAX + 8];
	enum sink_http_dns dns;
	struct evdns_getaddrinfo_request *dns_req;
	char addr[INET6_ADDRSTRLEN];
	char dns_error[SINK_HTTP_HOST_MAX + 128];
	bool dns_retriable;
	uint64_t dns_failed_us;
	struct sink_http_slot slots[SINK_HTTP_CONNS];
};

static bool
sink_http_private_v4(const uint8_t *a)
{
	return a[0] == 0 || a[0] == 10 || a[0] == 127 ||
	    (a[0] == 169 && a[1] == 254) ||
	    (a[0] == 172 && (a[1] & 0xf0) == 16) ||
	    (a[0] == 192 && a[1] == 168) ||
	    (a[0] == 100 && (a[1] & 0xc0) == 64) ||
	    a[0] >= 224;
}

/* Loopback, private, link-local, shared, multicast, reserved or
 * unspecified: what a rule must not reach unless allowed. */
static bool
sink_http_private(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		return sink_http_private_v4((const uint8_t *)&in->sin_addr);
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		const uint8_t *a = in6->sin6_addr.s6_addr;

		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) ||
		    IN6_IS_ADDR_V4COMPAT(&in6->sin6_addr))
			return sink_http_private_v4(a + 12);
		return IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr) ||
		    IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
		    (a[0] & 0xfe) == 0xfc || (a[0] == 0xfe &&
		    (a[1] & 0xc0) == 0x80) || a[0] == 0xff;
	}
	return true;
}

/* A header that evhttp writes itself or that would change the framing. */
static bool
sink_http_reserved_header(const char *key)
{
	return strcasecmp(key, "host") == 0 ||
	    strcasecmp(key, "content-length") == 0 ||
	    strcasecmp(key, "transfer-encoding") == 0 ||
	    strcasecmp(key, "connection") == 0;
}

static int
sink_http_prepare(struct rulesd_sinks *s, struct sink_job *j, char *key,
    size_t keylen, char *err, size_t errlen, char *res, size_t reslen)
{
	const char *url = j->pub.target;
	struct evhttp_uri *uri = NULL;
	const char *scheme, *host, *path, *query;
	bool https;
	int port, rc = -1;

	snprintf(res, reslen, "%s", url != NULL ? url : "");
	if (url == NULL || (uri = evhttp_uri_parse_with_flags(url, 0)) ==
	    NULL) {
		snprintf(err, errlen, "Invalid url %s", url != NULL ? url :
		    "(none)");
		goto out;
	}
	scheme = evhttp_uri_get_scheme(uri);
	host = evhttp_uri_get_host(uri);
	if (scheme == NULL || (strcasecmp(scheme, "http") != 0 &&
	    strcasecmp(scheme, "https") != 0) || host == NULL ||
	    host[0] == '\0' || strlen(host) >= SINK_HTTP_HOST_MAX) {
		snprintf(err, errlen, "Invalid url %s: expected http:// or "
		    "https:// and a host", url);
		goto out;
	}
	if (evhttp_uri_get_userinfo(uri) != NULL) {
		snprintf(err, errlen, "Invalid url %s: user information is "
		    "not supported", url);
		goto out;
	}
	for (size_t i = 0; i < j->pub.n_headers; i++) {
		const char *k = j->pub.header_keys[i];
		const char *v = j->pub.header_values[i];

		if (k == NULL || v == NULL || k[0] == '\0' ||
		    strpbrk(k, "\r\n: \t") != NULL || strpbrk(v, "\r\n") !=
		    NULL) {
			snprintf(err, errlen, "Invalid header %s",
			    k != NULL ? k : "(none)");
			goto out;
		}
	}
	https = strcasecmp(scheme, "https") == 0;
	port = evhttp_uri_get_port(uri);
	if (port <= 0)
		port = https ? 443 : 80;
	path = evhttp_uri_get_path(uri);
	query = evhttp_uri_get_query(uri);
	if (asprintf(&j->http_path, "%s%s%s", path != NULL && path[0] !=
	    '\0' ? path : "/", query != NULL ? "?" : "", query != NULL ?
	    query : "") < 0)
		abort();
	snprintf(key, keylen, "%s://%s:%d", https ? "https" : "http", host,
	    port);
	for (char *p = key; *p != '\0'; p++)  /* host names: any case */
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	rc = 0;
out:
	if (uri != NULL)
		evhttp_uri_free(uri);
	return rc;
}

static void sink_http_timeout_cb(evutil_socket_t fd, short what,
    void *arg);

static void
sink_http_open(struct sink_target *t, struct sink_job *first)
{
	struct sink_http *h = calloc(1, sizeof(*h));
	struct evhttp_uri *uri = evhttp_uri_parse_with_flags(t->key, 0);
	size_t n;

	if (h == NULL || uri == NULL)
		abort();  /* prepare made the key */
	t->impl = h;
	h->https = strcmp(evhttp_uri_get_scheme(uri), "https") == 0;
	h->port = (uint16_t)evhttp_uri_get_port(uri);
	snprintf(h->host, sizeof(h->host), "%s", evhttp_uri_get_host(uri));
	n = strlen(h->host);
	if (h->host[0] == '[' && n > 2)
		snprintf(h->name, sizeof(h->name), "%.*s", (int)(n - 2),
		    h->host + 1);
	else
		snprintf(h->name, sizeof(h->name), "%s", h->host);
	if (h->port == (h->https ? 443 : 80))
		snprintf(h->host_header, sizeof(h->host_header), "%s",
		    h->host);
	else
		snprintf(h->host_header, sizeof(h->host_header), "%s:%u",
		    h->host, (unsigned)h->port);
	evhttp_uri_free(uri);
	for (int i = 0; i < SINK_HTTP_CONNS; i++) {
		h->slots[i].t = t;
		h->slots[i].timeout_ev = evtimer_new(sink_base(t->sinks),
		    sink_http_timeout_cb, &h->slots[i]);
		if (h->slots[i].timeout_ev == NULL)
			abort();
	}
}

static void
sink_http_resolved_cb(int result, struct evutil_addrinfo *res, void *arg)
{
	struct sink_target *t = arg;
	struct sink_http *h;

	if (result == EVUTIL_EAI_CANCEL)
		return;  /* the target is closing */
	h = t->impl;
	h->dns_req = NULL;
	if (result != 0 || res == NULL) {
		h->dns = SINK_HTTP_UNUSABLE;
		h->dns_retriable = true;
		snprintf(h->dns_error, sizeof(h->dns_error), "Could not "
		    "resolve host %s: %s", h->name, evutil_gai_strerror(
		    result));
	} else if (!sink_config(t->sinks)->http_allow_private &&
	    sink_http_private(res->ai_addr)) {
		h->dns = SINK_HTTP_UNUSABLE;
		h->dns_retriable = false;
		snprintf(h->dns_error, sizeof(h->dns_error), "Host %s "
		    "resolves to a private or loopback address, which is "
		    "not allowed", h->name);
	} else {
		const void *a = res->ai_family == AF_INET6 ?
		    (const void *)&((struct sockaddr_in6 *)(void *)
		    res->ai_addr)->sin6_addr :
		    (const void *)&((struct sockaddr_in *)(void *)
		    res->ai_addr)->sin_addr;

		evutil_inet_ntop(res->ai_family, a, h->addr,
		    sizeof(h->addr));
		h->dns = SINK_HTTP_RESOLVED;
	}
	if (h->dns == SINK_HTTP_UNUSABLE)
		h->dns_failed_us = sink_now_us();
	if (res != NULL)
		evutil_freeaddrinfo(res);
	sink_target_kick(t);
}

static void
sink_http_resolve(struct sink_target *t)
{
	struct sink_http *h = t->impl;
	struct evutil_addrinfo hints = { 0 };
	struct evdns_getaddrinfo_request *req;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	h->dns = SINK_HTTP_RESOLVING;
	/* may answer before it returns (numeric hosts, /etc/hosts) */
	req = evdns_getaddrinfo(sink_dns(t->sinks), h->name, NULL, &hints,
	    sink_http_resolved_cb, t);
	if (h->dns == SINK_HTTP_RESOLVING)
		h->dns_req = req;
}

/* An attempt of j failed: try again later when allowed, else fail it. */
static void
sink_http_failed(struct sink_job *j, bool retriable, const char *error)
{
	const struct strata_rule_action *a = j->pub.action;
	long retries = a->retries < 0 ? 0 : a->retries;
	unsigned delay;

	if (retries > SINK_HTTP_RETRIES_MAX)
		retries = SINK_HTTP_RETRIES_MAX;
	if (!retriable || j->attempts > (unsigned)retries) {
		sink_job_finish(j, false, j->pub.target, "%s", error);
		return;
	}
	delay = SINK_HTTP_BACKOFF_MS << (j->attempts > 7 ? 7 :
	    j->attempts - 1);
	if (delay > SINK_HTTP_BACKOFF_MAX_MS)
		delay = SINK_HTTP_BACKOFF_MAX_MS;
	delay = delay / 2 + (unsigned)(sink_random(j->target->sinks) %
	    (delay / 2 + 1));
	sink_job_retry(j, delay);
}

static void
sink_http_done_cb(struct evhttp_request *req, void *arg)
{
	struct sink_http_slot *slot = arg;
	struct sink_job *j = slot->job;
	char error[600];
	int code;

	if (j == NULL)
		return;  /* timed out already */
	slot->job = NULL;
	evtimer_del(slot->timeout_ev);
	code = req != NULL ? evhttp_request_get_response_code(req) : 0;
	if (code >= 200 && code < 300) {
		sink_job_finish(j, true, NULL, NULL);
	} else if (code == 0) {
		struct sink_http *h = slot->t->impl;

		slot->dead = true;
		h->dns = SINK_HTTP_UNRESOLVED;  /* the address may move */
		snprintf(error, sizeof(error), "Could not connect to %s%s",
		    j->pub.target, h->https ? " (connection or TLS handshake "
		    "failed)" : "");
		sink_http_failed(j, true, error);
	} else {
		snprintf(error, sizeof(error), "Received %d from %s", code,
		    j->pub.target);
		sink_http_failed(j, code == 429 || code >= 500, error);
	}
	sink_target_kick(slot->t);
}

static void
sink_http_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sink_http_slot *slot = arg;
	struct sink_job *j = slot->job;
	char error[600];

	slot->job = NULL;
	slot->dead = true;  /* the request is dropped with the connection */
	snprintf(error, sizeof(error), "Request to %s timed out after %ld ms",
	    j->pub.target, j->pub.action->timeout_ms > 0 ?
	    j->pub.action->timeout_ms : SINK_HTTP_TIMEOUT_MS_DEFAULT);
	sink_http_failed(j, true, error);
	sink_target_kick(slot->t);
}

static void
sink_http_closed_cb(struct evhttp_connection *evcon, void *arg)
{
	struct sink_http_slot *slot = arg;

	slot->dead = true;
	sink_target_kick(slot->t);
}

static void
sink_http_drop(struct sink_http_slot *slot)
{
	if (slot->evcon != NULL) {
		/* no callback from here on: the request (if any) is freed
		 * with the connection */
		evhttp_connection_set_closecb(slot->evcon, NULL, NULL);
		evhttp_connection_free(slot->evcon);
	}
	slot->evcon = NULL;
	slot->dead = false;
}

/* A connection to the resolved address; NULL with a message in err. */
static struct evhttp_connection *
sink_http_connect(struct sink_target *t, char *err, size_t errlen)
{
	struct sink_http *h = t->impl;
	struct event_base *base = sink_base(t->sinks);
	struct bufferevent *bev;
	struct evhttp_connection *evcon;

	if (h->https) {
		SSL_CTX *ctx = sink_tls_context(t->sinks, err, errlen);
		struct in6_addr ip;
		SSL *ssl;

		if (ctx == NULL)
			return NULL;
		ssl = SSL_new(ctx);
		if (ssl == NULL)
			abort();
		if (inet_pton(AF_INET, h->name, &ip) == 1 ||
		    inet_pton(AF_INET6, h->name, &ip) == 1) {
			X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
			    h->name);
		} else {
			SSL_set_tlsext_host_name(ssl, h->name);
			SSL_set1_host(ssl, h->name);
		}
		bev = bufferevent_openssl_socket_new(base, -1, ssl,
		    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE |
		    BEV_OPT_DEFER_CALLBACKS);
		if (bev != NULL)
			bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	} else {
		bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	}
	if (bev == NULL)
		abort();
	evcon = evhttp_connection_base_bufferevent_new(base, NULL, bev,
	    h->addr, h->port);
	if (evcon == NULL)
		abort();
	evhttp_connection_set_retries(evcon, 0);
	evhttp_connection_set_max_body_size(evcon, SINK_HTTP_MAX_BODY);
	evhttp_connection_set_max_headers_size(evcon, SINK_HTTP_MAX_HEADERS);
	return evcon;
}

static void
sink_http_headers(struct sink_target *t, struct sink_job *j,
    struct evkeyvalq *out)
{
	struct sink_http *h = t->impl;
	bool content_type = false;

	evhttp_add_header(out, "Host", h->host_header);
	evhttp_add_header(out, "User-Agent", "strata-rulesd");
	for (size_t i = 0; i < j->pub.n_headers; i++) {
		const char *k = j->pub.header_keys[i];

		if (sink_http_reserved_header(k))
			continue;
		if (strcasecmp(k, "content-type") == 0)
			content_type = true;
		evhttp_add_header(out, k, j->pub.header_values[i]);
	}
	if (!content_type)
		evhttp_add_header(out, "Content-Type", "application/json");
}

/* One attempt of j on slot (IDLE or FREE). */
static void
sink_http_start(struct sink_target *t, struct sink_http_slot *slot,
    struct sink_job *j)
{
	long ms = j->pub.action->timeout_ms > 0 ? j->pub.action->timeout_ms :
	    SINK_HTTP_TIMEOUT_MS_DEFAULT;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	struct evhttp_request *req;
	char err[300];

	j->attempts++;
	if (slot->evcon == NULL) {
		slot->evcon = sink_http_connect(t, err, sizeof(err));
		if (slot->evcon == NULL) {
			sink_job_finish(j, false, j->pub.target, "%s", err);
			return;
		}
		evhttp_connection_set_closecb(slot->evcon,
		    sink_http_closed_cb, slot);
	}
	req = evhttp_request_new(sink_http_done_cb, slot);
	if (req == NULL)
		abort();
	sink_http_headers(t, j, evhttp_request_get_output_headers(req));
	evbuffer_add(evhttp_request_get_output_buffer(req), j->pub.body,
	    j->pub.body_len);
	slot->job = j;
	evtimer_add(slot->timeout_ev, &tv);
	if (evhttp_make_request(slot->evcon, req, EVHTTP_REQ_POST,
	    j->http_path) != 0 && slot->job == j) {
		/* not sent and no callback ran for it */
		slot->job = NULL;
		slot->dead = true;
		evtimer_del(slot->timeout_ev);
		snprintf(err, sizeof(err), "Could not connect to %s",
		    j->pub.target);
		sink_http_failed(j, true, err);
		sink_target_kick(t);
	}
}

/* What the lookup decided for the queue: true when requests may start. */
static bool
sink_http_ready(struct sink_target *t)
{
	struct sink_http *h = t->impl;
	struct sink_job *j;

	if (h->dns == SINK_HTTP_UNUSABLE && sink_now_us() -
	    h->dns_failed_us > SINK_HTTP_DNS_FAILED_MS * 1000u)
		h->dns = SINK_HTTP_UNRESOLVED;
	if (h->dns == SINK_HTTP_UNUSABLE) {
		while ((j = sink_target_take(t)) != NULL) {
			j->attempts++;
			sink_http_failed(j, h->dns_retriable, h->dns_error);
		}
		return false;
	}
	if (h->dns == SINK_HTTP_UNRESOLVED && t->queued > 0)
		sink_http_resolve(t);
	return h->dns == SINK_HTTP_RESOLVED;
}

static void
sink_http_pump(struct sink_target *t)
{
	struct sink_http *h = t->impl;

	for (int i = 0; i < SINK_HTTP_CONNS; i++) {
		struct sink_http_slot *slot = &h->slots[i];

		if (slot->dead && slot->job == NULL)
			sink_http_drop(slot);
	}
	if (t->queued == 0 || !sink_http_ready(t))
		return;
	for (int i = 0; i < SINK_HTTP_CONNS && t->queued > 0; i++) {
		struct sink_http_slot *slot = &h->slots[i];

		if (slot->job == NULL && !slot->dead)
			sink_http_start(t, slot, sink_target_take(t));
	}
}

static void
sink_http_close(struct sink_target *t)
{
	struct sink_http *h = t->impl;

	if (h->dns_req != NULL)
		evdns_getaddrinfo_cancel(h->dns_req);
	for (int i = 0; i < SINK_HTTP_CONNS; i++) {
		sink_http_drop(&h->slots[i]);
		event_free(h->slots[i].timeout_ev);
	}
	free(h);
	t->impl = NULL;
}

const struct sink_kind_ops sink_http_ops = {
	.name = "http",
	.prepare = sink_http_prepare,
	.open = sink_http_open,
	.pump = sink_http_pump,
	.close = sink_http_close,
};
