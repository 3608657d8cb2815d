/*
 * sizing.c - strata-bench's sizing mode: puts known numbers of
 * subscriptions, retained messages and device shadows into a broker, one
 * kind at a time, and holds them, so a script (bench/sizing.sh) can read
 * what each kind costs in memory between the steps.
 *
 * One worker (--procs 1): --clients connections, by default enough for
 * --subscriptions at --max-subscriptions each, and for shadows one more,
 * the watcher.  Item j of each kind belongs to connection j % clients.
 *
 * Steps (sz->step), each started when the one before has ended:
 *   SZ_CONNECT    the connections connect, at most SZ_MAX_PENDING at once
 *   SZ_SUBSCRIBE  each subscribes to its filters sizing/<nonce>/<i>/s/<j>
 *                 (no wildcard: distinct routes), in SUBSCRIBEs of at most
 *                 --batch filters, all sent at once; ends when every
 *                 SUBACK is in
 *   SZ_RETAIN     each publishes its retained messages of --size bytes at
 *                 QoS 1 to sizing/<nonce>/<i>/r/<j> (no filter matches
 *                 them), at most --inflight without a PUBACK; ends when
 *                 every PUBACK is in (a reason code >= 0x80 counts as
 *                 refused)
 *   SZ_WATCH      the watcher connects and subscribes to
 *                 $aws/things/+/shadow/update/accepted and .../rejected:
 *                 two filters for every answer, so the shadows' memory is
 *                 not mixed with two subscriptions per thing
 *   SZ_SHADOW     each connection sends one update to
 *                 $aws/things/<prefix><j>/shadow/update for each of its
 *                 things (a small reported state and a clientToken naming
 *                 the thing), at most --inflight without an answer (and
 *                 SZ_MAX_ANSWERS_OUT in all); the watcher's answers free
 *                 them; ends when every thing has its answer
 *   SZ_DONE       DISCONNECT everywhere; the loop exits
 * A step with nothing to do is skipped.  A step also ends when nothing
 * progressed for --drain seconds (what is missing stays missing and the
 * counts say so; shadow updates without an answer count lost), and the
 * whole run at --duration seconds.
 *
 * Hand-shake (--step-file F): when CONNECT, SUBSCRIBE, RETAIN and SHADOW
 * end, F is written (renamed into place, so it is never read half
 * written) with one line
 *   step=<name> connections=C subscriptions=S retained=R shadows=A
 * (what the broker has taken so far), and the next step starts once F is
 * removed, or after --hold seconds.  Meanwhile every connection pings at
 * its keepalive.  Steps move on the 10 ms tick only; the callbacks count
 * and send.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "shadowmsg.h"

#define NS 1000000000ull
#define SZ_MAX_PENDING 64
#define SZ_TOPIC_MAX 192
/* Shadow updates without an answer, in all: every answer goes to the one
 * watcher, whose session the broker bounds (max-inflight 100 and
 * max-queued 1,000 by default); more at once would have answers dropped. */
#define SZ_MAX_ANSWERS_OUT 500

enum sz_step {
	SZ_CONNECT,
	SZ_SUBSCRIBE,
	SZ_RETAIN,
	SZ_WATCH,
	SZ_SHADOW,
	SZ_DONE
};

static const char *const sz_step_names[] = {
    "connected", "subscribed", "retained", "watching", "shadows", "done"};

struct sizing {
	enum sz_step step;
	bool waiting;      /* step file written, waiting for its removal */
	uint64_t wait_end; /* ... at most until then */
	uint64_t t_step;   /* when the current step started */
	uint64_t last_progress;
	uint64_t deadline; /* --duration from the start */
	uint64_t last_ping_scan;
	uint32_t launched, pending; /* SZ_CONNECT's launcher */
	uint32_t want, got;   /* items of the current step: asked, answered */
	uint32_t conns_ok;    /* connections (the watcher aside) connected */
	uint32_t answers_out; /* SZ_SHADOW: updates without an answer */
	uint8_t *answered;    /* SZ_SHADOW: one bit per thing answered */
	struct event *tick;
};

/* Items of a kind with `total` in all that connection i owns. */
static uint32_t
sz_share(const struct bench_worker *w, uint32_t i, uint32_t total)
{
	uint32_t n = w->n_pubs;

	return i < total ? (total - i + n - 1) / n : 0;
}

