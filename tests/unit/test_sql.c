/*
 * test_sql.c - the rules SQL engine: tables of statements run against a
 * message, of statements refused with their line and column, and of
 * substitution templates; then the limits (payload size, value size,
 * nesting, runaway regular expressions) and the lifetime of results.
 *
 * Every statement runs on topic "dev/d1/temp", client "c1", principal
 * "p1", trace "t-1", at 1700000000123 ms (2023-11-14T22:13:20.123Z).
 * Payloads and expected outputs are JSON written with single quotes
 * (turned into double quotes; a backquote stands for a real single
 * quote); a payload starting with '!' is the raw bytes after the '!';
 * NULL is the default payload DOC below.  Expected: an output object,
 * or FILTERED (WHERE was not true), FAILED (an evaluation error), RAW
 * (the payload itself, for SELECT * of a payload that is not an object).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sql.h"

#define TOPIC "dev/d1/temp"
#define NOW 1700000000123LL
#define FILTERED "FILTERED"
#define FAILED "FAILED"
#define RAW "RAW"

#define DOC                                                                   \
	"{'a':1,'b':2.5,'s':'Hello','t':'  pad  ','n':null,"                  \
	"'o':{'x':{'y':7},'z':[1,2,3]},'arr':[10,20,30],'bt':'true',"         \
	"'num':'42','f':10.0,'e':'','pat':'^H','h':'h\xc3\xa9llo'}"

struct row {
	const char *sql; /* "SELECT" ... "FROM 'dev/#'" added when no FROM */
	const char *payload;
	const char *want;
};

