/*
 * lifecycle.c - topics and JSON of AWS IoT Core's lifecycle events (see
 * lifecycle.h for the shapes).
 *
 * Every write goes through out_put(), which copies what still fits and
 * counts everything, so one pass over a buffer too small gives the size
 * to allocate for the second.
 */
#include <stdio.h>
#include <string.h>

#include "lifecycle.h"
#include "status.h"

static const char *const lifecycle_names[STRATA_LIFECYCLE_TYPES] = {
	"connected", "disconnected", "subscribed", "unsubscribed"};

static const char *const lifecycle_prefixes[STRATA_LIFECYCLE_TYPES] = {
	"$aws/events/presence/connected/",
	"$aws/events/presence/disconnected/",
	"$aws/events/subscriptions/subscribed/",
	"$aws/events/subscriptions/unsubscribed/"};

static void
out_put(struct strata_lifecycle_out *o, const char *p, size_t n)
{
	if (o->len < o->cap)
		memcpy(o->buf + o->len, p, o->cap - o->len < n ?
		    o->cap - o->len : n);
	o->len += n;
}

static void
out_str(struct strata_lifecycle_out *o, const char *s)
{
	out_put(o, s, strlen(s));
}

static void
out_u64(struct strata_lifecycle_out *o, uint64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%llu", (unsigned long long)v);

	out_put(o, num, (size_t)n);
}

/* A JSON string: quoted, with '"', '\\' and control characters escaped
 * (RFC 8259 section 7).  Runs that need no escape are copied whole. */
static void
out_json_string(struct strata_lifecycle_out *o, const char *s, size_t n)
{
	size_t i, run = 0;
	char esc[8];

	out_put(o, "\"", 1);
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch >= 0x20 && ch != '"' && ch != '\\')
			continue;
		out_put(o, s + run, i - run);
		if (ch == '"' || ch == '\\')
			snprintf(esc, sizeof(esc), "\\%c", ch);
		else
			snprintf(esc, sizeof(esc), "\\u%04x", ch);
		out_str(o, esc);
		run = i + 1;
	}
	out_put(o, s + run, n - run);
	out_put(o, "\"", 1);
}

/* ,"name": (the first field has no comma) */
static void
out_name(struct strata_lifecycle_out *o, const char *name)
{
	out_str(o, ",\"");
	out_str(o, name);
	out_str(o, "\":");
}

const char *
strata_lifecycle_type_name(enum strata_lifecycle_type t)
{
	return t < STRATA_LIFECYCLE_TYPES ? lifecycle_names[t] : "unknown";
}

void
strata_lifecycle_topic(struct strata_lifecycle_out *o,
    enum strata_lifecycle_type t, const char *client_id, size_t len)
{
	out_str(o, lifecycle_prefixes[t]);
	out_put(o, client_id, len);
}

static bool
lifecycle_starts(const char *topic, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && memcmp(topic, prefix, n) == 0;
}

/* $aws/things/<thing>/defender/violations and below: Device Defender
 * Detect's violation events (broker/detect.c). */
static bool
lifecycle_violations(const char *topic, size_t len)
{
	static const char tail[] = "defender/violations";
	const char *slash;
	size_t rest;

	if (!lifecycle_starts(topic, len, "$aws/things/"))
		return false;
	topic += 12;
	len -= 12;
	slash = memchr(topic, '/', len);
	if (slash == NULL)
		return false;
	rest = len - (size_t)(slash + 1 - topic);
	return rest >= sizeof(tail) - 1 &&
	    memcmp(slash + 1, tail, sizeof(tail) - 1) == 0 &&
	    (rest == sizeof(tail) - 1 || slash[sizeof(tail)] == '/');
}

bool
strata_lifecycle_reserved(const char *topic, size_t len)
{
	return lifecycle_starts(topic, len, "$aws/events/") ||
	    lifecycle_violations(topic, len);
}

