/*
 * qos.c - QoS 1 and 2 flows in both directions.
 *
 * Outbound (broker -> client), per message (struct broker_out):
 *   QUEUED    - waiting in s->queue: the session is offline or the
 *               client's window (min(Receive Maximum, max-inflight)) is
 *               full.  At most max-queued; more are dropped and counted.
 *   PUBLISHED - PUBLISH sent with a packet id, waiting for PUBACK (QoS 1)
 *               or PUBREC (QoS 2).  Re-sent with DUP when the session
 *               resumes on a new connection.
 *   RELEASED  - QoS 2: PUBREC received, PUBREL sent, waiting for PUBCOMP.
 *               PUBREL is re-sent on resume.
 * The in-flight list doubles as the packet-id map: it holds at most the
 * window (max-inflight, 100 by default), so lookups scan it.
 *
 * Inbound (client -> broker):
 *   QoS 1: forwarded with a seq; PUBACK when the router's PublishAck
 *          arrives (never before).  s->in_pending counts these.
 *   QoS 2: packet id recorded (not acked) and forwarded; PublishAck ->
 *          PUBREC (acked); PUBREL -> id forgotten, PUBCOMP.  A re-sent
 *          PUBLISH with a recorded id is not forwarded again (publish.c).
 * Both count against the Receive Maximum the broker granted.
 *
 * A persistent session writes each change through to Redis (durable.c):
 * an entry when it is queued (in the state it then has), its state when
 * it changes, its removal when acknowledged or dropped; inbound QoS 2 ids
 * when PUBREC goes out and when PUBREL comes.
 */
#include <stdlib.h>
#include <string.h>

#include "broker.h"

void
broker_send_ack(struct broker_conn *c, uint8_t type, uint16_t packet_id,
    uint8_t reason, const char *why)
{
	struct strata_mqtt_packet a;

	memset(&a, 0, sizeof(a));
	a.type = type;
	a.flags = type == STRATA_MQTT_PUBREL ? 0x02 : 0;
	a.u.ack.packet_id = packet_id;
	a.u.ack.reason = reason;
	broker_reason_string(c, &a, why);
	broker_conn_send(c, &a);
}

/* The Reason String of a router's refusal of a publish (its PublishAck
 * carries only the code). */
static const char *
qos_router_why(uint8_t reason)
{
	switch (reason) {
	case STRATA_RC_SUCCESS:
	case STRATA_RC_NO_MATCHING_SUBSCRIBERS:
		return NULL;
	case STRATA_RC_QUOTA_EXCEEDED:
		return "retained message over the router's max-retained or "
		    "max-retained-bytes";
	case STRATA_RC_UNSPECIFIED:
		return "retained message not stored by the router";
	default:
		return "refused by the router";
	}
}

struct broker_qos2_in *
broker_qos2_find(struct broker_session *s, uint16_t packet_id)
{
	uint32_t i;

	for (i = 0; i < s->n_qos2_in; i++)
		if (s->qos2_in[i].packet_id == packet_id)
			return &s->qos2_in[i];
	return NULL;
}

struct broker_qos2_in *
broker_qos2_add(struct broker_session *s, uint16_t packet_id)
{
	struct broker_qos2_in *q;

	if (s->n_qos2_in == s->cap_qos2_in) {
		s->cap_qos2_in = s->cap_qos2_in ? s->cap_qos2_in * 2 : 4;
		s->qos2_in = realloc(s->qos2_in,
		    s->cap_qos2_in * sizeof(*s->qos2_in));
		if (s->qos2_in == NULL)
			abort();
	}
	q = &s->qos2_in[s->n_qos2_in++];
	q->packet_id = packet_id;
	q->acked = false;
	return q;
}

void
broker_qos2_remove(struct broker_session *s, uint16_t packet_id)
{
	struct broker_qos2_in *q = broker_qos2_find(s, packet_id);

	if (q != NULL)
		*q = s->qos2_in[--s->n_qos2_in];
}

