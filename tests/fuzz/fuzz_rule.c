/*
 * fuzz_rule.c - libFuzzer target for the topic rule payload parser
 * (common/rule.c): the input is one TopicRulePayload.
 *
 * Invariants: a refusal has a non-empty message; an accepted rule has a
 * statement and a FROM filter, at most STRATA_RULE_MAX_ACTIONS actions,
 * each with its name and spec, and the templates every kind requires.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rule.h"
#include "ruledest.h"

static void
fuzz_check_action(const struct strata_rule_action *a)
{
	if (a->name == NULL || a->spec == NULL)
		abort();
	switch (a->kind) {
	case STRATA_RULE_REPUBLISH:
		if (a->topic == NULL || a->qos < 0 || a->qos > 1)
			abort();
		break;
	case STRATA_RULE_HTTP:
		if (a->url == NULL)
			abort();
		break;
	case STRATA_RULE_REDIS:
		if (a->redis_url == NULL || a->key == NULL ||
		    (a->command == STRATA_RULE_REDIS_HSET && a->field == NULL))
			abort();
		break;
	case STRATA_RULE_KAFKA:
		if (a->topic == NULL || a->client_properties == NULL)
			abort();
		break;
	case STRATA_RULE_FILE:
		if (a->path == NULL || a->path[0] == '/' ||
		    strstr(a->path, "..") != NULL)
			abort();
		break;
	}
}

/* The destination checks (common/ruledest.c) on the same bytes, as a
 * confirmationUrl, a token and an ARN: an accepted url covers itself. */
static void
fuzz_ruledest(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), err[128], uuid[37];

	if (s == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	if (strata_ruledest_url_valid(s, err, sizeof(err)) &&
	    !strata_ruledest_covers(s, s))
		abort();
	(void)strata_ruledest_token_valid(s);
	if (strata_ruledest_arn_uuid(s, "local", "000000000000", uuid) &&
	    strlen(uuid) != STRATA_RULEDEST_UUID_LEN)
		abort();
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strata_rule_error err;
	struct strata_rule *r = strata_rule_parse((const char *)data, size,
	    &err);

	fuzz_ruledest(data, size);

	if (r == NULL) {
		if (err.message[0] == '\0')
			abort();
		return 0;
	}
	if (r->sql == NULL || strata_sql_from(r->sql) == NULL ||
	    r->n_actions > STRATA_RULE_MAX_ACTIONS)
		abort();
	for (size_t i = 0; i < r->n_actions; i++)
		fuzz_check_action(&r->actions[i]);
	if (r->error_action != NULL)
		fuzz_check_action(r->error_action);
	strata_rule_free(r);
	return 0;
}
