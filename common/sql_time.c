/*
 * sql_time.c - parse_time() and time_to_epoch(): milliseconds since the
 * epoch to text and back, with the date patterns of Java's
 * SimpleDateFormat that AWS's functions take.
 *
 * Pattern letters (a run of one letter is one field; its length is the
 * width): y year (yy: two digits), M month (MMM "Jan", MMMM "January"),
 * d day, H hour 0-23, h hour 1-12, a AM/PM, m minute, s second, S
 * millisecond, E day of week (EEE "Mon", EEEE "Monday"), Z "+hhmm",
 * X "Z" or "+hh" (XX "+hhmm", XXX "+hh:mm").  Text in single quotes is
 * literal ('' is a quote); other characters than letters are literal.
 * Any other letter makes the result Undefined.  Zones are UTC or a fixed
 * offset: named zones (America/New_York) are not known.
 *
 * Dates are proleptic Gregorian (days_from_civil below: Howard
 * Hinnant's public-domain algorithm), years limited to +-1,000,000.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sql-t.h"

#define TIME_MAX_PATTERN 256
#define TIME_MAX_YEAR 1000000
#define TIME_MS_DAY 86400000LL

static const char *const time_months[] = {"January", "February", "March",
    "April", "May", "June", "July", "August", "September", "October",
    "November", "December"};
static const char *const time_days[] = {"Sunday", "Monday", "Tuesday",
    "Wednesday", "Thursday", "Friday", "Saturday"};

struct time_fields {
	int64_t year;
	int month, day, hour, minute, second, milli;
	int wday;   /* 0 Sunday */
	int offset; /* minutes east of UTC */
};

static int64_t
time_days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void
time_civil_from_days(int64_t z, struct time_fields *f)
{
	int64_t era, doe, yoe, doy, mp;

	f->wday = (int)(((z + 4) % 7 + 7) % 7);
	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	f->day = (int)(doy - (153 * mp + 2) / 5 + 1);
	f->month = (int)(mp < 10 ? mp + 3 : mp - 9);
	f->year = yoe + era * 400 + (f->month <= 2);
}

/* "+hh:mm", "+hhmm", "+hh" (or '-') at s: minutes east; the bytes read
 * in *used; -1 when not an offset. */
static int
time_offset(const char *s, size_t len, size_t *used)
{
	int h, m = 0;
	size_t i = 3;

	if (len < 3 || (s[0] != '+' && s[0] != '-') || !isdigit((unsigned char)s[1]) ||
	    !isdigit((unsigned char)s[2]))
		return -1;
	h = (s[1] - '0') * 10 + (s[2] - '0');
	if (i < len && s[i] == ':')
		i++;
	if (i + 1 < len && isdigit((unsigned char)s[i]) &&
	    isdigit((unsigned char)s[i + 1])) {
		m = (s[i] - '0') * 10 + (s[i + 1] - '0');
		i += 2;
	} else {
		i = 3;
	}
	if (h > 18 || m > 59)
		return -1;
	*used = i;
	return (s[0] == '-' ? -1 : 1) * (h * 60 + m) + 0x10000;
}

/* A zone argument: UTC, GMT, Z or a whole offset; false otherwise. */
static bool
time_zone(const json_t *v, int *offset)
{
	const char *s = json_string_value(v);
	size_t len = json_string_length(v), used;
	int o;

	if (!json_is_string(v))
		return false;
	if (strcasecmp(s, "UTC") == 0 || strcasecmp(s, "GMT") == 0 ||
	    strcmp(s, "Z") == 0) {
		*offset = 0;
		return true;
	}
	if ((o = time_offset(s, len, &used)) < 0 || used != len)
		return false;
	*offset = o - 0x10000;
	return true;
}

/* The next field of a pattern: a letter run (*letter set, *count its
 * length) or literal text copied to lit (*lit_len); false at the end or
 * on an unclosed quote (*bad). */
struct time_token {
	char letter;
	int count;
	char lit[TIME_MAX_PATTERN];
	size_t lit_len;
};

static bool
time_token(const char *p, size_t len, size_t *i, struct time_token *t,
    bool *bad)
{
	t->letter = 0;
	t->count = 0;
	t->lit_len = 0;
	if (*i >= len)
		return false;
	if (isalpha((unsigned char)p[*i])) {
		t->letter = p[*i];
		while (*i < len && p[*i] == t->letter) {
			(*i)++;
			t->count++;
		}
		return true;
	}
	if (p[*i] != '\'') {
		t->lit[t->lit_len++] = p[(*i)++];
		return true;
	}
	if (*i + 1 < len && p[*i + 1] == '\'') {
		t->lit[t->lit_len++] = '\'';
		*i += 2;
		return true;
	}
	for ((*i)++; *i < len; (*i)++) {
		if (p[*i] == '\'' && !(*i + 1 < len && p[*i + 1] == '\''))
			break;
		if (p[*i] == '\'')
			(*i)++;
		t->lit[t->lit_len++] = p[*i];
	}
	*bad = *i >= len;
	(*i)++;
	return !*bad;
}

