/*
 * rule.c - a topic rule's payload: JSON -> struct strata_rule, every
 * member checked, its SQL and templates compiled (rule.h).
 *
 * One parse runs: size and JSON -> the top-level members (sql required,
 * the rest optional and typed) -> the statement (strata_sql_parse) ->
 * each action: exactly one member naming a known kind -> that kind's
 * members -> errorAction the same way.  The first error ends it with a
 * message naming the member ("actions[1].redis.command: ...").
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rule.h"
#include "ruledest.h"

#define RULE_DEFAULT_SQL_VERSION "2015-10-08"
#define RULE_HTTP_TIMEOUT_MS 3000
#define RULE_HTTP_RETRIES 3
#define RULE_FILE_MAX_BYTES (64L * 1024 * 1024)
#define RULE_FILE_MAX_FILES 5

/* Where in the payload the parse is: "actions[1].http". */
struct rule_parse {
	struct strata_rule_error *err;
	char where[96];
};

static int
rule_fail(struct rule_parse *rp, const char *fmt, ...)
{
	struct strata_rule_error *e = rp->err;
	size_t n;
	va_list ap;

	if (e == NULL)
		return -1;
	n = (size_t)snprintf(e->message, sizeof(e->message), "%s%s",
	    rp->where, rp->where[0] != '\0' ? ": " : "");
	va_start(ap, fmt);
	vsnprintf(e->message + n, sizeof(e->message) - n, fmt, ap);
	va_end(ap);
	return -1;
}

static char *
rule_strdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		abort();
	return d;
}

/* ---- typed members ---- */

/* The string member name of obj into *out (NULL when absent and not
 * required). */
static int
rule_string(struct rule_parse *rp, const json_t *obj, const char *name,
    bool required, const char **out)
{
	const json_t *v = json_object_get(obj, name);

	*out = NULL;
	if (v == NULL) {
		if (required)
			return rule_fail(rp, "'%s' is required", name);
		return 0;
	}
	if (!json_is_string(v))
		return rule_fail(rp, "'%s' must be a string", name);
	*out = json_string_value(v);
	return 0;
}

static int
rule_integer(struct rule_parse *rp, const json_t *obj, const char *name,
    long lo, long hi, long def, long *out)
{
	const json_t *v = json_object_get(obj, name);

	*out = def;
	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < lo ||
	    json_integer_value(v) > hi)
		return rule_fail(rp, "'%s' must be an integer from %ld to %ld",
		    name, lo, hi);
	*out = (long)json_integer_value(v);
	return 0;
}

static int
rule_template(struct rule_parse *rp, const json_t *obj, const char *name,
    bool required, struct strata_sql_template **out)
{
	struct strata_sql_error e;
	const char *s;

	*out = NULL;
	if (rule_string(rp, obj, name, required, &s) != 0)
		return -1;
	if (s == NULL)
		return 0;
	*out = strata_sql_template_parse(s, strlen(s), &e);
	if (*out == NULL)
		return rule_fail(rp, "'%s': %s", name, e.message);
	return 0;
}

/* [{"key": ..., "value": ...}, ...] of at most STRATA_RULE_MAX_HEADERS,
 * both templates (literal_keys: the key may have no ${...}). */
static int
rule_pairs(struct rule_parse *rp, const json_t *list,
    struct strata_rule_action *a, bool literal_keys)
{
	const json_t *item;
	size_t i;

	if (!json_is_array(list) ||
	    json_array_size(list) > STRATA_RULE_MAX_HEADERS)
		return rule_fail(rp, "headers must be a list of at most %d "
		    "{\"key\", \"value\"} objects", STRATA_RULE_MAX_HEADERS);
	a->pairs = calloc(json_array_size(list) + 1, sizeof(*a->pairs));
	if (a->pairs == NULL)
		abort();
	json_array_foreach(list, i, item) {
		struct strata_rule_pair *p = &a->pairs[a->n_pairs++];

		if (!json_is_object(item) ||
		    rule_template(rp, item, "key", true, &p->key) != 0 ||
		    rule_template(rp, item, "value", true, &p->value) != 0)
			return rule_fail(rp, "headers[%zu] must be {\"key\": "
			    "string, \"value\": string}", i);
		if (literal_keys && !strata_sql_template_is_literal(p->key))
			return rule_fail(rp, "headers[%zu].key cannot have "
			    "${...}", i);
	}
	return 0;
}

/* ---- the kinds ---- */

static int
rule_republish_headers(struct rule_parse *rp, const json_t *h,
    struct strata_rule_action *a)
{
	const json_t *up = json_object_get(h, "userProperties");

