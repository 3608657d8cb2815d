/*
 * trace.c - every broker's side of the client trace
 * (docs/internals/trace.md): which client ids are traced, the flag of
 * their connections, and their events PUBLISHed on
 * strata:trace:<clientId>.
 *
 * The map (client id -> latest end time) is rebuilt from strata:traces
 * on every message of strata:trace-control and every time the control
 * subscriber comes up.  A connection is traced while c->trace is set:
 *   untraced --CONNECT decoded with a traced id, or a rebuild that finds
 *   its session's id--> traced
 *   traced --a rebuild without its id, its end time passed, close-->
 *   untraced (the close writes the disconnect line first).
 * The hot path tests c->trace and nothing else.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "broker.h"
#include "trace.h"

#define TRACE_EVENTS_PER_SECOND 1000

struct broker_trace {
	struct strata_broker *b;
	struct strata_redis *sub;        /* strata:trace-control */
	struct strata_hashmap *clients;  /* client id -> int64_t end, ms */
};

static int64_t
trace_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- events ---- */

static void
trace_conn_free(struct broker_conn *c)
{
	if (c->trace == NULL)
		return;
	free(c->trace->client_id);
	free(c->trace);
	c->trace = NULL;
}

/* Publish one line; the object is consumed. */
static void
trace_publish(struct broker_conn *c, json_t *o)
{
	struct strata_broker *b = c->broker;
	char channel[sizeof("strata:trace:") + STRATA_TRACE_CLIENT_MAX];
	char *text;
	const char *argv[3];
	size_t len[3];

	json_object_set_new(o, "nodeId", json_string(b->cfg.node_id));
	json_object_set_new(o, "clientId", json_stringn(c->trace->client_id,
	    c->trace->client_id_len));
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (text == NULL)
		abort();
	snprintf(channel, sizeof(channel), "strata:trace:%.*s",
	    (int)c->trace->client_id_len, c->trace->client_id);
	argv[0] = "PUBLISH";
	argv[1] = channel;
	argv[2] = text;
	for (int i = 0; i < 3; i++)
		len[i] = strlen(argv[i]);
	if (b->redis != NULL)
		strata_redis_commandv(b->redis, NULL, NULL, 3, argv, len);
	(*b->m.trace_events)++;
	free(text);
}

static json_t *
trace_line(const char *event, int64_t now)
{
	json_t *o = json_object();

	json_object_set_new(o, "time", json_integer(now));
	json_object_set_new(o, "event", json_string(event));
	return o;
}

/* The "dropped" line owed, if any. */
static void
trace_flush_dropped(struct broker_conn *c, int64_t now)
{
	json_t *o;

	if (c->trace->dropped == 0)
		return;
	o = trace_line("dropped", now);
	json_object_set_new(o, "count", json_integer(
	    (json_int_t)c->trace->dropped));
	c->trace->dropped = 0;
	trace_publish(c, o);
}

/* May c write an event now?  NULL when not (its trace ended: the flag is
 * dropped; over the rate: counted); else a line with time and event. */
static json_t *
trace_begin(struct broker_conn *c, const char *event)
{
	struct broker_trace_conn *t = c->trace;
	int64_t now = trace_wall_ms();

	if (now >= t->until_ms) {
		trace_conn_free(c);
		return NULL;
	}
	if (now - t->window_ms >= 1000) {
		t->window_ms = now;
		t->in_window = 0;
	}
	if (t->in_window >= TRACE_EVENTS_PER_SECOND) {
		t->dropped++;
		(*c->broker->m.trace_dropped)++;
		return NULL;
	}
	t->in_window++;
	trace_flush_dropped(c, now);
	return trace_line(event, now);
}

static const char *const trace_type_names[16] = {"RESERVED", "CONNECT",
	"CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
	"SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ",
	"PINGRESP", "DISCONNECT", "AUTH"};

static void
trace_publish_fields(json_t *o, const struct strata_mqtt_publish *pub)
{
	json_object_set_new(o, "qos", json_integer(pub->qos));
	if (pub->qos > 0)
		json_object_set_new(o, "packetId",
		    json_integer(pub->packet_id));
	json_object_set_new(o, "topic", json_stringn((const char *)
	    pub->topic.p, pub->topic.len));
	json_object_set_new(o, "payloadSize",
	    json_integer(pub->payload.len));
	json_object_set_new(o, "retain", json_boolean(pub->retain));
	json_object_set_new(o, "dup", json_boolean(pub->dup));
}

