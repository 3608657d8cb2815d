/*
 * device.c - TLS clients against the registry: who the certificate is,
 * whether it may connect, and what its policies let it do.
 *
 * With tls-auth registry (the default) every TLS connection's client
 * certificate is looked up in Redis before its CONNECT is handled:
 *
 *   TLS handshake (device_verify_cb lets a certificate through whose
 *   issuer is not in tls-ca, or that expired: the registry decides)
 *     -> first bytes: the connection goes WAITING, reads stopped, and
 *        joins its certificate's entry (one per certificate id, shared
 *        by every connection with that certificate)
 *     -> the entry's lookup (one script: status, CA status, policies,
 *        things) -> each waiting connection goes NEW and its CONNECT is
 *        dispatched
 *   CONNECT: a refused certificate (unknown, INACTIVE, REVOKED, expired,
 *   CA not ACTIVE, Redis not answering) -> CONNACK 0x86 (3.1.1: 0x04);
 *   otherwise the thing is chosen, the policies bound to the connection's
 *   variables, and iot:Connect on client/<id> checked -> 0x87 (0x05).
 *
 * An unknown certificate signed by a registered CA with a provisioning
 * template is provisioned first (jitp.c).
 *
 * Changes: admin_ops.c PUBLISHes on strata:registry what changed; this
 * broker subscribes and looks the entries concerned up again: a
 * certificate no longer ACTIVE closes its connections, changed policies
 * or attachments are bound again (decision caches emptied).  Every
 * minute each entry is looked up again, for a message lost while Redis
 * switched over.
 *
 * Policies are compiled once per broker and shared, keyed by name and
 * checked against the document text the lookup returns.
 *
 * Thing groups: a connection's policies are its certificate's plus those
 * attached to the groups its thing is in and to their ancestors (AWS
 * IoT's inheritance).  The lookup returns, for each thing of the
 * certificate, its groups with their ancestors and those groups'
 * policies; the connection's thing picks its set at the bind.  A
 * "group <name>" message looks up again every entry one of whose things
 * is in that group or below it.
 *
 * Throttle limits: the same lookup resolves, per thing, the limits of
 * its groups and type (throttle.md's rule, in the script); the bind sets
 * them on the connection (broker_throttle_set_limits), at CONNECT and
 * after every change.  A "type <name>" message looks up again every
 * entry one of whose things has that type.  A lookup Redis does not
 * answer keeps the entry as it was, so live connections keep their
 * policies and limits.
 *
 * With a custom authorizer (authorizer.c) a TLS client without a
 * certificate, and with authorizer-tcp a plain TCP client that gives a
 * user name, gets an identity too: no certificate entry, its policies
 * are the documents of the authorizer's answer, bound at CONNECT with
 * ${iot:ClientId} (no thing, no certificate variables), bound again
 * when a refresh brings new ones.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/x509v3.h>

#include "broker.h"
#include "hashmap.h"
#include "policy.h"
#include "throttle_limits.h"

#define DEVICE_RECHECK_S 60

/* a thing's limits are throttle_limits.h's, in its order */
_Static_assert(BROKER_THROTTLE_LIMITS == STRATA_THROTTLE_LIMITS,
    "the broker's throttle limits are throttle_limits.h's");
#define DEVICE_CACHE 8

/* A compiled policy, shared by the entries naming it. */
struct dev_policy {
	unsigned refs;
	char *name;
	char *document;
	struct strata_policy *pol;
	bool plain;                   /* no ${...} and no Condition: binds
					 the same for every connection */
};

/* One certificate id in use on this broker. */
struct dev_cert {
	struct broker_devices *d;
	char id[BROKER_CERT_ID_LEN + 1];
	struct strata_list conns;     /* broker_conn_auth.node */
	struct strata_list reqs;      /* broker_device_req.node: HTTPS
					 requests waiting for the lookup */
	bool looking;                 /* a lookup is in flight */
	bool again;                   /* something changed meanwhile */
	bool known;                   /* a lookup answered at least once */
	bool jitp_tried;              /* provisioning was tried this time */
	bool busy;                    /* device_finish() walks the list */
	struct dev_set *shared;       /* the bound policies of its
					 connections when they need no
					 variable, made at the first bind */
	int refusal;                  /* AUTH_*, or -1: may connect */
	struct dev_policy **pols;
	size_t n_pols;
	json_t *things;               /* [[name, type, attributes, [group
					 and ancestor names]]...] */
	struct dev_thing_pols *tpols; /* per thing (same index): its
					 groups' policies */
};

/* The policies of a thing's groups and their ancestors, and its
 * throttle limits (from its groups or type; -1: the broker option). */
struct dev_thing_pols {
	struct dev_policy **pols;
	size_t n;
	long limits[BROKER_THROTTLE_LIMITS];
};

/* Bound policies, shared by the connections of a certificate whose
 * policies name no variable and have no condition (the binding is then
 * the same for every connection), else one connection's own. */
struct dev_set {
	unsigned refs;
	struct strata_policy_set *set;
};

/* A connection's decision cache, made at its first check (an idle
 * connection has none). */
struct dev_cache {
	struct {
		uint64_t key;
		uint8_t decision;         /* 1 allow, 2 deny, 0 empty */
	} slot[DEVICE_CACHE];
};

struct broker_conn_auth {
	struct strata_list node;      /* in cert->conns */
	struct broker_conn *conn;
	struct dev_cert *cert;
	X509 *x509;                   /* the peer's certificate */
	struct dev_set *set;          /* bound at CONNECT */
	char *client_id;
	char *thing;                  /* the connection's thing, or NULL */
	struct dev_cache *cache;
	struct broker_authz_conn *authz; /* its state (authorizer.c) */
	int refusal;                  /* AUTH_* of the TLS side, or -1 */
	bool connected;               /* CONNECT accepted */
	bool authorizer;              /* the custom authorizer decides */
};

struct broker_devices {
	struct strata_broker *b;
	struct strata_redis *sub;     /* strata:registry */
	struct strata_hashmap *certs; /* id -> dev_cert */
	struct strata_hashmap *policies; /* name -> dev_policy */
	struct event *recheck;
};

