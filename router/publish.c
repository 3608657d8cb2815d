/*
 * publish.c - the publish path of the router, one step each:
 *   validate -> partition check -> retain (cache + Redis) -> one Deliver
 *   per destination broker node -> PublishAck to the originating broker
 *   once everything is done (pending.c).
 *
 * Refused (nothing delivered or stored): a Publish that breaks the link's
 * rules (QoS > 2, not a valid topic name: ack 0x90), a retained one
 * over max-retained / max-retained-bytes (ack 0x97), and a QoS 1/2 one
 * of a partition this router does not serve now (PublishAck not_owner:
 * the broker's map is stale, it sends the publish again to the owner).
 *
 * Acknowledgement of a QoS 1/2 publish (Publish.seq != 0): when every
 * broker node with a matching route has taken its Deliver (DeliverAck),
 * and, for a retained publish, Redis has confirmed the HSET/HDEL.  Reason
 * 0 when at least one broker had a matching route, 0x10 (No matching
 * subscribers) when none had; 0x80 (Unspecified error) when the retained
 * write failed: the message was still delivered and the retained state is
 * in this router's cache, but it is not durable, and the publisher is told
 * so.  Acks may overtake each other: the broker matches them by seq.
 *
 * A QoS 1/2 Deliver is never dropped: it waits for a full or dropped link
 * (pending.c).  A QoS 0 Deliver that cannot be queued now (the node's
 * link is down, full, or has QoS 1/2 Delivers waiting) is dropped and
 * counted: QoS 0 is at most once.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "reader.h"
#include "redis.h"
#include "router.h"
#include "status.h"

#define RETAINED_KEY_MAX 32

static void
publish_redis_done(struct strata_redis *redis, redisReply *reply, void *arg)
{
	struct router_pending *pd = arg;
	bool ok = reply != NULL && reply->type != REDIS_REPLY_ERROR;

	if (!ok)
		STRATA_WARN("router", "retained not persisted|error=\"%s\"",
		    reply != NULL ? reply->str : "redis down");
	if (pd != NULL)
		router_pending_release(pd, ok ?
		    STRATA_RC_NO_MATCHING_SUBSCRIBERS : STRATA_RC_UNSPECIFIED);
}

/*
 * Apply the retain flag of m: an empty payload deletes the topic's
 * retained message, anything else replaces it, in the cache now and in
 * Redis.  pd (QoS 1/2) waits for Redis's reply; NULL: nobody waits.
 */
static void
publish_retain(struct strata_router *r, const struct strata_message *m,
    uint32_t partition, struct router_pending *pd)
{
	char key[RETAINED_KEY_MAX];
	const char *argv[4];
	size_t argvlen[4];
	uint8_t *value = NULL;
	int argc = 3;

	snprintf(key, sizeof(key), "strata:retained:%u", partition);
	argv[1] = key;
	argvlen[1] = strlen(key);
	argv[2] = m->topic;
	argvlen[2] = m->topic_len;
	if (m->payload_len == 0) {
		router_retained_delete(&r->retained, m->topic, m->topic_len);
		(*r->m.retained_deleted)++;
		argv[0] = "HDEL";
	} else {
		const struct router_retained_msg *rm = router_retained_put(
		    &r->retained, m, partition, router_now_ms());
		(*r->m.retained_stored)++;
		argv[0] = "HSET";
		argvlen[3] = router_retained_pack(rm, &value);
		argv[3] = (const char *)value;
		argc = 4;
	}
	argvlen[0] = strlen(argv[0]);
	if (pd != NULL) {
		/* the publisher's ack waits for it (and its replicas) */
		router_pending_hold(pd);
		strata_redis_commandv_synced(r->redis, publish_redis_done, pd,
		    argc, argv, argvlen);
	} else {
		strata_redis_commandv(r->redis, publish_redis_done, NULL, argc,
		    argv, argvlen);
	}
	free(value);
}

/* QoS 1/2: one Deliver (sent now or when it can be) per destination. */
static void
publish_deliver_pending(struct strata_router *r, struct router_pending *pd)
{
	const struct strata_message *m = router_pending_message(pd);
	struct router_routes_peer **dest;
	size_t n = router_routes_match(&r->routes, m->topic, m->topic_len,
	    &dest);

	for (size_t i = 0; i < n; i++)
		router_pending_deliver(pd, router_node_of(dest[i]));
}

