/*
 * fuzz_broker_input.c - arbitrary client bytes through a broker
 * connection's real read and dispatch path.
 *
 * A broker is built in process (harness.h) with a fake router that
 * acknowledges every publish (and, when the input says so, delivers it
 * back, so outbound QoS 1/2 flows run too) and a fake Redis answering as
 * a healthy one would, or not at all.  Two client connections: the plain
 * TCP read path or the bufferevent path of TLS connections, each.
 *
 * Input: one flags byte, then records.  Flags: bit 0/1 connection 0/1
 * takes the TLS path; bit 2 Redis starts down; bit 3 the registry names
 * another live broker (CONNECTs wait for a hand-off); bit 4 the router
 * echoes publishes as Delivers; bit 5 it answers retained requests; bit
 * 6 the clients never read (their output fills up).  A record is a byte
 * c: n = c & 0x3f bytes follow for connection (c >> 6) & 1, written in
 * one piece, and bit 7 pumps the loop after them.  n = 0 is an action
 * instead, by c >> 6: 0 pump, 1 and 2 connection 0 or 1 hangs up (a
 * later record for it opens a new one), 3 Redis goes down or comes back.
 */
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
input_action(struct fuzz_broker *fb, unsigned what, bool *redis_up)
{
	switch (what) {
	case 0:
		fuzz_broker_pump(fb);
		break;
	case 1:
	case 2:
		fuzz_broker_hangup(fb, what - 1);
		fuzz_broker_pump(fb);
		break;
	default:
		*redis_up = !*redis_up;
		strata_redis_fake_set_up(fb->b->redis, *redis_up);
		fuzz_broker_pump(fb);
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = {data, size};
	uint8_t flags = fuzz_u8(&in);
	struct fuzz_broker_opts o = {
		.redis_down = (flags & 0x04) != 0,
		.prev_alive = (flags & 0x08) != 0,
		.echo = (flags & 0x10) != 0,
		.retained = (flags & 0x20) != 0,
		.drain = (flags & 0x40) == 0,
	};
	struct fuzz_broker *fb = fuzz_broker_new(&o);
	bool redis_up = !o.redis_down;

	fuzz_broker_connect(fb, 0, (flags & 0x01) != 0);
	fuzz_broker_connect(fb, 1, (flags & 0x02) != 0);
	while (in.len > 0) {
		uint8_t c = fuzz_u8(&in);
		size_t n = c & 0x3f, got;
		const uint8_t *p;

		if (n == 0) {
			input_action(fb, c >> 6, &redis_up);
			continue;
		}
		p = fuzz_bytes(&in, n, &got);
		fuzz_broker_send(fb, (c >> 6) & 1, p, got);
		if (c & 0x80)
			fuzz_broker_pump(fb);
	}
	fuzz_broker_pump(fb);
	fuzz_broker_free(fb);
	return 0;
}
