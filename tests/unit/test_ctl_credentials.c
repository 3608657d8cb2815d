/*
 * test_ctl_credentials.c - where stratactl finds its credentials, in
 * docs/internals/admin-authz.md's order (flags, the access key variables,
 * STRATA_ADMIN_TOKEN, the credentials file's profile), the refusals with
 * their exit status, and the Authorization header made from each.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "credentials.h"

#define SECRET "kJ8+u2Qw/Zr5Tn0Lm7Yc3Xv9Bp1Hd6Gf4Se2Aa0W"

static const char *const variables[] = { "STRATA_ACCESS_KEY_ID",
	"STRATA_SECRET_ACCESS_KEY", "STRATA_ADMIN_TOKEN", "STRATA_PROFILE",
	"STRATA_SHARED_CREDENTIALS_FILE", "HOME" };

/* A scratch directory: HOME, with the files the tests write. */
static char home[64];

static void
write_file(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", home, name);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

static int
setup(void **state)
{
	char dir[96];
	size_t i;

	for (i = 0; i < sizeof(variables) / sizeof(variables[0]); i++)
		unsetenv(variables[i]);
	snprintf(home, sizeof(home), "/tmp/strata-ctl-credentials-%d",
	    (int)getpid());
	snprintf(dir, sizeof(dir), "%s/.strata", home);
	mkdir(home, 0700);
	mkdir(dir, 0700);
	setenv("HOME", home, 1);
	write_file(".strata/credentials", "[default]\n"
	    "strata_access_key_id = AKIAHOMEDEFAULT\n"
	    "strata_secret_access_key = home-secret\n"
	    "[ops]\naws_access_key_id = AKIAOPS\n"
	    "aws_secret_access_key = ops-secret\n"
	    "[half]\nstrata_access_key_id = AKIAHALF\n"
	    "[empty]\nregion = local\n");
	write_file("other", "[default]\nstrata_access_key_id = AKIAOTHER\n"
	    "strata_secret_access_key = other-secret\n");
	write_file("broken", "[default]\nstrata_access_key_id\n");
	write_file("token", "file-token\r\n");
	write_file("empty-token", "\n");
	return 0;
}

static int
teardown(void **state)
{
	static const char *const names[] = { ".strata/credentials", "other",
		"broken", "token", "empty-token" };
	char path[128];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", home, names[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/.strata", home);
	rmdir(path);
	rmdir(home);
	return 0;
}

struct loaded {
	struct ctl_invocation inv;
	struct ctl_credentials c;
	struct ctl_error err;
	int rc;
};

/* Load with the flags --profile (NULL: none) and --token-file (a file of
 * home, NULL: none). */
static void
load(struct loaded *l, const char *profile, const char *token_file)
{
	static char path[128];

	memset(l, 0, sizeof(*l));
	l->inv.profile = profile;
	if (token_file != NULL) {
		snprintf(path, sizeof(path), "%s/%s", home, token_file);
		l->inv.token_file = path;
	}
	l->rc = ctl_credentials_load(&l->c, &l->inv, &l->err);
}

static void
assert_key(struct loaded *l, const char *id, const char *secret)
{
	assert_int_equal(l->rc, 0);
	assert_null(l->c.token);
	assert_string_equal(l->c.access_key_id, id);
	assert_string_equal(l->c.secret_access_key, secret);
	ctl_credentials_clear(&l->c);
}

static void
assert_token(struct loaded *l, const char *token)
{
	assert_int_equal(l->rc, 0);
	assert_null(l->c.access_key_id);
	assert_string_equal(l->c.token, token);
	ctl_credentials_clear(&l->c);
}

static void
assert_refused(const struct loaded *l, int status, const char *start)
{
	assert_int_equal(l->rc, -1);
	assert_int_equal(l->err.status, status);
	assert_true(strncmp(l->err.message, start, strlen(start)) == 0);
	assert_null(l->c.token);
	assert_null(l->c.access_key_id);
}

static void
test_order(void **state)
{
	struct loaded l;

	/* 4: the default profile of ~/.strata/credentials */
	load(&l, NULL, NULL);
	assert_key(&l, "AKIAHOMEDEFAULT", "home-secret");
	/* 3: STRATA_ADMIN_TOKEN before the file */
	setenv("STRATA_ADMIN_TOKEN", "env-token\n", 1);
	load(&l, NULL, NULL);
	assert_token(&l, "env-token");
	/* 2: the access key variables before the token */
	setenv("STRATA_ACCESS_KEY_ID", "AKIAENV", 1);
	setenv("STRATA_SECRET_ACCESS_KEY", "env-secret", 1);
	load(&l, NULL, NULL);
	assert_key(&l, "AKIAENV", "env-secret");
	setenv("STRATA_PROFILE", "ops", 1);
	load(&l, NULL, NULL);
	assert_key(&l, "AKIAENV", "env-secret");
	/* 1: the flags before all */
	load(&l, "ops", NULL);
	assert_key(&l, "AKIAOPS", "ops-secret");
	load(&l, NULL, "token");
	assert_token(&l, "file-token");
}

