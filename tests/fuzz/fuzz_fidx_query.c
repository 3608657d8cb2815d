/*
 * fuzz_fidx_query.c - libFuzzer target for the fleet indexing query
 * parser (common/fidx_query.c).
 *
 * Invariants:
 *   - a refused query has a message (not empty) and no tree;
 *   - an accepted query's canonical form fits the size it reports, and
 *     every node is well formed: TERM and WILDCARD have a value, RANGE a
 *     field, AND/OR two children, NOT one, and a field is one the index
 *     has;
 *   - the wildcard matcher, given the input as pattern and value, ends.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fidx_query.h"

/* An invariant that must hold (not compiled out with NDEBUG). */
#define CHECK(x)                                                            \
	do {                                                                \
		if (!(x))                                                   \
			abort();                                            \
	} while (0)

static unsigned
fuzz_check(const struct strata_fidx_node *n)
{
	switch (n->kind) {
	case STRATA_FIDX_ALL:
		return 1;
	case STRATA_FIDX_TERM:
	case STRATA_FIDX_WILDCARD:
		CHECK(n->value != NULL);
		CHECK(n->field == NULL || strata_fidx_field_valid(n->field));
		return 1;
	case STRATA_FIDX_RANGE:
		CHECK(n->field != NULL && strata_fidx_field_valid(n->field));
		return 1;
	case STRATA_FIDX_NOT:
		CHECK(n->left != NULL && n->right == NULL);
		return fuzz_check(n->left);
	default:
		CHECK(n->left != NULL && n->right != NULL);
		return fuzz_check(n->left) + fuzz_check(n->right);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strata_fidx_node *n;
	char err[256], *buf, *text;
	size_t need;

	if (strata_fidx_parse((const char *)data, size, &n, err,
	    sizeof(err)) != 0) {
		CHECK(n == NULL && err[0] != '\0');
	} else {
		CHECK(fuzz_check(n) <= STRATA_FIDX_MAX_TERMS);
		need = strata_fidx_format(n, NULL, 0);
		buf = malloc(need + 1);
		CHECK(buf != NULL);
		CHECK(strata_fidx_format(n, buf, need + 1) == need);
		CHECK(strlen(buf) == need);
		free(buf);
		strata_fidx_free(n);
	}
	text = malloc(size + 1);
	CHECK(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';
	(void)strata_fidx_match(text, (const char *)data, size);
	free(text);
	return 0;
}
