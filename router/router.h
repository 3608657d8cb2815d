/*
 * router.h - the strata-router context and the functions its files share.
 *
 * One struct strata_router holds everything a router process owns: no
 * globals, so a test can build one on its own event base.
 *
 *   main.c       options, signals, the loop
 *   router.c     context life cycle, listener, metrics, /healthz
 *   brokers.c    broker links and nodes: Hello, frame dispatch, routes
 *   pending.c    QoS 1/2 publishes until every destination took them
 *   publish.c    the publish path: retain, deliver, acknowledge
 *   partition.c  leases, partition balancing and moves, retained loading
 *   routes.c     route table (filter -> brokers)
 *   retained.c   retained message cache
 *   sessions.c   persistent sessions: who holds them, offline queues
 */
#ifndef STRATA_ROUTER_H
#define STRATA_ROUTER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "link.h"
#include "linkauth.h"
#include "log.h"
#include "redis.h"
#include "list.h"
#include "retained.h"
#include "routes.h"
#include "siphash.h"
#include "topic.h"
#include "u64map.h"

struct event;
struct event_base;
struct evconnlistener;
struct strata_metrics;
struct strata_hashmap;
struct strata_subtree;
struct router_session;
struct strata_metrics_http;
struct strata_redis;

struct router_config {
	STRATA_CONFIG_NODE_FIELDS
	long port;
	struct strata_linkauth link_auth; /* loaded from cluster_secret_file */
	struct strata_redis_secrets redis_secrets; /* read from the redis_* files */
	long max_link_queue;
	long max_retained;
	long max_retained_bytes;
	long max_queued;
	char *share_strategy;
	/* not an option: an in-process Redis for fuzz targets and tests
	 * (NULL: the real one).  port 0, not an option either, makes no
	 * listener (links are attached with router_brokers_accept). */
	const struct strata_redis_fake *redis_fake;
};

/* Why a message was not sent (label of strata_router_drops_total). */
enum router_drop {
	ROUTER_DROP_DELIVER_QUEUE_FULL,
	ROUTER_DROP_DELIVER_LINK_DOWN,
	ROUTER_DROP_ACK_QUEUE_FULL,
	ROUTER_DROP_ACK_LINK_DOWN,
	ROUTER_DROP_ACK_BROKER_GONE,
	ROUTER_DROP_COUNT
};

/* Counter cells, registered once in router.c. */
struct router_metrics {
	uint64_t *publishes[3];       /* by QoS */
	uint64_t *deliveries;
	uint64_t *acks_success;
	uint64_t *acks_no_subscribers;
	uint64_t *acks_error;
	uint64_t *drops[ROUTER_DROP_COUNT];
	uint64_t *not_owned;
	uint64_t *retained_stored;
	uint64_t *retained_deleted;
	uint64_t *retained_requests;
	uint64_t *retained_sent;
	uint64_t *route_updates;
	uint64_t *barriers;
	uint64_t *protocol_errors;
	uint64_t *link_auth_refused;
	uint64_t *retained_refused;
	uint64_t *deliver_acks;
	uint64_t *redelivered;        /* Delivers sent again on a new link */
	uint64_t *duplicates;         /* Publishes seen again (re-sent) */
	uint64_t *nodes_gone;         /* broker nodes whose lease expired */
	uint64_t *moved_in;           /* partitions served after a move */
	uint64_t *moved_out;          /* partitions handed over */
	uint64_t *join_timeouts;      /* brokers left out of a move */
	uint64_t *session_appends;    /* messages queued for offline
					 sessions in Redis */
	uint64_t *session_append_errors;
	uint64_t *session_queue_full; /* appends refused by max-queued */
	uint64_t *sessions_expired;   /* found gone from Redis */
	uint64_t *sessions_offline;   /* went offline here (broker gone or
					 left them) */
	uint64_t *share_deliveries;   /* members picked */
	uint64_t *share_dropped;      /* groups with no member */
	uint64_t *share_redistributed; /* messages a member did not take */
	/* the argument of each strata_router_redis_connect_failures_total
	 * series: whose and which reason */
	struct router_redis_failures {
		struct strata_router *r;
		enum strata_redis_failure why;
	} redis_failures[STRATA_REDIS_FAIL_KINDS];
};

enum router_share_strategy {
	ROUTER_SHARE_ROUND_ROBIN,
	ROUTER_SHARE_RANDOM,
	ROUTER_SHARE_STICKY,
	ROUTER_SHARE_HASH_CLIENT,
	ROUTER_SHARE_HASH_TOPIC,
};

