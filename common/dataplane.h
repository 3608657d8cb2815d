/*
 * dataplane.h - the pure parts of AWS IoT's data-plane HTTP API
 * (Publish, GetRetainedMessage, ListRetainedMessages), served by
 * strata-shadowd (docs/internals/data-plane.md): the publish request's
 * query parameters and headers read into MQTT 5 properties, user
 * properties written back as AWS's base64 JSON, and the
 * ListRetainedMessages page token.  No daemon state; every function is
 * fuzzed (tests/fuzz/fuzz_dataplane.c).
 */
#ifndef STRATA_DATAPLANE_H
#define STRATA_DATAPLANE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqtt-t.h"

/* Bounds of what a publish request may carry (AWS's where it has one). */
#define STRATA_DATAPLANE_TOPIC_MAX 256          /* bytes */
#define STRATA_DATAPLANE_HEADER_MAX 1024        /* contentType, ... */
#define STRATA_DATAPLANE_USER_PROPS_MAX 8192    /* the header, encoded */

/* The request's inputs as they came, NUL-terminated; NULL: absent.
 * Query: qos, retain, contentType, responseTopic, messageExpiry;
 * headers: x-amz-mqtt5-user-properties, x-amz-mqtt5-correlation-data,
 * x-amz-mqtt5-payload-format-indicator. */
struct strata_dataplane_publish_request {
	const char *qos;
	const char *retain;
	const char *content_type;
	const char *response_topic;
	const char *message_expiry;
	const char *user_properties;
	const char *correlation_data;
	const char *payload_format;
};

/* What they say.  props holds views into user and correlation, which
 * the struct owns (strata_dataplane_publish_free). */
struct strata_dataplane_publish {
	uint8_t qos;                   /* 0 or 1 (AWS's range) */
	bool retain;
	struct strata_mqtt_props props;
	uint8_t *user;                 /* MQTT user property entries */
	uint8_t *correlation;          /* decoded correlation data */
};

/* Read in into *out.  0, or STRATA_EINVAL with one sentence in err (the
 * 400's message); out needs strata_dataplane_publish_free either way. */
int strata_dataplane_publish_parse(
    const struct strata_dataplane_publish_request *in,
    struct strata_dataplane_publish *out, char *err, size_t errlen);
void strata_dataplane_publish_free(struct strata_dataplane_publish *p);

/* The user properties of a property block's contents (props_len bytes)
 * as AWS answers them: base64 of [{"key": "value"}, ...]; malloc'd,
 * NULL when there are none or the block does not parse. */
char *strata_dataplane_user_props_json(const uint8_t *props, size_t len);

/* Where a ListRetainedMessages page ends: the partition, the HSCAN
 * cursor of the batch it stopped in, and how many of that batch's
 * entries were already listed. */
struct strata_dataplane_token {
	uint32_t partition;
	uint64_t cursor;
	uint32_t skip;
};
#define STRATA_DATAPLANE_TOKEN_MAX 64
/* "1-<partition>-<cursor>-<skip>", decimal (out holds
 * STRATA_DATAPLANE_TOKEN_MAX). */
void strata_dataplane_token_format(const struct strata_dataplane_token *t,
    char *out);
/* 0, or STRATA_EINVAL when s is not a token this version writes: a
 * partition of at least partitions, a skip over max_skip, or anything
 * else. */
int strata_dataplane_token_parse(const char *s, uint32_t partitions,
    uint32_t max_skip, struct strata_dataplane_token *t);

#endif
