/*
 * cluster.c - cluster-wide sessions: the broker's lease, the session
 * registry, the node channel, remote take-over and session hand-off.
 * docs/internals/broker.md ("Cluster-wide sessions") has the whole
 * protocol; in short:
 *
 *   strata:broker:<id>:alive    lease, SET PX 5000 every second
 *   strata:brokers              HASH id -> 1: the brokers routers wait
 *                               for when a partition moves
 *   strata:client:{<client id>} HASH {node, epoch}, one Lua script per
 *                               accepted CONNECT, deleted (Lua, if node
 *                               and epoch still match) when the session
 *                               ends here
 *   strata:connect-rate:{<client id>}  the client id's connect bucket
 *                               across the cluster (throttle.md), checked
 *                               and taken by the register script
 *   strata:session:<client id>  a strata.Session in transit, PX 60000
 *   strata:nodeinfo:<role>:<id> HASH what the web console's cluster
 *                               page shows (ListNodes), PX 5000 with the
 *                               lease
 *   strata:node:<id>            channel of strata.SessionControl messages
 *                               (TAKEOVER to the previous broker, HANDOFF
 *                               back), on a second Redis connection in
 *                               subscriber mode
 *
 * A CONNECT whose session is not here waits (struct broker_pending, its
 * states are in broker.h):
 *   REGISTERING --registry: no other node--> fresh session
 *   REGISTERING --the cluster's connect bucket is empty--> CONNACK 0x9F /
 *                                           0x03, closed, nothing taken
 *   AWAITING --TAKEOVER reached nobody (that broker is dead)--> at once:
 *             the stored session (or a fresh one)
 *   REGISTERING --no answer (Redis down or past redis-timeout)--> CONNACK
 *                                           0x88 / 0x03, closed
 *   REGISTERING --registry: held by another node--> AWAITING (TAKEOVER
 *                                                  sent, 2 s timer)
 *   AWAITING --HANDOFF has_session--> FETCHING --GET--> restored session
 *   FETCHING --no answer--> CONNACK 0x88 / 0x03, closed
 *   AWAITING --HANDOFF none / timeout--> fresh session
 * A wait taken over by a newer connection on another broker forwards its
 * outcome there instead (the session key is per client id).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker.h"
#include "durable.h"

#define CLUSTER_LEASE_MS "5000"
#define CLUSTER_SESSION_TTL_MS "60000"
#define CLUSTER_HANDOFF_WAIT_S 2

/* KEYS[1] registry key, KEYS[2] the session hash (strata:sess:{c}, the
 * same slot), KEYS[3] the client id's connect bucket
 * (strata:connect-rate:{c}); ARGV[1] this node, ARGV[2] the client id,
 * ARGV[3] the bucket's "<cost us>:<check|take>" or "" (throttle.c).
 * Returns {previous node or "", new epoch, 1 if another node held it (it
 * is asked; a dead one does not listen on its channel and the wait ends
 * at once), 1 if a persistent session of the client is stored, 1 if the
 * bucket refused (check: nothing else was done)}.
 *
 * The bucket is a GCRA cell as throttle.c's, in microseconds of Redis's
 * clock (one clock for every broker), with a burst of one second: the
 * time its debt is paid, expiring then. */
static const char cluster_script_register[] =
    "if ARGV[3] ~= '' then "
    "  local cost, mode = string.match(ARGV[3], '^(%d+):(%a+)$') "
    "  local t = redis.call('TIME') "
    "  local now = tonumber(t[1]) * 1000000 + tonumber(t[2]) "
    "  local tat = tonumber(redis.call('GET', KEYS[3]) or '0') or 0 "
    "  if tat < now then tat = now end "
    "  tat = tat + tonumber(cost) "
    "  if tat - now <= 1000000 then "
    "    redis.call('SET', KEYS[3], string.format('%d', tat), 'PX', "
    "      math.floor((tat - now) / 1000) + 1) "
    "  elseif mode == 'check' then return {'', 0, 0, 0, 1} end "
    "end "
    "local prev = redis.call('HGET', KEYS[1], 'node') "
    "local epoch = redis.call('HINCRBY', KEYS[1], 'epoch', 1) "
    "redis.call('HSET', KEYS[1], 'node', ARGV[1]) "
    "local other = 0 "
    "if prev and prev ~= ARGV[1] then other = 1 end "
    "local stored = 0 "
    "if prev then stored = redis.call('EXISTS', KEYS[2]) end "
    "return {prev or '', epoch, other, stored, 0}";

