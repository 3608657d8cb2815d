/*
 * sql.c - the rules SQL's lexer and parser: statement text -> the tree of
 * sql-t.h, with the line and column of the first thing that is wrong.
 *
 * Grammar (keywords case-insensitive; docs/internals/rules-sql.md):
 *
 *   statement := SELECT item {',' item} FROM string [WHERE expr]
 *   item      := '*' | expr ['.' '*'] | expr [AS] ident
 *   expr      := or
 *   or        := and {OR and}
 *   and       := not {AND not}
 *   not       := NOT not | cmp
 *   cmp       := add {('='|'<>'|'!='|'<'|'<='|'>'|'>='|IN|CONTAINS) add}
 *   add       := mul {('+'|'-') mul}
 *   mul       := unary {('*'|'/'|'%') unary}
 *   unary     := '-' unary | postfix
 *   postfix   := primary {'.' ident | '[' expr ']'}
 *   primary   := number | string | TRUE | FALSE | NULL | ident
 *              | ident '(' [expr {',' expr}] ')' | '*'
 *              | CAST '(' expr AS type ')' | case | '(' expr ')'
 *              | '{' [key ':' expr {',' key ':' expr}] '}'
 *              | '[' [expr {',' expr}] ']'
 *
 * The parser is recursive descent; every way down (parentheses,
 * arguments, NOT, unary minus) counts against STRATA_SQL_MAX_DEPTH, and
 * so does the depth of the tree built by the left-associative loops, so
 * neither parsing nor evaluating can run deep on the C stack.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sql-t.h"
#include "topic.h"

enum sql_tok {
	TOK_EOF,
	TOK_IDENT,
	TOK_STRING,
	TOK_INT,
	TOK_DECIMAL,
	TOK_PUNCT, /* punct: one of ( ) , . [ ] { } : * + - / % = < > */
	TOK_NE,    /* <> or != */
	TOK_LE,
	TOK_GE,
	/* keywords */
	TOK_SELECT,
	TOK_FROM,
	TOK_WHERE,
	TOK_AS,
	TOK_AND,
	TOK_OR,
	TOK_NOT,
	TOK_IN,
	TOK_CONTAINS,
	TOK_CASE,
	TOK_WHEN,
	TOK_THEN,
	TOK_ELSE,
	TOK_END,
	TOK_TRUE,
	TOK_FALSE,
	TOK_NULL,
	TOK_CAST,
};

static const struct {
	const char *word;
	enum sql_tok tok;
} sql_keywords[] = {
	{"SELECT", TOK_SELECT}, {"FROM", TOK_FROM}, {"WHERE", TOK_WHERE},
	{"AS", TOK_AS}, {"AND", TOK_AND}, {"OR", TOK_OR}, {"NOT", TOK_NOT},
	{"IN", TOK_IN}, {"CONTAINS", TOK_CONTAINS}, {"CASE", TOK_CASE},
	{"WHEN", TOK_WHEN}, {"THEN", TOK_THEN}, {"ELSE", TOK_ELSE},
	{"END", TOK_END}, {"TRUE", TOK_TRUE}, {"FALSE", TOK_FALSE},
	{"NULL", TOK_NULL}, {"CAST", TOK_CAST},
};

struct sql_token {
	enum sql_tok kind;
	char punct;
	int line, column;
	const char *start; /* in the text */
	size_t len;
	char *text;        /* IDENT, STRING: decoded (owned by the parser) */
	size_t text_len;
	int64_t i;
	double d;
};

struct sql_parser {
	const char *s;
	size_t len, pos;
	int line, column;     /* of s[pos] */
	struct sql_token tok; /* the current token */
	struct strata_sql_error *err;
	bool failed;
	unsigned depth;       /* recursion of the descent */
	unsigned merges;      /* '.*' seen in the current item */
	struct sql_node *nodes; /* allocation chain */
};

/* ---- errors and allocation ------------------------------------------ */

static void *
sql_alloc(size_t n)
{
	void *p = calloc(1, n);

	if (p == NULL)
		abort();
	return p;
}

