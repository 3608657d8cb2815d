/*
 * hist.h - log-linear latency histogram (HDR style) for strata-bench.
 *
 * Values (nanoseconds, or any unsigned unit) fall in buckets whose width
 * grows with the value: values below 128 get one bucket each, above that
 * each power of two is split into 64 equal buckets, so a reported value is
 * within 1/64 (1.6 %) above the recorded one.  Memory is constant (a fixed
 * array), recording is O(1), and two histograms merge by adding counts, so
 * worker processes send theirs to the parent as plain bytes.
 */
#ifndef STRATA_BENCH_HIST_H
#define STRATA_BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 7
#define HIST_SUB_COUNT (1u << HIST_SUB_BITS) /* 128 */
#define HIST_HALF_COUNT (HIST_SUB_COUNT / 2) /* 64 */
/* exponents 1..57 cover values up to 2^64 - 1 */
#define HIST_BUCKETS (HIST_SUB_COUNT + 57 * HIST_HALF_COUNT)

struct hist {
	uint64_t count;
	uint64_t min; /* exact; UINT64_MAX when empty */
	uint64_t max; /* exact */
	double sum;
	uint64_t buckets[HIST_BUCKETS];
};

void hist_init(struct hist *h);
void hist_record(struct hist *h, uint64_t v);
/* Add every count of src into dst. */
void hist_merge(struct hist *dst, const struct hist *src);
/* Smallest bucket upper bound at or below which a fraction q (0..1) of the
 * recorded values lie, clamped to the exact max; 0 when empty. */
uint64_t hist_quantile(const struct hist *h, double q);
double hist_mean(const struct hist *h);
/* Bucket of a value and the highest value that bucket holds (for tests). */
unsigned hist_bucket(uint64_t v);
uint64_t hist_bucket_high(unsigned idx);

#endif
