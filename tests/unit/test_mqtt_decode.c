/*
 * test_mqtt_decode.c - decoding real packets field by field, and every
 * validation rule with the reason code it must give.
 *
 * Packets are written as hex following the byte layouts of MQTT 3.1.1 and
 * MQTT 5.0 (fixed header, remaining length, variable header, payload).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mqtt.h"

#define V4 STRATA_MQTT_V311
#define V5 STRATA_MQTT_V5
#define MALFORMED STRATA_ERR(STRATA_RC_MALFORMED)
#define PROTOCOL STRATA_ERR(STRATA_RC_PROTOCOL_ERROR)

/* Decoded views point into this buffer: one packet at a time. */
static uint8_t frame[1024];
static size_t frame_len;

static size_t
hex_to_bytes(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;
	unsigned v;

	while (*s != '\0') {
		if (*s == ' ') {
			s++;
			continue;
		}
		assert_true(sscanf(s, "%2x", &v) == 1);
		assert_true(n < cap);
		out[n++] = (uint8_t)v;
		s += 2;
	}
	return n;
}

static int
decode(const char *hex, uint8_t version, struct strata_mqtt_packet *pkt)
{
	frame_len = hex_to_bytes(hex, frame, sizeof(frame));
	return strata_mqtt_decode(frame, frame_len, version, pkt);
}

static int
decode_rc(const char *hex, uint8_t version)
{
	struct strata_mqtt_packet pkt;

	return decode(hex, version, &pkt);
}

static void
assert_bytes(struct strata_bytes b, const char *want)
{
	assert_int_equal(b.len, strlen(want));
	if (b.len > 0)
		assert_memory_equal(b.p, want, b.len);
}

static void
test_frame(void **state)
{
	static const uint8_t big[] = {0x30, 0xFF, 0xFF, 0xFF, 0x7F};
	static const uint8_t five[] = {0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01};
	static const uint8_t ping[] = {0xC0, 0x00};
	static const uint8_t part[] = {0x30, 0x80};
	size_t total = 0;

	assert_int_equal(strata_mqtt_frame(ping, 1, 0, &total), STRATA_AGAIN);
	assert_int_equal(strata_mqtt_frame(ping, 2, 0, &total), 0);
	assert_int_equal(total, 2);
	assert_int_equal(strata_mqtt_frame(part, 2, 0, &total), STRATA_AGAIN);
	assert_int_equal(strata_mqtt_frame(big, 5, 0, &total), 0);
	assert_int_equal(total, 268435455 + 5);
	assert_int_equal(strata_mqtt_frame(big, 5, 1024, &total),
	    STRATA_ERR(STRATA_RC_PACKET_TOO_LARGE));
	assert_int_equal(strata_mqtt_frame(five, 6, 0, &total), MALFORMED);
	/* the fifth byte is refused without being looked at */
	assert_int_equal(strata_mqtt_frame(five, 5, 0, &total), MALFORMED);
}

static void
test_connect_v311(void **state)
{
	struct strata_mqtt_packet pkt;
	struct strata_mqtt_connect *c = &pkt.u.connect;

	assert_int_equal(decode("10 20 00 04 4d 51 54 54 04 ee 00 3c"
	    " 00 03 63 69 64 00 03 77 2f 74 00 03 62 79 65 00 01 75"
	    " 00 02 70 77", 0, &pkt), 0);
	assert_int_equal(pkt.type, STRATA_MQTT_CONNECT);
	assert_int_equal(c->version, V4);
	assert_true(c->clean_start);
	assert_true(c->has_will);
	assert_true(c->will_retain);
	assert_int_equal(c->will_qos, 1);
	assert_true(c->has_username);
	assert_true(c->has_password);
	assert_int_equal(c->keepalive, 60);
	assert_bytes(c->client_id, "cid");
	assert_bytes(c->will_topic, "w/t");
	assert_bytes(c->will_payload, "bye");
	assert_bytes(c->username, "u");
	assert_bytes(c->password, "pw");
	assert_int_equal(pkt.props.present, 0);
}

