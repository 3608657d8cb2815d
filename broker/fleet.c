/*
 * fleet.c - AWS IoT's fleet provisioning MQTT API, served by the broker
 * that holds the device's connection (it has the registry CA's key and
 * Redis): CreateKeysAndCertificate, CreateCertificateFromCsr and
 * RegisterThing.  docs/internals/fleet-provisioning.md has the states,
 * the keys, the errors and every difference from AWS.
 *
 *   publish.c: a PUBLISH to a request topic, iot:Publish allowed
 *     -> acknowledged at once, not routed -> broker_fleet_handle()
 *   create/json, create-from-csr/json
 *     -> a certificate (and for create/json a key pair) signed by the
 *        registry CA -> one script stores it PENDING_ACTIVATION and the
 *        ownership token (TTL 1 hour, bound to the claim certificate)
 *     -> accepted
 *   provisioning-templates/<t>/provision/json
 *     -> LOOKUP: one script reads the template and the token's
 *        certificate -> HOOK (when the template has one): POST, 5 s,
 *        fail closed -> EVALUATE the template (provtemplate.c) -> APPLY
 *        (provision.c's script, which consumes the token) -> accepted
 *   any step failing -> rejected {statusCode, errorCode, errorMessage}
 *
 * Answers go to the requesting connection and nowhere else: QoS 0, only
 * when its session has a (non-shared) subscription matching the answer's
 * topic, the session is the same (incarnation), its connection still the
 * one that asked (serial: a take-over by the same client id gets
 * nothing) and its policies allow iot:Receive.  A request outlives
 * its connection: a late answer finds no session and is dropped.  The
 * private key is never queued, stored or routed.
 *
 * Each request topic has a json and a cbor form; the answer goes in the
 * request's format (common/cbor.c).
 *
 * At most FLEET_MAX_INFLIGHT requests are in progress on one broker, and
 * one claim certificate may have FLEET_CLAIM_PER_MINUTE certificates
 * made a minute in the cluster (a counter in Redis); past either a
 * request is rejected (429 Throttling).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <arpa/inet.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "admin.h"
#include "cbor.h"
#include "provtemplate.h"

#define FLEET_MAX_INFLIGHT 256
#define FLEET_TOKEN_TTL "3600"     /* seconds, as AWS's token */
#define FLEET_CLAIM_PER_MINUTE "100" /* certificates one claim certificate
					may have made a minute, cluster-wide */
#define FLEET_HOOK_TIMEOUT_S 5
#define FLEET_HOOK_MAX_BODY 65536
#define FLEET_TOPIC_MAX 160

static const char fleet_templates[] = "$aws/provisioning-templates/";

enum fleet_op { FLEET_CREATE, FLEET_CSR, FLEET_PROVISION };

struct broker_fleet {
	struct strata_list hooks;     /* fleet_req.node: hook calls */
	unsigned inflight;
	SSL_CTX *tls;                 /* of https hooks, made at the first:
					 OpenSSL's default trust store
					 (SSL_CERT_FILE, SSL_CERT_DIR) */
};

/* One request, from its PUBLISH to its answer. */
struct fleet_req {
	struct strata_list node;      /* broker_fleet.hooks while calling */
	struct strata_broker *b;
	uint64_t incarnation;         /* the session that asked */
	uint64_t conn_serial;         /* on that connection */
	enum fleet_op op;
	bool cbor;                    /* payloads in CBOR (.../cbor topics) */
	char topic[FLEET_TOPIC_MAX];  /* the request topic */
	char claim_id[BROKER_CERT_ID_LEN + 1];
	char *client_id;
	char cert_id[BROKER_CERT_ID_LEN + 1];
	char *cert_pem;
	char *private_pem;            /* create/json */
	char token[65];
	char token_key[BROKER_REGISTRY_KEY_MAX];
	/* provision */
	char template_name[40];
	json_t *params;               /* the device's */
	json_t *tmpl;
	X509 *x509;
	char *thing;                  /* for the answer */
	json_t *config;
	struct evhttp_connection *evcon;
	struct evhttp_request *hreq;
	struct event *deadline;       /* the hook's; also runs its answer,
					 outside libevent's HTTP callback */
	int hook_code;                /* HTTP status, 0: none yet */
	char *hook_body;
	size_t hook_len;
	bool hook_answered;
};

/* ---- topics ---- */

