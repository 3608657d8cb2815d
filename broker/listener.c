/*
 * listener.c - the broker's listeners:
 *   port            MQTT over TCP
 *   tls-port        MQTT over TLS
 *   proxy-port      a PROXY protocol header (v2, or v1), then MQTT
 *   proxy-tls-port  a PROXY protocol header, then TLS as on tls-port
 *   ws-port         MQTT over WebSocket (ws.c)
 *   wss-port        MQTT over WebSocket over TLS as on tls-port (its ALPN
 *                   is http/1.1)
 * Each is off when its port is 0; at least one must be on.  A PROXY
 * connection starts in state PROXY (proxy.c reads the header); on the
 * PROXY TLS listener its TLS bufferevent is made only once the header is
 * consumed, so OpenSSL never sees the header's bytes.
 *
 * Addresses: the TLS and PROXY listeners bind `bind`.  Plain TCP (and
 * plain WebSocket, ws-port) is for development on loopback: it binds
 * `bind` too when that is a loopback
 * address, and otherwise `tcp-bind` (127.0.0.1 unless the user sets
 * another address, such as 0.0.0.0 to expose it), with a log line that
 * says so.
 *
 * TLS: the SSL_CTX of both TLS listeners is built (and rebuilt on SIGHUP)
 * by tls.c; a connection's SSL is made from the context current when it
 * is accepted (or, on the PROXY TLS listener, when its header is read).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/bufferevent_ssl.h>

#include "broker.h"

static bool
listener_full(struct strata_broker *b)
{
	return b->stopping || (b->cfg.max_connections > 0 &&
	    b->n_conns >= b->cfg.max_connections);
}

struct bufferevent *
broker_listeners_tls_wrap(struct strata_broker *b, evutil_socket_t fd)
{
	struct bufferevent *bev;
	SSL *ssl;

	if (b->cfg.tls_wrap != NULL) {
		bev = b->cfg.tls_wrap(b->base, fd);
		if (bev == NULL)
			evutil_closesocket(fd);
		return bev;
	}
	ssl = SSL_new(b->ssl_ctx);
	if (ssl == NULL)
		abort();
	bev = bufferevent_openssl_socket_new(b->base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		evutil_closesocket(fd);
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

static void
listener_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct strata_broker *b = arg;
	enum broker_listener_kind kind = BROKER_TCP;
	struct bufferevent *bev = NULL;
	int i;

	for (i = 0; i < BROKER_LISTENERS; i++)
		if (l == b->listeners[i])
			kind = (enum broker_listener_kind)i;
	if (listener_full(b)) {
		broker_refuse(b, NULL, STRATA_RC_SERVER_BUSY,
		    "connection over max-connections");
		evutil_closesocket(fd);
		return;
	}
	/* Output is already batched per loop turn (one write for many
	 * packets), so Nagle only adds delay: with it a TLS handshake's
	 * second flight waits for the client's delayed ACK (~40 ms). */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
	if (kind == BROKER_TLS || kind == BROKER_WSS) {
		bev = broker_listeners_tls_wrap(b, fd);
		if (bev == NULL)
			return;
		if (kind == BROKER_WSS)
			broker_tls_mark_websocket(bev);
	} else if (kind == BROKER_WS) {
		bev = bufferevent_socket_new(b->base, fd,
		    BEV_OPT_CLOSE_ON_FREE);
		if (bev == NULL) {
			evutil_closesocket(fd);
			return;
		}
	}
	broker_conn_new(b, fd, bev, kind, sa);
}