static const struct row rows[] = {
    /* SELECT, FROM, names */
    {"SELECT * FROM 'dev/+/temp'", NULL, DOC},
    {"SELECT a FROM 'dev/#'", NULL, "{'a':1}"},
    {"select a from 'dev/#' where a = 1", NULL, "{'a':1}"},
    {"SeLeCt a As x FrOm 'dev/#'", NULL, "{'x':1}"},
    {"SELECT a AS x, b", NULL, "{'x':1,'b':2.5}"},
    {"SELECT a x", NULL, "{'x':1}"},
    {"SELECT \"a\"", NULL, "{'a':1}"},
    {"SELECT o.x.y", NULL, "{'y':7}"},
    {"SELECT o.z[1] AS v", NULL, "{'v':2}"},
    {"SELECT arr[0] AS v", NULL, "{'v':10}"},
    {"SELECT arr[-1] AS v", NULL, "{}"},
    {"SELECT arr[5] AS v", NULL, "{}"},
    {"SELECT arr['x'] AS v", NULL, "{}"},
    {"SELECT o['z'] AS v", NULL, "{'v':[1,2,3]}"},
    {"SELECT a.b AS v", NULL, "{}"},
    {"SELECT missing", NULL, "{}"},
    {"SELECT n", NULL, "{'n':null}"},
    {"SELECT f", NULL, "{'f':10}"},
    {"SELECT o.*", NULL, "{'x':{'y':7},'z':[1,2,3]}"},
    {"SELECT o.x.*, a", NULL, "{'y':7,'a':1}"},
    {"SELECT a.*", NULL, "{}"},
    {"SELECT *, topic() AS t", "{'a':1}", "{'a':1,'t':'dev/d1/temp'}"},
    {"SELECT topic()", NULL, "{'topic':'dev/d1/temp'}"},
    {"SELECT upper(s)", NULL, "{'upper':'HELLO'}"},
    {"SELECT isUndefined(missing)", NULL, "{'isUndefined':true}"},
    {"SELECT cast(a AS String)", NULL, "{'cast':'1'}"},
    {"SELECT 1 + 1", NULL, "{'_1':2}"},
    {"SELECT a, 'x', arr[0]", NULL, "{'a':1,'_2':'x','_3':10}"},
    {"SELECT a AS x, b AS x", NULL, "{'x':2.5}"},
    {"SELECT get(*, 'a') AS v", NULL, "{'v':1}"},
    /* literals */
    {"SELECT true AS t, false AS f, NULL AS n", NULL,
        "{'t':true,'f':false,'n':null}"},
    {"SELECT 'it''s' AS v", NULL, "{'v':'it`s'}"},
    {"SELECT 'a\\'b\\\\c\\d' AS v", NULL, "{'v':'a`b\\\\c\\\\d'}"},
    {"SELECT 1.5e2 AS v, 2E-1 AS w, 7.0 AS x", NULL,
        "{'v':150.0,'w':0.2,'x':7.0}"},
    {"SELECT 9223372036854775808 AS v", NULL,
        "{'v':9.2233720368547758e18}"},
    {"SELECT {'k': a, 'm': missing, n: 1, \"q\": s} AS v", NULL,
        "{'v':{'k':1,'n':1,'q':'Hello'}}"},
    {"SELECT [1, 'x', missing, null, [2]] AS v", NULL,
        "{'v':[1,'x',null,[2]]}"},
    {"SELECT {} AS o, [] AS a", NULL, "{'o':{},'a':[]}"},
    {"SELECT {'k': {'j': [a]}}.k.j[0] AS v", NULL, "{'v':1}"},
    {"SELECT 'h\xc3\xa9' AS v", NULL, "{'v':'h\xc3\xa9'}"},
    /* arithmetic */
    {"SELECT 1 + 2 AS v", NULL, "{'v':3}"},
    {"SELECT 1 + 2.5 AS v", NULL, "{'v':3.5}"},
    {"SELECT '1' + 2 AS v", NULL, "{'v':3.0}"},
    {"SELECT num * 2 AS v", NULL, "{'v':84.0}"},
    {"SELECT 'x' + 2 AS v", NULL, "{}"},
    {"SELECT s + 's' AS v", NULL, "{}"},
    {"SELECT true + 1 AS v", NULL, "{}"},
    {"SELECT arr + 1 AS v", NULL, "{}"},
    {"SELECT 5 - 7 AS v", NULL, "{'v':-2}"},
    {"SELECT 3 * 4 AS v, b * 2 AS w", NULL, "{'v':12,'w':5.0}"},
    {"SELECT 7 / 2 AS v", NULL, "{'v':3}"},
    {"SELECT -7 / 2 AS v", NULL, "{'v':-3}"},
    {"SELECT 7.0 / 2 AS v", NULL, "{'v':3.5}"},
    {"SELECT 7 % 3 AS v, -7 % 3 AS w", NULL, "{'v':1,'w':-1}"},
    {"SELECT 7.5 % 2 AS v", NULL, "{'v':1.5}"},
    {"SELECT 1 / 0 AS v, 1 % 0 AS w, 1.5 / 0 AS x", NULL, "{}"},
    {"SELECT -a AS v, -b AS w, -'3' AS x, -s AS y", NULL,
        "{'v':-1,'w':-2.5,'x':-3.0}"},
    {"SELECT - - a AS v", NULL, "{'v':1}"},
    {"SELECT 9223372036854775807 + 1 AS v", NULL,
        "{'v':9.2233720368547758e18}"},
    {"SELECT a + missing AS v, a + n AS w", NULL, "{}"},
    {"SELECT 1 + 2 * 3 AS v, (1 + 2) * 3 AS w", NULL, "{'v':7,'w':9}"},
    {"SELECT 10 - 2 - 3 AS v, 2 * 3 % 4 AS w", NULL, "{'v':5,'w':2}"},
    {"SELECT f + 1 AS v", NULL, "{'v':11}"},
    /* comparison */
    {"SELECT 1 < 2 AS a, 2 <= 2 AS b, 3 > 4 AS c, 3 >= 4 AS d", NULL,
        "{'a':true,'b':true,'c':false,'d':false}"},
    {"SELECT '10' > 9 AS v", NULL, "{'v':true}"},
    {"SELECT 'b' > 'a' AS v", NULL, "{}"},
    {"SELECT 1 = 1.0 AS a, 'a' = 'a' AS b, '1' = 1 AS c", NULL,
        "{'a':true,'b':true,'c':false}"},
    {"SELECT 1 <> 2 AS a, 1 != 1 AS b", NULL, "{'a':true,'b':false}"},
    {"SELECT o = {'x': {'y': 7}, 'z': [1, 2, 3]} AS v", NULL,
        "{'v':true}"},
    {"SELECT arr = [10, 20, 30] AS v, arr = [10] AS w", NULL,
        "{'v':true,'w':false}"},
    {"SELECT n = NULL AS v, n = 0 AS w", NULL, "{'v':true,'w':false}"},
    {"SELECT missing = 1 AS v, missing <> 1 AS w", NULL, "{}"},
    {"SELECT 2.5 < b AS v, b < 3 AS w", NULL, "{'v':false,'w':true}"},
    /* logic */
    {"SELECT true AND false AS a, true OR false AS b, NOT true AS c",
        NULL, "{'a':false,'b':true,'c':false}"},
    {"SELECT 'TRUE' AND true AS a, bt OR false AS b, NOT 'False' AS c",
        NULL, "{'a':true,'b':true,'c':true}"},
    {"SELECT 1 AND true AS a, missing OR true AS b, NOT s AS c", NULL,
        "{}"},
    {"SELECT NOT NOT true AS v", NULL, "{'v':true}"},
    {"SELECT true OR false AND false AS v", NULL, "{'v':true}"},
    {"SELECT NOT 1 = 2 AS v", NULL, "{'v':true}"},
    /* IN, CONTAINS */
    {"SELECT 2 IN [1, 2, 3] AS a, 'b' IN ['a'] AS b, 20 IN arr AS c",
        NULL, "{'a':true,'b':false,'c':true}"},
    {"SELECT 1.0 IN [1] AS a, [2] IN [[2]] AS b", NULL,
        "{'a':true,'b':true}"},
    {"SELECT a IN 5 AS a, missing IN arr AS b", NULL, "{}"},
    {"SELECT arr CONTAINS 20 AS a, s CONTAINS 'ell' AS b, "
     "s CONTAINS 'z' AS c, 5 CONTAINS 5 AS d",
        NULL, "{'a':true,'b':true,'c':false}"},
    /* CASE */
    {"SELECT CASE a WHEN 1 THEN 'one' WHEN 2 THEN 'two' ELSE 'many' END "
     "AS v",
        NULL, "{'v':'one'}"},
    {"SELECT CASE 3 WHEN 1 THEN 'one' ELSE 'many' END AS v", NULL,
        "{'v':'many'}"},
    {"SELECT CASE 3 WHEN 1 THEN 'x' END AS v", NULL, "{}"},
    {"SELECT CASE WHEN a > 0 THEN 'pos' ELSE 'neg' END AS v", NULL,
        "{'v':'pos'}"},
    {"SELECT CASE WHEN missing > 0 THEN 1 ELSE 2 END AS v", NULL,
        "{'v':2}"},
    {"SELECT CASE missing WHEN 1 THEN 1 ELSE 2 END AS v", NULL,
        "{'v':2}"},
    {"SELECT case when b = 2.5 then upper(s) end AS v", NULL,
        "{'v':'HELLO'}"},
    /* WHERE */
    {"SELECT a FROM 'dev/#' WHERE a = 2", NULL, FILTERED},
    {"SELECT a FROM 'dev/#' WHERE missing = 1", NULL, FILTERED},
    {"SELECT a FROM 'dev/#' WHERE missing <> 1", NULL, FILTERED},
    {"SELECT a FROM 'dev/#' WHERE NOT (missing = 1)", NULL, FILTERED},
    {"SELECT a FROM 'dev/#' WHERE isUndefined(missing)", NULL, "{'a':1}"},
    {"SELECT a FROM 'dev/#' WHERE n = NULL", NULL, "{'a':1}"},
    {"SELECT a FROM 'dev/#' WHERE a > 0 AND s = 'Hello'", NULL,
        "{'a':1}"},
    {"SELECT a FROM 'dev/#' WHERE 'true'", NULL, "{'a':1}"},
    {"SELECT a FROM 'dev/#' WHERE 1", NULL, FILTERED},
    {"SELECT a FROM 'dev/#' WHERE a", NULL, FILTERED},
    {"SELECT missing FROM 'dev/#' WHERE true", NULL, "{}"},
    /* message functions */
    {"SELECT topic(1) AS a, topic(2) AS b, topic(3) AS c, topic(4) AS d, "
     "topic(0) AS e, topic('2') AS f",
        NULL, "{'a':'dev','b':'d1','c':'temp','f':'d1'}"},
    {"SELECT clientid() AS c, principal() AS p, timestamp() AS t, "
     "traceid() AS i",
        NULL, "{'c':'c1','p':'p1','t':1700000000123,'i':'t-1'}"},
    {"SELECT length(newuuid()) AS n, regexp_matches(newuuid(), "
     "'^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
     "[0-9a-f]{12}$') AS v",
        NULL, "{'n':36,'v':true}"},
    {"SELECT newuuid() = newuuid() AS v", NULL, "{'v':false}"},
    {"SELECT get_thing_shadow('lamp', 'arn:aws:iam::1:role/r') AS v",
        NULL, "{'v':{'state':{'reported':{'on':true}}}}"},
    {"SELECT get_thing_shadow('lamp', 'arn', 'cfg') AS v", NULL,
        "{'v':{'state':{'desired':{'x':1}}}}"},
    {"SELECT get_thing_shadow('none', 'arn') AS v", NULL, "{}"},
    {"SELECT get_thing_shadow('lamp', 'arn').state.reported.on AS on",
        NULL, "{'on':true}"},
    {"SELECT get_thing_shadow(a, 'arn') AS v", NULL, "{}"},
    /* encode, decode */
    {"SELECT encode(*, 'base64') AS v", "!hello", "{'v':'aGVsbG8='}"},
    {"SELECT encode(*, 'base64') AS v", "{'a':1}", "{'v':'eyJhIjoxfQ=='}"},
    {"SELECT encode(s, 'base64') AS v, encode(a, 'base64') AS w", NULL,
        "{'v':'SGVsbG8=','w':'MQ=='}"},
    {"SELECT encode(s, 'hex') AS v, encode(n, 'base64') AS w", NULL,
        "{}"},
    {"SELECT decode('SGVsbG8=', 'base64') AS v, decode('SGVsbG8', "
     "'base64') AS w",
        NULL, "{'v':'Hello','w':'Hello'}"},
    {"SELECT decode('!!', 'base64') AS v, decode('/w==', 'base64') AS w, "
     "decode(a, 'base64') AS x",
        NULL, "{}"},
    {"SELECT decode(encode(s, 'base64'), 'base64') AS v", NULL,
        "{'v':'Hello'}"},
    /* cast */
    {"SELECT cast(b AS Int) AS a, cast(-2.5 AS Int) AS b, "
     "cast('42' AS Int) AS c, cast(true AS Int) AS d, cast(7 AS Int) AS e",
        NULL, "{'a':2,'b':-3,'c':42,'d':1,'e':7}"},
    {"SELECT cast(a AS Decimal) AS a, cast(false AS Decimal) AS b, "
     "cast('x' AS Decimal) AS c, cast('1e3' AS decimal) AS d",
        NULL, "{'a':1.0,'b':0.0,'d':1000.0}"},
    {"SELECT cast(0 AS Boolean) AS a, cast(2.5 AS Boolean) AS b, "
     "cast('TRUE' AS Boolean) AS c, cast('yes' AS Boolean) AS d",
        NULL, "{'a':false,'b':true,'c':true}"},
    {"SELECT cast(b AS String) AS a, cast(true AS String) AS b, "
     "cast(o.z AS String) AS c, cast(n AS String) AS d, "
     "cast(1.0 AS string) AS e, cast(o AS String) AS f",
        NULL,
        "{'a':'2.5','b':'true','c':'[1,2,3]','e':'1.0',"
        "'f':'{\\'x\\':{\\'y\\':7},\\'z\\':[1,2,3]}'}"},
    {"SELECT cast(arr AS Int) AS a, cast(missing AS Int) AS b", NULL,
        "{}"},
    /* numbers */
    {"SELECT abs(-5) AS a, abs(-2.5) AS b, abs('-5.5') AS c, abs('x') AS d",
        NULL, "{'a':5,'b':2.5,'c':5.5}"},
    {"SELECT ceil(1.2) AS a, ceil(-1.2) AS b, floor(1.8) AS c, "
     "floor(-1.2) AS d, ceil(3) AS e",
        NULL, "{'a':2,'b':-1,'c':1,'d':-2,'e':3}"},
    {"SELECT round(1.5) AS a, round(-1.5) AS b, round(1.4) AS c, "
     "round(7) AS d, round('2.6') AS e",
        NULL, "{'a':2,'b':-2,'c':1,'d':7,'e':3}"},
    {"SELECT mod(8, 3) AS a, mod(-8, 3) AS b, mod(8, 0) AS c, "
     "mod(7.5, 2) AS d",
        NULL, "{'a':2,'b':-2,'d':1.5}"},
    {"SELECT power(2, 3) AS a, power(2, -1) AS b, sqrt(16) AS c, "
     "sqrt(-1) AS d",
        NULL, "{'a':8.0,'b':0.5,'c':4.0}"},
    {"SELECT ln(1) AS a, log(100) AS b, log(0) AS c, ln(-1) AS d", NULL,
        "{'a':0.0,'b':2.0}"},
    /* strings */
    {"SELECT lower('HeLLo') AS a, upper(s) AS b, lower(5) AS c, "
     "upper('h\xc3\xa9') AS d",
        NULL, "{'a':'hello','b':'HELLO','c':'5','d':'H\xc3\xa9'}"},
    {"SELECT concat('a', 'b', 'c') AS a, concat(s, 1) AS b, concat(s) AS c",
        NULL, "{'a':'abc','b':'Hello1','c':'Hello'}"},
    {"SELECT concat(arr, 40) AS a, concat([1], [2, 3]) AS b", NULL,
        "{'a':[10,20,30,40],'b':[1,2,3]}"},
    {"SELECT concat(s, missing) AS a, concat(s, n) AS b", NULL, "{}"},
    {"SELECT substring('012345', 0) AS a, substring('012345', 2) AS b, "
     "substring('012345', 2.745) AS c, substring(123, 2) AS d",
        NULL, "{'a':'012345','b':'2345','c':'2345','d':'3'}"},
    {"SELECT substring('012345', -1) AS a, substring('012345', 100) AS b, "
     "substring('012345', 2, 4) AS c, substring('012345', 2, 100) AS d, "
     "substring('012345', 3, 1) AS e",
        NULL, "{'a':'012345','b':'','c':'23','d':'2345','e':''}"},
    {"SELECT substring(h, 1, 3) AS a, substring(s, 'x') AS b", NULL,
        "{'a':'\xc3\xa9l'}"},
    {"SELECT startswith(s, 'He') AS a, startswith(s, 'he') AS b, "
     "endswith(s, 'llo') AS c, endswith('a', 'abc') AS d",
        NULL, "{'a':true,'b':false,'c':true,'d':false}"},
    {"SELECT indexof(s, 'l') AS a, indexof(s, 'z') AS b, "
     "indexof(h, 'l') AS c, indexof(s, '') AS d",
        NULL, "{'a':2,'b':-1,'c':2,'d':0}"},
    {"SELECT length(s) AS a, length(h) AS b, length(a) AS c, "
     "length(e) AS d, length(n) AS x",
        NULL, "{'a':5,'b':5,'c':1,'d':0}"},
    {"SELECT trim(t) AS a, ltrim(t) AS b, rtrim(t) AS c, trim(e) AS d",
        NULL, "{'a':'pad','b':'pad  ','c':'  pad','d':''}"},
    {"SELECT replace('abcabc', 'b', 'X') AS a, replace('abc', '', '-') AS "
     "b, replace(s, 'z', 'y') AS c, replace(h, '', '.') AS d",
        NULL,
        "{'a':'aXcaXc','b':'-a-b-c-','c':'Hello','d':'.h.\xc3\xa9.l.l.o.'}"},
    /* regular expressions */
    {"SELECT regexp_matches(s, 'l+') AS a, regexp_matches(s, '^l') AS b, "
     "regexp_matches(h, '^h.llo$') AS c",
        NULL, "{'a':true,'b':false,'c':true}"},
    {"SELECT regexp_replace('abc123', '[0-9]', '#') AS a, "
     "regexp_replace('2024-01', '(\\d+)-(\\d+)', '$2/$1') AS b, "
     "regexp_replace(s, 'z', 'y') AS c",
        NULL, "{'a':'abc###','b':'01/2024','c':'Hello'}"},
    {"SELECT regexp_substr('hihello', 'h(.)') AS a, "
     "regexp_substr(s, 'z') AS b, regexp_substr(a, '[0-9]') AS c",
        NULL, "{'a':'hi','b':'','c':'1'}"},
    {"SELECT regexp_matches(s, pat) AS a, regexp_matches(s, missing) AS b, "
     "regexp_matches(s, 5) AS c",
        NULL, "{'a':true,'c':false}"},
    {"SELECT regexp_matches(s, p) AS v", "{'s':'a','p':'('}", FAILED},
    {"SELECT a FROM 'dev/#' WHERE regexp_matches(s, '(a|aa)+$')",
        "{'s':'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!'}",
        FAILED},
    {"SELECT regexp_replace('aaa', '', '-') AS v", NULL,
        "{'v':'-a-a-a-'}"},
    /* types */
    {"SELECT isUndefined(missing) AS a, isUndefined(a) AS b, isNull(n) AS "
     "c, isNull(missing) AS d",
        NULL, "{'a':true,'b':false,'c':true,'d':false}"},
    {"SELECT isString(s) AS a, isString(a) AS b, isNumber(b) AS c, "
     "isNumber(num) AS d, isNumber(a) AS e",
        NULL, "{'a':true,'b':false,'c':true,'d':false,'e':true}"},
    {"SELECT isBoolean(true) AS a, isBoolean(bt) AS b, isObject(o) AS c, "
     "isArray(arr) AS d, isArray(o) AS e, isObject(missing) AS f",
        NULL,
        "{'a':true,'b':false,'c':true,'d':true,'e':false,'f':false}"},
    {"SELECT get(arr, 1) AS a, get(arr, 5) AS b, get(o, 'z') AS c, "
     "get('abc', 1) AS d, get(arr, -1) AS e, get(h, 1) AS f",
        NULL, "{'a':20,'c':[1,2,3],'d':'b','f':'\xc3\xa9'}"},
    /* time */
    {"SELECT parse_time('yyyy-MM-dd''T''HH:mm:ss.SSSZ', timestamp()) AS v",
        NULL, "{'v':'2023-11-14T22:13:20.123+0000'}"},
    {"SELECT parse_time('yyyy-MM-dd HH:mm', 1700000000123, '+01:00') AS a, "
     "parse_time('HH:mm X', 1700000000123, '-0530') AS b",
        NULL, "{'a':'2023-11-14 23:13','b':'16:43 -05'}"},
    {"SELECT parse_time('EEE, d MMM yyyy', 0) AS a, "
     "parse_time('EEEE MMMM', 0) AS b, parse_time('hh:mm a', "
     "1700000000123) AS c",
        NULL,
        "{'a':'Thu, 1 Jan 1970','b':'Thursday January','c':'10:13 PM'}"},
    {"SELECT parse_time('yy/M/d', 0) AS a, parse_time('XXX', 0, "
     "'-05:30') AS b, parse_time('X', 0) AS c, parse_time('yyyy-MM-dd', "
     "-86400000) AS d",
        NULL, "{'a':'70/1/1','b':'-05:30','c':'Z','d':'1969-12-31'}"},
    {"SELECT parse_time('yyyy', 0, 'America/New_York') AS a, "
     "parse_time('Q', 0) AS b, parse_time('''x', 0) AS c, "
     "parse_time('yyyy', 'x') AS d",
        NULL, "{}"},
    {"SELECT parse_time('yyyy', '86400000000') AS a, parse_time(''''' "
     "''at'' HH', 0, 'UTC') AS b",
        NULL, "{'a':'1972','b':'` at 00'}"},
    {"SELECT time_to_epoch('2023-11-14 22:13:20.123', "
     "'yyyy-MM-dd HH:mm:ss.SSS') AS v",
        NULL, "{'v':1700000000123}"},
    {"SELECT time_to_epoch('2023-11-14T23:13:20+0100', "
     "'yyyy-MM-dd''T''HH:mm:ssZ') AS a, time_to_epoch('20231114', "
     "'yyyyMMdd') AS b, time_to_epoch('14 Nov 2023', 'dd MMM yyyy') AS c",
        NULL,
        "{'a':1700000000000,'b':1699920000000,'c':1699920000000}"},
    {"SELECT time_to_epoch('10:13 PM', 'hh:mm a') AS a, "
     "time_to_epoch('2023-02-30', 'yyyy-MM-dd') AS b, "
     "time_to_epoch('x', 'yyyy') AS c, time_to_epoch('2023x', 'yyyy') AS d",
        NULL, "{'a':79980000}"},
    {"SELECT time_to_epoch(parse_time('yyyy-MM-dd HH:mm:ss.SSS XXX', "
     "timestamp(), '+02:00'), 'yyyy-MM-dd HH:mm:ss.SSS XXX') AS v",
        NULL, "{'v':1700000000123}"},
    /* hashes */
    {"SELECT md5('hello') AS a, sha1('hello') AS b", NULL,
        "{'a':'5d41402abc4b2a76b9719d911017c592',"
        "'b':'aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d'}"},
    {"SELECT sha256('hello') AS a, md5(n) AS b", NULL,
        "{'a':'2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938"
        "b9824'}"},
    /* payloads that are not JSON objects */
    {"SELECT * FROM 'dev/#'", "!\x01\x02 binary", RAW},
    {"SELECT a FROM 'dev/#'", "!\x01\x02 binary", "{}"},
    {"SELECT *, a FROM 'dev/#'", "!not json", "{}"},
    {"SELECT topic() AS t", "!not json", "{'t':'dev/d1/temp'}"},
    {"SELECT * FROM 'dev/#'", "[1,2]", RAW},
    {"SELECT * FROM 'dev/#'", "5", RAW},
    {"SELECT * FROM 'dev/#'", "!", RAW},
    {"SELECT a FROM 'dev/#'", "!", "{}"},
    {"SELECT a FROM 'dev/#' WHERE a = 1", "!{bad json", FILTERED},
    {"SELECT get(*, 1) AS v", "[1,2]", "{'v':2}"},
    {"SELECT isUndefined(*) AS v", "!raw", "{'v':true}"},
    {"SELECT * FROM 'dev/#' WHERE true", "{'x':[1,{'y':null}]}",
        "{'x':[1,{'y':null}]}"},
};

