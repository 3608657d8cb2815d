/*
 * test_rulesd_sink.c - strata-rulesd's action sinks on a real event loop.
 *
 * http: a loopback evhttp server on the same loop: 2xx with the body and
 * headers as sent, 500 then 200 (retried), 500 for ever (retries run
 * out), 400 (not retried), one that never answers (the attempt's
 * timeout), a closed port, https to a plain server (the handshake
 * fails), private addresses refused when not allowed, a bad url.
 * redis: a redis-server started on a free port: XADD, LPUSH + LTRIM,
 * HSET, a db in the url, an error reply, a server that is not there.
 * file: appends, rotation, made directories, refused paths.
 * kafka: refused client properties, an unreachable bootstrap server
 * failing after message.timeout.ms.
 * And: done never inside submit, queue-full drops, idle targets closed,
 * pending jobs failed by free, the metrics.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

#include "log.h"
#include "metrics.h"
#include "rule.h"
#include "sink.h"

#define MAX_DONE 16

struct done {
	int calls;
	bool ok;
	char error[512];
	char resource[512];
	uint64_t at_ms;
};

struct fixture {
	struct event_base *base;
	struct event *tick;
	struct strata_metrics *metrics;
	struct rulesd_sinks *sinks;
	struct rulesd_sinks_config cfg;
	char dir[64];
	/* the http server */
	struct evhttp *http;
	uint16_t http_port;
	int hits_ok, hits_flaky, hits_500, hits_400, hits_slow;
	char last_body[256];
	char last_type[64];
	char last_header[64];
	char last_host[64];
	/* redis */
	pid_t redis_pid;
	uint16_t redis_port;
	/* done callbacks */
	struct done done[MAX_DONE];
	bool in_submit;
	bool called_in_submit;
	uint64_t start_ms;
};

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

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

/* ---- the http server ---- */

static void
http_reply(struct evhttp_request *req, int code)
{
	struct evbuffer *b = evbuffer_new();

	evbuffer_add_printf(b, "{}");
	evhttp_send_reply(req, code, code == 200 ? "OK" : "Error", b);
	evbuffer_free(b);
}

static void
http_handler(struct evhttp_request *req, void *arg)
{
	struct fixture *fx = arg;
	const char *uri = evhttp_request_get_uri(req);
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	struct evbuffer *body = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(body);
	const char *v;

	if (n >= sizeof(fx->last_body))
		n = sizeof(fx->last_body) - 1;
	evbuffer_copyout(body, fx->last_body, n);
	fx->last_body[n] = '\0';
	v = evhttp_find_header(in, "Content-Type");
	snprintf(fx->last_type, sizeof(fx->last_type), "%s", v ? v : "");
	v = evhttp_find_header(in, "X-Test");
	snprintf(fx->last_header, sizeof(fx->last_header), "%s", v ? v : "");
	v = evhttp_find_header(in, "Host");
	snprintf(fx->last_host, sizeof(fx->last_host), "%s", v ? v : "");
	if (strncmp(uri, "/ok", 3) == 0) {
		fx->hits_ok++;
		http_reply(req, 200);
	} else if (strcmp(uri, "/flaky") == 0) {
		http_reply(req, ++fx->hits_flaky <= 2 ? 500 : 204);
	} else if (strcmp(uri, "/500") == 0) {
		fx->hits_500++;
		http_reply(req, 500);
	} else if (strcmp(uri, "/400") == 0) {
		fx->hits_400++;
		http_reply(req, 400);
	} else if (strcmp(uri, "/slow") == 0) {
		fx->hits_slow++;  /* never answered */
	} else {
		http_reply(req, 404);
	}
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
}

/* Run the loop until fx->done[i] has been called (or ms passed). */
static bool
run_until_done(struct fixture *fx, int i, unsigned ms)
{
	uint64_t end = now_ms() + ms;

	while (fx->done[i].calls == 0 && now_ms() < end)
		event_base_loop(fx->base, EVLOOP_ONCE);
	return fx->done[i].calls > 0;
}

static void
run_for(struct fixture *fx, unsigned ms)
{
	uint64_t end = now_ms() + ms;

	while (now_ms() < end)
		event_base_loop(fx->base, EVLOOP_ONCE);
}

