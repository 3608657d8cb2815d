/*
 * publish.c - inbound PUBLISH (topic aliases, limits, forwarding to the
 * router owning the topic's partition) and the fan-out of a router's
 * Deliver to the local subscribers.
 *
 * How a publish travels: client PUBLISH -> publish_handle (alias, limits,
 * receive maximum, QoS 2 duplicate check) -> broker_routers_publish (seq
 * for QoS 1/2) -> router -> PublishAck -> broker_qos_inbound_acked sends
 * PUBACK / PUBREC.  The router sends one Deliver per broker with local
 * subscribers -> broker_publish_deliver matches the local table, merges
 * the matches per session (max QoS, all subscription identifiers) and
 * sends QoS 0 at once, QoS 1/2 through the session's flow (qos.c).
 *
 * Limits (documented rule):
 *   frame larger than the Maximum Packet Size (max-payload + 68 KiB)
 *     -> MQTT 5 DISCONNECT 0x95, 3.1.1 close (dispatch.c);
 *   payload > max-payload: QoS 1/2 -> PUBACK/PUBREC 0x97 (MQTT 5),
 *     QoS 0 -> DISCONNECT 0x95 (MQTT 5); 3.1.1 close;
 *   topic deeper than max-topic-depth ("$aws/" exempt): QoS 1/2 ->
 *     PUBACK/PUBREC 0x90, QoS 0 -> DISCONNECT 0x90; 3.1.1 close;
 *   Payload Format Indicator 1 and a payload that is not UTF-8: QoS 1/2
 *     -> PUBACK/PUBREC 0x99, QoS 0 -> DISCONNECT 0x99 (MQTT 5 only);
 *   a Subscription Identifier (the server's property) -> DISCONNECT 0x82;
 *   topic alias 0 or above what CONNACK granted -> DISCONNECT 0x94;
 *   a topic under "$aws/events/" (the broker's lifecycle events, events.c)
 *     -> as a policy denial: PUBACK/PUBREC 0x87 (MQTT 5 QoS 1/2), else
 *     DISCONNECT 0x87 / 3.1.1 close;
 *   more QoS 1/2 publishes in flight than the Receive Maximum granted
 *     -> DISCONNECT 0x93;
 *   over throttle-publish-rate: MQTT 5 QoS 1/2 -> PUBACK/PUBREC 0x96,
 *     others slowed (throttle.c).
 * Each refusal says what it refused in its Reason String.
 *
 * Outbound topic aliases (broker -> client, MQTT 5 3.3.2.3.4).  A client
 * whose CONNECT had a Topic Alias Maximum gets aliases for the topics it
 * is sent, at most min(its maximum, topic-alias-out-max), one table per
 * connection (common/topicalias.c; a new connection starts empty, a
 * resumed session too).  The first PUBLISH of a topic carries the topic
 * and its new alias, later ones an empty topic and the alias.  When all
 * aliases are taken, the least recently used one is given to the new
 * topic: a topic sent recently is the likeliest to be sent again, and a
 * replaced alias costs one PUBLISH with its full topic, no more than
 * without aliases.  An alias is left out when the PUBLISH with it would
 * exceed the client's Maximum Packet Size (the topic goes in full).  The
 * topic is hashed once per message, not per recipient.
 */
#include <stdlib.h>
#include <string.h>

#include "broker.h"


struct broker_msg *
broker_msg_new(const struct strata_message *v)
{
	struct broker_msg *m = malloc(sizeof(*m) +
	    strata_message_block_size(v));
	struct strata_message c;

	if (m == NULL)
		abort();
	c = strata_message_copy(v, m->data);
	m->refs = 1;
	m->qos = v->qos;
	m->retain = v->retain;
	m->topic_len = (uint32_t)v->topic_len;
	m->payload_len = (uint32_t)v->payload_len;
	m->props_len = (uint32_t)v->props_len;
	m->received_ms = broker_now_ms();
	m->topic_hash = 0;
	m->topic = (char *)c.topic;
	m->payload = (uint8_t *)c.payload;
	m->props = (uint8_t *)c.props;
	return m;
}

/* The view of a message (for forwarding, copying). */
struct strata_message
broker_msg_view(const struct broker_msg *m)
{
	struct strata_message v = {m->topic, m->topic_len, m->payload,
	    m->payload_len, m->props, m->props_len, m->qos, m->retain};

	return v;
}

