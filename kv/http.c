#include "kv/http.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/err.h"
#include "lib/secmem.h"

#define HDR_VALUE_MAX 2048

struct http_client {
	CURL *curl;
	char *cacert;
	long connect_ms;
	long total_ms;
	int last_unsent;
	void (*trace)(const char *line, void *arg);
	void *trace_arg;
	char errbuf[CURL_ERROR_SIZE];
};

struct http_response {
	long status;
	int secret;
	unsigned char *body; /* malloc'd, when !secret */
	size_t len;
	size_t cap;
	struct secmem *sbody; /* when secret */
	int too_large;
	char *www_authenticate;
	char *location;
	char *content_type;
	char *retry_after;
	char *retry_after_ms;
	char *x_ms_retry_after_ms;
};

int
http_client_new(const char *cacert, struct http_client **out)
{
	struct http_client *c;
	static int inited;

	*out = NULL;
	if (!inited) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			err_detail_set("curl_global_init failed");
			return AIRLOCK_E_INTERNAL;
		}
		inited = 1;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return AIRLOCK_E_NOMEM;
	if ((c->curl = curl_easy_init()) == NULL) {
		free(c);
		return AIRLOCK_E_NOMEM;
	}
	if (cacert != NULL && (c->cacert = strdup(cacert)) == NULL) {
		http_client_free(c);
		return AIRLOCK_E_NOMEM;
	}
	c->connect_ms = 10000;
	c->total_ms = 60000;
	*out = c;
	return 0;
}

void
http_client_free(struct http_client *c)
{
	if (c == NULL)
		return;
	curl_easy_cleanup(c->curl);
	free(c->cacert);
	free(c);
}

void
http_client_timeouts_set(struct http_client *c, long connect_ms, long total_ms)
{
	c->connect_ms = connect_ms;
	c->total_ms = total_ms;
}

void
http_client_trace_set(struct http_client *c,
		      void (*fn)(const char *line, void *arg), void *arg)
{
	c->trace = fn;
	c->trace_arg = arg;
}

int
http_client_last_unsent(const struct http_client *c)
{
	return c->last_unsent;
}

void
http_response_free(struct http_response *resp)
{
	if (resp == NULL)
		return;
	if (resp->body != NULL) {
		OPENSSL_cleanse(resp->body, resp->cap);
		free(resp->body);
	}
	secmem_free(resp->sbody);
	free(resp->www_authenticate);
	free(resp->location);
	free(resp->content_type);
	free(resp->retry_after);
	free(resp->retry_after_ms);
	free(resp->x_ms_retry_after_ms);
	free(resp);
}

long
http_response_status(const struct http_response *resp)
{
	return resp->status;
}

const unsigned char *
http_response_body(const struct http_response *resp, size_t *len)
{
	if (resp->secret) {
		*len = secmem_len(resp->sbody);
		return (const unsigned char *)secmem_get0(resp->sbody);
	}
	*len = resp->len;
	return resp->body != NULL ? resp->body : (const unsigned char *)"";
}

const char *
http_response_header(const struct http_response *resp, const char *name)
{
	if (strcasecmp(name, "www-authenticate") == 0)
		return resp->www_authenticate;
	if (strcasecmp(name, "location") == 0)
		return resp->location;
	if (strcasecmp(name, "content-type") == 0)
		return resp->content_type;
	return NULL;
}

/* A non-negative decimal integer of at most 12 digits, else -1. */
static long long
parse_uint(const char *s)
{
	long long v = 0;
	size_t n = 0;

	if (s == NULL || *s == '\0')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++, n++) {
		if (n >= 12)
			return -1;
		v = v * 10 + (*s - '0');
	}
	if (*s != '\0')
		return -1;
	return v;
}

long
http_response_retry_after_ms(const struct http_response *resp)
{
	long long v;
	time_t t, now;

	/* The ms forms are more precise; Azure SDKs prefer them too. */
	if ((v = parse_uint(resp->retry_after_ms)) >= 0)
		return (long)(v > 3600000 ? 3600000 : v);
	if ((v = parse_uint(resp->x_ms_retry_after_ms)) >= 0)
		return (long)(v > 3600000 ? 3600000 : v);
	if (resp->retry_after == NULL)
		return -1;
	if ((v = parse_uint(resp->retry_after)) >= 0)
		return (long)(v > 3600 ? 3600000 : v * 1000);
	/* RFC 9110 10.2.3: an HTTP-date */
	if ((t = curl_getdate(resp->retry_after, NULL)) == -1)
		return -1;
	now = time(NULL);
	if (t <= now)
		return 0;
	return (long)(t - now > 3600 ? 3600000 : (t - now) * 1000);
}

