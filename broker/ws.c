/*
 * ws.c - MQTT over WebSocket (ws-port, wss-port): the opening request,
 * then MQTT's bytes in binary frames, both ways, framed by wslay.
 *
 * A WebSocket connection is a bufferevent connection of conn.c (a socket
 * one on ws-port, OpenSSL's on wss-port) with this state beside it.  The
 * MQTT code never sees a frame: what the client sends is turned into
 * MQTT bytes in ws->in, dispatched as a TLS connection's input is; what
 * the broker sends goes to ws->out during a loop turn, and the flush at
 * the end of the turn (conn.c) sends it as one binary message.  MQTT
 * packets may be split across frames and messages and several may share
 * one (MQTT 5.0 section 6): the two streams are byte streams.
 *
 * States of one connection:
 *
 *   accept --> UPGRADE: the opening request is read (at most 8 KiB, within
 *     |        the connect timeout, nothing past its blank line)
 *     |-- valid (wsupgrade.h) --> 101 Switching Protocols, subprotocol
 *     |                           mqtt (or mqttv3.1) --> OPEN
 *     +-- invalid, over 8 KiB --> 400 Bad Request, closed once written
 *                                 (refusal 0x101, counted by reason)
 *   OPEN: each readiness, wslay reads every whole frame there is:
 *     binary and continuation frames   their payload appended to ws->in
 *     ping                             pong queued (wslay)
 *     pong                             nothing
 *     close                            close answered (wslay), then c
 *                                      closes (the will goes out: no MQTT
 *                                      DISCONNECT came)
 *     text frame (MQTT is binary), message over ws-max-message, unmasked
 *     frame, reserved bits, unknown opcode, a continuation without a
 *     start, a fragmented control frame
 *                                      close frame (1003, 1009, 1002)
 *                                      sent, c closed (refusal 0x101)
 *   c closes for an MQTT reason (DISCONNECT, refusal, keepalive, take
 *     over, shutdown): what is queued is framed, then a close frame
 *     (1000), then conn.c's flush-and-close.
 *
 * Limits: the opening request's 8 KiB and 64 header lines; each message
 * at most ws-max-message (default: the Maximum Packet Size), its frames'
 * payloads added up: a frame is checked on its header when the first
 * bytes of its payload arrive, before any is passed on (by wslay for a
 * frame alone, here for the message so far).  wslay reads frames in
 * pieces into a 4 KiB buffer of its own and hands them on: no frame or
 * message is held whole.  MQTT's own bounds apply to the bytes behind.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <wslay/wslay.h>

#include "broker.h"
#include "wsupgrade.h"

enum ws_state { WS_UPGRADE, WS_OPEN, WS_CLOSED };

struct broker_ws {
	wslay_event_context_ptr ctx; /* OPEN: the framing state */
	struct evbuffer *in;         /* MQTT bytes not dispatched yet */
	struct evbuffer *out;        /* MQTT bytes to frame at the flush */
	json_t *http;                /* for the authorizer, or NULL */
	char *token;                 /* for the authorizer, or NULL */
	uint64_t message;            /* bytes of the binary message being
					received, its frames so far */
	uint64_t max_message;        /* ws-max-message */
	uint8_t state;               /* enum ws_state */
	uint8_t opcode;              /* of the frame being received */
	bool text;                   /* a text frame came: closing */
	bool too_big;                /* a message passed max_message */
};

static const char *const ws_close_names[BROKER_WS_CLOSES] = {
	[BROKER_WS_CLOSE_CLIENT] = "client",
	[BROKER_WS_CLOSE_PROTOCOL] = "protocol",
	[BROKER_WS_CLOSE_TOO_BIG] = "too_big",
	[BROKER_WS_CLOSE_TEXT] = "text",
	[BROKER_WS_CLOSE_OTHER] = "other",
};

void
broker_ws_metrics_init(struct strata_broker *b)
{
	char labels[64];
	int i;

	b->m.ws_upgrades = strata_metrics_counter(b->metrics,
	    "strata_broker_ws_upgrades_total", "WebSocket opening requests "
	    "accepted", NULL);
	for (i = 0; i < STRATA_WSUP_REFUSALS; i++) {
		snprintf(labels, sizeof(labels), "reason=\"%s\"",
		    strata_wsupgrade_refusal_names[i]);
		b->m.ws_refused[i] = strata_metrics_counter(b->metrics,
		    "strata_broker_ws_upgrades_refused_total", "WebSocket "
		    "opening requests refused (400), by reason", labels);
	}
	for (i = 0; i < BROKER_WS_CLOSES; i++) {
		snprintf(labels, sizeof(labels), "reason=\"%s\"",
		    ws_close_names[i]);
		b->m.ws_closes[i] = strata_metrics_counter(b->metrics,
		    "strata_broker_ws_closes_total", "WebSocket connections "
		    "ended by a close frame, by reason", labels);
	}
	b->m.ws_frames_in = strata_metrics_counter(b->metrics,
	    "strata_broker_ws_frames_received_total", "WebSocket frames "
	    "received, control frames included", NULL);
	b->m.ws_messages_out = strata_metrics_counter(b->metrics,
	    "strata_broker_ws_messages_sent_total", "WebSocket binary "
	    "messages sent (one per connection and loop turn with output)",
	    NULL);
}

