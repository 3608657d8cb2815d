/*
 * test_vectors.c - conformance vectors as data.
 *
 * Every .json file in tests/vectors (read from the repository root, the
 * working directory ctest gives us) is an array of
 *   {"name": ..., "version": 0|4|5, "hex": "...", "expect": "ok"|"0x81"|...,
 *    "canonical": true|false (optional, default true)}
 * `version` is what strata_mqtt_decode() is given (0: before CONNECT).
 * "ok" packets are re-encoded: a canonical one must give back the same
 * bytes, any one must decode again.  Otherwise `expect` is the MQTT 5
 * reason code the decoder must return, negated.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <jansson.h>

#include "mqtt.h"

#define VECTORS_DIR "tests/vectors"

static size_t
vectors_hex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;
	unsigned v;

	assert_true(strlen(s) % 2 == 0);
	for (; *s != '\0'; s += 2) {
		assert_true(sscanf(s, "%2x", &v) == 1);
		assert_true(n < cap);
		out[n++] = (uint8_t)v;
	}
	return n;
}

static void
vectors_check_ok(const char *name, const uint8_t *in, size_t n,
    const struct strata_mqtt_packet *pkt, uint8_t version, bool canonical)
{
	struct strata_mqtt_packet again;
	uint8_t out[1024];
	size_t m;

	if (pkt->type == STRATA_MQTT_CONNECT)
		version = pkt->u.connect.version;
	m = strata_mqtt_encode(pkt, version, out, sizeof(out));
	assert_true(m > 0);
	if (canonical && (m != n || memcmp(in, out, n) != 0))
		fail_msg("vector '%s': re-encoding differs", name);
	assert_int_equal(strata_mqtt_decode(out, m, version, &again), 0);
}

static void
vectors_run_one(json_t *v)
{
	const char *name = json_string_value(json_object_get(v, "name"));
	const char *hex = json_string_value(json_object_get(v, "hex"));
	const char *expect = json_string_value(json_object_get(v, "expect"));
	json_t *version = json_object_get(v, "version");
	json_t *canonical = json_object_get(v, "canonical");
	struct strata_mqtt_packet pkt;
	uint8_t in[1024];
	size_t n;
	int rc, want;

	assert_non_null(name);
	assert_non_null(hex);
	assert_non_null(expect);
	assert_true(json_is_integer(version));
	n = vectors_hex(hex, in, sizeof(in));
	rc = strata_mqtt_decode(in, n, (uint8_t)json_integer_value(version),
	    &pkt);
	want = strcmp(expect, "ok") == 0 ? 0 :
	    -(int)strtol(expect, NULL, 16);
	if (rc != want)
		fail_msg("vector '%s': got %d, want %d (%s)", name, rc, want,
		    expect);
	if (rc == 0)
		vectors_check_ok(name, in, n, &pkt,
		    (uint8_t)json_integer_value(version),
		    canonical == NULL || json_is_true(canonical));
}

static size_t
vectors_run_file(const char *path)
{
	json_error_t err;
	json_t *root = NULL, *v;
	size_t i;

	root = json_load_file(path, 0, &err);
	if (root == NULL)
		fail_msg("%s:%d: %s", path, err.line, err.text);
	assert_true(json_is_array(root));
	json_array_foreach(root, i, v)
		vectors_run_one(v);
	i = json_array_size(root);
	json_decref(root);
	return i;
}

static void
test_vectors(void **state)
{
	char path[512];
	struct dirent *de;
	size_t files = 0, vectors = 0, len;
	DIR *dir;

	dir = opendir(VECTORS_DIR);
	assert_non_null(dir);
	while ((de = readdir(dir)) != NULL) {
		len = strlen(de->d_name);
		if (len < 5 || strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", VECTORS_DIR, de->d_name);
		vectors += vectors_run_file(path);
		files++;
	}
	closedir(dir);
	print_message("%zu vectors in %zu files\n", vectors, files);
	assert_true(files > 0);
	assert_true(vectors > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vectors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
