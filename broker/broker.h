/*
 * broker.h - internal types and functions of strata-broker.
 *
 * One context struct (struct strata_broker) holds everything the daemon
 * owns; every function takes it (or a connection that points to it)
 * explicitly.  There are no globals.
 *
 * Objects and ownership:
 *   broker  owns  connections (list `conns`), sessions (map by client id),
 *                 connections waiting for a session hand-off (`pending`),
 *                 the local subscription table, router links, in-flight
 *                 publishes to routers.
 *   session owns  its subscriptions, outbound messages (in flight and
 *                 queued), the packet ids of inbound QoS 2 publishes.
 *   conn    owns  its socket (TCP: read/write events, output buffer and
 *                 held input; TLS: a bufferevent; WebSocket: a
 *                 bufferevent and struct broker_ws), topic aliases; points
 *                 to its session
 *                 (the session points back while the connection is live).
 *   message (struct broker_msg) is reference counted: one Deliver fanned
 *                 out to many sessions shares one copy.
 */
#ifndef STRATA_BROKER_H
#define STRATA_BROKER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <event2/event.h>
#include <event2/bufferevent.h>
#include <event2/buffer.h>
#include <event2/listener.h>
#include <jansson.h>
#include <openssl/ssl.h>

#include "config.h"
#include "hashmap.h"
#include "lifecycle.h"
#include "link.h"
#include "linkauth.h"
#include "list.h"
#include "log.h"
#include "message.h"
#include "metrics.h"
#include "mqtt.h"
#include "policy.h"
#include "redis.h"
#include "status.h"
#include "subtree.h"
#include "timerwheel.h"
#include "topic.h"
#include "topicalias.h"
#include "u64map.h"

#define BROKER_COMP "broker"

struct broker_config {
	STRATA_CONFIG_NODE_FIELDS
	long port;
	long tls_port;
	long proxy_port;      /* PROXY protocol header, then MQTT */
	long proxy_tls_port;  /* PROXY protocol header, then TLS */
	long ws_port;         /* MQTT over WebSocket (ws.c) */
	long wss_port;        /* MQTT over WebSocket over TLS */
	char *ws_path;        /* the path of the opening request */
	long ws_max_message;  /* largest WebSocket message taken, its
				 frames together (0: the Maximum Packet
				 Size) */
	char *tcp_bind;       /* the plain port's address when bind is not
				 a loopback one */
	char *tls_cert;
	char *tls_key;
	char *tls_ca;
	char *tls_crl;
	bool tls_require_client_cert;
	char *tls_ciphers;      /* "": OpenSSL's defaults */
	char *tls_ciphersuites;
	char *tls_groups;
	struct strata_linkauth link_auth; /* loaded from cluster_secret_file */
	struct strata_redis_secrets redis_secrets; /* read from the redis_* files */
	long max_payload;
	long max_topic_depth;
	long max_subscriptions_per_subscribe;
	long max_subscriptions;
	long max_client_id;
	long keepalive_min;
	long keepalive_max;
	bool keepalive_clamp_v311;
	bool allow_zero_keepalive;
	long max_inflight;
	long max_queued;
	long max_output_bytes;
	long topic_alias_max;
	long topic_alias_out_max;
	char *response_information;
	long max_connections;
	char *tls_auth;           /* "registry" or "chain" */
	long admin_port;
	char *admin_bind;
	char *admin_token_file;
	char *admin_bootstrap_key_id;
	bool admin_tls;
	char *admin_tls_cert;     /* "" = tls-cert */
	char *admin_tls_key;      /* "" = tls-key */
	char *console_dir;        /* "" = share/strata/console by the binary */
	long console_session_ttl; /* s */
	long console_login_max_failures; /* per source address and window */
	long console_login_window; /* s */
	char *shadow_http_url;    /* strata-shadowd's REST API, "" = none */
	char *iot_region;
	char *iot_account;
	char *registry_ca_cert;
	char *registry_ca_key;
	long registry_cert_days;
	long thing_type_delete_wait; /* s deprecated before DeleteThingType */
	char *authorizer_url;     /* "" = no custom authorizer */
	long authorizer_timeout;  /* ms */
	long authorizer_cache_seconds;
	bool authorizer_tcp;
	char *authorizer_token_key;
	bool lifecycle_events;    /* $aws/events/... (events.c) */
	/* throttle.c: per-connection rates, 0 = off */
	long throttle_publish_rate;   /* PUBLISH per second */
	long throttle_inbound_bytes;  /* bytes per second */
	long throttle_subscribe_rate; /* filters per second */
	long throttle_disconnect_after; /* s held at the publish limit */
	long throttle_connect_client_rate;  /* CONNECTs per second per id */
	long throttle_connect_address_rate; /* ... per source address */
	long devstats_interval_ms; /* devstats.c: counts handed on */
	long defender_min_duration; /* detect: shortest durationSeconds */
	char *admin_audit_file;    /* admin_auditlog.c: JSON lines, or "" */
	long admin_audit_max;      /* records kept in Redis, 0: none */
	bool admin_audit_reads;    /* keep successful GETs too */
	long metering_retention_hours; /* meter.c: 0 = no metering */
	char *throttle_connect_scope; /* "cluster": the client id's bucket
				       is also kept in Redis; "broker" */
	bool throttle_connect_cluster; /* scope is "cluster" */
	/* not an option: an in-process Redis for fuzz targets and tests
	 * (NULL: the real one at redis-host:redis-port) */
	const struct strata_redis_fake *redis_fake;
	/* not an option: how router links are dialled (NULL:
	 * strata_link_connect); fuzz targets keep them in process */
	struct strata_link *(*link_connect)(struct event_base *base,
	    const char *host, uint16_t port,
	    const struct strata_link_callbacks *cb, void *arg,
	    size_t max_queue);
	/* not an option: the bufferevent of a TLS connection on its
	 * accepted socket (NULL: OpenSSL with the listeners' SSL_CTX); fuzz
	 * targets use a plain one */
	struct bufferevent *(*tls_wrap)(struct event_base *base,
	    evutil_socket_t fd);
};

/* The listeners.  The PROXY ones (proxy-port, proxy-tls-port) take a
 * PROXY protocol header in front of MQTT or of the TLS handshake; the
 * WebSocket ones (ws-port, wss-port) an HTTP upgrade, then MQTT in
 * WebSocket frames (ws.c). */
enum broker_listener_kind { BROKER_TCP = 0, BROKER_TLS = 1,
	BROKER_PROXY = 2, BROKER_PROXY_TLS = 3, BROKER_WS = 4,
	BROKER_WSS = 5 };
#define BROKER_LISTENERS 6

/* Why a TLS handshake failed (tls.c; the reason label of
 * strata_broker_tls_handshake_failures_total). */
enum broker_tls_failure {
	BROKER_TLS_NO_CERT,   /* required, and the client sent none */
	BROKER_TLS_REVOKED,   /* the client's certificate is in tls-crl */
	BROKER_TLS_CRL,       /* no valid CRL for it (missing, expired) */
	BROKER_TLS_CERT,      /* any other verification failure */
	BROKER_TLS_ALPN,      /* ALPN offered, none of ours */
	BROKER_TLS_PROTOCOL,  /* any other TLS error (versions, ciphers) */
	BROKER_TLS_CLOSED,    /* the client closed or reset the connection */
	BROKER_TLS_FAILURES
};

/* Refusal without an MQTT reason code (broker_refuse, 0x100 + n): a
 * connection on a PROXY listener without a valid header in time. */
#define BROKER_REFUSE_PROXY 0x100
/* A WebSocket connection refused below MQTT: a bad opening request, or
 * a frame that breaks RFC 6455 or MQTT's binding (ws.c). */
#define BROKER_REFUSE_WEBSOCKET 0x101

/* Metric cells, registered once (metrics.c); the hot path bumps them. */
/* Why a TLS client was refused by the registry (device.c). */
enum broker_auth_refusal {
	AUTH_UNKNOWN,     /* no such certificate */
	AUTH_INACTIVE,
	AUTH_REVOKED,
	AUTH_EXPIRED,     /* or not yet valid */
	AUTH_CA,          /* signed by no registered, ACTIVE CA */
	AUTH_NO_CERT,     /* TLS without a client certificate */
	AUTH_UNAVAILABLE, /* the registry (Redis) did not answer */
	BROKER_AUTH_REFUSALS
};

struct strata_broker;
struct broker_conn;
struct broker_meter;

/* What a connection's client did since its counts were last handed on
 * (devstats.c). */
struct broker_devstats {
	uint64_t bytes_in, bytes_out; /* topic + payload + properties */
	uint64_t max_msg_in;          /* largest inbound message, bytes */
	uint32_t msgs_in, msgs_out;   /* PUBLISH accepted from / written to */
	uint32_t units_in, units_out; /* the same in 5 KB metering units */
	uint32_t authz_failures;      /* actions its policies denied */
	bool dirty;                   /* on b->devstats_dirty */
	struct strata_list node;
};

/* One connection's counts handed to a consumer (devstats.c). */
struct broker_devstats_row {
	struct broker_conn *conn;
	const char *client_id;  /* NULL before the session (refused) */
	const char *thing;      /* the registry's thing, or NULL */
	const struct broker_devstats *stats;
	bool closing;           /* its last row: the connection closes */
};

/* A keeper of the counts: row() for each connection with counts, then
 * done() (may be NULL) once per tick or close. */
struct broker_devstats_consumer {
	void (*row)(struct strata_broker *b,
	    const struct broker_devstats_row *row, void *arg);
	void (*done)(struct strata_broker *b, void *arg);
	void *arg;
};

#define BROKER_DEVSTATS_CONSUMERS 4

/* Why a connection was throttled (throttle.c), the label of
 * strata_broker_throttled_total. */
enum broker_throttle_reason { THROTTLE_PUBLISH_RATE, THROTTLE_INBOUND_BYTES,
	THROTTLE_SUBSCRIBE_RATE, THROTTLE_CONNECT_CLIENT,
	THROTTLE_CONNECT_ADDRESS, BROKER_THROTTLE_REASONS };

/* The limits a connection may be given (throttle.c): the first three
 * are rates and share their index with the reasons above. */
enum broker_throttle_limit { LIMIT_PUBLISH_RATE, LIMIT_INBOUND_BYTES,
	LIMIT_SUBSCRIBE_RATE, LIMIT_DISCONNECT_AFTER,
	BROKER_THROTTLE_LIMITS };
#define BROKER_THROTTLE_RATES 3

/* A connection's token buckets (throttle.c), each kept as the time its
 * debt is paid ("theoretical arrival time", ns of the broker's clock),
 * and its own limits: the broker options, or its thing's (a thing
 * group's or type's, device.c), set at CONNECT and when they change. */
struct broker_throttle {
	uint64_t publish_tat;
	uint64_t bytes_tat;
	uint64_t subscribe_tat;
	uint64_t resume_ms;      /* reading off until then (throttled) */
	uint64_t over_since_ms;  /* held at the publish limit since; 0 not */
	uint64_t cost[BROKER_THROTTLE_RATES]; /* ns per publish, byte,
					 filter; 0: off */
	uint32_t limit[BROKER_THROTTLE_LIMITS]; /* the rates per second and
					 the disconnect-after seconds, 0 off */
};

#define BROKER_DISCONNECT_REASONS 10

