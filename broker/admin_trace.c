/*
 * admin_trace.c - TraceClient, Strata's own admin operation (AWS IoT has
 * none): GET /strata/trace/{clientId}?seconds=N streams the events of
 * that client on any broker of the cluster as JSON lines
 * (docs/internals/trace.md; trace.c writes them).
 *
 * A stream's states:
 *   SUBSCRIBING - its own Redis connection SUBSCRIBEs to
 *                 strata:trace:<clientId>; 2 s without it: 503.
 *   REGISTERING - the script adds the trace to strata:traces (or refuses
 *                 the 101st: 409) and tells every broker
 *                 (strata:trace-control).
 *   STREAMING   - 200 sent; each message of the channel is a chunk; the
 *                 timer ends it after the seconds.
 *   ENDING      - the reap event, from the loop: the trace taken out of
 *                 strata:traces, the brokers told, everything freed.
 * The caller going away while STREAMING is libevent's close callback:
 * the request, detached from its connection, is ours to free then.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "admin.h"
#include "trace.h"

#define TRACE_MAX_ACTIVE "100"
#define TRACE_SETUP_SECONDS 2
#define TRACE_CHANNEL_MAX (sizeof("strata:trace:") + STRATA_TRACE_CLIENT_MAX)

enum stream_state { SUBSCRIBING, REGISTERING, STREAMING, ENDING };

struct trace_stream {
	struct strata_broker *b;
	struct admin_call *call;      /* until the answer starts */
	struct evhttp_request *req;   /* once STREAMING */
	struct strata_redis *sub;
	struct event *timer;          /* setup deadline, then the end */
	struct event *reap;
	enum stream_state state;
	bool registered;              /* the member may be in strata:traces */
	bool gone;                    /* the caller went away */
	int seconds;
	char member[STRATA_TRACE_ID_LEN + 2 + STRATA_TRACE_CLIENT_MAX];
	const char *client_id;        /* in member */
};

/* Drop (ZREMRANGEBYSCORE) the traces ended by ARGV[1], refuse over
 * ARGV[4] traces, add member ARGV[3] ending at ARGV[2], tell the
 * brokers (ARGV[5]: the client id). */
static const char *const trace_register_lua =
	"redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])\n"
	"if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then\n"
	"  return redis.error_reply('LimitExceeded at most ' .. ARGV[4] ..\n"
	"    ' client traces at once')\n"
	"end\n"
	"redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])\n"
	"redis.call('PUBLISH', 'strata:trace-control', ARGV[5])\n"
	"return 1\n";

static void
stream_end_soon(struct trace_stream *st)
{
	st->state = ENDING;
	event_active(st->reap, 0, 0);
}

static void
stream_reap(evutil_socket_t fd, short what, void *arg)
{
	struct trace_stream *st = arg;
	struct strata_broker *b = st->b;

	(void)fd;
	(void)what;
	if (st->registered && b->redis != NULL) {
		strata_redis_command(b->redis, NULL, NULL,
		    "ZREM strata:traces %s", st->member);
		strata_redis_command(b->redis, NULL, NULL,
		    "PUBLISH strata:trace-control %s", st->client_id);
	}
	if (st->req != NULL) {
		(*b->m.trace_streams)--;
		if (st->gone)   /* detached from its connection: ours */
			evhttp_request_free(st->req);
	}
	strata_redis_free(st->sub);
	event_free(st->timer);
	event_free(st->reap);
	free(st);
}

static void
stream_closed(struct evhttp_connection *evcon, void *arg)
{
	struct trace_stream *st = arg;

	(void)evcon;
	st->gone = true;
	if (st->state == STREAMING)
		stream_end_soon(st);
}

static void
stream_on_message(struct strata_redis *r, const char *msg, size_t len,
    void *arg)
{
	struct trace_stream *st = arg;
	struct evbuffer *buf;

	(void)r;
	if (st->state != STREAMING || st->gone)
		return;
	if ((buf = evbuffer_new()) == NULL)
		abort();
	evbuffer_add(buf, msg, len);
	evbuffer_add(buf, "\n", 1);
	evhttp_send_reply_chunk(st->req, buf);
	evbuffer_free(buf);
}

