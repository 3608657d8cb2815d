/*
 * test_redis_tls.c - the redis-tls options as strata_redis_tls_context()
 * judges them: which combinations are configuration errors, and that the
 * message names the option.  The bridge itself is exercised against a
 * real TLS Redis by tests/integration/test_redis_tls.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/ssl.h>

#include "redis_tls.h"
#include "status.h"

/* rc of the options, the message in err. */
static int
context(bool enabled, const char *ca, const char *cert, const char *key,
    char *err, size_t errlen)
{
	SSL_CTX *ctx = NULL;
	int rc;

	err[0] = '\0';
	rc = strata_redis_tls_context(&ctx, enabled, ca, cert, key, err,
	    errlen);
	if (rc != 0)
		assert_null(ctx);
	SSL_CTX_free(ctx);
	return rc;
}

static void
test_off(void **state)
{
	SSL_CTX *ctx = NULL;
	char err[256];

	(void)state;
	assert_int_equal(strata_redis_tls_context(&ctx, false, "", "", "",
	    err, sizeof(err)), 0);
	assert_null(ctx);
	assert_int_equal(strata_redis_tls_context(&ctx, false, NULL, NULL,
	    NULL, err, sizeof(err)), 0);
	assert_null(ctx);
}

static void
test_option_errors(void **state)
{
	char err[256];

	(void)state;
	/* on without a CA */
	assert_int_equal(context(true, "", "", "", err, sizeof(err)),
	    STRATA_EINVAL);
	assert_non_null(strstr(err, "redis-tls needs redis-tls-ca"));
	/* files while off: TLS is not silently skipped */
	assert_int_equal(context(false, "ca.pem", "", "", err, sizeof(err)),
	    STRATA_EINVAL);
	assert_non_null(strstr(err, "redis-tls-ca needs redis-tls"));
	assert_int_equal(context(false, "", "", "k.pem", err, sizeof(err)),
	    STRATA_EINVAL);
	assert_non_null(strstr(err, "redis-tls-key needs redis-tls"));
	/* a certificate without its key and the other way round */
	assert_int_equal(context(true, "ca.pem", "c.pem", "", err,
	    sizeof(err)), STRATA_EINVAL);
	assert_non_null(strstr(err, "redis-tls-cert needs redis-tls-key"));
	assert_int_equal(context(true, "ca.pem", "", "k.pem", err,
	    sizeof(err)), STRATA_EINVAL);
	assert_non_null(strstr(err, "redis-tls-key needs redis-tls-cert"));
}

static void
test_unreadable_files(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(context(true, "/nonexistent/ca.pem", "", "", err,
	    sizeof(err)), STRATA_EINVAL);
	assert_non_null(strstr(err, "redis-tls-ca /nonexistent/ca.pem: "
	    "No such file or directory"));
	/* a file that is no PEM at all */
	assert_int_equal(context(true, "/dev/null", "", "", err,
	    sizeof(err)), STRATA_EINVAL);
	assert_non_null(strstr(err, "redis-tls-ca /dev/null: "));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_off),
		cmocka_unit_test(test_option_errors),
		cmocka_unit_test(test_unreadable_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