static bool
fleet_prefix(const uint8_t *t, size_t len, const char *p)
{
	size_t n = strlen(p);

	return len >= n && memcmp(t, p, n) == 0;
}

bool
broker_fleet_topic(const uint8_t *t, size_t len)
{
	return fleet_prefix(t, len, "$aws/certificates/") ||
	    fleet_prefix(t, len, fleet_templates);
}

static bool
fleet_suffix(const uint8_t *t, size_t len, const char *s)
{
	size_t n = strlen(s);

	return len >= n && memcmp(t + len - n, s, n) == 0;
}

bool
broker_fleet_answer_topic(const uint8_t *t, size_t len)
{
	return broker_fleet_topic(t, len) &&
	    (fleet_suffix(t, len, "/accepted") ||
	    fleet_suffix(t, len, "/rejected"));
}

/* ---- answers ---- */

static void
fleet_req_free(struct fleet_req *r)
{
	if (r->b->fleet != NULL && r->b->fleet->inflight > 0)
		r->b->fleet->inflight--;
	strata_list_remove(&r->node);
	if (r->hreq != NULL)
		evhttp_cancel_request(r->hreq);
	if (r->evcon != NULL)
		evhttp_connection_free(r->evcon);
	if (r->deadline != NULL)
		event_free(r->deadline);
	free(r->client_id);
	free(r->cert_pem);
	if (r->private_pem != NULL)
		OPENSSL_clear_free(r->private_pem, strlen(r->private_pem));
	json_decref(r->params);
	json_decref(r->tmpl);
	json_decref(r->config);
	free(r->thing);
	free(r->hook_body);
	X509_free(r->x509);
	OPENSSL_cleanse(r->token, sizeof(r->token));
	free(r);
}

/* Does s hold a subscription (not shared) that matches topic? */
static bool
fleet_subscribed(const struct broker_session *s, const char *topic)
{
	const struct strata_list *n;

	for (n = s->subs.next; n != &s->subs; n = n->next) {
		const struct broker_sub *sub = STRATA_CONTAINER_OF(n,
		    struct broker_sub, session_node);
		const char *f = sub->filter->name;

		if (strncmp(f, "$share/", 7) != 0 && strata_topic_match(
		    (const uint8_t *)f, strlen(f), (const uint8_t *)topic,
		    strlen(topic)))
			return true;
	}
	return false;
}

/* Send body (stolen) on the request topic + suffix to the session that
 * asked, then free the request. */
static void
fleet_answer(struct fleet_req *r, const char *suffix, json_t *body)
{
	struct broker_session *s;
	char topic[FLEET_TOPIC_MAX + 16];
	size_t len = 0;
	char *payload = r->cbor ? (char *)strata_cbor_encode(body, &len) :
	    json_dumps(body, JSON_COMPACT);
	struct strata_message m;
	struct broker_msg *msg;

	json_decref(body);
	if (payload == NULL)
		abort();
	if (!r->cbor)
		len = strlen(payload);
	if (r->b->stopping) {
		/* a late Redis answer while the broker shuts down */
		OPENSSL_clear_free(payload, len);
		fleet_req_free(r);
		return;
	}
	s = broker_session_of(r->b, r->incarnation);
	snprintf(topic, sizeof(topic), "%s%s", r->topic, suffix);
	(*r->b->m.fleet_answers[strcmp(suffix, "/accepted") == 0 ? 0 : 1])++;
	/* the connection that asked, not a later one of its session (a
	 * take-over by the same client id) */
	if (s != NULL && s->conn != NULL && s->conn->serial ==
	    r->conn_serial && fleet_subscribed(s, topic)) {
		memset(&m, 0, sizeof(m));
		m.topic = topic;
		m.topic_len = strlen(topic);
		m.payload = (const uint8_t *)payload;
		m.payload_len = len;
		msg = broker_msg_new(&m);
		broker_publish_to_session(s, msg, 0, false, 0, NULL);
		broker_msg_unref(msg);
	}
	OPENSSL_clear_free(payload, len);
	fleet_req_free(r);
}

static void __attribute__((format(printf, 4, 5)))
fleet_reject(struct fleet_req *r, int status, const char *code,
    const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	STRATA_INFO(BROKER_COMP, "fleet provisioning rejected|topic=%s "
	    "claim=%s code=%s reason=\"%s\"", r->topic, r->claim_id, code, msg);
	fleet_answer(r, "/rejected", json_pack("{s:i, s:s, s:s}",
	    "statusCode", status, "errorCode", code, "errorMessage", msg));
}

