/*
 * redis.c - asynchronous Redis client (see redis.h for the contract).
 *
 * States:
 *   CONNECTING --connect callback ok--> UP
 *   CONNECTING --connect failed--> DOWN
 *   UP --disconnect callback--> DOWN
 *   DOWN --1 s timer--> CONNECTING
 * hiredis owns and frees its context after the connect-failed and the
 * disconnect callbacks, so `ac` is cleared there.  Commands refused while
 * not UP are queued in `failed` and their callbacks run with reply NULL from
 * a one-shot event, so a caller never sees its callback before
 * strata_redis_command() has returned.
 *
 * A client in subscriber mode (strata_redis_subscribe) sends SUBSCRIBE on
 * every transition to UP; hiredis keeps calling the subscription callback
 * for each message (its privdata is the client itself, never freed).
 *
 * Not detected: a server that stops answering while keeping the TCP
 * connection open (hiredis 0.14 has no async command timeout); TCP
 * keepalive of the kernel eventually reports it.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>

#include "list.h"
#include "log.h"
#include "redis.h"
#include "status.h"

#define REDIS_RETRY_MS 1000

enum redis_state {
	REDIS_STATE_CONNECTING,
	REDIS_STATE_UP,
	REDIS_STATE_DOWN,
};

/* One command in flight or refused: the caller's callback and argument. */
struct redis_call {
	struct strata_list node; /* in `failed` while queued there */
	struct strata_redis *r;
	strata_redis_cb cb;
	void *arg;
};

struct strata_redis {
	struct event_base *base;
	redisAsyncContext *ac;
	enum redis_state state;
	char *host;
	uint16_t port;
	void (*on_up)(struct strata_redis *, void *);
	void *arg;
	bool freeing;
	unsigned failures;     /* connect failures in a row, for the logs */
	struct event *retry_ev;
	struct event *failed_ev;
	struct strata_list failed;
	char *channel;             /* subscriber mode, or NULL */
	strata_redis_message_cb on_message;
	void *message_arg;
};

static void redis_send_subscribe(struct strata_redis *r);

static void redis_connect(struct strata_redis *r);

static void
redis_schedule_retry(struct strata_redis *r)
{
	struct timeval tv = { REDIS_RETRY_MS / 1000,
		(REDIS_RETRY_MS % 1000) * 1000 };

	r->state = REDIS_STATE_DOWN;
	if (!r->freeing)
		event_add(r->retry_ev, &tv);
}

/* The first failure of a series is a warning; the retries every second
 * after it are debug lines, with the count every minute. */
static void
redis_log_failure(struct strata_redis *r, const char *error)
{
	r->failures++;
	if (r->failures == 1 || r->failures % 60 == 0)
		STRATA_WARN("redis", "connect failed|addr=%s:%u error=\"%s\" "
		    "attempts=%u", r->host, (unsigned)r->port, error,
		    r->failures);
	else
		STRATA_DEBUG("redis", "connect failed|addr=%s:%u error=\"%s\"",
		    r->host, (unsigned)r->port, error);
}

static void
redis_connect_cb(const redisAsyncContext *ac, int status)
{
	struct strata_redis *r = ac->data;

	if (status != REDIS_OK) {
		redis_log_failure(r, ac->errstr);
		r->ac = NULL; /* freed by hiredis after this callback */
		redis_schedule_retry(r);
		return;
	}
	r->state = REDIS_STATE_UP;
	r->failures = 0;
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

	r->ac = NULL; /* freed by hiredis after this callback */
	if (r->freeing)
		return;
	STRATA_WARN("redis", "disconnected|addr=%s:%u error=\"%s\"", r->host,
	    (unsigned)r->port, status == REDIS_OK ? "closed" : ac->errstr);
	redis_schedule_retry(r);
}

