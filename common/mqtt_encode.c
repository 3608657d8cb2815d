/*
 * mqtt_encode.c - writing MQTT 3.1.1 and 5.0 packets.
 *
 * The size of the remaining length is computed first, by the same rules the
 * writer follows, and the writer asserts that it wrote exactly that much: a
 * mismatch is our bug.  The packet given is trusted (it comes from our own
 * code); impossible values trip assert().
 */
#include <assert.h>
#include <string.h>

#include "mqtt.h"

#define ENCODE_VARINT_MAX 268435455u

/* A cursor over an output buffer already known to be large enough. */
struct encode_out {
	uint8_t *p;
	size_t n;
};

static void
encode_u8(struct encode_out *o, uint8_t v)
{
	o->p[o->n++] = v;
}

static void
encode_u16(struct encode_out *o, uint16_t v)
{
	o->p[o->n++] = (uint8_t)(v >> 8);
	o->p[o->n++] = (uint8_t)v;
}

static void
encode_raw(struct encode_out *o, struct strata_bytes b)
{
	if (b.len > 0)
		memcpy(o->p + o->n, b.p, b.len);
	o->n += b.len;
}

/* Two-byte length prefixed string or binary. */
static void
encode_bytes(struct encode_out *o, struct strata_bytes b)
{
	assert(b.len <= UINT16_MAX);
	encode_u16(o, (uint16_t)b.len);
	encode_raw(o, b);
}

static void
encode_props(struct encode_out *o, const struct strata_mqtt_props *props)
{
	o->n += strata_mqtt_props_write(props, o->p + o->n);
}

static size_t
encode_bytes_size(struct strata_bytes b)
{
	assert(b.len <= UINT16_MAX);
	return 2 + b.len;
}

/* Size of a whole property block (length varint included), 0 for 3.1.1. */
static size_t
encode_props_size(const struct strata_mqtt_props *props, uint8_t version)
{
	size_t n;

	if (version != STRATA_MQTT_V5)
		return 0;
	n = strata_mqtt_props_size(props);
	assert(n <= ENCODE_VARINT_MAX);
	return strata_varint_size((uint32_t)n) + n;
}

static size_t
encode_connect_size(const struct strata_mqtt_packet *pkt, uint8_t version)
{
	const struct strata_mqtt_connect *c = &pkt->u.connect;
	size_t n;

	/* "MQTT", level, flags, keep alive */
	n = 6 + 1 + 1 + 2 + encode_props_size(&pkt->props, version);
	n += encode_bytes_size(c->client_id);
	if (c->has_will)
		n += encode_props_size(&c->will_props, version) +
		    encode_bytes_size(c->will_topic) +
		    encode_bytes_size(c->will_payload);
	if (c->has_username)
		n += encode_bytes_size(c->username);
	if (c->has_password)
		n += encode_bytes_size(c->password);
	return n;
}

static size_t
encode_publish_size(const struct strata_mqtt_packet *pkt, uint8_t version)
{
	const struct strata_mqtt_publish *pub = &pkt->u.publish;

	assert(pub->qos <= 2);
	assert(pub->qos == 0 || pub->packet_id != 0);
	return encode_bytes_size(pub->topic) + (pub->qos > 0 ? 2 : 0) +
	    encode_props_size(&pkt->props, version) + pub->payload.len;
}

/* PUBACK..PUBCOMP: MQTT 5 leaves out what is default (3.4.2.1). */
static size_t
encode_ack_size(const struct strata_mqtt_packet *pkt, uint8_t version)
{
	assert(pkt->u.ack.packet_id != 0);
	if (version != STRATA_MQTT_V5)
		return 2;
	if (strata_mqtt_props_size(&pkt->props) > 0)
		return 3 + encode_props_size(&pkt->props, version);
	return pkt->u.ack.reason != 0 ? 3 : 2;
}

/* DISCONNECT, AUTH: MQTT 5 leaves out what is default (3.14.2.1). */
static size_t
encode_reason_size(const struct strata_mqtt_packet *pkt, uint8_t version)
{
	if (version != STRATA_MQTT_V5)
		return 0;
	if (strata_mqtt_props_size(&pkt->props) > 0)
		return 1 + encode_props_size(&pkt->props, version);
	return pkt->u.reason.reason != 0 ? 1 : 0;
}

