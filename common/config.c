/*
 * config.c - table-driven configuration: defaults, file, environment,
 * flags (later wins).
 *
 * Every error names where the value came from and what is wrong:
 *   broker.conf:12: unknown option 'prot'
 *   broker.conf:3: port: '70000' is out of range 1..65535
 *   STRATA_PORT: 'abc' is not an integer
 *   --tls: 'maybe' is not a boolean (true/false/yes/no/on/off/1/0)
 *
 * File syntax: "name value" per line, the value being the rest of the line
 * with surrounding blanks removed.  '#' starts a comment at the start of a
 * line or after a blank, so values such as "a/#" keep their '#'.
 *
 * Flags: --name value, --name=value, -c FILE / --config FILE /
 * --config=FILE, -h / --help.  A boolean flag may stand alone ("--tls"
 * means true) unless the next argument is a boolean word.  When no -c is
 * given, the file named by STRATA_CONFIG is read, if set.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "linkauth.h"
#include "log.h"
#include "redis.h"
#include "redis_tls.h"
#include "status.h"

#define CONFIG_BOOL_WORDS "true/false/yes/no/on/off/1/0"

struct config_ctx {
	const struct strata_config_option *opts;
	size_t nopts;
	void *cfg;
	char *err;
	size_t errlen;
};

static int config_error(struct config_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
config_error(struct config_ctx *c, const char *fmt, ...)
{
	va_list ap;

	if (c->errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(c->err, c->errlen, fmt, ap);
		va_end(ap);
	}
	return STRATA_EINVAL;
}

static const struct strata_config_option *
config_find(const struct config_ctx *c, const char *name, size_t len)
{
	for (size_t i = 0; i < c->nopts; i++)
		if (strlen(c->opts[i].name) == len &&
		    memcmp(c->opts[i].name, name, len) == 0)
			return &c->opts[i];
	return NULL;
}

/* 1 true, 0 false, -1 not a boolean word. */
static int
config_bool_word(const char *v)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return 1;
		if (strcasecmp(v, no[i]) == 0)
			return 0;
	}
	return -1;
}

static int
config_set_int(struct config_ctx *c, const struct strata_config_option *o,
    const char *value, const char *where)
{
	long *field = (long *)((char *)c->cfg + o->offset);
	char *end;
	long v;

	errno = 0;
	if (value[0] == '\0' || isspace((unsigned char)value[0]))
		return config_error(
		    c, "%s: '%s' is not an integer", where, value);
	v = strtol(value, &end, 10);
	if (*end != '\0')
		return config_error(
		    c, "%s: '%s' is not an integer", where, value);
	if (errno == ERANGE || v < o->min || v > o->max)
		return config_error(c, "%s: '%s' is out of range %ld..%ld",
		    where, value, o->min, o->max);
	*field = v;
	return 0;
}

/* Parse value into o's field; `where` prefixes any error message. */
static int
config_set(struct config_ctx *c, const struct strata_config_option *o,
    const char *value, const char *where)
{
	char *base = (char *)c->cfg + o->offset;
	char *copy;
	int b;

	switch (o->type) {
	case STRATA_CFG_STRING:
		copy = strdup(value);
		if (copy == NULL)
			abort();
		free(*(char **)base);
		*(char **)base = copy;
		return 0;
	case STRATA_CFG_INT:
		return config_set_int(c, o, value, where);
	case STRATA_CFG_BOOL:
		if ((b = config_bool_word(value)) < 0)
			return config_error(c,
			    "%s: '%s' is not a boolean (" CONFIG_BOOL_WORDS
			    ")",
			    where, value);
		*(bool *)base = b == 1;
		return 0;
	}
	return config_error(c, "%s: option has an unknown type", where);
}

/* Overwrite every field (strings are not freed: cfg may hold garbage)
 * and apply the table's defaults. */
static int
config_defaults(struct config_ctx *c)
{
	char where[128];

	for (size_t i = 0; i < c->nopts; i++) {
		const struct strata_config_option *o = &c->opts[i];
		char *base = (char *)c->cfg + o->offset;

		if (o->type == STRATA_CFG_STRING)
			*(char **)base = NULL;
		else if (o->type == STRATA_CFG_INT)
			*(long *)base = 0;
		else
			*(bool *)base = false;
		if (o->default_value == NULL)
			continue;
		snprintf(where, sizeof(where), "default of '%s'", o->name);
		if (config_set(c, o, o->default_value, where) != 0)
			return STRATA_EINVAL;
	}
	return 0;
}