struct broker_ws *
broker_ws_new(void)
{
	struct broker_ws *ws = calloc(1, sizeof(*ws));

	if (ws == NULL)
		abort();
	ws->in = evbuffer_new();
	ws->out = evbuffer_new();
	if (ws->in == NULL || ws->out == NULL)
		abort();
	return ws;
}

void
broker_ws_free(struct broker_ws *ws)
{
	if (ws == NULL)
		return;
	if (ws->ctx != NULL)
		wslay_event_context_free(ws->ctx);
	evbuffer_free(ws->in);
	evbuffer_free(ws->out);
	json_decref(ws->http);
	free(ws->token);
	free(ws);
}

struct evbuffer *
broker_ws_input(struct broker_conn *c)
{
	return c->ws->in;
}

struct evbuffer *
broker_ws_output(struct broker_conn *c)
{
	return c->ws->out;
}

const char *
broker_ws_token(const struct broker_conn *c)
{
	return c->ws != NULL ? c->ws->token : NULL;
}

const json_t *
broker_ws_http(const struct broker_conn *c)
{
	return c->ws != NULL ? c->ws->http : NULL;
}

void
broker_ws_auth_taken(struct broker_conn *c)
{
	if (c->ws == NULL)
		return;
	json_decref(c->ws->http);
	c->ws->http = NULL;
	free(c->ws->token);
	c->ws->token = NULL;
}

/* ---- wslay's callbacks: the bufferevent is the socket ---- */

static ssize_t
ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
    void *arg)
{
	struct broker_conn *c = arg;
	int n = evbuffer_remove(bufferevent_get_input(c->bev), buf, len);

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
	struct broker_conn *c = arg;

	(void)ctx;
	(void)flags;
	if (evbuffer_add(bufferevent_get_output(c->bev), data, len) != 0)
		abort();
	return (ssize_t)len;
}

static void
ws_frame_start_cb(wslay_event_context_ptr ctx,
    const struct wslay_event_on_frame_recv_start_arg *arg, void *user)
{
	struct broker_conn *c = user;
	struct broker_ws *ws = c->ws;

	(*c->broker->m.ws_frames_in)++;
	ws->opcode = arg->opcode;
	if (arg->opcode == WSLAY_BINARY_FRAME)
		ws->message = 0;
	if (arg->opcode == WSLAY_BINARY_FRAME ||
	    arg->opcode == WSLAY_CONTINUATION_FRAME)
		ws->message += arg->payload_length;
	if (ws->text || ws->too_big)
		return;
	if (ws->message > ws->max_message) {
		/* wslay bounds a frame alone, this the message's frames */
		ws->too_big = true;
		wslay_event_queue_close(ctx, WSLAY_CODE_MESSAGE_TOO_BIG, NULL,
		    0);
		wslay_event_shutdown_read(ctx);
	} else if (arg->opcode == WSLAY_TEXT_FRAME) {
		/* MQTT-6.0.0-1: anything but binary data closes it */
		ws->text = true;
		wslay_event_queue_close(ctx, WSLAY_CODE_UNSUPPORTED_DATA,
		    (const uint8_t *)"MQTT needs binary frames", 24);
		wslay_event_shutdown_read(ctx);
	}
}

static void
ws_frame_chunk_cb(wslay_event_context_ptr ctx,
    const struct wslay_event_on_frame_recv_chunk_arg *arg, void *user)
{
	struct broker_conn *c = user;
	struct broker_ws *ws = c->ws;

	(void)ctx;
	/* a continuation frame continues a binary message: a text one
	 * ended reading at its first frame */
	if (ws->text || ws->too_big || (ws->opcode != WSLAY_BINARY_FRAME &&
	    ws->opcode != WSLAY_CONTINUATION_FRAME) || arg->data_length == 0)
		return;
	if (evbuffer_add(ws->in, arg->data, arg->data_length) != 0)
		abort();
}

static const struct wslay_event_callbacks ws_callbacks = {
	.recv_callback = ws_recv_cb,
	.send_callback = ws_send_cb,
	.on_frame_recv_start_callback = ws_frame_start_cb,
	.on_frame_recv_chunk_callback = ws_frame_chunk_cb,
};

/* ---- the opening request ---- */

