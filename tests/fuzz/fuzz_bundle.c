/* libFuzzer harness: lib/bundle.c's reader, manifest schema included
 * (bundle_read on a directory; the input format is in bundle_input.h).
 *
 * Each input becomes a fresh directory in the per-process scratch
 * directory. A bundle that is accepted has every accessor called and its
 * promises checked: entry data as long as the manifest says, one NUL after
 * it, ids present. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "lib/bundle.h"
#include "lib/err.h"
#include "tests/fuzz/bundle_input.h"
#include "tests/fuzz/scratch.h"

#define FUZZ_MAX (128u << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static X509_STORE *store; /* empty, for the whole run */

static void
check_accepted(const struct bundle *b)
{
	static const char *const roles[] = {
	    BUNDLE_ROLE_CRL,	    BUNDLE_ROLE_CA_CERT, BUNDLE_ROLE_LEDGER,
	    BUNDLE_ROLE_CHECKPOINT, "no-such-role",	 NULL};
	const unsigned char *d;
	const char *kind = bundle_kind(b), *name;
	size_t i, k, n, len;

	if (kind == NULL || bundle_id(b) == NULL ||
	    strlen(bundle_id(b)) != 32 || bundle_created(b) == NULL ||
	    bundle_producer(b) == NULL || bundle_manifest_json(b) == NULL ||
	    bundle_manifest_bytes(b, &len) == NULL)
		abort();
	if (strcmp(kind, BUNDLE_KIND_MERGE) == 0
		? bundle_request_bundle_id(b) == NULL
		: strcmp(kind, BUNDLE_KIND_REQUEST) != 0 ||
		      bundle_request_bundle_id(b) != NULL)
		abort();
	for (i = 0; i < bundle_entry_count(b); i++) {
		if (bundle_entry_meta(b, i) == NULL ||
		    bundle_entry_id(b, i) == NULL ||
		    bundle_entry_data(b, i, &d, &len) != 0 || d[len] != '\0')
			abort();
	}
	if (bundle_entry_data(b, bundle_entry_count(b), &d, &len) == 0)
		abort(); /* past the end */
	for (k = 0; roles[k] != NULL; k++) {
		n = bundle_file_count(b, roles[k]);
		for (i = 0; i < n; i++)
			if (bundle_file_data(b, roles[k], i, &d, &len, &name) !=
				0 ||
			    name == NULL || d[len] != '\0')
				abort();
		if (bundle_file_data(b, roles[k], n, &d, &len, &name) == 0)
			abort();
	}
	/* the signature parser, with nothing to chain to: never accepted */
	if (store == NULL && (store = X509_STORE_new()) == NULL)
		abort();
	if (bundle_verify_signature(b, store, NULL, NULL) == 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bundle *b = NULL;
	char dir[4096];

	if (size > FUZZ_MAX)
		return 0;
	scratch_clean(NULL);
	if (scratch_mkdir("bundle") != 0)
		abort();
	scratch_path("bundle", dir, sizeof(dir));
	if (bundle_input_write(dir, data, size) != 0)
		return 0;
	if (bundle_read(dir, &b) == 0) {
		if (b == NULL)
			abort();
		check_accepted(b);
		bundle_free(b);
	} else if (b != NULL) {
		abort();
	}
	err_detail_clear();
	return 0;
}
