/*
 * test_mqtt_encode.c - encoding packets built by hand and compared with the
 * bytes the specs lay out, and decode -> encode round trips.
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

static struct strata_bytes
str(const char *s)
{
	return (struct strata_bytes){(const uint8_t *)s, (uint32_t)strlen(s)};
}

/* Encode pkt and compare with the expected hex. */
static void
assert_encodes(const struct strata_mqtt_packet *pkt, uint8_t version,
    const char *hex)
{
	uint8_t want[512], got[512];
	size_t n = hex_to_bytes(hex, want, sizeof(want));

	assert_int_equal(strata_mqtt_encoded_size(pkt, version), n);
	assert_int_equal(strata_mqtt_encode(pkt, version, got, sizeof(got)),
	    n);
	assert_memory_equal(got, want, n);
	/* one byte short: nothing written */
	assert_int_equal(strata_mqtt_encode(pkt, version, got, n - 1), 0);
}

static void
test_connect(void **state)
{
	struct strata_mqtt_packet pkt = {.type = STRATA_MQTT_CONNECT};
	struct strata_mqtt_connect *c = &pkt.u.connect;

	c->clean_start = true;
	c->has_will = true;
	c->will_qos = 1;
	c->will_retain = true;
	c->has_username = c->has_password = true;
	c->keepalive = 60;
	c->client_id = str("cid");
	c->will_topic = str("w/t");
	c->will_payload = str("bye");
	c->username = str("u");
	c->password = str("pw");
	assert_encodes(&pkt, V4, "10 20 00 04 4d 51 54 54 04 ee 00 3c 00 03 63"
	    " 69 64 00 03 77 2f 74 00 03 62 79 65 00 01 75 00 02 70 77");

	memset(&pkt, 0, sizeof(pkt));
	pkt.type = STRATA_MQTT_CONNECT;
	c->clean_start = true;
	c->has_will = true;
	c->keepalive = 60;
	c->will_topic = str("t");
	c->will_payload = str("hi");
	c->will_props.present = STRATA_PROP_BIT(STRATA_PROP_PAYLOAD_FORMAT) |
	    STRATA_PROP_BIT(STRATA_PROP_WILL_DELAY);
	c->will_props.payload_format = 1;
	c->will_props.will_delay = 5;
	assert_encodes(&pkt, V5, "10 1c 00 04 4d 51 54 54 05 06 00 3c 00 00 00"
	    " 07 01 01 18 00 00 00 05 00 01 74 00 02 68 69");
}

static void
test_connack(void **state)
{
	struct strata_mqtt_packet pkt = {.type = STRATA_MQTT_CONNACK};

	/* 3.1.1: the return code goes out as given */
	pkt.u.connack.reason = 5;
	assert_encodes(&pkt, V4, "20 02 00 05");
	pkt.u.connack.reason = 0;
	pkt.u.connack.session_present = true;
	pkt.props.present = STRATA_PROP_BIT(STRATA_PROP_TOPIC_ALIAS_MAXIMUM) |
	    STRATA_PROP_BIT(STRATA_PROP_MAXIMUM_QOS) |
	    STRATA_PROP_BIT(STRATA_PROP_ASSIGNED_CLIENT_ID);
	pkt.props.topic_alias_maximum = 10;
	pkt.props.maximum_qos = 1;
	pkt.props.assigned_client_id = str("id");
	assert_encodes(&pkt, V5,
	    "20 0d 01 00 0a 12 00 02 69 64 22 00 0a 24 01");
	/* properties are not written in 3.1.1 */
	assert_encodes(&pkt, V4, "20 02 01 00");
}

