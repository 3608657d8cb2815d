/*
 * request.c - building the HTTP request of an invocation (see
 * request.h).
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "blob.h"
#include "request.h"
#include "shorthand.h"

char *
ctl_request_encode(const char *text)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(text);
	char *out = malloc(3 * n + 1), *o = out;
	const unsigned char *p;

	if (out == NULL)
		abort();
	for (p = (const unsigned char *)text; *p != '\0'; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL) {
			*o++ = (char)*p;
			continue;
		}
		*o++ = '%';
		*o++ = hex[*p >> 4];
		*o++ = hex[*p & 0xf];
	}
	*o = '\0';
	return out;
}

static void
request_add_encoded(struct evbuffer *out, const char *text)
{
	char *encoded = ctl_request_encode(text);

	evbuffer_add(out, encoded, strlen(encoded));
	free(encoded);
}

/* The value of the path flag whose wire name is name[0..len). */
static const char *
request_path_value(const struct ctl_invocation *inv, const char *name,
    size_t len, const struct ctl_flag **flag)
{
	const struct ctl_command *c = inv->command;
	size_t i, n = ctl_table_flag_count(c);

	for (i = 0; i < n; i++) {
		if (c->flags[i].place == CTL_PATH &&
		    strlen(c->flags[i].wire) == len &&
		    memcmp(c->flags[i].wire, name, len) == 0) {
			*flag = &c->flags[i];
			return inv->values[i];
		}
	}
	return NULL;
}

/* The one CTL_PATH_TAIL flag given, as /wire/value; a usage error when
 * the command has such flags and none or several are given. */
static int
request_path_tail(struct evbuffer *out, const struct ctl_invocation *inv,
    struct ctl_error *err)
{
	const struct ctl_command *c = inv->command;
	size_t i, n = ctl_table_flag_count(c), tails = 0, given = 0;
	const struct ctl_flag *chosen = NULL, *first = NULL, *second = NULL;
	const char *value = NULL;

	for (i = 0; i < n; i++) {
		if (c->flags[i].place != CTL_PATH_TAIL)
			continue;
		if (tails++ == 0)
			first = &c->flags[i];
		else if (second == NULL)
			second = &c->flags[i];
		if (inv->values[i] != NULL) {
			given++;
			chosen = &c->flags[i];
			value = inv->values[i];
		}
	}
	if (tails == 0)
		return 0;
	if (given != 1)
		return ctl_error_set(err, CTL_EXIT_USAGE, "give exactly one "
		    "of --%s and --%s", first->name, second != NULL ?
		    second->name : first->name);
	if (*value == '\0')
		return ctl_error_set(err, CTL_EXIT_USAGE, "Invalid length for "
		    "parameter %s (--%s), value: 0, valid min length: 1",
		    chosen->wire, chosen->name);
	evbuffer_add_printf(out, "/%s/", chosen->wire);
	request_add_encoded(out, value);
	return 0;
}

static int
request_path(struct evbuffer *out, const struct ctl_invocation *inv,
    struct ctl_error *err)
{
	const char *p = inv->command->path, *close, *value;
	const struct ctl_flag *flag = NULL;

	while (*p != '\0') {
		if (*p != '{') {
			evbuffer_add(out, p++, 1);
			continue;
		}
		close = strchr(p, '}');
		assert(close != NULL);
		value = request_path_value(inv, p + 1, (size_t)(close - p - 1),
		    &flag);
		/* path flags are required: args refused a missing one */
		assert(value != NULL);
		if (*value == '\0')
			return ctl_error_set(err, CTL_EXIT_USAGE,
			    "Invalid length for parameter %s (--%s), value: "
			    "0, valid min length: 1", flag->wire, flag->name);
		request_add_encoded(out, value);
		p = close + 1;
	}
	return request_path_tail(out, inv, err);
}

static int
request_query(struct evbuffer *out, const struct ctl_invocation *inv,
    struct ctl_error *err)
{
	const struct ctl_command *c = inv->command;
	size_t i, n = ctl_table_flag_count(c);
	const struct ctl_flag *f;
	int first = 1;

