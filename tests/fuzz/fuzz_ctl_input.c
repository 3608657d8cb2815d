/*
 * fuzz_ctl_input.c - libFuzzer target for what stratactl parses: an
 * answer of the admin API (the server's bytes), a structure parameter
 * (JSON or shorthand, the user's), a credentials file and a blob
 * parameter's base64 text.
 *
 * Input: one selector byte, then the text.
 *   bit 0 clear: the text is the body of an answer to
 *     create-keys-and-certificate --certificate-pem-outfile /dev/null;
 *     bit 1 set: status 200, printed (to /dev/null) and its outfile
 *     written, 0 or status 255 with a message; bit 1 clear: status 404
 *     (bit 2: with an x-amzn-ErrorType header), its error line built,
 *     status 254 and the AWS CLI's words.
 *   bit 0 set, bits 3 and 5 clear: the text, up to a NUL, is an
 *     --attribute-payload value: parsed (JSON or shorthand) and checked
 *     against its shape; an object, or a message.
 *   bits 0 and 5 set, bit 3 clear: the text, up to a NUL, is a list
 *     flag's value (--thing-groups-to-add): an array of non-empty
 *     strings when given by commas, of strings when given as JSON, or a
 *     message.
 *   bits 0 and 3 set, bit 4 clear: the text is a profile name, a NUL,
 *     then a credentials file (up to a NUL; no NUL: the file, profile
 *     "default"): its keys are non-empty with no white space around, no
 *     key without the section, or a message "line N: ...".
 *   bits 0, 3 and 4 set: the bytes are a --payload's text, decoded as
 *     base64 (blob.h): refused as not ASCII exactly when a byte is over
 *     0x7f, else bytes (at most 3 per 4 characters, 2 more for a padded
 *     last group) or refused; and the bytes, encoded here as standard
 *     padded base64, decode back to themselves.
 * Anything else, a crash or a leak is a failure.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "blob.h"
#include "output.h"
#include "profile.h"
#include "request.h"
#include "shorthand.h"

static void
fuzz_answer(uint8_t selector, const uint8_t *data, size_t size)
{
	char *argv[] = { "stratactl", "create-keys-and-certificate",
		"--certificate-pem-outfile", "/dev/null", NULL };
	struct ctl_http_answer answer = { .reason = "Not Found",
		.body = (char *)data, .body_len = size };
	struct ctl_invocation inv;
	struct ctl_error err = { 0 };
	FILE *out;

	if (ctl_args_parse(&inv, 4, argv, &err) != 0 ||
	    (out = fopen("/dev/null", "w")) == NULL)
		abort();
	if (selector & 2) {
		answer.status = 200;
		if (ctl_output_answer(&inv, &answer, out, &err) != 0 &&
		    (err.status != CTL_EXIT_FAILED || err.message[0] == '\0'))
			abort();
	} else {
		answer.status = 404;
		answer.error_type = (selector & 4) ? "Type:u" : NULL;
		ctl_output_failure(inv.command, &answer, &err);
		if (err.status != CTL_EXIT_SERVICE ||
		    strncmp(err.message, "An error occurred (", 19) != 0)
			abort();
	}
	fclose(out);
	ctl_args_clear(&inv);
}

static void
fuzz_parameter(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), msg[512] = "";
	json_t *value = NULL;
	int rc;

	if (text == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	rc = ctl_shorthand_object(text, &value, msg, sizeof(msg));
	if (rc == 0 && !json_is_object(value))
		abort();
	if (rc == 0)
		rc = ctl_request_attributes(value, msg, sizeof(msg));
	if (rc != 0 && msg[0] == '\0')
		abort();
	json_decref(value);
	free(text);
}

static void
fuzz_list(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), msg[512] = "";
	json_t *value = NULL, *v;
	size_t i;
	int rc;

	if (text == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	rc = ctl_request_list(text, &value, msg, sizeof(msg));
	if (rc != 0 && (msg[0] == '\0' || value != NULL))
		abort();
	if (rc == 0 && !json_is_array(value))
		abort();
	json_array_foreach(value, i, v)
		if (!json_is_string(v) || (text[0] != '[' &&
		    json_string_length(v) == 0))
			abort();
	json_decref(value);
	free(text);
}

static void
fuzz_value_trimmed(const char *value)
{
	size_t n;

	if (value == NULL)
		return;
	n = strlen(value);
	if (n == 0 || strchr(" \t\r\n", value[0]) != NULL ||
	    strchr(" \t\r\n", value[n - 1]) != NULL)
		abort();
}

static void
fuzz_profile(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), msg[256] = "";
	const char *name = "default", *file = text;
	struct ctl_profile p;
	size_t n;

	if (text == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	if ((n = strlen(text)) < size) {
		name = text;
		file = text + n + 1;
	}
	if (ctl_profile_parse(&p, file, name, msg, sizeof(msg)) != 0) {
		if (strncmp(msg, "line ", 5) != 0 || p.found ||
		    p.access_key_id != NULL || p.secret_access_key != NULL)
			abort();
	} else if (!p.found && (p.access_key_id != NULL ||
	    p.secret_access_key != NULL)) {
		abort();
	}
	fuzz_value_trimmed(p.access_key_id);
	fuzz_value_trimmed(p.secret_access_key);
	ctl_profile_clear(&p);
	free(text);
}

/* data as standard base64 with padding: a new string. */
static char *
fuzz_base64(const uint8_t *data, size_t size, size_t *len)
{
	static const char digits[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *text = malloc((size + 2) / 3 * 4 + 1), *t = text;
	uint32_t group;
	size_t i;

	if (text == NULL)
		abort();
	for (i = 0; i < size; i += 3) {
		group = (uint32_t)data[i] << 16;
		if (i + 1 < size)
			group |= (uint32_t)data[i + 1] << 8;
		if (i + 2 < size)
			group |= data[i + 2];
		*t++ = digits[group >> 18 & 63];
		*t++ = digits[group >> 12 & 63];
		*t++ = i + 1 < size ? digits[group >> 6 & 63] : '=';
		*t++ = i + 2 < size ? digits[group & 63] : '=';
	}
	*t = '\0';
	*len = (size_t)(t - text);
	return text;
}

static void
fuzz_blob(const uint8_t *data, size_t size)
{
	enum ctl_blob_result rc;
	bool ascii = true;
	char *out, *text;
	size_t i, len, out_len;

	for (i = 0; i < size; i++)
		if (data[i] > 0x7f)
			ascii = false;
	rc = ctl_blob_base64_decode((const char *)data, size, &out, &out_len);
	if ((rc == CTL_BLOB_NOT_ASCII) != !ascii ||
	    (rc == CTL_BLOB_OK) != (out != NULL) ||
	    (rc == CTL_BLOB_OK && out_len > size / 4 * 3 + 2))
		abort();
	free(out);
	text = fuzz_base64(data, size, &len);
	if (ctl_blob_base64_decode(text, len, &out, &out_len) != CTL_BLOB_OK ||
	    out_len != size || memcmp(out, data, size) != 0)
		abort();
	free(out);
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if ((data[0] & 0x19) == 0x19)
		fuzz_blob(data + 1, size - 1);
	else if ((data[0] & 9) == 9)
		fuzz_profile(data + 1, size - 1);
	else if ((data[0] & 0x21) == 0x21)
		fuzz_list(data + 1, size - 1);
	else if (data[0] & 1)
		fuzz_parameter(data + 1, size - 1);
	else
		fuzz_answer(data[0], data + 1, size - 1);
	return 0;
}
