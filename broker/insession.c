/*
 * insession.c - an in-process MQTT 5 client session of the broker core:
 * how a daemon built on the core (strata-shadowd, strata-rulesd) joins
 * the cluster as a subscriber and publisher without a socket to a broker.
 *
 * One end of a socketpair is handed to the core as a connection
 * (broker_conn_new, plain TCP kind: no device policy applies to it); this
 * file speaks MQTT 5 on the other end with the common codec.
 *
 * States:
 *   CONNECTING - CONNECT sent (clean start, no keepalive, Receive Maximum
 *                as asked); CONNACK 0 -> UP and ops->up (the owner
 *                subscribes there), else the session waits for the core
 *                to close it.
 *   UP         - SUBSCRIBE / UNSUBSCRIBE go out when asked; each SUBACK
 *                is handed to ops->suback.  Messages arrive as PUBLISH
 *                and go to ops->message; a QoS 1 one is acknowledged
 *                (PUBACK) when the owner says so (broker_insession_ack),
 *                so the core holds further messages back while Receive
 *                Maximum are being handled (MQTT 5 flow control).  Our
 *                PUBLISHes go out at QoS 0 at once, at QoS 1 within the
 *                core's Receive Maximum; the rest wait in `queue`
 *                (bounded by INSESSION_QUEUE_MAX bytes; past it a
 *                publish is dropped and counted).  A QoS 1 publish
 *                with a done callback is told its PUBACK's reason
 *                (`waiting`, by packet id).
 *   DOWN       - the core closed the session (it should not): both ends
 *                are closed, ops->down is told, and a new session starts
 *                after one second (the first one starts once Redis is up,
 *                polled every 100 ms: the core refuses sessions while its
 *                session registry is down).  Messages handled meanwhile
 *                still complete; their PUBACKs are dropped (the
 *                generation they came with is gone).  Our QoS 1
 *                PUBLISHes that had no PUBACK are told -1 (lost with
 *                the session: their senders may publish again);
 *                queued ones wait for the next session.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "broker.h"
#include "list.h"
#include "mqtt.h"

#define INSESSION_QUEUE_MAX (64u * 1024 * 1024)
#define INSESSION_MAX_PACKET (1u << 20)
#define INSESSION_RETRY_MS 1000

enum insession_state {
	INSESSION_CONNECTING,
	INSESSION_UP,
	INSESSION_DOWN,
};

/* A QoS 1 publish waiting for the window; its properties kept as the
 * block the codec writes (parsed again when it goes out). */
struct insession_out {
	struct strata_list node;
	size_t topic_len, len, props_len;
	char *topic;
	uint8_t *payload;
	uint8_t *props;             /* block contents, or NULL */
	bool json, retain;
	broker_insession_done_cb done;
	void *done_arg;
};

/* A QoS 1 publish in flight whose sender wants its PUBACK. */
struct insession_wait {
	broker_insession_done_cb done;
	void *arg;
};

struct broker_insession {
	struct strata_broker *b;
	const struct broker_insession_ops *ops;
	void *arg;
	char *client_id;
	uint16_t receive_max;
	enum insession_state state;
	struct bufferevent *bev;         /* our end of the socketpair */
	struct event *retry;
	unsigned generation;             /* bumped on every new session */
	uint16_t window;                 /* the core's Receive Maximum */
	uint16_t unacked;                /* our QoS 1 PUBLISHes in flight */
	uint16_t next_id;
	uint8_t used[65536 / 8];         /* packet ids in flight */
	uint16_t next_sub_id;            /* SUBSCRIBE / UNSUBSCRIBE ids */
	struct strata_list queue;        /* struct insession_out */
	struct strata_u64map waiting;    /* packet id -> insession_wait */
	size_t queued_bytes;
	uint64_t *dropped;
};

static void insession_begin(struct broker_insession *s);

/* ---- output ---- */

/* Encode p straight into the output buffer. */
static void
insession_send(struct broker_insession *s, const struct strata_mqtt_packet *p)
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
insession_take_id(struct broker_insession *s)
{
	do {
		s->next_id = s->next_id == UINT16_MAX ? 1 : s->next_id + 1;
	} while (s->used[s->next_id / 8] & (1u << (s->next_id % 8)));
	s->used[s->next_id / 8] |= (uint8_t)(1u << (s->next_id % 8));
	return s->next_id;
}

static void
insession_wait(struct broker_insession *s, uint16_t packet_id,
    broker_insession_done_cb done, void *arg)
{
	struct insession_wait *w = malloc(sizeof(*w));

	if (w == NULL)
		abort();
	w->done = done;
	w->arg = arg;
	free(strata_u64map_put(&s->waiting, packet_id, w));
}

