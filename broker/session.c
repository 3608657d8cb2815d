/*
 * session.c - sessions keyed by client id.
 *
 * States:
 *   ONLINE  - s->conn set.  Outbound QoS 1/2 messages fly within the
 *             client's Receive Maximum, the rest wait in s->queue.
 *   OFFLINE - persistent session whose connection ended.  QoS 1/2
 *             deliveries are queued (max-queued, drops counted); the
 *             expiry timer runs unless the expiry is "never" (3.1.1
 *             persistent sessions, MQTT 5 0xFFFFFFFF); a delayed will
 *             waits on the will timer.
 *   ended   - destroy(): its will (if still pending) is published, its
 *             subscriptions leave the local table, it is freed.
 * ONLINE -> OFFLINE on close (persistent), ONLINE -> ended on close
 * (clean), OFFLINE -> ONLINE on reconnect (timers cancelled, in-flight
 * re-sent with DUP), OFFLINE -> ended on expiry or a Clean Start.
 *
 * Sessions live in the memory of the broker their client is connected to;
 * cluster.c moves them to another broker through Redis (handed off: the
 * session leaves this broker without its will).  Persistent ones are also
 * written through to Redis (durable.c), where another broker finds them
 * when this one dies.  The end of a session drops its registry entry and
 * its stored keys.
 */
#include <stdlib.h>
#include <string.h>

#include "broker.h"

struct broker_session *
broker_session_find(struct strata_broker *b, const char *client_id,
    size_t len)
{
	return strata_hashmap_get(b->sessions, client_id, len);
}

struct broker_session *
broker_session_of(struct strata_broker *b, uint64_t incarnation)
{
	return strata_u64map_get(&b->by_incarnation, incarnation);
}

struct broker_session *
broker_session_new(struct strata_broker *b, const char *client_id,
    size_t len)
{
	struct broker_session *s = calloc(1, sizeof(*s));

	if (s == NULL)
		abort();
	s->client_id = malloc(len + 1);
	if (s->client_id == NULL)
		abort();
	memcpy(s->client_id, client_id, len);
	s->client_id[len] = '\0';
	s->client_id_len = len;
	s->broker = b;
	s->incarnation = ++b->next_incarnation; /* 64 bits: never reused */
	strata_u64map_put(&b->by_incarnation, s->incarnation, s);
	strata_list_init(&s->subs);
	strata_list_init(&s->inflight);
	strata_list_init(&s->queue);
	strata_hashmap_put(b->sessions, client_id, len, s);
	(*b->m.sessions)++;
	return s;
}

void
broker_session_cancel_timers(struct broker_session *s)
{
	if (s->timer != NULL)
		evtimer_del(s->timer);
	if (s->will_timer != NULL)
		evtimer_del(s->will_timer);
	broker_will_free(s->will);
	s->will = NULL;
}

static void
session_expired(evutil_socket_t fd, short what, void *arg)
{
	struct broker_session *s = arg;

	STRATA_INFO(BROKER_COMP, "session expired|client_id=%s", s->client_id);
	broker_session_destroy(s);
}

static void
session_will_due(evutil_socket_t fd, short what, void *arg)
{
	struct broker_session *s = arg;
	struct broker_will *w = s->will;

	s->will = NULL;
	if (w != NULL)
		broker_will_publish(s->broker, w, s->client_id);
}

static void
session_arm(struct strata_broker *b, struct event **ev, uint32_t seconds,
    event_callback_fn fn, struct broker_session *s)
{
	struct timeval tv = {(time_t)seconds, 0};

	if (*ev == NULL)
		*ev = evtimer_new(b->base, fn, s);
	evtimer_add(*ev, &tv);
}

void
broker_session_detach(struct broker_session *s)
{
	struct strata_broker *b = s->broker;

	s->conn = NULL;
	broker_shares_leave(s);
	if (!s->persistent) {
		broker_session_destroy(s);
		return;
	}
	if (b->stopping) {
		/* a graceful stop: the session stays in Redis, and in the
		 * registry under this node, for the broker its client comes
		 * back to (which finds this one gone and takes the stored
		 * session); in memory until the exit frees it, no will */
		broker_durable_left(s);
		return;
	}
	broker_durable_offline(s);
	if (s->expiry != UINT32_MAX)
		session_arm(b, &s->timer, s->expiry, session_expired, s);
	if (s->will != NULL && s->will->delay < s->expiry)
		session_arm(b, &s->will_timer, s->will->delay,
		    session_will_due, s);
}

/* Free everything the session owns; it is already out of the map. */
static void
session_free(struct broker_session *s)
{
	struct strata_broker *b = s->broker;

	if (s->timer != NULL)
		event_free(s->timer);
	if (s->will_timer != NULL)
		event_free(s->will_timer);
	broker_will_free(s->will);
	broker_subs_remove_all(s);
	broker_qos_free_session(s);
	(*b->m.sessions)--;
	strata_u64map_take(&b->by_incarnation, s->incarnation);
	free(s->client_id);
	free(s);
}

void
broker_session_destroy(struct broker_session *s)
{
	struct strata_broker *b = s->broker;
	struct broker_will *w = s->will;

	s->will = NULL;
	if (w != NULL)
		broker_will_publish(b, w, s->client_id);
	broker_cluster_session_ended(s);
	broker_shares_leave(s);
	broker_durable_end(s);
	if (s->conn != NULL) {
		s->conn->session = NULL;
		s->conn = NULL;
	}
	strata_hashmap_take(b->sessions, s->client_id, s->client_id_len);
	session_free(s);
}

/* Value destructor of the session map (shutdown): no will is published. */
void
broker_session_free_value(void *v)
{
	session_free(v);
}

void
broker_session_handed_off(struct broker_session *s)
{
	struct strata_broker *b = s->broker;

	broker_session_cancel_timers(s);
	broker_shares_leave(s);
	if (s->conn != NULL) {
		s->conn->session = NULL;
		s->conn = NULL;
	}
	strata_hashmap_take(b->sessions, s->client_id, s->client_id_len);
	session_free(s);
}
