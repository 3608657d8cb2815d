/*
 * sessions.c - the persistent sessions a router queues for when no
 * broker holds them (docs/internals/cluster.md, section 4).
 *
 * Brokers tell the router the subscriptions of every persistent session
 * whose filter it holds (RouteUpdate SESSION_ADD / SESSION_REMOVE, routed
 * like the filter's route):
 *   SESSION_ADD online  - the sending broker holds the session (connected
 *                         or not): its Delivers reach it through that
 *                         broker's route, the router only remembers it;
 *   SESSION_ADD offline - the broker let it go (another broker takes it
 *                         over): the router queues for it;
 *   SESSION_REMOVE      - the subscription ended.
 *
 * A session entry (struct router_session):
 *   HELD(node) --SESSION_ADD offline; node gone; node's route resync no
 *               longer names it--> OFFLINE
 *   OFFLINE --SESSION_ADD online from a broker--> HELD(that broker)
 *   HELD(a) --SESSION_ADD online from b--> HELD(b), after the publishes a
 *               had not taken were queued for it (b loads the queue)
 *   any --last subscription removed; its keys found gone from Redis
 *        (expired)--> freed
 * OFFLINE: each matching QoS 1/2 publish is appended to the session's
 * queue in Redis (strata:q:{c} / strata:qm:{c}), and that append is a
 * destination of the publish (its ack waits for it).  The subscriptions
 * of an OFFLINE session are written to strata:offline:<p> (or ":wild"),
 * where the next owner of the partition finds them.  A session that goes
 * OFFLINE because its broker died also gets its expiry as a TTL on its
 * keys (the broker set it only when the client left).
 *
 * Queue entries are named by the publish ("<origin node>/<boot>/<seq>"),
 * the same name the broker gives a Deliver, so a message both a broker and
 * a router queued is stored once.
 *
 * Barriers: a broker that takes a session over waits for the Barrier of
 * its SESSION_ADD, then reads the queue; the BarrierAck is held until the
 * session writes sent before it are done (a PING behind them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "durable.h"
#include "hashmap.h"
#include "log.h"
#include "mqtt-t.h"
#include "reader.h"
#include "router.h"
#include "status.h"
#include "subtree.h"

#define SESSIONS_SWEEP_S 30

/* The broker holding a session died: its keys get the session's expiry
 * as a TTL (none for "never").  KEYS sess, subs, q, qm, q2. */
static const char sessions_orphan_script[] =
    "local e = redis.call('HGET', KEYS[1], 'expiry') "
    "if not e then return 0 end "
    "redis.call('HSET', KEYS[1], 'node', '') "
    "if e == 'never' then return 1 end "
    "for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], "
    "tonumber(e) * 1000) end return 1";

struct router_session {
	char *client_id;
	size_t len;
	struct router_node *held;     /* NULL: OFFLINE */
	bool stale;                   /* not named by its node's resync */
	struct strata_list subs;      /* router_sess_sub */
	uint64_t mark;                /* of the last match that took it */
	uint64_t gone_mark;           /* of the scan that queues for it */
	uint8_t qos;                  /* of that match */
	bool retain;
	uint8_t n_ids;
	uint32_t ids[STRATA_MQTT_MAX_SUB_IDS];
};

struct sessions_filter {
	struct strata_list subs;      /* router_sess_sub */
	size_t len;
	char name[];
};

struct router_sess_sub {
	struct strata_list session_node;
	struct strata_list filter_node;
	struct router_session *s;
	struct sessions_filter *f;
	uint8_t options;
	uint32_t sub_id;
};

/* ---- Redis writes, counted for Barriers ---- */

struct sessions_call {
	struct strata_router *router;
	strata_redis_cb cb;
	void *arg;
};

static void
sessions_call_done(struct strata_redis *redis, redisReply *reply, void *arg)
{
	struct sessions_call *c = arg;

	c->router->sessions.writes--;
	if (c->cb != NULL)
		c->cb(redis, reply, c->arg);
	free(c);
}

