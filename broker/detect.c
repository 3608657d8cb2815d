/*
 * detect.c - Device Defender Detect on the broker: what each device did,
 * judged against the behaviours of the security profiles that target
 * its thing (docs/internals/detect.md has the whole design).
 *
 * What feeds it, each one call of broker_detect_script (one script, its
 * modes), only while some security profile has a target (the answer of
 * the previous script says so):
 *
 *   rows     devstats.c hands on each connection's counts once a tick;
 *            the rows of registry things are sent together in done().
 *   connect  a CONNECT whose certificate names a thing (accepted or
 *            refused by iot:Connect): a connection attempt, its source
 *            address, and for an accepted one the thing counted
 *            connected (c->detect_open).
 *   close    a connection counted connected closes: a disconnect.
 *   tick     every devstats-interval-ms: the things whose windows
 *            ended (strata:dd-due) have them closed, as datapoints;
 *            violations of behaviours that no longer apply are
 *            invalidated.
 *   task     StartDetectMitigationActionsTask (admin_detect.c runs it,
 *            whatever Detect's state): actions on active violations.
 *
 * The state lives in Redis, so a thing that reconnects to another broker
 * keeps its windows, its consecutive counts and its violations; any
 * broker's tick closes any thing's windows (the script is atomic, one
 * broker does each).  A behaviour's life per thing:
 *
 *   normal --violating datapoint--> counting (n) --n reaches
 *   consecutiveDatapointsToAlarm--> in alarm: violation started, event
 *   in-alarm, the profile's mitigation actions applied
 *   in alarm --normal datapoint--> clearing (m) --m reaches
 *   consecutiveDatapointsToClear--> normal: violation cleared, event
 *   alarm-cleared, the thing leaves the groups its violation put it in
 *
 * The script answers what to publish (events, the mitigation action that
 * publishes) and what it did; this file publishes through the routers
 * like events.c and counts.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/sha.h>

#include "behavior.h"
#include "broker.h"
#include "log.h"

#define DETECT_COMP "detect"

struct broker_detect {
	struct strata_broker *b;
	bool active;             /* some profile has a target (last answer,
				    or strata:detect said so) */
	struct strata_redis *sub; /* strata:detect */
	struct event *tick;
	bool ticking;            /* a tick script is in flight */
	/* EVALSHA once Redis has the script: it answered an EVAL of it;
	 * a NOSCRIPT answer (Redis restarted, a replica promoted) sends
	 * that call again as EVAL */
	char sha[2 * SHA_DIGEST_LENGTH + 1];
	bool loaded;
	/* the rows of the tick being handed on: their text one after the
	 * other in buf, lens[i] the offset of the i-th */
	size_t *lens;
	char *buf;
	size_t argc, cap, buf_len, buf_cap;
	/* metrics */
	uint64_t *violations[3];  /* in-alarm, alarm-cleared, -invalidated */
	uint64_t *evaluations[2]; /* scripts answered, failed */
	uint64_t *mitigations[4][2]; /* action x applied, failed */
};

static const char *const detect_actions[4] = {"ADD_THINGS_TO_THING_GROUP",
	"REMOVE_THING_FROM_THING_GROUP", "UPDATE_DEVICE_CERTIFICATE",
	"PUBLISH_TO_TOPIC"};

/* The evaluation.  KEYS: none (the registry's and Detect's keys are
 * named inside, as the other registry scripts do: one Redis primary).
 * ARGV: mode, now (ms), then the mode's: rows: [thing, sent, received,
 * largest message, denials]...; connect: thing, accepted 1/0, address
 * hex, address text; close: thing; tick: nothing.
 * task (StartDetectMitigationActionsTask, admin_detect.c): taskId,
 * action names (JSON), securityProfileName or "", behaviour name or "",
 * violationIds (JSON), time to keep it (s), target (JSON).
 * Answers {number of profiles with targets, {kind, a, b}...}: kind "e"
 * an event (topic, JSON), "p" a publish action (topic, JSON), "m" a
 * mitigation (action, applied/failed). */
