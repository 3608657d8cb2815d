/*
 * tls.c - the broker's TLS context (one SSL_CTX for tls-port and
 * proxy-tls-port): how it is built from the options, reloaded on SIGHUP,
 * how it checks client certificates, and why a handshake failed.
 *
 * A context holds:
 *   - TLS 1.2 and 1.3 only; tls-ciphers (1.2), tls-ciphersuites (1.3) and
 *     tls-groups when set, OpenSSL's defaults when empty;
 *   - the certificate chain and key (tls-cert, tls-key);
 *   - the client-certificate check (tls_verify_setup: tls-ca, tls-crl,
 *     tls-require-client-cert);
 *   - a session id context and OpenSSL's server session cache, so that
 *     TLS 1.2 clients with certificates can resume (by session id or
 *     ticket); TLS 1.3 tickets are OpenSSL's stateless ones;
 *   - ALPN: "x-amzn-mqtt-ca" and "mqtt" are accepted, as on AWS IoT's
 *     port 443; a client that offers ALPN without either gets the
 *     no_application_protocol alert; no ALPN at all is fine.
 *
 * Reload (SIGHUP): a new context is built from the same files; only if
 * every file loads does it replace b->ssl_ctx for connections accepted
 * from then on.  Each SSL holds a reference to the context it was made
 * with, so open connections keep theirs and are not disturbed; the old
 * context is freed with its last connection (its session cache is
 * emptied at once).  The session cache and the ticket keys belong to a
 * context: sessions from before a reload are not resumed after it (a
 * client does a full handshake, checked against the new CA list and
 * CRL).  A reload that fails keeps the old context.
 *
 * The option checks that need no file (broker_tls_check_config) run with
 * the other configuration checks, so a bad cipher list is an exit-2
 * configuration error; the files are read at start and on each reload.
 *
 * The admin API's HTTPS listener (admin-tls) has a context of its own,
 * b->admin_ssl_ctx: the same protocol versions and ciphers, the
 * certificate and key of admin-tls-cert / admin-tls-key (tls-cert /
 * tls-key when not given), no client-certificate request at all (a
 * browser would otherwise ask its user for one: the admin API
 * authenticates with its own credentials), ALPN "http/1.1" only when
 * offered (a browser offers "h2" first).  It is reloaded with the other
 * on SIGHUP, by the same rule.
 */
#include <string.h>
#include <time.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "broker.h"
#include "reader.h"

/* Labels of strata_broker_tls_handshake_failures_total, by enum
 * broker_tls_failure. */
static const char *const tls_failure_names[BROKER_TLS_FAILURES] = {
	[BROKER_TLS_NO_CERT] = "no_certificate",
	[BROKER_TLS_REVOKED] = "revoked",
	[BROKER_TLS_CRL] = "crl",
	[BROKER_TLS_CERT] = "certificate",
	[BROKER_TLS_ALPN] = "alpn",
	[BROKER_TLS_PROTOCOL] = "protocol",
	[BROKER_TLS_CLOSED] = "closed",
};

/* ALPN protocol ids a client may ask for: AWS IoT's id for MQTT with a
 * client certificate on port 443, and the IANA-registered "mqtt". */
static const char *const tls_alpn_ids[] = {"x-amzn-mqtt-ca", "mqtt"};
/* wss-port: WebSocket runs over HTTP/1.1 (browsers offer "h2" first). */
static const char *const tls_alpn_ws_ids[] = {"http/1.1"};
/* The app data of a wss-port connection's SSL (its address marks it). */
static const char tls_websocket_mark = 'w';

/* Names the sessions of this broker's context: OpenSSL resumes a session
 * only in the context that made it, and refuses to resume at all with
 * SSL_VERIFY_PEER when it is unset. */
#define TLS_SESSION_CONTEXT "strata-broker"
#define TLS_ADMIN_SESSION_CONTEXT "strata-admin"

void
broker_tls_metrics_init(struct strata_broker *b)
{
	char labels[64];
	int i;

	for (i = 0; i < BROKER_TLS_FAILURES; i++) {
		snprintf(labels, sizeof(labels), "reason=\"%s\"",
		    tls_failure_names[i]);
		b->m.tls_failures[i] = strata_metrics_counter(b->metrics,
		    "strata_broker_tls_handshake_failures_total",
		    "TLS handshakes that failed, by reason", labels);
	}
	b->m.tls_reloads_ok = strata_metrics_counter(b->metrics,
	    "strata_broker_tls_reloads_total", "Reloads of the TLS "
	    "certificate, key, CA list and CRL (SIGHUP), by result",
	    "result=\"ok\"");
	b->m.tls_reloads_error = strata_metrics_counter(b->metrics,
	    "strata_broker_tls_reloads_total", "Reloads of the TLS "
	    "certificate, key, CA list and CRL (SIGHUP), by result",
	    "result=\"error\"");
}

