/*
 * rules.c - strata-bench's rules mode: readings published for a topic
 * rule, and the rule's outputs received back over MQTT.
 *
 * The bench does not talk to the rules engine: the operator creates the
 * rule beforehand (bench/rules.sh does), e.g.
 *   SELECT * FROM 'bench/rules/+/data'
 * with a republish action to bench/rules-out/${topic(3)}.  Publisher i
 * sends JSON readings (rulesmsg.h) on its topic (--topic, default
 * bench/rules/%i/data); the subscribers (--subscribers, default 1; several
 * share $share/sb/<filter>) listen on the rule's output filter (--filter,
 * default bench/rules-out/#).  With --direct they subscribe to the
 * publishers' own topics instead: the same path without the rule, the
 * baseline whose latency a rule's is compared with.
 *
 * An output names its reading (rulesmsg_read): the run's nonce, the
 * publisher and its seq, and the reading's intended send time, which the
 * rule must carry through (SELECT * or SELECT ts).  Each publisher has
 * one tracker; with --expect even (a WHERE that lets only even seq
 * through) reading seq goes to slot seq / 2, so the tracker counts the
 * expected outputs exactly and an odd one is unexpected.
 *
 * At full speed a publisher has at most --inflight readings without a
 * PUBACK and at most --inflight expected outputs not yet received (end
 * to end, as in pubsub): the run measures how fast the rule keeps up,
 * not how deep the queues in front of it are.
 */
#include <string.h>

#include "bench.h"
#include "rulesmsg.h"

bool
bench_rules_window_open(const struct bench_client *c)
{
	const struct bench_opts *o = c->w->o;
	uint64_t passed;

	if (c->state != CS_READY)
		return false;
	if (o->qos > 0 && c->inflight >= c->window)
		return false;
	if (o->rate > 0)
		return true;
	passed = rulesmsg_expected(c->seq, o->expect_even);
	return c->delivered + c->forgiven + c->window > passed;
}

/* One reading stamped with its intended send time `due`. */
void
bench_rules_send(struct bench_client *c, uint64_t due)
{
	struct bench_worker *w = c->w;
	size_t len = rulesmsg_write(w->payload, w->payload_cap, w->o->nonce,
	    c->gidx, c->seq, due, w->o->size);

	if (len == 0)
		bench_fatal(
		    "rules reading does not fit %zu bytes", w->payload_cap);
	bench_client_publish(c, c->topic, w->payload, len);
	c->seq++;
}

/* Writing off (after a second without progress) the expected outputs
 * not received, so the end-to-end window opens again. */
void
bench_rules_forgive(struct bench_client *c)
{
	uint64_t passed = rulesmsg_expected(c->seq, c->w->o->expect_even);

	c->forgiven = passed > c->delivered ? passed - c->delivered : 0;
}

/* The outputs expected of publisher c so far. */
uint64_t
bench_rules_expected(const struct bench_client *c)
{
	return rulesmsg_expected(c->seq, c->w->o->expect_even);
}

/* An output (or, --direct, a reading).  Returns its publisher, whose
 * window may have reopened, or NULL when it was not one of ours
 * (counted unexpected). */
struct bench_client *
bench_rules_on_output(
    struct bench_client *sub, const uint8_t *payload, uint32_t len)
{
	struct bench_worker *w = sub->w;
	struct rulesmsg_id id;
	struct bench_client *p;
	uint64_t now = bench_now();
	uint32_t slot;

	if (rulesmsg_read(payload, len, &id) != 0 || id.nonce != w->o->nonce ||
	    id.pub < w->pub_base || id.pub - w->pub_base >= w->n_pubs ||
	    rulesmsg_slot(id.seq, w->o->expect_even, &slot) != 0) {
		w->res.unexpected++;
		return NULL;
	}
	p = &w->pubs[id.pub - w->pub_base];
	p->delivered++;
	p->last_progress = now;
	hist_record(&w->res.latency, now > id.ts ? now - id.ts : 0);
	tracker_record(&p->trackers[0], slot);
	return p;
}
