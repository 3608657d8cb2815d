/*
 * admin.h - what admin.c (HTTP, routing, errors) and the operations
 * (admin_ops.c: the registry; admin_iam.c: the admin identities;
 * admin_rules.c: the topic rules) share.  Not included by the rest of the
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
#define ADMIN_KEY_ID_MAX 32 /* access key ids: [A-Z0-9]{16,32} */
#define ADMIN_TOKEN_MAX 255 /* a bearer secret */
#define ADMIN_SECRET_LEN 40 /* the secrets CreateAccessKey makes */

struct broker_admin {
	struct strata_broker *b;
	struct evhttp *http;
	char token[ADMIN_TOKEN_MAX + 1];
	char boot_id[ADMIN_KEY_ID_MAX + 1];  /* the bootstrap access key */
	char boot_verifier[65], boot_signing[65];
	X509 *ca;                 /* registry-ca-cert, or NULL */
	EVP_PKEY *ca_key;
	char ca_id[BROKER_CERT_ID_LEN + 1];
	struct event *audit_timer; /* due scheduled audits (devaudit) */
	struct admin_auditlog *auditlog; /* admin_auditlog.c */
	int console_fd;           /* the console's static files (a
				     directory), -1: console off */
	char shadow_host[256];    /* shadow-http-url's (admin_shadow.c) */
	uint16_t shadow_port;     /* 0: no shadow calls forwarded */
};

/* What a route acts on, for its resource ARN (admin_auth.c). */
enum admin_resource {
	ADMIN_RES_ANY,          /* "*": lists, creates from a body */
	ADMIN_RES_THING,        /* arn:aws:iot:R:A:thing/<arg> */
	ADMIN_RES_CERT,         /* .../cert/<arg> */
	ADMIN_RES_CACERT,       /* .../cacert/<arg> */
	ADMIN_RES_POLICY,       /* .../policy/<arg> */
	ADMIN_RES_RULE,         /* .../rule/<arg> */
	ADMIN_RES_TOPIC,        /* .../topic/<arg> */
	ADMIN_RES_THING_TYPE,   /* .../thingtype/<arg> */
	ADMIN_RES_THING_GROUP,  /* .../thinggroup/<arg> */
	ADMIN_RES_PROV_TEMPLATE, /* .../provisioningtemplate/<arg> */
	ADMIN_RES_CLIENT,       /* .../client/<arg> */
	ADMIN_RES_INDEX,        /* .../index/<arg>, AWS_Things when the
				   path has none (the index is named in
				   the body, and there is only one) */
	ADMIN_RES_ARN,          /* the parameter is an ARN */
	ADMIN_RES_USER,         /* arn:aws:iam::A:user/<arg> */
	ADMIN_RES_ADMIN_POLICY, /* arn:aws:iam::A:policy/<arg> */
	ADMIN_RES_SHADOW,       /* .../thing/<arg>, .../thing/<arg>/<name>
				   for a named shadow (query "name") */
	ADMIN_RES_TOKEN,        /* "*"; the parameter is itself a credential
				   (a confirmation token): a call without
				   Authorization runs unauthenticated, one
				   with it is checked as any other */
};

struct admin_call;

struct admin_route {
	enum evhttp_cmd_type method;
	const char *pattern;      /* "things/ * /principals": '*' a parameter */
	const char *op;           /* operation name */
	const char *action;       /* IAM action: "iot:CreateThing" */
	enum admin_resource resource;
	void (*handle)(struct admin_call *call);
};
/* Each ends with a NULL pattern. */
extern const struct admin_route admin_routes[];      /* admin_ops.c */
extern const struct admin_route admin_iam_routes[];  /* admin_iam.c */
extern const struct admin_route admin_rule_routes[]; /* admin_rules.c */
extern const struct admin_route admin_dest_routes[]; /* admin_dest.c */
extern const struct admin_route admin_type_routes[]; /* admin_types.c */
extern const struct admin_route admin_group_routes[]; /* admin_groups.c */
extern const struct admin_route admin_prov_routes[]; /* admin_prov.c */
extern const struct admin_route admin_fidx_routes[]; /* admin_fidx.c */
extern const struct admin_route admin_fidx_group_routes[];
extern const struct admin_route admin_audit_routes[]; /* admin_devaudit.c */
extern const struct admin_route admin_detect_routes[]; /* admin_detect.c */
extern const struct admin_route admin_usage_routes[]; /* admin_usage.c */
extern const struct admin_route admin_auditlog_routes[];
                                          /* admin_auditlog.c */
