/*
 * test_ctl_blob.c - the bytes of a blob parameter (update-thing-shadow's
 * --payload): base64 decoded as the AWS CLI v2 decodes it, and the
 * choice between base64, raw text and fileb:// bytes.
 *
 * The decoding vectors were computed apart from this code with Python's
 * base64.b64decode(text) (CPython 3.11), the call the AWS CLI v2 makes on
 * a blob's text: the bytes in hex, or which of its errors it raised.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "blob.h"

struct vector {
	const char *text;
	size_t len;      /* 0: strlen(text) */
	const char *hex; /* the bytes; NULL: not base64 */
};

static const struct vector vectors[] = {
	{ "", 0, "" },
	{ "e30=", 0, "7b7d" },
	{ "e30", 0, NULL },
	{ "e3", 0, NULL },
	{ "e", 0, NULL },
	{ "eyJzdGF0ZSI6e319", 0, "7b227374617465223a7b7d7d" },
	/* characters outside the alphabet are skipped */
	{ "eyJz dGF0\nZSI6e319", 0, "7b227374617465223a7b7d7d" },
	{ "YW Jj", 0, "616263" },
	{ "!!!!", 0, "" },
	{ "a-b_c", 0, NULL },
	{ "YQ\0==", 5, "61" },
	{ "YQ==", 0, "61" },
	{ "YQ=", 0, NULL },
	{ "YQ", 0, NULL },
	{ "YWI=", 0, "6162" },
	{ "YWI", 0, NULL },
	{ "YWJj", 0, "616263" },
	{ "////", 0, "ffffff" },
	{ "++++", 0, "fbefbe" },
	{ "Zm9vYmFy", 0, "666f6f626172" },
	{ "Zm9vYg==", 0, "666f6f62" },
	{ "Zm9vYmE=", 0, "666f6f6261" },
	{ "Zm9vYg=", 0, NULL },
	{ "Zm9vY", 0, NULL },
	/* the padding that completes a group ends the text */
	{ "YQ==YWJj", 0, "61" },
	{ "YWI=YWJj", 0, "6162" },
	{ "AB==CD", 0, "00" },
	{ "AAA=A", 0, "0000" },
	{ "aGk=aGk=", 0, "6869" },
	{ "YQ=x=", 0, "610c" },
	{ "YQ=\n=", 0, "61" },
	/* a '=' that completes nothing is skipped */
	{ "=YQ==", 0, "61" },
	{ "Y=Q==", 0, "61" },
	{ "====", 0, "" },
	/* JSON typed without --cli-binary-format raw-in-base64-out */
	{ "{\"state\":{\"desired\":{\"on\":true}}}", 0, NULL },
	{ "{\"state\":{}}", 0, NULL },
};

static char *
hex_of(const char *bytes, size_t len)
{
	char *hex = malloc(2 * len + 1);
	size_t i;

	assert_non_null(hex);
	for (i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", (unsigned char)bytes[i]);
	hex[2 * len] = '\0';
	return hex;
}

static void
test_decoding_vectors(void **state)
{
	size_t i, n = sizeof(vectors) / sizeof(vectors[0]), out_len;
	enum ctl_blob_result rc;
	char *out, *hex;

	for (i = 0; i < n; i++) {
		const struct vector *v = &vectors[i];
		size_t len = v->len != 0 ? v->len : strlen(v->text);

		rc = ctl_blob_base64_decode(v->text, len, &out, &out_len);
		if (v->hex == NULL) {
			assert_int_equal(rc, CTL_BLOB_NOT_BASE64);
			assert_null(out);
			continue;
		}
		assert_int_equal(rc, CTL_BLOB_OK);
		hex = hex_of(out, out_len);
		assert_string_equal(hex, v->hex);
		assert_int_equal(out[out_len], '\0');
		free(hex);
		free(out);
	}
}

static void
test_text_must_be_ascii(void **state)
{
	char *out;
	size_t len;

	assert_int_equal(ctl_blob_base64_decode("caf\xc3\xa9", 5, &out, &len),
	    CTL_BLOB_NOT_ASCII);
	assert_null(out);
	/* even where the decoder would skip it */
	assert_int_equal(ctl_blob_base64_decode("e30=\x80", 5, &out, &len),
	    CTL_BLOB_NOT_ASCII);
}

/* An invocation of update-thing-shadow whose --payload is text[0..len),
 * from fileb:// when binary. */
static void
payload(struct ctl_invocation *inv, const char *text, size_t len,
    bool binary, enum ctl_binary_format format)
{
	memset(inv, 0, sizeof(*inv));
	inv->command = ctl_table_find("update-thing-shadow");
	assert_non_null(inv->command);
	inv->values[2] = (char *)text;
	inv->lengths[2] = len;
	inv->binary[2] = binary;
	inv->binary_format = format;
	assert_string_equal(inv->command->flags[2].name, "payload");
}

static void
test_value_by_format(void **state)
{
	struct ctl_invocation inv;
	struct ctl_error err = { 0 };
	char *out;
	size_t len;

	payload(&inv, "e30=", 4, false, CTL_BINARY_BASE64);
	assert_int_equal(ctl_blob_value(&inv, 2, &out, &len, &err), 0);
	assert_int_equal(len, 2);
	assert_memory_equal(out, "{}", 2);
	free(out);
	payload(&inv, "e30=", 4, false, CTL_BINARY_RAW_IN_BASE64_OUT);
	assert_int_equal(ctl_blob_value(&inv, 2, &out, &len, &err), 0);
	assert_int_equal(len, 4);
	assert_memory_equal(out, "e30=", 4);
	free(out);
	/* fileb:// bytes are never decoded, NULs and all */
	payload(&inv, "e3\0=", 4, true, CTL_BINARY_BASE64);
	assert_int_equal(ctl_blob_value(&inv, 2, &out, &len, &err), 0);
	assert_int_equal(len, 4);
	assert_memory_equal(out, "e3\0=", 4);
	free(out);
}

static void
test_value_errors_are_the_aws_cli_words(void **state)
{
	struct ctl_invocation inv;
	struct ctl_error err = { 0 };
	char *out, *big;
	size_t len;

	payload(&inv, "{\"state\":{}}", 12, false, CTL_BINARY_BASE64);
	assert_int_equal(ctl_blob_value(&inv, 2, &out, &len, &err), -1);
	assert_int_equal(err.status, CTL_EXIT_FAILED);
	assert_string_equal(err.message,
	    "Invalid base64: \"{\"state\":{}}\"");
	payload(&inv, "caf\xc3\xa9", 5, false, CTL_BINARY_BASE64);
	assert_int_equal(ctl_blob_value(&inv, 2, &out, &len, &err), -1);
	assert_int_equal(err.status, CTL_EXIT_FAILED);
	assert_string_equal(err.message,
	    "string argument should contain only ASCII characters");
	/* a long text is cut in the line */
	big = malloc(5000);
	assert_non_null(big);
	memset(big, 'A', 5000);
	big[4997] = '\0';
	payload(&inv, big, 4997, false, CTL_BINARY_BASE64);
	assert_int_equal(ctl_blob_value(&inv, 2, &out, &len, &err), -1);
	assert_int_equal(strlen(err.message), strlen("Invalid base64: \"") +
	    900 + strlen("...\""));
	assert_string_equal(err.message + strlen(err.message) - 5,
	    "A...\"");
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decoding_vectors),
		cmocka_unit_test(test_text_must_be_ascii),
		cmocka_unit_test(test_value_by_format),
		cmocka_unit_test(test_value_errors_are_the_aws_cli_words),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