/* Shared subscription groups (shares.c). */
struct router_shares {
	struct strata_subtree *index;       /* $share/g/f -> group */
	size_t n_groups, n_members;
	int strategy;                       /* enum router_share_strategy */
	uint64_t rng;
	struct strata_siphash_key key;
};

/* The persistent sessions whose filters this router holds (sessions.c). */
struct router_sessions {
	struct strata_hashmap *by_client;   /* client id -> router_session */
	struct strata_subtree *index;       /* filter -> subscribers */
	size_t n_sessions, n_subs, n_offline;
	unsigned writes;                    /* Redis writes in flight: a
					       Barrier waits for them */
	uint64_t mark, gone_mark;           /* match and node-gone marks */
	struct router_session **match;      /* scratch of one match */
	size_t n_match, cap_match;
	struct event *sweep_ev;             /* expiry check of offline ones */
};

/*
 * A broker node (brokers.c): from its first Hello until its lease in
 * Redis expires.  Its link may come and go; what the router holds for the
 * broker survives a link that drops:
 *   LINKED - link != NULL: Delivers go out, its publishes come in.
 *   DOWN   - the link dropped: its routes stay, Delivers for it wait in
 *            the backlog, acks of its publishes are owed; a link with
 *            the same node id takes everything up again.
 *   gone   - its lease expired while DOWN (or at shutdown): routes
 *            dropped, what waited for it settled (pending.c), freed.
 */
struct router_node {
	struct strata_list node;        /* r->nodes */
	struct strata_router *router;
	char *node_id;
	uint64_t boot;                  /* of the process (its Hello) */
	uint32_t protocol;              /* link protocol of its Hello: 2 has
					   no PublishAck.not_owner */
	struct router_broker *link;     /* current link, NULL while DOWN */
	uint64_t down_since_ms;
	bool lease_checking;
	struct router_routes_peer routes;
	/* delivery (pending.c) */
	uint64_t next_deliver_id;       /* last id sent on the current link */
	struct strata_list unacked;     /* router_deliver_ref sent, by id */
	struct strata_list backlog;     /* router_deliver_ref to send */
	size_t n_backlog;
	struct strata_u64map pending;   /* its publishes in progress, by seq */
	struct strata_u64map owed;      /* seq -> reason + 1: acks for it
					   that found no link */
	/* partition moves (pending.c, partition.c) */
	uint32_t pending_by_part[STRATA_PARTITIONS];
	uint64_t leave_gen[STRATA_PARTITIONS]; /* PartitionLeave to answer */
	uint64_t joined[STRATA_PARTITIONS];    /* last PartitionJoin gen */
	struct strata_list shares;      /* its shared-subscription members */
};

/* One accepted broker link (brokers.c): ACCEPTED until its Hello, then
 * READY, bound to its node.  Freed when the link goes down. */
struct router_broker {
	struct strata_list node;   /* in router->brokers */
	struct strata_router *router;
	struct strata_link *link;
	uint64_t id;               /* never reused */
	struct router_node *peer;  /* after the Hello */
	uint64_t barrier_owed;     /* BarrierAck that did not fit in the
				      link's queue: sent on drain; 0 none */
};

/* Partition states (see the state comment in partition.c). */
enum router_part_state {
	PART_NONE,      /* another router's */
	PART_INCOMING,  /* ours from `gen`: loading, waiting for joins */
	PART_OWNED,     /* ours, served */
	PART_RELEASING, /* given away: routes kept until brokers left */
};

struct router_part {
	uint8_t state;
	bool loaded;               /* INCOMING: retained loaded */
	bool loading;
	uint8_t orphan_cycles;     /* cycles seen without a live owner */
	uint64_t gen;
	uint64_t since_ms;         /* INCOMING / RELEASING start */
};

struct router_partitions {
	struct router_part p[STRATA_PARTITIONS];
	unsigned owned_count;      /* INCOMING + OWNED */
	bool cycle_running;        /* a claim cycle awaits Redis */
	bool cycle_again;          /* one more cycle when it ends */
	bool ver_checking;         /* GET strata:{part}:ver in flight */
	unsigned loading;          /* HGETALLs of retained in flight */
	uint64_t partver;          /* last strata:{part}:ver seen */
	struct strata_hashmap *seen_routers; /* id -> first seen ms */
	struct strata_hashmap *live_brokers; /* node id -> (void *)1 */
};