const char broker_detect_script[] =
    "local mode, nowms = ARGV[1], tonumber(ARGV[2])\n"
    "local now = math.floor(nowms / 1000)\n"
    "local out = {redis.call('SCARD', 'strata:dd-attached')}\n"
    "local pcache = {}\n"
    "local events = false\n"
    "local function tkey(t) return 'strata:dd-thing:{' .. t .. '}' end\n"
    "local function prof(p)\n"
    "  local c = pcache[p]\n"
    "  if c == nil then\n"
    "    local h = redis.call('HMGET', 'strata:dd-profile:{' .. p .. '}',\n"
    "      'eval', 'behaviors', 'mitigations')\n"
    "    c = false\n"
    "    if h[1] then\n"
    "      local byname = {}\n"
    "      for _, b in ipairs(cjson.decode(h[2])) do byname[b.name] = b end\n"
    "      c = {ev = cjson.decode(h[1]), beh = byname,\n"
    "        mit = cjson.decode(h[3] or '[]')}\n"
    "    end\n"
    "    pcache[p] = c\n"
    "  end\n"
    "  return c\n"
    "end\n"
    "local function profiles_of(t)\n"
    "  local seen, list = {}, {}\n"
    "  local function add(tg)\n"
    "    for _, p in ipairs(redis.call('SMEMBERS',\n"
    "        'strata:dd-target-profiles:{' .. tg .. '}')) do\n"
    "      if not seen[p] then seen[p] = true list[#list + 1] = p end\n"
    "    end\n"
    "  end\n"
    "  add('all')\n"
    "  for _, g in ipairs(redis.call('SMEMBERS',\n"
    "      'strata:thing-groups-of:{' .. t .. '}')) do\n"
    "    local q, n = g, 0\n"
    "    while q and q ~= '' and n < 8 do\n"
    "      add('group:' .. q)\n"
    "      n = n + 1\n"
    "      q = redis.call('HGET', 'strata:thing-group:{' .. q .. '}', 'parent')\n"
    "    end\n"
    "  end\n"
    "  return list\n"
    "end\n"
    "local function each(t, fn)\n"
    "  for _, p in ipairs(profiles_of(t)) do\n"
    "    local pr = prof(p)\n"
    "    if pr then for _, e in ipairs(pr.ev) do fn(p, e) end end\n"
    "  end\n"
    "end\n"
    "local masks = {8, 12, 14}\n"
    "local function cidr_has(h, bits, v)\n"
    "  local full = math.floor(bits / 4)\n"
    "  if string.sub(h, 1, full) ~= string.sub(v, 1, full) then return false end\n"
    "  local rest = bits % 4\n"
    "  if rest == 0 then return true end\n"
    "  local a = tonumber(string.sub(h, full + 1, full + 1), 16)\n"
    "  local b = tonumber(string.sub(v, full + 1, full + 1), 16)\n"
    "  return bit.band(a, masks[rest]) == bit.band(b, masks[rest])\n"
    "end\n"
    "local function holds(e, v)\n"
    "  local o = e.o\n"
    "  if o == 'lt' then return v < e.n end\n"
    "  if o == 'le' then return v <= e.n end\n"
    "  if o == 'gt' then return v > e.n end\n"
    "  if o == 'ge' then return v >= e.n end\n"
    "  local inside = false\n"
    "  for _, c in ipairs(e.c) do\n"
    "    if cidr_has(c[1], c[2], v) then inside = true break end\n"
    "  end\n"
    "  if o == 'in' then return inside end\n"
    "  return not inside\n"
    "end\n"
    "local function due(t, at)\n"
    "  local cur = redis.call('ZSCORE', 'strata:dd-due', t)\n"
    "  if not cur or tonumber(cur) > at then\n"
    "    redis.call('ZADD', 'strata:dd-due', at, t)\n"
    "  end\n"
    "end\n"
    "local function fk(p, e, x) return p .. '\\t' .. e.k .. '\\t' .. x end\n"
    "local function event(t, p, beh, id, kind, mv)\n"
    "  local j = cjson.encode({violationId = id, thingName = t,\n"
    "    securityProfileName = p, behavior = beh,\n"
    "    metricValue = mv, violationEventType = kind,\n"
    "    violationEventTime = nowms / 1000})\n"
    "  redis.call('ZADD', 'strata:dd-events', nowms, j)\n"
    "  events = true\n"
    "  out[#out + 1] = {'e', '$aws/things/' .. t .. '/defender/violations/' ..\n"
    "    kind, j}\n"
    "  return j\n"
    "end\n"
    "local function ungroup(t, qk, vk)\n"
    "  local mine = redis.call('HGET', qk, vk)\n"
    "  if not mine then return end\n"
    "  redis.call('HDEL', qk, vk)\n"
    "  local still = {}\n"
    "  for _, r in ipairs(redis.call('HVALS', qk)) do\n"
    "    for _, g in ipairs(cjson.decode(r)) do still[g] = true end\n"
    "  end\n"
    "  local changed = false\n"
    "  for _, g in ipairs(cjson.decode(mine)) do\n"
    "    if not still[g] then\n"
    "      redis.call('SREM', 'strata:thing-groups-of:{' .. t .. '}', g)\n"
    "      redis.call('SREM', 'strata:group-things:{' .. g .. '}', t)\n"
    "      changed = true\n"
    "      out[#out + 1] = {'m', 'REMOVE_THING_FROM_THING_GROUP', 'applied'}\n"
    "    end\n"
    "  end\n"
    "  if changed then redis.call('PUBLISH', 'strata:registry', 'thing ' .. t) end\n"
    "end\n"
    "local function group(t, qk, vk, params)\n"
    "  local of = 'strata:thing-groups-of:{' .. t .. '}'\n"
    "  local ours = {}\n"
    "  for _, r in ipairs(redis.call('HVALS', qk)) do\n"
    "    for _, g in ipairs(cjson.decode(r)) do ours[g] = true end\n"
    "  end\n"
    "  local added, changed, all = {}, false, true\n"
    "  for _, g in ipairs(params.thingGroupNames or {}) do\n"
    "    local h = redis.call('HMGET', 'strata:thing-group:{' .. g .. '}',\n"
    "      'name', 'dynamic')\n"
    "    local ok = 'applied'\n"
    "    if not h[1] or h[2] == '1' then ok = 'failed'\n"
    "    elseif redis.call('SISMEMBER', of, g) == 1 then\n"
    "      if ours[g] then added[#added + 1] = g end\n"
    "    elseif redis.call('SCARD', of) >= 10 then ok = 'failed'\n"
    "    else\n"
    "      redis.call('SADD', of, g)\n"
    "      redis.call('SADD', 'strata:group-things:{' .. g .. '}', t)\n"
    "      added[#added + 1] = g\n"
    "      changed = true\n"
    "    end\n"
    "    out[#out + 1] = {'m', 'ADD_THINGS_TO_THING_GROUP', ok}\n"
    "    all = all and ok == 'applied'\n"
    "  end\n"
    "  if #added > 0 then redis.call('HSET', qk, vk, cjson.encode(added)) end\n"
    "  if changed then redis.call('PUBLISH', 'strata:registry', 'thing ' .. t) end\n"
    "  return all\n"
    "end\n"
    "local function deactivate(t)\n"
    "  for _, id in ipairs(redis.call('SMEMBERS',\n"
    "      'strata:thing-principals:{' .. t .. '}')) do\n"
    "    local ck = 'strata:cert:{' .. id .. '}'\n"
    "    if redis.call('HGET', ck, 'status') == 'ACTIVE' then\n"
    "      redis.call('HSET', ck, 'status', 'INACTIVE', 'modified', tostring(now))\n"
    "      redis.call('PUBLISH', 'strata:registry', 'cert ' .. id)\n"
    "    end\n"
    "  end\n"
    "  out[#out + 1] = {'m', 'UPDATE_DEVICE_CERTIFICATE', 'applied'}\n"
    "end\n"
    "-- The mitigation action name on t's violation of (p, k), whose event\n"
    "-- is j: SUCCESSFUL, FAILED (no such action, a group refused) or SKIPPED\n"
    "-- (nothing to do when a violation clears).\n"
    "local function act(t, p, k, j, name, on)\n"
    "  local qk = 'strata:dd-quarantine:{' .. t .. '}'\n"
    "  local a = redis.call('HMGET', 'strata:dd-action:{' .. name .. '}',\n"
    "    'type', 'params')\n"
    "  local params = a[2] and cjson.decode(a[2]) or {}\n"
    "  if a[1] == 'PUBLISH_TO_TOPIC' then\n"
    "    out[#out + 1] = {'p', params.publishToTopicParams.topic, j}\n"
    "    out[#out + 1] = {'m', 'PUBLISH_TO_TOPIC', 'applied'}\n"
    "    return 'SUCCESSFUL'\n"
    "  elseif not on then return 'SKIPPED'\n"
    "  elseif a[1] == 'ADD_THINGS_TO_THING_GROUP' then\n"
    "    if group(t, qk, p .. '\\t' .. k, params.addThingsToThingGroupParams)\n"
    "    then return 'SUCCESSFUL' end\n"
    "    return 'FAILED'\n"
    "  elseif a[1] == 'UPDATE_DEVICE_CERTIFICATE' then\n"
    "    deactivate(t)\n"
    "    return 'SUCCESSFUL'\n"
    "  end\n"
    "  out[#out + 1] = {'m', 'MISSING', 'failed'}\n"
    "  return 'FAILED'\n"
    "end\n"
    "local function mitigate(t, p, e, j, on)\n"
    "  if not on then\n"
    "    ungroup(t, 'strata:dd-quarantine:{' .. t .. '}', p .. '\\t' .. e.k)\n"
    "  end\n"
    "  for _, name in ipairs(prof(p).mit) do act(t, p, e.k, j, name, on) end\n"
    "end\n"
    "local function datapoint(t, p, e, v, mv)\n"
    "  local tk = tkey(t)\n"
    "  local ak = t .. '\\t' .. p .. '\\t' .. e.k\n"
    "  local active = redis.call('HGET', 'strata:dd-active', ak)\n"
    "  if not holds(e, v) then\n"
    "    redis.call('HSET', tk, fk(p, e, 'm'), 0)\n"
    "    local n = redis.call('HINCRBY', tk, fk(p, e, 'n'), 1)\n"
    "    if active then\n"
    "      local a = cjson.decode(active)\n"
    "      a.lastViolationValue = mv\n"
    "      a.lastViolationTime = nowms / 1000\n"
    "      redis.call('HSET', 'strata:dd-active', ak, cjson.encode(a))\n"
    "    elseif n >= e.a then\n"
    "      local id = string.format('%x-%x', nowms,\n"
    "        redis.call('INCR', 'strata:dd-seq'))\n"
    "      redis.call('HSET', 'strata:dd-active', ak, cjson.encode({\n"
    "        violationId = id, thingName = t, securityProfileName = p,\n"
    "        behavior = prof(p).beh[e.k], lastViolationValue = mv,\n"
    "        lastViolationTime = nowms / 1000,\n"
    "        violationStartTime = nowms / 1000}))\n"
    "      redis.call('HINCRBY', tk, 'act', 1)\n"
    "      redis.call('HSET', tk, 'viol\\t' .. p .. '\\t' .. e.k, 1)\n"
    "      due(t, now + 2)\n"
    "      mitigate(t, p, e, event(t, p, prof(p).beh[e.k], id, 'in-alarm', mv),\n"
    "        true)\n"
    "    end\n"
    "  else\n"
    "    redis.call('HSET', tk, fk(p, e, 'n'), 0)\n"
    "    if active then\n"
    "      local m = redis.call('HINCRBY', tk, fk(p, e, 'm'), 1)\n"
    "      if m >= e.r then\n"
    "        redis.call('HDEL', 'strata:dd-active', ak)\n"
    "        redis.call('HSET', tk, fk(p, e, 'm'), 0)\n"
    "        redis.call('HINCRBY', tk, 'act', -1)\n"
    "        redis.call('HDEL', tk, 'viol\\t' .. p .. '\\t' .. e.k)\n"
    "        local a = cjson.decode(active)\n"
    "        mitigate(t, p, e, event(t, p, prof(p).beh[e.k], a.violationId,\n"
    "          'alarm-cleared', mv), false)\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local function window(t, p, e, add, connected)\n"
    "  local tk = tkey(t)\n"
    "  local d = e.d\n"
    "  local ws = now - now % d\n"
    "  local f = redis.call('HMGET', tk, fk(p, e, 'w'), fk(p, e, 'v'),\n"
    "    fk(p, e, 'e'))\n"
    "  local w, v, early = tonumber(f[1]), tonumber(f[2]) or 0, f[3] == '1'\n"
    "  local skip = not connected and (e.o == 'gt' or e.o == 'ge')\n"
    "  if w and w < ws then\n"
    "    if not early and not skip then datapoint(t, p, e, v, {count = v}) end\n"
    "    local gap = math.min((ws - w) / d - 1, 10)\n"
    "    if not skip then\n"
    "      for i = 1, gap do datapoint(t, p, e, 0, {count = 0}) end\n"
    "    end\n"
    "  end\n"
    "  if not w or w < ws then w, v, early = ws, 0, false end\n"
    "  v = v + add\n"
    "  if not early and (e.o == 'lt' or e.o == 'le') and not holds(e, v) then\n"
    "    datapoint(t, p, e, v, {count = v})\n"
    "    early = true\n"
    "  end\n"
    "  redis.call('HSET', tk, fk(p, e, 'w'), w, fk(p, e, 'v'), v, fk(p, e, 'e'),\n"
    "    early and '1' or '0')\n"
    "  due(t, w + d)\n"
    "end\n"
    "-- Violations of a behaviour that no longer applies to t (profile\n"
    "-- detached, deleted, behaviour removed) end as alarm-invalidated.\n"
    "local function invalidate(t, applies)\n"
    "  local tk = tkey(t)\n"
    "  local h = redis.call('HGETALL', tk)\n"
    "  for i = 1, #h, 2 do\n"
    "    local p, b = string.match(h[i], '^viol\\t([^\\t]*)\\t(.*)$')\n"
    "    if p and not applies[p .. '\\t' .. b] then\n"
    "      local ak = t .. '\\t' .. p .. '\\t' .. b\n"
    "      local active = redis.call('HGET', 'strata:dd-active', ak)\n"
    "      redis.call('HDEL', tk, h[i])\n"
    "      redis.call('HINCRBY', tk, 'act', -1)\n"
    "      if active then\n"
    "        local a = cjson.decode(active)\n"
    "        redis.call('HDEL', 'strata:dd-active', ak)\n"
    "        event(t, p, a.behavior, a.violationId, 'alarm-invalidated',\n"
    "          a.lastViolationValue)\n"
    "      end\n"
    "      ungroup(t, 'strata:dd-quarantine:{' .. t .. '}', p .. '\\t' .. b)\n"
    "    end\n"
    "  end\n"
    "  if (tonumber(redis.call('HGET', tk, 'act')) or 0) > 0 then\n"
    "    due(t, now + 2)\n"
    "  end\n"
    "end\n"
    "local function connected(t)\n"
    "  return (tonumber(redis.call('HGET', tkey(t), 'c')) or 0) > 0\n"
    "end\n"
    "if mode == 'rows' then\n"
    "  for i = 3, #ARGV, 5 do\n"
    "    local t = ARGV[i]\n"
    "    local add = {sent = tonumber(ARGV[i + 1]), recv = tonumber(ARGV[i + 2]),\n"
    "      authz = tonumber(ARGV[i + 4])}\n"
    "    local size = tonumber(ARGV[i + 3])\n"
    "    each(t, function(p, e)\n"
    "      if e.m == 'size' then\n"
    "        if add.sent > 0 then datapoint(t, p, e, size, {count = size}) end\n"
    "      elseif add[e.m] and add[e.m] > 0 then\n"
    "        window(t, p, e, add[e.m], true)\n"
    "      end\n"
    "    end)\n"
    "  end\n"
    "elseif mode == 'connect' then\n"
    "  local t, ok = ARGV[3], ARGV[4] == '1'\n"
    "  if ok then redis.call('HINCRBY', tkey(t), 'c', 1) end\n"
    "  local live = connected(t)\n"
    "  each(t, function(p, e)\n"
    "    if e.m == 'ip' then\n"
    "      if ARGV[5] ~= '' then datapoint(t, p, e, ARGV[5], {cidrs = {ARGV[6]}}) end\n"
    "    elseif e.m == 'conn' then window(t, p, e, 1, live)\n"
    "    elseif e.d and ok then window(t, p, e, 0, live) end\n"
    "  end)\n"
    "elseif mode == 'close' then\n"
    "  local t = ARGV[3]\n"
    "  if redis.call('HINCRBY', tkey(t), 'c', -1) < 0 then\n"
    "    redis.call('HSET', tkey(t), 'c', 0)\n"
    "  end\n"
    "  local live = connected(t)\n"
    "  each(t, function(p, e)\n"
    "    if e.m == 'disc' then window(t, p, e, 1, live) end\n"
    "  end)\n"
    "elseif mode == 'tick' then\n"
    "  local ts = redis.call('ZRANGEBYSCORE', 'strata:dd-due', '-inf', now,\n"
    "    'LIMIT', 0, 200)\n"
    "  for _, t in ipairs(ts) do\n"
    "    redis.call('ZREM', 'strata:dd-due', t)\n"
    "    local live = connected(t)\n"
    "    if live or (tonumber(redis.call('HGET', tkey(t), 'act')) or 0) > 0 then\n"
    "      local applies = {}\n"
    "      each(t, function(p, e)\n"
    "        applies[p .. '\\t' .. e.k] = true\n"
    "        if e.d then window(t, p, e, 0, live) end\n"
    "      end)\n"
    "      invalidate(t, applies)\n"
    "    else\n"
    "      redis.call('DEL', tkey(t))\n"
    "    end\n"
    "  end\n"
    "elseif mode == 'task' then\n"
    "  local id = ARGV[3]\n"
    "  local tk = 'strata:dd-task:{' .. id .. '}'\n"
    "  local ek = 'strata:dd-task-execs:{' .. id .. '}'\n"
    "  if redis.call('EXISTS', tk) == 1 then\n"
    "    return redis.error_reply('Exists task ' .. id .. ' already exists')\n"
    "  end\n"
    "  local names = cjson.decode(ARGV[4])\n"
    "  for _, n in ipairs(names) do\n"
    "    if redis.call('EXISTS', 'strata:dd-action:{' .. n .. '}') == 0 then\n"
    "      return redis.error_reply('NotFound mitigation action ' .. n ..\n"
    "        ' does not exist')\n"
    "    end\n"
    "  end\n"
    "  local want, any = {}, false\n"
    "  for _, v in ipairs(cjson.decode(ARGV[7])) do want[v] = true any = true end\n"
    "  local st = {}\n"
    "  for _, n in ipairs(names) do\n"
    "    st[n] = {actionsExecuted = 0, actionsSkipped = 0, actionsFailed = 0}\n"
    "  end\n"
    "  local count = {SUCCESSFUL = 'actionsExecuted', FAILED = 'actionsFailed',\n"
    "    SKIPPED = 'actionsSkipped'}\n"
    "  local h = redis.call('HGETALL', 'strata:dd-active')\n"
    "  for i = 2, #h, 2 do\n"
    "    local a = cjson.decode(h[i])\n"
    "    if (ARGV[5] == '' or a.securityProfileName == ARGV[5]) and\n"
    "        (ARGV[6] == '' or a.behavior.name == ARGV[6]) and\n"
    "        (not any or want[a.violationId]) then\n"
    "      for _, n in ipairs(names) do\n"
    "        local r = act(a.thingName, a.securityProfileName, a.behavior.name,\n"
    "          h[i], n, true)\n"
    "        st[n][count[r]] = st[n][count[r]] + 1\n"
    "        redis.call('RPUSH', ek, cjson.encode({taskId = id,\n"
    "          violationId = a.violationId, actionName = n,\n"
    "          thingName = a.thingName, executionStartDate = nowms / 1000,\n"
    "          executionEndDate = nowms / 1000, status = r}))\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  redis.call('HSET', tk, 'taskId', id, 'status', 'SUCCESSFUL', 'start',\n"
    "    nowms / 1000, 'end', nowms / 1000, 'target', ARGV[9], 'actions',\n"
    "    ARGV[4], 'stats', cjson.encode(st))\n"
    "  redis.call('EXPIRE', tk, ARGV[8])\n"
    "  if redis.call('EXISTS', ek) == 1 then redis.call('EXPIRE', ek, ARGV[8]) end\n"
    "end\n"
    "if events then\n"
    "  redis.call('ZREMRANGEBYSCORE', 'strata:dd-events', '-inf',\n"
    "    nowms - 1209600000)\n"
    "  redis.call('ZREMRANGEBYRANK', 'strata:dd-events', 0, -100001)\n"
    "end\n"
    "return out\n";

