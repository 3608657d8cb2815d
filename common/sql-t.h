/*
 * sql-t.h - the compiled form of a rules SQL statement and of a
 * substitution template, shared by sql.c (lexer and parser, which build
 * it), sql_eval.c (values, type rules, evaluation, templates) and
 * sql_func.c (the functions).  Private to those three files: everything
 * else uses sql.h.
 *
 * Values are jansson values: Int is a JSON integer, Decimal a JSON real
 * (always finite), String, Boolean, Array, Object and Null their JSON
 * kinds, and Undefined is NULL.  Every value an evaluation step returns
 * is a new reference the caller releases (json_decref(NULL) is a no-op),
 * so Undefined needs no special case when values are dropped.
 *
 * Nodes are owned by the statement (or template) through one allocation
 * chain (struct sql_node.chain), freed by walking that chain: freeing
 * never recurses, whatever the shape of the tree.
 */
#ifndef STRATA_SQL_T_H
#define STRATA_SQL_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "sql.h"

/* The longest string, or the most elements of an array, a function may
 * build: results grow from the payload and the statement (concat,
 * replace, regexp_replace can multiply them), and a statement nests up
 * to STRATA_SQL_MAX_DEPTH of them. */
#define SQL_MAX_VALUE (4 * STRATA_SQL_MAX_PAYLOAD)
/* The longest regular expression compiled per evaluation (a pattern
 * that is not a literal of the statement). */
#define SQL_MAX_DYNAMIC_PATTERN 256
/* PCRE2 limits of one match: a pattern that backtracks past them fails
 * the evaluation instead of running on. */
#define SQL_REGEX_MATCH_LIMIT 100000
#define SQL_REGEX_DEPTH_LIMIT 2000
#define SQL_REGEX_HEAP_LIMIT_KB 4096

enum sql_kind {
	SQL_N_LITERAL, /* literal: the value (never NULL) */
	SQL_N_PAYLOAD, /* '*' inside an expression: the whole payload */
	SQL_N_ATTR,    /* name: a member of the payload object */
	SQL_N_MEMBER,  /* args[0] . name */
	SQL_N_INDEX,   /* args[0] [ args[1] ] */
	SQL_N_MERGE,   /* args[0] . '*' (only as a whole SELECT item) */
	SQL_N_UNARY,   /* op args[0] */
	SQL_N_BINARY,  /* args[0] op args[1] */
	SQL_N_CASE,    /* [subject] (when then)... [else] */
	SQL_N_OBJECT,  /* keys[i]: args[i] */
	SQL_N_ARRAY,   /* [args...] */
	SQL_N_CALL,    /* func(args...) */
	SQL_N_CAST,    /* cast(args[0] AS cast) */
};

enum sql_op {
	SQL_OP_NONE,
	SQL_OP_OR,
	SQL_OP_AND,
	SQL_OP_NOT,
	SQL_OP_EQ,
	SQL_OP_NE,
	SQL_OP_LT,
	SQL_OP_LE,
	SQL_OP_GT,
	SQL_OP_GE,
	SQL_OP_IN,
	SQL_OP_CONTAINS,
	SQL_OP_ADD,
	SQL_OP_SUB,
	SQL_OP_MUL,
	SQL_OP_DIV,
	SQL_OP_MOD,
	SQL_OP_NEG,
};

enum sql_type {
	SQL_TYPE_INT,
	SQL_TYPE_DECIMAL,
	SQL_TYPE_BOOLEAN,
	SQL_TYPE_STRING,
};

struct sql_node;
struct sql_eval;

/*
 * A function's implementation: argv[0..argc) are the evaluated
 * arguments (borrowed; NULL is Undefined).  Returns a new reference, or
 * NULL for Undefined; a failure of the whole evaluation goes through
 * sql_eval_fail() and returns NULL.
 */
typedef json_t *(*sql_func_impl)(struct sql_eval *ev,
    const struct sql_node *call, json_t **argv, size_t argc);

struct sql_func {
	const char *name; /* as AWS spells it; matched case-insensitively */
	unsigned min_args, max_args;
	bool takes_undefined; /* else any Undefined argument: Undefined */
	sql_func_impl impl;
	/* At parse time, once the arguments are parsed (may be NULL):
	 * precompute (a literal regular expression) or refuse with a
	 * message; 0 or -1. */
	int (*prepare)(struct sql_node *call, struct strata_sql_error *err);
};

