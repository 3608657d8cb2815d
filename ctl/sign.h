/*
 * sign.h - signing an admin API request with an access key: the
 * STRATA-HMAC-SHA256 scheme of docs/internals/admin-authz.md, section 3.
 *
 *   signing key = HMAC-SHA256(key = secret, "strata-admin-signing")
 *   text        = "STRATA-HMAC-SHA256" LF date LF METHOD LF path LF
 *                 query LF hex(SHA-256(body))
 *
 * The same for both APIs; body is the bytes sent (a shadow payload's
 * too, NULs included: body_len counts).
 *   signature   = hex(HMAC-SHA256(key = signing key, text))
 *
 * date is the X-Strata-Date header (YYYYMMDDTHHMMSSZ, UTC).  path and
 * query are the request's target exactly as it goes on the request line
 * (percent-encoded, the endpoint's base path included), split at its
 * first '?'; the query is empty without one.  No body is hashed as the
 * empty string.  Hex is lower-case.  Pure: no clock, no I/O.
 */
#ifndef STRATA_CTL_SIGN_H
#define STRATA_CTL_SIGN_H

#include <time.h>

#include "request.h"

#define CTL_SIGN_SCHEME "STRATA-HMAC-SHA256"
#define CTL_SIGN_HEX_LEN 64   /* a signature: 32 bytes in hex */
#define CTL_SIGN_DATE_LEN 16  /* YYYYMMDDTHHMMSSZ */

/* The text req is signed over at date: a new string, the caller's. */
char *ctl_sign_text(const char *date, const struct ctl_request *req);

/* The signature of req at date with the access key's secret into hex
 * (64 lower-case hex digits and a NUL). */
void ctl_sign(const char *secret, const char *date,
    const struct ctl_request *req, char hex[CTL_SIGN_HEX_LEN + 1]);

/* t as X-Strata-Date: YYYYMMDDTHHMMSSZ in UTC. */
void ctl_sign_date(time_t t, char date[CTL_SIGN_DATE_LEN + 1]);

#endif