static uint64_t
detect_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Publish through the routers as the broker's own message (events.c). */
static void
detect_publish(struct strata_broker *b, const redisReply *topic,
    const redisReply *payload)
{
	struct strata_message m;

	if (topic->len == 0 || topic->len > UINT16_MAX ||
	    broker_routers_backlogged(b)) {
		broker_drop(b, "detect_event");
		return;
	}
	memset(&m, 0, sizeof(m));
	m.topic = topic->str;
	m.topic_len = topic->len;
	m.payload = (const uint8_t *)payload->str;
	m.payload_len = payload->len;
	m.qos = 1;
	broker_routers_publish(b, NULL, &m);
}

static void
detect_count_mitigation(struct broker_detect *d, const char *action,
    const char *outcome)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(detect_actions[i], action) == 0) {
			(*d->mitigations[i][strcmp(outcome, "applied") != 0])++;
			return;
		}
	(*d->mitigations[0][1])++; /* an action deleted meanwhile */
}

/* One entry of the script's answer. */
static void
detect_apply(struct broker_detect *d, const redisReply *e)
{
	const char *kind;

	if (e->type != REDIS_REPLY_ARRAY || e->elements != 3)
		return;
	for (int i = 0; i < 3; i++)
		if (e->element[i]->type != REDIS_REPLY_STRING)
			return;
	kind = e->element[0]->str;
	if (strcmp(kind, "e") == 0 || strcmp(kind, "p") == 0)
		detect_publish(d->b, e->element[1], e->element[2]);
	if (strcmp(kind, "e") == 0) {
		const char *slash = strrchr(e->element[1]->str, '/');
		const char *type = slash != NULL ? slash + 1 : "";
		int i = strcmp(type, "in-alarm") == 0 ? 0 :
		    strcmp(type, "alarm-cleared") == 0 ? 1 : 2;

		(*d->violations[i])++;
		STRATA_INFO(DETECT_COMP, "violation %s|topic=%s", i == 0 ?
		    "started" : i == 1 ? "cleared" : "invalidated",
		    e->element[1]->str);
	} else if (strcmp(kind, "m") == 0) {
		detect_count_mitigation(d, e->element[1]->str,
		    e->element[2]->str);
	}
}