/* KEYS[1] registry key, ARGV[1] node, ARGV[2] epoch: delete if both still
 * name that session. */
static const char cluster_script_release[] =
    "if redis.call('HGET', KEYS[1], 'node') == ARGV[1] and "
    "redis.call('HGET', KEYS[1], 'epoch') == ARGV[2] then "
    "return redis.call('DEL', KEYS[1]) end return 0";

static void pending_resolve(struct broker_pending *p, bool has_session,
    bool durable);
static void cluster_release(struct strata_broker *b, const char *id,
    size_t id_len, uint64_t epoch);

/* "<prefix><id>" (id binary), malloc'd; *len its length. */
static char *
cluster_key(const char *prefix, const char *id, size_t id_len, size_t *len)
{
	size_t n = strlen(prefix);
	char *k = malloc(n + id_len + 1);

	if (k == NULL)
		abort();
	memcpy(k, prefix, n);
	memcpy(k + n, id, id_len);
	k[n + id_len] = '\0';
	*len = n + id_len;
	return k;
}

/* PUBLISH m on the node channel of node; cb gets the receiver count. */
static void
cluster_publish(struct strata_broker *b, const char *node,
    const Strata__SessionControl *m, strata_redis_cb cb, void *arg)
{
	size_t len = strata__session_control__get_packed_size(m), klen;
	uint8_t *buf = malloc(len ? len : 1);
	char *key = cluster_key("strata:node:", node, strlen(node), &klen);
	const char *argv[3] = {"PUBLISH", key, (const char *)buf};
	size_t argvlen[3] = {7, klen, len};

	if (buf == NULL)
		abort();
	strata__session_control__pack(m, buf);
	strata_redis_commandv(b->redis, cb, arg, 3, argv, argvlen);
	free(key);
	free(buf);
}

/* durable: the session is in its strata:sess/subs/q keys (durable.c). */
static void
cluster_send_handoff(struct strata_broker *b, const char *node,
    const char *client_id, uint64_t epoch, bool has_session, bool durable)
{
	Strata__SessionControl m = STRATA__SESSION_CONTROL__INIT;

	m.kind = STRATA__SESSION_CONTROL__KIND__HANDOFF;
	m.client_id = (char *)client_id;
	m.epoch = epoch;
	m.node_id = b->cfg.node_id;
	m.has_session = has_session;
	m.durable = has_session && durable;
	cluster_publish(b, node, &m, NULL, NULL);
}

/* cb (may be NULL) learns whether the previous broker listens. */
static void
cluster_send_takeover(struct strata_broker *b, const char *node,
    const char *client_id, uint64_t epoch, bool wants_session,
    strata_redis_cb cb, void *arg)
{
	Strata__SessionControl m = STRATA__SESSION_CONTROL__INIT;

	m.kind = STRATA__SESSION_CONTROL__KIND__TAKEOVER;
	m.client_id = (char *)client_id;
	m.epoch = epoch;
	m.node_id = b->cfg.node_id;
	m.wants_session = wants_session;
	cluster_publish(b, node, &m, cb, arg);
}

/* One command on the key "<prefix><id>": argv = cmd, key, args... */
static void
cluster_key_command(struct strata_broker *b, strata_redis_cb cb, void *arg,
    const char *cmd, const char *prefix, const char *id, size_t id_len,
    int n_args, const char **args, const size_t *arglens)
{
	const char *argv[8];
	size_t argvlen[8], klen;
	char *key = cluster_key(prefix, id, id_len, &klen);
	int i;

	argv[0] = cmd;
	argvlen[0] = strlen(cmd);
	argv[1] = key;
	argvlen[1] = klen;
	for (i = 0; i < n_args && i < 6; i++) {
		argv[2 + i] = args[i];
		argvlen[2 + i] = arglens != NULL ? arglens[i] :
		    strlen(args[i]);
	}
	strata_redis_commandv(b->redis, cb, arg, 2 + i, argv, argvlen);
	free(key);
}

/* EVAL script 3 strata:client:{<id>} strata:sess:{<id>}
 * strata:connect-rate:{<id>} args... (at most 3 args, binary safe up to
 * a NUL: the client id may be one); the keys are in the client id's
 * slot */
