/*
 * redis_tls.c - TLS to Redis through a private Unix socket (see
 * redis_tls.h for the contract, docs/internals/redis.md for the why).
 *
 * One shim per target host:port: a listener on <dir>/redis.sock, dir made
 * by mkdtemp() (mode 0700, so no other user reaches it), on the client's
 * event loop.  Whoever reaches the socket speaks to Redis with our client
 * certificate, so a connection is taken only from this very process
 * (SO_PEERCRED); hiredis, in process, is the only one that should come.
 *
 * A bridge per accepted connection: `local` (hiredis's end, Unix) and
 * `remote` (TLS to the target, connected when the bridge is made):
 *   OPEN --either side EOF, error or timeout--> DRAINING
 *   DRAINING --the other side wrote what it held, failed, or took longer
 *             than REDIS_TLS_DRAIN_S--> DEAD --reap event--> freed
 * OPEN: what one side reads is moved (evbuffer chains, no copy) to the
 * other's output; when that output holds REDIS_TLS_HIGH_WATER bytes the
 * reader is paused until it is written down to half.  What hiredis sends
 * during the handshake (AUTH) waits in the TLS side's output.
 * DRAINING: nothing more is read; the side still up writes what it holds
 * (a last reply for hiredis, last commands for Redis) and is closed.  A
 * TLS side whose handshake never finished has nothing worth writing: the
 * bridge dies at once.
 * DEAD: unlinked, callbacks cleared; freed from a one-shot event, never
 * inside its own callback.
 *
 * A failure of the TLS side is logged with the target, once per series
 * of failures (the client retries every second) and again when OpenSSL
 * gives another reason (redis_tls_log_failure).  The first bytes Redis
 * sends on a bridge end the series: a handshake alone is not proof
 * enough, since with TLS 1.3 a server refuses our certificate after it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "list.h"
#include "log.h"
#include "redis_tls.h"
#include "status.h"

/* Bytes one side may hold for the other before its reader pauses. */
#define REDIS_TLS_HIGH_WATER (1024 * 1024)
/* How long a side still up may take to write what it holds at the end. */
#define REDIS_TLS_DRAIN_S 5
/* TCP keepalive of the TLS side, as hiredis sets it on its own sockets
 * (REDIS_KEEPALIVE_INTERVAL): a subscriber has no deadline and learns of
 * a dead host only from it. */
#define REDIS_TLS_KEEPALIVE_S 15
/* The private directory's parent: $TMPDIR when it is this short (a Unix
 * socket path has 108 bytes), else /tmp. */
#define REDIS_TLS_MAX_TMPDIR 64

enum redis_tls_state {
	REDIS_TLS_OPEN,
	REDIS_TLS_DRAINING,
	REDIS_TLS_DEAD,
};

struct redis_tls_bridge {
	struct strata_list node;    /* in shim->bridges, or t->dead */
	struct redis_tls_shim *shim;
	struct bufferevent *local;  /* hiredis's connection */
	struct bufferevent *remote; /* TLS to the target */
	enum redis_tls_state state;
	bool handshaken;            /* the TLS handshake completed */
	bool answered;              /* Redis sent bytes */
};

struct redis_tls_shim {
	struct strata_list node;    /* in t->shims */
	struct strata_redis_tls *t;
	char *host;
	uint16_t port;
	bool host_is_ip;            /* verified as an IP address, no SNI */
	char dir[REDIS_TLS_MAX_TMPDIR + 24];
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct evconnlistener *listener;
	struct strata_list bridges;
	unsigned failures;          /* in a row, for the log */
	char last_tls_error[256];   /* the last OpenSSL error warned of */
};

struct strata_redis_tls {
	struct event_base *base;
	SSL_CTX *ctx;
	struct strata_list shims;
	struct strata_list dead;    /* bridges waiting for reap_ev */
	struct event *reap_ev;
};

/* ---- the TLS context of the options ---- */

static bool
redis_tls_given(const char *s)
{
	return s != NULL && s[0] != '\0';
}

