/* p11fault: a PKCS#11 module for tests. It forwards every call of PKCS#11
 * 2.40 to a real module (SoftHSM2 by default) and, by configuration, fails a
 * chosen call with a chosen CKR, changes the token flags C_GetTokenInfo
 * reports, plays a PIN pad, sleeps before calls, and counts every call into a
 * file a test can read even after kill -9. tests/faults/README.md has the
 * configuration format. SECURITY.md section 6 asks for it. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#include "pkcs11/ckr_list.h"

#define P11F_DEFAULT_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define P11F_MAX_RULES	    32
#define P11F_MAX_CONFIG	    (64 * 1024)

/* Every function of CK_FUNCTION_LIST (PKCS#11 2.40 section 5), in its order:
 * F(name, parameters, arguments) is forwarded by the generic stub; S(...) has
 * a hand-written stub below because it does more than forward. */
#define P11F_FUNCTIONS(F, S)                                                   \
	S(C_Initialize, (CK_VOID_PTR a), (a))                                  \
	S(C_Finalize, (CK_VOID_PTR a), (a))                                    \
	F(C_GetInfo, (CK_INFO_PTR i), (i))                                     \
	S(C_GetFunctionList, (CK_FUNCTION_LIST_PTR_PTR l), (l))                \
	F(C_GetSlotList, (CK_BBOOL p, CK_SLOT_ID_PTR l, CK_ULONG_PTR n),       \
	  (p, l, n))                                                           \
	F(C_GetSlotInfo, (CK_SLOT_ID s, CK_SLOT_INFO_PTR i), (s, i))           \
	S(C_GetTokenInfo, (CK_SLOT_ID s, CK_TOKEN_INFO_PTR i), (s, i))         \
	F(C_GetMechanismList,                                                  \
	  (CK_SLOT_ID s, CK_MECHANISM_TYPE_PTR l, CK_ULONG_PTR n), (s, l, n))  \
	F(C_GetMechanismInfo,                                                  \
	  (CK_SLOT_ID s, CK_MECHANISM_TYPE t, CK_MECHANISM_INFO_PTR i),        \
	  (s, t, i))                                                           \
	F(C_InitToken,                                                         \
	  (CK_SLOT_ID s, CK_UTF8CHAR_PTR p, CK_ULONG n, CK_UTF8CHAR_PTR l),    \
	  (s, p, n, l))                                                        \
	F(C_InitPIN, (CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR p, CK_ULONG n),     \
	  (h, p, n))                                                           \
	F(C_SetPIN,                                                            \
	  (CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR o, CK_ULONG on,                \
	   CK_UTF8CHAR_PTR p, CK_ULONG pn),                                    \
	  (h, o, on, p, pn))                                                   \
	F(C_OpenSession,                                                       \
	  (CK_SLOT_ID s, CK_FLAGS f, CK_VOID_PTR a, CK_NOTIFY n,               \
	   CK_SESSION_HANDLE_PTR h),                                           \
	  (s, f, a, n, h))                                                     \
	F(C_CloseSession, (CK_SESSION_HANDLE h), (h))                          \
	F(C_CloseAllSessions, (CK_SLOT_ID s), (s))                             \
	F(C_GetSessionInfo, (CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR i),      \
	  (h, i))                                                              \
	F(C_GetOperationState,                                                 \
	  (CK_SESSION_HANDLE h, CK_BYTE_PTR b, CK_ULONG_PTR n), (h, b, n))     \
	F(C_SetOperationState,                                                 \
	  (CK_SESSION_HANDLE h, CK_BYTE_PTR b, CK_ULONG n, CK_OBJECT_HANDLE e, \
	   CK_OBJECT_HANDLE a),                                                \
	  (h, b, n, e, a))                                                     \
	S(C_Login,                                                             \
	  (CK_SESSION_HANDLE h, CK_USER_TYPE u, CK_UTF8CHAR_PTR p,             \
	   CK_ULONG n),                                                        \
	  (h, u, p, n))                                                        \
	F(C_Logout, (CK_SESSION_HANDLE h), (h))                                \
	F(C_CreateObject,                                                      \
	  (CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t, CK_ULONG n,                \
	   CK_OBJECT_HANDLE_PTR o),                                            \
	  (h, t, n, o))                                                        \
	F(C_CopyObject,                                                        \
	  (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t,        \
	   CK_ULONG n, CK_OBJECT_HANDLE_PTR no),                               \
	  (h, o, t, n, no))                                                    \
	F(C_DestroyObject, (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o), (h, o))  \
	F(C_GetObjectSize,                                                     \
	  (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ULONG_PTR n),           \
	  (h, o, n))                                                           \
	F(C_GetAttributeValue,                                                 \
	  (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t,        \
	   CK_ULONG n),                                                        \
	  (h, o, t, n))                                                        \
	F(C_SetAttributeValue,                                                 \
	  (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t,        \
	   CK_ULONG n),                                                        \
	  (h, o, t, n))                                                        \
	F(C_FindObjectsInit,                                                   \
	  (CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t, CK_ULONG n), (h, t, n))    \
	F(C_FindObjects,                                                       \
	  (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR o, CK_ULONG m,            \
	   CK_ULONG_PTR n),                                                    \
	  (h, o, m, n))                                                        \
	F(C_FindObjectsFinal, (CK_SESSION_HANDLE h), (h))                      \
	F(C_EncryptInit,                                                       \
	  (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k),       \
	  (h, m, k))                                                           \
	F(C_Encrypt, P11F_IO_PARAMS, P11F_IO_ARGS)                             \
	F(C_EncryptUpdate, P11F_IO_PARAMS, P11F_IO_ARGS)                       \
	F(C_EncryptFinal, P11F_OUT_PARAMS, P11F_OUT_ARGS)                      \
	F(C_DecryptInit,                                                       \
	  (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k),       \
	  (h, m, k))                                                           \
	F(C_Decrypt, P11F_IO_PARAMS, P11F_IO_ARGS)                             \
	F(C_DecryptUpdate, P11F_IO_PARAMS, P11F_IO_ARGS)                       \
	F(C_DecryptFinal, P11F_OUT_PARAMS, P11F_OUT_ARGS)                      \
	F(C_DigestInit, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m), (h, m))     \
	F(C_Digest, P11F_IO_PARAMS, P11F_IO_ARGS)                              \
	F(C_DigestUpdate, P11F_IN_PARAMS, P11F_IN_ARGS)                        \
	F(C_DigestKey, (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE k), (h, k))      \
	F(C_DigestFinal, P11F_OUT_PARAMS, P11F_OUT_ARGS)                       \
	F(C_SignInit,                                                          \
	  (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k),       \
	  (h, m, k))                                                           \
	F(C_Sign, P11F_IO_PARAMS, P11F_IO_ARGS)                                \
	F(C_SignUpdate, P11F_IN_PARAMS, P11F_IN_ARGS)                          \
	F(C_SignFinal, P11F_OUT_PARAMS, P11F_OUT_ARGS)                         \
	F(C_SignRecoverInit,                                                   \
	  (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k),       \
	  (h, m, k))                                                           \
	F(C_SignRecover, P11F_IO_PARAMS, P11F_IO_ARGS)                         \
	F(C_VerifyInit,                                                        \
	  (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k),       \
	  (h, m, k))                                                           \
	F(C_Verify,                                                            \
	  (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR s,     \
	   CK_ULONG sn),                                                       \
	  (h, d, dn, s, sn))                                                   \
	F(C_VerifyUpdate, P11F_IN_PARAMS, P11F_IN_ARGS)                        \
	F(C_VerifyFinal, P11F_IN_PARAMS, P11F_IN_ARGS)                         \
	F(C_VerifyRecoverInit,                                                 \
	  (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k),       \
	  (h, m, k))                                                           \
	F(C_VerifyRecover, P11F_IO_PARAMS, P11F_IO_ARGS)                       \
	F(C_DigestEncryptUpdate, P11F_IO_PARAMS, P11F_IO_ARGS)                 \
	F(C_DecryptDigestUpdate, P11F_IO_PARAMS, P11F_IO_ARGS)                 \
	F(C_SignEncryptUpdate, P11F_IO_PARAMS, P11F_IO_ARGS)                   \
	F(C_DecryptVerifyUpdate, P11F_IO_PARAMS, P11F_IO_ARGS)                 \
	F(C_GenerateKey,                                                       \
	  (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR t,        \
	   CK_ULONG n, CK_OBJECT_HANDLE_PTR k),                                \
	  (h, m, t, n, k))                                                     \
	F(C_GenerateKeyPair,                                                   \
	  (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR pt,       \
	   CK_ULONG pn, CK_ATTRIBUTE_PTR st, CK_ULONG sn,                      \
	   CK_OBJECT_HANDLE_PTR pk, CK_OBJECT_HANDLE_PTR sk),                  \
	  (h, m, pt, pn, st, sn, pk, sk))                                      \
	F(C_WrapKey,                                                           \
	  (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE w,        \
	   CK_OBJECT_HANDLE k, CK_BYTE_PTR b, CK_ULONG_PTR n),                 \
	  (h, m, w, k, b, n))                                                  \
	F(C_UnwrapKey,                                                         \
	  (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE u,        \
	   CK_BYTE_PTR b, CK_ULONG bn, CK_ATTRIBUTE_PTR t, CK_ULONG n,         \
	   CK_OBJECT_HANDLE_PTR k),                                            \
	  (h, m, u, b, bn, t, n, k))                                           \
	F(C_DeriveKey,                                                         \
	  (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE b,        \
	   CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR k),            \
	  (h, m, b, t, n, k))                                                  \
	F(C_SeedRandom, P11F_IN_PARAMS, P11F_IN_ARGS)                          \
	F(C_GenerateRandom, P11F_IN_PARAMS, P11F_IN_ARGS)                      \
	F(C_GetFunctionStatus, (CK_SESSION_HANDLE h), (h))                     \
	F(C_CancelFunction, (CK_SESSION_HANDLE h), (h))                        \
	F(C_WaitForSlotEvent, (CK_FLAGS f, CK_SLOT_ID_PTR s, CK_VOID_PTR r),   \
	  (f, s, r))

