/*
 * durable.c - persistent sessions written through to Redis, so that they
 * outlive the broker that holds them (docs/internals/cluster.md, section
 * 4; the keys are in common/durable.h).
 *
 * A persistent session lives in this broker's memory, as a clean one
 * does, and every change is also written to Redis, in order, on the
 * broker's one Redis connection: subscriptions (before the SUBACK),
 * outbound QoS 1/2 messages (before the router is told the Deliver was
 * taken: the DeliverAck of a frame waits behind a PING), their state
 * changes and acknowledgements, inbound QoS 2 ids, the expiry (as TTLs
 * while the client is away).  The routers holding its filters know it as
 * a session this broker holds (RouteUpdate SESSION_ADD online).
 *
 * States (s->dstate):
 *   HELD      - held here, written through.
 *   LOADING   - taken over from Redis: the subscriptions are read and
 *               announced (SESSION_ADD online: the routers stop queueing
 *               for it), a Barrier to those routers is answered once
 *               their queue appends are done, then the queue and the
 *               inbound QoS 2 ids are read.  Delivers meanwhile are queued
 *               and written like any; the CONNECT waits.
 *   RELEASING - given to another broker: SESSION_ADD offline (the routers
 *               queue for it from now on) and a Barrier; Delivers until
 *               then are still written here.  When the Barrier is
 *               answered the hand-off is announced and the session freed
 *               (its keys stay).
 * A write Redis refuses or does not answer marks the session dirty: once
 * a second, while Redis is up, dirty sessions are written again whole.
 *
 * The broker dying loses nothing that was acknowledged: the routers keep
 * its unacknowledged Delivers until its lease expires, then queue them
 * (and everything after) for its sessions, in Redis, where the next broker
 * finds them.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "broker.h"
#include "durable.h"

/* KEYS sess, subs, q, qm, q2; ARGV node.  {expiry, subscriptions} of a
 * stored session, taken by this node (its keys lose their TTL), or nil. */
static const char durable_take_script[] =
    "local e = redis.call('HGET', KEYS[1], 'expiry') "
    "if not e then return false end "
    "redis.call('HSET', KEYS[1], 'node', ARGV[1]) "
    "for i = 1, 5 do redis.call('PERSIST', KEYS[i]) end "
    "return {e, redis.call('HGETALL', KEYS[2])}";

/* KEYS sess, subs, q, qm, q2.  Deletes a stored session; returns the
 * filters it had (the routers forget them). */
static const char durable_discard_script[] =
    "local f = redis.call('HKEYS', KEYS[2]) "
    "redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]) "
    "return f";

/* KEYS q, qm, q2.  The queue in order (name, message, ...) and the
 * inbound QoS 2 ids. */
static const char durable_queue_script[] =
    "local out = {} "
    "for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do "
    "local m = redis.call('HGET', KEYS[2], id) "
    "if m then out[#out + 1] = id out[#out + 1] = m end end "
    "return {out, redis.call('SMEMBERS', KEYS[3])}";

struct durable_keys {
	char *k[STRATA_DURABLE_KEYS];
	size_t len[STRATA_DURABLE_KEYS];
};

enum { K_SESS, K_SUBS, K_Q, K_QM, K_Q2 };

static void
durable_keys(struct durable_keys *dk, const char *client, size_t len)
{
	for (int i = 0; i < STRATA_DURABLE_KEYS; i++)
		dk->k[i] = strata_durable_key(strata_durable_kinds[i], client,
		    len, &dk->len[i]);
}

static void
durable_keys_free(struct durable_keys *dk)
{
	for (int i = 0; i < STRATA_DURABLE_KEYS; i++)
		free(dk->k[i]);
}

static uint64_t
durable_wall_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

/* ---- writes ---- */

struct durable_call {
	struct strata_broker *broker;
	uint64_t incarnation;
};

static void
durable_mark_dirty(struct strata_broker *b, uint64_t incarnation)
{
	struct broker_session *s = broker_session_of(b, incarnation);

	if (s != NULL && s->dstate != DSTATE_NONE && !s->dirty) {
		s->dirty = true;
		b->n_dirty++;
	}
}

