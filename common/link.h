/*
 * link.h - node-to-node link: length-prefixed protobuf-c frames over TCP.
 *
 * Each frame is a 4-byte big-endian length and one Strata__Frame (see
 * proto/strata.proto).  Sending appends a message to the open batch as its
 * repeated field of Frame; the batch is written (one write for many
 * messages) at the end of the current event-loop turn, or at once when it
 * passes STRATA_LINK_BATCH_BYTES.  A received frame larger than max_frame is
 * a protocol error: the link drops the connection.
 *
 * States (client side):
 *   CONNECTING --connect ok--> UP --error/EOF--> BACKOFF --timer--> CONNECTING
 * A server-side link (accepted) goes UP -> DOWN and is then freed by its
 * owner.  on_down is called once per UP -> not UP transition; anything
 * queued but unwritten when a link goes down is dropped (the owner re-sends
 * what it had in flight on the next on_up).
 */
#ifndef STRATA_LINK_H
#define STRATA_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/util.h>
#include <protobuf-c/protobuf-c.h>

#include "strata.pb-c.h"

struct event_base;
struct strata_link;

#define STRATA_LINK_BATCH_BYTES (64 * 1024)
#define STRATA_LINK_MAX_FRAME (64 * 1024 * 1024)

/* Field numbers of Strata__Frame, for strata_link_send(). */
enum strata_link_field {
	STRATA_LINK_HELLO = 1,
	STRATA_LINK_PUBLISH = 2,
	STRATA_LINK_PUBLISH_ACK = 3,
	STRATA_LINK_DELIVER = 4,
	STRATA_LINK_ROUTE = 5,
	STRATA_LINK_RETAINED_REQUEST = 6,
	STRATA_LINK_BARRIER = 7,
	STRATA_LINK_BARRIER_ACK = 8,
	STRATA_LINK_DELIVER_ACK = 9,
	STRATA_LINK_PARTITION_LEAVE = 10,
	STRATA_LINK_PARTITION_LEAVE_ACK = 11,
	STRATA_LINK_PARTITION_JOIN = 12,
	STRATA_LINK_PARTITION_SERVING = 13,
};

struct strata_link_callbacks {
	/* A whole frame arrived; `frame` is freed after the callback returns. */
	void (*on_frame)(struct strata_link *l, const Strata__Frame *frame,
	    void *arg);
	/* Connection established (client) or accepted (server). */
	void (*on_up)(struct strata_link *l, void *arg);
	/* Connection lost; a client link reconnects by itself. */
	void (*on_down)(struct strata_link *l, void *arg);
	/* Output queue fell below half of max_queue after having passed it
	 * (backpressure release); may be NULL. */
	void (*on_drain)(struct strata_link *l, void *arg);
};

/* Client side: connect to host:port now and keep reconnecting (backoff
 * 100 ms doubling to 2 s) until freed.  max_queue bounds the bytes queued
 * for writing. */
struct strata_link *strata_link_connect(struct event_base *base,
    const char *host, uint16_t port, const struct strata_link_callbacks *cb,
    void *arg, size_t max_queue);

/* Server side: take ownership of an accepted socket. */
struct strata_link *strata_link_accept(struct event_base *base,
    evutil_socket_t fd, const struct strata_link_callbacks *cb, void *arg,
    size_t max_queue);

/*
 * Append msg as field `field` of the open frame.  Returns 0;
 * STRATA_AGAIN if the link is not up; STRATA_ENOSPC if the queued bytes are
 * over max_queue (nothing appended: the caller applies backpressure and
 * retries after on_drain).  msg is not retained.
 */
int strata_link_send(struct strata_link *l, enum strata_link_field field,
    const ProtobufCMessage *msg);

/* Write the open frame now (normally done at the end of the loop turn). */
void strata_link_flush(struct strata_link *l);

bool strata_link_is_up(const struct strata_link *l);
/* Bytes written by send but not yet accepted by the kernel. */
size_t strata_link_queued(const struct strata_link *l);
/* "host:port" of the peer, for logs. */
const char *strata_link_peer(const struct strata_link *l);

/* Close and free.  Safe to call from inside the link's own callbacks: the
 * memory is released after the callback returns. */
void strata_link_free(struct strata_link *l);

#endif