/* The largest Remaining Length MQTT can encode, less room for the fixed
 * part of a PUBLISH (packet id, property length, subscription ids). */
#define PUBLISH_MAX_BODY (268435455u - 64u)

bool
broker_msg_valid(const char *topic, size_t topic_len, size_t payload_len,
    size_t props_len)
{
	const uint8_t *t = (const uint8_t *)topic;

	if (topic_len == 0 || topic_len > UINT16_MAX ||
	    !strata_utf8_valid(t, topic_len) ||
	    strata_topic_name_check(t, topic_len) != 0)
		return false;
	return payload_len <= PUBLISH_MAX_BODY &&
	    props_len <= PUBLISH_MAX_BODY - payload_len &&
	    topic_len + 2 <= PUBLISH_MAX_BODY - payload_len - props_len;
}

void
broker_msg_unref(struct broker_msg *m)
{
	if (m != NULL && --m->refs == 0)
		free(m);
}

void
broker_alias_free(struct broker_conn *c)
{
	uint32_t i;

	if (c->aliases == NULL)
		return;
	for (i = 0; i <= c->alias_max; i++)
		free(c->aliases[i]);
	free(c->aliases);
	c->aliases = NULL;
}

/* Resolve or record a topic alias (MQTT 5 3.3.2.3.4). */
static int
publish_alias(struct broker_conn *c, const struct strata_mqtt_props *pr,
    struct strata_bytes *topic)
{
	uint16_t alias = pr->topic_alias;
	char **slot;

	if (!(pr->present & STRATA_PROP_BIT(STRATA_PROP_TOPIC_ALIAS)))
		return topic->len > 0 ? 0 :
		    STRATA_ERR(STRATA_RC_PROTOCOL_ERROR);
	if (alias == 0 || alias > c->alias_max) {
		broker_why(c->broker, "topic alias %u over the Topic Alias "
		    "Maximum (%u)", alias, c->alias_max);
		return STRATA_ERR(STRATA_RC_TOPIC_ALIAS_INVALID);
	}
	if (c->aliases == NULL) {
		c->aliases = calloc((size_t)c->alias_max + 1, sizeof(char *));
		if (c->aliases == NULL)
			abort();
	}
	slot = &c->aliases[alias];
	if (topic->len == 0) {
		if (*slot == NULL) {
			broker_why(c->broker, "topic alias %u has no topic",
			    alias);
			return STRATA_ERR(STRATA_RC_PROTOCOL_ERROR);
		}
		topic->p = (const uint8_t *)*slot;
		topic->len = (uint32_t)strlen(*slot);
		return 0;
	}
	free(*slot);
	*slot = strndup((const char *)topic->p, topic->len);
	if (*slot == NULL)
		abort();
	return 0;
}

/* A publish refused for a limit (broker_why() said which): MQTT 5 QoS
 * 1/2 get an ack with the reason, anything else is a protocol-level
 * refusal (disconnect). */
static int
publish_refuse(struct broker_conn *c, const struct strata_mqtt_publish *pub,
    uint8_t reason)
{
	struct strata_broker *b = c->broker;

	if (c->version != STRATA_MQTT_V5 || pub->qos == 0)
		return STRATA_ERR(reason == STRATA_RC_QUOTA_EXCEEDED ?
		    STRATA_RC_PACKET_TOO_LARGE : reason);
	broker_refuse(b, c, reason, b->why);
	broker_send_ack(c, pub->qos == 1 ? STRATA_MQTT_PUBACK :
	    STRATA_MQTT_PUBREC, pub->packet_id, reason, b->why);
	b->why[0] = '\0';
	return 0;
}

/* iot:Publish (and iot:RetainPublish for a retained message) on the
 * topic, under the connection's policies. */
