/*
 * publish.c - the publish path of the router, one step each:
 *   validate -> partition check -> retain (cache + Redis) -> one Deliver
 *   per destination broker -> PublishAck to the originating broker.
 *
 * Refused (nothing delivered or stored): a Publish that breaks the link's
 * rules (QoS > 2, not a valid topic name: ack 0x90), and a retained one
 * over max-retained / max-retained-bytes (ack 0x97).
 *
 * Acknowledgement (Publish.seq != 0): reason 0 when at least one broker
 * had a matching route, 0x10 (No matching subscribers) when none had.
 * For a retained publish of QoS >= 1 the ack waits for Redis to confirm
 * the HSET/HDEL; if Redis fails or is down the ack carries 0x80
 * (Unspecified error): the message was still delivered to the brokers and
 * the retained state is in this router's cache, but it is not durable, and
 * the publisher is told so.  Acks may therefore overtake each other: the
 * broker matches them by seq.
 *
 * A Deliver that cannot be queued (the broker's link is over its queue
 * bound, or down) is dropped and counted; the publish is still acked.  Not
 * built yet: holding the ack until every destination has taken the Deliver
 * (guarantee 1 for slow brokers) and offline queues of persistent sessions.
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

/* A PublishAck that waits for Redis. */
struct publish_pending_ack {
	struct strata_router *router;
	uint64_t broker_id; /* the broker may be gone when Redis answers */
	uint64_t seq;
	uint32_t reason;
};

static void
publish_ack(struct router_broker *b, uint64_t seq, uint32_t reason)
{
	struct router_metrics *m = &b->router->m;
	Strata__PublishAck a = STRATA__PUBLISH_ACK__INIT;

	a.seq = seq;
	a.reason = reason;
	if (router_brokers_send(b, STRATA_LINK_PUBLISH_ACK, &a.base,
	    ROUTER_DROP_ACK_QUEUE_FULL) != 0)
		return;
	if (reason == STRATA_RC_SUCCESS)
		(*m->acks_success)++;
	else if (reason == STRATA_RC_NO_MATCHING_SUBSCRIBERS)
		(*m->acks_no_subscribers)++;
	else
		(*m->acks_error)++;
}

static void
publish_redis_done(struct strata_redis *redis, redisReply *reply, void *arg)
{
	struct publish_pending_ack *pa = arg;
	struct strata_router *r = pa->router;
	struct router_broker *b;
	bool ok = reply != NULL && reply->type != REDIS_REPLY_ERROR;

	if (!ok)
		STRATA_WARN("router", "retained not persisted|error=\"%s\"",
		    reply != NULL ? reply->str : "redis down");
	if (pa->seq != 0) {
		b = router_brokers_find(r, pa->broker_id);
		if (b == NULL)
			(*r->m.drops[ROUTER_DROP_ACK_BROKER_GONE])++;
		else
			publish_ack(b, pa->seq, ok ? pa->reason :
			    STRATA_RC_UNSPECIFIED);
	}
	free(pa);
}

/*
 * Apply the retain flag: an empty payload deletes the topic's retained
 * message, anything else replaces it, in the cache now and in Redis.
 * Returns the pending ack the Redis reply completes (NULL: none).
 */
static struct publish_pending_ack *
publish_retain(struct router_broker *b, const Strata__Publish *p,
    uint32_t partition)
{
	struct strata_router *r = b->router;
	struct publish_pending_ack *pa = calloc(1, sizeof(*pa));
	char key[RETAINED_KEY_MAX];
	size_t tlen = strlen(p->topic);
	const char *argv[4];
	size_t argvlen[4];
	uint8_t *value = NULL;
	int argc = 3;

	if (pa == NULL)
		abort();
	pa->router = r;
	pa->broker_id = b->id;
	pa->seq = p->qos >= 1 ? p->seq : 0;
	snprintf(key, sizeof(key), "strata:retained:%u", partition);
	argv[1] = key;
	argvlen[1] = strlen(key);
	argv[2] = p->topic;
	argvlen[2] = tlen;
	if (p->payload.len == 0) {
		router_retained_delete(&r->retained, p->topic, tlen);
		(*r->m.retained_deleted)++;
		argv[0] = "HDEL";
	} else {
		struct strata_message v = {p->topic, tlen, p->payload.data,
		    p->payload.len, p->properties.data, p->properties.len,
		    (uint8_t)p->qos, true};
		const struct router_retained_msg *m = router_retained_put(
		    &r->retained, &v, partition, router_now_ms());
		(*r->m.retained_stored)++;
		argv[0] = "HSET";
		argvlen[3] = router_retained_pack(m, &value);
		argv[3] = (const char *)value;
		argc = 4;
	}
	argvlen[0] = strlen(argv[0]);
	strata_redis_commandv(r->redis, publish_redis_done, pa, argc, argv,
	    argvlen);
	free(value);
	return pa->seq != 0 ? pa : NULL;
}

