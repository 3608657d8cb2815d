/*
 * fuzz_shadow.c - libFuzzer target for the Device Shadow document engine:
 * a stored document and a run of requests applied to it one after the
 * other, each result fed back as the next stored document.
 *
 * The first byte holds flags; the rest is sections separated by NUL
 * bytes.
 *   flags  bit 0: section 0 is the initial stored document (JSON; one
 *          that does not parse starts from none); else there is none and
 *          every section is a request
 *   [..] requests: "GET" and "DELETE" (optionally followed by a space
 *        and a get or delete payload, whose clientToken is used) get or
 *        delete the shadow; anything else is an update request
 * Request i runs at time 1000 + i.
 *
 * Invariants, for every request:
 *   - a refusal has an AWS code (400, 404, 409, 413, 415, 500), a
 *     message, all results NULL, and the stored document is kept;
 *   - an accepted update's stored version is the old one plus one (none
 *     or a deleted marker counts as its marker's version, none as 0), and
 *     accepted, delta and documents carry it; documents.previous is null
 *     exactly when there was no shadow;
 *   - the new stored document reads back (get succeeds), its state is at
 *     most STRATA_SHADOW_MAX_STATE_BYTES, its compact form parses back
 *     equal;
 *   - the delta is published exactly when get shows one, equal to it;
 *     its keys (at every depth) are keys of desired, its metadata names
 *     the same keys, and it holds every key of desired that reported
 *     lacks or holds another value for (objects compared member by
 *     member, numbers by value), and no other;
 *   - the new state is the old one with the request applied: a null
 *     removed its key, an object merged into an object, any other value
 *     replaced with metadata of the update's time; keys the request
 *     does not name kept their value and metadata; a null section (or
 *     state) emptied it;
 *   - the clientToken echoed is the one strata_shadow_request_token
 *     reads from the request;
 *   - a delete leaves the marker of the deleted version, after which get
 *     and delete answer 404.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shadow.h"

#define FUZZ_T0 1000

/* Next NUL-separated section of [*p, end): its start and length, or
 * false past the end. */
static bool
fuzz_next(const char **p, const char *end, const char **sec, size_t *len)
{
	const char *stop;

	if (*p > end)
		return false;
	stop = memchr(*p, '\0', (size_t)(end - *p));
	if (stop == NULL)
		stop = end;
	*sec = *p;
	*len = (size_t)(stop - *p);
	*p = stop + 1;
	return true;
}

static void
fuzz_check_error(const struct strata_shadow_error *err)
{
	static const int codes[] = {400, 404, 409, 413, 415, 500};
	json_t *body;
	bool known = false;

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		known = known || err->code == codes[i];
	if (!known ||
	    memchr(err->message, '\0', sizeof(err->message)) == NULL ||
	    err->message[0] == '\0')
		abort();
	body = strata_shadow_error_body(err, "t", 0);
	if (json_object_get(body, "message") == NULL)
		abort();
	json_decref(body);
}

/* The version a new update must produce from stored, minus one. */
static json_int_t
fuzz_old_version(const json_t *stored)
{
	return json_integer_value(json_object_get(stored, "version"));
}

static bool
fuzz_exists(const json_t *stored)
{
	return stored != NULL && json_object_get(stored, "deleted") == NULL;
}

/* delta (a part of desired): every key is desired's, objects recursively,
 * anything else equal to desired's value. */
static bool
fuzz_subset(json_t *delta, json_t *desired)
{
	const char *key;
	json_t *value, *want;

	json_object_foreach(delta, key, value) {
		want = json_object_get(desired, key);
		if (want == NULL)
			return false;
		if (json_is_object(value) && json_is_object(want)) {
			if (!fuzz_subset(value, want))
				return false;
		} else if (!json_equal(value, want)) {
			return false;
		}
	}
	return true;
}

