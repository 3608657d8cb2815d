/*
 * credentials.c - finding stratactl's credentials and making the
 * headers of a request from them (see credentials.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "credentials.h"
#include "profile.h"

#define CREDENTIALS_ENV_KEY_ID "STRATA_ACCESS_KEY_ID"
#define CREDENTIALS_ENV_SECRET "STRATA_SECRET_ACCESS_KEY"
#define CREDENTIALS_ENV_TOKEN "STRATA_ADMIN_TOKEN"

static const char *
credentials_env(const char *name)
{
	const char *value = getenv(name);

	return value != NULL && *value != '\0' ? value : NULL;
}

static char *
credentials_printf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static char *
credentials_printf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	return s;
}

/* A token without its trailing line breaks (as the server reads its
 * own); NULL when nothing is left. */
static char *
credentials_token(char *token)
{
	size_t n = strlen(token);

	while (n > 0 && (token[n - 1] == '\n' || token[n - 1] == '\r'))
		token[--n] = '\0';
	if (n > 0)
		return token;
	free(token);
	return NULL;
}

static int
credentials_token_file(struct ctl_credentials *c, const char *path,
    struct ctl_error *err)
{
	char msg[256], *text;

	if (ctl_args_read_file(path, &text, msg, sizeof(msg)) != 0)
		return ctl_error_set(err, CTL_EXIT_CONFIG,
		    "Unable to read the token file %s: %s", path, msg);
	if ((c->token = credentials_token(text)) == NULL)
		return ctl_error_set(err, CTL_EXIT_CONFIG, "Unable to locate "
		    "credentials: the token file %s is empty", path);
	c->source = credentials_printf("the token file %s", path);
	return 0;
}

/* An access key id goes into the Authorization header after
 * "Credential=": visible ASCII, no comma. */
static bool
credentials_key_id_ok(const char *id)
{
	const unsigned char *p;

	for (p = (const unsigned char *)id; *p != '\0'; p++)
		if (*p <= ' ' || *p >= 0x7f || *p == ',')
			return false;
	return true;
}

/* Keep the access key id and secret in c; source (always consumed) says
 * where they came from. */
static int
credentials_key(struct ctl_credentials *c, const char *id,
    const char *secret, char *source, struct ctl_error *err)
{
	if (!credentials_key_id_ok(id)) {
		ctl_error_set(err, CTL_EXIT_CONFIG, "The access key id of %s "
		    "is not valid: it has a space, a comma or a character "
		    "that is not ASCII", source);
		free(source);
		return -1;
	}
	if ((c->access_key_id = strdup(id)) == NULL ||
	    (c->secret_access_key = strdup(secret)) == NULL)
		abort();
	c->source = source;
	return 0;
}

/* The credentials file: a new string, or NULL without a HOME. */
static char *
credentials_file(void)
{
	const char *file = credentials_env("STRATA_SHARED_CREDENTIALS_FILE");
	const char *home = credentials_env("HOME");

	if (file != NULL)
		return credentials_printf("%s", file);
	if (home != NULL)
		return credentials_printf("%s/.strata/credentials", home);
	return NULL;
}

static int
credentials_profile_missing(const char *name, struct ctl_error *err)
{
	return ctl_error_set(err, CTL_EXIT_CONFIG,
	    "The config profile (%s) could not be found", name);
}

/* The access key of profile p, called name, of the file at path. */
static int
credentials_profile_key(struct ctl_credentials *c,
    const struct ctl_profile *p, const char *name, const char *path,
    struct ctl_error *err)
{
	char *source;

	if (p->access_key_id == NULL && p->secret_access_key == NULL)
		return 0;
	source = credentials_printf("the profile (%s) of %s", name, path);
	if (p->access_key_id != NULL && p->secret_access_key != NULL)
		return credentials_key(c, p->access_key_id,
		    p->secret_access_key, source, err);
	ctl_error_set(err, CTL_EXIT_CONFIG, "Partial credentials found in "
	    "%s, missing: %s", source, p->access_key_id == NULL ?
	    "strata_access_key_id" : "strata_secret_access_key");
	free(source);
	return -1;
}

/* The profile called name of the credentials file; named: it was asked
 * for by name, so it must be there. */
