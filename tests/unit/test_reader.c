/*
 * test_reader.c - the bounds-checked reader and the MQTT UTF-8 rules.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "reader.h"
#include "status.h"

#define MALFORMED STRATA_ERR(STRATA_RC_MALFORMED)

static void
test_fixed_width(void **state)
{
	static const uint8_t in[] = {0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE};
	struct strata_reader r = strata_reader_init(in, sizeof(in));
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;

	assert_int_equal(strata_reader_u8(&r, &u8), 0);
	assert_int_equal(u8, 0x12);
	assert_int_equal(strata_reader_u16(&r, &u16), 0);
	assert_int_equal(u16, 0x3456);
	assert_int_equal(strata_reader_u32(&r, &u32), 0);
	assert_int_equal(u32, 0x789ABCDE);
	assert_int_equal(r.len, 0);
	assert_int_equal(strata_reader_u8(&r, &u8), MALFORMED);
}

static void
test_short_reads_leave_reader(void **state)
{
	static const uint8_t in[] = {0x01, 0x02, 0x03};
	struct strata_reader r = strata_reader_init(in, sizeof(in));
	uint32_t u32;
	uint16_t u16;

	assert_int_equal(strata_reader_u32(&r, &u32), MALFORMED);
	assert_ptr_equal(r.p, in);
	assert_int_equal(r.len, 3);
	r.len = 1;
	assert_int_equal(strata_reader_u16(&r, &u16), MALFORMED);
	assert_int_equal(r.len, 1);
}

static void
test_varint(void **state)
{
	static const struct {
		uint8_t in[5];
		size_t len;
		uint32_t value;
		int rc;
	} cases[] = {
	    {{0x00}, 1, 0, 0},
	    {{0x7F}, 1, 127, 0},
	    {{0x80, 0x01}, 2, 128, 0},
	    {{0xFF, 0x7F}, 2, 16383, 0},
	    {{0x80, 0x80, 0x01}, 3, 16384, 0},
	    {{0xFF, 0xFF, 0xFF, 0x7F}, 4, 268435455, 0},
	    /* non-minimal encodings are accepted */
	    {{0x80, 0x00}, 2, 0, 0},
	    /* a fifth byte is never allowed */
	    {{0xFF, 0xFF, 0xFF, 0xFF, 0x7F}, 5, 0, MALFORMED},
	    /* truncated */
	    {{0x80}, 1, 0, MALFORMED},
	    {{0}, 0, 0, MALFORMED},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct strata_reader r = strata_reader_init(cases[i].in,
		    cases[i].len);
		uint32_t v = 0xDEAD;

		assert_int_equal(strata_reader_varint(&r, &v), cases[i].rc);
		if (cases[i].rc == 0) {
			assert_int_equal(v, cases[i].value);
			assert_int_equal(r.len, 0);
		} else {
			assert_int_equal(r.len, cases[i].len);
		}
	}
}

static void
test_varint_write(void **state)
{
	static const uint32_t values[] = {0, 1, 127, 128, 16383, 16384,
	    2097151, 2097152, 268435455};
	uint8_t buf[4];
	size_t i, n;

	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		struct strata_reader r;
		uint32_t back;

		n = strata_varint_write(buf, values[i]);
		assert_int_equal(n, strata_varint_size(values[i]));
		r = strata_reader_init(buf, n);
		assert_int_equal(strata_reader_varint(&r, &back), 0);
		assert_int_equal(back, values[i]);
		assert_int_equal(r.len, 0);
	}
	n = strata_varint_write(buf, 321);
	assert_int_equal(n, 2);
	assert_int_equal(buf[0], 0xC1);
	assert_int_equal(buf[1], 0x02);
}

static void
test_binary_and_string(void **state)
{
	static const uint8_t in[] = {0x00, 0x03, 'a', '/', 'b', 0x00, 0x00,
	    0x00, 0x05, 'x'};
	struct strata_reader r = strata_reader_init(in, sizeof(in));
	struct strata_bytes b;

	assert_int_equal(strata_reader_string(&r, &b), 0);
	assert_int_equal(b.len, 3);
	assert_ptr_equal(b.p, in + 2);
	assert_memory_equal(b.p, "a/b", 3);
	assert_int_equal(strata_reader_binary(&r, &b), 0);
	assert_int_equal(b.len, 0);
	/* length 5 but one byte left */
	assert_int_equal(strata_reader_binary(&r, &b), MALFORMED);
	assert_int_equal(r.len, 3);
}

