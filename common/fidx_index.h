/*
 * fidx_index.h - the fleet index's Redis layout and the scripts that
 * write it (docs/internals/fleet-index.md, "Redis layout").
 *
 * The writer is strata-shadowd (shadowd/fidx.c); the reader the
 * brokers' admin API (broker/admin_fidx.c).  Both know the keys from
 * here and nothing else of each other.
 */
#ifndef STRATA_FIDX_INDEX_H
#define STRATA_FIDX_INDEX_H

#define STRATA_FIDX_INDEX_NAME "AWS_Things"

/* HASH: mode (OFF, REGISTRY, REGISTRY_AND_SHADOW), connectivity (OFF,
 * STATUS), named (OFF, ON), names (JSON array of shadow names), custom
 * (JSON array of {"name","type"}), generation (bumped by each
 * UpdateIndexingConfiguration), built (the generation the last complete
 * build had), status (BUILDING, REBUILDING, ACTIVE). */
#define STRATA_FIDX_CONFIG "strata:fidx:config"
/* ZSET, every score 0: the names of the indexed things. */
#define STRATA_FIDX_THINGS "strata:fidx:things"
/* ZSET, every score 0, members "<lower-case value>\0<thing>": the
 * string values (and booleans "true"/"false", numbers inside arrays) of
 * field <f>. */
#define STRATA_FIDX_STR_PREFIX "strata:fidx:s:"
/* ZSET, score the number, member the thing: the numbers of field <f>. */
#define STRATA_FIDX_NUM_PREFIX "strata:fidx:n:"
/* ZSET like a string field's, of every value of every field: terms
 * without a field. */
#define STRATA_FIDX_ANY "strata:fidx:any"
/* HASH per thing (strata:fidx:doc:{<thing>}): e (JSON array of its index
 * entries, for the next update's difference), r (its SearchIndex
 * document, JSON). */
#define STRATA_FIDX_DOC_PREFIX "strata:fidx:doc:"
/* HASH per thing (strata:fidx:conn:{<thing>}): connected (0/1), ts
 * (ms), reason, ver (the lifecycle event's versionNumber). */
#define STRATA_FIDX_CONN_PREFIX "strata:fidx:conn:"
/* STRING: the node id of the shadowd that keeps the index (PX lease). */
#define STRATA_FIDX_LEADER "strata:fidx:leader"

/* ARGV: thing.  Recomputes the thing's document from the registry, its
 * shadows and its connectivity record under the current configuration
 * and updates the index by the difference; a thing that does not exist
 * (or indexing OFF) leaves the index.  Returns 1 indexed, 0 not. */
extern const char strata_fidx_script_reindex[];

/* ARGV: client id, "connected"|"disconnected", timestamp ms,
 * versionNumber, disconnectReason.  Records the event for a client id
 * that is a thing unless an event with a higher versionNumber was
 * recorded already.  Returns 1 recorded, 0 not. */
extern const char strata_fidx_script_presence[];

#endif
