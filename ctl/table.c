/*
 * table.c - the commands of stratactl (see table.h), in the order of the
 * operations table of docs/internals/admin-api.md, then those of the
 * identity operations of docs/internals/admin-authz.md (section 4), then
 * the shadow operations of docs/internals/shadowd-http.md (`aws
 * iot-data`).
 */
#include <string.h>

#include "table.h"

/* clang-format off: a table reads best with one flag per line. */

/* Flags that several commands share. */
#define THING_NAME                                                          \
	{ "thing-name", "thingName", CTL_PATH, CTL_STRING, CTL_REQUIRED }
#define CERTIFICATE_ID                                                      \
	{ "certificate-id", "certificateId", CTL_PATH, CTL_STRING,          \
		CTL_REQUIRED }
#define CA_CERTIFICATE_ID                                                   \
	{ "certificate-id", "caCertificateId", CTL_PATH, CTL_STRING,        \
		CTL_REQUIRED }
#define POLICY_NAME                                                         \
	{ "policy-name", "policyName", CTL_PATH, CTL_STRING, CTL_REQUIRED }
#define TARGET_BODY                                                         \
	{ "target", "target", CTL_BODY, CTL_STRING, CTL_REQUIRED }
#define PRINCIPAL                                                           \
	{ "principal", "x-amzn-principal", CTL_HEADER, CTL_STRING,          \
		CTL_REQUIRED }
#define SET_AS_ACTIVE                                                       \
	{ "set-as-active", "setAsActive", CTL_QUERY, CTL_BOOLEAN, 0 }
#define ATTRIBUTE_PAYLOAD                                                   \
	{ "attribute-payload", "attributePayload", CTL_BODY,                \
		CTL_ATTRIBUTES, CTL_FILE }
#define REGISTRATION_CONFIG                                                 \
	{ "registration-config", "registrationConfig", CTL_BODY,            \
		CTL_OBJECT, CTL_FILE }
/* Thing types and thing groups (fleet-groups.md). */
#define THING_TYPE_NAME                                                     \
	{ "thing-type-name", "thingTypeName", CTL_PATH, CTL_STRING,         \
		CTL_REQUIRED }
#define THING_GROUP_NAME                                                    \
	{ "thing-group-name", "thingGroupName", CTL_PATH, CTL_STRING,       \
		CTL_REQUIRED }
#define THING_GROUP_PROPERTIES(req)                                         \
	{ "thing-group-properties", "thingGroupProperties", CTL_BODY,       \
		CTL_OBJECT, (req) | CTL_FILE }
#define RECURSIVE { "recursive", "recursive", CTL_QUERY, CTL_BOOLEAN, 0 }
#define OVERRIDE_DYNAMIC_GROUPS                                             \
	{ "override-dynamic-groups", "overrideDynamicGroups", CTL_BODY,     \
		CTL_BOOLEAN, 0 }
/* AddThingToThingGroup, RemoveThingFromThingGroup: by name or ARN */
#define GROUP_MEMBER_FLAGS                                                  \
	{ "thing-group-name", "thingGroupName", CTL_BODY, CTL_STRING, 0 },  \
	{ "thing-group-arn", "thingGroupArn", CTL_BODY, CTL_STRING, 0 },    \
	{ "thing-name", "thingName", CTL_BODY, CTL_STRING, 0 },             \
	{ "thing-arn", "thingArn", CTL_BODY, CTL_STRING, 0 }
/* The target of a throttle limits command: a thing group or a thing
 * type, one of the two. */
#define THROTTLE_TARGET                                                     \
	{ "thing-group-name", "thing-groups", CTL_PATH_TAIL, CTL_STRING,    \
		0 },                                                        \
	{ "thing-type-name", "thing-types", CTL_PATH_TAIL, CTL_STRING, 0 }
/* Paging: accepted and passed on; the admin API returns every list whole
 * but the topic rules' (rules-admin.md), the shadow API's list of names
 * pages (shadowd-http.md). */
#define MAX_RESULTS                                                         \
	{ "max-results", "maxResults", CTL_QUERY, CTL_INTEGER, 0 }
#define NEXT_TOKEN { "next-token", "nextToken", CTL_QUERY, CTL_STRING, 0 }
#define PAGE_SIZE { "page-size", "pageSize", CTL_QUERY, CTL_INTEGER, 0 }
#define MARKER { "marker", "marker", CTL_QUERY, CTL_STRING, 0 }
#define SCHEDULED_AUDIT_NAME                                                \
	{ "scheduled-audit-name", "scheduledAuditName", CTL_PATH,           \
		CTL_STRING, CTL_REQUIRED }
/* Device Defender Detect (detect.md). */
#define SECURITY_PROFILE_NAME                                               \
	{ "security-profile-name", "securityProfileName", CTL_PATH,         \
		CTL_STRING, CTL_REQUIRED }
#define SECURITY_PROFILE_TARGET_ARN                                         \
	{ "security-profile-target-arn", "securityProfileTargetArn",        \
		CTL_QUERY, CTL_STRING, CTL_REQUIRED }
#define SECURITY_PROFILE_BODY                                               \
	{ "security-profile-description", "securityProfileDescription",     \
		CTL_BODY, CTL_STRING, 0 },                                  \
	{ "behaviors", "behaviors", CTL_BODY, CTL_JSON, CTL_FILE },         \
	{ "alert-targets", "alertTargets", CTL_BODY, CTL_OBJECT, CTL_FILE }, \
	{ "additional-metrics-to-retain-v2", "additionalMetricsToRetainV2", \
		CTL_BODY, CTL_JSON, CTL_FILE },                             \
	{ "mitigation-actions", "mitigationActions", CTL_BODY, CTL_LIST, 0 }
#define EXPECTED_VERSION                                                    \
	{ "expected-version", "expectedVersion", CTL_QUERY, CTL_INTEGER, 0 }
#define ACTION_NAME                                                         \
	{ "action-name", "actionName", CTL_PATH, CTL_STRING, CTL_REQUIRED }
#define VIOLATION_FILTERS                                                   \
	{ "thing-name", "thingName", CTL_QUERY, CTL_STRING, 0 },            \
	{ "security-profile-name", "securityProfileName", CTL_QUERY,        \
		CTL_STRING, 0 },                                            \
	{ "behavior-criteria-type", "behaviorCriteriaType", CTL_QUERY,      \
		CTL_STRING, 0 },                                            \
	{ "list-suppressed-alerts", "listSuppressedAlerts", CTL_QUERY,      \
		CTL_BOOLEAN, 0 },                                           \
	MAX_RESULTS, NEXT_TOKEN
/* Topic rules, with `aws iot`'s flags: the payload is the whole body (the
 * API's payload member), JSON, checked before it is sent. */
#define RULE_NAME                                                           \
	{ "rule-name", "ruleName", CTL_PATH, CTL_STRING, CTL_REQUIRED }
#define TOPIC_RULE_PAYLOAD                                                  \
	{ "topic-rule-payload", "topicRulePayload", CTL_BODY_WHOLE,         \
		CTL_RULE_PAYLOAD, CTL_REQUIRED | CTL_FILE }
