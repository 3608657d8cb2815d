/*
 * authwire.c - the custom authorizer's wire format: the request Strata
 * POSTs (AWS IoT Core's authorizer Lambda event, the MQTT fields), the
 * answer it reads back, the token in the user name, and the cache key.
 *
 * Pure functions, no broker state: authorizer.c does the HTTP, the
 * waiting and the cache; tests/unit/test_broker_authwire.c checks these.
 *
 * Request (JSON, only the fields the connection has):
 *   {"token": T, "signatureVerified": false, "protocols": ["tls","mqtt"],
 *    "protocolData": {"tls": {"serverName": SNI},
 *                     "mqtt": {"username": U, "password": base64(P),
 *                              "clientId": C}},
 *    "connectionMetadata": {"id": UUID, "sourceIp": IP}}
 * Answer: {"isAuthenticated": bool, "principalId": [A-Za-z0-9]{1,128},
 *   "disconnectAfterInSeconds": 1..86400 (default 86400),
 *   "refreshAfterInSeconds": 1..86400 (absent: no refresh),
 *   "policyDocuments": [at most 10 policy documents, each a JSON string]}
 * isAuthenticated false is a refusal whatever else the answer holds; true
 * with any other field wrong is an error (the client is refused all the
 * same: never allowed on a doubtful answer).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/evp.h>

#include "base64.h"
#include "broker.h"

/* ---- request ---- */

static json_t *
authwire_string(struct strata_bytes b)
{
	return json_stringn(b.p != NULL ? (const char *)b.p : "", b.len);
}

static json_t *
authwire_base64(struct strata_bytes b)
{
	char *out = strata_base64(b.p, b.len);
	json_t *s = json_string(out);

	free(out);
	return s;
}

static json_t *
authwire_mqtt(const struct strata_mqtt_connect *cn)
{
	json_t *mqtt = json_object();

	if (cn->has_username)
		json_object_set_new(mqtt, "username",
		    authwire_string(cn->username));
	if (cn->has_password)
		json_object_set_new(mqtt, "password",
		    authwire_base64(cn->password));
	/* AWS: "included only when the device sends the value" */
	if (cn->client_id.len > 0)
		json_object_set_new(mqtt, "clientId",
		    authwire_string(cn->client_id));
	return mqtt;
}

static json_t *
authwire_metadata(const struct broker_authwire_request *r)
{
	json_t *meta = json_object();

	json_object_set_new(meta, "id", json_string(r->connection_id));
	if (r->source_ip != NULL)
		json_object_set_new(meta, "sourceIp",
		    json_string(r->source_ip));
	return meta;
}

char *
broker_authwire_request(const struct broker_authwire_request *r)
{
	json_t *req = json_object(), *data = json_object();
	json_t *protocols = json_array();
	char *text;

	if (r->token != NULL)
		json_object_set_new(req, "token", json_string(r->token));
	/* Strata checks no token signature (docs: differs) */
	json_object_set_new(req, "signatureVerified", json_false());
	if (r->tls) {
		json_t *tls = json_object();

		if (r->server_name != NULL)
			json_object_set_new(tls, "serverName",
			    json_string(r->server_name));
		json_array_append_new(protocols, json_string("tls"));
		json_object_set_new(data, "tls", tls);
	}
	if (r->http != NULL) { /* MQTT over WebSocket: its HTTP request */
		json_array_append_new(protocols, json_string("http"));
		json_object_set_new(data, "http", json_deep_copy(r->http));
	}
	json_array_append_new(protocols, json_string("mqtt"));
	json_object_set_new(data, "mqtt", authwire_mqtt(r->connect));
	json_object_set_new(req, "protocols", protocols);
	json_object_set_new(req, "protocolData", data);
	json_object_set_new(req, "connectionMetadata", authwire_metadata(r));
	text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (text == NULL)
		abort();
	return text;
}

char *
broker_authwire_token(const struct strata_mqtt_connect *cn, const char *key)
{
	struct evkeyvalq query;
	const char *value;
	char *user, *mark, *token = NULL;

	if (!cn->has_username || key == NULL || key[0] == '\0')
		return NULL;
	user = strndup(cn->username.p != NULL ? (const char *)cn->username.p :
	    "", cn->username.len);
	if (user == NULL)
		abort();
	mark = strchr(user, '?');
	if (mark != NULL && evhttp_parse_query_str(mark + 1, &query) == 0) {
		value = evhttp_find_header(&query, key);
		if (value != NULL && (token = strdup(value)) == NULL)
			abort();
		evhttp_clear_headers(&query);
	}
	free(user);
	return token;
}

/* ---- cache key ---- */

/* One field of the key: present or not, its length, its bytes, so that
 * no two different triples hash the same input. */
static void
authwire_key_field(EVP_MD_CTX *ctx, bool present, const void *p, size_t len)
{
	uint8_t head[5] = {present, (uint8_t)(len >> 24), (uint8_t)(len >> 16),
	    (uint8_t)(len >> 8), (uint8_t)len};

	EVP_DigestUpdate(ctx, head, sizeof(head));
	if (len > 0)
		EVP_DigestUpdate(ctx, p, len);
}

