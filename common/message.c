/*
 * message.c - the block layout of a message (see message.h).
 */
#include <string.h>

#include "message.h"

struct strata_message
strata_message_copy(const struct strata_message *m, uint8_t *block)
{
	struct strata_message c = *m;
	uint8_t *payload = block + m->topic_len + 1;
	uint8_t *props = payload + m->payload_len;

	memcpy(block, m->topic, m->topic_len);
	block[m->topic_len] = '\0';
	if (m->payload_len > 0)
		memcpy(payload, m->payload, m->payload_len);
	if (m->props_len > 0)
		memcpy(props, m->props, m->props_len);
	c.topic = (const char *)block;
	c.payload = payload;
	c.props = props;
	return c;
}
