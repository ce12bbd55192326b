/* Azure Key Vault certificates data plane (KEYVAULT.md): the bearer
 * challenge, retries with Retry-After and backoff, paging through nextLink,
 * and error bodies turned into messages an operator can act on.
 *
 * Every reply body is parsed with json_parse_strict(); callers get the tree
 * (cJSON_Delete it). Unknown fields in Key Vault's replies are tolerated
 * (the service adds fields over time); the fields airlock-kv uses are
 * type-checked where they are read (kv/kvjson.c). */
#ifndef AIRLOCK_KV_VAULT_H
#define AIRLOCK_KV_VAULT_H

#include <cjson/cJSON.h>

struct vault;
struct http_client;
struct cred;

#define VAULT_API_VERSION_DEFAULT "7.5"
#define VAULT_NAME_MAX		  127

/* VAULT is a vault name ("contoso" -> https://contoso.vault.azure.net) or
 * an https URL; ENDPOINT (may be NULL) is where requests go instead (a
 * private endpoint or the emulator). At least one must be given. The vault
 * URL recorded in bundles is VAULT's URL, else ENDPOINT.
 *
 * The challenge's resource must name a domain the vault host belongs to
 * (resource https://vault.azure.net for x.vault.azure.net). With only an
 * ENDPOINT (no VAULT) that check is skipped: the operator named the
 * endpoint explicitly, and an emulator on 127.0.0.1 announces
 * https://vault.azure.net. Tokens only ever go to the endpoint's host. */
int vault_new(const char *vault, const char *endpoint, const char *api_version,
	      struct http_client *http, struct cred *cred, struct vault **out)
    __attribute__((warn_unused_result));
void vault_free(struct vault *v);
const char *vault_url(const struct vault *v);

/* Retry budget: at most MAX_TRIES sends of one request and MAX_TOTAL_MS
 * in all (defaults 6 and 300000). */
void vault_retry_set(struct vault *v, int max_tries, long max_total_ms);
/* Progress notices (throttling, retries) for the command to print. */
void vault_notice_set(struct vault *v, void (*fn)(const char *msg, void *arg),
		      void *arg);

/* 1 if NAME is a valid certificate name (^[0-9a-zA-Z-]{1,127}$). */
int vault_name_ok(const char *name);

/* POST /certificates/NAME/create with BODY. 409 -> AIRLOCK_E_EXISTS. Never
 * re-sent after an ambiguous failure: then AIRLOCK_E_REMOTE with
 * vault_last_outcome_unknown() = 1, and the caller reads the state. */
int vault_cert_create(struct vault *v, const char *name, const cJSON *body,
		      cJSON **op) __attribute__((warn_unused_result));
/* GET /certificates/NAME/pending. 404 -> AIRLOCK_E_NOT_FOUND. */
int vault_pending_get(struct vault *v, const char *name, cJSON **op)
    __attribute__((warn_unused_result));
/* POST /certificates/NAME/pending/merge {"x5c":X5C}. Same rules as
 * create: never re-sent blindly. */
int vault_pending_merge(struct vault *v, const char *name, const cJSON *x5c,
			cJSON **bundle) __attribute__((warn_unused_result));
/* GET /certificates/NAME[/VERSION]. 404 -> AIRLOCK_E_NOT_FOUND. */
int vault_cert_get(struct vault *v, const char *name, const char *version,
		   cJSON **bundle) __attribute__((warn_unused_result));
/* GET /certificates/NAME/policy. */
int vault_policy_get(struct vault *v, const char *name, cJSON **policy)
    __attribute__((warn_unused_result));

/* Every item of GET /certificates (INCLUDE_PENDING) or of
 * GET /certificates/NAME/versions (NAME not NULL), page by page, following
 * nextLink verbatim through empty pages. FN returning non-zero stops the
 * walk with that code. */
int vault_list(struct vault *v, const char *name, int include_pending,
	       int (*fn)(const cJSON *item, void *arg), void *arg)
    __attribute__((warn_unused_result));

/* After a failure: whether an unsafe request may have been applied; the
 * HTTP status (0 for transport errors) and Key Vault's error code. */
int vault_last_outcome_unknown(const struct vault *v);
long vault_last_status(const struct vault *v);
const char *vault_last_error_code(const struct vault *v);

/* Error body {"error":{"code","message"}} of BODY[0..LEN): CODE and MESSAGE
 * (truncated) into the buffers; 0 or AIRLOCK_E_FORMAT. */
int vault_error_parse(const unsigned char *body, unsigned long len, char *code,
		      unsigned long codelen, char *message,
		      unsigned long msglen) __attribute__((warn_unused_result));

/* Parse a WWW-Authenticate Bearer challenge into TENANT and SCOPE
 * ("<resource>/.default"). 0 or AIRLOCK_E_AUTH. */
int vault_challenge_parse(const char *hdr, char *tenant, unsigned long tlen,
			  char *scope, unsigned long slen)
    __attribute__((warn_unused_result));

#endif
