/*
 * test_timerwheel.c - timer wheel: never early, at most a tick late,
 * rescheduling and cancelling (also from a callback), deadlines beyond one
 * turn of the wheel, long gaps between advances.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "timerwheel.h"

#define TICK 100

struct item {
	struct strata_timer timer;
	int fired;
	uint64_t fired_at;
};

struct ctx {
	uint64_t now;
	struct strata_timerwheel *w;
	struct item *cancel_other;   /* cancelled by the first callback */
	uint64_t reschedule_by;      /* first callback reschedules itself */
	int calls;
};

static void
on_fire(struct strata_timer *t, void *arg)
{
	struct ctx *c = arg;
	struct item *it = STRATA_CONTAINER_OF(t, struct item, timer);

	it->fired++;
	it->fired_at = c->now;
	if (c->calls++ > 0)
		return;
	if (c->cancel_other != NULL)
		strata_timerwheel_cancel(c->w, &c->cancel_other->timer);
	if (c->reschedule_by != 0)
		strata_timerwheel_schedule(c->w, t, c->now + c->reschedule_by);
}

static void
advance_to(struct ctx *c, uint64_t until, uint64_t step)
{
	while (c->now < until) {
		c->now += step;
		strata_timerwheel_advance(c->w, c->now, on_fire, c);
	}
}

/* n items, item i due at first + i * step. */
static void
schedule_items(struct strata_timerwheel *w, struct item *it, int n,
    uint64_t first, uint64_t step)
{
	int i;

	for (i = 0; i < n; i++) {
		it[i] = (struct item){0};
		strata_timer_init(&it[i].timer);
		strata_timerwheel_schedule(w, &it[i].timer,
		    first + (uint64_t)i * step);
	}
}

static void
test_fires_on_time_not_before(void **state)
{
	struct strata_timerwheel w;
	struct ctx c = {.now = 1000000, .w = &w};
	struct item a = {0}, b = {0};

	strata_timerwheel_init(&w, TICK, c.now);
	strata_timer_init(&a.timer);
	strata_timer_init(&b.timer);
	assert_false(strata_timer_scheduled(&a.timer));
	strata_timerwheel_schedule(&w, &a.timer, c.now + 1550);
	strata_timerwheel_schedule(&w, &b.timer, c.now + 30);
	assert_true(strata_timer_scheduled(&a.timer));
	assert_int_equal(w.count, 2);
	advance_to(&c, 1000000 + 1540, 10);
	assert_int_equal(a.fired, 0);
	assert_int_equal(b.fired, 1);
	assert_true(b.fired_at >= 1000030 && b.fired_at < 1000030 + TICK);
	advance_to(&c, 1000000 + 1700, 10);
	assert_int_equal(a.fired, 1);
	assert_true(a.fired_at >= 1001550);
	assert_false(strata_timer_scheduled(&a.timer));
	assert_int_equal(w.count, 0);
}

static void
test_coarse_advances(void **state)
{
	/* advancing once a tick still fires each timer within one tick */
	struct strata_timerwheel w;
	struct ctx c = {.now = 5, .w = &w};
	struct item it[50];
	int i;

	strata_timerwheel_init(&w, TICK, c.now);
	schedule_items(&w, it, 50, 6, 37);
	advance_to(&c, 5 + 50 * 37 + TICK, TICK);
	for (i = 0; i < 50; i++) {
		assert_int_equal(it[i].fired, 1);
		assert_true(it[i].fired_at >= 6 + (uint64_t)i * 37);
		assert_true(it[i].fired_at < 6 + (uint64_t)i * 37 + TICK);
	}
}

