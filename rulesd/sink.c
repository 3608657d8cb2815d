/*
 * sink.c - what every kind of sink shares: targets keyed by connection
 * identity, their bounded queues, retries with backoff, the completion
 * event that calls done, idle close and the metrics.  See sink_impl.h
 * for a job's life.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "hashmap.h"
#include "log.h"
#include "metrics.h"
#include "rule.h"
#include "sink_impl.h"

#define SINK_KEY_MAX 1024
#define SINK_QUEUE_MAX_DEFAULT 10000
#define SINK_IDLE_MS_DEFAULT 60000
#define SINK_KAFKA_TIMEOUT_MS_DEFAULT 5000

enum sink_result { SINK_OK, SINK_FAILED, SINK_DROPPED, SINK_RESULTS };
static const char *const sink_result_names[SINK_RESULTS] = {
	"ok", "failed", "dropped"
};

struct sink_metrics {
	uint64_t *jobs[SINK_KINDS][SINK_RESULTS];
	int64_t *queue[SINK_KINDS];
	int64_t *inflight[SINK_KINDS];
	uint64_t *retries[SINK_KINDS];
	struct strata_histogram *latency[SINK_KINDS];
};

struct rulesd_sinks {
	struct event_base *base;
	struct rulesd_sinks_config cfg;   /* strings are ours */
	struct strata_metrics *own_metrics;
	struct sink_metrics m;
	struct strata_hashmap *targets[SINK_KINDS];
	struct strata_list completed;     /* finished, done not called */
	struct event *complete_ev;
	struct ssl_ctx_st *tls;
	struct evdns_base *dns;
	uint64_t rng;
	size_t pending;
	bool freeing;
	struct strata_log_limit drop_log;
};

static const struct sink_kind_ops *const sink_ops[SINK_KINDS] = {
	[SINK_HTTP] = &sink_http_ops,
	[SINK_REDIS] = &sink_redis_ops,
	[SINK_KAFKA] = &sink_kafka_ops,
	[SINK_FILE] = &sink_file_ops,
};

uint64_t
sink_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

struct event_base *
sink_base(const struct rulesd_sinks *s)
{
	return s->base;
}

const struct rulesd_sinks_config *
sink_config(const struct rulesd_sinks *s)
{
	return &s->cfg;
}

uint64_t
sink_random(struct rulesd_sinks *s)
{
	/* xorshift64: jitter only, nothing secret */
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 7;
	s->rng ^= s->rng << 17;
	return s->rng;
}

struct ssl_ctx_st *
sink_tls_context(struct rulesd_sinks *s, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	int rc;

	if (s->tls != NULL)
		return s->tls;
	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL)
		abort();
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (s->cfg.ca_file != NULL)
		rc = SSL_CTX_load_verify_locations(ctx, s->cfg.ca_file, NULL);
	else
		rc = SSL_CTX_load_verify_locations(ctx, NULL,
		    "/etc/ssl/certs");
	if (rc != 1) {
		snprintf(err, errlen, "Cannot load the CA bundle %s",
		    s->cfg.ca_file != NULL ? s->cfg.ca_file :
		    "/etc/ssl/certs");
		SSL_CTX_free(ctx);
		return NULL;
	}
	s->tls = ctx;
	return ctx;
}

struct evdns_base *
sink_dns(struct rulesd_sinks *s)
{
	if (s->dns == NULL) {
		s->dns = evdns_base_new(s->base,
		    EVDNS_BASE_INITIALIZE_NAMESERVERS);
		if (s->dns == NULL)  /* no resolv.conf: /etc/hosts only */
			s->dns = evdns_base_new(s->base, 0);
		if (s->dns == NULL)
			abort();
	}
	return s->dns;
}

void
rulesd_sinks_config_default(struct rulesd_sinks_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->queue_max = SINK_QUEUE_MAX_DEFAULT;
	cfg->http_allow_private = true;
	cfg->idle_ms = SINK_IDLE_MS_DEFAULT;
	cfg->kafka_timeout_ms = SINK_KAFKA_TIMEOUT_MS_DEFAULT;
}

