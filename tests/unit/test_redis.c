/*
 * test_redis.c - the Redis client without a Redis server.
 *
 * The fake: replies in order, NULL when nothing (or half a reply) is fed,
 * NULL after bytes that are not RESP or a huge array count, callbacks
 * from the loop only, set_up(false/true), subscriber messages, free with
 * commands pending, binary-safe argv in both command forms.
 *
 * The real transport against small loopback servers run on the same event
 * base: one that answers the handshake and then nothing (the deadline
 * drops the connection, the client reconnects), one that never accepts
 * (the connect deadline), one that answers +OK to every command (no
 * timeout, TCP keepalive on, PING or AUTH first) and one that refuses
 * AUTH (never up, retried, counted).  The password files of the
 * redis-*-password-file options.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "log.h"
#include "redis.h"
#include "status.h"

#define MAX_CALLS 16

/* What the loopback server answers. */
enum server_mode {
	SERVER_HELLO_ONLY, /* +OK to the handshake, then silence */
	SERVER_OK,         /* +OK to every command */
	SERVER_WRONGPASS,  /* -WRONGPASS to the handshake */
};
#define MAX_CONNS 8
#define TIMEOUT_MS 200

/* Feed a string literal, without its NUL. */
#define FEED(fx, lit) strata_redis_fake_feed((fx)->r, lit, sizeof(lit) - 1)

/* What the callbacks saw, in order. */
struct seen {
	int calls;
	int nulls;
	int types[MAX_CALLS];
	char strs[MAX_CALLS][32];
	long long ints[MAX_CALLS];
	size_t elements[MAX_CALLS];
	uint64_t at_us[MAX_CALLS];
};

struct fixture {
	struct event_base *base;
	struct strata_redis *r;
	struct strata_redis_fake fake;
	int ups;
	bool in_command;      /* inside strata_redis_command() */
	bool reentered;       /* a callback ran inside it */
	/* the last command answer() got */
	int argc;
	char argv[4][32];
	size_t argvlen[4];
	/* subscriber messages */
	int messages;
	char message[32];
	size_t message_len;
	/* a command to issue from inside a callback */
	bool chain;
	struct seen seen;
	/* loopback server */
	struct evconnlistener *listener;
	int listen_fd;        /* raw listener that never accepts, or -1 */
	int filler_fd;        /* fills its accept queue, or -1 */
	uint16_t port;
	enum server_mode mode;
	int accepts;
	int commands;
	struct bufferevent *conns[MAX_CONNS];
	bool line_start[MAX_CONNS];
	int conn_commands[MAX_CONNS];
	char first[MAX_CONNS][96]; /* the first bytes each one sent */
	size_t first_len[MAX_CONNS];
};

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Run the loop until cond(fx) holds or ms have passed. */
static bool
run_until(struct fixture *fx, bool (*cond)(struct fixture *), unsigned ms)
{
	uint64_t end = now_us() + (uint64_t)ms * 1000;

	while (now_us() < end) {
		if (cond != NULL && cond(fx))
			return true;
		event_base_loop(fx->base, EVLOOP_NONBLOCK);
		if (cond != NULL && cond(fx))
			return true;
		usleep(1000);
	}
	return cond != NULL && cond(fx);
}

/* A few turns of the loop, for the fake (nothing waits on a socket). */
static void
spin(struct fixture *fx)
{
	for (int i = 0; i < 4; i++)
		event_base_loop(fx->base, EVLOOP_NONBLOCK);
}

static void
on_up(struct strata_redis *r, void *arg)
{
	((struct fixture *)arg)->ups++;
}

static void
record(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct fixture *fx = arg;
	struct seen *s = &fx->seen;
	int i = s->calls++;

	if (fx->in_command)
		fx->reentered = true;
	assert_true(i < MAX_CALLS);
	s->at_us[i] = now_us();
	if (reply == NULL) {
		s->nulls++;
		s->types[i] = 0;
		return;
	}
	s->types[i] = reply->type;
	s->ints[i] = reply->integer;
	s->elements[i] = reply->elements;
	if (reply->str != NULL)
		snprintf(s->strs[i], sizeof(s->strs[i]), "%s", reply->str);
	if (fx->chain) {
		fx->chain = false;
		fx->in_command = true;
		strata_redis_command(r, record, fx, "PING");
		fx->in_command = false;
	}
}

