/*
 * iam_policy.h - IAM identity policies of the admin API: parse, check.
 *
 * Two steps, as in IAM:
 *
 *   1. strata_iam_policy_parse() compiles a policy document (JSON) or
 *      refuses it with the line and column of a JSON syntax error or the
 *      JSON path of any other one.  Once per document: when an admin
 *      policy is created (the refusal is the MalformedPolicyDocument
 *      answer), and when the policies of a caller are read.
 *   2. strata_iam_policy_check() decides one admin call (action, resource
 *      and the request's condition keys) against the policies attached to
 *      its caller: an explicit Deny in any of them wins, then any Allow,
 *      else the default deny.  Per call; it does not allocate.
 *
 * Ownership: the caller owns a compiled policy and frees it with
 * strata_iam_policy_free().  A compiled policy is immutable: any number of
 * checks (from any thread) may read it at once.  A request is only read
 * during the check; nothing of it is kept.
 *
 * Semantics and every difference from IAM: docs/internals/admin-policy.md.
 * The device policies of AWS IoT Core are another engine (policy.h); this
 * one shares its error struct, its decision enum and its glob matcher.
 */
#ifndef STRATA_IAM_POLICY_H
#define STRATA_IAM_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "policy.h"

/* IAM's limit for a managed policy: 6144 characters, white space not
 * counted (a UTF-8 sequence counts once). */
#define STRATA_IAM_POLICY_MAX_CHARS 6144

/* One compiled IAM identity policy. */
struct strata_iam_policy;

/*
 * Parse and validate a document of len bytes (no NUL needed).  Returns
 * the compiled policy, owned by the caller, or NULL with *err filled (err
 * may be NULL): line and column (from 1) and an empty path for invalid
 * JSON or a duplicate key; line and column 0 and the JSON path of the
 * element ("Statement[1].Condition.IpAddress.aws:SourceIp[0]"; no index
 * when Statement is one object; "" for the document as a whole) for
 * anything else: more than STRATA_IAM_POLICY_MAX_CHARS characters, an
 * element, operator or condition key this engine does not know, a value
 * it cannot read.  Allocation failure aborts (sizes are bounded by the
 * character limit).
 */
struct strata_iam_policy *strata_iam_policy_parse(
    const char *doc, size_t len, struct strata_policy_error *err);
void strata_iam_policy_free(struct strata_iam_policy *pol);

/* What one admin call is, as its policies see it. */
struct strata_iam_request {
	const char *action;   /* "iot:UpdateCertificate", "iam:CreateUser" */
	const char *resource; /* the full ARN, or "*" for calls with none */
	/* aws:SourceIp, "127.0.0.1" or "::1" (an IPv4-mapped IPv6 address is
	 * read as the IPv4 one); NULL or unparsable: the key is absent */
	const char *source_ip;
	long long now; /* aws:CurrentTime, epoch seconds */
	bool
	    secure_transport; /* aws:SecureTransport: the call came over TLS */
};

/*
 * Decide req against the n policies pols[0..n-1] (n may be 0; NULL
 * entries are skipped, e.g. a stored policy that no longer parses).
 * STRATA_POLICY_DENY_EXPLICIT if a Deny statement of any policy applies,
 * else STRATA_POLICY_ALLOW if an Allow statement does, else
 * STRATA_POLICY_DENY_DEFAULT (also for a NULL req, action or resource).
 * Does not allocate.
 */
enum strata_policy_decision strata_iam_policy_check(
    struct strata_iam_policy *const *pols, size_t n,
    const struct strata_iam_request *req);

#endif
