/*
 * redis.c - asynchronous Redis client (see redis.h for the contract).
 *
 * States:
 *   CONNECTING --connect callback ok, handshake answered--> UP
 *   CONNECTING --connect failed, handshake refused--> DOWN
 *   CONNECTING --deadline passed (our timer frees the context)--> DOWN
 *   UP --disconnect callback (error/EOF)--> DOWN
 *   UP --oldest command past its deadline (our timer frees it)--> DOWN
 *   DOWN --retry timer (1 s, or the timeout if shorter)--> CONNECTING
 * hiredis owns and frees its context after the connect-failed and the
 * disconnect callbacks, so `ac` is cleared there.  When we give a context
 * up ourselves we clear `ac` first and then redisAsyncFree() it: hiredis
 * runs the pending reply callbacks with NULL and then (if it was
 * connected) the disconnect callback, which sees a context that is no
 * longer ours and does nothing.  redisAsyncFree() is only ever called from
 * our own events (the deadline timer, strata_redis_free), never from
 * inside a hiredis callback, where 0.14 does not allow it.
 *
 * The handshake, inside CONNECTING, is a chain of callbacks on the new
 * context, each sending the next step when its reply is good:
 *   connected --> AUTH [user] password (PING without a password)
 *             --> ROLE (Sentinel mode only) --> UP
 * An error reply to a step is logged with the server's words (WRONGPASS,
 * NOAUTH, LOADING), counted by kind (strata_redis_connect_failures) and
 * ends the attempt: we disconnect, and the disconnect callback, seeing
 * CONNECTING, schedules the retry without a second log line.  The
 * handshake is not in `inflight`; the connect deadline covers it.
 *
 * Commands refused while not UP are queued in `failed` and their callbacks
 * run with reply NULL from a one-shot event, so a caller never sees its
 * callback before strata_redis_command() has returned.
 *
 * Deadlines: every command sent is appended to `inflight` with the time it
 * was sent (monotonic); its reply callback unlinks it.  Redis answers in
 * order, so the head is the oldest.  One timer watches the head's deadline
 * (or the connect attempt's): it is armed when a command is appended and
 * the timer is idle, and when it fires it re-arms for the current head,
 * which is never older than the one it was armed for.  So the hot path
 * does a list append/remove and no timer work while the timer is pending.
 *
 * A client in subscriber mode (strata_redis_subscribe) sends SUBSCRIBE on
 * every transition to UP; hiredis keeps calling the subscription callback
 * for each message (its privdata is the client itself, never freed).  The
 * subscription is not in `inflight`: it has no deadline.
 *
 * Sentinel mode (strata_redis_open with sentinels): a connect attempt
 * first asks the sentinels, in turn, SENTINEL get-master-addr-by-name
 * (the `sac` context, RESOLVING within CONNECTING and under the same
 * deadline; AUTH first when the sentinels have a password of their own;
 * the last sentinel's error is kept for the log line of an attempt no
 * sentinel answered), then connects to the address given and sends ROLE
 * after AUTH: only a
 * "master" answer makes the client UP; a replica is dropped and the
 * attempt retried.  A failover is followed because the old primary's
 * connection ends (dies) or answers -READONLY (demoted): either drops the
 * connection, and the next attempt asks the sentinels again.
 *
 * Synced commands (strata_redis_commandv_synced, strata_redis_sync): with
 * wait-replicas n > 0 a write that an acknowledgement depends on is
 * followed by WAIT n <wait-timeout>, and its callback runs when WAIT
 * answers, with a copy of the write's own reply.  Fewer replicas than n
 * in time is counted (strata_redis_wait_short) and logged; the reply is
 * still given: Redis replication stays asynchronous, WAIT narrows the
 * window a failover can lose, it does not close it.
 *
 * TLS (redis-tls, r->tls set): every context, sentinels' included, is
 * opened by redis_async_connect() on the Unix socket of a bridge to its
 * target (redis_tls.c), kept per host:port while the client lives.  The
 * Unix connection is established at once, so a TLS failure shows here as
 * EOF during the handshake (a network failure, retried as usual); the
 * bridge logs the TLS reason.  Keepalive is the bridge's, on its TCP side.
 *
 * The fake (strata_redis_new_fake) replaces the context by a hiredis reader
 * fed by the test: commands go to `inflight` as well and a one-shot event
 * answers them in order.  It has no deadline and never reconnects by
 * itself; strata_redis_fake_set_up() moves it between UP and DOWN.
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include "list.h"
#include "log.h"
#include "metrics.h"
#include "redis.h"
#include "redis_tls.h"
#include "status.h"

#define REDIS_RETRY_MS 1000
#define REDIS_MAX_PASSWORD 4096
/* Largest array the fake's reader builds (8 MB of element pointers). */
#define REDIS_FAKE_MAX_ELEMENTS (1 << 20)

enum redis_state {
	REDIS_STATE_CONNECTING,
	REDIS_STATE_UP,
	REDIS_STATE_DOWN,
};

/* One command in flight or refused: the caller's callback and argument. */
struct redis_call {
	struct strata_list node; /* in `inflight` or `failed` */
	struct strata_redis *r;
	strata_redis_cb cb;
	void *arg;
	uint64_t sent_us;        /* monotonic, while in `inflight` */
};

/* A synced write or sync point waiting for its WAIT (see "synced
 * writes" below). */
struct redis_synced {
	struct strata_list node;   /* in sync_queue or a batch */
	strata_redis_cb cb;
	void *arg;
	redisReply *reply;         /* copy of the write's reply, or NULL */
	bool answered;             /* the write was answered */
	bool is_sync;              /* no write: strata_redis_sync() */
};

/* A message waiting for delivery by the fake; data is NUL-terminated, as a
 * hiredis string. */
struct redis_fake_message {
	struct strata_list node;
	size_t len;
	char data[];
};

struct redis_sentinel {
	char *host;
	uint16_t port;
};

struct strata_redis {
	struct event_base *base;
	redisAsyncContext *ac;
	enum redis_state state;
	char *host;
	uint16_t port;
	/* Sentinel mode (n_sentinels > 0). */
	struct redis_sentinel *sentinels;
	size_t n_sentinels;
	size_t sentinel_next;      /* the one asked next */
	size_t sentinel_tries;     /* asked in this attempt */
	char *master;
	redisAsyncContext *sac;    /* the sentinel being asked, or NULL */
	char sentinel_error[192];  /* why the last one did not answer */
	/* AUTH (user NULL: the default user; password NULL: no AUTH) */
	char *user;
	char *password;
	char *sentinel_user;
	char *sentinel_password;
	struct strata_redis_tls *tls; /* redis-tls: the bridges, or NULL */
	unsigned wait_replicas;    /* synced writes: WAIT for this many */
	unsigned wait_timeout_ms;
	uint64_t wait_short;       /* WAITs that got fewer */
	uint64_t failovers;        /* primary address changed */
	struct strata_list sync_queue; /* redis_synced no WAIT covers yet */
	bool wait_out;             /* a WAIT is in flight */
	void (*on_up)(struct strata_redis *, void *);
	void *arg;
	bool freeing;
	bool connected_once;
	unsigned failures;     /* connect failures in a row, for the logs */
	enum strata_redis_failure last_failure;
	uint64_t failures_by[STRATA_REDIS_FAIL_KINDS];
	unsigned timeout_ms;   /* 0: no deadline */
	bool deadline_armed;   /* deadline_ev is pending */
	uint64_t connect_started_us;
	uint64_t timeouts;
	uint64_t reconnects;
	struct event *retry_ev;
	struct event *failed_ev;
	struct event *deadline_ev;
	struct strata_list inflight; /* redis_call, oldest first */
	struct strata_list failed;
	char *channel;             /* subscriber mode, or NULL */
	strata_redis_message_cb on_message;
	void *message_arg;
	/* The fake only (fake != NULL, ac always NULL). */
	const struct strata_redis_fake *fake;
	redisReader *fake_reader;  /* replies fed by the test */
	redisReplyObjectFunctions fake_functions; /* hiredis's, guarded */
	void *(*fake_create_array)(const redisReadTask *, int);
	struct event *fake_reply_ev;
	struct event *fake_up_ev;
	struct event *fake_message_ev;
	struct strata_list fake_messages; /* redis_fake_message */
	/* strata_redis_observe(): time from send to reply, error replies */
	struct strata_histogram *latency;
	uint64_t *error_replies;
};

