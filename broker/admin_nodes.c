/*
 * admin_nodes.c - ListNodes (GET /strata/nodes): the cluster's nodes as the web
 * console's cluster page shows them (docs/internals/console.md).  Not an
 * AWS IoT operation (**differs**: the managed service has no nodes to
 * show); its IAM action is iot:ListNodes on "*" (Strata's own
 * operations are named in the iot: style, admin-authz.md).
 *
 * One script reads, without writing: the brokers (strata:brokers, which
 * holds shadowd and rulesd too) and routers (strata:routers: id ->
 * link address), each one's lease, its strata:nodeinfo:<role>:<id> hash
 * (written with the lease every second by broker/cluster.c and
 * router/partition.c, gone 5 s after the node), and the partition map,
 * whose owners are counted.  A node whose lease is gone but that is
 * still listed is answered with "alive": false and no figures.
 */
#include <stdlib.h>
#include <string.h>

#include "admin.h"

/* Answers one JSON text: [{nodeId, role, alive, address, ...}]. */
static const char script_list_nodes[] =
    "local now = tonumber(redis.call('TIME')[1]) "
    "local owners = {} "
    "local map = redis.call('HGETALL', 'strata:{part}:map') "
    "for i = 2, #map, 2 do owners[map[i]] = (owners[map[i]] or 0) + 1 end "
    "local routers = redis.call('HGETALL', 'strata:routers') "
    "local brokers = redis.call('HKEYS', 'strata:brokers') "
    "local out = {} "
    "local function info(roles, id, lease) "
    "  local n = {nodeId = id, role = roles[1], alive = "
    "    redis.call('EXISTS', 'strata:' .. lease .. ':' .. id .. "
    "    ':alive') == 1} "
    "  for _, role in ipairs(roles) do "
    "    local h = redis.call('HGETALL', 'strata:nodeinfo:' .. role .. "
    "      ':' .. id) "
    "    if #h > 0 then "
    "      for i = 1, #h, 2 do n[h[i]] = tonumber(h[i + 1]) or h[i + 1] end "
    "      n.role = role break end "
    "  end "
    "  if n.started then n.uptimeSeconds = now - n.started end "
    "  return n "
    "end "
    "for _, id in ipairs(brokers) do "
    "  local n = info({'broker', 'shadowd', 'rulesd'}, id, 'broker') "
    "  n.linksExpected = #routers / 2 "
    "  out[#out + 1] = n "
    "end "
    "for i = 1, #routers, 2 do "
    "  local n = info({'router'}, routers[i], 'router') "
    "  n.address = routers[i + 1] "
    "  n.partitions = owners[routers[i]] or 0 "
    "  n.linksExpected = #brokers "
    "  out[#out + 1] = n "
    "end "
    "if #out == 0 then return '[]' end "
    "return cjson.encode(out)";

/* The script's names are Redis's; the answer's are camelCase. */
static void
nodes_rename(json_t *n)
{
	static const char *const names[][2] = {
		{"started", "startedAt"}, {"publishes_in", "publishesIn"},
		{"publishes_out", "publishesOut"}, {"bytes_in", "bytesIn"},
		{"bytes_out", "bytesOut"}, {"admin", "adminPort"},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		json_t *v = json_object_get(n, names[i][0]);

		if (v != NULL) {
			json_object_set(n, names[i][1], v);
			json_object_del(n, names[i][0]);
		}
	}
}

static void
nodes_listed(struct admin_call *call, redisReply *reply)
{
	json_t *list, *n;
	size_t i;

	list = reply->type == REDIS_REPLY_STRING ? json_loadb(reply->str,
	    reply->len, 0, NULL) : NULL;
	if (!json_is_array(list)) {
		json_decref(list);
		admin_error(call, 500, "InternalFailureException", NULL,
		    "node listing script answered unexpectedly");
		return;
	}
	json_array_foreach(list, i, n)
		nodes_rename(n);
	admin_reply(call, json_pack("{s:o}", "nodes", list));
}

static void
op_list_nodes(struct admin_call *call)
{
	admin_eval(call, script_list_nodes, 0, 0, NULL, nodes_listed);
}

const struct admin_route admin_node_routes[] = {
	{EVHTTP_REQ_GET, "strata/nodes", "ListNodes", "iot:ListNodes",
	    ADMIN_RES_ANY, op_list_nodes},
	{0, NULL, NULL, NULL, 0, NULL},
};
