/*
 * retained_value.c - the stored form of a retained message
 * (see retained_value.h).
 */
#include <stdlib.h>
#include <string.h>

#include "retained_value.h"
#include "status.h"
#include "strata.pb-c.h"

size_t
strata_retained_value_encode(const struct strata_retained_value *r, uint8_t **out)
{
	Strata__Retained v = STRATA__RETAINED__INIT;
	size_t len;

	v.payload.data = (uint8_t *)r->payload;
	v.payload.len = r->payload_len;
	v.qos = r->qos;
	v.properties.data = (uint8_t *)r->props;
	v.properties.len = r->props_len;
	v.stored_at_ms = r->stored_at_ms;
	len = strata__retained__get_packed_size(&v);
	/* +1: malloc(0) may return NULL for an all-default message. */
	*out = malloc(len + 1);
	if (*out == NULL)
		abort();
	strata__retained__pack(&v, *out);
	return len;
}

int
strata_retained_value_decode(const uint8_t *data, size_t len,
    struct strata_retained_value *r)
{
	Strata__Retained *v = strata__retained__unpack(NULL, len, data);

	memset(r, 0, sizeof(*r));
	if (v == NULL)
		return STRATA_EINVAL;
	if (v->qos > 2) {
		strata__retained__free_unpacked(v, NULL);
		return STRATA_EINVAL;
	}
	r->payload = v->payload.data;
	r->payload_len = v->payload.len;
	r->qos = v->qos;
	r->props = v->properties.data;
	r->props_len = v->properties.len;
	r->stored_at_ms = v->stored_at_ms;
	r->owner = v;
	return 0;
}

void
strata_retained_value_release(struct strata_retained_value *r)
{
	if (r == NULL || r->owner == NULL)
		return;
	strata__retained__free_unpacked(r->owner, NULL);
	memset(r, 0, sizeof(*r));
}
