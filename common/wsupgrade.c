/*
 * wsupgrade.c - the WebSocket opening request (see wsupgrade.h).
 *
 * The request is read in two passes once its blank line is there: the
 * request line, then one header line at a time into views; then the
 * checks, each on the headers as a whole.  Every step works on a
 * bounds-checked line view; nothing is copied.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "status.h"
#include "wsupgrade.h"

const char *const strata_wsupgrade_refusal_names[STRATA_WSUP_REFUSALS] = {
	[STRATA_WSUP_MALFORMED] = "malformed",
	[STRATA_WSUP_TOO_LARGE] = "too_large",
	[STRATA_WSUP_METHOD] = "method",
	[STRATA_WSUP_PATH] = "path",
	[STRATA_WSUP_HOST] = "host",
	[STRATA_WSUP_UPGRADE] = "upgrade",
	[STRATA_WSUP_KEY] = "key",
	[STRATA_WSUP_VERSION] = "version",
	[STRATA_WSUP_SUBPROTOCOL] = "subprotocol",
};

#define WSUP_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static int
wsup_refuse(struct strata_wsupgrade_request *r,
    enum strata_wsupgrade_refusal why, const char *error)
{
	r->refusal = why;
	r->error = error;
	return STRATA_EINVAL;
}

/* Offset just past the blank line ending the headers, or 0 if none. */
static size_t
wsup_end(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i + 4 <= len; i++)
		if (p[i] == '\r' && memcmp(p + i, "\r\n\r\n", 4) == 0)
			return i + 4;
	return 0;
}

/* The next CRLF-ended line of [*at, end) as a view; false if a line has
 * a bare CR or LF (end always follows a CRLF). */
static bool
wsup_line(const uint8_t *p, size_t end, size_t *at, struct strata_bytes *line)
{
	size_t i;

	for (i = *at; i + 1 < end; i++) {
		if (p[i] == '\r' && p[i + 1] == '\n')
			break;
		if (p[i] == '\r' || p[i] == '\n')
			return false;
	}
	line->p = p + *at;
	line->len = (uint32_t)(i - *at);
	*at = i + 2;
	return true;
}

static bool
wsup_tchar(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != 0 && strchr("!#$%&'*+-.^_`|~",
	    c) != NULL);
}

/* "GET <target> HTTP/1.1": the target split into path and query. */
static int
wsup_request_line(struct strata_bytes line, const char *path,
    struct strata_wsupgrade_request *r)
{
	const uint8_t *sp, *target;
	size_t n, i;

	if (line.len < 4 || memcmp(line.p, "GET ", 4) != 0) {
		sp = memchr(line.p, ' ', line.len);
		return wsup_refuse(r, sp != NULL && sp != line.p ?
		    STRATA_WSUP_METHOD : STRATA_WSUP_MALFORMED,
		    "request method is not GET");
	}
	target = line.p + 4;
	sp = memchr(target, ' ', line.len - 4);
	if (sp == NULL || (size_t)(line.p + line.len - sp) != 9 ||
	    memcmp(sp + 1, "HTTP/1.1", 8) != 0)
		return wsup_refuse(r, STRATA_WSUP_MALFORMED,
		    "request line is not GET <path> HTTP/1.1");
	n = (size_t)(sp - target);
	if (n == 0 || target[0] != '/')
		return wsup_refuse(r, STRATA_WSUP_MALFORMED,
		    "request target is not a path");
	for (i = 0; i < n; i++)
		if (target[i] <= 0x20 || target[i] >= 0x7f)
			return wsup_refuse(r, STRATA_WSUP_MALFORMED,
			    "request target has a control character");
	r->path.p = target;
	r->path.len = (uint32_t)n;
	sp = memchr(target, '?', n);
	if (sp != NULL) {
		r->path.len = (uint32_t)(sp - target);
		r->query.p = sp + 1;
		r->query.len = (uint32_t)(n - r->path.len - 1);
	}
	if (r->path.len != strlen(path) ||
	    memcmp(r->path.p, path, r->path.len) != 0)
		return wsup_refuse(r, STRATA_WSUP_PATH,
		    "request path is not the WebSocket path");
	return 0;
}

