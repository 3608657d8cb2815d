/*
 * keyquality.h - is a certificate's public key strong enough?  Device
 * Defender Audit's key quality checks (docs/internals/audit.md): RSA
 * below 2048 bits, EC below 256 bits, DSA, or a key of no known type is
 * weak.
 */
#ifndef STRATA_KEYQUALITY_H
#define STRATA_KEYQUALITY_H

#include <stddef.h>

#include <openssl/evp.h>

enum strata_key_quality {
	STRATA_KEY_OK = 0,
	STRATA_KEY_WEAK = 1,      /* reason says why */
	STRATA_KEY_UNREADABLE = -1 /* not a certificate PEM */
};

/* The quality of key; reason (may be NULL) gets "RSA key of 1024 bits,
 * fewer than 2048" or the like. */
enum strata_key_quality strata_key_quality_pkey(EVP_PKEY *key,
    char *reason, size_t len);
/* The same for the key of the first certificate of a PEM text. */
enum strata_key_quality strata_key_quality_pem(const char *pem,
    char *reason, size_t len);

#endif