/* ---- create/json, create-from-csr/json ---- */

/* KEYS: cert, certs, token, the claim's count of this minute; ARGV: id,
 * pem, ca, now, not_before, not_after, claim, ttl, per minute */
static const char fleet_store_script[] =
    "local n = redis.call('INCR', KEYS[4]) "
    "if n == 1 then redis.call('EXPIRE', KEYS[4], 60) end "
    "if n > tonumber(ARGV[9]) then return redis.error_reply('Throttling "
    "  more than ' .. ARGV[9] .. ' certificates a minute for this claim "
    "certificate') end "
    "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply("
    "  'Exists the certificate exists') end "
    "redis.call('HSET', KEYS[1], 'pem', ARGV[2], 'status', "
    "  'PENDING_ACTIVATION', 'ca', ARGV[3], 'created', ARGV[4], "
    "  'modified', ARGV[4], 'not_before', ARGV[5], 'not_after', ARGV[6]) "
    "redis.call('SADD', KEYS[2], ARGV[1]) "
    "redis.call('HSET', KEYS[3], 'cert', ARGV[1], 'claim', ARGV[7]) "
    "redis.call('EXPIRE', KEYS[3], ARGV[8]) "
    "redis.call('PUBLISH', 'strata:registry', 'cert ' .. ARGV[1]) "
    "return 1";

/* The Redis key of a token: its SHA-256, so the store holds nothing a
 * device could present. */
static void
fleet_token_key(const char *token, char out[BROKER_REGISTRY_KEY_MAX])
{
	unsigned char md[32];
	unsigned int n = 0;
	char hex[65];

	EVP_Digest(token, strlen(token), md, &n, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	broker_registry_key(out, "prov-token", hex);
}

static void
fleet_stored(struct strata_redis *rd, redisReply *reply, void *arg)
{
	struct fleet_req *r = arg;
	json_t *o;

	(void)rd;
	if (reply != NULL && reply->type == REDIS_REPLY_ERROR &&
	    strncmp(reply->str, "Throttling ", 11) == 0) {
		fleet_reject(r, 429, "Throttling", "%s", reply->str + 11);
		return;
	}
	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		fleet_reject(r, 500, "InternalFailure", "the certificate "
		    "could not be stored%s%s", reply != NULL ? ": " : "",
		    reply != NULL ? reply->str : "");
		return;
	}
	o = json_pack("{s:s, s:s, s:s}", "certificateId", r->cert_id,
	    "certificatePem", r->cert_pem, "certificateOwnershipToken",
	    r->token);
	if (r->private_pem != NULL)
		json_object_set_new(o, "privateKey",
		    json_string(r->private_pem));
	STRATA_INFO(BROKER_COMP, "fleet provisioning certificate made|"
	    "cert=%s claim=%s", r->cert_id, r->claim_id);
	fleet_answer(r, "/accepted", o);
}

/* Store the new certificate x (id, pem set) with a fresh token. */
static void
fleet_store(struct fleet_req *r, X509 *x)
{
	unsigned char raw[32];
	char k[BROKER_REGISTRY_KEY_MAX], rate[BROKER_REGISTRY_KEY_MAX];
	char now[24], nb[24], na[24];
	const char *argv[16];
	size_t len[16];

	if (getrandom(raw, sizeof(raw), 0) != sizeof(raw))
		abort();
	for (int i = 0; i < 32; i++)
		snprintf(r->token + 2 * i, 3, "%02x", raw[i]);
	fleet_token_key(r->token, r->token_key);
	broker_registry_key(k, "cert", r->cert_id);
	broker_registry_key(rate, "prov-rate", r->claim_id);
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	broker_cert_validity(x, nb, na);
	argv[0] = "EVAL";
	argv[1] = fleet_store_script;
	argv[2] = "4";
	argv[3] = k;
	argv[4] = "strata:certs";
	argv[5] = r->token_key;
	argv[6] = rate;
	argv[7] = r->cert_id;
	argv[8] = r->cert_pem;
	argv[9] = r->b->admin->ca_id;
	argv[10] = now;
	argv[11] = nb;
	argv[12] = na;
	argv[13] = r->claim_id;
	argv[14] = FLEET_TOKEN_TTL;
	argv[15] = FLEET_CLAIM_PER_MINUTE;
	for (int i = 0; i < 16; i++)
		len[i] = strlen(argv[i]);
	strata_redis_commandv(r->b->redis, fleet_stored, r, 16, argv, len);
}

