/*
 * credentials.h - who stratactl is to the admin API, and the headers
 * that say so (docs/internals/admin-authz.md, section 3); the same to the
 * shadow API, which authenticates admin identities the same way.
 *
 * The first source that is there is used:
 *   1. the flags: --token-file FILE, a bearer token (the file's text,
 *      trailing CR and LF dropped), or --profile NAME, that profile of
 *      the credentials file (not both);
 *   2. STRATA_ACCESS_KEY_ID with STRATA_SECRET_ACCESS_KEY: an access key;
 *   3. STRATA_ADMIN_TOKEN: a bearer token;
 *   4. the profile STRATA_PROFILE, else "default", of the credentials
 *      file STRATA_SHARED_CREDENTIALS_FILE, else $HOME/.strata/credentials
 *      (profile.h).
 * A profile named by --profile or STRATA_PROFILE must be there; the
 * "default" one, and the file, may be missing.  An access key signs each
 * request (sign.h); a token is sent as "Bearer <token>".
 */
#ifndef STRATA_CTL_CREDENTIALS_H
#define STRATA_CTL_CREDENTIALS_H

#include <time.h>

#include "args.h"
#include "ctl.h"
#include "request.h"
#include "sign.h"

/* A bearer token, or an access key.  Strings owned. */
struct ctl_credentials {
	char *token;             /* NULL with an access key */
	char *access_key_id;     /* NULL with a token */
	char *secret_access_key;
	char *source;            /* where they were found, for --debug */
};

/* The headers that authenticate one request.  Strings owned. */
struct ctl_auth {
	char *authorization;     /* the Authorization header's value */
	char *shown;             /* the same for --debug: no secret, token
	                          * or signature */
	char date[CTL_SIGN_DATE_LEN + 1]; /* X-Strata-Date; "" for a token */
};

/* Find the credentials of inv (see above) into c.  Returns 0, or -1 with
 * err: 253 when none is found, a named profile is missing, a file cannot
 * be read or parsed, or an access key is given by half; 252 for
 * --profile with --token-file.  c is then cleared. */
int ctl_credentials_load(struct ctl_credentials *c,
    const struct ctl_invocation *inv, struct ctl_error *err);

void ctl_credentials_clear(struct ctl_credentials *c);

/* The headers of req sent at now with c into auth. */
void ctl_credentials_auth(const struct ctl_credentials *c,
    const struct ctl_request *req, time_t now, struct ctl_auth *auth);

void ctl_credentials_auth_clear(struct ctl_auth *auth);

#endif
