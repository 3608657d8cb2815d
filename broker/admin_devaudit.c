/*
 * admin_devaudit.c - Device Defender Audit in the admin API:
 * UpdateAccountAuditConfiguration, DescribeAccountAuditConfiguration,
 * StartOnDemandAuditTask, DescribeAuditTask, ListAuditTasks,
 * ListAuditFindings, and the DAILY scheduled audits
 * (docs/internals/audit.md has the checks, their criteria and the keys).
 *
 * An audit task's life:
 *
 *   StartOnDemandAuditTask, or a scheduled audit claimed by the timer
 *   (every AUDIT_TICK_SECONDS on each broker with the admin API: one
 *   script moves its next run a day on and writes its task) ->
 *   IN_PROGRESS -> the broker that wrote it runs the steps: one Lua
 *   script per page of at most AUDIT_PAGE members of strata:certs, then
 *   of strata:cas, then of strata:policies (SSCAN), each writing its
 *   findings and counts; then, when asked for, the key quality pages
 *   (PEMs read by one script, judged here with OpenSSL, findings written
 *   by another) -> the last step (the logging check, from this broker's
 *   configuration) -> COMPLETED.  A step Redis refuses -> FAILED.  A
 *   broker that stops in between leaves the task IN_PROGRESS until it
 *   expires (AUDIT_TTL).
 *
 * No page blocks the event loop or Redis for longer than AUDIT_PAGE
 * registry records take.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "admin.h"
#include "keyquality.h"
#include "log.h"
#include "uuid.h"

#define AUDIT_PAGE "200"
#define AUDIT_TTL "7776000"     /* 90 days, as AWS keeps results */
#define AUDIT_EXPIRING "2592000" /* 30 days */
#define AUDIT_FINDINGS_MAX 250

struct audit_check {
	const char *name;   /* severities are in the scripts' findings */
};

/* The checks Strata runs (audit.md); the auto-registration one is
 * Strata's own. */
static const struct audit_check audit_checks[] = {
	{"IOT_POLICY_OVERLY_PERMISSIVE_CHECK"},
	{"DEVICE_CERTIFICATE_SHARED_CHECK"},
	{"DEVICE_CERTIFICATE_EXPIRING_CHECK"},
	{"REVOKED_CA_CERTIFICATE_STILL_ACTIVE_CHECK"},
	{"REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE_CHECK"},
	{"CA_CERTIFICATE_EXPIRING_CHECK"},
	{"LOGGING_DISABLED_CHECK"},
	{"CA_CERTIFICATE_AUTO_REGISTRATION_ENABLED_CHECK"},
	{"DEVICE_CERTIFICATE_KEY_QUALITY_CHECK"},
	{"CA_CERTIFICATE_KEY_QUALITY_CHECK"},
	{NULL},
};

