/*
 * shadow.c - the Device Shadow document engine: validate a request,
 * merge it into the stored document, compute the delta, build the
 * payloads.
 *
 * An update goes decode -> validate -> load -> version check -> apply:
 *
 *   1. the request is parsed and checked whole (clientToken, version,
 *      state and its two sections, nesting depth, nulls in arrays, size)
 *      before anything is built from it, so that every size below is
 *      bounded by the limits of shadow.h;
 *   2. the stored document is checked as strictly as a request: it comes
 *      from Redis, and a document that is not exactly the stored form
 *      (the metadata mirroring the state) is refused with 500 instead of
 *      being half understood;
 *   3. the request's sections are merged into copies of the stored ones,
 *      key by key: null removes, an object merges into an object, any
 *      other value (arrays included) replaces; the metadata follows each
 *      change with the update's timestamp;
 *   4. the new stored document is built from the merged copies, and each
 *      payload from the new document (deep copies: no two results share
 *      a node).
 *
 * jansson's iterators take non-const values; the engine only reads its
 * arguments (shadow_mutable() is the one place that casts).
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shadow.h"

/* AWS's message texts (Device Shadow error messages). */
#define SHADOW_MSG_INVALID_JSON "Invalid JSON"
#define SHADOW_MSG_NO_STATE "Missing required node: state"
#define SHADOW_MSG_STATE_OBJECT "State node must be an object"
#define SHADOW_MSG_DESIRED_OBJECT "Desired node must be an object"
#define SHADOW_MSG_REPORTED_OBJECT "Reported node must be an object"
#define SHADOW_MSG_INVALID_NODE "State contains an invalid node: '%s'"
#define SHADOW_MSG_VERSION "Invalid version"
#define SHADOW_MSG_TOKEN "Invalid clientToken"
#define SHADOW_MSG_DEPTH                                                      \
	"JSON contains too many levels of nesting; maximum is %d"
#define SHADOW_MSG_CONFLICT "Version conflict"
#define SHADOW_MSG_TOO_LARGE "The payload exceeds the maximum size allowed"
#define SHADOW_MSG_ENCODING                                                   \
	"Unsupported documented encoding; supported encoding is UTF-8"
#define SHADOW_MSG_NOT_FOUND "No shadow exists"
#define SHADOW_MSG_NOT_FOUND_NAME "No shadow exists with name: '%s'"
#define SHADOW_MSG_INTERNAL "Internal service failure"

/* Digits of a real in the compact form: fewest that read back. */
#define SHADOW_REAL_DIGITS_MIN 15
#define SHADOW_REAL_DIGITS_MAX 17

/* A request, validated.  Pointers are borrowed from root. */
struct shadow_request {
	json_t *root;
	json_t *state;    /* an object, or null: clear both sections */
	json_t *desired;  /* member of state: object, null, NULL if absent */
	json_t *reported; /* likewise */
	const char *token;
	bool has_version;
	json_int_t version;
};

/* A stored document as the engine reads it.  Pointers are borrowed. */
struct shadow_doc {
	bool exists;        /* false: never existed, or deleted */
	json_int_t version; /* 0 when it never existed; a marker's */
	json_t *desired, *reported;
	json_t *meta_desired, *meta_reported;
};

/* ---- small helpers --------------------------------------------------- */

/* v, or abort: every object the engine builds is bounded (shadow.h). */
static json_t *
shadow_ok(json_t *v)
{
	if (v == NULL)
		abort();
	return v;
}

static void
shadow_put(json_t *obj, const char *key, json_t *value)
{
	if (json_object_set_new(obj, key, shadow_ok(value)) != 0)
		abort();
}

static void
shadow_append(json_t *arr, json_t *value)
{
	if (json_array_append_new(arr, shadow_ok(value)) != 0)
		abort();
}

static json_t *
shadow_copy(const json_t *v)
{
	return shadow_ok(json_deep_copy(v));
}

/* jansson's getters and iterators take json_t *; the engine only reads
 * what it is given through this. */
static json_t *
shadow_mutable(const json_t *v)
{
	return (json_t *)v;
}