/* ---- options: ciphers, suites, groups ---- */

/* Every name of a colon-separated TLS 1.3 suite list must be one OpenSSL
 * knows: it skips unknown ones silently as long as one is left. */
static int
tls_set_ciphersuites(SSL_CTX *ctx, const char *list, char *err,
    size_t errlen)
{
	char *copy = strdup(list), *save = NULL, *name;
	int rc = 0;

	if (copy == NULL)
		abort();
	for (name = strtok_r(copy, ":", &save); name != NULL;
	    name = strtok_r(NULL, ":", &save)) {
		if (SSL_CTX_set_ciphersuites(ctx, name) != 1) {
			snprintf(err, errlen, "tls-ciphersuites: '%s' is not "
			    "a TLS 1.3 cipher suite", name);
			rc = STRATA_EINVAL;
			goto out;
		}
	}
	if (SSL_CTX_set_ciphersuites(ctx, list) != 1) {
		snprintf(err, errlen, "tls-ciphersuites: '%s' is not a list "
		    "of TLS 1.3 cipher suites", list);
		rc = STRATA_EINVAL;
	}
out:
	free(copy);
	return rc;
}

/* tls-ciphers, tls-ciphersuites, tls-groups on ctx (empty: OpenSSL's
 * defaults stay).  0, or STRATA_EINVAL with a message in err. */
static int
tls_apply_ciphers(SSL_CTX *ctx, const struct broker_config *cfg, char *err,
    size_t errlen)
{
	int rc = 0;

	if (cfg->tls_ciphers[0] != '\0' &&
	    SSL_CTX_set_cipher_list(ctx, cfg->tls_ciphers) != 1) {
		snprintf(err, errlen, "tls-ciphers: '%s' selects no TLS 1.2 "
		    "cipher", cfg->tls_ciphers);
		rc = STRATA_EINVAL;
	} else if (cfg->tls_ciphersuites[0] != '\0') {
		rc = tls_set_ciphersuites(ctx, cfg->tls_ciphersuites, err,
		    errlen);
	}
	if (rc == 0 && cfg->tls_groups[0] != '\0' &&
	    SSL_CTX_set1_groups_list(ctx, cfg->tls_groups) != 1) {
		snprintf(err, errlen, "tls-groups: '%s' is not a list of key "
		    "exchange groups (e.g. X25519:P-256)", cfg->tls_groups);
		rc = STRATA_EINVAL;
	}
	ERR_clear_error();
	return rc;
}

int
broker_tls_check_config(const struct broker_config *cfg, char *err,
    size_t errlen)
{
	const char *port = cfg->tls_port != 0 ? "tls-port" :
	    cfg->proxy_tls_port != 0 ? "proxy-tls-port" : "wss-port";
	SSL_CTX *scratch;
	int rc;

	if ((cfg->admin_tls_cert[0] == '\0') !=
	    (cfg->admin_tls_key[0] == '\0')) {
		snprintf(err, errlen, "admin-tls-cert and admin-tls-key are "
		    "given together (or neither: tls-cert and tls-key)");
		return STRATA_EINVAL;
	}
	if (cfg->admin_tls && cfg->admin_tls_cert[0] == '\0' &&
	    (cfg->tls_cert == NULL || cfg->tls_key == NULL)) {
		snprintf(err, errlen, "admin-tls needs admin-tls-cert and "
		    "admin-tls-key, or tls-cert and tls-key");
		return STRATA_EINVAL;
	}
	if (cfg->tls_port == 0 && cfg->proxy_tls_port == 0 &&
	    cfg->wss_port == 0)
		return 0;
	if (cfg->tls_cert == NULL || cfg->tls_key == NULL) {
		snprintf(err, errlen, "%s is set but %s is missing (set it to "
		    "0 to disable TLS)", port,
		    cfg->tls_cert == NULL ? "tls-cert" : "tls-key");
		return STRATA_EINVAL;
	}
	if (cfg->tls_require_client_cert && cfg->tls_ca == NULL) {
		snprintf(err, errlen, "%s is on and client certificates are "
		    "required (tls-require-client-cert, yes by default), but "
		    "tls-ca is not set: set tls-ca to the CA bundle of the "
		    "client certificates, or set tls-require-client-cert no",
		    port);
		return STRATA_EINVAL;
	}
	if (cfg->tls_crl != NULL && cfg->tls_ca == NULL) {
		snprintf(err, errlen, "tls-crl is set without tls-ca: the CRL "
		    "is checked against client certificates verified by "
		    "tls-ca");
		return STRATA_EINVAL;
	}
	scratch = SSL_CTX_new(TLS_server_method());
	if (scratch == NULL)
		abort();
	rc = tls_apply_ciphers(scratch, cfg, err, errlen);
	SSL_CTX_free(scratch);
	return rc;
}

