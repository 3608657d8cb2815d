/*
 * conn.c - client connections: input, output, deadlines, close.
 *
 * States (see struct broker_conn):
 *   [PROXY --header consumed-->] NEW --CONNECT ok-->
 *   [WAITING --session known-->] ACTIVE --close-->
 *   CLOSING --output flushed or 2 s--> DEAD --reap event--> freed
 * PROXY is the first state on the PROXY listeners only (proxy.c); it goes
 * to CLOSING on a bad, truncated or missing header or when the connect
 * timeout passes.  NEW goes to CLOSING on a refused CONNECT or a connect
 * timeout: one deadline from accept covers the header and the CONNECT.
 * A connection is never freed inside one of its own callbacks: closing
 * moves it to the reap list and activates the reap event, which frees
 * every DEAD connection at one point of the loop.  The first close of a
 * connection that had its connected lifecycle event publishes its
 * disconnected one (events.c), with the cause noted before: close_reason
 * (broker_conn_disconnect, output overflow), client_closed (DISCONNECT),
 * or neither (lost).
 *
 * Plain TCP connections are driven directly, without a bufferevent:
 *   input  one read event; each readiness is one read() into the broker's
 *          shared read buffer, and the whole packets in it are dispatched
 *          in place.  Only bytes left over (a partial packet, or packets
 *          that arrived behind a CONNECT that must wait) are copied into
 *          the connection's own buffer, sized to what they need.  A small
 *          partial packet is copied back in front of the next read; a
 *          large one is completed by reads straight into its buffer, so
 *          a client trickling a big packet costs no repeated copying.
 *   output an evbuffer; packets sent during a loop turn put the
 *          connection on b->flush and the flush event (once, at the end
 *          of the turn) writes each with one writev.  Only when the
 *          kernel does not take everything does the connection get a
 *          write event, until its output is empty again.
 * TLS connections keep libevent's OpenSSL bufferevent for both.
 * WebSocket connections (ws.c) use a bufferevent too (a socket one on
 * ws-port, OpenSSL's on wss-port), with ws.c's frames in between: input
 * is unframed into MQTT bytes before dispatch, output is written as MQTT
 * bytes and framed by the flush at the end of the loop turn, as plain
 * TCP output is written.
 *
 * Deadlines (connect timeout, keepalive, close flush, and the close of a
 * client whose output passed max-output-bytes) are one timer per
 * connection on the broker's timer wheel.  A read only notes the time; the
 * keepalive timer, when it comes due, compares that time with the
 * deadline and moves itself on, so the hot path does no timer work.
 * A connection over a rate limit (throttle.c) stops reading and
 * dispatching until its bucket has room: the same timer is set to that
 * time, then reading resumes, the held input is dispatched and the
 * keepalive deadline is set again.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/bufferevent_ssl.h>

#include "broker.h"

#define CONN_CONNECT_TIMEOUT_MS 10000 /* to send CONNECT */
#define CONN_FLUSH_TIMEOUT_MS 2000    /* to flush output on close */
#define CONN_TICK_MS 250              /* timer wheel resolution */
#define CONN_READ_SIZE 65536          /* b->read_buf */
#define CONN_PREPEND_MAX 4096         /* held input read behind in place */

/* ---- the timer wheel ---- */

static void conn_timer_fire(struct strata_timer *t, void *arg);

static void
conn_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct strata_broker *b = arg;

	strata_timerwheel_advance(&b->timers, broker_now_ms(), conn_timer_fire,
	    b);
}

int
broker_conns_start(struct strata_broker *b)
{
	struct timeval tv = {0, CONN_TICK_MS * 1000};

	strata_timerwheel_init(&b->timers, CONN_TICK_MS, broker_now_ms());
	b->read_buf = malloc(CONN_READ_SIZE);
	b->tick_ev = event_new(b->base, -1, EV_PERSIST, conn_tick_cb, b);
	if (b->read_buf == NULL || b->tick_ev == NULL)
		abort();
	return event_add(b->tick_ev, &tv) == 0 ? 0 : STRATA_EIO;
}

