/*
 * subscribe.c - SUBSCRIBE / SUBACK, UNSUBSCRIBE / UNSUBACK and the local
 * subscription table.
 *
 * The local table (b->subs, a strata_subtree) maps each filter to a
 * broker_filter listing the local subscriptions of it.  The first local
 * subscriber of a filter sends RouteUpdate ADD to the routers that must
 * hold it, the last one leaving sends REMOVE (routerlink.c decides which
 * routers).
 *
 * Rules of this broker:
 *   - $share/<group>/<filter>: a shared subscription (shares.c): no
 *     route (the routers learn the member), no retained messages (MQTT 5
 *     3.3.1.3: only new non-shared subscriptions get them); No Local on
 *     one is a Protocol Error (DISCONNECT 0x82).
 *   - entries beyond max-subscriptions-per-subscribe get 0x97 Quota
 *     exceeded (MQTT 5) / 0x80 (3.1.1); the first ones are granted.
 *   - filters over throttle-subscribe-rate (per connection, throttle.c):
 *     0x97 / 0x80.
 *   - a new filter when the session holds max-subscriptions already:
 *     0x97 / 0x80 (replacing one it holds is always allowed).
 *   - a filter deeper than max-topic-depth ("$aws/" exempt): 0x8F Topic
 *     Filter invalid / 0x80.
 *   - a filter under $aws/rules (Basic Ingest), shared or not, from any
 *     client but an in-process session (rulesd): 0x87 / 0x80.
 *   - the granted QoS is the QoS asked (the broker supports QoS 2).
 *   - an MQTT 5 SUBACK with refused entries says which and why in its
 *     Reason String ("#2 session over max-subscriptions (50); #3 filter over
 *     max-topic-depth (7)"), an UNSUBACK names the entries that had
 *     no subscription.
 *   - retained messages are asked from the routers per Retain Handling
 *     (0: always, 1: new subscriptions only, 2: never; 3.1.1: always),
 *     after the SUBACK is written, so they follow it on the connection.
 *
 * SUBACK ordering.  Once a client has its SUBACK, a matching message
 * published afterwards on any broker must reach it, so the routers must
 * have applied the ADDs first.  The SUBACK is a struct broker_suback:
 *   COLLECTING - the entries are applied; every granted filter marks the
 *                up routers that hold it (broker_routers_mark) and the
 *                filters wanting retained messages are noted.
 *   WAITING    - pending > 0, in b->subacks: routerlink.c sent a Barrier
 *                to each marked router with an ADD not yet covered by one
 *                and counts one wait per marked router whose latest
 *                Barrier is not acked; + 1 while an earlier SUBACK of the
 *                same connection waits (SUBACKs keep their order).  An
 *                ack, or the link going down, releases a wait.
 *   DONE       - pending == 0: when the connection is still there (found
 *                by session incarnation and conn->suback_key)
 *                the SUBACK is written and then the RetainedRequests
 *                sent; otherwise both are dropped.  Freed.
 * A persistent session's SUBACK also waits for its subscriptions to be
 * stored in Redis (durable.c: one wait each).  With no router up, or
 * routes already acked, and nothing stored, COLLECTING goes to DONE at
 * once (the resync on link up re-adds every route).  UNSUBSCRIBE needs no
 * barrier: a message that still arrives is allowed until UNSUBACK, and
 * the broker's own table has dropped the filter already.
 */
#include <stdlib.h>
#include <string.h>

#include "broker.h"

void
broker_filter_free(void *f)
{
	free(f);
}

struct broker_sub *
broker_sub_find(struct broker_session *s, const char *filter, size_t len)
{
	struct strata_list *pos;

	for (pos = s->subs.next; pos != &s->subs; pos = pos->next) {
		struct broker_sub *sub = STRATA_CONTAINER_OF(pos,
		    struct broker_sub, session_node);

		if (sub->filter->len == len &&
		    memcmp(sub->filter->name, filter, len) == 0)
			return sub;
	}
	return NULL;
}

