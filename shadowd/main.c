/*
 * main.c - strata-shadowd: options, start-up, signals, shutdown.
 *
 * Options: the node options every daemon has (node id, metrics port,
 * Redis, cluster secret, log level) and shadowd's own (max-inflight,
 * cas-attempts; http-port, http-bind and http-auth: the REST API of
 * http.c on plain HTTP; https-port with tls-cert, tls-key, tls-ca,
 * tls-crl: the same over HTTPS for devices, judged by the registry).  The
 * broker core it runs is configured from them: no client listener, no
 * admin API; its /metrics and /healthz are served here (healthy: a
 * router link is up and the internal session is subscribed).
 * SIGHUP: reload the HTTPS listener's TLS files (tls-cert, tls-key, tls-ca,
 * tls-crl), as a broker does.
 * SIGTERM/SIGINT: close the internal session and the router links, stop
 * accepting HTTP connections, leave the loop after at most 2 s; requests
 * in flight are not answered (their senders retry, as a device does when
 * no accepted/rejected comes).
 * Exit status: 0, 1 when start-up failed, 2 for a configuration error.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "shadowd.h"

struct shadowd_config {
	STRATA_CONFIG_NODE_FIELDS
	long max_inflight;
	long max_queued;
	long cas_attempts;
	long http_port;
	char *http_bind;
	char *http_auth;
	long https_port;
	char *tls_cert;
	char *tls_key;
	char *tls_ca;
	char *tls_crl;
	char *tls_ciphers;
	char *tls_ciphersuites;
	char *iot_region;
	char *iot_account;
	char *registry_ca_cert;
	char *admin_token_file;
	char *admin_bootstrap_key_id;
};

#define OPT(name, kind, field, def, lo, hi, help) \
	STRATA_CONFIG_OPT(struct shadowd_config, name, kind, field, def, lo, \
	    hi, help)

static const struct strata_config_option shadowd_options[] = {
	STRATA_CONFIG_NODE_OPTIONS(struct shadowd_config, "9985"),
	OPT("max-inflight", STRATA_CFG_INT, max_inflight, "1000", 1, 65535,
	    "shadow requests handled at once (QoS 1 requests past it wait "
	    "in the cluster; QoS 0 ones are refused 429)"),
	OPT("max-queued", STRATA_CFG_INT, max_queued, "100000", 0, 10000000,
	    "QoS 1 requests the cluster queues for this instance past "
	    "max-inflight; more are dropped (strata_broker_drops_total"
	    "{reason=\"queue_full\"})"),
	OPT("cas-attempts", STRATA_CFG_INT, cas_attempts, "8", 1, 1000,
	    "times an update is applied again when another instance wrote "
	    "the shadow in between (then 429)"),
	OPT("http-port", STRATA_CFG_INT, http_port, "0", 0, 65535,
	    "port of the Device Shadow REST API, plain HTTP (0: off)"),
	OPT("http-bind", STRATA_CFG_STRING, http_bind, "127.0.0.1", 0, 0,
	    "address of the HTTP shadow API"),
	OPT("http-auth", STRATA_CFG_STRING, http_auth, "iam", 0, 0,
	    "who may call the HTTP shadow API: iam (admin identities whose "
	    "admin policies allow iot:GetThingShadow, ...) or none "
	    "(anyone: development on loopback only)"),
	OPT("https-port", STRATA_CFG_INT, https_port, "8443", 0, 65535,
	    "port of the device data plane over HTTPS on bind (the Device "
	    "Shadow REST API, Publish, retained messages): the devices' "
	    "registered client certificate and its IoT policies decide; "
	    "served once tls-cert, tls-key and tls-ca are set (the managed "
	    "service's 8443; 0: off)"),
	OPT("tls-cert", STRATA_CFG_STRING, tls_cert, "", 0, 0,
	    "PEM certificate chain of the HTTPS listener"),
	OPT("tls-key", STRATA_CFG_STRING, tls_key, "", 0, 0,
	    "PEM private key of the HTTPS listener"),
	OPT("tls-ca", STRATA_CFG_STRING, tls_ca, "", 0, 0,
	    "PEM CA bundle the devices' certificates are verified with (CAs "
	    "registered at run time are the registry's to judge, as on the "
	    "brokers)"),
	OPT("tls-crl", STRATA_CFG_STRING, tls_crl, "", 0, 0,
	    "PEM CRLs checked against client certificates (as on the "
	    "brokers)"),
	OPT("tls-ciphers", STRATA_CFG_STRING, tls_ciphers, "", 0, 0,
	    "TLS 1.2 cipher list, OpenSSL syntax (empty: OpenSSL's default)"),
	OPT("tls-ciphersuites", STRATA_CFG_STRING, tls_ciphersuites, "", 0, 0,
	    "TLS 1.3 cipher suites, colon-separated (empty: OpenSSL's "
	    "default)"),
	OPT("iot-region", STRATA_CFG_STRING, iot_region, "local", 0, 0,
	    "region field of the ARNs policies name (as on the brokers)"),
	OPT("iot-account", STRATA_CFG_STRING, iot_account, "000000000000", 0,
	    0, "account field of the ARNs policies name (as on the brokers)"),
	OPT("registry-ca-cert", STRATA_CFG_STRING, registry_ca_cert, "", 0, 0,
	    "the brokers' registry-ca-cert (certificate only): the "
	    "certificates it signs need no registered CA, as on the "
	    "brokers"),
	OPT("admin-token-file", STRATA_CFG_STRING, admin_token_file, "", 0, 0,
	    "the admin API's token file: its bootstrap identity may call "
	    "with the bare token (as on the brokers)"),
	OPT("admin-bootstrap-key-id", STRATA_CFG_STRING,
	    admin_bootstrap_key_id, "", 0, 0, "the bootstrap identity's "
	    "access key id, as on the brokers"),
};
#define N_OPTIONS (sizeof(shadowd_options) / sizeof(shadowd_options[0]))

/* ---- the core's configuration ---- */

