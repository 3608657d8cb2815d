/*
 * admin_fidx.c - the admin API's fleet indexing operations, AWS IoT's
 * UpdateIndexingConfiguration, GetIndexingConfiguration, DescribeIndex,
 * ListIndices, SearchIndex, GetStatistics, GetCardinality and
 * GetPercentiles (docs/internals/fleet-index.md).
 *
 * The index is written by strata-shadowd (common/fidx_index.h has the
 * keys); here it is only read.  A query runs:
 *   body checked -> queryString parsed (common/fidx_query.c;
 *   InvalidQueryException) -> one read command per leaf of the tree
 *   (ZRANGEBYLEX on a field's value set, ZRANGEBYSCORE on its numbers,
 *   ZRANGE of all things for NOT and "*"), sent with the configuration
 *   as one MULTI/EXEC (common/fidx_eval.c), so one round trip reads a
 *   consistent snapshot ->
 *   the tree evaluated here, on sorted arrays of thing names (merge
 *   AND/OR/NOT) -> SearchIndex: the page after nextToken, the page's
 *   documents read (a second round trip); an aggregation: the field's
 *   values (read with the leaves) joined with the things found.
 * Redis does no work beyond range reads, so a query of 100,000 things
 * holds Redis only as long as it takes to send them.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "fidx_index.h"
#include "fidx_eval.h"
#include "fidx_query.h"

#define FIDX_MAX_RESULTS 100     /* AWS's maximum of SearchIndex's */
#define FIDX_MAX_PERCENTS 100

enum fidx_op { FIDX_SEARCH, FIDX_STATISTICS, FIDX_CARDINALITY,
    FIDX_PERCENTILES };

enum fidx_type { FIDX_T_NONE, FIDX_T_STRING, FIDX_T_NUMBER,
    FIDX_T_BOOLEAN };

struct fidx_query {
	struct admin_call *call;
	enum fidx_op op;
	struct strata_fidx_node *tree;
	struct strata_fidx_plan plan; /* the reads and, during the read's
					 callback only (hiredis frees it),
					 their answer */
	const char *agg_field;        /* aggregations */
	enum fidx_type agg_type;
	size_t agg_at;
	int max_results;
	char token[STRATA_FIDX_MAX_QUERY];
	struct strata_fidx_set page;
	bool more;
	json_t *percents;
};

static void
fidx_query_free(struct fidx_query *q)
{
	if (q == NULL)
		return;
	strata_fidx_free(q->tree);
	strata_fidx_plan_clear(&q->plan);
	for (size_t i = 0; i < q->page.n; i++)
		free((char *)q->page.v[i].p);
	free(q->page.v);
	json_decref(q->percents);
	free(q);
}

/* ---- checks ---- */

/* indexName: absent or AWS_Things; false after answering. */
bool
admin_fidx_index_name(struct admin_call *call, const char *name)
{
	if (name == NULL || strcmp(name, STRATA_FIDX_INDEX_NAME) == 0)
		return true;
	if (strlen(name) < 1 || strlen(name) > 128 ||
	    !broker_registry_name_valid(name)) {
		admin_error(call, 400, "InvalidRequestException", "indexName",
		    "indexName must match [a-zA-Z0-9:_-]+ (1 to 128 "
		    "characters)");
		return false;
	}
	admin_error(call, 404, "ResourceNotFoundException", "indexName",
	    "Index %s does not exist", name);
	return false;
}

/* The managed fields' types (GetIndexingConfiguration's managedFields). */
static const struct {
	const char *name;
	enum fidx_type type;
	int needs;   /* 0 registry, 1 shadow, 2 connectivity */
} fidx_managed[] = {
	{"thingName", FIDX_T_STRING, 0},
	{"thingId", FIDX_T_STRING, 0},
	{"thingTypeName", FIDX_T_STRING, 0},
	{"thingGroupNames", FIDX_T_STRING, 0},
	{"shadow.version", FIDX_T_NUMBER, 1},
	{"shadow.hasDelta", FIDX_T_BOOLEAN, 1},
	{"connectivity.connected", FIDX_T_BOOLEAN, 2},
	{"connectivity.timestamp", FIDX_T_NUMBER, 2},
	{"connectivity.disconnectReason", FIDX_T_STRING, 2},
};
#define FIDX_NMANAGED (sizeof(fidx_managed) / sizeof(fidx_managed[0]))

static const char *const fidx_type_names[] = {"", "String", "Number",
    "Boolean"};

static enum fidx_type
fidx_type_of(const char *name)
{
	for (int t = 1; t <= 3; t++)
		if (strcmp(name, fidx_type_names[t]) == 0)
			return (enum fidx_type)t;
	return FIDX_T_NONE;
}

