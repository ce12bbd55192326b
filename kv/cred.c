#include "kv/cred.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kv/http.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/secmem.h"

#define TOKEN_MAX	  (16 * 1024)
#define FORM_MAX	  (32 * 1024)
#define REFRESH_MARGIN	  300
#define CLI_TIMEOUT_MS	  30000
#define DEFAULT_AUTHORITY "https://login.microsoftonline.com"
#define DEFAULT_IMDS	  "http://169.254.169.254"

enum cred_kind {
	CRED_NONE,
	CRED_SECRET,
	CRED_WORKLOAD,
	CRED_APPSERVICE,
	CRED_IMDS,
	CRED_CLI,
};

struct cred {
	struct http_client *http;
	char *only;
	enum cred_kind kind;
	struct secmem *token;
	long long expires;
	char scope[256];
	char tenant[128];
};

static const char *const kind_names[] = {
    "none",
    "client secret (AZURE_CLIENT_SECRET)",
    "workload identity",
    "managed identity (App Service)",
    "managed identity (IMDS)",
    "Azure CLI",
};

int
cred_new(struct http_client *http, const char *only, struct cred **out)
{
	struct cred *c;
	int r;

	*out = NULL;
	if (only != NULL && strcmp(only, "auto") != 0 &&
	    strcmp(only, "env") != 0 && strcmp(only, "workload") != 0 &&
	    strcmp(only, "managed") != 0 && strcmp(only, "cli") != 0) {
		err_detail_set("unknown credential source '%.32s' (auto, env, "
			       "workload, managed, cli)",
			       only);
		return AIRLOCK_E_INVALID_ARG;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return AIRLOCK_E_NOMEM;
	c->http = http;
	if (only != NULL && strcmp(only, "auto") != 0 &&
	    (c->only = strdup(only)) == NULL) {
		free(c);
		return AIRLOCK_E_NOMEM;
	}
	if ((r = secmem_new(TOKEN_MAX, &c->token)) != 0) {
		cred_free(c);
		return r;
	}
	*out = c;
	return 0;
}

void
cred_free(struct cred *c)
{
	if (c == NULL)
		return;
	secmem_free(c->token);
	free(c->only);
	free(c);
}

const char *
cred_source_name(const struct cred *c)
{
	return kind_names[c->kind];
}

static const char *
env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

static int
wanted(const struct cred *c, const char *src)
{
	return c->only == NULL || strcmp(c->only, src) == 0;
}

/* Wipe every string of a tree that held a token before freeing it. */
static void
json_wipe(cJSON *j)
{
	cJSON *it;

	for (it = j; it != NULL; it = it->next) {
		if (it->valuestring != NULL)
			OPENSSL_cleanse(it->valuestring,
					strlen(it->valuestring));
		if (it->child != NULL)
			json_wipe(it->child);
	}
}

static void
json_wipe_free(cJSON *j)
{
	if (j == NULL)
		return;
	json_wipe(j->child);
	cJSON_Delete(j);
}

/* A number, or a string of digits ("3599"), within [0, 2^40). */
static int
num_or_string(const cJSON *obj, const char *key, long long *out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	long long v = 0;
	const char *s;
	size_t n = 0;

	*out = -1;
	if (it == NULL)
		return AIRLOCK_E_NOT_FOUND;
	if (cJSON_IsNumber(it)) {
		if (!json_number_is_integer(it) || it->valuedouble < 0 ||
		    it->valuedouble >= 1099511627776.0)
			goto bad;
		*out = (long long)it->valuedouble;
		return 0;
	}
	if (!cJSON_IsString(it) || it->valuestring == NULL)
		goto bad;
	for (s = it->valuestring; *s >= '0' && *s <= '9'; s++, n++) {
		if (n >= 13)
			goto bad;
		v = v * 10 + (*s - '0');
	}
	if (*s != '\0' || n == 0)
		goto bad;
	*out = v;
	return 0;
bad:
	err_detail_set("token response: '%s' is not a whole number", key);
	return AIRLOCK_E_FORMAT;
}

/* Azure CLI's older "expiresOn": "2023-10-31 14:40:52.000000" in local
 * time. */
static int
cli_expires_on(const char *s, long long *out)
{
	struct tm tm;
	const char *end;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if ((end = strptime(s, "%Y-%m-%d %H:%M:%S", &tm)) == NULL)
		return AIRLOCK_E_FORMAT;
	tm.tm_isdst = -1;
	if ((t = mktime(&tm)) == (time_t)-1)
		return AIRLOCK_E_FORMAT;
	*out = (long long)t;
	return 0;
}

int
cred_token_response_parse(const unsigned char *body, unsigned long len,
			  long long now, struct secmem *token,
			  long long *expires)
{
	cJSON *j = NULL;
	const cJSON *at, *tt;
	long long v;
	size_t n;
	int r = AIRLOCK_E_INTERNAL;

	*expires = 0;
	if ((r = json_parse_strict(body, len, 8, &j)) != 0) {
		err_detail_set("token response is not valid JSON");
		goto out;
	}
	at = cJSON_GetObjectItemCaseSensitive(j, "access_token");
	if (at == NULL) /* Azure CLI */
		at = cJSON_GetObjectItemCaseSensitive(j, "accessToken");
	if (!cJSON_IsString(at) || at->valuestring == NULL ||
	    (n = strlen(at->valuestring)) == 0) {
		err_detail_set("token response has no access token");
		r = AIRLOCK_E_FORMAT;
		goto out;
	}
	if (n > secmem_capacity(token)) {
		err_detail_set("access token longer than %zu bytes",
			       secmem_capacity(token));
		r = AIRLOCK_E_TOO_LARGE;
		goto out;
	}
	/* a bearer token is a header value: printable ASCII, no spaces */
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)at->valuestring[i];
		if (ch <= 0x20 || ch >= 0x7f) {
			err_detail_set("access token has a byte that cannot "
				       "go in a header");
			r = AIRLOCK_E_FORMAT;
			goto out;
		}
	}
	tt = cJSON_GetObjectItemCaseSensitive(j, "token_type");
	if (tt == NULL)
		tt = cJSON_GetObjectItemCaseSensitive(j, "tokenType");
	if (tt != NULL && (!cJSON_IsString(tt) ||
			   strcasecmp(tt->valuestring, "Bearer") != 0)) {
		err_detail_set("token type is not Bearer");
		r = AIRLOCK_E_FORMAT;
		goto out;
	}
	/* expiry: expires_on (absolute) wins over expires_in (relative) */
	if ((r = num_or_string(j, "expires_on", &v)) == 0) {
		*expires = v;
	} else if (r != AIRLOCK_E_NOT_FOUND) {
		goto out;
	} else if ((r = num_or_string(j, "expires_in", &v)) == 0) {
		*expires = now + v;
	} else if (r != AIRLOCK_E_NOT_FOUND) {
		goto out;
	} else {
		const cJSON *eo =
		    cJSON_GetObjectItemCaseSensitive(j, "expiresOn");
		if (!cJSON_IsString(eo) ||
		    cli_expires_on(eo->valuestring, expires) != 0) {
			err_detail_set("token response says nothing usable "
				       "about its expiry");
			r = AIRLOCK_E_FORMAT;
			goto out;
		}
	}
	memcpy(secmem_data(token), at->valuestring, n);
	if ((r = secmem_set_len(token, n)) != 0)
		goto out;
	r = 0;
