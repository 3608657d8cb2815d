/*
 * output.h - what stratactl prints and writes: the answer's JSON as the
 * AWS CLI prints it (indent 4, members in the server's order, a newline,
 * nothing at all for {}), the outfiles of a command, and the error line
 * of an error answer:
 *   An error occurred (<Type>) when calling the <Operation> operation:
 *   <message>
 * (one line; <Type> is the body's "error", else the x-amzn-ErrorType
 * header, else, for the data API, the name its reference gives the
 * status (404: ResourceNotFoundException), else the HTTP status;
 * <message> is the body's "message", else the reason phrase).
 *
 * A command with a positional outfile (the shadow commands) prints
 * nothing: the answer's body is written to the file as it came, as the
 * AWS CLI writes a blob payload.
 */
#ifndef STRATA_CTL_OUTPUT_H
#define STRATA_CTL_OUTPUT_H

#include <stdio.h>

#include <jansson.h>

#include "args.h"
#include "ctl.h"
#include "http.h"

/* A 2xx answer to inv: print it on out, then write the outfiles inv
 * names; or, for a command with a positional outfile, write the body to
 * it (0666 less the umask, truncated) and print nothing.  Returns 0, or
 * -1 with err (255: not JSON, an outfile's member missing, an outfile
 * that cannot be written: for the positional one, Python's words,
 * "[Errno 2] No such file or directory: 'PATH'"). */
int ctl_output_answer(const struct ctl_invocation *inv,
    const struct ctl_http_answer *answer, FILE *out, struct ctl_error *err);

/* value as printed: a new string, without the final newline.  Reals get
 * the fewest digits that read back as the same double. */
char *ctl_output_format(const json_t *value);

/* The name the data API's reference gives an error status, or NULL. */
const char *ctl_output_data_error(int status);

/* The error line of an error answer to command c, into err (254). */
void ctl_output_failure(const struct ctl_command *c,
    const struct ctl_http_answer *answer, struct ctl_error *err);

#endif
