/*
 * pending.c - a QoS 1/2 publish from its arrival until every destination
 * has taken it, then its PublishAck.
 *
 * A pending publish (struct router_pending) holds a copy of the message
 * and counts what it waits for (`waiting`): one per destination broker
 * node (its DeliverAck), one per Redis write (a retained message), and one
 * for the publish path itself while it adds them.  At zero the origin's
 * PublishAck goes out (or, its link being down, is owed: sent when the
 * node's link is up again) and the copy is freed.
 *
 * Per destination node, one reference per Deliver:
 *   BACKLOG - in n->backlog: not sent yet (the link is down, or full);
 *   SENT    - in n->unacked with the link's Deliver id, until a
 *             DeliverAck covers it; the link dropping puts every SENT
 *             reference back at the front of the backlog, in order, to be
 *             sent again with the new link's ids;
 *   settled - acknowledged, or the node is gone: the pending publish
 *             waits for one thing less.
 *
 * Publishes re-sent by a broker (after its link dropped, or a partition
 * moved back) are recognised by (node, seq): one in progress is not
 * routed twice; one answered while the node had no link gets its owed ack.
 * PartitionLeave(p) from a node is answered when that node has no publish
 * of p in progress (pending_by_part).
 *
 * The copies are bounded by what brokers may have unacknowledged: each
 * broker pauses its publishers past max-inflight per client and its own
 * forward bound (broker routerlink.c).
 */
#include <stdlib.h>
#include <string.h>

#include "durable.h"
#include "log.h"
#include "router.h"
#include "status.h"

struct router_pending {
	struct strata_router *router;
	struct router_node *origin;   /* NULL once gone: no ack */
	uint64_t seq;
	uint32_t partition;
	uint32_t waiting;
	uint32_t reason;              /* of the ack */
	char *origin_client;          /* in data */
	char *origin_node;            /* in data: its id, kept when gone */
	uint64_t origin_boot;
	struct strata_message msg;    /* views into data */
	uint8_t data[];
};

struct router_deliver_ref {
	struct strata_list node;
	uint64_t id;
	struct router_pending *pd;
	char *target_client;          /* a shared subscription's member */
	char *target_group;           /* its group, "$share/g/f" */
};

/* ---- completion ---- */

static void
pending_ack_count(struct strata_router *r, uint32_t reason)
{
	if (reason == STRATA_RC_SUCCESS)
		(*r->m.acks_success)++;
	else if (reason == STRATA_RC_NO_MATCHING_SUBSCRIBERS)
		(*r->m.acks_no_subscribers)++;
	else
		(*r->m.acks_error)++;
}

static void
pending_send_ack(struct router_node *n, uint64_t seq, uint32_t reason)
{
	Strata__PublishAck a = STRATA__PUBLISH_ACK__INIT;

	a.seq = seq;
	a.reason = reason;
	if (router_node_send(n, STRATA_LINK_PUBLISH_ACK, &a.base,
	    ROUTER_DROP_ACK_QUEUE_FULL) == 0)
		pending_ack_count(n->router, reason);
}

static void
pending_send_leave_ack(struct router_node *n, uint32_t part, uint64_t gen)
{
	Strata__PartitionLeaveAck a = STRATA__PARTITION_LEAVE_ACK__INIT;

	a.partition = part;
	a.generation = gen;
	(void)router_node_send(n, STRATA_LINK_PARTITION_LEAVE_ACK, &a.base,
	    ROUTER_DROP_ACK_QUEUE_FULL);
}

/* Everything done: answer the origin (now or when its link is back). */
static void
pending_done(struct router_pending *pd)
{
	struct router_node *n = pd->origin;

	if (n != NULL) {
		strata_u64map_take(&n->pending, pd->seq);
		if (n->link != NULL)
			pending_send_ack(n, pd->seq, pd->reason);
		else
			strata_u64map_put(&n->owed, pd->seq,
			    (void *)(uintptr_t)(pd->reason + 1));
		if (--n->pending_by_part[pd->partition] == 0 &&
		    n->leave_gen[pd->partition] != 0) {
			pending_send_leave_ack(n, pd->partition,
			    n->leave_gen[pd->partition]);
			n->leave_gen[pd->partition] = 0;
		}
	}
	pd->router->pending_count--;
	free(pd);
}

void
router_pending_hold(struct router_pending *pd)
{
	pd->waiting++;
}

void
router_pending_set_reason(struct router_pending *pd, uint32_t reason)
{
	/* an error wins; success wins over "no matching subscribers" */
	if (reason >= 0x80 || (reason == STRATA_RC_SUCCESS &&
	    pd->reason == STRATA_RC_NO_MATCHING_SUBSCRIBERS))
		pd->reason = reason;
}