struct broker_metrics {
	struct strata_histogram *publish_ack; /* taken -> router's ack */
	uint64_t *disconnects[BROKER_DISCONNECT_REASONS]; /* by AWS's
				     disconnectReason (metrics.c) */
	int64_t *connections[BROKER_LISTENERS];
	uint64_t *connections_total[BROKER_LISTENERS];
	uint64_t *proxy_accepted; /* PROXY headers accepted */
	uint64_t *proxy_refused;  /* connections refused for their header */
	uint64_t *packets_in[16];
	uint64_t *packets_out[16];
	uint64_t *bytes_in;
	uint64_t *bytes_out;
	uint64_t *forwarded[3];
	uint64_t *not_served;     /* publishes a router refused: not its
				     partition now (sent to the owner) */
	uint64_t *delivered[3];
	int64_t *sessions;
	int64_t *subscriptions;
	int64_t *links_up;
	uint64_t *link_errors;
	uint64_t *deliver_duplicates;
	uint64_t *takeovers_remote;
	uint64_t *handoffs_in;
	uint64_t *handoffs_out;
	uint64_t *handoff_timeouts;
	uint64_t *registry_unavailable;
	uint64_t *subacks_deferred;  /* registered by routerlink.c */
	uint64_t *durable_writes;    /* durable.c */
	uint64_t *durable_errors;
	uint64_t *durable_rewrites;
	uint64_t *durable_resumes;
	uint64_t *durable_releases;
	uint64_t *deliver_acks_held; /* DeliverAcks that waited for Redis */
	uint64_t *connacks_held;  /* CONNACKs that waited for a new
				     persistent session's writes */
	uint64_t *share_returned;    /* shared messages given back */
	uint64_t *admin_requests[3]; /* admin API answers: 2xx, 4xx, 5xx */
	uint64_t *console_logins[3]; /* console logins: ok, refused,
					throttled (admin_console.c) */
	uint64_t *auth_refused[BROKER_AUTH_REFUSALS]; /* device.c */
	uint64_t *policy_denied[5];  /* by action: connect, publish,
					subscribe, receive, retain */
	uint64_t *auth_disconnects;  /* live connections closed on a
					certificate's change */
	/* the argument of each strata_broker_redis_connect_failures_total
	 * series: whose and which reason */
	struct broker_redis_failures {
		struct strata_broker *b;
		enum strata_redis_failure why;
	} redis_failures[STRATA_REDIS_FAIL_KINDS];
	uint64_t *authorizer_calls[3]; /* authorizer.c: allow, deny, error */
	uint64_t *authorizer_cache_hits;
	uint64_t *authorizer_disconnects[2]; /* max connect time, refresh
					denied */
	uint64_t *lifecycle_events[STRATA_LIFECYCLE_TYPES]; /* published,
					  by type (events.c) */
	uint64_t *fleet_answers[2];  /* fleet.c: accepted, rejected */
	uint64_t *jitr_registered;   /* jitp.c: certificates registered
					PENDING_ACTIVATION */
	uint64_t *tls_failures[BROKER_TLS_FAILURES]; /* tls.c */
	uint64_t *tls_reloads_ok;
	int64_t *trace_streams;      /* trace: admin streams served here */
	int64_t *traced_clients;     /* client ids this broker traces */
	uint64_t *trace_events;      /* lines published */
	uint64_t *trace_dropped;     /* events over the rate */
	uint64_t *tls_reloads_error;
	uint64_t *ws_upgrades;       /* ws.c: opening requests accepted */
	uint64_t *ws_refused[16];    /* ... refused, by enum
					strata_wsupgrade_refusal */
	uint64_t *ws_frames_in;      /* frames received, control included */
	uint64_t *ws_messages_out;   /* binary messages sent */
	uint64_t *ws_closes[5];      /* ws.c: closes by enum broker_ws_close */
	uint64_t *throttled[BROKER_THROTTLE_REASONS]; /* throttle.c */
};

/* A message on its way to clients: shared by every session it goes to. */
struct broker_msg {
	unsigned refs;
	uint8_t qos;     /* as published */
	bool retain;     /* as published */
	uint32_t topic_len;
	uint32_t payload_len;
	uint32_t props_len;
	uint64_t received_ms; /* for Message Expiry Interval */
	uint64_t topic_hash;  /* strata_hash_bytes(topic), 0 until an
				 outbound alias table needs it */
	char *topic;     /* NUL-terminated, points into data */
	uint8_t *payload;
	uint8_t *props;  /* MQTT 5 property block contents */
	uint8_t data[];
};

/*
 * One outbound QoS 1/2 message of a session.
 * States (qos.c):  QUEUED -> PUBLISHED -(QoS 1: PUBACK)-> freed
 *                            PUBLISHED -(QoS 2: PUBREC)-> RELEASED
 *                            RELEASED -(PUBCOMP)-> freed
 * QUEUED lives in session->queue, the others in session->inflight.
 */
enum broker_out_state { OUT_QUEUED, OUT_PUBLISHED, OUT_RELEASED };

struct broker_out {
	struct strata_list node;
	struct broker_msg *msg;
	char *qid;       /* durable sessions: the entry's name in Redis */
	char *share;     /* a shared subscription's message: its group */
	char *origin;    /* an in-process session's: the publisher's client
			    id (BROKER_ORIGIN_PROPERTY), or NULL */
	uint16_t packet_id;
	uint8_t qos;
	uint8_t state;
	bool retain;
	uint8_t n_sub_ids;
	uint32_t sub_ids[STRATA_MQTT_MAX_SUB_IDS];
};

/* One subscription of one session: in the session's list and in the
 * filter's entry of the local table. */
struct broker_sub {
	struct strata_list session_node;
	struct strata_list filter_node;
	struct broker_session *session;
	struct broker_filter *filter;
	uint8_t options;
	uint32_t sub_id;
	bool member;     /* shared: the routers count it as a member */
};

/* Value of the local subscription table: the subscribers of one filter. */
struct broker_filter {
	struct strata_list subs;
	uint32_t len;
	char name[]; /* NUL-terminated */
};

/* The Will of a connection, copied out of CONNECT. */
struct broker_will {
	uint8_t qos;
	bool retain;
	uint32_t delay;
	struct broker_msg *msg;
};

/* Inbound QoS 2 packet ids waiting for PUBREL (lazy array). */
struct broker_qos2_in {
	uint16_t packet_id;
	bool acked; /* router acked, PUBREC sent */
};

/*
 * Session states (session.c):
 *   ONLINE  - conn != NULL.
 *   OFFLINE - persistent session without a connection: queues QoS 1/2
 *             messages, the expiry timer runs (unless "never").
 *   gone    - freed: clean sessions when their connection closes,
 *             persistent ones on expiry or on a Clean Start.
 * The will-delay timer may run while OFFLINE; a reconnect cancels it.
 * A persistent session is also written through to Redis (durable.c); its
 * dstate says where it stands there.
 */
enum broker_dstate {
	DSTATE_NONE,       /* not in Redis (a clean session) */
	DSTATE_HELD,       /* in Redis, held here, written through */
	DSTATE_LOADING,    /* being taken over from Redis */
	DSTATE_RELEASING,  /* being given to another broker */
};

struct broker_session {
	struct strata_broker *broker;
	struct broker_conn *conn;
	char *client_id;
	size_t client_id_len;
	uint64_t incarnation;   /* tells a session from a later one of the
				   same client id (acks of old publishes) */
	bool persistent;
	uint32_t expiry;        /* seconds, UINT32_MAX = never */
	struct event *timer;    /* expiry, lazily created */
	struct event *will_timer;
	struct broker_will *will; /* pending delayed will */
	struct strata_list subs;
	struct strata_list inflight;
	struct strata_list queue;
	uint32_t n_subs;
	uint32_t n_inflight;
	uint32_t n_queued;
	struct broker_out *enqueuing; /* broker_qos_enqueue's message while
					   it pumps; NULL once dropped */
	uint16_t next_packet_id;
	uint16_t in_pending;   /* inbound QoS 1/2 waiting for a router ack */
	uint32_t n_qos2_in, cap_qos2_in; /* n <= max-inflight */
	struct broker_qos2_in *qos2_in;
	uint32_t fanout_gen;   /* Deliver fan-out marks (publish.c) */
	uint32_t fanout_idx;
	uint64_t epoch;        /* registry epoch (cluster.c), 0 = unknown */
	uint64_t event_version; /* versionNumber of the lifecycle events of
				   its latest connection (events.c): the
				   attached one's until it ends */
	uint8_t dstate;        /* enum broker_dstate */
	bool dirty;            /* a write failed: rewritten whole (durable.c) */
	bool ending;           /* its keys are deleted whole: no per-item
				  writes */
};

/*
 * Connection states (conn.c):
 *   PROXY    - accepted on a PROXY listener, reading the PROXY protocol
 *              header and nothing past it (proxy.c); the connect timeout
 *              runs.  A valid header makes it NEW (TLS listener: the TLS
 *              bufferevent is made only then); anything else closes it.
 *   NEW      - accepted, waiting for CONNECT (connect timeout running).
 *   WAITING  - CONNECT valid, CONNACK held until the session registry
 *              and maybe a hand-off from another broker answer
 *              (cluster.c), or the certificate registry (device.c) or
 *              the custom authorizer (authorizer.c); input is not read.
 *   ACTIVE   - CONNECT accepted; packets are dispatched.
 *   CLOSING  - no more input; output is flushed (bounded by a timeout),
 *              then DEAD.
 *   DEAD     - on the reap list; freed from the reap event, never inside
 *              one of its own callbacks.
 */
enum broker_conn_state { CONN_NEW, CONN_WAITING, CONN_ACTIVE, CONN_CLOSING,
	CONN_DEAD, CONN_PROXY };

struct broker_conn {
	struct strata_list node; /* broker->conns or broker->reap */
	struct strata_list flush_node; /* broker->flush while output waits */
	struct strata_broker *broker;
	struct bufferevent *bev; /* TLS and WebSocket; NULL for plain TCP */
	struct broker_ws *ws;    /* WebSocket state (ws.c), NULL otherwise */
	/* plain TCP transport (conn.c) */
	evutil_socket_t fd;
	struct event *read_ev;
	struct event *write_ev;  /* created when the socket first fills */
	struct event *hangup_ev; /* peer close, only while WAITING */
	struct evbuffer *out;
	uint8_t *in;             /* input not dispatched yet, or NULL */
	uint32_t in_len, in_cap;
	struct strata_timer timer; /* connect, keepalive or flush deadline */
	uint64_t last_input_ms;  /* of the last read (keepalive) */
	struct broker_session *session;
	struct broker_will *will;
	struct broker_pending *pending; /* while WAITING */
	struct broker_connack_hold *hold; /* while WAITING for a new
				    persistent session's writes (connect.c) */
	bool internal;           /* an in-process session (insession.c) */
	uint64_t serial;         /* this broker's count of connections at
				    its making: never reused (fleet.c
				    answers the connection that asked) */
	struct broker_conn_auth *auth; /* registry or authorizer identity
				    (device.c), NULL for plain TCP (unless
				    authorizer-tcp) and tls-auth chain */
	char **aliases;          /* inbound topic aliases, lazy */
	struct strata_topicalias *aliases_out; /* outbound, lazy */
	uint8_t state;
	uint8_t version;
	uint8_t listener;        /* enum broker_listener_kind */
	bool paused;             /* reading stopped by backpressure */
	bool reading;            /* read interest is on */
	bool write_armed;        /* TCP: waiting for the socket to drain */
	bool overflowed;         /* output passed max-output-bytes: closed
				    at the next timer tick, nothing sent */
	bool clean_start;        /* of CONNECT, kept while WAITING */
	bool problem_info;       /* MQTT 5 Request Problem Information */
	bool response_info;      /* MQTT 5 Request Response Information */
	bool detect_open;        /* counted connected by Detect (detect.c) */
	/* lifecycle events (events.c) */
	bool announced;          /* its connected event went out: a
				    disconnected one is owed */
	bool client_closed;      /* ended by its own DISCONNECT */
	uint8_t close_reason;    /* MQTT 5 reason code of a server-side
				    close, noted before it; 0: none */
	uint32_t expiry;         /* Session Expiry asked in CONNECT */
	uint16_t keepalive;
	uint16_t alias_max;      /* what we granted (CONNACK) */
	uint16_t alias_out_max;  /* aliases we may send: min(client's Topic
				    Alias Maximum, topic-alias-out-max) */
	uint16_t receive_max;    /* client's Receive Maximum, outbound */
	uint32_t max_packet;     /* client's Maximum Packet Size, 0 = none */
	uint64_t suback_key;     /* names this connection in deferred
				    SUBACKs (subscribe.c); 0 until the first */
	bool throttled;          /* reading stopped by a rate limit until
				    throttle.resume_ms (throttle.c) */
	bool connect_throttled;  /* accepted over
				    throttle-connect-address-rate: its
				    CONNECT gets 0x9F */
	struct broker_throttle throttle;
	struct broker_devstats stats; /* devstats.c */
	struct broker_trace_conn *trace; /* trace.c: NULL unless traced */
	char peer[64];
};

