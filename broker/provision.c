/*
 * provision.c - apply what a provisioning template evaluated to
 * (common/provtemplate.c) to the registry in one atomic step; shared by
 * just-in-time provisioning (jitp.c) and fleet provisioning (fleet.c).
 *
 * One Lua script first checks everything that can refuse (the ownership
 * token of fleet provisioning, the thing groups, a new thing's type and
 * attributes, a policy named but not given), then writes: the thing when missing (type, attributes, id), its
 * groups, the policy when given by document and missing, the certificate
 * (created when missing, else its status set), the attachments; then
 * tells the brokers on strata:registry.  Lua has no rollback: nothing is
 * written before every check passed.
 *
 * A refusal is an error reply "<Kind> <message>": Token (the token is
 * gone, expired, used, or another claim certificate's), NotFound (a group,
 * a thing type or a named policy does not exist), Invalid (a new thing's
 * type is deprecated, or it has more attributes than CreateThing allows:
 * 3 without a type, 50 with one).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker.h"
#include "provtemplate.h"
#include "uuid.h"

/* KEYS: thing, cert, policy, thing-principals, cert-things,
 *   cert-policies, policy-targets, token (checked when a claim id is
 *   given), thing-groups-of
 * ARGV: thing ("" none), type, attributes, cert id, pem, status, ca,
 *   now, not_before, not_after, policy name ("" none), policy document
 *   ("" none), thing id, groups (JSON array), claim id (with a token) */
static const char provision_script[] =
    "if ARGV[15] ~= '' then "
    "  local claim = redis.call('HGET', KEYS[8], 'claim') "
    "  local cert = redis.call('HGET', KEYS[8], 'cert') "
    "  if not claim or claim ~= ARGV[15] or cert ~= ARGV[4] then "
    "    return redis.error_reply('Token the certificate ownership token "
    "is not valid (unknown, expired or used)') end "
    "end "
    "local groups = cjson.decode(ARGV[14]) "
    "for _, g in ipairs(groups) do "
    "  if redis.call('EXISTS', 'strata:thing-group:{' .. g .. '}') == 0 "
    "  then return redis.error_reply('NotFound thing group ' .. g .. "
    "    ' does not exist') end end "
    "if ARGV[1] ~= '' and redis.call('EXISTS', KEYS[1]) == 0 then "
    "  if ARGV[2] ~= '' then "
    "    local tt = redis.call('HMGET', 'strata:thing-type:{' .. ARGV[2] "
    "      .. '}', 'name', 'deprecated') "
    "    if not tt[1] then return redis.error_reply('NotFound thing type ' "
    "      .. ARGV[2] .. ' does not exist') end "
    "    if tt[2] == '1' then return redis.error_reply('Invalid thing type "
    "' .. ARGV[2] .. ' is deprecated') end "
    "  end "
    "  local n = 0 for _ in pairs(cjson.decode(ARGV[3])) do n = n + 1 end "
    "  if (ARGV[2] == '' and n > 3) or n > 50 then return "
    "    redis.error_reply('Invalid a thing without a thing type has at "
    "most 3 attributes, with one 50') end "
    "end "
    "if ARGV[11] ~= '' and ARGV[12] == '' and "
    "  redis.call('EXISTS', KEYS[3]) == 0 then "
    "  return redis.error_reply('NotFound policy ' .. ARGV[11] .. "
    "    ' does not exist') end "
    "if ARGV[15] ~= '' then redis.call('DEL', KEYS[8]) end "
    "if ARGV[1] ~= '' and redis.call('EXISTS', KEYS[1]) == 0 then "
    "  redis.call('HSET', KEYS[1], 'name', ARGV[1], 'type', ARGV[2], "
    "    'attributes', ARGV[3], 'version', 1, 'created', ARGV[8], "
    "    'id', ARGV[13]) "
    "  redis.call('SADD', 'strata:things', ARGV[1]) end "
    "for _, g in ipairs(groups) do "
    "  redis.call('SADD', 'strata:group-things:{' .. g .. '}', ARGV[1]) "
    "  redis.call('SADD', KEYS[9], g) end "
    "if ARGV[11] ~= '' and redis.call('EXISTS', KEYS[3]) == 0 then "
    "  redis.call('HSET', KEYS[3], 'document', ARGV[12], 'created', "
    "    ARGV[8], 'modified', ARGV[8]) "
    "  redis.call('SADD', 'strata:policies', ARGV[11]) end "
    "if redis.call('EXISTS', KEYS[2]) == 0 then "
    "  redis.call('HSET', KEYS[2], 'pem', ARGV[5], 'status', ARGV[6], "
    "    'ca', ARGV[7], 'created', ARGV[8], 'modified', ARGV[8], "
    "    'not_before', ARGV[9], 'not_after', ARGV[10]) "
    "  redis.call('SADD', 'strata:certs', ARGV[4]) "
    "else redis.call('HSET', KEYS[2], 'status', ARGV[6], 'modified', "
    "  ARGV[8]) end "
    "if ARGV[1] ~= '' then redis.call('SADD', KEYS[4], ARGV[4]) "
    "  redis.call('SADD', KEYS[5], ARGV[1]) end "
    "if ARGV[11] ~= '' then redis.call('SADD', KEYS[6], ARGV[11]) "
    "  redis.call('SADD', KEYS[7], ARGV[4]) end "
    "redis.call('PUBLISH', 'strata:registry', 'cert ' .. ARGV[4]) "
    "if ARGV[1] ~= '' then "
    "  redis.call('PUBLISH', 'strata:registry', 'thing ' .. ARGV[1]) end "
    "return 1";