static void
trace_subscribe_fields(json_t *o, const struct strata_mqtt_packet *p,
    uint8_t version)
{
	struct strata_reader it = strata_reader_init(
	    p->u.subscribe.entries.p, p->u.subscribe.entries.len);
	struct strata_mqtt_sub_entry e;
	json_t *list = json_array();

	json_object_set_new(o, "packetId",
	    json_integer(p->u.subscribe.packet_id));
	while (strata_mqtt_sub_next(&it, p->type, version, &e) == 0) {
		json_t *f = json_stringn((const char *)e.filter.p,
		    e.filter.len);

		if (p->type == STRATA_MQTT_SUBSCRIBE) {
			json_t *s = json_object();

			json_object_set_new(s, "topicFilter", f);
			json_object_set_new(s, "qos",
			    json_integer(e.options & 3));
			f = s;
		}
		json_array_append_new(list, f);
	}
	json_object_set_new(o, "topicFilters", list);
}

static void
trace_suback_fields(json_t *o, const struct strata_mqtt_packet *p)
{
	json_t *codes = json_array();

	json_object_set_new(o, "packetId",
	    json_integer(p->u.suback.packet_id));
	for (uint32_t i = 0; i < p->u.suback.reasons.len; i++)
		json_array_append_new(codes,
		    json_integer(p->u.suback.reasons.p[i]));
	json_object_set_new(o, "reasonCodes", codes);
}

/* The fields of packet p, as its type has them. */
static void
trace_packet_fields(json_t *o, const struct strata_mqtt_packet *p,
    uint8_t version)
{
	switch (p->type) {
	case STRATA_MQTT_PUBLISH:
		trace_publish_fields(o, &p->u.publish);
		break;
	case STRATA_MQTT_PUBACK:
	case STRATA_MQTT_PUBREC:
	case STRATA_MQTT_PUBREL:
	case STRATA_MQTT_PUBCOMP:
		json_object_set_new(o, "packetId",
		    json_integer(p->u.ack.packet_id));
		json_object_set_new(o, "reasonCode",
		    json_integer(p->u.ack.reason));
		break;
	case STRATA_MQTT_SUBSCRIBE:
	case STRATA_MQTT_UNSUBSCRIBE:
		trace_subscribe_fields(o, p, version);
		break;
	case STRATA_MQTT_SUBACK:
	case STRATA_MQTT_UNSUBACK:
		trace_suback_fields(o, p);
		break;
	case STRATA_MQTT_DISCONNECT:
	case STRATA_MQTT_AUTH:
		json_object_set_new(o, "reasonCode",
		    json_integer(p->u.reason.reason));
		break;
	default:
		break;
	}
}

/* The CONNACK going out: the connect line, with what CONNECT asked. */
static void
trace_connack(struct broker_conn *c, const struct strata_mqtt_packet *p)
{
	json_t *o = trace_begin(c, "connect");

	if (o == NULL)
		return;
	json_object_set_new(o, "protocolVersion", json_integer(c->version));
	json_object_set_new(o, "keepalive", json_integer(c->keepalive));
	json_object_set_new(o, "cleanStart", json_boolean(c->clean_start));
	json_object_set_new(o, "sourceAddress", json_string(c->peer));
	json_object_set_new(o, "resultCode",
	    json_integer(p->u.connack.reason));
	trace_publish(c, o);
}

void
broker_trace_packet(struct broker_conn *c, const struct strata_mqtt_packet *p,
    bool out)
{
	json_t *o;

	if (p->type == STRATA_MQTT_CONNECT)
		return;   /* its fields are in the connect line */
	if (p->type == STRATA_MQTT_CONNACK) {
		trace_connack(c, p);
		return;
	}
	if ((o = trace_begin(c, "packet")) == NULL)
		return;
	json_object_set_new(o, "direction", json_string(out ? "out" : "in"));
	json_object_set_new(o, "type", json_string(trace_type_names[
	    p->type & 15]));
	trace_packet_fields(o, p, c->version);
	trace_publish(c, o);
}

void
broker_trace_closed(struct broker_conn *c)
{
	json_t *o;

	if (c->trace == NULL)
		return;
	/* the disconnect line is owed even over the rate */
	if (c->trace->in_window >= TRACE_EVENTS_PER_SECOND)
		c->trace->in_window--;
	o = trace_begin(c, "disconnect");
	if (o != NULL) {
		json_object_set_new(o, "reason", json_string(
		    strata_lifecycle_reason(c->close_reason,
		    c->client_closed)));
		trace_publish(c, o);
	}
	trace_conn_free(c);
}

/* ---- which connections ---- */

static void
trace_flag(struct broker_conn *c, const char *id, size_t len,
    int64_t until)
{
	if (c->trace == NULL) {
		c->trace = calloc(1, sizeof(*c->trace));
		if (c->trace == NULL ||
		    (c->trace->client_id = malloc(len + 1)) == NULL)
			abort();
		memcpy(c->trace->client_id, id, len);
		c->trace->client_id[len] = '\0';
		c->trace->client_id_len = len;
	}
	c->trace->until_ms = until;
}