char *
rulesd_strdup(const char *str)
{
	char *copy;

	if (str == NULL)
		return NULL;
	copy = strdup(str);
	if (copy == NULL)
		abort();
	return copy;
}

static void
sink_metrics_register(struct rulesd_sinks *s, struct strata_metrics *m)
{
	char labels[64];

	for (int k = 0; k < SINK_KINDS; k++) {
		const char *kind = sink_ops[k]->name;

		for (int r = 0; r < SINK_RESULTS; r++) {
			snprintf(labels, sizeof(labels),
			    "kind=\"%s\",result=\"%s\"", kind,
			    sink_result_names[r]);
			s->m.jobs[k][r] = strata_metrics_counter(m,
			    "strata_rulesd_sink_jobs_total", "actions run, by "
			    "kind and result (dropped: the target's queue was "
			    "full)", labels);
		}
		snprintf(labels, sizeof(labels), "kind=\"%s\"", kind);
		s->m.queue[k] = strata_metrics_gauge(m,
		    "strata_rulesd_sink_queue", "actions waiting in the "
		    "targets' queues", labels);
		s->m.inflight[k] = strata_metrics_gauge(m,
		    "strata_rulesd_sink_inflight", "actions being delivered "
		    "or waiting for a retry", labels);
		s->m.retries[k] = strata_metrics_counter(m,
		    "strata_rulesd_sink_retries_total", "attempts tried "
		    "again", labels);
		s->m.latency[k] = strata_metrics_histogram(m,
		    "strata_rulesd_sink_latency_seconds", "time from "
		    "submission to the end of actions done (ok or failed)",
		    labels, strata_latency_bounds_us, STRATA_LATENCY_BOUNDS);
	}
}

static void sink_complete_cb(evutil_socket_t fd, short what, void *arg);

struct rulesd_sinks *
rulesd_sinks_new(struct event_base *base, struct strata_metrics *metrics,
    const struct rulesd_sinks_config *cfg)
{
	struct rulesd_sinks *s = calloc(1, sizeof(*s));
	struct rulesd_sinks_config def;

	if (s == NULL)
		abort();
	if (cfg == NULL) {
		rulesd_sinks_config_default(&def);
		cfg = &def;
	}
	s->base = base;
	s->cfg = *cfg;
	if (s->cfg.queue_max == 0)
		s->cfg.queue_max = SINK_QUEUE_MAX_DEFAULT;
	if (s->cfg.idle_ms == 0)
		s->cfg.idle_ms = SINK_IDLE_MS_DEFAULT;
	if (s->cfg.kafka_timeout_ms == 0)
		s->cfg.kafka_timeout_ms = SINK_KAFKA_TIMEOUT_MS_DEFAULT;
	s->cfg.file_dir = rulesd_strdup(cfg->file_dir);
	s->cfg.ca_file = rulesd_strdup(cfg->ca_file);
	if (metrics == NULL)
		metrics = s->own_metrics = strata_metrics_new();
	sink_metrics_register(s, metrics);
	for (int k = 0; k < SINK_KINDS; k++)
		s->targets[k] = strata_hashmap_new(NULL);
	strata_list_init(&s->completed);
	s->complete_ev = event_new(base, -1, 0, sink_complete_cb, s);
	if (s->complete_ev == NULL)
		abort();
	if (getrandom(&s->rng, sizeof(s->rng), 0) != sizeof(s->rng))
		s->rng = sink_now_us();
	s->rng |= 1;
	return s;
}

struct rulesd_job *
rulesd_job_new(void)
{
	struct sink_job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		abort();
	strata_list_init(&j->node);
	return &j->pub;
}

static void
sink_job_free(struct sink_job *j)
{
	struct rulesd_job *p = &j->pub;

	free(p->rule_name);
	free(p->target);
	free(p->field);
	free(p->partition);
	for (size_t i = 0; i < p->n_headers; i++) {
		free(p->header_keys[i]);
		free(p->header_values[i]);
	}
	free(p->header_keys);
	free(p->header_values);
	free(p->body);
	if (j->retry_ev != NULL)
		event_free(j->retry_ev);
	free(j->http_path);
	free(j->error);
	free(j->resource);
	free(j);
}

