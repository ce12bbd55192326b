#include "station/profile.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <fnmatch.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/err.h"

#define PROFILE_MAX_LIST 64

struct ip_range {
	int family;
	unsigned char addr[16];
	int bits;
};

struct profile {
	char *name;
	enum profile_kind kind;
	char *description;
	long max_days;
	long crl_days;
	int path_len;
	char *key_types[8];
	size_t nkey_types;
	unsigned int ku; /* X509v3_KU_* bits */
	char *ekus[PROFILE_MAX_LIST];
	size_t nekus;
	char *dns_names[PROFILE_MAX_LIST], *dns_suffixes[PROFILE_MAX_LIST];
	size_t ndns_names, ndns_suffixes;
	int allow_wildcards;
	struct ip_range ips[PROFILE_MAX_LIST];
	size_t nips;
	char *allow_vaults[PROFILE_MAX_LIST],
	    *allow_cert_names[PROFILE_MAX_LIST],
	    *allow_labels[PROFILE_MAX_LIST];
	size_t nallow_vaults, nallow_cert_names, nallow_labels;
	char *crl_url, *aia_url;
	char *permitted_dns[PROFILE_MAX_LIST];
	size_t npermitted_dns;
};

struct policy {
	struct profile *p;
	size_t n;
};

static const struct {
	const char *name;
	unsigned int bit;
} ku_names[] = {
    {"digitalSignature", KU_DIGITAL_SIGNATURE},
    {"nonRepudiation", KU_NON_REPUDIATION},
    {"keyEncipherment", KU_KEY_ENCIPHERMENT},
    {"dataEncipherment", KU_DATA_ENCIPHERMENT},
    {"keyAgreement", KU_KEY_AGREEMENT},
    {"keyCertSign", KU_KEY_CERT_SIGN},
    {"cRLSign", KU_CRL_SIGN},
};

static const char *const key_type_names[] = {"rsa:2048", "rsa:3072", "rsa:4096",
					     "ec:p256", "ec:p384"};

static void
profile_clear(struct profile *pr)
{
	size_t i;

	free(pr->name);
	free(pr->description);
	for (i = 0; i < pr->nkey_types; i++)
		free(pr->key_types[i]);
	for (i = 0; i < pr->nekus; i++)
		free(pr->ekus[i]);
	for (i = 0; i < pr->ndns_names; i++)
		free(pr->dns_names[i]);
	for (i = 0; i < pr->ndns_suffixes; i++)
		free(pr->dns_suffixes[i]);
	for (i = 0; i < pr->nallow_vaults; i++)
		free(pr->allow_vaults[i]);
	for (i = 0; i < pr->nallow_cert_names; i++)
		free(pr->allow_cert_names[i]);
	for (i = 0; i < pr->nallow_labels; i++)
		free(pr->allow_labels[i]);
	for (i = 0; i < pr->npermitted_dns; i++)
		free(pr->permitted_dns[i]);
	free(pr->crl_url);
	free(pr->aia_url);
}

void
policy_free(struct policy *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++)
		profile_clear(&p->p[i]);
	free(p->p);
	free(p);
}

/* Split a comma-separated list into trimmed, non-empty strings. */
static void
profile_list_free(char **out, size_t *n)
{
	size_t i;

	for (i = 0; i < *n; i++) {
		free(out[i]);
		out[i] = NULL;
	}
	*n = 0;
}

/* Split a comma-separated list into trimmed, non-empty items of printable
 * ASCII (a reviewed file must not hide anything in a value). On error
 * nothing is left allocated. */
static int
profile_list(const char *v, const char *what, char **out, size_t max, size_t *n)
{
	const char *s = v, *e;
	size_t len, i;
	int r = AIRLOCK_E_FORMAT;

	*n = 0;
	if (v == NULL)
		return 0;
	for (i = 0; v[i] != '\0'; i++)
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] >= 0x7f) {
			err_detail_set("%s: byte 0x%02x in the value: only "
				       "printable ASCII",
				       what, (unsigned char)v[i]);
			return AIRLOCK_E_FORMAT;
		}
	while (*s != '\0') {
		while (*s == ' ')
			s++;
		if (*s == '\0')
			break;
		if (*s == ',') {
			err_detail_set("%s: an empty item", what);
			goto bad;
		}
		e = s;
		while (*e != '\0' && *e != ',')
			e++;
		len = (size_t)(e - s);
		while (len > 0 && s[len - 1] == ' ')
			len--;
		if (*n == max) {
			err_detail_set("%s: more than %zu items", what, max);
			goto bad;
		}
		if ((out[*n] = strndup(s, len)) == NULL) {
			r = AIRLOCK_E_NOMEM;
			goto bad;
		}
		(*n)++;
		s = *e == ',' ? e + 1 : e;
		if (*e == ',' && *s == '\0') {
			err_detail_set("%s: an empty item after the last ','",
				       what);
			goto bad;
		}
	}
	return 0;