/* The options alone, before any file is read. */
static int
redis_tls_check_options(bool enabled, const char *ca, const char *cert,
    const char *key, char *err, size_t errlen)
{
	const char *stray = redis_tls_given(ca) ? "redis-tls-ca" :
	    redis_tls_given(cert) ? "redis-tls-cert" :
	    redis_tls_given(key) ? "redis-tls-key" : NULL;

	if (!enabled && stray != NULL)
		snprintf(err, errlen, "%s needs redis-tls (Redis stays in "
		    "clear without it)", stray);
	else if (enabled && !redis_tls_given(ca))
		snprintf(err, errlen, "redis-tls needs redis-tls-ca (the CA "
		    "file Redis's certificate is verified against)");
	else if (enabled && redis_tls_given(cert) != redis_tls_given(key))
		snprintf(err, errlen, "%s needs %s", redis_tls_given(cert) ?
		    "redis-tls-cert" : "redis-tls-key", redis_tls_given(cert) ?
		    "redis-tls-key" : "redis-tls-cert");
	else
		return 0;
	return STRATA_EINVAL;
}

/* The files can be opened: OpenSSL's own words for a missing one ("system
 * lib") do not say why. */
static int
redis_tls_check_readable(const char *ca, const char *cert, const char *key,
    char *err, size_t errlen)
{
	const char *const options[] = { "redis-tls-ca", "redis-tls-cert",
		"redis-tls-key" };
	const char *const paths[] = { ca, cert, key };
	FILE *f;

	for (size_t i = 0; i < 3; i++) {
		if (!redis_tls_given(paths[i]))
			continue;
		if ((f = fopen(paths[i], "r")) == NULL) {
			snprintf(err, errlen, "%s %s: %s", options[i],
			    paths[i], strerror(errno));
			return STRATA_EINVAL;
		}
		fclose(f);
	}
	return 0;
}

/* err: "<option> <path>: <OpenSSL's last error>". */
static int
redis_tls_file_error(const char *option, const char *path, char *err,
    size_t errlen)
{
	unsigned long e = ERR_peek_last_error();
	char why[160] = "cannot be loaded";

	if (e != 0)
		ERR_error_string_n(e, why, sizeof(why));
	ERR_clear_error();
	snprintf(err, errlen, "%s %s: %s", option, path, why);
	return STRATA_EINVAL;
}