static void
sessions_write(struct strata_router *r, strata_redis_cb cb, void *arg,
    int argc, const char **argv, const size_t *argvlen)
{
	struct sessions_call *c = malloc(sizeof(*c));

	if (c == NULL)
		abort();
	c->router = r;
	c->cb = cb;
	c->arg = arg;
	r->sessions.writes++;
	/* what a publisher's ack waits for: on redis-wait-replicas too */
	strata_redis_commandv_synced(r->redis, sessions_call_done, c, argc,
	    argv, argvlen);
}

static char *
sessions_key(const char *kind, const struct router_session *s, size_t *len)
{
	return strata_durable_key(kind, s->client_id, s->len, len);
}

/* ---- the index ---- */

void
router_sessions_init(struct strata_router *r)
{
	struct router_sessions *ss = &r->sessions;

	memset(ss, 0, sizeof(*ss));
	ss->by_client = strata_hashmap_new(NULL);
	ss->index = strata_subtree_new();
	if (ss->by_client == NULL || ss->index == NULL)
		abort();
}

static void
sessions_sub_free(struct router_sessions *ss, struct router_sess_sub *u)
{
	struct sessions_filter *f = u->f;

	strata_list_remove(&u->session_node);
	strata_list_remove(&u->filter_node);
	ss->n_subs--;
	free(u);
	if (!strata_list_empty(&f->subs))
		return;
	strata_subtree_remove(ss->index, f->name, f->len);
	free(f);
}

static void
sessions_free(struct router_sessions *ss, struct router_session *s)
{
	while (!strata_list_empty(&s->subs))
		sessions_sub_free(ss, STRATA_CONTAINER_OF(s->subs.next,
		    struct router_sess_sub, session_node));
	strata_hashmap_take(ss->by_client, s->client_id, s->len);
	ss->n_sessions--;
	if (s->held == NULL)
		ss->n_offline--;
	free(s->client_id);
	free(s);
}

static int
sessions_first(const void *key, size_t len, void *value, void *arg)
{
	*(struct router_session **)arg = value;
	return 1;
}

void
router_sessions_fini(struct strata_router *r)
{
	struct router_sessions *ss = &r->sessions;
	struct router_session *s;

	if (ss->by_client == NULL)
		return;
	if (ss->sweep_ev != NULL)
		event_free(ss->sweep_ev);
	while (strata_hashmap_count(ss->by_client) > 0) {
		s = NULL;
		strata_hashmap_foreach(ss->by_client, sessions_first, &s);
		sessions_free(ss, s);
	}
	strata_hashmap_free(ss->by_client);
	strata_subtree_free(ss->index, NULL);
	free(ss->match);
	memset(ss, 0, sizeof(*ss));
}

static struct router_session *
sessions_get(struct router_sessions *ss, const char *client, size_t len,
    bool create)
{
	struct router_session *s = strata_hashmap_get(ss->by_client, client,
	    len);

	if (s != NULL || !create)
		return s;
	s = calloc(1, sizeof(*s));
	if (s == NULL || (s->client_id = malloc(len + 1)) == NULL)
		abort();
	memcpy(s->client_id, client, len);
	s->client_id[len] = '\0';
	s->len = len;
	strata_list_init(&s->subs);
	strata_hashmap_put(ss->by_client, client, len, s);
	ss->n_sessions++;
	ss->n_offline++;  /* until a broker holds it */
	return s;
}

static struct router_sess_sub *
sessions_sub_find(struct router_session *s, const char *filter, size_t len)
{
	struct strata_list *pos;

	for (pos = s->subs.next; pos != &s->subs; pos = pos->next) {
		struct router_sess_sub *u = STRATA_CONTAINER_OF(pos,
		    struct router_sess_sub, session_node);

		if (u->f->len == len && memcmp(u->f->name, filter, len) == 0)
			return u;
	}
	return NULL;
}

