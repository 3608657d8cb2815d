/*
 * fidx_eval.c - a fleet indexing query tree evaluated over the index's
 * Redis structures (fidx_eval.h): the read commands of its leaves, then
 * the tree over their replies.
 */
#include <stdlib.h>
#include <string.h>

#include "fidx_eval.h"
#include "fidx_index.h"

/* ---- names and sets ---- */

int
strata_fidx_name_cmp(const void *a, const void *b)
{
	const struct strata_fidx_name *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->p, y->p, n);

	if (c != 0)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

static void
fidx_set_add(struct strata_fidx_set *s, size_t *cap, const char *p, size_t len)
{
	if (s->n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		s->v = realloc(s->v, *cap * sizeof(*s->v));
		if (s->v == NULL)
			abort();
	}
	s->v[s->n].p = p;
	s->v[s->n++].len = len;
}

/* Sort and drop duplicates. */
static void
fidx_set_norm(struct strata_fidx_set *s)
{
	size_t k = 0;

	bool sorted = true;

	if (s->n == 0)
		return;
	/* an exact term's members ("value\0thing") and the set of every
	 * thing arrive in thing order: no sort */
	for (size_t i = 1; i < s->n && sorted; i++)
		sorted = strata_fidx_name_cmp(&s->v[i - 1], &s->v[i]) <= 0;
	if (!sorted)
		qsort(s->v, s->n, sizeof(*s->v), strata_fidx_name_cmp);
	for (size_t i = 1; i < s->n; i++)
		if (strata_fidx_name_cmp(&s->v[i], &s->v[k]) != 0)
			s->v[++k] = s->v[i];
	s->n = k + 1;
}

/* a AND b, a OR b, a AND NOT b (both sorted); frees a and b. */
enum fidx_merge { FIDX_M_AND, FIDX_M_OR, FIDX_M_MINUS };

static struct strata_fidx_set
fidx_merge(struct strata_fidx_set a, struct strata_fidx_set b, enum fidx_merge how)
{
	struct strata_fidx_set out = {0};
	size_t cap = 0, i = 0, j = 0;

	while (i < a.n || j < b.n) {
		int c = i == a.n ? 1 : j == b.n ? -1 :
		    strata_fidx_name_cmp(&a.v[i], &b.v[j]);

		if (c == 0) {
			if (how != FIDX_M_MINUS)
				fidx_set_add(&out, &cap, a.v[i].p, a.v[i].len);
			i++;
			j++;
		} else if (c < 0) {
			if (how != FIDX_M_AND)
				fidx_set_add(&out, &cap, a.v[i].p, a.v[i].len);
			i++;
		} else {
			if (how == FIDX_M_OR)
				fidx_set_add(&out, &cap, b.v[j].p, b.v[j].len);
			j++;
		}
	}
	free(a.v);
	free(b.v);
	return out;
}

/* ---- the plan: read commands ---- */

static void
fidx_arg(struct strata_fidx_plan *q, const char *s, size_t len)
{
	if (q->nargs == q->capargs) {
		q->capargs = q->capargs ? q->capargs * 2 : 32;
		q->args = realloc(q->args, q->capargs * sizeof(*q->args));
		if (q->args == NULL)
			abort();
	}
	q->args[q->nargs].s = malloc(len + 1);
	if (q->args[q->nargs].s == NULL)
		abort();
	memcpy(q->args[q->nargs].s, s, len);
	q->args[q->nargs].s[len] = '\0';
	q->args[q->nargs++].len = len;
}

static void
fidx_args(struct strata_fidx_plan *q, const char *s)
{
	fidx_arg(q, s, strlen(s));
}

/* "<prefix><field>" */
static void
fidx_key(struct strata_fidx_plan *q, const char *prefix, const char *field)
{
	char key[STRATA_FIDX_MAX_QUERY + 64];

	if (field == NULL)
		snprintf(key, sizeof(key), "%s", STRATA_FIDX_ANY);
	else
		snprintf(key, sizeof(key), "%s%s", prefix, field);
	fidx_args(q, key);
}

