/*
 * main.c - strata-broker: options, start-up, signals, shutdown.
 *
 * Start-up: load the options (config.c), build the context and start its
 * services (broker.c: metrics, listeners, the Redis poller of the router
 * map, the cluster session machinery), then run the loop.
 * SIGTERM/SIGINT: stop accepting, send MQTT 5 clients DISCONNECT 0x8B,
 * close every connection (flushing output), and leave the loop after at
 * most 2 s.
 * SIGHUP: reload the TLS certificate chain, key, CA list and CRL from the
 * files the options name (tls.c); new connections get them, open ones keep
 * theirs, and a reload that fails keeps the old ones.  Nothing else is
 * re-read (logs go to stderr: there is no file to reopen).
 * Exit status: 0, 1 when start-up failed, 2 for a configuration error
 * (including one found in Redis at run time).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"

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

		/* MQTT 5 clients get DISCONNECT 0x8B; no will is published */
		broker_conn_disconnect(c, STRATA_RC_SERVER_SHUTTING_DOWN,
		    "server shutting down");
	}
	b->stop_timer = evtimer_new(b->base, main_stop_done, b);
	evtimer_add(b->stop_timer, &tv);
	if (strata_list_empty(&b->conns))
		event_base_loopexit(b->base, NULL);
}

/* SIGHUP: the TLS files again. */
static void
main_on_hangup(evutil_socket_t sig, short what, void *arg)
{
	struct strata_broker *b = arg;

	if (!b->stopping)
		(void)broker_tls_reload(b);
}

static int
main_config(struct strata_broker *b, int argc, char **argv)
{
	char err[512];
	int rc;

	rc = broker_config_load(&b->cfg, argc, argv, stdout, err,
	    sizeof(err));
	if (rc == 1)
		return 1;
	if (rc != 0) {
		fprintf(stderr, "strata-broker: %s\n", err);
		return 2;
	}
	strata_log_set_level(strata_log_level_parse(b->cfg.log_level));
	return 0;
}

static void
main_signals(struct strata_broker *b)
{
	b->sigterm_ev = evsignal_new(b->base, SIGTERM, main_on_signal, b);
	b->sigint_ev = evsignal_new(b->base, SIGINT, main_on_signal, b);
	b->sighup_ev = evsignal_new(b->base, SIGHUP, main_on_hangup, b);
	if (b->sigterm_ev == NULL || b->sigint_ev == NULL ||
	    b->sighup_ev == NULL)
		abort();
	event_add(b->sigterm_ev, NULL);
	event_add(b->sigint_ev, NULL);
	event_add(b->sighup_ev, NULL);
}

static void
main_teardown(struct strata_broker *b, struct event_base *base)
{
	broker_fini(b);
	if (b->sigterm_ev != NULL)
		event_free(b->sigterm_ev);
	if (b->sigint_ev != NULL)
		event_free(b->sigint_ev);
	if (b->sighup_ev != NULL)
		event_free(b->sighup_ev);
	if (b->stop_timer != NULL)
		event_free(b->stop_timer);
	broker_config_free(&b->cfg);
	if (base != NULL)
		event_base_free(base);
}

int
main(int argc, char **argv)
{
	struct strata_broker *b = NULL;
	struct event_base *base = NULL;
	int rc;

	signal(SIGPIPE, SIG_IGN);
	/* until the loop handles it: a reload asked during start-up must
	 * not end the process (the files are being read anyway) */
	signal(SIGHUP, SIG_IGN);
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		abort();
	rc = main_config(b, argc, argv);
	if (rc != 0) {
		broker_config_free(&b->cfg);
		free(b);
		return rc == 1 ? 0 : rc;
	}
	base = event_base_new();
	if (base == NULL || broker_init(b, base) != 0 ||
	    broker_start(b, true) != 0) {
		rc = 1;
		goto out;
	}
	main_signals(b);
	STRATA_INFO(BROKER_COMP, "started|node_id=%s max_connections=%ld",
	    b->cfg.node_id, b->cfg.max_connections);
	event_base_dispatch(base);
	STRATA_INFO(BROKER_COMP, "stopped|node_id=%s", b->cfg.node_id);
	rc = b->exit_status;
out:
	main_teardown(b, base);
	free(b);
	return rc;
}
