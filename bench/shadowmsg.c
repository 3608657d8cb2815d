/*
 * shadowmsg.c - shadow mode messages; see shadowmsg.h.
 */
#include "shadowmsg.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* ",\"pad\":\"" and the closing quote */
#define SHADOWMSG_PAD_OVERHEAD 9

size_t
shadowmsg_token(char *out, uint32_t nonce, uint32_t thing, uint32_t seq)
{
	int n = snprintf(
	    out, SHADOWMSG_TOKEN_BUF, "%08x-%u-%u", nonce, thing, seq);

	return n > 0 ? (size_t)n : 0;
}

static int
msg_digit(char ch, unsigned base)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (base == 16 && ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

int
shadowmsg_number(const char **s, const char *end, unsigned base, uint32_t *v)
{
	uint64_t x = 0;
	int n = 0, d;

	for (; *s < end && (d = msg_digit(**s, base)) >= 0; (*s)++, n++) {
		x = x * base + (unsigned)d;
		if (x > UINT32_MAX)
			return -1;
	}
	*v = (uint32_t)x;
	return n;
}

static int
msg_dash(const char **s, const char *end)
{
	if (*s >= end || **s != '-')
		return -1;
	(*s)++;
	return 0;
}

int
shadowmsg_token_parse(
    const char *s, size_t len, uint32_t *nonce, uint32_t *thing, uint32_t *seq)
{
	const char *end = s + len;

	if (shadowmsg_number(&s, end, 16, nonce) != 8 ||
	    msg_dash(&s, end) != 0 ||
	    shadowmsg_number(&s, end, 10, thing) < 1 ||
	    msg_dash(&s, end) != 0 || shadowmsg_number(&s, end, 10, seq) < 1)
		return -1;
	return s == end ? 0 : -1;
}

size_t
shadowmsg_update(uint8_t *out, size_t cap, uint32_t seq, uint64_t ms,
    const char *token, size_t size)
{
	char tail[SHADOWMSG_TOKEN_BUF + 32];
	int head, tail_len;
	size_t n, pad;

	if (cap < SHADOWMSG_UPDATE_MIN + size ||
	    strlen(token) >= SHADOWMSG_TOKEN_BUF)
		return 0;
	head = snprintf((char *)out, cap,
	    "{\"state\":{\"reported\":{\"seq\":%u,\"t\":%llu", seq,
	    (unsigned long long)ms);
	tail_len =
	    snprintf(tail, sizeof(tail), "}},\"clientToken\":\"%s\"}", token);
	if (head < 0 || tail_len < 0)
		return 0;
	n = (size_t)head;
	if (size >= n + (size_t)tail_len + SHADOWMSG_PAD_OVERHEAD) {
		pad = size - n - (size_t)tail_len - SHADOWMSG_PAD_OVERHEAD;
		memcpy(out + n, ",\"pad\":\"", 8);
		n += 8;
		memset(out + n, 'x', pad);
		n += pad;
		out[n++] = '"';
	}
	memcpy(out + n, tail, (size_t)tail_len);
	return n + (size_t)tail_len;
}

static const uint8_t *
msg_space(const uint8_t *p, const uint8_t *end)
{
	while (
	    p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* Just past the colon of the first member `name`, white space skipped;
 * NULL when there is none.  Each pass moves past a match of the name, so
 * the loop ends within len bytes. */
static const uint8_t *
msg_member(const uint8_t *p, size_t len, const char *name)
{
	const uint8_t *end = p + len, *q = p, *hit;
	size_t name_len = strlen(name);

	while (q < end && name_len > 0 &&
	       (hit = memmem(q, (size_t)(end - q), name, name_len))) {
		q = hit + name_len;
		if (hit == p || hit[-1] != '"' || q >= end || *q != '"')
			continue;
		q = msg_space(q + 1, end);
		if (q < end && *q == ':')
			return msg_space(q + 1, end);
	}
	return NULL;
}

int
shadowmsg_string(
    const uint8_t *p, size_t len, const char *name, const uint8_t **val)
{
	const uint8_t *end = p + len, *q = msg_member(p, len, name), *s;

	if (!q || q >= end || *q != '"')
		return -1;
	for (s = ++q; s < end && *s != '"'; s++)
		if (*s == '\\')
			return -1;
	if (s >= end)
		return -1;
	*val = q;
	return (int)(s - q);
}

int
shadowmsg_int(const uint8_t *p, size_t len, const char *name, long *val)
{
	const uint8_t *end = p + len, *q = msg_member(p, len, name);
	bool negative = false;
	long x = 0;
	int digits = 0;

	if (!q)
		return -1;
	if (q < end && *q == '-') {
		negative = true;
		q++;
	}
	for (; q < end && *q >= '0' && *q <= '9' && digits < 18; q++) {
		x = x * 10 + (*q - '0');
		digits++;
	}
	if (digits == 0 || (q < end && *q >= '0' && *q <= '9'))
		return -1;
	*val = negative ? -x : x;
	return 0;
}