static const struct audit_check *
audit_check_find(const char *name)
{
	for (const struct audit_check *c = audit_checks; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

/* ---- configuration ---- */

/* The configuration as a flat HGETALL of strata:audit-config; a check
 * absent from it is enabled (audit.md). */
static const char script_describe_config[] =
    "return redis.call('HGETALL', KEYS[1])";

static void
audit_config_described(struct admin_call *call, redisReply *reply)
{
	json_t *o = json_object(), *checks = json_object();

	for (const struct audit_check *c = audit_checks; c->name; c++) {
		const char *v = admin_field(reply, c->name);
		json_t *e = json_object();

		json_object_set_new(e, "enabled", json_boolean(v == NULL ||
		    strcmp(v, "1") == 0));
		json_object_set_new(checks, c->name, e);
	}
	json_object_set_new(o, "auditNotificationTargetConfigurations",
	    json_object());
	json_object_set_new(o, "auditCheckConfigurations", checks);
	admin_reply(call, o);
}

static void
op_describe_audit_config(struct admin_call *call)
{
	admin_eval(call, script_describe_config, 1, 1,
	    (const char *[]){"strata:audit-config"}, audit_config_described);
}

/* ARGV: "NAME=0 NAME=1 ..." */
static const char script_update_config[] =
    "for k, v in string.gmatch(ARGV[1], '([A-Z_]+)=([01])') do "
    "  redis.call('HSET', KEYS[1], k, v) end "
    "return 'OK'";

/* auditCheckConfigurations as "NAME=0 NAME=1" into out; false after a
 * 400. */
static bool
audit_config_pairs(struct admin_call *call, json_t *cfgs, char *out,
    size_t len)
{
	const char *name;
	json_t *v;

	out[0] = '\0';
	json_object_foreach(cfgs, name, v) {
		json_t *en = json_is_object(v) ? json_object_get(v, "enabled") :
		    NULL;
		size_t used = strlen(out);

		if (audit_check_find(name) == NULL) {
			admin_error(call, 400, "InvalidRequestException",
			    "auditCheckConfigurations", "unknown audit check "
			    "%s", name);
			return false;
		}
		if (en == NULL || !json_is_boolean(en)) {
			admin_error(call, 400, "InvalidRequestException",
			    "auditCheckConfigurations", "%s.enabled must be "
			    "true or false", name);
			return false;
		}
		snprintf(out + used, len - used, "%s=%d ", name,
		    json_is_true(en) ? 1 : 0);
	}
	return true;
}

static void
op_update_audit_config(struct admin_call *call)
{
	json_t *cfgs = call->body != NULL ?
	    json_object_get(call->body, "auditCheckConfigurations") : NULL;
	char pairs[1024];

	if (call->body != NULL && !json_is_object(call->body)) {
		admin_error(call, 400, "InvalidRequestException", NULL,
		    "the body must be a JSON object");
		return;
	}
	if (cfgs == NULL) {   /* roleArn, notifications only: nothing kept */
		admin_reply(call, NULL);
		return;
	}
	if (!json_is_object(cfgs)) {
		admin_error(call, 400, "InvalidRequestException",
		    "auditCheckConfigurations", "auditCheckConfigurations "
		    "must be an object of checks");
		return;
	}
	if (!audit_config_pairs(call, cfgs, pairs, sizeof(pairs)))
		return;
	admin_eval(call, script_update_config, 1, 2, (const char *[]){
	    "strata:audit-config", pairs}, admin_done_empty);
}

/* ---- the run ---- */

/* One page of one phase.  KEYS: task, findings, scratch;
 * ARGV: taskId, phase (certs, cas, policies), cursor, now, checks
 * (",A,B,"), ttl, expiring window, page size, start time.
 * Returns the next cursor ("0": the phase is done). */
static const char script_step[] =
    "local task, ph, now = ARGV[1], ARGV[2], tonumber(ARGV[4]) "
    "local soon = now + tonumber(ARGV[7]) "
    "local function on(c) return string.find(ARGV[5], ','..c..',', 1, "
    "  true) ~= nil end "
    "local function total(c) if on(c) then "
    "  redis.call('HINCRBY', KEYS[1], 'total:'..c, 1) end end "
    "local function find(c, sev, rtype, rid, reason, code) "
    "  if not on(c) then return end "
    "  local n = redis.call('HINCRBY', KEYS[1], 'nfindings', 1) "
    "  redis.call('HINCRBY', KEYS[1], 'nc:'..c, 1) "
    "  redis.call('RPUSH', KEYS[2], cjson.encode({findingId = task .. "
    "    '-' .. n, taskId = task, checkName = c, taskStartTime = "
    "    tonumber(ARGV[9]), findingTime = now, severity = sev, "
    "    nonCompliantResource = {resourceType = rtype, "
    "    resourceIdentifier = rid}, reasonForNonCompliance = reason, "
    "    reasonForNonComplianceCode = code, isSuppressed = false})) "
    "  redis.call('EXPIRE', KEYS[2], ARGV[6]) end "
    "local set = {certs = 'strata:certs', cas = 'strata:cas', "
    "  policies = 'strata:policies'} "
    "local r = redis.call('SSCAN', set[ph], ARGV[3], 'COUNT', ARGV[8]) "
    "local function expiring(c, sev, rtype, rid, na, what) "
    "  total(c) na = tonumber(na) if not na then return end "
    "  if na <= now then find(c, sev, rtype, rid, what .. ' expired at ' "
    "    .. na, 'CERTIFICATE_EXPIRED') "
    "  elseif na <= soon then find(c, sev, rtype, rid, what .. ' expires "
    "    at ' .. na .. ', within ' .. math.floor(tonumber(ARGV[7]) / "
    "    86400) .. ' days', 'CERTIFICATE_EXPIRING') end end "
    "local function list(v) if type(v) == 'string' then return {v} end "
    "  if type(v) == 'table' then return v end return {} end "
    "local function glob(p, s) "
    "  local q = string.gsub(string.lower(p), '[%^%$%(%)%%%.%[%]%+%-]', "
    "    '%%%0') q = string.gsub(q, '%*', '.*') "
    "  q = string.gsub(q, '%?', '.') "
    "  return string.find(string.lower(s), '^' .. q .. '$') ~= nil end "
    "local dp = {'iot:Connect', 'iot:Publish', 'iot:Subscribe', "
    "  'iot:Receive'} "
    "local function broad(res) "
    "  if res == '*' then return true end "
    "  if string.find(res, '^arn:aws:iot:[^:]*:[^:]*:%*$') then "
    "    return true end "
    "  return string.find(res, "
    "    '^arn:aws:iot:[^:]*:[^:]*:[a-z]+/%*$') ~= nil end "
    "local function permissive(doc) "
    "  local ok, d = pcall(cjson.decode, doc) "
    "  if not ok or type(d) ~= 'table' then return nil end "
    "  local st = d.Statement "
    "  if type(st) == 'table' and st.Effect then st = {st} end "
    "  for _, s in ipairs(list(st)) do "
    "    if type(s) == 'table' and s.Effect == 'Allow' then "
    "      for _, a in ipairs(list(s.Action)) do "
    "        if a == '*' or string.lower(a) == 'iot:*' then "
    "          return 'the policy allows ' .. a .. ', every action, to ' "
    "            .. table.concat(list(s.Resource), ' ') end "
    "        for _, x in ipairs(dp) do if glob(a, x) then "
    "          for _, res in ipairs(list(s.Resource)) do "
    "            if broad(res) then return 'the policy allows ' .. x .. "
    "              ' on ' .. res .. ', every resource of the kind' end "
    "          end end end end end end "
    "  return nil end "
    "for _, id in ipairs(r[2]) do "
    "  if ph == 'certs' then "
    "    local c = redis.call('HMGET', 'strata:cert:{'..id..'}', "
    "      'status', 'ca', 'not_after') "
    "    if c[1] == 'ACTIVE' then "
    "      local rid = {deviceCertificateId = id} "
    "      total('DEVICE_CERTIFICATE_SHARED_CHECK') "
    "      local things = redis.call('SMEMBERS', "
    "        'strata:cert-things:{'..id..'}') table.sort(things) "
    "      if #things > 1 then find('DEVICE_CERTIFICATE_SHARED_CHECK', "
    "        'CRITICAL', 'DEVICE_CERTIFICATE', rid, 'the certificate is "
    "        attached to ' .. #things .. ' things: ' .. "
    "        table.concat(things, ', '), "
    "        'CERTIFICATE_SHARED_BY_MULTIPLE_DEVICES') end "
    "      expiring('DEVICE_CERTIFICATE_EXPIRING_CHECK', 'MEDIUM', "
    "        'DEVICE_CERTIFICATE', rid, c[3], 'the certificate') "
    "      total('REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE_CHECK') "
    "      if c[2] and c[2] ~= '' and redis.call('HGET', "
    "        'strata:ca:{'..c[2]..'}', 'status') == 'REVOKED' then "
    "        redis.call('HINCRBY', KEYS[3], c[2], 1) "
    "        redis.call('EXPIRE', KEYS[3], ARGV[6]) "
    "        find('REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE_CHECK', "
    "          'MEDIUM', 'DEVICE_CERTIFICATE', rid, 'the certificate is "
    "          ACTIVE but its CA ' .. c[2] .. ' is REVOKED', "
    "          'CERTIFICATE_REVOKED_BY_ISSUER') end "
    "    end "
    "  elseif ph == 'cas' then "
    "    local c = redis.call('HMGET', 'strata:ca:{'..id..'}', 'status', "
    "      'not_after', 'auto_registration') "
    "    local rid = {caCertificateId = id} "
    "    if c[1] == 'ACTIVE' then "
    "      expiring('CA_CERTIFICATE_EXPIRING_CHECK', 'HIGH', "
    "        'CA_CERTIFICATE', rid, c[2], 'the CA certificate') "
    "      total('CA_CERTIFICATE_AUTO_REGISTRATION_ENABLED_CHECK') "
    "      if c[3] == '1' then "
    "        find('CA_CERTIFICATE_AUTO_REGISTRATION_ENABLED_CHECK', "
    "          'MEDIUM', 'CA_CERTIFICATE', rid, 'the CA registers every "
    "          certificate it signed on first connect "
    "          (autoRegistrationStatus ENABLE)', "
    "          'AUTO_REGISTRATION_ENABLED') end "
    "    end "
    "    total('REVOKED_CA_CERTIFICATE_STILL_ACTIVE_CHECK') "
    "    local n = tonumber(redis.call('HGET', KEYS[3], id) or '0') "
    "    if c[1] == 'REVOKED' and n > 0 then "
    "      find('REVOKED_CA_CERTIFICATE_STILL_ACTIVE_CHECK', 'CRITICAL', "
    "        'CA_CERTIFICATE', rid, 'the CA certificate is REVOKED but ' "
    "        .. n .. ' certificates it signed are ACTIVE', "
    "        'CERTIFICATE_REVOKED_BY_ISSUER') end "
    "  else "
    "    local p = redis.call('HMGET', 'strata:policy:{'..id..'}', "
    "      'document', 'default_version') "
    "    if p[1] then "
    "      total('IOT_POLICY_OVERLY_PERMISSIVE_CHECK') "
    "      local why = permissive(p[1]) "
    "      if why then find('IOT_POLICY_OVERLY_PERMISSIVE_CHECK', "
    "        'CRITICAL', 'IOT_POLICY', {policyVersionIdentifier = "
    "        {policyName = id, policyVersionId = p[2] or '1'}}, why, "
    "        'ALLOWS_BROAD_ACCESS_TO_IOT_DATA_PLANE_ACTIONS') end "
    "    end "
    "  end "
    "end "
    "return r[1]";

/* KEYS: task, scratch; ARGV: now, ttl, logging check on 1/0, the log
 * level, logging non-compliant 1/0, findings key, taskId, start. */
static const char script_finish[] =
    "if ARGV[3] == '1' then "
    "  redis.call('HINCRBY', KEYS[1], 'total:LOGGING_DISABLED_CHECK', 1) "
    "  if ARGV[5] == '1' then "
    "    local n = redis.call('HINCRBY', KEYS[1], 'nfindings', 1) "
    "    redis.call('HINCRBY', KEYS[1], 'nc:LOGGING_DISABLED_CHECK', 1) "
    "    redis.call('RPUSH', ARGV[6], cjson.encode({findingId = ARGV[7] "
    "      .. '-' .. n, taskId = ARGV[7], checkName = "
    "      'LOGGING_DISABLED_CHECK', taskStartTime = tonumber(ARGV[8]), "
    "      findingTime = tonumber(ARGV[1]), severity = 'LOW', "
    "      nonCompliantResource = {resourceType = 'ACCOUNT_SETTINGS', "
    "      resourceIdentifier = {account = 'broker log-level'}}, "
    "      reasonForNonCompliance = 'the broker logs at ' .. ARGV[4] .. "
    "      ': connections, refusals and disconnections are not logged', "
    "      reasonForNonComplianceCode = 'LOGGING_DISABLED', "
    "      isSuppressed = false})) "
    "    redis.call('EXPIRE', ARGV[6], ARGV[2]) end end "
    "redis.call('DEL', KEYS[2]) "
    "redis.call('HSET', KEYS[1], 'status', 'COMPLETED', 'end', ARGV[1]) "
    "return 'OK'";

struct audit_run {
	struct strata_broker *b;
	char task[40];
	char start[24];
	int phase;            /* 0 certs, 1 cas, 2 policies, 3 device
				 keys, 4 CA keys, 5 finish */
	char cursor[32];
	char checks[600];     /* ",A,B," */
	char key_task[80], key_findings[80], key_scratch[80];
};

static const char *const audit_phases[] = {"certs", "cas", "policies"};

static void audit_step(struct audit_run *run);

/* A new task id (a UUID: AWS's ids are [a-zA-Z0-9_-]{1,40}), its start
 * and its keys. */
static void
audit_run_keys(struct audit_run *run)
{
	strata_uuid4(run->task);
	admin_now(run->start);
	strcpy(run->cursor, "0");
	snprintf(run->key_task, sizeof(run->key_task),
	    "strata:audit-task:{%s}", run->task);
	snprintf(run->key_findings, sizeof(run->key_findings),
	    "strata:audit-findings:{%s}", run->task);
	snprintf(run->key_scratch, sizeof(run->key_scratch),
	    "strata:audit-scratch:{%s}", run->task);
}

static void
audit_failed(struct audit_run *run, const char *why)
{
	STRATA_WARN("admin", "audit task failed|task=%s|why=%s", run->task,
	    why);
	strata_redis_command(run->b->redis, NULL, NULL, "HSET %s status %s",
	    run->key_task, "FAILED");
	free(run);
}

static void
audit_stepped(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct audit_run *run = arg;

	(void)r;
	if (reply == NULL) {   /* Redis gone or stopping: left IN_PROGRESS */
		STRATA_WARN("admin", "audit task interrupted|task=%s",
		    run->task);
		free(run);
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		audit_failed(run, reply->str);
		return;
	}
	if (run->phase == 5) {
		free(run);
		return;
	}
	if (reply->type == REDIS_REPLY_STRING && strcmp(reply->str, "0") != 0)
		snprintf(run->cursor, sizeof(run->cursor), "%s", reply->str);
	else {
		run->phase++;
		strcpy(run->cursor, "0");
	}
	audit_step(run);
}

static bool
audit_logging_off(const struct strata_broker *b)
{
	const char *l = b->cfg.log_level;

	return l != NULL && (strcmp(l, "warn") == 0 || strcmp(l, "warning") ==
	    0 || strcmp(l, "error") == 0);
}

/* A page of ACTIVE certificates or CAs with their PEMs.  ARGV: set,
 * record key prefix, cursor, page size.  {cursor, id, pem, ...}. */
static const char script_keys_page[] =
    "local r = redis.call('SSCAN', ARGV[1], ARGV[3], 'COUNT', ARGV[4]) "
    "local out = {r[1]} "
    "for _, id in ipairs(r[2]) do "
    "  local c = redis.call('HMGET', ARGV[2] .. id .. '}', 'status', "
    "    'pem') "
    "  if c[1] == 'ACTIVE' and c[2] then out[#out + 1] = id "
    "    out[#out + 1] = c[2] end end "
    "return out";

/* KEYS: task, findings; ARGV: taskId, check, total, now, ttl, start,
 * resource type, identifier field, cursor, "id\treason\n"...
 * Returns the cursor. */
static const char script_keys_write[] =
    "redis.call('HINCRBY', KEYS[1], 'total:' .. ARGV[2], ARGV[3]) "
    "for id, why in string.gmatch(ARGV[10], "
    "  '([^\\t\\n]+)\\t([^\\n]+)\\n') do "
    "  local n = redis.call('HINCRBY', KEYS[1], 'nfindings', 1) "
    "  redis.call('HINCRBY', KEYS[1], 'nc:' .. ARGV[2], 1) "
    "  redis.call('RPUSH', KEYS[2], cjson.encode({findingId = ARGV[1] .. "
    "    '-' .. n, taskId = ARGV[1], checkName = ARGV[2], taskStartTime "
    "    = tonumber(ARGV[6]), findingTime = tonumber(ARGV[4]), severity "
    "    = 'CRITICAL', nonCompliantResource = {resourceType = ARGV[7], "
    "    resourceIdentifier = {[ARGV[8]] = id}}, reasonForNonCompliance "
    "    = 'the certificate has a weak key: ' .. why, "
    "    reasonForNonComplianceCode = 'CERTIFICATE_KEY_WEAK', "
    "    isSuppressed = false})) "
    "  redis.call('EXPIRE', KEYS[2], ARGV[5]) end "
    "return ARGV[9]";

static const char *
audit_key_check(int phase)
{
	return phase == 3 ? "DEVICE_CERTIFICATE_KEY_QUALITY_CHECK" :
	    "CA_CERTIFICATE_KEY_QUALITY_CHECK";
}

/* A page of PEMs read: judge each key here, then write the findings. */
static void
audit_keys_read(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct audit_run *run = arg;
	const char *check = audit_key_check(run->phase);
	char *payload = NULL, now[24], total[24], why[128];
	size_t plen = 0, n = 0;
	FILE *out;
	const char *v[15];
	size_t len[15];

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements < 1 ||
	    reply->element[0]->type != REDIS_REPLY_STRING) {
		audit_stepped(r, reply, arg);   /* interrupted, or FAILED */
		return;
	}
	out = open_memstream(&payload, &plen);
	if (out == NULL)
		abort();
	for (size_t i = 1; i + 1 < reply->elements; i += 2) {
		if (reply->element[i + 1]->type != REDIS_REPLY_STRING)
			continue;
		n++;
		if (strata_key_quality_pem(reply->element[i + 1]->str, why,
		    sizeof(why)) == STRATA_KEY_WEAK)
			fprintf(out, "%s\t%s\n", reply->element[i]->str, why);
	}
	fclose(out);
	admin_now(now);
	snprintf(total, sizeof(total), "%zu", n);
	memcpy(v, (const char *[]){"EVAL", script_keys_write, "2",
	    run->key_task, run->key_findings, run->task, check, total, now,
	    AUDIT_TTL, run->start, run->phase == 3 ? "DEVICE_CERTIFICATE" :
	    "CA_CERTIFICATE", run->phase == 3 ? "deviceCertificateId" :
	    "caCertificateId", reply->element[0]->str, payload},
	    sizeof(v));
	for (int i = 0; i < 15; i++)
		len[i] = strlen(v[i]);
	strata_redis_commandv(run->b->redis, audit_stepped, run, 15, v, len);
	free(payload);
}

static void
audit_step(struct audit_run *run)
{
	char now[24], probe[64];
	const char *v[16];
	size_t len[16];
	int n;

	while (run->phase == 3 || run->phase == 4) {
		snprintf(probe, sizeof(probe), ",%s,",
		    audit_key_check(run->phase));
		if (strstr(run->checks, probe) != NULL)
			break;
		run->phase++;   /* not asked for */
	}
	admin_now(now);
	v[0] = "EVAL";
	if (run->phase == 3 || run->phase == 4) {
		n = 7;
		memcpy(v + 1, (const char *[]){script_keys_page, "0",
		    run->phase == 3 ? "strata:certs" : "strata:cas",
		    run->phase == 3 ? "strata:cert:{" : "strata:ca:{",
		    run->cursor, AUDIT_PAGE}, 6 * sizeof(char *));
		for (int i = 0; i < n; i++)
			len[i] = strlen(v[i]);
		strata_redis_commandv(run->b->redis, audit_keys_read, run, n,
		    v, len);
		return;
	}
	if (run->phase < 3) {
		n = 15;
		memcpy(v + 1, (const char *[]){script_step, "3",
		    run->key_task, run->key_findings, run->key_scratch,
		    run->task, audit_phases[run->phase], run->cursor, now,
		    run->checks, AUDIT_TTL, AUDIT_EXPIRING, AUDIT_PAGE,
		    run->start}, 14 * sizeof(char *));
	} else {
		n = 13;
		memcpy(v + 1, (const char *[]){script_finish, "2",
		    run->key_task, run->key_scratch, now, AUDIT_TTL,
		    strstr(run->checks, ",LOGGING_DISABLED_CHECK,") ? "1" :
		    "0", run->b->cfg.log_level ? run->b->cfg.log_level : "info",
		    audit_logging_off(run->b) ? "1" : "0", run->key_findings,
		    run->task, run->start}, 12 * sizeof(char *));
	}
	for (int i = 0; i < n; i++)
		len[i] = strlen(v[i]);
	strata_redis_commandv(run->b->redis, audit_stepped, run, n, v, len);
}

/* KEYS: task, tasks, config; ARGV: taskId, now, checks (",A,B,"),
 * ttl. */
static const char script_start[] =
    "for c in string.gmatch(ARGV[3], '[A-Z_]+') do "
    "  if redis.call('HGET', KEYS[3], c) == '0' then "
    "    return redis.error_reply('Invalid the check ' .. c .. "
    "      ' is not enabled (UpdateAccountAuditConfiguration)') end end "
    "redis.call('HSET', KEYS[1], 'taskId', ARGV[1], 'status', "
    "  'IN_PROGRESS', 'type', 'ON_DEMAND_AUDIT_TASK', 'start', ARGV[2], "
    "  'checks', ARGV[3], 'nfindings', 0) "
    "redis.call('EXPIRE', KEYS[1], ARGV[4]) "
    "redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[2]) - "
    "  tonumber(ARGV[4])) "
    "redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1]) "
    "return 'OK'";

static void
audit_started(struct admin_call *call, redisReply *reply)
{
	struct audit_run *run = call->state;
	json_t *o = json_object();

	(void)reply;
	call->state = NULL;
	json_object_set_new(o, "taskId", json_string(run->task));
	admin_reply(call, o);
	audit_step(run);
}

/* targetCheckNames into run->checks; false after a 400. */
static bool
audit_target_checks(struct admin_call *call, struct audit_run *run)
{
	json_t *t = call->body != NULL ?
	    json_object_get(call->body, "targetCheckNames") : NULL, *v;
	size_t i;

	if (t == NULL || !json_is_array(t) || json_array_size(t) == 0 ||
	    json_array_size(t) > 2 * (sizeof(audit_checks) /
	    sizeof(audit_checks[0]))) {
		admin_error(call, 400, "InvalidRequestException",
		    "targetCheckNames", "targetCheckNames must be a list of "
		    "audit checks");
		return false;
	}
	strcpy(run->checks, ",");
	json_array_foreach(t, i, v) {
		const struct audit_check *c = json_is_string(v) ?
		    audit_check_find(json_string_value(v)) : NULL;

		if (c == NULL) {
			admin_error(call, 400, "InvalidRequestException",
			    "targetCheckNames", "unknown audit check %s",
			    json_is_string(v) ? json_string_value(v) : "");
			return false;
		}
		if (strlen(run->checks) + strlen(c->name) + 2 >
		    sizeof(run->checks))
			break;
		strcat(run->checks, c->name);
		strcat(run->checks, ",");
	}
	return true;
}

static void
op_start_audit(struct admin_call *call)
{
	struct audit_run *run = calloc(1, sizeof(*run));
	const char *argv[7];

	if (run == NULL)
		abort();
	run->b = call->b;
	if (!audit_target_checks(call, run)) {
		free(run);
		return;
	}
	audit_run_keys(run);
	argv[0] = run->key_task;
	argv[1] = "strata:audit-tasks";
	argv[2] = "strata:audit-config";
	argv[3] = run->task;
	argv[4] = run->start;
	argv[5] = run->checks;
	argv[6] = AUDIT_TTL;
	call->state = run;
	admin_eval(call, script_start, 3, 7, argv, audit_started);
}

/* ---- reading results ---- */

static bool
audit_task_id_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 40)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' &&
		    s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '-' || s[i] == '_'))
			return false;
	return true;
}

