/*
 * connect.c - CONNECT / CONNACK, session take-over, wills, DISCONNECT.
 *
 * CONNECT runs: validate (second CONNECT, auth method, the identity of
 * device.c, client id, keepalive, the will's payload size and topic
 * depth) -> will ->
 * connection properties -> session -> CONNACK ->
 * resume the outbound QoS flows.  The session step is local when this
 * broker holds a session of the client id (take over a live one, discard
 * on Clean Start, or resume) or assigned the id; otherwise the connection
 * goes WAITING while cluster.c asks the registry and maybe the previous
 * broker for the session, and broker_connect_complete() finishes later.
 * A client the custom authorizer decides waits for its answer before
 * any of this (WAITING, the CONNECT held by authorizer.c and handled
 * again from the start once the answer authenticates it).
 * A session that becomes persistent here (new, or a clean one given a
 * Session Expiry) is written to Redis first: the connection stays
 * WAITING, its session detached, until Redis has answered those writes
 * (a PING behind them), so that a CONNACK never promises a session that
 * a kill -9 of this broker would lose.  Redis not answering: CONNACK
 * anyway, the writes counted as errors and the session rewritten whole
 * when Redis is back (durable.c).
 * Refusals are returned as negated reason codes; dispatch.c answers them.
 *
 * Wills: published through the routers when the connection ends without a
 * DISCONNECT 0x00 (abrupt close, keepalive timeout, protocol error,
 * DISCONNECT 0x04).  With a Will Delay Interval and a persistent session
 * the will waits on the session (will timer); a reconnect before it fires
 * cancels it; the end of the session publishes it at once.
 *
 * Lifecycle events (events.c): connected once the CONNACK is out; a
 * connection taken over gets its disconnected event (DUPLICATE_CLIENTID)
 * before its session goes to the newer connection; a DISCONNECT is noted
 * (client_closed) for the event its close publishes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker.h"

void
broker_will_free(struct broker_will *w)
{
	if (w == NULL)
		return;
	broker_msg_unref(w->msg);
	free(w);
}

void
broker_will_publish(struct strata_broker *b, struct broker_will *w,
    const char *client_id)
{
	struct broker_msg *m = w->msg;
	struct strata_message v = broker_msg_view(m);

	STRATA_INFO(BROKER_COMP, "publishing will|client_id=%s topic=%s",
	    client_id, m->topic);
	v.qos = w->qos;
	v.retain = w->retain;
	broker_routers_publish(b, NULL, &v);
	broker_will_free(w);
}

/* Copy the will out of CONNECT.  Will properties become the PUBLISH
 * properties of the will message (Will Delay Interval excepted). */
static struct broker_will *
connect_will_new(const struct strata_mqtt_connect *cn)
{
	struct strata_mqtt_props props = cn->will_props;
	struct broker_will *w = calloc(1, sizeof(*w));
	struct strata_message v;
	uint8_t *buf = NULL;
	size_t size = 0, off = 0;

	if (w == NULL)
		abort();
	w->qos = cn->will_qos;
	w->retain = cn->will_retain;
	w->delay = props.will_delay;
	props.present &= ~STRATA_PROP_BIT(STRATA_PROP_WILL_DELAY);
	props.will_delay = 0;
	if (cn->version == STRATA_MQTT_V5)
		size = strata_mqtt_props_size(&props);
	if (size > 0) {
		buf = malloc(size + 4);
		if (buf == NULL)
			abort();
		strata_mqtt_props_write(&props, buf);
		/* the writer puts the block length in front: skip it */
		off = strata_varint_size((uint32_t)size);
	}
	v.topic = (const char *)cn->will_topic.p;
	v.topic_len = cn->will_topic.len;
	v.payload = cn->will_payload.p;
	v.payload_len = cn->will_payload.len;
	v.props = buf != NULL ? buf + off : NULL;
	v.props_len = size;
	v.qos = cn->will_qos;
	v.retain = cn->will_retain;
	w->msg = broker_msg_new(&v);
	free(buf);
	return w;
}