static void
durable_written(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct durable_call *c = arg;
	struct strata_broker *b = c->broker;

	/* an error, no answer, or an append that found the session gone
	 * from Redis (it lost its data): written again whole */
	if (!b->stopping && (reply == NULL ||
	    reply->type == REDIS_REPLY_ERROR ||
	    (reply->type == REDIS_REPLY_INTEGER && reply->integer == -1))) {
		(*b->m.durable_errors)++;
		durable_mark_dirty(b, c->incarnation);
	}
	free(c);
}

/* One write of s's state; argv[0..argc). */
static void
durable_write(struct broker_session *s, int argc, const char **argv,
    const size_t *lens)
{
	struct strata_broker *b = s->broker;
	struct durable_call *c = malloc(sizeof(*c));

	if (c == NULL)
		abort();
	c->broker = b;
	c->incarnation = s->incarnation;
	b->durable_seq++;
	(*b->m.durable_writes)++;
	strata_redis_commandv(b->redis, durable_written, c, argc, argv, lens);
}

/* cmd key [arg...] on one of s's keys. */
static void
durable_key_cmd(struct broker_session *s, int kind, const char *cmd,
    int n_args, const char **args, const size_t *arglens)
{
	const char *argv[6];
	size_t lens[6], klen;
	char *key = strata_durable_key(strata_durable_kinds[kind],
	    s->client_id, s->client_id_len, &klen);

	argv[0] = cmd;
	lens[0] = strlen(cmd);
	argv[1] = key;
	lens[1] = klen;
	for (int i = 0; i < n_args; i++) {
		argv[2 + i] = args[i];
		lens[2 + i] = arglens != NULL ? arglens[i] : strlen(args[i]);
	}
	durable_write(s, 2 + n_args, argv, lens);
	free(key);
}

/* cmd over every key of s: DEL, PERSIST. */
static void
durable_all_keys(struct broker_session *s, const char *cmd,
    const char *arg)
{
	const char *args[1] = {arg};

	for (int i = 0; i < STRATA_DURABLE_KEYS; i++)
		durable_key_cmd(s, i, cmd, arg != NULL, args, NULL);
}

static void
durable_expiry_str(const struct broker_session *s, char *buf, size_t cap)
{
	if (s->expiry == UINT32_MAX)
		snprintf(buf, cap, "never");
	else
		snprintf(buf, cap, "%" PRIu32, s->expiry);
}

/* The session hash: expiry, node. */
static void
durable_write_meta(struct broker_session *s, bool held)
{
	char expiry[16];
	const char *args[4] = {"expiry", expiry, "node",
	    held ? s->broker->cfg.node_id : ""};

	durable_expiry_str(s, expiry, sizeof(expiry));
	durable_key_cmd(s, K_SESS, "HSET", 4, args, NULL);
}

static struct broker_sess_entry
durable_entry(const struct broker_sub *sub, bool online)
{
	struct broker_sess_entry e = {sub->session->client_id,
	    sub->filter->name, sub->filter->len, sub->options, sub->sub_id,
	    online};

	return e;
}

/* SESSION_ADD (online or not) or SESSION_REMOVE of sub. */
static void
durable_announce(struct strata_broker *b, const struct broker_sub *sub,
    bool add, bool online)
{
	struct broker_sess_entry e = durable_entry(sub, online);

	/* a shared subscription's messages go to connected members only
	 * (shares.c): not queued for the session by the routers */
	if (broker_share_filter(sub->filter->name, sub->filter->len))
		return;
	broker_routers_session(b, add ? STRATA__ROUTE_UPDATE__OP__SESSION_ADD :
	    STRATA__ROUTE_UPDATE__OP__SESSION_REMOVE, &e);
}

static bool
durable(const struct broker_session *s)
{
	return s->dstate != DSTATE_NONE && !s->ending &&
	    !s->broker->stopping;
}

/* A name for an entry that has none from a router (a retained message, a
 * restored one). */
