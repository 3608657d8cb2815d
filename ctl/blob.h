/*
 * blob.h - the bytes of a blob parameter (CTL_BLOB: update-thing-shadow's
 * --payload), made as the AWS CLI v2 makes them.
 *
 *   fileb://PATH                 the file's bytes, as they are
 *   --cli-binary-format base64   (the default) the text typed, or read
 *                                with file://PATH, is base64: Python's
 *                                base64.b64decode(text), which the AWS
 *                                CLI calls on it
 *   ... raw-in-base64-out        the text's own bytes
 *
 * b64decode (validate=False, CPython's binascii.a2b_base64) first refuses
 * text that is not ASCII, then skips every character outside A-Z a-z 0-9
 * + / and '='.  Four characters make three bytes.  A '=' after the second
 * or third character of a group counts towards its padding: the group
 * is complete with two '=' after two characters, one after three, and
 * decoding stops there (the rest is ignored); any other '=' is skipped.
 * At the end, a group of one character, or of two or three without its
 * padding, is an error.  Pure: no I/O.
 */
#ifndef STRATA_CTL_BLOB_H
#define STRATA_CTL_BLOB_H

#include <stddef.h>

#include "args.h"
#include "ctl.h"

enum ctl_blob_result {
	CTL_BLOB_OK = 0,
	CTL_BLOB_NOT_ASCII = -1, /* a byte over 0x7f */
	CTL_BLOB_NOT_BASE64 = -2, /* a group left incomplete (above) */
};

/* Decode the base64 text[0..len) as above into *out (owned by the
 * caller, *out_len bytes and a NUL; NULL on failure). */
enum ctl_blob_result ctl_blob_base64_decode(const char *text, size_t len,
    char **out, size_t *out_len);

/* The bytes of inv's value of flag i (a CTL_BLOB, given) under inv's
 * binary format into *out (owned, *out_len bytes and a NUL).  Returns 0,
 * or -1 with err: status 255 and the AWS CLI's words, `Invalid base64:
 * "<text>"` or `string argument should contain only ASCII characters`
 * (the text is cut at about 900 bytes). */
int ctl_blob_value(const struct ctl_invocation *inv, int i, char **out,
    size_t *out_len, struct ctl_error *err);

#endif