static void
conn_deadline(struct broker_conn *c, uint64_t due_ms)
{
	strata_timerwheel_schedule(&c->broker->timers, &c->timer, due_ms);
}

/* ---- reading on or off ---- */

static void
conn_hangup_cb(evutil_socket_t fd, short what, void *arg)
{
	struct broker_conn *c = arg;

	STRATA_DEBUG(BROKER_COMP, "client left while waiting|peer=%s",
	    c->peer);
	broker_conn_close(c, false);
}

/*
 * A WAITING connection that stopped reading (TLS, or a TCP one holding
 * more than CONN_PREPEND_MAX behind its CONNECT) would not notice its
 * close until the wait ends: it watches for the peer's hang-up alone
 * (EV_CLOSED, epoll's EPOLLRDHUP), which consumes nothing.
 */
static void
conn_watch_hangup(struct broker_conn *c, bool on)
{
	evutil_socket_t fd = c->bev != NULL ? bufferevent_getfd(c->bev) :
	    c->fd;

	/* only a WAITING connection has the event: an idle connection
	 * keeps no memory for it */
	if (!on) {
		if (c->hangup_ev != NULL)
			event_free(c->hangup_ev);
		c->hangup_ev = NULL;
		return;
	}
	if (c->hangup_ev != NULL)
		return;
	c->hangup_ev = event_new(c->broker->base, fd, EV_CLOSED,
	    conn_hangup_cb, c);
	if (c->hangup_ev == NULL)
		abort();
	event_add(c->hangup_ev, NULL);
}

/* Input is read while the connection may dispatch it and is not paused
 * by backpressure.  A WAITING TCP connection keeps reading into its held
 * input (dispatched when the wait ends) up to CONN_PREPEND_MAX: read()
 * sees its hang-up, and the usual short wait (one Redis round trip)
 * changes no epoll interest. */
static void
conn_apply_reading(struct broker_conn *c)
{
	bool waiting_reads = c->state == CONN_WAITING && c->bev == NULL &&
	    c->in_len <= CONN_PREPEND_MAX;
	bool want = (c->state == CONN_PROXY || c->state == CONN_NEW ||
	    c->state == CONN_ACTIVE || waiting_reads) && !c->paused &&
	    !c->throttled;

	conn_watch_hangup(c, c->state == CONN_WAITING && !want);
	if (want == c->reading)
		return;
	c->reading = want;
	if (c->bev != NULL) {
		if (want)
			bufferevent_enable(c->bev, EV_READ);
		else
			bufferevent_disable(c->bev, EV_READ);
	} else if (want) {
		event_add(c->read_ev, NULL);
	} else {
		event_del(c->read_ev);
	}
}

/* ---- close and reap ---- */

static void
conn_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	broker_conns_reap(arg);
}

static void
conn_mark_dead(struct broker_conn *c)
{
	struct strata_broker *b = c->broker;

	if (c->state == CONN_DEAD)
		return;
	c->state = CONN_DEAD;
	if (c->paused) {
		c->paused = false;
		b->n_paused--;
	}
	conn_apply_reading(c);
	if (c->bev != NULL)
		bufferevent_disable(c->bev, EV_WRITE);
	else if (c->write_ev != NULL)
		event_del(c->write_ev);
	strata_timerwheel_cancel(&b->timers, &c->timer);
	strata_list_remove(&c->flush_node);
	strata_list_remove(&c->node);
	strata_list_push_back(&b->reap, &c->node);
	if (b->reap_ev == NULL)
		b->reap_ev = event_new(b->base, -1, 0, conn_reap_cb, b);
	event_active(b->reap_ev, EV_TIMEOUT, 0);
}