static size_t
encode_suback_size(const struct strata_mqtt_packet *pkt, uint8_t version)
{
	if (version == STRATA_MQTT_V311 && pkt->type == STRATA_MQTT_UNSUBACK)
		return 2;
	return 2 + encode_props_size(&pkt->props, version) +
	    pkt->u.suback.reasons.len;
}

/* Remaining length of the packet. */
static size_t
encode_body_size(const struct strata_mqtt_packet *pkt, uint8_t version)
{
	switch (pkt->type) {
	case STRATA_MQTT_CONNECT:
		return encode_connect_size(pkt, version);
	case STRATA_MQTT_CONNACK:
		return 2 + encode_props_size(&pkt->props, version);
	case STRATA_MQTT_PUBLISH:
		return encode_publish_size(pkt, version);
	case STRATA_MQTT_PUBACK:
	case STRATA_MQTT_PUBREC:
	case STRATA_MQTT_PUBREL:
	case STRATA_MQTT_PUBCOMP:
		return encode_ack_size(pkt, version);
	case STRATA_MQTT_SUBSCRIBE:
	case STRATA_MQTT_UNSUBSCRIBE:
		assert(pkt->u.subscribe.packet_id != 0);
		assert(pkt->u.subscribe.entries.len > 0);
		return 2 + encode_props_size(&pkt->props, version) +
		    pkt->u.subscribe.entries.len;
	case STRATA_MQTT_SUBACK:
	case STRATA_MQTT_UNSUBACK:
		return encode_suback_size(pkt, version);
	case STRATA_MQTT_PINGREQ:
	case STRATA_MQTT_PINGRESP:
		return 0;
	case STRATA_MQTT_DISCONNECT:
	case STRATA_MQTT_AUTH:
		return encode_reason_size(pkt, version);
	}
	assert(!"unknown MQTT packet type");
	return 0;
}

size_t
strata_mqtt_encoded_size(const struct strata_mqtt_packet *pkt,
    uint8_t version)
{
	size_t body;

	assert(version == STRATA_MQTT_V311 || version == STRATA_MQTT_V5);
	assert(pkt->type != STRATA_MQTT_AUTH || version == STRATA_MQTT_V5);
	body = encode_body_size(pkt, version);
	assert(body <= ENCODE_VARINT_MAX);
	return 1 + strata_varint_size((uint32_t)body) + body;
}

static uint8_t
encode_connect_flags(const struct strata_mqtt_connect *c)
{
	uint8_t f = 0;

	assert(c->will_qos <= 2);
	assert(c->has_will || (c->will_qos == 0 && !c->will_retain));
	f |= c->clean_start ? 0x02 : 0;
	f |= c->has_will ? 0x04 : 0;
	f |= (uint8_t)(c->will_qos << 3);
	f |= c->will_retain ? 0x20 : 0;
	f |= c->has_password ? 0x40 : 0;
	f |= c->has_username ? 0x80 : 0;
	return f;
}

/* The protocol level written is `version`; c->version is not consulted. */
static void
encode_connect(struct encode_out *o, const struct strata_mqtt_packet *pkt,
    uint8_t version)
{
	const struct strata_mqtt_connect *c = &pkt->u.connect;
	static const uint8_t name[] = {'M', 'Q', 'T', 'T'};

	encode_bytes(o, (struct strata_bytes){name, sizeof(name)});
	encode_u8(o, version);
	encode_u8(o, encode_connect_flags(c));
	encode_u16(o, c->keepalive);
	if (version == STRATA_MQTT_V5)
		encode_props(o, &pkt->props);
	encode_bytes(o, c->client_id);
	if (c->has_will) {
		if (version == STRATA_MQTT_V5)
			encode_props(o, &c->will_props);
		encode_bytes(o, c->will_topic);
		encode_bytes(o, c->will_payload);
	}
	if (c->has_username)
		encode_bytes(o, c->username);
	if (c->has_password)
		encode_bytes(o, c->password);
}

