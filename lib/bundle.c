#include "lib/bundle.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/cms.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "lib/err.h"
#include "lib/json.h"
#include "lib/safefile.h"
#include "lib/term.h"

#define BUNDLE_ID_LEN  32
#define SHA256_HEX_LEN 64
#define PRODUCER_MAX   200
#define WHERE_SIZE     160
#define LABEL_SIZE     256

/* One listed file: an entry's, or a merge bundle's extra file. Borrowed
 * strings point into the parsed manifest. Kept small: a bundle may list
 * 200,000 of them. */
struct bundle_item {
	const cJSON *meta;
	const char *file;
	const char *id_or_role; /* entry id, or file role */
	const char *sha256;	/* 64 lowercase hex, from the manifest */
	size_t size;
	unsigned char *data; /* the verified copy */
	size_t len;
};

struct bundle {
	unsigned char *manifest;
	size_t manifest_len;
	unsigned char *sig; /* NULL if unsigned */
	size_t sig_len;
	cJSON *root;
	const char *kind, *id, *created, *producer, *request_bundle_id;
	struct bundle_item *items; /* entries, then files */
	size_t n_entries, n_files;
	unsigned long long total; /* declared bytes, for the 2 GiB cap */
};

/* ---- details ---- */

static void detail_prefix(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* Put "PREFIX: " before the current detail. */
static void
detail_prefix(const char *fmt, ...)
{
	char old[2048], pre[512];
	va_list ap;

	snprintf(old, sizeof(old), "%s", err_detail_get());
	va_start(ap, fmt);
	vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	err_detail_set("%s: %s", pre, old);
}

static int bad(const char *path, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "PATH.KEY: message" (PATH may be NULL); AIRLOCK_E_FORMAT. */
static int
bad(const char *path, const char *key, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err_detail_set("%s%s%s: %s", path ? path : "", path ? "." : "", key,
		       msg);
	return AIRLOCK_E_FORMAT;
}

/* Drain the OpenSSL error queue into one short text. */
static const char *
ossl_why(char *buf, size_t len)
{
	unsigned long e, last = 0;

	while ((e = ERR_get_error()) != 0)
		last = e;
	if (last == 0)
		snprintf(buf, len, "no OpenSSL error recorded");
	else
		ERR_error_string_n(last, buf, len);
	return buf;
}

/* ---- field checks ---- */

enum charset {
	CS_NAME,      /* [a-z0-9._-]: file names, labels, profiles */
	CS_ID,	      /* [a-z0-9-]: entry ids */
	CS_CERTNAME,  /* [0-9A-Za-z-]: Key Vault certificate names */
	CS_HEX,	      /* [0-9a-f] */
	CS_PRINTABLE, /* ASCII 0x21..0x7e */
};

static const char *const charset_text[] = {"[a-z0-9._-]", "[a-z0-9-]",
					   "[0-9A-Za-z-]", "[0-9a-f]",
					   "printable ASCII without spaces"};

static int
charset_has(enum charset cs, unsigned char c)
{
	int lower = c >= 'a' && c <= 'z', digit = c >= '0' && c <= '9';

	switch (cs) {
	case CS_NAME:
		return lower || digit || c == '.' || c == '_' || c == '-';
	case CS_ID:
		return lower || digit || c == '-';
	case CS_CERTNAME:
		return lower || digit || c == '-' || (c >= 'A' && c <= 'Z');
	case CS_HEX:
		return digit || (c >= 'a' && c <= 'f');
	case CS_PRINTABLE:
		return c >= 0x21 && c <= 0x7e;
	}
	return 0;
}

/* OBJ[KEY]: a string of MIN..MAX characters from CS. */
static int
get_token(const cJSON *obj, const char *key, const char *path, enum charset cs,
	  size_t min, size_t max, const char **out)
{
	const char *s;
	size_t n;
	int r;

	*out = NULL;
	if ((r = json_get_str(obj, key, path, 4096, &s)) != 0)
		return r;
	for (n = 0; s[n] != '\0'; n++)
		if (!charset_has(cs, (unsigned char)s[n]))
			break;
	if (s[n] != '\0' || n < min || n > max) {
		if (min == max)
			err_detail_set("%s.%s: must be exactly %zu characters "
				       "from %s",
				       path, key, min, charset_text[cs]);
		else
			err_detail_set("%s.%s: must be %zu to %zu characters "
				       "from %s",
				       path, key, min, max, charset_text[cs]);
		return AIRLOCK_E_FORMAT;
	}
	*out = s;
	return 0;
}

/* OBJ[KEY]: free text of at most MAX bytes without control characters. */
static int
get_text(const cJSON *obj, const char *key, const char *path, size_t max,
	 const char **out)
{
	const unsigned char *p;
	int r;

	if ((r = json_get_str(obj, key, path, max, out)) != 0)
		return r;
	for (p = (const unsigned char *)*out; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			err_detail_set("%s.%s: control character 0x%02x", path,
				       key, *p);
			*out = NULL;
			return AIRLOCK_E_FORMAT;
		}
	}
	return 0;
}

/* OBJ[KEY] must equal one of LIST (NULL-terminated). */
static int
get_enum(const cJSON *obj, const char *key, const char *path,
	 const char *const *list, const char *shown, const char **out)
{
	size_t k;
	int r;

	*out = NULL;
	if ((r = json_get_str(obj, key, path, 64, out)) != 0)
		return r;
	for (k = 0; list[k] != NULL; k++)
		if (strcmp(*out, list[k]) == 0)
			return 0;
	*out = NULL;
	err_detail_set("%s.%s: must be one of %s", path, key, shown);
	return AIRLOCK_E_FORMAT;
}

static int
two_digits(const char *s, int *v)
{
	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
		return -1;
	*v = (s[0] - '0') * 10 + (s[1] - '0');
	return 0;
}

/* RFC 3339 section 5.6 restricted to UTC without fractions:
 * YYYY-MM-DDTHH:MM:SSZ, with a real calendar date. */
static int
rfc3339_ok(const char *s)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31};
	int yh, yl, y, mo, d, h, mi, se, dim;

	if (strlen(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
	    s[13] != ':' || s[16] != ':' || s[19] != 'Z')
		return 0;
	if (two_digits(s, &yh) || two_digits(s + 2, &yl) ||
	    two_digits(s + 5, &mo) || two_digits(s + 8, &d) ||
	    two_digits(s + 11, &h) || two_digits(s + 14, &mi) ||
	    two_digits(s + 17, &se))
		return 0;
	y = yh * 100 + yl;
	if (mo < 1 || mo > 12 || h > 23 || mi > 59 || se > 59)
		return 0;
	dim = mdays[mo - 1];
	if (mo == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		dim = 29;
	return d >= 1 && d <= dim;
}

/* https://HOST[:PORT], HOST lowercase LDH labels, no path. */
static int
vault_url_ok(const char *s)
{
	const char *h, *p;
	size_t label = 0, hostlen;
	unsigned long port = 0;

	if (strncmp(s, "https://", 8) != 0)
		return 0;
	h = s + 8;
	for (p = h; *p != '\0' && *p != ':'; p++) {
		if (*p == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if (charset_has(CS_ID, (unsigned char)*p)) {
			if (++label > 63)
				return 0;
		} else {
			return 0;
		}
	}
	hostlen = (size_t)(p - h);
	if (label == 0 || hostlen > 253)
		return 0;
	if (*p == ':') {
		if (p[1] == '\0' || p[1] == '0' || strlen(p + 1) > 5)
			return 0;
		for (p++; *p != '\0'; p++) {
			if (*p < '0' || *p > '9')
				return 0;
			port = port * 10 + (unsigned long)(*p - '0');
		}
		if (port > 65535)
			return 0;
	}
	return 1;
}

/* Dotted-decimal OID: first arc 0..2, at least two arcs, no leading
 * zeros, arcs of at most 9 digits (no absurd arcs). */
static int
oid_ok(const char *s)
{
	size_t arcs = 0, digits = 0;
	const char *p;

	if (s[0] < '0' || s[0] > '2' || s[1] != '.')
		return 0;
	for (p = s;; p++) {
		if (*p >= '0' && *p <= '9') {
			if (digits == 1 && p[-1] == '0')
				return 0;
			if (++digits > 9)
				return 0;
		} else if (*p == '.' || *p == '\0') {
			if (digits == 0)
				return 0;
			arcs++;
			digits = 0;
			if (*p == '\0')
				break;
		} else {
			return 0;
		}
	}
	return arcs >= 2 && arcs <= 32;
}

static int
array_of_strings(const cJSON *obj, const char *key, const char *path,
		 size_t max_items, size_t max_len, int (*ok)(const char *),
		 const char *what)
{
	const cJSON *arr, *c;
	size_t i = 0;
	int r;

	if ((r = json_get_array(obj, key, path, max_items, &arr, NULL)) != 0)
		return r;
	cJSON_ArrayForEach (c, arr) {
		char item[64];
		size_t n;

		snprintf(item, sizeof(item), "%s[%zu]", key, i);
		if (!cJSON_IsString(c))
			return bad(path, item, "must be a string");
		if ((n = strlen(c->valuestring)) == 0 || n > max_len)
			return bad(path, item, "must be 1 to %zu bytes",
				   max_len);
		if (ok != NULL && !ok(c->valuestring))
			return bad(path, item, "must be %s", what);
		i++;
	}
	return 0;
}

static int
key_usage_ok(const char *s)
{
	/* Key Vault's x509_props.key_usage names (RFC 5280 4.2.1.3). */
	static const char *const names[] = {
	    "digitalSignature", "nonRepudiation",
	    "keyEncipherment",	"dataEncipherment",
	    "keyAgreement",	"keyCertSign",
	    "cRLSign",		"encipherOnly",
	    "decipherOnly",	NULL};
	size_t k;

	for (k = 0; names[k] != NULL; k++)
		if (strcmp(s, names[k]) == 0)
			return 1;
	return 0;
}

/* The Key Vault policy snapshot. Per-request content (names, subject) is
 * the station's to judge, request by request; here only its shape, so that
 * one odd request never rejects a whole bundle. */
static int
check_policy(const cJSON *pol, const char *path)
{
	static const char *const req[] = {"subject",	  "dns_names",
					  "ip_addresses", "ekus",
					  "key_usage",	  "validity_months",
					  "key_type",	  "exportable",
					  "reuse_key",	  NULL};
	static const char *const opt[] = {"key_size", "curve", NULL};
	static const char *const kty[] = {"RSA", "RSA-HSM", "EC", "EC-HSM",
					  NULL};
	static const char *const crv[] = {"P-256", "P-384", "P-521", NULL};
	const char *s;
	long long v;
	int b, r;

	if ((r = json_check_keys(pol, path, req, opt)) != 0)
		return r;
	if ((r = json_get_str(pol, "subject", path, 1024, &s)) != 0 ||
	    (r = array_of_strings(pol, "dns_names", path, 256, 253, NULL,
				  NULL)) != 0 ||
	    (r = array_of_strings(pol, "ip_addresses", path, 256, 45, NULL,
				  NULL)) != 0 ||
	    (r = array_of_strings(pol, "ekus", path, 32, 128, oid_ok,
				  "a dotted-decimal OID")) != 0 ||
	    (r = array_of_strings(
		 pol, "key_usage", path, 9, 32, key_usage_ok,
		 "a Key Vault key usage name "
		 "(digitalSignature, keyEncipherment, ...)")) != 0 ||
	    (r = json_get_int(pol, "validity_months", path, 1, 1200, &v)) !=
		0 ||
	    (r = get_enum(pol, "key_type", path, kty,
			  "RSA, RSA-HSM, EC, EC-HSM", &s)) != 0 ||
	    (r = json_get_bool(pol, "exportable", path, &b)) != 0 ||
	    (r = json_get_bool(pol, "reuse_key", path, &b)) != 0)
		return r;
	if (cJSON_GetObjectItemCaseSensitive(pol, "key_size") != NULL &&
	    (r = json_get_int(pol, "key_size", path, 256, 16384, &v)) != 0)
		return r;
	if (cJSON_GetObjectItemCaseSensitive(pol, "curve") != NULL &&
	    (r = get_enum(pol, "curve", path, crv, "P-256, P-384, P-521",
			  &s)) != 0)
		return r;
	return 0;
}

static int
check_source(const cJSON *entry, const char *path)
{
	static const char *const kv_keys[] = {
	    "type",	  "vault_url", "certificate_name",
	    "request_id", "policy",    NULL};
	static const char *const csr_keys[] = {"type", "label", NULL};
	static const char *const types[] = {"keyvault", "csr", NULL};
	const cJSON *src, *pol;
	char where[WHERE_SIZE];
	const char *s, *type;
	int r;

	if (snprintf(where, sizeof(where), "%s.source", path) >=
	    (int)sizeof(where))
		return AIRLOCK_E_INTERNAL;
	if ((r = json_get_object(entry, "source", path, &src)) != 0 ||
	    (r = get_enum(src, "type", where, types, "keyvault, csr", &type)) !=
		0)
		return r;
	if (strcmp(type, "csr") == 0) {
		if ((r = json_check_keys(src, where, csr_keys, NULL)) != 0 ||
		    (r = get_token(src, "label", where, CS_NAME, 1,
				   SAFEFILE_NAME_MAX, &s)) != 0)
			return r;
		return 0;
	}
	if ((r = json_check_keys(src, where, kv_keys, NULL)) != 0 ||
	    (r = json_get_str(src, "vault_url", where, 300, &s)) != 0)
		return r;
	if (!vault_url_ok(s))
		return bad(where, "vault_url",
			   "must be https://HOST[:PORT] with a "
			   "lowercase host name and no path");
	if ((r = get_token(src, "certificate_name", where, CS_CERTNAME, 1, 127,
			   &s)) != 0 ||
	    (r = get_token(src, "request_id", where, CS_PRINTABLE, 1, 128,
			   &s)) != 0 ||
	    (r = json_get_object(src, "policy", where, &pol)) != 0)
		return r;
	if (snprintf(where, sizeof(where), "%s.source.policy", path) >=
	    (int)sizeof(where))
		return AIRLOCK_E_INTERNAL;
	return check_policy(pol, where);
}

/* "file", "size", "sha256" shared by entries and extra files; the name's
 * characters are checked later, after the case-folding duplicate check. */
static int
check_file_fields(const cJSON *obj, const char *path, size_t cap,
		  const char *capname, struct bundle_item *it)
{
	long long size;
	int r;

	it->meta = obj;
	if ((r = json_get_str(obj, "file", path, 255, &it->file)) != 0 ||
	    (r = json_get_int(obj, "size", path, 0, JSON_INT_EXACT_MAX,
			      &size)) != 0 ||
	    (r = get_token(obj, "sha256", path, CS_HEX, SHA256_HEX_LEN,
			   SHA256_HEX_LEN, &it->sha256)) != 0)
		return r;
	if ((unsigned long long)size > cap)
		return bad(path, "size", "%lld bytes, over the %s cap of %zu",
			   size, capname, cap);
	it->size = (size_t)size;
	return 0;
}

static int
check_entry(const cJSON *e, const char *kind, size_t i, struct bundle_item *it)
{
	static const char *const req_keys[] = {"id",	 "file",   "size",
					       "sha256", "source", NULL};
	static const char *const req_opt[] = {"profile", NULL};
	static const char *const merge_keys[] = {
	    "id",     "request_id", "file",    "size", "sha256",
	    "source", "serial",	    "profile", NULL};
	char where[WHERE_SIZE];
	const char *s;
	int merge = strcmp(kind, BUNDLE_KIND_MERGE) == 0, r;

	snprintf(where, sizeof(where), "entries[%zu]", i);
	if ((r = json_check_keys(e, where, merge ? merge_keys : req_keys,
				 merge ? NULL : req_opt)) != 0 ||
	    (r = get_token(e, "id", where, CS_ID, 1, 64, &it->id_or_role)) !=
		0 ||
	    (r = check_file_fields(e, where,
				   merge ? BUNDLE_CHAIN_MAX : BUNDLE_CSR_MAX,
				   merge ? "chain" : "CSR", it)) != 0 ||
	    (r = check_source(e, where)) != 0)
		return r;
	if (cJSON_GetObjectItemCaseSensitive(e, "profile") != NULL &&
	    (r = get_token(e, "profile", where, CS_NAME, 1, 64, &s)) != 0)
		return r;
	if (merge &&
	    ((r = get_token(e, "request_id", where, CS_ID, 1, 64, &s)) != 0 ||
	     (r = get_token(e, "serial", where, CS_HEX, 1, 40, &s)) != 0))
		return r;
	return 0;
}

static int
check_extra_file(const cJSON *f, size_t i, struct bundle_item *it)
{
	static const char *const keys[] = {"role", "file", "size", "sha256",
					   NULL};
	static const char *const roles[] = {
	    BUNDLE_ROLE_CRL, BUNDLE_ROLE_CA_CERT, BUNDLE_ROLE_LEDGER,
	    BUNDLE_ROLE_CHECKPOINT, NULL};
	static const size_t caps[] = {BUNDLE_CRL_MAX, BUNDLE_CA_CERT_MAX,
				      BUNDLE_LEDGER_MAX, BUNDLE_CHECKPOINT_MAX};
	char where[WHERE_SIZE];
	size_t k;
	int r;

	snprintf(where, sizeof(where), "files[%zu]", i);
	if ((r = json_check_keys(f, where, keys, NULL)) != 0 ||
	    (r = get_enum(f, "role", where, roles,
			  "crl, ca_cert, ledger, checkpoint",
			  &it->id_or_role)) != 0)
		return r;
	for (k = 0; strcmp(roles[k], it->id_or_role) != 0; k++)
		;
	return check_file_fields(f, where, caps[k], roles[k], it);
}

/* Where item I is, for messages. */
static void
item_where(const struct bundle *b, size_t i, char *out, size_t len)
{
	if (i < b->n_entries)
		snprintf(out, len, "entries[%zu]", i);
	else
		snprintf(out, len, "files[%zu]", i - b->n_entries);
}

static int
fold_cmp(const char *a, const char *b)
{
	unsigned char ca, cb;

	do {
		ca = (unsigned char)*a++;
		cb = (unsigned char)*b++;
		if (ca >= 'A' && ca <= 'Z')
			ca = (unsigned char)(ca - 'A' + 'a');
		if (cb >= 'A' && cb <= 'Z')
			cb = (unsigned char)(cb - 'A' + 'a');
	} while (ca == cb && ca != '\0');
	return (int)ca - (int)cb;
}

static int
item_file_cmp(const void *a, const void *b)
{
	const struct bundle_item *x = *(const struct bundle_item *const *)a;
	const struct bundle_item *y = *(const struct bundle_item *const *)b;

	return fold_cmp(x->file, y->file);
}

static int
item_id_cmp(const void *a, const void *b)
{
	const struct bundle_item *x = *(const struct bundle_item *const *)a;
	const struct bundle_item *y = *(const struct bundle_item *const *)b;

	return strcmp(x->id_or_role, y->id_or_role);
}

static int
item_reqid_cmp(const void *a, const void *b)
{
	const struct bundle_item *x = *(const struct bundle_item *const *)a;
	const struct bundle_item *y = *(const struct bundle_item *const *)b;

	return strcmp(cJSON_GetObjectItemCaseSensitive(x->meta, "request_id")
			  ->valuestring,
		      cJSON_GetObjectItemCaseSensitive(y->meta, "request_id")
			  ->valuestring);
}

/* Sort pointers to N items with CMP; report the first equal pair. */
static int
unique_check(struct bundle *b, struct bundle_item **v, size_t n,
	     int (*cmp)(const void *, const void *), const char *what)
{
	char w1[64], w2[64], sn[96];
	size_t k;

	qsort(v, n, sizeof(*v), cmp);
	for (k = 1; k < n; k++) {
		if (cmp(&v[k - 1], &v[k]) != 0)
			continue;
		item_where(b, (size_t)(v[k - 1] - b->items), w1, sizeof(w1));
		item_where(b, (size_t)(v[k] - b->items), w2, sizeof(w2));
		if (strcmp(what, "file") == 0)
			term_sanitize(v[k]->file, sn, sizeof(sn));
		else if (strcmp(what, "id") == 0)
			term_sanitize(v[k]->id_or_role, sn, sizeof(sn));
		else
			snprintf(sn, sizeof(sn), "%s",
				 cJSON_GetObjectItemCaseSensitive(v[k]->meta,
								  "request_id")
				     ->valuestring);
		err_detail_set("%s.%s and %s.%s: both are \"%s\"%s", w1, what,
			       w2, what, sn,
			       strcmp(what, "file") == 0
				   ? " (file names must differ after case "
				     "folding)"
				   : "");
		return AIRLOCK_E_FORMAT;
	}
	return 0;
}

/* Names unique after ASCII case folding, then each name's characters, then
 * entry ids (and a merge bundle's request ids) unique. SORTED gets the
 * items sorted by file name, for the directory listing check. */
static int
names_check(struct bundle *b, struct bundle_item ***sorted)
{
	struct bundle_item **v = NULL;
	size_t n = b->n_entries + b->n_files, k;
	char where[WHERE_SIZE], sn[96];
	int r = AIRLOCK_E_INTERNAL;

	*sorted = NULL;
	if ((v = calloc(n ? n : 1, sizeof(*v))) == NULL)
		return AIRLOCK_E_NOMEM;
	for (k = 0; k < n; k++)
		v[k] = &b->items[k];
	if ((r = unique_check(b, v, n, item_file_cmp, "file")) != 0)
		goto out;
	for (k = 0; k < n; k++) {
		const char *f = b->items[k].file;

		item_where(b, k, where, sizeof(where));
		if (!safefile_name_ok(f)) {
			r = bad(where, "file",
				"\"%s\" is not an allowed name "
				"([a-z0-9._-]{1,64}, not starting with '.')",
				term_sanitize(f, sn, sizeof(sn)));
			goto out;
		}
		if (strcmp(f, BUNDLE_MANIFEST) == 0 ||
		    strcmp(f, BUNDLE_MANIFEST_SIG) == 0) {
			r = bad(where, "file", "\"%s\" is reserved", f);
			goto out;
		}
	}
	*sorted = v;
	v = NULL;
	/* ids: sort a second array of the entries only */
	if ((v = calloc(b->n_entries ? b->n_entries : 1, sizeof(*v))) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	for (k = 0; k < b->n_entries; k++)
		v[k] = &b->items[k];
	if ((r = unique_check(b, v, b->n_entries, item_id_cmp, "id")) != 0)
		goto out;
	if (strcmp(b->kind, BUNDLE_KIND_MERGE) == 0 &&
	    (r = unique_check(b, v, b->n_entries, item_reqid_cmp,
			      "request_id")) != 0)
		goto out;
	r = 0;
out:
	free(v);
	if (r != 0) {
		free(*sorted);
		*sorted = NULL;
	}
	return r;
}

/* The whole manifest schema (docs/airlock-bundle.5). Fills B's top-level
 * pointers and items (without data). */
static int
manifest_check(struct bundle *b, struct bundle_item ***sorted)
{
	static const char *const req_keys[] = {
	    "format",  "version",  "kind",    "bundle_id",
	    "created", "producer", "entries", NULL};
	static const char *const merge_keys[] = {
	    "format",  "version",  "kind",    "bundle_id",
	    "created", "producer", "entries", "request_bundle_id",
	    "files",   NULL};
	static const char *const merge_only[] = {"request_bundle_id", "files",
						 NULL};
	static const char *const kinds[] = {BUNDLE_KIND_REQUEST,
					    BUNDLE_KIND_MERGE, NULL};
	const cJSON *root = b->root, *entries, *files = NULL, *c;
	const char *s;
	long long version;
	size_t n_entries, n_files = 0, i;
	int r;

	*sorted = NULL;
	if (!cJSON_IsObject(root))
		return bad(NULL, "manifest", "must be a JSON object");
	if ((r = json_get_str(root, "format", "manifest", 64, &s)) != 0)
		return r;
	if (strcmp(s, BUNDLE_FORMAT) != 0)
		return bad(NULL, "format", "must be \"%s\"", BUNDLE_FORMAT);
	if ((r = json_get_int(root, "version", "manifest", 1, 1000000,
			      &version)) != 0)
		return r;
	if (version != BUNDLE_VERSION)
		return bad(NULL, "version",
			   "%lld is not supported; this airlock reads "
			   "version %d (a newer airlock wrote this bundle?)",
			   version, BUNDLE_VERSION);
	if ((r = get_enum(root, "kind", "manifest", kinds, "request, merge",
			  &b->kind)) != 0)
		return r;
	if (strcmp(b->kind, BUNDLE_KIND_REQUEST) == 0) {
		for (i = 0; merge_only[i] != NULL; i++)
			if (cJSON_GetObjectItemCaseSensitive(
				root, merge_only[i]) != NULL)
				return bad("manifest", merge_only[i],
					   "only a merge bundle has this key, "
					   "but kind is request");
	}
	if ((r = json_check_keys(root, "manifest",
				 strcmp(b->kind, BUNDLE_KIND_MERGE) == 0
				     ? merge_keys
				     : req_keys,
				 NULL)) != 0) {
		if (strcmp(b->kind, BUNDLE_KIND_MERGE) == 0)
			detail_prefix("kind is merge");
		return r;
	}
	if ((r = get_token(root, "bundle_id", "manifest", CS_HEX, BUNDLE_ID_LEN,
			   BUNDLE_ID_LEN, &b->id)) != 0 ||
	    (r = json_get_str(root, "created", "manifest", 32, &b->created)) !=
		0)
		return r;
	if (!rfc3339_ok(b->created))
		return bad(NULL, "created",
			   "must be an RFC 3339 UTC time "
			   "YYYY-MM-DDTHH:MM:SSZ");
	if ((r = get_text(root, "producer", "manifest", PRODUCER_MAX,
			  &b->producer)) != 0 ||
	    (r = json_get_array(root, "entries", "manifest", BUNDLE_ENTRIES_MAX,
				&entries, &n_entries)) != 0)
		return r;
	if (strcmp(b->kind, BUNDLE_KIND_MERGE) == 0 &&
	    ((r = get_token(root, "request_bundle_id", "manifest", CS_HEX,
			    BUNDLE_ID_LEN, BUNDLE_ID_LEN,
			    &b->request_bundle_id)) != 0 ||
	     (r = json_get_array(root, "files", "manifest", BUNDLE_FILES_MAX,
				 &files, &n_files)) != 0))
		return r;
	b->items = calloc(n_entries + n_files ? n_entries + n_files : 1,
			  sizeof(*b->items));
	if (b->items == NULL)
		return AIRLOCK_E_NOMEM;
	b->n_entries = n_entries;
	b->n_files = n_files;
	b->total = b->manifest_len;
	i = 0;
	cJSON_ArrayForEach (c, entries) {
		if ((r = check_entry(c, b->kind, i, &b->items[i])) != 0)
			return r;
		b->total += b->items[i++].size;
	}
	i = 0;
	cJSON_ArrayForEach (c, files) {
		if ((r = check_extra_file(c, i, &b->items[n_entries + i])) != 0)
			return r;
		b->total += b->items[n_entries + i++].size;
	}
	if (b->total > BUNDLE_TOTAL_MAX) {
		err_detail_set("bundle lists %llu bytes, over the cap of %llu",
			       b->total, (unsigned long long)BUNDLE_TOTAL_MAX);
		return AIRLOCK_E_TOO_LARGE;
	}
	return names_check(b, sorted);
}

/* ---- reading ---- */

static int
hex_nibble(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c - 'a' + 10;
}

static int
sha256_matches(const unsigned char *data, size_t len, const char *hex)
{
	unsigned char md[32], want[32];
	unsigned int mdlen = 0;
	size_t k;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != sizeof(md))
		return -1;
	for (k = 0; k < sizeof(want); k++)
		want[k] = (unsigned char)(hex_nibble(hex[2 * k]) << 4 |
					  hex_nibble(hex[2 * k + 1]));
	return CRYPTO_memcmp(md, want, sizeof(md)) == 0;
}

static int
sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN + 1])
{
	static const char hx[] = "0123456789abcdef";
	unsigned char md[32];
	unsigned int mdlen = 0;
	size_t k;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != sizeof(md)) {
		err_detail_set("SHA-256 failed");
		return AIRLOCK_E_CRYPTO;
	}
	for (k = 0; k < sizeof(md); k++) {
		out[2 * k] = hx[md[k] >> 4];
		out[2 * k + 1] = hx[md[k] & 15];
	}
	out[SHA256_HEX_LEN] = '\0';
	return 0;
}

