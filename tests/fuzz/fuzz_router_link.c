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
 * Input: a flags byte (bit 0: a valid broker Hello is written first, so
 * the input goes straight past the handshake), then records; a byte c:
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

static void
link_hello(int fd)
{
	Strata__Hello h = STRATA__HELLO__INIT;
	uint8_t buf[128];
	size_t n;

	h.node_id = "fuzz-broker";
	h.kind = STRATA__NODE_KIND__NODE_BROKER;
	h.protocol = 1;
	n = fuzz_frame(buf, sizeof(buf), STRATA_LINK_HELLO, &h.base);
	link_write(fd, buf, n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = {data, size};
	uint8_t flags = fuzz_u8(&in);
	int fd;

	if (router == NULL)
		router = fuzz_router_new(false);
	fd = fuzz_router_link(router);
	if (flags & 0x01)
		link_hello(fd);
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
