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
 *
 * Each connection holds its own limits and costs (struct
 * broker_throttle): the options at accept, its thing's groups' or
 * type's once device.c knows them (broker_throttle_set_limits, at
 * CONNECT and on every change); the checks read only the connection.
 *
 * Connects, per broker: one bucket per client id (checked once the
 * CONNECT is authenticated, throttle-connect-client-rate; with
 * throttle-connect-scope cluster also one in Redis, checked by
 * cluster.c's register script, broker_throttle_cluster_arg) and one per
 * source address (the PROXY header's behind a load balancer, charged at
 * accept or when the header is read, throttle-connect-address-rate), in
 * hash maps.  Over either, CONNACK 0x9F Connection rate exceeded (3.1.1:
 * 0x03 Server unavailable).  An entry whose debt is paid is a full
 * bucket, the same as none: the maps are swept of them whenever they
 * have doubled since the last sweep, so they hold about the ids and
 * addresses seen within the last second or two.
 * The pause is the connection's one timer (conn.c), due when the debt is
 * back within the burst: the timer wheel's tick (250 ms) is the
 * resolution of the resume.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"

#define THROTTLE_BURST_NS 1000000000ull /* one second of tokens */

static const char *const throttle_reasons[BROKER_THROTTLE_REASONS] = {
	"reason=\"publish_rate\"", "reason=\"inbound_bytes\"",
	"reason=\"subscribe_rate\"", "reason=\"connect_rate_client\"",
	"reason=\"connect_rate_address\""};

#define THROTTLE_SWEEP_MIN 1024

/* A connect bucket of a client id or address, the key kept for the
 * sweep. */
struct throttle_entry {
	uint64_t tat;
	size_t len;
	char key[];
};

static uint64_t
throttle_cost(long rate)
{
	return rate > 0 ? 1000000000ull / (uint64_t)rate : 0;
}

void
broker_throttle_metrics_init(struct strata_broker *b)
{
	const struct broker_config *cfg = &b->cfg;

	b->throttle_cost[THROTTLE_CONNECT_CLIENT] =
	    throttle_cost(cfg->throttle_connect_client_rate);
	b->throttle_cost[THROTTLE_CONNECT_ADDRESS] =
	    throttle_cost(cfg->throttle_connect_address_rate);
	b->throttle_ids = strata_hashmap_new(free);
	b->throttle_addrs = strata_hashmap_new(free);
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

/* The configured value of each limit (broker options). */
static long
throttle_option(const struct broker_config *cfg, int i)
{
	switch (i) {
	case LIMIT_PUBLISH_RATE: return cfg->throttle_publish_rate;
	case LIMIT_INBOUND_BYTES: return cfg->throttle_inbound_bytes;
	case LIMIT_SUBSCRIBE_RATE: return cfg->throttle_subscribe_rate;
	default: return cfg->throttle_disconnect_after;
	}
}

void
broker_throttle_conn_init(struct broker_conn *c)
{
	broker_throttle_set_limits(c, NULL);
}

/* A bucket moved from cost old to cost new keeps the share of its burst
 * it held (a rate raised does not leave it empty for a second). */
static void
throttle_rescale(uint64_t *tat, uint64_t now, uint64_t old, uint64_t new)
{
	if (*tat <= now || old == 0 || new == old)
		return;
	if (new == 0) {
		*tat = now;
		return;
	}
	*tat = now + (uint64_t)((double)(*tat - now) * (double)new /
	    (double)old);
}

void
broker_throttle_set_limits(struct broker_conn *c,
    const long limits[BROKER_THROTTLE_LIMITS])
{
	struct broker_throttle *t = &c->throttle;
	uint64_t *tats[BROKER_THROTTLE_RATES] = {&t->publish_tat,
	    &t->bytes_tat, &t->subscribe_tat};
	uint64_t now = throttle_now_ns(c), cost;
	long v;

	for (int i = 0; i < BROKER_THROTTLE_LIMITS; i++) {
		v = limits != NULL && limits[i] >= 0 ? limits[i] :
		    throttle_option(&c->broker->cfg, i);
		t->limit[i] = (uint32_t)v;
		if (i >= BROKER_THROTTLE_RATES)
			continue;
		cost = throttle_cost(v);
		throttle_rescale(tats[i], now, t->cost[i], cost);
		/* held at the limit counts anew under a new publish rate */
		if (i == LIMIT_PUBLISH_RATE && cost != t->cost[i])
			t->over_since_ms = 0;
		t->cost[i] = cost;
	}
}

void
broker_throttle_bytes(struct broker_conn *c, size_t n)
{
	uint64_t cost = c->throttle.cost[LIMIT_INBOUND_BYTES];
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
	long after = t->limit[LIMIT_DISCONNECT_AFTER];

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
	uint64_t cost = c->throttle.cost[LIMIT_PUBLISH_RATE];
	uint64_t now = throttle_now_ns(c), until;

	if (cost == 0 || c->internal)
		return 0;
	if (c->version == STRATA_MQTT_V5 && qos > 0) {
		if (throttle_take(&c->throttle.publish_tat, now, cost))
			return 0;
		(*b->m.throttled[THROTTLE_PUBLISH_RATE])++;
		broker_why(b, "over throttle-publish-rate (%lu/s)",
		    (unsigned long)c->throttle.limit[LIMIT_PUBLISH_RATE]);
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
		    "(%lu/s) for %lu s",
		    (unsigned long)c->throttle.limit[LIMIT_PUBLISH_RATE],
		    (unsigned long)c->throttle.limit[LIMIT_DISCONNECT_AFTER]);
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
	uint64_t cost = c->throttle.cost[LIMIT_SUBSCRIBE_RATE];

	if (cost == 0 || c->internal ||
	    throttle_take(&c->throttle.subscribe_tat, throttle_now_ns(c),
	    cost))
		return true;
	(*b->m.throttled[THROTTLE_SUBSCRIBE_RATE])++;
	return false;
}

/* ---- connects ---- */

struct throttle_sweep {
	uint64_t now;
	struct throttle_entry **paid;
	size_t n;
};

static int
throttle_sweep_one(const void *key, size_t len, void *value, void *arg)
{
	struct throttle_sweep *s = arg;
	struct throttle_entry *e = value;

	if (e->tat <= s->now)
		s->paid[s->n++] = e;
	return 0;
}

/* Drop the entries whose debt is paid (full buckets). */
static void
throttle_sweep(struct strata_hashmap *m, uint64_t now)
{
	struct throttle_sweep s = {now, NULL, 0};
	char *key;

	s.paid = malloc(strata_hashmap_count(m) * sizeof(*s.paid));
	if (s.paid == NULL)
		abort();
	strata_hashmap_foreach(m, throttle_sweep_one, &s);
	for (size_t i = 0; i < s.n; i++) {
		/* the key lives in the entry the delete frees */
		key = malloc(s.paid[i]->len + 1);
		if (key == NULL)
			abort();
		memcpy(key, s.paid[i]->key, s.paid[i]->len);
		strata_hashmap_delete(m, key, s.paid[i]->len);
		free(key);
	}
	free(s.paid);
}

/* Take a token from key's connect bucket in m (made full when absent). */
static bool
throttle_connect_take(struct strata_hashmap *m, const char *key, size_t len,
    uint64_t cost)
{
	uint64_t now = broker_now_ms() * 1000000ull;
	size_t count = strata_hashmap_count(m);
	struct throttle_entry *e = strata_hashmap_get(m, key, len);

	if (e != NULL)
		return throttle_take(&e->tat, now, cost);
	if (count >= THROTTLE_SWEEP_MIN && (count & (count - 1)) == 0)
		throttle_sweep(m, now); /* at each power of two */
	e = malloc(sizeof(*e) + len);
	if (e == NULL)
		abort();
	e->tat = now;
	e->len = len;
	memcpy(e->key, key, len);
	strata_hashmap_put(m, e->key, len, e);
	return throttle_take(&e->tat, now, cost);
}

/* The address of a peer name: "1.2.3.4:5" -> "1.2.3.4", "[::1]:5" ->
 * "[::1]". */
static size_t
throttle_address_len(const char *peer)
{
	const char *colon = strrchr(peer, ':');

	return colon != NULL ? (size_t)(colon - peer) : strlen(peer);
}

void
broker_throttle_accept(struct broker_conn *c)
{
	struct strata_broker *b = c->broker;
	uint64_t cost = b->throttle_cost[THROTTLE_CONNECT_ADDRESS];

	if (cost == 0 || throttle_connect_take(b->throttle_addrs, c->peer,
	    throttle_address_len(c->peer), cost))
		return;
	c->connect_throttled = true;
}

int
broker_throttle_connect(struct broker_conn *c, const char *id, size_t len)
{
	struct strata_broker *b = c->broker;
	uint64_t cost = b->throttle_cost[THROTTLE_CONNECT_CLIENT];

	if (c->internal)
		return 0;
	if (c->connect_throttled) {
		(*b->m.throttled[THROTTLE_CONNECT_ADDRESS])++;
		broker_why(b, "over throttle-connect-address-rate (%ld/s) "
		    "from this address", b->cfg.throttle_connect_address_rate);
		return STRATA_ERR(STRATA_RC_CONNECTION_RATE_EXCEEDED);
	}
	/* an id the broker assigns is new: nothing to limit */
	if (cost == 0 || len == 0 ||
	    throttle_connect_take(b->throttle_ids, id, len, cost))
		return 0;
	(*b->m.throttled[THROTTLE_CONNECT_CLIENT])++;
	broker_why(b, "over throttle-connect-client-rate (%ld/s) for this "
	    "client id", b->cfg.throttle_connect_client_rate);
	return STRATA_ERR(STRATA_RC_CONNECTION_RATE_EXCEEDED);
}

void
broker_throttle_connect_refused(struct broker_conn *c, const char *id,
    size_t len)
{
	struct strata_broker *b = c->broker;
	uint64_t cost = b->throttle_cost[THROTTLE_CONNECT_CLIENT];
	struct throttle_entry *e = cost != 0 ?
	    strata_hashmap_get(b->throttle_ids, id, len) : NULL;

	if (e != NULL && e->tat >= cost)
		e->tat -= cost; /* a refused CONNECT takes no token */
	(*b->m.throttled[THROTTLE_CONNECT_CLIENT])++;
	broker_why(b, "over throttle-connect-client-rate (%ld/s) for this "
	    "client id across the cluster",
	    b->cfg.throttle_connect_client_rate);
}

void
broker_throttle_cluster_arg(const struct broker_conn *c, size_t id_len,
    bool decides, char out[32])
{
	const struct strata_broker *b = c->broker;
	uint64_t cost = b->throttle_cost[THROTTLE_CONNECT_CLIENT];

	out[0] = '\0';
	if (cost == 0 || id_len == 0 || c->internal ||
	    !b->cfg.throttle_connect_cluster)
		return;
	/* Redis counts in microseconds (its TIME) */
	snprintf(out, 32, "%llu:%s", (unsigned long long)(cost / 1000),
	    decides ? "check" : "take");
}

void
broker_throttle_free(struct strata_broker *b)
{
	strata_hashmap_free(b->throttle_ids);
	strata_hashmap_free(b->throttle_addrs);
	b->throttle_ids = b->throttle_addrs = NULL;
}
