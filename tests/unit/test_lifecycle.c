/*
 * test_lifecycle.c - lifecycle event messages: topics, the JSON of each
 * event type read back with jansson (field names, order, types), string
 * escaping, sizing with a buffer too small, the client ids that get no
 * events, and the disconnectReason of every way a connection ends.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "lifecycle.h"
#include "status.h"

static struct strata_lifecycle_event
event(enum strata_lifecycle_type type, const char *client_id)
{
	struct strata_lifecycle_event e;

	memset(&e, 0, sizeof(e));
	e.type = type;
	e.client_id = client_id;
	e.client_id_len = strlen(client_id);
	e.timestamp_ms = 1573002230757ull;
	e.session_id = "00000000000000010000000000000002";
	e.principal = "";
	e.ip = "192.0.2.7";
	e.ip_len = strlen(e.ip);
	e.version = 12;
	e.reason = "CONNECTION_LOST";
	return e;
}

/* The JSON of e with topics, NUL-terminated, into buf (cap bytes);
 * returns its length. */
static size_t
encode(const struct strata_lifecycle_event *e, const char *const *topics,
    char *buf, size_t cap)
{
	struct strata_lifecycle_out o = {buf, cap, 0, 0};
	size_t n;

	strata_lifecycle_begin(&o, e);
	for (; topics != NULL && *topics != NULL; topics++)
		strata_lifecycle_add_topic(&o, *topics, strlen(*topics));
	n = strata_lifecycle_end(&o, e);
	if (n < cap)
		buf[n] = '\0';
	return n;
}

static json_t *
parse(const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, 0, &err);

	if (j == NULL)
		fail_msg("not JSON (%s): %s", err.text, text);
	return j;
}

/* The keys of object j, in order, joined by ','. */
static void
keys_of(json_t *j, char *out, size_t cap)
{
	const char *key;
	json_t *v;

	out[0] = '\0';
	json_object_foreach(j, key, v) {
		if (out[0] != '\0')
			strncat(out, ",", cap - strlen(out) - 1);
		strncat(out, key, cap - strlen(out) - 1);
	}
}

static void
test_topics(void **state)
{
	char buf[128];
	struct strata_lifecycle_out o = {buf, sizeof(buf), 0, 0};

	strata_lifecycle_topic(&o, STRATA_LIFECYCLE_CONNECTED, "dev-1", 5);
	assert_int_equal(o.len,
	    strlen("$aws/events/presence/connected/dev-1"));
	assert_memory_equal(buf, "$aws/events/presence/connected/dev-1",
	    o.len);
	o.len = 0;
	strata_lifecycle_topic(&o, STRATA_LIFECYCLE_UNSUBSCRIBED, "a/b", 3);
	assert_memory_equal(buf, "$aws/events/subscriptions/unsubscribed/a/b",
	    o.len);
	assert_string_equal(strata_lifecycle_type_name(
	    STRATA_LIFECYCLE_DISCONNECTED), "disconnected");
}

static void
test_connected(void **state)
{
	struct strata_lifecycle_event e = event(STRATA_LIFECYCLE_CONNECTED,
	    "dev-1");
	char buf[512], keys[256];
	json_t *j;

	encode(&e, NULL, buf, sizeof(buf));
	j = parse(buf);
	keys_of(j, keys, sizeof(keys));
	assert_string_equal(keys, "clientId,timestamp,eventType,"
	    "sessionIdentifier,principalIdentifier,ipAddress,versionNumber");
	assert_string_equal(json_string_value(json_object_get(j, "clientId")),
	    "dev-1");
	assert_true(json_is_integer(json_object_get(j, "timestamp")));
	assert_int_equal(json_integer_value(json_object_get(j, "timestamp")),
	    1573002230757ll);
	assert_string_equal(json_string_value(json_object_get(j,
	    "eventType")), "connected");
	assert_string_equal(json_string_value(json_object_get(j,
	    "ipAddress")), "192.0.2.7");
	assert_string_equal(json_string_value(json_object_get(j,
	    "principalIdentifier")), "");
	assert_int_equal(json_integer_value(json_object_get(j,
	    "versionNumber")), 12);
	json_decref(j);
}

