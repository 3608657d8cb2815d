/*
 * test_config.c - defaults, file, environment, flags, precedence, errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "status.h"

struct test_cfg {
	char *bind_host;
	long port;
	bool tls;
	char *filter;
	char *name;
	long level;
};

static const struct strata_config_option opts[] = {
    {"bind-host", STRATA_CFG_STRING, offsetof(struct test_cfg, bind_host),
        "0.0.0.0", 0, 0, "Address to listen on."},
    {"port", STRATA_CFG_INT, offsetof(struct test_cfg, port), "1883", 1, 65535,
        "MQTT port."},
    {"tls", STRATA_CFG_BOOL, offsetof(struct test_cfg, tls), "false", 0, 0,
        "Require TLS."},
    {"filter", STRATA_CFG_STRING, offsetof(struct test_cfg, filter), NULL, 0,
        0, "A topic filter."},
    {"name", STRATA_CFG_STRING, offsetof(struct test_cfg, name), NULL, 0, 0,
        "Node name."},
    {"level", STRATA_CFG_INT, offsetof(struct test_cfg, level), "-5", -10, 10,
        "A signed number."},
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static char conf_path[256];
static char err[512];

static const char *env_vars[] = {"STRATA_BIND_HOST", "STRATA_PORT",
    "STRATA_TLS", "STRATA_FILTER", "STRATA_NAME", "STRATA_LEVEL",
    "STRATA_CONFIG"};

static int
setup(void **state)
{
	for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
		unsetenv(env_vars[i]);
	conf_path[0] = '\0';
	return 0;
}

static int
teardown(void **state)
{
	if (conf_path[0] != '\0')
		unlink(conf_path);
	return setup(state);
}

static const char *
write_conf(const char *text)
{
	const char *dir = getenv("TMPDIR");
	int fd;

	snprintf(conf_path, sizeof(conf_path), "%s/strata-test-conf-XXXXXX",
	    dir != NULL && dir[0] != '\0' ? dir : P_tmpdir);
	fd = mkstemp(conf_path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return conf_path;
}

/* Load with argv given as a NULL-terminated list after the program. */
static int
load(struct test_cfg *cfg, FILE *out, ...)
{
	char *argv[32] = {"prog"};
	int argc = 1;
	va_list ap;
	int rc;

	va_start(ap, out);
	while ((argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	memset(cfg, 0xA5, sizeof(*cfg)); /* garbage: load must not free it */
	rc = strata_config_load(opts, NOPTS, cfg, argc, argv, "prog",
	    out ? out : stdout, err, sizeof(err));
	return rc;
}

static void
test_defaults(void **state)
{
	struct test_cfg cfg;

	assert_int_equal(load(&cfg, NULL, NULL), 0);
	assert_string_equal(cfg.bind_host, "0.0.0.0");
	assert_int_equal(cfg.port, 1883);
	assert_false(cfg.tls);
	assert_null(cfg.filter);
	assert_int_equal(cfg.level, -5);
	strata_config_free(opts, NOPTS, &cfg);
	assert_null(cfg.bind_host);
}

static void
test_file(void **state)
{
	struct test_cfg cfg;
	const char *path =
	    write_conf("# a comment\n"
	               "\n"
	               "   \t\n"
	               "port 8883   \n"
	               "  bind-host   127.0.0.1 # trailing comment\n"
	               "tls yes\r\n"
	               "filter a/b/#\n"
	               "name node one  \n"
	               "level -10\n");

	assert_int_equal(load(&cfg, NULL, "-c", path, NULL), 0);
	assert_int_equal(cfg.port, 8883);
	assert_string_equal(cfg.bind_host, "127.0.0.1");
	assert_true(cfg.tls);
	assert_string_equal(cfg.filter, "a/b/#");
	assert_string_equal(cfg.name, "node one");
	assert_int_equal(cfg.level, -10);
	strata_config_free(opts, NOPTS, &cfg);
	/* --config FILE, --config=FILE and $STRATA_CONFIG name it too */
	assert_int_equal(load(&cfg, NULL, "--config", path, NULL), 0);
	assert_int_equal(cfg.port, 8883);
	strata_config_free(opts, NOPTS, &cfg);
	char arg[128];
	snprintf(arg, sizeof(arg), "--config=%s", path);
	assert_int_equal(load(&cfg, NULL, arg, NULL), 0);
	assert_int_equal(cfg.port, 8883);
	strata_config_free(opts, NOPTS, &cfg);
	setenv("STRATA_CONFIG", path, 1);
	assert_int_equal(load(&cfg, NULL, NULL), 0);
	assert_int_equal(cfg.port, 8883);
	strata_config_free(opts, NOPTS, &cfg);
}

static void
test_precedence(void **state)
{
	struct test_cfg cfg;
	const char *path = write_conf("port 2000\nname from-file\n"
	                              "bind-host file-host\n");

	setenv("STRATA_PORT", "3000", 1);
	setenv("STRATA_BIND_HOST", "env-host", 1);
	setenv("STRATA_TLS", "on", 1);
	assert_int_equal(
	    load(&cfg, NULL, "-c", path, "--port", "4000", NULL), 0);
	assert_int_equal(cfg.port, 4000);               /* flag > env */
	assert_string_equal(cfg.bind_host, "env-host"); /* env > file */
	assert_string_equal(cfg.name, "from-file");     /* file > default */
	assert_true(cfg.tls);
	strata_config_free(opts, NOPTS, &cfg);
	/* the flag wins wherever it stands relative to -c */
	assert_int_equal(load(&cfg, NULL, "--port=5000", "-c", path,
	                     "--bind-host=flag-host", NULL),
	    0);
	assert_int_equal(cfg.port, 5000);
	assert_string_equal(cfg.bind_host, "flag-host");
	strata_config_free(opts, NOPTS, &cfg);
}

static void
test_flags(void **state)
{
	struct test_cfg cfg;

	assert_int_equal(load(&cfg, NULL, "--tls", "--port", "1", NULL), 0);
	assert_true(cfg.tls);
	assert_int_equal(cfg.port, 1);
	strata_config_free(opts, NOPTS, &cfg);
	assert_int_equal(load(&cfg, NULL, "--tls", "off", "--name=", NULL), 0);
	assert_false(cfg.tls);
	assert_string_equal(cfg.name, "");
	strata_config_free(opts, NOPTS, &cfg);
	assert_int_equal(
	    load(&cfg, NULL, "--port", "65535", "--tls", NULL), 0);
	assert_int_equal(cfg.port, 65535);
	assert_true(cfg.tls);
	strata_config_free(opts, NOPTS, &cfg);
}

static void
test_bool_words(void **state)
{
	const char *yes[] = {"true", "yes", "on", "1", "TRUE", "Yes"};
	const char *no[] = {"false", "no", "off", "0", "False"};
	struct test_cfg cfg;
	char arg[32];

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		snprintf(arg, sizeof(arg), "--tls=%s", yes[i]);
		assert_int_equal(load(&cfg, NULL, arg, NULL), 0);
		assert_true(cfg.tls);
		strata_config_free(opts, NOPTS, &cfg);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		snprintf(arg, sizeof(arg), "--tls=%s", no[i]);
		assert_int_equal(load(&cfg, NULL, "--tls", arg, NULL), 0);
		assert_false(cfg.tls);
		strata_config_free(opts, NOPTS, &cfg);
	}
}

/* Each error: the return code and the exact message. */
static void
expect_error(struct test_cfg *cfg, int rc, const char *want)
{
	assert_int_equal(rc, STRATA_EINVAL);
	assert_string_equal(err, want);
	strata_config_free(opts, NOPTS, cfg);
}

static void
test_file_errors(void **state)
{
	struct test_cfg cfg;
	char want[256];
	const char *path;

	path = write_conf("# ok\nport 80\n\nprot 81\n");
	snprintf(want, sizeof(want), "%s:4: unknown option 'prot'", path);
	expect_error(&cfg, load(&cfg, NULL, "-c", path, NULL), want);
	path = write_conf("port 70000\n");
	snprintf(want, sizeof(want),
	    "%s:1: port: '70000' is out of range 1..65535", path);
	expect_error(&cfg, load(&cfg, NULL, "-c", path, NULL), want);
	path = write_conf("\nport 12ab\n");
	snprintf(
	    want, sizeof(want), "%s:2: port: '12ab' is not an integer", path);
	expect_error(&cfg, load(&cfg, NULL, "-c", path, NULL), want);
	path = write_conf("tls maybe\n");
	snprintf(want, sizeof(want),
	    "%s:1: tls: 'maybe' is not a boolean "
	    "(true/false/yes/no/on/off/1/0)",
	    path);
	expect_error(&cfg, load(&cfg, NULL, "-c", path, NULL), want);
	path = write_conf("name   # only a comment\n");
	snprintf(want, sizeof(want), "%s:1: missing value for 'name'", path);
	expect_error(&cfg, load(&cfg, NULL, "-c", path, NULL), want);
	path = write_conf("port 99999999999999999999999\n");
	snprintf(want, sizeof(want),
	    "%s:1: port: '99999999999999999999999' is out of range "
	    "1..65535",
	    path);
	expect_error(&cfg, load(&cfg, NULL, "-c", path, NULL), want);
	unlink(path);
	snprintf(want, sizeof(want),
	    "%s: cannot open: No such file or directory", path);
	expect_error(&cfg, load(&cfg, NULL, "-c", path, NULL), want);
	conf_path[0] = '\0';
}

static void
test_env_flag_errors(void **state)
{
	struct test_cfg cfg;

	setenv("STRATA_PORT", "0", 1);
	expect_error(&cfg, load(&cfg, NULL, NULL),
	    "STRATA_PORT: '0' is out of range 1..65535");
	setenv("STRATA_PORT", " 5", 1);
	expect_error(&cfg, load(&cfg, NULL, NULL),
	    "STRATA_PORT: ' 5' is not an integer");
	unsetenv("STRATA_PORT");
	setenv("STRATA_TLS", "2", 1);
	expect_error(&cfg, load(&cfg, NULL, NULL),
	    "STRATA_TLS: '2' is not a boolean (true/false/yes/no/on/off/1/0)");
	unsetenv("STRATA_TLS");
	expect_error(&cfg, load(&cfg, NULL, "--port", "70000", NULL),
	    "--port: '70000' is out of range 1..65535");
	expect_error(&cfg, load(&cfg, NULL, "--level=11", NULL),
	    "--level: '11' is out of range -10..10");
	expect_error(&cfg, load(&cfg, NULL, "--port=", NULL),
	    "--port: '' is not an integer");
	expect_error(&cfg, load(&cfg, NULL, "--prot", "1", NULL),
	    "unknown option '--prot'");
	expect_error(
	    &cfg, load(&cfg, NULL, "--port", NULL), "--port: missing value");
	expect_error(&cfg, load(&cfg, NULL, "extra", NULL),
	    "unexpected argument 'extra'");
	expect_error(&cfg, load(&cfg, NULL, "--tls", "maybe", NULL),
	    "unexpected argument 'maybe'");
	expect_error(
	    &cfg, load(&cfg, NULL, "-c", NULL), "-c: missing file name");
	expect_error(
	    &cfg, load(&cfg, NULL, "--", NULL), "unexpected argument '--'");
}

static void
test_help(void **state)
{
	struct test_cfg cfg;
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	/* help wins even over a bad flag */
	assert_int_equal(load(&cfg, out, "--prot", "--help", NULL), 1);
	fclose(out);
	assert_non_null(strstr(text, "Usage: prog [options]"));
	assert_non_null(strstr(text, "-c, --config FILE"));
	assert_non_null(strstr(text, "  --port INT (1..65535)\n"
	                             "      MQTT port. (default: 1883)\n"));
	assert_non_null(strstr(text, "  --bind-host STRING\n"
	                             "      Address to listen on. "
	                             "(default: 0.0.0.0)\n"));
	assert_non_null(strstr(text, "  --tls [BOOL]\n"
	                             "      Require TLS. (default: false)\n"));
	assert_non_null(strstr(text, "(default: none)"));
	assert_non_null(strstr(text, "STRATA_NAME"));
	free(text);
	strata_config_free(opts, NOPTS, &cfg);
	out = open_memstream(&text, &len);
	assert_int_equal(load(&cfg, out, "-h", NULL), 1);
	fclose(out);
	assert_non_null(strstr(text, "--level INT (-10..10)"));
	free(text);
	strata_config_free(opts, NOPTS, &cfg);
}

static void
test_bad_default(void **state)
{
	static const struct strata_config_option bad[] = {
	    {"port", STRATA_CFG_INT, 0, "0", 1, 10, "p"},
	};
	long port;
	char *argv[] = {"prog", NULL};

	assert_int_equal(strata_config_load(bad, 1, &port, 1, argv, "prog",
	                     stdout, err, sizeof(err)),
	    STRATA_EINVAL);
	assert_string_equal(err, "default of 'port': '0' is out of range "
	                         "1..10");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_precedence, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flags, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bool_words, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_env_flag_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_help, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_default, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