static void
sz_thing_topic(char *out, const struct bench_worker *w, uint32_t thing,
    const char *suffix)
{
	bench_shadow_thing_topic(out, SZ_TOPIC_MAX, w, "sz", thing, suffix);
}

static void
sz_progress(struct bench_worker *w)
{
	w->sz->last_progress = bench_now();
}

/* --- SZ_CONNECT ---------------------------------------------------------- */

static void
sz_launch(struct bench_worker *w)
{
	struct sizing *sz = w->sz;
	struct bench_client *c;

	while (sz->launched < w->n_pubs && sz->pending < SZ_MAX_PENDING) {
		c = &w->pubs[sz->launched++];
		w->res.conn_attempts++;
		if (!w->first_attempt)
			w->first_attempt = bench_now();
		if (bench_client_start(c) != 0) {
			w->res.conn_failed++;
			sz->got++;
			continue;
		}
		sz->pending++;
	}
}

/* --- SZ_SUBSCRIBE -------------------------------------------------------- */

static void
sz_subscribe(struct bench_worker *w, struct bench_client *c)
{
	uint32_t n = sz_share(w, c->gidx, w->o->sz_subscriptions);
	uint32_t batch = (uint32_t)w->o->sz_batch, m, k = 0;
	char(*topics)[SZ_TOPIC_MAX] = calloc(batch, SZ_TOPIC_MAX);
	const char **filters = calloc(batch, sizeof(*filters));
	uint16_t packet_id = 0;

	if (!topics || !filters)
		bench_fatal("out of memory");
	for (m = 0; m < n; m++) {
		snprintf(topics[k], SZ_TOPIC_MAX, "sizing/%08x/%u/s/%u",
		    w->o->nonce, c->gidx, c->gidx + m * w->n_pubs);
		filters[k] = topics[k];
		if (++k == batch || m + 1 == n) {
			bench_client_subscribe(c, ++packet_id, filters, k);
			w->res.sz_subs_asked += k;
			k = 0;
		}
	}
	free(topics);
	free(filters);
}

/* --- SZ_RETAIN and SZ_SHADOW: sending within the windows ----------------- */

static void
sz_send_retained(struct bench_worker *w, struct bench_client *c)
{
	uint32_t n = sz_share(w, c->gidx, w->o->sz_retained);
	char topic[SZ_TOPIC_MAX];

	while (c->state == CS_READY && c->seq < n && c->inflight < c->window) {
		snprintf(topic, sizeof(topic), "sizing/%08x/%u/r/%u",
		    w->o->nonce, c->gidx, c->gidx + c->seq * w->n_pubs);
		bench_client_publish_retained(
		    c, topic, w->payload, w->o->size);
		c->seq++;
		w->res.sz_retained_sent++;
	}
}

static uint64_t
sz_epoch_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void
sz_send_update(struct bench_worker *w, struct bench_client *c)
{
	uint32_t thing = c->gidx + c->thing_next * w->n_pubs;
	char topic[SZ_TOPIC_MAX], token[SHADOWMSG_TOKEN_BUF];
	size_t len;

	sz_thing_topic(topic, w, thing, "update");
	shadowmsg_token(token, w->o->nonce, thing, 0);
	len = shadowmsg_update(w->payload, w->payload_cap, c->thing_next,
	    sz_epoch_ms(), token, 0);
	if (len == 0)
		bench_fatal(
		    "shadow update does not fit %zu bytes", w->payload_cap);
	bench_client_publish(c, topic, w->payload, len);
	c->thing_next++;
	c->awaiting++;
	w->res.sz_shadows_sent++;
}

static void
sz_send_updates(struct bench_worker *w, struct bench_client *c)
{
	uint32_t n = sz_share(w, c->gidx, w->o->sz_shadows);

	while (c->state == CS_READY && c->thing_next < n &&
	       c->awaiting < (uint32_t)w->o->inflight &&
	       c->inflight < c->window &&
	       w->sz->answers_out < SZ_MAX_ANSWERS_OUT) {
		sz_send_update(w, c);
		w->sz->answers_out++;
	}
}

static void
sz_pump(struct bench_worker *w, struct bench_client *c)
{
	if (c->role != ROLE_PUB)
		return;
	if (w->sz->step == SZ_RETAIN && !w->sz->waiting)
		sz_send_retained(w, c);
	else if (w->sz->step == SZ_SHADOW && !w->sz->waiting)
		sz_send_updates(w, c);
}

