/*
 * blob.c - a blob parameter's bytes (see blob.h).
 */
#include <stdlib.h>
#include <string.h>

#include "blob.h"

/* The most of a text quoted in an error line: the line has 1 KiB. */
#define BLOB_QUOTED_MAX 900

/* The value of a base64 character, or -1 for any other. */
static int
blob_digit(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static char *
blob_alloc(size_t n)
{
	char *p = malloc(n + 1);

	if (p == NULL)
		abort();
	return p;
}

/*
 * The group's state: position is how many characters of the current
 * group of four were read (0 to 3), left the bits of the last one not
 * yet written, pads the '=' counted since the last character.
 */
enum ctl_blob_result
ctl_blob_base64_decode(const char *text, size_t len, char **out,
    size_t *out_len)
{
	const unsigned char *p = (const unsigned char *)text;
	unsigned char *o, left = 0;
	int position = 0, pads = 0, digit;
	size_t i, n = 0;

	*out = NULL;
	*out_len = 0;
	for (i = 0; i < len; i++)
		if (p[i] > 0x7f)
			return CTL_BLOB_NOT_ASCII;
	o = (unsigned char *)blob_alloc(len / 4 * 3 + 3);
	for (i = 0; i < len; i++) {
		if (p[i] == '=') {
			/* the padding that completes a group ends the text */
			if (position >= 2 && position + ++pads >= 4) {
				position = 0;
				break;
			}
			continue;
		}
		if ((digit = blob_digit(p[i])) < 0)
			continue;
		pads = 0;
		switch (position) {
		case 0:
			left = (unsigned char)digit;
			break;
		case 1:
			o[n++] = (unsigned char)(left << 2 | digit >> 4);
			left = digit & 0x0f;
			break;
		case 2:
			o[n++] = (unsigned char)(left << 4 | digit >> 2);
			left = digit & 0x03;
			break;
		default:
			o[n++] = (unsigned char)(left << 6 | digit);
			break;
		}
		position = (position + 1) % 4;
	}
	if (position != 0) {
		free(o);
		return CTL_BLOB_NOT_BASE64;
	}
	o[n] = '\0';
	*out = (char *)o;
	*out_len = n;
	return CTL_BLOB_OK;
}

static void
blob_copy(const char *bytes, size_t len, char **out, size_t *out_len)
{
	*out = blob_alloc(len);
	memcpy(*out, bytes, len);
	(*out)[len] = '\0';
	*out_len = len;
}

int
ctl_blob_value(const struct ctl_invocation *inv, int i, char **out,
    size_t *out_len, struct ctl_error *err)
{
	const char *text = inv->values[i];
	size_t len = inv->lengths[i];
	int cut = len > BLOB_QUOTED_MAX;

	if (inv->binary[i] ||
	    inv->binary_format == CTL_BINARY_RAW_IN_BASE64_OUT) {
		blob_copy(text, len, out, out_len);
		return 0;
	}
	switch (ctl_blob_base64_decode(text, len, out, out_len)) {
	case CTL_BLOB_OK:
		return 0;
	case CTL_BLOB_NOT_ASCII:
		return ctl_error_set(err, CTL_EXIT_FAILED, "string argument "
		    "should contain only ASCII characters");
	default:
		return ctl_error_set(err, CTL_EXIT_FAILED, "Invalid base64: "
		    "\"%.*s%s\"", cut ? BLOB_QUOTED_MAX : (int)len, text,
		    cut ? "..." : "");
	}
}
