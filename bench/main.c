/*
 * main.c - strata-bench command line, worker processes and aggregation.
 *
 * The parent forks --procs workers (always at least one), shows a progress
 * line from their shared live counters, writes --ready-file once every
 * connection of a `conn` run has an answer, reads each worker's struct
 * bench_result from its pipe, merges them and prints the report.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "bench.h"
#include "mqtt-t.h"
#include "rulesmsg.h"
#include "shadowmsg.h"

#define BENCH_MAX_PROCS 64
#define BENCH_MAX_THINGS 10000000

uint64_t
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void
bench_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("strata-bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static void
usage(void)
{
	fputs(
	    "usage: strata-bench conn|pub|sub|pubsub|shadow|rules|sizing "
	    "[options]\n"
	    "  --host A            broker IPv4 address (127.0.0.1)\n"
	    "  --port P            broker port, repeatable (1883)\n"
	    "  --ports \"P Q ..\"    several broker ports; clients spread "
	    "round robin\n"
	    "  --sources K         bind clients to 127.0.0.1..127.0.0.K\n"
	    "  --ifaddr A,B,..     bind clients to these source addresses\n"
	    "  --procs N           worker processes (1)\n"
	    "  --clients N         conn: connections; pairs: pairs; fanin: "
	    "publishers;\n"
	    "                      fanout: subscribers; shared: both (100);\n"
	    "                      shadow: connections (enough for "
	    "--max-subscriptions);\n"
	    "                      rules: publishers (10); sizing: "
	    "connections (enough\n"
	    "                      for --subscriptions at "
	    "--max-subscriptions)\n"
	    "  --publishers N --subscribers N   override the pattern's "
	    "counts\n"
	    "                      (rules: subscribers, 1; several share "
	    "the filter)\n"
	    "  --pattern pairs|fanin|fanout|shared   (pairs)\n"
	    "  --version 3|4|311|5 (3, 4 and 311 all mean MQTT 3.1.1; 5)\n"
	    "  --qos 0|1|2 (0; shadow 1)  --size BYTES (64, at least 24; "
	    "shadow:\n"
	    "                      updates padded to BYTES, unpadded if "
	    "not given)\n"
	    "  --things N          shadow: things updated (10000)\n"
	    "  --thing-prefix P    shadow: thing k is named P<k> "
	    "(sb<random>-t)\n"
	    "  --max-subscriptions N  shadow, sizing: the broker's "
	    "subscriptions per\n"
	    "                      connection; shadow: 2 per thing (50)\n"
	    "  --subscriptions N   sizing: distinct filters in all, at most\n"
	    "                      --max-subscriptions per connection (0)\n"
	    "  --retained N        sizing: retained messages (0) of --size "
	    "bytes (100)\n"
	    "  --shadows N         sizing: things given a shadow (0)\n"
	    "  --batch N           sizing: filters per SUBSCRIBE (8)\n"
	    "  --step-file F       sizing: write F after each step, go on "
	    "when it is\n"
	    "                      removed or after --hold S; --inflight: "
	    "retained\n"
	    "                      messages and updates in flight per "
	    "connection;\n"
	    "                      --drain S (10): a step without progress "
	    "for S ends;\n"
	    "                      --duration S (600): the whole run\n"
	    "  --direct            rules: subscribe to the readings' topics, "
	    "not the\n"
	    "                      rule's output: the path without the rule\n"
	    "  --expect all|even   rules: the outputs the rule's WHERE lets "
	    "through (all)\n"
	    "  --rate R            conn: connects/s; pub: msgs/s in total; 0 "
	    "= max (0)\n"
	    "  --inflight N        window per publisher (64); shadow: updates "
	    "without an\n"
	    "                      answer per connection, one per thing\n"
	    "  --count N           messages per publisher, at most --duration "
	    "S\n"
	    "                      (10; 60 with --count)\n"
	    "  --drain S           wait for late messages after sending (3); "
	    "shadow:\n"
	    "                      an update without an answer for S is lost\n"
	    "  --hold S            conn: hold connections (10)  --keepalive S "
	    "(30)\n"
	    "  --topic T           topic template, %i index, %c client id, %w "
	    "worker\n"
	    "                      (sb/%w/%i; rules: bench/rules/%i/data)\n"
	    "  --filter F          subscription filter template (from the "
	    "pattern;\n"
	    "                      rules: bench/rules-out/#)\n"
	    "  --id-prefix S       client id prefix (sb<random>)\n"
	    "  --username U --password P\n"
	    "  --topic-alias-max N MQTT 5: Topic Alias Maximum in CONNECT, "
	    "so the broker\n"
	    "                      may send topic aliases (0)\n"
	    "  --session-expiry S  persistent sessions: MQTT 5 Session Expiry "
	    "Interval S\n"
	    "                      (Clean Start stays 1); MQTT 3.1.1 Clean "
	    "Session 0 (0)\n"
	    "  --tls --cafile F --cert F --key F\n"
	    "  --ws                MQTT over WebSocket (ws://, or wss:// with "
	    "--tls) on\n"
	    "                      path /mqtt; --ws-path P another path\n"
	    "  --json              one JSON object on stdout\n"
	    "  --expect-no-loss    exit 1 if anything was lost or a client "
	    "failed\n"
	    "  --ready-file F      conn: create F once every connection is "
	    "answered\n"
	    "  --no-progress       no live line on stderr\n",
	    stderr);
	exit(2);
}

static void
opts_add_port(struct bench_opts *o, const char *s)
{
	char *end;
	long p;

	while (*s) {
		while (*s == ' ' || *s == ',')
			s++;
		if (!*s)
			break;
		p = strtol(s, &end, 10);
		if (end == s || p <= 0 || p > 65535)
			bench_fatal("bad port in '%s'", s);
		if (o->n_ports == BENCH_MAX_PORTS)
			bench_fatal("too many ports");
		o->ports[o->n_ports++] = (int)p;
		s = end;
	}
}

static void
opts_add_sources(struct bench_opts *o, const char *list)
{
	char buf[1024], *tok, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (o->n_sources == BENCH_MAX_SOURCES)
			bench_fatal("too many source addresses");
		snprintf(o->sources[o->n_sources++], 48, "%s", tok);
	}
}

static void
opts_set_version(struct bench_opts *o, const char *v)
{
	if (!strcmp(v, "3") || !strcmp(v, "4") || !strcmp(v, "311") ||
	    !strcmp(v, "3.1.1"))
		o->version = STRATA_MQTT_V311;
	else if (!strcmp(v, "5") || !strcmp(v, "5.0"))
		o->version = STRATA_MQTT_V5;
	else
		bench_fatal("--version must be 3, 4, 311 or 5");
}

static void
opts_defaults(struct bench_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->host = "127.0.0.1";
	o->procs = 1;
	o->clients = 100;
	o->publishers = o->subscribers = -1;
	o->inflight = 64;
	o->hold = 10;
	o->duration = 10;
	o->drain = 3;
	o->version = STRATA_MQTT_V311;
	o->size = 64;
	o->keepalive = 30;
	o->things = 10000;
	o->max_subscriptions = 50;
	o->topic = "sb/%w/%i";
	o->progress = isatty(2);
	o->nonce = (uint32_t)(bench_now() ^ ((uint64_t)getpid() << 16));
}

enum {
	OPT_HOST = 256,
	OPT_PORT,
	OPT_PORTS,
	OPT_SOURCES,
	OPT_IFADDR,
	OPT_PROCS,
	OPT_CLIENTS,
	OPT_PUBS,
	OPT_SUBS,
	OPT_PATTERN,
	OPT_VERSION,
	OPT_QOS,
	OPT_SIZE,
	OPT_RATE,
	OPT_INFLIGHT,
	OPT_COUNT,
	OPT_DURATION,
	OPT_DRAIN,
	OPT_HOLD,
	OPT_KEEPALIVE,
	OPT_TOPIC,
	OPT_FILTER,
	OPT_IDPFX,
	OPT_USER,
	OPT_PASS,
	OPT_TLS,
	OPT_WS,
	OPT_WS_PATH,
	OPT_CAFILE,
	OPT_CERT,
	OPT_KEY,
	OPT_JSON,
	OPT_NOLOSS,
	OPT_READY,
	OPT_NOPROGRESS,
	OPT_ALIAS,
	OPT_EXPIRY,
	OPT_THINGS,
	OPT_THING_PREFIX,
	OPT_MAX_SUBS,
	OPT_DIRECT,
	OPT_EXPECT,
	OPT_SZ_SUBS,
	OPT_SZ_RETAINED,
	OPT_SZ_SHADOWS,
	OPT_SZ_BATCH,
	OPT_STEP_FILE,
};

static const struct option long_opts[] = {
    {"host", 1, NULL, OPT_HOST},
    {"port", 1, NULL, OPT_PORT},
    {"ports", 1, NULL, OPT_PORTS},
    {"sources", 1, NULL, OPT_SOURCES},
    {"ifaddr", 1, NULL, OPT_IFADDR},
    {"procs", 1, NULL, OPT_PROCS},
    {"clients", 1, NULL, OPT_CLIENTS},
    {"publishers", 1, NULL, OPT_PUBS},
    {"subscribers", 1, NULL, OPT_SUBS},
    {"pattern", 1, NULL, OPT_PATTERN},
    {"version", 1, NULL, OPT_VERSION},
    {"qos", 1, NULL, OPT_QOS},
    {"size", 1, NULL, OPT_SIZE},
    {"rate", 1, NULL, OPT_RATE},
    {"inflight", 1, NULL, OPT_INFLIGHT},
    {"count", 1, NULL, OPT_COUNT},
    {"duration", 1, NULL, OPT_DURATION},
    {"drain", 1, NULL, OPT_DRAIN},
    {"hold", 1, NULL, OPT_HOLD},
    {"keepalive", 1, NULL, OPT_KEEPALIVE},
    {"topic", 1, NULL, OPT_TOPIC},
    {"filter", 1, NULL, OPT_FILTER},
    {"id-prefix", 1, NULL, OPT_IDPFX},
    {"username", 1, NULL, OPT_USER},
    {"password", 1, NULL, OPT_PASS},
    {"tls", 0, NULL, OPT_TLS},
    {"ws", 0, NULL, OPT_WS},
    {"ws-path", 1, NULL, OPT_WS_PATH},
    {"cafile", 1, NULL, OPT_CAFILE},
    {"cert", 1, NULL, OPT_CERT},
    {"key", 1, NULL, OPT_KEY},
    {"json", 0, NULL, OPT_JSON},
    {"expect-no-loss", 0, NULL, OPT_NOLOSS},
    {"ready-file", 1, NULL, OPT_READY},
    {"no-progress", 0, NULL, OPT_NOPROGRESS},
    {"topic-alias-max", 1, NULL, OPT_ALIAS},
    {"session-expiry", 1, NULL, OPT_EXPIRY},
    {"things", 1, NULL, OPT_THINGS},
    {"thing-prefix", 1, NULL, OPT_THING_PREFIX},
    {"max-subscriptions", 1, NULL, OPT_MAX_SUBS},
    {"direct", 0, NULL, OPT_DIRECT},
    {"expect", 1, NULL, OPT_EXPECT},
    {"subscriptions", 1, NULL, OPT_SZ_SUBS},
    {"retained", 1, NULL, OPT_SZ_RETAINED},
    {"shadows", 1, NULL, OPT_SZ_SHADOWS},
    {"batch", 1, NULL, OPT_SZ_BATCH},
    {"step-file", 1, NULL, OPT_STEP_FILE},
    {"help", 0, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void
opts_pattern(struct bench_opts *o, const char *s)
{
	if (!strcmp(s, "pairs"))
		o->pattern = PAT_PAIRS;
	else if (!strcmp(s, "fanin"))
		o->pattern = PAT_FANIN;
	else if (!strcmp(s, "fanout"))
		o->pattern = PAT_FANOUT;
	else if (!strcmp(s, "shared"))
		o->pattern = PAT_SHARED;
	else
		bench_fatal("unknown --pattern %s", s);
}

static void
opts_one(struct bench_opts *o, int opt, const char *arg)
{
	switch (opt) {
	case OPT_HOST:
		o->host = arg;
		break;
	case OPT_PORT:
	case OPT_PORTS:
		opts_add_port(o, arg);
		break;
	case OPT_SOURCES: {
		int k, n = atoi(arg);

		if (n < 1 || n > BENCH_MAX_SOURCES)
			bench_fatal(
			    "--sources must be 1..%d", BENCH_MAX_SOURCES);
		for (k = 1; k <= n; k++)
			snprintf(
			    o->sources[o->n_sources++], 48, "127.0.0.%d", k);
		break;
	}
	case OPT_IFADDR:
		opts_add_sources(o, arg);
		break;
	case OPT_PROCS:
		o->procs = atoi(arg);
		break;
	case OPT_CLIENTS:
		o->clients = atoi(arg);
		o->clients_set = true;
		break;
	case OPT_PUBS:
		o->publishers = atoi(arg);
		break;
	case OPT_SUBS:
		o->subscribers = atoi(arg);
		break;
	case OPT_PATTERN:
		opts_pattern(o, arg);
		break;
	case OPT_VERSION:
		opts_set_version(o, arg);
		o->version_set = true;
		break;
	case OPT_SZ_SUBS:
		o->sz_subscriptions = (uint32_t)strtoul(arg, NULL, 10);
		break;
	case OPT_SZ_RETAINED:
		o->sz_retained = (uint32_t)strtoul(arg, NULL, 10);
		break;
	case OPT_SZ_SHADOWS:
		o->sz_shadows = (uint32_t)strtoul(arg, NULL, 10);
		break;
	case OPT_SZ_BATCH:
		o->sz_batch = atoi(arg);
		break;
	case OPT_STEP_FILE:
		o->step_file = arg;
		break;
	case OPT_QOS:
		o->qos = atoi(arg);
		o->qos_set = true;
		break;
	case OPT_SIZE:
		o->size = (size_t)atol(arg);
		o->size_set = true;
		break;
	case OPT_THINGS:
		o->things = (uint32_t)strtoul(arg, NULL, 10);
		break;
	case OPT_THING_PREFIX:
		o->thing_prefix = arg;
		break;
	case OPT_MAX_SUBS:
		o->max_subscriptions = atoi(arg);
		break;
	case OPT_RATE:
		o->rate = atof(arg);
		break;
	case OPT_INFLIGHT:
		o->inflight = atoi(arg);
		break;
	case OPT_COUNT:
		o->count = (uint64_t)atoll(arg);
		break;
	case OPT_DURATION:
		o->duration = atof(arg);
		o->duration_set = true;
		break;
	case OPT_DRAIN:
		o->drain = atof(arg);
		o->drain_set = true;
		break;
	case OPT_HOLD:
		o->hold = atof(arg);
		break;
	case OPT_KEEPALIVE:
		o->keepalive = atoi(arg);
		break;
	case OPT_TOPIC:
		o->topic = arg;
		o->topic_set = true;
		break;
	case OPT_DIRECT:
		o->direct = true;
		break;
	case OPT_EXPECT:
		if (strcmp(arg, "all") && strcmp(arg, "even"))
			bench_fatal("--expect must be all or even");
		o->expect_even = !strcmp(arg, "even");
		break;
	case OPT_FILTER:
		o->filter = arg;
		break;
	case OPT_IDPFX:
		o->id_prefix = arg;
		break;
	case OPT_USER:
		o->username = arg;
		break;
	case OPT_PASS:
		o->password = arg;
		break;
	case OPT_ALIAS:
		o->topic_alias_max = atoi(arg);
		break;
	case OPT_EXPIRY:
		o->session_expiry = strtol(arg, NULL, 10);
		break;
	case OPT_TLS:
		o->tls = true;
		break;
	case OPT_WS:
		if (o->ws_path == NULL)
			o->ws_path = "/mqtt";
		break;
	case OPT_WS_PATH:
		o->ws_path = arg;
		break;
	case OPT_CAFILE:
		o->cafile = arg;
		break;
	case OPT_CERT:
		o->cert = arg;
		break;
	case OPT_KEY:
		o->key = arg;
		break;
	case OPT_JSON:
		o->json = true;
		break;
	case OPT_NOLOSS:
		o->expect_no_loss = true;
		break;
	case OPT_READY:
		o->ready_file = arg;
		break;
	case OPT_NOPROGRESS:
		o->progress = false;
		break;
	default:
		usage();
	}
}

/* AWS's thing names: [a-zA-Z0-9:_-], at most 128 bytes with the index. */
static bool
opts_thing_prefix_valid(const char *s)
{
	size_t i, n = strlen(s);

	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		        (s[i] >= 'A' && s[i] <= 'Z') ||
		        (s[i] >= '0' && s[i] <= '9') || s[i] == ':' ||
		        s[i] == '_' || s[i] == '-'))
			return false;
	return n <= 100;
}