/* ---- format ------------------------------------------------------------*/

static size_t
time_put_number(char *o, int64_t v, int width)
{
	return (size_t)sprintf(o, "%0*" PRId64, width > 20 ? 20 : width, v);
}

static size_t
time_put_name(char *o, const char *name, int count)
{
	size_t n = count >= 4 ? strlen(name) : 3;

	memcpy(o, name, n);
	return n;
}

static size_t
time_put_zone(char *o, int offset, char letter, int count)
{
	int a = offset < 0 ? -offset : offset;
	char sign = offset < 0 ? '-' : '+';

	if (letter == 'X' && offset == 0)
		return (size_t)sprintf(o, "Z");
	if (letter == 'X' && count == 1)
		return (size_t)sprintf(o, "%c%02d", sign, a / 60);
	if (letter == 'X' && count >= 3)
		return (size_t)sprintf(o, "%c%02d:%02d", sign, a / 60, a % 60);
	return (size_t)sprintf(o, "%c%02d%02d", sign, a / 60, a % 60);
}

/* One letter field of f at o; 0 for a letter that is not known. */
static size_t
time_put_field(char *o, const struct time_fields *f, char letter, int count)
{
	switch (letter) {
	case 'y':
		return count == 2 ? time_put_number(o, (f->year % 100 + 100) % 100, 2)
		                  : time_put_number(o, f->year, count);
	case 'M':
		return count >= 3 ? time_put_name(o, time_months[f->month - 1],
		                        count)
		                  : time_put_number(o, f->month, count);
	case 'd':
		return time_put_number(o, f->day, count);
	case 'H':
		return time_put_number(o, f->hour, count);
	case 'h':
		return time_put_number(o, (f->hour + 11) % 12 + 1, count);
	case 'a':
		return (size_t)sprintf(o, "%s", f->hour < 12 ? "AM" : "PM");
	case 'm':
		return time_put_number(o, f->minute, count);
	case 's':
		return time_put_number(o, f->second, count);
	case 'S':
		return time_put_number(o, f->milli, count);
	case 'E':
		return time_put_name(o, time_days[f->wday], count);
	case 'Z':
	case 'X':
		return time_put_zone(o, f->offset, letter, count);
	}
	return 0;
}

static bool
time_fields_of(int64_t ms, int offset, struct time_fields *f)
{
	int64_t days, rem;

	if (ms > INT64_MAX / 4 || ms < INT64_MIN / 4)
		return false;
	ms += (int64_t)offset * 60000;
	days = ms / TIME_MS_DAY - (ms % TIME_MS_DAY < 0);
	rem = ms - days * TIME_MS_DAY;
	time_civil_from_days(days, f);
	f->hour = (int)(rem / 3600000);
	f->minute = (int)(rem / 60000 % 60);
	f->second = (int)(rem / 1000 % 60);
	f->milli = (int)(rem % 1000);
	f->offset = offset;
	return true;
}

json_t *
sql_time_format(json_t **argv, size_t argc)
{
	char out[TIME_MAX_PATTERN * 24 + 64];
	struct time_fields f;
	struct time_token t;
	const char *p = json_string_value(argv[0]);
	size_t len = json_string_length(argv[0]), i = 0, n = 0, k;
	json_t *ms = sql_cast(argv[1], SQL_TYPE_INT);
	int offset = 0;
	bool bad = false;

	if (!json_is_string(argv[0]) || len > TIME_MAX_PATTERN || ms == NULL ||
	    json_is_boolean(argv[1]) || (argc > 2 && !time_zone(argv[2], &offset)) ||
	    !time_fields_of(json_integer_value(ms), offset, &f)) {
		json_decref(ms);
		return NULL;
	}
	json_decref(ms);
	while (time_token(p, len, &i, &t, &bad)) {
		if (t.letter == 0) {
			memcpy(out + n, t.lit, t.lit_len);
			n += t.lit_len;
		} else if ((k = time_put_field(out + n, &f, t.letter,
		                t.count)) == 0) {
			return NULL;
		} else {
			n += k;
		}
	}
	return bad ? NULL : json_stringn(out, n);
}

/* ---- parse -------------------------------------------------------------*/

struct time_reader {
	const char *s;
	size_t len, pos;
};

