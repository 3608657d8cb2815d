/*
 * timerwheel.c - hashed timer wheel (see timerwheel.h).
 *
 * A timer due at tick d = due_ms / tick_ms sits in slot d % SLOTS.  An
 * advance to now visits the ticks from next_tick to now's tick and fires,
 * in each visited slot, the timers whose due time has come; the others
 * (due later in this tick, or a whole turn or more away) stay.  next_tick
 * is left at now's tick, so a timer due later within that tick is seen by
 * the next advance.
 */
#include "timerwheel.h"

#include <assert.h>

void
strata_timerwheel_init(struct strata_timerwheel *w, uint64_t tick_ms,
    uint64_t now_ms)
{
	size_t i;

	assert(tick_ms > 0);
	for (i = 0; i < STRATA_TIMERWHEEL_SLOTS; i++)
		strata_list_init(&w->slots[i]);
	w->tick_ms = tick_ms;
	w->next_tick = now_ms / tick_ms;
	w->count = 0;
}

void
strata_timer_init(struct strata_timer *t)
{
	strata_list_init(&t->node);
	t->due_ms = 0;
}

void
strata_timerwheel_cancel(struct strata_timerwheel *w, struct strata_timer *t)
{
	if (!strata_timer_scheduled(t))
		return;
	strata_list_remove(&t->node);
	w->count--;
}

void
strata_timerwheel_schedule(struct strata_timerwheel *w,
    struct strata_timer *t, uint64_t due_ms)
{
	uint64_t tick = due_ms / w->tick_ms;

	strata_timerwheel_cancel(w, t);
	if (tick < w->next_tick)
		tick = w->next_tick; /* overdue: the next advance fires it */
	t->due_ms = due_ms;
	strata_list_push_back(&w->slots[tick % STRATA_TIMERWHEEL_SLOTS],
	    &t->node);
	w->count++;
}

/* Move every timer of slot into the empty list head out. */
static void
timerwheel_take(struct strata_list *slot, struct strata_list *out)
{
	if (strata_list_empty(slot)) {
		strata_list_init(out);
		return;
	}
	out->next = slot->next;
	out->prev = slot->prev;
	out->next->prev = out;
	out->prev->next = out;
	strata_list_init(slot);
}

/* Fire the due timers of one slot; the rest go back into it. */
static size_t
timerwheel_run_slot(struct strata_timerwheel *w, struct strata_list *slot,
    uint64_t now_ms, strata_timer_fn fire, void *arg)
{
	struct strata_list pending;
	size_t fired = 0;

	timerwheel_take(slot, &pending);
	while (!strata_list_empty(&pending)) {
		struct strata_timer *t = STRATA_CONTAINER_OF(pending.next,
		    struct strata_timer, node);

		strata_list_remove(&t->node);
		if (t->due_ms > now_ms) {
			strata_list_push_back(slot, &t->node);
			continue;
		}
		w->count--;
		fired++;
		fire(t, arg); /* may schedule t again, or cancel others */
	}
	return fired;
}

size_t
strata_timerwheel_advance(struct strata_timerwheel *w, uint64_t now_ms,
    strata_timer_fn fire, void *arg)
{
	uint64_t now_tick = now_ms / w->tick_ms, tick, last;
	size_t fired = 0;

	if (now_tick < w->next_tick)
		return 0; /* the clock did not move past the last advance */
	last = now_tick;
	if (now_tick - w->next_tick >= STRATA_TIMERWHEEL_SLOTS)
		last = w->next_tick + STRATA_TIMERWHEEL_SLOTS - 1;
	for (tick = w->next_tick; tick <= last; tick++)
		fired += timerwheel_run_slot(w,
		    &w->slots[tick % STRATA_TIMERWHEEL_SLOTS], now_ms, fire,
		    arg);
	w->next_tick = now_tick;
	return fired;
}
