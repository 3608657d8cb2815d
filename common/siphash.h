/*
 * siphash.h - SipHash, a keyed hash for short inputs (Aumasson and
 * Bernstein, "SipHash: a fast short-input PRF", 2012).
 *
 * Without the key, an attacker cannot compute which inputs collide, so a
 * hash table keyed by client-controlled strings cannot be flooded into
 * long chains.  SipHash-2-4 is the variant of the paper; SipHash-1-3 runs
 * the same code with fewer rounds and is what strata_hash_bytes() uses
 * for speed (as Redis, Rust's HashMap and CPython do).  Pure functions, no
 * state besides the key the caller passes.
 */
#ifndef STRATA_SIPHASH_H
#define STRATA_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/* The 128-bit key as the two little-endian 64-bit words of its bytes. */
struct strata_siphash_key {
	uint64_t k0, k1;
};

/* bytes[0..7] -> k0 and bytes[8..15] -> k1, little-endian, as the paper
 * defines the key on any machine. */
void strata_siphash_key_from_bytes(
    struct strata_siphash_key *key, const uint8_t bytes[16]);

/* SipHash-2-4 and SipHash-1-3 of len bytes at p (p may be NULL when len
 * is 0): the 64-bit result, whose little-endian bytes are the paper's
 * output. */
uint64_t strata_siphash24(
    const struct strata_siphash_key *key, const void *p, size_t len);
uint64_t strata_siphash13(
    const struct strata_siphash_key *key, const void *p, size_t len);

#endif
