/*
 * topic.c - topic names, topic filters, shared subscriptions, partitions.
 *
 * Everything here works on byte views (pointer + length), never on
 * NUL-terminated strings, so views into an input frame can be passed as
 * they are.  Nothing allocates.
 */
#include <string.h>

#include "status.h"
#include "topic.h"

#define TOPIC_SHARE_PREFIX "$share/"
#define TOPIC_SHARE_PREFIX_LEN (sizeof(TOPIC_SHARE_PREFIX) - 1)

/* 32-bit FNV-1a: offset basis 2166136261, prime 16777619.  Stable across
 * builds and hosts: the partition of a topic is part of the cluster's
 * shared state (partition map, leases) and must never change. */
static uint32_t
topic_fnv1a32(const uint8_t *p, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

/* End of the level starting at `start`: index of the next '/' or len. */
static size_t
topic_level_end(const uint8_t *p, size_t len, size_t start)
{
	const uint8_t *slash;

	if (start >= len)
		return len;
	slash = memchr(p + start, '/', len - start);
	return slash ? (size_t)(slash - p) : len;
}

int
strata_topic_name_check(const uint8_t *p, size_t len)
{
	if (len == 0)
		return STRATA_ERR(STRATA_RC_TOPIC_NAME_INVALID);
	for (size_t i = 0; i < len; i++)
		if (p[i] == '+' || p[i] == '#')
			return STRATA_ERR(STRATA_RC_TOPIC_NAME_INVALID);
	return 0;
}

/* Check a plain filter (no $share prefix): non-empty, '+' a whole level,
 * '#' a whole level and the last one. */
static int
topic_plain_filter_check(const uint8_t *p, size_t len)
{
	size_t start = 0;

	if (len == 0)
		return STRATA_ERR(STRATA_RC_TOPIC_FILTER_INVALID);
	for (;;) {
		size_t end = topic_level_end(p, len, start);
		size_t n = end - start;

		for (size_t i = start; i < end; i++) {
			if (p[i] != '+' && p[i] != '#')
				continue;
			if (n != 1 || (p[i] == '#' && end != len))
				return STRATA_ERR(
				    STRATA_RC_TOPIC_FILTER_INVALID);
		}
		if (end == len)
			return 0;
		start = end + 1;
	}
}

static bool
topic_is_share(const uint8_t *p, size_t len)
{
	return len >= TOPIC_SHARE_PREFIX_LEN &&
	       memcmp(p, TOPIC_SHARE_PREFIX, TOPIC_SHARE_PREFIX_LEN) == 0;
}

int
strata_topic_filter_check(const uint8_t *p, size_t len)
{
	struct strata_bytes group, inner;

	if (!topic_is_share(p, len))
		return topic_plain_filter_check(p, len);
	/* "$share/<group>/<filter>": the group is one non-empty level
	 * without wildcards, the inner filter a valid plain filter. */
	if (!strata_topic_share_split(p, len, &group, &inner) ||
	    group.len == 0)
		return STRATA_ERR(STRATA_RC_TOPIC_FILTER_INVALID);
	for (uint32_t i = 0; i < group.len; i++)
		if (group.p[i] == '+' || group.p[i] == '#')
			return STRATA_ERR(STRATA_RC_TOPIC_FILTER_INVALID);
	return topic_plain_filter_check(inner.p, inner.len);
}

bool
strata_topic_has_wildcard(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] == '+' || p[i] == '#')
			return true;
	return false;
}

unsigned
strata_topic_depth(const uint8_t *p, size_t len)
{
	unsigned depth = 1;

	for (size_t i = 0; i < len; i++)
		depth += p[i] == '/';
	return depth;
}

/* After the filter level ended at fi and the name ran out: the only way to
 * still match is a last filter level "#" (the "a/#" matches "a" rule). */
static bool
topic_match_parent(const uint8_t *f, size_t flen, size_t fi)
{
	return flen - fi == 2 && f[fi] == '/' && f[fi + 1] == '#';
}

bool
strata_topic_match(
    const uint8_t *f, size_t flen, const uint8_t *n, size_t nlen)
{
	size_t fi = 0, ni = 0;

	if (flen == 0)
		return false;
	/* MQTT 5.0 4.7.2: "$..." topics are not matched by a filter whose
	 * first level is a wildcard. */
	if (nlen > 0 && n[0] == '$' && (f[0] == '+' || f[0] == '#'))
		return false;
	for (;;) {
		size_t fend = topic_level_end(f, flen, fi);
		size_t nend = topic_level_end(n, nlen, ni);

		if (fend - fi == 1 && f[fi] == '#')
			return true;
		if (!(fend - fi == 1 && f[fi] == '+') &&
		    (fend - fi != nend - ni ||
		        memcmp(f + fi, n + ni, fend - fi) != 0))
			return false;
		if (fend == flen)
			return nend == nlen;
		if (nend == nlen)
			return topic_match_parent(f, flen, fend);
		fi = fend + 1;
		ni = nend + 1;
	}
}

bool
strata_topic_share_split(const uint8_t *p, size_t len,
    struct strata_bytes *group, struct strata_bytes *inner)
{
	const uint8_t *g, *slash;
	size_t rest;

	if (!topic_is_share(p, len))
		return false;
	g = p + TOPIC_SHARE_PREFIX_LEN;
	rest = len - TOPIC_SHARE_PREFIX_LEN;
	slash = memchr(g, '/', rest);
	if (slash == NULL)
		return false;
	group->p = g;
	group->len = (uint32_t)(slash - g);
	inner->p = slash + 1;
	inner->len = (uint32_t)(rest - group->len - 1);
	return true;
}

/* Length of the first `levels` levels of p: up to, not including, the
 * levels-th '/', or the whole of p when it has fewer levels. */
static size_t
topic_prefix_len(const uint8_t *p, size_t len, unsigned levels)
{
	size_t i = 0;

	if (levels == 0)
		return 0;
	for (unsigned seen = 0; i < len; i++)
		if (p[i] == '/' && ++seen == levels)
			break;
	return i;
}

uint32_t
strata_topic_partition(const uint8_t *p, size_t len, unsigned levels)
{
	size_t n = topic_prefix_len(p, len, levels);

	return topic_fnv1a32(p, n) % STRATA_PARTITIONS;
}

int
strata_topic_filter_partition(const uint8_t *p, size_t len, unsigned levels)
{
	struct strata_bytes group, inner;
	size_t n;

	/* a shared subscription lives where its filter does */
	if (strata_topic_share_split(p, len, &group, &inner)) {
		p = inner.p;
		len = inner.len;
	}
	n = topic_prefix_len(p, len, levels);

	/* A wildcard inside the key levels: matching topics spread over
	 * many partitions.  A '#' right after the key levels ("a/b/c/#"
	 * with 3 levels) matches "a/b/c" and "a/b/c/...", all keyed
	 * "a/b/c"; the loop stops before its '/', so it is not seen. */
	if (strata_topic_has_wildcard(p, n))
		return -1;
	return (int)(topic_fnv1a32(p, n) % STRATA_PARTITIONS);
}
