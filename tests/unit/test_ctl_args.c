/*
 * test_ctl_args.c - stratactl's command line: flag forms, booleans,
 * file:// values, global options anywhere, help, and the usage errors
 * with their exit status; the shadow commands' positional outfile,
 * --cli-binary-format and fileb:// bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "args.h"

struct parsed {
	struct ctl_invocation inv;
	struct ctl_error err;
	int rc;
};

/* Parse the NULL-terminated words after "stratactl". */
static void
parse(struct parsed *p, ...)
{
	char *argv[32] = { "stratactl" };
	int argc = 1;
	va_list ap;

	va_start(ap, p);
	while ((argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	memset(p, 0, sizeof(*p));
	p->rc = ctl_args_parse(&p->inv, argc, argv, &p->err);
}

static void
assert_usage(const struct parsed *p, const char *message)
{
	assert_int_equal(p->rc, -1);
	assert_int_equal(p->err.status, CTL_EXIT_USAGE);
	assert_true(p->err.usage);
	assert_string_equal(p->err.message, message);
}

static void
test_flag_forms_and_globals_anywhere(void **state)
{
	struct parsed p;

	parse(&p, "--debug", "describe-thing", "--thing-name", "a",
	    "--endpoint-url=http://h:1", "--cli-read-timeout", "3", NULL);
	assert_int_equal(p.rc, 0);
	assert_string_equal(p.inv.command->name, "describe-thing");
	assert_string_equal(ctl_args_value(&p.inv, "thing-name"), "a");
	assert_string_equal(p.inv.endpoint_url, "http://h:1");
	assert_int_equal(p.inv.timeout_seconds, 3);
	assert_true(p.inv.debug);
	assert_false(p.inv.help);
	ctl_args_clear(&p.inv);
	parse(&p, "describe-thing", "--thing-name=b=c", "--thing-name", "d",
	    NULL);
	assert_int_equal(p.rc, 0);
	assert_string_equal(ctl_args_value(&p.inv, "thing-name"), "d");
	assert_int_equal(p.inv.timeout_seconds, CTL_DEFAULT_TIMEOUT);
	ctl_args_clear(&p.inv);
	parse(&p, "describe-thing", "--thing-name=--x", NULL);
	assert_string_equal(ctl_args_value(&p.inv, "thing-name"), "--x");
	ctl_args_clear(&p.inv);
	/* an inline PEM is a value, not an option */
	parse(&p, "register-certificate", "--certificate-pem",
	    "-----BEGIN CERTIFICATE-----\nMII\n", NULL);
	assert_int_equal(p.rc, 0);
	assert_string_equal(ctl_args_value(&p.inv, "certificate-pem"),
	    "-----BEGIN CERTIFICATE-----\nMII\n");
	ctl_args_clear(&p.inv);
}

static void
test_booleans(void **state)
{
	struct parsed p;

	parse(&p, "create-keys-and-certificate", "--set-as-active", NULL);
	assert_string_equal(ctl_args_value(&p.inv, "set-as-active"), "true");
	ctl_args_clear(&p.inv);
	parse(&p, "create-keys-and-certificate", "--no-set-as-active", NULL);
	assert_string_equal(ctl_args_value(&p.inv, "set-as-active"), "false");
	ctl_args_clear(&p.inv);
	parse(&p, "create-keys-and-certificate", NULL);
	assert_null(ctl_args_value(&p.inv, "set-as-active"));
	ctl_args_clear(&p.inv);
	parse(&p, "create-keys-and-certificate", "--set-as-active=yes",
	    NULL);
	assert_usage(&p, "argument --set-as-active: ignored explicit "
	    "argument 'yes'");
	parse(&p, "create-keys-and-certificate",
	    "--no-certificate-pem-outfile", NULL);
	assert_usage(&p, "Unknown options: --no-certificate-pem-outfile");
}

static void
test_usage_errors(void **state)
{
	struct parsed p;

	parse(&p, NULL);
	assert_usage(&p, "the following arguments are required: command");
	parse(&p, "create-thingz", NULL);
	assert_usage(&p, "argument command: Invalid choice: 'create-thingz' "
	    "(stratactl help lists the commands)");
	parse(&p, "create-policy", NULL);
	assert_usage(&p, "the following arguments are required: "
	    "--policy-name, --policy-document");
	parse(&p, "describe-thing", "--thing-name", NULL);
	assert_usage(&p, "argument --thing-name: expected one argument");
	parse(&p, "describe-thing", "--thing-name", "--debug", NULL);
	assert_usage(&p, "argument --thing-name: expected one argument");
	parse(&p, "describe-thing", "--thing-name", "a", "--colour", "b",
	    NULL);
	assert_usage(&p, "Unknown options: --colour");
	parse(&p, "describe-thing", "--thing-name", "a", "extra", NULL);
	assert_usage(&p, "Unknown options: extra");
	parse(&p, "--thing-name", "a", "describe-thing", NULL);
	assert_usage(&p, "Unknown options: --thing-name");
	parse(&p, "delete-thing", "--thing-name", "a", "--expected-version",
	    "3x", NULL);
	assert_usage(&p, "argument --expected-version: invalid int value: "
	    "'3x'");
	parse(&p, "list-things", "--cli-read-timeout", "0", NULL);
	assert_usage(&p, "argument --cli-read-timeout: invalid value '0' "
	    "(seconds, 1 to 3600)");
	parse(&p, "list-things", "--", NULL);
	assert_usage(&p, "Unknown options: --");
}

static void
test_profile_option(void **state)
{
	struct parsed p;

	parse(&p, "--profile", "ops", "list-admin-users", NULL);
	assert_int_equal(p.rc, 0);
	assert_string_equal(p.inv.profile, "ops");
	assert_null(p.inv.token_file);
	ctl_args_clear(&p.inv);
	parse(&p, "list-admin-users", "--profile=dev", "--token-file", "t",
	    NULL);
	assert_int_equal(p.rc, 0);
	assert_string_equal(p.inv.profile, "dev");
	assert_string_equal(p.inv.token_file, "t");
	ctl_args_clear(&p.inv);
	parse(&p, "list-admin-users", "--profile", NULL);
	assert_usage(&p, "argument --profile: expected one argument");
}

/* --status of update-access-key takes Active or Inactive, as IAM spells
 * them; anything else is refused before anything is sent. */
static void
test_choices(void **state)
{
	static const char *const refused[] = { "active", "Enabled", "",
		"Active|Inactive", "Activ", "ActiveX" };
	struct parsed p;
	char message[128];
	size_t i;

	parse(&p, "update-access-key", "--user-name", "u", "--access-key-id",
	    "k", "--status", "Inactive", NULL);
	assert_int_equal(p.rc, 0);
	assert_string_equal(ctl_args_value(&p.inv, "status"), "Inactive");
	ctl_args_clear(&p.inv);
	parse(&p, "update-access-key", "--user-name", "u", "--access-key-id",
	    "k", "--status=Active", NULL);
	assert_int_equal(p.rc, 0);
	ctl_args_clear(&p.inv);
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		parse(&p, "update-access-key", "--user-name", "u",
		    "--access-key-id", "k", "--status", refused[i], NULL);
		snprintf(message, sizeof(message), "argument --status: "
		    "Invalid choice: '%s', valid choices are: "
		    "Active|Inactive", refused[i]);
		assert_usage(&p, message);
	}
	parse(&p, "update-access-key", "--user-name", "u", NULL);
	assert_usage(&p, "the following arguments are required: "
	    "--access-key-id, --status");
}

static void
test_help_forms(void **state)
{
	struct parsed p;

	parse(&p, "help", NULL);
	assert_int_equal(p.rc, 0);
	assert_true(p.inv.help);
	assert_null(p.inv.command);
	parse(&p, "--help", NULL);
	assert_true(p.inv.help);
	parse(&p, "help", "create-policy", NULL);
	assert_int_equal(p.rc, 0);
	assert_true(p.inv.help);
	assert_string_equal(p.inv.command->name, "create-policy");
	parse(&p, "create-policy", "help", NULL);
	assert_int_equal(p.rc, 0);
	assert_true(p.inv.help);
	parse(&p, "create-policy", "--help", NULL);
	assert_int_equal(p.rc, 0);
	assert_true(p.inv.help);
}

static void
test_file_values(void **state)
{
	char path[64], url[80];
	struct parsed p;
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/strata-ctl-args-%d",
	    (int)getpid());
	snprintf(url, sizeof(url), "file://%s", path);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"Version\": \"2012-10-17\"}\n", f);
	fclose(f);
	parse(&p, "create-policy", "--policy-name", "p", "--policy-document",
	    url, NULL);
	assert_int_equal(p.rc, 0);
	assert_string_equal(ctl_args_value(&p.inv, "policy-document"),
	    "{\"Version\": \"2012-10-17\"}\n");
	ctl_args_clear(&p.inv);
	/* a flag without CTL_FILE takes file:// as it is */
	parse(&p, "describe-thing", "--thing-name", url, NULL);
	assert_string_equal(ctl_args_value(&p.inv, "thing-name"), url);
	ctl_args_clear(&p.inv);
	unlink(path);
	parse(&p, "create-policy", "--policy-name", "p", "--policy-document",
	    url, NULL);
	assert_int_equal(p.rc, -1);
	assert_int_equal(p.err.status, CTL_EXIT_USAGE);
	assert_false(p.err.usage);
	assert_non_null(strstr(p.err.message, "Error parsing parameter "
	    "'--policy-document': Unable to load paramfile file://"));
	assert_non_null(strstr(p.err.message, "No such file or directory"));
}