/* Keep the command's argv; answer PING, ECHO and INCR like Redis. */
static void
answer(struct strata_redis *r, int argc, const char **argv,
    const size_t *argvlen, void *arg)
{
	struct fixture *fx = arg;
	char buf[64];

	fx->argc = argc;
	for (int i = 0; i < argc && i < 4; i++) {
		assert_true(argvlen[i] < sizeof(fx->argv[i]));
		memcpy(fx->argv[i], argv[i], argvlen[i] + 1);
		assert_int_equal(fx->argv[i][argvlen[i]], '\0');
		fx->argvlen[i] = argvlen[i];
	}
	if (strcmp(argv[0], "PING") == 0) {
		strata_redis_fake_feed(r, "+PONG\r\n", 7);
	} else if (strcmp(argv[0], "ECHO") == 0 && argc == 2) {
		int n = snprintf(buf, sizeof(buf), "$%zu\r\n", argvlen[1]);
		strata_redis_fake_feed(r, buf, (size_t)n);
		strata_redis_fake_feed(r, argv[1], argvlen[1]);
		strata_redis_fake_feed(r, "\r\n", 2);
	} else if (strcmp(argv[0], "INCR") == 0) {
		strata_redis_fake_feed(r, ":7\r\n", 4);
	}
	/* anything else: no reply */
}

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	strata_log_set_level(STRATA_LOG_ERROR);
	fx->base = event_base_new();
	fx->listen_fd = -1;
	fx->filler_fd = -1;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	strata_redis_free(fx->r);
	for (int i = 0; i < MAX_CONNS; i++)
		if (fx->conns[i] != NULL)
			bufferevent_free(fx->conns[i]);
	if (fx->listener != NULL)
		evconnlistener_free(fx->listener);
	if (fx->filler_fd >= 0)
		close(fx->filler_fd);
	if (fx->listen_fd >= 0)
		close(fx->listen_fd);
	event_base_free(fx->base);
	free(fx);
	return 0;
}

static void
new_fake(struct fixture *fx, bool with_answer)
{
	fx->fake.answer = with_answer ? answer : NULL;
	fx->fake.arg = fx;
	fx->r = strata_redis_new_fake(fx->base, &fx->fake, on_up, fx);
	assert_true(strata_redis_is_up(fx->r));
	assert_int_equal(fx->ups, 0); /* from the loop, not from new */
	spin(fx);
	assert_int_equal(fx->ups, 1);
}

/* Issue a command the way a callback-sensitive caller would: note whether
 * any callback runs before strata_redis_command() returns. */
static int
command(struct fixture *fx, const char *fmt, const char *arg)
{
	int rc;

	fx->in_command = true;
	rc = strata_redis_command(fx->r, record, fx, fmt, arg);
	fx->in_command = false;
	return rc;
}

static void
test_fake_in_order(void **state)
{
	struct fixture *fx = *state;

	new_fake(fx, true);
	assert_int_equal(command(fx, "PING", NULL), 0);
	assert_int_equal(command(fx, "ECHO %s", "hello"), 0);
	assert_int_equal(command(fx, "INCR %s", "n"), 0);
	assert_int_equal(fx->seen.calls, 0);
	spin(fx);
	assert_false(fx->reentered);
	assert_int_equal(fx->seen.calls, 3);
	assert_int_equal(fx->seen.types[0], REDIS_REPLY_STATUS);
	assert_string_equal(fx->seen.strs[0], "PONG");
	assert_int_equal(fx->seen.types[1], REDIS_REPLY_STRING);
	assert_string_equal(fx->seen.strs[1], "hello");
	assert_int_equal(fx->seen.types[2], REDIS_REPLY_INTEGER);
	assert_int_equal(fx->seen.ints[2], 7);
	assert_int_equal(fx->argc, 2);
	assert_string_equal(fx->argv[0], "INCR");
	assert_string_equal(fx->argv[1], "n");
	assert_int_equal(strata_redis_timeouts(fx->r), 0);
}

