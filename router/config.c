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

#define OPT(n, t, f, d, lo, hi, h) \
	STRATA_CONFIG_OPT(struct router_config, n, t, f, d, lo, hi, h)

static const struct strata_config_option router_options[] = {
	STRATA_CONFIG_NODE_OPTIONS(struct router_config, "9983"),
	OPT("port", STRATA_CFG_INT, port, "7883", 1, 65535,
	    "TCP port brokers connect to (the link)"),
	OPT("max-link-queue", STRATA_CFG_INT, max_link_queue, "67108864",
	    65536, 1L << 40,
	    "bytes queued per broker link; past them QoS 1/2 Delivers "
	    "wait, QoS 0 ones are dropped"),
	OPT("max-retained", STRATA_CFG_INT, max_retained, "500000", 0,
	    1000000000, "retained messages this router holds (0: none)"),
	OPT("max-retained-bytes", STRATA_CFG_INT, max_retained_bytes,
	    "1073741824", 0, 1L << 40,
	    "bytes of retained messages (topic, payload, properties) held"),
	OPT("max-queued", STRATA_CFG_INT, max_queued, "1000", 1, 10000000,
	    "messages queued in Redis per offline persistent session (the "
	    "brokers' max-queued should match)"),
	OPT("share-strategy", STRATA_CFG_STRING, share_strategy,
	    "round-robin", 0, 0, "how a shared subscription's member is "
	    "picked: round-robin, random, sticky, hash-client, hash-topic"),
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
	if (router_shares_strategy(cfg->share_strategy) < 0) {
		snprintf(err, errlen, "share-strategy: unknown strategy \"%s\" "
		    "(round-robin, random, sticky, hash-client, hash-topic)",
		    cfg->share_strategy);
		return STRATA_EINVAL;
	}
	{
		struct strata_redis_opts ro = STRATA_CONFIG_REDIS_OPTS(cfg);

		if (strata_redis_check_opts(&ro, err, errlen) != 0)
			return STRATA_EINVAL;
	}
	{
		struct strata_config_node_files nf =
		    STRATA_CONFIG_NODE_FILES(cfg);

		if (strata_config_node_files_load(&nf, err, errlen) != 0)
			return STRATA_EINVAL;
	}
	return strata_config_node_check(&cfg->node_id, cfg->log_level,
	    "router", err, errlen);
}

void
router_config_free(struct router_config *cfg)
{
	strata_linkauth_free(&cfg->link_auth);
	strata_redis_secrets_free(&cfg->redis_secrets);
	strata_config_free(router_options, NOPTS, cfg);
}
