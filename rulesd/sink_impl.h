/*
 * sink_impl.h - what sink.c shares with the sinks of each kind
 * (sink_http.c, sink_redis.c, sink_kafka.c, sink_file.c).  Not for the
 * rest of the daemon: sink.h is the interface.
 *
 * A job moves: submitted -> a target's queue -> in flight (the kind's
 * pump takes it) -> finished (sink_job_finish: on the completion list)
 * -> done called from the completion event, then freed.  A job that
 * failed an attempt and may be tried again waits on the target's retry
 * list for its backoff, then goes back to the front of the queue.
 */
#ifndef RULESD_SINK_IMPL_H
#define RULESD_SINK_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "list.h"
#include "sink.h"

struct event;
struct event_base;

enum sink_kind {
	SINK_HTTP,
	SINK_REDIS,
	SINK_KAFKA,
	SINK_FILE,
	SINK_KINDS
};

struct sink_target;

struct sink_job {
	struct rulesd_job pub;          /* first: the job the daemon sees */
	struct strata_list node;        /* queue, inflight, retry, done */
	struct sink_target *target;     /* NULL when refused at submit */
	rulesd_sink_done_cb done;
	void *arg;
	uint64_t submitted_us;
	uint64_t queued_us;             /* entered the queue (last time) */
	unsigned attempts;              /* attempts made so far */
	struct event *retry_ev;         /* made on the first retry */
	void *slot;                     /* the kind's: where it is in flight */
	char *http_path;                /* http: path and query to POST to */
	/* the result, set by sink_job_finish */
	bool ok, dropped;
	char *error, *resource;
};

/* What each kind provides.  Every callback runs from the loop, never
 * from inside rulesd_sinks_submit. */
struct sink_kind_ops {
	const char *name;               /* the metrics' kind label */
	/* Check a job and write its target's key (a NUL-terminated string
	 * of at most keylen - 1 bytes); 0, or -1 with AWS's errorMessage in
	 * err and the failedResource in res. */
	int (*prepare)(struct rulesd_sinks *s, struct sink_job *j, char *key,
	    size_t keylen, char *err, size_t errlen, char *res,
	    size_t reslen);
	/* Make the target's state (t->impl) for its first job. */
	void (*open)(struct sink_target *t, struct sink_job *first);
	/* Start what the queue and the bounds allow. */
	void (*pump)(struct sink_target *t);
	/* Free t->impl.  Jobs in flight either get finished by it or are
	 * failed by sink.c afterwards: no callback of the kind's may refer
	 * to them once it returns. */
	void (*close)(struct sink_target *t);
};

struct sink_target {
	struct rulesd_sinks *sinks;
	enum sink_kind kind;
	char *key;
	struct strata_list queue;       /* of sink_job, oldest first */
	size_t queued;
	struct strata_list inflight;
	size_t n_inflight;
	struct strata_list retry;       /* waiting for their backoff */
	size_t n_retry;
	struct event *pump_ev;          /* runs ops->pump */
	struct event *idle_ev;
	bool closing;
	void *impl;
};

/* Microseconds of the monotonic clock. */
uint64_t sink_now_us(void);
struct event_base *sink_base(const struct rulesd_sinks *s);
const struct rulesd_sinks_config *sink_config(const struct rulesd_sinks *s);
/* The TLS client context of https and rediss targets, made on first use
 * (NULL with a message in err when the CA bundle cannot be loaded). */
struct ssl_ctx_st *sink_tls_context(struct rulesd_sinks *s, char *err,
    size_t errlen);
/* The evdns base of http targets, made on first use. */
struct evdns_base *sink_dns(struct rulesd_sinks *s);
/* A random number for jitter. */
uint64_t sink_random(struct rulesd_sinks *s);

/* Take the oldest queued job and put it in flight (NULL if none). */
struct sink_job *sink_target_take(struct sink_target *t);
/* Put j (just taken) back at the front of the queue. */
void sink_target_untake(struct sink_target *t, struct sink_job *j);
/* Run pump from the loop soon (never re-entrantly). */
void sink_target_kick(struct sink_target *t);
/* Finish j (in flight): ok, or failed with error (printf-style).  done
 * runs later from the completion event. */
void sink_job_finish(struct sink_job *j, bool ok, const char *resource,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Take j (in flight) out of flight and queue it again, at the front,
 * after delay_ms; counted as a retry. */
void sink_job_retry(struct sink_job *j, unsigned delay_ms);
/* Fail every queued job that has waited more than max_wait_us (e.g.
 * while the target cannot connect). */
void sink_target_expire(struct sink_target *t, uint64_t max_wait_us,
    const char *resource, const char *error);

extern const struct sink_kind_ops sink_http_ops;
extern const struct sink_kind_ops sink_redis_ops;
extern const struct sink_kind_ops sink_kafka_ops;
extern const struct sink_kind_ops sink_file_ops;

#endif
