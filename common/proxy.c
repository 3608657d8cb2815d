/*
 * proxy.c - the PROXY protocol header, versions 1 and 2 (proxy.h).
 *
 * Every byte is read through the bounds-checked reader: the v2 body and
 * its TLVs are sub-readers of exactly the announced length, v1 tokens are
 * split off the line with strata_reader_sub.  The verdict depends only on
 * the bytes given, so a caller that hands over more bytes later gets a
 * consistent answer.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "proxy.h"
#include "status.h"

static const uint8_t proxy_v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00,
	0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
static const uint8_t proxy_v1_sig[6] = {'P', 'R', 'O', 'X', 'Y', ' '};

#define PROXY_CMD_LOCAL 0x0
#define PROXY_CMD_PROXY 0x1
#define PROXY_UNSPEC 0x00 /* family and transport UNSPEC */
#define PROXY_TCP4 0x11   /* INET, STREAM */
#define PROXY_TCP6 0x21   /* INET6, STREAM */

static int
proxy_fail(struct strata_proxy_header *h, const char *why)
{
	h->error = why;
	return STRATA_EINVAL;
}

/* Does p[0..len) begin the signature sig?  STRATA_AGAIN when it does
 * but is shorter, 0 when the whole signature is there. */
static int
proxy_signature(const uint8_t *p, size_t len, const uint8_t *sig,
    size_t sig_len, struct strata_proxy_header *h)
{
	size_t n = len < sig_len ? len : sig_len;

	if (memcmp(p, sig, n) != 0)
		return proxy_fail(h, "no PROXY header");
	return n < sig_len ? STRATA_AGAIN : 0;
}

/* ---- version 2 ---- */

static void
proxy_sockaddr(struct sockaddr_storage *ss, int family, const uint8_t *addr,
    uint16_t port)
{
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, addr, 4);
		in->sin_port = htons(port);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, addr, 16);
		in6->sin6_port = htons(port);
	}
}

/* TCP4 or TCP6 addresses: src, dst, src port, dst port. */
static int
proxy_v2_inet(struct strata_reader *r, int family,
    struct strata_proxy_header *h)
{
	size_t n = family == AF_INET ? 4 : 16;
	struct strata_reader src, dst;
	uint16_t sport, dport;

	if (strata_reader_sub(r, n, &src) != 0 ||
	    strata_reader_sub(r, n, &dst) != 0 ||
	    strata_reader_u16(r, &sport) != 0 ||
	    strata_reader_u16(r, &dport) != 0)
		return proxy_fail(h, "PROXY v2 addresses do not fit the "
		    "length");
	h->family = family;
	proxy_sockaddr(&h->src, family, src.p, sport);
	proxy_sockaddr(&h->dst, family, dst.p, dport);
	return 0;
}

/* The body of a PROXY command: addresses by family, then whole TLVs. */
static int
proxy_v2_body(struct strata_reader *r, uint8_t family,
    struct strata_proxy_header *h)
{
	struct strata_reader it;
	struct strata_bytes value;
	uint8_t type;
	int rc;

	switch (family) {
	case PROXY_UNSPEC:
		rc = 0; /* no address: the connection's own stand */
		break;
	case PROXY_TCP4:
		rc = proxy_v2_inet(r, AF_INET, h);
		break;
	case PROXY_TCP6:
		rc = proxy_v2_inet(r, AF_INET6, h);
		break;
	default:
		return proxy_fail(h, "PROXY v2 family is not TCP over IPv4 "
		    "or IPv6");
	}
	if (rc != 0)
		return rc;
	h->tlvs = strata_reader_rest(r);
	it = strata_reader_init(h->tlvs.p, h->tlvs.len);
	while ((rc = strata_proxy_tlv_next(&it, &type, &value)) == 0)
		;
	if (rc != STRATA_ENOTFOUND)
		return proxy_fail(h, "PROXY v2 TLV does not fit the length");
	return 0;
}

static int
proxy_v2(const uint8_t *p, size_t len, struct strata_proxy_header *h)
{
	struct strata_reader r;
	uint8_t version_command, family;
	uint16_t body_len;
	int rc;

	rc = proxy_signature(p, len, proxy_v2_sig, sizeof(proxy_v2_sig), h);
	if (rc != 0)
		return rc;
	if (len < STRATA_PROXY_V2_FIXED)
		return STRATA_AGAIN;
	r = strata_reader_init(p + sizeof(proxy_v2_sig),
	    len - sizeof(proxy_v2_sig));
	if (strata_reader_u8(&r, &version_command) != 0 ||
	    strata_reader_u8(&r, &family) != 0 ||
	    strata_reader_u16(&r, &body_len) != 0)
		return STRATA_AGAIN; /* not reached: len >= 16 */
	if (version_command >> 4 != 2)
		return proxy_fail(h, "PROXY v2 version is not 2");
	if ((version_command & 0x0F) != PROXY_CMD_LOCAL &&
	    (version_command & 0x0F) != PROXY_CMD_PROXY)
		return proxy_fail(h, "PROXY v2 command is not LOCAL or PROXY");
	if ((size_t)body_len > STRATA_PROXY_MAX - STRATA_PROXY_V2_FIXED)
		return proxy_fail(h, "PROXY v2 header over 4096 bytes");
	if (r.len < body_len)
		return STRATA_AGAIN;
	r.len = body_len; /* bytes after the header are not ours */
	h->version = 2;
	h->len = STRATA_PROXY_V2_FIXED + (size_t)body_len;
	if ((version_command & 0x0F) == PROXY_CMD_LOCAL) {
		/* the spec: use the real endpoints, ignore the family and
		 * the whole block */
		h->local = true;
		return 0;
	}
	return proxy_v2_body(&r, family, h);
}

