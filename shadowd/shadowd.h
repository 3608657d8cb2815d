/*
 * shadowd.h - strata-shadowd: the AWS IoT Device Shadow service as a
 * cluster node (docs/internals/shadowd.md).
 *
 * The process is a broker core without client listeners (node links to
 * every router, the partition map, shared subscriptions, QoS 1 both
 * ways: broker/) plus two parts of its own:
 *   session.c - one internal MQTT 5 session joined to that core over a
 *               socketpair: it subscribes to the shadow request topics in
 *               the share group "strata-shadowd", hands each request to
 *               ops.c, and publishes the answers at QoS 1;
 *   ops.c     - a request: read the shadow from Redis, apply it with the
 *               document engine (common/shadow.c), write it back with a
 *               version check (compare-and-set, retried), answer.
 *   http.c    - the Device Shadow REST API (options http-port and
 *               https-port): requests to ops.c through shadowd_call.
 *   dataplane.c - on the same listeners, AWS IoT's data-plane API:
 *               Publish through the internal session, and the retained
 *               messages read from Redis.
 *   fidx.c    - keeps the fleet index (AWS_Things) in Redis: reindexes
 *               after shadow writes, presence events and registry
 *               changes; the lease holder builds it.
 *   fidx_groups.c - the lease holder keeps dynamic thing groups' members
 *               equal to what their queries find.
 */
#ifndef STRATA_SHADOWD_H
#define STRATA_SHADOWD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "broker.h"

#define SHADOWD_COMP "shadowd"
#define SHADOWD_SHARE_GROUP "strata-shadowd"

struct shadowd_session;
struct shadowd_http;

/* Metric cells (registered in main.c). */
struct shadowd_metrics {
	uint64_t *requests[3][2];   /* [update, get, delete][accepted,
				       rejected] */
	uint64_t *rejected[6];      /* by code: 400, 404, 409, 413, 429,
				       500 */
	uint64_t *deltas;           /* update/delta publishes */
	uint64_t *cas_retries;      /* version moved between read and write */
	uint64_t *document_bytes;   /* stored documents written, bytes */
	uint64_t *documents_written;
	struct strata_histogram *redis; /* time of each Redis round trip */
	int64_t *inflight;          /* requests being handled */
	int64_t *session_up;        /* the internal session is subscribed */
	uint64_t *publishes[2];     /* data-plane publishes answered 200, by
				       QoS */
	uint64_t *retained_reads[2]; /* GetRetainedMessage,
					ListRetainedMessages answered 200 */
};

/* The fleet index keeper (fidx.c); its state lives as long as sd. */
enum shadowd_fidx_script { FIDX_REINDEX, FIDX_PRESENCE, FIDX_NSCRIPTS };
struct shadowd_fidx {
	struct shadowd *sd;            /* NULL: not started */
	struct strata_redis *sub;      /* strata:registry */
	struct event *tick;
	char sha[FIDX_NSCRIPTS][41];
	bool leader;
	bool reconcile;                /* leader: build at the next tick */
	bool building;
	bool resume;                   /* a step failed: go on from it */
	char gen[24];                  /* the generation being built */
	int phase;                     /* 0 registry things, 1 index's,
					  2 done */
	char cursor[32];
	int step_phase;                /* where the step in flight began */
	char step_cursor[32];
	bool step_failed;              /* a reindex of the step failed */
	/* dynamic thing groups (fidx_groups.c) */
	bool groups_busy;              /* a pass is running */
	bool groups_due;               /* a group changed: pass soon */
	unsigned groups_ticks;
	size_t pending;                /* scripts of the step in flight */
};

struct shadowd {
	struct strata_broker *b;          /* the core; its Redis, its loop */
	struct shadowd_session *session;
	struct shadowd_metrics m;
	unsigned cas_max;                 /* compare-and-set attempts */
	size_t max_inflight;              /* requests handled at once */
	size_t inflight;
	struct shadowd_http *http;        /* NULL: http-port 0 */
	struct shadowd_http *https;       /* NULL: https-port 0 */
	size_t publishing;                /* data-plane QoS 1 publishes
					     waiting for their PUBACK */
	struct shadowd_fidx fidx;
};

/* ---- session.c ---- */
/* Join the core over a socketpair and subscribe; re-joins by itself if
 * the core drops the session. */
int shadowd_session_start(struct shadowd *sd);
void shadowd_session_free(struct shadowd *sd);
/* Publish at QoS 1 (queued while the session's window is full). */
void shadowd_publish(struct shadowd *sd, const char *topic,
    const char *payload, size_t len);