static int
publish_authorized(struct broker_conn *c,
    const struct strata_mqtt_publish *pub, struct strata_bytes topic)
{
	const char *t = (const char *)topic.p;

	if (strata_lifecycle_reserved(t, topic.len)) {
		broker_why(c->broker, "topic/%.*s is reserved for the broker's "
		    "events", (int)topic.len, t);
		return publish_refuse(c, pub, STRATA_RC_NOT_AUTHORIZED);
	}
	if (broker_fleet_answer_topic(topic.p, topic.len)) {
		broker_why(c->broker, "topic/%.*s is reserved for the fleet "
		    "provisioning service's answers", (int)topic.len, t);
		return publish_refuse(c, pub, STRATA_RC_NOT_AUTHORIZED);
	}
	if (!broker_device_allowed(c, STRATA_IOT_PUBLISH, t, topic.len)) {
		broker_why(c->broker, "iot:Publish on topic/%.*s denied",
		    (int)topic.len, t);
		return publish_refuse(c, pub, STRATA_RC_NOT_AUTHORIZED);
	}
	if (pub->retain && !broker_device_allowed(c,
	    STRATA_IOT_RETAIN_PUBLISH, t, topic.len)) {
		broker_why(c->broker, "iot:RetainPublish on topic/%.*s "
		    "denied", (int)topic.len, t);
		return publish_refuse(c, pub, STRATA_RC_NOT_AUTHORIZED);
	}
	return 1;
}

/* The limits a PUBLISH (its topic resolved) must keep. */
static int
publish_check(struct broker_conn *c, const struct strata_mqtt_packet *p,
    struct strata_bytes topic)
{
	const struct strata_mqtt_publish *pub = &p->u.publish;
	const struct broker_config *cfg = &c->broker->cfg;

	if (pub->payload.len > (uint32_t)cfg->max_payload) {
		broker_why(c->broker, "payload over max-payload (%ld)",
		    cfg->max_payload);
		return publish_refuse(c, pub, STRATA_RC_QUOTA_EXCEEDED);
	}
	if (broker_topic_too_deep(cfg, topic.p, topic.len)) {
		broker_why(c->broker, "topic over max-topic-depth (%ld)",
		    cfg->max_topic_depth);
		return publish_refuse(c, pub, STRATA_RC_TOPIC_NAME_INVALID);
	}
	if (strata_mqtt_payload_format_check(&p->props, pub->payload) != 0) {
		broker_why(c->broker, "payload not UTF-8 (Payload Format "
		    "Indicator 1)");
		return publish_refuse(c, pub,
		    STRATA_RC_PAYLOAD_FORMAT_INVALID);
	}
	return publish_authorized(c, pub, topic);
}

bool
broker_topic_too_deep(const struct broker_config *cfg, const uint8_t *p,
    size_t len)
{
	if (len >= 5 && memcmp(p, "$aws/", 5) == 0)
		return false;
	return strata_topic_depth(p, len) > (unsigned)cfg->max_topic_depth;
}

/* Properties forwarded to the router: the PUBLISH's own minus the alias.
 * Written into the scratch buffer; *len is 0 when there are none. */
static const uint8_t *
publish_props(struct broker_conn *c, const struct strata_mqtt_props *in,
    size_t *len)
{
	struct strata_mqtt_props pr = *in;
	uint8_t *buf;
	size_t size;

	*len = 0;
	pr.present &= ~STRATA_PROP_BIT(STRATA_PROP_TOPIC_ALIAS);
	if (c->version != STRATA_MQTT_V5 ||
	    (pr.present == 0 && pr.n_user_props == 0))
		return NULL;
	size = strata_mqtt_props_size(&pr);
	if (size == 0)
		return NULL;
	buf = broker_scratch(c->broker, size + 4);
	strata_mqtt_props_write(&pr, buf);
	*len = size;
	return buf + strata_varint_size((uint32_t)size);
}

/* QoS 1/2 bookkeeping before forwarding.  Returns 1 when the publish is
 * a QoS 2 duplicate that must not be forwarded again. */
static int
publish_inbound_flow(struct broker_conn *c,
    const struct strata_mqtt_publish *pub)
{
	struct broker_session *s = c->session;
	struct broker_qos2_in *q;

	if (pub->qos == 2 && (q = broker_qos2_find(s, pub->packet_id))) {
		if (q->acked)
			broker_send_ack(c, STRATA_MQTT_PUBREC, pub->packet_id,
			    STRATA_RC_SUCCESS, NULL);
		return 1;
	}
	if ((long)s->in_pending + s->n_qos2_in >=
	    c->broker->cfg.max_inflight) {
		broker_why(c->broker, "more QoS 1/2 publishes unacknowledged "
		    "than the Receive Maximum (%ld)",
		    c->broker->cfg.max_inflight);
		return STRATA_ERR(STRATA_RC_RECEIVE_MAX_EXCEEDED);
	}
	if (pub->qos == 2)
		broker_qos2_add(s, pub->packet_id);
	else if (pub->qos == 1)
		s->in_pending++;
	return 0;
}