static int
sorted_find(struct bundle_item **sorted, size_t n, const char *name)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = fold_cmp(name, sorted[mid]->file);

		if (c == 0)
			return strcmp(name, sorted[mid]->file) == 0;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}

/* Nothing in the directory that the manifest does not list, except
 * manifest.json, manifest.json.sig and names starting with '.'. */
static int
listing_check(int dfd, struct bundle *b, struct bundle_item **sorted)
{
	struct dirent *de;
	char sn[96];
	DIR *d = NULL;
	int fd, r = AIRLOCK_E_INTERNAL;

	/* DFD is O_PATH (not listable): open the directory itself. */
	if ((fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		err_detail_set("cannot list the directory: %s",
			       strerror(errno));
		return AIRLOCK_E_IO;
	}
	if ((d = fdopendir(fd)) == NULL) {
		err_detail_set("cannot list the directory: %s",
			       strerror(errno));
		close(fd);
		return AIRLOCK_E_IO;
	}
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL)
			break;
		if (de->d_name[0] == '.' ||
		    strcmp(de->d_name, BUNDLE_MANIFEST) == 0 ||
		    strcmp(de->d_name, BUNDLE_MANIFEST_SIG) == 0)
			continue;
		if (!sorted_find(sorted, b->n_entries + b->n_files,
				 de->d_name)) {
			err_detail_set(
			    "\"%s\" is not listed in %s; a bundle "
			    "holds only the files its manifest "
			    "lists (no extra files, no "
			    "subdirectories)",
			    term_sanitize(de->d_name, sn, sizeof(sn)),
			    BUNDLE_MANIFEST);
			r = AIRLOCK_E_FORMAT;
			goto out;
		}
	}
	if (errno != 0) {
		err_detail_set("cannot list the directory: %s",
			       strerror(errno));
		r = AIRLOCK_E_IO;
		goto out;
	}
	r = 0;
