/*
 * stratactl.c - the command-line client of the admin API
 * (docs/internals/admin-api.md, docs/internals/stratactl.md).
 *
 * One run: parse the command line (args.c), find the endpoint, token and
 * CA file (flags first, then STRATA_ADMIN_URL, STRATA_ADMIN_TOKEN,
 * STRATA_ADMIN_CA_FILE), build the request from the command's row of the
 * table (table.c, request.c), send it (http.c), print the answer or the
 * error line (output.c), exit with the AWS CLI's status (ctl.h).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "ctl.h"
#include "endpoint.h"
#include "http.h"
#include "output.h"
#include "request.h"
#include "table.h"

/* Where the request goes and who sends it. */
struct settings {
	const char *endpoint_url;
	const char *ca_file;
	char *token;            /* owned */
};

static void
usage_lines(FILE *f)
{
	fputs("usage: stratactl [options] <command> [parameters]\n"
	    "To see help text, you can run:\n"
	    "\n"
	    "  stratactl help\n"
	    "  stratactl <command> help\n"
	    "\n", f);
}

static int
report(const struct ctl_error *err)
{
	if (err->usage) {
		usage_lines(stderr);
		fprintf(stderr, "stratactl: error: %s\n", err->message);
	} else {
		fprintf(stderr, "%s\n", err->message);
	}
	return err->status;
}

static void
help_commands(void)
{
	size_t i;

	printf("stratactl - the command-line client of Strata's admin API.\n"
	    "Commands and flags are those of `aws iot`.\n\n");
	usage_lines(stdout);
	printf("Commands:\n");
	for (i = 0; i < ctl_table_count; i++)
		printf("  %-29s %s\n", ctl_table_commands[i].name,
		    ctl_table_commands[i].summary);
	printf("\nOptions, before or after the command:\n"
	    "  --endpoint-url URL      the admin API, http:// or https:// "
	    "(STRATA_ADMIN_URL)\n"
	    "  --token-file FILE       the bearer token, from a file "
	    "(STRATA_ADMIN_TOKEN)\n"
	    "  --ca-file FILE          CA certificates of an https endpoint "
	    "(STRATA_ADMIN_CA_FILE;\n"
	    "                          default: the system's)\n"
	    "  --cli-read-timeout S    seconds the request may take (%d)\n"
	    "  --debug                 the request line and the status on "
	    "stderr\n"
	    "  --help                  this text\n"
	    "\nExit status: 0 success, 252 usage error, 253 no endpoint or "
	    "token, 254 error\nanswer (the error line on stderr), 255 no "
	    "answer (endpoint not reached,\ntimeout, TLS refused).\n",
	    CTL_DEFAULT_TIMEOUT);
}

static const char *
help_value(const struct ctl_flag *f)
{
	if (f->place == CTL_OUTFILE)
		return " <file>";
	switch (f->kind) {
	case CTL_BOOLEAN:
		return "";
	case CTL_INTEGER:
		return " <integer>";
	case CTL_OBJECT:
	case CTL_ATTRIBUTES:
		return " <json|shorthand>";
	default:
		return " <value>";
	}
}

static const char *
help_kind(const struct ctl_flag *f)
{
	switch (f->kind) {
	case CTL_BOOLEAN:
		return "; true, or false with --no-";
	case CTL_OBJECT:
		return "; a JSON object, or shorthand k=v,k2=v2";
	case CTL_ATTRIBUTES:
		return "; JSON {\"attributes\": {\"k\": \"v\"}, \"merge\": "
		       "true}\n      or shorthand attributes={k=v},merge=true";
	default:
		return "";
	}
}

static void
help_flag(const struct ctl_flag *f)
{
	static const char *const where[] = { [CTL_PATH] = "path {%s}",
		[CTL_QUERY] = "query %s", [CTL_BODY] = "body member %s",
		[CTL_HEADER] = "header %s",
		[CTL_OUTFILE] = "writes the answer's %s to the file" };

	printf("  --%s%s%s%s\n      ", f->kind == CTL_BOOLEAN ? "[no-]" : "",
	    f->name, help_value(f),
	    (f->options & CTL_REQUIRED) ? " (required)" : "");
	printf(where[f->place], f->wire);
	printf("%s%s%s\n", help_kind(f),
	    (f->options & CTL_PRIVATE) ? ", mode 0600" : "",
	    (f->options & CTL_FILE) ? "; file://PATH reads it from PATH" : "");
}