static void redis_send_subscribe(struct strata_redis *r);

static void redis_connect(struct strata_redis *r);
static void redis_connect_to(struct strata_redis *r);
static void redis_resolve(struct strata_redis *r);

static uint64_t
redis_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Move every element of src to the tail of dst; src is left empty. */
static void
redis_list_splice(struct strata_list *dst, struct strata_list *src)
{
	if (strata_list_empty(src))
		return;
	src->next->prev = dst->prev;
	dst->prev->next = src->next;
	src->prev->next = dst;
	dst->prev = src->prev;
	strata_list_init(src);
}

/* The deadline the timer watches: the connect attempt's while CONNECTING,
 * the oldest command's while UP.  False when there is none. */
static bool
redis_deadline_next(const struct strata_redis *r, uint64_t *due)
{
	const uint64_t timeout_us = (uint64_t)r->timeout_ms * 1000;
	const struct redis_call *oldest;

	if (r->timeout_ms == 0 || r->fake != NULL)
		return false;
	if (r->state == REDIS_STATE_CONNECTING) {
		*due = r->connect_started_us + timeout_us;
		return true;
	}
	if (r->state != REDIS_STATE_UP || strata_list_empty(&r->inflight))
		return false;
	oldest = STRATA_CONTAINER_OF(r->inflight.next, struct redis_call,
	    node);
	*due = oldest->sent_us + timeout_us;
	return true;
}

static void
redis_deadline_arm(struct strata_redis *r, uint64_t due, uint64_t now)
{
	uint64_t wait = due > now ? due - now : 0;
	struct timeval tv = { (time_t)(wait / 1000000),
		(suseconds_t)(wait % 1000000) };

	event_add(r->deadline_ev, &tv);
	r->deadline_armed = true;
}

static void
redis_deadline_stop(struct strata_redis *r)
{
	event_del(r->deadline_ev);
	r->deadline_armed = false;
}

static unsigned
redis_retry_ms(const struct strata_redis *r)
{
	if (r->timeout_ms != 0 && r->timeout_ms < REDIS_RETRY_MS)
		return r->timeout_ms;
	return REDIS_RETRY_MS;
}

static void
redis_schedule_retry(struct strata_redis *r)
{
	unsigned ms = redis_retry_ms(r);
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	r->state = REDIS_STATE_DOWN;
	redis_deadline_stop(r);
	if (!r->freeing)
		event_add(r->retry_ev, &tv);
}

/* Count a failed attempt of kind why.  The first failure of a series,
 * and the first of another kind than the one before, is a warning; the
 * retries after it are debug lines, with the count every 60 attempts. */
static void
redis_log_failure(struct strata_redis *r, enum strata_redis_failure why,
    const char *error)
{
	bool changed = r->failures == 0 || why != r->last_failure;

	r->failures++;
	r->failures_by[why]++;
	r->last_failure = why;
	if (changed || r->failures % 60 == 0)
		STRATA_WARN("redis", "connect failed|addr=%s:%u reason=%s "
		    "error=\"%s\" attempts=%u", r->host, (unsigned)r->port,
		    strata_redis_failure_name(why), error, r->failures);
	else
		STRATA_DEBUG("redis", "connect failed|addr=%s:%u reason=%s "
		    "error=\"%s\"", r->host, (unsigned)r->port,
		    strata_redis_failure_name(why), error);
}

/* An error reply that is about who we are: the password is wrong or
 * missing, or the user may not run the command. */
static bool
redis_error_is_auth(const char *error)
{
	return strncmp(error, "WRONGPASS", 9) == 0 ||
	    strncmp(error, "NOAUTH", 6) == 0 ||
	    strncmp(error, "NOPERM", 6) == 0;
}

/*
 * Queue the first command of a new connection on ac: AUTH [user]
 * password, or PING when there is no password (a server that wants one
 * answers NOAUTH now rather than to every later command).  argv form:
 * the password may hold any byte but NUL.
 */
static int
redis_send_auth(redisAsyncContext *ac, redisCallbackFn *cb,
    struct strata_redis *r, const char *user, const char *password)
{
	const char *argv[3] = { password != NULL ? "AUTH" : "PING" };
	size_t argvlen[3] = { 4 };
	int argc = 1;

	if (password != NULL && user != NULL) {
		argv[argc] = user;
		argvlen[argc++] = strlen(user);
	}
	if (password != NULL) {
		argv[argc] = password;
		argvlen[argc++] = strlen(password);
	}
	return redisAsyncCommandArgv(ac, cb, r, argc, argv, argvlen);
}

static void redis_up(struct strata_redis *r);

/* Sentinel mode: the server the sentinels named must say it is the
 * primary (a failover may have demoted it since). */
static void
redis_role_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct strata_redis *r = privdata;
	redisReply *rp = reply;
	char why[96];

	if (rp == NULL || ac != r->ac || r->freeing)
		return; /* the disconnect callback deals with it */
	if (rp->type == REDIS_REPLY_ARRAY && rp->elements > 0 &&
	    rp->element[0]->type == REDIS_REPLY_STRING &&
	    strcmp(rp->element[0]->str, "master") == 0) {
		redis_up(r);
		return;
	}
	if (rp->type == REDIS_REPLY_ERROR) {
		snprintf(why, sizeof(why), "ROLE refused: %s", rp->str);
		redis_log_failure(r, redis_error_is_auth(rp->str) ?
		    STRATA_REDIS_FAIL_AUTH : STRATA_REDIS_FAIL_ERROR, why);
	} else {
		snprintf(why, sizeof(why), "not the primary (ROLE %s)",
		    rp->type == REDIS_REPLY_ARRAY && rp->elements > 0 &&
		    rp->element[0]->type == REDIS_REPLY_STRING ?
		    rp->element[0]->str : "?");
		redis_log_failure(r, STRATA_REDIS_FAIL_REPLICA, why);
	}
	redisAsyncDisconnect(ac); /* the disconnect callback retries */
}

/* The handshake step after a good AUTH: ROLE with sentinels, else UP. */
static void
redis_handshake_authed(struct strata_redis *r)
{
	if (r->n_sentinels == 0) {
		redis_up(r);
		return;
	}
	if (redisAsyncCommand(r->ac, redis_role_cb, r, "ROLE") != REDIS_OK) {
		redis_log_failure(r, STRATA_REDIS_FAIL_NETWORK,
		    "cannot send ROLE");
		redisAsyncDisconnect(r->ac);
	}
}

/* The reply to AUTH (or PING without a password).  Any error to AUTH
 * counts as an AUTH failure: besides WRONGPASS, a server without
 * passwords answers ERR to one; to PING only NOAUTH and NOPERM do (a
 * LOADING server is not refusing us). */
static void
redis_auth_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct strata_redis *r = privdata;
	const redisReply *rp = reply;
	char why[256];

	if (rp == NULL || ac != r->ac || r->freeing)
		return; /* the disconnect callback deals with it */
	if (rp->type != REDIS_REPLY_ERROR) {
		redis_handshake_authed(r);
		return;
	}
	if (r->password != NULL)
		snprintf(why, sizeof(why), "AUTH refused (user %s): %s",
		    r->user != NULL ? r->user : "default", rp->str);
	else
		snprintf(why, sizeof(why), "PING refused, no password "
		    "given: %s", rp->str);
	redis_log_failure(r, r->password != NULL ||
	    redis_error_is_auth(rp->str) ? STRATA_REDIS_FAIL_AUTH :
	    STRATA_REDIS_FAIL_ERROR, why);
	redisAsyncDisconnect(ac); /* the disconnect callback retries */
}