/* field's type: managed, or custom (the configuration's JSON). */
static enum fidx_type
fidx_field_type(const char *field, const redisReply *custom)
{
	json_t *list;
	size_t i;
	json_t *f;
	enum fidx_type t = FIDX_T_NONE;

	for (i = 0; i < FIDX_NMANAGED; i++)
		if (strcmp(field, fidx_managed[i].name) == 0)
			return fidx_managed[i].type;
	if (custom == NULL || custom->type != REDIS_REPLY_STRING)
		return FIDX_T_NONE;
	list = json_loadb(custom->str, custom->len, 0, NULL);
	json_array_foreach(list, i, f) {
		const char *n = json_string_value(json_object_get(f, "name"));

		if (n != NULL && strcmp(n, field) == 0)
			t = fidx_type_of(json_string_value(json_object_get(f,
			    "type")));
	}
	json_decref(list);
	return t;
}

/* ---- the read ---- */

static void fidx_answer(struct fidx_query *q);

static void
fidx_fail(struct fidx_query *q, int status, const char *type,
    const char *field, const char *msg)
{
	struct admin_call *call = q->call;

	fidx_query_free(q);
	admin_error(call, status, type, field, "%s", msg);
}

/* The configuration says the index can be read; false after answering. */
static bool
fidx_ready(struct fidx_query *q, const redisReply *cfg)
{
	const redisReply *mode, *status;

	if (cfg->type != REDIS_REPLY_ARRAY || cfg->elements != 3)
		return true;
	mode = cfg->element[0];
	status = cfg->element[1];
	if (mode->type != REDIS_REPLY_STRING || strcmp(mode->str, "OFF") == 0) {
		fidx_fail(q, 404, "ResourceNotFoundException", "indexName",
		    "Index AWS_Things does not exist: thing indexing is OFF");
		return false;
	}
	if (status->type == REDIS_REPLY_STRING &&
	    strcmp(status->str, "BUILDING") == 0) {
		fidx_fail(q, 400, "IndexNotReadyException", "indexName",
		    "Index AWS_Things is being built");
		return false;
	}
	return true;
}

static void
fidx_read(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct fidx_query *q = arg;

	(void)r;
	if (q->call->gone) {
		admin_call_free(q->call);
		fidx_query_free(q);
		return;
	}
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != q->plan.ncmds + 1) {
		if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
			STRATA_WARN(BROKER_COMP, "fleet index read failed|"
			    "error=\"%s\"", reply->str);
		fidx_fail(q, 503, "ServiceUnavailableException", NULL,
		    "the index (Redis) did not answer");
		return;
	}
	q->plan.reply = reply;
	if (!fidx_ready(q, reply->element[0]))
		return;
	fidx_answer(q);
}

/* An aggregation over every thing ("*"): the field's values need no
 * join, and the things are not read. */
static bool
fidx_whole(const struct fidx_query *q)
{
	return q->agg_field != NULL && q->tree->kind == STRATA_FIDX_ALL;
}

/* The reads: the tree's leaves, then the aggregation field's values. */
static void
fidx_start(struct fidx_query *q)
{
	if (!fidx_whole(q))
		strata_fidx_plan_query(&q->plan, q->tree);
	if (q->agg_field != NULL) {
		bool num = q->agg_type == FIDX_T_NUMBER;
		char key[STRATA_FIDX_MAX_QUERY + 64];
		const char *v[] = {"ZRANGE", key, "0", "-1", "WITHSCORES"};

		snprintf(key, sizeof(key), "%s%s", num ?
		    STRATA_FIDX_NUM_PREFIX : STRATA_FIDX_STR_PREFIX,
		    q->agg_field);
		q->agg_at = strata_fidx_plan_command(&q->plan, num ? 5 : 4, v);
	}
	strata_fidx_plan_send(&q->plan, q->call->b->redis, fidx_read, q);
}

/* ---- SearchIndex ---- */

static const char script_docs[] =
    "local out = {} "
    "for i, t in ipairs(ARGV) do "
    "  out[i] = redis.call('HGET', 'strata:fidx:doc:{' .. t .. '}', 'r') "
    "    or '' "
    "end "
    "return out";

/* A stored document (written by Lua, members in any order) in the order
 * of AWS's ThingDocument. */
static json_t *
fidx_thing_doc(const char *text, size_t len)
{
	static const char *const members[] = {"thingName", "thingId",
	    "thingTypeName", "thingGroupNames", "attributes", "shadow",
	    "connectivity"};
	json_t *raw = json_loadb(text, len, 0, NULL), *doc, *v;

	if (!json_is_object(raw)) {
		json_decref(raw);
		return NULL;
	}
	doc = json_object();
	for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++)
		if ((v = json_object_get(raw, members[i])) != NULL)
			json_object_set(doc, members[i], v);
	v = json_object_get(doc, "connectivity");
	if (json_is_object(v)) {   /* connected, timestamp, reason */
		json_t *c = json_object();
		static const char *const cm[] = {"connected", "timestamp",
		    "disconnectReason"};

		for (size_t i = 0; i < 3; i++)
			if (json_object_get(v, cm[i]) != NULL)
				json_object_set(c, cm[i],
				    json_object_get(v, cm[i]));
		json_object_set_new(doc, "connectivity", c);
	}
	json_decref(raw);
	return doc;
}