/* Topic rule destinations: the ARN is one encoded path segment. */
#define DESTINATION_ARN_PATH                                                \
	{ "arn", "arn", CTL_PATH, CTL_STRING, CTL_REQUIRED }
/* Provisioning templates (fleet-provisioning.md). */
#define TEMPLATE_NAME                                                       \
	{ "template-name", "templateName", CTL_PATH, CTL_STRING,            \
		CTL_REQUIRED }
#define TEMPLATE_DESCRIPTION                                                \
	{ "description", "description", CTL_BODY, CTL_STRING, 0 }
#define TEMPLATE_ENABLED                                                    \
	{ "enabled", "enabled", CTL_BODY, CTL_BOOLEAN, 0 }
#define PROVISIONING_ROLE_ARN                                               \
	{ "provisioning-role-arn", "provisioningRoleArn", CTL_BODY,         \
		CTL_STRING, 0 }
#define PRE_PROVISIONING_HOOK                                               \
	{ "pre-provisioning-hook", "preProvisioningHook", CTL_BODY,         \
		CTL_OBJECT, CTL_FILE }
/* Admin identities, with IAM's flag names.  A path variable's name shows
 * only in help: the wire has its value alone. */
#define USER_NAME                                                           \
	{ "user-name", "userName", CTL_PATH, CTL_STRING, CTL_REQUIRED }
#define ACCESS_KEY_ID                                                       \
	{ "access-key-id", "accessKeyId", CTL_PATH, CTL_STRING,             \
		CTL_REQUIRED }
/* Shadows, with `aws iot-data`'s flags: the shadow's name goes in the
 * query (none: the classic shadow); the document sent (--payload) is the
 * whole body, and the document answered is written, as it came, to the
 * positional outfile. */
#define SHADOW_NAME                                                         \
	{ "shadow-name", "name", CTL_QUERY, CTL_STRING, CTL_NOT_EMPTY }
#define SHADOW_PAYLOAD                                                      \
	{ "payload", "payload", CTL_PAYLOAD, CTL_BLOB,                      \
		CTL_REQUIRED | CTL_FILE }
#define SHADOW_OUTFILE                                                      \
	{ "outfile", "payload", CTL_PAYLOAD_OUTFILE, CTL_STRING,            \
		CTL_REQUIRED }

/* Fleet indexing, with `aws iot`'s flags: the query operations name the
 * index and carry the query in the body. */
#define INDEX_NAME_BODY                                                     \
	{ "index-name", "indexName", CTL_BODY, CTL_STRING, 0 }
#define QUERY_STRING                                                        \
	{ "query-string", "queryString", CTL_BODY, CTL_STRING,              \
		CTL_REQUIRED }
#define QUERY_VERSION                                                       \
	{ "query-version", "queryVersion", CTL_BODY, CTL_STRING, 0 }
#define DYN_GROUP_NAME                                                    \
	{ "thing-group-name", "thingGroupName", CTL_PATH, CTL_STRING,       \
		CTL_REQUIRED }
#define DYN_GROUP_PROPERTIES                                              \
	{ "thing-group-properties", "thingGroupProperties", CTL_BODY,       \
		CTL_OBJECT, CTL_FILE }
#define AGGREGATION_FIELD                                                   \
	{ "aggregation-field", "aggregationField", CTL_BODY, CTL_STRING, 0 }

