/*
 * admin_console.c - the web console's side of the admin API
 * (docs/internals/console.md): its static files under /console/, the
 * login that turns an admin credential into a session cookie, and the
 * check of that cookie on every other admin call.
 *
 * A console session:
 *   (none) --POST /console/api/login, Origin ours, credential right-->
 *          LIVE: strata:console-session:{<sha256 of id>} = {key, user,
 *          csrf, created}, EXPIRE console-session-ttl; the browser holds
 *          the id in an HttpOnly, SameSite=Strict cookie
 *   LIVE --an admin call with the cookie--> checked: Origin (when sent;
 *          required for a method other than GET), the session hash, the
 *          X-CSRF-Token header (any method but GET), then the key as
 *          any call: Active, its user's policies decide (admin_auth.c)
 *   LIVE --POST /console/api/logout, or the TTL--> (none): 401 from then
 *   LIVE --its key made Inactive or deleted--> every call 401
 *
 * The login throttle, per source address, cluster-wide (Redis):
 *   open --a wrong credential--> counting: strata:console-login-fail:
 *          {<address>} = 1, PEXPIRE console-login-window
 *   counting --a wrong credential--> n + 1 (the window not extended)
 *   counting --n = console-login-max-failures--> THROTTLED: every login
 *          from the address, right or wrong, 429 ThrottlingException
 *          with Retry-After, the credential not even checked
 *   counting/THROTTLED --the window ends--> open
 *   counting --a right credential--> open (the key deleted; other
 *          addresses' counts untouched)
 * The session holds the access key id, never its secret nor a copy of
 * its rights: what the policies say now is what the console may do.
 *
 * Static files are read from console_fd (the console-dir directory,
 * opened once) by openat(), names checked by strata_console_path();
 * each answer carries a strict Content-Security-Policy.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "admin.h"
#include "console_path.h"

#define CONSOLE_API "/console/api/"
#define CONSOLE_MAX_FILE (8 * 1024 * 1024)
#define CONSOLE_CSRF_LEN 64
/* script-src 'self' only: no inline script, no eval; connect-src adds
 * the MQTT-over-WebSocket listeners of the test client. */
#define CONSOLE_CSP "default-src 'none'; script-src 'self'; " \
	"style-src 'self'; img-src 'self' data:; font-src 'self'; " \
	"connect-src 'self' %s; frame-ancestors 'none'; base-uri 'none'; " \
	"form-action 'self'"

/* ---- the directory ---- */

/* share/strata/console beside the binary's directory (bin/). */
static void
console_default_dir(char *out, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	out[0] = '\0';
	if (n <= 0)
		return;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash == NULL)
		return;
	*slash = '\0';
	snprintf(out, len, "%s/../share/strata/console", exe);
}

int
admin_console_start(struct broker_admin *a)
{
	const char *cfg = a->b->cfg.console_dir;
	char dir[PATH_MAX + 64];

	if (cfg[0] != '\0')
		snprintf(dir, sizeof(dir), "%s", cfg);
	else
		console_default_dir(dir, sizeof(dir));
	a->console_fd = dir[0] != '\0' ? open(dir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC) : -1;
	if (a->console_fd >= 0 && faccessat(a->console_fd, "index.html",
	    R_OK, 0) != 0) {
		close(a->console_fd);
		a->console_fd = -1;
	}
	if (a->console_fd < 0 && cfg[0] != '\0') {
		STRATA_ERROR(BROKER_COMP, "config error: console-dir has no "
		    "readable index.html|dir=%s", cfg);
		return STRATA_EINVAL;
	}
	STRATA_INFO(BROKER_COMP, "web console|dir=%s state=%s", dir,
	    a->console_fd >= 0 ? "on" : "off (no files)");
	return 0;
}

void
admin_console_free(struct broker_admin *a)
{
	if (a->console_fd >= 0)
		close(a->console_fd);
	a->console_fd = -1;
}

/* ---- headers ---- */

/* The headers every console answer carries.  connect-src names the
 * broker's WebSocket listeners on the host the page was loaded from. */
