/*
 * worker.c - one strata-bench worker process: launches its clients, runs
 * the scenario and fills its struct bench_result.
 *
 * Phases (w->phase):
 *   PH_SUBS   connecting subscribers and waiting for every SUBACK
 *   PH_PUBS   connecting publishers (shadow: the connections, each then
 *             subscribing to its things' answers; answered at SUBACK)
 *   PH_SEND   publishing: open loop on a schedule of intended send times
 *             (--rate) or as fast as each publisher's window allows
 *             (shadow: updates, the window counting those not answered;
 *             rules: readings, the window counting expected outputs)
 *   PH_DRAIN  sending over; waiting for the last acks and deliveries, at
 *             most --drain seconds
 *   PH_CONN   (conn) connecting at --rate
 *   PH_HOLD   (conn) holding the connections, pinging each keepalive
 *   PH_DONE   DISCONNECT sent; the loop exits shortly after
 * The sizing mode runs its own steps (sizing.c): every callback below
 * hands over to it first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "bench.h"

enum { PH_SUBS, PH_PUBS, PH_SEND, PH_DRAIN, PH_CONN, PH_HOLD, PH_DONE };

/* Connects in progress at once: pattern set-up is not what is measured,
 * and a burst larger than the broker's listen backlog costs a 1 s SYN
 * retransmission; `conn` uses --inflight. */
#define WORKER_MAX_PENDING 64
#define NS 1000000000ull

static void worker_next_phase(struct bench_worker *w);

static bool
worker_pub_done(
    const struct bench_worker *w, const struct bench_client *c, uint64_t now)
{
	if (c->state != CS_READY)
		return true;
	if (w->o->count && c->seq >= w->o->count)
		return true;
	return now >= w->t_send0 + (uint64_t)(w->o->duration * NS);
}

static bool
worker_window_open(const struct bench_worker *w, const struct bench_client *c)
{
	if (w->o->mode == MODE_SHADOW)
		return bench_shadow_window_open(c);
	if (w->o->mode == MODE_RULES)
		return bench_rules_window_open(c);
	return bench_client_window_open(c);
}

/* Deliveries a publisher's tracker k should have seen: every message
 * sent, or (rules) the outputs its rule lets through. */
static uint64_t
worker_expected(const struct bench_worker *w, const struct bench_client *c)
{
	return w->o->mode == MODE_RULES ? bench_rules_expected(c) : c->seq;
}

/* One message (shadow: one update) stamped with its intended time ts. */
static void
worker_send(
    struct bench_worker *w, struct bench_client *c, uint64_t ts, uint64_t now)
{
	if (w->o->mode == MODE_SHADOW)
		bench_shadow_send(c, ts);
	else if (w->o->mode == MODE_RULES)
		bench_rules_send(c, ts);
	else
		bench_client_send_publish(c, ts);
	w->live->sent++;
	w->t_last_send = now;
}

/* Max-rate publishing: fill the window. */
static void
worker_pump(struct bench_worker *w, struct bench_client *c)
{
	uint64_t now = bench_now();

	if (w->phase != PH_SEND || w->o->rate > 0)
		return;
	while (worker_window_open(w, c) && !worker_pub_done(w, c, now))
		worker_send(w, c, now, now);
}

/* Open loop: send every message whose intended time has come, stamped with
 * that intended time so queueing delay counts in the latency. */
static void
worker_schedule(struct bench_worker *w, struct bench_client *c, uint64_t now)
{
	while (c->next_due <= now && worker_window_open(w, c) &&
	       !worker_pub_done(w, c, c->next_due)) {
		worker_send(w, c, c->next_due, now);
		c->next_due += c->interval;
	}
}

/* A window reopened (an ack, a delivery, a shadow answer): send what the
 * schedule or the window allows now. */
static void
worker_reopened(struct bench_worker *w, struct bench_client *c)
{
	if (w->o->rate > 0 && w->phase == PH_SEND)
		worker_schedule(w, c, bench_now());
	else
		worker_pump(w, c);
}

/* Open loop: wake up at the earliest due time rather than on the next
 * 1 ms tick, so the schedule itself adds little latency; at least 50 us
 * apart so many publishers cost a bounded number of wake-ups. */
