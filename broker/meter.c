/*
 * meter.c - message metering: every publish a device sends and every
 * message delivered to it, counted in AWS IoT's 5 KB units per client id
 * and per thing, kept in Redis per hour (docs/internals/metering.md).
 *
 * A consumer of devstats.c.  Each tick's rows are gathered here, a key
 * per client id, per thing and one for the cluster's total of the hour:
 *
 *   rows (row()) --gathered--> batch --done(), or METER_BATCH keys-->
 *   one EVAL of script_meter (HINCRBY of the counters that moved, EXPIRE
 *   metering-retention-hours) -> the reply: ok, or a failed write counted
 *   in strata_broker_metering_failed_total and logged.
 *
 * A row goes to the hour in which it is handed on (at most
 * devstats-interval-ms after the message).  Counts a failed write held
 * are lost to Redis, not to the broker's own counters
 * (strata_broker_metered_*_total), which count every unit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker.h"
#include "log.h"

#define METER_FIELDS 6
#define METER_BATCH 512 /* keys per EVAL */

struct meter_key {
	char *key;
	size_t len;
	long long v[METER_FIELDS];
};

struct broker_meter {
	struct strata_broker *b;
	struct meter_key *keys;
	size_t n, cap;
	long long total[METER_FIELDS];
	bool any;
	uint64_t *units[2];  /* published, delivered */
	uint64_t *bytes[2];
	uint64_t *failed;
	uint64_t last_log_ms;
};

/* KEYS: the hour's keys; ARGV: ttl, then METER_FIELDS counts per key. */
static const char script_meter[] =
    "local f = {'published', 'delivered', 'publishedUnits', "
    "  'deliveredUnits', 'publishedBytes', 'deliveredBytes'} "
    "for i, k in ipairs(KEYS) do "
    "  local base = 1 + (i - 1) * 6 "
    "  for j = 1, 6 do "
    "    local v = tonumber(ARGV[base + j]) "
    "    if v ~= 0 then redis.call('HINCRBY', k, f[j], v) end end "
    "  redis.call('EXPIRE', k, ARGV[1]) end "
    "return #KEYS";

static long long
meter_hour(void)
{
	return (long long)time(NULL) / 3600 * 3600;
}

static void
meter_add(struct broker_meter *mt, const char *kind, const char *name,
    const long long v[METER_FIELDS])
{
	struct meter_key *k;
	int n;

	if (mt->n == mt->cap) {
		mt->cap = mt->cap == 0 ? 16 : mt->cap * 2;
		mt->keys = realloc(mt->keys, mt->cap * sizeof(*mt->keys));
		if (mt->keys == NULL)
			abort();
	}
	k = &mt->keys[mt->n++];
	n = snprintf(NULL, 0, "strata:usage:%lld:%s:%s", meter_hour(), kind,
	    name);
	k->key = malloc((size_t)n + 1);
	if (k->key == NULL)
		abort();
	snprintf(k->key, (size_t)n + 1, "strata:usage:%lld:%s:%s",
	    meter_hour(), kind, name);
	k->len = (size_t)n;
	memcpy(k->v, v, sizeof(k->v));
}

static void
meter_written(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct broker_meter *mt = arg;
	uint64_t now;

	(void)r;
	if (reply != NULL && reply->type != REDIS_REPLY_ERROR)
		return;
	(*mt->failed)++;
	now = broker_now_ms();
	if (now - mt->last_log_ms >= 10000) {
		mt->last_log_ms = now;
		STRATA_WARN(BROKER_COMP, "metering write failed|error=%s",
		    reply != NULL ? reply->str : "redis unavailable");
	}
}

