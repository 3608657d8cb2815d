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

#endif
