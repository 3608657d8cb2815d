/*
 * test_subtree.c - filter index: slots, match, remove/prune, foreach.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "status.h"
#include "subtree.h"
#include "topic.h"

#define S(s) (s), strlen(s)

/* Collects the filters a match or foreach reported, sorted, joined by
 * spaces, so a test compares one string. */
struct hits {
	char *list[512];
	size_t n;
	char joined[8192];
};

static void
hits_cb(const char *filter, size_t flen, void *value, void *arg)
{
	struct hits *h = arg;

	assert_true(h->n < 512);
	h->list[h->n] = strndup(filter, flen);
	assert_non_null(h->list[h->n]);
	/* the filter handed out is the stored copy, NUL-terminated */
	assert_int_equal(strlen(filter), flen);
	h->n++;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *
hits_join(struct hits *h)
{
	size_t off = 0;

	qsort(h->list, h->n, sizeof(h->list[0]), cmp_str);
	h->joined[0] = '\0';
	for (size_t i = 0; i < h->n; i++) {
		off += (size_t)snprintf(h->joined + off,
		    sizeof(h->joined) - off, "%s%s", i ? " " : "", h->list[i]);
		free(h->list[i]);
	}
	h->n = 0;
	return h->joined;
}

static const char *
match(const struct strata_subtree *t, const char *topic, struct hits *h)
{
	strata_subtree_match(t, S(topic), hits_cb, h);
	return hits_join(h);
}

static void
add(struct strata_subtree *t, const char *filter)
{
	void **slot = strata_subtree_slot(t, S(filter), true);

	assert_non_null(slot);
	*slot = strdup(filter);
}

static void
test_match_basic(void **state)
{
	struct strata_subtree *t = strata_subtree_new();
	struct hits *h = calloc(1, sizeof(*h));
	const char *filters[] = {"a/b", "a/+", "a/#", "#", "+/b", "+/+",
	    "a/b/#", "$SYS/#", "$SYS/+", "+", "/", "/#", "a/+/c", "a"};

	for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++)
		add(t, filters[i]);
	assert_int_equal(strata_subtree_count(t), 14);
	assert_string_equal(match(t, "a/b", h), "# +/+ +/b a/# a/+ a/b a/b/#");
	assert_string_equal(match(t, "a", h), "# + a a/#");
	assert_string_equal(match(t, "a/", h), "# +/+ a/# a/+");
	assert_string_equal(match(t, "/", h), "# +/+ / /#");
	assert_string_equal(match(t, "a/x/c", h), "# a/# a/+/c");
	assert_string_equal(match(t, "$SYS/x", h), "$SYS/# $SYS/+");
	assert_string_equal(match(t, "$SYS", h), "$SYS/#");
	assert_string_equal(match(t, "zz", h), "# +");
	assert_string_equal(match(t, "", h), "");
	strata_subtree_free(t, free);
	free(h);
}

static void
test_share_entries(void **state)
{
	struct strata_subtree *t = strata_subtree_new();
	struct hits *h = calloc(1, sizeof(*h));
	void **a, **b;

	add(t, "x/+");
	add(t, "$share/g1/x/+");
	add(t, "$share/g2/x/+");
	add(t, "$share/g1/x/y");
	add(t, "x/y");
	assert_int_equal(strata_subtree_count(t), 5);
	/* a share entry matches through its inner filter, never literally */
	assert_string_equal(match(t, "x/y", h),
	    "$share/g1/x/+ $share/g1/x/y $share/g2/x/+ x/+ x/y");
	assert_string_equal(match(t, "$share/g1/x/y", h), "");
	a = strata_subtree_slot(t, S("$share/g1/x/+"), false);
	b = strata_subtree_slot(t, S("$share/g2/x/+"), false);
	assert_non_null(a);
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	assert_string_equal(*a, "$share/g1/x/+");
	free(*a);
	assert_int_equal(strata_subtree_remove(t, S("$share/g1/x/+")), 0);
	assert_int_equal(
	    strata_subtree_remove(t, S("$share/g1/x/+")), STRATA_ENOTFOUND);
	/* the other entries at the same place stay, b did not move */
	assert_ptr_equal(strata_subtree_slot(t, S("$share/g2/x/+"), false), b);
	assert_string_equal(match(t, "x/q", h), "$share/g2/x/+ x/+");
	free(*strata_subtree_slot(t, S("$share/g1/x/y"), false));
	assert_int_equal(strata_subtree_remove(t, S("$share/g1/x/y")), 0);
	assert_string_equal(match(t, "x/y", h), "$share/g2/x/+ x/+ x/y");
	strata_subtree_free(t, free);
	free(h);
}

static void
test_slot_semantics(void **state)
{
	struct strata_subtree *t = strata_subtree_new();
	struct hits *h = calloc(1, sizeof(*h));
	void **s1, **s2;

	assert_null(strata_subtree_slot(t, S("a/+"), false));
	assert_null(strata_subtree_slot(t, S("a/b"), false));
	s1 = strata_subtree_slot(t, S("a/+"), true);
	assert_non_null(s1);
	assert_null(*s1);
	/* an entry whose value is NULL still matches */
	assert_string_equal(match(t, "a/q", h), "a/+");
	s2 = strata_subtree_slot(t, S("a/+"), true);
	assert_ptr_equal(s1, s2);
	assert_int_equal(strata_subtree_count(t), 1);
	/* invalid filters are refused */
	assert_null(strata_subtree_slot(t, S("a/#/b"), true));
	assert_null(strata_subtree_slot(t, S(""), true));
	assert_null(strata_subtree_slot(t, S("$share/g"), true));
	assert_int_equal(strata_subtree_count(t), 1);
	/* slots survive many inserts around them */
	for (int i = 0; i < 2000; i++) {
		char f[32];
		int n = snprintf(f, sizeof(f), "a/%d/+", i);

		assert_non_null(strata_subtree_slot(t, f, (size_t)n, true));
		n = snprintf(f, sizeof(f), "e/%d", i);
		assert_non_null(strata_subtree_slot(t, f, (size_t)n, true));
	}
	assert_ptr_equal(strata_subtree_slot(t, S("a/+"), false), s1);
	assert_int_equal(strata_subtree_count(t), 4001);
	assert_string_equal(match(t, "a/1999/z", h), "a/1999/+");
	assert_string_equal(match(t, "e/7", h), "e/7");
	strata_subtree_free(t, NULL);
	free(h);
}

