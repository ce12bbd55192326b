/* Issuance profiles, read from the station configuration (config.h).
 *
 * A profile says what a certificate may contain and who may ask for it:
 * kind (root, intermediate, leaf), maximum validity, allowed subject key
 * types, key usage and extended key usage, allowed DNS names, DNS suffixes
 * and IP ranges, which Key Vault vaults and certificate names or which plain
 * CSR labels may use it, CRL and AIA URLs, and for intermediates the path
 * length and DNS name constraints. Everything not allowed is denied. */
#ifndef AIRLOCK_PROFILE_H
#define AIRLOCK_PROFILE_H

#include <cjson/cJSON.h>
#include <openssl/x509.h>
#include <stddef.h>

#include "station/config.h"

enum profile_kind { PROFILE_ROOT, PROFILE_INTERMEDIATE, PROFILE_LEAF };

struct profile;
struct policy; /* every profile of a configuration */

/* Read every [profile-NAME] section of C. Unknown settings are errors. */
int policy_load(struct config *c, struct policy **out)
    __attribute__((warn_unused_result));
void policy_free(struct policy *p);
size_t policy_count(const struct policy *p);
const struct profile *policy_get0(const struct policy *p, size_t i);
const struct profile *policy_find(const struct policy *p, const char *name);
/* The first profile of KIND (root, intermediate). */
const struct profile *policy_find_kind(const struct policy *p,
				       enum profile_kind kind);
/* Reject unsafe configurations (keyCertSign on a leaf, a CA without
 * cRLSign, validity beyond the issuing profile's, a profile nobody may
 * use). Every finding is added to FINDINGS (strings); returns
 * AIRLOCK_E_POLICY when there is any. */
int policy_check(const struct policy *p, cJSON *findings)
    __attribute__((warn_unused_result));
int policy_describe(const struct policy *p, cJSON **out)
    __attribute__((warn_unused_result));

const char *profile_name(const struct profile *pr);
enum profile_kind profile_kind(const struct profile *pr);
long profile_max_days(const struct profile *pr);
/* nextUpdate - thisUpdate of the CRLs a CA profile signs, in days. */
long profile_crl_days(const struct profile *pr);
int profile_path_len(const struct profile *pr); /* -1: none */
/* 0 if KEY's type and size are allowed, else AIRLOCK_E_POLICY with detail. */
int profile_check_key(const struct profile *pr, EVP_PKEY *key)
    __attribute__((warn_unused_result));
/* 0 if the DNS name / IP address (text) is allowed by the profile. */
int profile_check_dns(const struct profile *pr, const char *name)
    __attribute__((warn_unused_result));
int profile_check_ip(const struct profile *pr, const unsigned char *ip,
		     size_t len) __attribute__((warn_unused_result));
/* 0 if the source may use this profile: a Key Vault (VAULT_HOST, NAME) or a
 * plain CSR LABEL (VAULT_HOST NULL). */
int profile_check_source(const struct profile *pr, const char *vault_host,
			 const char *name) __attribute__((warn_unused_result));
/* Add basicConstraints, keyUsage (fitted to the subject key type),
 * extendedKeyUsage, CRL distribution point, AIA and name constraints. SKI
 * and AKI are the caller's (they need the keys). */
int profile_add_extensions(const struct profile *pr, X509 *cert,
			   EVP_PKEY *subject_key)
    __attribute__((warn_unused_result));

/* The issuing profile's crl_url and aia_url, as CRL distribution point and
 * authority information access in a certificate it issues. */
int profile_add_issuer_urls(const struct profile *issuer, X509 *cert)
    __attribute__((warn_unused_result));

/* The text of a default configuration for `init`, seeded with DOMAINS. */
int policy_default_config(const char *const *domains, size_t ndomains,
			  char **out) __attribute__((warn_unused_result));

#endif