static void
detect_answered(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct broker_detect *d = arg;

	(void)r;
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements < 1 ||
	    reply->element[0]->type != REDIS_REPLY_INTEGER) {
		(*d->evaluations[1])++;
		if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
			STRATA_WARN(DETECT_COMP, "evaluation failed|error=\"%s\"",
			    reply->str);
		return;
	}
	(*d->evaluations[0])++;
	d->loaded = true;
	d->active = reply->element[0]->integer > 0;
	for (size_t i = 1; i < reply->elements; i++)
		detect_apply(d, reply->element[i]);
}

static void
detect_ticked(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct broker_detect *d = arg;

	d->ticking = false;
	detect_answered(r, reply, arg);
}

/* One script call in flight.  Its arguments are kept (one block) so that
 * a NOSCRIPT answer to EVALSHA goes again as EVAL. */
struct detect_call {
	struct broker_detect *d;
	strata_redis_cb done;     /* detect_answered or detect_ticked */
	bool by_sha;              /* sent as EVALSHA */
	int argc;
	const char **argv;        /* [0], [1]: set at each send */
	size_t *len;
};

static void detect_call_answered(struct strata_redis *r, redisReply *reply,
    void *arg);

static void
detect_send(struct detect_call *call)
{
	struct broker_detect *d = call->d;

	call->by_sha = d->loaded;
	call->argv[0] = d->loaded ? "EVALSHA" : "EVAL";
	call->argv[1] = d->loaded ? d->sha : broker_detect_script;
	call->len[0] = strlen(call->argv[0]);
	call->len[1] = strlen(call->argv[1]);
	strata_redis_commandv(d->b->redis, detect_call_answered, call,
	    call->argc, call->argv, call->len);
}

