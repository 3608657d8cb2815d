/*
 * metrics.h - Prometheus metrics registry and the /metrics + /healthz
 * HTTP endpoint every daemon serves.
 *
 * Series are registered once at start-up and return a pointer to their cell;
 * the hot path increments it directly ((*c)++), no lookup, no lock (each
 * daemon is a single event loop).  Rendering groups series of one family
 * under one # HELP / # TYPE header.
 */
#ifndef STRATA_METRICS_H
#define STRATA_METRICS_H

#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct evbuffer;
struct strata_metrics;

struct strata_metrics *strata_metrics_new(void);
void strata_metrics_free(struct strata_metrics *m);

/* Register (or find, if name+labels already exist) a counter.  `labels` is
 * NULL or the inside of the braces, e.g. "type=\"publish\"".  The strings
 * are copied.  The returned cell lives as long as the registry. */
uint64_t *strata_metrics_counter(struct strata_metrics *m, const char *name,
    const char *help, const char *labels);
int64_t *strata_metrics_gauge(struct strata_metrics *m, const char *name,
    const char *help, const char *labels);
/* A gauge computed on each scrape. */
void strata_metrics_gauge_fn(struct strata_metrics *m, const char *name,
    const char *help, const char *labels, int64_t (*fn)(void *arg),
    void *arg);

/* A counter computed on each scrape (a count another module keeps). */
void strata_metrics_counter_fn(struct strata_metrics *m, const char *name,
    const char *help, const char *labels, uint64_t (*fn)(void *arg),
    void *arg);

/*
 * A histogram of durations: buckets with the upper bounds `bounds_us`
 * (n of them, ascending, microseconds; +Inf is added), rendered in
 * seconds as <name>_bucket{le=...}, <name>_sum and <name>_count.  An
 * observation is a walk over the bounds and three additions.
 */
struct strata_histogram;
struct strata_histogram *strata_metrics_histogram(struct strata_metrics *m,
    const char *name, const char *help, const char *labels,
    const uint64_t *bounds_us, size_t n);
void strata_histogram_observe_us(struct strata_histogram *h, uint64_t us);
/* Bounds for latencies: 100 us to 10 s (14). */
extern const uint64_t strata_latency_bounds_us[];
#define STRATA_LATENCY_BOUNDS 14

/* Append the Prometheus text exposition (version 0.0.4) to out. */
void strata_metrics_render(const struct strata_metrics *m,
    struct evbuffer *out);

/*
 * Serve GET /metrics and GET /healthz on host:port with libevent's evhttp.
 * /healthz answers 200 {"status":"ok"} when healthy(arg) is true (or healthy
 * is NULL), else 503 {"status":"unavailable"}.  Other paths: 404 with a JSON
 * body {"error":"not found"}; methods other than GET: 405 with a JSON
 * body.  What a client can make the server hold is bounded: a body over
 * 4096 bytes gets 413, a request line + headers over 8192 bytes or a
 * malformed request gets 400 (libevent's HTML page: 2.1 cannot give these
 * a JSON body), and a connection with no byte for 10 s is closed without
 * an answer.  Returns an opaque handle (free with strata_metrics_http_free)
 * or NULL if the port cannot be bound (logged).
 */
struct strata_metrics_http;
struct strata_metrics_http *strata_metrics_http_start(struct event_base *base,
    struct strata_metrics *m, const char *host, uint16_t port,
    bool (*healthy)(void *arg), void *arg);
void strata_metrics_http_free(struct strata_metrics_http *h);
/* The port the endpoint is bound to (useful after binding port 0), or 0
 * if it cannot be read. */
uint16_t strata_metrics_http_port(const struct strata_metrics_http *h);

#endif
