/*
 * reader.c - the bounds-checked reader and the MQTT UTF-8 rules.
 *
 * Every read checks its own bounds and leaves the reader untouched when it
 * fails, so a caller may report the error without having to undo anything.
 */
#include <assert.h>

#include "reader.h"
#include "status.h"

#define READER_MALFORMED STRATA_ERR(STRATA_RC_MALFORMED)

/* Largest value a 4-byte Variable Byte Integer can hold. */
#define READER_VARINT_MAX 268435455u

int
strata_reader_u8(struct strata_reader *r, uint8_t *out)
{
	if (r->len < 1)
		return READER_MALFORMED;
	*out = r->p[0];
	r->p++;
	r->len--;
	return 0;
}

int
strata_reader_u16(struct strata_reader *r, uint16_t *out)
{
	if (r->len < 2)
		return READER_MALFORMED;
	*out = (uint16_t)((r->p[0] << 8) | r->p[1]);
	r->p += 2;
	r->len -= 2;
	return 0;
}

int
strata_reader_u32(struct strata_reader *r, uint32_t *out)
{
	if (r->len < 4)
		return READER_MALFORMED;
	*out = ((uint32_t)r->p[0] << 24) | ((uint32_t)r->p[1] << 16) |
	    ((uint32_t)r->p[2] << 8) | (uint32_t)r->p[3];
	r->p += 4;
	r->len -= 4;
	return 0;
}

int
strata_reader_varint(struct strata_reader *r, uint32_t *out)
{
	uint32_t value = 0;
	size_t i;

	for (i = 0; i < 4; i++) {
		if (i >= r->len)
			return READER_MALFORMED;
		value |= (uint32_t)(r->p[i] & 0x7F) << (7 * i);
		if ((r->p[i] & 0x80) == 0) {
			*out = value;
			r->p += i + 1;
			r->len -= i + 1;
			return 0;
		}
	}
	/* A fifth byte would be needed: not a Variable Byte Integer. */
	return READER_MALFORMED;
}

int
strata_reader_binary(struct strata_reader *r, struct strata_bytes *out)
{
	size_t n;

	if (r->len < 2)
		return READER_MALFORMED;
	n = ((size_t)r->p[0] << 8) | r->p[1];
	if (r->len - 2 < n)
		return READER_MALFORMED;
	out->p = r->p + 2;
	out->len = (uint32_t)n;
	r->p += 2 + n;
	r->len -= 2 + n;
	return 0;
}

int
strata_reader_string(struct strata_reader *r, struct strata_bytes *out)
{
	struct strata_reader probe = *r;
	struct strata_bytes s;
	int rc;

	rc = strata_reader_binary(&probe, &s);
	if (rc != 0)
		return rc;
	if (!strata_utf8_valid(s.p, s.len))
		return READER_MALFORMED;
	*out = s;
	*r = probe;
	return 0;
}

int
strata_reader_sub(struct strata_reader *r, size_t n,
    struct strata_reader *out)
{
	if (r->len < n)
		return READER_MALFORMED;
	*out = strata_reader_init(r->p, n);
	r->p += n;
	r->len -= n;
	return 0;
}

struct strata_bytes
strata_reader_rest(struct strata_reader *r)
{
	struct strata_bytes b;

	/* Frames are bounded by the 4-byte remaining length (< 256 MB), so a
	 * view of them always fits in 32 bits. */
	assert(r->len <= UINT32_MAX);
	b.p = r->p;
	b.len = (uint32_t)r->len;
	r->p += r->len;
	r->len = 0;
	return b;
}

/*
 * Length of the UTF-8 sequence starting at p (at most len bytes), or 0 when
 * it is not allowed by the MQTT rules.  The lead byte decides the length and
 * the range of the second byte; the ranges below exclude overlong forms
 * (C0, C1, E0 80..9F, F0 80..8F), surrogates (ED A0..BF) and code points
 * above U+10FFFF (F4 90.., F5..FF).
 */
static size_t
reader_utf8_char(const uint8_t *p, size_t len)
{
	uint8_t c = p[0];
	uint8_t lo = 0x80, hi = 0xBF;
	size_t n, i;

	if (c == 0x00)
		return 0;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4;
	else
		return 0;
	if (c == 0xE0)
		lo = 0xA0;
	else if (c == 0xED)
		hi = 0x9F;
	else if (c == 0xF0)
		lo = 0x90;
	else if (c == 0xF4)
		hi = 0x8F;
	if (len < n || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if ((p[i] & 0xC0) != 0x80)
			return 0;
	return n;
}

bool
strata_utf8_valid(const uint8_t *p, size_t len)
{
	size_t i = 0, n;

	while (i < len) {
		n = reader_utf8_char(p + i, len - i);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

size_t
strata_varint_write(uint8_t *out, uint32_t v)
{
	size_t n = 0;

	assert(v <= READER_VARINT_MAX);
	do {
		uint8_t b = v & 0x7F;

		v >>= 7;
		if (v != 0)
			b |= 0x80;
		out[n++] = b;
	} while (v != 0);
	return n;
}
