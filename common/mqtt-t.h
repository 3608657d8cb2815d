/*
 * mqtt-t.h - decoded MQTT 3.1.1 / 5.0 packets.
 *
 * Decoded packets hold views (struct strata_bytes) into the input frame:
 * they are valid only while that frame is.  The same structs are the input
 * of the encoder.
 */
#ifndef STRATA_MQTT_T_H
#define STRATA_MQTT_T_H

#include <stdbool.h>
#include <stdint.h>

#include "reader.h"

#define STRATA_MQTT_V311 4
#define STRATA_MQTT_V5 5

enum strata_mqtt_type {
	STRATA_MQTT_CONNECT = 1,
	STRATA_MQTT_CONNACK = 2,
	STRATA_MQTT_PUBLISH = 3,
	STRATA_MQTT_PUBACK = 4,
	STRATA_MQTT_PUBREC = 5,
	STRATA_MQTT_PUBREL = 6,
	STRATA_MQTT_PUBCOMP = 7,
	STRATA_MQTT_SUBSCRIBE = 8,
	STRATA_MQTT_SUBACK = 9,
	STRATA_MQTT_UNSUBSCRIBE = 10,
	STRATA_MQTT_UNSUBACK = 11,
	STRATA_MQTT_PINGREQ = 12,
	STRATA_MQTT_PINGRESP = 13,
	STRATA_MQTT_DISCONNECT = 14,
	STRATA_MQTT_AUTH = 15,
};

/* MQTT 5 property identifiers (MQTT 5.0 2.2.2.2). */
enum strata_mqtt_prop_id {
	STRATA_PROP_PAYLOAD_FORMAT = 0x01,
	STRATA_PROP_MESSAGE_EXPIRY = 0x02,
	STRATA_PROP_CONTENT_TYPE = 0x03,
	STRATA_PROP_RESPONSE_TOPIC = 0x08,
	STRATA_PROP_CORRELATION_DATA = 0x09,
	STRATA_PROP_SUBSCRIPTION_ID = 0x0B,
	STRATA_PROP_SESSION_EXPIRY = 0x11,
	STRATA_PROP_ASSIGNED_CLIENT_ID = 0x12,
	STRATA_PROP_SERVER_KEEPALIVE = 0x13,
	STRATA_PROP_AUTH_METHOD = 0x15,
	STRATA_PROP_AUTH_DATA = 0x16,
	STRATA_PROP_REQUEST_PROBLEM_INFO = 0x17,
	STRATA_PROP_WILL_DELAY = 0x18,
	STRATA_PROP_REQUEST_RESPONSE_INFO = 0x19,
	STRATA_PROP_RESPONSE_INFO = 0x1A,
	STRATA_PROP_SERVER_REFERENCE = 0x1C,
	STRATA_PROP_REASON_STRING = 0x1F,
	STRATA_PROP_RECEIVE_MAXIMUM = 0x21,
	STRATA_PROP_TOPIC_ALIAS_MAXIMUM = 0x22,
	STRATA_PROP_TOPIC_ALIAS = 0x23,
	STRATA_PROP_MAXIMUM_QOS = 0x24,
	STRATA_PROP_RETAIN_AVAILABLE = 0x25,
	STRATA_PROP_USER_PROPERTY = 0x26,
	STRATA_PROP_MAXIMUM_PACKET_SIZE = 0x27,
	STRATA_PROP_WILDCARD_SUB_AVAILABLE = 0x28,
	STRATA_PROP_SUB_ID_AVAILABLE = 0x29,
	STRATA_PROP_SHARED_SUB_AVAILABLE = 0x2A,
};

/* Bit for property id in strata_mqtt_props.present. */
#define STRATA_PROP_BIT(id) (UINT64_C(1) << (id))
#define STRATA_MQTT_MAX_SUB_IDS 8

/*
 * All MQTT 5 properties of one packet (or of a Will).  `present` says which
 * scalar/string properties were seen.  Subscription Identifier may repeat in
 * a server->client PUBLISH (up to STRATA_MQTT_MAX_SUB_IDS here).  User
 * Properties are not copied: `user_src` is a property block (the raw one the
 * decoder saw) whose User Property entries the encoder writes out; other
 * entries in it are skipped.  Iterate them with strata_mqtt_user_next().
 */
