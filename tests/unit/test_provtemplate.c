/*
 * test_provtemplate.c - the provisioning template language: parameters
 * (given, Default, missing), the pseudo parameters, every function
 * (Ref, Fn::Join, Fn::Sub, Fn::If, Fn::FindInMap, Fn::Split,
 * Fn::Select, AWS::NoValue), conditions (Fn::Equals, Fn::And, Fn::Or,
 * Fn::Not, Condition) on resources, the three resource types,
 * DeviceConfiguration, and the named errors of the check and of
 * evaluation (unknown names, cycles, bounds).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "provtemplate.h"

static char err[256];

static json_t *
load(const char *text)
{
	json_error_t jerr;
	json_t *t = json_loads(text, 0, &jerr);

	if (t == NULL)
		fail_msg("bad test JSON: %s", jerr.text);
	return t;
}

/* Evaluate text with params (JSON text) into p; the return code. */
static int
eval(const char *text, const char *params,
    struct strata_provtemplate_plan *p)
{
	json_t *t = load(text), *pa = load(params);
	int rc = strata_provtemplate_eval(t, pa, "prov-", p, err,
	    sizeof(err));

	json_decref(t);
	json_decref(pa);
	return rc;
}

static int
check(const char *text)
{
	json_t *t = load(text);
	int rc = strata_provtemplate_check(t, err, sizeof(err));

	json_decref(t);
	return rc;
}

/* AWS's fleet provisioning example, shortened. */
static const char fleet[] =
    "{\"Parameters\": {"
    "  \"SerialNumber\": {\"Type\": \"String\"},"
    "  \"Location\": {\"Type\": \"String\", \"Default\": \"WA\"},"
    "  \"DeviceType\": {\"Type\": \"String\"},"
    "  \"AWS::IoT::Certificate::Id\": {\"Type\": \"String\"}},"
    " \"Mappings\": {\"LocationTable\": {"
    "   \"WA\": {\"LocationUrl\": \"https://example.aws\"},"
    "   \"OR\": {\"LocationUrl\": \"https://example.or\"}}},"
    " \"Conditions\": {"
    "   \"IsLamp\": {\"Fn::Equals\": [{\"Ref\": \"DeviceType\"}, \"lamp\"]},"
    "   \"IsNotLamp\": {\"Fn::Not\": [{\"Condition\": \"IsLamp\"}]},"
    "   \"LampInWA\": {\"Fn::And\": [{\"Condition\": \"IsLamp\"},"
    "     {\"Fn::Equals\": [{\"Ref\": \"Location\"}, \"WA\"]}]},"
    "   \"Any\": {\"Fn::Or\": [{\"Condition\": \"IsLamp\"},"
    "     {\"Condition\": \"IsNotLamp\"}]}},"
    " \"Resources\": {"
    "  \"thing\": {\"Type\": \"AWS::IoT::Thing\", \"Properties\": {"
    "    \"ThingName\": {\"Fn::Join\": [\"\", [\"Thing-\","
    "       {\"Ref\": \"SerialNumber\"}]]},"
    "    \"ThingGroups\": {\"Fn::If\": [\"IsLamp\", [\"lamps\", \"v1\"],"
    "       [\"other\"]]},"
    "    \"AttributePayload\": {"
    "      \"version\": \"v1\","
    "      \"serialNumber\": {\"Ref\": \"SerialNumber\"},"
    "      \"where\": {\"Fn::Sub\": \"in ${Location}: ${!Literal}\"},"
    "      \"lampOnly\": {\"Fn::If\": [\"IsLamp\", \"yes\","
    "         {\"Ref\": \"AWS::NoValue\"}]}}},"
    "    \"OverrideSettings\": {\"AttributePayload\": \"MERGE\"}},"
    "  \"certificate\": {\"Type\": \"AWS::IoT::Certificate\","
    "   \"Properties\": {\"CertificateId\": "
    "     {\"Ref\": \"AWS::IoT::Certificate::Id\"}, \"Status\": \"Active\"}},"
    "  \"policy\": {\"Type\": \"AWS::IoT::Policy\", \"Condition\": \"IsLamp\","
    "   \"Properties\": {\"PolicyName\": \"lamp-policy\"}}},"
    " \"DeviceConfiguration\": {"
    "   \"FallbackUrl\": \"https://www.example.com/\","
    "   \"LocationUrl\": {\"Fn::FindInMap\": [\"LocationTable\","
    "     {\"Ref\": \"Location\"}, \"LocationUrl\"]},"
    "   \"Port\": 8883}}";

