#include "kv/kvjson.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/err.h"
#include "lib/json.h"

#define CSR_MAX (64 * 1024)
#define CER_MAX (64 * 1024)
#define STR_MAX 4096

/* ---- base64 ---- */

static int
b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
kvjson_b64_decode(const char *in, unsigned char **out, size_t *outlen)
{
	size_t n = strlen(in), i, o = 0, pad = 0;
	unsigned char *buf;
	int v[4];

	*out = NULL;
	*outlen = 0;
	if (n == 0 || n % 4 != 0)
		goto bad;
	if (in[n - 1] == '=')
		pad++;
	if (in[n - 2] == '=')
		pad++;
	if ((buf = malloc(n / 4 * 3 + 1)) == NULL)
		return AIRLOCK_E_NOMEM;
	for (i = 0; i < n; i += 4) {
		for (int k = 0; k < 4; k++) {
			int last = i + 4 == n;
			if (last && in[i + k] == '=' && k >= 4 - (int)pad)
				v[k] = 0;
			else if ((v[k] = b64_val((unsigned char)in[i + k])) <
				 0) {
				free(buf);
				goto bad;
			}
		}
		buf[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		buf[o++] = (unsigned char)(v[1] << 4 | v[2] >> 2);
		buf[o++] = (unsigned char)(v[2] << 6 | v[3]);
	}
	o -= pad;
	*out = buf;
	*outlen = o;
	return 0;
bad:
	err_detail_set("not strict base64");
	return AIRLOCK_E_FORMAT;
}

static const char b64c[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int
kvjson_b64_encode(const unsigned char *in, size_t len, char **out)
{
	size_t i, o = 0;
	char *s;

	*out = NULL;
	if ((s = malloc((len + 2) / 3 * 4 + 1)) == NULL)
		return AIRLOCK_E_NOMEM;
	for (i = 0; i + 2 < len; i += 3) {
		s[o++] = b64c[in[i] >> 2];
		s[o++] = b64c[(in[i] & 3) << 4 | in[i + 1] >> 4];
		s[o++] = b64c[(in[i + 1] & 15) << 2 | in[i + 2] >> 6];
		s[o++] = b64c[in[i + 2] & 63];
	}
	if (i < len) {
		s[o++] = b64c[in[i] >> 2];
		if (i + 1 < len) {
			s[o++] = b64c[(in[i] & 3) << 4 | in[i + 1] >> 4];
			s[o++] = b64c[(in[i + 1] & 15) << 2];
		} else {
			s[o++] = b64c[(in[i] & 3) << 4];
			s[o++] = '=';
		}
		s[o++] = '=';
	}
	s[o] = '\0';
	*out = s;
	return 0;
}

int
kvjson_x5t(const unsigned char *der, size_t len, char out[32])
{
	unsigned char md[SHA_DIGEST_LENGTH];
	char *s = NULL;
	size_t i, n;
	int r;

	SHA1(der, len, md);
	if ((r = kvjson_b64_encode(md, sizeof(md), &s)) != 0)
		return r;
	n = strcspn(s, "=");
	for (i = 0; i < n && i < 31; i++)
		out[i] = s[i] == '+' ? '-' : s[i] == '/' ? '_' : s[i];
	out[i] = '\0';
	free(s);
	return 0;
}

void
kvjson_time_rfc3339(long long t, char out[32])
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "%lld", t);
}

/* ---- reading replies ---- */

/* Optional string: absent or null -> NULL; else a string <= STR_MAX. */
static int
opt_str(const cJSON *obj, const char *key, const char *path, char **out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

	*out = NULL;
	if (it == NULL || cJSON_IsNull(it))
		return 0;
	if (!cJSON_IsString(it) || strlen(it->valuestring) > STR_MAX) {
		err_detail_set("%s.%s: not a string (or too long)", path, key);
		return AIRLOCK_E_FORMAT;
	}
	if ((*out = strdup(it->valuestring)) == NULL)
		return AIRLOCK_E_NOMEM;
	return 0;
}

static int
opt_int(const cJSON *obj, const char *key, const char *path, long long *out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

	*out = 0;
	if (it == NULL || cJSON_IsNull(it))
		return 0;
	return json_get_int(obj, key, path, 0, 253402300799LL, out);
}

