/*
 * fidx_query.h - the fleet indexing query language (AWS IoT's
 * SearchIndex, GetStatistics, ... queryString), parsed into a tree
 * (docs/internals/fleet-index.md, "Queries").
 *
 * A pure module of libstrata: no I/O.  What it accepts:
 *   term                      any field holds the value
 *   field:value               exact (case-insensitive) value
 *   field:"a phrase"          the same, spaces and specials allowed
 *   field:ab*c?  field:*      wildcards; field:* the field exists
 *   *                         every thing
 *   field:[a TO b] {a TO b}   ranges, either bound inclusive ([ ])
 *                             or exclusive ({ }), "*" open
 *   field<v  <=  >  >=        (also field:<v ...) half-open ranges
 *   AND OR NOT (-x !x && ||)  NOT binds tightest, then AND (also
 *                             implied between clauses), then OR
 *   ( )                       grouping
 *   field:(a OR b*)           field grouping: bare terms inside get field
 *   \x                        escapes x
 * Refused (InvalidQueryException): anything else, the characters AWS
 * does not support outside quotes (` @ # % / ' ; ,), an unknown field,
 * more than STRATA_FIDX_MAX_TERMS terms, more than one term with a
 * leading wildcard, or one in a query longer than 100 characters.
 */
#ifndef STRATA_FIDX_QUERY_H
#define STRATA_FIDX_QUERY_H

#include <stdbool.h>
#include <stddef.h>

#define STRATA_FIDX_MAX_QUERY 1024    /* bytes of a queryString */
#define STRATA_FIDX_MAX_TERMS 12      /* AWS's terms per query */
#define STRATA_FIDX_MAX_DEPTH 16      /* nested parentheses and NOTs */
#define STRATA_FIDX_MAX_LEADING_WILD_QUERY 100

enum strata_fidx_kind {
	STRATA_FIDX_ALL,      /* every thing */
	STRATA_FIDX_TERM,     /* field (NULL: any) equals value */
	STRATA_FIDX_WILDCARD, /* field (NULL: any) matches pattern (value);
				 "*" alone: the field exists */
	STRATA_FIDX_RANGE,    /* lo..hi on field */
	STRATA_FIDX_AND,
	STRATA_FIDX_OR,
	STRATA_FIDX_NOT,      /* left */
};

struct strata_fidx_node {
	enum strata_fidx_kind kind;
	char *field;     /* TERM, WILDCARD, RANGE; NULL: any field */
	char *value;     /* TERM: the value, lower case, unescaped;
			    WILDCARD: the pattern, lower case, where "\\"
			    escapes the next byte and unescaped '*' '?' are
			    wildcards */
	char *lo, *hi;   /* RANGE: lower case bounds, NULL when open */
	bool lo_incl, hi_incl;
	struct strata_fidx_node *left, *right;  /* AND, OR; NOT: left */
};

/* Parse q (len bytes, NUL not allowed).  Returns 0 and the tree (owned
 * by the caller: strata_fidx_free), or -1 with a message in err. */
int strata_fidx_parse(const char *q, size_t len,
    struct strata_fidx_node **out, char *err, size_t errlen);
void strata_fidx_free(struct strata_fidx_node *n);

/* A canonical text of the tree, for tests and logs: (AND a b), (OR a b),
 * (NOT a), ALL, field="v", field~"p", field[lo TO hi} ("*" for any field,
 * "-" for an open bound), into buf; the length it needed. */
size_t strata_fidx_format(const struct strata_fidx_node *n, char *buf,
    size_t cap);

/* Does value (lower case) match pattern (as in WILDCARD)? */
bool strata_fidx_match(const char *pattern, const char *value,
    size_t value_len);

/* The literal prefix of pattern (before its first wildcard, unescaped)
 * into out (cap bytes); its length. */
size_t strata_fidx_prefix(const char *pattern, char *out, size_t cap);

/* Is name a field the index has (thingName, attributes.x, shadow...)? */
bool strata_fidx_field_valid(const char *name);

/* Does text parse as a number (JSON's, or an integer)? */
bool strata_fidx_number(const char *text, double *out);

#endif