/* "Name: value" into a header view, blanks around the value removed. */
static int
wsup_header_line(struct strata_bytes line,
    struct strata_wsupgrade_request *r)
{
	struct strata_wsupgrade_header *h;
	const uint8_t *colon = memchr(line.p, ':', line.len);
	size_t i, start, end;

	if (line.len > 0 && (line.p[0] == ' ' || line.p[0] == '\t'))
		return wsup_refuse(r, STRATA_WSUP_MALFORMED,
		    "folded header line");
	if (colon == NULL || colon == line.p)
		return wsup_refuse(r, STRATA_WSUP_MALFORMED,
		    "header line without a name");
	for (i = 0; line.p + i < colon; i++)
		if (!wsup_tchar(line.p[i]))
			return wsup_refuse(r, STRATA_WSUP_MALFORMED,
			    "bad character in a header name");
	if (r->n_headers == STRATA_WSUPGRADE_HEADERS)
		return wsup_refuse(r, STRATA_WSUP_TOO_LARGE,
		    "too many header lines");
	start = (size_t)(colon - line.p) + 1;
	end = line.len;
	for (i = start; i < end; i++)
		if ((line.p[i] < 0x20 && line.p[i] != '\t') ||
		    line.p[i] == 0x7f)
			return wsup_refuse(r, STRATA_WSUP_MALFORMED,
			    "control character in a header value");
	while (start < end && (line.p[start] == ' ' || line.p[start] == '\t'))
		start++;
	while (end > start && (line.p[end - 1] == ' ' ||
	    line.p[end - 1] == '\t'))
		end--;
	h = &r->headers[r->n_headers++];
	h->name.p = line.p;
	h->name.len = (uint32_t)(colon - line.p);
	h->value.p = line.p + start;
	h->value.len = (uint32_t)(end - start);
	return 0;
}

static bool
wsup_name_is(struct strata_bytes name, const char *want)
{
	return name.len == strlen(want) &&
	    strncasecmp((const char *)name.p, want, name.len) == 0;
}

/* How many headers are called name. */
static unsigned
wsup_count(const struct strata_wsupgrade_request *r, const char *name)
{
	unsigned i, n = 0;

	for (i = 0; i < r->n_headers; i++)
		if (wsup_name_is(r->headers[i].name, name))
			n++;
	return n;
}

const struct strata_bytes *
strata_wsupgrade_header(const struct strata_wsupgrade_request *r,
    const char *name)
{
	unsigned i;

	for (i = 0; i < r->n_headers; i++)
		if (wsup_name_is(r->headers[i].name, name))
			return &r->headers[i].value;
	return NULL;
}

/* Does some header called name hold token in its comma list?  Case
 * matters only when exact (subprotocols). */
static bool
wsup_has_token(const struct strata_wsupgrade_request *r, const char *name,
    const char *token, bool exact)
{
	size_t want = strlen(token), i, start, end;
	unsigned h;

	for (h = 0; h < r->n_headers; h++) {
		struct strata_bytes v = r->headers[h].value;

		if (!wsup_name_is(r->headers[h].name, name))
			continue;
		for (start = 0; start < v.len; start = i + 1) {
			for (i = start; i < v.len && v.p[i] != ','; i++)
				;
			end = i;
			while (start < end && (v.p[start] == ' ' ||
			    v.p[start] == '\t'))
				start++;
			while (end > start && (v.p[end - 1] == ' ' ||
			    v.p[end - 1] == '\t'))
				end--;
			if (end - start == want && (exact ?
			    memcmp(v.p + start, token, want) == 0 :
			    strncasecmp((const char *)v.p + start, token,
			    want) == 0))
				return true;
		}
	}
	return false;
}

/* base64 of exactly 16 bytes: 22 characters of the alphabet and "==". */
static bool
wsup_key_ok(struct strata_bytes key)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;

	if (key.len != 24 || key.p[22] != '=' || key.p[23] != '=')
		return false;
	for (i = 0; i < 22; i++)
		if (key.p[i] == 0 || strchr(alphabet, key.p[i]) == NULL)
			return false;
	/* the last character carries 2 bits of data: the other 4 are 0 */
	return (strchr(alphabet, key.p[21]) - alphabet) % 16 == 0;
}

