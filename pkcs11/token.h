/* The token boundary: PKCS#11 modules, tokens, login, keys.
 *
 * libp11 supplies signing keys as EVP_PKEY (so X509_sign and X509_CRL_sign
 * work unchanged); everything libp11 0.4.12 cannot do (PIN counters before
 * login, mechanisms, CKA_SENSITIVE/CKA_EXTRACTABLE checks, EC key generation)
 * goes through the module's own function list. Both share one C_Initialize.
 *
 * No fork() after token_module_load(): PKCS#11 modules are not fork-safe. */
#ifndef AIRLOCK_TOKEN_H
#define AIRLOCK_TOKEN_H

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <stddef.h>

#include "pkcs11/uri.h"

/* Debian's p11-kit proxy, which loads every registered module. */
#define TOKEN_DEFAULT_MODULE "p11-kit-proxy.so"

struct token_module;
struct token;
struct token_key;

/* Load PATH (NULL: TOKEN_DEFAULT_MODULE). On failure the detail carries the
 * real cause: missing file, dlopen's text (wrong architecture, missing
 * library), a missing C_GetFunctionList, or C_Initialize's CKR. */
int token_module_load(const char *path, struct token_module **out)
    __attribute__((warn_unused_result));
void token_module_free(struct token_module *m);
const char *token_module_path(const struct token_module *m);
/* The file the module was loaded from (resolved by the dynamic linker), for
 * hashing into transcripts; falls back to the path given. */
const char *token_module_file(const struct token_module *m);

/* Describe the module, its slots, tokens (flags, PIN counters, mechanisms)
 * and the objects visible in the current login state, as JSON. FILTER
 * (may be NULL) keeps only tokens matching its token attributes. */
int token_module_describe(struct token_module *m, const struct p11_uri *filter,
			  cJSON **out) __attribute__((warn_unused_result));

/* Exactly one token matching URI's token/slot/library attributes; two or more
 * is AIRLOCK_E_TOKEN_AMBIGUOUS with every candidate's URI in the detail. */
int token_open(struct token_module *m, const struct p11_uri *uri,
	       struct token **out) __attribute__((warn_unused_result));
void token_close(struct token *t);
/* A URI naming this token alone (label, manufacturer, model, serial). */
int token_uri(const struct token *t, char **out)
    __attribute__((warn_unused_result));
const char *token_label(const struct token *t);
const char *token_manufacturer(const struct token *t);
const char *token_model(const struct token *t);
struct token_module *token_get0_module(const struct token *t);
const char *token_serial(const struct token *t);

/* Interaction the login needs; the module itself never prints. */
struct token_login_ui {
	void *arg;
	/* a warning to show (PIN count low) */
	void (*warn)(void *arg, const char *msg);
	/* 1 to go on, 0 to stop (final PIN try) */
	int (*confirm)(void *arg, const char *question);
};

/* Log in as user. Reads the token flags first: a locked PIN fails at once,
 * a low count is warned about, a final try needs confirmation. A token with a
 * PIN pad (protected authentication path) is sent no PIN. PIN_SOURCE is a
 * pin.h source (NULL: the tty). Never retries. */
int token_login(struct token *t, const char *pin_source,
		const struct token_login_ui *ui)
    __attribute__((warn_unused_result));

/* Exactly one private key matching URI's object/id attributes. */
int token_key_find(struct token *t, const struct p11_uri *uri,
		   struct token_key **out) __attribute__((warn_unused_result));
void token_key_free(struct token_key *k);
/* AIRLOCK_E_TOKEN_KEY_UNSAFE unless CKA_SENSITIVE is true and
 * CKA_EXTRACTABLE false (and the key may sign). */
int token_key_check_safe(struct token_key *k)
    __attribute__((warn_unused_result));
/* The key as an EVP_PKEY whose private operations run on the token. */
int token_key_get1_pkey(struct token_key *k, EVP_PKEY **out)
    __attribute__((warn_unused_result));
/* The key's attributes as JSON (type, bits or curve, id, label, flags, URI). */
int token_key_describe(struct token_key *k, cJSON **out)
    __attribute__((warn_unused_result));
int token_key_uri(const struct token_key *k, char **out)
    __attribute__((warn_unused_result));
/* CKA_ID as lowercase hex (static buffer per key). */
const char *token_key_id_hex(struct token_key *k);
const char *token_key_label(const struct token_key *k);

/* After a signing call through libp11 failed: the module's CK_RV from
 * OpenSSL's error queue as an airlock code (CKR_DEVICE_REMOVED ->
 * AIRLOCK_E_TOKEN_REMOVED, ...), with WHAT in the detail. Empties the
 * queue. */
int token_sign_error(const char *what) __attribute__((warn_unused_result));

/* LEN bytes from the token's RNG (C_GenerateRandom). */
int token_random(struct token *t, unsigned char *buf, size_t len)
    __attribute__((warn_unused_result));

/* Generate a key pair on the token: TYPE is rsa:2048|rsa:3072|rsa:4096|
 * ec:p256|ec:p384. Private half: token, private, sensitive, not extractable,
 * sign only; both halves share LABEL and a fresh random CKA_ID. Refuses a
 * label or id that exists. Needs a login. *URI_OUT names the private key. */
int token_keygen(struct token *t, const char *type, const char *label,
		 char **uri_out) __attribute__((warn_unused_result));

#endif
