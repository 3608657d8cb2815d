/*
 * dispatch.c - frame, decode and dispatch client input; map every error to
 * what the client is told, in one place.
 *
 * Handlers return 0 or a negative status (status.h): a negated MQTT 5
 * reason code, or a plain error.  dispatch_fail() turns it into:
 *   before CONNECT was accepted: CONNACK with the reason (MQTT 5) or the
 *     3.1.1 return code that has a meaning for it, then close;
 *   after:  MQTT 5 DISCONNECT with the reason, then close; 3.1.1: close.
 * The will is published on every error close (the client did not
 * disconnect cleanly).
 *
 * Reason Strings.  A handler that refuses says what it refused with
 * broker_why() ("payload over max-payload (131072)"), and that text goes
 * out as the Reason String of the refusal (CONNACK, DISCONNECT; handlers
 * that answer with an ack pass theirs to broker_send_ack()); codec errors
 * get the name of the reason code and of the packet.  Whether a packet
 * may carry one is decided in broker_reason_string() alone: MQTT 5 only,
 * and with Request Problem Information 0 only on CONNACK, DISCONNECT and
 * PUBLISH (MQTT 5.0 3.1.2.11.7).  broker_conn_send() drops it when it
 * would make the packet exceed the client's Maximum Packet Size.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "broker.h"

/* The largest packet accepted: a maximal payload plus a topic and
 * properties.  Larger frames are refused before they are buffered. */
uint32_t
broker_max_packet(const struct strata_broker *b)
{
	return (uint32_t)b->cfg.max_payload + 65536 + 4096;
}

void
broker_why(struct strata_broker *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b->why, sizeof(b->why), fmt, ap);
	va_end(ap);
}

void
broker_reason_string(struct broker_conn *c, struct strata_mqtt_packet *p,
    const char *why)
{
	bool always = p->type == STRATA_MQTT_CONNACK ||
	    p->type == STRATA_MQTT_DISCONNECT ||
	    p->type == STRATA_MQTT_PUBLISH;

	if (why == NULL || why[0] == '\0' || c->version != STRATA_MQTT_V5 ||
	    (!c->problem_info && !always))
		return;
	p->props.present |= STRATA_PROP_BIT(STRATA_PROP_REASON_STRING);
	p->props.reason_string.p = (const uint8_t *)why;
	p->props.reason_string.len = (uint32_t)strlen(why);
}

/* What a reason code says, for refusals that come without a description
 * of their own (the codec's errors). */
static const char *
dispatch_reason_phrase(unsigned reason)
{
	switch (reason) {
	case STRATA_RC_MALFORMED:
		return "malformed packet";
	case STRATA_RC_PROTOCOL_ERROR:
		return "protocol error";
	case STRATA_RC_UNSUPPORTED_VERSION:
		return "unsupported protocol version";
	case STRATA_RC_TOPIC_FILTER_INVALID:
		return "topic filter invalid";
	case STRATA_RC_TOPIC_NAME_INVALID:
		return "topic name invalid";
	case STRATA_RC_PACKET_TOO_LARGE:
		return "packet too large";
	case STRATA_RC_PAYLOAD_FORMAT_INVALID:
		return "payload format invalid";
	case STRATA_RC_IMPL_SPECIFIC:
		return "implementation limit";
	default:
		return "refused";
	}
}

/* 3.1.1 CONNACK return code for a CONNECT refusal, or -1: just close. */
static int
dispatch_v311_connack(unsigned reason)
{
	switch (reason) {
	case STRATA_RC_UNSUPPORTED_VERSION:
		return 0x01;
	case STRATA_RC_CLIENT_ID_INVALID:
		return 0x02;
	case STRATA_RC_SERVER_UNAVAILABLE:
	case STRATA_RC_SERVER_BUSY:
	case STRATA_RC_SERVER_SHUTTING_DOWN:
	case STRATA_RC_CONNECTION_RATE_EXCEEDED:
		return 0x03;
	case STRATA_RC_BAD_USER_PASS:
		return 0x04;
	case STRATA_RC_NOT_AUTHORIZED:
	case STRATA_RC_BAD_AUTH_METHOD:
	case STRATA_RC_BANNED:
		return 0x05;
	default:
		return -1;
	}
}

