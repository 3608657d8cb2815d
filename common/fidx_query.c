/*
 * fidx_query.c - the fleet indexing query parser (fidx_query.h).
 *
 * A recursive-descent parser over a small lexer:
 *
 *   or      := and ("OR" and)*
 *   and     := unary (["AND"] unary)*      implied AND between clauses
 *   unary   := ("NOT" | "-") unary | primary
 *   primary := "(" or ")" | WORD ":" value | WORD cmp WORD | value
 *   value   := "(" or ")"   (field grouping) | range | PHRASE | WORD
 *   range   := ("[" | "{") bound "TO" bound ("]" | "}")
 *   cmp     := "<" | "<=" | ">" | ">="
 *
 * Every byte of the query is looked at by the lexer only, which never
 * reads past the end; the depth of nesting is bounded so the recursion
 * is.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fidx_query.h"

enum fq_tok {
	FQ_END, FQ_WORD, FQ_PHRASE, FQ_LPAREN, FQ_RPAREN, FQ_COLON,
	FQ_LT, FQ_LE, FQ_GT, FQ_GE, FQ_LBRACKET, FQ_RBRACKET, FQ_LBRACE,
	FQ_RBRACE, FQ_AND, FQ_OR, FQ_NOT, FQ_MINUS,
};

struct fq {
	const char *p, *end, *start;
	char *err;
	size_t errlen;
	bool failed;
	int depth;
	unsigned terms, leading_wild;
	/* the current token */
	enum fq_tok tok;
	char *text;        /* WORD, PHRASE: unescaped, owned */
	char *pattern;     /* WORD: escaped pattern form, owned */
	bool wild;         /* WORD holds an unescaped '*' or '?' */
	bool glued;        /* the token followed the last without a space */
};

static void
fq_fail(struct fq *q, const char *fmt, ...)
{
	va_list ap;

	if (q->failed)
		return;
	q->failed = true;
	va_start(ap, fmt);
	vsnprintf(q->err, q->errlen, fmt, ap);
	va_end(ap);
}

static char *
fq_strdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		abort();
	return d;
}

/* ---- the lexer ---- */

/* Characters AWS's syntax does not support outside quotes. */
static bool
fq_unsupported(char c)
{
	return strchr("`@#%/';,", c) != NULL;
}

/* Ends a word: white space, structure, comparison. */
static bool
fq_word_end(char c)
{
	return isspace((unsigned char)c) || strchr("()\":<>[]{}=", c) != NULL;
}

struct fq_buf {
	char *s;
	size_t n, cap;
};

static void
fq_put(struct fq_buf *b, char c)
{
	if (b->n + 2 > b->cap) {
		b->cap = b->cap ? b->cap * 2 : 32;
		b->s = realloc(b->s, b->cap);
		if (b->s == NULL)
			abort();
	}
	b->s[b->n++] = c;
	b->s[b->n] = '\0';
}

static void
fq_clear_token(struct fq *q)
{
	free(q->text);
	free(q->pattern);
	q->text = q->pattern = NULL;
	q->wild = false;
}

static void
fq_lex_phrase(struct fq *q)
{
	struct fq_buf t = {0};

	q->p++;
	fq_put(&t, '\0');
	t.n = 0;
	for (;;) {
		if (q->p >= q->end) {
			fq_fail(q, "Unterminated quoted phrase");
			break;
		}
		char c = *q->p++;
		if (c == '"')
			break;
		if (c == '\\') {
			if (q->p >= q->end) {
				fq_fail(q, "Query ends with an escape");
				break;
			}
			c = *q->p++;
		}
		fq_put(&t, (char)tolower((unsigned char)c));
	}
	q->tok = FQ_PHRASE;
	q->text = t.s;
}