/* The table entry of filter, created (and announced) if new. */
static struct broker_filter *
subscribe_filter(struct strata_broker *b, const char *filter, size_t len)
{
	void **slot = strata_subtree_slot(b->subs, filter, len, true);
	struct broker_filter *f = *slot;

	if (f != NULL)
		return f;
	f = malloc(sizeof(*f) + len + 1);
	if (f == NULL)
		abort();
	strata_list_init(&f->subs);
	f->len = (uint32_t)len;
	memcpy(f->name, filter, len);
	f->name[len] = '\0';
	*slot = f;
	if (!broker_share_filter(f->name, len))
		broker_routers_route(b, true, f->name, len);
	return f;
}

static void
subscribe_remove(struct broker_session *s, struct broker_sub *sub)
{
	struct strata_broker *b = s->broker;
	struct broker_filter *f = sub->filter;

	broker_durable_sub(s, sub, false, NULL);
	broker_shares_sub(s, sub, false);
	strata_list_remove(&sub->session_node);
	strata_list_remove(&sub->filter_node);
	s->n_subs--;
	(*b->m.subscriptions)--;
	free(sub);
	if (!strata_list_empty(&f->subs))
		return;
	strata_subtree_remove(b->subs, f->name, f->len);
	if (!broker_share_filter(f->name, f->len))
		broker_routers_route(b, false, f->name, f->len);
	free(f);
}

void
broker_subs_remove_all(struct broker_session *s)
{
	while (!strata_list_empty(&s->subs))
		subscribe_remove(s, STRATA_CONTAINER_OF(s->subs.next,
		    struct broker_sub, session_node));
}

static struct broker_sub *
subscribe_new(struct broker_session *s, const char *name, size_t len)
{
	struct broker_sub *sub = calloc(1, sizeof(*sub));

	if (sub == NULL)
		abort();
	sub->session = s;
	sub->filter = subscribe_filter(s->broker, name, len);
	strata_list_push_back(&sub->filter->subs, &sub->filter_node);
	strata_list_push_back(&s->subs, &sub->session_node);
	s->n_subs++;
	(*s->broker->m.subscriptions)++;
	return sub;
}

void
broker_subs_restore(struct broker_session *s, const char *filter,
    size_t len, uint8_t options, uint32_t sub_id)
{
	struct broker_sub *sub = broker_sub_find(s, filter, len);

	if (sub == NULL)
		sub = subscribe_new(s, filter, len);
	sub->options = options;
	sub->sub_id = sub_id;
	broker_durable_sub(s, sub, true, NULL);
}

/* Note filter for a RetainedRequest once w's SUBACK is out. */
static void
suback_note_retained(struct broker_suback *w, const struct broker_filter *f)
{
	char *copy = strdup(f->name);

	if (copy == NULL)
		abort();
	w->retained[w->n_retained++] = copy;
}

/* Add or replace one subscription; returns the granted reason code. */
static uint8_t
subscribe_add(struct broker_session *s, const struct strata_mqtt_sub_entry *e,
    uint32_t sub_id, uint8_t version, struct broker_suback *w)
{
	const char *name = (const char *)e->filter.p;
	struct broker_sub *sub = broker_sub_find(s, name, e->filter.len);
	bool is_new = sub == NULL;
	unsigned rh = version == STRATA_MQTT_V5 ?
	    STRATA_SUBOPT_RETAIN_HANDLING(e->options) : 0;
	bool shared = broker_share_filter(name, e->filter.len);

	if (is_new)
		sub = subscribe_new(s, name, e->filter.len);
	sub->options = e->options;
	sub->sub_id = sub_id;
	/* a persistent session's: stored before the SUBACK */
	broker_durable_sub(s, sub, true, w);
	broker_shares_sub(s, sub, true);
	broker_routers_mark(s->broker, sub->filter->name, sub->filter->len);
	if (!shared && (rh == 0 || (rh == 1 && is_new)))
		suback_note_retained(w, sub->filter);
	return STRATA_SUBOPT_QOS(e->options);
}

#define SUBSCRIBE_WHY_MAX 256 /* bytes of a SUBACK's Reason String */

/* Append "#<index + 1> <what>" to the Reason String *why (allocated on
 * the first refusal); past SUBSCRIBE_WHY_MAX it ends with "; ...". */
