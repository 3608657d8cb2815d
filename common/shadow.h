/*
 * shadow.h - the document engine of the Device Shadow service: apply an
 * update, answer a get, delete; every payload AWS IoT publishes for them.
 *
 * Pure: no I/O, no clock, no state.  The daemon reads a shadow's stored
 * document (JSON, below) from Redis, calls one function with the request
 * and the time, and writes the new stored document back only if the
 * stored version is still the one it read (compare-and-set); then it
 * publishes the payloads on the shadow's topics.  Rules, and every place
 * where Strata had to choose because AWS's documentation is silent:
 * docs/internals/shadow-doc.md.
 *
 * The stored form of one shadow:
 *
 *   {"state":    {"desired": {...}, "reported": {...}},
 *    "metadata": {"desired": {...}, "reported": {...}},
 *    "version": N, "timestamp": T}
 *
 * both sections always present (empty when the shadow has none), the
 * metadata mirroring the state with {"timestamp": T} for each scalar.  A
 * deleted shadow is stored as {"deleted": true, "version": N}, so that its
 * version goes on when it is created again (AWS: within 48 hours; the
 * daemon gives the marker that expiry, STRATA_SHADOW_DELETED_TTL_S).
 *
 * Ownership: arguments are only read; every json_t * returned is a new
 * reference owned by the caller, sharing no node with the arguments or
 * with another result.  Allocation failure aborts: sizes are bounded by
 * the limits below, checked before anything input-sized is built.
 */
#ifndef STRATA_SHADOW_H
#define STRATA_SHADOW_H

#include <stddef.h>

#include <jansson.h>

/* AWS: "Maximum size of a JSON state document: 8 KB": desired plus
 * reported, metadata not counted; Strata counts their compact JSON. */
#define STRATA_SHADOW_MAX_STATE_BYTES 8192
/* AWS's message "JSON contains too many levels of nesting; maximum is 6":
 * the desired or reported object itself is level 1. */
#define STRATA_SHADOW_MAX_DEPTH 6
/* AWS: "The client token can be no longer than 64 bytes". */
#define STRATA_SHADOW_MAX_TOKEN_BYTES 64
/* AWS IoT Core's largest message payload, 128 KB: a longer request is
 * refused before it is parsed. */
#define STRATA_SHADOW_MAX_REQUEST_BYTES (128 * 1024)
/* AWS: a shadow created again within 48 hours of its deletion continues
 * its version; the daemon stores the deleted marker with this expiry. */
#define STRATA_SHADOW_DELETED_TTL_S (48 * 3600)
/* Largest version: past it a JSON number loses precision in JavaScript
 * clients (AWS documents no limit). */
#define STRATA_SHADOW_MAX_VERSION ((1LL << 53) - 1)

/* AWS's HTTP codes, used in error payloads and by the HTTP interface. */
#define STRATA_SHADOW_BAD_REQUEST 400
#define STRATA_SHADOW_NOT_FOUND 404
#define STRATA_SHADOW_CONFLICT 409
#define STRATA_SHADOW_TOO_LARGE 413
#define STRATA_SHADOW_UNSUPPORTED_MEDIA 415
#define STRATA_SHADOW_INTERNAL 500

/* Size of the buffer strata_shadow_request_token() fills. */
#define STRATA_SHADOW_TOKEN_BUF (STRATA_SHADOW_MAX_TOKEN_BYTES + 1)

/* Why a request was refused: an AWS code and its message text ("Version
 * conflict"), NUL-terminated. */
struct strata_shadow_error {
	int code;
	char message[256];
};

/* The outcome of an accepted update; every member owned by the caller
 * (strata_shadow_update_result_clear). */
struct strata_shadow_update_result {
	json_t *stored;    /* the new stored document */
	json_t *accepted;  /* update/accepted: the request's state as sent,
	                      the metadata of what it set, version, timestamp,
	                      clientToken (if given) */
	json_t *delta;     /* update/delta, or NULL when desired and reported
	                      do not differ after the update */
	json_t *documents; /* update/documents: previous (null for a new
	                      shadow), current, timestamp, clientToken */
};

/*
 * Apply the update request (len bytes of JSON, no NUL needed) at time
 * now_s (epoch seconds) to stored (NULL: never existed; a deleted marker:
 * created again).  Returns 0 with *out filled, or -1 with *err filled and
 * *out all NULL (err may be NULL):
 *   400 the request is not a JSON object ("Invalid JSON"), or its state,
 *       desired, reported, version or clientToken is malformed, or too
 *       deep, or an array holds null
 *   409 "Version conflict": the request's version is not the stored one
 *   413 the request is over STRATA_SHADOW_MAX_REQUEST_BYTES, or its state
 *       or the updated state is over STRATA_SHADOW_MAX_STATE_BYTES
 *   415 the request is not UTF-8
 *   500 "Internal service failure": stored is not a stored document, or
 *       its version is STRATA_SHADOW_MAX_VERSION
 * On success out->stored's version is stored's plus one (a new shadow:
 * 1).  stored is not modified.
 */
int strata_shadow_update(const json_t *stored, const char *request, size_t len,
    long long now_s, struct strata_shadow_update_result *out,
    struct strata_shadow_error *err);
void strata_shadow_update_result_clear(struct strata_shadow_update_result *r);

/*
 * The get/accepted payload of stored at now_s: state (desired, reported,
 * and delta when they differ), metadata (desired, reported), version,
 * timestamp, clientToken (client_token, if not NULL).  NULL with *err:
 * 404 when stored is NULL or deleted (message "No shadow exists"; the
 * caller names the shadow with strata_shadow_error_not_found), 500 when
 * stored is not a stored document.
 */
json_t *strata_shadow_get(const json_t *stored, const char *client_token,
    long long now_s, struct strata_shadow_error *err);

/*
 * Delete stored at now_s: the delete/accepted payload {version, timestamp,
 * clientToken} (version: the deleted shadow's), and *new_stored the
 * deleted marker to store.  NULL with *err (and *new_stored NULL) as
 * strata_shadow_get.
 */
json_t *strata_shadow_delete(const json_t *stored, const char *client_token,
    long long now_s, json_t **new_stored, struct strata_shadow_error *err);

/* The /rejected payload (and HTTP error body) of err: {"code", "message",
 * "timestamp", "clientToken" (if not NULL)}. */
json_t *strata_shadow_error_body(const struct strata_shadow_error *err,
    const char *client_token, long long now_s);

/* Make err AWS's 404 for the shadow called name, as AWS spells it: the
 * thing's name for a classic shadow, "thing~shadow" for a named one. */
void strata_shadow_error_not_found(
    struct strata_shadow_error *err, const char *name);

/*
 * The clientToken of a request payload (len bytes) copied into buf, or
 * NULL when the payload is not a JSON object or has no valid token (a
 * string of at most STRATA_SHADOW_MAX_TOKEN_BYTES bytes).  For the
 * /rejected payload of a request refused before or after it was parsed,
 * and for get and delete requests, whose payload holds only a token.
 */
const char *strata_shadow_request_token(
    const char *payload, size_t len, char buf[STRATA_SHADOW_TOKEN_BUF]);

/*
 * Compact JSON of doc, as the daemon publishes and stores it, NUL-
 * terminated, malloc'd (caller frees; NULL for a NULL doc): real numbers
 * with the fewest digits (15 to 17) that read back as the same double for
 * every real of the document.  The state size limit counts this form.
 */
char *strata_shadow_dumps(const json_t *doc);

#endif
