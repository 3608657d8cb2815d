/*
 * mqtt.h - MQTT 3.1.1 and 5.0 codec: framing, decoding, encoding.
 *
 * Pure functions, no I/O, no allocation.  Every error is a negated MQTT 5
 * reason code (status.h) so the caller maps it in one place.
 */
#ifndef STRATA_MQTT_H
#define STRATA_MQTT_H

#include <stddef.h>
#include <stdint.h>

#include "mqtt-t.h"
#include "status.h"

/*
 * Framing.  Look at the first bytes of a stream: on success sets *total to
 * the size of the whole packet (fixed header included) and returns 0, even if
 * fewer than *total bytes are available yet.  Returns STRATA_AGAIN when the
 * fixed header itself is incomplete; STRATA_ERR(STRATA_RC_MALFORMED) for a
 * remaining length longer than 4 bytes; STRATA_ERR(STRATA_RC_PACKET_TOO_LARGE)
 * when *total would exceed max_packet (0: no limit).  Never reads more than
 * 5 bytes.
 */
int strata_mqtt_frame(const uint8_t *p, size_t len, size_t max_packet,
    size_t *total);

/*
 * Decode one whole packet (as framed above) into *out.  `version` is the
 * protocol version negotiated by CONNECT (ignored for CONNECT itself, which
 * carries it; pass 0 before CONNECT).  Views in *out point into p.
 * Errors (negated reason codes):
 *   MALFORMED        - short/long packet, bad varint, bad UTF-8, reserved
 *                      fixed-header flags, bad property encoding, unknown
 *                      property id, PUBLISH or Will QoS 3, reserved CONNECT
 *                      flag (MQTT 5.0 3.1.2.3), reserved subscription
 *                      option bits (3.1.1: also QoS 3)
 *   PROTOCOL_ERROR   - duplicate or misplaced property, property value out
 *                      of range, packet id 0 where one is needed, MQTT 5
 *                      subscription QoS 3 / Retain Handling 3, No Local on
 *                      $share, empty SUBSCRIBE/UNSUBSCRIBE/SUBACK, bad
 *                      protocol name, will flags inconsistent, 3.1.1
 *                      password without user name, empty MQTT 5 topic
 *                      without Topic Alias, non-CONNECT with version 0
 *   IMPL_SPECIFIC    - more than STRATA_MQTT_MAX_SUB_IDS Subscription Ids
 *   STRATA_EINVAL    - `version` is neither 0, 4 nor 5 (caller error)
 *   UNSUPPORTED_VERSION - CONNECT with protocol level other than 4 or 5
 *                      (the caller answers with CONNACK 0x01 / 0x84)
 *   TOPIC_NAME_INVALID / TOPIC_FILTER_INVALID - wildcards in a topic name,
 *                      ill-placed wildcards in a filter, empty topic (3.1.1)
 *   CLIENT_ID_INVALID - (never: the broker decides on client ids)
 * For 3.1.1 every error means "close the connection".
 */
int strata_mqtt_decode(const uint8_t *p, size_t len, uint8_t version,
    struct strata_mqtt_packet *out);

/* Payload Format Indicator 1 (props) on a payload that is not valid UTF-8:
 * STRATA_ERR(STRATA_RC_PAYLOAD_FORMAT_INVALID), else 0.  For a PUBLISH or
 * a Will (connect.will_props, will_payload).  The decoder does not apply
 * it: MQTT 5 lets the receiver choose whether to check and how to answer
 * (PUBACK/PUBREC, DISCONNECT or CONNACK 0x99). */
int strata_mqtt_payload_format_check(const struct strata_mqtt_props *props,
    struct strata_bytes payload);

/* Walk SUBSCRIBE/UNSUBSCRIBE entries validated by the decoder.  Start with
 * it = strata_reader_init(pkt.u.subscribe.entries.p, ...entries.len).
 * Returns 0 with *e filled, or STRATA_ENOTFOUND at the end.  For
 * UNSUBSCRIBE, e->options is 0. */
int strata_mqtt_sub_next(struct strata_reader *it, uint8_t type,
    uint8_t version, struct strata_mqtt_sub_entry *e);

/* Walk User Properties of a property block (props.user_src).  Returns 0 with
 * key/value set, or STRATA_ENOTFOUND at the end. */
int strata_mqtt_user_next(struct strata_reader *it, struct strata_bytes *key,
    struct strata_bytes *value);

/*
 * Encoding.  strata_mqtt_encoded_size() returns the exact size of the whole
 * packet for `version`; strata_mqtt_encode() writes it into out (cap bytes)
 * and returns the number of bytes written, or 0 if cap is too small.
 * Properties are written only for MQTT 5.  The caller guarantees the packet
 * is well-formed (our bugs trip assert).  For SUBSCRIBE/UNSUBSCRIBE,
 * `entries` is written verbatim as the payload.
 */
size_t strata_mqtt_encoded_size(const struct strata_mqtt_packet *pkt,
    uint8_t version);
size_t strata_mqtt_encode(const struct strata_mqtt_packet *pkt,
    uint8_t version, uint8_t *out, size_t cap);

/* Size of a property block's contents (without its length varint), and
 * writer of block = varint(len) + contents; returns bytes written.  Used
 * by the encoder and by code that forwards properties between nodes.
 * Written are: every property whose bit is in `present` (in id order), then
 * sub_ids[0..n_sub_ids), then the User Properties found in user_src; the
 * Subscription Identifier and User Property bits of `present` and
 * n_user_props are not consulted. */
size_t strata_mqtt_props_size(const struct strata_mqtt_props *props);
size_t strata_mqtt_props_write(const struct strata_mqtt_props *props,
    uint8_t *out);
/* Parse a property block (contents only, no length prefix) that is allowed
 * in packet `type` (use 0 for Will properties).  Used by decode and by the
 * broker when it receives properties forwarded by a router. */
int strata_mqtt_props_parse(const uint8_t *p, size_t len, uint8_t type,
    struct strata_mqtt_props *out);

/* Name of a packet type for logs and metric labels ("connect", ...). */
const char *strata_mqtt_type_name(uint8_t type);

#endif
