/*
 * test_shadow.c - the Device Shadow document engine: merges, metadata,
 * versions, delta, get, delete and the deleted marker, every refusal with
 * AWS's code and message, the stored form checked on the way in.
 *
 * Documents are written with single quotes for readability; doc() turns
 * them into JSON (no test value needs a real single quote).  Times are
 * T1 < T2 < T3.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shadow.h"

#define T1 1000LL
#define T2 2000LL
#define T3 3000LL

/* The text with ' turned into ". Caller frees. */
static char *
doc(const char *s)
{
	char *d = strdup(s);

	assert_non_null(d);
	for (char *p = d; *p != '\0'; p++)
		if (*p == '\'')
			*p = '"';
	return d;
}

static json_t *
parse(const char *text)
{
	char *d = doc(text);
	json_error_t jerr;
	json_t *j = json_loads(d, JSON_DECODE_ANY, &jerr);

	if (j == NULL)
		fail_msg("test JSON does not parse: %s: %s", jerr.text, d);
	free(d);
	return j;
}

/* actual must equal the JSON text want (single quotes). */
static void
assert_json(const json_t *actual, const char *want)
{
	json_t *expected = parse(want);
	char *a, *e;

	if (actual == NULL || !json_equal(actual, expected)) {
		a = actual != NULL ? strata_shadow_dumps(actual) : NULL;
		e = strata_shadow_dumps(expected);
		fail_msg("got      %s\nexpected %s", a ? a : "NULL", e);
	}
	json_decref(expected);
}

/* Apply request (single quotes) to stored at now; must succeed. */
static struct strata_shadow_update_result
update_ok(const json_t *stored, const char *request, long long now)
{
	struct strata_shadow_update_result r;
	struct strata_shadow_error err;
	char *d = doc(request);

	if (strata_shadow_update(stored, d, strlen(d), now, &r, &err) != 0)
		fail_msg("refused %d '%s': %s", err.code, err.message, d);
	free(d);
	return r;
}

/* Apply raw request bytes; must fail with code and message. */
static void
update_fails_raw(const json_t *stored, const char *request, size_t len,
    int code, const char *message)
{
	struct strata_shadow_update_result r;
	struct strata_shadow_error err;

	memset(&err, 0, sizeof(err));
	if (strata_shadow_update(stored, request, len, T2, &r, &err) == 0)
		fail_msg("accepted: %.*s", (int)len, request);
	assert_null(r.stored);
	assert_null(r.accepted);
	assert_null(r.delta);
	assert_null(r.documents);
	if (err.code != code || strcmp(err.message, message) != 0)
		fail_msg("%.*s\nrefused %d '%s'; expected %d '%s'", (int)len,
		    request, err.code, err.message, code, message);
}

static void
update_fails(
    const json_t *stored, const char *request, int code, const char *message)
{
	char *d = doc(request);

	update_fails_raw(stored, d, strlen(d), code, message);
	free(d);
}

/* The stored document after request on a new shadow at now. */
static json_t *
stored_after(const char *request, long long now)
{
	struct strata_shadow_update_result r = update_ok(NULL, request, now);
	json_t *stored = json_incref(r.stored);

	strata_shadow_update_result_clear(&r);
	return stored;
}

/* stored after one more update (which must succeed); stored is consumed. */
static json_t *
then(json_t *stored, const char *request, long long now)
{
	struct strata_shadow_update_result r = update_ok(stored, request, now);
	json_t *next = json_incref(r.stored);

	strata_shadow_update_result_clear(&r);
	json_decref(stored);
	return next;
}

static json_t *
get_ok(const json_t *stored, const char *token, long long now)
{
	struct strata_shadow_error err;
	json_t *out = strata_shadow_get(stored, token, now, &err);

	if (out == NULL)
		fail_msg("get refused %d '%s'", err.code, err.message);
	return out;
}

/* A string of n copies of c. Caller frees. */
static char *
repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* ---- a new shadow, the stored form ----------------------------------- */

static void
test_new_shadow(void **state)
{
	struct strata_shadow_update_result r =
	    update_ok(NULL, "{'state':{'desired':{'color':'red'}}}", T1);

	assert_json(r.stored,
	    "{'state':{'desired':{'color':'red'},'reported':{}},"
	    "'metadata':{'desired':{'color':{'timestamp':1000}},"
	    "'reported':{}},'version':1,'timestamp':1000}");
	assert_json(r.accepted,
	    "{'state':{'desired':{'color':'red'}},"
	    "'metadata':{'desired':{'color':{'timestamp':1000}}},"
	    "'version':1,'timestamp':1000}");
	/* desired with no reported: all of it is the delta */
	assert_json(r.delta, "{'state':{'color':'red'},"
	                     "'metadata':{'color':{'timestamp':1000}},"
	                     "'version':1,'timestamp':1000}");
	assert_json(r.documents,
	    "{'previous':null,'current':{'state':{'desired':{'color':'red'}},"
	    "'metadata':{'desired':{'color':{'timestamp':1000}}},"
	    "'version':1},'timestamp':1000}");
	strata_shadow_update_result_clear(&r);
	assert_null(r.stored);
}

static void
test_reported_only_has_no_delta(void **state)
{
	struct strata_shadow_update_result r =
	    update_ok(NULL, "{'state':{'reported':{'temp':21}}}", T1);

	assert_null(r.delta);
	assert_json(r.accepted,
	    "{'state':{'reported':{'temp':21}},"
	    "'metadata':{'reported':{'temp':{'timestamp':1000}}},"
	    "'version':1,'timestamp':1000}");
	strata_shadow_update_result_clear(&r);
}

