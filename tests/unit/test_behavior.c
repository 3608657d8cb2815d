/*
 * test_behavior.c - Device Defender Detect's behaviour check
 * (common/behavior.c): the evaluation form of good behaviours, each
 * refusal, durations with and without defender-min-duration, addresses
 * and CIDRs (IPv4 mapped, IPv6, host bits, prefixes on a nibble and
 * inside one).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "behavior.h"

/* The check of one behaviour (JSON text); its error in err. */
static int
check(const char *text, long min, json_t **eval, char *err)
{
	char list[2048];
	json_t *b;
	int rc;

	snprintf(list, sizeof(list), "[%s]", text);
	b = json_loads(list, 0, NULL);
	assert_non_null(b);
	err[0] = '\0';
	rc = strata_behaviors_check(b, min, eval, err, 256);
	json_decref(b);
	return rc;
}

static void
refused(const char *text, long min, const char *words)
{
	char err[256];
	json_t *eval;

	assert_int_equal(check(text, min, &eval, err), -1);
	assert_null(eval);
	if (strstr(err, words) == NULL)
		fail_msg("%s: \"%s\" lacks \"%s\"", text, err, words);
}

static void
test_eval_form(void **state)
{
	char err[256];
	json_t *eval, *e;

	(void)state;
	assert_int_equal(check("{\"name\": \"sent\", \"metric\": "
	    "\"aws:num-messages-sent\", \"criteria\": {\"comparisonOperator\": "
	    "\"less-than\", \"value\": {\"count\": 10}, \"durationSeconds\": "
	    "300, \"consecutiveDatapointsToAlarm\": 2}}, {\"name\": \"only\", "
	    "\"metric\": \"aws:num-disconnects\"}, {\"name\": \"ip\", "
	    "\"metric\": \"aws:source-ip-address\", \"criteria\": "
	    "{\"comparisonOperator\": \"not-in-cidr-set\", \"value\": "
	    "{\"cidrs\": [\"10.1.2.3/8\"]}}}", 300, &eval, err), 0);
	assert_int_equal(json_array_size(eval), 2); /* "only": no criteria */
	e = json_array_get(eval, 0);
	assert_string_equal(json_string_value(json_object_get(e, "k")),
	    "sent");
	assert_string_equal(json_string_value(json_object_get(e, "m")),
	    "sent");
	assert_string_equal(json_string_value(json_object_get(e, "o")), "lt");
	assert_int_equal(json_integer_value(json_object_get(e, "n")), 10);
	assert_int_equal(json_integer_value(json_object_get(e, "d")), 300);
	assert_int_equal(json_integer_value(json_object_get(e, "a")), 2);
	assert_int_equal(json_integer_value(json_object_get(e, "r")), 1);
	e = json_array_get(eval, 1);
	assert_string_equal(json_string_value(json_object_get(e, "o")),
	    "notin");
	/* the host bits cleared; IPv4 inside ::ffff:0:0/96 */
	assert_string_equal(json_string_value(json_array_get(json_array_get(
	    json_object_get(e, "c"), 0), 0)),
	    "00000000000000000000ffff0a000000");
	assert_int_equal(json_integer_value(json_array_get(json_array_get(
	    json_object_get(e, "c"), 0), 1)), 104);
	assert_null(json_object_get(e, "d"));
	json_decref(eval);
}

static void
test_refusals(void **state)
{
	(void)state;
	refused("{\"name\": \"a b\", \"metric\": \"aws:num-disconnects\"}", 300,
	    "name");
	refused("{\"name\": \"x\", \"metric\": \"aws:all-bytes-out\"}", 300,
	    "not one Strata measures");
	refused("{\"name\": \"x\", \"metric\": \"aws:num-disconnects\", "
	    "\"metricDimension\": {}}", 300, "metricDimension");
	refused("{\"name\": \"x\"}", 300, "metric is required");
	refused("{\"name\": \"x\", \"metric\": \"aws:num-disconnects\", "
	    "\"criteria\": {\"statisticalThreshold\": {}}}", 300,
	    "statisticalThreshold");
	refused("{\"name\": \"x\", \"metric\": \"aws:num-disconnects\", "
	    "\"criteria\": {\"mlDetectionConfig\": {}}}", 300, "ML");
	refused("{\"name\": \"x\", \"metric\": \"aws:num-disconnects\", "
	    "\"criteria\": {\"comparisonOperator\": \"in-cidr-set\"}}", 300,
	    "does not apply");
	refused("{\"name\": \"x\", \"metric\": \"aws:num-disconnects\", "
	    "\"criteria\": {\"comparisonOperator\": \"less-than\", \"value\": "
	    "{\"count\": 1.5}, \"durationSeconds\": 300}}", 300,
	    "non-negative");
	refused("{\"name\": \"x\", \"metric\": \"aws:num-disconnects\", "
	    "\"criteria\": {\"comparisonOperator\": \"less-than\", \"value\": "
	    "{\"count\": 1}}}", 300, "durationSeconds is required");
	refused("{\"name\": \"x\", \"metric\": \"aws:message-byte-size\", "
	    "\"criteria\": {\"comparisonOperator\": \"less-than\", \"value\": "
	    "{\"count\": 1}, \"durationSeconds\": 300}}", 300,
	    "does not apply");
	refused("{\"name\": \"x\", \"metric\": \"aws:source-ip-address\", "
	    "\"criteria\": {\"comparisonOperator\": \"in-cidr-set\", "
	    "\"value\": {\"cidrs\": []}}}", 300, "1 to 100");
	refused("{\"name\": \"x\", \"metric\": \"aws:source-ip-address\", "
	    "\"criteria\": {\"comparisonOperator\": \"in-cidr-set\", "
	    "\"value\": {\"cidrs\": [\"::1/129\"]}}}", 300, "not a CIDR");
	refused("{\"name\": \"x\", \"metric\": \"aws:num-disconnects\", "
	    "\"criteria\": {\"comparisonOperator\": \"less-than\", \"value\": "
	    "{\"count\": 1}, \"durationSeconds\": 300, "
	    "\"consecutiveDatapointsToClear\": 0}}", 300, "1 to 10");
	refused("{\"name\": \"x\", \"metric\": \"aws:num-disconnects\", "
	    "\"suppressAlerts\": 1}", 300, "true or false");
	refused("{\"name\": \"x\", \"metric\": \"aws:num-disconnects\"}, "
	    "{\"name\": \"x\", \"metric\": \"aws:num-disconnects\"}", 300,
	    "twice");
}

