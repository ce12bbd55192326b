#include "kv/vault.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "kv/cred.h"
#include "kv/http.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/secmem.h"

#define URL_MAX	       4096
#define PAGES_MAX      100000
#define BACKOFF_CAP_MS 60000

struct vault {
	struct http_client *http;
	struct cred *cred;
	char *url;  /* the vault's identity, recorded in bundles */
	char *base; /* where requests go, no trailing slash */
	char *api_version;
	int check_resource;
	char vault_host[256];
	char tenant[128];
	char scope[256];
	int have_challenge;
	int max_tries;
	long max_total_ms;
	void (*notice)(const char *msg, void *arg);
	void *notice_arg;
	/* last failure */
	int outcome_unknown;
	long status;
	char code[64];
};

int
vault_name_ok(const char *name)
{
	size_t n = strlen(name);

	return n >= 1 && n <= VAULT_NAME_MAX &&
	       strspn(name, "0123456789abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ-") == n;
}

/* Host (lowercased) and port of an https URL. */
static int
url_host(const char *url, char *host, size_t hlen, int *port)
{
	const char *p, *end, *colon;
	size_t n;
	long pv;
	char *e;

	if (strncasecmp(url, "https://", 8) != 0)
		return AIRLOCK_E_INVALID_ARG;
	p = url + 8;
	end = p + strcspn(p, "/?#");
	if (memchr(p, '@', (size_t)(end - p)) != NULL)
		return AIRLOCK_E_INVALID_ARG; /* no userinfo */
	colon = memchr(p, ':', (size_t)(end - p));
	n = (size_t)((colon != NULL ? colon : end) - p);
	if (n == 0 || n >= hlen)
		return AIRLOCK_E_INVALID_ARG;
	for (size_t i = 0; i < n; i++)
		host[i] = (char)tolower((unsigned char)p[i]);
	host[n] = '\0';
	*port = 443;
	if (colon != NULL) {
		errno = 0;
		pv = strtol(colon + 1, &e, 10);
		if (e != end || errno != 0 || pv < 1 || pv > 65535)
			return AIRLOCK_E_INVALID_ARG;
		*port = (int)pv;
	}
	return 0;
}

static int
dupe_base(const char *in, char **out)
{
	size_t n = strlen(in);

	while (n > 0 && in[n - 1] == '/')
		n--;
	if ((*out = strndup(in, n)) == NULL)
		return AIRLOCK_E_NOMEM;
	return 0;
}

int
vault_new(const char *vault, const char *endpoint, const char *api_version,
	  struct http_client *http, struct cred *cred, struct vault **out)
{
	struct vault *v = NULL;
	char buf[URL_MAX], host[256];
	int port, r = AIRLOCK_E_INTERNAL;