/* Equal for the delta: numbers by value, containers member by member. */
static bool
fuzz_same(json_t *a, json_t *b)
{
	const char *key;
	json_t *v;
	size_t i;

	if (json_is_number(a) && json_is_number(b))
		return json_is_integer(a) && json_is_integer(b)
		           ? json_integer_value(a) == json_integer_value(b)
		           : json_number_value(a) == json_number_value(b);
	if (json_is_array(a) && json_is_array(b)) {
		if (json_array_size(a) != json_array_size(b))
			return false;
		json_array_foreach(a, i, v) {
			if (!fuzz_same(v, json_array_get(b, i)))
				return false;
		}
		return true;
	}
	if (json_is_object(a) && json_is_object(b)) {
		if (json_object_size(a) != json_object_size(b))
			return false;
		json_object_foreach(a, key, v) {
			json_t *w = json_object_get(b, key);

			if (w == NULL || !fuzz_same(v, w))
				return false;
		}
		return true;
	}
	return json_equal(a, b);
}

/* Every key of desired that reported lacks or holds another value for is
 * in delta with desired's value; where both hold objects, recursively
 * (and then delta holds a non-empty object or nothing); no other key is
 * in delta.  delta may be NULL (none). */
static bool
fuzz_delta_complete(json_t *delta, json_t *desired, json_t *reported)
{
	const char *key;
	json_t *want, *have, *got;

	json_object_foreach(desired, key, want) {
		have = json_object_get(reported, key);
		got = json_object_get(delta, key);
		if (json_is_object(want) && json_is_object(have)) {
			if (got != NULL && (!json_is_object(got) ||
			                       json_object_size(got) == 0))
				return false;
			if (!fuzz_delta_complete(got, want, have))
				return false;
		} else if (have == NULL || !fuzz_same(want, have)) {
			if (got == NULL || !json_equal(got, want))
				return false;
		} else if (got != NULL) {
			return false;
		}
	}
	return true;
}

/* metadata names the keys of state, objects recursively. */
static bool
fuzz_same_keys(json_t *state, json_t *metadata)
{
	const char *key;
	json_t *value, *meta;

	json_object_foreach(state, key, value) {
		meta = json_object_get(metadata, key);
		if (meta == NULL)
			return false;
		if (json_is_object(value) && !fuzz_same_keys(value, meta))
			return false;
	}
	return true;
}

static json_int_t
fuzz_version(const json_t *payload)
{
	return json_integer_value(json_object_get(payload, "version"));
}

/* The compact form parses back equal; returns its length. */
static size_t
fuzz_round_trip(const json_t *v)
{
	char *text = strata_shadow_dumps(v);
	json_t *back = json_loads(text, JSON_DECODE_ANY, NULL);
	size_t len = strlen(text);

	if (back == NULL || !json_equal(back, v))
		abort();
	json_decref(back);
	free(text);
	return len;
}

static size_t
fuzz_section_bytes(json_t *section)
{
	if (section == NULL || json_object_size(section) == 0)
		return 0;
	return fuzz_round_trip(section);
}

/* The new stored document: readable, within the limit, and its delta is
 * the one published. */
static void
fuzz_check_stored(const struct strata_shadow_update_result *r)
{
	struct strata_shadow_error err;
	json_t *got = strata_shadow_get(r->stored, NULL, 0, &err);
	json_t *state = json_object_get(got, "state");
	json_t *delta = json_object_get(state, "delta");

	if (got == NULL)
		abort();
	fuzz_round_trip(r->stored);
	if (fuzz_section_bytes(json_object_get(state, "desired")) +
	        fuzz_section_bytes(json_object_get(state, "reported")) >
	    STRATA_SHADOW_MAX_STATE_BYTES)
		abort();
	if ((delta == NULL) != (r->delta == NULL) ||
	    !fuzz_delta_complete(delta, json_object_get(state, "desired"),
	        json_object_get(state, "reported")))
		abort();
	if (delta != NULL &&
	    (!json_equal(delta, json_object_get(r->delta, "state")) ||
	        !fuzz_subset(delta, json_object_get(state, "desired")) ||
	        !fuzz_same_keys(delta, json_object_get(r->delta, "metadata"))))
		abort();
	json_decref(got);
}

/* meta is the metadata of a value set at now: every timestamp is now. */
static bool
fuzz_stamped(json_t *meta, long long now)
{
	const char *key;
	json_t *m;
	size_t i;

	if (json_is_array(meta)) {
		json_array_foreach(meta, i, m) {
			if (!fuzz_stamped(m, now))
				return false;
		}
		return true;
	}
	if (json_object_size(meta) == 1 &&
	    json_is_integer(json_object_get(meta, "timestamp")))
		return json_integer_value(
		           json_object_get(meta, "timestamp")) == now;
	json_object_foreach(meta, key, m) {
		if (!fuzz_stamped(m, now))
			return false;
	}
	return json_is_object(meta);
}