static void
test_connect_v5(void **state)
{
	struct strata_mqtt_packet pkt;
	struct strata_mqtt_connect *c = &pkt.u.connect;
	struct strata_reader it;
	struct strata_bytes k, v;

	assert_int_equal(decode("10 1d 00 04 4d 51 54 54 05 02 00 3c 0f"
	    " 11 00 00 00 78 21 00 0a 26 00 01 6b 00 01 76 00 01 63", 4,
	    &pkt), 0);
	assert_int_equal(c->version, V5);
	assert_true(c->clean_start);
	assert_false(c->has_will);
	assert_bytes(c->client_id, "c");
	assert_int_equal(pkt.props.present,
	    STRATA_PROP_BIT(STRATA_PROP_SESSION_EXPIRY) |
		STRATA_PROP_BIT(STRATA_PROP_RECEIVE_MAXIMUM) |
		STRATA_PROP_BIT(STRATA_PROP_USER_PROPERTY));
	assert_int_equal(pkt.props.session_expiry, 120);
	assert_int_equal(pkt.props.receive_maximum, 10);
	assert_int_equal(pkt.props.n_user_props, 1);
	it = strata_reader_init(pkt.props.user_src.p, pkt.props.user_src.len);
	assert_int_equal(strata_mqtt_user_next(&it, &k, &v), 0);
	assert_bytes(k, "k");
	assert_bytes(v, "v");
	assert_int_equal(strata_mqtt_user_next(&it, &k, &v),
	    STRATA_ENOTFOUND);
}

static void
test_connect_v5_will(void **state)
{
	struct strata_mqtt_packet pkt;
	struct strata_mqtt_connect *c = &pkt.u.connect;

	assert_int_equal(decode("10 1c 00 04 4d 51 54 54 05 06 00 3c 00"
	    " 00 00 07 01 01 18 00 00 00 05 00 01 74 00 02 68 69", 0, &pkt),
	    0);
	assert_true(c->has_will);
	assert_int_equal(c->will_qos, 0);
	assert_bytes(c->client_id, "");
	assert_int_equal(c->will_props.payload_format, 1);
	assert_int_equal(c->will_props.will_delay, 5);
	assert_bytes(c->will_topic, "t");
	assert_bytes(c->will_payload, "hi");
	assert_int_equal(strata_mqtt_payload_format_check(&c->will_props,
	    c->will_payload), 0);
	/* the same Will with a payload that is not UTF-8: decoded, the
	 * format is the receiver's to check */
	assert_int_equal(decode("10 1b 00 04 4d 51 54 54 05 06 00 3c 00"
	    " 00 00 07 01 01 18 00 00 00 05 00 01 74 00 01 ff", 0, &pkt), 0);
	assert_int_equal(strata_mqtt_payload_format_check(&c->will_props,
	    c->will_payload), STRATA_ERR(STRATA_RC_PAYLOAD_FORMAT_INVALID));
	/* Topic Alias is not a Will property */
	assert_int_equal(decode_rc("10 16 00 04 4d 51 54 54 05 06 00 3c 00"
	    " 00 00 03 23 00 01 00 01 74 00 00", 0), PROTOCOL);
	/* Will Delay is not a CONNECT property */
	assert_int_equal(decode_rc("10 12 00 04 4d 51 54 54 05 02 00 3c 05"
	    " 18 00 00 00 05 00 00", 0), PROTOCOL);
	/* a Will topic is a topic name */
	assert_int_equal(decode_rc("10 15 00 04 4d 51 54 54 05 06 00 3c 00"
	    " 00 00 00 00 03 61 2f 23 00 00", 0),
	    STRATA_ERR(STRATA_RC_TOPIC_NAME_INVALID));
}

