/*
 * subtree.h - index of topic filters, matched against topic names.
 *
 * Maps a filter string to one value (void *, owned by the caller).  Exact
 * filters live in a hash table, filters with wildcards in a trie of levels,
 * so a match costs one hash lookup plus a walk of the wildcard trie.
 * The broker keys its local subscription table with it (value: the list of
 * local subscribers of that filter) and the router its route table (value:
 * the brokers that have subscribers).  Not thread-safe.
 */
#ifndef STRATA_SUBTREE_H
#define STRATA_SUBTREE_H

#include <stdbool.h>
#include <stddef.h>

struct strata_subtree;

struct strata_subtree *strata_subtree_new(void);
/* Frees the index; calls value_free (if not NULL) on every value. */
void strata_subtree_free(struct strata_subtree *t, void (*value_free)(void *));

/* The value slot of `filter`: NULL if absent and !create; with create, a new
 * entry whose value is NULL is made (the filter string is copied).  The
 * pointer stays valid until the entry is removed.  NULL as well for a
 * filter strata_topic_filter_check() refuses. */
void **strata_subtree_slot(struct strata_subtree *t, const char *filter,
    size_t len, bool create);

/* Remove the entry of `filter` (its value is not freed).  Returns 0 or
 * STRATA_ENOTFOUND. */
int strata_subtree_remove(struct strata_subtree *t, const char *filter,
    size_t len);

/* Call cb(filter, flen, value, arg) for every entry whose filter matches the
 * topic name.  cb must not modify the index.  A "$share/<group>/<f>" entry
 * matches what <f> matches.  An empty topic (not a valid name) matches
 * nothing.  The filter handed to cb is the stored, NUL-terminated copy. */
typedef void (*strata_subtree_cb)(const char *filter, size_t flen,
    void *value, void *arg);
void strata_subtree_match(const struct strata_subtree *t, const char *topic,
    size_t len, strata_subtree_cb cb, void *arg);

/* Call cb for every entry (any order).  cb must not modify the index. */
void strata_subtree_foreach(const struct strata_subtree *t,
    strata_subtree_cb cb, void *arg);

size_t strata_subtree_count(const struct strata_subtree *t);

#endif