static void
redis_connect_cb(const redisAsyncContext *ac, int status)
{
	struct strata_redis *r = ac->data;

	if (status != REDIS_OK) {
		redis_log_failure(r, STRATA_REDIS_FAIL_NETWORK, ac->errstr);
		r->ac = NULL; /* freed by hiredis after this callback */
		redis_schedule_retry(r);
		return;
	}
	if (redis_send_auth(r->ac, redis_auth_cb, r, r->user, r->password) !=
	    REDIS_OK) {
		redis_log_failure(r, STRATA_REDIS_FAIL_NETWORK,
		    "cannot send AUTH");
		redisAsyncDisconnect(r->ac);
	}
}

/* Connected (and, with sentinels, to the primary). */
static void
redis_up(struct strata_redis *r)
{
	r->state = REDIS_STATE_UP;
	r->failures = 0;
	if (r->connected_once)
		r->reconnects++;
	r->connected_once = true;
	redis_deadline_stop(r); /* the connect deadline; commands re-arm */
	/* A dead peer host is found by the kernel even with nothing in
	 * flight.  0.14 sets the context's error when this fails, so the
	 * connection ends at its next read or write: log why.  Through a
	 * TLS bridge the socket is a Unix one; the bridge's TCP side has
	 * the keepalive. */
	if (r->tls == NULL && redisEnableKeepAlive(&r->ac->c) != REDIS_OK)
		STRATA_WARN("redis", "keepalive failed|addr=%s:%u "
		    "error=\"%s\"", r->host, (unsigned)r->port,
		    r->ac->c.errstr);
	STRATA_INFO("redis", "connected|addr=%s:%u", r->host,
	    (unsigned)r->port);
	if (r->channel != NULL)
		redis_send_subscribe(r);
	if (r->on_up != NULL)
		r->on_up(r, r->arg);
}

static void
redis_disconnect_cb(const redisAsyncContext *ac, int status)
{
	struct strata_redis *r = ac->data;

	/* A context we gave up ourselves (deadline, free): already handled
	 * by whoever freed it. */
	if (ac != r->ac)
		return;
	r->ac = NULL; /* freed by hiredis after this callback */
	if (r->state == REDIS_STATE_UP)
		STRATA_WARN("redis", "disconnected|addr=%s:%u error=\"%s\"",
		    r->host, (unsigned)r->port, status == REDIS_OK ? "closed" :
		    ac->errstr);
	else if (status != REDIS_OK) /* lost during the handshake */
		redis_log_failure(r, STRATA_REDIS_FAIL_NETWORK, ac->errstr);
	/* else: a handshake step failed and logged why, then closed */
	redis_schedule_retry(r);
}

/* A connect attempt begins: CONNECTING, under the connect deadline. */
static void
redis_attempt_start(struct strata_redis *r)
{
	r->state = REDIS_STATE_CONNECTING;
	r->connect_started_us = redis_now_us();
	r->sentinel_error[0] = '\0';
	if (r->timeout_ms != 0)
		redis_deadline_arm(r, r->connect_started_us +
		    (uint64_t)r->timeout_ms * 1000, r->connect_started_us);
}

static void
redis_connect(struct strata_redis *r)
{
	redis_attempt_start(r);
	if (r->n_sentinels > 0) {
		r->sentinel_tries = 0;
		redis_resolve(r);
		return;
	}
	redis_connect_to(r);
}

/*
 * A new context to host:port: a TCP connection, or with redis-tls one to
 * the Unix socket of that target's TLS bridge (redis_tls.c), which hiredis
 * sees connected at once; a TLS failure then reaches it as EOF.  NULL with
 * a message in err only when the bridge cannot be made.
 */
static redisAsyncContext *
redis_async_connect(struct strata_redis *r, const char *host, uint16_t port,
    char *err, size_t errlen)
{
	redisAsyncContext *ac;
	const char *path;

	if (r->tls == NULL) {
		ac = redisAsyncConnect(host, port);
	} else {
		path = strata_redis_tls_path(r->tls, host, port, err, errlen);
		if (path == NULL)
			return NULL;
		ac = redisAsyncConnectUnix(path);
	}
	if (ac == NULL)
		abort();
	return ac;
}

/* Connect to r->host:r->port, within the attempt already started. */
static void
redis_connect_to(struct strata_redis *r)
{
	char err[192];
	redisAsyncContext *ac = redis_async_connect(r, r->host, r->port, err,
	    sizeof(err));

	if (ac == NULL) {
		redis_log_failure(r, STRATA_REDIS_FAIL_NETWORK, err);
		redis_schedule_retry(r);
		return;
	}
	if (ac->err) {
		redis_log_failure(r, STRATA_REDIS_FAIL_NETWORK, ac->errstr);
		redisAsyncFree(ac);
		redis_schedule_retry(r);
		return;
	}
	ac->data = r;
	r->ac = ac;
	redisLibeventAttach(ac, r->base);
	redisAsyncSetConnectCallback(ac, redis_connect_cb);
	redisAsyncSetDisconnectCallback(ac, redis_disconnect_cb);
}

/* ---- Sentinel: which server is the primary ---- */

/* The sentinel being asked (redis_resolve advanced sentinel_next). */
static const struct redis_sentinel *
redis_sentinel_current(const struct strata_redis *r)
{
	return &r->sentinels[(r->sentinel_next - 1) % r->n_sentinels];
}

/* Keep why the sentinel being asked did not answer, for the log line of
 * an attempt that no sentinel answered. */
static void
redis_sentinel_note(struct strata_redis *r, const char *what,
    const char *error)
{
	const struct redis_sentinel *sn = redis_sentinel_current(r);

	snprintf(r->sentinel_error, sizeof(r->sentinel_error), "%s:%u: %s%s",
	    sn->host, (unsigned)sn->port, what, error);
	STRATA_DEBUG("redis", "sentinel did not answer|detail=\"%s\"",
	    r->sentinel_error);
}

/* The next sentinel of this attempt, or a retry when all were asked. */
static void
redis_resolve_next(struct strata_redis *r)
{
	char why[256];

	if (++r->sentinel_tries < r->n_sentinels) {
		redis_resolve(r);
		return;
	}
	snprintf(why, sizeof(why), "no sentinel named the primary (last: %s)",
	    r->sentinel_error[0] != '\0' ? r->sentinel_error : "-");
	redis_log_failure(r, STRATA_REDIS_FAIL_SENTINEL, why);
	redis_schedule_retry(r);
}

/* Sets r->host:r->port from a get-master-addr-by-name reply; false if it
 * is not one (nil: the sentinel does not know the master name). */
static bool
redis_take_primary(struct strata_redis *r, const redisReply *rp)
{
	char *end, *host;
	unsigned long port;

	if (rp == NULL || rp->type != REDIS_REPLY_ARRAY ||
	    rp->elements != 2 ||
	    rp->element[0]->type != REDIS_REPLY_STRING ||
	    rp->element[1]->type != REDIS_REPLY_STRING ||
	    rp->element[0]->len == 0 || rp->element[0]->len > 255)
		return false;
	port = strtoul(rp->element[1]->str, &end, 10);
	if (*end != '\0' || port == 0 || port > 65535)
		return false;
	if (strcmp(r->host, rp->element[0]->str) == 0 && r->port == port)
		return true;
	if ((host = strdup(rp->element[0]->str)) == NULL)
		abort();
	if (r->connected_once) {
		r->failovers++;
		STRATA_WARN("redis", "primary moved|from=%s:%u to=%s:%lu "
		    "master=%s", r->host, (unsigned)r->port, host, port,
		    r->master);
	}
	free(r->host);
	r->host = host;
	r->port = (uint16_t)port;
	return true;
}

