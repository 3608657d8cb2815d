/*
 * harness.c - daemons built in process for the fuzz targets (harness.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "harness.h"
#include "hashmap.h"
#include "log.h"
#include "mqtt.h"

#define FUZZ_PUMP_ROUNDS 3
#define FUZZ_WRITE_TRIES 64
#define FUZZ_ROUTER_ID "fuzz-router"

#define FUZZ_CHECK(cond)                                                   \
	do {                                                               \
		if (!(cond))                                               \
			abort();                                           \
	} while (0)

void
fuzz_init(void)
{
	static bool done;
	static const uint8_t key[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
	    12, 13, 14, 15, 16};

	if (done)
		return;
	done = true;
	signal(SIGPIPE, SIG_IGN);
	/* quiet, unless a developer replaying an input wants to see it */
	strata_log_set_level(getenv("STRATA_FUZZ_LOG") != NULL ?
	    STRATA_LOG_DEBUG : STRATA_LOG_ERROR + 1);
	strata_hash_set_key(key);
}

uint8_t
fuzz_u8(struct fuzz_input *in)
{
	uint8_t v;

	if (in->len == 0)
		return 0;
	v = in->p[0];
	in->p++;
	in->len--;
	return v;
}

uint16_t
fuzz_u16(struct fuzz_input *in)
{
	uint16_t hi = fuzz_u8(in);

	return (uint16_t)(hi << 8 | fuzz_u8(in));
}

const uint8_t *
fuzz_bytes(struct fuzz_input *in, size_t n, size_t *got)
{
	const uint8_t *p = in->p;

	if (n > in->len)
		n = in->len;
	in->p += n;
	in->len -= n;
	*got = n;
	return p;
}

/* ---- sockets ---- */

static void
fuzz_socketpair(int sv[2])
{
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	FUZZ_CHECK(fcntl(sv[0], F_SETFL, O_NONBLOCK) == 0);
	FUZZ_CHECK(fcntl(sv[1], F_SETFL, O_NONBLOCK) == 0);
}

static void
fuzz_drain_fd(int fd)
{
	uint8_t buf[16384];

	while (fd >= 0 && read(fd, buf, sizeof(buf)) > 0)
		;
}

