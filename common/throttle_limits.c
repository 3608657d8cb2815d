/*
 * throttle_limits.c - see throttle_limits.h.
 */
#include <stdio.h>
#include <string.h>

#include "throttle_limits.h"

const struct strata_throttle_limit_def
    strata_throttle_limit_defs[STRATA_THROTTLE_LIMITS] = {
	{"publishRate", "throttle_publish_rate", 1000000},
	{"inboundBytesPerSecond", "throttle_inbound_bytes", 1000000000},
	{"subscribeRate", "throttle_subscribe_rate", 1000000},
	{"disconnectAfterSeconds", "throttle_disconnect_after", 86400},
};

static int
limits_index(const char *member)
{
	for (int i = 0; i < STRATA_THROTTLE_LIMITS; i++)
		if (strcmp(member, strata_throttle_limit_defs[i].member) == 0)
			return i;
	return -1;
}

int
strata_throttle_limits_parse(const json_t *body,
    struct strata_throttle_limits *out, const char **member, char *err,
    size_t errlen)
{
	const char *key;
	json_t *v;
	int i, given = 0;

	for (i = 0; i < STRATA_THROTTLE_LIMITS; i++)
		out->v[i] = -1;
	json_object_foreach((json_t *)body, key, v) {
		const struct strata_throttle_limit_def *d;

		i = limits_index(key);
		*member = key;
		if (i < 0) {
			snprintf(err, errlen, "%s is not a throttle limit "
			    "(publishRate, inboundBytesPerSecond, "
			    "subscribeRate, disconnectAfterSeconds)", key);
			return -1;
		}
		d = &strata_throttle_limit_defs[i];
		if (json_is_null(v))
			continue;
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > d->max) {
			snprintf(err, errlen, "%s must be an integer from 0 "
			    "(no limit) to %ld", d->member, d->max);
			return -1;
		}
		out->v[i] = (long)json_integer_value(v);
		given++;
	}
	if (given > 0)
		return 0;
	*member = strata_throttle_limit_defs[0].member;
	snprintf(err, errlen, "give at least one limit: publishRate, "
	    "inboundBytesPerSecond, subscribeRate or disconnectAfterSeconds "
	    "(DeleteThrottleLimits removes them)");
	return -1;
}

json_t *
strata_throttle_limits_json(const struct strata_throttle_limits *l)
{
	json_t *o = json_object();

	for (int i = 0; i < STRATA_THROTTLE_LIMITS; i++)
		if (l->v[i] >= 0)
			json_object_set_new(o,
			    strata_throttle_limit_defs[i].member,
			    json_integer(l->v[i]));
	return o;
}

long
strata_throttle_limit_value(const char *text, size_t len, int i)
{
	long v = 0;

	if (i < 0 || i >= STRATA_THROTTLE_LIMITS || len == 0 || len > 10)
		return -1;
	for (size_t k = 0; k < len; k++) {
		if (text[k] < '0' || text[k] > '9')
			return -1;
		v = v * 10 + (text[k] - '0');
	}
	return v <= strata_throttle_limit_defs[i].max ? v : -1;
}