out:
	json_wipe_free(j);
	return r;
}

/* Entra ID / IMDS error bodies: {"error":"invalid_client",
 * "error_description":"AADSTS7000215: ..."} (never secret). */
static void
token_error_detail(const char *who, struct http_response *resp)
{
	const unsigned char *b;
	const cJSON *e, *d;
	cJSON *j = NULL;
	size_t len;

	b = http_response_body(resp, &len);
	if (json_parse_strict(b, len, 8, &j) == 0) {
		e = cJSON_GetObjectItemCaseSensitive(j, "error");
		d = cJSON_GetObjectItemCaseSensitive(j, "error_description");
		if (cJSON_IsString(e) && cJSON_IsString(d)) {
			err_detail_set("%s: HTTP %ld %.64s: %.400s", who,
				       http_response_status(resp),
				       e->valuestring, d->valuestring);
			json_wipe_free(j);
			return;
		}
		if (cJSON_IsString(e)) {
			err_detail_set("%s: HTTP %ld %.64s", who,
				       http_response_status(resp),
				       e->valuestring);
			json_wipe_free(j);
			return;
		}
	}
	json_wipe_free(j);
	err_detail_set("%s: HTTP %ld", who, http_response_status(resp));
}

static int
token_store(struct cred *c, struct http_response *resp, const char *who)
{
	const unsigned char *b;
	size_t len;
	int r;

	if (http_response_status(resp) != 200) {
		token_error_detail(who, resp);
		return AIRLOCK_E_AUTH;
	}
	b = http_response_body(resp, &len);
	if ((r = cred_token_response_parse(b, len, (long long)time(NULL),
					   c->token, &c->expires)) != 0) {
		char d[256];
		snprintf(d, sizeof(d), "%s", err_detail_get());
		err_detail_set("%s: %s", who, d);
	}
	return r;
}

