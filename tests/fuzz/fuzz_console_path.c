/*
 * fuzz_console_path.c - libFuzzer target for the console's request path,
 * session cookie and Host header (common/console_path.c).  The input is
 * tried as each.  An accepted path must name a file under the console
 * directory: no "..", no leading '/', no byte outside the name set, a
 * content type; an accepted cookie is 64 lower-case hex digits; an
 * accepted host is a non-empty prefix of the header of host bytes only
 * (it goes into the Content-Security-Policy header).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "console_path.h"

static void
check_path(const char *in)
{
	char out[STRATA_CONSOLE_NAME_MAX + 1];

	if (strata_console_path(in, out, sizeof(out)) != 0)
		return;
	if (out[0] == '/' || out[0] == '.' || strstr(out, "..") != NULL ||
	    strstr(out, "/.") != NULL || strstr(out, "//") != NULL ||
	    strspn(out, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-/") != strlen(out) ||
	    strata_console_content_type(out) == NULL)
		abort();
}

static void
check_host(const char *in)
{
	char out[64];
	size_t n;

	if (strata_console_host(in, out, sizeof(out)) != 0)
		return;
	n = strlen(out);
	if (n == 0 || n >= sizeof(out) || strncmp(in, out, n) != 0 ||
	    strspn(out, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789.-:[]") != n)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1), sid[STRATA_CONSOLE_SID_LEN + 1];

	if (in == NULL)
		abort();
	memcpy(in, data, size);
	in[size] = '\0';
	check_path(in);
	check_host(in);
	if (strata_console_cookie(in, sid) == 0 &&
	    (strlen(sid) != STRATA_CONSOLE_SID_LEN ||
	    strspn(sid, "0123456789abcdef") != STRATA_CONSOLE_SID_LEN))
		abort();
	free(in);
	return 0;
}
