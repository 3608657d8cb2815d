/*
 * keyquality.c - the key quality rule of Device Defender Audit's
 * CA_CERTIFICATE_KEY_QUALITY_CHECK and DEVICE_CERTIFICATE_KEY_QUALITY_CHECK
 * (docs/internals/audit.md).  No state.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "keyquality.h"

#define KEYQ_RSA_MIN 2048
#define KEYQ_EC_MIN 256

static enum strata_key_quality
keyq_weak(char *reason, size_t len, const char *kind, int bits, int min)
{
	if (reason != NULL) {
		if (min > 0)
			snprintf(reason, len, "%s key of %d bits, fewer than "
			    "%d", kind, bits, min);
		else
			snprintf(reason, len, "%s key (%d bits): not RSA or "
			    "EC", kind, bits);
	}
	return STRATA_KEY_WEAK;
}

enum strata_key_quality
strata_key_quality_pkey(EVP_PKEY *key, char *reason, size_t len)
{
	int bits, id;

	if (key == NULL)
		return STRATA_KEY_UNREADABLE;
	bits = EVP_PKEY_get_bits(key);
	id = EVP_PKEY_get_base_id(key);
	if (id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS)
		return bits < KEYQ_RSA_MIN ? keyq_weak(reason, len, "RSA",
		    bits, KEYQ_RSA_MIN) : STRATA_KEY_OK;
	if (id == EVP_PKEY_EC)
		return bits < KEYQ_EC_MIN ? keyq_weak(reason, len, "EC", bits,
		    KEYQ_EC_MIN) : STRATA_KEY_OK;
	if (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448)
		return STRATA_KEY_OK;
	return keyq_weak(reason, len, id == EVP_PKEY_DSA ? "DSA" : "unknown",
	    bits, 0);
}

enum strata_key_quality
strata_key_quality_pem(const char *pem, char *reason, size_t len)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *cert = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) :
	    NULL;
	enum strata_key_quality q;

	BIO_free(bio);
	if (cert == NULL)
		return STRATA_KEY_UNREADABLE;
	q = strata_key_quality_pkey(X509_get0_pubkey(cert), reason, len);
	X509_free(cert);
	return q;
}
