/*
 * timerwheel.h - a hashed timer wheel for many coarse deadlines.
 *
 * For deadlines that are many and mostly pushed back before they fire:
 * connect timeouts, keepalives, close-flush bounds of client connections.
 * Scheduling and cancelling are O(1) list operations; a timer lives in
 * the slot (due / tick) % STRATA_TIMERWHEEL_SLOTS, so a deadline further
 * away than one turn of the wheel is simply looked at (and left) once per
 * turn.  Advancing visits the slots between the last advance and now.
 *
 * Resolution: a timer fires at the first advance at or after its due
 * time, never before it; advancing every tick_ms makes it at most one
 * tick late.
 *
 * Ownership: the wheel owns nothing.  A struct strata_timer is embedded in
 * its owner, which must cancel it before freeing it.  No allocation.
 */
#ifndef STRATA_TIMERWHEEL_H
#define STRATA_TIMERWHEEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "list.h"

#define STRATA_TIMERWHEEL_SLOTS 512

struct strata_timer {
	struct strata_list node; /* self-linked while not scheduled */
	uint64_t due_ms;
};

struct strata_timerwheel {
	struct strata_list slots[STRATA_TIMERWHEEL_SLOTS];
	uint64_t tick_ms;
	uint64_t next_tick;      /* first tick not visited yet */
	size_t count;            /* timers scheduled */
};

/* Fired timers are unscheduled before the callback runs; the callback may
 * schedule or cancel any timer, this one included. */
typedef void (*strata_timer_fn)(struct strata_timer *t, void *arg);

/* tick_ms > 0: the wheel's resolution; now_ms: the current time. */
void strata_timerwheel_init(struct strata_timerwheel *w, uint64_t tick_ms,
    uint64_t now_ms);
void strata_timer_init(struct strata_timer *t);
static inline bool
strata_timer_scheduled(const struct strata_timer *t)
{
	return !strata_list_empty(&t->node);
}
/* (Re)schedule t to fire at due_ms (a time in the past fires at the next
 * advance). */
void strata_timerwheel_schedule(struct strata_timerwheel *w,
    struct strata_timer *t, uint64_t due_ms);
/* Unschedule t; harmless when it is not scheduled. */
void strata_timerwheel_cancel(struct strata_timerwheel *w,
    struct strata_timer *t);
/* Fire, in no particular order, every timer due at or before now_ms.
 * Returns the number fired. */
size_t strata_timerwheel_advance(struct strata_timerwheel *w,
    uint64_t now_ms, strata_timer_fn fire, void *arg);

#endif