/* The Will obeys the rules of a PUBLISH: payload size, topic depth, no
 * topic of the broker's own events (CONNACK 0x87), and the Payload
 * Format Indicator (MQTT 5.0 3.1.3.2.3: CONNACK 0x99). */
static int
connect_check_will(struct strata_broker *b,
    const struct strata_mqtt_connect *cn)
{
	const struct broker_config *cfg = &b->cfg;

	if (cn->will_payload.len > (uint32_t)cfg->max_payload) {
		broker_why(b, "will payload over max-payload (%ld)",
		    cfg->max_payload);
		return STRATA_ERR(STRATA_RC_PACKET_TOO_LARGE);
	}
	if (broker_topic_too_deep(cfg, cn->will_topic.p, cn->will_topic.len)) {
		broker_why(b, "will topic over max-topic-depth (%ld)",
		    cfg->max_topic_depth);
		return STRATA_ERR(STRATA_RC_TOPIC_NAME_INVALID);
	}
	if (strata_lifecycle_reserved((const char *)cn->will_topic.p,
	    cn->will_topic.len)) {
		broker_why(b, "will topic under $aws/events/ (the broker's "
		    "events)");
		return STRATA_ERR(STRATA_RC_NOT_AUTHORIZED);
	}
	if (strata_mqtt_payload_format_check(&cn->will_props,
	    cn->will_payload) != 0) {
		broker_why(b, "will payload not UTF-8 (Payload Format "
		    "Indicator 1)");
		return STRATA_ERR(STRATA_RC_PAYLOAD_FORMAT_INVALID);
	}
	return 0;
}

static int
connect_check(struct broker_conn *c, const struct strata_mqtt_packet *p)
{
	const struct strata_mqtt_connect *cn = &p->u.connect;
	struct strata_broker *b = c->broker;
	const struct broker_config *cfg = &b->cfg;
	int rc;

	rc = broker_auth_check_connect(c, p);
	if (rc != 0)
		return rc;
	rc = broker_device_check_connect(c, p);
	broker_detect_connect(c, rc == 0);
	if (rc != 0)
		return rc;
	if (cn->client_id.len > (uint32_t)cfg->max_client_id) {
		broker_why(b, "client identifier over max-client-id (%ld "
		    "bytes)", cfg->max_client_id);
		return STRATA_ERR(STRATA_RC_CLIENT_ID_INVALID);
	}
	if (cn->client_id.len == 0 && cn->version == STRATA_MQTT_V311 &&
	    !cn->clean_start)
		return STRATA_ERR(STRATA_RC_CLIENT_ID_INVALID);
	if (cn->keepalive == 0 && !cfg->allow_zero_keepalive) {
		broker_why(b, "keepalive 0 not allowed");
		return STRATA_ERR(STRATA_RC_IMPL_SPECIFIC);
	}
	if (cn->has_will && (rc = connect_check_will(b, cn)) != 0)
		return rc;
	if (b->stopping) {
		broker_why(b, "server shutting down");
		return STRATA_ERR(STRATA_RC_SERVER_SHUTTING_DOWN);
	}
	return 0;
}

/* The keepalive the broker applies.  MQTT 5 clients are clamped to
 * [keepalive-min, keepalive-max] and told so (Server Keep Alive); 3.1.1
 * has no way to tell the client, so its value is honoured as asked unless
 * keepalive-clamp-v311 is set. */
static uint16_t
connect_keepalive(const struct broker_config *cfg, uint8_t version,
    uint16_t asked)
{
	if (asked == 0)
		return 0;
	if (version != STRATA_MQTT_V5 && !cfg->keepalive_clamp_v311)
		return asked;
	if (asked < cfg->keepalive_min)
		return (uint16_t)cfg->keepalive_min;
	if (asked > cfg->keepalive_max)
		return (uint16_t)cfg->keepalive_max;
	return asked;
}