/* A callback's own command is answered on a later turn, after the
 * commands already in flight. */
static void
test_fake_not_reentrant(void **state)
{
	struct fixture *fx = *state;

	new_fake(fx, true);
	fx->chain = true;
	assert_int_equal(command(fx, "INCR %s", "a"), 0);
	assert_int_equal(command(fx, "ECHO %s", "b"), 0);
	spin(fx);
	assert_false(fx->reentered);
	assert_int_equal(fx->seen.calls, 3);
	assert_int_equal(fx->seen.ints[0], 7);
	assert_string_equal(fx->seen.strs[1], "b");
	assert_string_equal(fx->seen.strs[2], "PONG");
}

static void
test_fake_nothing_fed(void **state)
{
	struct fixture *fx = *state;

	new_fake(fx, false);
	assert_int_equal(command(fx, "GET %s", "k"), 0);
	spin(fx);
	assert_int_equal(fx->seen.calls, 1);
	assert_int_equal(fx->seen.nulls, 1);
	/* Fed ahead: two replies, one per command. */
	FEED(fx, "+a\r\n+b\r\n");
	command(fx, "GET %s", "x");
	command(fx, "GET %s", "y");
	/* Half a reply is no reply; the rest completes it later. */
	FEED(fx, "$3\r\nab");
	command(fx, "GET %s", "z");
	spin(fx);
	assert_int_equal(fx->seen.calls, 4);
	assert_string_equal(fx->seen.strs[1], "a");
	assert_string_equal(fx->seen.strs[2], "b");
	assert_int_equal(fx->seen.types[3], 0);
	FEED(fx, "c\r\n");
	command(fx, "GET %s", "z");
	spin(fx);
	assert_int_equal(fx->seen.calls, 5);
	assert_int_equal(fx->seen.types[4], REDIS_REPLY_STRING);
	assert_string_equal(fx->seen.strs[4], "abc");
	assert_int_equal(fx->seen.nulls, 2);
}

static void
test_fake_garbage(void **state)
{
	struct fixture *fx = *state;

	new_fake(fx, false);
	FEED(fx, "?what\r\n+ok\r\n");
	command(fx, "GET %s", "k");
	command(fx, "GET %s", "k");
	spin(fx);
	/* The reader was reset: "+ok" went with the garbage. */
	assert_int_equal(fx->seen.calls, 2);
	assert_int_equal(fx->seen.nulls, 2);
	FEED(fx, "-ERR no\r\n");
	command(fx, "GET %s", "k");
	spin(fx);
	assert_int_equal(fx->seen.types[2], REDIS_REPLY_ERROR);
	assert_string_equal(fx->seen.strs[2], "ERR no");
	/* An array count hiredis would allocate blindly is refused; nested
	 * arrays of a sane size are fine. */
	FEED(fx, "*1000000000\r\n");
	command(fx, "GET %s", "k");
	spin(fx);
	FEED(fx, "*2\r\n$1\r\na\r\n*1\r\n:5\r\n");
	command(fx, "GET %s", "k");
	spin(fx);
	assert_int_equal(fx->seen.calls, 5);
	assert_int_equal(fx->seen.types[3], 0);
	assert_int_equal(fx->seen.types[4], REDIS_REPLY_ARRAY);
	assert_int_equal(fx->seen.elements[4], 2);
}

static void
test_fake_set_up(void **state)
{
	struct fixture *fx = *state;

	new_fake(fx, true);
	assert_int_equal(command(fx, "PING", NULL), 0);
	strata_redis_fake_set_up(fx->r, false);
	assert_false(strata_redis_is_up(fx->r));
	assert_int_equal(command(fx, "PING", NULL), STRATA_AGAIN);
	assert_int_equal(fx->seen.calls, 0);
	spin(fx);
	assert_false(fx->reentered);
	assert_int_equal(fx->seen.calls, 2);
	assert_int_equal(fx->seen.nulls, 2);
	assert_int_equal(fx->ups, 1);
	strata_redis_fake_set_up(fx->r, true);
	assert_true(strata_redis_is_up(fx->r));
	spin(fx);
	assert_int_equal(fx->ups, 2);
	assert_int_equal(strata_redis_reconnects(fx->r), 1);
	assert_int_equal(command(fx, "PING", NULL), 0);
	spin(fx);
	assert_int_equal(fx->seen.calls, 3);
	assert_string_equal(fx->seen.strs[2], "PONG");
}