static void
done_cb(void *arg, bool ok, const char *error, const char *resource)
{
	struct done *d = arg;

	d->calls++;
	d->ok = ok;
	d->at_ms = now_ms();
	snprintf(d->error, sizeof(d->error), "%s", error ? error : "");
	snprintf(d->resource, sizeof(d->resource), "%s",
	    resource ? resource : "");
}

static struct fixture *the_fx;  /* for the done-in-submit check */

static void
checked_done_cb(void *arg, bool ok, const char *error, const char *resource)
{
	if (the_fx->in_submit)
		the_fx->called_in_submit = true;
	done_cb(arg, ok, error, resource);
}

static struct rulesd_job *
make_job(const struct strata_rule_action *a, const char *target,
    const char *body)
{
	struct rulesd_job *j = rulesd_job_new();

	j->action = a;
	j->rule_name = strdup("test_rule");
	j->target = target != NULL ? strdup(target) : NULL;
	j->body = (uint8_t *)strdup(body);
	j->body_len = strlen(body);
	return j;
}

static void
submit(struct fixture *fx, struct rulesd_job *j, int i)
{
	fx->in_submit = true;
	rulesd_sinks_submit(fx->sinks, j, checked_done_cb, &fx->done[i]);
	fx->in_submit = false;
	assert_false(fx->called_in_submit);
	assert_int_equal(fx->done[i].calls, 0);
}

static uint64_t
metric(struct fixture *fx, const char *series)
{
	struct evbuffer *b = evbuffer_new();
	char *text, *p;
	uint64_t v = 0;
	size_t n;

	strata_metrics_render(fx->metrics, b);
	n = evbuffer_get_length(b);
	text = calloc(1, n + 1);
	evbuffer_copyout(b, text, n);
	evbuffer_free(b);
	for (p = strstr(text, series); p != NULL; p = strstr(p + 1, series))
		if ((p == text || p[-1] == '\n') && p[strlen(series)] == ' ')
			v = strtoull(p + strlen(series) + 1, NULL, 10);
	free(text);
	return v;
}

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct evhttp_bound_socket *sock;
	struct timeval tv = { 0, 10000 };
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);

	strata_log_set_level(STRATA_LOG_ERROR);
	signal(SIGPIPE, SIG_IGN);
	fx->base = event_base_new();
	fx->tick = event_new(fx->base, -1, EV_PERSIST, tick_cb, NULL);
	event_add(fx->tick, &tv);
	fx->metrics = strata_metrics_new();
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/strata-sink-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	fx->http = evhttp_new(fx->base);
	evhttp_set_gencb(fx->http, http_handler, fx);
	sock = evhttp_bind_socket_with_handle(fx->http, "127.0.0.1", 0);
	assert_non_null(sock);
	getsockname(evhttp_bound_socket_get_fd(sock),
	    (struct sockaddr *)&sin, &sl);
	fx->http_port = ntohs(sin.sin_port);
	rulesd_sinks_config_default(&fx->cfg);
	fx->cfg.file_dir = fx->dir;
	fx->cfg.kafka_timeout_ms = 1000;
	fx->sinks = rulesd_sinks_new(fx->base, fx->metrics, &fx->cfg);
	fx->start_ms = now_ms();
	the_fx = fx;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[128];

	rulesd_sinks_free(fx->sinks);
	evhttp_free(fx->http);
	event_free(fx->tick);
	if (fx->redis_pid > 0) {
		kill(fx->redis_pid, SIGTERM);
		waitpid(fx->redis_pid, NULL, 0);
	}
	strata_metrics_free(fx->metrics);
	event_base_free(fx->base);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->dir);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

static struct strata_rule_action
http_action(long timeout_ms, long retries)
{
	struct strata_rule_action a = { 0 };

	a.kind = STRATA_RULE_HTTP;
	a.name = "http";
	a.timeout_ms = timeout_ms;
	a.retries = retries;
	return a;
}

static char *
url(struct fixture *fx, const char *scheme, const char *path)
{
	static char buf[128];

	snprintf(buf, sizeof(buf), "%s://127.0.0.1:%u%s", scheme,
	    (unsigned)fx->http_port, path);
	return buf;
}

/* ---- http ---- */

