/*
 * profile.c - reading a profile of a credentials file (see profile.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "profile.h"

enum profile_slot { PROFILE_KEY_ID, PROFILE_SECRET };

/* The keys read, in order of preference for their slot. */
static const struct {
	const char *name;
	enum profile_slot slot;
} profile_keys[] = {
	{ "strata_access_key_id", PROFILE_KEY_ID },
	{ "strata_secret_access_key", PROFILE_SECRET },
	{ "aws_access_key_id", PROFILE_KEY_ID },
	{ "aws_secret_access_key", PROFILE_SECRET },
};

#define PROFILE_KEYS (sizeof(profile_keys) / sizeof(profile_keys[0]))

/* A view of (part of) a line of the text. */
struct profile_text {
	const char *p;
	size_t len;
};

struct profile_parser {
	const char *name;           /* the profile wanted */
	unsigned line;              /* the line being read, from 1 */
	bool in_section;            /* a [section] came before */
	bool in_profile;            /* ... and it is the profile */
	bool after_key;             /* a key line came in this section */
	size_t key_indent;          /* ... indented so far */
	bool found;
	char *values[PROFILE_KEYS]; /* owned, by profile_keys index */
	char *msg;
	size_t msglen;
};

static int
profile_error(struct profile_parser *pp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
profile_error(struct profile_parser *pp, const char *fmt, ...)
{
	int used = snprintf(pp->msg, pp->msglen, "line %u: ", pp->line);
	va_list ap;

	if (used >= 0 && (size_t)used < pp->msglen) {
		va_start(ap, fmt);
		vsnprintf(pp->msg + used, pp->msglen - (size_t)used, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static bool
profile_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static void
profile_trim(struct profile_text *t)
{
	while (t->len > 0 && profile_space(t->p[0])) {
		t->p++;
		t->len--;
	}
	while (t->len > 0 && profile_space(t->p[t->len - 1]))
		t->len--;
}

static bool
profile_equal(struct profile_text t, const char *s)
{
	return t.len == strlen(s) && memcmp(t.p, s, t.len) == 0;
}

/* A trimmed line "[...]". */
static int
profile_section(struct profile_parser *pp, struct profile_text t)
{
	struct profile_text name = { t.p + 1, t.len - 1 };

	if (t.len < 2 || t.p[t.len - 1] != ']')
		return profile_error(pp, "a section name must end with ']'");
	name.len--;
	profile_trim(&name);
	if (name.len == 0)
		return profile_error(pp, "a section without a name");
	pp->in_section = true;
	pp->after_key = false;
	pp->in_profile = profile_equal(name, pp->name);
	if (pp->in_profile && pp->found)
		return profile_error(pp, "profile [%s] appears twice",
		    pp->name);
	pp->found = pp->found || pp->in_profile;
	return 0;
}

/* The value of key in the profile, if it is one of profile_keys. */
static int
profile_value(struct profile_parser *pp, struct profile_text key,
    struct profile_text value)
{
	size_t i;

	for (i = 0; i < PROFILE_KEYS; i++) {
		if (key.len != strlen(profile_keys[i].name) ||
		    strncasecmp(key.p, profile_keys[i].name, key.len) != 0)
			continue;
		if (pp->values[i] != NULL)
			return profile_error(pp, "%s appears twice in [%s]",
			    profile_keys[i].name, pp->name);
		if ((pp->values[i] = strndup(value.p, value.len)) == NULL)
			abort();
	}
	return 0;
}

/* A trimmed line that must be "key = value" or "key: value". */
static int
profile_key(struct profile_parser *pp, struct profile_text t,
    size_t indent)
{
	size_t eq = 0;
	struct profile_text key, value;

	while (eq < t.len && t.p[eq] != '=' && t.p[eq] != ':')
		eq++;
	key.p = t.p;
	key.len = eq;
	if (eq == t.len)
		return profile_error(pp, "expected [section] or key = value");
	profile_trim(&key);
	if (key.len == 0)
		return profile_error(pp, "a key without a name");
	if (!pp->in_section)
		return profile_error(pp, "a key before any [section]");
	pp->after_key = true;
	pp->key_indent = indent;
	if (!pp->in_profile)
		return 0;
	value.p = t.p + eq + 1;
	value.len = t.len - eq - 1;
	profile_trim(&value);
	return profile_value(pp, key, value);
}

static int
profile_line(struct profile_parser *pp, struct profile_text t)
{
	size_t indent = 0;

	while (indent < t.len && (t.p[indent] == ' ' || t.p[indent] == '\t'))
		indent++;
	profile_trim(&t);
	if (t.len == 0 || t.p[0] == '#' || t.p[0] == ';')
		return 0;
	if (pp->after_key && indent > pp->key_indent)
		return 0;
	if (t.p[0] == '[')
		return profile_section(pp, t);
	return profile_key(pp, t, indent);
}

/* Move the preferred non-empty value of slot out of pp. */
static char *
profile_take(struct profile_parser *pp, enum profile_slot slot)
{
	char *value;
	size_t i;

	for (i = 0; i < PROFILE_KEYS; i++) {
		if (profile_keys[i].slot != slot || pp->values[i] == NULL ||
		    pp->values[i][0] == '\0')
			continue;
		value = pp->values[i];
		pp->values[i] = NULL;
		return value;
	}
	return NULL;
}

int
ctl_profile_parse(struct ctl_profile *p, const char *text,
    const char *name, char *msg, size_t msglen)
{
	struct profile_parser pp = { .name = name, .msg = msg,
		.msglen = msglen };
	const char *line = text, *end;
	struct profile_text t;
	size_t i;
	int rc = 0;

	memset(p, 0, sizeof(*p));
	for (; rc == 0 && line != NULL; line = end ? end + 1 : NULL) {
		end = strchr(line, '\n');
		t.p = line;
		t.len = end != NULL ? (size_t)(end - line) : strlen(line);
		pp.line++;
		rc = profile_line(&pp, t);
	}
	if (rc == 0) {
		p->found = pp.found;
		p->access_key_id = profile_take(&pp, PROFILE_KEY_ID);
		p->secret_access_key = profile_take(&pp, PROFILE_SECRET);
	}
	for (i = 0; i < PROFILE_KEYS; i++)
		free(pp.values[i]);
	return rc;
}

void
ctl_profile_clear(struct ctl_profile *p)
{
	free(p->access_key_id);
	free(p->secret_access_key);
	memset(p, 0, sizeof(*p));
}
