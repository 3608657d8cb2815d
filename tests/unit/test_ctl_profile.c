/*
 * test_ctl_profile.c - the credentials file's parser: sections, keys and
 * their preferred names, comments, continuations, white space and line
 * ends, and the lines it refuses (with their number).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "profile.h"

struct read_profile {
	struct ctl_profile p;
	char msg[128];
	int rc;
};

static void
read_profile(struct read_profile *r, const char *text, const char *name)
{
	memset(r, 0, sizeof(*r));
	r->rc = ctl_profile_parse(&r->p, text, name, r->msg, sizeof(r->msg));
}

static void
assert_keys(const struct read_profile *r, const char *id,
    const char *secret)
{
	assert_int_equal(r->rc, 0);
	assert_true(r->p.found);
	assert_string_equal(r->p.access_key_id, id);
	assert_string_equal(r->p.secret_access_key, secret);
}

static void
assert_refused(const char *text, const char *message)
{
	struct read_profile r;

	read_profile(&r, text, "default");
	assert_int_equal(r.rc, -1);
	assert_string_equal(r.msg, message);
	assert_false(r.p.found);
	assert_null(r.p.access_key_id);
	assert_null(r.p.secret_access_key);
}

static void
test_profile_among_others(void **state)
{
	static const char text[] =
	    "# made by hand\n"
	    "[default]\n"
	    "strata_access_key_id = AKIADEFAULT\n"
	    "strata_secret_access_key = d+/s=cret\n"
	    "\n"
	    "[ops]\n"
	    "; the operators' key\n"
	    "strata_access_key_id=AKIAOPS\n"
	    "strata_secret_access_key=ops/secret+1\n"
	    "region = local\n";
	struct read_profile r;

	read_profile(&r, text, "ops");
	assert_keys(&r, "AKIAOPS", "ops/secret+1");
	ctl_profile_clear(&r.p);
	read_profile(&r, text, "default");
	assert_keys(&r, "AKIADEFAULT", "d+/s=cret");
	ctl_profile_clear(&r.p);
	read_profile(&r, text, "dev");
	assert_int_equal(r.rc, 0);
	assert_false(r.p.found);
	assert_null(r.p.access_key_id);
	read_profile(&r, text, "Ops");
	assert_false(r.p.found);
	read_profile(&r, "", "default");
	assert_int_equal(r.rc, 0);
	assert_false(r.p.found);
}

/* The strata_ names win over the aws_ ones, whatever their order; key
 * names are matched without regard to case; "key: value" works too. */
static void
test_key_names(void **state)
{
	struct read_profile r;

	read_profile(&r, "[p]\naws_access_key_id = A1\n"
	    "aws_secret_access_key = S1\n", "p");
	assert_keys(&r, "A1", "S1");
	ctl_profile_clear(&r.p);
	read_profile(&r, "[p]\naws_access_key_id = A1\n"
	    "STRATA_ACCESS_KEY_ID = A2\naws_secret_access_key: S1\n"
	    "Strata_Secret_Access_Key:S2\n", "p");
	assert_keys(&r, "A2", "S2");
	ctl_profile_clear(&r.p);
	/* an empty strata_ value leaves the aws_ one */
	read_profile(&r, "[p]\nstrata_access_key_id =\n"
	    "aws_access_key_id = A1\n", "p");
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.p.access_key_id, "A1");
	assert_null(r.p.secret_access_key);
	ctl_profile_clear(&r.p);
	/* a section without the keys */
	read_profile(&r, "[p]\nregion = x\n", "p");
	assert_int_equal(r.rc, 0);
	assert_true(r.p.found);
	assert_null(r.p.access_key_id);
	assert_null(r.p.secret_access_key);
}

/* White space around lines, names and values, CR LF line ends, a last
 * line without LF, and continuation lines of nested settings. */
static void
test_layout(void **state)
{
	struct read_profile r;

	read_profile(&r, "\t[ default ] \r\n  strata_access_key_id\t=  AK "
	    "\r\nstrata_secret_access_key = S # not a comment", "default");
	assert_keys(&r, "AK", "S # not a comment");
	ctl_profile_clear(&r.p);
	read_profile(&r, "[default]\ns3 =\n  max_concurrent_requests = 2\n"
	    "  [odd]\nstrata_access_key_id = AK\n"
	    "strata_secret_access_key = S\n  continued\n", "default");
	assert_keys(&r, "AK", "S");
	ctl_profile_clear(&r.p);
	/* an indented key right after a section is a key */
	read_profile(&r, "[default]\n  strata_access_key_id = AK\n"
	    "  strata_secret_access_key = S\n", "default");
	assert_keys(&r, "AK", "S");
	ctl_profile_clear(&r.p);
}

static void
test_refusals(void **state)
{
	assert_refused("strata_access_key_id = A\n",
	    "line 1: a key before any [section]");
	assert_refused("[default]\nstrata_access_key_id A\n",
	    "line 2: expected [section] or key = value");
	assert_refused("\n\n[default\n", "line 3: a section name must end "
	    "with ']'");
	assert_refused("[default] x\n", "line 1: a section name must end "
	    "with ']'");
	assert_refused("[ ]\n", "line 1: a section without a name");
	assert_refused("[default]\n= A\n", "line 2: a key without a name");
	assert_refused("[default]\n[other]\n[default]\n",
	    "line 3: profile [default] appears twice");
	assert_refused("[default]\naws_secret_access_key = a\n"
	    "AWS_SECRET_ACCESS_KEY = b\n", "line 3: aws_secret_access_key "
	    "appears twice in [default]");
	/* a line outside the profile is checked all the same */
	assert_refused("[default]\n[other]\nnonsense\n",
	    "line 3: expected [section] or key = value");
}

/* Duplicates outside the profile asked for are not its concern. */
static void
test_other_sections_may_repeat(void **state)
{
	struct read_profile r;

	read_profile(&r, "[a]\nx = 1\nx = 2\n[a]\n[default]\n"
	    "strata_access_key_id = AK\nstrata_secret_access_key = S\n",
	    "default");
	assert_keys(&r, "AK", "S");
	ctl_profile_clear(&r.p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_profile_among_others),
		cmocka_unit_test(test_key_names),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_other_sections_may_repeat),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