static void
test_publish(void **state)
{
	static const uint8_t user[] = {0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v',
	    0x02, 0x00, 0x00, 0x00, 0x09};
	struct strata_mqtt_packet pkt = {.type = STRATA_MQTT_PUBLISH};
	struct strata_mqtt_publish *p = &pkt.u.publish;

	p->qos = 1;
	p->packet_id = 7;
	p->topic = str("a/b");
	p->payload = str("hi");
	assert_encodes(&pkt, V4, "32 09 00 03 61 2f 62 00 07 68 69");
	assert_encodes(&pkt, V5, "32 0a 00 03 61 2f 62 00 07 00 68 69");
	p->qos = 0;
	p->retain = true;
	assert_encodes(&pkt, V4, "31 07 00 03 61 2f 62 68 69");
	/* Subscription Identifiers, then User Properties from user_src (the
	 * Message Expiry in that block is not written: only `present`
	 * decides the other properties) */
	p->retain = false;
	pkt.props.n_sub_ids = 2;
	pkt.props.sub_ids[0] = 1;
	pkt.props.sub_ids[1] = 200;
	pkt.props.user_src = (struct strata_bytes){user, sizeof(user)};
	pkt.props.n_user_props = 1;
	assert_encodes(&pkt, V5, "30 14 00 03 61 2f 62 0c 0b 01 0b c8 01 26 00"
	    " 01 6b 00 01 76 68 69");
}

static void
test_acks(void **state)
{
	struct strata_mqtt_packet pkt = {.type = STRATA_MQTT_PUBACK};

	pkt.u.ack.packet_id = 5;
	assert_encodes(&pkt, V4, "40 02 00 05");
	assert_encodes(&pkt, V5, "40 02 00 05");
	pkt.u.ack.reason = 0x10;
	assert_encodes(&pkt, V5, "40 03 00 05 10");
	assert_encodes(&pkt, V4, "40 02 00 05");
	pkt.props.present = STRATA_PROP_BIT(STRATA_PROP_REASON_STRING);
	pkt.props.reason_string = str("x");
	pkt.u.ack.reason = 0x97;
	assert_encodes(&pkt, V5, "40 08 00 05 97 04 1f 00 01 78");
	pkt.type = STRATA_MQTT_PUBREL;
	assert_encodes(&pkt, V4, "62 02 00 05");
	pkt.type = STRATA_MQTT_PUBREC;
	pkt.u.ack.reason = 0;
	assert_encodes(&pkt, V5, "50 08 00 05 00 04 1f 00 01 78");
	pkt.type = STRATA_MQTT_PUBCOMP;
	memset(&pkt.props, 0, sizeof(pkt.props));
	assert_encodes(&pkt, V5, "70 02 00 05");
}

static void
test_subscribe(void **state)
{
	static const uint8_t entries[] = {0x00, 0x03, 'a', '/', 'b', 0x2d};
	struct strata_mqtt_packet pkt = {.type = STRATA_MQTT_SUBSCRIBE};

	pkt.u.subscribe.packet_id = 10;
	pkt.u.subscribe.count = 1;
	pkt.u.subscribe.entries = (struct strata_bytes){entries, 6};
	pkt.props.n_sub_ids = 1;
	pkt.props.sub_ids[0] = 7;
	assert_encodes(&pkt, V5, "82 0b 00 0a 02 0b 07 00 03 61 2f 62 2d");
	pkt.type = STRATA_MQTT_UNSUBSCRIBE;
	pkt.u.subscribe.entries.len = 5;
	assert_encodes(&pkt, V4, "a2 07 00 0a 00 03 61 2f 62");
}

static void
test_suback(void **state)
{
	static const uint8_t reasons[] = {0x01, 0x80};
	struct strata_mqtt_packet pkt = {.type = STRATA_MQTT_SUBACK};

	pkt.u.suback.packet_id = 10;
	pkt.u.suback.reasons = (struct strata_bytes){reasons, 2};
	assert_encodes(&pkt, V4, "90 04 00 0a 01 80");
	assert_encodes(&pkt, V5, "90 05 00 0a 00 01 80");
	pkt.type = STRATA_MQTT_UNSUBACK;
	assert_encodes(&pkt, V4, "b0 02 00 0a");
	pkt.u.suback.reasons.len = 1;
	assert_encodes(&pkt, V5, "b0 04 00 0a 00 01");
}