static void
fidx_docs(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct fidx_query *q = arg;
	struct admin_call *call = q->call;
	json_t *out, *things;
	char token[256];

	(void)r;
	if (call->gone) {
		admin_call_free(call);
		fidx_query_free(q);
		return;
	}
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
		fidx_fail(q, 503, "ServiceUnavailableException", NULL,
		    "the index (Redis) did not answer");
		return;
	}
	out = json_object();
	things = json_array();
	for (size_t i = 0; i < reply->elements; i++) {
		const redisReply *d = reply->element[i];
		json_t *doc;

		if (d->type != REDIS_REPLY_STRING || d->len == 0)
			continue;   /* removed since the query */
		doc = fidx_thing_doc(d->str, d->len);
		if (doc != NULL)
			json_array_append_new(things, doc);
	}
	json_object_set_new(out, "things", things);
	json_object_set_new(out, "thingGroups", json_array());
	if (q->more && q->page.n > 0) {
		const struct strata_fidx_name *last = &q->page.v[q->page.n - 1];

		snprintf(token, sizeof(token), "%.*s", (int)last->len,
		    last->p);
		json_object_set_new(out, "nextToken", json_string(token));
	}
	fidx_query_free(q);
	admin_reply(call, out);
}

static void
fidx_search_answer(struct fidx_query *q, struct strata_fidx_set found)
{
	size_t start = 0, n;
	const char **v;
	size_t *len;

	if (q->token[0] != '\0') {
		struct strata_fidx_name t = {q->token, strlen(q->token)};

		while (start < found.n &&
		    strata_fidx_name_cmp(&found.v[start], &t) <= 0)
			start++;
	}
	n = found.n - start;
	q->more = n > (size_t)q->max_results;
	if (q->more)
		n = (size_t)q->max_results;
	q->page.v = malloc((n + 1) * sizeof(*q->page.v));
	if (q->page.v == NULL)
		abort();
	for (size_t i = 0; i < n; i++) {   /* the reply goes: copies */
		char *name = malloc(found.v[start + i].len + 1);

		if (name == NULL)
			abort();
		memcpy(name, found.v[start + i].p, found.v[start + i].len);
		name[found.v[start + i].len] = '\0';
		q->page.v[i] = (struct strata_fidx_name){name,
		    found.v[start + i].len};
	}
	q->page.n = n;
	q->plan.reply = NULL;
	free(found.v);
	v = malloc((n + 3) * sizeof(*v));
	len = malloc((n + 3) * sizeof(*len));
	if (v == NULL || len == NULL)
		abort();
	v[0] = "EVAL";
	v[1] = script_docs;
	v[2] = "0";
	for (int i = 0; i < 3; i++)
		len[i] = strlen(v[i]);
	for (size_t i = 0; i < n; i++) {
		v[3 + i] = q->page.v[i].p;
		len[3 + i] = q->page.v[i].len;
	}
	strata_redis_commandv(q->call->b->redis, fidx_docs, q, (int)(n + 3),
	    v, len);
	free(v);
	free(len);
}

/* ---- aggregations ---- */

/* A thing's value of the aggregation field. */
struct fidx_value {
	struct strata_fidx_name thing;
	const char *s;     /* strings: the value */
	size_t slen;
	double d;          /* numbers */
};

static int
fidx_value_cmp(const void *a, const void *b)
{
	return strata_fidx_name_cmp(&((const struct fidx_value *)a)->thing,
	    &((const struct fidx_value *)b)->thing);
}

static int
fidx_double_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The values of the things found (both sorted by thing; numbers over
 * every thing in score order); *n of them. */
static struct fidx_value *
fidx_values(struct fidx_query *q, const struct strata_fidx_set *found, size_t *n)
{
	const redisReply *r = q->plan.reply->element[q->agg_at];
	bool num = q->agg_type == FIDX_T_NUMBER;
	size_t step = num ? 2 : 1, k = 0, m = 0, j = 0;
	struct fidx_value *all, *out;

	*n = 0;
	if (r->type != REDIS_REPLY_ARRAY)
		return NULL;
	all = calloc(r->elements / step + 1, sizeof(*all));
	if (all == NULL)
		abort();
	for (size_t i = 0; i + step - 1 < r->elements; i += step) {
		const redisReply *e = r->element[i];
		const char *nul;

		if (e->type != REDIS_REPLY_STRING)
			continue;
		if (num) {
			all[k].thing = (struct strata_fidx_name){e->str, e->len};
			all[k++].d = strtod(r->element[i + 1]->str, NULL);
			continue;
		}
		nul = memchr(e->str, '\0', e->len);
		if (nul == NULL)
			continue;
		all[k].s = e->str;
		all[k].slen = (size_t)(nul - e->str);
		all[k++].thing = (struct strata_fidx_name){nul + 1,
		    e->len - (size_t)(nul + 1 - e->str)};
	}
	if (fidx_whole(q) && q->agg_type == FIDX_T_NUMBER) {
		*n = k;   /* every thing: one number each, nothing to join */
		return all;
	}
	qsort(all, k, sizeof(*all), fidx_value_cmp);
	if (fidx_whole(q)) {
		*n = k;
		return all;
	}
	out = calloc(k + 1, sizeof(*out));
	if (out == NULL)
		abort();
	for (size_t i = 0; i < k; i++) {   /* join with found */
		while (j < found->n && strata_fidx_name_cmp(&found->v[j],
		    &all[i].thing) < 0)
			j++;
		if (j < found->n && strata_fidx_name_cmp(&found->v[j],
		    &all[i].thing) == 0)
			out[m++] = all[i];
	}
	free(all);
	*n = m;
	return out;
}

