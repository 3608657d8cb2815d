/*
 * metrics.c - Prometheus registry and the /metrics + /healthz endpoint.
 *
 * A registry is a list of families (name, help, type) in registration
 * order, each a list of series (labels, cell).  Registration happens at
 * start-up and looks families and series up linearly; the hot path only
 * touches the cell it was handed.  Each series is its own allocation so
 * a cell never moves.
 *
 * Registering a name again with another type is a programming error: it
 * is logged and the process aborts, as two meanings under one name would
 * make the exposition invalid.
 */
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <sys/socket.h>
#include <netinet/in.h>

#include "log.h"
#include "metrics.h"

/* What a stranger on the metrics port can make a daemon hold: Prometheus
 * and health checks send a short GET without a body. */
#define METRICS_HTTP_MAX_BODY 4096
#define METRICS_HTTP_MAX_HEADERS 8192 /* request line + headers */
#define METRICS_HTTP_TIMEOUT 10       /* seconds of read/write inactivity */

enum metrics_type {
	METRICS_COUNTER,
	METRICS_GAUGE,
	METRICS_HISTOGRAM,
};

struct strata_histogram {
	size_t n;
	uint64_t sum_us, count;
	uint64_t *bounds_us;   /* n */
	uint64_t *counts;      /* n + 1, the last +Inf; not cumulative */
};

const uint64_t strata_latency_bounds_us[STRATA_LATENCY_BOUNDS] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000,
	250000, 1000000, 2500000, 10000000};

struct metrics_series {
	struct metrics_series *next;
	char *labels; /* NULL: no labels */
	union {
		uint64_t counter;
		int64_t gauge;
	} cell;
	int64_t (*fn)(void *arg); /* gauge computed on scrape, or NULL */
	uint64_t (*counter_fn)(void *arg); /* counter computed, or NULL */
	void *arg;
	struct strata_histogram *hist; /* METRICS_HISTOGRAM */
};

struct metrics_family {
	struct metrics_family *next;
	char *name, *help;
	enum metrics_type type;
	struct metrics_series *series, **series_tail;
};

struct strata_metrics {
	struct metrics_family *families, **tail;
};

struct strata_metrics_http {
	struct evhttp *http;
	struct evhttp_bound_socket *socket;
	struct strata_metrics *metrics;
	bool (*healthy)(void *arg);
	void *arg;
};

static void *
metrics_alloc(size_t size)
{
	void *p = calloc(1, size);

	if (p == NULL)
		abort();
	return p;
}

static char *
metrics_strdup(const char *s)
{
	char *p = s ? strdup(s) : NULL;

	if (s != NULL && p == NULL)
		abort();
	return p;
}

struct strata_metrics *
strata_metrics_new(void)
{
	struct strata_metrics *m = metrics_alloc(sizeof(*m));

	m->tail = &m->families;
	return m;
}

void
strata_metrics_free(struct strata_metrics *m)
{
	struct metrics_family *f, *fnext;
	struct metrics_series *s, *snext;

	if (m == NULL)
		return;
	for (f = m->families; f != NULL; f = fnext) {
		fnext = f->next;
		for (s = f->series; s != NULL; s = snext) {
			snext = s->next;
			if (s->hist != NULL) {
				free(s->hist->bounds_us);
				free(s->hist->counts);
				free(s->hist);
			}
			free(s->labels);
			free(s);
		}
		free(f->name);
		free(f->help);
		free(f);
	}
	free(m);
}

static struct metrics_family *
metrics_family(struct strata_metrics *m, const char *name, const char *help,
    enum metrics_type type)
{
	struct metrics_family *f;

	for (f = m->families; f != NULL; f = f->next) {
		if (strcmp(f->name, name) != 0)
			continue;
		if (f->type != type) {
			STRATA_ERROR("metrics",
			    "metric registered with two "
			    "types|name=%s",
			    name);
			abort();
		}
		return f;
	}
	f = metrics_alloc(sizeof(*f));
	f->name = metrics_strdup(name);
	f->help = metrics_strdup(help ? help : "");
	f->type = type;
	f->series_tail = &f->series;
	*m->tail = f;
	m->tail = &f->next;
	return f;
}