/* Cut s, which snprintf cut short, after its last whole UTF-8
 * sequence: a message must stay a JSON string. */
static void
shadow_utf8_trim(char *s)
{
	size_t len = strlen(s), lead = len, need;
	unsigned char c;

	while (lead > 0 && ((unsigned char)s[lead - 1] & 0xC0) == 0x80)
		lead--;
	if (lead == 0 || (unsigned char)s[lead - 1] < 0x80)
		return;
	c = (unsigned char)s[lead - 1];
	need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
	if (len - (lead - 1) < need)
		s[lead - 1] = '\0';
}

static int
shadow_fail(struct strata_shadow_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (err == NULL)
		return -1;
	err->code = code;
	va_start(ap, fmt);
	n = vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(err->message))
		shadow_utf8_trim(err->message);
	return -1;
}

static int
shadow_internal(struct strata_shadow_error *err)
{
	return shadow_fail(err, STRATA_SHADOW_INTERNAL, SHADOW_MSG_INTERNAL);
}

/* Add key: s to obj, unless s is NULL or not UTF-8 (a caller's string:
 * left out rather than published broken). */
static void
shadow_put_string(json_t *obj, const char *key, const char *s)
{
	json_t *v = s != NULL ? json_string(s) : NULL;

	if (v != NULL)
		shadow_put(obj, key, v);
}

static void
shadow_put_token(json_t *payload, const char *token)
{
	shadow_put_string(payload, "clientToken", token);
}

/* ---- the compact form and sizes -------------------------------------- */

static int
shadow_real_digits(double d)
{
	char buf[40];

	for (int p = SHADOW_REAL_DIGITS_MIN; p < SHADOW_REAL_DIGITS_MAX; p++) {
		snprintf(buf, sizeof(buf), "%.*g", p, d);
		if (strtod(buf, NULL) == d)
			return p;
	}
	return SHADOW_REAL_DIGITS_MAX;
}

/* The digits that every real of v needs, at least digits. */
static int
shadow_precision(json_t *v, int digits)
{
	const char *key;
	json_t *child;
	size_t i;
	int d;

	if (json_is_real(v)) {
		d = shadow_real_digits(json_real_value(v));
		return d > digits ? d : digits;
	}
	if (json_is_object(v))
		json_object_foreach(v, key, child)
			digits = shadow_precision(child, digits);
	if (json_is_array(v))
		json_array_foreach(v, i, child)
			digits = shadow_precision(child, digits);
	return digits;
}

static size_t
shadow_dump_flags(const json_t *v)
{
	int digits =
	    shadow_precision(shadow_mutable(v), SHADOW_REAL_DIGITS_MIN);

	return JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(digits);
}

char *
strata_shadow_dumps(const json_t *doc)
{
	if (doc == NULL)
		return NULL;
	return json_dumps(doc, shadow_dump_flags(doc));
}

/* Bytes of a section in the compact form; an empty or absent one (or
 * null) counts nothing. */
static size_t
shadow_section_size(const json_t *section)
{
	if (!json_is_object(section) || json_object_size(section) == 0)
		return 0;
	return json_dumpb(section, NULL, 0, shadow_dump_flags(section));
}

static bool
shadow_state_too_large(const json_t *desired, const json_t *reported)
{
	return shadow_section_size(desired) + shadow_section_size(reported) >
	       STRATA_SHADOW_MAX_STATE_BYTES;
}

/* ---- validating what comes in ---------------------------------------- */

/* Levels of v counting v itself (a scalar: 0), but at most limit + 1:
 * the recursion stops there, whatever the input's depth. */
static int
shadow_depth(json_t *v, int limit)
{
	const char *key;
	json_t *child;
	size_t i;
	int deepest = 0, d;

	if (!json_is_object(v) && !json_is_array(v))
		return 0;
	if (limit == 0)
		return 1;
	if (json_is_object(v))
		json_object_foreach(v, key, child) {
			d = shadow_depth(child, limit - 1);
			deepest = d > deepest ? d : deepest;
		}
	else
		json_array_foreach(v, i, child) {
			d = shadow_depth(child, limit - 1);
			deepest = d > deepest ? d : deepest;
		}
	return deepest + 1;
}