extern const struct admin_route admin_node_routes[]; /* admin_nodes.c */
extern const struct admin_route admin_shadow_routes[]; /* admin_shadow.c */
                                          /* admin_fidx_groups.c */
extern const struct admin_route admin_throttle_routes[]; /* admin_throttle.c */
extern const struct admin_route admin_trace_routes[]; /* admin_trace.c */

struct admin_cred;
struct strata_iam_policy;

/* One request being answered. */
struct admin_call {
	struct strata_broker *b;
	struct evhttp_request *req;
	bool gone;                /* the client went away: do not answer */
	char source[64];          /* the caller's address, for the audit */
	const struct admin_route *route; /* NULL: none matched */
	int route_status;         /* no route: 404 or 405 */
	const char *op;           /* operation name, "?" before routing */
	char arg[ADMIN_MAX_NAME + 1];  /* the first path parameter, decoded */
	char arg2[ADMIN_MAX_NAME + 1]; /* the second, if any */
	struct evkeyvalq query;
	json_t *body;             /* request body, NULL when none */
	void *state;              /* the operation's, freed with the call */
	/* who calls (admin_auth.c): empty before authentication */
	struct admin_cred *cred;
	void (*next)(struct admin_call *call);
	/* a credential refused: called instead of answering 401 (the
	 * console's login counts the failure first), NULL: 401 at once */
	void (*refused)(struct admin_call *call, const char *why);
	char key_id[ADMIN_KEY_ID_MAX + 1];
	char user_arn[160];
	struct strata_iam_policy **pols;
	size_t npols;
	char resource[ADMIN_MAX_NAME + 200]; /* the ARN authorized */
	/* a guarded request of another HTTP API (broker_admin_guard) */
	struct admin_route guard_route;
	char guard_op[64], guard_action[80];  /* its op and action, copied */
	char guard_action2[80];   /* a second action the caller needs on
				     the same resource, or "" */
	broker_admin_allowed_cb allowed;
	void *allowed_ctx;
};

typedef void (*admin_done_cb)(struct admin_call *call, redisReply *reply);

/* {"policies": [{policyName, policyArn}...]} of a reply's names
 * (admin_ops.c). */
void admin_policies_reply(struct admin_call *call, redisReply *reply);
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
/* The hash at key, for done (HGETALL's field/value list), or 404
 * ResourceNotFoundException "<what> <call->arg> does not exist" when
 * there is none (admin.c). */
void admin_describe_hash(struct admin_call *call, const char *key,
    const char *what, admin_done_cb done);
void admin_call_free(struct admin_call *call);
/* Answer 200 with a streamed body (HTTP chunked, content_type): the
 * audit line is written, the call freed, and its request returned, now
 * the caller's (evhttp_send_reply_chunk, _end); NULL when the client went
 * away (the call is freed too). */
struct evhttp_request *admin_stream_start(struct admin_call *call,
    const char *content_type);
const char *admin_query(struct admin_call *call, const char *name);
bool admin_query_true(struct admin_call *call, const char *name);
const char *admin_header(struct admin_call *call, const char *name);
const char *admin_method_name(enum evhttp_cmd_type method);
/* Seconds since the epoch of an integer or an ISO 8601 UTC time
 * (2026-12-03T08:00:00Z, as the AWS CLI sends); -1 when neither. */
long long admin_time(const char *s);

/* ---- admin_auditlog.c: the control plane's audit log ---- */
/* Keep the record of an answered call (Redis stream, file) when it
 * changed something or was refused, or reads are kept too. */
void admin_auditlog_keep(const struct admin_call *call, int status,
    const char *error, const char *resource);
int admin_auditlog_start(struct broker_admin *a);
void admin_auditlog_free(struct broker_admin *a);

/* ---- admin_auth.c ---- */
/* The bootstrap key from the token and admin-bootstrap-key-id ("":
 * derived from the token). */
int admin_auth_init(struct broker_admin *a, const char *configured_id);
/* Authenticate the call; next runs when it passed, else it is answered
 * (401, 503). */
void admin_authenticate(struct admin_call *call,
    void (*next)(struct admin_call *call));
/* May the caller do the route's action on its resource?  False after a
 * 403. */
bool admin_authorize(struct admin_call *call);
void admin_cred_free(struct admin_call *call);
/* Authenticate as the access key id (NULL: the bootstrap key) with its
 * secret (a console login), or, secret NULL, as the key of a console
 * session the caller has checked: the key must still be Active, and
 * its user's policies are loaded as for any call.  next as above. */