static void
test_connect_errors(void **state)
{
	/* MQIsdp (3.1) and unknown levels */
	assert_int_equal(decode_rc("10 0e 00 06 4d 51 49 73 64 70 03 02 00 3c"
	    " 00 00", 0), STRATA_ERR(STRATA_RC_UNSUPPORTED_VERSION));
	assert_int_equal(decode_rc("10 0c 00 04 4d 51 54 54 06 02 00 3c 00 00",
	    0), STRATA_ERR(STRATA_RC_UNSUPPORTED_VERSION));
	assert_int_equal(decode_rc("10 0c 00 04 4d 51 54 54 03 02 00 3c 00 00",
	    0), STRATA_ERR(STRATA_RC_UNSUPPORTED_VERSION));
	/* wrong protocol name */
	assert_int_equal(decode_rc("10 0c 00 04 4d 51 54 58 04 02 00 3c 00 00",
	    0), PROTOCOL);
	/* reserved flag */
	assert_int_equal(decode_rc("10 0c 00 04 4d 51 54 54 04 03 00 3c 00 00",
	    0), MALFORMED);
	assert_int_equal(decode_rc("10 0d 00 04 4d 51 54 54 05 03 00 3c 00 00"
	    " 00", 0), MALFORMED);
	/* Will QoS / Will Retain without the Will flag */
	assert_int_equal(decode_rc("10 0c 00 04 4d 51 54 54 04 0a 00 3c 00 00",
	    0), PROTOCOL);
	assert_int_equal(decode_rc("10 0c 00 04 4d 51 54 54 04 22 00 3c 00 00",
	    0), PROTOCOL);
	/* Will QoS 3 */
	assert_int_equal(decode_rc("10 11 00 04 4d 51 54 54 04 1e 00 3c 00 00"
	    " 00 01 74 00 00", 0), MALFORMED);
	/* 3.1.1: password without user name; allowed in 5 */
	assert_int_equal(decode_rc("10 10 00 04 4d 51 54 54 04 42 00 3c 00 00"
	    " 00 02 70 77", 0), PROTOCOL);
	assert_int_equal(decode_rc("10 11 00 04 4d 51 54 54 05 42 00 3c 00 00"
	    " 00 00 02 70 77", 0), 0);
	/* missing password, trailing byte, bad UTF-8 client id */
	assert_int_equal(decode_rc("10 0c 00 04 4d 51 54 54 04 c2 00 3c 00 00",
	    0), MALFORMED);
	assert_int_equal(decode_rc("10 0d 00 04 4d 51 54 54 04 02 00 3c 00 00"
	    " 00", 0), MALFORMED);
	assert_int_equal(decode_rc("10 0d 00 04 4d 51 54 54 04 02 00 3c 00 01"
	    " c0", 0), MALFORMED);
	/* property values */
	assert_int_equal(decode_rc("10 0f 00 04 4d 51 54 54 05 02 00 3c 02"
	    " 17 02 00 00", 0), PROTOCOL);
	assert_int_equal(decode_rc("10 0f 00 04 4d 51 54 54 05 02 00 3c 02"
	    " 19 02 00 00", 0), PROTOCOL);
	assert_int_equal(decode_rc("10 10 00 04 4d 51 54 54 05 02 00 3c 03"
	    " 21 00 00 00 00", 0), PROTOCOL);
	assert_int_equal(decode_rc("10 12 00 04 4d 51 54 54 05 02 00 3c 05"
	    " 27 00 00 00 00 00 00", 0), PROTOCOL);
	/* Authentication Data without Method */
	assert_int_equal(decode_rc("10 11 00 04 4d 51 54 54 05 02 00 3c 04"
	    " 16 00 01 01 00 00", 0), PROTOCOL);
	/* a property block longer than the packet */
	assert_int_equal(decode_rc("10 0f 00 04 4d 51 54 54 05 02 00 3c 09"
	    " 17 01 00 00", 0), MALFORMED);
}

static void
test_connack(void **state)
{
	struct strata_mqtt_packet pkt;

	assert_int_equal(decode("20 02 01 00", V4, &pkt), 0);
	assert_true(pkt.u.connack.session_present);
	assert_int_equal(pkt.u.connack.reason, 0);
	assert_int_equal(decode("20 02 00 05", V4, &pkt), 0);
	assert_int_equal(pkt.u.connack.reason, 5);
	assert_int_equal(decode("20 08 00 00 05 22 00 0a 24 01", V5, &pkt), 0);
	assert_false(pkt.u.connack.session_present);
	assert_int_equal(pkt.props.topic_alias_maximum, 10);
	assert_int_equal(pkt.props.maximum_qos, 1);
	/* Maximum QoS 2, reserved ack flags, missing property block */
	assert_int_equal(decode_rc("20 08 00 00 05 22 00 0a 24 02", V5),
	    PROTOCOL);
	assert_int_equal(decode_rc("20 02 02 00", V4), MALFORMED);
	assert_int_equal(decode_rc("20 02 00 00", V5), MALFORMED);
	assert_int_equal(decode_rc("20 03 00 00 00", V4), MALFORMED);
	/* one-byte availability properties must be 0 or 1 */
	assert_int_equal(decode_rc("20 05 00 00 02 25 02", V5), PROTOCOL);
	assert_int_equal(decode_rc("20 05 00 00 02 28 02", V5), PROTOCOL);
	assert_int_equal(decode_rc("20 05 00 00 02 29 02", V5), PROTOCOL);
	assert_int_equal(decode_rc("20 05 00 00 02 2a 02", V5), PROTOCOL);
	assert_int_equal(decode_rc("20 05 00 00 02 2a 01", V5), 0);
}

