/*
 * args.c - parsing stratactl's command line (see args.h).
 *
 * Words are read left to right: options (--name, --name=value) are global
 * options or flags of the command named so far; the first other word is
 * the command; a "help" word asks for help; another word after the
 * command is its positional outfile.  A flag given twice keeps its last
 * value (as argparse does for the AWS CLI).  A value that looks like an
 * option (--name) must be written --flag=value.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"

#define ARGS_MAX_NAME 64
#define ARGS_MAX_TIMEOUT 3600

enum args_global {
	ARGS_ENDPOINT,
	ARGS_TOKEN_FILE,
	ARGS_PROFILE,
	ARGS_CA_FILE,
	ARGS_TIMEOUT,
	ARGS_BINARY_FORMAT,
	ARGS_DEBUG,
	ARGS_HELP,
};

static const struct {
	const char *name;
	enum args_global which;
} args_globals[] = {
	{ "endpoint-url", ARGS_ENDPOINT },
	{ "token-file", ARGS_TOKEN_FILE },
	{ "profile", ARGS_PROFILE },
	{ "ca-file", ARGS_CA_FILE },
	{ "cli-read-timeout", ARGS_TIMEOUT },
	{ "cli-binary-format", ARGS_BINARY_FORMAT },
	{ "debug", ARGS_DEBUG },
	{ "help", ARGS_HELP },
};

/* The option being read: argv[i] is "--name" or "--name=value". */
struct args_cursor {
	int argc;
	char **argv;
	int i;
	char name[ARGS_MAX_NAME];   /* without "--" and "=value" */
	const char *inline_value;   /* after '=', or NULL */
};

/* Is word an option ("--name" or "--name=...", name [a-z][a-z0-9-]*)?
 * Other words are values even when they start with "--": a PEM given
 * inline starts with "-----BEGIN". */
static bool
args_is_option(const char *word)
{
	const char *p = word + 2;

	if (strncmp(word, "--", 2) != 0 || !(*p >= 'a' && *p <= 'z'))
		return false;
	while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
	    *p == '-')
		p++;
	return *p == '\0' || *p == '=';
}

/* Set *value to the option's value: the inline one, or the next word. */
static int
args_take_value(struct args_cursor *cur, const char **value,
    struct ctl_error *err)
{
	if (cur->inline_value != NULL) {
		*value = cur->inline_value;
		return 0;
	}
	if (cur->i + 1 >= cur->argc || args_is_option(cur->argv[cur->i + 1]))
		return ctl_error_usage(err,
		    "argument --%s: expected one argument", cur->name);
	*value = cur->argv[++cur->i];
	return 0;
}

static int
args_no_value(const struct args_cursor *cur, struct ctl_error *err)
{
	if (cur->inline_value == NULL)
		return 0;
	return ctl_error_usage(err, "argument --%s: ignored explicit "
	    "argument '%s'", cur->name, cur->inline_value);
}

/* Parse a decimal integer; 0, or -1 when text is not one. */
static int
args_integer(const char *text, long long *out)
{
	char *end;

	if (*text == '\0')
		return -1;
	errno = 0;
	*out = strtoll(text, &end, 10);
	return errno != 0 || *end != '\0' ? -1 : 0;
}

static int
args_timeout(struct ctl_invocation *inv, const char *value,
    struct ctl_error *err)
{
	long long seconds;

	if (args_integer(value, &seconds) != 0 || seconds < 1 ||
	    seconds > ARGS_MAX_TIMEOUT)
		return ctl_error_usage(err, "argument --cli-read-timeout: "
		    "invalid value '%s' (seconds, 1 to %d)", value,
		    ARGS_MAX_TIMEOUT);
	inv->timeout_seconds = (int)seconds;
	return 0;
}

static int
args_binary_format(struct ctl_invocation *inv, const char *value,
    struct ctl_error *err)
{
	if (strcmp(value, "base64") == 0)
		inv->binary_format = CTL_BINARY_BASE64;
	else if (strcmp(value, "raw-in-base64-out") == 0)
		inv->binary_format = CTL_BINARY_RAW_IN_BASE64_OUT;
	else
		return ctl_error_usage(err, "argument --cli-binary-format: "
		    "Invalid choice: '%s', valid choices are: "
		    "base64|raw-in-base64-out", value);
	return 0;
}

static int
args_global(struct ctl_invocation *inv, struct args_cursor *cur,
    enum args_global which, struct ctl_error *err)
{
	const char *value = NULL;

	if (which == ARGS_DEBUG || which == ARGS_HELP) {
		if (args_no_value(cur, err) != 0)
			return -1;
		*(which == ARGS_DEBUG ? &inv->debug : &inv->help) = true;
		return 0;
	}
	if (args_take_value(cur, &value, err) != 0)
		return -1;
	switch (which) {
	case ARGS_ENDPOINT:
		inv->endpoint_url = value;
		return 0;
	case ARGS_TOKEN_FILE:
		inv->token_file = value;
		return 0;
	case ARGS_PROFILE:
		inv->profile = value;
		return 0;
	case ARGS_CA_FILE:
		inv->ca_file = value;
		return 0;
	case ARGS_BINARY_FORMAT:
		return args_binary_format(inv, value, err);
	default:
		return args_timeout(inv, value, err);
	}
}