static char *
durable_qid(struct strata_broker *b)
{
	const Strata__Deliver *d = b->cur_deliver;
	char buf[STRATA_DURABLE_QID_MAX];
	char *q;

	if (d != NULL && d->origin_seq != 0 && d->origin_node[0] != '\0')
		strata_durable_qid(buf, sizeof(buf), d->origin_node,
		    d->origin_boot, d->origin_seq);
	else
		snprintf(buf, sizeof(buf), "%s/%" PRIx64 "/l%" PRIu64,
		    b->cfg.node_id, b->boot, ++b->next_qid);
	q = strdup(buf);
	if (q == NULL)
		abort();
	return q;
}

/* The stored form of o: its message as the client will get it, with the
 * wall-clock time it arrived (Message Expiry counts on elsewhere). */
static uint8_t *
durable_pack(const struct broker_out *o, size_t *len)
{
	Strata__SessionMessage sm;
	uint64_t now = broker_now_ms();
	uint8_t *buf;

	broker_handoff_pack_message(&sm, o, now);
	sm.received_unix_ms = durable_wall_ms() - sm.age_ms;
	sm.age_ms = 0;
	*len = strata__session_message__get_packed_size(&sm);
	buf = malloc(*len + 1);
	if (buf == NULL)
		abort();
	strata__session_message__pack(&sm, buf);
	return buf;
}

static void
durable_append_one(struct broker_session *s, struct broker_out *o)
{
	struct strata_broker *b = s->broker;
	char bound[24];
	const char *argv[10];
	size_t lens[10], blen;
	uint8_t *blob;
	char *keys[3];

	if (o->qid == NULL)
		o->qid = durable_qid(b);
	blob = durable_pack(o, &blen);
	snprintf(bound, sizeof(bound), "%ld",
	    b->cfg.max_queued + b->cfg.max_inflight);
	keys[0] = strata_durable_key("sess", s->client_id, s->client_id_len,
	    &lens[3]);
	keys[1] = strata_durable_key("q", s->client_id, s->client_id_len,
	    &lens[4]);
	keys[2] = strata_durable_key("qm", s->client_id, s->client_id_len,
	    &lens[5]);
	argv[0] = "EVAL";
	argv[1] = strata_durable_append_script;
	argv[2] = "3";
	for (int i = 0; i < 3; i++)
		argv[3 + i] = keys[i];
	argv[6] = o->qid;
	argv[7] = (const char *)blob;
	argv[8] = bound;
	argv[9] = "1";
	lens[0] = 4;
	lens[1] = strlen(strata_durable_append_script);
	lens[2] = 1;
	lens[6] = strlen(o->qid);
	lens[7] = blen;
	lens[8] = strlen(bound);
	lens[9] = 1;
	durable_write(s, 10, argv, lens);
	free(blob);
	for (int i = 0; i < 3; i++)
		free(keys[i]);
}

void
broker_durable_append(struct broker_session *s, struct broker_out *o)
{
	if (durable(s))
		durable_append_one(s, o);
}

void
broker_durable_update(struct broker_session *s, struct broker_out *o)
{
	const char *args[2];
	size_t lens[2];
	uint8_t *blob;

	if (!durable(s) || o->qid == NULL)
		return;
	blob = durable_pack(o, &lens[1]);
	args[0] = o->qid;
	lens[0] = strlen(o->qid);
	args[1] = (const char *)blob;
	durable_key_cmd(s, K_QM, "HSET", 2, args, lens);
	free(blob);
}

void
broker_durable_remove(struct broker_session *s, struct broker_out *o)
{
	const char *args[1];

	if (!durable(s) || o->qid == NULL)
		return;
	args[0] = o->qid;
	durable_key_cmd(s, K_Q, "ZREM", 1, args, NULL);
	durable_key_cmd(s, K_QM, "HDEL", 1, args, NULL);
}

void
broker_durable_qos2(struct broker_session *s, uint16_t packet_id, bool add)
{
	char id[8];
	const char *args[1] = {id};

	if (!durable(s))
		return;
	snprintf(id, sizeof(id), "%u", packet_id);
	durable_key_cmd(s, K_Q2, add ? "SADD" : "SREM", 1, args, NULL);
}

/* ---- subscriptions ---- */

struct durable_sub_wait {
	struct strata_broker *broker;
	struct broker_suback *w;
	uint64_t incarnation;
};