/* --- steps --------------------------------------------------------------- */

static uint32_t
sz_ready_pubs(const struct bench_worker *w)
{
	uint32_t i, n = 0;

	for (i = 0; i < w->n_pubs; i++)
		n += w->pubs[i].state == CS_READY;
	return n;
}

/* Start step `step`: returns false when it has nothing to do. */
static bool
sz_start(struct bench_worker *w, enum sz_step step)
{
	const struct bench_opts *o = w->o;
	struct sizing *sz = w->sz;
	uint32_t i;

	sz->step = step;
	sz->want = sz->got = 0;
	sz->t_step = bench_now();
	sz->last_progress = sz->t_step;
	switch (step) {
	case SZ_CONNECT:
		sz->want = w->n_pubs;
		sz_launch(w);
		return true;
	case SZ_SUBSCRIBE:
		if (o->sz_subscriptions == 0)
			return false;
		for (i = 0; i < w->n_pubs; i++) {
			if (w->pubs[i].state != CS_READY ||
			    sz_share(w, i, o->sz_subscriptions) == 0)
				continue;
			sz->want++;
			sz_subscribe(w, &w->pubs[i]);
		}
		return true;
	case SZ_RETAIN:
		if (o->sz_retained == 0)
			return false;
		sz->want = o->sz_retained;
		memset(w->payload, 'r', o->size);
		for (i = 0; i < w->n_pubs; i++)
			sz_send_retained(w, &w->pubs[i]);
		return true;
	case SZ_WATCH:
		if (o->sz_shadows == 0 || sz_ready_pubs(w) == 0)
			return false;
		sz->want = 1;
		w->res.conn_attempts++;
		if (bench_client_start(&w->conns[0]) != 0) {
			w->res.conn_failed++;
			sz->got = 1;
		}
		return true;
	case SZ_SHADOW:
		if (o->sz_shadows == 0 || w->conns[0].state != CS_READY ||
		    w->conns[0].sub_granted != w->conns[0].sub_entries)
			return false;
		sz->want = o->sz_shadows;
		for (i = 0; i < w->n_pubs; i++)
			sz_send_updates(w, &w->pubs[i]);
		return true;
	case SZ_DONE:
		break;
	}
	return true;
}

/* The counts so far, for the step file. */
static void
sz_write_step_file(struct bench_worker *w)
{
	const char *f = w->o->step_file;
	char tmp[4096];
	FILE *fp;

	snprintf(tmp, sizeof(tmp), "%s.tmp", f);
	fp = fopen(tmp, "w");
	if (!fp)
		bench_fatal("cannot write %s", tmp);
	fprintf(fp,
	    "step=%s connections=%u subscriptions=%llu retained=%llu "
	    "shadows=%llu\n",
	    sz_step_names[w->sz->step], w->sz->conns_ok,
	    (unsigned long long)w->res.sz_subs_granted,
	    (unsigned long long)w->res.sz_retained_acked,
	    (unsigned long long)w->res.accepted);
	if (fclose(fp) != 0 || rename(tmp, f) != 0)
		bench_fatal("cannot write %s", f);
}

static void
sz_finish(struct bench_worker *w)
{
	struct timeval tv = {0, 200000};
	uint32_t i;

	w->sz->step = SZ_DONE;
	for (i = 0; i < w->n_pubs; i++)
		bench_client_send_disconnect(&w->pubs[i]);
	for (i = 0; i < w->n_conns; i++)
		bench_client_send_disconnect(&w->conns[i]);
	event_base_loopexit(w->base, &tv);
}

/* The current step is over: record its time, count what it left
 * unanswered, and write the step file or go on at once. */
static void
sz_end(struct bench_worker *w)
{
	struct sizing *sz = w->sz;
	uint64_t now = bench_now();
	uint32_t i;

	if (sz->step == SZ_SHADOW)
		for (i = 0; i < w->n_pubs; i++)
			w->res.lost += w->pubs[i].awaiting;
	if (sz->step == SZ_CONNECT)
		w->res.step_secs[0] = (double)(now - sz->t_step) / NS;
	else if (sz->step == SZ_SUBSCRIBE)
		w->res.step_secs[1] = (double)(now - sz->t_step) / NS;
	else if (sz->step == SZ_RETAIN)
		w->res.step_secs[2] = (double)(now - sz->t_step) / NS;
	else if (sz->step == SZ_SHADOW)
		w->res.step_secs[3] = (double)(now - sz->t_step) / NS;
	if (w->o->step_file && sz->step != SZ_WATCH) {
		sz_write_step_file(w);
		sz->waiting = true;
		sz->wait_end = now + (uint64_t)(w->o->hold * NS);
	}
}

