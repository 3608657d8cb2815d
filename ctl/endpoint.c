/*
 * endpoint.c - parsing the admin API's URL (see endpoint.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>

#include "endpoint.h"

static char *
endpoint_printf(const char *fmt, const char *a, const char *b)
{
	char *s;

	if (asprintf(&s, fmt, a, b) < 0)
		abort();
	return s;
}

/* host without the brackets of an IPv6 literal */
static char *
endpoint_host(const char *host)
{
	size_t n = strlen(host);

	if (n >= 2 && host[0] == '[' && host[n - 1] == ']')
		return strndup(host + 1, n - 2);
	return strdup(host);
}

static int
endpoint_fill(struct ctl_endpoint *ep, const struct evhttp_uri *uri)
{
	const char *host = evhttp_uri_get_host(uri);
	const char *path = evhttp_uri_get_path(uri);
	int port = evhttp_uri_get_port(uri);
	char port_text[16] = "";
	size_t n;

	if ((ep->host = endpoint_host(host)) == NULL)
		abort();
	ep->port = port >= 0 ? port : ep->tls ? 443 : 80;
	if (port >= 0)
		snprintf(port_text, sizeof(port_text), ":%d", port);
	ep->authority = endpoint_printf("%s%s", host, port_text);
	ep->origin = endpoint_printf("%s://%s", ep->tls ? "https" : "http",
	    ep->authority);
	n = path != NULL ? strlen(path) : 0;
	while (n > 0 && path[n - 1] == '/')
		n--;
	if ((ep->base_path = strndup(path != NULL ? path : "", n)) == NULL)
		abort();
	return 0;
}

int
ctl_endpoint_parse(struct ctl_endpoint *ep, const char *url,
    struct ctl_error *err)
{
	struct evhttp_uri *uri = evhttp_uri_parse(url);
	const char *scheme = uri != NULL ? evhttp_uri_get_scheme(uri) : NULL;
	const char *host = uri != NULL ? evhttp_uri_get_host(uri) : NULL;
	int rc;

	memset(ep, 0, sizeof(*ep));
	if (scheme == NULL || host == NULL || *host == '\0' ||
	    (strcasecmp(scheme, "http") != 0 &&
		strcasecmp(scheme, "https") != 0) ||
	    evhttp_uri_get_query(uri) != NULL ||
	    evhttp_uri_get_fragment(uri) != NULL ||
	    evhttp_uri_get_userinfo(uri) != NULL) {
		rc = ctl_error_set(err, CTL_EXIT_USAGE, "Bad value for "
		    "--endpoint-url \"%s\": must be of the form "
		    "http://<hostname>[:<port>]/ or "
		    "https://<hostname>[:<port>]/",
		    url);
	} else {
		ep->tls = strcasecmp(scheme, "https") == 0;
		rc = endpoint_fill(ep, uri);
	}
	if (uri != NULL)
		evhttp_uri_free(uri);
	return rc;
}

void
ctl_endpoint_clear(struct ctl_endpoint *ep)
{
	free(ep->host);
	free(ep->authority);
	free(ep->origin);
	free(ep->base_path);
	memset(ep, 0, sizeof(*ep));
}
