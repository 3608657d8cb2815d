/*
 * jitp.c - just-in-time provisioning and registration: the first
 * connection with a certificate the registry does not know, signed by a
 * registered CA that is ACTIVE and allows auto-registration:
 *
 *   device.c: lookup answered UNKNOWN -> broker_jitp_start()
 *     -> candidates: the registered CAs whose subject is the
 *        certificate's issuer (one script)
 *     -> the one whose key signed it, ACTIVE, auto-registration on:
 *        with a template (JITP): the template evaluated with the
 *          certificate's fields (common/provtemplate.c) -> provision.c's
 *          script (thing, groups, certificate, policy, attachments; one
 *          atomic step) -> broker_device_jitp_done(true) -> lookup again
 *          -> the connection goes on
 *        without one (JITR): the certificate stored PENDING_ACTIVATION
 *          -> AWS's event on $aws/events/certificates/registered/<ca id>
 *          (QoS 1, through the routers; only when this call stored it)
 *          -> broker_device_jitp_done(true) -> lookup again -> refused
 *          as inactive (CONNACK 0x86) until someone activates it
 *   No such CA, or the template cannot be applied: done(false), the
 *   connection is refused as unknown (CONNACK 0x86) and a log line says
 *   why.
 *
 * A policy given by document only is named "jitp-" and the first 16 hex
 * digits of the document's SHA-256, so that devices provisioned from one
 * template share one policy.  docs/internals/security.md and
 * docs/internals/fleet-provisioning.md.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker.h"
#include "provtemplate.h"

struct jitp {
	struct strata_broker *b;
	char id[BROKER_CERT_ID_LEN + 1];
	char ca_id[BROKER_CERT_ID_LEN + 1]; /* JITR: the signing CA */
	X509 *x509;
};

static void
jitp_free(struct jitp *j)
{
	X509_free(j->x509);
	free(j);
}

static void
jitp_end(struct jitp *j, bool provisioned, const char *why)
{
	if (why != NULL)
		STRATA_WARN(BROKER_COMP, "just-in-time provisioning not "
		    "done|cert=%s reason=\"%s\"", j->id, why);
	else
		STRATA_INFO(BROKER_COMP, "just-in-time provisioned|cert=%s",
		    j->id);
	broker_device_jitp_done(j->b, j->id, provisioned);
	jitp_free(j);
}

/* ---- templates ---- */

/* Evaluate tmpl for certificate x (id) into plan (provtemplate.c). */
static int
jitp_plan(const json_t *tmpl, X509 *x, const char *id,
    struct strata_provtemplate_plan *plan, char *err, size_t errlen)
{
	json_t *params = json_object();
	int rc;

	broker_provision_params(params, x, id);
	rc = strata_provtemplate_eval(tmpl, params, "jitp-", plan, err,
	    errlen);
	json_decref(params);
	return rc;
}

bool
broker_jitp_template_valid(const json_t *tmpl, char *err, size_t errlen)
{
	return strata_provtemplate_check(tmpl, err, errlen) == 0;
}

char *
broker_jitp_evaluate(const json_t *tmpl, X509 *x, const char *id, char *err,
    size_t errlen)
{
	struct strata_provtemplate_plan p;
	json_t *o;
	char *out = NULL;

	if (jitp_plan(tmpl, x, id, &p, err, errlen) == 0) {
		o = json_pack("{s:s?, s:s?, s:s?, s:s, s:s?, s:s?, s:O}",
		    "thing", p.thing, "type", p.thing_type, "attributes",
		    p.attributes, "status", p.cert_status, "policy",
		    p.policy_name, "document", p.policy_doc, "groups",
		    p.groups);
		out = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
	}
	strata_provtemplate_plan_free(&p);
	return out;
}

/* ---- provisioning ---- */

static void
jitp_provisioned(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct jitp *j = arg;

	if (reply == NULL)
		jitp_end(j, false, "Redis did not answer");
	else if (reply->type == REDIS_REPLY_ERROR)
		jitp_end(j, false, reply->str);
	else
		jitp_end(j, true, NULL);
}

