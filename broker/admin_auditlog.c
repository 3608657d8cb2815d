/*
 * admin_auditlog.c - the control plane's audit log: each admin API call
 * (who, what, on what, from where, when, how it ended) kept as a JSON
 * object in the Redis stream strata:admin-audit and, with
 * admin-audit-file, as a JSON line in a file; ListAuditEvents reads the
 * stream (docs/internals/admin-authz.md, "Audit record").
 *
 * A call's life here:
 *   answered (admin_send) -> the log line (admin.c, every call) ->
 *   kept when it changed something or was refused (any method but GET,
 *   or a status >= 400), and every GET with admin-audit-reads ->
 *   XADD MAXLEN ~ admin-audit-max (0: not in Redis), and the file line.
 * A failed XADD is counted (strata_broker_admin_audit_failed_total) and
 * logged at most every 10 s; the call's answer never waits for it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "admin.h"
#include "log.h"

#define AUDIT_STREAM "strata:admin-audit"
#define AUDIT_SCAN 1000 /* entries read a call at most */

struct admin_auditlog {
	FILE *file;
	uint64_t *kept, *failed;
	uint64_t last_log_ms;
};

static void
auditlog_time(char out[32])
{
	struct timeval tv;
	struct tm tm;
	char sec[24];

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 32, "%.19s.%03uZ", sec,
	    (unsigned)(tv.tv_usec / 1000) % 1000u);
}

static void
auditlog_added(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct admin_auditlog *l = arg;
	uint64_t now;

	(void)r;
	if (reply != NULL && reply->type != REDIS_REPLY_ERROR)
		return;
	(*l->failed)++;
	now = broker_now_ms();
	if (now - l->last_log_ms >= 10000) {
		l->last_log_ms = now;
		STRATA_WARN("admin", "audit record not kept in Redis|error=%s",
		    reply != NULL ? reply->str : "redis unavailable");
	}
}

/* The record of a call as JSON (caller frees). */
static char *
auditlog_json(const struct admin_call *call, int status, const char *error,
    const char *resource)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(call->req);
	json_t *o = json_object();
	char when[32];
	char *s;

	auditlog_time(when);
	json_object_set_new(o, "eventTime", json_string(when));
	json_object_set_new(o, "userArn", json_string(
	    call->user_arn[0] != '\0' ? call->user_arn : "anonymous"));
	if (call->key_id[0] != '\0')
		json_object_set_new(o, "accessKeyId",
		    json_string(call->key_id));
	json_object_set_new(o, "operation", json_string(
	    call->route != NULL ? call->op : "-"));
	json_object_set_new(o, "action", json_string(
	    call->route != NULL ? call->route->action : "-"));
	json_object_set_new(o, "resource", json_string(resource));
	json_object_set_new(o, "method", json_string(admin_method_name(m)));
	json_object_set_new(o, "path", json_string(
	    evhttp_request_get_uri(call->req)));
	json_object_set_new(o, "sourceAddress", json_string(call->source));
	json_object_set_new(o, "status", json_integer(status));
	if (error != NULL)
		json_object_set_new(o, "errorType", json_string(error));
	json_object_set_new(o, "readOnly", json_boolean(m == EVHTTP_REQ_GET));
	json_object_set_new(o, "broker", json_string(call->b->cfg.node_id));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (s == NULL)
		abort();
	return s;
}

void
admin_auditlog_keep(const struct admin_call *call, int status,
    const char *error, const char *resource)
{
	struct strata_broker *b = call->b;
	struct admin_auditlog *l = b->admin != NULL ? b->admin->auditlog :
	    NULL;
	bool read = evhttp_request_get_command(call->req) == EVHTTP_REQ_GET;
	char max[24];
	char *json;

	if (l == NULL || (read && status < 400 && !b->cfg.admin_audit_reads))
		return;
	json = auditlog_json(call, status, error, resource);
	if (l->file != NULL) {
		fprintf(l->file, "%s\n", json);
		fflush(l->file);
	}
	if (b->cfg.admin_audit_max > 0 && b->redis != NULL) {
		snprintf(max, sizeof(max), "%ld", b->cfg.admin_audit_max);
		strata_redis_commandv(b->redis, auditlog_added, l, 8,
		    (const char *[]){"XADD", AUDIT_STREAM, "MAXLEN", "~", max,
		    "*", "event", json}, NULL);
	}
	(*l->kept)++;
	free(json);
}

int
admin_auditlog_start(struct broker_admin *a)
{
	struct strata_broker *b = a->b;
	struct admin_auditlog *l = calloc(1, sizeof(*l));
	const char *path = b->cfg.admin_audit_file;

	if (l == NULL)
		abort();
	a->auditlog = l;
	l->kept = strata_metrics_counter(b->metrics,
	    "strata_broker_admin_audit_records_total",
	    "Admin API calls kept in the audit log (Redis stream, file)",
	    NULL);
	l->failed = strata_metrics_counter(b->metrics,
	    "strata_broker_admin_audit_failed_total",
	    "Audit records Redis did not take", NULL);
	if (path == NULL || path[0] == '\0')
		return 0;
	l->file = fopen(path, "a");
	if (l->file == NULL) {
		STRATA_ERROR(BROKER_COMP, "config error: admin-audit-file "
		    "cannot be opened|path=%s error=\"%s\"", path,
		    strerror(errno));
		return STRATA_EINVAL;
	}
	return 0;
}

