/*
 * http.c - one request over libevent's evhttp client (see http.h).
 *
 * Each attempt is one evhttp_connection to one numeric address (over a
 * bufferevent_openssl for https) on a private event base, run until the
 * request's callback or the deadline breaks the loop.  The callbacks
 * leave what happened in struct http_exchange:
 *   finished      the request callback ran (maybe inside
 *                 evhttp_make_request, when connect() failed at once)
 *   answered      ... with a status line: the answer is kept
 *   connected     the close callback ran: evhttp calls it only for a
 *                 connection that got up (for TLS: after the handshake)
 *   failure       evhttp's error (timeout, EOF, bad header, too long)
 *   verify_error  the certificate check's first failure
 *   expired       the deadline fired
 * libevent's own warnings are silenced: the error line says it all.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "http.h"

struct http_exchange {
	const struct ctl_http_options *options;
	const struct ctl_request *request;
	struct ctl_http_answer *answer;
	char *url;                /* origin + target, for messages */
	struct event_base *base;
	SSL_CTX *tls;             /* NULL for http */
	bool finished;
	bool answered;
	bool connected;
	bool expired;
	int failure;              /* enum evhttp_request_error + 1; 0 none */
	long verify_error;        /* X509_V_OK: none */
	unsigned long tls_error;  /* first OpenSSL error; 0 none */
	struct evbuffer *kept;    /* streaming: a body that is not a 200's */
};

static void
http_quiet(int severity, const char *msg)
{
	(void)severity;
	(void)msg;
}

static int
http_verify(int ok, X509_STORE_CTX *store)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(store,
	    SSL_get_ex_data_X509_STORE_CTX_idx());
	struct http_exchange *x = SSL_get_app_data(ssl);

	if (!ok && x->verify_error == X509_V_OK)
		x->verify_error = X509_STORE_CTX_get_error(store);
	return ok;
}

static int
http_tls_context(struct http_exchange *x, struct ctl_error *err)
{
	const char *ca = x->options->ca_file;
	const char *reason;
	int loaded;

	if ((x->tls = SSL_CTX_new(TLS_client_method())) == NULL)
		abort();
	SSL_CTX_set_min_proto_version(x->tls, TLS1_2_VERSION);
	SSL_CTX_set_verify(x->tls, SSL_VERIFY_PEER, http_verify);
	if (ca != NULL)
		loaded = SSL_CTX_load_verify_locations(x->tls, ca, NULL);
	else
		loaded = SSL_CTX_set_default_verify_paths(x->tls);
	if (loaded == 1)
		return 0;
	reason = ERR_reason_error_string(ERR_get_error());
	return ctl_error_set(err, CTL_EXIT_CONFIG,
	    "Unable to load the CA file %s: %s",
	    ca != NULL ? ca : "of the system", reason ? reason : "error");
}

