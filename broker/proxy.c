/*
 * proxy.c - the PROXY protocol header of connections on the PROXY
 * listeners (proxy-port, proxy-tls-port): state PROXY of conn.c.
 *
 *   accept --> PROXY --valid header consumed--> NEW (peer = the header's
 *                |                              source; LOCAL, UNSPEC and
 *                |                              v1 UNKNOWN keep the
 *                |                              socket's own)
 *                +--no PROXY signature, invalid header, over 4 KiB,
 *                   end of stream or error before the header is whole,
 *                   connect timeout--> refused (BROKER_REFUSE_PROXY),
 *                   CLOSING
 *
 * Nothing past the header is read: behind it is MQTT, or a TLS handshake
 * that OpenSSL must read from the socket itself.  Each readiness is one
 * recv(MSG_PEEK) of what the socket holds, up to the bound, parsed behind
 * the header bytes kept so far, then one read() that consumes exactly the
 * bytes that belong to the header: the whole header when it is complete,
 * or everything peeked when it is not (strata_proxy_parse's AGAIN means
 * every byte given is header, so nothing past it is taken, and the
 * socket never stays readable with peeked bytes: no busy loop).  A
 * header that arrives in pieces is kept in c->in (at most
 * STRATA_PROXY_MAX bytes, freed when the state ends).  Every connection
 * that leaves PROXY other than by the broker's shutdown counts once in
 * strata_broker_proxy_headers_total, accepted or refused.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker.h"
#include "proxy.h"

static void
proxy_refuse(struct broker_conn *c, const char *what)
{
	(*c->broker->m.proxy_refused)++;
	broker_refuse(c->broker, c, BROKER_REFUSE_PROXY, what);
	broker_conn_close(c, false);
}

void
broker_proxy_timeout(struct broker_conn *c)
{
	proxy_refuse(c, "no PROXY header in time");
}

/* Keep n more header bytes of the socket (already peeked) in c->in. */
static bool
proxy_keep(struct broker_conn *c, size_t n)
{
	size_t have = c->in_len;
	uint8_t *in;
	ssize_t got;

	if (have + n > c->in_cap) {
		in = realloc(c->in, have + n);
		if (in == NULL)
			abort();
		c->in = in;
		c->in_cap = (uint32_t)(have + n);
	}
	got = read(c->fd, c->in + have, n);
	if (got != (ssize_t)n)
		return false; /* peeked bytes must be there */
	c->in_len = (uint32_t)(have + n);
	return true;
}

/* Consume the rest of a complete header: n bytes, into the read buffer
 * behind the bytes kept so far (the same bytes that were peeked). */
static bool
proxy_consume(struct broker_conn *c, uint8_t *at, size_t n)
{
	ssize_t got;

	if (n == 0)
		return true;
	got = read(c->fd, at, n);
	return got == (ssize_t)n;
}

/* The header ended the connection's input early: nothing, a part, or an
 * error.  Every connection on a PROXY listener owes a header. */
static void
proxy_lost(struct broker_conn *c, ssize_t n)
{
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return;
	proxy_refuse(c, c->in_len > 0 ? "PROXY header truncated" :
	    n == 0 ? "closed before a PROXY header" :
	    "connection lost before a PROXY header");
}

static void
proxy_accept(struct broker_conn *c, const struct strata_proxy_header *h)
{
	struct strata_broker *b = c->broker;

	free(c->in);
	c->in = NULL;
	c->in_len = c->in_cap = 0;
	*b->m.bytes_in += h->len;
	(*b->m.proxy_accepted)++;
	broker_conn_proxied(c, h->family != AF_UNSPEC ?
	    (const struct sockaddr *)&h->src : NULL);
}

void
broker_proxy_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct broker_conn *c = arg;
	uint8_t *buf = c->broker->read_buf;
	size_t held = c->in_len;
	struct strata_proxy_header h;
	ssize_t n;
	int rc;

	if (held > 0)
		memcpy(buf, c->in, held);
	n = recv(fd, buf + held, STRATA_PROXY_MAX - held, MSG_PEEK);
	if (n <= 0) {
		proxy_lost(c, n);
		return;
	}
	c->last_input_ms = broker_now_ms();
	rc = strata_proxy_parse(buf, held + (size_t)n, &h);
	if (rc == STRATA_AGAIN) {
		if (!proxy_keep(c, (size_t)n))
			proxy_refuse(c, "PROXY header unreadable");
		return;
	}
	if (rc != 0) {
		proxy_refuse(c, h.error);
		return;
	}
	assert(h.len > held); /* the held bytes alone were not enough */
	if (!proxy_consume(c, buf + held, h.len - held)) {
		proxy_refuse(c, "PROXY header unreadable");
		return;
	}
	proxy_accept(c, &h);
}
