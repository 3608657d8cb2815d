/*
 * config.c - the options of strata-router: the table (names, defaults,
 * ranges, help) and the checks that span several options.  main.c loads
 * them from argv; fuzz targets and tests load the same table with an argv
 * of their own.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "router.h"
#include "status.h"

#define OPT(name, type, field, def, min, max, help) \
	{ name, type, offsetof(struct router_config, field), def, min, max, \
	  help }

static const struct strata_config_option router_options[] = {
	OPT("node-id", STRATA_CFG_STRING, node_id, NULL, 0, 0,
	    "name of this router in Redis (default router-<pid>)"),
	OPT("bind", STRATA_CFG_STRING, bind, "127.0.0.1", 0, 0,
	    "IP address of the link and metrics listeners"),
	OPT("port", STRATA_CFG_INT, port, "7883", 1, 65535,
	    "TCP port brokers connect to (the link)"),
	OPT("metrics-port", STRATA_CFG_INT, metrics_port, "9983", 0, 65535,
	    "HTTP port of /metrics and /healthz (0: off)"),
	OPT("redis-host", STRATA_CFG_STRING, redis_host, "127.0.0.1", 0, 0,
	    "Redis host"),
	OPT("redis-port", STRATA_CFG_INT, redis_port, "6379", 1, 65535,
	    "Redis port"),
	OPT("redis-timeout", STRATA_CFG_INT, redis_timeout, "2000", 100,
	    600000, "deadline of every Redis command (ms)"),
	OPT("partition-levels", STRATA_CFG_INT, partition_levels, "3", 1, 16,
	    "topic levels hashed into the partition key (cluster-wide)"),
	OPT("log-level", STRATA_CFG_STRING, log_level, "info", 0, 0,
	    "debug, info, warn or error"),
	OPT("max-link-queue", STRATA_CFG_INT, max_link_queue, "67108864",
	    65536, 1L << 40,
	    "bytes queued per broker link before Delivers are dropped"),
	OPT("max-retained", STRATA_CFG_INT, max_retained, "500000", 0,
	    1000000000, "retained messages this router holds (0: none)"),
	OPT("max-retained-bytes", STRATA_CFG_INT, max_retained_bytes,
	    "1073741824", 0, 1L << 40,
	    "bytes of retained messages (topic, payload, properties) held"),
};

#define NOPTS (sizeof(router_options) / sizeof(router_options[0]))

int
router_config_load(struct router_config *cfg, int argc, char **argv,
    FILE *help_out, char *err, size_t errlen)
{
	int rc;

	rc = strata_config_load(router_options, NOPTS, cfg, argc, argv,
	    "strata-router", help_out, err, errlen);
	if (rc != 0)
		return rc;
	if (strata_log_level_parse(cfg->log_level) < 0) {
		snprintf(err, errlen, "--log-level: '%s' is not one of debug, "
		    "info, warn, error", cfg->log_level);
		return STRATA_EINVAL;
	}
	if (cfg->node_id == NULL &&
	    asprintf(&cfg->node_id, "router-%ld", (long)getpid()) < 0)
		abort();
	return 0;
}

void
router_config_free(struct router_config *cfg)
{
	strata_config_free(router_options, NOPTS, cfg);
}
