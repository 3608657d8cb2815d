/*
 * ops.c - one shadow request: update, get or delete of a classic or named
 * shadow (docs/internals/shadowd.md).
 *
 * A request runs:
 *   topic parsed (thing and shadow names checked: 400) -> over
 *   max-inflight at QoS 0, or dropped by the core past max-queued
 *   (shadowd_request_overloaded): 429 -> HMGET the stored document and its
 *   version -> the document engine (common/shadow.c) computes the answer
 *   and, for update and delete, the new document (its errors: 400, 404,
 *   409, 413) -> the write: a script sets the new document only if the
 *   stored version is still the one read; if another instance wrote in
 *   between, read again and apply again (at most cas-attempts times,
 *   then 429) -> publish the answers -> acknowledge the request.
 * Redis not answering: 500.  Every answer goes to the request's topic
 * plus /accepted or /rejected; an accepted update also publishes
 * update/documents, and update/delta when desired and reported differ.
 *
 * Redis keys: strata:shadow:{<thing>}:<name> HASH doc, version (name
 * empty for the classic shadow); strata:shadow-names:{<thing>} SET of
 * the thing's named shadows.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "shadow.h"
#include "shadowd.h"

#define OPS_THING_MAX 128
#define OPS_SHADOW_MAX 64

static const char *const ops_names[] = {"update", "get", "delete"};

struct ops_req {
	struct shadowd *sd;
	enum shadowd_op kind;
	shadowd_answer_cb answer_cb;       /* NULL: answer over MQTT */
	void *answer_arg;
	char thing[OPS_THING_MAX + 1];
	char name[OPS_SHADOW_MAX + 1];     /* "" for the classic shadow */
	char base[300];                    /* "$aws/things/T/shadow[/name/N]" */
	char key[BROKER_REGISTRY_KEY_MAX + OPS_SHADOW_MAX + 2];
	char token[STRATA_SHADOW_TOKEN_BUF];
	bool has_token;
	char *payload;
	size_t len;
	unsigned generation;
	uint16_t packet_id;
	unsigned attempts;
	uint64_t redis_started_us;
	struct strata_shadow_update_result res;  /* update, until written */
	json_t *answer;                    /* get / delete accepted */
	json_t *new_stored;                /* delete, until written */
};

static void ops_read(struct ops_req *r);
static void ops_start(struct ops_req *r);

static uint64_t
ops_now_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

/* ---- answers ---- */

static void
ops_publish(struct ops_req *r, const char *suffix, const json_t *doc)
{
	char topic[340];
	char *text = strata_shadow_dumps(doc);

	snprintf(topic, sizeof(topic), "%s/%s/%s", r->base,
	    ops_names[r->kind], suffix);
	shadowd_publish(r->sd, topic, text, strlen(text));
	free(text);
}

static int
ops_code_index(int code)
{
	static const int codes[] = {400, 404, 409, 413, 429, 500};

	for (int i = 0; i < 6; i++)
		if (codes[i] == code)
			return i;
	return 5;
}

static void
ops_finish(struct ops_req *r, bool accepted)
{
	struct shadowd *sd = r->sd;

	(*sd->m.requests[r->kind][accepted ? 0 : 1])++;
	shadowd_request_done(sd, r->generation, r->packet_id);
	sd->inflight--;
	*sd->m.inflight = (int64_t)sd->inflight;
	strata_shadow_update_result_clear(&r->res);
	json_decref(r->answer);
	json_decref(r->new_stored);
	free(r->payload);
	free(r);
}

/* A 404 names the shadow as AWS does ("thing", "thing~name"). */
static void
ops_name_not_found(struct ops_req *r, struct strata_shadow_error *err)
{
	char name[OPS_THING_MAX + OPS_SHADOW_MAX + 2];

	if (err->code != 404)
		return;
	if (r->name[0] != '\0')
		snprintf(name, sizeof(name), "%s~%s", r->thing, r->name);
	else
		snprintf(name, sizeof(name), "%s", r->thing);
	strata_shadow_error_not_found(err, name);
}