static void
conn_free(struct broker_conn *c)
{
	if (c->bev != NULL) {
		broker_tls_closing(c->bev);
		bufferevent_free(c->bev);
	} else {
		/* a PROXY TLS connection whose bufferevent could not be
		 * made has neither event nor socket left */
		if (c->read_ev != NULL)
			event_free(c->read_ev);
		if (c->write_ev != NULL)
			event_free(c->write_ev);
		evbuffer_free(c->out);
		if (c->fd >= 0)
			evutil_closesocket(c->fd);
	}
	if (c->hangup_ev != NULL)
		event_free(c->hangup_ev);
	free(c->in);
	broker_ws_free(c->ws);
	broker_alias_free(c);
	strata_topicalias_free(c->aliases_out);
	broker_will_free(c->will);
	if (c->trace != NULL) {
		free(c->trace->client_id);
		free(c->trace);
	}
	broker_devstats_conn_free(c);
	free(c);
}

void
broker_conns_reap(struct strata_broker *b)
{
	while (!strata_list_empty(&b->reap)) {
		struct broker_conn *c = STRATA_CONTAINER_OF(b->reap.next,
		    struct broker_conn, node);

		strata_list_remove(&c->node);
		(*b->m.connections[c->listener])--;
		b->n_conns--;
		conn_free(c);
	}
	/* draining for shutdown: leave as soon as every client is gone */
	if (b->stopping && strata_list_empty(&b->conns))
		event_base_loopexit(b->base, NULL);
}

/* Exit: close every connection, flushed or not, and free them all. */
void
broker_conns_free_all(struct strata_broker *b)
{
	while (!strata_list_empty(&b->conns)) {
		struct broker_conn *c = STRATA_CONTAINER_OF(b->conns.next,
		    struct broker_conn, node);

		c->announced = false; /* no events while the broker is freed */
		broker_conn_close(c, false);
		conn_mark_dead(c);
	}
	broker_conns_reap(b);
	if (b->tick_ev != NULL)
		event_free(b->tick_ev);
	b->tick_ev = NULL;
	free(b->read_buf);
	b->read_buf = NULL;
}

/* ---- deadlines ---- */

static void
conn_keepalive_due(struct broker_conn *c, uint64_t now)
{
	uint64_t span = (uint64_t)c->keepalive * 1500; /* 1.5 keepalives */
	char why[80];

	if (c->keepalive == 0)
		return;
	if (c->paused) {
		/* unread input may be waiting in the socket: not silence */
		conn_deadline(c, now + span);
		return;
	}
	if (now < c->last_input_ms + span) {
		conn_deadline(c, c->last_input_ms + span);
		return;
	}
	snprintf(why, sizeof(why), "keepalive timeout: no packet for 1.5 x "
	    "%u s", c->keepalive);
	broker_refuse(c->broker, c, STRATA_RC_KEEPALIVE_TIMEOUT, why);
	broker_conn_disconnect(c, STRATA_RC_KEEPALIVE_TIMEOUT, why);
}

/* A throttled connection's timer: read again once the bucket has room.
 * What it holds is dispatched now (it may throttle it again).  The held
 * input counts as input for the keepalive. */
static void
conn_throttle_due(struct broker_conn *c, uint64_t now)
{
	if (now < c->throttle.resume_ms) {
		conn_deadline(c, c->throttle.resume_ms);
		return;
	}
	c->throttled = false;
	c->last_input_ms = now;
	if (c->keepalive != 0)
		conn_deadline(c, now + (uint64_t)c->keepalive * 1500);
	else
		strata_timerwheel_cancel(&c->broker->timers, &c->timer);
	broker_conn_input_changed(c);
}

static void
conn_timer_fire(struct strata_timer *t, void *arg)
{
	struct broker_conn *c = STRATA_CONTAINER_OF(t, struct broker_conn,
	    timer);

	if (c->overflowed && (c->state == CONN_NEW ||
	    c->state == CONN_ACTIVE)) {
		broker_conn_close(c, true);
		return;
	}
	switch (c->state) {
	case CONN_PROXY:
		broker_proxy_timeout(c);
		break;
	case CONN_NEW:
		broker_refuse(c->broker, c, STRATA_RC_MAX_CONNECT_TIME,
		    "no CONNECT in time");
		broker_conn_close(c, false);
		break;
	case CONN_ACTIVE:
		if (c->throttled)
			conn_throttle_due(c, broker_now_ms());
		else
			conn_keepalive_due(c, broker_now_ms());
		break;
	case CONN_CLOSING:
		conn_mark_dead(c); /* output not flushed in time */
		break;
	default:
		/* WAITING has no deadline of its own: the hand-off wait is
		 * bounded in cluster.c, and the keepalive starts after it */
		break;
	}
}

