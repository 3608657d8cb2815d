/*
 * link.c - node-to-node link (see link.h for the contract and states).
 *
 * Output: strata_link_send() packs each message straight into `batch`, an
 * evbuffer holding the body of the open frame (tag, length, message bytes
 * per message).  The first send of a loop turn activates `flush_ev`, a
 * one-shot event that runs after the callbacks already queued in this turn,
 * so every message sent while handling one read is written as one frame.
 * The frame is written to the socket directly (one writev); only what the
 * kernel does not take makes the bufferevent watch for writability, until
 * the output is empty again.  That saves the epoll_ctl pair and the extra
 * loop turn a bufferevent's write event costs for every frame.
 *
 * Input: the read callback peeks at the 4-byte length, refuses a frame over
 * STRATA_LINK_MAX_FRAME before buffering it, and unpacks whole frames with
 * an arena allocator that is reset after each frame, so a steady stream of
 * frames causes no malloc/free per message.
 *
 * Lifetime: every callback into the owner is wrapped in link_enter() /
 * link_leave(); strata_link_free() called inside one only marks the link,
 * and the outermost link_leave() releases it.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "link.h"
#include "log.h"
#include "status.h"

#define LINK_BACKOFF_MIN_MS 100
#define LINK_BACKOFF_MAX_MS 2000
#define LINK_ARENA_KEEP (1024 * 1024) /* arena block kept between frames */
#define LINK_ALIGN 16

enum link_state {
	LINK_CONNECTING,
	LINK_UP,
	LINK_BACKOFF,
	LINK_DOWN,
};

/* Bump allocator for frame unpacking.  Allocations that do not fit in the
 * block are malloc'd and chained; reset frees them and grows the block so
 * the next frame of that size fits. */
struct link_arena_extra {
	struct link_arena_extra *next;
	max_align_t data[];
};

struct link_arena {
	unsigned char *block;
	size_t cap, used, wanted;
	struct link_arena_extra *extra;
};

struct strata_link {
	struct event_base *base;
	struct bufferevent *bev;
	struct strata_link_callbacks cb;
	void *arg;
	size_t max_queue;
	enum link_state state;
	bool client;
	char *host;
	uint16_t port;
	unsigned backoff_ms;
	bool full;          /* a send was refused: on_drain owed */
	bool up_pending;    /* server side: on_up not yet delivered */
	int depth;          /* nesting of callbacks into the owner */
	bool free_pending;  /* strata_link_free() called inside a callback */
	struct evbuffer *batch;
	struct event *flush_ev;
	struct event *timer_ev; /* client reconnect timer, server on_up */
	struct link_arena arena;
	ProtobufCAllocator allocator;
	char peer[80];
};

static void link_connect_now(struct strata_link *l);
static void link_release(struct strata_link *l);

/* --- arena allocator ---------------------------------------------------- */

static void *
link_arena_alloc(void *data, size_t size)
{
	struct link_arena *a = data;
	struct link_arena_extra *e;
	size_t need = (size + LINK_ALIGN - 1) & ~(size_t)(LINK_ALIGN - 1);

	a->wanted += need;
	if (a->used + need <= a->cap) {
		void *p = a->block + a->used;
		a->used += need;
		return p;
	}
	e = malloc(sizeof(*e) + size);
	if (e == NULL)
		return NULL;
	e->next = a->extra;
	a->extra = e;
	return e->data;
}

static void
link_arena_free(void *data, void *p)
{
	/* Everything is released at once by link_arena_reset(). */
}

static void
link_arena_reset(struct link_arena *a)
{
	struct link_arena_extra *e;

	while ((e = a->extra) != NULL) {
		a->extra = e->next;
		free(e);
	}
	if (a->wanted > a->cap && a->wanted <= LINK_ARENA_KEEP) {
		unsigned char *nb = malloc(a->wanted);
		if (nb != NULL) {
			free(a->block);
			a->block = nb;
			a->cap = a->wanted;
		}
	}
	a->used = 0;
	a->wanted = 0;
}

/* --- callback wrapping and deferred free --------------------------------- */

static void
link_enter(struct strata_link *l)
{
	l->depth++;
}

/* Returns false if the link was released (the caller must not touch it). */
static bool
link_leave(struct strata_link *l)
{
	l->depth--;
	if (l->depth == 0 && l->free_pending) {
		link_release(l);
		return false;
	}
	return true;
}

