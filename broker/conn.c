/*
 * conn.c - client connections: bufferevent (plain or TLS), output, close.
 *
 * States (see struct broker_conn):
 *   NEW --CONNECT ok--> [WAITING --session known-->] ACTIVE --close-->
 *   CLOSING --output flushed or 2 s--> DEAD --reap event--> freed
 * NEW also goes to CLOSING on a refused CONNECT or a connect timeout.
 * A connection is never freed inside one of its own callbacks: closing
 * moves it to the reap list and activates the reap event, which frees
 * every DEAD connection at one point of the loop.
 *
 * Output of plain TCP connections is written directly: a packet sent
 * during a loop turn puts the connection on b->flush, and the flush event
 * (run once at the end of the turn) writes each one with a single writev.
 * Only when the kernel does not take everything does the connection watch
 * for writability (EV_WRITE), until its output is empty again.  This saves
 * the two epoll_ctl calls and the extra loop turn per write that a
 * bufferevent's write event costs.  TLS connections keep the bufferevent's
 * own write path, since OpenSSL does the writing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>

#include "broker.h"

#define CONN_CONNECT_TIMEOUT 10 /* seconds to send CONNECT */
#define CONN_FLUSH_TIMEOUT 2    /* seconds to flush output on close */

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
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	strata_list_remove(&c->flush_node);
	strata_list_remove(&c->node);
	strata_list_push_back(&b->reap, &c->node);
	if (b->reap_ev == NULL)
		b->reap_ev = event_new(b->base, -1, 0, conn_reap_cb, b);
	event_active(b->reap_ev, EV_TIMEOUT, 0);
}

void
broker_conns_reap(struct strata_broker *b)
{
	struct strata_list *pos, *tmp;

	STRATA_LIST_FOREACH_SAFE(pos, tmp, &b->reap) {
		struct broker_conn *c = STRATA_CONTAINER_OF(pos,
		    struct broker_conn, node);

		strata_list_remove(&c->node);
		bufferevent_free(c->bev);
		broker_alias_free(c);
		broker_will_free(c->will);
		(*b->m.connections[c->listener])--;
		b->n_conns--;
		free(c);
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

		broker_conn_close(c, false);
		conn_mark_dead(c);
	}
	broker_conns_reap(b);
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct broker_conn *c = arg;

	if (c->state == CONN_NEW || c->state == CONN_ACTIVE)
		broker_dispatch_input(c);
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct broker_conn *c = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) != 0)
		return;
	if (c->state == CONN_CLOSING)
		conn_mark_dead(c);
	else if (c->listener == BROKER_TCP)
		bufferevent_disable(bev, EV_WRITE);
}

/*
 * Write what the kernel takes of c's output now.  What is left makes the
 * bufferevent watch for writability until it is written.  A write error is
 * a lost connection (its will is published).
 */
static void
conn_flush(struct broker_conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	int n;

	strata_list_remove(&c->flush_node);
	/* a socket bufferevent keeps its output frozen at the front except
	 * while it writes itself; do as it does */
	evbuffer_unfreeze(out, 1);
	n = evbuffer_write(out, fd);
	evbuffer_freeze(out, 1);
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
	    errno != EINTR) {
		STRATA_DEBUG(BROKER_COMP, "write failed|peer=%s error=\"%s\"",
		    c->peer, strerror(errno));
		evbuffer_drain(out, evbuffer_get_length(out));
		broker_conn_close(c, true);
		return;
	}
	if (evbuffer_get_length(out) != 0)
		bufferevent_enable(c->bev, EV_WRITE);
}

static void
conn_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct strata_broker *b = arg;

	while (!strata_list_empty(&b->flush))
		conn_flush(STRATA_CONTAINER_OF(b->flush.next,
		    struct broker_conn, flush_node));
}

/* Have c's output written at the end of this loop turn. */
static void
conn_want_flush(struct broker_conn *c)
{
	struct strata_broker *b = c->broker;

	if (c->listener != BROKER_TCP || !strata_list_empty(&c->flush_node))
		return;
	strata_list_push_back(&b->flush, &c->flush_node);
	if (b->flush_ev == NULL) {
		b->flush_ev = event_new(b->base, -1, 0, conn_flush_cb, b);
		if (b->flush_ev == NULL)
			abort();
	}
	event_active(b->flush_ev, EV_TIMEOUT, 0);
}