int
strata_redis_tls_context(SSL_CTX **out, bool enabled, const char *ca,
    const char *cert, const char *key, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	int rc;

	SSL_CTX_free(*out);
	*out = NULL;
	if (redis_tls_check_options(enabled, ca, cert, key, err,
	    errlen) != 0)
		return STRATA_EINVAL;
	if (!enabled)
		return 0;
	if (redis_tls_check_readable(ca, cert, key, err, errlen) != 0)
		return STRATA_EINVAL;
	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		abort();
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
		rc = redis_tls_file_error("redis-tls-ca", ca, err, errlen);
	else if (redis_tls_given(cert) &&
	    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
		rc = redis_tls_file_error("redis-tls-cert", cert, err, errlen);
	else if (redis_tls_given(key) &&
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		rc = redis_tls_file_error("redis-tls-key", key, err, errlen);
	else if (redis_tls_given(key) && SSL_CTX_check_private_key(ctx) != 1)
		rc = redis_tls_file_error("redis-tls-key", key, err, errlen);
	else
		rc = 0;
	if (rc != 0) {
		SSL_CTX_free(ctx);
		return rc;
	}
	*out = ctx;
	return 0;
}

/* ---- bridges ---- */

static void
redis_tls_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct strata_redis_tls *t = arg;
	struct strata_list *pos, *tmp;

	STRATA_LIST_FOREACH_SAFE(pos, tmp, &t->dead) {
		struct redis_tls_bridge *b = STRATA_CONTAINER_OF(pos,
		    struct redis_tls_bridge, node);

		strata_list_remove(pos);
		bufferevent_free(b->local);
		bufferevent_free(b->remote);
		free(b);
	}
}

/* DEAD: no callback runs any more; freed by the reap event. */
static void
redis_tls_bridge_kill(struct redis_tls_bridge *b)
{
	struct strata_redis_tls *t = b->shim->t;

	if (b->state == REDIS_TLS_DEAD)
		return;
	b->state = REDIS_TLS_DEAD;
	bufferevent_setcb(b->local, NULL, NULL, NULL, NULL);
	bufferevent_setcb(b->remote, NULL, NULL, NULL, NULL);
	bufferevent_disable(b->local, EV_READ | EV_WRITE);
	bufferevent_disable(b->remote, EV_READ | EV_WRITE);
	strata_list_remove(&b->node);
	strata_list_push_back(&t->dead, &b->node);
	event_active(t->reap_ev, EV_TIMEOUT, 0);
}

static struct bufferevent *
redis_tls_other(const struct redis_tls_bridge *b,
    const struct bufferevent *bev)
{
	return bev == b->local ? b->remote : b->local;
}

/* Move what src read to dst's output; pause src when dst holds too much
 * (the write callback of dst resumes it at half). */
static void
redis_tls_move(struct bufferevent *src, struct bufferevent *dst)
{
	struct evbuffer *out = bufferevent_get_output(dst);

	(void)evbuffer_add_buffer(out, bufferevent_get_input(src));
	if (evbuffer_get_length(out) >= REDIS_TLS_HIGH_WATER) {
		bufferevent_disable(src, EV_READ);
		bufferevent_setwatermark(dst, EV_WRITE,
		    REDIS_TLS_HIGH_WATER / 2, 0);
	}
}

static void
redis_tls_read_cb(struct bufferevent *src, void *arg)
{
	struct redis_tls_bridge *b = arg;
	struct evbuffer *in = bufferevent_get_input(src);

	if (b->state != REDIS_TLS_OPEN) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	if (src == b->remote && !b->answered) {
		b->answered = true;
		b->shim->failures = 0;
		b->shim->last_tls_error[0] = '\0';
	}
	redis_tls_move(src, redis_tls_other(b, src));
}

/* dst's output fell to its low water mark: resume its producer, or, when
 * draining, close once everything is written. */
static void
redis_tls_write_cb(struct bufferevent *dst, void *arg)
{
	struct redis_tls_bridge *b = arg;

	if (b->state == REDIS_TLS_DRAINING) {
		if (evbuffer_get_length(bufferevent_get_output(dst)) == 0)
			redis_tls_bridge_kill(b);
		return;
	}
	bufferevent_setwatermark(dst, EV_WRITE, 0, 0);
	bufferevent_enable(redis_tls_other(b, dst), EV_READ);
}

/* `ended` is done: the other side writes what it holds, then closes. */
static void
redis_tls_bridge_end(struct redis_tls_bridge *b, struct bufferevent *ended)
{
	struct bufferevent *other = redis_tls_other(b, ended);
	struct timeval drain = { REDIS_TLS_DRAIN_S, 0 };

	if (b->state != REDIS_TLS_OPEN) {
		redis_tls_bridge_kill(b); /* the second side ended too */
		return;
	}
	b->state = REDIS_TLS_DRAINING;
	(void)evbuffer_add_buffer(bufferevent_get_output(other),
	    bufferevent_get_input(ended));
	bufferevent_disable(ended, EV_READ | EV_WRITE);
	bufferevent_disable(other, EV_READ);
	if ((other == b->remote && !b->handshaken) ||
	    evbuffer_get_length(bufferevent_get_output(other)) == 0) {
		redis_tls_bridge_kill(b);
		return;
	}
	bufferevent_setwatermark(other, EV_WRITE, 0, 0);
	bufferevent_set_timeouts(other, NULL, &drain);
	bufferevent_enable(other, EV_WRITE);
}

/* Why the TLS side failed, in words for the log; true when OpenSSL says
 * why (a verify failure, an alert), false for the network's reasons. */
static bool
redis_tls_describe(struct redis_tls_bridge *b, short what, int sys_errno,
    char *why, size_t len)
{
	SSL *ssl = bufferevent_openssl_get_ssl(b->remote);
	long verify = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
	int dns = bufferevent_socket_get_dns_error(b->remote);
	unsigned long e, first = 0;

	/* libevent also files SSL_get_error()'s SSL_ERROR_SYSCALL here,
	 * which is no OpenSSL error (library 0): errno says why. */
	while ((e = bufferevent_get_openssl_error(b->remote)) != 0)
		if (first == 0 && ERR_GET_LIB(e) != 0)
			first = e;
	if (verify != X509_V_OK) {
		snprintf(why, len, "certificate verify failed: %s",
		    X509_verify_cert_error_string(verify));
		return true;
	}
	if (first != 0) {
		ERR_error_string_n(first, why, len);
		return true;
	}
	if (dns != 0)
		snprintf(why, len, "cannot resolve: %s",
		    evutil_gai_strerror(dns));
	else if (what & BEV_EVENT_TIMEOUT)
		snprintf(why, len, "timed out");
	else if ((what & BEV_EVENT_ERROR) && sys_errno != 0)
		snprintf(why, len, "%s", strerror(sys_errno));
	else
		snprintf(why, len, "closed %s", b->handshaken ?
		    "before Redis answered" : "during the TLS handshake");
	return false;
}

/* A warning for the first failure of a series, for an OpenSSL error
 * other than the last one warned of (a server that sends an alert and
 * closes is seen now by the alert, now by the reset), and for every 60th
 * failure; debug lines otherwise. */
static void
redis_tls_log_failure(struct redis_tls_bridge *b, short what, int sys_errno)
{
	struct redis_tls_shim *s = b->shim;
	char why[sizeof(s->last_tls_error)];
	bool is_tls = redis_tls_describe(b, what, sys_errno, why, sizeof(why));
	bool warn = s->failures++ == 0 || s->failures % 60 == 0;

	if (is_tls && strcmp(why, s->last_tls_error) != 0) {
		memcpy(s->last_tls_error, why, sizeof(why));
		warn = true;
	}
	if (warn)
		STRATA_WARN("redis", "tls failed|addr=%s:%u error=\"%s\" "
		    "attempts=%u", s->host, (unsigned)s->port, why,
		    s->failures);
	else
		STRATA_DEBUG("redis", "tls failed|addr=%s:%u error=\"%s\"",
		    s->host, (unsigned)s->port, why);
}

/* No Nagle, and keepalive as hiredis would have set it on its socket. */
static void
redis_tls_tune_socket(evutil_socket_t fd)
{
	int on = 1, idle = REDIS_TLS_KEEPALIVE_S;
	int interval = REDIS_TLS_KEEPALIVE_S / 3, count = 3;

	if (fd < 0)
		return;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval,
	    sizeof(interval));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count,
	    sizeof(count));
}