static void
worker_arm_send_timer(struct bench_worker *w, uint64_t now)
{
	uint64_t due = UINT64_MAX, delay;
	struct timeval tv;
	uint32_t i;

	for (i = 0; i < w->n_pubs; i++)
		if (w->pubs[i].state == CS_READY && w->pubs[i].next_due < due)
			due = w->pubs[i].next_due;
	if (due == UINT64_MAX || due >= now + NS / 1000)
		return; /* the tick comes first */
	delay = due > now + 50000 ? due - now : 50000;
	tv.tv_sec = 0;
	tv.tv_usec = (suseconds_t)(delay / 1000);
	event_add(w->send_timer, &tv);
}

static void
worker_send_step(struct bench_worker *w, uint64_t now)
{
	uint32_t i, done = 0;
	struct bench_client *c;

	for (i = 0; i < w->n_pubs; i++) {
		c = &w->pubs[i];
		if (w->o->rate > 0)
			worker_schedule(w, c, now);
		else
			worker_pump(w, c);
		if (worker_pub_done(w, c, w->o->rate > 0 ? c->next_due : now))
			done++;
	}
	if (done == w->n_pubs) {
		w->t_send_end = now;
		w->phase = PH_DRAIN;
		return;
	}
	if (w->o->rate > 0)
		worker_arm_send_timer(w, now);
}

static bool
worker_drained(const struct bench_worker *w)
{
	uint32_t i, k;
	const struct bench_client *c;

	for (i = 0; i < w->n_pubs; i++) {
		c = &w->pubs[i];
		if (c->state == CS_READY && (c->inflight > 0 || c->awaiting))
			return false;
		for (k = 0; k < c->n_trackers; k++)
			if (c->trackers[k].unique < worker_expected(w, c))
				return false;
	}
	return true;
}

static void
worker_launch(struct bench_worker *w, struct bench_client *arr, uint32_t n)
{
	w->launch = arr;
	w->n_launch = n;
	w->launched = w->pending = w->answered = 0;
	w->launch_t0 = bench_now();
}

static void
worker_launch_step(struct bench_worker *w, uint64_t now)
{
	const struct bench_opts *o = w->o;
	uint64_t target = w->n_launch;
	double rate = o->rate / o->procs;
	uint32_t max_pending =
	    o->mode == MODE_CONN ? (uint32_t)o->inflight : WORKER_MAX_PENDING;

	if (o->mode == MODE_CONN && o->rate > 0) {
		target =
		    (uint64_t)((double)(now - w->launch_t0) * rate / NS) + 1;
		if (target > w->n_launch)
			target = w->n_launch;
	}
	while (w->launched < target && w->pending < max_pending) {
		struct bench_client *c = &w->launch[w->launched++];

		if (!w->first_attempt)
			w->first_attempt = now;
		w->res.conn_attempts++;
		if (bench_client_start(c) != 0) {
			w->res.conn_failed++;
			w->live->failed++;
			w->answered++;
			continue;
		}
		w->pending++;
	}
	worker_next_phase(w); /* every start may have failed at once */
}

static void
worker_start_sending(struct bench_worker *w)
{
	uint64_t now = bench_now();
	double per_pub;
	uint32_t i;

	w->t_send0 = now;
	w->t_last_send = now;
	per_pub = w->n_pubs ? w->o->rate / w->o->procs / w->n_pubs : 0;
	for (i = 0; i < w->n_pubs; i++) {
		struct bench_client *c = &w->pubs[i];

		c->interval = per_pub > 0 ? (uint64_t)(NS / per_pub) : 0;
		/* stagger publishers over one interval */
		c->next_due =
		    now + c->interval * i / (w->n_pubs ? w->n_pubs : 1);
		c->last_progress = now;
	}
	w->phase = PH_SEND;
	worker_send_step(w, now);
}

static void
worker_finish(struct bench_worker *w)
{
	struct timeval tv = {0, 200000};
	uint32_t i;

	w->phase = PH_DONE;
	for (i = 0; i < w->n_conns; i++)
		bench_client_send_disconnect(&w->conns[i]);
	for (i = 0; i < w->n_pubs; i++)
		bench_client_send_disconnect(&w->pubs[i]);
	for (i = 0; i < w->n_subs; i++)
		bench_client_send_disconnect(&w->subs[i]);
	event_base_loopexit(w->base, &tv);
}