static void
console_security_headers(struct admin_call *call)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(call->req);
	const struct broker_config *cfg = &call->b->cfg;
	const char *hh = admin_header(call, "Host");
	char csp[768], ws[320] = "", host[128];
	int n = 0;

	if (hh != NULL && strata_console_host(hh, host, sizeof(host)) == 0) {
		if (cfg->ws_port != 0)
			n = snprintf(ws, sizeof(ws), "ws://%s:%ld", host,
			    cfg->ws_port);
		if (cfg->wss_port != 0)
			snprintf(ws + n, sizeof(ws) - (size_t)n,
			    "%swss://%s:%ld", n > 0 ? " " : "", host,
			    cfg->wss_port);
	}
	snprintf(csp, sizeof(csp), CONSOLE_CSP, ws);
	evhttp_add_header(h, "Content-Security-Policy", csp);
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
}

/* Is the request's Origin this admin API's own (scheme and Host)?  An
 * absent Origin passes only when !required. */
static bool
console_origin_ok(struct admin_call *call, bool required)
{
	const char *origin = admin_header(call, "Origin");
	const char *host = admin_header(call, "Host");
	char mine[300];

	if (origin == NULL)
		return !required;
	if (host == NULL)
		return false;
	snprintf(mine, sizeof(mine), "%s://%s", call->b->cfg.admin_tls ?
	    "https" : "http", host);
	return strcmp(origin, mine) == 0;
}

static void
console_refuse_origin(struct admin_call *call)
{
	const char *origin = admin_header(call, "Origin");

	admin_error(call, 403, "AccessDeniedException", NULL,
	    "cross-origin request refused: Origin %s is not this admin "
	    "API's", origin != NULL ? origin : "(none, needed for this "
	    "method)");
}

/* ---- static files ---- */

/* The ETag of a file: size and modification time. */
static void
console_etag(const struct stat *st, char *out, size_t len)
{
	snprintf(out, len, "\"%llx-%llx\"", (unsigned long long)st->st_size,
	    (unsigned long long)st->st_mtim.tv_sec * 1000000000ULL +
	    (unsigned long long)st->st_mtim.tv_nsec);
}

/* Send a file's answer and free the call (not an audited admin call). */
static void
console_send_file(struct admin_call *call, int fd, const struct stat *st,
    const char *type)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(call->req);
	const char *inm = admin_header(call, "If-None-Match");
	struct evbuffer *buf = evbuffer_new();
	char etag[64];

	if (buf == NULL)
		abort();
	evhttp_connection_set_closecb(evhttp_request_get_connection(call->req),
	    NULL, NULL);
	console_security_headers(call);
	evhttp_add_header(h, "Cache-Control", "no-cache");   /* revalidate */
	console_etag(st, etag, sizeof(etag));
	evhttp_add_header(h, "ETag", etag);
	if (inm != NULL && strcmp(inm, etag) == 0) {
		close(fd);
		evhttp_send_reply(call->req, 304, "Not Modified", buf);
	} else {
		evhttp_add_header(h, "Content-Type", type);
		if (st->st_size > 0)   /* the buffer owns fd */
			evbuffer_add_file(buf, fd, 0, st->st_size);
		else
			close(fd);
		evhttp_send_reply(call->req, 200, "OK", buf);
	}
	evbuffer_free(buf);
	admin_call_free(call);
}

static void
console_static(struct admin_call *call, const char *path)
{
	struct broker_admin *a = call->b->admin;
	char name[STRATA_CONSOLE_NAME_MAX + 1];
	struct stat st;
	int fd;

	if (evhttp_request_get_command(call->req) != EVHTTP_REQ_GET) {
		admin_error(call, 405, "MethodNotAllowedException", NULL,
		    "the console's files are read with GET");
		return;
	}
	if (a->console_fd < 0) {
		admin_error(call, 404, "ResourceNotFoundException", NULL,
		    "this broker serves no web console (console-dir)");
		return;
	}
	if (strata_console_path(path, name, sizeof(name)) != 0) {
		admin_error(call, 404, "ResourceNotFoundException", NULL,
		    "no such console file");
		return;
	}
	fd = openat(a->console_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > CONSOLE_MAX_FILE) {
		if (fd >= 0)
			close(fd);
		admin_error(call, 404, "ResourceNotFoundException", NULL,
		    "no such console file");
		return;
	}
	console_send_file(call, fd, &st, strata_console_content_type(name));
}