static void
test_publish_v311(void **state)
{
	struct strata_mqtt_packet pkt;
	struct strata_mqtt_publish *p = &pkt.u.publish;

	assert_int_equal(decode("32 09 00 03 61 2f 62 00 07 68 69", V4, &pkt),
	    0);
	assert_int_equal(p->qos, 1);
	assert_false(p->dup);
	assert_false(p->retain);
	assert_int_equal(p->packet_id, 7);
	assert_bytes(p->topic, "a/b");
	assert_bytes(p->payload, "hi");
	assert_int_equal(decode("31 07 00 03 61 2f 62 68 69", V4, &pkt), 0);
	assert_int_equal(p->qos, 0);
	assert_true(p->retain);
	assert_int_equal(p->packet_id, 0);
	assert_int_equal(decode("30 05 00 03 61 2f 62", V4, &pkt), 0);
	assert_int_equal(p->payload.len, 0);
}

static void
test_publish_v5(void **state)
{
	struct strata_mqtt_packet pkt;
	struct strata_mqtt_publish *p = &pkt.u.publish;
	struct strata_mqtt_props *pr = &pkt.props;

	assert_int_equal(decode("3c 2a 00 03 61 2f 62 00 01 20 01 01 02 00 00"
	    " 00 3c 03 00 01 6a 08 00 01 72 09 00 02 01 02 23 00 03 0b 05 26"
	    " 00 01 6b 00 01 76 68 69", V5, &pkt), 0);
	assert_int_equal(p->qos, 2);
	assert_true(p->dup);
	assert_int_equal(p->packet_id, 1);
	assert_bytes(p->topic, "a/b");
	assert_bytes(p->payload, "hi");
	assert_int_equal(pr->payload_format, 1);
	assert_int_equal(pr->message_expiry, 60);
	assert_bytes(pr->content_type, "j");
	assert_bytes(pr->response_topic, "r");
	assert_bytes(pr->correlation_data, "\x01\x02");
	assert_int_equal(pr->topic_alias, 3);
	assert_int_equal(pr->n_sub_ids, 1);
	assert_int_equal(pr->sub_ids[0], 5);
	assert_int_equal(pr->n_user_props, 1);
	/* empty topic with a Topic Alias */
	assert_int_equal(decode("30 06 00 00 03 23 00 01", V5, &pkt), 0);
	assert_int_equal(pr->topic_alias, 1);
	assert_int_equal(p->topic.len, 0);
	/* several Subscription Identifiers are fine in PUBLISH */
	assert_int_equal(decode("30 0a 00 03 61 2f 62 04 0b 01 0b 02", V5,
	    &pkt), 0);
	assert_int_equal(pr->n_sub_ids, 2);
	assert_int_equal(pr->sub_ids[1], 2);
	/* several User Properties too */
	assert_int_equal(decode("30 13 00 03 61 2f 62 0d 26 00 01 61 00 00 26"
	    " 00 01 61 00 01 62", V5, &pkt), 0);
	assert_int_equal(pr->n_user_props, 2);
}

