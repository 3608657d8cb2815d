/*
 * test_bench_histogram.c - the strata-bench latency histogram.
 *
 * The test harness links only libstrata, so the histogram source (a leaf
 * with no dependencies) is compiled into this test directly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../bench/hist.c"

static void
test_buckets_exact_below_128(void **state)
{
	uint64_t v;

	for (v = 0; v < 128; v++) {
		assert_int_equal(hist_bucket(v), v);
		assert_int_equal(hist_bucket_high(hist_bucket(v)), v);
	}
}

/* Every value lies in a bucket whose upper bound is >= the value and
 * within 1/64 of it, and bucket indexes grow with the value. */
static void
test_bucket_precision(void **state)
{
	uint64_t v, high;
	unsigned prev = 0, b;

	for (v = 1; v < (UINT64_C(1) << 62); v += v / 7 + 1) {
		b = hist_bucket(v);
		assert_true(b < HIST_BUCKETS);
		assert_true(b >= prev);
		prev = b;
		high = hist_bucket_high(b);
		assert_true(high >= v);
		assert_true((double)(high - v) <= (double)v / 64.0);
	}
	assert_int_equal(hist_bucket(UINT64_MAX), HIST_BUCKETS - 1);
	assert_true(hist_bucket_high(HIST_BUCKETS - 1) == UINT64_MAX);
}

static void
test_quantiles_uniform(void **state)
{
	static struct hist h;
	uint64_t v, p50, p99;

	hist_init(&h);
	assert_int_equal(hist_quantile(&h, 0.5), 0);
	for (v = 1; v <= 100000; v++)
		hist_record(&h, v);
	assert_int_equal(h.count, 100000);
	assert_int_equal(h.min, 1);
	assert_int_equal(h.max, 100000);
	p50 = hist_quantile(&h, 0.5);
	p99 = hist_quantile(&h, 0.99);
	assert_true(p50 >= 50000 && p50 <= 50000 + 50000 / 64);
	assert_true(p99 >= 99000 && p99 <= 100000);
	assert_int_equal(hist_quantile(&h, 1.0), 100000);
	assert_int_equal(hist_quantile(&h, 0.0), 1);
	assert_true(hist_mean(&h) > 50000.0 && hist_mean(&h) < 50001.0);
}

static void
test_merge_equals_single(void **state)
{
	static struct hist a, b, all;
	uint64_t v;
	double q;

	hist_init(&a);
	hist_init(&b);
	hist_init(&all);
	for (v = 0; v < 20000; v++) {
		uint64_t x = (v * 2654435761u) % 1000000;

		hist_record(v % 2 ? &a : &b, x);
		hist_record(&all, x);
	}
	hist_merge(&a, &b);
	assert_int_equal(a.count, all.count);
	assert_int_equal(a.min, all.min);
	assert_int_equal(a.max, all.max);
	for (q = 0.1; q < 1.0; q += 0.1)
		assert_int_equal(hist_quantile(&a, q), hist_quantile(&all, q));
	assert_memory_equal(a.buckets, all.buckets, sizeof(a.buckets));
}

static void
test_merge_empty_keeps_min(void **state)
{
	static struct hist a, empty;

	hist_init(&a);
	hist_init(&empty);
	hist_record(&a, 42);
	hist_merge(&a, &empty);
	assert_int_equal(a.min, 42);
	assert_int_equal(a.count, 1);
	hist_merge(&empty, &a);
	assert_int_equal(empty.min, 42);
	assert_int_equal(hist_quantile(&empty, 0.999), 42);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_buckets_exact_below_128),
	    cmocka_unit_test(test_bucket_precision),
	    cmocka_unit_test(test_quantiles_uniform),
	    cmocka_unit_test(test_merge_equals_single),
	    cmocka_unit_test(test_merge_empty_keeps_min),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
