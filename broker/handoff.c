/*
 * handoff.c - a persistent session to and from the strata.Session
 * protobuf that moves it between brokers (cluster.c stores it in Redis).
 *
 * Packed: expiry, next packet id, subscriptions (filter, options byte,
 * subscription id), outbound QoS 1/2 messages in flight (with state and
 * packet id) then queued, in order, and the inbound QoS 2 packet ids
 * awaiting PUBREL.  Messages carry their age so Message Expiry keeps
 * counting across brokers (no clocks compared).  Not packed: inbound QoS
 * 1 publishes still waiting for a router ack (the client re-sends them on
 * resume) and the router-ack state of inbound QoS 2 ids (restored as
 * acknowledged, so a re-sent PUBLISH of one gets PUBREC).
 *
 * A blob comes from Redis, so it is input like any other: restore checks
 * what a client would have had to pass (filters, topics, sizes, options,
 * unique packet ids) and the session's bounds (max-subscriptions,
 * max-queued, max-inflight QoS 2 ids); a blob that breaks a rule is
 * refused as a whole (the client gets a fresh session).
 */
#include <stdlib.h>
#include <string.h>

#include "broker.h"

/* Fill one SessionMessage from o; pointers borrow o's message. */
void
broker_handoff_pack_message(Strata__SessionMessage *sm,
    const struct broker_out *o, uint64_t now)
{
	const struct broker_msg *m = o->msg;

	strata__session_message__init(sm);
	sm->topic = m->topic;
	sm->payload.data = m->payload;
	sm->payload.len = m->payload_len;
	sm->properties.data = m->props;
	sm->properties.len = m->props_len;
	sm->msg_qos = m->qos;
	sm->msg_retain = m->retain;
	sm->age_ms = now > m->received_ms ? now - m->received_ms : 0;
	sm->qos = o->qos;
	sm->retain = o->retain;
	sm->state = o->state;
	sm->packet_id = o->state == OUT_QUEUED ? 0 : o->packet_id;
	sm->n_sub_ids = o->n_sub_ids;
	sm->sub_ids = (uint32_t *)o->sub_ids;
}

static size_t
handoff_pack_list(const struct strata_list *list, Strata__SessionMessage *sm,
    Strata__SessionMessage **ptrs, size_t n, uint64_t now)
{
	const struct strata_list *pos;

	for (pos = list->next; pos != list; pos = pos->next) {
		broker_handoff_pack_message(&sm[n], STRATA_CONTAINER_OF(pos,
		    struct broker_out, node), now);
		ptrs[n] = &sm[n];
		n++;
	}
	return n;
}

static void
handoff_pack_subs(struct broker_session *s, Strata__SessionSubscription *ss,
    Strata__SessionSubscription **ptrs)
{
	struct strata_list *pos;
	size_t n = 0;

	for (pos = s->subs.next; pos != &s->subs; pos = pos->next) {
		struct broker_sub *sub = STRATA_CONTAINER_OF(pos,
		    struct broker_sub, session_node);

		strata__session_subscription__init(&ss[n]);
		ss[n].filter = sub->filter->name;
		ss[n].options = sub->options;
		ss[n].sub_id = sub->sub_id;
		ptrs[n] = &ss[n];
		n++;
	}
}

static void *
handoff_calloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (p == NULL)
		abort();
	return p;
}

uint8_t *
broker_handoff_pack(struct broker_session *s, size_t *len)
{
	Strata__Session out = STRATA__SESSION__INIT;
	size_t n_msgs = s->n_inflight + s->n_queued;
	Strata__SessionSubscription *ss = handoff_calloc(s->n_subs,
	    sizeof(*ss));
	Strata__SessionSubscription **sp = handoff_calloc(s->n_subs,
	    sizeof(*sp));
	Strata__SessionMessage *sm = handoff_calloc(n_msgs, sizeof(*sm));
	Strata__SessionMessage **mp = handoff_calloc(n_msgs, sizeof(*mp));
	uint32_t *q2 = handoff_calloc(s->n_qos2_in, sizeof(*q2));
	uint64_t now = broker_now_ms();
	uint8_t *buf;
	uint16_t i;

	out.client_id = s->client_id;
	out.expiry = s->expiry;
	out.next_packet_id = s->next_packet_id;
	handoff_pack_subs(s, ss, sp);
	out.n_subscriptions = s->n_subs;
	out.subscriptions = sp;
	n_msgs = handoff_pack_list(&s->inflight, sm, mp, 0, now);
	out.n_messages = handoff_pack_list(&s->queue, sm, mp, n_msgs, now);
	out.messages = mp;
	for (i = 0; i < s->n_qos2_in; i++)
		q2[i] = s->qos2_in[i].packet_id;
	out.n_qos2_in = s->n_qos2_in;
	out.qos2_in = q2;
	*len = strata__session__get_packed_size(&out);
	buf = handoff_calloc(*len, 1);
	strata__session__pack(&out, buf);
	free(ss);
	free(sp);
	free(sm);
	free(mp);
	free(q2);
	return buf;
}

static bool
handoff_id_taken(struct broker_handoff_ids *ids, uint16_t id)
{
	uint64_t bit = UINT64_C(1) << (id % 64);
	bool taken = (ids->bits[id / 64] & bit) != 0;

	ids->bits[id / 64] |= bit;
	return taken;
}

