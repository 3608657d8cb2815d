/*
 * policy-t.h - the compiled form of a policy document, shared by policy.c
 * (which builds it) and policy_bind.c (which binds and checks it), and the
 * pieces the admin API's engine (iam_policy.c) reads documents with: the
 * JSON path of errors, the loader, the glob.  Private to those files:
 * everything else uses policy.h or iam_policy.h.
 *
 * Strings that take part in matching are kept as escaped globs: '*' is
 * any run of characters, '?' one character, and '\' makes the byte after
 * it literal ('\*', '\?', '\\').  A document's own '*' and '?' stay
 * wildcards; ${*}, ${?} and a substituted value become escaped literals,
 * so a '*' in a client id never widens a pattern.
 */
#ifndef STRATA_POLICY_T_H
#define STRATA_POLICY_T_H

#include <stdbool.h>
#include <stddef.h>

#include "policy.h"

#define POLICY_ACTIONS 11     /* the STRATA_IOT_* bits */
#define POLICY_ARN_SEGMENTS 6 /* arn:partition:service:region:account:rest */
#define POLICY_LIST_MAX 5     /* values of a multi-valued certificate field */
#define POLICY_VALUE_MAX 1024 /* longer certificate values are not used */

/* What a ${...} variable or a condition key reads from the connection. */
enum policy_var {
	POLICY_VAR_CLIENT_ID,
	POLICY_VAR_THING_NAME,
	POLICY_VAR_THING_TYPE_NAME,
	POLICY_VAR_THING_ATTRIBUTE, /* name: the attribute */
	POLICY_VAR_IS_ATTACHED,
	POLICY_VAR_CERT, /* name: canonical field, maybe ".1".."4" */
};

/* A piece of a template: escaped literal text, or a variable. */
struct policy_part {
	bool is_var;
	enum policy_var var;
	char *text; /* literal: escaped glob; variable: its name or NULL */
	char
	    *source; /* variable: "${...}" as written (certificate fallback) */
};

/* A string of the document with its variables still unresolved. */
struct policy_template {
	size_t nparts;
	struct policy_part *parts;
};

struct policy_key {
	enum policy_var var;
	char *name; /* attribute or certificate field, else NULL */
	bool list;  /* iot:Certificate.X.List: up to POLICY_LIST_MAX values */
};

enum policy_op {
	POLICY_OP_STRING_EQUALS,
	POLICY_OP_STRING_NOT_EQUALS,
	POLICY_OP_STRING_LIKE,
	POLICY_OP_STRING_NOT_LIKE,
	POLICY_OP_BOOL,
	POLICY_OP_NULL,
};

enum policy_quantifier {
	POLICY_SINGLE,     /* StringEquals: the key has one value */
	POLICY_ANY_VALUE,  /* ForAnyValue: */
	POLICY_ALL_VALUES, /* ForAllValues: */
};

/* One key under one operator: "StringLike": {"iot:ClientId": [...]} */
struct policy_condition {
	enum policy_op op;
	enum policy_quantifier quantifier;
	bool if_exists;
	struct policy_key key;
	size_t nvalues;
	struct policy_template *values;
};

struct policy_statement {
	bool deny;
	unsigned actions; /* STRATA_IOT_* bits; 0 if it names none of them */
	size_t nresources;
	struct policy_template *resources;
	size_t nconditions;
	struct policy_condition *conditions; /* all must hold */
};

struct strata_policy {
	size_t nstatements;
	struct policy_statement *statements;
};

/* A growing string (always NUL-terminated once written to). */
struct policy_buf {
	char *p;
	size_t len, cap;
};

/* calloc of n (at least 1) elements; aborts if memory runs out. */
void *strata_policy_calloc(size_t n, size_t size);

/* Append n bytes; aborts if memory runs out. */
void strata_policy_buf_put(struct policy_buf *b, const char *s, size_t n);

/* Append document text as an escaped glob: its '*' and '?' stay
 * wildcards, each '\' is written '\\' (a literal backslash). */
void strata_policy_buf_put_document(
    struct policy_buf *b, const char *s, size_t n);

/*
 * Where a parser is in a document: the JSON path of the element it reads
 * ("Statement[1].Action[0]"), so that a refusal names it.  push appends
 * printf-style text ("[%zu]"), push_key a member name (after a '.' unless
 * at the root); both return the length that pop goes back to.  A path
 * longer than the error's is cut.  fail fills *err (if not NULL) with the
 * current path, line and column 0 and the message, and returns
 * STRATA_EINVAL.
 */
struct policy_path {
	struct strata_policy_error *err; /* may be NULL */
	char text[sizeof(((struct strata_policy_error *)0)->path)];
	size_t len;
};

size_t strata_policy_path_push(struct policy_path *path, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
size_t strata_policy_path_push_key(struct policy_path *path, const char *key);
void strata_policy_path_pop(struct policy_path *path, size_t old);
int strata_policy_path_fail(struct policy_path *path, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Load a document of len bytes (no NUL needed) as JSON, refusing more than
 * max_chars characters outside white space (a UTF-8 sequence counts once;
 * checked before parsing) and duplicate keys.  Returns the root, owned by
 * the caller, or NULL with *err filled: line and column for a syntax
 * error, an empty path for both.  *err (may be NULL) is cleared first.
 */
json_t *strata_policy_load(const char *doc, size_t len, size_t max_chars,
    struct strata_policy_error *err);

/* Does the escaped glob pattern[0..plen) match s[0..slen)?  '*' and '?'
 * step over whole UTF-8 characters.  fold: ASCII case-insensitive (action
 * names).  O(plen * slen) at worst, no allocation. */
bool strata_policy_glob(
    const char *pattern, size_t plen, const char *s, size_t slen, bool fold);

#endif
