/*
 * base64.h - standard base64 (RFC 4648, with padding) over OpenSSL's
 * block coder: the encoding AWS's JSON documents use for binary fields.
 */
#ifndef STRATA_BASE64_H
#define STRATA_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* p (len bytes; p may be NULL when len is 0) as base64 with padding,
 * malloc'd and NUL-terminated (allocation aborts). */
char *strata_base64(const uint8_t *p, size_t len);

/* Decode standard base64 (padding required, no white space): malloc'd
 * (one spare NUL byte), length in *out_len; NULL when s is not that. */
uint8_t *strata_unbase64(const char *s, size_t len, size_t *out_len);

#endif