static struct router_sess_sub *
sessions_sub_new(struct router_sessions *ss, struct router_session *s,
    const char *filter, size_t len)
{
	void **slot = strata_subtree_slot(ss->index, filter, len, true);
	struct sessions_filter *f;
	struct router_sess_sub *u;

	if (slot == NULL)
		return NULL;
	if ((f = *slot) == NULL) {
		f = malloc(sizeof(*f) + len + 1);
		if (f == NULL)
			abort();
		strata_list_init(&f->subs);
		f->len = len;
		memcpy(f->name, filter, len);
		f->name[len] = '\0';
		*slot = f;
	}
	u = calloc(1, sizeof(*u));
	if (u == NULL)
		abort();
	u->s = s;
	u->f = f;
	strata_list_push_back(&f->subs, &u->filter_node);
	strata_list_push_back(&s->subs, &u->session_node);
	ss->n_subs++;
	return u;
}

/* Add or update one subscription of client; the session is created
 * OFFLINE (*created then true).  Returns it, or NULL for an invalid
 * entry. */
static struct router_session *
sessions_add(struct strata_router *r, const char *client, size_t clen,
    const char *filter, size_t flen, uint8_t options, uint32_t sub_id,
    bool *created)
{
	struct router_sessions *ss = &r->sessions;
	struct router_session *s;
	struct router_sess_sub *u;

	if (clen == 0 || clen > UINT16_MAX ||
	    !strata_utf8_valid((const uint8_t *)client, clen) ||
	    flen == 0 || flen > UINT16_MAX ||
	    !strata_utf8_valid((const uint8_t *)filter, flen) ||
	    strata_topic_filter_check((const uint8_t *)filter, flen) != 0 ||
	    (options & 0x03) == 3 || options > 0x3F)
		return NULL;
	*created = sessions_get(ss, client, clen, false) == NULL;
	s = sessions_get(ss, client, clen, true);
	u = sessions_sub_find(s, filter, flen);
	if (u == NULL && (u = sessions_sub_new(ss, s, filter, flen)) == NULL) {
		if (strata_list_empty(&s->subs))
			sessions_free(ss, s);
		return NULL;
	}
	u->options = options;
	u->sub_id = sub_id;
	return s;
}

/* ---- Redis: offline entries ---- */

/* Write (or delete) the strata:offline entry of one subscription. */
static void
sessions_offline_one(struct strata_router *r, struct router_sess_sub *u,
    bool del)
{
	struct router_session *s = u->s;
	int p = strata_topic_filter_partition((const uint8_t *)u->f->name,
	    u->f->len, (unsigned)r->cfg.partition_levels);
	char key[48], value[32];
	char *field = malloc(s->len + 1 + u->f->len);
	const char *argv[4];
	size_t argvlen[4];

	if (field == NULL)
		abort();
	if (p < 0)
		snprintf(key, sizeof(key), "strata:offline:wild");
	else
		snprintf(key, sizeof(key), "strata:offline:%d", p);
	memcpy(field, s->client_id, s->len);
	field[s->len] = '\0';
	memcpy(field + s->len + 1, u->f->name, u->f->len);
	snprintf(value, sizeof(value), "%u,%u", u->options, u->sub_id);
	argv[0] = del ? "HDEL" : "HSET";
	argv[1] = key;
	argv[2] = field;
	argv[3] = value;
	argvlen[0] = 4;
	argvlen[1] = strlen(key);
	argvlen[2] = s->len + 1 + u->f->len;
	argvlen[3] = strlen(value);
	sessions_write(r, NULL, NULL, del ? 3 : 4, argv, argvlen);
	free(field);
}

static void
sessions_offline_write(struct strata_router *r, struct router_session *s,
    bool del)
{
	struct strata_list *pos;

	for (pos = s->subs.next; pos != &s->subs; pos = pos->next)
		sessions_offline_one(r, STRATA_CONTAINER_OF(pos,
		    struct router_sess_sub, session_node), del);
}

