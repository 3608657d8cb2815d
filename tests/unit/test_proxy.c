/*
 * test_proxy.c - the PROXY protocol header parser (common/proxy.c):
 * valid v2 headers (TCP4, TCP6, LOCAL, UNSPEC, TLVs, the size bound),
 * valid v1 lines, every prefix of a valid header asking for more, and
 * each malformed case refused as early as its bytes allow.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy.h"
#include "status.h"

#define SIG "\r\n\r\n\0\r\nQUIT\n"

/* A v2 header: signature, version/command, family, then body. */
static size_t
v2(uint8_t *out, uint8_t version_command, uint8_t family,
    const uint8_t *body, size_t body_len)
{
	memcpy(out, SIG, 12);
	out[12] = version_command;
	out[13] = family;
	out[14] = (uint8_t)(body_len >> 8);
	out[15] = (uint8_t)body_len;
	if (body_len > 0)
		memcpy(out + 16, body, body_len);
	return 16 + body_len;
}

static const uint8_t tcp4_body[12] = {192, 0, 2, 1, 198, 51, 100, 2,
	0xC7, 0x38, 0x07, 0x5B}; /* 192.0.2.1:51000 -> 198.51.100.2:1883 */

/* Every strict prefix of a valid header asks for more. */
static void
assert_prefixes_again(const uint8_t *p, size_t len)
{
	struct strata_proxy_header h;
	size_t i;

	for (i = 0; i < len; i++)
		assert_int_equal(strata_proxy_parse(p, i, &h), STRATA_AGAIN);
}

static void
assert_v4(const struct sockaddr_storage *ss, const char *addr,
    uint16_t port)
{
	const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
	char buf[INET_ADDRSTRLEN];

	assert_int_equal(in->sin_family, AF_INET);
	assert_non_null(inet_ntop(AF_INET, &in->sin_addr, buf, sizeof(buf)));
	assert_string_equal(buf, addr);
	assert_int_equal(ntohs(in->sin_port), port);
}

static void
assert_v6(const struct sockaddr_storage *ss, const char *addr,
    uint16_t port)
{
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
	char buf[INET6_ADDRSTRLEN];

	assert_int_equal(in6->sin6_family, AF_INET6);
	assert_non_null(inet_ntop(AF_INET6, &in6->sin6_addr, buf,
	    sizeof(buf)));
	assert_string_equal(buf, addr);
	assert_int_equal(ntohs(in6->sin6_port), port);
}

/* Parse and expect a refusal; the message is set. */
static void
assert_refused(const void *p, size_t len)
{
	struct strata_proxy_header h;

	assert_int_equal(strata_proxy_parse(p, len, &h), STRATA_EINVAL);
	assert_non_null(h.error);
}

static void
test_v2_tcp4(void **state)
{
	uint8_t buf[64];
	struct strata_proxy_header h;
	size_t n = v2(buf, 0x21, 0x11, tcp4_body, sizeof(tcp4_body));

	/* MQTT behind the header is not looked at */
	memcpy(buf + n, "\x10\x0c\x00\x04MQTT", 8);
	assert_int_equal(strata_proxy_parse(buf, n + 8, &h), 0);
	assert_int_equal(h.len, 28);
	assert_int_equal(h.version, 2);
	assert_false(h.local);
	assert_int_equal(h.family, AF_INET);
	assert_v4(&h.src, "192.0.2.1", 51000);
	assert_v4(&h.dst, "198.51.100.2", 1883);
	assert_int_equal(h.tlvs.len, 0);
	assert_int_equal(strata_proxy_parse(buf, n, &h), 0);
	assert_prefixes_again(buf, n);
}

static void
test_v2_tcp6(void **state)
{
	uint8_t body[36], buf[64];
	struct strata_proxy_header h;
	size_t n;

	assert_int_equal(inet_pton(AF_INET6, "2001:db8::7", body), 1);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::1:2", body + 16), 1);
	body[32] = 0x01; /* 256 */
	body[33] = 0x00;
	body[34] = 0x22; /* 8883 */
	body[35] = 0xB3;
	n = v2(buf, 0x21, 0x21, body, sizeof(body));
	assert_int_equal(strata_proxy_parse(buf, n, &h), 0);
	assert_int_equal(h.len, 52);
	assert_int_equal(h.family, AF_INET6);
	assert_v6(&h.src, "2001:db8::7", 256);
	assert_v6(&h.dst, "2001:db8::1:2", 8883);
	assert_prefixes_again(buf, n);
}