static void
redis_sentinel_reply_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct strata_redis *r = privdata;
	const redisReply *rp = reply;

	if (ac != r->sac || r->freeing)
		return;
	r->sac = NULL;
	if (rp == NULL) { /* that sentinel went away */
		redis_sentinel_note(r, "", ac->errstr[0] != '\0' ?
		    ac->errstr : "connection lost");
		redis_resolve_next(r);
		return;
	}
	redisAsyncDisconnect(ac);
	if (redis_take_primary(r, rp)) {
		redis_connect_to(r);
		return;
	}
	if (rp->type == REDIS_REPLY_ERROR) {
		if (redis_error_is_auth(rp->str))
			r->failures_by[STRATA_REDIS_FAIL_AUTH]++;
		redis_sentinel_note(r, "", rp->str);
	} else {
		redis_sentinel_note(r, "does not name master ", r->master);
	}
	redis_resolve_next(r);
}

/* Ask the sentinel on ac which server is the primary. */
static int
redis_sentinel_ask(struct strata_redis *r, redisAsyncContext *ac)
{
	return redisAsyncCommand(ac, redis_sentinel_reply_cb, r,
	    "SENTINEL get-master-addr-by-name %s", r->master);
}

/* The sentinel's answer to AUTH: ask it, or the next one. */
static void
redis_sentinel_auth_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct strata_redis *r = privdata;
	const redisReply *rp = reply;

	if (ac != r->sac || r->freeing)
		return;
	if (rp != NULL && rp->type != REDIS_REPLY_ERROR &&
	    redis_sentinel_ask(r, ac) == REDIS_OK)
		return;
	r->sac = NULL;
	if (rp == NULL) {
		redis_sentinel_note(r, "", ac->errstr[0] != '\0' ?
		    ac->errstr : "connection lost");
	} else {
		if (rp->type == REDIS_REPLY_ERROR) {
			r->failures_by[STRATA_REDIS_FAIL_AUTH]++;
			redis_sentinel_note(r, "AUTH refused: ", rp->str);
		} else {
			redis_sentinel_note(r, "", "cannot send SENTINEL");
		}
		redisAsyncDisconnect(ac);
	}
	redis_resolve_next(r);
}

static void
redis_sentinel_connect_cb(const redisAsyncContext *ac, int status)
{
	struct strata_redis *r = ac->data;

	if (status == REDIS_OK || ac != r->sac)
		return;
	redis_sentinel_note(r, "", ac->errstr);
	r->sac = NULL; /* freed by hiredis after this callback */
	redis_resolve_next(r);
}

static void
redis_sentinel_disconnect_cb(const redisAsyncContext *ac, int status)
{
	struct strata_redis *r = ac->data;

	if (ac != r->sac)
		return;
	redis_sentinel_note(r, "", status == REDIS_OK ? "closed" :
	    ac->errstr);
	r->sac = NULL;
	redis_resolve_next(r);
}

/* Ask the next sentinel which server is the primary. */
static void
redis_resolve(struct strata_redis *r)
{
	const struct redis_sentinel *sn =
	    &r->sentinels[r->sentinel_next++ % r->n_sentinels];
	char err[192];
	redisAsyncContext *sac = redis_async_connect(r, sn->host, sn->port,
	    err, sizeof(err));
	int rc;

	if (sac == NULL) {
		redis_sentinel_note(r, "", err);
		redis_resolve_next(r);
		return;
	}
	if (sac->err) {
		redis_sentinel_note(r, "", sac->errstr);
		redisAsyncFree(sac);
		redis_resolve_next(r);
		return;
	}
	sac->data = r;
	r->sac = sac;
	redisLibeventAttach(sac, r->base);
	redisAsyncSetConnectCallback(sac, redis_sentinel_connect_cb);
	redisAsyncSetDisconnectCallback(sac, redis_sentinel_disconnect_cb);
	/* queued now, sent once connected */
	if (r->sentinel_password != NULL)
		rc = redis_send_auth(sac, redis_sentinel_auth_cb, r,
		    r->sentinel_user, r->sentinel_password);
	else
		rc = redis_sentinel_ask(r, sac);
	if (rc != REDIS_OK) {
		r->sac = NULL;
		redisAsyncDisconnect(sac);
		redis_resolve_next(r);
	}
}

static void
redis_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	redis_connect(arg);
}

static size_t
redis_list_length(const struct strata_list *l)
{
	const struct strata_list *pos;
	size_t n = 0;

	for (pos = l->next; pos != l; pos = pos->next)
		n++;
	return n;
}

/*
 * The deadline passed: give up the connection or the connect attempt.
 * Runs from our timer, so redisAsyncFree() is allowed; it calls the
 * pending reply callbacks with NULL (while we are DOWN, so commands they
 * issue are refused) and then, for an established connection, the
 * disconnect callback, which ignores a context that is no longer r->ac.
 * No callback runs for an attempt still connecting.
 */
static void
redis_abandon(struct strata_redis *r)
{
	redisAsyncContext *ac = r->ac;

	r->timeouts++;
	if (r->state == REDIS_STATE_CONNECTING)
		redis_log_failure(r, STRATA_REDIS_FAIL_TIMEOUT, "timed out");
	else
		STRATA_WARN("redis", "no reply, dropping connection|"
		    "addr=%s:%u timeout_ms=%u pending=%zu", r->host,
		    (unsigned)r->port, r->timeout_ms,
		    redis_list_length(&r->inflight));
	r->ac = NULL;
	r->state = REDIS_STATE_DOWN;
	redis_deadline_stop(r);
	if (r->sac != NULL) { /* a sentinel that does not answer */
		redisAsyncContext *sac = r->sac;
		r->sac = NULL;
		redisAsyncFree(sac);
	}
	if (ac != NULL)
		redisAsyncFree(ac);
	assert(strata_list_empty(&r->inflight));
	redis_schedule_retry(r);
}

/* The timer may fire early (the head it was armed for got its reply, or
 * the loop's cached clock is behind ours): then it re-arms. */
static void
redis_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct strata_redis *r = arg;
	uint64_t due, now = redis_now_us();

	r->deadline_armed = false;
	if (!redis_deadline_next(r, &due))
		return;
	if (now < due) {
		redis_deadline_arm(r, due, now);
		return;
	}
	redis_abandon(r);
}

/* Run the callbacks of the calls in list with reply NULL; list is left
 * empty. */
static void
redis_fail_calls(struct strata_redis *r, struct strata_list *list)
{
	struct strata_list *pos, *tmp, batch;

	/* Callbacks may issue commands that fail again: take the list first
	 * so those run on the next turn, not in this loop. */
	strata_list_init(&batch);
	redis_list_splice(&batch, list);
	STRATA_LIST_FOREACH_SAFE(pos, tmp, &batch) {
		struct redis_call *c = STRATA_CONTAINER_OF(pos,
		    struct redis_call, node);
		strata_list_remove(pos);
		if (c->cb != NULL)
			c->cb(r, NULL, c->arg);
		free(c);
	}
}

/* Run the callbacks of refused commands with reply NULL. */
static void
redis_failed_cb(evutil_socket_t fd, short what, void *arg)
{
	struct strata_redis *r = arg;

	redis_fail_calls(r, &r->failed);
}

/* Synced writes no WAIT was sent for, at free: callbacks with NULL. */
static void
redis_sync_fail_queued(struct strata_redis *r)
{
	struct strata_list *pos, *tmp;

	STRATA_LIST_FOREACH_SAFE(pos, tmp, &r->sync_queue) {
		struct redis_synced *sy = STRATA_CONTAINER_OF(pos,
		    struct redis_synced, node);

		strata_list_remove(pos);
		if (sy->cb != NULL)
			sy->cb(r, NULL, sy->arg);
		if (sy->reply != NULL)
			freeReplyObject(sy->reply);
		free(sy);
	}
}

