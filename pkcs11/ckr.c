#include "pkcs11/ckr.h"

#include <stdio.h>

#include "lib/err.h"

static const struct {
	CK_RV rv;
	const char *name;
} ckr_names[] = {
#define N(x)                                                                   \
	{                                                                      \
		x, #x                                                          \
	}
    N(CKR_OK),
    N(CKR_CANCEL),
    N(CKR_HOST_MEMORY),
    N(CKR_SLOT_ID_INVALID),
    N(CKR_GENERAL_ERROR),
    N(CKR_FUNCTION_FAILED),
    N(CKR_ARGUMENTS_BAD),
    N(CKR_NO_EVENT),
    N(CKR_NEED_TO_CREATE_THREADS),
    N(CKR_CANT_LOCK),
    N(CKR_ATTRIBUTE_READ_ONLY),
    N(CKR_ATTRIBUTE_SENSITIVE),
    N(CKR_ATTRIBUTE_TYPE_INVALID),
    N(CKR_ATTRIBUTE_VALUE_INVALID),
    N(CKR_ACTION_PROHIBITED),
    N(CKR_DATA_INVALID),
    N(CKR_DATA_LEN_RANGE),
    N(CKR_DEVICE_ERROR),
    N(CKR_DEVICE_MEMORY),
    N(CKR_DEVICE_REMOVED),
    N(CKR_ENCRYPTED_DATA_INVALID),
    N(CKR_ENCRYPTED_DATA_LEN_RANGE),
    N(CKR_FUNCTION_CANCELED),
    N(CKR_FUNCTION_NOT_PARALLEL),
    N(CKR_FUNCTION_NOT_SUPPORTED),
    N(CKR_KEY_HANDLE_INVALID),
    N(CKR_KEY_SIZE_RANGE),
    N(CKR_KEY_TYPE_INCONSISTENT),
    N(CKR_KEY_NOT_NEEDED),
    N(CKR_KEY_CHANGED),
    N(CKR_KEY_NEEDED),
    N(CKR_KEY_INDIGESTIBLE),
    N(CKR_KEY_FUNCTION_NOT_PERMITTED),
    N(CKR_KEY_NOT_WRAPPABLE),
    N(CKR_KEY_UNEXTRACTABLE),
    N(CKR_MECHANISM_INVALID),
    N(CKR_MECHANISM_PARAM_INVALID),
    N(CKR_OBJECT_HANDLE_INVALID),
    N(CKR_OPERATION_ACTIVE),
    N(CKR_OPERATION_NOT_INITIALIZED),
    N(CKR_PIN_INCORRECT),
    N(CKR_PIN_INVALID),
    N(CKR_PIN_LEN_RANGE),
    N(CKR_PIN_EXPIRED),
    N(CKR_PIN_LOCKED),
    N(CKR_SESSION_CLOSED),
    N(CKR_SESSION_COUNT),
    N(CKR_SESSION_HANDLE_INVALID),
    N(CKR_SESSION_PARALLEL_NOT_SUPPORTED),
    N(CKR_SESSION_READ_ONLY),
    N(CKR_SESSION_EXISTS),
    N(CKR_SESSION_READ_ONLY_EXISTS),
    N(CKR_SESSION_READ_WRITE_SO_EXISTS),
    N(CKR_SIGNATURE_INVALID),
    N(CKR_SIGNATURE_LEN_RANGE),
    N(CKR_TEMPLATE_INCOMPLETE),
    N(CKR_TEMPLATE_INCONSISTENT),
    N(CKR_TOKEN_NOT_PRESENT),
    N(CKR_TOKEN_NOT_RECOGNIZED),
    N(CKR_TOKEN_WRITE_PROTECTED),
    N(CKR_UNWRAPPING_KEY_SIZE_RANGE),
    N(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT),
    N(CKR_USER_ALREADY_LOGGED_IN),
    N(CKR_USER_NOT_LOGGED_IN),
    N(CKR_USER_PIN_NOT_INITIALIZED),
    N(CKR_USER_TYPE_INVALID),
    N(CKR_USER_ANOTHER_ALREADY_LOGGED_IN),
    N(CKR_USER_TOO_MANY_TYPES),
    N(CKR_WRAPPED_KEY_INVALID),
    N(CKR_WRAPPED_KEY_LEN_RANGE),
    N(CKR_WRAPPING_KEY_HANDLE_INVALID),
    N(CKR_WRAPPING_KEY_SIZE_RANGE),
    N(CKR_WRAPPING_KEY_TYPE_INCONSISTENT),
    N(CKR_RANDOM_SEED_NOT_SUPPORTED),
    N(CKR_RANDOM_NO_RNG),
    N(CKR_DOMAIN_PARAMS_INVALID),
    N(CKR_CURVE_NOT_SUPPORTED),
    N(CKR_BUFFER_TOO_SMALL),
    N(CKR_SAVED_STATE_INVALID),
    N(CKR_INFORMATION_SENSITIVE),
    N(CKR_STATE_UNSAVEABLE),
    N(CKR_CRYPTOKI_NOT_INITIALIZED),
    N(CKR_CRYPTOKI_ALREADY_INITIALIZED),
    N(CKR_MUTEX_BAD),
    N(CKR_MUTEX_NOT_LOCKED),
    N(CKR_NEW_PIN_MODE),
    N(CKR_NEXT_OTP),
    N(CKR_EXCEEDED_MAX_ITERATIONS),
    N(CKR_FIPS_SELF_TEST_FAILED),
    N(CKR_LIBRARY_LOAD_FAILED),
    N(CKR_PIN_TOO_WEAK),
    N(CKR_PUBLIC_KEY_INVALID),
    N(CKR_FUNCTION_REJECTED),
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
