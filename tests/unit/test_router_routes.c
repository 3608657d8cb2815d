/*
 * test_router_routes.c - the router's route table and retained cache as
 * units.  The router's sources are not part of libstrata, so the two files
 * under test are compiled into this program directly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../router/retained.c"
#include "../../router/routes.c"

static size_t
match(struct router_routes *t, const char *topic, struct router_routes_peer ***out)
{
	return router_routes_match(t, topic, strlen(topic), out);
}

static int
add(struct router_routes *t, struct router_routes_peer *p, const char *f)
{
	return router_routes_add(t, p, f, strlen(f));
}

static int
del(struct router_routes *t, struct router_routes_peer *p, const char *f)
{
	return router_routes_remove(t, p, f, strlen(f));
}

static bool
has(struct router_routes_peer **v, size_t n, struct router_routes_peer *p)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == p)
			return true;
	return false;
}

/* A resync replaces a peer's table at commit, not before; abort keeps
 * the old one. */
static void
test_resync_atomic(void **state)
{
	struct router_routes t;
	struct router_routes_peer a, **out;

	router_routes_init(&t);
	router_routes_peer_init(&a);
	assert_int_equal(add(&t, &a, "old/1"), 0);
	assert_int_equal(add(&t, &a, "both"), 0);
	router_routes_resync_begin(&a);
	assert_int_equal(add(&t, &a, "new/1"), 0);
	assert_int_equal(add(&t, &a, "both"), 0);
	assert_int_equal(add(&t, &a, "gone"), 0);
	assert_int_equal(del(&t, &a, "gone"), 0);
	/* until the commit, the old table is in force */
	assert_int_equal(match(&t, "old/1", &out), 1);
	assert_int_equal(match(&t, "new/1", &out), 0);
	router_routes_resync_commit(&t, &a);
	assert_int_equal(match(&t, "old/1", &out), 0);
	assert_int_equal(match(&t, "new/1", &out), 1);
	assert_int_equal(match(&t, "both", &out), 1);
	assert_int_equal(match(&t, "gone", &out), 0);
	/* one reference of "both": one REMOVE drops it */
	assert_int_equal(del(&t, &a, "both"), 0);
	assert_int_equal(match(&t, "both", &out), 0);
	router_routes_resync_begin(&a);
	assert_int_equal(add(&t, &a, "x"), 0);
	router_routes_resync_abort(&a);
	assert_int_equal(match(&t, "new/1", &out), 1);
	assert_int_equal(match(&t, "x", &out), 0);
	router_routes_reset(&t, &a);
	router_routes_peer_fini(&a);
	router_routes_fini(&t);
}

/* Dropping a partition takes the exact filters of that partition only. */
static void
test_drop_partition(void **state)
{
	struct router_routes t;
	struct router_routes_peer a, **out;
	uint32_t p = strata_topic_partition((const uint8_t *)"a/b/c", 5, 3);

	router_routes_init(&t);
	router_routes_peer_init(&a);
	assert_int_equal(add(&t, &a, "a/b/c"), 0);
	assert_int_equal(add(&t, &a, "a/b/c/#"), 0);
	assert_int_equal(add(&t, &a, "a/+/c"), 0);
	assert_int_equal(add(&t, &a, "z/y/x"), 0);
	router_routes_drop_partition(&t, &a, p, 3);
	assert_int_equal(match(&t, "a/b/c", &out), 1); /* via a/+/c */
	assert_int_equal(match(&t, "a/b/c/d", &out), 0);
	assert_int_equal(match(&t, "z/y/x", &out), 1);
	assert_int_equal(router_routes_count(&t), 2);
	router_routes_reset(&t, &a);
	router_routes_peer_fini(&a);
	router_routes_fini(&t);
}