bad:
	profile_list_free(out, n);
	return r;
}

/* A DNS name or suffix as a profile may name it: LDH labels, a leading "."
 * on suffixes, "*." only in front of an exact name. */
static int
profile_dns_ok(const char *d, int suffix, int wildcard)
{
	size_t n = strlen(d), i, label = 0;

	if (suffix && d[0] == '.')
		d++, n--;
	if (wildcard && strncmp(d, "*.", 2) == 0)
		d += 2, n -= 2;
	if (n == 0 || n > 253 || d[0] == '.' || d[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		if (d[i] == '.') {
			if (label == 0 || d[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!(isalnum((unsigned char)d[i]) || d[i] == '-') ||
		    (label == 0 && d[i] == '-') || ++label > 63)
			return 0;
	}
	return d[n - 1] != '-';
}

static int
profile_check_names(char *const *v, size_t n, const char *what, int suffix,
		    int wildcard)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!profile_dns_ok(v[i], suffix, wildcard)) {
			err_detail_set(
			    "%s: '%.80s' is not a DNS name (letters, "
			    "digits, '-' and '.' labels)",
			    what, v[i]);
			return AIRLOCK_E_FORMAT;
		}
	return 0;
}

/* http(s) URLs only, without characters that would change the meaning of
 * the extension text they go into. */
static int
profile_url_ok(const char *u, const char *what)
{
	size_t i, n = strlen(u);

	if ((strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) ||
	    n > 512)
		goto bad;
	for (i = 0; i < n; i++)
		if (u[i] <= ' ' || u[i] >= 0x7f || strchr(",;\"'<>\\", u[i]))
			goto bad;
	return 0;
bad:
	err_detail_set("%s: '%.80s' must be an http:// or https:// URL without "
		       "spaces, commas, semicolons or quotes",
		       what, u);
	return AIRLOCK_E_FORMAT;
}

static int
profile_parse_ip_range(const char *s, struct ip_range *ip)
{
	char buf[64], *slash, *end = NULL;
	long bits;

	if (strlen(s) >= sizeof(buf))
		return AIRLOCK_E_FORMAT;
	memcpy(buf, s, strlen(s) + 1);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash = '\0';
	memset(ip, 0, sizeof(*ip));
	if (inet_pton(AF_INET, buf, ip->addr) == 1) {
		ip->family = AF_INET;
		ip->bits = 32;
	} else if (inet_pton(AF_INET6, buf, ip->addr) == 1) {
		ip->family = AF_INET6;
		ip->bits = 128;
	} else {
		return AIRLOCK_E_FORMAT;
	}
	if (slash != NULL) {
		bits = strtol(slash + 1, &end, 10);
		if (end == slash + 1 || *end != '\0' || bits < 0 ||
		    bits > ip->bits)
			return AIRLOCK_E_FORMAT;
		ip->bits = (int)bits;
	}
	return 0;
}

static int
profile_parse_long(const char *v, const char *what, long min, long max,
		   long *out)
{
	char *end = NULL;
	long n;

	n = strtol(v, &end, 10);
	if (end == v || *end != '\0' || n < min || n > max) {
		err_detail_set("%s: '%s' is not a number in %ld..%ld", what, v,
			       min, max);
		return AIRLOCK_E_FORMAT;
	}
	*out = n;
	return 0;
}

static int
profile_load_one(struct config *c, const char *sec, struct profile *pr)
{
	char what[160], *items[PROFILE_MAX_LIST];
	const char *v;
	size_t n, i, j;
	long num;
	int r;

	memset(pr, 0, sizeof(*pr));
	pr->path_len = -1;
	if ((pr->name = strdup(sec + strlen("profile-"))) == NULL)
		return AIRLOCK_E_NOMEM;
#define WHAT(k) (snprintf(what, sizeof(what), "[%s] %s", sec, k), what)
	if ((v = config_get(c, sec, "kind")) == NULL) {
		err_detail_set("[%s] needs kind = root, intermediate or leaf",
			       sec);
		return AIRLOCK_E_FORMAT;
	}
	if (strcmp(v, "root") == 0)
		pr->kind = PROFILE_ROOT;
	else if (strcmp(v, "intermediate") == 0)
		pr->kind = PROFILE_INTERMEDIATE;
	else if (strcmp(v, "leaf") == 0)
		pr->kind = PROFILE_LEAF;
	else {
		err_detail_set("%s: '%s' is not root, intermediate or leaf",
			       WHAT("kind"), v);
		return AIRLOCK_E_FORMAT;
	}
	if ((v = config_get(c, sec, "description")) != NULL &&
	    (pr->description = strdup(v)) == NULL)
		return AIRLOCK_E_NOMEM;
	if ((v = config_get(c, sec, "max_days")) == NULL) {
		err_detail_set("[%s] needs max_days", sec);
		return AIRLOCK_E_FORMAT;
	}
	if ((r = profile_parse_long(v, WHAT("max_days"), 1, 9125,
				    &pr->max_days)) != 0)
		return r;
	pr->crl_days = pr->kind == PROFILE_ROOT ? 365 : 7;
	if ((v = config_get(c, sec, "crl_days")) != NULL &&
	    (r = profile_parse_long(v, WHAT("crl_days"), 1, 3650,
				    &pr->crl_days)) != 0)
		return r;
	if ((v = config_get(c, sec, "path_len")) != NULL) {
		if ((r = profile_parse_long(v, WHAT("path_len"), 0, 8, &num)) !=
		    0)
			return r;
		pr->path_len = (int)num;
	}
	if ((r = profile_list(config_get(c, sec, "key_types"),
			      WHAT("key_types"), pr->key_types, 8,
			      &pr->nkey_types)) != 0)
		return r;
	for (i = 0; i < pr->nkey_types; i++) {
		for (j = 0;
		     j < sizeof(key_type_names) / sizeof(key_type_names[0]);
		     j++)
			if (strcmp(pr->key_types[i], key_type_names[j]) == 0)
				break;
		if (j == sizeof(key_type_names) / sizeof(key_type_names[0])) {
			err_detail_set("%s: '%s' (use rsa:2048, rsa:3072, "
				       "rsa:4096, ec:p256, ec:p384)",
				       WHAT("key_types"), pr->key_types[i]);
			return AIRLOCK_E_FORMAT;
		}
	}
	if ((r = profile_list(config_get(c, sec, "key_usage"),
			      WHAT("key_usage"), items, PROFILE_MAX_LIST,
			      &n)) != 0)
		return r;
	for (i = 0, r = 0; i < n; i++) {
		for (j = 0; j < sizeof(ku_names) / sizeof(ku_names[0]); j++)
			if (strcmp(items[i], ku_names[j].name) == 0)
				break;
		if (j == sizeof(ku_names) / sizeof(ku_names[0])) {
			err_detail_set("%s: unknown key usage '%s'",
				       WHAT("key_usage"), items[i]);
			r = AIRLOCK_E_FORMAT;
		} else {
			pr->ku |= ku_names[j].bit;
		}
	}
	for (i = 0; i < n; i++)
		free(items[i]);
	if (r != 0)
		return r;
	if ((r = profile_list(config_get(c, sec, "ext_key_usage"),
			      WHAT("ext_key_usage"), pr->ekus, PROFILE_MAX_LIST,
			      &pr->nekus)) != 0)
		return r;
	for (i = 0; i < pr->nekus; i++) {
		ASN1_OBJECT *o = OBJ_txt2obj(pr->ekus[i], 0);
		if (o == NULL || OBJ_obj2nid(o) == NID_anyExtendedKeyUsage) {
			ASN1_OBJECT_free(o);
			err_detail_set("%s: '%s' is not an allowed EKU name or "
				       "OID",
				       WHAT("ext_key_usage"), pr->ekus[i]);
			return AIRLOCK_E_FORMAT;
		}
		ASN1_OBJECT_free(o);
	}
	if ((r = profile_list(config_get(c, sec, "dns_names"),
			      WHAT("dns_names"), pr->dns_names,
			      PROFILE_MAX_LIST, &pr->ndns_names)) != 0 ||
	    (r = profile_list(config_get(c, sec, "dns_suffixes"),
			      WHAT("dns_suffixes"), pr->dns_suffixes,
			      PROFILE_MAX_LIST, &pr->ndns_suffixes)) != 0 ||
	    (r = profile_list(config_get(c, sec, "allow_vaults"),
			      WHAT("allow_vaults"), pr->allow_vaults,
			      PROFILE_MAX_LIST, &pr->nallow_vaults)) != 0 ||
	    (r = profile_list(config_get(c, sec, "allow_cert_names"),
			      WHAT("allow_cert_names"), pr->allow_cert_names,
			      PROFILE_MAX_LIST, &pr->nallow_cert_names)) != 0 ||
	    (r = profile_list(config_get(c, sec, "allow_labels"),
			      WHAT("allow_labels"), pr->allow_labels,
			      PROFILE_MAX_LIST, &pr->nallow_labels)) != 0 ||
	    (r = profile_list(config_get(c, sec, "permitted_dns"),
			      WHAT("permitted_dns"), pr->permitted_dns,
			      PROFILE_MAX_LIST, &pr->npermitted_dns)) != 0)
		return r;
	if ((r = profile_check_names(pr->dns_names, pr->ndns_names,
				     WHAT("dns_names"), 0, 1)) != 0 ||
	    (r = profile_check_names(pr->dns_suffixes, pr->ndns_suffixes,
				     WHAT("dns_suffixes"), 1, 0)) != 0 ||
	    (r = profile_check_names(pr->permitted_dns, pr->npermitted_dns,
				     WHAT("permitted_dns"), 1, 0)) != 0)
		return r;
	if ((v = config_get(c, sec, "allow_wildcards")) != NULL) {
		if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0) {
			err_detail_set("%s: yes or no",
				       WHAT("allow_wildcards"));
			return AIRLOCK_E_FORMAT;
		}
		pr->allow_wildcards = strcmp(v, "yes") == 0;
	}
	if ((r = profile_list(config_get(c, sec, "ip_ranges"),
			      WHAT("ip_ranges"), items, PROFILE_MAX_LIST,
			      &n)) != 0)
		return r;
	for (i = 0, r = 0; i < n; i++) {
		if (r == 0 &&
		    profile_parse_ip_range(items[i], &pr->ips[i]) != 0) {
			err_detail_set("%s: '%s' is not an address or CIDR "
				       "range",
				       WHAT("ip_ranges"), items[i]);
			r = AIRLOCK_E_FORMAT;
		}
		free(items[i]);
	}
	pr->nips = n;
	if (r != 0)
		return r;
	if ((v = config_get(c, sec, "crl_url")) != NULL &&
	    ((r = profile_url_ok(v, WHAT("crl_url"))) != 0 ||
	     (pr->crl_url = strdup(v)) == NULL))
		return r != 0 ? r : AIRLOCK_E_NOMEM;
	if ((v = config_get(c, sec, "aia_url")) != NULL &&
	    ((r = profile_url_ok(v, WHAT("aia_url"))) != 0 ||
	     (pr->aia_url = strdup(v)) == NULL))
		return r != 0 ? r : AIRLOCK_E_NOMEM;
#undef WHAT
	return config_check_unused(c, sec);
}