static void
jitp_provision(struct jitp *j, const char *ca_id,
    const struct strata_provtemplate_plan *p)
{
	char *pem = broker_cert_to_pem(j->x509);
	struct broker_provision pv = {.plan = p, .x509 = j->x509,
		.cert_id = j->id, .pem = pem != NULL ? pem : "", .ca_id = ca_id};

	broker_provision_apply(j->b, &pv, jitp_provisioned, j);
	free(pem);
}

/* ---- just-in-time registration ---- */

/* KEYS: cert, certs; ARGV: id, pem, ca, now, not_before, not_after.
 * 1: registered now, 0: it was already. */
static const char jitr_script[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end "
    "redis.call('HSET', KEYS[1], 'pem', ARGV[2], 'status', "
    "  'PENDING_ACTIVATION', 'ca', ARGV[3], 'created', ARGV[4], "
    "  'modified', ARGV[4], 'not_before', ARGV[5], 'not_after', ARGV[6]) "
    "redis.call('SADD', KEYS[2], ARGV[1]) "
    "redis.call('PUBLISH', 'strata:registry', 'cert ' .. ARGV[1]) "
    "return 1";

/* AWS's registration event, through the routers at QoS 1. */
static void
jitr_event(struct jitp *j)
{
	struct strata_broker *b = j->b;
	struct timespec ts;
	uint64_t ms;
	char topic[64 + 2 * BROKER_CERT_ID_LEN];
	struct strata_message m;
	json_t *o;
	char *payload;

	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	snprintf(topic, sizeof(topic), "$aws/events/certificates/registered/"
	    "%s", j->ca_id);
	o = json_pack("{s:s, s:s, s:I, s:s, s:s, s:I}", "certificateId",
	    j->id, "caCertificateId", j->ca_id, "timestamp", (json_int_t)ms,
	    "certificateStatus", "PENDING_ACTIVATION", "awsAccountId",
	    b->cfg.iot_account, "certificateRegistrationTimestamp",
	    (json_int_t)ms);
	payload = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (payload == NULL)
		abort();
	memset(&m, 0, sizeof(m));
	m.topic = topic;
	m.topic_len = strlen(topic);
	m.payload = (const uint8_t *)payload;
	m.payload_len = strlen(payload);
	m.qos = 1;
	if (broker_routers_backlogged(b))
		broker_drop(b, "registration_event");
	else
		broker_routers_publish(b, NULL, &m);
	free(payload);
}

static void
jitr_registered(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct jitp *j = arg;

	if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
		jitp_end(j, false, reply == NULL ? "Redis did not answer" :
		    "registration failed");
		return;
	}
	if (reply->integer == 1) {
		STRATA_INFO(BROKER_COMP, "just-in-time registered, "
		    "PENDING_ACTIVATION|cert=%s ca=%s", j->id, j->ca_id);
		(*j->b->m.jitr_registered)++;
		jitr_event(j);
	}
	/* looked up again: PENDING_ACTIVATION is refused as inactive */
	broker_device_jitp_done(j->b, j->id, true);
	jitp_free(j);
}

static void
jitr_register(struct jitp *j, const char *ca_id)
{
	char k[BROKER_REGISTRY_KEY_MAX], now[24], nb[24], na[24];
	char *pem = broker_cert_to_pem(j->x509);
	const char *argv[11];
	size_t len[11];

	snprintf(j->ca_id, sizeof(j->ca_id), "%s", ca_id);
	broker_registry_key(k, "cert", j->id);
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	broker_cert_validity(j->x509, nb, na);
	argv[0] = "EVAL";
	argv[1] = jitr_script;
	argv[2] = "2";
	argv[3] = k;
	argv[4] = "strata:certs";
	argv[5] = j->id;
	argv[6] = pem != NULL ? pem : "";
	argv[7] = ca_id;
	argv[8] = now;
	argv[9] = nb;
	argv[10] = na;
	for (int i = 0; i < 11; i++)
		len[i] = strlen(argv[i]);
	strata_redis_commandv(j->b->redis, jitr_registered, j, 11, argv, len);
	free(pem);
}

/* Candidate {id, pem, status, auto_registration, template}: does it
 * apply?  Provisions and returns true when it does. */
