/*
 * main.c - strata-broker: options, start-up, signals, shutdown.
 *
 * Start-up: load the option table, set up metrics, the Redis poller of the
 * router map, the listeners, the cluster session machinery (lease, node
 * channel), then run the loop.  SIGTERM/SIGINT: stop
 * accepting, send MQTT 5 clients DISCONNECT 0x8B, close every connection
 * (flushing output), and leave the loop after at most 2 s.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>

#include "broker.h"
#include "config.h"

#define OPT(n, t, f, d, lo, hi, h) \
	{n, t, offsetof(struct broker_config, f), d, lo, hi, h}

static const struct strata_config_option broker_options[] = {
	OPT("node-id", STRATA_CFG_STRING, node_id, NULL, 0, 0,
	    "node id (default broker-<pid>)"),
	OPT("bind", STRATA_CFG_STRING, bind, "127.0.0.1", 0, 0,
	    "address the MQTT listeners bind"),
	OPT("port", STRATA_CFG_INT, port, "1883", 0, 65535,
	    "MQTT over TCP port (0 disables)"),
	OPT("tls-port", STRATA_CFG_INT, tls_port, "8883", 0, 65535,
	    "MQTT over TLS port (0 disables)"),
	OPT("tls-cert", STRATA_CFG_STRING, tls_cert, NULL, 0, 0,
	    "PEM certificate chain of the TLS listener"),
	OPT("tls-key", STRATA_CFG_STRING, tls_key, NULL, 0, 0,
	    "PEM private key of the TLS listener"),
	OPT("tls-ca", STRATA_CFG_STRING, tls_ca, NULL, 0, 0,
	    "PEM CA bundle to verify client certificates"),
	OPT("tls-require-client-cert", STRATA_CFG_BOOL,
	    tls_require_client_cert, "false", 0, 0,
	    "refuse TLS clients without a valid certificate"),
	OPT("metrics-port", STRATA_CFG_INT, metrics_port, "9883", 0, 65535,
	    "HTTP port of /metrics and /healthz (0 disables)"),
	OPT("redis-host", STRATA_CFG_STRING, redis_host, "127.0.0.1", 0, 0,
	    "Redis host"),
	OPT("redis-port", STRATA_CFG_INT, redis_port, "6379", 1, 65535,
	    "Redis port"),
	OPT("partition-levels", STRATA_CFG_INT, partition_levels, "3", 1, 64,
	    "topic levels hashed into the partition key"),
	OPT("log-level", STRATA_CFG_STRING, log_level, "info", 0, 0,
	    "debug, info, warn or error"),
	OPT("max-payload", STRATA_CFG_INT, max_payload, "131072", 1,
	    268435455, "largest PUBLISH payload accepted (bytes)"),
	OPT("max-topic-depth", STRATA_CFG_INT, max_topic_depth, "7", 1, 1000,
	    "most levels in a topic ($aws/ topics exempt)"),
	OPT("max-subscriptions-per-subscribe", STRATA_CFG_INT,
	    max_subscriptions_per_subscribe, "50", 1, 65535,
	    "most filters granted in one SUBSCRIBE"),
	OPT("max-client-id", STRATA_CFG_INT, max_client_id, "128", 1, 65535,
	    "longest client identifier (bytes)"),
	OPT("keepalive-min", STRATA_CFG_INT, keepalive_min, "30", 1, 65535,
	    "smallest keepalive (larger asked values are clamped)"),
	OPT("keepalive-max", STRATA_CFG_INT, keepalive_max, "1200", 1, 65535,
	    "largest keepalive (larger asked values are clamped)"),
	OPT("allow-zero-keepalive", STRATA_CFG_BOOL, allow_zero_keepalive,
	    "true", 0, 0, "accept keepalive 0 (no keepalive)"),
	OPT("max-inflight", STRATA_CFG_INT, max_inflight, "100", 1, 65535,
	    "Receive Maximum granted to clients, cap of outbound in-flight"),
	OPT("max-queued", STRATA_CFG_INT, max_queued, "1000", 0, 10000000,
	    "QoS 1/2 messages queued per session"),
	OPT("topic-alias-max", STRATA_CFG_INT, topic_alias_max, "10", 0, 65535,
	    "Topic Alias Maximum granted to MQTT 5 clients"),
	OPT("max-connections", STRATA_CFG_INT, max_connections, "0", 0,
	    100000000, "most client connections (0 = unlimited)"),
};

#define N_OPTIONS (sizeof(broker_options) / sizeof(broker_options[0]))

static void
main_stop_done(evutil_socket_t fd, short what, void *arg)
{
	struct strata_broker *b = arg;

	event_base_loopexit(b->base, NULL);
}

/* SIGTERM: drain clients, then leave the loop (bounded by 2 s). */
static void
main_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct strata_broker *b = arg;
	struct strata_list *pos, *tmp;
	struct timeval tv = {2, 0};

	if (b->stopping)
		return;
	b->stopping = true;
	STRATA_INFO(BROKER_COMP, "shutting down|signal=%d", (int)sig);
	broker_listeners_stop(b);
	broker_cluster_stop(b);
	STRATA_LIST_FOREACH_SAFE(pos, tmp, &b->conns) {
		struct broker_conn *c = STRATA_CONTAINER_OF(pos,
		    struct broker_conn, node);

		if (c->state == CONN_ACTIVE && c->version == STRATA_MQTT_V5)
			broker_conn_disconnect(c,
			    STRATA_RC_SERVER_SHUTTING_DOWN);
		else
			broker_conn_close(c, false);
	}
	b->stop_timer = evtimer_new(b->base, main_stop_done, b);
	evtimer_add(b->stop_timer, &tv);
	if (strata_list_empty(&b->conns))
		event_base_loopexit(b->base, NULL);
}