static void device_lookup(struct dev_cert *e);
static void device_reqs_decide(struct dev_cert *e);

/* ---- TLS verification ---- */

int
broker_device_verify_cb(int ok, X509_STORE_CTX *ctx)
{
	if (ok)
		return 1;
	switch (X509_STORE_CTX_get_error(ctx)) {
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
		/* an issuer outside tls-ca: the registry knows the
		 * certificate (registered with its CA checked) or not */
		return 1;
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
		/* refused at CONNECT, with a reason the client can see */
		return X509_STORE_CTX_get_error_depth(ctx) == 0;
	default:
		return 0;
	}
}

/* ---- policies ---- */

static void
device_policy_unref(struct broker_devices *d, struct dev_policy *p)
{
	if (p == NULL || --p->refs > 0)
		return;
	strata_policy_free(p->pol);
	free(p->name);
	free(p->document);
	free(p);
}

static void
device_policy_value_free(void *v)
{
	struct dev_policy *p = v;

	device_policy_unref(NULL, p);
}

/* The compiled policy of (name, document): the cached one when the text
 * is the same.  NULL when it does not compile (it did at creation: a
 * document from a newer broker); such a policy grants nothing. */
static struct dev_policy *
device_policy_get(struct broker_devices *d, const char *name,
    const char *doc)
{
	struct dev_policy *p = strata_hashmap_get(d->policies, name,
	    strlen(name));
	struct strata_policy_error err;

	if (p != NULL && strcmp(p->document, doc) == 0) {
		p->refs++;
		return p;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		abort();
	p->pol = strata_policy_parse(doc, strlen(doc), &err);
	if (p->pol == NULL) {
		STRATA_WARN(BROKER_COMP, "policy does not compile, ignored|"
		    "policy=%s error=\"%s%s%s\"", name, err.path,
		    err.path[0] != '\0' ? ": " : "", err.message);
		free(p);
		return NULL;
	}
	p->name = strdup(name);
	p->document = strdup(doc);
	p->plain = strstr(doc, "${") == NULL &&
	    strstr(doc, "Condition") == NULL;
	if (p->name == NULL || p->document == NULL)
		abort();
	p->refs = 2; /* the map's and the caller's */
	strata_hashmap_put(d->policies, p->name, strlen(p->name), p);
	return p;
}

/* ---- certificate entries ---- */

static void
device_set_unref(struct dev_set *s)
{
	if (s == NULL || --s->refs > 0)
		return;
	strata_policy_set_free(s->set);
	free(s);
}

static struct dev_set *
device_set_new(struct strata_policy *const *pols, size_t n,
    const struct strata_policy_vars *v)
{
	struct dev_set *s = malloc(sizeof(*s));

	if (s == NULL)
		abort();
	s->refs = 1;
	s->set = strata_policy_bind(pols, n, v);
	return s;
}

static void
device_cert_clear(struct dev_cert *e)
{
	size_t nt = json_array_size(e->things);

	device_set_unref(e->shared);
	e->shared = NULL;
	for (size_t i = 0; i < e->n_pols; i++)
		device_policy_unref(e->d, e->pols[i]);
	free(e->pols);
	e->pols = NULL;
	e->n_pols = 0;
	for (size_t t = 0; e->tpols != NULL && t < nt; t++) {
		for (size_t i = 0; i < e->tpols[t].n; i++)
			device_policy_unref(e->d, e->tpols[t].pols[i]);
		free(e->tpols[t].pols);
	}
	free(e->tpols);
	e->tpols = NULL;
	json_decref(e->things);
	e->things = NULL;
}

static void
device_cert_free(struct dev_cert *e)
{
	device_cert_clear(e);
	free(e);
}

static void
device_cert_value_free(void *v)
{
	device_cert_free(v);
}

/* Forget an entry nobody uses (unless its lookup is still out). */
static void
device_cert_release(struct dev_cert *e)
{
	if (!strata_list_empty(&e->conns) || !strata_list_empty(&e->reqs) ||
	    e->looking || e->busy)
		return;
	strata_hashmap_delete(e->d->certs, e->id, BROKER_CERT_ID_LEN);
}

static struct dev_cert *
device_cert_get(struct broker_devices *d, const char *id)
{
	struct dev_cert *e = strata_hashmap_get(d->certs, id,
	    BROKER_CERT_ID_LEN);

	if (e != NULL)
		return e;
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		abort();
	e->d = d;
	memcpy(e->id, id, sizeof(e->id));
	strata_list_init(&e->conns);
	strata_list_init(&e->reqs);
	e->refusal = AUTH_UNAVAILABLE;
	strata_hashmap_put(d->certs, e->id, BROKER_CERT_ID_LEN, e);
	return e;
}

/* ---- binding a connection ---- */

/* The certificate fields one strata_policy_bind() asked for: each
 * answer must stay valid until the bind returns (a ".List" condition key
 * holds up to five at once), so each gets its own copy, freed after. */
struct dev_fields {
	X509 *x509;
	char **vals;
	size_t n, cap;
};

static const char *
device_cert_field(void *ctx, const char *name)
{
	struct dev_fields *f = ctx;
	char buf[256], *copy;

	if (broker_cert_field(f->x509, name, buf, sizeof(buf)) == NULL)
		return NULL;
	if (f->n == f->cap) {
		f->cap = f->cap != 0 ? 2 * f->cap : 8;
		f->vals = realloc(f->vals, f->cap * sizeof(*f->vals));
	}
	copy = strdup(buf);
	if (f->vals == NULL || copy == NULL)
		abort();
	f->vals[f->n++] = copy;
	return copy;
}

static void
device_fields_free(struct dev_fields *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->vals[i]);
	free(f->vals);
}

/* The index in e->things of a connection's thing: the certificate's only
 * thing, or the one named as the client id (AWS IoT's rule for
 * non-exclusive attachment); -1 for none. */
static long
device_thing(const struct dev_cert *e, const char *client_id)
{
	const json_t *t;
	size_t i;

	if (json_array_size(e->things) == 1)
		return 0;
	json_array_foreach(e->things, i, t)
		if (strcmp(json_string_value(json_array_get(t, 0)),
		    client_id) == 0)
			return (long)i;
	return -1;
}