	for (i = 0; i < n; i++) {
		f = &c->flags[i];
		if (f->place != CTL_QUERY || inv->values[i] == NULL)
			continue;
		if ((f->options & CTL_NOT_EMPTY) && *inv->values[i] == '\0')
			return ctl_error_set(err, CTL_EXIT_USAGE,
			    "Invalid length for parameter %s (--%s), value: "
			    "0, valid min length: 1", f->wire, f->name);
		evbuffer_add_printf(out, "%c%s=", first ? '?' : '&', f->wire);
		request_add_encoded(out, inv->values[i]);
		first = 0;
	}
	return 0;
}

static int
request_attribute_map(json_t *map, char *msg, size_t msglen)
{
	const char *name;
	json_t *value;

	if (!json_is_object(map)) {
		snprintf(msg, msglen, "Invalid type for parameter "
		    "attributePayload.attributes, valid types: object");
		return -1;
	}
	json_object_foreach(map, name, value) {
		if (!json_is_string(value)) {
			snprintf(msg, msglen, "Invalid type for parameter "
			    "attributePayload.attributes.%s, valid types: "
			    "string", name);
			return -1;
		}
	}
	return 0;
}

static int
request_merge(json_t *payload, char *msg, size_t msglen)
{
	json_t *merge = json_object_get(payload, "merge");
	const char *text;

	if (merge == NULL || json_is_boolean(merge))
		return 0;
	text = json_is_string(merge) ? json_string_value(merge) : "";
	if (strcmp(text, "true") != 0 && strcmp(text, "false") != 0) {
		snprintf(msg, msglen, "Invalid type for parameter "
		    "attributePayload.merge, valid types: boolean");
		return -1;
	}
	json_object_set_new(payload, "merge",
	    json_boolean(strcmp(text, "true") == 0));
	return 0;
}

int
ctl_request_attributes(json_t *payload, char *msg, size_t msglen)
{
	const char *key;
	json_t *value;

	json_object_foreach(payload, key, value) {
		if (strcmp(key, "attributes") != 0 &&
		    strcmp(key, "merge") != 0) {
			snprintf(msg, msglen, "Unknown parameter in "
			    "attributePayload: \"%s\", must be one of: "
			    "attributes, merge", key);
			return -1;
		}
	}
	value = json_object_get(payload, "attributes");
	if (value != NULL && request_attribute_map(value, msg, msglen) != 0)
		return -1;
	return request_merge(payload, msg, msglen);
}

static const char *const request_rule_members[] = { "sql", "description",
	"actions", "ruleDisabled", "awsIotSqlVersion", "errorAction" };

/* Is member m of the payload absent, or of the type its name says? */
static int
request_rule_member(const json_t *payload, const char *m, char *msg,
    size_t msglen)
{
	json_t *v = json_object_get(payload, m);
	const char *want = "string";
	int ok;

	if (v == NULL)
		return 0;
	if (strcmp(m, "actions") == 0) {
		ok = json_is_array(v);
		want = "list";
	} else if (strcmp(m, "errorAction") == 0) {
		ok = json_is_object(v);
		want = "object";
	} else if (strcmp(m, "ruleDisabled") == 0) {
		ok = json_is_boolean(v);
		want = "boolean";
	} else {
		ok = json_is_string(v);
	}
	if (ok)
		return 0;
	snprintf(msg, msglen, "Invalid type for parameter topicRulePayload.%s,"
	    " valid types: %s", m, want);
	return -1;
}