/* A traced connection's state (trace.c, docs/internals/trace.md). */
struct broker_trace_conn {
	char *client_id;
	size_t client_id_len;
	int64_t until_ms;        /* wall clock: past it, not traced */
	int64_t window_ms;       /* start of the current rate window */
	uint32_t in_window;      /* events written in it */
	uint64_t dropped;        /* over the rate, not written yet */
};

/*
 * A connection waiting for its session (cluster.c), one per client id in
 * b->pending.  States:
 *   REGISTERING - registry script sent, epoch 0.
 *   AWAITING    - TAKEOVER sent to the previous broker; the 2 s timer
 *                 runs; a HANDOFF of `epoch` ends it.
 *   FETCHING    - GET of the handed-off session sent.
 *   resolved    - done: out of the map, freed when no Redis reply that
 *                 points to it is still to come (`calls`).
 * conn is NULL once the connection closed; fwd_node is set when a newer
 * connection elsewhere took the client over while waiting (the outcome
 * is passed on to it).
 */
struct broker_pending {
	struct strata_broker *broker;
	struct broker_conn *conn;
	char *client_id;
	size_t client_id_len;
	uint64_t epoch;
	struct event *timer;
	unsigned calls;
	bool done;
	bool fetching;
	bool wants;               /* the waiting CONNECT has Clean Start 0 */
	bool stored;              /* Redis holds a persistent session of the
				     client (registry answer) */
	char *fwd_node;
	uint64_t fwd_epoch;
	bool fwd_wants;
};

/* A publish forwarded to a router, kept until its PublishAck (QoS 1/2) or
 * until written (QoS 0 while no router was up). */
struct broker_fwd {
	struct strata_list node;  /* unsent list or its link's sent list */
	struct broker_router *router; /* sent on, NULL while unsent */
	uint64_t seq;             /* 0 for QoS 0 */
	char *client_id;          /* publisher (session) to ack, or NULL;
				     points into data */
	char *share_group;        /* Publish.share_group, or NULL; in data */
	uint64_t incarnation;     /* of that session */
	uint16_t packet_id;
	uint32_t partition;
	uint64_t taken_us;        /* QoS 1/2: the loop's time when taken
				     (strata_broker_publish_ack_seconds) */
	struct strata_message msg; /* views into data (topic NUL-ended) */
	uint8_t data[];           /* the message block, then client_id */
};

/*
 * A SUBACK held until routers have applied the routes of its SUBSCRIBE
 * (see the state comment in subscribe.c).  It never points to its
 * connection: the connection is found again by session incarnation and
 * conn->suback_key, so one that left is simply not found.
 */
struct broker_suback {
	struct strata_list node;  /* b->subacks, in arrival order */
	uint64_t incarnation;     /* of the session that subscribed */
	uint64_t conn_key;
	unsigned pending;         /* barrier refs, + 1 while an earlier SUBACK
				     of the same connection waits */
	struct broker_suback *next_of_conn; /* the later SUBACK of the same
				     connection that waits for this one */
	void (*done)(struct strata_broker *, void *); /* a plain wait
				     (broker_routers_wait): called instead
				     of writing a SUBACK */
	void *done_arg;
	uint16_t packet_id;
	uint32_t n_reasons;
	uint32_t n_retained;
	char **retained;          /* filters to ask retained messages for,
				     once the SUBACK is written */
	char *why;                /* Reason String of refused entries, or
				     NULL */
	uint8_t reasons[];
};

/* One wait of a broker_suback for Barrier seq on one router link. */
struct broker_barrier_ref {
	struct strata_list node;  /* router->barriers, seq ascending */
	uint64_t seq;
	struct broker_suback *wait;
};

/* Who published a message the broker forwards: the client to ack. */
struct broker_origin {
	const char *client_id;    /* NUL-terminated: No Local */
	uint64_t incarnation;     /* of its session */
	uint16_t packet_id;       /* QoS 1/2 */
	const char *share_group;  /* a shared subscription's message given
				     back (shares.c), or NULL */
};

/* One partition as this broker sees it (partmap.c: its states). */
struct broker_part {
	struct broker_router *owner;  /* from the map; NULL: none known */
	struct broker_router *old;    /* MOVING: the owner before */
	uint64_t gen;                 /* generation of the map */
	bool moving;                  /* its publishes wait */
	bool leave_sent;              /* PartitionLeave to old written */
	bool leave_done;              /* old answered, or is gone */
	bool joined;                  /* routes + PartitionJoin written */
	bool serving;                 /* owner answered PartitionServing */
};

/* A router known from Redis `strata:routers`. */
struct broker_router {
	struct strata_list node;
	struct strata_broker *broker;
	char *id;
	char *host;
	uint16_t port;
	bool up;
	bool seen;                /* present in the last poll */
	bool resync;              /* a RouteUpdate did not fit: RESET + ADDs
				     again once the link drains */
	uint64_t link_epoch;      /* links down so far: a DeliverAck held for
				     Redis goes out on the link it was for */
	unsigned acks_held;       /* DeliverAcks waiting for Redis */
	struct strata_link *link;
	struct strata_list sent;  /* broker_fwd awaiting ack from it */
	/* Barriers (routerlink.c): seqs are from b->next_barrier, so the
	 * ones waiting are (barrier_acked, barrier_sent]. */
	bool add_pending;         /* RouteUpdate ADD sent since last Barrier */
	bool barrier_unsent;      /* Barrier barrier_sent still to write */
	bool barrier_mark;        /* scratch of broker_routers_mark() */
	uint64_t barrier_sent;
	uint64_t barrier_acked;
	struct strata_list barriers; /* broker_barrier_ref */
};

struct broker_fanout {
	struct broker_session *session;
	uint8_t qos;
	bool retain;
	bool per_sub;  /* more subscription ids than fit: a copy per
			  subscription (publish.c) */
	uint8_t n_sub_ids;
	uint32_t sub_ids[STRATA_MQTT_MAX_SUB_IDS];
};

struct strata_broker {
	struct event_base *base;
	struct broker_config cfg;
	struct strata_metrics *metrics;
	struct strata_metrics_http *http;
	struct broker_metrics m;
	uint64_t throttle_cost[BROKER_THROTTLE_REASONS]; /* ns per connect
				     of a client id, of an address; 0: off
				     (throttle.c; the other rates' costs
				     are each connection's own) */
	struct strata_hashmap *throttle_ids;   /* client id -> its connect
				     bucket (throttle.c), while not full */
	struct strata_hashmap *throttle_addrs; /* source address -> ... */
	struct strata_list devstats_dirty;   /* conns with counts (devstats.c) */
	struct event *devstats_ev;
	struct broker_devstats_consumer devstats_cons[BROKER_DEVSTATS_CONSUMERS];
	unsigned n_devstats_cons;
	struct broker_meter *meter;          /* meter.c, NULL: off */
	struct strata_redis *redis;
	struct strata_redis *nodesub;        /* strata:node:<id> subscriber */
	struct event *lease_timer;
	const char *role;         /* "broker", or the embedding daemon's
				     ("shadowd", "rulesd"): its node info */
	long long started;        /* s since the epoch, for the node info */
	struct strata_hashmap *pending;      /* client id -> broker_pending */
	struct event *poll_timer;
	struct event *reap_ev;
	struct event *flush_ev;  /* end of loop turn: write conns' output */
	struct strata_timerwheel timers;     /* connection deadlines */
	struct event *tick_ev;               /* advances timers */
	uint8_t *read_buf;                   /* TCP reads land here */
	struct strata_list flush; /* plain TCP conns with output to write */
	struct event *sigterm_ev, *sigint_ev, *sighup_ev, *stop_timer;
	struct evconnlistener *listeners[BROKER_LISTENERS];
	SSL_CTX *admin_ssl_ctx; /* of the admin API's HTTPS connections
				   (tls.c), NULL without admin-tls */
	SSL_CTX *ssl_ctx;   /* of new TLS connections (tls.c); replaced by a
			       reload, open connections keep their own */
	struct broker_admin *admin;          /* admin.c */
	struct broker_devices *devices;      /* device.c */
	struct broker_authorizer *authorizer; /* authorizer.c, NULL: none */
	struct broker_fleet *fleet;          /* fleet.c, made at the first
					        request */
	struct broker_detect *detect;        /* detect.c, NULL: not started */
	struct broker_trace *trace;          /* trace.c, NULL: no Redis */
	struct strata_list conns;
	struct strata_list reap;
	int64_t n_conns;
	uint32_t n_paused;
	struct strata_hashmap *sessions;     /* client id -> broker_session */
	struct strata_u64map by_incarnation; /* incarnation -> session */
	struct strata_subtree *subs;         /* filter -> broker_filter */
	struct strata_list routers;
	struct broker_part parts[STRATA_PARTITIONS];
	unsigned parts_moving;
	uint64_t partver;                    /* last strata:{part}:ver seen */
	unsigned poll_count;                 /* fast polls since a full read */
	bool map_stale;                      /* a router refused a publish:
						read the whole map again */
	bool ver_checking;
	uint64_t boot;                       /* random, sent in Hello */
	struct strata_u64map dedup;          /* QoS 2 Delivers taken */
	struct strata_list dedup_fifo;
	struct strata_list unsent;           /* broker_fwd with no router */
	size_t unsent_bytes;
	size_t fwd_bytes;                    /* of every broker_fwd */
	struct strata_u64map fwd_by_seq;     /* seq -> broker_fwd (QoS 1/2) */
	uint64_t next_seq;
	struct strata_list subacks;          /* broker_suback waiting */
	uint64_t next_barrier;
	uint64_t next_suback_key;
	bool polling;
	bool scheme_ok;          /* the cluster's partition scheme is ours */
	bool scheme_checking;
	bool stopping;
	int exit_status;         /* of the process, set by broker_exit() */
	/* A QoS 1/2 message for a session dropped because the session's
	 * queue is full (max-queued): an embedding daemon may answer it
	 * (shadowd: 429 to the requester).  NULL: only counted. */
	void (*queue_full_cb)(void *arg, const struct broker_msg *m);
	void *queue_full_arg;
	/* rate limits of log lines: refusals by reason (0x100 + n for the
	 * ones without a code), invalid link messages */
	struct strata_log_limit refuse_log[0x200];
	struct strata_log_limit link_error_log;
	struct strata_log_limit tls_failure_log[BROKER_TLS_FAILURES];
	struct strata_log_limit tls_verify_log;
	/* Reason String of the refusal a handler is returning (broker_why),
	 * "" when it set none; dispatch.c sends it and clears it */
	char why[256];
	/* the whole frame of the packet being handled (dispatch.c), for a
	 * handler that must keep it (authorizer.c holds a CONNECT) */
	const uint8_t *cur_frame;
	size_t cur_frame_len;
	uint32_t next_assigned_id;
	/* durable.c */
	uint64_t durable_seq;     /* Redis writes sent so far */
	uint64_t next_qid;        /* names of entries without an origin */
	unsigned n_dirty;         /* sessions to rewrite */
	struct event *durable_tick;
	const Strata__Deliver *cur_deliver; /* fanned out now: names the
				     queue entries it makes */
	const char *cur_origin;   /* the publisher's client id of the message
				     written now to an in-process session */
	const char *cur_share;    /* a shared subscription's Deliver: its
				     group, kept with the messages queued */
	uint64_t next_incarnation;
	uint64_t next_conn_serial;  /* broker_conn.serial */
	/* reusable buffers of the hot path */
	uint8_t *scratch;
	size_t scratch_cap;
	char *topic_buf;
	size_t topic_cap;
	struct broker_fanout *fanout;
	uint32_t n_fanout, cap_fanout;
	uint32_t fanout_gen;
};

