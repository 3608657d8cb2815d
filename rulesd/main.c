/*
 * main.c - strata-rulesd: options, start-up, signals, shutdown.
 *
 * Options: the node options every daemon has (node id, metrics port,
 * Redis, cluster secret, log level) and rulesd's own (max-inflight,
 * max-queued: the internal session's window and queue; file-dir,
 * sink-queue, http-ca-file: the action targets, sink.c).  The broker core
 * it runs is configured from them (embed.c): no client listener, no
 * admin API; its /metrics and /healthz are served here (healthy: a router
 * link is up, the session is up, every enabled rule subscribed).
 * SIGTERM/SIGINT: close the session and the router links, leave the loop
 * after at most 2 s; jobs still queued for targets fail ("shutting
 * down").  Exit status: 0, 1 when start-up failed, 2 for a configuration
 * error.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "rulesd.h"
#include "sink.h"

struct rulesd_config {
	STRATA_CONFIG_NODE_FIELDS
	long max_inflight;
	long max_queued;
	char *file_dir;
	long sink_queue;
	char *http_ca_file;
	bool http_require_destination;
};

#define OPT(name, kind, field, def, lo, hi, help) \
	STRATA_CONFIG_OPT(struct rulesd_config, name, kind, field, def, lo, \
	    hi, help)

static const struct strata_config_option rulesd_options[] = {
	STRATA_CONFIG_NODE_OPTIONS(struct rulesd_config, "9986"),
	OPT("max-inflight", STRATA_CFG_INT, max_inflight, "1000", 1, 65535,
	    "messages handed to rulesd at once (the internal session's "
	    "Receive Maximum); more wait in the cluster"),
	OPT("max-queued", STRATA_CFG_INT, max_queued, "100000", 0, 10000000,
	    "QoS 1 messages the cluster queues for this instance past "
	    "max-inflight; more are dropped (strata_broker_drops_total"
	    "{reason=\"queue_full\"})"),
	OPT("file-dir", STRATA_CFG_STRING, file_dir, "", 0, 0,
	    "directory the file actions write under (empty: file actions "
	    "fail)"),
	OPT("sink-queue", STRATA_CFG_INT, sink_queue, "10000", 1, 10000000,
	    "jobs waiting per action target (an HTTP origin, a Redis, a "
	    "Kafka cluster, a file); past it a job fails as dropped"),
	OPT("http-ca-file", STRATA_CFG_STRING, http_ca_file, "", 0, 0,
	    "CA bundle for https:// targets of http actions (empty: the "
	    "system's)"),
	OPT("http-require-destination", STRATA_CFG_BOOL,
	    http_require_destination, "true", 0, 0,
	    "http actions post only to urls an ENABLED topic rule destination "
	    "covers, as on AWS IoT (false: to any url, unconfirmed)"),
};
#define N_OPTIONS (sizeof(rulesd_options) / sizeof(rulesd_options[0]))

static int
main_config(struct rulesd_config *c, int argc, char **argv)
{
	char err[512];
	int rc;

	rc = strata_config_load(rulesd_options, N_OPTIONS, c, argc, argv,
	    "strata-rulesd", stdout, err, sizeof(err));
	if (rc == 0)
		rc = strata_config_node_check(&c->node_id, c->log_level,
		    "rulesd", err, sizeof(err));
	if (rc == 1)
		return 1;
	if (rc != 0) {
		fprintf(stderr, "strata-rulesd: %s\n", err);
		return 2;
	}
	strata_log_set_level(strata_log_level_parse(c->log_level));
	return 0;
}

/* ---- the session ---- */

static void
main_session_up(void *arg)
{
	struct rulesd *rd = arg;

	rulesd_rules_subscribe_all(rd);
}

static void
main_suback(void *arg, uint16_t packet_id, const uint8_t *reasons, size_t n)
{
	rulesd_rules_suback(arg, packet_id, reasons, n);
}

static void
main_message(void *arg, const struct strata_mqtt_packet *p,
    unsigned generation)
{
	rulesd_message(arg, p, generation);
}

