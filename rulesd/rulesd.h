/*
 * rulesd.h - strata-rulesd: the AWS IoT rules engine as a cluster node
 * (docs/internals/rulesd.md).
 *
 * The process is a broker core without client listeners (node links to
 * every router, shared subscriptions, QoS 1 both ways: broker/) plus:
 *   rules.c - the rule table: every topic rule of Redis, kept current
 *             from the strata:rules channel (and a full reload every
 *             minute); an enabled rule is subscribed, through the core's
 *             in-process session, to its FROM filter and its Basic
 *             Ingest topics in a share group of its own
 *             ("$share/strata-rulesd-<rule>/..."), with a subscription
 *             identifier naming it, so each message is evaluated once
 *             per rule by one rulesd of the cluster;
 *   run.c   - one message for one rule: evaluate the SQL, render each
 *             action's templates, republish through the session or hand
 *             the job to a sink (sink.c: http, redis, kafka, file), and
 *             the errorAction with AWS's error payload when one fails.
 */
#ifndef STRATA_RULESD_H
#define STRATA_RULESD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker.h"
#include "rule.h"

#define RULESD_COMP "rulesd"
#define RULESD_GROUP_PREFIX "strata-rulesd-"

struct rulesd_rules;
struct rulesd_sinks;
struct rulesd_dests;

/* Per rule metric cells (registered when the rule is first loaded). */
struct rulesd_rule_metrics {
	uint64_t *matched;        /* messages delivered for the rule */
	uint64_t *selected;       /* WHERE true: actions ran */
	uint64_t *filtered;       /* WHERE not true */
	uint64_t *eval_failed;    /* the SQL failed on the message */
	uint64_t *actions_ok;
	uint64_t *actions_failed;
	uint64_t *error_actions;  /* errorAction runs */
	uint64_t *eval_us;        /* time evaluating (sum) */
};

/* One loaded rule; referenced by the messages being handled for it, so a
 * replaced or deleted rule lives until they are done. */
struct rulesd_rule {
	unsigned refs;
	char name[STRATA_RULE_NAME_MAX + 1];
	struct strata_rule *rule;     /* NULL: the stored payload no longer
					 parses (the rule does nothing) */
	uint32_t sub_id;              /* its subscription identifier */
	struct rulesd_rule_metrics *m;
	long long error_recorded;     /* s of the last error written to
					 strata:rule-errors (run.c) */
};

struct rulesd {
	struct strata_broker *b;
	struct broker_insession *session;
	struct rulesd_rules *rules;
	struct rulesd_sinks *sinks;
	struct rulesd_dests *dests;   /* dest.c */
	size_t inflight;              /* messages being handled */
	int64_t *m_inflight;
	int64_t *m_rules;             /* enabled rules */
	uint64_t *m_loops;            /* republishes refused as loops */
	uint64_t *m_unknown_sub;      /* deliveries for no loaded rule */
};

/* ---- rules.c ---- */
int rulesd_rules_start(struct rulesd *rd);
void rulesd_rules_free(struct rulesd *rd);
/* The session is up (again): subscribe every enabled rule. */
void rulesd_rules_subscribe_all(struct rulesd *rd);
/* A SUBACK of the session. */
void rulesd_rules_suback(struct rulesd *rd, uint16_t packet_id,
    const uint8_t *reasons, size_t n);
/* The rule of a subscription identifier, referenced (rulesd_rule_unref),
 * or NULL. */
struct rulesd_rule *rulesd_rule_get(struct rulesd *rd, uint32_t sub_id);
void rulesd_rule_unref(struct rulesd_rule *r);
/* Every enabled rule is subscribed. */
bool rulesd_rules_ready(const struct rulesd *rd);

/* ---- dest.c ---- */
/* The destinations table (require: http-require-destination), loaded. */
void rulesd_dests_start(struct rulesd *rd, bool require);
/* Read every destination again (and claim confirmations due). */
void rulesd_dests_reload(struct rulesd *rd);
/* May an http action post to url: an ENABLED destination covers it (or
 * none is required)?  false: counted, err says why (AWS's errorMessage). */
bool rulesd_dests_allow(struct rulesd *rd, const char *url, char *err,
    size_t errlen);
/* After rulesd_sinks_free (a confirmation's done may still run). */
void rulesd_dests_free(struct rulesd *rd);

/* ---- run.c ---- */
/* One PUBLISH from the session (views: copied as needed); acknowledged
 * with broker_insession_ack once every rule it names is handled. */
void rulesd_message(struct rulesd *rd, const struct strata_mqtt_packet *p,
    unsigned generation);

#endif