/* BUF += "&KEY=escaped(VALUE)" inside locked memory. */
static int
form_add(struct secmem *f, const char *key, const char *value)
{
	size_t have = secmem_len(f), cap = secmem_capacity(f), klen, used;
	char *p = secmem_data(f);
	int r;

	klen = strlen(key);
	if (have + klen + 2 >= cap)
		return AIRLOCK_E_TOO_LARGE;
	if (have > 0)
		p[have++] = '&';
	memcpy(p + have, key, klen);
	have += klen;
	p[have++] = '=';
	if ((r = http_form_escape(value, p + have, cap - have, &used)) != 0)
		return r;
	return secmem_set_len(f, have + used);
}

static int
check_tenant(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > 100 ||
	    strspn(t, "abcdefghijklmnopqrstuvwxyz"
		      "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		      "0123456789.-") != n) {
		err_detail_set("tenant id '%.100s' has characters a tenant "
			       "never has",
			       t);
		return AIRLOCK_E_AUTH;
	}
	return 0;
}

/* Client credentials grant (RFC 6749 4.4) against Entra ID, with a secret
 * or a federated assertion. */
static int
token_entra(struct cred *c, const char *tenant, const char *scope,
	    const char *secret, const struct secmem *assertion, const char *who)
{
	static const char *const hdrs[] = {
	    "Content-Type: application/x-www-form-urlencoded",
	    "Accept: application/json", NULL};
	const char *authority = env("AZURE_AUTHORITY_HOST");
	const char *client = env("AZURE_CLIENT_ID");
	struct http_response *resp = NULL;
	struct secmem *form = NULL;
	char url[1024];
	size_t n;
	int r = AIRLOCK_E_INTERNAL;

	if (authority == NULL)
		authority = DEFAULT_AUTHORITY;
	n = strlen(authority);
	while (n > 0 && authority[n - 1] == '/')
		n--;
	if (strncmp(authority, "https://", 8) != 0) {
		err_detail_set("AZURE_AUTHORITY_HOST must be an https:// URL");
		return AIRLOCK_E_AUTH;
	}
	if ((r = check_tenant(tenant)) != 0)
		return r;
	if ((size_t)snprintf(url, sizeof(url), "%.*s/%s/oauth2/v2.0/token",
			     (int)n, authority, tenant) >= sizeof(url))
		return AIRLOCK_E_TOO_LARGE;
	if ((r = secmem_new(FORM_MAX, &form)) != 0)
		goto out;
	if ((r = form_add(form, "grant_type", "client_credentials")) != 0 ||
	    (r = form_add(form, "client_id", client)) != 0 ||
	    (r = form_add(form, "scope", scope)) != 0)
		goto out;
	if (secret != NULL &&
	    (r = form_add(form, "client_secret", secret)) != 0)
		goto out;
	if (assertion != NULL &&
	    ((r = form_add(form, "client_assertion_type",
			   "urn:ietf:params:oauth:client-assertion-type:"
			   "jwt-bearer")) != 0 ||
	     (r = form_add(form, "client_assertion", secmem_get0(assertion))) !=
		 0))
		goto out;
	if ((r = http_request(c->http, "POST", url, hdrs, NULL,
			      secmem_get0(form), secmem_len(form),
			      HTTP_SECRET_RESPONSE, &resp)) != 0)
		goto out;
	r = token_store(c, resp, who);
out:
	http_response_free(resp);
	secmem_free(form);
	return r;
}

