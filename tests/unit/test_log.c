/*
 * test_log.c - log line format, escaping, level filter, rate limit.
 */
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

/* stderr goes to a temporary file for the test; capture() returns what
 * was written since the last call. */
static FILE *capture_file;
static int saved_stderr = -1;

static int
setup(void **state)
{
	capture_file = tmpfile();
	if (capture_file == NULL)
		return -1;
	saved_stderr = dup(STDERR_FILENO);
	dup2(fileno(capture_file), STDERR_FILENO);
	return 0;
}

static int
teardown(void **state)
{
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	fclose(capture_file);
	strata_log_set_level(STRATA_LOG_INFO);
	return 0;
}

static char *
capture(void)
{
	static char buf[16384];
	size_t n;
	int fd = fileno(capture_file);

	n = (size_t)lseek(fd, 0, SEEK_CUR);
	lseek(fd, 0, SEEK_SET);
	assert_true(n < sizeof(buf));
	assert_int_equal(read(fd, buf, n), (ssize_t)n);
	buf[n] = '\0';
	assert_int_equal(ftruncate(fd, 0), 0);
	lseek(fd, 0, SEEK_SET);
	return buf;
}

static void
test_format(void **state)
{
	regex_t re;
	char *line;

	strata_log(STRATA_LOG_INFO, "broker", "client connected|client_id=%s",
	    "dev-1");
	line = capture();
	assert_int_equal(
	    regcomp(&re,
	        "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
	        "\\.[0-9]{3}Z level=info comp=broker msg=\"client connected\" "
	        "client_id=dev-1\n$",
	        REG_EXTENDED),
	    0);
	if (regexec(&re, line, 0, NULL, 0) != 0)
		fail_msg("bad line: %s", line);
	regfree(&re);
}

static void
test_escaping(void **state)
{
	char *line;

	strata_log(STRATA_LOG_WARN, "link", "say \"hi\" \\ now\nnext");
	line = capture();
	assert_non_null(strstr(line,
	    " level=warn comp=link msg=\"say \\\"hi\\\" \\\\ now\\nnext\"\n"));
	/* the tail keeps quotes as written but cannot break the line */
	strata_log(STRATA_LOG_ERROR, "r", "m| a=\"x\" b=1\n2");
	line = capture();
	assert_non_null(strstr(line, "msg=\"m\" a=\"x\" b=1\\n2\n"));
	assert_ptr_equal(strchr(line, '\n'), line + strlen(line) - 1);
	strata_log(STRATA_LOG_ERROR, "r", "ctl\x01|");
	line = capture();
	assert_non_null(strstr(line, "msg=\"ctl\\x01\"\n"));
}

static void
test_long_line(void **state)
{
	char *big = malloc(5001);
	char *line;

	memset(big, 'x', 5000);
	big[5000] = '\0';
	strata_log(STRATA_LOG_INFO, "c", "%s|k=%s", big, "v");
	line = capture();
	assert_non_null(strstr(line, big));
	assert_non_null(strstr(line, "x\" k=v\n"));
	free(big);
}

static void
test_level_filter(void **state)
{
	strata_log_set_level(STRATA_LOG_WARN);
	STRATA_INFO("c", "hidden");
	STRATA_DEBUG("c", "hidden");
	assert_string_equal(capture(), "");
	STRATA_WARN("c", "shown");
	STRATA_ERROR("c", "shown too");
	assert_non_null(strstr(capture(), "msg=\"shown too\""));
	strata_log_set_level(STRATA_LOG_DEBUG);
	STRATA_DEBUG("c", "dbg");
	assert_non_null(strstr(capture(), "level=debug comp=c msg=\"dbg\""));
	assert_int_equal(strata_log_level_parse("debug"), STRATA_LOG_DEBUG);
	assert_int_equal(strata_log_level_parse("info"), STRATA_LOG_INFO);
	assert_int_equal(strata_log_level_parse("warn"), STRATA_LOG_WARN);
	assert_int_equal(strata_log_level_parse("error"), STRATA_LOG_ERROR);
	assert_int_equal(strata_log_level_parse("verbose"), -1);
	assert_int_equal(strata_log_level_parse(""), -1);
}

/* A burst prints its first line, counts the rest, and accounts for every
 * call: printed lines plus the counts they carry plus what is still
 * counted equal the calls.  A burst may straddle a second boundary, so
 * the number of lines is bounded by the seconds it took, not fixed. */
static void
test_limited_burst(void **state)
{
	struct strata_log_limit lim = {0, 0};
	struct timespec t0, t1;
	uint64_t accounted = 0;
	unsigned long long n;
	long lines = 0;
	char *out, *p;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &t0);
	for (int i = 0; i < 1000; i++)
		strata_log_limited(&lim, STRATA_LOG_WARN, "broker",
		    "filter refused|i=%d", i);
	clock_gettime(CLOCK_MONOTONIC_COARSE, &t1);
	out = capture();
	assert_non_null(strstr(out, "msg=\"filter refused\" i=0\n"));
	for (p = out; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	assert_true(lines >= 1 && lines <= 1 + (t1.tv_sec - t0.tv_sec));
	for (p = out; (p = strstr(p, " suppressed=")) != NULL; p++) {
		assert_int_equal(sscanf(p, " suppressed=%llu", &n), 1);
		accounted += n;
	}
	assert_true((uint64_t)lines + accounted + lim.suppressed == 1000);
}

/* The next printed line carries the count and starts a new one. */
static void
test_limited_reports_count(void **state)
{
	/* second 1 is monotonic second 0: long past */
	struct strata_log_limit lim = {1, 41};
	char *line;

	strata_log_limited(&lim, STRATA_LOG_ERROR, "link", "bad frame");
	line = capture();
	assert_non_null(strstr(line,
	    " level=error comp=link msg=\"bad frame\" suppressed=41\n"));
	assert_int_equal(lim.suppressed, 0);
	assert_true(lim.second > 1);
	lim = (struct strata_log_limit){1, 7};
	strata_log_limited(&lim, STRATA_LOG_WARN, "broker",
	    "filter refused|client_id=%s", "c\n1");
	line = capture();
	assert_non_null(strstr(line,
	    "msg=\"filter refused\" client_id=c\\n1 suppressed=7\n"));
	/* a zeroed limit prints its first line without a count */
	lim = (struct strata_log_limit){0, 0};
	strata_log_limited(&lim, STRATA_LOG_WARN, "broker", "first");
	line = capture();
	assert_non_null(strstr(line, "msg=\"first\"\n"));
	assert_null(strstr(line, "suppressed"));
}

/* Below the level a call neither prints nor counts. */
static void
test_limited_level_filter(void **state)
{
	struct strata_log_limit lim = {0, 0};

	strata_log_set_level(STRATA_LOG_WARN);
	for (int i = 0; i < 3; i++)
		strata_log_limited(&lim, STRATA_LOG_INFO, "c", "hidden %d", i);
	assert_string_equal(capture(), "");
	assert_true(lim.second == 0 && lim.suppressed == 0);
	strata_log_limited(&lim, STRATA_LOG_WARN, "c", "shown");
	assert_non_null(strstr(capture(), "msg=\"shown\"\n"));
	strata_log_set_level(STRATA_LOG_INFO);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_format),
	    cmocka_unit_test(test_escaping),
	    cmocka_unit_test(test_long_line),
	    cmocka_unit_test(test_level_filter),
	    cmocka_unit_test(test_limited_burst),
	    cmocka_unit_test(test_limited_reports_count),
	    cmocka_unit_test(test_limited_level_filter),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
