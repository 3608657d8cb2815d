/*
 * session.c - shadowd's internal MQTT 5 session with its broker core.
 *
 * One end of a socketpair is handed to the core as a connection
 * (broker_conn_new, plain TCP kind: no device policy applies to it); this
 * file speaks MQTT 5 on the other end with the common codec.
 *
 * States:
 *   CONNECTING - CONNECT sent (clean start, no keepalive, Receive Maximum
 *                = max-inflight); CONNACK 0 -> SUBSCRIBING, else DOWN.
 *   SUBSCRIBING - one SUBSCRIBE of the six request filters in the share
 *                group at QoS 1; SUBACK all granted -> UP, else DOWN.
 *   UP         - requests arrive as PUBLISH: each goes to ops.c; a QoS 1
 *                request is acknowledged (PUBACK) when ops.c has answered
 *                it, so the core holds further requests back while
 *                max-inflight are being handled (flow control: MQTT 5
 *                Receive Maximum).  Answers go out as QoS 1 PUBLISHes, at
 *                most the core's Receive Maximum unacknowledged; the rest
 *                wait in `queue` (bounded by SESSION_QUEUE_MAX bytes;
 *                past it an answer is dropped and counted).
 *   DOWN       - the core closed the session (it should not): both ends
 *                are closed, and a new session starts after one second
 *                (the first one starts once Redis is up, polled every
 *                100 ms).
 *                Requests handled meanwhile still complete; their PUBACKs
 *                are dropped (the core redelivers nothing: the session is
 *                not persistent, and neither was the request's place in
 *                it).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "list.h"
#include "mqtt.h"
#include "shadowd.h"

#define SESSION_QUEUE_MAX (64u * 1024 * 1024)
#define SESSION_MAX_PACKET (1u << 20)
#define SESSION_RETRY_MS 1000

enum session_state {
	SESSION_CONNECTING,
	SESSION_SUBSCRIBING,
	SESSION_UP,
	SESSION_DOWN,
};

/* An answer waiting for the window. */
struct session_out {
	struct strata_list node;
	size_t topic_len, len;
	char *topic;
	char *payload;
};

struct shadowd_session {
	struct shadowd *sd;
	enum session_state state;
	struct bufferevent *bev;         /* our end of the socketpair */
	struct event *retry;
	unsigned generation;             /* bumped on every new session */
	uint16_t window;                 /* the core's Receive Maximum */
	uint16_t unacked;                /* our QoS 1 PUBLISHes in flight */
	uint16_t next_id;
	uint8_t used[65536 / 8];         /* packet ids in flight */
	struct strata_list queue;        /* struct session_out */
	size_t queued_bytes;
	uint64_t *dropped;
};

static const char *const session_filters[] = {
	"$aws/things/+/shadow/update",
	"$aws/things/+/shadow/get",
	"$aws/things/+/shadow/delete",
	"$aws/things/+/shadow/name/+/update",
	"$aws/things/+/shadow/name/+/get",
	"$aws/things/+/shadow/name/+/delete",
};
#define SESSION_NFILTERS (sizeof(session_filters) / sizeof(session_filters[0]))

static void session_begin(struct shadowd_session *s);

/* ---- output ---- */

/* Encode p straight into the output buffer. */
static void
session_send(struct shadowd_session *s, const struct strata_mqtt_packet *p)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	size_t n = strata_mqtt_encoded_size(p, STRATA_MQTT_V5);
	struct evbuffer_iovec v;

	if (evbuffer_reserve_space(out, (ev_ssize_t)n, &v, 1) != 1 ||
	    strata_mqtt_encode(p, STRATA_MQTT_V5, v.iov_base, n) != n)
		abort();
	v.iov_len = n;
	if (evbuffer_commit_space(out, &v, 1) != 0)
		abort();
}

static uint16_t
session_take_id(struct shadowd_session *s)
{
	do {
		s->next_id = s->next_id == UINT16_MAX ? 1 : s->next_id + 1;
	} while (s->used[s->next_id / 8] & (1u << (s->next_id % 8)));
	s->used[s->next_id / 8] |= (uint8_t)(1u << (s->next_id % 8));
	return s->next_id;
}

static void
session_publish_now(struct shadowd_session *s, const char *topic,
    size_t topic_len, const char *payload, size_t len)
{
	struct strata_mqtt_packet p = {.type = STRATA_MQTT_PUBLISH};

	p.flags = 1 << 1;   /* QoS 1 */
	p.u.publish.qos = 1;
	p.u.publish.packet_id = session_take_id(s);
	p.u.publish.topic = (struct strata_bytes){(const uint8_t *)topic,
	    topic_len};
	p.u.publish.payload = (struct strata_bytes){(const uint8_t *)payload,
	    len};
	p.props.present = STRATA_PROP_BIT(STRATA_PROP_PAYLOAD_FORMAT);
	p.props.payload_format = 1;   /* JSON: UTF-8 */
	session_send(s, &p);
	s->unacked++;
}

