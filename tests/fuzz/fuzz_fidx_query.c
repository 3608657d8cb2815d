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
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fidx_query.h"

static unsigned
fuzz_check(const struct strata_fidx_node *n)
{
	switch (n->kind) {
	case STRATA_FIDX_ALL:
		return 1;
	case STRATA_FIDX_TERM:
	case STRATA_FIDX_WILDCARD:
		assert(n->value != NULL);
		assert(n->field == NULL || strata_fidx_field_valid(n->field));
		return 1;
	case STRATA_FIDX_RANGE:
		assert(n->field != NULL && strata_fidx_field_valid(n->field));
		return 1;
	case STRATA_FIDX_NOT:
		assert(n->left != NULL && n->right == NULL);
		return fuzz_check(n->left);
	default:
		assert(n->left != NULL && n->right != NULL);
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
		assert(n == NULL && err[0] != '\0');
	} else {
		assert(fuzz_check(n) <= STRATA_FIDX_MAX_TERMS);
		need = strata_fidx_format(n, NULL, 0);
		buf = malloc(need + 1);
		assert(buf != NULL);
		assert(strata_fidx_format(n, buf, need + 1) == need);
		assert(strlen(buf) == need);
		free(buf);
		strata_fidx_free(n);
	}
	text = malloc(size + 1);
	assert(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';
	(void)strata_fidx_match(text, (const char *)data, size);
	free(text);
	return 0;
}