static void
test_profile_file_and_name(void **state)
{
	char path[128];
	struct loaded l;

	setenv("STRATA_PROFILE", "ops", 1);
	load(&l, NULL, NULL);
	assert_key(&l, "AKIAOPS", "ops-secret");
	snprintf(path, sizeof(path), "%s/other", home);
	setenv("STRATA_SHARED_CREDENTIALS_FILE", path, 1);
	unsetenv("STRATA_PROFILE");
	load(&l, NULL, NULL);
	assert_key(&l, "AKIAOTHER", "other-secret");
	/* the file's default profile need not be there, a named one must */
	load(&l, "ops", NULL);
	assert_refused(&l, CTL_EXIT_CONFIG,
	    "The config profile (ops) could not be found");
	setenv("STRATA_PROFILE", "nope", 1);
	load(&l, NULL, NULL);
	assert_refused(&l, CTL_EXIT_CONFIG,
	    "The config profile (nope) could not be found");
	snprintf(path, sizeof(path), "%s/missing", home);
	setenv("STRATA_SHARED_CREDENTIALS_FILE", path, 1);
	load(&l, NULL, NULL);
	assert_refused(&l, CTL_EXIT_CONFIG,
	    "The config profile (nope) could not be found");
	unsetenv("STRATA_PROFILE");
	load(&l, NULL, NULL);
	assert_refused(&l, CTL_EXIT_CONFIG, "Unable to locate credentials: "
	    "set STRATA_ACCESS_KEY_ID and STRATA_SECRET_ACCESS_KEY, or "
	    "STRATA_ADMIN_TOKEN, or use --profile or --token-file");
	/* no HOME, no file: nothing found */
	unsetenv("STRATA_SHARED_CREDENTIALS_FILE");
	unsetenv("HOME");
	load(&l, NULL, NULL);
	assert_refused(&l, CTL_EXIT_CONFIG, "Unable to locate credentials");
}

static void
test_refusals(void **state)
{
	char path[128], message[256];
	struct loaded l;

	load(&l, "half", NULL);
	snprintf(message, sizeof(message), "Partial credentials found in "
	    "the profile (half) of %s/.strata/credentials, missing: "
	    "strata_secret_access_key", home);
	assert_refused(&l, CTL_EXIT_CONFIG, message);
	load(&l, "empty", NULL);
	assert_refused(&l, CTL_EXIT_CONFIG, "Unable to locate credentials");
	snprintf(path, sizeof(path), "%s/broken", home);
	setenv("STRATA_SHARED_CREDENTIALS_FILE", path, 1);
	load(&l, NULL, NULL);
	snprintf(message, sizeof(message), "Unable to parse config file: "
	    "%s: line 2: expected [section] or key = value", path);
	assert_refused(&l, CTL_EXIT_CONFIG, message);
	load(&l, NULL, "empty-token");
	assert_refused(&l, CTL_EXIT_CONFIG, "Unable to locate credentials: "
	    "the token file ");
	load(&l, NULL, "none");
	assert_refused(&l, CTL_EXIT_CONFIG, "Unable to read the token file ");
	load(&l, "ops", "token");
	assert_refused(&l, CTL_EXIT_USAGE,
	    "--profile and --token-file cannot be used together");
	assert_true(l.err.usage);
	setenv("STRATA_ACCESS_KEY_ID", "AKIAENV", 1);
	load(&l, NULL, NULL);
	assert_refused(&l, CTL_EXIT_CONFIG, "Partial credentials found in "
	    "env, missing: STRATA_SECRET_ACCESS_KEY");
	setenv("STRATA_SECRET_ACCESS_KEY", "s", 1);
	setenv("STRATA_ACCESS_KEY_ID", "AKIA, Signature=x", 1);
	load(&l, NULL, NULL);
	assert_refused(&l, CTL_EXIT_CONFIG, "The access key id of the "
	    "environment (STRATA_ACCESS_KEY_ID) is not valid");
}

static void
test_authorization_headers(void **state)
{
	struct ctl_request req = { .method = EVHTTP_REQ_GET,
		.target = "/admin-users" };
	struct ctl_credentials c = { .access_key_id = "AKIAABCDEFGHIJKLMNOP",
		.secret_access_key = SECRET };
	struct ctl_auth auth;

	/* 2026-01-02T03:04:05Z; the signature is test_ctl_sign.c's */
	ctl_credentials_auth(&c, &req, 1767323045, &auth);
	assert_string_equal(auth.date, "20260102T030405Z");
	assert_string_equal(auth.authorization, "STRATA-HMAC-SHA256 "
	    "Credential=AKIAABCDEFGHIJKLMNOP, Signature=0d51a0e7794e85e7c01d"
	    "ab5fda769511984cd66539906cf1049a76f607008082");
	assert_string_equal(auth.shown, "STRATA-HMAC-SHA256 "
	    "Credential=AKIAABCDEFGHIJKLMNOP, Signature=(not shown)");
	ctl_credentials_auth_clear(&auth);
	c = (struct ctl_credentials){ .token = "t0ken" };
	ctl_credentials_auth(&c, &req, 1767323045, &auth);
	assert_string_equal(auth.authorization, "Bearer t0ken");
	assert_string_equal(auth.date, "");
	assert_null(strstr(auth.shown, "t0ken"));
	ctl_credentials_auth_clear(&auth);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_profile_file_and_name,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup,
		    teardown),
		cmocka_unit_test(test_authorization_headers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