int
policy_load(struct config *c, struct policy **out)
{
	struct policy *p = NULL;
	const char *sec;
	size_t i;
	int r = AIRLOCK_E_INTERNAL;

	*out = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->p = calloc(config_section_count(c) + 1, sizeof(*p->p))) ==
		NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	for (i = 0; i < config_section_count(c); i++) {
		sec = config_section_name(c, i);
		if (strncmp(sec, "profile-", 8) != 0)
			continue;
		r = profile_load_one(c, sec, &p->p[p->n]);
		p->n++;
		if (r != 0)
			goto out;
	}
	*out = p;
	p = NULL;
	r = 0;
out:
	policy_free(p);
	return r;
}

size_t
policy_count(const struct policy *p)
{
	return p->n;
}

const struct profile *
policy_get0(const struct policy *p, size_t i)
{
	return i < p->n ? &p->p[i] : NULL;
}

const struct profile *
policy_find(const struct policy *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (strcmp(p->p[i].name, name) == 0)
			return &p->p[i];
	return NULL;
}

const struct profile *
policy_find_kind(const struct policy *p, enum profile_kind kind)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (p->p[i].kind == kind)
			return &p->p[i];
	return NULL;
}

const char *
profile_name(const struct profile *pr)
{
	return pr->name;
}