static void
subscribe_note_why(char **why, uint32_t index, const char *what)
{
	size_t used;

	if (*why == NULL) {
		*why = calloc(1, SUBSCRIBE_WHY_MAX);
		if (*why == NULL)
			abort();
	}
	used = strlen(*why);
	if (used + strlen(what) + 16 >= SUBSCRIBE_WHY_MAX - 6) {
		if (used < 5 || strcmp(*why + used - 5, "; ...") != 0)
			strcat(*why, "; ...");
		return;
	}
	snprintf(*why + used, SUBSCRIBE_WHY_MAX - used, "%s#%u %s",
	    used > 0 ? "; " : "", index + 1, what);
}

/* Entry index refused: logged, counted, noted for the Reason String;
 * returns its SUBACK code (3.1.1: 0x80). */
static uint8_t
subscribe_refuse(struct broker_conn *c, struct broker_suback *w,
    uint32_t index, uint8_t reason, const char *what)
{
	broker_refuse(c->broker, c, reason, what);
	if (c->version != STRATA_MQTT_V5)
		return 0x80;
	subscribe_note_why(&w->why, index, what);
	return reason;
}


/* max-topic-depth counts the filter's levels, of a shared one those
 * after "$share/<group>/" ("$aws/" filters exempt, shared or not). */
static bool
subscribe_too_deep(const struct broker_config *cfg, struct strata_bytes f)
{
	const uint8_t *slash;

	if (f.len > 7 && memcmp(f.p, "$share/", 7) == 0 &&
	    (slash = memchr(f.p + 7, '/', f.len - 7)) != NULL) {
		f.len -= (size_t)(slash + 1 - f.p);
		f.p = slash + 1;
	}
	return broker_topic_too_deep(cfg, f.p, f.len);
}

/* "$aws/rules/..." (Basic Ingest: a publish there goes to that rule
 * alone), shared or not: only an in-process session (rulesd's) may
 * subscribe, as no client may on the managed service. */
static bool
subscribe_basic_ingest(struct strata_bytes f)
{
	const uint8_t *slash;

	if (f.len > 7 && memcmp(f.p, "$share/", 7) == 0 &&
	    (slash = memchr(f.p + 7, '/', f.len - 7)) != NULL) {
		f.len -= (size_t)(slash + 1 - f.p);
		f.p = slash + 1;
	}
	return f.len >= 10 && memcmp(f.p, "$aws/rules", 10) == 0 &&
	    (f.len == 10 || f.p[10] == '/');
}

static uint8_t
subscribe_entry(struct broker_conn *c, const struct strata_mqtt_sub_entry *e,
    uint32_t index, uint32_t sub_id, struct broker_suback *w)
{
	const struct broker_config *cfg = &c->broker->cfg;
	char what[96];

	if (index >= (uint32_t)cfg->max_subscriptions_per_subscribe) {
		snprintf(what, sizeof(what), "over "
		    "max-subscriptions-per-subscribe (%ld)",
		    cfg->max_subscriptions_per_subscribe);
		return subscribe_refuse(c, w, index,
		    STRATA_RC_QUOTA_EXCEEDED, what);
	}
	if (!broker_throttle_subscribe(c)) {
		snprintf(what, sizeof(what), "over throttle-subscribe-rate "
		    "(%lu/s)", (unsigned long)
		    c->throttle.limit[LIMIT_SUBSCRIBE_RATE]);
		return subscribe_refuse(c, w, index,
		    STRATA_RC_QUOTA_EXCEEDED, what);
	}
	if (subscribe_too_deep(cfg, e->filter)) {
		snprintf(what, sizeof(what), "filter over max-topic-depth "
		    "(%ld)", cfg->max_topic_depth);
		return subscribe_refuse(c, w, index,
		    STRATA_RC_TOPIC_FILTER_INVALID, what);
	}
	if (!c->internal && subscribe_basic_ingest(e->filter))
		return subscribe_refuse(c, w, index, STRATA_RC_NOT_AUTHORIZED,
		    "$aws/rules/ is Basic Ingest: no subscriber but the rules "
		    "engine");
	if (!broker_device_allowed(c, STRATA_IOT_SUBSCRIBE,
	    (const char *)e->filter.p, e->filter.len))
		return subscribe_refuse(c, w, index, STRATA_RC_NOT_AUTHORIZED,
		    "iot:Subscribe on the filter denied");
	if (c->session->n_subs >= (uint32_t)cfg->max_subscriptions &&
	    broker_sub_find(c->session, (const char *)e->filter.p,
	    e->filter.len) == NULL) {
		snprintf(what, sizeof(what), "session over max-subscriptions "
		    "(%ld)", cfg->max_subscriptions);
		return subscribe_refuse(c, w, index,
		    STRATA_RC_QUOTA_EXCEEDED, what);
	}
	return subscribe_add(c->session, e, sub_id, c->version, w);
}