static json_t *
fidx_statistics(struct fidx_query *q, const struct strata_fidx_set *found)
{
	json_t *s = json_object();
	struct fidx_value *v;
	size_t n, things = 0;
	double sum = 0, sq = 0, lo = 0, hi = 0, mean, var;

	if (q->agg_field == NULL) {
		json_object_set_new(s, "count", json_integer((json_int_t)
		    found->n));
		return s;
	}
	v = fidx_values(q, found, &n);
	for (size_t i = 0; i < n; i++)   /* a thing counts once */
		if (i == 0 || strata_fidx_name_cmp(&v[i].thing, &v[i - 1].thing) != 0)
			things++;
	json_object_set_new(s, "count", json_integer((json_int_t)things));
	if (q->agg_type == FIDX_T_NUMBER && n > 0) {
		lo = hi = v[0].d;
		for (size_t i = 0; i < n; i++) {
			sum += v[i].d;
			sq += v[i].d * v[i].d;
			lo = v[i].d < lo ? v[i].d : lo;
			hi = v[i].d > hi ? v[i].d : hi;
		}
		mean = sum / (double)n;
		var = sq / (double)n - mean * mean;
		var = var < 0 ? 0 : var;
		json_object_set_new(s, "average", json_real(mean));
		json_object_set_new(s, "sum", json_real(sum));
		json_object_set_new(s, "minimum", json_real(lo));
		json_object_set_new(s, "maximum", json_real(hi));
		json_object_set_new(s, "sumOfSquares", json_real(sq));
		json_object_set_new(s, "variance", json_real(var));
		json_object_set_new(s, "stdDeviation", json_real(sqrt(var)));
	}
	free(v);
	return s;
}

static int
fidx_str_cmp(const void *a, const void *b)
{
	const struct fidx_value *x = a, *y = b;
	size_t n = x->slen < y->slen ? x->slen : y->slen;
	int c = memcmp(x->s, y->s, n);

	return c != 0 ? c : x->slen < y->slen ? -1 : x->slen > y->slen;
}

static json_int_t
fidx_cardinality(struct fidx_query *q, const struct strata_fidx_set *found)
{
	size_t n, distinct = 0;
	struct fidx_value *v = fidx_values(q, found, &n);

	if (q->agg_type == FIDX_T_NUMBER) {
		double *d = malloc((n + 1) * sizeof(*d));

		if (d == NULL)
			abort();
		for (size_t i = 0; i < n; i++)
			d[i] = v[i].d;
		qsort(d, n, sizeof(*d), fidx_double_cmp);
		for (size_t i = 0; i < n; i++)
			distinct += i == 0 || d[i] != d[i - 1];
		free(d);
	} else {
		qsort(v, n, sizeof(*v), fidx_str_cmp);
		for (size_t i = 0; i < n; i++)
			distinct += i == 0 || fidx_str_cmp(&v[i],
			    &v[i - 1]) != 0;
	}
	free(v);
	return (json_int_t)distinct;
}

static json_t *
fidx_percentiles(struct fidx_query *q, const struct strata_fidx_set *found)
{
	size_t n, i;
	struct fidx_value *v = fidx_values(q, found, &n);
	double *d = malloc((n + 1) * sizeof(*d));
	json_t *out = json_array(), *p;

	if (d == NULL)
		abort();
	for (i = 0; i < n; i++)
		d[i] = v[i].d;
	qsort(d, n, sizeof(*d), fidx_double_cmp);
	json_array_foreach(q->percents, i, p) {
		double pc = json_number_value(p);
		json_t *e = json_object();

		json_object_set_new(e, "percent", json_real(pc));
		if (n > 0) {
			double rank = pc / 100.0 * (double)(n - 1);
			size_t lo = (size_t)floor(rank);
			size_t hi = lo + 1 < n ? lo + 1 : lo;

			json_object_set_new(e, "value", json_real(d[lo] +
			    (d[hi] - d[lo]) * (rank - (double)lo)));
		}
		json_array_append_new(out, e);
	}
	free(d);
	free(v);
	return out;
}

static void
fidx_answer(struct fidx_query *q)
{
	struct admin_call *call = q->call;
	struct strata_fidx_set found = {0};
	json_t *out = json_object();

	if (!fidx_whole(q))
		found = strata_fidx_plan_eval(&q->plan, q->tree,
		    q->plan.reply);

	switch (q->op) {
	case FIDX_SEARCH:
		json_decref(out);
		fidx_search_answer(q, found);
		return;
	case FIDX_STATISTICS:
		json_object_set_new(out, "statistics",
		    fidx_statistics(q, &found));
		break;
	case FIDX_CARDINALITY:
		json_object_set_new(out, "cardinality",
		    json_integer(fidx_cardinality(q, &found)));
		break;
	case FIDX_PERCENTILES:
		json_object_set_new(out, "percentiles",
		    fidx_percentiles(q, &found));
		break;
	}
	free(found.v);
	fidx_query_free(q);
	admin_reply(call, out);
}