	if (!json_is_object(h))
		return rule_fail(rp, "'headers' must be an object");
	if (rule_template(rp, h, "payloadFormatIndicator", false,
	    &a->payload_format) != 0 ||
	    rule_template(rp, h, "contentType", false, &a->content_type) != 0 ||
	    rule_template(rp, h, "responseTopic", false,
	    &a->response_topic) != 0 ||
	    rule_template(rp, h, "correlationData", false,
	    &a->correlation_data) != 0 ||
	    rule_template(rp, h, "messageExpiry", false,
	    &a->message_expiry) != 0)
		return -1;
	return up != NULL ? rule_pairs(rp, up, a, false) : 0;
}

static int
rule_republish(struct rule_parse *rp, const json_t *o,
    struct strata_rule_action *a)
{
	const json_t *retain = json_object_get(o, "retain");
	const json_t *headers = json_object_get(o, "headers");
	long qos;

	if (rule_template(rp, o, "topic", true, &a->topic) != 0 ||
	    rule_integer(rp, o, "qos", 0, 1, 0, &qos) != 0)
		return -1;
	a->qos = (int)qos;
	if (retain != NULL && !json_is_boolean(retain))
		return rule_fail(rp, "'retain' must be true or false");
	a->retain = json_is_true(retain);
	return headers != NULL ? rule_republish_headers(rp, headers, a) : 0;
}

/* AWS: the confirmationUrl must be a prefix of the url (here: cover it,
 * strata_ruledest_covers) and a url a destination may have. */
static bool
rule_confirmation_url(struct rule_parse *rp, const json_t *o,
    const char *confirm)
{
	const char *url = json_string_value(json_object_get(o, "url"));
	char why[128];

	if (!strata_ruledest_url_valid(confirm, why, sizeof(why))) {
		rule_fail(rp, "'confirmationUrl': %s", why);
		return false;
	}
	if (url == NULL || !strata_ruledest_covers(confirm, url)) {
		rule_fail(rp, "'confirmationUrl' must be a prefix of 'url' "
		    "(ending at a '/', a '?' or the url's end)");
		return false;
	}
	return true;
}

static int
rule_http(struct rule_parse *rp, const json_t *o, struct strata_rule_action *a)
{
	const json_t *headers = json_object_get(o, "headers");
	const char *confirm;

	if (rule_template(rp, o, "url", true, &a->url) != 0 ||
	    rule_string(rp, o, "confirmationUrl", false, &confirm) != 0 ||
	    rule_integer(rp, o, "timeoutMs", 100, 60000, RULE_HTTP_TIMEOUT_MS,
	    &a->timeout_ms) != 0 ||
	    rule_integer(rp, o, "retries", 0, 10, RULE_HTTP_RETRIES,
	    &a->retries) != 0)
		return -1;
	if (json_object_get(o, "auth") != NULL)
		return rule_fail(rp, "'auth' (SigV4) is not supported");
	if (confirm != NULL && !rule_confirmation_url(rp, o, confirm))
		return -1;
	if (confirm != NULL)
		a->confirmation_url = rule_strdup(confirm);
	return headers != NULL ? rule_pairs(rp, headers, a, true) : 0;
}

static int
rule_redis_command(struct rule_parse *rp, const char *c,
    struct strata_rule_action *a)
{
	if (strcmp(c, "XADD") == 0)
		a->command = STRATA_RULE_REDIS_XADD;
	else if (strcmp(c, "LPUSH") == 0)
		a->command = STRATA_RULE_REDIS_LPUSH;
	else if (strcmp(c, "HSET") == 0)
		a->command = STRATA_RULE_REDIS_HSET;
	else
		return rule_fail(rp, "'command' must be XADD, LPUSH or HSET");
	return 0;
}

static int
rule_redis(struct rule_parse *rp, const json_t *o,
    struct strata_rule_action *a)
{
	const char *url, *command;

	if (rule_string(rp, o, "url", true, &url) != 0 ||
	    rule_string(rp, o, "command", true, &command) != 0 ||
	    rule_redis_command(rp, command, a) != 0 ||
	    rule_template(rp, o, "key", true, &a->key) != 0 ||
	    rule_template(rp, o, "field", a->command ==
	    STRATA_RULE_REDIS_HSET, &a->field) != 0 ||
	    rule_integer(rp, o, "maxLength", 0, 1000000000, 0,
	    &a->max_length) != 0)
		return -1;
	if (strncmp(url, "redis://", 8) != 0 &&
	    strncmp(url, "rediss://", 9) != 0)
		return rule_fail(rp, "'url' must be redis://[user[:password]@]"
		    "host[:port][/db] or rediss://...");
	a->redis_url = rule_strdup(url);
	return 0;
}