static void
test_match_dedup(void **state)
{
	struct router_routes t;
	struct router_routes_peer a, b, **out;
	size_t n;

	router_routes_init(&t);
	router_routes_peer_init(&a);
	router_routes_peer_init(&b);
	assert_int_equal(add(&t, &a, "s/+/t"), 0);
	assert_int_equal(add(&t, &a, "s/#"), 0);
	assert_int_equal(add(&t, &a, "s/1/t"), 0);
	assert_int_equal(add(&t, &b, "s/1/t"), 0);
	assert_int_equal(router_routes_count(&t), 3);
	/* Three filters of a match: a appears once. */
	n = match(&t, "s/1/t", &out);
	assert_int_equal(n, 2);
	assert_true(has(out, n, &a));
	assert_true(has(out, n, &b));
	n = match(&t, "s/2/t", &out);
	assert_int_equal(n, 1);
	assert_ptr_equal(out[0], &a);
	assert_int_equal(match(&t, "x/1/t", &out), 0);
	/* '$' topics are not matched by a leading wildcard. */
	assert_int_equal(add(&t, &b, "#"), 0);
	n = match(&t, "$SYS/x", &out);
	assert_int_equal(n, 0);
	router_routes_reset(&t, &a);
	router_routes_reset(&t, &b);
	assert_int_equal(router_routes_count(&t), 0);
	router_routes_peer_fini(&a);
	router_routes_peer_fini(&b);
	router_routes_fini(&t);
}

static void
test_counts_and_reset(void **state)
{
	struct router_routes t;
	struct router_routes_peer a, b, **out;

	router_routes_init(&t);
	router_routes_peer_init(&a);
	router_routes_peer_init(&b);
	/* Two ADDs need two REMOVEs. */
	assert_int_equal(add(&t, &a, "x/y"), 0);
	assert_int_equal(add(&t, &a, "x/y"), 0);
	assert_int_equal(del(&t, &a, "x/y"), 0);
	assert_int_equal(match(&t, "x/y", &out), 1);
	assert_int_equal(del(&t, &a, "x/y"), 0);
	assert_int_equal(match(&t, "x/y", &out), 0);
	assert_int_equal(router_routes_count(&t), 0);
	assert_int_equal(del(&t, &a, "x/y"), STRATA_ENOTFOUND);
	/* A shared filter is its own entry, matched by its inner filter. */
	assert_int_equal(add(&t, &a, "$share/g/x/y"), 0);
	assert_int_equal(add(&t, &b, "x/y"), 0);
	assert_int_equal(match(&t, "x/y", &out), 2);
	assert_int_equal(router_routes_count(&t), 2);
	/* Reset drops only that peer's routes. */
	router_routes_reset(&t, &a);
	assert_int_equal(match(&t, "x/y", &out), 1);
	assert_ptr_equal(out[0], &b);
	assert_int_equal(add(&t, &a, "x/y"), 0);
	assert_int_equal(match(&t, "x/y", &out), 2);
	/* Invalid filters are refused. */
	assert_int_equal(add(&t, &a, "x/#/y"),
	    STRATA_ERR(STRATA_RC_TOPIC_FILTER_INVALID));
	assert_int_equal(add(&t, &a, "x+"),
	    STRATA_ERR(STRATA_RC_TOPIC_FILTER_INVALID));
	router_routes_reset(&t, &a);
	router_routes_reset(&t, &b);
	router_routes_peer_fini(&a);
	router_routes_peer_fini(&b);
	router_routes_fini(&t);
}

/* Many peers and filters: every peer subscribed to its own topic and to a
 * shared wildcard; each topic matches its peer and the wildcard holders. */
static void
test_many(void **state)
{
	enum { N = 200 };
	struct router_routes t;
	struct router_routes_peer *p = calloc(N, sizeof(*p)), **out;
	char f[32];

	router_routes_init(&t);
	for (int i = 0; i < N; i++) {
		router_routes_peer_init(&p[i]);
		snprintf(f, sizeof(f), "dev/%d/state", i);
		assert_int_equal(add(&t, &p[i], f), 0);
		if (i % 10 == 0)
			assert_int_equal(add(&t, &p[i], "dev/+/state"), 0);
	}
	for (int i = 0; i < N; i++) {
		size_t n;

		snprintf(f, sizeof(f), "dev/%d/state", i);
		n = match(&t, f, &out);
		assert_int_equal(n, i % 10 == 0 ? N / 10 : N / 10 + 1);
		assert_true(has(out, n, &p[i]));
	}
	for (int i = 0; i < N; i++) {
		router_routes_reset(&t, &p[i]);
		router_routes_peer_fini(&p[i]);
	}
	assert_int_equal(router_routes_count(&t), 0);
	router_routes_fini(&t);
	free(p);
}