/* Move to the next phase once the launcher has an answer for every
 * client (and every subscriber has its SUBACK). */
static void
worker_next_phase(struct bench_worker *w)
{
	if (w->answered < w->n_launch)
		return;
	if (w->phase == PH_SUBS) {
		w->phase = PH_PUBS;
		worker_launch(w, w->pubs, w->n_pubs);
	}
	if (w->phase == PH_PUBS && w->answered >= w->n_launch) {
		if (w->o->mode == MODE_SUB) {
			w->t_send0 = bench_now();
			w->t_send_end =
			    w->t_send0 + (uint64_t)(w->o->duration * NS);
			w->phase = PH_DRAIN;
		} else {
			worker_start_sending(w);
		}
	} else if (w->phase == PH_CONN) {
		w->phase = PH_HOLD;
		w->t_hold_end = bench_now() + (uint64_t)(w->o->hold * NS);
	}
}

static void
worker_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bench_worker *w = arg;
	uint64_t now = bench_now();

	if (w->phase == PH_SUBS || w->phase == PH_PUBS || w->phase == PH_CONN)
		worker_launch_step(w, now);
	if (w->phase == PH_SEND)
		worker_send_step(w, now);
	if (w->phase == PH_DRAIN) {
		if (w->o->mode == MODE_SUB
		        ? now >= w->t_send_end
		        : (worker_drained(w) ||
		              now >= w->t_send_end +
		                         (uint64_t)(w->o->drain * NS)))
			worker_finish(w);
	}
	if (w->phase == PH_HOLD && now >= w->t_hold_end)
		worker_finish(w);
}

static void
worker_send_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bench_worker *w = arg;

	if (w->phase == PH_SEND)
		worker_send_step(w, bench_now());
}

static void
worker_keepalive(
    struct bench_worker *w, struct bench_client *arr, uint32_t n, uint64_t now)
{
	uint64_t ka = w->o->keepalive > 1
	                  ? (uint64_t)(w->o->keepalive - 1) * NS
	                  : NS / 2;
	uint32_t i;

	if (w->o->keepalive == 0)
		return;
	for (i = 0; i < n; i++) {
		if (arr[i].state == CS_READY && now - arr[i].last_tx >= ka) {
			bench_client_send_ping(&arr[i]);
			w->res.pings++;
		}
	}
}

/* End-to-end window: a message that never arrives would close the window
 * for good, so after a second without progress the publisher writes the
 * missing ones off (they are still counted as lost). */
static void
worker_unstall(struct bench_worker *w, uint64_t now)
{
	uint32_t i;

	if (w->o->rate > 0 || w->receivers == 0 || w->phase != PH_SEND)
		return;
	for (i = 0; i < w->n_pubs; i++) {
		struct bench_client *c = &w->pubs[i];

		if (c->state == CS_READY && !worker_window_open(w, c) &&
		    (w->o->qos == 0 || c->inflight < c->window) &&
		    now - c->last_progress > NS) {
			if (w->o->mode == MODE_RULES)
				bench_rules_forgive(c);
			else
				c->forgiven =
				    c->seq - c->delivered / w->receivers;
			c->last_progress = now;
			worker_pump(w, c);
		}
	}
}

static void
worker_second_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bench_worker *w = arg;
	uint64_t now = bench_now();
	uint32_t i;

	worker_keepalive(w, w->conns, w->n_conns, now);
	worker_keepalive(w, w->pubs, w->n_pubs, now);
	worker_keepalive(w, w->subs, w->n_subs, now);
	worker_unstall(w, now);
	for (i = 0; w->o->mode == MODE_SHADOW && i < w->n_pubs; i++)
		if (bench_shadow_expire(&w->pubs[i], now))
			worker_reopened(w, &w->pubs[i]);
}

