/*
 * policy.h - AWS IoT Core policies: parse, bind to a connection, check.
 *
 * Three steps, each with its own owner:
 *
 *   1. strata_policy_parse() turns a policy document (JSON) into a compiled
 *      policy, or refuses it with the line and column of a JSON syntax
 *      error or the JSON path of a semantic one.  Once per document.
 *   2. strata_policy_bind() takes the policies attached to one connection
 *      and that connection's variables (client id, thing, certificate),
 *      substitutes the ${...} variables, evaluates the Condition blocks
 *      (they only read the connection's own keys) and keeps, for each
 *      action, the resource patterns of the statements that still apply.
 *      Once per connection, again when a policy or the thing changes.
 *   3. strata_policy_check() decides one (action, resource) against a
 *      bound set: explicit Deny beats Allow, default deny.  Per packet; it
 *      does not allocate.
 *
 * Ownership: a set copies everything it needs and holds no reference to
 * the policies it was bound from, so a changed or deleted policy can be
 * freed at once while connections still hold sets made from it (they keep
 * the old decision until rebound).  Compiled policies are immutable after
 * parsing: one may be bound by any number of connections.
 *
 * Semantics and every difference from AWS IoT Core: docs/internals/policy.md.
 * Nothing here is thread-safe beyond that immutability.
 */
#ifndef STRATA_POLICY_H
#define STRATA_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* The actions Strata enforces, as a bit set: the MQTT ones (broker) and
 * the Device Shadow REST API's and the data plane's (shadowd's HTTPS
 * listener).  Other iot:
 * actions in a document (iot:DescribeJobExecution, ...) are accepted and
 * ignored. */
enum {
	STRATA_IOT_CONNECT = 1,
	STRATA_IOT_PUBLISH = 2,
	STRATA_IOT_SUBSCRIBE = 4,
	STRATA_IOT_RECEIVE = 8,
	STRATA_IOT_RETAIN_PUBLISH = 16,
	STRATA_IOT_GET_THING_SHADOW = 32,
	STRATA_IOT_UPDATE_THING_SHADOW = 64,
	STRATA_IOT_DELETE_THING_SHADOW = 128,
	STRATA_IOT_LIST_NAMED_SHADOWS = 256,
	STRATA_IOT_GET_RETAINED_MESSAGE = 512,     /* the data-plane API */
	STRATA_IOT_LIST_RETAINED_MESSAGES = 1024,
};

/* AWS's limit: 2048 characters, white space not counted. */
#define STRATA_POLICY_MAX_CHARS 2048

/* One compiled policy document. */
struct strata_policy;

/*
 * Why a document was refused.  A JSON syntax error has line and column
 * (jansson's, from 1) and an empty path; any other error has line and
 * column 0 and the JSON path of the offending element, e.g.
 * "Statement[1].Effect" or "Statement.Condition.StringEquals" (no index
 * when Statement is a single object; "" for the document as a whole).
 * message is one English sentence without a trailing period.  Both
 * strings are always NUL-terminated; a long path is cut.
 */
struct strata_policy_error {
	int line, column;
	char path[128];
	char message[256];
};

/*
 * Parse and validate a document of len bytes (no NUL needed).  Returns
 * the compiled policy, owned by the caller (strata_policy_free), or NULL
 * with *err filled (err may be NULL).  Refuses: invalid JSON, duplicate
 * keys, more than STRATA_POLICY_MAX_CHARS characters outside white space,
 * and anything docs/internals/policy.md lists as not supported.
 */
struct strata_policy *strata_policy_parse(
    const char *doc, size_t len, struct strata_policy_error *err);
void strata_policy_free(struct strata_policy *pol);

/*
 * What the policy variables and condition keys of one connection resolve
 * to.  A NULL field (or a NULL cert_field answer) does not resolve: a
 * resource using it matches nothing, a condition value using it equals
 * nothing, and a condition on that key sees the key as absent.  Only read
 * during strata_policy_bind(); nothing is kept.
 */
struct strata_policy_vars {
	const char *client_id;       /* iot:ClientId */
	const char *thing_name;      /* iot:Connection.Thing.ThingName */
	const char *thing_type_name; /* iot:Connection.Thing.ThingTypeName */
	bool is_attached;            /* iot:Connection.Thing.IsAttached */
	/* iot:Connection.Thing.Attributes[NAME]: a JSON object whose string
	 * members are the thing's attributes, or NULL. */
	const json_t *thing_attributes;
	/*
	 * iot:Certificate.NAME: the value of one certificate field, or NULL
	 * when the certificate has none.  name is what follows
	 * "iot:Certificate." in its canonical spelling: "SerialNumber",
	 * "Subject.CommonName", "Issuer.Organization",
	 * "Subject.AlternativeName.DNSName", ... (the list is in policy.md),
	 * optionally with an index ".1" to ".4" for the 2nd to 5th value of a
	 * field that has several.  Answers must stay valid until
	 * strata_policy_bind() returns.  cert_field NULL: no certificate
	 * field resolves.
	 */
	const char *(*cert_field)(void *ctx, const char *name);
	void *cert_ctx;
};

/* The policies of one connection, bound to its variables. */
struct strata_policy_set;

/*
 * Bind the n policies pols[0..n-1] (n may be 0, NULL entries are skipped;
 * vars may be NULL: nothing resolves).  Never NULL: allocation failure
 * aborts (the sizes are bounded by the document limit and the variables'
 * lengths).  The result is independent of pols, which may be freed right
 * after.
 */
struct strata_policy_set *strata_policy_bind(struct strata_policy *const *pols,
    size_t n, const struct strata_policy_vars *vars);
void strata_policy_set_free(struct strata_policy_set *set);

enum strata_policy_decision {
	STRATA_POLICY_DENY_DEFAULT = 0, /* no statement allows it */
	STRATA_POLICY_ALLOW,            /* an Allow matches, no Deny does */
	STRATA_POLICY_DENY_EXPLICIT,    /* a Deny matches */
};

/*
 * Decide one action (exactly one STRATA_IOT_* bit; anything else gives
 * STRATA_POLICY_DENY_DEFAULT) on a resource, a full ARN as NUL-terminated
 * UTF-8: "arn:aws:iot:REGION:ACCOUNT:client/ID", ".../topic/NAME" for
 * Publish, Receive and RetainPublish, ".../topicfilter/FILTER" for
 * Subscribe, ".../thing/THING" or ".../thing/THING/SHADOW" for the
 * shadow actions.  Does not allocate.
 */
enum strata_policy_decision strata_policy_check(
    const struct strata_policy_set *set, int action, const char *resource);

#endif