/* ---- the operations that query ---- */

/* indexName, queryString (parsed), queryVersion: the query, or NULL
 * after answering. */
static struct fidx_query *
fidx_query_new(struct admin_call *call, enum fidx_op op)
{
	const char *index, *text, *version;
	struct fidx_query *q;
	char err[256];

	if (call->body == NULL) {
		admin_error(call, 400, "InvalidRequestException", NULL,
		    "a JSON body is required");
		return NULL;
	}
	if (!admin_body_string(call, call->body, "indexName", &index) ||
	    !admin_fidx_index_name(call, index) ||
	    !admin_body_string(call, call->body, "queryString", &text) ||
	    !admin_body_string(call, call->body, "queryVersion", &version))
		return NULL;
	if (text == NULL) {
		admin_error(call, 400, "InvalidRequestException",
		    "queryString", "queryString is required");
		return NULL;
	}
	q = calloc(1, sizeof(*q));
	if (q == NULL)
		abort();
	q->call = call;
	q->op = op;
	q->max_results = FIDX_MAX_RESULTS;
	if (strata_fidx_parse(text, strlen(text), &q->tree, err,
	    sizeof(err)) != 0) {
		fidx_query_free(q);
		admin_error(call, 400, "InvalidQueryException", "queryString",
		    "%s", err);
		return NULL;
	}
	return q;
}

static void
op_search_index(struct admin_call *call)
{
	struct fidx_query *q = fidx_query_new(call, FIDX_SEARCH);
	json_t *max, *token;

	if (q == NULL)
		return;
	max = json_object_get(call->body, "maxResults");
	token = json_object_get(call->body, "nextToken");
	if (max != NULL && !json_is_null(max) && (!json_is_integer(max) ||
	    json_integer_value(max) < 1 ||
	    json_integer_value(max) > FIDX_MAX_RESULTS)) {
		fidx_fail(q, 400, "InvalidRequestException", "maxResults",
		    "maxResults must be an integer from 1 to 100");
		return;
	}
	if (json_is_integer(max))
		q->max_results = (int)json_integer_value(max);
	if (token != NULL && !json_is_null(token)) {
		const char *t = json_string_value(token);

		if (t == NULL || strlen(t) < 1 || strlen(t) > 128 ||
		    !broker_registry_name_valid(t)) {
			fidx_fail(q, 400, "InvalidRequestException",
			    "nextToken", "nextToken is not one this API gave");
			return;
		}
		snprintf(q->token, sizeof(q->token), "%s", t);
	}
	fidx_start(q);
}

/* The aggregation field of the body (required unless optional); false
 * after answering.  Its type is checked once the configuration is read
 * (fidx_agg_typed). */
static bool
fidx_agg_field(struct fidx_query *q, bool optional)
{
	const char *f;

	if (!admin_body_string(q->call, q->call->body, "aggregationField", &f)) {
		fidx_query_free(q);
		return false;
	}
	if (f == NULL && optional)
		return true;
	if (f == NULL || !strata_fidx_field_valid(f)) {
		fidx_fail(q, 400, "InvalidAggregationException",
		    "aggregationField", f == NULL ? "aggregationField is "
		    "required" : "aggregationField is not a field of the "
		    "index");
		return false;
	}
	q->agg_field = f;
	return true;
}

/* Aggregations need the field's type, which custom fields keep in the
 * configuration: read it first, then plan. */
static void
fidx_agg_config(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct fidx_query *q = arg;
	enum fidx_type t;

	(void)r;
	if (q->call->gone) {
		admin_call_free(q->call);
		fidx_query_free(q);
		return;
	}
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != 3) {
		fidx_fail(q, 503, "ServiceUnavailableException", NULL,
		    "the index (Redis) did not answer");
		return;
	}
	if (!fidx_ready(q, reply))
		return;
	if (q->agg_field != NULL) {
		t = fidx_field_type(q->agg_field, reply->element[2]);
		if (t == FIDX_T_NONE) {
			fidx_fail(q, 400, "InvalidAggregationException",
			    "aggregationField", "aggregationField must be a "
			    "managed field or a custom field of the indexing "
			    "configuration");
			return;
		}
		if (q->op == FIDX_PERCENTILES && t != FIDX_T_NUMBER) {
			fidx_fail(q, 400, "InvalidAggregationException",
			    "aggregationField", "percentiles need a Number "
			    "field");
			return;
		}
		q->agg_type = t;
	}
	fidx_start(q);
}

