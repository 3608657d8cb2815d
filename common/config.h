/*
 * config.h - table-driven configuration for every daemon.
 *
 * A daemon describes its options in a table of strata_config_option (name,
 * type, offset into its config struct, default, help).  Values are applied
 * in this order, later winning:
 *   1. defaults from the table
 *   2. the config file (--config FILE or -c FILE): lines "name value",
 *      '#' starts a comment, blank lines ignored
 *   3. environment variables STRATA_<NAME> (name upper-cased, '-' -> '_')
 *   4. command-line flags --name value or --name=value
 * Errors name their source: "broker.conf:12: unknown option 'prot'",
 * "--port: '70000' is out of range 1..65535".  --help prints the table.
 * In the file, '#' starts a comment at the start of a line or after a
 * blank (so "filter a/#" keeps its '#'); the value is the rest of the line,
 * trimmed.  Without -c, the file named by $STRATA_CONFIG is read, if set.
 * A boolean flag may stand alone: "--tls" means "--tls true".
 */
#ifndef STRATA_CONFIG_H
#define STRATA_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum strata_config_type {
	STRATA_CFG_STRING, /* char * (malloc'd, freed by strata_config_free) */
	STRATA_CFG_INT,    /* long, checked against [min, max] */
	STRATA_CFG_BOOL,   /* bool: true/false/yes/no/on/off/1/0 */
};

struct strata_config_option {
	const char *name;
	enum strata_config_type type;
	size_t offset;
	const char *default_value; /* NULL: string stays NULL */
	long min, max;             /* for STRATA_CFG_INT */
	const char *help;
};

/* One row of an option table for the config struct `type`. */
#define STRATA_CONFIG_OPT(type, name, kind, field, def, lo, hi, help) \
	{name, kind, offsetof(type, field), def, lo, hi, help}

/*
 * The options every daemon of a cluster has, in the same words: its node
 * id, the address it binds, its metrics port, its Redis (address,
 * deadline, sentinels, replicas to wait for, credentials, TLS), the
 * cluster secret, the partition scheme and the log level.  `type` must
 * have a field per option (the option's name with '_' for '-'), which
 * STRATA_CONFIG_NODE_FIELDS (below) declares; metrics
 * is the default metrics port (a string).  The password files are read by
 * strata_redis_secrets_load(), and the TLS files by
 * strata_redis_tls_context(), into a struct strata_redis_secrets
 * redis_secrets, which STRATA_CONFIG_REDIS_OPTS hands on.
 */