int
ctl_request_rule_payload(json_t *payload, char *msg, size_t msglen)
{
	const size_t n = sizeof(request_rule_members) /
	    sizeof(request_rule_members[0]);
	const char *key;
	json_t *value;
	size_t i;

	json_object_foreach(payload, key, value) {
		for (i = 0; i < n; i++)
			if (strcmp(key, request_rule_members[i]) == 0)
				break;
		if (i == n) {
			snprintf(msg, msglen, "Unknown parameter in "
			    "topicRulePayload: \"%s\", must be one of: sql, "
			    "description, actions, ruleDisabled, "
			    "awsIotSqlVersion, errorAction", key);
			return -1;
		}
	}
	for (i = 0; i < 3; i += 2)   /* sql, actions */
		if (json_object_get(payload, request_rule_members[i]) ==
		    NULL) {
			snprintf(msg, msglen, "Missing required parameter in "
			    "topicRulePayload: \"%s\"",
			    request_rule_members[i]);
			return -1;
		}
	for (i = 0; i < n; i++)
		if (request_rule_member(payload, request_rule_members[i], msg,
		    msglen) != 0)
			return -1;
	return 0;
}

int
ctl_request_list(const char *text, json_t **out, char *msg, size_t msglen)
{
	json_error_t jerr;
	const char *p = text, *comma;
	json_t *v;
	size_t i;

	if (text[0] == '[') {
		*out = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
		if (*out == NULL) {
			snprintf(msg, msglen, "not a JSON array: %s",
			    jerr.text);
			return -1;
		}
		if (!json_is_array(*out)) {
			snprintf(msg, msglen, "not a JSON array");
			json_decref(*out);
			*out = NULL;
			return -1;
		}
		json_array_foreach(*out, i, v)
			if (!json_is_string(v)) {
				snprintf(msg, msglen, "a list of strings, "
				    "item %zu is not one", i);
				json_decref(*out);
				*out = NULL;
				return -1;
			}
		return 0;
	}
	*out = json_array();
	while (*p != '\0') {
		comma = strchr(p, ',');
		if (comma == NULL)
			comma = p + strlen(p);
		if (comma > p)
			json_array_append_new(*out,
			    json_stringn(p, (size_t)(comma - p)));
		p = *comma == ',' ? comma + 1 : comma;
	}
	return 0;
}

/* "10,50,90", "10 50 90" or "[10, 50, 90]" as a JSON array of numbers;
 * 0, or -1 (nothing made). */
static int
request_numbers(const char *text, json_t **out)
{
	json_t *a = json_loads(text, JSON_DECODE_ANY, NULL);
	const char *p = text;
	size_t i;
	json_t *e;

	if (json_is_array(a)) {
		json_array_foreach(a, i, e)
			if (!json_is_number(e)) {
				json_decref(a);
				return -1;
			}
		*out = a;
		return 0;
	}
	json_decref(a);
	a = json_array();
	while (*p != '\0') {
		char *end;
		double d = strtod(p, &end);

		if (end == p) {
			json_decref(a);
			return -1;
		}
		json_array_append_new(a, d == (double)(json_int_t)d ?
		    json_integer((json_int_t)d) : json_real(d));
		p = end;
		while (*p == ',' || *p == ' ')
			p++;
	}
	if (json_array_size(a) == 0) {
		json_decref(a);
		return -1;
	}
	*out = a;
	return 0;
}

/* The JSON value of a body flag's text.  Returns 0, or -1 with err. */
static int
request_json(const struct ctl_flag *f, const char *text, json_t **out,
    struct ctl_error *err)
{
	char msg[512];

	*out = NULL;
	switch (f->kind) {
	case CTL_INTEGER:
		*out = json_integer(strtoll(text, NULL, 10));
		return 0;
	case CTL_BOOLEAN:
		*out = json_boolean(strcmp(text, "true") == 0);
		return 0;
	case CTL_STRING:
		if ((*out = json_string(text)) != NULL)
			return 0;
		snprintf(msg, sizeof(msg), "not valid UTF-8");
		break;
	case CTL_BLOB: /* a payload, never a member: the table's rule */
		abort();
	case CTL_LIST:
		if (ctl_request_list(text, out, msg, sizeof(msg)) == 0)
			return 0;
		break;
	case CTL_NUMBERS:
		if (request_numbers(text, out) == 0)
			return 0;
		snprintf(msg, sizeof(msg), "expected numbers: 10,50,90 or "
		    "[10, 50, 90]");
		break;
	case CTL_OBJECT:
	case CTL_ATTRIBUTES:
	case CTL_RULE_PAYLOAD:
		if (ctl_shorthand_object(text, out, msg, sizeof(msg)) != 0)
			break;
		if (f->kind == CTL_OBJECT || (f->kind == CTL_ATTRIBUTES ?
		    ctl_request_attributes(*out, msg, sizeof(msg)) :
		    ctl_request_rule_payload(*out, msg, sizeof(msg))) == 0)
			return 0;
		json_decref(*out);
		*out = NULL;
		return ctl_error_set(err, CTL_EXIT_USAGE,
		    "Parameter validation failed: %s", msg);
	}
	return ctl_error_set(err, CTL_EXIT_USAGE,
	    "Error parsing parameter '--%s': %s", f->name, msg);
}

