/*
 * dedup.c - the QoS 2 Delivers a broker took in the last 60 s, by origin
 * (broker node id, boot, Publish seq).  A Deliver sent again (a router
 * link dropped before the DeliverAck went out; a router died and the
 * publish was re-sent to the partition's new owner) is taken again
 * without being delivered twice: QoS 2 stays exactly once across the
 * cluster's re-sends.
 *
 * Entries live in a u64map keyed by a hash of the origin, and in a FIFO
 * by arrival; each call drops what is older than the window, and the
 * oldest past DEDUP_MAX entries.  A hash collision would make a new
 * message look seen: at 64 bits and a 60 s window the chance is
 * negligible (and the collision keys are per origin).
 */
#include <stdlib.h>
#include <string.h>

#include "broker.h"

#define DEDUP_WINDOW_MS 60000
#define DEDUP_MAX 1000000

struct broker_dedup_entry {
	struct strata_list node;
	uint64_t key;
	uint64_t at_ms;
};

static uint64_t
dedup_key(const char *node, uint64_t boot, uint64_t seq)
{
	uint64_t k = strata_hash_bytes(node, strlen(node)) ^
	    (boot * 0x9E3779B97F4A7C15ull) ^ (seq * 0xC2B2AE3D27D4EB4Full);

	return k != 0 ? k : 1;
}

static void
dedup_expire(struct strata_broker *b, uint64_t now)
{
	while (!strata_list_empty(&b->dedup_fifo)) {
		struct broker_dedup_entry *e = STRATA_CONTAINER_OF(
		    b->dedup_fifo.next, struct broker_dedup_entry, node);

		if (e->at_ms + DEDUP_WINDOW_MS > now &&
		    strata_u64map_count(&b->dedup) < DEDUP_MAX)
			break;
		strata_u64map_take(&b->dedup, e->key);
		strata_list_remove(&e->node);
		free(e);
	}
}

bool
broker_dedup_seen(struct strata_broker *b, const char *node, uint64_t boot,
    uint64_t seq)
{
	uint64_t now = broker_now_ms(), key = dedup_key(node, boot, seq);
	struct broker_dedup_entry *e;

	dedup_expire(b, now);
	if (strata_u64map_get(&b->dedup, key) != NULL)
		return true;
	e = malloc(sizeof(*e));
	if (e == NULL)
		abort();
	e->key = key;
	e->at_ms = now;
	strata_list_push_back(&b->dedup_fifo, &e->node);
	strata_u64map_put(&b->dedup, key, e);
	return false;
}

void
broker_dedup_free(struct strata_broker *b)
{
	while (!strata_list_empty(&b->dedup_fifo)) {
		struct broker_dedup_entry *e = STRATA_CONTAINER_OF(
		    b->dedup_fifo.next, struct broker_dedup_entry, node);

		strata_list_remove(&e->node);
		free(e);
	}
	strata_u64map_fini(&b->dedup);
}
