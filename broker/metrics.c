/*
 * metrics.c - the broker's metric series, refusals and drops, and the
 * small helpers of the hot path (clock, scratch buffer).
 *
 * Cells of the hot path are registered once here; refusals and drops are
 * rare, so they look their labelled cell up when they happen.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "broker.h"

/* lifecycle.h's disconnectReason names */
static const char *const metrics_disconnect_reasons[] = {
	"CLIENT_INITIATED_DISCONNECT", "CONNECTION_LOST",
	"MQTT_KEEP_ALIVE_TIMEOUT", "DUPLICATE_CLIENTID", "AUTH_ERROR",
	"FORBIDDEN_ACCESS", "SERVER_INITIATED_DISCONNECT", "THROTTLED",
	"SERVER_ERROR", "CLIENT_ERROR"};

static const char *const listener_names[BROKER_LISTENERS] = {"tcp", "tls",
	"proxy", "proxy-tls", "ws", "wss"};

/* Every reason broker_drop() is called with, shown at 0 from the start so
 * that rate() and alerts work before the first drop. */
static const char *const drop_reasons[] = {"expired", "no_router",
	"over_client_max_packet", "queue_full", "slow_client",
	"receive_denied", "lifecycle_event"};

const char *
broker_drop_reason(int rc)
{
	switch (rc) {
	case STRATA_ENOTFOUND: return "expired";
	case STRATA_EPERM: return "receive_denied";
	default: return "over_client_max_packet";
	}
}

static int64_t
metrics_link_queue(void *arg)
{
	struct strata_broker *b = arg;
	struct strata_list *pos;
	int64_t total = (int64_t)b->unsent_bytes;

	for (pos = b->routers.next; pos != &b->routers; pos = pos->next) {
		struct broker_router *r = STRATA_CONTAINER_OF(pos,
		    struct broker_router, node);

		if (r->link != NULL)
			total += (int64_t)strata_link_queued(r->link);
	}
	return total;
}

static uint64_t
metrics_redis_timeouts(void *arg)
{
	struct strata_broker *b = arg;

	return (b->redis != NULL ? strata_redis_timeouts(b->redis) : 0) +
	    (b->nodesub != NULL ? strata_redis_timeouts(b->nodesub) : 0);
}

static uint64_t
metrics_redis_wait_short(void *arg)
{
	struct strata_broker *b = arg;

	return b->redis != NULL ? strata_redis_wait_short(b->redis) : 0;
}

static uint64_t
metrics_redis_failovers(void *arg)
{
	struct strata_broker *b = arg;

	return b->redis != NULL ? strata_redis_failovers(b->redis) : 0;
}

static uint64_t
metrics_redis_reconnects(void *arg)
{
	struct strata_broker *b = arg;

	return (b->redis != NULL ? strata_redis_reconnects(b->redis) : 0) +
	    (b->nodesub != NULL ? strata_redis_reconnects(b->nodesub) : 0);
}

static uint64_t
metrics_redis_connect_failures(void *arg)
{
	const struct broker_redis_failures *f = arg;
	const struct strata_broker *b = f->b;

	return (b->redis != NULL ?
	    strata_redis_connect_failures(b->redis, f->why) : 0) +
	    (b->nodesub != NULL ?
	    strata_redis_connect_failures(b->nodesub, f->why) : 0);
}

/* One series per reason a Redis connect attempt failed. */
static void
metrics_redis_failures_init(struct strata_broker *b)
{
	char labels[32];

	for (int i = 0; i < STRATA_REDIS_FAIL_KINDS; i++) {
		b->m.redis_failures[i].b = b;
		b->m.redis_failures[i].why = (enum strata_redis_failure)i;
		snprintf(labels, sizeof(labels), "reason=\"%s\"",
		    strata_redis_failure_name((enum strata_redis_failure)i));
		strata_metrics_counter_fn(b->metrics,
		    "strata_broker_redis_connect_failures_total",
		    "Redis connect attempts that failed, by reason (auth: "
		    "the server refused our AUTH or wants one)", labels,
		    metrics_redis_connect_failures, &b->m.redis_failures[i]);
	}
}