static void
ws_refuse_upgrade(struct broker_conn *c,
    const struct strata_wsupgrade_request *r)
{
	static const char answer[] = "HTTP/1.1 400 Bad Request\r\n"
	    "Connection: close\r\nContent-Type: text/plain\r\n"
	    "Sec-WebSocket-Version: 13\r\nContent-Length: %zu\r\n\r\n%s\n";
	struct evbuffer *out = bufferevent_get_output(c->bev);

	(*c->broker->m.ws_refused[r->refusal])++;
	evbuffer_add_printf(out, answer, strlen(r->error) + 1, r->error);
	c->ws->state = WS_CLOSED;
	broker_refuse(c->broker, c, BROKER_REFUSE_WEBSOCKET, r->error);
	broker_conn_close(c, false);
}

/* The token of the custom authorizer: the header named
 * authorizer-token-key, else the query parameter of that name. */
static char *
ws_token(const struct strata_wsupgrade_request *r, const char *key)
{
	const struct strata_bytes *v = strata_wsupgrade_header(r, key);
	struct evkeyvalq query;
	const char *found;
	char *q, *token = NULL;

	if (v != NULL)
		return strndup((const char *)v->p, v->len);
	if (r->query.len == 0)
		return NULL;
	q = strndup((const char *)r->query.p, r->query.len);
	if (q == NULL)
		abort();
	if (evhttp_parse_query_str(q, &query) == 0) {
		found = evhttp_find_header(&query, key);
		if (found != NULL)
			token = strdup(found);
		evhttp_clear_headers(&query);
	}
	free(q);
	return token;
}

/* protocolData.http as AWS's authorizer Lambda gets it over WSS. */
static json_t *
ws_http(const struct strata_wsupgrade_request *r)
{
	json_t *http = json_object(), *headers = json_object();
	char query[STRATA_WSUPGRADE_MAX + 2];
	unsigned i;

	for (i = 0; i < r->n_headers; i++) {
		const struct strata_wsupgrade_header *h = &r->headers[i];
		char name[STRATA_WSUPGRADE_MAX];

		snprintf(name, sizeof(name), "%.*s", (int)h->name.len,
		    (const char *)h->name.p);
		json_object_set_new(headers, name, json_stringn(
		    (const char *)h->value.p, h->value.len));
	}
	json_object_set_new(http, "headers", headers);
	if (r->query.len > 0) {
		snprintf(query, sizeof(query), "?%.*s", (int)r->query.len,
		    (const char *)r->query.p);
		json_object_set_new(http, "queryString", json_string(query));
	}
	return http;
}

static void
ws_open(struct broker_conn *c, const struct strata_wsupgrade_request *r)
{
	struct strata_broker *b = c->broker;
	struct broker_ws *ws = c->ws;
	char accept[STRATA_WSUPGRADE_ACCEPT_LEN];
	long max = b->cfg.ws_max_message > 0 ? b->cfg.ws_max_message :
	    (long)broker_max_packet(b);

	strata_wsupgrade_accept(r->key, accept);
	evbuffer_add_printf(bufferevent_get_output(c->bev),
	    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
	    "Sec-WebSocket-Protocol: %s\r\n\r\n", accept, r->subprotocol);
	if (b->authorizer != NULL) {
		ws->http = ws_http(r);
		ws->token = ws_token(r, b->cfg.authorizer_token_key);
	}
	if (wslay_event_context_server_init(&ws->ctx, &ws_callbacks, c) != 0)
		abort();
	wslay_event_config_set_no_buffering(ws->ctx, 1);
	wslay_event_config_set_max_recv_msg_length(ws->ctx, (uint64_t)max);
	ws->max_message = (uint64_t)max;
	ws->state = WS_OPEN;
	(*b->m.ws_upgrades)++;
	STRATA_DEBUG(BROKER_COMP, "WebSocket opened|peer=%s subprotocol=%s",
	    c->peer, r->subprotocol);
}

/* UPGRADE: 0 once open (the request consumed), else nonzero. */
static int
ws_upgrade(struct broker_conn *c)
{
	struct evbuffer *raw = bufferevent_get_input(c->bev);
	size_t len = evbuffer_get_length(raw);
	struct strata_wsupgrade_request r;
	uint8_t *p;
	int rc;

	if (len > STRATA_WSUPGRADE_MAX)
		len = STRATA_WSUPGRADE_MAX;
	p = evbuffer_pullup(raw, (ev_ssize_t)len);
	rc = strata_wsupgrade_parse(p, len, c->broker->cfg.ws_path, &r);
	if (rc == STRATA_AGAIN)
		return rc;
	if (rc != 0) {
		ws_refuse_upgrade(c, &r);
		return rc;
	}
	ws_open(c, &r);
	evbuffer_drain(raw, r.len);
	return 0;
}

/* ---- frames ---- */