/* ---- harness --------------------------------------------------------- */

/* The text with ' turned into " and ` into '.  Caller frees. */
static char *
doc(const char *s)
{
	char *d = strdup(s);

	assert_non_null(d);
	for (char *p = d; *p != '\0'; p++)
		*p = *p == '\'' ? '"' : *p == '`' ? '\'' : *p;
	return d;
}

static json_t *
fake_shadow(void *arg, const char *thing, const char *shadow_name)
{
	(*(int *)arg)++;
	if (strcmp(thing, "lamp") != 0)
		return NULL;
	if (shadow_name == NULL)
		return json_pack("{s:{s:{s:b}}}", "state", "reported", "on", 1);
	if (strcmp(shadow_name, "cfg") == 0)
		return json_pack("{s:{s:{s:i}}}", "state", "desired", "x", 1);
	return NULL;
}

static int shadow_calls;

/* The message of the tests, its payload from the row's text (freed by
 * the caller through *payload_buf). */
static struct strata_sql_input
input(const char *payload, char **payload_buf)
{
	struct strata_sql_input in = {
	    .topic = TOPIC,
	    .topic_len = strlen(TOPIC),
	    .client_id = "c1",
	    .principal = "p1",
	    .timestamp_ms = NOW,
	    .trace_id = "t-1",
	    .get_thing_shadow = fake_shadow,
	    .arg = &shadow_calls,
	};

	if (payload == NULL)
		payload = DOC;
	*payload_buf = payload[0] == '!' ? strdup(payload + 1) : doc(payload);
	in.payload = (const uint8_t *)*payload_buf;
	in.payload_len = strlen(*payload_buf);
	return in;
}

