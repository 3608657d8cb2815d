/*
 * redis.h - asynchronous Redis client on the daemon's event loop (hiredis
 * with its libevent adapter), reconnecting by itself.
 *
 * States: CONNECTING --ok--> UP --error/EOF/deadline--> DOWN --retry
 * timer--> CONNECTING; CONNECTING --failed/deadline--> DOWN.
 * Commands issued while not UP fail at once: their callback runs (from the
 * event loop, never re-entrantly) with reply NULL.
 *
 * Every command carries a deadline (STRATA_REDIS_TIMEOUT_MS by default):
 * when the oldest command in flight has waited longer, the connection is
 * taken as stuck and dropped (every pending callback gets NULL, once) and
 * the client reconnects.  A connect attempt gets the same deadline.
 *
 * A connect attempt is UP only after its handshake: AUTH with the
 * configured user and password (PING without a password, so a server
 * that wants one is found at once), then ROLE in Sentinel mode.  A
 * refused AUTH (WRONGPASS, NOAUTH) fails the attempt like a network
 * error: logged, counted (STRATA_REDIS_FAIL_AUTH), retried.
 *
 * With a TLS context in the options every connection goes through a TLS
 * bridge in process (redis_tls.h); a failed TLS handshake fails the
 * attempt as a network error.
 */
#ifndef STRATA_REDIS_H
#define STRATA_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

struct event_base;
struct ssl_ctx_st;
struct strata_redis;

#define STRATA_REDIS_TIMEOUT_MS 2000

/* reply is NULL on connection loss or when not connected; it is freed by
 * hiredis after the callback returns. */
typedef void (*strata_redis_cb)(struct strata_redis *r, redisReply *reply,
    void *arg);

struct strata_redis *strata_redis_new(struct event_base *base,
    const char *host, uint16_t port, void (*on_up)(struct strata_redis *,
    void *), void *arg);

/* Where Redis is, who we are to it and how writes are made safe (the
 * daemons' redis-* options).  The strings are copied by
 * strata_redis_open(). */
struct strata_redis_opts {
	const char *host;         /* without sentinels */
	uint16_t port;
	const char *sentinels;    /* "host:port,host:port", NULL or "": none */
	const char *master;       /* the sentinels' master name */
	unsigned timeout_ms;      /* every command's deadline, 0: none */
	unsigned wait_replicas;   /* synced writes: WAIT for this many */
	unsigned wait_timeout_ms; /* ... at most this long */
	const char *user;         /* AUTH user; NULL or "": the default user */
	const char *password;     /* NULL: no AUTH */
	const char *sentinel_user;     /* the same for the sentinels */
	const char *sentinel_password;
	/* redis-tls: every connection, sentinels too, goes through a TLS
	 * bridge (redis_tls.h) made with this context (referenced, not
	 * copied); NULL: plain TCP. */
	struct ssl_ctx_st *tls;
};
/* 0, or STRATA_EINVAL with a message in err (a bad sentinel list, a
 * wait timeout not below the command deadline). */
int strata_redis_check_opts(const struct strata_redis_opts *o, char *err,
    size_t errlen);

/*
 * The passwords of the redis-password-file and
 * redis-sentinel-password-file options, read once at start-up.  A file
 * holds the password and nothing else; trailing CR/LF are not part of
 * it.  A path NULL or "" leaves that password NULL (no AUTH).  Returns 0,
 * or STRATA_EINVAL with a message naming the option in err: the file
 * cannot be read, is empty, is over 4 KiB or holds a NUL byte, or a user
 * is named without a password.  Whatever s held before is freed first.
 */
struct strata_redis_secrets {
	char *password;
	char *sentinel_password;
	struct ssl_ctx_st *tls;    /* strata_redis_tls_context(), or NULL */
};
int strata_redis_secrets_load(struct strata_redis_secrets *s,
    const char *user, const char *password_file,
    const char *sentinel_user, const char *sentinel_password_file,
    char *err, size_t errlen);
/* Wipes and frees the passwords (and frees the TLS context); s may be
 * zeroed or loaded. */
void strata_redis_secrets_free(struct strata_redis_secrets *s);
/* A client per o (checked first): with sentinels it asks them for the
 * primary on every connect and follows a failover (redis.c). */
struct strata_redis *strata_redis_open(struct event_base *base,
    const struct strata_redis_opts *o, void (*on_up)(struct strata_redis *,
    void *), void *arg);
/* WAITs that found fewer replicas than wait_replicas in time. */
uint64_t strata_redis_wait_short(const struct strata_redis *r);
/* Times the sentinels named another primary than the last one. */
uint64_t strata_redis_failovers(const struct strata_redis *r);
void strata_redis_free(struct strata_redis *r);
bool strata_redis_is_up(const struct strata_redis *r);
/* Is reply an array of exactly n strings (a HMGET of n fields that all
 * exist, a stored record)? */
bool strata_redis_is_strings(const redisReply *reply, size_t n);

/*
 * The deadline of every command and connect attempt, in milliseconds; 0
 * means none.  Applies at once, to commands already in flight too.  A
 * shorter timeout than the 1 s retry delay also shortens that delay.
 */
void strata_redis_set_timeout(struct strata_redis *r, unsigned ms);
/* Times the deadline passed: connections dropped as stuck plus connect
 * attempts abandoned (one per event, however many commands were
 * pending). */