/* QoS 0: one Deliver per destination that can take it now. */
static size_t
publish_deliver_now(struct strata_router *r, const Strata__Publish *p)
{
	Strata__Deliver d = STRATA__DELIVER__INIT;
	struct router_routes_peer **dest;
	size_t n;

	d.topic = p->topic;
	d.payload = p->payload;
	d.qos = p->qos;
	/* As published: the broker clears it for subscriptions without
	 * Retain As Published. */
	d.retain = p->retain;
	d.properties = p->properties;
	d.origin_client_id = p->client_id;
	n = router_routes_match(&r->routes, p->topic, strlen(p->topic), &dest);
	for (size_t i = 0; i < n; i++) {
		struct router_node *to = router_node_of(dest[i]);

		if (to->n_backlog != 0) /* behind QoS 1/2 that wait */
			(*r->m.drops[ROUTER_DROP_DELIVER_QUEUE_FULL])++;
		else if (router_node_send(to, STRATA_LINK_DELIVER, &d.base,
		    ROUTER_DROP_DELIVER_QUEUE_FULL) == 0)
			(*r->m.deliveries)++;
	}
	return n + router_shares_publish_now(r, p);
}

static void
publish_ack_now(struct router_node *n, uint64_t seq, uint32_t reason)
{
	Strata__PublishAck a = STRATA__PUBLISH_ACK__INIT;

	a.seq = seq;
	a.reason = reason;
	(void)router_node_send(n, STRATA_LINK_PUBLISH_ACK, &a.base,
	    ROUTER_DROP_ACK_QUEUE_FULL);
}

/* Not served here (the partition moved away, or is not loaded yet):
 * nothing done, the broker reads the map again and sends it to the owner.
 * Routing it with this router's routes would miss the subscriptions made
 * since the brokers moved the partition, and acknowledge a message that
 * reached nobody. */
static void
publish_refuse(struct router_node *n, uint64_t seq)
{
	Strata__PublishAck a = STRATA__PUBLISH_ACK__INIT;

	a.seq = seq;
	a.not_owner = true;
	(void)router_node_send(n, STRATA_LINK_PUBLISH_ACK, &a.base,
	    ROUTER_DROP_ACK_QUEUE_FULL);
}

/* A Publish a broker may send: QoS 0..2 and a topic a client could have
 * published to (a valid name of valid UTF-8).  The partition the broker
 * computed must be ours for that topic: a broker whose partition scheme
 * differs is a misconfiguration (the scheme check refuses it at start),
 * counted and logged; the publish is still processed with ours. */
static bool
publish_check(struct router_node *n, const Strata__Publish *p,
    size_t tlen, uint32_t partition)
{
	struct strata_router *r = n->router;
	const uint8_t *t = (const uint8_t *)p->topic;

	if (p->qos > 2 || tlen > UINT16_MAX || !strata_utf8_valid(t, tlen) ||
	    strata_topic_name_check(t, tlen) != 0) {
		router_link_error(r, "invalid publish", n->node_id);
		if (p->seq != 0)
			publish_ack_now(n, p->seq,
			    STRATA_RC_TOPIC_NAME_INVALID);
		return false;
	}
	if (p->partition != partition)
		router_link_error(r, "publish partition differs from ours",
		    n->node_id);
	return true;
}

/* A retained publish that would take the cache past max-retained or
 * max-retained-bytes is refused whole (not delivered either): QoS 1/2
 * publishers get 0x97 Quota exceeded. */
static bool
publish_retain_fits(struct router_node *n, const Strata__Publish *p,
    size_t tlen)
{
	struct strata_router *r = n->router;

	if (!p->retain || p->payload.len == 0 ||
	    router_retained_fits(&r->retained, p->topic, tlen,
	    p->payload.len, p->properties.len))
		return true;
	(*r->m.retained_refused)++;
	strata_log_limited(&r->retained_log, STRATA_LOG_WARN, "router",
	    "retained message refused: over max-retained or "
	    "max-retained-bytes|broker=%s count=%zu bytes=%zu", n->node_id,
	    router_retained_count(&r->retained), r->retained.bytes);
	if (p->seq != 0)
		publish_ack_now(n, p->seq, STRATA_RC_QUOTA_EXCEEDED);
	return false;
}