/* The statement of a row: FROM 'dev/#' appended when it has none. */
static char *
row_sql(const char *sql)
{
	char *s;

	if (strstr(sql, "FROM") != NULL || strstr(sql, "from") != NULL ||
	    strstr(sql, "FrOm") != NULL)
		return strdup(sql);
	s = malloc(strlen(sql) + 16);
	assert_non_null(s);
	sprintf(s, "%s FROM 'dev/#'", sql);
	return s;
}

/* Run one row; returns a malloc'd description of what went wrong, or
 * NULL when it gave what it should. */
static char *
run_row(const struct row *r)
{
	char *sql = row_sql(r->sql), *payload, *got = NULL, *why = NULL;
	struct strata_sql_error err;
	struct strata_sql_output out;
	struct strata_sql_input in = input(r->payload, &payload);
	struct strata_sql *q = strata_sql_parse(sql, strlen(sql), &err);
	enum strata_sql_result res;
	json_t *want = NULL;

	if (q == NULL) {
		assert_true(asprintf(&why, "parse error %d:%d %s", err.line,
		                err.column, err.message) > 0);
		goto out;
	}
	res = strata_sql_eval(q, &in, &out, &err);
	if (res == STRATA_SQL_FAILED)
		got = strdup(FAILED);
	else if (res == STRATA_SQL_FILTERED)
		got = strdup(FILTERED);
	else if (out.raw != NULL || out.doc == NULL)
		got = strdup(out.raw == in.payload &&
		                     out.raw_len == in.payload_len
		                 ? RAW
		                 : "a raw output not the payload");
	else
		got = json_dumps(out.doc, JSON_COMPACT | JSON_SORT_KEYS);
	if (res == STRATA_SQL_FAILED && err.message[0] == '\0')
		why = strdup("FAILED without a message");
	if (res == STRATA_SQL_SELECTED && out.doc != NULL) {
		char *w = doc(r->want);

		want = json_loads(w, 0, NULL);
		free(w);
		if (want == NULL || !json_equal(want, out.doc))
			assert_true(asprintf(&why, "got %s", got) > 0);
	} else if (why == NULL && strcmp(got, r->want) != 0) {
		assert_true(asprintf(&why, "got %s (%s)", got, err.message) > 0);
	}
	strata_sql_output_clear(&out);
	strata_sql_free(q);
out:
	json_decref(want);
	free(got);
	free(sql);
	free(payload);
	return why;
}