static void
fq_lex_word(struct fq *q)
{
	struct fq_buf t = {0}, pat = {0};

	fq_put(&t, '\0');
	t.n = 0;
	fq_put(&pat, '\0');
	pat.n = 0;
	while (q->p < q->end && !fq_word_end(*q->p)) {
		char c = *q->p++;

		if (c == '\\') {
			if (q->p >= q->end) {
				fq_fail(q, "Query ends with an escape");
				break;
			}
			c = *q->p++;
			fq_put(&t, c);
			fq_put(&pat, '\\');
			fq_put(&pat, c);
			continue;
		}
		if (fq_unsupported(c)) {
			fq_fail(q, "Unsupported character '%c' at offset %d",
			    c, (int)(q->p - 1 - q->start));
			break;
		}
		if (c == '*' || c == '?')
			q->wild = true;
		fq_put(&t, c);
		fq_put(&pat, c);
	}
	q->tok = FQ_WORD;
	q->text = t.s;
	q->pattern = pat.s;
}

static bool
fq_is(const char *p, const char *end, const char *word)
{
	size_t n = strlen(word);

	return (size_t)(end - p) >= n && memcmp(p, word, n) == 0 &&
	    (p + n == end || fq_word_end(p[n]));
}

/* The next token into q->tok. */
static void
fq_next(struct fq *q)
{
	static const struct {
		const char *s;
		enum fq_tok t;
	} punct[] = {
		{"<=", FQ_LE}, {">=", FQ_GE}, {"<", FQ_LT}, {">", FQ_GT},
		{"(", FQ_LPAREN}, {")", FQ_RPAREN}, {":", FQ_COLON},
		{"[", FQ_LBRACKET}, {"]", FQ_RBRACKET}, {"{", FQ_LBRACE},
		{"}", FQ_RBRACE}, {"&&", FQ_AND}, {"||", FQ_OR},
	};
	const char *before = q->p;

	fq_clear_token(q);
	while (q->p < q->end && isspace((unsigned char)*q->p))
		q->p++;
	q->glued = q->p == before;
	if (q->p >= q->end || q->failed) {
		q->tok = FQ_END;
		return;
	}
	for (size_t i = 0; i < sizeof(punct) / sizeof(punct[0]); i++) {
		size_t n = strlen(punct[i].s);

		if ((size_t)(q->end - q->p) >= n &&
		    memcmp(q->p, punct[i].s, n) == 0) {
			q->p += n;
			q->tok = punct[i].t;
			return;
		}
	}
	if (*q->p == '"') {
		fq_lex_phrase(q);
		return;
	}
	if (*q->p == '=') {
		fq_fail(q, "Unexpected '=' at offset %d",
		    (int)(q->p - q->start));
		q->tok = FQ_END;
		return;
	}
	if (fq_is(q->p, q->end, "AND")) {
		q->p += 3;
		q->tok = FQ_AND;
		return;
	}
	if (fq_is(q->p, q->end, "OR")) {
		q->p += 2;
		q->tok = FQ_OR;
		return;
	}
	if (fq_is(q->p, q->end, "NOT")) {
		q->p += 3;
		q->tok = FQ_NOT;
		return;
	}
	if (*q->p == '-' || *q->p == '!') {
		q->p++;
		q->tok = FQ_MINUS;
		return;
	}
	fq_lex_word(q);
}

/* ---- the tree ---- */

static struct strata_fidx_node *
fq_node(enum strata_fidx_kind kind)
{
	struct strata_fidx_node *n = calloc(1, sizeof(*n));

	if (n == NULL)
		abort();
	n->kind = kind;
	return n;
}

void
strata_fidx_free(struct strata_fidx_node *n)
{
	if (n == NULL)
		return;
	strata_fidx_free(n->left);
	strata_fidx_free(n->right);
	free(n->field);
	free(n->value);
	free(n->lo);
	free(n->hi);
	free(n);
}

static struct strata_fidx_node *
fq_join(enum strata_fidx_kind kind, struct strata_fidx_node *a,
    struct strata_fidx_node *b)
{
	struct strata_fidx_node *n = fq_node(kind);

	n->left = a;
	n->right = b;
	return n;
}

static void
fq_lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