void
broker_conn_set_keepalive(struct broker_conn *c, uint16_t seconds)
{
	c->keepalive = seconds;
	c->last_input_ms = broker_now_ms();
	if (seconds == 0) {
		strata_timerwheel_cancel(&c->broker->timers, &c->timer);
		return;
	}
	/* MQTT: the server closes after 1.5 times the keepalive of silence */
	conn_deadline(c, c->last_input_ms + (uint64_t)seconds * 1500);
}

/* ---- output ---- */

/* Where packets are written: a WebSocket connection's are framed at the
 * flush (ws.c). */
static struct evbuffer *
conn_output(struct broker_conn *c)
{
	if (c->ws != NULL)
		return broker_ws_output(c);
	return c->bev != NULL ? bufferevent_get_output(c->bev) : c->out;
}

size_t
broker_conn_output_len(struct broker_conn *c)
{
	size_t n = evbuffer_get_length(conn_output(c));

	if (c->ws != NULL) /* and what is framed, not yet written */
		n += evbuffer_get_length(bufferevent_get_output(c->bev));
	return n;
}

static void conn_tcp_write_cb(evutil_socket_t fd, short what, void *arg);

/* Watch a TCP connection for writability until its output is written. */
static void
conn_want_write(struct broker_conn *c)
{
	if (c->write_ev == NULL) {
		c->write_ev = event_new(c->broker->base, c->fd,
		    EV_WRITE | EV_PERSIST, conn_tcp_write_cb, c);
		if (c->write_ev == NULL)
			abort();
	}
	event_add(c->write_ev, NULL);
	c->write_armed = true;
}

/*
 * Write what the kernel takes of c's output now.  Returns false when the
 * write failed: the connection is lost (closed, its will published).
 */
static bool
conn_write(struct broker_conn *c)
{
	int n = evbuffer_write(c->out, c->fd);

	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
	    errno != EINTR) {
		STRATA_DEBUG(BROKER_COMP, "write failed|peer=%s error=\"%s\"",
		    c->peer, strerror(errno));
		evbuffer_drain(c->out, evbuffer_get_length(c->out));
		if (c->state == CONN_CLOSING)
			conn_mark_dead(c);
		else
			broker_conn_close(c, true);
		return false;
	}
	return true;
}

static void
conn_tcp_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct broker_conn *c = arg;

	if (!conn_write(c))
		return;
	if (evbuffer_get_length(c->out) != 0)
		return;
	event_del(c->write_ev);
	c->write_armed = false;
	if (c->state == CONN_CLOSING)
		conn_mark_dead(c);
}

static void
conn_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct strata_broker *b = arg;

	while (!strata_list_empty(&b->flush)) {
		struct broker_conn *c = STRATA_CONTAINER_OF(b->flush.next,
		    struct broker_conn, flush_node);

		strata_list_remove(&c->flush_node);
		if (c->ws != NULL) {
			broker_ws_flush(c); /* the bufferevent writes it */
			continue;
		}
		if (conn_write(c) && evbuffer_get_length(c->out) != 0)
			conn_want_write(c);
	}
}

/* Have c's output written at the end of this loop turn. */
static void
conn_want_flush(struct broker_conn *c)
{
	struct strata_broker *b = c->broker;

	if ((c->bev != NULL && c->ws == NULL) || c->write_armed ||
	    !strata_list_empty(&c->flush_node))
		return;
	strata_list_push_back(&b->flush, &c->flush_node);
	if (b->flush_ev == NULL) {
		b->flush_ev = event_new(b->base, -1, 0, conn_flush_cb, b);
		if (b->flush_ev == NULL)
			abort();
	}
	event_active(b->flush_ev, EV_TIMEOUT, 0);
}