/* "<mark><value><tail>" where tail is one byte (\0, \1 or \xff). */
static void
fidx_lex_bound(struct strata_fidx_plan *q, char mark, const char *value,
    int tail)
{
	size_t n = strlen(value);
	char *b = malloc(n + 3);

	if (b == NULL)
		abort();
	b[0] = mark;
	memcpy(b + 1, value, n);
	n++;
	if (tail >= 0)
		b[n++] = (char)tail;
	fidx_arg(q, b, n);
	free(b);
}

static void
fidx_cmd(struct strata_fidx_plan *q, int argc)
{
	char n[16];

	snprintf(n, sizeof(n), "%d", argc);
	fidx_args(q, n);
	q->ncmds++;
}

/* ZRANGEBYLEX of field's (or any field's) values from lo to hi. */
static void
fidx_plan_lex(struct strata_fidx_plan *q, const char *field, char lo_mark,
    const char *lo, int lo_tail, char hi_mark, const char *hi, int hi_tail)
{
	fidx_cmd(q, 4);
	fidx_args(q, "ZRANGEBYLEX");
	fidx_key(q, STRATA_FIDX_STR_PREFIX, field);
	if (lo == NULL)
		fidx_args(q, "-");
	else
		fidx_lex_bound(q, lo_mark, lo, lo_tail);
	if (hi == NULL)
		fidx_args(q, "+");
	else
		fidx_lex_bound(q, hi_mark, hi, hi_tail);
}

static void
fidx_plan_score(struct strata_fidx_plan *q, const char *field, const char *lo,
    bool lo_incl, const char *hi, bool hi_incl)
{
	char b[STRATA_FIDX_MAX_QUERY + 2];

	fidx_cmd(q, 4);
	fidx_args(q, "ZRANGEBYSCORE");
	fidx_key(q, STRATA_FIDX_NUM_PREFIX, field);
	snprintf(b, sizeof(b), "%s%s", lo_incl || lo == NULL ? "" : "(",
	    lo != NULL ? lo : "-inf");
	fidx_args(q, b);
	snprintf(b, sizeof(b), "%s%s", hi_incl || hi == NULL ? "" : "(",
	    hi != NULL ? hi : "+inf");
	fidx_args(q, b);
}

static void
fidx_plan_all(struct strata_fidx_plan *q, const char *key)
{
	fidx_cmd(q, 4);
	fidx_args(q, "ZRANGE");
	fidx_args(q, key);
	fidx_args(q, "0");
	fidx_args(q, "-1");
}

static bool
fidx_numeric(const char *s)
{
	double d;

	return s == NULL || strata_fidx_number(s, &d);
}

/* AND n's NOT side when exactly one side is a NOT (then a AND NOT b is
 * a minus b, with no need of every thing), else NULL. */
static const struct strata_fidx_node *
fidx_and_not(const struct strata_fidx_node *n)
{
	bool l = n->left->kind == STRATA_FIDX_NOT;
	bool r = n->right->kind == STRATA_FIDX_NOT;

	if (l == r)
		return NULL;
	return l ? n->left : n->right;
}

/* The other side of fidx_and_not(n). */
static const struct strata_fidx_node *
fidx_and_kept(const struct strata_fidx_node *n)
{
	return n->left->kind == STRATA_FIDX_NOT ? n->right : n->left;
}

/* Does range n read the field's strings? */
static bool
fidx_range_lex(const struct strata_fidx_node *n)
{
	return (n->lo == NULL && n->hi == NULL) || !fidx_numeric(n->lo) ||
	    !fidx_numeric(n->hi);
}

