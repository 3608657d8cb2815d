/*
 * topic.h - topic names, topic filters, shared subscriptions, partitions.
 */
#ifndef STRATA_TOPIC_H
#define STRATA_TOPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reader.h"

#define STRATA_PARTITIONS 1024

/* 0, or STRATA_ERR(STRATA_RC_TOPIC_NAME_INVALID) for an empty name or one
 * holding '+' or '#'.  (UTF-8 is checked by the reader.) */
int strata_topic_name_check(const uint8_t *p, size_t len);

/* 0, or STRATA_ERR(STRATA_RC_TOPIC_FILTER_INVALID): empty, '#' not last or
 * not a whole level, '+' not a whole level, or a bad $share/<group>/<filter>
 * (empty group, group holding + # or /, missing filter). */
int strata_topic_filter_check(const uint8_t *p, size_t len);

/* Does the filter have '+' or '#' anywhere? */
bool strata_topic_has_wildcard(const uint8_t *p, size_t len);

/* Number of levels ("a/b/c" = 3, "" = 1, "a/" = 2). */
unsigned strata_topic_depth(const uint8_t *p, size_t len);

/* Does `filter` (no $share prefix) match topic `name`?  Implements the rule
 * that a topic starting with '$' does not match a filter starting with a
 * wildcard. */
bool strata_topic_match(const uint8_t *filter, size_t flen,
    const uint8_t *name, size_t nlen);

/* If filter is "$share/<group>/<inner>", set group and inner and return
 * true; otherwise false (group/inner untouched). */
bool strata_topic_share_split(const uint8_t *p, size_t len,
    struct strata_bytes *group, struct strata_bytes *inner);

/* Partition of a topic name: hash of its first `levels` levels (the whole
 * topic if it has fewer), in [0, STRATA_PARTITIONS). */
uint32_t strata_topic_partition(const uint8_t *p, size_t len,
    unsigned levels);

/* Partition of a filter if its first `levels` levels hold no wildcard
 * (then every topic it matches lands on that partition), or -1 when the
 * filter must be held by every router.  "$share/<group>/<f>": that of f. */
int strata_topic_filter_partition(const uint8_t *p, size_t len,
    unsigned levels);

#endif