int
strata_proxy_tlv_next(struct strata_reader *it, uint8_t *type,
    struct strata_bytes *value)
{
	struct strata_reader save = *it, v;
	uint16_t n;

	if (it->len == 0)
		return STRATA_ENOTFOUND;
	if (strata_reader_u8(it, type) != 0 ||
	    strata_reader_u16(it, &n) != 0 ||
	    strata_reader_sub(it, n, &v) != 0) {
		*it = save;
		return STRATA_EINVAL;
	}
	value->p = v.p;
	value->len = n;
	return 0;
}

/* ---- version 1 ---- */

/* The next token of the line, up to a space or the end (at most cap - 1
 * bytes), NUL-terminated into out.  Returns false for an empty or too
 * long token. */
static bool
proxy_v1_token(struct strata_reader *line, char *out, size_t cap)
{
	const uint8_t *space = memchr(line->p, ' ', line->len);
	size_t n = space != NULL ? (size_t)(space - line->p) : line->len;
	struct strata_reader tok;

	if (n == 0 || n >= cap || strata_reader_sub(line, n, &tok) != 0)
		return false;
	memcpy(out, tok.p, n);
	out[n] = '\0';
	return true;
}

/* Exactly one space between tokens. */
static bool
proxy_v1_space(struct strata_reader *line)
{
	uint8_t c;

	return strata_reader_u8(line, &c) == 0 && c == ' ';
}

/* A decimal port 0..65535 without leading zeros. */
static bool
proxy_v1_port(const char *s, uint16_t *out)
{
	unsigned long v = 0;
	size_t i, n = strlen(s);

	if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return false;
	*out = (uint16_t)v;
	return true;
}

/* "TCP4 src dst sport dport", "TCP6 ..." or "UNKNOWN[ anything]". */
static int
proxy_v1_line(struct strata_reader *line, struct strata_proxy_header *h)
{
	char proto[8], src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	char sport[8], dport[8];
	uint8_t src_addr[16], dst_addr[16];
	uint16_t sp, dp;
	int family;

	if (!proxy_v1_token(line, proto, sizeof(proto)))
		return proxy_fail(h, "PROXY v1 protocol missing");
	if (strcmp(proto, "UNKNOWN") == 0)
		return 0; /* the rest of the line is to be ignored */
	if (strcmp(proto, "TCP4") == 0)
		family = AF_INET;
	else if (strcmp(proto, "TCP6") == 0)
		family = AF_INET6;
	else
		return proxy_fail(h, "PROXY v1 protocol is not TCP4, TCP6 "
		    "or UNKNOWN");
	if (!proxy_v1_space(line) || !proxy_v1_token(line, src, sizeof(src)) ||
	    !proxy_v1_space(line) || !proxy_v1_token(line, dst, sizeof(dst)) ||
	    !proxy_v1_space(line) ||
	    !proxy_v1_token(line, sport, sizeof(sport)) ||
	    !proxy_v1_space(line) ||
	    !proxy_v1_token(line, dport, sizeof(dport)) || line->len != 0)
		return proxy_fail(h, "PROXY v1 line is not protocol, two "
		    "addresses and two ports");
	if (inet_pton(family, src, src_addr) != 1 ||
	    inet_pton(family, dst, dst_addr) != 1)
		return proxy_fail(h, "PROXY v1 address is not one of its "
		    "protocol");
	if (!proxy_v1_port(sport, &sp) || !proxy_v1_port(dport, &dp))
		return proxy_fail(h, "PROXY v1 port is not 0..65535");
	h->family = family;
	proxy_sockaddr(&h->src, family, src_addr, sp);
	proxy_sockaddr(&h->dst, family, dst_addr, dp);
	return 0;
}

static int
proxy_v1(const uint8_t *p, size_t len, struct strata_proxy_header *h)
{
	struct strata_reader line;
	size_t i;
	int rc;

	rc = proxy_signature(p, len, proxy_v1_sig, sizeof(proxy_v1_sig), h);
	if (rc != 0)
		return rc;
	for (i = sizeof(proxy_v1_sig); i < len; i++) {
		/* the CR must leave room for the LF within 107 bytes */
		if (i > STRATA_PROXY_V1_MAX - 2)
			return proxy_fail(h, "PROXY v1 line over 107 bytes");
		if (p[i] == '\r')
			break;
		if (p[i] < 0x20 || p[i] > 0x7E)
			return proxy_fail(h, "PROXY v1 line has a byte that "
			    "is not printable ASCII");
	}
	if (i + 1 >= len)
		return STRATA_AGAIN; /* no CR yet, or the LF to come */
	if (p[i + 1] != '\n')
		return proxy_fail(h, "PROXY v1 line has a CR without LF");
	h->version = 1;
	h->len = i + 2;
	line = strata_reader_init(p + sizeof(proxy_v1_sig),
	    i - sizeof(proxy_v1_sig));
	return proxy_v1_line(&line, h);
}

int
strata_proxy_parse(const uint8_t *p, size_t len,
    struct strata_proxy_header *h)
{
	memset(h, 0, sizeof(*h));
	h->family = AF_UNSPEC;
	if (len == 0)
		return STRATA_AGAIN;
	if (p[0] == proxy_v2_sig[0])
		return proxy_v2(p, len, h);
	if (p[0] == proxy_v1_sig[0])
		return proxy_v1(p, len, h);
	return proxy_fail(h, "no PROXY header");
}