void
rulesd_job_free(struct rulesd_job *job)
{
	if (job != NULL)
		sink_job_free((struct sink_job *)job);
}

static enum sink_kind
sink_kind_of(const struct strata_rule_action *a)
{
	switch (a->kind) {
	case STRATA_RULE_HTTP:
		return SINK_HTTP;
	case STRATA_RULE_REDIS:
		return SINK_REDIS;
	case STRATA_RULE_KAFKA:
		return SINK_KAFKA;
	case STRATA_RULE_FILE:
		return SINK_FILE;
	default:
		return SINK_KINDS;
	}
}

/* Put j on the completion list with its result; done runs from the loop. */
static void
sink_job_complete(struct rulesd_sinks *s, struct sink_job *j, bool ok,
    bool dropped, const char *resource, const char *error)
{
	j->ok = ok;
	j->dropped = dropped;
	free(j->error);
	free(j->resource);
	j->error = ok ? NULL : rulesd_strdup(error);
	j->resource = ok ? NULL : rulesd_strdup(resource);
	strata_list_remove(&j->node);
	strata_list_push_back(&s->completed, &j->node);
	if (!s->freeing)
		event_active(s->complete_ev, 0, 0);
}

static void sink_idle_cb(evutil_socket_t fd, short what, void *arg);

static bool
sink_target_idle(const struct sink_target *t)
{
	return t->queued == 0 && t->n_inflight == 0 && t->n_retry == 0;
}

void
sink_job_finish(struct sink_job *j, bool ok, const char *resource,
    const char *fmt, ...)
{
	struct sink_target *t = j->target;
	struct rulesd_sinks *s = t->sinks;
	char error[512] = "";
	va_list ap;

	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(error, sizeof(error), fmt, ap);
		va_end(ap);
	}
	t->n_inflight--;
	(*s->m.inflight[t->kind])--;
	sink_job_complete(s, j, ok, false, resource, error);
	if (!t->closing && sink_target_idle(t)) {
		struct timeval tv = { s->cfg.idle_ms / 1000,
			(s->cfg.idle_ms % 1000) * 1000 };
		event_add(t->idle_ev, &tv);
	}
}

/* Call done for every finished job.  A done that submits again adds to
 * a fresh list, handled at the next activation. */
static void
sink_run_completed(struct rulesd_sinks *s)
{
	struct strata_list batch;

	strata_list_init(&batch);
	if (!strata_list_empty(&s->completed)) {
		batch.next = s->completed.next;
		batch.prev = s->completed.prev;
		batch.next->prev = &batch;
		batch.prev->next = &batch;
		strata_list_init(&s->completed);
	}
	while (!strata_list_empty(&batch)) {
		struct sink_job *j = STRATA_CONTAINER_OF(batch.next,
		    struct sink_job, node);
		enum sink_kind k = sink_kind_of(j->pub.action);
		enum sink_result r = j->ok ? SINK_OK :
		    j->dropped ? SINK_DROPPED : SINK_FAILED;

		strata_list_remove(&j->node);
		s->pending--;
		if (k < SINK_KINDS) {
			(*s->m.jobs[k][r])++;
			if (r != SINK_DROPPED) {
				strata_histogram_observe_us(s->m.latency[k],
				    sink_now_us() - j->submitted_us);
			}
		}
		j->done(j->arg, j->ok, j->error, j->resource);
		sink_job_free(j);
	}
}

static void
sink_complete_cb(evutil_socket_t fd, short what, void *arg)
{
	sink_run_completed(arg);
}

static void
sink_pump_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sink_target *t = arg;

	sink_ops[t->kind]->pump(t);
}

void
sink_target_kick(struct sink_target *t)
{
	if (!t->closing)
		event_active(t->pump_ev, 0, 0);
}