static void
session_out_free(struct shadowd_session *s, struct session_out *o)
{
	s->queued_bytes -= o->topic_len + o->len;
	free(o->topic);
	free(o->payload);
	free(o);
}

/* Send what waits, while the window has room. */
static void
session_drain(struct shadowd_session *s)
{
	while (s->state == SESSION_UP && s->unacked < s->window &&
	    !strata_list_empty(&s->queue)) {
		struct session_out *o = STRATA_CONTAINER_OF(s->queue.next,
		    struct session_out, node);

		strata_list_remove(&o->node);
		session_publish_now(s, o->topic, o->topic_len, o->payload,
		    o->len);
		session_out_free(s, o);
	}
}

static char *
session_dup(const char *p, size_t n)
{
	char *d = malloc(n + 1);

	if (d == NULL)
		abort();
	memcpy(d, p, n);
	d[n] = '\0';
	return d;
}

void
shadowd_publish(struct shadowd *sd, const char *topic, const char *payload,
    size_t len)
{
	struct shadowd_session *s = sd->session;
	size_t topic_len = strlen(topic);
	struct session_out *o;

	if (s == NULL)   /* stopping: answers of requests still in Redis */
		return;
	if (s->state == SESSION_UP && s->unacked < s->window &&
	    strata_list_empty(&s->queue)) {
		session_publish_now(s, topic, topic_len, payload, len);
		return;
	}
	if (s->queued_bytes + topic_len + len > SESSION_QUEUE_MAX) {
		(*s->dropped)++;
		STRATA_WARN(SHADOWD_COMP, "answer dropped: queue full|topic=%s",
		    topic);
		return;
	}
	o = calloc(1, sizeof(*o));
	if (o == NULL)
		abort();
	o->topic = session_dup(topic, topic_len);
	o->topic_len = topic_len;
	o->payload = session_dup(payload, len);
	o->len = len;
	s->queued_bytes += topic_len + len;
	strata_list_push_back(&s->queue, &o->node);
}

void
shadowd_request_done(struct shadowd *sd, unsigned generation,
    uint16_t packet_id)
{
	struct shadowd_session *s = sd->session;
	struct strata_mqtt_packet p = {.type = STRATA_MQTT_PUBACK};

	if (s == NULL || packet_id == 0 || s->state != SESSION_UP ||
	    generation != s->generation)
		return;
	p.u.ack.packet_id = packet_id;
	session_send(s, &p);
}

bool
shadowd_session_ready(const struct shadowd *sd)
{
	return sd->session != NULL && sd->session->state == SESSION_UP;
}

/* ---- input ---- */

static void
session_subscribe(struct shadowd_session *s)
{
	struct strata_mqtt_packet p = {.type = STRATA_MQTT_SUBSCRIBE};
	uint8_t buf[1024];
	size_t n = 0;

	for (size_t i = 0; i < SESSION_NFILTERS; i++) {
		char f[128];
		size_t len = (size_t)snprintf(f, sizeof(f), "$share/%s/%s",
		    SHADOWD_SHARE_GROUP, session_filters[i]);

		buf[n++] = (uint8_t)(len >> 8);
		buf[n++] = (uint8_t)len;
		memcpy(buf + n, f, len);
		n += len;
		buf[n++] = 1;   /* QoS 1 */
	}
	p.flags = 2;
	p.u.subscribe.packet_id = 1;
	p.u.subscribe.count = SESSION_NFILTERS;
	p.u.subscribe.entries = (struct strata_bytes){buf, n};
	session_send(s, &p);
	s->state = SESSION_SUBSCRIBING;
}

static void
session_connack(struct shadowd_session *s, const struct strata_mqtt_packet *p)
{
	if (s->state != SESSION_CONNECTING || p->u.connack.reason != 0) {
		STRATA_WARN(SHADOWD_COMP, "internal session refused, trying again|reason=0x%02x",
		    p->u.connack.reason);
		return;
	}
	s->window = (p->props.present &
	    STRATA_PROP_BIT(STRATA_PROP_RECEIVE_MAXIMUM)) ?
	    p->props.receive_maximum : UINT16_MAX;
	session_subscribe(s);
}

static void
session_suback(struct shadowd_session *s, const struct strata_mqtt_packet *p)
{
	for (size_t i = 0; i < p->u.suback.reasons.len; i++)
		if (p->u.suback.reasons.p[i] > 2) {
			STRATA_ERROR(SHADOWD_COMP, "request filter refused|"
			    "filter=%s reason=0x%02x", session_filters[i],
			    p->u.suback.reasons.p[i]);
			return;
		}
	s->state = SESSION_UP;
	*s->sd->m.session_up = 1;
	STRATA_INFO(SHADOWD_COMP, "serving shadow requests|group=%s",
	    SHADOWD_SHARE_GROUP);
	session_drain(s);
}

static void
session_puback(struct shadowd_session *s, const struct strata_mqtt_packet *p)
{
	uint16_t id = p->u.ack.packet_id;

	if (!(s->used[id / 8] & (1u << (id % 8))))
		return;
	s->used[id / 8] &= (uint8_t)~(1u << (id % 8));
	s->unacked--;
	session_drain(s);
}