static int
args_find_flag(const struct ctl_command *c, const char *name)
{
	size_t i, n = ctl_table_flag_count(c);

	for (i = 0; i < n; i++)
		if (strcmp(c->flags[i].name, name) == 0)
			return (int)i;
	return -1;
}

static char *
args_strdup(const char *s)
{
	char *copy = strdup(s);

	if (copy == NULL)
		abort();
	return copy;
}

int
ctl_args_read_bytes(const char *path, char **bytes, size_t *len,
    char *msg, size_t msglen)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n;

	*bytes = NULL;
	*len = 0;
	if (f == NULL) {
		snprintf(msg, msglen, "%s", strerror(errno));
		return -1;
	}
	if ((buf = malloc(CTL_MAX_FILE + 2)) == NULL)
		abort();
	n = fread(buf, 1, CTL_MAX_FILE + 1, f);
	if (ferror(f))
		snprintf(msg, msglen, "%s", strerror(errno));
	else if (n > CTL_MAX_FILE)
		snprintf(msg, msglen, "larger than %d bytes", CTL_MAX_FILE);
	else
		*bytes = buf;
	fclose(f);
	if (*bytes == NULL) {
		free(buf);
		return -1;
	}
	buf[n] = '\0';
	*len = n;
	return 0;
}

int
ctl_args_read_file(const char *path, char **text, char *msg,
    size_t msglen)
{
	size_t n;

	if (ctl_args_read_bytes(path, text, &n, msg, msglen) != 0)
		return -1;
	if (memchr(*text, '\0', n) == NULL)
		return 0;
	snprintf(msg, msglen, "not a text file (a NUL byte)");
	free(*text);
	*text = NULL;
	return -1;
}

/* Is value one of choices ("A|B|C")? */
static bool
args_is_choice(const char *choices, const char *value)
{
	size_t n = strlen(value);
	const char *p = choices;

	if (strchr(value, '|') != NULL)
		return false;
	for (;;) {
		if (strncmp(p, value, n) == 0 && (p[n] == '|' || p[n] == '\0'))
			return true;
		if ((p = strchr(p, '|')) == NULL)
			return false;
		p++;
	}
}

static int
args_check_choice(const struct ctl_flag *f, const char *value,
    struct ctl_error *err)
{
	if (f->choices == NULL || args_is_choice(f->choices, value))
		return 0;
	return ctl_error_usage(err, "argument --%s: Invalid choice: '%s', "
	    "valid choices are: %s", f->name, value, f->choices);
}

static int
args_paramfile_error(const struct ctl_flag *f, const char *value,
    const char *msg, struct ctl_error *err)
{
	return ctl_error_set(err, CTL_EXIT_USAGE, "Error parsing parameter "
	    "'--%s': Unable to load paramfile %s: %s", f->name, value, msg);
}

/* The text of a flag's value: the file's for file://PATH where the flag
 * allows it; for a blob, the bytes of fileb://PATH (*binary set).
 * Returns 0 with *text owned and *len, or -1 with err. */
static int
args_value_text(const struct ctl_flag *f, const char *value, char **text,
    size_t *len, bool *binary, struct ctl_error *err)
{
	char msg[256];
	long long number;

	*binary = false;
	if (f->kind == CTL_BLOB && strncmp(value, "fileb://", 8) == 0) {
		if (ctl_args_read_bytes(value + 8, text, len, msg,
		    sizeof(msg)) != 0)
			return args_paramfile_error(f, value, msg, err);
		*binary = true;
		return 0;
	}
	if ((f->options & CTL_FILE) && strncmp(value, "file://", 7) == 0) {
		if (ctl_args_read_file(value + 7, text, msg, sizeof(msg)) != 0)
			return args_paramfile_error(f, value, msg, err);
		*len = strlen(*text);
		return 0;
	}
	if (f->kind == CTL_INTEGER && args_integer(value, &number) != 0)
		return ctl_error_usage(err,
		    "argument --%s: invalid int value: '%s'", f->name, value);
	if (args_check_choice(f, value, err) != 0)
		return -1;
	*text = args_strdup(value);
	*len = strlen(value);
	return 0;
}

/* Keep text (owned) as the value of flag i, dropping an earlier one. */
static void
args_keep(struct ctl_invocation *inv, int i, char *text, size_t len,
    bool binary)
{
	free(inv->values[i]);
	inv->values[i] = text;
	inv->lengths[i] = len;
	inv->binary[i] = binary;
}

static int
args_flag(struct ctl_invocation *inv, struct args_cursor *cur,
    struct ctl_error *err)
{
	const struct ctl_command *c = inv->command;
	int i = args_find_flag(c, cur->name);
	bool negated = false, binary = false;
	const char *value;
	char *text;
	size_t len;

