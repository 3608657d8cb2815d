/*
 * lifecycle.h - the messages of AWS IoT Core's lifecycle events: their
 * topics, their JSON, and the names AWS gives the ways a connection ends.
 *
 *   $aws/events/presence/connected/<client id>
 *     {"clientId", "timestamp", "eventType": "connected",
 *      "sessionIdentifier", "principalIdentifier", "ipAddress",
 *      "versionNumber"}
 *   $aws/events/presence/disconnected/<client id>
 *     {"clientId", "timestamp", "eventType": "disconnected",
 *      "sessionIdentifier", "principalIdentifier",
 *      "clientInitiatedDisconnect", "disconnectReason", "versionNumber"}
 *   $aws/events/subscriptions/subscribed/<client id>   (and unsubscribed)
 *     {"clientId", "timestamp", "eventType": "subscribed",
 *      "sessionIdentifier", "principalIdentifier", "topics": [...]}
 *
 * Fields are written in that order, as AWS's examples show them.  The
 * encoder is pure: it writes into the caller's buffer and never
 * allocates.  Strings are escaped for JSON (quote, backslash, control
 * characters); they are expected to be UTF-8, which MQTT guarantees for
 * client ids and topic filters, and are copied byte for byte otherwise.
 * The broker decides when an event happens (broker/events.c).
 */
#ifndef STRATA_LIFECYCLE_H
#define STRATA_LIFECYCLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum strata_lifecycle_type {
	STRATA_LIFECYCLE_CONNECTED,
	STRATA_LIFECYCLE_DISCONNECTED,
	STRATA_LIFECYCLE_SUBSCRIBED,
	STRATA_LIFECYCLE_UNSUBSCRIBED,
	STRATA_LIFECYCLE_TYPES
};

/* What one event says.  Views: nothing is owned.  Fields that the
 * event's type does not carry are ignored. */
struct strata_lifecycle_event {
	enum strata_lifecycle_type type;
	const char *client_id;
	size_t client_id_len;
	uint64_t timestamp_ms;     /* wall clock, ms since the epoch */
	const char *session_id;    /* NUL-terminated */
	const char *principal;     /* NUL-terminated; "" when none */
	const char *ip;            /* connected: the peer address, no port */
	size_t ip_len;
	uint64_t version;          /* connected, disconnected */
	bool client_initiated;     /* disconnected */
	const char *reason;        /* disconnected: AWS's name of the cause */
};

/* Output of the encoder: bytes go to buf while they fit in cap; len
 * counts every byte the message needs, so len > cap after
 * strata_lifecycle_end() means "call again with a buffer of len". */
struct strata_lifecycle_out {
	char *buf;
	size_t cap;
	size_t len;
	uint32_t topics;           /* topics added since begin */
};

/* eventType of t: "connected", "disconnected", ... */
const char *strata_lifecycle_type_name(enum strata_lifecycle_type t);

/* The topic of the event of type t about client_id written into o
 * (o->len its length, not NUL-terminated). */
void strata_lifecycle_topic(struct strata_lifecycle_out *o,
    enum strata_lifecycle_type t, const char *client_id, size_t len);

/* Is topic[0..len) one clients may not publish to?  "$aws/events/..."
 * belongs to the broker (AWS IoT allows clients only to subscribe there),
 * so that nobody can forge an event; so does
 * "$aws/things/<thing>/defender/violations/..." (Device Defender Detect's
 * violation events, docs/internals/detect.md). */
bool strata_lifecycle_reserved(const char *topic, size_t len);

/* May client_id have lifecycle events?  Not when it holds '+' or '#'
 * (it would not be a valid topic level; AWS sends none either). */
bool strata_lifecycle_client_ok(const char *client_id, size_t len);

/*
 * The JSON of e, in three steps: begin (every field but the topics),
 * one topic() per filter of a subscribed/unsubscribed event (none for
 * the others), end.  Returns o->len from end: the size of the whole
 * message (see struct strata_lifecycle_out).
 */
void strata_lifecycle_begin(struct strata_lifecycle_out *o,
    const struct strata_lifecycle_event *e);
void strata_lifecycle_add_topic(struct strata_lifecycle_out *o,
    const char *filter, size_t len);
size_t strata_lifecycle_end(struct strata_lifecycle_out *o,
    const struct strata_lifecycle_event *e);

/*
 * AWS's disconnectReason for how a connection ended: by_client, the
 * client sent DISCONNECT; otherwise reason is the MQTT 5 reason code the
 * server closed it with, 0 for none (the connection was lost: end of
 * stream, reset, write error).  Server reasons:
 *   0x8D                         MQTT_KEEP_ALIVE_TIMEOUT
 *   0x8E                         DUPLICATE_CLIENTID
 *   0x86 0x87 0x8C               AUTH_ERROR
 *   0x8A                         FORBIDDEN_ACCESS
 *   0x8B 0x98 0x9C 0x9D          SERVER_INITIATED_DISCONNECT
 *   0x96 0x97 0x9F               THROTTLED
 *   0x88 0x89                    SERVER_ERROR
 *   any other                    CLIENT_ERROR (malformed packet,
 *                                protocol error, a limit broken, ...)
 */
const char *strata_lifecycle_reason(uint8_t reason, bool by_client);

#endif