static bool
device_all_plain(struct dev_policy *const *pols, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (pols[i] != NULL && !pols[i]->plain)
			return false;
	return true;
}

/* Do all of e's policies bind the same for every connection?  Not when
 * they depend on the thing: a variable or condition, or group policies
 * while the certificate has several things (a connection's thing is
 * then chosen by its client id). */
static bool
device_plain(const struct dev_cert *e)
{
	size_t nt = json_array_size(e->things);

	if (!device_all_plain(e->pols, e->n_pols))
		return false;
	for (size_t t = 0; e->tpols != NULL && t < nt; t++)
		if (e->tpols[t].n > 0 && (nt > 1 ||
		    !device_all_plain(e->tpols[t].pols, e->tpols[t].n)))
			return false;
	return true;
}

/* The compiled policies of a connection with thing index ti (-1: none):
 * the certificate's, then its thing's groups'.  Returns the count;
 * *out is malloc'd. */
static size_t
device_conn_policies(const struct dev_cert *e, long ti,
    struct strata_policy ***out)
{
	size_t ng = ti >= 0 && e->tpols != NULL ? e->tpols[ti].n : 0, n = 0;
	struct strata_policy **pols = calloc(e->n_pols + ng + 1,
	    sizeof(*pols));

	if (pols == NULL)
		abort();
	for (size_t i = 0; i < e->n_pols; i++)
		if (e->pols[i] != NULL)
			pols[n++] = e->pols[i]->pol;
	for (size_t i = 0; i < ng; i++)
		if (e->tpols[ti].pols[i] != NULL)
			pols[n++] = e->tpols[ti].pols[i]->pol;
	*out = pols;
	return n;
}

static void
device_bind(struct broker_conn_auth *a)
{
	struct dev_cert *e = a->cert;
	long ti = device_thing(e, a->client_id);
	const json_t *t = ti >= 0 ? json_array_get(e->things, ti) : NULL;
	struct strata_policy **pols;
	struct strata_policy_vars v;
	struct dev_fields fields = {a->x509, NULL, 0, 0};
	json_t *attrs = NULL;
	size_t n;

	memset(&v, 0, sizeof(v));
	v.client_id = a->client_id;
	free(a->thing);
	a->thing = NULL;
	if (t != NULL) {
		a->thing = strdup(json_string_value(json_array_get(t, 0)));
		if (a->thing == NULL)
			abort();
		v.thing_name = a->thing;
		v.thing_type_name = json_string_value(json_array_get(t, 1));
		if (v.thing_type_name != NULL && v.thing_type_name[0] == '\0')
			v.thing_type_name = NULL;
		attrs = json_loads(json_string_value(json_array_get(t, 2)), 0,
		    NULL);
		v.thing_attributes = attrs;
		v.is_attached = true;
	}
	v.cert_field = device_cert_field;
	v.cert_ctx = &fields;
	broker_throttle_set_limits(a->conn, ti >= 0 && e->tpols != NULL ?
	    e->tpols[ti].limits : NULL);
	n = device_conn_policies(e, ti, &pols);
	device_set_unref(a->set);
	if (device_plain(e)) {
		if (e->shared == NULL)
			e->shared = device_set_new(pols, n, &v);
		a->set = e->shared;
		a->set->refs++;
	} else {
		a->set = device_set_new(pols, n, &v);
	}
	free(pols);
	device_fields_free(&fields);
	json_decref(attrs);
	free(a->cache);
	a->cache = NULL;
}

/* An authorizer identity: the answer's policies, ${iot:ClientId} alone
 * resolving. */
static void
device_bind_authorizer(struct broker_conn_auth *a)
{
	struct strata_policy *pols[16];
	struct strata_policy_vars v;
	size_t n = broker_authorizer_policies(a->authz, pols, 16);

	memset(&v, 0, sizeof(v));
	v.client_id = a->client_id;
	device_set_unref(a->set);
	a->set = device_set_new(pols, n, &v);
	free(a->cache);
	a->cache = NULL;
}

/* ---- checks ---- */

static const char *const device_kinds[] = {"client", "topic", "topicfilter"};

static int
device_action_index(int action)
{
	switch (action) {
	case STRATA_IOT_CONNECT: return 0;
	case STRATA_IOT_PUBLISH: return 1;
	case STRATA_IOT_SUBSCRIBE: return 2;
	case STRATA_IOT_RECEIVE: return 3;
	default: return 4;
	}
}

bool
broker_device_allowed(struct broker_conn *c, int action, const char *name,
    size_t len)
{
	struct broker_conn_auth *a = c->auth;
	struct strata_broker *b = c->broker;
	char arn[640];
	uint64_t key;
	unsigned slot;
	bool allow;
	int kind = action == STRATA_IOT_CONNECT ? 0 :
	    action == STRATA_IOT_SUBSCRIBE ? 2 : 1;
	int n;

	if (a == NULL)
		return true; /* plain TCP, or tls-auth chain */
	if (a->set == NULL)
		return false;
	if (a->cache == NULL && (a->cache = calloc(1,
	    sizeof(*a->cache))) == NULL)
		abort();
	key = strata_hash_bytes(name, len) * 31 + (uint64_t)action;
	slot = (unsigned)(key % DEVICE_CACHE);
	if (a->cache->slot[slot].key == key &&
	    a->cache->slot[slot].decision != 0) {
		allow = a->cache->slot[slot].decision == 1;
	} else {
		n = snprintf(arn, sizeof(arn), "arn:aws:iot:%s:%s:%s/%.*s",
		    b->cfg.iot_region, b->cfg.iot_account, device_kinds[kind],
		    (int)len, name);
		allow = n > 0 && (size_t)n < sizeof(arn) &&
		    strata_policy_check(a->set->set, action, arn) ==
		    STRATA_POLICY_ALLOW;
		a->cache->slot[slot].key = key;
		a->cache->slot[slot].decision = allow ? 1 : 2;
	}
	if (!allow) {
		(*b->m.policy_denied[device_action_index(action)])++;
		broker_devstats_denied(c);
	}
	return allow;
}