static void
test_disconnected(void **state)
{
	struct strata_lifecycle_event e = event(
	    STRATA_LIFECYCLE_DISCONNECTED, "dev-1");
	char buf[512], keys[256];
	json_t *j;

	e.client_initiated = true;
	e.reason = "CLIENT_INITIATED_DISCONNECT";
	e.principal = "ab12";
	encode(&e, NULL, buf, sizeof(buf));
	j = parse(buf);
	keys_of(j, keys, sizeof(keys));
	assert_string_equal(keys, "clientId,timestamp,eventType,"
	    "sessionIdentifier,principalIdentifier,clientInitiatedDisconnect,"
	    "disconnectReason,versionNumber");
	assert_true(json_is_true(json_object_get(j,
	    "clientInitiatedDisconnect")));
	assert_string_equal(json_string_value(json_object_get(j,
	    "disconnectReason")), "CLIENT_INITIATED_DISCONNECT");
	assert_string_equal(json_string_value(json_object_get(j,
	    "principalIdentifier")), "ab12");
	json_decref(j);
	e.client_initiated = false;
	encode(&e, NULL, buf, sizeof(buf));
	j = parse(buf);
	assert_true(json_is_false(json_object_get(j,
	    "clientInitiatedDisconnect")));
	json_decref(j);
}

static void
test_subscriptions(void **state)
{
	static const char *const topics[] = {"a/+/c", "$share/g/x", "#",
	    NULL};
	struct strata_lifecycle_event e = event(STRATA_LIFECYCLE_SUBSCRIBED,
	    "dev-1");
	char buf[512], keys[256];
	json_t *j, *t;

	encode(&e, topics, buf, sizeof(buf));
	j = parse(buf);
	keys_of(j, keys, sizeof(keys));
	assert_string_equal(keys, "clientId,timestamp,eventType,"
	    "sessionIdentifier,principalIdentifier,topics");
	t = json_object_get(j, "topics");
	assert_true(json_is_array(t));
	assert_int_equal(json_array_size(t), 3);
	assert_string_equal(json_string_value(json_array_get(t, 0)), "a/+/c");
	assert_string_equal(json_string_value(json_array_get(t, 1)),
	    "$share/g/x");
	assert_string_equal(json_string_value(json_array_get(t, 2)), "#");
	json_decref(j);
	/* no topic: an empty array */
	e.type = STRATA_LIFECYCLE_UNSUBSCRIBED;
	encode(&e, NULL, buf, sizeof(buf));
	j = parse(buf);
	assert_string_equal(json_string_value(json_object_get(j,
	    "eventType")), "unsubscribed");
	assert_int_equal(json_array_size(json_object_get(j, "topics")), 0);
	json_decref(j);
}

/* Quotes, backslashes, control characters and UTF-8 survive a round
 * trip through a JSON parser. */
static void
test_escaping(void **state)
{
	static const char id[] =
	    "q\"b\\s\x01\x1f\n\t\x7f-\xc3\xa9-\xe2\x82\xac";
	static const char *const topics[] = {"x/\"y\"/\\", NULL};
	struct strata_lifecycle_event e = event(STRATA_LIFECYCLE_SUBSCRIBED,
	    id);
	char buf[512];
	json_t *j;

	encode(&e, topics, buf, sizeof(buf));
	j = parse(buf);
	assert_string_equal(json_string_value(json_object_get(j, "clientId")),
	    id);
	assert_string_equal(json_string_value(json_array_get(json_object_get(
	    j, "topics"), 0)), "x/\"y\"/\\");
	json_decref(j);
}

/* A buffer too small: the bytes that fit are written, the length counts
 * them all, and a second pass with that length writes the same message
 * as one large buffer does. */
static void
test_sizing(void **state)
{
	static const char *const topics[] = {"a/b", "c/\"d\"", NULL};
	struct strata_lifecycle_event e = event(STRATA_LIFECYCLE_SUBSCRIBED,
	    "dev\\1");
	char big[512], small[16], *exact;
	size_t n, m;

	n = encode(&e, topics, big, sizeof(big));
	assert_true(n < sizeof(big));
	memset(small, 'Z', sizeof(small));
	m = encode(&e, topics, small, sizeof(small));
	assert_int_equal(m, n);
	assert_memory_equal(small, big, sizeof(small));
	exact = malloc(n);
	assert_non_null(exact);
	{
		struct strata_lifecycle_out o = {exact, n, 0, 0};
		const char *const *t;

		strata_lifecycle_begin(&o, &e);
		for (t = topics; *t != NULL; t++)
			strata_lifecycle_add_topic(&o, *t, strlen(*t));
		assert_int_equal(strata_lifecycle_end(&o, &e), n);
	}
	assert_memory_equal(exact, big, n);
	free(exact);
	/* counting alone: no buffer at all */
	assert_int_equal(encode(&e, topics, NULL, 0), n);
}