/* The session's keys take its expiry as TTL (its broker died). */
static void
sessions_orphan(struct strata_router *r, struct router_session *s)
{
	char *keys[5];
	const char *argv[8];
	size_t argvlen[8];

	argv[0] = "EVAL";
	argv[1] = sessions_orphan_script;
	argv[2] = "5";
	argvlen[0] = 4;
	argvlen[1] = strlen(sessions_orphan_script);
	argvlen[2] = 1;
	for (int i = 0; i < 5; i++) {
		keys[i] = sessions_key(strata_durable_kinds[i], s,
		    &argvlen[3 + i]);
		argv[3 + i] = keys[i];
	}
	sessions_write(r, NULL, NULL, 8, argv, argvlen);
	for (int i = 0; i < 5; i++)
		free(keys[i]);
}

/* One HGETALL of offline entries: add those not known (a known one may
 * be held by a broker: kept as it is). */
struct sessions_load {
	struct strata_router *router;
	int partition;
};

static void
sessions_load_entries(struct strata_router *r, const redisReply *reply)
{
	size_t bad = 0;

	for (size_t i = 0; i + 1 < reply->elements; i += 2) {
		const redisReply *k = reply->element[i];
		const redisReply *v = reply->element[i + 1];
		const char *nul;
		unsigned options = 0, sub_id = 0;
		struct router_session *s;
		size_t clen;
		bool created;

		if (k->type != REDIS_REPLY_STRING ||
		    v->type != REDIS_REPLY_STRING ||
		    (nul = memchr(k->str, '\0', k->len)) == NULL ||
		    sscanf(v->str, "%u,%u", &options, &sub_id) != 2) {
			bad++;
			continue;
		}
		clen = (size_t)(nul - k->str);
		s = sessions_get(&r->sessions, k->str, clen, false);
		if (s != NULL && sessions_sub_find(s, nul + 1,
		    k->len - clen - 1) != NULL)
			continue;
		if (sessions_add(r, k->str, clen, nul + 1, k->len - clen - 1,
		    (uint8_t)options, sub_id, &created) == NULL)
			bad++;
	}
	if (bad > 0)
		STRATA_WARN("router", "offline session entries not loaded|"
		    "count=%zu", bad);
}

static void
sessions_load_done(struct strata_redis *redis, redisReply *reply, void *arg)
{
	struct sessions_load *l = arg;
	struct strata_router *r = l->router;
	int partition = l->partition;

	free(l);
	if (r->stopping || (partition >= 0 &&
	    !router_partition_owned(r, (uint32_t)partition)))
		return;
	if (reply != NULL && reply->type == REDIS_REPLY_ARRAY)
		sessions_load_entries(r, reply);
	else
		STRATA_WARN("router", "offline sessions not loaded|"
		    "partition=%d", partition);
}

void
router_sessions_load(struct strata_router *r, int partition)
{
	struct sessions_load *l = malloc(sizeof(*l));

	if (l == NULL)
		abort();
	l->router = r;
	l->partition = partition;
	if (partition < 0)
		strata_redis_command(r->redis, sessions_load_done, l,
		    "HGETALL strata:offline:wild");
	else
		strata_redis_command(r->redis, sessions_load_done, l,
		    "HGETALL strata:offline:%d", partition);
}

/* ---- appends ---- */

struct sessions_append {
	struct strata_router *router;
	struct router_pending *pd;
	size_t len;
	char client[];
};

static void
sessions_appended(struct strata_redis *redis, redisReply *reply, void *arg)
{
	struct sessions_append *a = arg;
	struct strata_router *r = a->router;
	struct router_session *s;

	if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
		/* not stored: the publisher is told (its client re-sends) */
		(*r->m.session_append_errors)++;
		router_pending_release(a->pd, STRATA_RC_UNSPECIFIED);
		free(a);
		return;
	}
	if (reply->integer == -2) {
		(*r->m.session_queue_full)++;
	} else if (reply->integer == -1) {
		/* expired in Redis: forgotten here too */
		s = sessions_get(&r->sessions, a->client, a->len, false);
		if (s != NULL && s->held == NULL && !r->stopping) {
			sessions_offline_write(r, s, true);
			sessions_free(&r->sessions, s);
			(*r->m.sessions_expired)++;
		}
	} else if (reply->integer > 0) {
		(*r->m.session_appends)++;
	}
	router_pending_release(a->pd, STRATA_RC_SUCCESS);
	free(a);
}