/* ---- config.c ---- */
/* Load the options (defaults, file, STRATA_* environment, argv) into cfg
 * and check them.  Returns 0; 1 after --help (printed to help_out); or
 * STRATA_EINVAL with a message in err.  cfg is freed with
 * broker_config_free() in every case. */
int broker_config_load(struct broker_config *cfg, int argc, char **argv,
    FILE *help_out, char *err, size_t errlen);
void broker_config_free(struct broker_config *cfg);

/* ---- broker.c ---- */
/* Build the context on base, cfg already loaded (b zeroed otherwise):
 * containers, metrics, connection machinery.  Nothing listens yet. */
int broker_init(struct strata_broker *b, struct event_base *base);
/* Start the services: listeners (when listen), /metrics, router links
 * and the cluster machinery.  broker_fini() is needed after a failure. */
int broker_start(struct strata_broker *b, bool listen);
/* Free everything the context owns (not the event base, not cfg). */
void broker_fini(struct strata_broker *b);
/* A Redis client for this broker: the fake of cfg.redis_fake, or the
 * server at redis-host:redis-port with the redis-timeout deadline. */
struct strata_redis *broker_redis_new(struct strata_broker *b,
    void (*on_up)(struct strata_redis *, void *), void *arg);
/* Leave the loop; the process exits with status. */
void broker_exit(struct strata_broker *b, int status);

/* ---- metrics.c ---- */
void broker_metrics_init(struct strata_broker *b);
/* Log a refusal and count it: reason is an MQTT 5 reason code (or 0x100 +
 * n for refusals that have none), what says what was refused. */
void broker_refuse(struct strata_broker *b, struct broker_conn *c,
    unsigned reason, const char *what);
void broker_drop(struct strata_broker *b, const char *reason);
/* The drop reason of a broker_publish_write() failure. */
const char *broker_drop_reason(int rc);
/* A message from a router that breaks the link's rules: counted, logged
 * (rate-limited), dropped. */
void broker_link_error(struct strata_broker *b, const char *what);
/* Is the topic (or filter) deeper than max-topic-depth?  "$aws/..." is
 * exempt, as on the managed service. */
bool broker_topic_too_deep(const struct broker_config *cfg, const uint8_t *p,
    size_t len);
uint64_t broker_now_ms(void);
uint8_t *broker_scratch(struct strata_broker *b, size_t n);

/* ---- certs.c ---- */
#define BROKER_CERT_ID_LEN 64
/* The certificate id: SHA-256 of the DER, lower-case hex. */
int broker_cert_id(X509 *x, char out[BROKER_CERT_ID_LEN + 1]);
bool broker_cert_id_valid(const char *id);
/* The first certificate of a PEM text, or NULL. */
X509 *broker_cert_from_pem(const char *pem, size_t len);
char *broker_cert_to_pem(X509 *x);      /* malloc'd, NULL on failure */
int64_t broker_cert_time(const ASN1_TIME *t); /* seconds, 0: none */
/* x's notBefore and notAfter as decimal seconds (the registry's fields). */
void broker_cert_validity(X509 *x, char not_before[24], char not_after[24]);
/* A new EC P-256 key pair and its certificate signed by ca. */
struct broker_issued {
	X509 *cert;
	char *cert_pem, *public_pem, *private_pem;
	char id[BROKER_CERT_ID_LEN + 1];
};
int broker_cert_issue(X509 *ca, EVP_PKEY *ca_key, long days,
    struct broker_issued *out);
void broker_issued_free(struct broker_issued *is);
/* The certificate of a PEM certificate signing request (its subject and
 * key, the signature checked), signed by ca; NULL with *why set. */
X509 *broker_cert_issue_csr(X509 *ca, EVP_PKEY *ca_key, long days,
    const char *csr_pem, size_t len, const char **why);
/* A field as policy variables name it after "iot:Certificate."
 * ("Subject.CommonName", "Issuer.Organization",
 * "SubjectAlternativeName.DNSName", ...) into buf; NULL when absent. */
const char *broker_cert_field(X509 *x, const char *name, char *buf,
    size_t len);

/* ---- device.c ---- */
/* The TLS verify callback of tls-auth registry: issuers outside tls-ca
 * and an expired leaf pass (the registry decides at CONNECT). */
int broker_device_verify_cb(int ok, X509_STORE_CTX *ctx);
/* Subscribe to registry changes (tls-auth registry only). */
int broker_devices_start(struct strata_broker *b);
void broker_devices_free(struct strata_broker *b);
/* A TLS connection's first bytes: look its certificate up.  True when
 * the connection went WAITING for it (its input is dispatched after). */
bool broker_device_conn_start(struct broker_conn *c);
void broker_device_conn_closed(struct broker_conn *c);
/* At CONNECT: 0, STRATA_AGAIN when c went WAITING for the custom
 * authorizer (the CONNECT is handled again once it answers), or the
 * refusal (0x86 certificate or credentials refused, 0x87 iot:Connect
 * denied), broker_why() set. */
int broker_device_check_connect(struct broker_conn *c,
    const struct strata_mqtt_packet *p);
/* The authorizer gave c new policies (a refresh): bind them; iot:Connect
 * denied now closes c (MQTT 5: DISCONNECT 0x87). */
void broker_device_authorizer_changed(struct broker_conn *c);
/* May c do action (STRATA_IOT_*) on the topic, filter or client id?
 * Always for connections without a registry identity; a denial is
 * counted. */
bool broker_device_allowed(struct broker_conn *c, int action,
    const char *name, size_t len);
/* The thing of c's connection, or NULL. */
const char *broker_device_thing(const struct broker_conn *c);
/* The registry certificate id of c's connection, or NULL (plain TCP,
 * tls-auth chain). */
const char *broker_device_cert_id(const struct broker_conn *c);
/* The verdict on one HTTPS request (broker_device_request). */
enum broker_device_verdict {
	BROKER_DEVICE_ALLOWED,
	BROKER_DEVICE_DENIED,      /* the policies do not allow it */
	BROKER_DEVICE_REFUSED,     /* the certificate is (unknown, INACTIVE,
				      REVOKED, expired, CA not ACTIVE) */
	BROKER_DEVICE_UNAVAILABLE, /* the registry (Redis) did not answer */
};
/* why: one English phrase ("" when allowed), valid during the call. */
typedef void (*broker_device_decided_cb)(void *arg, int verdict,
    const char *why);
/* May the holder of certificate x509 (a TLS client of another API than
 * MQTT: shadowd's HTTPS listener) do action (one STRATA_IOT_* bit) on
 * resource (a full ARN)?  The certificate is looked up in the registry
 * as a connection's is (sharing its entry) and its policies bound to
 * its certificate variables only (no client id, so no thing variable,
 * as AWS IoT does for HTTP).  decided is called exactly once, maybe
 * before this returns; x509 is referenced, not taken. */
void broker_device_request(struct strata_broker *b, X509 *x509, int action,
    const char *resource, broker_device_decided_cb decided, void *arg);
/* jitp.c is done with the certificate id: provisioned or not. */
void broker_device_jitp_done(struct strata_broker *b, const char *id,
    bool provisioned);

/* ---- authwire.c ---- */
#define BROKER_AUTHWIRE_KEY_LEN 32       /* SHA-256 */
#define BROKER_AUTHWIRE_MAX_POLICIES 10  /* AWS's limits */
#define BROKER_AUTHWIRE_MAX_SECONDS 86400
#define BROKER_AUTHWIRE_PRINCIPAL_MAX 128
/* What the request to the custom authorizer tells of one connection. */
struct broker_authwire_request {
	const struct strata_mqtt_connect *connect;
	const char *token;         /* NULL: none */
	bool tls;
	const char *server_name;   /* TLS SNI, NULL: none */
	const char *connection_id; /* a UUID */
	const char *source_ip;     /* NULL: unknown */
	const json_t *http;        /* WebSocket: protocolData.http (headers,
				      queryString), NULL: none */
};
/* The request's JSON text (malloc'd). */
char *broker_authwire_request(const struct broker_authwire_request *r);
/* The value of query parameter key in the user name ("name?key=v&..."),
 * URL-decoded and malloc'd; NULL when there is none. */
char *broker_authwire_token(const struct strata_mqtt_connect *cn,
    const char *key);
/* The cache key of (user name, SHA-256 of the password, token). */
void broker_authwire_key(const struct strata_mqtt_connect *cn,
    const char *token, uint8_t out[BROKER_AUTHWIRE_KEY_LEN]);
/* An answer that authenticates: reference counted (the cache and every
 * connection given it hold one); the policies are compiled. */
struct broker_authwire_answer {
	unsigned refs;
	long refresh_s;            /* refreshAfterInSeconds, 0: none */
	long disconnect_s;         /* disconnectAfterInSeconds */
	size_t n_pols;
	struct strata_policy *pols[BROKER_AUTHWIRE_MAX_POLICIES];
	char principal[BROKER_AUTHWIRE_PRINCIPAL_MAX + 1];
};
enum broker_authwire_result { BROKER_AUTHWIRE_ALLOW, BROKER_AUTHWIRE_DENY,
	BROKER_AUTHWIRE_ERROR };
/* Read an answer's body: ALLOW with *out (refs 1, the caller's), DENY,
 * or ERROR; why says what was refused or wrong. */
enum broker_authwire_result broker_authwire_answer(const char *body,
    size_t len, struct broker_authwire_answer **out, char *why,
    size_t whylen);
void broker_authwire_answer_unref(struct broker_authwire_answer *a);

/* ---- authorizer.c ---- */
/* One connection's dealings with the custom authorizer (opaque). */
struct broker_authz_conn;
/* Is url a usable authorizer-url ("" or http://host[:port][/path])?
 * err says why not. */
int broker_authorizer_check_url(const char *url, char *err, size_t errlen);
/* With authorizer-url: make the authorizer (b->authorizer). */
int broker_authorizer_start(struct strata_broker *b);
/* Exit, after the connections: cancel the calls, free the cache. */
void broker_authorizer_free(struct strata_broker *b);
/* Does the CONNECT cn of plain TCP connection c go to the authorizer
 * (authorizer-tcp, and cn has a user name)? */
