/*
 * jitp.c - just-in-time provisioning: the first connection with a
 * certificate the registry does not know, signed by a registered CA that
 * carries a provisioning template and allows auto-registration, creates
 * the thing, the certificate and the policy the template describes, and
 * then goes on as a known device.
 *
 *   device.c: lookup answered UNKNOWN -> broker_jitp_start()
 *     -> candidates: the registered CAs whose subject is the
 *        certificate's issuer (one script)
 *     -> the one whose key signed it, ACTIVE, auto-registration on, with
 *        a template -> the template evaluated with the certificate's
 *        fields -> provisioning script (thing, certificate, policy,
 *        attachments; one atomic step)
 *     -> broker_device_jitp_done(provisioned) -> lookup again
 *   No such CA, or the template cannot be applied: done(false), the
 *   connection is refused as unknown (CONNACK 0x86) and a log line says
 *   why.
 *
 * Templates are AWS IoT's: "Parameters" (AWS::IoT::Certificate::Id,
 * CommonName, Country, Organization, OrganizationalUnit,
 * DistinguishedNameQualifier, StateName, SerialNumber) and "Resources"
 * of Type AWS::IoT::Thing (ThingName, ThingTypeName, AttributePayload),
 * AWS::IoT::Certificate (CertificateId, Status) and AWS::IoT::Policy
 * (PolicyName and/or PolicyDocument); values are strings, {"Ref": P} or
 * {"Fn::Join": [sep, [parts]]}.  A policy given by document only is named
 * "jitp-" and the first 16 hex digits of the document's SHA-256, so that
 * devices provisioned from one template share one policy.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "broker.h"
#include "policy.h"

struct jitp {
	struct strata_broker *b;
	char id[BROKER_CERT_ID_LEN + 1];
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

/* The value of parameter name for x ("" when the field is absent). */
static const char *
jitp_param(X509 *x, const char *id, const char *name, char *buf, size_t len)
{
	static const struct {
		const char *param, *field;
	} map[] = {
		{"CommonName", "Subject.CommonName"},
		{"Country", "Subject.Country"},
		{"Organization", "Subject.Organization"},
		{"OrganizationalUnit", "Subject.OrganizationalUnit"},
		{"DistinguishedNameQualifier",
		    "Subject.DistinguishedNameQualifier"},
		{"StateName", "Subject.State"},
		{"SerialNumber", "Subject.SerialNumber"},
	};
	const char *p = "AWS::IoT::Certificate::";

	if (strncmp(name, p, strlen(p)) != 0)
		return NULL;
	name += strlen(p);
	if (strcmp(name, "Id") == 0)
		return id;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcmp(name, map[i].param) != 0)
			continue;
		if (x == NULL)
			return "";
		return broker_cert_field(x, map[i].field, buf, len) != NULL ?
		    buf : "";
	}
	return NULL;
}

/* A template value as a string: "s", {"Ref": P}, {"Fn::Join": [sep,
 * [parts]]}.  With x NULL only checked (names resolve to "").  NULL with
 * err set when it is none of those. */
static char *
jitp_value(const json_t *v, X509 *x, const char *id, char *err,
    size_t errlen)
{
	const json_t *ref = json_object_get(v, "Ref");
	const json_t *join = json_object_get(v, "Fn::Join");
	char buf[256];

	if (json_is_string(v))
		return strdup(json_string_value(v));
	if (json_is_string(ref)) {
		const char *s = jitp_param(x, id, json_string_value(ref), buf,
		    sizeof(buf));

		if (s == NULL)
			snprintf(err, errlen, "unknown parameter %s",
			    json_string_value(ref));
		return s != NULL ? strdup(s) : NULL;
	}
	if (json_is_array(join) && json_array_size(join) == 2 &&
	    json_is_string(json_array_get(join, 0)) &&
	    json_is_array(json_array_get(join, 1))) {
		const char *sep = json_string_value(json_array_get(join, 0));
		const json_t *parts = json_array_get(join, 1), *p;
		size_t i, n = 1;
		char *out = calloc(1, 1), *s;

		json_array_foreach(parts, i, p) {
			s = jitp_value(p, x, id, err, errlen);
			if (s == NULL || out == NULL) {
				free(s);
				free(out);
				return NULL;
			}
			n += strlen(s) + (i > 0 ? strlen(sep) : 0);
			out = realloc(out, n);
			if (out == NULL)
				abort();
			if (i > 0)
				strcat(out, sep);
			strcat(out, s);
			free(s);
		}
		return out;
	}
	snprintf(err, errlen, "a value must be a string, Ref or Fn::Join");
	return NULL;
}

