/*
 * base64.c - standard base64 (see base64.h).
 */
#include "base64.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

char *
strata_base64(const uint8_t *p, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1);

	if (out == NULL)
		abort();
	EVP_EncodeBlock((unsigned char *)out, p != NULL ? p :
	    (const uint8_t *)"", (int)len);
	return out;
}

uint8_t *
strata_unbase64(const char *s, size_t len, size_t *out_len)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t pad = 0, n;
	uint8_t *out;
	int w;

	if (len % 4 != 0 || len > (size_t)1 << 30)
		return NULL;
	while (pad < 2 && pad < len && s[len - 1 - pad] == '=')
		pad++;
	for (size_t i = 0; i < len - pad; i++)
		if (s[i] == '\0' || strchr(alphabet, s[i]) == NULL)
			return NULL;
	n = len / 4 * 3;
	out = malloc(n + 1);
	if (out == NULL)
		abort();
	w = EVP_DecodeBlock(out, (const unsigned char *)s, (int)len);
	if (w < 0 || (size_t)w != n) {
		free(out);
		return NULL;
	}
	*out_len = n - pad;
	out[*out_len] = '\0';
	return out;
}
