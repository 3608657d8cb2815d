/*
 * mqtt_props.c - MQTT 5 property blocks: parse, size, write, walk.
 *
 * One table (MQTT 5.0 2.2.2.2) drives everything: for each property id it
 * gives the value's wire type, the packets that may carry it, where the
 * value lives in struct strata_mqtt_props and the extra rule its value
 * obeys.  Subscription Identifier and User Property are the two entries that
 * do not fit a single field and are handled apart.
 */
#include <assert.h>
#include <stddef.h>
#include <string.h>

#include "mqtt.h"

enum props_kind {
	PROPS_NONE = 0, /* not a property id: Malformed Packet */
	PROPS_BYTE,
	PROPS_U16,
	PROPS_U32,
	PROPS_VARINT,
	PROPS_STRING,
	PROPS_BINARY,
	PROPS_PAIR,
};

enum props_rule {
	PROPS_ANY = 0,
	PROPS_BOOL,    /* value must be 0 or 1, else Protocol Error */
	PROPS_NONZERO, /* value 0 is a Protocol Error */
	PROPS_TOPIC,   /* a topic name: no wildcards, else Protocol Error */
};

/* Bit 0 stands for the Will properties, bit n for packet type n. */
#define W (1u << 0)
#define T(type) (1u << STRATA_MQTT_##type)
#define ACKS (T(PUBACK) | T(PUBREC) | T(PUBREL) | T(PUBCOMP))
#define EVERY                                                              \
	(W | T(CONNECT) | T(CONNACK) | T(PUBLISH) | ACKS | T(SUBSCRIBE) |  \
	    T(SUBACK) | T(UNSUBSCRIBE) | T(UNSUBACK) | T(DISCONNECT) |     \
	    T(AUTH))
#define FIELD(name) offsetof(struct strata_mqtt_props, name)

struct props_def {
	uint8_t kind;
	uint8_t rule;
	uint16_t allowed;
	uint16_t offset;
};

static const struct props_def props_table[64] = {
	[STRATA_PROP_PAYLOAD_FORMAT] = {PROPS_BYTE, PROPS_BOOL,
	    W | T(PUBLISH), FIELD(payload_format)},
	[STRATA_PROP_MESSAGE_EXPIRY] = {PROPS_U32, PROPS_ANY,
	    W | T(PUBLISH), FIELD(message_expiry)},
	[STRATA_PROP_CONTENT_TYPE] = {PROPS_STRING, PROPS_ANY,
	    W | T(PUBLISH), FIELD(content_type)},
	[STRATA_PROP_RESPONSE_TOPIC] = {PROPS_STRING, PROPS_TOPIC,
	    W | T(PUBLISH), FIELD(response_topic)},
	[STRATA_PROP_CORRELATION_DATA] = {PROPS_BINARY, PROPS_ANY,
	    W | T(PUBLISH), FIELD(correlation_data)},
	[STRATA_PROP_SUBSCRIPTION_ID] = {PROPS_VARINT, PROPS_NONZERO,
	    T(PUBLISH) | T(SUBSCRIBE), FIELD(sub_ids)},
	[STRATA_PROP_SESSION_EXPIRY] = {PROPS_U32, PROPS_ANY,
	    T(CONNECT) | T(CONNACK) | T(DISCONNECT), FIELD(session_expiry)},
	[STRATA_PROP_ASSIGNED_CLIENT_ID] = {PROPS_STRING, PROPS_ANY,
	    T(CONNACK), FIELD(assigned_client_id)},
	[STRATA_PROP_SERVER_KEEPALIVE] = {PROPS_U16, PROPS_ANY, T(CONNACK),
	    FIELD(server_keepalive)},
	[STRATA_PROP_AUTH_METHOD] = {PROPS_STRING, PROPS_ANY,
	    T(CONNECT) | T(CONNACK) | T(AUTH), FIELD(auth_method)},
	[STRATA_PROP_AUTH_DATA] = {PROPS_BINARY, PROPS_ANY,
	    T(CONNECT) | T(CONNACK) | T(AUTH), FIELD(auth_data)},
	[STRATA_PROP_REQUEST_PROBLEM_INFO] = {PROPS_BYTE, PROPS_BOOL,
	    T(CONNECT), FIELD(request_problem_info)},
	[STRATA_PROP_WILL_DELAY] = {PROPS_U32, PROPS_ANY, W,
	    FIELD(will_delay)},
	[STRATA_PROP_REQUEST_RESPONSE_INFO] = {PROPS_BYTE, PROPS_BOOL,
	    T(CONNECT), FIELD(request_response_info)},
	[STRATA_PROP_RESPONSE_INFO] = {PROPS_STRING, PROPS_ANY, T(CONNACK),
	    FIELD(response_info)},
	[STRATA_PROP_SERVER_REFERENCE] = {PROPS_STRING, PROPS_ANY,
	    T(CONNACK) | T(DISCONNECT), FIELD(server_reference)},
	[STRATA_PROP_REASON_STRING] = {PROPS_STRING, PROPS_ANY,
	    T(CONNACK) | ACKS | T(SUBACK) | T(UNSUBACK) | T(DISCONNECT) |
		T(AUTH),
	    FIELD(reason_string)},
	[STRATA_PROP_RECEIVE_MAXIMUM] = {PROPS_U16, PROPS_NONZERO,
	    T(CONNECT) | T(CONNACK), FIELD(receive_maximum)},
	[STRATA_PROP_TOPIC_ALIAS_MAXIMUM] = {PROPS_U16, PROPS_ANY,
	    T(CONNECT) | T(CONNACK), FIELD(topic_alias_maximum)},
	[STRATA_PROP_TOPIC_ALIAS] = {PROPS_U16, PROPS_NONZERO, T(PUBLISH),
	    FIELD(topic_alias)},
	[STRATA_PROP_MAXIMUM_QOS] = {PROPS_BYTE, PROPS_BOOL, T(CONNACK),
	    FIELD(maximum_qos)},
	[STRATA_PROP_RETAIN_AVAILABLE] = {PROPS_BYTE, PROPS_BOOL, T(CONNACK),
	    FIELD(retain_available)},
	[STRATA_PROP_USER_PROPERTY] = {PROPS_PAIR, PROPS_ANY, EVERY,
	    FIELD(user_src)},
	[STRATA_PROP_MAXIMUM_PACKET_SIZE] = {PROPS_U32, PROPS_NONZERO,
	    T(CONNECT) | T(CONNACK), FIELD(maximum_packet_size)},
	[STRATA_PROP_WILDCARD_SUB_AVAILABLE] = {PROPS_BYTE, PROPS_BOOL,
	    T(CONNACK), FIELD(wildcard_sub_available)},
	[STRATA_PROP_SUB_ID_AVAILABLE] = {PROPS_BYTE, PROPS_BOOL, T(CONNACK),
	    FIELD(sub_id_available)},
	[STRATA_PROP_SHARED_SUB_AVAILABLE] = {PROPS_BYTE, PROPS_BOOL,
	    T(CONNACK), FIELD(shared_sub_available)},
};