#define STRATA_CONFIG_NODE_OPTIONS(type, metrics)                          \
	STRATA_CONFIG_OPT(type, "node-id", STRATA_CFG_STRING, node_id, NULL, \
	    0, 0, "name of this node in the cluster, unique and stable "    \
	    "(default <daemon>-<pid>)"),                                     \
	STRATA_CONFIG_OPT(type, "bind", STRATA_CFG_STRING, bind,            \
	    "127.0.0.1", 0, 0, "IP address the listeners bind"),            \
	STRATA_CONFIG_OPT(type, "metrics-port", STRATA_CFG_INT,             \
	    metrics_port, metrics, 0, 65535,                                \
	    "HTTP port of /metrics and /healthz (0 disables)"),             \
	STRATA_CONFIG_OPT(type, "redis-host", STRATA_CFG_STRING, redis_host, \
	    "127.0.0.1", 0, 0, "Redis host"),                               \
	STRATA_CONFIG_OPT(type, "redis-port", STRATA_CFG_INT, redis_port,   \
	    "6379", 1, 65535, "Redis port"),                                \
	STRATA_CONFIG_OPT(type, "redis-timeout", STRATA_CFG_INT,            \
	    redis_timeout, "2000", 100, 600000,                             \
	    "deadline of every Redis command (ms)"),                        \
	STRATA_CONFIG_OPT(type, "redis-sentinels", STRATA_CFG_STRING,       \
	    redis_sentinels, "", 0, 0, "Redis Sentinels, host:port,...: "   \
	    "ask them for the primary instead of redis-host/redis-port"),  \
	STRATA_CONFIG_OPT(type, "redis-master-name", STRATA_CFG_STRING,     \
	    redis_master_name, "strata", 0, 0,                              \
	    "the primary's name in the sentinels' configuration"),         \
	STRATA_CONFIG_OPT(type, "redis-wait-replicas", STRATA_CFG_INT,      \
	    redis_wait_replicas, "0", 0, 16, "replicas a write must reach " \
	    "(WAIT) before what depends on it is acknowledged"),            \
	STRATA_CONFIG_OPT(type, "redis-wait-timeout", STRATA_CFG_INT,       \
	    redis_wait_timeout, "500", 1, 600000,                           \
	    "how long such a write waits for its replicas (ms)"),           \
	STRATA_CONFIG_OPT(type, "redis-user", STRATA_CFG_STRING, redis_user, \
	    "", 0, 0, "Redis ACL user to AUTH as (empty: the default "      \
	    "user; needs redis-password-file)"),                            \
	STRATA_CONFIG_OPT(type, "redis-password-file", STRATA_CFG_STRING,   \
	    redis_password_file, "", 0, 0, "file holding the Redis "        \
	    "password; every Redis connection sends AUTH first (empty: "    \
	    "no AUTH)"),                                                    \
	STRATA_CONFIG_OPT(type, "redis-sentinel-user", STRATA_CFG_STRING,   \
	    redis_sentinel_user, "", 0, 0, "ACL user to AUTH as on the "    \
	    "sentinels (empty: the default user)"),                         \
	STRATA_CONFIG_OPT(type, "redis-sentinel-password-file",             \
	    STRATA_CFG_STRING, redis_sentinel_password_file, "", 0, 0,      \
	    "file holding the sentinels' own password (their "              \
	    "requirepass; empty: no AUTH to the sentinels)"),               \
	STRATA_CONFIG_OPT(type, "redis-tls", STRATA_CFG_BOOL, redis_tls,    \
	    "false", 0, 0, "speak TLS to Redis and to the sentinels "       \
	    "(needs redis-tls-ca)"),                                        \
	STRATA_CONFIG_OPT(type, "redis-tls-ca", STRATA_CFG_STRING,          \
	    redis_tls_ca, "", 0, 0, "CA file (PEM) Redis's and the "        \
	    "sentinels' certificates are verified against"),               \
	STRATA_CONFIG_OPT(type, "redis-tls-cert", STRATA_CFG_STRING,        \
	    redis_tls_cert, "", 0, 0, "client certificate chain (PEM) "     \
	    "for Redis's tls-auth-clients (empty: none)"),                  \
	STRATA_CONFIG_OPT(type, "redis-tls-key", STRATA_CFG_STRING,         \
	    redis_tls_key, "", 0, 0, "private key (PEM) of "                \
	    "redis-tls-cert"),                                              \
	STRATA_CONFIG_OPT(type, "cluster-secret-file", STRATA_CFG_STRING,   \
	    cluster_secret_file, "", 0, 0, "file with the secret every "   \
	    "node of the cluster shares: node links prove it (empty: "      \
	    "links are not checked)"),                                      \
	STRATA_CONFIG_OPT(type, "partition-levels", STRATA_CFG_INT,         \
	    partition_levels, "3", 1, 16,                                   \
	    "topic levels hashed into the partition key (cluster-wide)"),   \
	STRATA_CONFIG_OPT(type, "log-level", STRATA_CFG_STRING, log_level,  \
	    "info", 0, 0, "debug, info, warn or error")

/* The fields of those options, first in a daemon's config struct (the
 * struct strata_redis_secrets and link_auth loaded from the files are
 * the daemon's own: shadowd and rulesd hand them to their broker core). */