static void
subscribe_ack(struct broker_conn *c, uint8_t type, uint16_t packet_id,
    const uint8_t *reasons, uint32_t n, const char *why)
{
	struct strata_mqtt_packet a;

	memset(&a, 0, sizeof(a));
	a.type = type;
	a.u.suback.packet_id = packet_id;
	a.u.suback.reasons.p = reasons;
	a.u.suback.reasons.len = n;
	broker_reason_string(c, &a, why);
	broker_conn_send(c, &a);
}

static struct broker_suback *
suback_new(struct broker_conn *c, uint16_t packet_id, uint32_t count)
{
	struct broker_session *s = c->session;
	struct broker_suback *w = calloc(1, sizeof(*w) + (count ? count : 1));

	if (w == NULL)
		abort();
	w->retained = calloc(count ? count : 1, sizeof(*w->retained));
	if (w->retained == NULL)
		abort();
	strata_list_init(&w->node);
	w->incarnation = s->incarnation;
	w->packet_id = packet_id;
	return w;
}

static void
suback_free(struct broker_suback *w)
{
	uint32_t i;

	for (i = 0; i < w->n_retained; i++)
		free(w->retained[i]);
	free(w->retained);
	free(w->why);
	free(w);
}

/* Write the SUBACK on c, then ask for the retained messages. */
static void
suback_write(struct broker_conn *c, const struct broker_suback *w)
{
	uint32_t i;

	subscribe_ack(c, STRATA_MQTT_SUBACK, w->packet_id, w->reasons,
	    w->n_reasons, w->why);
	for (i = 0; i < w->n_retained; i++)
		broker_routers_retained(c->broker, c->session->client_id,
		    w->retained[i], strlen(w->retained[i]));
}

/* The live connection w answers to, or NULL if it went away. */
static struct broker_conn *
suback_conn(struct strata_broker *b, const struct broker_suback *w)
{
	struct broker_session *s = broker_session_of(b, w->incarnation);

	if (s == NULL || s->conn == NULL ||
	    s->conn->suback_key != w->conn_key ||
	    s->conn->state != CONN_ACTIVE)
		return NULL;
	return s->conn;
}

void
broker_suback_release(struct strata_broker *b, struct broker_suback *w)
{
	while (w != NULL && --w->pending == 0) {
		struct broker_suback *next = w->next_of_conn;
		struct broker_conn *c;

		strata_list_remove(&w->node);
		if (w->done != NULL) {
			w->done(b, w->done_arg);
			free(w);
			return;
		}
		c = suback_conn(b, w);
		if (c != NULL)
			suback_write(c, w);
		suback_free(w);
		w = next;
	}
}

void
broker_subacks_free_all(struct strata_broker *b)
{
	while (!strata_list_empty(&b->subacks)) {
		struct broker_suback *w = STRATA_CONTAINER_OF(b->subacks.next,
		    struct broker_suback, node);

		strata_list_remove(&w->node);
		suback_free(w);
	}
}

/* The last SUBACK of c still waiting, or NULL.  Only connections that
 * had a SUBACK deferred before are looked for, from the newest. */
