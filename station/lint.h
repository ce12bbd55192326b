/* Certificate and CRL lints (SECURITY.md §1).
 *
 * Issuance lints twice, as boulder does: first the TBS signed with a
 * throwaway software key of the CA's key type, and only if that is clean the
 * token signs; then the real certificate again. Each lint has a stable id
 * ("e_serial_not_positive") that is written to the audit log, and a text
 * naming the offending value ("serial 0x00 is not positive"). */
#ifndef AIRLOCK_LINT_H
#define AIRLOCK_LINT_H

#include <openssl/x509.h>
#include <stddef.h>
#include <time.h>

/* What the certificate is meant to be. Plain data the caller fills: the
 * documented exception to opaque structs. */
struct lint_params {
	int is_ca;		/* 1: CA certificate expected, 0: leaf */
	int self_signed;	/* 1: root (issuer == cert) */
	long max_validity_days; /* profile cap; 0 = none */
	int path_len; /* expected pathLenConstraint for CAs, -1 = absent */
	time_t now;   /* injectable clock */
	int signer;   /* a leaf that names no host: the station's bundle
			 signer (no SAN expected, the CN is free text) */
};

struct lint_result;

/* Run every certificate lint on CERT, issued by ISSUER (CERT itself for a
 * root). Returns 0 when clean, AIRLOCK_E_POLICY when any lint fails (the
 * error detail is "<lint id>: <text>" of the first failure), other codes on
 * internal errors. When OUT is not NULL it receives every finding (possibly
 * none) on 0 and AIRLOCK_E_POLICY, and NULL otherwise; the caller frees it
 * with lint_result_free(). */
int lint_cert_check(X509 *cert, X509 *issuer, const struct lint_params *p,
		    struct lint_result **out)
    __attribute__((warn_unused_result));

/* Run every CRL lint on CRL, issued by the CA certificate ISSUER: v2, issuer
 * bytes equal the CA subject bytes, AKI equals the CA SKI, CRL number present,
 * non-critical, positive and at most 20 octets, time encodings, nextUpdate
 * present and after thisUpdate, inner and outer signature algorithms equal
 * and allowed, no duplicate extensions, no duplicate serials. Results as for
 * lint_cert_check(). */
int lint_crl_check(X509_CRL *crl, X509 *issuer, struct lint_result **out)
    __attribute__((warn_unused_result));

size_t lint_result_count(const struct lint_result *lr);
/* Id and text of finding I (NULL when I is out of range); borrowed from LR. */
const char *lint_result_id(const struct lint_result *lr, size_t i);
const char *lint_result_text(const struct lint_result *lr, size_t i);
void lint_result_free(struct lint_result *lr);

/* The ids of every lint this module has (certificate lints first, then CRL
 * lints), for docs and tests. *IDS points at a static array. */
size_t lint_catalogue(const char *const **ids);

#endif
