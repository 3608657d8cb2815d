/*
 * fuzz_handoff.c - a session hand-off blob (strata.Session, read from
 * Redis strata:session:<client id>) as a broker restores it.
 *
 * The input is the blob.  It is restored into a new session of a broker
 * built in process (harness.h).  A blob that is refused leaves nothing
 * behind; one that is accepted is packed again and the copy must restore
 * too, and then its client reconnects with Clean Start 0, so the restored
 * subscriptions, in-flight and queued messages and QoS 2 state are
 * resumed and written to a real connection.
 */
#include <stdlib.h>

#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HANDOFF_ID "fuzz-handoff"

/* What the broker packs it must take back. */
static void
handoff_round_trip(struct fuzz_broker *fb, struct broker_session *s)
{
	struct broker_session *copy;
	size_t len;
	uint8_t *blob = broker_handoff_pack(s, &len);

	copy = broker_session_new(fb->b, "fuzz-copy", 9);
	if (broker_handoff_restore(copy, blob, len) != 0)
		abort();
	broker_session_destroy(copy);
	free(blob);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_broker_opts o = {.drain = true, .echo = true};
	struct fuzz_broker *fb = fuzz_broker_new(&o);
	struct broker_session *s;

	s = broker_session_new(fb->b, HANDOFF_ID, sizeof(HANDOFF_ID) - 1);
	if (broker_handoff_restore(s, data, size) != 0) {
		broker_session_destroy(s);
		fuzz_broker_free(fb);
		return 0;
	}
	handoff_round_trip(fb, s);
	s->persistent = true;
	s->expiry = UINT32_MAX;
	broker_session_detach(s);
	fuzz_broker_pump(fb);
	fuzz_broker_login(fb, 0, size > 0 && (data[0] & 1) ? STRATA_MQTT_V5 :
	    STRATA_MQTT_V311, HANDOFF_ID, false);
	fuzz_broker_pump(fb);
	fuzz_broker_free(fb);
	return 0;
}