out:
	closedir(d);
	return r;
}

static int
item_read(int dfd, const struct bundle *b, size_t i, struct bundle_item *it)
{
	char where[WHERE_SIZE];
	int r;

	item_where(b, i, where, sizeof(where));
	r = safefile_read_beneath(dfd, it->file, it->size, &it->data, &it->len);
	if (r == AIRLOCK_E_TOO_LARGE) {
		err_detail_set("%s.size: %s is larger than the %zu bytes the "
			       "manifest lists",
			       where, it->file, it->size);
		return AIRLOCK_E_FORMAT;
	}
	if (r != 0) {
		detail_prefix("%s.file", where);
		return r;
	}
	if (it->len != it->size) {
		err_detail_set("%s.size: the manifest lists %zu bytes, %s has "
			       "%zu",
			       where, it->size, it->file, it->len);
		return AIRLOCK_E_FORMAT;
	}
	if ((r = sha256_matches(it->data, it->len, it->sha256)) != 1) {
		if (r < 0) {
			err_detail_set("SHA-256 failed");
			return AIRLOCK_E_CRYPTO;
		}
		err_detail_set("%s.sha256: %s does not match its SHA-256 in "
			       "the manifest (changed or corrupted)",
			       where, it->file);
		return AIRLOCK_E_FORMAT;
	}
	return 0;
}