static void
ops_reject(struct ops_req *r, const struct strata_shadow_error *err)
{
	json_t *body = strata_shadow_error_body(err,
	    r->has_token ? r->token : NULL, (long long)time(NULL));

	(*r->sd->m.rejected[ops_code_index(err->code)])++;
	if (r->answer_cb != NULL)
		r->answer_cb(r->answer_arg, err->code, body);
	else
		ops_publish(r, "rejected", body);
	json_decref(body);
	ops_finish(r, false);
}

static void
ops_reject_code(struct ops_req *r, int code, const char *message)
{
	struct strata_shadow_error err = {.code = code};

	snprintf(err.message, sizeof(err.message), "%s", message);
	ops_reject(r, &err);
}

static void
ops_accept(struct ops_req *r)
{
	const json_t *accepted = r->kind == SHADOWD_UPDATE ? r->res.accepted :
	    r->answer;

	if (r->answer_cb != NULL)
		r->answer_cb(r->answer_arg, 200, accepted);
	else
		ops_publish(r, "accepted", accepted);
	if (r->kind != SHADOWD_UPDATE) {
		ops_finish(r, true);
		return;
	}
	if (r->res.delta != NULL) {
		ops_publish(r, "delta", r->res.delta);
		(*r->sd->m.deltas)++;
	}
	ops_publish(r, "documents", r->res.documents);
	ops_finish(r, true);
}

/* ---- Redis ---- */

static void
ops_redis_time(struct ops_req *r)
{
	strata_histogram_observe_us(r->sd->m.redis,
	    ops_now_us() - r->redis_started_us);
}

/*
 * KEYS: shadow, names; ARGV: version read ("" none), document, its
 * version, shadow name ("" classic), "1" when it is a deletion marker,
 * seconds a deletion marker is kept.  1 written, 0 the version moved.
 */
static const char script_write[] =
    "if (redis.call('HGET', KEYS[1], 'version') or '') ~= ARGV[1] then "
    "  return 0 end "
    "redis.call('HSET', KEYS[1], 'doc', ARGV[2], 'version', ARGV[3]) "
    "if ARGV[5] == '1' then redis.call('EXPIRE', KEYS[1], ARGV[6]) "
    "else redis.call('PERSIST', KEYS[1]) end "
    "if ARGV[4] ~= '' then "
    "  if ARGV[5] == '1' then redis.call('SREM', KEYS[2], ARGV[4]) "
    "  else redis.call('SADD', KEYS[2], ARGV[4]) end "
    "end "
    "return 1";

static void
ops_written(struct strata_redis *redis, redisReply *reply, void *arg)
{
	struct ops_req *r = arg;

	ops_redis_time(r);
	if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
		ops_reject_code(r, 500, "Internal service failure");
		return;
	}
	if (reply->integer == 1) {
		shadowd_fidx_thing(r->sd, r->thing);
		ops_accept(r);
		return;
	}
	(*r->sd->m.cas_retries)++;
	strata_shadow_update_result_clear(&r->res);
	json_decref(r->answer);
	json_decref(r->new_stored);
	r->answer = r->new_stored = NULL;
	if (r->attempts >= r->sd->cas_max) {
		ops_reject_code(r, 429, "Too many requests");
		return;
	}
	ops_read(r);
}

static void
ops_write(struct ops_req *r, const char *read_version, const json_t *doc)
{
	char names[BROKER_REGISTRY_KEY_MAX], version[24], ttl[24];
	char *text = strata_shadow_dumps(doc);
	const json_t *deleted = json_object_get(doc, "deleted");
	const char *v[] = {"EVAL", script_write, "2", r->key, names,
	    read_version, text, version, r->name,
	    json_is_true(deleted) ? "1" : "0", ttl};
	size_t len[11];

	broker_registry_key(names, "shadow-names", r->thing);
	snprintf(version, sizeof(version), "%lld", (long long)
	    json_integer_value(json_object_get(doc, "version")));
	snprintf(ttl, sizeof(ttl), "%lld", (long long)
	    STRATA_SHADOW_DELETED_TTL_S);
	for (int i = 0; i < 11; i++)
		len[i] = strlen(v[i]);
	*r->sd->m.document_bytes += len[6];
	(*r->sd->m.documents_written)++;
	r->redis_started_us = ops_now_us();
	strata_redis_commandv(r->sd->b->redis, ops_written, r, 11, v, len);
	free(text);
}

