/* Revocation and CRLs at the station.
 *
 * A revocation is a REVOKED ledger record; a CRL is built from the ledger:
 * every REVOKED serial of the issuing CA, and every INDOUBT serial (burned:
 * nobody may ever trust a certificate that might exist under it). CRL
 * numbers are written ahead: a CRL record with phase "intent" is fsynced
 * before the token signs, so a crash between the two never lets a number
 * be used twice; the next CRL takes the highest number recorded plus one. */
#ifndef AIRLOCK_CRL_H
#define AIRLOCK_CRL_H

#include <stddef.h>

#include "station/home.h"
#include "station/issue.h"

enum crl_issuer { CRL_INTERMEDIATE, CRL_ROOT };

/* Record the revocation of SERIAL (hex, any case, leading zeros and colons
 * allowed) with REASON, an RFC 5280 name (unspecified, keyCompromise,
 * cACompromise, affiliationChanged, superseded, cessationOfOperation,
 * privilegeWithdrawn, aACompromise). Unknown, not issued here, or already
 * revoked serials are refused. *WHICH tells whose CRL lists it. */
int crl_revoke(struct home *h, const char *serial, const char *reason,
	       enum crl_issuer *which, char canon[48])
    __attribute__((warn_unused_result));
/* Sign a CRL of WHICH on the token (DAYS: 0 = the profile's crl_days),
 * record it, and write HOME/crl/<issuer>-<number>.crl and .pem. */
int crl_make(struct issuer *is, enum crl_issuer which, long days,
	     unsigned long long *number, size_t *entries, char **path_out)
    __attribute__((warn_unused_result));
/* The newest CRL of WHICH as DER (from the ledger), and its number;
 * AIRLOCK_E_NOT_FOUND when none was made. */
int crl_latest(struct home *h, enum crl_issuer which, unsigned char **der,
	       size_t *len, unsigned long long *number)
    __attribute__((warn_unused_result));

#endif
