/*
 * log.c - structured log lines to stderr.
 *
 *   2026-11-23T18:50:00.123Z level=info comp=broker msg="text" key=value
 *
 * The line is built in memory and written with one write(2), so lines of
 * concurrent processes sharing stderr do not interleave.  In msg, '"' and
 * '\' are backslash-escaped; in msg and the key=value tail, control bytes
 * are escaped (\n, \r, \t, \xNN) so that one event stays one line whatever
 * a client put in a value.
 *
 * The level is the one process-wide setting in libstrata: stderr itself
 * is process-wide, and a daemon sets the level once from its config.
 *
 * strata_log_limited() keeps its state in the caller's strata_log_limit:
 * it prints when the monotonic second differs from the one of the last
 * printed line, otherwise it only counts.  A flood of bad input then costs
 * one clock read and an increment per event, and one line per second.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_STACK_LINE 1024

static enum strata_log_level log_level = STRATA_LOG_INFO;

static const char *const log_level_names[] = {
    [STRATA_LOG_DEBUG] = "debug",
    [STRATA_LOG_INFO] = "info",
    [STRATA_LOG_WARN] = "warn",
    [STRATA_LOG_ERROR] = "error",
};

void
strata_log_set_level(enum strata_log_level level)
{
	log_level = level;
}

int
strata_log_level_parse(const char *name)
{
	for (int i = STRATA_LOG_DEBUG; i <= STRATA_LOG_ERROR; i++)
		if (strcmp(name, log_level_names[i]) == 0)
			return i;
	return -1;
}

/* Append c, escaped, at out[n] (the caller sized out for 4 bytes per
 * input byte); quotes: also escape '"' and '\'.  Returns the new n. */
static size_t
log_escape_byte(char *out, size_t n, unsigned char c, bool quotes)
{
	static const char hex[] = "0123456789abcdef";

	if (quotes && (c == '"' || c == '\\')) {
		out[n++] = '\\';
		out[n++] = (char)c;
	} else if (c == '\n' || c == '\r' || c == '\t') {
		out[n++] = '\\';
		out[n++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
	} else if (c < 0x20 || c == 0x7f) {
		out[n++] = '\\';
		out[n++] = 'x';
		out[n++] = hex[c >> 4];
		out[n++] = hex[c & 15];
	} else {
		out[n++] = (char)c;
	}
	return n;
}

/* Timestamp "YYYY-MM-DDTHH:MM:SS.mmmZ" (24 bytes) into out. */
static size_t
log_timestamp(char *out, size_t cap)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(
	    out + n, cap - n, ".%03ldZ", ts.tv_nsec / 1000000);
	return n;
}

static bool
log_enabled(enum strata_log_level level)
{
	return level >= log_level && level <= STRATA_LOG_ERROR;
}

/* Build the whole line for the formatted text and write it once;
 * suppressed > 0 appends suppressed=<n> to the key=value tail. */
static void
log_emit(enum strata_log_level level, const char *comp, const char *text,
    uint64_t suppressed)
{
	const char *bar = strchr(text, '|');
	size_t msg_len = bar ? (size_t)(bar - text) : strlen(text);
	size_t text_len = strlen(text);
	/* worst case: every byte escaped to 4, plus the fixed part and
	 * " suppressed=" with 20 digits */
	size_t cap = 96 + strlen(comp) + 4 * text_len + 2;
	char stack[LOG_STACK_LINE * 4];
	char *line = cap <= sizeof(stack) ? stack : malloc(cap);
	size_t n;

	if (line == NULL)
		return;
	n = log_timestamp(line, cap);
	n += (size_t)snprintf(line + n, cap - n, " level=%s comp=%s msg=\"",
	    log_level_names[level], comp);
	for (size_t i = 0; i < msg_len; i++)
		n = log_escape_byte(line, n, (unsigned char)text[i], true);
	line[n++] = '"';
	if (bar != NULL && bar[1] != '\0' && bar[1] != ' ')
		line[n++] = ' ';
	for (size_t i = msg_len + (bar != NULL); i < text_len; i++)
		n = log_escape_byte(line, n, (unsigned char)text[i], false);
	if (suppressed > 0)
		n += (size_t)snprintf(line + n, cap - n, " suppressed=%llu",
		    (unsigned long long)suppressed);
	line[n++] = '\n';
	/* a short write to stderr is not worth a retry loop: logs are best
	 * effort and must never block or fail the caller */
	if (write(STDERR_FILENO, line, n) < 0)
		n = 0;
	if (line != stack)
		free(line);
}

/* Format the text and emit the line (see log_emit). */
static void
log_vprint(enum strata_log_level level, const char *comp,
    uint64_t suppressed, const char *fmt, va_list ap)
{
	char stack[LOG_STACK_LINE];
	char *text = stack;
	va_list again;
	int len;

	va_copy(again, ap);
	len = vsnprintf(stack, sizeof(stack), fmt, ap);
	if (len >= 0 && (size_t)len >= sizeof(stack)) {
		text = malloc((size_t)len + 1);
		if (text != NULL)
			vsnprintf(text, (size_t)len + 1, fmt, again);
	}
	va_end(again);
	if (len >= 0 && text != NULL)
		log_emit(level, comp, text, suppressed);
	if (text != stack)
		free(text);
}

void
strata_log(enum strata_log_level level, const char *comp, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	log_vprint(level, comp, 0, fmt, ap);
	va_end(ap);
}

/* Seconds of CLOCK_MONOTONIC_COARSE, plus one so that 0 never names a
 * second (a zeroed limit has printed nothing yet).  The coarse clock is
 * enough for whole seconds and cheaper to read during a flood. */
static uint64_t
log_limit_second(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec + 1;
}

void
strata_log_limited(struct strata_log_limit *lim, enum strata_log_level level,
    const char *comp, const char *fmt, ...)
{
	uint64_t second;
	va_list ap;

	if (!log_enabled(level))
		return;
	second = log_limit_second();
	if (second == lim->second) {
		lim->suppressed++;
		return;
	}
	va_start(ap, fmt);
	log_vprint(level, comp, lim->suppressed, fmt, ap);
	va_end(ap);
	lim->second = second;
	lim->suppressed = 0;
}