/*
 * The client does not read what it is sent: past max-output-bytes the
 * connection is closed (its will published), at the next tick of the
 * timer wheel, not here: the sender may be walking the session the close
 * would free.  Until then nothing more is queued to it; QoS 1/2 messages
 * count as sent and are sent again when the session resumes.
 */
static void
conn_overflow(struct broker_conn *c)
{
	c->overflowed = true;
	c->close_reason = STRATA_RC_QUOTA_EXCEEDED;
	broker_refuse(c->broker, c, STRATA_RC_QUOTA_EXCEEDED,
	    "client output over max-output-bytes");
	conn_deadline(c, broker_now_ms());
}

/*
 * The size of p on the wire, within the client's Maximum Packet Size: a
 * Reason String that would make p too large is left out (MQTT 5.0
 * 3.2.2.3.7 and the like: the server must not send it then), p pointing
 * to a copy without it in *fit.  0 when p is too large even so.
 */
static size_t
conn_fit(const struct broker_conn *c, const struct strata_mqtt_packet **p,
    struct strata_mqtt_packet *fit)
{
	uint64_t bit = STRATA_PROP_BIT(STRATA_PROP_REASON_STRING);
	size_t size = strata_mqtt_encoded_size(*p, c->version);

	if (c->max_packet == 0 || size <= c->max_packet)
		return size;
	if (!((*p)->props.present & bit))
		return 0;
	*fit = **p;
	fit->props.present &= ~bit;
	*p = fit;
	size = strata_mqtt_encoded_size(fit, c->version);
	return size <= c->max_packet ? size : 0;
}

int
broker_conn_send(struct broker_conn *c, const struct strata_mqtt_packet *p)
{
	struct strata_mqtt_packet fit;
	struct evbuffer *out;
	struct evbuffer_iovec vec;
	size_t size, n;

	/* WAITING sends nothing but the CONNACK that refuses it */
	if ((c->state != CONN_NEW && c->state != CONN_ACTIVE &&
	    c->state != CONN_WAITING) || c->overflowed)
		return 0;
	size = conn_fit(c, &p, &fit);
	if (size == 0)
		return STRATA_ENOSPC;
	out = conn_output(c);
	if (broker_conn_output_len(c) + size >
	    (size_t)c->broker->cfg.max_output_bytes) {
		conn_overflow(c);
		return 0;
	}
	if (evbuffer_reserve_space(out, (ev_ssize_t)size, &vec, 1) < 1)
		abort();
	n = strata_mqtt_encode(p, c->version, vec.iov_base, vec.iov_len);
	if (n != size)
		abort();
	vec.iov_len = n;
	evbuffer_commit_space(out, &vec, 1);
	conn_want_flush(c);
	(*c->broker->m.packets_out[p->type & 15])++;
	*c->broker->m.bytes_out += n;
	if (c->trace != NULL)
		broker_trace_packet(c, p, true);
	return 0;
}

/* ---- TCP input ---- */

/*
 * Keep the n undispatched bytes at p (which may point into c->in) for
 * later.  When they begin with a partial packet of known size, the buffer
 * is made big enough to complete it in place.
 */
static void
conn_hold_input(struct broker_conn *c, const uint8_t *p, size_t n)
{
	size_t cap = n, total;
	uint8_t *in;

	if (n == 0 || c->state == CONN_CLOSING || c->state == CONN_DEAD) {
		free(c->in);
		c->in = NULL;
		c->in_len = c->in_cap = 0;
		return;
	}
	if (strata_mqtt_frame(p, n, broker_max_packet(c->broker),
	    &total) == 0 && total > n)
		cap = total;
	else if (n < 8)
		cap = 8; /* room for the rest of a fixed header */
	if (p == c->in && cap <= c->in_cap) {
		c->in_len = (uint32_t)n;
		return;
	}
	in = malloc(cap);
	if (in == NULL)
		abort();
	memcpy(in, p, n);
	free(c->in);
	c->in = in;
	c->in_len = (uint32_t)n;
	c->in_cap = (uint32_t)cap;
}