struct seen {
	int n;
	char topics[8][32];
};

static void
collect(const struct router_retained_msg *m, void *arg)
{
	struct seen *s = arg;

	if (s->n < 8)
		snprintf(s->topics[s->n], sizeof(s->topics[0]), "%s",
		    m->topic);
	s->n++;
}

static void
put(struct router_retained *r, const char *topic, uint32_t part, const char *pl)
{
	struct strata_message m = {topic, strlen(topic), (const uint8_t *)pl,
	    strlen(pl), (const uint8_t *)"\x01\x01", 2, 1, true};

	router_retained_put(r, &m, part, 42);
}

static void
test_retained_match(void **state)
{
	struct router_retained r;
	struct seen s = { 0 };

	router_retained_init(&r, 1000, 1 << 20);
	put(&r, "a/b", 1, "one");
	put(&r, "a/c", 2, "two");
	put(&r, "$SYS/x", 3, "sys");
	put(&r, "a/b", 1, "uno"); /* replaces */
	assert_int_equal(router_retained_count(&r), 3);
	assert_memory_equal(router_retained_get(&r, "a/b", 3)->payload, "uno", 3);
	/* Direct lookup without wildcards. */
	assert_int_equal(router_retained_match(&r, "a/b", 3, collect, &s), 1);
	assert_string_equal(s.topics[0], "a/b");
	s.n = 0;
	assert_int_equal(router_retained_match(&r, "a/+", 3, collect, &s), 2);
	s.n = 0;
	assert_int_equal(router_retained_match(&r, "#", 1, collect, &s), 2);
	s.n = 0;
	assert_int_equal(router_retained_match(&r, "$SYS/#", 6, collect, &s), 1);
	/* Shared subscriptions get no retained messages. */
	assert_int_equal(router_retained_match(&r, "$share/g/a/b", 12, collect, &s),
	    0);
	assert_int_equal(router_retained_match(&r, "x/y", 3, collect, &s), 0);
	assert_true(router_retained_delete(&r, "a/c", 3));
	assert_false(router_retained_delete(&r, "a/c", 3));
	router_retained_drop_partition(&r, 1);
	assert_null(router_retained_get(&r, "a/b", 3));
	assert_int_equal(router_retained_count(&r), 1);
	router_retained_fini(&r);
}

static void
test_retained_pack_load(void **state)
{
	struct router_retained a, b;
	const struct router_retained_msg *m;
	uint8_t *bytes = NULL;
	size_t len;

	router_retained_init(&a, 1000, 1 << 20);
	router_retained_init(&b, 1000, 1 << 20);
	put(&a, "t/1", 7, "payload");
	len = router_retained_pack(router_retained_get(&a, "t/1", 3), &bytes);
	assert_int_equal(router_retained_load(&b, "t/1", 3, 7, bytes, len), 0);
	m = router_retained_get(&b, "t/1", 3);
	assert_non_null(m);
	assert_int_equal(m->partition, 7);
	assert_int_equal(m->qos, 1);
	assert_int_equal(m->stored_at_ms, 42);
	assert_int_equal(m->payload_len, 7);
	assert_memory_equal(m->payload, "payload", 7);
	assert_int_equal(m->props_len, 2);
	/* A loaded value does not replace a newer cached one. */
	put(&b, "t/2", 7, "new");
	assert_int_equal(router_retained_load(&b, "t/2", 3, 7, bytes, len), 0);
	assert_memory_equal(router_retained_get(&b, "t/2", 3)->payload, "new", 3);
	assert_int_equal(router_retained_load(&b, "t/3", 3, 7,
	    (const uint8_t *)"\xff\xff\xff", 3), STRATA_EINVAL);
	free(bytes);
	router_retained_fini(&a);
	router_retained_fini(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match_dedup),
		cmocka_unit_test(test_resync_atomic),
		cmocka_unit_test(test_drop_partition),
		cmocka_unit_test(test_counts_and_reset),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_retained_match),
		cmocka_unit_test(test_retained_pack_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