struct strata_mqtt_props {
	uint64_t present;
	uint8_t payload_format;
	uint8_t request_problem_info;
	uint8_t request_response_info;
	uint8_t maximum_qos;
	uint8_t retain_available;
	uint8_t wildcard_sub_available;
	uint8_t sub_id_available;
	uint8_t shared_sub_available;
	uint16_t server_keepalive;
	uint16_t receive_maximum;
	uint16_t topic_alias_maximum;
	uint16_t topic_alias;
	uint32_t message_expiry;
	uint32_t session_expiry;
	uint32_t will_delay;
	uint32_t maximum_packet_size;
	uint8_t n_sub_ids;
	uint32_t sub_ids[STRATA_MQTT_MAX_SUB_IDS];
	struct strata_bytes content_type;
	struct strata_bytes response_topic;
	struct strata_bytes correlation_data;
	struct strata_bytes assigned_client_id;
	struct strata_bytes auth_method;
	struct strata_bytes auth_data;
	struct strata_bytes response_info;
	struct strata_bytes server_reference;
	struct strata_bytes reason_string;
	uint32_t n_user_props;
	struct strata_bytes user_src;
};

struct strata_mqtt_connect {
	uint8_t version; /* STRATA_MQTT_V311 or STRATA_MQTT_V5 */
	bool clean_start;
	bool has_will;
	bool will_retain;
	uint8_t will_qos;
	bool has_username;
	bool has_password;
	uint16_t keepalive;
	struct strata_bytes client_id;
	struct strata_mqtt_props will_props;
	struct strata_bytes will_topic;
	struct strata_bytes will_payload;
	struct strata_bytes username;
	struct strata_bytes password;
};

struct strata_mqtt_connack {
	bool session_present;
	uint8_t reason; /* 3.1.1: return code 0..5 */
};

struct strata_mqtt_publish {
	uint8_t qos;
	bool dup;
	bool retain;
	uint16_t packet_id; /* 0 for QoS 0 */
	struct strata_bytes topic; /* may be empty in MQTT 5 with a topic alias */
	struct strata_bytes payload;
};

/* PUBACK, PUBREC, PUBREL, PUBCOMP */
struct strata_mqtt_ack {
	uint16_t packet_id;
	uint8_t reason;
};

/* Subscription options byte (MQTT 5.0 3.8.3.1); 3.1.1 uses qos only. */
#define STRATA_SUBOPT_QOS(o) ((o) & 0x03)
#define STRATA_SUBOPT_NO_LOCAL 0x04
#define STRATA_SUBOPT_RETAIN_AS_PUBLISHED 0x08
#define STRATA_SUBOPT_RETAIN_HANDLING(o) (((o) >> 4) & 0x03)

struct strata_mqtt_sub_entry {
	struct strata_bytes filter;
	uint8_t options;
};

/*
 * SUBSCRIBE / UNSUBSCRIBE: the decoder validates every entry (filter
 * syntax, UTF-8, options' reserved bits, at least one entry) and counts
 * them; `entries` is the raw payload to walk with strata_mqtt_sub_next().
 * For the encoder, `entries` holds the payload bytes as they go out.
 */
struct strata_mqtt_subscribe {
	uint16_t packet_id;
	uint32_t count;
	struct strata_bytes entries;
};

/* SUBACK / UNSUBACK: one reason code byte per entry (UNSUBACK 3.1.1: none) */
struct strata_mqtt_suback {
	uint16_t packet_id;
	struct strata_bytes reasons;
};

/* DISCONNECT and AUTH */
struct strata_mqtt_reason {
	uint8_t reason;
};

struct strata_mqtt_packet {
	uint8_t type;  /* enum strata_mqtt_type */
	uint8_t flags; /* low nibble of the fixed header */
	struct strata_mqtt_props props; /* MQTT 5 only; zero for 3.1.1 */
	union {
		struct strata_mqtt_connect connect;
		struct strata_mqtt_connack connack;
		struct strata_mqtt_publish publish;
		struct strata_mqtt_ack ack;
		struct strata_mqtt_subscribe subscribe;   /* and UNSUBSCRIBE */
		struct strata_mqtt_suback suback;         /* and UNSUBACK */
		struct strata_mqtt_reason reason;         /* DISCONNECT, AUTH */
	} u;
};

#endif
