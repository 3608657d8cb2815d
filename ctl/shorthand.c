/*
 * shorthand.c - a recursive descent parser of shorthand (see
 * shorthand.h).  Tokens are copied unescaped into one scratch buffer as
 * long as the input, so no token can overflow it.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shorthand.h"

struct shorthand {
	const char *start;  /* the whole text, for columns */
	const char *p;      /* next character */
	char *scratch;      /* strlen(start) + 1 bytes */
	int depth;          /* braces open */
	char *msg;
	size_t msglen;
};

static int
shorthand_fail(struct shorthand *s, const char *what)
{
	snprintf(s->msg, s->msglen, "%s at column %zu", what,
	    (size_t)(s->p - s->start) + 1);
	return -1;
}

static void
shorthand_blanks(struct shorthand *s)
{
	while (*s->p != '\0' && isspace((unsigned char)*s->p))
		s->p++;
}

/* Does c end bare text (a key when key is set, a value otherwise)? */
static int
shorthand_ends(const struct shorthand *s, char c, int key)
{
	if (c == '\0' || c == ',')
		return 1;
	if (key)
		return c == '=' || c == '{' || c == '}';
	return c == '}' && s->depth > 0;
}

/* Copy bare text into scratch, blanks at both ends dropped. */
static const char *
shorthand_bare(struct shorthand *s, int key)
{
	size_t n = 0, kept = 0;

	shorthand_blanks(s);
	while (!shorthand_ends(s, *s->p, key)) {
		if (*s->p == '\\' && s->p[1] != '\0')
			s->p++;
		else if (isspace((unsigned char)*s->p)) {
			s->scratch[n++] = *s->p++;
			continue;
		}
		s->scratch[n++] = *s->p++;
		kept = n;
	}
	s->scratch[kept] = '\0';
	return s->scratch;
}

static const char *
shorthand_quoted(struct shorthand *s)
{
	char quote = *s->p++;
	size_t n = 0;

	while (*s->p != quote) {
		if (*s->p == '\\' && s->p[1] != '\0')
			s->p++;
		if (*s->p == '\0') {
			shorthand_fail(s, "unterminated quoted string");
			return NULL;
		}
		s->scratch[n++] = *s->p++;
	}
	s->p++;
	s->scratch[n] = '\0';
	shorthand_blanks(s);
	return s->scratch;
}

static int shorthand_pairs(struct shorthand *s, json_t *object);

static json_t *
shorthand_braces(struct shorthand *s)
{
	json_t *object;

	if (s->depth >= CTL_SHORTHAND_MAX_DEPTH) {
		shorthand_fail(s, "too deeply nested");
		return NULL;
	}
	s->p++;
	s->depth++;
	if ((object = json_object()) == NULL)
		abort();
	shorthand_blanks(s);
	if (*s->p != '}' && shorthand_pairs(s, object) != 0)
		goto fail;
	if (*s->p != '}') {
		shorthand_fail(s, "expected '}'");
		goto fail;
	}
	s->p++;
	s->depth--;
	shorthand_blanks(s);
	return object;
fail:
	json_decref(object);
	return NULL;
}

static json_t *
shorthand_value(struct shorthand *s)
{
	const char *text;
	json_t *value;

	shorthand_blanks(s);
	if (*s->p == '{')
		return shorthand_braces(s);
	if (*s->p == '"' || *s->p == '\'')
		text = shorthand_quoted(s);
	else
		text = shorthand_bare(s, 0);
	if (text == NULL)
		return NULL;
	if ((value = json_string(text)) == NULL)
		shorthand_fail(s, "not valid UTF-8");
	return value;
}

static int
shorthand_pair(struct shorthand *s, json_t *object)
{
	char *key;
	json_t *value;

	if (*shorthand_bare(s, 1) == '\0')
		return shorthand_fail(s, "expected a key");
	if (*s->p != '=')
		return shorthand_fail(s, "expected '=' after the key");
	if ((key = strdup(s->scratch)) == NULL)
		abort();
	s->p++;
	value = shorthand_value(s);
	if (value == NULL || json_object_set_new(object, key, value) != 0) {
		if (value != NULL)
			shorthand_fail(s, "a key that is not valid UTF-8");
		free(key);
		return -1;
	}
	free(key);
	return 0;
}

/* pair (',' pair)*, up to the end of the text or an unmatched '}'. */
static int
shorthand_pairs(struct shorthand *s, json_t *object)
{
	for (;;) {
		if (shorthand_pair(s, object) != 0)
			return -1;
		if (*s->p != ',')
			break;
		s->p++;
	}
	if (*s->p == '\0' || (*s->p == '}' && s->depth > 0))
		return 0;
	return shorthand_fail(s, "expected ','");
}

int
ctl_shorthand_parse(const char *text, json_t **out, char *msg,
    size_t msglen)
{
	struct shorthand s = { .start = text, .p = text, .msg = msg,
		.msglen = msglen };
	json_t *object;
	int rc;

	*out = NULL;
	if ((s.scratch = malloc(strlen(text) + 1)) == NULL ||
	    (object = json_object()) == NULL)
		abort();
	rc = shorthand_pairs(&s, object);
	free(s.scratch);
	if (rc != 0) {
		json_decref(object);
		return -1;
	}
	*out = object;
	return 0;
}

int
ctl_shorthand_object(const char *text, json_t **out, char *msg,
    size_t msglen)
{
	const char *p = text;
	json_error_t error;

	while (isspace((unsigned char)*p))
		p++;
	if (*p != '{')
		return ctl_shorthand_parse(text, out, msg, msglen);
	if ((*out = json_loads(text, 0, &error)) == NULL) {
		snprintf(msg, msglen, "Invalid JSON: %s at line %d column %d",
		    error.text, error.line, error.column);
		return -1;
	}
	return 0;
}
