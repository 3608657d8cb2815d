/*
 * ws.c - the bench's MQTT over WebSocket (--ws): a bufferevent filter
 * over a client's socket (or TLS) bufferevent, so the MQTT code reads
 * and writes MQTT bytes as over TCP.  Frames are wslay's (client
 * context: every frame masked, as RFC 6455 requires of clients).
 *
 * States of one connection:
 *   OPENING  the opening request was written at creation; the answer's
 *            headers are awaited (a status other than 101 fails the
 *            connection).  MQTT written meanwhile is framed and sent
 *            behind the request (pipelined: the bench does not wait a
 *            round trip, which the broker allows)
 *   OPEN     input frames unframed into MQTT bytes; output framed as one
 *            binary message per filter call
 *   FAILED   a bad answer or a frame error: BEV_ERROR to the MQTT code
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <wslay/wslay.h>

#include "bench.h"

#define BENCH_WS_MAX_ANSWER 8192

enum bench_ws_state { WS_OPENING, WS_OPEN, WS_FAILED };

struct bench_ws {
	wslay_event_context_ptr ctx;
	struct evbuffer *src;    /* input filter call under way: frames */
	struct evbuffer *in_dst; /* ... MQTT bytes */
	struct evbuffer *out_dst; /* output filter call: frames */
	bool control;            /* the frame being received is one */
	uint32_t mask_seed;
	enum bench_ws_state state;
};

static ssize_t
ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
    void *arg)
{
	struct bench_ws *ws = arg;
	int n = evbuffer_remove(ws->src, buf, len);

	(void)flags;
	if (n <= 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	return n;
}

static ssize_t
ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
    int flags, void *arg)
{
	struct bench_ws *ws = arg;

	(void)ctx;
	(void)flags;
	if (evbuffer_add(ws->out_dst, data, len) != 0)
		bench_fatal("out of memory");
	return (ssize_t)len;
}

/* Masks need not be secret here (a load generator): xorshift. */
static int
ws_genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
    void *arg)
{
	struct bench_ws *ws = arg;
	size_t i;

	(void)ctx;
	for (i = 0; i < len; i++) {
		ws->mask_seed ^= ws->mask_seed << 13;
		ws->mask_seed ^= ws->mask_seed >> 17;
		ws->mask_seed ^= ws->mask_seed << 5;
		buf[i] = (uint8_t)ws->mask_seed;
	}
	return 0;
}

static void
ws_chunk_cb(wslay_event_context_ptr ctx,
    const struct wslay_event_on_frame_recv_chunk_arg *arg, void *user)
{
	struct bench_ws *ws = user;

	(void)ctx;
	/* the broker sends binary frames and control frames only; pongs
	 * and close reasons carry no MQTT, and wslay keeps those itself */
	if (arg->data_length > 0 && !ws->control)
		evbuffer_add(ws->in_dst, arg->data, arg->data_length);
}

static void
ws_frame_start_cb(wslay_event_context_ptr ctx,
    const struct wslay_event_on_frame_recv_start_arg *arg, void *user)
{
	struct bench_ws *ws = user;

	(void)ctx;
	/* control frames' payloads must not reach the MQTT stream */
	ws->control = arg->opcode >= 8;
}

static const struct wslay_event_callbacks ws_callbacks = {
	.recv_callback = ws_recv_cb,
	.send_callback = ws_send_cb,
	.genmask_callback = ws_genmask_cb,
	.on_frame_recv_start_callback = ws_frame_start_cb,
	.on_frame_recv_chunk_callback = ws_chunk_cb,
};

/* OPENING: the answer's headers, then OPEN (or FAILED). */
static enum bufferevent_filter_result
ws_answer(struct bench_ws *ws, struct evbuffer *src)
{
	struct evbuffer_ptr end = evbuffer_search(src, "\r\n\r\n", 4, NULL);
	char status[13];

	if (end.pos < 0)
		return evbuffer_get_length(src) > BENCH_WS_MAX_ANSWER ?
		    BEV_ERROR : BEV_NEED_MORE;
	if (evbuffer_copyout(src, status, 12) != 12 ||
	    memcmp(status, "HTTP/1.1 101", 12) != 0) {
		ws->state = WS_FAILED;
		return BEV_ERROR;
	}
	evbuffer_drain(src, (size_t)end.pos + 4);
	ws->state = WS_OPEN;
	return BEV_OK;
}

static enum bufferevent_filter_result
ws_input(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
    enum bufferevent_flush_mode mode, void *arg)
{
	struct bench_ws *ws = arg;
	enum bufferevent_filter_result r;

	(void)limit;
	(void)mode;
	if (ws->state == WS_OPENING && (r = ws_answer(ws, src)) != BEV_OK)
		return r;
	if (ws->state != WS_OPEN)
		return BEV_ERROR;
	ws->src = src;
	ws->in_dst = dst;
	if (wslay_event_recv(ws->ctx) != 0 ||
	    !wslay_event_get_read_enabled(ws->ctx)) {
		ws->state = WS_FAILED;
		return BEV_ERROR;
	}
	return BEV_OK;
}

static enum bufferevent_filter_result
ws_output(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
    enum bufferevent_flush_mode mode, void *arg)
{
	struct bench_ws *ws = arg;
	size_t n = evbuffer_get_length(src);
	struct wslay_event_msg msg;

	(void)limit;
	(void)mode;
	if (ws->state == WS_FAILED)
		return BEV_ERROR;
	if (n > 0) {
		msg.opcode = WSLAY_BINARY_FRAME;
		msg.msg = evbuffer_pullup(src, (ev_ssize_t)n);
		msg.msg_length = n;
		if (wslay_event_queue_msg(ws->ctx, &msg) != 0)
			return BEV_ERROR;
		evbuffer_drain(src, n);
	}
	ws->out_dst = dst;
	if (wslay_event_send(ws->ctx) != 0)
		return BEV_ERROR;
	return BEV_OK;
}

static void
ws_free(void *arg)
{
	struct bench_ws *ws = arg;

	wslay_event_context_free(ws->ctx);
	free(ws);
}

struct bufferevent *
bench_ws_wrap(struct bufferevent *under, const char *host, int port,
    const char *path, uint32_t seed)
{
	struct bench_ws *ws = calloc(1, sizeof(*ws));
	struct bufferevent *bev;

	if (ws == NULL ||
	    wslay_event_context_client_init(&ws->ctx, &ws_callbacks, ws) != 0)
		bench_fatal("out of memory");
	ws->mask_seed = seed | 1;
	evbuffer_add_printf(bufferevent_get_output(under),
	    "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Key: "
	    "c3RyYXRhLWJlbmNoLWtleQ==\r\nSec-WebSocket-Version: 13\r\n"
	    "Sec-WebSocket-Protocol: mqtt\r\n\r\n", path, host, port);
	bev = bufferevent_filter_new(under, ws_input, ws_output,
	    BEV_OPT_CLOSE_ON_FREE, ws_free, ws);
	if (bev == NULL)
		bench_fatal("bufferevent_filter_new failed");
	return bev;
}