/* Shadow mode's defaults and bounds: QoS 1 as devices use, unpadded
 * updates, and enough connections that 2 filters per thing stay within
 * the broker's subscriptions per connection. */
static void
opts_shadow(struct bench_opts *o)
{
	uint32_t per_conn = (uint32_t)(o->max_subscriptions / 2), need;

	if (!o->qos_set)
		o->qos = 1;
	if (!o->size_set)
		o->size = 0;
	if (o->things < 1 || o->things > BENCH_MAX_THINGS)
		bench_fatal("--things must be 1..%d", BENCH_MAX_THINGS);
	if (o->max_subscriptions < 2)
		bench_fatal("--max-subscriptions must be at least 2");
	if (!o->clients_set)
		o->clients = (int)((o->things + per_conn - 1) / per_conn);
	if (o->clients < 1 || (uint32_t)o->clients > o->things)
		bench_fatal("shadow: --clients must be 1..--things");
	need = (o->things + (uint32_t)o->clients - 1) / (uint32_t)o->clients;
	if (need > per_conn)
		bench_fatal("shadow: %u things per connection need %u "
		            "subscriptions, over --max-subscriptions %d: "
		            "give more --clients",
		    need, 2 * need, o->max_subscriptions);
	if (o->thing_prefix && !opts_thing_prefix_valid(o->thing_prefix))
		bench_fatal(
		    "--thing-prefix: at most 100 of a-z A-Z 0-9 : _ -");
	if (o->topic_alias_max)
		bench_fatal("shadow: answers are told apart by topic; "
		            "--topic-alias-max is not supported");
}

