/*
 * shadowmsg.h - the device shadow messages of strata-bench's shadow mode:
 * the update request it sends, its clientToken, and the two members it
 * reads from an answer (clientToken, and code on update/rejected).
 *
 * Pure functions over byte strings (no I/O, no clock, no allocation), so
 * a unit test compiles shadowmsg.c directly, as it does tracker.c.
 * Answers are read by scanning for the member, not by parsing the whole
 * document: the bench shares the CPU with what it measures.
 */
#ifndef STRATA_BENCH_SHADOWMSG_H
#define STRATA_BENCH_SHADOWMSG_H

#include <stddef.h>
#include <stdint.h>

/* A clientToken of ours: "<nonce, 8 hex>-<thing>-<seq>", at most 30 bytes
 * (AWS allows 64). */
#define SHADOWMSG_TOKEN_BUF 32
/* Room for an update without padding: the fixed text, two 20-digit
 * numbers and a token. */
#define SHADOWMSG_UPDATE_MIN 128

/* Write the token of update `seq` of thing `thing` in run `nonce` into
 * out (SHADOWMSG_TOKEN_BUF bytes); returns its length. */
size_t shadowmsg_token(
    char *out, uint32_t nonce, uint32_t thing, uint32_t seq);

/* Read a token written by shadowmsg_token.  Returns 0, or -1 when s is
 * not one (another client's token, say). */
int shadowmsg_token_parse(const char *s, size_t len, uint32_t *nonce,
    uint32_t *thing, uint32_t *seq);

/*
 * Write the update request
 *   {"state":{"reported":{"seq":S,"t":MS}},"clientToken":"TOKEN"}
 * into out.  When `size` is larger than that document, a member
 * "pad":"xxx..." in reported makes it exactly `size` bytes (the member
 * itself needs 9 bytes, so a size less than 9 bytes above the unpadded
 * length is not reached).  Returns the length, or 0 when cap (at least
 * SHADOWMSG_UPDATE_MIN + size) is too small.
 */
size_t shadowmsg_update(uint8_t *out, size_t cap, uint32_t seq, uint64_t ms,
    const char *token, size_t size);

/* The string value of member `name` of the JSON object in p: points *val
 * into p and returns its length, or -1 when there is no such member or
 * its value is not a string without escapes.  Any member of that name
 * matches, at any depth: the answers the bench reads have one. */
int shadowmsg_string(
    const uint8_t *p, size_t len, const char *name, const uint8_t **val);

/* The integer value of member `name` (as above) into *val: 0, or -1. */
int shadowmsg_int(const uint8_t *p, size_t len, const char *name, long *val);

/* Digits (base 10, or 16 with lower-case letters) at *s, advanced past
 * them, into *v.  Returns how many there were, or -1 when the number does
 * not fit 32 bits.  The clientToken's parser, and rulesmsg's. */
int shadowmsg_number(
    const char **s, const char *end, unsigned base, uint32_t *v);

#endif