static void
fleet_create_keys(struct fleet_req *r)
{
	struct broker_admin *a = r->b->admin;
	struct broker_issued is;

	if (broker_cert_issue(a->ca, a->ca_key, r->b->cfg.registry_cert_days,
	    &is) != 0) {
		fleet_reject(r, 500, "InternalFailure", "could not make a key "
		    "pair and certificate");
		return;
	}
	memcpy(r->cert_id, is.id, sizeof(r->cert_id));
	r->cert_pem = is.cert_pem;
	r->private_pem = is.private_pem;
	is.cert_pem = is.private_pem = NULL;
	fleet_store(r, is.cert);
	broker_issued_free(&is);
}

static void
fleet_create_from_csr(struct fleet_req *r, const json_t *body)
{
	struct broker_admin *a = r->b->admin;
	const char *csr = json_string_value(json_object_get(body,
	    "certificateSigningRequest"));
	const char *why;
	X509 *x;

	if (csr == NULL) {
		fleet_reject(r, 400, "InvalidPayload", "the request needs "
		    "certificateSigningRequest (a PEM text)");
		return;
	}
	x = broker_cert_issue_csr(a->ca, a->ca_key,
	    r->b->cfg.registry_cert_days, csr, strlen(csr), &why);
	if (x == NULL) {
		fleet_reject(r, 400, "InvalidCertificateSigningRequest", "%s",
		    why);
		return;
	}
	r->cert_pem = broker_cert_to_pem(x);
	if (r->cert_pem == NULL || broker_cert_id(x, r->cert_id) != 0)
		abort();
	fleet_store(r, x);
	X509_free(x);
}

/* ---- provision: apply ---- */

static void
fleet_applied(struct strata_redis *rd, redisReply *reply, void *arg)
{
	struct fleet_req *r = arg;
	json_t *o;
	const char *thing;

	(void)rd;
	if (reply == NULL) {
		fleet_reject(r, 500, "InternalFailure", "the registry did not "
		    "answer");
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		if (strncmp(reply->str, "Token ", 6) == 0)
			fleet_reject(r, 400, "InvalidCertificateOwnershipToken",
			    "%s", reply->str + 6);
		else if (strncmp(reply->str, "NotFound ", 9) == 0)
			fleet_reject(r, 404, "ResourceNotFound", "%s",
			    reply->str + 9);
		else if (strncmp(reply->str, "Invalid ", 8) == 0)
			fleet_reject(r, 400, "InvalidRequest", "%s",
			    reply->str + 8);
		else
			fleet_reject(r, 500, "InternalFailure", "%s",
			    reply->str);
		return;
	}
	thing = r->thing;
	o = json_pack("{s:O, s:s}", "deviceConfiguration", r->config,
	    "thingName", thing != NULL ? thing : "");
	STRATA_INFO(BROKER_COMP, "fleet provisioned|cert=%s claim=%s "
	    "template=%s thing=%s", r->cert_id, r->claim_id, r->template_name,
	    thing != NULL ? thing : "-");
	fleet_answer(r, "/accepted", o);
}

/* Evaluate the template with the parameters (overrides applied) and
 * apply it. */
static void
fleet_evaluate(struct fleet_req *r)
{
	struct strata_provtemplate_plan plan;
	struct broker_provision pv;
	char err[256];

	broker_provision_params(r->params, r->x509, r->cert_id);
	if (strata_provtemplate_eval(r->tmpl, r->params, "prov-", &plan, err,
	    sizeof(err)) != 0) {
		fleet_reject(r, 400, "InvalidParameters", "%s", err);
		return;
	}
	pv = (struct broker_provision){.plan = &plan, .x509 = r->x509,
		.cert_id = r->cert_id, .pem = r->cert_pem,
		.ca_id = broker_admin_ca_id(r->b), .token_key = r->token_key,
		.claim_id = r->claim_id};
	/* what the answer needs */
	r->thing = plan.thing != NULL ? strdup(plan.thing) : NULL;
	r->config = json_incref(plan.device_config);
	broker_provision_apply(r->b, &pv, fleet_applied, r);
	strata_provtemplate_plan_free(&plan);
}

/* ---- provision: the pre-provisioning hook ---- */