static int
src_secret(struct cred *c, const char *tenant, const char *scope)
{
	const char *t = env("AZURE_TENANT_ID"), *secret;

	if ((secret = env("AZURE_CLIENT_SECRET")) == NULL || t == NULL ||
	    env("AZURE_CLIENT_ID") == NULL)
		return AIRLOCK_E_NOT_FOUND;
	/* As the SDKs: a challenge from another tenant is refused unless
	 * the operator said which tenant to use. */
	if (tenant != NULL && strcmp(tenant, t) != 0) {
		err_detail_set("the vault's challenge names tenant %.100s but "
			       "AZURE_TENANT_ID is %.100s: use the vault's "
			       "tenant",
			       tenant, t);
		return AIRLOCK_E_AUTH;
	}
	return token_entra(c, t, scope, secret, NULL,
			   "client secret credential");
}

/* Read a small file (the federated token) into locked memory. */
static int
read_secret_file(const char *path, struct secmem *out)
{
	struct stat st;
	ssize_t n;
	size_t have = 0;
	int fd, r = AIRLOCK_E_IO;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		err_detail_set("AZURE_FEDERATED_TOKEN_FILE: cannot open: %s",
			       strerror(errno));
		return AIRLOCK_E_AUTH;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (size_t)st.st_size > secmem_capacity(out)) {
		err_detail_set("AZURE_FEDERATED_TOKEN_FILE: not a regular "
			       "file under %zu bytes",
			       secmem_capacity(out));
		r = AIRLOCK_E_AUTH;
		goto out;
	}
	for (;;) {
		n = read(fd, secmem_data(out) + have,
			 secmem_capacity(out) - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out;
		if (n == 0)
			break;
		have += (size_t)n;
		if (have == secmem_capacity(out))
			break;
	}
	while (have > 0 && (secmem_data(out)[have - 1] == '\n' ||
			    secmem_data(out)[have - 1] == '\r' ||
			    secmem_data(out)[have - 1] == ' '))
		have--;
	if (have == 0) {
		err_detail_set("AZURE_FEDERATED_TOKEN_FILE is empty");
		r = AIRLOCK_E_AUTH;
		goto out;
	}
	r = secmem_set_len(out, have);
out:
	close(fd);
	return r;
}

static int
src_workload(struct cred *c, const char *tenant, const char *scope)
{
	const char *t = env("AZURE_TENANT_ID"), *file;
	struct secmem *assertion = NULL;
	int r;

	if ((file = env("AZURE_FEDERATED_TOKEN_FILE")) == NULL || t == NULL ||
	    env("AZURE_CLIENT_ID") == NULL)
		return AIRLOCK_E_NOT_FOUND;
	if (tenant != NULL && strcmp(tenant, t) != 0) {
		err_detail_set("the vault's challenge names tenant %.100s but "
			       "AZURE_TENANT_ID is %.100s",
			       tenant, t);
		return AIRLOCK_E_AUTH;
	}
	if ((r = secmem_new(TOKEN_MAX, &assertion)) != 0)
		return r;
	if ((r = read_secret_file(file, assertion)) == 0)
		r = token_entra(c, t, scope, NULL, assertion,
				"workload identity credential");
	secmem_free(assertion);
	return r;
}

