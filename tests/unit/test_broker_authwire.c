/*
 * test_broker_authwire.c - the custom authorizer's wire format
 * (broker/authwire.c): the request's JSON, the token in the user name,
 * the cache key, and every way an answer is read: allow, deny, error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "broker.h"

#define DOC "{\\\"Version\\\":\\\"2012-10-17\\\",\\\"Statement\\\":" \
	"{\\\"Effect\\\":\\\"Allow\\\",\\\"Action\\\":\\\"iot:*\\\"," \
	"\\\"Resource\\\":\\\"*\\\"}}"

static struct strata_bytes
bytes(const char *s)
{
	struct strata_bytes b = {(const uint8_t *)s, (uint32_t)strlen(s)};

	return b;
}

static struct strata_mqtt_connect
connect_of(const char *user, const char *password, const char *client_id)
{
	struct strata_mqtt_connect cn;

	memset(&cn, 0, sizeof(cn));
	cn.version = STRATA_MQTT_V5;
	if (user != NULL) {
		cn.has_username = true;
		cn.username = bytes(user);
	}
	if (password != NULL) {
		cn.has_password = true;
		cn.password = bytes(password);
	}
	cn.client_id = bytes(client_id);
	return cn;
}

static void
test_request_tls(void **state)
{
	struct strata_mqtt_connect cn = connect_of("dev?token=abc", "pw",
	    "c1");
	struct broker_authwire_request r = {&cn, "abc", true, "example.com",
	    "00000000-0000-4000-8000-000000000000", "10.0.0.1", NULL};
	char *text = broker_authwire_request(&r);
	json_t *j = json_loads(text, 0, NULL);

	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "token")),
	    "abc");
	assert_true(json_is_false(json_object_get(j, "signatureVerified")));
	assert_int_equal(json_array_size(json_object_get(j, "protocols")), 2);
	assert_string_equal(json_string_value(json_array_get(
	    json_object_get(j, "protocols"), 0)), "tls");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    json_object_get(j, "protocolData"), "tls"), "serverName")),
	    "example.com");
	{
		json_t *m = json_object_get(json_object_get(j, "protocolData"),
		    "mqtt");

		assert_string_equal(json_string_value(json_object_get(m,
		    "username")), "dev?token=abc");
		assert_string_equal(json_string_value(json_object_get(m,
		    "password")), "cHc="); /* base64("pw") */
		assert_string_equal(json_string_value(json_object_get(m,
		    "clientId")), "c1");
	}
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    j, "connectionMetadata"), "id")),
	    "00000000-0000-4000-8000-000000000000");
	json_decref(j);
	free(text);
}

/* Plain TCP, no password, no client id, no token: those fields left
 * out. */
static void
test_request_minimal(void **state)
{
	struct strata_mqtt_connect cn = connect_of("dev", NULL, "");
	struct broker_authwire_request r = {&cn, NULL, false, NULL, "id",
	    NULL, NULL};
	char *text = broker_authwire_request(&r);

	assert_string_equal(text, "{\"signatureVerified\":false,"
	    "\"protocols\":[\"mqtt\"],\"protocolData\":{\"mqtt\":"
	    "{\"username\":\"dev\"}},\"connectionMetadata\":{\"id\":\"id\"}}");
	free(text);
}

/* MQTT over WebSocket: protocolData.http and "http" among protocols. */
static void
test_request_http(void **state)
{
	struct strata_mqtt_connect cn = connect_of("dev", NULL, "");
	json_t *http = json_pack("{s:{s:s},s:s}", "headers", "token", "t1",
	    "queryString", "?a=b");
	struct broker_authwire_request r = {&cn, "t1", true, NULL, "id",
	    NULL, http};
	char *text = broker_authwire_request(&r);

	(void)state;
	assert_string_equal(text, "{\"token\":\"t1\","
	    "\"signatureVerified\":false,"
	    "\"protocols\":[\"tls\",\"http\",\"mqtt\"],\"protocolData\":"
	    "{\"tls\":{},\"http\":{\"headers\":{\"token\":\"t1\"},"
	    "\"queryString\":\"?a=b\"},\"mqtt\":{\"username\":\"dev\"}},"
	    "\"connectionMetadata\":{\"id\":\"id\"}}");
	free(text);
	json_decref(http);
}