enum profile_kind
profile_kind(const struct profile *pr)
{
	return pr->kind;
}

long
profile_max_days(const struct profile *pr)
{
	return pr->max_days;
}

long
profile_crl_days(const struct profile *pr)
{
	return pr->crl_days;
}

int
profile_path_len(const struct profile *pr)
{
	return pr->path_len;
}

static const char *
profile_kind_name(enum profile_kind k)
{
	return k == PROFILE_ROOT	   ? "root"
	       : k == PROFILE_INTERMEDIATE ? "intermediate"
					   : "leaf";
}

static void finding(cJSON *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
finding(cJSON *f, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	cJSON_AddItemToArray(f, cJSON_CreateString(buf));
}

int
policy_check(const struct policy *p, cJSON *f)
{
	const struct profile *root = policy_find_kind(p, PROFILE_ROOT);
	const struct profile *inter = policy_find_kind(p, PROFILE_INTERMEDIATE);
	const struct profile *pr;
	size_t i;

	if (root == NULL)
		finding(f, "no profile of kind root");
	if (inter == NULL)
		finding(f, "no profile of kind intermediate");
	for (i = 0; i < p->n; i++) {
		pr = &p->p[i];
		if (pr->kind == PROFILE_LEAF) {
			if (pr->ku & (KU_KEY_CERT_SIGN | KU_CRL_SIGN))
				finding(f,
					"profile %s: keyCertSign or cRLSign "
					"on a leaf profile",
					pr->name);
			if (pr->nekus == 0)
				finding(f, "profile %s: no ext_key_usage",
					pr->name);
			if (pr->ku == 0)
				finding(f, "profile %s: no key_usage",
					pr->name);
			if (pr->nallow_vaults == 0 && pr->nallow_labels == 0)
				finding(f,
					"profile %s: nobody may use it (no "
					"allow_vaults, no allow_labels)",
					pr->name);
			if (pr->ndns_names == 0 && pr->ndns_suffixes == 0 &&
			    pr->nips == 0)
				finding(f,
					"profile %s: no name may be "
					"certified (no dns_names, "
					"dns_suffixes or ip_ranges)",
					pr->name);
			if (pr->nkey_types == 0)
				finding(f, "profile %s: no key_types",
					pr->name);
			if (inter != NULL && pr->max_days > inter->max_days) {
				finding(f,
					"profile %s: max_days is longer than "
					"the intermediate's %ld",
					pr->name, inter->max_days);
			}
		} else {
			if (!(pr->ku & KU_KEY_CERT_SIGN) ||
			    !(pr->ku & KU_CRL_SIGN))
				finding(f,
					"profile %s: a CA profile needs "
					"key_usage keyCertSign and cRLSign",
					pr->name);
			if (pr->ku &
			    ~(unsigned)(KU_KEY_CERT_SIGN | KU_CRL_SIGN |
					KU_DIGITAL_SIGNATURE))
				finding(f,
					"profile %s: a CA profile may only "
					"have keyCertSign, cRLSign and "
					"digitalSignature",
					pr->name);
			if (pr->kind == PROFILE_ROOT && pr->crl_days > 365)
				finding(f,
					"profile %s: a root CRL may be valid "
					"for at most 365 days (crl_days)",
					pr->name);
			if (pr->nekus != 0 && pr->kind == PROFILE_ROOT)
				finding(f, "profile %s: a root has no EKU",
					pr->name);
		}
		if (pr->kind == PROFILE_INTERMEDIATE && root != NULL &&
		    pr->max_days > root->max_days) {
			finding(f,
				"profile %s: max_days is longer than the "
				"root's %ld",
				pr->name, root->max_days);
		}
	}
	return cJSON_GetArraySize(f) > 0 ? AIRLOCK_E_POLICY : 0;
}

static void
json_list(cJSON *o, const char *name, char *const *v, size_t n)
{
	cJSON *a = cJSON_AddArrayToObject(o, name);
	size_t i;

	for (i = 0; i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
}

int
policy_describe(const struct policy *p, cJSON **out)
{
	cJSON *root = cJSON_CreateObject(), *arr, *o, *a;
	const struct profile *pr;
	char buf[INET6_ADDRSTRLEN + 8], ipb[INET6_ADDRSTRLEN];
	size_t i, j;

	arr = cJSON_AddArrayToObject(root, "profiles");
	for (i = 0; i < p->n; i++) {
		pr = &p->p[i];
		o = cJSON_CreateObject();
		cJSON_AddItemToArray(arr, o);
		cJSON_AddStringToObject(o, "name", pr->name);
		cJSON_AddStringToObject(o, "kind", profile_kind_name(pr->kind));
		if (pr->description != NULL)
			cJSON_AddStringToObject(o, "description",
						pr->description);
		cJSON_AddNumberToObject(o, "max_days", (double)pr->max_days);
		if (pr->path_len >= 0)
			cJSON_AddNumberToObject(o, "path_len", pr->path_len);
		if (pr->kind != PROFILE_LEAF)
			cJSON_AddNumberToObject(o, "crl_days",
						(double)pr->crl_days);
		json_list(o, "key_types", pr->key_types, pr->nkey_types);
		a = cJSON_AddArrayToObject(o, "key_usage");
		for (j = 0; j < sizeof(ku_names) / sizeof(ku_names[0]); j++)
			if (pr->ku & ku_names[j].bit)
				cJSON_AddItemToArray(
				    a, cJSON_CreateString(ku_names[j].name));
		json_list(o, "ext_key_usage", pr->ekus, pr->nekus);
		json_list(o, "dns_names", pr->dns_names, pr->ndns_names);
		json_list(o, "dns_suffixes", pr->dns_suffixes,
			  pr->ndns_suffixes);
		cJSON_AddBoolToObject(o, "allow_wildcards",
				      pr->allow_wildcards);
		a = cJSON_AddArrayToObject(o, "ip_ranges");
		for (j = 0; j < pr->nips; j++) {
			inet_ntop(pr->ips[j].family, pr->ips[j].addr, ipb,
				  sizeof(ipb));
			snprintf(buf, sizeof(buf), "%s/%d", ipb,
				 pr->ips[j].bits);
			cJSON_AddItemToArray(a, cJSON_CreateString(buf));
		}
		json_list(o, "allow_vaults", pr->allow_vaults,
			  pr->nallow_vaults);
		json_list(o, "allow_cert_names", pr->allow_cert_names,
			  pr->nallow_cert_names);
		json_list(o, "allow_labels", pr->allow_labels,
			  pr->nallow_labels);
		if (pr->crl_url != NULL)
			cJSON_AddStringToObject(o, "crl_url", pr->crl_url);
		if (pr->aia_url != NULL)
			cJSON_AddStringToObject(o, "aia_url", pr->aia_url);
		json_list(o, "permitted_dns", pr->permitted_dns,
			  pr->npermitted_dns);
	}
	*out = root;
	return 0;
}

/* "rsa:2048", "ec:p256", ... for KEY, or NULL for anything else. */
static const char *
profile_key_type(EVP_PKEY *key, char *buf, size_t len)
{
	char curve[64];
	size_t clen = 0;

	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA) {
		snprintf(buf, len, "rsa:%d", EVP_PKEY_get_bits(key));
		return buf;
	}
	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC &&
	    EVP_PKEY_get_utf8_string_param(key, "group", curve, sizeof(curve),
					   &clen) == 1) {
		if (strcmp(curve, "prime256v1") == 0)
			snprintf(buf, len, "ec:p256");
		else if (strcmp(curve, "secp384r1") == 0)
			snprintf(buf, len, "ec:p384");
		else
			snprintf(buf, len, "ec:%s", curve);
		return buf;
	}
	snprintf(buf, len, "%s", EVP_PKEY_get0_type_name(key));
	return buf;
}

