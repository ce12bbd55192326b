/* airlock error codes: one append-only enum shared by every module.
 *
 * Never renumber a code and never reuse a slot: codes are written into logs and
 * JSON output. Retire a code by leaving its slot in place with a comment. */
#ifndef AIRLOCK_ERR_H
#define AIRLOCK_ERR_H

enum airlock_err {
	AIRLOCK_OK = 0,
	AIRLOCK_E_INTERNAL = -1,
	AIRLOCK_E_NOMEM = -2,
	AIRLOCK_E_INVALID_ARG = -3,
	AIRLOCK_E_FORMAT = -4,
	AIRLOCK_E_TOO_LARGE = -5,
	AIRLOCK_E_IO = -6,
	AIRLOCK_E_NOT_FOUND = -7,
	AIRLOCK_E_EXISTS = -8,
	AIRLOCK_E_CRYPTO = -9,
	AIRLOCK_E_POLICY = -10,
	AIRLOCK_E_TIMEOUT = -11,
	AIRLOCK_E_REFUSED = -12,
	AIRLOCK_E_URI_SYNTAX = -13,
	AIRLOCK_E_URI_UNKNOWN_ATTR = -14,
	AIRLOCK_E_PIN_SOURCE = -15,
	AIRLOCK_E_PIN_REFUSED = -16,
	AIRLOCK_E_MODULE_LOAD = -17,
	AIRLOCK_E_TOKEN_NOT_FOUND = -18,
	AIRLOCK_E_TOKEN_AMBIGUOUS = -19,
	AIRLOCK_E_KEY_NOT_FOUND = -20,
	AIRLOCK_E_KEY_AMBIGUOUS = -21,
	AIRLOCK_E_TOKEN_PIN_INCORRECT = -22,
	AIRLOCK_E_TOKEN_PIN_LOCKED = -23,
	AIRLOCK_E_TOKEN_REMOVED = -24,
	AIRLOCK_E_TOKEN_SESSION = -25,
	AIRLOCK_E_TOKEN = -26,
	AIRLOCK_E_TOKEN_KEY_UNSAFE = -27,
	AIRLOCK_E_TOKEN_MECHANISM = -28,
	AIRLOCK_E_PCSC_NO_SERVICE = -29,
	AIRLOCK_E_PCSC_NO_READER = -30,
	AIRLOCK_E_PCSC = -31,
	AIRLOCK_E_CANCELLED = -32,
	AIRLOCK_E_TOKEN_PIN_LEN = -33,
	AIRLOCK_E_TOKEN_NOT_LOGGED_IN = -34,
	AIRLOCK_E_REMOTE = -35,
	AIRLOCK_E_HTTP = -36,
	AIRLOCK_E_TLS = -37,
	AIRLOCK_E_AUTH = -38,
	AIRLOCK_E_THROTTLED = -39,
	/* append new codes here; never renumber */
};

/* Short stable name for a code, e.g. "AIRLOCK_E_TOKEN_PIN_LOCKED". */
const char *err_name(int code);
/* One-line human description of a code. Never NULL. */
const char *err_str(int code);

/* Detail for the last error of this thread: what failed and where, in words an
 * operator can act on ("slot 3: CKR_PIN_INCORRECT", "at offset 12: '%zz'").
 * Modules set it next to returning a code; commands print it after err_str().
 * The text never holds secrets. */
void err_detail_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *err_detail_get(void);
void err_detail_clear(void);

/* Exit statuses shared by both programs (documented in every man page). */
enum airlock_exit {
	AIRLOCK_EXIT_OK = 0,
	AIRLOCK_EXIT_FAIL = 1,
	AIRLOCK_EXIT_USAGE = 2,
	AIRLOCK_EXIT_REJECTED = 3,
	AIRLOCK_EXIT_MALFORMED = 4,
	AIRLOCK_EXIT_TOKEN = 5,
	AIRLOCK_EXIT_REMOTE = 6,
	AIRLOCK_EXIT_REFUSED = 7,
};

/* Map an error code to the documented exit status. */
int err_exit_status(int code);

#endif
