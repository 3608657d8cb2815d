/*
 * routerlink.c - the broker's links to the routers.
 *
 * Every second the broker reads two Redis hashes, once the cluster's
 * partition scheme agrees with its own (common/scheme.h): `strata:routers`
 * (router id -> "host:port") and `strata:{part}:map` (partition -> router
 * id).  It keeps one strata_link per router and a table partition ->
 * router.
 *
 * Link states (per router): CONNECTING/BACKOFF (link.c reconnects by
 * itself) and UP.  On UP the broker sends Hello(NODE_BROKER), RouteUpdate
 * RESET and one ADD per local filter the router must hold, then re-sends
 * the publishes waiting for a router.  On DOWN the publishes it had not
 * acknowledged go back to the unsent list.  When the partition map
 * changes, every UP router is re-synchronised the same way.
 *
 * Publishes (struct broker_fwd):
 *   UNSENT  - in b->unsent: no router is up for the partition (or its
 *             link is full).  QoS 0 waits here bounded by
 *             BROKER_UNSENT_MAX bytes (drops counted); QoS 1/2 always
 *             wait (each client's Receive Maximum bounds them).
 * A publish that finds its router's link full also pauses reading from
 * its publisher (backpressure); every paused client resumes when a link
 * drains below half its bound.
 *   SENT    - QoS 1/2 only, in router->sent and b->fwd_by_seq until the
 *             PublishAck; then the publisher is acked (qos.c) and the
 *             entry freed.  QoS 0 is freed once written.  A PublishAck
 *             with not_owner (the router does not serve the partition:
 *             our map is stale) sends it, and every later one of its
 *             partition on that router, back to UNSENT, in order
 *             (partmap.c then holds the partition until it is served).
 *
 * Persistent sessions (durable.c) add their subscriptions' session
 * entries (RouteUpdate SESSION_ADD / SESSION_REMOVE) to the same routers
 * as the filter's route, in resyncs too; a frame of Delivers that made
 * writes for them is acknowledged (DeliverAck) once Redis has them.
 *
 * Barriers (SUBSCRIBE ordering, see subscribe.c): every ADD sets
 * add_pending; a SUBSCRIBE that needs its routes in sends Barrier(seq) to
 * such a router (seq from b->next_barrier) and queues a broker_barrier_ref
 * on router->barriers.  A BarrierAck(seq) releases the refs up to seq (the
 * router answers in order).  A Barrier is never written while a resync is
 * owed (it would overtake the ADDs that did not fit): barrier_unsent keeps
 * it until the resync is out.  Link down or router gone releases every
 * ref: the resync on the next link up re-adds every route before any later
 * publish on that link.  (A publish made meanwhile on another broker, to
 * this router, finds no route: this broker is unreachable for it anyway.)
 */
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "scheme.h"

#define BROKER_LINK_MAX_QUEUE (16u * 1024 * 1024)
#define BROKER_UNSENT_MAX (64u * 1024 * 1024)
/* Bytes of publishes kept for routers (sent and not acknowledged, or
 * waiting): past it publishers are paused until half of it is acked.  It
 * also bounds what a router keeps for this broker (router pending.c). */
#define BROKER_FWD_MAX (256u * 1024 * 1024)


int64_t
broker_routers_up(struct strata_broker *b)
{
	return *b->m.links_up;
}

/* ---- sending ---- */

/* Does r hold filter's routes: every router a wildcard one, the owner an
 * exact one, and, while its partition moves, the old owner too until it
 * answered (it may still route publishes of stale brokers). */
static bool
routers_holds(struct strata_broker *b, struct broker_router *r,
    const char *filter, size_t len)
{
	int part = strata_topic_filter_partition((const uint8_t *)filter, len,
	    (unsigned)b->cfg.partition_levels);
	const struct broker_part *pt;

	if (part < 0)
		return true;
	pt = &b->parts[part];
	return pt->owner == r || (pt->moving && pt->old == r &&
	    !pt->leave_done);
}

int
broker_router_send(struct broker_router *r, enum strata_link_field field,
    const ProtobufCMessage *m)
{
	int rc;

	if (r == NULL || !r->up)
		return STRATA_AGAIN;
	rc = strata_link_send(r->link, field, m);
	if (rc == STRATA_ENOSPC)
		r->resync = true; /* answered on drain: a resync and the
				     partition messages that did not fit */
	return rc;
}