/* A TLS bufferevent checking the server's name (or IP address). */
static struct bufferevent *
http_tls_bufferevent(struct http_exchange *x)
{
	const char *host = x->options->endpoint->host;
	unsigned char ip[sizeof(struct in6_addr)];
	struct bufferevent *bev;
	SSL *ssl;

	if ((ssl = SSL_new(x->tls)) == NULL)
		abort();
	SSL_set_app_data(ssl, x);
	if (inet_pton(AF_INET, host, ip) == 1 ||
	    inet_pton(AF_INET6, host, ip) == 1) {
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
	} else {
		SSL_set_tlsext_host_name(ssl, host);
		SSL_set1_host(ssl, host);
	}
	bev = bufferevent_openssl_socket_new(x->base, -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	/* an answer may end with the TCP close, without close_notify */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

static void
http_closed(struct evhttp_connection *conn, void *arg)
{
	struct http_exchange *x = arg;

	(void)conn;
	x->connected = true;
}

static struct evhttp_connection *
http_connection(struct http_exchange *x, const char *address)
{
	struct evhttp_connection *conn;
	struct bufferevent *bev = NULL;

	if (x->tls != NULL && (bev = http_tls_bufferevent(x)) == NULL)
		return NULL;
	conn = evhttp_connection_base_bufferevent_new(x->base, NULL, bev,
	    address, (unsigned short)x->options->endpoint->port);
	if (conn == NULL) {
		if (bev != NULL)
			bufferevent_free(bev);
		return NULL;
	}
	evhttp_connection_set_timeout(conn, x->options->timeout_seconds +
	    (x->options->stream != NULL ? CTL_HTTP_STREAM_SECONDS : 0));
	evhttp_connection_set_max_body_size(conn, CTL_HTTP_MAX_BODY);
	evhttp_connection_set_max_headers_size(conn, CTL_HTTP_MAX_HEADERS);
	evhttp_connection_set_closecb(conn, http_closed, x);
	return conn;
}

static void
http_keep_answer(struct http_exchange *x, struct evhttp_request *req)
{
	struct ctl_http_answer *a = x->answer;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	const char *reason = evhttp_request_get_response_code_line(req);
	const char *type = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "x-amzn-ErrorType");

	a->status = evhttp_request_get_response_code(req);
	a->reason = strdup(reason != NULL ? reason : "");
	a->error_type = type != NULL ? strdup(type) : NULL;
	if (x->kept != NULL) {    /* streaming drained the input */
		evbuffer_add_buffer(x->kept, in);
		in = x->kept;
	}
	a->body_len = evbuffer_get_length(in);
	a->body = malloc(a->body_len + 1);
	if (a->reason == NULL || (type != NULL && a->error_type == NULL) ||
	    a->body == NULL)
		abort();
	evbuffer_copyout(in, a->body, a->body_len);
	a->body[a->body_len] = '\0';
}

static void
http_done(struct evhttp_request *req, void *arg)
{
	struct http_exchange *x = arg;

	x->finished = true;
	if (req != NULL && evhttp_request_get_response_code(req) != 0) {
		http_keep_answer(x, req);
		x->answered = true;
	}
	event_base_loopbreak(x->base);
}

/* A part of the body (streaming): a 200's goes out as it is, any other
 * is kept for the error line.  libevent drains the input after. */
static void
http_chunk(struct evhttp_request *req, void *arg)
{
	struct http_exchange *x = arg;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);

	if (evhttp_request_get_response_code(req) != 200) {
		evbuffer_add_buffer(x->kept, in);
		return;
	}
	while (evbuffer_get_length(in) > 0) {
		size_t n = evbuffer_get_contiguous_space(in);

		fwrite(evbuffer_pullup(in, (ev_ssize_t)n), 1, n,
		    x->options->stream);
		evbuffer_drain(in, n);
	}
	fflush(x->options->stream);
}

static void
http_error(enum evhttp_request_error error, void *arg)
{
	struct http_exchange *x = arg;

	x->failure = (int)error + 1;
}

static void
http_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct http_exchange *x = arg;

	(void)fd;
	(void)what;
	x->expired = true;
	event_base_loopbreak(x->base);
}

static int
http_add_headers(struct http_exchange *x, struct evkeyvalq *headers)
{
	const struct ctl_request *r = x->request;
	const struct ctl_auth *auth = x->options->auth;
	char length[32];
	size_t i;
	int rc = 0;

	rc |= evhttp_add_header(headers, "Host",
	    x->options->endpoint->authority);
	rc |= evhttp_add_header(headers, "Authorization", auth->authorization);
	if (auth->date[0] != '\0')
		rc |= evhttp_add_header(headers, "X-Strata-Date", auth->date);
	rc |= evhttp_add_header(headers, "Accept", "application/json");
	rc |= evhttp_add_header(headers, "User-Agent", "stratactl");
	if (r->content_type != NULL)
		rc |= evhttp_add_header(headers, "Content-Type",
		    r->content_type);
	if (r->body != NULL || r->method == EVHTTP_REQ_POST ||
	    r->method == EVHTTP_REQ_PUT || r->method == EVHTTP_REQ_PATCH) {
		snprintf(length, sizeof(length), "%zu", r->body_len);
		rc |= evhttp_add_header(headers, "Content-Length", length);
	}
	for (i = 0; i < r->header_count; i++)
		rc |= evhttp_add_header(headers, r->headers[i].name,
		    r->headers[i].value);
	return rc != 0 ? -1 : 0;
}