/* "https://vault.azure.net/.default" -> "https://vault.azure.net" */
static void
scope_to_resource(const char *scope, char *out, size_t outlen)
{
	size_t n = strlen(scope);
	static const char sfx[] = "/.default";

	if (n >= sizeof(sfx) - 1 &&
	    strcmp(scope + n - (sizeof(sfx) - 1), sfx) == 0)
		n -= sizeof(sfx) - 1;
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, scope, n);
	out[n] = '\0';
}

/* Plain http is allowed only to the link-local IMDS address and to the
 * local App Service identity endpoint. */
static int
plain_http_ok(const char *url)
{
	static const char *const ok[] = {
	    "http://169.254.169.254/", "http://169.254.169.254:",
	    "http://127.0.0.1:", "http://localhost:", NULL};
	size_t i;

	for (i = 0; ok[i] != NULL; i++)
		if (strncmp(url, ok[i], strlen(ok[i])) == 0)
			return HTTP_PLAIN_HTTP_OK;
	return 0;
}

static int
src_managed(struct cred *c, const char *scope, enum cred_kind *kind)
{
	const char *ie = env("IDENTITY_ENDPOINT"), *ih = env("IDENTITY_HEADER");
	const char *base = env("AIRLOCK_IMDS_ENDPOINT"), *cid;
	const char *hdrs[3] = {NULL, NULL, NULL};
	struct http_response *resp = NULL;
	char resource[256], eres[800], ecid[300], url[2048], hbuf[600];
	size_t used, n;
	int r, flags;

	scope_to_resource(scope, resource, sizeof(resource));
	if ((r = http_form_escape(resource, eres, sizeof(eres), &used)) != 0)
		return r;
	ecid[0] = '\0';
	if ((cid = env("AZURE_CLIENT_ID")) != NULL &&
	    (r = http_form_escape(cid, ecid, sizeof(ecid), &used)) != 0)
		return r;
	if (ie != NULL && ih != NULL) {
		/* App Service / Functions, api-version 2019-08-01 */
		*kind = CRED_APPSERVICE;
		if ((size_t)snprintf(
			url, sizeof(url),
			"%s%sapi-version=2019-08-01&resource=%s%s%s", ie,
			strchr(ie, '?') ? "&" : "?", eres,
			ecid[0] ? "&client_id=" : "", ecid) >= sizeof(url))
			return AIRLOCK_E_TOO_LARGE;
		if ((size_t)snprintf(hbuf, sizeof(hbuf),
				     "X-IDENTITY-HEADER: %.500s",
				     ih) >= sizeof(hbuf))
			return AIRLOCK_E_TOO_LARGE;
		hdrs[0] = hbuf;
		flags = HTTP_SECRET_RESPONSE | plain_http_ok(url);
		http_client_timeouts_set(c->http, 5000, 30000);
		r = http_request(c->http, "GET", url, hdrs, NULL, NULL, 0,
				 flags, &resp);
		OPENSSL_cleanse(hbuf, sizeof(hbuf));
	} else {
		*kind = CRED_IMDS;
		if (base == NULL)
			base = DEFAULT_IMDS;
		n = strlen(base);
		while (n > 0 && base[n - 1] == '/')
			n--;
		if ((size_t)snprintf(url, sizeof(url),
				     "%.*s/metadata/identity/oauth2/token"
				     "?api-version=2018-02-01&resource=%s%s%s",
				     (int)n, base, eres,
				     ecid[0] ? "&client_id=" : "",
				     ecid) >= sizeof(url))
			return AIRLOCK_E_TOO_LARGE;
		hdrs[0] = "Metadata: true";
		flags = HTTP_SECRET_RESPONSE | plain_http_ok(url);
		/* IMDS answers at once on Azure; elsewhere the connection
		 * times out: keep that short (the SDKs probe the same way). */
		http_client_timeouts_set(c->http, 1500, 15000);
		r = http_request(c->http, "GET", url, hdrs, NULL, NULL, 0,
				 flags, &resp);
	}
	http_client_timeouts_set(c->http, 10000, 60000);
	if (r != 0) {
		/* no endpoint answering: this source is not available */
		if (r == AIRLOCK_E_REMOTE || r == AIRLOCK_E_TIMEOUT)
			r = AIRLOCK_E_NOT_FOUND;
		goto out;
	}
	r = token_store(c, resp,
			*kind == CRED_IMDS ? "managed identity (IMDS)"
					   : "managed identity (App Service)");
out:
	http_response_free(resp);
	return r;
}

