/*
 * mqtt_decode.c - framing and decoding of MQTT 3.1.1 and 5.0 packets.
 *
 * Each packet type has one decoder that reads its variable header and
 * payload from a reader holding exactly the remaining length; the common
 * entry point checks the fixed header and that nothing is left over.  Every
 * rule broken yields the reason code MQTT 5.0 prescribes for it (for 3.1.1
 * any error closes the connection, so the same codes serve).
 */
#include <string.h>

#include "mqtt.h"
#include "topic.h"

#define DECODE_MALFORMED STRATA_ERR(STRATA_RC_MALFORMED)
#define DECODE_PROTOCOL STRATA_ERR(STRATA_RC_PROTOCOL_ERROR)

#define CONNECT_RESERVED 0x01
#define CONNECT_CLEAN_START 0x02
#define CONNECT_WILL 0x04
#define CONNECT_WILL_QOS(f) (((f) >> 3) & 0x03)
#define CONNECT_WILL_RETAIN 0x20
#define CONNECT_PASSWORD 0x40
#define CONNECT_USERNAME 0x80

int
strata_mqtt_frame(const uint8_t *p, size_t len, size_t max_packet,
    size_t *total)
{
	size_t remaining = 0, i;

	for (i = 1; i <= 4; i++) {
		if (i >= len)
			return STRATA_AGAIN;
		remaining |= (size_t)(p[i] & 0x7F) << (7 * (i - 1));
		if ((p[i] & 0x80) == 0)
			break;
	}
	if (i > 4)
		return DECODE_MALFORMED;
	if (max_packet != 0 && 1 + i + remaining > max_packet)
		return STRATA_ERR(STRATA_RC_PACKET_TOO_LARGE);
	*total = 1 + i + remaining;
	return 0;
}

/* Read a property block (length + contents) if the version has them. */
static int
decode_props(struct strata_reader *r, uint8_t version, uint8_t type,
    struct strata_mqtt_props *out)
{
	struct strata_reader block;
	uint32_t len;
	int rc;

	if (version != STRATA_MQTT_V5)
		return 0;
	rc = strata_reader_varint(r, &len);
	if (rc == 0)
		rc = strata_reader_sub(r, len, &block);
	if (rc != 0)
		return rc;
	return strata_mqtt_props_parse(block.p, block.len, type, out);
}

/* Payload Format Indicator 1 promises UTF-8 (MQTT 5.0 3.3.2.3.2).  Not a
 * rule of the packet's syntax: the receiver MAY check it and answers on
 * its own terms (PUBACK/PUBREC, DISCONNECT or CONNACK 0x99), so the
 * decoder leaves it to the caller. */
int
strata_mqtt_payload_format_check(const struct strata_mqtt_props *props,
    struct strata_bytes payload)
{
	if ((props->present & STRATA_PROP_BIT(STRATA_PROP_PAYLOAD_FORMAT)) &&
	    props->payload_format == 1 &&
	    !strata_utf8_valid(payload.p, payload.len))
		return STRATA_ERR(STRATA_RC_PAYLOAD_FORMAT_INVALID);
	return 0;
}

static int
decode_packet_id(struct strata_reader *r, uint16_t *id)
{
	int rc = strata_reader_u16(r, id);

	if (rc == 0 && *id == 0)
		return DECODE_PROTOCOL;
	return rc;
}

static bool
decode_name_is(struct strata_bytes name, const char *want)
{
	size_t n = strlen(want);

	return name.len == n && memcmp(name.p, want, n) == 0;
}

/* Protocol Name and Level (MQTT 5.0 3.1.2.1-2). */
static int
decode_protocol(struct strata_reader *r, uint8_t *version)
{
	struct strata_bytes name;
	int rc;

	rc = strata_reader_binary(r, &name);
	if (rc == 0)
		rc = strata_reader_u8(r, version);
	if (rc != 0)
		return rc;
	if (decode_name_is(name, "MQIsdp"))
		return STRATA_ERR(STRATA_RC_UNSUPPORTED_VERSION);
	if (!decode_name_is(name, "MQTT"))
		return DECODE_PROTOCOL;
	if (*version != STRATA_MQTT_V311 && *version != STRATA_MQTT_V5)
		return STRATA_ERR(STRATA_RC_UNSUPPORTED_VERSION);
	return 0;
}