static struct broker_out *
qos_find(struct broker_session *s, uint16_t packet_id)
{
	struct strata_list *pos;

	for (pos = s->inflight.next; pos != &s->inflight; pos = pos->next) {
		struct broker_out *o = STRATA_CONTAINER_OF(pos,
		    struct broker_out, node);

		if (o->packet_id == packet_id)
			return o;
	}
	return NULL;
}

static void
qos_out_free(struct broker_session *s, struct broker_out *o)
{
	strata_list_remove(&o->node);
	if (o->state == OUT_QUEUED)
		s->n_queued--;
	else
		s->n_inflight--;
	broker_msg_unref(o->msg);
	free(o->qid);
	free(o->share);
	free(o->origin);
	free(o);
}

void
broker_qos_forget(struct broker_session *s, struct broker_out *o)
{
	broker_durable_remove(s, o);
	qos_out_free(s, o);
}

void
broker_qos_take_queue(struct broker_session *s, struct strata_list *into)
{
	strata_list_init(into);
	while (!strata_list_empty(&s->queue)) {
		struct strata_list *pos = s->queue.next;

		strata_list_remove(pos);
		strata_list_push_back(into, pos);
	}
	s->n_queued = 0;
}

void
broker_qos_requeue(struct broker_session *s, struct broker_out *o)
{
	strata_list_remove(&o->node);
	strata_list_push_back(&s->queue, &o->node);
	s->n_queued++;
}

/* o could not be written (broker_publish_write's rc): dropped, counted
 * as expired or too large for the client. */
static void
qos_drop(struct broker_session *s, struct broker_out *o, int rc)
{
	broker_drop(s->broker, broker_drop_reason(rc));
	if (s->enqueuing == o)
		s->enqueuing = NULL; /* broker_qos_enqueue's: gone */
	broker_durable_remove(s, o);
	qos_out_free(s, o);
}

static uint16_t
qos_next_packet_id(struct broker_session *s)
{
	do {
		if (++s->next_packet_id == 0)
			s->next_packet_id = 1;
	} while (qos_find(s, s->next_packet_id) != NULL);
	return s->next_packet_id;
}

/* A new outbound entry holding a reference to m; not on any list yet. */
static struct broker_out *
qos_out_new(struct broker_msg *m, uint8_t qos, bool retain, uint8_t state,
    uint16_t packet_id, uint8_t n_sub_ids, const uint32_t *sub_ids)
{
	struct broker_out *o = calloc(1, sizeof(*o));

	if (o == NULL)
		abort();
	m->refs++;
	o->msg = m;
	o->qos = qos;
	o->retain = retain;
	o->state = state;
	o->packet_id = packet_id;
	o->n_sub_ids = n_sub_ids;
	if (n_sub_ids > 0)
		memcpy(o->sub_ids, sub_ids, n_sub_ids * sizeof(uint32_t));
	return o;
}

void
broker_qos_enqueue(struct broker_session *s, struct broker_msg *m,
    uint8_t qos, bool retain, uint8_t n_sub_ids, const uint32_t *sub_ids)
{
	struct broker_out *o = qos_out_new(m, qos, retain, OUT_QUEUED, 0,
	    n_sub_ids, sub_ids);

	if (s->broker->cur_share != NULL &&
	    (o->share = strdup(s->broker->cur_share)) == NULL)
		abort();
	if (s->conn != NULL && s->conn->internal &&
	    s->broker->cur_deliver != NULL &&
	    (o->origin = strdup(s->broker->cur_deliver->origin_client_id)) ==
	    NULL)
		abort();
	strata_list_push_back(&s->queue, &o->node);
	s->n_queued++;
	s->enqueuing = o;
	broker_qos_pump(s);
	if (s->enqueuing == NULL) /* dropped: expired, or too large */
		return;
	s->enqueuing = NULL;
	/* what could not go out at once is bounded by max-queued: the newest
	 * message (o, still at the tail) is the one dropped */
	if ((long)s->n_queued > s->broker->cfg.max_queued) {
		broker_drop(s->broker, "queue_full");
		if (s->broker->queue_full_cb != NULL)
			s->broker->queue_full_cb(s->broker->queue_full_arg,
			    o->msg);
		qos_out_free(s, o);
		return;
	}
	/* a persistent session's, in its state now (sent or queued) */
	broker_durable_append(s, o);
}