static void
cluster_eval(struct strata_broker *b, strata_redis_cb cb, void *arg,
    const char *script, const char *id, size_t id_len, int n_args,
    const char **args)
{
	const char *argv[9] = {"EVAL", script, "3"};
	size_t argvlen[9], len[3];
	static const char *const kinds[3] = {"client", "sess",
	    "connect-rate"};
	char *keys[3];
	int i, argc = 6;

	for (i = 0; i < 3; i++) {
		keys[i] = strata_durable_key(kinds[i], id, id_len, &len[i]);
		argv[3 + i] = keys[i];
	}
	for (i = 0; i < n_args && i < 3; i++)
		argv[argc++] = args[i];
	for (i = 0; i < argc; i++)
		argvlen[i] = i >= 3 && i < 6 ? len[i - 3] : strlen(argv[i]);
	strata_redis_commandv(b->redis, cb, arg, argc, argv, argvlen);
	for (i = 0; i < 3; i++)
		free(keys[i]);
}

/* The register script's reply. */
struct cluster_reg {
	const char *prev;
	uint64_t epoch;
	bool other;             /* another node held it: ask it */
	bool stored;
	bool throttled;         /* the cluster's connect bucket refused */
};

/* Parse the register script's reply; false if it is not one. */
static bool
cluster_register_reply(const redisReply *r, struct cluster_reg *reg)
{
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 5 ||
	    r->element[0]->type != REDIS_REPLY_STRING)
		return false;
	for (size_t i = 1; i < 5; i++)
		if (r->element[i]->type != REDIS_REPLY_INTEGER)
			return false;
	reg->prev = r->element[0]->str;
	reg->epoch = (uint64_t)r->element[1]->integer;
	reg->other = r->element[2]->integer == 1;
	reg->stored = r->element[3]->integer == 1;
	reg->throttled = r->element[4]->integer == 1;
	return true;
}

/* ---- the lease ---- */

static unsigned long long
cluster_sum(uint64_t *const *cells, size_t n)
{
	unsigned long long sum = 0;

	for (size_t i = 0; i < n; i++)
		if (cells[i] != NULL)
			sum += *cells[i];
	return sum;
}

/* strata:nodeinfo:<role>:<id>: this node's figures for ListNodes
 * (docs/internals/console.md), gone 5 s after the node. */
static void
cluster_node_info(struct strata_broker *b)
{
	const struct broker_metrics *m = &b->m;
	long long conns = 0;
	const char *role = b->role != NULL ? b->role : "broker";
	char address[300] = "";

	if (b->cfg.port != 0)   /* shadowd and rulesd have no listener */
		snprintf(address, sizeof(address), "%s:%ld", b->cfg.bind,
		    b->cfg.port);
	for (size_t i = 0; i < BROKER_LISTENERS; i++)
		if (m->connections[i] != NULL)
			conns += *m->connections[i];
	strata_redis_command(b->redis, NULL, NULL, "HSET strata:nodeinfo:%s:%s"
	    " role %s address %s admin %ld started %lld connections %lld "
	    "sessions %lld subscriptions %lld links %lld publishes_in %llu "
	    "publishes_out %llu bytes_in %llu bytes_out %llu", role,
	    b->cfg.node_id, role, address, b->cfg.admin_port,
	    b->started, conns, m->sessions != NULL ? (long long)*m->sessions :
	    0, m->subscriptions != NULL ? (long long)*m->subscriptions : 0,
	    m->links_up != NULL ? (long long)*m->links_up : 0,
	    cluster_sum(m->forwarded, 3), cluster_sum(m->delivered, 3),
	    m->bytes_in != NULL ? (unsigned long long)*m->bytes_in : 0,
	    m->bytes_out != NULL ? (unsigned long long)*m->bytes_out : 0);
	strata_redis_command(b->redis, NULL, NULL, "PEXPIRE "
	    "strata:nodeinfo:%s:%s %s", role, b->cfg.node_id,
	    CLUSTER_LEASE_MS);
}

/* The lease, and the broker's name in strata:brokers, where routers list
 * the live brokers (a partition moves once every live broker joined). */
static void
cluster_lease(evutil_socket_t fd, short what, void *arg)
{
	struct strata_broker *b = arg;

	strata_redis_command(b->redis, NULL, NULL,
	    "SET strata:broker:%s:alive 1 PX %s", b->cfg.node_id,
	    CLUSTER_LEASE_MS);
	strata_redis_command(b->redis, NULL, NULL,
	    "HSET strata:brokers %s 1", b->cfg.node_id);
	cluster_node_info(b);
}

/* ---- waiting connections ---- */

static void
pending_free(void *v)
{
	struct broker_pending *p = v;

	if (p->timer != NULL)
		event_free(p->timer);
	free(p->fwd_node);
	free(p->client_id);
	free(p);
}

