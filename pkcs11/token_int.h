/* Internal to pkcs11/: what token.c shares with keygen.c. Not for other
 * modules; they use token.h. */
#ifndef AIRLOCK_TOKEN_INT_H
#define AIRLOCK_TOKEN_INT_H

#include <p11-kit/pkcs11.h>

#include "pkcs11/token.h"

CK_FUNCTION_LIST_PTR token_int_funcs(const struct token *t);
CK_SLOT_ID token_int_slot(const struct token *t);
CK_SESSION_HANDLE token_int_session(const struct token *t);
int token_int_find(struct token *t, CK_ATTRIBUTE *tmpl, CK_ULONG n,
		   CK_OBJECT_HANDLE *objs, CK_ULONG max, CK_ULONG *count)
    __attribute__((warn_unused_result));

#endif