static void
fidx_aggregate(struct admin_call *call, enum fidx_op op, bool optional)
{
	struct fidx_query *q = fidx_query_new(call, op);

	if (q == NULL || !fidx_agg_field(q, optional))
		return;
	if (op == FIDX_PERCENTILES) {
		json_t *p = json_object_get(call->body, "percents");
		size_t i;
		json_t *e;

		if (p == NULL || json_is_null(p))
			p = json_pack("[iiiiiii]", 1, 5, 25, 50, 75, 95, 99);
		else
			json_incref(p);
		q->percents = p;
		if (!json_is_array(p) || json_array_size(p) >
		    FIDX_MAX_PERCENTS) {
			fidx_fail(q, 400, "InvalidRequestException",
			    "percents", "percents must be a list of at most "
			    "100 numbers from 0 to 100");
			return;
		}
		json_array_foreach(p, i, e)
			if (!json_is_number(e) || json_number_value(e) < 0 ||
			    json_number_value(e) > 100) {
				fidx_fail(q, 400, "InvalidRequestException",
				    "percents", "percents must be a list of "
				    "at most 100 numbers from 0 to 100");
				return;
			}
	}
	strata_redis_command(call->b->redis, fidx_agg_config, q,
	    "HMGET %s mode status custom", STRATA_FIDX_CONFIG);
}

static void
op_get_statistics(struct admin_call *call)
{
	fidx_aggregate(call, FIDX_STATISTICS, true);
}

static void
op_get_cardinality(struct admin_call *call)
{
	fidx_aggregate(call, FIDX_CARDINALITY, false);
}

static void
op_get_percentiles(struct admin_call *call)
{
	fidx_aggregate(call, FIDX_PERCENTILES, false);
}

/* ---- configuration ---- */

static const char *
fidx_choice(json_t *o, const char *member, const char *choices,
    const char *def)
{
	json_t *v = json_object_get(o, member);
	const char *s = json_string_value(v);
	size_t n;

	if (v == NULL || json_is_null(v))
		return def;
	if (s == NULL || (n = strlen(s)) == 0)
		return NULL;
	for (const char *c = choices; *c != '\0';) {
		const char *bar = strchr(c, '|');
		size_t k = bar != NULL ? (size_t)(bar - c) : strlen(c);

		if (k == n && memcmp(c, s, n) == 0)
			return s;
		c += k + (bar != NULL);
	}
	return NULL;
}

struct fidx_config {
	const char *mode, *conn, *named;
	char *names, *custom;    /* JSON text, owned */
};

/* A list of {"name","type"} custom fields, checked, as JSON text. */
static bool
fidx_custom(struct admin_call *call, json_t *list, char **out)
{
	size_t i;
	json_t *f;

	*out = NULL;
	if (list == NULL || json_is_null(list)) {
		*out = strdup("[]");
		return true;
	}
	if (!json_is_array(list) || json_array_size(list) > 100)
		goto bad;
	json_array_foreach(list, i, f) {
		const char *n = json_string_value(json_object_get(f, "name"));
		const char *t = json_string_value(json_object_get(f, "type"));

		if (n == NULL || t == NULL || !strata_fidx_field_valid(n) ||
		    fidx_type_of(t) == FIDX_T_NONE)
			goto bad;
	}
	*out = json_dumps(list, JSON_COMPACT);
	return true;
bad:
	admin_error(call, 400, "InvalidRequestException", "customFields",
	    "customFields must be a list of {\"name\": <a field of the "
	    "index>, \"type\": \"Number\"|\"String\"|\"Boolean\"}");
	return false;
}

static bool
fidx_names(struct admin_call *call, json_t *filter, char **out)
{
	json_t *list = json_object_get(filter, "namedShadowNames");
	size_t i;
	json_t *n;

	*out = NULL;
	if (list == NULL || json_is_null(list)) {
		*out = strdup("[]");
		return true;
	}
	if (!json_is_array(list) || json_array_size(list) > 10)
		goto bad;
	json_array_foreach(list, i, n) {
		const char *s = json_string_value(n);

		if (s == NULL || strlen(s) < 1 || strlen(s) > 64 ||
		    !broker_registry_name_valid(s))
			goto bad;
	}
	*out = json_dumps(list, JSON_COMPACT);
	return true;
bad:
	admin_error(call, 400, "InvalidRequestException", "filter",
	    "filter.namedShadowNames must be a list of at most 10 shadow "
	    "names");
	return false;
}

