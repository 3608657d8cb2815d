/*
 * admin_auth.c - who calls the admin API, and may they do what they ask
 * (docs/internals/admin-authz.md).
 *
 * A call runs:
 *   Authorization parsed: a bearer key, the bare bootstrap secret, or a
 *   STRATA-HMAC-SHA256 signature (401) -> signed: X-Strata-Date within
 *   300 s of our clock (401) -> one script reads the access key, its user
 *   and the user's policies, creating the bootstrap identity on its first
 *   use (401: no such key) -> key Active, secret or signature right
 *   (401) -> signed: the signature recorded for 600 s, refused if the
 *   cluster saw it (401: replay) -> the policies compiled into the call
 *   -> admin.c routes it -> admin_authorize() checks the route's action
 *   on its resource (403) -> the operation.
 *
 * Nothing is cached: a key made Inactive, deleted, or a policy detached
 * holds from the next call on every broker.
 *
 * Secrets never leave this file in clear: a bearer secret is compared
 * by its verifier, and both are cleansed with the call.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "admin.h"
#include "iam_policy.h"

#define AUTH_SCHEME "STRATA-HMAC-SHA256"
#define AUTH_MAX_SKEW 300   /* seconds between X-Strata-Date and us */
#define AUTH_REPLAY_TTL "600"

/* What the Authorization header says. */
struct admin_cred {
	bool is_signed;
	bool session;   /* a console session's key: no secret to check,
			   the login checked it (admin_console.c) */
	char id[ADMIN_KEY_ID_MAX + 1];
	char secret[ADMIN_TOKEN_MAX + 1];   /* bearer */
	char signature[65];                 /* signed: lower-case hex */
	char date[17];                      /* signed: YYYYMMDDTHHMMSSZ */
};

/* ---- derivations ---- */

static void
auth_hex(const unsigned char *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static void
auth_hmac(const void *key, size_t keylen, const char *msg, size_t msglen,
    unsigned char out[32])
{
	unsigned int n = 32;

	if (HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg,
	    msglen, out, &n) == NULL)
		abort();
}

void
admin_key_derive(const char *secret, char verifier[65], char signing[65])
{
	unsigned char mac[32];
	static const char bearer[] = "strata-admin-bearer";
	static const char sign[] = "strata-admin-signing";

	auth_hmac(secret, strlen(secret), bearer, sizeof(bearer) - 1, mac);
	auth_hex(mac, 32, verifier);
	auth_hmac(secret, strlen(secret), sign, sizeof(sign) - 1, mac);
	auth_hex(mac, 32, signing);
	OPENSSL_cleanse(mac, sizeof(mac));
}

bool
admin_key_id_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 16 || n > ADMIN_KEY_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' &&
		    s[i] <= '9')))
			return false;
	return true;
}

/* The bootstrap key: its id (configured, or derived from the token),
 * verifier and signing key. */
int
admin_auth_init(struct broker_admin *a, const char *configured_id)
{
	unsigned char mac[32];
	static const char label[] = "strata-bootstrap-key-id";
	char hex[65];

	if (configured_id[0] != '\0') {
		if (!admin_key_id_valid(configured_id)) {
			STRATA_ERROR(BROKER_COMP, "config error: "
			    "admin-bootstrap-key-id must be 16 to 32 "
			    "characters of [A-Z0-9]|value=%s", configured_id);
			return STRATA_EINVAL;
		}
		snprintf(a->boot_id, sizeof(a->boot_id), "%s", configured_id);
	} else {
		auth_hmac(a->token, strlen(a->token), label, sizeof(label) - 1,
		    mac);
		auth_hex(mac, 8, hex);
		for (char *p = hex; *p != '\0'; p++)
			*p = (char)toupper((unsigned char)*p);
		snprintf(a->boot_id, sizeof(a->boot_id), "AKIA%.16s", hex);
	}
	admin_key_derive(a->token, a->boot_verifier, a->boot_signing);
	return 0;
}

/* ---- the header ---- */

