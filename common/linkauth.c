/*
 * linkauth.c - the cluster secret of node links (see linkauth.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "linkauth.h"

#define LINKAUTH_MAX_SECRET 4096
#define LINKAUTH_LABEL "strata-link/1"

int
strata_linkauth_load(struct strata_linkauth *a, const char *path,
    char *err, size_t errlen)
{
	uint8_t buf[LINKAUTH_MAX_SECRET + 2];
	FILE *f = fopen(path, "rb");
	size_t n;

	a->secret = NULL;
	a->len = 0;
	if (f == NULL) {
		snprintf(err, errlen, "cluster-secret-file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (n < STRATA_LINKAUTH_MIN_SECRET || n > LINKAUTH_MAX_SECRET) {
		snprintf(err, errlen, "cluster-secret-file %s: the secret "
		    "must be %d to %d bytes (it has %zu)", path,
		    STRATA_LINKAUTH_MIN_SECRET, LINKAUTH_MAX_SECRET, n);
		return -1;
	}
	if ((a->secret = malloc(n)) == NULL)
		abort();
	memcpy(a->secret, buf, n);
	a->len = n;
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

void
strata_linkauth_free(struct strata_linkauth *a)
{
	if (a->secret != NULL) {
		OPENSSL_cleanse(a->secret, a->len);
		free(a->secret);
	}
	a->secret = NULL;
	a->len = 0;
}

void
strata_linkauth_mac(const struct strata_linkauth *a, int kind,
    const char *node_id, uint64_t boot, uint8_t out[STRATA_LINKAUTH_LEN])
{
	size_t id_len = strlen(node_id), n = 0;
	size_t cap = sizeof(LINKAUTH_LABEL) + 1 + id_len + 1 + 8;
	uint8_t *msg = malloc(cap);
	unsigned int out_len = STRATA_LINKAUTH_LEN;

	if (msg == NULL)
		abort();
	memcpy(msg, LINKAUTH_LABEL, sizeof(LINKAUTH_LABEL) - 1);
	n = sizeof(LINKAUTH_LABEL) - 1;
	msg[n++] = (uint8_t)kind;
	memcpy(msg + n, node_id, id_len + 1);
	n += id_len + 1;
	for (int i = 7; i >= 0; i--)
		msg[n++] = (uint8_t)(boot >> (8 * i));
	if (HMAC(EVP_sha256(), a->secret, (int)a->len, msg, n, out,
	    &out_len) == NULL)
		abort();
	free(msg);
}

bool
strata_linkauth_check(const struct strata_linkauth *a, int kind,
    const char *node_id, uint64_t boot, const uint8_t *proof, size_t len)
{
	uint8_t want[STRATA_LINKAUTH_LEN];

	if (a->secret == NULL)
		return true;
	if (len != STRATA_LINKAUTH_LEN || proof == NULL)
		return false;
	strata_linkauth_mac(a, kind, node_id, boot, want);
	return CRYPTO_memcmp(want, proof, sizeof(want)) == 0;
}