static void
test_fleet_example(void **state)
{
	struct strata_provtemplate_plan p;
	json_t *attrs;

	(void)state;
	assert_int_equal(check(fleet), 0);
	assert_int_equal(eval(fleet, "{\"SerialNumber\": \"42\", "
	    "\"DeviceType\": \"lamp\", \"AWS::IoT::Certificate::Id\": "
	    "\"abc\"}", &p), 0);
	assert_string_equal(p.thing, "Thing-42");
	assert_int_equal(json_array_size(p.groups), 2);
	assert_string_equal(json_string_value(json_array_get(p.groups, 0)),
	    "lamps");
	assert_true(p.has_cert);
	assert_string_equal(p.cert_status, "ACTIVE");
	assert_string_equal(p.policy_name, "lamp-policy");
	assert_null(p.policy_doc);
	attrs = load(p.attributes);
	assert_string_equal(json_string_value(json_object_get(attrs,
	    "where")), "in WA: ${Literal}");
	assert_string_equal(json_string_value(json_object_get(attrs,
	    "lampOnly")), "yes");
	assert_string_equal(json_string_value(json_object_get(attrs,
	    "serialNumber")), "42");
	json_decref(attrs);
	assert_string_equal(json_string_value(json_object_get(
	    p.device_config, "LocationUrl")), "https://example.aws");
	assert_int_equal(json_integer_value(json_object_get(p.device_config,
	    "Port")), 8883);
	strata_provtemplate_plan_free(&p);
}

static void
test_conditions_false(void **state)
{
	struct strata_provtemplate_plan p;
	json_t *attrs;

	(void)state;
	if (eval(fleet, "{\"SerialNumber\": \"7\", "
	    "\"DeviceType\": \"fan\", \"Location\": \"OR\", "
	    "\"AWS::IoT::Certificate::Id\": \"i\"}", &p) != 0)
		fail_msg("%s", err);
	/* the policy's condition is false: no policy */
	assert_null(p.policy_name);
	assert_string_equal(json_string_value(json_array_get(p.groups, 0)),
	    "other");
	attrs = load(p.attributes);
	assert_null(json_object_get(attrs, "lampOnly"));
	json_decref(attrs);
	assert_string_equal(json_string_value(json_object_get(
	    p.device_config, "LocationUrl")), "https://example.or");
	strata_provtemplate_plan_free(&p);
}

static void
test_missing_parameter(void **state)
{
	struct strata_provtemplate_plan p;

	(void)state;
	assert_int_equal(eval(fleet, "{\"DeviceType\": \"lamp\"}", &p), -1);
	assert_non_null(strstr(err, "missing parameter SerialNumber"));
	assert_null(p.thing);
	strata_provtemplate_plan_free(&p);
}

static void
test_split_select_sub_vars(void **state)
{
	struct strata_provtemplate_plan p;
	const char *t = "{\"Parameters\": {\"Csv\": {\"Type\": \"String\"}},"
	    "\"Resources\": {\"t\": {\"Type\": \"AWS::IoT::Thing\","
	    "\"Properties\": {\"ThingName\": {\"Fn::Select\": [\"1\","
	    "{\"Fn::Split\": [\",\", {\"Ref\": \"Csv\"}]}]},"
	    "\"ThingTypeName\": {\"Fn::Sub\": [\"${a}-${b}\", {\"a\": "
	    "{\"Fn::Select\": [0, {\"Fn::Split\": [\",\", {\"Ref\": "
	    "\"Csv\"}]}]}, \"b\": \"t\"}]},"
	    "\"ThingGroups\": {\"Fn::Split\": [\",\", {\"Ref\": \"Csv\"}]}}}}}";

	(void)state;
	assert_int_equal(check(t), 0);
	assert_int_equal(eval(t, "{\"Csv\": \"x,y,z\"}", &p), 0);
	assert_string_equal(p.thing, "y");
	assert_string_equal(p.thing_type, "x-t");
	assert_int_equal(json_array_size(p.groups), 3);
	strata_provtemplate_plan_free(&p);
	assert_int_equal(eval(t, "{\"Csv\": \"x\"}", &p), -1);
	assert_non_null(strstr(err, "index 1 is not in the list"));
	strata_provtemplate_plan_free(&p);
}

