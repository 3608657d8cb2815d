/*
 * fuzz_broker_link.c - link frames as a broker receives them from a
 * router: strata_link framing and Frame unpacking, then every handler
 * behind it (PublishAck, Deliver fan-out to local sessions, retained
 * Delivers, BarrierAck, Hello).
 *
 * The broker is built in process (harness.h) with the router's end of
 * the link left raw: the input is written there.  Before it, two clients
 * log in (MQTT 5 with a persistent session, 3.1.1 clean), subscribe to
 * "#" and "a/+/c" at QoS 2, and publish at QoS 1 and 2 (sequence numbers
 * 1 and 2 wait for PublishAcks), so Delivers and acks find someone.
 *
 * Input: records; a byte c: n = c & 0x7f bytes follow, written to the
 * link in one piece, bit 7 pumps the loop after them; n = 0 pumps.
 */
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
link_publish(struct fuzz_broker *fb, unsigned i, uint8_t qos, uint16_t id)
{
	uint8_t pkt[] = {0x30 | (uint8_t)(qos << 1), 9, 0, 5, 'a', '/', 'b',
	    '/', 'c', (uint8_t)(id >> 8), (uint8_t)id};

	fuzz_broker_send(fb, i, pkt, sizeof(pkt));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = {data, size};
	struct fuzz_broker_opts o = {.raw_router = true, .drain = true};
	struct fuzz_broker *fb = fuzz_broker_new(&o);

	fuzz_broker_login(fb, 0, STRATA_MQTT_V5, "fuzz-sub5", false);
	fuzz_broker_login(fb, 1, STRATA_MQTT_V311, "fuzz-sub3", true);
	link_publish(fb, 0, 1, 10);
	link_publish(fb, 1, 2, 11);
	fuzz_broker_pump(fb);
	while (in.len > 0) {
		uint8_t c = fuzz_u8(&in);
		size_t n = c & 0x7f, got;
		const uint8_t *p;

		if (n == 0) {
			fuzz_broker_pump(fb);
			continue;
		}
		p = fuzz_bytes(&in, n, &got);
		fuzz_write_fd(fb, fb->router_fd, p, got);
		if (c & 0x80)
			fuzz_broker_pump(fb);
	}
	fuzz_broker_pump(fb);
	fuzz_broker_free(fb);
	return 0;
}
