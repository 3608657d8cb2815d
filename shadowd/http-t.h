/*
 * http-t.h - the types of shadowd's HTTP listeners, shared by http.c (the
 * listeners, the Device Shadow REST API) and dataplane.c (Publish and the
 * retained-message API on the same listeners).
 */
#ifndef STRATA_SHADOWD_HTTP_T_H
#define STRATA_SHADOWD_HTTP_T_H

#include <sys/queue.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "dataplane.h"
#include "shadowd.h"

#define HTTP_THING_MAX 128
#define HTTP_SHADOW_MAX 64
/* Statuses counted in strata_shadowd_http_requests_total (http.c's
 * http_codes), plus code="other". */
#define HTTP_N_CODES 12

struct shadowd_http {
	struct shadowd *sd;
	struct evhttp *http;
	struct evhttp_bound_socket *socket;
	enum shadowd_http_auth auth;
	const char *listener;        /* "http" or "https" */
	TAILQ_HEAD(, http_call) calls; /* not answered yet */
	uint64_t *requests[HTTP_N_CODES + 1];
};

enum http_route {
	HTTP_ROUTE_SHADOW,           /* /things/T/shadow */
	HTTP_ROUTE_LIST,             /* ListNamedShadowsForThing */
	HTTP_ROUTE_PUBLISH,          /* POST /topics/TOPIC */
	HTTP_ROUTE_RETAINED,         /* GET /retainedMessage/TOPIC */
	HTTP_ROUTE_RETAINED_LIST,    /* GET /retainedMessage */
};

struct http_call {
	TAILQ_ENTRY(http_call) link; /* in h->calls */
	struct shadowd_http *h;      /* NULL: the listener was freed */
	struct evhttp_request *req;
	bool gone;                   /* the connection closed first */
	const char *allow;           /* a 405's Allow header */
	struct evkeyvalq query;
	char thing[HTTP_THING_MAX + 1];
	char name[HTTP_SHADOW_MAX + 1];  /* "" for the classic shadow */
	size_t offset;               /* ListNamedShadowsForThing's page */
	size_t page_size;
	enum http_route route;
	int op;                      /* enum shadowd_op */
	struct admin_call *admin;    /* http-auth iam: the caller, audited
					when the call ends */
	int status;                  /* the answer's, for that audit */
	/* the data plane (dataplane.c) */
	char topic[STRATA_DATAPLANE_TOPIC_MAX + 1];
	struct strata_dataplane_publish pub;
	bool retain_asked;           /* HTTPS: iot:RetainPublish asked too */
	bool publishing;             /* counted in sd->publishing */
	size_t max_results;          /* ListRetainedMessages */
	struct strata_dataplane_token at;   /* where the page goes on */
	json_t *page;                /* its retainedTopics so far */
};

/* ---- http.c, for dataplane.c ---- */
/* Answer body (only read) with status and free the call (only free it
 * when the client is gone). */
void shadowd_http_send(struct http_call *call, int status,
    const json_t *body);
/* An error in AWS's REST shape: {"message"} and the x-amzn-ErrorType
 * header naming the exception. */
void shadowd_http_fail(struct http_call *call, int status,
    const char *type, const char *message);
/* The caller is allowed: run the route. */
void shadowd_http_run(struct http_call *call);
/* broker_admin_guard's verdict (http-auth iam). */
void shadowd_http_allowed(struct admin_call *admin, void *arg);
/* The TLS client certificate of the call's connection, or NULL. */
struct x509_st *shadowd_http_peer(struct http_call *call);

/* ---- dataplane.c ---- */
/* Publish, GetRetainedMessage, ListRetainedMessages: false when path is
 * none of theirs; true when the call was taken (answered or on its
 * way). */
bool shadowd_dataplane_handle(struct http_call *call, const char *path);
/* The caller is allowed: do it. */
void shadowd_dataplane_run(struct http_call *call);

#endif