/* Remove a comment and surrounding blanks from line, in place. */
static char *
config_trim(char *line)
{
	char *end;

	for (char *p = line; *p != '\0'; p++)
		if (*p == '#' &&
		    (p == line || isspace((unsigned char)p[-1]))) {
			*p = '\0';
			break;
		}
	while (isspace((unsigned char)*line))
		line++;
	end = line + strlen(line);
	while (end > line && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return line;
}

static int
config_file_line(
    struct config_ctx *c, const char *file, unsigned lineno, char *line)
{
	const struct strata_config_option *o;
	char where[512];
	char *name = config_trim(line), *value;
	size_t nlen;

	if (*name == '\0')
		return 0;
	nlen = strcspn(name, " \t");
	value = name + nlen;
	while (isspace((unsigned char)*value))
		value++;
	o = config_find(c, name, nlen);
	if (o == NULL)
		return config_error(c, "%s:%u: unknown option '%.*s'", file,
		    lineno, (int)nlen, name);
	if (*value == '\0')
		return config_error(
		    c, "%s:%u: missing value for '%s'", file, lineno, o->name);
	snprintf(where, sizeof(where), "%s:%u: %s", file, lineno, o->name);
	return config_set(c, o, value, where);
}

static int
config_file(struct config_ctx *c, const char *file)
{
	FILE *f = fopen(file, "r");
	char *line = NULL;
	size_t cap = 0;
	unsigned lineno = 0;
	int rc = 0;

	if (f == NULL)
		return config_error(
		    c, "%s: cannot open: %s", file, strerror(errno));
	while (rc == 0 && getline(&line, &cap, f) != -1)
		rc = config_file_line(c, file, ++lineno, line);
	if (rc == 0 && ferror(f))
		rc = config_error(
		    c, "%s: read error: %s", file, strerror(errno));
	free(line);
	fclose(f);
	return rc;
}

static int
config_env(struct config_ctx *c)
{
	char var[128];

	for (size_t i = 0; i < c->nopts; i++) {
		const char *name = c->opts[i].name, *value;
		size_t n =
		    (size_t)snprintf(var, sizeof(var), "STRATA_%s", name);

		if (n >= sizeof(var))
			return config_error(
			    c, "option name '%s' too long", name);
		for (char *p = var; *p != '\0'; p++)
			*p =
			    *p == '-' ? '_' : (char)toupper((unsigned char)*p);
		value = getenv(var);
		if (value != NULL && config_set(c, &c->opts[i], value, var))
			return STRATA_EINVAL;
	}
	return 0;
}

static bool
config_is_config_flag(const char *arg)
{
	return strcmp(arg, "-c") == 0 || strcmp(arg, "--config") == 0;
}

/* One flag at argv[*i]: find its option and value; apply it if `apply`.
 * Advances *i past a separate value. */
static int
config_flag(struct config_ctx *c, int argc, char **argv, int *i, bool apply)
{
	const char *arg = argv[*i], *name = arg + 2, *value;
	const char *eq = strchr(name, '=');
	size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
	const struct strata_config_option *o;
	char where[128];

	if (arg[0] != '-' || arg[1] != '-' || nlen == 0)
		return config_error(c, "unexpected argument '%s'", arg);
	o = config_find(c, name, nlen);
	if (o == NULL)
		return config_error(
		    c, "unknown option '--%.*s'", (int)nlen, name);
	if (eq != NULL)
		value = eq + 1;
	else if (o->type == STRATA_CFG_BOOL &&
	         (*i + 1 >= argc || config_bool_word(argv[*i + 1]) < 0))
		value = "true";
	else if (*i + 1 >= argc)
		return config_error(c, "--%s: missing value", o->name);
	else
		value = argv[++*i];
	snprintf(where, sizeof(where), "--%s", o->name);
	return apply ? config_set(c, o, value, where) : 0;
}

/* Walk the flags: check them (apply false, also finds the config file) or
 * apply them (apply true). */
static int
config_flags(
    struct config_ctx *c, int argc, char **argv, bool apply, const char **file)
{
	for (int i = 1; i < argc; i++) {
		if (config_is_config_flag(argv[i])) {
			if (i + 1 >= argc)
				return config_error(
				    c, "%s: missing file name", argv[i]);
			*file = argv[++i];
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			*file = argv[i] + 9;
		} else if (config_flag(c, argc, argv, &i, apply) != 0) {
			return STRATA_EINVAL;
		}
	}
	return 0;
}

static const char *
config_type_hint(const struct strata_config_option *o, char *buf, size_t len)
{
	if (o->type == STRATA_CFG_INT)
		snprintf(buf, len, "INT (%ld..%ld)", o->min, o->max);
	else if (o->type == STRATA_CFG_BOOL)
		snprintf(buf, len, "[BOOL]");
	else
		snprintf(buf, len, "STRING");
	return buf;
}

static void
config_help(const struct config_ctx *c, const char *program, FILE *out)
{
	char hint[96];

	fprintf(out,
	    "Usage: %s [options]\n\n"
	    "Each option can also be set in the config file as \"name value\""
	    "\nand in the environment as STRATA_NAME ('-' becomes '_').\n"
	    "Flags override the environment, which overrides the file.\n\n"
	    "  -c, --config FILE\n      Read options from FILE "
	    "(default: $STRATA_CONFIG, else none).\n"
	    "  -h, --help\n      Print this help and exit.\n",
	    program);
	for (size_t i = 0; i < c->nopts; i++) {
		const struct strata_config_option *o = &c->opts[i];

		fprintf(out, "  --%s %s\n      %s (default: %s)\n", o->name,
		    config_type_hint(o, hint, sizeof(hint)),
		    o->help ? o->help : "",
		    o->default_value ? o->default_value : "none");
	}
}

static bool
config_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

int
strata_config_load(const struct strata_config_option *opts, size_t nopts,
    void *cfg, int argc, char **argv, const char *program, FILE *out,
    char *err, size_t errlen)
{
	struct config_ctx c = {opts, nopts, cfg, err, errlen};
	const char *file = NULL;

	if (errlen > 0)
		err[0] = '\0';
	if (config_defaults(&c) != 0)
		return STRATA_EINVAL;
	if (config_wants_help(argc, argv)) {
		config_help(&c, program, out);
		return 1;
	}
	if (config_flags(&c, argc, argv, false, &file) != 0)
		return STRATA_EINVAL;
	if (file == NULL)
		file = getenv("STRATA_CONFIG");
	if (file != NULL && config_file(&c, file) != 0)
		return STRATA_EINVAL;
	if (config_env(&c) != 0)
		return STRATA_EINVAL;
	return config_flags(&c, argc, argv, true, &file);
}

void
strata_config_free(
    const struct strata_config_option *opts, size_t nopts, void *cfg)
{
	for (size_t i = 0; i < nopts; i++) {
		char **field;

		if (opts[i].type != STRATA_CFG_STRING)
			continue;
		field = (char **)((char *)cfg + opts[i].offset);
		free(*field);
		*field = NULL;
	}
}

int
strata_config_node_check(char **node_id, const char *log_level,
    const char *daemon, char *err, size_t errlen)
{
	if (strata_log_level_parse(log_level) < 0) {
		snprintf(err, errlen, "--log-level: unknown '%s' (debug, info, "
		    "warn or error)", log_level);
		return STRATA_EINVAL;
	}
	if (*node_id == NULL &&
	    asprintf(node_id, "%s-%ld", daemon, (long)getpid()) < 0)
		abort();
	return 0;
}

int
strata_config_node_files_load(const struct strata_config_node_files *f,
    char *err, size_t errlen)
{
	if (strata_redis_secrets_load(f->redis_secrets, f->redis_user,
	    f->redis_password_file, f->redis_sentinel_user,
	    f->redis_sentinel_password_file, err, errlen) != 0)
		return STRATA_EINVAL;
	if (strata_redis_tls_context(&f->redis_secrets->tls, f->redis_tls,
	    f->redis_tls_ca, f->redis_tls_cert, f->redis_tls_key, err,
	    errlen) != 0)
		return STRATA_EINVAL;
	strata_linkauth_free(f->link_auth);
	if (f->cluster_secret_file[0] != '\0' &&
	    strata_linkauth_load(f->link_auth, f->cluster_secret_file, err,
	    errlen) != 0)
		return STRATA_EINVAL;
	return 0;
}
