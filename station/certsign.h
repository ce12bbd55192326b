/* Building and signing certificates the way SECURITY.md §1 asks: serials from
 * the token's RNG, lint on a throwaway signature first, sign on the token
 * only when clean, then check that the token signed exactly the linted TBS,
 * verify with the CA's public key, and lint again. */
#ifndef AIRLOCK_CERTSIGN_H
#define AIRLOCK_CERTSIGN_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <time.h>

#include "pkcs11/token.h"
#include "station/lint.h"

#define CERTSIGN_SERIAL_LEN 16

/* 128 random bits from the token (software RNG when T is NULL, for
 * dry runs), first byte 0x01..0x7f: positive, 16 octets, never 0. */
int certsign_serial(struct token *t, ASN1_INTEGER **out)
    __attribute__((warn_unused_result));
/* The digest for a CA key: SHA-384 for P-384, SHA-256 otherwise. */
const EVP_MD *certsign_md(EVP_PKEY *key);
/* Parse a subject: "/C=DE/O=Example/CN=Root" or "CN=Root,O=Example". */
int certsign_parse_dn(const char *s, X509_NAME **out)
    __attribute__((warn_unused_result));
/* Version, serial, names, validity [NOW, NOW + DAYS), public key, and SKI;
 * AKI from ISSUER's SKI (or the subject's own for a self-signed cert).
 * A notAfter beyond ISSUER's is refused (AIRLOCK_E_POLICY). */
int certsign_prepare(X509 *cert, ASN1_INTEGER *serial, X509_NAME *subject,
		     X509 *issuer, EVP_PKEY *subject_key, time_t now, long days)
    __attribute__((warn_unused_result));
/* Lint on a throwaway key of CA_KEY's type, sign with CA_KEY (on the
 * token), compare the TBS byte for byte, verify with CA_PUB, lint again.
 * ISSUER is NULL for a self-signed certificate. *LINTS (may be NULL) gets
 * the findings of a failed lint. */
int certsign_sign(X509 *cert, X509 *issuer, EVP_PKEY *ca_key, EVP_PKEY *ca_pub,
		  const struct lint_params *lp, struct lint_result **lints)
    __attribute__((warn_unused_result));
/* The two halves of certsign_sign, for group commit: lint under a throwaway
 * signature and return the TBS DER (the caller records its hash in the
 * ledger and fsyncs), then sign on the token and check. */
int certsign_lint_tbs(X509 *cert, X509 *issuer, EVP_PKEY *ca_pub,
		      const struct lint_params *lp, unsigned char **tbs,
		      int *tbs_len, struct lint_result **lints)
    __attribute__((warn_unused_result));
int certsign_finish(X509 *cert, X509 *issuer, EVP_PKEY *ca_key,
		    EVP_PKEY *ca_pub, const unsigned char *tbs, int tbs_len,
		    const struct lint_params *lp, struct lint_result **lints)
    __attribute__((warn_unused_result));
/* A software copy of KEY's public half (from the private EVP_PKEY: libp11
 * 0.4.12's PKCS11_get_public_key leaks). */
int certsign_pubkey(EVP_PKEY *key, EVP_PKEY **out)
    __attribute__((warn_unused_result));
/* 1 if A and B are the same public key. */
int certsign_same_key(EVP_PKEY *a, EVP_PKEY *b);
/* SHA-256 of the DER SubjectPublicKeyInfo / of the DER certificate. */
int certsign_spki_sha256(EVP_PKEY *key, unsigned char out[32])
    __attribute__((warn_unused_result));
int certsign_cert_sha256(X509 *cert, unsigned char out[32])
    __attribute__((warn_unused_result));
/* A throwaway software key of TYPE (rsa:2048 ... ec:p384), for dry runs. */
int certsign_soft_key(const char *type, EVP_PKEY **out)
    __attribute__((warn_unused_result));

#endif
