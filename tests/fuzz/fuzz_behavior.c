/*
 * fuzz_behavior.c - libFuzzer target for Device Defender Detect's
 * behaviour check (common/behavior.c): the input is a CreateSecurityProfile
 * body's behaviors as JSON text.  The check must accept (with an
 * evaluation entry for each behaviour with criteria, each CIDR of 32 hex
 * digits and a prefix length up to 128, every one of its own addresses
 * inside it) or refuse with a message, and decide the same twice.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "behavior.h"

static void
fuzz_check_cidrs(const json_t *cidrs)
{
	const json_t *c;
	size_t i;

	json_array_foreach(cidrs, i, c) {
		const char *hex = json_string_value(json_array_get(c, 0));
		json_int_t bits = json_integer_value(json_array_get(c, 1));

		if (hex == NULL || strlen(hex) != 32 || bits < 0 || bits > 128 ||
		    !strata_behavior_cidr_has(hex, (int)bits, hex))
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *in = json_loadb((const char *)data, size, JSON_DECODE_ANY,
	    NULL), *a = NULL, *b = NULL, *e;
	char err[256], err2[256], hex[33];
	char text[64];
	size_t i;
	int ra, rb;

	/* the address parser too, on the input's first bytes */
	memcpy(text, data, size < sizeof(text) - 1 ? size : sizeof(text) - 1);
	text[size < sizeof(text) - 1 ? size : sizeof(text) - 1] = '\0';
	if (strata_behavior_ip_hex(text, hex) == 0 && strlen(hex) != 32)
		abort();
	if (in == NULL)
		return 0;
	err[0] = err2[0] = '\0';
	ra = strata_behaviors_check(in, 5, &a, err, sizeof(err));
	rb = strata_behaviors_check(in, 5, &b, err2, sizeof(err2));
	if (ra != rb || (ra != 0 && (err[0] == '\0' || strcmp(err, err2) ||
	    a != NULL)) || (ra == 0 && !json_equal(a, b)))
		abort();
	if (ra == 0) {
		if (json_array_size(a) > json_array_size(in))
			abort();
		json_array_foreach(a, i, e)
			fuzz_check_cidrs(json_object_get(e, "c"));
	}
	json_decref(a);
	json_decref(b);
	json_decref(in);
	return 0;
}