/* The series of (name, labels), created if new. */
static struct metrics_series *
metrics_series(struct strata_metrics *m, const char *name, const char *help,
    const char *labels, enum metrics_type type)
{
	struct metrics_family *f = metrics_family(m, name, help, type);
	struct metrics_series *s;

	if (labels != NULL && labels[0] == '\0')
		labels = NULL;
	for (s = f->series; s != NULL; s = s->next)
		if ((s->labels == NULL && labels == NULL) ||
		    (s->labels && labels && strcmp(s->labels, labels) == 0))
			return s;
	s = metrics_alloc(sizeof(*s));
	s->labels = metrics_strdup(labels);
	*f->series_tail = s;
	f->series_tail = &s->next;
	return s;
}

uint64_t *
strata_metrics_counter(struct strata_metrics *m, const char *name,
    const char *help, const char *labels)
{
	return &metrics_series(m, name, help, labels, METRICS_COUNTER)
	            ->cell.counter;
}

int64_t *
strata_metrics_gauge(struct strata_metrics *m, const char *name,
    const char *help, const char *labels)
{
	return &metrics_series(m, name, help, labels, METRICS_GAUGE)
	            ->cell.gauge;
}

void
strata_metrics_gauge_fn(struct strata_metrics *m, const char *name,
    const char *help, const char *labels, int64_t (*fn)(void *arg), void *arg)
{
	struct metrics_series *s;

	s = metrics_series(m, name, help, labels, METRICS_GAUGE);
	s->fn = fn;
	s->arg = arg;
}

void
strata_metrics_counter_fn(struct strata_metrics *m, const char *name,
    const char *help, const char *labels, uint64_t (*fn)(void *arg),
    void *arg)
{
	struct metrics_series *s;

	s = metrics_series(m, name, help, labels, METRICS_COUNTER);
	s->counter_fn = fn;
	s->arg = arg;
}

struct strata_histogram *
strata_metrics_histogram(struct strata_metrics *m, const char *name,
    const char *help, const char *labels, const uint64_t *bounds_us,
    size_t n)
{
	struct metrics_series *s;
	struct strata_histogram *h;

	s = metrics_series(m, name, help, labels, METRICS_HISTOGRAM);
	if (s->hist != NULL)
		return s->hist;
	h = metrics_alloc(sizeof(*h));
	h->n = n;
	h->bounds_us = metrics_alloc(n * sizeof(*h->bounds_us));
	h->counts = metrics_alloc((n + 1) * sizeof(*h->counts));
	memcpy(h->bounds_us, bounds_us, n * sizeof(*bounds_us));
	s->hist = h;
	return h;
}

void
strata_histogram_observe_us(struct strata_histogram *h, uint64_t us)
{
	size_t i = 0;

	while (i < h->n && us > h->bounds_us[i])
		i++;
	h->counts[i]++;
	h->count++;
	h->sum_us += us;
}

/* microseconds as seconds, exactly: "0.000250" */
static void
metrics_render_seconds(struct evbuffer *out, uint64_t us)
{
	evbuffer_add_printf(out, "%llu.%06llu",
	    (unsigned long long)(us / 1000000),
	    (unsigned long long)(us % 1000000));
}

static void
metrics_render_histogram(const char *name, const struct metrics_series *s,
    struct evbuffer *out)
{
	const struct strata_histogram *h = s->hist;
	const char *sep = s->labels != NULL ? "," : "";
	const char *labels = s->labels != NULL ? s->labels : "";
	uint64_t cum = 0;