static void
test_publish_errors(void **state)
{
	struct strata_mqtt_packet pkt;

	/* QoS 3, DUP with QoS 0 */
	assert_int_equal(decode_rc("36 07 00 03 61 2f 62 00 01", V4),
	    MALFORMED);
	assert_int_equal(decode_rc("38 05 00 03 61 2f 62", V4), MALFORMED);
	/* packet identifier 0 */
	assert_int_equal(decode_rc("32 07 00 03 61 2f 62 00 00", V4),
	    PROTOCOL);
	/* topic names */
	assert_int_equal(decode_rc("30 02 00 00", V4),
	    STRATA_ERR(STRATA_RC_TOPIC_NAME_INVALID));
	assert_int_equal(decode_rc("30 03 00 00 00", V5), PROTOCOL);
	assert_int_equal(decode_rc("30 05 00 03 61 2f 2b", V4),
	    STRATA_ERR(STRATA_RC_TOPIC_NAME_INVALID));
	assert_int_equal(decode_rc("30 06 00 03 23 2f 62 00", V5),
	    STRATA_ERR(STRATA_RC_TOPIC_NAME_INVALID));
	assert_int_equal(decode_rc("30 05 00 03 61 00 62", V4), MALFORMED);
	/* Topic Alias 0, Subscription Identifier 0 */
	assert_int_equal(decode_rc("30 09 00 03 61 2f 62 03 23 00 00", V5),
	    PROTOCOL);
	assert_int_equal(decode_rc("30 08 00 03 61 2f 62 02 0b 00", V5),
	    PROTOCOL);
	/* Payload Format Indicator: decoded either way; the check is apart */
	assert_int_equal(decode("30 09 00 03 61 2f 62 02 01 01 ff", V5, &pkt),
	    0);
	assert_int_equal(strata_mqtt_payload_format_check(&pkt.props,
	    pkt.u.publish.payload),
	    STRATA_ERR(STRATA_RC_PAYLOAD_FORMAT_INVALID));
	assert_int_equal(decode("30 09 00 03 61 2f 62 02 01 00 ff", V5, &pkt),
	    0);
	assert_int_equal(strata_mqtt_payload_format_check(&pkt.props,
	    pkt.u.publish.payload), 0);
	assert_int_equal(decode("30 0b 00 03 61 2f 62 02 01 01 c3 a9 21", V5,
	    &pkt), 0);
	assert_int_equal(strata_mqtt_payload_format_check(&pkt.props,
	    pkt.u.publish.payload), 0);
	assert_int_equal(decode_rc("30 08 00 03 61 2f 62 02 01 02", V5),
	    PROTOCOL);
	/* duplicate, misplaced, unknown properties */
	assert_int_equal(decode_rc("30 10 00 03 61 2f 62 0a 02 00 00 00 01 02"
	    " 00 00 00 02", V5), PROTOCOL);
	assert_int_equal(decode_rc("30 0b 00 03 61 2f 62 05 11 00 00 00 01",
	    V5), PROTOCOL);
	assert_int_equal(decode_rc("30 08 00 03 61 2f 62 02 05 00", V5),
	    MALFORMED);
	/* a Response Topic is a topic name */
	assert_int_equal(decode_rc("30 0a 00 03 61 2f 62 04 08 00 01 23", V5),
	    PROTOCOL);
	/* truncated property value */
	assert_int_equal(decode_rc("30 09 00 03 61 2f 62 03 02 00 00", V5),
	    MALFORMED);
}

static void
test_acks(void **state)
{
	struct strata_mqtt_packet pkt;

	assert_int_equal(decode("40 02 00 05", V4, &pkt), 0);
	assert_int_equal(pkt.type, STRATA_MQTT_PUBACK);
	assert_int_equal(pkt.u.ack.packet_id, 5);
	assert_int_equal(decode("50 02 00 01", V4, &pkt), 0);
	assert_int_equal(decode("62 02 00 01", V4, &pkt), 0);
	assert_int_equal(pkt.type, STRATA_MQTT_PUBREL);
	assert_int_equal(decode("70 02 00 01", V4, &pkt), 0);
	assert_int_equal(decode("40 02 00 05", V5, &pkt), 0);
	assert_int_equal(pkt.u.ack.reason, 0);
	assert_int_equal(decode("40 03 00 05 10", V5, &pkt), 0);
	assert_int_equal(pkt.u.ack.reason, 0x10);
	assert_int_equal(decode("40 04 00 05 10 00", V5, &pkt), 0);
	assert_int_equal(decode("40 08 00 05 97 04 1f 00 01 78", V5, &pkt),
	    0);
	assert_int_equal(pkt.u.ack.reason, 0x97);
	assert_bytes(pkt.props.reason_string, "x");
	/* 3.1.1 acks are exactly 2 bytes; ids are never 0 */
	assert_int_equal(decode_rc("40 03 00 05 00", V4), MALFORMED);
	assert_int_equal(decode_rc("40 02 00 00", V5), PROTOCOL);
	assert_int_equal(decode_rc("40 01 00", V5), MALFORMED);
	/* PUBREL flags must be 0010, other acks 0000 */
	assert_int_equal(decode_rc("60 02 00 01", V4), MALFORMED);
	assert_int_equal(decode_rc("42 02 00 01", V5), MALFORMED);
	/* Topic Alias is not an ack property */
	assert_int_equal(decode_rc("50 07 00 01 00 03 23 00 01", V5),
	    PROTOCOL);
	/* Reason String twice */
	assert_int_equal(decode_rc("70 0c 00 01 00 08 1f 00 01 78 1f 00 01 78",
	    V5), PROTOCOL);
}

