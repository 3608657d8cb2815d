/*
 * test_metrics.c - registry, text exposition, and the HTTP endpoint
 * served by evhttp on 127.0.0.1 (ephemeral port), queried with libevent's
 * HTTP client on the same event loop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "metrics.h"

static char *
render(const struct strata_metrics *m)
{
	static char text[4096];
	struct evbuffer *b = evbuffer_new();
	size_t n;

	strata_metrics_render(m, b);
	n = evbuffer_get_length(b);
	assert_true(n < sizeof(text));
	evbuffer_remove(b, text, n);
	text[n] = '\0';
	evbuffer_free(b);
	return text;
}

static int64_t
gauge_fn(void *arg)
{
	return *(int64_t *)arg * 2;
}

/* Buckets cumulative, in seconds, +Inf last; _sum and _count; labels
 * joined with le. */
static void
test_histogram(void **state)
{
	struct strata_metrics *m = strata_metrics_new();
	static const uint64_t bounds[] = {1000, 250000};
	struct strata_histogram *h, *l;

	h = strata_metrics_histogram(m, "strata_x_seconds", "Latency.", NULL,
	    bounds, 2);
	l = strata_metrics_histogram(m, "strata_x_seconds", "Latency.",
	    "op=\"get\"", bounds, 2);
	assert_ptr_equal(h, strata_metrics_histogram(m, "strata_x_seconds",
	    "Latency.", NULL, bounds, 2));
	strata_histogram_observe_us(h, 1000);    /* on the bound: in it */
	strata_histogram_observe_us(h, 1001);
	strata_histogram_observe_us(h, 3000000);
	strata_histogram_observe_us(l, 5);
	assert_string_equal(render(m),
	    "# HELP strata_x_seconds Latency.\n"
	    "# TYPE strata_x_seconds histogram\n"
	    "strata_x_seconds_bucket{le=\"0.001000\"} 1\n"
	    "strata_x_seconds_bucket{le=\"0.250000\"} 2\n"
	    "strata_x_seconds_bucket{le=\"+Inf\"} 3\n"
	    "strata_x_seconds_sum 3.002001\n"
	    "strata_x_seconds_count 3\n"
	    "strata_x_seconds_bucket{op=\"get\",le=\"0.001000\"} 1\n"
	    "strata_x_seconds_bucket{op=\"get\",le=\"0.250000\"} 1\n"
	    "strata_x_seconds_bucket{op=\"get\",le=\"+Inf\"} 1\n"
	    "strata_x_seconds_sum{op=\"get\"} 0.000005\n"
	    "strata_x_seconds_count{op=\"get\"} 1\n");
	strata_metrics_free(m);
}

static void
test_render(void **state)
{
	struct strata_metrics *m = strata_metrics_new();
	uint64_t *pub, *sub, *again;
	int64_t *conns, fn_source = 21;

	assert_string_equal(render(m), "");
	pub = strata_metrics_counter(m, "strata_packets_total",
	    "Packets received.", "type=\"publish\"");
	conns = strata_metrics_gauge(m, "strata_connections",
	    "Open "
	    "connections.",
	    NULL);
	sub = strata_metrics_counter(m, "strata_packets_total",
	    "Packets received.", "type=\"subscribe\"");
	again = strata_metrics_counter(
	    m, "strata_packets_total", "ignored", "type=\"publish\"");
	assert_ptr_equal(pub, again); /* same name+labels: same cell */
	assert_ptr_not_equal(pub, sub);
	strata_metrics_gauge_fn(m, "strata_queue_depth", "Line one\nback\\",
	    "q=\"a\"", gauge_fn, &fn_source);
	(*pub) += 3;
	(*sub)++;
	*conns = -4;
	assert_string_equal(render(m),
	    "# HELP strata_packets_total Packets received.\n"
	    "# TYPE strata_packets_total counter\n"
	    "strata_packets_total{type=\"publish\"} 3\n"
	    "strata_packets_total{type=\"subscribe\"} 1\n"
	    "# HELP strata_connections Open connections.\n"
	    "# TYPE strata_connections gauge\n"
	    "strata_connections -4\n"
	    "# HELP strata_queue_depth Line one\\nback\\\\\n"
	    "# TYPE strata_queue_depth gauge\n"
	    "strata_queue_depth{q=\"a\"} 42\n");
	fn_source = 5;
	*pub = UINT64_MAX;
	assert_non_null(strstr(render(m),
	    "strata_packets_total{type=\"publish\"} 18446744073709551615\n"));
	assert_non_null(strstr(render(m), "strata_queue_depth{q=\"a\"} 10\n"));
	/* "" labels is the same series as no labels */
	assert_ptr_equal(
	    strata_metrics_gauge(m, "strata_connections", "x", ""), conns);
	strata_metrics_free(m);
	strata_metrics_free(NULL);
}

struct reply {
	struct event_base *base;
	int code;
	char type[128];
	char body[4096];
};