static long long
audit_count(const redisReply *r, const char *prefix, const char *check)
{
	char f[128];
	const char *v;

	snprintf(f, sizeof(f), "%s:%s", prefix, check);
	v = admin_field(r, f);
	return v != NULL ? strtoll(v, NULL, 10) : 0;
}

static void
audit_task_described(struct admin_call *call, redisReply *reply)
{
	const char *status = admin_field(reply, "status");
	const char *checks = admin_field(reply, "checks");
	const char *start = admin_field(reply, "start");
	json_t *o = json_object(), *stats = json_object(),
	    *details = json_object();
	int total = 0, compliant = 0, nonc = 0, failed = 0, running = 0;
	bool done = status != NULL && strcmp(status, "COMPLETED") == 0;
	bool fail = status != NULL && strcmp(status, "FAILED") == 0;

	for (const struct audit_check *c = audit_checks; c->name; c++) {
		char probe[128];
		json_t *d;
		long long nc = audit_count(reply, "nc", c->name);

		snprintf(probe, sizeof(probe), ",%s,", c->name);
		if (checks == NULL || strstr(checks, probe) == NULL)
			continue;
		d = json_object();
		total++;
		json_object_set_new(d, "checkRunStatus", json_string(done ?
		    (nc > 0 ? "COMPLETED_NON_COMPLIANT" :
		    "COMPLETED_COMPLIANT") : fail ? "FAILED" : "IN_PROGRESS"));
		if (done) {
			json_object_set_new(d, "checkCompliant",
			    json_boolean(nc == 0));
			json_object_set_new(d, "totalResourcesCount",
			    json_integer(audit_count(reply, "total",
			    c->name)));
			json_object_set_new(d, "nonCompliantResourcesCount",
			    json_integer(nc));
			json_object_set_new(d,
			    "suppressedNonCompliantResourcesCount",
			    json_integer(0));
		}
		compliant += done && nc == 0;
		nonc += done && nc > 0;
		failed += fail;
		running += !done && !fail;
		json_object_set_new(details, c->name, d);
	}
	json_object_set_new(stats, "totalChecks", json_integer(total));
	json_object_set_new(stats, "inProgressChecks", json_integer(running));
	json_object_set_new(stats, "waitingForDataCollectionChecks",
	    json_integer(0));
	json_object_set_new(stats, "compliantChecks", json_integer(compliant));
	json_object_set_new(stats, "nonCompliantChecks", json_integer(nonc));
	json_object_set_new(stats, "failedChecks", json_integer(failed));
	json_object_set_new(stats, "canceledChecks", json_integer(0));
	json_object_set_new(o, "taskStatus", json_string(status ? status :
	    "FAILED"));
	json_object_set_new(o, "taskType", json_string(
	    admin_field(reply, "type") ? admin_field(reply, "type") :
	    "ON_DEMAND_AUDIT_TASK"));
	if (admin_field(reply, "scheduledAuditName") != NULL)
		json_object_set_new(o, "scheduledAuditName", json_string(
		    admin_field(reply, "scheduledAuditName")));
	json_object_set_new(o, "taskStartTime", json_integer(start ?
	    strtoll(start, NULL, 10) : 0));
	json_object_set_new(o, "taskStatistics", stats);
	json_object_set_new(o, "auditDetails", details);
	admin_reply(call, o);
}