/* The three shapes most data calls share. */
#define P11F_IO_PARAMS                                                         \
	(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inn, CK_BYTE_PTR out,   \
	 CK_ULONG_PTR outn)
#define P11F_IO_ARGS   (h, in, inn, out, outn)
#define P11F_IN_PARAMS (CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inn)
#define P11F_IN_ARGS   (h, in, inn)
#define P11F_OUT_PARAMS                                                        \
	(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR outn)
#define P11F_OUT_ARGS (h, out, outn)

#define P11F_ENUM(name, params, args) FN_##name,
enum p11f_fn { P11F_FUNCTIONS(P11F_ENUM, P11F_ENUM) FN_COUNT };
_Static_assert(FN_COUNT == 68, "CK_FUNCTION_LIST of PKCS#11 2.40 has 68");

#define P11F_NAME(name, params, args) #name,
static const char *const p11f_fn_names[FN_COUNT] = {
    P11F_FUNCTIONS(P11F_NAME, P11F_NAME)};

/* ---- names of return values and token flags ---------------------------- */

struct p11f_name {
	const char *name;
	unsigned long value;
};
#define N(x)                                                                   \
	{                                                                      \
#x, x                                                          \
	}

#define NC(x) {#x, x},
static const struct p11f_name p11f_ckrs[] = {AIRLOCK_CKR_LIST(NC)};
#undef NC