/* A Redis reply that points to p is due / has arrived. */
static void
pending_hold(struct broker_pending *p)
{
	p->calls++;
}

static void
pending_put(struct broker_pending *p)
{
	if (--p->calls == 0 && p->done)
		pending_free(p);
}

/* Resolved: out of the map; freed now or when the last reply comes. */
static void
pending_done(struct broker_pending *p)
{
	struct strata_broker *b = p->broker;

	p->done = true;
	if (p->conn != NULL) {
		p->conn->pending = NULL;
		p->conn = NULL;
	}
	if (p->timer != NULL)
		evtimer_del(p->timer);
	if (strata_hashmap_get(b->pending, p->client_id,
	    p->client_id_len) == p)
		strata_hashmap_take(b->pending, p->client_id,
		    p->client_id_len);
	if (p->calls == 0)
		pending_free(p);
}

/* The session s (or none) is here: CONNACK, or keep it OFFLINE when the
 * client went away meanwhile. */
static void
pending_settle(struct broker_pending *p, struct broker_session *s)
{
	struct strata_broker *b = p->broker;
	struct broker_conn *c = p->conn;

	if (s != NULL)
		s->epoch = p->epoch;
	if (c != NULL) {
		c->pending = NULL;
		p->conn = NULL;
		broker_connect_complete(c, p->client_id, p->client_id_len, s,
		    p->epoch);
	} else if (s != NULL) {
		broker_session_detach(s);
	} else {
		/* the client left before its CONNACK: no session here */
		cluster_release(b, p->client_id, p->client_id_len, p->epoch);
	}
	pending_done(p);
}

/* A handed-off blob (or none): the session it holds is made. */
static void
pending_finish(struct broker_pending *p, const char *data, size_t len)
{
	struct strata_broker *b = p->broker;
	struct broker_session *s = NULL;

	if (data != NULL) {
		s = broker_session_new(b, p->client_id, p->client_id_len);
		if (broker_handoff_restore(s, (const uint8_t *)data, len) !=
		    0) {
			STRATA_WARN(BROKER_COMP, "bad session hand-off, fresh "
			    "session|client_id=%s", p->client_id);
			broker_session_destroy(s);
			s = NULL;
		} else {
			(*b->m.handoffs_in)++;
		}
	}
	pending_settle(p, s);
}

/* The registry did not answer (Redis down, or past its deadline): the
 * session cannot be found, so the CONNECT is refused (MQTT 5 0x88,
 * 3.1.1 0x03) rather than given a session that may exist elsewhere.  A
 * wait forwarded to a newer connection tells that broker there is none. */
static void
pending_unavailable(struct broker_pending *p)
{
	struct strata_broker *b = p->broker;
	struct broker_conn *c = p->conn;

	(*b->m.registry_unavailable)++;
	if (p->fwd_node != NULL) {
		cluster_send_handoff(b, p->fwd_node, p->client_id,
		    p->fwd_epoch, false, false);
	} else if (c != NULL) {
		c->pending = NULL;
		p->conn = NULL;
		broker_connect_refuse(c, STRATA_RC_SERVER_UNAVAILABLE,
		    "session registry unavailable");
	}
	pending_done(p);
}

/* The cluster's connect bucket of the client id is empty: the CONNECT
 * is refused (0x9F, 3.1.1 0x03) and nothing was registered.  A wait
 * forwarded to a newer connection tells that broker there is no
 * session here. */
static void
pending_throttled(struct broker_pending *p)
{
	struct strata_broker *b = p->broker;
	struct broker_conn *c = p->conn;

	if (p->fwd_node != NULL) {
		cluster_send_handoff(b, p->fwd_node, p->client_id,
		    p->fwd_epoch, false, false);
	} else if (c != NULL) {
		c->pending = NULL;
		p->conn = NULL;
		broker_throttle_connect_refused(c, p->client_id,
		    p->client_id_len);
		broker_connect_refuse(c, STRATA_RC_CONNECTION_RATE_EXCEEDED,
		    b->why);
		b->why[0] = '\0';
	}
	pending_done(p);
}

static void
cluster_fetched(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct broker_pending *p = arg;
	bool ok = reply != NULL && reply->type == REDIS_REPLY_STRING;

	if (!p->done && !p->broker->stopping && reply == NULL) {
		/* the session is there, out of reach: not a fresh one */
		pending_unavailable(p);
	} else if (!p->done && !p->broker->stopping) {
		if (!ok)
			STRATA_WARN(BROKER_COMP, "handed-off session missing, "
			    "fresh session|client_id=%s", p->client_id);
		pending_finish(p, ok ? reply->str : NULL, ok ? reply->len : 0);
	}
	pending_put(p);
}