static void
test_subscribe(void **state)
{
	struct strata_mqtt_packet pkt;
	struct strata_mqtt_sub_entry e;
	struct strata_reader it;

	assert_int_equal(decode("82 0e 00 0a 00 03 61 2f 62 01 00 03 63 2f 23"
	    " 02", V4, &pkt), 0);
	assert_int_equal(pkt.u.subscribe.packet_id, 10);
	assert_int_equal(pkt.u.subscribe.count, 2);
	it = strata_reader_init(pkt.u.subscribe.entries.p,
	    pkt.u.subscribe.entries.len);
	assert_int_equal(strata_mqtt_sub_next(&it, pkt.type, V4, &e), 0);
	assert_bytes(e.filter, "a/b");
	assert_int_equal(e.options, 1);
	assert_int_equal(strata_mqtt_sub_next(&it, pkt.type, V4, &e), 0);
	assert_bytes(e.filter, "c/#");
	assert_int_equal(e.options, 2);
	assert_int_equal(strata_mqtt_sub_next(&it, pkt.type, V4, &e),
	    STRATA_ENOTFOUND);

	assert_int_equal(decode("82 0b 00 0a 02 0b 07 00 03 61 2f 62 2d", V5,
	    &pkt), 0);
	assert_int_equal(pkt.props.n_sub_ids, 1);
	assert_int_equal(pkt.props.sub_ids[0], 7);
	it = strata_reader_init(pkt.u.subscribe.entries.p,
	    pkt.u.subscribe.entries.len);
	assert_int_equal(strata_mqtt_sub_next(&it, pkt.type, V5, &e), 0);
	assert_int_equal(STRATA_SUBOPT_QOS(e.options), 1);
	assert_true(e.options & STRATA_SUBOPT_NO_LOCAL);
	assert_true(e.options & STRATA_SUBOPT_RETAIN_AS_PUBLISHED);
	assert_int_equal(STRATA_SUBOPT_RETAIN_HANDLING(e.options), 2);
}

static void
test_subscribe_errors(void **state)
{
	/* no entries */
	assert_int_equal(decode_rc("82 03 00 0a 00", V5), PROTOCOL);
	assert_int_equal(decode_rc("82 02 00 0a", V4), PROTOCOL);
	/* packet identifier 0, wrong flags */
	assert_int_equal(decode_rc("82 08 00 00 00 03 61 2f 62 01", V4),
	    PROTOCOL);
	assert_int_equal(decode_rc("80 08 00 0a 00 03 61 2f 62 01", V4),
	    MALFORMED);
	/* options: reserved bits, QoS 3, Retain Handling 3 */
	assert_int_equal(decode_rc("82 09 00 0a 00 00 03 61 2f 62 41", V5),
	    MALFORMED);
	assert_int_equal(decode_rc("82 09 00 0a 00 00 03 61 2f 62 03", V5),
	    PROTOCOL);
	assert_int_equal(decode_rc("82 09 00 0a 00 00 03 61 2f 62 30", V5),
	    PROTOCOL);
	/* 3.1.1: the upper six bits are reserved */
	assert_int_equal(decode_rc("82 08 00 0a 00 03 61 2f 62 04", V4),
	    MALFORMED);
	assert_int_equal(decode_rc("82 08 00 0a 00 03 61 2f 62 03", V4),
	    MALFORMED);
	/* No Local on a shared subscription */
	assert_int_equal(decode_rc("82 10 00 0a 00 00 0a 24 73 68 61 72 65 2f"
	    " 67 2f 74 04", V5), PROTOCOL);
	assert_int_equal(decode_rc("82 10 00 0a 00 00 0a 24 73 68 61 72 65 2f"
	    " 67 2f 74 01", V5), 0);
	/* filters */
	assert_int_equal(decode_rc("82 0a 00 0a 00 05 61 2f 23 2f 62 00", V4),
	    STRATA_ERR(STRATA_RC_TOPIC_FILTER_INVALID));
	assert_int_equal(decode_rc("82 06 00 0a 00 00 00 00", V5),
	    STRATA_ERR(STRATA_RC_TOPIC_FILTER_INVALID));
	/* entry without its options byte */
	assert_int_equal(decode_rc("82 07 00 0a 00 03 61 2f 62", V4),
	    MALFORMED);
	/* Subscription Identifier twice, or 0 */
	assert_int_equal(decode_rc("82 0d 00 0a 04 0b 01 0b 02 00 03 61 2f 62"
	    " 00", V5), PROTOCOL);
	assert_int_equal(decode_rc("82 0b 00 0a 02 0b 00 00 03 61 2f 62 00",
	    V5), PROTOCOL);
}

