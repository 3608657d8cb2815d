/*
 * subtree.c - index of topic filters matched against topic names.
 *
 * An entry is one filter string and its value.  Entries are placed by
 * their *matching* filter: a plain filter by itself, "$share/<g>/<f>" by
 * its inner filter <f>, so several entries may sit at one place (the plain
 * filter and any number of share groups); they form a short list.
 *
 *   exact:  strata_hashmap, matching filter without wildcards -> list
 *   trie:   one node per level of filters holding a wildcard; a node keeps
 *           its literal children in a strata_hashmap (created on first
 *           use), its '+' and '#' children in their own pointers, and the
 *           list of entries whose filter ends there.
 *
 * Matching a topic costs one hash lookup plus a walk of the trie that
 * follows, at each level, the literal child of that level, the '+' child
 * and the '#' child: no allocation.  The walk recurses once per topic
 * level, bounded by the depth of the deepest wildcard filter (the broker
 * refuses filters deeper than its configured limit).
 */
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "status.h"
#include "subtree.h"
#include "topic.h"

struct subtree_entry {
	struct subtree_entry *next;
	void *value;
	size_t flen;
	char filter[]; /* the full filter, $share prefix included */
};

struct subtree_node {
	struct subtree_node *parent;
	struct strata_hashmap *children; /* level -> node; NULL if none */
	struct subtree_node *plus, *hash;
	struct subtree_entry *entries;
};

struct strata_subtree {
	struct strata_hashmap *exact; /* filter -> struct subtree_entry * */
	struct subtree_node root;
	size_t count;
};

static void *
subtree_alloc(size_t size)
{
	void *p = calloc(1, size);

	if (p == NULL)
		abort();
	return p;
}

struct strata_subtree *
strata_subtree_new(void)
{
	struct strata_subtree *t = subtree_alloc(sizeof(*t));

	t->exact = strata_hashmap_new(NULL);
	return t;
}

static void
subtree_entries_free(struct subtree_entry *e, void (*value_free)(void *))
{
	struct subtree_entry *next;

	for (; e != NULL; e = next) {
		next = e->next;
		if (value_free != NULL && e->value != NULL)
			value_free(e->value);
		free(e);
	}
}

struct subtree_free_ctx {
	void (*value_free)(void *);
};

static void subtree_node_clear(
    struct subtree_node *n, void (*value_free)(void *));

static int
subtree_child_free(const void *key, size_t len, void *value, void *arg)
{
	struct subtree_free_ctx *ctx = arg;

	subtree_node_clear(value, ctx->value_free);
	free(value);
	return 0;
}

/* Free everything below n and n's entries (not n itself). */
static void
subtree_node_clear(struct subtree_node *n, void (*value_free)(void *))
{
	struct subtree_free_ctx ctx = {value_free};

	if (n->children != NULL) {
		strata_hashmap_foreach(n->children, subtree_child_free, &ctx);
		strata_hashmap_free(n->children);
	}
	if (n->plus != NULL)
		subtree_child_free(NULL, 0, n->plus, &ctx);
	if (n->hash != NULL)
		subtree_child_free(NULL, 0, n->hash, &ctx);
	subtree_entries_free(n->entries, value_free);
}

static int
subtree_exact_free(const void *key, size_t len, void *value, void *arg)
{
	struct subtree_free_ctx *ctx = arg;

	subtree_entries_free(value, ctx->value_free);
	return 0;
}

void
strata_subtree_free(struct strata_subtree *t, void (*value_free)(void *))
{
	struct subtree_free_ctx ctx = {value_free};

	if (t == NULL)
		return;
	strata_hashmap_foreach(t->exact, subtree_exact_free, &ctx);
	strata_hashmap_free(t->exact);
	subtree_node_clear(&t->root, value_free);
	free(t);
}

/* The filter that decides what an entry matches: inner of a share. */
static struct strata_bytes
subtree_matching_filter(const char *filter, size_t len)
{
	struct strata_bytes group,
	    inner = {(const uint8_t *)filter, (uint32_t)len};

	strata_topic_share_split(inner.p, len, &group, &inner);
	return inner;
}

