/*
 * admin.h - what admin.c (HTTP, routing, errors) and admin_ops.c (the
 * operations on the registry) share.  Not included by the rest of the
 * broker, which knows only broker_admin_start() / broker_admin_free().
 */
#ifndef BROKER_ADMIN_H
#define BROKER_ADMIN_H

#include <stdbool.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "broker.h"

#define ADMIN_MAX_NAME 256 /* a path segment (decoded) */
#define ADMIN_MAX_ARGS 16  /* keys + arguments of one script */

struct broker_admin {
	struct strata_broker *b;
	struct evhttp *http;
	char token[256];
	X509 *ca;                 /* registry-ca-cert, or NULL */
	EVP_PKEY *ca_key;
	char ca_id[BROKER_CERT_ID_LEN + 1];
};

/* One request being answered. */
struct admin_call {
	struct strata_broker *b;
	struct evhttp_request *req;
	bool gone;                /* the client went away: do not answer */
	bool authorized;          /* the bearer token was right */
	char source[64];          /* the caller's address, for the audit */
	const char *op;           /* AWS operation name */
	char arg[ADMIN_MAX_NAME + 1]; /* the path parameter, decoded */
	struct evkeyvalq query;
	json_t *body;             /* request body, NULL when none */
	void *state;              /* the operation's, freed with the call */
};

struct admin_route {
	enum evhttp_cmd_type method;
	const char *pattern;      /* "things/ * /principals", '*' the arg */
	const char *op;
	void (*handle)(struct admin_call *call);
};
extern const struct admin_route admin_routes[]; /* ends with NULL */

typedef void (*admin_done_cb)(struct admin_call *call, redisReply *reply);

/* Answer 200 with body (stolen; NULL: {}), or an error; both free the
 * call. */
void admin_reply(struct admin_call *call, json_t *body);
void admin_error(struct admin_call *call, int status, const char *type,
    const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* EVAL script with nkeys keys then arguments (argc of both together).
 * done runs with a reply that is not an error; Redis down answers 503
 * and a script error "<Kind> <message>" its status (admin.c). */
void admin_eval(struct admin_call *call, const char *script, int nkeys,
    int argc, const char **argv, admin_done_cb done);
void admin_call_free(struct admin_call *call);
const char *admin_query(struct admin_call *call, const char *name);
bool admin_query_true(struct admin_call *call, const char *name);
const char *admin_header(struct admin_call *call, const char *name);

#endif
