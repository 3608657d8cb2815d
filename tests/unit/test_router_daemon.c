/*
 * test_router_daemon.c - the whole strata-router against a real
 * redis-server, driven by two broker links built with strata_link.
 *
 * Starts redis-server and strata-router (from this build) on free loopback
 * ports, then checks: Hello, partition claim, routes and one Deliver per
 * broker, PublishAck only once every destination took its Deliver
 * (DeliverAck), retained store / request / delete in Redis, a broker whose
 * link drops: its Delivers wait for it (redelivered when it comes back,
 * settled when its lease is gone), retained reloaded after a restart,
 * /healthz, Barrier -> BarrierAck only after the routes sent before it, a
 * resync swapped in at COMMIT, and exit 0 on SIGTERM.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "link.h"
#include "status.h"
#include "topic.h"

#define MAXREC 64

struct broker {
	const char *id;
	uint64_t boot;
	uint32_t protocol;     /* of its Hello: broker-1 speaks 2 (the
				  release before not_owner), broker-2 3 */
	bool no_acks;          /* take no Delivers (no DeliverAck) */
	struct strata_link *link;
	bool hello;
	char hello_id[32];
	int hello_kind;
	int ndeliver;
	struct {
		char topic[32], target[32], filter[32], payload[32];
		bool retain;
		uint32_t qos;
	} deliver[MAXREC];
	int nack;
	struct { uint64_t seq; uint32_t reason; bool not_owner; } ack[MAXREC];
	int nserving;          /* PartitionServing received */
	int nbarrier_ack;
	uint64_t barrier_ack[MAXREC];
};

struct fixture {
	struct event_base *base;
	pid_t redis_pid, router_pid;
	uint16_t redis_port, link_port, metrics_port;
	redisContext *rc;
	struct broker b1, b2;
};

static uint16_t
free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	getsockname(fd, (struct sockaddr *)&sin, &sl);
	close(fd);
	return ntohs(sin.sin_port);
}

/* Start argv; quiet: its stdout goes to /dev/null (Redis's banner). */
static pid_t
spawn(char *const argv[], bool quiet)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		if (quiet && freopen("/dev/null", "w", stdout) == NULL)
			_exit(126);
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static void
start_router(struct fixture *fx)
{
	char exe[PATH_MAX], path[PATH_MAX + 32];
	char rport[8], lport[8], mport[8];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	assert_true(n > 0);
	exe[n] = '\0';
	snprintf(path, sizeof(path), "%s/../bin/strata-router", dirname(exe));
	snprintf(rport, sizeof(rport), "%u", fx->redis_port);
	snprintf(lport, sizeof(lport), "%u", fx->link_port);
	snprintf(mport, sizeof(mport), "%u", fx->metrics_port);
	char *const argv[] = { path, "--node-id", "r-test", "--redis-port",
		rport, "--port", lport, "--metrics-port", mport,
		"--log-level", "warn", NULL };
	fx->router_pid = spawn(argv, false);
}

static int
stop_router(struct fixture *fx)
{
	int status = -1;

	kill(fx->router_pid, SIGTERM);
	waitpid(fx->router_pid, &status, 0);
	fx->router_pid = 0;
	return status;
}

/* Run the loop until cond holds, for at most ~8 s. */
static bool
run_until(struct fixture *fx, bool (*cond)(struct fixture *))
{
	for (int i = 0; i < 800; i++) {
		if (cond(fx))
			return true;
		event_base_loop(fx->base, EVLOOP_NONBLOCK);
		usleep(10000);
	}
	return cond(fx);
}

