/*
 * router.c - life cycle of the router context: metrics, Redis, the link
 * listener, the /metrics endpoint and the one-second tick.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "config.h"
#include "log.h"
#include "metrics.h"
#include "redis.h"
#include "router.h"
#include "status.h"

uint64_t
router_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int64_t
router_gauge_brokers(void *arg)
{
	return ((struct strata_router *)arg)->broker_count;
}

static int64_t
router_gauge_partitions(void *arg)
{
	return ((struct strata_router *)arg)->parts.owned_count;
}

static int64_t
router_gauge_redis_up(void *arg)
{
	return strata_redis_is_up(((struct strata_router *)arg)->redis);
}

static uint64_t
router_redis_timeouts(void *arg)
{
	struct strata_router *r = arg;

	return r->redis != NULL ? strata_redis_timeouts(r->redis) : 0;
}

static uint64_t
router_redis_wait_short(void *arg)
{
	struct strata_router *r = arg;

	return r->redis != NULL ? strata_redis_wait_short(r->redis) : 0;
}

static uint64_t
router_redis_failovers(void *arg)
{
	struct strata_router *r = arg;

	return r->redis != NULL ? strata_redis_failovers(r->redis) : 0;
}

static uint64_t
router_redis_reconnects(void *arg)
{
	struct strata_router *r = arg;

	return r->redis != NULL ? strata_redis_reconnects(r->redis) : 0;
}

static uint64_t
router_redis_connect_failures(void *arg)
{
	const struct router_redis_failures *f = arg;

	return f->r->redis != NULL ?
	    strata_redis_connect_failures(f->r->redis, f->why) : 0;
}

/* One series per reason a Redis connect attempt failed. */
static void
router_redis_failures_init(struct strata_router *r)
{
	char labels[32];

	for (int i = 0; i < STRATA_REDIS_FAIL_KINDS; i++) {
		r->m.redis_failures[i].r = r;
		r->m.redis_failures[i].why = (enum strata_redis_failure)i;
		snprintf(labels, sizeof(labels), "reason=\"%s\"",
		    strata_redis_failure_name((enum strata_redis_failure)i));
		strata_metrics_counter_fn(r->metrics,
		    "strata_router_redis_connect_failures_total",
		    "Redis connect attempts that failed, by reason (auth: "
		    "the server refused our AUTH or wants one)", labels,
		    router_redis_connect_failures, &r->m.redis_failures[i]);
	}
}

static int64_t
router_gauge_retained(void *arg)
{
	struct strata_router *r = arg;

	return (int64_t)router_retained_count(&r->retained);
}

static int64_t
router_gauge_retained_bytes(void *arg)
{
	struct strata_router *r = arg;

	return (int64_t)r->retained.bytes;
}

static int64_t
router_gauge_pending(void *arg)
{
	return (int64_t)((struct strata_router *)arg)->pending_count;
}

static int64_t
router_gauge_backlog(void *arg)
{
	return (int64_t)((struct strata_router *)arg)->backlog_count;
}

static int64_t
router_gauge_nodes(void *arg)
{
	return ((struct strata_router *)arg)->node_count;
}

static int64_t
router_gauge_routes(void *arg)
{
	return (int64_t)router_routes_count(
	    &((struct strata_router *)arg)->routes);
}

static int64_t
router_gauge_queue(void *arg)
{
	struct strata_router *r = arg;
	struct strata_list *pos, *tmp;
	int64_t sum = 0;

	STRATA_LIST_FOREACH_SAFE(pos, tmp, &r->brokers)
		sum += (int64_t)strata_link_queued(STRATA_CONTAINER_OF(pos,
		    struct router_broker, node)->link);
	return sum;
}

static int64_t
router_gauge_sessions(void *arg)
{
	return (int64_t)((struct strata_router *)arg)->sessions.n_sessions;
}

static int64_t
router_gauge_sessions_offline(void *arg)
{
	return (int64_t)((struct strata_router *)arg)->sessions.n_offline;
}