/* Read and verify the bundle in DFD; LABEL names it in messages. */
static int
bundle_read_fd(int dfd, const char *label, struct bundle **out)
{
	struct bundle *b = NULL;
	struct bundle_item **sorted = NULL;
	size_t i;
	int r = AIRLOCK_E_INTERNAL;

	*out = NULL;
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return AIRLOCK_E_NOMEM;
	if ((r = safefile_read_beneath(dfd, BUNDLE_MANIFEST,
				       BUNDLE_MANIFEST_MAX, &b->manifest,
				       &b->manifest_len)) != 0) {
		detail_prefix("%s", label);
		goto out;
	}
	if ((r = json_parse_strict(b->manifest, b->manifest_len, JSON_MAX_DEPTH,
				   &b->root)) != 0 ||
	    (r = manifest_check(b, &sorted)) != 0) {
		detail_prefix("%s: %s", label, BUNDLE_MANIFEST);
		goto out;
	}
	r = safefile_read_beneath(dfd, BUNDLE_MANIFEST_SIG, BUNDLE_SIG_MAX,
				  &b->sig, &b->sig_len);
	if (r == AIRLOCK_E_NOT_FOUND) {
		err_detail_clear();
	} else if (r != 0) {
		detail_prefix("%s", label);
		goto out;
	}
	if ((r = listing_check(dfd, b, sorted)) != 0) {
		detail_prefix("%s", label);
		goto out;
	}
	for (i = 0; i < b->n_entries + b->n_files; i++) {
		if ((r = item_read(dfd, b, i, &b->items[i])) != 0) {
			detail_prefix("%s", label);
			goto out;
		}
	}
	*out = b;
	b = NULL;
	r = 0;
out:
	free(sorted);
	bundle_free(b);
	return r;
}

