/*
 * ctl.h - what every part of stratactl shares: its exit statuses and the
 * error it reports.
 *
 * The statuses are the AWS CLI's, so that scripts written for `aws iot`
 * test the same numbers:
 *   0    success
 *   252  usage: unknown command or flag, missing required flag, a value
 *        that does not parse (bad JSON, unreadable file://)
 *   253  configuration: no endpoint, no token, unreadable token or CA file
 *   254  the server answered with an error (HTTP status >= 300)
 *   255  no answer: endpoint unreachable, timeout, TLS refused, an answer
 *        that is not JSON, an outfile that cannot be written; a
 *        --payload that is not base64 (the AWS CLI v2's status)
 */
#ifndef STRATA_CTL_H
#define STRATA_CTL_H

#include <stdbool.h>

#define CTL_EXIT_OK 0
#define CTL_EXIT_USAGE 252
#define CTL_EXIT_CONFIG 253
#define CTL_EXIT_SERVICE 254
#define CTL_EXIT_FAILED 255

#define CTL_ERROR_MAX 1024

/* A failure to report: main prints message (one line) on stderr, after
 * the usage lines when usage is set, and exits with status. */
struct ctl_error {
	int status;
	bool usage;
	char message[CTL_ERROR_MAX];
};

/* Fill err with status and a printf-formatted message.  Returns -1, so a
 * caller can `return ctl_error_set(...)`. */
int ctl_error_set(struct ctl_error *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The same with status 252 and the usage lines (a command line error). */
int ctl_error_usage(struct ctl_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