/* One read() went wrong or hit the end: close (with the will). */
static void
conn_read_failed(struct broker_conn *c, ssize_t n)
{
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return;
	STRATA_DEBUG(BROKER_COMP, "connection lost|peer=%s error=\"%s\"",
	    c->peer, n == 0 ? "end of stream" : strerror(errno));
	broker_conn_close(c, true);
}

/* Dispatch what c->in holds; keep the rest. */
static void
conn_dispatch_held(struct broker_conn *c)
{
	size_t used = broker_dispatch_bytes(c, c->in, c->in_len);

	if (used > 0 && used < c->in_len)
		memmove(c->in, c->in + used, c->in_len - used);
	conn_hold_input(c, c->in, c->in_len - used);
}

/* A large partial packet is held: read the rest of it into its buffer. */
static void
conn_read_held(struct broker_conn *c)
{
	ssize_t n;

	if (c->in_len == c->in_cap) { /* whole packets only: dispatch them */
		conn_dispatch_held(c);
		return;
	}
	n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
	if (n <= 0) {
		conn_read_failed(c, n);
		return;
	}
	c->last_input_ms = broker_now_ms();
	c->in_len += (uint32_t)n;
	conn_dispatch_held(c);
}

static void
conn_tcp_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct broker_conn *c = arg;
	uint8_t *buf = c->broker->read_buf;
	size_t held = c->in_len, used;
	ssize_t n;

	if (held > CONN_PREPEND_MAX) {
		conn_read_held(c);
		return;
	}
	if (held > 0) /* a small partial packet goes in front */
		memcpy(buf, c->in, held);
	n = read(fd, buf + held, CONN_READ_SIZE - held);
	if (n <= 0) {
		conn_read_failed(c, n);
		return;
	}
	c->last_input_ms = broker_now_ms();
	used = broker_dispatch_bytes(c, buf, held + (size_t)n);
	conn_hold_input(c, buf + used, held + (size_t)n - used);
	if (c->state == CONN_WAITING)
		conn_apply_reading(c); /* past CONN_PREPEND_MAX: stop */
}

/* ---- TLS (bufferevent) callbacks ---- */

static void
conn_tls_read_cb(struct bufferevent *bev, void *arg)
{
	struct broker_conn *c = arg;

	c->last_input_ms = broker_now_ms();
	/* the handshake is done: the registry decides before CONNECT */
	if (c->state == CONN_NEW && c->auth == NULL &&
	    broker_device_conn_start(c))
		return;
	broker_dispatch_input(c);
}

static void
conn_tls_write_cb(struct bufferevent *bev, void *arg)
{
	struct broker_conn *c = arg;

	if (c->state == CONN_CLOSING &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		conn_mark_dead(c);
}

/* A TLS handshake failed: a refusal, counted by reason (tls.c). */
static void
conn_tls_refused(struct broker_conn *c)
{
	broker_tls_handshake_failed(c->broker, c->bev, c->peer);
	broker_refuse(c->broker, c, STRATA_RC_NOT_AUTHORIZED, "TLS handshake");
	broker_conn_close(c, false);
}

static void
conn_tls_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct broker_conn *c = arg;

	if (c->state == CONN_CLOSING || c->state == CONN_DEAD) {
		conn_mark_dead(c);
		return;
	}
	/* an end before the handshake completed, clean or not, is a
	 * failed handshake */
	if ((what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) &&
	    c->state == CONN_NEW && broker_conn_is_tls(c) &&
	    !broker_tls_established(bev)) {
		conn_tls_refused(c);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		STRATA_DEBUG(BROKER_COMP, "connection lost|peer=%s", c->peer);
		broker_conn_close(c, true);
	}
}

/* ---- life cycle ---- */

static void
conn_peer_name(struct broker_conn *c, const struct sockaddr *sa)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (sa != NULL && sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
	} else if (sa != NULL && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		/* brackets: the port is not one more group of the address */
		snprintf(c->peer, sizeof(c->peer), "[%s]:%u", host, port);
		return;
	}
	snprintf(c->peer, sizeof(c->peer), "%s:%u", host, port);
}

