/*
 * fuzz_proxy.c - the PROXY protocol header: the parser on its own, then
 * client bytes through the PROXY state of broker connections and on into
 * MQTT.
 *
 * Input: one flags byte, then records as in fuzz_broker_input.  Flags:
 * bit 0/1 connection 0/1 is on the PROXY TLS listener (behind the header,
 * the bufferevent path of TLS connections, without OpenSSL) instead of
 * the PROXY one; bit 4 the router echoes publishes as Delivers; bit 6 the
 * clients never read.  A record is a byte c: n = c & 0x3f bytes follow for
 * connection (c >> 6) & 1, written in one piece, and bit 7 pumps the loop
 * after them.  n = 0 is an action instead, by c >> 6: 0 pump, 1 and 2
 * connection 0 or 1 hangs up (a later record for it opens a new one on
 * the same listener), 3 connection 0 half-closes (the broker sees the end
 * of its input, the client can still read).
 *
 * The parser: what connection 0 sends in its first life, records joined,
 * is parsed whole and at every length, and the verdicts must agree as
 * the broker relies on them: a header of length L gives AGAIN for every
 * shorter prefix and the same header for every longer one, AGAIN never
 * comes at STRATA_PROXY_MAX bytes or more, and once refused a stream
 * stays refused.
 *
 * The daemon: no MQTT packet may be read before some header was
 * accepted (packets_received_total stays 0 until then).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                   \
	do {                                                               \
		if (!(cond))                                               \
			abort();                                           \
	} while (0)

/* Prefixes checked one by one: every length up to the bound and a bit
 * past it (the rest decides nothing new). */
#define FUZZ_PREFIXES (STRATA_PROXY_MAX + 64)

static void
fuzz_check_header(const uint8_t *p, size_t len,
    const struct strata_proxy_header *h)
{
	struct strata_reader it;
	struct strata_bytes value;
	uint8_t type;

	FUZZ_CHECK(h->len > 0 && h->len <= len && h->len <= STRATA_PROXY_MAX);
	FUZZ_CHECK(h->version == 1 || h->version == 2);
	FUZZ_CHECK(h->family == AF_UNSPEC || h->family == AF_INET ||
	    h->family == AF_INET6);
	FUZZ_CHECK(h->family == AF_UNSPEC || (h->src.ss_family == h->family &&
	    h->dst.ss_family == h->family));
	FUZZ_CHECK(!h->local || h->family == AF_UNSPEC);
	if (h->tlvs.len > 0)
		FUZZ_CHECK(h->tlvs.p >= p &&
		    h->tlvs.p + h->tlvs.len <= p + h->len);
	it = strata_reader_init(h->tlvs.p, h->tlvs.len);
	while (strata_proxy_tlv_next(&it, &type, &value) == 0)
		FUZZ_CHECK(value.p + value.len <= h->tlvs.p + h->tlvs.len);
	FUZZ_CHECK(it.len == 0);
}

static void
fuzz_parser(const uint8_t *p, size_t len)
{
	struct strata_proxy_header whole, h;
	size_t k, n = len < FUZZ_PREFIXES ? len : FUZZ_PREFIXES;
	bool refused = false;
	int rc, prc;

	rc = strata_proxy_parse(p, len, &whole);
	FUZZ_CHECK(rc == 0 || rc == STRATA_AGAIN || rc == STRATA_EINVAL);
	if (rc == 0)
		fuzz_check_header(p, len, &whole);
	if (rc == STRATA_AGAIN)
		FUZZ_CHECK(len < STRATA_PROXY_MAX);
	if (rc == STRATA_EINVAL)
		FUZZ_CHECK(whole.error != NULL);
	for (k = 0; k < n; k++) {
		prc = strata_proxy_parse(p, k, &h);
		if (rc == 0 && k < whole.len) {
			FUZZ_CHECK(prc == STRATA_AGAIN);
		} else if (rc == 0) {
			FUZZ_CHECK(prc == 0 && h.len == whole.len &&
			    h.family == whole.family && h.local == whole.local &&
			    memcmp(&h.src, &whole.src, sizeof(h.src)) == 0);
		} else if (rc == STRATA_AGAIN) {
			FUZZ_CHECK(prc == STRATA_AGAIN);
		} else {
			/* AGAIN until the bytes decide, refused from then */
			FUZZ_CHECK(prc == STRATA_AGAIN ||
			    prc == STRATA_EINVAL);
			FUZZ_CHECK(!refused || prc == STRATA_EINVAL);
			refused = prc == STRATA_EINVAL;
		}
	}
}

/* What connection 0 sends until its first hang-up or half-close. */
static size_t
fuzz_stream0(const uint8_t *data, size_t size, uint8_t *out)
{
	struct fuzz_input in = {data + 1, size > 0 ? size - 1 : 0};
	size_t len = 0, got;

	while (in.len > 0) {
		uint8_t c = fuzz_u8(&in);
		size_t n = c & 0x3f;
		const uint8_t *p;

		if (n == 0 && (c >> 6 == 1 || c >> 6 == 3))
			break;
		if (n == 0)
			continue;
		p = fuzz_bytes(&in, n, &got);
		if (((c >> 6) & 1) == 0) {
			memcpy(out + len, p, got);
			len += got;
		}
	}
	return len;
}

static void
fuzz_send(struct fuzz_broker *fb, unsigned i, bool tls, const uint8_t *p,
    size_t n)
{
	fuzz_broker_connect_proxy(fb, i, tls);
	fuzz_write_fd(fb, fb->client_fd[i], p, n);
}

static void
fuzz_action(struct fuzz_broker *fb, unsigned what)
{
	switch (what) {
	case 1:
	case 2:
		fuzz_broker_hangup(fb, what - 1);
		break;
	case 3:
		if (fb->client_fd[0] >= 0)
			(void)shutdown(fb->client_fd[0], SHUT_WR);
		break;
	default:
		break;
	}
	fuzz_broker_pump(fb);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = {data, size};
	uint8_t flags = fuzz_u8(&in);
	struct fuzz_broker_opts o = {
		.echo = (flags & 0x10) != 0,
		.drain = (flags & 0x40) == 0,
	};
	bool tls[2] = {(flags & 0x01) != 0, (flags & 0x02) != 0};
	struct fuzz_broker *fb;
	uint8_t *stream = malloc(size + 1);
	size_t len;

	FUZZ_CHECK(stream != NULL);
	len = fuzz_stream0(data, size, stream);
	fuzz_parser(stream, len);
	free(stream);

	fb = fuzz_broker_new(&o);
	fuzz_broker_connect_proxy(fb, 0, tls[0]);
	fuzz_broker_connect_proxy(fb, 1, tls[1]);
	while (in.len > 0) {
		uint8_t c = fuzz_u8(&in);
		size_t n = c & 0x3f, got;
		unsigned i = (c >> 6) & 1;
		const uint8_t *p;

		if (n == 0) {
			fuzz_action(fb, c >> 6);
			continue;
		}
		p = fuzz_bytes(&in, n, &got);
		fuzz_send(fb, i, tls[i], p, got);
		if (c & 0x80)
			fuzz_broker_pump(fb);
		FUZZ_CHECK(*fb->b->m.proxy_accepted > 0 ||
		    fuzz_broker_packets_in(fb) == 0);
	}
	fuzz_broker_pump(fb);
	FUZZ_CHECK(*fb->b->m.proxy_accepted > 0 || fuzz_broker_packets_in(fb) == 0);
	fuzz_broker_free(fb);
	return 0;
}