static void
test_table(void **state)
{
	size_t failures = 0;
	char *why;

	for (size_t i = 0; i < sizeof(rows) / sizeof(*rows); i++) {
		if ((why = run_row(&rows[i])) == NULL)
			continue;
		print_error("row %zu: %s\n  %s\n", i, rows[i].sql, why);
		free(why);
		failures++;
	}
	if (failures > 0)
		fail_msg("%zu of %zu rows failed", failures,
		    sizeof(rows) / sizeof(*rows));
}

/* ---- parse errors ---------------------------------------------------- */

struct bad {
	const char *sql;
	int line, column;
	const char *message;
};

static const struct bad bads[] = {
    {"", 1, 1, "expected SELECT"},
    {"SELEC a FROM 'a'", 1, 1, "expected SELECT"},
    {"SELECT a", 1, 9, "expected FROM after the SELECT list"},
    {"SELECT a 'x' FROM 'a'", 1, 10, "expected FROM after the SELECT list"},
    {"SELECT foo(a) FROM 'a'", 1, 8, "unknown function 'foo'"},
    {"SELECT a, b + nope() FROM 'a'", 1, 15, "unknown function 'nope'"},
    {"SELECT topic(1, 2) FROM 'a'", 1, 8, "'topic' takes 0 or 1 arguments"},
    {"SELECT abs() FROM 'a'", 1, 8, "'abs' takes 1 argument"},
    {"SELECT replace(a) FROM 'a'", 1, 8, "'replace' takes 3 arguments"},
    {"SELECT clientid(a) FROM 'a'", 1, 8, "'clientid' takes 0 arguments"},
    {"SELECT concat() FROM 'a'", 1, 8,
        "'concat' takes at least 1 argument"},
    {"SELECT a FROM a", 1, 15,
        "expected a topic filter in single quotes after FROM"},
    {"SELECT a FROM 'a/#/b'", 1, 15,
        "'a/#/b' is not a valid MQTT topic filter"},
    {"SELECT a FROM ''", 1, 15, "'' is not a valid MQTT topic filter"},
    {"SELECT a FROM 'a+'", 1, 15, "'a+' is not a valid MQTT topic filter"},
    {"SELECT a FROM 'a' WHERE", 1, 24,
        "expected an expression, found the end"},
    {"SELECT a FROM 'a' b", 1, 19,
        "expected the end of the statement, found 'b'"},
    {"SELECT a FROM 'a' WHERE a = 1 2", 1, 31,
        "expected the end of the statement, found '2'"},
    {"SELECT 'abc FROM 'a'", 1, 20, "unterminated string literal"},
    {"SELECT a FROM 'a' WHERE a = 'x", 1, 29, "unterminated string literal"},
    {"SELECT \"a FROM 'a'", 1, 8, "unterminated quoted name"},
    {"SELECT a,\n  b +\n FROM 'a'", 3, 2,
        "expected an expression, found 'FROM'"},
    {"SELECT\ta,\r\n\tb c d FROM 'a'", 2, 6,
        "expected FROM after the SELECT list"},
    {"SELECT (a FROM 'a'", 1, 11, "expected ')'"},
    {"SELECT a.* AS x FROM 'a'", 1, 15, "a '*' item takes no alias"},
    {"SELECT a.*.b FROM 'a'", 1, 8,
        "'.*' is only allowed as a whole SELECT item"},
    {"SELECT upper(a.*) FROM 'a'", 1, 8,
        "'.*' is only allowed as a whole SELECT item"},
    {"SELECT cast(a AS Float) FROM 'a'", 1, 18,
        "expected Int, Decimal, Boolean or String in CAST"},
    {"SELECT cast(a) FROM 'a'", 1, 14, "expected AS in CAST"},
    {"SELECT CASE WHEN a THEN 1 FROM 'a'", 1, 27,
        "expected END to close CASE"},
    {"SELECT CASE a ELSE 1 END FROM 'a'", 1, 15, "expected WHEN in CASE"},
    {"SELECT CASE WHEN a 1 END FROM 'a'", 1, 20, "expected THEN in CASE"},
    {"SELECT a # b FROM 'a'", 1, 10, "unexpected character '#'"},
    {"SELECT a ! b FROM 'a'", 1, 10, "unexpected character '!'"},
    {"SELECT regexp_matches(s, '(') FROM 'a'", 1, 26,
        "invalid regular expression at offset 1: missing closing "
        "parenthesis"},
    {"SELECT [1, 2 FROM 'a'", 1, 14, "expected ',' or ']'"},
    {"SELECT f(1 FROM 'a'", 1, 8, "unknown function 'f'"},
    {"SELECT abs(1 FROM 'a'", 1, 14, "expected ',' or ')'"},
    {"SELECT {'a' 1} FROM 'a'", 1, 13, "expected ':' after the key"},
    {"SELECT {'a': 1 'b': 2} FROM 'a'", 1, 16, "expected ',' or '}'"},
    {"SELECT {1: 2} FROM 'a'", 1, 9, "expected a key in the object literal"},
    {"SELECT * , FROM 'a'", 1, 12, "expected an expression, found 'FROM'"},
    {"SELECT a AS FROM 'a'", 1, 13, "expected a name after AS"},
    {"SELECT a. FROM 'a'", 1, 11, "expected a name after '.'"},
    {"SELECT h\xc3\xa9 FROM 'a'", 1, 9, "unexpected character '\xc3'"},
    {"SELECT 'caf\xc3' FROM 'a'", 1, 8, "string literal is not valid UTF-8"},
};