	for (size_t i = 0; i <= h->n; i++) {
		cum += h->counts[i];
		evbuffer_add_printf(out, "%s_bucket{%s%sle=\"", name, labels,
		    sep);
		if (i < h->n)
			metrics_render_seconds(out, h->bounds_us[i]);
		else
			evbuffer_add(out, "+Inf", 4);
		evbuffer_add_printf(out, "\"} %llu\n",
		    (unsigned long long)cum);
	}
	evbuffer_add_printf(out, "%s_sum%s%s%s ", name, *labels ? "{" : "",
	    labels, *labels ? "}" : "");
	metrics_render_seconds(out, h->sum_us);
	evbuffer_add_printf(out, "\n%s_count%s%s%s %llu\n", name,
	    *labels ? "{" : "", labels, *labels ? "}" : "",
	    (unsigned long long)h->count);
}

/* HELP text escaping of the 0.0.4 format: '\' and newline. */
static void
metrics_render_help(struct evbuffer *out, const char *help)
{
	for (const char *p = help; *p != '\0'; p++) {
		if (*p == '\\')
			evbuffer_add(out, "\\\\", 2);
		else if (*p == '\n')
			evbuffer_add(out, "\\n", 2);
		else
			evbuffer_add(out, p, 1);
	}
}

static void
metrics_render_family(const struct metrics_family *f, struct evbuffer *out)
{
	const struct metrics_series *s;

	evbuffer_add_printf(out, "# HELP %s ", f->name);
	metrics_render_help(out, f->help);
	evbuffer_add_printf(out, "\n# TYPE %s %s\n", f->name,
	    f->type == METRICS_COUNTER ? "counter" :
	    f->type == METRICS_GAUGE ? "gauge" : "histogram");
	for (s = f->series; s != NULL; s = s->next) {
		if (f->type == METRICS_HISTOGRAM) {
			metrics_render_histogram(f->name, s, out);
			continue;
		}
		evbuffer_add_printf(out, "%s", f->name);
		if (s->labels != NULL)
			evbuffer_add_printf(out, "{%s}", s->labels);
		if (f->type == METRICS_COUNTER)
			evbuffer_add_printf(out, " %llu\n",
			    (unsigned long long)(s->counter_fn ?
			    s->counter_fn(s->arg) : s->cell.counter));
		else
			evbuffer_add_printf(out, " %lld\n",
			    (long long)(s->fn ? s->fn(s->arg)
			                      : s->cell.gauge));
	}
}

void
strata_metrics_render(const struct strata_metrics *m, struct evbuffer *out)
{
	for (const struct metrics_family *f = m->families; f != NULL;
	     f = f->next)
		metrics_render_family(f, out);
}

static void
metrics_http_reply(struct evhttp_request *req, int code, const char *reason,
    const char *type, struct evbuffer *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", type);
	if (code == HTTP_BADMETHOD)
		evhttp_add_header(h, "Allow", "GET");
	evhttp_send_reply(req, code, reason, body);
}

static void
metrics_http_json(
    struct evhttp_request *req, int code, const char *reason, const char *json)
{
	struct evbuffer *body = evbuffer_new();

	if (body == NULL)
		abort();
	evbuffer_add_printf(body, "%s\n", json);
	metrics_http_reply(req, code, reason, "application/json", body);
	evbuffer_free(body);
}

/* The request path without the query string; false if it cannot be
 * parsed. */
static bool
metrics_http_path(struct evhttp_request *req, char *path, size_t len)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *p = uri ? evhttp_uri_get_path(uri) : NULL;

	if (p == NULL || strlen(p) >= len)
		return false;
	strcpy(path, p);
	return true;
}

