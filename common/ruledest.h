/*
 * ruledest.h - AWS IoT's HTTP topic rule destinations: the checks the
 * admin API (broker/admin_dest.c) and strata-rulesd (rulesd/dest.c)
 * share.  Pure functions, no I/O (docs/internals/rules-admin.md,
 * "Topic rule destinations").
 *
 * A destination's states (AWS's TopicRuleDestination.status):
 *
 *   (CreateTopicRuleDestination) -> IN_PROGRESS: a token is made and a
 *        confirmation request is POSTed to the confirmationUrl
 *   IN_PROGRESS --ConfirmTopicRuleDestination(token) or a GET of the
 *        enableUrl--> ENABLED
 *   IN_PROGRESS --the token's three days pass--> ERROR (shown so; the
 *        stored status stays IN_PROGRESS and the token is gone)
 *   ENABLED --UpdateTopicRuleDestination DISABLED--> DISABLED
 *   DISABLED --UpdateTopicRuleDestination ENABLED--> ENABLED
 *   any --UpdateTopicRuleDestination IN_PROGRESS--> IN_PROGRESS with a
 *        new token, the confirmation request sent again
 *   any --DeleteTopicRuleDestination--> gone
 *
 * Only an ENABLED destination lets an http action post: its url must be
 * covered by the confirmationUrl of one (strata_ruledest_covers).
 */
#ifndef STRATA_RULEDEST_H
#define STRATA_RULEDEST_H

#include <stdbool.h>
#include <stddef.h>

#define STRATA_RULEDEST_URL_MAX 2000   /* AWS: confirmationUrl length */
#define STRATA_RULEDEST_TOKEN_MAX 2048 /* AWS: confirmationToken length */
#define STRATA_RULEDEST_TOKEN_LEN 43   /* the tokens Strata makes */
#define STRATA_RULEDEST_TTL_S (3 * 24 * 3600) /* AWS: a token's life */
#define STRATA_RULEDEST_UUID_LEN 36
/* "ruledest:<uuid>" on strata:rules: the destinations changed */
#define STRATA_RULEDEST_CHANNEL_PREFIX "ruledest:"

enum strata_ruledest_status {
	STRATA_RULEDEST_IN_PROGRESS,
	STRATA_RULEDEST_ENABLED,
	STRATA_RULEDEST_DISABLED,
	STRATA_RULEDEST_ERROR,
	STRATA_RULEDEST_UNKNOWN,
};

/* AWS's name of a status ("IN_PROGRESS", ...), and back (UNKNOWN for
 * another text). */
const char *strata_ruledest_status_name(enum strata_ruledest_status s);
enum strata_ruledest_status strata_ruledest_status_parse(const char *s);

/*
 * Is url one a destination may have as its confirmationUrl (and an http
 * action post to): "http://" or "https://" (lower case), a host name
 * ([A-Za-z0-9.-]) or a bracketed IPv6 address, an optional port
 * 1..65535, then nothing or a path / query starting with '/' or '?';
 * printable ASCII without blanks; no user info, no fragment; at most
 * STRATA_RULEDEST_URL_MAX bytes.  false with one sentence in err.
 */
bool strata_ruledest_url_valid(const char *url, char *err, size_t errlen);

/*
 * Does the destination of confirmation_url cover url: url begins with
 * confirmation_url and, unless confirmation_url ends with '/', the next
 * character of url is the end, '/' or '?' (so "https://a.example"
 * covers "https://a.example/x" but not "https://a.example.net/").
 */
bool strata_ruledest_covers(const char *confirmation_url, const char *url);

/* A confirmation token as ConfirmTopicRuleDestination takes it:
 * 1..STRATA_RULEDEST_TOKEN_MAX of [A-Za-z0-9_-]. */
bool strata_ruledest_token_valid(const char *token);

/*
 * The uuid of a destination ARN,
 * "arn:aws:iot:<region>:<account>:ruledestination/http/<uuid>" with
 * this cluster's region and account and a lower-case uuid; false when
 * arn is not one.
 */
bool strata_ruledest_arn_uuid(const char *arn, const char *region,
    const char *account, char uuid[STRATA_RULEDEST_UUID_LEN + 1]);

#endif