static size_t
on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct http_response *resp = arg;
	size_t n = size * nmemb, need, ncap;
	unsigned char *nb;

	if (resp->secret) {
		size_t have = secmem_len(resp->sbody);
		if (n > secmem_capacity(resp->sbody) - have) {
			resp->too_large = 1;
			return 0;
		}
		memcpy(secmem_data(resp->sbody) + have, ptr, n);
		if (secmem_set_len(resp->sbody, have + n) != 0)
			return 0;
		return n;
	}
	if (n > HTTP_BODY_MAX - resp->len) {
		resp->too_large = 1;
		return 0;
	}
	need = resp->len + n + 1;
	if (need > resp->cap) {
		ncap = resp->cap ? resp->cap : 4096;
		while (ncap < need)
			ncap *= 2;
		if ((nb = realloc(resp->body, ncap)) == NULL)
			return 0;
		resp->body = nb;
		resp->cap = ncap;
	}
	memcpy(resp->body + resp->len, ptr, n);
	resp->len += n;
	resp->body[resp->len] = '\0';
	return n;
}

static int
hdr_set(char **slot, const char *v, size_t n)
{
	char *s;

	if (n > HDR_VALUE_MAX)
		n = HDR_VALUE_MAX;
	if ((s = malloc(n + 1)) == NULL)
		return -1;
	memcpy(s, v, n);
	s[n] = '\0';
	free(*slot);
	*slot = s;
	return 0;
}

static size_t
on_header(char *buf, size_t size, size_t nitems, void *arg)
{
	struct http_response *resp = arg;
	size_t n = size * nitems, klen;
	const char *colon, *v, *end;
	char **slot = NULL;

	if (n >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
		/* a new response (after 100 Continue): forget the old headers
		 */
		free(resp->www_authenticate);
		free(resp->location);
		free(resp->content_type);
		free(resp->retry_after);
		free(resp->retry_after_ms);
		free(resp->x_ms_retry_after_ms);
		resp->www_authenticate = resp->location = resp->content_type =
		    NULL;
		resp->retry_after = resp->retry_after_ms =
		    resp->x_ms_retry_after_ms = NULL;
		return n;
	}
	if ((colon = memchr(buf, ':', n)) == NULL)
		return n;
	klen = (size_t)(colon - buf);
#define K(name) (klen == strlen(name) && strncasecmp(buf, name, klen) == 0)
	if (K("www-authenticate"))
		slot = &resp->www_authenticate;
	else if (K("location"))
		slot = &resp->location;
	else if (K("content-type"))
		slot = &resp->content_type;
	else if (K("retry-after"))
		slot = &resp->retry_after;
	else if (K("retry-after-ms"))
		slot = &resp->retry_after_ms;
	else if (K("x-ms-retry-after-ms"))
		slot = &resp->x_ms_retry_after_ms;
#undef K
	if (slot == NULL)
		return n;
	v = colon + 1;
	end = buf + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' ||
			   end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (hdr_set(slot, v, (size_t)(end - v)) != 0)
		return 0;
	return n;
}

static void trace(struct http_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
trace(struct http_client *c, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (c->trace == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	c->trace(line, c->trace_arg);
}

/* The URL without its query string, for traces and messages: queries may
 * carry $skiptoken values nobody needs to see. */
static void
url_noquery(const char *url, char *out, size_t outlen)
{
	size_t n = strcspn(url, "?");

	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, url, n);
	out[n] = '\0';
}

static int
map_curl_error(struct http_client *c, CURLcode cc, struct http_response *resp,
	       const char *url)
{
	char u[512];

	url_noquery(url, u, sizeof(u));
	switch (cc) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		err_detail_set(
		    "%s: %s (the server's certificate did not "
		    "verify: check the host name and --cacert)",
		    u, c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc));
		return AIRLOCK_E_TLS;
	case CURLE_SSL_CONNECT_ERROR:
		err_detail_set("%s: TLS handshake failed: %s", u,
			       c->errbuf[0] ? c->errbuf
					    : curl_easy_strerror(cc));
		return AIRLOCK_E_TLS;
	case CURLE_OPERATION_TIMEDOUT:
		err_detail_set("%s: no complete answer within %ld ms", u,
			       c->total_ms);
		return AIRLOCK_E_TIMEOUT;
	case CURLE_WRITE_ERROR:
	case CURLE_FILESIZE_EXCEEDED:
		if (resp->too_large) {
			err_detail_set("%s: response body over the limit of "
				       "%u bytes",
				       u,
				       resp->secret ? HTTP_SECRET_BODY_MAX
						    : HTTP_BODY_MAX);
			return AIRLOCK_E_TOO_LARGE;
		}
		break;
	case CURLE_UNSUPPORTED_PROTOCOL:
		err_detail_set("%s: refused: only https:// is allowed here", u);
		return AIRLOCK_E_REFUSED;
	default:
		break;
	}
	err_detail_set("%s: %s", u,
		       c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc));
	return AIRLOCK_E_REMOTE;
}

