/*
 * test_link.c - two links on loopback in one event base: Hello exchange,
 * batching and ordering, reconnect after the server closes, deferred free,
 * the bounded output queue (ENOSPC, then on_drain) against a peer that
 * does not read, and an oversized frame length.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "link.h"
#include "status.h"

#define MANY 10000

struct side {
	struct strata_link *link;
	int ups, downs, drains;
	int hellos;
	char hello_id[32];
	uint64_t next_seq;  /* next Publish seq expected */
	int frames_with_publish;
	bool close_on_frame; /* free the link inside on_frame */
};

struct fixture {
	struct event_base *base;
	struct evconnlistener *listener;
	uint16_t port;
	struct side client, server;
	size_t server_queue;
	evutil_socket_t raw_fd; /* accepted but never read (ENOSPC test) */
	bool raw_mode;
};

static void
send_hello(struct strata_link *l, const char *id)
{
	Strata__Hello h = STRATA__HELLO__INIT;

	h.node_id = (char *)id;
	h.kind = STRATA__NODE_KIND__NODE_BROKER;
	h.protocol = 1;
	assert_int_equal(strata_link_send(l, STRATA_LINK_HELLO, &h.base), 0);
}

static void
on_frame(struct strata_link *l, const Strata__Frame *f, void *arg)
{
	struct side *s = arg;

	if (f->hello != NULL) {
		s->hellos++;
		snprintf(s->hello_id, sizeof(s->hello_id), "%s",
		    f->hello->node_id);
	}
	if (f->n_publish > 0)
		s->frames_with_publish++;
	for (size_t i = 0; i < f->n_publish; i++) {
		assert_int_equal(f->publish[i]->seq, s->next_seq);
		assert_string_equal(f->publish[i]->topic, "a/b");
		s->next_seq++;
	}
	if (s->close_on_frame) {
		s->close_on_frame = false;
		strata_link_free(l);
		s->link = NULL;
	}
}

static void
on_up(struct strata_link *l, void *arg)
{
	struct side *s = arg;

	s->ups++;
	s->link = l;
	send_hello(l, s->hello_id[0] == '\0' ? "x" : s->hello_id);
}

static void
on_down(struct strata_link *l, void *arg)
{
	((struct side *)arg)->downs++;
}

static void
on_drain(struct strata_link *l, void *arg)
{
	((struct side *)arg)->drains++;
}

static const struct strata_link_callbacks callbacks = {
	.on_frame = on_frame,
	.on_up = on_up,
	.on_down = on_down,
	.on_drain = on_drain,
};

static void
accept_cb(struct evconnlistener *lis, evutil_socket_t fd,
    struct sockaddr *sa, int socklen, void *arg)
{
	struct fixture *fx = arg;

	if (fx->raw_mode) {
		fx->raw_fd = fd;
		return;
	}
	if (fx->server.link != NULL)
		strata_link_free(fx->server.link);
	fx->server.link = strata_link_accept(fx->base, fd, &callbacks,
	    &fx->server, fx->server_queue);
}

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fx->base = event_base_new();
	fx->listener = evconnlistener_new_bind(fx->base, accept_cb, fx,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
	    (struct sockaddr *)&sin, sizeof(sin));
	assert_non_null(fx->listener);
	getsockname(evconnlistener_get_fd(fx->listener),
	    (struct sockaddr *)&sin, &sl);
	fx->port = ntohs(sin.sin_port);
	fx->server_queue = 1 << 20;
	fx->raw_fd = -1;
	fx->client.next_seq = 1;
	fx->server.next_seq = 1;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	strata_link_free(fx->client.link);
	strata_link_free(fx->server.link);
	if (fx->raw_fd >= 0)
		close(fx->raw_fd);
	evconnlistener_free(fx->listener);
	event_base_free(fx->base);
	free(fx);
	return 0;
}

/* Run the loop until cond(fx) holds, for at most ~5 s. */
static bool
run_until(struct fixture *fx, bool (*cond)(struct fixture *))
{
	for (int i = 0; i < 5000; i++) {
		if (cond(fx))
			return true;
		event_base_loop(fx->base, EVLOOP_NONBLOCK);
		if (cond(fx))
			return true;
		usleep(1000);
	}
	return cond(fx);
}

static bool
both_hellos(struct fixture *fx)
{
	return fx->client.hellos >= 1 && fx->server.hellos >= 1;
}

static void
connect_pair(struct fixture *fx)
{
	snprintf(fx->client.hello_id, sizeof(fx->client.hello_id), "broker-1");
	snprintf(fx->server.hello_id, sizeof(fx->server.hello_id), "router-1");
	fx->client.link = strata_link_connect(fx->base, "127.0.0.1", fx->port,
	    &callbacks, &fx->client, 1 << 20);
	assert_true(run_until(fx, both_hellos));
}