static bool
fq_count_term(struct fq *q)
{
	if (++q->terms > STRATA_FIDX_MAX_TERMS) {
		fq_fail(q, "Too many terms in the query: at most %d",
		    STRATA_FIDX_MAX_TERMS);
		return false;
	}
	return true;
}

/* A leaf for a word or phrase on field (NULL: any field); takes the
 * current token. */
static struct strata_fidx_node *
fq_leaf(struct fq *q, const char *field)
{
	struct strata_fidx_node *n;
	bool phrase = q->tok == FQ_PHRASE;

	if (!fq_count_term(q))
		return NULL;
	if (!phrase && q->wild) {
		if (field == NULL && strcmp(q->pattern, "*") == 0) {
			fq_next(q);
			return fq_node(STRATA_FIDX_ALL);
		}
		if ((q->pattern[0] == '*' || q->pattern[0] == '?') &&
		    strcmp(q->pattern, "*") != 0) {
			q->leading_wild++;
			if (q->leading_wild > 1) {
				fq_fail(q, "At most one term with a leading "
				    "wildcard");
				return NULL;
			}
		}
		n = fq_node(STRATA_FIDX_WILDCARD);
		n->value = q->pattern;
		q->pattern = NULL;
	} else {
		n = fq_node(STRATA_FIDX_TERM);
		n->value = q->text;
		q->text = NULL;
	}
	fq_lower(n->value);
	n->field = field != NULL ? fq_strdup(field) : NULL;
	fq_next(q);
	return n;
}

/* A "-" glued to the word after it is a negative number, not NOT: make
 * the current token that word.  True when the token is now a WORD. */
static bool
fq_glue_minus(struct fq *q)
{
	char *t, *pt;

	if (q->tok != FQ_MINUS)
		return q->tok == FQ_WORD;
	fq_next(q);
	if (q->tok != FQ_WORD || !q->glued)
		return false;
	t = malloc(strlen(q->text) + 2);
	pt = malloc(strlen(q->pattern) + 2);
	if (t == NULL || pt == NULL)
		abort();
	sprintf(t, "-%s", q->text);
	sprintf(pt, "-%s", q->pattern);
	free(q->text);
	free(q->pattern);
	q->text = t;
	q->pattern = pt;
	return true;
}

static bool
fq_bound(struct fq *q, char **out)
{
	if (q->tok != FQ_PHRASE && !fq_glue_minus(q)) {
		fq_fail(q, "A range needs two bounds");
		return false;
	}
	if (q->tok == FQ_WORD && strcmp(q->pattern, "*") == 0)
		*out = NULL;
	else {
		*out = q->text;
		q->text = NULL;
		fq_lower(*out);
	}
	fq_next(q);
	return true;
}

/* [lo TO hi], {lo TO hi} and mixed; the current token is [ or {. */
static struct strata_fidx_node *
fq_range(struct fq *q, const char *field)
{
	struct strata_fidx_node *n = fq_node(STRATA_FIDX_RANGE);

	n->field = fq_strdup(field);
	n->lo_incl = q->tok == FQ_LBRACKET;
	fq_next(q);
	if (!fq_bound(q, &n->lo))
		goto fail;
	if (q->tok != FQ_WORD || strcmp(q->text, "TO") != 0) {
		fq_fail(q, "A range is [lower TO upper]");
		goto fail;
	}
	fq_next(q);
	if (!fq_bound(q, &n->hi))
		goto fail;
	if (q->tok != FQ_RBRACKET && q->tok != FQ_RBRACE) {
		fq_fail(q, "A range ends with ] or }");
		goto fail;
	}
	n->hi_incl = q->tok == FQ_RBRACKET;
	fq_next(q);
	if (!fq_count_term(q))
		goto fail;
	return n;
fail:
	strata_fidx_free(n);
	return NULL;
}

/* field<v, field<=v, field>v, field>=v; the current token is the
 * comparison. */