/* CK_TOKEN_INFO flags (PKCS#11 2.40 section 3.2, table 11). */
static const struct p11f_name p11f_ckfs[] = {
    N(CKF_RNG),
    N(CKF_WRITE_PROTECTED),
    N(CKF_LOGIN_REQUIRED),
    N(CKF_USER_PIN_INITIALIZED),
    N(CKF_RESTORE_KEY_NOT_NEEDED),
    N(CKF_CLOCK_ON_TOKEN),
    N(CKF_PROTECTED_AUTHENTICATION_PATH),
    N(CKF_DUAL_CRYPTO_OPERATIONS),
    N(CKF_TOKEN_INITIALIZED),
    N(CKF_SECONDARY_AUTHENTICATION),
    N(CKF_USER_PIN_COUNT_LOW),
    N(CKF_USER_PIN_FINAL_TRY),
    N(CKF_USER_PIN_LOCKED),
    N(CKF_USER_PIN_TO_BE_CHANGED),
    N(CKF_SO_PIN_COUNT_LOW),
    N(CKF_SO_PIN_FINAL_TRY),
    N(CKF_SO_PIN_LOCKED),
    N(CKF_SO_PIN_TO_BE_CHANGED),
};

#undef N

/* ---- state --------------------------------------------------------------- */