bool broker_authorizer_wants_tcp(const struct broker_conn *c,
    const struct strata_mqtt_connect *cn);
/*
 * At the CONNECT p of a connection the authorizer decides (*st is made
 * on the first call; device.c frees it with broker_authorizer_conn_free):
 * 0 when an answer (cached or just received) authenticates it, its
 * policies then given by broker_authorizer_policies(); STRATA_AGAIN when
 * c went WAITING for the answer: the CONNECT frame is kept and
 * dispatched again when the answer authenticates it, a refusal (or no
 * answer) gets CONNACK 0x86 and the close; or a refusal at once (0x86,
 * broker_why() set).
 */
int broker_authorizer_connect(struct broker_conn *c,
    const struct strata_mqtt_packet *p, struct broker_authz_conn **st);
/* The compiled policies of st's answer into out[0..max); their count.
 * They live as long as st keeps that answer. */
size_t broker_authorizer_policies(const struct broker_authz_conn *st,
    struct strata_policy **out, size_t max);
/* st's CONNECT passed iot:Connect: start its disconnectAfterInSeconds
 * and refreshAfterInSeconds timers. */
void broker_authorizer_connected(struct broker_authz_conn *st);
void broker_authorizer_conn_free(struct broker_authz_conn *st);

/* ---- jitp.c ---- */
/* Provision the unknown certificate x509 (id) from its CA's template,
 * then broker_device_jitp_done(). */
void broker_jitp_start(struct strata_broker *b, const char *id, X509 *x509);
/* Is tmpl a provisioning template jitp.c can apply?  err says why not. */
bool broker_jitp_template_valid(const json_t *tmpl, char *err,
    size_t errlen);
/* What tmpl provisions for certificate x (id) as compact JSON {thing,
 * type, attributes, status, policy, document, groups} (malloc'd), or NULL with
 * err set; for tests and the fuzz target. */
char *broker_jitp_evaluate(const json_t *tmpl, X509 *x, const char *id,
    char *err, size_t errlen);
/* ---- admin_prov.c ---- */
/* arn:aws:iot:<region>:<account>:provisioningtemplate/<name> */
void broker_prov_template_arn(const struct strata_broker *b,
    const char *name, char *out, size_t len);
/* A template name: [0-9A-Za-z_-]{1,36}. */
bool broker_prov_template_name_valid(const char *s);
/* A pre-provisioning hook's targetArn: http(s)://host[:port][/path]. */
bool broker_prov_hook_url_valid(const char *url);

/* ---- fleet.c ---- */
/* A topic of the fleet provisioning API ($aws/certificates/...,
 * $aws/provisioning-templates/...): served here, never routed. */
bool broker_fleet_topic(const uint8_t *t, size_t len);
/* One of its answer topics (.../accepted, .../rejected): no client may
 * publish there. */
bool broker_fleet_answer_topic(const uint8_t *t, size_t len);
/* Serve c's PUBLISH on an API topic (iot:Publish allowed, acknowledged);
 * the answer goes to c's session alone. */
void broker_fleet_handle(struct broker_conn *c, struct strata_bytes topic,
    struct strata_bytes payload);
void broker_fleet_free(struct strata_broker *b);

/* ---- provision.c ---- */
struct strata_provtemplate_plan;
/* What to apply: a plan for one certificate. */
struct broker_provision {
	const struct strata_provtemplate_plan *plan;
	X509 *x509;               /* the certificate (its dates) */
	const char *cert_id;
	const char *pem;          /* stored when the certificate is new */
	const char *ca_id;        /* its CA, stored when it is new */
	const char *token_key;    /* fleet: the ownership token's key, which
				     the script checks and deletes; NULL */
	const char *claim_id;     /* fleet: the claim certificate's id */
};
/* Set the pseudo parameters of certificate x (id) in params:
 * AWS::IoT::Certificate::Id, ::CommonName, ... ("" when absent). */
void broker_provision_params(json_t *params, X509 *x, const char *id);
/* Apply pv in one script; done gets its reply (an error "<Kind> <msg>":
 * Token, NotFound, Invalid). */
void broker_provision_apply(struct strata_broker *b,
    const struct broker_provision *pv, strata_redis_cb done, void *arg);

/* The registry key of a record: "strata:<kind>:{<name>}" (names are at
 * most 256 bytes). */
#define BROKER_REGISTRY_KEY_MAX 320
void broker_registry_key(char out[BROKER_REGISTRY_KEY_MAX], const char *kind,
    const char *name);
/* A thing, thing type or policy name: [a-zA-Z0-9:_-]+, 1..128. */
bool broker_registry_name_valid(const char *s);
/* "strata:ca-subject:{<hash>}" of x's issuer (or subject) name. */
void broker_cert_issuer_key(X509 *x, bool issuer, char *out, size_t len);

/* ---- admin.c ---- */
/* Load the issuing CA and, with admin-port, listen.  After the TLS
 * listeners (admin-tls uses their context). */
int broker_admin_start(struct strata_broker *b);
void broker_admin_free(struct strata_broker *b);
/* The id of registry-ca-cert, "-" without one. */
const char *broker_admin_ca_id(const struct strata_broker *b);
/* Another process's registry-ca-cert, certificate only (shadowd judges
 * the certificates it issued, and signs none): 0 or STRATA_EINVAL
 * (logged). */
int broker_admin_registry_ca(struct strata_broker *b, const char *cert);
/*
 * Admin identities on another HTTP API of the process (shadowd's): the
 * token file and bootstrap key id of the admin API, without serving it.
 */
int broker_admin_identities(struct strata_broker *b, const char *token_file,
    const char *boot_id);
struct evhttp_request;
/*
 * Authenticate req's caller as the admin API does and check its admin
 * policies for action on the thing's ARN (op names the operation in the
 * audit line).  allowed(call, ctx) runs with the call once allowed; the
 * service answers req itself and then ends the call with
 * broker_admin_guard_done (the audit line).  Refused (401, 403, 503) or
 * the client gone: the guard answered or dropped req, and allowed runs
 * with call NULL (free what ctx holds, do not touch req).
 */
struct admin_call;
struct evhttp_request;
typedef void (*broker_admin_allowed_cb)(struct admin_call *call, void *ctx);
void broker_admin_guard(struct strata_broker *b, struct evhttp_request *req,
    const char *op, const char *action, const char *thing,
    broker_admin_allowed_cb allowed, void *ctx);
/* The same for any resource: topic/<topic> (topic set), thing/<thing>
 * (thing set) or "*" (neither); action2, when set, must be allowed too
 * (iot:RetainPublish beside iot:Publish). */
struct broker_admin_guarded {
	const char *op, *action, *action2;
	const char *thing, *topic;     /* at most 256 bytes */
};
void broker_admin_guard_resource(struct strata_broker *b,
    struct evhttp_request *req, const struct broker_admin_guarded *g,
    broker_admin_allowed_cb allowed, void *ctx);
void broker_admin_guard_done(struct admin_call *call, int status,
    const char *error_type);

/* ---- listener.c ---- */
int broker_listeners_start(struct strata_broker *b);
void broker_listeners_stop(struct strata_broker *b);
/* Is any listener open (health)? */
bool broker_listeners_open(const struct strata_broker *b);
/* The server-side TLS bufferevent (handshake pending) of an accepted
 * socket; it owns fd.  NULL when it cannot be made: fd is closed. */
struct bufferevent *broker_listeners_tls_wrap(struct strata_broker *b,
    evutil_socket_t fd);

/* ---- ws.c ---- */
/* Why a WebSocket connection ended below MQTT (strata_broker_ws_closes_
 * total{reason}). */
enum broker_ws_close {
	BROKER_WS_CLOSE_CLIENT,   /* the client's close frame */
	BROKER_WS_CLOSE_PROTOCOL, /* unmasked, reserved bits, bad opcode,
				     bad continuation (1002) */
	BROKER_WS_CLOSE_TOO_BIG,  /* message over ws-max-message (1009) */
	BROKER_WS_CLOSE_TEXT,     /* a text frame: MQTT is binary (1003) */
	BROKER_WS_CLOSE_OTHER,    /* bad UTF-8 in a close reason, ... */
	BROKER_WS_CLOSES
};
/* A WebSocket connection's state, before the first byte is read. */
struct broker_ws *broker_ws_new(void);
void broker_ws_free(struct broker_ws *ws);
void broker_ws_metrics_init(struct strata_broker *b);
/* Turn what arrived on c's bufferevent into MQTT bytes: the opening
 * request first (answered 101, or 400 and closed), then frames (pings
 * answered, a close or a bad frame closes c).  0 when MQTT bytes may be
 * dispatched from broker_ws_input(c), else nonzero. */
int broker_ws_read(struct broker_conn *c);
/* The MQTT bytes received and not dispatched yet. */
struct evbuffer *broker_ws_input(struct broker_conn *c);
/* Where MQTT packets to send are written; broker_ws_flush frames them. */
struct evbuffer *broker_ws_output(struct broker_conn *c);
/* Frame what was written to broker_ws_output as one binary message. */
void broker_ws_flush(struct broker_conn *c);
/* c is closing: flush, then a close frame (1000) if none went yet. */
void broker_ws_closing(struct broker_conn *c);
/* For the custom authorizer: the token the opening request carried (in
 * the header or query parameter named authorizer-token-key), and
 * protocolData.http; NULL when none. */
const char *broker_ws_token(const struct broker_conn *c);
const json_t *broker_ws_http(const struct broker_conn *c);
/* The authorizer's request is made: free the token and headers. */
void broker_ws_auth_taken(struct broker_conn *c);

/* ---- tls.c ---- */
/* Is c's transport TLS (tls-port, proxy-tls-port, wss-port)? */
bool broker_conn_is_tls(const struct broker_conn *c);
/* c's SSL, or NULL (plain, or a stand-in bufferevent in fuzz targets). */
SSL *broker_conn_ssl(const struct broker_conn *c);
/* A wss-port connection's TLS: ALPN "http/1.1" is its protocol. */
void broker_tls_mark_websocket(struct bufferevent *bev);
/* The TLS options that need no file, when a TLS listener is on: tls-cert
 * and tls-key set, tls-ca set while client certificates are required and
 * with tls-crl, cipher lists and groups OpenSSL accepts.  Returns 0 or
 * STRATA_EINVAL with a message in err. */
int broker_tls_check_config(const struct broker_config *cfg, char *err,
    size_t errlen);
/* Build b->ssl_ctx from the files (start-up).  0, or STRATA_EINVAL
 * (logged, naming the option and file). */
int broker_tls_start(struct strata_broker *b);
/* Build b->admin_ssl_ctx (admin-tls): no client certificate requested,
 * admin-tls-cert / admin-tls-key or tls-cert / tls-key.  0, or
 * STRATA_EINVAL (logged). */
int broker_tls_admin_start(struct strata_broker *b);
/* SIGHUP: build a new context from the same files; on success it serves
 * the connections accepted from now on and open ones keep theirs; on
 * failure (logged) the old one stays.  Counted in tls_reloads_total. */
int broker_tls_reload(struct strata_broker *b);
void broker_tls_metrics_init(struct strata_broker *b);
/* Has the TLS handshake on bev finished (false for a bufferevent that
 * is not OpenSSL's)? */
bool broker_tls_established(struct bufferevent *bev);
/* bev is about to be freed: keep its TLS session resumable when its
 * handshake had completed (a no-op for other bufferevents). */
void broker_tls_closing(struct bufferevent *bev);
/* The handshake on bev failed: count it by reason and log it (rate
 * limited per reason). */
void broker_tls_handshake_failed(struct strata_broker *b,
    struct bufferevent *bev, const char *peer);