/* The fleet provisioning API's request: acknowledged at once, served by
 * this broker (fleet.c), never routed (its answers carry private keys). */
static int
publish_fleet(struct broker_conn *c, const struct strata_mqtt_publish *pub,
    struct strata_bytes topic)
{
	if (pub->qos > 0)
		broker_qos_inbound_acked(c->broker, c->session->incarnation,
		    pub->packet_id, pub->qos, STRATA_RC_SUCCESS);
	broker_fleet_handle(c, topic, pub->payload);
	return 0;
}

int
broker_publish_handle(struct broker_conn *c,
    const struct strata_mqtt_packet *p)
{
	const struct strata_mqtt_publish *pub = &p->u.publish;
	struct strata_bytes topic = pub->topic;
	struct broker_origin from;
	struct strata_message msg;
	const uint8_t *props = NULL;
	size_t props_len = 0;
	int rc;

	/* MQTT 5.0 3.3.4: a Subscription Identifier is the server's to
	 * send; from a client it is a Protocol Error */
	if (p->props.n_sub_ids > 0) {
		broker_why(c->broker, "Subscription Identifier in PUBLISH");
		return STRATA_ERR(STRATA_RC_PROTOCOL_ERROR);
	}
	if (c->version == STRATA_MQTT_V5) {
		rc = publish_alias(c, &p->props, &topic);
		if (rc != 0)
			return rc;
	}
	rc = broker_throttle_publish(c, pub->qos);
	if (rc == 1)
		return publish_refuse(c, pub, STRATA_RC_MESSAGE_RATE_TOO_HIGH);
	if (rc == 2)
		return 0;
	rc = publish_check(c, p, topic);
	if (rc <= 0)
		return rc;
	rc = publish_inbound_flow(c, pub);
	if (rc != 0)
		return rc > 0 ? 0 : rc;
	if (broker_fleet_topic(topic.p, topic.len))
		return publish_fleet(c, pub, topic);
	props = publish_props(c, &p->props, &props_len);
	broker_devstats_in(c, topic.len + pub->payload.len + props_len);
	from.client_id = c->session->client_id;
	from.incarnation = c->session->incarnation;
	from.packet_id = pub->packet_id;
	from.share_group = NULL;
	msg.topic = (const char *)topic.p;
	msg.topic_len = topic.len;
	msg.payload = pub->payload.p;
	msg.payload_len = pub->payload.len;
	msg.props = props;
	msg.props_len = props_len;
	msg.qos = pub->qos;
	msg.retain = pub->retain;
	rc = broker_routers_publish(c->broker, &from, &msg);
	if (rc == STRATA_ENOSPC)
		broker_conn_pause(c);
	return 0;
}

/* Message Expiry Interval left, or -1 when the message expired: the
 * whole seconds it waited in this broker are taken off (MQTT 5.0
 * 3.3.2.3.3), so what is left is rounded up and is at least 1 while the
 * message lives; an interval of 0 is a lifetime of none.  Time spent
 * before this broker had the message is not known to it (the router
 * passes it on at once). */
static int64_t
publish_expiry_left(const struct broker_msg *m,
    const struct strata_mqtt_props *pr)
{
	uint64_t waited;

	if (!(pr->present & STRATA_PROP_BIT(STRATA_PROP_MESSAGE_EXPIRY)))
		return 0;
	waited = (broker_now_ms() - m->received_ms) / 1000;
	if (waited >= pr->message_expiry)
		return -1;
	return (int64_t)(pr->message_expiry - waited);
}

/*
 * Give the PUBLISH pkt of m, about to be sent on c, its outbound topic
 * alias: the topic's own (topic left empty), or a new one (the topic
 * stays, see the top of the file).  Nothing changes when the alias would
 * make the packet exceed the client's Maximum Packet Size.
 */
static void
publish_alias_out(struct broker_conn *c, struct broker_msg *m,
    struct strata_mqtt_packet *pkt)
{
	uint64_t bit = STRATA_PROP_BIT(STRATA_PROP_TOPIC_ALIAS);
	uint16_t alias;

