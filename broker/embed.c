/*
 * embed.c - the configuration of a broker core embedded in another
 * daemon (strata-shadowd, strata-rulesd): the node options every daemon
 * has, plus the daemon's extra core options, given to the broker's own
 * option parser with no client listener, no metrics listener of the
 * core (the daemon serves /metrics) and no admin API.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"

#define EMBED_MAX_ARGS 96

struct embed_argv {
	char *v[EMBED_MAX_ARGS];
	int n;
};

static void
embed_arg(struct embed_argv *a, const char *name, const char *value)
{
	if (a->n + 2 > EMBED_MAX_ARGS)
		abort(); /* a fixed list: our bug */
	a->v[a->n++] = strdup(name);
	a->v[a->n++] = strdup(value);
	if (a->v[a->n - 1] == NULL || a->v[a->n - 2] == NULL)
		abort();
}

static void
embed_long(struct embed_argv *a, const char *name, long value)
{
	char v[24];

	snprintf(v, sizeof(v), "%ld", value);
	embed_arg(a, name, v);
}

static void
embed_node(struct embed_argv *a, const struct broker_embed *e)
{
	embed_arg(a, "--node-id", e->node_id);
	embed_arg(a, "--bind", e->bind);
	embed_arg(a, "--redis-host", e->redis_host);
	embed_long(a, "--redis-port", e->redis_port);
	embed_long(a, "--redis-timeout", e->redis_timeout);
	embed_arg(a, "--redis-sentinels", e->redis_sentinels);
	embed_arg(a, "--redis-master-name", e->redis_master_name);
	embed_long(a, "--redis-wait-replicas", e->redis_wait_replicas);
	embed_long(a, "--redis-wait-timeout", e->redis_wait_timeout);
	embed_arg(a, "--redis-user", e->redis_user);
	embed_arg(a, "--redis-password-file", e->redis_password_file);
	embed_arg(a, "--redis-sentinel-user", e->redis_sentinel_user);
	embed_arg(a, "--redis-sentinel-password-file",
	    e->redis_sentinel_password_file);
	embed_arg(a, "--redis-tls", e->redis_tls ? "true" : "false");
	embed_arg(a, "--redis-tls-ca", e->redis_tls_ca);
	embed_arg(a, "--redis-tls-cert", e->redis_tls_cert);
	embed_arg(a, "--redis-tls-key", e->redis_tls_key);
	embed_arg(a, "--cluster-secret-file", e->cluster_secret_file);
	embed_long(a, "--partition-levels", e->partition_levels);
	embed_arg(a, "--log-level", e->log_level);
	embed_long(a, "--max-inflight", e->max_inflight);
	embed_long(a, "--max-queued", e->max_queued);
	embed_arg(a, "--metrics-port", "0");
	embed_arg(a, "--port", "0");
	embed_arg(a, "--tls-port", "0");
	embed_arg(a, "--ws-port", "0");
	embed_arg(a, "--wss-port", "0");
	embed_arg(a, "--admin-port", "0");
}

int
broker_config_embedded(struct broker_config *bc, const struct broker_embed *e,
    const char *const *extra, size_t n_extra)
{
	struct embed_argv a = {.n = 0};
	char err[512];
	int rc;

	a.v[a.n++] = strdup(e->prog);
	embed_node(&a, e);
	for (size_t i = 0; i + 1 < n_extra; i += 2)
		if (extra[i + 1] != NULL && extra[i + 1][0] != '\0')
			embed_arg(&a, extra[i], extra[i + 1]);
	rc = broker_config_load(bc, a.n, a.v, stdout, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "%s: %s\n", e->prog, err);
	for (int i = 0; i < a.n; i++)
		free(a.v[i]);
	return rc;
}

/* ---- signals ---- */

struct embed_signals {
	struct strata_broker *b;
	void (*stop)(void *arg);
	void (*hangup)(void *arg);
	void *arg;
};

static void
embed_stop_done(evutil_socket_t fd, short what, void *arg)
{
	struct strata_broker *b = arg;

	event_base_loopexit(b->base, NULL);
}

static void
embed_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct embed_signals *es = arg;
	struct strata_broker *b = es->b;
	struct timeval tv = {2, 0};

	if (b->stopping)
		return;
	b->stopping = true;
	STRATA_INFO(BROKER_COMP, "shutting down|signal=%d", (int)sig);
	es->stop(es->arg);
	broker_cluster_stop(b);
	b->stop_timer = evtimer_new(b->base, embed_stop_done, b);
	evtimer_add(b->stop_timer, &tv);
}

static void
embed_on_hangup(evutil_socket_t sig, short what, void *arg)
{
	struct embed_signals *es = arg;

	if (es->hangup != NULL)
		es->hangup(es->arg);
}

void
broker_embed_signals(struct strata_broker *b, void (*stop)(void *arg),
    void (*hangup)(void *arg), void *arg)
{
	static struct embed_signals es; /* one per process: signals are */

	es = (struct embed_signals){b, stop, hangup, arg};
	b->sigterm_ev = evsignal_new(b->base, SIGTERM, embed_on_signal, &es);
	b->sigint_ev = evsignal_new(b->base, SIGINT, embed_on_signal, &es);
	b->sighup_ev = evsignal_new(b->base, SIGHUP, embed_on_hangup, &es);
	if (b->sigterm_ev == NULL || b->sigint_ev == NULL ||
	    b->sighup_ev == NULL)
		abort();
	event_add(b->sigterm_ev, NULL);
	event_add(b->sigint_ev, NULL);
	event_add(b->sighup_ev, NULL);
}

void
broker_embed_fini(struct strata_broker *b)
{
	if (b->sigterm_ev != NULL)
		event_free(b->sigterm_ev);
	if (b->sigint_ev != NULL)
		event_free(b->sigint_ev);
	if (b->sighup_ev != NULL)
		event_free(b->sighup_ev);
	if (b->stop_timer != NULL)
		event_free(b->stop_timer);
	b->sigterm_ev = b->sigint_ev = b->sighup_ev = b->stop_timer = NULL;
}

/* ---- the life of the process ---- */

int
broker_embed_run(const struct broker_embed_daemon *d, const void *cfg,
    void *daemon, struct strata_broker **bp)
{
	struct strata_broker *b = calloc(1, sizeof(*b));
	struct event_base *base = NULL;
	int rc;

	if (b == NULL)
		abort();
	*bp = b;
	b->role = d->comp;
	if (d->core_config(cfg, &b->cfg) != 0) {
		rc = 2;
		goto out;
	}
	base = event_base_new();
	if (base == NULL || d->start(daemon, cfg, base) != 0) {
		rc = 1;
	} else {
		STRATA_INFO(d->comp, "started|node_id=%s", b->cfg.node_id);
		event_base_dispatch(base);
		STRATA_INFO(d->comp, "stopped|node_id=%s", b->cfg.node_id);
		rc = b->exit_status;
	}
	b->stopping = true;
	d->teardown(daemon);
	if (base != NULL)
		broker_fini(b);
	broker_embed_fini(b);
out:
	broker_config_free(&b->cfg);
	if (base != NULL)
		event_base_free(base);
	free(b);
	*bp = NULL;
	return rc;
}