/* Rows leave out a flag's choices unless it has some: C makes the member
 * NULL, and writing NULL on every other flag would only lengthen rows. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

const struct ctl_command ctl_table_commands[] = {
	{ "create-thing", "CreateThing", EVHTTP_REQ_POST,
	    "/things/{thingName}", "Create a thing.",
	    { THING_NAME,
		{ "thing-type-name", "thingTypeName", CTL_BODY, CTL_STRING,
		    0 },
		ATTRIBUTE_PAYLOAD } },
	{ "describe-thing", "DescribeThing", EVHTTP_REQ_GET,
	    "/things/{thingName}", "Show a thing.", { THING_NAME } },
	{ "list-things", "ListThings", EVHTTP_REQ_GET, "/things",
	    "List things, of a type or with an attribute.",
	    { { "attribute-name", "attributeName", CTL_QUERY, CTL_STRING,
		  0 },
		{ "attribute-value", "attributeValue", CTL_QUERY, CTL_STRING,
		    0 },
		{ "thing-type-name", "thingTypeName", CTL_QUERY, CTL_STRING,
		    0 },
		MAX_RESULTS, NEXT_TOKEN } },
	{ "update-thing", "UpdateThing", EVHTTP_REQ_PATCH,
	    "/things/{thingName}",
	    "Change a thing's type or attributes.",
	    { THING_NAME,
		{ "thing-type-name", "thingTypeName", CTL_BODY, CTL_STRING,
		    0 },
		{ "remove-thing-type", "removeThingType", CTL_BODY,
		    CTL_BOOLEAN, 0 },
		ATTRIBUTE_PAYLOAD,
		{ "expected-version", "expectedVersion", CTL_BODY,
		    CTL_INTEGER, 0 } } },
	{ "delete-thing", "DeleteThing", EVHTTP_REQ_DELETE,
	    "/things/{thingName}", "Delete a thing.",
	    { THING_NAME,
		{ "expected-version", "expectedVersion", CTL_QUERY,
		    CTL_INTEGER, 0 } } },
	{ "create-keys-and-certificate", "CreateKeysAndCertificate",
	    EVHTTP_REQ_POST, "/keys-and-certificate",
	    "Make a key pair and a CA-signed certificate.",
	    { SET_AS_ACTIVE,
		{ "certificate-pem-outfile", "certificatePem", CTL_OUTFILE,
		    CTL_STRING, 0 },
		{ "public-key-outfile", "keyPair.PublicKey", CTL_OUTFILE,
		    CTL_STRING, 0 },
		{ "private-key-outfile", "keyPair.PrivateKey", CTL_OUTFILE,
		    CTL_STRING, CTL_PRIVATE } } },
	{ "register-ca-certificate", "RegisterCACertificate",
	    EVHTTP_REQ_POST, "/cacertificate",
	    "Register the CA of some device certificates.",
	    { { "ca-certificate", "caCertificate", CTL_BODY, CTL_STRING,
		  CTL_REQUIRED | CTL_FILE },
		SET_AS_ACTIVE,
		{ "allow-auto-registration", "allowAutoRegistration",
		    CTL_QUERY, CTL_BOOLEAN, 0 },
		REGISTRATION_CONFIG } },
	{ "describe-ca-certificate", "DescribeCACertificate", EVHTTP_REQ_GET,
	    "/cacertificate/{caCertificateId}", "Show a CA certificate.",
	    { CA_CERTIFICATE_ID } },
	{ "list-ca-certificates", "ListCACertificates", EVHTTP_REQ_GET,
	    "/cacertificates", "List every CA certificate.",
	    { PAGE_SIZE, MARKER } },
	{ "update-ca-certificate", "UpdateCACertificate", EVHTTP_REQ_PUT,
	    "/cacertificate/{caCertificateId}",
	    "Change a CA certificate's status or config.",
	    { CA_CERTIFICATE_ID,
		{ "new-status", "newStatus", CTL_QUERY, CTL_STRING, 0 },
		{ "new-auto-registration-status",
		    "newAutoRegistrationStatus", CTL_QUERY, CTL_STRING, 0,
		    "ENABLE|DISABLE" },
		REGISTRATION_CONFIG } },
	{ "delete-ca-certificate", "DeleteCACertificate", EVHTTP_REQ_DELETE,
	    "/cacertificate/{caCertificateId}", "Delete a CA certificate.",
	    { CA_CERTIFICATE_ID } },
	{ "register-certificate", "RegisterCertificate", EVHTTP_REQ_POST,
	    "/certificate/register",
	    "Register a device certificate made elsewhere.",
	    { { "certificate-pem", "certificatePem", CTL_BODY, CTL_STRING,
		  CTL_REQUIRED | CTL_FILE },
		{ "ca-certificate-pem", "caCertificatePem", CTL_BODY,
		    CTL_STRING, CTL_FILE },
		SET_AS_ACTIVE } },
	{ "update-certificate", "UpdateCertificate", EVHTTP_REQ_PUT,
	    "/certificates/{certificateId}",
	    "Set a certificate ACTIVE, INACTIVE or REVOKED.",
	    { CERTIFICATE_ID,
		{ "new-status", "newStatus", CTL_QUERY, CTL_STRING,
		    CTL_REQUIRED } } },
	{ "describe-certificate", "DescribeCertificate", EVHTTP_REQ_GET,
	    "/certificates/{certificateId}", "Show a certificate.",
	    { CERTIFICATE_ID } },
	{ "list-certificates", "ListCertificates", EVHTTP_REQ_GET,
	    "/certificates", "List every certificate.",
	    { PAGE_SIZE, MARKER } },
	{ "delete-certificate", "DeleteCertificate", EVHTTP_REQ_DELETE,
	    "/certificates/{certificateId}", "Delete a certificate.",
	    { CERTIFICATE_ID,
		{ "force-delete", "forceDelete", CTL_QUERY, CTL_BOOLEAN,
		    0 } } },
	{ "create-policy", "CreatePolicy", EVHTTP_REQ_POST,
	    "/policies/{policyName}", "Create a policy.",
	    { POLICY_NAME,
		{ "policy-document", "policyDocument", CTL_BODY, CTL_STRING,
		    CTL_REQUIRED | CTL_FILE } } },
	{ "get-policy", "GetPolicy", EVHTTP_REQ_GET, "/policies/{policyName}",
	    "Show a policy and its document.", { POLICY_NAME } },
	{ "list-policies", "ListPolicies", EVHTTP_REQ_GET, "/policies",
	    "List every policy.", { MARKER, PAGE_SIZE } },
	{ "delete-policy", "DeletePolicy", EVHTTP_REQ_DELETE,
	    "/policies/{policyName}", "Delete a policy.", { POLICY_NAME } },
	{ "attach-policy", "AttachPolicy", EVHTTP_REQ_PUT,
	    "/target-policies/{policyName}",
	    "Attach a policy to a certificate or a thing group.",
	    { POLICY_NAME, TARGET_BODY } },
	{ "detach-policy", "DetachPolicy", EVHTTP_REQ_POST,
	    "/target-policies/{policyName}",
	    "Detach a policy from a certificate or a thing group.",
	    { POLICY_NAME, TARGET_BODY } },
	{ "list-attached-policies", "ListAttachedPolicies", EVHTTP_REQ_POST,
	    "/attached-policies/{target}",
	    "List the policies attached to a certificate or a thing group "
	    "(--recursive: and to its ancestors).",
	    { { "target", "target", CTL_PATH, CTL_STRING, CTL_REQUIRED },
		RECURSIVE, MARKER, PAGE_SIZE } },
	{ "list-targets-for-policy", "ListTargetsForPolicy", EVHTTP_REQ_POST,
	    "/policy-targets/{policyName}",
	    "List the certificates and thing groups a policy is attached "
	    "to.", { POLICY_NAME, MARKER, PAGE_SIZE } },
	{ "get-effective-policies", "GetEffectivePolicies", EVHTTP_REQ_POST,
	    "/effective-policies",
	    "List the policies a certificate and a thing get (the thing's "
	    "groups' and their ancestors').",
	    { { "principal", "principal", CTL_BODY, CTL_STRING, 0 },
		{ "thing-name", "thingName", CTL_QUERY, CTL_STRING, 0 } } },
	{ "create-thing-type", "CreateThingType", EVHTTP_REQ_POST,
	    "/thing-types/{thingTypeName}", "Create a thing type.",
	    { THING_TYPE_NAME,
		{ "thing-type-properties", "thingTypeProperties", CTL_BODY,
		    CTL_OBJECT, CTL_FILE } } },
	{ "describe-thing-type", "DescribeThingType", EVHTTP_REQ_GET,
	    "/thing-types/{thingTypeName}", "Show a thing type.",
	    { THING_TYPE_NAME } },
	{ "list-thing-types", "ListThingTypes", EVHTTP_REQ_GET,
	    "/thing-types", "List thing types, a page at a time.",
	    { { "thing-type-name", "thingTypeName", CTL_QUERY, CTL_STRING,
		  0 },
		MAX_RESULTS, NEXT_TOKEN } },
	{ "deprecate-thing-type", "DeprecateThingType", EVHTTP_REQ_POST,
	    "/thing-types/{thingTypeName}/deprecate",
	    "Deprecate a thing type (--undo-deprecate: undo it).",
	    { THING_TYPE_NAME,
		{ "undo-deprecate", "undoDeprecate", CTL_BODY, CTL_BOOLEAN,
		    0 } } },
	{ "delete-thing-type", "DeleteThingType", EVHTTP_REQ_DELETE,
	    "/thing-types/{thingTypeName}",
	    "Delete a thing type deprecated long enough.",
	    { THING_TYPE_NAME } },
	{ "create-thing-group", "CreateThingGroup", EVHTTP_REQ_POST,
	    "/thing-groups/{thingGroupName}", "Create a static thing group.",
	    { THING_GROUP_NAME,
		{ "parent-group-name", "parentGroupName", CTL_BODY,
		    CTL_STRING, 0 },
		THING_GROUP_PROPERTIES(0) } },
	{ "describe-thing-group", "DescribeThingGroup", EVHTTP_REQ_GET,
	    "/thing-groups/{thingGroupName}", "Show a thing group.",
	    { THING_GROUP_NAME } },
	{ "update-thing-group", "UpdateThingGroup", EVHTTP_REQ_PATCH,
	    "/thing-groups/{thingGroupName}",
	    "Change a thing group's description or attributes.",
	    { THING_GROUP_NAME, THING_GROUP_PROPERTIES(CTL_REQUIRED),
		{ "expected-version", "expectedVersion", CTL_BODY,
		    CTL_INTEGER, 0 } } },
	{ "delete-thing-group", "DeleteThingGroup", EVHTTP_REQ_DELETE,
	    "/thing-groups/{thingGroupName}",
	    "Delete a thing group without child groups.",
	    { THING_GROUP_NAME,
		{ "expected-version", "expectedVersion", CTL_QUERY,
		    CTL_INTEGER, 0 } } },
	{ "list-thing-groups", "ListThingGroups", EVHTTP_REQ_GET,
	    "/thing-groups",
	    "List thing groups, or the children of one, a page at a time.",
	    { { "parent-group", "parentGroup", CTL_QUERY, CTL_STRING, 0 },
		{ "name-prefix-filter", "namePrefixFilter", CTL_QUERY,
		    CTL_STRING, 0 },
		RECURSIVE, MAX_RESULTS, NEXT_TOKEN } },
	{ "add-thing-to-thing-group", "AddThingToThingGroup",
	    EVHTTP_REQ_PUT, "/thing-groups/addThingToThingGroup",
	    "Add a thing to a static thing group.",
	    { GROUP_MEMBER_FLAGS, OVERRIDE_DYNAMIC_GROUPS } },
	{ "remove-thing-from-thing-group", "RemoveThingFromThingGroup",
	    EVHTTP_REQ_PUT, "/thing-groups/removeThingFromThingGroup",
	    "Remove a thing from a thing group.", { GROUP_MEMBER_FLAGS } },
	{ "update-thing-groups-for-thing", "UpdateThingGroupsForThing",
	    EVHTTP_REQ_PUT, "/thing-groups/updateThingGroupsForThing",
	    "Add a thing to groups and remove it from others, at once.",
	    { { "thing-name", "thingName", CTL_BODY, CTL_STRING,
		  CTL_REQUIRED },
		{ "thing-groups-to-add", "thingGroupsToAdd", CTL_BODY,
		    CTL_LIST, 0 },
		{ "thing-groups-to-remove", "thingGroupsToRemove", CTL_BODY,
		    CTL_LIST, 0 },
		OVERRIDE_DYNAMIC_GROUPS } },
	{ "list-things-in-thing-group", "ListThingsInThingGroup",
	    EVHTTP_REQ_GET, "/thing-groups/{thingGroupName}/things",
	    "List the things of a group (--recursive: and of the groups "
	    "below it).",
	    { THING_GROUP_NAME, RECURSIVE, MAX_RESULTS, NEXT_TOKEN } },
	{ "list-thing-groups-for-thing", "ListThingGroupsForThing",
	    EVHTTP_REQ_GET, "/things/{thingName}/thing-groups",
	    "List the thing groups a thing is directly in.",
	    { THING_NAME, MAX_RESULTS, NEXT_TOKEN } },
	{ "attach-thing-principal", "AttachThingPrincipal", EVHTTP_REQ_PUT,
	    "/things/{thingName}/principals",
	    "Attach a certificate to a thing.", { THING_NAME, PRINCIPAL } },
	{ "detach-thing-principal", "DetachThingPrincipal",
	    EVHTTP_REQ_DELETE, "/things/{thingName}/principals",
	    "Detach a certificate from a thing.", { THING_NAME, PRINCIPAL } },
	{ "list-thing-principals", "ListThingPrincipals", EVHTTP_REQ_GET,
	    "/things/{thingName}/principals",
	    "List the certificates attached to a thing.",
	    { THING_NAME, MAX_RESULTS, NEXT_TOKEN } },
	{ "list-principal-things", "ListPrincipalThings", EVHTTP_REQ_GET,
	    "/principals/things",
	    "List the things a certificate is attached to.",
	    { PRINCIPAL, MAX_RESULTS, NEXT_TOKEN } },
	{ "create-provisioning-template", "CreateProvisioningTemplate",
	    EVHTTP_REQ_POST, "/provisioning-templates",
	    "Create a fleet provisioning template.",
	    { { "template-name", "templateName", CTL_BODY, CTL_STRING,
		  CTL_REQUIRED },
		TEMPLATE_DESCRIPTION,
		{ "template-body", "templateBody", CTL_BODY, CTL_STRING,
		    CTL_REQUIRED | CTL_FILE },
		TEMPLATE_ENABLED,
		{ "provisioning-role-arn", "provisioningRoleArn", CTL_BODY,
		    CTL_STRING, CTL_REQUIRED },
		PRE_PROVISIONING_HOOK,
		{ "type", "type", CTL_BODY, CTL_STRING, 0,
		    "FLEET_PROVISIONING|JITP" } } },
	{ "describe-provisioning-template", "DescribeProvisioningTemplate",
	    EVHTTP_REQ_GET, "/provisioning-templates/{templateName}",
	    "Show a provisioning template.", { TEMPLATE_NAME } },
	{ "list-provisioning-templates", "ListProvisioningTemplates",
	    EVHTTP_REQ_GET, "/provisioning-templates",
	    "List every provisioning template.", { MAX_RESULTS, NEXT_TOKEN } },
	{ "update-provisioning-template", "UpdateProvisioningTemplate",
	    EVHTTP_REQ_PATCH, "/provisioning-templates/{templateName}",
	    "Change a provisioning template's description, state, role or "
	    "hook.",
	    { TEMPLATE_NAME, TEMPLATE_DESCRIPTION, TEMPLATE_ENABLED,
		PROVISIONING_ROLE_ARN, PRE_PROVISIONING_HOOK,
		{ "remove-pre-provisioning-hook",
		    "removePreProvisioningHook", CTL_BODY, CTL_BOOLEAN, 0 } } },
	{ "delete-provisioning-template", "DeleteProvisioningTemplate",
	    EVHTTP_REQ_DELETE, "/provisioning-templates/{templateName}",
	    "Delete a provisioning template.", { TEMPLATE_NAME } },
	{ "create-topic-rule", "CreateTopicRule", EVHTTP_REQ_POST,
	    "/rules/{ruleName}", "Create a topic rule.",
	    { RULE_NAME, TOPIC_RULE_PAYLOAD } },
	{ "get-topic-rule", "GetTopicRule", EVHTTP_REQ_GET,
	    "/rules/{ruleName}", "Show a topic rule.", { RULE_NAME } },
	{ "list-topic-rule-errors", "ListTopicRuleErrors", EVHTTP_REQ_GET,
	    "/strata/rules/{ruleName}/errors", "Show a topic rule's last errors "
	    "(not an AWS IoT command).", { RULE_NAME } },
	{ "list-topic-rules", "ListTopicRules", EVHTTP_REQ_GET, "/rules",
	    "List topic rules, a page at a time.",
	    { { "topic", "topic", CTL_QUERY, CTL_STRING, 0 },
		MAX_RESULTS, NEXT_TOKEN,
		{ "rule-disabled", "ruleDisabled", CTL_QUERY, CTL_BOOLEAN,
		    0 } } },
	{ "replace-topic-rule", "ReplaceTopicRule", EVHTTP_REQ_PATCH,
	    "/rules/{ruleName}", "Replace a topic rule's payload.",
	    { RULE_NAME, TOPIC_RULE_PAYLOAD } },
	{ "delete-topic-rule", "DeleteTopicRule", EVHTTP_REQ_DELETE,
	    "/rules/{ruleName}", "Delete a topic rule.", { RULE_NAME } },
	{ "enable-topic-rule", "EnableTopicRule", EVHTTP_REQ_POST,
	    "/rules/{ruleName}/enable", "Enable a topic rule.",
	    { RULE_NAME } },
	{ "disable-topic-rule", "DisableTopicRule", EVHTTP_REQ_POST,
	    "/rules/{ruleName}/disable", "Disable a topic rule.",
	    { RULE_NAME } },
	{ "create-topic-rule-destination", "CreateTopicRuleDestination",
	    EVHTTP_REQ_POST, "/destinations",
	    "Create an HTTP topic rule destination (a confirmation request "
	    "is sent).",
	    { { "destination-configuration", "destinationConfiguration",
		CTL_BODY, CTL_OBJECT, CTL_REQUIRED | CTL_FILE } } },
	{ "get-topic-rule-destination", "GetTopicRuleDestination",
	    EVHTTP_REQ_GET, "/destinations/{arn}",
	    "Show a topic rule destination.", { DESTINATION_ARN_PATH } },
	{ "list-topic-rule-destinations", "ListTopicRuleDestinations",
	    EVHTTP_REQ_GET, "/destinations",
	    "List topic rule destinations, a page at a time.",
	    { MAX_RESULTS, NEXT_TOKEN } },
	{ "update-topic-rule-destination", "UpdateTopicRuleDestination",
	    EVHTTP_REQ_PATCH, "/destinations",
	    "Enable or disable a destination, or send its confirmation "
	    "request again (IN_PROGRESS).",
	    { { "arn", "arn", CTL_BODY, CTL_STRING, CTL_REQUIRED },
		{ "status", "status", CTL_BODY, CTL_STRING, CTL_REQUIRED,
		    "ENABLED|DISABLED|IN_PROGRESS|ERROR" } } },
	{ "delete-topic-rule-destination", "DeleteTopicRuleDestination",
	    EVHTTP_REQ_DELETE, "/destinations/{arn}",
	    "Delete a topic rule destination.", { DESTINATION_ARN_PATH } },
	{ "confirm-topic-rule-destination", "ConfirmTopicRuleDestination",
	    EVHTTP_REQ_GET, "/confirmdestination/{confirmationToken}",
	    "Confirm a topic rule destination with the token its "
	    "confirmation request carried.",
	    { { "confirmation-token", "confirmationToken", CTL_PATH,
		CTL_STRING, CTL_REQUIRED } } },
	{ "update-indexing-configuration", "UpdateIndexingConfiguration",
	    EVHTTP_REQ_POST, "/indexing/config",
	    "Set what the fleet index (AWS_Things) holds.",
	    { { "thing-indexing-configuration", "thingIndexingConfiguration",
		CTL_BODY, CTL_OBJECT, CTL_FILE },
	      { "thing-group-indexing-configuration",
		"thingGroupIndexingConfiguration", CTL_BODY, CTL_OBJECT,
		CTL_FILE } } },
	{ "get-indexing-configuration", "GetIndexingConfiguration",
	    EVHTTP_REQ_GET, "/indexing/config",
	    "Show the fleet indexing configuration.", { { NULL } } },
	{ "describe-index", "DescribeIndex", EVHTTP_REQ_GET,
	    "/indices/{indexName}", "Show an index's status and schema.",
	    { { "index-name", "indexName", CTL_PATH, CTL_STRING,
		CTL_REQUIRED } } },
	{ "list-nodes", "ListNodes", EVHTTP_REQ_GET, "/strata/nodes",
	    "List the cluster's nodes: role, address, uptime, figures "
	    "(not an AWS IoT command).", { { NULL } } },
	{ "list-indices", "ListIndices", EVHTTP_REQ_GET, "/indices",
	    "List the search indices.", { MAX_RESULTS, NEXT_TOKEN } },
	{ "search-index", "SearchIndex", EVHTTP_REQ_POST, "/indices/search",
	    "Search the fleet index, a page at a time.",
	    { INDEX_NAME_BODY, QUERY_STRING,
	      { "max-results", "maxResults", CTL_BODY, CTL_INTEGER, 0 },
	      { "next-token", "nextToken", CTL_BODY, CTL_STRING, 0 },
	      QUERY_VERSION } },
	{ "get-statistics", "GetStatistics", EVHTTP_REQ_POST,
	    "/indices/statistics",
	    "Count, sum, average, ... of a field over the things found.",
	    { INDEX_NAME_BODY, QUERY_STRING, AGGREGATION_FIELD,
	      QUERY_VERSION } },
	{ "get-cardinality", "GetCardinality", EVHTTP_REQ_POST,
	    "/indices/cardinality",
	    "The number of distinct values of a field over the things found.",
	    { INDEX_NAME_BODY, QUERY_STRING, AGGREGATION_FIELD,
	      QUERY_VERSION } },
	{ "get-percentiles", "GetPercentiles", EVHTTP_REQ_POST,
	    "/indices/percentiles",
	    "Percentiles of a number field over the things found.",
	    { INDEX_NAME_BODY, QUERY_STRING, AGGREGATION_FIELD,
	      { "percents", "percents", CTL_BODY, CTL_NUMBERS, 0 },
	      QUERY_VERSION } },
	{ "create-dynamic-thing-group", "CreateDynamicThingGroup",
	    EVHTTP_REQ_POST, "/dynamic-thing-groups/{thingGroupName}",
	    "Create a thing group whose things are those a query finds.",
	    { DYN_GROUP_NAME, QUERY_STRING, INDEX_NAME_BODY,
	      QUERY_VERSION, DYN_GROUP_PROPERTIES } },
	{ "update-dynamic-thing-group", "UpdateDynamicThingGroup",
	    EVHTTP_REQ_PATCH, "/dynamic-thing-groups/{thingGroupName}",
	    "Change a dynamic thing group's query or properties.",
	    { DYN_GROUP_NAME, DYN_GROUP_PROPERTIES,
	      { "query-string", "queryString", CTL_BODY, CTL_STRING, 0 },
	      { "expected-version", "expectedVersion", CTL_BODY,
		CTL_INTEGER, 0 },
	      INDEX_NAME_BODY, QUERY_VERSION } },
	{ "delete-dynamic-thing-group", "DeleteDynamicThingGroup",
	    EVHTTP_REQ_DELETE, "/dynamic-thing-groups/{thingGroupName}",
	    "Delete a dynamic thing group.",
	    { DYN_GROUP_NAME, { "expected-version", "expectedVersion",
		CTL_QUERY, CTL_INTEGER, 0 } } },
	{ "update-account-audit-configuration",
	    "UpdateAccountAuditConfiguration", EVHTTP_REQ_PATCH,
	    "/audit/configuration",
	    "Enable or disable Device Defender audit checks.",
	    { { "role-arn", "roleArn", CTL_BODY, CTL_STRING, 0 },
	      { "audit-check-configurations", "auditCheckConfigurations",
		CTL_BODY, CTL_OBJECT, CTL_FILE } } },
	{ "describe-account-audit-configuration",
	    "DescribeAccountAuditConfiguration", EVHTTP_REQ_GET,
	    "/audit/configuration", "Show which audit checks are enabled.",
	    { { NULL } } },
	{ "start-on-demand-audit-task", "StartOnDemandAuditTask",
	    EVHTTP_REQ_POST, "/audit/tasks",
	    "Run audit checks now; answers the task's id.",
	    { { "target-check-names", "targetCheckNames", CTL_BODY, CTL_LIST,
		CTL_REQUIRED } } },
	{ "describe-audit-task", "DescribeAuditTask", EVHTTP_REQ_GET,
	    "/audit/tasks/{taskId}",
	    "Show an audit task's status and each check's counts.",
	    { { "task-id", "taskId", CTL_PATH, CTL_STRING, CTL_REQUIRED } } },
	{ "list-audit-tasks", "ListAuditTasks", EVHTTP_REQ_GET,
	    "/audit/tasks", "List the audit tasks started in a time span.",
	    { { "start-time", "startTime", CTL_QUERY, CTL_STRING,
		CTL_REQUIRED },
	      { "end-time", "endTime", CTL_QUERY, CTL_STRING, CTL_REQUIRED },
	      { "task-type", "taskType", CTL_QUERY, CTL_STRING, 0 },
	      { "task-status", "taskStatus", CTL_QUERY, CTL_STRING, 0 },
	      MAX_RESULTS, NEXT_TOKEN } },
	{ "list-audit-findings", "ListAuditFindings", EVHTTP_REQ_POST,
	    "/audit/findings", "List an audit task's findings, a page at a "
	    "time.",
	    { { "task-id", "taskId", CTL_BODY, CTL_STRING, 0 },
	      { "check-name", "checkName", CTL_BODY, CTL_STRING, 0 },
	      { "max-results", "maxResults", CTL_BODY, CTL_INTEGER, 0 },
	      { "next-token", "nextToken", CTL_BODY, CTL_STRING, 0 } } },
	{ "create-scheduled-audit", "CreateScheduledAudit", EVHTTP_REQ_POST,
	    "/audit/scheduledaudits/{scheduledAuditName}",
	    "Run audit checks every day.",
	    { SCHEDULED_AUDIT_NAME,
	      { "frequency", "frequency", CTL_BODY, CTL_STRING, CTL_REQUIRED,
		"DAILY" },
	      { "target-check-names", "targetCheckNames", CTL_BODY, CTL_LIST,
		CTL_REQUIRED } } },
	{ "describe-scheduled-audit", "DescribeScheduledAudit",
	    EVHTTP_REQ_GET, "/audit/scheduledaudits/{scheduledAuditName}",
	    "Show a scheduled audit.", { SCHEDULED_AUDIT_NAME } },
	{ "list-scheduled-audits", "ListScheduledAudits", EVHTTP_REQ_GET,
	    "/audit/scheduledaudits", "List the scheduled audits.",
	    { MAX_RESULTS, NEXT_TOKEN } },
	{ "delete-scheduled-audit", "DeleteScheduledAudit",
	    EVHTTP_REQ_DELETE, "/audit/scheduledaudits/{scheduledAuditName}",
	    "Delete a scheduled audit.", { SCHEDULED_AUDIT_NAME } },
	{ "create-security-profile", "CreateSecurityProfile", EVHTTP_REQ_POST,
	    "/security-profiles/{securityProfileName}",
	    "Create a Device Defender Detect security profile.",
	    { SECURITY_PROFILE_NAME, SECURITY_PROFILE_BODY } },
	{ "describe-security-profile", "DescribeSecurityProfile",
	    EVHTTP_REQ_GET, "/security-profiles/{securityProfileName}",
	    "Show a security profile.", { SECURITY_PROFILE_NAME } },
	{ "update-security-profile", "UpdateSecurityProfile",
	    EVHTTP_REQ_PATCH, "/security-profiles/{securityProfileName}",
	    "Change a security profile's behaviors or actions.",
	    { SECURITY_PROFILE_NAME, SECURITY_PROFILE_BODY,
	      { "delete-behaviors", "deleteBehaviors", CTL_BODY, CTL_BOOLEAN,
		0 },
	      { "delete-alert-targets", "deleteAlertTargets", CTL_BODY,
		CTL_BOOLEAN, 0 },
	      { "delete-additional-metrics-to-retain",
		"deleteAdditionalMetricsToRetain", CTL_BODY, CTL_BOOLEAN, 0 },
	      EXPECTED_VERSION } },
	{ "delete-security-profile", "DeleteSecurityProfile",
	    EVHTTP_REQ_DELETE, "/security-profiles/{securityProfileName}",
	    "Delete a security profile, its targets and its violations.",
	    { SECURITY_PROFILE_NAME, EXPECTED_VERSION } },
	{ "validate-security-profile-behaviors",
	    "ValidateSecurityProfileBehaviors", EVHTTP_REQ_POST,
	    "/security-profile-behaviors/validate",
	    "Check behaviors as create-security-profile would.",
	    { { "behaviors", "behaviors", CTL_BODY, CTL_JSON,
		CTL_REQUIRED | CTL_FILE } } },
	{ "list-security-profiles", "ListSecurityProfiles", EVHTTP_REQ_GET,
	    "/security-profiles", "List the security profiles.",
	    { MAX_RESULTS, NEXT_TOKEN } },
	{ "attach-security-profile", "AttachSecurityProfile", EVHTTP_REQ_PUT,
	    "/security-profiles/{securityProfileName}/targets",
	    "Evaluate a security profile for a thing group or all things.",
	    { SECURITY_PROFILE_NAME, SECURITY_PROFILE_TARGET_ARN } },
	{ "detach-security-profile", "DetachSecurityProfile",
	    EVHTTP_REQ_DELETE,
	    "/security-profiles/{securityProfileName}/targets",
	    "Stop evaluating a security profile for a target.",
	    { SECURITY_PROFILE_NAME, SECURITY_PROFILE_TARGET_ARN } },
	{ "list-targets-for-security-profile", "ListTargetsForSecurityProfile",
	    EVHTTP_REQ_GET, "/security-profiles/{securityProfileName}/targets",
	    "List the targets of a security profile.",
	    { SECURITY_PROFILE_NAME, MAX_RESULTS, NEXT_TOKEN } },
	{ "list-security-profiles-for-target",
	    "ListSecurityProfilesForTarget", EVHTTP_REQ_GET,
	    "/security-profiles-for-target",
	    "List the security profiles attached to a target.",
	    { SECURITY_PROFILE_TARGET_ARN,
	      { "recursive", "recursive", CTL_QUERY, CTL_BOOLEAN, 0 },
	      MAX_RESULTS, NEXT_TOKEN } },
	{ "list-active-violations", "ListActiveViolations", EVHTTP_REQ_GET,
	    "/active-violations", "List the violations in alarm now.",
	    { VIOLATION_FILTERS } },
	{ "list-violation-events", "ListViolationEvents", EVHTTP_REQ_GET,
	    "/violation-events",
	    "List the violations started and cleared in a time span.",
	    { { "start-time", "startTime", CTL_QUERY, CTL_STRING,
		CTL_REQUIRED },
	      { "end-time", "endTime", CTL_QUERY, CTL_STRING, CTL_REQUIRED },
	      VIOLATION_FILTERS } },
	{ "create-mitigation-action", "CreateMitigationAction",
	    EVHTTP_REQ_POST, "/mitigationactions/actions/{actionName}",
	    "Define an action applied when a violation starts.",
	    { ACTION_NAME,
	      { "role-arn", "roleArn", CTL_BODY, CTL_STRING, CTL_REQUIRED },
	      { "action-params", "actionParams", CTL_BODY, CTL_OBJECT,
		CTL_REQUIRED | CTL_FILE } } },
	{ "update-mitigation-action", "UpdateMitigationAction",
	    EVHTTP_REQ_PATCH, "/mitigationactions/actions/{actionName}",
	    "Change a mitigation action's role or parameters.",
	    { ACTION_NAME,
	      { "role-arn", "roleArn", CTL_BODY, CTL_STRING, 0 },
	      { "action-params", "actionParams", CTL_BODY, CTL_OBJECT,
		CTL_FILE } } },
	{ "describe-mitigation-action", "DescribeMitigationAction",
	    EVHTTP_REQ_GET, "/mitigationactions/actions/{actionName}",
	    "Show a mitigation action.", { ACTION_NAME } },
	{ "list-mitigation-actions", "ListMitigationActions", EVHTTP_REQ_GET,
	    "/mitigationactions/actions", "List the mitigation actions.",
	    { { "action-type", "actionType", CTL_QUERY, CTL_STRING, 0 },
	      MAX_RESULTS, NEXT_TOKEN } },
	{ "delete-mitigation-action", "DeleteMitigationAction",
	    EVHTTP_REQ_DELETE, "/mitigationactions/actions/{actionName}",
	    "Delete a mitigation action.", { ACTION_NAME } },
	{ "start-detect-mitigation-actions-task",
	    "StartDetectMitigationActionsTask", EVHTTP_REQ_PUT,
	    "/detect/mitigationactions/tasks/{taskId}",
	    "Apply mitigation actions to active violations now.",
	    { { "task-id", "taskId", CTL_PATH, CTL_STRING, CTL_REQUIRED },
	      { "target", "target", CTL_BODY, CTL_OBJECT,
		CTL_REQUIRED | CTL_FILE },
	      { "actions", "actions", CTL_BODY, CTL_LIST, CTL_REQUIRED },
	      { "include-only-active-violations",
		"includeOnlyActiveViolations", CTL_BODY, CTL_BOOLEAN, 0 },
	      { "include-suppressed-alerts", "includeSuppressedAlerts",
		CTL_BODY, CTL_BOOLEAN, 0 },
	      { "client-request-token", "clientRequestToken", CTL_BODY,
		CTL_STRING, 0 } } },
	{ "describe-detect-mitigation-actions-task",
	    "DescribeDetectMitigationActionsTask", EVHTTP_REQ_GET,
	    "/detect/mitigationactions/tasks/{taskId}",
	    "Show a detect mitigation actions task.",
	    { { "task-id", "taskId", CTL_PATH, CTL_STRING, CTL_REQUIRED } } },
	{ "list-detect-mitigation-actions-executions",
	    "ListDetectMitigationActionsExecutions", EVHTTP_REQ_GET,
	    "/detect/mitigationactions/executions",
	    "List what a detect mitigation actions task did.",
	    { { "task-id", "taskId", CTL_QUERY, CTL_STRING, CTL_REQUIRED },
	      { "thing-name", "thingName", CTL_QUERY, CTL_STRING, 0 },
	      MAX_RESULTS, NEXT_TOKEN } },
	{ "get-usage", "GetUsage", EVHTTP_REQ_GET, "/strata/usage",
	    "Show the metered messages of a client id, a thing or the "
	    "whole cluster, hour by hour (Strata's own).",
	    { { "client-id", "clientId", CTL_QUERY, CTL_STRING, 0 },
	      { "thing-name", "thingName", CTL_QUERY, CTL_STRING, 0 },
	      { "start", "startTime", CTL_QUERY, CTL_STRING, CTL_REQUIRED },
	      { "end", "endTime", CTL_QUERY, CTL_STRING, CTL_REQUIRED } } },
	{ "list-audit-events", "ListAuditEvents", EVHTTP_REQ_GET,
	    "/strata/audit-events", "List the admin API's audit records, "
	    "newest first (Strata's own).",
	    { { "start-time", "startTime", CTL_QUERY, CTL_STRING, 0 },
	      { "end-time", "endTime", CTL_QUERY, CTL_STRING, 0 },
	      { "user-name", "userName", CTL_QUERY, CTL_STRING, 0 },
	      { "action", "action", CTL_QUERY, CTL_STRING, 0 },
	      { "operation", "operation", CTL_QUERY, CTL_STRING, 0 },
	      MAX_RESULTS, NEXT_TOKEN } },
	/* Strata's own: throttle limits of thing groups and types
	 * (throttle.md) */
	{ "set-throttle-limits", "SetThrottleLimits", EVHTTP_REQ_PUT,
	    "/strata/throttle-limits",
	    "Set a thing group's or thing type's throttle limits (Strata's "
	    "own).",
	    { THROTTLE_TARGET,
		{ "publish-rate", "publishRate", CTL_BODY, CTL_INTEGER, 0 },
		{ "inbound-bytes-per-second", "inboundBytesPerSecond",
		    CTL_BODY, CTL_INTEGER, 0 },
		{ "subscribe-rate", "subscribeRate", CTL_BODY, CTL_INTEGER,
		    0 },
		{ "disconnect-after-seconds", "disconnectAfterSeconds",
		    CTL_BODY, CTL_INTEGER, 0 } } },
	{ "get-throttle-limits", "GetThrottleLimits", EVHTTP_REQ_GET,
	    "/strata/throttle-limits",
	    "Show a thing group's or thing type's throttle limits.",
	    { THROTTLE_TARGET } },
	{ "delete-throttle-limits", "DeleteThrottleLimits",
	    EVHTTP_REQ_DELETE, "/strata/throttle-limits",
	    "Remove a thing group's or thing type's throttle limits.",
	    { THROTTLE_TARGET } },
	{ "list-throttle-limits", "ListThrottleLimits", EVHTTP_REQ_GET,
	    "/strata/throttle-limits",
	    "List the thing groups and types that have throttle limits.",
	    { { "target-type", "targetType", CTL_QUERY, CTL_STRING, 0,
		  "THING_GROUP|THING_TYPE" },
		MAX_RESULTS, NEXT_TOKEN } },
	/* Strata's own: a client's events as they happen (trace.md) */
	{ "trace-client", "TraceClient", EVHTTP_REQ_GET,
	    "/strata/trace/{clientId}",
	    "Print a client's connects, packets and disconnects on any "
	    "broker as JSON lines, for --seconds (Strata's own).",
	    { { "client-id", "clientId", CTL_PATH, CTL_STRING, CTL_REQUIRED },
	      { "seconds", "seconds", CTL_QUERY, CTL_INTEGER, 0 } },
	    CTL_API_ADMIN, 1 },
	{ "create-admin-user", "CreateAdminUser", EVHTTP_REQ_POST,
	    "/admin-users/{userName}", "Create an admin user.",
	    { USER_NAME } },
	{ "get-admin-user", "GetAdminUser", EVHTTP_REQ_GET,
	    "/admin-users/{userName}", "Show an admin user.", { USER_NAME } },
	{ "list-admin-users", "ListAdminUsers", EVHTTP_REQ_GET,
	    "/admin-users", "List every admin user.", { { NULL } } },
	{ "delete-admin-user", "DeleteAdminUser", EVHTTP_REQ_DELETE,
	    "/admin-users/{userName}",
	    "Delete an admin user without keys or policies.", { USER_NAME } },
	{ "create-access-key", "CreateAccessKey", EVHTTP_REQ_POST,
	    "/admin-users/{userName}/access-keys",
	    "Make an access key (its secret is shown once).",
	    { USER_NAME } },
	{ "list-access-keys", "ListAccessKeys", EVHTTP_REQ_GET,
	    "/admin-users/{userName}/access-keys",
	    "List an admin user's access keys.", { USER_NAME } },
	{ "update-access-key", "UpdateAccessKey", EVHTTP_REQ_PATCH,
	    "/admin-users/{userName}/access-keys/{accessKeyId}",
	    "Set an access key Active or Inactive.",
	    { USER_NAME, ACCESS_KEY_ID,
		{ "status", "Status", CTL_BODY, CTL_STRING, CTL_REQUIRED,
		    "Active|Inactive" } } },
	{ "delete-access-key", "DeleteAccessKey", EVHTTP_REQ_DELETE,
	    "/admin-users/{userName}/access-keys/{accessKeyId}",
	    "Delete an access key.", { USER_NAME, ACCESS_KEY_ID } },
	{ "create-admin-policy", "CreateAdminPolicy", EVHTTP_REQ_POST,
	    "/admin-policies/{policyName}", "Create an admin policy.",
	    { POLICY_NAME,
		{ "policy-document", "PolicyDocument", CTL_BODY, CTL_STRING,
		    CTL_REQUIRED | CTL_FILE } } },
	{ "get-admin-policy", "GetAdminPolicy", EVHTTP_REQ_GET,
	    "/admin-policies/{policyName}",
	    "Show an admin policy and its document.", { POLICY_NAME } },
	{ "list-admin-policies", "ListAdminPolicies", EVHTTP_REQ_GET,
	    "/admin-policies", "List every admin policy.", { { NULL } } },
	{ "delete-admin-policy", "DeleteAdminPolicy", EVHTTP_REQ_DELETE,
	    "/admin-policies/{policyName}",
	    "Delete an admin policy attached to no one.",
	    { POLICY_NAME } },
	{ "attach-admin-policy", "AttachAdminPolicy", EVHTTP_REQ_PUT,
	    "/admin-users/{userName}/policies/{policyName}",
	    "Attach an admin policy to an admin user.",
	    { USER_NAME, POLICY_NAME } },
	{ "detach-admin-policy", "DetachAdminPolicy", EVHTTP_REQ_DELETE,
	    "/admin-users/{userName}/policies/{policyName}",
	    "Detach an admin policy from an admin user.",
	    { USER_NAME, POLICY_NAME } },
	{ "list-attached-admin-policies", "ListAttachedAdminPolicies",
	    EVHTTP_REQ_GET, "/admin-users/{userName}/policies",
	    "List an admin user's attached admin policies.",
	    { USER_NAME } },
	{ "get-thing-shadow", "GetThingShadow", EVHTTP_REQ_GET,
	    "/things/{thingName}/shadow",
	    "Write a thing's shadow document to a file.",
	    { THING_NAME, SHADOW_NAME, SHADOW_OUTFILE }, CTL_API_DATA },
	{ "update-thing-shadow", "UpdateThingShadow", EVHTTP_REQ_POST,
	    "/things/{thingName}/shadow",
	    "Update a shadow; the answer to a file.",
	    { THING_NAME, SHADOW_NAME, SHADOW_PAYLOAD, SHADOW_OUTFILE },
	    CTL_API_DATA },
	{ "delete-thing-shadow", "DeleteThingShadow", EVHTTP_REQ_DELETE,
	    "/things/{thingName}/shadow",
	    "Delete a shadow; the answer to a file.",
	    { THING_NAME, SHADOW_NAME, SHADOW_OUTFILE }, CTL_API_DATA },
	{ "list-named-shadows-for-thing", "ListNamedShadowsForThing",
	    EVHTTP_REQ_GET,
	    "/api/things/shadow/ListNamedShadowsForThing/{thingName}",
	    "List the names of a thing's named shadows.",
	    { THING_NAME, NEXT_TOKEN, PAGE_SIZE }, CTL_API_DATA },
	{ "get-retained-message", "GetRetainedMessage", EVHTTP_REQ_GET,
	    "/retainedMessage/{topic}",
	    "Show a topic's retained message (payload in base64).",
	    { { "topic", "topic", CTL_PATH, CTL_STRING, CTL_REQUIRED } },
	    CTL_API_DATA },
	{ "list-retained-messages", "ListRetainedMessages", EVHTTP_REQ_GET,
	    "/retainedMessage",
	    "List the retained messages' topics, one page.",
	    { NEXT_TOKEN, { "max-results", "maxResults", CTL_QUERY,
	    CTL_INTEGER, 0 } }, CTL_API_DATA },
};