static void
test_ping_disconnect_auth(void **state)
{
	struct strata_mqtt_packet pkt = {.type = STRATA_MQTT_PINGREQ};

	assert_encodes(&pkt, V4, "c0 00");
	pkt.type = STRATA_MQTT_PINGRESP;
	assert_encodes(&pkt, V5, "d0 00");
	pkt.type = STRATA_MQTT_DISCONNECT;
	assert_encodes(&pkt, V4, "e0 00");
	assert_encodes(&pkt, V5, "e0 00");
	pkt.u.reason.reason = STRATA_RC_SESSION_TAKEN_OVER;
	assert_encodes(&pkt, V5, "e0 01 8e");
	assert_encodes(&pkt, V4, "e0 00");
	pkt.props.present = STRATA_PROP_BIT(STRATA_PROP_SERVER_REFERENCE);
	pkt.props.server_reference = str("h");
	assert_encodes(&pkt, V5, "e0 06 8e 04 1c 00 01 68");
	pkt.type = STRATA_MQTT_AUTH;
	pkt.u.reason.reason = STRATA_RC_CONTINUE_AUTH;
	pkt.props.present = STRATA_PROP_BIT(STRATA_PROP_AUTH_METHOD) |
	    STRATA_PROP_BIT(STRATA_PROP_AUTH_DATA);
	pkt.props.auth_method = str("abc");
	pkt.props.auth_data = str("\x01");
	assert_encodes(&pkt, V5, "f0 0c 18 0a 15 00 03 61 62 63 16 00 01 01");
	memset(&pkt.props, 0, sizeof(pkt.props));
	pkt.u.reason.reason = 0;
	assert_encodes(&pkt, V5, "f0 00");
}

static void
test_large_remaining_length(void **state)
{
	static uint8_t payload[20000], out[20100];
	struct strata_mqtt_packet pkt = {.type = STRATA_MQTT_PUBLISH};
	struct strata_mqtt_packet back;
	size_t n;

	memset(payload, 'x', sizeof(payload));
	pkt.u.publish.topic = str("t");
	pkt.u.publish.payload = (struct strata_bytes){payload,
	    sizeof(payload)};
	n = strata_mqtt_encode(&pkt, V5, out, sizeof(out));
	/* 3 + 1 + 20000 = 20004 needs a 3-byte remaining length */
	assert_int_equal(n, 1 + 3 + 20004);
	assert_int_equal(strata_mqtt_decode(out, n, V5, &back), 0);
	assert_int_equal(back.u.publish.payload.len, sizeof(payload));
}

/* Canonical packets: decoding then encoding gives the same bytes. */
static const struct {
	uint8_t version;
	const char *hex;
} round_trips[] = {
    {V4, "10 20 00 04 4d 51 54 54 04 ee 00 3c 00 03 63 69 64 00 03 77 2f 74"
	 " 00 03 62 79 65 00 01 75 00 02 70 77"},
    {V5, "10 1d 00 04 4d 51 54 54 05 02 00 3c 0f 11 00 00 00 78 21 00 0a 26"
	 " 00 01 6b 00 01 76 00 01 63"},
    {V5, "10 1c 00 04 4d 51 54 54 05 06 00 3c 00 00 00 07 01 01 18 00 00 00"
	 " 05 00 01 74 00 02 68 69"},
    {V4, "20 02 01 00"},
    {V5, "20 08 00 00 05 22 00 0a 24 01"},
    {V4, "32 09 00 03 61 2f 62 00 07 68 69"},
    {V5, "3c 2a 00 03 61 2f 62 00 01 20 01 01 02 00 00 00 3c 03 00 01 6a 08"
	 " 00 01 72 09 00 02 01 02 23 00 03 0b 05 26 00 01 6b 00 01 76 68 69"},
    {V5, "30 06 00 00 03 23 00 01"},
    {V5, "40 08 00 05 97 04 1f 00 01 78"},
    {V5, "62 03 00 05 92"},
    {V4, "82 0e 00 0a 00 03 61 2f 62 01 00 03 63 2f 23 02"},
    {V5, "82 0b 00 0a 02 0b 07 00 03 61 2f 62 2d"},
    {V5, "a2 08 00 0b 00 00 03 61 2f 62"},
    {V5, "90 05 00 0a 00 01 97"},
    {V4, "b0 02 00 0b"},
    {V5, "c0 00"},
    {V5, "e0 07 04 05 11 00 00 00 00"},
    {V5, "f0 08 18 06 15 00 03 61 62 63"},
};

