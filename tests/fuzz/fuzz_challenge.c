/* libFuzzer harness: the WWW-Authenticate Bearer challenge parser
 * (vault_challenge_parse, kv/vault.c). The input is the header value; it is
 * copied NUL-terminated (a header value never holds a NUL: the input stops
 * at the first one). The output buffers are exactly sized heap blocks, in
 * the sizes airlock-kv uses and in small ones, so that any write past them
 * is seen.
 *
 * Invariants: on success the tenant is non-empty and has no '/', '?' or
 * '#'; the scope is non-empty; both are NUL-terminated within their
 * buffers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "kv/vault.h"

#define FUZZ_MAX (64u << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
parse_with(const char *hdr, size_t tlen, size_t slen)
{
	char *tenant = malloc(tlen), *scope = malloc(slen);

	if (tenant == NULL || scope == NULL)
		abort();
	if (vault_challenge_parse(hdr, tenant, tlen, scope, slen) == 0) {
		if (memchr(tenant, '\0', tlen) == NULL ||
		    memchr(scope, '\0', slen) == NULL || tenant[0] == '\0' ||
		    scope[0] == '\0' || strpbrk(tenant, "/?#") != NULL)
			abort();
	}
	free(tenant);
	free(scope);
	err_detail_clear();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *hdr;

	if (size > FUZZ_MAX)
		return 0;
	if ((hdr = malloc(size + 1)) == NULL)
		abort();
	memcpy(hdr, data, size);
	hdr[size] = '\0';
	parse_with(hdr, 128, 256); /* as vault.c and `replay` call it */
	parse_with(hdr, 2, 12);
	parse_with(hdr, 37, 40);
	free(hdr);
	return 0;
}