void
broker_authwire_key(const struct strata_mqtt_connect *cn, const char *token,
    uint8_t out[BROKER_AUTHWIRE_KEY_LEN])
{
	uint8_t pw[BROKER_AUTHWIRE_KEY_LEN];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned n = 0;

	if (ctx == NULL)
		abort();
	EVP_Digest(cn->password.p != NULL ? cn->password.p :
	    (const uint8_t *)"", cn->password.len, pw, &n, EVP_sha256(), NULL);
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	authwire_key_field(ctx, cn->has_username, cn->username.p,
	    cn->username.len);
	authwire_key_field(ctx, cn->has_password, pw, sizeof(pw));
	authwire_key_field(ctx, token != NULL, token,
	    token != NULL ? strlen(token) : 0);
	EVP_DigestFinal_ex(ctx, out, &n);
	EVP_MD_CTX_free(ctx);
}

/* ---- answer ---- */

void
broker_authwire_answer_unref(struct broker_authwire_answer *a)
{
	if (a == NULL || --a->refs > 0)
		return;
	for (size_t i = 0; i < a->n_pols; i++)
		strata_policy_free(a->pols[i]);
	free(a);
}

/* AWS: 1 to 128 ASCII letters and digits. */
static bool
authwire_principal_valid(const char *p)
{
	size_t n;

	for (n = 0; p[n] != '\0'; n++)
		if (!((p[n] >= 'a' && p[n] <= 'z') ||
		    (p[n] >= 'A' && p[n] <= 'Z') ||
		    (p[n] >= '0' && p[n] <= '9')))
			return false;
	return n >= 1 && n <= BROKER_AUTHWIRE_PRINCIPAL_MAX;
}

/* A duration of the answer: absent gives def; otherwise a whole number
 * of seconds in [1, 86400]. */
static int
authwire_seconds(const json_t *root, const char *name, long def, long *out,
    char *why, size_t whylen)
{
	const json_t *v = json_object_get(root, name);

	*out = def;
	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > BROKER_AUTHWIRE_MAX_SECONDS) {
		snprintf(why, whylen, "%s is not a whole number of seconds "
		    "from 1 to %d", name, BROKER_AUTHWIRE_MAX_SECONDS);
		return STRATA_EINVAL;
	}
	*out = (long)json_integer_value(v);
	return 0;
}

/* policyDocuments: each compiled, or the first that does not compile
 * named in why. */
static int
authwire_policies(const json_t *root, struct broker_authwire_answer *a,
    char *why, size_t whylen)
{
	const json_t *docs = json_object_get(root, "policyDocuments"), *d;
	struct strata_policy_error err;
	size_t i;

	if (!json_is_array(docs) ||
	    json_array_size(docs) > BROKER_AUTHWIRE_MAX_POLICIES) {
		snprintf(why, whylen, "policyDocuments is not an array of at "
		    "most %d strings", BROKER_AUTHWIRE_MAX_POLICIES);
		return STRATA_EINVAL;
	}
	json_array_foreach(docs, i, d) {
		if (!json_is_string(d)) {
			snprintf(why, whylen, "policyDocuments[%zu] is not a "
			    "string", i);
			return STRATA_EINVAL;
		}
		a->pols[i] = strata_policy_parse(json_string_value(d),
		    json_string_length(d), &err);
		if (a->pols[i] == NULL) {
			snprintf(why, whylen, "policyDocuments[%zu] does not "
			    "compile: %s%s%s", i, err.path,
			    err.path[0] != '\0' ? ": " : "", err.message);
			return STRATA_EINVAL;
		}
		a->n_pols = i + 1;
	}
	return 0;
}

/* The fields of an answer that authenticates. */
static int
authwire_allowed(const json_t *root, struct broker_authwire_answer *a,
    char *why, size_t whylen)
{
	const char *principal = json_string_value(json_object_get(root,
	    "principalId"));

	if (principal == NULL || !authwire_principal_valid(principal)) {
		snprintf(why, whylen, "principalId is not 1 to %d letters and "
		    "digits", BROKER_AUTHWIRE_PRINCIPAL_MAX);
		return STRATA_EINVAL;
	}
	snprintf(a->principal, sizeof(a->principal), "%s", principal);
	if (authwire_seconds(root, "disconnectAfterInSeconds",
	    BROKER_AUTHWIRE_MAX_SECONDS, &a->disconnect_s, why, whylen) != 0 ||
	    authwire_seconds(root, "refreshAfterInSeconds", 0, &a->refresh_s,
	    why, whylen) != 0)
		return STRATA_EINVAL;
	return authwire_policies(root, a, why, whylen);
}

enum broker_authwire_result
broker_authwire_answer(const char *body, size_t len,
    struct broker_authwire_answer **out, char *why, size_t whylen)
{
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	const json_t *ok = json_object_get(root, "isAuthenticated");
	enum broker_authwire_result result = BROKER_AUTHWIRE_ERROR;
	struct broker_authwire_answer *a = NULL;

	*out = NULL;
	if (!json_is_boolean(ok)) {
		snprintf(why, whylen, "%s", root == NULL ? "the answer is not "
		    "JSON" : "the answer has no boolean isAuthenticated");
	} else if (json_is_false(ok)) {
		snprintf(why, whylen, "isAuthenticated false");
		result = BROKER_AUTHWIRE_DENY;
	} else {
		a = calloc(1, sizeof(*a));
		if (a == NULL)
			abort();
		a->refs = 1;
		if (authwire_allowed(root, a, why, whylen) == 0) {
			*out = a;
			a = NULL;
			result = BROKER_AUTHWIRE_ALLOW;
		}
	}
	broker_authwire_answer_unref(a);
	json_decref(root);
	return result;
}
