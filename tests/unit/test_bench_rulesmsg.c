/*
 * test_bench_rulesmsg.c - strata-bench's rules mode messages: the reading
 * (unpadded, at its longest, padded to a size), reading an output back
 * as a rule writes it (SELECT * and a SELECT with functions), and the
 * outputs a run expects when the WHERE lets only even seq through.
 *
 * The test harness links only libstrata, so the sources (leaves with no
 * dependencies) are compiled into this test directly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>

#include "../../bench/rulesmsg.c"
#include "../../bench/shadowmsg.c"

static json_t *
parse(const uint8_t *p, size_t n)
{
	json_error_t err;
	json_t *j = json_loadb((const char *)p, n, 0, &err);

	assert_non_null(j);
	return j;
}

static void
test_reading_unpadded(void **state)
{
	uint8_t buf[RULESMSG_MIN + 64];
	const char *want = "{\"ts\":123456789012345,\"device\":"
	                   "\"sb0000abcd-3\",\"seq\":17,\"temperature\":27.5,"
	                   "\"delta\":-4}";
	size_t n = rulesmsg_write(
	    buf, sizeof(buf), 0xabcd, 3, 17, 123456789012345ull, 0);

	assert_int_equal(n, strlen(want));
	assert_memory_equal(buf, want, n);
	/* a size below the unpadded length changes nothing */
	assert_int_equal(rulesmsg_write(buf, sizeof(buf), 0xabcd, 3, 17,
	                     123456789012345ull, 40),
	    n);
	/* too small a buffer for the size asked */
	assert_int_equal(
	    rulesmsg_write(buf, sizeof(buf), 0xabcd, 3, 17, 1, 100), 0);
}

static void
test_reading_longest_fits(void **state)
{
	uint8_t buf[RULESMSG_MIN];
	size_t n = rulesmsg_write(buf, sizeof(buf), UINT32_MAX, UINT32_MAX,
	    UINT32_MAX, UINT64_MAX, 0);
	json_t *j;

	assert_true(n > 0 && n < RULESMSG_MIN);
	/* a monotonic time in ns stays within a JSON parser's Int */
	n = rulesmsg_write(buf, sizeof(buf), UINT32_MAX, UINT32_MAX,
	    UINT32_MAX, INT64_MAX, 0);
	j = parse(buf, n);
	/* 4294967295 % 10 = 5, % 7 = 3 */
	assert_true(
	    json_real_value(json_object_get(j, "temperature")) == 25.5);
	assert_int_equal(json_integer_value(json_object_get(j, "delta")), -4);
	json_decref(j);
}

static void
test_reading_padded_to_size(void **state)
{
	uint8_t buf[RULESMSG_MIN + 512];
	struct rulesmsg_id id;
	size_t size, n,
	    bare = rulesmsg_write(buf, sizeof(buf), 7, 1, 2, 99, 0);
	json_t *j;

	for (size = bare + 9; size <= 512; size += 41) {
		n = rulesmsg_write(buf, sizeof(buf), 7, 1, 2, 99, size);
		assert_int_equal(n, size);
		j = parse(buf, n);
		assert_int_equal(
		    json_string_length(json_object_get(j, "pad")) + bare + 9,
		    size);
		json_decref(j);
		assert_int_equal(rulesmsg_read(buf, n, &id), 0);
		assert_int_equal(id.seq, 2);
	}
}

static void
test_read_select_star(void **state)
{
	uint8_t buf[RULESMSG_MIN];
	struct rulesmsg_id id;
	size_t n = rulesmsg_write(buf, sizeof(buf), 0xdeadbeef, 42,
	    4294967295u, 18446744073709551ull, 0);
	/* as a rule engine may write it back: other order, spaces */
	const char *again =
	    "{\"delta\": -1, \"seq\": 8, \"temperature\": 28.5,"
	    " \"device\": \"sb00000001-0\", \"ts\": 5}";

	assert_int_equal(rulesmsg_read(buf, n, &id), 0);
	assert_int_equal(id.nonce, 0xdeadbeef);
	assert_int_equal(id.pub, 42);
	assert_int_equal(id.seq, 4294967295u);
	assert_true(id.ts == 18446744073709551ull);
	assert_int_equal(
	    rulesmsg_read((const uint8_t *)again, strlen(again), &id), 0);
	assert_int_equal(id.nonce, 1);
	assert_int_equal(id.pub, 0);
	assert_int_equal(id.seq, 8);
	assert_true(id.ts == 5);
}