static struct strata_redis *
redis_alloc(struct event_base *base, const char *host, uint16_t port,
    void (*on_up)(struct strata_redis *, void *), void *arg)
{
	struct strata_redis *r = calloc(1, sizeof(*r));

	if (r == NULL || (r->host = strdup(host)) == NULL)
		abort();
	r->base = base;
	r->port = port;
	r->on_up = on_up;
	r->arg = arg;
	r->timeout_ms = STRATA_REDIS_TIMEOUT_MS;
	strata_list_init(&r->inflight);
	strata_list_init(&r->failed);
	strata_list_init(&r->sync_queue);
	strata_list_init(&r->fake_messages);
	r->retry_ev = event_new(base, -1, 0, redis_retry_cb, r);
	r->failed_ev = event_new(base, -1, 0, redis_failed_cb, r);
	r->deadline_ev = event_new(base, -1, 0, redis_deadline_cb, r);
	if (r->retry_ev == NULL || r->failed_ev == NULL ||
	    r->deadline_ev == NULL)
		abort();
	return r;
}

struct strata_redis *
strata_redis_new(struct event_base *base, const char *host, uint16_t port,
    void (*on_up)(struct strata_redis *, void *), void *arg)
{
	struct strata_redis *r = redis_alloc(base, host, port, on_up, arg);

	redis_connect(r);
	return r;
}

/* Parse "host:port,host:port" into out (n entries, malloc'd) or count
 * them (out NULL).  Returns the count, or -1 with a message in err. */
static int
redis_parse_sentinels(const char *list, struct redis_sentinel *out,
    char *err, size_t errlen)
{
	const char *p = list;
	int n = 0;

	while (*p != '\0') {
		const char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		const char *colon = memchr(p, ':', len);
		char port[8], *end;
		unsigned long v;
		size_t hlen = colon != NULL ? (size_t)(colon - p) : 0;
		size_t plen = colon != NULL ? len - hlen - 1 : 0;

		if (colon == NULL || hlen == 0 || hlen > 255 || plen == 0 ||
		    plen >= sizeof(port)) {
			snprintf(err, errlen, "sentinel %d of \"%s\" is not "
			    "host:port", n + 1, list);
			return -1;
		}
		memcpy(port, colon + 1, plen);
		port[plen] = '\0';
		v = strtoul(port, &end, 10);
		if (*end != '\0' || v == 0 || v > 65535) {
			snprintf(err, errlen, "sentinel %d of \"%s\" has a bad "
			    "port", n + 1, list);
			return -1;
		}
		if (out != NULL) {
			if ((out[n].host = strndup(p, hlen)) == NULL)
				abort();
			out[n].port = (uint16_t)v;
		}
		n++;
		p += len;
		if (*p == ',')
			p++;
	}
	if (n == 0)
		snprintf(err, errlen, "no sentinel in \"%s\"", list);
	return n > 0 ? n : -1;
}

int
strata_redis_check_opts(const struct strata_redis_opts *o, char *err,
    size_t errlen)
{
	if (o->sentinels != NULL && o->sentinels[0] != '\0' &&
	    redis_parse_sentinels(o->sentinels, NULL, err, errlen) < 0)
		return STRATA_EINVAL;
	if (o->wait_replicas > 0 && o->timeout_ms != 0 &&
	    o->wait_timeout_ms >= o->timeout_ms) {
		snprintf(err, errlen, "redis-wait-timeout (%u ms) must be "
		    "below redis-timeout (%u ms)", o->wait_timeout_ms,
		    o->timeout_ms);
		return STRATA_EINVAL;
	}
	return 0;
}

/* A copy of s, or NULL when s is NULL or "". */
static char *
redis_strdup_nonempty(const char *s)
{
	char *d;

	if (s == NULL || s[0] == '\0')
		return NULL;
	if ((d = strdup(s)) == NULL)
		abort();
	return d;
}

/* Wipe and free a secret string. */
static void
redis_secret_free(char **p)
{
	if (*p != NULL) {
		OPENSSL_cleanse(*p, strlen(*p));
		free(*p);
	}
	*p = NULL;
}

