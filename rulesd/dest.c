/*
 * dest.c - rulesd's copy of the HTTP topic rule destinations, and the
 * confirmation requests (docs/internals/rules-admin.md, "Topic rule
 * destinations"; the states are common/ruledest.h's).
 *
 * The table is every destination of Redis (url, status), read whole at
 * start, with the rules every minute, when the change channel comes
 * back, and on a "ruledest:<uuid>" message of strata:rules (the admin
 * API publishes one in every script that changes a destination).  An
 * http action posts only to a url an ENABLED destination covers
 * (rulesd_dests_allow); with http-require-destination false, anywhere.
 *
 * The confirmation request: a record the admin API marked `pending`
 * (created, or updated to IN_PROGRESS) is claimed by the first rulesd
 * whose claim script clears `pending` for the record's current token:
 * exactly one instance of the cluster POSTs it, through its http sink
 * (timeout 3 s, 3 retries with backoff, the private-address rule of the
 * http actions).  A request that fails for good leaves the destination
 * IN_PROGRESS with the failure as its statusReason; an update to
 * IN_PROGRESS sends it again.  An instance that dies between claim and
 * send loses that request (the same remedy).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "rulesd.h"
#include "ruledest.h"
#include "sink.h"

#define DEST_CONFIRM_TIMEOUT_MS 3000
#define DEST_CONFIRM_RETRIES 3

/* KEYS: -.  Every destination: {uuid, arn, url, status, pending, token,
 * enable url}. */
static const char DEST_SCRIPT_ALL[] =
    "local out = {} "
    "for _, u in ipairs(redis.call('ZRANGE', 'strata:ruledest-ids', 0, -1)) "
    "do "
    "  local h = redis.call('HMGET', 'strata:ruledest:{' .. u .. '}', "
    "    'arn', 'url', 'status', 'pending', 'token', 'enable') "
    "  if h[1] and h[2] and h[3] then out[#out + 1] = {u, h[1], h[2], "
    "    h[3], h[4] or '0', h[5] or '', h[6] or ''} end "
    "end "
    "return out";

/* KEYS: the record; ARGV: its token.  1: this instance sends. */
static const char DEST_SCRIPT_CLAIM[] =
    "local h = redis.call('HMGET', KEYS[1], 'token', 'pending', 'status') "
    "if h[1] == ARGV[1] and h[2] == '1' and h[3] == 'IN_PROGRESS' then "
    "  redis.call('HSET', KEYS[1], 'pending', '0') return 1 end "
    "return 0";

/* KEYS: the record; ARGV: the token the request carried, the reason. */
static const char DEST_SCRIPT_REASON[] =
    "if redis.call('HGET', KEYS[1], 'token') == ARGV[1] and "
    "  redis.call('HGET', KEYS[1], 'status') == 'IN_PROGRESS' then "
    "  redis.call('HSET', KEYS[1], 'reason', ARGV[2]) end "
    "return 1";

struct rulesd_dest {
	char *arn;
	char *url;
	enum strata_ruledest_status status;
};

struct rulesd_dests {
	struct rulesd *rd;
	bool require;
	struct rulesd_dest *v;
	size_t n;
	uint64_t *m_none;          /* refused: no destination covers it */
	uint64_t *m_not_enabled;   /* refused: covered, not ENABLED */
	uint64_t *m_sent;          /* confirmation requests answered 2xx */
	uint64_t *m_failed;        /* confirmation requests failed */
};

/* The confirmation request's action: an http action of the defaults. */
static const struct strata_rule_action dest_action = {
	.kind = STRATA_RULE_HTTP,
	.name = "http",
	.timeout_ms = DEST_CONFIRM_TIMEOUT_MS,
	.retries = DEST_CONFIRM_RETRIES,
};

/* ---- the table ---- */

static void
dest_table_clear(struct rulesd_dests *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].arn);
		free(d->v[i].url);
	}
	free(d->v);
	d->v = NULL;
	d->n = 0;
}

/* ---- the confirmation request ---- */

struct dest_confirm {
	struct rulesd_dests *d;
	char uuid[STRATA_RULEDEST_UUID_LEN + 1];
	char *token;
};