static void
test_v2_local(void **state)
{
	uint8_t buf[64];
	struct strata_proxy_header h;
	size_t n = v2(buf, 0x20, 0x00, NULL, 0);

	assert_int_equal(strata_proxy_parse(buf, n, &h), 0);
	assert_int_equal(h.len, 16);
	assert_true(h.local);
	assert_int_equal(h.family, AF_UNSPEC);
	assert_prefixes_again(buf, n);
	/* LOCAL ignores the family and the whole block, whatever it is */
	n = v2(buf, 0x20, 0xFF, (const uint8_t *)"whatever", 8);
	assert_int_equal(strata_proxy_parse(buf, n, &h), 0);
	assert_int_equal(h.len, 24);
	assert_true(h.local);
	assert_int_equal(h.family, AF_UNSPEC);
}

static void
test_v2_unspec(void **state)
{
	uint8_t buf[64];
	struct strata_proxy_header h;
	size_t n = v2(buf, 0x21, 0x00, (const uint8_t *)"\x04\x00\x01z", 4);

	/* PROXY with UNSPEC: no address, the TLVs are still checked */
	assert_int_equal(strata_proxy_parse(buf, n, &h), 0);
	assert_false(h.local);
	assert_int_equal(h.family, AF_UNSPEC);
	assert_int_equal(h.tlvs.len, 4);
	n = v2(buf, 0x21, 0x00, (const uint8_t *)"\x04\x00\x02z", 4);
	assert_refused(buf, n);
}

static void
test_v2_tlvs(void **state)
{
	static const uint8_t tlvs[] = {
	    0x01, 0x00, 0x04, 'm', 'q', 't', 't',          /* ALPN */
	    0x02, 0x00, 0x09, 'b', 'r', 'o', 'k', 'e', 'r', '.', 'i', 'o',
	    0x04, 0x00, 0x00,                              /* NOOP */
	    0x05, 0x00, 0x02, 0xAB, 0xCD,                  /* UNIQUE_ID */
	};
	uint8_t body[64], buf[128];
	struct strata_proxy_header h;
	struct strata_reader it;
	struct strata_bytes value;
	uint8_t type, seen[4];
	unsigned count = 0;
	size_t n;

	memcpy(body, tcp4_body, 12);
	memcpy(body + 12, tlvs, sizeof(tlvs));
	n = v2(buf, 0x21, 0x11, body, 12 + sizeof(tlvs));
	assert_int_equal(strata_proxy_parse(buf, n, &h), 0);
	assert_int_equal(h.len, n);
	assert_v4(&h.src, "192.0.2.1", 51000);
	assert_int_equal(h.tlvs.len, sizeof(tlvs));
	it = strata_reader_init(h.tlvs.p, h.tlvs.len);
	while (strata_proxy_tlv_next(&it, &type, &value) == 0) {
		assert_true(count < 4);
		seen[count++] = type;
		if (type == 0x01)
			assert_memory_equal(value.p, "mqtt", 4);
	}
	assert_int_equal(count, 4);
	assert_memory_equal(seen, "\x01\x02\x04\x05", 4);
	assert_prefixes_again(buf, n);
}

static void
test_v2_size_bound(void **state)
{
	uint8_t *buf = calloc(1, STRATA_PROXY_MAX + 64);
	uint8_t *body = calloc(1, STRATA_PROXY_MAX);
	size_t body_len = STRATA_PROXY_MAX - 16, n;
	struct strata_proxy_header h;

	assert_non_null(buf);
	assert_non_null(body);
	/* addresses + one TLV filling the rest: exactly 4096 bytes */
	memcpy(body, tcp4_body, 12);
	body[12] = 0x04;
	body[13] = (uint8_t)((body_len - 15) >> 8);
	body[14] = (uint8_t)(body_len - 15);
	n = v2(buf, 0x21, 0x11, body, body_len);
	assert_int_equal(n, STRATA_PROXY_MAX);
	assert_int_equal(strata_proxy_parse(buf, n, &h), 0);
	assert_int_equal(h.len, STRATA_PROXY_MAX);
	/* one more byte is refused from the fixed part alone */
	buf[15]++;
	assert_refused(buf, 16);
	/* as is the largest length the field can hold */
	buf[14] = buf[15] = 0xFF;
	assert_refused(buf, 16);
	free(buf);
	free(body);
}

