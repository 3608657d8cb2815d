/*
 * fuzz_broker_authwire.c - libFuzzer target for the custom authorizer's
 * wire format (broker/authwire.c).
 *
 * The first byte chooses the mode and flags:
 *   bit 0 clear: answer mode; the rest is the body of an authorizer's
 *     answer.  It must read as exactly one of allow (an answer within
 *     AWS's limits: principal of 1 to 128 letters and digits, at most 10
 *     compiled policies, durations in range), deny or error (no answer,
 *     a reason given).
 *   bit 0 set: request mode; the rest is sections separated by NUL bytes:
 *     [0] user name, [1] password, [2] client id, [3] token key,
 *     [4] server name; bit 1: the CONNECT has a user name, bit 2: a
 *     password, bit 3: TLS.  The request must be JSON whatever the bytes
 *     (fields that are not UTF-8 left out), and the cache key the same
 *     twice and different without the password.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"

#define FUZZ_SECTIONS 5

static void
fuzz_answer(const uint8_t *p, size_t len)
{
	struct broker_authwire_answer *a;
	char why[256] = "";
	enum broker_authwire_result r = broker_authwire_answer(
	    (const char *)p, len, &a, why, sizeof(why));
	size_t n;

	if (r == BROKER_AUTHWIRE_ALLOW) {
		if (a == NULL || a->refs != 1 ||
		    a->n_pols > BROKER_AUTHWIRE_MAX_POLICIES ||
		    a->disconnect_s < 1 ||
		    a->disconnect_s > BROKER_AUTHWIRE_MAX_SECONDS ||
		    a->refresh_s < 0 ||
		    a->refresh_s > BROKER_AUTHWIRE_MAX_SECONDS)
			abort();
		n = strlen(a->principal);
		if (n < 1 || n > BROKER_AUTHWIRE_PRINCIPAL_MAX)
			abort();
		for (size_t i = 0; i < a->n_pols; i++)
			if (a->pols[i] == NULL)
				abort();
		broker_authwire_answer_unref(a);
		return;
	}
	if ((r != BROKER_AUTHWIRE_DENY && r != BROKER_AUTHWIRE_ERROR) ||
	    a != NULL || why[0] == '\0')
		abort();
}

/* Split p into NUL-separated sections (missing ones empty). */
static void
fuzz_sections(const uint8_t *p, size_t len, struct strata_bytes *s)
{
	size_t k = 0, start = 0;

	/* absent sections are empty, not NULL (as the decoder gives them) */
	for (size_t i = 0; i < FUZZ_SECTIONS; i++) {
		s[i].p = (const uint8_t *)"";
		s[i].len = 0;
	}
	for (size_t i = 0; i <= len && k < FUZZ_SECTIONS; i++) {
		if (i == len || p[i] == '\0') {
			s[k].p = p + start;
			s[k].len = (uint32_t)(i - start);
			k++;
			start = i + 1;
		}
	}
}

static void
fuzz_request(uint8_t flags, const uint8_t *p, size_t len)
{
	struct strata_bytes s[FUZZ_SECTIONS];
	struct strata_mqtt_connect cn;
	struct broker_authwire_request r;
	uint8_t k1[BROKER_AUTHWIRE_KEY_LEN], k2[BROKER_AUTHWIRE_KEY_LEN];
	char *key, *sni, *text;
	json_t *j;

	fuzz_sections(p, len, s);
	memset(&cn, 0, sizeof(cn));
	cn.has_username = flags & 2;
	cn.has_password = flags & 4;
	cn.username = s[0];
	cn.password = s[1];
	cn.client_id = s[2];
	key = strndup((const char *)s[3].p, s[3].len);
	sni = strndup((const char *)s[4].p, s[4].len);
	if (key == NULL || sni == NULL)
		abort();
	memset(&r, 0, sizeof(r));
	r.connect = &cn;
	r.token = broker_authwire_token(&cn, key);
	r.tls = flags & 8;
	r.server_name = sni[0] != '\0' ? sni : NULL;
	r.connection_id = "00000000-0000-4000-8000-000000000000";
	text = broker_authwire_request(&r);
	j = json_loads(text, 0, NULL);
	if (j == NULL || !json_is_array(json_object_get(j, "protocols")))
		abort();
	broker_authwire_key(&cn, r.token, k1);
	broker_authwire_key(&cn, r.token, k2);
	if (memcmp(k1, k2, sizeof(k1)) != 0)
		abort();
	cn.has_password = !cn.has_password;
	broker_authwire_key(&cn, r.token, k2);
	if (memcmp(k1, k2, sizeof(k1)) == 0)
		abort();
	json_decref(j);
	free(text);
	free((char *)r.token);
	free(key);
	free(sni);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1)
		fuzz_request(data[0], data + 1, size - 1);
	else
		fuzz_answer(data + 1, size - 1);
	return 0;
}
