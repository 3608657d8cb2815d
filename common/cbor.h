/*
 * cbor.h - the part of CBOR (RFC 8949) that AWS IoT's fleet provisioning
 * API speaks on its .../cbor topics, to and from jansson values.
 *
 * Decoded: unsigned and negative integers (within int64), text strings
 * (valid UTF-8), arrays, maps whose keys are text strings, false, true,
 * null, and half, single and double floats; definite lengths only.
 * Refused (a message in err): byte strings, tags, undefined, simple
 * values, indefinite lengths, duplicate map keys, items nested more than
 * STRATA_CBOR_MAX_DEPTH deep (a scalar counts), anything after the one
 * data item.
 * Encoded: objects, arrays, strings, integers, reals (as doubles), true,
 * false, null, each in its shortest head.
 */
#ifndef STRATA_CBOR_H
#define STRATA_CBOR_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define STRATA_CBOR_MAX_DEPTH 32

/* The one data item of p[0..len) as a new jansson value, or NULL with
 * err set. */
json_t *strata_cbor_decode(const uint8_t *p, size_t len, char *err,
    size_t errlen);

/* v encoded (malloc'd, *len bytes). */
uint8_t *strata_cbor_encode(const json_t *v, size_t *len);

#endif