static void
on_message(struct strata_redis *r, const char *msg, size_t len, void *arg)
{
	struct fixture *fx = arg;

	assert_false(fx->in_command);
	assert_true(len <= sizeof(fx->message));
	fx->messages++;
	memcpy(fx->message, msg, len);
	fx->message_len = len;
}

static void
test_fake_subscriber(void **state)
{
	struct fixture *fx = *state;

	fx->fake.answer = answer;
	fx->fake.arg = fx;
	fx->r = strata_redis_new_fake(fx->base, &fx->fake, on_up, fx);
	/* Not subscribed yet: ignored. */
	strata_redis_fake_message(fx->r, "x", 1);
	strata_redis_subscribe(fx->r, "strata:node:1", on_message, fx);
	spin(fx);
	assert_int_equal(fx->ups, 1);
	assert_int_equal(fx->messages, 0);
	assert_int_equal(fx->argc, 0); /* SUBSCRIBE is not answered */
	fx->in_command = true;
	strata_redis_fake_message(fx->r, "a\0b", 3);
	fx->in_command = false;
	assert_int_equal(fx->messages, 0);
	spin(fx);
	assert_int_equal(fx->messages, 1);
	assert_int_equal(fx->message_len, 3);
	assert_memory_equal(fx->message, "a\0b", 3);
	/* Away: lost, as with Redis. */
	strata_redis_fake_set_up(fx->r, false);
	strata_redis_fake_message(fx->r, "y", 1);
	strata_redis_fake_set_up(fx->r, true);
	spin(fx);
	assert_int_equal(fx->messages, 1);
	assert_int_equal(fx->ups, 2);
}

static void
test_fake_free_pending(void **state)
{
	struct fixture *fx = *state;

	new_fake(fx, true);
	command(fx, "PING", NULL);
	command(fx, "PING", NULL);
	strata_redis_free(fx->r);
	fx->r = NULL;
	assert_int_equal(fx->seen.calls, 2);
	assert_int_equal(fx->seen.nulls, 2);
	spin(fx);
	assert_int_equal(fx->seen.calls, 2);
}

static void
test_fake_binary_argv(void **state)
{
	struct fixture *fx = *state;
	const char *argv[] = { "ECHO", "a\0b\r\nc" };
	const size_t argvlen[] = { 4, 6 };

	new_fake(fx, true);
	assert_int_equal(strata_redis_commandv(fx->r, record, fx, 2, argv,
	    argvlen), 0);
	assert_int_equal(fx->argc, 2);
	assert_int_equal(fx->argvlen[1], 6);
	assert_memory_equal(fx->argv[1], "a\0b\r\nc", 6);
	spin(fx);
	assert_int_equal(fx->seen.calls, 1);
	assert_int_equal(fx->seen.types[0], REDIS_REPLY_STRING);
	assert_int_equal(strata_redis_command(fx->r, record, fx, "SET %s %b",
	    "k", "x\0y", (size_t)3), 0);
	assert_int_equal(fx->argc, 3);
	assert_string_equal(fx->argv[0], "SET");
	assert_int_equal(fx->argvlen[2], 3);
	assert_memory_equal(fx->argv[2], "x\0y", 3);
	spin(fx);
	assert_int_equal(fx->seen.calls, 2);
	assert_int_equal(fx->seen.nulls, 1); /* SET: no reply fed */
}

/* The loopback server. */

/* The answer to command n (0: the handshake) of a connection, or
 * NULL. */
