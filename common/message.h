/*
 * message.h - the parts of a PUBLISH that travel between nodes (topic,
 * payload, MQTT 5 properties, QoS, retain) as one view, and the one block
 * layout every node copies them into: the topic NUL-terminated, then the
 * payload, then the properties.
 *
 * A view owns nothing.  The broker's messages and forwards and the
 * router's retained messages are each one allocation holding their header
 * and such a block (strata_message_copy).
 */
#ifndef STRATA_MESSAGE_H
#define STRATA_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strata_message {
	const char *topic;       /* need not be NUL-terminated */
	size_t topic_len;
	const uint8_t *payload;
	size_t payload_len;
	const uint8_t *props;    /* property block contents, no length */
	size_t props_len;
	uint8_t qos;
	bool retain;
};

/* Bytes of the block of m. */
static inline size_t
strata_message_block_size(const struct strata_message *m)
{
	return m->topic_len + 1 + m->payload_len + m->props_len;
}

/* Copy m into block (strata_message_block_size(m) bytes); returns the view
 * of the copy, whose topic is NUL-terminated. */
struct strata_message strata_message_copy(const struct strata_message *m,
    uint8_t *block);

#endif