	*out = NULL;
	if (vault == NULL && endpoint == NULL) {
		err_detail_set("no vault: give --vault NAME|URL (or "
			       "--endpoint URL)");
		return AIRLOCK_E_INVALID_ARG;
	}
	if ((v = calloc(1, sizeof(*v))) == NULL)
		return AIRLOCK_E_NOMEM;
	v->http = http;
	v->cred = cred;
	v->max_tries = 6;
	v->max_total_ms = 300000;
	if (vault != NULL && strncasecmp(vault, "https://", 8) != 0) {
		/* a vault name: 3-24 of [0-9a-zA-Z-] */
		size_t n = strlen(vault);
		if (n < 3 || n > 24 ||
		    strspn(vault, "0123456789abcdefghijklmnopqrstuvwxyz"
				  "ABCDEFGHIJKLMNOPQRSTUVWXYZ-") != n) {
			err_detail_set("'%.64s' is neither a vault name "
				       "(3-24 letters, digits, '-') nor an "
				       "https:// URL",
				       vault);
			r = AIRLOCK_E_INVALID_ARG;
			goto out;
		}
		snprintf(buf, sizeof(buf), "https://%s.vault.azure.net", vault);
		vault = buf;
	}
	if (vault != NULL) {
		if (url_host(vault, host, sizeof(host), &port) != 0) {
			err_detail_set("vault URL must be https://HOST[:PORT]");
			r = AIRLOCK_E_INVALID_ARG;
			goto out;
		}
		snprintf(v->vault_host, sizeof(v->vault_host), "%s", host);
		v->check_resource = 1;
	}
	if (endpoint != NULL &&
	    url_host(endpoint, host, sizeof(host), &port) != 0) {
		err_detail_set("--endpoint must be https://HOST[:PORT] (TLS "
			       "is never switched off)");
		r = AIRLOCK_E_INVALID_ARG;
		goto out;
	}
	if ((r = dupe_base(vault != NULL ? vault : endpoint, &v->url)) != 0 ||
	    (r = dupe_base(endpoint != NULL ? endpoint : vault, &v->base)) != 0)
		goto out;
	if ((v->api_version = strdup(
		 api_version != NULL ? api_version
				     : VAULT_API_VERSION_DEFAULT)) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	if (strspn(v->api_version, "0123456789.-abcdefghijklmnopqrstuvwxyz") !=
		strlen(v->api_version) ||
	    strlen(v->api_version) > 32) {
		err_detail_set("bad --api-version");
		r = AIRLOCK_E_INVALID_ARG;
		goto out;
	}
	*out = v;
	v = NULL;
	r = 0;
out:
	vault_free(v);
	return r;
}

void
vault_free(struct vault *v)
{
	if (v == NULL)
		return;
	free(v->url);
	free(v->base);
	free(v->api_version);
	free(v);
}

const char *
vault_url(const struct vault *v)
{
	return v->url;
}

void
vault_retry_set(struct vault *v, int max_tries, long max_total_ms)
{
	v->max_tries = max_tries < 1 ? 1 : max_tries;
	v->max_total_ms = max_total_ms;
}

void
vault_notice_set(struct vault *v, void (*fn)(const char *msg, void *arg),
		 void *arg)
{
	v->notice = fn;
	v->notice_arg = arg;
}

int
vault_last_outcome_unknown(const struct vault *v)
{
	return v->outcome_unknown;
}

long
vault_last_status(const struct vault *v)
{
	return v->status;
}

const char *
vault_last_error_code(const struct vault *v)
{
	return v->code;
}

static void notice(struct vault *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
notice(struct vault *v, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (v->notice == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	v->notice(msg, v->notice_arg);
}

/* ---- challenge (KEYVAULT.md, Authentication) ---- */

/* Next auth-param of a challenge: KEY=VALUE or KEY="VALUE". */
static const char *
param_next(const char *p, char *key, size_t klen, char *val, size_t vlen)
{
	size_t n = 0;

	while (*p == ' ' || *p == ',' || *p == '\t')
		p++;
	if (*p == '\0')
		return NULL;
	while (*p != '\0' && *p != '=' && *p != ' ' && *p != ',') {
		if (n + 1 < klen)
			key[n++] = *p;
		p++;
	}
	key[n] = '\0';
	n = 0;
	if (*p != '=') {
		val[0] = '\0';
		return p;
	}
	p++;
	if (*p == '"') {
		p++;
		while (*p != '\0' && *p != '"') {
			if (*p == '\\' && p[1] != '\0')
				p++;
			if (n + 1 < vlen)
				val[n++] = *p;
			p++;
		}
		if (*p == '"')
			p++;
	} else {
		while (*p != '\0' && *p != ',' && *p != ' ') {
			if (n + 1 < vlen)
				val[n++] = *p;
			p++;
		}
	}
	val[n] = '\0';
	return p;
}

int
vault_challenge_parse(const char *hdr, char *tenant, unsigned long tlen,
		      char *scope, unsigned long slen)
{
	char key[64], val[1024], auth[1024] = "", res[1024] = "", sc[1024] = "";
	const char *p, *t;
	size_t n;

	tenant[0] = scope[0] = '\0';
	if (hdr == NULL || strncasecmp(hdr, "Bearer", 6) != 0 ||
	    (hdr[6] != ' ' && hdr[6] != '\0')) {
		err_detail_set("the vault sent no Bearer challenge");
		return AIRLOCK_E_AUTH;
	}
	p = hdr + 6;
	while ((p = param_next(p, key, sizeof(key), val, sizeof(val))) !=
	       NULL) {
		if (strcasecmp(key, "authorization") == 0 ||
		    strcasecmp(key, "authorization_uri") == 0)
			snprintf(auth, sizeof(auth), "%s", val);
		else if (strcasecmp(key, "resource") == 0)
			snprintf(res, sizeof(res), "%s", val);
		else if (strcasecmp(key, "scope") == 0)
			snprintf(sc, sizeof(sc), "%s", val);
	}
	/* tenant: first path segment of the authorization URL */
	if (strncasecmp(auth, "https://", 8) != 0 ||
	    (t = strchr(auth + 8, '/')) == NULL) {
		err_detail_set("the vault's challenge has no authorization "
			       "URL");
		return AIRLOCK_E_AUTH;
	}
	t++;
	n = strcspn(t, "/?#");
	if (n == 0 || n >= tlen) {
		err_detail_set("the vault's challenge names no tenant");
		return AIRLOCK_E_AUTH;
	}
	memcpy(tenant, t, n);
	tenant[n] = '\0';
	if (sc[0] != '\0') {
		if (strlen(sc) >= slen)
			return AIRLOCK_E_AUTH;
		snprintf(scope, slen, "%s", sc);
	} else if (res[0] != '\0') {
		n = strlen(res);
		while (n > 0 && res[n - 1] == '/')
			n--;
		if (n + sizeof("/.default") > slen)
			return AIRLOCK_E_AUTH;
		snprintf(scope, slen, "%.*s/.default", (int)n, res);
	} else {
		err_detail_set("the vault's challenge names no resource or "
			       "scope");
		return AIRLOCK_E_AUTH;
	}
	return 0;
}

/* The resource host must be the vault host or a parent domain of it, so
 * that a vault cannot obtain tokens for another service. */
static int
resource_check(struct vault *v)
{
	char host[256];
	size_t hn, vn;
	int port;

	if (!v->check_resource)
		return 0;
	if (url_host(v->scope, host, sizeof(host), &port) != 0) {
		err_detail_set("the vault's challenge scope is not an https "
			       "URL");
		return AIRLOCK_E_AUTH;
	}
	hn = strlen(host);
	vn = strlen(v->vault_host);
	if (strcmp(host, v->vault_host) == 0 ||
	    (vn > hn + 1 && v->vault_host[vn - hn - 1] == '.' &&
	     strcmp(v->vault_host + vn - hn, host) == 0))
		return 0;
	err_detail_set("the vault at %s asks for a token for %s, which is not "
		       "its domain: refused (is this really a Key Vault?)",
		       v->vault_host, host);
	return AIRLOCK_E_AUTH;
}

/* ---- one request with retries ---- */

static long
elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (long)((t1.tv_sec - t0->tv_sec) * 1000 +
		      (t1.tv_nsec - t0->tv_nsec) / 1000000);
}

static void
sleep_ms(long ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* 1, 2, 4, 8, 16 s ... (try 1 = 1 s), +-20% jitter. */
static long
backoff_ms(int attempt)
{
	unsigned int rnd = 0;
	long base = 1000L << (attempt - 1 > 5 ? 5 : attempt - 1);

	if (RAND_bytes((unsigned char *)&rnd, sizeof(rnd)) != 1)
		rnd = 0;
	base = base * 8 / 10 + (long)(rnd % (unsigned int)(base * 4 / 10 + 1));
	return base > BACKOFF_CAP_MS ? BACKOFF_CAP_MS : base;
}

static int
retryable_status(long s)
{
	return s == 408 || s == 429 || s == 500 || s == 502 || s == 503 ||
	       s == 504;
}

int
vault_error_parse(const unsigned char *body, unsigned long len, char *code,
		  unsigned long codelen, char *message, unsigned long msglen)
{
	const cJSON *e, *c, *m;
	cJSON *j = NULL;
	int r = AIRLOCK_E_FORMAT;

	code[0] = message[0] = '\0';
	if (len == 0 || json_parse_strict(body, len, JSON_MAX_DEPTH, &j) != 0)
		goto out;
	e = cJSON_GetObjectItemCaseSensitive(j, "error");
	if (!cJSON_IsObject(e))
		goto out;
	c = cJSON_GetObjectItemCaseSensitive(e, "code");
	m = cJSON_GetObjectItemCaseSensitive(e, "message");
	if (!cJSON_IsString(c))
		goto out;
	snprintf(code, codelen, "%s", c->valuestring);
	if (cJSON_IsString(m))
		snprintf(message, msglen, "%s", m->valuestring);
	r = 0;
out:
	cJSON_Delete(j);
	return r;
}

static const char *
error_hint(long status, const char *code)
{
	if (status == 401 || strcmp(code, "Unauthorized") == 0)
		return "the token was refused: check the credential and the "
		       "vault's tenant";
	if (status == 403 || strcmp(code, "Forbidden") == 0)
		return "the identity lacks rights: grant it \"Key Vault "
		       "Certificates Officer\" on this vault (and check the "
		       "vault's network rules)";
	if (status == 429)
		return "Key Vault throttled every try: run again later, or "
		       "with fewer parallel jobs";
	if (status == 409)
		return "another operation on this certificate is in progress: "
		       "wait, or check `airlock-kv status`";
	if (status == 404)
		return "check the vault and the certificate name";
	if (status >= 500)
		return "Key Vault is failing: try again later";
	return "see Key Vault's message";
}

/* Turn an error reply into a code and a detail. */
static int
reply_error(struct vault *v, const char *method, const char *what,
	    struct http_response *resp)
{
	char code[64], msg[600];
	const unsigned char *b;
	size_t len;
	long s = http_response_status(resp);
	int r;

	b = http_response_body(resp, &len);
	if (vault_error_parse(b, len, code, sizeof(code), msg, sizeof(msg)) !=
	    0) {
		code[0] = '\0';
		snprintf(msg, sizeof(msg), "(no Key Vault error body)");
	}
	snprintf(v->code, sizeof(v->code), "%s", code);
	err_detail_set("%s %s: HTTP %ld%s%s: %s (%s)", method, what, s,
		       code[0] ? " " : "", code, msg, error_hint(s, code));
	if (s == 404)
		r = AIRLOCK_E_NOT_FOUND;
	else if (s == 409)
		r = AIRLOCK_E_EXISTS;
	else if (s == 401 || s == 403)
		r = AIRLOCK_E_AUTH;
	else if (s == 429)
		r = AIRLOCK_E_THROTTLED;
	else
		r = AIRLOCK_E_REMOTE;
	return r;
}

/* GET the vault without a token to read its challenge. */
static int
challenge_fetch(struct vault *v, const char *url, long *ra)
{
	struct http_response *resp = NULL;
	const char *hdr;
	int r;

	*ra = -1;
	if ((r = http_request(v->http, "GET", url, NULL, NULL, NULL, 0, 0,
			      &resp)) != 0)
		return r;
	if (retryable_status(http_response_status(resp))) {
		/* throttled or failing before we even authenticate */
		*ra = http_response_retry_after_ms(resp);
		r = reply_error(v, "GET", "certificates (challenge)", resp);
		http_response_free(resp);
		return r == AIRLOCK_E_THROTTLED ? r : AIRLOCK_E_REMOTE;
	}
	if (http_response_status(resp) != 401) {
		err_detail_set("GET %s without a token: HTTP %ld, not the "
			       "401 challenge a Key Vault sends",
			       v->base, http_response_status(resp));
		http_response_free(resp);
		return AIRLOCK_E_HTTP;
	}
	hdr = http_response_header(resp, "www-authenticate");
	r = vault_challenge_parse(hdr, v->tenant, sizeof(v->tenant), v->scope,
				  sizeof(v->scope));
	http_response_free(resp);
	if (r != 0)
		return r;
	if ((r = resource_check(v)) != 0)
		return r;
	v->have_challenge = 1;
	return 0;
}

/* Send METHOD URL (BODY may be NULL) with authentication and retries; on
 * success *OUT is the parsed reply (an empty object for an empty body)
 * and *STATUS its status. SAFE requests are retried on transport errors
 * and 408/429/5xx; unsafe ones only when they surely were not applied
 * (connection never made, or 429, which Key Vault answers before doing
 * anything). WHAT names the request in messages. */
static int
call(struct vault *v, const char *method, const char *url, const char *body,
     int safe, const char *what, cJSON **out)
{
	static const char *const hdrs[] = {
	    "Content-Type: application/json; charset=utf-8",
	    "Accept: application/json", NULL};
	struct http_response *resp = NULL;
	const struct secmem *token = NULL;
	const unsigned char *b;
	struct timespec t0;
	int attempt = 0, reauth = 0, r = AIRLOCK_E_INTERNAL;
	long s, wait, ra;
	size_t len;
	char probe[URL_MAX];

	*out = NULL;
	v->outcome_unknown = 0;
	v->status = 0;
	v->code[0] = '\0';
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		http_response_free(resp);
		resp = NULL;
		if (!v->have_challenge) {
			snprintf(probe, sizeof(probe),
				 "%s/certificates?api-version=%s&maxresults=1",
				 v->base, v->api_version);
			r = challenge_fetch(v, probe, &ra);
			if (r == AIRLOCK_E_REMOTE || r == AIRLOCK_E_TIMEOUT ||
			    r == AIRLOCK_E_THROTTLED) {
				/* nothing was sent for the real request */
				attempt++;
				wait = ra >= 0 ? ra : backoff_ms(attempt);
				goto again;
			}
			if (r != 0)
				goto out;
		}
		if ((r = cred_token_get(v->cred, v->tenant, v->scope,
					reauth == 1, &token)) != 0)
			goto out;
		attempt++;
		r = http_request(v->http, method, url, hdrs, token, body,
				 body != NULL ? strlen(body) : 0, 0, &resp);
		if (r != 0) {
			if (r != AIRLOCK_E_REMOTE && r != AIRLOCK_E_TIMEOUT)
				goto out;
			if (!safe && !http_client_last_unsent(v->http)) {
				v->outcome_unknown = 1;
				goto out;
			}
			wait = backoff_ms(attempt < 1 ? 1 : attempt);
		again:
			if (attempt >= v->max_tries ||
			    elapsed_ms(&t0) + wait > v->max_total_ms)
				goto out;
			notice(v,
			       "%s %s: %s; retrying in %.1f s (try %d of %d)",
			       method, what, err_detail_get(), wait / 1000.0,
			       attempt + 1, v->max_tries);
			sleep_ms(wait);
			continue;
		}
		s = v->status = http_response_status(resp);
		if (s == 401 && reauth == 0) {
			/* stale token or a changed challenge: once more */
			const char *hdr =
			    http_response_header(resp, "www-authenticate");
			reauth = 1;
			attempt--;
			if (hdr != NULL &&
			    (r = vault_challenge_parse(
				 hdr, v->tenant, sizeof(v->tenant), v->scope,
				 sizeof(v->scope))) == 0 &&
			    (r = resource_check(v)) != 0)
				goto out;
			continue;
		}
		if (retryable_status(s)) {
			if (!safe && s != 429) {
				r = reply_error(v, method, what, resp);
				v->outcome_unknown = 1;
				goto out;
			}
			ra = http_response_retry_after_ms(resp);
			wait = ra >= 0 ? ra : backoff_ms(attempt);
			if (attempt >= v->max_tries ||
			    elapsed_ms(&t0) + wait > v->max_total_ms) {
				r = reply_error(v, method, what, resp);
				if (attempt < v->max_tries) {
					char d[800];
					snprintf(d, sizeof(d), "%s",
						 err_detail_get());
					err_detail_set(
					    "%s; the server asked to "
					    "wait %ld ms, beyond "
					    "the retry budget",
					    d, wait);
				}
				goto out;
			}
			notice(
			    v,
			    "%s %s: HTTP %ld%s; retrying in %.1f s%s (try %d "
			    "of %d)",
			    method, what, s, s == 429 ? " (throttled)" : "",
			    wait / 1000.0, ra >= 0 ? " as asked" : "",
			    attempt + 1, v->max_tries);
			sleep_ms(wait);
			continue;
		}
		if (s < 200 || s > 299) {
			r = reply_error(v, method, what, resp);
			goto out;
		}
		b = http_response_body(resp, &len);
		if (len == 0) {
			if ((*out = cJSON_CreateObject()) == NULL) {
				r = AIRLOCK_E_NOMEM;
				goto out;
			}
		} else if ((r = json_parse_strict(b, len, JSON_MAX_DEPTH,
						  out)) != 0) {
			char d[400];
			snprintf(d, sizeof(d), "%s", err_detail_get());
			err_detail_set("%s %s: reply is not strict JSON: %s",
				       method, what, d);
			goto out;
		}
		r = 0;
		goto out;
	}
out:
	http_response_free(resp);
	return r;
}

static int
cert_url(struct vault *v, char *out, size_t outlen, const char *name,
	 const char *suffix)
{
	if (!vault_name_ok(name)) {
		err_detail_set("'%.64s' is not a certificate name "
			       "([0-9a-zA-Z-], at most 127)",
			       name);
		return AIRLOCK_E_INVALID_ARG;
	}
	if ((size_t)snprintf(out, outlen, "%s/certificates/%s%s?api-version=%s",
			     v->base, name, suffix, v->api_version) >= outlen)
		return AIRLOCK_E_TOO_LARGE;
	return 0;
}

int
vault_cert_create(struct vault *v, const char *name, const cJSON *body,
		  cJSON **op)
{
	char url[URL_MAX], what[200];
	char *s = NULL;
	int r;

	*op = NULL;
	if ((r = cert_url(v, url, sizeof(url), name, "/create")) != 0)
		return r;
	if ((s = cJSON_PrintUnformatted(body)) == NULL)
		return AIRLOCK_E_NOMEM;
	snprintf(what, sizeof(what), "certificates/%s/create", name);
	r = call(v, "POST", url, s, 0, what, op);
	free(s);
	return r;
}

int
vault_pending_get(struct vault *v, const char *name, cJSON **op)
{
	char url[URL_MAX], what[200];
	int r;

	*op = NULL;
	if ((r = cert_url(v, url, sizeof(url), name, "/pending")) != 0)
		return r;
	snprintf(what, sizeof(what), "certificates/%s/pending", name);
	return call(v, "GET", url, NULL, 1, what, op);
}

int
vault_pending_merge(struct vault *v, const char *name, const cJSON *x5c,
		    cJSON **bundle)
{
	char url[URL_MAX], what[200];
	cJSON *body = NULL, *copy = NULL;
	char *s = NULL;
	int r;

	*bundle = NULL;
	if ((r = cert_url(v, url, sizeof(url), name, "/pending/merge")) != 0)
		return r;
	if ((body = cJSON_CreateObject()) == NULL ||
	    (copy = cJSON_Duplicate(x5c, 1)) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	cJSON_AddItemToObject(body, "x5c", copy);
	if ((s = cJSON_PrintUnformatted(body)) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	snprintf(what, sizeof(what), "certificates/%s/pending/merge", name);
	r = call(v, "POST", url, s, 0, what, bundle);
out:
	free(s);
	cJSON_Delete(body);
	return r;
}

int
vault_cert_get(struct vault *v, const char *name, const char *version,
	       cJSON **bundle)
{
	char url[URL_MAX], what[200], sfx[80] = "";
	int r;

	*bundle = NULL;
	if (version != NULL) {
		if (strlen(version) > 64 ||
		    strspn(version, "0123456789abcdefABCDEF") !=
			strlen(version)) {
			err_detail_set("bad certificate version");
			return AIRLOCK_E_INVALID_ARG;
		}
		snprintf(sfx, sizeof(sfx), "/%s", version);
	}
	if ((r = cert_url(v, url, sizeof(url), name, sfx)) != 0)
		return r;
	snprintf(what, sizeof(what), "certificates/%s%s", name, sfx);
	return call(v, "GET", url, NULL, 1, what, bundle);
}

int
vault_policy_get(struct vault *v, const char *name, cJSON **policy)
{
	char url[URL_MAX], what[200];
	int r;

	*policy = NULL;
	if ((r = cert_url(v, url, sizeof(url), name, "/policy")) != 0)
		return r;
	snprintf(what, sizeof(what), "certificates/%s/policy", name);
	return call(v, "GET", url, NULL, 1, what, policy);
}

/* A nextLink must stay on the host we talk to: the token goes with it. */
static int
next_link_ok(struct vault *v, const char *link)
{
	char h1[256], h2[256];
	int p1, p2;

	if (strlen(link) >= URL_MAX)
		return 0;
	if (url_host(v->base, h1, sizeof(h1), &p1) != 0 ||
	    url_host(link, h2, sizeof(h2), &p2) != 0)
		return 0;
	return strcmp(h1, h2) == 0 && p1 == p2;
}

int
vault_list(struct vault *v, const char *name, int include_pending,
	   int (*fn)(const cJSON *item, void *arg), void *arg)
{
	char url[URL_MAX], what[200];
	const cJSON *val, *next, *it;
	cJSON *page = NULL;
	size_t pages = 0;
	int r = AIRLOCK_E_INTERNAL;

	if (name != NULL) {
		if ((r = cert_url(v, url, sizeof(url), name, "/versions")) != 0)
			return r;
		snprintf(what, sizeof(what), "certificates/%s/versions", name);
	} else {
		snprintf(url, sizeof(url),
			 "%s/certificates?api-version=%s&maxresults=25%s",
			 v->base, v->api_version,
			 include_pending ? "&includePending=true" : "");
		snprintf(what, sizeof(what), "certificates");
	}
	for (;;) {
		if (++pages > PAGES_MAX) {
			err_detail_set("%s: more than %d pages", what,
				       PAGES_MAX);
			r = AIRLOCK_E_TOO_LARGE;
			goto out;
		}
		if ((r = call(v, "GET", url, NULL, 1, what, &page)) != 0)
			goto out;
		val = cJSON_GetObjectItemCaseSensitive(page, "value");
		if (val != NULL && !cJSON_IsArray(val) && !cJSON_IsNull(val)) {
			err_detail_set("%s: 'value' is not an array", what);
			r = AIRLOCK_E_FORMAT;
			goto out;
		}
		cJSON_ArrayForEach (it, val) {
			if (!cJSON_IsObject(it)) {
				err_detail_set("%s: a list item is not an "
					       "object",
					       what);
				r = AIRLOCK_E_FORMAT;
				goto out;
			}
			if ((r = fn(it, arg)) != 0)
				goto out;
		}
		next = cJSON_GetObjectItemCaseSensitive(page, "nextLink");
		if (next == NULL || cJSON_IsNull(next))
			break;
		if (!cJSON_IsString(next) ||
		    !next_link_ok(v, next->valuestring)) {
			err_detail_set("%s: nextLink points away from the "
				       "vault: refused",
				       what);
			r = AIRLOCK_E_FORMAT;
			goto out;
		}
		/* verbatim: it already carries api-version and $skiptoken */
		snprintf(url, sizeof(url), "%s", next->valuestring);
		cJSON_Delete(page);
		page = NULL;
	}
	r = 0;
out:
	cJSON_Delete(page);
	return r;
}