void
router_pending_release(struct router_pending *pd, uint32_t reason)
{
	router_pending_set_reason(pd, reason);
	if (--pd->waiting == 0)
		pending_done(pd);
}

const struct strata_message *
router_pending_message(const struct router_pending *pd)
{
	return &pd->msg;
}

const char *
router_pending_publisher(const struct router_pending *pd)
{
	return pd->origin_client;
}

void
router_pending_qid(const struct router_pending *pd, char *buf, size_t cap)
{
	strata_durable_qid(buf, cap, pd->origin_node, pd->origin_boot,
	    pd->seq);
}

/* ---- arrival ---- */

/* A publish seen before: in progress (nothing to do, its ack will come)
 * or answered while the node had no link (answer now).  true if so. */
static bool
pending_seen(struct router_node *n, uint64_t seq)
{
	void *owed;

	if (strata_u64map_get(&n->pending, seq) != NULL) {
		(*n->router->m.duplicates)++;
		return true;
	}
	owed = strata_u64map_take(&n->owed, seq);
	if (owed == NULL)
		return false;
	(*n->router->m.duplicates)++;
	pending_send_ack(n, seq, (uint32_t)((uintptr_t)owed - 1));
	return true;
}

struct router_pending *
router_pending_new(struct router_node *origin, const Strata__Publish *p,
    uint32_t partition)
{
	struct strata_message m = {p->topic, strlen(p->topic),
	    p->payload.data, p->payload.len, p->properties.data,
	    p->properties.len, (uint8_t)p->qos, p->retain};
	size_t block = strata_message_block_size(&m);
	size_t client = strlen(p->client_id) + 1;
	size_t node = strlen(origin->node_id) + 1;
	struct router_pending *pd;

	if (pending_seen(origin, p->seq))
		return NULL;
	pd = malloc(sizeof(*pd) + block + client + node);
	if (pd == NULL)
		abort();
	pd->router = origin->router;
	pd->origin = origin;
	pd->seq = p->seq;
	pd->partition = partition;
	pd->waiting = 1; /* the publish path, until it releases */
	pd->reason = STRATA_RC_NO_MATCHING_SUBSCRIBERS;
	pd->msg = strata_message_copy(&m, pd->data);
	pd->origin_client = memcpy(pd->data + block, p->client_id, client);
	pd->origin_node = memcpy(pd->data + block + client, origin->node_id,
	    node);
	pd->origin_boot = origin->boot;
	strata_u64map_put(&origin->pending, p->seq, pd);
	origin->pending_by_part[partition]++;
	origin->router->pending_count++;
	return pd;
}

/* ---- destinations ---- */

static void
pending_ref_settle(struct strata_router *r, struct router_deliver_ref *ref)
{
	strata_list_remove(&ref->node);
	router_pending_release(ref->pd, STRATA_RC_SUCCESS);
	free(ref->target_client);
	free(ref->target_group);
	free(ref);
}

/* ref's node is gone: settled, after a shared subscription's message
 * found another member (the node's members are gone already). */
static void
pending_ref_gone(struct strata_router *r, struct router_deliver_ref *ref)
{
	if (ref->target_group != NULL && !r->stopping)
		(void)router_shares_redeliver(r, ref->pd, ref->target_group);
	pending_ref_settle(r, ref);
}

/* Send the first backlog reference of n; false when the link cannot take
 * it now. */
static bool
pending_send_one(struct router_node *n, struct router_deliver_ref *ref)
{
	struct router_pending *pd = ref->pd;
	Strata__Deliver d = STRATA__DELIVER__INIT;
	int rc;

	d.topic = (char *)pd->msg.topic;
	d.payload.data = (uint8_t *)pd->msg.payload;
	d.payload.len = pd->msg.payload_len;
	d.qos = pd->msg.qos;
	/* as published: the broker clears it for subscriptions without
	 * Retain As Published */
	d.retain = pd->msg.retain;
	d.properties.data = (uint8_t *)pd->msg.props;
	d.properties.len = pd->msg.props_len;
	d.origin_client_id = pd->origin_client;
	d.origin_node = pd->origin_node;
	d.origin_boot = pd->origin_boot;
	d.origin_seq = pd->seq;
	if (ref->target_group != NULL) {
		d.target_client_id = ref->target_client;
		d.target_filter = ref->target_group;
	}
	d.id = n->next_deliver_id + 1;
	rc = strata_link_send(n->link->link, STRATA_LINK_DELIVER, &d.base);
	if (rc != 0)
		return false;
	n->next_deliver_id = d.id;
	ref->id = d.id;
	(*n->router->m.deliveries)++;
	return true;
}

void
router_pending_flush(struct router_node *n)
{
	while (n->link != NULL && !strata_list_empty(&n->backlog)) {
		struct router_deliver_ref *ref = STRATA_CONTAINER_OF(
		    n->backlog.next, struct router_deliver_ref, node);

		if (!pending_send_one(n, ref))
			return;
		strata_list_remove(&ref->node);
		strata_list_push_back(&n->unacked, &ref->node);
		n->n_backlog--;
		n->router->backlog_count--;
	}
}

