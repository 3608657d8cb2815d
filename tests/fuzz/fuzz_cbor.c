/*
 * fuzz_cbor.c - libFuzzer target for the CBOR subset the fleet
 * provisioning API takes on its .../cbor topics (common/cbor.c).
 *
 * Input: one CBOR data item, as a device would publish it.  Decoding
 * may refuse it (with a message) but not crash, leak or read past the
 * input; what it accepts must encode, and decode back to an equal value.
 */
#include <stdint.h>
#include <stdlib.h>

#include "cbor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[128];
	json_t *v = strata_cbor_decode(data, size, err, sizeof(err)), *back;
	uint8_t *out;
	size_t len;

	if (v == NULL)
		return 0;
	out = strata_cbor_encode(v, &len);
	back = strata_cbor_decode(out, len, err, sizeof(err));
	if (back == NULL || !json_equal(v, back))
		abort();
	json_decref(back);
	free(out);
	json_decref(v);
	return 0;
}