/* One Deliver per destination broker; returns how many had a route. */
static size_t
publish_deliver(struct strata_router *r, const Strata__Publish *p)
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
		struct router_broker *to = STRATA_CONTAINER_OF(dest[i],
		    struct router_broker, routes);

		if (router_brokers_send(to, STRATA_LINK_DELIVER, &d.base,
		    ROUTER_DROP_DELIVER_QUEUE_FULL) == 0)
			(*r->m.deliveries)++;
	}
	return n;
}

/* A Publish a broker may send: QoS 0..2 and a topic a client could have
 * published to (a valid name of valid UTF-8).  The partition the broker
 * computed must be ours for that topic: a broker whose partition scheme
 * differs is a misconfiguration (the scheme check refuses it at start),
 * counted and logged; the publish is still processed with ours. */
static bool
publish_check(struct router_broker *b, const Strata__Publish *p,
    size_t tlen, uint32_t partition)
{
	struct strata_router *r = b->router;
	const uint8_t *t = (const uint8_t *)p->topic;

	if (p->qos > 2 || tlen > UINT16_MAX || !strata_utf8_valid(t, tlen) ||
	    strata_topic_name_check(t, tlen) != 0) {
		router_link_error(r, "invalid publish", b->node_id);
		if (p->seq != 0)
			publish_ack(b, p->seq, STRATA_RC_TOPIC_NAME_INVALID);
		return false;
	}
	if (p->partition != partition)
		router_link_error(r, "publish partition differs from ours",
		    b->node_id);
	return true;
}

/* A retained publish that would take the cache past max-retained or
 * max-retained-bytes is refused whole (not delivered either): QoS 1/2
 * publishers get 0x97 Quota exceeded. */
static bool
publish_retain_fits(struct router_broker *b, const Strata__Publish *p,
    size_t tlen)
{
	struct strata_router *r = b->router;

	if (!p->retain || p->payload.len == 0 ||
	    router_retained_fits(&r->retained, p->topic, tlen,
	    p->payload.len, p->properties.len))
		return true;
	(*r->m.retained_refused)++;
	strata_log_limited(&r->retained_log, STRATA_LOG_WARN, "router",
	    "retained message refused: over max-retained or "
	    "max-retained-bytes|broker=%s count=%zu bytes=%zu", b->node_id,
	    router_retained_count(&r->retained), r->retained.bytes);
	if (p->seq != 0)
		publish_ack(b, p->seq, STRATA_RC_QUOTA_EXCEEDED);
	return false;
}

void
router_publish_handle(struct router_broker *b, const Strata__Publish *p)
{
	struct strata_router *r = b->router;
	size_t tlen = strlen(p->topic);
	struct publish_pending_ack *pa = NULL;
	uint32_t partition;
	size_t matched;

	partition = strata_topic_partition((const uint8_t *)p->topic, tlen,
	    (unsigned)r->cfg.partition_levels);
	if (!publish_check(b, p, tlen, partition) ||
	    !publish_retain_fits(b, p, tlen))
		return;
	if (!router_partition_owned(r, partition)) {
		/* Processed anyway: a broker with a stale partition map must
		 * not lose the message (see partition.c). */
		(*r->m.not_owned)++;
		STRATA_DEBUG("router", "publish for partition not owned|"
		    "partition=%u broker=%s", partition, b->node_id);
	}
	(*r->m.publishes[p->qos])++;
	if (p->retain)
		pa = publish_retain(b, p, partition);
	matched = publish_deliver(r, p);
	if (pa != NULL)
		pa->reason = matched > 0 ? STRATA_RC_SUCCESS :
		    STRATA_RC_NO_MATCHING_SUBSCRIBERS;
	else if (p->seq != 0)
		publish_ack(b, p->seq, matched > 0 ? STRATA_RC_SUCCESS :
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
		    b->node_id);
		return;
	}
	router_retained_match(
	    &r->retained, q->filter, flen, publish_retained_one, &c);
}