static int
rule_kafka(struct rule_parse *rp, const json_t *o,
    struct strata_rule_action *a)
{
	const json_t *props = json_object_get(o, "clientProperties");
	const json_t *headers = json_object_get(o, "headers");
	const char *k;
	const json_t *v;

	if (rule_template(rp, o, "topic", true, &a->topic) != 0 ||
	    rule_template(rp, o, "key", false, &a->key) != 0 ||
	    rule_template(rp, o, "partition", false, &a->partition) != 0)
		return -1;
	if (!json_is_object(props) ||
	    !json_is_string(json_object_get(props, "bootstrap.servers")))
		return rule_fail(rp, "'clientProperties' must be an object "
		    "with \"bootstrap.servers\"");
	json_object_foreach((json_t *)props, k, v)
		if (!json_is_string(v))
			return rule_fail(rp, "clientProperties.%s must be a "
			    "string", k);
	a->client_properties = json_incref((json_t *)props);
	return headers != NULL ? rule_pairs(rp, headers, a, false) : 0;
}

static int
rule_file(struct rule_parse *rp, const json_t *o, struct strata_rule_action *a)
{
	const char *path;

	if (rule_string(rp, o, "path", true, &path) != 0 ||
	    rule_integer(rp, o, "maxBytes", 1024, 1L << 40,
	    RULE_FILE_MAX_BYTES, &a->max_bytes) != 0 ||
	    rule_integer(rp, o, "maxFiles", 1, 100, RULE_FILE_MAX_FILES,
	    &a->max_files) != 0)
		return -1;
	if (path[0] == '\0' || path[0] == '/' || strstr(path, "..") != NULL)
		return rule_fail(rp, "'path' must be relative to rulesd's "
		    "file directory, without '..'");
	a->path = rule_strdup(path);
	return 0;
}

static const struct {
	const char *name;
	enum strata_rule_action_kind kind;
	int (*parse)(struct rule_parse *, const json_t *,
	    struct strata_rule_action *);
} rule_kinds[] = {
	{"republish", STRATA_RULE_REPUBLISH, rule_republish},
	{"http", STRATA_RULE_HTTP, rule_http},
	{"redis", STRATA_RULE_REDIS, rule_redis},
	{"kafka", STRATA_RULE_KAFKA, rule_kafka},
	{"file", STRATA_RULE_FILE, rule_file},
};
#define RULE_N_KINDS (sizeof(rule_kinds) / sizeof(rule_kinds[0]))

/* One action object: {"<kind>": {...}}. */
static int
rule_action(struct rule_parse *rp, const json_t *v,
    struct strata_rule_action *a)
{
	const char *kind;
	const json_t *spec;
	size_t base = strlen(rp->where);

	if (!json_is_object(v) || json_object_size(v) != 1)
		return rule_fail(rp, "an action is an object with exactly one "
		    "member, its kind (republish, http, redis, kafka, file)");
	json_object_foreach((json_t *)v, kind, spec)
		break;
	for (size_t i = 0; i < RULE_N_KINDS; i++) {
		if (strcmp(rule_kinds[i].name, kind) != 0)
			continue;
		if (!json_is_object(spec))
			return rule_fail(rp, "'%s' must be an object", kind);
		a->kind = rule_kinds[i].kind;
		a->name = rule_kinds[i].name;
		a->spec = json_incref((json_t *)spec);
		snprintf(rp->where + base, sizeof(rp->where) - base, ".%s",
		    kind);
		return rule_kinds[i].parse(rp, spec, a);
	}
	return rule_fail(rp, "action '%s' is not supported (republish, http, "
	    "redis, kafka, file)", kind);
}

/* ---- the payload ---- */

static int
rule_sql(struct rule_parse *rp, struct strata_rule *r, const char *sql)
{
	struct strata_sql_error e;

	r->sql_text = rule_strdup(sql);
	r->sql = strata_sql_parse(sql, strlen(sql), &e);
	if (r->sql != NULL)
		return 0;
	if (rp->err != NULL) {
		rp->err->line = e.line;
		rp->err->column = e.column;
	}
	return rule_fail(rp, "sql: %s", e.message);
}

