/*
 * harness.h - daemons built in process for the fuzz targets.
 *
 * A fuzz target feeds bytes to the real code path they take in a daemon:
 * client bytes through a broker connection's read and dispatch, link
 * frames through strata_link into the broker's or the router's handlers,
 * Redis replies through hiredis's reader into the daemons' callbacks.
 * What is outside the daemon is replaced by in-process stand-ins:
 *   - Redis: the fake of redis.h; in "answer" mode the harness replies to
 *     each command as a healthy Redis of a one-node cluster would, in
 *     "input" mode the target feeds the replies (fuzz_redis_*);
 *   - routers: a fake router on a socketpair link that acknowledges every
 *     publish, answers Barriers and, when asked, delivers publishes back
 *     and answers retained requests; or the raw router end of the
 *     socketpair, written by the target (fuzz_broker_link);
 *   - clients: the harness end of a socketpair per connection.
 * Everything runs on one event base, pumped without blocking; no real
 * socket leaves the process and no timer is waited for.
 *
 * Every function aborts on an internal failure (a harness bug), never on
 * anything the input does.
 */
#ifndef STRATA_FUZZ_HARNESS_H
#define STRATA_FUZZ_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker.h"
#include "router.h"

#define FUZZ_CLIENTS 2

/* Once per process: quiet logs (STRATA_FUZZ_LOG set: every log line),
 * fixed hash key (reproducible runs), SIGPIPE ignored. */
void fuzz_init(void);

/* A bounded input reader: bytes and small integers, 0 past the end. */
struct fuzz_input {
	const uint8_t *p;
	size_t len;
};
uint8_t fuzz_u8(struct fuzz_input *in);
uint16_t fuzz_u16(struct fuzz_input *in);
/* The next n bytes (fewer at the end); *got their number. */
const uint8_t *fuzz_bytes(struct fuzz_input *in, size_t n, size_t *got);

struct fuzz_broker_opts {
	bool redis_from_input; /* replies fed by the target, else answered */
	bool redis_down;       /* answer mode: Redis starts down */
	bool prev_alive;       /* answer mode: the registry names another
				  live broker (CONNECTs wait for it) */
	bool raw_router;       /* the target writes the router's side */
	bool echo;             /* fake router: publishes come back as
				  Delivers */
	bool retained;         /* fake router: answers retained requests */
	bool drain;            /* read what the broker sends to clients */
};

struct fuzz_broker {
	struct event_base *base;
	struct strata_broker *b;
	struct fuzz_broker_opts o;
	struct strata_redis_fake redis;
	struct strata_link *router;    /* the fake router's end, or NULL */
	int router_fd;                 /* raw_router: the router's end */
	int client_fd[FUZZ_CLIENTS];   /* harness ends, -1 when none */
	int extra_fd[8];               /* routers the broker dialled */
	unsigned n_extra;
	uint64_t epoch;
};

/* Build a broker with the fuzz profile of options (small bounds, so the
 * input reaches them) and run it until its router link is up and the
 * partition scheme is checked (answer mode). */
struct fuzz_broker *fuzz_broker_new(const struct fuzz_broker_opts *o);
void fuzz_broker_free(struct fuzz_broker *fb);
/* Run every ready event a few times over; drain clients if asked. */
void fuzz_broker_pump(struct fuzz_broker *fb);
/* A client connection i (0..FUZZ_CLIENTS-1): plain TCP path, or the
 * bufferevent path TLS connections take (tls). */
void fuzz_broker_connect(struct fuzz_broker *fb, unsigned i, bool tls);
/* A client connection i on a WebSocket listener (ws, or wss: its
 * bufferevent path without OpenSSL): the opening request, then frames. */
void fuzz_broker_connect_ws(struct fuzz_broker *fb, unsigned i, bool tls);
/* A client connection i on a PROXY listener: it must send a PROXY
 * protocol header first; behind it, the plain TCP path (or, tls, the
 * bufferevent path TLS connections take, made once the header is
 * consumed). */
void fuzz_broker_connect_proxy(struct fuzz_broker *fb, unsigned i, bool tls);
/* Write bytes as client i (connecting it first if needed); pumps while
 * the socket is full, gives up after a bound. */
void fuzz_broker_send(struct fuzz_broker *fb, unsigned i, const uint8_t *p,
    size_t n);
/* Client i goes away (the broker sees end of stream). */
void fuzz_broker_hangup(struct fuzz_broker *fb, unsigned i);
/* MQTT packets the broker has read, of every type. */
uint64_t fuzz_broker_packets_in(struct fuzz_broker *fb);
/* Write raw bytes on a socket, pumping while it is full. */
void fuzz_write_fd(struct fuzz_broker *fb, int fd, const uint8_t *p,
    size_t n);
/* A CONNECT (3.1.1 or 5, Clean Start as given) and a SUBSCRIBE to
 * "#" and "a/+/c" at QoS 2, sent as client i. */
void fuzz_broker_login(struct fuzz_broker *fb, unsigned i, uint8_t version,
    const char *client_id, bool clean);

struct fuzz_router {
	struct event_base *base;
	struct strata_router r;
	struct router_config cfg;
	struct strata_redis_fake redis;
	bool redis_from_input;
};

/* A router without a listener, its Redis answered as by a healthy Redis
 * (or fed by the target: redis_from_input), run until it owns its
 * partitions (answer mode). */
struct fuzz_router *fuzz_router_new(bool redis_from_input);
void fuzz_router_free(struct fuzz_router *fr);
void fuzz_router_pump(struct fuzz_router *fr);
/* A broker link accepted by the router; returns the broker's end. */
int fuzz_router_link(struct fuzz_router *fr);
/* A broker link with its Hello written: protocol 2, the proof of the
 * fuzz router's cluster secret (good_proof false: one bit wrong, so the
 * router refuses it). */
int fuzz_router_link_hello(struct fuzz_router *fr, bool good_proof);
#define FUZZ_CLUSTER_SECRET "fuzz-cluster-secret-0123456789"

/* Write one link frame (4-byte length + Frame) holding one message as
 * field `field` into buf; returns its size (0: does not fit). */
size_t fuzz_frame(uint8_t *buf, size_t cap, enum strata_link_field field,
    const ProtobufCMessage *msg);

#endif