static const char *
server_answer(const struct fixture *fx, int n)
{
	switch (fx->mode) {
	case SERVER_HELLO_ONLY:
		return n == 0 ? "+OK\r\n" : NULL;
	case SERVER_OK:
		return "+OK\r\n";
	case SERVER_WRONGPASS:
		return n == 0 ? "-WRONGPASS invalid username-password pair "
		    "or user is disabled.\r\n" : "+OK\r\n";
	}
	return NULL;
}

/* Answer each command as the mode says: one per RESP array header line.
 * The first bytes of each connection are kept. */
static void
server_read_cb(struct bufferevent *bev, void *arg)
{
	struct fixture *fx = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	const char *reply;
	int i = 0;
	char c;

	while (i < MAX_CONNS && fx->conns[i] != bev)
		i++;
	assert_true(i < MAX_CONNS);
	while (evbuffer_remove(in, &c, 1) == 1) {
		if (fx->first_len[i] < sizeof(fx->first[i]) - 1)
			fx->first[i][fx->first_len[i]++] = c;
		if (fx->line_start[i] && c == '*') {
			fx->commands++;
			reply = server_answer(fx, fx->conn_commands[i]++);
			if (reply != NULL)
				bufferevent_write(bev, reply, strlen(reply));
		}
		fx->line_start[i] = c == '\n';
	}
}

static void
accept_cb(struct evconnlistener *lis, evutil_socket_t fd,
    struct sockaddr *sa, int socklen, void *arg)
{
	struct fixture *fx = arg;
	struct bufferevent *bev;

	assert_true(fx->accepts < MAX_CONNS);
	bev = bufferevent_socket_new(fx->base, fd, BEV_OPT_CLOSE_ON_FREE);
	assert_non_null(bev);
	fx->conns[fx->accepts] = bev;
	fx->line_start[fx->accepts] = true;
	fx->accepts++;
	bufferevent_setcb(bev, server_read_cb, NULL, NULL, fx);
	bufferevent_enable(bev, EV_READ);
}

static void
start_server(struct fixture *fx, enum server_mode mode)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fx->mode = mode;
	fx->listener = evconnlistener_new_bind(fx->base, accept_cb, fx,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
	    (struct sockaddr *)&sin, sizeof(sin));
	assert_non_null(fx->listener);
	getsockname(evconnlistener_get_fd(fx->listener),
	    (struct sockaddr *)&sin, &sl);
	fx->port = ntohs(sin.sin_port);
}

static bool
client_up(struct fixture *fx)
{
	return fx->ups >= 1 && fx->accepts >= 1;
}

static bool
one_call(struct fixture *fx)
{
	return fx->seen.calls >= 1;
}

static bool
reconnected(struct fixture *fx)
{
	return fx->accepts >= 2 && fx->ups >= 2;
}

static bool
three_calls(struct fixture *fx)
{
	return fx->seen.calls >= 3;
}

static void
connect_client(struct fixture *fx)
{
	fx->r = strata_redis_new(fx->base, "127.0.0.1", fx->port, on_up, fx);
	strata_redis_set_timeout(fx->r, TIMEOUT_MS);
	assert_true(run_until(fx, client_up, 500));
	assert_true(strata_redis_is_up(fx->r));
}

/* A server that accepts and never answers: the commands fail within the
 * timeout and a margin, each once, and the client connects again. */
static void
test_real_stuck(void **state)
{
	struct fixture *fx = *state;
	uint64_t sent, waited_ms;

	start_server(fx, SERVER_HELLO_ONLY);
	connect_client(fx);
	sent = now_us();
	for (int i = 0; i < 3; i++)
		assert_int_equal(strata_redis_command(fx->r, record, fx,
		    "PING"), 0);
	assert_true(run_until(fx, three_calls, TIMEOUT_MS + 300));
	waited_ms = (fx->seen.at_us[0] - sent) / 1000;
	assert_true(waited_ms >= TIMEOUT_MS);
	assert_true(waited_ms <= TIMEOUT_MS + 150);
	assert_int_equal(fx->seen.nulls, 3);
	assert_int_equal(strata_redis_timeouts(fx->r), 1);
	assert_false(strata_redis_is_up(fx->r));
	assert_true(run_until(fx, reconnected, 600));
	assert_int_equal(strata_redis_reconnects(fx->r), 1);
	assert_int_equal(fx->seen.calls, 3);
	assert_int_equal(strata_redis_timeouts(fx->r), 1);
}