	if (c->aliases_out == NULL)
		c->aliases_out = strata_topicalias_new(c->alias_out_max);
	if (m->topic_hash == 0)
		m->topic_hash = strata_hash_bytes(m->topic, m->topic_len) | 1;
	alias = strata_topicalias_lookup(c->aliases_out, m->topic,
	    m->topic_len, m->topic_hash);
	pkt->props.present |= bit;
	pkt->props.topic_alias = alias != 0 ? alias : 1; /* same size */
	if (alias != 0)
		pkt->u.publish.topic.len = 0;
	if (c->max_packet != 0 &&
	    strata_mqtt_encoded_size(pkt, STRATA_MQTT_V5) > c->max_packet) {
		pkt->props.present &= ~bit;
		pkt->u.publish.topic.len = m->topic_len;
		return;
	}
	if (alias == 0)
		pkt->props.topic_alias = strata_topicalias_assign(
		    c->aliases_out, m->topic, m->topic_len, m->topic_hash);
}

/* An in-process session's PUBLISH: the message's User Properties and one
 * more, BROKER_ORIGIN_PROPERTY = the publisher's client id. */
static int
publish_write_origin(struct broker_conn *c, struct strata_mqtt_packet *pkt,
    uint8_t qos)
{
	const char *id = c->broker->cur_origin;
	size_t kl = sizeof(BROKER_ORIGIN_PROPERTY) - 1, vl = strlen(id);
	size_t old = pkt->props.user_src.len, n = old + 5 + kl + vl;
	uint8_t *block = malloc(n);
	int rc;

	if (block == NULL)
		abort();
	if (old > 0)
		memcpy(block, pkt->props.user_src.p, old);
	block[old] = STRATA_PROP_USER_PROPERTY;
	block[old + 1] = (uint8_t)(kl >> 8);
	block[old + 2] = (uint8_t)kl;
	memcpy(block + old + 3, BROKER_ORIGIN_PROPERTY, kl);
	block[old + 3 + kl] = (uint8_t)(vl >> 8);
	block[old + 4 + kl] = (uint8_t)vl;
	memcpy(block + old + 5 + kl, id, vl);
	pkt->props.user_src = (struct strata_bytes){block, n};
	pkt->props.n_user_props++;
	rc = broker_conn_send(c, pkt);
	free(block);
	if (rc != 0)
		return STRATA_ENOSPC;
	(*c->broker->m.delivered[qos])++;
	return 0;
}

int
broker_publish_write(struct broker_conn *c, struct broker_msg *m,
    uint8_t qos, bool retain, bool dup, uint16_t packet_id,
    uint8_t n_sub_ids, const uint32_t *sub_ids)
{
	struct strata_mqtt_packet pkt;
	int64_t left;

	if (c->auth != NULL && !broker_device_allowed(c, STRATA_IOT_RECEIVE,
	    m->topic, m->topic_len))
		return STRATA_EPERM;
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = STRATA_MQTT_PUBLISH;
	pkt.u.publish.qos = qos;
	pkt.u.publish.dup = dup;
	pkt.u.publish.retain = retain;
	pkt.u.publish.packet_id = packet_id;
	pkt.u.publish.topic.p = (const uint8_t *)m->topic;
	pkt.u.publish.topic.len = m->topic_len;
	pkt.u.publish.payload.p = m->payload;
	pkt.u.publish.payload.len = m->payload_len;
	/* expired messages are not sent, to 3.1.1 clients neither; the
	 * properties only go out in MQTT 5 */
	if (m->props_len > 0 && strata_mqtt_props_parse(m->props,
	    m->props_len, STRATA_MQTT_PUBLISH, &pkt.props) != 0)
		memset(&pkt.props, 0, sizeof(pkt.props));
	left = publish_expiry_left(m, &pkt.props);
	if (left < 0)
		return STRATA_ENOTFOUND;
	if (left > 0)
		pkt.props.message_expiry = (uint32_t)left;
	if (c->version == STRATA_MQTT_V5) {
		if (n_sub_ids > 0) {
			pkt.props.present |= STRATA_PROP_BIT(
			    STRATA_PROP_SUBSCRIPTION_ID);
			pkt.props.n_sub_ids = n_sub_ids;
			memcpy(pkt.props.sub_ids, sub_ids,
			    n_sub_ids * sizeof(uint32_t));
		}
		if (c->alias_out_max > 0)
			publish_alias_out(c, m, &pkt);
	}
	if (c->internal && c->broker->cur_origin != NULL)
		return publish_write_origin(c, &pkt, qos);
	if (broker_conn_send(c, &pkt) != 0)
		return STRATA_ENOSPC;
	(*c->broker->m.delivered[qos])++;
	broker_devstats_out(c, m->topic_len + m->payload_len + m->props_len);
	return 0;
}

