/*
 * sink_kafka.c - the kafka action: one librdkafka producer per set of
 * client properties (bootstrap.servers and the rest), messages produced
 * with the rendered topic, key, partition and headers; librdkafka queues,
 * batches and retries them (up to message.timeout.ms, from the action's
 * properties or the sinks' kafka_timeout_ms) and its delivery report ends
 * the job.  Delivery reports are served by rd_kafka_poll() from a timer
 * on the loop every SINK_KAFKA_POLL_MS.
 *
 * Only the client properties below are accepted (AWS's names, some
 * mapped to librdkafka's); anything else, librdkafka's file and plugin
 * properties in particular, is refused: a rule must not make the daemon
 * read files or load libraries.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "log.h"
#include "rule.h"
#include "sink_impl.h"

#define SINK_KAFKA_POLL_MS 50

/* AWS's client property -> librdkafka's ("" : accepted and ignored). */
static const struct {
	const char *aws, *rdkafka;
} sink_kafka_props[] = {
	{ "bootstrap.servers", "bootstrap.servers" },
	{ "acks", "acks" },
	{ "compression.type", "compression.type" },
	{ "security.protocol", "security.protocol" },
	{ "sasl.mechanism", "sasl.mechanisms" },
	{ "sasl.plain.username", "sasl.username" },
	{ "sasl.plain.password", "sasl.password" },
	{ "sasl.scram.username", "sasl.username" },
	{ "sasl.scram.password", "sasl.password" },
	{ "client.id", "client.id" },
	{ "linger.ms", "linger.ms" },
	{ "batch.size", "batch.size" },
	{ "message.max.bytes", "message.max.bytes" },
	{ "message.timeout.ms", "message.timeout.ms" },
	{ "delivery.timeout.ms", "message.timeout.ms" },
	{ "request.timeout.ms", "request.timeout.ms" },
	{ "retries", "retries" },
	{ "retry.backoff.ms", "retry.backoff.ms" },
	{ "enable.idempotence", "enable.idempotence" },
	{ "key.serializer", "" },
	{ "value.serializer", "" },
};

struct sink_kafka {
	rd_kafka_t *rk;
	struct strata_log_limit log_limit;
	struct event *poll_ev;
	char broken[512];   /* why there is no producer, or "" */
};

static const char *
sink_kafka_map(const char *aws)
{
	for (size_t i = 0; i < sizeof(sink_kafka_props) /
	    sizeof(sink_kafka_props[0]); i++)
		if (strcmp(sink_kafka_props[i].aws, aws) == 0)
			return sink_kafka_props[i].rdkafka;
	return NULL;
}

static int
sink_kafka_prepare(struct rulesd_sinks *s, struct sink_job *j, char *key,
    size_t keylen, char *err, size_t errlen, char *res, size_t reslen)
{
	json_t *props = j->pub.action->client_properties;
	const char *name;
	json_t *value;
	char *dump;

	snprintf(res, reslen, "%s", j->pub.target != NULL ? j->pub.target :
	    "");
	if (!json_is_object(props) || !json_is_string(json_object_get(props,
	    "bootstrap.servers"))) {
		snprintf(err, errlen, "clientProperties need "
		    "bootstrap.servers");
		return -1;
	}
	json_object_foreach(props, name, value) {
		if (sink_kafka_map(name) == NULL || !json_is_string(value)) {
			snprintf(err, errlen, "Unsupported client property "
			    "%s", name);
			return -1;
		}
	}
	if (j->pub.target == NULL || j->pub.target[0] == '\0') {
		snprintf(err, errlen, "The kafka topic is empty");
		return -1;
	}
	if (j->pub.partition != NULL) {
		char *end;
		long p;

		errno = 0;
		p = strtol(j->pub.partition, &end, 10);
		if (errno != 0 || end == j->pub.partition || *end != '\0' ||
		    p < 0 || p > INT32_MAX) {
			snprintf(err, errlen, "Invalid partition %s",
			    j->pub.partition);
			return -1;
		}
	}
	dump = json_dumps(props, JSON_COMPACT | JSON_SORT_KEYS);
	if (dump == NULL)
		abort();
	if (strlen(dump) >= keylen) {
		free(dump);
		snprintf(err, errlen, "clientProperties are too long");
		return -1;
	}
	snprintf(key, keylen, "%s", dump);
	free(dump);
	return 0;
}

static void
sink_kafka_delivered(rd_kafka_t *rk, const rd_kafka_message_t *msg,
    void *opaque)
{
	struct sink_job *j = msg->_private;

	if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR)
		sink_job_finish(j, true, NULL, NULL);
	else
		sink_job_finish(j, false, j->pub.target, "Kafka delivery to "
		    "topic %s failed: %s", j->pub.target,
		    rd_kafka_err2str(msg->err));
	sink_target_kick(j->target);
}

/* librdkafka's log lines (syslog levels), forwarded to the main queue
 * (log.queue) so that they arrive here on the loop's thread, from
 * rd_kafka_poll(). */
static void
sink_kafka_log(const rd_kafka_t *rk, int level, const char *fac,
    const char *buf)
{
	struct sink_target *t = rd_kafka_opaque(rk);
	struct sink_kafka *k = t->impl;

	strata_log_limited(&k->log_limit, level <= 4 ? STRATA_LOG_WARN :
	    STRATA_LOG_DEBUG, "rulesd", "kafka|facility=%s detail=\"%s\"",
	    fac, buf);
}

