/*
 * redis_tls.h - TLS to Redis under hiredis 0.14, which has none: an
 * in-process bridge from a private Unix socket to a TLS connection.
 *
 * hiredis connects to the Unix socket of a target (host:port) with
 * redisAsyncConnectUnix(); each connection it makes there is bridged, on
 * the same event loop, to a new TLS connection to the target, the server
 * certificate verified against the CA file and the host name or IP
 * address of the target.  Bytes are moved both ways without bound on
 * neither side (watermarks); either side ending ends the other once what
 * it had to write is written, so hiredis sees EOF and redis.c's reconnect
 * and deadline logic applies as for a TCP connection.  See
 * docs/internals/redis.md, "TLS to Redis".
 */
#ifndef STRATA_REDIS_TLS_H
#define STRATA_REDIS_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct ssl_ctx_st;
struct strata_redis_tls;

/*
 * The client TLS context of the redis-tls options, built once at start-up:
 * CA file (required when enabled), optional client certificate chain and
 * key (both or neither), TLS 1.2 at least, the peer verified.  *out is
 * NULL when not enabled.  Returns 0, or STRATA_EINVAL with a message naming
 * the option in err (a missing CA, a file OpenSSL cannot load, a key that
 * is not the certificate's, a file given while redis-tls is off).  The
 * caller owns *out (SSL_CTX_free); what it held before is freed first.
 */
int strata_redis_tls_context(struct ssl_ctx_st **out, bool enabled,
    const char *ca, const char *cert, const char *key, char *err,
    size_t errlen);

/* The bridges of one Redis client; ctx is referenced (up-ref'd), not
 * copied. */
struct strata_redis_tls *strata_redis_tls_new(struct event_base *base,
    struct ssl_ctx_st *ctx);
/*
 * The path of the Unix socket bridged to host:port, made on first use (a
 * private directory, mode 0700, with one socket in it) and kept until
 * strata_redis_tls_free().  NULL with a message in err when it cannot be
 * made.  Valid as long as t.
 */
const char *strata_redis_tls_path(struct strata_redis_tls *t,
    const char *host, uint16_t port, char *err, size_t errlen);
/* Closes every bridge and listener and removes the sockets and their
 * directories.  t may be NULL. */
void strata_redis_tls_free(struct strata_redis_tls *t);

#endif
