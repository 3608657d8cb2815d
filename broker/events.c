/*
 * events.c - AWS IoT Core's lifecycle events: when the broker publishes
 * each one and what it puts in it.  The topics and the JSON are
 * common/lifecycle.c's.
 *
 *   connected     the CONNACK of an accepted CONNECT went out
 *                 (connect.c).  A refused CONNECT has no event.
 *   disconnected  once for each connection that had its connected event:
 *                 at its first close (conn.c: broker_conn_close), or, for
 *                 a take-over, just before its session goes to the newer
 *                 connection (connect.c), so that it precedes the newer
 *                 one's connected event.  How it ended was noted on the
 *                 connection before the close: close_reason, the MQTT 5
 *                 reason code of a server-side close
 *                 (broker_conn_disconnect, the output overflow), and
 *                 client_closed, its own DISCONNECT; neither means the
 *                 connection was lost.
 *   subscribed    the filters a SUBSCRIBE was granted (none: no event),
 *                 when it is applied; its SUBACK may still wait for the
 *                 routers (subscribe.c).
 *   unsubscribed  the filters an UNSUBSCRIBE removed (none: no event).
 *
 * Each goes through the routers at QoS 1, not retained, from no client
 * (like a will: nobody to acknowledge, No Local does not apply), so a
 * subscriber on any broker gets it.  Client ids holding '+' or '#' get no
 * events (AWS sends none either).  Events are dropped and counted while
 * the publishes waiting for routers are over their bound (a router
 * outage during a connection storm must not grow memory without end).
 *
 * sessionIdentifier: this broker process's random boot id and the
 * session's incarnation, 32 hex digits; unique in the cluster, fixed for
 * the session's life on this broker (a session handed to another broker
 * gets a new one there).
 * versionNumber: the wall-clock time of the connection's CONNACK in
 * milliseconds, or one more than the version of the session's previous
 * connection on this broker when the clock has not moved past it (two
 * connections in one millisecond, a clock stepped back).  So it grows
 * with every connection of a client id, across brokers as far as their
 * clocks agree (as Message Expiry already asks of them).  The session
 * registry's epoch would count connections exactly, but its entry is
 * deleted when a session ends, and a CONNECT to a session this broker
 * holds is answered before the registry is.  A disconnected event
 * repeats the number of its connection's connected event.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker.h"

#define EVENTS_STACK 1024 /* typical events are built without malloc */

/* The filters of a SUBSCRIBE or UNSUBSCRIBE to list: of its first n
 * entries, entry i is listed when reasons[i] <= listed_max. */
struct events_topics {
	const struct strata_mqtt_subscribe *sp;
	uint8_t type;          /* STRATA_MQTT_SUBSCRIBE or UNSUBSCRIBE */
	uint8_t version;
	const uint8_t *reasons;
	uint32_t n;
	uint8_t listed_max;
};

/* Wall-clock milliseconds (AWS's timestamp). */
static uint64_t
events_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Does c's client get events?  Its session is still attached. */
static bool
events_wanted(const struct broker_conn *c)
{
	const struct broker_session *s = c->session;

	return c->broker->cfg.lifecycle_events && s != NULL &&
	    strata_lifecycle_client_ok(s->client_id, s->client_id_len);
}

/* The address of "ip:port" or "[ip6]:port", without the port. */
static const char *
events_peer_ip(const char *peer, size_t *len)
{
	const char *end;

	if (peer[0] == '[') {
		end = strchr(peer, ']');
		*len = end != NULL ? (size_t)(end - peer - 1) : 0;
		return peer + 1;
	}
	end = strrchr(peer, ':');
	*len = end != NULL ? (size_t)(end - peer) : strlen(peer);
	return peer;
}

/* The fields every event of c has; sid receives the session id. */
static void
events_fill(struct strata_lifecycle_event *e, enum strata_lifecycle_type t,
    const struct broker_conn *c, char sid[33])
{
	const struct broker_session *s = c->session;
	const char *principal = broker_device_cert_id(c);

	memset(e, 0, sizeof(*e));
	snprintf(sid, 33, "%016llx%016llx",
	    (unsigned long long)c->broker->boot,
	    (unsigned long long)s->incarnation);
	e->type = t;
	e->client_id = s->client_id;
	e->client_id_len = s->client_id_len;
	e->timestamp_ms = events_now_ms();
	e->session_id = sid;
	e->principal = principal != NULL ? principal : "";
	/* the session's latest connection is c until c ends (a take-over
	 * announces c's end before the newer one's start) */
	e->version = s->event_version;
}