/* Rules mode's defaults and bounds: QoS 1 (outputs are counted, and the
 * end-to-end window needs them), unpadded readings, 10 publishers and one
 * subscriber, in one worker: every subscriber receives the outputs of
 * every publisher, and a worker knows only its own. */
static void
opts_rules(struct bench_opts *o)
{
	if (!o->qos_set)
		o->qos = 1;
	if (!o->size_set)
		o->size = 0;
	if (!o->clients_set)
		o->clients = 10;
	if (o->publishers >= 0)
		o->clients = o->publishers;
	if (o->subscribers < 0)
		o->subscribers = 1;
	if (!o->topic_set)
		o->topic = "bench/rules/%i/data";
	if (o->direct)
		o->expect_even = false; /* no WHERE on the direct path */
	if (o->procs != 1)
		bench_fatal("rules: --procs must be 1");
	if (o->clients < 1 || o->subscribers < 1 || o->subscribers > 10000)
		bench_fatal("rules: --clients must be at least 1 and "
		            "--subscribers 1..10000");
	if (o->topic_alias_max)
		bench_fatal("rules: --topic-alias-max is not supported");
}

/* Sizing mode's defaults and bounds: one worker (its steps are one
 * sequence), QoS 1 so every retained message and update is acknowledged,
 * MQTT 5 so a refusal shows in the PUBACK's reason code, 100-byte
 * retained payloads, and enough connections for the subscriptions at
 * --max-subscriptions each. */
