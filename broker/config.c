/*
 * config.c - the options of strata-broker: the table (names, defaults,
 * ranges, help) and the checks that span several options.
 *
 * main.c loads them from argv; fuzz targets and tests load the same table
 * with an argv of their own, so every in-process broker starts from the
 * defaults a user gets.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "broker.h"
#include "config.h"
#include "redis.h"

#define OPT(n, t, f, d, lo, hi, h) \
	STRATA_CONFIG_OPT(struct broker_config, n, t, f, d, lo, hi, h)

static const struct strata_config_option broker_options[] = {
	STRATA_CONFIG_NODE_OPTIONS(struct broker_config, "9883"),
	OPT("port", STRATA_CFG_INT, port, "1883", 0, 65535,
	    "MQTT over TCP port (0 disables); on bind when bind is a "
	    "loopback address, else on tcp-bind"),
	OPT("tcp-bind", STRATA_CFG_STRING, tcp_bind, "127.0.0.1", 0, 0,
	    "address of the plain TCP port when bind is not a loopback "
	    "address (0.0.0.0 exposes it; TLS and PROXY ports stay on "
	    "bind)"),
	OPT("tls-port", STRATA_CFG_INT, tls_port, "8883", 0, 65535,
	    "MQTT over TLS port (0 disables)"),
	OPT("proxy-port", STRATA_CFG_INT, proxy_port, "0", 0, 65535,
	    "port for MQTT behind a load balancer: every connection starts "
	    "with a PROXY protocol header (0 disables)"),
	OPT("proxy-tls-port", STRATA_CFG_INT, proxy_tls_port, "0", 0, 65535,
	    "port for TLS behind a load balancer: a PROXY protocol header, "
	    "then TLS as on tls-port (0 disables)"),
	OPT("ws-port", STRATA_CFG_INT, ws_port, "8083", 0, 65535,
	    "MQTT over WebSocket port (ws://; 0 disables)"),
	OPT("wss-port", STRATA_CFG_INT, wss_port, "443", 0, 65535,
	    "MQTT over WebSocket over TLS port (wss://; the certificates "
	    "and client-certificate rules of tls-port; 0 disables)"),
	OPT("ws-path", STRATA_CFG_STRING, ws_path, "/mqtt", 0, 0,
	    "path of the WebSocket opening request (GET <path> HTTP/1.1)"),
	OPT("ws-max-message", STRATA_CFG_INT, ws_max_message, "0", 0,
	    268435455, "largest WebSocket message accepted, its frames "
	    "together (bytes; 0: the Maximum Packet Size); a larger one "
	    "closes the connection (1009)"),
	OPT("tls-cert", STRATA_CFG_STRING, tls_cert, NULL, 0, 0,
	    "PEM certificate chain of the TLS listener"),
	OPT("tls-key", STRATA_CFG_STRING, tls_key, NULL, 0, 0,
	    "PEM private key of the TLS listener"),
	OPT("tls-ca", STRATA_CFG_STRING, tls_ca, NULL, 0, 0,
	    "PEM CA bundle to verify client certificates (reloaded on "
	    "SIGHUP, as are tls-cert, tls-key and tls-crl)"),
	OPT("tls-require-client-cert", STRATA_CFG_BOOL,
	    tls_require_client_cert, "true", 0, 0,
	    "refuse TLS clients without a valid certificate (needs "
	    "tls-ca)"),
	OPT("tls-crl", STRATA_CFG_STRING, tls_crl, NULL, 0, 0,
	    "PEM CRLs checked against client certificates: a revoked one "
	    "fails the handshake (needs tls-ca; a CRL of each issuing CA)"),
	OPT("tls-ciphers", STRATA_CFG_STRING, tls_ciphers, "", 0, 0,
	    "TLS 1.2 cipher list, OpenSSL syntax (empty: OpenSSL's "
	    "default)"),
	OPT("tls-ciphersuites", STRATA_CFG_STRING, tls_ciphersuites, "", 0, 0,
	    "TLS 1.3 cipher suites, colon-separated (empty: OpenSSL's "
	    "default)"),
	OPT("tls-groups", STRATA_CFG_STRING, tls_groups, "", 0, 0,
	    "key exchange groups, colon-separated, preferred first "
	    "(empty: OpenSSL's default)"),
	OPT("max-payload", STRATA_CFG_INT, max_payload, "131072", 1,
	    268435455, "largest PUBLISH or Will payload accepted (bytes)"),
	OPT("max-topic-depth", STRATA_CFG_INT, max_topic_depth, "7", 1, 1000,
	    "most levels in a topic or filter ($aws/ topics exempt)"),
	OPT("max-subscriptions-per-subscribe", STRATA_CFG_INT,
	    max_subscriptions_per_subscribe, "50", 1, 65535,
	    "most filters granted in one SUBSCRIBE"),
	OPT("max-subscriptions", STRATA_CFG_INT, max_subscriptions, "50", 1,
	    10000000, "most subscriptions one session holds"),
	OPT("max-client-id", STRATA_CFG_INT, max_client_id, "128", 1, 65535,
	    "longest client identifier (bytes)"),
	OPT("keepalive-min", STRATA_CFG_INT, keepalive_min, "30", 1, 65535,
	    "smallest MQTT 5 keepalive (smaller asked values are raised)"),
	OPT("keepalive-max", STRATA_CFG_INT, keepalive_max, "1200", 1, 65535,
	    "largest MQTT 5 keepalive (larger asked values are lowered)"),
	OPT("keepalive-clamp-v311", STRATA_CFG_BOOL, keepalive_clamp_v311,
	    "false", 0, 0, "clamp MQTT 3.1.1 keepalives too (the client is "
	    "not told)"),
	OPT("allow-zero-keepalive", STRATA_CFG_BOOL, allow_zero_keepalive,
	    "true", 0, 0, "accept keepalive 0 (no keepalive)"),
	OPT("max-inflight", STRATA_CFG_INT, max_inflight, "100", 1, 65535,
	    "Receive Maximum granted to clients, cap of outbound in-flight"),
	OPT("max-queued", STRATA_CFG_INT, max_queued, "1000", 0, 10000000,
	    "QoS 1/2 messages queued per session"),
	OPT("max-output-bytes", STRATA_CFG_INT, max_output_bytes, "16777216",
	    65536, 1L << 40, "bytes queued to one client before it is "
	    "disconnected (QoS 0 deliveries are dropped past half)"),
	OPT("topic-alias-max", STRATA_CFG_INT, topic_alias_max, "10", 0, 65535,
	    "Topic Alias Maximum granted to MQTT 5 clients"),
	OPT("topic-alias-out-max", STRATA_CFG_INT, topic_alias_out_max, "10",
	    0, 65535, "most topic aliases the broker assigns to the topics "
	    "it sends one MQTT 5 client, within the client's Topic Alias "
	    "Maximum (0: none)"),
	OPT("response-information", STRATA_CFG_STRING, response_information,
	    "", 0, 0, "Response Information for MQTT 5 clients that ask for "
	    "it, %c standing for the client id (empty: not sent)"),
	OPT("max-connections", STRATA_CFG_INT, max_connections, "0", 0,
	    100000000, "most client connections (0: the descriptor limit "
	    "less a reserve)"),
	OPT("tls-auth", STRATA_CFG_STRING, tls_auth, "registry", 0, 0,
	    "how TLS clients are authorized: registry (the certificate must "
	    "be ACTIVE in the registry, its policies decide) or chain (a "
	    "certificate that chains to tls-ca may do anything)"),
	OPT("admin-port", STRATA_CFG_INT, admin_port, "0", 0, 65535,
	    "port of the admin API (registry of things, certificates and "
	    "policies; 0 disables)"),
	OPT("admin-bind", STRATA_CFG_STRING, admin_bind, "127.0.0.1", 0, 0,
	    "IP address the admin API binds"),
	OPT("admin-token-file", STRATA_CFG_STRING, admin_token_file, "", 0, 0,
	    "file holding the admin API's bearer token (needed with "
	    "admin-port)"),
	OPT("admin-bootstrap-key-id", STRATA_CFG_STRING, admin_bootstrap_key_id,
	    "", 0, 0, "access key id of the bootstrap admin identity, whose "
	    "secret is the admin token (default: derived from the token)"),
	OPT("admin-tls", STRATA_CFG_BOOL, admin_tls, "false", 0, 0,
	    "serve the admin API over HTTPS (admin-tls-cert and "
	    "admin-tls-key, or tls-cert and tls-key); no client "
	    "certificate is asked for"),
	OPT("admin-tls-cert", STRATA_CFG_STRING, admin_tls_cert, "", 0, 0,
	    "PEM certificate chain of the admin API's HTTPS listener "
	    "(empty: tls-cert; reloaded on SIGHUP)"),
	OPT("admin-tls-key", STRATA_CFG_STRING, admin_tls_key, "", 0, 0,
	    "PEM private key of admin-tls-cert (given together)"),
	OPT("admin-audit-file", STRATA_CFG_STRING, admin_audit_file, "", 0, 0,
	    "file the admin API's audit records are appended to, one JSON "
	    "object a line (empty: none; every call is also logged)"),
	OPT("admin-audit-max", STRATA_CFG_INT, admin_audit_max, "100000", 0,
	    100000000, "audit records kept in Redis (strata:admin-audit, "
	    "list-audit-events), about; 0: none"),
	OPT("admin-audit-reads", STRATA_CFG_BOOL, admin_audit_reads, "false",
	    0, 0, "keep the records of successful reads (GET) too, not only "
	    "of changes and refusals"),
	OPT("console-dir", STRATA_CFG_STRING, console_dir, "", 0, 0,
	    "directory of the web console's files, served under /console/ "
	    "by the admin API (default: share/strata/console beside the "
	    "binary's directory; missing: no console)"),
	OPT("console-session-ttl", STRATA_CFG_INT, console_session_ttl,
	    "3600", 60, 86400, "seconds a web console session lives after "
	    "its login"),
	OPT("console-login-max-failures", STRATA_CFG_INT,
	    console_login_max_failures, "5", 1, 10000, "wrong web console "
	    "logins a source address may make in console-login-window "
	    "seconds (counted in Redis, cluster-wide); then every login "
	    "from it is refused with 429 until the window ends"),
	OPT("shadow-http-url", STRATA_CFG_STRING, shadow_http_url, "", 0, 0,
	    "http://<host>:<port> of a strata-shadowd REST API (http-port) "
	    "to which the admin API forwards GetThingShadow, "
	    "UpdateThingShadow and DeleteThingShadow (the web console's "
	    "Shadows page), after its admin policies allowed them; empty: "
	    "none, the console edits shadows over MQTT"),
	OPT("console-login-window", STRATA_CFG_INT, console_login_window,
	    "60", 1, 86400, "seconds from a source address's first wrong "
	    "web console login in which its failures are counted"),
	OPT("iot-region", STRATA_CFG_STRING, iot_region, "local", 0, 0,
	    "region field of the ARNs the registry gives and policies name"),
	OPT("iot-account", STRATA_CFG_STRING, iot_account, "000000000000", 0,
	    0, "account field of the ARNs the registry gives and policies "
	    "name"),
	OPT("registry-ca-cert", STRATA_CFG_STRING, registry_ca_cert, "", 0, 0,
	    "PEM certificate of the CA that signs create-keys-and-certificate "
	    "(its certificates need no register-ca-certificate)"),
	OPT("registry-ca-key", STRATA_CFG_STRING, registry_ca_key, "", 0, 0,
	    "PEM private key of registry-ca-cert"),
	OPT("registry-cert-days", STRATA_CFG_INT, registry_cert_days, "3650",
	    1, 36500, "validity of the certificates "
	    "create-keys-and-certificate issues (days)"),
	OPT("thing-type-delete-wait", STRATA_CFG_INT, thing_type_delete_wait,
	    "300", 0, 86400, "seconds a thing type must have been deprecated "
	    "before DeleteThingType deletes it (AWS IoT: 5 minutes)"),
	OPT("authorizer-url", STRATA_CFG_STRING, authorizer_url, "", 0, 0,
	    "custom authorizer: http://host[:port]/path answering AWS IoT's "
	    "authorizer request for TLS clients without a certificate "
	    "(empty: none, such clients are refused)"),
	OPT("authorizer-timeout", STRATA_CFG_INT, authorizer_timeout, "2000",
	    50, 60000, "deadline of one authorizer call (ms); past it the "
	    "client is refused"),
	OPT("authorizer-cache-seconds", STRATA_CFG_INT,
	    authorizer_cache_seconds, "300", 0, 86400, "longest an "
	    "authorizer's positive answer is reused for the same user name, "
	    "password and token (shorter when refreshAfterInSeconds is; 0: "
	    "never)"),
	OPT("authorizer-tcp", STRATA_CFG_BOOL, authorizer_tcp, "false", 0, 0,
	    "also send plain TCP clients that give a user name to the "
	    "authorizer"),
	OPT("authorizer-token-key", STRATA_CFG_STRING, authorizer_token_key,
	    "token", 0, 0, "query parameter of the MQTT user name "
	    "(name?key=value) whose value is the authorizer request's token"),
	OPT("lifecycle-events", STRATA_CFG_BOOL, lifecycle_events, "true", 0,
	    0, "publish AWS IoT lifecycle events: "
	    "$aws/events/presence/connected|disconnected/<client id> and "
	    "$aws/events/subscriptions/subscribed|unsubscribed/<client id>"),
	OPT("throttle-publish-rate", STRATA_CFG_INT, throttle_publish_rate,
	    "100", 0, 1000000, "PUBLISH packets per second per connection, "
	    "bursts of as many (AWS IoT: 100; 0: off); over it MQTT 5 QoS "
	    "1/2 get 0x96, others are slowed by not reading"),
	OPT("throttle-inbound-bytes", STRATA_CFG_INT, throttle_inbound_bytes,
	    "524288", 0, 1000000000, "bytes per second read from one "
	    "connection, bursts of as many (AWS IoT: 512 KiB; 0: off); over "
	    "it reading pauses"),
	OPT("throttle-subscribe-rate", STRATA_CFG_INT, throttle_subscribe_rate,
	    "100", 0, 1000000, "SUBSCRIBE filters per second per connection, "
	    "bursts of as many (0: off); over it a filter gets 0x97 (3.1.1: "
	    "0x80)"),
	OPT("throttle-disconnect-after", STRATA_CFG_INT,
	    throttle_disconnect_after, "10", 0, 86400, "seconds a client "
	    "slowed at throttle-publish-rate may keep at it before it is "
	    "disconnected (0: never)"),
	OPT("throttle-connect-client-rate", STRATA_CFG_INT,
	    throttle_connect_client_rate, "1", 0, 1000000, "CONNECTs per "
	    "second per client id on this broker, bursts of as many (AWS "
	    "IoT: 1; 0: off); over it CONNACK 0x9F (3.1.1: 0x03)"),
	OPT("throttle-connect-address-rate", STRATA_CFG_INT,
	    throttle_connect_address_rate, "0", 0, 1000000, "connections "
	    "per second per source address (behind a load balancer: the "
	    "PROXY header's) on this broker, bursts of as many (0: off); "
	    "over it CONNACK 0x9F (3.1.1: 0x03)"),
	OPT("devstats-interval-ms", STRATA_CFG_INT, devstats_interval_ms,
	    "1000", 100, 60000, "how often each connection's counts "
	    "(messages, bytes, policy denials) go to message metering and "
	    "Device Defender Detect, in milliseconds"),
	OPT("defender-min-duration", STRATA_CFG_INT, defender_min_duration,
	    "300", 1, 300, "the shortest durationSeconds a Device Defender "
	    "Detect behaviour may have (AWS: 300; tests use a few seconds)"),
	OPT("metering-retention-hours", STRATA_CFG_INT,
	    metering_retention_hours, "168", 0, 8784, "hours Redis keeps "
	    "each hour's message metering per client id and thing "
	    "(get-usage); 0: no metering"),
	OPT("throttle-connect-scope", STRATA_CFG_STRING,
	    throttle_connect_scope, "cluster", 0, 0, "where "
	    "throttle-connect-client-rate counts: cluster (a client id's "
	    "CONNECTs on every broker, as AWS IoT counts) or broker (on "
	    "each broker alone)"),
};

#define N_OPTIONS (sizeof(broker_options) / sizeof(broker_options[0]))

/* Descriptors kept for everything but clients: listeners, router links,
 * Redis, the metrics endpoint and its scrapers, logs. */