static void
test_positional_outfile(void **state)
{
	struct parsed p;

	parse(&p, "get-thing-shadow", "--thing-name", "t", "out.json", NULL);
	assert_int_equal(p.rc, 0);
	assert_string_equal(ctl_args_value(&p.inv, "outfile"), "out.json");
	ctl_args_clear(&p.inv);
	parse(&p, "delete-thing-shadow", "out.json", "--thing-name", "t",
	    NULL);
	assert_int_equal(p.rc, 0);
	assert_string_equal(ctl_args_value(&p.inv, "outfile"), "out.json");
	ctl_args_clear(&p.inv);
	/* argparse's words for a missing positional: no "--" */
	parse(&p, "update-thing-shadow", "--thing-name", "t", NULL);
	assert_usage(&p, "the following arguments are required: --payload, "
	    "outfile");
	parse(&p, "get-thing-shadow", "--thing-name", "t", "a", "b", NULL);
	assert_usage(&p, "Unknown options: b");
	parse(&p, "get-thing-shadow", "--thing-name", "t", "--outfile", "a",
	    NULL);
	assert_usage(&p, "Unknown options: --outfile");
	/* a command without an outfile takes no word */
	parse(&p, "list-named-shadows-for-thing", "--thing-name", "t", "a",
	    NULL);
	assert_usage(&p, "Unknown options: a");
	/* help wins, as for every command */
	parse(&p, "get-thing-shadow", "help", NULL);
	assert_int_equal(p.rc, 0);
	assert_true(p.inv.help);
}