/* Queue the request on conn.  -1 with err when a header value has a line
 * break (evhttp refuses it). */
static int
http_request(struct http_exchange *x, struct evhttp_connection *conn,
    struct ctl_error *err)
{
	const struct ctl_request *r = x->request;
	struct evhttp_request *req = evhttp_request_new(http_done, x);

	if (req == NULL)
		abort();
	evhttp_request_set_error_cb(req, http_error);
	if (x->options->stream != NULL) {
		if (x->kept == NULL && (x->kept = evbuffer_new()) == NULL)
			abort();
		evhttp_request_set_chunked_cb(req, http_chunk);
	}
	if (http_add_headers(x, evhttp_request_get_output_headers(req)) != 0) {
		evhttp_request_free(req);
		return ctl_error_set(err, CTL_EXIT_USAGE, "A header value "
		    "(the token or --principal) has a line break");
	}
	if (r->body != NULL)
		evbuffer_add(evhttp_request_get_output_buffer(req), r->body,
		    r->body_len);
	if (evhttp_make_request(conn, req, r->method, r->target) != 0)
		return ctl_error_set(err, CTL_EXIT_FAILED,
		    "Could not send the request to \"%s\"", x->url);
	return 0;
}

static void
http_keep_tls_error(struct http_exchange *x, struct evhttp_connection *conn)
{
	unsigned long e;

	if (x->tls == NULL || x->tls_error != 0)
		return;
	e = bufferevent_get_openssl_error(
	    evhttp_connection_get_bufferevent(conn));
	x->tls_error = e != 0 ? e : ERR_peek_error();
}

/* Try one address.  Returns -1 with err only for a local failure. */
static int
http_attempt(struct http_exchange *x, const struct addrinfo *ai,
    struct ctl_error *err)
{
	char address[NI_MAXHOST];
	struct evhttp_connection *conn;
	int rc;

	if (getnameinfo(ai->ai_addr, ai->ai_addrlen, address,
	    sizeof(address), NULL, 0, NI_NUMERICHOST) != 0)
		return 0;
	if (x->options->debug)
		fprintf(stderr, "* trying %s port %d\n", address,
		    x->options->endpoint->port);
	if ((conn = http_connection(x, address)) == NULL)
		return ctl_error_set(err, CTL_EXIT_FAILED,
		    "Could not set up a connection to \"%s\"", x->url);
	x->connected = false;
	x->finished = false;
	x->failure = 0;
	rc = http_request(x, conn, err);
	if (rc == 0 && !x->finished)
		event_base_dispatch(x->base);
	http_keep_tls_error(x, conn);
	/* runs the close callback if the connection is still up: after the
	 * deadline, that tells a read timeout from a connect timeout */
	evhttp_connection_free(conn);
	return rc;
}

static int
http_failure(const struct http_exchange *x, struct ctl_error *err)
{
	const char *reason;

	if (x->expired || x->failure == EVREQ_HTTP_TIMEOUT + 1)
		return ctl_error_set(err, CTL_EXIT_FAILED, "%s timeout on "
		    "endpoint URL: \"%s\"", x->connected ? "Read" : "Connect",
		    x->url);
	if (x->verify_error != X509_V_OK)
		return ctl_error_set(err, CTL_EXIT_FAILED, "SSL validation "
		    "failed for %s certificate verify failed: %s", x->url,
		    X509_verify_cert_error_string(x->verify_error));
	if (x->failure == EVREQ_HTTP_DATA_TOO_LONG + 1)
		return ctl_error_set(err, CTL_EXIT_FAILED, "The answer of "
		    "endpoint URL \"%s\" is too large", x->url);
	if (x->connected)
		return ctl_error_set(err, CTL_EXIT_FAILED, "Connection was "
		    "closed before we received a valid response from "
		    "endpoint URL: \"%s\".", x->url);
	if (x->tls_error != 0 &&
	    (reason = ERR_reason_error_string(x->tls_error)) != NULL)
		return ctl_error_set(err, CTL_EXIT_FAILED,
		    "SSL validation failed for %s %s", x->url, reason);
	return ctl_error_set(err, CTL_EXIT_FAILED,
	    "Could not connect to the endpoint URL: \"%s\"", x->url);
}

