/*
 * fuzz_router_link.c - link frames as a router receives them from a
 * broker: strata_link framing and Frame unpacking, then every handler
 * behind it (Hello, RouteUpdate, Barrier, Publish with retain and the
 * retained bounds, RetainedRequest).
 *
 * One router is built in process (harness.h) for the whole run, with a
 * fake Redis answering as a healthy one; each input is a new broker link
 * accepted by it and closed at the end (so its routes go, the retained
 * messages it set stay, up to the small bounds of the fuzz profile).
 *
 * The router has a cluster secret (linkauth.c): a Hello must prove it.
 * Input: a flags byte (bit 0: a broker Hello with the right proof is
 * written first, so the input goes straight past the handshake; bits 0
 * and 1: the proof is wrong and the link is refused), then records; a
 * byte c:
 * n = c & 0x7f bytes follow, written to the link in one piece, bit 7
 * pumps the loop after them; n = 0 pumps.
 */
#include <unistd.h>

#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fuzz_router *router;

static void
link_drain(int fd)
{
	uint8_t buf[16384];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

static void
link_write(int fd, const uint8_t *p, size_t n)
{
	int tries = 0;

	while (n > 0 && tries++ < 64) {
		ssize_t w = write(fd, p, n);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		fuzz_router_pump(router);
		link_drain(fd);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = {data, size};
	uint8_t flags = fuzz_u8(&in);
	int fd;

	if (router == NULL)
		router = fuzz_router_new(false);
	/* bit 0: a broker Hello first, bit 1: with a wrong proof */
	fd = (flags & 0x01) ? fuzz_router_link_hello(router,
	    (flags & 0x02) == 0) : fuzz_router_link(router);
	while (in.len > 0) {
		uint8_t c = fuzz_u8(&in);
		size_t n = c & 0x7f, got;
		const uint8_t *p;

		if (n != 0) {
			p = fuzz_bytes(&in, n, &got);
			link_write(fd, p, got);
		}
		if (n == 0 || (c & 0x80)) {
			fuzz_router_pump(router);
			link_drain(fd);
		}
	}
	fuzz_router_pump(router);
	link_drain(fd);
	close(fd);
	fuzz_router_pump(router);
	return 0;
}
