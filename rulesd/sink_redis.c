/*
 * sink_redis.c - the redis action: XADD, LPUSH (+ LTRIM) or HSET on the
 * Redis server of the action's url, over one connection per url (redis.c:
 * its deadlines and reconnects), at most SINK_REDIS_INFLIGHT commands
 * pipelined.
 *
 * url: redis://[user[:password]@]host[:port][/db], or rediss:// for TLS
 * (redis_tls.h, verified against the sinks' CA bundle); user and
 * password may be percent-encoded.  Jobs wait in the queue while the
 * connection is not up (and, with a db, SELECTed), at most
 * SINK_REDIS_HOLD_MS: then they fail.  A command is sent once: a
 * connection lost or an error reply fails the job (no retries).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "redis.h"
#include "rule.h"
#include "sink_impl.h"

#define SINK_REDIS_INFLIGHT 128
#define SINK_REDIS_HOLD_MS 3000
#define SINK_REDIS_SWEEP_MS 100
#define SINK_REDIS_FIELD_MAX 256

struct sink_redis_url {
	bool tls;
	char user[SINK_REDIS_FIELD_MAX];
	char password[SINK_REDIS_FIELD_MAX];
	char host[SINK_REDIS_FIELD_MAX];
	uint16_t port;
	long db;
};

struct sink_redis {
	struct strata_redis *r;
	struct sink_redis_url url;
	char origin[SINK_REDIS_FIELD_MAX + 32];  /* redis://host:port */
	char broken[256];   /* why it cannot connect at all, or "" */
	bool selected;      /* the db is SELECTed on this connection */
	size_t inflight;
	struct event *sweep_ev;
};

/* Percent-decode n bytes of in into out (outlen with the NUL); -1 when
 * bad or too long. */
static int
sink_redis_decode(const char *in, size_t n, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)in[i];

		if (c == '%') {
			char hex[3] = { 0 };

			if (i + 2 >= n)
				return -1;
			if (!isxdigit((unsigned char)in[i + 1]) ||
			    !isxdigit((unsigned char)in[i + 2]))
				return -1;
			hex[0] = in[i + 1];
			hex[1] = in[i + 2];
			c = (int)strtol(hex, NULL, 16);
			i += 2;
		}
		if (c == 0 || o + 1 >= outlen)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

static int
sink_redis_parse_hostport(const char *p, size_t n, struct sink_redis_url *u)
{
	const char *colon = NULL, *end = p + n;
	size_t hlen;

	if (n > 0 && p[0] == '[') {
		const char *close = memchr(p, ']', n);

		if (close == NULL)
			return -1;
		hlen = (size_t)(close - p - 1);
		if (hlen == 0 || hlen >= sizeof(u->host))
			return -1;
		memcpy(u->host, p + 1, hlen);
		u->host[hlen] = '\0';
		if (close + 1 < end && close[1] != ':')
			return -1;
		colon = close + 1 < end ? close + 1 : NULL;
	} else {
		colon = memchr(p, ':', n);
		hlen = colon != NULL ? (size_t)(colon - p) : n;
		if (hlen == 0 || hlen >= sizeof(u->host))
			return -1;
		memcpy(u->host, p, hlen);
		u->host[hlen] = '\0';
	}
	u->port = 6379;
	if (colon != NULL) {
		long port = 0;

		if (colon + 1 == end)
			return -1;
		for (const char *q = colon + 1; q < end; q++) {
			if (!isdigit((unsigned char)*q))
				return -1;
			port = port * 10 + (*q - '0');
			if (port > 65535)
				return -1;
		}
		if (port == 0)
			return -1;
		u->port = (uint16_t)port;
	}
	return 0;
}

/* 0, or -1 when url is not redis[s]://[user[:password]@]host[:port][/db]. */
static int
sink_redis_parse(const char *url, struct sink_redis_url *u)
{
	const char *p, *at, *slash, *end;

	memset(u, 0, sizeof(*u));
	if (strncmp(url, "redis://", 8) == 0) {
		p = url + 8;
	} else if (strncmp(url, "rediss://", 9) == 0) {
		p = url + 9;
		u->tls = true;
	} else {
		return -1;
	}
	end = p + strlen(p);
	slash = strchr(p, '/');
	if (slash == NULL)
		slash = end;
	at = memchr(p, '@', (size_t)(slash - p));
	if (at != NULL) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		const char *uend = colon != NULL ? colon : at;

		if (sink_redis_decode(p, (size_t)(uend - p), u->user,
		    sizeof(u->user)) != 0)
			return -1;
		if (colon != NULL && sink_redis_decode(colon + 1,
		    (size_t)(at - colon - 1), u->password,
		    sizeof(u->password)) != 0)
			return -1;
		p = at + 1;
	}
	if (sink_redis_parse_hostport(p, (size_t)(slash - p), u) != 0)
		return -1;
	if (slash < end && slash + 1 < end) {
		char *stop;

		u->db = strtol(slash + 1, &stop, 10);
		if (*stop != '\0' || u->db < 0 || u->db > 65535 ||
		    !isdigit((unsigned char)slash[1]))
			return -1;
	}
	return 0;
}