struct sql_node {
	enum sql_kind kind;
	enum sql_op op;
	int line, column;      /* where the node starts in the text */
	unsigned depth;        /* 1 + the deepest child */
	json_t *literal;       /* LITERAL */
	char *name;            /* ATTR, MEMBER */
	struct sql_node **args;
	size_t n_args, cap_args;
	char **keys;           /* OBJECT: one per argument */
	const struct sql_func *func; /* CALL */
	void *compiled;        /* CALL: what func->prepare built */
	enum sql_type cast;    /* CAST */
	bool has_subject;      /* CASE: args[0] is the subject */
	bool has_else;         /* CASE: the last argument is ELSE's */
	struct sql_node *chain; /* the owner's allocation chain */
};

/* One SELECT item: expr AS name, or expr.* / * merged (merge). */
struct sql_item {
	struct sql_node *expr; /* NULL: a bare '*' */
	char *name;            /* the output field (NULL when merge) */
	bool merge;
};

struct strata_sql {
	char *from;
	struct sql_item *items;
	size_t n_items;
	struct sql_node *where; /* NULL: none */
	struct sql_node *nodes; /* allocation chain */
};

/* A template part: literal text, or an expression (expr non-NULL). */
struct sql_part {
	char *text;
	size_t len;
	struct sql_node *expr;
};

struct strata_sql_template {
	struct sql_part *parts;
	size_t n_parts;
	bool literal; /* no ${...} part */
	struct sql_node *nodes;
};

/* One evaluation: the message, its payload decoded at most once. */
struct sql_eval {
	const struct strata_sql_input *in;
	struct strata_sql_error *err;
	json_t *payload;    /* decoded JSON, NULL if not JSON */
	bool payload_done;  /* payload decoded (or found not JSON) */
	bool failed;
};

/* ---- sql.c ----------------------------------------------------------- */

/* Free every node of an allocation chain (and what each owns). */
void sql_nodes_free(struct sql_node *chain);

/* ---- sql_eval.c ------------------------------------------------------ */

/* Evaluate n: a new reference, or NULL (Undefined, or ev->failed). */
json_t *sql_eval_node(struct sql_eval *ev, const struct sql_node *n);
/* Fail the evaluation at n (may be NULL) with a message; first wins. */
void sql_eval_fail(struct sql_eval *ev, const struct sql_node *n,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The payload as JSON (borrowed), or NULL when it is not JSON. */
json_t *sql_eval_payload(struct sql_eval *ev);

/* Type rules (docs/internals/rules-sql.md, "Conversions"). */
/* A Decimal, or NULL (Undefined) when d is not finite. */
json_t *sql_decimal(double d);
/* A String of len bytes, or NULL when not UTF-8 or over SQL_MAX_VALUE. */
json_t *sql_string(const char *s, size_t len);
/* Int or Decimal as a double; a String that reads as a number too. */
bool sql_to_double(const json_t *v, double *d);
/* The value as text: a malloc'd NUL-terminated string (*len its
 * length), or NULL for Null, Undefined (and a value over the limit). */
char *sql_to_text(const json_t *v, size_t *len);
/* Decimal text (optional sign, digits, fraction, exponent) to double. */
bool sql_parse_decimal(const char *s, size_t len, double *d);
/* Equality of two values: numbers by value, others by JSON equality. */
bool sql_equal(const json_t *a, const json_t *b);
/* cast(v AS t): a new reference or NULL. */
json_t *sql_cast(const json_t *v, enum sql_type t);
/* 10.0 of a payload read as the Int 10 (SQL version 2016-03-23). */
json_t *sql_normalize(json_t *v);

/* ---- sql_func.c ------------------------------------------------------ */

/* The function called name (len bytes), case-insensitive, or NULL. */
const struct sql_func *sql_func_find(const char *name, size_t len);
/* Release what func->prepare stored in call->compiled. */
void sql_func_release(struct sql_node *call);

/* ---- sql_time.c ------------------------------------------------------ */

/* parse_time(pattern, epoch_ms[, zone]): the time as text. */
json_t *sql_time_format(json_t **argv, size_t argc);
/* time_to_epoch(text, pattern): milliseconds since the epoch. */
json_t *sql_time_parse(json_t **argv);

#endif