static void
detect_call_answered(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct detect_call *call = arg;

	if (call->by_sha && reply != NULL && reply->type ==
	    REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) == 0) {
		call->d->loaded = false;  /* Redis lost it: load it again */
		detect_send(call);
		return;
	}
	call->done(r, reply, call->d);
	free(call);
}

/* broker_detect_script with mode and its n arguments (lens NULL: each
 * strlen'd), copied. */
static void
detect_eval(struct broker_detect *d, const char *mode, size_t n,
    const char *const *args, const size_t *lens, strata_redis_cb done)
{
	size_t argc = n + 5, bytes = 0;
	struct detect_call *call;
	char now[24], *p;

	snprintf(now, sizeof(now), "%llu",
	    (unsigned long long)detect_now_ms());
	for (size_t i = 0; i < n; i++)
		bytes += lens != NULL ? lens[i] : strlen(args[i]);
	bytes += strlen(mode) + strlen(now) + 2;
	call = calloc(1, sizeof(*call) + argc * (sizeof(char *) +
	    sizeof(size_t)) + bytes);
	if (call == NULL)
		abort();
	call->d = d;
	call->done = done;
	call->argc = (int)argc;
	call->argv = (const char **)(call + 1);
	call->len = (size_t *)(call->argv + argc);
	p = (char *)(call->len + argc);
	call->argv[2] = "0";
	call->len[2] = 1;
	for (size_t i = 0; i < n + 2; i++) {
		const char *v = i == 0 ? mode : i == 1 ? now : args[i - 2];
		size_t l = i < 2 || lens == NULL ? strlen(v) : lens[i - 2];

		memcpy(p, v, l);
		call->argv[3 + i] = p;
		call->len[3 + i] = l;
		p += l;
	}
	detect_send(call);
}