struct strata_router {
	struct event_base *base;
	struct router_config cfg;
	char *link_address;        /* "host:port" published in Redis */
	struct strata_redis *redis;
	struct strata_metrics *metrics;
	struct strata_metrics_http *http;
	struct evconnlistener *listener;
	struct event *tick_ev;
	struct event *fast_ev;     /* 250 ms: partition map version */
	struct strata_list brokers;
	unsigned broker_count;
	long long started;         /* s since the epoch (node info) */
	uint64_t next_broker_id;
	struct strata_list nodes;
	unsigned node_count;
	size_t pending_count;
	size_t backlog_count;
	struct router_routes routes;
	struct router_retained retained;
	struct router_partitions parts;
	struct router_sessions sessions;
	struct router_shares shares;
	struct router_metrics m;
	bool stopping;
	bool scheme_ok;            /* the cluster's partition scheme is ours */
	bool scheme_checking;
	int exit_status;           /* of the process (router_exit) */
	struct strata_log_limit link_error_log;
	struct strata_log_limit retained_log;
};

/* config.c: load the options into cfg and check them.  Returns 0; 1
 * after --help (printed to help_out); or STRATA_EINVAL with a message in
 * err.  router_config_free() in every case. */
int router_config_load(struct router_config *cfg, int argc, char **argv,
    FILE *help_out, char *err, size_t errlen);
void router_config_free(struct router_config *cfg);

/* router.c */
int router_init(struct strata_router *r, struct event_base *base,
    const struct router_config *cfg);
void router_stop(struct strata_router *r);
void router_fini(struct strata_router *r);
uint64_t router_now_ms(void);
/* Leave the loop; the process exits with status. */
void router_exit(struct strata_router *r, int status);
/* A message on a broker link that breaks the link's rules: counted and
 * logged (one line a second at most). */
void router_link_error(struct strata_router *r, const char *what,
    const char *broker);

/* brokers.c */
void router_brokers_accept(struct strata_router *r, evutil_socket_t fd);
/* Close every link (nodes stay, DOWN). */
void router_brokers_free_all(struct strata_router *r);
/* Free every node (shutdown, after Redis): nothing is sent. */
void router_nodes_free_all(struct strata_router *r);
struct router_node *router_node_find(struct strata_router *r,
    const char *node_id);
/* A node's lease expired: settle and free it. */
void router_node_gone(struct router_node *n);
/* The routes peer's node. */
struct router_node *router_node_of(struct router_routes_peer *p);
/* Send on a link, counting a drop of kind `queue_full` or `queue_full + 1`
 * (link down) on failure.  Returns strata_link_send's. */
int router_brokers_send(struct router_broker *b, enum strata_link_field field,
    const ProtobufCMessage *msg, enum router_drop queue_full);
/* Send to a node's current link; STRATA_AGAIN when it is DOWN. */
int router_node_send(struct router_node *n, enum strata_link_field field,
    const ProtobufCMessage *msg, enum router_drop queue_full);

/* pending.c: QoS 1/2 publishes until every destination has taken them */
struct router_pending;
/* A publish from origin (seq != 0) enters: NULL when it is one already in
 * progress or answered (a re-send after a link drop: answered here). */
struct router_pending *router_pending_new(struct router_node *origin,
    const Strata__Publish *p, uint32_t partition);
/* One more destination: the Deliver to n (sent now or when it can be). */
void router_pending_deliver(struct router_pending *pd,
    struct router_node *n);
/* The same, for one member of a shared subscription: the Deliver names
 * its client and group; if n goes, another member is picked. */
void router_pending_deliver_to(struct router_pending *pd,
    struct router_node *n, const char *client_id, const char *group);
/* The client id that published it. */
const char *router_pending_publisher(const struct router_pending *pd);
/* One more thing to wait for (a Redis write); and its end. */
void router_pending_hold(struct router_pending *pd);
/* One wait ends; reason (MQTT 5 code) replaces a success reason. */
void router_pending_release(struct router_pending *pd, uint32_t reason);
void router_pending_set_reason(struct router_pending *pd, uint32_t reason);
const struct strata_message *router_pending_message(
    const struct router_pending *pd);
/* "<origin node>/<boot>/<seq>": names the publish in session queues (the
 * broker names a Deliver the same way), so a message queued twice for a
 * session is stored once. */
void router_pending_qid(const struct router_pending *pd, char *buf,
    size_t cap);
/* Call cb for each publish n has not taken yet (backlog, unacked). */
void router_pending_foreach_waiting(struct router_node *n,
    void (*cb)(struct router_pending *, void *), void *arg);