/* ---- sessions ---- */

struct console_state {
	char sid[STRATA_CONSOLE_SID_LEN + 1];
	char csrf[CONSOLE_CSRF_LEN + 1];
	char key[BROKER_REGISTRY_KEY_MAX];   /* its Redis key */
	char fail_key[BROKER_REGISTRY_KEY_MAX]; /* the login's address's
						   failures */
	char why[200];                       /* a refused login's reason */
};

static struct console_state *
console_state(struct admin_call *call)
{
	if (call->state == NULL) {
		call->state = calloc(1, sizeof(struct console_state));
		if (call->state == NULL)
			abort();
	}
	return call->state;
}

static void
console_random_hex(char *out, size_t bytes)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char r[64];

	if (bytes > sizeof(r) || RAND_bytes(r, (int)bytes) != 1)
		abort();
	for (size_t i = 0; i < bytes; i++) {
		out[2 * i] = digits[r[i] >> 4];
		out[2 * i + 1] = digits[r[i] & 15];
	}
	out[2 * bytes] = '\0';
	OPENSSL_cleanse(r, sizeof(r));
}

/* strata:console-session:{<sha256 hex of sid>}: a Redis reader learns
 * no cookie. */
static void
console_session_key(const char *sid, char out[BROKER_REGISTRY_KEY_MAX])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char d[SHA256_DIGEST_LENGTH];
	char hex[2 * SHA256_DIGEST_LENGTH + 1];

	SHA256((const unsigned char *)sid, strlen(sid), d);
	for (size_t i = 0; i < sizeof(d); i++) {
		hex[2 * i] = digits[d[i] >> 4];
		hex[2 * i + 1] = digits[d[i] & 15];
	}
	hex[sizeof(hex) - 1] = '\0';
	broker_registry_key(out, "console-session", hex);
}

/* The cookie's session id into the call's state; false when none. */
static bool
console_cookie(struct admin_call *call)
{
	const char *h = admin_header(call, "Cookie");
	struct console_state *st;
	char sid[STRATA_CONSOLE_SID_LEN + 1];

	if (h == NULL || strata_console_cookie(h, sid) != 0)
		return false;
	st = console_state(call);
	memcpy(st->sid, sid, sizeof(sid));
	console_session_key(sid, st->key);
	return true;
}

static void
console_set_cookie(struct admin_call *call, const char *sid, long max_age)
{
	char c[256];

	snprintf(c, sizeof(c), STRATA_CONSOLE_COOKIE "=%s; Path=/; "
	    "Max-Age=%ld; HttpOnly; SameSite=Strict%s", sid, max_age,
	    call->b->cfg.admin_tls ? "; Secure" : "");
	evhttp_add_header(evhttp_request_get_output_headers(call->req),
	    "Set-Cookie", c);
}

/* KEYS: the session; ARGV: key id, user ARN, csrf, created, ttl. */
static const char script_login[] =
    "redis.call('HSET', KEYS[1], 'key', ARGV[1], 'user', ARGV[2], "
    "  'csrf', ARGV[3], 'created', ARGV[4]) "
    "redis.call('EXPIRE', KEYS[1], ARGV[5]) "
    "return 1";

/* The login's answer: the session's cookie and CSRF token. */
static void
console_count_ended(struct admin_call *call, redisReply *reply)
{
	struct console_state *st = call->state;
	json_t *o = json_pack("{s:s, s:s, s:s, s:I}", "user", call->user_arn,
	    "accessKeyId", call->key_id, "csrfToken", st->csrf, "expiresIn",
	    (json_int_t)call->b->cfg.console_session_ttl);

	console_security_headers(call);
	console_set_cookie(call, st->sid, call->b->cfg.console_session_ttl);
	(*call->b->m.console_logins[0])++;
	STRATA_INFO("admin", "console login|identity=%s key=%s source=%s",
	    call->user_arn, call->key_id, call->source);
	admin_reply(call, o);
}