static void
routers_send_route(struct broker_router *r, Strata__RouteUpdate__Op op,
    const char *filter)
{
	Strata__RouteUpdate u = STRATA__ROUTE_UPDATE__INIT;

	u.op = op;
	u.filter = (char *)filter;
	if (strata_link_send(r->link, STRATA_LINK_ROUTE, &u.base) ==
	    STRATA_ENOSPC)
		r->resync = true;
	if (op == STRATA__ROUTE_UPDATE__OP__ADD)
		r->add_pending = true;
}

/* Write Barrier barrier_sent unless a resync must go first. */
static void
routers_barrier_flush(struct broker_router *r)
{
	Strata__Barrier m = STRATA__BARRIER__INIT;

	if (!r->barrier_unsent || r->resync)
		return;
	m.seq = r->barrier_sent;
	r->barrier_unsent = strata_link_send(r->link, STRATA_LINK_BARRIER,
	    &m.base) != 0;
}

static void
routers_send_session(struct broker_router *r, Strata__RouteUpdate__Op op,
    const struct broker_sess_entry *e)
{
	Strata__RouteUpdate u = STRATA__ROUTE_UPDATE__INIT;

	u.op = op;
	/* NUL-terminated in every caller's storage up to filter_len */
	u.filter = (char *)e->filter;
	u.client_id = (char *)e->client_id;
	u.options = e->options;
	u.sub_id = e->sub_id;
	u.online = e->online;
	if (strata_link_send(r->link, STRATA_LINK_ROUTE, &u.base) ==
	    STRATA_ENOSPC)
		r->resync = true;
	r->add_pending = true;
}

void
broker_routers_session(struct strata_broker *b, Strata__RouteUpdate__Op op,
    const struct broker_sess_entry *e)
{
	struct strata_list *pos;

	for (pos = b->routers.next; pos != &b->routers; pos = pos->next) {
		struct broker_router *r = STRATA_CONTAINER_OF(pos,
		    struct broker_router, node);

		if (r->up && routers_holds(b, r, e->filter, e->filter_len))
			routers_send_session(r, op, e);
	}
}

/* SESSION_ADD online for the persistent sessions this broker holds
 * among f's subscribers, SHARE_ADD for its members of a shared one (part
 * of a resync). */
static void
routers_send_sessions(struct broker_router *r, const struct broker_filter *f)
{
	const struct strata_list *pos;

	for (pos = f->subs.next; pos != &f->subs; pos = pos->next) {
		const struct broker_sub *sub = STRATA_CONTAINER_OF(pos,
		    struct broker_sub, filter_node);
		const struct broker_session *s = sub->session;
		struct broker_sess_entry e = {s->client_id, f->name, f->len,
		    sub->options, sub->sub_id, true};

		if (sub->member)
			routers_send_session(r,
			    STRATA__ROUTE_UPDATE__OP__SHARE_ADD, &e);
		else if (!broker_share_filter(f->name, f->len) &&
		    (s->dstate == DSTATE_HELD || s->dstate == DSTATE_LOADING))
			routers_send_session(r,
			    STRATA__ROUTE_UPDATE__OP__SESSION_ADD, &e);
	}
}

struct routers_sync_ctx {
	struct strata_broker *b;
	struct broker_router *r;
};

static void
routers_sync_cb(const char *filter, size_t flen, void *value, void *arg)
{
	struct routers_sync_ctx *ctx = arg;
	struct broker_filter *f = value;

	if (!routers_holds(ctx->b, ctx->r, f->name, f->len))
		return;
	if (!broker_share_filter(f->name, f->len))
		routers_send_route(ctx->r, STRATA__ROUTE_UPDATE__OP__ADD,
		    f->name);
	routers_send_sessions(ctx->r, f);
}

/* RESET, an ADD for every local filter this router must hold, COMMIT:
 * the router swaps the whole table in at once. */