/* What a template provisions. */
struct jitp_plan {
	char *thing, *type, *attrs;       /* thing: NULL for none */
	char *status;                     /* of the certificate */
	char *policy_name, *policy_doc;   /* either may be NULL */
};

static void
jitp_plan_free(struct jitp_plan *p)
{
	free(p->thing);
	free(p->type);
	free(p->attrs);
	free(p->status);
	free(p->policy_name);
	free(p->policy_doc);
	memset(p, 0, sizeof(*p));
}

static bool
jitp_prop(const json_t *props, const char *name, X509 *x, const char *id,
    char **out, char *err, size_t errlen)
{
	const json_t *v = json_object_get(props, name);

	if (v == NULL)
		return true;
	*out = jitp_value(v, x, id, err, errlen);
	return *out != NULL;
}

static bool
jitp_thing(const json_t *props, X509 *x, const char *id,
    struct jitp_plan *p, char *err, size_t errlen)
{
	const json_t *ap = json_object_get(props, "AttributePayload"), *v;
	json_t *attrs = json_object();
	const char *k;
	char *s;

	if (!jitp_prop(props, "ThingName", x, id, &p->thing, err, errlen) ||
	    !jitp_prop(props, "ThingTypeName", x, id, &p->type, err, errlen))
		goto fail;
	if (p->thing == NULL) {
		snprintf(err, errlen, "AWS::IoT::Thing needs ThingName");
		goto fail;
	}
	/* the values may come from the device's certificate: checked as
	 * the admin API checks names (with x NULL, names resolve to "") */
	if (x != NULL && (!broker_registry_name_valid(p->thing) ||
	    (p->type != NULL && !broker_registry_name_valid(p->type)))) {
		snprintf(err, errlen, "ThingName or ThingTypeName from the "
		    "template is not a valid name ([a-zA-Z0-9:_-]+, 1 to "
		    "128)");
		goto fail;
	}
	json_object_foreach((json_t *)ap, k, v) {
		s = jitp_value(v, x, id, err, errlen);
		if (s == NULL)
			goto fail;
		json_object_set_new(attrs, k, json_string(s));
		free(s);
	}
	p->attrs = json_dumps(attrs, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(attrs);
	return true;
fail:
	json_decref(attrs);
	return false;
}

static bool
jitp_policy(const json_t *props, X509 *x, const char *id,
    struct jitp_plan *p, char *err, size_t errlen)
{
	unsigned char md[32];
	unsigned int n;
	struct strata_policy_error perr;
	struct strata_policy *pol;