/* ---- connect ---- */

static const char *const device_refusal_names[BROKER_AUTH_REFUSALS] = {
	"certificate not in the registry", "certificate INACTIVE",
	"certificate REVOKED", "certificate expired or not yet valid",
	"certificate's CA not registered or not ACTIVE",
	"no client certificate", "registry (Redis) did not answer"};

static struct broker_conn_auth *
device_auth_new(struct broker_conn *c)
{
	struct broker_conn_auth *a = calloc(1, sizeof(*a));

	if (a == NULL)
		abort();
	a->conn = c;
	a->refusal = -1;
	strata_list_init(&a->node);
	c->auth = a;
	return a;
}

static void
device_set_client_id(struct broker_conn_auth *a, const char *client_id,
    size_t len)
{
	free(a->client_id);
	a->client_id = strndup(client_id, len);
	if (a->client_id == NULL)
		abort();
}

/* The authorizer's side of CONNECT: its answer, then iot:Connect under
 * the answer's policies. */
static int
device_check_authorizer(struct broker_conn *c,
    const struct strata_mqtt_packet *p)
{
	struct broker_conn_auth *a = c->auth;
	const struct strata_mqtt_connect *cn = &p->u.connect;
	int rc = broker_authorizer_connect(c, p, &a->authz);

	if (rc != 0)
		return rc;
	device_set_client_id(a, (const char *)cn->client_id.p,
	    cn->client_id.len);
	device_bind_authorizer(a);
	if (!broker_device_allowed(c, STRATA_IOT_CONNECT, a->client_id,
	    cn->client_id.len)) {
		broker_why(c->broker, "iot:Connect on client/%s denied by the "
		    "authorizer's policies", a->client_id);
		return STRATA_ERR(STRATA_RC_NOT_AUTHORIZED);
	}
	a->connected = true;
	broker_authorizer_connected(a->authz);
	return 0;
}

int
broker_device_check_connect(struct broker_conn *c,
    const struct strata_mqtt_packet *p)
{
	const char *client_id = (const char *)p->u.connect.client_id.p;
	size_t len = p->u.connect.client_id.len;
	struct broker_conn_auth *a = c->auth;
	struct strata_broker *b = c->broker;
	int refusal;

	if (a == NULL && broker_authorizer_wants_tcp(c, &p->u.connect)) {
		a = device_auth_new(c);
		a->authorizer = true;
	}
	if (a == NULL)
		return 0;
	if (a->authorizer)
		return device_check_authorizer(c, p);
	refusal = a->refusal >= 0 ? a->refusal : a->cert->refusal;
	if (refusal >= 0) {
		(*b->m.auth_refused[refusal])++;
		broker_why(b, "%s", device_refusal_names[refusal]);
		STRATA_WARN(BROKER_COMP, "client refused|peer=%s cert=%s "
		    "reason=\"%s\"", c->peer, a->cert != NULL ? a->cert->id :
		    "-", device_refusal_names[refusal]);
		return STRATA_ERR(STRATA_RC_BAD_USER_PASS);
	}
	device_set_client_id(a, client_id, len);
	device_bind(a);
	if (!broker_device_allowed(c, STRATA_IOT_CONNECT, client_id, len)) {
		broker_why(b, "iot:Connect on client/%.*s denied by the "
		    "certificate's policies", (int)len, client_id);
		return STRATA_ERR(STRATA_RC_NOT_AUTHORIZED);
	}
	a->connected = true;
	return 0;
}

/* ---- the lookup ---- */

/* KEYS: cert; ARGV: id, the issuing CA's id (no record needed).
 * {status, CA status, {{policy, document}...}, {{thing, type,
 * attributes, {groups and their ancestors}, {{policy, document}...},
 * {publish rate, inbound bytes, subscribe rate, disconnect after}}...}}
 * where a thing's policies are those of its groups and their ancestors
 * (each once; at most 8 levels walked up), and its throttle limits
 * ("" where none is set) are resolved from its groups and type
 * (throttle.md): for each limit, the nearest value up each direct
 * group's chain; the smallest of those (0, off, counting as the
 * largest); else its type's. */
static const char device_script[] =
    "local LF = {'throttle_publish_rate', 'throttle_inbound_bytes', "
    "  'throttle_subscribe_rate', 'throttle_disconnect_after'} "
    "local gcache = {} "
    "local function grec(g) "
    "  local r = gcache[g] "
    "  if not r then "
    "    r = redis.call('HMGET', 'strata:thing-group:{' .. g .. '}', "
    "      'parent', LF[1], LF[2], LF[3], LF[4]) "
    "    gcache[g] = r "
    "  end return r end "
    "local function least(a, b) "
    "  if not a then return b end "
    "  local x, y = tonumber(a) or 0, tonumber(b) or 0 "
    "  if x == 0 then return b end "
    "  if y == 0 or x <= y then return a end "
    "  return b end "
    "local function groups(t) "
    "  local gs, seen, pols, pseen, lim = {}, {}, {}, {}, {} "
    "  for _, g in ipairs(redis.call('SMEMBERS', "
    "      'strata:thing-groups-of:{' .. t .. '}')) do "
    "    local p, n, own = g, 0, {} "
    "    while p and p ~= '' and n < 8 do "
    "      local r = grec(p) "
    "      for i = 1, 4 do "
    "        if not own[i] and r[i + 1] and r[i + 1] ~= '' then "
    "          own[i] = r[i + 1] end "
    "      end "
    "      if not seen[p] then seen[p] = true gs[#gs + 1] = p end "
    "      n = n + 1 p = r[1] "
    "    end "
    "    for i = 1, 4 do "
    "      if own[i] then lim[i] = least(lim[i], own[i]) end "
    "    end "
    "  end "
    "  for _, g in ipairs(gs) do "
    "    for _, p in ipairs(redis.call('SMEMBERS', "
    "        'strata:group-policies:{' .. g .. '}')) do "
    "      if not pseen[p] then "
    "        pseen[p] = true "
    "        local d = redis.call('HGET', 'strata:policy:{' .. p .. '}', "
    "          'document') "
    "        if d then pols[#pols + 1] = {p, d} end "
    "      end "
    "    end "
    "  end "
    "  return gs, pols, lim end "
    "local function limits(ty, gl) "
    "  local tl = {} "
    "  if ty and ty ~= '' then "
    "    tl = redis.call('HMGET', 'strata:thing-type:{' .. ty .. '}', "
    "      LF[1], LF[2], LF[3], LF[4]) "
    "  end "
    "  local out = {} "
    "  for i = 1, 4 do "
    "    local v = gl[i] "
    "    if not v and tl[i] and tl[i] ~= '' then v = tl[i] end "
    "    out[i] = v or '' "
    "  end return out end "
    "local c = redis.call('HMGET', KEYS[1], 'status', 'ca') "
    "if not c[1] then return {'UNKNOWN'} end "
    "local ca = 'ACTIVE' "
    "if c[2] and c[2] ~= '' and c[2] ~= ARGV[2] then "
    "  ca = redis.call('HGET', 'strata:ca:{' .. c[2] .. '}', 'status') "
    "    or 'MISSING' end "
    "local pols = {} "
    "for _, p in ipairs(redis.call('SMEMBERS', 'strata:cert-policies:{' "
    "    .. ARGV[1] .. '}')) do "
    "  local d = redis.call('HGET', 'strata:policy:{' .. p .. '}', "
    "    'document') "
    "  if d then pols[#pols + 1] = {p, d} end "
    "end "
    "local things = {} "
    "for _, t in ipairs(redis.call('SMEMBERS', 'strata:cert-things:{' .. "
    "    ARGV[1] .. '}')) do "
    "  local h = redis.call('HMGET', 'strata:thing:{' .. t .. '}', "
    "    'name', 'type', 'attributes') "
    "  if h[1] then "
    "    local gs, gp, gl = groups(t) "
    "    things[#things + 1] = {h[1], h[2] or '', h[3] or '{}', gs, gp, "
    "      limits(h[2], gl)} "
    "  end "
    "end "
    "return {c[1], ca, pols, things}";