static struct broker_suback *
suback_conn_last(struct strata_broker *b, const struct broker_conn *c)
{
	struct strata_list *pos;

	if (c->suback_key == 0)
		return NULL;
	for (pos = b->subacks.prev; pos != &b->subacks; pos = pos->prev) {
		struct broker_suback *w = STRATA_CONTAINER_OF(pos,
		    struct broker_suback, node);

		if (w->conn_key == c->suback_key)
			return w;
	}
	return NULL;
}

/* COLLECTING -> WAITING or DONE (see the comment at the top). */
static void
suback_submit(struct broker_conn *c, struct broker_suback *w)
{
	struct strata_broker *b = c->broker;
	struct broker_suback *prev = suback_conn_last(b, c);

	/* += : writes to Redis the SUBACK waits for are counted already */
	w->pending += broker_routers_barrier(b, w) + (prev != NULL);
	if (w->pending == 0) {
		suback_write(c, w);
		suback_free(w);
		return;
	}
	if (c->suback_key == 0)
		c->suback_key = ++b->next_suback_key;
	w->conn_key = c->suback_key;
	if (prev != NULL)
		prev->next_of_conn = w;
	strata_list_push_back(&b->subacks, &w->node);
	(*b->m.subacks_deferred)++;
}

int
broker_subscribe_handle(struct broker_conn *c,
    const struct strata_mqtt_packet *p)
{
	const struct strata_mqtt_subscribe *sp = &p->u.subscribe;
	struct strata_reader it = strata_reader_init(sp->entries.p,
	    sp->entries.len);
	struct strata_mqtt_sub_entry e;
	struct broker_suback *w;
	uint32_t sub_id = p->props.n_sub_ids > 0 ? p->props.sub_ids[0] : 0;
	uint32_t n = 0;

	/* MQTT 5 3.8.3.1: No Local on a shared subscription is a Protocol
	 * Error (the whole SUBSCRIBE, before any entry is applied) */
	while (strata_mqtt_sub_next(&it, STRATA_MQTT_SUBSCRIBE, c->version,
	    &e) == 0)
		if ((e.options & STRATA_SUBOPT_NO_LOCAL) &&
		    broker_share_filter((const char *)e.filter.p,
		    e.filter.len))
			return STRATA_ERR(STRATA_RC_PROTOCOL_ERROR);
	it = strata_reader_init(sp->entries.p, sp->entries.len);
	w = suback_new(c, sp->packet_id, sp->count);

	while (n < sp->count && strata_mqtt_sub_next(&it,
	    STRATA_MQTT_SUBSCRIBE, c->version, &e) == 0) {
		w->reasons[n] = subscribe_entry(c, &e, n, sub_id, w);
		n++;
	}
	w->n_reasons = n;
	/* before the submit, which may write and free w */
	broker_events_subscriptions(c, p, w->reasons, n);
	suback_submit(c, w);
	return 0;
}

int
broker_unsubscribe_handle(struct broker_conn *c,
    const struct strata_mqtt_packet *p)
{
	const struct strata_mqtt_subscribe *sp = &p->u.subscribe;
	struct strata_reader it = strata_reader_init(sp->entries.p,
	    sp->entries.len);
	struct strata_mqtt_sub_entry e;
	uint8_t *reasons = malloc(sp->count ? sp->count : 1);
	char *why = NULL;
	uint32_t n = 0;

	if (reasons == NULL)
		abort();
	while (n < sp->count && strata_mqtt_sub_next(&it,
	    STRATA_MQTT_UNSUBSCRIBE, c->version, &e) == 0) {
		struct broker_sub *sub = broker_sub_find(c->session,
		    (const char *)e.filter.p, e.filter.len);

		if (sub == NULL && c->version == STRATA_MQTT_V5)
			subscribe_note_why(&why, n, "no such subscription");
		reasons[n++] = sub != NULL ? STRATA_RC_SUCCESS :
		    STRATA_RC_NO_SUBSCRIPTION_EXISTED;
		if (sub != NULL)
			subscribe_remove(c->session, sub);
	}
	subscribe_ack(c, STRATA_MQTT_UNSUBACK, sp->packet_id, reasons,
	    c->version == STRATA_MQTT_V5 ? n : 0, why);
	broker_events_subscriptions(c, p, reasons, n);
	free(reasons);
	free(why);
	return 0;
}