#define CONFIG_FD_RESERVE 64

/* max-connections 0: raise the soft descriptor limit to the hard one and
 * leave a reserve for the daemon's own sockets. */
static long
config_connections_from_fds(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 1024 - CONFIG_FD_RESERVE;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 100000000)
		return 100000000;
	if (rl.rlim_cur <= 2 * CONFIG_FD_RESERVE)
		return (long)rl.rlim_cur / 2;
	return (long)rl.rlim_cur - CONFIG_FD_RESERVE;
}

/* The response-information template is the start of topic names the
 * clients will use: valid UTF-8 without wildcards, short enough that
 * with a client id it fits an MQTT string. */
static int
config_check_response_information(const char *t, char *err, size_t errlen)
{
	size_t len = t != NULL ? strlen(t) : 0;

	if (len > 1024 || !strata_utf8_valid((const uint8_t *)t, len) ||
	    strpbrk(t != NULL ? t : "", "+#") != NULL) {
		snprintf(err, errlen, "response-information must be a topic "
		    "prefix of at most 1024 bytes of UTF-8, without + or #");
		return STRATA_EINVAL;
	}
	return 0;
}

/* The registry's options: tls-auth names a mode, ARN fields hold no ':'
 * or '/', the admin API has a token, the issuing CA has both halves. */