static int
device_status_refusal(const char *status, const char *ca_status)
{
	if (strcmp(status, "ACTIVE") != 0)
		return strcmp(status, "REVOKED") == 0 ? AUTH_REVOKED :
		    AUTH_INACTIVE;
	if (strcmp(ca_status, "ACTIVE") != 0)
		return AUTH_CA;
	return -1;
}

/* {{name, document}...} compiled into *pols (malloc'd), their count. */
static size_t
device_take_policy_list(struct dev_cert *e, const redisReply *r,
    struct dev_policy ***pols)
{
	size_t n = 0;

	*pols = calloc(r->elements + 1, sizeof(**pols));
	if (*pols == NULL)
		abort();
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements;
	     i++) {
		const redisReply *p = r->element[i];

		if (p->type != REDIS_REPLY_ARRAY || p->elements != 2 ||
		    p->element[0]->type != REDIS_REPLY_STRING ||
		    p->element[1]->type != REDIS_REPLY_STRING)
			continue;
		(*pols)[n++] = device_policy_get(e->d, p->element[0]->str,
		    p->element[1]->str);
	}
	return n;
}

static void
device_take_policies(struct dev_cert *e, const redisReply *r)
{
	e->n_pols = device_take_policy_list(e, r, &e->pols);
}

/* A thing's throttle limits: decimal values in range, "" (or anything
 * else) for none set (-1). */
static void
device_take_limits(long limits[BROKER_THROTTLE_LIMITS], const redisReply *r)
{
	for (size_t i = 0; i < BROKER_THROTTLE_LIMITS; i++) {
		const redisReply *v = r->type == REDIS_REPLY_ARRAY &&
		    i < r->elements ? r->element[i] : NULL;

		limits[i] = v != NULL && v->type == REDIS_REPLY_STRING ?
		    strata_throttle_limit_value(v->str, v->len, (int)i) : -1;
	}
}

/* A thing's row: [name, type, attributes, [groups]]; its groups'
 * policies and its limits go to e->tpols at the row's index. */
static void
device_take_thing(struct dev_cert *e, const redisReply *t)
{
	size_t at = json_array_size(e->things);
	json_t *row = json_array(), *gs = json_array();
	const redisReply *g = t->element[3];

	for (int k = 0; k < 3; k++)
		json_array_append_new(row, json_string(
		    t->element[k]->type == REDIS_REPLY_STRING ?
		    t->element[k]->str : ""));
	for (size_t i = 0; g->type == REDIS_REPLY_ARRAY && i < g->elements;
	     i++)
		if (g->element[i]->type == REDIS_REPLY_STRING)
			json_array_append_new(gs,
			    json_string(g->element[i]->str));
	json_array_append_new(row, gs);
	json_array_append_new(e->things, row);
	e->tpols[at].n = device_take_policy_list(e, t->element[4],
	    &e->tpols[at].pols);
	device_take_limits(e->tpols[at].limits, t->element[5]);
}

static void
device_take_things(struct dev_cert *e, const redisReply *r)
{
	e->things = json_array();
	e->tpols = calloc(r->elements + 1, sizeof(*e->tpols));
	if (e->tpols == NULL)
		abort();
	for (size_t i = 0; i < r->elements; i++) {
		const redisReply *t = r->element[i];

		if (t->type != REDIS_REPLY_ARRAY || t->elements != 6 ||
		    t->element[0]->type != REDIS_REPLY_STRING)
			continue;
		device_take_thing(e, t);
	}
}

/* The entry from the script's reply (NULL: Redis did not answer). */
static void
device_take_reply(struct dev_cert *e, const redisReply *r)
{
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
	    r->element[0]->type != REDIS_REPLY_STRING) {
		/* Redis not answering refuses a new connection but does not
		 * close the live ones on a recheck: fail closed at the door,
		 * and keep what was decided (the entry as it was: policies,
		 * things, limits) */
		if (!e->known)
			e->refusal = AUTH_UNAVAILABLE;
		return;
	}
	device_cert_clear(e);
	e->known = true;
	if (r->elements != 4) {
		e->refusal = AUTH_UNKNOWN;
		return;
	}
	e->refusal = device_status_refusal(r->element[0]->str,
	    r->element[1]->type == REDIS_REPLY_STRING ? r->element[1]->str :
	    "MISSING");
	device_take_policies(e, r->element[2]);
	device_take_things(e, r->element[3]);
}

