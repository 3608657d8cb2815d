/*
 * cbor.c - CBOR to and from jansson values (cbor.h has the subset).
 *
 * Decoding reads through one cursor {p, len, off} whose every read checks
 * its bounds; a length from the input is compared with the bytes left
 * before anything is allocated for it, so an item cannot claim more than
 * the input holds.  Encoding computes the size first, allocates once,
 * then writes.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbor.h"

struct cbor_in {
	const uint8_t *p;
	size_t len, off;
	char *err;
	size_t errlen;
	int depth;
};

static json_t *cbor_item(struct cbor_in *in);

static json_t *
cbor_fail(struct cbor_in *in, const char *what)
{
	snprintf(in->err, in->errlen, "CBOR at byte %zu: %s", in->off, what);
	return NULL;
}

/* The head's argument (major type's count or value) after its initial
 * byte ib; false at the end of input or a reserved / indefinite one. */
static bool
cbor_arg(struct cbor_in *in, uint8_t ib, uint64_t *arg)
{
	uint8_t info = ib & 0x1f;
	size_t n;

	if (info < 24) {
		*arg = info;
		return true;
	}
	if (info > 27)
		return false;
	n = (size_t)1 << (info - 24);
	if (in->len - in->off < n)
		return false;
	*arg = 0;
	for (size_t i = 0; i < n; i++)
		*arg = *arg << 8 | in->p[in->off++];
	return true;
}

static json_t *
cbor_text(struct cbor_in *in, uint64_t n)
{
	json_t *s;

	if (n > in->len - in->off)
		return cbor_fail(in, "a text string longer than the input");
	s = json_stringn((const char *)in->p + in->off, (size_t)n);
	if (s == NULL)
		return cbor_fail(in, "a text string that is not UTF-8");
	in->off += (size_t)n;
	return s;
}

static json_t *
cbor_array(struct cbor_in *in, uint64_t n)
{
	json_t *a, *v;

	/* each element takes at least one byte */
	if (n > in->len - in->off)
		return cbor_fail(in, "an array longer than the input");
	a = json_array();
	for (uint64_t i = 0; i < n; i++) {
		if ((v = cbor_item(in)) == NULL) {
			json_decref(a);
			return NULL;
		}
		json_array_append_new(a, v);
	}
	return a;
}

static json_t *
cbor_map(struct cbor_in *in, uint64_t n)
{
	json_t *o, *k, *v;
	uint64_t klen;
	uint8_t ib;

	if (n > (in->len - in->off) / 2)
		return cbor_fail(in, "a map longer than the input");
	o = json_object();
	for (uint64_t i = 0; i < n; i++) {
		if (in->off >= in->len || ((ib = in->p[in->off++]) >> 5) != 3 ||
		    !cbor_arg(in, ib, &klen) || (k = cbor_text(in, klen)) ==
		    NULL) {
			json_decref(o);
			return in->err[0] != '\0' ? NULL :
			    cbor_fail(in, "a map key that is not a text string");
		}
		if (json_object_get(o, json_string_value(k)) != NULL ||
		    json_string_length(k) != strlen(json_string_value(k))) {
			json_decref(k);
			json_decref(o);
			return cbor_fail(in, "a duplicate map key (or one with "
			    "a NUL)");
		}
		if ((v = cbor_item(in)) == NULL) {
			json_decref(k);
			json_decref(o);
			return NULL;
		}
		json_object_set_new(o, json_string_value(k), v);
		json_decref(k);
	}
	return o;
}

/* A half-precision float (RFC 8949 appendix D). */
static double
cbor_half(uint16_t h)
{
	int e = (h >> 10) & 0x1f, m = h & 0x3ff;
	double v = e == 0 ? ldexp(m, -24) : e != 31 ? ldexp(m + 1024, e - 25) :
	    m == 0 ? INFINITY : NAN;

	return (h & 0x8000) ? -v : v;
}

static json_t *
cbor_simple(struct cbor_in *in, uint8_t ib, uint64_t arg)
{
	uint32_t f32;
	float f;
	double d;

	switch (ib & 0x1f) {
	case 20:
		return json_false();
	case 21:
		return json_true();
	case 22:
		return json_null();
	case 25:
		d = cbor_half((uint16_t)arg);
		break;
	case 26:
		f32 = (uint32_t)arg;
		memcpy(&f, &f32, sizeof(f));
		d = f;
		break;
	case 27:
		memcpy(&d, &arg, sizeof(d));
		break;
	default:
		return cbor_fail(in, "a simple value other than false, true, "
		    "null or a float");
	}
	if (!isfinite(d))
		return cbor_fail(in, "a float that is not finite");
	return json_real(d);
}