static void
dest_redis_eval(struct rulesd_dests *d, const char *script, const char *key,
    const char *a1, const char *a2, strata_redis_cb cb, void *arg)
{
	const char *argv[] = {"EVAL", script, "1", key, a1, a2};
	size_t len[6];
	int n = a2 != NULL ? 6 : 5;

	for (int i = 0; i < n; i++)
		len[i] = strlen(argv[i]);
	strata_redis_commandv(d->rd->b->redis, cb, arg, n, argv, len);
}

static void
dest_confirm_done(void *arg, bool ok, const char *error, const char *resource)
{
	struct dest_confirm *c = arg;
	char key[BROKER_REGISTRY_KEY_MAX], reason[600];

	(void)resource;
	(*(ok ? c->d->m_sent : c->d->m_failed))++;
	if (!ok) {
		STRATA_WARN(RULESD_COMP, "destination confirmation request "
		    "failed|destination=%s error=\"%s\"", c->uuid, error);
		snprintf(reason, sizeof(reason), "Confirmation request failed: "
		    "%s", error != NULL ? error : "");
	}
	if (!ok && !c->d->rd->b->stopping) {
		broker_registry_key(key, "ruledest", c->uuid);
		dest_redis_eval(c->d, DEST_SCRIPT_REASON, key, c->token, reason,
		    NULL, NULL);
	}
	free(c->token);
	free(c);
}

/* AWS's {confirmationUrl}/?confirmationToken=... (an url with a query
 * gets &confirmationToken=..., one ending in '/' no second '/'). */
static char *
dest_confirm_url(const char *url, const char *token)
{
	size_t n = strlen(url);
	const char *sep = strchr(url, '?') != NULL ? "&" : url[n - 1] == '/' ?
	    "?" : "/?";
	char *out = malloc(n + strlen(sep) + strlen(token) + 20);

	if (out == NULL)
		abort();
	sprintf(out, "%s%sconfirmationToken=%s", url, sep, token);
	return out;
}

static char *
dest_confirm_body(const char *arn, const char *token, const char *enable)
{
	json_t *o = json_object();
	char *text;

	json_object_set_new(o, "arn", json_string(arn));
	json_object_set_new(o, "confirmationToken", json_string(token));
	json_object_set_new(o, "enableUrl", json_string(enable));
	json_object_set_new(o, "messageType",
	    json_string("DestinationConfirmation"));
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (text == NULL)
		abort();
	return text;
}

/* A destination whose confirmation request is due: the row's strings
 * {uuid, arn, url, status, pending, token, enable}, copied. */
struct dest_claim {
	struct rulesd_dests *d;
	char *f[7];
};

/* POST the confirmation request of c (this instance claimed it). */
static void
dest_confirm_send(struct rulesd_dests *d, const struct dest_claim *cl)
{
	struct rulesd_job *job = rulesd_job_new();
	struct dest_confirm *c = calloc(1, sizeof(*c));
	const char *arn = cl->f[1], *token = cl->f[5];

	if (c == NULL)
		abort();
	c->d = d;
	snprintf(c->uuid, sizeof(c->uuid), "%s", cl->f[0]);
	c->token = rulesd_strdup(token);
	job->action = &dest_action;
	job->rule_name = rulesd_strdup("(destination confirmation)");
	job->target = dest_confirm_url(cl->f[2], token);
	job->n_headers = 2;
	job->header_keys = calloc(2, sizeof(char *));
	job->header_values = calloc(2, sizeof(char *));
	if (job->header_keys == NULL || job->header_values == NULL)
		abort();
	job->header_keys[0] = rulesd_strdup("x-amz-rules-engine-message-type");
	job->header_values[0] = rulesd_strdup("DestinationConfirmation");
	job->header_keys[1] = rulesd_strdup(
	    "x-amz-rules-engine-destination-arn");
	job->header_values[1] = rulesd_strdup(arn);
	job->body = (uint8_t *)dest_confirm_body(arn, token, cl->f[6]);
	job->body_len = strlen((char *)job->body);
	STRATA_INFO(RULESD_COMP, "destination confirmation request|"
	    "destination=%s url=\"%s\"", c->uuid, cl->f[2]);
	rulesd_sinks_submit(d->rd->sinks, job, dest_confirm_done, c);
}

static void
dest_claimed(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct dest_claim *c = arg;

	(void)r;
	if (reply != NULL && reply->type == REDIS_REPLY_INTEGER &&
	    reply->integer == 1 && c->d->rd->sinks != NULL &&
	    !c->d->rd->b->stopping)
		dest_confirm_send(c->d, c);
	for (int i = 0; i < 7; i++)
		free(c->f[i]);
	free(c);
}