static void
test_http_ok(void **state)
{
	struct fixture *fx = *state;
	struct strata_rule_action a = http_action(1000, 0);
	struct rulesd_job *j = make_job(&a, url(fx, "http", "/ok?x=1"),
	    "{\"a\":1}");

	j->n_headers = 1;
	j->header_keys = calloc(1, sizeof(char *));
	j->header_values = calloc(1, sizeof(char *));
	j->header_keys[0] = strdup("X-Test");
	j->header_values[0] = strdup("yes");
	submit(fx, j, 0);
	assert_int_equal(rulesd_sinks_pending(fx->sinks), 1);
	assert_true(run_until_done(fx, 0, 3000));
	assert_true(fx->done[0].ok);
	assert_int_equal(fx->hits_ok, 1);
	assert_string_equal(fx->last_body, "{\"a\":1}");
	assert_string_equal(fx->last_type, "application/json");
	assert_string_equal(fx->last_header, "yes");
	assert_non_null(strstr(fx->last_host, "127.0.0.1:"));
	assert_int_equal(rulesd_sinks_pending(fx->sinks), 0);
	assert_int_equal(metric(fx, "strata_rulesd_sink_jobs_total"
	    "{kind=\"http\",result=\"ok\"}"), 1);
	assert_int_equal(metric(fx, "strata_rulesd_sink_latency_seconds_count"
	    "{kind=\"http\"}"), 1);
	/* a second job reuses the origin's target */
	submit(fx, make_job(&a, url(fx, "http", "/ok"), "2"), 1);
	assert_true(run_until_done(fx, 1, 3000));
	assert_true(fx->done[1].ok);
	assert_int_equal(rulesd_sinks_targets(fx->sinks), 1);
}

static void
test_http_retried(void **state)
{
	struct fixture *fx = *state;
	struct strata_rule_action a = http_action(1000, 3);
	struct strata_rule_action b = http_action(1000, 1);

	submit(fx, make_job(&a, url(fx, "http", "/flaky"), "x"), 0);
	submit(fx, make_job(&b, url(fx, "http", "/500"), "x"), 1);
	assert_true(run_until_done(fx, 0, 5000));
	assert_true(run_until_done(fx, 1, 5000));
	assert_true(fx->done[0].ok);
	assert_int_equal(fx->hits_flaky, 3);
	assert_false(fx->done[1].ok);
	assert_int_equal(fx->hits_500, 2);  /* the attempt and one retry */
	assert_non_null(strstr(fx->done[1].error, "Received 500 from "
	    "http://127.0.0.1:"));
}

static void
test_http_not_retried(void **state)
{
	struct fixture *fx = *state;
	struct strata_rule_action a = http_action(1000, 3);
	char expect[160];

	submit(fx, make_job(&a, url(fx, "http", "/400"), "x"), 0);
	assert_true(run_until_done(fx, 0, 3000));
	assert_false(fx->done[0].ok);
	assert_int_equal(fx->hits_400, 1);
	snprintf(expect, sizeof(expect), "Received 400 from %s",
	    url(fx, "http", "/400"));
	assert_string_equal(fx->done[0].error, expect);
	assert_string_equal(fx->done[0].resource, url(fx, "http", "/400"));
	assert_int_equal(metric(fx, "strata_rulesd_sink_retries_total"
	    "{kind=\"http\"}"), 0);
	assert_int_equal(metric(fx, "strata_rulesd_sink_jobs_total{kind="
	    "\"http\",result=\"failed\"}"), 1);
}

static void
test_http_timeout(void **state)
{
	struct fixture *fx = *state;
	struct strata_rule_action a = http_action(200, 1);
	uint64_t t0 = now_ms();

	submit(fx, make_job(&a, url(fx, "http", "/slow"), "x"), 0);
	assert_true(run_until_done(fx, 0, 3000));
	assert_false(fx->done[0].ok);
	assert_non_null(strstr(fx->done[0].error, "timed out after 200 ms"));
	assert_int_equal(fx->hits_slow, 2);
	/* two attempts of 200 ms and a backoff of 50..100 ms */
	assert_true(fx->done[0].at_ms - t0 >= 400);
	assert_true(fx->done[0].at_ms - t0 < 1500);
	assert_int_equal(metric(fx, "strata_rulesd_sink_retries_total"
	    "{kind=\"http\"}"), 1);
}