static void
routers_sync(struct strata_broker *b, struct broker_router *r)
{
	struct routers_sync_ctx ctx = {b, r};

	r->resync = false;
	routers_send_route(r, STRATA__ROUTE_UPDATE__OP__RESET, "");
	strata_subtree_foreach(b->subs, routers_sync_cb, &ctx);
	routers_send_route(r, STRATA__ROUTE_UPDATE__OP__COMMIT, "");
	r->add_pending = true;
	routers_barrier_flush(r);
	if (!r->resync)
		broker_partmap_router_up(r);
}

struct routers_part_ctx {
	struct strata_broker *b;
	const bool *want;
};

static void
routers_part_cb(const char *filter, size_t flen, void *value, void *arg)
{
	struct routers_part_ctx *ctx = arg;
	int part = strata_topic_filter_partition((const uint8_t *)filter, flen,
	    (unsigned)ctx->b->cfg.partition_levels);
	struct broker_router *r;

	if (part < 0 || !ctx->want[part])
		return;
	r = ctx->b->parts[part].owner;
	if (!broker_share_filter(filter, flen))
		routers_send_route(r, STRATA__ROUTE_UPDATE__OP__ADD, filter);
	routers_send_sessions(r, value);
}

void
broker_routers_send_partitions(struct strata_broker *b, const bool *want)
{
	struct routers_part_ctx ctx = {b, want};
	Strata__RouteUpdate u = STRATA__ROUTE_UPDATE__INIT;

	u.op = STRATA__ROUTE_UPDATE__OP__PARTITION_RESET;
	u.filter = "";
	for (uint32_t p = 0; p < STRATA_PARTITIONS; p++) {
		if (!want[p])
			continue;
		u.partition = p;
		(void)broker_router_send(b->parts[p].owner, STRATA_LINK_ROUTE,
		    &u.base);
	}
	strata_subtree_foreach(b->subs, routers_part_cb, &ctx);
}

void
broker_routers_mark(struct strata_broker *b, const char *filter,
    size_t len)
{
	struct strata_list *pos;

	for (pos = b->routers.next; pos != &b->routers; pos = pos->next) {
		struct broker_router *r = STRATA_CONTAINER_OF(pos,
		    struct broker_router, node);

		if (r->up && routers_holds(b, r, filter, len))
			r->barrier_mark = true;
	}
}

/* Make w wait for the latest Barrier of r, sending one if needed. */
static unsigned
routers_barrier_wait(struct strata_broker *b, struct broker_router *r,
    struct broker_suback *w)
{
	struct broker_barrier_ref *ref;

	if (r->add_pending) {
		r->add_pending = false;
		r->barrier_sent = ++b->next_barrier;
		r->barrier_unsent = true;
		routers_barrier_flush(r);
	}
	if (r->barrier_acked >= r->barrier_sent)
		return 0;
	ref = malloc(sizeof(*ref));
	if (ref == NULL)
		abort();
	ref->seq = r->barrier_sent;
	ref->wait = w;
	strata_list_push_back(&r->barriers, &ref->node);
	return 1;
}

unsigned
broker_routers_barrier(struct strata_broker *b, struct broker_suback *w)
{
	struct strata_list *pos;
	unsigned n = 0;

	for (pos = b->routers.next; pos != &b->routers; pos = pos->next) {
		struct broker_router *r = STRATA_CONTAINER_OF(pos,
		    struct broker_router, node);

		if (r->barrier_mark && r->up)
			n += routers_barrier_wait(b, r, w);
		r->barrier_mark = false;
	}
	return n;
}

void
broker_routers_wait(struct strata_broker *b,
    void (*done)(struct strata_broker *, void *), void *arg)
{
	struct broker_suback *w = calloc(1, sizeof(*w) + 1);

	if (w == NULL)
		abort();
	strata_list_init(&w->node);
	w->done = done;
	w->done_arg = arg;
	w->pending = broker_routers_barrier(b, w);
	if (w->pending == 0) {
		free(w);
		done(b, arg);
		return;
	}
	strata_list_push_back(&b->subacks, &w->node);
}

/* Release the refs of r up to seq (all of them: UINT64_MAX). */
static void
routers_barrier_release(struct strata_broker *b, struct broker_router *r,
    uint64_t seq)
{
	while (!strata_list_empty(&r->barriers)) {
		struct broker_barrier_ref *ref = STRATA_CONTAINER_OF(
		    r->barriers.next, struct broker_barrier_ref, node);
		struct broker_suback *w = ref->wait;

		if (ref->seq > seq)
			break;
		strata_list_remove(&ref->node);
		free(ref);
		if (!b->stopping)
			broker_suback_release(b, w);
	}
}

