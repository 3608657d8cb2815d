/*
 * main.c - strata-router: options, signals, the event loop.
 *
 * SIGTERM/SIGINT: stop accepting brokers and close their links, give the
 * partition lease up in Redis (waiting at most one second for the reply),
 * then leave the loop, free everything and exit 0.  Exit status 1 when
 * start-up failed, 2 for a configuration error (including a partition
 * scheme the cluster disagrees with, found in Redis at run time).
 */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "router.h"
#include "status.h"

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
	int rc;

	rc = router_config_load(cfg, argc, argv, stdout, err, sizeof(err));
	if (rc == 1)
		return 1;
	if (rc != 0) {
		fprintf(stderr, "strata-router: %s\n", err);
		return 2;
	}
	strata_log_set_level(
	    (enum strata_log_level)strata_log_level_parse(cfg->log_level));
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
	if (router_init(&c.router, c.base, &cfg) != 0) {
		rc = 1;
	} else {
		event_base_dispatch(c.base);
		rc = c.router.exit_status;
	}
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
	router_config_free(&cfg);
	return rc;
}