void
broker_publish_to_session(struct broker_session *s, struct broker_msg *m,
    uint8_t qos, bool retain, uint8_t n_sub_ids, const uint32_t *sub_ids)
{
	struct broker_conn *c = s->conn;
	int rc;

	if (qos > 0) {
		broker_qos_enqueue(s, m, qos, retain, n_sub_ids, sub_ids);
		return;
	}
	if (c == NULL || c->state != CONN_ACTIVE)
		return;
	/* QoS 0 to a slow client is dropped past half the output bound;
	 * the bound itself disconnects (conn.c) */
	if (broker_conn_output_len(c) >
	    (size_t)s->broker->cfg.max_output_bytes / 2) {
		broker_drop(s->broker, "slow_client");
		return;
	}
	if (c->internal && s->broker->cur_deliver != NULL)
		s->broker->cur_origin =
		    s->broker->cur_deliver->origin_client_id;
	rc = broker_publish_write(c, m, 0, retain, false, 0, n_sub_ids,
	    sub_ids);
	s->broker->cur_origin = NULL;
	if (rc != 0)
		broker_drop(s->broker, broker_drop_reason(rc));
}

/* ---- Deliver fan-out ---- */

struct publish_fanout_ctx {
	struct strata_broker *b;
	const Strata__Deliver *d;
};

static struct broker_fanout *
publish_fanout_slot(struct strata_broker *b, struct broker_session *s)
{
	struct broker_fanout *f;

	if (s->fanout_gen == b->fanout_gen)
		return &b->fanout[s->fanout_idx];
	if (b->n_fanout == b->cap_fanout) {
		b->cap_fanout = b->cap_fanout ? b->cap_fanout * 2 : 64;
		b->fanout = realloc(b->fanout,
		    b->cap_fanout * sizeof(*b->fanout));
		if (b->fanout == NULL)
			abort();
	}
	s->fanout_gen = b->fanout_gen;
	s->fanout_idx = b->n_fanout;
	f = &b->fanout[b->n_fanout++];
	memset(f, 0, sizeof(*f));
	f->session = s;
	return f;
}

static void
publish_fanout_cb(const char *filter, size_t flen, void *value, void *arg)
{
	struct publish_fanout_ctx *ctx = arg;
	struct broker_filter *bf = value;
	const Strata__Deliver *d = ctx->d;
	struct strata_list *pos;

	if (broker_share_filter(filter, flen))
		return; /* the routers pick one member (shares.c) */
	for (pos = bf->subs.next; pos != &bf->subs; pos = pos->next) {
		struct broker_sub *sub = STRATA_CONTAINER_OF(pos,
		    struct broker_sub, filter_node);
		struct broker_fanout *f;
		uint8_t qos = STRATA_SUBOPT_QOS(sub->options);

		if ((sub->options & STRATA_SUBOPT_NO_LOCAL) &&
		    strcmp(sub->session->client_id, d->origin_client_id) == 0)
			continue;
		f = publish_fanout_slot(ctx->b, sub->session);
		if (qos > f->qos)
			f->qos = qos;
		if ((sub->options & STRATA_SUBOPT_RETAIN_AS_PUBLISHED) &&
		    d->retain)
			f->retain = true;
		if (sub->sub_id == 0)
			continue;
		if (f->n_sub_ids < STRATA_MQTT_MAX_SUB_IDS)
			f->sub_ids[f->n_sub_ids++] = sub->sub_id;
		else
			f->per_sub = true;
	}
}

/* A view of the Deliver as a message (no copy, refs 0). */
static void
publish_view(struct broker_msg *v, const Strata__Deliver *d)
{
	memset(v, 0, sizeof(*v));
	v->qos = (uint8_t)(d->qos > 2 ? 2 : d->qos);
	v->retain = d->retain;
	v->topic = d->topic;
	v->topic_len = (uint32_t)strlen(d->topic);
	v->payload = d->payload.data;
	v->payload_len = (uint32_t)d->payload.len;
	v->props = d->properties.data;
	v->props_len = (uint32_t)d->properties.len;
	v->received_ms = broker_now_ms();
}