static void
test_token(void **state)
{
	struct strata_mqtt_connect cn = connect_of(
	    "dev?x-amz-customauthorizer-name=a&token=t%2F1&other=2", NULL,
	    "c");
	char *t = broker_authwire_token(&cn, "token");

	assert_string_equal(t, "t/1");
	free(t);
	assert_null(broker_authwire_token(&cn, "missing"));
	assert_null(broker_authwire_token(&cn, ""));
	cn = connect_of("dev", NULL, "c");
	assert_null(broker_authwire_token(&cn, "token"));
	cn = connect_of(NULL, NULL, "c");
	assert_null(broker_authwire_token(&cn, "token"));
}

static void
test_key(void **state)
{
	uint8_t k1[BROKER_AUTHWIRE_KEY_LEN], k2[BROKER_AUTHWIRE_KEY_LEN];
	struct strata_mqtt_connect a = connect_of("u", "p", "c1");
	struct strata_mqtt_connect b = connect_of("u", "p", "c2");

	/* the client id is not part of it */
	broker_authwire_key(&a, "t", k1);
	broker_authwire_key(&b, "t", k2);
	assert_memory_equal(k1, k2, sizeof(k1));
	/* the token, the password, its presence and the user name are */
	broker_authwire_key(&a, NULL, k2);
	assert_memory_not_equal(k1, k2, sizeof(k1));
	b = connect_of("u", "q", "c1");
	broker_authwire_key(&b, "t", k2);
	assert_memory_not_equal(k1, k2, sizeof(k1));
	broker_authwire_key(&a, NULL, k1);
	b = connect_of("u", "", "c1");
	broker_authwire_key(&b, NULL, k2);
	b.has_password = false;
	broker_authwire_key(&b, NULL, k1);
	assert_memory_not_equal(k1, k2, sizeof(k1));
	/* no ambiguity between user name and token bytes */
	a = connect_of("ut", NULL, "c");
	b = connect_of("u", NULL, "c");
	broker_authwire_key(&a, "", k1);
	broker_authwire_key(&b, "t", k2);
	assert_memory_not_equal(k1, k2, sizeof(k1));
}

static enum broker_authwire_result
answer(const char *body, struct broker_authwire_answer **out, char *why)
{
	return broker_authwire_answer(body, strlen(body), out, why, 256);
}

static void
test_answer_allow(void **state)
{
	struct broker_authwire_answer *a;
	char why[256];

	assert_int_equal(answer("{\"isAuthenticated\":true,\"principalId\":"
	    "\"Ab1\",\"disconnectAfterInSeconds\":3600,"
	    "\"refreshAfterInSeconds\":300,\"policyDocuments\":[\"" DOC "\","
	    "\"" DOC "\"]}", &a, why), BROKER_AUTHWIRE_ALLOW);
	assert_string_equal(a->principal, "Ab1");
	assert_int_equal(a->disconnect_s, 3600);
	assert_int_equal(a->refresh_s, 300);
	assert_int_equal(a->n_pols, 2);
	assert_int_equal(a->refs, 1);
	broker_authwire_answer_unref(a);
	/* the defaults: 86400 s, no refresh; no documents is allowed (the
	 * client then may do nothing, iot:Connect included) */
	assert_int_equal(answer("{\"isAuthenticated\":true,\"principalId\":"
	    "\"p\",\"policyDocuments\":[]}", &a, why), BROKER_AUTHWIRE_ALLOW);
	assert_int_equal(a->disconnect_s, 86400);
	assert_int_equal(a->refresh_s, 0);
	assert_int_equal(a->n_pols, 0);
	broker_authwire_answer_unref(a);
}