/* --- connection setup and teardown -------------------------------------- */

static void
link_socket_options(evutil_socket_t fd)
{
	int one = 1, idle = 30, intvl = 10, cnt = 3;

	/* Failures leave the defaults: the link still works, only slower to
	 * notice a dead peer or with more latency. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl,
	    sizeof(intvl));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

static void
link_peer_name(struct strata_link *l, evutil_socket_t fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[64];
	unsigned port = 0;

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		port = ntohs(s4->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		port = ntohs(s6->sin6_port);
	} else {
		return;
	}
	snprintf(l->peer, sizeof(l->peer), "%s:%u", host, port);
}

/* Close the socket and drop whatever was queued (see link.h). */
static void
link_close(struct strata_link *l)
{
	if (l->bev != NULL) {
		bufferevent_free(l->bev);
		l->bev = NULL;
	}
	evbuffer_drain(l->batch, evbuffer_get_length(l->batch));
	event_del(l->flush_ev);
	l->full = false;
}

static void
link_schedule_reconnect(struct strata_link *l)
{
	struct timeval tv = {
		.tv_sec = l->backoff_ms / 1000,
		.tv_usec = (l->backoff_ms % 1000) * 1000,
	};

	l->state = LINK_BACKOFF;
	event_add(l->timer_ev, &tv);
	l->backoff_ms *= 2;
	if (l->backoff_ms > LINK_BACKOFF_MAX_MS)
		l->backoff_ms = LINK_BACKOFF_MAX_MS;
}

/* The connection is gone (error, EOF, bad frame).  Called from the link's
 * own bufferevent callbacks only. */
static void
link_lost(struct strata_link *l, const char *why)
{
	/* An accepted link whose on_up has not run yet owes no on_down. */
	bool was_up = l->state == LINK_UP && !l->up_pending;

	l->up_pending = false;
	if (was_up)
		STRATA_INFO("link", "link down|peer=%s reason=\"%s\"", l->peer,
		    why);
	link_close(l);
	if (l->client)
		link_schedule_reconnect(l);
	else
		l->state = LINK_DOWN;
	if (was_up && l->cb.on_down != NULL && !l->free_pending) {
		link_enter(l);
		l->cb.on_down(l, l->arg);
		link_leave(l);
	}
}

/* --- input -------------------------------------------------------------- */

/* Unpack and hand over the frame of `len` bytes after the 4-byte header.
 * Returns false if the link was freed or closed by the owner. */
static bool
link_deliver_frame(struct strata_link *l, struct evbuffer *in, size_t len)
{
	const uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)(4 + len));
	Strata__Frame *frame;
	bool alive;

	frame = strata__frame__unpack(&l->allocator, len, p + 4);
	evbuffer_drain(in, 4 + len);
	if (frame == NULL) {
		link_arena_reset(&l->arena);
		link_lost(l, "malformed frame");
		return false;
	}
	link_enter(l);
	if (l->cb.on_frame != NULL)
		l->cb.on_frame(l, frame, l->arg);
	/* Freeing through the arena allocator is a no-op; reset drops it. */
	link_arena_reset(&l->arena);
	alive = !l->free_pending && l->bev != NULL;
	if (!link_leave(l))
		return false;
	return alive;
}

static void
link_read_cb(struct bufferevent *bev, void *arg)
{
	struct strata_link *l = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t hdr[4];
	size_t len;

	while (evbuffer_get_length(in) >= 4) {
		evbuffer_copyout(in, hdr, 4);
		len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 |
		    (size_t)hdr[2] << 8 | hdr[3];
		if (len > STRATA_LINK_MAX_FRAME) {
			STRATA_WARN("link", "frame too large|peer=%s len=%zu",
			    l->peer, len);
			link_lost(l, "frame too large");
			return;
		}
		if (evbuffer_get_length(in) < 4 + len)
			return;
		if (!link_deliver_frame(l, in, len))
			return;
	}
}

/* --- output ------------------------------------------------------------- */

static void
link_write_cb(struct bufferevent *bev, void *arg)
{
	struct strata_link *l = arg;

	/* Called when the output falls to the low watermark, max_queue/2. */
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		bufferevent_disable(bev, EV_WRITE);
	if (!l->full || strata_link_queued(l) > l->max_queue / 2)
		return;
	l->full = false;
	if (l->cb.on_drain == NULL)
		return;
	link_enter(l);
	l->cb.on_drain(l, l->arg);
	link_leave(l);
}