#pragma GCC diagnostic pop

/* clang-format on */

const size_t ctl_table_count =
    sizeof(ctl_table_commands) / sizeof(ctl_table_commands[0]);

const struct ctl_command *
ctl_table_find(const char *name)
{
	size_t i;

	for (i = 0; i < ctl_table_count; i++)
		if (strcmp(ctl_table_commands[i].name, name) == 0)
			return &ctl_table_commands[i];
	return NULL;
}

size_t
ctl_table_flag_count(const struct ctl_command *c)
{
	size_t n = 0;

	while (n < CTL_MAX_FLAGS && c->flags[n].name != NULL)
		n++;
	return n;
}

const char *
ctl_table_method_name(enum evhttp_cmd_type method)
{
	switch (method) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_PATCH:
		return "PATCH";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	default:
		return "?";
	}
}

int
ctl_table_flag_at(const struct ctl_command *c, enum ctl_place place)
{
	size_t i, n = ctl_table_flag_count(c);

	for (i = 0; i < n; i++)
		if (c->flags[i].place == place)
			return (int)i;
	return -1;
}

int
ctl_table_has_body(const struct ctl_command *c)
{
	return ctl_table_flag_at(c, CTL_BODY) >= 0 ||
	    ctl_table_flag_at(c, CTL_BODY_WHOLE) >= 0;
}
