/*
 * test_fidx_eval.c - a fleet indexing query evaluated over the index's
 * replies (common/fidx_eval.c): the read commands each leaf plans (exact
 * term, prefix wildcard, numeric range, the set of every thing for NOT),
 * then AND / OR / NOT over replies given as RESP (parsed by hiredis's own
 * reader), wildcard patterns filtering a prefix's members, unsorted
 * numeric replies sorted, duplicates dropped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "fidx_eval.h"

/* The reply of RESP text (one value). */
static redisReply *
resp(const char *text, size_t len)
{
	redisReader *r = redisReaderCreate();
	void *reply = NULL;

	redisReaderFeed(r, text, len);
	assert_int_equal(redisReaderGetReply(r, &reply), REDIS_OK);
	assert_non_null(reply);
	redisReaderFree(r);
	return reply;
}

static struct strata_fidx_node *
parse(const char *q)
{
	struct strata_fidx_node *n;
	char err[256];

	assert_int_equal(strata_fidx_parse(q, strlen(q), &n, err,
	    sizeof(err)), 0);
	return n;
}

/* Argument i of the plan, as text (bytes may be binary). */
static void
arg_is(const struct strata_fidx_plan *p, size_t i, const char *want,
    size_t len)
{
	assert_true(i < p->nargs);
	assert_int_equal(p->args[i].len, len);
	assert_memory_equal(p->args[i].s, want, len);
}

/* The set's names joined with ",". */
static void
set_is(const struct strata_fidx_set *s, const char *want)
{
	char buf[256] = "";

	for (size_t i = 0; i < s->n; i++) {
		if (i > 0)
			strcat(buf, ",");
		strncat(buf, s->v[i].p, s->v[i].len);
	}
	assert_string_equal(buf, want);
}

#define CFG "*3\r\n$19\r\nREGISTRY_AND_SHADOW\r\n$6\r\nACTIVE\r\n$2\r\n[]\r\n"

static void
test_term_and_not_prefix(void **state)
{
	struct strata_fidx_node *t = parse("attributes.color:RED AND NOT "
	    "thingName:b*");
	struct strata_fidx_plan p = {0};
	/* a AND NOT b is a minus b: every thing is not read */
	static const char text[] = "*3\r\n" CFG
	    "*3\r\n$5\r\nred\0a\r\n$5\r\nred\0b\r\n$5\r\nred\0c\r\n"
	    "*2\r\n$3\r\nb\0b\r\n$5\r\nbx\0bx\r\n";
	redisReply *r;
	struct strata_fidx_set s;

	(void)state;
	strata_fidx_plan_query(&p, t);
	assert_int_equal(p.ncmds, 2);
	assert_false(p.need_all);
	/* 4 ZRANGEBYLEX strata:fidx:s:attributes.color [red\0 (red\1 */
	arg_is(&p, 0, "4", 1);
	arg_is(&p, 1, "ZRANGEBYLEX", 11);
	arg_is(&p, 2, "strata:fidx:s:attributes.color", 30);
	arg_is(&p, 3, "[red\0", 5);
	arg_is(&p, 4, "(red\1", 5);
	/* the prefix: [b .. (b\xff */
	arg_is(&p, 7, "strata:fidx:s:thingName", 23);
	arg_is(&p, 8, "[b", 2);
	arg_is(&p, 9, "(b\xff", 3);
	assert_int_equal(p.nargs, 10);
	r = resp(text, sizeof(text) - 1);
	s = strata_fidx_plan_eval(&p, t, r);
	set_is(&s, "a,c");
	free(s.v);
	freeReplyObject(r);
	strata_fidx_plan_clear(&p);
	strata_fidx_free(t);
}

static void
test_not_alone_reads_every_thing(void **state)
{
	struct strata_fidx_node *t = parse("NOT thingName:b OR thingName:b");
	struct strata_fidx_plan p = {0};
	static const char text[] = "*4\r\n" CFG
	    "*1\r\n$3\r\nb\0b\r\n"
	    "*1\r\n$3\r\nb\0b\r\n"
	    "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n";
	redisReply *r;
	struct strata_fidx_set s;

	(void)state;
	strata_fidx_plan_query(&p, t);
	assert_int_equal(p.ncmds, 3);
	assert_true(p.need_all);
	assert_int_equal(p.all_at, 3);
	arg_is(&p, 11, "ZRANGE", 6);
	arg_is(&p, 12, "strata:fidx:things", 18);
	r = resp(text, sizeof(text) - 1);
	s = strata_fidx_plan_eval(&p, t, r);
	set_is(&s, "a,b,c");
	free(s.v);
	freeReplyObject(r);
	strata_fidx_plan_clear(&p);
	strata_fidx_free(t);
}

static void
test_numeric_range_or_wildcard(void **state)
{
	struct strata_fidx_node *t = parse("shadow.reported.battery:[10 TO 20} "
	    "OR thingName:a?c");
	struct strata_fidx_plan p = {0};
	static const char text[] = "*3\r\n" CFG
	    "*3\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\nz\r\n"
	    "*3\r\n$6\r\nabc\0t1\r\n$7\r\nabbc\0t2\r\n$6\r\naxc\0t3\r\n";
	redisReply *r;
	struct strata_fidx_set s;

	(void)state;
	strata_fidx_plan_query(&p, t);
	assert_int_equal(p.ncmds, 2);
	assert_false(p.need_all);
	arg_is(&p, 1, "ZRANGEBYSCORE", 13);
	arg_is(&p, 2, "strata:fidx:n:shadow.reported.battery", 37);
	arg_is(&p, 3, "10", 2);
	arg_is(&p, 4, "(20", 3);
	r = resp(text, sizeof(text) - 1);
	s = strata_fidx_plan_eval(&p, t, r);
	set_is(&s, "a,t1,t3,z");
	free(s.v);
	freeReplyObject(r);
	strata_fidx_plan_clear(&p);
	strata_fidx_free(t);
}

static void
test_exact_number_reads_both(void **state)
{
	struct strata_fidx_node *t = parse("attributes.floor:3");
	struct strata_fidx_plan p = {0};
	static const char text[] = "*3\r\n" CFG
	    "*1\r\n$3\r\n3\0q\r\n"
	    "*2\r\n$1\r\nr\r\n$1\r\nq\r\n";
	redisReply *r;
	struct strata_fidx_set s;
	const char *extra[] = {"SMEMBERS", "k"};

	(void)state;
	strata_fidx_plan_query(&p, t);
	assert_int_equal(p.ncmds, 2);   /* the text and the number */
	assert_int_equal(strata_fidx_plan_command(&p, 2, extra), 3);
	r = resp(text, sizeof(text) - 1);
	s = strata_fidx_plan_eval(&p, t, r);
	set_is(&s, "q,r");
	free(s.v);
	freeReplyObject(r);
	strata_fidx_plan_clear(&p);
	assert_int_equal(p.nargs, 0);
	strata_fidx_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_term_and_not_prefix),
		cmocka_unit_test(test_not_alone_reads_every_thing),
		cmocka_unit_test(test_numeric_range_or_wildcard),
		cmocka_unit_test(test_exact_number_reads_both),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