static void
test_unsubscribe(void **state)
{
	struct strata_mqtt_packet pkt;
	struct strata_mqtt_sub_entry e;
	struct strata_reader it;

	assert_int_equal(decode("a2 07 00 0b 00 03 61 2f 62", V4, &pkt), 0);
	assert_int_equal(pkt.u.subscribe.count, 1);
	assert_int_equal(pkt.u.subscribe.packet_id, 11);
	it = strata_reader_init(pkt.u.subscribe.entries.p,
	    pkt.u.subscribe.entries.len);
	assert_int_equal(strata_mqtt_sub_next(&it, pkt.type, V4, &e), 0);
	assert_bytes(e.filter, "a/b");
	assert_int_equal(e.options, 0);
	assert_int_equal(decode("a2 08 00 0b 00 00 03 61 2f 62", V5, &pkt), 0);
	assert_int_equal(decode_rc("a2 02 00 0b", V4), PROTOCOL);
	assert_int_equal(decode_rc("a2 03 00 0b 00", V5), PROTOCOL);
	assert_int_equal(decode_rc("a0 07 00 0b 00 03 61 2f 62", V4),
	    MALFORMED);
	/* Subscription Identifier is not an UNSUBSCRIBE property */
	assert_int_equal(decode_rc("a2 0a 00 0b 02 0b 01 00 03 61 2f 62", V5),
	    PROTOCOL);
}

static void
test_suback_unsuback(void **state)
{
	struct strata_mqtt_packet pkt;

	assert_int_equal(decode("90 04 00 0a 01 80", V4, &pkt), 0);
	assert_int_equal(pkt.u.suback.packet_id, 10);
	assert_int_equal(pkt.u.suback.reasons.len, 2);
	assert_int_equal(pkt.u.suback.reasons.p[1], 0x80);
	assert_int_equal(decode_rc("90 03 00 0a 03", V4), MALFORMED);
	assert_int_equal(decode_rc("90 02 00 0a", V4), PROTOCOL);
	assert_int_equal(decode("90 05 00 0a 00 01 97", V5, &pkt), 0);
	assert_int_equal(pkt.u.suback.reasons.p[1], 0x97);
	assert_int_equal(decode("b0 02 00 0b", V4, &pkt), 0);
	assert_int_equal(pkt.u.suback.reasons.len, 0);
	assert_int_equal(decode_rc("b0 03 00 0b 00", V4), MALFORMED);
	assert_int_equal(decode("b0 04 00 0b 00 11", V5, &pkt), 0);
	assert_int_equal(pkt.u.suback.reasons.p[0], 0x11);
	assert_int_equal(decode_rc("b0 03 00 0b 00", V5), PROTOCOL);
}