static void
test_reschedule_and_cancel(void **state)
{
	struct strata_timerwheel w;
	struct ctx c = {.now = 0, .w = &w};
	struct item a = {0}, b = {0};

	strata_timerwheel_init(&w, TICK, c.now);
	strata_timer_init(&a.timer);
	strata_timer_init(&b.timer);
	strata_timerwheel_schedule(&w, &a.timer, 200);
	strata_timerwheel_schedule(&w, &a.timer, 900); /* pushed back */
	strata_timerwheel_schedule(&w, &b.timer, 300);
	strata_timerwheel_cancel(&w, &b.timer);
	strata_timerwheel_cancel(&w, &b.timer); /* twice is harmless */
	assert_int_equal(w.count, 1);
	advance_to(&c, 850, 50);
	assert_int_equal(a.fired, 0);
	advance_to(&c, 1000, 50);
	assert_int_equal(a.fired, 1);
	assert_int_equal(b.fired, 0);
}

static void
test_callback_cancels_and_reschedules(void **state)
{
	struct strata_timerwheel w;
	struct ctx c = {.now = 0, .w = &w};
	struct item a = {0}, b = {0};

	strata_timerwheel_init(&w, TICK, c.now);
	strata_timer_init(&a.timer);
	strata_timer_init(&b.timer);
	/* same slot, both due: whichever fires first cancels the other */
	strata_timerwheel_schedule(&w, &a.timer, 110);
	strata_timerwheel_schedule(&w, &b.timer, 120);
	c.cancel_other = &b;
	c.reschedule_by = 500;
	advance_to(&c, 200, 100);
	/* order within a slot is not promised: exactly one fired */
	assert_int_equal(a.fired + b.fired, 1);
	assert_int_equal(w.count, 1); /* the one that fired, rescheduled */
	advance_to(&c, 800, 100);
	assert_int_equal(a.fired + b.fired, 2);
	assert_int_equal(w.count, 0);
}

static void
test_beyond_one_turn(void **state)
{
	/* a deadline several turns away is not fired when its slot comes up
	 * early; also a past deadline fires at the next advance */
	struct strata_timerwheel w;
	struct ctx c = {.now = 0, .w = &w};
	struct item far = {0}, past = {0};
	uint64_t due = (uint64_t)TICK * STRATA_TIMERWHEEL_SLOTS * 3 + 50;

	strata_timerwheel_init(&w, TICK, c.now);
	strata_timer_init(&far.timer);
	strata_timer_init(&past.timer);
	strata_timerwheel_schedule(&w, &far.timer, due);
	advance_to(&c, due - TICK, TICK);
	assert_int_equal(far.fired, 0);
	strata_timerwheel_schedule(&w, &past.timer, 10);
	advance_to(&c, due + TICK, TICK);
	assert_int_equal(far.fired, 1);
	assert_true(far.fired_at >= due);
	assert_int_equal(past.fired, 1);
}

static void
test_long_gap(void **state)
{
	/* one advance after a gap longer than the wheel fires everything */
	struct strata_timerwheel w;
	struct ctx c = {.now = 0, .w = &w};
	struct item it[3];
	int i;

	strata_timerwheel_init(&w, TICK, c.now);
	schedule_items(&w, it, 3, TICK * 100, TICK * 100);
	c.now = (uint64_t)TICK * STRATA_TIMERWHEEL_SLOTS * 2;
	assert_int_equal(strata_timerwheel_advance(&w, c.now, on_fire, &c),
	    3);
	for (i = 0; i < 3; i++)
		assert_int_equal(it[i].fired, 1);
	/* the clock going backwards fires nothing */
	strata_timerwheel_schedule(&w, &it[0].timer, c.now + 1);
	assert_int_equal(strata_timerwheel_advance(&w, c.now - 5 * TICK,
	    on_fire, &c), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fires_on_time_not_before),
		cmocka_unit_test(test_coarse_advances),
		cmocka_unit_test(test_reschedule_and_cancel),
		cmocka_unit_test(test_callback_cancels_and_reschedules),
		cmocka_unit_test(test_beyond_one_turn),
		cmocka_unit_test(test_long_gap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