static enum broker_ws_close
ws_close_reason(struct broker_ws *ws)
{
	if (wslay_event_get_close_received(ws->ctx))
		return BROKER_WS_CLOSE_CLIENT;
	if (ws->text)
		return BROKER_WS_CLOSE_TEXT;
	if (ws->too_big)
		return BROKER_WS_CLOSE_TOO_BIG;
	switch (wslay_event_get_status_code_sent(ws->ctx)) {
	case WSLAY_CODE_PROTOCOL_ERROR: return BROKER_WS_CLOSE_PROTOCOL;
	case WSLAY_CODE_MESSAGE_TOO_BIG: return BROKER_WS_CLOSE_TOO_BIG;
	default: return BROKER_WS_CLOSE_OTHER;
	}
}

/* Reading ended (a close frame, a bad frame): answer and close c. */
static void
ws_ended(struct broker_conn *c)
{
	struct broker_ws *ws = c->ws;
	enum broker_ws_close why;
	static const char *const what[BROKER_WS_CLOSES] = {
		[BROKER_WS_CLOSE_CLIENT] = "WebSocket close frame",
		[BROKER_WS_CLOSE_PROTOCOL] = "WebSocket protocol error "
		    "(unmasked frame, reserved bits or opcode, bad "
		    "fragments)",
		[BROKER_WS_CLOSE_TOO_BIG] = "WebSocket message over "
		    "ws-max-message",
		[BROKER_WS_CLOSE_TEXT] = "WebSocket text frame (MQTT is "
		    "binary)",
		[BROKER_WS_CLOSE_OTHER] = "WebSocket frame refused",
	};

	/* the close frame (and pongs) first: the code sent says why */
	wslay_event_send(ws->ctx);
	why = ws_close_reason(ws);
	(*c->broker->m.ws_closes[why])++;
	ws->state = WS_CLOSED;
	if (why != BROKER_WS_CLOSE_CLIENT)
		broker_refuse(c->broker, c, BROKER_REFUSE_WEBSOCKET,
		    what[why]);
	else
		STRATA_DEBUG(BROKER_COMP, "WebSocket closed by the client|"
		    "peer=%s", c->peer);
	broker_conn_close(c, true);
}

/* Pongs are output the client makes the broker queue: a client that
 * pings and never reads is closed at max-output-bytes, as one that
 * sends PINGREQs and never reads. */
static bool
ws_output_over(struct broker_conn *c)
{
	if (broker_conn_output_len(c) <=
	    (size_t)c->broker->cfg.max_output_bytes)
		return false;
	c->ws->state = WS_CLOSED;
	c->close_reason = STRATA_RC_QUOTA_EXCEEDED;
	broker_refuse(c->broker, c, STRATA_RC_QUOTA_EXCEEDED,
	    "client output over max-output-bytes (WebSocket pongs)");
	broker_conn_close(c, true);
	return true;
}

int
broker_ws_read(struct broker_conn *c)
{
	struct broker_ws *ws = c->ws;
	int rc;

	if (ws->state == WS_UPGRADE && ws_upgrade(c) != 0)
		return STRATA_AGAIN;
	if (ws->state != WS_OPEN)
		return STRATA_AGAIN;
	rc = wslay_event_recv(ws->ctx);
	if (rc != 0 || !wslay_event_get_read_enabled(ws->ctx)) {
		ws_ended(c);
		return STRATA_EIO;
	}
	if (wslay_event_want_write(ws->ctx))
		wslay_event_send(ws->ctx); /* pongs */
	return ws_output_over(c) ? STRATA_EIO : 0;
}

void
broker_ws_flush(struct broker_conn *c)
{
	struct broker_ws *ws = c->ws;
	size_t n = evbuffer_get_length(ws->out);
	struct wslay_event_msg msg;

	if (n == 0)
		return;
	if (ws->state != WS_OPEN) {
		evbuffer_drain(ws->out, n);
		return;
	}
	msg.opcode = WSLAY_BINARY_FRAME;
	msg.msg = evbuffer_pullup(ws->out, (ev_ssize_t)n);
	msg.msg_length = n;
	if (wslay_event_queue_msg(ws->ctx, &msg) == 0)
		(*c->broker->m.ws_messages_out)++;
	evbuffer_drain(ws->out, n);
	wslay_event_send(ws->ctx);
}

void
broker_ws_closing(struct broker_conn *c)
{
	struct broker_ws *ws = c->ws;

	broker_ws_flush(c);
	if (ws->state != WS_OPEN)
		return;
	ws->state = WS_CLOSED;
	if (!wslay_event_get_close_sent(ws->ctx) &&
	    wslay_event_queue_close(ws->ctx, WSLAY_CODE_NORMAL_CLOSURE, NULL,
	    0) == 0)
		wslay_event_send(ws->ctx);
}