/* Protocol level of a raw CONNECT frame (0 when unreadable). */
static uint8_t
dispatch_peek_version(const uint8_t *p, size_t len)
{
	size_t i = 1;

	size_t name_len;

	while (i < len && i < 5 && (p[i] & 0x80))
		i++;
	i++; /* last remaining-length byte */
	if (i + 2 > len)
		return 0;
	name_len = (size_t)p[i] << 8 | p[i + 1];
	i += 2 + name_len; /* protocol name ("MQTT", or "MQIsdp" for 3.1) */
	return i < len ? p[i] : 0;
}

static void
dispatch_connack_refuse(struct broker_conn *c, unsigned reason,
    uint8_t version, const char *why)
{
	struct strata_mqtt_packet p;
	int code;

	memset(&p, 0, sizeof(p));
	p.type = STRATA_MQTT_CONNACK;
	/* levels above 5 get the MQTT 5 layout (0x84), older ones 3.1.1's */
	if (version >= STRATA_MQTT_V5) {
		c->version = STRATA_MQTT_V5;
		p.u.connack.reason = (uint8_t)reason;
		broker_reason_string(c, &p, why);
		broker_conn_send(c, &p);
		return;
	}
	code = dispatch_v311_connack(reason);
	if (code < 0)
		return;
	c->version = STRATA_MQTT_V311;
	p.u.connack.reason = (uint8_t)code;
	broker_conn_send(c, &p);
}

void
broker_connect_refuse(struct broker_conn *c, unsigned reason,
    const char *what)
{
	broker_refuse(c->broker, c, reason, what);
	dispatch_connack_refuse(c, reason, c->version, what);
	broker_conn_close(c, false);
}

/* A refusal of a packet of this type: CONNACK or DISCONNECT (see the top
 * of the file), with the handler's broker_why() text or the name of the
 * reason as Reason String. */
static void
dispatch_fail(struct broker_conn *c, int status, uint8_t type,
    uint8_t connect_version)
{
	struct strata_broker *b = c->broker;
	unsigned reason = strata_status_reason(status);

	if (b->why[0] == '\0')
		broker_why(b, "%s (%s packet)", dispatch_reason_phrase(reason),
		    type == 0 ? "reserved" : strata_mqtt_type_name(type));
	broker_refuse(b, c, reason, b->why);
	if (c->state == CONN_NEW) {
		if (type == STRATA_MQTT_CONNECT)
			dispatch_connack_refuse(c, reason, connect_version,
			    b->why);
		broker_conn_close(c, false);
	} else {
		broker_conn_disconnect(c, (uint8_t)reason, b->why);
	}
	b->why[0] = '\0';
}

static int
dispatch_packet(struct broker_conn *c, const struct strata_mqtt_packet *p)
{
	switch (p->type) {
	case STRATA_MQTT_CONNECT:
		return broker_connect_handle(c, p);
	case STRATA_MQTT_PUBLISH:
		return broker_publish_handle(c, p);
	case STRATA_MQTT_PUBACK:
	case STRATA_MQTT_PUBREC:
	case STRATA_MQTT_PUBREL:
	case STRATA_MQTT_PUBCOMP:
		return broker_qos_handle_ack(c, p);
	case STRATA_MQTT_SUBSCRIBE:
		return broker_subscribe_handle(c, p);
	case STRATA_MQTT_UNSUBSCRIBE:
		return broker_unsubscribe_handle(c, p);
	case STRATA_MQTT_PINGREQ:
		return broker_ping_handle(c, p);
	case STRATA_MQTT_DISCONNECT:
		return broker_disconnect_handle(c, p);
	case STRATA_MQTT_AUTH:
		return broker_auth_handle(c, p);
	default:
		/* not reached: dispatch_direction() refused the rest */
		return STRATA_ERR(STRATA_RC_PROTOCOL_ERROR);
	}
}

/* Packets only a server sends (CONNACK, SUBACK, UNSUBACK, PINGRESP) are a
 * Protocol Error from a client (MQTT 5.0 4.13.1), whatever their bytes. */
static bool
dispatch_direction_ok(uint8_t type)
{
	return type != STRATA_MQTT_CONNACK && type != STRATA_MQTT_SUBACK &&
	    type != STRATA_MQTT_UNSUBACK && type != STRATA_MQTT_PINGRESP;
}