/* QoS 1/2: through a pending publish, acknowledged when all is done. */
static void
publish_reliable(struct router_node *n, const Strata__Publish *p,
    uint32_t partition)
{
	struct strata_router *r = n->router;
	struct router_pending *pd = router_pending_new(n, p, partition);

	if (pd == NULL)
		return; /* seen before: in progress, or answered again */
	if (p->share_group[0] != '\0') {
		/* a shared subscription's message its member did not take */
		router_shares_redeliver(r, pd, p->share_group);
		router_pending_release(pd, STRATA_RC_NO_MATCHING_SUBSCRIBERS);
		return;
	}
	if (p->retain)
		publish_retain(r, router_pending_message(pd), partition, pd);
	publish_deliver_pending(r, pd);
	router_shares_publish(r, pd);
	router_sessions_publish(r, pd);
	router_pending_release(pd, STRATA_RC_NO_MATCHING_SUBSCRIBERS);
}

void
router_publish_handle(struct router_broker *b, const Strata__Publish *p)
{
	struct strata_router *r = b->router;
	struct router_node *n = b->peer;
	size_t tlen = strlen(p->topic), matched;
	uint32_t partition;

	partition = strata_topic_partition((const uint8_t *)p->topic, tlen,
	    (unsigned)r->cfg.partition_levels);
	if (!publish_check(n, p, tlen, partition))
		return;
	if (!router_partition_serving(r, partition)) {
		(*r->m.not_owned)++;
		STRATA_DEBUG("router", "publish for partition not served|"
		    "partition=%u broker=%s qos=%u", partition, n->node_id,
		    p->qos);
		if (p->seq != 0 && n->protocol >= 3) {
			publish_refuse(n, p->seq);
			return;
		}
		/* QoS 0 (at most once), or a broker of link protocol 2 that
		 * would take a refusal for an ack (a rolling upgrade):
		 * routed with what this router has */
	}
	if (!publish_retain_fits(n, p, tlen))
		return;
	(*r->m.publishes[p->qos])++;
	if (p->seq != 0 && p->qos > 0) {
		publish_reliable(n, p, partition);
		return;
	}
	if (p->share_group[0] != '\0')
		return; /* only QoS 1/2 come back from a member */
	if (p->retain) {
		struct strata_message m = {p->topic, tlen, p->payload.data,
		    p->payload.len, p->properties.data, p->properties.len,
		    (uint8_t)p->qos, true};

		publish_retain(r, &m, partition, NULL);
	}
	matched = publish_deliver_now(r, p);
	if (p->seq != 0)
		publish_ack_now(n, p->seq, matched > 0 ? STRATA_RC_SUCCESS :
		    STRATA_RC_NO_MATCHING_SUBSCRIBERS);
}

struct publish_retained_ctx {
	struct router_broker *b;
	const Strata__RetainedRequest *q;
};

static void
publish_retained_one(const struct router_retained_msg *m, void *arg)
{
	struct publish_retained_ctx *c = arg;
	struct strata_router *r = c->b->router;
	Strata__Deliver d = STRATA__DELIVER__INIT;

	if (!router_partition_owned(r, m->partition))
		return;
	d.topic = (char *)m->topic;
	d.payload.data = (uint8_t *)m->payload;
	d.payload.len = m->payload_len;
	d.qos = m->qos;
	d.retain = true;
	d.properties.data = (uint8_t *)m->props;
	d.properties.len = m->props_len;
	d.target_client_id = c->q->client_id;
	d.target_filter = c->q->filter;
	if (router_brokers_send(c->b, STRATA_LINK_DELIVER, &d.base,
	    ROUTER_DROP_DELIVER_QUEUE_FULL) == 0)
		(*r->m.retained_sent)++;
}

void
router_publish_retained_request(struct router_broker *b,
    const Strata__RetainedRequest *q)
{
	struct strata_router *r = b->router;
	struct publish_retained_ctx c = { b, q };
	size_t flen = strlen(q->filter);

	(*r->m.retained_requests)++;
	if (!strata_utf8_valid((const uint8_t *)q->filter, flen) ||
	    strata_topic_filter_check((const uint8_t *)q->filter, flen) != 0) {
		router_link_error(r, "invalid retained request filter",
		    b->peer->node_id);
		return;
	}
	router_retained_match(
	    &r->retained, q->filter, flen, publish_retained_one, &c);
}