static struct strata_fidx_node *
fq_compare(struct fq *q, const char *field)
{
	struct strata_fidx_node *n = fq_node(STRATA_FIDX_RANGE);
	enum fq_tok op = q->tok;
	char *v;

	n->field = fq_strdup(field);
	fq_next(q);
	if ((q->tok != FQ_PHRASE && !fq_glue_minus(q)) ||
	    (q->tok == FQ_WORD && q->wild)) {
		fq_fail(q, "A comparison needs a value");
		strata_fidx_free(n);
		return NULL;
	}
	v = q->text;
	q->text = NULL;
	fq_lower(v);
	fq_next(q);
	if (op == FQ_LT || op == FQ_LE) {
		n->hi = v;
		n->hi_incl = op == FQ_LE;
	} else {
		n->lo = v;
		n->lo_incl = op == FQ_GE;
	}
	if (!fq_count_term(q)) {
		strata_fidx_free(n);
		return NULL;
	}
	return n;
}

static struct strata_fidx_node *fq_or(struct fq *q, const char *field);

static struct strata_fidx_node *
fq_group(struct fq *q, const char *field)
{
	struct strata_fidx_node *n;

	if (++q->depth > STRATA_FIDX_MAX_DEPTH) {
		fq_fail(q, "Query nested too deeply");
		return NULL;
	}
	fq_next(q);
	n = fq_or(q, field);
	if (n != NULL && q->tok != FQ_RPAREN) {
		fq_fail(q, "Missing ')'");
		strata_fidx_free(n);
		return NULL;
	}
	q->depth--;
	fq_next(q);
	return n;
}

/* What follows "field:". */
static struct strata_fidx_node *
fq_value(struct fq *q, const char *field)
{
	switch (q->tok) {
	case FQ_LPAREN:
		return fq_group(q, field);
	case FQ_LBRACKET:
	case FQ_LBRACE:
		return fq_range(q, field);
	case FQ_LT:
	case FQ_LE:
	case FQ_GT:
	case FQ_GE:
		return fq_compare(q, field);
	case FQ_WORD:
	case FQ_PHRASE:
		return fq_leaf(q, field);
	case FQ_MINUS: /* a negative number: "-" glued to the word */
		if (fq_glue_minus(q))
			return fq_leaf(q, field);
		/* fall through */
	default:
		fq_fail(q, "Field %s has no value", field);
		return NULL;
	}
}

static struct strata_fidx_node *
fq_primary(struct fq *q, const char *field)
{
	char *name;
	struct strata_fidx_node *n;

	if (q->tok == FQ_LPAREN)
		return fq_group(q, field);
	if (q->tok == FQ_PHRASE)
		return fq_leaf(q, field);
	if (q->tok != FQ_WORD) {
		fq_fail(q, "Unexpected token at offset %d",
		    (int)(q->p - q->start));
		return NULL;
	}
	/* WORD: a field name if ':' or a comparison follows at once */
	const char *after = q->p;
	if (after < q->end && (*after == ':' || *after == '<' ||
	    *after == '>')) {
		if (field != NULL) {
			fq_fail(q, "A field inside a field group");
			return NULL;
		}
		if (q->wild || !strata_fidx_field_valid(q->text)) {
			fq_fail(q, "Unknown field: %s", q->text);
			return NULL;
		}
		name = q->text;
		q->text = NULL;
		fq_next(q);
		if (q->tok == FQ_COLON)
			fq_next(q);
		n = fq_value(q, name);
		free(name);
		return n;
	}
	return fq_leaf(q, field);
}

static struct strata_fidx_node *
fq_unary(struct fq *q, const char *field)
{
	struct strata_fidx_node *n;

	if (q->tok != FQ_NOT && q->tok != FQ_MINUS)
		return fq_primary(q, field);
	if (++q->depth > STRATA_FIDX_MAX_DEPTH) {
		fq_fail(q, "Query nested too deeply");
		return NULL;
	}
	fq_next(q);
	n = fq_unary(q, field);
	q->depth--;
	if (n == NULL)
		return NULL;
	return fq_join(STRATA_FIDX_NOT, n, NULL);
}