int
profile_check_key(const struct profile *pr, EVP_PKEY *key)
{
	char kt[80];
	size_t i;

	profile_key_type(key, kt, sizeof(kt));
	for (i = 0; i < pr->nkey_types; i++)
		if (strcmp(pr->key_types[i], kt) == 0)
			return 0;
	err_detail_set("profile %s: key type %s is not among its key_types",
		       pr->name, kt);
	return AIRLOCK_E_POLICY;
}

/* NAME equals SUFFIX or ends in "." SUFFIX (case-insensitive, ASCII). */
static int
dns_under(const char *name, const char *suffix)
{
	size_t n = strlen(name), s;

	if (suffix[0] == '.')
		suffix++;
	s = strlen(suffix);
	if (n == s)
		return strcasecmp(name, suffix) == 0;
	return n > s && name[n - s - 1] == '.' &&
	       strcasecmp(name + n - s, suffix) == 0;
}

int
profile_check_dns(const struct profile *pr, const char *name)
{
	size_t i;

	if (name[0] == '*' && !pr->allow_wildcards) {
		err_detail_set("profile %s: wildcard name '%s' not allowed "
			       "(allow_wildcards = no)",
			       pr->name, name);
		return AIRLOCK_E_POLICY;
	}
	for (i = 0; i < pr->ndns_names; i++)
		if (strcasecmp(pr->dns_names[i], name) == 0)
			return 0;
	for (i = 0; i < pr->ndns_suffixes; i++)
		if (dns_under(name, pr->dns_suffixes[i]))
			return 0;
	err_detail_set("profile %s: DNS name '%s' is outside its dns_names "
		       "and dns_suffixes",
		       pr->name, name);
	return AIRLOCK_E_POLICY;
}

