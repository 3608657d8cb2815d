/*
 * stratactl.c - the command-line client of the admin API
 * (docs/internals/admin-api.md) and of the shadow API of strata-shadowd
 * (docs/internals/shadowd-http.md); docs/internals/stratactl.md.
 *
 * One run: parse the command line (args.c), find the endpoint and CA file
 * of the command's API (flags first, then STRATA_ADMIN_URL and
 * STRATA_ADMIN_CA_FILE, or STRATA_DATA_URL and STRATA_DATA_CA_FILE),
 * build the request from the command's row of the table (table.c,
 * request.c), find the credentials (credentials.c), sign the request or
 * put the token on it, send it (http.c), print the answer or write it to
 * the outfile, or print the error line (output.c), exit with the AWS
 * CLI's status (ctl.h).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "credentials.h"
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
	struct ctl_credentials credentials;
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
help_options(void)
{
	printf("Options, before or after the command:\n"
	    "  --endpoint-url URL      the API, http:// or https:// "
	    "(STRATA_ADMIN_URL, or\n"
	    "                          STRATA_DATA_URL for the shadow "
	    "commands)\n"
	    "  --profile NAME          sign with the access key of this "
	    "profile of the\n"
	    "                          credentials file (STRATA_PROFILE)\n"
	    "  --token-file FILE       a bearer token, from a file "
	    "(STRATA_ADMIN_TOKEN)\n"
	    "  --ca-file FILE          CA certificates of an https endpoint\n"
	    "                          (STRATA_ADMIN_CA_FILE or "
	    "STRATA_DATA_CA_FILE;\n"
	    "                          default: the system's)\n"
	    "  --cli-read-timeout S    seconds the request may take (%d)\n"
	    "  --cli-binary-format F   how --payload text is read: base64 "
	    "(default) or\n"
	    "                          raw-in-base64-out (the text itself)\n"
	    "  --debug                 the request line, the credentials used "
	    "and the status\n"
	    "                          on stderr (never a secret)\n"
	    "  --help                  this text\n", CTL_DEFAULT_TIMEOUT);
}

static void
help_environment(void)
{
	printf("Environment:\n"
	    "  STRATA_ADMIN_URL                the admin API\n"
	    "  STRATA_DATA_URL                 the shadow API (strata-shadowd's "
	    "http-port)\n"
	    "  STRATA_ACCESS_KEY_ID            an access key: each request "
	    "is signed with it\n"
	    "  STRATA_SECRET_ACCESS_KEY        (STRATA-HMAC-SHA256)\n"
	    "  STRATA_ADMIN_TOKEN              a bearer token\n"
	    "  STRATA_PROFILE                  the profile (default: "
	    "default)\n"
	    "  STRATA_SHARED_CREDENTIALS_FILE  the credentials file "
	    "(default:\n"
	    "                                  ~/.strata/credentials)\n"
	    "  STRATA_ADMIN_CA_FILE            CA certificates of an https "
	    "admin API\n"
	    "  STRATA_DATA_CA_FILE             CA certificates of an https "
	    "shadow API\n"
	    "\nCredentials, the first found: --profile or --token-file; "
	    "STRATA_ACCESS_KEY_ID\nwith STRATA_SECRET_ACCESS_KEY; "
	    "STRATA_ADMIN_TOKEN; the profile of the\ncredentials file, an "
	    "INI file: [NAME] with strata_access_key_id = ... and\n"
	    "strata_secret_access_key = ... (or the aws_ names).\n");
}

static void
help_command_list(enum ctl_api api)
{
	size_t i;

	for (i = 0; i < ctl_table_count; i++)
		if (ctl_table_commands[i].api == api)
			printf("  %-29s %s\n", ctl_table_commands[i].name,
			    ctl_table_commands[i].summary);
}

static void
help_commands(void)
{
	printf("stratactl - the command-line client of Strata's admin API "
	    "and shadow API.\n"
	    "Commands and flags are those of `aws iot` and `aws iot-data`; "
	    "the admin\nidentities' follow `aws iam`.\n\n");
	usage_lines(stdout);
	printf("Commands:\n");
	help_command_list(CTL_API_ADMIN);
	printf("\nData-plane commands (`aws iot-data`; endpoint "
	    "STRATA_DATA_URL):\n");
	help_command_list(CTL_API_DATA);
	printf("\n");
	help_options();
	printf("\n");
	help_environment();
	printf("\nExit status: 0 success, 252 usage error, 253 no endpoint or "
	    "credentials, 254\nerror answer (the error line on stderr), 255 "
	    "no answer (endpoint not reached,\ntimeout, TLS refused).\n");
}

static const char *
help_value(const struct ctl_flag *f)
{
	if (f->place == CTL_OUTFILE)
		return " <file>";
	switch (f->kind) {
	case CTL_BLOB:
		return " <blob>";
	case CTL_BOOLEAN:
		return "";
	case CTL_INTEGER:
		return " <integer>";
	case CTL_NUMBERS:
		return " <numbers>";
	case CTL_OBJECT:
	case CTL_ATTRIBUTES:
		return " <json|shorthand>";
	case CTL_RULE_PAYLOAD:
	case CTL_JSON:
		return " <json>";
	case CTL_LIST:
		return " <list>";
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
	case CTL_LIST:
		return "; a JSON array [\"a\", \"b\"], or a,b";
	case CTL_ATTRIBUTES:
		return "; JSON {\"attributes\": {\"k\": \"v\"}, \"merge\": "
		       "true}\n      or shorthand attributes={k=v},merge=true";
	case CTL_RULE_PAYLOAD:
		return "; JSON\n      {\"sql\": \"SELECT * FROM 't/#'\", "
		       "\"actions\": [...], \"description\": \"...\",\n      "
		       "\"ruleDisabled\": false, \"awsIotSqlVersion\": "
		       "\"2016-03-23\", \"errorAction\": {...}}";
	case CTL_BLOB:
		return ";\n      base64 text (the default), or the text "
		       "itself with --cli-binary-format\n      "
		       "raw-in-base64-out; fileb://PATH: the file's bytes as "
		       "they are;\n      file://PATH: the file's text, read as "
		       "typed text";
	default:
		return "";
	}
}

static void
help_flag(const struct ctl_flag *f)
{
	static const char *const where[] = { [CTL_PATH] = "path {%s}",
		[CTL_QUERY] = "query %s", [CTL_BODY] = "body member %s",
		[CTL_BODY_WHOLE] = "the whole body (the %s)",
		[CTL_HEADER] = "header %s",
		[CTL_OUTFILE] = "writes the answer's %s to the file",
		[CTL_PAYLOAD] = "the whole body (the %s)",
		[CTL_PAYLOAD_OUTFILE] = "the file the answer (the %s) is "
		    "written to, as it came;\n      nothing is printed",
		[CTL_PATH_TAIL] = "path /%s/{value}; exactly one of the "
		    "command's path-tail flags" };
	int positional = f->place == CTL_PAYLOAD_OUTFILE;

	printf("  %s%s%s%s%s\n      ", positional ? "<" : "--",
	    f->kind == CTL_BOOLEAN ? "[no-]" : "", f->name,
	    positional ? ">" : help_value(f),
	    (f->options & CTL_REQUIRED) ? " (required)" : "");
	printf(where[f->place], f->wire);
	if (f->choices != NULL)
		printf("; one of %s", f->choices);
	printf("%s%s%s\n", help_kind(f),
	    (f->options & CTL_PRIVATE) ? ", mode 0600" : "",
	    (f->options & CTL_FILE) && f->kind != CTL_BLOB ?
	    "; file://PATH reads it from PATH" : "");
}

static void
help_command(const struct ctl_command *c)
{
	size_t i, n = ctl_table_flag_count(c);

	printf("%s: %s\n%s: %s %s%s\n\nusage: stratactl %s", c->name,
	    c->summary, c->operation, ctl_table_method_name(c->method),
	    c->path, c->api == CTL_API_DATA ?
	    " (STRATA_DATA_URL)" : "", c->name);
	for (i = 0; i < n; i++) {
		if (c->flags[i].place == CTL_PAYLOAD_OUTFILE)
			printf(" <%s>", c->flags[i].name);
		else
			printf((c->flags[i].options & CTL_REQUIRED) ?
			    " --%s%s" : " [--%s%s]", c->flags[i].name,
			    help_value(&c->flags[i]));
	}
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

/* The endpoint and CA file of inv's API: the flags, else the API's
 * variables.  --endpoint-url applies to every command, as in the AWS
 * CLI. */
