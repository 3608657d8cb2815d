/*
 * linkauth.h - the cluster secret that node links prove in their Hello.
 *
 * Every node of a cluster may be given the same secret (a file, option
 * cluster-secret-file).  Its Hello then carries
 *   auth = HMAC-SHA256(secret, "strata-link/1" | kind | node_id | boot)
 * (kind as one byte, node_id NUL-terminated, boot as 8 bytes big endian).
 * A router that has the secret closes a broker link whose Hello lacks the
 * proof or gets it wrong, before any route or publish of it is taken.
 * Routers send their proof too; brokers do not check it yet (a broker
 * dials only the routers listed in Redis).  The secret never crosses the
 * wire; the link is not encrypted: on a network others can read, run the
 * links inside a private network or a tunnel.
 */
#ifndef STRATA_LINKAUTH_H
#define STRATA_LINKAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STRATA_LINKAUTH_LEN 32
#define STRATA_LINKAUTH_MIN_SECRET 16

struct strata_linkauth {
	uint8_t *secret;          /* NULL: no secret, links not checked */
	size_t len;
};

/* Read the secret from path (a trailing newline is not part of it).
 * Returns 0, or -1 with a message in err (unreadable, shorter than 16
 * bytes, longer than 4 KiB). */
int strata_linkauth_load(struct strata_linkauth *a, const char *path,
    char *err, size_t errlen);
void strata_linkauth_free(struct strata_linkauth *a);

/* out = the proof of (kind, node_id, boot) under a's secret. */
void strata_linkauth_mac(const struct strata_linkauth *a, int kind,
    const char *node_id, uint64_t boot, uint8_t out[STRATA_LINKAUTH_LEN]);

/* True when a has no secret, or proof (len bytes) is the right one. */
bool strata_linkauth_check(const struct strata_linkauth *a, int kind,
    const char *node_id, uint64_t boot, const uint8_t *proof, size_t len);

#endif
