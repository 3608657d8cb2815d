/*
 * reader.h - the one bounds-checked reader every network byte goes through.
 *
 * A reader is a value {p, len}: reads consume from the front and check their
 * own bounds.  Strings and binaries are views into the frame (no copy).
 * Every read returns 0 or a negative status (STRATA_ERR(STRATA_RC_MALFORMED)
 * when the input is short or ill-formed) and leaves the reader unchanged on
 * failure.
 */
#ifndef STRATA_READER_H
#define STRATA_READER_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* A view of bytes owned by someone else (usually the input frame). */
struct strata_bytes {
	const uint8_t *p;
	uint32_t len;
};

struct strata_reader {
	const uint8_t *p;
	size_t len;
};

static inline struct strata_reader
strata_reader_init(const void *p, size_t len)
{
	struct strata_reader r = {(const uint8_t *)p, len};
	return r;
}

int strata_reader_u8(struct strata_reader *r, uint8_t *out);
int strata_reader_u16(struct strata_reader *r, uint16_t *out);
int strata_reader_u32(struct strata_reader *r, uint32_t *out);
/* MQTT Variable Byte Integer: at most 4 bytes, value < 268,435,456.
 * Non-minimal encodings are accepted (the spec only says "should"). */
int strata_reader_varint(struct strata_reader *r, uint32_t *out);
/* Two-byte length prefixed binary data; the view points into the input. */
int strata_reader_binary(struct strata_reader *r, struct strata_bytes *out);
/* Two-byte length prefixed UTF-8 string, validated by strata_utf8_valid():
 * invalid UTF-8 gives STRATA_ERR(STRATA_RC_MALFORMED). */
int strata_reader_string(struct strata_reader *r, struct strata_bytes *out);
/* Split off the next n bytes as a sub-reader (for property blocks). */
int strata_reader_sub(struct strata_reader *r, size_t n,
    struct strata_reader *out);
/* Take the rest of the input as a view. */
struct strata_bytes strata_reader_rest(struct strata_reader *r);

/*
 * MQTT UTF-8 rules (MQTT 5.0 1.5.4 / 3.1.1 1.5.3): well-formed UTF-8 per
 * RFC 3629, no surrogates (U+D800..U+DFFF), no U+0000, no overlong forms,
 * nothing above U+10FFFF.
 */
bool strata_utf8_valid(const uint8_t *p, size_t len);

/* Bytes needed to encode v as a Variable Byte Integer (1..4). */
static inline size_t
strata_varint_size(uint32_t v)
{
	return v < 128 ? 1 : v < 16384 ? 2 : v < 2097152 ? 3 : 4;
}

/* Write v as a Variable Byte Integer at out; returns bytes written. */
size_t strata_varint_write(uint8_t *out, uint32_t v);

#endif
