/*
 * args.h - stratactl's command line: `stratactl [global options] COMMAND
 * [--flag value | --flag=value | --boolean | --no-boolean | outfile]...`,
 * global options anywhere, as the AWS CLI takes them.  The one word
 * that is not an option after the command is its positional outfile
 * (CTL_PAYLOAD_OUTFILE), for the commands that have one.
 */
#ifndef STRATA_CTL_ARGS_H
#define STRATA_CTL_ARGS_H

#include <stdbool.h>

#include "ctl.h"
#include "table.h"

#define CTL_DEFAULT_TIMEOUT 10
#define CTL_MAX_FILE (1024 * 1024)

/* How a CTL_BLOB flag's text (typed, or read with file://) becomes
 * bytes: --cli-binary-format, whose values and default are the AWS CLI
 * v2's.  The bytes of fileb://PATH are sent as they are either way. */
enum ctl_binary_format {
	CTL_BINARY_BASE64,            /* the text is base64 (default) */
	CTL_BINARY_RAW_IN_BASE64_OUT, /* the text's own bytes */
};

/* One command line, parsed.  values[i] is the text of command->flags[i]
 * (read from the file for file://PATH; "true" or "false" for a boolean;
 * a CTL_BLOB's fileb://PATH: the file's bytes, binary[i] set), NULL when
 * the flag was not given; owned, NUL-terminated, lengths[i] bytes long
 * (fileb:// bytes may hold NULs).  The global options point into argv. */
struct ctl_invocation {
	const struct ctl_command *command; /* NULL with help: list commands */
	char *values[CTL_MAX_FLAGS];
	size_t lengths[CTL_MAX_FLAGS];
	bool binary[CTL_MAX_FLAGS];
	enum ctl_binary_format binary_format; /* --cli-binary-format */
	const char *endpoint_url;          /* --endpoint-url */
	const char *token_file;            /* --token-file */
	const char *profile;               /* --profile */
	const char *ca_file;               /* --ca-file */
	int timeout_seconds;               /* --cli-read-timeout */
	bool debug;                        /* --debug */
	bool help;  /* help, --help, COMMAND help: print help, send nothing */
};

/* Parse argv into inv.  Returns 0, or -1 with err (status 252, or 255
 * when memory runs out); inv is then cleared.  Without help, every
 * required flag of the command must be there. */
int ctl_args_parse(struct ctl_invocation *inv, int argc, char **argv,
    struct ctl_error *err);

/* Free what inv owns. */
void ctl_args_clear(struct ctl_invocation *inv);

/* The text of the flag called name of inv's command, or NULL (not given,
 * or no such flag). */
const char *ctl_args_value(const struct ctl_invocation *inv,
    const char *name);

/* Read a whole file of at most CTL_MAX_FILE bytes as NUL-terminated text
 * into *text (owned by the caller).  Returns 0, or -1 with a message in
 * msg (strerror, or too large, or a NUL byte in it). */
int ctl_args_read_file(const char *path, char **text, char *msg,
    size_t msglen);

/* The same for any bytes, NULs included: *len bytes into *bytes (owned
 * by the caller, a NUL after them). */
int ctl_args_read_bytes(const char *path, char **bytes, size_t *len,
    char *msg, size_t msglen);

#endif
