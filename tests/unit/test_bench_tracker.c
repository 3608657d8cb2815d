/*
 * test_bench_tracker.c - strata-bench's per (publisher, receiver)
 * sequence tracking: unique, duplicate, out-of-order and lost counts.
 *
 * The test harness links only libstrata, so the tracker source (a leaf
 * with no dependencies) is compiled into this test directly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../bench/tracker.c"

static void
test_in_order_no_loss(void **state)
{
	struct tracker t;
	uint32_t s;

	tracker_init(&t);
	assert_int_equal(tracker_lost(&t, 0), 0);
	assert_int_equal(tracker_lost(&t, 5), 5);
	for (s = 0; s < 10000; s++)
		tracker_record(&t, s);
	assert_int_equal(t.unique, 10000);
	assert_int_equal(t.dups, 0);
	assert_int_equal(t.out_of_order, 0);
	assert_int_equal(t.max_seq, 9999);
	assert_int_equal(tracker_lost(&t, 10000), 0);
	/* two more were sent and never arrived */
	assert_int_equal(tracker_lost(&t, 10002), 2);
	tracker_free(&t);
}

static void
test_duplicates_and_reorder(void **state)
{
	struct tracker t;

	tracker_init(&t);
	tracker_record(&t, 0);
	tracker_record(&t, 2);
	tracker_record(&t, 1); /* late: out of order, not a duplicate */
	tracker_record(&t, 2); /* duplicate */
	tracker_record(&t, 0); /* duplicate */
	tracker_record(&t, 5);
	assert_int_equal(t.unique, 4);
	assert_int_equal(t.dups, 2);
	assert_int_equal(t.out_of_order, 1);
	assert_int_equal(t.max_seq, 5);
	assert_int_equal(tracker_lost(&t, 6), 2); /* 3 and 4 */
	tracker_free(&t);
}

/* A sequence number far beyond the bitmap grows it without losing what
 * was recorded before. */
static void
test_growth_keeps_bits(void **state)
{
	struct tracker t;

	tracker_init(&t);
	tracker_record(&t, 3);
	tracker_record(&t, 1000000);
	tracker_record(&t, 3);
	assert_int_equal(t.unique, 2);
	assert_int_equal(t.dups, 1);
	assert_true(t.nwords * 64 > 1000000);
	assert_int_equal(tracker_lost(&t, 1000001), 1000001 - 2);
	tracker_free(&t);
	assert_null(t.bits);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_in_order_no_loss),
	    cmocka_unit_test(test_duplicates_and_reorder),
	    cmocka_unit_test(test_growth_keeps_bits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