static void
pending_deliver(struct router_pending *pd, struct router_node *n,
    const char *client_id, const char *group)
{
	struct router_deliver_ref *ref = calloc(1, sizeof(*ref));

	if (ref == NULL)
		abort();
	ref->pd = pd;
	if (group != NULL && ((ref->target_client = strdup(client_id)) ==
	    NULL || (ref->target_group = strdup(group)) == NULL))
		abort();
	pd->waiting++;
	router_pending_set_reason(pd, STRATA_RC_SUCCESS);
	strata_list_push_back(&n->backlog, &ref->node);
	n->n_backlog++;
	n->router->backlog_count++;
	if (n->n_backlog == 1)
		router_pending_flush(n);
}

void
router_pending_deliver(struct router_pending *pd, struct router_node *n)
{
	pending_deliver(pd, n, NULL, NULL);
}

void
router_pending_deliver_to(struct router_pending *pd, struct router_node *n,
    const char *client_id, const char *group)
{
	pending_deliver(pd, n, client_id, group);
}

void
router_pending_deliver_ack(struct router_node *n, uint64_t up_to)
{
	struct strata_router *r = n->router;

	while (!strata_list_empty(&n->unacked)) {
		struct router_deliver_ref *ref = STRATA_CONTAINER_OF(
		    n->unacked.next, struct router_deliver_ref, node);

		if (ref->id > up_to)
			break;
		(*r->m.deliver_acks)++;
		pending_ref_settle(r, ref);
	}
}

void
router_pending_link_down(struct router_node *n)
{
	struct strata_list *last;
	size_t moved = 0;

	/* SENT references go back in front of the backlog, in order */
	while (!strata_list_empty(&n->unacked)) {
		last = n->unacked.prev;
		strata_list_remove(last);
		strata_list_push_front(&n->backlog, last);
		moved++;
	}
	n->n_backlog += moved;
	n->router->backlog_count += moved;
	(*n->router->m.redelivered) += moved;
	n->next_deliver_id = 0;
}

void
router_pending_link_up(struct router_node *n)
{
	struct strata_u64map *owed = &n->owed;

	n->next_deliver_id = 0;
	for (size_t i = 0; owed->cells != NULL && i <= owed->mask; i++)
		if (owed->cells[i].key != 0)
			pending_send_ack(n, owed->cells[i].key,
			    (uint32_t)((uintptr_t)owed->cells[i].value - 1));
	strata_u64map_fini(owed);
	strata_u64map_init(owed);
	router_pending_flush(n);
}

void
router_pending_foreach_waiting(struct router_node *n,
    void (*cb)(struct router_pending *, void *), void *arg)
{
	struct strata_list *lists[2] = {&n->unacked, &n->backlog};

	for (int i = 0; i < 2; i++)
		for (struct strata_list *pos = lists[i]->next;
		    pos != lists[i]; pos = pos->next)
			cb(STRATA_CONTAINER_OF(pos, struct router_deliver_ref,
			    node)->pd, arg);
}

void
router_pending_node_gone(struct router_node *n)
{
	struct strata_router *r = n->router;
	struct strata_u64map *pm = &n->pending;

	/* its own publishes need no ack any more */
	for (size_t i = 0; pm->cells != NULL && i <= pm->mask; i++)
		if (pm->cells[i].key != 0)
			((struct router_pending *)pm->cells[i].value)->origin =
			    NULL;
	strata_u64map_fini(pm);
	strata_u64map_init(pm);
	/* what waited for it will not be taken by it (a shared
	 * subscription's message goes to another member first) */
	while (!strata_list_empty(&n->backlog)) {
		n->n_backlog--;
		r->backlog_count--;
		pending_ref_gone(r, STRATA_CONTAINER_OF(n->backlog.next,
		    struct router_deliver_ref, node));
	}
	while (!strata_list_empty(&n->unacked))
		pending_ref_gone(r, STRATA_CONTAINER_OF(n->unacked.next,
		    struct router_deliver_ref, node));
}

void
router_pending_leave(struct router_node *n, uint32_t part, uint64_t gen)
{
	if (n->pending_by_part[part] == 0) {
		pending_send_leave_ack(n, part, gen);
		return;
	}
	n->leave_gen[part] = gen;
}

void
router_pending_free_all(struct strata_router *r)
{
	/* nodes are freed first (router_nodes_free_all), settling every
	 * reference; what is left waits only for Redis, which is gone */
	if (r->pending_count != 0)
		STRATA_DEBUG("router", "pending publishes at exit|count=%zu",
		    r->pending_count);
}
