/*
 * tracker.h - per (publisher, receiver) sequence tracking for strata-bench.
 *
 * A growable bitmap of the sequence numbers seen makes duplicates and
 * losses exact: memory is one bit per message of the run.
 */
#ifndef STRATA_BENCH_TRACKER_H
#define STRATA_BENCH_TRACKER_H

#include <stdint.h>

struct tracker {
	uint64_t *bits;
	uint32_t nwords;
	int64_t max_seq; /* -1 before the first message */
	uint64_t unique;
	uint64_t dups;
	uint64_t out_of_order; /* below a sequence number already seen */
};

void tracker_init(struct tracker *t);
/* Count one delivery of seq: unique, duplicate or out of order.  Aborts
 * when the bitmap cannot grow (its size is bounded by the run's length). */
void tracker_record(struct tracker *t, uint32_t seq);
/* Messages in 0..sent-1 never seen. */
uint64_t tracker_lost(const struct tracker *t, uint64_t sent);
void tracker_free(struct tracker *t);

#endif