/* Tell packet_id's sender (if it waits) reason. */
static void
insession_done(struct broker_insession *s, uint16_t packet_id, int reason)
{
	struct insession_wait *w = strata_u64map_take(&s->waiting, packet_id);

	if (w == NULL)
		return;
	w->done(w->arg, reason);
	free(w);
}

/* Every sender still waiting for a PUBACK is told -1. */
static void
insession_done_all(struct broker_insession *s)
{
	for (uint32_t id = 1; id <= UINT16_MAX &&
	    strata_u64map_count(&s->waiting) > 0; id++)
		insession_done(s, (uint16_t)id, -1);
}

static void
insession_publish_now(struct broker_insession *s,
    const struct broker_insession_msg *m, size_t topic_len)
{
	struct strata_mqtt_packet p = {.type = STRATA_MQTT_PUBLISH};

	p.flags = (uint8_t)(m->qos << 1 | (m->retain ? 1 : 0));
	p.u.publish.qos = (uint8_t)m->qos;
	p.u.publish.retain = m->retain;
	if (m->qos > 0)
		p.u.publish.packet_id = insession_take_id(s);
	p.u.publish.topic = (struct strata_bytes){(const uint8_t *)m->topic,
	    topic_len};
	p.u.publish.payload = (struct strata_bytes){m->payload, m->len};
	if (m->props != NULL) {
		p.props = *m->props;
	} else if (m->json) {
		p.props.present = STRATA_PROP_BIT(STRATA_PROP_PAYLOAD_FORMAT);
		p.props.payload_format = 1;   /* UTF-8 */
	}
	insession_send(s, &p);
	if (m->qos > 0)
		s->unacked++;
	if (m->qos > 0 && m->done != NULL)
		insession_wait(s, p.u.publish.packet_id, m->done,
		    m->done_arg);
}

static void
insession_out_free(struct broker_insession *s, struct insession_out *o)
{
	s->queued_bytes -= o->topic_len + o->len + o->props_len;
	free(o->topic);
	free(o->payload);
	free(o->props);
	free(o);
}

/* Send what waits, while the window has room. */
static void
insession_drain(struct broker_insession *s)
{
	while (s->state == INSESSION_UP && s->unacked < s->window &&
	    !strata_list_empty(&s->queue)) {
		struct insession_out *o = STRATA_CONTAINER_OF(s->queue.next,
		    struct insession_out, node);

		struct strata_mqtt_props props;
		struct broker_insession_msg m = {.topic = o->topic,
		    .payload = o->payload, .len = o->len, .qos = 1,
		    .json = o->json, .retain = o->retain, .done = o->done,
		    .done_arg = o->done_arg};

		strata_list_remove(&o->node);
		if (o->props != NULL && strata_mqtt_props_parse(o->props,
		    o->props_len, STRATA_MQTT_PUBLISH, &props) == 0)
			m.props = &props;
		insession_publish_now(s, &m, o->topic_len);
		insession_out_free(s, o);
	}
}

static void *
insession_dup(const void *p, size_t n)
{
	char *d = malloc(n + 1);

	if (d == NULL)
		abort();
	memcpy(d, p, n);
	d[n] = '\0';
	return d;
}

/* The properties as a block's contents (the length varint dropped). */
static void
insession_keep_props(struct insession_out *o,
    const struct strata_mqtt_props *props)
{
	size_t n = strata_mqtt_props_size(props);
	uint8_t *block = malloc(n + 4);
	size_t w, head;

	if (block == NULL)
		abort();
	w = strata_mqtt_props_write(props, block);
	head = w - n;
	o->props = insession_dup(block + head, n);
	o->props_len = n;
	free(block);
}

static void
insession_enqueue(struct broker_insession *s,
    const struct broker_insession_msg *m, size_t topic_len)
{
	struct insession_out *o;

	if (s->queued_bytes + topic_len + m->len > INSESSION_QUEUE_MAX) {
		(*s->dropped)++;
		STRATA_WARN(s->ops->comp, "publish dropped: queue full|"
		    "topic=%s", m->topic);
		if (m->done != NULL)
			m->done(m->done_arg, -1);
		return;
	}
	o = calloc(1, sizeof(*o));
	if (o == NULL)
		abort();
	o->topic = insession_dup(m->topic, topic_len);
	o->topic_len = topic_len;
	o->payload = insession_dup(m->payload, m->len);
	o->len = m->len;
	o->json = m->json;
	o->retain = m->retain;
	o->done = m->done;
	o->done_arg = m->done_arg;
	if (m->props != NULL)
		insession_keep_props(o, m->props);
	s->queued_bytes += topic_len + m->len + o->props_len;
	strata_list_push_back(&s->queue, &o->node);
}

