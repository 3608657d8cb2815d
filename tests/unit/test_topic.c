/*
 * test_topic.c - topic names, filters, matching, shares, partitions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "status.h"
#include "topic.h"

#define B(s) (const uint8_t *)(s), strlen(s)

static void
test_name_check(void **state)
{
	assert_int_equal(strata_topic_name_check(B("a/b/c")), 0);
	assert_int_equal(strata_topic_name_check(B("/")), 0);
	assert_int_equal(strata_topic_name_check(B("$SYS/x")), 0);
	assert_int_equal(strata_topic_name_check(B("a//b")), 0);
	assert_int_equal(strata_topic_name_check(B("")),
	    STRATA_ERR(STRATA_RC_TOPIC_NAME_INVALID));
	assert_int_equal(strata_topic_name_check(B("a/+")),
	    STRATA_ERR(STRATA_RC_TOPIC_NAME_INVALID));
	assert_int_equal(strata_topic_name_check(B("a/#")),
	    STRATA_ERR(STRATA_RC_TOPIC_NAME_INVALID));
	assert_int_equal(strata_topic_name_check(B("a+b")),
	    STRATA_ERR(STRATA_RC_TOPIC_NAME_INVALID));
}

static void
test_filter_check(void **state)
{
	const char *good[] = {"a", "#", "+", "a/#", "+/+", "a/+/b", "/", "/#",
	    "+/", "a//b", "$SYS/#", "$share/g/a/b", "$share/g/#",
	    "$share/g/+/x", "$share/group-1/a", "$share", "$sharex/a"};
	const char *bad[] = {"", "a#", "a/#/b", "#/a", "a+", "a/b+/c", "++",
	    "##", "$share/", "$share/g", "$share//a", "$share/g/",
	    "$share/+/a", "$share/#/a", "$share/g+/a", "$share/g/a/#/b",
	    "$share/g/a+"};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (strata_topic_filter_check(B(good[i])) != 0)
			fail_msg("'%s' refused", good[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (strata_topic_filter_check(B(bad[i])) !=
		    STRATA_ERR(STRATA_RC_TOPIC_FILTER_INVALID))
			fail_msg("'%s' accepted", bad[i]);
	}
}

static void
test_wildcard_depth(void **state)
{
	assert_false(strata_topic_has_wildcard(B("a/b")));
	assert_true(strata_topic_has_wildcard(B("a/+")));
	assert_true(strata_topic_has_wildcard(B("#")));
	assert_false(strata_topic_has_wildcard(NULL, 0));
	assert_int_equal(strata_topic_depth(B("a/b/c")), 3);
	assert_int_equal(strata_topic_depth(B("")), 1);
	assert_int_equal(strata_topic_depth(B("a/")), 2);
	assert_int_equal(strata_topic_depth(B("/")), 2);
	assert_int_equal(strata_topic_depth(B("a")), 1);
}

struct match_case {
	const char *filter, *name;
	bool match;
};

static void
test_match(void **state)
{
	static const struct match_case cases[] = {
	    {"a/b", "a/b", true},
	    {"a/b", "a/c", false},
	    {"a/b", "a/b/c", false},
	    {"a/b/c", "a/b", false},
	    {"a/b", "a/bb", false},
	    {"a/bb", "a/b", false},
	    {"#", "a", true},
	    {"#", "a/b/c", true},
	    {"#", "/", true},
	    {"a/#", "a", true}, /* '#' matches the parent level */
	    {"a/#", "a/", true},
	    {"a/#", "a/b/c", true},
	    {"a/#", "ab", false},
	    {"a/b/#", "a", false},
	    {"+", "a", true},
	    {"+", "a/b", false},
	    {"+", "", true},
	    {"+/+", "/", true}, /* '+' matches an empty level */
	    {"a/+", "a/", true},
	    {"a/+", "a", false},
	    {"+/b", "/b", true},
	    {"a/+/c", "a/x/c", true},
	    {"a/+/c", "a/x/d", false},
	    {"a/+/#", "a/x", true},
	    {"/#", "/", true},
	    {"/#", "a", false},
	    {"+/#", "a", true},
	    {"$SYS/#", "$SYS/x", true},
	    {"$SYS/#", "$SYS", true},
	    {"#", "$SYS/x", false}, /* the '$' rule */
	    {"+/x", "$SYS/x", false},
	    {"+", "$SYS", false},
	    {"$SYS/+", "$SYS/x", true},
	    {"a/#", "$a/x", false},
	    {"$aws/things/+/shadow/#", "$aws/things/t1/shadow/get", true},
	    {"x/$y", "x/$y", true},
	    {"+/$y", "x/$y", true},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct match_case *c = &cases[i];
		bool got = strata_topic_match(B(c->filter), B(c->name));

		if (got != c->match)
			fail_msg(
			    "match('%s', '%s') = %d", c->filter, c->name, got);
	}
}

static void
test_share_split(void **state)
{
	struct strata_bytes g = {NULL, 0}, in = {NULL, 0};

	assert_true(strata_topic_share_split(B("$share/grp/a/+"), &g, &in));
	assert_int_equal(g.len, 3);
	assert_memory_equal(g.p, "grp", 3);
	assert_int_equal(in.len, 3);
	assert_memory_equal(in.p, "a/+", 3);
	g.p = NULL;
	assert_false(strata_topic_share_split(B("a/b"), &g, &in));
	assert_null(g.p);
	assert_false(strata_topic_share_split(B("$share/grp"), &g, &in));
	assert_false(strata_topic_share_split(B("$shares/g/a"), &g, &in));
	assert_true(strata_topic_share_split(B("$share/g/"), &g, &in));
	assert_int_equal(in.len, 0);
}