/* The session is made; its address's count of wrong logins is ended
 * (a call of its own: the two keys have different hash tags). */
static void
console_logged_in(struct admin_call *call, redisReply *reply)
{
	struct console_state *st = call->state;

	(void)reply;
	admin_eval(call, "return redis.call('DEL', KEYS[1])", 1, 1,
	    (const char *[]){st->fail_key}, console_count_ended);
}

/* The credential was right: make the session. */
static void
console_login_authenticated(struct admin_call *call)
{
	struct console_state *st = console_state(call);
	char now[24], ttl[24];

	console_random_hex(st->sid, STRATA_CONSOLE_SID_LEN / 2);
	console_random_hex(st->csrf, CONSOLE_CSRF_LEN / 2);
	console_session_key(st->sid, st->key);
	admin_now(now);
	snprintf(ttl, sizeof(ttl), "%ld", call->b->cfg.console_session_ttl);
	call->op = "ConsoleLogin";
	call->refused = NULL;
	admin_eval(call, script_login, 1, 6, (const char *[]){st->key,
	    call->key_id, call->user_arn, st->csrf, now, ttl},
	    console_logged_in);
}

/* ---- the login throttle ---- */

/* KEYS: the address's failures; ARGV: the most.  The milliseconds left
 * of its window when it has had them all, else -1. */
static const char script_throttled[] =
    "local n = tonumber(redis.call('GET', KEYS[1]) or '0') "
    "if n < tonumber(ARGV[1]) then return -1 end "
    "return math.max(redis.call('PTTL', KEYS[1]), 0)";

/* KEYS: the address's failures; ARGV: the window (ms).  The window
 * starts at the first failure and is not extended by the next. */
static const char script_failed[] =
    "local n = redis.call('INCR', KEYS[1]) "
    "if redis.call('PTTL', KEYS[1]) < 0 then "
    "  redis.call('PEXPIRE', KEYS[1], ARGV[1]) end "
    "return n";

static void
console_failure_counted(struct admin_call *call, redisReply *r)
{
	struct console_state *st = call->state;
	const struct broker_config *cfg = &call->b->cfg;
	long long n = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;

	(*call->b->m.console_logins[1])++;
	STRATA_INFO("admin", "console login refused|source=%s failures=%lld "
	    "reason=\"%s\"", call->source, n, st->why);
	if (n == cfg->console_login_max_failures)
		STRATA_WARN("admin", "console logins throttled|source=%s "
		    "failures=%lld window_s=%ld", call->source, n,
		    cfg->console_login_window);
	admin_error(call, 401, "UnauthorizedException", NULL, "%s", st->why);
}

/* admin_auth.c refused the credential: count it, then answer 401. */
static void
console_login_refused(struct admin_call *call, const char *why)
{
	struct console_state *st = console_state(call);
	char ms[24];

	call->refused = NULL;
	snprintf(st->why, sizeof(st->why), "%s", why);
	snprintf(ms, sizeof(ms), "%ld", call->b->cfg.console_login_window *
	    1000);
	admin_eval(call, script_failed, 1, 2, (const char *[]){st->fail_key,
	    ms}, console_failure_counted);
}

static void
console_throttle(struct admin_call *call, long long ms_left)
{
	char secs[24];

	snprintf(secs, sizeof(secs), "%lld", (ms_left + 999) / 1000 > 0 ?
	    (ms_left + 999) / 1000 : 1);
	evhttp_add_header(evhttp_request_get_output_headers(call->req),
	    "Retry-After", secs);
	(*call->b->m.console_logins[2])++;
	admin_error(call, 429, "ThrottlingException", NULL, "too many wrong "
	    "console logins from %s: try again in %s s", call->source, secs);
}

static void console_login_checked(struct admin_call *call, redisReply *r);