/* A subscription's write, which its SUBACK waits for.  One Redis refused
 * or did not answer (the deadline) marks the session dirty, as any other
 * write: the SUBACK still goes, and the session is written again whole
 * within a second of Redis being up. */
static void
durable_sub_written(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct durable_sub_wait *dw = arg;
	struct strata_broker *b = dw->broker;

	if (!b->stopping && (reply == NULL ||
	    reply->type == REDIS_REPLY_ERROR)) {
		(*b->m.durable_errors)++;
		durable_mark_dirty(b, dw->incarnation);
	}
	if (!b->stopping)
		broker_suback_release(b, dw->w);
	free(dw);
}

static void
durable_write_sub(struct broker_session *s, const struct broker_sub *sub,
    struct broker_suback *w)
{
	char value[32];
	const char *argv[4];
	size_t lens[4], klen;
	char *key = strata_durable_key("subs", s->client_id,
	    s->client_id_len, &klen);
	struct durable_sub_wait *dw;

	snprintf(value, sizeof(value), "%u,%" PRIu32, sub->options,
	    sub->sub_id);
	argv[0] = "HSET";
	argv[1] = key;
	argv[2] = sub->filter->name;
	argv[3] = value;
	lens[0] = 4;
	lens[1] = klen;
	lens[2] = sub->filter->len;
	lens[3] = strlen(value);
	if (w == NULL) {
		durable_write(s, 4, argv, lens);
	} else {
		/* the SUBACK waits for this one */
		dw = malloc(sizeof(*dw));
		if (dw == NULL)
			abort();
		dw->broker = s->broker;
		dw->w = w;
		dw->incarnation = s->incarnation;
		w->pending++;
		s->broker->durable_seq++;
		(*s->broker->m.durable_writes)++;
		strata_redis_commandv(s->broker->redis, durable_sub_written,
		    dw, 4, argv, lens);
	}
	free(key);
}

void
broker_durable_sub(struct broker_session *s, struct broker_sub *sub,
    bool add, struct broker_suback *w)
{
	const char *args[1];
	size_t lens[1];

	if (s->dstate == DSTATE_NONE || s->dstate == DSTATE_RELEASING ||
	    s->broker->stopping)
		return;
	durable_announce(s->broker, sub, add, true);
	if (s->ending || s->dstate == DSTATE_LOADING)
		return; /* deleted whole / read from there */
	if (add) {
		durable_write_sub(s, sub, w);
		return;
	}
	args[0] = sub->filter->name;
	lens[0] = sub->filter->len;
	durable_key_cmd(s, K_SUBS, "HDEL", 1, args, lens);
}

/* ---- session life ---- */

/* Everything of s, written again (a new session, or a dirty one). */
static void
durable_write_all(struct broker_session *s)
{
	struct strata_list *lists[2] = {&s->inflight, &s->queue};
	struct strata_list *pos;

	durable_all_keys(s, "DEL", NULL);
	durable_write_meta(s, true);
	for (pos = s->subs.next; pos != &s->subs; pos = pos->next)
		durable_write_sub(s, STRATA_CONTAINER_OF(pos,
		    struct broker_sub, session_node), NULL);
	for (int i = 0; i < 2; i++)
		for (pos = lists[i]->next; pos != lists[i]; pos = pos->next)
			durable_append_one(s, STRATA_CONTAINER_OF(pos,
			    struct broker_out, node));
	for (uint32_t i = 0; i < s->n_qos2_in; i++)
		broker_durable_qos2(s, s->qos2_in[i].packet_id, true);
	if (s->conn == NULL)
		broker_durable_offline(s);
}

void
broker_durable_create(struct broker_session *s)
{
	struct strata_list *pos;

	if (s->dstate != DSTATE_NONE || s->broker->stopping ||
	    s->broker->redis == NULL)
		return;
	s->dstate = DSTATE_HELD;
	durable_write_all(s);
	/* the routers learn the subscriptions it already had */
	for (pos = s->subs.next; pos != &s->subs; pos = pos->next)
		durable_announce(s->broker, STRATA_CONTAINER_OF(pos,
		    struct broker_sub, session_node), true, true);
}