/* Does v hold a null inside an array (at any depth below it)?  AWS:
 * "Arrays can't have null values". */
static bool
shadow_null_in_array(json_t *v, bool in_array)
{
	const char *key;
	json_t *child;
	size_t i;

	if (json_is_null(v))
		return in_array;
	if (json_is_object(v))
		json_object_foreach(v, key, child) {
			if (shadow_null_in_array(child, in_array))
				return true;
		}
	if (json_is_array(v))
		json_array_foreach(v, i, child) {
			if (shadow_null_in_array(child, true))
				return true;
		}
	return false;
}

/* A request's desired or reported (absent, null or an object). */
static int
shadow_check_section(
    json_t *section, const char *not_object, struct strata_shadow_error *err)
{
	if (section == NULL || json_is_null(section))
		return 0;
	if (!json_is_object(section))
		return shadow_fail(err, STRATA_SHADOW_BAD_REQUEST, not_object);
	if (shadow_depth(section, STRATA_SHADOW_MAX_DEPTH) >
	    STRATA_SHADOW_MAX_DEPTH)
		return shadow_fail(err, STRATA_SHADOW_BAD_REQUEST,
		    SHADOW_MSG_DEPTH, STRATA_SHADOW_MAX_DEPTH);
	if (shadow_null_in_array(section, false))
		return shadow_fail(
		    err, STRATA_SHADOW_BAD_REQUEST, SHADOW_MSG_INVALID_JSON);
	return 0;
}

/* The request's state: null, or an object of desired and reported. */
static int
shadow_check_state(struct shadow_request *req, struct strata_shadow_error *err)
{
	const char *key;
	json_t *v;

	req->state = json_object_get(req->root, "state");
	if (req->state == NULL)
		return shadow_fail(
		    err, STRATA_SHADOW_BAD_REQUEST, SHADOW_MSG_NO_STATE);
	if (json_is_null(req->state))
		return 0;
	if (!json_is_object(req->state))
		return shadow_fail(
		    err, STRATA_SHADOW_BAD_REQUEST, SHADOW_MSG_STATE_OBJECT);
	json_object_foreach(req->state, key, v) {
		if (strcmp(key, "desired") != 0 &&
		    strcmp(key, "reported") != 0)
			return shadow_fail(err, STRATA_SHADOW_BAD_REQUEST,
			    SHADOW_MSG_INVALID_NODE, key);
	}
	req->desired = json_object_get(req->state, "desired");
	req->reported = json_object_get(req->state, "reported");
	if (shadow_check_section(req->desired, SHADOW_MSG_DESIRED_OBJECT, err))
		return -1;
	return shadow_check_section(
	    req->reported, SHADOW_MSG_REPORTED_OBJECT, err);
}

/* The clientToken of root: 0 with *token (NULL when absent or null), or
 * -1 when it is not a string of at most the limit's bytes. */
static int
shadow_token(json_t *root, const char **token)
{
	json_t *v = json_object_get(root, "clientToken");

	*token = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v) ||
	    json_string_length(v) > STRATA_SHADOW_MAX_TOKEN_BYTES)
		return -1;
	*token = json_string_value(v);
	return 0;
}

/* The request's version: absent or null (no check), or an integer of at
 * least 0. */
static int
shadow_request_version(
    struct shadow_request *req, struct strata_shadow_error *err)
{
	json_t *v = json_object_get(req->root, "version");

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return shadow_fail(
		    err, STRATA_SHADOW_BAD_REQUEST, SHADOW_MSG_VERSION);
	req->has_version = true;
	req->version = json_integer_value(v);
	return 0;
}

/* The request as a JSON object into req->root (which the caller frees,
 * also on failure). */
static int
shadow_load_request(const char *request, size_t len,
    struct shadow_request *req, struct strata_shadow_error *err)
{
	json_error_t jerr;