static int64_t
router_gauge_share_groups(void *arg)
{
	return (int64_t)((struct strata_router *)arg)->shares.n_groups;
}

static int64_t
router_gauge_share_members(void *arg)
{
	return (int64_t)((struct strata_router *)arg)->shares.n_members;
}

static uint64_t *
router_counter(struct strata_router *r, const char *name, const char *help,
    const char *labels)
{
	return strata_metrics_counter(r->metrics, name, help, labels);
}

static void
router_metrics_gauges(struct strata_router *r)
{
	struct strata_metrics *m = r->metrics;

	strata_metrics_gauge_fn(m, "strata_router_broker_links",
	    "Broker links connected", NULL, router_gauge_brokers, r);
	strata_metrics_gauge_fn(m, "strata_router_partitions_owned",
	    "Partitions this router owns", NULL, router_gauge_partitions, r);
	strata_metrics_gauge_fn(m, "strata_router_redis_up",
	    "1 when the Redis connection is up", NULL, router_gauge_redis_up,
	    r);
	strata_metrics_gauge_fn(m, "strata_router_retained_messages",
	    "Retained messages in the cache", NULL, router_gauge_retained, r);
	strata_metrics_gauge_fn(m, "strata_router_retained_bytes",
	    "Bytes of retained messages in the cache", NULL,
	    router_gauge_retained_bytes, r);
	strata_metrics_counter_fn(m, "strata_router_redis_timeouts_total",
	    "Redis connections dropped (or connects abandoned) for not "
	    "answering within redis-timeout", NULL, router_redis_timeouts, r);
	strata_metrics_counter_fn(m, "strata_router_redis_wait_short_total",
	    "Synced writes that reached fewer than redis-wait-replicas "
	    "replicas within redis-wait-timeout", NULL,
	    router_redis_wait_short, r);
	strata_metrics_counter_fn(m, "strata_router_redis_failovers_total",
	    "Times the sentinels named a new Redis primary", NULL,
	    router_redis_failovers, r);
	strata_metrics_counter_fn(m, "strata_router_redis_reconnects_total",
	    "Successful Redis connects after the first", NULL,
	    router_redis_reconnects, r);
	router_redis_failures_init(r);
	strata_metrics_gauge_fn(m, "strata_router_pending_publishes",
	    "QoS 1/2 publishes waiting for their destinations", NULL,
	    router_gauge_pending, r);
	strata_metrics_gauge_fn(m, "strata_router_deliver_backlog",
	    "QoS 1/2 Delivers waiting for a broker link (down or full)", NULL,
	    router_gauge_backlog, r);
	strata_metrics_gauge_fn(m, "strata_router_broker_nodes",
	    "Broker nodes known (linked or down within their lease)", NULL,
	    router_gauge_nodes, r);
	strata_metrics_gauge_fn(m, "strata_router_route_filters",
	    "Distinct filters in the route table", NULL, router_gauge_routes,
	    r);
	strata_metrics_gauge_fn(m, "strata_router_sessions",
	    "Persistent sessions with a filter here", NULL,
	    router_gauge_sessions, r);
	strata_metrics_gauge_fn(m, "strata_router_sessions_queueing",
	    "Of those, the offline ones this router queues for", NULL,
	    router_gauge_sessions_offline, r);
	strata_metrics_gauge_fn(m, "strata_router_share_groups",
	    "Shared subscription groups held", NULL, router_gauge_share_groups,
	    r);
	strata_metrics_gauge_fn(m, "strata_router_share_members",
	    "Members of those groups", NULL, router_gauge_share_members, r);
	strata_metrics_gauge_fn(m, "strata_router_link_queue_bytes",
	    "Bytes queued for writing on broker links", NULL,
	    router_gauge_queue, r);
}

