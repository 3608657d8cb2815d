/*
 * fuzz_dataplane - the parsers of the data-plane HTTP API
 * (common/dataplane.c) and the retained-message value
 * (common/retained_value.c), on any bytes a client or Redis may send.
 *
 * Input: one byte saying which of the eight publish request inputs are
 * present (bit i: input i), then the present ones, NUL-separated, in the
 * order of struct strata_dataplane_publish_request; the whole input is
 * also read as a page token, a property block and a stored value.
 *
 * Checks: a publish request taken gives QoS 0 or 1 and properties that
 * the codec writes and reads back with as many user properties; a token
 * taken is formatted and parsed back to the same; user properties
 * written back are base64 that decodes; a value decoded is encoded and
 * decoded back to the same.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "dataplane.h"
#include "mqtt.h"
#include "retained_value.h"

static void
fuzz_publish(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1), *p, *fields[8] = {0};
	struct strata_dataplane_publish_request r;
	struct strata_dataplane_publish out;
	struct strata_mqtt_props back;
	uint8_t *block;
	size_t n, w;
	char err[128];

	if (size == 0 || copy == NULL)
		goto out;
	memcpy(copy, data + 1, size - 1);
	copy[size - 1] = '\0';
	p = copy;
	for (int i = 0; i < 8; i++)
		if (data[0] & (1u << i)) {
			fields[i] = p;
			p += strlen(p);
			if (p < copy + size - 1)
				p++;
		}
	r = (struct strata_dataplane_publish_request){fields[0], fields[1],
	    fields[2], fields[3], fields[4], fields[5], fields[6], fields[7]};
	if (strata_dataplane_publish_parse(&r, &out, err, sizeof(err)) == 0) {
		if (out.qos > 1)
			abort();
		n = strata_mqtt_props_size(&out.props);
		block = malloc(n + 8);
		w = strata_mqtt_props_write(&out.props, block);
		if (strata_mqtt_props_parse(block + (w - n), n,
		    STRATA_MQTT_PUBLISH, &back) != 0 ||
		    back.n_user_props != out.props.n_user_props)
			abort();
		free(block);
	}
	strata_dataplane_publish_free(&out);
out:
	free(copy);
}

static void
fuzz_token(const uint8_t *data, size_t size)
{
	char *s = strndup((const char *)data, size);
	char again[STRATA_DATAPLANE_TOKEN_MAX];
	struct strata_dataplane_token t, u;

	if (s == NULL)
		return;
	if (strata_dataplane_token_parse(s, 1024, 100000, &t) == 0) {
		strata_dataplane_token_format(&t, again);
		if (strata_dataplane_token_parse(again, 1024, 100000, &u) != 0 ||
		    u.partition != t.partition || u.cursor != t.cursor ||
		    u.skip != t.skip)
			abort();
	}
	free(s);
}

static void
fuzz_values(const uint8_t *data, size_t size)
{
	struct strata_retained_value v, w;
	char *json = strata_dataplane_user_props_json(data, size);
	uint8_t *enc, *raw;
	size_t n, len;

	if (json != NULL) {
		raw = strata_unbase64(json, strlen(json), &n);
		if (raw == NULL)
			abort();
		free(raw);
		free(json);
	}
	if (strata_retained_value_decode(data, size, &v) != 0)
		return;
	len = strata_retained_value_encode(&v, &enc);
	if (strata_retained_value_decode(enc, len, &w) != 0 ||
	    w.qos != v.qos || w.payload_len != v.payload_len ||
	    w.props_len != v.props_len || w.stored_at_ms != v.stored_at_ms)
		abort();
	strata_retained_value_release(&w);
	strata_retained_value_release(&v);
	free(enc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_publish(data, size);
	fuzz_token(data, size);
	fuzz_values(data, size);
	return 0;
}