void
broker_detect_answer(struct strata_broker *b, const redisReply *reply)
{
	struct broker_detect *d = b->detect;

	if (d == NULL || reply->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 1; i < reply->elements; i++)
		detect_apply(d, reply->element[i]);
}

/* ---- rows (devstats.c's consumer) ---- */

static void
detect_row_text(struct broker_detect *d, const char *s)
{
	size_t n = strlen(s) + 1;

	if (d->buf_len + n > d->buf_cap) {
		d->buf_cap = (d->buf_len + n) * 2;
		d->buf = realloc(d->buf, d->buf_cap);
		if (d->buf == NULL)
			abort();
	}
	memcpy(d->buf + d->buf_len, s, n);
	if (d->argc == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 64;
		d->lens = realloc(d->lens, d->cap * sizeof(*d->lens));
		if (d->lens == NULL)
			abort();
	}
	d->lens[d->argc++] = d->buf_len; /* an offset until done() */
	d->buf_len += n;
}

static void
detect_row(struct strata_broker *b, const struct broker_devstats_row *row,
    void *arg)
{
	struct broker_detect *d = arg;
	const struct broker_devstats *s = row->stats;
	char num[4][24];

	(void)b;
	if (!d->active || row->thing == NULL || (s->msgs_in == 0 &&
	    s->msgs_out == 0 && s->authz_failures == 0))
		return;
	snprintf(num[0], sizeof(num[0]), "%u", s->msgs_in);
	snprintf(num[1], sizeof(num[1]), "%u", s->msgs_out);
	snprintf(num[2], sizeof(num[2]), "%llu",
	    (unsigned long long)s->max_msg_in);
	snprintf(num[3], sizeof(num[3]), "%u", s->authz_failures);
	detect_row_text(d, row->thing);
	for (int i = 0; i < 4; i++)
		detect_row_text(d, num[i]);
}

