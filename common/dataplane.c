/*
 * dataplane.c - the pure parts of the data-plane HTTP API (see
 * dataplane.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "base64.h"
#include "dataplane.h"
#include "mqtt.h"
#include "reader.h"
#include "status.h"
#include "topic.h"

/* AWS IoT's quota on the Message Expiry Interval: 7 days. */
#define DATAPLANE_EXPIRY_MAX 604800u

/* ---- publish requests ---- */

static int
dataplane_fail(char *err, size_t errlen, const char *message)
{
	snprintf(err, errlen, "%s", message);
	return STRATA_EINVAL;
}

/* A decimal of at most digits digits into *v; false otherwise. */
static bool
dataplane_decimal(const char *s, size_t digits, uint64_t *v)
{
	size_t n = strlen(s);

	if (n == 0 || n > digits || strspn(s, "0123456789") != n)
		return false;
	*v = 0;
	for (; *s != '\0'; s++)
		*v = *v * 10 + (uint64_t)(*s - '0');
	return true;
}

/* Append one user property entry (id, key, value) at *w. */
static void
dataplane_user_put(uint8_t **w, const char *k, size_t kl, const char *v,
    size_t vl)
{
	uint8_t *p = *w;

	*p++ = STRATA_PROP_USER_PROPERTY;
	*p++ = (uint8_t)(kl >> 8);
	*p++ = (uint8_t)kl;
	memcpy(p, k, kl);
	p += kl;
	*p++ = (uint8_t)(vl >> 8);
	*p++ = (uint8_t)vl;
	memcpy(p, v, vl);
	*w = p + vl;
}

/* The members of the objects of doc (an array of objects of strings) as
 * user property entries into out->user. */
static int
dataplane_user_entries(json_t *doc, struct strata_dataplane_publish *out,
    size_t room, char *err, size_t errlen)
{
	size_t i;
	json_t *obj, *v;
	const char *k;
	uint8_t *w;

	out->user = w = malloc(room);
	if (w == NULL)
		abort();
	json_array_foreach(doc, i, obj) {
		if (!json_is_object(obj))
			return dataplane_fail(err, errlen, "userProperties "
			    "must be an array of objects");
		json_object_foreach(obj, k, v) {
			size_t kl = strlen(k), vl;

			if (!json_is_string(v))
				return dataplane_fail(err, errlen,
				    "userProperties values must be strings");
			vl = json_string_length(v);
			if (!strata_utf8_valid((const uint8_t *)k, kl) ||
			    !strata_utf8_valid((const uint8_t *)
			    json_string_value(v), vl))
				return dataplane_fail(err, errlen,
				    "userProperties must be valid UTF-8");
			dataplane_user_put(&w, k, kl, json_string_value(v),
			    vl);
			out->props.n_user_props++;
		}
	}
	out->props.user_src = (struct strata_bytes){out->user,
	    (size_t)(w - out->user)};
	return 0;
}

/* x-amz-mqtt5-user-properties: base64 of [{"key": "value"}, ...]. */
static int
dataplane_user_props(const char *h, struct strata_dataplane_publish *out,
    char *err, size_t errlen)
{
	size_t len = strlen(h), n;
	uint8_t *text;
	json_t *doc;
	int rc;

	if (len > STRATA_DATAPLANE_USER_PROPS_MAX)
		return dataplane_fail(err, errlen, "userProperties is too "
		    "long");
	text = strata_unbase64(h, len, &n);
	if (text == NULL)
		return dataplane_fail(err, errlen, "userProperties must be "
		    "base64");
	doc = json_loadb((const char *)text, n, 0, NULL);
	free(text);
	if (!json_is_array(doc)) {
		json_decref(doc);
		return dataplane_fail(err, errlen, "userProperties must be a "
		    "JSON array of objects");
	}
	/* every entry is 5 bytes of framing plus its JSON text's bytes */
	rc = dataplane_user_entries(doc, out, 5 * n + 1, err, errlen);
	json_decref(doc);
	return rc;
}

/* A UTF-8 string property of at most max bytes, or false. */
static bool
dataplane_string(const char *s, size_t max, struct strata_bytes *b)
{
	size_t n = strlen(s);

	if (n > max || !strata_utf8_valid((const uint8_t *)s, n))
		return false;
	*b = (struct strata_bytes){(const uint8_t *)s, n};
	return true;
}

static int
dataplane_qos_retain(const struct strata_dataplane_publish_request *in,
    struct strata_dataplane_publish *out, char *err, size_t errlen)
{
	if (in->qos != NULL && strcmp(in->qos, "0") != 0 &&
	    strcmp(in->qos, "1") != 0)
		return dataplane_fail(err, errlen, "qos must be 0 or 1");
	out->qos = in->qos != NULL && in->qos[0] == '1';
	if (in->retain != NULL && strcasecmp(in->retain, "true") != 0 &&
	    strcasecmp(in->retain, "false") != 0)
		return dataplane_fail(err, errlen, "retain must be true or "
		    "false");
	out->retain = in->retain != NULL && strcasecmp(in->retain,
	    "true") == 0;
	return 0;
}

/* contentType, responseTopic, messageExpiry, payload format. */
static int
dataplane_headers(const struct strata_dataplane_publish_request *in,
    struct strata_mqtt_props *pr, char *err, size_t errlen)
{
	uint64_t v;