/* ---- embed.c ---- */
/* The node options of a daemon embedding the core (its
 * STRATA_CONFIG_NODE_OPTIONS fields, BROKER_EMBED_NODE fills them). */
struct broker_embed {
	const char *prog;
	const char *node_id, *bind, *redis_host;
	long redis_port, redis_timeout;
	const char *redis_sentinels, *redis_master_name;
	long redis_wait_replicas, redis_wait_timeout;
	const char *redis_user, *redis_password_file;
	const char *redis_sentinel_user, *redis_sentinel_password_file;
	bool redis_tls;
	const char *redis_tls_ca, *redis_tls_cert, *redis_tls_key;
	const char *cluster_secret_file;
	long partition_levels;
	const char *log_level;
	long max_inflight, max_queued;  /* the internal session's window and
					   queue */
};
#define BROKER_EMBED_NODE(name, c) {                                   \
	.prog = (name), .node_id = (c)->node_id, .bind = (c)->bind,         \
	.redis_host = (c)->redis_host, .redis_port = (c)->redis_port,       \
	.redis_timeout = (c)->redis_timeout,                                \
	.redis_sentinels = (c)->redis_sentinels,                            \
	.redis_master_name = (c)->redis_master_name,                        \
	.redis_wait_replicas = (c)->redis_wait_replicas,                    \
	.redis_wait_timeout = (c)->redis_wait_timeout,                      \
	.redis_user = (c)->redis_user,                                      \
	.redis_password_file = (c)->redis_password_file,                    \
	.redis_sentinel_user = (c)->redis_sentinel_user,                    \
	.redis_sentinel_password_file = (c)->redis_sentinel_password_file,  \
	.redis_tls = (c)->redis_tls, .redis_tls_ca = (c)->redis_tls_ca,     \
	.redis_tls_cert = (c)->redis_tls_cert,                              \
	.redis_tls_key = (c)->redis_tls_key,                                \
	.cluster_secret_file = (c)->cluster_secret_file,                    \
	.partition_levels = (c)->partition_levels,                          \
	.log_level = (c)->log_level, .max_inflight = (c)->max_inflight,     \
	.max_queued = (c)->max_queued }
/* Load bc from e and the pairs extra[0..n_extra) ("--option", value; an
 * empty or NULL value is left out): 0, or the broker parser's error
 * (printed to stderr with prog). */
int broker_config_embedded(struct broker_config *bc,
    const struct broker_embed *e, const char *const *extra, size_t n_extra);

/* SIGTERM/SIGINT: stop(arg) (the daemon closes what is its own), then
 * the router links close and the loop ends within 2 s; SIGHUP:
 * hangup(arg) when given.  broker_embed_fini frees the events. */
void broker_embed_signals(struct strata_broker *b, void (*stop)(void *arg),
    void (*hangup)(void *arg), void *arg);
void broker_embed_fini(struct strata_broker *b);
/* A daemon built on the core, from its parsed options to its exit. */
struct broker_embed_daemon {
	const char *comp;    /* log component */
	/* the core's configuration from the daemon's options cfg */
	int (*core_config)(const void *cfg, struct broker_config *bc);
	/* broker_init, broker_start and the daemon's own parts; non-zero:
	 * start-up failed (exit status 1) */
	int (*start)(void *daemon, const void *cfg, struct event_base *base);
	/* free the daemon's parts (the core still exists; b->stopping) */
	void (*teardown)(void *daemon);
};
/* Make the core (*bp while it lives), start, run the loop, tear down;
 * the exit status: 0, 1 (start-up failed), 2 (configuration error) or
 * the core's exit_status. */
int broker_embed_run(const struct broker_embed_daemon *d, const void *cfg,
    void *daemon, struct strata_broker **bp);

/* The User Property naming the publisher's client id on the messages the
 * core delivers to an in-process session (rulesd's clientid()); no other
 * client ever sees it. */
#define BROKER_ORIGIN_PROPERTY "$strata/clientid"

/* ---- insession.c ---- */
/* An in-process MQTT 5 session of the core (shadowd's, rulesd's). */
struct broker_insession;
struct broker_insession_ops {
	const char *comp;       /* log component, metric prefix */
	/* CONNACK 0: subscribe here (after every new session) */
	void (*up)(void *arg);
	/* a SUBACK: its packet id and reason codes (> 2: refused) */
	void (*suback)(void *arg, uint16_t packet_id, const uint8_t *reasons,
	    size_t n);
	/* a PUBLISH (views into the input: copy what is kept); a QoS 1 one
	 * is acknowledged by broker_insession_ack(generation, packet id) */
	void (*message)(void *arg, const struct strata_mqtt_packet *p,
	    unsigned generation);
	/* the core closed the session; a new one starts in a second */
	void (*down)(void *arg);
};
/* Start one (it connects once Redis is up, and again after a close). */
struct broker_insession *broker_insession_start(struct strata_broker *b,
    const char *client_id, uint16_t receive_max,
    const struct broker_insession_ops *ops, void *arg);
void broker_insession_free(struct broker_insession *s);
bool broker_insession_up(const struct broker_insession *s);
/* SUBSCRIBE the n filters at QoS 1 with subscription identifier sub_id
 * (0: none); returns its packet id (the SUBACK's), 0 when not up. */
uint16_t broker_insession_subscribe(struct broker_insession *s,
    const char *const *filters, size_t n, uint32_t sub_id);
void broker_insession_unsubscribe(struct broker_insession *s,
    const char *filter);
/* The end of a QoS 1 publish: reason is its PUBACK's reason code (0,
 * 0x10 no matching subscribers, >= 0x80 refused), or -1 when it was
 * dropped (queue full, the session closed before its PUBACK, or
 * broker_insession_free). */
typedef void (*broker_insession_done_cb)(void *arg, int reason);
/* A publish: copied; QoS 1 ones beyond the core's Receive Maximum wait
 * (bounded, then dropped and counted); QoS 0 while not up is dropped. */
struct broker_insession_msg {
	const char *topic;
	const uint8_t *payload;
	size_t len;
	int qos;
	bool json;              /* Payload Format Indicator 1 */
	bool retain;
	const struct strata_mqtt_props *props; /* MQTT 5 properties (json
					   is then ignored), or NULL */
	broker_insession_done_cb done;  /* QoS 1: called exactly once (maybe
					   before publish returns), or NULL */
	void *done_arg;
};
void broker_insession_publish(struct broker_insession *s,
    const struct broker_insession_msg *m);
/* Acknowledge the QoS 1 message packet_id of session generation (a
 * message of an older session, or QoS 0: nothing). */
void broker_insession_ack(struct broker_insession *s, unsigned generation,
    uint16_t packet_id);

/* ---- conn.c ---- */
/* Set up the connection machinery (timer wheel, read buffer). */
int broker_conns_start(struct strata_broker *b);
/* A new client connection: bev is its TLS bufferevent (which owns fd), or
 * NULL for plain TCP and for both PROXY listeners (the connection owns
 * fd; a PROXY connection starts in state PROXY). */
struct broker_conn *broker_conn_new(struct strata_broker *b,
    evutil_socket_t fd, struct bufferevent *bev,
    enum broker_listener_kind kind, const struct sockaddr *sa);
/* The PROXY header of c was consumed (proxy.c): c becomes NEW with peer
 * as its address (NULL: the socket's own stays), on a TLS bufferevent
 * for the PROXY TLS listener.  Returns false when the TLS bufferevent
 * could not be made (c is closed). */
bool broker_conn_proxied(struct broker_conn *c, const struct sockaddr *peer);
/* Encode pkt and queue it for writing (no-op when the connection is
 * closing or dead).  Returns 0 or STRATA_ENOSPC when the packet exceeds
 * the client's Maximum Packet Size (nothing is written). */
int broker_conn_send(struct broker_conn *c,
    const struct strata_mqtt_packet *p);
/* Bytes queued to the client and not written yet. */
size_t broker_conn_output_len(struct broker_conn *c);
/* Stop reading, flush what is queued (bounded), then free.  Safe anywhere:
 * the memory is released from the reap event.  with_will: the close is
 * abrupt and the will (if any) is published. */
void broker_conn_close(struct broker_conn *c, bool with_will);

/* ---- trace.c: the client trace (docs/internals/trace.md) ---- */
int broker_trace_start(struct strata_broker *b);
void broker_trace_free(struct strata_broker *b);
/* A CONNECT decoded: trace the connection if its client id is. */
void broker_trace_connect(struct broker_conn *c,
    const struct strata_mqtt_connect *cn);
/* A packet of a traced connection (c->trace set), in or out. */
void broker_trace_packet(struct broker_conn *c,
    const struct strata_mqtt_packet *p, bool out);
/* The connection closes: its disconnect line, then no more trace. */
void broker_trace_closed(struct broker_conn *c);
/* MQTT 5 DISCONNECT with reason (and why as its Reason String, may be
 * NULL), then close; 3.1.1: close.  The will is published unless the
 * reason is a take-over or the shutdown. */
void broker_conn_disconnect(struct broker_conn *c, uint8_t reason,
    const char *why);
void broker_conn_set_keepalive(struct broker_conn *c, uint16_t seconds);
/* c's state changed: read or stop reading to match.  Going WAITING (from
 * c's own dispatch) only stops reading; going ACTIVE again (from outside
 * any dispatch of c) also dispatches the input held meanwhile. */
void broker_conn_input_changed(struct broker_conn *c);
void broker_conns_reap(struct strata_broker *b);
/* Exit: free every connection and the connection machinery. */
void broker_conns_free_all(struct strata_broker *b);
/* Backpressure: stop reading a publisher while a router link is full;
 * resume every paused connection when links drain. */
void broker_conn_pause(struct broker_conn *c);
void broker_conns_resume(struct strata_broker *b);
/* Rate limit: stop reading c (and dispatching what it holds) until
 * until_ms; the connection's timer resumes it (throttle.c). */
void broker_conn_throttle(struct broker_conn *c, uint64_t until_ms);

/* ---- detect.c: Device Defender Detect (docs/internals/detect.md) ---- */
/* Register the devstats consumer and start the tick (before
 * broker_devstats_start). */
int broker_detect_start(struct strata_broker *b);
void broker_detect_free(struct strata_broker *b);
/* A CONNECT whose identity names a thing, accepted or refused by
 * iot:Connect. */
void broker_detect_connect(struct broker_conn *c, bool accepted);
/* A connection closes (before its registry identity goes). */
void broker_detect_conn_closed(struct broker_conn *c);
/* The evaluation script (its modes in detect.c), which admin_detect.c
 * also runs (StartDetectMitigationActionsTask); what its answer asks to
 * publish is published and counted by broker_detect_answer(). */
extern const char broker_detect_script[];
void broker_detect_answer(struct strata_broker *b, const redisReply *reply);
/* A client's connection ended: strata_broker_disconnects_total by the
 * lifecycle event's disconnectReason (reason is its string). */
void broker_metrics_disconnect(struct strata_broker *b, const char *reason);

/* ---- devstats.c ---- */
/* Messages of `bytes` in AWS IoT's 5 KB metering units (at least 1). */
uint32_t broker_devstats_units(size_t bytes);
/* An inbound PUBLISH of `bytes` accepted from c / an outbound one written
 * to it / an action of c its policies denied. */
void broker_devstats_in(struct broker_conn *c, size_t bytes);
void broker_devstats_out(struct broker_conn *c, size_t bytes);
void broker_devstats_denied(struct broker_conn *c);
/* Add a consumer (before broker_devstats_start). */
void broker_devstats_consumer(struct strata_broker *b,
    const struct broker_devstats_consumer *cons);