static int
sink_redis_prepare(struct rulesd_sinks *s, struct sink_job *j, char *key,
    size_t keylen, char *err, size_t errlen, char *res, size_t reslen)
{
	const struct strata_rule_action *a = j->pub.action;
	struct sink_redis_url u;

	if (a->redis_url == NULL || sink_redis_parse(a->redis_url, &u) != 0) {
		snprintf(res, reslen, "redis");
		snprintf(err, errlen, "Invalid redis url: expected "
		    "redis://[user[:password]@]host[:port][/db]");
		return -1;
	}
	snprintf(res, reslen, "redis%s://%s:%u %s", u.tls ? "s" : "",
	    u.host, (unsigned)u.port, j->pub.target != NULL ?
	    j->pub.target : "");
	if (j->pub.target == NULL || j->pub.target[0] == '\0') {
		snprintf(err, errlen, "The redis key is empty");
		return -1;
	}
	if (a->command == STRATA_RULE_REDIS_HSET && j->pub.field == NULL) {
		snprintf(err, errlen, "HSET needs a field");
		return -1;
	}
	if (strlen(a->redis_url) >= keylen) {
		snprintf(err, errlen, "The redis url is too long");
		return -1;
	}
	snprintf(key, keylen, "%s", a->redis_url);
	return 0;
}

static void
sink_redis_select_cb(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct sink_target *t = arg;
	struct sink_redis *sr = t->impl;

	if (reply == NULL)
		return;  /* the connection went: on_up SELECTs again */
	if (reply->type == REDIS_REPLY_ERROR) {
		STRATA_WARN("rulesd", "redis SELECT refused|target=%s db=%ld "
		    "error=\"%s\"", sr->origin, sr->url.db, reply->str);
		return;
	}
	sr->selected = true;
	sink_target_kick(t);
}

static void
sink_redis_up(struct strata_redis *r, void *arg)
{
	struct sink_target *t = arg;
	struct sink_redis *sr = t->impl;

	sr->selected = sr->url.db == 0;
	if (!sr->selected)
		(void)strata_redis_command(r, sink_redis_select_cb, t,
		    "SELECT %ld", sr->url.db);
	sink_target_kick(t);
}

static void
sink_redis_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	sink_target_kick(arg);
}

static void
sink_redis_open(struct sink_target *t, struct sink_job *first)
{
	struct sink_redis *sr = calloc(1, sizeof(*sr));
	struct strata_redis_opts o = { 0 };
	char err[200];

	if (sr == NULL)
		abort();
	t->impl = sr;
	sr->sweep_ev = evtimer_new(sink_base(t->sinks), sink_redis_sweep_cb,
	    t);
	if (sr->sweep_ev == NULL)
		abort();
	(void)sink_redis_parse(t->key, &sr->url);  /* prepare checked it */
	snprintf(sr->origin, sizeof(sr->origin), "redis%s://%s:%u",
	    sr->url.tls ? "s" : "", sr->url.host, (unsigned)sr->url.port);
	o.host = sr->url.host;
	o.port = sr->url.port;
	o.timeout_ms = STRATA_REDIS_TIMEOUT_MS;
	o.user = sr->url.user;
	o.password = sr->url.password[0] != '\0' ? sr->url.password : NULL;
	if (sr->url.tls) {
		o.tls = sink_tls_context(t->sinks, err, sizeof(err));
		if (o.tls == NULL) {
			snprintf(sr->broken, sizeof(sr->broken), "%s", err);
			return;
		}
	}
	if (strata_redis_check_opts(&o, err, sizeof(err)) != 0) {
		snprintf(sr->broken, sizeof(sr->broken), "%s", err);
		return;
	}
	sr->r = strata_redis_open(sink_base(t->sinks), &o, sink_redis_up, t);
}

