/*
 * devstats.c - what each device did, counted per connection and handed
 * on once a second to the consumers that keep it: message metering
 * (meter.c) and Device Defender Detect.
 *
 * A connection's counts (struct broker_devstats, in broker_conn) grow on
 * the paths that already touch the packet: an inbound PUBLISH the broker
 * accepts (publish.c), an outbound one written to the client, a policy
 * denial (device.c).  Counting is a few additions; the first count of a
 * tick puts the connection on b->devstats_dirty.
 *
 *   clean --count--> dirty (on the list) --tick or close--> each
 *   consumer's row() gets the counts -> zeroed, clean.
 *
 * The tick (devstats-interval-ms, default 1000) walks the dirty list
 * only: an idle connection costs nothing.  After the last row of a tick
 * each consumer's done() runs, where it sends what it gathered (one
 * Redis call per tick, not one per connection).  A closing connection
 * hands its counts on at once, while its client id and thing are still
 * known, and done() follows it.
 *
 * In-process sessions (strata-shadowd's, strata-rulesd's) are not
 * counted: they are the cluster's own traffic.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "broker.h"

#define DEVSTATS_UNIT 5120u /* AWS IoT meters messages in 5 KB units */

uint32_t
broker_devstats_units(size_t bytes)
{
	return bytes <= DEVSTATS_UNIT ? 1u :
	    (uint32_t)((bytes + DEVSTATS_UNIT - 1) / DEVSTATS_UNIT);
}

static void
devstats_mark(struct broker_conn *c)
{
	if (!c->stats.dirty) {
		c->stats.dirty = true;
		strata_list_push_back(&c->broker->devstats_dirty,
		    &c->stats.node);
	}
}

void
broker_devstats_in(struct broker_conn *c, size_t bytes)
{
	struct broker_devstats *s = &c->stats;

	if (c->internal)
		return;
	s->msgs_in++;
	s->bytes_in += bytes;
	s->units_in += broker_devstats_units(bytes);
	if (bytes > s->max_msg_in)
		s->max_msg_in = bytes;
	devstats_mark(c);
}

void
broker_devstats_out(struct broker_conn *c, size_t bytes)
{
	struct broker_devstats *s = &c->stats;

	if (c->internal)
		return;
	s->msgs_out++;
	s->bytes_out += bytes;
	s->units_out += broker_devstats_units(bytes);
	devstats_mark(c);
}

void
broker_devstats_denied(struct broker_conn *c)
{
	if (c->internal)
		return;
	c->stats.authz_failures++;
	devstats_mark(c);
}

void
broker_devstats_consumer(struct strata_broker *b,
    const struct broker_devstats_consumer *cons)
{
	if (b->n_devstats_cons >= BROKER_DEVSTATS_CONSUMERS)
		abort(); /* a fixed set, known at build time */
	b->devstats_cons[b->n_devstats_cons++] = *cons;
}

/* Hand c's counts to every consumer and make it clean. */
static void
devstats_hand_on(struct broker_conn *c, bool closing)
{
	struct strata_broker *b = c->broker;
	struct broker_devstats_row row = {
		.conn = c,
		.client_id = c->session != NULL ? c->session->client_id : NULL,
		.thing = broker_device_thing(c),
		.stats = &c->stats,
		.closing = closing,
	};

	for (unsigned i = 0; i < b->n_devstats_cons; i++)
		b->devstats_cons[i].row(b, &row, b->devstats_cons[i].arg);
	strata_list_remove(&c->stats.node);
	memset(&c->stats, 0, sizeof(c->stats));
}

static void
devstats_done(struct strata_broker *b)
{
	for (unsigned i = 0; i < b->n_devstats_cons; i++)
		if (b->devstats_cons[i].done != NULL)
			b->devstats_cons[i].done(b, b->devstats_cons[i].arg);
}

void
broker_devstats_flush(struct strata_broker *b)
{
	struct strata_list *pos, *tmp;

	if (strata_list_empty(&b->devstats_dirty))
		return;
	STRATA_LIST_FOREACH_SAFE(pos, tmp, &b->devstats_dirty)
		devstats_hand_on(STRATA_CONTAINER_OF(pos, struct broker_conn,
		    stats.node), false);
	devstats_done(b);
}

void
broker_devstats_conn_closed(struct broker_conn *c)
{
	if (!c->stats.dirty)
		return;
	devstats_hand_on(c, true);
	devstats_done(c->broker);
}

static void
devstats_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	broker_devstats_flush(arg);
}

int
broker_devstats_start(struct strata_broker *b)
{
	long ms = b->cfg.devstats_interval_ms;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	b->devstats_ev = event_new(b->base, -1, EV_PERSIST, devstats_tick_cb,
	    b);
	if (b->devstats_ev == NULL)
		abort();
	return event_add(b->devstats_ev, &tv) == 0 ? 0 : STRATA_EIO;
}

void
broker_devstats_conn_free(struct broker_conn *c)
{
	/* freed without a close (shutdown): its counts are dropped */
	if (c->stats.dirty)
		strata_list_remove(&c->stats.node);
}

void
broker_devstats_stop(struct strata_broker *b)
{
	if (b->devstats_ev != NULL)
		event_free(b->devstats_ev);
	b->devstats_ev = NULL;
}