static void
test_remove_prune(void **state)
{
	struct strata_subtree *t = strata_subtree_new();
	struct hits *h = calloc(1, sizeof(*h));
	const char *filters[] = {
	    "a/b/+/d", "a/b/+", "a/b/#", "a/+/c", "+/x/#", "#", "a/b/c"};
	size_t n = sizeof(filters) / sizeof(filters[0]);

	for (size_t i = 0; i < n; i++)
		add(t, filters[i]);
	assert_string_equal(match(t, "a/b/c", h), "# a/+/c a/b/# a/b/+ a/b/c");
	assert_int_equal(
	    strata_subtree_remove(t, S("a/b/q")), STRATA_ENOTFOUND);
	assert_int_equal(
	    strata_subtree_remove(t, S("a/b/+/+")), STRATA_ENOTFOUND);
	assert_int_equal(strata_subtree_remove(t, S("a/b")), STRATA_ENOTFOUND);
	for (size_t i = 0; i < n; i++) {
		void **slot = strata_subtree_slot(t, S(filters[i]), false);

		assert_non_null(slot);
		free(*slot);
		assert_int_equal(strata_subtree_remove(t, S(filters[i])), 0);
		assert_int_equal(strata_subtree_count(t), n - i - 1);
		assert_null(strata_subtree_slot(t, S(filters[i]), false));
	}
	assert_string_equal(match(t, "a/b/c/d", h), "");
	/* the pruned paths can be built again */
	add(t, "a/b/+/d");
	assert_string_equal(match(t, "a/b/c/d", h), "a/b/+/d");
	strata_subtree_free(t, free);
	free(h);
}

static void
test_foreach(void **state)
{
	struct strata_subtree *t = strata_subtree_new();
	struct hits *h = calloc(1, sizeof(*h));

	strata_subtree_foreach(t, hits_cb, h);
	assert_string_equal(hits_join(h), "");
	add(t, "a/b");
	add(t, "a/+");
	add(t, "#");
	add(t, "$share/g/a/b");
	add(t, "x/+/y/#");
	strata_subtree_foreach(t, hits_cb, h);
	assert_string_equal(hits_join(h), "# $share/g/a/b a/+ a/b x/+/y/#");
	strata_subtree_free(t, free);
	free(h);
}

/* Compare the index with strata_topic_match over every filter and topic
 * made of a small alphabet of levels. */
static const char *alpha_f[] = {"a", "", "$s", "+", "#"};
static const char *alpha_t[] = {"a", "", "$s", "b"};

static void
build(char *out, const char **alpha, unsigned nalpha, unsigned depth,
    unsigned code)
{
	size_t n = 0;

	for (unsigned i = 0; i < depth; i++) {
		const char *l = alpha[code % nalpha];

		code /= nalpha;
		n += (size_t)sprintf(out + n, "%s%s", i ? "/" : "", l);
	}
}

static void
test_against_match(void **state)
{
	struct strata_subtree *t = strata_subtree_new();
	static char filters[1000][24];
	size_t nf = 0, total = 0;

	for (unsigned d = 1; d <= 3; d++)
		for (unsigned c = 0, m = d == 1   ? 5
		                         : d == 2 ? 25
		                                  : 125;
		     c < m; c++) {
			char f[24] = "";

			build(f, alpha_f, 5, d, c);
			if (strata_topic_filter_check(
			        (const uint8_t *)f, strlen(f)) != 0)
				continue;
			strcpy(filters[nf++], f);
			assert_non_null(strata_subtree_slot(t, S(f), true));
		}
	for (unsigned d = 1; d <= 4; d++)
		for (unsigned c = 0, m = 1u << (2 * d); c < m; c++) {
			char topic[32] = "";
			struct hits h = {.n = 0};
			size_t want = 0;

			build(topic, alpha_t, 4, d, c);
			if (strata_topic_name_check(
			        (const uint8_t *)topic, strlen(topic)) != 0)
				continue;
			strata_subtree_match(t, S(topic), hits_cb, &h);
			for (size_t i = 0; i < nf; i++)
				want += strata_topic_match(
				    (const uint8_t *)filters[i],
				    strlen(filters[i]), (const uint8_t *)topic,
				    strlen(topic));
			for (size_t i = 0; i < h.n; i++)
				if (!strata_topic_match(
				        (const uint8_t *)h.list[i],
				        strlen(h.list[i]),
				        (const uint8_t *)topic, strlen(topic)))
					fail_msg("'%s' reported for '%s'",
					    h.list[i], topic);
			if (h.n != want)
				fail_msg("topic '%s': %zu hits, want %zu",
				    topic, h.n, want);
			total += h.n;
			hits_join(&h);
		}
	assert_true(total > 1000);
	strata_subtree_free(t, NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_match_basic),
	    cmocka_unit_test(test_share_entries),
	    cmocka_unit_test(test_slot_semantics),
	    cmocka_unit_test(test_remove_prune),
	    cmocka_unit_test(test_foreach),
	    cmocka_unit_test(test_against_match),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