static void
routers_on_barrier_ack(struct broker_router *r, const Strata__BarrierAck *a)
{
	uint64_t seq = a->seq < r->barrier_sent ? a->seq : r->barrier_sent;

	if (seq > r->barrier_acked)
		r->barrier_acked = seq;
	routers_barrier_release(r->broker, r, r->barrier_acked);
}

/* The link of r is down or gone: its Barriers count as acked. */
static void
routers_barrier_reset(struct strata_broker *b, struct broker_router *r)
{
	r->barrier_acked = r->barrier_sent;
	r->add_pending = false;
	r->barrier_unsent = false;
	routers_barrier_release(b, r, UINT64_MAX);
}

void
broker_routers_route(struct strata_broker *b, bool add, const char *filter,
    size_t len)
{
	struct strata_list *pos;

	for (pos = b->routers.next; pos != &b->routers; pos = pos->next) {
		struct broker_router *r = STRATA_CONTAINER_OF(pos,
		    struct broker_router, node);

		if (r->up && routers_holds(b, r, filter, len))
			routers_send_route(r, add ?
			    STRATA__ROUTE_UPDATE__OP__ADD :
			    STRATA__ROUTE_UPDATE__OP__REMOVE, filter);
	}
}

void
broker_routers_retained(struct strata_broker *b, const char *client_id,
    const char *filter, size_t len)
{
	Strata__RetainedRequest q = STRATA__RETAINED_REQUEST__INIT;
	struct strata_list *pos;

	q.client_id = (char *)client_id;
	q.filter = (char *)filter;
	for (pos = b->routers.next; pos != &b->routers; pos = pos->next) {
		struct broker_router *r = STRATA_CONTAINER_OF(pos,
		    struct broker_router, node);

		if (r->up && routers_holds(b, r, filter, len))
			strata_link_send(r->link, STRATA_LINK_RETAINED_REQUEST,
			    &q.base);
	}
}

/* Try to write one publish (m's topic NUL-terminated); 0 when it went to
 * its router's link. */
static int
routers_write(struct strata_broker *b, uint64_t seq, const char *client_id,
    const char *share_group, const struct strata_message *m,
    uint32_t partition)
{
	Strata__Publish p = STRATA__PUBLISH__INIT;
	struct broker_router *r = b->parts[partition].owner;
	int rc;

	if (r == NULL || !r->up || b->parts[partition].moving)
		return STRATA_AGAIN;
	p.seq = seq;
	p.topic = (char *)m->topic;
	p.payload.data = (uint8_t *)m->payload;
	p.payload.len = m->payload_len;
	p.qos = m->qos;
	p.retain = m->retain;
	p.properties.data = (uint8_t *)m->props;
	p.properties.len = m->props_len;
	p.client_id = (char *)(client_id != NULL ? client_id : "");
	p.share_group = (char *)(share_group != NULL ? share_group : "");
	p.partition = partition;
	rc = strata_link_send(r->link, STRATA_LINK_PUBLISH, &p.base);
	if (rc == 0)
		(*b->m.forwarded[m->qos])++;
	return rc;
}

static int
routers_write_fwd(struct strata_broker *b, struct broker_fwd *f)
{
	int rc = routers_write(b, f->seq, f->client_id, f->share_group,
	    &f->msg, f->partition);

	if (rc != 0)
		return rc;
	f->router = b->parts[f->partition].owner;
	return 0;
}

static size_t
routers_fwd_size(const struct broker_fwd *f)
{
	return sizeof(*f) + f->msg.topic_len + f->msg.payload_len +
	    f->msg.props_len;
}

/* Unlink and free f; the caller accounts unsent_bytes. */
static void
routers_fwd_free(struct strata_broker *b, struct broker_fwd *f)
{
	strata_list_remove(&f->node);
	if (f->seq != 0)
		strata_u64map_take(&b->fwd_by_seq, f->seq);
	b->fwd_bytes -= routers_fwd_size(f);
	free(f);
	/* publishers paused on the forward bound read again at half */
	if (b->n_paused > 0 && b->fwd_bytes < BROKER_FWD_MAX / 2 &&
	    !b->stopping)
		broker_conns_resume(b);
}

