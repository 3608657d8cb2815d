/*
 * main.c - strata-router: options, signals, the event loop.
 *
 * SIGTERM/SIGINT: stop accepting brokers and close their links, give the
 * partition lease up in Redis (waiting at most one second for the reply),
 * then leave the loop, free everything and exit 0.
 */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "log.h"
#include "router.h"
#include "status.h"

#define OPT(name, type, field, def, min, max, help) \
	{ name, type, offsetof(struct router_config, field), def, min, max, \
	  help }

static const struct strata_config_option router_options[] = {
	OPT("node-id", STRATA_CFG_STRING, node_id, NULL, 0, 0,
	    "name of this router in Redis (default router-<pid>)"),
	OPT("bind", STRATA_CFG_STRING, bind, "127.0.0.1", 0, 0,
	    "IP address of the link and metrics listeners"),
	OPT("port", STRATA_CFG_INT, port, "7883", 1, 65535,
	    "TCP port brokers connect to (the link)"),
	OPT("metrics-port", STRATA_CFG_INT, metrics_port, "9983", 0, 65535,
	    "HTTP port of /metrics and /healthz (0: off)"),
	OPT("redis-host", STRATA_CFG_STRING, redis_host, "127.0.0.1", 0, 0,
	    "Redis host"),
	OPT("redis-port", STRATA_CFG_INT, redis_port, "6379", 1, 65535,
	    "Redis port"),
	OPT("partition-levels", STRATA_CFG_INT, partition_levels, "3", 1, 16,
	    "topic levels hashed into the partition key (same on all nodes)"),
	OPT("log-level", STRATA_CFG_STRING, log_level, "info", 0, 0,
	    "debug, info, warn or error"),
	OPT("max-link-queue", STRATA_CFG_INT, max_link_queue, "67108864",
	    65536, 1L << 40,
	    "bytes queued per broker link before Delivers are dropped"),
};

#define NOPTS (sizeof(router_options) / sizeof(router_options[0]))

struct main_ctx {
	struct event_base *base;
	struct strata_router router;
	struct event *backstop;
	bool shutting_down;
};

static void
main_exit_cb(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopexit(arg, NULL);
}

static void
main_lease_released(struct strata_redis *redis, redisReply *reply,
    void *arg)
{
	struct main_ctx *c = arg;

	if (!c->shutting_down || c->base == NULL)
		return;
	event_base_loopexit(c->base, NULL);
}

static void
main_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct main_ctx *c = arg;
	struct timeval one_second = { 1, 0 };

	if (c->shutting_down)
		return;
	c->shutting_down = true;
	STRATA_INFO("router", "shutting down|signal=%d", (int)sig);
	router_stop(&c->router);
	router_partition_stop(&c->router, main_lease_released, c);
	/* If Redis does not answer, leave anyway. */
	c->backstop = evtimer_new(c->base, main_exit_cb, c->base);
	evtimer_add(c->backstop, &one_second);
}

static int
main_load_config(struct router_config *cfg, int argc, char **argv)
{
	char err[512];
	int rc, level;

	rc = strata_config_load(router_options, NOPTS, cfg, argc, argv,
	    "strata-router", stdout, err, sizeof(err));
	if (rc == 1)
		return 1;
	if (rc != 0) {
		fprintf(stderr, "strata-router: %s\n", err);
		return 2;
	}
	if ((level = strata_log_level_parse(cfg->log_level)) < 0) {
		fprintf(stderr, "strata-router: --log-level: '%s' is not "
		    "one of debug, info, warn, error\n", cfg->log_level);
		return 2;
	}
	strata_log_set_level((enum strata_log_level)level);
	if (cfg->node_id == NULL &&
	    asprintf(&cfg->node_id, "router-%ld", (long)getpid()) < 0)
		abort();
	return 0;
}

int
main(int argc, char **argv)
{
	struct router_config cfg;
	struct main_ctx c;
	struct event *sigterm = NULL, *sigint = NULL;
	int rc;

	memset(&cfg, 0, sizeof(cfg));
	memset(&c, 0, sizeof(c));
	rc = main_load_config(&cfg, argc, argv);
	if (rc == 1)
		rc = 0; /* --help */
	if (rc != 0 || cfg.node_id == NULL)
		goto out;
	signal(SIGPIPE, SIG_IGN);
	c.base = event_base_new();
	if (c.base == NULL)
		abort();
	sigterm = evsignal_new(c.base, SIGTERM, main_signal_cb, &c);
	sigint = evsignal_new(c.base, SIGINT, main_signal_cb, &c);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	if (router_init(&c.router, c.base, &cfg) != 0)
		rc = 1;
	else
		event_base_dispatch(c.base);
	c.shutting_down = false; /* late lease replies must not touch base */
	router_fini(&c.router);
	STRATA_INFO("router", "stopped");
out:
	if (sigterm != NULL)
		event_free(sigterm);
	if (sigint != NULL)
		event_free(sigint);
	if (c.backstop != NULL)
		event_free(c.backstop);
	if (c.base != NULL)
		event_base_free(c.base);
	strata_config_free(router_options, NOPTS, &cfg);
	return rc;
}
