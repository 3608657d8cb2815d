/*
 * fuzz_broker_ws.c - MQTT over WebSocket: the opening request's parser
 * on its own, then client bytes through a broker connection on the ws
 * (or wss, without OpenSSL) listener: the opening request, wslay's
 * frames, and the MQTT behind them.
 *
 * Input: one flags byte, then records.  Flags: bit 0 the connection is
 * on the wss listener (the bufferevent path of TLS, without OpenSSL);
 * bit 1 a valid opening request is sent first (so the fuzzer reaches
 * frames at once), else the records carry the request themselves; bit 4
 * the router echoes publishes as Delivers; bit 6 the client never reads.
 * A record is a byte c and n = c & 0x3f bytes:
 *   c >> 6 == 0  the n bytes as they are
 *   c >> 6 == 1  the n bytes in one masked binary frame
 *   c >> 6 == 2  the n bytes in one frame whose first byte is the next
 *                input byte (FIN, RSV, opcode) and masked when the byte
 *                after it is odd (two bytes more)
 *   c >> 6 == 3  pump; n == 63: the client hangs up
 * The loop is pumped after every record.
 *
 * The parser: the records' raw bytes (kind 0) joined, parsed whole and
 * at a few prefixes: a request of length L gives AGAIN for a prefix
 * shorter than L and the same verdict for the whole; every view lies in
 * the input; AGAIN only below STRATA_WSUPGRADE_MAX.
 *
 * The daemon: no MQTT packet is read before an opening request was
 * accepted (packets_received_total stays 0 until then).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "harness.h"
#include "wsupgrade.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                   \
	do {                                                               \
		if (!(cond))                                               \
			abort();                                           \
	} while (0)

static const char fuzz_opening[] = "GET /mqtt HTTP/1.1\r\nHost: x\r\n"
    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n";

static bool
fuzz_within(struct strata_bytes b, const uint8_t *p, size_t len)
{
	return b.len == 0 || (b.p >= p && b.p + b.len <= p + len);
}

static void
fuzz_check_request(const uint8_t *p, size_t len,
    const struct strata_wsupgrade_request *r)
{
	unsigned i;

	FUZZ_CHECK(r->len > 0 && r->len <= len &&
	    r->len <= STRATA_WSUPGRADE_MAX);
	FUZZ_CHECK(fuzz_within(r->path, p, r->len) &&
	    fuzz_within(r->query, p, r->len) &&
	    fuzz_within(r->key, p, r->len) && r->key.len == 24);
	FUZZ_CHECK(r->subprotocol != NULL);
	FUZZ_CHECK(r->n_headers <= STRATA_WSUPGRADE_HEADERS);
	for (i = 0; i < r->n_headers; i++)
		FUZZ_CHECK(fuzz_within(r->headers[i].name, p, r->len) &&
		    r->headers[i].name.len > 0 &&
		    fuzz_within(r->headers[i].value, p, r->len));
}

static void
fuzz_parser(const uint8_t *p, size_t len)
{
	struct strata_wsupgrade_request whole, r;
	size_t cuts[4], k;
	int rc, prc;

	rc = strata_wsupgrade_parse(p, len, "/mqtt", &whole);
	FUZZ_CHECK(rc == 0 || rc == STRATA_AGAIN || rc == STRATA_EINVAL);
	if (rc == 0)
		fuzz_check_request(p, len, &whole);
	if (rc == STRATA_AGAIN)
		FUZZ_CHECK(len < STRATA_WSUPGRADE_MAX);
	if (rc == STRATA_EINVAL)
		FUZZ_CHECK(whole.error != NULL &&
		    whole.refusal < STRATA_WSUP_REFUSALS);
	cuts[0] = len / 2;
	cuts[1] = len > 0 ? len - 1 : 0;
	cuts[2] = rc != STRATA_AGAIN && whole.len > 0 ? whole.len - 1 : 0;
	cuts[3] = rc != STRATA_AGAIN ? whole.len : 0;
	for (k = 0; k < 4; k++) {
		prc = strata_wsupgrade_parse(p, cuts[k], "/mqtt", &r);
		if (rc == STRATA_AGAIN || (rc != STRATA_AGAIN && whole.len > 0 &&
		    cuts[k] < whole.len))
			FUZZ_CHECK(prc == STRATA_AGAIN);
		else if (rc != STRATA_AGAIN && cuts[k] == whole.len &&
		    whole.len > 0)
			FUZZ_CHECK(prc == rc && r.len == whole.len);
	}
}

/* The raw bytes (kind 0) of the records, joined. */
static size_t
fuzz_raw_stream(const uint8_t *data, size_t size, uint8_t *out)
{
	struct fuzz_input in = {data + 1, size > 0 ? size - 1 : 0};
	size_t len = 0, got;

	while (in.len > 0) {
		uint8_t c = fuzz_u8(&in);
		const uint8_t *p;

		if (c >> 6 == 3)
			continue;
		if (c >> 6 == 2) {
			(void)fuzz_u8(&in);
			(void)fuzz_u8(&in);
		}
		p = fuzz_bytes(&in, c & 0x3f, &got);
		if (c >> 6 == 0) {
			memcpy(out + len, p, got);
			len += got;
		}
	}
	return len;
}