/* The stored document and its version are in; apply the request. */
static void
ops_apply(struct ops_req *r, const json_t *stored, const char *version)
{
	struct strata_shadow_error err;
	long long now = (long long)time(NULL);
	const char *token = r->has_token ? r->token : NULL;

	switch (r->kind) {
	case SHADOWD_GET:
		r->answer = strata_shadow_get(stored, token, now, &err);
		if (r->answer == NULL) {
			ops_name_not_found(r, &err);
			ops_reject(r, &err);
		}
		else
			ops_accept(r);
		return;
	case SHADOWD_DELETE:
		r->answer = strata_shadow_delete(stored, token, now,
		    &r->new_stored, &err);
		if (r->answer == NULL) {
			ops_name_not_found(r, &err);
			ops_reject(r, &err);
		}
		else
			ops_write(r, version, r->new_stored);
		return;
	case SHADOWD_UPDATE:
		if (strata_shadow_update(stored, r->payload, r->len, now,
		    &r->res, &err) != 0)
			ops_reject(r, &err);
		else
			ops_write(r, version, r->res.stored);
		return;
	}
}

static void
ops_got(struct strata_redis *redis, redisReply *reply, void *arg)
{
	struct ops_req *r = arg;
	json_t *stored = NULL;
	const redisReply *doc, *version;

	ops_redis_time(r);
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != 2) {
		ops_reject_code(r, 500, "Internal service failure");
		return;
	}
	doc = reply->element[0];
	version = reply->element[1];
	if (doc->type == REDIS_REPLY_STRING) {
		stored = json_loadb(doc->str, doc->len, 0, NULL);
		if (stored == NULL) {
			STRATA_ERROR(SHADOWD_COMP, "stored shadow does not "
			    "parse|key=%s", r->key);
			ops_reject_code(r, 500, "Internal service failure");
			return;
		}
	}
	ops_apply(r, stored, version->type == REDIS_REPLY_STRING ?
	    version->str : "");
	json_decref(stored);
}

static void
ops_read(struct ops_req *r)
{
	const char *v[] = {"HMGET", r->key, "doc", "version"};
	size_t len[4];

	for (int i = 0; i < 4; i++)
		len[i] = strlen(v[i]);
	r->attempts++;
	r->redis_started_us = ops_now_us();
	strata_redis_commandv(r->sd->b->redis, ops_got, r, 4, v, len);
}

/* ---- the request ---- */

/* The registry's rule for names ([a-zA-Z0-9:_-], AWS's), at most max;
 * s holds n bytes and a NUL (a NUL inside is refused). */
bool
shadowd_name_valid(const char *s, size_t n, size_t max)
{
	return n <= max && strlen(s) == n && broker_registry_name_valid(s);
}

static bool
ops_is(const char *p, size_t n, const char *word)
{
	return n == strlen(word) && memcmp(p, word, n) == 0;
}

/* A view of len bytes into a NUL-terminated copy of at most max; false
 * (and nothing copied) when it is longer. */
static bool
ops_copy(char *out, size_t max, const char *p, size_t len)
{
	if (len > max)
		return false;
	memcpy(out, p, len);
	out[len] = '\0';
	return true;
}

int
shadowd_topic_parse(const char *topic, size_t len, struct shadowd_topic *t)
{
	const char *seg[8];
	size_t seglen[8], n = 0, k;
	const char *p = topic, *end = topic + len;

	memset(t, 0, sizeof(*t));
	if (memchr(topic, '\0', len) != NULL)   /* never a valid topic */
		return -1;
	while (n < 8) {
		const char *slash = memchr(p, '/', (size_t)(end - p));

		seg[n] = p;
		seglen[n++] = (size_t)((slash != NULL ? slash : end) - p);
		if (slash == NULL)
			break;
		p = slash + 1;
	}
	if ((n != 5 && n != 7) || seg[n - 1] + seglen[n - 1] != end ||
	    !ops_is(seg[0], seglen[0], "$aws") ||
	    !ops_is(seg[1], seglen[1], "things") ||
	    !ops_is(seg[3], seglen[3], "shadow") ||
	    (n == 7 && !ops_is(seg[4], seglen[4], "name")))
		return -1;
	for (k = 0; k < 3; k++)
		if (ops_is(seg[n - 1], seglen[n - 1], ops_names[k]))
			break;
	if (k == 3 || !ops_copy(t->base, sizeof(t->base) - 1, topic,
	    (size_t)(seg[n - 1] - 1 - topic)))
		return -1;
	t->op = (enum shadowd_op)k;
	t->names_valid = ops_copy(t->thing, OPS_THING_MAX, seg[2], seglen[2]) &&
	    shadowd_name_valid(t->thing, seglen[2], OPS_THING_MAX) &&
	    (n == 5 || (ops_copy(t->name, OPS_SHADOW_MAX, seg[5], seglen[5]) &&
	    shadowd_name_valid(t->name, seglen[5], OPS_SHADOW_MAX)));
	return 0;
}