void
bench_on_connack(struct bench_client *c)
{
	struct bench_worker *w = c->w;
	uint64_t now = bench_now();

	if (w->o->mode == MODE_SIZING) {
		bench_sizing_on_connack(c);
		return;
	}
	w->pending--;
	w->res.connected++;
	w->live->connected++;
	hist_record(&w->res.conn_latency, now - c->t_start);
	w->last_connack = now;
	if (w->o->mode == MODE_SHADOW)
		bench_shadow_subscribe(c);
	if (c->role == ROLE_SUB || c->state == CS_SUBACK)
		return; /* answered at SUBACK */
	w->answered++;
	worker_next_phase(w);
	if (c->role == ROLE_PUB)
		worker_pump(w, c);
}

void
bench_on_suback(struct bench_client *c, bool ok)
{
	struct bench_worker *w = c->w;

	if (w->o->mode == MODE_SIZING) {
		bench_sizing_on_suback(c, ok);
		return;
	}
	if (!ok)
		w->res.suback_failed++;
	w->answered++;
	worker_next_phase(w);
}

void
bench_on_closed(struct bench_client *c, enum client_state prev)
{
	struct bench_worker *w = c->w;

	if (w->o->mode == MODE_SIZING) {
		bench_sizing_on_closed(c, prev);
		return;
	}
	if (w->phase == PH_DONE)
		return;
	if (prev == CS_READY) {
		w->res.closed_early++;
		return;
	}
	if (prev == CS_SUBACK) {
		w->res.closed_early++;
		w->res.suback_failed++;
	} else {
		w->pending--;
		w->res.conn_failed++;
		w->live->failed++;
	}
	w->answered++;
	worker_next_phase(w);
}

void
bench_on_acked(struct bench_client *c)
{
	struct bench_worker *w = c->w;

	if (w->o->mode == MODE_SIZING) {
		bench_sizing_on_acked(c);
		return;
	}
	w->res.acked++;
	w->live->acked++;
	worker_reopened(w, c);
}

void
bench_on_pingresp(struct bench_client *c)
{
	c->w->res.pongs++;
}

static struct tracker *
worker_ext_tracker(struct bench_client *sub, uint32_t pub)
{
	uint32_t n;

	if (pub >= 10000000)
		return NULL;
	if (pub >= sub->n_ext) {
		n = sub->n_ext ? sub->n_ext : 64;
		while (n <= pub)
			n *= 2;
		sub->ext = realloc(sub->ext, n * sizeof(*sub->ext));
		if (!sub->ext)
			bench_fatal("out of memory");
		for (; sub->n_ext < n; sub->n_ext++)
			tracker_init(&sub->ext[sub->n_ext]);
	}
	return &sub->ext[pub];
}

static struct tracker *
worker_tracker(struct bench_worker *w, struct bench_client *sub,
    uint32_t nonce, uint32_t pub)
{
	struct bench_client *p;

	if (w->o->mode == MODE_SUB)
		return worker_ext_tracker(sub, pub);
	if (nonce != w->o->nonce || pub < w->pub_base ||
	    pub - w->pub_base >= w->n_pubs)
		return NULL;
	if (w->o->pattern == PAT_PAIRS && pub != sub->gidx)
		return NULL;
	p = &w->pubs[pub - w->pub_base];
	p->delivered++;
	p->last_progress = bench_now();
	return &p->trackers[w->o->pattern == PAT_FANOUT ? sub->lidx : 0];
}

void
bench_on_publish(struct bench_client *c, const uint8_t *topic,
    uint32_t topic_len, const uint8_t *payload, uint32_t len)
{
	struct bench_worker *w = c->w;
	uint64_t now = bench_now(), ts;
	uint32_t hdr[4];
	struct tracker *t;

	if (w->o->mode == MODE_SIZING) {
		bench_sizing_on_publish(c, topic, topic_len, payload, len);
		return;
	}
	w->res.received++;
	w->live->received++;
	w->t_last_recv = now;
	if (!w->t_first_recv)
		w->t_first_recv = now;
	if (w->o->mode == MODE_SHADOW) {
		if (bench_shadow_on_answer(c, topic, topic_len, payload, len))
			worker_reopened(w, c);
		return;
	}
	if (w->o->mode == MODE_RULES) {
		struct bench_client *p =
		    bench_rules_on_output(c, payload, len);

		if (p)
			worker_pump(w, p);
		return;
	}
	if (len < BENCH_HEADER_SIZE) {
		w->res.unexpected++;
		return;
	}
	memcpy(hdr, payload, sizeof(hdr));
	memcpy(&ts, payload + sizeof(hdr), sizeof(ts));
	t = hdr[0] == BENCH_MAGIC ? worker_tracker(w, c, hdr[1], hdr[2])
	                          : NULL;
	if (!t) {
		w->res.unexpected++;
		return;
	}
	hist_record(&w->res.latency, now > ts ? now - ts : 0);
	tracker_record(t, hdr[3]);
	if (w->o->mode == MODE_PUBSUB)
		worker_pump(w, &w->pubs[hdr[2] - w->pub_base]);
}

