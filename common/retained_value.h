/*
 * retained_value.h - the stored form of a retained message: the value of field
 * <topic> in the Redis hash strata:retained:<partition>, a
 * Strata__Retained protobuf (proto/strata.proto): payload, QoS, MQTT 5
 * property block contents, the time it was stored.
 *
 * Written by the router that owns the partition (router/publish.c), read
 * back by the router taking a partition (router/partition.c) and by the
 * data-plane HTTP API of strata-shadowd (GetRetainedMessage,
 * ListRetainedMessages).  Pure functions: no daemon state.
 */
#ifndef STRATA_RETAINED_VALUE_H
#define STRATA_RETAINED_VALUE_H

#include <stddef.h>
#include <stdint.h>

/* A decoded value: views into the decoder's own allocation (owner),
 * valid until strata_retained_value_release. */
struct strata_retained_value {
	const uint8_t *payload;
	size_t payload_len;
	uint32_t qos;               /* 0..2 */
	const uint8_t *props;       /* property block contents, no length */
	size_t props_len;
	uint64_t stored_at_ms;      /* Unix time, ms */
	void *owner;
};

/* Encode r (owner unused) into a malloc'd buffer *out (the caller frees
 * it); returns its length.  Never fails (allocation failure aborts). */
size_t strata_retained_value_encode(const struct strata_retained_value *r,
    uint8_t **out);

/* Decode len bytes read from Redis into *r.  0, or STRATA_EINVAL for
 * bytes that are not a Strata__Retained or a QoS over 2 (r is then empty
 * and needs no release). */
int strata_retained_value_decode(const uint8_t *data, size_t len,
    struct strata_retained_value *r);

/* Free what a successful decode holds; r is emptied.  NULL-safe. */
void strata_retained_value_release(struct strata_retained_value *r);

#endif