	if (len > STRATA_SHADOW_MAX_REQUEST_BYTES)
		return shadow_fail(
		    err, STRATA_SHADOW_TOO_LARGE, SHADOW_MSG_TOO_LARGE);
	req->root =
	    request != NULL ? json_loadb(request, len, 0, &jerr) : NULL;
	if (req->root == NULL && request != NULL &&
	    json_error_code(&jerr) == json_error_invalid_utf8)
		return shadow_fail(
		    err, STRATA_SHADOW_UNSUPPORTED_MEDIA, SHADOW_MSG_ENCODING);
	if (req->root == NULL || !json_is_object(req->root))
		return shadow_fail(
		    err, STRATA_SHADOW_BAD_REQUEST, SHADOW_MSG_INVALID_JSON);
	return 0;
}

static int
shadow_parse(const char *request, size_t len, struct shadow_request *req,
    struct strata_shadow_error *err)
{
	memset(req, 0, sizeof(*req));
	if (shadow_load_request(request, len, req, err) != 0)
		return -1;
	if (shadow_token(req->root, &req->token) != 0)
		return shadow_fail(
		    err, STRATA_SHADOW_BAD_REQUEST, SHADOW_MSG_TOKEN);
	if (shadow_request_version(req, err) != 0 ||
	    shadow_check_state(req, err) != 0)
		return -1;
	if (shadow_state_too_large(req->desired, req->reported))
		return shadow_fail(
		    err, STRATA_SHADOW_TOO_LARGE, SHADOW_MSG_TOO_LARGE);
	return 0;
}

/* ---- the stored document --------------------------------------------- */

/* Does meta mirror value: {"timestamp": integer} for each scalar, the
 * same keys for objects, the same length for arrays?  value's depth is
 * checked first, which bounds the recursion. */
static bool
shadow_meta_mirrors(json_t *value, json_t *meta)
{
	const char *key;
	json_t *child;
	size_t i;

	if (json_is_object(value)) {
		if (!json_is_object(meta) ||
		    json_object_size(meta) != json_object_size(value))
			return false;
		json_object_foreach(value, key, child) {
			if (!shadow_meta_mirrors(
			        child, json_object_get(meta, key)))
				return false;
		}
		return true;
	}
	if (json_is_array(value)) {
		if (!json_is_array(meta) ||
		    json_array_size(meta) != json_array_size(value))
			return false;
		json_array_foreach(value, i, child) {
			if (!shadow_meta_mirrors(
			        child, json_array_get(meta, i)))
				return false;
		}
		return true;
	}
	return json_is_object(meta) && json_object_size(meta) == 1 &&
	       json_is_integer(json_object_get(meta, "timestamp"));
}

