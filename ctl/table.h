/*
 * table.h - the commands of stratactl: one row each, mapping an `aws iot`
 * command (docs/internals/admin-api.md), or an `aws iam`-like one for the
 * admin identities (docs/internals/admin-authz.md, section 4), to its admin
 * API operation, and an `aws iot-data` shadow command
 * (docs/internals/shadowd-http.md) to its operation of the data API.
 *
 * A row names the command, the operation (for error lines), the method
 * and the path template, lists the command's flags and says which API
 * (endpoint) it goes to.  Each flag says where its value goes: into a
 * {variable} of the path, the query string, a member of the JSON body, a
 * request header, the whole body (a blob payload, or a JSON object:
 * the topic rule commands' --topic-rule-payload), or (an outfile)
 * nowhere: the answer's member it names, or the whole answer, is written
 * to the file given.  A flag may list the only values it takes
 * (choices).  Adding a command is adding a row; nothing else in
 * stratactl knows commands.
 */
#ifndef STRATA_CTL_TABLE_H
#define STRATA_CTL_TABLE_H

#include <stddef.h>

#include <event2/http.h>

/* Where a flag's value goes. */
enum ctl_place {
	CTL_PATH,    /* replaces {wire} in the path, URL-encoded */
	CTL_QUERY,   /* wire=value in the query string, URL-encoded */
	CTL_BODY,    /* member wire of the JSON body object */
	CTL_BODY_WHOLE, /* the JSON body itself: the object given (the AWS
	                 * API's payload member, wire names it) */
	CTL_HEADER,  /* request header wire */
	CTL_OUTFILE, /* file to write the answer's member wire (a.b) to */
	CTL_PAYLOAD, /* the whole request body: a CTL_BLOB's bytes */
	CTL_PAYLOAD_OUTFILE, /* positional (no --): the file the whole
	                      * answer body is written to, nothing printed */
	CTL_PATH_TAIL, /* /wire/value appended to the path; a command with
	                * such flags takes exactly one of them (a target
	                * named one of several ways: --thing-group-name or
	                * --thing-type-name) */
};

/* How a flag's value is read and sent. */
enum ctl_kind {
	CTL_STRING,     /* text as given; a JSON string in a body */
	CTL_INTEGER,    /* decimal; a JSON number in a body */
	CTL_BOOLEAN,    /* no value: --flag is true, --no-flag false */
	CTL_OBJECT,     /* a JSON object, or shorthand k=v,k2={a=b} */
	CTL_ATTRIBUTES, /* an object {"attributes": {...}, "merge": bool} */
	CTL_RULE_PAYLOAD, /* a JSON object, a TopicRulePayload: {"sql",
	                   * "actions", "description"?, "ruleDisabled"?,
	                   * "awsIotSqlVersion"?, "errorAction"?}, checked
	                   * (request.h) */
	CTL_LIST,       /* a list of strings: a JSON array ["a", "b"], or
	                 * the names separated by commas: a,b */
	CTL_NUMBERS,    /* a list of numbers: 10,50,90 (the AWS CLI's
	                 * shorthand) or JSON [10, 50, 90] */
	CTL_JSON,       /* any JSON value, e.g. a list of objects
	                 * (--behaviors) */
	CTL_BLOB,       /* bytes: base64 text, the text itself with
	                 * --cli-binary-format raw-in-base64-out, or the
	                 * bytes of fileb://PATH (see request.h) */
};

/* The API a command calls, each with its endpoint. */
enum ctl_api {
	CTL_API_ADMIN, /* the admin API: STRATA_ADMIN_URL */
	CTL_API_DATA,  /* the shadow (data) API: STRATA_DATA_URL */
};

/* Flag options. */
#define CTL_REQUIRED 0x1u /* the command refuses to run without it */
#define CTL_FILE 0x2u     /* a value file://PATH is read from PATH */
#define CTL_PRIVATE 0x4u  /* an outfile written with mode 0600 */
#define CTL_NOT_EMPTY 0x8u /* a query value of at least one character
                            * (path values always are) */

#define CTL_MAX_FLAGS 12

struct ctl_flag {
	const char *name;    /* as typed, without "--": "thing-name" */
	const char *wire;    /* path variable, query key, member, header */
	enum ctl_place place;
	enum ctl_kind kind;
	unsigned options;    /* CTL_REQUIRED | CTL_FILE | CTL_PRIVATE */
	const char *choices; /* CTL_STRING: the values allowed, "A|B";
	                      * NULL: any */
};

/* A command.  flags ends at the first entry whose name is NULL.  A JSON
 * body (at least {}) is sent when a flag has place CTL_BODY; the object
 * of the CTL_BODY_WHOLE flag, when it has one (then no CTL_BODY flag);
 * the bytes of the CTL_PAYLOAD flag, when it has one (never a JSON
 * body too).  api is last so
 * that the admin API's rows may leave it out (0). */
struct ctl_command {
	const char *name;       /* "create-thing" */
	const char *operation;  /* "CreateThing" */
	enum evhttp_cmd_type method;
	const char *path;       /* "/things/{thingName}" */
	const char *summary;    /* one line for `stratactl help` */
	struct ctl_flag flags[CTL_MAX_FLAGS];
	enum ctl_api api;
	int stream;             /* the answer (200) is a stream of lines,
	                         * printed as they arrive (trace-client) */
};

extern const struct ctl_command ctl_table_commands[];
extern const size_t ctl_table_count;

/* The command called name, or NULL. */
const struct ctl_command *ctl_table_find(const char *name);

/* The number of flags of c. */
size_t ctl_table_flag_count(const struct ctl_command *c);

/* "GET", "POST", ... for a method of the table. */
const char *ctl_table_method_name(enum evhttp_cmd_type method);

/* True when c sends a JSON body (a CTL_BODY or CTL_BODY_WHOLE flag). */
int ctl_table_has_body(const struct ctl_command *c);

/* The index of c's first flag with place, or -1. */
int ctl_table_flag_at(const struct ctl_command *c, enum ctl_place place);

#endif