/* A connection waiting for the lookup: its CONNECT is handled now. */
static void
device_resume(struct broker_conn *c)
{
	c->state = CONN_NEW;
	broker_conn_input_changed(c);
	if (c->bev != NULL && c->state == CONN_NEW)
		broker_dispatch_input(c);
}

void
broker_device_authorizer_changed(struct broker_conn *c)
{
	struct broker_conn_auth *a = c->auth;

	if (a == NULL || !a->authorizer || !a->connected)
		return;
	device_bind_authorizer(a);
	if (!broker_device_allowed(c, STRATA_IOT_CONNECT, a->client_id,
	    strlen(a->client_id))) {
		(*c->broker->m.auth_disconnects)++;
		broker_conn_disconnect(c, STRATA_RC_NOT_AUTHORIZED,
		    "iot:Connect no longer allowed by the authorizer's "
		    "policies");
	}
}

/* A live connection after its entry changed. */
static void
device_recheck_conn(struct broker_conn *c)
{
	struct broker_conn_auth *a = c->auth;
	struct dev_cert *e = a->cert;

	if (e->refusal >= 0 && e->refusal != AUTH_UNAVAILABLE) {
		STRATA_WARN(BROKER_COMP, "closing connection|peer=%s cert=%s "
		    "reason=\"%s\"", c->peer, e->id,
		    device_refusal_names[e->refusal]);
		(*c->broker->m.auth_disconnects)++;
		broker_conn_disconnect(c, STRATA_RC_NOT_AUTHORIZED,
		    device_refusal_names[e->refusal]);
		return;
	}
	device_bind(a);
	if (!broker_device_allowed(c, STRATA_IOT_CONNECT, a->client_id,
	    strlen(a->client_id))) {
		(*c->broker->m.auth_disconnects)++;
		broker_conn_disconnect(c, STRATA_RC_NOT_AUTHORIZED,
		    "iot:Connect no longer allowed");
	}
}

/* The lookup is over: waiting connections go on, live ones follow the
 * change. */
static void
device_finish(struct dev_cert *e)
{
	struct broker_conn **snap;
	struct strata_list *pos;
	size_t n = 0, cap = 0;

	e->looking = false;
	/* a snapshot: handling one connection may close others of the list
	 * (a take-over); a closed one is still allocated until the reap at
	 * the end of the loop turn, and has lost its c->auth */
	for (pos = e->conns.next; pos != &e->conns; pos = pos->next)
		cap++;
	snap = calloc(cap + 1, sizeof(*snap));
	if (snap == NULL)
		abort();
	for (pos = e->conns.next; pos != &e->conns; pos = pos->next)
		snap[n++] = STRATA_CONTAINER_OF(pos, struct broker_conn_auth,
		    node)->conn;
	e->busy = true; /* a connection closing here must not free e */
	for (size_t i = 0; i < n; i++) {
		struct broker_conn *c = snap[i];
		struct broker_conn_auth *a = c->auth;

		if (a == NULL || a->cert != e)
			continue;
		if (c->state == CONN_WAITING && !a->connected)
			device_resume(c);
		else if (a->connected && c->state == CONN_ACTIVE)
			device_recheck_conn(c);
	}
	free(snap);
	device_reqs_decide(e);
	e->busy = false;
	if (e->again) {
		e->again = false;
		device_lookup(e);
	}
	device_cert_release(e);
}

static void
device_looked_up(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct dev_cert *e = arg;

	if (e->d->b->stopping) {
		e->looking = false;
		device_reqs_decide(e); /* refused: unavailable */
		return;
	}
	if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
		STRATA_WARN(BROKER_COMP, "registry lookup failed|cert=%s "
		    "error=\"%s\"", e->id, reply->str);
		reply = NULL;
	}
	device_take_reply(e, reply);
	/* an unknown certificate may be provisioned (once) from its CA's
	 * template: jitp.c calls broker_device_jitp_done() */
	if (e->refusal == AUTH_UNKNOWN && !e->jitp_tried &&
	    !strata_list_empty(&e->conns)) {
		e->jitp_tried = true;
		broker_jitp_start(e->d->b, e->id, STRATA_CONTAINER_OF(
		    e->conns.next, struct broker_conn_auth, node)->x509);
		return;
	}
	e->jitp_tried = false;
	device_finish(e);
}

void
broker_device_jitp_done(struct strata_broker *b, const char *id,
    bool provisioned)
{
	struct dev_cert *e = b->devices != NULL ? strata_hashmap_get(
	    b->devices->certs, id, BROKER_CERT_ID_LEN) : NULL;

	if (e == NULL || b->stopping)
		return;
	if (!provisioned) {
		e->jitp_tried = false;
		device_finish(e);
		return;
	}
	e->looking = false;
	device_lookup(e);
}

static void
device_lookup(struct dev_cert *e)
{
	struct strata_broker *b = e->d->b;
	char key[BROKER_REGISTRY_KEY_MAX];
	const char *ca = broker_admin_ca_id(b);
	const char *argv[6];
	size_t len[6];

	if (e->looking) {
		e->again = true;
		return;
	}
	broker_registry_key(key, "cert", e->id);
	argv[0] = "EVAL";
	argv[1] = device_script;
	argv[2] = "1";
	argv[3] = key;
	argv[4] = e->id;
	argv[5] = ca;
	for (int i = 0; i < 6; i++)
		len[i] = strlen(argv[i]);
	e->looking = true;
	strata_redis_commandv(b->redis, device_looked_up, e, 6, argv, len);
}

/* ---- connections ---- */

/* A TLS connection without a client certificate: the authorizer's
 * (decided at CONNECT), else refused under tls-auth registry, else
 * (chain) without an identity. */
static void
device_no_cert(struct broker_conn *c)
{
	struct strata_broker *b = c->broker;

	if (b->authorizer != NULL)
		device_auth_new(c)->authorizer = true;
	else if (b->devices != NULL)
		device_auth_new(c)->refusal = AUTH_NO_CERT;
}

