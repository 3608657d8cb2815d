/*
 * trace.h - the pure parts of the client trace (docs/internals/trace.md):
 * which client ids may be traced, and the members of strata:traces
 * ("<traceId> <clientId>", the trace id 16 hex digits).
 */
#ifndef STRATA_TRACE_H
#define STRATA_TRACE_H

#include <stdbool.h>
#include <stddef.h>

#define STRATA_TRACE_ID_LEN 16
#define STRATA_TRACE_CLIENT_MAX 128   /* AWS IoT's client id limit */
#define STRATA_TRACE_MAX_SECONDS 600
#define STRATA_TRACE_DEFAULT_SECONDS 60

/* 1..128 bytes of valid UTF-8 without control characters (C0, DEL). */
bool strata_trace_client_id_valid(const char *s, size_t len);

/* The seconds of ?seconds= (NULL: the default): 1..600, or -1. */
int strata_trace_seconds(const char *s);

/* The client id of a member of strata:traces: a view into s, its length
 * in *len; NULL when s is not "<16 hex> <valid client id>". */
const char *strata_trace_member_client(const char *s, size_t n,
    size_t *len);

#endif