static void
router_metrics_init(struct strata_router *r)
{
	static const char *const drop_labels[ROUTER_DROP_COUNT] = {
		"reason=\"deliver_queue_full\"",
		"reason=\"deliver_link_down\"",
		"reason=\"ack_queue_full\"",
		"reason=\"ack_link_down\"",
		"reason=\"ack_broker_gone\"",
	};
	static const char *const qos_labels[3] = {
		"qos=\"0\"", "qos=\"1\"", "qos=\"2\"",
	};
	const char *acks = "strata_router_publish_acks_total";
	const char *acks_help = "PublishAcks sent, by reason";
	struct router_metrics *m = &r->m;

	for (int i = 0; i < 3; i++)
		m->publishes[i] = router_counter(r,
		    "strata_router_publishes_total", "Publishes routed",
		    qos_labels[i]);
	for (int i = 0; i < ROUTER_DROP_COUNT; i++)
		m->drops[i] = router_counter(r, "strata_router_drops_total",
		    "Messages not sent, by reason", drop_labels[i]);
	m->deliveries = router_counter(r, "strata_router_deliveries_total",
	    "Deliver messages queued to brokers", NULL);
	m->acks_success = router_counter(r, acks, acks_help,
	    "reason=\"success\"");
	m->acks_no_subscribers = router_counter(r, acks, acks_help,
	    "reason=\"no_matching_subscribers\"");
	m->acks_error = router_counter(r, acks, acks_help, "reason=\"error\"");
	m->not_owned = router_counter(r,
	    "strata_router_publish_not_owned_total",
	    "Publishes of a partition this router does not serve "
	    "(QoS 1/2 refused: their broker sends them to the owner)", NULL);
	m->retained_stored = router_counter(r,
	    "strata_router_retained_stored_total",
	    "Retained messages stored", NULL);
	m->retained_deleted = router_counter(r,
	    "strata_router_retained_deleted_total",
	    "Retained messages deleted by an empty payload", NULL);
	m->retained_requests = router_counter(r,
	    "strata_router_retained_requests_total",
	    "RetainedRequests received", NULL);
	m->retained_sent = router_counter(r,
	    "strata_router_retained_sent_total",
	    "Retained messages sent for RetainedRequests", NULL);
	m->route_updates = router_counter(r,
	    "strata_router_route_updates_total", "RouteUpdates received",
	    NULL);
	m->barriers = router_counter(r, "strata_router_barriers_total",
	    "Barriers answered (broker SUBSCRIBE ordering)", NULL);
	m->protocol_errors = router_counter(r,
	    "strata_router_link_protocol_errors_total",
	    "Invalid messages received on broker links", NULL);
	m->link_auth_refused = router_counter(r,
	    "strata_router_link_auth_refused_total",
	    "Broker links closed for lacking the cluster secret's proof",
	    NULL);
	m->deliver_acks = router_counter(r,
	    "strata_router_deliver_acks_total",
	    "QoS 1/2 Delivers brokers acknowledged taking", NULL);
	m->redelivered = router_counter(r, "strata_router_redelivered_total",
	    "Delivers sent again after a broker link dropped", NULL);
	m->duplicates = router_counter(r,
	    "strata_router_publish_duplicates_total",
	    "Publishes a broker sent again that were already in progress or "
	    "answered", NULL);
	m->nodes_gone = router_counter(r, "strata_router_brokers_gone_total",
	    "Broker nodes forgotten after their lease expired", NULL);
	m->moved_in = router_counter(r,
	    "strata_router_partitions_moved_total",
	    "Partitions that moved to or from this router",
	    "direction=\"in\"");
	m->moved_out = router_counter(r,
	    "strata_router_partitions_moved_total",
	    "Partitions that moved to or from this router",
	    "direction=\"out\"");
	m->join_timeouts = router_counter(r,
	    "strata_router_partition_join_timeouts_total",
	    "Brokers that had not joined a partition when it was served "
	    "anyway (3 s)", NULL);
	m->retained_refused = router_counter(r,
	    "strata_router_retained_refused_total",
	    "Retained publishes refused (0x97) over max-retained or "
	    "max-retained-bytes", NULL);
	m->session_appends = router_counter(r,
	    "strata_router_session_appends_total",
	    "Messages queued in Redis for offline persistent sessions", NULL);
	m->session_append_errors = router_counter(r,
	    "strata_router_session_append_errors_total",
	    "Queue appends Redis did not take (the publish is not "
	    "acknowledged as a success)", NULL);
	m->session_queue_full = router_counter(r,
	    "strata_router_session_queue_full_total",
	    "Messages not queued: the offline session had max-queued", NULL);
	m->sessions_expired = router_counter(r,
	    "strata_router_sessions_expired_total",
	    "Offline sessions found expired in Redis and forgotten", NULL);
	m->sessions_offline = router_counter(r,
	    "strata_router_sessions_offline_total",
	    "Persistent sessions this router started queueing for", NULL);
	m->share_deliveries = router_counter(r,
	    "strata_router_share_deliveries_total",
	    "Messages sent to a member of a shared subscription", NULL);
	m->share_dropped = router_counter(r,
	    "strata_router_share_dropped_total",
	    "Messages of a shared subscription with no member left", NULL);
	m->share_redistributed = router_counter(r,
	    "strata_router_share_redistributed_total",
	    "Shared-subscription messages given to another member (theirs "
	    "left or its broker is gone)", NULL);
	router_metrics_gauges(r);
}

