/*
 * bench.h - strata-bench: load generator and correctness checker for any
 * MQTT 3.1.1 / 5 broker.
 *
 * One process runs one worker (or forks --procs workers): a worker owns a
 * libevent loop and many client connections.  Workers are independent: each
 * runs its own share of the clients (pairs split by index; fan-in, fan-out
 * and shared patterns run one independent copy of the pattern per worker on
 * the worker's own topic namespace %w) and sends its struct bench_result to
 * the parent through a pipe at the end.  Live counters for the progress
 * line sit in a shared anonymous mapping.
 *
 * The shadow mode (shadow.c) drives a device shadow service instead:
 * each connection owns a slice of --things things, subscribes to their
 * update/accepted and update/rejected topics and sends them updates.
 *
 * The rules mode (rules.c) measures a rules engine through MQTT: JSON
 * readings published for a topic rule, its republished outputs received.
 *
 * The sizing mode (sizing.c) puts known numbers of subscriptions,
 * retained messages and device shadows into a broker, step by step, and
 * holds them, so a script can read the memory each step cost.
 */
#ifndef STRATA_BENCH_H
#define STRATA_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/bufferevent.h>
#include <openssl/ssl.h>

#include "hist.h"
#include "tracker.h"

#define BENCH_MAX_PORTS 128
#define BENCH_MAX_SOURCES 254
#define BENCH_MAGIC 0x53424e31u /* "SBN1" */
#define BENCH_HEADER_SIZE 24    /* magic, nonce, publisher, seq, timestamp */
/* shadow mode: answers counted by code, the last slot for any other */
#define BENCH_SHADOW_CODES 7

enum bench_mode {
	MODE_CONN,
	MODE_PUB,
	MODE_SUB,
	MODE_PUBSUB,
	MODE_SHADOW,
	MODE_RULES,
	MODE_SIZING
};
enum bench_pattern { PAT_PAIRS, PAT_FANIN, PAT_FANOUT, PAT_SHARED };
enum bench_role { ROLE_CONN, ROLE_PUB, ROLE_SUB };

struct bench_opts {
	enum bench_mode mode;
	enum bench_pattern pattern;
	const char *host;
	int ports[BENCH_MAX_PORTS];
	int n_ports;
	char sources[BENCH_MAX_SOURCES][48]; /* source IPv4 addresses */
	int n_sources;
	int procs;
	int clients; /* conn: connections; patterns: see bench_counts() */
	bool clients_set;
	int publishers; /* explicit counts override --clients; -1 unset */
	int subscribers;
	double rate;  /* conn: connects/s; pub: msgs/s in total; 0 = max */
	int inflight; /* per publisher window (and pending connects) */
	double hold;
	double duration;
	bool duration_set;
	double drain;
	bool drain_set;
	uint64_t count; /* messages per publisher; 0 = use duration */
	int qos;
	bool qos_set;
	uint8_t version; /* STRATA_MQTT_V311 or STRATA_MQTT_V5 */
	bool version_set;
	size_t size;
	bool size_set;
	uint32_t things;          /* shadow: things in the run */
	const char *thing_prefix; /* shadow: thing k is <prefix><k> */
	int max_subscriptions; /* shadow: the broker's per-connection quota */
	uint32_t sz_subscriptions; /* sizing: distinct filters in total */
	uint32_t sz_retained;      /* sizing: retained messages */
	uint32_t sz_shadows;       /* sizing: things given a shadow */
	int sz_batch;              /* sizing: filters per SUBSCRIBE */
	const char *step_file;     /* sizing: the hand-shake between steps */
	bool direct;           /* rules: subscribe to the readings, no rule */
	bool expect_even;      /* rules: only even seq pass the rule's WHERE */
	int keepalive;
	int topic_alias_max; /* MQTT 5 CONNECT property; 0 = absent */
	long session_expiry; /* > 0: persistent sessions */
	const char *topic;   /* publisher topic template */
	bool topic_set;
	const char *filter; /* subscriber filter template; NULL = pattern's */
	const char *id_prefix;
	const char *username;
	const char *password;
	bool tls;
	const char *ws_path; /* --ws: MQTT over WebSocket on this path */
	const char *cafile;
	const char *cert;
	const char *key;
	bool json;
	bool expect_no_loss;
	bool progress;
	const char *ready_file;
	uint32_t nonce;
};

/* Counters a worker publishes for the live progress line. */
struct bench_live {
	volatile uint64_t connected;
	volatile uint64_t sent;
	volatile uint64_t acked;
	volatile uint64_t received;
	volatile uint64_t failed;
};

/* What a worker reports; merged by the parent (bench_result_merge), which
 * adds the leading uint64_t counters, conn_attempts up to ramp_secs, as
 * one array: keep them together. */