static int64_t
metrics_connections_max(void *arg)
{
	return ((struct strata_broker *)arg)->cfg.max_connections;
}

static uint64_t *
metrics_drop_cell(struct strata_broker *b, const char *reason)
{
	char labels[64];

	snprintf(labels, sizeof(labels), "reason=\"%s\"", reason);
	return strata_metrics_counter(b->metrics, "strata_broker_drops_total",
	    "Messages dropped, by reason", labels);
}

static void
metrics_packets(struct strata_broker *b)
{
	char labels[64];
	unsigned t;

	/* type 0 is reserved: received (and refused), never sent */
	for (t = 0; t <= STRATA_MQTT_AUTH; t++) {
		snprintf(labels, sizeof(labels), "type=\"%s\"", t == 0 ?
		    "reserved" : strata_mqtt_type_name((uint8_t)t));
		b->m.packets_in[t] = strata_metrics_counter(b->metrics,
		    "strata_broker_packets_received_total",
		    "MQTT packets received, by type", labels);
		if (t != 0)
			b->m.packets_out[t] = strata_metrics_counter(
			    b->metrics, "strata_broker_packets_sent_total",
			    "MQTT packets sent, by type", labels);
	}
}

/* The custom authorizer's counters (authorizer.c). */
static void
broker_metrics_authorizer(struct strata_broker *b)
{
	static const char *const results[3] = {"result=\"allow\"",
	    "result=\"deny\"", "result=\"error\""};
	static const char *const reasons[2] = {
	    "reason=\"max_connect_time\"", "reason=\"refresh_denied\""};
	struct strata_metrics *m = b->metrics;

	for (int i = 0; i < 3; i++)
		b->m.authorizer_calls[i] = strata_metrics_counter(m,
		    "strata_broker_authorizer_calls_total",
		    "Calls of the custom authorizer, by result (error: "
		    "unreachable, late, or an answer that is not one)",
		    results[i]);
	b->m.authorizer_cache_hits = strata_metrics_counter(m,
	    "strata_broker_authorizer_cache_hits_total",
	    "CONNECTs authenticated by a cached authorizer answer", NULL);
	for (int i = 0; i < 2; i++)
		b->m.authorizer_disconnects[i] = strata_metrics_counter(m,
		    "strata_broker_authorizer_disconnects_total",
		    "Connections the authorizer's answer closed: "
		    "disconnectAfterInSeconds reached, or a refresh no longer "
		    "authenticated them", reasons[i]);
}