static bool
audit_arg_task(struct admin_call *call, const char *arg, const char *field)
{
	if (audit_task_id_valid(arg))
		return true;
	admin_error(call, 400, "InvalidRequestException", field,
	    "%s must match [a-zA-Z0-9_-]+ (1 to 40 characters)", field);
	return false;
}

static void
op_describe_audit_task(struct admin_call *call)
{
	char key[ADMIN_MAX_NAME + 32];

	if (!audit_arg_task(call, call->arg, "taskId"))
		return;
	snprintf(key, sizeof(key), "strata:audit-task:{%s}", call->arg);
	admin_describe_hash(call, key, "audit task", audit_task_described);
}

/* KEYS: tasks; ARGV: from, to.  id, status, type, by start time. */
static const char script_list_tasks[] =
    "local out = {} "
    "for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], "
    "  ARGV[2])) do "
    "  local s = redis.call('HMGET', 'strata:audit-task:{' .. id .. '}', "
    "    'status', 'type') "
    "  if s[1] then out[#out + 1] = id out[#out + 1] = s[1] "
    "    out[#out + 1] = s[2] or 'ON_DEMAND_AUDIT_TASK' end end "
    "return out";

static void
audit_tasks_listed(struct admin_call *call, redisReply *reply)
{
	const char *want = admin_query(call, "taskStatus");
	const char *type = admin_query(call, "taskType");
	json_t *all = json_array(), *o = json_object();

	for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY &&
	     i + 2 < reply->elements; i += 3) {
		const char *ttype = reply->element[i + 2]->str;
		json_t *t;

		if (want != NULL && strcmp(want, reply->element[i + 1]->str))
			continue;
		if (type != NULL && strcmp(type, ttype) != 0)
			continue;
		t = json_object();
		json_object_set_new(t, "taskId",
		    json_string(reply->element[i]->str));
		json_object_set_new(t, "taskStatus",
		    json_string(reply->element[i + 1]->str));
		json_object_set_new(t, "taskType", json_string(ttype));
		json_array_append_new(all, t);
	}
	if (admin_page(call, all, "taskId", "tasks", o) == 0)
		admin_reply(call, o);
	else
		json_decref(o);
	json_decref(all);
}