/* Send what waits for a router, where the router is now up and serving
 * its partition. */
void
broker_routers_flush(struct strata_broker *b)
{
	struct strata_list *pos, *tmp;

	STRATA_LIST_FOREACH_SAFE(pos, tmp, &b->unsent) {
		struct broker_fwd *f = STRATA_CONTAINER_OF(pos,
		    struct broker_fwd, node);

		if (routers_write_fwd(b, f) != 0)
			continue;
		b->unsent_bytes -= routers_fwd_size(f);
		if (f->seq == 0) {
			routers_fwd_free(b, f);
			continue;
		}
		strata_list_remove(&f->node);
		strata_list_push_back(&f->router->sent, &f->node);
	}
}

/* The event loop's cached time, in us: no clock call per message. */
static uint64_t
routers_loop_us(struct strata_broker *b)
{
	struct timeval tv;

	if (event_base_gettimeofday_cached(b->base, &tv) != 0)
		return 0;
	return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

static struct broker_fwd *
routers_fwd_new(uint64_t seq, const struct broker_origin *from,
    const struct strata_message *m)
{
	size_t id_size = from != NULL ? strlen(from->client_id) + 1 : 0;
	size_t share_size = from != NULL && from->share_group != NULL ?
	    strlen(from->share_group) + 1 : 0;
	size_t block = strata_message_block_size(m);
	struct broker_fwd *f = malloc(sizeof(*f) + block + id_size +
	    share_size);

	if (f == NULL)
		abort();
	memset(f, 0, sizeof(*f));
	strata_list_init(&f->node);
	f->seq = seq;
	f->msg = strata_message_copy(m, f->data);
	if (from != NULL) {
		f->packet_id = from->packet_id;
		f->incarnation = from->incarnation;
		f->client_id = memcpy(f->data + block, from->client_id,
		    id_size);
	}
	if (share_size > 0)
		f->share_group = memcpy(f->data + block + id_size,
		    from->share_group, share_size);
	return f;
}

/* NUL-terminated copy of a topic in a reused buffer. */
static const char *
routers_topic(struct strata_broker *b, const uint8_t *topic, size_t len)
{
	if (len + 1 > b->topic_cap) {
		free(b->topic_buf);
		b->topic_cap = len + 1 < 256 ? 256 : len + 1;
		b->topic_buf = malloc(b->topic_cap);
		if (b->topic_buf == NULL)
			abort();
	}
	memcpy(b->topic_buf, topic, len);
	b->topic_buf[len] = '\0';
	return b->topic_buf;
}

bool
broker_routers_backlogged(const struct strata_broker *b)
{
	return b->fwd_bytes > BROKER_FWD_MAX;
}

int
broker_routers_publish(struct strata_broker *b,
    const struct broker_origin *from, const struct strata_message *m)
{
	uint32_t part = strata_topic_partition((const uint8_t *)m->topic,
	    m->topic_len, (unsigned)b->cfg.partition_levels);
	uint64_t seq = m->qos > 0 ? b->next_seq++ : 0;
	struct broker_fwd *f;
	size_t size = sizeof(*f) + m->topic_len + m->payload_len +
	    m->props_len;
	int rc = STRATA_AGAIN;

	if (m->qos == 0) {
		struct strata_message v = *m;

		v.topic = routers_topic(b, (const uint8_t *)m->topic,
		    m->topic_len);
		rc = routers_write(b, 0, from != NULL ? from->client_id : NULL,
		    NULL, &v, part);
		if (rc == 0)
			return 0;
	}
	if (m->qos == 0 && b->unsent_bytes + size > BROKER_UNSENT_MAX) {
		broker_drop(b, "no_router");
		return rc == STRATA_ENOSPC ? rc : 0;
	}
	f = routers_fwd_new(seq, from, m);
	f->partition = part;
	if (seq != 0)
		f->taken_us = routers_loop_us(b);
	b->fwd_bytes += routers_fwd_size(f);
	if (seq != 0)
		strata_u64map_put(&b->fwd_by_seq, f->seq, f);
	if (m->qos > 0 && (rc = routers_write_fwd(b, f)) == 0) {
		strata_list_push_back(&f->router->sent, &f->node);
	} else {
		f->router = NULL;
		b->unsent_bytes += size;
		strata_list_push_back(&b->unsent, &f->node);
	}
	/* every forward is kept until acked; past the bound the publisher
	 * is paused (the message is kept, never dropped) */
	if (rc == STRATA_ENOSPC || b->fwd_bytes > BROKER_FWD_MAX)
		return STRATA_ENOSPC;
	return 0;
}

/* ---- link callbacks ---- */

/*
 * r refused f: it does not serve f's partition now (it gave it away, or
 * has not loaded it yet), and our map is older than its.  f and every
 * later publish of that partition sent to r go back to the front of the
 * unsent list, in the order they were sent (r refuses those too; their
 * refusals then find them unsent and are ignored), and the partition
 * waits for the map (partmap.c).  A refusal of a publish sent since to
 * another router is stale: ignored.
 */
static void
routers_on_not_served(struct broker_router *r, struct broker_fwd *f)
{
	struct strata_broker *b = r->broker;
	uint32_t part = f->partition;
	struct strata_list *pos, *prev;

	if (f->router != r)
		return;
	(*b->m.not_served)++;
	/* from the newest back, each to the front: the order is kept */
	for (pos = r->sent.prev; pos != &r->sent; pos = prev) {
		struct broker_fwd *g = STRATA_CONTAINER_OF(pos,
		    struct broker_fwd, node);

		prev = pos->prev;
		if (g->partition != part)
			continue;
		strata_list_remove(&g->node);
		g->router = NULL;
		b->unsent_bytes += routers_fwd_size(g);
		strata_list_push_front(&b->unsent, &g->node);
	}
	broker_partmap_not_served(r, part);
}

static void
routers_on_ack(struct broker_router *r, const Strata__PublishAck *a)
{
	struct strata_broker *b = r->broker;
	struct broker_fwd *f = strata_u64map_get(&b->fwd_by_seq, a->seq);
	uint64_t now;

	if (f == NULL)
		return;
	if (a->not_owner) {
		routers_on_not_served(r, f);
		return;
	}
	now = routers_loop_us(b);
	if (b->m.publish_ack != NULL && now >= f->taken_us)
		strata_histogram_observe_us(b->m.publish_ack,
		    now - f->taken_us);
	if (f->client_id != NULL && f->incarnation != 0)
		broker_qos_inbound_acked(b, f->incarnation, f->packet_id,
		    f->msg.qos, (uint8_t)a->reason);
	if (f->router == NULL)
		b->unsent_bytes -= routers_fwd_size(f);
	routers_fwd_free(b, f);
}

/* Delivers of a frame: fanned out, then taken as a whole (DeliverAck of
 * the highest id), so the router can acknowledge their publishes. */
static void
routers_on_delivers(struct broker_router *r, const Strata__Frame *fr)
{
	Strata__DeliverAck a = STRATA__DELIVER_ACK__INIT;
	uint64_t writes = r->broker->durable_seq;
	size_t i;

	for (i = 0; i < fr->n_deliver; i++) {
		broker_publish_deliver(r->broker, fr->deliver[i]);
		if (fr->deliver[i]->id > a.up_to)
			a.up_to = fr->deliver[i]->id;
	}
	/* stored for the persistent sessions they went to, first */
	if (a.up_to != 0 && !broker_durable_hold_ack(r, a.up_to, writes))
		(void)broker_router_send(r, STRATA_LINK_DELIVER_ACK, &a.base);
}

static void
routers_on_frame(struct strata_link *l, const Strata__Frame *fr, void *arg)
{
	struct broker_router *r = arg;
	size_t i;

	for (i = 0; i < fr->n_publish_ack; i++)
		routers_on_ack(r, fr->publish_ack[i]);
	routers_on_delivers(r, fr);
	for (i = 0; i < fr->n_barrier_ack; i++)
		routers_on_barrier_ack(r, fr->barrier_ack[i]);
	for (i = 0; i < fr->n_partition_leave_ack; i++)
		broker_partmap_leave_ack(r, fr->partition_leave_ack[i]);
	for (i = 0; i < fr->n_partition_serving; i++)
		broker_partmap_serving(r, fr->partition_serving[i]);
}

static void
routers_on_up(struct strata_link *l, void *arg)
{
	struct broker_router *r = arg;
	struct strata_broker *b = r->broker;
	Strata__Hello h = STRATA__HELLO__INIT;
	uint8_t proof[STRATA_LINKAUTH_LEN];

	r->up = true;
	(*b->m.links_up)++;
	STRATA_INFO(BROKER_COMP, "router link up|router=%s peer=%s", r->id,
	    strata_link_peer(l));

	h.node_id = b->cfg.node_id;
	h.kind = STRATA__NODE_KIND__NODE_BROKER;
	h.protocol = 3; /* PublishAck.not_owner understood */
	h.boot = b->boot;
	if (b->cfg.link_auth.secret != NULL) {
		strata_linkauth_mac(&b->cfg.link_auth, h.kind, h.node_id,
		    h.boot, proof);
		h.auth.data = proof;
		h.auth.len = sizeof(proof);
	}
	strata_link_send(l, STRATA_LINK_HELLO, &h.base);
	routers_sync(b, r);
	broker_routers_flush(b);
	broker_conns_resume(b);
}

/* Un-acked publishes of r go back to the front of the unsent list, in
 * the order they were sent: they are older than anything waiting there. */
static void
routers_requeue(struct strata_broker *b, struct broker_router *r)
{
	while (!strata_list_empty(&r->sent)) {
		struct broker_fwd *f = STRATA_CONTAINER_OF(r->sent.prev,
		    struct broker_fwd, node);

		strata_list_remove(&f->node);
		f->router = NULL;
		b->unsent_bytes += routers_fwd_size(f);
		strata_list_push_front(&b->unsent, &f->node);
	}
}

static void
routers_on_down(struct strata_link *l, void *arg)
{
	struct broker_router *r = arg;
	struct strata_broker *b = r->broker;

	if (r->up) {
		r->up = false;
		(*b->m.links_up)--;
	}
	r->link_epoch++;
	STRATA_WARN(BROKER_COMP, "router link down|router=%s", r->id);
	routers_requeue(b, r);
	routers_barrier_reset(b, r);
	broker_partmap_router_down(r, false);
	/* publishers paused for this link would wait for a drain that
	 * never comes */
	broker_conns_resume(b);
}

static void
routers_on_drain(struct strata_link *l, void *arg)
{
	struct broker_router *r = arg;

	if (r->resync)
		routers_sync(r->broker, r);
	else
		broker_partmap_router_drained(r);
	routers_barrier_flush(r);
	broker_routers_flush(r->broker);
	broker_conns_resume(r->broker);
}

static const struct strata_link_callbacks routers_link_cb = {
	routers_on_frame, routers_on_up, routers_on_down, routers_on_drain,
};

/* ---- router table from Redis ---- */

static struct broker_router *
routers_find(struct strata_broker *b, const char *id, size_t len)
{
	struct strata_list *pos;

	for (pos = b->routers.next; pos != &b->routers; pos = pos->next) {
		struct broker_router *r = STRATA_CONTAINER_OF(pos,
		    struct broker_router, node);

		if (strlen(r->id) == len && memcmp(r->id, id, len) == 0)
			return r;
	}
	return NULL;
}

static void
routers_remove(struct strata_broker *b, struct broker_router *r)
{
	STRATA_INFO(BROKER_COMP, "router gone|router=%s", r->id);
	broker_partmap_router_down(r, true);
	if (r->up)
		(*b->m.links_up)--;
	routers_requeue(b, r);
	routers_barrier_reset(b, r);
	strata_link_free(r->link);
	strata_list_remove(&r->node);
	free(r->id);
	free(r->host);
	free(r);
}

/* A new router entry, in b->routers, without a link yet. */
static struct broker_router *
routers_new(struct strata_broker *b, const char *id, size_t id_len,
    const char *host, uint16_t port)
{
	struct broker_router *r = calloc(1, sizeof(*r));

	if (r == NULL)
		abort();
	r->broker = b;
	r->id = strndup(id, id_len);
	r->host = strdup(host);
	if (r->id == NULL || r->host == NULL)
		abort();
	r->port = port;
	r->seen = true;
	strata_list_init(&r->sent);
	strata_list_init(&r->barriers);
	strata_list_push_back(&b->routers, &r->node);
	return r;
}

/* Add (or re-point) router id at "host:port". */
static void
routers_upsert(struct strata_broker *b, const char *id, size_t id_len,
    const char *addr, size_t addr_len)
{
	struct broker_router *r = routers_find(b, id, id_len);
	const char *colon = memrchr(addr, ':', addr_len);
	char host[256];
	long port;

	if (colon == NULL || (size_t)(colon - addr) >= sizeof(host))
		return;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	port = strtol(colon + 1, NULL, 10);
	if (port <= 0 || port > 65535)
		return;
	if (r != NULL && strcmp(r->host, host) == 0 && r->port == port) {
		r->seen = true;
		return;
	}
	if (r != NULL)
		routers_remove(b, r);
	r = routers_new(b, id, id_len, host, (uint16_t)port);
	STRATA_INFO(BROKER_COMP, "router found|router=%s addr=%s:%ld", r->id,
	    host, port);
	r->link = (b->cfg.link_connect != NULL ? b->cfg.link_connect :
	    strata_link_connect)(b->base, host, (uint16_t)port,
	    &routers_link_cb, r, BROKER_LINK_MAX_QUEUE);
}

struct broker_router *
broker_routers_attach(struct strata_broker *b, const char *id,
    const char *host, uint16_t port, evutil_socket_t fd)
{
	struct broker_router *r = routers_new(b, id, strlen(id), host, port);

	r->link = strata_link_accept(b->base, fd, &routers_link_cb, r,
	    BROKER_LINK_MAX_QUEUE);
	broker_partmap_attach(b, r);
	return r;
}

struct broker_router *
broker_routers_find(struct strata_broker *b, const char *id, size_t len)
{
	return routers_find(b, id, len);
}

/* A reply of HGETALL strata:routers: links to the routers it names, none
 * to the others. */
void
broker_routers_update(struct strata_broker *b, const redisReply *reply)
{
	struct strata_list *pos, *tmp;
	size_t i;

	for (pos = b->routers.next; pos != &b->routers; pos = pos->next)
		STRATA_CONTAINER_OF(pos, struct broker_router, node)->seen =
		    false;
	for (i = 0; i + 1 < reply->elements; i += 2) {
		redisReply *k = reply->element[i], *v = reply->element[i + 1];

		if (k->type == REDIS_REPLY_STRING &&
		    v->type == REDIS_REPLY_STRING)
			routers_upsert(b, k->str, k->len, v->str, v->len);
	}
	STRATA_LIST_FOREACH_SAFE(pos, tmp, &b->routers) {
		struct broker_router *r = STRATA_CONTAINER_OF(pos,
		    struct broker_router, node);

		if (!r->seen)
			routers_remove(b, r);
	}
}

int
broker_routers_start(struct strata_broker *b)
{
	b->m.subacks_deferred = strata_metrics_counter(b->metrics,
	    "strata_broker_subacks_deferred_total",
	    "SUBACKs held until routers applied the routes", NULL);
	b->redis = broker_redis_new(b, broker_partmap_redis_up, b);
	if (b->redis != NULL)
		strata_redis_observe(b->redis, strata_metrics_histogram(
		    b->metrics, "strata_broker_redis_command_seconds",
		    "Time from sending a Redis command to its reply (the "
		    "broker's main connection)", NULL,
		    strata_latency_bounds_us, STRATA_LATENCY_BOUNDS),
		    strata_metrics_counter(b->metrics,
		    "strata_broker_redis_error_replies_total",
		    "Redis error replies, scripts' refusals included", NULL));
	if (b->redis == NULL)
		return STRATA_EIO;
	return broker_partmap_start(b);
}

void
broker_routers_stop(struct strata_broker *b)
{
	while (!strata_list_empty(&b->routers))
		routers_remove(b, STRATA_CONTAINER_OF(b->routers.next,
		    struct broker_router, node));
	broker_subacks_free_all(b);
	b->unsent_bytes = 0;
	while (!strata_list_empty(&b->unsent))
		routers_fwd_free(b, STRATA_CONTAINER_OF(b->unsent.next,
		    struct broker_fwd, node));
	broker_partmap_stop(b);
	strata_redis_free(b->redis);
	b->redis = NULL;
}