static void
test_string_rejects_bad_utf8(void **state)
{
	static const uint8_t in[] = {0x00, 0x02, 0xC0, 0x80};
	struct strata_reader r = strata_reader_init(in, sizeof(in));
	struct strata_bytes b;

	assert_int_equal(strata_reader_string(&r, &b), MALFORMED);
	assert_int_equal(r.len, sizeof(in));
	assert_int_equal(strata_reader_binary(&r, &b), 0);
}

static void
test_sub_and_rest(void **state)
{
	static const uint8_t in[] = {1, 2, 3, 4, 5};
	struct strata_reader r = strata_reader_init(in, sizeof(in));
	struct strata_reader sub;
	struct strata_bytes rest;

	assert_int_equal(strata_reader_sub(&r, 6, &sub), MALFORMED);
	assert_int_equal(strata_reader_sub(&r, 2, &sub), 0);
	assert_int_equal(sub.len, 2);
	assert_ptr_equal(sub.p, in);
	rest = strata_reader_rest(&r);
	assert_int_equal(rest.len, 3);
	assert_ptr_equal(rest.p, in + 2);
	assert_int_equal(r.len, 0);
}

static bool
utf8(const char *s, size_t n)
{
	return strata_utf8_valid((const uint8_t *)s, n);
}

static void
test_utf8_valid(void **state)
{
	assert_true(utf8("", 0));
	assert_true(utf8("hello/world", 11));
	assert_true(utf8("\xC2\x80", 2));             /* U+0080 */
	assert_true(utf8("\xDF\xBF", 2));             /* U+07FF */
	assert_true(utf8("\xE0\xA0\x80", 3));         /* U+0800 */
	assert_true(utf8("\xED\x9F\xBF", 3));         /* U+D7FF */
	assert_true(utf8("\xEE\x80\x80", 3));         /* U+E000 */
	assert_true(utf8("\xEF\xBF\xBF", 3));         /* U+FFFF */
	assert_true(utf8("\xF0\x90\x80\x80", 4));     /* U+10000 */
	assert_true(utf8("\xF4\x8F\xBF\xBF", 4));     /* U+10FFFF */
	assert_true(utf8("\xE2\x82\xAC 1", 5));       /* euro sign */
}

static void
test_utf8_invalid(void **state)
{
	assert_false(utf8("a\0b", 3));                /* U+0000 */
	assert_false(utf8("\xC0\x80", 2));            /* overlong NUL */
	assert_false(utf8("\xC1\xBF", 2));            /* overlong */
	assert_false(utf8("\xE0\x9F\xBF", 3));        /* overlong */
	assert_false(utf8("\xF0\x8F\xBF\xBF", 4));    /* overlong */
	assert_false(utf8("\xED\xA0\x80", 3));        /* U+D800 */
	assert_false(utf8("\xED\xBF\xBF", 3));        /* U+DFFF */
	assert_false(utf8("\xF4\x90\x80\x80", 4));    /* U+110000 */
	assert_false(utf8("\xF5\x80\x80\x80", 4));
	assert_false(utf8("\xFF", 1));
	assert_false(utf8("\x80", 1));                /* lone continuation */
	assert_false(utf8("\xC2", 1));                /* truncated */
	assert_false(utf8("\xE2\x82", 2));            /* truncated */
	assert_false(utf8("\xE2\x28\xA1", 3));        /* bad continuation */
	assert_false(utf8("\xF0\x90\x80\x28", 4));    /* bad continuation */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fixed_width),
	    cmocka_unit_test(test_short_reads_leave_reader),
	    cmocka_unit_test(test_varint),
	    cmocka_unit_test(test_varint_write),
	    cmocka_unit_test(test_binary_and_string),
	    cmocka_unit_test(test_string_rejects_bad_utf8),
	    cmocka_unit_test(test_sub_and_rest),
	    cmocka_unit_test(test_utf8_valid),
	    cmocka_unit_test(test_utf8_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