static void
on_frame(struct strata_link *l, const Strata__Frame *f, void *arg)
{
	struct broker *b = arg;

	if (f->hello != NULL) {
		b->hello = true;
		b->hello_kind = f->hello->kind;
		snprintf(b->hello_id, sizeof(b->hello_id), "%s",
		    f->hello->node_id);
	}
	for (size_t i = 0; i < f->n_deliver && b->ndeliver < MAXREC; i++) {
		const Strata__Deliver *d = f->deliver[i];
		int k = b->ndeliver++;

		if (d->id != 0 && !b->no_acks) {
			Strata__DeliverAck a = STRATA__DELIVER_ACK__INIT;

			a.up_to = d->id;
			strata_link_send(l, STRATA_LINK_DELIVER_ACK, &a.base);
		}

		snprintf(b->deliver[k].topic, 32, "%s", d->topic);
		snprintf(b->deliver[k].target, 32, "%s", d->target_client_id);
		snprintf(b->deliver[k].filter, 32, "%s", d->target_filter);
		snprintf(b->deliver[k].payload, 32, "%.*s",
		    (int)d->payload.len, d->payload.data);
		b->deliver[k].retain = d->retain;
		b->deliver[k].qos = d->qos;
	}
	for (size_t i = 0; i < f->n_publish_ack && b->nack < MAXREC; i++) {
		b->ack[b->nack].seq = f->publish_ack[i]->seq;
		b->ack[b->nack].reason = f->publish_ack[i]->reason;
		b->ack[b->nack].not_owner = f->publish_ack[i]->not_owner;
		b->nack++;
	}
	b->nserving += (int)f->n_partition_serving;
	for (size_t i = 0; i < f->n_barrier_ack && b->nbarrier_ack < MAXREC;
	    i++)
		b->barrier_ack[b->nbarrier_ack++] = f->barrier_ack[i]->seq;
}

static void
on_up(struct strata_link *l, void *arg)
{
	struct broker *b = arg;
	Strata__Hello h = STRATA__HELLO__INIT;
	Strata__RouteUpdate r = STRATA__ROUTE_UPDATE__INIT;

	h.node_id = (char *)b->id;
	h.kind = STRATA__NODE_KIND__NODE_BROKER;
	h.protocol = b->protocol;
	h.boot = b->boot;
	strata_link_send(l, STRATA_LINK_HELLO, &h.base);
	r.op = STRATA__ROUTE_UPDATE__OP__RESET;
	strata_link_send(l, STRATA_LINK_ROUTE, &r.base);
	r.op = STRATA__ROUTE_UPDATE__OP__COMMIT;
	strata_link_send(l, STRATA_LINK_ROUTE, &r.base);
}

static void
on_down(struct strata_link *l, void *arg)
{
	((struct broker *)arg)->hello = false;
}

static const struct strata_link_callbacks callbacks = {
	.on_frame = on_frame, .on_up = on_up, .on_down = on_down,
};

static bool
redis_ready(struct fixture *fx)
{
	if (fx->rc == NULL) {
		fx->rc = redisConnect("127.0.0.1", fx->redis_port);
		if (fx->rc != NULL && fx->rc->err) {
			redisFree(fx->rc);
			fx->rc = NULL;
		}
	}
	return fx->rc != NULL;
}

static long long
redis_int(struct fixture *fx, const char *fmt, const char *arg)
{
	redisReply *rep = redisCommand(fx->rc, fmt, arg);
	long long v;

	assert_non_null(rep);
	v = rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
	freeReplyObject(rep);
	return v;
}

static bool
all_claimed(struct fixture *fx)
{
	return redis_int(fx, "HLEN %s", "strata:{part}:map") == STRATA_PARTITIONS;
}

static bool
both_hello(struct fixture *fx)
{
	return fx->b1.hello && fx->b2.hello;
}

/* PartitionJoin(p, gen) from b, as a broker sends it after its routes. */
static void
join(struct broker *b, uint32_t p, uint64_t gen)
{
	Strata__PartitionJoin j = STRATA__PARTITION_JOIN__INIT;

	j.partition = p;
	j.generation = gen;
	assert_int_equal(strata_link_send(b->link, STRATA_LINK_PARTITION_JOIN,
	    &j.base), 0);
}

static uint64_t
partition_gen(struct fixture *fx, uint32_t p)
{
	redisReply *rep = redisCommand(fx->rc, "HGET strata:{part}:gen %u", p);
	uint64_t gen;

	assert_non_null(rep);
	gen = rep->type == REDIS_REPLY_STRING ? strtoull(rep->str, NULL, 10) :
	    0;
	freeReplyObject(rep);
	return gen;
}

static bool
both_served(struct fixture *fx)
{
	return fx->b1.nserving >= STRATA_PARTITIONS &&
	    fx->b2.nserving >= STRATA_PARTITIONS;
}

