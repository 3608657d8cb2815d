/*
 * report.c - merging worker results and printing them, for people (a
 * short summary) or for scripts (one JSON object).
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "bench.h"
#include "mqtt-t.h"

static const char *const mode_names[] = {
    "conn", "pub", "sub", "pubsub", "shadow", "rules", "sizing"};
static const char *const pattern_names[] = {
    "pairs", "fanin", "fanout", "shared"};
static const double quantiles[] = {0.5, 0.9, 0.99, 0.999};
static const char *const quantile_names[] = {"p50", "p90", "p99", "p99.9"};

void
bench_result_init(struct bench_result *r)
{
	memset(r, 0, sizeof(*r));
	hist_init(&r->latency);
	hist_init(&r->conn_latency);
}

static double
max_d(double a, double b)
{
	return a > b ? a : b;
}

/* bench_result_merge() adds the counters as one array */
#define RESULT_COUNTERS                                                       \
	((offsetof(struct bench_result, ramp_secs) -                          \
	     offsetof(struct bench_result, conn_attempts)) /                  \
	    sizeof(uint64_t))
_Static_assert(offsetof(struct bench_result, conn_attempts) == 0 &&
                   RESULT_COUNTERS == 25 + BENCH_SHADOW_CODES,
    "struct bench_result must start with its uint64_t counters");

void
bench_result_merge(struct bench_result *dst, const struct bench_result *src)
{
	const uint64_t *s = &src->conn_attempts;
	uint64_t *d = &dst->conn_attempts;
	size_t i, n = RESULT_COUNTERS;

	for (i = 0; i < n; i++) /* the leading block of uint64_t counters */
		d[i] += s[i];
	dst->ramp_secs = max_d(dst->ramp_secs, src->ramp_secs);
	dst->send_secs = max_d(dst->send_secs, src->send_secs);
	dst->recv_secs = max_d(dst->recv_secs, src->recv_secs);
	for (i = 0; i < 4; i++)
		dst->step_secs[i] =
		    max_d(dst->step_secs[i], src->step_secs[i]);
	hist_merge(&dst->latency, &src->latency);
	hist_merge(&dst->conn_latency, &src->conn_latency);
}

static double
rate(uint64_t n, double secs)
{
	return secs > 0 ? (double)n / secs : 0.0;
}

static double
us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

static void
human_hist(const char *what, const struct hist *h)
{
	unsigned i;

	if (h->count == 0)
		return;
	printf("%-22s", what);
	for (i = 0; i < 4; i++)
		printf(" %s %.0f", quantile_names[i],
		    us(hist_quantile(h, quantiles[i])));
	printf(" max %.0f mean %.0f (n=%llu)\n", us(h->max),
	    hist_mean(h) / 1000.0, (unsigned long long)h->count);
}

/* Rejections by code, " 400: 3, 429: 1" or " none". */
static void
human_codes(const struct bench_result *r)
{
	const char *sep = " ";
	int i;

	if (r->rejected == 0)
		fputs(" none", stdout);
	for (i = 0; i < BENCH_SHADOW_CODES; i++) {
		if (r->rejected_by_code[i] == 0)
			continue;
		if (bench_shadow_codes[i])
			printf("%s%d: %llu", sep, bench_shadow_codes[i],
			    (unsigned long long)r->rejected_by_code[i]);
		else
			printf("%sother: %llu", sep,
			    (unsigned long long)r->rejected_by_code[i]);
		sep = ", ";
	}
	putchar('\n');
}

static void
human_shadow(const struct bench_opts *o, const struct bench_result *r)
{
	printf("updates: sent %llu acked %llu accepted %llu rejected %llu "
	       "lost %llu late %llu unexpected %llu\n",
	    (unsigned long long)r->sent, (unsigned long long)r->acked,
	    (unsigned long long)r->accepted, (unsigned long long)r->rejected,
	    (unsigned long long)r->lost, (unsigned long long)r->late,
	    (unsigned long long)r->unexpected);
	printf("rejected by code:");
	human_codes(r);
	printf("throughput: sent %.0f updates/s, accepted %.0f updates/s\n",
	    rate(r->sent, r->send_secs), rate(r->accepted, r->recv_secs));
	human_hist("round trip us:", &r->latency);
}

static void
human_sizing(const struct bench_result *r)
{
	printf("subscriptions: asked %llu granted %llu, %.2f s\n",
	    (unsigned long long)r->sz_subs_asked,
	    (unsigned long long)r->sz_subs_granted, r->step_secs[1]);
	printf("retained: sent %llu acked %llu refused %llu, %.2f s\n",
	    (unsigned long long)r->sz_retained_sent,
	    (unsigned long long)r->sz_retained_acked,
	    (unsigned long long)r->sz_retained_refused, r->step_secs[2]);
	printf("shadows: sent %llu accepted %llu rejected %llu lost %llu "
	       "late %llu unexpected %llu, %.2f s\n",
	    (unsigned long long)r->sz_shadows_sent,
	    (unsigned long long)r->accepted, (unsigned long long)r->rejected,
	    (unsigned long long)r->lost, (unsigned long long)r->late,
	    (unsigned long long)r->unexpected, r->step_secs[3]);
	if (r->rejected) {
		printf("rejected by code:");
		human_codes(r);
	}
}