static void
test_http_unreachable(void **state)
{
	struct fixture *fx = *state;
	struct strata_rule_action a = http_action(1000, 0);
	char closed[64], tls[128];

	snprintf(closed, sizeof(closed), "http://127.0.0.1:%u/",
	    (unsigned)free_port());
	submit(fx, make_job(&a, closed, "x"), 0);
	/* https to a server that speaks plain http: the handshake fails */
	snprintf(tls, sizeof(tls), "%s", url(fx, "https", "/ok"));
	submit(fx, make_job(&a, tls, "x"), 1);
	submit(fx, make_job(&a, "ftp://127.0.0.1/x", "x"), 2);
	submit(fx, make_job(&a, "not a url", "x"), 3);
	assert_true(run_until_done(fx, 0, 3000));
	assert_true(run_until_done(fx, 1, 3000));
	assert_true(run_until_done(fx, 2, 3000));
	assert_true(run_until_done(fx, 3, 3000));
	assert_false(fx->done[0].ok);
	assert_non_null(strstr(fx->done[0].error, "Could not connect to "));
	assert_false(fx->done[1].ok);
	assert_non_null(strstr(fx->done[1].error, "TLS"));
	assert_int_equal(fx->hits_ok, 0);
	assert_false(fx->done[2].ok);
	assert_non_null(strstr(fx->done[2].error, "Invalid url"));
	assert_false(fx->done[3].ok);
}

static void
test_http_private_refused(void **state)
{
	struct fixture *fx = *state;
	struct strata_rule_action a = http_action(1000, 3);
	struct rulesd_sinks_config cfg = fx->cfg;

	rulesd_sinks_free(fx->sinks);
	cfg.http_allow_private = false;
	fx->sinks = rulesd_sinks_new(fx->base, fx->metrics, &cfg);
	submit(fx, make_job(&a, url(fx, "http", "/ok"), "x"), 0);
	submit(fx, make_job(&a, "http://[::1]:1/ok", "x"), 1);
	submit(fx, make_job(&a, "http://localhost:1/ok", "x"), 2);
	assert_true(run_until_done(fx, 0, 3000));
	assert_true(run_until_done(fx, 1, 3000));
	assert_true(run_until_done(fx, 2, 3000));
	for (int i = 0; i < 3; i++) {
		assert_false(fx->done[i].ok);
		assert_non_null(strstr(fx->done[i].error, "private"));
	}
	assert_int_equal(fx->hits_ok, 0);
}

/* ---- file ---- */

static struct strata_rule_action
file_action(const char *path, long max_bytes, long max_files)
{
	struct strata_rule_action a = { 0 };

	a.kind = STRATA_RULE_FILE;
	a.name = "file";
	a.path = (char *)path;
	a.max_bytes = max_bytes;
	a.max_files = max_files;
	return a;
}

static void
read_file(struct fixture *fx, const char *name, char *buf, size_t len)
{
	char path[256];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", fx->dir, name);
	buf[0] = '\0';
	f = fopen(path, "r");
	if (f == NULL)
		return;
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
}