static void
test_policy_document(void **state)
{
	struct strata_provtemplate_plan p;
	const char *t = "{\"Resources\": {\"p\": {\"Type\": "
	    "\"AWS::IoT::Policy\", \"Properties\": {\"PolicyDocument\": "
	    "\"{\\\"Version\\\": \\\"2012-10-17\\\", \\\"Statement\\\": "
	    "[{\\\"Effect\\\": \\\"Allow\\\", \\\"Action\\\": "
	    "\\\"iot:Connect\\\", \\\"Resource\\\": \\\"*\\\"}]}\"}}}}";

	(void)state;
	assert_int_equal(check(t), 0);
	assert_int_equal(eval(t, "{}", &p), 0);
	assert_non_null(p.policy_doc);
	assert_int_equal(strncmp(p.policy_name, "prov-", 5), 0);
	assert_int_equal(strlen(p.policy_name), 5 + 16);
	assert_null(p.thing);
	strata_provtemplate_plan_free(&p);
	assert_int_equal(check("{\"Resources\": {\"p\": {\"Type\": "
	    "\"AWS::IoT::Policy\", \"Properties\": {\"PolicyDocument\": "
	    "\"{}\"}}}}"), -1);
	assert_non_null(strstr(err, "PolicyDocument"));
}

static void
test_pseudo_parameters(void **state)
{
	struct strata_provtemplate_plan p;
	const char *t = "{\"Resources\": {\"t\": {\"Type\": "
	    "\"AWS::IoT::Thing\", \"Properties\": {\"ThingName\": "
	    "{\"Ref\": \"AWS::IoT::Certificate::CommonName\"}}}}}";

	(void)state;
	/* pseudo parameters need no declaration */
	assert_int_equal(check(t), 0);
	assert_int_equal(eval(t, "{\"AWS::IoT::Certificate::CommonName\": "
	    "\"dev-1\"}", &p), 0);
	assert_string_equal(p.thing, "dev-1");
	strata_provtemplate_plan_free(&p);
	/* a name that is not a registry name is refused at evaluation */
	assert_int_equal(eval(t, "{\"AWS::IoT::Certificate::CommonName\": "
	    "\"a b\"}", &p), -1);
	assert_non_null(strstr(err, "not a valid name"));
	strata_provtemplate_plan_free(&p);
}