/* The admin API's and the registry checks' counters. */
static void
broker_metrics_security(struct strata_broker *b)
{
	static const char *const classes[3] = {"class=\"2xx\"",
	    "class=\"4xx\"", "class=\"5xx\""};
	static const char *const reasons[BROKER_AUTH_REFUSALS] = {
	    "reason=\"unknown\"", "reason=\"inactive\"",
	    "reason=\"revoked\"", "reason=\"expired\"", "reason=\"ca\"",
	    "reason=\"no_certificate\"", "reason=\"unavailable\""};
	static const char *const actions[5] = {"action=\"connect\"",
	    "action=\"publish\"", "action=\"subscribe\"",
	    "action=\"receive\"", "action=\"retain_publish\""};
	struct strata_metrics *m = b->metrics;

	for (int i = 0; i < 3; i++)
		b->m.admin_requests[i] = strata_metrics_counter(m,
		    "strata_broker_admin_requests_total",
		    "Admin API requests answered, by status class",
		    classes[i]);
	for (int i = 0; i < 3; i++)
		b->m.console_logins[i] = strata_metrics_counter(m,
		    "strata_broker_console_logins_total",
		    "Web console logins, by result (throttled: refused with "
		    "429 before the credential was checked)",
		    (const char *const[]){"result=\"ok\"",
		    "result=\"refused\"", "result=\"throttled\""}[i]);
	for (int i = 0; i < BROKER_AUTH_REFUSALS; i++)
		b->m.auth_refused[i] = strata_metrics_counter(m,
		    "strata_broker_auth_refused_total",
		    "TLS clients refused by the registry, by reason", reasons[i]);
	for (int i = 0; i < 5; i++)
		b->m.policy_denied[i] = strata_metrics_counter(m,
		    "strata_broker_policy_denied_total",
		    "Actions the clients' policies denied", actions[i]);
	b->m.trace_streams = strata_metrics_gauge(m,
	    "strata_broker_trace_streams",
	    "Client trace streams the admin API serves", NULL);
	b->m.traced_clients = strata_metrics_gauge(m,
	    "strata_broker_traced_clients",
	    "Client ids this broker traces", NULL);
	b->m.trace_events = strata_metrics_counter(m,
	    "strata_broker_trace_events_total",
	    "Client trace lines published", NULL);
	b->m.trace_dropped = strata_metrics_counter(m,
	    "strata_broker_trace_dropped_total",
	    "Client trace events dropped over the rate limit", NULL);
	b->m.auth_disconnects = strata_metrics_counter(m,
	    "strata_broker_auth_disconnects_total",
	    "Connections closed because their certificate was deactivated, "
	    "revoked or deleted, or their policies no longer allow "
	    "iot:Connect", NULL);
	broker_metrics_authorizer(b);
	for (int i = 0; i < STRATA_LIFECYCLE_TYPES; i++) {
		char labels[64];

		snprintf(labels, sizeof(labels), "type=\"%s\"",
		    strata_lifecycle_type_name(i));
		b->m.lifecycle_events[i] = strata_metrics_counter(m,
		    "strata_broker_lifecycle_events_total",
		    "Lifecycle events published ($aws/events/...), by type",
		    labels);
	}
	for (int i = 0; i < 2; i++)
		b->m.fleet_answers[i] = strata_metrics_counter(m,
		    "strata_broker_fleet_answers_total",
		    "Fleet provisioning requests answered, by result",
		    i == 0 ? "result=\"accepted\"" : "result=\"rejected\"");
	b->m.jitr_registered = strata_metrics_counter(m,
	    "strata_broker_jitr_registered_total",
	    "Certificates registered PENDING_ACTIVATION just in time", NULL);
}