/* With no deadline the same server leaves the command waiting. */
static void
test_real_no_deadline(void **state)
{
	struct fixture *fx = *state;

	start_server(fx, SERVER_HELLO_ONLY);
	connect_client(fx);
	strata_redis_set_timeout(fx->r, 0);
	assert_int_equal(strata_redis_command(fx->r, record, fx, "PING"), 0);
	run_until(fx, NULL, TIMEOUT_MS + 100);
	assert_int_equal(fx->seen.calls, 0);
	assert_int_equal(strata_redis_timeouts(fx->r), 0);
	assert_true(strata_redis_is_up(fx->r));
	/* Turned on again: applies to the command already waiting. */
	strata_redis_set_timeout(fx->r, 50);
	assert_true(run_until(fx, one_call, 300));
	assert_int_equal(fx->seen.nulls, 1);
	assert_int_equal(strata_redis_timeouts(fx->r), 1);
	/* free with nothing pending must not call it again */
	strata_redis_free(fx->r);
	fx->r = NULL;
	assert_int_equal(fx->seen.calls, 1);
}

/* The client's end of the server's connection i has SO_KEEPALIVE: find
 * it among our own descriptors by its local port. */
static int
client_keepalive(struct fixture *fx, int i)
{
	struct sockaddr_in peer, local;
	socklen_t sl = sizeof(peer);
	int on = -1;

	assert_int_equal(getpeername(bufferevent_getfd(fx->conns[i]),
	    (struct sockaddr *)&peer, &sl), 0);
	for (int fd = 3; fd < 1024; fd++) {
		socklen_t ll = sizeof(local), ol = sizeof(on);

		if (getsockname(fd, (struct sockaddr *)&local, &ll) != 0 ||
		    local.sin_family != AF_INET ||
		    local.sin_port != peer.sin_port)
			continue;
		assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on,
		    &ol), 0);
		return on;
	}
	fail_msg("client socket not found");
	return -1;
}

/* A server that answers: replies arrive, no deadline passes, even with
 * the connection idle for longer than the timeout. */
static void
test_real_answers(void **state)
{
	struct fixture *fx = *state;

	start_server(fx, SERVER_OK);
	connect_client(fx);
	assert_int_equal(client_keepalive(fx, 0), 1);
	/* without a password, PING is the handshake */
	assert_memory_equal(fx->first[0], "*1\r\n$4\r\nPING\r\n", 14);
	for (int i = 0; i < 3; i++)
		assert_int_equal(strata_redis_command(fx->r, record, fx,
		    "PING"), 0);
	assert_true(run_until(fx, three_calls, 500));
	for (int i = 0; i < 3; i++) {
		assert_int_equal(fx->seen.types[i], REDIS_REPLY_STATUS);
		assert_string_equal(fx->seen.strs[i], "OK");
	}
	run_until(fx, NULL, TIMEOUT_MS + 50);
	assert_int_equal(fx->commands, 1 + 3);
	assert_int_equal(strata_redis_timeouts(fx->r), 0);
	assert_int_equal(strata_redis_reconnects(fx->r), 0);
	assert_int_equal(fx->accepts, 1);
	assert_true(strata_redis_is_up(fx->r));
}

/* A listener whose accept queue is full drops the SYN: the connect attempt
 * hangs until its deadline. */
static void
start_full_listener(struct fixture *fx)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fx->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fx->listen_fd >= 0);
	assert_int_equal(bind(fx->listen_fd, (struct sockaddr *)&sin,
	    sizeof(sin)), 0);
	assert_int_equal(listen(fx->listen_fd, 0), 0);
	getsockname(fx->listen_fd, (struct sockaddr *)&sin, &sl);
	fx->port = ntohs(sin.sin_port);
	fx->filler_fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(fx->filler_fd, (struct sockaddr *)&sin,
	    sizeof(sin)), 0);
}