static int
auth_header(const struct secmem *token, struct secmem **out)
{
	static const char pfx[] = "Authorization: Bearer ";
	size_t n = secmem_len(token);
	int r;

	*out = NULL;
	if ((r = secmem_new(sizeof(pfx) + n, out)) != 0)
		return r;
	memcpy(secmem_data(*out), pfx, sizeof(pfx) - 1);
	memcpy(secmem_data(*out) + sizeof(pfx) - 1, secmem_get0(token), n);
	return secmem_set_len(*out, sizeof(pfx) - 1 + n);
}

static void
slist_wipe_free(struct curl_slist *l)
{
	struct curl_slist *p;

	for (p = l; p != NULL; p = p->next)
		if (p->data != NULL)
			OPENSSL_cleanse(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

int
http_request(struct http_client *c, const char *method, const char *url,
	     const char *const *headers, const struct secmem *token,
	     const void *body, size_t len, int flags,
	     struct http_response **out)
{
	struct http_response *resp = NULL;
	struct curl_slist *hl = NULL, *nl;
	struct secmem *ah = NULL;
	CURL *h = c->curl;
	CURLcode cc;
	curl_off_t sent = 0;
	char u[512];
	size_t i;
	int r = AIRLOCK_E_INTERNAL;

	*out = NULL;
	c->last_unsent = 0;
	c->errbuf[0] = '\0';
	if (strncmp(url, "https://", 8) != 0 &&
	    !((flags & HTTP_PLAIN_HTTP_OK) &&
	      strncmp(url, "http://", 7) == 0)) {
		err_detail_set("refusing a non-https URL");
		c->last_unsent = 1;
		return AIRLOCK_E_REFUSED;
	}
	if ((resp = calloc(1, sizeof(*resp))) == NULL)
		return AIRLOCK_E_NOMEM;
	if (flags & HTTP_SECRET_RESPONSE) {
		resp->secret = 1;
		if ((r = secmem_new(HTTP_SECRET_BODY_MAX, &resp->sbody)) != 0)
			goto out;
	}
	for (i = 0; headers != NULL && headers[i] != NULL; i++) {
		if ((nl = curl_slist_append(hl, headers[i])) == NULL) {
			r = AIRLOCK_E_NOMEM;
			goto out;
		}
		hl = nl;
	}
	/* no "Expect: 100-continue" round trip */
	if ((nl = curl_slist_append(hl, "Expect:")) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	hl = nl;
	if (token != NULL) {
		if ((r = auth_header(token, &ah)) != 0)
			goto out;
		if ((nl = curl_slist_append(hl, secmem_get0(ah))) == NULL) {
			r = AIRLOCK_E_NOMEM;
			goto out;
		}
		hl = nl;
	}

	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR,
			 (flags & HTTP_PLAIN_HTTP_OK) ? "https,http" : "https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(h, CURLOPT_SSLVERSION, CURL_SSLVERSION_TLSv1_2);
	if (c->cacert != NULL)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->cacert);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->total_ms);
	curl_easy_setopt(
	    h, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)(resp->secret ? HTTP_SECRET_BODY_MAX : HTTP_BODY_MAX));
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "airlock-kv/" AIRLOCK_VERSION);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);
	if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else {
		/* libcurl silently re-sends a request whose reused connection
		 * turns out dead; a POST must never be re-sent blindly
		 * (KEYVAULT.md), so unsafe requests get a fresh connection. */
		curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS,
				 body != NULL ? body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)(body != NULL ? len : 0));
	}

	url_noquery(url, u, sizeof(u));
	trace(c, "> %s %s%s", method, u,
	      token != NULL ? " (authorization: [redacted])" : "");
	cc = curl_easy_perform(h);
	if (curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &sent) != CURLE_OK)
		sent = 1;
	/* drop our references to caller memory before returning */
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
	if (cc != CURLE_OK) {
		c->last_unsent = sent == 0;
		r = map_curl_error(c, cc, resp, url);
		trace(c, "< %s: transport error %d (%s)%s", u, (int)cc,
		      curl_easy_strerror(cc),
		      c->last_unsent ? ", request not sent" : "");
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
	trace(c, "< %ld %s", resp->status, u);
	*out = resp;
	resp = NULL;
	r = 0;
out:
	slist_wipe_free(hl);
	secmem_free(ah);
	http_response_free(resp);
	return r;
}

int
http_form_escape(const char *in, char *out, size_t outlen, size_t *used)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	unsigned char ch;

	*used = 0;
	for (; *in != '\0'; in++) {
		ch = (unsigned char)*in;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
		    ch == '_' || ch == '~') {
			if (o + 1 >= outlen)
				return AIRLOCK_E_TOO_LARGE;
			out[o++] = (char)ch;
		} else {
			if (o + 3 >= outlen)
				return AIRLOCK_E_TOO_LARGE;
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	if (o >= outlen)
		return AIRLOCK_E_TOO_LARGE;
	out[o] = '\0';
	*used = o;
	return 0;
}
