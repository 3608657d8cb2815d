/*
 * shadow.c - strata-bench's shadow mode: updates to device shadows over
 * the AWS IoT Device Shadow MQTT topics, and their answers.
 *
 * Things are named <thing prefix><k>, k in 0..--things-1, and split
 * between the connections in order: connection i owns a contiguous
 * slice.  A connection subscribes, in SUBSCRIBEs of at most
 * SHADOW_SUBSCRIBE_BATCH filters, to
 *   $aws/things/<thing>/shadow/update/accepted
 *   $aws/things/<thing>/shadow/update/rejected
 * for each of its things: two filters per thing, because a wildcard
 * matches whole topic levels only (no filter matches "the things whose
 * name starts with P"), and $aws/things/+/... would bring every answer
 * to every connection.  Then it publishes to its things'
 * $aws/things/<thing>/shadow/update, round robin, one update without an
 * answer per thing and at most --inflight per connection.
 *
 * A thing's update (struct shadow_thing):
 *   FREE       nothing in flight: the thing may take the next update
 *   AWAITING   sent with the clientToken <nonce>-<thing>-<seq>; leaves on
 *              - update/accepted carrying that token: the round trip,
 *                from the update's intended send time, goes into the
 *                latency histogram -> FREE
 *              - update/rejected carrying that token: counted by its
 *                code -> FREE
 *              - no answer --drain seconds after it was written (checked
 *                each second): counted lost -> FREE; its answer, should
 *                it come, is counted late
 *              - the end of the run: counted lost
 * An answer on another topic, or whose clientToken is not this run's for
 * one of this connection's things, is counted unexpected.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "shadowmsg.h"

/* AWS IoT's quota of filters per SUBSCRIBE: fits every broker */
#define SHADOW_SUBSCRIBE_BATCH 8
/* "$aws/things/" + a thing name of at most 128 bytes + the longest
 * suffix "/shadow/update/accepted" */
#define SHADOW_TOPIC_MAX 192
#define NS 1000000000ull

const int bench_shadow_codes[BENCH_SHADOW_CODES] = {
    400, 404, 409, 413, 429, 500, 0};

void
bench_shadow_thing_topic(char *out, size_t cap, const struct bench_worker *w,
    const char *mode, uint32_t thing, const char *suffix)
{
	const struct bench_opts *o = w->o;

	if (o->thing_prefix)
		snprintf(out, cap, "$aws/things/%s%u/shadow/%s",
		    o->thing_prefix, thing, suffix);
	else
		snprintf(out, cap, "$aws/things/%s%08x-t%u/shadow/%s", mode,
		    o->nonce, thing, suffix);
}

static void
shadow_thing_topic(char *out, const struct bench_worker *w, uint32_t thing,
    const char *suffix)
{
	bench_shadow_thing_topic(out, SHADOW_TOPIC_MAX, w, "sb", thing,
	    suffix);
}

/* Give every connection of the worker its slice of the things. */
void
bench_shadow_setup(struct bench_worker *w)
{
	const struct bench_opts *o = w->o;
	uint64_t clients = (uint64_t)o->clients, first, last;
	struct bench_client *c;
	uint32_t i;

	for (i = 0; i < w->n_pubs; i++) {
		c = &w->pubs[i];
		first = (uint64_t)o->things * c->gidx / clients;
		last = (uint64_t)o->things * (c->gidx + 1) / clients;
		c->thing_base = (uint32_t)first;
		c->n_things = (uint32_t)(last - first);
		c->things =
		    calloc(c->n_things ? c->n_things : 1, sizeof(*c->things));
		if (!c->things)
			bench_fatal("out of memory");
	}
}

/* After CONNACK: the accepted and rejected topics of every thing. */
void
bench_shadow_subscribe(struct bench_client *c)
{
	char topics[SHADOW_SUBSCRIBE_BATCH][SHADOW_TOPIC_MAX];
	const char *filters[SHADOW_SUBSCRIBE_BATCH];
	uint32_t k, n = 0;
	uint16_t packet_id = 0;

	for (k = 0; k < 2 * c->n_things; k++) {
		shadow_thing_topic(topics[n], c->w, c->thing_base + k / 2,
		    k % 2 ? "update/rejected" : "update/accepted");
		filters[n] = topics[n];
		if (++n == SHADOW_SUBSCRIBE_BATCH ||
		    k + 1 == 2 * c->n_things) {
			bench_client_subscribe(c, ++packet_id, filters, n);
			n = 0;
		}
	}
}

bool
bench_shadow_window_open(const struct bench_client *c)
{
	const struct bench_opts *o = c->w->o;

	if (c->state != CS_READY || c->awaiting >= c->n_things ||
	    c->awaiting >= (uint32_t)o->inflight)
		return false;
	return o->qos == 0 || c->inflight < c->window;
}

static uint32_t
shadow_after(const struct bench_client *c, uint32_t k)
{
	return k + 1 < c->n_things ? k + 1 : 0;
}

/* The next FREE thing from the round-robin cursor on; the caller knows
 * one exists (awaiting < n_things). */