/* A ".NAME.tmp-..." (or any dot-name) last component: a bundle being
 * written, or left by an interrupted write. "." and ".." are fine. */
static int
path_is_temp(const char *dir)
{
	size_t n = strlen(dir);
	const char *base;

	while (n > 1 && dir[n - 1] == '/')
		n--;
	base = dir + n;
	while (base > dir && base[-1] != '/')
		base--;
	if (base[0] != '.')
		return 0;
	if (n - (size_t)(base - dir) == 1)
		return 0;
	if (n - (size_t)(base - dir) == 2 && base[1] == '.')
		return 0;
	return 1;
}

int
bundle_read(const char *dir, struct bundle **out)
{
	char label[LABEL_SIZE];
	int dfd = -1, r;

	*out = NULL;
	term_sanitize(dir != NULL ? dir : "(null)", label, sizeof(label));
	if (dir == NULL)
		return AIRLOCK_E_INVALID_ARG;
	if (path_is_temp(dir)) {
		err_detail_set("%s: a temporary name (a bundle still being "
			       "written, or left by an interrupted write); "
			       "not read",
			       label);
		return AIRLOCK_E_FORMAT;
	}
	if ((r = safefile_dir_open(dir, &dfd)) != 0)
		return r;
	r = bundle_read_fd(dfd, label, out);
	close(dfd);
	return r;
}

void
bundle_free(struct bundle *b)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; b->items != NULL && i < b->n_entries + b->n_files; i++)
		free(b->items[i].data);
	free(b->items);
	cJSON_Delete(b->root);
	free(b->manifest);
	free(b->sig);
	free(b);
}

const char *
bundle_kind(const struct bundle *b)
{
	return b->kind;
}

const char *
bundle_id(const struct bundle *b)
{
	return b->id;
}

const char *
bundle_created(const struct bundle *b)
{
	return b->created;
}

const char *
bundle_producer(const struct bundle *b)
{
	return b->producer;
}

const char *
bundle_request_bundle_id(const struct bundle *b)
{
	return b->request_bundle_id;
}

const cJSON *
bundle_manifest_json(const struct bundle *b)
{
	return b->root;
}

const unsigned char *
bundle_manifest_bytes(const struct bundle *b, size_t *len)
{
	*len = b->manifest_len;
	return b->manifest;
}

size_t
bundle_entry_count(const struct bundle *b)
{
	return b->n_entries;
}

const cJSON *
bundle_entry_meta(const struct bundle *b, size_t i)
{
	return i < b->n_entries ? b->items[i].meta : NULL;
}

const char *
bundle_entry_id(const struct bundle *b, size_t i)
{
	return i < b->n_entries ? b->items[i].id_or_role : NULL;
}

int
bundle_entry_data(const struct bundle *b, size_t i, const unsigned char **data,
		  size_t *len)
{
	*data = NULL;
	*len = 0;
	if (i >= b->n_entries) {
		err_detail_set("entry %zu of %zu", i, b->n_entries);
		return AIRLOCK_E_NOT_FOUND;
	}
	*data = b->items[i].data;
	*len = b->items[i].len;
	return 0;
}

size_t
bundle_file_count(const struct bundle *b, const char *role)
{
	size_t i, n = 0;

	for (i = 0; i < b->n_files; i++)
		if (strcmp(b->items[b->n_entries + i].id_or_role, role) == 0)
			n++;
	return n;
}

int
bundle_file_data(const struct bundle *b, const char *role, size_t idx,
		 const unsigned char **data, size_t *len, const char **name)
{
	size_t i;

	*data = NULL;
	*len = 0;
	if (name != NULL)
		*name = NULL;
	for (i = 0; i < b->n_files; i++) {
		const struct bundle_item *it = &b->items[b->n_entries + i];

		if (strcmp(it->id_or_role, role) != 0 || idx-- > 0)
			continue;
		*data = it->data;
		*len = it->len;
		if (name != NULL)
			*name = it->file;
		return 0;
	}
	err_detail_set("bundle %s has no %s file number %zu", b->id, role, idx);
	return AIRLOCK_E_NOT_FOUND;
}

/* ---- signature ---- */

/* Parse SIG (strict DER, nothing after it) as a detached SignedData over
 * id-data with one signer using SHA-256 or stronger, and check the
 * signature over MANIFEST. The signer's certificate is found among the
 * signature's own certificates and UNTRUSTED; it is not chain-verified
 * here. */
static int
sig_check(const unsigned char *sig, size_t sig_len,
	  const unsigned char *manifest, size_t manifest_len,
	  STACK_OF(X509) * untrusted, CMS_ContentInfo **cms_out)
{
	CMS_ContentInfo *cms = NULL;
	CMS_SignerInfo *si;
	X509_ALGOR *dig = NULL;
	BIO *content = NULL;
	const unsigned char *p = sig;
	char why[256];
	int nid, r = AIRLOCK_E_INTERNAL;

	*cms_out = NULL;
	if (sig_len > BUNDLE_SIG_MAX ||
	    (cms = d2i_CMS_ContentInfo(NULL, &p, (long)sig_len)) == NULL) {
		err_detail_set("%s: not a DER CMS structure (%s)",
			       BUNDLE_MANIFEST_SIG, ossl_why(why, sizeof(why)));
		r = AIRLOCK_E_POLICY;
		goto out;
	}
	if (p != sig + sig_len) {
		err_detail_set("%s: %zu bytes of trailing data after the DER",
			       BUNDLE_MANIFEST_SIG,
			       sig_len - (size_t)(p - sig));
		r = AIRLOCK_E_POLICY;
		goto out;
	}
	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed ||
	    OBJ_obj2nid(CMS_get0_eContentType(cms)) != NID_pkcs7_data ||
	    CMS_is_detached(cms) != 1 ||
	    sk_CMS_SignerInfo_num(CMS_get0_SignerInfos(cms)) != 1) {
		err_detail_set("%s: must be a detached SignedData over id-data "
			       "with exactly one signer",
			       BUNDLE_MANIFEST_SIG);
		r = AIRLOCK_E_POLICY;
		goto out;
	}
	si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0);
	CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, NULL);
	nid = dig != NULL ? OBJ_obj2nid(dig->algorithm) : NID_undef;
	if (nid != NID_sha256 && nid != NID_sha384 && nid != NID_sha512) {
		err_detail_set("%s: digest %s is not allowed (SHA-256, SHA-384 "
			       "or SHA-512)",
			       BUNDLE_MANIFEST_SIG,
			       nid == NID_undef ? "?" : OBJ_nid2sn(nid));
		r = AIRLOCK_E_POLICY;
		goto out;
	}
	if ((content = BIO_new_mem_buf(manifest, (int)manifest_len)) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	/* The chain is verified by the caller with its own context, so that
	 * the purpose is ours (not S/MIME's) and the EKU can be checked. */
	if (CMS_verify(cms, untrusted, NULL, content, NULL,
		       CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY) != 1) {
		err_detail_set("%s: the signature does not verify over %s "
			       "(manifest changed after signing, or not signed "
			       "by the certificate it names): %s",
			       BUNDLE_MANIFEST_SIG, BUNDLE_MANIFEST,
			       ossl_why(why, sizeof(why)));
		r = AIRLOCK_E_POLICY;
		goto out;
	}
	*cms_out = cms;
	cms = NULL;
	r = 0;
out:
	BIO_free(content);
	CMS_ContentInfo_free(cms);
	return r;
}

