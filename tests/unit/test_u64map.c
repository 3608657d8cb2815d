/*
 * test_u64map.c - integer map: put/get/take against a model under random
 * operations (growth and back-shift deletion in crowded runs), replace,
 * key 0, and the sequence-number pattern of the broker's in-flight table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "u64map.h"

#define KEYS 3000

static uint64_t rng = 88172645463325252ull;

static uint64_t
next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void
test_random_against_model(void **state)
{
	static char model[KEYS + 1];
	static uintptr_t value[KEYS + 1];
	struct strata_u64map m;
	size_t count = 0;
	int op;

	strata_u64map_init(&m);
	for (op = 0; op < 300000; op++) {
		uint64_t k = next_random() % KEYS + 1;
		unsigned what = (unsigned)(next_random() % 3);

		if (what == 0) {
			uintptr_t v = (uintptr_t)next_random() | 1;
			void *prev = strata_u64map_put(&m, k, (void *)v);

			assert_true(prev == (model[k] ? (void *)value[k] :
			    NULL));
			count += !model[k];
			model[k] = 1;
			value[k] = v;
		} else if (what == 1) {
			void *got = strata_u64map_take(&m, k);

			assert_true(got == (model[k] ? (void *)value[k] : NULL));
			count -= model[k];
			model[k] = 0;
		} else {
			assert_true(strata_u64map_get(&m, k) ==
			    (model[k] ? (void *)value[k] : NULL));
		}
		assert_int_equal(strata_u64map_count(&m), count);
	}
	for (op = 1; op <= KEYS; op++)
		assert_true(strata_u64map_get(&m, (uint64_t)op) ==
		    (model[op] ? (void *)value[op] : NULL));
	strata_u64map_fini(&m);
}

static void
test_sequence_window(void **state)
{
	/* seqs come in ascending and mostly leave in order: a sliding
	 * window keeps the table small and every lookup exact */
	struct strata_u64map m;
	uint64_t seq, low = 1;
	static int mark;

	strata_u64map_init(&m);
	for (seq = 1; seq <= 200000; seq++) {
		assert_null(strata_u64map_put(&m, seq, &mark));
		if (seq - low >= 1000) {
			/* every 7th is acked late: out of order */
			if (low % 7 == 0)
				assert_true(strata_u64map_take(&m, low + 3) ==
				    &mark);
			assert_true(strata_u64map_take(&m, low) ==
			    (low % 7 == 3 && low > 3 ? NULL : &mark));
			low++;
		}
	}
	assert_true(strata_u64map_count(&m) <= 1001);
	assert_true(m.mask + 1 <= 4096);
	assert_null(strata_u64map_get(&m, 1));
	assert_true(strata_u64map_get(&m, 200000) == &mark);
	strata_u64map_fini(&m);
}

static void
test_zero_and_absent(void **state)
{
	struct strata_u64map m;
	int a, b;

	strata_u64map_init(&m);
	assert_null(strata_u64map_get(&m, 0));
	assert_null(strata_u64map_take(&m, 0));
	assert_null(strata_u64map_take(&m, 42));
	assert_null(strata_u64map_put(&m, 42, &a));
	assert_true(strata_u64map_put(&m, 42, &b) == &a);
	assert_int_equal(strata_u64map_count(&m), 1);
	assert_true(strata_u64map_take(&m, 42) == &b);
	assert_int_equal(strata_u64map_count(&m), 0);
	assert_null(strata_u64map_get(&m, 42));
	strata_u64map_fini(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_against_model),
		cmocka_unit_test(test_sequence_window),
		cmocka_unit_test(test_zero_and_absent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
