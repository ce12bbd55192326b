/* libFuzzer harness: the station configuration (station/config.c, the
 * strict INI dialect) and the issuance policy read from it
 * (station/profile.c): config_parse, policy_load, policy_check,
 * policy_describe, then every profile asked about fixed keys, names,
 * addresses and sources, and its extensions added to a certificate. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "lib/err.h"
#include "station/config.h"
#include "station/profile.h"

#define FUZZ_MAX (128u << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *ec_key, *rsa_key;

static void
keys_setup(void)
{
	ec_key = EVP_EC_gen("P-256");
	rsa_key = EVP_RSA_gen(2048);
	if (ec_key == NULL || rsa_key == NULL)
		abort();
}

static const char *const dns_samples[] = {"example.internal",
					  "www.example.internal",
					  "a.b.example.internal",
					  "*.example.internal",
					  "EXAMPLE.INTERNAL",
					  "example.internal.",
					  "xn--bcher-kva.example",
					  "evil.com",
					  "",
					  "-a.example.internal",
					  "a..example.internal",
					  NULL};

/* The certificate must carry what the reviewed configuration says (as
 * policy_describe() reports it): every permitted_dns name, unchanged, as a
 * name constraint, and every extended key usage. */
static void
extensions_match(X509 *cert, const cJSON *desc)
{
	const cJSON *want =
	    cJSON_GetObjectItemCaseSensitive(desc, "permitted_dns");
	const cJSON *ekus =
	    cJSON_GetObjectItemCaseSensitive(desc, "ext_key_usage");
	NAME_CONSTRAINTS *nc;
	EXTENDED_KEY_USAGE *eku;
	GENERAL_SUBTREE *st;
	const unsigned char *dns;
	int i, n, crit = 0;

	nc = X509_get_ext_d2i(cert, NID_name_constraints, &crit, NULL);
	n = nc != NULL ? sk_GENERAL_SUBTREE_num(nc->permittedSubtrees) : 0;
	if (n != cJSON_GetArraySize(want)) {
		fprintf(stderr,
			"profile %s: %d permitted_dns configured, %d "
			"name constraints in the certificate\n",
			cJSON_GetStringValue(
			    cJSON_GetObjectItemCaseSensitive(desc, "name")),
			cJSON_GetArraySize(want), n);
		abort();
	}
	for (i = 0; i < n; i++) {
		st = sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, i);
		if (st->base->type != GEN_DNS)
			abort();
		dns = ASN1_STRING_get0_data(st->base->d.dNSName);
		if (strcmp((const char *)dns,
			   cJSON_GetArrayItem(want, i)->valuestring) != 0) {
			fprintf(stderr,
				"permitted_dns '%s' is '%s' in the "
				"certificate\n",
				cJSON_GetArrayItem(want, i)->valuestring, dns);
			abort();
		}
	}
	NAME_CONSTRAINTS_free(nc);
	eku = X509_get_ext_d2i(cert, NID_ext_key_usage, &crit, NULL);
	n = eku != NULL ? sk_ASN1_OBJECT_num(eku) : 0;
	if (n != cJSON_GetArraySize(ekus)) {
		fprintf(stderr,
			"%d ext_key_usage configured, %d in the "
			"certificate\n",
			cJSON_GetArraySize(ekus), n);
		abort();
	}
	EXTENDED_KEY_USAGE_free(eku);
}

static void
profile_questions(const struct profile *pr, const cJSON *desc)
{
	static const unsigned char ip4[4] = {10, 0, 0, 1};
	static const unsigned char ip6[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0,
					      0,    0, 0, 0, 0, 0, 0, 1};
	unsigned n = 0;
	size_t i;
	X509 *cert;

	if (profile_name(pr) == NULL)
		abort();
	(void)profile_kind(pr);
	(void)profile_max_days(pr);
	(void)profile_crl_days(pr);
	(void)profile_path_len(pr);
	n += profile_check_key(pr, ec_key) != 0;
	n += profile_check_key(pr, rsa_key) != 0;
	for (i = 0; dns_samples[i] != NULL; i++)
		n += profile_check_dns(pr, dns_samples[i]) != 0;
	n += profile_check_ip(pr, ip4, sizeof(ip4)) != 0;
	n += profile_check_ip(pr, ip6, sizeof(ip6)) != 0;
	n += profile_check_source(pr, NULL, "label") != 0;
	n += profile_check_source(pr, "contoso.vault.azure.net", "cert") != 0;
	if ((cert = X509_new()) == NULL)
		abort();
	if (profile_add_extensions(pr, cert, ec_key) == 0) {
		if (desc != NULL)
			extensions_match(cert, desc);
	} else {
		n++;
	}
	X509_free(cert);
	if ((cert = X509_new()) == NULL)
		abort();
	n += profile_add_extensions(pr, cert, rsa_key) != 0;
	n += profile_add_issuer_urls(pr, cert) != 0;
	X509_free(cert);
	(void)n;
	err_detail_clear();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *c = NULL;
	struct policy *p = NULL;
	cJSON *findings = NULL, *desc = NULL;
	size_t i;

	if (size > FUZZ_MAX)
		return 0;
	if (ec_key == NULL)
		keys_setup();
	if (config_parse((const char *)data, size, "fuzz.conf", &c) != 0) {
		if (c != NULL)
			abort();
		goto out;
	}
	for (i = 0; i < config_section_count(c); i++)
		if (config_section_name(c, i) == NULL)
			abort();
	if (policy_load(c, &p) != 0) {
		if (p != NULL)
			abort();
		goto out;
	}
	if (policy_describe(p, &desc) == 0 && desc == NULL)
		abort();
	for (i = 0; i < policy_count(p); i++) {
		const struct profile *pr = policy_get0(p, i);
		if (pr == NULL || policy_find(p, profile_name(pr)) == NULL)
			abort();
		profile_questions(
		    pr, cJSON_GetArrayItem(
			    cJSON_GetObjectItemCaseSensitive(desc, "profiles"),
			    (int)i));
	}
	(void)policy_find_kind(p, PROFILE_ROOT);
	(void)policy_find_kind(p, PROFILE_INTERMEDIATE);
	if ((findings = cJSON_CreateArray()) == NULL)
		abort();
	if (policy_check(p, findings) == 0 && cJSON_GetArraySize(findings) > 0)
		abort(); /* findings, yet no error */
out:
	cJSON_Delete(findings);
	cJSON_Delete(desc);
	policy_free(p);
	config_free(c);
	err_detail_clear();
	return 0;
}