static int
signer_eku_check(X509 *signer)
{
	EXTENDED_KEY_USAGE *eku = NULL;
	ASN1_OBJECT *want = NULL;
	int k, found = 0;

	if ((want = OBJ_txt2obj(AIRLOCK_BUNDLE_EKU_OID, 1)) == NULL)
		return AIRLOCK_E_NOMEM;
	eku = X509_get_ext_d2i(signer, NID_ext_key_usage, NULL, NULL);
	for (k = 0; eku != NULL && k < sk_ASN1_OBJECT_num(eku); k++)
		if (OBJ_cmp(sk_ASN1_OBJECT_value(eku, k), want) == 0)
			found = 1;
	EXTENDED_KEY_USAGE_free(eku);
	ASN1_OBJECT_free(want);
	if (!found) {
		err_detail_set("the signer certificate lacks the airlock "
			       "bundle-signing extended key usage %s: it is "
			       "not the station's bundle key",
			       AIRLOCK_BUNDLE_EKU_OID);
		return AIRLOCK_E_POLICY;
	}
	if (!(X509_get_extension_flags(signer) & EXFLAG_KUSAGE) ||
	    !(X509_get_key_usage(signer) & KU_DIGITAL_SIGNATURE)) {
		err_detail_set("the signer certificate lacks key usage "
			       "digitalSignature");
		return AIRLOCK_E_POLICY;
	}
	if (X509_check_ca(signer) != 0) {
		err_detail_set("the signer certificate is a CA certificate; "
			       "bundles are signed by the station's bundle "
			       "key, never by a CA key");
		return AIRLOCK_E_POLICY;
	}
	return 0;
}

int
bundle_verify_signature(const struct bundle *b, X509_STORE *trusted,
			STACK_OF(X509) * untrusted, X509 **signer_out)
{
	CMS_ContentInfo *cms = NULL;
	STACK_OF(X509) *signers = NULL, *pool = NULL, *embedded = NULL;
	X509_STORE_CTX *ctx = NULL;
	X509 *signer;
	char label[64];
	int k, r = AIRLOCK_E_INTERNAL;

	if (signer_out != NULL)
		*signer_out = NULL;
	snprintf(label, sizeof(label), "bundle %s", b->id);
	if (b->sig == NULL) {
		err_detail_set("%s: %s is missing; a %s bundle must be signed "
			       "by the station",
			       label, BUNDLE_MANIFEST_SIG, b->kind);
		return AIRLOCK_E_POLICY;
	}
	if (trusted == NULL) {
		err_detail_set("%s: no pinned root to verify against", label);
		return AIRLOCK_E_INVALID_ARG;
	}
	if ((r = sig_check(b->sig, b->sig_len, b->manifest, b->manifest_len,
			   untrusted, &cms)) != 0)
		goto out;
	signers = CMS_get0_signers(cms);
	if (signers == NULL || sk_X509_num(signers) != 1) {
		err_detail_set("%s: no signer certificate",
			       BUNDLE_MANIFEST_SIG);
		r = AIRLOCK_E_POLICY;
		goto out;
	}
	signer = sk_X509_value(signers, 0);
	if ((pool = sk_X509_new_null()) == NULL ||
	    (embedded = CMS_get1_certs(cms)) == NULL ||
	    (ctx = X509_STORE_CTX_new()) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	for (k = 0; untrusted != NULL && k < sk_X509_num(untrusted); k++)
		if (!sk_X509_push(pool, sk_X509_value(untrusted, k))) {
			r = AIRLOCK_E_NOMEM;
			goto out;
		}
	for (k = 0; k < sk_X509_num(embedded); k++)
		if (!sk_X509_push(pool, sk_X509_value(embedded, k))) {
			r = AIRLOCK_E_NOMEM;
			goto out;
		}
	if (X509_STORE_CTX_init(ctx, trusted, signer, pool) != 1 ||
	    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_ANY) != 1) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	if (X509_verify_cert(ctx) != 1) {
		err_detail_set("the signer certificate does not chain to the "
			       "pinned root: %s (a bundle from another "
			       "station, or the wrong --trust root?)",
			       X509_verify_cert_error_string(
				   X509_STORE_CTX_get_error(ctx)));
		r = AIRLOCK_E_POLICY;
		goto out;
	}
	if ((r = signer_eku_check(signer)) != 0)
		goto out;
	if (signer_out != NULL) {
		if (!X509_up_ref(signer)) {
			r = AIRLOCK_E_NOMEM;
			goto out;
		}
		*signer_out = signer;
	}
	r = 0;
out:
	if (r != 0 && r != AIRLOCK_E_NOMEM)
		detail_prefix("%s", label);
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	sk_X509_free(pool);
	sk_X509_pop_free(embedded, X509_free);
	sk_X509_free(signers);
	CMS_ContentInfo_free(cms);
	return r;
}

/* ---- writing ---- */

struct bundle_wfile {
	char *name;
	unsigned char *data;
	size_t len;
};

struct bundle_writer {
	char kind[8];
	char *producer;
	char request_bundle_id[BUNDLE_ID_LEN + 1];
	time_t created;
	int have_created;
	int committed;
	cJSON *entries, *files;
	struct bundle_wfile *wf;
	size_t n_wf, cap_wf;
	size_t n_entries;
};

int
bundle_writer_new(const char *kind, const char *producer,
		  struct bundle_writer **out)
{
	struct bundle_writer *w = NULL;
	const unsigned char *p;
	int r = AIRLOCK_E_INTERNAL;

	*out = NULL;
	if (kind == NULL || (strcmp(kind, BUNDLE_KIND_REQUEST) != 0 &&
			     strcmp(kind, BUNDLE_KIND_MERGE) != 0)) {
		err_detail_set("bundle kind must be request or merge");
		return AIRLOCK_E_INVALID_ARG;
	}
	if (producer == NULL || strlen(producer) > PRODUCER_MAX) {
		err_detail_set("producer must be at most %d bytes",
			       PRODUCER_MAX);
		return AIRLOCK_E_INVALID_ARG;
	}
	for (p = (const unsigned char *)producer; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			err_detail_set("producer has a control character");
			return AIRLOCK_E_INVALID_ARG;
		}
	}
	if ((w = calloc(1, sizeof(*w))) == NULL ||
	    (w->producer = strdup(producer)) == NULL ||
	    (w->entries = cJSON_CreateArray()) == NULL ||
	    (w->files = cJSON_CreateArray()) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	snprintf(w->kind, sizeof(w->kind), "%s", kind);
	*out = w;
	w = NULL;
	r = 0;
out:
	bundle_writer_free(w);
	return r;
}

void
bundle_writer_free(struct bundle_writer *w)
{
	size_t i;

	if (w == NULL)
		return;
	for (i = 0; i < w->n_wf; i++) {
		free(w->wf[i].name);
		free(w->wf[i].data);
	}
	free(w->wf);
	cJSON_Delete(w->entries);
	cJSON_Delete(w->files);
	free(w->producer);
	free(w);
}

int
bundle_writer_set_request_bundle_id(struct bundle_writer *w, const char *id)
{
	size_t k;

	for (k = 0; id != NULL && id[k] != '\0'; k++)
		if (!charset_has(CS_HEX, (unsigned char)id[k]))
			break;
	if (id == NULL || id[k] != '\0' || k != BUNDLE_ID_LEN) {
		err_detail_set("request bundle id must be %d lowercase hex "
			       "digits",
			       BUNDLE_ID_LEN);
		return AIRLOCK_E_INVALID_ARG;
	}
	memcpy(w->request_bundle_id, id, BUNDLE_ID_LEN + 1);
	return 0;
}

void
bundle_writer_set_created(struct bundle_writer *w, time_t t)
{
	w->created = t;
	w->have_created = 1;
}