static void
test_parse_errors(void **state)
{
	struct strata_sql_error err;
	size_t failures = 0;

	for (size_t i = 0; i < sizeof(bads) / sizeof(*bads); i++) {
		const struct bad *b = &bads[i];
		struct strata_sql *q = strata_sql_parse(b->sql, strlen(b->sql),
		    &err);

		if (q == NULL && err.line == b->line &&
		    err.column == b->column &&
		    strcmp(err.message, b->message) == 0)
			continue;
		if (q != NULL)
			print_error("bad %zu: accepted: %s\n", i, b->sql);
		else
			print_error("bad %zu: %s\n  got %d:%d %s\n", i, b->sql,
			    err.line, err.column, err.message);
		strata_sql_free(q);
		failures++;
	}
	if (failures > 0)
		fail_msg("%zu parse error rows failed", failures);
}

/* A statement of `prefix` + n times `unit` + `suffix`. */
static char *
repeat(const char *prefix, const char *unit, size_t n, const char *suffix)
{
	size_t len = strlen(prefix) + n * strlen(unit) + strlen(suffix) + 1;
	char *s = malloc(len);

	assert_non_null(s);
	strcpy(s, prefix);
	for (size_t i = 0; i < n; i++)
		strcat(s, unit);
	strcat(s, suffix);
	return s;
}

