/*
 * sink.h - the executors of strata-rulesd's actions: deliver one rendered
 * http, redis, kafka or file action to its target, asynchronously on the
 * daemon's event loop, so that a slow or dead target never stalls it.
 * (republish is done by the daemon itself.)
 *
 * A target is the connection identity of an action (http: scheme://host:
 * port; redis: the url; kafka: bootstrap.servers and the other client
 * properties; file: the path), made on first use and closed after
 * idle_ms without work.  Each has its own queue of at most queue_max
 * jobs and a bounded number of requests in flight (http: 8 connections
 * per origin; redis: 128 commands pipelined on one connection; kafka:
 * librdkafka's own queue; file: one writer).  Retries, timeouts, error
 * strings and metrics: docs/internals/rulesd-sinks.md.
 *
 * Single-threaded: every function runs on the loop's thread.
 */
#ifndef RULESD_SINK_H
#define RULESD_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct strata_metrics;
struct strata_rule_action;

/* Every target of one rulesd process. */
struct rulesd_sinks;

struct rulesd_sinks_config {
	/* Jobs waiting per target (those in flight or waiting for a retry
	 * not counted); 0: 10000. */
	size_t queue_max;
	/* File actions: their paths are relative to this directory, which
	 * must exist; absolute paths and ".." components are refused.
	 * NULL: file actions fail ("file actions are not enabled"). */
	const char *file_dir;
	/* CA bundle (PEM file) for https:// and rediss:// targets.  NULL:
	 * the system's, /etc/ssl/certs. */
	const char *ca_file;
	/* Whether http targets may resolve to loopback, private, link-local
	 * or unspecified addresses.  rulesd_sinks_config_default() sets it
	 * (tests and single-host set-ups post to loopback); a production
	 * daemon that runs customers' rules should clear it. */
	bool http_allow_private;
	/* A target without work this long is closed; 0: 60000. */
	unsigned idle_ms;
	/* Default message.timeout.ms of kafka producers (a client property
	 * overrides it); 0: 5000. */
	unsigned kafka_timeout_ms;
};

/* queue_max 10000, file_dir NULL, ca_file NULL, http_allow_private
 * true, idle_ms 60000, kafka_timeout_ms 5000. */
void rulesd_sinks_config_default(struct rulesd_sinks_config *cfg);

/*
 * The sinks of one daemon.  cfg's strings are copied.  metrics: the
 * daemon's registry, where the strata_rulesd_sink_* series are
 * registered (NULL: a private one).  Never fails (allocation aborts):
 * a file_dir that cannot be opened fails the file actions, a CA bundle
 * that cannot be loaded the https and rediss ones.
 */
struct rulesd_sinks *rulesd_sinks_new(struct event_base *base,
    struct strata_metrics *metrics, const struct rulesd_sinks_config *cfg);

/*
 * Close every target.  Each job not yet done is failed ("shutting down")
 * and its done callback runs from inside this call (the loop may be
 * gone by then), before rulesd_sinks_free() returns.  s may be NULL.
 */
void rulesd_sinks_free(struct rulesd_sinks *s);

/*
 * One action to run.  Make it with rulesd_job_new(), fill it with
 * malloc'd strings and body: from then on the job owns them, and
 * rulesd_job_free() (or the sinks, once done ran) frees them.
 */
struct rulesd_job {
	/* Borrowed: valid until done is called (the daemon holds a
	 * reference to the rule).  Its kind says the sink. */
	const struct strata_rule_action *action;
	char *rule_name;       /* for logs */
	char *target;          /* http: url; redis: key; kafka: topic;
	                          file: NULL (action->path) */
	char *field;           /* redis HSET field; kafka key; NULL: none */
	char *partition;       /* kafka partition (decimal); NULL: any */
	char **header_keys;    /* http and kafka headers, n_headers each */
	char **header_values;
	size_t n_headers;
	uint8_t *body;         /* the rule's output, body_len bytes */
	size_t body_len;
};

/* strdup that aborts when memory is exhausted; NULL gives NULL. */
char *rulesd_strdup(const char *s);

/* A zeroed job (allocation aborts). */
struct rulesd_job *rulesd_job_new(void);
/* Frees the job and everything it owns; job may be NULL.  Only for a
 * job never submitted. */
void rulesd_job_free(struct rulesd_job *job);

/*
 * The end of a job.  ok: delivered (http 2xx, a redis reply that is not
 * an error, a kafka delivery report without error, the bytes written).
 * Otherwise error is AWS's errorMessage ("Received 500 from https://...")
 * and resource the failedResource (the url, "redis://host:port key", the
 * kafka topic, the file path): the daemon puts both into the errorAction
 * payload.  Both strings are valid during the call only.  The job's
 * action is still valid during the call; the job itself is gone.
 */
typedef void (*rulesd_sink_done_cb)(void *arg, bool ok, const char *error,
    const char *resource);

/*
 * Queue job on its target.  The job is always consumed.  done runs
 * exactly once, from the event loop and never from inside this call: also
 * when the job is refused at once (a bad url or path: ok false) or when
 * the target's queue is full (ok false, "queue full", counted as
 * dropped).  done may submit other jobs (an errorAction).
 */
void rulesd_sinks_submit(struct rulesd_sinks *s, struct rulesd_job *job,
    rulesd_sink_done_cb done, void *arg);

/* Jobs queued, in flight or waiting for a retry, over every target. */
size_t rulesd_sinks_pending(const struct rulesd_sinks *s);
/* Targets open now. */
size_t rulesd_sinks_targets(const struct rulesd_sinks *s);

#endif
