/*
 * redis.h - asynchronous Redis client on the daemon's event loop (hiredis
 * with its libevent adapter), reconnecting by itself.
 *
 * States: CONNECTING --ok--> UP --error/EOF--> DOWN --1 s timer--> CONNECTING.
 * Commands issued while not UP fail at once: their callback runs (from the
 * event loop, never re-entrantly) with reply NULL.
 */
#ifndef STRATA_REDIS_H
#define STRATA_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

struct event_base;
struct strata_redis;

/* reply is NULL on connection loss or when not connected; it is freed by
 * hiredis after the callback returns. */
typedef void (*strata_redis_cb)(struct strata_redis *r, redisReply *reply,
    void *arg);

struct strata_redis *strata_redis_new(struct event_base *base,
    const char *host, uint16_t port, void (*on_up)(struct strata_redis *,
    void *), void *arg);
void strata_redis_free(struct strata_redis *r);
bool strata_redis_is_up(const struct strata_redis *r);

/* printf-style command (hiredis redisAsyncCommand format).  cb may be NULL.
 * Returns 0 or STRATA_AGAIN (not connected; cb is still called with NULL). */
int strata_redis_command(struct strata_redis *r, strata_redis_cb cb,
    void *arg, const char *fmt, ...);
/* Binary-safe argv form. */
int strata_redis_commandv(struct strata_redis *r, strata_redis_cb cb,
    void *arg, int argc, const char **argv, const size_t *argvlen);

/* A message published on the subscribed channel: msg is binary, valid during
 * the call only. */
typedef void (*strata_redis_message_cb)(struct strata_redis *r,
    const char *msg, size_t len, void *arg);

/*
 * Put r in subscriber mode on one channel: SUBSCRIBE now if connected and
 * again on every (re)connect, before on_up runs.  Every message calls cb.
 * r must be used for nothing else afterwards (Redis refuses other
 * commands on a subscribed connection).  Can be called once per client.
 */
void strata_redis_subscribe(struct strata_redis *r, const char *channel,
    strata_redis_message_cb cb, void *arg);

#endif
