/*
 * admin_usage.c - GetUsage: the message metering of a client id, a thing
 * or the whole cluster over a span of hours, read from the hourly keys
 * meter.c writes (docs/internals/metering.md).
 *
 * One script reads every hour's hash of the span; the answer lists the
 * hours that have counts and their sum.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"

#define USAGE_MAX_HOURS 744 /* 31 days a call */

static const char *const usage_fields[] = {"published", "delivered",
    "publishedUnits", "deliveredUnits", "publishedBytes", "deliveredBytes",
    NULL};

/* KEYS: the hours' keys.  {HGETALL of each}. */
static const char script_usage[] =
    "local out = {} "
    "for i, k in ipairs(KEYS) do out[i] = redis.call('HGETALL', k) end "
    "return out";

struct usage_span {
	long long from, to; /* hours: epoch seconds of their start */
};

static void
usage_read(struct admin_call *call, redisReply *reply)
{
	struct usage_span *sp = call->state;
	json_t *o = json_object(), *hours = json_array(), *total = json_object();
	long long sum[6] = {0};

	for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY &&
	     i < reply->elements; i++) {
		const redisReply *h = reply->element[i];
		json_t *row;

		if (h->type != REDIS_REPLY_ARRAY || h->elements == 0)
			continue;
		row = json_object();
		json_object_set_new(row, "hour",
		    json_integer(sp->from + (long long)i * 3600));
		for (int f = 0; usage_fields[f] != NULL; f++) {
			const char *v = admin_field(h, usage_fields[f]);
			long long n = v != NULL ? strtoll(v, NULL, 10) : 0;

			sum[f] += n;
			json_object_set_new(row, usage_fields[f],
			    json_integer(n));
		}
		json_array_append_new(hours, row);
	}
	for (int f = 0; usage_fields[f] != NULL; f++)
		json_object_set_new(total, usage_fields[f], json_integer(sum[f]));
	if (admin_query(call, "clientId") != NULL)
		json_object_set_new(o, "clientId",
		    json_string(admin_query(call, "clientId")));
	else if (admin_query(call, "thingName") != NULL)
		json_object_set_new(o, "thingName",
		    json_string(admin_query(call, "thingName")));
	json_object_set_new(o, "startTime", json_integer(sp->from));
	json_object_set_new(o, "endTime", json_integer(sp->to + 3600));
	json_object_set_new(o, "hours", hours);
	json_object_set_new(o, "total", total);
	admin_reply(call, o);
}

/* The span's hours from the query; false after a 400. */
static bool
usage_span(struct admin_call *call, struct usage_span *sp)
{
	const char *s = admin_query(call, "startTime");
	const char *e = admin_query(call, "endTime");
	long long from = admin_time(s), to = admin_time(e);

	if (from < 0 || to < 0) {
		admin_error(call, 400, "InvalidRequestException",
		    from < 0 ? "startTime" : "endTime",
		    "%s must be epoch seconds or an ISO 8601 UTC time",
		    from < 0 ? "startTime" : "endTime");
		return false;
	}
	if (to <= from) {
		admin_error(call, 400, "InvalidRequestException", "endTime",
		    "endTime must be after startTime");
		return false;
	}
	/* the hours that [from, to) touches */
	sp->from = from / 3600 * 3600;
	sp->to = (to - 1) / 3600 * 3600;
	if ((sp->to - sp->from) / 3600 + 1 > USAGE_MAX_HOURS) {
		admin_error(call, 400, "InvalidRequestException", "endTime",
		    "a span of at most %d hours (31 days) a call",
		    USAGE_MAX_HOURS);
		return false;
	}
	return true;
}

/* "client:<id>", "thing:<name>" or "total:cluster"; NULL after a 400. */
static const char *
usage_subject(struct admin_call *call, char *out, size_t len)
{
	const char *id = admin_query(call, "clientId");
	const char *thing = admin_query(call, "thingName");

	if (id != NULL && thing != NULL) {
		admin_error(call, 400, "InvalidRequestException", "clientId",
		    "give clientId or thingName, not both");
		return NULL;
	}
	if (id != NULL && (*id == '\0' || strlen(id) > ADMIN_MAX_NAME)) {
		admin_error(call, 400, "InvalidRequestException", "clientId",
		    "clientId must be 1 to %d bytes", ADMIN_MAX_NAME);
		return NULL;
	}
	if (thing != NULL && !broker_registry_name_valid(thing)) {
		admin_error(call, 400, "InvalidRequestException", "thingName",
		    "thingName must match [a-zA-Z0-9:_-]{1,128}");
		return NULL;
	}
	if (id != NULL)
		snprintf(out, len, "client:%s", id);
	else if (thing != NULL)
		snprintf(out, len, "thing:%s", thing);
	else
		snprintf(out, len, "total:cluster");
	return out;
}

static void
op_get_usage(struct admin_call *call)
{
	struct usage_span *sp;
	char subject[ADMIN_MAX_NAME + 16];
	const char **argv;
	char (*keys)[ADMIN_MAX_NAME + 64];
	size_t n;

	if ((sp = calloc(1, sizeof(*sp))) == NULL)
		abort();
	call->state = sp;
	if (!usage_span(call, sp) ||
	    usage_subject(call, subject, sizeof(subject)) == NULL)
		return;
	n = (size_t)((sp->to - sp->from) / 3600 + 1);
	argv = calloc(n, sizeof(*argv));
	keys = calloc(n, sizeof(*keys));
	if (argv == NULL || keys == NULL)
		abort();
	for (size_t i = 0; i < n; i++) {
		snprintf(keys[i], sizeof(keys[i]), "strata:usage:%lld:%s",
		    sp->from + (long long)i * 3600, subject);
		argv[i] = keys[i];
	}
	admin_eval(call, script_usage, (int)n, (int)n, argv, usage_read);
	free(argv);
	free(keys);
}

const struct admin_route admin_usage_routes[] = {
	{EVHTTP_REQ_GET, "strata/usage", "GetUsage", "iot:GetUsage",
	    ADMIN_RES_ANY, op_get_usage},
	{0, NULL, NULL, NULL, 0, NULL},
};