void
broker_trace_connect(struct broker_conn *c,
    const struct strata_mqtt_connect *cn)
{
	struct broker_trace *t = c->broker->trace;
	const int64_t *until;

	if (t == NULL || c->trace != NULL || c->internal ||
	    strata_hashmap_count(t->clients) == 0 || cn->client_id.len == 0)
		return;
	until = strata_hashmap_get(t->clients, cn->client_id.p,
	    cn->client_id.len);
	if (until != NULL && *until > trace_wall_ms())
		trace_flag(c, (const char *)cn->client_id.p,
		    cn->client_id.len, *until);
}

/* The live connection of client id, or NULL. */
static struct broker_conn *
trace_conn_of(struct strata_broker *b, const char *id, size_t len)
{
	struct broker_session *s = broker_session_find(b, id, len);

	if (s == NULL || s->conn == NULL || s->conn->internal ||
	    s->conn->state != CONN_ACTIVE)
		return NULL;
	return s->conn;
}

/* Ids of the old map that the new one lacks: their connections are not
 * traced any more. */
static int
trace_unflag_gone(const void *key, size_t len, void *value, void *arg)
{
	struct broker_trace *t = arg;
	struct broker_conn *c;

	(void)value;
	if (strata_hashmap_get(t->clients, key, len) != NULL)
		return 0;
	if ((c = trace_conn_of(t->b, key, len)) != NULL)
		trace_conn_free(c);
	return 0;
}

static int
trace_flag_new(const void *key, size_t len, void *value, void *arg)
{
	struct broker_trace *t = arg;
	struct broker_conn *c = trace_conn_of(t->b, key, len);

	if (c != NULL)
		trace_flag(c, key, len, *(int64_t *)value);
	return 0;
}

/* Add one member and its score to map (the later end time wins). */
static void
trace_map_add(struct strata_hashmap *map, const redisReply *member,
    const redisReply *score)
{
	const char *id;
	size_t len;
	int64_t until, **slot;

	if (member->type != REDIS_REPLY_STRING ||
	    score->type != REDIS_REPLY_STRING)
		return;
	id = strata_trace_member_client(member->str, member->len, &len);
	if (id == NULL)
		return;
	until = (int64_t)strtoll(score->str, NULL, 10) * 1000;
	slot = (int64_t **)strata_hashmap_slot(map, id, len, true);
	if (*slot == NULL) {
		if ((*slot = malloc(sizeof(int64_t))) == NULL)
			abort();
		**slot = until;
	} else if (**slot < until) {
		**slot = until;
	}
}

static void
trace_loaded(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct strata_broker *b = arg;
	struct broker_trace *t = b->trace;
	struct strata_hashmap *old;

	(void)r;
	if (t == NULL || b->stopping || reply == NULL ||
	    reply->type != REDIS_REPLY_ARRAY)
		return;
	old = t->clients;
	t->clients = strata_hashmap_new(free);
	for (size_t i = 0; i + 1 < reply->elements; i += 2)
		trace_map_add(t->clients, reply->element[i],
		    reply->element[i + 1]);
	strata_hashmap_foreach(old, trace_unflag_gone, t);
	strata_hashmap_foreach(t->clients, trace_flag_new, t);
	strata_hashmap_free(old);
	*b->m.traced_clients = (int64_t)strata_hashmap_count(t->clients);
}

static void
trace_reload(struct broker_trace *t)
{
	strata_redis_command(t->b->redis, trace_loaded, t->b,
	    "ZRANGEBYSCORE strata:traces %lld +inf WITHSCORES",
	    (long long)(trace_wall_ms() / 1000));
}

static void
trace_on_message(struct strata_redis *r, const char *msg, size_t len,
    void *arg)
{
	struct broker_trace *t = arg;

	(void)r;
	(void)msg;
	(void)len;
	if (!t->b->stopping)
		trace_reload(t);
}

static void
trace_sub_up(struct strata_redis *r, void *arg)
{
	(void)r;
	trace_on_message(NULL, NULL, 0, arg);
}

int
broker_trace_start(struct strata_broker *b)
{
	struct broker_trace *t;

	if (b->redis == NULL)
		return 0;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		abort();
	t->b = b;
	t->clients = strata_hashmap_new(free);
	t->sub = broker_redis_new(b, trace_sub_up, t);
	if (t->sub == NULL)
		abort();
	strata_redis_subscribe(t->sub, "strata:trace-control",
	    trace_on_message, t);
	b->trace = t;
	return 0;
}

void
broker_trace_free(struct strata_broker *b)
{
	struct broker_trace *t = b->trace;

	if (t == NULL)
		return;
	b->trace = NULL;
	strata_redis_free(t->sub);
	strata_hashmap_free(t->clients);
	free(t);
}