/* One password file of option `option` into *out (NULL for no path). */
static int
redis_password_load(const char *option, const char *path, char **out,
    char *err, size_t errlen)
{
	char buf[REDIS_MAX_PASSWORD + 2];
	FILE *f;
	size_t n;
	int rc = STRATA_EINVAL, read_errno;

	*out = NULL;
	if (path == NULL || path[0] == '\0')
		return 0;
	if ((f = fopen(path, "rb")) == NULL) {
		snprintf(err, errlen, "%s %s: %s", option, path,
		    strerror(errno));
		return STRATA_EINVAL;
	}
	n = fread(buf, 1, sizeof(buf), f);
	read_errno = ferror(f) ? errno : 0; /* a directory, I/O */
	fclose(f);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (read_errno != 0)
		snprintf(err, errlen, "%s %s: %s", option, path,
		    strerror(read_errno));
	else if (n == 0 || n > REDIS_MAX_PASSWORD)
		snprintf(err, errlen, "%s %s: the password must be 1 to %d "
		    "bytes (it has %s%zu)", option, path, REDIS_MAX_PASSWORD,
		    n > REDIS_MAX_PASSWORD ? "over " : "", n);
	else if (memchr(buf, '\0', n) != NULL)
		snprintf(err, errlen, "%s %s: the password holds a NUL byte",
		    option, path);
	else if ((*out = strndup(buf, n)) == NULL)
		abort();
	else
		rc = 0;
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

int
strata_redis_secrets_load(struct strata_redis_secrets *s, const char *user,
    const char *password_file, const char *sentinel_user,
    const char *sentinel_password_file, char *err, size_t errlen)
{
	strata_redis_secrets_free(s);
	if (user != NULL && user[0] != '\0' &&
	    (password_file == NULL || password_file[0] == '\0')) {
		snprintf(err, errlen, "redis-user %s needs redis-password-file",
		    user);
		return STRATA_EINVAL;
	}
	if (sentinel_user != NULL && sentinel_user[0] != '\0' &&
	    (sentinel_password_file == NULL ||
	    sentinel_password_file[0] == '\0')) {
		snprintf(err, errlen, "redis-sentinel-user %s needs "
		    "redis-sentinel-password-file", sentinel_user);
		return STRATA_EINVAL;
	}
	if (redis_password_load("redis-password-file", password_file,
	    &s->password, err, errlen) != 0 ||
	    redis_password_load("redis-sentinel-password-file",
	    sentinel_password_file, &s->sentinel_password, err,
	    errlen) != 0) {
		strata_redis_secrets_free(s);
		return STRATA_EINVAL;
	}
	return 0;
}

void
strata_redis_secrets_free(struct strata_redis_secrets *s)
{
	redis_secret_free(&s->password);
	redis_secret_free(&s->sentinel_password);
	SSL_CTX_free(s->tls);
	s->tls = NULL;
}

struct strata_redis *
strata_redis_open(struct event_base *base, const struct strata_redis_opts *o,
    void (*on_up)(struct strata_redis *, void *), void *arg)
{
	struct strata_redis *r = redis_alloc(base, o->host, o->port, on_up,
	    arg);
	char err[160];
	int n;

	r->timeout_ms = o->timeout_ms;
	r->wait_replicas = o->wait_replicas;
	r->wait_timeout_ms = o->wait_timeout_ms;
	r->user = redis_strdup_nonempty(o->user);
	r->password = redis_strdup_nonempty(o->password);
	r->sentinel_user = redis_strdup_nonempty(o->sentinel_user);
	r->sentinel_password = redis_strdup_nonempty(o->sentinel_password);
	if (o->tls != NULL)
		r->tls = strata_redis_tls_new(base, o->tls);
	if (o->sentinels != NULL && o->sentinels[0] != '\0') {
		n = redis_parse_sentinels(o->sentinels, NULL, err,
		    sizeof(err));
		if (n < 0)
			abort(); /* strata_redis_check_opts() first */
		r->sentinels = calloc((size_t)n, sizeof(*r->sentinels));
		r->master = strdup(o->master != NULL ? o->master : "strata");
		if (r->sentinels == NULL || r->master == NULL)
			abort();
		(void)redis_parse_sentinels(o->sentinels, r->sentinels, err,
		    sizeof(err));
		r->n_sentinels = (size_t)n;
	}
	redis_connect(r);
	return r;
}

uint64_t
strata_redis_wait_short(const struct strata_redis *r)
{
	return r->wait_short;
}

uint64_t
strata_redis_failovers(const struct strata_redis *r)
{
	return r->failovers;
}

uint64_t
strata_redis_connect_failures(const struct strata_redis *r,
    enum strata_redis_failure why)
{
	return why < STRATA_REDIS_FAIL_KINDS ? r->failures_by[why] : 0;
}

const char *
strata_redis_failure_name(enum strata_redis_failure why)
{
	static const char *const names[STRATA_REDIS_FAIL_KINDS] = {
		[STRATA_REDIS_FAIL_NETWORK] = "network",
		[STRATA_REDIS_FAIL_TIMEOUT] = "timeout",
		[STRATA_REDIS_FAIL_AUTH] = "auth",
		[STRATA_REDIS_FAIL_ERROR] = "error",
		[STRATA_REDIS_FAIL_REPLICA] = "replica",
		[STRATA_REDIS_FAIL_SENTINEL] = "sentinel",
	};

	return why < STRATA_REDIS_FAIL_KINDS ? names[why] : "?";
}

/* ---- synced writes ---- */

/*
 * One WAIT at a time: a WAIT blocks the connection until its replicas
 * answer or its timeout passes, so one per write would add up when the
 * replicas lag.  Synced writes (and sync points) queue in `sync_queue`;
 * a WAIT sent covers every one queued before it (Redis answers in order),
 * and those queued while it is out wait for the next.
 */
struct redis_wait_batch {
	struct strata_redis *r;
	struct strata_list synced;
};

/* A deep copy that freeReplyObject() frees. */
static redisReply *
redis_reply_copy(const redisReply *src)
{
	redisReply *d = calloc(1, sizeof(*d));

	if (d == NULL)
		abort();
	d->type = src->type;
	d->integer = src->integer;
	if (src->str != NULL) {
		if ((d->str = malloc(src->len + 1)) == NULL)
			abort();
		memcpy(d->str, src->str, src->len);
		d->str[src->len] = '\0';
		d->len = src->len;
	}
	if (src->type == REDIS_REPLY_ARRAY && src->elements > 0) {
		d->element = calloc(src->elements, sizeof(*d->element));
		if (d->element == NULL)
			abort();
		for (size_t i = 0; i < src->elements; i++)
			d->element[i] = redis_reply_copy(src->element[i]);
		d->elements = src->elements;
	}
	return d;
}

static void
redis_synced_written(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct redis_synced *sy = arg;

	sy->answered = reply != NULL;
	if (reply != NULL && sy->cb != NULL)
		sy->reply = redis_reply_copy(reply);
}

static void redis_wait_flush(struct strata_redis *r);

static void
redis_wait_done(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct redis_wait_batch *wb = arg;
	struct strata_list *pos, *tmp;

	r->wait_out = false;
	if (reply != NULL && (reply->type != REDIS_REPLY_INTEGER ||
	    reply->integer < (long long)r->wait_replicas) &&
	    r->wait_short++ % 1000 == 0)
		STRATA_WARN("redis", "writes not on enough replicas|"
		    "wanted=%u got=%lld timeout_ms=%u short_total=%llu",
		    r->wait_replicas, reply->type == REDIS_REPLY_INTEGER ?
		    reply->integer : -1LL, r->wait_timeout_ms,
		    (unsigned long long)r->wait_short);
	STRATA_LIST_FOREACH_SAFE(pos, tmp, &wb->synced) {
		struct redis_synced *sy = STRATA_CONTAINER_OF(pos,
		    struct redis_synced, node);

		strata_list_remove(pos);
		if (sy->cb != NULL && sy->is_sync)
			sy->cb(r, reply, sy->arg);
		else if (sy->cb != NULL)
			sy->cb(r, reply != NULL && sy->answered ? sy->reply :
			    NULL, sy->arg);
		if (sy->reply != NULL)
			freeReplyObject(sy->reply);
		free(sy);
	}
	free(wb);
	if (!strata_list_empty(&r->sync_queue) && !r->freeing)
		redis_wait_flush(r);
}

/* WAIT for everything in sync_queue. */
static void
redis_wait_flush(struct strata_redis *r)
{
	struct redis_wait_batch *wb = malloc(sizeof(*wb));

	if (wb == NULL)
		abort();
	wb->r = r;
	strata_list_init(&wb->synced);
	redis_list_splice(&wb->synced, &r->sync_queue);
	r->wait_out = true;
	strata_redis_command(r, redis_wait_done, wb, "WAIT %u %u",
	    r->wait_replicas, r->wait_timeout_ms);
}

static void
redis_synced_queue(struct strata_redis *r, struct redis_synced *sy)
{
	strata_list_push_back(&r->sync_queue, &sy->node);
	if (!r->wait_out)
		redis_wait_flush(r);
}

int
strata_redis_commandv_synced(struct strata_redis *r, strata_redis_cb cb,
    void *arg, int argc, const char **argv, const size_t *argvlen)
{
	struct redis_synced *sy;
	int rc;

	if (r->wait_replicas == 0 || r->fake != NULL)
		return strata_redis_commandv(r, cb, arg, argc, argv, argvlen);
	if ((sy = calloc(1, sizeof(*sy))) == NULL)
		abort();
	sy->cb = cb;
	sy->arg = arg;
	rc = strata_redis_commandv(r, redis_synced_written, sy, argc, argv,
	    argvlen);
	redis_synced_queue(r, sy);
	return rc;
}

void
strata_redis_sync(struct strata_redis *r, strata_redis_cb cb, void *arg)
{
	struct redis_synced *sy;

	if (r->wait_replicas == 0 || r->fake != NULL) {
		strata_redis_command(r, cb, arg, "PING");
		return;
	}
	if ((sy = calloc(1, sizeof(*sy))) == NULL)
		abort();
	sy->cb = cb;
	sy->arg = arg;
	sy->is_sync = true;
	redis_synced_queue(r, sy);
}

static void
redis_fake_drop_messages(struct strata_redis *r)
{
	struct strata_list *pos, *tmp;

	STRATA_LIST_FOREACH_SAFE(pos, tmp, &r->fake_messages) {
		strata_list_remove(pos);
		free(STRATA_CONTAINER_OF(pos, struct redis_fake_message,
		    node));
	}
}

static void
redis_fake_free(struct strata_redis *r)
{
	redis_fake_drop_messages(r);
	if (r->fake_reader != NULL)
		redisReaderFree(r->fake_reader);
	if (r->fake_reply_ev != NULL)
		event_free(r->fake_reply_ev);
	if (r->fake_up_ev != NULL)
		event_free(r->fake_up_ev);
	if (r->fake_message_ev != NULL)
		event_free(r->fake_message_ev);
}

/*
 * Must not be called from inside a reply callback of this client.  The
 * callbacks of commands in flight or refused run now, with reply NULL.
 */
void
strata_redis_free(struct strata_redis *r)
{
	if (r == NULL)
		return;
	r->freeing = true;
	r->state = REDIS_STATE_DOWN;
	if (r->sac != NULL) {
		redisAsyncContext *sac = r->sac;
		r->sac = NULL;
		redisAsyncFree(sac);
	}
	if (r->ac != NULL) {
		redisAsyncContext *ac = r->ac;
		r->ac = NULL;
		redisAsyncFree(ac); /* runs the in-flight callbacks */
	}
	/* Left in flight only with the fake.  Callbacks may issue commands,
	 * refused now: run until none is left. */
	redis_fail_calls(r, &r->inflight);
	while (!strata_list_empty(&r->failed))
		redis_fail_calls(r, &r->failed);
	redis_sync_fail_queued(r);
	redis_fake_free(r);
	event_free(r->retry_ev);
	event_free(r->failed_ev);
	event_free(r->deadline_ev);
	free(r->channel);
	free(r->host);
	for (size_t i = 0; i < r->n_sentinels; i++)
		free(r->sentinels[i].host);
	free(r->sentinels);
	free(r->master);
	free(r->user);
	redis_secret_free(&r->password);
	free(r->sentinel_user);
	redis_secret_free(&r->sentinel_password);
	strata_redis_tls_free(r->tls); /* after the contexts using it */
	free(r);
}

bool
strata_redis_is_up(const struct strata_redis *r)
{
	return r->state == REDIS_STATE_UP &&
	    (r->ac != NULL || r->fake != NULL);
}

bool
strata_redis_is_strings(const redisReply *reply, size_t n)
{
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (reply->element[i]->type != REDIS_REPLY_STRING)
			return false;
	return true;
}

void
strata_redis_set_timeout(struct strata_redis *r, unsigned ms)
{
	uint64_t due;

	r->timeout_ms = ms;
	redis_deadline_stop(r);
	/* Never abandon from here (we may be inside a hiredis callback):
	 * a deadline already past fires from the loop. */
	if (redis_deadline_next(r, &due))
		redis_deadline_arm(r, due, redis_now_us());
}

uint64_t
strata_redis_timeouts(const struct strata_redis *r)
{
	return r->timeouts;
}

void
strata_redis_observe(struct strata_redis *r, struct strata_histogram *latency,
    uint64_t *error_replies)
{
	r->latency = latency;
	r->error_replies = error_replies;
}

uint64_t
strata_redis_reconnects(const struct strata_redis *r)
{
	return r->reconnects;
}

static void
redis_reply_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct redis_call *c = privdata;
	struct strata_redis *r = c->r;
	const redisReply *rp = reply;

	strata_list_remove(&c->node);
	if (rp != NULL && r->latency != NULL && c->sent_us != 0)
		strata_histogram_observe_us(r->latency,
		    redis_now_us() - c->sent_us);
	if (rp != NULL && rp->type == REDIS_REPLY_ERROR &&
	    r->error_replies != NULL)
		(*r->error_replies)++;
	if (c->cb != NULL)
		c->cb(r, reply, c->arg);
	free(c);
	/* a primary demoted by a failover: ask the sentinels again */
	if (rp != NULL && rp->type == REDIS_REPLY_ERROR &&
	    r->n_sentinels > 0 && ac == r->ac && !r->freeing &&
	    strncmp(rp->str, "READONLY", 8) == 0 &&
	    !(ac->c.flags & REDIS_DISCONNECTING)) {
		STRATA_WARN("redis", "primary is a replica now, "
		    "reconnecting|addr=%s:%u", r->host, (unsigned)r->port);
		redisAsyncDisconnect(ac);
	}
}