enum p11f_when { P11F_AT, P11F_FROM };

struct p11f_rule {
	enum p11f_fn fn;
	enum p11f_when when;
	unsigned long n;
	CK_RV rv;
};

static pthread_mutex_t p11f_lock = PTHREAD_MUTEX_INITIALIZER;
static void *p11f_dl;
static CK_FUNCTION_LIST_PTR p11f_real;
static unsigned long p11f_calls[FN_COUNT];
static int p11f_counting; /* counts are written once initialised */
static struct p11f_rule p11f_rules[P11F_MAX_RULES];
static size_t p11f_nrules;
static unsigned long p11f_delay_ms[FN_COUNT];
static CK_FLAGS p11f_flags_set, p11f_flags_clear;
static char p11f_pinpad[64];
static int p11f_have_pinpad;

/* Functions whose counts are written to the file after every call, so a
 * test sees them even when the process is killed. */
static int
p11f_watched(enum p11f_fn fn)
{
	return fn == FN_C_Sign || fn == FN_C_SignInit || fn == FN_C_Login ||
	       fn == FN_C_GenerateKeyPair || fn == FN_C_Initialize ||
	       fn == FN_C_Finalize;
}

/* P11FAULT_COUNTS: "NAME COUNT" lines, written to a temporary name and
 * renamed so a reader never sees half a file. Called with the lock held. */
static void
p11f_counts_write(void)
{
	const char *path = getenv("P11FAULT_COUNTS");
	char buf[FN_COUNT * 48], tmp[4096];
	size_t used = 0;
	ssize_t w;
	int fd, i;

	if (path == NULL || *path == '\0' || !p11f_counting)
		return;
	for (i = 0; i < FN_COUNT; i++) {
		if (p11f_calls[i] == 0 && !p11f_watched((enum p11f_fn)i))
			continue;
		used +=
		    (size_t)snprintf(buf + used, sizeof(buf) - used, "%s %lu\n",
				     p11f_fn_names[i], p11f_calls[i]);
	}
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >=
	    (int)sizeof(tmp))
		return;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) <
	    0)
		return;
	w = write(fd, buf, used);
	close(fd);
	if (w == (ssize_t)used)
		rename(tmp, path);
	else
		unlink(tmp);
}

static int
p11f_lookup(const struct p11f_name *t, size_t n, const char *word,
	    unsigned long *out)
{
	char *end;
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(t[i].name, word) == 0) {
			*out = t[i].value;
			return 0;
		}
	errno = 0;
	*out = strtoul(word, &end, 0);
	return (errno != 0 || end == word || *end != '\0') ? -1 : 0;
}

static int
p11f_fn_lookup(const char *word, enum p11f_fn *out)
{
	int i;

	for (i = 0; i < FN_COUNT; i++)
		if (strcmp(p11f_fn_names[i], word) == 0) {
			*out = (enum p11f_fn)i;
			return 0;
		}
	return -1;
}