static bool
one_timeout(struct fixture *fx)
{
	return strata_redis_timeouts(fx->r) >= 1;
}

static bool
two_timeouts(struct fixture *fx)
{
	return strata_redis_timeouts(fx->r) >= 2;
}

static void
test_real_connect_deadline(void **state)
{
	struct fixture *fx = *state;
	uint64_t start;

	start_full_listener(fx);
	start = now_us();
	fx->r = strata_redis_new(fx->base, "127.0.0.1", fx->port, on_up, fx);
	strata_redis_set_timeout(fx->r, TIMEOUT_MS);
	assert_true(run_until(fx, one_timeout, TIMEOUT_MS + 300));
	assert_true(now_us() - start >= (TIMEOUT_MS - 5) * 1000);
	assert_false(strata_redis_is_up(fx->r));
	assert_int_equal(fx->ups, 0);
	assert_int_equal(strata_redis_command(fx->r, record, fx, "PING"),
	    STRATA_AGAIN);
	assert_true(run_until(fx, one_call, 100));
	assert_int_equal(fx->seen.nulls, 1);
	/* Retried after the (shortened) retry delay, and abandoned again. */
	assert_true(run_until(fx, two_timeouts, 2 * TIMEOUT_MS + 200));
	assert_int_equal(fx->ups, 0);
}

/* free with commands in flight: each callback runs once, with NULL,
 * before free returns. */
static void
test_real_free_pending(void **state)
{
	struct fixture *fx = *state;

	start_server(fx, SERVER_HELLO_ONLY);
	connect_client(fx);
	assert_int_equal(strata_redis_command(fx->r, record, fx, "PING"), 0);
	assert_int_equal(strata_redis_command(fx->r, record, fx, "PING"), 0);
	strata_redis_free(fx->r);
	fx->r = NULL;
	assert_int_equal(fx->seen.calls, 2);
	assert_int_equal(fx->seen.nulls, 2);
	run_until(fx, NULL, 20);
	assert_int_equal(fx->seen.calls, 2);
}

/* A client with a user and a password, against a server in mode. */
static void
open_with_auth(struct fixture *fx, enum server_mode mode, const char *user)
{
	struct strata_redis_opts o = {
		.host = "127.0.0.1",
		.timeout_ms = TIMEOUT_MS,
		.user = user,
		.password = "s3cret pass",
	};

	start_server(fx, mode);
	o.port = fx->port;
	fx->r = strata_redis_open(fx->base, &o, on_up, fx);
}

/* AUTH is the first command, binary safe, with the user when one is
 * named; then the client is up. */
static void
test_real_auth_sent(void **state)
{
	static const char with_user[] = "*3\r\n$4\r\nAUTH\r\n$6\r\nstrata"
	    "\r\n$11\r\ns3cret pass\r\n";
	static const char without[] = "*2\r\n$4\r\nAUTH\r\n$11\r\n"
	    "s3cret pass\r\n";
	struct fixture *fx = *state;

	open_with_auth(fx, SERVER_OK, "strata");
	assert_true(run_until(fx, client_up, 500));
	assert_true(fx->first_len[0] >= sizeof(with_user) - 1);
	assert_memory_equal(fx->first[0], with_user, sizeof(with_user) - 1);
	assert_int_equal(strata_redis_connect_failures(fx->r,
	    STRATA_REDIS_FAIL_AUTH), 0);
	strata_redis_free(fx->r);
	fx->r = NULL;
	evconnlistener_free(fx->listener);
	fx->listener = NULL;
	fx->ups = 0;
	open_with_auth(fx, SERVER_OK, ""); /* "": the default user */
	assert_true(run_until(fx, client_up, 500));
	assert_memory_equal(fx->first[1], without, sizeof(without) - 1);
}

static bool
two_auth_failures(struct fixture *fx)
{
	return strata_redis_connect_failures(fx->r,
	    STRATA_REDIS_FAIL_AUTH) >= 2;
}

/* A refused AUTH: never up, commands refused, the attempt retried and
 * counted under its own reason. */