static bool fuzz_merged(json_t *patch, json_t *old, json_t *old_meta,
    json_t *new, json_t *new_meta, long long now);

/* Key key of the patch, value v, was applied: old and new are the
 * sections (and metadata) holding it before and after. */
static bool
fuzz_key_applied(const char *key, json_t *v, json_t *old, json_t *old_meta,
    json_t *new, json_t *new_meta, long long now)
{
	json_t *o = json_object_get(old, key), *n = json_object_get(new, key);

	if (json_is_null(v))
		return n == NULL;
	if (!json_is_object(v))
		return n != NULL && json_equal(n, v) &&
		       fuzz_stamped(json_object_get(new_meta, key), now);
	if (!json_is_object(n))
		return false;
	return json_is_object(o)
	           ? fuzz_merged(v, o, json_object_get(old_meta, key), n,
	                 json_object_get(new_meta, key), now)
	           : fuzz_merged(v, NULL, NULL, n,
	                 json_object_get(new_meta, key), now);
}

/* The section (and metadata) after the update, from the one before
 * (NULL: none) and the request's patch object: a null removed its key,
 * an object merged (into nothing when the old value was no object), any
 * other value set with the update's time; keys the patch does not name
 * kept value and metadata; no other key appeared. */
static bool
fuzz_merged(json_t *patch, json_t *old, json_t *old_meta, json_t *new,
    json_t *new_meta, long long now)
{
	const char *key;
	json_t *v;

	json_object_foreach(patch, key, v) {
		if (!fuzz_key_applied(
		        key, v, old, old_meta, new, new_meta, now))
			return false;
	}
	json_object_foreach(old, key, v) {
		if (json_object_get(patch, key) == NULL &&
		    (!json_equal(v, json_object_get(new, key)) ||
		        !json_equal(json_object_get(old_meta, key),
		            json_object_get(new_meta, key))))
			return false;
	}
	json_object_foreach(new, key, v) {
		if (json_object_get(patch, key) == NULL &&
		    json_object_get(old, key) == NULL)
			return false;
	}
	return true;
}

/* One section (name) of the old and new stored documents, after patch
 * (the request's member: absent, null or an object; clear: the request's
 * state is null). */
static bool
fuzz_section_applied(const json_t *old, const json_t *new, json_t *patch,
    bool clear, const char *name, long long now)
{
	json_t *o = NULL, *om = NULL, *n, *nm;

	if (fuzz_exists(old)) {
		o = json_object_get(json_object_get(old, "state"), name);
		om = json_object_get(json_object_get(old, "metadata"), name);
	}
	n = json_object_get(json_object_get(new, "state"), name);
	nm = json_object_get(json_object_get(new, "metadata"), name);
	if (clear || json_is_null(patch))
		return json_object_size(n) == 0;
	if (patch == NULL)
		return o != NULL ? json_equal(o, n) && json_equal(om, nm)
		                 : json_object_size(n) == 0;
	return fuzz_merged(patch, o, om, n, nm, now);
}

/* The update did to the stored state what the request said. */
static void
fuzz_check_merge(const json_t *old, const json_t *new, const char *req,
    size_t len, long long now)
{
	json_t *root = json_loadb(req, len, 0, NULL);
	json_t *state = json_object_get(root, "state");
	bool clear = json_is_null(state);

	if (root == NULL ||
	    !fuzz_section_applied(old, new, json_object_get(state, "desired"),
	        clear, "desired", now) ||
	    !fuzz_section_applied(old, new, json_object_get(state, "reported"),
	        clear, "reported", now))
		abort();
	json_decref(root);
}

/* The token echoed by payload is the one the request holds. */
static void
fuzz_check_token(const json_t *payload, const char *req, size_t len)
{
	char buf[STRATA_SHADOW_TOKEN_BUF];
	const char *want = strata_shadow_request_token(req, len, buf);
	const char *got =
	    json_string_value(json_object_get(payload, "clientToken"));

	if ((want == NULL) != (got == NULL) ||
	    (want != NULL && strcmp(want, got) != 0))
		abort();
}