static uint32_t
qos_window(const struct broker_conn *c)
{
	uint32_t w = c->receive_max;

	if (w > (uint32_t)c->broker->cfg.max_inflight)
		w = (uint32_t)c->broker->cfg.max_inflight;
	return w;
}

void
broker_qos_pump(struct broker_session *s)
{
	struct broker_conn *c = s->conn;
	struct broker_out *o;
	int rc;

	if (c == NULL || c->state != CONN_ACTIVE)
		return;
	while (s->n_inflight < qos_window(c) &&
	    !strata_list_empty(&s->queue)) {
		o = STRATA_CONTAINER_OF(s->queue.next, struct broker_out,
		    node);
		o->packet_id = qos_next_packet_id(s);
		c->broker->cur_origin = o->origin;
		rc = broker_publish_write(c, o->msg, o->qos, o->retain, false,
		    o->packet_id, o->n_sub_ids, o->sub_ids);
		c->broker->cur_origin = NULL;
		if (rc != 0) {
			qos_drop(s, o, rc);
			continue;
		}
		strata_list_remove(&o->node);
		s->n_queued--;
		o->state = OUT_PUBLISHED;
		strata_list_push_back(&s->inflight, &o->node);
		s->n_inflight++;
		broker_durable_update(s, o);
	}
}

/* In flight again on a new connection: PUBLISH with DUP, or PUBREL once
 * the client has the message (QoS 2 RELEASED).  A PUBLISH whose Message
 * Expiry Interval passed meanwhile is not sent again but dropped
 * (counted as expired), like a queued one: the client may have it from
 * before, but what it has not acked it need not get. */
void
broker_qos_resume(struct broker_session *s)
{
	struct strata_list *pos, *tmp;
	struct broker_conn *c = s->conn;
	int rc;

	STRATA_LIST_FOREACH_SAFE(pos, tmp, &s->inflight) {
		struct broker_out *o = STRATA_CONTAINER_OF(pos,
		    struct broker_out, node);

		if (o->state == OUT_RELEASED) {
			broker_send_ack(c, STRATA_MQTT_PUBREL, o->packet_id,
			    STRATA_RC_SUCCESS, NULL);
			continue;
		}
		rc = broker_publish_write(c, o->msg, o->qos, o->retain, true,
		    o->packet_id, o->n_sub_ids, o->sub_ids);
		if (rc != 0)
			qos_drop(s, o, rc);
	}
	broker_qos_pump(s);
}

/* PUBREC from the client for an outbound QoS 2 message. */
static void
qos_pubrec(struct broker_conn *c, const struct strata_mqtt_ack *a)
{
	struct broker_session *s = c->session;
	struct broker_out *o = qos_find(s, a->packet_id);

	if (o == NULL || o->qos != 2) {
		broker_send_ack(c, STRATA_MQTT_PUBREL, a->packet_id,
		    STRATA_RC_PACKET_ID_NOT_FOUND,
		    "PUBREC for no QoS 2 message in flight");
		return;
	}
	if (a->reason >= 0x80) {
		broker_durable_remove(s, o);
		qos_out_free(s, o);
		broker_qos_pump(s);
		return;
	}
	o->state = OUT_RELEASED;
	broker_durable_update(s, o);
	broker_send_ack(c, STRATA_MQTT_PUBREL, a->packet_id,
	    STRATA_RC_SUCCESS, NULL);
}