static void
sink_redis_reply_cb(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct sink_job *j = arg;
	struct sink_target *t = j->target;
	struct sink_redis *sr = t->impl;
	char res[1024];

	sr->inflight--;
	snprintf(res, sizeof(res), "%s %s", sr->origin, j->pub.target);
	if (reply == NULL)
		sink_job_finish(j, false, res, "Could not reach %s: "
		    "connection lost or timed out", sr->origin);
	else if (reply->type == REDIS_REPLY_ERROR)
		sink_job_finish(j, false, res, "Redis error from %s: %s",
		    sr->origin, reply->str);
	else
		sink_job_finish(j, true, NULL, NULL);
	sink_target_kick(t);
}

static void
sink_redis_send(struct sink_target *t, struct sink_job *j)
{
	struct sink_redis *sr = t->impl;
	const struct strata_rule_action *a = j->pub.action;
	const char *argv[8];
	size_t argvlen[8];
	char limit[24], stop[24];
	int argc = 0;

#define SINK_ARG(p, n) (argv[argc] = (p), argvlen[argc++] = (n))
#define SINK_STR(p) SINK_ARG(p, strlen(p))
	switch (a->command) {
	case STRATA_RULE_REDIS_XADD:
		SINK_STR("XADD");
		SINK_STR(j->pub.target);
		if (a->max_length > 0) {
			snprintf(limit, sizeof(limit), "%ld", a->max_length);
			SINK_STR("MAXLEN");
			SINK_STR("~");
			SINK_STR(limit);
		}
		SINK_STR("*");
		SINK_STR("payload");
		break;
	case STRATA_RULE_REDIS_LPUSH:
		SINK_STR("LPUSH");
		SINK_STR(j->pub.target);
		break;
	case STRATA_RULE_REDIS_HSET:
		SINK_STR("HSET");
		SINK_STR(j->pub.target);
		SINK_STR(j->pub.field);
		break;
	}
	SINK_ARG((const char *)j->pub.body, j->pub.body_len);
	sr->inflight++;
	(void)strata_redis_commandv(sr->r, sink_redis_reply_cb, j, argc,
	    argv, argvlen);
	if (a->command == STRATA_RULE_REDIS_LPUSH && a->max_length > 0) {
		argc = 0;
		snprintf(stop, sizeof(stop), "%ld", a->max_length - 1);
		SINK_STR("LTRIM");
		SINK_STR(j->pub.target);
		SINK_STR("0");
		SINK_STR(stop);
		(void)strata_redis_commandv(sr->r, NULL, NULL, argc, argv,
		    argvlen);
	}
#undef SINK_STR
#undef SINK_ARG
}

static void
sink_redis_pump(struct sink_target *t)
{
	struct sink_redis *sr = t->impl;
	struct sink_job *j;
	char why[SINK_REDIS_FIELD_MAX + 64];

	if (sr->r == NULL) {   /* cannot connect at all */
		while ((j = sink_target_take(t)) != NULL)
			sink_job_finish(j, false, sr->origin, "%s",
			    sr->broken);
		return;
	}
	if (!strata_redis_is_up(sr->r) || !sr->selected) {
		struct timeval tv = { 0, SINK_REDIS_SWEEP_MS * 1000 };

		snprintf(why, sizeof(why), "Could not connect to %s",
		    sr->origin);
		sink_target_expire(t, SINK_REDIS_HOLD_MS * 1000u, sr->origin,
		    why);
		if (t->queued > 0 && !evtimer_pending(sr->sweep_ev, NULL))
			evtimer_add(sr->sweep_ev, &tv);
		return;
	}
	while (sr->inflight < SINK_REDIS_INFLIGHT &&
	    (j = sink_target_take(t)) != NULL)
		sink_redis_send(t, j);
}

static void
sink_redis_close(struct sink_target *t)
{
	struct sink_redis *sr = t->impl;

	/* runs the callbacks of the commands in flight: they finish their
	 * jobs (t->closing keeps them from kicking) */
	strata_redis_free(sr->r);
	event_free(sr->sweep_ev);
	memset(sr->url.password, 0, sizeof(sr->url.password));
	free(sr);
	t->impl = NULL;
}

const struct sink_kind_ops sink_redis_ops = {
	.name = "redis",
	.prepare = sink_redis_prepare,
	.open = sink_redis_open,
	.pump = sink_redis_pump,
	.close = sink_redis_close,
};