void
broker_provision_params(json_t *params, X509 *x, const char *id)
{
	static const struct {
		const char *param, *field;
	} map[] = {
		{"AWS::IoT::Certificate::CommonName", "Subject.CommonName"},
		{"AWS::IoT::Certificate::Country", "Subject.Country"},
		{"AWS::IoT::Certificate::Organization",
		    "Subject.Organization"},
		{"AWS::IoT::Certificate::OrganizationalUnit",
		    "Subject.OrganizationalUnit"},
		{"AWS::IoT::Certificate::DistinguishedNameQualifier",
		    "Subject.DistinguishedNameQualifier"},
		{"AWS::IoT::Certificate::StateName", "Subject.State"},
		{"AWS::IoT::Certificate::SerialNumber", "Subject.SerialNumber"},
	};
	char buf[256];
	const char *v;

	json_object_set_new(params, "AWS::IoT::Certificate::Id",
	    json_string(id));
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		v = x != NULL ? broker_cert_field(x, map[i].field, buf,
		    sizeof(buf)) : NULL;
		/* a field that is not UTF-8 gives NULL: absent */
		json_object_set_new(params, map[i].param,
		    json_string(v != NULL ? v : ""));
	}
}

void
broker_provision_apply(struct strata_broker *b,
    const struct broker_provision *pv, strata_redis_cb done, void *arg)
{
	const struct strata_provtemplate_plan *p = pv->plan;
	char k[9][BROKER_REGISTRY_KEY_MAX], now[24], nb[24], na[24];
	char uuid[STRATA_UUID_LEN + 1];
	const char *thing = p->thing != NULL ? p->thing : "";
	const char *pol = p->policy_name != NULL ? p->policy_name : "";
	char *groups = json_dumps(p->groups, JSON_COMPACT);
	const char *argv[3 + 9 + 15];
	size_t len[3 + 9 + 15];
	int n = 0;

	if (groups == NULL)
		abort();
	broker_registry_key(k[0], "thing", thing);
	broker_registry_key(k[1], "cert", pv->cert_id);
	broker_registry_key(k[2], "policy", pol);
	broker_registry_key(k[3], "thing-principals", thing);
	broker_registry_key(k[4], "cert-things", pv->cert_id);
	broker_registry_key(k[5], "cert-policies", pv->cert_id);
	broker_registry_key(k[6], "policy-targets", pol);
	/* a key of the namespace even when unused: ACLs check every key */
	snprintf(k[7], sizeof(k[7]), "%s", pv->token_key != NULL ?
	    pv->token_key : "strata:prov-token:{-}");
	broker_registry_key(k[8], "thing-groups-of", thing);
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	broker_cert_validity(pv->x509, nb, na);
	strata_uuid4(uuid);
	argv[n++] = "EVAL";
	argv[n++] = provision_script;
	argv[n++] = "9";
	for (int i = 0; i < 9; i++)
		argv[n++] = k[i];
	argv[n++] = thing;
	argv[n++] = p->thing_type != NULL ? p->thing_type : "";
	argv[n++] = p->attributes != NULL ? p->attributes : "{}";
	argv[n++] = pv->cert_id;
	argv[n++] = pv->pem;
	argv[n++] = p->cert_status;
	argv[n++] = pv->ca_id;
	argv[n++] = now;
	argv[n++] = nb;
	argv[n++] = na;
	argv[n++] = pol;
	argv[n++] = p->policy_doc != NULL ? p->policy_doc : "";
	argv[n++] = uuid;
	argv[n++] = groups;
	argv[n++] = pv->claim_id != NULL ? pv->claim_id : "";
	for (int i = 0; i < n; i++)
		len[i] = strlen(argv[i]);
	strata_redis_commandv(b->redis, done, arg, n, argv, len);
	free(groups);
}