/* GET then DEL on one connection: nobody else reads the key between. */
static void
pending_fetch(struct broker_pending *p)
{
	struct strata_broker *b = p->broker;

	p->fetching = true;
	pending_hold(p);
	cluster_key_command(b, cluster_fetched, p, "GET", "strata:session:",
	    p->client_id, p->client_id_len, 0, NULL, NULL);
	cluster_key_command(b, NULL, NULL, "DEL", "strata:session:",
	    p->client_id, p->client_id_len, 0, NULL, NULL);
}

/* A stored session given to the newer connection elsewhere that took
 * this wait over: announced once the routers queue for it. */
static void
pending_released(void *arg, struct broker_session *s, bool ok)
{
	struct broker_pending *p = arg;

	if (!p->broker->stopping)
		cluster_send_handoff(p->broker, p->fwd_node, p->client_id,
		    p->fwd_epoch, ok, true);
	pending_put(p);
}

/* The stored session is taken (s; NULL: none) or discarded. */
static void
pending_taken(void *arg, struct broker_session *s, bool ok)
{
	struct broker_pending *p = arg;
	struct strata_broker *b = p->broker;

	if (b->stopping || p->done) {
		if (s != NULL && !b->stopping)
			broker_session_detach(s);
	} else if (!ok) {
		pending_unavailable(p);
	} else if (p->fwd_node != NULL && s != NULL) {
		/* taken over meanwhile by a newer connection elsewhere */
		pending_hold(p);
		broker_durable_release(s, pending_released, p);
		pending_done(p);
	} else if (p->fwd_node != NULL) {
		cluster_send_handoff(b, p->fwd_node, p->client_id,
		    p->fwd_epoch, false, false);
		pending_done(p);
	} else {
		if (s != NULL)
			(*b->m.handoffs_in)++;
		pending_settle(p, s);
	}
	pending_put(p);
}

/* The persistent session stored in Redis: taken (Clean Start 0) or
 * discarded (Clean Start 1), then the wait settles. */
static void
pending_take_stored(struct broker_pending *p, bool wanted)
{
	p->fetching = true;
	pending_hold(p);
	broker_durable_take(p->broker, p->client_id, p->client_id_len, wanted,
	    pending_taken, p);
}

/* The previous broker answered (or will not): settle the wait.  durable:
 * the session it handed off is in Redis's session keys. */
static void
pending_resolve(struct broker_pending *p, bool has_session, bool durable)
{
	struct strata_broker *b = p->broker;
	bool wanted = p->conn != NULL ? !p->conn->clean_start : p->wants;

	if (p->fwd_node != NULL && !(has_session && durable)) {
		cluster_send_handoff(b, p->fwd_node, p->client_id,
		    p->fwd_epoch, has_session && p->fwd_wants, false);
		wanted = p->fwd_wants;
	} else if (has_session && durable) {
		pending_take_stored(p, p->fwd_node != NULL ? p->fwd_wants :
		    wanted);
		return;
	} else if (has_session && wanted) {
		pending_fetch(p);
		return;
	} else if (p->stored) {
		pending_take_stored(p, wanted);
		return;
	}
	if (has_session && !wanted)
		cluster_key_command(b, NULL, NULL, "DEL", "strata:session:",
		    p->client_id, p->client_id_len, 0, NULL, NULL);
	if (p->fwd_node != NULL)
		pending_done(p);
	else
		pending_finish(p, NULL, 0);
}

static void
pending_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct broker_pending *p = arg;

	(*p->broker->m.handoff_timeouts)++;
	STRATA_WARN(BROKER_COMP, "no session hand-off in time, stored or "
	    "fresh session|client_id=%s epoch=%llu", p->client_id,
	    (unsigned long long)p->epoch);
	pending_resolve(p, false, false);
}

/* Nobody listens on the previous broker's channel (it died within its
 * lease): no hand-off will come, the wait ends now. */
static void
cluster_takeover_sent(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct broker_pending *p = arg;

	if (!p->done && !p->broker->stopping && !p->fetching &&
	    reply != NULL && reply->type == REDIS_REPLY_INTEGER &&
	    reply->integer == 0) {
		STRATA_INFO(BROKER_COMP, "previous broker not listening|"
		    "client_id=%s", p->client_id);
		if (p->timer != NULL)
			evtimer_del(p->timer);
		pending_resolve(p, false, false);
	}
	pending_put(p);
}