static bool
fidx_config_check(struct admin_call *call, json_t *t, struct fidx_config *c)
{
	const char *dd, *geo;

	c->mode = fidx_choice(t, "thingIndexingMode",
	    "OFF|REGISTRY|REGISTRY_AND_SHADOW", NULL);
	c->conn = fidx_choice(t, "thingConnectivityIndexingMode",
	    "OFF|STATUS", "OFF");
	c->named = fidx_choice(t, "namedShadowIndexingMode", "OFF|ON",
	    "OFF");
	dd = fidx_choice(t, "deviceDefenderIndexingMode", "OFF", "OFF");
	geo = json_object_get(json_object_get(t, "filter"), "geoLocations") ?
	    NULL : "";
	if (c->mode == NULL || c->conn == NULL || c->named == NULL) {
		admin_error(call, 400, "InvalidRequestException",
		    c->mode == NULL ? "thingIndexingMode" : c->conn == NULL ?
		    "thingConnectivityIndexingMode" :
		    "namedShadowIndexingMode", "thingIndexingMode must be "
		    "OFF, REGISTRY or REGISTRY_AND_SHADOW; "
		    "thingConnectivityIndexingMode OFF or STATUS; "
		    "namedShadowIndexingMode OFF or ON");
		return false;
	}
	if (dd == NULL || geo == NULL) {
		admin_error(call, 400, "InvalidRequestException",
		    dd == NULL ? "deviceDefenderIndexingMode" : "filter",
		    "Device Defender violations and geolocations are not "
		    "indexed by Strata");
		return false;
	}
	if (strcmp(c->mode, "OFF") == 0 && (strcmp(c->conn, "OFF") != 0 ||
	    strcmp(c->named, "OFF") != 0)) {
		admin_error(call, 400, "InvalidRequestException",
		    "thingIndexingMode", "connectivity and named shadow "
		    "indexing need thingIndexingMode other than OFF");
		return false;
	}
	if (strcmp(c->named, "ON") == 0 &&
	    strcmp(c->mode, "REGISTRY_AND_SHADOW") != 0) {
		admin_error(call, 400, "InvalidRequestException",
		    "namedShadowIndexingMode", "named shadow indexing needs "
		    "thingIndexingMode REGISTRY_AND_SHADOW");
		return false;
	}
	return fidx_names(call, json_object_get(t, "filter"), &c->names) &&
	    fidx_custom(call, json_object_get(t, "customFields"), &c->custom);
}

/* KEYS: config; ARGV: mode, connectivity, named, names, custom.  A new
 * generation; BUILDING when there was no index, REBUILDING otherwise. */
static const char script_update_config[] =
    "local old = redis.call('HGET', KEYS[1], 'mode') "
    "local status = 'REBUILDING' "
    "if not old or old == 'OFF' then status = 'BUILDING' end "
    "redis.call('HSET', KEYS[1], 'mode', ARGV[1], 'connectivity', ARGV[2], "
    "  'named', ARGV[3], 'names', ARGV[4], 'custom', ARGV[5], "
    "  'status', status) "
    "return redis.call('HINCRBY', KEYS[1], 'generation', 1)";

static void
fidx_done_empty(struct admin_call *call, redisReply *reply)
{
	(void)reply;
	admin_reply(call, NULL);
}

static void
op_update_indexing_configuration(struct admin_call *call)
{
	json_t *t = call->body != NULL ? json_object_get(call->body,
	    "thingIndexingConfiguration") : NULL;
	json_t *g = call->body != NULL ? json_object_get(call->body,
	    "thingGroupIndexingConfiguration") : NULL;
	struct fidx_config c = {0};

	if (g != NULL && fidx_choice(g, "thingGroupIndexingMode", "OFF",
	    NULL) == NULL) {
		admin_error(call, 400, "InvalidRequestException",
		    "thingGroupIndexingConfiguration", "thing group "
		    "indexing (AWS_ThingGroups) is not built: "
		    "thingGroupIndexingMode must be OFF");
		return;
	}
	if (t == NULL) {
		admin_reply(call, NULL);
		return;
	}
	if (!json_is_object(t)) {
		admin_error(call, 400, "InvalidRequestException",
		    "thingIndexingConfiguration", "thingIndexingConfiguration "
		    "must be an object");
		return;
	}
	if (fidx_config_check(call, t, &c))
		admin_eval(call, script_update_config, 1, 6,
		    (const char *[]){STRATA_FIDX_CONFIG, c.mode, c.conn,
		    c.named, c.names, c.custom}, fidx_done_empty);
	free(c.names);
	free(c.custom);
}

static void
fidx_config_got(struct admin_call *call, redisReply *reply)
{
	const char *v[5] = {0};
	json_t *t = json_object(), *out = json_object(), *managed, *f;
	size_t i;

	for (i = 0; i < 5 && i < reply->elements; i++)
		if (reply->element[i]->type == REDIS_REPLY_STRING)
			v[i] = reply->element[i]->str;
	json_object_set_new(t, "thingIndexingMode",
	    json_string(v[0] != NULL ? v[0] : "OFF"));
	json_object_set_new(t, "thingConnectivityIndexingMode",
	    json_string(v[1] != NULL ? v[1] : "OFF"));
	json_object_set_new(t, "deviceDefenderIndexingMode",
	    json_string("OFF"));
	json_object_set_new(t, "namedShadowIndexingMode",
	    json_string(v[2] != NULL ? v[2] : "OFF"));
	managed = json_array();
	for (i = 0; v[0] != NULL && strcmp(v[0], "OFF") != 0 &&
	     i < FIDX_NMANAGED; i++) {
		int needs = fidx_managed[i].needs;

		if ((needs == 1 && strcmp(v[0], "REGISTRY_AND_SHADOW") != 0) ||
		    (needs == 2 && (v[1] == NULL ||
		    strcmp(v[1], "STATUS") != 0)))
			continue;
		json_array_append_new(managed, json_pack("{s:s,s:s}", "name",
		    fidx_managed[i].name, "type",
		    fidx_type_names[fidx_managed[i].type]));
	}
	json_object_set_new(t, "managedFields", managed);
	f = v[4] != NULL ? json_loads(v[4], 0, NULL) : NULL;
	json_object_set_new(t, "customFields", f != NULL ? f : json_array());
	f = v[3] != NULL ? json_loads(v[3], 0, NULL) : NULL;
	if (f != NULL && json_array_size(f) > 0)
		json_object_set_new(t, "filter", json_pack("{s:o}",
		    "namedShadowNames", f));
	else
		json_decref(f);
	json_object_set_new(out, "thingIndexingConfiguration", t);
	json_object_set_new(out, "thingGroupIndexingConfiguration",
	    json_pack("{s:s}", "thingGroupIndexingMode", "OFF"));
	admin_reply(call, out);
}