/* Publish m for the data-plane API (its done callback, if any, is told
 * the end); false when the session is gone (stopping). */
bool shadowd_publish_msg(struct shadowd *sd,
    const struct broker_insession_msg *m);
bool shadowd_session_ready(const struct shadowd *sd);

/* ops.c has answered the request that came as packet_id of session
 * generation: acknowledge it (nothing for QoS 0, or an older session). */
void shadowd_request_done(struct shadowd *sd, unsigned generation,
    uint16_t packet_id);

/* ---- ops.c ---- */
enum shadowd_op { SHADOWD_UPDATE, SHADOWD_GET, SHADOWD_DELETE };

/* An accepted (status 200) or rejected (the error's code) answer. */
typedef void (*shadowd_answer_cb)(void *arg, int status, const json_t *body);

/* A request from elsewhere than MQTT (the HTTP interface): names already
 * checked (shadowd_name_valid); its accepted or rejected answer goes to
 * answered, an update's delta and documents are published as usual. */
struct shadowd_call {
	enum shadowd_op op;
	const char *thing;
	const char *name;      /* "" for the classic shadow */
	const char *payload;   /* update's request; "" otherwise */
	size_t len;
	shadowd_answer_cb answered;
	void *arg;
};
void shadowd_call(struct shadowd *sd, const struct shadowd_call *call);
/* A request topic, "$aws/things/T/shadow/OP" or
 * "$aws/things/T/shadow/name/N/OP" (OP update, get or delete). */
struct shadowd_topic {
	enum shadowd_op op;
	char thing[129];
	char name[65];          /* "" for the classic shadow */
	char base[300];         /* the topic without "/OP" */
	bool names_valid;       /* thing and name are names AWS allows
				   (else thing and name may be empty) */
};
/* 0, or -1 when topic is not a request topic (or its base is longer
 * than base holds). */
int shadowd_topic_parse(const char *topic, size_t len,
    struct shadowd_topic *t);
/* AWS's thing and shadow names: [a-zA-Z0-9:_-], 1..max (the registry's
 * rule, broker_registry_name_valid); s holds n bytes and a NUL. */
bool shadowd_name_valid(const char *s, size_t n, size_t max);

/* One request PUBLISH from the session (topic and payload are copied);
 * shadowd_request_done(generation, packet_id) when it is answered. */
void shadowd_request(struct shadowd *sd, const char *topic, size_t topic_len,
    const uint8_t *payload, size_t len, unsigned generation,
    uint16_t packet_id);

/* A request the core dropped because the internal session's queue was
 * full (max-queued): answered 429 on its rejected topic, nothing to
 * acknowledge. */
void shadowd_request_overloaded(struct shadowd *sd, const char *topic,
    size_t topic_len, const uint8_t *payload, size_t len);

/* ---- fidx.c ---- */
/* Keep the fleet index: the registry channel, the lease, builds. */
int shadowd_fidx_start(struct shadowd *sd);
void shadowd_fidx_free(struct shadowd *sd);
/* The thing's records changed (a shadow written): reindex it. */
void shadowd_fidx_thing(struct shadowd *sd, const char *thing);
/* A presence lifecycle event from the session: recorded, reindexed,
 * then acknowledged. */
void shadowd_fidx_presence(struct shadowd *sd, const uint8_t *payload,
    size_t len, unsigned generation, uint16_t packet_id);

/* ---- fidx_groups.c ---- */
/* One pass over the dynamic thing groups: each one's members made the
 * things its query finds (nothing when a pass is running). */
void shadowd_fidx_groups_pass(struct shadowd_fidx *f);

/* ---- http.c ---- */
/* Who may call a listener of the REST API. */
enum shadowd_http_auth {
	SHADOWD_HTTP_AUTH_NONE,   /* anyone (plain HTTP, http-auth none) */
	SHADOWD_HTTP_AUTH_IAM,    /* admin identities (http-auth iam) */
	SHADOWD_HTTP_AUTH_DEVICE, /* HTTPS: device certificates and their
				     IoT policies (the core's ssl_ctx) */
};
/* The Device Shadow REST API at bind:port, plain HTTP or (auth DEVICE)
 * HTTPS (docs/internals/shadowd-http.md); 0 or STRATA_EIO (cannot
 * listen). */
int shadowd_http_start(struct shadowd *sd, const char *bind, uint16_t port,
    enum shadowd_http_auth auth);
/* Stop accepting connections; requests in flight are still answered. */
void shadowd_http_stop(struct shadowd *sd);
void shadowd_http_free(struct shadowd *sd);

#endif
