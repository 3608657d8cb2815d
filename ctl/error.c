/*
 * error.c - filling a struct ctl_error (see ctl.h).
 */
#include <stdarg.h>
#include <stdio.h>

#include "ctl.h"

static void
error_format(struct ctl_error *err, const char *fmt, va_list ap)
{
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
}

int
ctl_error_set(struct ctl_error *err, int status, const char *fmt, ...)
{
	va_list ap;

	err->status = status;
	err->usage = false;
	va_start(ap, fmt);
	error_format(err, fmt, ap);
	va_end(ap);
	return -1;
}

int
ctl_error_usage(struct ctl_error *err, const char *fmt, ...)
{
	va_list ap;

	err->status = CTL_EXIT_USAGE;
	err->usage = true;
	va_start(ap, fmt);
	error_format(err, fmt, ap);
	va_end(ap);
	return -1;
}