static void
detect_rows_done(struct strata_broker *b, void *arg)
{
	struct broker_detect *d = arg;
	const char **args;

	(void)b;
	if (d->argc == 0)
		return;
	if ((args = calloc(d->argc, sizeof(*args))) == NULL)
		abort();
	for (size_t i = 0; i < d->argc; i++) {
		args[i] = d->buf + d->lens[i];
		d->lens[i] = strlen(args[i]);
	}
	detect_eval(d, "rows", d->argc, args, d->lens, detect_answered);
	free(args);
	d->argc = 0;
	d->buf_len = 0;
}

/* ---- connections ---- */

/* The address of "ip:port" or "[ip6]:port" into out, without the port. */
static void
detect_peer_ip(const char *peer, char *out, size_t len)
{
	const char *end;
	size_t n;

	if (peer[0] == '[') {
		peer++;
		end = strchr(peer, ']');
	} else {
		end = strrchr(peer, ':');
	}
	n = end != NULL ? (size_t)(end - peer) : strlen(peer);
	if (n >= len)
		n = 0;
	memcpy(out, peer, n);
	out[n] = '\0';
}

void
broker_detect_connect(struct broker_conn *c, bool accepted)
{
	struct broker_detect *d = c->broker->detect;
	const char *thing = broker_device_thing(c);
	char ip[64], hex[33];
	const char *args[4];

	if (d == NULL || !d->active || thing == NULL || c->internal)
		return;
	detect_peer_ip(c->peer, ip, sizeof(ip));
	if (strata_behavior_ip_hex(ip, hex) != 0)
		hex[0] = '\0';
	args[0] = thing;
	args[1] = accepted ? "1" : "0";
	args[2] = hex;
	args[3] = ip;
	detect_eval(d, "connect", 4, args, NULL, detect_answered);
	c->detect_open = accepted;
}