/* After a step (and its hand-shake): the next one with work to do. */
static void
sz_next(struct bench_worker *w)
{
	enum sz_step s = w->sz->step;

	w->sz->waiting = false;
	while (++s < SZ_DONE)
		if (sz_start(w, s))
			return;
	sz_finish(w);
}

static void
sz_keepalive(
    struct bench_worker *w, struct bench_client *arr, uint32_t n, uint64_t now)
{
	uint64_t ka = w->o->keepalive > 1
	                  ? (uint64_t)(w->o->keepalive - 1) * NS
	                  : NS / 2;
	uint32_t i;

	for (i = 0; i < n; i++) {
		if ((arr[i].state == CS_READY || arr[i].state == CS_SUBACK) &&
		    now - arr[i].last_tx >= ka) {
			bench_client_send_ping(&arr[i]);
			w->res.pings++;
		}
	}
}

static void
sz_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bench_worker *w = arg;
	struct sizing *sz = w->sz;
	uint64_t now = bench_now();
	uint32_t i;

	(void)fd;
	(void)what;
	if (sz->step == SZ_DONE)
		return;
	if (w->o->keepalive > 0 && now - sz->last_ping_scan >= NS) {
		sz->last_ping_scan = now;
		sz_keepalive(w, w->pubs, w->n_pubs, now);
		sz_keepalive(w, w->conns, w->n_conns, now);
	}
	if (now >= sz->deadline) {
		fprintf(stderr,
		    "strata-bench: sizing: --duration reached "
		    "in step %s\n",
		    sz_step_names[sz->step]);
		if (sz->step == SZ_SHADOW && !sz->waiting)
			sz_end(w);
		sz_finish(w);
		return;
	}
	if (sz->waiting) {
		if (access(w->o->step_file, F_OK) != 0 || now >= sz->wait_end)
			sz_next(w);
		return;
	}
	if (sz->step == SZ_CONNECT)
		sz_launch(w);
	/* room under SZ_MAX_ANSWERS_OUT goes round all the connections */
	for (i = 0; sz->step == SZ_SHADOW && i < w->n_pubs &&
	            sz->answers_out < SZ_MAX_ANSWERS_OUT;
	     i++)
		sz_send_updates(w, &w->pubs[i]);
	if (sz->got >= sz->want ||
	    now - sz->last_progress > (uint64_t)(w->o->drain * NS)) {
		if (sz->got < sz->want)
			fprintf(stderr,
			    "strata-bench: sizing: step %s ended without "
			    "progress for %.0f s: %u of %u answered\n",
			    sz_step_names[sz->step], w->o->drain, sz->got,
			    sz->want);
		sz_end(w);
		if (!sz->waiting)
			sz_next(w);
	}
}

/* --- callbacks from worker.c --------------------------------------------- */

void
bench_sizing_on_connack(struct bench_client *c)
{
	struct bench_worker *w = c->w;
	const char *filters[2];
	char accepted[SZ_TOPIC_MAX], rejected[SZ_TOPIC_MAX];
	uint64_t now = bench_now();

	w->res.connected++;
	w->live->connected++;
	hist_record(&w->res.conn_latency, now - c->t_start);
	w->last_connack = now;
	sz_progress(w);
	if (c->role == ROLE_CONN) { /* the watcher */
		snprintf(accepted, sizeof(accepted),
		    "$aws/things/+/shadow/update/accepted");
		snprintf(rejected, sizeof(rejected),
		    "$aws/things/+/shadow/update/rejected");
		filters[0] = accepted;
		filters[1] = rejected;
		bench_client_subscribe(c, 1, filters, 2);
		return;
	}
	w->sz->pending--;
	w->sz->got++;
	w->sz->conns_ok++;
}