/* Keys of an offline session: kept (expiry never) or expiring with it. */
static void
durable_keys_offline(struct broker_session *s)
{
	char ms[24];

	if (s->expiry == UINT32_MAX) {
		durable_all_keys(s, "PERSIST", NULL);
		return;
	}
	snprintf(ms, sizeof(ms), "%" PRIu64, (uint64_t)s->expiry * 1000);
	durable_write_meta(s, true);
	durable_all_keys(s, "PEXPIRE", ms);
}

void
broker_durable_offline(struct broker_session *s)
{
	if (durable(s))
		durable_keys_offline(s);
}

void
broker_durable_left(struct broker_session *s)
{
	if (s->dstate != DSTATE_NONE && !s->ending &&
	    s->broker->redis != NULL)
		durable_keys_offline(s);
}

void
broker_durable_online(struct broker_session *s)
{
	if (!durable(s))
		return;
	durable_all_keys(s, "PERSIST", NULL);
	durable_write_meta(s, true);
}

void
broker_durable_end(struct broker_session *s)
{
	if (!durable(s))
		return;
	durable_all_keys(s, "DEL", NULL);
	s->ending = true;
}

/* ---- take-over from Redis ---- */

struct durable_take {
	struct strata_broker *broker;
	broker_durable_cb done;
	void *arg;
	uint64_t incarnation;     /* of the session LOADING */
	size_t len;
	char client[];
};

static struct durable_take *
durable_take_new(struct strata_broker *b, const char *client, size_t len,
    broker_durable_cb done, void *arg)
{
	struct durable_take *t = malloc(sizeof(*t) + len + 1);

	if (t == NULL)
		abort();
	t->broker = b;
	t->done = done;
	t->arg = arg;
	t->incarnation = 0;
	t->len = len;
	memcpy(t->client, client, len);
	t->client[len] = '\0';
	return t;
}

/* EVAL script over the five keys of t's client. */
static void
durable_take_eval(struct durable_take *t, const char *script, int nkeys,
    const int *kinds, const char *arg, strata_redis_cb cb)
{
	struct durable_keys dk;
	const char *argv[10];
	size_t lens[10];
	char nk[4];
	int argc = 3;

	durable_keys(&dk, t->client, t->len);
	snprintf(nk, sizeof(nk), "%d", nkeys);
	argv[0] = "EVAL";
	argv[1] = script;
	argv[2] = nk;
	lens[0] = 4;
	lens[1] = strlen(script);
	lens[2] = strlen(nk);
	for (int i = 0; i < nkeys; i++, argc++) {
		argv[argc] = dk.k[kinds[i]];
		lens[argc] = dk.len[kinds[i]];
	}
	if (arg != NULL) {
		argv[argc] = arg;
		lens[argc++] = strlen(arg);
	}
	strata_redis_commandv(t->broker->redis, cb, t, argc, argv, lens);
	durable_keys_free(&dk);
}

static const int durable_all_kinds[5] = {K_SESS, K_SUBS, K_Q, K_QM, K_Q2};

static void
durable_take_end(struct durable_take *t, struct broker_session *s, bool ok)
{
	if (s != NULL)
		s->dstate = DSTATE_HELD;
	t->done(t->arg, s, ok);
	free(t);
}

/* One "<options>,<sub id>" of strata:subs. */
static bool
durable_parse_sub(const redisReply *v, unsigned *options, unsigned *sub_id)
{
	char buf[32];

	if (v->type != REDIS_REPLY_STRING || v->len >= sizeof(buf))
		return false;
	memcpy(buf, v->str, v->len);
	buf[v->len] = '\0';
	return sscanf(buf, "%u,%u", options, sub_id) == 2;
}

/* The entry of held named id (a Deliver queued while loading), or NULL. */
static struct broker_out *
durable_held_find(struct strata_list *held, const char *id, size_t len)
{
	struct strata_list *pos;

	for (pos = held->next; pos != held; pos = pos->next) {
		struct broker_out *o = STRATA_CONTAINER_OF(pos,
		    struct broker_out, node);

		if (o->qid != NULL && strlen(o->qid) == len &&
		    memcmp(o->qid, id, len) == 0)
			return o;
	}
	return NULL;
}