static int
rule_actions(struct rule_parse *rp, struct strata_rule *r,
    const json_t *list)
{
	const json_t *v;
	size_t i;

	if (list == NULL)
		return 0;
	if (!json_is_array(list) ||
	    json_array_size(list) > STRATA_RULE_MAX_ACTIONS)
		return rule_fail(rp, "'actions' must be a list of at most %d "
		    "actions", STRATA_RULE_MAX_ACTIONS);
	r->actions = calloc(json_array_size(list) + 1, sizeof(*r->actions));
	if (r->actions == NULL)
		abort();
	json_array_foreach(list, i, v) {
		snprintf(rp->where, sizeof(rp->where), "actions[%zu]", i);
		r->n_actions++;
		if (rule_action(rp, v, &r->actions[i]) != 0)
			return -1;
	}
	rp->where[0] = '\0';
	return 0;
}

static int
rule_members(struct rule_parse *rp, struct strata_rule *r, const json_t *doc)
{
	const json_t *disabled = json_object_get(doc, "ruleDisabled");
	const json_t *error_action = json_object_get(doc, "errorAction");
	const char *sql, *description, *version;

	if (!json_is_object(doc))
		return rule_fail(rp, "the payload must be a JSON object");
	if (rule_string(rp, doc, "sql", true, &sql) != 0 ||
	    rule_string(rp, doc, "description", false, &description) != 0 ||
	    rule_string(rp, doc, "awsIotSqlVersion", false, &version) != 0)
		return -1;
	if (disabled != NULL && !json_is_boolean(disabled))
		return rule_fail(rp, "'ruleDisabled' must be true or false");
	if (version != NULL && strcmp(version, "2015-10-08") != 0 &&
	    strcmp(version, "2016-03-23") != 0 && strcmp(version, "beta") != 0)
		return rule_fail(rp, "'awsIotSqlVersion' must be 2015-10-08, "
		    "2016-03-23 or beta");
	r->disabled = json_is_true(disabled);
	r->description = rule_strdup(description != NULL ? description : "");
	r->sql_version = rule_strdup(version != NULL ? version :
	    RULE_DEFAULT_SQL_VERSION);
	if (rule_sql(rp, r, sql) != 0 ||
	    rule_actions(rp, r, json_object_get(doc, "actions")) != 0)
		return -1;
	if (error_action == NULL)
		return 0;
	r->error_action = calloc(1, sizeof(*r->error_action));
	if (r->error_action == NULL)
		abort();
	snprintf(rp->where, sizeof(rp->where), "errorAction");
	return rule_action(rp, error_action, r->error_action);
}

struct strata_rule *
strata_rule_parse(const char *payload, size_t len,
    struct strata_rule_error *err)
{
	struct rule_parse rp = {err, ""};
	struct strata_rule *r;
	json_error_t je;
	json_t *doc;

	if (err != NULL)
		memset(err, 0, sizeof(*err));
	if (len > STRATA_RULE_MAX_PAYLOAD) {
		rule_fail(&rp, "the payload is over %d bytes",
		    STRATA_RULE_MAX_PAYLOAD);
		return NULL;
	}
	doc = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &je);
	if (doc == NULL) {
		rule_fail(&rp, "invalid JSON at line %d, column %d: %s",
		    je.line, je.column, je.text);
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		abort();
	if (rule_members(&rp, r, doc) != 0) {
		strata_rule_free(r);
		r = NULL;
	}
	json_decref(doc);
	return r;
}

/* ---- freeing ---- */

static void
rule_action_clear(struct strata_rule_action *a)
{
	struct strata_sql_template *const ts[] = {a->topic, a->url,
	    a->payload_format, a->content_type, a->response_topic,
	    a->correlation_data, a->message_expiry, a->key, a->field,
	    a->partition};

	for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++)
		strata_sql_template_free(ts[i]);
	for (size_t i = 0; i < a->n_pairs; i++) {
		strata_sql_template_free(a->pairs[i].key);
		strata_sql_template_free(a->pairs[i].value);
	}
	free(a->pairs);
	free(a->confirmation_url);
	free(a->redis_url);
	free(a->path);
	json_decref(a->client_properties);
	json_decref(a->spec);
}

void
strata_rule_free(struct strata_rule *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n_actions; i++)
		rule_action_clear(&r->actions[i]);
	free(r->actions);
	if (r->error_action != NULL)
		rule_action_clear(r->error_action);
	free(r->error_action);
	strata_sql_free(r->sql);
	free(r->sql_text);
	free(r->description);
	free(r->sql_version);
	free(r);
}

bool
strata_rule_name_valid(const char *name, size_t len)
{
	if (len == 0 || len > STRATA_RULE_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= 'A' && name[i] <= 'Z') ||
		    (name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
			return false;
	return true;
}