/* A request: answered 429 at once when overloaded (or at QoS 0 over
 * max-inflight), else handled. */
static void
ops_request(struct shadowd *sd, const char *topic, size_t topic_len,
    const uint8_t *payload, size_t len, unsigned generation,
    uint16_t packet_id, bool overloaded)
{
	struct ops_req *r = calloc(1, sizeof(*r));
	struct shadowd_topic t;

	if (r == NULL)
		abort();
	r->sd = sd;
	r->generation = generation;
	r->packet_id = packet_id;
	sd->inflight++;
	*sd->m.inflight = (int64_t)sd->inflight;
	if (shadowd_topic_parse(topic, topic_len, &t) != 0) {
		STRATA_WARN(SHADOWD_COMP, "not a shadow request topic|"
		    "topic=%.*s", (int)topic_len, topic);
		ops_finish(r, false);
		return;
	}
	r->kind = t.op;
	memcpy(r->thing, t.thing, sizeof(r->thing));
	memcpy(r->name, t.name, sizeof(r->name));
	memcpy(r->base, t.base, sizeof(r->base));
	r->payload = malloc(len + 1);
	if (r->payload == NULL)
		abort();
	memcpy(r->payload, payload, len);
	r->payload[len] = '\0';
	r->len = len;
	r->has_token = strata_shadow_request_token(r->payload, len,
	    r->token) != NULL;
	if (!t.names_valid) {
		ops_reject_code(r, 400, "Invalid thing or shadow name");
		return;
	}
	if (overloaded || (packet_id == 0 && sd->inflight > sd->max_inflight)) {
		ops_reject_code(r, 429, "Too many requests");
		return;
	}
	ops_start(r);
}

void
shadowd_request(struct shadowd *sd, const char *topic, size_t topic_len,
    const uint8_t *payload, size_t len, unsigned generation,
    uint16_t packet_id)
{
	ops_request(sd, topic, topic_len, payload, len, generation, packet_id,
	    false);
}

void
shadowd_request_overloaded(struct shadowd *sd, const char *topic,
    size_t topic_len, const uint8_t *payload, size_t len)
{
	ops_request(sd, topic, topic_len, payload, len, 0, 0, true);
}

/* The Redis key of r's shadow, then the first read. */
static void
ops_start(struct ops_req *r)
{
	char key[BROKER_REGISTRY_KEY_MAX];

	broker_registry_key(key, "shadow", r->thing);
	snprintf(r->key, sizeof(r->key), "%s:%s", key, r->name);
	ops_read(r);
}

void
shadowd_call(struct shadowd *sd, const struct shadowd_call *call)
{
	struct ops_req *r = calloc(1, sizeof(*r));

	if (r == NULL)
		abort();
	r->sd = sd;
	r->kind = call->op;
	r->answer_cb = call->answered;
	r->answer_arg = call->arg;
	sd->inflight++;
	*sd->m.inflight = (int64_t)sd->inflight;
	snprintf(r->thing, sizeof(r->thing), "%s", call->thing);
	snprintf(r->name, sizeof(r->name), "%s", call->name);
	if (r->name[0] != '\0')
		snprintf(r->base, sizeof(r->base), "$aws/things/%s/shadow/"
		    "name/%s", r->thing, r->name);
	else
		snprintf(r->base, sizeof(r->base), "$aws/things/%s/shadow",
		    r->thing);
	r->payload = malloc(call->len + 1);
	if (r->payload == NULL)
		abort();
	memcpy(r->payload, call->payload, call->len);
	r->payload[call->len] = '\0';
	r->len = call->len;
	r->has_token = strata_shadow_request_token(r->payload, r->len,
	    r->token) != NULL;
	ops_start(r);
}