bool
broker_device_conn_start(struct broker_conn *c)
{
	struct strata_broker *b = c->broker;
	struct broker_conn_auth *a;
	SSL *ssl;
	X509 *x509;
	char id[BROKER_CERT_ID_LEN + 1];

	if (c->auth != NULL || !broker_conn_is_tls(c) ||
	    (b->devices == NULL && b->authorizer == NULL))
		return false;
	ssl = broker_conn_ssl(c);
	x509 = ssl != NULL ? SSL_get1_peer_certificate(ssl) : NULL;
	if (x509 == NULL || b->devices == NULL) {
		if (x509 == NULL)
			device_no_cert(c);
		X509_free(x509);
		return false;
	}
	a = device_auth_new(c);
	a->x509 = x509;
	if (X509_cmp_current_time(X509_get0_notAfter(a->x509)) <= 0 ||
	    X509_cmp_current_time(X509_get0_notBefore(a->x509)) >= 0)
		a->refusal = AUTH_EXPIRED;
	if (broker_cert_id(a->x509, id) != 0) {
		a->refusal = AUTH_UNKNOWN;
		return false;
	}
	a->cert = device_cert_get(b->devices, id);
	strata_list_push_back(&a->cert->conns, &a->node);
	if (a->refusal >= 0)
		return false;
	/* a certificate already in use here is current: changes arrive on
	 * strata:registry (and the minute's re-check), so its next
	 * connection needs no lookup of its own */
	if (a->cert->known && !a->cert->looking &&
	    a->cert->refusal != AUTH_UNAVAILABLE)
		return false;
	c->state = CONN_WAITING;
	broker_conn_input_changed(c);
	device_lookup(a->cert);
	return true;
}

void
broker_device_conn_closed(struct broker_conn *c)
{
	struct broker_conn_auth *a = c->auth;

	if (a == NULL)
		return;
	c->auth = NULL;
	strata_list_remove(&a->node);
	if (a->cert != NULL)
		device_cert_release(a->cert);
	broker_authorizer_conn_free(a->authz);
	device_set_unref(a->set);
	free(a->cache);
	free(a->thing);
	X509_free(a->x509);
	free(a->client_id);
	free(a);
}

const char *
broker_device_thing(const struct broker_conn *c)
{
	return c->auth != NULL ? c->auth->thing : NULL;
}

const char *
broker_device_cert_id(const struct broker_conn *c)
{
	return c->auth != NULL && c->auth->cert != NULL ? c->auth->cert->id :
	    NULL;
}

/* ---- HTTPS requests ---- */

/* One request of shadowd's HTTPS listener, waiting in its certificate's
 * entry (shared with the MQTT connections of that certificate). */
struct broker_device_req {
	struct strata_list node;      /* in cert->reqs */
	X509 *x509;
	int action;
	char *resource;
	int refusal;                  /* AUTH_* known before the lookup */
	broker_device_decided_cb decided;
	void *arg;
};

/* The verdict on one request from its entry: the certificate's refusal,
 * or its policies bound to the certificate's variables alone (HTTP has
 * no client id, so no thing: AWS resolves thing variables on MQTT
 * only). */
static int
device_req_verdict(const struct dev_cert *e, struct broker_device_req *r,
    const char **why)
{
	struct dev_fields fields = {r->x509, NULL, 0, 0};
	struct strata_policy *pols[16];
	struct strata_policy_vars v;
	struct strata_policy_set *set;
	enum strata_policy_decision d;
	size_t n = 0;
	int refusal = r->refusal >= 0 ? r->refusal : e->refusal;

	if (refusal >= 0) {
		*why = device_refusal_names[refusal];
		return refusal == AUTH_UNAVAILABLE ?
		    BROKER_DEVICE_UNAVAILABLE : BROKER_DEVICE_REFUSED;
	}
	memset(&v, 0, sizeof(v));
	v.cert_field = device_cert_field;
	v.cert_ctx = &fields;
	for (size_t i = 0; i < e->n_pols && n < 16; i++)
		if (e->pols[i] != NULL)
			pols[n++] = e->pols[i]->pol;
	set = strata_policy_bind(pols, n, &v);
	d = strata_policy_check(set, r->action, r->resource);
	strata_policy_set_free(set);
	device_fields_free(&fields);
	*why = d == STRATA_POLICY_ALLOW ? "" : d ==
	    STRATA_POLICY_DENY_EXPLICIT ? "denied by a Deny statement of the "
	    "certificate's policies" : "no statement of the certificate's "
	    "policies allows it";
	return d == STRATA_POLICY_ALLOW ? BROKER_DEVICE_ALLOWED :
	    BROKER_DEVICE_DENIED;
}

static void
device_req_answer(const struct dev_cert *e, struct broker_device_req *r)
{
	const char *why;
	int verdict = device_req_verdict(e, r, &why);

	r->decided(r->arg, verdict, why);
	X509_free(r->x509);
	free(r->resource);
	free(r);
}

/* The lookup is over: every waiting request gets its verdict (requests
 * that arrive meanwhile wait for the next lookup). */
static void
device_reqs_decide(struct dev_cert *e)
{
	struct strata_list waiting;

	strata_list_init(&waiting);
	while (!strata_list_empty(&e->reqs)) {
		struct strata_list *pos = e->reqs.next;

		strata_list_remove(pos);
		strata_list_push_back(&waiting, pos);
	}
	while (!strata_list_empty(&waiting)) {
		struct strata_list *pos = waiting.next;

		strata_list_remove(pos);
		device_req_answer(e, STRATA_CONTAINER_OF(pos,
		    struct broker_device_req, node));
	}
}

