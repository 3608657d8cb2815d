/*
 * siphash.c - SipHash-c-d, written from the paper's description.
 *
 * The state is four 64-bit words v0..v3 initialised from the key and four
 * constants.  The message is read as 8-byte little-endian words; the last
 * word holds the 0-7 remaining bytes and, in its top byte, the message
 * length mod 256.  Each word m is compressed as v3 ^= m, c rounds,
 * v0 ^= m.  Finalisation is v2 ^= 0xff, d rounds, v0 ^ v1 ^ v2 ^ v3.  A
 * round is additions, rotations and xors only (ARX).
 *
 * siphash() takes c and d as arguments; the exported variants call it
 * with constants, so the compiler inlines it and unrolls the rounds.
 * Tested against the paper's vectors (tests/unit/test_siphash.c).
 */
#include "siphash.h"

struct siphash_state {
	uint64_t v0, v1, v2, v3;
};

static inline uint64_t
siphash_rotl(uint64_t x, unsigned bits)
{
	return (x << bits) | (x >> (64 - bits));
}

/* Little-endian whatever the machine; compilers make it one load on
 * x86-64. */
static inline uint64_t
siphash_load64(const uint8_t *b)
{
	return (uint64_t)b[0] | (uint64_t)b[1] << 8 | (uint64_t)b[2] << 16 |
	       (uint64_t)b[3] << 24 | (uint64_t)b[4] << 32 |
	       (uint64_t)b[5] << 40 | (uint64_t)b[6] << 48 |
	       (uint64_t)b[7] << 56;
}

static inline void
siphash_round(struct siphash_state *s)
{
	s->v0 += s->v1;
	s->v1 = siphash_rotl(s->v1, 13) ^ s->v0;
	s->v0 = siphash_rotl(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = siphash_rotl(s->v3, 16) ^ s->v2;
	s->v0 += s->v3;
	s->v3 = siphash_rotl(s->v3, 21) ^ s->v0;
	s->v2 += s->v1;
	s->v1 = siphash_rotl(s->v1, 17) ^ s->v2;
	s->v2 = siphash_rotl(s->v2, 32);
}

static inline void
siphash_compress(struct siphash_state *s, uint64_t m, unsigned c)
{
	s->v3 ^= m;
	for (unsigned i = 0; i < c; i++)
		siphash_round(s);
	s->v0 ^= m;
}

/* SipHash-c-d of b[0..len). */
static inline uint64_t
siphash(const struct strata_siphash_key *key, const uint8_t *b, size_t len,
    unsigned c, unsigned d)
{
	struct siphash_state s = {
	    key->k0 ^ 0x736f6d6570736575ull,
	    key->k1 ^ 0x646f72616e646f6dull,
	    key->k0 ^ 0x6c7967656e657261ull,
	    key->k1 ^ 0x7465646279746573ull,
	};
	size_t whole = len & ~(size_t)7;
	uint64_t last = (uint64_t)len << 56;

	for (size_t i = 0; i < whole; i += 8)
		siphash_compress(&s, siphash_load64(b + i), c);
	for (size_t i = 0; i < (len & 7); i++)
		last |= (uint64_t)b[whole + i] << (8 * i);
	siphash_compress(&s, last, c);
	s.v2 ^= 0xff;
	for (unsigned i = 0; i < d; i++)
		siphash_round(&s);
	return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

void
strata_siphash_key_from_bytes(
    struct strata_siphash_key *key, const uint8_t bytes[16])
{
	key->k0 = siphash_load64(bytes);
	key->k1 = siphash_load64(bytes + 8);
}

uint64_t
strata_siphash24(
    const struct strata_siphash_key *key, const void *p, size_t len)
{
	return siphash(key, p, len, 2, 4);
}

uint64_t
strata_siphash13(
    const struct strata_siphash_key *key, const void *p, size_t len)
{
	return siphash(key, p, len, 1, 3);
}