static int
main_config(struct strata_broker *b, int argc, char **argv)
{
	char err[512];
	int rc, level;

	rc = strata_config_load(broker_options, N_OPTIONS, &b->cfg, argc,
	    argv, "strata-broker", stdout, err, sizeof(err));
	if (rc == 1)
		return 1;
	if (rc != 0) {
		fprintf(stderr, "strata-broker: %s\n", err);
		return 2;
	}
	level = strata_log_level_parse(b->cfg.log_level);
	if (level < 0) {
		fprintf(stderr, "strata-broker: --log-level: unknown '%s'\n",
		    b->cfg.log_level);
		return 2;
	}
	strata_log_set_level(level);
	if (b->cfg.node_id == NULL) {
		char id[64];

		snprintf(id, sizeof(id), "broker-%ld", (long)getpid());
		b->cfg.node_id = strdup(id);
	}
	if (b->cfg.keepalive_min > b->cfg.keepalive_max) {
		fprintf(stderr,
		    "strata-broker: keepalive-min > keepalive-max\n");
		return 2;
	}
	return 0;
}

static bool
main_healthy(void *arg)
{
	struct strata_broker *b = arg;

	return (b->listeners[0] != NULL || b->listeners[1] != NULL) &&
	    broker_routers_up(b) > 0;
}

static int
main_start(struct strata_broker *b)
{
	b->base = event_base_new();
	if (b->base == NULL)
		return STRATA_EIO;
	strata_list_init(&b->conns);
	strata_list_init(&b->reap);
	strata_list_init(&b->flush);
	strata_list_init(&b->routers);
	strata_list_init(&b->unsent);
	b->sessions = strata_hashmap_new(broker_session_free_value);
	strata_u64map_init(&b->by_incarnation);
	b->subs = strata_subtree_new();
	strata_u64map_init(&b->fwd_by_seq);
	b->next_seq = 1;
	b->metrics = strata_metrics_new();
	broker_metrics_init(b);
	if (broker_conns_start(b) != 0)
		return STRATA_EIO;
	if (broker_listeners_start(b) != 0)
		return STRATA_EINVAL;
	if (b->cfg.metrics_port != 0) {
		b->http = strata_metrics_http_start(b->base, b->metrics,
		    b->cfg.bind, (uint16_t)b->cfg.metrics_port, main_healthy,
		    b);
		if (b->http == NULL)
			return STRATA_EIO;
	}
	if (broker_routers_start(b) != 0)
		return STRATA_EIO;
	if (broker_cluster_start(b) != 0)
		return STRATA_EIO;
	b->sigterm_ev = evsignal_new(b->base, SIGTERM, main_on_signal, b);
	b->sigint_ev = evsignal_new(b->base, SIGINT, main_on_signal, b);
	event_add(b->sigterm_ev, NULL);
	event_add(b->sigint_ev, NULL);
	return 0;
}

static void
main_teardown(struct strata_broker *b)
{
	b->stopping = true;
	broker_conns_free_all(b);
	broker_listeners_stop(b);
	broker_routers_stop(b);
	broker_cluster_free(b);
	strata_hashmap_free(b->sessions);
	strata_u64map_fini(&b->by_incarnation);
	strata_subtree_free(b->subs, broker_filter_free);
	strata_u64map_fini(&b->fwd_by_seq);
	strata_metrics_http_free(b->http);
	strata_metrics_free(b->metrics);
	if (b->ssl_ctx != NULL)
		SSL_CTX_free(b->ssl_ctx);
	if (b->sigterm_ev != NULL)
		event_free(b->sigterm_ev);
	if (b->sigint_ev != NULL)
		event_free(b->sigint_ev);
	if (b->stop_timer != NULL)
		event_free(b->stop_timer);
	if (b->reap_ev != NULL)
		event_free(b->reap_ev);
	if (b->flush_ev != NULL)
		event_free(b->flush_ev);
	free(b->scratch);
	free(b->topic_buf);
	free(b->fanout);
	strata_config_free(broker_options, N_OPTIONS, &b->cfg);
	if (b->base != NULL)
		event_base_free(b->base);
}

int
main(int argc, char **argv)
{
	struct strata_broker *b = NULL;
	int rc;

	signal(SIGPIPE, SIG_IGN);
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		abort();
	rc = main_config(b, argc, argv);
	if (rc != 0) {
		strata_config_free(broker_options, N_OPTIONS, &b->cfg);
		free(b);
		return rc == 1 ? 0 : rc;
	}
	if (main_start(b) != 0) {
		rc = 1;
		goto out;
	}
	STRATA_INFO(BROKER_COMP, "started|node_id=%s", b->cfg.node_id);
	event_base_dispatch(b->base);
	STRATA_INFO(BROKER_COMP, "stopped|node_id=%s", b->cfg.node_id);
	rc = 0;
out:
	main_teardown(b);
	free(b);
	return rc;
}