/* The queue entry of m for s (delivery QoS, retain and ids of the match),
 * malloc'd; *len its size. */
static uint8_t *
sessions_pack(const struct strata_message *m, const struct router_session *s,
    size_t *len)
{
	Strata__SessionMessage sm = STRATA__SESSION_MESSAGE__INIT;
	uint32_t ids[STRATA_MQTT_MAX_SUB_IDS];
	uint8_t *buf;

	sm.topic = (char *)m->topic;
	sm.payload.data = (uint8_t *)m->payload;
	sm.payload.len = m->payload_len;
	sm.properties.data = (uint8_t *)m->props;
	sm.properties.len = m->props_len;
	sm.msg_qos = m->qos;
	sm.msg_retain = m->retain;
	sm.qos = s->qos;
	sm.retain = s->retain;
	memcpy(ids, s->ids, s->n_ids * sizeof(ids[0]));
	sm.n_sub_ids = s->n_ids;
	sm.sub_ids = ids;
	sm.received_unix_ms = router_now_ms();
	*len = strata__session_message__get_packed_size(&sm);
	buf = malloc(*len + 1);
	if (buf == NULL)
		abort();
	strata__session_message__pack(&sm, buf);
	return buf;
}

static void
sessions_append(struct strata_router *r, struct router_pending *pd,
    struct router_session *s)
{
	struct sessions_append *a = malloc(sizeof(*a) + s->len + 1);
	char qid[STRATA_DURABLE_QID_MAX], max[24];
	const char *argv[10];
	size_t argvlen[10], blen;
	char *keys[3];
	uint8_t *blob;

	if (a == NULL)
		abort();
	a->router = r;
	a->pd = pd;
	a->len = s->len;
	memcpy(a->client, s->client_id, s->len + 1);
	router_pending_qid(pd, qid, sizeof(qid));
	snprintf(max, sizeof(max), "%ld", r->cfg.max_queued);
	blob = sessions_pack(router_pending_message(pd), s, &blen);
	keys[0] = sessions_key("sess", s, &argvlen[3]);
	keys[1] = sessions_key("q", s, &argvlen[4]);
	keys[2] = sessions_key("qm", s, &argvlen[5]);
	argv[0] = "EVAL";
	argv[1] = strata_durable_append_script;
	argv[2] = "3";
	argv[3] = keys[0];
	argv[4] = keys[1];
	argv[5] = keys[2];
	argv[6] = qid;
	argv[7] = (const char *)blob;
	argv[8] = max;
	argv[9] = "0";
	argvlen[0] = 4;
	argvlen[1] = strlen(argv[1]);
	argvlen[2] = 1;
	argvlen[6] = strlen(qid);
	argvlen[7] = blen;
	argvlen[8] = strlen(max);
	argvlen[9] = 1;
	router_pending_hold(pd);
	router_pending_set_reason(pd, STRATA_RC_SUCCESS);
	sessions_write(r, sessions_appended, a, 10, argv, argvlen);
	free(blob);
	for (int i = 0; i < 3; i++)
		free(keys[i]);
}

struct sessions_match_ctx {
	struct strata_router *r;
	const struct strata_message *m;
	uint64_t gone_mark;           /* 0: OFFLINE sessions; else only
					 those marked by one scan */
};