/* POST /console/api/login {"token"} or {"accessKeyId",
 * "secretAccessKey"}: Origin, then the throttle, then the body. */
static void
console_login(struct admin_call *call)
{
	struct console_state *st = console_state(call);
	char most[24];

	call->op = "ConsoleLogin";
	if (!console_origin_ok(call, true)) {
		console_refuse_origin(call);
		return;
	}
	broker_registry_key(st->fail_key, "console-login-fail", call->source);
	snprintf(most, sizeof(most), "%ld",
	    call->b->cfg.console_login_max_failures);
	admin_eval(call, script_throttled, 1, 2, (const char *[]){
	    st->fail_key, most}, console_login_checked);
}

static void
console_login_checked(struct admin_call *call, redisReply *r)
{
	const char *token = NULL, *id = NULL, *secret = NULL;

	if (r->type == REDIS_REPLY_INTEGER && r->integer >= 0) {
		console_throttle(call, r->integer);
		return;
	}
	if (!admin_read_body(call))
		return;
	if (call->body == NULL) {
		admin_error(call, 400, "InvalidRequestException", NULL,
		    "login needs {\"token\"} or {\"accessKeyId\", "
		    "\"secretAccessKey\"}");
		return;
	}
	if (!admin_body_string(call, call->body, "token", &token) ||
	    !admin_body_string(call, call->body, "accessKeyId", &id) ||
	    !admin_body_string(call, call->body, "secretAccessKey", &secret))
		return;
	if ((token == NULL) == (secret == NULL) || (id != NULL &&
	    secret == NULL)) {
		admin_error(call, 400, "InvalidRequestException", NULL,
		    "login needs either token, or accessKeyId and "
		    "secretAccessKey");
		return;
	}
	call->refused = console_login_refused;
	admin_authenticate_key(call, id, token != NULL ? token : secret,
	    console_login_authenticated);
}

/* KEYS: the session.  Answers key, user, csrf, ttl ("" when gone). */
static const char script_session[] =
    "local v = redis.call('HMGET', KEYS[1], 'key', 'user', 'csrf') "
    "return {v[1] or '', v[2] or '', v[3] or '', "
    "  tostring(redis.call('TTL', KEYS[1]))}";

/* The session's reply, checked: false after answering 401 / 403. */
static bool
console_session_valid(struct admin_call *call, redisReply *r, bool csrf)
{
	struct console_state *st = call->state;
	const char *h = admin_header(call, "X-CSRF-Token");

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 4 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[0]->str[0] == '\0' ||
	    strlen(r->element[2]->str) != CONSOLE_CSRF_LEN) {
		admin_error(call, 401, "UnauthorizedException", NULL,
		    "console session unknown or expired: log in again");
		return false;
	}
	snprintf(st->csrf, sizeof(st->csrf), "%s", r->element[2]->str);
	if (csrf && (h == NULL || strlen(h) != CONSOLE_CSRF_LEN ||
	    CRYPTO_memcmp(h, st->csrf, CONSOLE_CSRF_LEN) != 0)) {
		admin_error(call, 403, "AccessDeniedException", NULL,
		    "missing or wrong X-CSRF-Token for this console session");
		return false;
	}
	return true;
}

static void
console_session_read(struct admin_call *call, redisReply *r)
{
	json_t *o;

	if (!console_session_valid(call, r, false))
		return;
	o = json_pack("{s:s, s:s, s:s, s:I, s:{s:I, s:I, s:s}, s:b}",
	    "accessKeyId", r->element[0]->str, "user", r->element[1]->str,
	    "csrfToken", r->element[2]->str, "expiresIn",
	    (json_int_t)strtoll(r->element[3]->str, NULL, 10), "mqtt",
	    "wsPort", (json_int_t)call->b->cfg.ws_port, "wssPort",
	    (json_int_t)call->b->cfg.wss_port, "path", call->b->cfg.ws_path,
	    "shadowApi", call->b->admin->shadow_port != 0);
	console_security_headers(call);
	admin_reply(call, o);
}

