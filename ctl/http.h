/*
 * http.h - sending one request to the admin API or the shadow API with
 * libevent's HTTP client, over TCP or TLS, and waiting for its answer.
 * The body goes by its length (a payload's bytes may hold NULs), with
 * the request's Content-Type when it has one.
 *
 * The endpoint's host is resolved once; its addresses are tried in
 * order until one accepts the connection (so "localhost" works whether
 * the broker listens on 127.0.0.1 or ::1).  Only an address that was
 * never connected to is given up for the next: once connected the
 * request may have been taken, and is not sent twice.  TLS verifies the
 * server's chain against ca_file (or the system's store) and its name or
 * address against the endpoint's host.  The whole exchange, every
 * attempt included, has one deadline of timeout_seconds.
 */
#ifndef STRATA_CTL_HTTP_H
#define STRATA_CTL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "credentials.h"
#include "ctl.h"
#include "endpoint.h"
#include "request.h"

#define CTL_HTTP_MAX_BODY (64 * 1024 * 1024)
#define CTL_HTTP_MAX_HEADERS (64 * 1024)

struct ctl_http_options {
	const struct ctl_endpoint *endpoint;
	const struct ctl_auth *auth; /* Authorization, X-Strata-Date */
	const char *ca_file;     /* https: trusted CAs; NULL: the system's */
	int timeout_seconds;
	bool debug;              /* request, auth and status lines on
	                          * stderr (auth->shown, never the secret) */
	FILE *stream;            /* non-NULL: a 200 answer's body is
	                          * written here as it arrives (not kept),
	                          * and the deadline is timeout_seconds +
	                          * CTL_HTTP_STREAM_SECONDS */
};

#define CTL_HTTP_STREAM_SECONDS 600

/* An answer, whatever its status.  Strings owned, NUL-terminated. */
struct ctl_http_answer {
	int status;
	char *reason;        /* "Not Found" */
	char *error_type;    /* header x-amzn-ErrorType, or NULL */
	char *body;
	size_t body_len;
};

/* Send req and wait for the answer.  Returns 0 with answer filled (any
 * HTTP status), or -1 with err: 255 when no answer came (unreachable,
 * timeout, connection closed, TLS refused), 253 when the CA file cannot
 * be loaded. */
int ctl_http_send(const struct ctl_http_options *options,
    const struct ctl_request *req, struct ctl_http_answer *answer,
    struct ctl_error *err);

void ctl_http_answer_clear(struct ctl_http_answer *answer);

#endif
