/*
 * test_ctl_output.c - what stratactl prints: the answer as the AWS CLI
 * prints it, the outfiles and their modes, and the error line of an
 * error answer; for the shadow commands, the answer written as it came
 * to the positional outfile, and the error names of the data API.
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

#include "args.h"
#include "output.h"

static struct ctl_http_answer
answer(int status, const char *reason, const char *type, const char *body)
{
	struct ctl_http_answer a = { .status = status,
		.reason = (char *)reason, .error_type = (char *)type,
		.body = (char *)body, .body_len = strlen(body) };

	return a;
}

static const char *
format(const char *json)
{
	static char out[512];
	json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
	char *text;

	assert_non_null(v);
	text = ctl_output_format(v);
	snprintf(out, sizeof(out), "%s", text);
	free(text);
	json_decref(v);
	return out;
}

static void
test_format_indent_order_and_numbers(void **state)
{
	assert_string_equal(
	    format("{\"b\": 1, \"a\": [\"x\", {}], \"c\": {}}"),
	    "{\n    \"b\": 1,\n    \"a\": [\n        \"x\",\n        {}\n"
	    "    ],\n    \"c\": {}\n}");
	assert_string_equal(format("{\"d\": 1701234567.123, \"e\": 0.1}"),
	    "{\n    \"d\": 1701234567.123,\n    \"e\": 0.1\n}");
	assert_string_equal(format("[1.5, 2.0, 1e-7]"),
	    "[\n    1.5,\n    2.0,\n    1e-7\n]");
	/* whole reals keep their integer digits, as the AWS CLI prints */
	assert_string_equal(format("[10.0, 60.0, 1250.0]"),
	    "[\n    10.0,\n    60.0,\n    1250.0\n]");
	assert_string_equal(format("{\"k\": \"caf\xc3\xa9 / \\n\"}"),
	    "{\n    \"k\": \"caf\xc3\xa9 / \\n\"\n}");
}

static const char *
failure(struct ctl_http_answer a)
{
	static struct ctl_error err;

	ctl_output_failure(ctl_table_find("describe-thing"), &a, &err);
	assert_int_equal(err.status, CTL_EXIT_SERVICE);
	return err.message;
}

static void
test_failure_lines(void **state)
{
	assert_string_equal(failure(answer(404, "Not Found", NULL,
	    "{\"error\": \"ResourceNotFoundException\", \"message\": "
	    "\"no thing t\", \"field\": \"thingName\"}")),
	    "An error occurred (ResourceNotFoundException) when calling the "
	    "DescribeThing operation: no thing t");
	assert_string_equal(failure(answer(401, "Unauthorized",
	    "UnauthorizedException:http://internal", "{\"message\": \"m\"}")),
	    "An error occurred (UnauthorizedException) when calling the "
	    "DescribeThing operation: m");
	assert_string_equal(failure(answer(502, "Bad Gateway", NULL,
	    "<html>")),
	    "An error occurred (502) when calling the DescribeThing "
	    "operation: Bad Gateway");
	assert_string_equal(failure(answer(500, "", NULL, "")),
	    "An error occurred (500) when calling the DescribeThing "
	    "operation: Unknown");
}

/* Run ctl_output_answer for words; stdout text into out. */
static int
run(struct ctl_http_answer a, char *out, size_t outlen,
    struct ctl_error *err, char **words)
{
	struct ctl_invocation inv;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int argc = 0, rc;

	while (words[argc] != NULL)
		argc++;
	assert_int_equal(ctl_args_parse(&inv, argc, words, err), 0);
	rc = ctl_output_answer(&inv, &a, f, err);
	fclose(f);
	snprintf(out, outlen, "%s", text);
	free(text);
	ctl_args_clear(&inv);
	return rc;
}