static char *
sql_strndup(const char *s, size_t len)
{
	char *d = malloc(len + 1);

	if (d == NULL)
		abort();
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

/* Record the first error at line:column; returns NULL for callers. */
static void *
sql_fail_at(struct sql_parser *p, int line, int column, const char *fmt,
    ...)
{
	va_list ap;

	if (p->failed)
		return NULL;
	p->failed = true;
	if (p->err == NULL)
		return NULL;
	p->err->line = line;
	p->err->column = column;
	va_start(ap, fmt);
	vsnprintf(p->err->message, sizeof(p->err->message), fmt, ap);
	va_end(ap);
	return NULL;
}

#define sql_fail(p, ...)                                                      \
	sql_fail_at((p), (p)->tok.line, (p)->tok.column, __VA_ARGS__)

static struct sql_node *
sql_node_new(struct sql_parser *p, enum sql_kind kind, int line, int column)
{
	struct sql_node *n = sql_alloc(sizeof(*n));

	n->kind = kind;
	n->line = line;
	n->column = column;
	n->depth = 1;
	n->chain = p->nodes;
	p->nodes = n;
	return n;
}

/* Append child to n's arguments; refuses a tree over the depth limit. */
static bool
sql_node_add(struct sql_parser *p, struct sql_node *n, struct sql_node *c)
{
	if (n->n_args == n->cap_args) {
		n->cap_args = n->cap_args ? 2 * n->cap_args : 2;
		n->args = realloc(n->args, n->cap_args * sizeof(*n->args));
		if (n->args == NULL)
			abort();
	}
	n->args[n->n_args++] = c;
	if (c->depth + 1 > n->depth)
		n->depth = c->depth + 1;
	if (n->depth > STRATA_SQL_MAX_DEPTH) {
		sql_fail_at(p, n->line, n->column,
		    "expression nested deeper than %d levels",
		    STRATA_SQL_MAX_DEPTH);
		return false;
	}
	return true;
}

void
sql_nodes_free(struct sql_node *chain)
{
	struct sql_node *next;

	for (; chain != NULL; chain = next) {
		next = chain->chain;
		if (chain->kind == SQL_N_CALL)
			sql_func_release(chain);
		json_decref(chain->literal);
		free(chain->name);
		for (size_t i = 0; chain->keys != NULL && i < chain->n_args;
		     i++)
			free(chain->keys[i]);
		free(chain->keys);
		free(chain->args);
		free(chain);
	}
}

/* ---- lexer ----------------------------------------------------------- */

static void
sql_advance(struct sql_parser *p, size_t n)
{
	for (; n > 0 && p->pos < p->len; n--, p->pos++) {
		if (p->s[p->pos] == '\n') {
			p->line++;
			p->column = 1;
		} else if (((unsigned char)p->s[p->pos] & 0xC0) != 0x80) {
			p->column++;
		}
	}
}

static int
sql_peekc(const struct sql_parser *p, size_t ahead)
{
	return p->pos + ahead < p->len ? (unsigned char)p->s[p->pos + ahead]
	                               : -1;
}

static void
sql_skip_space(struct sql_parser *p)
{
	int c;

	while ((c = sql_peekc(p, 0)) != -1 && isspace(c))
		sql_advance(p, 1);
}

/* A quoted string or identifier starting at the quote q: '' (or "")
 * stands for the quote, and a backslash before the quote or before a
 * backslash escapes it (any other backslash is kept as is). */
static bool
sql_lex_quoted(struct sql_parser *p, char q)
{
	size_t cap = 16, n = 0;
	char *out = malloc(cap);
	int c;

	if (out == NULL)
		abort();
	sql_advance(p, 1);
	for (;;) {
		c = sql_peekc(p, 0);
		if (c == -1) {
			free(out);
			sql_fail(p, "unterminated %s",
			    q == '\'' ? "string literal" : "quoted name");
			return false;
		}
		if (c == q && sql_peekc(p, 1) != q) {
			sql_advance(p, 1);
			break;
		}
		if ((c == q) || (c == '\\' && (sql_peekc(p, 1) == q ||
		                                  sql_peekc(p, 1) == '\\'))) {
			sql_advance(p, 1);
			c = sql_peekc(p, 0);
		}
		if (n + 1 >= cap) {
			cap *= 2;
			out = realloc(out, cap);
			if (out == NULL)
				abort();
		}
		out[n++] = (char)c;
		sql_advance(p, 1);
	}
	out[n] = '\0';
	p->tok.text = out;
	p->tok.text_len = n;
	return true;
}

static void
sql_lex_number(struct sql_parser *p)
{
	size_t start = p->pos, n = 0;
	bool decimal = false;
	char *text;

	while (isdigit(sql_peekc(p, n)))
		n++;
	if (sql_peekc(p, n) == '.' && isdigit(sql_peekc(p, n + 1))) {
		decimal = true;
		for (n++; isdigit(sql_peekc(p, n)); n++)
			;
	}
	if ((sql_peekc(p, n) | 0x20) == 'e' &&
	    (isdigit(sql_peekc(p, n + 1)) ||
	        ((sql_peekc(p, n + 1) == '+' || sql_peekc(p, n + 1) == '-') &&
	            isdigit(sql_peekc(p, n + 2))))) {
		decimal = true;
		for (n += 2; isdigit(sql_peekc(p, n)); n++)
			;
	}
	text = sql_strndup(p->s + start, n);
	errno = 0;
	p->tok.kind = TOK_INT;
	if (!decimal)
		p->tok.i = strtoll(text, NULL, 10);
	if (decimal || errno == ERANGE) {
		p->tok.kind = TOK_DECIMAL;
		p->tok.d = strtod(text, NULL);
	}
	free(text);
	sql_advance(p, n);
}

static void
sql_lex_word(struct sql_parser *p)
{
	size_t n = 0;
	int c;

	while ((c = sql_peekc(p, n)) != -1 && (isalnum(c) || c == '_'))
		n++;
	p->tok.kind = TOK_IDENT;
	for (size_t k = 0; k < sizeof(sql_keywords) / sizeof(*sql_keywords);
	     k++) {
		if (strlen(sql_keywords[k].word) == n &&
		    strncasecmp(sql_keywords[k].word, p->s + p->pos, n) == 0)
			p->tok.kind = sql_keywords[k].tok;
	}
	p->tok.text = sql_strndup(p->s + p->pos, n);
	p->tok.text_len = n;
	sql_advance(p, n);
}

static bool
sql_lex_operator(struct sql_parser *p, int c)
{
	int c1 = sql_peekc(p, 1);

	if ((c == '<' && c1 == '>') || (c == '!' && c1 == '=')) {
		p->tok.kind = TOK_NE;
	} else if ((c == '<' || c == '>') && c1 == '=') {
		p->tok.kind = c == '<' ? TOK_LE : TOK_GE;
	} else if (c != '!' && strchr("(),.[]{}:*+-/%=<>", c) != NULL) {
		p->tok.kind = TOK_PUNCT;
		p->tok.punct = (char)c;
		sql_advance(p, 1);
		return true;
	} else {
		sql_fail(p, "unexpected character '%c'", c);
		return false;
	}
	sql_advance(p, 2);
	return true;
}

/* Read the next token into p->tok; false on a lexical error. */
static bool
sql_next(struct sql_parser *p)
{
	int c;

	free(p->tok.text);
	memset(&p->tok, 0, sizeof(p->tok));
	sql_skip_space(p);
	p->tok.line = p->line;
	p->tok.column = p->column;
	p->tok.start = p->s + p->pos;
	c = sql_peekc(p, 0);
	if (p->failed)
		return false;
	if (c == -1)
		p->tok.kind = TOK_EOF;
	else if (c == '\'' || c == '"')
		p->tok.kind = c == '\'' ? TOK_STRING : TOK_IDENT;
	if (c == '\'' || c == '"') {
		if (!sql_lex_quoted(p, (char)c))
			return false;
	} else if (isdigit(c)) {
		sql_lex_number(p);
	} else if (isalpha(c) || c == '_') {
		sql_lex_word(p);
	} else if (c != -1 && !sql_lex_operator(p, c)) {
		return false;
	}
	p->tok.len = (size_t)(p->s + p->pos - p->tok.start);
	return true;
}

static bool
sql_is(const struct sql_parser *p, char punct)
{
	return p->tok.kind == TOK_PUNCT && p->tok.punct == punct;
}

/* Consume the punctuation c or fail with "expected <what>". */
static bool
sql_expect(struct sql_parser *p, char c, const char *what)
{
	if (!sql_is(p, c)) {
		sql_fail(p, "expected %s", what);
		return false;
	}
	return sql_next(p);
}

/* ---- expressions ----------------------------------------------------- */

static struct sql_node *sql_parse_expr(struct sql_parser *p);

/* n op rhs as a new BINARY/UNARY node at n's position. */
static struct sql_node *
sql_binary(struct sql_parser *p, enum sql_op op, struct sql_node *l,
    struct sql_node *r)
{
	struct sql_node *n = sql_node_new(p, SQL_N_BINARY, l->line, l->column);

	n->op = op;
	if (!sql_node_add(p, n, l) || !sql_node_add(p, n, r))
		return NULL;
	return n;
}

static struct sql_node *
sql_literal(struct sql_parser *p, json_t *v)
{
	struct sql_node *n =
	    sql_node_new(p, SQL_N_LITERAL, p->tok.line, p->tok.column);

	if (v == NULL)
		return sql_fail(p, "string literal is not valid UTF-8");
	n->literal = v;
	return sql_next(p) ? n : NULL;
}

/* Comma-separated expressions up to the punctuation close, appended to
 * n (the opening token is consumed already). */
static bool
sql_parse_list(struct sql_parser *p, struct sql_node *n, char close)
{
	struct sql_node *e;

	if (sql_is(p, close))
		return sql_next(p);
	for (;;) {
		if ((e = sql_parse_expr(p)) == NULL || !sql_node_add(p, n, e))
			return false;
		if (sql_is(p, close))
			return sql_next(p);
		if (!sql_is(p, ','))
			return sql_fail(p, "expected ',' or '%c'", close);
		if (!sql_next(p))
			return false;
	}
}

static struct sql_node *
sql_parse_call(struct sql_parser *p)
{
	struct sql_node *n =
	    sql_node_new(p, SQL_N_CALL, p->tok.line, p->tok.column);
	const struct sql_func *f = sql_func_find(p->tok.text, p->tok.text_len);

	if (f == NULL)
		return sql_fail(p, "unknown function '%s'", p->tok.text);
	n->func = f;
	if (!sql_next(p) || !sql_next(p) || !sql_parse_list(p, n, ')'))
		return NULL;
	if (n->n_args < f->min_args || n->n_args > f->max_args) {
		if (f->min_args == f->max_args)
			return sql_fail_at(p, n->line, n->column,
			    "'%s' takes %u argument%s", f->name, f->min_args,
			    f->min_args == 1 ? "" : "s");
		if (f->max_args == f->min_args + 1)
			return sql_fail_at(p, n->line, n->column,
			    "'%s' takes %u or %u arguments", f->name,
			    f->min_args, f->max_args);
		return sql_fail_at(p, n->line, n->column,
		    "'%s' takes at least %u argument%s", f->name, f->min_args,
		    f->min_args == 1 ? "" : "s");
	}
	if (f->prepare != NULL && f->prepare(n, p->err) != 0) {
		p->failed = true;
		return NULL;
	}
	return n;
}

static struct sql_node *
sql_parse_cast(struct sql_parser *p)
{
	static const struct {
		const char *name;
		enum sql_type type;
	} types[] = {{"Int", SQL_TYPE_INT}, {"Decimal", SQL_TYPE_DECIMAL},
	    {"Boolean", SQL_TYPE_BOOLEAN}, {"String", SQL_TYPE_STRING}};
	struct sql_node *n =
	    sql_node_new(p, SQL_N_CAST, p->tok.line, p->tok.column);
	struct sql_node *e;
	size_t i;

	if (!sql_next(p) || !sql_expect(p, '(', "'(' after CAST") ||
	    (e = sql_parse_expr(p)) == NULL || !sql_node_add(p, n, e))
		return NULL;
	if (p->tok.kind != TOK_AS)
		return sql_fail(p, "expected AS in CAST");
	if (!sql_next(p))
		return NULL;
	for (i = 0; i < sizeof(types) / sizeof(*types); i++)
		if (p->tok.kind == TOK_IDENT &&
		    strcasecmp(p->tok.text, types[i].name) == 0)
			break;
	if (i == sizeof(types) / sizeof(*types))
		return sql_fail(p, "expected Int, Decimal, Boolean or String "
		                   "in CAST");
	n->cast = types[i].type;
	if (!sql_next(p) || !sql_expect(p, ')', "')' after CAST's type"))
		return NULL;
	return n;
}

/* WHEN x THEN y pairs, ELSE, END (CASE and its subject consumed). */
static struct sql_node *
sql_parse_case_arms(struct sql_parser *p, struct sql_node *n)
{
	struct sql_node *e;

	while (p->tok.kind == TOK_WHEN) {
		if (!sql_next(p) || (e = sql_parse_expr(p)) == NULL ||
		    !sql_node_add(p, n, e))
			return NULL;
		if (p->tok.kind != TOK_THEN)
			return sql_fail(p, "expected THEN in CASE");
		if (!sql_next(p) || (e = sql_parse_expr(p)) == NULL ||
		    !sql_node_add(p, n, e))
			return NULL;
	}
	if (n->n_args == (n->has_subject ? 1u : 0u))
		return sql_fail(p, "expected WHEN in CASE");
	if (p->tok.kind == TOK_ELSE) {
		n->has_else = true;
		if (!sql_next(p) || (e = sql_parse_expr(p)) == NULL ||
		    !sql_node_add(p, n, e))
			return NULL;
	}
	if (p->tok.kind != TOK_END)
		return sql_fail(p, "expected END to close CASE");
	return sql_next(p) ? n : NULL;
}

static struct sql_node *
sql_parse_case(struct sql_parser *p)
{
	struct sql_node *n =
	    sql_node_new(p, SQL_N_CASE, p->tok.line, p->tok.column);
	struct sql_node *e;

	if (!sql_next(p))
		return NULL;
	if (p->tok.kind != TOK_WHEN) {
		n->has_subject = true;
		if ((e = sql_parse_expr(p)) == NULL || !sql_node_add(p, n, e))
			return NULL;
	}
	return sql_parse_case_arms(p, n);
}

/* One key of an object literal: a string, a quoted or bare name. */
static char *
sql_parse_key(struct sql_parser *p)
{
	char *key;

	if (p->tok.kind != TOK_STRING && p->tok.kind != TOK_IDENT)
		return sql_fail(p, "expected a key in the object literal");
	key = p->tok.text;
	p->tok.text = NULL;
	if (!sql_next(p) || !sql_expect(p, ':', "':' after the key")) {
		free(key);
		return NULL;
	}
	return key;
}

static struct sql_node *
sql_parse_object(struct sql_parser *p)
{
	struct sql_node *n =
	    sql_node_new(p, SQL_N_OBJECT, p->tok.line, p->tok.column);
	struct sql_node *e;
	char *key;

	if (!sql_next(p))
		return NULL;
	while (!sql_is(p, '}')) {
		if (n->n_args > 0 && !sql_expect(p, ',', "',' or '}'"))
			return NULL;
		if ((key = sql_parse_key(p)) == NULL)
			return NULL;
		n->keys = realloc(n->keys, (n->n_args + 1) * sizeof(char *));
		if (n->keys == NULL)
			abort();
		n->keys[n->n_args] = key;
		if ((e = sql_parse_expr(p)) == NULL || !sql_node_add(p, n, e)) {
			if (n->n_args == 0 || n->args[n->n_args - 1] != e)
				free(key);
			return NULL;
		}
	}
	return sql_next(p) ? n : NULL;
}

static struct sql_node *
sql_parse_container(struct sql_parser *p, enum sql_kind kind)
{
	struct sql_node *n;

	if (kind == SQL_N_OBJECT)
		return sql_parse_object(p);
	n = sql_node_new(p, SQL_N_ARRAY, p->tok.line, p->tok.column);
	if (!sql_next(p) || !sql_parse_list(p, n, ']'))
		return NULL;
	return n;
}

/* An identifier: a function call when '(' follows, else an attribute. */
static struct sql_node *
sql_parse_name(struct sql_parser *p)
{
	struct sql_node *n;
	size_t at = p->pos;

	while (at < p->len && isspace((unsigned char)p->s[at]))
		at++;
	if (at < p->len && p->s[at] == '(' && *p->tok.start != '"')
		return sql_parse_call(p);
	n = sql_node_new(p, SQL_N_ATTR, p->tok.line, p->tok.column);
	n->name = p->tok.text;
	p->tok.text = NULL;
	return sql_next(p) ? n : NULL;
}

static struct sql_node *
sql_parse_paren(struct sql_parser *p)
{
	struct sql_node *n;

	if (!sql_next(p) || (n = sql_parse_expr(p)) == NULL ||
	    !sql_expect(p, ')', "')'"))
		return NULL;
	return n;
}

static struct sql_node *
sql_parse_primary(struct sql_parser *p)
{
	struct sql_node *n;

	switch (p->tok.kind) {
	case TOK_INT:
		return sql_literal(p, json_integer(p->tok.i));
	case TOK_DECIMAL:
		return sql_literal(p, json_real(p->tok.d));
	case TOK_STRING:
		return sql_literal(p, json_stringn(p->tok.text,
		                          p->tok.text_len));
	case TOK_TRUE:
	case TOK_FALSE:
		return sql_literal(p, json_boolean(p->tok.kind == TOK_TRUE));
	case TOK_NULL:
		return sql_literal(p, json_null());
	case TOK_IDENT:
		return sql_parse_name(p);
	case TOK_CAST:
		return sql_parse_cast(p);
	case TOK_CASE:
		return sql_parse_case(p);
	default:
		break;
	}
	if (sql_is(p, '(')) {
		return sql_parse_paren(p);
	} else if (sql_is(p, '{') || sql_is(p, '[')) {
		return sql_parse_container(p,
		    sql_is(p, '{') ? SQL_N_OBJECT : SQL_N_ARRAY);
	} else if (sql_is(p, '*')) {
		n = sql_node_new(p, SQL_N_PAYLOAD, p->tok.line, p->tok.column);
		return sql_next(p) ? n : NULL;
	}
	if (p->tok.kind == TOK_EOF)
		return sql_fail(p, "expected an expression, found the end");
	return sql_fail(p, "expected an expression, found '%.*s'",
	    (int)(p->tok.len > 32 ? 32 : p->tok.len), p->tok.start);
}

/* '.' name, '.' '*' or '[' index ']' after base ('.'/'[' current). */
static struct sql_node *
sql_parse_access(struct sql_parser *p, struct sql_node *base)
{
	struct sql_node *n, *e;
	bool dot = sql_is(p, '.');

	if (!sql_next(p))
		return NULL;
	if (dot && sql_is(p, '*')) {
		n = sql_node_new(p, SQL_N_MERGE, p->tok.line, p->tok.column);
		p->merges++;
	} else if (dot && p->tok.kind != TOK_IDENT) {
		return sql_fail(p, "expected a name after '.'");
	} else if (dot) {
		n = sql_node_new(p, SQL_N_MEMBER, base->line, base->column);
		n->name = p->tok.text;
		p->tok.text = NULL;
	} else {
		n = sql_node_new(p, SQL_N_INDEX, base->line, base->column);
		if ((e = sql_parse_expr(p)) == NULL || !sql_node_add(p, n, base) ||
		    !sql_node_add(p, n, e))
			return NULL;
		return sql_expect(p, ']', "']'") ? n : NULL;
	}
	if (!sql_node_add(p, n, base))
		return NULL;
	return sql_next(p) ? n : NULL;
}

static struct sql_node *
sql_parse_postfix(struct sql_parser *p)
{
	struct sql_node *n = sql_parse_primary(p);

	while (n != NULL && (sql_is(p, '.') || sql_is(p, '[')))
		n = sql_parse_access(p, n);
	return n;
}

/* Prefix operators (NOT, unary minus): one level of recursion each. */
static struct sql_node *
sql_parse_prefix(struct sql_parser *p, enum sql_op op,
    struct sql_node *(*operand)(struct sql_parser *))
{
	struct sql_node *n =
	    sql_node_new(p, SQL_N_UNARY, p->tok.line, p->tok.column);
	struct sql_node *e;

	n->op = op;
	if (++p->depth > STRATA_SQL_MAX_DEPTH)
		return sql_fail(p, "expression nested deeper than %d levels",
		    STRATA_SQL_MAX_DEPTH);
	if (!sql_next(p) || (e = operand(p)) == NULL || !sql_node_add(p, n, e))
		return NULL;
	p->depth--;
	return n;
}

static struct sql_node *
sql_parse_unary(struct sql_parser *p)
{
	if (sql_is(p, '-'))
		return sql_parse_prefix(p, SQL_OP_NEG, sql_parse_unary);
	return sql_parse_postfix(p);
}

/* The binary operator at the current token for a precedence level. */
static enum sql_op
sql_binary_op(const struct sql_parser *p, int level)
{
	static const struct {
		int level;
		enum sql_tok tok;
		char punct;
		enum sql_op op;
	} ops[] = {
	    {0, TOK_OR, 0, SQL_OP_OR}, {1, TOK_AND, 0, SQL_OP_AND},
	    {2, TOK_PUNCT, '=', SQL_OP_EQ}, {2, TOK_NE, 0, SQL_OP_NE},
	    {2, TOK_PUNCT, '<', SQL_OP_LT}, {2, TOK_LE, 0, SQL_OP_LE},
	    {2, TOK_PUNCT, '>', SQL_OP_GT}, {2, TOK_GE, 0, SQL_OP_GE},
	    {2, TOK_IN, 0, SQL_OP_IN}, {2, TOK_CONTAINS, 0, SQL_OP_CONTAINS},
	    {3, TOK_PUNCT, '+', SQL_OP_ADD}, {3, TOK_PUNCT, '-', SQL_OP_SUB},
	    {4, TOK_PUNCT, '*', SQL_OP_MUL}, {4, TOK_PUNCT, '/', SQL_OP_DIV},
	    {4, TOK_PUNCT, '%', SQL_OP_MOD},
	};

	for (size_t i = 0; i < sizeof(ops) / sizeof(*ops); i++)
		if (ops[i].level == level && ops[i].tok == p->tok.kind &&
		    (ops[i].tok != TOK_PUNCT || ops[i].punct == p->tok.punct))
			return ops[i].op;
	return SQL_OP_NONE;
}

static struct sql_node *sql_parse_level(struct sql_parser *p, int level);

static struct sql_node *
sql_parse_not(struct sql_parser *p)
{
	if (p->tok.kind == TOK_NOT)
		return sql_parse_prefix(p, SQL_OP_NOT, sql_parse_not);
	return sql_parse_level(p, 2);
}

/* Left-associative binary levels: 0 OR, 1 AND, (NOT), 2 comparison,
 * 3 additive, 4 multiplicative, then unary. */
static struct sql_node *
sql_parse_level(struct sql_parser *p, int level)
{
	struct sql_node *l, *r;
	enum sql_op op;

	if (level == 5)
		return sql_parse_unary(p);
	l = level == 1 ? sql_parse_not(p) : sql_parse_level(p, level + 1);
	while (l != NULL && (op = sql_binary_op(p, level)) != SQL_OP_NONE) {
		if (!sql_next(p))
			return NULL;
		r = level == 1 ? sql_parse_not(p)
		               : sql_parse_level(p, level + 1);
		if (r == NULL)
			return NULL;
		l = sql_binary(p, op, l, r);
	}
	return l;
}

static struct sql_node *
sql_parse_expr(struct sql_parser *p)
{
	struct sql_node *n;

	if (++p->depth > STRATA_SQL_MAX_DEPTH)
		return sql_fail(p, "expression nested deeper than %d levels",
		    STRATA_SQL_MAX_DEPTH);
	n = sql_parse_level(p, 0);
	p->depth--;
	return n;
}

/* ---- statement ------------------------------------------------------- */

/* The output name of an unaliased item: an attribute's last name, a
 * function's name, else "_<position>" (1-based). */
static char *
sql_item_name(const struct sql_node *e, size_t position)
{
	char buf[32];

	if (e->kind == SQL_N_ATTR || e->kind == SQL_N_MEMBER)
		return sql_strndup(e->name, strlen(e->name));
	if (e->kind == SQL_N_CALL)
		return sql_strndup(e->func->name, strlen(e->func->name));
	if (e->kind == SQL_N_CAST)
		return sql_strndup("cast", 4);
	snprintf(buf, sizeof(buf), "_%zu", position);
	return sql_strndup(buf, strlen(buf));
}

/* The alias after an item: AS name, or a bare name. */
static bool
sql_parse_alias(struct sql_parser *p, struct sql_item *it)
{
	bool as = p->tok.kind == TOK_AS;

	if (as && !sql_next(p))
		return false;
	if (p->tok.kind != TOK_IDENT) {
		if (as)
			sql_fail(p, "expected a name after AS");
		return !as;
	}
	if (it->merge) {
		sql_fail(p, "a '*' item takes no alias");
		return false;
	}
	free(it->name);
	it->name = p->tok.text;
	p->tok.text = NULL;
	return sql_next(p);
}

static bool
sql_parse_item(struct sql_parser *p, struct sql_item *it, size_t position)
{
	int line = p->tok.line, column = p->tok.column;

	if (sql_is(p, '*')) {
		it->merge = true;
		return sql_next(p);
	}
	p->merges = 0;
	if ((it->expr = sql_parse_expr(p)) == NULL)
		return false;
	if (p->merges > 1 || (p->merges == 1 && it->expr->kind != SQL_N_MERGE))
		return sql_fail_at(p, line, column,
		    "'.*' is only allowed as a whole SELECT item");
	if (it->expr->kind == SQL_N_MERGE) {
		it->merge = true;
		it->expr = it->expr->args[0];
	} else {
		it->name = sql_item_name(it->expr, position);
	}
	return sql_parse_alias(p, it);
}

static bool
sql_parse_select(struct sql_parser *p, struct strata_sql *sql)
{
	if (p->tok.kind != TOK_SELECT)
		return sql_fail(p, "expected SELECT");
	if (!sql_next(p))
		return false;
	for (;;) {
		sql->items = realloc(sql->items,
		    (sql->n_items + 1) * sizeof(*sql->items));
		if (sql->items == NULL)
			abort();
		memset(&sql->items[sql->n_items], 0, sizeof(*sql->items));
		sql->n_items++;
		if (!sql_parse_item(p, &sql->items[sql->n_items - 1],
		        sql->n_items))
			return false;
		if (!sql_is(p, ','))
			break;
		if (!sql_next(p))
			return false;
	}
	if (p->tok.kind != TOK_FROM)
		return sql_fail(p, "expected FROM after the SELECT list");
	return sql_next(p);
}

static bool
sql_parse_from(struct sql_parser *p, struct strata_sql *sql)
{
	if (p->tok.kind != TOK_STRING)
		return sql_fail(p, "expected a topic filter in single quotes "
		                   "after FROM");
	if (strlen(p->tok.text) != p->tok.text_len ||
	    strata_topic_filter_check((const uint8_t *)p->tok.text,
	        p->tok.text_len) != 0)
		return sql_fail(p, "'%s' is not a valid MQTT topic filter",
		    p->tok.text);
	sql->from = p->tok.text;
	p->tok.text = NULL;
	if (!sql_next(p))
		return false;
	if (p->tok.kind == TOK_WHERE) {
		if (!sql_next(p) || (sql->where = sql_parse_expr(p)) == NULL)
			return false;
	}
	if (p->tok.kind != TOK_EOF)
		return sql_fail(p, "expected the end of the statement, found "
		                   "'%.*s'",
		    (int)(p->tok.len > 32 ? 32 : p->tok.len), p->tok.start);
	return true;
}

static void
sql_parser_init(struct sql_parser *p, const char *text, size_t len,
    struct strata_sql_error *err)
{
	memset(p, 0, sizeof(*p));
	p->s = text;
	p->len = len;
	p->line = 1;
	p->column = 1;
	p->err = err;
	if (err != NULL)
		memset(err, 0, sizeof(*err));
}

static bool
sql_text_ok(struct sql_parser *p, size_t len)
{
	if (len > STRATA_SQL_MAX_TEXT) {
		sql_fail_at(p, 0, 0, "the text is over %d bytes",
		    STRATA_SQL_MAX_TEXT);
		return false;
	}
	if (memchr(p->s, '\0', len) != NULL) {
		sql_fail_at(p, 0, 0, "the text holds a NUL byte");
		return false;
	}
	return true;
}

struct strata_sql *
strata_sql_parse(const char *text, size_t len, struct strata_sql_error *err)
{
	struct strata_sql *sql = sql_alloc(sizeof(*sql));
	struct sql_parser p;

	sql_parser_init(&p, text, len, err);
	if (sql_text_ok(&p, len) && sql_next(&p) && sql_parse_select(&p, sql))
		sql_parse_from(&p, sql);
	free(p.tok.text);
	sql->nodes = p.nodes;
	if (p.failed) {
		strata_sql_free(sql);
		return NULL;
	}
	return sql;
}

void
strata_sql_free(struct strata_sql *sql)
{
	if (sql == NULL)
		return;
	for (size_t i = 0; i < sql->n_items; i++)
		free(sql->items[i].name);
	free(sql->items);
	free(sql->from);
	sql_nodes_free(sql->nodes);
	free(sql);
}

const char *
strata_sql_from(const struct strata_sql *sql)
{
	return sql->from;
}

/* ---- templates ------------------------------------------------------- */

static void
sql_template_add(struct strata_sql_template *t, const char *text,
    size_t len, struct sql_node *expr)
{
	struct sql_part *part;

	if (len == 0 && expr == NULL)
		return;
	t->parts = realloc(t->parts, (t->n_parts + 1) * sizeof(*t->parts));
	if (t->parts == NULL)
		abort();
	part = &t->parts[t->n_parts++];
	part->text = expr == NULL ? sql_strndup(text, len) : NULL;
	part->len = len;
	part->expr = expr;
	if (expr != NULL)
		t->literal = false;
}

/* The expression of a "${" at p->pos - 2, up to its '}'. */
static struct sql_node *
sql_template_expr(struct sql_parser *p)
{
	int line = p->line, column = p->column - 2;
	struct sql_node *e;

	if (!sql_next(p))
		return NULL;
	if (p->tok.kind == TOK_EOF)
		return sql_fail_at(p, line, column, "'${' is not closed");
	if ((e = sql_parse_expr(p)) == NULL)
		return NULL;
	if (!sql_is(p, '}')) {
		if (p->tok.kind == TOK_EOF)
			return sql_fail_at(p, line, column,
			    "'${' is not closed");
		return sql_fail(p, "expected '}' after the expression");
	}
	return e;
}

struct strata_sql_template *
strata_sql_template_parse(const char *text, size_t len,
    struct strata_sql_error *err)
{
	struct strata_sql_template *t = sql_alloc(sizeof(*t));
	struct sql_parser p;
	struct sql_node *e;
	size_t lit = 0;

	t->literal = true;
	sql_parser_init(&p, text, len, err);
	if (!sql_text_ok(&p, len))
		goto out;
	while (p.pos < len) {
		if (text[p.pos] != '$' || sql_peekc(&p, 1) != '{') {
			sql_advance(&p, 1);
			continue;
		}
		sql_template_add(t, text + lit, p.pos - lit, NULL);
		sql_advance(&p, 2);
		if ((e = sql_template_expr(&p)) == NULL)
			break;
		sql_template_add(t, NULL, 0, e);
		free(p.tok.text);
		p.tok.text = NULL;
		lit = p.pos; /* just past the '}' */
	}
	if (!p.failed)
		sql_template_add(t, text + lit, len - lit, NULL);
out:
	free(p.tok.text);
	t->nodes = p.nodes;
	if (p.failed) {
		strata_sql_template_free(t);
		return NULL;
	}
	return t;
}

void
strata_sql_template_free(struct strata_sql_template *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n_parts; i++)
		free(t->parts[i].text);
	free(t->parts);
	sql_nodes_free(t->nodes);
	free(t);
}

bool
strata_sql_template_is_literal(const struct strata_sql_template *t)
{
	return t->literal;
}
