/*
 * test_console_path.c - the web console's file names and session cookie
 * (common/console_path.c): what maps to a file, what is refused, and the
 * cookie among others.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "console_path.h"

static void
accept_path(const char *path, const char *want)
{
	char out[STRATA_CONSOLE_NAME_MAX + 1];

	assert_int_equal(strata_console_path(path, out, sizeof(out)), 0);
	assert_string_equal(out, want);
}

static void
refuse_path(const char *path)
{
	char out[STRATA_CONSOLE_NAME_MAX + 1];

	assert_int_equal(strata_console_path(path, out, sizeof(out)),
	    STRATA_EINVAL);
}

static void
test_paths(void **state)
{
	char longer[300];
	char small[8];

	(void)state;
	accept_path("/console/", "index.html");
	accept_path("/console/js/app.js", "js/app.js");
	accept_path("/console/vendor/mqtt.esm.js", "vendor/mqtt.esm.js");
	accept_path("/console/a/b/c.css", "a/b/c.css");
	refuse_path("/console");
	refuse_path("/consolex/index.html");
	refuse_path("/console/../x.js");
	refuse_path("/console/js/../x.js");
	refuse_path("/console/%2e%2e/x.js");
	refuse_path("/console/.x.js");
	refuse_path("/console/js/.x.js");
	refuse_path("/console//x.js");
	refuse_path("/console/js/");
	refuse_path("/console/a/b/c/d.js");
	refuse_path("/console/x.exe");
	refuse_path("/console/noextension");
	refuse_path("/console/x.js?y");
	refuse_path("/console/x y.js");
	refuse_path("/console/a..b.js");
	memset(longer, 'a', sizeof(longer));
	memcpy(longer, "/console/", 9);
	memcpy(longer + sizeof(longer) - 4, ".js", 4);
	refuse_path(longer);
	assert_int_equal(strata_console_path("/console/", small,
	    sizeof(small)), STRATA_EINVAL);
	assert_string_equal(strata_console_content_type("a.svg"),
	    "image/svg+xml");
	assert_null(strata_console_content_type("a.js/b"));
}

static void
test_cookie(void **state)
{
	char sid[STRATA_CONSOLE_SID_LEN + 1], h[256];
	const char *id =
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

	(void)state;
	snprintf(h, sizeof(h), "strata_console=%s", id);
	assert_int_equal(strata_console_cookie(h, sid), 0);
	assert_string_equal(sid, id);
	snprintf(h, sizeof(h), "a=1; strata_console=%s; b=2", id);
	assert_int_equal(strata_console_cookie(h, sid), 0);
	snprintf(h, sizeof(h), "xstrata_console=%s", id);
	assert_int_equal(strata_console_cookie(h, sid), STRATA_EINVAL);
	snprintf(h, sizeof(h), "strata_console=%s; strata_console=%s", id, id);
	assert_int_equal(strata_console_cookie(h, sid), STRATA_EINVAL);
	snprintf(h, sizeof(h), "strata_console=%sa", id);
	assert_int_equal(strata_console_cookie(h, sid), STRATA_EINVAL);
	snprintf(h, sizeof(h), "strata_console=%.63s", id);
	assert_int_equal(strata_console_cookie(h, sid), STRATA_EINVAL);
	assert_int_equal(strata_console_cookie("strata_console=", sid),
	    STRATA_EINVAL);
	assert_int_equal(strata_console_cookie("", sid), STRATA_EINVAL);
}

static void
test_host(void **state)
{
	char out[32];

	(void)state;
	assert_int_equal(strata_console_host("127.0.0.1:10083", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "127.0.0.1");
	assert_int_equal(strata_console_host("[::1]:10083", out, sizeof(out)),
	    0);
	assert_string_equal(out, "[::1]");
	assert_int_equal(strata_console_host("console.example", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "console.example");
	assert_int_equal(strata_console_host("", out, sizeof(out)),
	    STRATA_EINVAL);
	assert_int_equal(strata_console_host(":80", out, sizeof(out)),
	    STRATA_EINVAL);
	assert_int_equal(strata_console_host("[::1:80", out, sizeof(out)),
	    STRATA_EINVAL);
	assert_int_equal(strata_console_host("a;b:80", out, sizeof(out)),
	    STRATA_EINVAL);
	assert_int_equal(strata_console_host("x y", out, sizeof(out)),
	    STRATA_EINVAL);
	assert_int_equal(strata_console_host(
	    "a-very-long-host-name-longer-than-the-buffer.example:1", out,
	    sizeof(out)), STRATA_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_cookie),
		cmocka_unit_test(test_host),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