/* ---- building a context ---- */

/* A file of option `option` could not be used: log it with OpenSSL's
 * first error, and clear the rest. */
static void
tls_file_error(const char *option, const char *path)
{
	char buf[256] = "unreadable";
	unsigned long e = ERR_get_error();

	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	STRATA_ERROR(BROKER_COMP, "TLS setup failed|option=%s file=%s "
	    "error=\"%s\"", option, path, buf);
}

/* One-line form of a certificate name for the logs (a client chose it:
 * no double quote reaches the quoted log value). */
static const char *
tls_name(X509_NAME *name, char *buf, size_t len)
{
	char *p;

	if (name == NULL || X509_NAME_oneline(name, buf, (int)len) == NULL)
		snprintf(buf, len, "?");
	for (p = buf; *p != '\0'; p++)
		if (*p == '"' || *p == '\\')
			*p = '\'';
	return buf;
}

/*
 * Called by OpenSSL for each certificate of a client's chain, ok telling
 * whether OpenSSL's own checks (tls-ca, tls-crl, dates) passed.  A refusal
 * is logged here, where the certificate is known: the handshake failure
 * line that follows (broker_tls_handshake_failed) has the peer address.
 */
static int
tls_verify_peer(int ok, X509_STORE_CTX *store)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(store,
	    SSL_get_ex_data_X509_STORE_CTX_idx());
	struct strata_broker *b = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	X509 *cert = X509_STORE_CTX_get_current_cert(store);
	int error = X509_STORE_CTX_get_error(store);
	char subject[256], issuer[256];

	if (ok)
		return 1;
	/* tls-auth registry: an issuer outside tls-ca, or an expired leaf,
	 * is the registry's to judge at CONNECT (device.c) */
	if (strcmp(b->cfg.tls_auth, "registry") == 0 &&
	    broker_device_verify_cb(ok, store))
		return 1;
	strata_log_limited(&b->tls_verify_log, STRATA_LOG_WARN, BROKER_COMP,
	    "client certificate refused|subject=\"%s\" issuer=\"%s\" "
	    "depth=%d error=\"%s\"",
	    tls_name(cert != NULL ? X509_get_subject_name(cert) : NULL,
	    subject, sizeof(subject)),
	    tls_name(cert != NULL ? X509_get_issuer_name(cert) : NULL,
	    issuer, sizeof(issuer)),
	    X509_STORE_CTX_get_error_depth(store),
	    X509_verify_cert_error_string(error));
	return 0;
}

/* The CRLs of tls-crl (PEM, one or more) into the store, checked for
 * the client's own certificate (the leaf; its issuer must have a CRL in
 * the file). */
static int
tls_load_crl(X509_STORE *store, const char *path)
{
	X509_LOOKUP *lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file());

	if (lookup == NULL ||
	    X509_load_crl_file(lookup, path, X509_FILETYPE_PEM) <= 0) {
		tls_file_error("tls-crl", path);
		return STRATA_EINVAL;
	}
	X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	return 0;
}