static int
p11f_number(const char *word, unsigned long *out)
{
	char *end;

	if (word == NULL || *word < '0' || *word > '9')
		return -1;
	errno = 0;
	*out = strtoul(word, &end, 10);
	return (errno != 0 || *end != '\0') ? -1 : 0;
}

/* One rule: its words, NULL-terminated. Returns an error text or NULL. */
static const char *
p11f_rule_parse(char **w, size_t n)
{
	struct p11f_rule *r;
	unsigned long v;
	enum p11f_fn fn;
	size_t i;

	if (strcmp(w[0], "fail") == 0) {
		if (n != 5)
			return "want: fail FUNCTION at|from N CKR";
		if (p11f_nrules == P11F_MAX_RULES)
			return "too many fail rules";
		r = &p11f_rules[p11f_nrules];
		if (p11f_fn_lookup(w[1], &r->fn) != 0)
			return "unknown function";
		if (strcmp(w[2], "at") == 0)
			r->when = P11F_AT;
		else if (strcmp(w[2], "from") == 0)
			r->when = P11F_FROM;
		else
			return "want 'at' or 'from'";
		if (p11f_number(w[3], &r->n) != 0 || r->n == 0)
			return "the call number counts from 1";
		if (p11f_lookup(p11f_ckrs,
				sizeof(p11f_ckrs) / sizeof(*p11f_ckrs), w[4],
				&r->rv) != 0)
			return "unknown CKR";
		p11f_nrules++;
	} else if (strcmp(w[0], "delay") == 0) {
		if (n != 3 || p11f_fn_lookup(w[1], &fn) != 0 ||
		    p11f_number(w[2], &v) != 0 || v > 600000)
			return "want: delay FUNCTION MILLISECONDS";
		p11f_delay_ms[fn] = v;
	} else if (strcmp(w[0], "flags") == 0) {
		for (i = 1; i < n; i++) {
			const char *f =
			    w[i] + (w[i][0] == '+' || w[i][0] == '-');
			if (p11f_lookup(p11f_ckfs,
					sizeof(p11f_ckfs) / sizeof(*p11f_ckfs),
					f, &v) != 0)
				return "unknown token flag";
			if (w[i][0] == '-')
				p11f_flags_clear |= v;
			else
				p11f_flags_set |= v;
		}
	} else if (strcmp(w[0], "pinpad") == 0) {
		if (n != 2 || strlen(w[1]) >= sizeof(p11f_pinpad))
			return "want: pinpad PIN";
		snprintf(p11f_pinpad, sizeof(p11f_pinpad), "%s", w[1]);
		p11f_have_pinpad = 1;
	} else {
		return "unknown rule (fail, delay, flags, pinpad)";
	}
	return NULL;
}

/* Rules are separated by newlines or ';'; '#' starts a comment. */
static int
p11f_config_parse(char *text, const char *origin)
{
	char *line, *save = NULL, *w[8], *p;
	const char *err;
	size_t n, lineno = 0;

	for (line = strtok_r(text, "\n;", &save); line != NULL;
	     line = strtok_r(NULL, "\n;", &save)) {
		char *wsave = NULL;
		lineno++;
		if ((p = strchr(line, '#')) != NULL)
			*p = '\0';
		n = 0;
		for (p = strtok_r(line, " \t\r", &wsave); p != NULL && n < 8;
		     p = strtok_r(NULL, " \t\r", &wsave))
			w[n++] = p;
		if (n == 0)
			continue;
		if (n == 8)
			err = "too many words";
		else
			err = p11f_rule_parse(w, n);
		if (err != NULL) {
			fprintf(stderr, "p11fault: %s, rule %zu: %s\n", origin,
				lineno, err);
			return -1;
		}
	}
	return 0;
}

