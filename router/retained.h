/*
 * retained.h - the router's cache of retained messages, keyed by topic.
 *
 * The cache holds the retained messages of the partitions this router has
 * loaded or received publishes for; Redis (strata:retained:<partition>)
 * holds the durable copy, written by publish.c and read back by
 * partition.c when a partition is taken.  Entries are stored as one block:
 * the topic (NUL-terminated), payload and MQTT 5 properties.
 */
#ifndef STRATA_ROUTER_RETAINED_H
#define STRATA_ROUTER_RETAINED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "message.h"

struct strata_hashmap;

struct router_retained_msg {
	uint32_t partition;
	uint32_t qos;
	uint64_t stored_at_ms;
	const uint8_t *payload;
	size_t payload_len;
	const uint8_t *props;
	size_t props_len;
	size_t topic_len;
	char topic[]; /* NUL-terminated, then payload, then properties */
};

struct router_retained {
	/* topic -> struct router_retained_msg * */
	struct strata_hashmap *cache;
	size_t bytes;              /* topics, payloads, properties held */
	size_t max_count, max_bytes;
};

/* max_count messages and max_bytes of topic + payload + properties at
 * most (max-retained, max-retained-bytes): see router_retained_fits. */
void router_retained_init(struct router_retained *r, size_t max_count,
    size_t max_bytes);
/* Would storing topic's message with these sizes stay within the bounds?
 * (Replacing a message counts only the difference.)  put() itself does
 * not check: the caller refuses what does not fit. */
bool router_retained_fits(const struct router_retained *r, const char *topic,
    size_t tlen, size_t plen, size_t prlen);
void router_retained_fini(struct router_retained *r);

/* Store m (its topic, payload, properties, QoS), replacing the topic's
 * previous message.  The bytes are copied.  Returns the stored entry. */
const struct router_retained_msg *router_retained_put(
    struct router_retained *r, const struct strata_message *m,
    uint32_t partition, uint64_t stored_at_ms);

/* Remove topic's message; false if there was none. */
bool router_retained_delete(
    struct router_retained *r, const char *topic, size_t tlen);

const struct router_retained_msg *router_retained_get(
    const struct router_retained *r, const char *topic, size_t tlen);

/* Strata__Retained encoding of m, for Redis: a malloc'd buffer in *out
 * (the caller frees it); returns its length. */
size_t router_retained_pack(
    const struct router_retained_msg *m, uint8_t **out);

/* Decode a Strata__Retained value read from Redis and store it unless the
 * cache already holds that topic (a publish received since the load began
 * is newer).  Returns 0; STRATA_EINVAL for undecodable bytes or a topic
 * that is not a valid topic name; STRATA_ENOSPC when it does not fit the
 * bounds (not stored). */
int router_retained_load(struct router_retained *r, const char *topic,
    size_t tlen, uint32_t partition, const uint8_t *data, size_t len);

/* Call cb for every message whose topic matches filter (a "$share/..."
 * filter matches nothing: shared subscriptions get no retained messages,
 * MQTT 5 section 4.8.2).  A filter without wildcards is one lookup.
 * Returns the number of calls. */
typedef void (*router_retained_cb)(
    const struct router_retained_msg *m, void *arg);
size_t router_retained_match(const struct router_retained *r,
    const char *filter, size_t flen, router_retained_cb cb, void *arg);

/* Forget every message of one partition (its ownership moved away). */
void router_retained_drop_partition(
    struct router_retained *r, uint32_t partition);

size_t router_retained_count(const struct router_retained *r);

#endif