static int
decode_connect_flags(uint8_t flags, struct strata_mqtt_connect *c)
{
	if (flags & CONNECT_RESERVED)
		return DECODE_MALFORMED;
	c->clean_start = (flags & CONNECT_CLEAN_START) != 0;
	c->has_will = (flags & CONNECT_WILL) != 0;
	c->will_qos = CONNECT_WILL_QOS(flags);
	c->will_retain = (flags & CONNECT_WILL_RETAIN) != 0;
	c->has_password = (flags & CONNECT_PASSWORD) != 0;
	c->has_username = (flags & CONNECT_USERNAME) != 0;
	if (!c->has_will && (c->will_qos != 0 || c->will_retain))
		return DECODE_PROTOCOL;
	if (c->will_qos == 3)
		return DECODE_MALFORMED;
	if (c->version == STRATA_MQTT_V311 && c->has_password &&
	    !c->has_username)
		return DECODE_PROTOCOL;
	return 0;
}

static int
decode_will(struct strata_reader *r, struct strata_mqtt_connect *c)
{
	int rc;

	rc = decode_props(r, c->version, 0, &c->will_props);
	if (rc == 0)
		rc = strata_reader_string(r, &c->will_topic);
	if (rc == 0)
		rc = strata_reader_binary(r, &c->will_payload);
	if (rc == 0)
		rc = strata_topic_name_check(c->will_topic.p,
		    c->will_topic.len);
	return rc;
}

static int
decode_connect(struct strata_reader *r, struct strata_mqtt_packet *out)
{
	struct strata_mqtt_connect *c = &out->u.connect;
	uint8_t flags;
	int rc;

	rc = decode_protocol(r, &c->version);
	if (rc == 0)
		rc = strata_reader_u8(r, &flags);
	if (rc == 0)
		rc = decode_connect_flags(flags, c);
	if (rc == 0)
		rc = strata_reader_u16(r, &c->keepalive);
	if (rc == 0)
		rc = decode_props(r, c->version, STRATA_MQTT_CONNECT,
		    &out->props);
	if (rc == 0)
		rc = strata_reader_string(r, &c->client_id);
	if (rc == 0 && c->has_will)
		rc = decode_will(r, c);
	if (rc == 0 && c->has_username)
		rc = strata_reader_string(r, &c->username);
	if (rc == 0 && c->has_password)
		rc = strata_reader_binary(r, &c->password);
	return rc;
}

static int
decode_connack(struct strata_reader *r, uint8_t version,
    struct strata_mqtt_packet *out)
{
	uint8_t flags;
	int rc;

	rc = strata_reader_u8(r, &flags);
	if (rc == 0 && (flags & 0xFE) != 0)
		rc = DECODE_MALFORMED;
	if (rc == 0)
		rc = strata_reader_u8(r, &out->u.connack.reason);
	if (rc == 0)
		rc = decode_props(r, version, STRATA_MQTT_CONNACK,
		    &out->props);
	out->u.connack.session_present = (flags & 0x01) != 0;
	return rc;
}

/* Topic Name rules: MQTT 5.0 3.3.2.1 and 3.3.2.3.4, 3.1.1 4.7.3. */
static int
decode_topic_name(const struct strata_mqtt_packet *out, uint8_t version)
{
	const struct strata_bytes *t = &out->u.publish.topic;

	if (t->len > 0)
		return strata_topic_name_check(t->p, t->len);
	if (version == STRATA_MQTT_V311)
		return STRATA_ERR(STRATA_RC_TOPIC_NAME_INVALID);
	if (out->props.present & STRATA_PROP_BIT(STRATA_PROP_TOPIC_ALIAS))
		return 0;
	return DECODE_PROTOCOL;
}