void
broker_insession_publish(struct broker_insession *s,
    const struct broker_insession_msg *m)
{
	size_t topic_len = strlen(m->topic);

	if (m->qos == 0) {
		if (s->state == INSESSION_UP)
			insession_publish_now(s, m, topic_len);
		return;
	}
	if (s->state == INSESSION_UP && s->unacked < s->window &&
	    strata_list_empty(&s->queue)) {
		insession_publish_now(s, m, topic_len);
		return;
	}
	insession_enqueue(s, m, topic_len);
}

void
broker_insession_ack(struct broker_insession *s, unsigned generation,
    uint16_t packet_id)
{
	struct strata_mqtt_packet p = {.type = STRATA_MQTT_PUBACK};

	if (packet_id == 0 || s->state != INSESSION_UP ||
	    generation != s->generation)
		return;
	p.u.ack.packet_id = packet_id;
	insession_send(s, &p);
}

bool
broker_insession_up(const struct broker_insession *s)
{
	return s != NULL && s->state == INSESSION_UP;
}

static uint16_t
insession_next_sub_id(struct broker_insession *s)
{
	s->next_sub_id = s->next_sub_id == UINT16_MAX ? 1 :
	    s->next_sub_id + 1;
	return s->next_sub_id;
}

uint16_t
broker_insession_subscribe(struct broker_insession *s,
    const char *const *filters, size_t n, uint32_t sub_id)
{
	struct strata_mqtt_packet p = {.type = STRATA_MQTT_SUBSCRIBE};
	uint8_t buf[4096];
	size_t len = 0;

	if (s->state != INSESSION_UP || n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		size_t flen = strlen(filters[i]);

		if (len + flen + 3 > sizeof(buf))
			return 0;
		buf[len++] = (uint8_t)(flen >> 8);
		buf[len++] = (uint8_t)flen;
		memcpy(buf + len, filters[i], flen);
		len += flen;
		buf[len++] = 1;   /* QoS 1 */
	}
	p.flags = 2;
	p.u.subscribe.packet_id = insession_next_sub_id(s);
	p.u.subscribe.count = (uint32_t)n;
	p.u.subscribe.entries = (struct strata_bytes){buf, len};
	if (sub_id != 0) {
		p.props.present = STRATA_PROP_BIT(STRATA_PROP_SUBSCRIPTION_ID);
		p.props.n_sub_ids = 1;
		p.props.sub_ids[0] = sub_id;
	}
	insession_send(s, &p);
	return p.u.subscribe.packet_id;
}

void
broker_insession_unsubscribe(struct broker_insession *s, const char *filter)
{
	struct strata_mqtt_packet p = {.type = STRATA_MQTT_UNSUBSCRIBE};
	size_t flen = strlen(filter);
	uint8_t buf[1024];

	if (s->state != INSESSION_UP || flen + 2 > sizeof(buf))
		return;
	buf[0] = (uint8_t)(flen >> 8);
	buf[1] = (uint8_t)flen;
	memcpy(buf + 2, filter, flen);
	p.flags = 2;
	p.u.subscribe.packet_id = insession_next_sub_id(s);
	p.u.subscribe.count = 1;
	p.u.subscribe.entries = (struct strata_bytes){buf, flen + 2};
	insession_send(s, &p);
}

/* ---- input ---- */

static void
insession_connack(struct broker_insession *s,
    const struct strata_mqtt_packet *p)
{
	if (s->state != INSESSION_CONNECTING || p->u.connack.reason != 0) {
		STRATA_WARN(s->ops->comp, "internal session refused, trying "
		    "again|reason=0x%02x", p->u.connack.reason);
		return;
	}
	s->window = (p->props.present &
	    STRATA_PROP_BIT(STRATA_PROP_RECEIVE_MAXIMUM)) ?
	    p->props.receive_maximum : UINT16_MAX;
	s->state = INSESSION_UP;
	s->ops->up(s->arg);
	insession_drain(s);
}

static void
insession_puback(struct broker_insession *s,
    const struct strata_mqtt_packet *p)
{
	uint16_t id = p->u.ack.packet_id;

	if (!(s->used[id / 8] & (1u << (id % 8))))
		return;
	s->used[id / 8] &= (uint8_t)~(1u << (id % 8));
	s->unacked--;
	insession_done(s, id, p->u.ack.reason);
	insession_drain(s);
}

static void
insession_packet(struct broker_insession *s,
    const struct strata_mqtt_packet *p)
{
	switch (p->type) {
	case STRATA_MQTT_CONNACK:
		insession_connack(s, p);
		break;
	case STRATA_MQTT_SUBACK:
		if (s->ops->suback != NULL)
			s->ops->suback(s->arg, p->u.suback.packet_id,
			    p->u.suback.reasons.p, p->u.suback.reasons.len);
		break;
	case STRATA_MQTT_PUBLISH:
		if (s->state == INSESSION_UP)
			s->ops->message(s->arg, p, s->generation);
		break;
	case STRATA_MQTT_PUBACK:
		insession_puback(s, p);
		break;
	default:   /* UNSUBACK; DISCONNECT: the close follows */
		break;
	}
}

