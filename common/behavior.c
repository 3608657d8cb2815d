/*
 * behavior.c - the check of Device Defender Detect behaviours and their
 * evaluation form (behavior.h; docs/internals/detect.md).
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "behavior.h"

/* The cloud-side metrics Strata measures, and what each takes. */
struct behavior_metric {
	const char *name;
	const char *code;   /* "m" of the evaluation form */
	bool cidrs;         /* value.cidrs with in-cidr-set/not-in-cidr-set;
			       else value.count with the number operators */
	bool duration;      /* durationSeconds required (else refused) */
};

static const struct behavior_metric behavior_metrics[] = {
	{"aws:num-messages-sent", "sent", false, true},
	{"aws:num-messages-received", "recv", false, true},
	{"aws:message-byte-size", "size", false, false},
	{"aws:num-authorization-failures", "authz", false, true},
	{"aws:num-connection-attempts", "conn", false, true},
	{"aws:num-disconnects", "disc", false, true},
	{"aws:source-ip-address", "ip", true, false},
	{NULL, NULL, false, false},
};

static const struct {
	const char *aws, *code;
	bool cidrs;
} behavior_ops[] = {
	{"less-than", "lt", false},
	{"less-than-equals", "le", false},
	{"greater-than", "gt", false},
	{"greater-than-equals", "ge", false},
	{"in-cidr-set", "in", true},
	{"not-in-cidr-set", "notin", true},
	{NULL, NULL, false},
};

/* A check in progress: where the message goes. */
struct behavior_check {
	char *err;
	size_t errlen;
	size_t index;          /* of the behaviour checked */
};

static int
behavior_fail(struct behavior_check *bc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
behavior_fail(struct behavior_check *bc, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(bc->err, bc->errlen, "behaviors[%zu]: ", bc->index);

	if (n < 0 || (size_t)n >= bc->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(bc->err + n, bc->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static bool
behavior_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == ':' || c == '_' ||
		    c == '-'))
			return false;
	}
	return true;
}

static const struct behavior_metric *
behavior_metric_find(const char *name)
{
	for (const struct behavior_metric *m = behavior_metrics; m->name;
	     m++)
		if (strcmp(m->name, name) == 0)
			return m;
	return NULL;
}

static void
behavior_hex(const unsigned char b[16], char out[33])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < 16; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[32] = '\0';
}

/* The 16 bytes of text; *v4 tells whether it was IPv4.  0 or -1. */
static int
behavior_ip_bytes(const char *text, unsigned char b[16], bool *v4)
{
	struct in_addr a4;

	if (inet_pton(AF_INET, text, &a4) == 1) {
		memset(b, 0, 10);
		b[10] = b[11] = 0xff;
		memcpy(b + 12, &a4, 4);
		*v4 = true;
		return 0;
	}
	*v4 = false;
	return inet_pton(AF_INET6, text, b) == 1 ? 0 : -1;
}

int
strata_behavior_ip_hex(const char *text, char out[33])
{
	unsigned char b[16];
	bool v4;

	if (behavior_ip_bytes(text, b, &v4) != 0)
		return -1;
	behavior_hex(b, out);
	return 0;
}

int
strata_behavior_cidr(const char *text, char hex[33], int *bits)
{
	char addr[64], *end;
	const char *slash = strchr(text, '/');
	unsigned char b[16];
	long n;
	bool v4;

	if (slash == NULL || (size_t)(slash - text) >= sizeof(addr) ||
	    slash[1] < '0' || slash[1] > '9')
		return -1;
	memcpy(addr, text, (size_t)(slash - text));
	addr[slash - text] = '\0';
	n = strtol(slash + 1, &end, 10);
	if (*end != '\0' || end - (slash + 1) > 3 ||
	    behavior_ip_bytes(addr, b, &v4) != 0 || n < 0 ||
	    n > (v4 ? 32 : 128))
		return -1;
	*bits = (int)n + (v4 ? 96 : 0);
	/* the host bits are cleared, as a network is written */
	for (int i = 0; i < 16; i++) {
		int keep = *bits - 8 * i;

		if (keep <= 0)
			b[i] = 0;
		else if (keep < 8)
			b[i] &= (unsigned char)(0xff << (8 - keep));
	}
	behavior_hex(b, hex);
	return 0;
}