static void
test_client_ok(void **state)
{
	assert_true(strata_lifecycle_client_ok("dev-1", 5));
	assert_true(strata_lifecycle_client_ok("a/b", 3));
	assert_false(strata_lifecycle_client_ok("a+b", 3));
	assert_false(strata_lifecycle_client_ok("#", 1));
	assert_false(strata_lifecycle_client_ok("", 0));
}

static void
test_reserved(void **state)
{
	assert_true(strata_lifecycle_reserved(
	    "$aws/events/presence/connected/x", 32));
	assert_true(strata_lifecycle_reserved("$aws/events/", 12));
	assert_false(strata_lifecycle_reserved("$aws/events", 11));
	assert_false(strata_lifecycle_reserved("$aws/things/t/shadow", 20));
	assert_false(strata_lifecycle_reserved("aws/events/x", 12));
#define R(t) strata_lifecycle_reserved(t, strlen(t))
	assert_true(R("$aws/things/t1/defender/violations/in-alarm"));
	assert_true(R("$aws/things/t1/defender/violations"));
	assert_false(R("$aws/things/t1/defender/violationsx"));
	assert_false(R("$aws/things/t1/defender/metrics/json"));
	assert_false(R("$aws/things/t1/defender"));
	assert_false(R("$aws/things/defender/violations"));
#undef R
}

static void
test_reasons(void **state)
{
	static const struct {
		uint8_t rc;
		const char *name;
	} cases[] = {
	    {0, "CONNECTION_LOST"},
	    {STRATA_RC_KEEPALIVE_TIMEOUT, "MQTT_KEEP_ALIVE_TIMEOUT"},
	    {STRATA_RC_SESSION_TAKEN_OVER, "DUPLICATE_CLIENTID"},
	    {STRATA_RC_NOT_AUTHORIZED, "AUTH_ERROR"},
	    {STRATA_RC_BAD_USER_PASS, "AUTH_ERROR"},
	    {STRATA_RC_BANNED, "FORBIDDEN_ACCESS"},
	    {STRATA_RC_SERVER_SHUTTING_DOWN, "SERVER_INITIATED_DISCONNECT"},
	    {STRATA_RC_ADMIN_ACTION, "SERVER_INITIATED_DISCONNECT"},
	    {STRATA_RC_QUOTA_EXCEEDED, "THROTTLED"},
	    {STRATA_RC_MESSAGE_RATE_TOO_HIGH, "THROTTLED"},
	    {STRATA_RC_SERVER_BUSY, "SERVER_ERROR"},
	    {STRATA_RC_PROTOCOL_ERROR, "CLIENT_ERROR"},
	    {STRATA_RC_MALFORMED, "CLIENT_ERROR"},
	    {STRATA_RC_PACKET_TOO_LARGE, "CLIENT_ERROR"},
	    {STRATA_RC_RECEIVE_MAX_EXCEEDED, "CLIENT_ERROR"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(strata_lifecycle_reason(cases[i].rc,
		    false), cases[i].name);
	/* the client's DISCONNECT wins over anything noted before */
	assert_string_equal(strata_lifecycle_reason(0, true),
	    "CLIENT_INITIATED_DISCONNECT");
	assert_string_equal(strata_lifecycle_reason(
	    STRATA_RC_PROTOCOL_ERROR, true), "CLIENT_INITIATED_DISCONNECT");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_topics),
	    cmocka_unit_test(test_connected),
	    cmocka_unit_test(test_disconnected),
	    cmocka_unit_test(test_subscriptions),
	    cmocka_unit_test(test_escaping),
	    cmocka_unit_test(test_sizing),
	    cmocka_unit_test(test_client_ok),
	    cmocka_unit_test(test_reserved),
	    cmocka_unit_test(test_reasons),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