/* A second connection with the same client id: the old one goes. */
void
broker_connect_takeover(struct broker_conn *old, bool resuming)
{
	struct broker_session *s = old->session;
	struct broker_will *w = old->will;

	STRATA_INFO(BROKER_COMP, "session taken over|client_id=%s old_peer=%s",
	    s->client_id, old->peer);
	old->will = NULL;
	/* its disconnected event, while it still has the session */
	old->close_reason = STRATA_RC_SESSION_TAKEN_OVER;
	broker_events_conn_end(old);
	/* The old will goes out now unless the session resumes before its
	 * delay elapses (MQTT 5 3.1.3.2.2). */
	if (w != NULL && (!resuming || w->delay == 0 || !s->persistent))
		broker_will_publish(old->broker, w, s->client_id);
	else
		broker_will_free(w);
	s->conn = NULL;
	old->session = NULL;
	broker_conn_disconnect(old, STRATA_RC_SESSION_TAKEN_OVER,
	    "session taken over by another connection");
}

static void
connect_assign_id(struct strata_broker *b, char *out, size_t cap)
{
	snprintf(out, cap, "strata-%s-%lx-%u", b->cfg.node_id,
	    (unsigned long)time(NULL), ++b->next_assigned_id);
}

/* Find, take over, discard or create the session.  *present is the
 * Session Present flag. */
static struct broker_session *
connect_session(struct broker_conn *c, const struct strata_mqtt_connect *cn,
    const char *id, size_t id_len, bool *present)
{
	struct strata_broker *b = c->broker;
	struct broker_session *s = broker_session_find(b, id, id_len);
	uint64_t version;

	*present = false;
	if (s != NULL && s->conn != NULL)
		broker_connect_takeover(s->conn, !cn->clean_start);
	if (s != NULL && !cn->clean_start) {
		broker_session_cancel_timers(s);
		*present = true;
		return s;
	}
	if (s == NULL)
		return broker_session_new(b, id, id_len);
	/* the client id's lifecycle versions go on growing */
	version = s->event_version;
	broker_session_destroy(s);
	s = broker_session_new(b, id, id_len);
	s->event_version = version;
	return s;
}

/* What the client's CONNECT properties ask of the connection (MQTT 5:
 * all absent in 3.1.1).  Applied before the checks, so that a refusing
 * CONNACK already respects the client's Maximum Packet Size. */
static void
connect_apply_props(struct broker_conn *c, const struct strata_mqtt_packet *p)
{
	const struct strata_mqtt_props *pr = &p->props;
	const struct broker_config *cfg = &c->broker->cfg;
	uint32_t expiry;

	c->receive_max = 65535;
	if (pr->present & STRATA_PROP_BIT(STRATA_PROP_RECEIVE_MAXIMUM))
		c->receive_max = pr->receive_maximum;
	if (pr->present & STRATA_PROP_BIT(STRATA_PROP_MAXIMUM_PACKET_SIZE))
		c->max_packet = pr->maximum_packet_size;
	/* absent means 1 (MQTT 5.0 3.1.2.11.7) */
	c->problem_info = !(pr->present &
	    STRATA_PROP_BIT(STRATA_PROP_REQUEST_PROBLEM_INFO)) ||
	    pr->request_problem_info != 0;
	c->response_info = pr->request_response_info != 0;
	if (pr->topic_alias_maximum > 0 && cfg->topic_alias_out_max > 0)
		c->alias_out_max = (uint16_t)(pr->topic_alias_maximum <
		    cfg->topic_alias_out_max ? pr->topic_alias_maximum :
		    cfg->topic_alias_out_max);
	if (c->version == STRATA_MQTT_V5) {
		c->alias_max = (uint16_t)cfg->topic_alias_max;
		expiry = 0;
		if (pr->present & STRATA_PROP_BIT(STRATA_PROP_SESSION_EXPIRY))
			expiry = pr->session_expiry;
	} else {
		expiry = p->u.connect.clean_start ? 0 : UINT32_MAX;
	}
	c->expiry = expiry;
	c->clean_start = p->u.connect.clean_start;
}

/*
 * The Response Information of the response-information template for
 * client id: "%c" is the client id, the rest is copied.  Returns a
 * malloc'd string, or NULL when none is configured or the result could
 * not be the start of a topic name (a client id with a wildcard).
 */