struct bench_result {
	uint64_t conn_attempts;
	uint64_t connected;
	uint64_t conn_failed;
	uint64_t closed_early; /* closed by the peer after CONNACK */
	uint64_t pings;
	uint64_t pongs;
	uint64_t sent;
	uint64_t acked;
	uint64_t received;
	uint64_t expected;
	uint64_t unique;
	uint64_t lost;
	uint64_t dups;
	uint64_t out_of_order;
	uint64_t unexpected; /* deliveries from no publisher we expected */
	uint64_t suback_failed;
	/* shadow: updates answered on update/accepted, on update/rejected
	 * (by code: bench_shadow_codes), and answers to an update already
	 * answered or written off (late, or a second copy) */
	uint64_t accepted;
	uint64_t rejected;
	uint64_t rejected_by_code[BENCH_SHADOW_CODES];
	uint64_t late;
	/* sizing: filters asked and granted, retained messages sent,
	 * acknowledged and refused (a PUBACK reason >= 0x80), shadow
	 * updates sent (accepted, rejected and lost above) */
	uint64_t sz_subs_asked;
	uint64_t sz_subs_granted;
	uint64_t sz_retained_sent;
	uint64_t sz_retained_acked;
	uint64_t sz_retained_refused;
	uint64_t sz_shadows_sent;
	double ramp_secs;         /* first connect attempt to last CONNACK */
	double send_secs;         /* first to last publish */
	double recv_secs;         /* first publish to last delivery */
	double step_secs[4]; /* sizing: connect, subscribe, retain, shadow */
	struct hist latency;      /* end to end, ns from intended send time;
	                           * shadow: update to update/accepted */
	struct hist conn_latency; /* socket() to CONNACK, ns */
};

struct bench_worker;

/* shadow mode: one thing of a connection (states in shadow.c) */
struct shadow_thing {
	uint64_t due;  /* intended send time of the update in flight, ns */
	uint64_t sent; /* when it was written, ns: --drain counts from here */
	uint32_t seq;  /* its number in the connection's sequence */
	bool awaiting; /* an update without an answer */
};

/*
 * One MQTT client connection.  States:
 *   CS_IDLE       not started
 *   CS_TCP        socket connecting (and TLS handshaking)
 *   CS_CONNACK    CONNECT sent, waiting for CONNACK
 *   CS_SUBACK     (subscribers, shadow connections) SUBSCRIBE sent,
 *                 waiting for every SUBACK
 *   CS_READY      usable
 *   CS_CLOSED     failed or closed; its bufferevent is freed at teardown
 */
enum client_state {
	CS_IDLE,
	CS_TCP,
	CS_CONNACK,
	CS_SUBACK,
	CS_READY,
	CS_CLOSED
};

struct bench_client {
	struct bench_worker *w;
	struct bufferevent *bev;
	enum bench_role role;
	enum client_state state;
	uint32_t gidx; /* global index within the role */
	uint32_t lidx; /* index within the worker's array of that role */
	uint64_t t_start;
	uint64_t last_tx;
	bool ping_out;
	char id[64];
	char topic[256]; /* publisher topic or subscriber filter */
	/* publisher */
	uint32_t seq;
	uint32_t inflight;
	uint16_t next_pid;
	uint16_t window;
	uint8_t *pid_used; /* bitmap of 65536 packet ids, QoS > 0 only */
	uint64_t next_due;
	uint64_t interval;
	uint64_t delivered; /* deliveries seen of this publisher's messages */
	uint64_t forgiven;  /* QoS 0 window: messages written off as lost */
	uint64_t last_progress;
	struct tracker *trackers;
	uint32_t n_trackers;
	/* subscriber in MODE_SUB: trackers by publisher global index, grown
	 * on demand */
	struct tracker *ext;
	uint32_t n_ext;
	/* SUBSCRIBE packets without a SUBACK; filters sent and granted */
	uint32_t subacks_pending;
	uint32_t sub_entries;
	uint32_t sub_granted;
	/* shadow: things [thing_base, thing_base + n_things) of the run */
	struct shadow_thing *things;
	uint32_t thing_base;
	uint32_t n_things;
	uint32_t thing_next; /* round robin: the next thing to try */
	uint32_t awaiting;   /* updates without an answer */
	uint8_t ack_reason;  /* the last PUBACK's reason code (MQTT 5) */
};

struct bench_worker {
	const struct bench_opts *o;
	int index;
	struct event_base *base;
	SSL_CTX *ssl;
	struct bench_live *live;
	struct bench_result res;
	struct bench_client *conns;
	struct bench_client *pubs;
	struct bench_client *subs;
	uint32_t n_conns, n_pubs, n_subs;
	uint32_t conn_base, pub_base, sub_base; /* global index offsets */
	uint32_t receivers;                     /* trackers per publisher */
	/* launcher: starts clients of `launch` at o->rate or max pending */
	struct bench_client *launch;
	uint32_t n_launch, launched, pending, answered;
	uint64_t launch_t0;
	uint64_t first_attempt, last_connack;
	struct event *tick;
	struct event *second;
	struct event *send_timer; /* --rate: wakes up at the next due time */
	int phase;
	uint64_t t_send0, t_send_end, t_last_send, t_last_recv, t_drain_end;
	uint64_t t_hold_end;
	uint8_t *payload;
	uint64_t t_first_recv;
	uint64_t t_last_accept; /* shadow: the last update/accepted */
	size_t payload_cap;
	struct sizing *sz; /* sizing mode's state (sizing.c) */
};

