/*
 * durable.c - persistent-session key names and the shared append script
 * (see durable.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "durable.h"

const char strata_durable_append_script[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end "
    "if redis.call('ZSCORE', KEYS[2], ARGV[1]) then "
    "if ARGV[4] == '1' then redis.call('HSET', KEYS[3], ARGV[1], ARGV[2]) "
    "end return 0 end "
    "if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then "
    "redis.call('HINCRBY', KEYS[1], 'drops', 1) return -2 end "
    "local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES') "
    "local seq = 1 if last[2] then seq = tonumber(last[2]) + 1 end "
    "redis.call('ZADD', KEYS[2], seq, ARGV[1]) "
    "redis.call('HSET', KEYS[3], ARGV[1], ARGV[2]) "
    "local ttl = redis.call('PTTL', KEYS[1]) "
    "if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) "
    "redis.call('PEXPIRE', KEYS[3], ttl) end "
    "return seq";

const char *const strata_durable_kinds[STRATA_DURABLE_KEYS] = {
	"sess", "subs", "q", "qm", "q2"
};

char *
strata_durable_key(const char *kind, const char *client, size_t len,
    size_t *keylen)
{
	size_t n = strlen(kind);
	char *k = malloc(n + len + 12);

	if (k == NULL)
		abort();
	memcpy(k, "strata:", 7);
	memcpy(k + 7, kind, n);
	memcpy(k + 7 + n, ":{", 2);
	memcpy(k + 9 + n, client, len);
	memcpy(k + 9 + n + len, "}", 2);
	*keylen = 10 + n + len;
	return k;
}

size_t
strata_durable_qid(char *buf, size_t cap, const char *node, uint64_t boot,
    uint64_t seq)
{
	int n = snprintf(buf, cap, "%s/%" PRIx64 "/%" PRIu64, node, boot,
	    seq);

	if (n < 0)
		return 0;
	return (size_t)n < cap ? (size_t)n : cap - 1;
}