bool
strata_lifecycle_client_ok(const char *client_id, size_t len)
{
	return len > 0 && memchr(client_id, '+', len) == NULL &&
	    memchr(client_id, '#', len) == NULL;
}

/* The fields every event has. */
static void
lifecycle_common(struct strata_lifecycle_out *o,
    const struct strata_lifecycle_event *e)
{
	out_str(o, "{\"clientId\":");
	out_json_string(o, e->client_id, e->client_id_len);
	out_name(o, "timestamp");
	out_u64(o, e->timestamp_ms);
	out_name(o, "eventType");
	out_json_string(o, lifecycle_names[e->type],
	    strlen(lifecycle_names[e->type]));
	out_name(o, "sessionIdentifier");
	out_json_string(o, e->session_id, strlen(e->session_id));
	out_name(o, "principalIdentifier");
	out_json_string(o, e->principal, strlen(e->principal));
}

void
strata_lifecycle_begin(struct strata_lifecycle_out *o,
    const struct strata_lifecycle_event *e)
{
	o->topics = 0;
	lifecycle_common(o, e);
	switch (e->type) {
	case STRATA_LIFECYCLE_CONNECTED:
		out_name(o, "ipAddress");
		out_json_string(o, e->ip, e->ip_len);
		break;
	case STRATA_LIFECYCLE_DISCONNECTED:
		out_name(o, "clientInitiatedDisconnect");
		out_str(o, e->client_initiated ? "true" : "false");
		out_name(o, "disconnectReason");
		out_json_string(o, e->reason, strlen(e->reason));
		break;
	default:
		out_name(o, "topics");
		out_put(o, "[", 1);
		break;
	}
}

void
strata_lifecycle_add_topic(struct strata_lifecycle_out *o,
    const char *filter, size_t len)
{
	if (o->topics++ > 0)
		out_put(o, ",", 1);
	out_json_string(o, filter, len);
}

size_t
strata_lifecycle_end(struct strata_lifecycle_out *o,
    const struct strata_lifecycle_event *e)
{
	if (e->type == STRATA_LIFECYCLE_CONNECTED ||
	    e->type == STRATA_LIFECYCLE_DISCONNECTED) {
		out_name(o, "versionNumber");
		out_u64(o, e->version);
		out_put(o, "}", 1);
	} else {
		out_put(o, "]}", 2);
	}
	return o->len;
}

const char *
strata_lifecycle_reason(uint8_t reason, bool by_client)
{
	if (by_client)
		return "CLIENT_INITIATED_DISCONNECT";
	switch (reason) {
	case 0:
		return "CONNECTION_LOST";
	case STRATA_RC_KEEPALIVE_TIMEOUT:
		return "MQTT_KEEP_ALIVE_TIMEOUT";
	case STRATA_RC_SESSION_TAKEN_OVER:
		return "DUPLICATE_CLIENTID";
	case STRATA_RC_BAD_USER_PASS:
	case STRATA_RC_NOT_AUTHORIZED:
	case STRATA_RC_BAD_AUTH_METHOD:
		return "AUTH_ERROR";
	case STRATA_RC_BANNED:
		return "FORBIDDEN_ACCESS";
	case STRATA_RC_SERVER_SHUTTING_DOWN:
	case STRATA_RC_ADMIN_ACTION:
	case STRATA_RC_USE_ANOTHER_SERVER:
	case STRATA_RC_SERVER_MOVED:
		return "SERVER_INITIATED_DISCONNECT";
	case STRATA_RC_MESSAGE_RATE_TOO_HIGH:
	case STRATA_RC_QUOTA_EXCEEDED:
	case STRATA_RC_CONNECTION_RATE_EXCEEDED:
		return "THROTTLED";
	case STRATA_RC_SERVER_UNAVAILABLE:
	case STRATA_RC_SERVER_BUSY:
		return "SERVER_ERROR";
	default:
		return "CLIENT_ERROR";
	}
}