/* "Credential=ID, Signature=HEX" after the scheme; false if malformed. */
static bool
auth_parse_signed(const char *p, struct admin_cred *c)
{
	char buf[256], *save = NULL, *tok;

	if (strlen(p) >= sizeof(buf))
		return false;
	snprintf(buf, sizeof(buf), "%s", p);
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		if (strncmp(tok, "Credential=", 11) == 0 &&
		    strlen(tok + 11) <= ADMIN_KEY_ID_MAX)
			strcpy(c->id, tok + 11);
		else if (strncmp(tok, "Signature=", 10) == 0 &&
		    strlen(tok + 10) == 64 &&
		    strspn(tok + 10, "0123456789abcdef") == 64)
			strcpy(c->signature, tok + 10);
		else
			return false;
	}
	return c->id[0] != '\0' && c->signature[0] != '\0';
}

/* The header into c; NULL, or why it is refused. */
static const char *
auth_parse(struct admin_call *call, struct admin_cred *c)
{
	const char *h = admin_header(call, "Authorization");
	const char *colon;

	if (h == NULL)
		return "no Authorization header";
	if (strncmp(h, "Bearer ", 7) == 0) {
		h += 7;
		colon = strchr(h, ':');
		if (colon == NULL) {
			snprintf(c->id, sizeof(c->id), "%s",
			    call->b->admin->boot_id);
		} else if ((size_t)(colon - h) <= ADMIN_KEY_ID_MAX) {
			memcpy(c->id, h, (size_t)(colon - h));
			c->id[colon - h] = '\0';
			h = colon + 1;
		}
		if (strlen(h) > ADMIN_TOKEN_MAX || !admin_key_id_valid(c->id))
			return "malformed bearer credential";
		strcpy(c->secret, h);
		return NULL;
	}
	if (strncmp(h, AUTH_SCHEME " ", sizeof(AUTH_SCHEME)) != 0)
		return "Authorization is neither Bearer nor " AUTH_SCHEME;
	c->is_signed = true;
	if (!auth_parse_signed(h + sizeof(AUTH_SCHEME), c) ||
	    !admin_key_id_valid(c->id))
		return "malformed " AUTH_SCHEME " Authorization "
		    "(Credential=<key id>, Signature=<64 lower-case hex>)";
	h = admin_header(call, "X-Strata-Date");
	if (h == NULL || strlen(h) != 16)
		return "signed request without X-Strata-Date "
		    "(YYYYMMDDTHHMMSSZ)";
	strcpy(c->date, h);
	return NULL;
}

/* Is the signed date within AUTH_MAX_SKEW of now? */
static bool
auth_date_fresh(const char *date)
{
	struct tm tm = {0};
	const char *end = strptime(date, "%Y%m%dT%H%M%SZ", &tm);
	long long d, now = (long long)time(NULL);

	if (end == NULL || *end != '\0')
		return false;
	d = (long long)timegm(&tm);
	return d >= now - AUTH_MAX_SKEW && d <= now + AUTH_MAX_SKEW;
}

/* ---- checks after the script ---- */

static bool
auth_bearer_right(const struct admin_cred *c, const char *verifier)
{
	char mine[65], signing[65];

	admin_key_derive(c->secret, mine, signing);
	OPENSSL_cleanse(signing, sizeof(signing));
	return strlen(verifier) == 64 && CRYPTO_memcmp(mine, verifier, 64) == 0;
}

static bool
auth_signature_right(struct admin_call *call, const struct admin_cred *c,
    const char *signing_hex)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(call->req);
	size_t blen = evbuffer_get_length(in);
	const char *uri = evhttp_request_get_uri(call->req);
	const char *q = strchr(uri, '?');
	unsigned char key[32], digest[32], mac[32];
	char body_hex[65], mine[65], *text;
	size_t plen = q != NULL ? (size_t)(q - uri) : strlen(uri);
	int n;

	if (strlen(signing_hex) != 64 || OPENSSL_hexstr2buf_ex(key,
	    sizeof(key), NULL, signing_hex, '\0') != 1)
		return false;
	SHA256(blen > 0 ? evbuffer_pullup(in, -1) : (const unsigned char *)"",
	    blen, digest);
	auth_hex(digest, 32, body_hex);
	n = asprintf(&text, AUTH_SCHEME "\n%s\n%s\n%.*s\n%s\n%s", c->date,
	    admin_method_name(evhttp_request_get_command(call->req)), (int)plen,
	    uri, q != NULL ? q + 1 : "", body_hex);
	if (n < 0)
		abort();
	auth_hmac(key, sizeof(key), text, (size_t)n, mac);
	auth_hex(mac, 32, mine);
	free(text);
	OPENSSL_cleanse(key, sizeof(key));
	return CRYPTO_memcmp(mine, c->signature, 64) == 0;
}