bool
strata_behavior_cidr_has(const char *cidr_hex, int bits, const char *hex)
{
	int full = bits / 4, rest = bits % 4;
	static const int masks[] = {0, 8, 12, 14};
	char a[2] = {0}, c[2] = {0};

	if (strncmp(cidr_hex, hex, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	a[0] = cidr_hex[full];
	c[0] = hex[full];
	return (strtol(a, NULL, 16) & masks[rest]) ==
	    (strtol(c, NULL, 16) & masks[rest]);
}

/* An optional integer member in [lo, hi] into *out (def when absent). */
static int
behavior_int(struct behavior_check *bc, const json_t *o, const char *key,
    long lo, long hi, long def, long *out)
{
	const json_t *v = json_object_get(o, key);

	*out = def;
	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < lo ||
	    json_integer_value(v) > hi)
		return behavior_fail(bc, "criteria.%s must be a whole number "
		    "from %ld to %ld", key, lo, hi);
	*out = (long)json_integer_value(v);
	return 0;
}

static bool
behavior_duration_valid(long d, long min_duration)
{
	static const long aws[] = {300, 600, 900, 1800, 3600};

	for (size_t i = 0; i < sizeof(aws) / sizeof(aws[0]); i++)
		if (d == aws[i])
			return true;
	return d >= min_duration && d < 300;
}

/* value.cidrs into e's "c". */
static int
behavior_cidrs(struct behavior_check *bc, const json_t *value, json_t *e)
{
	const json_t *cidrs = json_object_get(value, "cidrs"), *c;
	json_t *list = json_array();
	size_t i;

	json_object_set_new(e, "c", list);
	if (!json_is_array(cidrs) || json_array_size(cidrs) == 0 ||
	    json_array_size(cidrs) > STRATA_BEHAVIOR_CIDRS_MAX)
		return behavior_fail(bc, "criteria.value.cidrs must be a list "
		    "of 1 to %d CIDRs", STRATA_BEHAVIOR_CIDRS_MAX);
	json_array_foreach(cidrs, i, c) {
		char hex[33];
		int bits;

		if (!json_is_string(c) || strata_behavior_cidr(
		    json_string_value(c), hex, &bits) != 0)
			return behavior_fail(bc, "criteria.value.cidrs[%zu] is "
			    "not a CIDR (a.b.c.d/n or an IPv6 address/n)", i);
		json_array_append_new(list, json_pack("[si]", hex, bits));
	}
	return 0;
}

/* The operator and value of criteria into e. */
static int
behavior_comparison(struct behavior_check *bc, const json_t *crit,
    const struct behavior_metric *m, json_t *e)
{
	const json_t *op = json_object_get(crit, "comparisonOperator");
	const json_t *value = json_object_get(crit, "value"), *count;
	size_t i;

	if (!json_is_string(op))
		return behavior_fail(bc, "criteria.comparisonOperator is "
		    "required");
	for (i = 0; behavior_ops[i].aws != NULL; i++)
		if (strcmp(behavior_ops[i].aws, json_string_value(op)) == 0)
			break;
	if (behavior_ops[i].aws == NULL || behavior_ops[i].cidrs != m->cidrs)
		return behavior_fail(bc, "comparisonOperator %s does not apply "
		    "to %s", json_string_value(op), m->name);
	json_object_set_new(e, "o", json_string(behavior_ops[i].code));
	if (!json_is_object(value))
		return behavior_fail(bc, "criteria.value is required");
	if (m->cidrs)
		return behavior_cidrs(bc, value, e);
	count = json_object_get(value, "count");
	if (!json_is_integer(count) || json_integer_value(count) < 0)
		return behavior_fail(bc, "criteria.value.count must be a "
		    "non-negative whole number");
	json_object_set_new(e, "n", json_integer(json_integer_value(count)));
	return 0;
}

/* criteria of metric m into the evaluation entry e. */
static int
behavior_criteria(struct behavior_check *bc, const json_t *crit,
    const struct behavior_metric *m, long min_duration, json_t *e)
{
	long d, a, r;

	if (!json_is_object(crit))
		return behavior_fail(bc, "criteria must be an object");
	if (json_object_get(crit, "statisticalThreshold") != NULL)
		return behavior_fail(bc, "statisticalThreshold is not "
		    "supported: Strata evaluates static thresholds only");
	if (json_object_get(crit, "mlDetectionConfig") != NULL)
		return behavior_fail(bc, "mlDetectionConfig is not supported: "
		    "Strata has no ML Detect");
	if (behavior_comparison(bc, crit, m, e) != 0 ||
	    behavior_int(bc, crit, "durationSeconds", 1,
	    STRATA_BEHAVIOR_DURATION_MAX, 0, &d) != 0 ||
	    behavior_int(bc, crit, "consecutiveDatapointsToAlarm", 1, 10, 1,
	    &a) != 0 ||
	    behavior_int(bc, crit, "consecutiveDatapointsToClear", 1, 10, 1,
	    &r) != 0)
		return -1;
	if (m->duration && d == 0)
		return behavior_fail(bc, "criteria.durationSeconds is "
		    "required for %s", m->name);
	if (!m->duration && d != 0)
		return behavior_fail(bc, "criteria.durationSeconds does not "
		    "apply to %s", m->name);
	if (m->duration && !behavior_duration_valid(d, min_duration))
		return behavior_fail(bc, "criteria.durationSeconds must be "
		    "300, 600, 900, 1800 or 3600%s", min_duration < 300 ?
		    " (or from defender-min-duration up to 300)" : "");
	if (d != 0)
		json_object_set_new(e, "d", json_integer(d));
	json_object_set_new(e, "a", json_integer(a));
	json_object_set_new(e, "r", json_integer(r));
	return 0;
}

/* One behaviour; its entry appended to eval when it has criteria. */
static int
behavior_one(struct behavior_check *bc, const json_t *b, long min_duration,
    json_t *eval)
{
	const json_t *name = json_object_get(b, "name");
	const json_t *metric = json_object_get(b, "metric"), *crit, *v;
	const struct behavior_metric *m;
	json_t *e;

	if (!json_is_object(b))
		return behavior_fail(bc, "a behavior must be an object");
	if (!json_is_string(name) || !behavior_name_valid(
	    json_string_value(name)))
		return behavior_fail(bc, "name must be 1 to 128 of "
		    "[a-zA-Z0-9:_-]");
	if (json_object_get(b, "metricDimension") != NULL)
		return behavior_fail(bc, "metricDimension is not supported");
	if (!json_is_string(metric))
		return behavior_fail(bc, "metric is required");
	m = behavior_metric_find(json_string_value(metric));
	if (m == NULL)
		return behavior_fail(bc, "metric %s is not one Strata measures "
		    "(the cloud-side metrics of docs/internals/detect.md)",
		    json_string_value(metric));
	if (((v = json_object_get(b, "suppressAlerts")) != NULL &&
	    !json_is_boolean(v)) || ((v = json_object_get(b,
	    "exportMetric")) != NULL && !json_is_boolean(v)))
		return behavior_fail(bc, "suppressAlerts and exportMetric "
		    "must be true or false");
	crit = json_object_get(b, "criteria");
	if (crit == NULL)
		return 0;
	e = json_pack("{ssss}", "k", json_string_value(name), "m", m->code);
	if (behavior_criteria(bc, crit, m, min_duration, e) != 0) {
		json_decref(e);
		return -1;
	}
	json_array_append_new(eval, e);
	return 0;
}

int
strata_behaviors_check(const json_t *behaviors, long min_duration,
    json_t **eval, char *err, size_t errlen)
{
	struct behavior_check bc = {err, errlen, 0};
	const json_t *b;
	size_t i;

	*eval = NULL;
	if (!json_is_array(behaviors) ||
	    json_array_size(behaviors) > STRATA_BEHAVIORS_MAX) {
		snprintf(err, errlen, "behaviors must be a list of at most %d "
		    "behaviors", STRATA_BEHAVIORS_MAX);
		return -1;
	}
	*eval = json_array();
	json_array_foreach(behaviors, i, b) {
		bc.index = i;
		if (behavior_one(&bc, b, min_duration, *eval) != 0)
			goto fail;
		for (size_t j = 0; j < i; j++)
			if (json_equal(json_object_get(b, "name"),
			    json_object_get(json_array_get(behaviors, j),
			    "name"))) {
				behavior_fail(&bc, "the name %s is used twice",
				    json_string_value(json_object_get(b,
				    "name")));
				goto fail;
			}
	}
	return 0;
fail:
	json_decref(*eval);
	*eval = NULL;
	return -1;
}