/* The body object, or NULL when the command sends none. */
static int
request_body(const struct ctl_invocation *inv, json_t **body,
    struct ctl_error *err)
{
	const struct ctl_command *c = inv->command;
	size_t i, n = ctl_table_flag_count(c);
	int whole = ctl_table_flag_at(c, CTL_BODY_WHOLE);
	json_t *value;

	*body = NULL;
	if (!ctl_table_has_body(c))
		return 0;
	/* a whole-body flag is required: args refused a missing one */
	if (whole >= 0)
		return request_json(&c->flags[whole], inv->values[whole], body,
		    err);
	if ((*body = json_object()) == NULL)
		abort();
	for (i = 0; i < n; i++) {
		if (c->flags[i].place != CTL_BODY || inv->values[i] == NULL)
			continue;
		if (request_json(&c->flags[i], inv->values[i], &value,
		    err) != 0)
			return -1;
		json_object_set_new(*body, c->flags[i].wire, value);
	}
	return 0;
}

static void
request_headers(struct ctl_request *req, const struct ctl_invocation *inv)
{
	const struct ctl_command *c = inv->command;
	size_t i, n = ctl_table_flag_count(c);

	for (i = 0; i < n; i++) {
		if (c->flags[i].place != CTL_HEADER || inv->values[i] == NULL)
			continue;
		req->headers[req->header_count].name = c->flags[i].wire;
		req->headers[req->header_count].value = inv->values[i];
		req->header_count++;
	}
}

static char *
request_string(struct evbuffer *buffer)
{
	size_t n = evbuffer_get_length(buffer);
	char *s = malloc(n + 1);

	if (s == NULL)
		abort();
	evbuffer_remove(buffer, s, n);
	s[n] = '\0';
	return s;
}

int
ctl_request_build(struct ctl_request *req,
    const struct ctl_invocation *inv, const char *base_path,
    struct ctl_error *err)
{
	struct evbuffer *target = evbuffer_new();
	int payload = ctl_table_flag_at(inv->command, CTL_PAYLOAD);
	json_t *body = NULL;
	int rc = -1;

	if (target == NULL)
		abort();
	memset(req, 0, sizeof(*req));
	req->method = inv->command->method;
	evbuffer_add(target, base_path, strlen(base_path));
	if (request_path(target, inv, err) != 0 ||
	    request_query(target, inv, err) != 0 ||
	    request_body(inv, &body, err) != 0)
		goto out;
	/* a payload flag is required: args refused a missing one */
	if (payload >= 0 && ctl_blob_value(inv, payload, &req->body,
	    &req->body_len, err) != 0)
		goto out;
	request_headers(req, inv);
	req->target = request_string(target);
	if (body != NULL) {
		if ((req->body = json_dumps(body,
		    JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
			abort();
		req->body_len = strlen(req->body);
		req->content_type = "application/json";
	}
	rc = 0;
out:
	evbuffer_free(target);
	json_decref(body);
	if (rc != 0)
		ctl_request_clear(req);
	return rc;
}

void
ctl_request_clear(struct ctl_request *req)
{
	free(req->target);
	free(req->body);
	memset(req, 0, sizeof(*req));
}