static void
test_durations(void **state)
{
	static const char fmt[] = "{\"name\": \"x\", \"metric\": "
	    "\"aws:num-disconnects\", \"criteria\": {\"comparisonOperator\": "
	    "\"less-than\", \"value\": {\"count\": 1}, \"durationSeconds\": "
	    "%d}}";
	char text[256], err[256];
	json_t *eval;

	(void)state;
	for (int d = 1; d <= 3600; d++) {
		bool aws = d == 300 || d == 600 || d == 900 || d == 1800 ||
		    d == 3600;
		int rc;

		snprintf(text, sizeof(text), fmt, d);
		rc = check(text, 300, &eval, err);
		assert_int_equal(rc, aws ? 0 : -1);
		json_decref(eval);
		rc = check(text, 5, &eval, err);
		assert_int_equal(rc, aws || (d >= 5 && d < 300) ? 0 : -1);
		json_decref(eval);
	}
}

static void
test_addresses(void **state)
{
	char hex[33], ip[33];
	int bits;

	(void)state;
	assert_int_equal(strata_behavior_ip_hex("127.0.0.1", ip), 0);
	assert_string_equal(ip, "00000000000000000000ffff7f000001");
	assert_int_equal(strata_behavior_ip_hex("::ffff:127.0.0.1", hex), 0);
	assert_string_equal(hex, ip);
	assert_int_equal(strata_behavior_ip_hex("2001:db8::1", hex), 0);
	assert_string_equal(hex, "20010db8000000000000000000000001");
	assert_int_equal(strata_behavior_ip_hex("1.2.3", hex), -1);
	assert_int_equal(strata_behavior_ip_hex("", hex), -1);

	assert_int_equal(strata_behavior_cidr("127.0.0.0/8", hex, &bits), 0);
	assert_int_equal(bits, 104);
	assert_true(strata_behavior_cidr_has(hex, bits, ip));
	assert_int_equal(strata_behavior_cidr("126.0.0.0/7", hex, &bits), 0);
	assert_true(strata_behavior_cidr_has(hex, bits, ip)); /* 0x7e/7 */
	assert_int_equal(strata_behavior_cidr("128.0.0.0/1", hex, &bits), 0);
	assert_false(strata_behavior_cidr_has(hex, bits, ip));
	assert_int_equal(strata_behavior_cidr("127.0.0.2/31", hex, &bits), 0);
	assert_false(strata_behavior_cidr_has(hex, bits, ip));
	assert_int_equal(strata_behavior_cidr("127.0.0.0/31", hex, &bits), 0);
	assert_true(strata_behavior_cidr_has(hex, bits, ip));
	assert_int_equal(strata_behavior_cidr("0.0.0.0/0", hex, &bits), 0);
	assert_true(strata_behavior_cidr_has(hex, bits, ip));
	assert_int_equal(strata_behavior_cidr("::/0", hex, &bits), 0);
	assert_int_equal(bits, 0);
	assert_int_equal(strata_behavior_cidr("2001:db8::/33", hex, &bits), 0);
	assert_int_equal(strata_behavior_ip_hex("2001:db8:7fff::", ip), 0);
	assert_true(strata_behavior_cidr_has(hex, bits, ip));
	assert_int_equal(strata_behavior_ip_hex("2001:db8:8000::", ip), 0);
	assert_false(strata_behavior_cidr_has(hex, bits, ip));
	assert_int_equal(strata_behavior_cidr("10.0.0.0", hex, &bits), -1);
	assert_int_equal(strata_behavior_cidr("10.0.0.0/", hex, &bits), -1);
	assert_int_equal(strata_behavior_cidr("10.0.0.0/33", hex, &bits), -1);
	assert_int_equal(strata_behavior_cidr("10.0.0.0/8x", hex, &bits), -1);
	assert_int_equal(strata_behavior_cidr("10.0.0.0/-1", hex, &bits), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eval_form),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_addresses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