static void
test_real_auth_refused(void **state)
{
	struct fixture *fx = *state;

	open_with_auth(fx, SERVER_WRONGPASS, "strata");
	assert_true(run_until(fx, two_auth_failures, 3 * TIMEOUT_MS + 300));
	assert_true(fx->accepts >= 2);
	assert_int_equal(fx->ups, 0);
	assert_false(strata_redis_is_up(fx->r));
	assert_int_equal(strata_redis_command(fx->r, record, fx, "PING"),
	    STRATA_AGAIN);
	assert_int_equal(strata_redis_connect_failures(fx->r,
	    STRATA_REDIS_FAIL_NETWORK), 0);
	assert_int_equal(strata_redis_connect_failures(fx->r,
	    STRATA_REDIS_FAIL_TIMEOUT), 0);
	assert_string_equal(strata_redis_failure_name(STRATA_REDIS_FAIL_AUTH),
	    "auth");
}

/* Write data (len bytes) to a fresh temporary file; its path in path. */
static void
temp_file(char *path, size_t size, const char *data, size_t len)
{
	int fd;

	snprintf(path, size, "/tmp/strata-test-redis-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* Load one password file as redis-password-file: rc, and the password
 * or the error in out. */
static int
load_password(const char *data, size_t len, const char *user, char *out,
    size_t outlen)
{
	struct strata_redis_secrets s = { NULL, NULL, NULL };
	char path[64];
	int rc;

	temp_file(path, sizeof(path), data, len);
	rc = strata_redis_secrets_load(&s, user, path, NULL, NULL, out,
	    outlen);
	if (rc == 0)
		snprintf(out, outlen, "%s", s.password);
	unlink(path);
	strata_redis_secrets_free(&s);
	assert_null(s.password);
	return rc;
}

static void
test_password_files(void **state)
{
	struct strata_redis_secrets s = { NULL, NULL, NULL };
	char got[256];

	(void)state;
	assert_int_equal(load_password("pw one\n", 7, "strata", got,
	    sizeof(got)), 0);
	assert_string_equal(got, "pw one");
	assert_int_equal(load_password("pw\r\n", 4, NULL, got, sizeof(got)),
	    0);
	assert_string_equal(got, "pw");
	assert_int_equal(load_password("\n", 1, NULL, got, sizeof(got)),
	    STRATA_EINVAL);
	assert_non_null(strstr(got, "redis-password-file"));
	assert_int_equal(load_password("a\0b", 3, NULL, got, sizeof(got)),
	    STRATA_EINVAL);
	assert_non_null(strstr(got, "NUL"));
	/* unreadable */
	assert_int_equal(strata_redis_secrets_load(&s, NULL,
	    "/nonexistent/redis.password", NULL, NULL, got, sizeof(got)),
	    STRATA_EINVAL);
	assert_non_null(strstr(got, "redis-password-file "
	    "/nonexistent/redis.password: "));
	assert_int_equal(strata_redis_secrets_load(&s, NULL, NULL, NULL,
	    "/nonexistent/s", got, sizeof(got)), STRATA_EINVAL);
	assert_non_null(strstr(got, "redis-sentinel-password-file"));
	/* a user needs a password */
	assert_int_equal(strata_redis_secrets_load(&s, "strata", "", NULL,
	    NULL, got, sizeof(got)), STRATA_EINVAL);
	assert_non_null(strstr(got, "redis-user"));
	/* none: no AUTH */
	assert_int_equal(strata_redis_secrets_load(&s, "", "", "", "", got,
	    sizeof(got)), 0);
	assert_null(s.password);
	assert_null(s.sentinel_password);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fake_in_order, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_fake_not_reentrant, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_fake_nothing_fed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_fake_garbage, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_fake_set_up, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_fake_subscriber, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_fake_free_pending, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_fake_binary_argv, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_real_stuck, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_real_no_deadline, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_real_answers, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_real_connect_deadline,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_real_free_pending, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_real_auth_sent, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_real_auth_refused, setup,
		    teardown),
		cmocka_unit_test(test_password_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