#define PROPS_MALFORMED STRATA_ERR(STRATA_RC_MALFORMED)
#define PROPS_PROTOCOL STRATA_ERR(STRATA_RC_PROTOCOL_ERROR)

/* A decoded value before it is stored: numbers in n, views in a and b. */
struct props_value {
	uint32_t n;
	struct strata_bytes a, b;
};

static const struct props_def *
props_lookup(uint32_t id)
{
	if (id >= 64 || props_table[id].kind == PROPS_NONE)
		return NULL;
	return &props_table[id];
}

static int
props_read_value(struct strata_reader *r, uint8_t kind,
    struct props_value *v)
{
	uint8_t u8;
	uint16_t u16;
	int rc;

	switch (kind) {
	case PROPS_BYTE:
		rc = strata_reader_u8(r, &u8);
		v->n = u8;
		return rc;
	case PROPS_U16:
		rc = strata_reader_u16(r, &u16);
		v->n = u16;
		return rc;
	case PROPS_U32:
		return strata_reader_u32(r, &v->n);
	case PROPS_VARINT:
		return strata_reader_varint(r, &v->n);
	case PROPS_STRING:
		return strata_reader_string(r, &v->a);
	case PROPS_BINARY:
		return strata_reader_binary(r, &v->a);
	case PROPS_PAIR:
		rc = strata_reader_string(r, &v->a);
		return rc != 0 ? rc : strata_reader_string(r, &v->b);
	}
	return PROPS_MALFORMED;
}

static bool
props_has_wildcard(struct strata_bytes s)
{
	return memchr(s.p, '+', s.len) != NULL ||
	    memchr(s.p, '#', s.len) != NULL;
}

static int
props_check_rule(const struct props_def *def, const struct props_value *v)
{
	switch (def->rule) {
	case PROPS_BOOL:
		return v->n > 1 ? PROPS_PROTOCOL : 0;
	case PROPS_NONZERO:
		return v->n == 0 ? PROPS_PROTOCOL : 0;
	case PROPS_TOPIC:
		return v->a.len == 0 || props_has_wildcard(v->a) ?
		    PROPS_PROTOCOL : 0;
	}
	return 0;
}