static uint32_t
shadow_pick(struct bench_client *c)
{
	uint32_t i, k = c->thing_next;

	for (i = 0; i < c->n_things && c->things[k].awaiting; i++)
		k = shadow_after(c, k);
	c->thing_next = shadow_after(c, k);
	return k;
}

static uint64_t
shadow_epoch_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* One update, stamped with its intended send time `due`; the window must
 * be open (bench_shadow_window_open). */
void
bench_shadow_send(struct bench_client *c, uint64_t due)
{
	struct bench_worker *w = c->w;
	uint32_t k = shadow_pick(c);
	struct shadow_thing *t = &c->things[k];
	char topic[SHADOW_TOPIC_MAX], token[SHADOWMSG_TOKEN_BUF];
	size_t len;

	shadow_thing_topic(topic, w, c->thing_base + k, "update");
	shadowmsg_token(token, w->o->nonce, c->thing_base + k, c->seq);
	len = shadowmsg_update(w->payload, w->payload_cap, c->seq,
	    shadow_epoch_ms(), token, w->o->size);
	if (len == 0)
		bench_fatal(
		    "shadow update does not fit %zu bytes", w->payload_cap);
	bench_client_publish(c, topic, w->payload, len);
	t->due = due;
	t->sent = bench_now();
	t->seq = c->seq++;
	t->awaiting = true;
	c->awaiting++;
}

int
bench_shadow_code_index(long code)
{
	int i;

	for (i = 0; i < BENCH_SHADOW_CODES - 1; i++)
		if (bench_shadow_codes[i] == code)
			return i;
	return BENCH_SHADOW_CODES - 1;
}

bool
bench_shadow_topic_ends(const uint8_t *s, uint32_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

/* The thing of this connection whose update in flight the answer's token
 * names; NULL (and counted) when there is none. */
static struct shadow_thing *
shadow_match(struct bench_client *c, const uint8_t *payload, uint32_t len)
{
	struct bench_result *r = &c->w->res;
	const uint8_t *tok;
	uint32_t nonce, thing, seq;
	struct shadow_thing *t;
	int n = shadowmsg_string(payload, len, "clientToken", &tok);

	if (n < 0 ||
	    shadowmsg_token_parse(
	        (const char *)tok, (size_t)n, &nonce, &thing, &seq) != 0 ||
	    nonce != c->w->o->nonce || thing < c->thing_base ||
	    thing - c->thing_base >= c->n_things) {
		r->unexpected++;
		return NULL;
	}
	t = &c->things[thing - c->thing_base];
	if (!t->awaiting || t->seq != seq) {
		r->late++;
		return NULL;
	}
	t->awaiting = false;
	c->awaiting--;
	return t;
}

/* An answer on one of the connection's filters.  Returns true when it
 * answered an update in flight (the window may have reopened). */
bool
bench_shadow_on_answer(struct bench_client *c, const uint8_t *topic,
    uint32_t topic_len, const uint8_t *payload, uint32_t len)
{
	struct bench_worker *w = c->w;
	bool accepted = bench_shadow_topic_ends(topic, topic_len, "/accepted");
	struct shadow_thing *t;
	uint64_t now;
	long code = 0;

	if (!accepted &&
	    !bench_shadow_topic_ends(topic, topic_len, "/rejected")) {
		w->res.unexpected++;
		return false;
	}
	t = shadow_match(c, payload, len);
	if (!t)
		return false;
	if (!accepted) {
		shadowmsg_int(payload, len, "code", &code);
		w->res.rejected++;
		w->res.rejected_by_code[bench_shadow_code_index(code)]++;
		return true;
	}
	now = bench_now();
	w->res.accepted++;
	w->t_last_accept = now;
	hist_record(&w->res.latency, now > t->due ? now - t->due : 0);
	return true;
}

/* Each second: write off the updates without an answer for --drain
 * seconds, so a lost answer does not hold its thing for the whole run.
 * Returns true when one was (the window may have reopened). */
bool
bench_shadow_expire(struct bench_client *c, uint64_t now)
{
	uint64_t limit = (uint64_t)(c->w->o->drain * NS);
	uint32_t k, before = c->awaiting;

	for (k = 0; k < c->n_things && c->awaiting > 0; k++) {
		if (c->things[k].awaiting && now - c->things[k].sent > limit) {
			c->things[k].awaiting = false;
			c->awaiting--;
			c->w->res.lost++;
		}
	}
	return c->awaiting < before;
}

/* At the end of the run: what is still without an answer is lost. */
void
bench_shadow_tally(struct bench_worker *w)
{
	uint32_t i;

	for (i = 0; i < w->n_pubs; i++)
		w->res.lost += w->pubs[i].awaiting;
	if (w->t_send0 && w->t_last_accept > w->t_send0)
		w->res.recv_secs =
		    (double)(w->t_last_accept - w->t_send0) / NS;
}

void
bench_shadow_free(struct bench_client *c)
{
	free(c->things);
	c->things = NULL;
}