int
kvjson_op_parse(const cJSON *j, struct kv_op **out)
{
	struct kv_op *op;
	const cJSON *it, *e;
	char *csr = NULL;
	int r = AIRLOCK_E_INTERNAL;

	*out = NULL;
	if (!cJSON_IsObject(j)) {
		err_detail_set("certificate operation: not an object");
		return AIRLOCK_E_FORMAT;
	}
	if ((op = calloc(1, sizeof(*op))) == NULL)
		return AIRLOCK_E_NOMEM;
	if ((r = opt_str(j, "status", "operation", &op->status)) != 0 ||
	    (r = opt_str(j, "request_id", "operation", &op->request_id)) != 0 ||
	    (r = opt_str(j, "target", "operation", &op->target)) != 0 ||
	    (r = opt_str(j, "csr", "operation", &csr)) != 0)
		goto out;
	if (op->status == NULL) {
		err_detail_set("certificate operation: no status");
		r = AIRLOCK_E_FORMAT;
		goto out;
	}
	it = cJSON_GetObjectItemCaseSensitive(j, "issuer");
	if (it != NULL && cJSON_IsObject(it) &&
	    (r = opt_str(it, "name", "operation.issuer", &op->issuer)) != 0)
		goto out;
	it = cJSON_GetObjectItemCaseSensitive(j, "cancellation_requested");
	if (it != NULL && !cJSON_IsNull(it)) {
		if (!cJSON_IsBool(it)) {
			err_detail_set("operation.cancellation_requested: "
				       "not a boolean");
			r = AIRLOCK_E_FORMAT;
			goto out;
		}
		op->cancellation_requested = cJSON_IsTrue(it);
	}
	e = cJSON_GetObjectItemCaseSensitive(j, "error");
	if (e != NULL && cJSON_IsObject(e) &&
	    ((r = opt_str(e, "code", "operation.error", &op->error_code)) !=
		 0 ||
	     (r = opt_str(e, "message", "operation.error",
			  &op->error_message)) != 0))
		goto out;
	if (csr != NULL) {
		if (strlen(csr) > CSR_MAX * 4 / 3 + 4) {
			err_detail_set("operation.csr: over %d bytes", CSR_MAX);
			r = AIRLOCK_E_TOO_LARGE;
			goto out;
		}
		if ((r = kvjson_b64_decode(csr, &op->csr, &op->csr_len)) != 0) {
			err_detail_set("operation.csr: not base64 DER");
			goto out;
		}
	}
	*out = op;
	op = NULL;
	r = 0;
out:
	free(csr);
	kvjson_op_free(op);
	return r;
}

void
kvjson_op_free(struct kv_op *op)
{
	if (op == NULL)
		return;
	free(op->status);
	free(op->issuer);
	free(op->request_id);
	free(op->target);
	free(op->error_code);
	free(op->error_message);
	free(op->csr);
	free(op);
}

/* ".../certificates/NAME[/VERSION]" */
static int
split_id(struct kv_cert *c)
{
	const char *p = strstr(c->id, "/certificates/"), *slash;

	if (p == NULL) {
		err_detail_set("certificate id '%.200s' has no /certificates/",
			       c->id);
		return AIRLOCK_E_FORMAT;
	}
	p += strlen("/certificates/");
	slash = strchr(p, '/');
	if ((c->name = strndup(p, slash ? (size_t)(slash - p) : strlen(p))) ==
	    NULL)
		return AIRLOCK_E_NOMEM;
	if (slash != NULL && slash[1] != '\0' &&
	    (c->version = strdup(slash + 1)) == NULL)
		return AIRLOCK_E_NOMEM;
	return 0;
}