static int
config_check_registry(struct broker_config *cfg, char *err, size_t errlen)
{
	if (strcmp(cfg->tls_auth, "registry") != 0 &&
	    strcmp(cfg->tls_auth, "chain") != 0) {
		snprintf(err, errlen, "tls-auth must be registry or chain, "
		    "not '%s'", cfg->tls_auth);
		return STRATA_EINVAL;
	}
	if (strcmp(cfg->throttle_connect_scope, "cluster") != 0 &&
	    strcmp(cfg->throttle_connect_scope, "broker") != 0) {
		snprintf(err, errlen, "throttle-connect-scope must be cluster "
		    "or broker, not '%s'", cfg->throttle_connect_scope);
		return STRATA_EINVAL;
	}
	cfg->throttle_connect_cluster =
	    strcmp(cfg->throttle_connect_scope, "cluster") == 0;
	if (strpbrk(cfg->iot_region, ":/") != NULL ||
	    strpbrk(cfg->iot_account, ":/") != NULL ||
	    cfg->iot_region[0] == '\0' || cfg->iot_account[0] == '\0') {
		snprintf(err, errlen, "iot-region and iot-account must be "
		    "non-empty and hold no ':' or '/'");
		return STRATA_EINVAL;
	}
	if (cfg->admin_port != 0 && cfg->admin_token_file[0] == '\0') {
		snprintf(err, errlen, "admin-port needs admin-token-file");
		return STRATA_EINVAL;
	}
	if ((cfg->registry_ca_cert[0] == '\0') !=
	    (cfg->registry_ca_key[0] == '\0')) {
		snprintf(err, errlen, "registry-ca-cert and registry-ca-key "
		    "go together");
		return STRATA_EINVAL;
	}
	return 0;
}

