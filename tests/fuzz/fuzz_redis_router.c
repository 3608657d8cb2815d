/*
 * fuzz_redis_router.c - Redis replies where the router parses them: the
 * partition scheme check, the partition map, the owners' lease checks,
 * the claim, the retained messages of a partition it takes (Strata
 * Retained values) and the replies that release the acks of retained
 * publishes.
 *
 * A router is built in process (harness.h) for each input, with a fake
 * Redis whose replies come from the input, parsed by hiredis's reader in
 * the order the router sends commands.
 *
 * Input: records; a byte t, then by t % 4:
 *   0: u16 n, n bytes of RESP replies;
 *   1: pump the loop;
 *   2: a byte c, c & 0x7f bytes written on a broker link (opened with a
 *      valid Hello on first use);
 *   3: Redis goes down or comes back.
 */
#include <unistd.h>

#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
redis_link(struct fuzz_router *fr)
{
	return fuzz_router_link_hello(fr, true);
}

static void
redis_drain(int fd)
{
	uint8_t buf[16384];

	while (fd >= 0 && read(fd, buf, sizeof(buf)) > 0)
		;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = {data, size};
	struct fuzz_router *fr = fuzz_router_new(true);
	bool up = true;
	int fd = -1;

	while (in.len > 0) {
		uint8_t t = fuzz_u8(&in), c;
		const uint8_t *p;
		size_t got;

		switch (t % 4) {
		case 0:
			p = fuzz_bytes(&in, fuzz_u16(&in), &got);
			strata_redis_fake_feed(fr->r.redis, p, got);
			break;
		case 1:
			fuzz_router_pump(fr);
			redis_drain(fd);
			break;
		case 2:
			if (fd < 0)
				fd = redis_link(fr);
			c = fuzz_u8(&in);
			p = fuzz_bytes(&in, c & 0x7f, &got);
			if (write(fd, p, got) < 0)
				redis_drain(fd);
			break;
		default:
			up = !up;
			strata_redis_fake_set_up(fr->r.redis, up);
			break;
		}
	}
	fuzz_router_pump(fr);
	if (fd >= 0)
		close(fd);
	fuzz_router_free(fr);
	return 0;
}