static void
test_v2_malformed(void **state)
{
	uint8_t buf[64];
	size_t n;

	/* signature broken at byte 5: refused with 6 bytes */
	memcpy(buf, SIG, 12);
	buf[5] = 'X';
	assert_refused(buf, 6);
	/* versions 1 and 3 in the binary form */
	n = v2(buf, 0x11, 0x11, tcp4_body, 12);
	assert_refused(buf, n);
	n = v2(buf, 0x31, 0x11, tcp4_body, 12);
	assert_refused(buf, n);
	/* commands other than LOCAL and PROXY */
	n = v2(buf, 0x22, 0x11, tcp4_body, 12);
	assert_refused(buf, n);
	n = v2(buf, 0x2F, 0x11, tcp4_body, 12);
	assert_refused(buf, n);
	/* UDP over IPv4 and IPv6, UNIX stream and datagram, INET without a
	 * transport, unknown family */
	n = v2(buf, 0x21, 0x12, tcp4_body, 12);
	assert_refused(buf, n);
	n = v2(buf, 0x21, 0x22, tcp4_body, 12);
	assert_refused(buf, n);
	n = v2(buf, 0x21, 0x31, tcp4_body, 12);
	assert_refused(buf, n);
	n = v2(buf, 0x21, 0x32, tcp4_body, 12);
	assert_refused(buf, n);
	n = v2(buf, 0x21, 0x10, tcp4_body, 12);
	assert_refused(buf, n);
	n = v2(buf, 0x21, 0x41, tcp4_body, 12);
	assert_refused(buf, n);
	/* addresses longer than the length */
	n = v2(buf, 0x21, 0x11, tcp4_body, 11);
	assert_refused(buf, n);
	n = v2(buf, 0x21, 0x21, tcp4_body, 12);
	assert_refused(buf, n);
	n = v2(buf, 0x21, 0x11, NULL, 0);
	assert_refused(buf, n);
}

static void
test_v2_bad_tlvs(void **state)
{
	uint8_t body[32], buf[64];
	size_t n;

	memcpy(body, tcp4_body, 12);
	/* a TLV whose value runs past the length */
	memcpy(body + 12, "\x01\x00\x0a" "abcde", 8);
	n = v2(buf, 0x21, 0x11, body, 20);
	assert_refused(buf, n);
	/* a TLV cut in its length field */
	memcpy(body + 12, "\x01\x00", 2);
	n = v2(buf, 0x21, 0x11, body, 14);
	assert_refused(buf, n);
	/* a lone type byte */
	n = v2(buf, 0x21, 0x11, body, 13);
	assert_refused(buf, n);
}

static void
test_v2_truncated(void **state)
{
	uint8_t buf[64];
	struct strata_proxy_header h;
	size_t n = v2(buf, 0x21, 0x11, tcp4_body, 12);

	assert_int_equal(strata_proxy_parse(buf, 16, &h), STRATA_AGAIN);
	assert_int_equal(strata_proxy_parse(buf, n - 1, &h), STRATA_AGAIN);
	assert_int_equal(strata_proxy_parse(buf, 11, &h), STRATA_AGAIN);
	assert_int_equal(strata_proxy_parse(buf, 0, &h), STRATA_AGAIN);
}

static void
test_not_a_header(void **state)
{
	/* what a client that skips the balancer sends: refused on byte 1 */
	assert_refused("\x10", 1);
	assert_refused("\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c", 12);
	assert_refused("\x16\x03\x01", 3); /* a TLS ClientHello */
	assert_refused("GET / HTTP/1.1\r\n", 16);
	assert_refused("proxy TCP4", 10);
	assert_refused("\x00\x00", 2);
	assert_refused("PROXYTCP4", 9);
}