/* The broker core's options, from ours: no listener, no admin API (the
 * HTTPS listener uses the core's TLS context: tls-* options). */
static int
main_core_config(const struct shadowd_config *c, struct broker_config *bc)
{
	const struct broker_embed e = BROKER_EMBED_NODE("strata-shadowd", c);
	const char *const extra[] = {
		"--iot-region", c->iot_region,
		"--iot-account", c->iot_account,
		"--tls-ciphers", c->tls_ciphers,
		"--tls-ciphersuites", c->tls_ciphersuites,
		"--tls-cert", c->tls_cert,
		"--tls-key", c->tls_key,
		"--tls-ca", c->tls_ca,
		"--tls-crl", c->tls_crl,
	};

	return broker_config_embedded(bc, &e, extra,
	    sizeof(extra) / sizeof(extra[0]));
}

/* Is HTTPS served?  https-port is not 0 and a TLS file is given (all
 * three are then required): without any, the default port stays off. */
static bool
main_https(const struct shadowd_config *c)
{
	return c->https_port != 0 && (c->tls_cert[0] != '\0' ||
	    c->tls_key[0] != '\0' || c->tls_ca[0] != '\0');
}

static int
main_config(struct shadowd_config *c, int argc, char **argv)
{
	char err[512];
	int rc;

	rc = strata_config_load(shadowd_options, N_OPTIONS, c, argc, argv,
	    "strata-shadowd", stdout, err, sizeof(err));
	if (rc == 0)
		rc = strata_config_node_check(&c->node_id, c->log_level,
		    "shadowd", err, sizeof(err));
	if (rc == 0 && strcmp(c->http_auth, "iam") != 0 &&
	    strcmp(c->http_auth, "none") != 0) {
		snprintf(err, sizeof(err), "--http-auth: '%s' is neither iam "
		    "nor none", c->http_auth);
		rc = STRATA_EINVAL;
	}
	if (rc == 0 && main_https(c) && (c->tls_cert[0] == '\0' ||
	    c->tls_key[0] == '\0' || c->tls_ca[0] == '\0')) {
		snprintf(err, sizeof(err), "HTTPS (https-port %ld) needs "
		    "--%s too (devices are verified against tls-ca; set "
		    "https-port 0 to disable HTTPS)", c->https_port,
		    c->tls_cert[0] == '\0' ? "tls-cert" :
		    c->tls_key[0] == '\0' ? "tls-key" : "tls-ca");
		rc = STRATA_EINVAL;
	}
	if (rc == 1)
		return 1;
	if (rc != 0) {
		fprintf(stderr, "strata-shadowd: %s\n", err);
		return 2;
	}
	strata_log_set_level(strata_log_level_parse(c->log_level));
	return 0;
}

