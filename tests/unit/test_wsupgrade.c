/*
 * test_wsupgrade.c - the WebSocket opening request (common/wsupgrade.c):
 * a browser-like request accepted with its views, every prefix asking
 * for more, each rule refused with its reason, the size bounds, and
 * Sec-WebSocket-Accept against RFC 6455's own example.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "status.h"
#include "wsupgrade.h"

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="

static const char good[] =
    "GET /mqtt?x-amz-customauthorizer-name=a&token=t1 HTTP/1.1\r\n"
    "Host: localhost:8083\r\n"
    "Upgrade: websocket\r\n"
    "Connection: keep-alive, Upgrade\r\n"
    "Sec-WebSocket-Key: " KEY "\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Protocol: mqttv3.1, mqtt\r\n"
    "Token:   abc  \r\n"
    "\r\n";

static int
parse(const char *s, struct strata_wsupgrade_request *r)
{
	return strata_wsupgrade_parse((const uint8_t *)s, strlen(s), "/mqtt",
	    r);
}

static bool
view_is(struct strata_bytes b, const char *want)
{
	return b.len == strlen(want) && memcmp(b.p, want, b.len) == 0;
}

static void
test_good(void **state)
{
	struct strata_wsupgrade_request r;
	const struct strata_bytes *v;

	(void)state;
	assert_int_equal(parse(good, &r), 0);
	assert_int_equal(r.len, strlen(good));
	assert_true(view_is(r.path, "/mqtt"));
	assert_true(view_is(r.query, "x-amz-customauthorizer-name=a&token=t1"));
	assert_true(view_is(r.key, KEY));
	assert_string_equal(r.subprotocol, "mqtt");
	assert_int_equal(r.n_headers, 7);
	v = strata_wsupgrade_header(&r, "token");
	assert_non_null(v);
	assert_true(view_is(*v, "abc"));
	assert_null(strata_wsupgrade_header(&r, "Origin"));
}

/* Bytes behind the blank line (frames) are not the request's. */
static void
test_trailing_bytes(void **state)
{
	struct strata_wsupgrade_request r;
	char buf[sizeof(good) + 8];

	(void)state;
	snprintf(buf, sizeof(buf), "%s\x82\x80", good);
	assert_int_equal(parse(buf, &r), 0);
	assert_int_equal(r.len, strlen(good));
}

static void
test_prefixes(void **state)
{
	struct strata_wsupgrade_request r;
	size_t n;

	(void)state;
	for (n = 0; n < strlen(good); n++)
		assert_int_equal(strata_wsupgrade_parse(
		    (const uint8_t *)good, n, "/mqtt", &r), STRATA_AGAIN);
}

static void
test_v31_only(void **state)
{
	struct strata_wsupgrade_request r;
	const char *s = "GET /mqtt HTTP/1.1\r\nHost: h\r\nUpgrade: WebSocket"
	    "\r\nConnection: upgrade\r\nSec-WebSocket-Key: " KEY "\r\n"
	    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat\r\n"
	    "Sec-WebSocket-Protocol: mqttv3.1\r\n\r\n";

	(void)state;
	assert_int_equal(parse(s, &r), 0);
	assert_string_equal(r.subprotocol, "mqttv3.1");
	assert_int_equal(r.query.len, 0);
}

/* good with the line starting with `line` replaced by `with` ("" drops
 * it), parsed; returns the refusal (or -1 when accepted). */
static int
refusal(const char *line, const char *with)
{
	static char buf[4096];
	struct strata_wsupgrade_request r;
	const char *at = strstr(good, line), *eol;
	size_t head;

	assert_non_null(at);
	eol = strstr(at, "\r\n") + 2;
	head = (size_t)(at - good);
	snprintf(buf, sizeof(buf), "%.*s%s%s", (int)head, good, with, eol);
	if (parse(buf, &r) == 0)
		return -1;
	assert_non_null(r.error);
	return (int)r.refusal;
}