/* MODE_SUB: what was sent is unknown here, so a publisher's messages up to
 * the highest sequence number seen are the expected ones. */
static void
worker_tally_ext(struct bench_result *r, const struct bench_client *sub)
{
	const struct tracker *t;
	uint32_t i;

	for (i = 0; i < sub->n_ext; i++) {
		t = &sub->ext[i];
		r->expected += (uint64_t)(t->max_seq + 1);
		r->unique += t->unique;
		r->lost += tracker_lost(t, (uint64_t)(t->max_seq + 1));
		r->dups += t->dups;
		r->out_of_order += t->out_of_order;
	}
}

static void
worker_tally(struct bench_worker *w)
{
	struct bench_result *r = &w->res;
	const struct tracker *t;
	uint32_t i, k;

	for (i = 0; i < w->n_pubs; i++) {
		uint64_t expected = worker_expected(w, &w->pubs[i]);

		r->sent += w->pubs[i].seq;
		for (k = 0; k < w->pubs[i].n_trackers; k++) {
			t = &w->pubs[i].trackers[k];
			r->expected += expected;
			r->unique += t->unique;
			r->lost += tracker_lost(t, expected);
			r->dups += t->dups;
			r->out_of_order += t->out_of_order;
		}
	}
	for (i = 0; i < w->n_subs; i++)
		worker_tally_ext(r, &w->subs[i]);
	if (w->last_connack > w->first_attempt)
		r->ramp_secs =
		    (double)(w->last_connack - w->first_attempt) / NS;
	if (w->t_send0 && w->t_last_send > w->t_send0)
		r->send_secs = (double)(w->t_last_send - w->t_send0) / NS;
	if (w->o->mode == MODE_SUB && w->t_last_recv > w->t_first_recv)
		r->recv_secs = (double)(w->t_last_recv - w->t_first_recv) / NS;
	else if (w->t_send0 && w->t_last_recv > w->t_send0)
		r->recv_secs = (double)(w->t_last_recv - w->t_send0) / NS;
	if (w->o->mode == MODE_SHADOW)
		bench_shadow_tally(w);
}

/* Run the scenario to its end; the clients are set up by main.c. */
void
bench_worker_run(struct bench_worker *w)
{
	struct timeval ms = {0, 1000}, sec = {1, 0};
	uint32_t i;

	if (w->o->mode == MODE_SIZING) {
		bench_sizing_run(w);
		return;
	}
	w->tick = event_new(w->base, -1, EV_PERSIST, worker_tick_cb, w);
	w->second = event_new(w->base, -1, EV_PERSIST, worker_second_cb, w);
	w->send_timer = event_new(w->base, -1, 0, worker_send_timer_cb, w);
	event_add(w->tick, &ms);
	event_add(w->second, &sec);
	if (w->o->mode == MODE_CONN) {
		w->phase = PH_CONN;
		worker_launch(w, w->conns, w->n_conns);
	} else {
		w->phase = PH_SUBS;
		worker_launch(w, w->subs, w->n_subs);
	}
	worker_next_phase(w);
	event_base_dispatch(w->base);
	worker_tally(w);
	event_free(w->tick);
	event_free(w->second);
	event_free(w->send_timer);
	for (i = 0; i < w->n_conns; i++)
		bench_client_free(&w->conns[i]);
	for (i = 0; i < w->n_pubs; i++)
		bench_client_free(&w->pubs[i]);
	for (i = 0; i < w->n_subs; i++)
		bench_client_free(&w->subs[i]);
}