/* Digits: exactly width of them when fixed, else 1 to 18. */
static bool
time_read_number(struct time_reader *r, int width, bool fixed, int64_t *v)
{
	size_t n = 0, max = fixed ? (size_t)width : 18;

	*v = 0;
	while (n < max && r->pos < r->len && isdigit((unsigned char)r->s[r->pos])) {
		*v = *v * 10 + (r->s[r->pos++] - '0');
		n++;
	}
	return n > 0 && (!fixed || n == max);
}

/* An English month or day name (full, else its first three letters);
 * its index, or -1. */
static int
time_read_name(struct time_reader *r, const char *const *names, int count)
{
	for (int i = 0; i < count; i++) {
		size_t lens[2] = {strlen(names[i]), 3};

		for (int k = 0; k < 2; k++) {
			if (r->len - r->pos >= lens[k] &&
			    strncasecmp(r->s + r->pos, names[i], lens[k]) == 0) {
				r->pos += lens[k];
				return i;
			}
		}
	}
	return -1;
}

static bool
time_read_zone(struct time_reader *r, struct time_fields *f)
{
	size_t used;
	int o;

	if (r->pos < r->len && r->s[r->pos] == 'Z') {
		r->pos++;
		f->offset = 0;
		return true;
	}
	if ((o = time_offset(r->s + r->pos, r->len - r->pos, &used)) < 0)
		return false;
	r->pos += used;
	f->offset = o - 0x10000;
	return true;
}

/* Read one letter field into f (pm: an 'a' field said PM, -1 none). */
static bool
time_read_field(struct time_reader *r, const struct time_token *t,
    bool fixed, struct time_fields *f, int *pm)
{
	int64_t v;
	int i;

	switch (t->letter) {
	case 'M':
		if (t->count >= 3) {
			i = time_read_name(r, time_months, 12);
			f->month = i + 1;
			return i >= 0;
		}
		break;
	case 'E':
		return time_read_name(r, time_days, 7) >= 0;
	case 'a':
		if (r->len - r->pos < 2)
			return false;
		*pm = strncasecmp(r->s + r->pos, "PM", 2) == 0;
		r->pos += 2;
		return *pm || strncasecmp(r->s + r->pos - 2, "AM", 2) == 0;
	case 'Z':
	case 'X':
		return time_read_zone(r, f);
	case 'y': case 'd': case 'H': case 'h': case 'm': case 's': case 'S':
		break;
	default:
		return false;
	}
	if (!time_read_number(r, t->count, fixed, &v) || v > TIME_MAX_YEAR)
		return false;
	switch (t->letter) {
	case 'y': f->year = t->count == 2 && v < 100 ? 2000 + v : v; break;
	case 'M': f->month = (int)v; break;
	case 'd': f->day = (int)v; break;
	case 'H': case 'h': f->hour = (int)v; break;
	case 'm': f->minute = (int)v; break;
	case 's': f->second = (int)v; break;
	default: f->milli = (int)v; break;
	}
	return true;
}

static bool
time_valid(struct time_fields *f, int pm)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31};
	bool leap = (f->year % 4 == 0 && f->year % 100 != 0) ||
	            f->year % 400 == 0;

	if (pm >= 0 && (f->hour < 1 || f->hour > 12))
		return false;
	if (pm >= 0)
		f->hour = f->hour % 12 + (pm ? 12 : 0);
	return f->month >= 1 && f->month <= 12 && f->day >= 1 &&
	       f->day <= mdays[f->month - 1] &&
	       !(f->month == 2 && f->day == 29 && !leap) && f->hour <= 23 &&
	       f->minute <= 59 && f->second <= 59 && f->milli <= 999;
}

json_t *
sql_time_parse(json_t **argv)
{
	struct time_fields f = {1970, 1, 1, 0, 0, 0, 0, 0, 0};
	struct time_reader r = {json_string_value(argv[0]),
	    json_string_length(argv[0]), 0};
	const char *p = json_string_value(argv[1]);
	size_t len = json_string_length(argv[1]), i = 0;
	struct time_token t;
	bool bad = false, fixed;
	int pm = -1;

	if (!json_is_string(argv[0]) || !json_is_string(argv[1]) ||
	    len > TIME_MAX_PATTERN)
		return NULL;
	while (!bad && time_token(p, len, &i, &t, &bad)) {
		fixed = i < len && isalpha((unsigned char)p[i]);
		if (t.letter != 0)
			bad = !time_read_field(&r, &t, fixed, &f, &pm);
		else if (r.len - r.pos < t.lit_len ||
		         memcmp(r.s + r.pos, t.lit, t.lit_len) != 0)
			bad = true;
		else
			r.pos += t.lit_len;
	}
	if (bad || r.pos != r.len || !time_valid(&f, pm))
		return NULL;
	return json_integer(
	    ((time_days_from_civil(f.year, f.month, f.day) * 24 + f.hour) * 60 +
	        f.minute - f.offset) * 60000LL +
	    f.second * 1000LL + f.milli);
}
