/* CSR intake: everything a request must pass before policy looks at it
 * (SECURITY.md §1 and §3). Caps first, then a TLV walk of the raw bytes
 * (definite lengths only, sane OIDs, bounded depth), strict DER (full
 * consumption, canonical re-encoding), proof of possession, key checks
 * (RSA 2048..8192, multiple of 8, e = 65537; EC P-256/P-384 named curves
 * only), no SHA-1/MD5, requested extensions that would make a CA refused,
 * subject alternative names of DNS and IP only, no control or bidi
 * characters in the subject.
 *
 * A rejection sets the error detail to "RULE: explanation", RULE being a
 * stable id such as "csr.signature" (see csr_rule_split). */
#ifndef AIRLOCK_CSR_H
#define AIRLOCK_CSR_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>

#define CSR_MAX_SIZE  (64 * 1024)
#define CSR_MAX_NAMES 100

struct csr;

/* BUF is PEM ("CERTIFICATE REQUEST") or DER. */
int csr_parse(const unsigned char *buf, size_t len, struct csr **out)
    __attribute__((warn_unused_result));
void csr_free(struct csr *c);
EVP_PKEY *csr_get0_pubkey(const struct csr *c);
/* "rsa:2048", "ec:p256", ... */
const char *csr_key_type(const struct csr *c);
/* The subject CN (UTF-8), or NULL. */
const char *csr_cn(const struct csr *c);
size_t csr_dns_count(const struct csr *c);
const char *csr_dns(const struct csr *c, size_t i);
size_t csr_ip_count(const struct csr *c);
const unsigned char *csr_ip(const struct csr *c, size_t i, size_t *len);
/* SHA-256 of the DER request. */
const unsigned char *csr_sha256(const struct csr *c);
const unsigned char *csr_der(const struct csr *c, size_t *len);

/* Split a detail "RULE: text" into RULE (into RULE_OUT) and the text. */
const char *csr_rule_split(const char *detail, char *rule_out, size_t rule_len);

#endif