struct sink_job *
sink_target_take(struct sink_target *t)
{
	struct sink_job *j;

	if (t->queued == 0)
		return NULL;
	j = STRATA_CONTAINER_OF(t->queue.next, struct sink_job, node);
	strata_list_remove(&j->node);
	strata_list_push_back(&t->inflight, &j->node);
	t->queued--;
	t->n_inflight++;
	(*t->sinks->m.queue[t->kind])--;
	(*t->sinks->m.inflight[t->kind])++;
	return j;
}

void
sink_target_untake(struct sink_target *t, struct sink_job *j)
{
	strata_list_remove(&j->node);
	strata_list_push_front(&t->queue, &j->node);
	t->queued++;
	t->n_inflight--;
	(*t->sinks->m.queue[t->kind])++;
	(*t->sinks->m.inflight[t->kind])--;
}

static void
sink_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sink_job *j = arg;
	struct sink_target *t = j->target;

	strata_list_remove(&j->node);
	t->n_retry--;
	(*t->sinks->m.inflight[t->kind])--;
	strata_list_push_front(&t->queue, &j->node);
	t->queued++;
	(*t->sinks->m.queue[t->kind])++;
	j->queued_us = sink_now_us();
	sink_target_kick(t);
}

void
sink_job_retry(struct sink_job *j, unsigned delay_ms)
{
	struct sink_target *t = j->target;
	struct timeval tv = { delay_ms / 1000, (delay_ms % 1000) * 1000 };

	if (j->retry_ev == NULL) {
		j->retry_ev = evtimer_new(t->sinks->base, sink_retry_cb, j);
		if (j->retry_ev == NULL)
			abort();
	}
	strata_list_remove(&j->node);
	strata_list_push_back(&t->retry, &j->node);
	t->n_inflight--;
	t->n_retry++;
	(*t->sinks->m.retries[t->kind])++;
	evtimer_add(j->retry_ev, &tv);
}

void
sink_target_expire(struct sink_target *t, uint64_t max_wait_us,
    const char *resource, const char *error)
{
	uint64_t now = sink_now_us();

	while (t->queued > 0) {
		struct sink_job *j = STRATA_CONTAINER_OF(t->queue.next,
		    struct sink_job, node);

		if (now - j->queued_us < max_wait_us)
			break;
		(void)sink_target_take(t);
		sink_job_finish(j, false, resource, "%s", error);
	}
}

/* Close t: fail what it holds ("shutting down") and free it. */
static void
sink_target_free(struct sink_target *t)
{
	struct rulesd_sinks *s = t->sinks;
	struct strata_list *lists[] = { &t->queue, &t->retry };

	t->closing = true;
	event_del(t->idle_ev);
	event_del(t->pump_ev);
	if (t->impl != NULL)
		sink_ops[t->kind]->close(t);
	while (!strata_list_empty(&t->inflight)) {
		struct sink_job *j = STRATA_CONTAINER_OF(t->inflight.next,
		    struct sink_job, node);

		sink_job_finish(j, false, t->key, "shutting down");
	}
	for (size_t i = 0; i < 2; i++) {
		while (!strata_list_empty(lists[i])) {
			struct sink_job *j = STRATA_CONTAINER_OF(
			    lists[i]->next, struct sink_job, node);

			if (j->retry_ev != NULL)
				event_del(j->retry_ev);
			sink_job_complete(s, j, false, false, t->key,
			    "shutting down");
		}
	}
	*s->m.queue[t->kind] -= (int64_t)t->queued;
	*s->m.inflight[t->kind] -= (int64_t)t->n_retry;
	event_free(t->idle_ev);
	event_free(t->pump_ev);
	free(t->key);
	free(t);
}

static void
sink_idle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sink_target *t = arg;
	struct rulesd_sinks *s = t->sinks;

	if (!sink_target_idle(t))
		return;
	STRATA_DEBUG("rulesd", "sink target idle, closed|kind=%s",
	    sink_ops[t->kind]->name);
	(void)strata_hashmap_take(s->targets[t->kind], t->key,
	    strlen(t->key));
	sink_target_free(t);
}

static struct sink_target *
sink_target_get(struct rulesd_sinks *s, enum sink_kind k, const char *key,
    struct sink_job *first)
{
	void **slot = strata_hashmap_slot(s->targets[k], key, strlen(key),
	    true);
	struct sink_target *t = *slot;