/* Store a checked value into its field of *out. */
static int
props_store(struct strata_mqtt_props *out, uint32_t id,
    const struct props_def *def, const struct props_value *v)
{
	uint8_t *field = (uint8_t *)out + def->offset;
	uint8_t u8 = (uint8_t)v->n;
	uint16_t u16 = (uint16_t)v->n;

	if (id == STRATA_PROP_SUBSCRIPTION_ID) {
		/* More identifiers than we keep: a limit, not bad input. */
		if (out->n_sub_ids >= STRATA_MQTT_MAX_SUB_IDS)
			return STRATA_ERR(STRATA_RC_IMPL_SPECIFIC);
		out->sub_ids[out->n_sub_ids++] = v->n;
		return 0;
	}
	if (id == STRATA_PROP_USER_PROPERTY) {
		out->n_user_props++;
		return 0;
	}
	switch (def->kind) {
	case PROPS_BYTE:
		memcpy(field, &u8, sizeof(u8));
		break;
	case PROPS_U16:
		memcpy(field, &u16, sizeof(u16));
		break;
	case PROPS_U32:
		memcpy(field, &v->n, sizeof(v->n));
		break;
	default:
		memcpy(field, &v->a, sizeof(v->a));
		break;
	}
	return 0;
}

/* Parse one property of a block allowed in `type` (0: Will). */
static int
props_parse_one(struct strata_reader *r, uint8_t type,
    struct strata_mqtt_props *out)
{
	const struct props_def *def;
	struct props_value v = {0};
	uint64_t bit;
	uint32_t id;
	int rc;

	rc = strata_reader_varint(r, &id);
	if (rc != 0)
		return rc;
	def = props_lookup(id);
	if (def == NULL)
		return PROPS_MALFORMED;
	rc = props_read_value(r, def->kind, &v);
	if (rc != 0)
		return rc;
	if ((def->allowed & (1u << type)) == 0)
		return PROPS_PROTOCOL;
	bit = STRATA_PROP_BIT(id);
	if ((out->present & bit) && id != STRATA_PROP_USER_PROPERTY &&
	    !(id == STRATA_PROP_SUBSCRIPTION_ID &&
		type == STRATA_MQTT_PUBLISH))
		return PROPS_PROTOCOL;
	rc = props_check_rule(def, &v);
	if (rc != 0)
		return rc;
	out->present |= bit;
	return props_store(out, id, def, &v);
}

int
strata_mqtt_props_parse(const uint8_t *p, size_t len, uint8_t type,
    struct strata_mqtt_props *out)
{
	struct strata_reader r = strata_reader_init(p, len);
	int rc;

	memset(out, 0, sizeof(*out));
	if (type > STRATA_MQTT_AUTH)
		return STRATA_EINVAL;
	while (r.len > 0) {
		rc = props_parse_one(&r, type, out);
		if (rc != 0)
			return rc;
	}
	/* MQTT 5.0 3.1.2.11.10: Authentication Data needs a Method. */
	if ((out->present & STRATA_PROP_BIT(STRATA_PROP_AUTH_DATA)) &&
	    !(out->present & STRATA_PROP_BIT(STRATA_PROP_AUTH_METHOD)))
		return PROPS_PROTOCOL;
	if (out->n_user_props > 0)
		out->user_src = (struct strata_bytes){p, (uint32_t)len};
	return 0;
}

int
strata_mqtt_user_next(struct strata_reader *it, struct strata_bytes *key,
    struct strata_bytes *value)
{
	const struct props_def *def;
	struct props_value v;
	uint32_t id;

	/* The block was validated when it was parsed; should it be cut short
	 * anyway, the walk simply ends there. */
	while (it->len > 0) {
		if (strata_reader_varint(it, &id) != 0)
			break;
		def = props_lookup(id);
		if (def == NULL || props_read_value(it, def->kind, &v) != 0)
			break;
		if (id == STRATA_PROP_USER_PROPERTY) {
			*key = v.a;
			*value = v.b;
			return 0;
		}
	}
	it->len = 0;
	return STRATA_ENOTFOUND;
}

/* Size of the value of a single-field property (not Sub. Id, not User). */
static size_t
props_value_size(const struct strata_mqtt_props *props,
    const struct props_def *def)
{
	const struct strata_bytes *b;

	switch (def->kind) {
	case PROPS_BYTE:
		return 1;
	case PROPS_U16:
		return 2;
	case PROPS_U32:
		return 4;
	default:
		b = (const struct strata_bytes *)((const uint8_t *)props +
		    def->offset);
		assert(b->len <= UINT16_MAX);
		return 2 + b->len;
	}
}