static void
cluster_registered(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct broker_pending *p = arg;
	struct strata_broker *b = p->broker;
	struct timeval tv = {CLUSTER_HANDOFF_WAIT_S, 0};
	struct cluster_reg reg;

	if (p->done || b->stopping) {
		pending_put(p);
		return;
	}
	if (!cluster_register_reply(reply, &reg)) {
		pending_unavailable(p);
	} else if (reg.throttled) {
		pending_throttled(p);
	} else if (!reg.other) {
		p->epoch = reg.epoch;
		p->stored = reg.stored;
		pending_resolve(p, false, false);
	} else {
		p->epoch = reg.epoch;
		p->stored = reg.stored;
		STRATA_INFO(BROKER_COMP, "asking for session|client_id=%s "
		    "node=%s epoch=%llu", p->client_id, reg.prev,
		    (unsigned long long)reg.epoch);
		pending_hold(p);
		cluster_send_takeover(b, reg.prev, p->client_id, reg.epoch,
		    p->fwd_node != NULL ? p->fwd_wants : p->wants,
		    cluster_takeover_sent, p);
		p->timer = evtimer_new(b->base, pending_timeout, p);
		evtimer_add(p->timer, &tv);
	}
	pending_put(p);
}

static struct broker_pending *
pending_new(struct broker_conn *c, const char *id, size_t id_len)
{
	struct strata_broker *b = c->broker;
	struct broker_pending *p = calloc(1, sizeof(*p));

	if (p == NULL || (p->client_id = malloc(id_len + 1)) == NULL)
		abort();
	memcpy(p->client_id, id, id_len);
	p->client_id[id_len] = '\0';
	p->client_id_len = id_len;
	p->broker = b;
	p->conn = c;
	p->wants = !c->clean_start;
	c->pending = p;
	strata_hashmap_put(b->pending, id, id_len, p);
	return p;
}

/* A second CONNECT of a client id that waits here: the newer connection
 * inherits the wait, the older one closes (never accepted, no will). */
static void
pending_supersede(struct broker_pending *p, struct broker_conn *c)
{
	struct broker_conn *old = p->conn;

	if (old != NULL) {
		old->pending = NULL;
		p->conn = NULL;
		broker_will_free(old->will);
		old->will = NULL;
		broker_conn_close(old, false);
	}
	p->conn = c;
	p->wants = !c->clean_start;
	c->pending = p;
}

/* ---- registry of local sessions ---- */

struct cluster_local_reg {
	struct strata_broker *b;
	size_t id_len;
	char id[];
};

/* A local CONNECT was registered: note the epoch, and take the client
 * over where the registry said it was (it cannot hold a newer session:
 * documented gap, see broker.md). */
static void
cluster_local_registered(struct strata_redis *r, redisReply *reply,
    void *arg)
{
	struct cluster_local_reg *lr = arg;
	struct strata_broker *b = lr->b;
	struct broker_session *s;
	struct cluster_reg reg;

	if (!b->stopping && cluster_register_reply(reply, &reg)) {
		s = broker_session_find(b, lr->id, lr->id_len);
		if (s != NULL && s->epoch < reg.epoch)
			s->epoch = reg.epoch;
		/* the session ended before its epoch was known (a client that
		 * left at once): its entry is dropped now, or nothing would */
		if (s == NULL)
			cluster_release(b, lr->id, lr->id_len, reg.epoch);
		if (reg.other)
			cluster_send_takeover(b, reg.prev, lr->id, reg.epoch,
			    false, NULL, NULL);
	}
	free(lr);
}

static void
cluster_register_local(struct broker_conn *c, const char *id,
    size_t id_len)
{
	struct strata_broker *b = c->broker;
	struct cluster_local_reg *reg = malloc(sizeof(*reg) + id_len + 1);
	char bucket[32];
	const char *args[3] = {b->cfg.node_id, NULL, bucket};

	if (reg == NULL)
		abort();
	reg->b = b;
	reg->id_len = id_len;
	memcpy(reg->id, id, id_len);
	reg->id[id_len] = '\0';
	args[1] = reg->id;
	/* this broker decided (its own bucket): the cluster's is charged */
	broker_throttle_cluster_arg(c, id_len, false, bucket);
	cluster_eval(b, cluster_local_registered, reg,
	    cluster_script_register, id, id_len, 3, args);
}