int
broker_handoff_restore_message(struct broker_session *s,
    const Strata__SessionMessage *sm, uint64_t now,
    struct broker_handoff_ids *ids, struct broker_out **out)
{
	struct strata_message v;
	struct broker_msg *m;
	uint8_t n_ids = (uint8_t)sm->n_sub_ids;

	if (sm->qos < 1 || sm->qos > 2 || sm->msg_qos > 2 ||
	    sm->state > OUT_RELEASED || sm->topic == NULL ||
	    sm->n_sub_ids > STRATA_MQTT_MAX_SUB_IDS ||
	    (sm->state != OUT_QUEUED && (sm->packet_id == 0 ||
	    sm->packet_id > 65535)) ||
	    !broker_msg_valid(sm->topic, strlen(sm->topic), sm->payload.len,
	    sm->properties.len))
		return STRATA_EINVAL;
	if (sm->state != OUT_QUEUED &&
	    (handoff_id_taken(ids, (uint16_t)sm->packet_id) ||
	    (long)s->n_inflight >= s->broker->cfg.max_inflight))
		return STRATA_EINVAL;
	*out = NULL;
	if (sm->state == OUT_QUEUED &&
	    (long)s->n_queued >= s->broker->cfg.max_queued) {
		broker_drop(s->broker, "queue_full");
		return 0;
	}
	v.topic = sm->topic;
	v.topic_len = strlen(sm->topic);
	v.payload = sm->payload.data;
	v.payload_len = sm->payload.len;
	v.props = sm->properties.data;
	v.props_len = sm->properties.len;
	v.qos = (uint8_t)sm->msg_qos;
	v.retain = sm->msg_retain;
	m = broker_msg_new(&v);
	m->received_ms = now > sm->age_ms ? now - sm->age_ms : 0;
	*out = broker_qos_restore(s, m, (uint8_t)sm->qos, sm->retain,
	    (uint8_t)sm->state, (uint16_t)sm->packet_id, n_ids,
	    sm->sub_ids);
	broker_msg_unref(m);
	return 0;
}

/* One subscription of a stored session: a filter this broker accepts
 * from a client (valid, within max-subscriptions; options as the
 * SUBSCRIBE decoder allows them). */
int
broker_handoff_restore_sub(struct broker_session *s, const char *filter,
    size_t len, uint32_t options, uint32_t sub_id)
{
	const struct broker_config *cfg = &s->broker->cfg;
	const uint8_t *f = (const uint8_t *)filter;

	if (len == 0 || len > UINT16_MAX || !strata_utf8_valid(f, len) ||
	    strata_topic_filter_check(f, len) != 0 ||
	    ((options & STRATA_SUBOPT_NO_LOCAL) &&
	    broker_share_filter(filter, len)) || options > 0x3F || STRATA_SUBOPT_QOS(options) == 3 ||
	    STRATA_SUBOPT_RETAIN_HANDLING(options) == 3 ||
	    sub_id > 268435455)
		return STRATA_EINVAL;
	if ((long)s->n_subs >= cfg->max_subscriptions &&
	    broker_sub_find(s, filter, len) == NULL) {
		STRATA_WARN(BROKER_COMP, "stored session over "
		    "max-subscriptions, subscription dropped|client_id=%s",
		    s->client_id);
		return 0;
	}
	broker_subs_restore(s, filter, len, (uint8_t)options, sub_id);
	return 0;
}

/* Inbound QoS 2 ids awaiting PUBREL, at most max-inflight of them. */
static void
handoff_restore_qos2(struct broker_session *s, const Strata__Session *in)
{
	long max = s->broker->cfg.max_inflight;
	size_t i;

	for (i = 0; i < in->n_qos2_in && (long)s->n_qos2_in < max; i++) {
		uint32_t id = in->qos2_in[i];

		if (id != 0 && id <= 65535 &&
		    broker_qos2_find(s, (uint16_t)id) == NULL)
			broker_qos2_add(s, (uint16_t)id)->acked = true;
	}
}

int
broker_handoff_restore(struct broker_session *s, const uint8_t *data,
    size_t len)
{
	Strata__Session *in = strata__session__unpack(NULL, len, data);
	struct broker_handoff_ids *ids = calloc(1, sizeof(*ids));
	struct broker_out *o;
	uint64_t now = broker_now_ms();
	int rc = STRATA_EINVAL;
	size_t i;

	if (ids == NULL)
		abort();
	if (in == NULL)
		goto out;
	s->next_packet_id = (uint16_t)in->next_packet_id;
	s->expiry = in->expiry;
	s->persistent = in->expiry > 0;
	for (i = 0; i < in->n_subscriptions; i++) {
		const Strata__SessionSubscription *ss = in->subscriptions[i];

		if (broker_handoff_restore_sub(s, ss->filter, ss->filter !=
		    NULL ? strlen(ss->filter) : 0, ss->options,
		    ss->sub_id) != 0)
			goto out;
	}
	for (i = 0; i < in->n_messages; i++)
		if (broker_handoff_restore_message(s, in->messages[i], now,
		    ids, &o) != 0)
			goto out;
	handoff_restore_qos2(s, in);
	rc = 0;
out:
	free(ids);
	if (in != NULL)
		strata__session__free_unpacked(in, NULL);
	return rc;
}