/* Unknown members of the request are ignored (AWS: content outside the
 * sections is not stored), and so is a metadata member. */
static void
test_other_request_members_ignored(void **state)
{
	struct strata_shadow_update_result r = update_ok(NULL,
	    "{'state':{'reported':{'a':1}},'metadata':{'x':1},'foo':[1],"
	    "'timestamp':5}",
	    T1);

	assert_json(r.stored,
	    "{'state':{'desired':{},'reported':{'a':1}},"
	    "'metadata':{'desired':{},'reported':{'a':{'timestamp':1000}}},"
	    "'version':1,'timestamp':1000}");
	strata_shadow_update_result_clear(&r);
}

static void
test_empty_state_is_an_update(void **state)
{
	json_t *s = stored_after("{'state':{'reported':{'a':1}}}", T1);
	struct strata_shadow_update_result r =
	    update_ok(s, "{'state':{}}", T2);

	assert_json(r.stored,
	    "{'state':{'desired':{},'reported':{'a':1}},"
	    "'metadata':{'desired':{},'reported':{'a':{'timestamp':1000}}},"
	    "'version':2,'timestamp':2000}");
	assert_json(r.accepted,
	    "{'state':{},'metadata':{},'version':2,'timestamp':2000}");
	strata_shadow_update_result_clear(&r);
	json_decref(s);
}

/* ---- merge and metadata ---------------------------------------------- */

static void
test_nested_merge_keeps_other_keys(void **state)
{
	json_t *s = stored_after("{'state':{'reported':{'color':{'r':255,"
	                         "'g':255,'b':0},'engine':'OFF'}}}",
	    T1);
	struct strata_shadow_update_result r =
	    update_ok(s, "{'state':{'reported':{'color':{'g':0}}}}", T2);

	assert_json(r.stored,
	    "{'state':{'desired':{},'reported':{'color':{'r':255,'g':0,'b':0},"
	    "'engine':'OFF'}},'metadata':{'desired':{},'reported':{"
	    "'color':{'r':{'timestamp':1000},'g':{'timestamp':2000},"
	    "'b':{'timestamp':1000}},'engine':{'timestamp':1000}}},"
	    "'version':2,'timestamp':2000}");
	/* accepted: the metadata of what the request set only */
	assert_json(r.accepted,
	    "{'state':{'reported':{'color':{'g':0}}},'metadata':{'reported':{"
	    "'color':{'g':{'timestamp':2000}}}},'version':2,"
	    "'timestamp':2000}");
	strata_shadow_update_result_clear(&r);
	json_decref(s);
}

static void
test_null_removes_key_and_metadata(void **state)
{
	json_t *s = stored_after("{'state':{'desired':{'engine':'ON','lights':"
	                         "{'front':1,'back':2}}}}",
	    T1);
	struct strata_shadow_update_result r = update_ok(s,
	    "{'state':{'desired':{'engine':null,'lights':{'back':null},"
	    "'none':null,'lights2':{'x':null}}}}",
	    T2);

	/* a null for a missing key removes nothing; an object created by
	 * the update stays, even when all it got was nulls */
	assert_json(r.stored,
	    "{'state':{'desired':{'lights':{'front':1},'lights2':{}},"
	    "'reported':{}},'metadata':{'desired':{'lights':{'front':"
	    "{'timestamp':1000}},'lights2':{}},'reported':{}},"
	    "'version':2,'timestamp':2000}");
	/* accepted echoes the nulls, each with a timestamp */
	assert_json(r.accepted,
	    "{'state':{'desired':{'engine':null,'lights':{'back':null},"
	    "'none':null,'lights2':{'x':null}}},'metadata':{'desired':{"
	    "'engine':{'timestamp':2000},'lights':{'back':{'timestamp':2000}},"
	    "'none':{'timestamp':2000},'lights2':{'x':{'timestamp':2000}}}},"
	    "'version':2,'timestamp':2000}");
	strata_shadow_update_result_clear(&r);
	json_decref(s);
}

static void
test_section_null_clears_it(void **state)
{
	json_t *s = stored_after("{'state':{'desired':{'color':'red'},'"
	                         "reported':{'color':'blue'}}}",
	    T1);
	struct strata_shadow_update_result r = update_ok(
	    s, "{'state':{'reported':{'color':'red'},'desired':null}}", T2);
	json_t *g;

	assert_json(r.stored,
	    "{'state':{'desired':{},'reported':{'color':'red'}},"
	    "'metadata':{'desired':{},'reported':{'color':{'timestamp':2000}}}"
	    ","
	    "'version':2,'timestamp':2000}");
	assert_json(r.accepted,
	    "{'state':{'reported':{'color':'red'},'desired':null},"
	    "'metadata':{'reported':{'color':{'timestamp':2000}},"
	    "'desired':{'timestamp':2000}},'version':2,'timestamp':2000}");
	assert_null(r.delta);
	/* the empty section is left out of what clients see */
	g = get_ok(r.stored, NULL, T3);
	assert_json(g,
	    "{'state':{'reported':{'color':'red'}},'metadata':{'reported':{"
	    "'color':{'timestamp':2000}}},'version':2,'timestamp':3000}");
	json_decref(g);
	strata_shadow_update_result_clear(&r);
	json_decref(s);
}

