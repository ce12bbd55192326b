/* Issuance at the station (DESIGN.md "Issuance"): for each request the
 * policy allows, build the TBS from the profile, lint it under a throwaway
 * signature, record INTENT (group-committed: one fsync per chunk), sign on
 * the token, check the token signed the linted TBS and the signature
 * verifies, record ISSUED. Rejections are recorded as REJECTED; a token
 * failure mid-batch records ABORTED for what was not signed and stops.
 * Export writes the merge bundles, signed with the station key. */
#ifndef AIRLOCK_ISSUE_H
#define AIRLOCK_ISSUE_H

#include <openssl/x509.h>
#include <stddef.h>

#include "pkcs11/token.h"
#include "station/home.h"
#include "station/request.h"

#define ISSUE_CHUNK	   256
#define ISSUE_MAX_SESSIONS 16

struct issuer;

/* The CA certificates from HOME/ca; with WITH_TOKEN also the intermediate
 * key (and the station key) on the token, checked to match their
 * certificates and to be sensitive and not extractable. */
int issuer_open(struct home *h, int with_token, const char *pin_source,
		const struct token_login_ui *ui, struct issuer **out)
    __attribute__((warn_unused_result));
void issuer_close(struct issuer *is);
X509 *issuer_get0_intermediate(const struct issuer *is);
X509 *issuer_get0_root(const struct issuer *is);
/* Token sessions that sign at once (1 by default; a token such as an HSM
 * or SoftHSM2 signs in parallel, a smartcard does not). */
void issuer_set_sessions(struct issuer *is, int n);
/* An air-gap override to record with every INTENT and CRL (empty: none). */
void issuer_set_network_note(struct issuer *is, const char *note);
const char *issuer_network_note(const struct issuer *is);
struct home *issuer_get0_home(const struct issuer *is);
/* The intermediate's key on the token (NULL without the token). */
EVP_PKEY *issuer_get0_key(const struct issuer *is);
/* Open the root key recorded in HOME/ca/root.json (for root CRLs). */
int issuer_open_root(struct issuer *is, const char *pin_source,
		     const struct token_login_ui *ui)
    __attribute__((warn_unused_result));
EVP_PKEY *issuer_get0_root_key(const struct issuer *is);

/* Build and lint the certificate a request would get (software serial and
 * throwaway signature: nothing touches the token). RQ is updated: a lint
 * finding rejects it with the lint id as the rule. */
int issuer_preview(struct issuer *is, struct request *rq)
    __attribute__((warn_unused_result));

struct issue_stats {
	size_t issued, already, rejected, aborted;
};

/* Sign every allowed request of RS not issued before. */
int issuer_sign(struct issuer *is, struct request_set *rs,
		void (*progress)(void *arg, size_t done, size_t total),
		void *arg, struct issue_stats *st)
    __attribute__((warn_unused_result));

/* Write one merge bundle per spooled request bundle into PARENT (named
 * merge-<request bundle id>), then take the request bundle out of the
 * spool. *N gets the number of bundles written. */
int issuer_export(struct issuer *is, struct request_set *rs, const char *parent,
		  size_t *n, size_t *entries)
    __attribute__((warn_unused_result));

#endif