/* ---- metrics ---- */

static void
main_metrics(struct shadowd *sd)
{
	struct strata_metrics *m = sd->b->metrics;
	static const char *const ops[] = {"update", "get", "delete"};
	static const char *const codes[] = {"400", "404", "409", "413", "429",
	    "500"};
	char labels[64];

	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 2; j++) {
			snprintf(labels, sizeof(labels), "op=\"%s\","
			    "result=\"%s\"", ops[i], j == 0 ? "accepted" :
			    "rejected");
			sd->m.requests[i][j] = strata_metrics_counter(m,
			    "strata_shadowd_requests_total", "shadow requests "
			    "answered", labels);
		}
	for (int i = 0; i < 6; i++) {
		snprintf(labels, sizeof(labels), "code=\"%s\"", codes[i]);
		sd->m.rejected[i] = strata_metrics_counter(m,
		    "strata_shadowd_rejected_total", "shadow requests "
		    "rejected, by error code", labels);
	}
	sd->m.deltas = strata_metrics_counter(m, "strata_shadowd_delta_total",
	    "update/delta messages published", NULL);
	sd->m.cas_retries = strata_metrics_counter(m,
	    "strata_shadowd_cas_retries_total", "writes tried again because "
	    "another instance changed the shadow in between", NULL);
	sd->m.document_bytes = strata_metrics_counter(m,
	    "strata_shadowd_document_bytes_total", "bytes of shadow "
	    "documents written", NULL);
	sd->m.documents_written = strata_metrics_counter(m,
	    "strata_shadowd_documents_written_total", "shadow documents "
	    "written", NULL);
	sd->m.redis = strata_metrics_histogram(m,
	    "strata_shadowd_redis_seconds", "time of each Redis round trip "
	    "of a shadow request", NULL, strata_latency_bounds_us,
	    STRATA_LATENCY_BOUNDS);
	sd->m.inflight = strata_metrics_gauge(m, "strata_shadowd_inflight",
	    "shadow requests being handled", NULL);
	for (int i = 0; i < 2; i++) {
		snprintf(labels, sizeof(labels), "qos=\"%d\"", i);
		sd->m.publishes[i] = strata_metrics_counter(m,
		    "strata_shadowd_http_publishes_total", "data-plane HTTP "
		    "publishes accepted, by QoS", labels);
		snprintf(labels, sizeof(labels), "op=\"%s\"", i == 0 ? "get" :
		    "list");
		sd->m.retained_reads[i] = strata_metrics_counter(m,
		    "strata_shadowd_http_retained_reads_total", "retained "
		    "messages read over HTTP (GetRetainedMessage, "
		    "ListRetainedMessages pages)", labels);
	}
	sd->m.session_up = strata_metrics_gauge(m,
	    "strata_shadowd_session_up", "1 when the internal session is "
	    "subscribed to the request topics", NULL);
}

static bool
main_healthy(void *arg)
{
	struct shadowd *sd = arg;

	return broker_routers_up(sd->b) > 0 && shadowd_session_ready(sd);
}

/* ---- HTTPS ---- */

/* ALPN on the HTTPS listener: HTTP/1.1 when the client offers it; a
 * client offering only other protocols gets no ALPN answer (HTTP/1.1
 * is what it gets anyway). */
static int
main_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char http11[] = "\x08http/1.1";

	if (SSL_select_next_proto((unsigned char **)out, outlen, http11,
	    sizeof(http11) - 1, in, inlen) == OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_OK;
	return SSL_TLSEXT_ERR_NOACK;
}

/* The core's TLS context (tls-cert, tls-key, tls-ca, tls-crl), for the
 * HTTPS listener. */