static void
test_answer_deny(void **state)
{
	struct broker_authwire_answer *a = (void *)1;
	char why[256];

	assert_int_equal(answer("{\"isAuthenticated\":false}", &a, why),
	    BROKER_AUTHWIRE_DENY);
	assert_null(a);
	/* false wins over anything else in the answer */
	assert_int_equal(answer("{\"isAuthenticated\":false,\"principalId\":"
	    "\"-\",\"policyDocuments\":7}", &a, why), BROKER_AUTHWIRE_DENY);
}

static void
test_answer_errors(void **state)
{
	static const char *const bad[] = {
	    "",
	    "not json",
	    "[true]",
	    "{}",
	    "{\"isAuthenticated\":\"true\"}",
	    "{\"isAuthenticated\":1}",
	    "{\"isAuthenticated\":true,\"isAuthenticated\":false}",
	    "{\"isAuthenticated\":true,\"policyDocuments\":[]}",
	    "{\"isAuthenticated\":true,\"principalId\":\"\","
	    "\"policyDocuments\":[]}",
	    "{\"isAuthenticated\":true,\"principalId\":\"a-b\","
	    "\"policyDocuments\":[]}",
	    "{\"isAuthenticated\":true,\"principalId\":\"p\"}",
	    "{\"isAuthenticated\":true,\"principalId\":\"p\","
	    "\"policyDocuments\":\"" DOC "\"}",
	    "{\"isAuthenticated\":true,\"principalId\":\"p\","
	    "\"policyDocuments\":[{}]}",
	    "{\"isAuthenticated\":true,\"principalId\":\"p\","
	    "\"policyDocuments\":[\"{}\"]}",
	    "{\"isAuthenticated\":true,\"principalId\":\"p\","
	    "\"policyDocuments\":[\"" DOC "\",\"" DOC "\",\"" DOC "\",\"" DOC
	    "\",\"" DOC "\",\"" DOC "\",\"" DOC "\",\"" DOC "\",\"" DOC
	    "\",\"" DOC "\",\"" DOC "\"]}",
	    "{\"isAuthenticated\":true,\"principalId\":\"p\","
	    "\"refreshAfterInSeconds\":0,\"policyDocuments\":[]}",
	    "{\"isAuthenticated\":true,\"principalId\":\"p\","
	    "\"disconnectAfterInSeconds\":86401,\"policyDocuments\":[]}",
	    "{\"isAuthenticated\":true,\"principalId\":\"p\","
	    "\"disconnectAfterInSeconds\":1.5,\"policyDocuments\":[]}",
	};
	struct broker_authwire_answer *a;
	char why[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		assert_int_equal(answer(bad[i], &a, why),
		    BROKER_AUTHWIRE_ERROR);
		assert_null(a);
		assert_true(why[0] != '\0');
	}
	/* a 129-character principal */
	{
		char body[512];
		char p[130];

		memset(p, 'a', 129);
		p[129] = '\0';
		snprintf(body, sizeof(body), "{\"isAuthenticated\":true,"
		    "\"principalId\":\"%s\",\"policyDocuments\":[]}", p);
		assert_int_equal(answer(body, &a, why), BROKER_AUTHWIRE_ERROR);
		p[128] = '\0';
		snprintf(body, sizeof(body), "{\"isAuthenticated\":true,"
		    "\"principalId\":\"%s\",\"policyDocuments\":[]}", p);
		assert_int_equal(answer(body, &a, why), BROKER_AUTHWIRE_ALLOW);
		broker_authwire_answer_unref(a);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_tls),
	    cmocka_unit_test(test_request_minimal),
	    cmocka_unit_test(test_request_http),
	    cmocka_unit_test(test_token),
	    cmocka_unit_test(test_key),
	    cmocka_unit_test(test_answer_allow),
	    cmocka_unit_test(test_answer_deny),
	    cmocka_unit_test(test_answer_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
