/*
 * broker.c - life cycle of the broker context (struct strata_broker):
 * build it on an event base, start its services, tear it down.
 *
 * main.c runs broker_init() + broker_start(b, true) for the daemon; fuzz
 * targets and tests build the same context without listeners (clients
 * are attached with broker_conn_new on sockets of their own) and with
 * cfg.redis_fake set, so the real code runs against an in-process Redis.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "config.h"

int
broker_init(struct strata_broker *b, struct event_base *base)
{
	b->base = base;
	strata_list_init(&b->conns);
	strata_list_init(&b->reap);
	strata_list_init(&b->flush);
	strata_list_init(&b->routers);
	strata_list_init(&b->unsent);
	strata_list_init(&b->subacks);
	strata_list_init(&b->devstats_dirty);
	b->sessions = strata_hashmap_new(broker_session_free_value);
	strata_u64map_init(&b->by_incarnation);
	b->subs = strata_subtree_new();
	strata_u64map_init(&b->fwd_by_seq);
	strata_u64map_init(&b->dedup);
	strata_list_init(&b->dedup_fifo);
	b->next_seq = 1;
	/* tells a restart from a reconnect, in the Hello to routers */
	if (getrandom(&b->boot, sizeof(b->boot), 0) != sizeof(b->boot))
		b->boot = (uint64_t)time(NULL) << 20 ^ (uint64_t)getpid();
	b->metrics = strata_metrics_new();
	broker_metrics_init(b);
	broker_throttle_metrics_init(b);
	return broker_conns_start(b);
}

struct strata_redis *
broker_redis_new(struct strata_broker *b,
    void (*on_up)(struct strata_redis *, void *), void *arg)
{
	struct strata_redis *r;

	if (b->cfg.redis_fake != NULL)
		return strata_redis_new_fake(b->base, b->cfg.redis_fake,
		    on_up, arg);
	{
		struct strata_redis_opts ro = STRATA_CONFIG_REDIS_OPTS(&b->cfg);

		r = strata_redis_open(b->base, &ro, on_up, arg);
	}
	return r;
}

static bool
broker_healthy(void *arg)
{
	struct strata_broker *b = arg;

	return broker_listeners_open(b) && broker_routers_up(b) > 0;
}

int
broker_start(struct strata_broker *b, bool listen)
{
	if (listen && broker_listeners_start(b) != 0)
		return STRATA_EINVAL;
	if (b->cfg.metrics_port != 0) {
		b->http = strata_metrics_http_start(b->base, b->metrics,
		    b->cfg.bind, (uint16_t)b->cfg.metrics_port,
		    broker_healthy, b);
		if (b->http == NULL)
			return STRATA_EIO;
	}
	if (broker_routers_start(b) != 0)
		return STRATA_EIO;
	if (broker_cluster_start(b) != 0)
		return STRATA_EIO;
	if (broker_durable_start(b) != 0)
		return STRATA_EIO;
	if (broker_devices_start(b) != 0 || broker_admin_start(b) != 0 ||
	    broker_authorizer_start(b) != 0)
		return STRATA_EINVAL;
	if (listen && broker_detect_start(b) != 0)
		return STRATA_EIO;
	broker_meter_start(b);
	if (broker_trace_start(b) != 0)
		return STRATA_EIO;
	return broker_devstats_start(b);
}

/* Ask the loop to end with a process exit status (a fatal condition found
 * at run time, such as a partition scheme the cluster disagrees with). */
void
broker_exit(struct strata_broker *b, int status)
{
	b->exit_status = status;
	b->stopping = true;
	event_base_loopexit(b->base, NULL);
}

void
broker_fini(struct strata_broker *b)
{
	b->stopping = true;
	broker_conns_free_all(b);
	broker_fleet_free(b);
	broker_listeners_stop(b);
	broker_durable_stop(b);
	broker_routers_stop(b);
	broker_cluster_free(b);
	broker_meter_free(b);
	broker_admin_free(b);
	broker_trace_free(b);
	broker_devices_free(b);
	broker_authorizer_free(b);
	broker_throttle_free(b);
	broker_devstats_stop(b);
	broker_detect_free(b);
	strata_hashmap_free(b->sessions);
	strata_u64map_fini(&b->by_incarnation);
	if (b->subs != NULL)
		strata_subtree_free(b->subs, broker_filter_free);
	strata_u64map_fini(&b->fwd_by_seq);
	broker_dedup_free(b);
	strata_metrics_http_free(b->http);
	strata_metrics_free(b->metrics);
	if (b->ssl_ctx != NULL)
		SSL_CTX_free(b->ssl_ctx);
	if (b->admin_ssl_ctx != NULL)
		SSL_CTX_free(b->admin_ssl_ctx);
	if (b->reap_ev != NULL)
		event_free(b->reap_ev);
	if (b->flush_ev != NULL)
		event_free(b->flush_ev);
	free(b->scratch);
	free(b->topic_buf);
	free(b->fanout);
}