static int
decode_publish(struct strata_reader *r, uint8_t version,
    struct strata_mqtt_packet *out)
{
	struct strata_mqtt_publish *pub = &out->u.publish;
	int rc;

	pub->qos = (out->flags >> 1) & 0x03;
	pub->dup = (out->flags & 0x08) != 0;
	pub->retain = (out->flags & 0x01) != 0;
	rc = strata_reader_string(r, &pub->topic);
	if (rc == 0 && pub->qos > 0)
		rc = decode_packet_id(r, &pub->packet_id);
	if (rc == 0)
		rc = decode_props(r, version, STRATA_MQTT_PUBLISH,
		    &out->props);
	if (rc != 0)
		return rc;
	pub->payload = strata_reader_rest(r);
	return decode_topic_name(out, version);
}

/* PUBACK, PUBREC, PUBREL, PUBCOMP: in MQTT 5 the reason code and the
 * properties may be left out (remaining length 2 or 3). */
static int
decode_ack(struct strata_reader *r, uint8_t version,
    struct strata_mqtt_packet *out)
{
	int rc;

	rc = decode_packet_id(r, &out->u.ack.packet_id);
	if (rc != 0 || version != STRATA_MQTT_V5 || r->len == 0)
		return rc;
	rc = strata_reader_u8(r, &out->u.ack.reason);
	if (rc != 0 || r->len == 0)
		return rc;
	return decode_props(r, version, out->type, &out->props);
}

/* Read one SUBSCRIBE/UNSUBSCRIBE entry without judging its contents. */
static int
decode_sub_entry(struct strata_reader *it, uint8_t type,
    struct strata_mqtt_sub_entry *e)
{
	struct strata_reader probe = *it;
	int rc;

	e->options = 0;
	rc = strata_reader_string(&probe, &e->filter);
	if (rc == 0 && type == STRATA_MQTT_SUBSCRIBE)
		rc = strata_reader_u8(&probe, &e->options);
	if (rc == 0)
		*it = probe;
	return rc;
}

int
strata_mqtt_sub_next(struct strata_reader *it, uint8_t type,
    uint8_t version, struct strata_mqtt_sub_entry *e)
{
	if (it->len == 0)
		return STRATA_ENOTFOUND;
	return decode_sub_entry(it, type, e);
}

static bool
decode_is_shared(struct strata_bytes filter)
{
	return filter.len >= 7 && memcmp(filter.p, "$share/", 7) == 0;
}

/* Subscription options: MQTT 5.0 3.8.3.1, 3.1.1 3.8.3.1. */
static int
decode_sub_options(uint8_t options, uint8_t version)
{
	if (version == STRATA_MQTT_V311)
		return (options & 0xFC) || STRATA_SUBOPT_QOS(options) == 3 ?
		    DECODE_MALFORMED : 0;
	if (options & 0xC0)
		return DECODE_MALFORMED;
	if (STRATA_SUBOPT_QOS(options) == 3 ||
	    STRATA_SUBOPT_RETAIN_HANDLING(options) == 3)
		return DECODE_PROTOCOL;
	return 0;
}

static int
decode_sub_check(const struct strata_mqtt_sub_entry *e, uint8_t type,
    uint8_t version)
{
	int rc = 0;

	if (type == STRATA_MQTT_SUBSCRIBE)
		rc = decode_sub_options(e->options, version);
	if (rc == 0)
		rc = strata_topic_filter_check(e->filter.p, e->filter.len);
	if (rc == 0 && (e->options & STRATA_SUBOPT_NO_LOCAL) &&
	    decode_is_shared(e->filter))
		rc = DECODE_PROTOCOL;
	return rc;
}