static void
help_command(const struct ctl_command *c)
{
	size_t i, n = ctl_table_flag_count(c);

	printf("%s: %s\n%s: %s %s\n\nusage: stratactl %s", c->name,
	    c->summary, c->operation, ctl_table_method_name(c->method),
	    c->path, c->name);
	for (i = 0; i < n; i++)
		printf((c->flags[i].options & CTL_REQUIRED) ? " --%s%s" :
		    " [--%s%s]", c->flags[i].name, help_value(&c->flags[i]));
	printf("\n\nFlags:\n");
	for (i = 0; i < n; i++)
		help_flag(&c->flags[i]);
	if (n == 0)
		printf("  (none)\n");
	printf("\nOptions: see stratactl help.\n");
}

static const char *
settings_env(const char *name)
{
	const char *value = getenv(name);

	return value != NULL && *value != '\0' ? value : NULL;
}

static int
settings_token(const struct ctl_invocation *inv, struct settings *s,
    struct ctl_error *err)
{
	const char *env = settings_env("STRATA_ADMIN_TOKEN");
	char msg[256];
	size_t n;

	if (inv->token_file != NULL) {
		if (ctl_args_read_file(inv->token_file, &s->token, msg,
		    sizeof(msg)) != 0)
			return ctl_error_set(err, CTL_EXIT_CONFIG,
			    "Unable to read the token file %s: %s",
			    inv->token_file, msg);
	} else if (env != NULL && (s->token = strdup(env)) == NULL) {
		abort();
	}
	n = s->token != NULL ? strlen(s->token) : 0;
	while (n > 0 && (s->token[n - 1] == '\n' || s->token[n - 1] == '\r'))
		s->token[--n] = '\0';
	if (n == 0)
		return ctl_error_set(err, CTL_EXIT_CONFIG, "Unable to locate "
		    "credentials: set STRATA_ADMIN_TOKEN or use --token-file");
	return 0;
}

static int
settings_load(const struct ctl_invocation *inv, struct settings *s,
    struct ctl_error *err)
{
	s->endpoint_url = inv->endpoint_url != NULL ?
	    inv->endpoint_url : settings_env("STRATA_ADMIN_URL");
	s->ca_file = inv->ca_file != NULL ?
	    inv->ca_file : settings_env("STRATA_ADMIN_CA_FILE");
	if (s->endpoint_url == NULL)
		return ctl_error_set(err, CTL_EXIT_CONFIG, "No endpoint: set "
		    "STRATA_ADMIN_URL or use --endpoint-url");
	return settings_token(inv, s, err);
}

/* The answer to inv's request, printed.  -1 with err on any failure. */
static int
run(const struct ctl_invocation *inv, struct ctl_error *err)
{
	struct settings s = { 0 };
	struct ctl_endpoint endpoint = { 0 };
	struct ctl_request req = { 0 };
	struct ctl_http_answer answer = { 0 };
	struct ctl_http_options options = { .endpoint = &endpoint,
		.timeout_seconds = inv->timeout_seconds, .debug = inv->debug };
	int rc = -1;

	if (settings_load(inv, &s, err) != 0 ||
	    ctl_endpoint_parse(&endpoint, s.endpoint_url, err) != 0 ||
	    ctl_request_build(&req, inv, endpoint.base_path, err) != 0)
		goto out;
	options.token = s.token;
	options.ca_file = s.ca_file;
	if (ctl_http_send(&options, &req, &answer, err) != 0)
		goto out;
	if (answer.status >= 200 && answer.status < 300)
		rc = ctl_output_answer(inv, &answer, stdout, err);
	else
		ctl_output_failure(inv->command, &answer, err);
out:
	ctl_http_answer_clear(&answer);
	ctl_request_clear(&req);
	ctl_endpoint_clear(&endpoint);
	free(s.token);
	return rc;
}

int
main(int argc, char **argv)
{
	struct ctl_invocation inv;
	struct ctl_error err = { 0 };
	int status = CTL_EXIT_OK;

	/* a server closing early must give an error line, not a signal */
	signal(SIGPIPE, SIG_IGN);
	if (ctl_args_parse(&inv, argc, argv, &err) != 0)
		return report(&err);
	if (inv.help && inv.command != NULL)
		help_command(inv.command);
	else if (inv.help)
		help_commands();
	else if (run(&inv, &err) != 0)
		status = report(&err);
	ctl_args_clear(&inv);
	return status;
}
