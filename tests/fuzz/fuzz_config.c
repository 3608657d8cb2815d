/*
 * fuzz_config.c - libFuzzer target for the config file parser.
 *
 * The input is a config file.  It is handed to strata_config_load() through
 * a memfd, the way a daemon reads --config FILE, against a table with one
 * option of each type.  Any input must give 0 or STRATA_EINVAL with a
 * message, never a crash or a leak.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "status.h"

struct fuzz_config {
	char *name;
	long port;
	bool flag;
	char *path;
};

static const struct strata_config_option fuzz_options[] = {
	{"name", STRATA_CFG_STRING, offsetof(struct fuzz_config, name), "x",
	    0, 0, "a string"},
	{"port", STRATA_CFG_INT, offsetof(struct fuzz_config, port), "1883",
	    1, 65535, "an integer"},
	{"flag", STRATA_CFG_BOOL, offsetof(struct fuzz_config, flag), "false",
	    0, 0, "a boolean"},
	{"path", STRATA_CFG_STRING, offsetof(struct fuzz_config, path), NULL,
	    0, 0, "a string without default"},
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_config cfg;
	char path[64], err[512];
	char *argv[4];
	int fd, rc;
	FILE *out;

	fd = memfd_create("fuzz-config", 0);
	if (fd < 0)
		abort();
	if (size > 0 && write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	argv[0] = "fuzz";
	argv[1] = "--config";
	argv[2] = path;
	argv[3] = NULL;
	out = fopen("/dev/null", "w");
	memset(&cfg, 0, sizeof(cfg));
	err[0] = '\0';
	rc = strata_config_load(fuzz_options, 4, &cfg, 3, argv, "fuzz", out,
	    err, sizeof(err));
	if (rc != 0 && rc != 1 && (rc != STRATA_EINVAL || err[0] == '\0'))
		abort();
	if (rc == 0 && (cfg.port < 1 || cfg.port > 65535))
		abort();
	strata_config_free(fuzz_options, 4, &cfg);
	fclose(out);
	close(fd);
	return 0;
}