static void
test_check_errors(void **state)
{
	static const struct {
		const char *tmpl, *error;
	} cases[] = {
		{"[]", "must be a JSON object"},
		{"{}", "no Resources"},
		{"{\"Outputs\": {}, \"Resources\": {}}",
		    "unknown template section Outputs"},
		{"{\"Parameters\": {\"a\": {\"Type\": \"Number\"}}, "
		 "\"Resources\": {}}", "parameter a"},
		{"{\"Resources\": {\"t\": {\"Type\": \"AWS::IoT::Thing\", "
		 "\"Properties\": {\"ThingName\": {\"Ref\": \"nope\"}}}}}",
		    "unknown parameter nope"},
		{"{\"Resources\": {\"t\": {\"Type\": \"AWS::IoT::Thing\", "
		 "\"Properties\": {\"ThingName\": {\"Fn::GetAtt\": [\"a\", "
		 "\"b\"]}}}}}", "unknown function Fn::GetAtt"},
		{"{\"Resources\": {\"t\": {\"Type\": \"AWS::S3::Bucket\", "
		 "\"Properties\": {}}}}", "not supported"},
		{"{\"Resources\": {\"t\": {\"Type\": \"AWS::IoT::Thing\", "
		 "\"Properties\": {\"Name\": \"x\"}}}}", "unknown property Name"},
		{"{\"Resources\": {\"t\": {\"Type\": \"AWS::IoT::Thing\", "
		 "\"Condition\": \"C\", \"Properties\": {\"ThingName\": "
		 "\"x\"}}}}", "unknown condition C"},
		{"{\"Conditions\": {\"A\": {\"Condition\": \"B\"}, \"B\": "
		 "{\"Condition\": \"A\"}}, \"Resources\": {}}", "deeper"},
		{"{\"Resources\": {\"c\": {\"Type\": "
		 "\"AWS::IoT::Certificate\", \"Properties\": {\"Status\": "
		 "\"GONE\"}}}}", "Status must be ACTIVE or INACTIVE"},
		{"{\"Resources\": {\"t\": {\"Type\": \"AWS::IoT::Thing\", "
		 "\"Properties\": {\"ThingName\": {\"Fn::FindInMap\": [\"M\", "
		 "\"a\", \"b\"]}}}}}", "no mapping M"},
		{"{\"Resources\": {\"t\": {\"Type\": \"AWS::IoT::Thing\", "
		 "\"Properties\": {\"ThingName\": 5}}}}", "a value must be"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(check(cases[i].tmpl), -1);
		if (strstr(err, cases[i].error) == NULL)
			fail_msg("case %zu: '%s' lacks '%s'", i, err,
			    cases[i].error);
	}
}

static void
test_bounds(void **state)
{
	struct strata_provtemplate_plan p;
	char *t, *deep;
	size_t n = 0;

	(void)state;
	/* nesting past the bound */
	deep = malloc(40 * 40 + 200);
	n += (size_t)sprintf(deep, "{\"Resources\": {\"t\": {\"Type\": "
	    "\"AWS::IoT::Thing\", \"Properties\": {\"ThingName\": ");
	for (int i = 0; i < 40; i++)
		n += (size_t)sprintf(deep + n, "{\"Fn::Join\": [\"\", [");
	n += (size_t)sprintf(deep + n, "\"x\"");
	for (int i = 0; i < 40; i++)
		n += (size_t)sprintf(deep + n, "]]}");
	sprintf(deep + n, "}}}}");
	assert_int_equal(check(deep), -1);
	assert_non_null(strstr(err, "deeper"));
	free(deep);
	/* a value past 64 KiB */
	t = "{\"Parameters\": {\"p\": {\"Type\": \"String\"}}, "
	    "\"Resources\": {\"t\": {\"Type\": \"AWS::IoT::Thing\", "
	    "\"Properties\": {\"ThingName\": \"x\", \"AttributePayload\": "
	    "{\"a\": {\"Fn::Sub\": [\"${b}${b}${b}${b}${b}${b}${b}${b}\", "
	    "{\"b\": {\"Fn::Sub\": [\"${c}${c}${c}${c}${c}${c}${c}${c}\", "
	    "{\"c\": {\"Fn::Sub\": [\"${d}${d}${d}${d}${d}${d}${d}${d}\", "
	    "{\"d\": {\"Ref\": \"p\"}}]}}]}}]}}}}}}";
	{
		char big[4097];
		json_t *tm = load(t), *pa = json_object();

		memset(big, 'a', 4096);
		big[4096] = '\0';
		json_object_set_new(pa, "p", json_string(big));
		assert_int_equal(strata_provtemplate_eval(tm, pa, "x-", &p,
		    err, sizeof(err)), -1);
		assert_non_null(strstr(err, "longer than"));
		strata_provtemplate_plan_free(&p);
		json_decref(tm);
		json_decref(pa);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fleet_example),
		cmocka_unit_test(test_conditions_false),
		cmocka_unit_test(test_missing_parameter),
		cmocka_unit_test(test_split_select_sub_vars),
		cmocka_unit_test(test_policy_document),
		cmocka_unit_test(test_pseudo_parameters),
		cmocka_unit_test(test_check_errors),
		cmocka_unit_test(test_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