/* Run `az account get-access-token` with a deadline; its stdout (the token)
 * is read into locked memory, its stderr kept for the message. */
static int
src_cli(struct cred *c, const char *tenant, const char *scope)
{
	char resource[256], errbuf[512];
	struct secmem *outb = NULL;
	struct pollfd pfd[2];
	int op[2] = {-1, -1}, ep[2] = {-1, -1}, status, r = AIRLOCK_E_INTERNAL;
	size_t have = 0, elen = 0;
	pid_t pid = -1;
	ssize_t n;
	struct timespec t0, t1;
	long left;

	scope_to_resource(scope, resource, sizeof(resource));
	if (tenant != NULL && (r = check_tenant(tenant)) != 0)
		return r;
	if ((r = secmem_new(HTTP_SECRET_BODY_MAX, &outb)) != 0)
		return r;
	if (pipe2(op, O_CLOEXEC) != 0 || pipe2(ep, O_CLOEXEC) != 0) {
		r = AIRLOCK_E_IO;
		goto out;
	}
	if ((pid = fork()) < 0) {
		r = AIRLOCK_E_IO;
		goto out;
	}
	if (pid == 0) {
		char *argv[12];
		int i = 0, devnull = open("/dev/null", O_RDONLY);

		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(op[1], 1);
		dup2(ep[1], 2);
		argv[i++] = (char *)"az";
		argv[i++] = (char *)"account";
		argv[i++] = (char *)"get-access-token";
		argv[i++] = (char *)"--resource";
		argv[i++] = resource;
		argv[i++] = (char *)"-o";
		argv[i++] = (char *)"json";
		if (tenant != NULL) {
			argv[i++] = (char *)"--tenant";
			argv[i++] = (char *)tenant;
		}
		argv[i] = NULL;
		execvp("az", argv);
		_exit(127);
	}
	close(op[1]);
	close(ep[1]);
	op[1] = ep[1] = -1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pfd[0].fd = op[0];
	pfd[1].fd = ep[0];
	pfd[0].events = pfd[1].events = POLLIN;
	while (pfd[0].fd >= 0 || pfd[1].fd >= 0) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		left = CLI_TIMEOUT_MS - ((t1.tv_sec - t0.tv_sec) * 1000 +
					 (t1.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0) {
			kill(pid, SIGKILL);
			err_detail_set("Azure CLI did not answer within %d s",
				       CLI_TIMEOUT_MS / 1000);
			r = AIRLOCK_E_AUTH;
			goto out;
		}
		if (poll(pfd, 2, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			r = AIRLOCK_E_IO;
			goto out;
		}
		if (pfd[0].fd >= 0 && pfd[0].revents) {
			n = read(op[0], secmem_data(outb) + have,
				 secmem_capacity(outb) - have);
			if (n <= 0 ||
			    (have += (size_t)n) == secmem_capacity(outb))
				pfd[0].fd = -1;
		}
		if (pfd[1].fd >= 0 && pfd[1].revents) {
			char tmp[512];
			n = read(ep[0], tmp, sizeof(tmp));
			if (n <= 0) {
				pfd[1].fd = -1;
			} else if (elen < sizeof(errbuf) - 1) {
				size_t k = (size_t)n;
				if (k > sizeof(errbuf) - 1 - elen)
					k = sizeof(errbuf) - 1 - elen;
				memcpy(errbuf + elen, tmp, k);
				elen += k;
			}
		}
	}
	errbuf[elen] = '\0';
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	pid = -1;
	if ((r = secmem_set_len(outb, have)) != 0)
		goto out;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && have == 0) {
		r = AIRLOCK_E_NOT_FOUND; /* no az on PATH */
		goto out;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		err_detail_set("Azure CLI failed (run `az login`?): %.400s",
			       elen ? errbuf : "no message");
		r = AIRLOCK_E_AUTH;
		goto out;
	}
	if ((r = cred_token_response_parse(
		 (const unsigned char *)secmem_get0(outb), have,
		 (long long)time(NULL), c->token, &c->expires)) != 0)
		goto out;
	r = 0;
out:
	if (pid > 0) {
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	for (int i = 0; i < 2; i++) {
		if (op[i] >= 0)
			close(op[i]);
		if (ep[i] >= 0)
			close(ep[i]);
	}
	secmem_free(outb);
	return r;
}

int
cred_token_get(struct cred *c, const char *tenant, const char *scope,
	       int refresh, const struct secmem **token)
{
	long long now = (long long)time(NULL);
	enum cred_kind kind = CRED_NONE;
	int r = AIRLOCK_E_NOT_FOUND;

	*token = NULL;
	if (strlen(scope) >= sizeof(c->scope) ||
	    (tenant != NULL && strlen(tenant) >= sizeof(c->tenant))) {
		err_detail_set("scope or tenant too long");
		return AIRLOCK_E_AUTH;
	}
	if (!refresh && c->kind != CRED_NONE && secmem_len(c->token) > 0 &&
	    c->expires - REFRESH_MARGIN > now && strcmp(c->scope, scope) == 0 &&
	    strcmp(c->tenant, tenant != NULL ? tenant : "") == 0) {
		*token = c->token;
		return 0;
	}
	if (secmem_set_len(c->token, 0) != 0)
		return AIRLOCK_E_INTERNAL;
	c->kind = CRED_NONE;
	if (wanted(c, "env")) {
		kind = CRED_SECRET;
		r = src_secret(c, tenant, scope);
	}
	if (r == AIRLOCK_E_NOT_FOUND && wanted(c, "workload")) {
		kind = CRED_WORKLOAD;
		r = src_workload(c, tenant, scope);
	}
	if (r == AIRLOCK_E_NOT_FOUND && wanted(c, "managed"))
		r = src_managed(c, scope, &kind);
	if (r == AIRLOCK_E_NOT_FOUND && wanted(c, "cli")) {
		kind = CRED_CLI;
		r = src_cli(c, tenant, scope);
	}
	if (r == AIRLOCK_E_NOT_FOUND) {
		err_detail_set(
		    "no Azure credential found%s%s: set AZURE_TENANT_ID, "
		    "AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or "
		    "AZURE_FEDERATED_TOKEN_FILE), run on Azure with a managed "
		    "identity, or `az login`",
		    c->only ? " from source " : "", c->only ? c->only : "");
		return AIRLOCK_E_AUTH;
	}
	if (r != 0)
		return r;
	c->kind = kind;
	snprintf(c->scope, sizeof(c->scope), "%s", scope);
	snprintf(c->tenant, sizeof(c->tenant), "%s",
		 tenant != NULL ? tenant : "");
	*token = c->token;
	return 0;
}