static struct redis_call *
redis_call_new(struct strata_redis *r, strata_redis_cb cb, void *arg)
{
	struct redis_call *c = malloc(sizeof(*c));

	if (c == NULL)
		abort();
	strata_list_init(&c->node);
	c->r = r;
	c->cb = cb;
	c->arg = arg;
	c->sent_us = 0;
	return c;
}

/* A command that could not be sent: its callback runs from the loop. */
static int
redis_refuse(struct strata_redis *r, struct redis_call *c)
{
	strata_list_push_back(&r->failed, &c->node);
	event_active(r->failed_ev, EV_TIMEOUT, 1);
	return STRATA_AGAIN;
}

static void redis_fake_send(struct strata_redis *r, struct redis_call *c,
    const char *cmd, size_t len);

/*
 * Send one command formatted by hiredis (len < 0: formatting failed) over
 * the connection or to the fake; cmd stays the caller's.  Returns 0, or
 * STRATA_AGAIN with c refused.
 */
static int
redis_send(struct strata_redis *r, struct redis_call *c, const char *cmd,
    int len)
{
	if (len < 0)
		return redis_refuse(r, c);
	if (r->fake != NULL) {
		redis_fake_send(r, c, cmd, (size_t)len);
		return 0;
	}
	if (redisAsyncFormattedCommand(r->ac, redis_reply_cb, c, cmd,
	    (size_t)len) != REDIS_OK)
		return redis_refuse(r, c);
	c->sent_us = redis_now_us();
	strata_list_push_back(&r->inflight, &c->node);
	if (!r->deadline_armed && r->timeout_ms != 0)
		redis_deadline_arm(r, c->sent_us +
		    (uint64_t)r->timeout_ms * 1000, c->sent_us);
	return 0;
}

int
strata_redis_command(struct strata_redis *r, strata_redis_cb cb, void *arg,
    const char *fmt, ...)
{
	struct redis_call *c = redis_call_new(r, cb, arg);
	char *cmd = NULL;
	va_list ap;
	int len, rc;

	if (!strata_redis_is_up(r) || r->freeing)
		return redis_refuse(r, c);
	va_start(ap, fmt);
	len = redisvFormatCommand(&cmd, fmt, ap);
	va_end(ap);
	rc = redis_send(r, c, cmd, len);
	if (cmd != NULL)
		redisFreeCommand(cmd);
	return rc;
}

int
strata_redis_commandv(struct strata_redis *r, strata_redis_cb cb, void *arg,
    int argc, const char **argv, const size_t *argvlen)
{
	struct redis_call *c = redis_call_new(r, cb, arg);
	char *cmd = NULL;
	int len, rc;

	if (!strata_redis_is_up(r) || r->freeing)
		return redis_refuse(r, c);
	len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
	rc = redis_send(r, c, cmd, len);
	if (cmd != NULL)
		redisFreeCommand(cmd);
	return rc;
}

/* Replies of SUBSCRIBE: ["subscribe", channel, n] once, then ["message",
 * channel, payload] per message.  NULL when the connection goes away. */
static void
redis_subscription_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct strata_redis *r = privdata;
	redisReply *rp = reply;

	if (rp == NULL || r->freeing || rp->type != REDIS_REPLY_ARRAY ||
	    rp->elements != 3 || rp->element[0]->type != REDIS_REPLY_STRING ||
	    strcmp(rp->element[0]->str, "message") != 0 ||
	    rp->element[2]->type != REDIS_REPLY_STRING)
		return;
	r->on_message(r, rp->element[2]->str, rp->element[2]->len,
	    r->message_arg);
}

static void
redis_send_subscribe(struct strata_redis *r)
{
	if (redisAsyncCommand(r->ac, redis_subscription_cb, r, "SUBSCRIBE %s",
	    r->channel) != REDIS_OK)
		STRATA_WARN("redis", "subscribe failed|channel=%s",
		    r->channel);
}

/* With the fake, SUBSCRIBE is a no-op: it has nothing to send it to. */
void
strata_redis_subscribe(struct strata_redis *r, const char *channel,
    strata_redis_message_cb cb, void *arg)
{
	free(r->channel);
	r->channel = strdup(channel);
	if (r->channel == NULL)
		abort();
	r->on_message = cb;
	r->message_arg = arg;
	if (strata_redis_is_up(r) && r->fake == NULL)
		redis_send_subscribe(r);
}

/*
 * The fake.
 *
 * States: UP --set_up(false)--> DOWN --set_up(true)--> UP (on_up again).
 * Going DOWN fails the commands in flight (from the loop, through
 * `failed`), drops undelivered messages and discards the bytes fed but
 * not parsed yet, as a real connection loses its socket buffers.
 */

/*
 * hiredis 0.14 allocates an array's element vector as soon as it reads the
 * count, before any element arrives: 13 bytes of fuzz input could ask for
 * 8 GB.  The fake's reader uses hiredis's own reply functions but refuses
 * such an array, which the reader reports as an error (so NULL).
 */