static int
http_resolve(const struct http_exchange *x, struct addrinfo **out,
    struct ctl_error *err)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM };
	int rc = getaddrinfo(x->options->endpoint->host, NULL, &hints, out);

	if (rc == 0)
		return 0;
	*out = NULL;
	return ctl_error_set(err, CTL_EXIT_FAILED, "Could not connect to "
	    "the endpoint URL: \"%s\" (%s)", x->url, gai_strerror(rc));
}

/* The request line and the credentials' headers, as --debug shows them:
 * the Authorization header's scheme and key id, not its secret. */
static void
http_debug_request(const struct http_exchange *x)
{
	const struct ctl_auth *auth = x->options->auth;

	fprintf(stderr, "> %s %s HTTP/1.1\n",
	    ctl_table_method_name(x->request->method), x->request->target);
	fprintf(stderr, "> Authorization: %s\n", auth->shown);
	if (auth->date[0] != '\0')
		fprintf(stderr, "> X-Strata-Date: %s\n", auth->date);
}

/* Try each address until one connects, all within the deadline. */
static int
http_run(struct http_exchange *x, const struct addrinfo *addresses,
    struct ctl_error *err)
{
	const struct ctl_http_options *o = x->options;
	struct timeval timeout = { o->timeout_seconds +
		(o->stream != NULL ? CTL_HTTP_STREAM_SECONDS : 0), 0 };
	struct event *deadline = evtimer_new(x->base, http_deadline, x);
	const struct addrinfo *ai;
	int rc = 0;

	if (deadline == NULL)
		abort();
	evtimer_add(deadline, &timeout);
	if (o->debug)
		http_debug_request(x);
	for (ai = addresses; ai != NULL && rc == 0; ai = ai->ai_next) {
		rc = http_attempt(x, ai, err);
		if (x->answered || x->expired || x->connected ||
		    x->verify_error != X509_V_OK)
			break;
	}
	event_free(deadline);
	if (rc == 0 && !x->answered)
		rc = http_failure(x, err);
	if (rc == 0 && o->debug)
		fprintf(stderr, "< %d %s\n", x->answer->status,
		    x->answer->reason);
	return rc;
}

int
ctl_http_send(const struct ctl_http_options *options,
    const struct ctl_request *req, struct ctl_http_answer *answer,
    struct ctl_error *err)
{
	struct http_exchange x = { .options = options, .request = req,
		.answer = answer, .verify_error = X509_V_OK };
	struct addrinfo *addresses = NULL;
	int rc = -1;

	memset(answer, 0, sizeof(*answer));
	/* process-wide, but stratactl sends one request and exits */
	event_set_log_callback(http_quiet);
	if (asprintf(&x.url, "%s%s", options->endpoint->origin,
	    req->target) < 0 || (x.base = event_base_new()) == NULL)
		abort();
	if (options->endpoint->tls && http_tls_context(&x, err) != 0)
		goto out;
	if (http_resolve(&x, &addresses, err) != 0)
		goto out;
	rc = http_run(&x, addresses, err);
out:
	if (addresses != NULL)
		freeaddrinfo(addresses);
	SSL_CTX_free(x.tls);
	if (x.kept != NULL)
		evbuffer_free(x.kept);
	event_base_free(x.base);
	free(x.url);
	if (rc != 0)
		ctl_http_answer_clear(answer);
	return rc;
}

void
ctl_http_answer_clear(struct ctl_http_answer *answer)
{
	free(answer->reason);
	free(answer->error_type);
	free(answer->body);
	memset(answer, 0, sizeof(*answer));
}