static char *
connect_response_info(const char *template, const char *id)
{
	size_t id_len = strlen(id), n = 0;
	const char *t;
	char *out;

	if (template == NULL || template[0] == '\0' ||
	    strpbrk(id, "+#") != NULL)
		return NULL;
	for (t = template; *t != '\0'; t++)
		n += t[0] == '%' && t[1] == 'c' ? id_len : 1;
	out = malloc(n + 1);
	if (out == NULL)
		abort();
	for (n = 0, t = template; *t != '\0'; t++) {
		if (t[0] == '%' && t[1] == 'c') {
			memcpy(out + n, id, id_len);
			n += id_len;
			t++;
		} else {
			out[n++] = *t;
		}
	}
	out[n] = '\0';
	if (n > UINT16_MAX) { /* not an MQTT string */
		free(out);
		return NULL;
	}
	return out;
}

/*
 * What an MQTT 5 CONNACK says the broker does, each checked against the
 * code (docs/internals/broker.md, "What CONNACK says"):
 *   Maximum QoS         absent: QoS 2 is supported (2 cannot be sent)
 *   Retain Available 1, Wildcard Subscription Available 1, Subscription
 *   Identifiers Available 1, Shared Subscription Available 1
 *   Receive Maximum     max-inflight (one more in flight: DISCONNECT 0x93)
 *   Topic Alias Maximum topic-alias-max (client to broker)
 *   Maximum Packet Size max-payload + 68 KiB (larger: DISCONNECT 0x95)
 *   Server Keep Alive   only when the keepalive was clamped
 *   Assigned Client Identifier, Response Information when they apply.
 */
static void
connect_connack_props(struct broker_conn *c, struct strata_mqtt_props *pr,
    const char *assigned, uint16_t keepalive)
{
	const struct broker_config *cfg = &c->broker->cfg;

	pr->present = STRATA_PROP_BIT(STRATA_PROP_RECEIVE_MAXIMUM) |
	    STRATA_PROP_BIT(STRATA_PROP_TOPIC_ALIAS_MAXIMUM) |
	    STRATA_PROP_BIT(STRATA_PROP_RETAIN_AVAILABLE) |
	    STRATA_PROP_BIT(STRATA_PROP_MAXIMUM_PACKET_SIZE) |
	    STRATA_PROP_BIT(STRATA_PROP_WILDCARD_SUB_AVAILABLE) |
	    STRATA_PROP_BIT(STRATA_PROP_SUB_ID_AVAILABLE) |
	    STRATA_PROP_BIT(STRATA_PROP_SHARED_SUB_AVAILABLE);
	pr->receive_maximum = (uint16_t)cfg->max_inflight;
	pr->topic_alias_maximum = (uint16_t)cfg->topic_alias_max;
	pr->retain_available = 1;
	pr->maximum_packet_size = broker_max_packet(c->broker);
	pr->wildcard_sub_available = 1;
	pr->sub_id_available = 1;
	pr->shared_sub_available = 1;
	if (assigned != NULL) {
		pr->present |= STRATA_PROP_BIT(STRATA_PROP_ASSIGNED_CLIENT_ID);
		pr->assigned_client_id.p = (const uint8_t *)assigned;
		pr->assigned_client_id.len = (uint32_t)strlen(assigned);
	}
	if (keepalive != c->keepalive) {
		pr->present |= STRATA_PROP_BIT(STRATA_PROP_SERVER_KEEPALIVE);
		pr->server_keepalive = keepalive;
	}
}

/* Returns broker_conn_send()'s result: STRATA_ENOSPC when even without
 * a Reason String the CONNACK exceeds the client's Maximum Packet Size. */
static int
connect_send_connack(struct broker_conn *c, bool present,
    const char *assigned, uint16_t keepalive)
{
	struct strata_mqtt_packet a;
	char *info = NULL;
	int rc;

	memset(&a, 0, sizeof(a));
	a.type = STRATA_MQTT_CONNACK;
	a.u.connack.session_present = present;
	if (c->version == STRATA_MQTT_V5) {
		connect_connack_props(c, &a.props, assigned, keepalive);
		/* MQTT 5.0 3.1.2.11.6: only when asked for */
		if (c->response_info)
			info = connect_response_info(
			    c->broker->cfg.response_information,
			    c->session->client_id);
		if (info != NULL) {
			a.props.present |= STRATA_PROP_BIT(
			    STRATA_PROP_RESPONSE_INFO);
			a.props.response_info.p = (const uint8_t *)info;
			a.props.response_info.len = (uint32_t)strlen(info);
		}
	}
	rc = broker_conn_send(c, &a);
	free(info);
	return rc;
}