/* One EVAL of the gathered keys (and the hour's total). */
static void
meter_send(struct broker_meter *mt)
{
	size_t nk, argc, i = 0;
	const char **argv;
	size_t *lens;
	char (*nums)[24];
	char nkeys[24], ttl[24];

	if (mt->any)
		meter_add(mt, "total", "cluster", mt->total);
	nk = mt->n;
	if (nk == 0)
		return;
	argc = 4 + nk + nk * METER_FIELDS;
	argv = calloc(argc, sizeof(*argv));
	lens = calloc(argc, sizeof(*lens));
	nums = calloc(nk * METER_FIELDS, sizeof(*nums));
	if (argv == NULL || lens == NULL || nums == NULL)
		abort();
	snprintf(nkeys, sizeof(nkeys), "%zu", nk);
	snprintf(ttl, sizeof(ttl), "%ld", mt->b->cfg.metering_retention_hours *
	    3600);
	argv[i++] = "EVAL";
	argv[i++] = script_meter;
	argv[i++] = nkeys;
	for (size_t k = 0; k < nk; k++) {
		lens[i] = mt->keys[k].len;
		argv[i++] = mt->keys[k].key;
	}
	argv[i++] = ttl;
	for (size_t k = 0; k < nk; k++)
		for (int f = 0; f < METER_FIELDS; f++) {
			char *s = nums[k * METER_FIELDS + (size_t)f];

			snprintf(s, 24, "%lld", mt->keys[k].v[f]);
			argv[i++] = s;
		}
	for (size_t a = 0; a < argc; a++)
		if (lens[a] == 0)
			lens[a] = strlen(argv[a]);
	/* not connected: meter_written() runs with NULL and counts it */
	if (mt->b->redis != NULL)
		strata_redis_commandv(mt->b->redis, meter_written, mt,
		    (int)argc, argv, lens);
	else
		meter_written(NULL, NULL, mt);
	for (size_t k = 0; k < nk; k++)
		free(mt->keys[k].key);
	mt->n = 0;
	memset(mt->total, 0, sizeof(mt->total));
	mt->any = false;
	free(argv);
	free(lens);
	free(nums);
}

static void
meter_row(struct strata_broker *b, const struct broker_devstats_row *row,
    void *arg)
{
	struct broker_meter *mt = arg;
	const struct broker_devstats *s = row->stats;
	long long v[METER_FIELDS] = {s->msgs_in, s->msgs_out, s->units_in,
	    s->units_out, (long long)s->bytes_in, (long long)s->bytes_out};

	(void)b;
	if (s->msgs_in == 0 && s->msgs_out == 0)
		return; /* policy denials only: Detect's, not billed */
	*mt->units[0] += s->units_in;
	*mt->units[1] += s->units_out;
	*mt->bytes[0] += s->bytes_in;
	*mt->bytes[1] += s->bytes_out;
	if (row->client_id != NULL)
		meter_add(mt, "client", row->client_id, v);
	if (row->thing != NULL)
		meter_add(mt, "thing", row->thing, v);
	for (int f = 0; f < METER_FIELDS; f++)
		mt->total[f] += v[f];
	mt->any = true;
	if (mt->n >= METER_BATCH)
		meter_send(mt);
}

static void
meter_done(struct strata_broker *b, void *arg)
{
	(void)b;
	meter_send(arg);
}

void
broker_meter_start(struct strata_broker *b)
{
	struct broker_meter *mt;
	struct strata_metrics *m = b->metrics;
	static const char *const dirs[2] = {"direction=\"published\"",
	    "direction=\"delivered\""};

	if (b->cfg.metering_retention_hours == 0)
		return;
	if ((mt = calloc(1, sizeof(*mt))) == NULL)
		abort();
	mt->b = b;
	for (int d = 0; d < 2; d++) {
		mt->units[d] = strata_metrics_counter(m,
		    "strata_broker_metered_messages_total",
		    "Messages of devices in 5 KB metering units: published to "
		    "the cluster, delivered to them", dirs[d]);
		mt->bytes[d] = strata_metrics_counter(m,
		    "strata_broker_metered_bytes_total",
		    "Bytes (topic, payload, properties) of the metered "
		    "messages", dirs[d]);
	}
	mt->failed = strata_metrics_counter(m,
	    "strata_broker_metering_failed_total",
	    "Metering writes to Redis that failed (a tick's counts lost to "
	    "get-usage)", NULL);
	b->meter = mt;
	broker_devstats_consumer(b, &(struct broker_devstats_consumer){
	    meter_row, meter_done, mt});
}

void
broker_meter_free(struct strata_broker *b)
{
	struct broker_meter *mt = b->meter;

	if (mt == NULL)
		return;
	for (size_t k = 0; k < mt->n; k++)
		free(mt->keys[k].key);
	free(mt->keys);
	free(mt);
	b->meter = NULL;
}