int
profile_check_ip(const struct profile *pr, const unsigned char *ip, size_t len)
{
	char text[INET6_ADDRSTRLEN] = "?";
	size_t i;
	int b, family = len == 4 ? AF_INET : AF_INET6;

	for (i = 0; i < pr->nips; i++) {
		const struct ip_range *r = &pr->ips[i];
		if (r->family != family)
			continue;
		for (b = 0; b < r->bits; b++)
			if (((ip[b / 8] ^ r->addr[b / 8]) >> (7 - b % 8)) & 1)
				break;
		if (b == r->bits)
			return 0;
	}
	if (len == 4 || len == 16)
		inet_ntop(family, ip, text, sizeof(text));
	err_detail_set("profile %s: IP address %s is outside its ip_ranges",
		       pr->name, text);
	return AIRLOCK_E_POLICY;
}

static int
match_any(char *const *pats, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (fnmatch(pats[i], s, 0) == 0)
			return 1;
	return 0;
}

int
profile_check_source(const struct profile *pr, const char *vault_host,
		     const char *name)
{
	if (vault_host == NULL) {
		if (match_any(pr->allow_labels, pr->nallow_labels, name))
			return 0;
		err_detail_set("profile %s: plain CSR label '%s' is not in "
			       "its allow_labels",
			       pr->name, name);
		return AIRLOCK_E_POLICY;
	}
	if (!match_any(pr->allow_vaults, pr->nallow_vaults, vault_host)) {
		err_detail_set("profile %s: vault '%s' is not in its "
			       "allow_vaults",
			       pr->name, vault_host);
		return AIRLOCK_E_POLICY;
	}
	if (!match_any(pr->allow_cert_names, pr->nallow_cert_names, name)) {
		err_detail_set("profile %s: certificate name '%s' is not in "
			       "its allow_cert_names",
			       pr->name, name);
		return AIRLOCK_E_POLICY;
	}
	return 0;
}