static void
fleet_hook_finish(struct fleet_req *r, int status, const char *code,
    const char *why)
{
	strata_list_remove(&r->node);
	strata_list_init(&r->node);
	if (why != NULL)
		fleet_reject(r, status, code, "pre-provisioning hook: %s",
		    why);
	else
		fleet_evaluate(r);
}

/* The hook's answer: {allowProvisioning, parameterOverrides}. */
static void
fleet_hook_answer(struct fleet_req *r, const char *body, size_t len)
{
	json_t *a = json_loadb(body, len, 0, NULL);
	json_t *allow = json_object_get(a, "allowProvisioning");
	json_t *over = json_object_get(a, "parameterOverrides"), *v;
	const char *k;

	if (!json_is_boolean(allow) || (over != NULL &&
	    !json_is_object(over))) {
		json_decref(a);
		fleet_hook_finish(r, 500, "InternalFailure", "the answer is "
		    "not {allowProvisioning, parameterOverrides}");
		return;
	}
	if (!json_is_true(allow)) {
		json_decref(a);
		fleet_hook_finish(r, 403, "AccessDenied", "provisioning not "
		    "allowed");
		return;
	}
	json_object_foreach(over, k, v)
		if (json_is_string(v) && !strata_provtemplate_pseudo(k))
			json_object_set(r->params, k, v);
	json_decref(a);
	fleet_hook_finish(r, 0, NULL, NULL);
}

/* libevent's answer (req NULL: the request failed): kept, and handled
 * from the deadline's event, where the connection may be freed. */
static void
fleet_hook_done(struct evhttp_request *req, void *arg)
{
	struct fleet_req *r = arg;
	struct evbuffer *body;

	r->hreq = NULL; /* libevent frees it after this callback */
	r->hook_answered = true;
	r->hook_code = req != NULL ? evhttp_request_get_response_code(req) :
	    0;
	if (r->hook_code == 200) {
		body = evhttp_request_get_input_buffer(req);
		r->hook_len = evbuffer_get_length(body);
		r->hook_body = malloc(r->hook_len + 1);
		if (r->hook_body == NULL)
			abort();
		evbuffer_remove(body, r->hook_body, r->hook_len);
		r->hook_body[r->hook_len] = '\0';
	}
	event_del(r->deadline);
	event_active(r->deadline, EV_TIMEOUT, 0);
}

/* The deadline's event: the answer kept, or none in time. */
static void
fleet_hook_event(evutil_socket_t fd, short what, void *arg)
{
	struct fleet_req *r = arg;
	char why[64];

	(void)fd;
	(void)what;
	if (!r->hook_answered) {
		if (r->hreq != NULL) {
			evhttp_cancel_request(r->hreq);
			r->hreq = NULL;
		}
		fleet_hook_finish(r, 500, "InternalFailure", "no answer "
		    "within 5 s");
	} else if (r->hook_code != 200) {
		snprintf(why, sizeof(why), r->hook_code == 0 ?
		    "unreachable" : "answered HTTP %d", r->hook_code);
		fleet_hook_finish(r, 500, "InternalFailure", why);
	} else
		fleet_hook_answer(r, r->hook_body, r->hook_len);
}

/* AWS's hook payload. */
static char *
fleet_hook_payload(struct fleet_req *r)
{
	char arn[400];
	json_t *o;
	char *s;

	broker_prov_template_arn(r->b, r->template_name, arn, sizeof(arn));
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:O}", "claimCertificateId",
	    r->claim_id, "certificateId", r->cert_id, "certificatePem",
	    r->cert_pem, "templateArn", arn, "clientId", r->client_id,
	    "parameters", r->params);
	s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (s == NULL)
		abort();
	return s;
}

/* The TLS client context of https hooks; NULL when it cannot be made. */
static SSL_CTX *
fleet_tls(struct broker_fleet *f)
{
	if (f->tls != NULL)
		return f->tls;
	f->tls = SSL_CTX_new(TLS_client_method());
	if (f->tls == NULL)
		abort();
	SSL_CTX_set_min_proto_version(f->tls, TLS1_2_VERSION);
	SSL_CTX_set_verify(f->tls, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_set_default_verify_paths(f->tls) != 1) {
		SSL_CTX_free(f->tls);
		f->tls = NULL;
	}
	return f->tls;
}

/* An HTTP connection to host:port, over TLS (the server's certificate
 * checked for host) when https; NULL when it cannot be made. */