static void
sessions_take(struct sessions_match_ctx *c, struct router_sess_sub *u)
{
	struct router_sessions *ss = &c->r->sessions;
	struct router_session *s = u->s;
	uint8_t qos = STRATA_SUBOPT_QOS(u->options);

	if (c->gone_mark == 0 ? s->held != NULL :
	    s->gone_mark != c->gone_mark)
		return;
	if (s->mark != ss->mark) {
		s->mark = ss->mark;
		s->qos = 0;
		s->retain = false;
		s->n_ids = 0;
		if (ss->n_match == ss->cap_match) {
			ss->cap_match = ss->cap_match ? ss->cap_match * 2 : 16;
			ss->match = realloc(ss->match,
			    ss->cap_match * sizeof(*ss->match));
			if (ss->match == NULL)
				abort();
		}
		ss->match[ss->n_match++] = s;
	}
	if (qos > s->qos)
		s->qos = qos;
	if ((u->options & STRATA_SUBOPT_RETAIN_AS_PUBLISHED) && c->m->retain)
		s->retain = true;
	if (u->sub_id != 0 && s->n_ids < STRATA_MQTT_MAX_SUB_IDS)
		s->ids[s->n_ids++] = u->sub_id;
}

static void
sessions_match_cb(const char *filter, size_t flen, void *value, void *arg)
{
	struct sessions_match_ctx *c = arg;
	struct sessions_filter *f = value;
	struct strata_list *pos;

	for (pos = f->subs.next; pos != &f->subs; pos = pos->next)
		sessions_take(c, STRATA_CONTAINER_OF(pos,
		    struct router_sess_sub, filter_node));
}

/* Append pd to the queues of the OFFLINE sessions it matches (or, with
 * gone_mark, of those one scan marked). */
static void
sessions_match(struct strata_router *r, struct router_pending *pd,
    uint64_t gone_mark)
{
	struct router_sessions *ss = &r->sessions;
	const struct strata_message *m = router_pending_message(pd);
	struct sessions_match_ctx c = { r, m, gone_mark };

	if (m->qos == 0 || (gone_mark == 0 && ss->n_offline == 0))
		return;
	ss->mark++;
	ss->n_match = 0;
	strata_subtree_match(ss->index, m->topic, m->topic_len,
	    sessions_match_cb, &c);
	for (size_t i = 0; i < ss->n_match; i++) {
		struct router_session *s = ss->match[i];

		if (s->qos > m->qos)
			s->qos = m->qos;
		if (s->qos > 0)
			sessions_append(r, pd, s);
	}
}

void
router_sessions_publish(struct strata_router *r, struct router_pending *pd)
{
	sessions_match(r, pd, 0);
}

static void
sessions_scan_cb(struct router_pending *pd, void *arg)
{
	struct strata_router *r = arg;

	sessions_match(r, pd, r->sessions.gone_mark);
}

/* ---- who holds a session ---- */

static void
sessions_set_held(struct router_sessions *ss, struct router_session *s,
    struct router_node *n)
{
	if (s->held == NULL && n != NULL)
		ss->n_offline--;
	else if (s->held != NULL && n == NULL)
		ss->n_offline++;
	s->held = n;
	s->stale = false;
}

/* s goes OFFLINE (held by nobody); orphaned: its broker died. */
static void
sessions_offline(struct strata_router *r, struct router_session *s,
    bool orphaned)
{
	if (s->held == NULL)
		return;
	sessions_set_held(&r->sessions, s, NULL);
	sessions_offline_write(r, s, false);
	if (orphaned)
		sessions_orphan(r, s);
	(*r->m.sessions_offline)++;
}

/* Broker n holds s now.  A previous holder's publishes not taken yet are
 * queued for s first (n reads the queue after its Barrier). */
static void
sessions_hold(struct strata_router *r, struct router_session *s,
    struct router_node *n, bool created)
{
	struct router_node *old = s->held;

	if (old == n)
		return;
	if (old != NULL) {
		s->gone_mark = ++r->sessions.gone_mark;
		router_pending_foreach_waiting(old, sessions_scan_cb, r);
	} else if (!created) {
		sessions_offline_write(r, s, true);
	}
	sessions_set_held(&r->sessions, s, n);
}

