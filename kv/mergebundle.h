/* A merge bundle as the online host accepts it: read with lib/bundle.h,
 * its signature verified against the pinned root before anything in it is
 * used (SECURITY.md section 3), each entry's chain parsed.
 *
 * The ledger slice and checkpoint files are checked against the replica of
 * the station's ledger by kv/replica.h. */
#ifndef AIRLOCK_KV_MERGEBUNDLE_H
#define AIRLOCK_KV_MERGEBUNDLE_H

#include <openssl/x509.h>

struct bundle;

/* Read DIR, require kind "merge", verify its signature against the
 * certificates in TRUST_FILE (PEM, each a trust anchor). AIRLOCK_E_POLICY
 * when it does not verify. */
int mergebundle_open(const char *dir, const char *trust_file,
		     struct bundle **out) __attribute__((warn_unused_result));

/* Load every certificate of a PEM file. */
int mergebundle_pem_certs(const unsigned char *buf, size_t len,
			  STACK_OF(X509) * *out)
    __attribute__((warn_unused_result));

/* Entry I's chain (leaf first) from its PEM file; the leaf's serial must
 * equal the entry's "serial". */
int mergebundle_entry_chain(const struct bundle *b, size_t i,
			    STACK_OF(X509) * *out)
    __attribute__((warn_unused_result));

/* Entry I's source fields (borrowed; NULL when absent): type,
 * vault_url, certificate_name, request_id, label. */
const char *mergebundle_entry_source(const struct bundle *b, size_t i,
				     const char *field);

#endif