/* Read P11FAULT_CONFIG (a file) and P11FAULT_RULES (inline) afresh. */
static int
p11f_config_load(void)
{
	const char *path = getenv("P11FAULT_CONFIG");
	const char *inline_rules = getenv("P11FAULT_RULES");
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int r = 0;

	p11f_nrules = 0;
	memset(p11f_delay_ms, 0, sizeof(p11f_delay_ms));
	p11f_flags_set = p11f_flags_clear = 0;
	p11f_have_pinpad = 0;
	if (path != NULL && *path != '\0') {
		if ((f = fopen(path, "re")) == NULL) {
			fprintf(stderr, "p11fault: %s: %s\n", path,
				strerror(errno));
			return -1;
		}
		if ((buf = calloc(1, P11F_MAX_CONFIG + 1)) == NULL) {
			fclose(f);
			return -1;
		}
		len = fread(buf, 1, P11F_MAX_CONFIG + 1, f);
		fclose(f);
		if (len > P11F_MAX_CONFIG) {
			fprintf(stderr, "p11fault: %s: over %d bytes\n", path,
				P11F_MAX_CONFIG);
			free(buf);
			return -1;
		}
		r = p11f_config_parse(buf, path);
		free(buf);
	}
	if (r == 0 && inline_rules != NULL && *inline_rules != '\0') {
		if ((buf = strdup(inline_rules)) == NULL)
			return -1;
		r = p11f_config_parse(buf, "P11FAULT_RULES");
		free(buf);
	}
	return r;
}