/*
 * Write what the kernel takes now.  What is left (or a write error, which
 * the bufferevent then reports through the event callback, outside of any
 * send) goes through the write event.  While the queue is over its bound
 * everything goes through the write event, whose callback reports the
 * drain.
 */
static void
link_write_now(struct strata_link *l)
{
	struct evbuffer *out = bufferevent_get_output(l->bev);

	if (!l->full) {
		/* a socket bufferevent keeps its output frozen at the front
		 * except while it writes itself; do as it does */
		evbuffer_unfreeze(out, 1);
		(void)evbuffer_write(out, bufferevent_getfd(l->bev));
		evbuffer_freeze(out, 1);
	}
	if (evbuffer_get_length(out) != 0)
		bufferevent_enable(l->bev, EV_WRITE);
}

static void
link_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	strata_link_flush(arg);
}

void
strata_link_flush(struct strata_link *l)
{
	size_t len = evbuffer_get_length(l->batch);
	uint8_t hdr[4];
	struct evbuffer *out;

	if (len == 0 || l->bev == NULL)
		return;
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
	out = bufferevent_get_output(l->bev);
	evbuffer_add(out, hdr, 4);
	evbuffer_add_buffer(out, l->batch);
	link_write_now(l);
}

static size_t
link_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

int
strata_link_send(struct strata_link *l, enum strata_link_field field,
    const ProtobufCMessage *msg)
{
	size_t size = protobuf_c_message_get_packed_size(msg);
	uint8_t head[20];
	size_t hlen;
	struct evbuffer_iovec vec;

	if (l->state != LINK_UP || l->bev == NULL)
		return STRATA_AGAIN;
	if (strata_link_queued(l) > l->max_queue) {
		l->full = true;
		return STRATA_ENOSPC;
	}
	hlen = link_varint(head, (uint64_t)field << 3 | 2);
	hlen += link_varint(head + hlen, size);
	if (evbuffer_get_length(l->batch) + hlen + size >
	    STRATA_LINK_MAX_FRAME)
		strata_link_flush(l);
	evbuffer_add(l->batch, head, hlen);
	if (size > 0) {
		if (evbuffer_reserve_space(l->batch, (ev_ssize_t)size, &vec,
		    1) != 1)
			abort();
		protobuf_c_message_pack(msg, vec.iov_base);
		vec.iov_len = size;
		evbuffer_commit_space(l->batch, &vec, 1);
	}
	if (evbuffer_get_length(l->batch) >= STRATA_LINK_BATCH_BYTES)
		strata_link_flush(l);
	else if (!event_pending(l->flush_ev, EV_TIMEOUT, NULL))
		event_active(l->flush_ev, EV_TIMEOUT, 1);
	return 0;
}

/* --- connection events -------------------------------------------------- */

static void
link_up(struct strata_link *l)
{
	l->state = LINK_UP;
	l->backoff_ms = LINK_BACKOFF_MIN_MS;
	bufferevent_setwatermark(l->bev, EV_WRITE, l->max_queue / 2, 0);
	bufferevent_disable(l->bev, EV_WRITE); /* written directly */
	bufferevent_enable(l->bev, EV_READ);
	STRATA_INFO("link", "link up|peer=%s", l->peer);
	if (l->cb.on_up != NULL) {
		link_enter(l);
		l->cb.on_up(l, l->arg);
		link_leave(l);
	}
}

static void
link_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct strata_link *l = arg;

	if (what & BEV_EVENT_CONNECTED) {
		evutil_socket_t fd = bufferevent_getfd(bev);
		link_socket_options(fd);
		link_peer_name(l, fd);
		link_up(l);
		return;
	}
	if (what & BEV_EVENT_EOF)
		link_lost(l, "closed by peer");
	else if (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		link_lost(l, evutil_socket_error_to_string(
		    EVUTIL_SOCKET_ERROR()));
}