/* The session is settled and stored: attach, CONNACK, keepalive, resume
 * the flows. */
static void
connect_ack(struct broker_conn *c, struct broker_session *s,
    bool present, const char *assigned)
{
	uint16_t keepalive = connect_keepalive(&c->broker->cfg, c->version,
	    c->keepalive);

	s->conn = c;
	c->session = s;
	c->state = CONN_ACTIVE;
	broker_shares_join(s);
	if (connect_send_connack(c, present, assigned, keepalive) != 0) {
		/* nothing can be sent to a client that has no room for the
		 * CONNACK (MQTT-3.1.2-24) */
		broker_refuse(c->broker, c, STRATA_RC_PACKET_TOO_LARGE,
		    "CONNACK over the client's Maximum Packet Size");
		broker_conn_close(c, false);
		return;
	}
	broker_conn_set_keepalive(c, keepalive);
	STRATA_INFO(BROKER_COMP, "client connected|client_id=%s peer=%s "
	    "version=%u keepalive=%u session_present=%d", s->client_id,
	    c->peer, c->version, keepalive, present);
	broker_events_connected(c);
	broker_qos_resume(s);
}

/* A CONNACK held until Redis has the new persistent session. */
struct broker_connack_hold {
	struct strata_broker *broker;
	struct broker_conn *conn;   /* NULL once the connection closed */
	uint64_t incarnation;       /* of the session */
	bool present;
	char assigned[];            /* assigned client id, or "" */
};

void
broker_connect_conn_closed(struct broker_conn *c)
{
	c->hold->conn = NULL;
	c->hold = NULL;
}

/* Redis answered the PING behind the session's writes (or did not). */
static void
connect_stored(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct broker_connack_hold *h = arg;
	struct strata_broker *b = h->broker;
	struct broker_conn *c = h->conn;
	struct broker_session *s;

	if (c != NULL)
		c->hold = NULL;
	s = b->stopping ? NULL : broker_session_of(b, h->incarnation);
	if (b->stopping) {
		/* the connections close with the broker */
	} else if (s == NULL || s->conn != NULL) {
		/* taken over meanwhile: this CONNECT was never accepted */
		if (c != NULL) {
			broker_will_free(c->will);
			c->will = NULL;
			broker_conn_close(c, false);
		}
	} else if (c == NULL) {
		broker_session_detach(s);
	} else {
		broker_durable_online(s);
		connect_ack(c, s, h->present,
		    h->assigned[0] != '\0' ? h->assigned : NULL);
		broker_conn_input_changed(c);
	}
	free(h);
}

/* s is new in Redis: CONNACK once Redis answers, WAITING till then. */
static void
connect_hold(struct broker_conn *c, struct broker_session *s,
    bool present, const char *assigned)
{
	size_t n = assigned != NULL ? strlen(assigned) : 0;
	struct broker_connack_hold *h = malloc(sizeof(*h) + n + 1);

	if (h == NULL)
		abort();
	h->broker = c->broker;
	h->conn = c;
	h->incarnation = s->incarnation;
	h->present = present;
	memcpy(h->assigned, assigned != NULL ? assigned : "", n + 1);
	c->hold = h;
	c->state = CONN_WAITING;
	broker_conn_input_changed(c);
	(*c->broker->m.connacks_held)++;
	/* Redis answers in order: this reply comes after the writes' (and
	 * with redis-wait-replicas, once they reached the replicas) */
	strata_redis_sync(c->broker->redis, connect_stored, h);
}

/* The session is settled: written through when persistent, then
 * CONNACK. */