static int
decode_subscribe(struct strata_reader *r, uint8_t version,
    struct strata_mqtt_packet *out)
{
	struct strata_mqtt_subscribe *s = &out->u.subscribe;
	struct strata_mqtt_sub_entry e;
	struct strata_reader it;
	int rc;

	rc = decode_packet_id(r, &s->packet_id);
	if (rc == 0)
		rc = decode_props(r, version, out->type, &out->props);
	if (rc != 0)
		return rc;
	s->entries = strata_reader_rest(r);
	it = strata_reader_init(s->entries.p, s->entries.len);
	while (it.len > 0) {
		rc = decode_sub_entry(&it, out->type, &e);
		if (rc == 0)
			rc = decode_sub_check(&e, out->type, version);
		if (rc != 0)
			return rc;
		s->count++;
	}
	return s->count == 0 ? DECODE_PROTOCOL : 0;
}

/* 3.1.1 SUBACK return codes: MQTT 3.1.1 3.9.3. */
static bool
decode_suback_v311_valid(struct strata_bytes reasons)
{
	uint32_t i;

	for (i = 0; i < reasons.len; i++)
		if (reasons.p[i] > 2 && reasons.p[i] != 0x80)
			return false;
	return true;
}

static int
decode_suback(struct strata_reader *r, uint8_t version,
    struct strata_mqtt_packet *out)
{
	struct strata_mqtt_suback *s = &out->u.suback;
	int rc;

	rc = decode_packet_id(r, &s->packet_id);
	if (rc == 0)
		rc = decode_props(r, version, out->type, &out->props);
	if (rc != 0)
		return rc;
	/* A 3.1.1 UNSUBACK is the packet identifier alone. */
	if (version == STRATA_MQTT_V311 && out->type == STRATA_MQTT_UNSUBACK)
		return 0;
	s->reasons = strata_reader_rest(r);
	if (s->reasons.len == 0)
		return DECODE_PROTOCOL;
	if (version == STRATA_MQTT_V311 &&
	    !decode_suback_v311_valid(s->reasons))
		return DECODE_MALFORMED;
	return 0;
}

/* DISCONNECT and AUTH: in MQTT 5 remaining length 0 means reason 0 and
 * no properties, 1 means no properties. */
static int
decode_reason(struct strata_reader *r, uint8_t version,
    struct strata_mqtt_packet *out)
{
	uint8_t *reason = &out->u.reason.reason;
	int rc;

	if (version != STRATA_MQTT_V5 || r->len == 0)
		return 0;
	rc = strata_reader_u8(r, reason);
	if (rc == 0 && r->len > 0)
		rc = decode_props(r, version, out->type, &out->props);
	/* MQTT 5.0 3.15.2.1: AUTH knows only these three reason codes. */
	if (rc == 0 && out->type == STRATA_MQTT_AUTH &&
	    *reason != STRATA_RC_SUCCESS &&
	    *reason != STRATA_RC_CONTINUE_AUTH &&
	    *reason != STRATA_RC_REAUTHENTICATE)
		rc = DECODE_PROTOCOL;
	return rc;
}

/* Fixed header flags: MQTT 5.0 2.1.3, 3.3.1. */
static int
decode_check_flags(uint8_t type, uint8_t flags)
{
	switch (type) {
	case STRATA_MQTT_PUBLISH:
		if (((flags >> 1) & 0x03) == 3)
			return DECODE_MALFORMED;
		/* DUP must be 0 for QoS 0 (MQTT-3.3.1-2). */
		if (((flags >> 1) & 0x03) == 0 && (flags & 0x08))
			return DECODE_MALFORMED;
		return 0;
	case STRATA_MQTT_PUBREL:
	case STRATA_MQTT_SUBSCRIBE:
	case STRATA_MQTT_UNSUBSCRIBE:
		return flags == 0x02 ? 0 : DECODE_MALFORMED;
	default:
		return flags == 0 ? 0 : DECODE_MALFORMED;
	}
}