static void
on_reply(struct evhttp_request *req, void *arg)
{
	struct reply *r = arg;
	struct evbuffer *in;
	const char *type;
	size_t n;

	if (req == NULL || evhttp_request_get_response_code(req) == 0) {
		r->code = -1;
	} else {
		r->code = evhttp_request_get_response_code(req);
		type = evhttp_find_header(
		    evhttp_request_get_input_headers(req), "Content-Type");
		snprintf(r->type, sizeof(r->type), "%s", type ? type : "");
		in = evhttp_request_get_input_buffer(req);
		n = evbuffer_get_length(in);
		if (n >= sizeof(r->body))
			n = sizeof(r->body) - 1;
		evbuffer_remove(in, r->body, n);
		r->body[n] = '\0';
	}
	event_base_loopexit(r->base, NULL);
}

static void
request(struct event_base *base, uint16_t port, enum evhttp_cmd_type cmd,
    const char *path, struct reply *r)
{
	struct evhttp_connection *conn;
	struct evhttp_request *req;
	struct timeval limit = {10, 0};

	memset(r, 0, sizeof(*r));
	r->code = -2;
	r->base = base;
	conn = evhttp_connection_base_new(base, NULL, "127.0.0.1", port);
	assert_non_null(conn);
	evhttp_connection_set_timeout(conn, 5);
	req = evhttp_request_new(on_reply, r);
	evhttp_add_header(
	    evhttp_request_get_output_headers(req), "Host", "127.0.0.1");
	assert_int_equal(evhttp_make_request(conn, req, cmd, path), 0);
	event_base_loopexit(base, &limit); /* bound the wait */
	event_base_dispatch(base);
	evhttp_connection_free(conn);
	assert_int_not_equal(r->code, -2);
}

static bool health_state;

static bool
healthy(void *arg)
{
	return *(bool *)arg;
}

static void
test_http(void **state)
{
	struct event_base *base = event_base_new();
	struct strata_metrics *m = strata_metrics_new();
	struct strata_metrics_http *h, *h2;
	struct reply r;
	uint16_t port;

	(*strata_metrics_counter(m, "strata_test_total", "A test.", NULL)) = 7;
	h = strata_metrics_http_start(
	    base, m, "127.0.0.1", 0, healthy, &health_state);
	assert_non_null(h);
	port = strata_metrics_http_port(h);
	assert_int_not_equal(port, 0);

	request(base, port, EVHTTP_REQ_GET, "/metrics", &r);
	assert_int_equal(r.code, 200);
	assert_string_equal(r.type, "text/plain; version=0.0.4");
	assert_string_equal(r.body, "# HELP strata_test_total A test.\n"
	                            "# TYPE strata_test_total counter\n"
	                            "strata_test_total 7\n");
	request(base, port, EVHTTP_REQ_GET, "/metrics?x=1", &r);
	assert_int_equal(r.code, 200);

	health_state = true;
	request(base, port, EVHTTP_REQ_GET, "/healthz", &r);
	assert_int_equal(r.code, 200);
	assert_string_equal(r.type, "application/json");
	assert_string_equal(r.body, "{\"status\":\"ok\"}\n");
	health_state = false;
	request(base, port, EVHTTP_REQ_GET, "/healthz", &r);
	assert_int_equal(r.code, 503);
	assert_string_equal(r.body, "{\"status\":\"unavailable\"}\n");

	request(base, port, EVHTTP_REQ_GET, "/nope", &r);
	assert_int_equal(r.code, 404);
	assert_string_equal(r.type, "application/json");
	assert_string_equal(r.body, "{\"error\":\"not found\"}\n");
	request(base, port, EVHTTP_REQ_POST, "/metrics", &r);
	assert_int_equal(r.code, 405);
	assert_string_equal(r.type, "application/json");
	assert_string_equal(r.body, "{\"error\":\"method not allowed\"}\n");
	request(base, port, EVHTTP_REQ_DELETE, "/healthz", &r);
	assert_int_equal(r.code, 405);

	/* the port is taken: NULL (and a log line) */
	h2 = strata_metrics_http_start(base, m, "127.0.0.1", port, NULL, NULL);
	assert_null(h2);
	strata_metrics_http_free(h);
	strata_metrics_free(m);
	event_base_free(base);
}

static void
test_http_no_health_fn(void **state)
{
	struct event_base *base = event_base_new();
	struct strata_metrics *m = strata_metrics_new();
	struct strata_metrics_http *h;
	struct reply r;

	h = strata_metrics_http_start(base, m, "127.0.0.1", 0, NULL, NULL);
	assert_non_null(h);
	request(
	    base, strata_metrics_http_port(h), EVHTTP_REQ_GET, "/healthz", &r);
	assert_int_equal(r.code, 200);
	request(
	    base, strata_metrics_http_port(h), EVHTTP_REQ_GET, "/metrics", &r);
	assert_int_equal(r.code, 200);
	assert_string_equal(r.body, "");
	strata_metrics_http_free(h);
	assert_null(
	    strata_metrics_http_start(base, m, "256.1.1.1", 0, NULL, NULL));
	strata_metrics_free(m);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_render),
	    cmocka_unit_test(test_histogram),
	    cmocka_unit_test(test_http),
	    cmocka_unit_test(test_http_no_health_fn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
