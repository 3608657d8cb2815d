/*
 * wsupgrade.h - the HTTP/1.1 request that opens a WebSocket (RFC 6455
 * section 4.2.1) for MQTT over WebSocket, and the answers to it.
 *
 * Pure: bytes in, a verdict out; no I/O, no allocation.  The caller keeps
 * what the client sent until the blank line that ends the headers, and
 * gives the parser everything it has so far.  Nothing past that blank
 * line is looked at: the WebSocket frames behind it belong to the
 * framing layer.
 *
 * What is accepted, and nothing else:
 *   - request line "GET <path>[?<query>] HTTP/1.1", CRLF line ends, no
 *     folded header lines, header names of token characters, values of
 *     visible characters, spaces and tabs;
 *   - the path equal to the configured one (the query is kept whole, for
 *     the custom authorizer);
 *   - exactly one Host, Sec-WebSocket-Key and Sec-WebSocket-Version;
 *   - Upgrade holding the token "websocket" and Connection holding
 *     "Upgrade" (comma lists, case-insensitive);
 *   - Sec-WebSocket-Key: base64 of exactly 16 bytes;
 *   - Sec-WebSocket-Version: 13;
 *   - Sec-WebSocket-Protocol (one or more headers, comma lists) naming
 *     "mqtt" or "mqttv3.1": "mqtt" is chosen when both are offered;
 *   - at most STRATA_WSUPGRADE_MAX bytes and STRATA_WSUPGRADE_HEADERS
 *     header lines.
 */
#ifndef STRATA_WSUPGRADE_H
#define STRATA_WSUPGRADE_H

#include <stddef.h>
#include <stdint.h>

#include "reader.h"

/* Longest request (request line, headers, blank line). */
#define STRATA_WSUPGRADE_MAX 8192
/* Most header lines kept (views) for the custom authorizer. */
#define STRATA_WSUPGRADE_HEADERS 64
/* Length of Sec-WebSocket-Accept, base64 of a SHA-1, with its NUL. */
#define STRATA_WSUPGRADE_ACCEPT_LEN 29

/* Why a request was refused: the reason label of
 * strata_broker_ws_upgrades_refused_total. */
enum strata_wsupgrade_refusal {
	STRATA_WSUP_MALFORMED,   /* not an HTTP/1.1 request we can read */
	STRATA_WSUP_TOO_LARGE,   /* over STRATA_WSUPGRADE_MAX or too many
				    headers */
	STRATA_WSUP_METHOD,      /* not GET */
	STRATA_WSUP_PATH,        /* not the configured path */
	STRATA_WSUP_HOST,        /* no Host, or two */
	STRATA_WSUP_UPGRADE,     /* Upgrade or Connection wrong */
	STRATA_WSUP_KEY,         /* Sec-WebSocket-Key missing or bad */
	STRATA_WSUP_VERSION,     /* Sec-WebSocket-Version not 13 */
	STRATA_WSUP_SUBPROTOCOL, /* neither mqtt nor mqttv3.1 offered */
	STRATA_WSUP_REFUSALS
};

/* Names of the refusals, for metrics and logs. */
extern const char *const strata_wsupgrade_refusal_names[STRATA_WSUP_REFUSALS];

struct strata_wsupgrade_header {
	struct strata_bytes name;  /* as sent (compare case-insensitively) */
	struct strata_bytes value; /* leading and trailing blanks removed */
};

struct strata_wsupgrade_request {
	size_t len;                 /* bytes of the request, blank line
				       included: the caller consumes these */
	struct strata_bytes path;   /* views into the input */
	struct strata_bytes query;  /* after '?', empty when none */
	struct strata_bytes key;    /* Sec-WebSocket-Key */
	const char *subprotocol;    /* "mqtt" or "mqttv3.1" (static) */
	unsigned n_headers;
	struct strata_wsupgrade_header headers[STRATA_WSUPGRADE_HEADERS];
	enum strata_wsupgrade_refusal refusal; /* after STRATA_EINVAL */
	const char *error;          /* after STRATA_EINVAL: what was wrong
				       (a static string) */
};

/*
 * Parse the request at the start of p[0..len); path is the configured
 * path ("/mqtt").
 *   0             r is filled; r->len <= len.
 *   STRATA_AGAIN  no blank line yet and len < STRATA_WSUPGRADE_MAX: call
 *                 again with more bytes.  Decided on the blank line
 *                 alone, so a longer prefix of the same stream never
 *                 turns an AGAIN into something else before it.
 *   STRATA_EINVAL refused: r->refusal and r->error say why.
 */
int strata_wsupgrade_parse(const uint8_t *p, size_t len, const char *path,
    struct strata_wsupgrade_request *r);

/* The value of header name (case-insensitive) in r, or NULL. */
const struct strata_bytes *strata_wsupgrade_header(
    const struct strata_wsupgrade_request *r, const char *name);

/* Sec-WebSocket-Accept for key: base64(SHA-1(key + RFC 6455's GUID)),
 * NUL-terminated in out. */
void strata_wsupgrade_accept(struct strata_bytes key,
    char out[STRATA_WSUPGRADE_ACCEPT_LEN]);

#endif