static void
console_logged_out(struct admin_call *call, redisReply *r)
{
	console_security_headers(call);
	console_set_cookie(call, "deleted", 0);
	admin_reply(call, NULL);
}

static void
console_logout_checked(struct admin_call *call, redisReply *r)
{
	struct console_state *st = call->state;

	if (!console_session_valid(call, r, true))
		return;
	admin_eval(call, "return redis.call('DEL', KEYS[1])", 1, 1,
	    (const char *[]){st->key}, console_logged_out);
}

/* GET /console/api/session, POST /console/api/logout. */
static void
console_session_call(struct admin_call *call, bool logout)
{
	struct console_state *st;

	call->op = logout ? "ConsoleLogout" : "ConsoleSession";
	if (!console_origin_ok(call, logout)) {
		console_refuse_origin(call);
		return;
	}
	if (!console_cookie(call)) {
		admin_error(call, 401, "UnauthorizedException", NULL,
		    "no console session: log in");
		return;
	}
	st = call->state;
	admin_eval(call, script_session, 1, 1, (const char *[]){st->key},
	    logout ? console_logout_checked : console_session_read);
}

static void
console_api(struct admin_call *call, const char *name)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(call->req);

	if (strcmp(name, "login") == 0 && m == EVHTTP_REQ_POST)
		console_login(call);
	else if (strcmp(name, "session") == 0 && m == EVHTTP_REQ_GET)
		console_session_call(call, false);
	else if (strcmp(name, "logout") == 0 && m == EVHTTP_REQ_POST)
		console_session_call(call, true);
	else if (strcmp(name, "login") == 0 || strcmp(name, "session") == 0
	    || strcmp(name, "logout") == 0)
		admin_error(call, 405, "MethodNotAllowedException", NULL,
		    "method not allowed on this path");
	else
		admin_error(call, 404, "ResourceNotFoundException", NULL,
		    "no such console call");
}

bool
admin_console_handle(struct admin_call *call, const char *path)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(call->req);

	if (strcmp(path, "/console") == 0 || strcmp(path, "/") == 0) {
		evhttp_connection_set_closecb(
		    evhttp_request_get_connection(call->req), NULL, NULL);
		evhttp_add_header(h, "Location", "/console/");
		evhttp_send_reply(call->req, 302, "Found", NULL);
		admin_call_free(call);
		return true;
	}
	if (strncmp(path, CONSOLE_API, sizeof(CONSOLE_API) - 1) == 0) {
		snprintf(call->resource, sizeof(call->resource), "*");
		console_api(call, path + sizeof(CONSOLE_API) - 1);
		return true;
	}
	if (strncmp(path, STRATA_CONSOLE_PREFIX,
	    sizeof(STRATA_CONSOLE_PREFIX) - 1) == 0) {
		console_static(call, path);
		return true;
	}
	return false;
}

/* ---- every other admin call made with the cookie ---- */

static void
console_call_checked(struct admin_call *call, redisReply *r)
{
	bool csrf = evhttp_request_get_command(call->req) != EVHTTP_REQ_GET;
	void (*next)(struct admin_call *) = call->next;

	char key[ADMIN_KEY_ID_MAX + 1];

	if (!console_session_valid(call, r, csrf))
		return;
	snprintf(key, sizeof(key), "%s", r->element[0]->str);
	OPENSSL_cleanse(call->state, sizeof(struct console_state));
	free(call->state);   /* the operation's own state goes here */
	call->state = NULL;
	admin_authenticate_key(call, key, NULL, next);
}

bool
admin_console_authenticate(struct admin_call *call,
    void (*next)(struct admin_call *call))
{
	bool unsafe = evhttp_request_get_command(call->req) != EVHTTP_REQ_GET;

	if (!console_cookie(call))
		return false;
	if (!console_origin_ok(call, unsafe)) {
		console_refuse_origin(call);
		return true;
	}
	call->next = next;
	admin_eval(call, script_session, 1, 1,
	    (const char *[]){((struct console_state *)call->state)->key},
	    console_call_checked);
	return true;
}
