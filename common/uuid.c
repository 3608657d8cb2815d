/*
 * uuid.c - random (version 4) UUIDs (see uuid.h).
 */
#include "uuid.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/rand.h>

void
strata_uuid4(char out[STRATA_UUID_LEN + 1])
{
	uint8_t r[16];

	if (RAND_bytes(r, sizeof(r)) != 1)
		abort();
	r[6] = (uint8_t)((r[6] & 0x0f) | 0x40);
	r[8] = (uint8_t)((r[8] & 0x3f) | 0x80);
	snprintf(out, STRATA_UUID_LEN + 1, "%02x%02x%02x%02x-%02x%02x-"
	    "%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2],
	    r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
	    r[13], r[14], r[15]);
}