/* Both brokers join every partition, as real ones do, and wait for
 * PartitionServing: the router routes (and acknowledges) only the
 * publishes of partitions it serves. */
static void
connect_brokers(struct fixture *fx)
{
	fx->b1.link = strata_link_connect(fx->base, "127.0.0.1", fx->link_port,
	    &callbacks, &fx->b1, 1 << 20);
	fx->b2.link = strata_link_connect(fx->base, "127.0.0.1", fx->link_port,
	    &callbacks, &fx->b2, 1 << 20);
	assert_true(run_until(fx, both_hello));
	fx->b1.nserving = fx->b2.nserving = 0;
	for (uint32_t p = 0; p < STRATA_PARTITIONS; p++) {
		uint64_t gen = partition_gen(fx, p);

		join(&fx->b1, p, gen);
		join(&fx->b2, p, gen);
	}
	assert_true(run_until(fx, both_served));
}

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	char port[8];

	fx->base = event_base_new();
	fx->redis_port = free_port();
	fx->link_port = free_port();
	fx->metrics_port = free_port();
	fx->b1.id = "broker-1";
	fx->b2.id = "broker-2";
	fx->b1.boot = 1;
	fx->b2.boot = 2;
	fx->b1.protocol = 2;
	fx->b2.protocol = 3;
	snprintf(port, sizeof(port), "%u", fx->redis_port);
	char *const argv[] = { "redis-server", "--port", port, "--bind",
		"127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize",
		"no", "--loglevel", "warning", NULL };
	fx->redis_pid = spawn(argv, true);
	assert_true(run_until(fx, redis_ready));
	start_router(fx);
	assert_true(run_until(fx, all_claimed));
	connect_brokers(fx);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;
	int status;

	strata_link_free(fx->b1.link);
	strata_link_free(fx->b2.link);
	if (fx->router_pid > 0)
		stop_router(fx);
	if (fx->rc != NULL)
		redisFree(fx->rc);
	kill(fx->redis_pid, SIGTERM);
	waitpid(fx->redis_pid, &status, 0);
	event_base_free(fx->base);
	free(fx);
	return 0;
}

static void
route(struct broker *b, Strata__RouteUpdate__Op op, const char *filter)
{
	Strata__RouteUpdate r = STRATA__ROUTE_UPDATE__INIT;

	r.op = op;
	r.filter = (char *)filter;
	assert_int_equal(strata_link_send(b->link, STRATA_LINK_ROUTE,
	    &r.base), 0);
}

static void
publish(struct broker *b, uint64_t seq, const char *topic, const char *pl,
    uint32_t qos, bool retain)
{
	Strata__Publish p = STRATA__PUBLISH__INIT;

	p.seq = seq;
	p.topic = (char *)topic;
	p.payload.data = (uint8_t *)pl;
	p.payload.len = strlen(pl);
	p.qos = qos;
	p.retain = retain;
	p.client_id = "pub";
	p.partition = strata_topic_partition((const uint8_t *)topic,
	    strlen(topic), 3);
	assert_int_equal(strata_link_send(b->link, STRATA_LINK_PUBLISH,
	    &p.base), 0);
}

static void
retained_request(struct broker *b, const char *client, const char *filter)
{
	Strata__RetainedRequest q = STRATA__RETAINED_REQUEST__INIT;

	q.client_id = (char *)client;
	q.filter = (char *)filter;
	assert_int_equal(strata_link_send(b->link,
	    STRATA_LINK_RETAINED_REQUEST, &q.base), 0);
}

static void
barrier(struct broker *b, uint64_t seq)
{
	Strata__Barrier m = STRATA__BARRIER__INIT;

	m.seq = seq;
	assert_int_equal(strata_link_send(b->link, STRATA_LINK_BARRIER,
	    &m.base), 0);
}

static int want_acks1;

/* The reason of b's ack of seq, -1 if none came. */
static int
ack_reason(const struct broker *b, uint64_t seq)
{
	for (int i = 0; i < b->nack; i++)
		if (b->ack[i].seq == seq)
			return (int)b->ack[i].reason;
	return -1;
}

static bool
b1_acks(struct fixture *fx)
{
	return fx->b1.nack >= want_acks1;
}

