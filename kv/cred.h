/* Azure credentials for Key Vault, tried in the order of the Azure SDKs'
 * DefaultAzureCredential, read from the same environment variables
 * (KEYVAULT.md, Authentication):
 *
 *   1. client secret      AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET
 *                         (token endpoint under AZURE_AUTHORITY_HOST, default
 *                         https://login.microsoftonline.com)
 *   2. workload identity  AZURE_TENANT_ID, AZURE_CLIENT_ID,
 *                         AZURE_FEDERATED_TOKEN_FILE (sent as client_assertion)
 *   3. managed identity   App Service: IDENTITY_ENDPOINT + IDENTITY_HEADER;
 *                         else IMDS at http://169.254.169.254 (AZURE_CLIENT_ID
 *                         picks a user-assigned identity).
 * AIRLOCK_IMDS_ENDPOINT replaces the IMDS base URL (tests, proxies).
 *   4. Azure CLI          `az account get-access-token --resource R -o json`
 *
 * A source whose variables are absent is skipped; a source that is
 * configured but fails stops the chain with its error, as the SDKs do.
 * Secrets (client secret, federated token, access tokens) are held in
 * locked memory only and never appear in error details. */
#ifndef AIRLOCK_KV_CRED_H
#define AIRLOCK_KV_CRED_H

struct cred;
struct http_client;
struct secmem;

/* ONLY restricts the chain to one source: "env", "workload", "managed",
 * "cli", or NULL/"auto" for the whole chain. HTTP is borrowed. */
int cred_new(struct http_client *http, const char *only, struct cred **out)
    __attribute__((warn_unused_result));
void cred_free(struct cred *c);

/* A bearer token for SCOPE ("https://vault.azure.net/.default") in TENANT
 * (from the vault's challenge; may be NULL). A cached token is reused until
 * five minutes before it expires, unless REFRESH. *TOKEN is borrowed and
 * valid until the next call or cred_free(). Errors: AIRLOCK_E_AUTH (no
 * source, or a source refused), AIRLOCK_E_REMOTE/TLS/TIMEOUT (transport),
 * AIRLOCK_E_FORMAT (a malformed token response). */
int cred_token_get(struct cred *c, const char *tenant, const char *scope,
		   int refresh, const struct secmem **token)
    __attribute__((warn_unused_result));

/* Which source produced the last token ("client secret", "workload
 * identity", "managed identity (IMDS)", ...), or "none". */
const char *cred_source_name(const struct cred *c);

/* Parse a token endpoint's JSON reply (Entra ID, IMDS, App Service or Azure
 * CLI shapes; numbers or strings for expiry) from BODY[0..LEN) into TOKEN
 * (locked memory) and *EXPIRES (Unix seconds). NOW is the current time.
 * Exposed for the replay tests. */
int cred_token_response_parse(const unsigned char *body, unsigned long len,
			      long long now, struct secmem *token,
			      long long *expires)
    __attribute__((warn_unused_result));

#endif
