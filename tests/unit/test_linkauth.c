/*
 * test_linkauth.c - the cluster secret's file and the Hello proof.
 *
 * The expected proof was computed independently with Python's hmac and
 * hashlib over the layout linkauth.h gives.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "linkauth.h"

static const char *
write_file(const char *content)
{
	static char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/strata-linkauth-%d",
	    (int)getpid());
	f = fopen(path, "wb");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	return path;
}

static void
test_load_trims_newline(void **state)
{
	struct strata_linkauth a;
	char err[256];
	const char *p = write_file("0123456789abcdef\n");

	assert_int_equal(strata_linkauth_load(&a, p, err, sizeof(err)), 0);
	assert_int_equal(a.len, 16);
	assert_memory_equal(a.secret, "0123456789abcdef", 16);
	strata_linkauth_free(&a);
	assert_null(a.secret);
	unlink(p);
}

static void
test_load_refuses_short_and_missing(void **state)
{
	struct strata_linkauth a;
	char err[256];
	const char *p = write_file("too-short-secr\n");

	assert_int_equal(strata_linkauth_load(&a, p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "16"));
	assert_null(a.secret);
	unlink(p);
	assert_int_equal(strata_linkauth_load(&a, "/nonexistent/secret", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/secret"));
}

static void
test_proof_vector_and_check(void **state)
{
	static const uint8_t want[STRATA_LINKAUTH_LEN] = {
	    0x75, 0xc7, 0x93, 0xb4, 0xd2, 0xcb, 0x46, 0x52, 0xd8, 0x34, 0xf8,
	    0x91, 0x7f, 0xd7, 0x8b, 0xd6, 0xce, 0x3a, 0xfc, 0x83, 0x86, 0xf0,
	    0xfc, 0x38, 0xa3, 0x2f, 0x33, 0xde, 0x14, 0x4f, 0xd6, 0x39};
	struct strata_linkauth a;
	struct strata_linkauth none = {NULL, 0};
	uint8_t got[STRATA_LINKAUTH_LEN];
	char err[256];
	const char *p = write_file("0123456789abcdef0123");
	const uint64_t boot = 0x0102030405060708ULL;

	assert_int_equal(strata_linkauth_load(&a, p, err, sizeof(err)), 0);
	unlink(p);
	strata_linkauth_mac(&a, 1, "broker-0", boot, got);
	assert_memory_equal(got, want, sizeof(want));
	assert_true(strata_linkauth_check(&a, 1, "broker-0", boot, got,
	    sizeof(got)));
	/* another node, kind or boot, a flipped bit, a short proof */
	assert_false(strata_linkauth_check(&a, 1, "broker-1", boot, got,
	    sizeof(got)));
	assert_false(strata_linkauth_check(&a, 2, "broker-0", boot, got,
	    sizeof(got)));
	assert_false(strata_linkauth_check(&a, 1, "broker-0", boot + 1, got,
	    sizeof(got)));
	got[31] ^= 1;
	assert_false(strata_linkauth_check(&a, 1, "broker-0", boot, got,
	    sizeof(got)));
	assert_false(strata_linkauth_check(&a, 1, "broker-0", boot, got, 16));
	assert_false(strata_linkauth_check(&a, 1, "broker-0", boot, NULL, 0));
	/* without a secret nothing is checked */
	assert_true(strata_linkauth_check(&none, 1, "x", 0, NULL, 0));
	strata_linkauth_free(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_trims_newline),
		cmocka_unit_test(test_load_refuses_short_and_missing),
		cmocka_unit_test(test_proof_vector_and_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