/* Hand every dirty connection's counts on now (the tick does it). */
void broker_devstats_flush(struct strata_broker *b);
void broker_devstats_conn_closed(struct broker_conn *c);
void broker_devstats_conn_free(struct broker_conn *c);
int broker_devstats_start(struct strata_broker *b);
void broker_devstats_stop(struct strata_broker *b);

/* ---- meter.c ---- */
/* Meter the devices' messages per hour in Redis (a devstats consumer;
 * nothing when metering-retention-hours is 0). */
void broker_meter_start(struct strata_broker *b);
void broker_meter_free(struct strata_broker *b);

/* ---- throttle.c ---- */
void broker_throttle_metrics_init(struct strata_broker *b);
/* n bytes of packets dispatched from c: past throttle-inbound-bytes,
 * reading stops until the bucket has room again. */
void broker_throttle_bytes(struct broker_conn *c, size_t n);
/* A PUBLISH of qos from c.  0: go on; 1: to be refused with
 * PUBACK/PUBREC 0x96 (MQTT 5 QoS 1/2, broker_why() set), not forwarded;
 * 2: the connection was closed for being held at the limit
 * throttle-disconnect-after seconds.  Over the limit otherwise, the
 * publish goes on and reading stops until the bucket has a token. */
int broker_throttle_publish(struct broker_conn *c, uint8_t qos);
/* One filter of a SUBSCRIBE: false when over throttle-subscribe-rate. */
bool broker_throttle_subscribe(struct broker_conn *c);
/* A connection from its (real) source address peer ("host:port",
 * "[v6]:port"): over throttle-connect-address-rate it is marked
 * connect_throttled. */
void broker_throttle_accept(struct broker_conn *c);
/* A CONNECT of client id id (authenticated): 0, or
 * STRATA_ERR(0x9F) with broker_why() set, for the connection's address
 * or the client id over its rate (this broker's bucket). */
int broker_throttle_connect(struct broker_conn *c, const char *id,
    size_t len);
/* The cluster's bucket (throttle-connect-scope cluster) refused a
 * CONNECT this broker's had let through: its token back, counted,
 * broker_why() set. */
void broker_throttle_connect_refused(struct broker_conn *c, const char *id,
    size_t len);
/* The register script's argument for the cluster's connect bucket of a
 * CONNECT of c: "" (not limited there), else "<cost us>:<check|take>"
 * (check: over the rate refuses; take: a token when there is one, for a
 * CONNECT this broker decided).  out holds 32 bytes. */
void broker_throttle_cluster_arg(const struct broker_conn *c, size_t id_len,
    bool decides, char out[32]);
/* A new connection's limits: the broker options. */
void broker_throttle_conn_init(struct broker_conn *c);
/* Set c's limits: limits[i] >= 0 where its thing's groups or type set
 * one (0: off), -1 for the broker option; NULL: the options.  The
 * buckets keep the share of their burst they held. */
void broker_throttle_set_limits(struct broker_conn *c,
    const long limits[BROKER_THROTTLE_LIMITS]);
void broker_throttle_free(struct strata_broker *b);

/* ---- proxy.c ---- */
/* Read event of a connection in state PROXY. */
void broker_proxy_read_cb(evutil_socket_t fd, short what, void *arg);
/* The connect timeout passed in state PROXY: refuse and close. */
void broker_proxy_timeout(struct broker_conn *c);

/* ---- dispatch.c ---- */
/* TLS: dispatch the whole packets in the bufferevent's input. */
void broker_dispatch_input(struct broker_conn *c);
/* Handle again a CONNECT frame p[0..len) that was held while c waited
 * (authorizer.c); c is NEW again.  Not counted twice in the metrics. */
void broker_dispatch_replay(struct broker_conn *c, const uint8_t *p,
    size_t len);
/* Dispatch the whole packets at the head of p[0..len); returns the bytes
 * used.  Stops early when the connection can no longer dispatch (WAITING,
 * closing).  The bytes only need to live during the call. */
size_t broker_dispatch_bytes(struct broker_conn *c, const uint8_t *p,
    size_t len);
/* Refuse a CONNECT that was valid but cannot be served (NEW or WAITING):
 * CONNACK with reason (MQTT 5) or its 3.1.1 return code, then close
 * without the will. */
void broker_connect_refuse(struct broker_conn *c, unsigned reason,
    const char *what);
/* Maximum Packet Size of the broker (CONNACK, framing limit). */
uint32_t broker_max_packet(const struct strata_broker *b);
/* A handler about to return a refusal says what was refused (printf
 * format): the Reason String of the CONNACK or DISCONNECT that
 * dispatch.c sends for it, and the refusal's log line. */