/* AWS: setting the state to null does not delete the shadow. */
static void
test_state_null_clears_both(void **state)
{
	json_t *s = stored_after(
	    "{'state':{'desired':{'a':1},'reported':{'b':2}}}", T1);
	struct strata_shadow_update_result r =
	    update_ok(s, "{'state':null}", T2);
	json_t *g;

	assert_json(r.stored,
	    "{'state':{'desired':{},'reported':{}},'metadata':{'desired':{},"
	    "'reported':{}},'version':2,'timestamp':2000}");
	assert_json(r.accepted,
	    "{'state':null,'metadata':{'timestamp':2000},'version':2,"
	    "'timestamp':2000}");
	g = get_ok(r.stored, NULL, T3);
	assert_json(g, "{'state':{},'metadata':{},'version':2,"
	               "'timestamp':3000}");
	json_decref(g);
	strata_shadow_update_result_clear(&r);
	json_decref(s);
}

static void
test_arrays_replaced_whole(void **state)
{
	json_t *s = stored_after(
	    "{'state':{'desired':{'colors':['RED','GREEN','BLUE'],'n':1}}}",
	    T1);
	struct strata_shadow_update_result r = update_ok(s,
	    "{'state':{'desired':{'colors':['RED',{'hue':3,'sat':[1,2]}]}}}",
	    T2);

	/* each element gets its own metadata, objects inside mirrored */
	assert_json(r.stored,
	    "{'state':{'desired':{'colors':['RED',{'hue':3,'sat':[1,2]}],"
	    "'n':1},'reported':{}},'metadata':{'desired':{'colors':["
	    "{'timestamp':2000},{'hue':{'timestamp':2000},'sat':["
	    "{'timestamp':2000},{'timestamp':2000}]}],'n':{'timestamp':1000}},"
	    "'reported':{}},'version':2,'timestamp':2000}");
	strata_shadow_update_result_clear(&r);
	s = then(s, "{'state':{'desired':{'colors':[]}}}", T3);
	assert_json(json_object_get(json_object_get(s, "metadata"), "desired"),
	    "{'colors':[],'n':{'timestamp':1000}}");
	json_decref(s);
}

static void
test_value_kinds_replace_each_other(void **state)
{
	json_t *s = stored_after(
	    "{'state':{'reported':{'a':5,'b':{'x':1},'c':[1],'d':'s'}}}", T1);

	s = then(s,
	    "{'state':{'reported':{'a':{'y':2},'b':7,'c':{'z':[true]},"
	    "'d':{}}}}",
	    T2);
	assert_json(s,
	    "{'state':{'desired':{},'reported':{'a':{'y':2},'b':7,"
	    "'c':{'z':[true]},'d':{}}},'metadata':{'desired':{},'reported':{"
	    "'a':{'y':{'timestamp':2000}},'b':{'timestamp':2000},"
	    "'c':{'z':[{'timestamp':2000}]},'d':{}}},'version':2,"
	    "'timestamp':2000}");
	/* an empty object merges nothing into an object */
	s = then(s, "{'state':{'reported':{'a':{}}}}", T3);
	assert_json(json_object_get(json_object_get(s, "state"), "reported"),
	    "{'a':{'y':2},'b':7,'c':{'z':[true]},'d':{}}");
	json_decref(s);
}

/* ---- delta ----------------------------------------------------------- */

static void
test_delta_of_keys_and_nested_objects(void **state)
{
	json_t *s = stored_after("{'state':{'reported':{'color':'GREEN',"
	                         "'engine':'ON','lights':{'color':{'r':255,"
	                         "'g':0,'b':255}}}}}",
	    T1);
	struct strata_shadow_update_result r = update_ok(s,
	    "{'state':{'desired':{'color':'RED','state':'STOP','engine':'ON',"
	    "'lights':{'color':{'r':255,'g':255,'b':255}}}},"
	    "'clientToken':'c1'}",
	    T2);

	/* keys only in reported are not in the delta; nested differences
	 * keep their path to the root */
	assert_json(r.delta,
	    "{'state':{'color':'RED','state':'STOP','lights':{'color':"
	    "{'g':255}}},'metadata':{'color':{'timestamp':2000},"
	    "'state':{'timestamp':2000},'lights':{'color':{'g':"
	    "{'timestamp':2000}}}},'version':2,'timestamp':2000,"
	    "'clientToken':'c1'}");
	strata_shadow_update_result_clear(&r);
	json_decref(s);
}

static void
test_delta_compares_values(void **state)
{
	json_t *s = stored_after("{'state':{'reported':{'i':1,'f':2.5,'arr':"
	                         "[1,2,3],'obj':{'a':1},'str':'x','b':true,"
	                         "'o2':{'k':1}}}}",
	    T1);
	struct strata_shadow_update_result r = update_ok(s,
	    "{'state':{'desired':{'i':1.0,'f':2.5,'arr':[1,2,4],"
	    "'obj':'scalar','str':'x','b':false,'o2':{'k':1.0},"
	    "'arr2':[1]}}}",
	    T2);

	/* 1 and 1.0 are equal; an array differing in one element is
	 * copied whole; a type change copies desired's value */
	assert_json(json_object_get(r.delta, "state"),
	    "{'arr':[1,2,4],'obj':'scalar','b':false,'arr2':[1]}");
	assert_json(json_object_get(r.delta, "metadata"),
	    "{'arr':[{'timestamp':2000},{'timestamp':2000},{'timestamp':2000}]"
	    ","
	    "'obj':{'timestamp':2000},'b':{'timestamp':2000},"
	    "'arr2':[{'timestamp':2000}]}");
	strata_shadow_update_result_clear(&r);
	json_decref(s);
}