	if (!jitp_prop(props, "PolicyName", x, id, &p->policy_name, err,
	    errlen) || !jitp_prop(props, "PolicyDocument", x, id,
	    &p->policy_doc, err, errlen))
		return false;
	if (p->policy_name == NULL && p->policy_doc == NULL) {
		snprintf(err, errlen, "AWS::IoT::Policy needs PolicyName or "
		    "PolicyDocument");
		return false;
	}
	if (p->policy_doc != NULL) {
		pol = strata_policy_parse(p->policy_doc,
		    strlen(p->policy_doc), &perr);
		if (pol == NULL) {
			snprintf(err, errlen, "PolicyDocument: %s%s%s",
			    perr.path, perr.path[0] != '\0' ? ": " : "",
			    perr.message);
			return false;
		}
		strata_policy_free(pol);
	}
	if (p->policy_name == NULL) {
		EVP_Digest(p->policy_doc, strlen(p->policy_doc), md, &n,
		    EVP_sha256(), NULL);
		p->policy_name = malloc(5 + 16 + 1);
		if (p->policy_name == NULL)
			abort();
		strcpy(p->policy_name, "jitp-");
		for (int i = 0; i < 8; i++)
			sprintf(p->policy_name + 5 + 2 * i, "%02x", md[i]);
	}
	if (x != NULL && !broker_registry_name_valid(p->policy_name)) {
		snprintf(err, errlen, "PolicyName from the template is not a "
		    "valid name ([a-zA-Z0-9:_-]+, 1 to 128)");
		return false;
	}
	return true;
}

/* Evaluate (x NULL: only check) the template into plan. */
static bool
jitp_plan(const json_t *tmpl, X509 *x, const char *id, struct jitp_plan *p,
    char *err, size_t errlen)
{
	const json_t *res = json_object_get(tmpl, "Resources"), *r;
	const char *k;
	unsigned seen = 0;

	memset(p, 0, sizeof(*p));
	if (!json_is_object(res)) {
		snprintf(err, errlen, "the template has no Resources object");
		return false;
	}
	json_object_foreach((json_t *)res, k, r) {
		const char *type = json_string_value(json_object_get(r, "Type"));
		const json_t *props = json_object_get(r, "Properties");
		unsigned kind;
		bool ok;

		if (type == NULL || !json_is_object(props)) {
			snprintf(err, errlen, "resource %s needs Type and "
			    "Properties", k);
			return false;
		}
		kind = strcmp(type, "AWS::IoT::Thing") == 0 ? 1 :
		    strcmp(type, "AWS::IoT::Policy") == 0 ? 2 :
		    strcmp(type, "AWS::IoT::Certificate") == 0 ? 4 : 0;
		if (kind != 0 && (seen & kind)) {
			snprintf(err, errlen, "resource %s: a second %s", k,
			    type);
			return false;
		}
		seen |= kind;
		if (kind == 1)
			ok = jitp_thing(props, x, id, p, err, errlen);
		else if (kind == 2)
			ok = jitp_policy(props, x, id, p, err, errlen);
		else if (kind == 4)
			ok = jitp_prop(props, "Status", x, id, &p->status, err,
			    errlen);
		else {
			snprintf(err, errlen, "resource %s: Type %s is not "
			    "supported", k, type);
			ok = false;
		}
		if (!ok)
			return false;
	}
	if (p->status == NULL)
		p->status = strdup("ACTIVE");
	if (strcmp(p->status, "ACTIVE") != 0 &&
	    strcmp(p->status, "INACTIVE") != 0) {
		snprintf(err, errlen, "certificate Status must be ACTIVE or "
		    "INACTIVE");
		return false;
	}
	return true;
}

bool
broker_jitp_template_valid(const json_t *tmpl, char *err, size_t errlen)
{
	struct jitp_plan p;
	bool ok = jitp_plan(tmpl, NULL, "0", &p, err, errlen);

	jitp_plan_free(&p);
	return ok;
}

char *
broker_jitp_evaluate(const json_t *tmpl, X509 *x, const char *id, char *err,
    size_t errlen)
{
	struct jitp_plan p;
	json_t *o;
	char *out = NULL;

	if (jitp_plan(tmpl, x, id, &p, err, errlen)) {
		o = json_pack("{s:s?, s:s?, s:s?, s:s, s:s?, s:s?}", "thing",
		    p.thing, "type", p.type, "attributes", p.attrs, "status",
		    p.status, "policy", p.policy_name, "document",
		    p.policy_doc);
		out = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
	}
	jitp_plan_free(&p);
	return out;
}

/* ---- provisioning ---- */

/* KEYS: thing, things, cert, certs, policy, policies, thing-principals,
 * cert-things, cert-policies, policy-targets.
 * ARGV: thing ("" none), type, attributes, id, pem, status, ca, now,
 * not_before, not_after, policy name, policy document ("" none),
 * thing id.  A new thing's type must exist and not be deprecated, and
 * its attributes be at most 3 without a type (50 with), as CreateThing's
 * (nothing is made otherwise). */
static const char jitp_script[] =
    "if ARGV[1] ~= '' and ARGV[2] ~= '' and "
    "    redis.call('EXISTS', KEYS[1]) == 0 then "
    "  local tt = redis.call('HMGET', 'strata:thing-type:{' .. ARGV[2] .. "
    "    '}', 'name', 'deprecated') "
    "  if not tt[1] then return redis.error_reply('thing type ' .. "
    "    ARGV[2] .. ' does not exist') end "
    "  if tt[2] == '1' then return redis.error_reply('thing type ' .. "
    "    ARGV[2] .. ' is deprecated') end "
    "end "
    "if ARGV[1] ~= '' then "
    "  local n = 0 for _ in pairs(cjson.decode(ARGV[3])) do n = n + 1 end "
    "  if (ARGV[2] == '' and n > 3) or n > 50 then return "
    "    redis.error_reply('a thing without a thing type has at most 3 "
    "attributes, with one 50') end "
    "end "
    "if ARGV[1] ~= '' and redis.call('EXISTS', KEYS[1]) == 0 then "
    "  redis.call('HSET', KEYS[1], 'name', ARGV[1], 'type', ARGV[2], "
    "    'attributes', ARGV[3], 'version', 1, 'created', ARGV[8], "
    "    'id', ARGV[13]) "
    "  redis.call('SADD', KEYS[2], ARGV[1]) end "
    "if ARGV[11] ~= '' and redis.call('EXISTS', KEYS[5]) == 0 then "
    "  if ARGV[12] == '' then return redis.error_reply('policy ' .. "
    "    ARGV[11] .. ' does not exist') end "
    "  redis.call('HSET', KEYS[5], 'document', ARGV[12], 'created', "
    "    ARGV[8], 'modified', ARGV[8]) "
    "  redis.call('SADD', KEYS[6], ARGV[11]) end "
    "if redis.call('EXISTS', KEYS[3]) == 0 then "
    "  redis.call('HSET', KEYS[3], 'pem', ARGV[5], 'status', ARGV[6], "
    "    'ca', ARGV[7], 'created', ARGV[8], 'modified', ARGV[8], "
    "    'not_before', ARGV[9], 'not_after', ARGV[10]) "
    "  redis.call('SADD', KEYS[4], ARGV[4]) end "
    "if ARGV[1] ~= '' then redis.call('SADD', KEYS[7], ARGV[4]) "
    "  redis.call('SADD', KEYS[8], ARGV[1]) end "
    "if ARGV[11] ~= '' then redis.call('SADD', KEYS[9], ARGV[11]) "
    "  redis.call('SADD', KEYS[10], ARGV[4]) end "
    "return 1";

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
jitp_provision(struct jitp *j, const char *ca_id, const struct jitp_plan *p)
{
	char k[10][BROKER_REGISTRY_KEY_MAX], now[24], nb[24], na[24], uuid[40];
	const char *thing = p->thing != NULL ? p->thing : "";
	const char *pol = p->policy_name != NULL ? p->policy_name : "";
	char *pem = broker_cert_to_pem(j->x509);
	const char *argv[3 + 10 + 13];
	size_t len[3 + 10 + 13];
	int n = 0;

	broker_registry_key(k[0], "thing", thing);
	broker_registry_key(k[2], "cert", j->id);
	broker_registry_key(k[4], "policy", pol);
	broker_registry_key(k[6], "thing-principals", thing);
	broker_registry_key(k[7], "cert-things", j->id);
	broker_registry_key(k[8], "cert-policies", j->id);
	broker_registry_key(k[9], "policy-targets", pol);
	strcpy(k[1], "strata:things");
	strcpy(k[3], "strata:certs");
	strcpy(k[5], "strata:policies");
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	snprintf(nb, sizeof(nb), "%lld",
	    (long long)broker_cert_time(X509_get0_notBefore(j->x509)));
	snprintf(na, sizeof(na), "%lld",
	    (long long)broker_cert_time(X509_get0_notAfter(j->x509)));
	snprintf(uuid, sizeof(uuid), "jitp-%.24s", j->id);
	argv[n++] = "EVAL";
	argv[n++] = jitp_script;
	argv[n++] = "10";
	for (int i = 0; i < 10; i++)
		argv[n++] = k[i];
	argv[n++] = thing;
	argv[n++] = p->type != NULL ? p->type : "";
	argv[n++] = p->attrs != NULL ? p->attrs : "{}";
	argv[n++] = j->id;
	argv[n++] = pem != NULL ? pem : "";
	argv[n++] = p->status;
	argv[n++] = ca_id;
	argv[n++] = now;
	argv[n++] = nb;
	argv[n++] = na;
	argv[n++] = pol;
	argv[n++] = p->policy_doc != NULL ? p->policy_doc : "";
	argv[n++] = uuid;
	for (int i = 0; i < n; i++)
		len[i] = strlen(argv[i]);
	strata_redis_commandv(j->b->redis, jitp_provisioned, j, n, argv, len);
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
	struct jitp_plan plan;
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
	    c->element[4]->type != REDIS_REPLY_STRING ||
	    c->element[4]->str[0] == '\0') {
		snprintf(why, whylen, "the signing CA %s is not ACTIVE, has "
		    "auto-registration off or no template",
		    c->element[0]->str);
		return false;
	}
	tmpl = json_loads(c->element[4]->str, 0, &jerr);
	if (tmpl == NULL || !jitp_plan(tmpl, j->x509, j->id, &plan, why,
	    whylen)) {
		json_decref(tmpl);
		jitp_plan_free(&plan);
		return false;
	}
	json_decref(tmpl);
	jitp_provision(j, c->element[0]->str, &plan);
	jitp_plan_free(&plan);
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

static const char jitp_candidates_script[] =
    "local out = {} "
    "for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do "
    "  local c = redis.call('HMGET', 'strata:ca:{' .. id .. '}', 'pem', "
    "    'status', 'auto_registration', 'template') "
    "  if c[1] then out[#out + 1] = {id, c[1], c[2] or '', c[3] or '', "
    "    c[4] or ''} end "
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