/* main.c */
uint64_t bench_now(void);
void bench_fatal(const char *fmt, ...);

/* client.c */
int bench_client_start(struct bench_client *c);
void bench_client_send_publish(struct bench_client *c, uint64_t ts);
void bench_client_publish(struct bench_client *c, const char *topic,
    const uint8_t *payload, size_t len);
void bench_client_publish_retained(struct bench_client *c, const char *topic,
    const uint8_t *payload, size_t len);
void bench_client_subscribe(struct bench_client *c, uint16_t packet_id,
    const char *const *filters, uint32_t n);
void bench_client_send_ping(struct bench_client *c);
void bench_client_send_disconnect(struct bench_client *c);
void bench_client_close(struct bench_client *c);
void bench_client_free(struct bench_client *c);
bool bench_client_window_open(const struct bench_client *c);
SSL_CTX *bench_ssl_ctx(const struct bench_opts *o);
void bench_format(
    char *out, size_t cap, const char *tmpl, const struct bench_client *c);

/* worker.c: callbacks from client.c into the running scenario */
void bench_on_connack(struct bench_client *c);
void bench_on_suback(struct bench_client *c, bool ok);
void bench_on_publish(struct bench_client *c, const uint8_t *topic,
    uint32_t topic_len, const uint8_t *payload, uint32_t len);
void bench_on_acked(struct bench_client *c);
void bench_on_pingresp(struct bench_client *c);
void bench_on_closed(struct bench_client *c, enum client_state prev);
void bench_worker_run(struct bench_worker *w);

/* shadow.c */
extern const int bench_shadow_codes[BENCH_SHADOW_CODES];
/* The index of a rejected answer's code in bench_shadow_codes (the last,
 * 0, for any other), and whether an answer's topic ends with suffix
 * ("/accepted", "/rejected"); shadow.c, used by sizing.c too. */
int bench_shadow_code_index(long code);
/* "$aws/things/<thing>/shadow/<suffix>" into out (cap bytes): the thing
 * is --thing-prefix and its number, else <mode><nonce>-t<number> (mode
 * "sb" for the shadow mode, "sz" for sizing). */
void bench_shadow_thing_topic(char *out, size_t cap,
    const struct bench_worker *w, const char *mode, uint32_t thing,
    const char *suffix);
bool bench_shadow_topic_ends(const uint8_t *s, uint32_t len,
    const char *suffix);
void bench_shadow_setup(struct bench_worker *w);
void bench_shadow_subscribe(struct bench_client *c);
bool bench_shadow_window_open(const struct bench_client *c);
void bench_shadow_send(struct bench_client *c, uint64_t due);
bool bench_shadow_on_answer(struct bench_client *c, const uint8_t *topic,
    uint32_t topic_len, const uint8_t *payload, uint32_t len);
bool bench_shadow_expire(struct bench_client *c, uint64_t now);
void bench_shadow_tally(struct bench_worker *w);
void bench_shadow_free(struct bench_client *c);

/* rules.c */
bool bench_rules_window_open(const struct bench_client *c);
void bench_rules_send(struct bench_client *c, uint64_t due);
void bench_rules_forgive(struct bench_client *c);
uint64_t bench_rules_expected(const struct bench_client *c);
struct bench_client *bench_rules_on_output(
    struct bench_client *sub, const uint8_t *payload, uint32_t len);

/* sizing.c: the sizing mode's run and its callbacks from worker.c */
void bench_sizing_run(struct bench_worker *w);
void bench_sizing_on_connack(struct bench_client *c);
void bench_sizing_on_suback(struct bench_client *c, bool ok);
void bench_sizing_on_publish(struct bench_client *c, const uint8_t *topic,
    uint32_t topic_len, const uint8_t *payload, uint32_t len);
void bench_sizing_on_acked(struct bench_client *c);
void bench_sizing_on_closed(struct bench_client *c, enum client_state prev);

/* report.c */
void bench_result_init(struct bench_result *r);
void bench_result_merge(
    struct bench_result *dst, const struct bench_result *src);
void bench_report_human(
    const struct bench_opts *o, const struct bench_result *r);
void bench_report_json(
    const struct bench_opts *o, const struct bench_result *r);

/* ws.c: a filter bufferevent over under (which it owns) speaking MQTT
 * over WebSocket to host:port at path; seed varies the frame masks. */
struct bufferevent *bench_ws_wrap(struct bufferevent *under,
    const char *host, int port, const char *path, uint32_t seed);

#endif