/* Copy DATA under FILE, and fill OBJ's file, size and sha256. */
static int
writer_file_add(struct bundle_writer *w, cJSON *obj, const char *file,
		const void *data, size_t len)
{
	char hex[SHA256_HEX_LEN + 1], sn[96];
	struct bundle_wfile *f;
	int r;

	if (w->committed) {
		err_detail_set("bundle writer already committed");
		return AIRLOCK_E_INVALID_ARG;
	}
	if (!safefile_name_ok(file) || strcmp(file, BUNDLE_MANIFEST) == 0 ||
	    strcmp(file, BUNDLE_MANIFEST_SIG) == 0) {
		err_detail_set(
		    "\"%s\": not an allowed bundle file name "
		    "([a-z0-9._-]{1,64}, not starting with '.', "
		    "not manifest.json*)",
		    term_sanitize(file ? file : "(null)", sn, sizeof(sn)));
		return AIRLOCK_E_INVALID_ARG;
	}
	if (cJSON_GetObjectItemCaseSensitive(obj, "file") != NULL ||
	    cJSON_GetObjectItemCaseSensitive(obj, "size") != NULL ||
	    cJSON_GetObjectItemCaseSensitive(obj, "sha256") != NULL) {
		err_detail_set("%s: file, size and sha256 are filled in by the "
			       "writer",
			       file);
		return AIRLOCK_E_INVALID_ARG;
	}
	if (len > BUNDLE_LEDGER_MAX) {
		err_detail_set("%s: %zu bytes, over every bundle cap", file,
			       len);
		return AIRLOCK_E_TOO_LARGE;
	}
	if ((r = sha256_hex(data, len, hex)) != 0)
		return r;
	if (w->n_wf == w->cap_wf) {
		size_t ncap = w->cap_wf ? w->cap_wf * 2 : 16;

		f = realloc(w->wf, ncap * sizeof(*f));
		if (f == NULL)
			return AIRLOCK_E_NOMEM;
		w->wf = f;
		w->cap_wf = ncap;
	}
	f = &w->wf[w->n_wf];
	memset(f, 0, sizeof(*f));
	if ((f->name = strdup(file)) == NULL ||
	    (f->data = malloc(len ? len : 1)) == NULL ||
	    cJSON_AddStringToObject(obj, "file", file) == NULL ||
	    cJSON_AddNumberToObject(obj, "size", (double)len) == NULL ||
	    cJSON_AddStringToObject(obj, "sha256", hex) == NULL) {
		free(f->name);
		free(f->data);
		return AIRLOCK_E_NOMEM;
	}
	if (len > 0)
		memcpy(f->data, data, len);
	f->len = len;
	w->n_wf++;
	return 0;
}

int
bundle_writer_add_entry(struct bundle_writer *w, cJSON *meta, const char *file,
			const void *data, size_t len)
{
	int r;

	if (!cJSON_IsObject(meta)) {
		cJSON_Delete(meta);
		err_detail_set("entry metadata must be a JSON object");
		return AIRLOCK_E_INVALID_ARG;
	}
	if (w->n_entries >= BUNDLE_ENTRIES_MAX) {
		cJSON_Delete(meta);
		err_detail_set("a bundle holds at most %u entries",
			       BUNDLE_ENTRIES_MAX);
		return AIRLOCK_E_TOO_LARGE;
	}
	/* Entries' files come before extra files, as in the manifest. */
	if (cJSON_GetArraySize(w->files) > 0) {
		cJSON_Delete(meta);
		err_detail_set("add entries before extra files");
		return AIRLOCK_E_INVALID_ARG;
	}
	if ((r = writer_file_add(w, meta, file, data, len)) != 0) {
		cJSON_Delete(meta);
		return r;
	}
	cJSON_AddItemToArray(w->entries, meta);
	w->n_entries++;
	return 0;
}

