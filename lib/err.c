#include "err.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static _Thread_local char err_detail[4096];

struct err_entry {
	int code;
	const char *name;
	const char *text;
	int exit_status;
};

#define E(c, t, x)                                                             \
	{                                                                      \
		c, #c, t, x                                                    \
	}
static const struct err_entry err_table[] = {
    E(AIRLOCK_OK, "success", AIRLOCK_EXIT_OK),
    E(AIRLOCK_E_INTERNAL, "internal error", AIRLOCK_EXIT_FAIL),
    E(AIRLOCK_E_NOMEM, "out of memory", AIRLOCK_EXIT_FAIL),
    E(AIRLOCK_E_INVALID_ARG, "invalid argument", AIRLOCK_EXIT_USAGE),
    E(AIRLOCK_E_FORMAT, "malformed input", AIRLOCK_EXIT_MALFORMED),
    E(AIRLOCK_E_TOO_LARGE, "input exceeds its size limit",
      AIRLOCK_EXIT_MALFORMED),
    E(AIRLOCK_E_IO, "input/output error", AIRLOCK_EXIT_FAIL),
    E(AIRLOCK_E_NOT_FOUND, "not found", AIRLOCK_EXIT_FAIL),
    E(AIRLOCK_E_EXISTS, "already exists", AIRLOCK_EXIT_REFUSED),
    E(AIRLOCK_E_CRYPTO, "cryptographic operation failed", AIRLOCK_EXIT_FAIL),
    E(AIRLOCK_E_POLICY, "rejected by policy", AIRLOCK_EXIT_REJECTED),
    E(AIRLOCK_E_TIMEOUT, "timed out", AIRLOCK_EXIT_FAIL),
    E(AIRLOCK_E_REFUSED, "refused", AIRLOCK_EXIT_REFUSED),
    E(AIRLOCK_E_URI_SYNTAX, "malformed PKCS#11 URI", AIRLOCK_EXIT_USAGE),
    E(AIRLOCK_E_URI_UNKNOWN_ATTR, "unknown PKCS#11 URI attribute",
      AIRLOCK_EXIT_USAGE),
    E(AIRLOCK_E_PIN_SOURCE, "PIN source unusable", AIRLOCK_EXIT_USAGE),
    E(AIRLOCK_E_PIN_REFUSED, "PIN given in an unsafe way",
      AIRLOCK_EXIT_REFUSED),
    E(AIRLOCK_E_MODULE_LOAD, "PKCS#11 module could not be loaded",
      AIRLOCK_EXIT_TOKEN),
    E(AIRLOCK_E_TOKEN_NOT_FOUND, "no token matches", AIRLOCK_EXIT_TOKEN),
    E(AIRLOCK_E_TOKEN_AMBIGUOUS, "more than one token matches",
      AIRLOCK_EXIT_TOKEN),
    E(AIRLOCK_E_KEY_NOT_FOUND, "no key matches", AIRLOCK_EXIT_TOKEN),
    E(AIRLOCK_E_KEY_AMBIGUOUS, "more than one key matches", AIRLOCK_EXIT_TOKEN),
    E(AIRLOCK_E_TOKEN_PIN_INCORRECT, "CKR_PIN_INCORRECT: wrong PIN",
      AIRLOCK_EXIT_TOKEN),
    E(AIRLOCK_E_TOKEN_PIN_LOCKED,
      "CKR_PIN_LOCKED: user PIN is locked; an SO unblock is needed",
      AIRLOCK_EXIT_TOKEN),
    E(AIRLOCK_E_TOKEN_REMOVED, "token removed or not present",
      AIRLOCK_EXIT_TOKEN),
    E(AIRLOCK_E_TOKEN_SESSION, "token session lost", AIRLOCK_EXIT_TOKEN),
    E(AIRLOCK_E_TOKEN, "token operation failed", AIRLOCK_EXIT_TOKEN),
    E(AIRLOCK_E_TOKEN_KEY_UNSAFE, "key is extractable or not sensitive",
      AIRLOCK_EXIT_REFUSED),
    E(AIRLOCK_E_TOKEN_MECHANISM, "token lacks the needed mechanism",
      AIRLOCK_EXIT_TOKEN),
    E(AIRLOCK_E_PCSC_NO_SERVICE, "pcscd is not running", AIRLOCK_EXIT_TOKEN),
    E(AIRLOCK_E_PCSC_NO_READER, "no smartcard reader found",
      AIRLOCK_EXIT_TOKEN),
    E(AIRLOCK_E_PCSC, "smartcard service error", AIRLOCK_EXIT_TOKEN),
    E(AIRLOCK_E_CANCELLED, "cancelled by the operator", AIRLOCK_EXIT_FAIL),
    E(AIRLOCK_E_TOKEN_PIN_LEN, "CKR_PIN_LEN_RANGE: PIN length out of range",
      AIRLOCK_EXIT_TOKEN),
    E(AIRLOCK_E_TOKEN_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN: login needed",
      AIRLOCK_EXIT_TOKEN),
    E(AIRLOCK_E_REMOTE, "Key Vault request failed", AIRLOCK_EXIT_REMOTE),
    E(AIRLOCK_E_HTTP, "unexpected HTTP response", AIRLOCK_EXIT_REMOTE),
    E(AIRLOCK_E_TLS, "TLS verification failed", AIRLOCK_EXIT_REMOTE),
    E(AIRLOCK_E_AUTH, "authentication failed", AIRLOCK_EXIT_REMOTE),
    E(AIRLOCK_E_THROTTLED, "throttled by Key Vault", AIRLOCK_EXIT_REMOTE),
};
#undef E

static const struct err_entry *
err_find(int code)
{
	size_t i;

	for (i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++)
		if (err_table[i].code == code)
			return &err_table[i];
	return NULL;
}

const char *
err_name(int code)
{
	const struct err_entry *e = err_find(code);

	return e != NULL ? e->name : "AIRLOCK_E_UNKNOWN";
}

const char *
err_str(int code)
{
	const struct err_entry *e = err_find(code);

	return e != NULL ? e->text : "unknown error";
}

int
err_exit_status(int code)
{
	const struct err_entry *e = err_find(code);

	return e != NULL ? e->exit_status : AIRLOCK_EXIT_FAIL;
}

void
err_detail_set(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err_detail, sizeof(err_detail), fmt, ap);
	va_end(ap);
}

const char *
err_detail_get(void)
{
	return err_detail;
}

void
err_detail_clear(void)
{
	err_detail[0] = '\0';
}