void
bench_sizing_on_suback(struct bench_client *c, bool ok)
{
	struct bench_worker *w = c->w;

	if (!ok)
		w->res.suback_failed++;
	sz_progress(w);
	w->sz->got++;
	if (c->role == ROLE_PUB)
		w->res.sz_subs_granted += c->sub_granted;
}

void
bench_sizing_on_acked(struct bench_client *c)
{
	struct bench_worker *w = c->w;

	w->res.acked++;
	w->live->acked++;
	sz_progress(w);
	if (w->sz->step == SZ_RETAIN) {
		if (c->ack_reason >= 0x80)
			w->res.sz_retained_refused++;
		else
			w->res.sz_retained_acked++;
		w->sz->got++;
	}
	sz_pump(w, c);
}

/* An answer on the watcher: the thing its clientToken names. */
void
bench_sizing_on_publish(struct bench_client *c, const uint8_t *topic,
    uint32_t topic_len, const uint8_t *payload, uint32_t len)
{
	struct bench_worker *w = c->w;
	bool accepted = bench_shadow_topic_ends(topic, topic_len, "/accepted");
	const uint8_t *tok;
	uint32_t nonce, thing, seq;
	struct bench_client *owner;
	long code = 0;
	int n;

	w->res.received++;
	w->live->received++;
	n = shadowmsg_string(payload, len, "clientToken", &tok);
	if (c->role != ROLE_CONN || n < 0 ||
	    (!accepted &&
	        !bench_shadow_topic_ends(topic, topic_len, "/rejected")) ||
	    shadowmsg_token_parse(
	        (const char *)tok, (size_t)n, &nonce, &thing, &seq) != 0 ||
	    nonce != w->o->nonce || thing >= w->o->sz_shadows) {
		w->res.unexpected++;
		return;
	}
	if (w->sz->answered[thing >> 3] & (1u << (thing & 7))) {
		w->res.late++;
		return;
	}
	w->sz->answered[thing >> 3] |= (uint8_t)(1u << (thing & 7));
	if (accepted) {
		w->res.accepted++;
	} else {
		shadowmsg_int(payload, len, "code", &code);
		w->res.rejected++;
		w->res.rejected_by_code[bench_shadow_code_index(code)]++;
	}
	sz_progress(w);
	w->sz->got++;
	owner = &w->pubs[thing % w->n_pubs];
	if (owner->awaiting > 0) {
		owner->awaiting--;
		w->sz->answers_out--;
	}
	sz_pump(w, owner);
}

void
bench_sizing_on_closed(struct bench_client *c, enum client_state prev)
{
	struct bench_worker *w = c->w;

	if (w->sz->step == SZ_DONE)
		return;
	if (prev == CS_READY || prev == CS_SUBACK)
		w->res.closed_early++;
	if (prev == CS_SUBACK) {
		w->res.suback_failed++;
		w->sz->got++;
	} else if (prev != CS_READY) {
		w->res.conn_failed++;
		w->live->failed++;
		if (c->role == ROLE_PUB)
			w->sz->pending--;
		w->sz->got++;
	}
}

/* Run the steps to their end; the clients are set up by main.c. */
void
bench_sizing_run(struct bench_worker *w)
{
	static struct sizing sz;
	struct timeval tick = {0, 10000};
	uint32_t i;

	memset(&sz, 0, sizeof(sz));
	w->sz = &sz;
	sz.answered = calloc(w->o->sz_shadows / 8 + 1, 1);
	sz.tick = event_new(w->base, -1, EV_PERSIST, sz_tick_cb, w);
	if (!sz.answered || !sz.tick)
		bench_fatal("out of memory");
	sz.deadline = bench_now() + (uint64_t)(w->o->duration * NS);
	event_add(sz.tick, &tick);
	sz_start(w, SZ_CONNECT);
	event_base_dispatch(w->base);
	if (w->last_connack > w->first_attempt)
		w->res.ramp_secs =
		    (double)(w->last_connack - w->first_attempt) / NS;
	for (i = 0; i < w->n_pubs; i++)
		w->res.sent += w->pubs[i].seq + w->pubs[i].thing_next;
	event_free(sz.tick);
	free(sz.answered);
	for (i = 0; i < w->n_conns; i++)
		bench_client_free(&w->conns[i]);
	for (i = 0; i < w->n_pubs; i++)
		bench_client_free(&w->pubs[i]);
	w->sz = NULL;
}