static void
link_connect_now(struct strata_link *l)
{
	l->state = LINK_CONNECTING;
	l->bev = bufferevent_socket_new(l->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (l->bev == NULL) {
		link_schedule_reconnect(l);
		return;
	}
	bufferevent_setcb(l->bev, link_read_cb, link_write_cb, link_event_cb,
	    l);
	/* A NULL dns base resolves synchronously; link peers are addresses
	 * or names from /etc/hosts in practice. */
	if (bufferevent_socket_connect_hostname(l->bev, NULL, AF_UNSPEC,
	    l->host, l->port) != 0 && l->state == LINK_CONNECTING) {
		link_close(l);
		link_schedule_reconnect(l);
	}
}

/* Client: reconnect timer.  Server: deferred on_up after accept. */
static void
link_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct strata_link *l = arg;

	if (l->client) {
		link_connect_now(l);
	} else if (l->up_pending && l->state == LINK_UP) {
		l->up_pending = false;
		if (l->cb.on_up != NULL) {
			link_enter(l);
			l->cb.on_up(l, l->arg);
			link_leave(l);
		}
	}
}

/* --- construction and destruction --------------------------------------- */

static struct strata_link *
link_new(struct event_base *base, const struct strata_link_callbacks *cb,
    void *arg, size_t max_queue)
{
	struct strata_link *l = calloc(1, sizeof(*l));

	if (l == NULL)
		abort();
	l->base = base;
	l->cb = *cb;
	l->arg = arg;
	l->max_queue = max_queue;
	l->backoff_ms = LINK_BACKOFF_MIN_MS;
	l->batch = evbuffer_new();
	l->flush_ev = event_new(base, -1, 0, link_flush_cb, l);
	l->timer_ev = event_new(base, -1, 0, link_timer_cb, l);
	if (l->batch == NULL || l->flush_ev == NULL || l->timer_ev == NULL)
		abort();
	l->allocator.alloc = link_arena_alloc;
	l->allocator.free = link_arena_free;
	l->allocator.allocator_data = &l->arena;
	return l;
}

struct strata_link *
strata_link_connect(struct event_base *base, const char *host, uint16_t port,
    const struct strata_link_callbacks *cb, void *arg, size_t max_queue)
{
	struct strata_link *l = link_new(base, cb, arg, max_queue);

	l->client = true;
	l->host = strdup(host);
	if (l->host == NULL)
		abort();
	l->port = port;
	snprintf(l->peer, sizeof(l->peer), "%s:%u", host, (unsigned)port);
	link_connect_now(l);
	return l;
}

struct strata_link *
strata_link_accept(struct event_base *base, evutil_socket_t fd,
    const struct strata_link_callbacks *cb, void *arg, size_t max_queue)
{
	struct strata_link *l = link_new(base, cb, arg, max_queue);

	evutil_make_socket_nonblocking(fd);
	link_socket_options(fd);
	link_peer_name(l, fd);
	l->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (l->bev == NULL)
		abort();
	bufferevent_setcb(l->bev, link_read_cb, link_write_cb, link_event_cb,
	    l);
	l->state = LINK_UP;
	bufferevent_setwatermark(l->bev, EV_WRITE, max_queue / 2, 0);
	bufferevent_enable(l->bev, EV_READ); /* output written directly */
	STRATA_INFO("link", "link accepted|peer=%s", l->peer);
	/* on_up runs from the loop, once the caller holds the pointer. */
	l->up_pending = true;
	event_active(l->timer_ev, EV_TIMEOUT, 1);
	return l;
}

static void
link_release(struct strata_link *l)
{
	link_close(l);
	event_free(l->flush_ev);
	event_free(l->timer_ev);
	evbuffer_free(l->batch);
	link_arena_reset(&l->arena);
	free(l->arena.block);
	free(l->host);
	free(l);
}

void
strata_link_free(struct strata_link *l)
{
	if (l == NULL)
		return;
	if (l->depth > 0) {
		/* Inside our own callback: stop all I/O now, free later. */
		l->free_pending = true;
		link_close(l);
		event_del(l->timer_ev);
		l->state = LINK_DOWN;
		return;
	}
	link_release(l);
}

bool
strata_link_is_up(const struct strata_link *l)
{
	return l->state == LINK_UP;
}

size_t
strata_link_queued(const struct strata_link *l)
{
	size_t n = evbuffer_get_length(l->batch);

	if (l->bev != NULL)
		n += evbuffer_get_length(bufferevent_get_output(l->bev));
	return n;
}

const char *
strata_link_peer(const struct strata_link *l)
{
	return l->peer;
}