static int
add_ext(X509 *cert, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, NULL, cert, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL) {
		err_detail_set("cannot encode extension %s = %s",
			       OBJ_nid2sn(nid), value);
		return AIRLOCK_E_CRYPTO;
	}
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : AIRLOCK_E_CRYPTO;
}

/* Append "a, b" style text safely. */
/* Append ",S" (or "S"); AIRLOCK_E_TOO_LARGE rather than a truncated
 * extension. */
static int
cat(char *buf, size_t len, const char *s)
{
	size_t n = strlen(buf);
	int w = snprintf(buf + n, len - n, "%s%s",
			 n > 0 && buf[n - 1] != ':' ? "," : "", s);

	if (w < 0 || (size_t)w >= len - n) {
		err_detail_set("extension text longer than %zu bytes", len);
		return AIRLOCK_E_TOO_LARGE;
	}
	return 0;
}

int
profile_add_extensions(const struct profile *pr, X509 *cert,
		       EVP_PKEY *subject_key)
{
	char buf[2048] = "";
	unsigned int ku = pr->ku;
	size_t i;
	int r;

	if (pr->kind == PROFILE_LEAF) {
		/* KU fitted to the key: no keyEncipherment on EC, no
		 * keyAgreement on RSA. */
		if (EVP_PKEY_get_base_id(subject_key) == EVP_PKEY_EC)
			ku &= ~(unsigned)KU_KEY_ENCIPHERMENT;
		else
			ku &= ~(unsigned)KU_KEY_AGREEMENT;
		if ((r = add_ext(cert, NID_basic_constraints,
				 "critical,CA:FALSE")) != 0)
			return r;
	} else {
		snprintf(buf, sizeof(buf), "critical,CA:TRUE");
		if (pr->path_len >= 0)
			snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf),
				 ",pathlen:%d", pr->path_len);
		if ((r = add_ext(cert, NID_basic_constraints, buf)) != 0)
			return r;
	}
	snprintf(buf, sizeof(buf), "critical");
	for (i = 0; i < sizeof(ku_names) / sizeof(ku_names[0]); i++)
		if ((ku & ku_names[i].bit) &&
		    (r = cat(buf, sizeof(buf), ku_names[i].name)) != 0)
			return r;
	if ((r = add_ext(cert, NID_key_usage, buf)) != 0)
		return r;
	if (pr->nekus > 0) {
		buf[0] = '\0';
		for (i = 0; i < pr->nekus; i++)
			if ((r = cat(buf, sizeof(buf), pr->ekus[i])) != 0)
				return r;
		if ((r = add_ext(cert, NID_ext_key_usage, buf)) != 0)
			return r;
	}
	if (pr->npermitted_dns > 0) {
		snprintf(buf, sizeof(buf), "critical");
		for (i = 0; i < pr->npermitted_dns; i++) {
			char item[300];
			snprintf(item, sizeof(item), "permitted;DNS:%s",
				 pr->permitted_dns[i]);
			if ((r = cat(buf, sizeof(buf), item)) != 0)
				return r;
		}
		if ((r = add_ext(cert, NID_name_constraints, buf)) != 0)
			return r;
	}
	return 0;
}

int
profile_add_issuer_urls(const struct profile *issuer, X509 *cert)
{
	char buf[600];
	int r;

	if (issuer->crl_url != NULL) {
		snprintf(buf, sizeof(buf), "URI:%s", issuer->crl_url);
		if ((r = add_ext(cert, NID_crl_distribution_points, buf)) != 0)
			return r;
	}
	if (issuer->aia_url != NULL) {
		snprintf(buf, sizeof(buf), "caIssuers;URI:%s", issuer->aia_url);
		if ((r = add_ext(cert, NID_info_access, buf)) != 0)
			return r;
	}
	return 0;
}

