/*
 * fuzz_shadowd_topic - shadowd's request topic parser
 * (shadowd_topic_parse), on any bytes a device may publish to.
 *
 * Checks: a topic it takes is one of the six request shapes, its base
 * plus "/" plus the operation gives the topic back, and names it calls
 * valid are AWS's ([a-zA-Z0-9:_-], thing 1..128, shadow 1..64).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shadowd.h"

static const char *const ops[] = {"update", "get", "delete"};

static int
valid(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' &&
		    s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == ':' || s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct shadowd_topic t;
	char again[400];

	if (shadowd_topic_parse((const char *)data, size, &t) != 0)
		return 0;
	if ((unsigned)t.op > 2 || strncmp(t.base, "$aws/things/", 12) != 0)
		abort();
	snprintf(again, sizeof(again), "%s/%s", t.base, ops[t.op]);
	if (strlen(again) != size || memcmp(again, data, size) != 0)
		abort();
	if (t.names_valid && (!valid(t.thing, 128) ||
	    (t.name[0] != '\0' && !valid(t.name, 64))))
		abort();
	return 0;
}