void
broker_detect_conn_closed(struct broker_conn *c)
{
	struct broker_detect *d = c->broker->detect;
	const char *thing = broker_device_thing(c);

	if (d == NULL || !c->detect_open || thing == NULL)
		return;
	c->detect_open = false;
	detect_eval(d, "close", 1, &thing, NULL, detect_answered);
}

/* ---- the tick ---- */

static void
detect_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct broker_detect *d = arg;

	(void)fd;
	(void)what;
	if (d->ticking)
		return;  /* Redis is slow: one tick at a time */
	d->ticking = true;
	detect_eval(d, "tick", 0, NULL, NULL, detect_ticked);
}

/* "attached <profile>" from AttachSecurityProfile: evaluate from now
 * on, not from the next tick's answer (a device may connect at once). */
static void
detect_on_message(struct strata_redis *r, const char *msg, size_t len,
    void *arg)
{
	struct broker_detect *d = arg;

	(void)r;
	if (len >= 9 && strncmp(msg, "attached ", 9) == 0)
		d->active = true;
}

static void
detect_metrics(struct broker_detect *d)
{
	struct strata_metrics *m = d->b->metrics;
	char labels[96];

	for (int i = 0; i < 3; i++) {
		snprintf(labels, sizeof(labels), "event=\"%s\"",
		    (const char *[]){"in-alarm", "alarm-cleared",
		    "alarm-invalidated"}[i]);
		d->violations[i] = strata_metrics_counter(m,
		    "strata_broker_detect_violations_total", "Device Defender "
		    "Detect violations this broker's evaluations started, "
		    "cleared or invalidated", labels);
	}
	d->evaluations[0] = strata_metrics_counter(m,
	    "strata_broker_detect_evaluations_total", "Device Defender Detect "
	    "evaluation scripts run, by outcome", "outcome=\"ok\"");
	d->evaluations[1] = strata_metrics_counter(m,
	    "strata_broker_detect_evaluations_total", "Device Defender Detect "
	    "evaluation scripts run, by outcome", "outcome=\"failed\"");
	for (int i = 0; i < 4; i++)
		for (int k = 0; k < 2; k++) {
			snprintf(labels, sizeof(labels),
			    "action=\"%s\",outcome=\"%s\"", detect_actions[i],
			    k == 0 ? "applied" : "failed");
			d->mitigations[i][k] = strata_metrics_counter(m,
			    "strata_broker_detect_mitigations_total",
			    "Device Defender Detect mitigation actions applied "
			    "by this broker's evaluations", labels);
		}
}

int
broker_detect_start(struct strata_broker *b)
{
	struct broker_detect *d = calloc(1, sizeof(*d));
	long ms = b->cfg.devstats_interval_ms;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	struct broker_devstats_consumer cons = {detect_row, detect_rows_done,
		NULL};

	if (d == NULL)
		abort();
	d->b = b;
	cons.arg = d;
	{
		unsigned char md[SHA_DIGEST_LENGTH];

		SHA1((const unsigned char *)broker_detect_script,
		    sizeof(broker_detect_script) - 1, md);
		for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
			snprintf(d->sha + 2 * i, 3, "%02x", md[i]);
	}
	detect_metrics(d);
	broker_devstats_consumer(b, &cons);
	d->tick = event_new(b->base, -1, EV_PERSIST, detect_tick_cb, d);
	d->sub = broker_redis_new(b, NULL, NULL);
	if (d->tick == NULL || d->sub == NULL)
		abort();
	strata_redis_subscribe(d->sub, "strata:detect", detect_on_message, d);
	b->detect = d;
	return event_add(d->tick, &tv) == 0 ? 0 : STRATA_EIO;
}

void
broker_detect_free(struct strata_broker *b)
{
	struct broker_detect *d = b->detect;

	if (d == NULL)
		return;
	event_free(d->tick);
	strata_redis_free(d->sub);
	free(d->lens);
	free(d->buf);
	free(d);
	b->detect = NULL;
}