/*
 * Client certificates: every check of the client's identity in the
 * handshake is set up here, and only here.
 *   - tls-ca: the trusted CAs; with it the server asks for a certificate
 *     and verifies the one it gets (SSL_VERIFY_PEER);
 *   - tls-require-client-cert (default yes): a client without one fails
 *     the handshake (SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
 *   - tls-crl: revoked certificates fail (X509_V_FLAG_CRL_CHECK);
 *   - tls_verify_peer: sees OpenSSL's verdict on each certificate.
 *
 * The device registry (tls-auth registry, device.c) is not asked here:
 * tls_verify_peer lets through what only it can judge (an issuer outside
 * tls-ca, as for CAs registered at run time; an expired leaf), and the
 * registry decides after the handshake, before CONNECT, from the peer's
 * certificate, which a resumed session has too.  With a custom
 * authorizer (authorizer-url) a client without a certificate finishes
 * the handshake: the authorizer decides at CONNECT.
 */
static int
tls_verify_setup(const struct broker_config *cfg, SSL_CTX *ctx)
{
	int mode = SSL_VERIFY_NONE;

	if (cfg->tls_ca != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, cfg->tls_ca,
		    NULL) != 1) {
			tls_file_error("tls-ca", cfg->tls_ca);
			return STRATA_EINVAL;
		}
		mode = SSL_VERIFY_PEER;
		if (cfg->tls_require_client_cert &&
		    cfg->authorizer_url[0] == '\0')
			mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
		else if (cfg->tls_require_client_cert)
			STRATA_INFO(BROKER_COMP, "TLS clients without a "
			    "certificate go to the authorizer|"
			    "option=tls-require-client-cert");
	}
	if (cfg->tls_crl != NULL &&
	    tls_load_crl(SSL_CTX_get_cert_store(ctx), cfg->tls_crl) != 0)
		return STRATA_EINVAL;
	SSL_CTX_set_verify(ctx, mode, mode != SSL_VERIFY_NONE ?
	    tls_verify_peer : NULL);
	return 0;
}

/* The server picks the first protocol of the client's list it knows
 * (the list is length-prefixed names, as on the wire). */
static int
tls_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	struct strata_reader r = strata_reader_init(in, inlen), name;
	bool ws = SSL_get_app_data(ssl) == &tls_websocket_mark;
	const char *const *ids = ws ? tls_alpn_ws_ids : tls_alpn_ids;
	size_t n_ids = ws ? 1 : sizeof(tls_alpn_ids) / sizeof(tls_alpn_ids[0]);
	uint8_t len;
	size_t i;

	while (strata_reader_u8(&r, &len) == 0 &&
	    strata_reader_sub(&r, len, &name) == 0) {
		for (i = 0; i < n_ids; i++) {
			if (strlen(ids[i]) == len &&
			    memcmp(ids[i], name.p, len) == 0) {
				*out = name.p;
				*outlen = len;
				return SSL_TLSEXT_ERR_OK;
			}
		}
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL; /* no_application_protocol */
}

/* The certificate chain and its key; admin: admin-tls-cert and
 * admin-tls-key when given. */
static int
tls_load_identity(const struct broker_config *cfg, SSL_CTX *ctx, bool admin)
{
	bool own = admin && cfg->admin_tls_cert[0] != '\0';
	const char *cert = own ? cfg->admin_tls_cert : cfg->tls_cert;
	const char *key = own ? cfg->admin_tls_key : cfg->tls_key;

	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		tls_file_error(own ? "admin-tls-cert" : "tls-cert", cert);
		return STRATA_EINVAL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		tls_file_error(own ? "admin-tls-key" : "tls-key", key);
		return STRATA_EINVAL;
	}
	return 0;
}

/* The admin listener speaks HTTP/1.1: picked when offered; otherwise no
 * ALPN answer at all (the client falls back to HTTP/1.1). */
static int
tls_alpn_admin_select(SSL *ssl, const unsigned char **out,
    unsigned char *outlen, const unsigned char *in, unsigned int inlen,
    void *arg)
{
	struct strata_reader r = strata_reader_init(in, inlen), name;
	uint8_t len;

	(void)ssl;
	(void)arg;
	while (strata_reader_u8(&r, &len) == 0 &&
	    strata_reader_sub(&r, len, &name) == 0) {
		if (len == 8 && memcmp(name.p, "http/1.1", 8) == 0) {
			*out = name.p;
			*outlen = len;
			return SSL_TLSEXT_ERR_OK;
		}
	}
	return SSL_TLSEXT_ERR_NOACK;
}

/* A server context with what the MQTT and admin listeners share: TLS 1.2
 * and 1.3, the session cache under `sid` (a string literal), the ALPN
 * choice `alpn` and the cipher options; NULL (logged, prefixed by
 * `what`) when the ciphers are refused. */