static json_t *
cbor_head(struct cbor_in *in, uint8_t ib, uint64_t arg)
{
	switch (ib >> 5) {
	case 0:
		if (arg > INT64_MAX)
			return cbor_fail(in, "an integer over 2^63 - 1");
		return json_integer((json_int_t)arg);
	case 1:
		if (arg > INT64_MAX)
			return cbor_fail(in, "an integer under -2^63");
		return json_integer(-1 - (json_int_t)arg);
	case 3:
		return cbor_text(in, arg);
	case 4:
		return cbor_array(in, arg);
	case 5:
		return cbor_map(in, arg);
	case 7:
		return cbor_simple(in, ib, arg);
	default:
		return cbor_fail(in, "a byte string or a tag");
	}
}

static json_t *
cbor_item(struct cbor_in *in)
{
	uint64_t arg;
	uint8_t ib;
	json_t *v;

	if (in->off >= in->len)
		return cbor_fail(in, "the input ends inside an item");
	ib = in->p[in->off++];
	if (!cbor_arg(in, ib, &arg))
		return cbor_fail(in, "an indefinite length, a reserved value "
		    "or the input ending inside a head");
	if (++in->depth > STRATA_CBOR_MAX_DEPTH) {
		in->depth--;
		return cbor_fail(in, "nesting deeper than 32");
	}
	v = cbor_head(in, ib, arg);
	in->depth--;
	return v;
}

json_t *
strata_cbor_decode(const uint8_t *p, size_t len, char *err, size_t errlen)
{
	struct cbor_in in = {p, len, 0, err, errlen, 0};
	json_t *v;

	err[0] = '\0';
	v = cbor_item(&in);
	if (v != NULL && in.off != len) {
		json_decref(v);
		return cbor_fail(&in, "bytes after the data item");
	}
	return v;
}

/* ---- encoding ---- */

/* Size of a head with argument arg. */
static size_t
cbor_head_size(uint64_t arg)
{
	return arg < 24 ? 1 : arg <= 0xff ? 2 : arg <= 0xffff ? 3 :
	    arg <= 0xffffffffu ? 5 : 9;
}

/* Write the head (major type mt, argument arg) at out, if out; its size. */
static size_t
cbor_put_head(uint8_t *out, uint8_t mt, uint64_t arg)
{
	size_t n = cbor_head_size(arg), bytes = n - 1;

	if (out == NULL)
		return n;
	if (n == 1) {
		out[0] = (uint8_t)(mt << 5 | arg);
		return 1;
	}
	out[0] = (uint8_t)(mt << 5 | (bytes == 1 ? 24 : bytes == 2 ? 25 :
	    bytes == 4 ? 26 : 27));
	for (size_t i = 0; i < bytes; i++)
		out[n - 1 - i] = (uint8_t)(arg >> (8 * i));
	return n;
}

static size_t
cbor_put_text(uint8_t *out, const char *s, size_t len)
{
	size_t n = cbor_put_head(out, 3, len);

	if (out != NULL)
		memcpy(out + n, s, len);
	return n + len;
}

/* Write v at out (NULL: only measure); its size. */
static size_t
cbor_put(uint8_t *out, const json_t *v)
{
	size_t n = 0, i;
	const char *k;
	const json_t *e;
	json_int_t iv;
	double d;
	uint64_t bits;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		n = cbor_put_head(out, 5, json_object_size(v));
		json_object_foreach((json_t *)v, k, e) {
			n += cbor_put_text(out ? out + n : NULL, k, strlen(k));
			n += cbor_put(out ? out + n : NULL, e);
		}
		return n;
	case JSON_ARRAY:
		n = cbor_put_head(out, 4, json_array_size(v));
		json_array_foreach(v, i, e)
			n += cbor_put(out ? out + n : NULL, e);
		return n;
	case JSON_STRING:
		return cbor_put_text(out, json_string_value(v),
		    json_string_length(v));
	case JSON_INTEGER:
		iv = json_integer_value(v);
		return iv >= 0 ? cbor_put_head(out, 0, (uint64_t)iv) :
		    cbor_put_head(out, 1, (uint64_t)(-1 - iv));
	case JSON_REAL:
		if (out != NULL) {
			d = json_real_value(v);
			memcpy(&bits, &d, sizeof(bits));
			out[0] = 0xfb;
			for (i = 0; i < 8; i++)
				out[8 - i] = (uint8_t)(bits >> (8 * i));
		}
		return 9;
	default:
		if (out != NULL)
			out[0] = json_is_true(v) ? 0xf5 : json_is_false(v) ?
			    0xf4 : 0xf6;
		return 1;
	}
}

uint8_t *
strata_cbor_encode(const json_t *v, size_t *len)
{
	uint8_t *out;

	*len = cbor_put(NULL, v);
	out = malloc(*len > 0 ? *len : 1);
	if (out == NULL)
		abort();
	cbor_put(out, v);
	return out;
}