static int
credentials_profile(struct ctl_credentials *c, const char *name,
    bool named, struct ctl_error *err)
{
	char *path = credentials_file(), *text = NULL, msg[256];
	struct ctl_profile p = { 0 };
	struct stat st;
	int rc = -1;

	if (path == NULL || (stat(path, &st) != 0 && errno == ENOENT)) {
		rc = named ? credentials_profile_missing(name, err) : 0;
		goto out;
	}
	if (ctl_args_read_file(path, &text, msg, sizeof(msg)) != 0) {
		ctl_error_set(err, CTL_EXIT_CONFIG, "Unable to read the "
		    "credentials file %s: %s", path, msg);
		goto out;
	}
	if (ctl_profile_parse(&p, text, name, msg, sizeof(msg)) != 0) {
		ctl_error_set(err, CTL_EXIT_CONFIG,
		    "Unable to parse config file: %s: %s", path, msg);
		goto out;
	}
	if (!p.found)
		rc = named ? credentials_profile_missing(name, err) : 0;
	else
		rc = credentials_profile_key(c, &p, name, path, err);
out:
	ctl_profile_clear(&p);
	free(text);
	free(path);
	return rc;
}

/* Sources 2 to 4: the environment, then the credentials file. */
static int
credentials_environment(struct ctl_credentials *c, struct ctl_error *err)
{
	const char *id = credentials_env(CREDENTIALS_ENV_KEY_ID);
	const char *secret = credentials_env(CREDENTIALS_ENV_SECRET);
	const char *token = credentials_env(CREDENTIALS_ENV_TOKEN);
	const char *profile = credentials_env("STRATA_PROFILE");

	if (id != NULL && secret != NULL)
		return credentials_key(c, id, secret, credentials_printf(
		    "the environment (%s)", CREDENTIALS_ENV_KEY_ID), err);
	if (id != NULL || secret != NULL)
		return ctl_error_set(err, CTL_EXIT_CONFIG, "Partial "
		    "credentials found in env, missing: %s", id == NULL ?
		    CREDENTIALS_ENV_KEY_ID : CREDENTIALS_ENV_SECRET);
	if (token != NULL) {
		if ((c->token = strdup(token)) == NULL)
			abort();
		c->token = credentials_token(c->token);
		c->source = credentials_printf("the environment (%s)",
		    CREDENTIALS_ENV_TOKEN);
		return 0;
	}
	return credentials_profile(c, profile != NULL ? profile : "default",
	    profile != NULL, err);
}

int
ctl_credentials_load(struct ctl_credentials *c,
    const struct ctl_invocation *inv, struct ctl_error *err)
{
	int rc;

	memset(c, 0, sizeof(*c));
	if (inv->token_file != NULL && inv->profile != NULL)
		return ctl_error_usage(err,
		    "--profile and --token-file cannot be used together");
	if (inv->token_file != NULL)
		rc = credentials_token_file(c, inv->token_file, err);
	else if (inv->profile != NULL)
		rc = credentials_profile(c, inv->profile, true, err);
	else
		rc = credentials_environment(c, err);
	if (rc == 0 && c->token == NULL && c->access_key_id == NULL)
		rc = ctl_error_set(err, CTL_EXIT_CONFIG, "Unable to locate "
		    "credentials: set %s and %s, or %s, or use --profile or "
		    "--token-file", CREDENTIALS_ENV_KEY_ID,
		    CREDENTIALS_ENV_SECRET, CREDENTIALS_ENV_TOKEN);
	if (rc != 0)
		ctl_credentials_clear(c);
	return rc;
}

void
ctl_credentials_clear(struct ctl_credentials *c)
{
	free(c->token);
	free(c->access_key_id);
	free(c->secret_access_key);
	free(c->source);
	memset(c, 0, sizeof(*c));
}

void
ctl_credentials_auth(const struct ctl_credentials *c,
    const struct ctl_request *req, time_t now, struct ctl_auth *auth)
{
	char signature[CTL_SIGN_HEX_LEN + 1];

	memset(auth, 0, sizeof(*auth));
	if (c->access_key_id == NULL) {
		auth->authorization = credentials_printf("Bearer %s",
		    c->token);
		auth->shown = credentials_printf("Bearer (not shown)");
		return;
	}
	ctl_sign_date(now, auth->date);
	ctl_sign(c->secret_access_key, auth->date, req, signature);
	auth->authorization = credentials_printf(CTL_SIGN_SCHEME
	    " Credential=%s, Signature=%s", c->access_key_id, signature);
	auth->shown = credentials_printf(CTL_SIGN_SCHEME
	    " Credential=%s, Signature=(not shown)", c->access_key_id);
}

void
ctl_credentials_auth_clear(struct ctl_auth *auth)
{
	free(auth->authorization);
	free(auth->shown);
	memset(auth, 0, sizeof(*auth));
}