static void
test_round_trips(void **state)
{
	uint8_t in[256], out[256];
	struct strata_mqtt_packet pkt;
	size_t i, n;

	for (i = 0; i < sizeof(round_trips) / sizeof(round_trips[0]); i++) {
		uint8_t version = round_trips[i].version;

		n = hex_to_bytes(round_trips[i].hex, in, sizeof(in));
		assert_int_equal(strata_mqtt_decode(in, n, version, &pkt), 0);
		assert_int_equal(strata_mqtt_encode(&pkt, version, out,
		    sizeof(out)), n);
		assert_memory_equal(in, out, n);
	}
}

/* Defaults left out on the wire by the encoder. */
static void
test_non_canonical_input(void **state)
{
	uint8_t in[] = {0x40, 0x04, 0x00, 0x05, 0x10, 0x00};
	uint8_t out[16];
	struct strata_mqtt_packet pkt;

	assert_int_equal(strata_mqtt_decode(in, sizeof(in), V5, &pkt), 0);
	assert_int_equal(strata_mqtt_encode(&pkt, V5, out, sizeof(out)), 5);
	assert_memory_equal(out, "\x40\x03\x00\x05\x10", 5);
}

static void
test_props_write(void **state)
{
	struct strata_mqtt_props props = {0}, back;
	uint8_t out[64];
	size_t n;

	props.present = STRATA_PROP_BIT(STRATA_PROP_SESSION_EXPIRY) |
	    STRATA_PROP_BIT(STRATA_PROP_RECEIVE_MAXIMUM) |
	    STRATA_PROP_BIT(STRATA_PROP_REQUEST_PROBLEM_INFO);
	props.session_expiry = 0x01020304;
	props.receive_maximum = 20;
	props.request_problem_info = 0;
	assert_int_equal(strata_mqtt_props_size(&props), 5 + 2 + 3);
	n = strata_mqtt_props_write(&props, out);
	assert_int_equal(n, 11);
	assert_memory_equal(out,
	    "\x0a\x11\x01\x02\x03\x04\x17\x00\x21\x00\x14", 11);
	assert_int_equal(strata_mqtt_props_parse(out + 1, n - 1,
	    STRATA_MQTT_CONNECT, &back), 0);
	assert_int_equal(back.present, props.present);
	assert_int_equal(back.session_expiry, props.session_expiry);
	assert_int_equal(back.receive_maximum, 20);
	memset(&props, 0, sizeof(props));
	assert_int_equal(strata_mqtt_props_size(&props), 0);
	assert_int_equal(strata_mqtt_props_write(&props, out), 1);
	assert_int_equal(out[0], 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_connect),
	    cmocka_unit_test(test_connack),
	    cmocka_unit_test(test_publish),
	    cmocka_unit_test(test_acks),
	    cmocka_unit_test(test_subscribe),
	    cmocka_unit_test(test_suback),
	    cmocka_unit_test(test_ping_disconnect_auth),
	    cmocka_unit_test(test_large_remaining_length),
	    cmocka_unit_test(test_round_trips),
	    cmocka_unit_test(test_non_canonical_input),
	    cmocka_unit_test(test_props_write),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