int
bundle_writer_add_file(struct bundle_writer *w, const char *role,
		       const char *file, const void *data, size_t len)
{
	cJSON *obj;
	int r;

	if (strcmp(w->kind, BUNDLE_KIND_MERGE) != 0) {
		err_detail_set("only merge bundles carry extra files");
		return AIRLOCK_E_INVALID_ARG;
	}
	if ((obj = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(obj, "role", role) == NULL) {
		cJSON_Delete(obj);
		return AIRLOCK_E_NOMEM;
	}
	if ((r = writer_file_add(w, obj, file, data, len)) != 0) {
		cJSON_Delete(obj);
		return r;
	}
	cJSON_AddItemToArray(w->files, obj);
	return 0;
}

/* The manifest text: keys in the documented order, one line, newline. */
static int
manifest_build(struct bundle_writer *w, const char *id, char **text,
	       size_t *len)
{
	cJSON *root = NULL;
	struct tm tm;
	char created[32], *s = NULL;
	time_t t = w->have_created ? w->created : time(NULL);
	int r = AIRLOCK_E_INTERNAL;

	*text = NULL;
	*len = 0;
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm) ==
		0) {
		err_detail_set("cannot format the creation time");
		return AIRLOCK_E_INTERNAL;
	}
	if (strcmp(w->kind, BUNDLE_KIND_MERGE) == 0 &&
	    w->request_bundle_id[0] == '\0') {
		err_detail_set("a merge bundle needs the request bundle id "
			       "(bundle_writer_set_request_bundle_id)");
		return AIRLOCK_E_INVALID_ARG;
	}
	if ((root = cJSON_CreateObject()) == NULL ||
	    !cJSON_AddStringToObject(root, "format", BUNDLE_FORMAT) ||
	    !cJSON_AddNumberToObject(root, "version", BUNDLE_VERSION) ||
	    !cJSON_AddStringToObject(root, "kind", w->kind) ||
	    !cJSON_AddStringToObject(root, "bundle_id", id) ||
	    !cJSON_AddStringToObject(root, "created", created) ||
	    !cJSON_AddStringToObject(root, "producer", w->producer) ||
	    (strcmp(w->kind, BUNDLE_KIND_MERGE) == 0 &&
	     !cJSON_AddStringToObject(root, "request_bundle_id",
				      w->request_bundle_id))) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	/* Borrow the arrays for printing; detached again below. */
	cJSON_AddItemReferenceToObject(root, "entries", w->entries);
	if (strcmp(w->kind, BUNDLE_KIND_MERGE) == 0)
		cJSON_AddItemReferenceToObject(root, "files", w->files);
	if ((s = cJSON_PrintUnformatted(root)) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	*len = strlen(s);
	if ((*text = realloc(s, *len + 2)) == NULL) {
		free(s);
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	(*text)[(*len)++] = '\n';
	(*text)[*len] = '\0';
	r = 0;
out:
	cJSON_Delete(root); /* references: the arrays stay with W */
	return r;
}

/* Detached CMS SignedData over MANIFEST: SHA-256, signed attributes,
 * no S/MIME capabilities, signer and CHAIN certificates included. KEY may
 * be a token key; the result is checked before it is used. */
static int
manifest_sign(const unsigned char *manifest, size_t len, EVP_PKEY *key,
	      X509 *cert, STACK_OF(X509) * chain, unsigned char **sig,
	      size_t *sig_len)
{
	const unsigned flags =
	    CMS_DETACHED | CMS_BINARY | CMS_NOSMIMECAP | CMS_PARTIAL;
	CMS_ContentInfo *cms = NULL, *check = NULL;
	BIO *in = NULL;
	unsigned char *der = NULL;
	char why[256];
	int k, j, n, dup, r = AIRLOCK_E_INTERNAL;

	*sig = NULL;
	*sig_len = 0;
	if (cert == NULL) {
		err_detail_set("signing a bundle needs the signer certificate");
		return AIRLOCK_E_INVALID_ARG;
	}
	if ((in = BIO_new_mem_buf(manifest, (int)len)) == NULL ||
	    (cms = CMS_sign(NULL, NULL, NULL, NULL, flags)) == NULL ||
	    CMS_add1_signer(cms, cert, key, EVP_sha256(), flags) == NULL) {
		err_detail_set("CMS signer setup failed: %s",
			       ossl_why(why, sizeof(why)));
		r = AIRLOCK_E_CRYPTO;
		goto out;
	}
	for (k = 0; chain != NULL && k < sk_X509_num(chain); k++) {
		X509 *x = sk_X509_value(chain, k);

		dup = X509_cmp(x, cert) == 0;
		for (j = 0; j < k && !dup; j++)
			dup = X509_cmp(x, sk_X509_value(chain, j)) == 0;
		if (!dup && CMS_add1_cert(cms, x) != 1) {
			err_detail_set("CMS: cannot add a chain certificate: "
				       "%s",
				       ossl_why(why, sizeof(why)));
			r = AIRLOCK_E_CRYPTO;
			goto out;
		}
	}
	if (CMS_final(cms, in, NULL, flags) != 1 ||
	    (n = i2d_CMS_ContentInfo(cms, &der)) <= 0) {
		err_detail_set("CMS signing failed (token error?): %s",
			       ossl_why(why, sizeof(why)));
		r = AIRLOCK_E_CRYPTO;
		goto out;
	}
	/* Check what was produced, as from the stick: a token that returns
	 * a bad signature must not produce a bundle. */
	if ((r = sig_check(der, (size_t)n, manifest, len, NULL, &check)) != 0) {
		detail_prefix("the new signature does not verify");
		r = AIRLOCK_E_CRYPTO;
		goto out;
	}
	*sig = der;
	*sig_len = (size_t)n;
	der = NULL;
	r = 0;
out:
	ERR_clear_error();
	OPENSSL_free(der);
	CMS_ContentInfo_free(check);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	return r;
}

/* Remove the temporary bundle directory and whatever was written in it. */
static void
temp_remove(int pfd, int tfd, const char *tmp, const struct bundle_writer *w)
{
	size_t i;

	if (tfd != -1) {
		for (i = 0; i < w->n_wf; i++)
			(void)unlinkat(tfd, w->wf[i].name, 0);
		(void)unlinkat(tfd, BUNDLE_MANIFEST_SIG, 0);
		(void)unlinkat(tfd, BUNDLE_MANIFEST, 0);
	}
	(void)unlinkat(pfd, tmp, AT_REMOVEDIR);
}

/* Every file, then the signature, then the manifest, each fsynced; then the
 * directory. */
static int
temp_fill(int tfd, const struct bundle_writer *w, const char *manifest,
	  size_t mlen, const unsigned char *sig, size_t sig_len)
{
	size_t i;
	int r;

	for (i = 0; i < w->n_wf; i++)
		if ((r = safefile_write_new(tfd, w->wf[i].name, w->wf[i].data,
					    w->wf[i].len, 0644)) != 0)
			return r;
	if (sig != NULL && (r = safefile_write_new(tfd, BUNDLE_MANIFEST_SIG,
						   sig, sig_len, 0644)) != 0)
		return r;
	if ((r = safefile_write_new(tfd, BUNDLE_MANIFEST, manifest, mlen,
				    0644)) != 0)
		return r;
	return safefile_fsync_dir(tfd);
}

/* Read the new bundle back from the medium and compare it with what was
 * meant to be written: the reader re-hashes every file. */
static int
read_back(int pfd, const char *name, const char *label, const char *manifest,
	  size_t mlen, const unsigned char *sig, size_t sig_len)
{
	struct bundle *b = NULL;
	int dfd, r;

	dfd = openat(pfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd == -1) {
		err_detail_set("%s: cannot open: %s", label, strerror(errno));
		return AIRLOCK_E_IO;
	}
	r = bundle_read_fd(dfd, label, &b);
	close(dfd);
	if (r == 0 &&
	    (b->manifest_len != mlen ||
	     CRYPTO_memcmp(b->manifest, manifest, mlen) != 0 ||
	     (sig != NULL) != (b->sig != NULL) ||
	     (sig != NULL && (b->sig_len != sig_len ||
			      CRYPTO_memcmp(b->sig, sig, sig_len) != 0)))) {
		err_detail_set("%s: manifest or signature differs from what "
			       "was written",
			       label);
		r = AIRLOCK_E_IO;
	}
	bundle_free(b);
	return r;
}

int
bundle_writer_commit(struct bundle_writer *w, const char *parent,
		     const char *name, EVP_PKEY *key, X509 *cert,
		     STACK_OF(X509) * chain, char **bundle_id_out)
{
	static const char hx[] = "0123456789abcdef";
	struct bundle *check = NULL;
	struct bundle_item **sorted = NULL;
	unsigned char rnd[16], *sig = NULL;
	char id[BUNDLE_ID_LEN + 1], tmp[SAFEFILE_TEMPNAME_SIZE];
	char label[LABEL_SIZE], *manifest = NULL;
	struct stat st;
	size_t mlen = 0, sig_len = 0, k;
	int pfd = -1, tfd = -1, have_tmp = 0, r = AIRLOCK_E_INTERNAL, tries;

	if (bundle_id_out != NULL)
		*bundle_id_out = NULL;
	if (w->committed) {
		err_detail_set("bundle writer already committed");
		return AIRLOCK_E_INVALID_ARG;
	}
	if (!safefile_name_ok(name)) {
		err_detail_set("bundle name \"%s\" is not allowed "
			       "([a-z0-9._-]{1,64}, not starting with '.')",
			       term_sanitize(name ? name : "(null)", label,
					     sizeof(label)));
		return AIRLOCK_E_INVALID_ARG;
	}
	snprintf(label, sizeof(label), "%s", name);
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		err_detail_set("RAND_bytes failed for the bundle id");
		return AIRLOCK_E_CRYPTO;
	}
	for (k = 0; k < sizeof(rnd); k++) {
		id[2 * k] = hx[rnd[k] >> 4];
		id[2 * k + 1] = hx[rnd[k] & 15];
	}
	id[BUNDLE_ID_LEN] = '\0';
	if ((r = manifest_build(w, id, &manifest, &mlen)) != 0)
		goto out;
	/* The reader's schema, before anything touches the medium. */
	if ((check = calloc(1, sizeof(*check))) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	check->manifest_len = mlen;
	if ((r = json_parse_strict((const unsigned char *)manifest, mlen,
				   JSON_MAX_DEPTH, &check->root)) != 0 ||
	    (r = manifest_check(check, &sorted)) != 0) {
		detail_prefix("the bundle would not be readable");
		goto out;
	}
	/* Only the verdict is needed: free the second tree before writing. */
	free(sorted);
	sorted = NULL;
	bundle_free(check);
	check = NULL;
	if (key != NULL &&
	    (r = manifest_sign((const unsigned char *)manifest, mlen, key, cert,
			       chain, &sig, &sig_len)) != 0)
		goto out;
	if ((r = safefile_dir_open(parent, &pfd)) != 0)
		goto out;
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		err_detail_set("%s: already exists; not replaced", label);
		r = AIRLOCK_E_EXISTS;
		goto out;
	}
	for (tries = 0;; tries++) {
		if ((r = safefile_tempname_make(name, tmp, sizeof(tmp))) != 0)
			goto out;
		if (mkdirat(pfd, tmp, 0755) == 0)
			break;
		if (errno != EEXIST || tries == 15) {
			err_detail_set("%s: cannot create the temporary "
				       "directory: %s%s",
				       label, strerror(errno),
				       errno == ENOSPC ? " (the medium is full)"
						       : "");
			r = AIRLOCK_E_IO;
			goto out;
		}
	}
	have_tmp = 1;
	tfd = openat(pfd, tmp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (tfd == -1) {
		err_detail_set("%s: cannot open the temporary directory: %s",
			       label, strerror(errno));
		r = AIRLOCK_E_IO;
		goto out;
	}
	if ((r = temp_fill(tfd, w, manifest, mlen, sig, sig_len)) != 0) {
		detail_prefix("%s: nothing was written under %s", label, label);
		goto out;
	}
	if ((r = safefile_rename(pfd, tmp, name, 0)) != 0)
		goto out;
	have_tmp = 0;
	w->committed = 1;
	if ((r = safefile_fsync_dir(pfd)) != 0) {
		detail_prefix("%s: written, but not known to be durable",
			      label);
		goto out;
	}
	if ((r = read_back(pfd, name, label, manifest, mlen, sig, sig_len)) !=
	    0) {
		detail_prefix("read-back after writing failed (the medium may "
			      "be faulty; remove %s and write again)",
			      label);
		r = AIRLOCK_E_IO;
		goto out;
	}
	if (bundle_id_out != NULL && (*bundle_id_out = strdup(id)) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	r = 0;
out:
	if (have_tmp)
		temp_remove(pfd, tfd, tmp, w);
	if (tfd != -1)
		close(tfd);
	if (pfd != -1)
		close(pfd);
	free(sorted);
	bundle_free(check);
	OPENSSL_free(sig);
	free(manifest);
	return r;
}