static void
events_add_topics(struct strata_lifecycle_out *o,
    const struct events_topics *t)
{
	struct strata_reader it = strata_reader_init(t->sp->entries.p,
	    t->sp->entries.len);
	struct strata_mqtt_sub_entry e;
	uint32_t n = 0;

	while (n < t->n && strata_mqtt_sub_next(&it, t->type,
	    t->version, &e) == 0) {
		if (t->reasons[n++] <= t->listed_max)
			strata_lifecycle_add_topic(o, (const char *)e.filter.p,
			    e.filter.len);
	}
}

/* Topic, then JSON, into o; returns the topic's length. */
static size_t
events_write(struct strata_lifecycle_out *o,
    const struct strata_lifecycle_event *e, const struct events_topics *t)
{
	size_t topic_len;

	strata_lifecycle_topic(o, e->type, e->client_id, e->client_id_len);
	topic_len = o->len;
	strata_lifecycle_begin(o, e);
	if (t != NULL)
		events_add_topics(o, t);
	strata_lifecycle_end(o, e);
	return topic_len;
}

static void
events_publish(struct strata_broker *b, const struct strata_lifecycle_event *e,
    const struct events_topics *t)
{
	char stack[EVENTS_STACK], *heap = NULL;
	struct strata_lifecycle_out o = {stack, sizeof(stack), 0, 0};
	struct strata_message m;
	size_t topic_len = events_write(&o, e, t);

	if (o.len > o.cap) {
		heap = malloc(o.len);
		if (heap == NULL)
			abort();
		o = (struct strata_lifecycle_out){heap, o.len, 0, 0};
		topic_len = events_write(&o, e, t);
	}
	memset(&m, 0, sizeof(m));
	m.topic = o.buf;
	m.topic_len = topic_len;
	m.payload = (const uint8_t *)o.buf + topic_len;
	m.payload_len = o.len - topic_len;
	m.qos = 1;
	if (topic_len > UINT16_MAX || broker_routers_backlogged(b)) {
		/* (a topic that long: only with max-client-id near 65535) */
		broker_drop(b, "lifecycle_event");
	} else {
		broker_routers_publish(b, NULL, &m);
		(*b->m.lifecycle_events[e->type])++;
	}
	free(heap);
}

void
broker_events_connected(struct broker_conn *c)
{
	struct broker_session *s = c->session;
	struct strata_lifecycle_event e;
	char sid[33];

	if (!events_wanted(c))
		return;
	events_fill(&e, STRATA_LIFECYCLE_CONNECTED, c, sid);
	s->event_version = e.timestamp_ms > s->event_version ?
	    e.timestamp_ms : s->event_version + 1;
	e.version = s->event_version;
	c->announced = true;
	e.ip = events_peer_ip(c->peer, &e.ip_len);
	events_publish(c->broker, &e, NULL);
}

void
broker_events_conn_end(struct broker_conn *c)
{
	struct strata_lifecycle_event e;
	char sid[33];

	if (!c->announced || c->session == NULL)
		return;
	c->announced = false;
	events_fill(&e, STRATA_LIFECYCLE_DISCONNECTED, c, sid);
	e.client_initiated = c->client_closed;
	e.reason = strata_lifecycle_reason(c->close_reason, c->client_closed);
	events_publish(c->broker, &e, NULL);
}

void
broker_events_subscriptions(struct broker_conn *c,
    const struct strata_mqtt_packet *p, const uint8_t *reasons, uint32_t n)
{
	bool sub = p->type == STRATA_MQTT_SUBSCRIBE;
	struct events_topics t = {&p->u.subscribe, p->type, c->version,
	    reasons, n, sub ? STRATA_RC_GRANTED_QOS2 : STRATA_RC_SUCCESS};
	struct strata_lifecycle_event e;
	uint32_t i;
	char sid[33];

	if (!events_wanted(c))
		return;
	for (i = 0; i < n && reasons[i] > t.listed_max; i++)
		;
	if (i == n)
		return; /* nothing granted or removed */
	events_fill(&e, sub ? STRATA_LIFECYCLE_SUBSCRIBED :
	    STRATA_LIFECYCLE_UNSUBSCRIBED, c, sid);
	events_publish(c->broker, &e, &t);
}
