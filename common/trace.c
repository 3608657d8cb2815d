/*
 * trace.c - client ids, the seconds of a trace and the members of
 * strata:traces (trace.h).  Pure; fuzzed by fuzz_trace.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

/* The length of the UTF-8 sequence at p (at most n bytes), 0 when it is
 * not one (overlong, surrogate, over U+10FFFF, cut short). */
static size_t
trace_utf8_len(const unsigned char *p, size_t n)
{
	size_t len;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xC2 && p[0] <= 0xDF)
		len = 2, cp = p[0] & 0x1F;
	else if (p[0] >= 0xE0 && p[0] <= 0xEF)
		len = 3, cp = p[0] & 0x0F;
	else if (p[0] >= 0xF0 && p[0] <= 0xF4)
		len = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3F);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
		return 0;
	return len;
}

bool
strata_trace_client_id_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	if (len == 0 || len > STRATA_TRACE_CLIENT_MAX)
		return false;
	while (i < len) {
		size_t n;

		if (p[i] < 0x20 || p[i] == 0x7F)
			return false;
		n = trace_utf8_len(p + i, len - i);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

int
strata_trace_seconds(const char *s)
{
	long v;
	char *end;

	if (s == NULL)
		return STRATA_TRACE_DEFAULT_SECONDS;
	if (*s < '0' || *s > '9' || strlen(s) > 4)
		return -1;
	v = strtol(s, &end, 10);
	if (*end != '\0' || v < 1 || v > STRATA_TRACE_MAX_SECONDS)
		return -1;
	return (int)v;
}

const char *
strata_trace_member_client(const char *s, size_t n, size_t *len)
{
	if (n < STRATA_TRACE_ID_LEN + 2 || s[STRATA_TRACE_ID_LEN] != ' ')
		return NULL;
	for (size_t i = 0; i < STRATA_TRACE_ID_LEN; i++)
		if (strchr("0123456789abcdef", s[i]) == NULL || s[i] == '\0')
			return NULL;
	*len = n - STRATA_TRACE_ID_LEN - 1;
	if (!strata_trace_client_id_valid(s + STRATA_TRACE_ID_LEN + 1, *len))
		return NULL;
	return s + STRATA_TRACE_ID_LEN + 1;
}