/* Decode and handle one whole frame p[0..total).  Returns 0 to go on. */
static int
dispatch_decoded(struct broker_conn *c, const uint8_t *p, size_t total)
{
	struct strata_broker *b = c->broker;
	struct strata_mqtt_packet pkt;
	uint8_t type = p[0] >> 4;
	uint8_t version = c->state == CONN_NEW ? 0 : c->version;
	int rc;

	if (type != 0 && !dispatch_direction_ok(type))
		rc = STRATA_ERR(STRATA_RC_PROTOCOL_ERROR);
	else
		rc = strata_mqtt_decode(p, total, version, &pkt);
	b->cur_frame = p;
	b->cur_frame_len = total;
	if (rc == 0 && pkt.type == STRATA_MQTT_CONNECT)
		broker_trace_connect(c, &pkt.u.connect);
	if (rc == 0 && c->trace != NULL)
		broker_trace_packet(c, &pkt, false);
	if (rc == 0)
		rc = dispatch_packet(c, &pkt);
	b->cur_frame = NULL;
	b->cur_frame_len = 0;
	if (rc != 0)
		dispatch_fail(c, rc, type, type == STRATA_MQTT_CONNECT ?
		    dispatch_peek_version(p, total) : c->version);
	return rc;
}

static int
dispatch_one(struct broker_conn *c, const uint8_t *p, size_t total)
{
	int rc;

	*c->broker->m.bytes_in += total;
	(*c->broker->m.packets_in[p[0] >> 4])++; /* 0..15: every cell exists */
	rc = dispatch_decoded(c, p, total);
	broker_throttle_bytes(c, total); /* may stop the dispatch */
	return rc;
}

void
broker_dispatch_replay(struct broker_conn *c, const uint8_t *p, size_t len)
{
	c->broker->why[0] = '\0';
	(void)dispatch_decoded(c, p, len);
}

static bool
dispatch_may_go_on(const struct broker_conn *c)
{
	return c->state == CONN_NEW || (c->state == CONN_ACTIVE &&
	    !c->throttled);
}

/* Frame the head of p[0..len): 0 with *total when a whole packet is
 * there, STRATA_AGAIN for more bytes, or an error (already handled: the
 * connection is closing). */
static int
dispatch_frame(struct broker_conn *c, const uint8_t *p, size_t len,
    size_t have, size_t *total)
{
	int rc;

	c->broker->why[0] = '\0';
	/* The first packet must be a CONNECT (MQTT-3.1.0-1): anything else
	 * is refused on its first byte, before a byte of it is held. */
	if (c->state == CONN_NEW && p[0] >> 4 != STRATA_MQTT_CONNECT) {
		dispatch_fail(c, STRATA_ERR(STRATA_RC_PROTOCOL_ERROR),
		    p[0] >> 4, 0);
		return STRATA_ERR(STRATA_RC_PROTOCOL_ERROR);
	}
	rc = strata_mqtt_frame(p, len, broker_max_packet(c->broker), total);

	if (rc == 0 && *total > have)
		return STRATA_AGAIN;
	if (rc == STRATA_ERR(STRATA_RC_PACKET_TOO_LARGE))
		broker_why(c->broker, "packet over the Maximum Packet Size "
		    "(%u bytes)", broker_max_packet(c->broker));
	if (rc != 0 && rc != STRATA_AGAIN)
		dispatch_fail(c, rc, p[0] >> 4, 0);
	return rc;
}

size_t
broker_dispatch_bytes(struct broker_conn *c, const uint8_t *p, size_t len)
{
	size_t used = 0, total;

	while (used < len && dispatch_may_go_on(c)) {
		if (dispatch_frame(c, p + used, len - used, len - used,
		    &total) != 0)
			break;
		if (dispatch_one(c, p + used, total) != 0)
			break;
		used += total;
	}
	return used;
}

void
broker_dispatch_input(struct broker_conn *c)
{
	struct evbuffer *in;
	uint8_t head[5];
	size_t total;
	ev_ssize_t n;
	int rc;

	/* WebSocket: the opening request and frames first (ws.c) */
	if (c->ws != NULL && broker_ws_read(c) != 0)
		return;
	in = c->ws != NULL ? broker_ws_input(c) : bufferevent_get_input(c->bev);

	while (dispatch_may_go_on(c)) {
		n = evbuffer_copyout(in, head, sizeof(head));
		if (n <= 0 || dispatch_frame(c, head, (size_t)n,
		    evbuffer_get_length(in), &total) != 0)
			return;
		rc = dispatch_one(c, evbuffer_pullup(in, (ev_ssize_t)total),
		    total);
		evbuffer_drain(in, total);
		if (rc != 0)
			return;
	}
}
