/*
 * fuzz_keyquality.c - libFuzzer target for the audit's key quality rule
 * (common/keyquality.c): the input is a certificate PEM as the registry
 * holds it.  It must be judged OK, WEAK (with a reason) or UNREADABLE,
 * and the same twice.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keyquality.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *pem = malloc(size + 1), why[128], why2[128];
	enum strata_key_quality a, b;

	if (pem == NULL)
		abort();
	memcpy(pem, data, size);
	pem[size] = '\0';
	why[0] = why2[0] = '\0';
	a = strata_key_quality_pem(pem, why, sizeof(why));
	b = strata_key_quality_pem(pem, why2, sizeof(why2));
	if (a != b || strcmp(why, why2) != 0)
		abort();
	if (a == STRATA_KEY_WEAK && why[0] == '\0')
		abort();
	if (a != STRATA_KEY_OK && a != STRATA_KEY_WEAK &&
	    a != STRATA_KEY_UNREADABLE)
		abort();
	free(pem);
	return 0;
}
