/*
 * console_path.h - the web console's outside input that is not JSON: the
 * request path of a static file and the session cookie
 * (docs/internals/console.md).  Pure functions, fuzzed
 * (tests/fuzz/fuzz_console_path.c).
 */
#ifndef STRATA_CONSOLE_PATH_H
#define STRATA_CONSOLE_PATH_H

#include <stddef.h>

#include "status.h"

#define STRATA_CONSOLE_PREFIX "/console/"
#define STRATA_CONSOLE_NAME_MAX 128   /* a file name under the console dir */
#define STRATA_CONSOLE_COOKIE "strata_console"
#define STRATA_CONSOLE_SID_LEN 64     /* session id: 64 lower-case hex */

/*
 * The file a request path names, relative to the console directory:
 * "/console/" is "index.html", "/console/js/app.js" is "js/app.js".
 * Refused (STRATA_EINVAL, out untouched or empty): a path outside
 * /console/, a percent-escape or any byte outside [A-Za-z0-9._/-], an
 * empty segment, a segment that starts with '.' (so no "..", no hidden
 * file), more than 3 segments, a name longer than
 * STRATA_CONSOLE_NAME_MAX, a name whose extension has no content type.
 * 0 on success, with out (outlen > STRATA_CONSOLE_NAME_MAX) filled.
 */
int strata_console_path(const char *path, char *out, size_t outlen);

/* The Content-Type of a file name by its extension, NULL when the
 * console serves no such type. */
const char *strata_console_content_type(const char *name);

/*
 * The session id in a Cookie header ("a=b; strata_console=<64 hex>"):
 * 0 with sid filled, STRATA_EINVAL when the cookie is absent, appears
 * twice, or its value is not 64 lower-case hex digits.
 */
int strata_console_cookie(const char *header,
    char sid[STRATA_CONSOLE_SID_LEN + 1]);

/*
 * The host of a Host header ("name:port", "[v6]:port", "name") into out
 * (len bytes with its NUL): 0, or STRATA_EINVAL when it is empty, too
 * long, an unclosed '[', or holds a byte outside [A-Za-z0-9.:[]-] (out
 * then untouched).
 */
int strata_console_host(const char *header, char *out, size_t len);

#endif