static void
fuzz_check_update(const json_t *old,
    const struct strata_shadow_update_result *r, const char *req, size_t len,
    long long now)
{
	json_int_t version = fuzz_old_version(old) + 1;
	json_t *previous = json_object_get(r->documents, "previous");

	if (fuzz_version(r->stored) != version ||
	    fuzz_version(r->accepted) != version ||
	    fuzz_version(json_object_get(r->documents, "current")) !=
	        version ||
	    (r->delta != NULL && fuzz_version(r->delta) != version))
		abort();
	if (json_is_null(previous) == fuzz_exists(old) ||
	    (!json_is_null(previous) && fuzz_version(previous) != version - 1))
		abort();
	fuzz_check_stored(r);
	fuzz_check_merge(old, r->stored, req, len, now);
	fuzz_check_token(r->accepted, req, len);
	fuzz_check_token(r->documents, req, len);
	if (r->delta != NULL)
		fuzz_check_token(r->delta, req, len);
}

/* One update on *stored; *stored becomes the result when accepted. */
static void
fuzz_update(json_t **stored, const char *req, size_t len, long long now)
{
	struct strata_shadow_update_result r;
	struct strata_shadow_error err;

	memset(&err, 0, sizeof(err));
	if (strata_shadow_update(*stored, req, len, now, &r, &err) != 0) {
		if (r.stored != NULL || r.accepted != NULL ||
		    r.delta != NULL || r.documents != NULL)
			abort();
		fuzz_check_error(&err);
		return;
	}
	fuzz_check_update(*stored, &r, req, len, now);
	json_decref(*stored);
	*stored = json_incref(r.stored);
	strata_shadow_update_result_clear(&r);
}

static void
fuzz_get(const json_t *stored, const char *token, long long now)
{
	struct strata_shadow_error err;
	json_t *got = strata_shadow_get(stored, token, now, &err);

	if (got == NULL) {
		fuzz_check_error(&err);
		if (fuzz_exists(stored) && err.code != 500)
			abort();
		return;
	}
	if (!fuzz_exists(stored) || fuzz_version(got) != fuzz_version(stored))
		abort();
	fuzz_round_trip(got);
	json_decref(got);
}

static void
fuzz_delete(json_t **stored, const char *token, long long now)
{
	struct strata_shadow_error err;
	json_t *marker, *out;

	out = strata_shadow_delete(*stored, token, now, &marker, &err);
	if (out == NULL) {
		fuzz_check_error(&err);
		if (marker != NULL)
			abort();
		return;
	}
	if (fuzz_version(out) != fuzz_version(*stored) ||
	    fuzz_version(marker) != fuzz_version(*stored))
		abort();
	json_decref(out);
	json_decref(*stored);
	*stored = marker;
	fuzz_get(*stored, NULL, now); /* 404 now */
	if (strata_shadow_delete(*stored, NULL, now, &marker, &err) != NULL ||
	    err.code != 404)
		abort();
}

/* "GET" or "DELETE" with an optional " payload": the payload's token. */
static bool
fuzz_command(const char *sec, size_t len, const char *word,
    char buf[STRATA_SHADOW_TOKEN_BUF], const char **token)
{
	size_t n = strlen(word);

	if (len < n || memcmp(sec, word, n) != 0 || (len > n && sec[n] != ' '))
		return false;
	*token = len > n ? strata_shadow_request_token(
	                       sec + n + 1, len - n - 1, buf)
	                 : NULL;
	return true;
}

static void
fuzz_request(json_t **stored, const char *sec, size_t len, long long now)
{
	char buf[STRATA_SHADOW_TOKEN_BUF];
	const char *token;

	if (fuzz_command(sec, len, "GET", buf, &token))
		fuzz_get(*stored, token, now);
	else if (fuzz_command(sec, len, "DELETE", buf, &token))
		fuzz_delete(stored, token, now);
	else
		fuzz_update(stored, sec, len, now);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p, *end, *sec;
	json_t *stored = NULL;
	long long now = FUZZ_T0;
	size_t len;

	if (size == 0)
		return 0;
	p = (const char *)data + 1;
	end = (const char *)data + size;
	if ((data[0] & 1) && fuzz_next(&p, end, &sec, &len))
		stored = json_loadb(sec, len, 0, NULL);
	while (fuzz_next(&p, end, &sec, &len))
		fuzz_request(&stored, sec, len, now++);
	json_decref(stored);
	return 0;
}