static int
wsup_check(struct strata_wsupgrade_request *r)
{
	const struct strata_bytes *v;

	if (wsup_count(r, "Host") != 1)
		return wsup_refuse(r, STRATA_WSUP_HOST,
		    "not exactly one Host header");
	if (!wsup_has_token(r, "Upgrade", "websocket", false))
		return wsup_refuse(r, STRATA_WSUP_UPGRADE,
		    "no Upgrade: websocket");
	if (!wsup_has_token(r, "Connection", "upgrade", false))
		return wsup_refuse(r, STRATA_WSUP_UPGRADE,
		    "no Connection: Upgrade");
	v = strata_wsupgrade_header(r, "Sec-WebSocket-Key");
	if (v == NULL || wsup_count(r, "Sec-WebSocket-Key") != 1 ||
	    !wsup_key_ok(*v))
		return wsup_refuse(r, STRATA_WSUP_KEY,
		    "Sec-WebSocket-Key missing, repeated or not 16 bytes");
	r->key = *v;
	v = strata_wsupgrade_header(r, "Sec-WebSocket-Version");
	if (v == NULL || wsup_count(r, "Sec-WebSocket-Version") != 1 ||
	    v->len != 2 || memcmp(v->p, "13", 2) != 0)
		return wsup_refuse(r, STRATA_WSUP_VERSION,
		    "Sec-WebSocket-Version is not 13");
	if (wsup_has_token(r, "Sec-WebSocket-Protocol", "mqtt", true))
		r->subprotocol = "mqtt";
	else if (wsup_has_token(r, "Sec-WebSocket-Protocol", "mqttv3.1",
	    true))
		r->subprotocol = "mqttv3.1";
	else
		return wsup_refuse(r, STRATA_WSUP_SUBPROTOCOL,
		    "subprotocol mqtt not offered");
	return 0;
}

int
strata_wsupgrade_parse(const uint8_t *p, size_t len, const char *path,
    struct strata_wsupgrade_request *r)
{
	struct strata_bytes line;
	size_t end, at = 0;
	int rc;

	memset(r, 0, sizeof(*r));
	end = wsup_end(p, len < STRATA_WSUPGRADE_MAX ? len :
	    STRATA_WSUPGRADE_MAX);
	if (end == 0)
		return len < STRATA_WSUPGRADE_MAX ? STRATA_AGAIN :
		    wsup_refuse(r, STRATA_WSUP_TOO_LARGE,
		    "request over 8 KiB");
	r->len = end;
	end -= 2; /* the last header line's CRLF stays, the blank one goes */
	if (!wsup_line(p, end, &at, &line))
		return wsup_refuse(r, STRATA_WSUP_MALFORMED, "bare CR or LF");
	rc = wsup_request_line(line, path, r);
	if (rc != 0)
		return rc;
	while (at < end) {
		if (!wsup_line(p, end, &at, &line))
			return wsup_refuse(r, STRATA_WSUP_MALFORMED,
			    "bare CR or LF");
		rc = wsup_header_line(line, r);
		if (rc != 0)
			return rc;
	}
	return wsup_check(r);
}

void
strata_wsupgrade_accept(struct strata_bytes key,
    char out[STRATA_WSUPGRADE_ACCEPT_LEN])
{
	uint8_t digest[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_MD_CTX *sha = EVP_MD_CTX_new();

	if (sha == NULL || EVP_DigestInit_ex(sha, EVP_sha1(), NULL) != 1 ||
	    EVP_DigestUpdate(sha, key.p, key.len) != 1 ||
	    EVP_DigestUpdate(sha, WSUP_GUID, sizeof(WSUP_GUID) - 1) != 1 ||
	    EVP_DigestFinal_ex(sha, digest, &n) != 1 || n != 20)
		abort();
	EVP_MD_CTX_free(sha);
	EVP_EncodeBlock((unsigned char *)out, digest, (int)n);
}