/* PUBREL from the client for an inbound QoS 2 message. */
static void
qos_pubrel(struct broker_conn *c, const struct strata_mqtt_ack *a)
{
	struct broker_session *s = c->session;
	bool known = broker_qos2_find(s, a->packet_id) != NULL;

	broker_qos2_remove(s, a->packet_id);
	if (known)
		broker_durable_qos2(s, a->packet_id, false);
	broker_send_ack(c, STRATA_MQTT_PUBCOMP, a->packet_id, known ?
	    STRATA_RC_SUCCESS : STRATA_RC_PACKET_ID_NOT_FOUND, known ? NULL :
	    "PUBREL for no QoS 2 message awaiting release");
}

int
broker_qos_handle_ack(struct broker_conn *c,
    const struct strata_mqtt_packet *p)
{
	struct broker_session *s = c->session;
	const struct strata_mqtt_ack *a = &p->u.ack;
	struct broker_out *o;

	switch (p->type) {
	case STRATA_MQTT_PUBACK:
	case STRATA_MQTT_PUBCOMP:
		o = qos_find(s, a->packet_id);
		/* an unknown id is ignored (MQTT 5 4.3: nothing to do) */
		if (o != NULL && o->qos == (p->type == STRATA_MQTT_PUBACK ?
		    1 : 2) && (p->type == STRATA_MQTT_PUBACK ||
		    o->state == OUT_RELEASED)) {
			broker_durable_remove(s, o);
			qos_out_free(s, o);
			broker_qos_pump(s);
		}
		return 0;
	case STRATA_MQTT_PUBREC:
		qos_pubrec(c, a);
		return 0;
	default:
		qos_pubrel(c, a);
		return 0;
	}
}

void
broker_qos_inbound_acked(struct strata_broker *b, uint64_t incarnation,
    uint16_t packet_id, uint8_t qos, uint8_t reason)
{
	struct broker_session *s = broker_session_of(b, incarnation);
	struct broker_qos2_in *q;

	if (s == NULL)
		return;
	if (qos == 1) {
		if (s->in_pending > 0)
			s->in_pending--;
		if (s->conn != NULL)
			broker_send_ack(s->conn, STRATA_MQTT_PUBACK, packet_id,
			    reason, qos_router_why(reason));
		return;
	}
	q = broker_qos2_find(s, packet_id);
	if (q == NULL)
		return;
	q->acked = true;
	if (reason >= 0x80)
		broker_qos2_remove(s, packet_id);
	else
		broker_durable_qos2(s, packet_id, true);
	if (s->conn != NULL)
		broker_send_ack(s->conn, STRATA_MQTT_PUBREC, packet_id,
		    reason, qos_router_why(reason));
}

void
broker_qos_free_session(struct broker_session *s)
{
	while (!strata_list_empty(&s->inflight))
		qos_out_free(s, STRATA_CONTAINER_OF(s->inflight.next,
		    struct broker_out, node));
	while (!strata_list_empty(&s->queue))
		qos_out_free(s, STRATA_CONTAINER_OF(s->queue.next,
		    struct broker_out, node));
	free(s->qos2_in);
	s->qos2_in = NULL;
	s->n_qos2_in = s->cap_qos2_in = 0;
}

struct broker_out *
broker_qos_restore(struct broker_session *s, struct broker_msg *m,
    uint8_t qos, bool retain, uint8_t state, uint16_t packet_id,
    uint8_t n_sub_ids, const uint32_t *sub_ids)
{
	struct broker_out *o = qos_out_new(m, qos, retain, state, packet_id,
	    n_sub_ids, sub_ids);

	if (state == OUT_QUEUED) {
		strata_list_push_back(&s->queue, &o->node);
		s->n_queued++;
	} else {
		strata_list_push_back(&s->inflight, &o->node);
		s->n_inflight++;
	}
	return o;
}