void broker_why(struct strata_broker *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Give p (about to be sent on c) why as its Reason String when MQTT 5
 * allows it: an MQTT 5 connection, and Request Problem Information not 0
 * unless p is a CONNACK, DISCONNECT or PUBLISH (MQTT 5.0 3.1.2.11.7).
 * why (NULL: nothing) must outlive the send.  broker_conn_send() leaves
 * it out again if it would make p exceed the client's Maximum Packet
 * Size. */
void broker_reason_string(struct broker_conn *c, struct strata_mqtt_packet *p,
    const char *why);

/* ---- connect.c ---- */
int broker_connect_handle(struct broker_conn *c,
    const struct strata_mqtt_packet *p);
int broker_disconnect_handle(struct broker_conn *c,
    const struct strata_mqtt_packet *p);
void broker_will_free(struct broker_will *w);
/* Publish a will now (through the routers) and free it. */
void broker_will_publish(struct strata_broker *b, struct broker_will *w,
    const char *client_id);
/* Finish a CONNECT held WAITING: s is the restored session or NULL (a
 * fresh one).  Sends CONNACK, resumes flows and reading. */
void broker_connect_conn_closed(struct broker_conn *c);
void broker_connect_complete(struct broker_conn *c, const char *id,
    size_t id_len, struct broker_session *s, uint64_t epoch);
/* Close the connection of s like a take-over (MQTT 5 DISCONNECT 0x8E);
 * resuming: the new connection resumes the session (a delayed will is
 * dropped). */
void broker_connect_takeover(struct broker_conn *old, bool resuming);

/* ---- events.c ---- */
/* Lifecycle events (AWS IoT's $aws/events/...), when lifecycle-events is
 * on.  c's CONNACK went out: connected. */
void broker_events_connected(struct broker_conn *c);
/* c ends, its session still attached: disconnected, once, if its
 * connected event went out (why: c->close_reason, c->client_closed). */
void broker_events_conn_end(struct broker_conn *c);
/* A SUBSCRIBE or UNSUBSCRIBE p of c was applied: reasons[0..n) are its
 * SUBACK/UNSUBACK codes; the granted (removed) filters are listed. */
void broker_events_subscriptions(struct broker_conn *c,
    const struct strata_mqtt_packet *p, const uint8_t *reasons, uint32_t n);

/* ---- auth.c ---- */
int broker_auth_check_connect(struct broker_conn *c,
    const struct strata_mqtt_packet *p);
int broker_auth_handle(struct broker_conn *c,
    const struct strata_mqtt_packet *p);

/* ---- ping.c ---- */
int broker_ping_handle(struct broker_conn *c,
    const struct strata_mqtt_packet *p);

/* ---- publish.c ---- */
int broker_publish_handle(struct broker_conn *c,
    const struct strata_mqtt_packet *p);
void broker_publish_deliver(struct strata_broker *b, const Strata__Deliver *d);
/* A message holding a copy of v (refs 1). */
struct broker_msg *broker_msg_new(const struct strata_message *v);
/* The view of m: its topic, payload, properties, QoS and retain. */
struct strata_message broker_msg_view(const struct broker_msg *m);
void broker_msg_unref(struct broker_msg *m);
/* May a message with this topic and these sizes go to a client?  For
 * messages that did not come from a client's PUBLISH (router Delivers,
 * hand-off blobs): a valid topic name of valid UTF-8, and a PUBLISH that
 * MQTT can encode.  The client's own Maximum Packet Size is checked when
 * it is written. */
bool broker_msg_valid(const char *topic, size_t topic_len,
    size_t payload_len, size_t props_len);
/* Send m to a session with qos/retain/sub ids decided by the caller:
 * QoS 0 straight out (dropped if offline), QoS 1/2 through qos.c. */
void broker_publish_to_session(struct broker_session *s,
    struct broker_msg *m, uint8_t qos, bool retain, uint8_t n_sub_ids,
    const uint32_t *sub_ids);
/* Encode and send one PUBLISH of m on c: the Message Expiry Interval
 * left, subscription ids and an outbound topic alias (MQTT 5).  Returns
 * 0; STRATA_ENOTFOUND when m expired, STRATA_ENOSPC when it exceeds the
 * client's Maximum Packet Size (nothing sent either way: the caller
 * drops it and counts why). */
int broker_publish_write(struct broker_conn *c, struct broker_msg *m,
    uint8_t qos, bool retain, bool dup, uint16_t packet_id,
    uint8_t n_sub_ids, const uint32_t *sub_ids);
void broker_alias_free(struct broker_conn *c);

/* ---- qos.c ---- */
void broker_qos_enqueue(struct broker_session *s, struct broker_msg *m,
    uint8_t qos, bool retain, uint8_t n_sub_ids, const uint32_t *sub_ids);
/* Move queued messages into flight while the window allows. */
void broker_qos_pump(struct broker_session *s);
/* A session resumed on a new connection: re-send in-flight with DUP. */
void broker_qos_resume(struct broker_session *s);
int broker_qos_handle_ack(struct broker_conn *c,
    const struct strata_mqtt_packet *p);
/* Router took responsibility for an inbound publish: ack the client. */
void broker_qos_inbound_acked(struct strata_broker *b, uint64_t incarnation,
    uint16_t packet_id, uint8_t qos, uint8_t reason);
void broker_qos_free_session(struct broker_session *s);
/* Drop one outbound entry (given back elsewhere): its stored copy too. */
void broker_qos_forget(struct broker_session *s, struct broker_out *o);
/* Move the queued messages of s to into (s's queue is then empty); put
 * one QUEUED entry (from such a list) back at the end of s's queue. */
void broker_qos_take_queue(struct broker_session *s, struct strata_list *into);
void broker_qos_requeue(struct broker_session *s, struct broker_out *o);
/* Append a handed-off outbound message in state state (enum
 * broker_out_state) to the queue or the in-flight list. */
struct broker_out *broker_qos_restore(struct broker_session *s,
    struct broker_msg *m,
    uint8_t qos, bool retain, uint8_t state, uint16_t packet_id,
    uint8_t n_sub_ids, const uint32_t *sub_ids);
/* Inbound QoS 2 ids: find or NULL. */
struct broker_qos2_in *broker_qos2_find(struct broker_session *s,
    uint16_t packet_id);
struct broker_qos2_in *broker_qos2_add(struct broker_session *s,
    uint16_t packet_id);
void broker_qos2_remove(struct broker_session *s, uint16_t packet_id);
/* PUBACK/PUBREC/PUBREL/PUBCOMP with reason; why (NULL: none) is its
 * Reason String (broker_reason_string rules). */
void broker_send_ack(struct broker_conn *c, uint8_t type, uint16_t packet_id,
    uint8_t reason, const char *why);

/* ---- subscribe.c ---- */
int broker_subscribe_handle(struct broker_conn *c,
    const struct strata_mqtt_packet *p);
int broker_unsubscribe_handle(struct broker_conn *c,
    const struct strata_mqtt_packet *p);
void broker_subs_remove_all(struct broker_session *s);
struct broker_sub *broker_sub_find(struct broker_session *s,
    const char *filter, size_t len);
void broker_filter_free(void *f);
/* Add a subscription of a handed-off session (no retained request). */
void broker_subs_restore(struct broker_session *s, const char *filter,
    size_t len, uint8_t options, uint32_t sub_id);
/* Wait until the routers marked (broker_routers_mark) have applied what
 * was sent to them: done(b, arg) runs then (at once when nothing is
 * waited for). */
void broker_routers_wait(struct strata_broker *b,
    void (*done)(struct strata_broker *, void *), void *arg);
/* One Barrier w waited for is acked (or its link went down): drop the
 * reference; at zero the SUBACK goes out (or is dropped). */
void broker_suback_release(struct strata_broker *b, struct broker_suback *w);
/* Free every waiting SUBACK without answering (daemon exit, after the
 * routers are gone). */
void broker_subacks_free_all(struct strata_broker *b);

/* ---- session.c ---- */
struct broker_session *broker_session_find(struct strata_broker *b,
    const char *client_id, size_t len);
/* The session of that incarnation if it still exists, or NULL. */
struct broker_session *broker_session_of(struct strata_broker *b,
    uint64_t incarnation);
struct broker_session *broker_session_new(struct strata_broker *b,
    const char *client_id, size_t len);
/* Connection of s went away: keep (persistent, start expiry) or free. */
void broker_session_detach(struct broker_session *s);
void broker_session_destroy(struct broker_session *s);
void broker_session_cancel_timers(struct broker_session *s);
void broker_session_free_value(void *s);
/* Drop s without publishing its will (handed off to another broker). */
void broker_session_handed_off(struct broker_session *s);

/* ---- cluster.c ---- */
int broker_cluster_start(struct strata_broker *b);
/* b->redis (re)connected: renew the lease at once. */
void broker_cluster_redis_up(struct strata_broker *b);
/* Clean shutdown begins: stop the lease and delete it. */
void broker_cluster_stop(struct strata_broker *b);
/* Exit, after b->redis is freed: the subscriber, timers, waits. */
void broker_cluster_free(struct strata_broker *b);
/* CONNECT accepted by connect.c on c (client id id): the session is local
 * (local true: registry updated, no wait) or must be looked up: c goes
 * WAITING and broker_connect_complete() runs later. */
void broker_cluster_connect(struct broker_conn *c, const char *id,
    size_t id_len, bool local);
/* The session of s ends on this broker: drop its registry entry. */
void broker_cluster_session_ended(struct broker_session *s);
/* Connection c closes while WAITING. */
void broker_cluster_conn_closed(struct broker_conn *c);

/* ---- dedup.c ---- */
/* Was the QoS 2 publish (origin broker node, boot, seq) delivered here in
 * the last 60 s?  Records it when not. */
bool broker_dedup_seen(struct strata_broker *b, const char *node,
    uint64_t boot, uint64_t seq);
void broker_dedup_free(struct strata_broker *b);

/* ---- partmap.c ---- */
int broker_partmap_start(struct strata_broker *b);
void broker_partmap_stop(struct strata_broker *b);
/* b->redis (re)connected: lease, scheme check, map. */
void broker_partmap_redis_up(struct strata_redis *r, void *arg);
/* Answers of routers in a move. */
void broker_partmap_leave_ack(struct broker_router *r,
    const Strata__PartitionLeaveAck *a);
void broker_partmap_serving(struct broker_router *r,
    const Strata__PartitionServing *s);
/* r's link: up (after its resync), drained, down (gone: r leaves the
 * table). */
void broker_partmap_router_up(struct broker_router *r);
void broker_partmap_router_drained(struct broker_router *r);
void broker_partmap_router_down(struct broker_router *r, bool gone);
/* r refused a publish of partition p (PublishAck not_owner): its map is
 * newer than ours.  p waits (joins r again if r is still its owner here)
 * and the whole map is read again at once. */
void broker_partmap_not_served(struct broker_router *r, uint32_t p);
/* Every partition to r, served (a router attached without the map). */
void broker_partmap_attach(struct strata_broker *b, struct broker_router *r);

/* ---- shares.c ---- */
/* Is it "$share/..."? */
bool broker_share_filter(const char *filter, size_t len);
/* sub added (a member if the session is connected) or removed. */
void broker_shares_sub(struct broker_session *s, struct broker_sub *sub,
    bool add);
/* s has a connection: its shared subscriptions become members. */
void broker_shares_join(struct broker_session *s);
/* s lost its connection (or leaves this broker): no longer a member; its
 * shared messages not taken go to other members. */
void broker_shares_leave(struct broker_session *s);
/* A Deliver naming the member target_client_id of target_filter. */
void broker_shares_deliver(struct strata_broker *b, const Strata__Deliver *d,
    struct broker_msg *view, struct broker_msg **owned);

/* ---- durable.c ---- */
int broker_durable_start(struct strata_broker *b);
void broker_durable_stop(struct strata_broker *b);
/* s becomes persistent here (a new session, or a clean one made
 * persistent by its CONNECT): its keys are written. */
void broker_durable_create(struct broker_session *s);
/* Write-through of a durable session (no-ops for others). */
void broker_durable_append(struct broker_session *s, struct broker_out *o);
void broker_durable_update(struct broker_session *s, struct broker_out *o);
void broker_durable_remove(struct broker_session *s, struct broker_out *o);
void broker_durable_qos2(struct broker_session *s, uint16_t packet_id,
    bool add);
/* A subscription added or changed (w: a SUBACK that waits for the write,
 * or NULL) or removed: Redis and the routers' session entries. */
void broker_durable_sub(struct broker_session *s, struct broker_sub *sub,
    bool add, struct broker_suback *w);
/* The client left (the expiry starts: TTLs), came back, changed the
 * expiry; the session ends (keys deleted). */
void broker_durable_offline(struct broker_session *s);
/* The broker stops with s offline: its keys as broker_durable_offline()
 * leaves them, written even while stopping. */
void broker_durable_left(struct broker_session *s);
void broker_durable_online(struct broker_session *s);
void broker_durable_end(struct broker_session *s);
/* Take over the stored session of a client (wants: Clean Start 0) or
 * discard it.  done(arg, s, ok): s the session (LOADING done, HELD) or
 * NULL for none; ok false when Redis did not answer. */
typedef void (*broker_durable_cb)(void *arg, struct broker_session *s,
    bool ok);
void broker_durable_take(struct strata_broker *b, const char *client_id,
    size_t len, bool wants, broker_durable_cb done, void *arg);
/* Give s to another broker: routers queue for it, then done(arg, NULL,
 * true) runs and s is gone. */
void broker_durable_release(struct broker_session *s, broker_durable_cb done,
    void *arg);
/* A frame of Delivers on r made durable writes: its DeliverAck(up_to)
 * goes out once Redis has them.  Returns false when no write is waited
 * for (the caller sends it now). */
bool broker_durable_hold_ack(struct broker_router *r, uint64_t up_to,
    uint64_t seq_before);

/* ---- handoff.c ---- */
/* Pack s into a strata.Session; *len its size.  Returns malloc'd bytes. */
uint8_t *broker_handoff_pack(struct broker_session *s, size_t *len);
/* Unpack a strata.Session into the empty session s (subscriptions added
 * to the local table, messages queued or in flight).  Returns 0 or
 * STRATA_EINVAL (s keeps what was restored before the error). */
int broker_handoff_restore(struct broker_session *s, const uint8_t *data,
    size_t len);
/* One message of a stored session, packed (pointers borrow o's) and
 * restored: checked like a client's, its packet id unique among ids.
 * *out is the entry made (NULL: dropped over max-queued). */
struct broker_handoff_ids {
	uint64_t bits[65536 / 64];
};
void broker_handoff_pack_message(Strata__SessionMessage *sm,
    const struct broker_out *o, uint64_t now);
int broker_handoff_restore_message(struct broker_session *s,
    const Strata__SessionMessage *sm, uint64_t now,
    struct broker_handoff_ids *ids, struct broker_out **out);
/* One subscription of a stored session, checked like a SUBSCRIBE entry.
 * 0 (added, or dropped over max-subscriptions) or STRATA_EINVAL. */
int broker_handoff_restore_sub(struct broker_session *s, const char *filter,
    size_t len, uint32_t options, uint32_t sub_id);

/* ---- routerlink.c ---- */
int broker_routers_start(struct strata_broker *b);
void broker_routers_stop(struct strata_broker *b);
/* Forward the publish m to the router owning its partition.  from: the
 * publisher (for No Local, and to ack QoS 1/2), or NULL (a will: nobody
 * to ack).  Returns 0; the message is
 * copied when it must wait (QoS 1/2, or no router up).  Returns
 * STRATA_ENOSPC when the router's link was full: the publish is kept
 * (or dropped, QoS 0 over the bound) and the caller should pause its
 * producer. */
int broker_routers_publish(struct strata_broker *b,
    const struct broker_origin *from, const struct strata_message *m);
void broker_routers_route(struct strata_broker *b, bool add,
    const char *filter, size_t len);
void broker_routers_retained(struct strata_broker *b, const char *client_id,
    const char *filter, size_t len);
int64_t broker_routers_up(struct strata_broker *b);
/* Are the publishes waiting for routers over their bound?  (Publishers
 * are paused then; the broker's own events are dropped.) */
bool broker_routers_backlogged(const struct strata_broker *b);
/* Send on r's link; STRATA_AGAIN when it is not up, STRATA_ENOSPC when
 * full (r then resyncs on drain). */
int broker_router_send(struct broker_router *r, enum strata_link_field field,
    const ProtobufCMessage *m);
/* PARTITION_RESET and the ADDs of this broker's exact filters, for each
 * partition p with want[p], to its owner. */
void broker_routers_send_partitions(struct strata_broker *b,
    const bool *want);
/* Send the unsent publishes whose partition is served now. */
void broker_routers_flush(struct strata_broker *b);
struct broker_router *broker_routers_find(struct strata_broker *b,
    const char *id, size_t len);
/* Follow a reply of HGETALL strata:routers (links to each, none else). */
void broker_routers_update(struct strata_broker *b, const redisReply *reply);
/* A router reached through a socket the caller already has (fuzz targets
 * and tests: a socketpair to an in-process router).  It gets every
 * partition until a partition map from Redis says otherwise, and stays as
 * long as strata:routers names it at host:port. */
struct broker_router *broker_routers_attach(struct strata_broker *b,
    const char *id, const char *host, uint16_t port, evutil_socket_t fd);
/* SUBSCRIBE ordering: mark the up routers that hold filter, then
 * broker_routers_barrier() sends a Barrier to each marked router that got
 * an ADD since its last Barrier and makes w wait for the latest Barrier of
 * each marked router not acked yet.  Returns the number of waits added
 * (each ends in one broker_suback_release(w)). */
void broker_routers_mark(struct strata_broker *b, const char *filter,
    size_t len);
unsigned broker_routers_barrier(struct strata_broker *b,
    struct broker_suback *w);
/* A persistent session's subscription as the routers know it. */
struct broker_sess_entry {
	const char *client_id;
	const char *filter;
	size_t filter_len;
	uint8_t options;
	uint32_t sub_id;
	bool online;              /* SESSION_ADD: held by this broker */
};
/* SESSION_ADD or SESSION_REMOVE of e to the routers that hold its filter
 * (they get a Barrier with the next broker_routers_wait/barrier). */
void broker_routers_session(struct strata_broker *b,
    Strata__RouteUpdate__Op op, const struct broker_sess_entry *e);

#endif