static void
test_v1_valid(void **state)
{
	static const char tcp4[] = "PROXY TCP4 192.0.2.1 198.51.100.2 51000 "
	    "1883\r\n";
	static const char tcp6[] = "PROXY TCP6 2001:db8::7 2001:db8::1:2 0 "
	    "65535\r\n";
	static const char unknown[] = "PROXY UNKNOWN\r\n";
	static const char unknown_more[] = "PROXY UNKNOWN ffff::1 ffff::2 "
	    "1 2\r\n";
	char buf[128];
	struct strata_proxy_header h;

	snprintf(buf, sizeof(buf), "%s\x10\x0c", tcp4);
	assert_int_equal(strata_proxy_parse((const uint8_t *)buf,
	    strlen(buf), &h), 0);
	assert_int_equal(h.len, strlen(tcp4));
	assert_int_equal(h.version, 1);
	assert_v4(&h.src, "192.0.2.1", 51000);
	assert_v4(&h.dst, "198.51.100.2", 1883);
	assert_prefixes_again((const uint8_t *)tcp4, strlen(tcp4));
	assert_int_equal(strata_proxy_parse((const uint8_t *)tcp6,
	    strlen(tcp6), &h), 0);
	assert_v6(&h.src, "2001:db8::7", 0);
	assert_v6(&h.dst, "2001:db8::1:2", 65535);
	assert_int_equal(strata_proxy_parse((const uint8_t *)unknown,
	    strlen(unknown), &h), 0);
	assert_int_equal(h.family, AF_UNSPEC);
	assert_int_equal(h.len, strlen(unknown));
	assert_int_equal(strata_proxy_parse((const uint8_t *)unknown_more,
	    strlen(unknown_more), &h), 0);
	assert_int_equal(h.family, AF_UNSPEC);
}

/* The longest line the spec allows: 107 bytes with the CRLF. */
static void
test_v1_length_bound(void **state)
{
	static const char longest[] = "PROXY UNKNOWN "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	char buf[256];
	struct strata_proxy_header h;

	assert_int_equal(strlen(longest), STRATA_PROXY_V1_MAX);
	assert_int_equal(strata_proxy_parse((const uint8_t *)longest,
	    strlen(longest), &h), 0);
	assert_int_equal(h.len, STRATA_PROXY_V1_MAX);
	/* no CRLF within 107 bytes: more is asked up to 106, then no */
	memset(buf, 'A', sizeof(buf));
	memcpy(buf, "PROXY UNKNOWN ", 14);
	assert_int_equal(strata_proxy_parse((const uint8_t *)buf, 106, &h),
	    STRATA_AGAIN);
	assert_refused(buf, 107);
	assert_refused(buf, sizeof(buf));
	/* a CR at the last place leaves no room for the LF */
	buf[106] = '\r';
	buf[107] = '\n';
	assert_refused(buf, 108);
}

static void
test_v1_malformed(void **state)
{
	static const char *const bad[] = {
	    "PROXY \r\n",                                   /* no protocol */
	    "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",           /* protocol */
	    "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",             /* a port missing */
	    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",         /* one too many */
	    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",          /* trailing space */
	    "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",          /* double space */
	    "PROXY TCP4 1.2.3.4 5.6.7.8 01883 2\r\n",       /* leading zero */
	    "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",       /* port range */
	    "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",          /* sign */
	    "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",             /* bad IPv4 */
	    "PROXY TCP4 ::1 ::2 1 2\r\n",                   /* IPv6 in TCP4 */
	    "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",           /* IPv4 in TCP6 */
	    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",            /* CR without LF */
	    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",             /* bare LF */
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_refused(bad[i], strlen(bad[i]));
	/* a NUL or other control byte in the line */
	assert_refused("PROXY TCP4\0", 11);
	assert_refused("PROXY \x01", 7);
	assert_refused("PROXY \xC3\xA9", 8);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_v2_tcp4),
	    cmocka_unit_test(test_v2_tcp6),
	    cmocka_unit_test(test_v2_local),
	    cmocka_unit_test(test_v2_unspec),
	    cmocka_unit_test(test_v2_tlvs),
	    cmocka_unit_test(test_v2_size_bound),
	    cmocka_unit_test(test_v2_malformed),
	    cmocka_unit_test(test_v2_bad_tlvs),
	    cmocka_unit_test(test_v2_truncated),
	    cmocka_unit_test(test_not_a_header),
	    cmocka_unit_test(test_v1_valid),
	    cmocka_unit_test(test_v1_length_bound),
	    cmocka_unit_test(test_v1_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