static void
redis_connect(struct strata_redis *r)
{
	redisAsyncContext *ac = redisAsyncConnect(r->host, r->port);

	if (ac == NULL)
		abort();
	if (ac->err) {
		redis_log_failure(r, ac->errstr);
		redisAsyncFree(ac);
		redis_schedule_retry(r);
		return;
	}
	ac->data = r;
	r->ac = ac;
	r->state = REDIS_STATE_CONNECTING;
	redisLibeventAttach(ac, r->base);
	redisAsyncSetConnectCallback(ac, redis_connect_cb);
	redisAsyncSetDisconnectCallback(ac, redis_disconnect_cb);
}

static void
redis_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	redis_connect(arg);
}

/* Run the callbacks of refused commands with reply NULL. */
static void
redis_failed_cb(evutil_socket_t fd, short what, void *arg)
{
	struct strata_redis *r = arg;
	struct strata_list *pos, *tmp, batch;

	/* Callbacks may issue commands that fail again: take the list first
	 * so those run on the next turn, not in this loop. */
	strata_list_init(&batch);
	if (!strata_list_empty(&r->failed)) {
		batch.next = r->failed.next;
		batch.prev = r->failed.prev;
		batch.next->prev = &batch;
		batch.prev->next = &batch;
		strata_list_init(&r->failed);
	}
	STRATA_LIST_FOREACH_SAFE(pos, tmp, &batch) {
		struct redis_call *c = STRATA_CONTAINER_OF(pos,
		    struct redis_call, node);
		strata_list_remove(pos);
		if (c->cb != NULL)
			c->cb(r, NULL, c->arg);
		free(c);
	}
}

struct strata_redis *
strata_redis_new(struct event_base *base, const char *host, uint16_t port,
    void (*on_up)(struct strata_redis *, void *), void *arg)
{
	struct strata_redis *r = calloc(1, sizeof(*r));

	if (r == NULL || (r->host = strdup(host)) == NULL)
		abort();
	r->base = base;
	r->port = port;
	r->on_up = on_up;
	r->arg = arg;
	strata_list_init(&r->failed);
	r->retry_ev = event_new(base, -1, 0, redis_retry_cb, r);
	r->failed_ev = event_new(base, -1, 0, redis_failed_cb, r);
	if (r->retry_ev == NULL || r->failed_ev == NULL)
		abort();
	redis_connect(r);
	return r;
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
	if (r->ac != NULL) {
		redisAsyncContext *ac = r->ac;
		r->ac = NULL;
		redisAsyncFree(ac);
	}
	/* Callbacks may issue commands, refused now: run until none is
	 * left. */
	while (!strata_list_empty(&r->failed))
		redis_failed_cb(-1, 0, r);
	event_free(r->retry_ev);
	event_free(r->failed_ev);
	free(r->channel);
	free(r->host);
	free(r);
}

bool
strata_redis_is_up(const struct strata_redis *r)
{
	return r->state == REDIS_STATE_UP && r->ac != NULL;
}

static void
redis_reply_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct redis_call *c = privdata;

	if (c->cb != NULL)
		c->cb(c->r, reply, c->arg);
	free(c);
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

int
strata_redis_command(struct strata_redis *r, strata_redis_cb cb, void *arg,
    const char *fmt, ...)
{
	struct redis_call *c = redis_call_new(r, cb, arg);
	va_list ap;
	int rc;

	if (!strata_redis_is_up(r) || r->freeing)
		return redis_refuse(r, c);
	va_start(ap, fmt);
	rc = redisvAsyncCommand(r->ac, redis_reply_cb, c, fmt, ap);
	va_end(ap);
	if (rc != REDIS_OK)
		return redis_refuse(r, c);
	return 0;
}

int
strata_redis_commandv(struct strata_redis *r, strata_redis_cb cb, void *arg,
    int argc, const char **argv, const size_t *argvlen)
{
	struct redis_call *c = redis_call_new(r, cb, arg);

	if (!strata_redis_is_up(r) || r->freeing)
		return redis_refuse(r, c);
	if (redisAsyncCommandArgv(r->ac, redis_reply_cb, c, argc, argv,
	    argvlen) != REDIS_OK)
		return redis_refuse(r, c);
	return 0;
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
	if (strata_redis_is_up(r))
		redis_send_subscribe(r);
}
