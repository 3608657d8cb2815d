/*
 * throttle.c - per-connection rate limits: publishes, inbound bytes and
 * subscriptions per second (throttle-publish-rate,
 * throttle-inbound-bytes, throttle-subscribe-rate).
 *
 * Each limit is a token bucket of `rate` tokens a second holding at most
 * `rate` (a burst of one second), kept as one number per connection: the
 * time at which its debt is paid (the generic cell rate algorithm).  A
 * token costs 1e9 / rate ns; taking one moves that time on by the cost,
 * from now when it was in the past.  The bucket is empty when the time is
 * more than one second ahead of now.  Now is the time of the read that
 * brought the packet (c->last_input_ms, noted by conn.c anyway): a check
 * is one comparison and one addition, no clock call, no timer while the
 * client stays under the limit.
 *
 * Over a limit (see docs/internals/throttle.md):
 *   publish rate, MQTT 5 QoS 1/2 -> PUBACK/PUBREC 0x96 Message rate too
 *     high, not forwarded, no token taken;
 *   publish rate, MQTT 5 QoS 0 and MQTT 3.1.1 -> the publish goes on,
 *     reading (and dispatching what was read) stops until the bucket has
 *     a token again: the client is slowed to the rate by TCP
 *     back-pressure.  One held at the limit for
 *     throttle-disconnect-after seconds is disconnected (MQTT 5
 *     DISCONNECT 0x96);
 *   inbound bytes (any version) -> the same pause, never a disconnect;
 *   subscribe rate -> that filter gets SUBACK 0x97 (3.1.1: 0x80).
 * The pause is the connection's one timer (conn.c), due when the debt is
 * back within the burst: the timer wheel's tick (250 ms) is the
 * resolution of the resume.
 */
#include <stdio.h>

#include "broker.h"

#define THROTTLE_BURST_NS 1000000000ull /* one second of tokens */

static const char *const throttle_reasons[BROKER_THROTTLE_REASONS] = {
	"reason=\"publish_rate\"", "reason=\"inbound_bytes\"",
	"reason=\"subscribe_rate\""};

static uint64_t
throttle_cost(long rate)
{
	return rate > 0 ? 1000000000ull / (uint64_t)rate : 0;
}

void
broker_throttle_metrics_init(struct strata_broker *b)
{
	const struct broker_config *cfg = &b->cfg;

	b->throttle_cost[THROTTLE_PUBLISH_RATE] =
	    throttle_cost(cfg->throttle_publish_rate);
	b->throttle_cost[THROTTLE_INBOUND_BYTES] =
	    throttle_cost(cfg->throttle_inbound_bytes);
	b->throttle_cost[THROTTLE_SUBSCRIBE_RATE] =
	    throttle_cost(cfg->throttle_subscribe_rate);
	for (int i = 0; i < BROKER_THROTTLE_REASONS; i++)
		b->m.throttled[i] = strata_metrics_counter(b->metrics,
		    "strata_broker_throttled_total",
		    "Packets refused or connections slowed for a rate limit, "
		    "by limit", throttle_reasons[i]);
}

static uint64_t
throttle_now_ns(const struct broker_conn *c)
{
	return c->last_input_ms * 1000000ull;
}

/* Take cost from the bucket *tat if it holds it. */
static bool
throttle_take(uint64_t *tat, uint64_t now, uint64_t cost)
{
	uint64_t t = *tat > now ? *tat : now;

	if (t + cost - now > THROTTLE_BURST_NS)
		return false;
	*tat = t + cost;
	return true;
}

/* Take cost whatever the bucket holds; returns the ms at which it is
 * within its burst again, 0 when it is now. */
static uint64_t
throttle_charge(uint64_t *tat, uint64_t now, uint64_t cost)
{
	uint64_t t = (*tat > now ? *tat : now) + cost;

	*tat = t;
	if (t - now <= THROTTLE_BURST_NS)
		return 0;
	/* rounded up: resumed with at least the token it lacks */
	return (t - THROTTLE_BURST_NS + 999999) / 1000000;
}

void
broker_throttle_bytes(struct broker_conn *c, size_t n)
{
	uint64_t cost = c->broker->throttle_cost[THROTTLE_INBOUND_BYTES];
	uint64_t until;

	if (cost == 0 || c->state != CONN_ACTIVE || c->internal)
		return;
	until = throttle_charge(&c->throttle.bytes_tat, throttle_now_ns(c),
	    cost * n);
	if (until == 0)
		return;
	(*c->broker->m.throttled[THROTTLE_INBOUND_BYTES])++;
	broker_conn_throttle(c, until);
}

/* Held at the publish limit too long: disconnected (0x96). */
static bool
throttle_held_too_long(struct broker_conn *c)
{
	struct broker_throttle *t = &c->throttle;
	long after = c->broker->cfg.throttle_disconnect_after;

	if (t->over_since_ms == 0) {
		t->over_since_ms = c->last_input_ms;
		return false;
	}
	return after > 0 &&
	    c->last_input_ms - t->over_since_ms >= (uint64_t)after * 1000;
}

int
broker_throttle_publish(struct broker_conn *c, uint8_t qos)
{
	struct strata_broker *b = c->broker;
	uint64_t cost = b->throttle_cost[THROTTLE_PUBLISH_RATE];
	uint64_t now = throttle_now_ns(c), until;

	if (cost == 0 || c->internal)
		return 0;
	if (c->version == STRATA_MQTT_V5 && qos > 0) {
		if (throttle_take(&c->throttle.publish_tat, now, cost))
			return 0;
		(*b->m.throttled[THROTTLE_PUBLISH_RATE])++;
		broker_why(b, "over throttle-publish-rate (%ld/s)",
		    b->cfg.throttle_publish_rate);
		return 1;
	}
	until = throttle_charge(&c->throttle.publish_tat, now, cost);
	if (until == 0) {
		/* half the burst back: no longer held at the limit */
		if (c->throttle.publish_tat - now <= THROTTLE_BURST_NS / 2)
			c->throttle.over_since_ms = 0;
		return 0;
	}
	(*b->m.throttled[THROTTLE_PUBLISH_RATE])++;
	if (throttle_held_too_long(c)) {
		char why[96];

		snprintf(why, sizeof(why), "over throttle-publish-rate "
		    "(%ld/s) for %ld s", b->cfg.throttle_publish_rate,
		    b->cfg.throttle_disconnect_after);
		broker_refuse(b, c, STRATA_RC_MESSAGE_RATE_TOO_HIGH, why);
		broker_conn_disconnect(c, STRATA_RC_MESSAGE_RATE_TOO_HIGH, why);
		return 2;
	}
	broker_conn_throttle(c, until);
	return 0;
}

bool
broker_throttle_subscribe(struct broker_conn *c)
{
	struct strata_broker *b = c->broker;
	uint64_t cost = b->throttle_cost[THROTTLE_SUBSCRIBE_RATE];

	if (cost == 0 || c->internal ||
	    throttle_take(&c->throttle.subscribe_tat, throttle_now_ns(c),
	    cost))
		return true;
	(*b->m.throttled[THROTTLE_SUBSCRIBE_RATE])++;
	return false;
}