/* The last line, then the end of the chunked body. */
static void
stream_finish(struct trace_stream *st)
{
	struct evbuffer *buf = evbuffer_new();
	struct timespec ts;

	if (buf == NULL)
		abort();
	clock_gettime(CLOCK_REALTIME, &ts);
	evbuffer_add_printf(buf, "{\"time\":%lld,\"event\":\"end\","
	    "\"reason\":\"timeout\",\"nodeId\":\"%s\"}\n",
	    (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
	    st->b->cfg.node_id);
	evhttp_send_reply_chunk(st->req, buf);
	evbuffer_free(buf);
	evhttp_connection_set_closecb(evhttp_request_get_connection(st->req),
	    NULL, NULL);
	evhttp_send_reply_end(st->req);   /* libevent frees it when sent */
	(*st->b->m.trace_streams)--;
	st->req = NULL;
}

static void
stream_timer(evutil_socket_t fd, short what, void *arg)
{
	struct trace_stream *st = arg;

	(void)fd;
	(void)what;
	if (st->state == SUBSCRIBING) {
		admin_error(st->call, 503, "ServiceUnavailableException", NULL,
		    "Redis is unavailable");
		st->call = NULL;
		stream_end_soon(st);
	} else if (st->state == STREAMING && !st->gone) {
		stream_finish(st);
		stream_end_soon(st);
	}
}

/* Registered (or not): answer 200 and stream, or the error. */
static void
stream_registered(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct trace_stream *st = arg;
	struct admin_call *call = st->call;
	struct evhttp_connection *evcon;
	struct timeval tv = {st->seconds, 0};

	(void)r;
	st->call = NULL;
	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		bool limit = reply != NULL &&
		    strncmp(reply->str, "LimitExceeded", 13) == 0;

		if (limit)
			admin_error(call, 409, "LimitExceededException", NULL,
			    "%s", reply->str + 14);
		else
			admin_error(call, 503, "ServiceUnavailableException",
			    NULL, "Redis is unavailable");
		stream_end_soon(st);
		return;
	}
	st->req = admin_stream_start(call, "application/x-ndjson");
	if (st->req == NULL) {
		stream_end_soon(st);
		return;
	}
	(*st->b->m.trace_streams)++;
	st->state = STREAMING;
	evcon = evhttp_request_get_connection(st->req);
	evhttp_connection_set_closecb(evcon, stream_closed, st);
	evhttp_connection_set_timeout(evcon, st->seconds + 30);
	event_del(st->timer);
	evtimer_add(st->timer, &tv);
}

/* Subscribed: register the trace (once; later reconnects only
 * resubscribe). */
static void
stream_subscribed(struct strata_redis *r, void *arg)
{
	struct trace_stream *st = arg;
	char now[24], until[24], client[STRATA_TRACE_CLIENT_MAX + 1];
	const char *argv[9];
	size_t len[9];

	(void)r;
	if (st->state != SUBSCRIBING)
		return;
	st->state = REGISTERING;
	st->registered = true;
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	snprintf(until, sizeof(until), "%lld",
	    (long long)time(NULL) + st->seconds);
	snprintf(client, sizeof(client), "%s", st->client_id);
	argv[0] = "EVAL";
	argv[1] = trace_register_lua;
	argv[2] = "1";
	argv[3] = "strata:traces";
	argv[4] = now;
	argv[5] = until;
	argv[6] = st->member;
	argv[7] = TRACE_MAX_ACTIVE;
	argv[8] = client;
	for (int i = 0; i < 9; i++)
		len[i] = strlen(argv[i]);
	strata_redis_commandv(st->b->redis, stream_registered, st, 9, argv,
	    len);
}

/* A random trace id, 16 hex digits, then " <clientId>". */
static void
stream_member(struct trace_stream *st, const char *client_id)
{
	uint8_t id[STRATA_TRACE_ID_LEN / 2];

	if (getrandom(id, sizeof(id), 0) != (ssize_t)sizeof(id))
		for (size_t i = 0; i < sizeof(id); i++)
			id[i] = (uint8_t)rand();
	for (size_t i = 0; i < sizeof(id); i++)
		snprintf(st->member + 2 * i, 3, "%02x", id[i]);
	snprintf(st->member + STRATA_TRACE_ID_LEN,
	    sizeof(st->member) - STRATA_TRACE_ID_LEN, " %s", client_id);
	st->client_id = st->member + STRATA_TRACE_ID_LEN + 1;
}

static void
op_trace_client(struct admin_call *call)
{
	struct strata_broker *b = call->b;
	struct timeval tv = {TRACE_SETUP_SECONDS, 0};
	char channel[TRACE_CHANNEL_MAX];
	struct trace_stream *st;
	int seconds;

	if (!strata_trace_client_id_valid(call->arg, strlen(call->arg))) {
		admin_error(call, 400, "InvalidRequestException", "clientId",
		    "clientId must be 1 to %d bytes of UTF-8 without control "
		    "characters", STRATA_TRACE_CLIENT_MAX);
		return;
	}
	seconds = strata_trace_seconds(admin_query(call, "seconds"));
	if (seconds < 0) {
		admin_error(call, 400, "InvalidRequestException", "seconds",
		    "seconds must be an integer from 1 to %d",
		    STRATA_TRACE_MAX_SECONDS);
		return;
	}
	if (b->redis == NULL || !strata_redis_is_up(b->redis)) {
		admin_error(call, 503, "ServiceUnavailableException", NULL,
		    "Redis is unavailable");
		return;
	}
	if ((st = calloc(1, sizeof(*st))) == NULL)
		abort();
	st->b = b;
	st->call = call;
	st->seconds = seconds;
	stream_member(st, call->arg);
	st->timer = evtimer_new(b->base, stream_timer, st);
	st->reap = event_new(b->base, -1, 0, stream_reap, st);
	st->sub = broker_redis_new(b, stream_subscribed, st);
	if (st->timer == NULL || st->reap == NULL || st->sub == NULL)
		abort();
	evtimer_add(st->timer, &tv);
	snprintf(channel, sizeof(channel), "strata:trace:%s", st->client_id);
	strata_redis_subscribe(st->sub, channel, stream_on_message, st);
}

const struct admin_route admin_trace_routes[] = {
	{EVHTTP_REQ_GET, "strata/trace/*", "TraceClient", "iot:TraceClient",
	    ADMIN_RES_CLIENT, op_trace_client},
	{0, NULL, NULL, NULL, 0, NULL},
};