static void
test_empty_object_prints_nothing(void **state)
{
	char *words[] = { "stratactl", "delete-policy", "--policy-name", "p",
		NULL };
	struct ctl_error err;
	char out[256];

	assert_int_equal(run(answer(200, "OK", NULL, "{}"), out, sizeof(out),
	    &err, words), 0);
	assert_string_equal(out, "");
	assert_int_equal(run(answer(200, "OK", NULL, ""), out, sizeof(out),
	    &err, words), 0);
	assert_string_equal(out, "");
	assert_int_equal(run(answer(200, "OK", NULL, "{\"a\":1}"), out,
	    sizeof(out), &err, words), 0);
	assert_string_equal(out, "{\n    \"a\": 1\n}\n");
	assert_int_equal(run(answer(200, "OK", NULL, "<html>"), out,
	    sizeof(out), &err, words), -1);
	assert_int_equal(err.status, CTL_EXIT_FAILED);
	assert_non_null(strstr(err.message, "The answer to DeletePolicy is "
	    "not JSON"));
}

static const char *
slurp(const char *path, mode_t *mode)
{
	static char text[256];
	struct stat st;
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	assert_int_equal(stat(path, &st), 0);
	*mode = st.st_mode & 0777;
	return text;
}

static void
test_outfiles_and_modes(void **state)
{
	char cert[64], key[64], out[1024];
	char *words[] = { "stratactl", "create-keys-and-certificate",
		"--certificate-pem-outfile", cert, "--private-key-outfile",
		key, NULL };
	const char *body = "{\"certificatePem\": \"CERT\\n\", "
	    "\"keyPair\": {\"PublicKey\": \"PUB\", "
	    "\"PrivateKey\": \"KEY\\n\"}}";
	struct ctl_error err;
	mode_t mode;
	FILE *f;

	snprintf(cert, sizeof(cert), "/tmp/strata-ctl-cert-%d", (int)getpid());
	snprintf(key, sizeof(key), "/tmp/strata-ctl-key-%d", (int)getpid());
	/* a key file that exists with a wider mode gets 0600 */
	f = fopen(key, "w");
	fputs("old contents, longer than the key", f);
	fclose(f);
	chmod(key, 0644);
	umask(022);
	assert_int_equal(run(answer(200, "OK", NULL, body), out, sizeof(out),
	    &err, words), 0);
	assert_non_null(strstr(out, "\"PrivateKey\": \"KEY\\n\""));
	assert_string_equal(slurp(cert, &mode), "CERT\n");
	assert_int_equal(mode, 0644);
	assert_string_equal(slurp(key, &mode), "KEY\n");
	assert_int_equal(mode, 0600);
	unlink(key);
	/* an answer without the member: status 255, the JSON still printed */
	assert_int_equal(run(answer(200, "OK", NULL,
	    "{\"certificatePem\": \"C\"}"), out, sizeof(out), &err,
	    words), -1);
	assert_int_equal(err.status, CTL_EXIT_FAILED);
	assert_string_equal(err.message, "The answer has no "
	    "keyPair.PrivateKey to write to --private-key-outfile");
	assert_non_null(strstr(out, "certificatePem"));
	unlink(cert);
}

/* The error line of an answer to a shadow command. */
static const char *
shadow_failure(const char *command, struct ctl_http_answer a)
{
	static struct ctl_error err;

	ctl_output_failure(ctl_table_find(command), &a, &err);
	assert_int_equal(err.status, CTL_EXIT_SERVICE);
	return err.message;
}