static void
encode_publish(struct encode_out *o, const struct strata_mqtt_packet *pkt,
    uint8_t version)
{
	const struct strata_mqtt_publish *pub = &pkt->u.publish;

	encode_bytes(o, pub->topic);
	if (pub->qos > 0)
		encode_u16(o, pub->packet_id);
	if (version == STRATA_MQTT_V5)
		encode_props(o, &pkt->props);
	encode_raw(o, pub->payload);
}

/* Write what follows the packet identifier or the reason code, given the
 * remaining length already decided by the size functions. */
static void
encode_ack(struct encode_out *o, const struct strata_mqtt_packet *pkt,
    size_t body)
{
	encode_u16(o, pkt->u.ack.packet_id);
	if (body >= 3)
		encode_u8(o, pkt->u.ack.reason);
	if (body > 3)
		encode_props(o, &pkt->props);
}

static void
encode_reason(struct encode_out *o, const struct strata_mqtt_packet *pkt,
    size_t body)
{
	if (body >= 1)
		encode_u8(o, pkt->u.reason.reason);
	if (body > 1)
		encode_props(o, &pkt->props);
}

static void
encode_id_props_rest(struct encode_out *o,
    const struct strata_mqtt_packet *pkt, uint16_t id,
    struct strata_bytes rest, uint8_t version)
{
	assert(id != 0);
	encode_u16(o, id);
	if (version == STRATA_MQTT_V5)
		encode_props(o, &pkt->props);
	encode_raw(o, rest);
}

static void
encode_body(struct encode_out *o, const struct strata_mqtt_packet *pkt,
    uint8_t version, size_t body)
{
	switch (pkt->type) {
	case STRATA_MQTT_CONNECT:
		encode_connect(o, pkt, version);
		break;
	case STRATA_MQTT_CONNACK:
		encode_u8(o, pkt->u.connack.session_present ? 1 : 0);
		encode_u8(o, pkt->u.connack.reason);
		if (version == STRATA_MQTT_V5)
			encode_props(o, &pkt->props);
		break;
	case STRATA_MQTT_PUBLISH:
		encode_publish(o, pkt, version);
		break;
	case STRATA_MQTT_PUBACK:
	case STRATA_MQTT_PUBREC:
	case STRATA_MQTT_PUBREL:
	case STRATA_MQTT_PUBCOMP:
		encode_ack(o, pkt, body);
		break;
	case STRATA_MQTT_SUBSCRIBE:
	case STRATA_MQTT_UNSUBSCRIBE:
		encode_id_props_rest(o, pkt, pkt->u.subscribe.packet_id,
		    pkt->u.subscribe.entries, version);
		break;
	case STRATA_MQTT_SUBACK:
	case STRATA_MQTT_UNSUBACK:
		if (body == 2)
			encode_u16(o, pkt->u.suback.packet_id);
		else
			encode_id_props_rest(o, pkt,
			    pkt->u.suback.packet_id, pkt->u.suback.reasons,
			    version);
		break;
	case STRATA_MQTT_DISCONNECT:
	case STRATA_MQTT_AUTH:
		encode_reason(o, pkt, body);
		break;
	}
}

static uint8_t
encode_fixed_flags(const struct strata_mqtt_packet *pkt)
{
	const struct strata_mqtt_publish *pub = &pkt->u.publish;

	switch (pkt->type) {
	case STRATA_MQTT_PUBLISH:
		return (uint8_t)((pub->dup ? 0x08 : 0) | (pub->qos << 1) |
		    (pub->retain ? 0x01 : 0));
	case STRATA_MQTT_PUBREL:
	case STRATA_MQTT_SUBSCRIBE:
	case STRATA_MQTT_UNSUBSCRIBE:
		return 0x02;
	default:
		return 0;
	}
}

size_t
strata_mqtt_encode(const struct strata_mqtt_packet *pkt, uint8_t version,
    uint8_t *out, size_t cap)
{
	struct encode_out o = {out, 0};
	size_t total, body;

	total = strata_mqtt_encoded_size(pkt, version);
	if (total > cap)
		return 0;
	body = encode_body_size(pkt, version);
	encode_u8(&o, (uint8_t)(pkt->type << 4 | encode_fixed_flags(pkt)));
	o.n += strata_varint_write(out + o.n, (uint32_t)body);
	encode_body(&o, pkt, version, body);
	assert(o.n == total);
	return o.n;
}
