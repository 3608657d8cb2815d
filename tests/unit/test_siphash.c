/*
 * test_siphash.c - SipHash-2-4 and SipHash-1-3 against the paper's test
 * vectors, and the keyed strata_hash_bytes().
 *
 * The vectors (key 00 01 .. 0f, message 00 01 .. (len-1), len 0..63) are
 * data in tests/vectors/siphash/, computed by gen.py, an implementation
 * written independently in Python and checked against OpenSSL's SipHash.
 * Three outputs printed in the paper are also pinned here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hashmap.h"
#include "siphash.h"

#define VECTORS_DIR "tests/vectors/siphash"
#define VECTORS 64

static const uint8_t paper_key[16] = {
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

/* The expected results of a vector file, indexed by message length;
 * every length 0..63 must appear exactly once. */
static void
load_vectors(const char *name, uint64_t expect[VECTORS])
{
	char path[256], line[128];
	bool seen[VECTORS] = {false};
	unsigned long long h;
	unsigned len;
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", VECTORS_DIR, name);
	f = fopen(path, "r");
	if (f == NULL)
		fail_msg("cannot open %s (run from the repo root)", path);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		assert_int_equal(sscanf(line, "%u %llx", &len, &h), 2);
		assert_true(len < VECTORS && !seen[len]);
		seen[len] = true;
		expect[len] = h;
		n++;
	}
	fclose(f);
	assert_int_equal(n, VECTORS);
}

static void
check_vectors(const char *name,
    uint64_t (*fn)(const struct strata_siphash_key *, const void *, size_t))
{
	struct strata_siphash_key key;
	uint64_t expect[VECTORS];
	uint8_t msg[VECTORS];

	load_vectors(name, expect);
	strata_siphash_key_from_bytes(&key, paper_key);
	for (unsigned i = 0; i < VECTORS; i++)
		msg[i] = (uint8_t)i;
	for (unsigned len = 0; len < VECTORS; len++) {
		uint64_t h = fn(&key, msg, len);

		if (h != expect[len])
			fail_msg("%s: len %u: got %016llx, want %016llx", name,
			    len, (unsigned long long)h,
			    (unsigned long long)expect[len]);
	}
}

/* Runs first: before any strata_hash_set_key(), the process key is
 * random, so it is not the all-zero key (a 2^-64 chance to be wrong). */
static void
test_process_key_is_random(void **state)
{
	static const uint8_t zero[16];
	struct strata_siphash_key key;

	strata_siphash_key_from_bytes(&key, zero);
	assert_true(strata_hash_bytes("client-1", 8) !=
	            strata_siphash13(&key, "client-1", 8));
}

static void
test_paper_outputs(void **state)
{
	struct strata_siphash_key key;
	uint8_t msg[15];

	strata_siphash_key_from_bytes(&key, paper_key);
	assert_true(key.k0 == 0x0706050403020100ull);
	assert_true(key.k1 == 0x0f0e0d0c0b0a0908ull);
	for (unsigned i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)i;
	assert_true(strata_siphash24(&key, NULL, 0) == 0x726fdb47dd0e0e31ull);
	assert_true(strata_siphash24(&key, msg, 1) == 0x74f839c593dc67fdull);
	/* the worked example of the paper's appendix A */
	assert_true(strata_siphash24(&key, msg, 15) == 0xa129ca6149be45e5ull);
}

static void
test_siphash24_vectors(void **state)
{
	check_vectors("siphash-2-4.txt", strata_siphash24);
}

static void
test_siphash13_vectors(void **state)
{
	check_vectors("siphash-1-3.txt", strata_siphash13);
}

/* Words are read byte by byte: any alignment gives the same result. */
static void
test_unaligned(void **state)
{
	struct strata_siphash_key key;
	uint8_t buf[40];

	strata_siphash_key_from_bytes(&key, paper_key);
	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 1);
	for (unsigned off = 1; off < 8; off++) {
		uint8_t copy[32];

		memcpy(copy, buf + off, sizeof(copy));
		assert_true(strata_siphash24(&key, buf + off, 32) ==
		            strata_siphash24(&key, copy, 32));
		assert_true(strata_siphash13(&key, buf + off, 29) ==
		            strata_siphash13(&key, copy, 29));
	}
}

/* strata_hash_bytes() is SipHash-1-3 under the key set last. */
static void
test_hash_bytes_keyed(void **state)
{
	struct strata_siphash_key key;
	uint8_t other[16];
	uint64_t h;

	strata_hash_set_key(paper_key);
	strata_siphash_key_from_bytes(&key, paper_key);
	h = strata_hash_bytes("sensors/42/temp", 15);
	assert_true(h == strata_siphash13(&key, "sensors/42/temp", 15));
	assert_true(strata_hash_bytes("", 0) == 0xabac0158050fc4dcull);
	memcpy(other, paper_key, sizeof(other));
	other[15] ^= 1;
	strata_hash_set_key(other);
	assert_true(strata_hash_bytes("sensors/42/temp", 15) != h);
	strata_hash_set_key(paper_key);
	assert_true(strata_hash_bytes("sensors/42/temp", 15) == h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_process_key_is_random),
	    cmocka_unit_test(test_paper_outputs),
	    cmocka_unit_test(test_siphash24_vectors),
	    cmocka_unit_test(test_siphash13_vectors),
	    cmocka_unit_test(test_unaligned),
	    cmocka_unit_test(test_hash_bytes_keyed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