/* The delta's metadata is desired's: a device reporting later sees when
 * the desired value was set. */
static void
test_delta_after_report_keeps_desired_times(void **state)
{
	json_t *s = stored_after("{'state':{'desired':{'lock':'unlocked',"
	                         "'light':'on','volume':5}}}",
	    T1);
	struct strata_shadow_update_result r;

	s = then(s,
	    "{'state':{'reported':{'lock':'unlocked','light':'on',"
	    "'volume':5}}}",
	    T2);
	/* a report that matches: no delta due */
	r = update_ok(s, "{'state':{'reported':{'volume':5}}}", T2);
	assert_null(r.delta);
	strata_shadow_update_result_clear(&r);
	/* a report that no longer matches: the delta is published again */
	r = update_ok(s,
	    "{'state':{'reported':{'lock':'locked'}},'clientToken':'dev'}",
	    T3);
	assert_json(r.delta,
	    "{'state':{'lock':'unlocked'},'metadata':{'lock':"
	    "{'timestamp':1000}},'version':3,'timestamp':3000,"
	    "'clientToken':'dev'}");
	strata_shadow_update_result_clear(&r);
	/* a key deleted from reported and still desired is in the delta */
	r = update_ok(s, "{'state':{'reported':{'light':null}}}", T3);
	assert_json(json_object_get(r.delta, "state"), "{'light':'on'}");
	strata_shadow_update_result_clear(&r);
	json_decref(s);
}

static void
test_delta_gone_when_reported_matches(void **state)
{
	json_t *s = stored_after("{'state':{'desired':{'a':{'b':[1,2]},"
	                         "'c':{}}}}",
	    T1);
	struct strata_shadow_update_result r = update_ok(s,
	    "{'state':{'reported':{'a':{'b':[1,2],'extra':1},'c':{'z':1}}}}",
	    T2);
	json_t *g;

	assert_null(r.delta);
	g = get_ok(r.stored, NULL, T3);
	assert_null(json_object_get(json_object_get(g, "state"), "delta"));
	json_decref(g);
	strata_shadow_update_result_clear(&r);
	json_decref(s);
}

/* ---- get ------------------------------------------------------------- */

static void
test_get(void **state)
{
	json_t *s = stored_after(
	    "{'state':{'desired':{'color':'RED','sequence':['RED','GREEN']},"
	    "'reported':{'color':'GREEN'}}}",
	    T1);
	json_t *g;

	g = get_ok(s, "tok", T2);
	/* state.delta when they differ; the metadata has no delta */
	assert_json(g,
	    "{'state':{'desired':{'color':'RED','sequence':['RED','GREEN']},"
	    "'reported':{'color':'GREEN'},'delta':{'color':'RED',"
	    "'sequence':['RED','GREEN']}},'metadata':{'desired':{'color':"
	    "{'timestamp':1000},'sequence':[{'timestamp':1000},"
	    "{'timestamp':1000}]},'reported':{'color':{'timestamp':1000}}},"
	    "'version':1,'timestamp':2000,'clientToken':'tok'}");
	json_decref(g);
	json_decref(s);
}

static void
test_get_not_found(void **state)
{
	struct strata_shadow_error err;
	json_t *marker = parse("{'deleted':true,'version':4}");

	assert_null(strata_shadow_get(NULL, NULL, T1, &err));
	assert_int_equal(err.code, 404);
	assert_string_equal(err.message, "No shadow exists");
	memset(&err, 0, sizeof(err));
	assert_null(strata_shadow_get(marker, "t", T1, &err));
	assert_int_equal(err.code, 404);
	/* the daemon names it as AWS does */
	strata_shadow_error_not_found(&err, "lamp");
	assert_int_equal(err.code, 404);
	assert_string_equal(err.message, "No shadow exists with name: 'lamp'");
	strata_shadow_error_not_found(&err, "lamp~config");
	assert_string_equal(
	    err.message, "No shadow exists with name: 'lamp~config'");
	assert_null(strata_shadow_get(NULL, NULL, T1, NULL));
	json_decref(marker);
}

/* ---- versions -------------------------------------------------------- */

static void
test_version_increments_and_checks(void **state)
{
	json_t *s = stored_after("{'state':{'reported':{'a':1}}}", T1);
	struct strata_shadow_update_result r;

	s = then(s, "{'state':{'reported':{'a':2}}}", T1);
	s = then(s, "{'state':{'reported':{'a':3}},'version':2}", T2);
	assert_int_equal(json_integer_value(json_object_get(s, "version")), 3);
	update_fails(s, "{'state':{'reported':{'a':4}},'version':2}", 409,
	    "Version conflict");
	update_fails(s, "{'state':{'reported':{'a':4}},'version':4}", 409,
	    "Version conflict");
	/* null is no version: no check */
	r = update_ok(s, "{'state':{'reported':{'a':4}},'version':null}", T3);
	assert_json(json_object_get(r.accepted, "version"), "4");
	assert_json(json_object_get(r.documents, "previous"),
	    "{'state':{'reported':{'a':3}},'metadata':{'reported':{'a':"
	    "{'timestamp':2000}}},'version':3}");
	strata_shadow_update_result_clear(&r);
	json_decref(s);
}