#define STRATA_CONFIG_NODE_FIELDS                                         \
	char *node_id;                                                      \
	char *bind;                                                         \
	long metrics_port;                                                  \
	char *redis_host;                                                   \
	long redis_port;                                                    \
	long redis_timeout;                                                 \
	char *redis_sentinels;                                              \
	char *redis_master_name;                                            \
	long redis_wait_replicas;                                           \
	long redis_wait_timeout;                                            \
	char *redis_user;                                                   \
	char *redis_password_file;                                          \
	char *redis_sentinel_user;                                          \
	char *redis_sentinel_password_file;                                 \
	bool redis_tls;                                                     \
	char *redis_tls_ca;                                                 \
	char *redis_tls_cert;                                               \
	char *redis_tls_key;                                                \
	char *cluster_secret_file;                                          \
	long partition_levels;                                              \
	char *log_level;

/* The strata_redis_opts of a daemon config with the node options. */
#define STRATA_CONFIG_REDIS_OPTS(cfg) {                                   \
	.host = (cfg)->redis_host,                                          \
	.port = (uint16_t)(cfg)->redis_port,                                \
	.sentinels = (cfg)->redis_sentinels,                                \
	.master = (cfg)->redis_master_name,                                 \
	.timeout_ms = (unsigned)(cfg)->redis_timeout,                       \
	.wait_replicas = (unsigned)(cfg)->redis_wait_replicas,              \
	.wait_timeout_ms = (unsigned)(cfg)->redis_wait_timeout,             \
	.user = (cfg)->redis_user,                                          \
	.password = (cfg)->redis_secrets.password,                          \
	.sentinel_user = (cfg)->redis_sentinel_user,                        \
	.sentinel_password = (cfg)->redis_secrets.sentinel_password,        \
	.tls = (cfg)->redis_secrets.tls,                                    \
}

/*
 * The files the node options name, read after loading: the Redis
 * passwords, the TLS context to Redis and the cluster secret, into the
 * daemon config's redis_secrets and link_auth.
 */
struct strata_redis_secrets;
struct strata_linkauth;
struct strata_config_node_files {
	struct strata_redis_secrets *redis_secrets;
	const char *redis_user, *redis_password_file;
	const char *redis_sentinel_user, *redis_sentinel_password_file;
	bool redis_tls;
	const char *redis_tls_ca, *redis_tls_cert, *redis_tls_key;
	struct strata_linkauth *link_auth;
	const char *cluster_secret_file;
};
#define STRATA_CONFIG_NODE_FILES(cfg) {                                   	.redis_secrets = &(cfg)->redis_secrets,                             	.redis_user = (cfg)->redis_user,                                    	.redis_password_file = (cfg)->redis_password_file,                  	.redis_sentinel_user = (cfg)->redis_sentinel_user,                  	.redis_sentinel_password_file = (cfg)->redis_sentinel_password_file, \
	.redis_tls = (cfg)->redis_tls,                                      	.redis_tls_ca = (cfg)->redis_tls_ca,                                	.redis_tls_cert = (cfg)->redis_tls_cert,                            	.redis_tls_key = (cfg)->redis_tls_key,                              	.link_auth = &(cfg)->link_auth,                                     	.cluster_secret_file = (cfg)->cluster_secret_file,                  }
/* Read them (what the structs held before is freed).  Returns 0 or
 * STRATA_EINVAL with a message naming the option in err. */
int strata_config_node_files_load(const struct strata_config_node_files *f,
    char *err, size_t errlen);

/*
 * Fill cfg from the sources above.  Returns 0; 1 if --help was given (help
 * was printed to `out`, the caller exits 0); or STRATA_EINVAL with a message
 * in err (the caller prints it and exits 2).
 */
int strata_config_load(const struct strata_config_option *opts, size_t nopts,
    void *cfg, int argc, char **argv, const char *program, FILE *out,
    char *err, size_t errlen);
void strata_config_free(const struct strata_config_option *opts,
    size_t nopts, void *cfg);

/*
 * The checks of STRATA_CONFIG_NODE_OPTIONS after loading: log_level must
 * name a level, and an unset *node_id becomes "<daemon>-<pid>" (daemon:
 * "broker", "router", ...).  Returns 0 or STRATA_EINVAL with a message
 * in err.
 */
int strata_config_node_check(char **node_id, const char *log_level,
    const char *daemon, char *err, size_t errlen);

#endif