static void *
redis_fake_create_array(const redisReadTask *task, int elements)
{
	struct strata_redis *r = task->privdata;

	if (elements > REDIS_FAKE_MAX_ELEMENTS)
		return NULL;
	return r->fake_create_array(task, elements);
}

/* A fresh reader: whatever the old one held is discarded. */
static void
redis_fake_reader_reset(struct strata_redis *r)
{
	if (r->fake_reader != NULL)
		redisReaderFree(r->fake_reader);
	r->fake_reader = redisReaderCreateWithFunctions(&r->fake_functions);
	if (r->fake_reader == NULL)
		abort();
	/* 0.14's redisReaderSetPrivdata() casts the pointer to int, which
	 * clang refuses: set the field it sets. */
	r->fake_reader->privdata = r;
}

/* Copy hiredis's default reply functions (the table a plain reader
 * points to) with the guarded createArray. */
static void
redis_fake_reader_init(struct strata_redis *r)
{
	redisReader *plain = redisReaderCreate();

	if (plain == NULL)
		abort();
	r->fake_functions = *plain->fn;
	r->fake_create_array = plain->fn->createArray;
	r->fake_functions.createArray = redis_fake_create_array;
	redisReaderFree(plain);
	redis_fake_reader_reset(r);
}

/* The next complete reply fed, or NULL (none complete, or not RESP: the
 * reader is then replaced, so its bytes are gone). */
static redisReply *
redis_fake_next_reply(struct strata_redis *r)
{
	void *reply = NULL;

	if (redisReaderGetReply(r->fake_reader, &reply) == REDIS_OK)
		return reply;
	STRATA_DEBUG("redis", "fake: reply is not RESP|error=\"%s\"",
	    r->fake_reader->errstr);
	redis_fake_reader_reset(r);
	return NULL;
}

/* Answer the commands in flight, oldest first.  Commands issued by the
 * callbacks wait for the next run; those left when a callback takes the
 * fake down get NULL. */
static void
redis_fake_reply_cb(evutil_socket_t fd, short what, void *arg)
{
	struct strata_redis *r = arg;
	struct strata_list *pos, *tmp, batch;

	strata_list_init(&batch);
	redis_list_splice(&batch, &r->inflight);
	STRATA_LIST_FOREACH_SAFE(pos, tmp, &batch) {
		struct redis_call *c = STRATA_CONTAINER_OF(pos,
		    struct redis_call, node);
		redisReply *reply = NULL;

		strata_list_remove(pos);
		if (r->state == REDIS_STATE_UP)
			reply = redis_fake_next_reply(r);
		if (c->cb != NULL)
			c->cb(r, reply, c->arg);
		if (reply != NULL)
			freeReplyObject(reply);
		free(c);
	}
}

static void
redis_fake_up_cb(evutil_socket_t fd, short what, void *arg)
{
	struct strata_redis *r = arg;

	if (r->state == REDIS_STATE_UP && r->on_up != NULL)
		r->on_up(r, r->arg);
}

static void
redis_fake_message_cb(evutil_socket_t fd, short what, void *arg)
{
	struct strata_redis *r = arg;
	struct strata_list *pos, *tmp, batch;

	strata_list_init(&batch);
	redis_list_splice(&batch, &r->fake_messages);
	STRATA_LIST_FOREACH_SAFE(pos, tmp, &batch) {
		struct redis_fake_message *m = STRATA_CONTAINER_OF(pos,
		    struct redis_fake_message, node);

		strata_list_remove(pos);
		if (r->state == REDIS_STATE_UP)
			r->on_message(r, m->data, m->len, r->message_arg);
		free(m);
	}
}

/*
 * Hand the command to answer() as argv, parsed back from the bytes a real
 * connection would send.  c goes in flight first, so a command answer()
 * itself issues is answered after it.
 */
static void
redis_fake_send(struct strata_redis *r, struct redis_call *c,
    const char *cmd, size_t len)
{
	redisReader *reader = NULL;
	redisReply *req = NULL;
	const char **argv = NULL;
	size_t *argvlen = NULL;

	strata_list_push_back(&r->inflight, &c->node);
	event_active(r->fake_reply_ev, EV_TIMEOUT, 1);
	if (r->fake->answer == NULL)
		return;
	if ((reader = redisReaderCreate()) == NULL)
		abort();
	/* hiredis formatted it: anything but one array of strings is a
	 * bug here. */
	if (redisReaderFeed(reader, cmd, len) != REDIS_OK ||
	    redisReaderGetReply(reader, (void **)&req) != REDIS_OK)
		abort();
	assert(req != NULL && req->type == REDIS_REPLY_ARRAY);
	argv = calloc(req->elements + 1, sizeof(*argv));
	argvlen = calloc(req->elements + 1, sizeof(*argvlen));
	if (argv == NULL || argvlen == NULL)
		abort();
	for (size_t i = 0; i < req->elements; i++) {
		assert(req->element[i]->type == REDIS_REPLY_STRING);
		argv[i] = req->element[i]->str;
		argvlen[i] = req->element[i]->len;
	}
	r->fake->answer(r, (int)req->elements, argv, argvlen, r->fake->arg);
	free(argv);
	free(argvlen);
	freeReplyObject(req);
	redisReaderFree(reader);
}

struct strata_redis *
strata_redis_new_fake(struct event_base *base,
    const struct strata_redis_fake *fake,
    void (*on_up)(struct strata_redis *, void *), void *arg)
{
	struct strata_redis *r = redis_alloc(base, "fake", 0, on_up, arg);

	r->fake = fake;
	redis_fake_reader_init(r);
	r->fake_reply_ev = event_new(base, -1, 0, redis_fake_reply_cb, r);
	r->fake_up_ev = event_new(base, -1, 0, redis_fake_up_cb, r);
	r->fake_message_ev = event_new(base, -1, 0, redis_fake_message_cb,
	    r);
	if (r->fake_reply_ev == NULL || r->fake_up_ev == NULL ||
	    r->fake_message_ev == NULL)
		abort();
	r->state = REDIS_STATE_UP;
	r->connected_once = true;
	event_active(r->fake_up_ev, EV_TIMEOUT, 1);
	return r;
}

/* Bytes are kept while the fake is down too (a test may feed ahead of
 * set_up(true)); a reader out of memory fails the next reply. */
void
strata_redis_fake_feed(struct strata_redis *r, const void *resp, size_t len)
{
	assert(r->fake != NULL);
	redisReaderFeed(r->fake_reader, resp, len);
}

/* Ignored also while the fake is down: Redis does not keep messages for a
 * subscriber that is away. */
void
strata_redis_fake_message(struct strata_redis *r, const void *msg,
    size_t len)
{
	struct redis_fake_message *m;

	assert(r->fake != NULL);
	if (r->channel == NULL || r->state != REDIS_STATE_UP)
		return;
	m = malloc(sizeof(*m) + len + 1);
	if (m == NULL)
		abort();
	m->len = len;
	if (len > 0)
		memcpy(m->data, msg, len);
	m->data[len] = '\0';
	strata_list_push_back(&r->fake_messages, &m->node);
	event_active(r->fake_message_ev, EV_TIMEOUT, 1);
}

static void
redis_fake_go_down(struct strata_redis *r)
{
	r->state = REDIS_STATE_DOWN;
	redis_list_splice(&r->failed, &r->inflight);
	event_active(r->failed_ev, EV_TIMEOUT, 1);
	redis_fake_drop_messages(r);
	redis_fake_reader_reset(r);
}

void
strata_redis_fake_set_up(struct strata_redis *r, bool up)
{
	assert(r->fake != NULL);
	if (up == (r->state == REDIS_STATE_UP))
		return;
	if (!up) {
		redis_fake_go_down(r);
		return;
	}
	r->state = REDIS_STATE_UP;
	r->reconnects++;
	event_active(r->fake_up_ev, EV_TIMEOUT, 1);
}
