/* One HTTPS exchange over libcurl, bounded in time and size.
 *
 * SECURITY.md section 5: TLS verification is always on (a CA file may be
 * given, verification can never be switched off); every request has a
 * connect timeout and a total timeout; response bodies are capped. Retries,
 * authentication and Key Vault semantics live in kv/vault.c, not here. */
#ifndef AIRLOCK_KV_HTTP_H
#define AIRLOCK_KV_HTTP_H

#include <stddef.h>

struct secmem;
struct http_client;
struct http_response;

/* Largest response body kept (larger ones fail with AIRLOCK_E_TOO_LARGE). */
#define HTTP_BODY_MAX (4u * 1024 * 1024)
/* Largest body of a response that carries a secret (token endpoints). */
#define HTTP_SECRET_BODY_MAX (64u * 1024)

/* http_request() flags */
#define HTTP_SECRET_RESPONSE 0x1 /* keep the body in locked memory only */
#define HTTP_PLAIN_HTTP_OK   0x2 /* allow http:// (IMDS link-local only) */

/* CACERT (may be NULL: the system store) is the CA file used to verify
 * every server. */
int http_client_new(const char *cacert, struct http_client **out)
    __attribute__((warn_unused_result));
void http_client_free(struct http_client *c);
void http_client_timeouts_set(struct http_client *c, long connect_ms,
			      long total_ms);

/* Debug trace of each exchange (method, URL, status, header names with
 * Authorization redacted); NULL turns it off. */
void http_client_trace_set(struct http_client *c,
			   void (*fn)(const char *line, void *arg), void *arg);

/* Send METHOD to URL with the NULL-terminated extra HEADERS, an optional
 * bearer TOKEN (locked memory; the header copy is wiped after the
 * exchange) and BODY[0..LEN) (may be NULL), and wait for the response.
 * Transport errors: AIRLOCK_E_TLS (certificate or name verification),
 * AIRLOCK_E_TIMEOUT, AIRLOCK_E_TOO_LARGE, AIRLOCK_E_REMOTE; then
 * http_client_last_unsent() tells whether the request surely never reached
 * the server (no connection was made), so that even a POST may be resent.
 * Any HTTP status is success here: *OUT holds it. */
int http_request(struct http_client *c, const char *method, const char *url,
		 const char *const *headers, const struct secmem *token,
		 const void *body, size_t len, int flags,
		 struct http_response **out)
    __attribute__((warn_unused_result));
int http_client_last_unsent(const struct http_client *c);

void http_response_free(struct http_response *resp);
long http_response_status(const struct http_response *resp);
/* Body bytes (NUL-terminated, not counted in *LEN). With
 * HTTP_SECRET_RESPONSE they are in locked memory. */
const unsigned char *http_response_body(const struct http_response *resp,
					size_t *len);
/* Header values or NULL: "www-authenticate", "location", "content-type". */
const char *http_response_header(const struct http_response *resp,
				 const char *name);
/* Delay asked for by retry-after-ms, x-ms-retry-after-ms or Retry-After
 * (seconds or an HTTP date), in milliseconds; -1 when none was sent. */
long http_response_retry_after_ms(const struct http_response *resp);

/* Percent-encode IN (RFC 3986 unreserved kept) into OUT; AIRLOCK_E_TOO_LARGE
 * when it does not fit. For form bodies built in locked memory. */
int http_form_escape(const char *in, char *out, size_t outlen, size_t *used)
    __attribute__((warn_unused_result));

#endif