/* A row whose confirmation request is still to be sent: claim it. */
static void
dest_claim(struct rulesd_dests *d, const redisReply *row)
{
	struct dest_claim *c = calloc(1, sizeof(*c));
	char key[BROKER_REGISTRY_KEY_MAX];

	if (c == NULL)
		abort();
	c->d = d;
	for (int i = 0; i < 7; i++)
		c->f[i] = rulesd_strdup(row->element[i]->str);
	broker_registry_key(key, "ruledest", c->f[0]);
	dest_redis_eval(d, DEST_SCRIPT_CLAIM, key, c->f[5], NULL,
	    dest_claimed, c);
}

static void
dest_loaded(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct rulesd_dests *d = arg;
	size_t k = 0;

	(void)r;
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY)
		return;   /* kept as it was; again within a minute */
	dest_table_clear(d);
	d->v = calloc(reply->elements + 1, sizeof(*d->v));
	if (d->v == NULL)
		abort();
	for (size_t i = 0; i < reply->elements; i++) {
		redisReply *row = reply->element[i];

		if (!strata_redis_is_strings(row, 7))
			continue;
		d->v[k].arn = rulesd_strdup(row->element[1]->str);
		d->v[k].url = rulesd_strdup(row->element[2]->str);
		d->v[k++].status = strata_ruledest_status_parse(
		    row->element[3]->str);
		if (strcmp(row->element[4]->str, "1") == 0 &&
		    strcmp(row->element[3]->str, "IN_PROGRESS") == 0)
			dest_claim(d, row);
	}
	d->n = k;
}

/* ---- the interface ---- */

void
rulesd_dests_reload(struct rulesd *rd)
{
	const char *argv[] = {"EVAL", DEST_SCRIPT_ALL, "0"};
	size_t len[] = {4, sizeof(DEST_SCRIPT_ALL) - 1, 1};

	if (rd->dests != NULL)
		strata_redis_commandv(rd->b->redis, dest_loaded, rd->dests, 3,
		    argv, len);
}

bool
rulesd_dests_allow(struct rulesd *rd, const char *url, char *err,
    size_t errlen)
{
	struct rulesd_dests *d = rd->dests;
	const struct rulesd_dest *seen = NULL;

	if (d == NULL || !d->require)
		return true;
	for (size_t i = 0; i < d->n; i++) {
		if (!strata_ruledest_covers(d->v[i].url, url))
			continue;
		if (d->v[i].status == STRATA_RULEDEST_ENABLED)
			return true;
		seen = &d->v[i];
	}
	if (seen == NULL) {
		(*d->m_none)++;
		snprintf(err, errlen, "No topic rule destination covers %s: "
		    "create one (CreateTopicRuleDestination) and confirm it",
		    url);
	} else {
		(*d->m_not_enabled)++;
		snprintf(err, errlen, "Topic rule destination %s is %s, not "
		    "ENABLED", seen->arn,
		    strata_ruledest_status_name(seen->status));
	}
	return false;
}

void
rulesd_dests_start(struct rulesd *rd, bool require)
{
	struct rulesd_dests *d = calloc(1, sizeof(*d));
	struct strata_metrics *m = rd->b->metrics;
	const char *name = "strata_rulesd_http_destination_refused_total";
	const char *help = "http action messages not sent: no ENABLED topic "
	    "rule destination covers the url";

	if (d == NULL)
		abort();
	d->rd = rd;
	d->require = require;
	d->m_none = strata_metrics_counter(m, name, help, "reason=\"none\"");
	d->m_not_enabled = strata_metrics_counter(m, name, help,
	    "reason=\"not_enabled\"");
	name = "strata_rulesd_destination_confirmations_total";
	help = "topic rule destination confirmation requests sent";
	d->m_sent = strata_metrics_counter(m, name, help, "result=\"ok\"");
	d->m_failed = strata_metrics_counter(m, name, help,
	    "result=\"failed\"");
	rd->dests = d;
	rulesd_dests_reload(rd);
}

void
rulesd_dests_free(struct rulesd *rd)
{
	if (rd->dests == NULL)
		return;
	dest_table_clear(rd->dests);
	free(rd->dests);
	rd->dests = NULL;
}
