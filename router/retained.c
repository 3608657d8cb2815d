/*
 * retained.c - cache of retained messages (see retained.h).
 */
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "reader.h"
#include "retained.h"
#include "retained_value.h"
#include "status.h"
#include "topic.h"

void
router_retained_init(struct router_retained *r, size_t max_count,
    size_t max_bytes)
{
	r->cache = strata_hashmap_new(free);
	if (r->cache == NULL)
		abort();
	r->bytes = 0;
	r->max_count = max_count;
	r->max_bytes = max_bytes;
}

static size_t
retained_size(const struct router_retained_msg *m)
{
	return m->topic_len + m->payload_len + m->props_len;
}

bool
router_retained_fits(const struct router_retained *r, const char *topic,
    size_t tlen, size_t plen, size_t prlen)
{
	const struct router_retained_msg *old = strata_hashmap_get(r->cache,
	    topic, tlen);
	size_t bytes = r->bytes - (old != NULL ? retained_size(old) : 0);
	size_t count = strata_hashmap_count(r->cache) - (old != NULL);
	size_t size = tlen + plen + prlen;

	return count < r->max_count && size <= r->max_bytes &&
	    bytes <= r->max_bytes - size;
}

/* Forget topic's message (its bytes with it); false if there was none. */
static bool
retained_remove(struct router_retained *r, const char *topic, size_t tlen)
{
	struct router_retained_msg *m = strata_hashmap_take(r->cache, topic,
	    tlen);

	if (m == NULL)
		return false;
	r->bytes -= retained_size(m);
	free(m);
	return true;
}

void
router_retained_fini(struct router_retained *r)
{
	strata_hashmap_free(r->cache);
	r->cache = NULL;
}

const struct router_retained_msg *
router_retained_put(struct router_retained *r, const struct strata_message *v,
    uint32_t partition, uint64_t stored_at_ms)
{
	struct router_retained_msg *m = malloc(sizeof(*m) +
	    strata_message_block_size(v));
	struct strata_message c;

	if (m == NULL)
		abort();
	c = strata_message_copy(v, (uint8_t *)m->topic);
	m->partition = partition;
	m->qos = v->qos;
	m->stored_at_ms = stored_at_ms;
	m->topic_len = v->topic_len;
	m->payload = c.payload;
	m->payload_len = v->payload_len;
	m->props = c.props;
	m->props_len = v->props_len;
	retained_remove(r, v->topic, v->topic_len);
	strata_hashmap_put(r->cache, m->topic, m->topic_len, m);
	r->bytes += retained_size(m);
	return m;
}

bool
router_retained_delete(
    struct router_retained *r, const char *topic, size_t tlen)
{
	return retained_remove(r, topic, tlen);
}

const struct router_retained_msg *
router_retained_get(
    const struct router_retained *r, const char *topic, size_t tlen)
{
	return strata_hashmap_get(r->cache, topic, tlen);
}

size_t
router_retained_pack(const struct router_retained_msg *m, uint8_t **out)
{
	const struct strata_retained_value v = {.payload = m->payload,
	    .payload_len = m->payload_len, .qos = m->qos, .props = m->props,
	    .props_len = m->props_len, .stored_at_ms = m->stored_at_ms};

	return strata_retained_value_encode(&v, out);
}

int
router_retained_load(struct router_retained *r, const char *topic, size_t tlen,
    uint32_t partition, const uint8_t *data, size_t len)
{
	struct strata_retained_value v;
	int rc = 0;

	if (strata_hashmap_get(r->cache, topic, tlen) != NULL)
		return 0;
	if (tlen > UINT16_MAX || !strata_utf8_valid((const uint8_t *)topic,
	    tlen) || strata_topic_name_check((const uint8_t *)topic,
	    tlen) != 0)
		return STRATA_EINVAL;
	if (strata_retained_value_decode(data, len, &v) != 0)
		return STRATA_EINVAL;
	if (!router_retained_fits(r, topic, tlen, v.payload_len,
	    v.props_len)) {
		rc = STRATA_ENOSPC;
	} else {
		struct strata_message msg = {topic, tlen, v.payload,
		    v.payload_len, v.props, v.props_len, (uint8_t)v.qos, true};

		router_retained_put(r, &msg, partition, v.stored_at_ms);
	}
	strata_retained_value_release(&v);
	return rc;
}

struct retained_match_ctx {
	const char *filter;
	size_t flen;
	router_retained_cb cb;
	void *arg;
	size_t n;
};

static int
retained_match_one(const void *key, size_t len, void *value, void *arg)
{
	struct retained_match_ctx *c = arg;

	if (strata_topic_match((const uint8_t *)c->filter, c->flen, key,
	    len)) {
		c->cb(value, c->arg);
		c->n++;
	}
	return 0;
}

size_t
router_retained_match(const struct router_retained *r, const char *filter,
    size_t flen, router_retained_cb cb, void *arg)
{
	struct retained_match_ctx c = { filter, flen, cb, arg, 0 };
	struct strata_bytes group, inner;
	const struct router_retained_msg *m;

	if (strata_topic_share_split((const uint8_t *)filter, flen, &group,
	    &inner))
		return 0;
	if (!strata_topic_has_wildcard((const uint8_t *)filter, flen)) {
		m = strata_hashmap_get(r->cache, filter, flen);
		if (m == NULL)
			return 0;
		cb(m, arg);
		return 1;
	}
	/* A wildcard filter scans the cache: retained requests come once per
	 * SUBSCRIBE, not per publish. */
	strata_hashmap_foreach(r->cache, retained_match_one, &c);
	return c.n;
}

struct retained_drop_ctx {
	uint32_t partition;
	const struct router_retained_msg **victims;
	size_t n, cap;
};

static int
retained_collect(const void *key, size_t len, void *value, void *arg)
{
	struct retained_drop_ctx *c = arg;
	const struct router_retained_msg *m = value;

	if (m->partition != c->partition)
		return 0;
	if (c->n == c->cap) {
		c->cap = c->cap == 0 ? 16 : c->cap * 2;
		c->victims = realloc(c->victims, c->cap * sizeof(*c->victims));
		if (c->victims == NULL)
			abort();
	}
	c->victims[c->n++] = m;
	return 0;
}

void
router_retained_drop_partition(struct router_retained *r, uint32_t partition)
{
	struct retained_drop_ctx c = { partition, NULL, 0, 0 };

	/* The map may not change during the walk: collect, then delete. */
	strata_hashmap_foreach(r->cache, retained_collect, &c);
	for (size_t i = 0; i < c.n; i++)
		retained_remove(r, c.victims[i]->topic,
		    c.victims[i]->topic_len);
	free(c.victims);
}

size_t
router_retained_count(const struct router_retained *r)
{
	return strata_hashmap_count(r->cache);
}