static void
opts_sizing(struct bench_opts *o)
{
	uint32_t per = (uint32_t)o->max_subscriptions, need;

	if (!o->qos_set)
		o->qos = 1;
	if (!o->version_set)
		o->version = STRATA_MQTT_V5;
	if (!o->size_set)
		o->size = 100;
	if (!o->duration_set)
		o->duration = 600;
	if (!o->drain_set)
		o->drain = 10;
	if (o->sz_batch == 0)
		o->sz_batch = 8;
	if (o->procs != 1)
		bench_fatal("sizing: --procs must be 1");
	if (o->qos != 1)
		bench_fatal("sizing: --qos must be 1 (every item is "
		            "acknowledged)");
	if (o->max_subscriptions < 1 || o->sz_batch < 1 || o->sz_batch > 65535)
		bench_fatal("sizing: --max-subscriptions and --batch must be "
		            "at least 1 (--batch at most 65535)");
	if (o->sz_shadows > BENCH_MAX_THINGS)
		bench_fatal("--shadows must be at most %d", BENCH_MAX_THINGS);
	if (!o->clients_set)
		o->clients = (int)((o->sz_subscriptions + per - 1) / per);
	if (o->clients < 1)
		o->clients = 1;
	need = (o->sz_subscriptions + (uint32_t)o->clients - 1) /
	       (uint32_t)o->clients;
	if (need > per)
		bench_fatal("sizing: %u subscriptions per connection, over "
		            "--max-subscriptions %d: give more --clients",
		    need, o->max_subscriptions);
	if (o->thing_prefix && !opts_thing_prefix_valid(o->thing_prefix))
		bench_fatal(
		    "--thing-prefix: at most 100 of a-z A-Z 0-9 : _ -");
	if (o->size < 1)
		bench_fatal("sizing: --size must be at least 1 (an empty "
		            "retained message deletes)");
	if (o->topic_alias_max)
		bench_fatal("sizing: --topic-alias-max is not supported");
}