static void
test_binary_format(void **state)
{
	struct parsed p;

	parse(&p, "list-things", NULL);
	assert_int_equal(p.inv.binary_format, CTL_BINARY_BASE64);
	ctl_args_clear(&p.inv);
	parse(&p, "update-thing-shadow", "--thing-name", "t", "--payload",
	    "{}", "o", "--cli-binary-format", "raw-in-base64-out", NULL);
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.inv.binary_format, CTL_BINARY_RAW_IN_BASE64_OUT);
	ctl_args_clear(&p.inv);
	parse(&p, "--cli-binary-format=base64", "list-things", NULL);
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.inv.binary_format, CTL_BINARY_BASE64);
	ctl_args_clear(&p.inv);
	parse(&p, "list-things", "--cli-binary-format", "raw", NULL);
	assert_usage(&p, "argument --cli-binary-format: Invalid choice: "
	    "'raw', valid choices are: base64|raw-in-base64-out");
}

static void
test_fileb_values(void **state)
{
	static const char bytes[] = { '{', '\0', '}', '\xff' };
	char path[64], url[80], text_url[80];
	struct parsed p;
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/tmp/strata-ctl-fileb-%d",
	    (int)getpid());
	snprintf(url, sizeof(url), "fileb://%s", path);
	snprintf(text_url, sizeof(text_url), "file://%s", path);
	f = fopen(path, "wb");
	assert_non_null(f);
	fwrite(bytes, 1, sizeof(bytes), f);
	fclose(f);
	parse(&p, "update-thing-shadow", "--thing-name", "t", "--payload",
	    url, "o", NULL);
	assert_int_equal(p.rc, 0);
	i = ctl_table_flag_at(p.inv.command, CTL_PAYLOAD);
	assert_string_equal(p.inv.command->flags[i].name, "payload");
	assert_true(p.inv.binary[i]);
	assert_int_equal(p.inv.lengths[i], sizeof(bytes));
	assert_memory_equal(p.inv.values[i], bytes, sizeof(bytes));
	ctl_args_clear(&p.inv);
	/* file:// is text: a NUL byte is refused */
	parse(&p, "update-thing-shadow", "--thing-name", "t", "--payload",
	    text_url, "o", NULL);
	assert_int_equal(p.rc, -1);
	assert_int_equal(p.err.status, CTL_EXIT_USAGE);
	assert_non_null(strstr(p.err.message, "not a text file"));
	/* fileb:// is a blob's: elsewhere it is the text typed */
	parse(&p, "describe-thing", "--thing-name", url, NULL);
	assert_string_equal(ctl_args_value(&p.inv, "thing-name"), url);
	ctl_args_clear(&p.inv);
	unlink(path);
	parse(&p, "update-thing-shadow", "--thing-name", "t", "--payload",
	    url, "o", NULL);
	assert_int_equal(p.rc, -1);
	assert_false(p.err.usage);
	assert_non_null(strstr(p.err.message, "Error parsing parameter "
	    "'--payload': Unable to load paramfile fileb://"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flag_forms_and_globals_anywhere),
		cmocka_unit_test(test_booleans),
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_profile_option),
		cmocka_unit_test(test_choices),
		cmocka_unit_test(test_help_forms),
		cmocka_unit_test(test_file_values),
		cmocka_unit_test(test_positional_outfile),
		cmocka_unit_test(test_binary_format),
		cmocka_unit_test(test_fileb_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