void router_pending_deliver_ack(struct router_node *n, uint64_t up_to);
/* Send what waits for n while its link takes it. */
void router_pending_flush(struct router_node *n);
/* n's link dropped: what it did not acknowledge waits for it again. */
void router_pending_link_down(struct router_node *n);
/* n's link is up again: owed acks go out, the backlog follows. */
void router_pending_link_up(struct router_node *n);
/* n is gone: it will take nothing; its publishes need no ack. */
void router_pending_node_gone(struct router_node *n);
/* PartitionLeave from n: answered once n's publishes of the partition
 * are done. */
void router_pending_leave(struct router_node *n, uint32_t partition,
    uint64_t gen);
/* Free every pending publish (shutdown). */
void router_pending_free_all(struct strata_router *r);

/* publish.c */
void router_publish_handle(struct router_broker *b, const Strata__Publish *p);
void router_publish_retained_request(struct router_broker *b,
    const Strata__RetainedRequest *q);

/* partition.c */
void router_partition_start(struct strata_router *r);
void router_partition_fini(struct strata_router *r);
void router_partition_stop(struct strata_router *r,
    void (*done)(struct strata_redis *, redisReply *, void *), void *arg);
void router_partition_tick(struct strata_router *r);
/* Check strata:{part}:ver and re-read the map when it moved. */
void router_partition_fast_tick(struct strata_router *r);
/* Ours (OWNED or INCOMING). */
bool router_partition_owned(const struct strata_router *r, uint32_t partition);
/* OWNED: every broker's routes of it are here, its publishes are routed. */
bool router_partition_serving(const struct strata_router *r,
    uint32_t partition);
/* PartitionJoin from n. */
void router_partition_join(struct router_node *n, uint32_t partition,
    uint64_t gen);
/* n's link came up (after its resync): serve what it joined. */
void router_partition_node_linked(struct router_node *n);

/* sessions.c */
void router_sessions_init(struct strata_router *r);
void router_sessions_fini(struct strata_router *r);
/* The expiry sweep of OFFLINE sessions (every 30 s). */
void router_sessions_start(struct strata_router *r);
/* SESSION_ADD from n (online: n holds the session) or SESSION_REMOVE. */
void router_sessions_update(struct router_node *n,
    const Strata__RouteUpdate *u);
/* Load strata:offline:<partition> (-1: the wildcard entries); commands
 * sent after it see the entries loaded (Redis answers in order). */
void router_sessions_load(struct strata_router *r, int partition);
/* A QoS 1/2 publish: appended to the queues of the offline sessions it
 * matches (each append a destination of pd). */
void router_sessions_publish(struct strata_router *r,
    struct router_pending *pd);
/* n is gone: the sessions it held go offline, the publishes it had not
 * taken are queued for them.  Before router_pending_node_gone(). */
void router_sessions_node_gone(struct router_node *n);
/* n's route resync: RESET marks its sessions, COMMIT sends those it did
 * not name again offline. */
void router_sessions_resync_begin(struct router_node *n);
void router_sessions_resync_commit(struct router_node *n);
/* partition given away: its sessions are forgotten here. */
void router_sessions_drop_partition(struct strata_router *r,
    uint32_t partition);
/* Answer Barrier seq on link b once the session writes sent before it
 * are done in Redis (at once when none are in flight). */
void router_sessions_barrier(struct router_broker *b, uint64_t seq,
    void (*ack)(struct router_broker *, uint64_t));

/* shares.c */
void router_shares_init(struct strata_router *r);
void router_shares_fini(struct strata_router *r);
/* enum router_share_strategy of a share-strategy name, or -1. */
int router_shares_strategy(const char *name);
/* SHARE_ADD / SHARE_REMOVE from n. */
void router_shares_update(struct router_node *n,
    const Strata__RouteUpdate *u);
/* A QoS 0 publish: one member of each matching group gets it now;
 * returns the groups served. */
size_t router_shares_publish_now(struct strata_router *r,
    const Strata__Publish *p);
/* A QoS 1/2 publish: one member of each matching group is a destination. */
void router_shares_publish(struct strata_router *r,
    struct router_pending *pd);
/* pd goes to another member of group (its member left or is gone);
 * false when the group has none. */
bool router_shares_redeliver(struct strata_router *r,
    struct router_pending *pd, const char *group);
void router_shares_node_gone(struct router_node *n);
void router_shares_resync_begin(struct router_node *n);
void router_shares_resync_commit(struct router_node *n);
/* n's members of groups in partition (PARTITION_RESET, or given away). */
void router_shares_drop_partition(struct router_node *n, uint32_t partition);

#endif
