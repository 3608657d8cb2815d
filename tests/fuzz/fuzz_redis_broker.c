/*
 * fuzz_redis_broker.c - Redis replies and node-channel messages where the
 * broker parses them: the partition scheme check, the router list and
 * the partition map (routers it names are dialled in process), the
 * session registry script, the hand-off GET (a session blob), and
 * strata.SessionControl messages on strata:node:<id>.
 *
 * The broker is built in process (harness.h) with a fake Redis whose
 * replies come from the input, parsed by hiredis's own reader in the
 * order the broker sends commands (a command with no reply buffered gets
 * none, as when Redis is gone).  Clients log in so the registry is asked.
 *
 * Input: records; a byte t, then by t % 6:
 *   0: u16 n, n bytes of RESP replies fed to the command connection;
 *   1: u16 n, n bytes published on the node channel;
 *   2: a byte c, c & 0x3f bytes as client (c >> 6) & 1;
 *   3: pump the loop;
 *   4: Redis goes down or comes back;
 *   5: client (t >> 3) & 1 logs in, MQTT 5 or 3.1.1 by bit 4, Clean Start
 *      by bit 5, client id "r<bit 6>".
 */
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
redis_record(struct fuzz_broker *fb, struct fuzz_input *in, uint8_t t,
    bool *up)
{
	const uint8_t *p;
	size_t got;
	uint8_t c;

	switch (t % 6) {
	case 0:
		p = fuzz_bytes(in, fuzz_u16(in), &got);
		strata_redis_fake_feed(fb->b->redis, p, got);
		break;
	case 1:
		p = fuzz_bytes(in, fuzz_u16(in), &got);
		strata_redis_fake_message(fb->b->nodesub, p, got);
		break;
	case 2:
		c = fuzz_u8(in);
		p = fuzz_bytes(in, c & 0x3f, &got);
		fuzz_broker_send(fb, (c >> 6) & 1, p, got);
		break;
	case 3:
		fuzz_broker_pump(fb);
		break;
	case 4:
		*up = !*up;
		strata_redis_fake_set_up(fb->b->redis, *up);
		break;
	default:
		fuzz_broker_login(fb, (t >> 3) & 1, (t & 0x10) ?
		    STRATA_MQTT_V5 : STRATA_MQTT_V311, (t & 0x40) ? "r1" :
		    "r0", (t & 0x20) != 0);
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = {data, size};
	struct fuzz_broker_opts o = {.redis_from_input = true, .drain = true};
	struct fuzz_broker *fb = fuzz_broker_new(&o);
	bool up = true;

	while (in.len > 0)
		redis_record(fb, &in, fuzz_u8(&in), &up);
	fuzz_broker_pump(fb);
	fuzz_broker_free(fb);
	return 0;
}