static bool
router_healthy(void *arg)
{
	struct strata_router *r = arg;

	return strata_redis_is_up(r->redis) && r->parts.owned_count > 0;
}

static void
router_redis_up(struct strata_redis *redis, void *arg)
{
	struct strata_router *r = arg;

	/* A new Redis may hold another scheme: check again, then refresh the
	 * lease and claim at once rather than at the next tick. */
	r->scheme_ok = false;
	router_partition_tick(r);
}

void
router_exit(struct strata_router *r, int status)
{
	r->exit_status = status;
	r->stopping = true;
	event_base_loopexit(r->base, NULL);
}

void
router_link_error(struct strata_router *r, const char *what,
    const char *broker)
{
	(*r->m.protocol_errors)++;
	strata_log_limited(&r->link_error_log, STRATA_LOG_WARN, "router",
	    "invalid message on a broker link|what=\"%s\" broker=%s", what,
	    broker != NULL ? broker : "-");
}

static void
router_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	router_partition_tick(arg);
}

static void
router_fast_cb(evutil_socket_t fd, short what, void *arg)
{
	router_partition_fast_tick(arg);
}

static void
router_accept_cb(struct evconnlistener *lis, evutil_socket_t fd,
    struct sockaddr *sa, int socklen, void *arg)
{
	router_brokers_accept(arg, fd);
}

static int
router_listen(struct strata_router *r)
{
	struct sockaddr_storage ss;
	int sslen = sizeof(ss);
	char addr[300];

	snprintf(addr, sizeof(addr), strchr(r->cfg.bind, ':') ? "[%s]:%ld" :
	    "%s:%ld", r->cfg.bind, r->cfg.port);
	if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)&ss,
	    &sslen) != 0) {
		STRATA_ERROR("router", "bind is not an IP address|bind=%s",
		    r->cfg.bind);
		return STRATA_EINVAL;
	}
	r->listener = evconnlistener_new_bind(r->base, router_accept_cb, r,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    128, (struct sockaddr *)&ss, sslen);
	if (r->listener == NULL) {
		STRATA_ERROR("router", "cannot listen|addr=%s error=\"%s\"",
		    addr, evutil_socket_error_to_string(
		    EVUTIL_SOCKET_ERROR()));
		return STRATA_EIO;
	}
	r->link_address = strdup(addr);
	if (r->link_address == NULL)
		abort();
	return 0;
}

/*
 * Build the router on base: listen, connect to Redis, start the tick.
 * cfg is copied shallowly (its strings must outlive the router).  Returns 0
 * or an error (logged); router_fini() is needed in both cases.
 */