/* One stored entry into s, in order; false if it is not acceptable. */
static bool
durable_restore_entry(struct broker_session *s, struct strata_list *held,
    const redisReply *id, const redisReply *m, struct broker_handoff_ids *ids)
{
	uint64_t wall = durable_wall_ms();
	Strata__SessionMessage *sm;
	struct broker_out *o;
	int rc;

	if (id->type != REDIS_REPLY_STRING || m->type != REDIS_REPLY_STRING)
		return false;
	if ((o = durable_held_find(held, id->str, id->len)) != NULL) {
		broker_qos_requeue(s, o); /* stored already: at its place */
		return true;
	}
	sm = strata__session_message__unpack(NULL, m->len,
	    (const uint8_t *)m->str);
	if (sm == NULL)
		return false;
	sm->age_ms = wall > sm->received_unix_ms ?
	    wall - sm->received_unix_ms : 0;
	rc = broker_handoff_restore_message(s, sm, broker_now_ms(), ids, &o);
	strata__session_message__free_unpacked(sm, NULL);
	if (rc != 0)
		return false;
	if (o != NULL && (o->qid = strndup(id->str, id->len)) == NULL)
		abort();
	return true;
}

/* The queue is read: the session is whole. */
static void
durable_queue_read(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct durable_take *t = arg;
	struct strata_broker *b = t->broker;
	struct broker_session *s = broker_session_of(b, t->incarnation);
	struct broker_handoff_ids *ids;
	const redisReply *q, *q2;
	struct strata_list held;
	size_t bad = 0;

	if (b->stopping || s == NULL) {
		durable_take_end(t, NULL, false);
		return;
	}
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != 2 ||
	    reply->element[0]->type != REDIS_REPLY_ARRAY ||
	    reply->element[1]->type != REDIS_REPLY_ARRAY) {
		/* the routers already think it is here: kept, written again */
		STRATA_WARN(BROKER_COMP, "stored queue not read|client_id=%s",
		    s->client_id);
		durable_mark_dirty(b, s->incarnation);
		durable_take_end(t, s, true);
		return;
	}
	q = reply->element[0];
	q2 = reply->element[1];
	ids = calloc(1, sizeof(*ids));
	if (ids == NULL)
		abort();
	/* Delivers queued while loading: at their stored place, or after */
	broker_qos_take_queue(s, &held);
	for (size_t i = 0; i + 1 < q->elements; i += 2)
		if (!durable_restore_entry(s, &held, q->element[i],
		    q->element[i + 1], ids))
			bad++;
	while (!strata_list_empty(&held))
		broker_qos_requeue(s, STRATA_CONTAINER_OF(held.next,
		    struct broker_out, node));
	for (size_t i = 0; i < q2->elements; i++) {
		unsigned long id;

		if (q2->element[i]->type == REDIS_REPLY_STRING &&
		    (id = strtoul(q2->element[i]->str, NULL, 10)) > 0 &&
		    id <= 65535 && broker_qos2_find(s, (uint16_t)id) == NULL &&
		    (long)s->n_qos2_in < b->cfg.max_inflight)
			broker_qos2_add(s, (uint16_t)id)->acked = true;
	}
	free(ids);
	if (bad > 0)
		STRATA_WARN(BROKER_COMP, "stored messages not restored|"
		    "client_id=%s count=%zu", s->client_id, bad);
	(*b->m.durable_resumes)++;
	durable_take_end(t, s, true);
}

/* The routers holding its filters stopped queueing for it. */
static void
durable_take_announced(struct strata_broker *b, void *arg)
{
	static const int kinds[3] = {K_Q, K_QM, K_Q2};
	struct durable_take *t = arg;

	if (b->stopping) {
		durable_take_end(t, NULL, false);
		return;
	}
	durable_take_eval(t, durable_queue_script, 3, kinds, NULL,
	    durable_queue_read);
}