static void
test_shadow_failure_lines(void **state)
{
	static const int statuses[] = { 400, 401, 403, 404, 405, 409, 413,
		415, 429, 500, 503 };
	size_t i;

	/* shadowd's error document names no error: the status does */
	assert_string_equal(shadow_failure("get-thing-shadow", answer(404,
	    "Not Found", NULL, "{\"code\": 404, \"message\": \"No shadow "
	    "exists with name: 'x'\", \"timestamp\": 1700000000}")),
	    "An error occurred (ResourceNotFoundException) when calling the "
	    "GetThingShadow operation: No shadow exists with name: 'x'");
	assert_string_equal(shadow_failure("update-thing-shadow", answer(409,
	    "Conflict", NULL, "{\"code\": 409, \"message\": \"Version "
	    "conflict\", \"timestamp\": 1, \"clientToken\": \"c\"}")),
	    "An error occurred (ConflictException) when calling the "
	    "UpdateThingShadow operation: Version conflict");
	/* its authentication errors name theirs, which wins */
	assert_string_equal(shadow_failure("delete-thing-shadow", answer(403,
	    "Forbidden", NULL, "{\"error\": \"AccessDeniedException\", "
	    "\"message\": \"not allowed: iot:DeleteThingShadow\"}")),
	    "An error occurred (AccessDeniedException) when calling the "
	    "DeleteThingShadow operation: not allowed: iot:DeleteThingShadow");
	/* libevent's own pages: the status's name, the reason phrase */
	assert_string_equal(shadow_failure("update-thing-shadow", answer(413,
	    "Payload Too Large", NULL, "<html>")),
	    "An error occurred (RequestEntityTooLargeException) when calling "
	    "the UpdateThingShadow operation: Payload Too Large");
	assert_string_equal(shadow_failure("list-named-shadows-for-thing",
	    answer(502, "Bad Gateway", NULL, "")),
	    "An error occurred (502) when calling the ListNamedShadowsForThing "
	    "operation: Bad Gateway");
	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		assert_non_null(ctl_output_data_error(statuses[i]));
	assert_string_equal(ctl_output_data_error(403), "ForbiddenException");
	assert_string_equal(ctl_output_data_error(415),
	    "UnsupportedDocumentEncodingException");
	assert_null(ctl_output_data_error(200));
	assert_null(ctl_output_data_error(402));
	/* the admin API's answers are not mapped */
	assert_string_equal(failure(answer(404, "Not Found", NULL, "{}")),
	    "An error occurred (404) when calling the DescribeThing "
	    "operation: Not Found");
}

static void
test_payload_outfile(void **state)
{
	char path[64], missing[80], out[256];
	char *words[] = { "stratactl", "get-thing-shadow", "--thing-name", "t",
		path, NULL };
	char *missing_words[] = { "stratactl", "update-thing-shadow",
		"--thing-name", "t", "--payload", "e30=", missing, NULL };
	struct ctl_http_answer a = answer(200, "OK", NULL, "");
	struct ctl_error err;
	struct stat st;
	char bytes[8];
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/strata-ctl-shadow-%d",
	    (int)getpid());
	snprintf(missing, sizeof(missing), "/tmp/strata-ctl-none-%d/out",
	    (int)getpid());
	/* an existing file is truncated; the bytes are written as they
	 * came, not JSON-checked; nothing is printed */
	f = fopen(path, "w");
	fputs("old contents, longer than the answer", f);
	fclose(f);
	a.body = "{\"a\"\0x";
	a.body_len = 6;
	umask(022);
	assert_int_equal(run(a, out, sizeof(out), &err, words), 0);
	assert_string_equal(out, "");
	f = fopen(path, "rb");
	assert_int_equal(fread(bytes, 1, sizeof(bytes), f), 6);
	fclose(f);
	assert_memory_equal(bytes, "{\"a\"\0x", 6);
	unlink(path);
	/* a new file: 0666 less the umask; an empty answer, an empty file */
	a = answer(200, "OK", NULL, "");
	assert_int_equal(run(a, out, sizeof(out), &err, words), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_int_equal(st.st_size, 0);
	unlink(path);
	/* Python's words when the file cannot be opened */
	a = answer(200, "OK", NULL, "{\"state\": {}}");
	assert_int_equal(run(a, out, sizeof(out), &err, missing_words), -1);
	assert_int_equal(err.status, CTL_EXIT_FAILED);
	snprintf(out, sizeof(out),
	    "[Errno 2] No such file or directory: '%s'", missing);
	assert_string_equal(err.message, out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_indent_order_and_numbers),
		cmocka_unit_test(test_failure_lines),
		cmocka_unit_test(test_empty_object_prints_nothing),
		cmocka_unit_test(test_outfiles_and_modes),
		cmocka_unit_test(test_shadow_failure_lines),
		cmocka_unit_test(test_payload_outfile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