/* The transport of a new connection: a bufferevent for TLS, our own read
 * event and output buffer for TCP (and for the PROXY header, whose read
 * event is proxy.c's). */
static void
conn_attach(struct broker_conn *c, evutil_socket_t fd, struct bufferevent *bev)
{
	if (bev != NULL) {
		c->bev = bev;
		c->fd = -1;
		bufferevent_setcb(bev, conn_tls_read_cb, conn_tls_write_cb,
		    conn_tls_event_cb, c);
		bufferevent_enable(bev, EV_WRITE);
		return;
	}
	c->fd = fd;
	c->out = evbuffer_new();
	c->read_ev = event_new(c->broker->base, fd, EV_READ | EV_PERSIST,
	    c->state == CONN_PROXY ? broker_proxy_read_cb : conn_tcp_read_cb,
	    c);
	if (c->out == NULL || c->read_ev == NULL)
		abort();
}

struct broker_conn *
broker_conn_new(struct strata_broker *b, evutil_socket_t fd,
    struct bufferevent *bev, enum broker_listener_kind kind,
    const struct sockaddr *sa)
{
	struct broker_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		abort();
	c->broker = b;
	c->serial = ++b->next_conn_serial;
	c->listener = (uint8_t)kind;
	c->state = kind == BROKER_PROXY || kind == BROKER_PROXY_TLS ?
	    CONN_PROXY : CONN_NEW;
	strata_list_init(&c->flush_node);
	strata_timer_init(&c->timer);
	if (kind == BROKER_WS || kind == BROKER_WSS)
		c->ws = broker_ws_new();
	conn_peer_name(c, sa);
	broker_throttle_conn_init(c);
	conn_attach(c, fd, bev);
	strata_list_push_back(&b->conns, &c->node);
	b->n_conns++;
	(*b->m.connections[kind])++;
	(*b->m.connections_total[kind])++;
	conn_deadline(c, broker_now_ms() + CONN_CONNECT_TIMEOUT_MS);
	if (c->state == CONN_NEW) /* PROXY ones once their header is read */
		broker_throttle_accept(c);
	conn_apply_reading(c);
	return c;
}

/*
 * Leave state PROXY: the header is consumed, what follows it is still in
 * the socket.  Called from c's own read event, which is replaced: by the
 * MQTT read event (proxy-port) or by a TLS bufferevent made on the socket
 * now (proxy-tls-port), so the TLS handshake starts after the header.
 * The connect deadline set at accept stays.
 */
bool
broker_conn_proxied(struct broker_conn *c, const struct sockaddr *peer)
{
	struct strata_broker *b = c->broker;
	struct bufferevent *bev;
	char via[sizeof(c->peer)];

	memcpy(via, c->peer, sizeof(via));
	if (peer != NULL)
		conn_peer_name(c, peer);
	STRATA_DEBUG(BROKER_COMP, "PROXY header accepted|peer=%s via=%s",
	    c->peer, via);
	event_free(c->read_ev);
	c->read_ev = NULL;
	c->reading = false;
	c->state = CONN_NEW;
	broker_throttle_accept(c);
	if (c->listener == BROKER_PROXY_TLS) {
		bev = broker_listeners_tls_wrap(b, c->fd);
		if (bev == NULL) { /* the socket is closed already */
			c->fd = -1;
			broker_conn_close(c, false);
			return false;
		}
		evbuffer_free(c->out);
		c->out = NULL;
		conn_attach(c, -1, bev);
	} else {
		c->read_ev = event_new(b->base, c->fd, EV_READ | EV_PERSIST,
		    conn_tcp_read_cb, c);
		if (c->read_ev == NULL)
			abort();
	}
	conn_apply_reading(c);
	return true;
}

/* Detach the session (and deal with the will) at close time, so the
 * session is offline as soon as the connection stops. */
