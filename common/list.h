/*
 * list.h - intrusive circular doubly linked list (header only).
 *
 * Embed a struct strata_list in the element; the list head is a
 * struct strata_list too.  No allocation; the element owns its node.
 */
#ifndef STRATA_LIST_H
#define STRATA_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct strata_list {
	struct strata_list *prev, *next;
};

#define STRATA_CONTAINER_OF(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

static inline void
strata_list_init(struct strata_list *l)
{
	l->prev = l->next = l;
}

static inline bool
strata_list_empty(const struct strata_list *l)
{
	return l->next == l;
}

/* Insert n before `at` (at the tail when at is the head). */
static inline void
strata_list_insert_before(struct strata_list *at, struct strata_list *n)
{
	n->next = at;
	n->prev = at->prev;
	at->prev->next = n;
	at->prev = n;
}

static inline void
strata_list_push_back(struct strata_list *head, struct strata_list *n)
{
	strata_list_insert_before(head, n);
}

static inline void
strata_list_push_front(struct strata_list *head, struct strata_list *n)
{
	strata_list_insert_before(head->next, n);
}

/* Unlink n and leave it self-linked, so removing twice is harmless. */
static inline void
strata_list_remove(struct strata_list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

#define STRATA_LIST_FOREACH_SAFE(pos, tmp, head) \
	for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); \
	     (pos) = (tmp), (tmp) = (pos)->next)

#endif