void
router_sessions_update(struct router_node *n, const Strata__RouteUpdate *u)
{
	struct strata_router *r = n->router;
	struct router_sessions *ss = &r->sessions;
	size_t clen = strlen(u->client_id), flen = strlen(u->filter);
	struct router_session *s;
	struct router_sess_sub *sub;
	bool created;

	if (u->op == STRATA__ROUTE_UPDATE__OP__SESSION_REMOVE) {
		s = sessions_get(ss, u->client_id, clen, false);
		if (s == NULL || (sub = sessions_sub_find(s, u->filter,
		    flen)) == NULL)
			return;
		if (s->held == NULL)
			sessions_offline_one(r, sub, true);
		sessions_sub_free(ss, sub);
		if (strata_list_empty(&s->subs))
			sessions_free(ss, s);
		return;
	}
	s = sessions_add(r, u->client_id, clen, u->filter, flen,
	    (uint8_t)u->options, u->sub_id, &created);
	if (s == NULL) {
		router_link_error(r, "invalid session entry", n->node_id);
		return;
	}
	if (u->online) {
		sessions_hold(r, s, n, created);
	} else if (s->held != NULL) {
		sessions_offline(r, s, false);
	} else {
		sub = sessions_sub_find(s, u->filter, flen);
		sessions_offline_one(r, sub, false);
	}
}

struct sessions_node_ctx {
	struct strata_router *r;
	struct router_node *n;
	bool stale_only;
	bool orphaned;
};

static int
sessions_node_one(const void *key, size_t len, void *value, void *arg)
{
	struct sessions_node_ctx *c = arg;
	struct router_session *s = value;

	if (s->held != c->n || (c->stale_only && !s->stale))
		return 0;
	s->gone_mark = c->r->sessions.gone_mark;
	sessions_offline(c->r, s, c->orphaned);
	return 0;
}

void
router_sessions_node_gone(struct router_node *n)
{
	struct strata_router *r = n->router;
	struct sessions_node_ctx c = { r, n, false, true };

	r->sessions.gone_mark++;
	strata_hashmap_foreach(r->sessions.by_client, sessions_node_one, &c);
	/* what it did not take goes to the queues of its sessions */
	router_pending_foreach_waiting(n, sessions_scan_cb, r);
}

static int
sessions_stale_one(const void *key, size_t len, void *value, void *arg)
{
	struct router_session *s = value;

	if (s->held == arg)
		s->stale = true;
	return 0;
}

void
router_sessions_resync_begin(struct router_node *n)
{
	strata_hashmap_foreach(n->router->sessions.by_client,
	    sessions_stale_one, n);
}

void
router_sessions_resync_commit(struct router_node *n)
{
	struct strata_router *r = n->router;
	struct sessions_node_ctx c = { r, n, true, false };

	r->sessions.gone_mark++;
	strata_hashmap_foreach(r->sessions.by_client, sessions_node_one, &c);
	router_pending_foreach_waiting(n, sessions_scan_cb, r);
}

/* ---- partitions ---- */

struct sessions_part_ctx {
	struct strata_router *r;
	uint32_t partition;
	struct router_sess_sub **victims;
	size_t n, cap;
};

static void
sessions_part_cb(const char *filter, size_t flen, void *value, void *arg)
{
	struct sessions_part_ctx *c = arg;
	struct sessions_filter *f = value;
	struct strata_list *pos;

	if (strata_topic_filter_partition((const uint8_t *)filter, flen,
	    (unsigned)c->r->cfg.partition_levels) != (int)c->partition)
		return;
	for (pos = f->subs.next; pos != &f->subs; pos = pos->next) {
		if (c->n == c->cap) {
			c->cap = c->cap ? c->cap * 2 : 16;
			c->victims = realloc(c->victims,
			    c->cap * sizeof(*c->victims));
			if (c->victims == NULL)
				abort();
		}
		c->victims[c->n++] = STRATA_CONTAINER_OF(pos,
		    struct router_sess_sub, filter_node);
	}
}