static void
test_read_select_functions(void **state)
{
	/* SELECT upper(device) AS d, round(temperature) AS t,
	 * concat(device, '-', seq) AS id, abs(delta) AS a,
	 * timestamp() AS at, ts */
	const char *out = "{\"d\":\"SB0000ABCD-3\",\"t\":28,\"id\":"
	                  "\"sb0000abcd-3-18\",\"a\":5,\"at\":1764686400123,"
	                  "\"ts\":987654321}";
	struct rulesmsg_id id;

	assert_int_equal(
	    rulesmsg_read((const uint8_t *)out, strlen(out), &id), 0);
	assert_int_equal(id.nonce, 0xabcd);
	assert_int_equal(id.pub, 3);
	assert_int_equal(id.seq, 18);
	assert_true(id.ts == 987654321);
}

static void
test_read_refused(void **state)
{
	static const char *const bad[] = {"", "{}",
	    /* no send time, or not an Int */
	    "{\"device\":\"sb00000001-0\",\"seq\":1}",
	    "{\"ts\":\"5\",\"device\":\"sb00000001-0\",\"seq\":1}",
	    "{\"ts\":-5,\"device\":\"sb00000001-0\",\"seq\":1}",
	    /* no identity */
	    "{\"ts\":5}", "{\"ts\":5,\"seq\":1}",
	    "{\"ts\":5,\"device\":\"sb00000001-0\"}",
	    "{\"ts\":5,\"device\":\"sb00000001-0\",\"seq\":-1}",
	    "{\"ts\":5,\"device\":\"sb00000001-0\",\"seq\":4294967296}",
	    /* names not of this bench */
	    "{\"ts\":5,\"device\":\"d-0\",\"seq\":1}",
	    "{\"ts\":5,\"device\":\"SB00000001-0\",\"seq\":1}",
	    "{\"ts\":5,\"device\":\"sb0000001-0\",\"seq\":1}",
	    "{\"ts\":5,\"device\":\"sb00000001-\",\"seq\":1}",
	    "{\"ts\":5,\"device\":\"sb00000001-0-1\",\"seq\":1}",
	    "{\"ts\":5,\"id\":\"sb00000001-0\"}",
	    "{\"ts\":5,\"id\":\"sb00000001-0-\"}",
	    "{\"ts\":5,\"id\":\"sb00000001-0-1x\"}",
	    "{\"ts\":5,\"id\":\"sb00000001-0-4294967296\"}"};
	struct rulesmsg_id id;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(rulesmsg_read((const uint8_t *)bad[i],
		                     strlen(bad[i]), &id),
		    -1);
}

static void
test_expected_and_slots(void **state)
{
	uint32_t seq, slot, valid;
	int even;

	assert_int_equal(rulesmsg_expected(0, true), 0);
	assert_int_equal(rulesmsg_expected(1, true), 1);
	assert_int_equal(rulesmsg_expected(2, true), 1);
	assert_int_equal(rulesmsg_expected(3, true), 2);
	assert_int_equal(rulesmsg_expected(7, false), 7);
	assert_int_equal(rulesmsg_slot(3, true, &slot), -1);
	assert_int_equal(rulesmsg_slot(4, true, &slot), 0);
	assert_int_equal(slot, 2);
	assert_int_equal(rulesmsg_slot(3, false, &slot), 0);
	assert_int_equal(slot, 3);
	/* the slots of seq 0..sent-1 are exactly 0..expected-1 */
	for (even = 0; even < 2; even++) {
		valid = 0;
		for (seq = 0; seq < 1000; seq++) {
			if (rulesmsg_slot(seq, even, &slot) != 0)
				continue;
			assert_int_equal(slot, valid);
			valid++;
			assert_int_equal(
			    rulesmsg_expected(seq + 1, even), valid);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reading_unpadded),
	    cmocka_unit_test(test_reading_longest_fits),
	    cmocka_unit_test(test_reading_padded_to_size),
	    cmocka_unit_test(test_read_select_star),
	    cmocka_unit_test(test_read_select_functions),
	    cmocka_unit_test(test_read_refused),
	    cmocka_unit_test(test_expected_and_slots),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