	if (t != NULL)
		return t;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		abort();
	t->sinks = s;
	t->kind = k;
	t->key = rulesd_strdup(key);
	strata_list_init(&t->queue);
	strata_list_init(&t->inflight);
	strata_list_init(&t->retry);
	t->pump_ev = event_new(s->base, -1, 0, sink_pump_cb, t);
	t->idle_ev = evtimer_new(s->base, sink_idle_cb, t);
	if (t->pump_ev == NULL || t->idle_ev == NULL)
		abort();
	*slot = t;
	sink_ops[k]->open(t, first);
	return t;
}

void
rulesd_sinks_submit(struct rulesd_sinks *s, struct rulesd_job *job,
    rulesd_sink_done_cb done, void *arg)
{
	struct sink_job *j = (struct sink_job *)job;
	char key[SINK_KEY_MAX], err[512], res[512];
	enum sink_kind k = SINK_KINDS;
	struct sink_target *t;

	j->done = done;
	j->arg = arg;
	j->submitted_us = j->queued_us = sink_now_us();
	s->pending++;
	if (job->action != NULL)
		k = sink_kind_of(job->action);
	if (k == SINK_KINDS || s->freeing) {
		sink_job_complete(s, j, false, false, "", s->freeing ?
		    "shutting down" : "Unsupported action kind");
		return;
	}
	err[0] = res[0] = '\0';
	if (sink_ops[k]->prepare(s, j, key, sizeof(key), err, sizeof(err),
	    res, sizeof(res)) != 0) {
		sink_job_complete(s, j, false, false, res, err);
		return;
	}
	t = sink_target_get(s, k, key, j);
	if (t->queued >= s->cfg.queue_max) {
		strata_log_limited(&s->drop_log, STRATA_LOG_WARN, "rulesd",
		    "action dropped, queue full|kind=%s rule=%s",
		    sink_ops[k]->name, job->rule_name != NULL ?
		    job->rule_name : "");
		sink_job_complete(s, j, false, true, t->key, "queue full");
		return;
	}
	j->target = t;
	event_del(t->idle_ev);
	strata_list_push_back(&t->queue, &j->node);
	t->queued++;
	(*s->m.queue[k])++;
	sink_target_kick(t);
}

struct sink_collect {
	struct sink_target **all;
	size_t n;
};

static int
sink_collect_cb(const void *key, size_t len, void *value, void *arg)
{
	struct sink_collect *c = arg;

	c->all[c->n++] = value;
	return 0;
}

void
rulesd_sinks_free(struct rulesd_sinks *s)
{
	if (s == NULL)
		return;
	s->freeing = true;
	for (int k = 0; k < SINK_KINDS; k++) {
		/* collect first: the map must not change during the walk */
		struct sink_collect c = { NULL, 0 };

		c.all = calloc(strata_hashmap_count(s->targets[k]) + 1,
		    sizeof(*c.all));
		if (c.all == NULL)
			abort();
		strata_hashmap_foreach(s->targets[k], sink_collect_cb, &c);
		for (size_t i = 0; i < c.n; i++)
			sink_target_free(c.all[i]);
		free(c.all);
		strata_hashmap_free(s->targets[k]);
	}
	/* done may submit (refused: freeing) and so add to the list */
	while (!strata_list_empty(&s->completed))
		sink_run_completed(s);
	event_free(s->complete_ev);
	if (s->dns != NULL)
		evdns_base_free(s->dns, 1);
	SSL_CTX_free(s->tls);
	free((char *)s->cfg.file_dir);
	free((char *)s->cfg.ca_file);
	if (s->own_metrics != NULL)
		strata_metrics_free(s->own_metrics);
	free(s);
}

size_t
rulesd_sinks_pending(const struct rulesd_sinks *s)
{
	return s->pending;
}

size_t
rulesd_sinks_targets(const struct rulesd_sinks *s)
{
	size_t n = 0;

	for (int k = 0; k < SINK_KINDS; k++)
		n += strata_hashmap_count(s->targets[k]);
	return n;
}