static void
test_hello(void **state)
{
	struct fixture *fx = *state;

	connect_pair(fx);
	assert_int_equal(fx->client.ups, 1);
	assert_int_equal(fx->server.ups, 1);
	/* Each side received the other's Hello. */
	assert_string_equal(fx->client.hello_id, "router-1");
	assert_string_equal(fx->server.hello_id, "broker-1");
	assert_true(strata_link_is_up(fx->client.link));
	assert_non_null(strata_link_peer(fx->server.link));
}

static bool
all_arrived(struct fixture *fx)
{
	return fx->server.next_seq == MANY + 1;
}

static void
test_batch_order(void **state)
{
	struct fixture *fx = *state;
	Strata__Publish p = STRATA__PUBLISH__INIT;

	connect_pair(fx);
	p.topic = "a/b";
	p.payload.data = (uint8_t *)"hello";
	p.payload.len = 5;
	p.qos = 1;
	for (uint64_t i = 1; i <= MANY; i++) {
		p.seq = i;
		assert_int_equal(strata_link_send(fx->client.link,
		    STRATA_LINK_PUBLISH, &p.base), 0);
	}
	assert_true(run_until(fx, all_arrived));
	/* ~20 bytes each: 200 KB in frames of up to 64 KB. */
	assert_true(fx->server.frames_with_publish <= 8);
	assert_true(fx->server.frames_with_publish >= 2);
}

static bool
reconnected(struct fixture *fx)
{
	return fx->client.downs == 1 && fx->client.ups == 2 &&
	    fx->server.ups == 2 && fx->client.hellos == 2;
}

static void
test_reconnect(void **state)
{
	struct fixture *fx = *state;
	Strata__RouteUpdate r = STRATA__ROUTE_UPDATE__INIT;

	connect_pair(fx);
	/* The server frees its link from inside on_frame (deferred free). */
	fx->server.close_on_frame = true;
	r.filter = "x/#";
	assert_int_equal(strata_link_send(fx->client.link, STRATA_LINK_ROUTE,
	    &r.base), 0);
	assert_true(run_until(fx, reconnected));
	assert_non_null(fx->server.link);
	assert_int_equal(fx->server.downs, 0);
}

static bool
raw_accepted(struct fixture *fx)
{
	return fx->raw_fd >= 0 && fx->client.ups == 1;
}

static bool
drained(struct fixture *fx)
{
	char buf[65536];

	/* Read whatever the kernel holds, as a consumer catching up. */
	while (recv(fx->raw_fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
	return fx->client.drains >= 1;
}

static void
test_enospc(void **state)
{
	struct fixture *fx = *state;
	Strata__Publish p = STRATA__PUBLISH__INIT;
	static uint8_t payload[4096];
	const size_t max_queue = 64 * 1024;
	int rc = 0;
	bool stuck = false;

	fx->raw_mode = true;
	fx->client.link = strata_link_connect(fx->base, "127.0.0.1", fx->port,
	    &callbacks, &fx->client, max_queue);
	assert_true(run_until(fx, raw_accepted));
	p.topic = "a/b";
	p.payload.data = payload;
	p.payload.len = sizeof(payload);
	/* Fill to ENOSPC, then let the loop run ~20 turns: once a round ends
	 * with no on_drain and the queue still over half, the kernel buffers
	 * are full too.  Bounded: 2000 rounds of at most 64 sends. */
	for (int round = 0; round < 2000 && !stuck; round++) {
		int drains = fx->client.drains;

		for (int i = 0; i < 64; i++) {
			rc = strata_link_send(fx->client.link,
			    STRATA_LINK_PUBLISH, &p.base);
			if (rc != 0)
				break;
		}
		for (int i = 0; i < 20; i++) {
			event_base_loop(fx->base, EVLOOP_NONBLOCK);
			usleep(200);
		}
		stuck = rc == STRATA_ENOSPC && fx->client.drains == drains &&
		    strata_link_queued(fx->client.link) > max_queue;
	}
	assert_true(stuck);
	assert_int_equal(strata_link_send(fx->client.link, STRATA_LINK_PUBLISH,
	    &p.base), STRATA_ENOSPC);
	fx->client.drains = 0;
	assert_true(run_until(fx, drained));
	assert_true(strata_link_queued(fx->client.link) <= max_queue / 2);
	assert_int_equal(strata_link_send(fx->client.link, STRATA_LINK_PUBLISH,
	    &p.base), 0);
}

static bool
server_up(struct fixture *fx)
{
	return fx->server.ups == 1;
}

static bool
server_down(struct fixture *fx)
{
	return fx->server.downs == 1;
}

/* A length over STRATA_LINK_MAX_FRAME drops the connection at once. */
static void
test_oversized_frame(void **state)
{
	struct fixture *fx = *state;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	static const uint8_t hdr[4] = { 0xff, 0xff, 0xff, 0xff };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(fx->port);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	assert_true(run_until(fx, server_up));
	assert_int_equal(send(fd, hdr, sizeof(hdr), 0), 4);
	assert_true(run_until(fx, server_down));
	assert_false(strata_link_is_up(fx->server.link));
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hello, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_order, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reconnect, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_enospc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized_frame, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
