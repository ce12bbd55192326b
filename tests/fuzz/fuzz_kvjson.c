/* libFuzzer harness: airlock-kv's readers of Key Vault and token endpoint
 * replies (kv/kvjson.c, kv/vault.c, kv/cred.c). Every input is handed to
 * every reader, as `airlock-kv replay` does per kind: CertificateOperation,
 * CertificateBundle, a list page's items, a certificate policy (snapshot,
 * covers, create body from a policy file), an error body and a token
 * response. Wrong shapes are refused quickly, so one corpus of real reply
 * bodies serves them all.
 *
 * Invariants: a policy covers itself; a parsed certificate's DER re-encodes
 * to base64 that decodes back; an error code fits its buffer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "kv/cred.h"
#include "kv/kvjson.h"
#include "kv/vault.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/secmem.h"

#define FUZZ_MAX (128u << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct secmem *token; /* for the whole run: mlock()ed memory */

static void
b64_round_trip(const unsigned char *der, size_t len)
{
	unsigned char *back = NULL;
	size_t back_len = 0;
	char *text = NULL;

	if (kvjson_b64_encode(der, len, &text) != 0)
		abort();
	if (kvjson_b64_decode(text, &back, &back_len) != 0 || back_len != len ||
	    memcmp(back, der, len) != 0)
		abort();
	free(back);
	free(text);
}

static void
one_cert(const cJSON *item)
{
	struct kv_cert *c = NULL;
	char x5t[32];

	if (kvjson_cert_parse(item, &c) != 0) {
		if (c != NULL)
			abort();
		return;
	}
	if (c->cer != NULL) {
		if (kvjson_x5t(c->cer, c->cer_len, x5t) != 0 ||
		    strlen(x5t) != 27)
			abort();
		b64_round_trip(c->cer, c->cer_len);
	}
	kvjson_cert_free(c);
}

static void
one_policy(const cJSON *pol)
{
	cJSON *snap = NULL;

	if (pol == NULL)
		return;
	if (kvjson_policy_snapshot(pol, &snap) == 0 && snap == NULL)
		abort();
	cJSON_Delete(snap);
	if (cJSON_IsObject(pol) && !kvjson_policy_covers(pol, pol)) {
		char *t = cJSON_PrintUnformatted(pol);
		fprintf(stderr, "a policy does not cover itself: %s\n",
			t ? t : "?");
		free(t);
		abort();
	}
}

static void
tree_readers(const cJSON *j)
{
	struct kv_op *op = NULL;
	const cJSON *it, *val;

	if (kvjson_op_parse(j, &op) == 0) {
		if (op == NULL || op->status == NULL)
			abort();
		if (op->csr != NULL)
			b64_round_trip(op->csr, op->csr_len);
		kvjson_op_free(op);
	}
	one_cert(j);
	val = cJSON_GetObjectItemCaseSensitive(j, "value");
	if (cJSON_IsArray(val))
		cJSON_ArrayForEach (it, val)
			one_cert(it);
	one_policy(cJSON_GetObjectItemCaseSensitive(j, "policy"));
	one_policy(j);
}

static void
file_reader(const uint8_t *data, size_t size)
{
	static const char *tags[] = {"team=pki", "env=fuzz"};
	cJSON *body = NULL;

	if (kvjson_create_body_from_file(data, size, tags, 2, &body) != 0)
		return;
	if (body == NULL)
		abort();
	one_policy(cJSON_GetObjectItemCaseSensitive(body, "policy"));
	cJSON_Delete(body);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char code[16], msg[32];
	long long expires;
	cJSON *j = NULL;

	if (size > FUZZ_MAX)
		return 0;
	if (token == NULL && secmem_new(16384, &token) != 0)
		abort();
	if (json_parse_strict(data, size, JSON_MAX_DEPTH, &j) == 0) {
		tree_readers(j);
		cJSON_Delete(j);
	}
	file_reader(data, size);
	/* small buffers on purpose: truncation, never overflow */
	if (vault_error_parse(data, size, code, sizeof(code), msg,
			      sizeof(msg)) == 0 &&
	    (strlen(code) >= sizeof(code) || strlen(msg) >= sizeof(msg)))
		abort();
	if (cred_token_response_parse(data, size, 1700000000LL, token,
				      &expires) == 0 &&
	    secmem_len(token) == 0)
		abort();
	err_detail_clear();
	return 0;
}