static CK_RV
p11f_load_real(void)
{
	const char *path = getenv("P11FAULT_MODULE");
	CK_RV (*get_list)(CK_FUNCTION_LIST_PTR_PTR);
	CK_RV rv;

	if (p11f_real != NULL)
		return CKR_OK;
	if (path == NULL || *path == '\0')
		path = P11F_DEFAULT_MODULE;
	if ((p11f_dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		fprintf(stderr, "p11fault: dlopen: %s\n", dlerror());
		return CKR_GENERAL_ERROR;
	}
	*(void **)&get_list = dlsym(p11f_dl, "C_GetFunctionList");
	if (get_list == NULL || (rv = get_list(&p11f_real)) != CKR_OK ||
	    p11f_real == NULL) {
		fprintf(stderr, "p11fault: %s: no usable C_GetFunctionList\n",
			path);
		dlclose(p11f_dl);
		p11f_dl = NULL;
		p11f_real = NULL;
		return CKR_GENERAL_ERROR;
	}
	return CKR_OK;
}

static void
p11f_sleep_ms(unsigned long ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Count the call, sleep if asked, and decide whether it fails: returns 1
 * with *rv set when the rules say so (the real module is then not called). */
static int
p11f_enter(enum p11f_fn fn, CK_RV *rv)
{
	unsigned long nth, ms;
	size_t i;
	int hit = 0;

	pthread_mutex_lock(&p11f_lock);
	nth = ++p11f_calls[fn];
	ms = p11f_delay_ms[fn];
	for (i = 0; i < p11f_nrules && !hit; i++) {
		const struct p11f_rule *r = &p11f_rules[i];
		if (r->fn == fn &&
		    (r->when == P11F_AT ? nth == r->n : nth >= r->n)) {
			*rv = r->rv;
			hit = 1;
		}
	}
	if (!hit && p11f_real == NULL) {
		*rv = CKR_CRYPTOKI_NOT_INITIALIZED;
		hit = 1;
	}
	if (hit)
		p11f_counts_write();
	pthread_mutex_unlock(&p11f_lock);
	if (ms > 0 && !hit)
		p11f_sleep_ms(ms);
	return hit;
}

static void
p11f_leave(enum p11f_fn fn)
{
	if (!p11f_watched(fn))
		return;
	pthread_mutex_lock(&p11f_lock);
	p11f_counts_write();
	pthread_mutex_unlock(&p11f_lock);
}

/* ---- stubs --------------------------------------------------------------- */

#define P11F_FORWARD(name, params, args)                                       \
	static CK_RV p11f_##name params                                        \
	{                                                                      \
		CK_RV rv;                                                      \
		if (p11f_enter(FN_##name, &rv))                                \
			return rv;                                             \
		rv = p11f_real->name args;                                     \
		p11f_leave(FN_##name);                                         \
		return rv;                                                     \
	}
#define P11F_DECLARE(name, params, args) static CK_RV p11f_##name params;
P11F_FUNCTIONS(P11F_FORWARD, P11F_DECLARE)

#define P11F_MEMBER(name, params, args) .name = p11f_##name,
static CK_FUNCTION_LIST p11f_list = {.version = {2, 40},
				     P11F_FUNCTIONS(P11F_MEMBER, P11F_MEMBER)};

static CK_RV
p11f_C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR l)
{
	if (l == NULL)
		return CKR_ARGUMENTS_BAD;
	*l = &p11f_list;
	return CKR_OK;
}

/* The only exported symbol (the build hides the rest). */
__attribute__((visibility("default"))) CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR l)
{
	return p11f_C_GetFunctionList(l);
}

static CK_RV
p11f_C_Initialize(CK_VOID_PTR a)
{
	CK_RV rv;

	pthread_mutex_lock(&p11f_lock);
	rv = p11f_load_real();
	if (rv == CKR_OK && p11f_config_load() != 0)
		rv = CKR_GENERAL_ERROR;
	p11f_counting = 1;
	pthread_mutex_unlock(&p11f_lock);
	if (rv != CKR_OK)
		return rv;
	if (p11f_enter(FN_C_Initialize, &rv))
		return rv;
	rv = p11f_real->C_Initialize(a);
	p11f_leave(FN_C_Initialize);
	return rv;
}

static CK_RV
p11f_C_Finalize(CK_VOID_PTR a)
{
	CK_RV rv;

	if (p11f_enter(FN_C_Finalize, &rv))
		return rv;
	rv = p11f_real->C_Finalize(a);
	p11f_leave(FN_C_Finalize);
	return rv;
}

static CK_RV
p11f_C_GetTokenInfo(CK_SLOT_ID s, CK_TOKEN_INFO_PTR i)
{
	CK_RV rv;

	if (p11f_enter(FN_C_GetTokenInfo, &rv))
		return rv;
	rv = p11f_real->C_GetTokenInfo(s, i);
	if (rv == CKR_OK && i != NULL) {
		pthread_mutex_lock(&p11f_lock);
		i->flags = (i->flags | p11f_flags_set) & ~p11f_flags_clear;
		pthread_mutex_unlock(&p11f_lock);
	}
	return rv;
}

/* A NULL PIN is a PIN-pad login (PKCS#11 2.40 section 5.6, C_Login): with
 * "pinpad PIN" configured the pad "types" PIN. */
static CK_RV
p11f_C_Login(CK_SESSION_HANDLE h, CK_USER_TYPE u, CK_UTF8CHAR_PTR p, CK_ULONG n)
{
	char pad[sizeof(p11f_pinpad)];
	CK_RV rv;

	if (p11f_enter(FN_C_Login, &rv))
		return rv;
	if (p == NULL) {
		pthread_mutex_lock(&p11f_lock);
		if (p11f_have_pinpad) {
			memcpy(pad, p11f_pinpad, sizeof(pad));
			p = (CK_UTF8CHAR_PTR)pad;
			n = (CK_ULONG)strlen(pad);
		}
		pthread_mutex_unlock(&p11f_lock);
	}
	rv = p11f_real->C_Login(h, u, p, n);
	p11f_leave(FN_C_Login);
	return rv;
}

/* Counts of a process that exits without C_Finalize. */
__attribute__((destructor)) static void
p11f_fini(void)
{
	pthread_mutex_lock(&p11f_lock);
	p11f_counts_write();
	pthread_mutex_unlock(&p11f_lock);
}
