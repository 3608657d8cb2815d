/*
 * provtemplate.h - AWS IoT provisioning templates: check one, evaluate
 * one with parameters into what it provisions.
 *
 * A template is AWS's JSON (Parameters, Mappings, Conditions, Resources,
 * DeviceConfiguration; the functions Ref, Fn::Join, Fn::Sub, Fn::If,
 * Fn::FindInMap, Fn::Split, Fn::Select, Fn::Equals, Fn::And, Fn::Or,
 * Fn::Not).  The language and every difference from AWS:
 * docs/internals/fleet-provisioning.md.
 *
 * Used by just-in-time provisioning (broker/jitp.c) and fleet
 * provisioning (broker/fleet.c).  Pure: no I/O; jansson values in, a plan
 * out.
 */
#ifndef STRATA_PROVTEMPLATE_H
#define STRATA_PROVTEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define STRATA_PROVTEMPLATE_MAX_DEPTH 32     /* nested values */
#define STRATA_PROVTEMPLATE_MAX_STRING 65536 /* one value's length */
#define STRATA_PROVTEMPLATE_MAX_STEPS 100000 /* functions evaluated */

/* What a template provisions.  Every pointer is owned by the plan. */
struct strata_provtemplate_plan {
	char *thing;          /* ThingName; NULL: no thing resource */
	char *thing_type;     /* NULL: none */
	json_t *groups;       /* array of group names (never NULL) */
	char *attributes;     /* JSON object text (never NULL) */
	bool has_cert;        /* a certificate resource */
	char *cert_status;    /* "ACTIVE" or "INACTIVE" (never NULL) */
	char *policy_name;    /* NULL: no policy resource */
	char *policy_doc;     /* NULL: PolicyName only (an existing one) */
	json_t *device_config; /* object (never NULL) */
};

/* Check tmpl as the admin API stores it: every section, type, function,
 * parameter, condition and mapping name is known, in either branch of
 * every Fn::If.  0, or -1 with err set (a sentence naming the part). */
int strata_provtemplate_check(const json_t *tmpl, char *err, size_t errlen);

/* Evaluate tmpl into plan with params (an object of name -> string: the
 * declared parameters' values and the pseudo parameters
 * "AWS::IoT::Certificate::Id", "...::CommonName", ...; the caller sets
 * the pseudo ones last, so that a device cannot choose them).  A policy
 * given by document only is named policy_prefix and the first 16 hex
 * digits of the document's SHA-256.  0, or -1 with err set and plan
 * empty.  The plan is freed with strata_provtemplate_plan_free either
 * way. */
int strata_provtemplate_eval(const json_t *tmpl, const json_t *params,
    const char *policy_prefix, struct strata_provtemplate_plan *plan,
    char *err, size_t errlen);
void strata_provtemplate_plan_free(struct strata_provtemplate_plan *plan);

/* Is name one of the pseudo parameters a caller supplies
 * ("AWS::IoT::Certificate::Id", "::CommonName", ...)? */
bool strata_provtemplate_pseudo(const char *name);

/* Registry names (thing, type, group, policy): [a-zA-Z0-9:_-]{1,128}. */
bool strata_provtemplate_name_valid(const char *s);

#endif
