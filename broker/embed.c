/*
 * embed.c - the configuration of a broker core embedded in another
 * daemon (strata-shadowd, strata-rulesd): the node options every daemon
 * has, plus the daemon's extra core options, given to the broker's own
 * option parser with no client listener, no metrics listener of the
 * core (the daemon serves /metrics) and no admin API.
 */
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