static void
expect_depth_error(char *sql, bool ok)
{
	struct strata_sql_error err;
	struct strata_sql *q = strata_sql_parse(sql, strlen(sql), &err);

	if (ok) {
		if (q == NULL)
			fail_msg("refused %s: %s", sql, err.message);
	} else {
		assert_null(q);
		assert_int_equal(err.line, 1);
		assert_string_equal(err.message,
		    "expression nested deeper than 64 levels");
	}
	strata_sql_free(q);
	free(sql);
}

static void
test_depth(void **state)
{
	char *open = repeat("SELECT ", "(", 70, "1");
	char *sql = repeat(open, ")", 70, " FROM 'a'");

	free(open);
	expect_depth_error(sql, false);
	expect_depth_error(repeat("SELECT 1", " + 1", 70, " FROM 'a'"), false);
	expect_depth_error(repeat("SELECT 1", " + 1", 60, " FROM 'a'"), true);
	expect_depth_error(repeat("SELECT ", "NOT ", 100, "true FROM 'a'"),
	    false);
	expect_depth_error(repeat("SELECT ", "- ", 100, "1 FROM 'a'"), false);
	expect_depth_error(repeat("SELECT a", ".b", 80, " FROM 'a'"), false);
	expect_depth_error(repeat("SELECT ", "[", 100, "] FROM 'a'"), false);
	expect_depth_error(
	    repeat("SELECT ", "{'a':", 100, "1} FROM 'a'"), false);
	expect_depth_error(repeat("SELECT ", "abs(", 100, "1) FROM 'a'"),
	    false);
	expect_depth_error(repeat("SELECT ", "(", 16000, " FROM 'a'"), false);
}

static void
test_text_limits(void **state)
{
	struct strata_sql_error err;
	char *big = repeat("SELECT a FROM 'a' WHERE a = '", "x",
	    STRATA_SQL_MAX_TEXT, "'");

	assert_null(strata_sql_parse(big, strlen(big), &err));
	assert_int_equal(err.line, 0);
	assert_int_equal(err.column, 0);
	assert_string_equal(err.message, "the text is over 16384 bytes");
	free(big);
	assert_null(strata_sql_parse("SELECT a\0 FROM 'a'", 18, &err));
	assert_string_equal(err.message, "the text holds a NUL byte");
	assert_null(strata_sql_parse("SELECT", 6, NULL));
	assert_null(strata_sql_template_parse("${", 2, NULL));
}

/* ---- evaluation limits and lifetimes --------------------------------- */

static enum strata_sql_result
eval_text(const char *sql, const uint8_t *payload, size_t len,
    struct strata_sql_output *out, struct strata_sql_error *err)
{
	char *buf;
	struct strata_sql_input in = input("{}", &buf);
	struct strata_sql *q = strata_sql_parse(sql, strlen(sql), err);
	enum strata_sql_result r;

	assert_non_null(q);
	in.payload = payload;
	in.payload_len = len;
	r = strata_sql_eval(q, &in, out, err);
	strata_sql_free(q);
	free(buf);
	return r;
}

static void
test_payload_limit(void **state)
{
	size_t len = STRATA_SQL_MAX_PAYLOAD + 1;
	uint8_t *p = malloc(len);
	struct strata_sql_output out;
	struct strata_sql_error err;

	assert_non_null(p);
	memset(p, ' ', len);
	assert_int_equal(eval_text("SELECT * FROM 'a'", p, len, &out, &err),
	    STRATA_SQL_FAILED);
	assert_string_equal(err.message, "the payload is over 131072 bytes");
	assert_int_equal(eval_text("SELECT * FROM 'a'", p, len - 1, &out,
	                     &err),
	    STRATA_SQL_SELECTED);
	assert_ptr_equal(out.raw, p);
	strata_sql_output_clear(&out);
	free(p);
}

static void
test_value_limit(void **state)
{
	const char *x = "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'";
	char sql[1024];
	struct strata_sql_output out;
	struct strata_sql_error err;
	const uint8_t p[] = "{\"s\":\"Hello\"}";

	snprintf(sql, sizeof(sql),
	    "SELECT replace(replace(replace(s, '', %s), '', %s), '', %s) AS v "
	    "FROM 'a'", x, x, x);
	assert_int_equal(eval_text(sql, p, sizeof(p) - 1, &out, &err),
	    STRATA_SQL_FAILED);
	assert_string_equal(err.message,
	    "the result of 'replace' is over 524288 bytes");
	assert_int_equal(err.line, 1);
	assert_int_equal(err.column, 8);
	snprintf(sql, sizeof(sql),
	    "SELECT regexp_replace(regexp_replace(regexp_replace(s, '', %s), "
	    "'', %s), '', %s) AS v FROM 'a'", x, x, x);
	assert_int_equal(eval_text(sql, p, sizeof(p) - 1, &out, &err),
	    STRATA_SQL_FAILED);
	assert_string_equal(err.message,
	    "the result of 'regexp_replace' is over 524288 bytes");
}

/* One statement, evaluated many times and by value: results outlive
 * the statement and each other. */