static void
metrics_http_handle(struct evhttp_request *req, void *arg)
{
	struct strata_metrics_http *h = arg;
	struct evbuffer *body;
	char path[64];

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		metrics_http_json(req, HTTP_BADMETHOD, "Method Not Allowed",
		    "{\"error\":\"method not allowed\"}");
		return;
	}
	if (!metrics_http_path(req, path, sizeof(path))) {
		metrics_http_json(req, HTTP_NOTFOUND, "Not Found",
		    "{\"error\":\"not found\"}");
	} else if (strcmp(path, "/metrics") == 0) {
		body = evbuffer_new();
		if (body == NULL)
			abort();
		strata_metrics_render(h->metrics, body);
		metrics_http_reply(
		    req, HTTP_OK, "OK", "text/plain; version=0.0.4", body);
		evbuffer_free(body);
	} else if (strcmp(path, "/healthz") == 0) {
		if (h->healthy == NULL || h->healthy(h->arg))
			metrics_http_json(
			    req, HTTP_OK, "OK", "{\"status\":\"ok\"}");
		else
			metrics_http_json(req, HTTP_SERVUNAVAIL,
			    "Service Unavailable",
			    "{\"status\":\"unavailable\"}");
	} else {
		metrics_http_json(req, HTTP_NOTFOUND, "Not Found",
		    "{\"error\":\"not found\"}");
	}
}

/*
 * Bounds enforced by evhttp itself, before metrics_http_handle() runs.
 * libevent 2.1.12 has no hook to answer these errors (evhttp_set_errorcb
 * and evhttp_set_newreqcb are 2.2 API): the request never reaches our
 * callback and evhttp_send_error() writes libevent's own HTML page, with
 * Connection: close, then the connection is closed:
 *   Content-Length (or chunks) over METRICS_HTTP_MAX_BODY: 413, sent as
 *     soon as the headers are read, without reading the body;
 *   request line + headers over METRICS_HTTP_MAX_HEADERS: 400, sent as
 *     soon as the bound is passed, without reading the rest;
 *   a bad request line or header: 400;
 *   no byte for METRICS_HTTP_TIMEOUT seconds while a request is read or
 *     between requests (keep-alive): closed without an answer.
 * Closing with unread input makes the kernel reset the connection: a
 * client still sending gets EPIPE or ECONNRESET, though on Linux it can
 * still read the answer that arrived before the reset.  We do not set
 * EVHTTP_SERVER_LINGERING_CLOSE, which reads and discards the whole body
 * before answering: that would keep the loop reading for as long as the
 * Content-Length a stranger chose.
 */
static void
metrics_http_bound(struct evhttp *http)
{
	evhttp_set_max_body_size(http, METRICS_HTTP_MAX_BODY);
	evhttp_set_max_headers_size(http, METRICS_HTTP_MAX_HEADERS);
	evhttp_set_timeout(http, METRICS_HTTP_TIMEOUT);
}

struct strata_metrics_http *
strata_metrics_http_start(struct event_base *base, struct strata_metrics *m,
    const char *host, uint16_t port, bool (*healthy)(void *arg), void *arg)
{
	struct strata_metrics_http *h = metrics_alloc(sizeof(*h));

	h->metrics = m;
	h->healthy = healthy;
	h->arg = arg;
	h->http = evhttp_new(base);
	if (h->http == NULL)
		goto fail;
	evhttp_set_allowed_methods(
	    h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
	                 EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	                 EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	metrics_http_bound(h->http);
	evhttp_set_gencb(h->http, metrics_http_handle, h);
	h->socket = evhttp_bind_socket_with_handle(h->http, host, port);
	if (h->socket == NULL) {
		STRATA_ERROR("metrics",
		    "cannot bind the metrics endpoint"
		    "|host=%s port=%u error=\"%s\"",
		    host, (unsigned)port, strerror(errno));
		goto fail;
	}
	return h;
fail:
	strata_metrics_http_free(h);
	return NULL;
}

uint16_t
strata_metrics_http_port(const struct strata_metrics_http *h)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	evutil_socket_t fd = evhttp_bound_socket_get_fd(h->socket);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

void
strata_metrics_http_free(struct strata_metrics_http *h)
{
	if (h == NULL)
		return;
	if (h->http != NULL)
		evhttp_free(h->http);
	free(h);
}
