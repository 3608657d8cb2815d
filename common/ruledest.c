/*
 * ruledest.c - the checks of HTTP topic rule destinations (ruledest.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ruledest.h"

static const char *const ruledest_names[] = {
	[STRATA_RULEDEST_IN_PROGRESS] = "IN_PROGRESS",
	[STRATA_RULEDEST_ENABLED] = "ENABLED",
	[STRATA_RULEDEST_DISABLED] = "DISABLED",
	[STRATA_RULEDEST_ERROR] = "ERROR",
};

const char *
strata_ruledest_status_name(enum strata_ruledest_status s)
{
	return s < STRATA_RULEDEST_UNKNOWN ? ruledest_names[s] : "UNKNOWN";
}

enum strata_ruledest_status
strata_ruledest_status_parse(const char *s)
{
	for (int i = 0; i < STRATA_RULEDEST_UNKNOWN; i++)
		if (s != NULL && strcmp(s, ruledest_names[i]) == 0)
			return (enum strata_ruledest_status)i;
	return STRATA_RULEDEST_UNKNOWN;
}

static bool
ruledest_fail(char *err, size_t errlen, const char *why)
{
	snprintf(err, errlen, "%s", why);
	return false;
}

/* The host (and port) at p: its length, or 0 when it is not one. */
static size_t
ruledest_authority(const char *p)
{
	size_t n = 0, port_start;
	long port;

	if (p[0] == '[') {
		n = 1 + strspn(p + 1, "0123456789abcdefABCDEF:.");
		if (n < 3 || p[n] != ']')
			return 0;
		n++;
	} else {
		n = strspn(p, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-");
		if (n == 0 || p[0] == '.' || p[0] == '-')
			return 0;
	}
	if (p[n] != ':')
		return n;
	port_start = ++n;
	n += strspn(p + n, "0123456789");
	if (n == port_start || n - port_start > 5)
		return 0;
	port = strtol(p + port_start, NULL, 10);
	return port >= 1 && port <= 65535 ? n : 0;
}

bool
strata_ruledest_url_valid(const char *url, char *err, size_t errlen)
{
	size_t len = strlen(url), skip, host;

	if (len == 0 || len > STRATA_RULEDEST_URL_MAX)
		return ruledest_fail(err, errlen, "the url must have 1 to "
		    "2000 characters");
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)url[i] <= 0x20 ||
		    (unsigned char)url[i] >= 0x7f)
			return ruledest_fail(err, errlen, "the url has a blank, "
			    "control or non-ASCII character");
	if (strncmp(url, "https://", 8) == 0)
		skip = 8;
	else if (strncmp(url, "http://", 7) == 0)
		skip = 7;
	else
		return ruledest_fail(err, errlen, "the url must begin with "
		    "http:// or https://");
	host = ruledest_authority(url + skip);
	if (host == 0)
		return ruledest_fail(err, errlen, "the url has no valid host "
		    "(and port)");
	if (url[skip + host] != '\0' && url[skip + host] != '/' &&
	    url[skip + host] != '?')
		return ruledest_fail(err, errlen, "the url has user info or "
		    "an invalid host");
	if (strchr(url, '#') != NULL)
		return ruledest_fail(err, errlen, "the url has a fragment");
	return true;
}

bool
strata_ruledest_covers(const char *confirmation_url, const char *url)
{
	size_t n = strlen(confirmation_url);

	if (n == 0 || strncmp(url, confirmation_url, n) != 0)
		return false;
	return confirmation_url[n - 1] == '/' || url[n] == '\0' ||
	    url[n] == '/' || url[n] == '?';
}

bool
strata_ruledest_token_valid(const char *token)
{
	size_t n = strspn(token, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");

	return n > 0 && n <= STRATA_RULEDEST_TOKEN_MAX && token[n] == '\0';
}

static bool
ruledest_uuid_valid(const char *u)
{
	for (int i = 0; i < STRATA_RULEDEST_UUID_LEN; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? u[i] != '-' : strchr("0123456789abcdef", u[i]) ==
		    NULL || u[i] == '\0')
			return false;
	}
	return u[STRATA_RULEDEST_UUID_LEN] == '\0';
}

bool
strata_ruledest_arn_uuid(const char *arn, const char *region,
    const char *account, char uuid[STRATA_RULEDEST_UUID_LEN + 1])
{
	char prefix[300];
	int n = snprintf(prefix, sizeof(prefix),
	    "arn:aws:iot:%s:%s:ruledestination/http/", region, account);

	if (n < 0 || (size_t)n >= sizeof(prefix) ||
	    strncmp(arn, prefix, (size_t)n) != 0 ||
	    !ruledest_uuid_valid(arn + n))
		return false;
	memcpy(uuid, arn + n, STRATA_RULEDEST_UUID_LEN + 1);
	return true;
}