static void
session_request(struct shadowd_session *s, const struct strata_mqtt_packet *p)
{
	const struct strata_mqtt_publish *pub = &p->u.publish;

	shadowd_request(s->sd, (const char *)pub->topic.p, pub->topic.len,
	    pub->payload.p, pub->payload.len, s->generation, pub->packet_id);
}

static void
session_packet(struct shadowd_session *s, const struct strata_mqtt_packet *p)
{
	switch (p->type) {
	case STRATA_MQTT_CONNACK:
		session_connack(s, p);
		break;
	case STRATA_MQTT_SUBACK:
		session_suback(s, p);
		break;
	case STRATA_MQTT_PUBLISH:
		if (s->state == SESSION_UP)
			session_request(s, p);
		break;
	case STRATA_MQTT_PUBACK:
		session_puback(s, p);
		break;
	default:   /* DISCONNECT: the close follows */
		break;
	}
}

static void
session_read(struct bufferevent *bev, void *arg)
{
	struct shadowd_session *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct strata_mqtt_packet p;
	size_t avail, total;
	uint8_t *data;

	for (;;) {
		avail = evbuffer_get_length(in);
		data = evbuffer_pullup(in, avail < 5 ? (ev_ssize_t)avail : 5);
		if (avail == 0 || strata_mqtt_frame(data, avail,
		    SESSION_MAX_PACKET, &total) != 0 || total > avail)
			return;
		data = evbuffer_pullup(in, (ev_ssize_t)total);
		if (strata_mqtt_decode(data, total, STRATA_MQTT_V5, &p) == 0)
			session_packet(s, &p);
		else
			STRATA_WARN(SHADOWD_COMP, "internal session: packet "
			    "does not decode|bytes=%zu", total);
		evbuffer_drain(in, total);
	}
}

/* ---- life ---- */

static void
session_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	session_begin(arg);
}

static void
session_down(struct shadowd_session *s)
{
	struct timeval tv = {SESSION_RETRY_MS / 1000, 0};

	STRATA_WARN(SHADOWD_COMP, "internal session closed, starting again");
	bufferevent_free(s->bev);
	s->bev = NULL;
	s->state = SESSION_DOWN;
	*s->sd->m.session_up = 0;
	evtimer_add(s->retry, &tv);
}

static void
session_event(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		session_down(arg);
}

static void
session_connect(struct shadowd_session *s)
{
	struct strata_mqtt_packet p = {.type = STRATA_MQTT_CONNECT};
	char id[160];

	snprintf(id, sizeof(id), "strata-shadowd-%s", s->sd->b->cfg.node_id);
	p.u.connect.version = STRATA_MQTT_V5;
	p.u.connect.clean_start = true;
	p.u.connect.client_id = (struct strata_bytes){(const uint8_t *)id,
	    strlen(id)};
	p.props.present = STRATA_PROP_BIT(STRATA_PROP_RECEIVE_MAXIMUM);
	p.props.receive_maximum = (uint16_t)s->sd->max_inflight;
	session_send(s, &p);
	s->state = SESSION_CONNECTING;
}

static void
session_begin(struct shadowd_session *s)
{
	struct timeval soon = {0, 100 * 1000};
	int fds[2];

	/* the core refuses a session while its session registry (Redis) is
	 * down: wait for it rather than be refused */
	if (!strata_redis_is_up(s->sd->b->redis)) {
		evtimer_add(s->retry, &soon);
		return;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    fds) != 0)
		abort();
	s->generation++;
	s->unacked = 0;
	memset(s->used, 0, sizeof(s->used));
	broker_conn_new(s->sd->b, fds[0], NULL, BROKER_TCP, NULL);
	s->bev = bufferevent_socket_new(s->sd->b->base, fds[1],
	    BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL)
		abort();
	bufferevent_setcb(s->bev, session_read, NULL, session_event, s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	session_connect(s);
}

int
shadowd_session_start(struct shadowd *sd)
{
	struct shadowd_session *s = calloc(1, sizeof(*s));

	if (s == NULL)
		abort();
	s->sd = sd;
	s->window = 1;
	strata_list_init(&s->queue);
	s->retry = evtimer_new(sd->b->base, session_retry_cb, s);
	if (s->retry == NULL)
		abort();
	s->dropped = strata_metrics_counter(sd->b->metrics,
	    "strata_shadowd_answers_dropped_total", "answers dropped because "
	    "the internal session's queue was full", NULL);
	sd->session = s;
	session_begin(s);
	return 0;
}

void
shadowd_session_free(struct shadowd *sd)
{
	struct shadowd_session *s = sd->session;

	if (s == NULL)
		return;
	while (!strata_list_empty(&s->queue)) {
		struct session_out *o = STRATA_CONTAINER_OF(s->queue.next,
		    struct session_out, node);

		strata_list_remove(&o->node);
		session_out_free(s, o);
	}
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	event_free(s->retry);
	free(s);
	sd->session = NULL;
}