/* The stored expiry ("never" or seconds); false if it is neither. */
static bool
durable_parse_expiry(const redisReply *v, uint32_t *expiry)
{
	char *end;
	unsigned long n;

	if (v->type != REDIS_REPLY_STRING)
		return false;
	if (strcmp(v->str, "never") == 0) {
		*expiry = UINT32_MAX;
		return true;
	}
	n = strtoul(v->str, &end, 10);
	if (end == v->str || *end != '\0' || n == 0 || n > UINT32_MAX)
		return false;
	*expiry = (uint32_t)n;
	return true;
}

/* {expiry, subscriptions} (or nil): the session is made, LOADING, with
 * the expiry it had (kept if its client leaves before the CONNACK). */
static void
durable_taken(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct durable_take *t = arg;
	struct strata_broker *b = t->broker;
	struct broker_session *s;
	struct strata_list *pos;
	const redisReply *subs;
	uint32_t expiry;

	if (b->stopping || reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		durable_take_end(t, NULL, false);
		return;
	}
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
	    reply->element[1]->type != REDIS_REPLY_ARRAY) {
		durable_take_end(t, NULL, true); /* none stored */
		return;
	}
	subs = reply->element[1];
	s = broker_session_find(b, t->client, t->len);
	if (s != NULL) /* a stale one the wait kept: the stored one wins */
		broker_session_destroy(s);
	s = broker_session_new(b, t->client, t->len);
	s->dstate = DSTATE_LOADING;
	s->persistent = true;
	if (!durable_parse_expiry(reply->element[0], &expiry)) {
		STRATA_WARN(BROKER_COMP, "stored session expiry not a "
		    "number, never expires|client_id=%s", s->client_id);
		expiry = UINT32_MAX;
	}
	s->expiry = expiry;
	t->incarnation = s->incarnation;
	for (size_t i = 0; i + 1 < subs->elements; i += 2) {
		const redisReply *f = subs->element[i];
		unsigned options, sub_id;

		if (f->type != REDIS_REPLY_STRING ||
		    !durable_parse_sub(subs->element[i + 1], &options,
		    &sub_id) || broker_handoff_restore_sub(s, f->str, f->len,
		    options, sub_id) != 0)
			STRATA_WARN(BROKER_COMP, "stored subscription not "
			    "restored|client_id=%s", s->client_id);
	}
	/* SESSION_ADD online went out with each; wait for those routers */
	for (pos = s->subs.next; pos != &s->subs; pos = pos->next) {
		struct broker_sub *sub = STRATA_CONTAINER_OF(pos,
		    struct broker_sub, session_node);

		broker_routers_mark(b, sub->filter->name, sub->filter->len);
	}
	broker_routers_wait(b, durable_take_announced, t);
}

/* The filters of a discarded session: the routers forget them. */
static void
durable_discarded(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct durable_take *t = arg;
	struct strata_broker *b = t->broker;
	struct broker_sess_entry e = {t->client, NULL, 0, 0, 0, false};

	if (b->stopping || reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
		durable_take_end(t, NULL, !b->stopping && reply != NULL);
		return;
	}
	for (size_t i = 0; i < reply->elements; i++) {
		const redisReply *f = reply->element[i];

		if (f->type != REDIS_REPLY_STRING || f->len > UINT16_MAX ||
		    memchr(f->str, '\0', f->len) != NULL)
			continue;
		e.filter = f->str;
		e.filter_len = f->len;
		broker_routers_session(b,
		    STRATA__ROUTE_UPDATE__OP__SESSION_REMOVE, &e);
	}
	durable_take_end(t, NULL, true);
}

void
broker_durable_take(struct strata_broker *b, const char *client_id,
    size_t len, bool wants, broker_durable_cb done, void *arg)
{
	struct durable_take *t = durable_take_new(b, client_id, len, done,
	    arg);

	if (wants)
		durable_take_eval(t, durable_take_script, 5, durable_all_kinds,
		    b->cfg.node_id, durable_taken);
	else
		durable_take_eval(t, durable_discard_script, 5,
		    durable_all_kinds, NULL, durable_discarded);
}

/* ---- release to another broker ---- */

struct durable_release {
	struct strata_broker *broker;
	uint64_t incarnation;
	broker_durable_cb done;
	void *arg;
};

