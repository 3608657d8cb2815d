/*
 * tracker.c - sequence tracking; see tracker.h.
 */
#include "tracker.h"

#include <stdlib.h>
#include <string.h>

void
tracker_init(struct tracker *t)
{
	memset(t, 0, sizeof(*t));
	t->max_seq = -1;
}

static void
tracker_grow(struct tracker *t, uint32_t word)
{
	uint32_t n = t->nwords ? t->nwords : 16;
	uint64_t *bits;

	while (n <= word)
		n *= 2;
	bits = realloc(t->bits, n * sizeof(*bits));
	if (!bits)
		abort();
	memset(bits + t->nwords, 0, (n - t->nwords) * sizeof(*bits));
	t->bits = bits;
	t->nwords = n;
}

void
tracker_record(struct tracker *t, uint32_t seq)
{
	uint32_t word = seq / 64;
	uint64_t bit = UINT64_C(1) << (seq % 64);

	if (word >= t->nwords)
		tracker_grow(t, word);
	if (t->bits[word] & bit) {
		t->dups++;
		return;
	}
	t->bits[word] |= bit;
	t->unique++;
	if ((int64_t)seq < t->max_seq)
		t->out_of_order++;
	else
		t->max_seq = seq;
}

uint64_t
tracker_lost(const struct tracker *t, uint64_t sent)
{
	uint64_t seen = 0, s;

	for (s = 0; s < sent; s++)
		if (s / 64 < t->nwords && (t->bits[s / 64] >> (s % 64)) & 1)
			seen++;
	return sent - seen;
}

void
tracker_free(struct tracker *t)
{
	free(t->bits);
	t->bits = NULL;
	t->nwords = 0;
}