static bool
fq_starts_clause(enum fq_tok t)
{
	return t == FQ_WORD || t == FQ_PHRASE || t == FQ_LPAREN ||
	    t == FQ_NOT || t == FQ_MINUS;
}

static struct strata_fidx_node *
fq_and(struct fq *q, const char *field)
{
	struct strata_fidx_node *n = fq_unary(q, field), *r;

	while (n != NULL && (q->tok == FQ_AND || fq_starts_clause(q->tok))) {
		if (q->tok == FQ_AND)
			fq_next(q);
		r = fq_unary(q, field);
		if (r == NULL) {
			strata_fidx_free(n);
			return NULL;
		}
		n = fq_join(STRATA_FIDX_AND, n, r);
	}
	return n;
}

static struct strata_fidx_node *
fq_or(struct fq *q, const char *field)
{
	struct strata_fidx_node *n = fq_and(q, field), *r;

	while (n != NULL && q->tok == FQ_OR) {
		fq_next(q);
		r = fq_and(q, field);
		if (r == NULL) {
			strata_fidx_free(n);
			return NULL;
		}
		n = fq_join(STRATA_FIDX_OR, n, r);
	}
	return n;
}

int
strata_fidx_parse(const char *text, size_t len,
    struct strata_fidx_node **out, char *err, size_t errlen)
{
	struct fq q = {.p = text, .end = text + len, .start = text,
	    .err = err, .errlen = errlen};
	struct strata_fidx_node *n = NULL;

	*out = NULL;
	if (errlen > 0)
		err[0] = '\0';
	if (len == 0 || len > STRATA_FIDX_MAX_QUERY) {
		fq_fail(&q, "queryString must be 1 to %d characters",
		    STRATA_FIDX_MAX_QUERY);
		return -1;
	}
	if (memchr(text, '\0', len) != NULL) {
		fq_fail(&q, "queryString holds a NUL");
		return -1;
	}
	fq_next(&q);
	if (q.tok == FQ_END && !q.failed)
		fq_fail(&q, "Empty query");
	else
		n = fq_or(&q, NULL);
	if (n != NULL && q.tok != FQ_END)
		fq_fail(&q, "Unexpected token at offset %d",
		    (int)(q.p - q.start));
	if (q.leading_wild > 0 && len > STRATA_FIDX_MAX_LEADING_WILD_QUERY)
		fq_fail(&q, "A query with a leading wildcard is at most %d "
		    "characters", STRATA_FIDX_MAX_LEADING_WILD_QUERY);
	fq_clear_token(&q);
	if (q.failed) {
		strata_fidx_free(n);
		return -1;
	}
	*out = n;
	return 0;
}

/* ---- fields ---- */

static bool
fq_path_valid(const char *s)
{
	if (*s == '\0' || *s == '.')
		return false;
	for (; *s != '\0'; s++)
		if (*s == '.' && (s[1] == '.' || s[1] == '\0'))
			return false;
	return true;
}

/* The part of a shadow field after "shadow." or "shadow.name.N.". */
static bool
fq_shadow_rest(const char *r)
{
	static const char *const sections[] = {"reported.", "desired.",
	    "delta.", "metadata.reported.", "metadata.desired."};

	if (strcmp(r, "version") == 0 || strcmp(r, "hasDelta") == 0)
		return true;
	for (size_t i = 0; i < 5; i++) {
		size_t n = strlen(sections[i]);

		if (strncmp(r, sections[i], n) == 0)
			return fq_path_valid(r + n);
	}
	return false;
}

bool
strata_fidx_field_valid(const char *name)
{
	static const char *const plain[] = {"thingName", "thingId",
	    "thingTypeName", "thingGroupNames", "connectivity.connected",
	    "connectivity.timestamp", "connectivity.disconnectReason"};

	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		if (strcmp(name, plain[i]) == 0)
			return true;
	if (strncmp(name, "attributes.", 11) == 0)
		return fq_path_valid(name + 11);
	if (strncmp(name, "shadow.name.", 12) == 0) {
		const char *dot = strchr(name + 12, '.');

		return dot != NULL && dot > name + 12 &&
		    fq_shadow_rest(dot + 1);
	}
	if (strncmp(name, "shadow.", 7) == 0)
		return fq_shadow_rest(name + 7);
	return false;
}