static void
test_file_rotation(void **state)
{
	struct fixture *fx = *state;
	struct strata_rule_action a = file_action("logs/out.log", 25, 3);
	char body[16], got[128];
	struct stat st;

	/* 11 bytes a record: two per file */
	for (int i = 0; i < 7; i++) {
		snprintf(body, sizeof(body), "record-%03d", i);
		submit(fx, make_job(&a, NULL, body), i);
	}
	assert_true(run_until_done(fx, 6, 3000));
	for (int i = 0; i < 7; i++)
		assert_true(fx->done[i].ok);
	read_file(fx, "logs/out.log", got, sizeof(got));
	assert_string_equal(got, "record-006\n");
	read_file(fx, "logs/out.log.1", got, sizeof(got));
	assert_string_equal(got, "record-004\nrecord-005\n");
	read_file(fx, "logs/out.log.2", got, sizeof(got));
	assert_string_equal(got, "record-002\nrecord-003\n");
	read_file(fx, "logs/out.log.3", got, sizeof(got));
	assert_string_equal(got, "");  /* the oldest was removed */
	assert_int_equal(stat(fx->dir, &st), 0);
	snprintf(got, sizeof(got), "%s/logs/out.log", fx->dir);
	assert_int_equal(stat(got, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
}

static void
test_file_refused(void **state)
{
	struct fixture *fx = *state;
	const char *bad[] = { "/etc/passwd", "../x", "a/../../b", "", "..",
		"dir/" };
	struct strata_rule_action a[6];
	struct rulesd_sinks_config cfg = fx->cfg;

	for (int i = 0; i < 6; i++) {
		a[i] = file_action(bad[i], 0, 0);
		submit(fx, make_job(&a[i], NULL, "x"), i);
	}
	for (int i = 0; i < 6; i++) {
		assert_true(run_until_done(fx, i, 1000));
		assert_false(fx->done[i].ok);
		assert_non_null(strstr(fx->done[i].error, "Invalid path"));
	}
	/* without a file_dir, no file action runs */
	rulesd_sinks_free(fx->sinks);
	cfg.file_dir = NULL;
	fx->sinks = rulesd_sinks_new(fx->base, fx->metrics, &cfg);
	a[0] = file_action("ok.log", 0, 0);
	submit(fx, make_job(&a[0], NULL, "x"), 7);
	assert_true(run_until_done(fx, 7, 1000));
	assert_false(fx->done[7].ok);
	assert_string_equal(fx->done[7].error, "file actions are not enabled");
}

static void
test_queue_full(void **state)
{
	struct fixture *fx = *state;
	struct strata_rule_action a = file_action("q.log", 0, 0);
	struct rulesd_sinks_config cfg = fx->cfg;
	char got[64];

	rulesd_sinks_free(fx->sinks);
	cfg.queue_max = 2;
	fx->sinks = rulesd_sinks_new(fx->base, fx->metrics, &cfg);
	for (int i = 0; i < 5; i++)
		submit(fx, make_job(&a, NULL, "r"), i);
	for (int i = 0; i < 5; i++)
		assert_true(run_until_done(fx, i, 1000));
	assert_true(fx->done[0].ok);
	assert_true(fx->done[1].ok);
	for (int i = 2; i < 5; i++) {
		assert_false(fx->done[i].ok);
		assert_string_equal(fx->done[i].error, "queue full");
		assert_string_equal(fx->done[i].resource, "q.log");
	}
	read_file(fx, "q.log", got, sizeof(got));
	assert_string_equal(got, "r\nr\n");
	assert_int_equal(metric(fx, "strata_rulesd_sink_jobs_total{kind="
	    "\"file\",result=\"dropped\"}"), 3);
	assert_int_equal(metric(fx, "strata_rulesd_sink_queue"
	    "{kind=\"file\"}"), 0);
}

static void
test_idle_close_and_free(void **state)
{
	struct fixture *fx = *state;
	struct strata_rule_action f = file_action("idle.log", 0, 0);
	struct strata_rule_action h = http_action(5000, 0);
	struct rulesd_sinks_config cfg = fx->cfg;

	rulesd_sinks_free(fx->sinks);
	cfg.idle_ms = 100;
	fx->sinks = rulesd_sinks_new(fx->base, fx->metrics, &cfg);
	submit(fx, make_job(&f, NULL, "x"), 0);
	assert_true(run_until_done(fx, 0, 1000));
	assert_int_equal(rulesd_sinks_targets(fx->sinks), 1);
	run_for(fx, 300);
	assert_int_equal(rulesd_sinks_targets(fx->sinks), 0);
	/* free fails what is pending, from inside the call */
	submit(fx, make_job(&h, url(fx, "http", "/slow"), "x"), 1);
	submit(fx, make_job(&f, NULL, "y"), 2);
	run_for(fx, 100);
	assert_int_equal(fx->done[1].calls, 0);
	rulesd_sinks_free(fx->sinks);
	fx->sinks = NULL;
	assert_int_equal(fx->done[1].calls, 1);
	assert_false(fx->done[1].ok);
	assert_string_equal(fx->done[1].error, "shutting down");
	assert_int_equal(fx->done[2].calls, 1);
	fx->sinks = rulesd_sinks_new(fx->base, fx->metrics, &cfg);
}

/* ---- redis ---- */

static void
start_redis(struct fixture *fx)
{
	char port[8];
	redisContext *c = NULL;

	fx->redis_port = free_port();
	snprintf(port, sizeof(port), "%u", (unsigned)fx->redis_port);
	fx->redis_pid = fork();
	assert_true(fx->redis_pid >= 0);
	if (fx->redis_pid == 0) {
		/* gone with the test, also when it crashes (ctest would
		 * wait for the server, which holds its stderr) */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (freopen("/dev/null", "w", stdout) == NULL)
			_exit(126);
		execlp("redis-server", "redis-server", "--port", port,
		    "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		    "--loglevel", "warning", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		c = redisConnect("127.0.0.1", fx->redis_port);
		if (c != NULL && c->err == 0)
			break;
		redisFree(c);
		c = NULL;
		usleep(10000);
	}
	assert_non_null(c);
	redisFree(c);
}

static redisReply *
redis_query(struct fixture *fx, int db, const char *fmt, const char *key)
{
	redisContext *c = redisConnect("127.0.0.1", fx->redis_port);
	redisReply *r;

	assert_int_equal(c->err, 0);
	freeReplyObject(redisCommand(c, "SELECT %d", db));
	r = redisCommand(c, fmt, key);
	redisFree(c);
	assert_non_null(r);
	return r;
}

static struct strata_rule_action
redis_action(const char *u, enum strata_rule_redis_command cmd,
    long max_length)
{
	struct strata_rule_action a = { 0 };

	a.kind = STRATA_RULE_REDIS;
	a.name = "redis";
	a.redis_url = (char *)u;
	a.command = cmd;
	a.max_length = max_length;
	return a;
}

static void
test_redis(void **state)
{
	struct fixture *fx = *state;
	char u0[64], u2[64], gone[64];
	struct strata_rule_action xadd, lpush, hset, none, wrongtype, badurl;
	struct rulesd_job *j;
	redisReply *r;

	start_redis(fx);
	snprintf(u0, sizeof(u0), "redis://127.0.0.1:%u",
	    (unsigned)fx->redis_port);
	snprintf(u2, sizeof(u2), "redis://default@127.0.0.1:%u/2",
	    (unsigned)fx->redis_port);
	xadd = redis_action(u0, STRATA_RULE_REDIS_XADD, 1000);
	lpush = redis_action(u2, STRATA_RULE_REDIS_LPUSH, 2);
	hset = redis_action(u0, STRATA_RULE_REDIS_HSET, 0);
	submit(fx, make_job(&xadd, "stream", "{\"n\":1}"), 0);
	submit(fx, make_job(&lpush, "list", "a"), 1);
	submit(fx, make_job(&lpush, "list", "b"), 2);
	submit(fx, make_job(&lpush, "list", "c"), 3);
	j = make_job(&hset, "hash", "{\"v\":2}");
	j->field = strdup("dev1");
	submit(fx, j, 4);
	/* an error reply: LPUSH on a hash */
	wrongtype = redis_action(u0, STRATA_RULE_REDIS_LPUSH, 0);
	submit(fx, make_job(&wrongtype, "hash", "z"), 5);
	for (int i = 0; i < 5; i++) {
		assert_true(run_until_done(fx, i, 3000));
		assert_true(fx->done[i].ok);
	}
	assert_true(run_until_done(fx, 5, 3000));
	assert_false(fx->done[5].ok);
	assert_non_null(strstr(fx->done[5].error, "WRONGTYPE"));
	assert_non_null(strstr(fx->done[5].resource, " hash"));
	r = redis_query(fx, 0, "XRANGE %s - +", "stream");
	assert_int_equal(r->elements, 1);
	assert_string_equal(r->element[0]->element[1]->element[0]->str,
	    "payload");
	assert_string_equal(r->element[0]->element[1]->element[1]->str,
	    "{\"n\":1}");
	freeReplyObject(r);
	r = redis_query(fx, 2, "LRANGE %s 0 -1", "list");
	assert_int_equal(r->elements, 2);
	assert_string_equal(r->element[0]->str, "c");
	assert_string_equal(r->element[1]->str, "b");
	freeReplyObject(r);
	r = redis_query(fx, 0, "EXISTS %s", "list");  /* db 2 only */
	assert_int_equal(r->integer, 0);
	freeReplyObject(r);
	r = redis_query(fx, 0, "HGET %s dev1", "hash");
	assert_string_equal(r->str, "{\"v\":2}");
	freeReplyObject(r);
	/* nobody there: the job waits for the connection, then fails */
	snprintf(gone, sizeof(gone), "redis://127.0.0.1:%u",
	    (unsigned)free_port());
	none = redis_action(gone, STRATA_RULE_REDIS_LPUSH, 0);
	submit(fx, make_job(&none, "k", "v"), 6);
	badurl = redis_action("http://x", STRATA_RULE_REDIS_LPUSH, 0);
	submit(fx, make_job(&badurl, "k", "v"), 7);
	assert_true(run_until_done(fx, 7, 1000));
	assert_false(fx->done[7].ok);
	assert_non_null(strstr(fx->done[7].error, "Invalid redis url"));
	assert_true(run_until_done(fx, 6, 6000));
	assert_false(fx->done[6].ok);
	assert_non_null(strstr(fx->done[6].error, "Could not connect to "
	    "redis://127.0.0.1:"));
	assert_int_equal(metric(fx, "strata_rulesd_sink_jobs_total{kind="
	    "\"redis\",result=\"ok\"}"), 5);
}

/* ---- kafka ---- */

static void
test_kafka(void **state)
{
	struct fixture *fx = *state;
	struct strata_rule_action a = { 0 }, bad = { 0 }, wrong = { 0 };
	char servers[64];
	struct rulesd_job *j;
	uint64_t t0;

	snprintf(servers, sizeof(servers), "127.0.0.1:%u",
	    (unsigned)free_port());
	a.kind = bad.kind = wrong.kind = STRATA_RULE_KAFKA;
	a.client_properties = json_pack("{ss ss ss}", "bootstrap.servers",
	    servers, "acks", "1", "key.serializer",
	    "org.apache.kafka.common.serialization.StringSerializer");
	bad.client_properties = json_pack("{ss ss}", "bootstrap.servers",
	    servers, "plugin.library.paths", "/tmp/evil.so");
	wrong.client_properties = json_pack("{ss ss}", "bootstrap.servers",
	    servers, "acks", "banana");
	t0 = now_ms();
	j = make_job(&a, "topic-1", "{\"k\":1}");
	j->field = strdup("key");
	j->partition = strdup("0");
	j->n_headers = 1;
	j->header_keys = calloc(1, sizeof(char *));
	j->header_values = calloc(1, sizeof(char *));
	j->header_keys[0] = strdup("h");
	j->header_values[0] = strdup("v");
	submit(fx, j, 0);
	submit(fx, make_job(&bad, "t", "x"), 1);
	submit(fx, make_job(&wrong, "t", "x"), 2);
	j = make_job(&a, "t", "x");
	j->partition = strdup("-1");
	submit(fx, j, 3);
	for (int i = 1; i < 4; i++)
		assert_true(run_until_done(fx, i, 1000));
	assert_non_null(strstr(fx->done[1].error, "Unsupported client "
	    "property plugin.library.paths"));
	assert_non_null(strstr(fx->done[2].error, "Invalid client property "
	    "acks"));
	assert_non_null(strstr(fx->done[3].error, "Invalid partition"));
	/* message.timeout.ms is the sinks' kafka_timeout_ms: 1 s */
	assert_true(run_until_done(fx, 0, 5000));
	assert_false(fx->done[0].ok);
	assert_non_null(strstr(fx->done[0].error, "Kafka delivery to topic "
	    "topic-1 failed"));
	assert_string_equal(fx->done[0].resource, "topic-1");
	assert_true(fx->done[0].at_ms - t0 >= 900);
	assert_true(fx->done[0].at_ms - t0 < 4000);
	rulesd_sinks_free(fx->sinks);
	fx->sinks = NULL;
	json_decref(a.client_properties);
	json_decref(bad.client_properties);
	json_decref(wrong.client_properties);
	fx->sinks = rulesd_sinks_new(fx->base, fx->metrics, &fx->cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_http_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_retried, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_http_not_retried, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_http_timeout, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_http_unreachable, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_http_private_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_rotation, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_file_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_queue_full, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_idle_close_and_free,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_redis, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kafka, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