static int
decode_body(struct strata_reader *r, uint8_t version,
    struct strata_mqtt_packet *out)
{
	switch (out->type) {
	case STRATA_MQTT_CONNECT:
		return decode_connect(r, out);
	case STRATA_MQTT_CONNACK:
		return decode_connack(r, version, out);
	case STRATA_MQTT_PUBLISH:
		return decode_publish(r, version, out);
	case STRATA_MQTT_PUBACK:
	case STRATA_MQTT_PUBREC:
	case STRATA_MQTT_PUBREL:
	case STRATA_MQTT_PUBCOMP:
		return decode_ack(r, version, out);
	case STRATA_MQTT_SUBSCRIBE:
	case STRATA_MQTT_UNSUBSCRIBE:
		return decode_subscribe(r, version, out);
	case STRATA_MQTT_SUBACK:
	case STRATA_MQTT_UNSUBACK:
		return decode_suback(r, version, out);
	case STRATA_MQTT_DISCONNECT:
	case STRATA_MQTT_AUTH:
		return decode_reason(r, version, out);
	default: /* PINGREQ, PINGRESP: nothing after the fixed header */
		return 0;
	}
}

/* Which version applies to this packet, or an error for one that cannot
 * come now: anything but CONNECT before CONNECT, AUTH in 3.1.1. */
static int
decode_version(uint8_t type, uint8_t version)
{
	if (type == STRATA_MQTT_CONNECT)
		return 0;
	if (version == 0)
		return DECODE_PROTOCOL;
	if (version != STRATA_MQTT_V311 && version != STRATA_MQTT_V5)
		return STRATA_EINVAL;
	if (type == STRATA_MQTT_AUTH && version == STRATA_MQTT_V311)
		return DECODE_MALFORMED;
	return 0;
}

int
strata_mqtt_decode(const uint8_t *p, size_t len, uint8_t version,
    struct strata_mqtt_packet *out)
{
	struct strata_reader r = strata_reader_init(p, len);
	uint32_t remaining;
	uint8_t byte0;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = strata_reader_u8(&r, &byte0);
	if (rc == 0)
		rc = strata_reader_varint(&r, &remaining);
	if (rc != 0)
		return rc;
	if (r.len != remaining)
		return DECODE_MALFORMED;
	out->type = byte0 >> 4;
	out->flags = byte0 & 0x0F;
	if (out->type == 0)
		return DECODE_MALFORMED;
	rc = decode_version(out->type, version);
	if (rc == 0)
		rc = decode_check_flags(out->type, out->flags);
	if (rc == 0)
		rc = decode_body(&r, version, out);
	if (rc == 0 && r.len != 0)
		rc = DECODE_MALFORMED;
	return rc;
}

const char *
strata_mqtt_type_name(uint8_t type)
{
	static const char *const names[] = {
	    [STRATA_MQTT_CONNECT] = "connect",
	    [STRATA_MQTT_CONNACK] = "connack",
	    [STRATA_MQTT_PUBLISH] = "publish",
	    [STRATA_MQTT_PUBACK] = "puback",
	    [STRATA_MQTT_PUBREC] = "pubrec",
	    [STRATA_MQTT_PUBREL] = "pubrel",
	    [STRATA_MQTT_PUBCOMP] = "pubcomp",
	    [STRATA_MQTT_SUBSCRIBE] = "subscribe",
	    [STRATA_MQTT_SUBACK] = "suback",
	    [STRATA_MQTT_UNSUBSCRIBE] = "unsubscribe",
	    [STRATA_MQTT_UNSUBACK] = "unsuback",
	    [STRATA_MQTT_PINGREQ] = "pingreq",
	    [STRATA_MQTT_PINGRESP] = "pingresp",
	    [STRATA_MQTT_DISCONNECT] = "disconnect",
	    [STRATA_MQTT_AUTH] = "auth",
	};

	if (type == 0 || type > STRATA_MQTT_AUTH)
		return "unknown";
	return names[type];
}