void
admin_auditlog_free(struct broker_admin *a)
{
	if (a->auditlog == NULL)
		return;
	if (a->auditlog->file != NULL)
		fclose(a->auditlog->file);
	free(a->auditlog);
	a->auditlog = NULL;
}

/* ---- ListAuditEvents ---- */

struct auditlog_query {
	const char *user, *action, *operation;
	long max;
};

static bool
auditlog_match(const struct auditlog_query *q, json_t *ev)
{
	const char *user = json_string_value(json_object_get(ev, "userArn"));
	const char *act = json_string_value(json_object_get(ev, "action"));
	const char *op = json_string_value(json_object_get(ev, "operation"));
	size_t n;

	if (q->user != NULL) {
		/* a user name matches the ARN's last part, an ARN itself */
		n = strlen(q->user);
		if (user == NULL || !(strcmp(user, q->user) == 0 ||
		    (strlen(user) > n && user[strlen(user) - n - 1] == '/' &&
		    strcmp(user + strlen(user) - n, q->user) == 0)))
			return false;
	}
	if (q->action != NULL && (act == NULL || strcmp(act, q->action)))
		return false;
	if (q->operation != NULL && (op == NULL || strcmp(op, q->operation)))
		return false;
	return true;
}

static void
auditlog_listed(struct admin_call *call, redisReply *reply)
{
	struct auditlog_query q = {admin_query(call, "userName"),
	    admin_query(call, "action"), admin_query(call, "operation"), 50};
	json_t *o = json_object(), *list = json_array();
	const char *last = NULL;
	size_t i;

	if (admin_query(call, "maxResults") != NULL)
		q.max = strtol(admin_query(call, "maxResults"), NULL, 10);
	for (i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements;
	     i++) {
		const redisReply *e = reply->element[i];
		json_t *ev;

		if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
		    e->element[1]->type != REDIS_REPLY_ARRAY ||
		    e->element[1]->elements != 2)
			continue;
		last = e->element[0]->str;
		ev = json_loads(e->element[1]->element[1]->str, 0, NULL);
		if (ev == NULL)
			continue;
		if (!auditlog_match(&q, ev)) {
			json_decref(ev);
			continue;
		}
		json_object_set_new(ev, "eventId", json_string(last));
		json_array_append_new(list, ev);
		if ((long)json_array_size(list) == q.max) {
			i++;
			break;
		}
	}
	json_object_set_new(o, "events", list);
	/* more may follow: the scan or the page stopped before the end */
	if (last != NULL && (i < reply->elements ||
	    reply->elements == AUDIT_SCAN))
		json_object_set_new(o, "nextToken", json_string(last));
	admin_reply(call, o);
}

/* An entry id bound of a time (epoch s or ISO 8601), or of a token. */
static bool
auditlog_bound(struct admin_call *call, const char *field, char *out,
    size_t len, const char *dflt)
{
	const char *v = admin_query(call, field);
	long long t;

	if (v == NULL) {
		snprintf(out, len, "%s", dflt);
		return true;
	}
	if ((t = admin_time(v)) < 0) {
		admin_error(call, 400, "InvalidRequestException", field,
		    "%s must be epoch seconds or an ISO 8601 UTC time", field);
		return false;
	}
	/* the whole second: entries of endTime's second are in */
	snprintf(out, len, "%lld", strcmp(field, "endTime") == 0 ?
	    t * 1000 + 999 : t * 1000);
	return true;
}

/* KEYS: the stream; ARGV: end, start, count.  Newest first. */
static const char script_list[] =
    "return redis.call('XREVRANGE', KEYS[1], ARGV[1], ARGV[2], 'COUNT', "
    "  ARGV[3])";

static void
op_list_audit_events(struct admin_call *call)
{
	const char *token = admin_query(call, "nextToken");
	const char *max = admin_query(call, "maxResults");
	char from[32], to[48], count[16];
	long n;

	if (max != NULL && ((n = strtol(max, NULL, 10)) < 1 || n > 250)) {
		admin_error(call, 400, "InvalidRequestException",
		    "maxResults", "maxResults must be 1 to 250");
		return;
	}
	if (!auditlog_bound(call, "startTime", from, sizeof(from), "-") ||
	    !auditlog_bound(call, "endTime", to, sizeof(to), "+"))
		return;
	if (token != NULL) {
		/* newest first: the page goes on below the last one given */
		if (strlen(token) > 40 || strspn(token, "0123456789-") !=
		    strlen(token) || strchr(token, '-') == NULL) {
			admin_error(call, 400, "InvalidRequestException",
			    "nextToken", "nextToken is not one this API gave");
			return;
		}
		snprintf(to, sizeof(to), "(%s", token);
	}
	snprintf(count, sizeof(count), "%d", AUDIT_SCAN);
	admin_eval(call, script_list, 1, 4, (const char *[]){AUDIT_STREAM, to,
	    from, count}, auditlog_listed);
}

const struct admin_route admin_auditlog_routes[] = {
	{EVHTTP_REQ_GET, "strata/audit-events", "ListAuditEvents",
	    "iot:ListAuditEvents", ADMIN_RES_ANY, op_list_audit_events},
	{0, NULL, NULL, NULL, 0, NULL},
};