/* A TLS handshake (or the first TLS read) failed: a refusal. */
static void
conn_tls_refused(struct broker_conn *c)
{
	unsigned long err = bufferevent_get_openssl_error(c->bev);
	char buf[256] = "connection closed";

	if (err != 0)
		ERR_error_string_n(err, buf, sizeof(buf));
	STRATA_WARN(BROKER_COMP, "TLS handshake failed|peer=%s error=\"%s\"",
	    c->peer, buf);
	broker_refuse(c->broker, c, STRATA_RC_NOT_AUTHORIZED, "TLS handshake");
	broker_conn_close(c, false);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct broker_conn *c = arg;

	if (c->state == CONN_CLOSING || c->state == CONN_DEAD) {
		conn_mark_dead(c);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if (c->state == CONN_NEW) {
			broker_refuse(c->broker, c, STRATA_RC_MAX_CONNECT_TIME,
			    "no CONNECT in time");
			broker_conn_close(c, false);
			return;
		}
		broker_refuse(c->broker, c, STRATA_RC_KEEPALIVE_TIMEOUT,
		    "keepalive timeout");
		broker_conn_disconnect(c, STRATA_RC_KEEPALIVE_TIMEOUT);
		return;
	}
	if ((what & BEV_EVENT_ERROR) && c->state == CONN_NEW &&
	    c->listener == BROKER_TLS) {
		conn_tls_refused(c);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		STRATA_DEBUG(BROKER_COMP, "connection lost|peer=%s", c->peer);
		broker_conn_close(c, true);
	}
}

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
	}
	snprintf(c->peer, sizeof(c->peer), "%s:%u", host, port);
}

struct broker_conn *
broker_conn_new(struct strata_broker *b, struct bufferevent *bev,
    enum broker_listener_kind kind, const struct sockaddr *sa)
{
	struct broker_conn *c = calloc(1, sizeof(*c));
	struct timeval tv = {CONN_CONNECT_TIMEOUT, 0};

	if (c == NULL)
		abort();
	c->broker = b;
	c->bev = bev;
	c->listener = (uint8_t)kind;
	c->state = CONN_NEW;
	strata_list_init(&c->flush_node);
	conn_peer_name(c, sa);
	strata_list_push_back(&b->conns, &c->node);
	b->n_conns++;
	(*b->m.connections[kind])++;
	(*b->m.connections_total[kind])++;
	bufferevent_setcb(bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_set_timeouts(bev, &tv, NULL);
	bufferevent_enable(bev, kind == BROKER_TCP ? EV_READ : EV_READ | EV_WRITE);
	return c;
}

int
broker_conn_send(struct broker_conn *c, const struct strata_mqtt_packet *p)
{
	struct evbuffer *out;
	struct evbuffer_iovec vec;
	size_t size, n;

	if (c->state != CONN_NEW && c->state != CONN_ACTIVE)
		return 0;
	size = strata_mqtt_encoded_size(p, c->version);
	if (c->max_packet != 0 && size > c->max_packet)
		return STRATA_ENOSPC;
	out = bufferevent_get_output(c->bev);
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
	return 0;
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
	struct timeval tv = {CONN_FLUSH_TIMEOUT, 0};

	if (c->state == CONN_CLOSING || c->state == CONN_DEAD)
		return;
	c->state = CONN_CLOSING;
	if (c->pending != NULL)
		broker_cluster_conn_closed(c);
	conn_release_session(c, with_will);
	bufferevent_disable(c->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		conn_mark_dead(c);
		return;
	}
	/* the rest goes out through the write event, bounded by tv */
	strata_list_remove(&c->flush_node);
	bufferevent_set_timeouts(c->bev, NULL, &tv);
	bufferevent_enable(c->bev, EV_WRITE);
}

void
broker_conn_pause(struct broker_conn *c)
{
	if (c->paused || c->state != CONN_ACTIVE)
		return;
	c->paused = true;
	c->broker->n_paused++;
	bufferevent_disable(c->bev, EV_READ);
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
		if (c->state == CONN_ACTIVE)
			bufferevent_enable(c->bev, EV_READ);
	}
}

/* Server-side DISCONNECT (MQTT 5 only; 3.1.1 just closes). */
void
broker_conn_disconnect(struct broker_conn *c, uint8_t reason)
{
	struct strata_mqtt_packet p;

	if (c->version == STRATA_MQTT_V5 && c->state == CONN_ACTIVE) {
		memset(&p, 0, sizeof(p));
		p.type = STRATA_MQTT_DISCONNECT;
		p.u.reason.reason = reason;
		broker_conn_send(c, &p);
	}
	broker_conn_close(c, reason != STRATA_RC_SERVER_SHUTTING_DOWN &&
	    reason != STRATA_RC_SESSION_TAKEN_OVER);
}

void
broker_conn_set_keepalive(struct broker_conn *c, uint16_t seconds)
{
	struct timeval tv;

	c->keepalive = seconds;
	if (seconds == 0) {
		bufferevent_set_timeouts(c->bev, NULL, NULL);
		return;
	}
	/* MQTT: the server closes after 1.5 times the keepalive of silence */
	tv.tv_sec = (seconds * 3) / 2;
	tv.tv_usec = (seconds * 3) % 2 ? 500000 : 0;
	bufferevent_set_timeouts(c->bev, &tv, NULL);
}