static void
insession_read(struct bufferevent *bev, void *arg)
{
	struct broker_insession *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct strata_mqtt_packet p;
	size_t avail, total;
	uint8_t *data;

	for (;;) {
		avail = evbuffer_get_length(in);
		data = evbuffer_pullup(in, avail < 5 ? (ev_ssize_t)avail : 5);
		if (avail == 0 || strata_mqtt_frame(data, avail,
		    INSESSION_MAX_PACKET, &total) != 0 || total > avail)
			return;
		data = evbuffer_pullup(in, (ev_ssize_t)total);
		if (strata_mqtt_decode(data, total, STRATA_MQTT_V5, &p) == 0)
			insession_packet(s, &p);
		else
			STRATA_WARN(s->ops->comp, "internal session: packet "
			    "does not decode|bytes=%zu", total);
		evbuffer_drain(in, total);
	}
}

/* ---- life ---- */

static void
insession_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	insession_begin(arg);
}

static void
insession_down(struct broker_insession *s)
{
	struct timeval tv = {INSESSION_RETRY_MS / 1000, 0};

	STRATA_WARN(s->ops->comp, "internal session closed, starting again");
	bufferevent_free(s->bev);
	s->bev = NULL;
	s->state = INSESSION_DOWN;
	insession_done_all(s);
	if (s->ops->down != NULL)
		s->ops->down(s->arg);
	evtimer_add(s->retry, &tv);
}

static void
insession_event(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		insession_down(arg);
}

static void
insession_connect(struct broker_insession *s)
{
	struct strata_mqtt_packet p = {.type = STRATA_MQTT_CONNECT};

	p.u.connect.version = STRATA_MQTT_V5;
	p.u.connect.clean_start = true;
	p.u.connect.client_id = (struct strata_bytes){
	    (const uint8_t *)s->client_id, strlen(s->client_id)};
	p.props.present = STRATA_PROP_BIT(STRATA_PROP_RECEIVE_MAXIMUM);
	p.props.receive_maximum = s->receive_max;
	insession_send(s, &p);
	s->state = INSESSION_CONNECTING;
}

static void
insession_begin(struct broker_insession *s)
{
	struct timeval soon = {0, 100 * 1000};
	struct broker_conn *c;
	int fds[2];

	if (!strata_redis_is_up(s->b->redis)) {
		evtimer_add(s->retry, &soon);
		return;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    fds) != 0)
		abort();
	s->generation++;
	s->unacked = 0;
	memset(s->used, 0, sizeof(s->used));
	c = broker_conn_new(s->b, fds[0], NULL, BROKER_TCP, NULL);
	c->internal = true;
	s->bev = bufferevent_socket_new(s->b->base, fds[1],
	    BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL)
		abort();
	bufferevent_setcb(s->bev, insession_read, NULL, insession_event, s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	insession_connect(s);
}

struct broker_insession *
broker_insession_start(struct strata_broker *b, const char *client_id,
    uint16_t receive_max, const struct broker_insession_ops *ops,
    void *arg)
{
	struct broker_insession *s = calloc(1, sizeof(*s));
	char name[96];

	if (s == NULL || (s->client_id = strdup(client_id)) == NULL)
		abort();
	s->b = b;
	s->ops = ops;
	s->arg = arg;
	s->receive_max = receive_max;
	s->window = 1;
	strata_list_init(&s->queue);
	strata_u64map_init(&s->waiting);
	s->retry = evtimer_new(b->base, insession_retry_cb, s);
	if (s->retry == NULL)
		abort();
	snprintf(name, sizeof(name), "strata_%s_publishes_dropped_total",
	    ops->comp);
	s->dropped = strata_metrics_counter(b->metrics, name, "publishes "
	    "dropped because the internal session's queue was full", NULL);
	insession_begin(s);
	return s;
}

void
broker_insession_free(struct broker_insession *s)
{
	if (s == NULL)
		return;
	while (!strata_list_empty(&s->queue)) {
		struct insession_out *o = STRATA_CONTAINER_OF(s->queue.next,
		    struct insession_out, node);

		strata_list_remove(&o->node);
		if (o->done != NULL)
			o->done(o->done_arg, -1);
		insession_out_free(s, o);
	}
	insession_done_all(s);
	strata_u64map_fini(&s->waiting);
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	event_free(s->retry);
	free(s->client_id);
	free(s);
}