/* Checks across options; err gets the message. */
static int
config_check(struct broker_config *cfg, char *err, size_t errlen)
{
	if (cfg->keepalive_min > cfg->keepalive_max) {
		snprintf(err, errlen, "keepalive-min %ld > keepalive-max %ld",
		    cfg->keepalive_min, cfg->keepalive_max);
		return STRATA_EINVAL;
	}
	if (strata_config_node_check(&cfg->node_id, cfg->log_level, "broker",
	    err, errlen) != 0)
		return STRATA_EINVAL;
	{
		struct strata_redis_opts ro = STRATA_CONFIG_REDIS_OPTS(cfg);

		if (strata_redis_check_opts(&ro, err, errlen) != 0)
			return STRATA_EINVAL;
	}
	{
		struct strata_config_node_files nf =
		    STRATA_CONFIG_NODE_FILES(cfg);

		if (strata_config_node_files_load(&nf, err, errlen) != 0)
			return STRATA_EINVAL;
	}
	if (config_check_response_information(cfg->response_information, err,
	    errlen) != 0)
		return STRATA_EINVAL;
	if (broker_authorizer_check_url(cfg->authorizer_url, err,
	    errlen) != 0)
		return STRATA_EINVAL;
	if (cfg->authorizer_tcp && cfg->authorizer_url[0] == '\0') {
		snprintf(err, errlen, "authorizer-tcp needs authorizer-url");
		return STRATA_EINVAL;
	}
	if (cfg->ws_path[0] != '/' || strpbrk(cfg->ws_path, "? \t\r\n") !=
	    NULL) {
		snprintf(err, errlen, "ws-path must start with / and hold no "
		    "'?' or blanks");
		return STRATA_EINVAL;
	}
	if (broker_tls_check_config(cfg, err, errlen) != 0)
		return STRATA_EINVAL;
	if (cfg->max_connections == 0)
		cfg->max_connections = config_connections_from_fds();
	return config_check_registry(cfg, err, errlen);
}

int
broker_config_load(struct broker_config *cfg, int argc, char **argv,
    FILE *help_out, char *err, size_t errlen)
{
	int rc;

	rc = strata_config_load(broker_options, N_OPTIONS, cfg, argc, argv,
	    "strata-broker", help_out, err, errlen);
	if (rc != 0)
		return rc;
	return config_check(cfg, err, errlen);
}

void
broker_config_free(struct broker_config *cfg)
{
	strata_linkauth_free(&cfg->link_auth);
	strata_redis_secrets_free(&cfg->redis_secrets);
	strata_config_free(broker_options, N_OPTIONS, cfg);
}