void admin_authenticate_key(struct admin_call *call, const char *id,
    const char *secret, void (*next)(struct admin_call *call));
/* A secret's verifier and signing key, hex. */
void admin_key_derive(const char *secret, char verifier[65],
    char signing[65]);
bool admin_key_id_valid(const char *s);

/* ---- admin_ops.c, shared with admin_types.c and admin_groups.c ---- */
/* arn:aws:iot:<region>:<account>:<kind>/<name> */
void admin_iot_arn(struct admin_call *call, char *out, size_t len,
    const char *kind, const char *name);
/* Seconds since the epoch, as text. */
void admin_now(char out[24]);
/* call->arg is a registry name; false after a 400 naming field. */
bool admin_arg_name(struct admin_call *call, const char *field);
/* A string member of the body (NULL: absent); false after a 400. */
bool admin_body_string(struct admin_call *call, json_t *obj,
    const char *field, const char **out);
/* An attributes object within AWS IoT's rules (at most max entries);
 * false after a 400 naming field. */
bool admin_attributes_valid(struct admin_call *call, json_t *attrs,
    size_t max, const char *field);
/* The value of field in a flat HGETALL-style reply, or NULL. */
const char *admin_field(const redisReply *r, const char *field);
/* Answer {} whatever the reply. */
void admin_done_empty(struct admin_call *call, redisReply *reply);

/* ---- admin_types.c: pages of the registry's list calls ---- */
/* maxResults, when given, is 1..250; false after a 400. */
bool admin_page_valid(struct admin_call *call);
/* Put into out[member] the page of items (sorted by name: the string
 * item[key], or the item itself when key is NULL) that nextToken and
 * maxResults ask for, and out["nextToken"] when more follow (the last
 * name of the page: pages stay right while items come and go).  0, or
 * -1 after a 400. */
int admin_page(struct admin_call *call, json_t *items, const char *key,
    const char *member, json_t *out);

/* ---- admin_groups.c: policies on thing groups (AttachPolicy,
 * DetachPolicy, ListAttachedPolicies with a thing group ARN) ---- */
/* The group name of a thing group ARN of this registry, or false (no
 * answer sent) when arn is not one. */
bool admin_group_arn_name(struct admin_call *call, const char *arn,
    char name[ADMIN_MAX_NAME + 1]);
void admin_group_target_policy(struct admin_call *call, const char *group,
    bool attach);
void admin_group_attached_policies(struct admin_call *call,
    const char *group);
/* ---- admin_fidx.c ---- */
/* indexName (absent or AWS_Things: true; else answered 400 or 404). */
bool admin_fidx_index_name(struct admin_call *call, const char *name);

/* ---- admin_devaudit.c: the timer that runs due scheduled audits ---- */
void admin_audit_timer_start(struct broker_admin *a);
void admin_audit_timer_free(struct broker_admin *a);

/* Answer status with body (stolen) as it is: a forwarded answer.  Frees
 * the call. */
void admin_reply_status(struct admin_call *call, int status, json_t *body);

/* ---- admin_shadow.c: shadow calls forwarded to strata-shadowd ---- */
/* Check and keep shadow-http-url.  0 or STRATA_EINVAL. */
int admin_shadow_start(struct broker_admin *a);
#define ADMIN_SHADOW_NAME_MAX 64  /* AWS's limit of a named shadow's */
/* A named shadow's name (the query's "name", NULL: the classic shadow)
 * as AWS takes it: 1 to 64 of [a-zA-Z0-9:_-]. */
bool admin_shadow_name_valid(const char *name);

/* ---- admin_console.c: the web console (docs/internals/console.md) ---- */
/* Open the console directory (console-dir, or the default beside the
 * binary); a missing one leaves the console off.  0 or STRATA_EINVAL. */
int admin_console_start(struct broker_admin *a);
void admin_console_free(struct broker_admin *a);
/* A request under /console/: a static file or the session calls.
 * True when it is one (it is answered). */
bool admin_console_handle(struct admin_call *call, const char *path);
/* A request without Authorization that carries the console cookie:
 * checked (Origin, session, CSRF token) and authenticated as the
 * session's key, then next; else answered 401 / 403.  False when the
 * request has no console cookie (nothing done). */
bool admin_console_authenticate(struct admin_call *call,
    void (*next)(struct admin_call *call));
/* admin.c's body reader: none is NULL; false after answering 400/413. */
bool admin_read_body(struct admin_call *call);

/* ---- admin_iam.c ---- */
void admin_iam_arn(struct admin_call *call, char *out, size_t len,
    const char *kind, const char *name);

#endif