static void
opts_parse(struct bench_opts *o, int argc, char **argv)
{
	int opt;

	opts_defaults(o);
	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "conn"))
		o->mode = MODE_CONN;
	else if (!strcmp(argv[1], "pub"))
		o->mode = MODE_PUB;
	else if (!strcmp(argv[1], "sub"))
		o->mode = MODE_SUB;
	else if (!strcmp(argv[1], "pubsub"))
		o->mode = MODE_PUBSUB;
	else if (!strcmp(argv[1], "shadow"))
		o->mode = MODE_SHADOW;
	else if (!strcmp(argv[1], "rules"))
		o->mode = MODE_RULES;
	else if (!strcmp(argv[1], "sizing"))
		o->mode = MODE_SIZING;
	else
		usage();
	optind = 2;
	while ((opt = getopt_long(argc, argv, "h", long_opts, NULL)) != -1)
		opts_one(o, opt, optarg);
	if (optind != argc)
		usage();
	if (o->n_ports == 0)
		o->ports[o->n_ports++] = 1883;
	/* --count still ends in bounded time: --duration, or 60 s */
	if (o->count && !o->duration_set)
		o->duration = 60;
	if (o->procs < 1 || o->procs > BENCH_MAX_PROCS)
		bench_fatal("--procs must be 1..%d", BENCH_MAX_PROCS);
	if (o->mode == MODE_SHADOW)
		opts_shadow(o);
	if (o->mode == MODE_RULES)
		opts_rules(o);
	if (o->mode == MODE_SIZING)
		opts_sizing(o);
	if (o->qos < 0 || o->qos > 2)
		bench_fatal("--qos must be 0, 1 or 2");
	if ((o->mode != MODE_SHADOW && o->mode != MODE_RULES &&
	        o->mode != MODE_SIZING && o->size < BENCH_HEADER_SIZE) ||
	    o->size > (1u << 19))
		bench_fatal("--size must be %d..524288", BENCH_HEADER_SIZE);
	if (o->inflight < 1 || o->inflight > 65535)
		bench_fatal("--inflight must be 1..65535");
	if (o->keepalive < 0 || o->keepalive > 65535)
		bench_fatal("--keepalive must be 0..65535");
	if (o->topic_alias_max < 0 || o->topic_alias_max > 65535)
		bench_fatal("--topic-alias-max must be 0..65535");
	if (o->session_expiry < 0 || o->session_expiry > 4294967295L)
		bench_fatal("--session-expiry must be 0..4294967295");
	if (o->clients < 0 || o->rate < 0)
		bench_fatal("--clients and --rate must not be negative");
}