void
broker_cluster_connect(struct broker_conn *c, const char *id,
    size_t id_len, bool local)
{
	struct strata_broker *b = c->broker;
	struct broker_pending *p;
	char bucket[32];
	const char *args[3] = {b->cfg.node_id, NULL, bucket};

	if (local) {
		cluster_register_local(c, id, id_len);
		return;
	}
	p = strata_hashmap_get(b->pending, id, id_len);
	if (p != NULL && p->fwd_node == NULL) {
		pending_supersede(p, c);
		return;
	}
	/* a wait already forwarded elsewhere ends: this CONNECT is newer */
	if (p != NULL)
		pending_resolve(p, false, false);
	p = pending_new(c, id, id_len);
	pending_hold(p);
	args[1] = p->client_id;
	broker_throttle_cluster_arg(c, id_len, true, bucket);
	cluster_eval(b, cluster_registered, p, cluster_script_register, id,
	    id_len, 3, args);
}

void
broker_cluster_conn_closed(struct broker_conn *c)
{
	struct broker_pending *p = c->pending;

	c->pending = NULL;
	if (p != NULL)
		p->conn = NULL;
}

/* Drop the registry entry of id if it still names this node and epoch. */
static void
cluster_release(struct strata_broker *b, const char *id, size_t id_len,
    uint64_t epoch)
{
	char buf[24];
	const char *args[2] = {b->cfg.node_id, buf};

	if (epoch == 0 || b->redis == NULL)
		return;
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)epoch);
	cluster_eval(b, NULL, NULL, cluster_script_release, id, id_len, 2,
	    args);
}

void
broker_cluster_session_ended(struct broker_session *s)
{
	cluster_release(s->broker, s->client_id, s->client_id_len, s->epoch);
}

/* ---- messages on strata:node:<self> ---- */

/* The answer owed to a take-over, once a stored session is released. */
struct cluster_owed {
	struct strata_broker *broker;
	uint64_t epoch;
	char *node;
	char *client_id;
};

static void
cluster_released(void *arg, struct broker_session *s, bool ok)
{
	struct cluster_owed *o = arg;

	if (!o->broker->stopping)
		cluster_send_handoff(o->broker, o->node, o->client_id,
		    o->epoch, ok, true);
	free(o->node);
	free(o->client_id);
	free(o);
}

/* A session stored in Redis goes to the new broker through Redis. */
static void
cluster_give_stored(struct strata_broker *b, struct broker_session *s,
    const Strata__SessionControl *m)
{
	struct cluster_owed *o = malloc(sizeof(*o));

	if (o == NULL || (o->node = strdup(m->node_id)) == NULL ||
	    (o->client_id = strdup(m->client_id)) == NULL)
		abort();
	o->broker = b;
	o->epoch = m->epoch;
	broker_durable_release(s, cluster_released, o);
}

/* Our session of the client moves to (or ends for) m->node_id. */
static void
cluster_give_session(struct strata_broker *b, struct broker_session *s,
    const Strata__SessionControl *m)
{
	bool keep = m->wants_session && s->persistent;
	const char *args[3] = {NULL, "PX", CLUSTER_SESSION_TTL_MS};
	size_t lens[3] = {0, 2, strlen(CLUSTER_SESSION_TTL_MS)};
	uint8_t *data = NULL;

	(*b->m.takeovers_remote)++;
	STRATA_INFO(BROKER_COMP, "session taken over remotely|client_id=%s "
	    "node=%s hand_off=%d", s->client_id, m->node_id, keep);
	if (s->conn != NULL)
		broker_connect_takeover(s->conn, keep);
	if (!keep) {
		broker_session_destroy(s);
		cluster_send_handoff(b, m->node_id, m->client_id, m->epoch,
		    false, false);
		return;
	}
	(*b->m.handoffs_out)++;
	if (s->dstate == DSTATE_HELD) {
		cluster_give_stored(b, s, m);
		return;
	}
	data = broker_handoff_pack(s, &lens[0]);
	args[0] = (const char *)data;
	cluster_key_command(b, NULL, NULL, "SET", "strata:session:",
	    s->client_id, s->client_id_len, 3, args, lens);
	broker_session_handed_off(s);
	/* same connection as the SET: stored before the new broker hears */
	cluster_send_handoff(b, m->node_id, m->client_id, m->epoch, true,
	    false);
	free(data);
}