static void
sink_kafka_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sink_target *t = arg;
	struct sink_kafka *k = t->impl;

	(void)rd_kafka_poll(k->rk, 0);
	if (t->queued > 0)
		sink_target_kick(t);
}

static rd_kafka_conf_t *
sink_kafka_conf(struct sink_target *t, json_t *props, char *err,
    size_t errlen)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char ms[24], why[256];
	const char *name;
	json_t *value;

	snprintf(ms, sizeof(ms), "%u",
	    sink_config(t->sinks)->kafka_timeout_ms);
	if (rd_kafka_conf_set(conf, "message.timeout.ms", ms, why,
	    sizeof(why)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "log.queue", "true", why, sizeof(why)) !=
	    RD_KAFKA_CONF_OK)
		abort();
	json_object_foreach(props, name, value) {
		const char *to = sink_kafka_map(name);

		if (to == NULL || to[0] == '\0')
			continue;
		if (rd_kafka_conf_set(conf, to, json_string_value(value), why,
		    sizeof(why)) != RD_KAFKA_CONF_OK) {
			snprintf(err, errlen, "Invalid client property %s: "
			    "%s", name, why);
			rd_kafka_conf_destroy(conf);
			return NULL;
		}
	}
	rd_kafka_conf_set_dr_msg_cb(conf, sink_kafka_delivered);
	rd_kafka_conf_set_log_cb(conf, sink_kafka_log);
	rd_kafka_conf_set_opaque(conf, t);
	return conf;
}

static void
sink_kafka_open(struct sink_target *t, struct sink_job *first)
{
	struct sink_kafka *k = calloc(1, sizeof(*k));
	struct timeval tv = { 0, SINK_KAFKA_POLL_MS * 1000 };
	rd_kafka_conf_t *conf;
	char why[256];

	if (k == NULL)
		abort();
	t->impl = k;
	conf = sink_kafka_conf(t, first->pub.action->client_properties,
	    k->broken, sizeof(k->broken));
	if (conf == NULL)
		return;
	k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
	if (k->rk == NULL) {
		rd_kafka_conf_destroy(conf);
		snprintf(k->broken, sizeof(k->broken), "Cannot make a kafka "
		    "producer: %s", why);
		return;
	}
	rd_kafka_set_log_queue(k->rk, NULL);  /* the main queue: polled */
	k->poll_ev = event_new(sink_base(t->sinks), -1, EV_PERSIST,
	    sink_kafka_poll_cb, t);
	if (k->poll_ev == NULL)
		abort();
	event_add(k->poll_ev, &tv);
}

/* Hand j to librdkafka: 0, or -1 when its queue is full (j untouched). */
static int
sink_kafka_produce(struct sink_kafka *k, struct sink_job *j)
{
	rd_kafka_headers_t *hdrs = NULL;
	rd_kafka_resp_err_t e;
	int32_t partition = RD_KAFKA_PARTITION_UA;
	size_t key_len = j->pub.field != NULL ? strlen(j->pub.field) : 0;

	if (j->pub.partition != NULL)
		partition = (int32_t)strtol(j->pub.partition, NULL, 10);
	if (j->pub.n_headers > 0) {
		hdrs = rd_kafka_headers_new(j->pub.n_headers);
		for (size_t i = 0; i < j->pub.n_headers; i++)
			rd_kafka_header_add(hdrs, j->pub.header_keys[i], -1,
			    j->pub.header_values[i], -1);
	}
	e = rd_kafka_producev(k->rk,
	    RD_KAFKA_V_TOPIC(j->pub.target),
	    RD_KAFKA_V_PARTITION(partition),
	    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
	    RD_KAFKA_V_VALUE(j->pub.body, j->pub.body_len),
	    RD_KAFKA_V_KEY(j->pub.field, key_len),
	    RD_KAFKA_V_HEADERS(hdrs),
	    RD_KAFKA_V_OPAQUE(j),
	    RD_KAFKA_V_END);
	if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
		return 0;  /* hdrs are librdkafka's now */
	if (hdrs != NULL)
		rd_kafka_headers_destroy(hdrs);
	if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
		return -1;
	sink_job_finish(j, false, j->pub.target, "Kafka refused the message "
	    "for topic %s: %s", j->pub.target, rd_kafka_err2str(e));
	return 0;
}

static void
sink_kafka_pump(struct sink_target *t)
{
	struct sink_kafka *k = t->impl;
	struct sink_job *j;

	while ((j = sink_target_take(t)) != NULL) {
		if (k->rk == NULL) {
			sink_job_finish(j, false, j->pub.target, "%s",
			    k->broken);
		} else if (sink_kafka_produce(k, j) != 0) {
			sink_target_untake(t, j);  /* the poll timer kicks */
			return;
		}
	}
}

static void
sink_kafka_close(struct sink_target *t)
{
	struct sink_kafka *k = t->impl;

	if (k->rk != NULL) {
		/* purged messages get their delivery reports now: they
		 * finish their jobs */
		rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE |
		    RD_KAFKA_PURGE_F_INFLIGHT);
		(void)rd_kafka_poll(k->rk, 0);
		rd_kafka_destroy(k->rk);
	}
	if (k->poll_ev != NULL)
		event_free(k->poll_ev);
	free(k);
	t->impl = NULL;
}

const struct sink_kind_ops sink_kafka_ops = {
	.name = "kafka",
	.prepare = sink_kafka_prepare,
	.open = sink_kafka_open,
	.pump = sink_kafka_pump,
	.close = sink_kafka_close,
};