/* The user's policies, [4..] of the reply as name, document pairs.  One
 * that does not compile (written to Redis by hand) allows nothing. */
static void
auth_policies(struct admin_call *call, const redisReply *r)
{
	struct strata_policy_error perr;
	size_t n = (r->elements - 4) / 2;

	call->pols = calloc(n > 0 ? n : 1, sizeof(*call->pols));
	if (call->pols == NULL)
		abort();
	for (size_t i = 0; i < n; i++) {
		const redisReply *name = r->element[4 + 2 * i];
		const redisReply *doc = r->element[5 + 2 * i];

		call->pols[call->npols] = strata_iam_policy_parse(doc->str,
		    doc->len, &perr);
		if (call->pols[call->npols] != NULL)
			call->npols++;
		else
			STRATA_WARN(BROKER_COMP, "admin policy does not "
			    "compile, it allows nothing|policy=%s "
			    "error=\"%s: %s\"", name->str, perr.path,
			    perr.message);
	}
}

/* ---- the script ---- */

/*
 * KEYS: the key, users; ARGV: key id, bootstrap id, bootstrap verifier,
 * bootstrap signing, now (IAM date), bootstrap user id.  Answers status,
 * user, verifier, signing, then policy name, document pairs.
 */
static const char script_authenticate[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then "
    "  if ARGV[1] ~= ARGV[2] or redis.call('SCARD', KEYS[2]) > 0 then "
    "    return redis.error_reply('Unauthorized no such access key: ' .. "
    "      ARGV[1]) end "
    "  redis.call('HSET', 'strata:admin-user:{admin}', 'name', 'admin', "
    "    'id', ARGV[6], 'created', ARGV[5]) "
    "  redis.call('SADD', KEYS[2], 'admin') "
    "  redis.call('HSET', 'strata:admin-policy:{AdministratorAccess}', "
    "    'name', 'AdministratorAccess', 'created', ARGV[5], 'document', "
    "    '{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":"
    "\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}]}') "
    "  redis.call('SADD', 'strata:admin-policies', 'AdministratorAccess') "
    "  redis.call('SADD', 'strata:admin-user-policies:{admin}', "
    "    'AdministratorAccess') "
    "  redis.call('SADD', 'strata:admin-policy-users:{AdministratorAccess}'"
    "    , 'admin') "
    "  redis.call('HSET', KEYS[1], 'user', 'admin', 'status', 'Active', "
    "    'verifier', ARGV[3], 'signing', ARGV[4], 'created', ARGV[5]) "
    "  redis.call('SADD', 'strata:admin-user-keys:{admin}', ARGV[1]) "
    "end "
    "local k = redis.call('HMGET', KEYS[1], 'status', 'user', 'verifier', "
    "  'signing') "
    "local out = {k[1] or '', k[2] or '', k[3] or '', k[4] or ''} "
    "for _, p in ipairs(redis.call('SMEMBERS', "
    "    'strata:admin-user-policies:{' .. (k[2] or '') .. '}')) do "
    "  local d = redis.call('HGET', 'strata:admin-policy:{' .. p .. '}', "
    "    'document') "
    "  if d then out[#out + 1] = p out[#out + 1] = d end "
    "end "
    "return out";

static void
auth_refuse(struct admin_call *call, const char *why)
{
	if (call->refused != NULL)
		call->refused(call, why);
	else
		admin_error(call, 401, "UnauthorizedException", NULL, "%s",
		    why);
}

static void
auth_replay_checked(struct strata_redis *r, redisReply *reply, void *arg)
{
	struct admin_call *call = arg;

	if (call->gone)
		admin_call_free(call);
	else if (reply == NULL)
		admin_error(call, 503, "ServiceUnavailableException", NULL,
		    "the registry (Redis) did not answer");
	else if (reply->type != REDIS_REPLY_STATUS)
		auth_refuse(call, "this signature was already used (replay)");
	else
		call->next(call);
}

/* Record the signature cluster-wide; a second use is a replay. */
static void
auth_record_signature(struct admin_call *call)
{
	char k[BROKER_REGISTRY_KEY_MAX];
	const char *v[] = {"SET", k, "1", "NX", "EX", AUTH_REPLAY_TTL};
	size_t len[6];

	broker_registry_key(k, "admin-sig", call->cred->signature);
	for (int i = 0; i < 6; i++)
		len[i] = strlen(v[i]);
	strata_redis_commandv(call->b->redis, auth_replay_checked, call, 6, v,
	    len);
}

static void
auth_looked_up(struct admin_call *call, redisReply *r)
{
	struct admin_cred *c = call->cred;
	bool right;

	if (r->type != REDIS_REPLY_ARRAY || r->elements < 4 ||
	    r->elements % 2 != 0) {
		admin_error(call, 500, "InternalFailureException", NULL,
		    "authentication script answered unexpectedly");
		return;
	}
	if (strcmp(r->element[0]->str, "Active") != 0) {
		auth_refuse(call, "access key is Inactive");
		return;
	}
	right = c->session ? true : c->is_signed ? auth_signature_right(call,
	    c, r->element[3]->str) : auth_bearer_right(c, r->element[2]->str);
	if (!right) {
		auth_refuse(call, c->is_signed ? "signature does not match "
		    "(method, path, query, body digest and X-Strata-Date "
		    "are signed)" : "wrong secret for this access key");
		return;
	}
	snprintf(call->key_id, sizeof(call->key_id), "%s", c->id);
	admin_iam_arn(call, call->user_arn, sizeof(call->user_arn), "user",
	    r->element[1]->str);
	auth_policies(call, r);
	if (c->is_signed)
		auth_record_signature(call);
	else
		call->next(call);
}

/* The credential in call->cred is well-formed: look its key up. */
static void
auth_lookup(struct admin_call *call)
{
	struct broker_admin *a = call->b->admin;
	char k[BROKER_REGISTRY_KEY_MAX], now[24], uid[24];
	time_t t = time(NULL);
	struct tm tm;

	broker_registry_key(k, "admin-key", call->cred->id);
	gmtime_r(&t, &tm);
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(uid, sizeof(uid), "AIDA%.16s", a->boot_id + 4);
	admin_eval(call, script_authenticate, 2, 8, (const char *[]){k,
	    "strata:admin-users", call->cred->id, a->boot_id, a->boot_verifier,
	    a->boot_signing, now, uid}, auth_looked_up);
}

static struct admin_cred *
auth_cred_new(struct admin_call *call, void (*next)(struct admin_call *))
{
	struct admin_cred *c = calloc(1, sizeof(*c));

	if (c == NULL)
		abort();
	call->cred = c;
	call->next = next;
	return c;
}

void
admin_authenticate(struct admin_call *call, void (*next)(struct admin_call *))
{
	struct admin_cred *c = auth_cred_new(call, next);
	const char *why;

	why = auth_parse(call, c);
	if (why == NULL && c->is_signed && !auth_date_fresh(c->date))
		why = "X-Strata-Date is not a date within 300 seconds of the "
		    "broker's clock";
	if (why != NULL) {
		auth_refuse(call, why);
		return;
	}
	auth_lookup(call);
}

void
admin_authenticate_key(struct admin_call *call, const char *id,
    const char *secret, void (*next)(struct admin_call *call))
{
	struct admin_cred *c = auth_cred_new(call, next);

	if (id == NULL)
		id = call->b->admin->boot_id;
	if (!admin_key_id_valid(id) || (secret != NULL &&
	    strlen(secret) > ADMIN_TOKEN_MAX)) {
		auth_refuse(call, "malformed access key id or secret");
		return;
	}
	snprintf(c->id, sizeof(c->id), "%s", id);
	if (secret != NULL)
		snprintf(c->secret, sizeof(c->secret), "%s", secret);
	c->session = secret == NULL;
	auth_lookup(call);
}

void
admin_cred_free(struct admin_call *call)
{
	if (call->cred != NULL) {
		OPENSSL_cleanse(call->cred, sizeof(*call->cred));
		free(call->cred);
	}
	for (size_t i = 0; i < call->npols; i++)
		strata_iam_policy_free(call->pols[i]);
	free(call->pols);
}

/* ---- authorization ---- */

/* The ARN of what the route acts on. */
static void
auth_resource(struct admin_call *call, char *out, size_t len)
{
	static const char *const iot_kinds[] = {
		[ADMIN_RES_THING] = "thing", [ADMIN_RES_CERT] = "cert",
		[ADMIN_RES_CACERT] = "cacert", [ADMIN_RES_POLICY] = "policy",
		[ADMIN_RES_RULE] = "rule", [ADMIN_RES_TOPIC] = "topic",
		[ADMIN_RES_THING_TYPE] = "thingtype",
		[ADMIN_RES_THING_GROUP] = "thinggroup",
		[ADMIN_RES_PROV_TEMPLATE] = "provisioningtemplate",
		[ADMIN_RES_CLIENT] = "client",
	};
	const struct broker_config *cfg = &call->b->cfg;

	switch (call->route->resource) {
	case ADMIN_RES_THING:
	case ADMIN_RES_CERT:
	case ADMIN_RES_CACERT:
	case ADMIN_RES_POLICY:
	case ADMIN_RES_RULE:
	case ADMIN_RES_TOPIC:
	case ADMIN_RES_THING_TYPE:
	case ADMIN_RES_THING_GROUP:
	case ADMIN_RES_PROV_TEMPLATE:
	case ADMIN_RES_CLIENT:
		snprintf(out, len, "arn:aws:iot:%s:%s:%s/%s", cfg->iot_region,
		    cfg->iot_account, iot_kinds[call->route->resource],
		    call->arg);
		break;
	case ADMIN_RES_ARN:
		snprintf(out, len, "%s", call->arg);
		break;
	case ADMIN_RES_USER:
		admin_iam_arn(call, out, len, "user", call->arg);
		break;
	case ADMIN_RES_ADMIN_POLICY:
		admin_iam_arn(call, out, len, "policy", call->arg);
		break;
	case ADMIN_RES_SHADOW:
		snprintf(out, len, "arn:aws:iot:%s:%s:thing/%s%s%s",
		    cfg->iot_region, cfg->iot_account, call->arg,
		    admin_query(call, "name") != NULL ? "/" : "",
		    admin_query(call, "name") != NULL ?
		    admin_query(call, "name") : "");
		break;
	case ADMIN_RES_INDEX:
		snprintf(out, len, "arn:aws:iot:%s:%s:index/%s",
		    cfg->iot_region, cfg->iot_account, call->arg[0] != '\0' ?
		    call->arg : "AWS_Things");
		break;
	default:
		snprintf(out, len, "*");
	}
}

bool
admin_authorize(struct admin_call *call)
{
	struct strata_iam_request req = {
		.action = call->route->action,
		.resource = call->resource,
		.source_ip = call->source,
		.now = (long long)time(NULL),
		.secure_transport = call->b->cfg.admin_tls,
	};
	enum strata_policy_decision d;

	/* checked first: the shadow's name is part of the resource */
	if (call->route->resource == ADMIN_RES_SHADOW &&
	    !admin_shadow_name_valid(admin_query(call, "name"))) {
		admin_error(call, 400, "InvalidRequestException", "name",
		    "a shadow name is 1 to %d characters of [a-zA-Z0-9:_-]",
		    ADMIN_SHADOW_NAME_MAX);
		return false;
	}
	auth_resource(call, call->resource, sizeof(call->resource));
	d = strata_iam_policy_check(call->pols, call->npols, &req);
	if (d == STRATA_POLICY_ALLOW && call->guard_action2[0] != '\0') {
		req.action = call->guard_action2;
		d = strata_iam_policy_check(call->pols, call->npols, &req);
	}
	if (d == STRATA_POLICY_ALLOW)
		return true;
	if (d == STRATA_POLICY_DENY_EXPLICIT)
		admin_error(call, 403, "AccessDeniedException", NULL,
		    "User: %s is not authorized to perform: %s on resource: "
		    "%s with an "
		    "explicit deny in an identity-based policy",
		    call->user_arn, req.action, call->resource);
	else
		admin_error(call, 403, "AccessDeniedException", NULL,
		    "User: %s is not authorized to perform: %s on resource: "
		    "%s because "
		    "no identity-based policy allows the %s action",
		    call->user_arn, req.action, call->resource, req.action);
	return false;
}
