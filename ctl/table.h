/*
 * table.h - the commands of stratactl: one row each, mapping an `aws iot`
 * command (docs/internals/admin-api.md), or an `aws iam`-like one for the
 * admin identities (docs/internals/admin-authz.md, section 4), to its admin
 * API operation.
 *
 * A row names the command, the operation (for error lines), the method
 * and the path template, and lists the command's flags.  Each flag says
 * where its value goes: into a {variable} of the path, the query string,
 * a member of the JSON body, a request header, or (an outfile) nowhere:
 * the answer's member it names is written to the file given.  A flag
 * may list the only values it takes (choices).  Adding a command is
 * adding a row; nothing else in stratactl knows commands.
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
	CTL_HEADER,  /* request header wire */
	CTL_OUTFILE, /* file to write the answer's member wire (a.b) to */
};

/* How a flag's value is read and sent. */
enum ctl_kind {
	CTL_STRING,     /* text as given; a JSON string in a body */
	CTL_INTEGER,    /* decimal; a JSON number in a body */
	CTL_BOOLEAN,    /* no value: --flag is true, --no-flag false */
	CTL_OBJECT,     /* a JSON object, or shorthand k=v,k2={a=b} */
	CTL_ATTRIBUTES, /* an object {"attributes": {...}, "merge": bool} */
};

/* Flag options. */
#define CTL_REQUIRED 0x1u /* the command refuses to run without it */
#define CTL_FILE 0x2u     /* a value file://PATH is read from PATH */
#define CTL_PRIVATE 0x4u  /* an outfile written with mode 0600 */

#define CTL_MAX_FLAGS 6

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
 * body (at least {}) is sent when a flag has place CTL_BODY. */
struct ctl_command {
	const char *name;       /* "create-thing" */
	const char *operation;  /* "CreateThing" */
	enum evhttp_cmd_type method;
	const char *path;       /* "/things/{thingName}" */
	const char *summary;    /* one line for `stratactl help` */
	struct ctl_flag flags[CTL_MAX_FLAGS];
};

extern const struct ctl_command ctl_table_commands[];
extern const size_t ctl_table_count;

/* The command called name, or NULL. */
const struct ctl_command *ctl_table_find(const char *name);

/* The number of flags of c. */
size_t ctl_table_flag_count(const struct ctl_command *c);

/* "GET", "POST", ... for a method of the table. */
const char *ctl_table_method_name(enum evhttp_cmd_type method);

/* True when c sends a JSON body. */
int ctl_table_has_body(const struct ctl_command *c);

#endif