/* obj is an object with exactly the n members names[0..n-1]. */
static bool
shadow_has_members(json_t *obj, const char *const names[], size_t n)
{
	if (!json_is_object(obj) || json_object_size(obj) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (json_object_get(obj, names[i]) == NULL)
			return false;
	return true;
}

/* {"desired": {...}, "reported": {...}} */
static bool
shadow_is_sections(json_t *v)
{
	static const char *const names[] = {"desired", "reported"};

	return shadow_has_members(v, names, 2) &&
	       json_is_object(json_object_get(v, "desired")) &&
	       json_is_object(json_object_get(v, "reported"));
}

static bool
shadow_version_valid(json_t *v, json_int_t least)
{
	return json_is_integer(v) && json_integer_value(v) >= least &&
	       json_integer_value(v) <= STRATA_SHADOW_MAX_VERSION;
}

/* Point doc at the parts of a document of the stored form (unchecked:
 * one the engine built, or one shadow_load checked). */
static void
shadow_view(json_t *stored, struct shadow_doc *doc)
{
	json_t *state = json_object_get(stored, "state");
	json_t *meta = json_object_get(stored, "metadata");

	doc->exists = true;
	doc->version = json_integer_value(json_object_get(stored, "version"));
	doc->desired = json_object_get(state, "desired");
	doc->reported = json_object_get(state, "reported");
	doc->meta_desired = json_object_get(meta, "desired");
	doc->meta_reported = json_object_get(meta, "reported");
}

/* A shadow's stored document: the members, their types, each section's
 * depth, the metadata mirroring the state. */
static bool
shadow_load_shadow(json_t *stored, struct shadow_doc *doc)
{
	static const char *const names[] = {
	    "state", "metadata", "version", "timestamp"};

	if (!shadow_has_members(stored, names, 4) ||
	    !shadow_is_sections(json_object_get(stored, "state")) ||
	    !shadow_is_sections(json_object_get(stored, "metadata")) ||
	    !shadow_version_valid(json_object_get(stored, "version"), 1) ||
	    !json_is_integer(json_object_get(stored, "timestamp")))
		return false;
	shadow_view(stored, doc);
	return shadow_depth(doc->desired, STRATA_SHADOW_MAX_DEPTH) <=
	           STRATA_SHADOW_MAX_DEPTH &&
	       shadow_depth(doc->reported, STRATA_SHADOW_MAX_DEPTH) <=
	           STRATA_SHADOW_MAX_DEPTH &&
	       shadow_meta_mirrors(doc->desired, doc->meta_desired) &&
	       shadow_meta_mirrors(doc->reported, doc->meta_reported);
}

/* {"deleted": true, "version": N} */
static bool
shadow_load_marker(json_t *stored, struct shadow_doc *doc)
{
	static const char *const names[] = {"deleted", "version"};
	json_t *version = json_object_get(stored, "version");

	if (!shadow_has_members(stored, names, 2) ||
	    !json_is_true(json_object_get(stored, "deleted")) ||
	    !shadow_version_valid(version, 0))
		return false;
	doc->version = json_integer_value(version);
	return true;
}

/* Read stored (NULL: never existed) into doc, or 500. */
static int
shadow_load(const json_t *stored, struct shadow_doc *doc,
    struct strata_shadow_error *err)
{
	json_t *s = shadow_mutable(stored);

	memset(doc, 0, sizeof(*doc));
	if (s == NULL)
		return 0;
	if (json_object_get(s, "deleted") != NULL) {
		if (!shadow_load_marker(s, doc))
			return shadow_internal(err);
		return 0;
	}
	if (!shadow_load_shadow(s, doc))
		return shadow_internal(err);
	return 0;
}

/* ---- merge ----------------------------------------------------------- */

/* The metadata of v set at now: {"timestamp": now} for each scalar (and
 * for a null: how the accepted payload shows a removal), objects and
 * arrays mirrored. */
static json_t *
shadow_meta_new(json_t *v, json_int_t now)
{
	const char *key;
	json_t *child, *meta;
	size_t i;

	if (json_is_object(v)) {
		meta = shadow_ok(json_object());
		json_object_foreach(v, key, child)
			shadow_put(meta, key, shadow_meta_new(child, now));
		return meta;
	}
	if (json_is_array(v)) {
		meta = shadow_ok(json_array());
		json_array_foreach(v, i, child)
			shadow_append(meta, shadow_meta_new(child, now));
		return meta;
	}
	return shadow_ok(json_pack("{sI}", "timestamp", now));
}

/*
 * Merge patch (an object of the request) into section and its metadata
 * meta, in place: null removes a key and its metadata; an object merges
 * into an object (replacing any other value by an empty object first);
 * anything else, arrays included, replaces the value and gets new
 * metadata.  Keys the patch does not name keep their value and metadata.
 */
static void
shadow_merge(json_t *section, json_t *meta, json_t *patch, json_int_t now)
{
	const char *key;
	json_t *value;

	json_object_foreach(patch, key, value) {
		if (json_is_null(value)) {
			json_object_del(section, key);
			json_object_del(meta, key);
		} else if (json_is_object(value)) {
			if (!json_is_object(json_object_get(section, key))) {
				shadow_put(section, key, json_object());
				shadow_put(meta, key, json_object());
			}
			shadow_merge(json_object_get(section, key),
			    json_object_get(meta, key), value, now);
		} else {
			shadow_put(section, key, shadow_copy(value));
			shadow_put(meta, key, shadow_meta_new(value, now));
		}
	}
}

/* Copies of a stored section and its metadata (empty ones when there is
 * none), then the request's patch applied: null (or clear, the request's
 * whole state null) empties the section. */
static void
shadow_update_section(json_t *section, json_t *meta, json_t *patch, bool clear,
    json_int_t now, json_t **new_section, json_t **new_meta)
{
	if (clear || json_is_null(patch) || section == NULL) {
		*new_section = shadow_ok(json_object());
		*new_meta = shadow_ok(json_object());
	} else {
		*new_section = shadow_copy(section);
		*new_meta = shadow_copy(meta);
	}
	if (!clear && json_is_object(patch))
		shadow_merge(*new_section, *new_meta, patch, now);
}

/* The stored form, taking the four sections. */
static json_t *
shadow_stored_new(json_t *sections[4], json_int_t version, json_int_t now)
{
	return shadow_ok(json_pack("{s:{s:o,s:o},s:{s:o,s:o},s:I,s:I}",
	    "state", "desired", sections[0], "reported", sections[1],
	    "metadata", "desired", sections[2], "reported", sections[3],
	    "version", version, "timestamp", now));
}

/* ---- delta ----------------------------------------------------------- */

/* Equal as the delta compares: numbers by value (1 and 1.0 are equal),
 * arrays element by element, objects key by key, the rest as jansson. */
static bool
shadow_equal(json_t *a, json_t *b)
{
	const char *key;
	json_t *child;
	size_t i;

	if (json_is_integer(a) && json_is_integer(b))
		return json_integer_value(a) == json_integer_value(b);
	if (json_is_number(a) && json_is_number(b))
		return json_number_value(a) == json_number_value(b);
	if (json_is_array(a) && json_is_array(b)) {
		if (json_array_size(a) != json_array_size(b))
			return false;
		json_array_foreach(a, i, child) {
			if (!shadow_equal(child, json_array_get(b, i)))
				return false;
		}
		return true;
	}
	if (json_is_object(a) && json_is_object(b)) {
		if (json_object_size(a) != json_object_size(b))
			return false;
		json_object_foreach(a, key, child) {
			json_t *other = json_object_get(b, key);

			if (other == NULL || !shadow_equal(child, other))
				return false;
		}
		return true;
	}
	return json_equal(a, b);
}

/*
 * What of desired differs from reported: each key of desired absent from
 * reported or with another value; where both are objects, only what
 * differs inside (the path to the root kept).  Arrays and scalars are
 * compared whole.  Keys only in reported do not count.
 */
static json_t *
shadow_delta(json_t *desired, json_t *reported)
{
	json_t *delta = shadow_ok(json_object()), *want, *have, *inner;
	const char *key;

	json_object_foreach(desired, key, want) {
		have = json_object_get(reported, key);
		if (json_is_object(want) && json_is_object(have)) {
			inner = shadow_delta(want, have);
			if (json_object_size(inner) > 0)
				shadow_put(delta, key, inner);
			else
				json_decref(inner);
		} else if (have == NULL || !shadow_equal(want, have)) {
			shadow_put(delta, key, shadow_copy(want));
		}
	}
	return delta;
}

/* The metadata of delta (a part of desired) from desired's metadata. */
static json_t *
shadow_delta_meta(json_t *delta, json_t *meta)
{
	json_t *out = shadow_ok(json_object()), *value, *m;
	const char *key;

	json_object_foreach(delta, key, value) {
		m = json_object_get(meta, key);
		if (json_is_object(value))
			shadow_put(out, key, shadow_delta_meta(value, m));
		else
			shadow_put(out, key, shadow_copy(m));
	}
	return out;
}

/* ---- payloads -------------------------------------------------------- */

/* {"desired", "reported"} of the non-empty ones of the two (copies), and
 * "delta" when given and not empty. */
static json_t *
shadow_sections_out(json_t *desired, json_t *reported, json_t *delta)
{
	json_t *out = shadow_ok(json_object());

	if (json_object_size(desired) > 0)
		shadow_put(out, "desired", shadow_copy(desired));
	if (json_object_size(reported) > 0)
		shadow_put(out, "reported", shadow_copy(reported));
	if (delta != NULL && json_object_size(delta) > 0)
		shadow_put(out, "delta", shadow_copy(delta));
	return out;
}

/* previous / current of update/documents: state, metadata, version. */
static json_t *
shadow_snapshot(const struct shadow_doc *doc)
{
	json_t *out = shadow_ok(json_object());

	shadow_put(out, "state",
	    shadow_sections_out(doc->desired, doc->reported, NULL));
	shadow_put(out, "metadata",
	    shadow_sections_out(doc->meta_desired, doc->meta_reported, NULL));
	shadow_put(out, "version", json_integer(doc->version));
	return out;
}

static json_t *
shadow_accepted(
    const struct shadow_request *req, json_int_t version, json_int_t now)
{
	json_t *out = shadow_ok(json_object());

	shadow_put(out, "state", shadow_copy(req->state));
	shadow_put(out, "metadata", shadow_meta_new(req->state, now));
	shadow_put(out, "version", json_integer(version));
	shadow_put(out, "timestamp", json_integer(now));
	shadow_put_token(out, req->token);
	return out;
}

/* update/delta of doc, or NULL when desired and reported agree. */
static json_t *
shadow_delta_payload(
    const struct shadow_doc *doc, const char *token, json_int_t now)
{
	json_t *delta = shadow_delta(doc->desired, doc->reported), *out;

	if (json_object_size(delta) == 0) {
		json_decref(delta);
		return NULL;
	}
	out = shadow_ok(json_object());
	shadow_put(out, "state", delta);
	shadow_put(
	    out, "metadata", shadow_delta_meta(delta, doc->meta_desired));
	shadow_put(out, "version", json_integer(doc->version));
	shadow_put(out, "timestamp", json_integer(now));
	shadow_put_token(out, token);
	return out;
}

static json_t *
shadow_documents(const struct shadow_doc *previous,
    const struct shadow_doc *current, const char *token, json_int_t now)
{
	json_t *out = shadow_ok(json_object());

	shadow_put(out, "previous",
	    previous->exists ? shadow_snapshot(previous) : json_null());
	shadow_put(out, "current", shadow_snapshot(current));
	shadow_put(out, "timestamp", json_integer(now));
	shadow_put_token(out, token);
	return out;
}

/* ---- update ---------------------------------------------------------- */

static int
shadow_check_version(const struct shadow_request *req,
    const struct shadow_doc *doc, struct strata_shadow_error *err)
{
	if (req->has_version && req->version != doc->version)
		return shadow_fail(
		    err, STRATA_SHADOW_CONFLICT, SHADOW_MSG_CONFLICT);
	if (doc->version >= STRATA_SHADOW_MAX_VERSION)
		return shadow_internal(err);
	return 0;
}

/* Merge req into doc and build every result into out. */
static int
shadow_apply(const struct shadow_request *req, const struct shadow_doc *doc,
    json_int_t now, struct strata_shadow_update_result *out,
    struct strata_shadow_error *err)
{
	bool clear = json_is_null(req->state);
	struct shadow_doc current;
	json_t *sections[4];

	shadow_update_section(doc->desired, doc->meta_desired, req->desired,
	    clear, now, &sections[0], &sections[2]);
	shadow_update_section(doc->reported, doc->meta_reported, req->reported,
	    clear, now, &sections[1], &sections[3]);
	if (shadow_state_too_large(sections[0], sections[1])) {
		for (int i = 0; i < 4; i++)
			json_decref(sections[i]);
		return shadow_fail(
		    err, STRATA_SHADOW_TOO_LARGE, SHADOW_MSG_TOO_LARGE);
	}
	out->stored = shadow_stored_new(sections, doc->version + 1, now);
	shadow_view(out->stored, &current);
	out->accepted = shadow_accepted(req, current.version, now);
	out->delta = shadow_delta_payload(&current, req->token, now);
	out->documents = shadow_documents(doc, &current, req->token, now);
	return 0;
}

int
strata_shadow_update(const json_t *stored, const char *request, size_t len,
    long long now_s, struct strata_shadow_update_result *out,
    struct strata_shadow_error *err)
{
	struct shadow_request req;
	struct shadow_doc doc;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = shadow_parse(request, len, &req, err);
	if (rc == 0)
		rc = shadow_load(stored, &doc, err);
	if (rc == 0)
		rc = shadow_check_version(&req, &doc, err);
	if (rc == 0)
		rc = shadow_apply(&req, &doc, now_s, out, err);
	json_decref(req.root);
	return rc;
}

void
strata_shadow_update_result_clear(struct strata_shadow_update_result *r)
{
	json_decref(r->stored);
	json_decref(r->accepted);
	json_decref(r->delta);
	json_decref(r->documents);
	memset(r, 0, sizeof(*r));
}

/* ---- get, delete, errors --------------------------------------------- */

/* The shadow of stored, or -1 with 404 (none) or 500 (not a document). */
static int
shadow_load_existing(const json_t *stored, struct shadow_doc *doc,
    struct strata_shadow_error *err)
{
	if (shadow_load(stored, doc, err) != 0)
		return -1;
	if (!doc->exists)
		return shadow_fail(
		    err, STRATA_SHADOW_NOT_FOUND, SHADOW_MSG_NOT_FOUND);
	return 0;
}

json_t *
strata_shadow_get(const json_t *stored, const char *client_token,
    long long now_s, struct strata_shadow_error *err)
{
	struct shadow_doc doc;
	json_t *out, *delta;

	if (shadow_load_existing(stored, &doc, err) != 0)
		return NULL;
	delta = shadow_delta(doc.desired, doc.reported);
	out = shadow_ok(json_object());
	shadow_put(out, "state",
	    shadow_sections_out(doc.desired, doc.reported, delta));
	shadow_put(out, "metadata",
	    shadow_sections_out(doc.meta_desired, doc.meta_reported, NULL));
	shadow_put(out, "version", json_integer(doc.version));
	shadow_put(out, "timestamp", json_integer(now_s));
	shadow_put_token(out, client_token);
	json_decref(delta);
	return out;
}

json_t *
strata_shadow_delete(const json_t *stored, const char *client_token,
    long long now_s, json_t **new_stored, struct strata_shadow_error *err)
{
	struct shadow_doc doc;
	json_t *out;

	*new_stored = NULL;
	if (shadow_load_existing(stored, &doc, err) != 0)
		return NULL;
	*new_stored = shadow_ok(
	    json_pack("{sbsI}", "deleted", 1, "version", doc.version));
	out = shadow_ok(json_object());
	shadow_put(out, "version", json_integer(doc.version));
	shadow_put(out, "timestamp", json_integer(now_s));
	shadow_put_token(out, client_token);
	return out;
}

json_t *
strata_shadow_error_body(const struct strata_shadow_error *err,
    const char *client_token, long long now_s)
{
	json_t *out = shadow_ok(json_object());

	shadow_put(out, "code", json_integer(err->code));
	shadow_put_string(out, "message", err->message);
	shadow_put(out, "timestamp", json_integer(now_s));
	shadow_put_token(out, client_token);
	return out;
}

void
strata_shadow_error_not_found(
    struct strata_shadow_error *err, const char *name)
{
	shadow_fail(err, STRATA_SHADOW_NOT_FOUND, SHADOW_MSG_NOT_FOUND_NAME,
	    name != NULL ? name : "");
}

const char *
strata_shadow_request_token(
    const char *payload, size_t len, char buf[STRATA_SHADOW_TOKEN_BUF])
{
	struct shadow_request req;
	const char *token = NULL;

	memset(&req, 0, sizeof(req));
	if (shadow_load_request(payload, len, &req, NULL) == 0 &&
	    shadow_token(req.root, &token) == 0 && token != NULL) {
		snprintf(buf, STRATA_SHADOW_TOKEN_BUF, "%s", token);
		token = buf;
	} else {
		token = NULL;
	}
	json_decref(req.root);
	return token;
}