uint64_t strata_redis_timeouts(const struct strata_redis *r);
/* Successful connects after the first. */
uint64_t strata_redis_reconnects(const struct strata_redis *r);

/* Why a connect attempt failed (the label of the daemons'
 * strata_*_redis_connect_failures_total). */
enum strata_redis_failure {
	STRATA_REDIS_FAIL_NETWORK,   /* refused, reset, closed */
	STRATA_REDIS_FAIL_TIMEOUT,   /* not done within the deadline */
	STRATA_REDIS_FAIL_AUTH,      /* AUTH refused (WRONGPASS), or NOAUTH:
					the server wants a password */
	STRATA_REDIS_FAIL_ERROR,     /* another error reply to the
					handshake (LOADING, ...) */
	STRATA_REDIS_FAIL_REPLICA,   /* the sentinels named a replica */
	STRATA_REDIS_FAIL_SENTINEL,  /* no sentinel named the primary */
	STRATA_REDIS_FAIL_KINDS
};
/* Failures of kind why so far.  A sentinel that refuses AUTH counts
 * under AUTH once, and the attempt under SENTINEL if no other sentinel
 * answered. */
uint64_t strata_redis_connect_failures(const struct strata_redis *r,
    enum strata_redis_failure why);
/* "network", "timeout", "auth", "error", "replica", "sentinel". */
const char *strata_redis_failure_name(enum strata_redis_failure why);

/* Time each command from its send to its reply into latency, and count
 * the error replies (a script's refusal included) in *error_replies;
 * either may be NULL.  Both must outlive r. */
struct strata_histogram;
void strata_redis_observe(struct strata_redis *r,
    struct strata_histogram *latency, uint64_t *error_replies);

/* printf-style command (hiredis redisAsyncCommand format).  cb may be NULL.
 * Returns 0 or STRATA_AGAIN (not connected, or a bad format; cb is still
 * called with NULL). */
int strata_redis_command(struct strata_redis *r, strata_redis_cb cb,
    void *arg, const char *fmt, ...);
/* Binary-safe argv form. */
int strata_redis_commandv(struct strata_redis *r, strata_redis_cb cb,
    void *arg, int argc, const char **argv, const size_t *argvlen);
/*
 * A write an acknowledgement depends on: with wait_replicas > 0, WAIT
 * follows it and cb runs once WAIT answered, with (a copy of) the write's
 * reply; otherwise as strata_redis_commandv().
 */
int strata_redis_commandv_synced(struct strata_redis *r, strata_redis_cb cb,
    void *arg, int argc, const char **argv, const size_t *argvlen);
/* cb runs once every command sent before is answered (and, with
 * wait_replicas > 0, on that many replicas): PING or WAIT.  The reply is
 * NULL when the connection failed. */
void strata_redis_sync(struct strata_redis *r, strata_redis_cb cb,
    void *arg);

/* A message published on the subscribed channel: msg is binary, valid during
 * the call only. */
typedef void (*strata_redis_message_cb)(struct strata_redis *r,
    const char *msg, size_t len, void *arg);

/*
 * Put r in subscriber mode on one channel: SUBSCRIBE now if connected and
 * again on every (re)connect, before on_up runs.  Every message calls cb.
 * r must be used for nothing else afterwards (Redis refuses other
 * commands on a subscribed connection).  Can be called once per client.
 * SUBSCRIBE carries no deadline: a subscriber only learns of a dead server
 * from TCP (keepalive is on).
 */
void strata_redis_subscribe(struct strata_redis *r, const char *channel,
    strata_redis_message_cb cb, void *arg);

/*
 * A stand-in for the Redis server, for unit tests and fuzz targets: no
 * socket.  Each command is formatted as the real client sends it, parsed
 * back, and handed to answer() as argv (argv[i] NUL-terminated copies,
 * valid during the call).  answer() may append the RESP bytes of replies
 * with strata_redis_fake_feed() (it may also feed nothing, or feed ahead).
 * The command's callback then gets the next complete reply parsed by
 * hiredis's own reader (the same parser as a real connection) from the
 * event loop, never re-entrantly, in command order.  When no complete
 * reply is buffered, or the bytes are not RESP, the callback gets NULL,
 * as for a lost connection (after a parse error the reader is reset and
 * the unparsed bytes are discarded).
 */
struct strata_redis_fake {
	void (*answer)(struct strata_redis *r, int argc, const char **argv,
	    const size_t *argvlen, void *arg);   /* may be NULL */
	void *arg;
};
/* The fake is up at once; on_up runs from the loop (after SUBSCRIBE for a
 * subscriber-mode client).  *fake must outlive the client. */
struct strata_redis *strata_redis_new_fake(struct event_base *base,
    const struct strata_redis_fake *fake,
    void (*on_up)(struct strata_redis *, void *), void *arg);
void strata_redis_fake_feed(struct strata_redis *r, const void *resp,
    size_t len);
/* Deliver a message on the subscribed channel (subscriber mode; ignored
 * otherwise), from the loop. */
void strata_redis_fake_message(struct strata_redis *r, const void *msg,
    size_t len);
/* Take the fake down (is_up false, pending and new commands get NULL) or
 * up again (on_up runs again, as after a reconnect). */
void strata_redis_fake_set_up(struct strata_redis *r, bool up);

#endif