static const char script_get_config[] =
    "return redis.call('HMGET', KEYS[1], 'mode', 'connectivity', 'named', "
    "  'names', 'custom', 'status')";

static void
op_get_indexing_configuration(struct admin_call *call)
{
	admin_eval(call, script_get_config, 1, 1,
	    (const char *[]){STRATA_FIDX_CONFIG}, fidx_config_got);
}

/* ---- DescribeIndex, ListIndices ---- */

static void
fidx_described(struct admin_call *call, redisReply *reply)
{
	const char *mode = NULL, *conn = NULL, *status = NULL;
	char schema[64];

	if (reply->elements >= 6) {
		if (reply->element[0]->type == REDIS_REPLY_STRING)
			mode = reply->element[0]->str;
		if (reply->element[1]->type == REDIS_REPLY_STRING)
			conn = reply->element[1]->str;
		if (reply->element[5]->type == REDIS_REPLY_STRING)
			status = reply->element[5]->str;
	}
	if (mode == NULL || strcmp(mode, "OFF") == 0) {
		admin_error(call, 404, "ResourceNotFoundException",
		    "indexName", "Index AWS_Things does not exist");
		return;
	}
	snprintf(schema, sizeof(schema), "%s%s", mode, conn != NULL &&
	    strcmp(conn, "STATUS") == 0 ? "_AND_CONNECTIVITY_STATUS" : "");
	admin_reply(call, json_pack("{s:s,s:s,s:s}", "indexName",
	    STRATA_FIDX_INDEX_NAME, "indexStatus", status != NULL ? status :
	    "BUILDING", "schema", schema));
}

static void
op_describe_index(struct admin_call *call)
{
	if (!admin_fidx_index_name(call, call->arg))
		return;
	admin_eval(call, script_get_config, 1, 1,
	    (const char *[]){STRATA_FIDX_CONFIG}, fidx_described);
}

static void
fidx_listed(struct admin_call *call, redisReply *reply)
{
	json_t *names = json_array();

	if (reply->elements >= 1 &&
	    reply->element[0]->type == REDIS_REPLY_STRING &&
	    strcmp(reply->element[0]->str, "OFF") != 0)
		json_array_append_new(names,
		    json_string(STRATA_FIDX_INDEX_NAME));
	admin_reply(call, json_pack("{s:o}", "indexNames", names));
}

static void
op_list_indices(struct admin_call *call)
{
	admin_eval(call, script_get_config, 1, 1,
	    (const char *[]){STRATA_FIDX_CONFIG}, fidx_listed);
}

const struct admin_route admin_fidx_routes[] = {
	{EVHTTP_REQ_POST, "indexing/config", "UpdateIndexingConfiguration",
	    "iot:UpdateIndexingConfiguration", ADMIN_RES_ANY,
	    op_update_indexing_configuration},
	{EVHTTP_REQ_GET, "indexing/config", "GetIndexingConfiguration",
	    "iot:GetIndexingConfiguration", ADMIN_RES_ANY,
	    op_get_indexing_configuration},
	{EVHTTP_REQ_GET, "indices", "ListIndices", "iot:ListIndices",
	    ADMIN_RES_ANY, op_list_indices},
	{EVHTTP_REQ_POST, "indices/search", "SearchIndex", "iot:SearchIndex",
	    ADMIN_RES_INDEX, op_search_index},
	{EVHTTP_REQ_POST, "indices/statistics", "GetStatistics",
	    "iot:GetStatistics", ADMIN_RES_INDEX, op_get_statistics},
	{EVHTTP_REQ_POST, "indices/cardinality", "GetCardinality",
	    "iot:GetCardinality", ADMIN_RES_INDEX, op_get_cardinality},
	{EVHTTP_REQ_POST, "indices/percentiles", "GetPercentiles",
	    "iot:GetPercentiles", ADMIN_RES_INDEX, op_get_percentiles},
	{EVHTTP_REQ_GET, "indices/*", "DescribeIndex", "iot:DescribeIndex",
	    ADMIN_RES_INDEX, op_describe_index},
	{0, NULL, NULL, NULL, 0, NULL},
};