static void
fidx_plan(struct strata_fidx_plan *q, const struct strata_fidx_node *n)
{
	char prefix[STRATA_FIDX_MAX_QUERY + 1], key[STRATA_FIDX_MAX_QUERY + 64];

	switch (n->kind) {
	case STRATA_FIDX_ALL:
		fidx_plan_all(q, STRATA_FIDX_THINGS);
		return;
	case STRATA_FIDX_TERM:
		fidx_plan_lex(q, n->field, '[', n->value, 0, '(', n->value, 1);
		if (n->field != NULL && fidx_numeric(n->value))
			fidx_plan_score(q, n->field, n->value, true, n->value,
			    true);
		return;
	case STRATA_FIDX_WILDCARD:
		if (strcmp(n->value, "*") == 0) {   /* the field exists */
			snprintf(key, sizeof(key), "%s%s",
			    STRATA_FIDX_STR_PREFIX, n->field);
			fidx_plan_all(q, key);
			snprintf(key, sizeof(key), "%s%s",
			    STRATA_FIDX_NUM_PREFIX, n->field);
			fidx_plan_all(q, key);
			return;
		}
		if (strata_fidx_prefix(n->value, prefix, sizeof(prefix)) == 0)
			fidx_plan_lex(q, n->field, 0, NULL, -1, 0, NULL, -1);
		else
			fidx_plan_lex(q, n->field, '[', prefix, -1, '(',
			    prefix, 0xff);
		return;
	case STRATA_FIDX_RANGE:
		/* numbers when both bounds are (or are open); strings when
		 * one is not, or both are open (the field exists) */
		if (fidx_numeric(n->lo) && fidx_numeric(n->hi))
			fidx_plan_score(q, n->field, n->lo, n->lo_incl, n->hi,
			    n->hi_incl);
		if (fidx_range_lex(n))
			fidx_plan_lex(q, n->field, '[', n->lo,
			    n->lo_incl ? 0 : 1, '(', n->hi,
			    n->hi_incl ? 1 : 0);
		return;
	case STRATA_FIDX_NOT:
		q->need_all = true;
		fidx_plan(q, n->left);
		return;
	case STRATA_FIDX_AND:
		if (fidx_and_not(n) != NULL) {   /* a AND NOT b: a minus b */
			fidx_plan(q, fidx_and_kept(n));
			fidx_plan(q, fidx_and_not(n)->left);
			return;
		}
		/* fall through */
	case STRATA_FIDX_OR:
		fidx_plan(q, n->left);
		fidx_plan(q, n->right);
		return;
	}
}

/* ---- evaluation over the replies ---- */

enum fidx_leaf { FIDX_L_NAMES, FIDX_L_LEX };

/* The names of the next leaf reply: members as they are (NAMES), or
 * the thing after "value\0" of those whose value matches pattern (LEX;
 * pattern NULL: all). */
static struct strata_fidx_set
fidx_leaf(struct strata_fidx_plan *q, enum fidx_leaf kind, const char *pattern)
{
	struct strata_fidx_set s = {0};
	size_t cap = 0;
	const redisReply *r;

	if (q->cursor >= q->reply->elements)
		return s;
	r = q->reply->element[q->cursor++];
	if (r->type != REDIS_REPLY_ARRAY)
		return s;
	for (size_t i = 0; i < r->elements; i++) {
		const redisReply *m = r->element[i];
		const char *nul;

		if (m->type != REDIS_REPLY_STRING)
			continue;
		if (kind == FIDX_L_NAMES) {
			fidx_set_add(&s, &cap, m->str, m->len);
			continue;
		}
		nul = memchr(m->str, '\0', m->len);
		if (nul == NULL || (pattern != NULL &&
		    !strata_fidx_match(pattern, m->str,
		    (size_t)(nul - m->str))))
			continue;
		fidx_set_add(&s, &cap, nul + 1,
		    m->len - (size_t)(nul + 1 - m->str));
	}
	fidx_set_norm(&s);
	return s;
}

/* The universe (every thing), a fresh copy. */
static struct strata_fidx_set
fidx_all(struct strata_fidx_plan *q)
{
	size_t keep = q->cursor;
	struct strata_fidx_set s;

	q->cursor = q->all_at;
	s = fidx_leaf(q, FIDX_L_NAMES, NULL);
	q->cursor = keep;
	return s;
}