static struct evhttp_connection *
fleet_hook_connect(struct fleet_req *r, const char *host, int port,
    bool https)
{
	SSL_CTX *ctx = https ? fleet_tls(r->b->fleet) : NULL;
	struct in6_addr ip;
	struct bufferevent *bev;
	SSL *ssl;

	if (!https)
		return evhttp_connection_base_new(r->b->base, NULL, host,
		    (uint16_t)port);
	if (ctx == NULL || (ssl = SSL_new(ctx)) == NULL)
		return NULL;
	if (inet_pton(AF_INET, host, &ip) == 1 ||
	    inet_pton(AF_INET6, host, &ip) == 1)
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
	else {
		SSL_set_tlsext_host_name(ssl, host);
		SSL_set1_host(ssl, host);
	}
	bev = bufferevent_openssl_socket_new(r->b->base, -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE |
	    BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return evhttp_connection_base_bufferevent_new(r->b->base, NULL, bev,
	    host, (uint16_t)port);
}

static void
fleet_hook_call(struct fleet_req *r, const char *url)
{
	struct evhttp_uri *u = evhttp_uri_parse(url);
	const char *host = u != NULL ? evhttp_uri_get_host(u) : NULL;
	const char *path = u != NULL ? evhttp_uri_get_path(u) : NULL;
	int port = u != NULL ? evhttp_uri_get_port(u) : -1;
	const char *scheme = u != NULL ? evhttp_uri_get_scheme(u) : NULL;
	bool https = scheme != NULL && strcmp(scheme, "https") == 0;
	struct timeval tv = {FLEET_HOOK_TIMEOUT_S, 0};
	char hosthdr[300];
	char *body;

	if (host == NULL || !broker_prov_hook_url_valid(url)) {
		if (u != NULL)
			evhttp_uri_free(u);
		fleet_reject(r, 500, "InternalFailure", "pre-provisioning "
		    "hook: the template's targetArn is not a URL");
		return;
	}
	port = port > 0 ? port : https ? 443 : 80;
	snprintf(hosthdr, sizeof(hosthdr), "%s:%d", host, port);
	r->evcon = fleet_hook_connect(r, host, port, https);
	r->hreq = r->evcon != NULL ? evhttp_request_new(fleet_hook_done, r) :
	    NULL;
	r->deadline = evtimer_new(r->b->base, fleet_hook_event, r);
	strata_list_push_back(&r->b->fleet->hooks, &r->node);
	if (r->hreq == NULL || r->deadline == NULL) {
		evhttp_uri_free(u);
		fleet_hook_finish(r, 500, "InternalFailure", "could not make "
		    "the HTTP request");
		return;
	}
	evhttp_connection_set_max_body_size(r->evcon, FLEET_HOOK_MAX_BODY);
	evhttp_add_header(evhttp_request_get_output_headers(r->hreq), "Host",
	    hosthdr);
	evhttp_add_header(evhttp_request_get_output_headers(r->hreq),
	    "Content-Type", "application/json");
	body = fleet_hook_payload(r);
	evbuffer_add(evhttp_request_get_output_buffer(r->hreq), body,
	    strlen(body));
	free(body);
	event_add(r->deadline, &tv);
	if (evhttp_make_request(r->evcon, r->hreq, EVHTTP_REQ_POST,
	    path != NULL && path[0] != '\0' ? path : "/") != 0) {
		r->hreq = NULL;
		event_del(r->deadline);
		fleet_hook_finish(r, 500, "InternalFailure", "could not send "
		    "the HTTP request");
	}
	evhttp_uri_free(u);
}

/* ---- provision: lookup ---- */

/* KEYS: template, token.  {body, enabled, hook, token's cert, token's
 * claim, cert pem}; a JITP template is not found here (AWS: fleet
 * provisioning takes FLEET_PROVISIONING templates). */
static const char fleet_lookup_script[] =
    "local t = redis.call('HMGET', KEYS[1], 'body', 'enabled', "
    "  'hook_target', 'type') "
    "if not t[1] or t[4] == 'JITP' then "
    "  return redis.error_reply('NotFound') end "
    "local tok = redis.call('HMGET', KEYS[2], 'cert', 'claim') "
    "local pem = '' "
    "if tok[1] then pem = redis.call('HGET', 'strata:cert:{' .. tok[1] "
    "  .. '}', 'pem') or '' end "
    "return {t[1], t[2] or '0', t[3] or '', tok[1] or '', tok[2] or '', "
    "  pem}";

static void
fleet_looked_up(struct strata_redis *rd, redisReply *reply, void *arg)
{
	struct fleet_req *r = arg;
	redisReply **f;

	(void)rd;
	if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
		fleet_reject(r, 404, "ResourceNotFound", "provisioning "
		    "template %s does not exist", r->template_name);
		return;
	}
	if (!strata_redis_is_strings(reply, 6)) {
		fleet_reject(r, 500, "InternalFailure", "the registry did not "
		    "answer");
		return;
	}
	f = reply->element;
	if (strcmp(f[1]->str, "1") != 0) {
		fleet_reject(r, 400, "TemplateDisabled", "provisioning "
		    "template %s is disabled", r->template_name);
		return;
	}
	if (f[3]->len != BROKER_CERT_ID_LEN || strcmp(f[4]->str,
	    r->claim_id) != 0 || f[5]->len == 0) {
		fleet_reject(r, 400, "InvalidCertificateOwnershipToken",
		    "the certificate ownership token is not valid (unknown, "
		    "expired or used)");
		return;
	}
	memcpy(r->cert_id, f[3]->str, sizeof(r->cert_id));
	r->cert_pem = strdup(f[5]->str);
	r->x509 = broker_cert_from_pem(f[5]->str, f[5]->len);
	r->tmpl = json_loads(f[0]->str, 0, NULL);
	if (r->cert_pem == NULL || r->x509 == NULL || r->tmpl == NULL) {
		fleet_reject(r, 500, "InternalFailure", "the stored template "
		    "or certificate does not parse");
		return;
	}
	if (f[2]->str[0] != '\0')
		fleet_hook_call(r, f[2]->str);
	else
		fleet_evaluate(r);
}

