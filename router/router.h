/*
 * router.h - the strata-router context and the functions its files share.
 *
 * One struct strata_router holds everything a router process owns: no
 * globals, so a test can build one on its own event base.
 *
 *   main.c       options, signals, the loop
 *   router.c     context life cycle, listener, metrics, /healthz
 *   brokers.c    accepted broker links: Hello, frame dispatch, routes
 *   publish.c    the publish path: retain, deliver, acknowledge
 *   partition.c  leases and partition ownership in Redis, retained loading
 *   routes.c     route table (filter -> brokers)
 *   retained.c   retained message cache
 */
#ifndef STRATA_ROUTER_H
#define STRATA_ROUTER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "link.h"
#include "log.h"
#include "redis.h"
#include "list.h"
#include "retained.h"
#include "routes.h"
#include "topic.h"

struct event;
struct event_base;
struct evconnlistener;
struct strata_metrics;
struct strata_metrics_http;
struct strata_redis;

struct router_config {
	char *node_id;
	char *bind;
	long port;
	long metrics_port;
	char *redis_host;
	long redis_port;
	long redis_timeout;
	long partition_levels;
	char *log_level;
	long max_link_queue;
	long max_retained;
	long max_retained_bytes;
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
	uint64_t *retained_refused;
};

/* One accepted broker connection.  Freed when its link goes down. */
struct router_broker {
	struct strata_list node;   /* in router->brokers */
	struct strata_router *router;
	struct strata_link *link;
	uint64_t id;               /* never reused: pending acks find it */
	char *node_id;             /* from its Hello; NULL before */
	struct router_routes_peer routes;
	uint64_t barrier_owed;     /* BarrierAck that did not fit in the
				      link's queue: sent on drain; 0 none */
};

/* Partition ownership (see the state comment in partition.c). */
struct router_partitions {
	bool owned[STRATA_PARTITIONS];
	unsigned owned_count;
	bool cycle_running;        /* a claim cycle awaits Redis */
	unsigned loading;          /* HGETALLs of retained in flight */
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
	struct strata_list brokers;
	unsigned broker_count;
	uint64_t next_broker_id;
	struct router_routes routes;
	struct router_retained retained;
	struct router_partitions parts;
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
struct router_broker *router_brokers_find(
    struct strata_router *r, uint64_t id);
void router_brokers_free_all(struct strata_router *r);
/* Send on a broker's link, counting a drop of kind `queue_full` or
 * `queue_full + 1` (link down) on failure.  Returns strata_link_send's. */
int router_brokers_send(struct router_broker *b, enum strata_link_field field,
    const ProtobufCMessage *msg, enum router_drop queue_full);

/* publish.c */
void router_publish_handle(struct router_broker *b, const Strata__Publish *p);
void router_publish_retained_request(struct router_broker *b,
    const Strata__RetainedRequest *q);

/* partition.c */
void router_partition_start(struct strata_router *r);
void router_partition_stop(struct strata_router *r,
    void (*done)(struct strata_redis *, redisReply *, void *), void *arg);
void router_partition_tick(struct strata_router *r);
bool router_partition_owned(const struct strata_router *r, uint32_t partition);

#endif
