/*
 * hist.c - log-linear histogram; see hist.h for the bucket layout.
 */
#include "hist.h"

#include <string.h>

void
hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

unsigned
hist_bucket(uint64_t v)
{
	unsigned msb, e;

	if (v < HIST_SUB_COUNT)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	e = msb -
	    (HIST_SUB_BITS - 1); /* >= 1: mantissa v >> e is in [64,128) */
	return HIST_SUB_COUNT + (e - 1) * HIST_HALF_COUNT +
	       (unsigned)((v >> e) - HIST_HALF_COUNT);
}

uint64_t
hist_bucket_high(unsigned idx)
{
	unsigned e;
	uint64_t mant;

	if (idx < HIST_SUB_COUNT)
		return idx;
	e = (idx - HIST_SUB_COUNT) / HIST_HALF_COUNT + 1;
	mant = HIST_HALF_COUNT + (idx - HIST_SUB_COUNT) % HIST_HALF_COUNT;
	if (e >= 57 && mant == HIST_SUB_COUNT - 1)
		return UINT64_MAX;
	return ((mant + 1) << e) - 1;
}

void
hist_record(struct hist *h, uint64_t v)
{
	h->buckets[hist_bucket(v)]++;
	h->count++;
	h->sum += (double)v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void
hist_merge(struct hist *dst, const struct hist *src)
{
	unsigned i;

	if (src->count == 0)
		return;
	for (i = 0; i < HIST_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t
hist_quantile(const struct hist *h, double q)
{
	uint64_t rank, seen = 0, high;
	unsigned i;

	if (h->count == 0)
		return 0;
	if (q <= 0)
		return h->min;
	rank = (uint64_t)(q * (double)h->count + 0.5);
	if (rank < 1)
		rank = 1;
	if (rank > h->count)
		rank = h->count;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank)
			break;
	}
	high = hist_bucket_high(i);
	if (high > h->max)
		high = h->max;
	if (high < h->min)
		high = h->min;
	return high;
}

double
hist_mean(const struct hist *h)
{
	return h->count ? h->sum / (double)h->count : 0.0;
}