/* Child of n for the level [p, p + len): '+', '#' or a literal. */
static struct subtree_node **
subtree_child(
    struct subtree_node *n, const uint8_t *p, size_t len, bool create)
{
	if (len == 1 && p[0] == '+')
		return &n->plus;
	if (len == 1 && p[0] == '#')
		return &n->hash;
	if (n->children == NULL) {
		if (!create)
			return NULL;
		n->children = strata_hashmap_new(NULL);
	}
	return (struct subtree_node **)strata_hashmap_slot(
	    n->children, p, len, create);
}

/* The trie node of filter f, created (with its path) if create. */
static struct subtree_node *
subtree_node_find(struct strata_subtree *t, struct strata_bytes f, bool create)
{
	struct subtree_node *n = &t->root;
	size_t start = 0;

	for (;;) {
		const uint8_t *slash = memchr(f.p + start, '/', f.len - start);
		size_t end = slash ? (size_t)(slash - f.p) : f.len;
		struct subtree_node **child;

		child = subtree_child(n, f.p + start, end - start, create);
		if (child == NULL || (*child == NULL && !create))
			return NULL;
		if (*child == NULL) {
			*child = subtree_alloc(sizeof(**child));
			(*child)->parent = n;
		}
		n = *child;
		if (end == f.len)
			return n;
		start = end + 1;
	}
}

/* The head of the entry list where filter f lives. */
static struct subtree_entry **
subtree_list(struct strata_subtree *t, struct strata_bytes f, bool create)
{
	struct subtree_node *n;

	if (!strata_topic_has_wildcard(f.p, f.len))
		return (struct subtree_entry **)strata_hashmap_slot(
		    t->exact, f.p, f.len, create);
	n = subtree_node_find(t, f, create);
	return n != NULL ? &n->entries : NULL;
}

void **
strata_subtree_slot(
    struct strata_subtree *t, const char *filter, size_t len, bool create)
{
	struct subtree_entry **list, *e;

	if (strata_topic_filter_check((const uint8_t *)filter, len) != 0)
		return NULL;
	list = subtree_list(t, subtree_matching_filter(filter, len), create);
	if (list == NULL)
		return NULL;
	for (e = *list; e != NULL; e = e->next)
		if (e->flen == len && memcmp(e->filter, filter, len) == 0)
			return &e->value;
	if (!create)
		return NULL;
	e = subtree_alloc(sizeof(*e) + len + 1);
	memcpy(e->filter, filter, len);
	e->flen = len;
	e->next = *list;
	*list = e;
	t->count++;
	return &e->value;
}

static bool
subtree_node_empty(const struct subtree_node *n)
{
	return n->entries == NULL && n->plus == NULL && n->hash == NULL &&
	       (n->children == NULL || strata_hashmap_count(n->children) == 0);
}

/* Free n and its empty ancestors.  f is n's filter: walking up, its last
 * level names n in its parent. */
static void
subtree_prune(struct subtree_node *n, struct strata_bytes f)
{
	size_t end = f.len;

	while (n->parent != NULL && subtree_node_empty(n)) {
		struct subtree_node *parent = n->parent;
		size_t start = end;

		while (start > 0 && f.p[start - 1] != '/')
			start--;
		if (parent->plus == n)
			parent->plus = NULL;
		else if (parent->hash == n)
			parent->hash = NULL;
		else
			strata_hashmap_take(
			    parent->children, f.p + start, end - start);
		if (parent->children != NULL &&
		    strata_hashmap_count(parent->children) == 0) {
			strata_hashmap_free(parent->children);
			parent->children = NULL;
		}
		free(n);
		n = parent;
		end = start > 0 ? start - 1 : 0;
	}
}

