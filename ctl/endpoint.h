/*
 * endpoint.h - the URL of the admin API or of the shadow API
 * (--endpoint-url, STRATA_ADMIN_URL or STRATA_DATA_URL):
 * http://HOST[:PORT][/BASE] or https://..., HOST a name, an IPv4 address
 * or a bracketed IPv6 one.  Requests go to BASE + the operation's path.
 */
#ifndef STRATA_CTL_ENDPOINT_H
#define STRATA_CTL_ENDPOINT_H

#include <stdbool.h>

#include "ctl.h"

struct ctl_endpoint {
	bool tls;          /* https */
	char *host;        /* without brackets */
	int port;          /* given, or 80 / 443 */
	char *authority;   /* the Host header: host[:port] as written */
	char *origin;      /* scheme://authority, for messages */
	char *base_path;   /* "" or "/base", no trailing '/' */
};

/* Parse url into ep (all strings owned).  Returns 0, or -1 with err (252:
 * not an http or https URL with a host, or a query or fragment). */
int ctl_endpoint_parse(struct ctl_endpoint *ep, const char *url,
    struct ctl_error *err);

void ctl_endpoint_clear(struct ctl_endpoint *ep);

#endif