static int
main_tls(struct strata_broker *b)
{
	if (broker_tls_start(b) != 0)
		return STRATA_EINVAL;
	SSL_CTX_set_alpn_select_cb(b->ssl_ctx, main_alpn, NULL);
	return 0;
}

/* ---- signals ---- */

static void
main_stop(void *arg)
{
	struct shadowd *sd = arg;

	shadowd_session_free(sd);
	shadowd_fidx_free(sd);
	shadowd_http_stop(sd);
}

/* SIGHUP: the HTTPS listener's TLS files again (as a broker does):
 * new connections use them, open ones keep theirs. */
static void
main_hangup(void *arg)
{
	struct shadowd *sd = arg;
	struct strata_broker *b = sd->b;

	if (broker_tls_reload(b) == 0 && b->ssl_ctx != NULL)
		SSL_CTX_set_alpn_select_cb(b->ssl_ctx, main_alpn, NULL);
}

/* ---- main ---- */

/* The core dropped a request past max-queued: its sender gets 429. */
static void
main_queue_full(void *arg, const struct broker_msg *m)
{
	shadowd_request_overloaded(arg, m->topic, m->topic_len, m->payload,
	    m->payload_len);
}

static int
main_start(struct shadowd *sd, const struct shadowd_config *c,
    struct event_base *base)
{
	struct strata_broker *b = sd->b;

	sd->max_inflight = (size_t)c->max_inflight;
	sd->cas_max = (unsigned)c->cas_attempts;
	if (broker_init(b, base) != 0 || broker_start(b, false) != 0)
		return 1;
	b->queue_full_cb = main_queue_full;
	b->queue_full_arg = sd;
	main_metrics(sd);
	if (c->metrics_port != 0) {
		b->http = strata_metrics_http_start(base, b->metrics, c->bind,
		    (uint16_t)c->metrics_port, main_healthy, sd);
		if (b->http == NULL)
			return 1;
	}
	if (shadowd_session_start(sd) != 0 || shadowd_fidx_start(sd) != 0)
		return 1;
	if (c->admin_token_file[0] != '\0' && broker_admin_identities(b,
	    c->admin_token_file, c->admin_bootstrap_key_id) != 0)
		return 1;
	if (c->http_port != 0 && shadowd_http_start(sd, c->http_bind,
	    (uint16_t)c->http_port, strcmp(c->http_auth, "iam") == 0 ?
	    SHADOWD_HTTP_AUTH_IAM : SHADOWD_HTTP_AUTH_NONE) != 0)
		return 1;
	if (c->registry_ca_cert[0] != '\0' &&
	    broker_admin_registry_ca(b, c->registry_ca_cert) != 0)
		return 1;
	if (main_https(c) && (main_tls(b) != 0 ||
	    shadowd_http_start(sd, c->bind, (uint16_t)c->https_port,
	    SHADOWD_HTTP_AUTH_DEVICE) != 0))
		return 1;
	broker_embed_signals(b, main_stop, main_hangup, sd);
	return 0;
}

static int
main_core_config_cb(const void *cfg, struct broker_config *bc)
{
	return main_core_config(cfg, bc);
}

static int
main_start_cb(void *daemon, const void *cfg, struct event_base *base)
{
	return main_start(daemon, cfg, base);
}

static void
main_teardown(void *daemon)
{
	shadowd_http_free(daemon);
	shadowd_session_free(daemon);
	shadowd_fidx_free(daemon);
}

static const struct broker_embed_daemon main_daemon = {
	.comp = SHADOWD_COMP,
	.core_config = main_core_config_cb,
	.start = main_start_cb,
	.teardown = main_teardown,
};

int
main(int argc, char **argv)
{
	struct shadowd_config cfg = {0};
	struct shadowd sd = {0};
	int rc;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	rc = main_config(&cfg, argc, argv);
	if (rc == 0)
		rc = broker_embed_run(&main_daemon, &cfg, &sd, &sd.b);
	else if (rc == 1)
		rc = 0;
	strata_config_free(shadowd_options, N_OPTIONS, &cfg);
	return rc;
}
