/*
 * log.h - structured logs to stderr, one line per event:
 *   2026-11-23T18:50:00.123Z level=info comp=broker msg="client connected" client_id=x
 * The message is printf-formatted; callers append key=value pairs to it.
 */
#ifndef STRATA_LOG_H
#define STRATA_LOG_H

#include <stdint.h>

enum strata_log_level {
	STRATA_LOG_DEBUG = 0,
	STRATA_LOG_INFO = 1,
	STRATA_LOG_WARN = 2,
	STRATA_LOG_ERROR = 3,
};

void strata_log_set_level(enum strata_log_level level);
/* "debug", "info", "warn", "error" -> level; -1 if unknown. */
int strata_log_level_parse(const char *name);
/* comp: "broker", "router", "link", ...  fmt: the msg text, then optional
 * " key=value" pairs written by the caller after a '|' separator:
 *   strata_log(STRATA_LOG_INFO, "broker", "client connected|client_id=%s", id)
 * prints msg="client connected" client_id=... */
void strata_log(enum strata_log_level level, const char *comp,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* One log line per second at most for one kind of event: the first call
 * in a second prints, later calls in the same second are counted, and
 * the next printed line carries suppressed=<count>.  Zero-initialise.
 * The level filter applies first: a line below the level is neither
 * formatted nor counted.  Keep one limit per kind of event (in the
 * daemon's context, or static at the call site); not thread-safe. */
struct strata_log_limit {
	uint64_t second;     /* monotonic second + 1 of the last printed line,
	                        0 before the first (second 0 is a real one) */
	uint64_t suppressed; /* calls counted since that line */
};
void strata_log_limited(struct strata_log_limit *lim,
    enum strata_log_level level, const char *comp, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define STRATA_DEBUG(comp, ...) strata_log(STRATA_LOG_DEBUG, comp, __VA_ARGS__)
#define STRATA_INFO(comp, ...) strata_log(STRATA_LOG_INFO, comp, __VA_ARGS__)
#define STRATA_WARN(comp, ...) strata_log(STRATA_LOG_WARN, comp, __VA_ARGS__)
#define STRATA_ERROR(comp, ...) strata_log(STRATA_LOG_ERROR, comp, __VA_ARGS__)

#endif