static void
listener_error(struct evconnlistener *l, void *arg)
{
	STRATA_WARN(BROKER_COMP, "accept failed|error=\"%s\"",
	    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

static const char *const listener_names[BROKER_LISTENERS] = {"tcp", "tls",
	"proxy", "proxy-tls", "ws", "wss"};

/* Resolve host for a passive socket; NULL (logged) when it cannot be. */
static struct evutil_addrinfo *
listener_resolve(const char *host, long port)
{
	struct evutil_addrinfo hints, *ai = NULL;
	char service[16];

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = EVUTIL_AI_PASSIVE;
	snprintf(service, sizeof(service), "%ld", port);
	if (evutil_getaddrinfo(host, service, &hints, &ai) != 0) {
		STRATA_ERROR(BROKER_COMP, "bad bind address|bind=%s", host);
		return NULL;
	}
	return ai;
}

/* Is host a loopback address (127.0.0.0/8, ::1, or a name for one)? */
static bool
listener_loopback(const char *host)
{
	struct evutil_addrinfo *ai = listener_resolve(host, 0);
	bool loopback = false;

	if (ai == NULL)
		return false;
	if (ai->ai_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ai->ai_addr;

		loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	} else if (ai->ai_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ai->ai_addr;

		loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	}
	evutil_freeaddrinfo(ai);
	return loopback;
}

/* The address listener kind binds (see the comment at the top). */
static const char *
listener_host(const struct strata_broker *b, enum broker_listener_kind kind)
{
	const struct broker_config *cfg = &b->cfg;

	if ((kind != BROKER_TCP && kind != BROKER_WS) ||
	    listener_loopback(cfg->bind))
		return cfg->bind;
	STRATA_INFO(BROKER_COMP, "plain %s listens on tcp-bind, not on bind "
	    "(not a loopback address); set tcp-bind to expose it|bind=%s "
	    "tcp_bind=%s port=%ld", kind == BROKER_WS ? "WebSocket" : "TCP",
	    cfg->bind, cfg->tcp_bind, kind == BROKER_WS ? cfg->ws_port :
	    cfg->port);
	return cfg->tcp_bind;
}

static int
listener_open(struct strata_broker *b, enum broker_listener_kind kind,
    long port)
{
	const char *host = listener_host(b, kind);
	struct evutil_addrinfo *ai = listener_resolve(host, port);
	struct evconnlistener *l;

	if (ai == NULL)
		return STRATA_EINVAL;
	l = evconnlistener_new_bind(b->base, listener_accept, b,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 1024, ai->ai_addr,
	    (int)ai->ai_addrlen);
	evutil_freeaddrinfo(ai);
	if (l == NULL) {
		STRATA_ERROR(BROKER_COMP, "cannot listen|bind=%s port=%ld "
		    "error=\"%s\"", host, port, strerror(errno));
		return STRATA_EIO;
	}
	evconnlistener_set_error_cb(l, listener_error);
	b->listeners[kind] = l;
	STRATA_INFO(BROKER_COMP, "listening|listener=%s bind=%s port=%ld",
	    listener_names[kind], host, port);
	return 0;
}

int
broker_listeners_start(struct strata_broker *b)
{
	const struct broker_config *cfg = &b->cfg;
	const long ports[BROKER_LISTENERS] = {cfg->port, cfg->tls_port,
	    cfg->proxy_port, cfg->proxy_tls_port, cfg->ws_port, cfg->wss_port};
	bool any = false;
	int i, rc;

	for (i = 0; i < BROKER_LISTENERS; i++)
		any = any || ports[i] != 0;
	if (!any) {
		STRATA_ERROR(BROKER_COMP, "config error: port, tls-port, "
		    "proxy-port, proxy-tls-port, ws-port and wss-port are "
		    "all 0");
		return STRATA_EINVAL;
	}
	if (ports[BROKER_TLS] != 0 || ports[BROKER_PROXY_TLS] != 0 ||
	    ports[BROKER_WSS] != 0) {
		rc = broker_tls_start(b);
		if (rc != 0)
			return rc;
	}
	/* TLS first, as before: the plain port answering means every
	 * listener is up (cluster.sh waits for it) */
	for (i = BROKER_LISTENERS - 1; i >= 0; i--) {
		if (ports[i] == 0)
			continue;
		rc = listener_open(b, (enum broker_listener_kind)i, ports[i]);
		if (rc != 0)
			return rc;
	}
	return 0;
}

bool
broker_listeners_open(const struct strata_broker *b)
{
	int i;

	for (i = 0; i < BROKER_LISTENERS; i++)
		if (b->listeners[i] != NULL)
			return true;
	return false;
}

void
broker_listeners_stop(struct strata_broker *b)
{
	int i;

	for (i = 0; i < BROKER_LISTENERS; i++) {
		if (b->listeners[i] != NULL)
			evconnlistener_free(b->listeners[i]);
		b->listeners[i] = NULL;
	}
}