static void
test_partition_fnv(void **state)
{
	/* 32-bit FNV-1a known values: "" = 0x811c9dc5, "a" = 0xe40c292c,
	 * "foobar" = 0xbf9cf968; the partition is the hash mod 1024. */
	assert_int_equal(
	    strata_topic_partition(B(""), 3), 0x811c9dc5u % STRATA_PARTITIONS);
	assert_int_equal(strata_topic_partition(B("a"), 3),
	    0xe40c292cu % STRATA_PARTITIONS);
	assert_int_equal(strata_topic_partition(B("foobar/x"), 1),
	    0xbf9cf968u % STRATA_PARTITIONS);
}

static void
test_partition_levels(void **state)
{
	uint32_t p = strata_topic_partition(B("a/b/c"), 3);

	assert_true(p < STRATA_PARTITIONS);
	assert_int_equal(strata_topic_partition(B("a/b/c/d/e"), 3), p);
	assert_int_equal(strata_topic_partition(B("a/b/c/"), 3), p);
	assert_int_equal(strata_topic_partition(B("a/b"), 2),
	    strata_topic_partition(B("a/b/zz"), 2));
	assert_int_equal(strata_topic_partition(B("x"), 0),
	    strata_topic_partition(B("y/z"), 0));
	/* fewer levels than the key: the whole topic */
	assert_int_equal(strata_topic_partition(B("a/b"), 3),
	    strata_topic_partition(B("a/b"), 2));
	/* the shadow topics of one thing share a partition */
	assert_int_equal(
	    strata_topic_partition(B("$aws/things/t1/shadow/update"), 3),
	    strata_topic_partition(
	        B("$aws/things/t1/shadow/get/accepted"), 3));
}

static void
test_filter_partition(void **state)
{
	assert_int_equal(strata_topic_filter_partition(B("+/b/c"), 3), -1);
	assert_int_equal(strata_topic_filter_partition(B("a/+/c/d"), 3), -1);
	assert_int_equal(strata_topic_filter_partition(B("#"), 3), -1);
	/* '#' at level 3: "a/b" and "a/b/x" have different keys */
	assert_int_equal(strata_topic_filter_partition(B("a/b/#"), 3), -1);
	assert_int_equal(strata_topic_filter_partition(B("a/#"), 3), -1);
	assert_int_equal(strata_topic_filter_partition(B("a/b/c/#"), 3),
	    (int)strata_topic_partition(B("a/b/c"), 3));
	assert_int_equal(strata_topic_filter_partition(B("a/b/c/+/x"), 3),
	    (int)strata_topic_partition(B("a/b/c"), 3));
	assert_int_equal(strata_topic_filter_partition(B("a/b"), 3),
	    (int)strata_topic_partition(B("a/b"), 3));
	assert_int_equal(strata_topic_filter_partition(B("a/b/c"), 3),
	    (int)strata_topic_partition(B("a/b/c"), 3));
	assert_int_equal(strata_topic_filter_partition(B("#"), 0),
	    (int)strata_topic_partition(B("q"), 0));
}

/*
 * The routing property: for every filter with a partition (not -1), every
 * topic it matches lands on that partition.  Checked over all filters and
 * topics built from a small alphabet of levels, for key lengths 1..4.
 */
static const char *prop_levels[] = {"a", "b", "", "$s"};
static const char *prop_flevels[] = {"a", "b", "", "+", "#"};

static size_t
prop_build(char *out, const char **alphabet, size_t nalpha, unsigned depth,
    unsigned code)
{
	size_t n = 0;

	for (unsigned i = 0; i < depth; i++) {
		const char *l = alphabet[code % nalpha];

		code /= (unsigned)nalpha;
		if (i > 0)
			out[n++] = '/';
		memcpy(out + n, l, strlen(l));
		n += strlen(l);
	}
	out[n] = '\0';
	return n;
}

static unsigned
prop_pow(unsigned b, unsigned e)
{
	unsigned r = 1;

	while (e-- > 0)
		r *= b;
	return r;
}

static void
prop_check_filter(
    const char *f, size_t flen, unsigned levels, unsigned *checked)
{
	int fp =
	    strata_topic_filter_partition((const uint8_t *)f, flen, levels);
	char t[64];

	if (fp < 0)
		return;
	for (unsigned d = 1; d <= 5; d++) {
		for (unsigned c = 0; c < prop_pow(4, d); c++) {
			size_t tlen = prop_build(t, prop_levels, 4, d, c);

			if (!strata_topic_match((const uint8_t *)f, flen,
			        (const uint8_t *)t, tlen))
				continue;
			(*checked)++;
			if (strata_topic_partition((const uint8_t *)t, tlen,
			        levels) != (uint32_t)fp)
				fail_msg(
				    "filter '%s' (%d) topic '%s' levels %u", f,
				    fp, t, levels);
		}
	}
}

static void
test_partition_property(void **state)
{
	char f[64];
	unsigned checked = 0;

	for (unsigned levels = 1; levels <= 4; levels++) {
		for (unsigned d = 1; d <= 5; d++) {
			for (unsigned c = 0; c < prop_pow(5, d); c++) {
				size_t flen =
				    prop_build(f, prop_flevels, 5, d, c);

				if (strata_topic_filter_check(
				        (const uint8_t *)f, flen) != 0)
					continue;
				prop_check_filter(f, flen, levels, &checked);
			}
		}
	}
	assert_true(checked > 1000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_name_check),
	    cmocka_unit_test(test_filter_check),
	    cmocka_unit_test(test_wildcard_depth),
	    cmocka_unit_test(test_match),
	    cmocka_unit_test(test_share_split),
	    cmocka_unit_test(test_partition_fnv),
	    cmocka_unit_test(test_partition_levels),
	    cmocka_unit_test(test_filter_partition),
	    cmocka_unit_test(test_partition_property),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