static void
durable_released(struct strata_broker *b, void *arg)
{
	struct durable_release *rl = arg;
	struct broker_session *s = broker_session_of(b, rl->incarnation);

	if (s != NULL && !b->stopping) {
		broker_subs_remove_all(s);
		broker_session_handed_off(s);
		(*b->m.durable_releases)++;
	}
	rl->done(rl->arg, NULL, s != NULL && !b->stopping);
	free(rl);
}

void
broker_durable_release(struct broker_session *s, broker_durable_cb done,
    void *arg)
{
	struct strata_broker *b = s->broker;
	struct durable_release *rl = malloc(sizeof(*rl));
	struct strata_list *pos;

	if (rl == NULL)
		abort();
	rl->broker = b;
	rl->incarnation = s->incarnation;
	rl->done = done;
	rl->arg = arg;
	broker_session_cancel_timers(s);
	for (pos = s->subs.next; pos != &s->subs; pos = pos->next) {
		struct broker_sub *sub = STRATA_CONTAINER_OF(pos,
		    struct broker_sub, session_node);

		durable_announce(b, sub, true, false);
		broker_routers_mark(b, sub->filter->name, sub->filter->len);
	}
	s->dstate = DSTATE_RELEASING;
	broker_routers_wait(b, durable_released, rl);
}

/* ---- DeliverAcks held for Redis ---- */

struct durable_ack {
	struct strata_broker *broker;
	uint64_t link_epoch;
	uint64_t up_to;
	char router[];
};

static void
durable_ack_due(struct strata_redis *redis, redisReply *reply, void *arg)
{
	struct durable_ack *a = arg;
	struct strata_broker *b = a->broker;
	struct broker_router *r;
	Strata__DeliverAck m = STRATA__DELIVER_ACK__INIT;

	r = b->stopping ? NULL : broker_routers_find(b, a->router,
	    strlen(a->router));
	if (r != NULL) {
		r->acks_held--;
		/* on the link the Delivers came on: a new link gets them
		 * again anyway */
		if (r->link_epoch == a->link_epoch) {
			m.up_to = a->up_to;
			(void)broker_router_send(r, STRATA_LINK_DELIVER_ACK,
			    &m.base);
		}
	}
	free(a);
}

bool
broker_durable_hold_ack(struct broker_router *r, uint64_t up_to,
    uint64_t seq_before)
{
	struct strata_broker *b = r->broker;
	size_t n = strlen(r->id) + 1;
	struct durable_ack *a;

	if (b->durable_seq == seq_before && r->acks_held == 0)
		return false;
	a = malloc(sizeof(*a) + n);
	if (a == NULL)
		abort();
	a->broker = b;
	a->link_epoch = r->link_epoch;
	a->up_to = up_to;
	memcpy(a->router, r->id, n);
	r->acks_held++;
	(*b->m.deliver_acks_held)++;
	/* Redis answers in order: this reply comes after the writes' (and
	 * with redis-wait-replicas, once they reached the replicas) */
	strata_redis_sync(b->redis, durable_ack_due, a);
	return true;
}

/* ---- dirty sessions ---- */

static int
durable_rewrite_one(const void *key, size_t len, void *value, void *arg)
{
	struct broker_session *s = value;
	struct strata_broker *b = arg;

	if (!s->dirty)
		return 0;
	s->dirty = false;
	b->n_dirty--;
	if (s->dstate == DSTATE_HELD) {
		(*b->m.durable_rewrites)++;
		durable_write_all(s);
	}
	return b->n_dirty == 0;
}

static void
durable_tick(evutil_socket_t fd, short what, void *arg)
{
	struct strata_broker *b = arg;

	if (b->n_dirty > 0 && strata_redis_is_up(b->redis))
		strata_hashmap_foreach(b->sessions, durable_rewrite_one, b);
}

int
broker_durable_start(struct strata_broker *b)
{
	struct timeval tv = {1, 0};

	b->durable_tick = event_new(b->base, -1, EV_PERSIST, durable_tick, b);
	if (b->durable_tick == NULL)
		return STRATA_EIO;
	event_add(b->durable_tick, &tv);
	return 0;
}

void
broker_durable_stop(struct strata_broker *b)
{
	if (b->durable_tick != NULL)
		event_free(b->durable_tick);
	b->durable_tick = NULL;
}
