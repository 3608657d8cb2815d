/*
 * fuzz_mqtt_decode.c - libFuzzer target for the MQTT codec.
 *
 * Frames the input, decodes it as if negotiated for each version (0: before
 * CONNECT, 3.1.1, 5.0), and for every packet that decodes re-encodes it,
 * decodes the result again and checks that a second encoding gives the same
 * size and the same bytes.  It also walks the entries and User Properties the
 * decoder validated, and feeds the input to the property parser directly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Checked whatever NDEBUG says: the build type may compile assert out. */
#define FUZZ_CHECK(cond)                                                   \
	do {                                                               \
		if (!(cond))                                               \
			abort();                                           \
	} while (0)

static void
fuzz_walk(const struct strata_mqtt_packet *pkt, uint8_t version)
{
	struct strata_mqtt_sub_entry e;
	struct strata_bytes k, v;
	struct strata_reader it;
	uint32_t n = 0;

	it = strata_reader_init(pkt->props.user_src.p,
	    pkt->props.user_src.len);
	while (strata_mqtt_user_next(&it, &k, &v) == 0)
		n++;
	FUZZ_CHECK(n == pkt->props.n_user_props);
	if (pkt->type != STRATA_MQTT_SUBSCRIBE &&
	    pkt->type != STRATA_MQTT_UNSUBSCRIBE)
		return;
	n = 0;
	it = strata_reader_init(pkt->u.subscribe.entries.p,
	    pkt->u.subscribe.entries.len);
	while (strata_mqtt_sub_next(&it, pkt->type, version, &e) == 0)
		n++;
	FUZZ_CHECK(n == pkt->u.subscribe.count);
}

static void
fuzz_round_trip(const struct strata_mqtt_packet *pkt, uint8_t version)
{
	struct strata_mqtt_packet again;
	uint8_t *first = NULL, *second = NULL;
	size_t size, n;
	int rc;

	size = strata_mqtt_encoded_size(pkt, version);
	first = malloc(size);
	second = malloc(size);
	FUZZ_CHECK(first != NULL && second != NULL);
	n = strata_mqtt_encode(pkt, version, first, size);
	FUZZ_CHECK(n == size);
	rc = strata_mqtt_decode(first, n, version, &again);
	FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(again.type == pkt->type);
	FUZZ_CHECK(strata_mqtt_encoded_size(&again, version) == size);
	n = strata_mqtt_encode(&again, version, second, size);
	FUZZ_CHECK(n == size);
	FUZZ_CHECK(memcmp(first, second, size) == 0);
	free(first);
	free(second);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t versions[] = {0, STRATA_MQTT_V311,
	    STRATA_MQTT_V5};
	struct strata_mqtt_packet pkt;
	struct strata_mqtt_props props;
	size_t total, i;
	uint8_t version;

	for (i = 0; i <= STRATA_MQTT_AUTH; i++)
		(void)strata_mqtt_props_parse(data, size, (uint8_t)i, &props);
	if (strata_mqtt_frame(data, size, 0, &total) != 0 || total > size)
		return 0;
	for (i = 0; i < sizeof(versions); i++) {
		if (strata_mqtt_decode(data, total, versions[i], &pkt) != 0)
			continue;
		version = pkt.type == STRATA_MQTT_CONNECT ?
		    pkt.u.connect.version : versions[i];
		fuzz_walk(&pkt, version);
		fuzz_round_trip(&pkt, version);
	}
	return 0;
}
