/*
 * console_path.c - the static file a console request names, and the
 * session cookie (console_path.h).  Both refuse rather than repair: a
 * path or cookie that is not exactly of the expected shape is not the
 * console's.
 */
#include <string.h>

#include "console_path.h"

#define CONSOLE_MAX_SEGMENTS 3

static const struct {
	const char *ext;
	const char *type;
} console_types[] = {
	{".html", "text/html; charset=utf-8"},
	{".css", "text/css; charset=utf-8"},
	{".js", "text/javascript; charset=utf-8"},
	{".mjs", "text/javascript; charset=utf-8"},
	{".json", "application/json"},
	{".svg", "image/svg+xml"},
	{".png", "image/png"},
	{".ico", "image/x-icon"},
	{".txt", "text/plain; charset=utf-8"},
};

const char *
strata_console_content_type(const char *name)
{
	const char *dot = strrchr(name, '.');
	size_t n = sizeof(console_types) / sizeof(console_types[0]);

	if (dot == NULL || strchr(dot, '/') != NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strcmp(dot, console_types[i].ext) == 0)
			return console_types[i].type;
	return NULL;
}

static int
console_name_byte(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/* Every segment of rel ("a/b.js") non-empty, of name bytes, not
 * starting with '.'; at most CONSOLE_MAX_SEGMENTS of them; no ".."
 * anywhere (harmless inside a name, but no file of ours has one). */
static int
console_segments_ok(const char *rel)
{
	int segments = 0;
	const char *p = rel;

	if (strstr(rel, "..") != NULL)
		return 0;
	while (*p != '\0') {
		size_t n = 0;

		if (++segments > CONSOLE_MAX_SEGMENTS || *p == '.')
			return 0;
		while (p[n] != '\0' && p[n] != '/') {
			if (!console_name_byte(p[n]))
				return 0;
			n++;
		}
		if (n == 0)
			return 0;
		p += n;
		if (*p == '/' && *++p == '\0')
			return 0;   /* a trailing slash: an empty segment */
	}
	return segments > 0;
}

int
strata_console_path(const char *path, char *out, size_t outlen)
{
	const size_t plen = sizeof(STRATA_CONSOLE_PREFIX) - 1;
	const char *rel;

	if (outlen <= STRATA_CONSOLE_NAME_MAX ||
	    strncmp(path, STRATA_CONSOLE_PREFIX, plen) != 0)
		return STRATA_EINVAL;
	rel = path + plen;
	if (*rel == '\0')
		rel = "index.html";
	if (strlen(rel) > STRATA_CONSOLE_NAME_MAX || !console_segments_ok(rel)
	    || strata_console_content_type(rel) == NULL)
		return STRATA_EINVAL;
	strcpy(out, rel);
	return 0;
}

/* Is v (up to its end or ';') exactly 64 lower-case hex digits? */
static int
console_sid_ok(const char *v)
{
	size_t n = strspn(v, "0123456789abcdef");

	return n == STRATA_CONSOLE_SID_LEN && (v[n] == '\0' || v[n] == ';' ||
	    v[n] == ' ');
}

int
strata_console_cookie(const char *header, char sid[STRATA_CONSOLE_SID_LEN + 1])
{
	const size_t nlen = sizeof(STRATA_CONSOLE_COOKIE) - 1;
	const char *p = header, *found = NULL;

	while (*p != '\0') {
		while (*p == ' ' || *p == ';')
			p++;
		if (strncmp(p, STRATA_CONSOLE_COOKIE, nlen) == 0 &&
		    p[nlen] == '=') {
			if (found != NULL)
				return STRATA_EINVAL;   /* twice: ambiguous */
			found = p + nlen + 1;
		}
		p += strcspn(p, ";");
	}
	if (found == NULL || !console_sid_ok(found))
		return STRATA_EINVAL;
	memcpy(sid, found, STRATA_CONSOLE_SID_LEN);
	sid[STRATA_CONSOLE_SID_LEN] = '\0';
	return 0;
}

int
strata_console_host(const char *header, char *out, size_t len)
{
	const char *end;
	size_t n;

	if (header[0] == '[') {          /* [v6]:port */
		end = strchr(header, ']');
		if (end == NULL)
			return STRATA_EINVAL;
		end++;
	} else {
		end = header + strcspn(header, ":");
	}
	n = (size_t)(end - header);
	if (n == 0 || n >= len || strspn(header, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") < n)
		return STRATA_EINVAL;
	memcpy(out, header, n);
	out[n] = '\0';
	return 0;
}
