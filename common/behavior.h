/*
 * behavior.h - Device Defender Detect's behaviours (AWS IoT's Behavior
 * and BehaviorCriteria shapes, docs/internals/detect.md): the check of a
 * security profile's behaviors as CreateSecurityProfile receives them,
 * and the compact form the broker's evaluation script reads.
 *
 * A behaviour's criteria say what is normal: a datapoint that does not
 * meet them is a violating one.  The evaluation form is a JSON array of
 *
 *   {"k": name, "m": metric, "o": operator, "n": count,
 *    "c": [[hex, bits]...], "d": durationSeconds, "a": datapoints to
 *    alarm, "r": datapoints to clear}
 *
 * metric: "sent" "recv" "size" "authz" "conn" "disc" "ip";
 * operator: "lt" "le" "gt" "ge" "in" "notin"; hex: the CIDR's address as
 * 32 hex digits of its 16 bytes (IPv4 as ::ffff:a.b.c.d, its prefix
 * length + 96).  A behaviour without criteria (kept for its metric
 * only) has no entry.
 */
#ifndef STRATA_BEHAVIOR_H
#define STRATA_BEHAVIOR_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define STRATA_BEHAVIORS_MAX 100  /* AWS: behaviours per profile */
#define STRATA_BEHAVIOR_CIDRS_MAX 100
#define STRATA_BEHAVIOR_DURATION_MAX 3600

/*
 * Check behaviors (a JSON array, AWS's Behavior objects).  durationSeconds
 * is one of AWS's 300, 600, 900, 1800, 3600, or, when min_duration is
 * below 300, any whole number of seconds from min_duration up to 300.
 * Returns 0 and *eval (a new array, the form above), or -1 with a
 * message in err and *eval NULL.
 */
int strata_behaviors_check(const json_t *behaviors, long min_duration,
    json_t **eval, char *err, size_t errlen);

/* An IPv4 or IPv6 address as text into 32 hex digits (IPv4 mapped into
 * ::ffff:0:0/96).  0, or -1 when it is not an address. */
int strata_behavior_ip_hex(const char *text, char out[33]);

/* "a.b.c.d/n" or "x::y/n" into its address's hex and prefix length (out
 * of 128).  0, or -1. */
int strata_behavior_cidr(const char *text, char hex[33], int *bits);

/* Does the address hex lie in the CIDR (hex, bits)?  The evaluation
 * script's rule, here for the unit test. */
bool strata_behavior_cidr_has(const char *cidr_hex, int bits,
    const char *hex);

#endif