static const struct broker_insession_ops main_session_ops = {
	.comp = RULESD_COMP,
	.up = main_session_up,
	.suback = main_suback,
	.message = main_message,
};

/* ---- metrics, health, signals ---- */

static void
main_metrics(struct rulesd *rd)
{
	struct strata_metrics *m = rd->b->metrics;

	rd->m_rules = strata_metrics_gauge(m, "strata_rulesd_rules",
	    "enabled rules running here", NULL);
	rd->m_loops = strata_metrics_counter(m,
	    "strata_rulesd_republish_loops_total", "republishes refused "
	    "because the rule's own FROM filter matches their topic", NULL);
	rd->m_unknown_sub = strata_metrics_counter(m,
	    "strata_rulesd_unknown_deliveries_total", "messages for a rule "
	    "no longer loaded", NULL);
}

static bool
main_healthy(void *arg)
{
	struct rulesd *rd = arg;

	return broker_routers_up(rd->b) > 0 &&
	    broker_insession_up(rd->session) && rulesd_rules_ready(rd);
}

static void
main_stop(void *arg)
{
	struct rulesd *rd = arg;

	broker_insession_free(rd->session);
	rd->session = NULL;
}

/* ---- main ---- */

static int
main_start(struct rulesd *rd, const struct rulesd_config *c,
    struct event_base *base)
{
	struct strata_broker *b = rd->b;
	struct rulesd_sinks_config sc;
	char id[160];

	rulesd_sinks_config_default(&sc);
	sc.queue_max = (size_t)c->sink_queue;
	sc.file_dir = c->file_dir[0] != '\0' ? c->file_dir : NULL;
	sc.ca_file = c->http_ca_file[0] != '\0' ? c->http_ca_file : NULL;

	if (broker_init(b, base) != 0 || broker_start(b, false) != 0)
		return 1;
	main_metrics(rd);
	if (c->metrics_port != 0) {
		b->http = strata_metrics_http_start(base, b->metrics, c->bind,
		    (uint16_t)c->metrics_port, main_healthy, rd);
		if (b->http == NULL)
			return 1;
	}
	rd->sinks = rulesd_sinks_new(base, b->metrics, &sc);
	if (rd->sinks == NULL)
		return 1;
	rulesd_dests_start(rd, c->http_require_destination);
	if (rulesd_rules_start(rd) != 0)
		return 1;
	snprintf(id, sizeof(id), "strata-rulesd-%s", c->node_id);
	rd->session = broker_insession_start(b, id, (uint16_t)c->max_inflight,
	    &main_session_ops, rd);
	broker_embed_signals(b, main_stop, NULL, rd);
	return 0;
}

static int
main_core_config(const struct rulesd_config *c, struct broker_config *bc)
{
	const struct broker_embed e = BROKER_EMBED_NODE("strata-rulesd", c);

	return broker_config_embedded(bc, &e, NULL, 0);
}

static int
main_core_config_cb(const void *cfg, struct broker_config *bc)
{
	return main_core_config(cfg, bc);
}

static int
main_start_cb(void *daemon, const void *cfg, struct event_base *base)
{
	return main_start(daemon, cfg, base);
}

/* Jobs the sinks still hold fail now, without an errorAction (the core
 * is stopping). */
static void
main_teardown(void *daemon)
{
	struct rulesd *rd = daemon;

	broker_insession_free(rd->session);
	rd->session = NULL;
	rulesd_rules_free(rd);
	rulesd_sinks_free(rd->sinks);
	rd->sinks = NULL;
	rulesd_dests_free(rd);
}

static const struct broker_embed_daemon main_daemon = {
	.comp = RULESD_COMP,
	.core_config = main_core_config_cb,
	.start = main_start_cb,
	.teardown = main_teardown,
};

int
main(int argc, char **argv)
{
	struct rulesd_config cfg = {0};
	struct rulesd rd = {0};
	int rc;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	rc = main_config(&cfg, argc, argv);
	if (rc == 0)
		rc = broker_embed_run(&main_daemon, &cfg, &rd, &rd.b);
	else if (rc == 1)
		rc = 0;
	strata_config_free(rulesd_options, N_OPTIONS, &cfg);
	return rc;
}