	if (in->content_type != NULL) {
		if (!dataplane_string(in->content_type,
		    STRATA_DATAPLANE_HEADER_MAX, &pr->content_type))
			return dataplane_fail(err, errlen, "Invalid "
			    "contentType");
		pr->present |= STRATA_PROP_BIT(STRATA_PROP_CONTENT_TYPE);
	}
	if (in->response_topic != NULL) {
		if (!dataplane_string(in->response_topic,
		    STRATA_DATAPLANE_TOPIC_MAX, &pr->response_topic) ||
		    strata_topic_name_check(pr->response_topic.p,
		    pr->response_topic.len) != 0)
			return dataplane_fail(err, errlen, "Invalid "
			    "responseTopic");
		pr->present |= STRATA_PROP_BIT(STRATA_PROP_RESPONSE_TOPIC);
	}
	if (in->message_expiry != NULL) {
		if (!dataplane_decimal(in->message_expiry, 10, &v) ||
		    v > DATAPLANE_EXPIRY_MAX)
			return dataplane_fail(err, errlen, "messageExpiry "
			    "must be from 0 to 604800");
		pr->message_expiry = (uint32_t)v;
		pr->present |= STRATA_PROP_BIT(STRATA_PROP_MESSAGE_EXPIRY);
	}
	if (in->payload_format == NULL ||
	    strcmp(in->payload_format, "UNSPECIFIED_BYTES") == 0)
		return 0;
	if (strcmp(in->payload_format, "UTF8_DATA") != 0)
		return dataplane_fail(err, errlen, "payloadFormatIndicator "
		    "must be UNSPECIFIED_BYTES or UTF8_DATA");
	pr->payload_format = 1;
	pr->present |= STRATA_PROP_BIT(STRATA_PROP_PAYLOAD_FORMAT);
	return 0;
}

static int
dataplane_correlation(const char *h, struct strata_dataplane_publish *out,
    char *err, size_t errlen)
{
	size_t n, len = strlen(h);

	if (len > STRATA_DATAPLANE_HEADER_MAX ||
	    (out->correlation = strata_unbase64(h, len, &n)) ==
	    NULL)
		return dataplane_fail(err, errlen, "correlationData must be "
		    "base64 of at most 1024 characters");
	out->props.correlation_data = (struct strata_bytes){out->correlation,
	    n};
	out->props.present |= STRATA_PROP_BIT(STRATA_PROP_CORRELATION_DATA);
	return 0;
}

int
strata_dataplane_publish_parse(
    const struct strata_dataplane_publish_request *in,
    struct strata_dataplane_publish *out, char *err, size_t errlen)
{
	int rc;

	memset(out, 0, sizeof(*out));
	rc = dataplane_qos_retain(in, out, err, errlen);
	if (rc == 0)
		rc = dataplane_headers(in, &out->props, err, errlen);
	if (rc == 0 && in->correlation_data != NULL)
		rc = dataplane_correlation(in->correlation_data, out, err,
		    errlen);
	if (rc == 0 && in->user_properties != NULL)
		rc = dataplane_user_props(in->user_properties, out, err,
		    errlen);
	return rc;
}

void
strata_dataplane_publish_free(struct strata_dataplane_publish *p)
{
	free(p->user);
	free(p->correlation);
	p->user = NULL;
	p->correlation = NULL;
}

/* ---- user properties out ---- */

char *
strata_dataplane_user_props_json(const uint8_t *props, size_t len)
{
	struct strata_mqtt_props pr;
	struct strata_reader it;
	struct strata_bytes k, v;
	json_t *doc;
	char *text, *out;

	if (props == NULL || strata_mqtt_props_parse(props, len,
	    STRATA_MQTT_PUBLISH, &pr) != 0 || pr.n_user_props == 0)
		return NULL;
	doc = json_array();
	it = strata_reader_init(pr.user_src.p, pr.user_src.len);
	while (strata_mqtt_user_next(&it, &k, &v) == 0) {
		json_t *one = json_object();
		char *key = strndup((const char *)k.p, k.len);

		if (one == NULL || key == NULL)
			abort();
		json_object_set_new(one, key, json_stringn((const char *)v.p,
		    v.len));
		json_array_append_new(doc, one);
		free(key);
	}
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (text == NULL)
		return NULL;
	out = strata_base64((const uint8_t *)text, strlen(text));
	free(text);
	return out;
}

/* ---- ListRetainedMessages tokens ---- */

void
strata_dataplane_token_format(const struct strata_dataplane_token *t,
    char *out)
{
	snprintf(out, STRATA_DATAPLANE_TOKEN_MAX, "1-%u-%llu-%u",
	    (unsigned)t->partition, (unsigned long long)t->cursor,
	    (unsigned)t->skip);
}

int
strata_dataplane_token_parse(const char *s, uint32_t partitions,
    uint32_t max_skip, struct strata_dataplane_token *t)
{
	char part[3][24];
	uint64_t v[3];
	const char *p;
	size_t n;

	if (strncmp(s, "1-", 2) != 0)
		return STRATA_EINVAL;
	p = s + 2;
	for (int i = 0; i < 3; i++) {
		n = strcspn(p, "-");
		if (n == 0 || n >= sizeof(part[i]))
			return STRATA_EINVAL;
		memcpy(part[i], p, n);
		part[i][n] = '\0';
		p += n;
		if (*p != (i < 2 ? '-' : '\0'))
			return STRATA_EINVAL;
		p += i < 2;
	}
	if (!dataplane_decimal(part[0], 10, &v[0]) || v[0] >= partitions ||
	    !dataplane_decimal(part[1], 19, &v[1]) ||
	    !dataplane_decimal(part[2], 10, &v[2]) || v[2] > max_skip)
		return STRATA_EINVAL;
	t->partition = (uint32_t)v[0];
	t->cursor = v[1];
	t->skip = (uint32_t)v[2];
	return 0;
}
