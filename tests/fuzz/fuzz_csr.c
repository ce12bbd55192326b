/* libFuzzer harness: CSR intake (station/csr.c) and the profile checks a
 * request's CSR meets next (station/profile.c), under the default policy
 * of `airlock-station init --domain example.internal`.
 *
 * Invariants: an accepted CSR's DER (csr_der) parses again, to the same
 * SHA-256 and the same names; its names are within the caps; a rejection
 * names a rule ("RULE: text"). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "lib/err.h"
#include "station/config.h"
#include "station/csr.h"
#include "station/profile.h"

#define FUZZ_MAX (128u << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct config *conf;
static struct policy *pol;

static void
policy_setup(void)
{
	static const char *const domains[] = {"example.internal"};
	char *text = NULL;

	if (policy_default_config(domains, 1, &text) != 0 ||
	    config_parse(text, strlen(text), "default", &conf) != 0 ||
	    policy_load(conf, &pol) != 0) {
		fprintf(stderr, "fuzz_csr: default policy: %s\n",
			err_detail_get());
		abort();
	}
	free(text);
}

/* What the decision path asks of a leaf profile, with every answer
 * ignored: only crashes, leaks and UB count here. */
static unsigned
profile_checks(const struct profile *pr, const struct csr *c)
{
	const unsigned char *ip;
	unsigned rejected = 0;
	size_t i, len;

	rejected += profile_check_key(pr, csr_get0_pubkey(c)) != 0;
	rejected += profile_check_source(pr, NULL, "fuzz") != 0;
	rejected += profile_check_source(pr, "fuzz.vault.azure.net",
					 csr_cn(c) ? csr_cn(c) : "") != 0;
	for (i = 0; i < csr_dns_count(c); i++)
		rejected += profile_check_dns(pr, csr_dns(c, i)) != 0;
	for (i = 0; i < csr_ip_count(c); i++) {
		ip = csr_ip(c, i, &len);
		if (ip == NULL || (len != 4 && len != 16))
			abort();
		rejected += profile_check_ip(pr, ip, len) != 0;
	}
	if (csr_cn(c) != NULL)
		rejected += profile_check_dns(pr, csr_cn(c)) != 0;
	err_detail_clear();
	return rejected;
}

static void
check_accepted(const struct csr *c)
{
	struct csr *again = NULL;
	const unsigned char *der;
	size_t len, i;

	if (csr_get0_pubkey(c) == NULL || csr_key_type(c) == NULL ||
	    csr_sha256(c) == NULL || (der = csr_der(c, &len)) == NULL ||
	    csr_dns_count(c) > CSR_MAX_NAMES || csr_ip_count(c) > CSR_MAX_NAMES)
		abort();
	for (i = 0; i < csr_dns_count(c); i++)
		if (csr_dns(c, i) == NULL)
			abort();
	if (csr_parse(der, len, &again) != 0) {
		fprintf(stderr, "accepted CSR's DER is refused: %s\n",
			err_detail_get());
		abort();
	}
	if (CRYPTO_memcmp(csr_sha256(c), csr_sha256(again), 32) != 0 ||
	    csr_dns_count(c) != csr_dns_count(again) ||
	    csr_ip_count(c) != csr_ip_count(again))
		abort();
	csr_free(again);
	for (i = 0; i < policy_count(pol); i++)
		if (profile_kind(policy_get0(pol, i)) == PROFILE_LEAF)
			(void)profile_checks(policy_get0(pol, i), c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct csr *c = NULL;
	char rule[64];

	if (size > FUZZ_MAX)
		return 0;
	if (pol == NULL)
		policy_setup();
	if (csr_parse(data, size, &c) == 0) {
		if (c == NULL)
			abort();
		check_accepted(c);
		csr_free(c);
	} else {
		if (c != NULL)
			abort();
		/* the reviewer sees "RULE: text"; exercised, not asserted
		 * (request.c falls back to its own rule for "other") */
		(void)csr_rule_split(err_detail_get(), rule, sizeof(rule));
	}
	err_detail_clear();
	return 0;
}
