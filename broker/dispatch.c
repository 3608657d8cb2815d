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
 */
#include <string.h>

#include "broker.h"

/* The largest packet accepted: a maximal payload plus a topic and
 * properties.  Larger frames are refused before they are buffered. */
uint32_t
broker_max_packet(const struct strata_broker *b)
{
	return (uint32_t)b->cfg.max_payload + 65536 + 4096;
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
    uint8_t version)
{
	struct strata_mqtt_packet p;
	int code;

	memset(&p, 0, sizeof(p));
	p.type = STRATA_MQTT_CONNACK;
	/* levels above 5 get the MQTT 5 layout (0x84), older ones 3.1.1's */
	if (version >= STRATA_MQTT_V5) {
		c->version = STRATA_MQTT_V5;
		p.u.connack.reason = (uint8_t)reason;
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
	dispatch_connack_refuse(c, reason, c->version);
	broker_conn_close(c, false);
}

static void
dispatch_fail(struct broker_conn *c, int status, uint8_t type,
    uint8_t connect_version)
{
	unsigned reason = strata_status_reason(status);
	char what[48];

	snprintf(what, sizeof(what), "%s packet", type == 0 ? "reserved" :
	    strata_mqtt_type_name(type));
	broker_refuse(c->broker, c, reason, what);
	if (c->state == CONN_NEW) {
		if (type == STRATA_MQTT_CONNECT)
			dispatch_connack_refuse(c, reason, connect_version);
		broker_conn_close(c, false);
		return;
	}
	broker_conn_disconnect(c, (uint8_t)reason);
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

/* Handle one whole frame p[0..total).  Returns 0 to go on. */
static int
dispatch_one(struct broker_conn *c, const uint8_t *p, size_t total)
{
	struct strata_mqtt_packet pkt;
	uint8_t type = p[0] >> 4;
	uint8_t version = c->state == CONN_NEW ? 0 : c->version;
	int rc;

	*c->broker->m.bytes_in += total;
	(*c->broker->m.packets_in[type])++; /* 0..15: every cell exists */
	if (type != 0 && !dispatch_direction_ok(type))
		rc = STRATA_ERR(STRATA_RC_PROTOCOL_ERROR);
	else
		rc = strata_mqtt_decode(p, total, version, &pkt);
	if (rc == 0)
		rc = dispatch_packet(c, &pkt);
	if (rc != 0)
		dispatch_fail(c, rc, type, type == STRATA_MQTT_CONNECT ?
		    dispatch_peek_version(p, total) : c->version);
	return rc;
}

static bool
dispatch_may_go_on(const struct broker_conn *c)
{
	return c->state == CONN_NEW || c->state == CONN_ACTIVE;
}

/* Frame the head of p[0..len): 0 with *total when a whole packet is
 * there, STRATA_AGAIN for more bytes, or an error (already handled: the
 * connection is closing). */
static int
dispatch_frame(struct broker_conn *c, const uint8_t *p, size_t len,
    size_t have, size_t *total)
{
	int rc;

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
	struct evbuffer *in = bufferevent_get_input(c->bev);
	uint8_t head[5];
	size_t total;
	ev_ssize_t n;
	int rc;

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
