/*
 * rule.h - a topic rule's payload (AWS IoT's TopicRulePayload): parsed and
 * validated, with its SQL and the substitution templates of its actions
 * compiled.  Pure: no I/O.  The admin API parses a payload to refuse a
 * bad one (400 with the reason); strata-rulesd parses the stored one to
 * run it.
 *
 * {"sql": "SELECT ...", "description": "...", "ruleDisabled": false,
 *  "awsIotSqlVersion": "2016-03-23", "actions": [ACTION, ...],
 *  "errorAction": ACTION}
 * ACTION is an object with exactly one member naming the action kind:
 *   republish  {"topic": T, "qos": 0|1, "retain": bool, "roleArn",
 *               "headers": {"payloadFormatIndicator": T,
 *               "contentType": T, "responseTopic": T,
 *               "correlationData": T, "messageExpiry": T,
 *               "userProperties": [{"key": T, "value": T}, ...]}}
 *   http       {"url": T, "confirmationUrl": S,
 *               "headers": [{"key": S, "value": T}, ...],
 *               "timeoutMs": N, "retries": N}
 *   redis      {"url": "redis://[user[:password]@]host[:port][/db]",
 *               "command": "XADD" | "LPUSH" | "HSET", "key": T,
 *               "field": T (HSET), "maxLength": N (XADD, LPUSH)}
 *   kafka      {"destinationArn", "topic": T, "key": T, "partition": T,
 *               "clientProperties": {"bootstrap.servers": S, ...},
 *               "headers": [{"key": T, "value": T}, ...]}
 *   file       {"path": S, "maxBytes": N, "maxFiles": N}
 * (T: a substitution template, S: a plain string, N: an integer.)
 * Semantics, limits and differences from AWS: docs/internals/rules.md.
 */
#ifndef STRATA_RULE_H
#define STRATA_RULE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "sql.h"

#define STRATA_RULE_NAME_MAX 128     /* AWS: ^[a-zA-Z0-9_]+$, 1..128 */
#define STRATA_RULE_MAX_ACTIONS 10   /* AWS's limit per rule */
#define STRATA_RULE_MAX_PAYLOAD 16384
#define STRATA_RULE_MAX_HEADERS 100

enum strata_rule_action_kind {
	STRATA_RULE_REPUBLISH,
	STRATA_RULE_HTTP,
	STRATA_RULE_REDIS,
	STRATA_RULE_KAFKA,
	STRATA_RULE_FILE,
};

enum strata_rule_redis_command {
	STRATA_RULE_REDIS_XADD,
	STRATA_RULE_REDIS_LPUSH,
	STRATA_RULE_REDIS_HSET,
};

/* A header, or an MQTT 5 user property: key and value. */
struct strata_rule_pair {
	struct strata_sql_template *key;   /* http: literal */
	struct strata_sql_template *value;
};

struct strata_rule_action {
	enum strata_rule_action_kind kind;
	const char *name;     /* "republish", "http", ... (AWS's member) */
	json_t *spec;         /* the action's object as given */
	/* republish: topic; http: url; kafka: topic */
	struct strata_sql_template *topic;
	struct strata_sql_template *url;
	int qos;                              /* republish */
	bool retain;                          /* republish */
	/* republish headers (MQTT 5 properties; NULL when absent) */
	struct strata_sql_template *payload_format;
	struct strata_sql_template *content_type;
	struct strata_sql_template *response_topic;
	struct strata_sql_template *correlation_data;
	struct strata_sql_template *message_expiry;
	/* republish user properties, http headers, kafka headers */
	struct strata_rule_pair *pairs;
	size_t n_pairs;
	char *confirmation_url;               /* http; NULL when absent */
	long timeout_ms;                      /* http (default 3000) */
	long retries;                         /* http (default 3) */
	char *redis_url;                      /* redis */
	enum strata_rule_redis_command command;
	struct strata_sql_template *key;      /* redis, kafka */
	struct strata_sql_template *field;    /* redis HSET */
	long max_length;                      /* redis; 0: unbounded */
	struct strata_sql_template *partition; /* kafka; NULL: any */
	json_t *client_properties;            /* kafka: string -> string */
	char *path;                           /* file */
	long max_bytes;                       /* file (default 64 MiB) */
	long max_files;                       /* file (default 5) */
};

struct strata_rule {
	char *sql_text;
	struct strata_sql *sql;
	char *description;                    /* "" when absent */
	bool disabled;
	char *sql_version;                    /* as given, or "2015-10-08" */
	struct strata_rule_action *actions;
	size_t n_actions;
	struct strata_rule_action *error_action; /* NULL when absent */
};

/* Why a payload was refused: message is one English sentence naming the
 * member at fault (e.g. "actions[1].http.url: ..."), NUL-terminated; for
 * an SQL error line and column are the statement's, else 0. */
struct strata_rule_error {
	int line, column;
	char message[320];
};

/*
 * Parse a TopicRulePayload of len bytes.  Returns the rule (the caller
 * frees it with strata_rule_free) or NULL with *err filled: invalid
 * JSON, a missing or mistyped member, an unknown action kind, a
 * template or statement that does not parse, more than
 * STRATA_RULE_MAX_ACTIONS actions, a payload over
 * STRATA_RULE_MAX_PAYLOAD bytes.
 */
struct strata_rule *strata_rule_parse(const char *payload, size_t len,
    struct strata_rule_error *err);
void strata_rule_free(struct strata_rule *rule);

/* AWS's rule names: [a-zA-Z0-9_], 1..STRATA_RULE_NAME_MAX. */
bool strata_rule_name_valid(const char *name, size_t len);

#endif