int
policy_default_config(const char *const *domains, size_t ndomains, char **out)
{
	char doms[1024] = "", perm[1024] = "";
	size_t i;
	int n;

	*out = NULL;
	for (i = 0; i < ndomains; i++) {
		if (cat(doms, sizeof(doms), domains[i]) != 0 ||
		    cat(perm, sizeof(perm), domains[i]) != 0)
			return AIRLOCK_E_TOO_LARGE;
	}
	n = asprintf(
	    out,
	    "# airlock station configuration: the reviewed issuance policy.\n"
	    "#\n"
	    "# Review every change with a second person: this file decides "
	    "what the CA\n"
	    "# signs. PINs and PKCS#11 module paths never go here (they are "
	    "given at\n"
	    "# signing time). Everything not allowed here is denied.\n"
	    "#\n"
	    "# Format: [sections], 'key = value', comma-separated lists, "
	    "whole-line\n"
	    "# comments. A duplicate key or an unknown setting is an error.\n"
	    "# `airlock-station policy check` finds unsafe settings;\n"
	    "# `airlock-station policy show` prints what is in force.\n"
	    "\n"
	    "[station]\n"
	    "# a name for this station, shown in transcripts and bundles\n"
	    "name = airlock-station\n"
	    "\n"
	    "# The root CA. At most 25 years.\n"
	    "[profile-root]\n"
	    "kind = root\n"
	    "max_days = 7305\n"
	    "key_types = ec:p384, rsa:3072, rsa:4096\n"
	    "key_usage = keyCertSign, cRLSign\n"
	    "# how long a root CRL is valid (at most 365 days)\n"
	    "crl_days = 365\n"
	    "# crl_url = http://pki.example.internal/root.crl\n"
	    "# aia_url = http://pki.example.internal/root.crt\n"
	    "\n"
	    "# The issuing CA, signed by the root; path_len 0 means it "
	    "issues only leaves.\n"
	    "[profile-intermediate]\n"
	    "kind = intermediate\n"
	    "max_days = 3650\n"
	    "path_len = 0\n"
	    "key_types = ec:p384, ec:p256, rsa:3072, rsa:4096\n"
	    "key_usage = keyCertSign, cRLSign, digitalSignature\n"
	    "# how long the intermediate's CRLs are valid: publish before "
	    "then\n"
	    "crl_days = 7\n"
	    "%s%s%s"
	    "# crl_url = http://pki.example.internal/intermediate.crl\n"
	    "# aia_url = http://pki.example.internal/intermediate.crt\n"
	    "\n"
	    "# Leaf profiles. allow_vaults and allow_cert_names match Key "
	    "Vault "
	    "sources\n"
	    "# (shell patterns on the vault host and the certificate name); "
	    "allow_labels\n"
	    "# matches plain CSRs packed with `airlock-kv pack`.\n"
	    "[profile-tls-server]\n"
	    "kind = leaf\n"
	    "description = TLS server behind Application Gateway / API "
	    "Management\n"
	    "max_days = 397\n"
	    "key_types = rsa:2048, rsa:3072, rsa:4096, ec:p256, ec:p384\n"
	    "key_usage = digitalSignature, keyEncipherment\n"
	    "ext_key_usage = serverAuth\n"
	    "dns_suffixes = %s\n"
	    "allow_wildcards = no\n"
	    "allow_vaults = *\n"
	    "allow_cert_names = *\n"
	    "allow_labels = *\n"
	    "\n"
	    "[profile-tls-client]\n"
	    "kind = leaf\n"
	    "max_days = 397\n"
	    "key_types = rsa:2048, rsa:3072, ec:p256, ec:p384\n"
	    "key_usage = digitalSignature\n"
	    "ext_key_usage = clientAuth\n"
	    "dns_suffixes = %s\n"
	    "allow_vaults = *\n"
	    "allow_cert_names = *\n"
	    "allow_labels = *\n"
	    "\n"
	    "[profile-mtls]\n"
	    "kind = leaf\n"
	    "max_days = 397\n"
	    "key_types = rsa:2048, rsa:3072, ec:p256, ec:p384\n"
	    "key_usage = digitalSignature, keyEncipherment\n"
	    "ext_key_usage = serverAuth, clientAuth\n"
	    "dns_suffixes = %s\n"
	    "allow_vaults = *\n"
	    "allow_cert_names = *\n"
	    "allow_labels = *\n"
	    "\n"
	    "# MQTT clients (Event Grid matches the subject CN): the CN is the "
	    "client id\n"
	    "# and must also be a DNS SAN under the allowed suffixes.\n"
	    "[profile-mqtt-device]\n"
	    "kind = leaf\n"
	    "max_days = 825\n"
	    "key_types = ec:p256, rsa:2048\n"
	    "key_usage = digitalSignature\n"
	    "ext_key_usage = clientAuth\n"
	    "dns_suffixes = %s\n"
	    "allow_vaults = *\n"
	    "allow_cert_names = *\n"
	    "allow_labels = *\n",
	    ndomains > 0 ? "permitted_dns = " : "", perm,
	    ndomains > 0 ? "\n" : "", ndomains > 0 ? doms : "example.invalid",
	    ndomains > 0 ? doms : "example.invalid",
	    ndomains > 0 ? doms : "example.invalid",
	    ndomains > 0 ? doms : "example.invalid");
	return n < 0 ? AIRLOCK_E_NOMEM : 0;
}
