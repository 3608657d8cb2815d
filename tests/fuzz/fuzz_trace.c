/*
 * fuzz_trace - the client trace's parsers (common/trace.c) on any bytes
 * Redis or an admin client may send: the input read as a member of
 * strata:traces, as a client id, and (NUL-terminated) as ?seconds=.
 *
 * Checks: a member taken names a client id inside the input, 17 bytes
 * in, that is itself valid; a valid client id has no control byte; the
 * seconds taken are 1..600.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* not assert(): it goes with NDEBUG */
#define CHECK(c) do { if (!(c)) abort(); } while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	size_t len = 0;
	const char *id = strata_trace_member_client(s, size, &len);
	char *text;
	int seconds;

	if (id != NULL) {
		CHECK(id == s + STRATA_TRACE_ID_LEN + 1);
		CHECK(len == size - STRATA_TRACE_ID_LEN - 1);
		CHECK(strata_trace_client_id_valid(id, len));
	}
	if (strata_trace_client_id_valid(s, size)) {
		CHECK(size >= 1 && size <= STRATA_TRACE_CLIENT_MAX);
		for (size_t i = 0; i < size; i++)
			CHECK(data[i] >= 0x20 && data[i] != 0x7F);
	}
	if ((text = malloc(size + 1)) == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	seconds = strata_trace_seconds(text);
	CHECK(seconds == -1 ||
	    (seconds >= 1 && seconds <= STRATA_TRACE_MAX_SECONDS));
	free(text);
	return 0;
}
