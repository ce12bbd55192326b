#include "pkcs11/ckr.h"

#include <stdio.h>

#include "lib/err.h"
#include "pkcs11/ckr_list.h"

static const struct {
	CK_RV rv;
	const char *name;
} ckr_names[] = {
#define N(x) {x, #x},
    AIRLOCK_CKR_LIST(N)
#undef N
};

const char *
ckr_name(CK_RV rv)
{
	static _Thread_local char buf[32];
	size_t i;

	for (i = 0; i < sizeof(ckr_names) / sizeof(ckr_names[0]); i++)
		if (ckr_names[i].rv == rv)
			return ckr_names[i].name;
	snprintf(buf, sizeof(buf), "CKR_0x%08lx", (unsigned long)rv);
	return buf;
}

int
ckr_to_err(CK_RV rv, const char *what)
{
	const char *why = "";
	int code;

	switch (rv) {
	case CKR_OK:
		return 0;
	case CKR_PIN_INCORRECT:
		code = AIRLOCK_E_TOKEN_PIN_INCORRECT;
		why = ": wrong PIN; the token counts failed tries, so check "
		      "the PIN before trying again (airlock never retries a "
		      "PIN by itself)";
		break;
	case CKR_PIN_LOCKED:
		code = AIRLOCK_E_TOKEN_PIN_LOCKED;
		why = ": the user PIN is locked after too many wrong tries; "
		      "the security officer must unblock it (for SoftHSM2: "
		      "softhsm2-util has no unblock, re-init the PIN with "
		      "the SO PIN; for smartcards: the vendor's unblock tool)";
		break;
	case CKR_PIN_LEN_RANGE:
		code = AIRLOCK_E_TOKEN_PIN_LEN;
		why = ": the PIN is shorter or longer than the token accepts";
		break;
	case CKR_PIN_EXPIRED:
		code = AIRLOCK_E_TOKEN;
		why = ": the PIN has expired; change it with the token's tool";
		break;
	case CKR_DEVICE_REMOVED:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_TOKEN_NOT_RECOGNIZED:
		code = AIRLOCK_E_TOKEN_REMOVED;
		why = ": the token is gone; put it back and run the command "
		      "again";
		break;
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_SESSION_CLOSED:
	case CKR_DEVICE_ERROR:
	case CKR_DEVICE_MEMORY:
		code = AIRLOCK_E_TOKEN_SESSION;
		why = ": the session with the token was lost; check the "
		      "reader and the token, then run the command again";
		break;
	case CKR_USER_NOT_LOGGED_IN:
		code = AIRLOCK_E_TOKEN_NOT_LOGGED_IN;
		break;
	case CKR_MECHANISM_INVALID:
	case CKR_MECHANISM_PARAM_INVALID:
		code = AIRLOCK_E_TOKEN_MECHANISM;
		why = ": the token does not offer this mechanism";
		break;
	case CKR_HOST_MEMORY:
		code = AIRLOCK_E_NOMEM;
		break;
	case CKR_TOKEN_WRITE_PROTECTED:
		code = AIRLOCK_E_TOKEN;
		why = ": the token is write-protected";
		break;
	default:
		code = AIRLOCK_E_TOKEN;
		break;
	}
	err_detail_set("%s: %s%s", what, ckr_name(rv), why);
	return code;
}