static SSL_CTX *
tls_ctx_base(struct strata_broker *b, const char *sid,
    SSL_CTX_alpn_select_cb_func alpn, const char *what)
{
	SSL_CTX *ctx;
	char err[256];

	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL)
		abort();
	SSL_CTX_set_app_data(ctx, b);
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/* a client that closes without close_notify has closed, not failed
	 * (MQTT frames its own packets): OpenSSL 3 would make it a fatal
	 * error, which also drops the session from the cache */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)sid,
	    (unsigned)strlen(sid));
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_set_alpn_select_cb(ctx, alpn, NULL);
	if (tls_apply_ciphers(ctx, &b->cfg, err, sizeof(err)) != 0) {
		STRATA_ERROR(BROKER_COMP, "%s failed|error=\"%s\"", what, err);
		SSL_CTX_free(ctx);
		ERR_clear_error();
		return NULL;
	}
	return ctx;
}

/* The admin listener's context: no client certificate asked for. */
static SSL_CTX *
tls_admin_ctx_new(struct strata_broker *b)
{
	SSL_CTX *ctx = tls_ctx_base(b, TLS_ADMIN_SESSION_CONTEXT,
	    tls_alpn_admin_select, "admin TLS setup");

	if (ctx == NULL)
		return NULL;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (tls_load_identity(&b->cfg, ctx, true) != 0) {
		SSL_CTX_free(ctx);
		ERR_clear_error();
		return NULL;
	}
	ERR_clear_error();
	return ctx;
}

/* A context from the options and the files they name, or NULL (logged,
 * naming the option and file at fault). */
static SSL_CTX *
tls_ctx_new(struct strata_broker *b)
{
	SSL_CTX *ctx = tls_ctx_base(b, TLS_SESSION_CONTEXT, tls_alpn_select,
	    "TLS setup");

	if (ctx == NULL)
		return NULL;
	if (tls_load_identity(&b->cfg, ctx, false) != 0 ||
	    tls_verify_setup(&b->cfg, ctx) != 0) {
		SSL_CTX_free(ctx);
		ERR_clear_error();
		return NULL;
	}
	ERR_clear_error();
	return ctx;
}

/* "subject, valid until" of the context's certificate, for the log. */
static void
tls_log_loaded(SSL_CTX *ctx, const char *what)
{
	X509 *cert = SSL_CTX_get0_certificate(ctx);
	char subject[256], until[32] = "?";
	struct tm tm;

	if (cert != NULL && ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm))
		strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ", &tm);
	STRATA_INFO(BROKER_COMP, "%s|subject=\"%s\" not_after=%s", what,
	    tls_name(cert != NULL ? X509_get_subject_name(cert) : NULL,
	    subject, sizeof(subject)), until);
}

int
broker_tls_start(struct strata_broker *b)
{
	b->ssl_ctx = tls_ctx_new(b);
	if (b->ssl_ctx == NULL)
		return STRATA_EINVAL;
	tls_log_loaded(b->ssl_ctx, "TLS certificate loaded");
	return 0;
}

int
broker_tls_admin_start(struct strata_broker *b)
{
	b->admin_ssl_ctx = tls_admin_ctx_new(b);
	if (b->admin_ssl_ctx == NULL)
		return STRATA_EINVAL;
	tls_log_loaded(b->admin_ssl_ctx, "admin TLS certificate loaded");
	return 0;
}

/* The admin listener's context, as broker_tls_reload's. */
static int
tls_admin_reload(struct strata_broker *b)
{
	SSL_CTX *ctx = tls_admin_ctx_new(b);

	if (ctx == NULL) {
		(*b->m.tls_reloads_error)++;
		STRATA_ERROR(BROKER_COMP, "admin TLS reload failed, the "
		    "previous certificate stays in use");
		return STRATA_EINVAL;
	}
	SSL_CTX_flush_sessions(b->admin_ssl_ctx, 0);
	SSL_CTX_free(b->admin_ssl_ctx);
	b->admin_ssl_ctx = ctx;
	(*b->m.tls_reloads_ok)++;
	tls_log_loaded(ctx, "admin TLS reloaded");
	return 0;
}