static bool
fleet_template_name(struct fleet_req *r)
{
	const char *n = r->topic + strlen(fleet_templates);
	const char *end = strchr(n, '/');
	size_t len = end != NULL ? (size_t)(end - n) : 0;

	if (len == 0 || len > 36 || (strcmp(end, "/provision/json") != 0 &&
	    strcmp(end, "/provision/cbor") != 0))
		return false;
	memcpy(r->template_name, n, len);
	r->template_name[len] = '\0';
	for (size_t i = 0; i < len; i++)
		if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= 'A' &&
		    n[i] <= 'Z') || (n[i] >= '0' && n[i] <= '9') ||
		    n[i] == '_' || n[i] == '-'))
			return false;
	return true;
}

static void
fleet_provision(struct fleet_req *r, const json_t *body)
{
	const char *token = json_string_value(json_object_get(body,
	    "certificateOwnershipToken"));
	const json_t *params = json_object_get(body, "parameters"), *v;
	char k[BROKER_REGISTRY_KEY_MAX];
	const char *name;

	if (!fleet_template_name(r)) {
		fleet_reject(r, 404, "ResourceNotFound", "no such provisioning "
		    "template topic");
		return;
	}
	if (token == NULL || (params != NULL && !json_is_object(params))) {
		fleet_reject(r, 400, "InvalidPayload", "the request needs "
		    "certificateOwnershipToken (a string) and parameters (an "
		    "object of strings)");
		return;
	}
	r->params = json_object();
	json_object_foreach((json_t *)params, name, v) {
		if (!json_is_string(v) || strlen(name) > 2048 ||
		    json_string_length(v) > 4096 || name[0] == '\x01') {
			fleet_reject(r, 400, "InvalidPayload", "parameter %.64s "
			    "must be a string of at most 4096 characters",
			    name);
			return;
		}
		/* the pseudo parameters are the certificate's, not the
		 * device's */
		if (!strata_provtemplate_pseudo(name))
			json_object_set(r->params, name, (json_t *)v);
	}
	fleet_token_key(token, r->token_key);
	broker_registry_key(k, "prov-template", r->template_name);
	strata_redis_commandv(r->b->redis, fleet_looked_up, r, 5,
	    (const char *[]){"EVAL", fleet_lookup_script, "2", k,
	    r->token_key}, (size_t[]){4, strlen(fleet_lookup_script), 1,
	    strlen(k), strlen(r->token_key)});
}

/* ---- requests ---- */

/* The operation of a request topic, or -1.  *cbor is set for the
 * .../cbor form (payloads in CBOR, answers too). */
