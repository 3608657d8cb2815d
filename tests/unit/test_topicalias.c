/*
 * test_topicalias.c - outbound topic alias table: first aliases handed out
 * in order, lookups, least recently used replaced, lookups refreshing
 * recency, colliding hashes, topics of every length, and random use of
 * several maxima against a straightforward model (linear LRU).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "topicalias.h"

static uint16_t
get(struct strata_topicalias *t, const char *topic, uint64_t hash)
{
	return strata_topicalias_lookup(t, topic, strlen(topic), hash);
}

static uint16_t
put(struct strata_topicalias *t, const char *topic, uint64_t hash)
{
	return strata_topicalias_assign(t, topic, strlen(topic), hash);
}

static void
test_assign_and_lookup(void **state)
{
	struct strata_topicalias *t = strata_topicalias_new(3);

	assert_int_equal(get(t, "a/b", 1), 0);
	assert_int_equal(put(t, "a/b", 1), 1);
	assert_int_equal(put(t, "a/c", 2), 2);
	assert_int_equal(get(t, "a/b", 1), 1);
	assert_int_equal(get(t, "a/c", 2), 2);
	/* same hash, other topic: no alias */
	assert_int_equal(get(t, "a/d", 1), 0);
	assert_int_equal(put(t, "a/d", 1), 3);
	assert_int_equal(get(t, "a/d", 1), 3);
	assert_int_equal(get(t, "a/b", 1), 1);
	assert_int_equal(strata_topicalias_count(t), 3);
	strata_topicalias_free(t);
}

static void
test_least_recently_used_replaced(void **state)
{
	struct strata_topicalias *t = strata_topicalias_new(3);

	put(t, "one", 11);
	put(t, "two", 22);
	put(t, "three", 33);
	/* "one" is used again: "two" is now the oldest */
	assert_int_equal(get(t, "one", 11), 1);
	assert_int_equal(put(t, "four", 44), 2);
	assert_int_equal(get(t, "two", 22), 0);
	assert_int_equal(get(t, "four", 44), 2);
	/* order now (oldest first): three, one, four */
	assert_int_equal(put(t, "five", 55), 3);
	assert_int_equal(get(t, "three", 33), 0);
	assert_int_equal(
	    put(t, "six, a much longer topic than before", 66), 1);
	assert_int_equal(get(t, "one", 11), 0);
	assert_int_equal(
	    get(t, "six, a much longer topic than before", 66), 1);
	assert_int_equal(strata_topicalias_count(t), 3);
	strata_topicalias_free(t);
}

static void
test_single_alias(void **state)
{
	struct strata_topicalias *t = strata_topicalias_new(1);

	assert_int_equal(put(t, "x", 5), 1);
	assert_int_equal(get(t, "x", 5), 1);
	assert_int_equal(put(t, "y", 5), 1);
	assert_int_equal(get(t, "x", 5), 0);
	assert_int_equal(get(t, "y", 5), 1);
	strata_topicalias_free(t);
}

static void
test_empty_table_and_free(void **state)
{
	struct strata_topicalias *t = strata_topicalias_new(65535);

	assert_int_equal(get(t, "a", 0), 0);
	assert_int_equal(strata_topicalias_count(t), 0);
	strata_topicalias_free(t);
	strata_topicalias_free(NULL);
}

/* The model: topics by index, alias of each (0: none), a use counter. */
#define TOPICS 300

struct model {
	uint16_t alias[TOPICS];
	uint64_t used_at[TOPICS];
	uint16_t count;
	uint64_t clock;
};

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t
next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* The alias the model gives topic k when it has none. */
static uint16_t
model_assign(struct model *m, unsigned k, uint16_t max)
{
	unsigned i, oldest = TOPICS;
	uint16_t a;

	if (m->count < max) {
		a = ++m->count;
	} else {
		for (i = 0; i < TOPICS; i++)
			if (m->alias[i] != 0 &&
			    (oldest == TOPICS ||
			        m->used_at[i] < m->used_at[oldest]))
				oldest = i;
		a = m->alias[oldest];
		m->alias[oldest] = 0;
	}
	m->alias[k] = a;
	return a;
}

static void
run_model(uint16_t max, unsigned topics, uint64_t hash_mask)
{
	static struct model m;
	struct strata_topicalias *t = strata_topicalias_new(max);
	char name[TOPICS][48];
	unsigned op, k;

	memset(&m, 0, sizeof(m));
	for (k = 0; k < topics; k++)
		snprintf(name[k], sizeof(name[k]), "dev/%u/%.*s", k,
		    (int)(k % 30), "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	for (op = 0; op < 40000; op++) {
		uint64_t r = next_random(), hash;
		uint16_t a;

		/* a few hot topics, many cold ones */
		k = (unsigned)(r % 4 == 0 ? r % 5 : (r >> 8) % topics);
		hash = (k * 0x9E3779B1u) & hash_mask;
		a = get(t, name[k], hash);

		assert_int_equal(a, m.alias[k]);
		if (a == 0) {
			a = put(t, name[k], hash);
			assert_int_equal(a, model_assign(&m, k, max));
		}
		assert_true(a >= 1 && a <= max);
		m.used_at[k] = ++m.clock;
	}
	assert_int_equal(strata_topicalias_count(t), m.count);
	strata_topicalias_free(t);
}

static void
test_random_against_model(void **state)
{
	run_model(1, 20, ~0ull);
	run_model(3, 20, ~0ull);
	run_model(10, 40, ~0ull);
	run_model(10, 40, 3);        /* four hash values: long chains */
	run_model(64, 300, ~0ull);   /* grows 8 -> 16 -> 32 -> 64 */
	run_model(100, 120, 0);      /* one hash value for every topic */
	run_model(1000, 300, ~0ull); /* never full */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_assign_and_lookup),
	    cmocka_unit_test(test_least_recently_used_replaced),
	    cmocka_unit_test(test_single_alias),
	    cmocka_unit_test(test_empty_table_and_free),
	    cmocka_unit_test(test_random_against_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