void
bench_report_human(const struct bench_opts *o, const struct bench_result *r)
{
	printf("strata-bench %s", mode_names[o->mode]);
	if (o->mode == MODE_SHADOW)
		printf(" things=%u qos=%d size=%s%zu rate=%s", o->things,
		    o->qos, o->size ? "" : "unpadded/", o->size,
		    o->rate > 0 ? "fixed" : "max");
	else if (o->mode == MODE_RULES)
		printf(
		    " path=%s expect=%s publishers=%d subscribers=%d qos=%d "
		    "size=%s%zu rate=%s",
		    o->direct ? "direct" : "rule",
		    o->expect_even ? "even" : "all", o->clients,
		    o->subscribers, o->qos, o->size ? "" : "unpadded/",
		    o->size, o->rate > 0 ? "fixed" : "max");
	else if (o->mode != MODE_CONN)
		printf(" pattern=%s qos=%d size=%zu rate=%s",
		    pattern_names[o->pattern], o->qos, o->size,
		    o->rate > 0 ? "fixed" : "max");
	printf(" mqtt=%s procs=%d\n",
	    o->version == STRATA_MQTT_V5 ? "5" : "3.1.1", o->procs);
	printf("connections: %llu ok, %llu failed, %llu closed early, "
	       "%.0f conn/s over %.2f s\n",
	    (unsigned long long)r->connected,
	    (unsigned long long)r->conn_failed,
	    (unsigned long long)r->closed_early,
	    rate(r->connected, r->ramp_secs), r->ramp_secs);
	human_hist("connect latency us:", &r->conn_latency);
	if (o->mode == MODE_SIZING) {
		human_sizing(r);
		return;
	}
	if (o->mode == MODE_SHADOW) {
		human_shadow(o, r);
		return;
	}
	if (o->mode == MODE_CONN) {
		printf("pings: %llu sent, %llu answered\n",
		    (unsigned long long)r->pings,
		    (unsigned long long)r->pongs);
		return;
	}
	printf("qos %d: sent %llu acked %llu received %llu expected %llu "
	       "lost %llu duplicated %llu out-of-order %llu unexpected %llu\n",
	    o->qos, (unsigned long long)r->sent, (unsigned long long)r->acked,
	    (unsigned long long)r->received, (unsigned long long)r->expected,
	    (unsigned long long)r->lost, (unsigned long long)r->dups,
	    (unsigned long long)r->out_of_order,
	    (unsigned long long)r->unexpected);
	printf("throughput: in %.0f msg/s, out %.0f msg/s\n",
	    rate(r->sent, r->send_secs), rate(r->received, r->recv_secs));
	human_hist("latency us:", &r->latency);
}

static json_t *
json_hist(const struct hist *h)
{
	json_t *j = json_object();
	unsigned i;

	json_object_set_new(j, "count", json_integer((json_int_t)h->count));
	for (i = 0; i < 4; i++)
		json_object_set_new(j, quantile_names[i],
		    json_real(us(hist_quantile(h, quantiles[i]))));
	json_object_set_new(j, "max", json_real(us(h->max)));
	json_object_set_new(j, "mean", json_real(hist_mean(h) / 1000.0));
	return j;
}

#define JSET_INT(obj, name, v)                                                \
	json_object_set_new(obj, name, json_integer((json_int_t)(v)))

/* The shadow answers' counts both shadow modes report: the rejections by
 * code, the lost, late and unexpected answers. */
static void
json_shadow_answers(json_t *o, const struct bench_result *r)
{
	json_t *codes = json_object();
	char name[16];
	int i;

	for (i = 0; i < BENCH_SHADOW_CODES; i++) {
		if (bench_shadow_codes[i])
			snprintf(
			    name, sizeof(name), "%d", bench_shadow_codes[i]);
		else
			snprintf(name, sizeof(name), "other");
		JSET_INT(codes, name, r->rejected_by_code[i]);
	}
	json_object_set_new(o, "rejected_by_code", codes);
	JSET_INT(o, "lost", r->lost);
	JSET_INT(o, "late", r->late);
	JSET_INT(o, "unexpected", r->unexpected);
}

static json_t *
json_shadow(const struct bench_opts *o, const struct bench_result *r)
{
	json_t *u = json_object();

	JSET_INT(u, "things", o->things);
	JSET_INT(u, "sent", r->sent);
	JSET_INT(u, "acked", r->acked);
	JSET_INT(u, "accepted", r->accepted);
	JSET_INT(u, "rejected", r->rejected);
	json_shadow_answers(u, r);
	json_object_set_new(
	    u, "throughput_sent", json_real(rate(r->sent, r->send_secs)));
	json_object_set_new(u, "throughput_accepted",
	    json_real(rate(r->accepted, r->recv_secs)));
	json_object_set_new(u, "round_trip_us", json_hist(&r->latency));
	return u;
}