static void
share(uint32_t total, int w, int procs, uint32_t *base, uint32_t *n)
{
	uint64_t a = (uint64_t)total * (uint64_t)w / (uint64_t)procs;
	uint64_t b = (uint64_t)total * (uint64_t)(w + 1) / (uint64_t)procs;

	*base = (uint32_t)a;
	*n = (uint32_t)(b - a);
}

/* Default subscription filter: the topic template with %i and %c levels
 * turned into '+' (so %i must fill a whole topic level). */
static void
default_filter(char *out, size_t cap, const char *tmpl)
{
	size_t n = 0;

	for (; *tmpl && n + 2 < cap; tmpl++) {
		if (tmpl[0] == '%' && (tmpl[1] == 'i' || tmpl[1] == 'c')) {
			out[n++] = '+';
			tmpl++;
		} else {
			out[n++] = *tmpl;
		}
	}
	out[n] = '\0';
}

static struct bench_client *
clients_new(
    struct bench_worker *w, enum bench_role role, uint32_t base, uint32_t n)
{
	static const char role_char[] = {'c', 'p', 's'};
	struct bench_client *arr = calloc(n ? n : 1, sizeof(*arr));
	char prefix[32];
	uint32_t i;

	if (!arr)
		bench_fatal("out of memory");
	if (w->o->id_prefix)
		snprintf(prefix, sizeof(prefix), "%s", w->o->id_prefix);
	else
		snprintf(prefix, sizeof(prefix), "sb%08x", w->o->nonce);
	for (i = 0; i < n; i++) {
		arr[i].w = w;
		arr[i].role = role;
		arr[i].gidx = base + i;
		arr[i].lidx = i;
		snprintf(arr[i].id, sizeof(arr[i].id), "%s-%c%u", prefix,
		    role_char[role], base + i);
	}
	return arr;
}

static void
worker_counts(struct bench_worker *w)
{
	const struct bench_opts *o = w->o;
	uint32_t pubs =
	    (uint32_t)(o->publishers >= 0 ? o->publishers : o->clients);
	uint32_t subs =
	    (uint32_t)(o->subscribers >= 0 ? o->subscribers : o->clients);

	if (o->mode == MODE_CONN)
		share((uint32_t)o->clients, w->index, o->procs, &w->conn_base,
		    &w->n_conns);
	if (o->mode == MODE_PUB ||
	    (o->mode == MODE_PUBSUB && o->pattern != PAT_FANOUT))
		share(o->pattern == PAT_PAIRS ? (uint32_t)o->clients : pubs,
		    w->index, o->procs, &w->pub_base, &w->n_pubs);
	if (o->mode == MODE_SUB ||
	    (o->mode == MODE_PUBSUB && o->pattern != PAT_FANIN))
		share(o->pattern == PAT_PAIRS ? (uint32_t)o->clients : subs,
		    w->index, o->procs, &w->sub_base, &w->n_subs);
	if (o->mode == MODE_PUBSUB && o->pattern == PAT_FANOUT) {
		w->pub_base = (uint32_t)w->index;
		w->n_pubs = 1;
	}
	if (o->mode == MODE_SIZING) {
		w->n_pubs = (uint32_t)o->clients; /* one worker */
		w->n_conns = o->sz_shadows > 0;   /* the watcher */
	}
	if (o->mode == MODE_SHADOW || o->mode == MODE_RULES)
		share((uint32_t)o->clients, w->index, o->procs, &w->pub_base,
		    &w->n_pubs);
	if (o->mode == MODE_RULES)
		share((uint32_t)o->subscribers, w->index, o->procs,
		    &w->sub_base, &w->n_subs);
	if (o->mode == MODE_PUBSUB && o->pattern == PAT_FANIN) {
		w->sub_base = (uint32_t)w->index;
		w->n_subs = 1;
	}
	w->receivers = o->mode == MODE_RULES      ? 1
	               : o->mode != MODE_PUBSUB   ? 0
	               : o->pattern == PAT_FANOUT ? w->n_subs
	                                          : 1;
}