void
broker_metrics_init(struct strata_broker *b)
{
	struct strata_metrics *m = b->metrics;
	char labels[64];
	int i;

	for (i = 0; i < BROKER_LISTENERS; i++) {
		snprintf(labels, sizeof(labels), "listener=\"%s\"",
		    listener_names[i]);
		b->m.connections[i] = strata_metrics_gauge(m,
		    "strata_broker_connections", "Open client connections",
		    labels);
		b->m.connections_total[i] = strata_metrics_counter(m,
		    "strata_broker_connections_total",
		    "Client connections accepted", labels);
	}
	for (i = 0; i < 3; i++) {
		snprintf(labels, sizeof(labels), "qos=\"%d\"", i);
		b->m.forwarded[i] = strata_metrics_counter(m,
		    "strata_broker_publishes_forwarded_total",
		    "PUBLISH messages forwarded to routers", labels);
		b->m.delivered[i] = strata_metrics_counter(m,
		    "strata_broker_deliveries_total",
		    "PUBLISH messages delivered to clients", labels);
	}
	b->m.not_served = strata_metrics_counter(m,
	    "strata_broker_publishes_not_served_total",
	    "QoS 1/2 publishes a router refused as not serving their "
	    "partition (its map was newer): sent again to the owner", NULL);
	b->m.proxy_accepted = strata_metrics_counter(m,
	    "strata_broker_proxy_headers_total",
	    "PROXY protocol headers on the PROXY listeners, by result",
	    "result=\"accepted\"");
	b->m.proxy_refused = strata_metrics_counter(m,
	    "strata_broker_proxy_headers_total",
	    "PROXY protocol headers on the PROXY listeners, by result",
	    "result=\"refused\"");
	metrics_packets(b);
	broker_tls_metrics_init(b);
	broker_ws_metrics_init(b);
	for (i = 0; i < (int)(sizeof(drop_reasons) / sizeof(drop_reasons[0]));
	    i++) {
		(void)metrics_drop_cell(b, drop_reasons[i]);
	}
	b->m.bytes_in = strata_metrics_counter(m,
	    "strata_broker_bytes_received_total", "Bytes read from clients",
	    NULL);
	b->m.bytes_out = strata_metrics_counter(m,
	    "strata_broker_bytes_sent_total", "Bytes queued to clients", NULL);
	b->m.sessions = strata_metrics_gauge(m, "strata_broker_sessions",
	    "Sessions held (online and offline)", NULL);
	b->m.subscriptions = strata_metrics_gauge(m,
	    "strata_broker_subscriptions", "Subscriptions of local sessions",
	    NULL);
	b->m.link_errors = strata_metrics_counter(m,
	    "strata_broker_link_protocol_errors_total",
	    "Invalid messages received on router links", NULL);
	b->m.deliver_duplicates = strata_metrics_counter(m,
	    "strata_broker_deliver_duplicates_total",
	    "QoS 2 Delivers received again and not delivered twice", NULL);
	b->m.links_up = strata_metrics_gauge(m,
	    "strata_broker_router_links_up", "Router links up", NULL);
	b->m.takeovers_remote = strata_metrics_counter(m,
	    "strata_broker_takeovers_remote_total",
	    "Sessions taken over by a connection on another broker", NULL);
	b->m.handoffs_in = strata_metrics_counter(m,
	    "strata_broker_session_handoffs_total",
	    "Persistent sessions handed between brokers",
	    "direction=\"in\"");
	b->m.handoffs_out = strata_metrics_counter(m,
	    "strata_broker_session_handoffs_total",
	    "Persistent sessions handed between brokers",
	    "direction=\"out\"");
	b->m.handoff_timeouts = strata_metrics_counter(m,
	    "strata_broker_session_handoff_timeouts_total",
	    "Connections that got a fresh session after waiting 2 s for a "
	    "hand-off", NULL);
	b->m.durable_writes = strata_metrics_counter(m,
	    "strata_broker_session_store_writes_total",
	    "Writes of persistent sessions to Redis", NULL);
	b->m.durable_errors = strata_metrics_counter(m,
	    "strata_broker_session_store_errors_total",
	    "Session writes Redis refused or did not answer (the session is "
	    "written again whole)", NULL);
	b->m.durable_rewrites = strata_metrics_counter(m,
	    "strata_broker_session_store_rewrites_total",
	    "Persistent sessions written again whole after an error", NULL);
	b->m.durable_resumes = strata_metrics_counter(m,
	    "strata_broker_session_store_resumes_total",
	    "Persistent sessions taken over from Redis", NULL);
	b->m.durable_releases = strata_metrics_counter(m,
	    "strata_broker_session_store_releases_total",
	    "Persistent sessions given to another broker through Redis",
	    NULL);
	b->m.deliver_acks_held = strata_metrics_counter(m,
	    "strata_broker_deliver_acks_held_total",
	    "DeliverAcks that waited for session writes to reach Redis",
	    NULL);
	b->m.connacks_held = strata_metrics_counter(m,
	    "strata_broker_connacks_held_total",
	    "CONNACKs that waited for a new persistent session to reach "
	    "Redis", NULL);
	b->m.share_returned = strata_metrics_counter(m,
	    "strata_broker_share_returned_total",
	    "Shared-subscription messages given back to the routers for "
	    "another member (theirs left)", NULL);
	broker_metrics_security(b);
	b->m.registry_unavailable = strata_metrics_counter(m,
	    "strata_broker_registry_unavailable_total",
	    "CONNECTs refused because the session registry (Redis) did not "
	    "answer", NULL);
	for (int i = 0; i < BROKER_DISCONNECT_REASONS; i++) {
		char labels[64];

		snprintf(labels, sizeof(labels), "reason=\"%s\"",
		    metrics_disconnect_reasons[i]);
		b->m.disconnects[i] = strata_metrics_counter(m,
		    "strata_broker_disconnects_total",
		    "Client connections ended after their CONNACK, by AWS IoT's "
		    "disconnectReason", labels);
	}
	b->m.publish_ack = strata_metrics_histogram(m,
	    "strata_broker_publish_ack_seconds",
	    "QoS 1/2 publishes: from the broker taking one to its router's "
	    "acknowledgement (the router handed it on to every broker that "
	    "needs it)", NULL, strata_latency_bounds_us,
	    STRATA_LATENCY_BOUNDS);
	strata_metrics_counter_fn(m, "strata_broker_redis_timeouts_total",
	    "Redis connections dropped (or connects abandoned) for not "
	    "answering within redis-timeout", NULL, metrics_redis_timeouts, b);
	strata_metrics_counter_fn(m, "strata_broker_redis_wait_short_total",
	    "Synced writes that reached fewer than redis-wait-replicas "
	    "replicas within redis-wait-timeout", NULL,
	    metrics_redis_wait_short, b);
	strata_metrics_counter_fn(m, "strata_broker_redis_failovers_total",
	    "Times the sentinels named a new Redis primary", NULL,
	    metrics_redis_failovers, b);
	strata_metrics_counter_fn(m, "strata_broker_redis_reconnects_total",
	    "Successful Redis connects after the first", NULL,
	    metrics_redis_reconnects, b);
	metrics_redis_failures_init(b);
	strata_metrics_gauge_fn(m, "strata_broker_connections_max",
	    "Client connections accepted at most (max-connections)", NULL,
	    metrics_connections_max, b);
	strata_metrics_gauge_fn(m, "strata_broker_link_queue_bytes",
	    "Bytes waiting to go to routers", NULL, metrics_link_queue, b);
}