static void
test_lifetimes(void **state)
{
	const char *sql = "SELECT o, upper(s) AS u, * FROM 'a' WHERE a = 1";
	struct strata_sql *q = strata_sql_parse(sql, strlen(sql), NULL);
	struct strata_sql_output out[3];
	struct strata_sql_input in;
	char *buf;

	assert_non_null(q);
	assert_string_equal(strata_sql_from(q), "a");
	in = input(NULL, &buf);
	for (int i = 0; i < 3; i++)
		assert_int_equal(strata_sql_eval(q, &in, &out[i], NULL),
		    STRATA_SQL_SELECTED);
	strata_sql_free(q);
	free(buf);
	assert_true(json_equal(out[0].doc, out[2].doc));
	json_object_set_new(json_object_get(out[0].doc, "o"), "w",
	    json_true());
	assert_int_equal(json_object_size(out[0].doc), json_object_size(out[1].doc));
	for (int i = 0; i < 3; i++)
		strata_sql_output_clear(&out[i]);
	assert_null(out[0].doc);
}

static void
test_shadow_callback(void **state)
{
	const char *sql = "SELECT get_thing_shadow('x', 'arn') AS v FROM 'a'";
	struct strata_sql *q = strata_sql_parse(sql, strlen(sql), NULL);
	struct strata_sql_output out;
	struct strata_sql_input in;
	char *buf;

	in = input(NULL, &buf);
	shadow_calls = 0;
	assert_int_equal(strata_sql_eval(q, &in, &out, NULL),
	    STRATA_SQL_SELECTED);
	assert_int_equal(shadow_calls, 1);
	assert_int_equal(json_object_size(out.doc), 0);
	strata_sql_output_clear(&out);
	in.get_thing_shadow = NULL;
	assert_int_equal(strata_sql_eval(q, &in, &out, NULL),
	    STRATA_SQL_SELECTED);
	assert_int_equal(shadow_calls, 1);
	strata_sql_output_clear(&out);
	strata_sql_free(q);
	free(buf);
}

/* ---- templates ------------------------------------------------------- */

struct tmpl {
	const char *text;
	const char *payload;
	const char *want; /* NULL: refused, see error rows */
	bool literal;
};

static const struct tmpl tmpls[] = {
    {"plain", NULL, "plain", true},
    {"", NULL, "", true},
    {"$a $ {a} $", NULL, "$a $ {a} $", true},
    {"a/${topic(2)}/b", NULL, "a/d1/b", false},
    {"${s}", NULL, "Hello", false},
    {"${a}-${b}", NULL, "1-2.5", false},
    {"${missing}x", NULL, "x", false},
    {"${o}", NULL, "{\"x\":{\"y\":7},\"z\":[1,2,3]}", false},
    {"${n}|${true}|${f}|${b * 2}", NULL, "null|true|10|5.0", false},
    {"$a ${a} $", NULL, "$a 1 $", false},
    {"${concat('}', s)}", NULL, "}Hello", false},
    {"${ a + 1 }", NULL, "2", false},
    {"${clientid()}/${timestamp()}", NULL, "c1/1700000000123", false},
    {"${encode(*, 'base64')}", "!hi", "aGk=", false},
    {"${$}", NULL, NULL, false},
    {"${${a}}", NULL, NULL, false},
    {"${{'k': a}.k}", NULL, "1", false},
    {"${a}${a}", NULL, "11", false},
    {"${upper(h)}", NULL, "H\xc3\xa9LLO", false},
};

struct tmpl_bad {
	const char *text;
	int line, column;
	const char *message;
};

static const struct tmpl_bad tmpl_bads[] = {
    {"${a", 1, 1, "'${' is not closed"},
    {"${", 1, 1, "'${' is not closed"},
    {"x${a b}", 1, 6, "expected '}' after the expression"},
    {"${foo()}", 1, 3, "unknown function 'foo'"},
    {"${}", 1, 3, "expected an expression, found '}'"},
    {"ab\n ${", 2, 2, "'${' is not closed"},
    {"${'a}", 1, 3, "unterminated string literal"},
    {"${$}", 1, 3, "unexpected character '$'"},
    {"${${a}}", 1, 3, "unexpected character '$'"},
};

static void
test_templates(void **state)
{
	struct strata_sql_error err;
	struct strata_sql_template *t;
	struct strata_sql_input in;
	char *buf, *got;
	size_t len;

	for (size_t i = 0; i < sizeof(tmpls) / sizeof(*tmpls); i++) {
		if (tmpls[i].want == NULL)
			continue;
		t = strata_sql_template_parse(tmpls[i].text,
		    strlen(tmpls[i].text), &err);
		if (t == NULL)
			fail_msg("%s: %s", tmpls[i].text, err.message);
		assert_int_equal(strata_sql_template_is_literal(t),
		    tmpls[i].literal);
		in = input(tmpls[i].payload, &buf);
		got = strata_sql_template_render(t, &in, &len, &err);
		assert_non_null(got);
		assert_string_equal(got, tmpls[i].want);
		assert_int_equal(len, strlen(tmpls[i].want));
		free(got);
		free(buf);
		strata_sql_template_free(t);
	}
	for (size_t i = 0; i < sizeof(tmpl_bads) / sizeof(*tmpl_bads); i++) {
		const struct tmpl_bad *b = &tmpl_bads[i];

		t = strata_sql_template_parse(b->text, strlen(b->text), &err);
		if (t != NULL || err.line != b->line ||
		    err.column != b->column ||
		    strcmp(err.message, b->message) != 0)
			fail_msg("%s: got %d:%d %s", b->text, err.line,
			    err.column, t ? "(accepted)" : err.message);
	}
}

static void
test_template_failure(void **state)
{
	const char *text = "x${regexp_matches(s, '(a|aa)+$')}";
	struct strata_sql_template *t =
	    strata_sql_template_parse(text, strlen(text), NULL);
	struct strata_sql_error err;
	struct strata_sql_input in;
	char *buf;

	in = input("{'s':'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!'}",
	    &buf);
	assert_non_null(t);
	assert_null(strata_sql_template_render(t, &in, NULL, &err));
	assert_int_equal(err.line, 1);
	assert_int_equal(err.column, 4);
	free(buf);
	strata_sql_template_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_depth),
	    cmocka_unit_test(test_text_limits),
	    cmocka_unit_test(test_payload_limit),
	    cmocka_unit_test(test_value_limit),
	    cmocka_unit_test(test_lifetimes),
	    cmocka_unit_test(test_shadow_callback),
	    cmocka_unit_test(test_templates),
	    cmocka_unit_test(test_template_failure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