static void
op_list_audit_tasks(struct admin_call *call)
{
	long long from = admin_time(admin_query(call, "startTime"));
	long long to = admin_time(admin_query(call, "endTime"));
	char f[24], t[24];

	if (from < 0 || to < 0) {
		admin_error(call, 400, "InvalidRequestException",
		    from < 0 ? "startTime" : "endTime", "%s must be a time",
		    from < 0 ? "startTime" : "endTime");
		return;
	}
	if (!admin_page_valid(call))
		return;
	snprintf(f, sizeof(f), "%lld", from);
	snprintf(t, sizeof(t), "%lld", to);
	admin_eval(call, script_list_tasks, 1, 3, (const char *[]){
	    "strata:audit-tasks", f, t}, audit_tasks_listed);
}

/* KEYS: task, findings; ARGV: taskId, checkName or "", offset, max.
 * {next offset or -1, finding...}. */
static const char script_list_findings[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply("
    "  'NotFound audit task ' .. ARGV[1] .. ' does not exist') end "
    "local all = redis.call('LRANGE', KEYS[2], 0, -1) "
    "local out, skip, max = {-1}, tonumber(ARGV[3]), tonumber(ARGV[4]) "
    "local seen = 0 "
    "for _, f in ipairs(all) do "
    "  if ARGV[2] == '' or cjson.decode(f).checkName == ARGV[2] then "
    "    seen = seen + 1 "
    "    if seen > skip then "
    "      if #out > max then out[1] = skip + max return out end "
    "      out[#out + 1] = f end end end "
    "return out";

static void
audit_findings_listed(struct admin_call *call, redisReply *reply)
{
	json_t *o = json_object(), *list = json_array();

	for (size_t i = 1; reply->type == REDIS_REPLY_ARRAY &&
	     i < reply->elements; i++) {
		json_t *f = json_loads(reply->element[i]->str, 0, NULL);

		if (f != NULL)
			json_array_append_new(list, f);
	}
	json_object_set_new(o, "findings", list);
	if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
	    reply->element[0]->type == REDIS_REPLY_INTEGER &&
	    reply->element[0]->integer >= 0) {
		char t[24];

		snprintf(t, sizeof(t), "%lld", reply->element[0]->integer);
		json_object_set_new(o, "nextToken", json_string(t));
	}
	admin_reply(call, o);
}

static void
op_list_audit_findings(struct admin_call *call)
{
	const char *task, *check, *token;
	json_t *max = call->body != NULL ?
	    json_object_get(call->body, "maxResults") : NULL;
	char key[80], fkey[80], off[24], n[24];
	long long skip = 0;
	char *end;

	if (call->body == NULL || !json_is_object(call->body)) {
		admin_error(call, 400, "InvalidRequestException", NULL,
		    "the body must be a JSON object");
		return;
	}
	if (!admin_body_string(call, call->body, "taskId", &task) ||
	    !admin_body_string(call, call->body, "checkName", &check) ||
	    !admin_body_string(call, call->body, "nextToken", &token))
		return;
	if (task == NULL) {
		admin_error(call, 400, "InvalidRequestException", "taskId",
		    "taskId is required (Strata lists one task's findings)");
		return;
	}
	if (!audit_arg_task(call, task, "taskId"))
		return;
	if (check != NULL && audit_check_find(check) == NULL) {
		admin_error(call, 400, "InvalidRequestException", "checkName",
		    "unknown audit check %s", check);
		return;
	}
	if (max != NULL && (!json_is_integer(max) || json_integer_value(max) <
	    1 || json_integer_value(max) > AUDIT_FINDINGS_MAX)) {
		admin_error(call, 400, "InvalidRequestException", "maxResults",
		    "maxResults must be 1 to %d", AUDIT_FINDINGS_MAX);
		return;
	}
	if (token != NULL) {
		skip = strtoll(token, &end, 10);
		if (*token == '\0' || *end != '\0' || skip < 0) {
			admin_error(call, 400, "InvalidRequestException",
			    "nextToken", "nextToken is not one this API gave");
			return;
		}
	}
	snprintf(key, sizeof(key), "strata:audit-task:{%s}", task);
	snprintf(fkey, sizeof(fkey), "strata:audit-findings:{%s}", task);
	snprintf(off, sizeof(off), "%lld", skip);
	snprintf(n, sizeof(n), "%lld", max != NULL ?
	    (long long)json_integer_value(max) : (long long)AUDIT_FINDINGS_MAX);
	admin_eval(call, script_list_findings, 2, 6, (const char *[]){key,
	    fkey, task, check != NULL ? check : "", off, n},
	    audit_findings_listed);
}

/* ---- scheduled audits ---- */

/* KEYS: sched, scheds, config; ARGV: name, frequency, checks (",A,B,"),
 * now. */
static const char script_create_sched[] =
    "for c in string.gmatch(ARGV[3], '[A-Z_]+') do "
    "  if redis.call('HGET', KEYS[3], c) == '0' then "
    "    return redis.error_reply('Invalid the check ' .. c .. "
    "      ' is not enabled (UpdateAccountAuditConfiguration)') end end "
    "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply("
    "  'Exists scheduled audit ' .. ARGV[1] .. ' already exists') end "
    "redis.call('HSET', KEYS[1], 'name', ARGV[1], 'frequency', ARGV[2], "
    "  'checks', ARGV[3], 'next', ARGV[4], 'created', ARGV[4]) "
    "redis.call('SADD', KEYS[2], ARGV[1]) "
    "return 'OK'";

static void
audit_sched_created(struct admin_call *call, redisReply *reply)
{
	json_t *o = json_object();
	char arn[400];

	(void)reply;
	admin_iot_arn(call, arn, sizeof(arn), "scheduledaudit", call->arg);
	json_object_set_new(o, "scheduledAuditArn", json_string(arn));
	admin_reply(call, o);
}

static void
op_create_sched(struct admin_call *call)
{
	struct audit_run probe;
	const char *argv[7], *freq;
	char key[ADMIN_MAX_NAME + 32], now[24];

	if (!admin_arg_name(call, "scheduledAuditName") ||
	    !admin_body_string(call, call->body, "frequency", &freq))
		return;
	if (freq == NULL || strcmp(freq, "DAILY") != 0) {
		admin_error(call, 400, "InvalidRequestException", "frequency",
		    "frequency must be DAILY (the only one Strata runs)");
		return;
	}
	if (!audit_target_checks(call, &probe))
		return;
	snprintf(key, sizeof(key), "strata:audit-sched:{%s}", call->arg);
	admin_now(now);
	argv[0] = key;
	argv[1] = "strata:audit-scheds";
	argv[2] = "strata:audit-config";
	argv[3] = call->arg;
	argv[4] = freq;
	argv[5] = probe.checks;
	argv[6] = now;
	admin_eval(call, script_create_sched, 3, 7, argv,
	    audit_sched_created);
}

static json_t *
audit_sched_json(struct admin_call *call, const redisReply *r, bool full)
{
	const char *name = admin_field(r, "name");
	json_t *o = json_object();
	char arn[400];

	name = name != NULL ? name : "";
	admin_iot_arn(call, arn, sizeof(arn), "scheduledaudit", name);
	json_object_set_new(o, "scheduledAuditName", json_string(name));
	json_object_set_new(o, "scheduledAuditArn", json_string(arn));
	json_object_set_new(o, "frequency", json_string("DAILY"));
	if (full) {
		const char *checks = admin_field(r, "checks");
		json_t *list = json_array();
		char *copy = strdup(checks != NULL ? checks : ""), *save = NULL;

		for (char *t = strtok_r(copy, ",", &save); t != NULL;
		     t = strtok_r(NULL, ",", &save))
			json_array_append_new(list, json_string(t));
		free(copy);
		json_object_set_new(o, "targetCheckNames", list);
	}
	return o;
}

static void
audit_sched_described(struct admin_call *call, redisReply *reply)
{
	admin_reply(call, audit_sched_json(call, reply, true));
}

static void
op_describe_sched(struct admin_call *call)
{
	char key[ADMIN_MAX_NAME + 32];

	if (!admin_arg_name(call, "scheduledAuditName"))
		return;
	snprintf(key, sizeof(key), "strata:audit-sched:{%s}", call->arg);
	admin_describe_hash(call, key, "scheduled audit",
	    audit_sched_described);
}

static const char script_delete_sched[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply("
    "  'NotFound scheduled audit ' .. ARGV[1] .. ' does not exist') end "
    "redis.call('DEL', KEYS[1]) redis.call('SREM', KEYS[2], ARGV[1]) "
    "return 'OK'";

static void
op_delete_sched(struct admin_call *call)
{
	char key[ADMIN_MAX_NAME + 32];

	if (!admin_arg_name(call, "scheduledAuditName"))
		return;
	snprintf(key, sizeof(key), "strata:audit-sched:{%s}", call->arg);
	admin_eval(call, script_delete_sched, 2, 3, (const char *[]){key,
	    "strata:audit-scheds", call->arg}, admin_done_empty);
}

static const char script_list_scheds[] =
    "local out = {} "
    "for _, n in ipairs(redis.call('SMEMBERS', KEYS[1])) do "
    "  local t = redis.call('HGETALL', 'strata:audit-sched:{' .. n .. '}') "
    "  if #t > 0 then out[#out + 1] = t end end "
    "return out";

static int
audit_sched_cmp(const void *a, const void *b)
{
	return strcmp(json_string_value(json_object_get(*(json_t *const *)a,
	    "scheduledAuditName")), json_string_value(json_object_get(
	    *(json_t *const *)b, "scheduledAuditName")));
}

static void
audit_scheds_listed(struct admin_call *call, redisReply *reply)
{
	json_t *all = json_array(), *o = json_object(), *sorted;
	size_t n = reply->type == REDIS_REPLY_ARRAY ? reply->elements : 0;
	json_t **items = calloc(n + 1, sizeof(*items));

	if (items == NULL)
		abort();
	for (size_t i = 0; i < n; i++)
		items[i] = audit_sched_json(call, reply->element[i], false);
	qsort(items, n, sizeof(*items), audit_sched_cmp);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(all, items[i]);
	free(items);
	sorted = all;
	if (admin_page(call, sorted, "scheduledAuditName", "scheduledAudits",
	    o) == 0)
		admin_reply(call, o);
	else
		json_decref(o);
	json_decref(all);
}

static void
op_list_scheds(struct admin_call *call)
{
	if (!admin_page_valid(call))
		return;
	admin_eval(call, script_list_scheds, 1, 1,
	    (const char *[]){"strata:audit-scheds"}, audit_scheds_listed);
}

/* Claim one due scheduled audit: its next run moves a day on (or a day
 * from now, when the cluster was down), and its task is written, in one
 * step, so that one broker alone runs it.  KEYS: scheds, tasks, config;
 * ARGV: now, taskId, ttl.  {checks} of the task started, or nil. */
static const char script_claim_sched[] =
    "local now = tonumber(ARGV[1]) "
    "for _, n in ipairs(redis.call('SMEMBERS', KEYS[1])) do "
    "  local k = 'strata:audit-sched:{' .. n .. '}' "
    "  local s = redis.call('HMGET', k, 'next', 'checks') "
    "  if s[1] and tonumber(s[1]) <= now then "
    "    local nx = tonumber(s[1]) + 86400 "
    "    if nx <= now then nx = now + 86400 end "
    "    redis.call('HSET', k, 'next', nx) "
    "    local checks = ',' "
    "    for c in string.gmatch(s[2], '[A-Z_]+') do "
    "      if redis.call('HGET', KEYS[3], c) ~= '0' then "
    "        checks = checks .. c .. ',' end end "
    "    local t = 'strata:audit-task:{' .. ARGV[2] .. '}' "
    "    redis.call('HSET', t, 'taskId', ARGV[2], 'status', "
    "      'IN_PROGRESS', 'type', 'SCHEDULED_AUDIT_TASK', "
    "      'scheduledAuditName', n, 'start', ARGV[1], 'checks', checks, "
    "      'nfindings', 0) "
    "    redis.call('EXPIRE', t, ARGV[3]) "
    "    redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2]) "
    "    return {checks} end end "
    "return false";

#define AUDIT_TICK_SECONDS 5

static void audit_tick(evutil_socket_t fd, short what, void *arg);

static void
audit_claimed(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct audit_run *run = arg;

	(void)r;
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != 1 ||
	    reply->element[0]->type != REDIS_REPLY_STRING) {
		free(run);   /* nothing due, or Redis away: the next tick */
		return;
	}
	snprintf(run->checks, sizeof(run->checks), "%s",
	    reply->element[0]->str);
	STRATA_INFO("admin", "scheduled audit started|task=%s", run->task);
	audit_step(run);
	/* another may be due too */
	if (run->b->admin != NULL && run->b->admin->audit_timer != NULL)
		audit_tick(-1, 0, run->b->admin);
}

static void
audit_tick(evutil_socket_t fd, short what, void *arg)
{
	struct broker_admin *a = arg;
	struct audit_run *run = calloc(1, sizeof(*run));
	const char *v[9];
	size_t len[9];

	(void)fd;
	(void)what;
	if (run == NULL)
		abort();
	run->b = a->b;
	audit_run_keys(run);
	memcpy(v, (const char *[]){"EVAL", script_claim_sched, "3",
	    "strata:audit-scheds", "strata:audit-tasks",
	    "strata:audit-config", run->start, run->task, AUDIT_TTL},
	    sizeof(v));
	for (int i = 0; i < 9; i++)
		len[i] = strlen(v[i]);
	strata_redis_commandv(a->b->redis, audit_claimed, run, 9, v, len);
}

void
admin_audit_timer_start(struct broker_admin *a)
{
	struct timeval tv = {AUDIT_TICK_SECONDS, 0};

	a->audit_timer = event_new(a->b->base, -1, EV_PERSIST, audit_tick, a);
	if (a->audit_timer == NULL)
		abort();
	event_add(a->audit_timer, &tv);
}

void
admin_audit_timer_free(struct broker_admin *a)
{
	if (a->audit_timer != NULL)
		event_free(a->audit_timer);
	a->audit_timer = NULL;
}

const struct admin_route admin_audit_routes[] = {
	{EVHTTP_REQ_GET, "audit/configuration",
	    "DescribeAccountAuditConfiguration",
	    "iot:DescribeAccountAuditConfiguration", ADMIN_RES_ANY,
	    op_describe_audit_config},
	{EVHTTP_REQ_PATCH, "audit/configuration",
	    "UpdateAccountAuditConfiguration",
	    "iot:UpdateAccountAuditConfiguration", ADMIN_RES_ANY,
	    op_update_audit_config},
	{EVHTTP_REQ_POST, "audit/tasks", "StartOnDemandAuditTask",
	    "iot:StartOnDemandAuditTask", ADMIN_RES_ANY, op_start_audit},
	{EVHTTP_REQ_GET, "audit/tasks", "ListAuditTasks",
	    "iot:ListAuditTasks", ADMIN_RES_ANY, op_list_audit_tasks},
	{EVHTTP_REQ_GET, "audit/tasks/*", "DescribeAuditTask",
	    "iot:DescribeAuditTask", ADMIN_RES_ANY, op_describe_audit_task},
	{EVHTTP_REQ_POST, "audit/findings", "ListAuditFindings",
	    "iot:ListAuditFindings", ADMIN_RES_ANY, op_list_audit_findings},
	{EVHTTP_REQ_POST, "audit/scheduledaudits/*", "CreateScheduledAudit",
	    "iot:CreateScheduledAudit", ADMIN_RES_ANY, op_create_sched},
	{EVHTTP_REQ_GET, "audit/scheduledaudits/*", "DescribeScheduledAudit",
	    "iot:DescribeScheduledAudit", ADMIN_RES_ANY, op_describe_sched},
	{EVHTTP_REQ_DELETE, "audit/scheduledaudits/*", "DeleteScheduledAudit",
	    "iot:DeleteScheduledAudit", ADMIN_RES_ANY, op_delete_sched},
	{EVHTTP_REQ_GET, "audit/scheduledaudits", "ListScheduledAudits",
	    "iot:ListScheduledAudits", ADMIN_RES_ANY, op_list_scheds},
	{0, NULL, NULL, NULL, 0, NULL},
};