static void
conn_release_session(struct broker_conn *c, bool with_will)
{
	struct broker_session *s = c->session;
	struct broker_will *w = c->will;

	c->will = NULL;
	c->session = NULL;
	if (s == NULL || s->conn != c) {
		broker_will_free(w);
		return;
	}
	if (w != NULL && with_will && w->delay > 0 && s->persistent) {
		broker_will_free(s->will);
		s->will = w;
		w = NULL;
	} else if (w != NULL && with_will) {
		broker_will_publish(c->broker, w, s->client_id);
		w = NULL;
	}
	broker_will_free(w);
	broker_session_detach(s);
}

void
broker_conn_close(struct broker_conn *c, bool with_will)
{
	if (c->state == CONN_CLOSING || c->state == CONN_DEAD)
		return;
	if (c->state == CONN_ACTIVE && c->session != NULL && !c->internal)
		broker_metrics_disconnect(c->broker, strata_lifecycle_reason(
		    c->close_reason, c->client_closed));
	c->state = CONN_CLOSING;
	/* while the session and the registry identity are still there */
	broker_devstats_conn_closed(c);
	broker_detect_conn_closed(c);
	broker_events_conn_end(c);
	if (c->trace != NULL)
		broker_trace_closed(c);
	if (c->pending != NULL)
		broker_cluster_conn_closed(c);
	if (c->hold != NULL)
		broker_connect_conn_closed(c);
	broker_device_conn_closed(c);
	conn_release_session(c, with_will);
	conn_apply_reading(c);
	if (c->ws != NULL)
		broker_ws_closing(c); /* queued packets, then a close frame */
	if (broker_conn_output_len(c) == 0) {
		conn_mark_dead(c);
		return;
	}
	/* the rest goes out through the write event, bounded in time */
	strata_list_remove(&c->flush_node);
	conn_deadline(c, broker_now_ms() + CONN_FLUSH_TIMEOUT_MS);
	if (c->bev != NULL)
		bufferevent_enable(c->bev, EV_WRITE);
	else
		conn_want_write(c);
}

void
broker_conn_input_changed(struct broker_conn *c)
{
	conn_apply_reading(c);
	if (c->state != CONN_ACTIVE)
		return;
	/* packets the client sent behind CONNECT wait in the input */
	if (c->bev != NULL)
		broker_dispatch_input(c);
	else if (c->in_len > 0)
		conn_dispatch_held(c);
}

void
broker_conn_pause(struct broker_conn *c)
{
	if (c->paused || c->state != CONN_ACTIVE)
		return;
	c->paused = true;
	c->broker->n_paused++;
	conn_apply_reading(c);
}

void
broker_conn_throttle(struct broker_conn *c, uint64_t until_ms)
{
	if (c->state != CONN_ACTIVE)
		return;
	c->throttled = true;
	c->throttle.resume_ms = until_ms;
	conn_deadline(c, until_ms);
	conn_apply_reading(c);
}

/* Scans the connections only when some are paused (after an overflow). */
void
broker_conns_resume(struct strata_broker *b)
{
	struct strata_list *pos;

	if (b->n_paused == 0)
		return;
	for (pos = b->conns.next; pos != &b->conns; pos = pos->next) {
		struct broker_conn *c = STRATA_CONTAINER_OF(pos,
		    struct broker_conn, node);

		if (!c->paused)
			continue;
		c->paused = false;
		b->n_paused--;
		conn_apply_reading(c);
	}
}

/* Server-side DISCONNECT (MQTT 5 only; 3.1.1 just closes). */
void
broker_conn_disconnect(struct broker_conn *c, uint8_t reason,
    const char *why)
{
	struct strata_mqtt_packet p;

	if (c->close_reason == 0)
		c->close_reason = reason;
	if (c->version == STRATA_MQTT_V5 && c->state == CONN_ACTIVE) {
		memset(&p, 0, sizeof(p));
		p.type = STRATA_MQTT_DISCONNECT;
		p.u.reason.reason = reason;
		broker_reason_string(c, &p, why);
		broker_conn_send(c, &p);
	}
	broker_conn_close(c, reason != STRATA_RC_SERVER_SHUTTING_DOWN &&
	    reason != STRATA_RC_SESSION_TAKEN_OVER);
}