/* Send to one recipient; QoS 1/2 need an owned copy, made once. */
static void
publish_send_one(struct broker_session *s, struct broker_msg *view,
    struct broker_msg **owned, uint8_t qos, bool retain, uint8_t n_ids,
    const uint32_t *ids)
{
	if (qos > view->qos)
		qos = view->qos;
	if (qos > 0 && *owned == NULL) {
		struct strata_message v = broker_msg_view(view);

		*owned = broker_msg_new(&v);
	}
	broker_publish_to_session(s, qos > 0 ? *owned : view, qos, retain,
	    n_ids, ids);
}

/* Retained message for one subscription of one client. */
static void
publish_deliver_retained(struct strata_broker *b, const Strata__Deliver *d,
    struct broker_msg *view, struct broker_msg **owned)
{
	struct broker_session *s = broker_session_find(b, d->target_client_id,
	    strlen(d->target_client_id));
	struct broker_sub *sub;

	if (s == NULL)
		return;
	sub = broker_sub_find(s, d->target_filter, strlen(d->target_filter));
	if (sub == NULL)
		return;
	publish_send_one(s, view, owned, STRATA_SUBOPT_QOS(sub->options), true,
	    sub->sub_id != 0 ? 1 : 0, &sub->sub_id);
}

/*
 * More matching subscriptions with identifiers than one PUBLISH carries
 * here (STRATA_MQTT_MAX_SUB_IDS): one copy per matching subscription,
 * each with that subscription's QoS and identifier (MQTT-3.3.4-5), rather
 * than one copy missing identifiers (MQTT-3.3.4-4).
 */
static void
publish_send_per_sub(struct broker_session *s, const Strata__Deliver *d,
    struct broker_msg *view, struct broker_msg **owned)
{
	struct strata_list *pos;

	for (pos = s->subs.next; pos != &s->subs; pos = pos->next) {
		struct broker_sub *sub = STRATA_CONTAINER_OF(pos,
		    struct broker_sub, session_node);
		const struct broker_filter *bf = sub->filter;

		if (broker_share_filter(bf->name, bf->len) ||
		    !strata_topic_match((const uint8_t *)bf->name, bf->len,
		    (const uint8_t *)view->topic, view->topic_len) ||
		    ((sub->options & STRATA_SUBOPT_NO_LOCAL) &&
		    strcmp(s->client_id, d->origin_client_id) == 0))
			continue;
		publish_send_one(s, view, owned,
		    STRATA_SUBOPT_QOS(sub->options), d->retain &&
		    (sub->options & STRATA_SUBOPT_RETAIN_AS_PUBLISHED),
		    sub->sub_id != 0 ? 1 : 0, &sub->sub_id);
	}
}

void
broker_publish_deliver(struct strata_broker *b, const Strata__Deliver *d)
{
	struct publish_fanout_ctx ctx = {b, d};
	struct broker_msg view, *owned = NULL;
	uint32_t i;

	if (!broker_msg_valid(d->topic, strlen(d->topic), d->payload.len,
	    d->properties.len)) {
		broker_link_error(b, "invalid Deliver");
		return;
	}
	if (d->qos == 2 && d->origin_seq != 0 && d->origin_node[0] != '\0' &&
	    broker_dedup_seen(b, d->origin_node, d->origin_boot,
	    d->origin_seq)) {
		(*b->m.deliver_duplicates)++;
		return; /* taken again, delivered once */
	}
	publish_view(&view, d);
	b->cur_deliver = d; /* names what persistent sessions store */
	if (d->target_client_id != NULL && d->target_client_id[0] != '\0' &&
	    broker_share_filter(d->target_filter, strlen(d->target_filter))) {
		broker_shares_deliver(b, d, &view, &owned);
		broker_msg_unref(owned);
		b->cur_deliver = NULL;
		return;
	}
	if (d->target_client_id != NULL && d->target_client_id[0] != '\0') {
		publish_deliver_retained(b, d, &view, &owned);
		broker_msg_unref(owned);
		b->cur_deliver = NULL;
		return;
	}
	b->fanout_gen++;
	b->n_fanout = 0;
	strata_subtree_match(b->subs, d->topic, view.topic_len,
	    publish_fanout_cb, &ctx);
	for (i = 0; i < b->n_fanout; i++) {
		struct broker_fanout *f = &b->fanout[i];

		if (f->per_sub)
			publish_send_per_sub(f->session, d, &view, &owned);
		else
			publish_send_one(f->session, &view, &owned, f->qos,
			    f->retain, f->n_sub_ids, f->sub_ids);
	}
	broker_msg_unref(owned);
	b->cur_deliver = NULL;
}