static void
redis_tls_handshaken(struct redis_tls_bridge *b)
{
	SSL *ssl = bufferevent_openssl_get_ssl(b->remote);

	b->handshaken = true;
	/* From now on a close without close_notify is an EOF, as Redis
	 * closes connections; during the handshake it stays an error. */
	bufferevent_openssl_set_allow_dirty_shutdown(b->remote, 1);
	redis_tls_tune_socket(bufferevent_getfd(b->remote));
	STRATA_DEBUG("redis", "tls connected|addr=%s:%u version=%s "
	    "cipher=%s", b->shim->host, (unsigned)b->shim->port,
	    SSL_get_version(ssl), SSL_get_cipher_name(ssl));
}

static void
redis_tls_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct redis_tls_bridge *b = arg;
	int sys_errno = EVUTIL_SOCKET_ERROR();

	if (what & BEV_EVENT_CONNECTED) {
		if (bev == b->remote)
			redis_tls_handshaken(b);
		return;
	}
	if (bev == b->remote && b->state == REDIS_TLS_OPEN &&
	    ((what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) || !b->answered))
		redis_tls_log_failure(b, what, sys_errno);
	redis_tls_bridge_end(b, bev);
}

/* A new SSL for the shim's target: SNI (for a name; RFC 6066 has none
 * for an address) and the name or address the certificate must carry.
 * NULL when the host cannot be set (too long for SNI). */
