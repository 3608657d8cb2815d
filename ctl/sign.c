/*
 * sign.c - STRATA-HMAC-SHA256 request signatures (see sign.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "sign.h"
#include "table.h"

#define SIGN_KEY_TEXT "strata-admin-signing"

static void
sign_hex(const unsigned char *bytes, size_t n, char *hex)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		hex[2 * i] = digits[bytes[i] >> 4];
		hex[2 * i + 1] = digits[bytes[i] & 0xf];
	}
	hex[2 * n] = '\0';
}

/* HMAC-SHA256 of data under key into out (32 bytes). */
static void
sign_hmac(const void *key, size_t key_len, const char *data,
    unsigned char out[SHA256_DIGEST_LENGTH])
{
	unsigned int len = 0;

	if (HMAC(EVP_sha256(), key, (int)key_len,
	    (const unsigned char *)data, strlen(data), out, &len) == NULL ||
	    len != SHA256_DIGEST_LENGTH)
		abort();
}

char *
ctl_sign_text(const char *date, const struct ctl_request *req)
{
	unsigned char digest[SHA256_DIGEST_LENGTH];
	char digest_hex[2 * SHA256_DIGEST_LENGTH + 1], *text;
	const char *body = req->body != NULL ? req->body : "";
	const char *query = strchr(req->target, '?');
	int path_len = query != NULL ?
	    (int)(query - req->target) : (int)strlen(req->target);

	/* by its length: a payload's bytes may hold NULs */
	if (EVP_Digest(body, req->body_len, digest, NULL, EVP_sha256(),
	    NULL) != 1)
		abort();
	sign_hex(digest, sizeof(digest), digest_hex);
	if (asprintf(&text, CTL_SIGN_SCHEME "\n%s\n%s\n%.*s\n%s\n%s", date,
	    ctl_table_method_name(req->method), path_len, req->target,
	    query != NULL ? query + 1 : "", digest_hex) < 0)
		abort();
	return text;
}

void
ctl_sign(const char *secret, const char *date,
    const struct ctl_request *req, char hex[CTL_SIGN_HEX_LEN + 1])
{
	unsigned char key[SHA256_DIGEST_LENGTH], mac[SHA256_DIGEST_LENGTH];
	char *text = ctl_sign_text(date, req);

	sign_hmac(secret, strlen(secret), SIGN_KEY_TEXT, key);
	sign_hmac(key, sizeof(key), text, mac);
	sign_hex(mac, sizeof(mac), hex);
	free(text);
}

void
ctl_sign_date(time_t t, char date[CTL_SIGN_DATE_LEN + 1])
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(date, CTL_SIGN_DATE_LEN + 1, "%Y%m%dT%H%M%SZ", &tm) !=
	    CTL_SIGN_DATE_LEN)
		abort();
}