static void
test_refusals(void **state)
{
	(void)state;
	assert_int_equal(refusal("GET", "POST /mqtt HTTP/1.1\r\n"),
	    STRATA_WSUP_METHOD);
	assert_int_equal(refusal("GET", "GET /ws HTTP/1.1\r\n"),
	    STRATA_WSUP_PATH);
	assert_int_equal(refusal("GET", "GET /mqtt/ HTTP/1.1\r\n"),
	    STRATA_WSUP_PATH);
	assert_int_equal(refusal("GET", "GET /mqtt HTTP/1.0\r\n"),
	    STRATA_WSUP_MALFORMED);
	assert_int_equal(refusal("GET", "GET mqtt HTTP/1.1\r\n"),
	    STRATA_WSUP_MALFORMED);
	assert_int_equal(refusal("Host", ""), STRATA_WSUP_HOST);
	assert_int_equal(refusal("Host", "Host: a\r\nHost: b\r\n"),
	    STRATA_WSUP_HOST);
	assert_int_equal(refusal("Upgrade", "Upgrade: h2c\r\n"),
	    STRATA_WSUP_UPGRADE);
	assert_int_equal(refusal("Connection", "Connection: close\r\n"),
	    STRATA_WSUP_UPGRADE);
	assert_int_equal(refusal("Sec-WebSocket-Key", ""), STRATA_WSUP_KEY);
	assert_int_equal(refusal("Sec-WebSocket-Key",
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\n"), STRATA_WSUP_KEY);
	assert_int_equal(refusal("Sec-WebSocket-Key",
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR==\r\n"),
	    STRATA_WSUP_KEY); /* non-zero padding bits */
	assert_int_equal(refusal("Sec-WebSocket-Key",
	    "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Key: " KEY "\r\n"),
	    STRATA_WSUP_KEY);
	assert_int_equal(refusal("Sec-WebSocket-Version",
	    "Sec-WebSocket-Version: 8\r\n"), STRATA_WSUP_VERSION);
	assert_int_equal(refusal("Sec-WebSocket-Protocol", ""),
	    STRATA_WSUP_SUBPROTOCOL);
	assert_int_equal(refusal("Sec-WebSocket-Protocol",
	    "Sec-WebSocket-Protocol: MQTT\r\n"), STRATA_WSUP_SUBPROTOCOL);
	assert_int_equal(refusal("Token", " folded\r\n"),
	    STRATA_WSUP_MALFORMED);
	assert_int_equal(refusal("Token", "Bad Name: x\r\n"),
	    STRATA_WSUP_MALFORMED);
	assert_int_equal(refusal("Token", "NoColon\r\n"),
	    STRATA_WSUP_MALFORMED);
	assert_int_equal(refusal("Token", "T: a\nb\r\n"),
	    STRATA_WSUP_MALFORMED);
	assert_int_equal(refusal("Token", "T: a\x01\r\n"),
	    STRATA_WSUP_MALFORMED);
}

static void
test_bounds(void **state)
{
	struct strata_wsupgrade_request r;
	char *big = malloc(STRATA_WSUPGRADE_MAX + 16);
	size_t n = 0;
	unsigned i;
	char buf[4096];

	(void)state;
	memset(big, 'a', STRATA_WSUPGRADE_MAX + 16);
	assert_int_equal(strata_wsupgrade_parse((const uint8_t *)big,
	    STRATA_WSUPGRADE_MAX - 1, "/mqtt", &r), STRATA_AGAIN);
	assert_int_equal(strata_wsupgrade_parse((const uint8_t *)big,
	    STRATA_WSUPGRADE_MAX, "/mqtt", &r), STRATA_EINVAL);
	assert_int_equal(r.refusal, STRATA_WSUP_TOO_LARGE);
	free(big);
	n = (size_t)snprintf(buf, sizeof(buf), "GET /mqtt HTTP/1.1\r\n");
	for (i = 0; i <= STRATA_WSUPGRADE_HEADERS; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X%u: y\r\n",
		    i);
	snprintf(buf + n, sizeof(buf) - n, "\r\n");
	assert_int_equal(parse(buf, &r), STRATA_EINVAL);
	assert_int_equal(r.refusal, STRATA_WSUP_TOO_LARGE);
}

static void
test_accept(void **state)
{
	struct strata_bytes key = {(const uint8_t *)KEY, 24};
	char out[STRATA_WSUPGRADE_ACCEPT_LEN];

	(void)state;
	strata_wsupgrade_accept(key, out);
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),
	    cmocka_unit_test(test_trailing_bytes),
	    cmocka_unit_test(test_prefixes),
	    cmocka_unit_test(test_v31_only),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_accept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