static void
test_ping_disconnect_auth(void **state)
{
	struct strata_mqtt_packet pkt;

	assert_int_equal(decode("c0 00", V4, &pkt), 0);
	assert_int_equal(pkt.type, STRATA_MQTT_PINGREQ);
	assert_int_equal(decode("d0 00", V5, &pkt), 0);
	assert_int_equal(decode_rc("c0 01 00", V4), MALFORMED);
	assert_int_equal(decode_rc("c1 00", V4), MALFORMED);
	assert_int_equal(decode("e0 00", V4, &pkt), 0);
	assert_int_equal(decode_rc("e0 01 00", V4), MALFORMED);
	assert_int_equal(decode("e0 00", V5, &pkt), 0);
	assert_int_equal(pkt.u.reason.reason, 0);
	assert_int_equal(decode("e0 01 04", V5, &pkt), 0);
	assert_int_equal(pkt.u.reason.reason, 4);
	assert_int_equal(decode("e0 07 04 05 11 00 00 00 00", V5, &pkt), 0);
	assert_true(pkt.props.present &
	    STRATA_PROP_BIT(STRATA_PROP_SESSION_EXPIRY));
	assert_int_equal(decode_rc("e2 00", V5), MALFORMED);
	assert_int_equal(decode("f0 00", V5, &pkt), 0);
	assert_int_equal(pkt.type, STRATA_MQTT_AUTH);
	assert_int_equal(decode("f0 08 18 06 15 00 03 61 62 63", V5, &pkt),
	    0);
	assert_int_equal(pkt.u.reason.reason, STRATA_RC_CONTINUE_AUTH);
	assert_bytes(pkt.props.auth_method, "abc");
	assert_int_equal(decode_rc("f0 00", V4), MALFORMED);
	assert_int_equal(decode_rc("f0 01 80", V5), PROTOCOL);
	assert_int_equal(decode_rc("f0 06 18 04 16 00 01 01", V5), PROTOCOL);
}

static void
test_fixed_header_errors(void **state)
{
	/* reserved type 0, remaining length not matching the frame */
	assert_int_equal(decode_rc("00 00", V4), MALFORMED);
	assert_int_equal(decode_rc("c0 01", V4), MALFORMED);
	assert_int_equal(decode_rc("c0", V4), MALFORMED);
	assert_int_equal(decode_rc("c0 80 80 80 80 00", V4), MALFORMED);
	/* only CONNECT may come before CONNECT */
	assert_int_equal(decode_rc("c0 00", 0), PROTOCOL);
	assert_int_equal(decode_rc("c0 00", 3), STRATA_EINVAL);
}

static void
test_type_names(void **state)
{
	assert_string_equal(strata_mqtt_type_name(STRATA_MQTT_CONNECT),
	    "connect");
	assert_string_equal(strata_mqtt_type_name(STRATA_MQTT_PUBLISH),
	    "publish");
	assert_string_equal(strata_mqtt_type_name(STRATA_MQTT_UNSUBACK),
	    "unsuback");
	assert_string_equal(strata_mqtt_type_name(STRATA_MQTT_AUTH), "auth");
	assert_string_equal(strata_mqtt_type_name(0), "unknown");
	assert_string_equal(strata_mqtt_type_name(16), "unknown");
}

static void
test_props_parse_direct(void **state)
{
	static const uint8_t will[] = {0x18, 0x00, 0x00, 0x00, 0x0a};
	static const uint8_t bad[] = {0x01, 0x01, 0x01, 0x00};
	struct strata_mqtt_props props;

	assert_int_equal(strata_mqtt_props_parse(will, sizeof(will), 0,
	    &props), 0);
	assert_int_equal(props.will_delay, 10);
	assert_int_equal(strata_mqtt_props_parse(will, sizeof(will),
	    STRATA_MQTT_PUBLISH, &props), PROTOCOL);
	assert_int_equal(strata_mqtt_props_parse(bad, sizeof(bad),
	    STRATA_MQTT_PUBLISH, &props), PROTOCOL);
	assert_int_equal(strata_mqtt_props_parse(NULL, 0, STRATA_MQTT_AUTH,
	    &props), 0);
	assert_int_equal(props.present, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_frame),
	    cmocka_unit_test(test_connect_v311),
	    cmocka_unit_test(test_connect_v5),
	    cmocka_unit_test(test_connect_v5_will),
	    cmocka_unit_test(test_connect_errors),
	    cmocka_unit_test(test_connack),
	    cmocka_unit_test(test_publish_v311),
	    cmocka_unit_test(test_publish_v5),
	    cmocka_unit_test(test_publish_errors),
	    cmocka_unit_test(test_acks),
	    cmocka_unit_test(test_subscribe),
	    cmocka_unit_test(test_subscribe_errors),
	    cmocka_unit_test(test_unsubscribe),
	    cmocka_unit_test(test_suback_unsuback),
	    cmocka_unit_test(test_ping_disconnect_auth),
	    cmocka_unit_test(test_fixed_header_errors),
	    cmocka_unit_test(test_type_names),
	    cmocka_unit_test(test_props_parse_direct),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