/* sizing: what was asked and what the broker took, and each step's
 * seconds */
static json_t *
json_sizing(const struct bench_opts *o, const struct bench_result *r)
{
	json_t *z = json_object(), *sub = json_object(), *ret = json_object(),
	       *sh = json_object();

	JSET_INT(sub, "asked", r->sz_subs_asked);
	JSET_INT(sub, "granted", r->sz_subs_granted);
	json_object_set_new(sub, "secs", json_real(r->step_secs[1]));
	JSET_INT(ret, "asked", o->sz_retained);
	JSET_INT(ret, "sent", r->sz_retained_sent);
	JSET_INT(ret, "acked", r->sz_retained_acked);
	JSET_INT(ret, "refused", r->sz_retained_refused);
	json_object_set_new(ret, "secs", json_real(r->step_secs[2]));
	JSET_INT(sh, "asked", o->sz_shadows);
	JSET_INT(sh, "sent", r->sz_shadows_sent);
	JSET_INT(sh, "accepted", r->accepted);
	JSET_INT(sh, "rejected", r->rejected);
	json_shadow_answers(sh, r);
	json_object_set_new(sh, "secs", json_real(r->step_secs[3]));
	JSET_INT(z, "clients", o->clients);
	json_object_set_new(z, "connect_secs", json_real(r->step_secs[0]));
	json_object_set_new(z, "subscriptions", sub);
	json_object_set_new(z, "retained", ret);
	json_object_set_new(z, "shadows", sh);
	return z;
}

static json_t *
json_messages(const struct bench_result *r)
{
	json_t *m = json_object();

	JSET_INT(m, "sent", r->sent);
	JSET_INT(m, "acked", r->acked);
	JSET_INT(m, "received", r->received);
	JSET_INT(m, "expected", r->expected);
	JSET_INT(m, "unique", r->unique);
	JSET_INT(m, "lost", r->lost);
	JSET_INT(m, "duplicated", r->dups);
	JSET_INT(m, "out_of_order", r->out_of_order);
	JSET_INT(m, "unexpected", r->unexpected);
	json_object_set_new(
	    m, "throughput_in", json_real(rate(r->sent, r->send_secs)));
	json_object_set_new(
	    m, "throughput_out", json_real(rate(r->received, r->recv_secs)));
	json_object_set_new(m, "send_secs", json_real(r->send_secs));
	json_object_set_new(m, "recv_secs", json_real(r->recv_secs));
	json_object_set_new(m, "latency_us", json_hist(&r->latency));
	return m;
}

/* One object: the run's options, "connections", and "messages" (shadow:
 * "updates", sizing: "sizing"). */
void
bench_report_json(const struct bench_opts *o, const struct bench_result *r)
{
	json_t *root = json_object(), *c = json_object();

	json_object_set_new(root, "mode", json_string(mode_names[o->mode]));
	if (o->mode == MODE_RULES) {
		json_object_set_new(
		    root, "path", json_string(o->direct ? "direct" : "rule"));
		json_object_set_new(root, "expect",
		    json_string(o->expect_even ? "even" : "all"));
		JSET_INT(root, "publishers", o->clients);
		JSET_INT(root, "subscribers", o->subscribers);
	} else if (o->mode != MODE_SHADOW && o->mode != MODE_SIZING) {
		json_object_set_new(
		    root, "pattern", json_string(pattern_names[o->pattern]));
	}
	JSET_INT(root, "mqtt_version", o->version);
	JSET_INT(root, "qos", o->qos);
	JSET_INT(root, "size", o->size);
	JSET_INT(root, "procs", o->procs);
	json_object_set_new(root, "rate", json_real(o->rate));
	JSET_INT(c, "attempted", r->conn_attempts);
	JSET_INT(c, "connected", r->connected);
	JSET_INT(c, "failed", r->conn_failed);
	JSET_INT(c, "closed_early", r->closed_early);
	JSET_INT(c, "suback_failed", r->suback_failed);
	json_object_set_new(c, "ramp_secs", json_real(r->ramp_secs));
	json_object_set_new(
	    c, "rate", json_real(rate(r->connected, r->ramp_secs)));
	json_object_set_new(c, "latency_us", json_hist(&r->conn_latency));
	JSET_INT(c, "pings", r->pings);
	JSET_INT(c, "pongs", r->pongs);
	json_object_set_new(root, "connections", c);
	if (o->mode == MODE_SHADOW)
		json_object_set_new(root, "updates", json_shadow(o, r));
	else if (o->mode == MODE_SIZING)
		json_object_set_new(root, "sizing", json_sizing(o, r));
	else
		json_object_set_new(root, "messages", json_messages(r));
	json_dumpf(root, stdout, JSON_COMPACT | JSON_REAL_PRECISION(9));
	putchar('\n');
	json_decref(root);
}
