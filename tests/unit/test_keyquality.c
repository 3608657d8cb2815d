/*
 * test_keyquality.c - the key quality rule of the audit's key quality
 * checks: keys made here with OpenSSL on each side of each limit, and a
 * certificate PEM (self-signed here) read for its key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "keyquality.h"

static EVP_PKEY *
rsa(unsigned bits)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);

	assert_non_null(k);
	return k;
}

static EVP_PKEY *
ec(const char *curve)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);

	assert_non_null(k);
	return k;
}

static void
check(EVP_PKEY *k, enum strata_key_quality want, const char *reason)
{
	char why[128] = "";

	assert_int_equal(strata_key_quality_pkey(k, why, sizeof(why)), want);
	if (reason != NULL)
		assert_string_equal(why, reason);
	EVP_PKEY_free(k);
}

static void
test_limits(void **state)
{
	(void)state;
	check(rsa(1024), STRATA_KEY_WEAK, "RSA key of 1024 bits, fewer than "
	    "2048");
	check(rsa(2048), STRATA_KEY_OK, NULL);
	check(ec("prime192v1"), STRATA_KEY_WEAK, "EC key of 192 bits, fewer "
	    "than 256");
	check(ec("secp224r1"), STRATA_KEY_WEAK, NULL);
	check(ec("prime256v1"), STRATA_KEY_OK, NULL);
	check(ec("secp384r1"), STRATA_KEY_OK, NULL);
	assert_int_equal(strata_key_quality_pkey(NULL, NULL, 0),
	    STRATA_KEY_UNREADABLE);
}

/* A PEM of a self-signed certificate of key. */
static char *
cert_pem(EVP_PKEY *key)
{
	X509 *x = X509_new();
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
	    MBSTRING_ASC, (const unsigned char *)"k", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, key);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	PEM_write_bio_X509(bio, x);
	n = BIO_get_mem_data(bio, &data);
	out = strndup(data, (size_t)n);
	BIO_free(bio);
	X509_free(x);
	return out;
}

static void
test_pem(void **state)
{
	EVP_PKEY *weak = rsa(1024), *good = ec("prime256v1");
	char *pw = cert_pem(weak), *pg = cert_pem(good), why[128];

	(void)state;
	assert_int_equal(strata_key_quality_pem(pw, why, sizeof(why)),
	    STRATA_KEY_WEAK);
	assert_string_equal(why, "RSA key of 1024 bits, fewer than 2048");
	assert_int_equal(strata_key_quality_pem(pg, NULL, 0), STRATA_KEY_OK);
	assert_int_equal(strata_key_quality_pem("not a certificate", why,
	    sizeof(why)), STRATA_KEY_UNREADABLE);
	free(pw);
	free(pg);
	EVP_PKEY_free(weak);
	EVP_PKEY_free(good);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_pem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