void
broker_device_request(struct strata_broker *b, X509 *x509, int action,
    const char *resource, broker_device_decided_cb decided, void *arg)
{
	struct broker_device_req *r = calloc(1, sizeof(*r));
	char id[BROKER_CERT_ID_LEN + 1];
	struct dev_cert *e;

	if (r == NULL || (r->resource = strdup(resource)) == NULL)
		abort();
	X509_up_ref(x509);
	r->x509 = x509;
	r->action = action;
	r->decided = decided;
	r->arg = arg;
	r->refusal = -1;
	strata_list_init(&r->node);
	if (b->devices == NULL || b->stopping) {
		r->refusal = AUTH_UNAVAILABLE;
	} else if (broker_cert_id(x509, id) != 0) {
		r->refusal = AUTH_UNKNOWN;
	} else {
		if (X509_cmp_current_time(X509_get0_notAfter(x509)) <= 0 ||
		    X509_cmp_current_time(X509_get0_notBefore(x509)) >= 0)
			r->refusal = AUTH_EXPIRED;
		e = device_cert_get(b->devices, id);
		/* a certificate in use by connections here is current (as
		 * for a connection); else it is looked up for this request */
		if (r->refusal < 0 && (!e->known || e->looking ||
		    e->refusal == AUTH_UNAVAILABLE)) {
			strata_list_push_back(&e->reqs, &r->node);
			device_lookup(e);
			return;
		}
		device_req_answer(e, r);
		device_cert_release(e);
		return;
	}
	device_req_answer(NULL, r);
}

/* ---- changes ---- */

struct device_refresh {
	bool (*pred)(const struct dev_cert *, const char *);
	const char *arg;
};

static int
device_refresh_one(const void *key, size_t len, void *value, void *arg)
{
	struct device_refresh *r = arg;
	struct dev_cert *e = value;

	/* a lookup only sends a command: nothing is added or removed */
	if (r->pred(e, r->arg))
		device_lookup(e);
	return 0;
}

/* Look up again every entry for which pred(e, arg) holds. */
static void
device_refresh_where(struct broker_devices *d,
    bool (*pred)(const struct dev_cert *, const char *), const char *arg)
{
	struct device_refresh r = {pred, arg};

	strata_hashmap_foreach(d->certs, device_refresh_one, &r);
}

static bool
device_list_has(struct dev_policy *const *pols, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (pols[i] != NULL && strcmp(pols[i]->name, name) == 0)
			return true;
	return false;
}

static bool
device_has_policy(const struct dev_cert *e, const char *name)
{
	size_t nt = json_array_size(e->things);

	if (device_list_has(e->pols, e->n_pols, name))
		return true;
	for (size_t t = 0; e->tpols != NULL && t < nt; t++)
		if (device_list_has(e->tpols[t].pols, e->tpols[t].n, name))
			return true;
	return false;
}

/* Is one of e's things in group name, or in a group below it? */
static bool
device_has_group(const struct dev_cert *e, const char *name)
{
	const json_t *t, *g;
	size_t i, k;

	json_array_foreach(e->things, i, t)
		json_array_foreach(json_array_get(t, 3), k, g)
			if (strcmp(json_string_value(g), name) == 0)
				return true;
	return false;
}

static bool
device_has_thing(const struct dev_cert *e, const char *name)
{
	const json_t *t;
	size_t i;

	json_array_foreach(e->things, i, t)
		if (strcmp(json_string_value(json_array_get(t, 0)), name) == 0)
			return true;
	return false;
}

/* Is one of e's things of thing type name? */
static bool
device_has_type(const struct dev_cert *e, const char *name)
{
	const json_t *t;
	size_t i;

	json_array_foreach(e->things, i, t)
		if (strcmp(json_string_value(json_array_get(t, 1)), name) == 0)
			return true;
	return false;
}

static bool
device_any(const struct dev_cert *e, const char *unused)
{
	return true;
}

/* "cert <id>", "attach <id>", "policy <name>", "thing <name>",
 * "ca <id>" from admin_ops.c's scripts, "group <name>" from
 * admin_groups.c's (and admin_throttle.c's), "type <name>" from
 * admin_throttle.c's. */
static void
device_on_message(struct strata_redis *r, const char *msg, size_t len,
    void *arg)
{
	struct broker_devices *d = arg;
	char kind[16], name[300];

	if (len >= sizeof(name) || sscanf(msg, "%15s %299s", kind, name) != 2)
		return;
	if (strcmp(kind, "cert") == 0 || strcmp(kind, "attach") == 0) {
		struct dev_cert *e = strlen(name) == BROKER_CERT_ID_LEN ?
		    strata_hashmap_get(d->certs, name, BROKER_CERT_ID_LEN) :
		    NULL;

		if (e != NULL)
			device_lookup(e);
	} else if (strcmp(kind, "policy") == 0) {
		device_refresh_where(d, device_has_policy, name);
	} else if (strcmp(kind, "thing") == 0) {
		device_refresh_where(d, device_has_thing, name);
	} else if (strcmp(kind, "group") == 0) {
		device_refresh_where(d, device_has_group, name);
	} else if (strcmp(kind, "type") == 0) {
		device_refresh_where(d, device_has_type, name);
	} else if (strcmp(kind, "ca") == 0) {
		device_refresh_where(d, device_any, NULL);
	}
}

static void
device_recheck_cb(evutil_socket_t fd, short what, void *arg)
{
	struct broker_devices *d = arg;

	device_refresh_where(d, device_any, NULL);
}

int
broker_devices_start(struct strata_broker *b)
{
	struct broker_devices *d;
	struct timeval tv = {DEVICE_RECHECK_S, 0};

	if (strcmp(b->cfg.tls_auth, "registry") != 0)
		return 0;
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		abort();
	d->b = b;
	d->certs = strata_hashmap_new(device_cert_value_free);
	d->policies = strata_hashmap_new(device_policy_value_free);
	d->sub = broker_redis_new(b, NULL, NULL);
	strata_redis_subscribe(d->sub, "strata:registry", device_on_message, d);
	d->recheck = event_new(b->base, -1, EV_PERSIST, device_recheck_cb, d);
	if (d->sub == NULL || d->recheck == NULL)
		abort();
	event_add(d->recheck, &tv);
	b->devices = d;
	return 0;
}

void
broker_devices_free(struct strata_broker *b)
{
	struct broker_devices *d = b->devices;

	if (d == NULL)
		return;
	event_free(d->recheck);
	strata_redis_free(d->sub);
	strata_hashmap_free(d->certs);
	strata_hashmap_free(d->policies);
	free(d);
	b->devices = NULL;
}