static bool
jitp_try_ca(struct jitp *j, const redisReply *c, char *why, size_t whylen)
{
	X509 *ca;
	EVP_PKEY *pk;
	bool signs;
	json_t *tmpl;
	struct strata_provtemplate_plan plan;
	json_error_t jerr;

	if (c->type != REDIS_REPLY_ARRAY || c->elements != 5 ||
	    c->element[1]->type != REDIS_REPLY_STRING)
		return false;
	ca = broker_cert_from_pem(c->element[1]->str, c->element[1]->len);
	pk = ca != NULL ? X509_get0_pubkey(ca) : NULL;
	signs = pk != NULL && X509_verify(j->x509, pk) == 1;
	X509_free(ca);
	if (!signs)
		return false;
	if (c->element[2]->type != REDIS_REPLY_STRING ||
	    strcmp(c->element[2]->str, "ACTIVE") != 0 ||
	    c->element[3]->type != REDIS_REPLY_STRING ||
	    strcmp(c->element[3]->str, "1") != 0 ||
	    c->element[4]->type != REDIS_REPLY_STRING) {
		snprintf(why, whylen, "the signing CA %s is not ACTIVE or has "
		    "auto-registration off", c->element[0]->str);
		return false;
	}
	if (strcmp(c->element[4]->str, "-") == 0) {
		snprintf(why, whylen, "the template the CA %s names does not "
		    "exist, is not of type JITP or is disabled",
		    c->element[0]->str);
		return false;
	}
	if (c->element[4]->str[0] == '\0') {
		/* no template: just-in-time registration */
		jitr_register(j, c->element[0]->str);
		return true;
	}
	tmpl = json_loads(c->element[4]->str, 0, &jerr);
	if (tmpl == NULL || jitp_plan(tmpl, j->x509, j->id, &plan, why,
	    whylen) != 0) {
		if (tmpl == NULL)
			snprintf(why, whylen, "the CA's template is not JSON");
		json_decref(tmpl);
		return false;
	}
	json_decref(tmpl);
	jitp_provision(j, c->element[0]->str, &plan);
	strata_provtemplate_plan_free(&plan);
	return true;
}

static void
jitp_candidates(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct jitp *j = arg;
	char why[256] = "no registered CA signed the certificate";

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
		jitp_end(j, false, reply == NULL ? "Redis did not answer" :
		    "candidate lookup failed");
		return;
	}
	for (size_t i = 0; i < reply->elements; i++)
		if (jitp_try_ca(j, reply->element[i], why, sizeof(why)))
			return;
	jitp_end(j, false, why);
}

/* {id, pem, status, auto_registration, template} of each candidate; a
 * CA naming a provisioning template (registrationConfig.templateName)
 * gets that template's body when it exists, is of type JITP and
 * enabled, else "-" (not provisioned, not registered either). */
static const char jitp_candidates_script[] =
    "local out = {} "
    "for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do "
    "  local c = redis.call('HMGET', 'strata:ca:{' .. id .. '}', 'pem', "
    "    'status', 'auto_registration', 'template', 'template_name') "
    "  local t = c[4] or '' "
    "  if t == '' and c[5] and c[5] ~= '' then "
    "    local p = redis.call('HMGET', 'strata:prov-template:{' .. c[5] "
    "      .. '}', 'body', 'type', 'enabled') "
    "    if p[1] and p[2] == 'JITP' and p[3] == '1' then t = p[1] "
    "    else t = '-' end "
    "  end "
    "  if c[1] then out[#out + 1] = {id, c[1], c[2] or '', c[3] or '', "
    "    t} end "
    "end return out";

void
broker_jitp_start(struct strata_broker *b, const char *id, X509 *x509)
{
	struct jitp *j = calloc(1, sizeof(*j));
	char key[96];
	const char *argv[4];
	size_t len[4];

	if (j == NULL)
		abort();
	j->b = b;
	memcpy(j->id, id, sizeof(j->id));
	X509_up_ref(x509);
	j->x509 = x509;
	broker_cert_issuer_key(x509, true, key, sizeof(key));
	argv[0] = "EVAL";
	argv[1] = jitp_candidates_script;
	argv[2] = "1";
	argv[3] = key;
	for (int i = 0; i < 4; i++)
		len[i] = strlen(argv[i]);
	strata_redis_commandv(b->redis, jitp_candidates, j, 4, argv, len);
}