static void
worker_topics(struct bench_worker *w)
{
	const struct bench_opts *o = w->o;
	char tmpl[256], shared[256];
	uint32_t i;

	for (i = 0; i < w->n_pubs; i++)
		bench_format(w->pubs[i].topic, sizeof(w->pubs[i].topic),
		    o->topic, &w->pubs[i]);
	if (o->filter)
		snprintf(tmpl, sizeof(tmpl), "%s", o->filter);
	else if (o->mode == MODE_RULES && !o->direct)
		snprintf(tmpl, sizeof(tmpl), "bench/rules-out/#");
	else if (o->mode == MODE_PUBSUB && o->pattern == PAT_PAIRS)
		snprintf(tmpl, sizeof(tmpl), "%s", o->topic);
	else
		default_filter(tmpl, sizeof(tmpl), o->topic);
	if ((!o->filter && o->mode == MODE_PUBSUB &&
	        o->pattern == PAT_SHARED) ||
	    (o->mode == MODE_RULES && o->subscribers > 1)) {
		snprintf(shared, sizeof(shared), "$share/sb/%.200s", tmpl);
		snprintf(tmpl, sizeof(tmpl), "%s", shared);
	}
	for (i = 0; i < w->n_subs; i++) {
		if (!o->filter && o->mode == MODE_PUBSUB &&
		    o->pattern == PAT_FANOUT)
			memcpy(w->subs[i].topic, w->pubs[0].topic,
			    sizeof(w->subs[i].topic));
		else
			bench_format(w->subs[i].topic,
			    sizeof(w->subs[i].topic), tmpl, &w->subs[i]);
	}
}

static void
worker_setup(struct bench_worker *w, const struct bench_opts *o, int index,
    struct bench_live *live)
{
	struct event_config *cfg;
	uint32_t i, k;

	memset(w, 0, sizeof(*w));
	w->o = o;
	w->index = index;
	w->live = live;
	bench_result_init(&w->res);
	/* libevent's default clock is the coarse one (4 ms on many kernels):
	 * the 1 ms send schedule needs the precise one */
	cfg = event_config_new();
	if (!cfg)
		bench_fatal("out of memory");
	event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	w->base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (!w->base)
		bench_fatal("event_base_new failed");
	if (o->tls)
		w->ssl = bench_ssl_ctx(o);
	worker_counts(w);
	w->conns = clients_new(w, ROLE_CONN, w->conn_base, w->n_conns);
	w->pubs = clients_new(w, ROLE_PUB, w->pub_base, w->n_pubs);
	w->subs = clients_new(w, ROLE_SUB, w->sub_base, w->n_subs);
	worker_topics(w);
	w->payload_cap =
	    o->size + (o->mode == MODE_SHADOW || o->mode == MODE_SIZING
	                      ? SHADOWMSG_UPDATE_MIN
	                  : o->mode == MODE_RULES ? RULESMSG_MIN
	                                          : 0);
	w->payload = calloc(1, w->payload_cap);
	if (!w->payload)
		bench_fatal("out of memory");
	if (o->mode == MODE_SHADOW)
		bench_shadow_setup(w);
	for (i = 0; i < w->n_pubs; i++) {
		struct bench_client *c = &w->pubs[i];

		c->n_trackers = w->receivers;
		c->trackers = calloc(
		    w->receivers ? w->receivers : 1, sizeof(*c->trackers));
		c->pid_used = o->qos ? calloc(1, 8192) : NULL;
		if (!c->trackers || (o->qos && !c->pid_used))
			bench_fatal("out of memory");
		for (k = 0; k < w->receivers; k++)
			tracker_init(&c->trackers[k]);
	}
}