/* A newer connection elsewhere takes over a client waiting here. */
static void
cluster_forward(struct strata_broker *b, struct broker_pending *p,
    const Strata__SessionControl *m)
{
	if (p->epoch != 0 && p->epoch > m->epoch) {
		cluster_send_handoff(b, m->node_id, m->client_id, m->epoch,
		    false, false);
		return;
	}
	(*b->m.takeovers_remote)++;
	free(p->fwd_node);
	p->fwd_node = strdup(m->node_id);
	if (p->fwd_node == NULL)
		abort();
	p->fwd_epoch = m->epoch;
	p->fwd_wants = m->wants_session;
	if (p->conn != NULL) {
		struct broker_conn *c = p->conn;

		broker_will_free(c->will);
		c->will = NULL;
		broker_conn_close(c, false);
	}
}

static void
cluster_on_takeover(struct strata_broker *b, const Strata__SessionControl *m)
{
	size_t len = strlen(m->client_id);
	struct broker_pending *p = strata_hashmap_get(b->pending,
	    m->client_id, len);
	struct broker_session *s;

	if (p != NULL) {
		cluster_forward(b, p, m);
		return;
	}
	s = broker_session_find(b, m->client_id, len);
	/* (one RELEASING already goes to a newer connection) */
	if (s == NULL || s->epoch > m->epoch ||
	    s->dstate == DSTATE_RELEASING || s->dstate == DSTATE_LOADING) {
		cluster_send_handoff(b, m->node_id, m->client_id, m->epoch,
		    false, false);
		return;
	}
	cluster_give_session(b, s, m);
}

static void
cluster_on_handoff(struct strata_broker *b, const Strata__SessionControl *m)
{
	struct broker_pending *p = strata_hashmap_get(b->pending,
	    m->client_id, strlen(m->client_id));

	if (p == NULL || p->epoch != m->epoch || p->fetching) {
		STRATA_DEBUG(BROKER_COMP, "stale hand-off ignored|"
		    "client_id=%s epoch=%llu", m->client_id,
		    (unsigned long long)m->epoch);
		return;
	}
	if (p->timer != NULL)
		evtimer_del(p->timer);
	pending_resolve(p, m->has_session, m->durable);
}

static void
cluster_on_message(struct strata_redis *r, const char *msg, size_t len,
    void *arg)
{
	struct strata_broker *b = arg;
	Strata__SessionControl *m = strata__session_control__unpack(NULL,
	    len, (const uint8_t *)msg);

	if (m == NULL || m->client_id == NULL || m->node_id == NULL ||
	    m->client_id[0] == '\0' || m->node_id[0] == '\0') {
		STRATA_WARN(BROKER_COMP, "bad node channel message|len=%zu",
		    len);
		goto out;
	}
	if (b->stopping)
		goto out;
	if (m->kind == STRATA__SESSION_CONTROL__KIND__TAKEOVER)
		cluster_on_takeover(b, m);
	else
		cluster_on_handoff(b, m);
out:
	if (m != NULL)
		strata__session_control__free_unpacked(m, NULL);
}

/* ---- start and stop ---- */

int
broker_cluster_start(struct strata_broker *b)
{
	struct timeval tv = {1, 0};
	size_t len;
	char *channel = cluster_key("strata:node:", b->cfg.node_id,
	    strlen(b->cfg.node_id), &len);

	b->pending = strata_hashmap_new(pending_free);
	b->nodesub = broker_redis_new(b, NULL, NULL);
	strata_redis_subscribe(b->nodesub, channel, cluster_on_message, b);
	free(channel);
	b->started = (long long)time(NULL);
	b->lease_timer = event_new(b->base, -1, EV_PERSIST, cluster_lease, b);
	if (b->nodesub == NULL || b->lease_timer == NULL)
		return STRATA_EIO;
	event_add(b->lease_timer, &tv);
	cluster_lease(-1, 0, b);
	return 0;
}

void
broker_cluster_redis_up(struct strata_broker *b)
{
	if (!b->stopping)
		cluster_lease(-1, 0, b);
}

void
broker_cluster_stop(struct strata_broker *b)
{
	if (b->lease_timer != NULL)
		event_del(b->lease_timer);
	if (b->redis != NULL) {
		strata_redis_command(b->redis, NULL, NULL,
		    "DEL strata:broker:%s:alive", b->cfg.node_id);
		strata_redis_command(b->redis, NULL, NULL,
		    "HDEL strata:brokers %s", b->cfg.node_id);
	}
}

void
broker_cluster_free(struct strata_broker *b)
{
	strata_redis_free(b->nodesub);
	b->nodesub = NULL;
	if (b->lease_timer != NULL)
		event_free(b->lease_timer);
	b->lease_timer = NULL;
	if (b->pending != NULL)
		strata_hashmap_free(b->pending);
	b->pending = NULL;
}
