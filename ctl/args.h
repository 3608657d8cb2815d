/*
 * args.h - stratactl's command line: `stratactl [global options] COMMAND
 * [--flag value | --flag=value | --boolean | --no-boolean]...`, global
 * options anywhere, as the AWS CLI takes them.
 */
#ifndef STRATA_CTL_ARGS_H
#define STRATA_CTL_ARGS_H

#include <stdbool.h>

#include "ctl.h"
#include "table.h"

#define CTL_DEFAULT_TIMEOUT 10
#define CTL_MAX_FILE (1024 * 1024)

/* One command line, parsed.  values[i] is the text of command->flags[i]
 * (read from the file for file://PATH; "true" or "false" for a boolean),
 * NULL when the flag was not given; owned.  The global options point
 * into argv. */
struct ctl_invocation {
	const struct ctl_command *command; /* NULL with help: list commands */
	char *values[CTL_MAX_FLAGS];
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

#endif