int
router_init(struct strata_router *r, struct event_base *base,
    const struct router_config *cfg)
{
	struct timeval one_second = { 1, 0 };
	struct timeval quarter_second = { 0, 250000 };
	int rc;

	memset(r, 0, sizeof(*r));
	r->base = base;
	r->cfg = *cfg;
	strata_list_init(&r->brokers);
	strata_list_init(&r->nodes);
	router_routes_init(&r->routes);
	router_retained_init(&r->retained, (size_t)cfg->max_retained,
	    (size_t)cfg->max_retained_bytes);
	router_partition_start(r);
	router_sessions_init(r);
	router_shares_init(r);
	r->shares.strategy = router_shares_strategy(cfg->share_strategy);
	r->metrics = strata_metrics_new();
	router_metrics_init(r);
	if (cfg->port != 0 && (rc = router_listen(r)) != 0)
		return rc;
	if (cfg->metrics_port != 0) {
		r->http = strata_metrics_http_start(base, r->metrics,
		    cfg->bind, (uint16_t)cfg->metrics_port, router_healthy, r);
		if (r->http == NULL)
			return STRATA_EIO;
	}
	if (cfg->redis_fake != NULL) {
		r->redis = strata_redis_new_fake(base, cfg->redis_fake,
		    router_redis_up, r);
	} else {
		struct strata_redis_opts ro = STRATA_CONFIG_REDIS_OPTS(cfg);

		r->redis = strata_redis_open(base, &ro, router_redis_up, r);
	}
	if (r->redis != NULL)
		strata_redis_observe(r->redis, strata_metrics_histogram(
		    r->metrics, "strata_router_redis_command_seconds",
		    "Time from sending a Redis command to its reply", NULL,
		    strata_latency_bounds_us, STRATA_LATENCY_BOUNDS),
		    strata_metrics_counter(r->metrics,
		    "strata_router_redis_error_replies_total",
		    "Redis error replies, scripts' refusals included", NULL));
	r->tick_ev = event_new(base, -1, EV_PERSIST, router_tick_cb, r);
	r->fast_ev = event_new(base, -1, EV_PERSIST, router_fast_cb, r);
	if (r->tick_ev == NULL || r->fast_ev == NULL)
		abort();
	event_add(r->tick_ev, &one_second);
	event_add(r->fast_ev, &quarter_second);
	router_sessions_start(r);
	STRATA_INFO("router", "started|node_id=%s link=%s redis=%s:%ld",
	    cfg->node_id, r->link_address != NULL ? r->link_address : "-",
	    cfg->redis_host, cfg->redis_port);
	return 0;
}

/* Stop taking traffic: no new brokers, current links closed, no tick. */
void
router_stop(struct strata_router *r)
{
	r->stopping = true;
	if (r->listener != NULL) {
		evconnlistener_free(r->listener);
		r->listener = NULL;
	}
	router_brokers_free_all(r);
	if (r->tick_ev != NULL)
		event_del(r->tick_ev);
	if (r->fast_ev != NULL)
		event_del(r->fast_ev);
	if (r->sessions.sweep_ev != NULL)
		event_del(r->sessions.sweep_ev);
}

void
router_fini(struct strata_router *r)
{
	router_stop(r);
	/* Redis first: pending callbacks run now, with NULL, while the rest of
	 * the context is still whole. */
	strata_redis_free(r->redis);
	r->redis = NULL;
	/* then the nodes: what waited for them settles, nothing is sent */
	router_sessions_fini(r);
	router_nodes_free_all(r);
	router_shares_fini(r);
	router_pending_free_all(r);
	router_partition_fini(r);
	strata_metrics_http_free(r->http);
	if (r->tick_ev != NULL)
		event_free(r->tick_ev);
	if (r->fast_ev != NULL)
		event_free(r->fast_ev);
	router_routes_fini(&r->routes);
	router_retained_fini(&r->retained);
	strata_metrics_free(r->metrics);
	free(r->link_address);
	memset(r, 0, sizeof(*r));
}