int
kvjson_cert_parse(const cJSON *j, struct kv_cert **out)
{
	struct kv_cert *c;
	const cJSON *a, *en;
	char *cer = NULL;
	int r = AIRLOCK_E_INTERNAL;

	*out = NULL;
	if (!cJSON_IsObject(j)) {
		err_detail_set("certificate: not an object");
		return AIRLOCK_E_FORMAT;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return AIRLOCK_E_NOMEM;
	if ((r = opt_str(j, "id", "certificate", &c->id)) != 0 ||
	    (r = opt_str(j, "x5t", "certificate", &c->x5t)) != 0 ||
	    (r = opt_str(j, "cer", "certificate", &cer)) != 0)
		goto out;
	if (c->id == NULL) {
		err_detail_set("certificate: no id");
		r = AIRLOCK_E_FORMAT;
		goto out;
	}
	if ((r = split_id(c)) != 0)
		goto out;
	if (cer != NULL) {
		if (strlen(cer) > CER_MAX * 4 / 3 + 4) {
			r = AIRLOCK_E_TOO_LARGE;
			goto out;
		}
		if ((r = kvjson_b64_decode(cer, &c->cer, &c->cer_len)) != 0) {
			err_detail_set("certificate.cer: not base64 DER");
			goto out;
		}
	}
	a = cJSON_GetObjectItemCaseSensitive(j, "attributes");
	if (a != NULL && cJSON_IsObject(a)) {
		en = cJSON_GetObjectItemCaseSensitive(a, "enabled");
		c->enabled = en == NULL || cJSON_IsTrue(en);
		if ((r = opt_int(a, "nbf", "certificate.attributes",
				 &c->nbf)) != 0 ||
		    (r = opt_int(a, "exp", "certificate.attributes",
				 &c->exp)) != 0 ||
		    (r = opt_int(a, "created", "certificate.attributes",
				 &c->created)) != 0 ||
		    (r = opt_int(a, "updated", "certificate.attributes",
				 &c->updated)) != 0)
			goto out;
	}
	c->tags = cJSON_GetObjectItemCaseSensitive(j, "tags");
	if (c->tags != NULL && !cJSON_IsObject(c->tags))
		c->tags = NULL;
	*out = c;
	c = NULL;
	r = 0;
out:
	free(cer);
	kvjson_cert_free(c);
	return r;
}

void
kvjson_cert_free(struct kv_cert *c)
{
	if (c == NULL)
		return;
	free(c->id);
	free(c->name);
	free(c->version);
	free(c->x5t);
	free(c->cer);
	free(c);
}

/* ---- writing policies ---- */

static const struct {
	const char *name, *oid;
} ekus[] = {
    {"serverAuth", "1.3.6.1.5.5.7.3.1"},
    {"clientAuth", "1.3.6.1.5.5.7.3.2"},
    {"codeSigning", "1.3.6.1.5.5.7.3.3"},
    {"emailProtection", "1.3.6.1.5.5.7.3.4"},
    {"timeStamping", "1.3.6.1.5.5.7.3.8"},
    {"OCSPSigning", "1.3.6.1.5.5.7.3.9"},
};

static int
eku_oid(const char *in, const char **oid)
{
	size_t i;

	for (i = 0; i < sizeof(ekus) / sizeof(ekus[0]); i++)
		if (strcasecmp(in, ekus[i].name) == 0) {
			*oid = ekus[i].oid;
			return 0;
		}
	if (strspn(in, "0123456789.") == strlen(in) && in[0] >= '0' &&
	    in[0] <= '2' && strchr(in, '.') != NULL &&
	    strstr(in, "..") == NULL && strlen(in) < 100 &&
	    in[strlen(in) - 1] != '.') {
		*oid = in;
		return 0;
	}
	err_detail_set("--eku '%.64s': not an OID nor one of serverAuth, "
		       "clientAuth, codeSigning, emailProtection, "
		       "timeStamping, OCSPSigning",
		       in);
	return AIRLOCK_E_INVALID_ARG;
}

static int
add_tags(cJSON *body, const char **tags, size_t n)
{
	cJSON *t;
	const char *eq;
	char key[512];
	size_t i;

	if (n == 0)
		return 0;
	if (n > 15) {
		err_detail_set("Key Vault allows at most 15 tags");
		return AIRLOCK_E_INVALID_ARG;
	}
	t = cJSON_GetObjectItemCaseSensitive(body, "tags");
	if (t == NULL && (t = cJSON_AddObjectToObject(body, "tags")) == NULL)
		return AIRLOCK_E_NOMEM;
	if (!cJSON_IsObject(t)) {
		err_detail_set("tags: not an object");
		return AIRLOCK_E_FORMAT;
	}
	for (i = 0; i < n; i++) {
		if ((eq = strchr(tags[i], '=')) == NULL || eq == tags[i] ||
		    (size_t)(eq - tags[i]) >= sizeof(key) ||
		    strlen(eq + 1) > 256) {
			err_detail_set("--tag '%.64s': want KEY=VALUE",
				       tags[i]);
			return AIRLOCK_E_INVALID_ARG;
		}
		memcpy(key, tags[i], (size_t)(eq - tags[i]));
		key[eq - tags[i]] = '\0';
		cJSON_DeleteItemFromObjectCaseSensitive(t, key);
		if (cJSON_AddStringToObject(t, key, eq + 1) == NULL)
			return AIRLOCK_E_NOMEM;
	}
	return 0;
}

static int
str_array(cJSON *parent, const char *key, const char **v, size_t n)
{
	cJSON *a;
	size_t i;

	if ((a = cJSON_AddArrayToObject(parent, key)) == NULL)
		return AIRLOCK_E_NOMEM;
	for (i = 0; i < n; i++) {
		cJSON *s = cJSON_CreateString(v[i]);
		if (s == NULL || !cJSON_AddItemToArray(a, s))
			return AIRLOCK_E_NOMEM;
	}
	return 0;
}

int
kvjson_create_body_from_args(const struct kv_policy_args *a, cJSON **out)
{
	cJSON *body = NULL, *pol, *kp, *xp, *sans, *iss, *sp, *ku, *ek;
	const char *key = a->key != NULL ? a->key : "rsa:2048";
	const char *oid;
	int is_ec = 0, r = AIRLOCK_E_NOMEM;
	size_t i;

	*out = NULL;
	if (a->subject == NULL && a->n_dns == 0 && a->n_ip == 0) {
		err_detail_set("give --subject or at least one --dns/--ip (or "
			       "--policy FILE)");
		return AIRLOCK_E_INVALID_ARG;
	}
	if (a->validity_months < 0 || a->validity_months > 1200) {
		err_detail_set("--validity-months: 1..1200");
		return AIRLOCK_E_INVALID_ARG;
	}
	if ((body = cJSON_CreateObject()) == NULL ||
	    (pol = cJSON_AddObjectToObject(body, "policy")) == NULL ||
	    (kp = cJSON_AddObjectToObject(pol, "key_props")) == NULL)
		goto out;
	if (strcmp(key, "rsa:2048") == 0 || strcmp(key, "rsa:3072") == 0 ||
	    strcmp(key, "rsa:4096") == 0) {
		if (!cJSON_AddStringToObject(kp, "kty",
					     a->hsm ? "RSA-HSM" : "RSA") ||
		    !cJSON_AddNumberToObject(kp, "key_size",
					     strtol(key + 4, NULL, 10)))
			goto out;
	} else if (strcmp(key, "ec:p256") == 0 || strcmp(key, "ec:p384") == 0) {
		is_ec = 1;
		if (!cJSON_AddStringToObject(kp, "kty",
					     a->hsm ? "EC-HSM" : "EC") ||
		    !cJSON_AddStringToObject(
			kp, "crv",
			key[4] == 'p' && key[5] == '2' ? "P-256" : "P-384"))
			goto out;
	} else {
		err_detail_set("--key '%.32s': rsa:2048, rsa:3072, rsa:4096, "
			       "ec:p256 or ec:p384",
			       key);
		r = AIRLOCK_E_INVALID_ARG;
		goto out;
	}
	/* KEYVAULT.md: the service defaults to exportable; a CA's
	 * customers usually do not want that. */
	if (!cJSON_AddBoolToObject(kp, "exportable", a->exportable ? 1 : 0) ||
	    !cJSON_AddBoolToObject(kp, "reuse_key", 0))
		goto out;
	if ((sp = cJSON_AddObjectToObject(pol, "secret_props")) == NULL ||
	    !cJSON_AddStringToObject(sp, "contentType", "application/x-pkcs12"))
		goto out;
	if ((xp = cJSON_AddObjectToObject(pol, "x509_props")) == NULL)
		goto out;
	if (a->subject != NULL &&
	    !cJSON_AddStringToObject(xp, "subject", a->subject))
		goto out;
	if (a->n_dns > 0 || a->n_ip > 0) {
		if ((sans = cJSON_AddObjectToObject(xp, "sans")) == NULL)
			goto out;
		if (a->n_dns > 0 &&
		    (r = str_array(sans, "dns_names", a->dns, a->n_dns)) != 0)
			goto out;
		/* ipAddresses exist from api-version 2025-07-01 */
		if (a->n_ip > 0 &&
		    (r = str_array(sans, "ipAddresses", a->ip, a->n_ip)) != 0)
			goto out;
		r = AIRLOCK_E_NOMEM;
	}
	if (a->n_eku > 0) {
		if ((ek = cJSON_AddArrayToObject(xp, "ekus")) == NULL)
			goto out;
		for (i = 0; i < a->n_eku; i++) {
			if ((r = eku_oid(a->eku[i], &oid)) != 0)
				goto out;
			r = AIRLOCK_E_NOMEM;
			if (!cJSON_AddItemToArray(ek, cJSON_CreateString(oid)))
				goto out;
		}
	}
	if ((ku = cJSON_AddArrayToObject(xp, "key_usage")) == NULL ||
	    !cJSON_AddItemToArray(ku, cJSON_CreateString("digitalSignature")))
		goto out;
	if (!is_ec &&
	    !cJSON_AddItemToArray(ku, cJSON_CreateString("keyEncipherment")))
		goto out;
	if (a->validity_months > 0 &&
	    !cJSON_AddNumberToObject(xp, "validity_months",
				     (double)a->validity_months))
		goto out;
	if ((iss = cJSON_AddObjectToObject(pol, "issuer")) == NULL ||
	    !cJSON_AddStringToObject(iss, "name", "Unknown"))
		goto out;
	if ((r = add_tags(body, a->tags, a->n_tags)) != 0)
		goto out;
	*out = body;
	body = NULL;
	r = 0;
out:
	cJSON_Delete(body);
	return r;
}

static int
check_policy_keys(const cJSON *pol)
{
	static const char *const pk[] = {
	    "id",     "key_props",	  "secret_props", "x509_props",
	    "issuer", "lifetime_actions", "attributes",	  NULL};
	static const char *const kk[] = {"kty",	       "key_size",  "crv",
					 "exportable", "reuse_key", NULL};
	static const char *const sk[] = {"contentType", NULL};
	static const char *const xk[] = {
	    "subject", "sans", "ekus", "key_usage", "validity_months", NULL};
	static const char *const sank[] = {"dns_names", "emails",      "upns",
					   "uris",	"ipAddresses", NULL};
	static const char *const ik[] = {"name", "cert_transparency", "cty",
					 NULL};
	const cJSON *o;
	int r;

	if ((r = json_check_keys(pol, "policy", NULL, pk)) != 0)
		return r;
	if ((o = cJSON_GetObjectItemCaseSensitive(pol, "key_props")) != NULL &&
	    (r = json_check_keys(o, "policy.key_props", NULL, kk)) != 0)
		return r;
	if ((o = cJSON_GetObjectItemCaseSensitive(pol, "secret_props")) !=
		NULL &&
	    (r = json_check_keys(o, "policy.secret_props", NULL, sk)) != 0)
		return r;
	if ((o = cJSON_GetObjectItemCaseSensitive(pol, "x509_props")) != NULL) {
		if ((r = json_check_keys(o, "policy.x509_props", NULL, xk)) !=
		    0)
			return r;
		if ((o = cJSON_GetObjectItemCaseSensitive(o, "sans")) != NULL &&
		    (r = json_check_keys(o, "policy.x509_props.sans", NULL,
					 sank)) != 0)
			return r;
	}
	if ((o = cJSON_GetObjectItemCaseSensitive(pol, "issuer")) != NULL &&
	    (r = json_check_keys(o, "policy.issuer", NULL, ik)) != 0)
		return r;
	return 0;
}

int
kvjson_create_body_from_file(const unsigned char *buf, size_t len,
			     const char **tags, size_t n_tags, cJSON **out)
{
	static const char *const bk[] = {"policy", "tags", "attributes", NULL};
	cJSON *j = NULL, *body = NULL, *pol, *kp, *iss, *it;
	int r = AIRLOCK_E_INTERNAL;

	*out = NULL;
	if ((r = json_parse_strict(buf, len, JSON_MAX_DEPTH, &j)) != 0)
		goto out;
	if (!cJSON_IsObject(j)) {
		err_detail_set("policy file: not a JSON object");
		r = AIRLOCK_E_FORMAT;
		goto out;
	}
	if (cJSON_GetObjectItemCaseSensitive(j, "policy") != NULL) {
		if ((r = json_check_keys(j, "", NULL, bk)) != 0)
			goto out;
		body = j;
		j = NULL;
	} else {
		if ((body = cJSON_CreateObject()) == NULL) {
			r = AIRLOCK_E_NOMEM;
			goto out;
		}
		cJSON_AddItemToObject(body, "policy", j);
		j = NULL;
	}
	pol = cJSON_GetObjectItemCaseSensitive(body, "policy");
	if (!cJSON_IsObject(pol)) {
		err_detail_set("policy: not an object");
		r = AIRLOCK_E_FORMAT;
		goto out;
	}
	if ((r = check_policy_keys(pol)) != 0)
		goto out;
	r = AIRLOCK_E_NOMEM;
	if ((iss = cJSON_GetObjectItemCaseSensitive(pol, "issuer")) == NULL &&
	    (iss = cJSON_AddObjectToObject(pol, "issuer")) == NULL)
		goto out;
	it = cJSON_GetObjectItemCaseSensitive(iss, "name");
	if (it == NULL) {
		if (!cJSON_AddStringToObject(iss, "name", "Unknown"))
			goto out;
	} else if (!cJSON_IsString(it) ||
		   strcmp(it->valuestring, "Unknown") != 0) {
		err_detail_set("policy.issuer.name must be \"Unknown\" (this "
			       "CA signs the CSR)");
		r = AIRLOCK_E_POLICY;
		goto out;
	}
	if ((kp = cJSON_GetObjectItemCaseSensitive(pol, "key_props")) == NULL &&
	    (kp = cJSON_AddObjectToObject(pol, "key_props")) == NULL)
		goto out;
	it = cJSON_GetObjectItemCaseSensitive(kp, "exportable");
	if (it == NULL) {
		if (!cJSON_AddBoolToObject(kp, "exportable", 0))
			goto out;
	} else if (!cJSON_IsBool(it)) {
		err_detail_set("policy.key_props.exportable: not a boolean");
		r = AIRLOCK_E_FORMAT;
		goto out;
	}
	if ((r = add_tags(body, tags, n_tags)) != 0)
		goto out;
	*out = body;
	body = NULL;
	r = 0;
out:
	cJSON_Delete(j);
	cJSON_Delete(body);
	return r;
}

static int
item_equal(const cJSON *a, const cJSON *b)
{
	if (cJSON_IsString(a) && cJSON_IsString(b))
		return strcasecmp(a->valuestring, b->valuestring) == 0;
	return cJSON_Compare(a, b, 1);
}

/* REQ is a subset of ACT: objects key by key, arrays as equal sets. */
static int
covers(const cJSON *req, const cJSON *act)
{
	const cJSON *it, *o;
	int found;

	if (act == NULL)
		return 0;
	if (cJSON_IsObject(req)) {
		if (!cJSON_IsObject(act))
			return 0;
		cJSON_ArrayForEach (it, req) {
			o = cJSON_GetObjectItemCaseSensitive(act, it->string);
			if (!covers(it, o))
				return 0;
		}
		return 1;
	}
	if (cJSON_IsArray(req)) {
		if (!cJSON_IsArray(act) ||
		    cJSON_GetArraySize(req) != cJSON_GetArraySize(act))
			return 0;
		cJSON_ArrayForEach (it, req) {
			found = 0;
			cJSON_ArrayForEach (o, act)
				if (item_equal(it, o)) {
					found = 1;
					break;
				}
			if (!found)
				return 0;
		}
		return 1;
	}
	return item_equal(req, act);
}

int
kvjson_policy_covers(const cJSON *requested, const cJSON *actual)
{
	static const char *const parts[] = {"key_props", "x509_props", "issuer",
					    NULL};
	const cJSON *rq, *ac;
	size_t i;

	for (i = 0; parts[i] != NULL; i++) {
		rq = cJSON_GetObjectItemCaseSensitive(requested, parts[i]);
		ac = cJSON_GetObjectItemCaseSensitive(actual, parts[i]);
		if (rq == NULL)
			continue;
		if (!covers(rq, ac))
			return 0;
	}
	return 1;
}

/* An array of the strings in SRC[KEY] (non-strings dropped), or a copy of
 * DEFAULTS when SRC has none. */
static int
snap_strings(cJSON *dst, const char *dkey, const cJSON *src, const char *skey,
	     const char *const *defaults)
{
	const cJSON *it = src ? cJSON_GetObjectItemCaseSensitive(src, skey)
			      : NULL,
		    *e;
	cJSON *a;
	size_t i;

	if ((a = cJSON_AddArrayToObject(dst, dkey)) == NULL)
		return AIRLOCK_E_NOMEM;
	if (cJSON_IsArray(it)) {
		cJSON_ArrayForEach (e, it)
			if (cJSON_IsString(e)) {
				if (!cJSON_AddItemToArray(
					a, cJSON_CreateString(e->valuestring)))
					return AIRLOCK_E_NOMEM;
			}
		return 0;
	}
	for (i = 0; defaults != NULL && defaults[i] != NULL; i++)
		if (!cJSON_AddItemToArray(a, cJSON_CreateString(defaults[i])))
			return AIRLOCK_E_NOMEM;
	return 0;
}

static const char *
snap_str(const cJSON *o, const char *k, const char *def)
{
	const cJSON *it = o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;

	return cJSON_IsString(it) ? it->valuestring : def;
}

static int
snap_bool(const cJSON *o, const char *k, int def)
{
	const cJSON *it = o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;

	return cJSON_IsBool(it) ? cJSON_IsTrue(it) : def;
}

static double
snap_int(const cJSON *o, const char *k, double def)
{
	const cJSON *it = o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;

	return cJSON_IsNumber(it) && json_number_is_integer(it)
		   ? it->valuedouble
		   : def;
}

/* docs/airlock-bundle.5, "Policy snapshot"; omitted fields get Key Vault's
 * service defaults (KEYVAULT.md), so the station sees what Key Vault will
 * do. */
int
kvjson_policy_snapshot(const cJSON *policy, cJSON **out)
{
	static const char *const def_eku[] = {"1.3.6.1.5.5.7.3.1",
					      "1.3.6.1.5.5.7.3.2", NULL};
	static const char *const def_ku_rsa[] = {"digitalSignature",
						 "keyEncipherment", NULL};
	static const char *const def_ku_ec[] = {"digitalSignature", NULL};
	const cJSON *kp, *xp, *sans;
	const char *kty;
	int is_ec, r = AIRLOCK_E_NOMEM;
	cJSON *s;

	*out = NULL;
	if ((s = cJSON_CreateObject()) == NULL)
		return AIRLOCK_E_NOMEM;
	kp = cJSON_GetObjectItemCaseSensitive(policy, "key_props");
	xp = cJSON_GetObjectItemCaseSensitive(policy, "x509_props");
	sans = xp != NULL ? cJSON_GetObjectItemCaseSensitive(xp, "sans") : NULL;
	kty = snap_str(kp, "kty", "RSA");
	is_ec = strncmp(kty, "EC", 2) == 0;
	if (!cJSON_AddStringToObject(s, "subject", snap_str(xp, "subject", "")))
		goto out;
	if ((r = snap_strings(s, "dns_names", sans, "dns_names", NULL)) != 0 ||
	    (r = snap_strings(s, "ip_addresses", sans, "ipAddresses", NULL)) !=
		0 ||
	    (r = snap_strings(s, "ekus", xp, "ekus", def_eku)) != 0 ||
	    (r = snap_strings(s, "key_usage", xp, "key_usage",
			      is_ec ? def_ku_ec : def_ku_rsa)) != 0)
		goto out;
	r = AIRLOCK_E_NOMEM;
	if (!cJSON_AddNumberToObject(s, "validity_months",
				     snap_int(xp, "validity_months", 12)) ||
	    !cJSON_AddStringToObject(s, "key_type", kty))
		goto out;
	if (!is_ec && !cJSON_AddNumberToObject(s, "key_size",
					       snap_int(kp, "key_size", 2048)))
		goto out;
	if (is_ec &&
	    !cJSON_AddStringToObject(s, "curve", snap_str(kp, "crv", "P-256")))
		goto out;
	if (!cJSON_AddBoolToObject(s, "exportable",
				   snap_bool(kp, "exportable", 1)) ||
	    !cJSON_AddBoolToObject(s, "reuse_key",
				   snap_bool(kp, "reuse_key", 0)))
		goto out;
	*out = s;
	s = NULL;
	r = 0;
out:
	cJSON_Delete(s);
	return r;
}