/* n bytes at p in one frame: first byte b0, masked or not. */
static size_t
fuzz_ws_frame(uint8_t *out, uint8_t b0, bool mask, const uint8_t *p, size_t n)
{
	static const uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
	size_t len = 0, i;

	out[len++] = b0;
	out[len++] = (uint8_t)((mask ? 0x80 : 0) | n); /* n < 64 */
	if (mask) {
		memcpy(out + len, key, 4);
		len += 4;
	}
	for (i = 0; i < n; i++)
		out[len++] = mask ? (uint8_t)(p[i] ^ key[i % 4]) : p[i];
	return len;
}

static void
fuzz_record(struct fuzz_broker *fb, struct fuzz_input *in, bool tls)
{
	uint8_t c = fuzz_u8(in), b0 = 0x82, buf[80];
	bool mask = true;
	const uint8_t *p;
	size_t got, n;

	if (c >> 6 == 3) {
		if ((c & 0x3f) == 0x3f)
			fuzz_broker_hangup(fb, 0);
		fuzz_broker_pump(fb);
		return;
	}
	if (c >> 6 == 2) {
		b0 = fuzz_u8(in);
		mask = fuzz_u8(in) & 1;
	}
	p = fuzz_bytes(in, c & 0x3f, &got);
	fuzz_broker_connect_ws(fb, 0, tls);
	n = c >> 6 == 0 ? got : fuzz_ws_frame(buf, b0, mask, p, got);
	fuzz_write_fd(fb, fb->client_fd[0], c >> 6 == 0 ? p : buf, n);
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
	bool tls = (flags & 0x01) != 0;
	struct fuzz_broker *fb;
	uint8_t *stream = malloc(size + 1);

	FUZZ_CHECK(stream != NULL);
	fuzz_parser(stream, fuzz_raw_stream(data, size, stream));
	free(stream);

	fb = fuzz_broker_new(&o);
	fuzz_broker_connect_ws(fb, 0, tls);
	if (flags & 0x02)
		fuzz_write_fd(fb, fb->client_fd[0],
		    (const uint8_t *)fuzz_opening, sizeof(fuzz_opening) - 1);
	fuzz_broker_pump(fb);
	while (in.len > 0) {
		fuzz_record(fb, &in, tls);
		FUZZ_CHECK(*fb->b->m.ws_upgrades > 0 ||
		    fuzz_broker_packets_in(fb) == 0);
	}
	fuzz_broker_pump(fb);
	fuzz_broker_free(fb);
	return 0;
}