static int
settings_endpoint(const struct ctl_invocation *inv, struct settings *s,
    struct ctl_error *err)
{
	int data = inv->command->api == CTL_API_DATA;
	const char *url_name = data ? "STRATA_DATA_URL" : "STRATA_ADMIN_URL";

	s->endpoint_url = inv->endpoint_url != NULL ?
	    inv->endpoint_url : settings_env(url_name);
	s->ca_file = inv->ca_file != NULL ? inv->ca_file :
	    settings_env(data ? "STRATA_DATA_CA_FILE" : "STRATA_ADMIN_CA_FILE");
	if (s->endpoint_url == NULL)
		return ctl_error_set(err, CTL_EXIT_CONFIG, "No endpoint: set "
		    "%s or use --endpoint-url", url_name);
	return 0;
}

/* The answer to inv's request, printed.  -1 with err on any failure. */
static int
run(const struct ctl_invocation *inv, struct ctl_error *err)
{
	struct settings s = { 0 };
	struct ctl_endpoint endpoint = { 0 };
	struct ctl_request req = { 0 };
	struct ctl_http_answer answer = { 0 };
	struct ctl_auth auth = { 0 };
	struct ctl_http_options options = { .endpoint = &endpoint,
		.auth = &auth, .timeout_seconds = inv->timeout_seconds,
		.debug = inv->debug };
	int rc = -1;

	/* the AWS CLI's order: the endpoint, the parameters, then the
	 * credentials (when the request is signed) */
	if (settings_endpoint(inv, &s, err) != 0 ||
	    ctl_endpoint_parse(&endpoint, s.endpoint_url, err) != 0 ||
	    ctl_request_build(&req, inv, endpoint.base_path, err) != 0 ||
	    ctl_credentials_load(&s.credentials, inv, err) != 0)
		goto out;
	if (inv->debug)
		fprintf(stderr, "* credentials from %s\n",
		    s.credentials.source);
	ctl_credentials_auth(&s.credentials, &req, time(NULL), &auth);
	options.ca_file = s.ca_file;
	if (inv->command->stream)
		options.stream = stdout;
	if (ctl_http_send(&options, &req, &answer, err) != 0)
		goto out;
	if (inv->command->stream && answer.status == 200)
		rc = 0;   /* printed as it came */
	else if (answer.status >= 200 && answer.status < 300)
		rc = ctl_output_answer(inv, &answer, stdout, err);
	else
		ctl_output_failure(inv->command, &answer, err);
out:
	ctl_http_answer_clear(&answer);
	ctl_request_clear(&req);
	ctl_endpoint_clear(&endpoint);
	ctl_credentials_auth_clear(&auth);
	ctl_credentials_clear(&s.credentials);
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
