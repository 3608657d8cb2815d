/*
 * rulesmsg.h - the messages of strata-bench's rules mode: the JSON
 * reading a publisher sends, what the bench reads back from a rule's
 * output (or, with --direct, from the message itself), and which
 * outputs a run expects when the rule's WHERE lets only even sequence
 * numbers through.
 *
 * Pure functions over byte strings (no I/O, no clock, no allocation), so
 * a unit test compiles rulesmsg.c (and shadowmsg.c, whose member scanners
 * it uses) directly.
 */
#ifndef STRATA_BENCH_RULESMSG_H
#define STRATA_BENCH_RULESMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Room for a reading without padding: the fixed text, a 20-digit
 * timestamp, the device name and three more numbers. */
#define RULESMSG_MIN 160

/* Who sent an output, and when it was meant to be sent. */
struct rulesmsg_id {
	uint32_t nonce; /* the run */
	uint32_t pub;   /* the publisher's index */
	uint32_t seq;   /* its sequence number */
	uint64_t ts;    /* intended send time, CLOCK_MONOTONIC ns */
};

/*
 * Write the reading
 *   {"ts":T,"device":"sb<nonce 8 hex>-<pub>","seq":K,
 *    "temperature":<20 + K % 10>.5,"delta":-<1 + K % 7>}
 * into out: the temperature is always above 20, so a WHERE on it lets
 * every reading through and one on seq decides alone; delta is negative
 * for abs().  When `size` is larger, a last member "pad":"xxx..." makes
 * it exactly `size` bytes (a size less than 9 bytes above the unpadded
 * length is not reached).  Returns the length, or 0 when cap (at least
 * RULESMSG_MIN + size) is too small.
 */
size_t rulesmsg_write(uint8_t *out, size_t cap, uint32_t nonce, uint32_t pub,
    uint32_t seq, uint64_t ts, size_t size);

/*
 * Read an output: the Int member "ts", and either the String member "id"
 * ("sb<nonce>-<pub>-<seq>", what concat(device, '-', seq) makes) or the
 * String member "device" with the Int member "seq" (the reading itself,
 * as SELECT * passes it).  Returns 0, or -1 when the output carries no
 * such identity (not this bench's, or a rule that dropped them).
 */
int rulesmsg_read(const uint8_t *p, size_t len, struct rulesmsg_id *id);

/* Outputs expected of a publisher that sent `sent` readings (seq 0 to
 * sent - 1): all of them, or with `even` those of an even seq. */
uint64_t rulesmsg_expected(uint64_t sent, bool even);

/* The tracker slot of seq: seq itself, or with `even` seq / 2.  Returns
 * 0, or -1 for an odd seq with `even` (the WHERE should have dropped
 * it). */
int rulesmsg_slot(uint32_t seq, bool even, uint32_t *slot);

#endif