/* Child side: run, then send the result to the parent. */
static void
worker_main(
    const struct bench_opts *o, int index, struct bench_live *live, int fd)
{
	static struct bench_worker w;
	const uint8_t *p = (const uint8_t *)&w.res;
	size_t off = 0;
	ssize_t n;

	worker_setup(&w, o, index, live);
	bench_worker_run(&w);
	while (off < sizeof(w.res)) {
		n = write(fd, p + off, sizeof(w.res) - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(3);
		off += (size_t)n;
	}
	_exit(0);
}

struct parent {
	const struct bench_opts *o;
	struct bench_live *live;
	pid_t pids[BENCH_MAX_PROCS];
	struct pollfd fds[BENCH_MAX_PROCS];
	struct bench_result *res; /* one per worker */
	size_t got[BENCH_MAX_PROCS];
	struct bench_live last;
	uint64_t t0;
	bool ready_written;
};

static void
parent_progress(struct parent *pa)
{
	struct bench_live sum = {0};
	double secs = (double)(bench_now() - pa->t0) / 1e9;
	int i;

	for (i = 0; i < pa->o->procs; i++) {
		sum.connected += pa->live[i].connected;
		sum.failed += pa->live[i].failed;
		sum.sent += pa->live[i].sent;
		sum.acked += pa->live[i].acked;
		sum.received += pa->live[i].received;
	}
	if (pa->o->ready_file && !pa->ready_written &&
	    sum.connected + sum.failed >= (uint64_t)pa->o->clients) {
		FILE *f = fopen(pa->o->ready_file, "w");

		if (f) {
			fprintf(f, "connected=%llu failed=%llu\n",
			    (unsigned long long)sum.connected,
			    (unsigned long long)sum.failed);
			fclose(f);
		}
		pa->ready_written = true;
	}
	if (pa->o->progress)
		fprintf(stderr,
		    "\r[%5.1fs] conn %llu fail %llu | sent %llu "
		    "(%llu/s) acked %llu | recv %llu (%llu/s)   ",
		    secs, (unsigned long long)sum.connected,
		    (unsigned long long)sum.failed,
		    (unsigned long long)sum.sent,
		    (unsigned long long)(sum.sent - pa->last.sent),
		    (unsigned long long)sum.acked,
		    (unsigned long long)sum.received,
		    (unsigned long long)(sum.received - pa->last.received));
	pa->last = sum;
}

static void
parent_read(struct parent *pa, int i)
{
	uint8_t *p = (uint8_t *)&pa->res[i];
	ssize_t n;

	n = read(
	    pa->fds[i].fd, p + pa->got[i], sizeof(pa->res[i]) - pa->got[i]);
	if (n < 0 && errno == EINTR)
		return;
	if (n <= 0) {
		close(pa->fds[i].fd);
		pa->fds[i].fd = -1;
		return;
	}
	pa->got[i] += (size_t)n;
}

static int
parent_spawn(struct parent *pa, int i)
{
	int pfd[2];

	if (pipe(pfd) != 0)
		bench_fatal("pipe: %s", strerror(errno));
	pa->pids[i] = fork();
	if (pa->pids[i] < 0)
		bench_fatal("fork: %s", strerror(errno));
	if (pa->pids[i] == 0) {
		close(pfd[0]);
		worker_main(pa->o, i, &pa->live[i], pfd[1]);
	}
	close(pfd[1]);
	pa->fds[i].fd = pfd[0];
	pa->fds[i].events = POLLIN;
	return 0;
}

/* Fork the workers, follow them, merge their results into *out.  Returns
 * the number of workers that did not deliver a whole result. */
static int
parent_run(const struct bench_opts *o, struct bench_result *out)
{
	struct parent pa;
	uint64_t next;
	int i, open_fds, bad = 0, status;

	memset(&pa, 0, sizeof(pa));
	pa.o = o;
	pa.t0 = bench_now();
	pa.live = mmap(NULL, sizeof(*pa.live) * (size_t)o->procs,
	    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pa.res = calloc((size_t)o->procs, sizeof(*pa.res));
	if (pa.live == MAP_FAILED || !pa.res)
		bench_fatal("out of memory");
	for (i = 0; i < o->procs; i++)
		parent_spawn(&pa, i);
	next = pa.t0 + 1000000000ull;
	do {
		poll(pa.fds, (nfds_t)o->procs, 200);
		open_fds = 0;
		for (i = 0; i < o->procs; i++) {
			if (pa.fds[i].fd >= 0 && pa.fds[i].revents)
				parent_read(&pa, i);
			open_fds += pa.fds[i].fd >= 0;
		}
		if (bench_now() >= next || o->ready_file) {
			parent_progress(&pa);
			if (bench_now() >= next)
				next += 1000000000ull;
		}
	} while (open_fds > 0);
	if (o->progress)
		fputc('\n', stderr);
	bench_result_init(out);
	for (i = 0; i < o->procs; i++) {
		waitpid(pa.pids[i], &status, 0);
		if (pa.got[i] != sizeof(pa.res[i]) || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0) {
			fprintf(stderr, "strata-bench: worker %d failed\n", i);
			bad++;
			continue;
		}
		bench_result_merge(out, &pa.res[i]);
	}
	free(pa.res);
	munmap(pa.live, sizeof(*pa.live) * (size_t)o->procs);
	return bad;
}

static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int
main(int argc, char **argv)
{
	static struct bench_opts o;
	static struct bench_result r;
	int bad;

	opts_parse(&o, argc, argv);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	bad = parent_run(&o, &r);
	if (o.json)
		bench_report_json(&o, &r);
	else
		bench_report_human(&o, &r);
	if (bad)
		return 2;
	if (o.expect_no_loss && (r.lost || r.rejected || r.conn_failed ||
	                            r.suback_failed || r.closed_early))
		return 1;
	return 0;
}