int
broker_tls_reload(struct strata_broker *b)
{
	SSL_CTX *ctx;
	int admin = b->admin_ssl_ctx != NULL ? tls_admin_reload(b) : 0;

	if (b->ssl_ctx == NULL) {
		STRATA_INFO(BROKER_COMP, "SIGHUP: no TLS listener, nothing "
		    "to reload");
		return admin;
	}
	ctx = tls_ctx_new(b);
	if (ctx == NULL) {
		(*b->m.tls_reloads_error)++;
		STRATA_ERROR(BROKER_COMP, "TLS reload failed, the previous "
		    "certificate, CA list and CRL stay in use");
		return STRATA_EINVAL;
	}
	/* No new connection will resume from the old cache: its sessions
	 * of closed connections would stay until the last connection that
	 * holds the old context closes.  Open ones keep their own. */
	SSL_CTX_flush_sessions(b->ssl_ctx, 0);
	SSL_CTX_free(b->ssl_ctx); /* open connections hold references */
	b->ssl_ctx = ctx;
	(*b->m.tls_reloads_ok)++;
	tls_log_loaded(ctx, "TLS reloaded: new connections use the new "
	    "context, open ones keep theirs");
	return 0;
}

/* ---- handshakes ---- */

bool
broker_tls_established(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	return ssl != NULL && SSL_is_init_finished(ssl);
}

bool
broker_conn_is_tls(const struct broker_conn *c)
{
	return c->listener == BROKER_TLS || c->listener == BROKER_PROXY_TLS ||
	    c->listener == BROKER_WSS;
}

SSL *
broker_conn_ssl(const struct broker_conn *c)
{
	return c->bev != NULL ? bufferevent_openssl_get_ssl(c->bev) : NULL;
}

void
broker_tls_mark_websocket(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	if (ssl != NULL)
		SSL_set_app_data(ssl, (void *)&tls_websocket_mark);
}

/* libevent frees the SSL without a close_notify, and OpenSSL drops from
 * its cache the session of a connection that ended so, taking it for a
 * failed one: a session whose handshake completed stays resumable
 * however its connection ends (nothing more is sent). */
void
broker_tls_closing(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	if (ssl != NULL && SSL_is_init_finished(ssl))
		SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN |
		    SSL_RECEIVED_SHUTDOWN);
}

/* What went wrong, from the certificate check's verdict and the first
 * TLS error OpenSSL reported (0: none, the peer closed or reset). */
static enum broker_tls_failure
tls_failure_reason(long verify, unsigned long err)
{
	switch (verify) {
	case X509_V_OK:
		break;
	case X509_V_ERR_CERT_REVOKED:
		return BROKER_TLS_REVOKED;
	case X509_V_ERR_UNABLE_TO_GET_CRL:
	case X509_V_ERR_CRL_HAS_EXPIRED:
	case X509_V_ERR_CRL_NOT_YET_VALID:
	case X509_V_ERR_CRL_SIGNATURE_FAILURE:
	case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
	case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
	case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
	case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
		return BROKER_TLS_CRL;
	default:
		return BROKER_TLS_CERT;
	}
	if (err == 0 || (ERR_GET_LIB(err) == ERR_LIB_SSL &&
	    ERR_GET_REASON(err) == SSL_R_UNEXPECTED_EOF_WHILE_READING))
		return BROKER_TLS_CLOSED;
	if (ERR_GET_LIB(err) == ERR_LIB_SSL &&
	    ERR_GET_REASON(err) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
		return BROKER_TLS_NO_CERT;
	if (ERR_GET_LIB(err) == ERR_LIB_SSL &&
	    ERR_GET_REASON(err) == SSL_R_NO_APPLICATION_PROTOCOL)
		return BROKER_TLS_ALPN;
	return BROKER_TLS_PROTOCOL;
}

void
broker_tls_handshake_failed(struct strata_broker *b,
    struct bufferevent *bev, const char *peer)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	unsigned long err = bufferevent_get_openssl_error(bev);
	long verify = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
	enum broker_tls_failure why = tls_failure_reason(verify, err);
	char buf[256] = "connection closed";

	(*b->m.tls_failures[why])++;
	if (verify != X509_V_OK)
		snprintf(buf, sizeof(buf), "%s",
		    X509_verify_cert_error_string(verify));
	else if (err != 0)
		ERR_error_string_n(err, buf, sizeof(buf));
	strata_log_limited(&b->tls_failure_log[why], STRATA_LOG_WARN,
	    BROKER_COMP, "TLS handshake failed|peer=%s reason=%s "
	    "error=\"%s\"", peer, tls_failure_names[why], buf);
}
