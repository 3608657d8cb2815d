/*
 * test_hashmap.c - byte-string hash map: ownership, growth, deletion.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hashmap.h"

static int freed;

static void
count_free(void *v)
{
	freed++;
	free(v);
}

static char *
dup_str(const char *s)
{
	char *p = strdup(s);

	assert_non_null(p);
	return p;
}

/* The hash is keyed (SipHash-1-3, tested in test_siphash.c): another key
 * gives other hashes, and a map works under any key. */
static void
test_keyed_hash(void **state)
{
	uint8_t key[16] = {1};
	struct strata_hashmap *m;
	uint64_t h;

	strata_hash_set_key(key);
	h = strata_hash_bytes("foobar", 6);
	key[0] = 2;
	strata_hash_set_key(key);
	assert_true(strata_hash_bytes("foobar", 6) != h);
	m = strata_hashmap_new(NULL);
	strata_hashmap_put(m, "foobar", 6, &h);
	assert_ptr_equal(strata_hashmap_get(m, "foobar", 6), &h);
	strata_hashmap_free(m);
}

static void
test_put_get_replace(void **state)
{
	struct strata_hashmap *m = strata_hashmap_new(count_free);
	char key[] = "alpha";

	freed = 0;
	assert_null(strata_hashmap_get(m, "alpha", 5));
	strata_hashmap_put(m, key, 5, dup_str("one"));
	key[0] = 'X'; /* the map holds its own copy of the key */
	assert_string_equal(strata_hashmap_get(m, "alpha", 5), "one");
	assert_null(strata_hashmap_get(m, "alph", 4));
	strata_hashmap_put(m, "alpha", 5, dup_str("two"));
	assert_int_equal(freed, 1); /* the replaced value was freed */
	assert_string_equal(strata_hashmap_get(m, "alpha", 5), "two");
	assert_int_equal(strata_hashmap_count(m), 1);
	/* keys are byte strings: embedded NUL and the empty key work */
	strata_hashmap_put(m, "a\0b", 3, dup_str("nul"));
	strata_hashmap_put(m, "", 0, dup_str("empty"));
	assert_string_equal(strata_hashmap_get(m, "a\0b", 3), "nul");
	assert_null(strata_hashmap_get(m, "a\0c", 3));
	assert_string_equal(strata_hashmap_get(m, "", 0), "empty");
	assert_int_equal(strata_hashmap_count(m), 3);
	strata_hashmap_free(m);
	assert_int_equal(freed, 4);
}

static void
test_slot_take_delete(void **state)
{
	struct strata_hashmap *m = strata_hashmap_new(count_free);
	void **slot;
	char *v;

	freed = 0;
	assert_null(strata_hashmap_slot(m, "k", 1, false));
	slot = strata_hashmap_slot(m, "k", 1, true);
	assert_non_null(slot);
	assert_null(*slot);
	assert_int_equal(strata_hashmap_count(m), 1);
	*slot = dup_str("v");
	assert_ptr_equal(strata_hashmap_slot(m, "k", 1, false), slot);
	v = strata_hashmap_take(m, "k", 1);
	assert_string_equal(v, "v");
	assert_int_equal(freed, 0); /* take hands the value back */
	free(v);
	assert_null(strata_hashmap_take(m, "k", 1));
	assert_int_equal(strata_hashmap_count(m), 0);
	strata_hashmap_put(m, "d", 1, dup_str("d"));
	assert_true(strata_hashmap_delete(m, "d", 1));
	assert_int_equal(freed, 1);
	assert_false(strata_hashmap_delete(m, "d", 1));
	/* an entry holding NULL is present and deletable */
	strata_hashmap_slot(m, "n", 1, true);
	assert_true(strata_hashmap_delete(m, "n", 1));
	assert_int_equal(freed, 1);
	strata_hashmap_free(m);
	strata_hashmap_free(NULL);
}

static void
test_growth_and_delete(void **state)
{
	enum { N = 20000 };
	struct strata_hashmap *m = strata_hashmap_new(NULL);
	static long values[N];
	void **first;
	char key[32];

	first = strata_hashmap_slot(m, "key-0", 5, true);
	for (long i = 0; i < N; i++) {
		int n = snprintf(key, sizeof(key), "key-%ld", i);

		values[i] = i;
		strata_hashmap_put(m, key, (size_t)n, &values[i]);
	}
	assert_int_equal(strata_hashmap_count(m), N);
	/* slots do not move when the table grows */
	assert_ptr_equal(strata_hashmap_slot(m, "key-0", 5, false), first);
	for (long i = 0; i < N; i += 2) {
		int n = snprintf(key, sizeof(key), "key-%ld", i);

		assert_ptr_equal(
		    strata_hashmap_take(m, key, (size_t)n), &values[i]);
	}
	assert_int_equal(strata_hashmap_count(m), N / 2);
	for (long i = 0; i < N; i++) {
		int n = snprintf(key, sizeof(key), "key-%ld", i);
		long *v = strata_hashmap_get(m, key, (size_t)n);

		if (i % 2 == 0)
			assert_null(v);
		else
			assert_ptr_equal(v, &values[i]);
	}
	strata_hashmap_free(m);
}

struct visit {
	int seen;
	long sum;
	int stop_after;
};

static int
visit_cb(const void *key, size_t len, void *value, void *arg)
{
	struct visit *v = arg;

	v->seen++;
	v->sum += *(long *)value;
	return v->seen == v->stop_after ? 42 : 0;
}

static void
test_foreach(void **state)
{
	struct strata_hashmap *m = strata_hashmap_new(NULL);
	static long values[100];
	struct visit v = {0, 0, 0};
	char key[16];

	assert_int_equal(strata_hashmap_foreach(m, visit_cb, &v), 0);
	assert_int_equal(v.seen, 0);
	for (long i = 0; i < 100; i++) {
		int n = snprintf(key, sizeof(key), "%ld", i);

		values[i] = i;
		strata_hashmap_put(m, key, (size_t)n, &values[i]);
	}
	assert_int_equal(strata_hashmap_foreach(m, visit_cb, &v), 0);
	assert_int_equal(v.seen, 100);
	assert_int_equal(v.sum, 4950);
	v = (struct visit){0, 0, 7};
	assert_int_equal(strata_hashmap_foreach(m, visit_cb, &v), 42);
	assert_int_equal(v.seen, 7);
	strata_hashmap_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keyed_hash),
	    cmocka_unit_test(test_put_get_replace),
	    cmocka_unit_test(test_slot_take_delete),
	    cmocka_unit_test(test_growth_and_delete),
	    cmocka_unit_test(test_foreach),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