static SSL *
redis_tls_ssl_new(const struct redis_tls_shim *s)
{
	SSL *ssl = SSL_new(s->t->ctx);
	X509_VERIFY_PARAM *vp;
	bool ok;

	if (ssl == NULL)
		abort();
	vp = SSL_get0_param(ssl);
	if (s->host_is_ip) {
		ok = X509_VERIFY_PARAM_set1_ip_asc(vp, s->host) == 1;
	} else {
		X509_VERIFY_PARAM_set_hostflags(vp,
		    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		ok = SSL_set_tlsext_host_name(ssl, s->host) == 1 &&
		    X509_VERIFY_PARAM_set1_host(vp, s->host, 0) == 1;
	}
	if (!ok) {
		ERR_clear_error();
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

/* Bridge the accepted Unix connection fd to a new TLS connection. */
static void
redis_tls_bridge_start(struct redis_tls_shim *s, evutil_socket_t fd)
{
	struct event_base *base = s->t->base;
	struct redis_tls_bridge *b;
	SSL *ssl = redis_tls_ssl_new(s);

	if (ssl == NULL) {
		STRATA_WARN("redis", "tls failed|addr=%s:%u error=\"the host "
		    "cannot be checked or sent as a TLS server name\"",
		    s->host, (unsigned)s->port);
		evutil_closesocket(fd);
		return;
	}
	if ((b = calloc(1, sizeof(*b))) == NULL)
		abort();
	b->shim = s;
	b->local = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	b->remote = bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (b->local == NULL || b->remote == NULL)
		abort();
	bufferevent_setcb(b->local, redis_tls_read_cb, redis_tls_write_cb,
	    redis_tls_event_cb, b);
	bufferevent_setcb(b->remote, redis_tls_read_cb, redis_tls_write_cb,
	    redis_tls_event_cb, b);
	strata_list_push_back(&s->bridges, &b->node);
	bufferevent_enable(b->local, EV_READ | EV_WRITE);
	bufferevent_enable(b->remote, EV_READ | EV_WRITE);
	/* No DNS base: a name is resolved blocking, as hiredis resolves
	 * redis-host.  A failure may end the bridge before this returns. */
	if (bufferevent_socket_connect_hostname(b->remote, NULL, AF_UNSPEC,
	    s->host, s->port) != 0 && b->state == REDIS_TLS_OPEN)
		redis_tls_bridge_end(b, b->remote);
}

/* ---- shims: one listener per target ---- */

/* The peer is this process: hiredis, not another program of our user. */
static bool
redis_tls_peer_is_us(evutil_socket_t fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
	    cred.pid == getpid();
}

static void
redis_tls_accept_cb(struct evconnlistener *listener, evutil_socket_t fd,
    struct sockaddr *sa, int socklen, void *arg)
{
	struct redis_tls_shim *s = arg;

	if (!redis_tls_peer_is_us(fd)) {
		STRATA_WARN("redis", "tls bridge refused another process|"
		    "addr=%s:%u", s->host, (unsigned)s->port);
		evutil_closesocket(fd);
		return;
	}
	redis_tls_bridge_start(s, fd);
}

/* The private directory and the listening socket in it. */
static int
redis_tls_listen(struct redis_tls_shim *s, char *err, size_t errlen)
{
	const char *tmp = getenv("TMPDIR");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	evutil_socket_t fd;

	if (tmp == NULL || tmp[0] != '/' ||
	    strlen(tmp) > REDIS_TLS_MAX_TMPDIR)
		tmp = "/tmp";
	snprintf(s->dir, sizeof(s->dir), "%s/strata-redis-XXXXXX", tmp);
	if (mkdtemp(s->dir) == NULL) {
		snprintf(err, errlen, "tls bridge: mkdtemp %s: %s", s->dir,
		    strerror(errno));
		s->dir[0] = '\0';
		return STRATA_EIO;
	}
	snprintf(s->path, sizeof(s->path), "%s/redis.sock", s->dir);
	memcpy(sa.sun_path, s->path, sizeof(s->path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		snprintf(err, errlen, "tls bridge: socket %s: %s", s->path,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return STRATA_EIO;
	}
	s->listener = evconnlistener_new(s->t->base, redis_tls_accept_cb, s,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (s->listener == NULL) {
		snprintf(err, errlen, "tls bridge: listen %s: %s", s->path,
		    strerror(errno));
		close(fd);
		return STRATA_EIO;
	}
	return 0;
}

/* Kill the shim's bridges (the caller reaps them), close its listener,
 * remove its socket and directory.  s may be half made. */
static void
redis_tls_shim_free(struct redis_tls_shim *s)
{
	struct strata_list *pos, *tmp;

	STRATA_LIST_FOREACH_SAFE(pos, tmp, &s->bridges)
		redis_tls_bridge_kill(STRATA_CONTAINER_OF(pos,
		    struct redis_tls_bridge, node));
	if (s->listener != NULL)
		evconnlistener_free(s->listener);
	if (s->path[0] != '\0')
		(void)unlink(s->path);
	if (s->dir[0] != '\0')
		(void)rmdir(s->dir);
	free(s->host);
	free(s);
}

static bool
redis_tls_is_ip(const char *host)
{
	struct in6_addr a;

	return inet_pton(AF_INET, host, &a) == 1 ||
	    inet_pton(AF_INET6, host, &a) == 1;
}

const char *
strata_redis_tls_path(struct strata_redis_tls *t, const char *host,
    uint16_t port, char *err, size_t errlen)
{
	struct strata_list *pos;
	struct redis_tls_shim *s;

	for (pos = t->shims.next; pos != &t->shims; pos = pos->next) {
		s = STRATA_CONTAINER_OF(pos, struct redis_tls_shim, node);
		if (s->port == port && strcmp(s->host, host) == 0)
			return s->path;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->host = strdup(host)) == NULL)
		abort();
	s->t = t;
	s->port = port;
	s->host_is_ip = redis_tls_is_ip(host);
	strata_list_init(&s->bridges);
	if (redis_tls_listen(s, err, errlen) != 0) {
		redis_tls_shim_free(s);
		return NULL;
	}
	strata_list_push_back(&t->shims, &s->node);
	STRATA_DEBUG("redis", "tls bridge|addr=%s:%u path=%s", host,
	    (unsigned)port, s->path);
	return s->path;
}

struct strata_redis_tls *
strata_redis_tls_new(struct event_base *base, SSL_CTX *ctx)
{
	struct strata_redis_tls *t = calloc(1, sizeof(*t));

	if (t == NULL || SSL_CTX_up_ref(ctx) != 1)
		abort();
	t->base = base;
	t->ctx = ctx;
	strata_list_init(&t->shims);
	strata_list_init(&t->dead);
	if ((t->reap_ev = event_new(base, -1, 0, redis_tls_reap_cb,
	    t)) == NULL)
		abort();
	return t;
}

void
strata_redis_tls_free(struct strata_redis_tls *t)
{
	struct strata_list *pos, *tmp;

	if (t == NULL)
		return;
	STRATA_LIST_FOREACH_SAFE(pos, tmp, &t->shims) {
		strata_list_remove(pos);
		redis_tls_shim_free(STRATA_CONTAINER_OF(pos,
		    struct redis_tls_shim, node));
	}
	redis_tls_reap_cb(-1, 0, t);
	event_free(t->reap_ev);
	SSL_CTX_free(t->ctx);
	free(t);
}