static void
fuzz_loop(struct event_base *base)
{
	int i;

	for (i = 0; i < FUZZ_PUMP_ROUNDS; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
}

void
fuzz_broker_pump(struct fuzz_broker *fb)
{
	unsigned i;

	fuzz_loop(fb->base);
	if (fb->o.raw_router)
		fuzz_drain_fd(fb->router_fd);
	for (i = 0; i < fb->n_extra; i++)
		fuzz_drain_fd(fb->extra_fd[i]);
	if (!fb->o.drain)
		return;
	for (i = 0; i < FUZZ_CLIENTS; i++)
		fuzz_drain_fd(fb->client_fd[i]);
	fuzz_loop(fb->base);
}

void
fuzz_write_fd(struct fuzz_broker *fb, int fd, const uint8_t *p, size_t n)
{
	int tries = 0;

	while (n > 0 && fd >= 0 && tries < FUZZ_WRITE_TRIES) {
		ssize_t w = write(fd, p, n);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return; /* the broker closed it */
		fuzz_broker_pump(fb);
		tries++;
	}
}

/* ---- the fake Redis of a broker (answer mode) ---- */

static bool
fuzz_arg_is(int argc, const char **argv, int i, const char *s)
{
	return i < argc && strcmp(argv[i], s) == 0;
}

static void
fuzz_feed(struct strata_redis *r, const char *s)
{
	strata_redis_fake_feed(r, s, strlen(s));
}

/* The whole partition map: every partition to the fake router. */
static const char *
fuzz_partmap_reply(void)
{
	static char *reply;
	size_t cap = 64 + STRATA_PARTITIONS * 40, n;
	int p;

	if (reply != NULL)
		return reply;
	reply = malloc(cap);
	FUZZ_CHECK(reply != NULL);
	n = (size_t)snprintf(reply, cap, "*%d\r\n", 2 * STRATA_PARTITIONS);
	for (p = 0; p < STRATA_PARTITIONS; p++) {
		char num[8];

		snprintf(num, sizeof(num), "%d", p);
		n += (size_t)snprintf(reply + n, cap - n, "$%zu\r\n%s\r\n$%zu"
		    "\r\n%s\r\n", strlen(num), num, strlen(FUZZ_ROUTER_ID),
		    FUZZ_ROUTER_ID);
	}
	return reply;
}

static void
fuzz_broker_eval(struct fuzz_broker *fb, struct strata_redis *r,
    const char *script)
{
	char buf[128];

	if (strstr(script, "HSETNX") != NULL) {
		snprintf(buf, sizeof(buf), "*2\r\n$%d\r\n%d\r\n$1\r\n%ld\r\n",
		    STRATA_PARTITIONS >= 1000 ? 4 : 3, STRATA_PARTITIONS,
		    fb->b->cfg.partition_levels);
	} else if (strstr(script, "'epoch'") != NULL && fb->o.prev_alive) {
		snprintf(buf, sizeof(buf), "*4\r\n$10\r\nfuzz-other\r\n"
		    ":%llu\r\n:1\r\n:0\r\n", (unsigned long long)++fb->epoch);
	} else if (strstr(script, "'epoch'") != NULL) {
		snprintf(buf, sizeof(buf), "*4\r\n$0\r\n\r\n:%llu\r\n:0\r\n"
		    ":0\r\n", (unsigned long long)++fb->epoch);
	} else {
		snprintf(buf, sizeof(buf), ":1\r\n");
	}
	fuzz_feed(r, buf);
}

static void
fuzz_broker_answer(struct strata_redis *r, int argc, const char **argv,
    const size_t *argvlen, void *arg)
{
	struct fuzz_broker *fb = arg;

	if (fb->o.redis_from_input)
		return;
	if (fuzz_arg_is(argc, argv, 0, "EVAL") && argc > 1)
		fuzz_broker_eval(fb, r, argv[1]);
	else if (fuzz_arg_is(argc, argv, 1, "strata:routers"))
		fuzz_feed(r, "*2\r\n$11\r\n" FUZZ_ROUTER_ID "\r\n$6\r\n"
		    "fuzz:1\r\n");
	else if (fuzz_arg_is(argc, argv, 1, "strata:{part}:map"))
		fuzz_feed(r, fuzz_partmap_reply());
	else if (fuzz_arg_is(argc, argv, 0, "HGETALL"))
		fuzz_feed(r, "*0\r\n");
	else if (fuzz_arg_is(argc, argv, 0, "GET"))
		fuzz_feed(r, "$-1\r\n");
	else if (fuzz_arg_is(argc, argv, 0, "PUBLISH") ||
	    fuzz_arg_is(argc, argv, 0, "DEL"))
		fuzz_feed(r, ":0\r\n");
	else
		fuzz_feed(r, "+OK\r\n");
}

/* ---- the fake router ---- */

static void
fuzz_router_send(struct strata_link *l, enum strata_link_field field,
    const ProtobufCMessage *m)
{
	(void)strata_link_send(l, field, m);
}

static void
fuzz_router_publish(struct fuzz_broker *fb, struct strata_link *l,
    const Strata__Publish *p)
{
	Strata__PublishAck a = STRATA__PUBLISH_ACK__INIT;
	Strata__Deliver d = STRATA__DELIVER__INIT;

	if (p->seq != 0) {
		a.seq = p->seq;
		fuzz_router_send(l, STRATA_LINK_PUBLISH_ACK, &a.base);
	}
	if (!fb->o.echo)
		return;
	d.topic = p->topic;
	d.payload = p->payload;
	d.qos = p->qos;
	d.retain = p->retain;
	d.properties = p->properties;
	d.origin_client_id = p->client_id;
	fuzz_router_send(l, STRATA_LINK_DELIVER, &d.base);
}

static void
fuzz_router_retained(struct fuzz_broker *fb, struct strata_link *l,
    const Strata__RetainedRequest *q)
{
	Strata__Deliver d = STRATA__DELIVER__INIT;

	if (!fb->o.retained || strchr(q->filter, '+') != NULL ||
	    strchr(q->filter, '#') != NULL)
		return;
	d.topic = q->filter;
	d.payload.data = (uint8_t *)"retained";
	d.payload.len = 8;
	d.qos = 1;
	d.retain = true;
	d.target_client_id = q->client_id;
	d.target_filter = q->filter;
	fuzz_router_send(l, STRATA_LINK_DELIVER, &d.base);
}

static void
fuzz_router_on_frame(struct strata_link *l, const Strata__Frame *f,
    void *arg)
{
	struct fuzz_broker *fb = arg;
	Strata__BarrierAck b = STRATA__BARRIER_ACK__INIT;
	size_t i;

	for (i = 0; i < f->n_publish; i++)
		fuzz_router_publish(fb, l, f->publish[i]);
	for (i = 0; i < f->n_barrier; i++) {
		b.seq = f->barrier[i]->seq;
		fuzz_router_send(l, STRATA_LINK_BARRIER_ACK, &b.base);
	}
	for (i = 0; i < f->n_retained_request; i++)
		fuzz_router_retained(fb, l, f->retained_request[i]);
}

static void
fuzz_router_on_up(struct strata_link *l, void *arg)
{
	Strata__Hello h = STRATA__HELLO__INIT;

	h.node_id = FUZZ_ROUTER_ID;
	h.kind = STRATA__NODE_KIND__NODE_ROUTER;
	h.protocol = 1;
	fuzz_router_send(l, STRATA_LINK_HELLO, &h.base);
}

static void
fuzz_router_on_down(struct strata_link *l, void *arg)
{
}

static const struct strata_link_callbacks fuzz_router_cb = {
	fuzz_router_on_frame, fuzz_router_on_up, fuzz_router_on_down, NULL,
};

/* Routers named by fuzzed Redis replies are dialled in process: a
 * socketpair whose other end the harness keeps and drains. */
static struct fuzz_broker *fuzz_dialling;

static struct strata_link *
fuzz_link_connect(struct event_base *base, const char *host, uint16_t port,
    const struct strata_link_callbacks *cb, void *arg, size_t max_queue)
{
	struct fuzz_broker *fb = fuzz_dialling;
	int sv[2];

	fuzz_socketpair(sv);
	if (fb != NULL && fb->n_extra < sizeof(fb->extra_fd) /
	    sizeof(fb->extra_fd[0]))
		fb->extra_fd[fb->n_extra++] = sv[1];
	else
		close(sv[1]);
	return strata_link_accept(base, sv[0], cb, arg, max_queue);
}

/* ---- the broker ---- */

static const char *const fuzz_broker_args[] = {
	"fuzz", "--node-id", "fuzz-broker", "--port", "0", "--tls-port", "0",
	"--ws-port", "0", "--wss-port", "0",
	"--metrics-port", "0", "--max-payload", "2048",
	"--max-topic-depth", "4", "--max-subscriptions", "6",
	"--max-subscriptions-per-subscribe", "4", "--max-client-id", "24",
	"--keepalive-min", "5", "--max-inflight", "6", "--max-queued", "8",
	"--max-output-bytes", "65536", "--topic-alias-max", "4",
	"--topic-alias-out-max", "3", "--response-information", "r/%c/",
	"--log-level", "error",
	/* small rate limits: inputs reach the throttle's refusals and its
	 * pause (input held, reading off until the timer wheel moves) */
	"--throttle-publish-rate", "8", "--throttle-inbound-bytes", "4096",
	"--throttle-subscribe-rate", "6", "--throttle-connect-client-rate",
	"2", "--throttle-connect-address-rate", "50",
	/* the TLS path here is a plain bufferevent without a certificate:
	 * under tls-auth registry every such CONNECT would be refused */
	"--tls-auth", "chain",
};

/* The TLS bufferevent of a PROXY TLS connection, in process: a plain
 * one, as fuzz_broker_connect's tls path (OpenSSL is not under test). */
static struct bufferevent *
fuzz_tls_wrap(struct event_base *base, evutil_socket_t fd)
{
	return bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
}

static void
fuzz_broker_config(struct fuzz_broker *fb)
{
	char err[256];
	int n = (int)(sizeof(fuzz_broker_args) / sizeof(fuzz_broker_args[0]));

	FUZZ_CHECK(broker_config_load(&fb->b->cfg, n,
	    (char **)fuzz_broker_args, NULL, err, sizeof(err)) == 0);
	fb->redis.answer = fuzz_broker_answer;
	fb->redis.arg = fb;
	fb->b->cfg.redis_fake = &fb->redis;
	fb->b->cfg.link_connect = fuzz_link_connect;
	fb->b->cfg.tls_wrap = fuzz_tls_wrap;
}

static void
fuzz_broker_attach_router(struct fuzz_broker *fb)
{
	int sv[2];

	fuzz_socketpair(sv);
	broker_routers_attach(fb->b, FUZZ_ROUTER_ID, "fuzz", 1, sv[0]);
	if (fb->o.raw_router) {
		fb->router_fd = sv[1];
		return;
	}
	fb->router = strata_link_accept(fb->base, sv[1], &fuzz_router_cb, fb,
	    1 << 20);
}

struct fuzz_broker *
fuzz_broker_new(const struct fuzz_broker_opts *o)
{
	struct fuzz_broker *fb = calloc(1, sizeof(*fb));
	unsigned i;

	FUZZ_CHECK(fb != NULL);
	fuzz_init();
	fb->o = *o;
	fb->router_fd = -1;
	for (i = 0; i < FUZZ_CLIENTS; i++)
		fb->client_fd[i] = -1;
	fb->base = event_base_new();
	fb->b = calloc(1, sizeof(*fb->b));
	FUZZ_CHECK(fb->base != NULL && fb->b != NULL);
	fuzz_broker_config(fb);
	fuzz_dialling = fb;
	FUZZ_CHECK(broker_init(fb->b, fb->base) == 0);
	FUZZ_CHECK(broker_start(fb->b, false) == 0);
	if (o->redis_down) {
		strata_redis_fake_set_up(fb->b->redis, false);
		strata_redis_fake_set_up(fb->b->nodesub, false);
	}
	fuzz_broker_attach_router(fb);
	fuzz_broker_pump(fb);
	return fb;
}

void
fuzz_broker_free(struct fuzz_broker *fb)
{
	unsigned i;

	for (i = 0; i < FUZZ_CLIENTS; i++)
		fuzz_broker_hangup(fb, i);
	fuzz_broker_pump(fb);
	broker_fini(fb->b);
	strata_link_free(fb->router);
	fuzz_loop(fb->base);
	broker_config_free(&fb->b->cfg);
	if (fb->router_fd >= 0)
		close(fb->router_fd);
	for (i = 0; i < fb->n_extra; i++)
		close(fb->extra_fd[i]);
	event_base_free(fb->base);
	fuzz_dialling = NULL;
	free(fb->b);
	free(fb);
}

void
fuzz_broker_connect(struct fuzz_broker *fb, unsigned i, bool tls)
{
	struct bufferevent *bev = NULL;
	int sv[2];

	if (i >= FUZZ_CLIENTS || fb->client_fd[i] >= 0)
		return;
	fuzz_socketpair(sv);
	if (tls) {
		bev = bufferevent_socket_new(fb->base, sv[0],
		    BEV_OPT_CLOSE_ON_FREE);
		FUZZ_CHECK(bev != NULL);
	}
	broker_conn_new(fb->b, tls ? -1 : sv[0], bev,
	    tls ? BROKER_TLS : BROKER_TCP, NULL);
	fb->client_fd[i] = sv[1];
}

void
fuzz_broker_connect_ws(struct fuzz_broker *fb, unsigned i, bool tls)
{
	struct bufferevent *bev;
	int sv[2];

	if (i >= FUZZ_CLIENTS || fb->client_fd[i] >= 0)
		return;
	fuzz_socketpair(sv);
	bev = bufferevent_socket_new(fb->base, sv[0], BEV_OPT_CLOSE_ON_FREE);
	FUZZ_CHECK(bev != NULL);
	broker_conn_new(fb->b, -1, bev, tls ? BROKER_WSS : BROKER_WS, NULL);
	fb->client_fd[i] = sv[1];
}

void
fuzz_broker_connect_proxy(struct fuzz_broker *fb, unsigned i, bool tls)
{
	int sv[2];

	if (i >= FUZZ_CLIENTS || fb->client_fd[i] >= 0)
		return;
	fuzz_socketpair(sv);
	broker_conn_new(fb->b, sv[0], NULL,
	    tls ? BROKER_PROXY_TLS : BROKER_PROXY, NULL);
	fb->client_fd[i] = sv[1];
}

void
fuzz_broker_send(struct fuzz_broker *fb, unsigned i, const uint8_t *p,
    size_t n)
{
	if (i >= FUZZ_CLIENTS)
		return;
	fuzz_broker_connect(fb, i, false);
	fuzz_write_fd(fb, fb->client_fd[i], p, n);
}

void
fuzz_broker_hangup(struct fuzz_broker *fb, unsigned i)
{
	if (i >= FUZZ_CLIENTS || fb->client_fd[i] < 0)
		return;
	close(fb->client_fd[i]);
	fb->client_fd[i] = -1;
}

uint64_t
fuzz_broker_packets_in(struct fuzz_broker *fb)
{
	uint64_t n = 0;
	unsigned t;

	for (t = 0; t < 16; t++)
		n += *fb->b->m.packets_in[t];
	return n;
}

static void
fuzz_send_packet(struct fuzz_broker *fb, unsigned i, uint8_t version,
    const struct strata_mqtt_packet *pkt)
{
	uint8_t buf[512];
	size_t n = strata_mqtt_encode(pkt, version, buf, sizeof(buf));

	FUZZ_CHECK(n > 0);
	fuzz_broker_send(fb, i, buf, n);
}

void
fuzz_broker_login(struct fuzz_broker *fb, unsigned i, uint8_t version,
    const char *client_id, bool clean)
{
	static const uint8_t entries[] = {0, 1, '#', 2, 0, 5, 'a', '/', '+',
	    '/', 'c', 2};
	struct strata_mqtt_packet pkt;

	memset(&pkt, 0, sizeof(pkt));
	pkt.type = STRATA_MQTT_CONNECT;
	pkt.u.connect.version = version;
	pkt.u.connect.clean_start = clean;
	pkt.u.connect.keepalive = 60;
	pkt.u.connect.client_id.p = (const uint8_t *)client_id;
	pkt.u.connect.client_id.len = (uint32_t)strlen(client_id);
	fuzz_send_packet(fb, i, version, &pkt);
	fuzz_broker_pump(fb);
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = STRATA_MQTT_SUBSCRIBE;
	pkt.flags = 0x02;
	pkt.u.subscribe.packet_id = 1;
	pkt.u.subscribe.count = 2;
	pkt.u.subscribe.entries.p = entries;
	pkt.u.subscribe.entries.len = sizeof(entries);
	fuzz_send_packet(fb, i, version, &pkt);
	fuzz_broker_pump(fb);
}

/* ---- the router ---- */

static const char *const fuzz_router_args[] = {
	"fuzz", "--node-id", "fuzz-router", "--metrics-port", "0",
	"--max-retained", "32", "--max-retained-bytes", "8192",
	"--log-level", "error",
};

/* The partition claim script: every claim and hand-over applied, at
 * generation 1 (argv: EVAL script 3 keys..., then quadruples). */
static void
fuzz_router_claim(struct strata_redis *r, int argc, const char **argv)
{
	char buf[64];
	int n = (argc - 6) / 4;

	snprintf(buf, sizeof(buf), "*%d\r\n", 2 * (n > 0 ? n : 0));
	fuzz_feed(r, buf);
	for (int i = 0; i < n; i++) {
		const char *p = argv[6 + 4 * i];

		snprintf(buf, sizeof(buf), "$%zu\r\n%s\r\n$1\r\n1\r\n",
		    strlen(p), p);
		fuzz_feed(r, buf);
	}
}

static void
fuzz_router_answer(struct strata_redis *r, int argc, const char **argv,
    const size_t *argvlen, void *arg)
{
	struct fuzz_router *fr = arg;
	char buf[64];

	if (fr->redis_from_input)
		return;
	if (fuzz_arg_is(argc, argv, 0, "EVAL") && argc > 1 &&
	    strstr(argv[1], "KEYS[2], p, 1") != NULL) {
		fuzz_router_claim(r, argc, argv);
	} else if (fuzz_arg_is(argc, argv, 0, "EVAL") && argc > 1 &&
	    strstr(argv[1], "HSETNX") == NULL) {
		fuzz_feed(r, ":1\r\n"); /* session queue scripts */
	} else if (fuzz_arg_is(argc, argv, 0, "EVAL")) {
		snprintf(buf, sizeof(buf), "*2\r\n$4\r\n%d\r\n$1\r\n%ld\r\n",
		    STRATA_PARTITIONS, fr->cfg.partition_levels);
		fuzz_feed(r, buf);
	} else if (fuzz_arg_is(argc, argv, 0, "HGETALL") ||
	    fuzz_arg_is(argc, argv, 0, "EXISTS")) {
		fuzz_feed(r, fuzz_arg_is(argc, argv, 0, "EXISTS") ? ":0\r\n" :
		    "*0\r\n");
	} else if (fuzz_arg_is(argc, argv, 0, "HSET") ||
	    fuzz_arg_is(argc, argv, 0, "HDEL")) {
		fuzz_feed(r, ":1\r\n");
	} else {
		fuzz_feed(r, "+OK\r\n");
	}
}

struct fuzz_router *
fuzz_router_new(bool redis_from_input)
{
	struct fuzz_router *fr = calloc(1, sizeof(*fr));
	char err[256];
	int n = (int)(sizeof(fuzz_router_args) / sizeof(fuzz_router_args[0]));

	FUZZ_CHECK(fr != NULL);
	fuzz_init();
	fr->redis_from_input = redis_from_input;
	FUZZ_CHECK(router_config_load(&fr->cfg, n, (char **)fuzz_router_args,
	    NULL, err, sizeof(err)) == 0);
	fr->cfg.port = 0;
	/* a cluster secret: broker Hellos must prove it (linkauth.c) */
	fr->cfg.link_auth.len = sizeof(FUZZ_CLUSTER_SECRET) - 1;
	fr->cfg.link_auth.secret = malloc(fr->cfg.link_auth.len);
	FUZZ_CHECK(fr->cfg.link_auth.secret != NULL);
	memcpy(fr->cfg.link_auth.secret, FUZZ_CLUSTER_SECRET,
	    fr->cfg.link_auth.len);
	fr->redis.answer = fuzz_router_answer;
	fr->redis.arg = fr;
	fr->cfg.redis_fake = &fr->redis;
	fr->base = event_base_new();
	FUZZ_CHECK(fr->base != NULL);
	FUZZ_CHECK(router_init(&fr->r, fr->base, &fr->cfg) == 0);
	fuzz_router_pump(fr);
	return fr;
}

void
fuzz_router_pump(struct fuzz_router *fr)
{
	fuzz_loop(fr->base);
}

void
fuzz_router_free(struct fuzz_router *fr)
{
	router_fini(&fr->r);
	fuzz_loop(fr->base);
	router_config_free(&fr->cfg);
	event_base_free(fr->base);
	free(fr);
}

int
fuzz_router_link(struct fuzz_router *fr)
{
	int sv[2];

	fuzz_socketpair(sv);
	router_brokers_accept(&fr->r, sv[0]);
	fuzz_router_pump(fr);
	return sv[1];
}

int
fuzz_router_link_hello(struct fuzz_router *fr, bool good_proof)
{
	Strata__Hello h = STRATA__HELLO__INIT;
	uint8_t buf[192], proof[STRATA_LINKAUTH_LEN];
	size_t n;
	int fd = fuzz_router_link(fr);

	h.node_id = "fuzz-broker";
	h.kind = STRATA__NODE_KIND__NODE_BROKER;
	h.protocol = 3;
	h.boot = 1;
	strata_linkauth_mac(&fr->cfg.link_auth, h.kind, h.node_id, h.boot,
	    proof);
	if (!good_proof)
		proof[0] ^= 1;
	h.auth.data = proof;
	h.auth.len = sizeof(proof);
	n = fuzz_frame(buf, sizeof(buf), STRATA_LINK_HELLO, &h.base);
	if (write(fd, buf, n) != (ssize_t)n)
		abort();
	return fd;
}

/* ---- link frames ---- */

size_t
fuzz_frame(uint8_t *buf, size_t cap, enum strata_link_field field,
    const ProtobufCMessage *msg)
{
	size_t size = protobuf_c_message_get_packed_size(msg), n = 4, body;
	uint64_t tag = (uint64_t)field << 3 | 2;

	if (cap < size + 24)
		return 0;
	while (tag >= 0x80) {
		buf[n++] = (uint8_t)(tag | 0x80);
		tag >>= 7;
	}
	buf[n++] = (uint8_t)tag;
	body = size;
	while (body >= 0x80) {
		buf[n++] = (uint8_t)(body | 0x80);
		body >>= 7;
	}
	buf[n++] = (uint8_t)body;
	n += protobuf_c_message_pack(msg, buf + n);
	body = n - 4;
	buf[0] = (uint8_t)(body >> 24);
	buf[1] = (uint8_t)(body >> 16);
	buf[2] = (uint8_t)(body >> 8);
	buf[3] = (uint8_t)body;
	return n;
}