	if (i < 0 && strncmp(cur->name, "no-", 3) == 0) {
		i = args_find_flag(c, cur->name + 3);
		if (i >= 0 && c->flags[i].kind != CTL_BOOLEAN)
			i = -1;
		negated = true;
	}
	/* the positional outfile has no --outfile form */
	if (i < 0 || c->flags[i].place == CTL_PAYLOAD_OUTFILE)
		return ctl_error_usage(err, "Unknown options: --%s",
		    cur->name);
	if (c->flags[i].kind == CTL_BOOLEAN) {
		if (args_no_value(cur, err) != 0)
			return -1;
		text = args_strdup(negated ? "false" : "true");
		len = strlen(text);
	} else if (args_take_value(cur, &value, err) != 0 ||
	    args_value_text(&c->flags[i], value, &text, &len, &binary,
	    err) != 0) {
		return -1;
	}
	args_keep(inv, i, text, len, binary);
	return 0;
}

static int
args_option(struct ctl_invocation *inv, struct args_cursor *cur,
    struct ctl_error *err)
{
	const char *arg = cur->argv[cur->i] + 2;
	const char *eq = strchr(arg, '=');
	size_t len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
	size_t g;

	if (len == 0 || len >= sizeof(cur->name))
		return ctl_error_usage(err, "Unknown options: %s",
		    cur->argv[cur->i]);
	memcpy(cur->name, arg, len);
	cur->name[len] = '\0';
	cur->inline_value = eq != NULL ? eq + 1 : NULL;
	for (g = 0; g < sizeof(args_globals) / sizeof(args_globals[0]); g++)
		if (strcmp(args_globals[g].name, cur->name) == 0)
			return args_global(inv, cur, args_globals[g].which,
			    err);
	if (inv->command == NULL)
		return ctl_error_usage(err, "Unknown options: --%s",
		    cur->name);
	return args_flag(inv, cur, err);
}

/* A word after the command: its positional outfile, once. */
static int
args_positional(struct ctl_invocation *inv, const char *word,
    struct ctl_error *err)
{
	int i = ctl_table_flag_at(inv->command, CTL_PAYLOAD_OUTFILE);

	if (i < 0 || inv->values[i] != NULL)
		return ctl_error_usage(err, "Unknown options: %s", word);
	args_keep(inv, i, args_strdup(word), strlen(word), false);
	return 0;
}

/* A word that is not an option: "help", the command, or its outfile. */
static int
args_word(struct ctl_invocation *inv, const char *word,
    struct ctl_error *err)
{
	if (strcmp(word, "help") == 0 && !inv->help) {
		inv->help = true;
		return 0;
	}
	if (inv->command != NULL)
		return args_positional(inv, word, err);
	if ((inv->command = ctl_table_find(word)) == NULL)
		return ctl_error_usage(err, "argument command: Invalid "
		    "choice: '%s' (stratactl help lists the commands)", word);
	return 0;
}

static int
args_check_required(const struct ctl_invocation *inv,
    struct ctl_error *err)
{
	const struct ctl_command *c = inv->command;
	size_t i, n = ctl_table_flag_count(c);
	char missing[CTL_MAX_FLAGS * (ARGS_MAX_NAME + 4)] = "";
	size_t used = 0;

	for (i = 0; i < n; i++) {
		if (!(c->flags[i].options & CTL_REQUIRED) ||
		    inv->values[i] != NULL)
			continue;
		used += snprintf(missing + used, sizeof(missing) - used,
		    "%s%s%s", used > 0 ? ", " : "",
		    c->flags[i].place == CTL_PAYLOAD_OUTFILE ? "" : "--",
		    c->flags[i].name);
	}
	if (used == 0)
		return 0;
	return ctl_error_usage(err,
	    "the following arguments are required: %s", missing);
}

int
ctl_args_parse(struct ctl_invocation *inv, int argc, char **argv,
    struct ctl_error *err)
{
	struct args_cursor cur = { .argc = argc, .argv = argv };
	int rc = 0;

	memset(inv, 0, sizeof(*inv));
	inv->timeout_seconds = CTL_DEFAULT_TIMEOUT;
	for (cur.i = 1; cur.i < argc && rc == 0; cur.i++) {
		if (strncmp(argv[cur.i], "--", 2) == 0)
			rc = args_option(inv, &cur, err);
		else
			rc = args_word(inv, argv[cur.i], err);
	}
	if (rc == 0 && !inv->help && inv->command == NULL)
		rc = ctl_error_usage(err,
		    "the following arguments are required: command");
	if (rc == 0 && !inv->help)
		rc = args_check_required(inv, err);
	if (rc != 0)
		ctl_args_clear(inv);
	return rc;
}

void
ctl_args_clear(struct ctl_invocation *inv)
{
	size_t i;

	for (i = 0; i < CTL_MAX_FLAGS; i++) {
		free(inv->values[i]);
		inv->values[i] = NULL;
		inv->lengths[i] = 0;
		inv->binary[i] = false;
	}
}

const char *
ctl_args_value(const struct ctl_invocation *inv, const char *name)
{
	int i;

	if (inv->command == NULL)
		return NULL;
	i = args_find_flag(inv->command, name);
	return i < 0 ? NULL : inv->values[i];
}