/*
 * The single-field properties that are present (not Subscription
 * Identifier, not User Property), as bits; props_next_plain() takes them
 * out lowest id first.  Walking the set bits instead of all 63 ids keeps
 * sizing and writing a block cheap: the broker does both for every
 * PUBLISH it fans out.
 */
static uint64_t
props_plain_bits(const struct strata_mqtt_props *props)
{
	return props->present &
	    ~(STRATA_PROP_BIT(STRATA_PROP_SUBSCRIPTION_ID) |
		STRATA_PROP_BIT(STRATA_PROP_USER_PROPERTY) | UINT64_C(1));
}

/* The lowest id in *bits that is a property (0 when none is left),
 * taken out of *bits. */
static uint32_t
props_next_plain(uint64_t *bits)
{
	uint32_t id;

	while (*bits != 0) {
		id = (uint32_t)__builtin_ctzll(*bits);
		*bits &= *bits - 1;
		if (props_table[id].kind != PROPS_NONE)
			return id;
	}
	return 0;
}

size_t
strata_mqtt_props_size(const struct strata_mqtt_props *props)
{
	struct strata_reader it;
	struct strata_bytes k, v;
	uint64_t bits = props_plain_bits(props);
	size_t size = 0;
	uint32_t id, i;

	while ((id = props_next_plain(&bits)) != 0)
		size += 1 + props_value_size(props, &props_table[id]);
	assert(props->n_sub_ids <= STRATA_MQTT_MAX_SUB_IDS);
	for (i = 0; i < props->n_sub_ids; i++)
		size += 1 + strata_varint_size(props->sub_ids[i]);
	it = strata_reader_init(props->user_src.p, props->user_src.len);
	while (strata_mqtt_user_next(&it, &k, &v) == 0)
		size += 1 + 2 + k.len + 2 + v.len;
	return size;
}

static size_t
props_write_u16(uint8_t *out, uint32_t v)
{
	out[0] = (uint8_t)(v >> 8);
	out[1] = (uint8_t)v;
	return 2;
}

static size_t
props_write_bytes(uint8_t *out, struct strata_bytes b)
{
	props_write_u16(out, b.len);
	if (b.len > 0)
		memcpy(out + 2, b.p, b.len);
	return 2 + b.len;
}

static size_t
props_write_plain(const struct strata_mqtt_props *props, uint32_t id,
    uint8_t *out)
{
	const struct props_def *def = &props_table[id];
	const uint8_t *field = (const uint8_t *)props + def->offset;
	struct strata_bytes b;
	uint16_t u16;
	uint32_t u32;

	out[0] = (uint8_t)id;
	switch (def->kind) {
	case PROPS_BYTE:
		out[1] = *field;
		return 2;
	case PROPS_U16:
		memcpy(&u16, field, sizeof(u16));
		return 1 + props_write_u16(out + 1, u16);
	case PROPS_U32:
		memcpy(&u32, field, sizeof(u32));
		props_write_u16(out + 1, u32 >> 16);
		props_write_u16(out + 3, u32 & 0xFFFF);
		return 5;
	default:
		memcpy(&b, field, sizeof(b));
		return 1 + props_write_bytes(out + 1, b);
	}
}

size_t
strata_mqtt_props_write(const struct strata_mqtt_props *props,
    uint8_t *out)
{
	struct strata_reader it;
	struct strata_bytes k, v;
	uint64_t bits = props_plain_bits(props);
	size_t size = strata_mqtt_props_size(props);
	size_t n;
	uint32_t id, i;

	n = strata_varint_write(out, (uint32_t)size);
	while ((id = props_next_plain(&bits)) != 0)
		n += props_write_plain(props, id, out + n);
	for (i = 0; i < props->n_sub_ids; i++) {
		out[n++] = STRATA_PROP_SUBSCRIPTION_ID;
		n += strata_varint_write(out + n, props->sub_ids[i]);
	}
	it = strata_reader_init(props->user_src.p, props->user_src.len);
	while (strata_mqtt_user_next(&it, &k, &v) == 0) {
		out[n++] = STRATA_PROP_USER_PROPERTY;
		n += props_write_bytes(out + n, k);
		n += props_write_bytes(out + n, v);
	}
	assert(n == strata_varint_size((uint32_t)size) + size);
	return n;
}
