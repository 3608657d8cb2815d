/*
 * request.h - the HTTP request of an invocation, built from its table row
 * (see table.h) and the flags given: method, target (the endpoint's base
 * path, the path template filled in, the query string), body (JSON, or a
 * blob payload's bytes as they are, blob.h) and headers.  Pure: no I/O,
 * so the unit tests check every mapping.
 *
 * Path variables and query values are percent-encoded except for the
 * unreserved characters A-Z a-z 0-9 - . _ ~ (RFC 3986), as the AWS SDKs
 * do: an ARN in a path is one segment, its ':' and '/' sent as %3A and
 * %2F.
 */
#ifndef STRATA_CTL_REQUEST_H
#define STRATA_CTL_REQUEST_H

#include <stddef.h>

#include <event2/http.h>
#include <jansson.h>

#include "args.h"
#include "ctl.h"
#include "table.h"

/* A request header; name from the table, value from the invocation
 * (both borrowed). */
struct ctl_header {
	const char *name;
	const char *value;
};

struct ctl_request {
	enum evhttp_cmd_type method;
	char *target;   /* owned: "/base/things/x%3Ay?expectedVersion=3" */
	char *body;     /* owned: compact JSON text, or a payload's bytes
	                 * (NUL-terminated, but body_len counts); NULL: no
	                 * body */
	size_t body_len;
	const char *content_type; /* "application/json" with a JSON body;
	                           * NULL for a payload (the AWS CLI sends
	                           * none with a blob) or no body */
	struct ctl_header headers[CTL_MAX_FLAGS];
	size_t header_count;
};

/* Build the request of inv (whose command is set) under base_path ("" or
 * "/prefix", no trailing '/').  Returns 0, or -1 with err (252: an empty
 * path value or CTL_NOT_EMPTY query value, a value that does not parse or
 * fit its shape; 255: a payload that is not base64, see blob.h); req is
 * then cleared.  req borrows from inv: clear req first. */
int ctl_request_build(struct ctl_request *req,
    const struct ctl_invocation *inv, const char *base_path,
    struct ctl_error *err);

void ctl_request_clear(struct ctl_request *req);

/* text percent-encoded (see above); a new string. */
char *ctl_request_encode(const char *text);

/* Check an attribute payload's shape, {"attributes": {name: string},
 * "merge": boolean}, turning a "true"/"false" string of merge (from
 * shorthand) into the boolean.  Returns 0, or -1 with a message. */
int ctl_request_attributes(json_t *payload, char *msg, size_t msglen);

/* A list flag's value (CTL_LIST): a JSON array of strings, or names
 * separated by commas (empty names dropped).  Returns 0 with *out a new
 * array, or -1 with msg (a line of text) and *out NULL. */
int ctl_request_list(const char *text, json_t **out, char *msg,
    size_t msglen);

/* Check a topic rule payload's shape as the AWS CLI checks it before
 * sending: only the members sql, description, actions, ruleDisabled,
 * awsIotSqlVersion and errorAction; sql and actions present; sql,
 * description and awsIotSqlVersion strings, actions a list, errorAction
 * an object, ruleDisabled a boolean.  What is inside an action is the
 * server's to check.  (Shorthand, which has no lists, cannot give the
 * actions: a payload is JSON.)  Returns 0, or -1 with a message. */
int ctl_request_rule_payload(json_t *payload, char *msg, size_t msglen);

#endif
