/*
 * fuzz_throttle_limits - the throttle limits of thing groups and types
 * (common/throttle_limits.c) on any bytes an admin client or Redis may
 * send: the whole input read as the JSON body of SetThrottleLimits, and
 * as a stored value of each limit.
 *
 * Checks: a body taken has at least one limit, each in its range; its
 * JSON written back is taken again to the same values.  A stored value
 * taken is in its range and written back as the same text when the text
 * had no leading zero.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "throttle_limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_body(const uint8_t *data, size_t size)
{
	json_t *body = json_loadb((const char *)data, size, 0, NULL), *back;
	struct strata_throttle_limits l, again;
	const char *member = NULL;
	char err[200];
	int set = 0;

	if (strata_throttle_limits_parse(json_is_object(body) ? body : NULL,
	    &l, &member, err, sizeof(err)) != 0) {
		if (member == NULL || err[0] == '\0')
			abort();
		json_decref(body);
		return;
	}
	for (int i = 0; i < STRATA_THROTTLE_LIMITS; i++) {
		if (l.v[i] > strata_throttle_limit_defs[i].max || l.v[i] < -1)
			abort();
		set += l.v[i] >= 0;
	}
	if (set == 0)
		abort();
	back = strata_throttle_limits_json(&l);
	if (strata_throttle_limits_parse(back, &again, &member, err,
	    sizeof(err)) != 0 || memcmp(&l, &again, sizeof(l)) != 0)
		abort();
	json_decref(back);
	json_decref(body);
}

static void
fuzz_value(const uint8_t *data, size_t size)
{
	char text[24];

	for (int i = 0; i < STRATA_THROTTLE_LIMITS; i++) {
		long v = strata_throttle_limit_value((const char *)data, size,
		    i);

		if (v == -1)
			continue;
		if (v < 0 || v > strata_throttle_limit_defs[i].max)
			abort();
		snprintf(text, sizeof(text), "%ld", v);
		if ((size == 1 || data[0] != '0') &&
		    (strlen(text) != size || memcmp(text, data, size) != 0))
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_body(data, size);
	fuzz_value(data, size);
	return 0;
}