void
broker_metrics_disconnect(struct strata_broker *b, const char *reason)
{
	for (int i = 0; i < BROKER_DISCONNECT_REASONS; i++)
		if (strcmp(metrics_disconnect_reasons[i], reason) == 0) {
			(*b->m.disconnects[i])++;
			return;
		}
}

/* One log line per reason code per second: a SUBSCRIBE can carry
 * thousands of refused filters, a flood thousands of bad packets. */
void
broker_refuse(struct strata_broker *b, struct broker_conn *c,
    unsigned reason, const char *what)
{
	char labels[64];

	snprintf(labels, sizeof(labels), "reason=\"0x%02x\"", reason);
	(*strata_metrics_counter(b->metrics, "strata_broker_refusals_total",
	    "Requests refused, by MQTT 5 reason code", labels))++;
	strata_log_limited(&b->refuse_log[reason & 0x1FF], STRATA_LOG_WARN,
	    BROKER_COMP, "refused|what=\"%s\" reason=0x%02x peer=%s "
	    "client_id=%s", what, reason, c != NULL ? c->peer : "-",
	    c != NULL && c->session != NULL ? c->session->client_id : "-");
}

void
broker_link_error(struct strata_broker *b, const char *what)
{
	(*b->m.link_errors)++;
	strata_log_limited(&b->link_error_log, STRATA_LOG_WARN, BROKER_COMP,
	    "invalid message from a router|what=\"%s\"", what);
}

void
broker_drop(struct strata_broker *b, const char *reason)
{
	(*metrics_drop_cell(b, reason))++;
}

/* Milliseconds of a monotonic clock, coarse (a few ms): every use is an
 * age or a deadline counted in seconds, and the coarse clock costs a
 * fraction of the precise one on the per-message path. */
uint64_t
broker_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A buffer of at least n bytes, reused across calls (single loop). */
uint8_t *
broker_scratch(struct strata_broker *b, size_t n)
{
	if (n > b->scratch_cap) {
		size_t cap = b->scratch_cap ? b->scratch_cap : 4096;

		while (cap < n)
			cap *= 2;
		free(b->scratch);
		b->scratch = malloc(cap);
		if (b->scratch == NULL)
			abort();
		b->scratch_cap = cap;
	}
	return b->scratch;
}
