/* Error codes, exit statuses, and CK_RV translation at the token boundary. */
#include <string.h>

#include "lib/err.h"
#include "lib/term.h"
#include "pkcs11/ckr.h"
#include "tap.h"

static void
ckr(CK_RV rv, int want, const char *detail)
{
	int r;

	err_detail_clear();
	r = ckr_to_err(rv, "C_Login on token 'x'");
	TAP_CHECK(r == want, "%s maps to %s (got %s)", ckr_name(rv),
		  err_name(want), err_name(r));
	TAP_CHECK(strstr(err_detail_get(), detail) != NULL,
		  "%s detail mentions '%s' (got '%s')", ckr_name(rv), detail,
		  err_detail_get());
}

int
main(void)
{
	char buf[128];

	TAP_CHECK(ckr_to_err(CKR_OK, "x") == 0, "CKR_OK is success");
	ckr(CKR_PIN_INCORRECT, AIRLOCK_E_TOKEN_PIN_INCORRECT, "never retries");
	ckr(CKR_PIN_LOCKED, AIRLOCK_E_TOKEN_PIN_LOCKED, "CKR_PIN_LOCKED");
	ckr(CKR_PIN_LOCKED, AIRLOCK_E_TOKEN_PIN_LOCKED, "unblock");
	ckr(CKR_DEVICE_REMOVED, AIRLOCK_E_TOKEN_REMOVED, "CKR_DEVICE_REMOVED");
	ckr(CKR_TOKEN_NOT_PRESENT, AIRLOCK_E_TOKEN_REMOVED, "put it back");
	ckr(CKR_SESSION_HANDLE_INVALID, AIRLOCK_E_TOKEN_SESSION,
	    "CKR_SESSION_HANDLE_INVALID");
	ckr(CKR_GENERAL_ERROR, AIRLOCK_E_TOKEN, "CKR_GENERAL_ERROR");
	ckr(CKR_DEVICE_ERROR, AIRLOCK_E_TOKEN_SESSION, "CKR_DEVICE_ERROR");
	ckr(CKR_MECHANISM_INVALID, AIRLOCK_E_TOKEN_MECHANISM, "mechanism");
	ckr(0x8000beefUL, AIRLOCK_E_TOKEN, "CKR_0x8000beef");
	TAP_STR_EQ(err_name(AIRLOCK_E_TOKEN_PIN_LOCKED),
		   "AIRLOCK_E_TOKEN_PIN_LOCKED", "err_name");
	TAP_CHECK(strstr(err_str(AIRLOCK_E_TOKEN_PIN_LOCKED), "SO unblock") !=
		      NULL,
		  "err_str explains PIN_LOCKED");
	TAP_CHECK(err_exit_status(AIRLOCK_E_POLICY) == 3 &&
		      err_exit_status(AIRLOCK_E_FORMAT) == 4 &&
		      err_exit_status(AIRLOCK_E_TOKEN_PIN_LOCKED) == 5 &&
		      err_exit_status(AIRLOCK_E_EXISTS) == 7 &&
		      err_exit_status(AIRLOCK_E_URI_SYNTAX) == 2,
		  "exit statuses as documented");
	TAP_STR_EQ(err_name(-9999), "AIRLOCK_E_UNKNOWN", "unknown code");
	TAP_STR_EQ(term_sanitize("ok\x1b[2Jx", buf, sizeof(buf)), "ok\\x1b[2Jx",
		   "escape sequences neutralised");
	TAP_STR_EQ(term_sanitize("a\xe2\x80\xae"
				 "b",
				 buf, sizeof(buf)),
		   "a\\u{202e}b", "bidi override neutralised");
	TAP_STR_EQ(term_sanitize("caf\xc3\xa9!", buf, sizeof(buf)),
		   "caf\xc3\xa9!", "valid UTF-8 kept");
	TAP_STR_EQ(term_sanitize("\xc0\xaf", buf, sizeof(buf)), "\\xc0\\xaf",
		   "overlong UTF-8 escaped");
	TAP_STR_EQ(term_sanitize("\xc2\x9b", buf, sizeof(buf)), "\\x9b",
		   "C1 CSI escaped");
	return TAP_DONE();
}