static void
connect_finish(struct broker_conn *c, struct broker_session *s,
    bool present, const char *assigned)
{
	s->expiry = c->expiry;
	s->persistent = c->expiry > 0;
	if (s->dstate != DSTATE_NONE) {
		broker_durable_online(s);
	} else if (s->persistent) {
		broker_durable_create(s);
		if (s->dstate == DSTATE_HELD) {
			connect_hold(c, s, present, assigned);
			return;
		}
	}
	connect_ack(c, s, present, assigned);
}

void
broker_connect_complete(struct broker_conn *c, const char *id,
    size_t id_len, struct broker_session *s, uint64_t epoch)
{
	struct strata_broker *b = c->broker;
	struct broker_session *stale = broker_session_find(b, id, id_len);
	bool present = s != NULL;

	/* the pending wait kept other sessions of id from being made here */
	if (stale != NULL && stale != s)
		broker_session_destroy(stale);
	if (s == NULL)
		s = broker_session_new(b, id, id_len);
	s->epoch = epoch;
	connect_finish(c, s, present, NULL);
	/* reads again; packets sent behind CONNECT are dispatched now */
	broker_conn_input_changed(c);
}

int
broker_connect_handle(struct broker_conn *c,
    const struct strata_mqtt_packet *p)
{
	const struct strata_mqtt_connect *cn = &p->u.connect;
	struct broker_session *s;
	char assigned[192];
	const char *id = (const char *)cn->client_id.p;
	size_t id_len = cn->client_id.len;
	bool present, local;
	int rc;

	if (c->state != CONN_NEW) {
		broker_why(c->broker, "second CONNECT");
		return STRATA_ERR(STRATA_RC_PROTOCOL_ERROR);
	}
	c->version = cn->version;
	connect_apply_props(c, p);
	rc = connect_check(c, p);
	if (rc == STRATA_AGAIN)
		return 0; /* WAITING for the authorizer: handled again later */
	if (rc != 0)
		return rc;
	rc = broker_throttle_connect(c, id, id_len);
	if (rc != 0)
		return rc;
	if (id_len == 0) {
		connect_assign_id(c->broker, assigned, sizeof(assigned));
		id = assigned;
		id_len = strlen(assigned);
	}
	if (cn->has_will)
		c->will = connect_will_new(cn);
	c->keepalive = cn->keepalive;
	s = broker_session_find(c->broker, id, id_len);
	/* a session moving in or out of Redis is not settled here yet */
	local = cn->client_id.len == 0 || (s != NULL &&
	    s->dstate != DSTATE_LOADING && s->dstate != DSTATE_RELEASING);
	if (!local) {
		c->state = CONN_WAITING;
		broker_conn_input_changed(c);
		broker_cluster_connect(c, id, id_len, false);
		return 0;
	}
	/* registry first: the discarded session's entry must not be
	 * deleted under the new one */
	broker_cluster_connect(c, id, id_len, true);
	s = connect_session(c, cn, id, id_len, &present);
	connect_finish(c, s, present, cn->client_id.len == 0 &&
	    c->version == STRATA_MQTT_V5 ? assigned : NULL);
	return 0;
}

int
broker_disconnect_handle(struct broker_conn *c,
    const struct strata_mqtt_packet *p)
{
	const struct strata_mqtt_props *pr = &p->props;
	struct broker_session *s = c->session;
	uint8_t reason = p->u.reason.reason;

	if (pr->present & STRATA_PROP_BIT(STRATA_PROP_SESSION_EXPIRY)) {
		/* MQTT 5 3.14.2.2.2: 0 at CONNECT cannot become non-zero */
		if (s->expiry == 0 && pr->session_expiry != 0) {
			broker_why(c->broker, "Session Expiry Interval set by "
			    "DISCONNECT after 0 at CONNECT");
			return STRATA_ERR(STRATA_RC_PROTOCOL_ERROR);
		}
		s->expiry = pr->session_expiry;
		s->persistent = s->expiry > 0;
	}
	STRATA_INFO(BROKER_COMP, "client disconnected|client_id=%s "
	    "reason=0x%02x", s->client_id, reason);
	c->client_closed = true;
	broker_conn_close(c, reason == STRATA_RC_DISCONNECT_WITH_WILL);
	return 0;
}