static void
test_hello_and_claim(void **state)
{
	struct fixture *fx = *state;
	char cmd[128];
	FILE *f;
	char line[256] = "";

	assert_string_equal(fx->b1.hello_id, "r-test");
	assert_int_equal(fx->b1.hello_kind, STRATA__NODE_KIND__NODE_ROUTER);
	assert_int_equal(redis_int(fx, "EXISTS %s",
	    "strata:router:r-test:alive"), 1);
	redisReply *rep = redisCommand(fx->rc, "HGET strata:{part}:map 17");
	assert_string_equal(rep->str, "r-test");
	freeReplyObject(rep);
	rep = redisCommand(fx->rc, "HGET strata:routers r-test");
	assert_int_equal(rep->type, REDIS_REPLY_STRING);
	assert_non_null(strstr(rep->str, "127.0.0.1:"));
	freeReplyObject(rep);
	/* /healthz is 200 with Redis up and partitions owned. */
	snprintf(cmd, sizeof(cmd), "curl -s -o /dev/null -w '%%{http_code}' "
	    "http://127.0.0.1:%u/healthz", fx->metrics_port);
	f = popen(cmd, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	pclose(f);
	assert_string_equal(line, "200");
}

static bool
b2_acked(struct fixture *fx)
{
	return fx->b2.nack >= 1;
}

static bool
b2_acks2(struct fixture *fx)
{
	return fx->b2.nack >= 2;
}

static void
test_deliver_and_ack(void **state)
{
	struct fixture *fx = *state;

	route(&fx->b1, STRATA__ROUTE_UPDATE__OP__ADD, "a/+");
	route(&fx->b1, STRATA__ROUTE_UPDATE__OP__ADD, "a/#");
	route(&fx->b2, STRATA__ROUTE_UPDATE__OP__ADD, "a/b");
	/* b2's route must be in before b1 publishes on another link: the ack
	 * of a probe sent after it on b2's link proves it. */
	publish(&fx->b2, 100, "probe/x", "p", 1, false);
	assert_true(run_until(fx, b2_acked));
	publish(&fx->b1, 1, "a/b", "hello", 1, false);
	publish(&fx->b1, 2, "z/z", "nobody", 1, false);
	publish(&fx->b1, 0, "a/c", "qos0", 0, false);
	want_acks1 = 2;
	assert_true(run_until(fx, b1_acks));
	usleep(100000);
	event_base_loop(fx->base, EVLOOP_NONBLOCK);
	/* seq 2 (no destination) may be answered before seq 1, which waits
	 * for both brokers' DeliverAcks */
	assert_int_equal(fx->b1.nack, 2);
	assert_int_equal(ack_reason(&fx->b1, 1), 0);
	assert_int_equal(ack_reason(&fx->b1, 2), 0x10);
	/* b1 holds two matching filters but gets one Deliver per publish. */
	assert_int_equal(fx->b1.ndeliver, 2);
	assert_string_equal(fx->b1.deliver[0].topic, "a/b");
	assert_string_equal(fx->b1.deliver[0].payload, "hello");
	assert_int_equal(fx->b1.deliver[0].qos, 1);
	assert_string_equal(fx->b1.deliver[1].topic, "a/c");
	assert_int_equal(fx->b2.ndeliver, 1);
	assert_string_equal(fx->b2.deliver[0].topic, "a/b");
	/* REMOVE, and an empty resync, then a publish finds no route. */
	route(&fx->b2, STRATA__ROUTE_UPDATE__OP__REMOVE, "a/b");
	route(&fx->b1, STRATA__ROUTE_UPDATE__OP__RESET, "");
	route(&fx->b1, STRATA__ROUTE_UPDATE__OP__COMMIT, "");
	publish(&fx->b1, 3, "a/b", "again", 1, false);
	want_acks1 = 3;
	assert_true(run_until(fx, b1_acks));
	assert_int_equal(fx->b1.ack[2].reason, 0x10);
	assert_int_equal(fx->b1.ndeliver, 2);
}

static bool
b2_delivers2(struct fixture *fx)
{
	return fx->b2.ndeliver >= 2;
}

static bool
b1_retained(struct fixture *fx)
{
	return fx->b1.ndeliver >= 1;
}

static void
test_retained(void **state)
{
	struct fixture *fx = *state;
	char key[64];
	int status;

	snprintf(key, sizeof(key), "strata:retained:%u",
	    strata_topic_partition((const uint8_t *)"r/1", 3, 3));
	publish(&fx->b1, 10, "r/1", "kept", 1, true);
	publish(&fx->b1, 11, "r/2", "also", 1, true);
	want_acks1 = 2;
	assert_true(run_until(fx, b1_acks));
	/* Acked after Redis holds it. */
	assert_int_equal(fx->b1.ack[0].reason, 0x10);
	assert_int_equal(redis_int(fx, "HEXISTS %s r/1", key), 1);
	retained_request(&fx->b2, "c1", "r/+");
	retained_request(&fx->b2, "c2", "r/2");
	assert_true(run_until(fx, b2_delivers2));
	usleep(100000);
	event_base_loop(fx->base, EVLOOP_NONBLOCK);
	assert_int_equal(fx->b2.ndeliver, 3);
	for (int i = 0; i < 3; i++) {
		assert_true(fx->b2.deliver[i].retain);
		assert_int_equal(fx->b2.deliver[i].qos, 1);
	}
	assert_string_equal(fx->b2.deliver[2].target, "c2");
	assert_string_equal(fx->b2.deliver[2].filter, "r/2");
	assert_string_equal(fx->b2.deliver[2].payload, "also");
	/* Empty payload deletes. */
	publish(&fx->b1, 12, "r/2", "", 1, true);
	want_acks1 = 3;
	assert_true(run_until(fx, b1_acks));
	assert_int_equal(redis_int(fx, "HEXISTS %s r/2", key), 0);
	/* Restart: the retained message comes back from Redis. */
	strata_link_free(fx->b1.link);
	strata_link_free(fx->b2.link);
	fx->b1.link = fx->b2.link = NULL;
	status = stop_router(fx);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* The lease was given up at exit. */
	assert_int_equal(redis_int(fx, "EXISTS %s",
	    "strata:router:r-test:alive"), 0);
	start_router(fx);
	fx->b1.hello = fx->b2.hello = false;
	fx->b1.ndeliver = 0;
	connect_brokers(fx);
	/* Ask until the claim cycle and the retained load are done (each
	 * request before that is answered with nothing). */
	for (int i = 0; i < 50 && !b1_retained(fx); i++) {
		retained_request(&fx->b1, "c3", "r/#");
		for (int j = 0; j < 10; j++) {
			event_base_loop(fx->base, EVLOOP_NONBLOCK);
			usleep(10000);
		}
	}
	assert_true(b1_retained(fx));
	assert_string_equal(fx->b1.deliver[0].topic, "r/1");
	assert_string_equal(fx->b1.deliver[0].payload, "kept");
	assert_string_equal(fx->b1.deliver[0].target, "c3");
}

static bool
b1_acked(struct fixture *fx)
{
	return fx->b1.nack >= 1;
}

/* b2's acks arrive within ms, or not. */
static bool
b2_ack_within(struct fixture *fx, int before, int ms)
{
	for (int j = 0; j < ms && fx->b2.nack == before; j++) {
		event_base_loop(fx->base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
	return fx->b2.nack > before;
}

static bool
b1_hello(struct fixture *fx)
{
	return fx->b1.hello;
}

/* A broker whose link drops keeps its routes while its lease lives: the
 * Delivers for it wait (the publish is not acknowledged) and are sent
 * again when it reconnects (same boot).  Without a lease its node is
 * forgotten, its routes with it, and what waited for it is settled. */
static void
test_broker_link_drops(void **state)
{
	struct fixture *fx = *state;
	redisReply *rep;

	rep = redisCommand(fx->rc, "SET strata:broker:broker-1:alive 1");
	freeReplyObject(rep);
	route(&fx->b1, STRATA__ROUTE_UPDATE__OP__ADD, "d/#");
	publish(&fx->b1, 1, "d/probe", "p", 1, false);
	assert_true(run_until(fx, b1_acked));
	assert_int_equal(fx->b1.ack[0].reason, 0); /* the route is in */
	strata_link_free(fx->b1.link);
	fx->b1.link = NULL;
	fx->b1.hello = false;
	fx->b1.ndeliver = 0;
	usleep(100000);
	publish(&fx->b2, 1, "d/x", "held", 1, false);
	assert_false(b2_ack_within(fx, 0, 1500)); /* waits for broker-1 */
	fx->b1.link = strata_link_connect(fx->base, "127.0.0.1",
	    fx->link_port, &callbacks, &fx->b1, 1 << 20);
	assert_true(run_until(fx, b1_hello));
	/* the resync of on_up is empty: the Deliver still comes, and once
	 * taken the publish is acknowledged */
	assert_true(b2_ack_within(fx, 0, 3000));
	assert_int_equal(fx->b1.ndeliver, 1);
	assert_string_equal(fx->b1.deliver[0].payload, "held");
	route(&fx->b1, STRATA__ROUTE_UPDATE__OP__ADD, "d/#");
	strata_link_flush(fx->b1.link);
	usleep(50000);
	event_base_loop(fx->base, EVLOOP_NONBLOCK);
	/* gone: no lease, link dropped: settled within a cycle or two */
	rep = redisCommand(fx->rc, "DEL strata:broker:broker-1:alive");
	freeReplyObject(rep);
	strata_link_free(fx->b1.link);
	fx->b1.link = NULL;
	usleep(100000);
	publish(&fx->b2, 2, "d/y", "to nobody", 1, false);
	assert_true(b2_ack_within(fx, 1, 4000));
	publish(&fx->b2, 3, "d/z", "no route", 1, false);
	assert_true(b2_ack_within(fx, 2, 2000));
	assert_int_equal(fx->b2.ack[2].reason, 0x10);
}

/* A broker's Deliver not acknowledged: the publish waits. */
static void
test_ack_waits_for_deliver_ack(void **state)
{
	struct fixture *fx = *state;

	fx->b1.no_acks = true;
	route(&fx->b1, STRATA__ROUTE_UPDATE__OP__ADD, "w/#");
	publish(&fx->b1, 1, "w/probe", "p", 1, false);
	assert_true(run_until(fx, b1_retained)); /* the Deliver came */
	publish(&fx->b2, 1, "w/x", "waits", 1, false);
	assert_false(b2_ack_within(fx, 0, 500));
	{
		Strata__DeliverAck a = STRATA__DELIVER_ACK__INIT;

		a.up_to = 2;
		assert_int_equal(strata_link_send(fx->b1.link,
		    STRATA_LINK_DELIVER_ACK, &a.base), 0);
	}
	assert_true(b2_ack_within(fx, 0, 2000));
	assert_int_equal(fx->b2.ack[0].reason, 0);
	assert_int_equal(fx->b1.nack, 1); /* its own, after its ack too */
}

static bool
b1_barrier_acked(struct fixture *fx)
{
	return fx->b1.nbarrier_ack >= 1;
}

static bool
b1_barrier_acked2(struct fixture *fx)
{
	return fx->b1.nbarrier_ack >= 2;
}

/* Ack of a Barrier sent with (and after) ADDs proves the routes are in:
 * a publish from another broker link sent right after the ack is routed.
 * The Barrier goes first in the batch: the router still answers it after
 * the frame's routes. */
static void
test_barrier_after_routes(void **state)
{
	struct fixture *fx = *state;

	barrier(&fx->b1, 7);
	route(&fx->b1, STRATA__ROUTE_UPDATE__OP__ADD, "bar/+");
	assert_true(run_until(fx, b1_barrier_acked));
	assert_int_equal(fx->b1.barrier_ack[0], 7);
	publish(&fx->b2, 1, "bar/x", "routed", 1, false);
	assert_true(run_until(fx, b2_acked));
	assert_int_equal(fx->b2.ack[0].reason, 0);
	assert_true(run_until(fx, b1_retained)); /* one Deliver on b1 */
	assert_string_equal(fx->b1.deliver[0].payload, "routed");
	/* Across frames: ADD flushed in one frame, Barrier in the next. */
	route(&fx->b1, STRATA__ROUTE_UPDATE__OP__ADD, "bar2/#");
	strata_link_flush(fx->b1.link);
	barrier(&fx->b1, 8);
	assert_true(run_until(fx, b1_barrier_acked2));
	assert_int_equal(fx->b1.barrier_ack[1], 8);
	publish(&fx->b2, 2, "bar2/y/z", "also", 1, false);
	assert_true(run_until(fx, b2_acks2));
	assert_int_equal(fx->b2.ack[1].reason, 0);
}

static int want_acks2;

static bool
b2_acks(struct fixture *fx)
{
	return fx->b2.nack >= want_acks2;
}

static bool
b1_served_one(struct fixture *fx)
{
	return fx->b1.nserving >= 1 && fx->b2.nserving >= 1;
}

/* A partition the router does not serve (here: taken from it in Redis,
 * which it claims back at a new generation, and serves again only once
 * the brokers joined that one): a QoS 1/2 publish of it is refused,
 * PublishAck not_owner, and nothing is delivered; after the joins it is
 * routed.  QoS 0 is routed with what the router has, and so is the
 * publish of a broker of link protocol 2, which has no not_owner. */
static void
test_publish_not_served(void **state)
{
	struct fixture *fx = *state;
	const char *topic = "ns/1/x";
	uint32_t p = strata_topic_partition((const uint8_t *)topic,
	    strlen(topic), 3);
	uint64_t gen = partition_gen(fx, p);
	redisReply *rep;

	route(&fx->b1, STRATA__ROUTE_UPDATE__OP__ADD, "ns/#");
	rep = redisCommand(fx->rc, "HSET strata:{part}:map %u gone-router",
	    p);
	freeReplyObject(rep);
	rep = redisCommand(fx->rc, "HINCRBY strata:{part}:gen %u 1", p);
	freeReplyObject(rep);
	rep = redisCommand(fx->rc, "INCR strata:{part}:ver");
	freeReplyObject(rep);
	/* the router follows the map within a fast tick and claims the
	 * orphan back, at gen + 2, waiting for the brokers' joins */
	for (int i = 0; i < 500 && partition_gen(fx, p) < gen + 2; i++)
		usleep(10000);
	assert_int_equal(partition_gen(fx, p), gen + 2);
	usleep(100000);
	publish(&fx->b2, 1, topic, "refused", 1, false);
	publish(&fx->b2, 2, topic, "refused", 2, false);
	publish(&fx->b2, 0, topic, "qos0", 0, false);
	want_acks2 = 2;
	assert_true(run_until(fx, b2_acks));
	assert_true(fx->b2.ack[0].not_owner && fx->b2.ack[1].not_owner);
	usleep(100000);
	event_base_loop(fx->base, EVLOOP_NONBLOCK);
	assert_int_equal(fx->b1.ndeliver, 1);
	assert_string_equal(fx->b1.deliver[0].payload, "qos0");
	publish(&fx->b1, 7, topic, "old-broker", 1, false);
	want_acks1 = 1;
	assert_true(run_until(fx, b1_acks));
	assert_false(fx->b1.ack[0].not_owner);
	assert_int_equal(fx->b1.ack[0].seq, 7);
	fx->b1.ndeliver = 1;
	for (int i = 0; i < 100 && fx->b1.ndeliver == 1; i++) {
		usleep(10000);
		event_base_loop(fx->base, EVLOOP_NONBLOCK);
	}
	assert_string_equal(fx->b1.deliver[1].payload, "old-broker");
	fx->b1.ndeliver = 1;
	/* the brokers join the new generation: served, routed */
	fx->b1.nserving = fx->b2.nserving = 0;
	join(&fx->b1, p, gen + 2);
	join(&fx->b2, p, gen + 2);
	assert_true(run_until(fx, b1_served_one));
	publish(&fx->b2, 1, topic, "routed", 1, false);
	want_acks2 = 3;
	assert_true(run_until(fx, b2_acks));
	assert_false(fx->b2.ack[2].not_owner);
	assert_int_equal(fx->b2.ack[2].seq, 1);
	assert_int_equal(fx->b2.ack[2].reason, 0);
	assert_int_equal(fx->b1.ndeliver, 2);
	assert_string_equal(fx->b1.deliver[1].payload, "routed");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hello_and_claim, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_deliver_and_ack, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_retained, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_broker_link_drops,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_ack_waits_for_deliver_ack,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_barrier_after_routes,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_publish_not_served,
		    setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