static void
test_version_invalid(void **state)
{
	static const char *const bad[] = {
	    "{'state':{},'version':'1'}",
	    "{'state':{},'version':1.0}",
	    "{'state':{},'version':-1}",
	    "{'state':{},'version':true}",
	    "{'state':{},'version':[1]}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		update_fails(NULL, bad[i], 400, "Invalid version");
}

/* A shadow that never existed is at version 0. */
static void
test_version_of_new_shadow(void **state)
{
	struct strata_shadow_update_result r;

	r = update_ok(NULL, "{'state':{'desired':{'a':1}},'version':0}", T1);
	assert_json(json_object_get(r.stored, "version"), "1");
	strata_shadow_update_result_clear(&r);
	update_fails(NULL, "{'state':{'desired':{'a':1}},'version':1}", 409,
	    "Version conflict");
}

/* ---- delete and the deleted marker ----------------------------------- */

static void
test_delete_then_create_again(void **state)
{
	struct strata_shadow_update_result r;
	struct strata_shadow_error err;
	json_t *s = stored_after("{'state':{'reported':{'a':1}}}", T1);
	json_t *marker, *out, *again;

	s = then(s, "{'state':{'reported':{'a':2}}}", T1);
	s = then(s, "{'state':{'reported':{'a':3}}}", T1);
	out = strata_shadow_delete(s, "del", T2, &marker, &err);
	assert_json(out, "{'version':3,'timestamp':2000,'clientToken':'del'}");
	assert_json(marker, "{'deleted':true,'version':3}");
	json_decref(out);
	/* gone: get and delete answer 404 */
	assert_null(strata_shadow_get(marker, NULL, T2, &err));
	assert_int_equal(err.code, 404);
	assert_null(strata_shadow_delete(marker, NULL, T2, &again, &err));
	assert_null(again);
	assert_int_equal(err.code, 404);
	assert_string_equal(err.message, "No shadow exists");
	/* created again: the version goes on, previous is null */
	update_fails(marker, "{'state':{'desired':{'b':1}},'version':2}", 409,
	    "Version conflict");
	r = update_ok(marker, "{'state':{'desired':{'b':1}},'version':3}", T3);
	assert_json(r.stored,
	    "{'state':{'desired':{'b':1},'reported':{}},'metadata':{'desired':"
	    "{'b':{'timestamp':3000}},'reported':{}},'version':4,"
	    "'timestamp':3000}");
	assert_json(json_object_get(r.documents, "previous"), "null");
	assert_json(json_object_get(r.documents, "current"),
	    "{'state':{'desired':{'b':1}},'metadata':{'desired':{'b':"
	    "{'timestamp':3000}}},'version':4}");
	strata_shadow_update_result_clear(&r);
	json_decref(marker);
	json_decref(s);
}

static void
test_delete_not_found(void **state)
{
	struct strata_shadow_error err;
	json_t *marker = (json_t *)&err; /* must be reset to NULL */

	assert_null(strata_shadow_delete(NULL, NULL, T1, &marker, &err));
	assert_null(marker);
	assert_int_equal(err.code, 404);
}

/* ---- clientToken ----------------------------------------------------- */

static void
test_client_token(void **state)
{
	char *tok64 = repeat('t', 64), *tok65 = repeat('t', 65), *req;
	struct strata_shadow_update_result r;
	int n;

	n = asprintf(
	    &req, "{'state':{'desired':{'a':1}},'clientToken':'%s'}", tok64);
	assert_true(n > 0);
	r = update_ok(NULL, req, T1);
	assert_string_equal(
	    json_string_value(json_object_get(r.accepted, "clientToken")),
	    tok64);
	assert_string_equal(
	    json_string_value(json_object_get(r.delta, "clientToken")), tok64);
	assert_string_equal(
	    json_string_value(json_object_get(r.documents, "clientToken")),
	    tok64);
	/* never stored */
	assert_null(json_object_get(r.stored, "clientToken"));
	strata_shadow_update_result_clear(&r);
	free(req);
	n = asprintf(
	    &req, "{'state':{'desired':{'a':1}},'clientToken':'%s'}", tok65);
	assert_true(n > 0);
	update_fails(NULL, req, 400, "Invalid clientToken");
	update_fails(
	    NULL, "{'state':{},'clientToken':5}", 400, "Invalid clientToken");
	update_fails(
	    NULL, "{'state':{},'clientToken':{}}", 400, "Invalid clientToken");
	/* a token is checked before the state */
	update_fails(NULL, "{'clientToken':7}", 400, "Invalid clientToken");
	free(req);
	free(tok64);
	free(tok65);
}

static void
test_request_token(void **state)
{
	char buf[STRATA_SHADOW_TOKEN_BUF];
	char *tok64 = repeat('k', 64), *tok65 = repeat('k', 65), *p;
	const char *t;
	int n;

	p = doc("{'clientToken':'abc','state':{'x':1}}");
	t = strata_shadow_request_token(p, strlen(p), buf);
	assert_ptr_equal(t, buf);
	assert_string_equal(t, "abc");
	free(p);
	n = asprintf(&p, "{\"clientToken\":\"%s\"}", tok64);
	assert_true(n > 0);
	assert_string_equal(
	    strata_shadow_request_token(p, strlen(p), buf), tok64);
	free(p);
	n = asprintf(&p, "{\"clientToken\":\"%s\"}", tok65);
	assert_true(n > 0);
	assert_null(strata_shadow_request_token(p, strlen(p), buf));
	free(p);
	assert_null(strata_shadow_request_token("", 0, buf));
	assert_null(strata_shadow_request_token(NULL, 0, buf));
	assert_null(strata_shadow_request_token("{\"clientToken\":", 15, buf));
	assert_null(strata_shadow_request_token("[\"clientToken\"]", 15, buf));
	assert_null(
	    strata_shadow_request_token("{\"clientToken\":1}", 17, buf));
	assert_null(strata_shadow_request_token("{}", 2, buf));
	free(tok64);
	free(tok65);
}

/* ---- refusals -------------------------------------------------------- */

static void
test_invalid_json(void **state)
{
	static const char *const bad[] = {
	    "",
	    "{",
	    "{'state':{}} x",
	    "['state']",
	    "'state'",
	    "5",
	    "null",
	    "{'state':{'desired':{'a':1,}}}",
	    "{'state':{'desired':{'a':NaN}}}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		update_fails(NULL, bad[i], 400, "Invalid JSON");
	update_fails_raw(NULL, NULL, 0, 400, "Invalid JSON");
	/* a NUL inside a string is not taken */
	update_fails_raw(NULL,
	    "{\"state\":{\"reported\":{\"a\":\"\\u0000\"}}}", 36, 400,
	    "Invalid JSON");
}

static void
test_not_utf8(void **state)
{
	static const char bad[] =
	    "{\"state\":{\"reported\":{\"a\":\"\xff\"}}}";
	static const char bad_key[] =
	    "{\"state\":{\"reported\":{\"\xc3\":1}}}";

	update_fails_raw(NULL, bad, sizeof(bad) - 1, 415,
	    "Unsupported documented encoding; supported encoding is UTF-8");
	update_fails_raw(NULL, bad_key, sizeof(bad_key) - 1, 415,
	    "Unsupported documented encoding; supported encoding is UTF-8");
}

static void
test_state_node_errors(void **state)
{
	update_fails(NULL, "{}", 400, "Missing required node: state");
	update_fails(
	    NULL, "{'State':{}}", 400, "Missing required node: state");
	update_fails(
	    NULL, "{'state':'on'}", 400, "State node must be an object");
	update_fails(
	    NULL, "{'state':[]}", 400, "State node must be an object");
	update_fails(NULL, "{'state':1}", 400, "State node must be an object");
	update_fails(NULL, "{'state':{'delta':{'a':1}}}", 400,
	    "State contains an invalid node: 'delta'");
	update_fails(NULL, "{'state':{'desired':{},'Reported':{}}}", 400,
	    "State contains an invalid node: 'Reported'");
	update_fails(NULL, "{'state':{'desired':5}}", 400,
	    "Desired node must be an object");
	update_fails(NULL, "{'state':{'desired':[]}}", 400,
	    "Desired node must be an object");
	update_fails(NULL, "{'state':{'reported':'x'}}", 400,
	    "Reported node must be an object");
	update_fails(NULL, "{'state':{'reported':true}}", 400,
	    "Reported node must be an object");
}

/* A long key in the message is cut on a character boundary. */
static void
test_invalid_node_message_stays_utf8(void **state)
{
	struct strata_shadow_update_result r;
	struct strata_shadow_error err;
	char req[1024] = "{\"state\":{\"";
	json_t *body;

	for (int i = 0; i < 200; i++)
		strcat(req, "\xc3\xa9"); /* e acute, 2 bytes */
	strcat(req, "\":1}}");
	assert_int_equal(
	    strata_shadow_update(NULL, req, strlen(req), T1, &r, &err), -1);
	assert_int_equal(err.code, 400);
	assert_true(strncmp(err.message, "State contains an invalid node: '",
	                33) == 0);
	body = strata_shadow_error_body(&err, NULL, T1);
	assert_string_equal(
	    json_string_value(json_object_get(body, "message")), err.message);
	json_decref(body);
}

/* The desired or reported object itself is level 1; arrays are levels. */
static void
test_depth(void **state)
{
	static const char *const msg =
	    "JSON contains too many levels of nesting; maximum is 6";
	struct strata_shadow_update_result r;

	r = update_ok(NULL,
	    "{'state':{'desired':{'one':{'two':{'three':{'four':{'five':"
	    "{'x':1}}}}}}}}",
	    T1);
	strata_shadow_update_result_clear(&r);
	r = update_ok(NULL, "{'state':{'reported':{'a':[[[[[1]]]]]}}}", T1);
	strata_shadow_update_result_clear(&r);
	r = update_ok(NULL,
	    "{'state':{'reported':{'a':{'b':{'c':{'d':{'e':[]}}}}}}}", T1);
	strata_shadow_update_result_clear(&r);
	update_fails(NULL,
	    "{'state':{'desired':{'one':{'two':{'three':{'four':{'five':"
	    "{'six':{}}}}}}}}}",
	    400, msg);
	update_fails(
	    NULL, "{'state':{'reported':{'a':[[[[[[1]]]]]]}}}", 400, msg);
	update_fails(NULL,
	    "{'state':{'reported':{'a':{'b':{'c':{'d':{'e':[[]]}}}}}}}", 400,
	    msg);
}

/* AWS: "Arrays can't have null values". */
static void
test_null_in_array(void **state)
{
	update_fails(NULL, "{'state':{'desired':{'colors':[null,'RED']}}}",
	    400, "Invalid JSON");
	update_fails(NULL, "{'state':{'reported':{'a':{'b':[[1,null]]}}}}",
	    400, "Invalid JSON");
	update_fails(NULL, "{'state':{'reported':{'a':[{'b':null}]}}}", 400,
	    "Invalid JSON");
}

/* A request with the state {"reported": {"k": "<n x's>"}}: its reported
 * counts 8 + n bytes in the compact form. */
static char *
request_of_state_size(size_t reported_bytes, const char *space)
{
	char *fill = repeat('x', reported_bytes - 8), *req;
	int n =
	    asprintf(&req, "{%s\"state\"%s:%s{\"reported\":{\"k\":\"%s\"}}}",
	        space, space, space, fill);

	assert_true(n > 0);
	free(fill);
	return req;
}

static void
test_state_size_limit(void **state)
{
	static const char *const msg =
	    "The payload exceeds the maximum size allowed";
	struct strata_shadow_update_result r;
	struct strata_shadow_error err;
	char *req = request_of_state_size(8192, "   \n\t");
	json_t *s;

	/* white space does not count; 8192 bytes are allowed */
	assert_int_equal(
	    strata_shadow_update(NULL, req, strlen(req), T1, &r, &err), 0);
	s = json_incref(r.stored);
	strata_shadow_update_result_clear(&r);
	free(req);
	req = request_of_state_size(8193, "");
	update_fails_raw(NULL, req, strlen(req), 413, msg);
	free(req);
	/* the metadata does not count, the document after the merge does */
	update_fails(s, "{'state':{'desired':{'a':1}}}", 413, msg);
	r = update_ok(
	    s, "{'state':{'reported':{'k':'short'},'desired':{'a':1}}}", T2);
	strata_shadow_update_result_clear(&r);
	json_decref(s);
}

static void
test_request_size_limit(void **state)
{
	size_t len = STRATA_SHADOW_MAX_REQUEST_BYTES + 1;
	struct strata_shadow_update_result r;
	struct strata_shadow_error err;
	char *req = repeat(' ', len);

	memcpy(req, "{\"state\":{}}", 12);
	update_fails_raw(NULL, req, len, 413,
	    "The payload exceeds the maximum size allowed");
	/* the longest request that is read: white space after the object */
	assert_int_equal(
	    strata_shadow_update(NULL, req, len - 1, T1, &r, &err), 0);
	strata_shadow_update_result_clear(&r);
	free(req);
}

/* ---- the stored document on the way in ------------------------------- */

static void
stored_refused(const char *text)
{
	struct strata_shadow_update_result r;
	struct strata_shadow_error err;
	json_t *stored = parse(text), *out, *marker;
	const char *req = "{\"state\":{}}";

	memset(&err, 0, sizeof(err));
	if (strata_shadow_update(stored, req, strlen(req), T2, &r, &err) == 0)
		fail_msg("stored accepted: %s", text);
	assert_int_equal(err.code, 500);
	assert_string_equal(err.message, "Internal service failure");
	assert_null(strata_shadow_get(stored, NULL, T2, &err));
	assert_int_equal(err.code, 500);
	out = strata_shadow_delete(stored, NULL, T2, &marker, &err);
	assert_null(out);
	assert_null(marker);
	assert_int_equal(err.code, 500);
	json_decref(stored);
}

static void
test_stored_form_checked(void **state)
{
	static const char *const bad[] = {
	    "[]",
	    "{}",
	    "{'state':{'desired':{},'reported':{}},'version':1,'timestamp':1}",
	    "{'state':{'desired':{},'reported':{}},'metadata':{'desired':{},"
	    "'reported':{}},'version':0,'timestamp':1}",
	    "{'state':{'desired':{},'reported':{}},'metadata':{'desired':{},"
	    "'reported':{}},'version':'1','timestamp':1}",
	    "{'state':{'desired':{},'reported':{}},'metadata':{'desired':{},"
	    "'reported':{}},'version':1,'timestamp':1.5}",
	    "{'state':{'desired':{},'reported':{}},'metadata':{'desired':{},"
	    "'reported':{}},'version':1,'timestamp':1,'x':1}",
	    "{'state':{'desired':{}},'metadata':{'desired':{},"
	    "'reported':{}},'version':1,'timestamp':1}",
	    "{'state':{'desired':[],'reported':{}},'metadata':{'desired':[],"
	    "'reported':{}},'version':1,'timestamp':1}",
	    /* metadata that does not mirror the state */
	    "{'state':{'desired':{'a':1},'reported':{}},'metadata':{"
	    "'desired':{},'reported':{}},'version':1,'timestamp':1}",
	    "{'state':{'desired':{'a':1},'reported':{}},'metadata':{"
	    "'desired':{'a':{'timestamp':'1'}},'reported':{}},'version':1,"
	    "'timestamp':1}",
	    "{'state':{'desired':{'a':[1,2]},'reported':{}},'metadata':{"
	    "'desired':{'a':[{'timestamp':1}]},'reported':{}},'version':1,"
	    "'timestamp':1}",
	    "{'state':{'desired':{'a':{'b':1}},'reported':{}},'metadata':{"
	    "'desired':{'a':{'timestamp':1}},'reported':{}},'version':1,"
	    "'timestamp':1}",
	    /* deeper than a request may make it */
	    "{'state':{'desired':{},'reported':{'a':[[[[[[1]]]]]]}},'metadata'"
	    ":{"
	    "'desired':{},'reported':{'a':[[[[[[{'timestamp':1}]]]]]]}},"
	    "'version':1,'timestamp':1}",
	    /* markers */
	    "{'deleted':false,'version':1}",
	    "{'deleted':true}",
	    "{'deleted':true,'version':-1}",
	    "{'deleted':true,'version':1,'state':{}}",
	    "{'deleted':1,'version':1}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		stored_refused(bad[i]);
}

static void
test_version_ceiling(void **state)
{
	char text[256];
	json_t *stored;

	snprintf(text, sizeof(text),
	    "{'state':{'desired':{},'reported':{}},'metadata':{'desired':{},"
	    "'reported':{}},'version':%lld,'timestamp':1}",
	    STRATA_SHADOW_MAX_VERSION + 1);
	stored_refused(text);
	snprintf(text, sizeof(text),
	    "{'state':{'desired':{},'reported':{}},'metadata':{'desired':{},"
	    "'reported':{}},'version':%lld,'timestamp':1}",
	    STRATA_SHADOW_MAX_VERSION);
	stored = parse(text);
	update_fails(stored, "{'state':{}}", 500, "Internal service failure");
	json_decref(stored);
}

/* ---- payload details ------------------------------------------------- */

static void
test_error_body(void **state)
{
	struct strata_shadow_error err = {409, "Version conflict"};
	json_t *body = strata_shadow_error_body(&err, "abc", T1);

	assert_json(body, "{'code':409,'message':'Version conflict',"
	                  "'timestamp':1000,'clientToken':'abc'}");
	json_decref(body);
	body = strata_shadow_error_body(&err, NULL, T1);
	assert_json(body,
	    "{'code':409,'message':'Version conflict','timestamp':1000}");
	json_decref(body);
	/* a token that is not UTF-8 is left out */
	body = strata_shadow_error_body(&err, "\xff", T1);
	assert_null(json_object_get(body, "clientToken"));
	json_decref(body);
}

/* No result shares a node with another or with the stored argument. */
static void
test_results_are_independent(void **state)
{
	json_t *s = stored_after("{'state':{'desired':{'a':{'b':1}}}}", T1);
	json_t *copy = json_deep_copy(s);
	struct strata_shadow_update_result r =
	    update_ok(s, "{'state':{'desired':{'a':{'c':[1]}}}}", T2);

	assert_true(json_equal(s, copy));
	json_object_clear(
	    json_object_get(json_object_get(r.accepted, "state"), "desired"));
	json_object_clear(json_object_get(r.delta, "state"));
	json_object_clear(json_object_get(
	    json_object_get(json_object_get(r.documents, "current"), "state"),
	    "desired"));
	assert_json(
	    json_object_get(json_object_get(r.stored, "state"), "desired"),
	    "{'a':{'b':1,'c':[1]}}");
	strata_shadow_update_result_clear(&r);
	json_decref(copy);
	json_decref(s);
}

static void
test_dumps(void **state)
{
	json_t *j = parse("{'a':0.1,'b':[1.5,2],'c':'\\u00e9/'}"), *back;
	char *s = strata_shadow_dumps(j);

	assert_string_equal(
	    s, "{\"a\":0.1,\"b\":[1.5,2],\"c\":\"\xc3\xa9/\"}");
	free(s);
	json_decref(j);
	/* a real that needs 17 digits keeps them, and reads back equal */
	j = json_pack("{sf}", "x", 0.1 + 0.2);
	s = strata_shadow_dumps(j);
	assert_string_equal(s, "{\"x\":0.30000000000000004}");
	back = json_loads(s, 0, NULL);
	assert_true(json_equal(j, back));
	json_decref(back);
	free(s);
	json_decref(j);
	assert_null(strata_shadow_dumps(NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_new_shadow),
	    cmocka_unit_test(test_reported_only_has_no_delta),
	    cmocka_unit_test(test_other_request_members_ignored),
	    cmocka_unit_test(test_empty_state_is_an_update),
	    cmocka_unit_test(test_nested_merge_keeps_other_keys),
	    cmocka_unit_test(test_null_removes_key_and_metadata),
	    cmocka_unit_test(test_section_null_clears_it),
	    cmocka_unit_test(test_state_null_clears_both),
	    cmocka_unit_test(test_arrays_replaced_whole),
	    cmocka_unit_test(test_value_kinds_replace_each_other),
	    cmocka_unit_test(test_delta_of_keys_and_nested_objects),
	    cmocka_unit_test(test_delta_compares_values),
	    cmocka_unit_test(test_delta_after_report_keeps_desired_times),
	    cmocka_unit_test(test_delta_gone_when_reported_matches),
	    cmocka_unit_test(test_get),
	    cmocka_unit_test(test_get_not_found),
	    cmocka_unit_test(test_version_increments_and_checks),
	    cmocka_unit_test(test_version_invalid),
	    cmocka_unit_test(test_version_of_new_shadow),
	    cmocka_unit_test(test_delete_then_create_again),
	    cmocka_unit_test(test_delete_not_found),
	    cmocka_unit_test(test_client_token),
	    cmocka_unit_test(test_request_token),
	    cmocka_unit_test(test_invalid_json),
	    cmocka_unit_test(test_not_utf8),
	    cmocka_unit_test(test_state_node_errors),
	    cmocka_unit_test(test_invalid_node_message_stays_utf8),
	    cmocka_unit_test(test_depth),
	    cmocka_unit_test(test_null_in_array),
	    cmocka_unit_test(test_state_size_limit),
	    cmocka_unit_test(test_request_size_limit),
	    cmocka_unit_test(test_stored_form_checked),
	    cmocka_unit_test(test_version_ceiling),
	    cmocka_unit_test(test_error_body),
	    cmocka_unit_test(test_results_are_independent),
	    cmocka_unit_test(test_dumps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