static struct strata_fidx_set
fidx_eval(struct strata_fidx_plan *q, const struct strata_fidx_node *n)
{
	struct strata_fidx_set a, b;

	switch (n->kind) {
	case STRATA_FIDX_ALL:
		return fidx_leaf(q, FIDX_L_NAMES, NULL);
	case STRATA_FIDX_TERM:
		a = fidx_leaf(q, FIDX_L_LEX, NULL);
		if (n->field != NULL && fidx_numeric(n->value))
			a = fidx_merge(a, fidx_leaf(q, FIDX_L_NAMES, NULL),
			    FIDX_M_OR);
		return a;
	case STRATA_FIDX_WILDCARD:
		if (strcmp(n->value, "*") == 0) {
			a = fidx_leaf(q, FIDX_L_LEX, NULL);
			return fidx_merge(a, fidx_leaf(q, FIDX_L_NAMES, NULL),
			    FIDX_M_OR);
		}
		return fidx_leaf(q, FIDX_L_LEX, n->value);
	case STRATA_FIDX_RANGE:
		a = (struct strata_fidx_set){0};
		b = (struct strata_fidx_set){0};
		if (fidx_numeric(n->lo) && fidx_numeric(n->hi))
			a = fidx_leaf(q, FIDX_L_NAMES, NULL);
		if (fidx_range_lex(n))
			b = fidx_leaf(q, FIDX_L_LEX, NULL);
		return fidx_merge(a, b, FIDX_M_OR);
	case STRATA_FIDX_NOT:
		return fidx_merge(fidx_all(q), fidx_eval(q, n->left),
		    FIDX_M_MINUS);
	case STRATA_FIDX_AND:
		if (fidx_and_not(n) != NULL) {   /* as planned */
			a = fidx_eval(q, fidx_and_kept(n));
			b = fidx_eval(q, fidx_and_not(n)->left);
			return fidx_merge(a, b, FIDX_M_MINUS);
		}
		/* fall through */
	case STRATA_FIDX_OR:
		a = fidx_eval(q, n->left);
		b = fidx_eval(q, n->right);
		return fidx_merge(a, b, n->kind == STRATA_FIDX_AND ?
		    FIDX_M_AND : FIDX_M_OR);
	}
	return (struct strata_fidx_set){0};
}


/* ---- the API ---- */

void
strata_fidx_plan_query(struct strata_fidx_plan *q,
    const struct strata_fidx_node *tree)
{
	fidx_plan(q, tree);
	if (q->need_all) {
		q->all_at = q->ncmds + 1;
		fidx_plan_all(q, STRATA_FIDX_THINGS);
	}
}

size_t
strata_fidx_plan_command(struct strata_fidx_plan *q, int argc,
    const char *const *argv)
{
	fidx_cmd(q, argc);
	for (int i = 0; i < argc; i++)
		fidx_args(q, argv[i]);
	return q->ncmds;
}

struct strata_fidx_set
strata_fidx_plan_eval(struct strata_fidx_plan *q,
    const struct strata_fidx_node *tree, const redisReply *reply)
{
	q->reply = reply;
	q->cursor = 1;
	return fidx_eval(q, tree);
}

/* The reads as one transaction: MULTI, the configuration, the commands,
 * EXEC, whose answer cb gets (Redis answers natively: no Lua tables to
 * convert a large reply into and out of). */
int
strata_fidx_plan_send(struct strata_fidx_plan *q, struct strata_redis *r,
    strata_redis_cb cb, void *arg)
{
	static const char *config[] = {"HMGET", STRATA_FIDX_CONFIG, "mode",
	    "status", "custom"};
	const char *v[16];
	size_t len[16];

	strata_redis_command(r, NULL, NULL, "MULTI");
	for (int i = 0; i < 5; i++)
		len[i] = strlen(config[i]);
	strata_redis_commandv(r, NULL, NULL, 5, config, len);
	for (size_t i = 0; i < q->nargs;) {
		int n = atoi(q->args[i].s);

		for (int k = 0; k < n && k < 16; k++) {
			v[k] = q->args[i + 1 + (size_t)k].s;
			len[k] = q->args[i + 1 + (size_t)k].len;
		}
		strata_redis_commandv(r, NULL, NULL, n, v, len);
		i += 1 + (size_t)n;
	}
	return strata_redis_command(r, cb, arg, "EXEC");
}

void
strata_fidx_plan_clear(struct strata_fidx_plan *q)
{
	for (size_t i = 0; i < q->nargs; i++)
		free(q->args[i].s);
	free(q->args);
	memset(q, 0, sizeof(*q));
}
