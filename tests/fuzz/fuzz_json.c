/* libFuzzer harness: lib/json.c, the strict JSON reader every outside
 * document goes through (manifests, Key Vault replies, policy files).
 *
 * Beyond "no crash, no leak": a document json_parse_strict() accepts,
 * printed again by cJSON, must be accepted again (one document, one
 * meaning, whatever printed it); and the schema helpers are run over every
 * member of every object. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "lib/err.h"
#include "lib/json.h"

#define FUZZ_MAX (128u << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
walk(const cJSON *node, int depth)
{
	static const char *const none[] = {NULL};
	const cJSON *c, *sub;
	const char *s;
	long long v;
	size_t n;
	int b;

	if (depth > JSON_MAX_DEPTH + 1)
		abort(); /* deeper than the parser allows */
	if (cJSON_IsNumber(node))
		(void)json_number_is_integer(node);
	if (cJSON_IsObject(node)) {
		if (json_check_keys(node, "fuzz", none, NULL) == 0 &&
		    node->child != NULL)
			abort(); /* a member nobody allowed */
		cJSON_ArrayForEach (c, node) {
			if (c->string == NULL)
				abort();
			/* what a helper accepts must be what it promises */
			if (json_get_str(node, c->string, "fuzz", 64, &s) ==
				0 &&
			    (s == NULL || strlen(s) > 64))
				abort();
			if (json_get_int(node, c->string, "fuzz",
					 -JSON_INT_EXACT_MAX,
					 JSON_INT_EXACT_MAX, &v) == 0 &&
			    !json_number_is_integer(c))
				abort();
			if (json_get_int(node, c->string, "fuzz", 0, 10, &v) ==
				0 &&
			    (v < 0 || v > 10))
				abort();
			if (json_get_bool(node, c->string, "fuzz", &b) == 0 &&
			    b != 0 && b != 1)
				abort();
			if (json_get_array(node, c->string, "fuzz", 4, &sub,
					   &n) == 0 &&
			    (n > 4 || !cJSON_IsArray(sub)))
				abort();
			if (json_get_object(node, c->string, "fuzz", &sub) ==
				0 &&
			    !cJSON_IsObject(sub))
				abort();
		}
	}
	cJSON_ArrayForEach (c, node)
		walk(c, depth + 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *j = NULL, *again = NULL;
	char *text;
	int r;

	if (size > FUZZ_MAX)
		return 0;
	if (json_parse_strict(data, size, JSON_MAX_DEPTH, &j) != 0) {
		if (j != NULL)
			abort(); /* a tree on failure */
		err_detail_clear();
		return 0;
	}
	walk(j, 0);
	if ((text = cJSON_PrintUnformatted(j)) != NULL) {
		r = json_parse_strict((const unsigned char *)text, strlen(text),
				      JSON_MAX_DEPTH, &again);
		if (r != 0) {
			fprintf(stderr,
				"accepted input printed as\n%s\n"
				"is refused: %s\n",
				text, err_detail_get());
			abort();
		}
		cJSON_Delete(again);
		free(text);
	}
	cJSON_Delete(j);
	err_detail_clear();
	return 0;
}
