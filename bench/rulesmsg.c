/*
 * rulesmsg.c - rules mode messages; see rulesmsg.h.
 */
#include "rulesmsg.h"

#include <stdio.h>
#include <string.h>

#include "shadowmsg.h"

/* ",\"pad\":\"" and the closing quote */
#define RULESMSG_PAD_OVERHEAD 9

size_t
rulesmsg_write(uint8_t *out, size_t cap, uint32_t nonce, uint32_t pub,
    uint32_t seq, uint64_t ts, size_t size)
{
	int head;
	size_t n, pad;

	if (cap < RULESMSG_MIN + size)
		return 0;
	head = snprintf((char *)out, cap,
	    "{\"ts\":%llu,\"device\":\"sb%08x-%u\",\"seq\":%u,"
	    "\"temperature\":%u.5,\"delta\":-%u",
	    (unsigned long long)ts, nonce, pub, seq, 20 + seq % 10,
	    1 + seq % 7);
	if (head < 0 || (size_t)head + 1 > RULESMSG_MIN)
		return 0;
	n = (size_t)head;
	if (size >= n + 1 + RULESMSG_PAD_OVERHEAD) {
		pad = size - n - 1 - RULESMSG_PAD_OVERHEAD;
		memcpy(out + n, ",\"pad\":\"", 8);
		n += 8;
		memset(out + n, 'x', pad);
		n += pad;
		out[n++] = '"';
	}
	out[n++] = '}';
	return n;
}

/* "sb<8 hex>-<pub>" and, with seq, "-<seq>": the whole string. */
static int
rulesmsg_name(const uint8_t *p, int len, struct rulesmsg_id *id, bool seq)
{
	const char *s = (const char *)p, *end = s + len;

	if (len < 3 || s[0] != 's' || s[1] != 'b')
		return -1;
	s += 2;
	if (shadowmsg_number(&s, end, 16, &id->nonce) != 8 || s >= end ||
	    *s++ != '-' || shadowmsg_number(&s, end, 10, &id->pub) < 1)
		return -1;
	if (seq && (s >= end || *s++ != '-' ||
	               shadowmsg_number(&s, end, 10, &id->seq) < 1))
		return -1;
	return s == end ? 0 : -1;
}

int
rulesmsg_read(const uint8_t *p, size_t len, struct rulesmsg_id *id)
{
	const uint8_t *name;
	long ts, seq;
	int n;

	if (shadowmsg_int(p, len, "ts", &ts) != 0 || ts < 0)
		return -1;
	id->ts = (uint64_t)ts;
	n = shadowmsg_string(p, len, "id", &name);
	if (n >= 0)
		return rulesmsg_name(name, n, id, true);
	n = shadowmsg_string(p, len, "device", &name);
	if (n < 0 || rulesmsg_name(name, n, id, false) != 0 ||
	    shadowmsg_int(p, len, "seq", &seq) != 0 || seq < 0 ||
	    seq > (long)UINT32_MAX)
		return -1;
	id->seq = (uint32_t)seq;
	return 0;
}

uint64_t
rulesmsg_expected(uint64_t sent, bool even)
{
	return even ? (sent + 1) / 2 : sent;
}

int
rulesmsg_slot(uint32_t seq, bool even, uint32_t *slot)
{
	if (even && seq % 2)
		return -1;
	*slot = even ? seq / 2 : seq;
	return 0;
}