void
router_sessions_drop_partition(struct strata_router *r, uint32_t partition)
{
	struct sessions_part_ctx c = { r, partition, NULL, 0, 0 };

	if (r->sessions.n_subs == 0)
		return;
	strata_subtree_foreach(r->sessions.index, sessions_part_cb, &c);
	for (size_t i = 0; i < c.n; i++) {
		struct router_session *s = c.victims[i]->s;

		sessions_sub_free(&r->sessions, c.victims[i]);
		if (strata_list_empty(&s->subs))
			sessions_free(&r->sessions, s);
	}
	free(c.victims);
}

/* ---- barriers ---- */

struct sessions_barrier {
	struct strata_router *router;
	uint64_t link_id;
	uint64_t seq;
	void (*ack)(struct router_broker *, uint64_t);
};

static void
sessions_barrier_done(struct strata_redis *redis, redisReply *reply,
    void *arg)
{
	struct sessions_barrier *w = arg;
	struct strata_router *r = w->router;
	struct strata_list *pos;

	for (pos = r->brokers.next; !r->stopping && pos != &r->brokers;
	    pos = pos->next) {
		struct router_broker *b = STRATA_CONTAINER_OF(pos,
		    struct router_broker, node);

		if (b->id == w->link_id) {
			w->ack(b, w->seq);
			break;
		}
	}
	free(w);
}

void
router_sessions_barrier(struct router_broker *b, uint64_t seq,
    void (*ack)(struct router_broker *, uint64_t))
{
	struct strata_router *r = b->router;
	struct sessions_barrier *w;

	if (r->sessions.writes == 0) {
		ack(b, seq);
		return;
	}
	w = malloc(sizeof(*w));
	if (w == NULL)
		abort();
	w->router = r;
	w->link_id = b->id;
	w->seq = seq;
	w->ack = ack;
	/* answered in order: behind every write sent before */
	strata_redis_sync(r->redis, sessions_barrier_done, w);
}

/* ---- expiry of OFFLINE sessions nothing is appended to ---- */

struct sessions_check {
	struct strata_router *router;
	size_t len;
	char client[];
};

static void
sessions_checked(struct strata_redis *redis, redisReply *reply, void *arg)
{
	struct sessions_check *k = arg;
	struct strata_router *r = k->router;
	struct router_session *s;

	if (!r->stopping && reply != NULL &&
	    reply->type == REDIS_REPLY_INTEGER && reply->integer == 0 &&
	    (s = sessions_get(&r->sessions, k->client, k->len, false)) !=
	    NULL && s->held == NULL) {
		sessions_offline_write(r, s, true);
		sessions_free(&r->sessions, s);
		(*r->m.sessions_expired)++;
	}
	free(k);
}

static int
sessions_check_one(const void *key, size_t len, void *value, void *arg)
{
	struct strata_router *r = arg;
	struct router_session *s = value;
	struct sessions_check *k;
	const char *argv[2];
	size_t argvlen[2];

	if (s->held != NULL)
		return 0;
	k = malloc(sizeof(*k) + s->len + 1);
	if (k == NULL)
		abort();
	k->router = r;
	k->len = s->len;
	memcpy(k->client, s->client_id, s->len + 1);
	argv[0] = "EXISTS";
	argv[1] = sessions_key("sess", s, &argvlen[1]);
	argvlen[0] = 6;
	strata_redis_commandv(r->redis, sessions_checked, k, 2, argv,
	    argvlen);
	free((char *)argv[1]);
	return 0;
}

static void
sessions_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct strata_router *r = arg;

	if (r->sessions.n_offline > 0 && strata_redis_is_up(r->redis))
		strata_hashmap_foreach(r->sessions.by_client,
		    sessions_check_one, r);
}

void
router_sessions_start(struct strata_router *r)
{
	struct timeval tv = {SESSIONS_SWEEP_S, 0};

	r->sessions.sweep_ev = event_new(r->base, -1, EV_PERSIST,
	    sessions_sweep, r);
	if (r->sessions.sweep_ev == NULL)
		abort();
	event_add(r->sessions.sweep_ev, &tv);
}