bool
strata_fidx_number(const char *text, double *out)
{
	char *end;
	double d;

	if (*text == '\0' || isspace((unsigned char)*text))
		return false;
	errno = 0;
	d = strtod(text, &end);
	if (*end != '\0' || errno != 0 || !isfinite(d) ||
	    strpbrk(text, "xXnNiI") != NULL)   /* hex, nan, inf */
		return false;
	*out = d;
	return true;
}

/* ---- matching ---- */

bool
strata_fidx_match(const char *pattern, const char *value, size_t len)
{
	const char *p = pattern, *v = value, *end = value + len;
	const char *star_p = NULL, *star_v = NULL;

	for (;;) {
		if (*p == '*') {
			star_p = ++p;
			star_v = v;
			continue;
		}
		if (v == end) {
			while (*p == '*')
				p++;
			return *p == '\0';
		}
		if (*p == '?') {
			p++;
			v++;
			continue;
		}
		if (*p == '\\' && p[1] != '\0') {
			if (p[1] == *v) {
				p += 2;
				v++;
				continue;
			}
		} else if (*p != '\0' && *p == *v) {
			p++;
			v++;
			continue;
		}
		if (star_p == NULL)
			return false;
		p = star_p;
		v = ++star_v;
	}
}

size_t
strata_fidx_prefix(const char *pattern, char *out, size_t cap)
{
	size_t n = 0;

	for (const char *p = pattern; *p != '\0' && *p != '*' && *p != '?';
	     p++) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		if (n + 1 < cap)
			out[n++] = *p;
	}
	if (cap > 0)
		out[n < cap ? n : cap - 1] = '\0';
	return n;
}

/* ---- format ---- */

struct fq_out {
	char *buf;
	size_t cap, n;
};

static void
fq_emit(struct fq_out *o, const char *fmt, ...)
{
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(o->n < o->cap ? o->buf + o->n : NULL,
	    o->n < o->cap ? o->cap - o->n : 0, fmt, ap);
	va_end(ap);
	if (k > 0)
		o->n += (size_t)k;
}

static void
fq_format(const struct strata_fidx_node *n, struct fq_out *o)
{
	const char *f = n->field != NULL ? n->field : "*";

	switch (n->kind) {
	case STRATA_FIDX_ALL:
		fq_emit(o, "ALL");
		break;
	case STRATA_FIDX_TERM:
		fq_emit(o, "%s=\"%s\"", f, n->value);
		break;
	case STRATA_FIDX_WILDCARD:
		fq_emit(o, "%s~\"%s\"", f, n->value);
		break;
	case STRATA_FIDX_RANGE:
		fq_emit(o, "%s%c%s TO %s%c", f, n->lo_incl ? '[' : '{',
		    n->lo != NULL ? n->lo : "-", n->hi != NULL ? n->hi : "-",
		    n->hi_incl ? ']' : '}');
		break;
	case STRATA_FIDX_NOT:
		fq_emit(o, "(NOT ");
		fq_format(n->left, o);
		fq_emit(o, ")");
		break;
	case STRATA_FIDX_AND:
	case STRATA_FIDX_OR:
		fq_emit(o, "(%s ", n->kind == STRATA_FIDX_AND ? "AND" : "OR");
		fq_format(n->left, o);
		fq_emit(o, " ");
		fq_format(n->right, o);
		fq_emit(o, ")");
		break;
	}
}

size_t
strata_fidx_format(const struct strata_fidx_node *n, char *buf, size_t cap)
{
	struct fq_out o = {buf, cap, 0};

	if (cap > 0)
		buf[0] = '\0';
	fq_format(n, &o);
	return o.n;
}
