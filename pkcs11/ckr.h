/* CK_RV values: their names, and translation to airlock error codes. */
#ifndef AIRLOCK_CKR_H
#define AIRLOCK_CKR_H

#include <p11-kit/pkcs11.h>

/* "CKR_PIN_INCORRECT", or "CKR_0x..." for values not in PKCS#11 3.0. */
const char *ckr_name(CK_RV rv);
/* Map RV to an AIRLOCK_E_* code and set the error detail to
 * "<what>: <CKR name>[: explanation]". Returns 0 for CKR_OK. */
int ckr_to_err(CK_RV rv, const char *what) __attribute__((warn_unused_result));

#endif
