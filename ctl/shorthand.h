/*
 * shorthand.h - the AWS CLI's shorthand syntax for a structure parameter,
 * and the choice between it and JSON.
 *
 *   attributes={color=red,size=10},merge=true
 *
 * Pairs key=value separated by commas.  A value is {pairs} (a nested
 * object, possibly empty), a quoted string ("..." or '...'), or bare text
 * up to the next ',' (or '}' inside braces); in quoted and bare text a
 * backslash takes the next character as it is.  Blanks around keys and
 * bare values are dropped.  Every scalar is a string: the caller converts
 * what its shape says is a number or a boolean.  Lists ([a,b]) are not
 * supported: no flag of stratactl takes one.
 */
#ifndef STRATA_CTL_SHORTHAND_H
#define STRATA_CTL_SHORTHAND_H

#include <stddef.h>

#include <jansson.h>

#define CTL_SHORTHAND_MAX_DEPTH 8

/* Parse shorthand text into a new object *out.  Returns 0, or -1 with a
 * message in msg saying what was expected at which column. */
int ctl_shorthand_parse(const char *text, json_t **out, char *msg,
    size_t msglen);

/* A structure parameter: JSON when its first non-blank character is '{',
 * shorthand otherwise.  Returns 0 with *out a new object, or -1 with a
 * message (with line and column for JSON). */
int ctl_shorthand_object(const char *text, json_t **out, char *msg,
    size_t msglen);

#endif
