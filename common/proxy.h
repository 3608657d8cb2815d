/*
 * proxy.h - the PROXY protocol header a TCP load balancer (HAProxy,
 * send-proxy-v2) writes in front of a connection to tell the server who
 * the client is.
 *
 * Pure: bytes in, a verdict out; no I/O, no allocation.  The caller
 * reads the header without reading past it (the bytes behind it are
 * MQTT or a TLS handshake that belong to someone else) and gives the
 * parser everything it has so far.
 *
 * Version 2 (binary), as HAProxy's proxy-protocol.txt defines it:
 *   12-byte signature  \r\n\r\n\0\r\nQUIT\n
 *   1 byte             version (high nibble, 2) and command (low nibble:
 *                      0 LOCAL, 1 PROXY)
 *   1 byte             family (high: 0 UNSPEC, 1 INET, 2 INET6, 3 UNIX)
 *                      and transport (low: 0 UNSPEC, 1 STREAM, 2 DGRAM)
 *   2 bytes            length of what follows (big endian)
 *   addresses          TCP4: src, dst (4 bytes each), src port, dst port;
 *                      TCP6: the same with 16-byte addresses
 *   TLVs               type (1), length (2), value; up to the length
 * Version 1 (text): "PROXY TCP4 1.2.3.4 5.6.7.8 1234 1883\r\n" (or TCP6,
 * or "PROXY UNKNOWN...\r\n"), at most 107 bytes with the CRLF.
 *
 * What is accepted:
 *   - PROXY over TCP4 or TCP6: the source becomes the client's address;
 *   - LOCAL (v2; the balancer's own connection, e.g. a health check) and
 *     PROXY with family UNSPEC (v2) or UNKNOWN (v1): no address, the
 *     connection's own endpoints stand (`family` is AF_UNSPEC);
 *   - TLVs are checked to be whole and are otherwise skipped (CRC32C is
 *     not verified; nothing in them is trusted);
 *   - anything else (UDP, UNIX sockets, another version or command,
 *     a header over STRATA_PROXY_MAX bytes) is refused.
 */
#ifndef STRATA_PROXY_H
#define STRATA_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "reader.h"

/* Longest version 1 header, CRLF included (the spec's own bound). */
#define STRATA_PROXY_V1_MAX 107
/* Signature, version/command, family, length. */
#define STRATA_PROXY_V2_FIXED 16
/*
 * Longest header accepted, v2 TLVs included.  The protocol allows 16 +
 * 65535 bytes; what HAProxy sends (addresses, ALPN, authority, a unique
 * id of at most 128 bytes, the SSL TLVs when it terminates TLS) fits in
 * a few hundred, and each header is held per connection until it is
 * complete, so a stranger gets 4 KiB of buffer at most.
 */
#define STRATA_PROXY_MAX 4096

struct strata_proxy_header {
	size_t len;       /* bytes of the header: the caller consumes these */
	uint8_t version;  /* 1 or 2 */
	bool local;       /* v2 LOCAL command */
	/* AF_INET or AF_INET6 with src and dst set (ports included), or
	 * AF_UNSPEC: no address given, the socket's own endpoints stand */
	int family;
	struct sockaddr_storage src, dst;
	struct strata_bytes tlvs; /* v2 PROXY: the TLV block, whole TLVs;
				     a view into the input */
	const char *error; /* after STRATA_EINVAL: what was wrong */
};

/*
 * Parse the header at the start of p[0..len).
 *   0             h is filled; h->len <= len (nothing past h->len was
 *                 looked at) and h->len <= STRATA_PROXY_MAX.
 *   STRATA_AGAIN  p is a valid beginning of a header that needs more
 *                 bytes: every byte given belongs to the header, and
 *                 len < STRATA_PROXY_MAX.
 *   STRATA_EINVAL not a header we accept; h->error says why (a static
 *                 string).  Decided as soon as the bytes allow: a first
 *                 byte that starts neither signature fails at once, a v2
 *                 length over the bound fails before its body arrives.
 * The same bytes always give the same verdict, and a prefix of a valid
 * header gives STRATA_AGAIN.
 */
int strata_proxy_parse(const uint8_t *p, size_t len,
    struct strata_proxy_header *h);

/*
 * Next TLV of a v2 TLV block (reader over h->tlvs).  Returns 0 with the
 * type and a view of the value, STRATA_ENOTFOUND at the end, or
 * STRATA_EINVAL when the TLV does not fit what is left.
 */
int strata_proxy_tlv_next(struct strata_reader *it, uint8_t *type,
    struct strata_bytes *value);

#endif