int
strata_subtree_remove(struct strata_subtree *t, const char *filter, size_t len)
{
	struct strata_bytes f = subtree_matching_filter(filter, len);
	bool exact = !strata_topic_has_wildcard(f.p, f.len);
	struct subtree_node *n = NULL;
	struct subtree_entry **link, *e;

	if (exact)
		link = (struct subtree_entry **)strata_hashmap_slot(
		    t->exact, f.p, f.len, false);
	else if ((n = subtree_node_find(t, f, false)) != NULL)
		link = &n->entries;
	else
		link = NULL;
	for (; link != NULL && *link != NULL; link = &(*link)->next)
		if ((*link)->flen == len &&
		    memcmp((*link)->filter, filter, len) == 0)
			break;
	if (link == NULL || *link == NULL)
		return STRATA_ENOTFOUND;
	e = *link;
	*link = e->next;
	free(e);
	t->count--;
	if (exact && strata_hashmap_get(t->exact, f.p, f.len) == NULL)
		strata_hashmap_take(t->exact, f.p, f.len);
	else if (!exact)
		subtree_prune(n, f);
	return 0;
}

static void
subtree_report(const struct subtree_entry *e, strata_subtree_cb cb, void *arg)
{
	for (; e != NULL; e = e->next)
		cb(e->filter, e->flen, e->value, arg);
}

struct subtree_walk {
	const uint8_t *topic;
	size_t len;
	strata_subtree_cb cb;
	void *arg;
};

/* n has consumed the topic up to `start`; done: no level is left. */
static void
subtree_walk(const struct subtree_walk *w, const struct subtree_node *n,
    size_t start, bool done)
{
	const uint8_t *slash;
	size_t end;
	const struct subtree_node *child;

	/* '#' matches the remaining levels, zero of them included ("a/#"
	 * matches "a"); at the root, not a "$" topic. */
	if (n->hash != NULL && (n->parent != NULL || w->topic[0] != '$'))
		subtree_report(n->hash->entries, w->cb, w->arg);
	if (done) {
		subtree_report(n->entries, w->cb, w->arg);
		return;
	}
	slash = memchr(w->topic + start, '/', w->len - start);
	end = slash ? (size_t)(slash - w->topic) : w->len;
	if (n->plus != NULL && (n->parent != NULL || w->topic[0] != '$'))
		subtree_walk(w, n->plus, end + 1, end == w->len);
	if (n->children == NULL)
		return;
	/* a child in the map is never NULL: it is made right after its
	 * slot and removed with it */
	child = strata_hashmap_get(n->children, w->topic + start, end - start);
	if (child != NULL)
		subtree_walk(w, child, end + 1, end == w->len);
}

void
strata_subtree_match(const struct strata_subtree *t, const char *topic,
    size_t len, strata_subtree_cb cb, void *arg)
{
	struct subtree_walk w = {(const uint8_t *)topic, len, cb, arg};
	const struct subtree_entry *exact;

	if (len == 0)
		return;
	exact = strata_hashmap_get(t->exact, topic, len);
	subtree_report(exact, cb, arg);
	subtree_walk(&w, &t->root, 0, false);
}

struct subtree_each {
	strata_subtree_cb cb;
	void *arg;
};

static void subtree_node_each(
    const struct subtree_node *n, const struct subtree_each *each);

static int
subtree_child_each(const void *key, size_t len, void *value, void *arg)
{
	subtree_node_each(value, arg);
	return 0;
}

static void
subtree_node_each(
    const struct subtree_node *n, const struct subtree_each *each)
{
	subtree_report(n->entries, each->cb, each->arg);
	if (n->plus != NULL)
		subtree_node_each(n->plus, each);
	if (n->hash != NULL)
		subtree_node_each(n->hash, each);
	if (n->children != NULL)
		strata_hashmap_foreach(
		    n->children, subtree_child_each, (void *)each);
}

static int
subtree_exact_each(const void *key, size_t len, void *value, void *arg)
{
	const struct subtree_each *each = arg;

	subtree_report(value, each->cb, each->arg);
	return 0;
}

void
strata_subtree_foreach(
    const struct strata_subtree *t, strata_subtree_cb cb, void *arg)
{
	struct subtree_each each = {cb, arg};

	strata_hashmap_foreach(t->exact, subtree_exact_each, &each);
	subtree_node_each(&t->root, &each);
}

size_t
strata_subtree_count(const struct strata_subtree *t)
{
	return t->count;
}