static int
fleet_op(const char *t, bool *cbor)
{
	size_t n = strlen(t);

	*cbor = n > 5 && strcmp(t + n - 5, "/cbor") == 0;
	if (strcmp(t, "$aws/certificates/create/json") == 0 ||
	    strcmp(t, "$aws/certificates/create/cbor") == 0)
		return FLEET_CREATE;
	if (strcmp(t, "$aws/certificates/create-from-csr/json") == 0 ||
	    strcmp(t, "$aws/certificates/create-from-csr/cbor") == 0)
		return FLEET_CSR;
	if (strncmp(t, fleet_templates, strlen(fleet_templates)) == 0 &&
	    (fleet_suffix((const uint8_t *)t, n, "/provision/json") ||
	    fleet_suffix((const uint8_t *)t, n, "/provision/cbor")))
		return FLEET_PROVISION;
	return -1;
}

static struct fleet_req *
fleet_req_new(struct broker_conn *c, const char *topic)
{
	struct fleet_req *r = calloc(1, sizeof(*r));
	const char *claim = broker_device_cert_id(c);

	if (r == NULL)
		abort();
	strata_list_init(&r->node);
	r->b = c->broker;
	r->incarnation = c->session->incarnation;
	r->conn_serial = c->serial;
	snprintf(r->topic, sizeof(r->topic), "%s", topic);
	r->client_id = strdup(c->session->client_id);
	if (r->client_id == NULL)
		abort();
	if (claim != NULL)
		snprintf(r->claim_id, sizeof(r->claim_id), "%s", claim);
	r->b->fleet->inflight++;
	return r;
}

/* Check who asks and what; false after rejecting. */
static bool
fleet_admit(struct fleet_req *r)
{
	struct broker_admin *a = r->b->admin;

	if (r->b->fleet->inflight > FLEET_MAX_INFLIGHT) {
		fleet_reject(r, 429, "Throttling", "too many provisioning "
		    "requests in progress on this broker");
		return false;
	}
	if (r->claim_id[0] == '\0') {
		fleet_reject(r, 403, "AccessDenied", "fleet provisioning needs "
		    "a connection with a registry (claim) certificate");
		return false;
	}
	if (r->op != FLEET_PROVISION && (a == NULL || a->ca == NULL ||
	    a->ca_key == NULL)) {
		fleet_reject(r, 500, "InternalFailure", "this broker has no "
		    "issuing CA (registry-ca-cert, registry-ca-key)");
		return false;
	}
	return true;
}

void
broker_fleet_handle(struct broker_conn *c, struct strata_bytes topic,
    struct strata_bytes payload)
{
	char t[FLEET_TOPIC_MAX];
	struct fleet_req *r;
	json_t *body;
	char err[128];
	bool cbor;
	int op;

	if (c->broker->fleet == NULL) {
		c->broker->fleet = calloc(1, sizeof(*c->broker->fleet));
		if (c->broker->fleet == NULL)
			abort();
		strata_list_init(&c->broker->fleet->hooks);
	}
	if (topic.len >= sizeof(t) - 1)
		return; /* no API topic is that long: nobody to answer */
	memcpy(t, topic.p, topic.len);
	t[topic.len] = '\0';
	if ((op = fleet_op(t, &cbor)) < 0)
		return; /* not a request topic: nothing is served there */
	r = fleet_req_new(c, t);
	r->op = (enum fleet_op)op;
	r->cbor = cbor;
	if (!fleet_admit(r))
		return;
	body = cbor ? strata_cbor_decode(payload.p, payload.len, err,
	    sizeof(err)) : json_loadb((const char *)payload.p, payload.len,
	    0, NULL);
	if (!json_is_object(body)) {
		json_decref(body);
		fleet_reject(r, 400, "InvalidPayload", "the payload must be a "
		    "%s object%s%s", cbor ? "CBOR map (text keys)" : "JSON",
		    cbor && body == NULL ? ": " : "",
		    cbor && body == NULL ? err : "");
		return;
	}
	if (op == FLEET_CREATE)
		fleet_create_keys(r);
	else if (op == FLEET_CSR)
		fleet_create_from_csr(r, body);
	else
		fleet_provision(r, body);
	json_decref(body);
}

void
broker_fleet_free(struct strata_broker *b)
{
	struct broker_fleet *f = b->fleet;

	if (f == NULL)
		return;
	while (!strata_list_empty(&f->hooks))
		fleet_req_free(STRATA_CONTAINER_OF(f->hooks.next,
		    struct fleet_req, node));
	SSL_CTX_free(f->tls);
	free(f);
	b->fleet = NULL;
}
