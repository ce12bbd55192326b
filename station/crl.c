#include "station/crl.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "lib/err.h"
#include "station/certsign.h"
#include "station/lint.h"

static const struct {
	const char *name;
	int code;
} crl_reasons[] = {
    {"unspecified", CRL_REASON_UNSPECIFIED},
    {"keyCompromise", CRL_REASON_KEY_COMPROMISE},
    {"cACompromise", CRL_REASON_CA_COMPROMISE},
    {"affiliationChanged", CRL_REASON_AFFILIATION_CHANGED},
    {"superseded", CRL_REASON_SUPERSEDED},
    {"cessationOfOperation", CRL_REASON_CESSATION_OF_OPERATION},
    {"privilegeWithdrawn", CRL_REASON_PRIVILEGE_WITHDRAWN},
    {"aACompromise", CRL_REASON_AA_COMPROMISE},
};

/* What the ledger says about serials and CRLs. */
struct crl_serial {
	char serial[48];
	int issuer; /* enum crl_issuer that signed the certificate */
	int issued, revoked, indoubt;
	int reason;
	time_t when;
};

struct crl_scan {
	struct crl_serial *s;
	size_t n, cap;
	size_t *slot; /* open-addressing index into s, 0 = empty, else i+1 */
	size_t nslot;
	unsigned long long max_number[2];
	unsigned long long latest[2]; /* newest CRL issued */
	char latest_sha[2][65];
	int failed;
};

static const char *
crl_issuer_name(enum crl_issuer w)
{
	return w == CRL_ROOT ? "root" : "intermediate";
}

static time_t
crl_time(const cJSON *rec)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(rec, "time");
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (!cJSON_IsString(t) ||
	    strptime(t->valuestring, "%Y-%m-%dT%H:%M:%SZ", &tm) == NULL)
		return 0;
	return timegm(&tm);
}

/* Canonical serial: lowercase hex, no colons, no leading zeros. */
static int
crl_canon(const char *in, char out[48])
{
	size_t i, o = 0;
	char c;

	if (strncmp(in, "0x", 2) == 0 || strncmp(in, "0X", 2) == 0)
		in += 2;
	for (i = 0; in[i] != '\0'; i++) {
		c = in[i];
		if (c == ':')
			continue;
		if (c >= 'A' && c <= 'F')
			c = (char)(c + 32);
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return AIRLOCK_E_INVALID_ARG;
		if (o == 0 && c == '0')
			continue;
		if (o + 1 >= 48)
			return AIRLOCK_E_INVALID_ARG;
		out[o++] = c;
	}
	if (o == 0)
		out[o++] = '0';
	out[o] = '\0';
	return 0;
}

static size_t
crl_hash(const char *s)
{
	size_t h = 1469598103934665603ULL;

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

static int
crl_rehash(struct crl_scan *sc, size_t nslot)
{
	size_t *ns = calloc(nslot, sizeof(*ns)), i, j;

	if (ns == NULL)
		return AIRLOCK_E_NOMEM;
	for (i = 0; i < sc->n; i++) {
		for (j = crl_hash(sc->s[i].serial) % nslot; ns[j] != 0;
		     j = (j + 1) % nslot)
			;
		ns[j] = i + 1;
	}
	free(sc->slot);
	sc->slot = ns;
	sc->nslot = nslot;
	return 0;
}

static struct crl_serial *
crl_find(struct crl_scan *sc, const char *serial, int create)
{
	struct crl_serial *ns;
	size_t j;

	if (sc->nslot == 0 && crl_rehash(sc, 1024) != 0) {
		sc->failed = 1;
		return NULL;
	}
	for (j = crl_hash(serial) % sc->nslot; sc->slot[j] != 0;
	     j = (j + 1) % sc->nslot)
		if (strcmp(sc->s[sc->slot[j] - 1].serial, serial) == 0)
			return &sc->s[sc->slot[j] - 1];
	if (!create)
		return NULL;
	if (sc->n == sc->cap) {
		size_t ncap = sc->cap ? sc->cap * 2 : 256;
		if ((ns = realloc(sc->s, ncap * sizeof(*ns))) == NULL) {
			sc->failed = 1;
			return NULL;
		}
		sc->s = ns;
		sc->cap = ncap;
	}
	memset(&sc->s[sc->n], 0, sizeof(sc->s[0]));
	snprintf(sc->s[sc->n].serial, sizeof(sc->s[0].serial), "%s", serial);
	sc->slot[j] = ++sc->n;
	if (sc->n * 2 > sc->nslot && crl_rehash(sc, sc->nslot * 4) != 0)
		sc->failed = 1;
	return &sc->s[sc->n - 1];
}

static void
crl_scan_free(struct crl_scan *sc)
{
	free(sc->s);
	free(sc->slot);
}

/* The serial of the certificate in a ceremony record. */
static int
crl_cert_serial(const cJSON *rec, char out[48])
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(rec, "cert");
	unsigned char *der = NULL;
	const unsigned char *p;
	X509 *x = NULL;
	BIGNUM *bn = NULL;
	char *hex = NULL;
	size_t n;
	int len, r = AIRLOCK_E_FORMAT;

	if (!cJSON_IsString(c) || (n = strlen(c->valuestring)) == 0 ||
	    (der = malloc(n)) == NULL)
		return AIRLOCK_E_FORMAT;
	len = EVP_DecodeBlock(der, (unsigned char *)c->valuestring, (int)n);
	while (len > 0 && n > 0 && c->valuestring[n - 1] == '=') {
		len--;
		n--;
	}
	p = der;
	if (len > 0 && (x = d2i_X509(NULL, &p, len)) != NULL &&
	    (bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL)) !=
		NULL &&
	    (hex = BN_bn2hex(bn)) != NULL)
		r = crl_canon(hex, out);
	OPENSSL_free(hex);
	BN_free(bn);
	X509_free(x);
	free(der);
	return r;
}

static int
crl_scan_cb(void *arg, const cJSON *rec)
{
	struct crl_scan *sc = arg;
	const char *type =
	    cJSON_GetObjectItemCaseSensitive(rec, "type")->valuestring;
	const cJSON *v;
	struct crl_serial *s;
	char serial[48];
	int w;

	if (strcmp(type, "CA_INTERMEDIATE") == 0) {
		if (crl_cert_serial(rec, serial) == 0 &&
		    (s = crl_find(sc, serial, 1)) != NULL) {
			s->issued = 1;
			s->issuer = CRL_ROOT;
		}
		return 0;
	}
	if (strcmp(type, "CRL") == 0) {
		const cJSON *num =
		    cJSON_GetObjectItemCaseSensitive(rec, "crl_number");
		const cJSON *iss =
		    cJSON_GetObjectItemCaseSensitive(rec, "issuer");
		const cJSON *ph =
		    cJSON_GetObjectItemCaseSensitive(rec, "phase");
		unsigned long long n;
		if (!cJSON_IsString(num) || !cJSON_IsString(iss))
			return 0;
		w = strcmp(iss->valuestring, "root") == 0 ? CRL_ROOT
							  : CRL_INTERMEDIATE;
		n = strtoull(num->valuestring, NULL, 10);
		if (n > sc->max_number[w])
			sc->max_number[w] = n;
		if (cJSON_IsString(ph) &&
		    strcmp(ph->valuestring, "issued") == 0) {
			const cJSON *sha =
			    cJSON_GetObjectItemCaseSensitive(rec, "crl_sha256");
			sc->latest[w] = n;
			snprintf(sc->latest_sha[w], 65, "%s",
				 cJSON_IsString(sha) ? sha->valuestring : "");
		}
		return 0;
	}
	v = cJSON_GetObjectItemCaseSensitive(rec, "serial");
	if (!cJSON_IsString(v) || crl_canon(v->valuestring, serial) != 0)
		return 0;
	if (strcmp(type, "ISSUED") == 0) {
		if ((s = crl_find(sc, serial, 1)) != NULL) {
			s->issued = 1;
			s->issuer = CRL_INTERMEDIATE;
		}
	} else if (strcmp(type, "INDOUBT") == 0) {
		if ((s = crl_find(sc, serial, 1)) != NULL) {
			s->indoubt = 1;
			s->issuer = CRL_INTERMEDIATE;
			s->when = crl_time(rec);
		}
	} else if (strcmp(type, "REVOKED") == 0) {
		const cJSON *rs =
		    cJSON_GetObjectItemCaseSensitive(rec, "reason");
		size_t i;
		if ((s = crl_find(sc, serial, 1)) == NULL)
			return 0;
		s->revoked = 1;
		s->when = crl_time(rec);
		s->reason = CRL_REASON_UNSPECIFIED;
		for (i = 0; cJSON_IsString(rs) &&
			    i < sizeof(crl_reasons) / sizeof(crl_reasons[0]);
		     i++)
			if (strcmp(rs->valuestring, crl_reasons[i].name) == 0)
				s->reason = crl_reasons[i].code;
	}
	return 0;
}

static int
crl_scan(struct home *h, struct ledger **l, struct crl_scan *sc)
{
	int r;

	memset(sc, 0, sizeof(*sc));
	if ((r = home_ledger(h, l)) != 0 ||
	    (r = ledger_foreach(*l, crl_scan_cb, sc)) != 0)
		return r;
	return sc->failed ? AIRLOCK_E_NOMEM : 0;
}

int
crl_revoke(struct home *h, const char *serial, const char *reason,
	   enum crl_issuer *which, char canon[48])
{
	struct ledger *l = NULL;
	struct crl_scan sc;
	struct crl_serial *s;
	const char *rname = NULL;
	cJSON *f = NULL;
	size_t i;
	int r;

	for (i = 0; i < sizeof(crl_reasons) / sizeof(crl_reasons[0]); i++)
		if (strcasecmp(reason, crl_reasons[i].name) == 0)
			rname = crl_reasons[i].name;
	if (rname == NULL) {
		err_detail_set(
		    "reason '%.40s': use unspecified, keyCompromise, "
		    "cACompromise, affiliationChanged, superseded, "
		    "cessationOfOperation, privilegeWithdrawn or "
		    "aACompromise (RFC 5280; certificateHold is not "
		    "offered)",
		    reason);
		return AIRLOCK_E_INVALID_ARG;
	}
	if (crl_canon(serial, canon) != 0) {
		err_detail_set("'%.60s' is not a hexadecimal serial", serial);
		return AIRLOCK_E_INVALID_ARG;
	}
	if ((r = crl_scan(h, &l, &sc)) != 0)
		goto out;
	s = crl_find(&sc, canon, 0);
	if (s == NULL || !s->issued) {
		err_detail_set("serial %s was never issued by this station "
			       "(`airlock-station ledger list` shows what was)",
			       canon);
		r = AIRLOCK_E_NOT_FOUND;
		goto out;
	}
	if (s->revoked) {
		err_detail_set("serial %s is already revoked", canon);
		r = AIRLOCK_E_EXISTS;
		goto out;
	}
	if (s->issuer == CRL_ROOT && (strcmp(rname, "keyCompromise") == 0 ||
				      strcmp(rname, "cACompromise") == 0))
		rname = "cACompromise";
	*which = (enum crl_issuer)s->issuer;
	f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "serial", canon);
	cJSON_AddStringToObject(f, "reason", rname);
	cJSON_AddStringToObject(f, "issuer", crl_issuer_name(*which));
	if ((r = ledger_append(l, "REVOKED", f, NULL)) != 0 ||
	    (r = ledger_sync(l)) != 0)
		goto out;
	r = 0;
out:
	cJSON_Delete(f);
	crl_scan_free(&sc);
	return r;
}

/* The highest N of HOME/crl/<issuer>-N.crl. */
static unsigned long long
crl_max_file_number(struct home *h, enum crl_issuer w)
{
	char path[4096], prefix[32];
	unsigned long long n, max = 0;
	struct dirent *de;
	char *end;
	size_t plen;
	DIR *d;

	snprintf(path, sizeof(path), "%s/crl", home_dir(h));
	snprintf(prefix, sizeof(prefix), "%s-", crl_issuer_name(w));
	plen = strlen(prefix);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, plen) != 0)
			continue;
		n = strtoull(de->d_name + plen, &end, 10);
		if (end != de->d_name + plen && strcmp(end, ".crl") == 0 &&
		    n > max)
			max = n;
	}
	closedir(d);
	return max;
}

static int
crl_record(struct ledger *l, enum crl_issuer w, unsigned long long n,
	   const char *phase, const char *sha, size_t entries, const char *note)
{
	cJSON *f = cJSON_CreateObject();
	char num[32];
	int r;

	snprintf(num, sizeof(num), "%llu", n);
	cJSON_AddStringToObject(f, "issuer", crl_issuer_name(w));
	cJSON_AddStringToObject(f, "crl_number", num);
	cJSON_AddStringToObject(f, "phase", phase);
	if (sha != NULL) {
		cJSON_AddStringToObject(f, "crl_sha256", sha);
		cJSON_AddNumberToObject(f, "entries", (double)entries);
	}
	if (note != NULL && note[0] != '\0')
		cJSON_AddStringToObject(f, "network", note);
	if ((r = ledger_append(l, "CRL", f, NULL)) == 0)
		r = ledger_sync(l);
	cJSON_Delete(f);
	return r;
}

static int
crl_add_entry(X509_CRL *crl, const struct crl_serial *s)
{
	X509_REVOKED *rv = X509_REVOKED_new();
	ASN1_INTEGER *sn = NULL;
	ASN1_TIME *t = NULL;
	ASN1_ENUMERATED *e = NULL;
	BIGNUM *bn = NULL;
	int ok = 0;

	if (rv == NULL || !BN_hex2bn(&bn, s->serial) ||
	    (sn = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    (t = ASN1_TIME_set(NULL, s->when)) == NULL ||
	    !X509_REVOKED_set_serialNumber(rv, sn) ||
	    !X509_REVOKED_set_revocationDate(rv, t))
		goto out;
	/* INDOUBT serials carry no reason: nothing was ever issued */
	if (s->revoked && s->reason != CRL_REASON_UNSPECIFIED) {
		if ((e = ASN1_ENUMERATED_new()) == NULL ||
		    !ASN1_ENUMERATED_set(e, s->reason) ||
		    !X509_REVOKED_add1_ext_i2d(rv, NID_crl_reason, e, 0, 0))
			goto out;
	}
	if (!X509_CRL_add0_revoked(crl, rv))
		goto out;
	rv = NULL;
	ok = 1;
out:
	X509_REVOKED_free(rv);
	ASN1_INTEGER_free(sn);
	ASN1_TIME_free(t);
	ASN1_ENUMERATED_free(e);
	BN_free(bn);
	return ok ? 0 : AIRLOCK_E_CRYPTO;
}

static int
crl_build(X509_CRL *crl, X509 *ca, const struct crl_scan *sc, enum crl_issuer w,
	  unsigned long long number, time_t now, long days, size_t *entries)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext = NULL;
	ASN1_TIME *t1 = NULL, *t2 = NULL;
	ASN1_INTEGER *num = NULL;
	size_t i;
	int r = AIRLOCK_E_CRYPTO;

	*entries = 0;
	if (!X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) ||
	    (t1 = X509_time_adj_ex(NULL, 0, 0, &now)) == NULL ||
	    (t2 = X509_time_adj_ex(NULL, (int)days, 0, &now)) == NULL ||
	    !X509_CRL_set1_lastUpdate(crl, t1) ||
	    !X509_CRL_set1_nextUpdate(crl, t2))
		goto out;
	for (i = 0; i < sc->n; i++) {
		const struct crl_serial *s = &sc->s[i];
		if ((int)w != s->issuer || !(s->revoked || s->indoubt))
			continue;
		if ((r = crl_add_entry(crl, s)) != 0)
			goto out;
		(*entries)++;
	}
	r = AIRLOCK_E_CRYPTO;
	X509V3_set_ctx(&ctx, ca, NULL, NULL, crl, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier,
				       "keyid:always")) == NULL ||
	    !X509_CRL_add_ext(crl, ext, -1))
		goto out;
	if ((num = ASN1_INTEGER_new()) == NULL ||
	    !ASN1_INTEGER_set_uint64(num, number) ||
	    !X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) ||
	    !X509_CRL_sort(crl))
		goto out;
	r = 0;
out:
	ERR_clear_error();
	X509_EXTENSION_free(ext);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(t1);
	ASN1_TIME_free(t2);
	return r;
}

static int
crl_write(struct home *h, enum crl_issuer w, unsigned long long n,
	  X509_CRL *crl, unsigned char **der, int *derlen, char **path_out)
{
	char name[80], path[4096];
	BIO *b = NULL;
	BUF_MEM *bm = NULL;
	int r;

	snprintf(path, sizeof(path), "%s/crl", home_dir(h));
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		err_detail_set("mkdir %s: %s", path, strerror(errno));
		return AIRLOCK_E_IO;
	}
	if ((*derlen = i2d_X509_CRL(crl, der)) <= 0)
		return AIRLOCK_E_CRYPTO;
	snprintf(name, sizeof(name), "%s-%llu.crl", crl_issuer_name(w), n);
	if ((r = home_write_new(h, "crl", name, *der, (size_t)*derlen, 0644)) !=
	    0)
		return r;
	if ((b = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_X509_CRL(b, crl) != 1) {
		BIO_free(b);
		return AIRLOCK_E_NOMEM;
	}
	BIO_get_mem_ptr(b, &bm);
	snprintf(name, sizeof(name), "%s-%llu.pem", crl_issuer_name(w), n);
	r = home_write_new(h, "crl", name, bm->data, bm->length, 0644);
	BIO_free(b);
	if (r == 0 && path_out != NULL &&
	    asprintf(path_out, "%s/crl/%s-%llu.crl", home_dir(h),
		     crl_issuer_name(w), n) < 0)
		*path_out = NULL;
	return r;
}

int
crl_make(struct issuer *is, enum crl_issuer which, long days,
	 unsigned long long *number, size_t *entries, char **path_out)
{
	struct home *h = issuer_get0_home(is);
	struct ledger *l = NULL;
	struct crl_scan sc;
	struct lint_result *lr = NULL;
	const struct profile *pr;
	X509 *ca = which == CRL_ROOT ? issuer_get0_root(is)
				     : issuer_get0_intermediate(is);
	EVP_PKEY *key =
	    which == CRL_ROOT ? issuer_get0_root_key(is) : issuer_get0_key(is);
	X509_CRL *crl = NULL;
	unsigned char *der = NULL, d[32];
	char hex[65];
	time_t now = time(NULL);
	int derlen = 0, i, r;

	*number = 0;
	*entries = 0;
	if (path_out != NULL)
		*path_out = NULL;
	pr = policy_find_kind(home_policy(h), which == CRL_ROOT
						  ? PROFILE_ROOT
						  : PROFILE_INTERMEDIATE);
	if (key == NULL || pr == NULL)
		return AIRLOCK_E_INTERNAL;
	if (days <= 0)
		days = profile_crl_days(pr);
	if (which == CRL_ROOT && days > 365) {
		err_detail_set("a root CRL may be valid for at most 365 days");
		return AIRLOCK_E_POLICY;
	}
	if ((r = crl_scan(h, &l, &sc)) != 0)
		goto out;
	/* also past every CRL file here: a ledger restored from the online
	 * replica may lack CRLs signed after the last export */
	*number = crl_max_file_number(h, which);
	if (*number < sc.max_number[which])
		*number = sc.max_number[which];
	(*number)++;
	/* write-ahead: the number is burned before the token signs */
	if ((r = crl_record(l, which, *number, "intent", NULL, 0,
			    issuer_network_note(is))) != 0)
		goto out;
	if ((crl = X509_CRL_new()) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	if ((r = crl_build(crl, ca, &sc, which, *number, now, days, entries)) !=
	    0)
		goto out;
	if (X509_CRL_sign(crl, key, certsign_md(X509_get0_pubkey(ca))) <= 0) {
		r = token_sign_error("C_Sign (CRL)");
		goto out;
	}
	if (X509_CRL_verify(crl, X509_get0_pubkey(ca)) != 1) {
		ERR_clear_error();
		err_detail_set("the CRL signature does not verify with the CA "
			       "certificate");
		r = AIRLOCK_E_CRYPTO;
		goto out;
	}
	if ((r = lint_crl_check(crl, ca, &lr)) != 0)
		goto out;
	if ((r = crl_write(h, which, *number, crl, &der, &derlen, path_out)) !=
	    0)
		goto out;
	EVP_Digest(der, (size_t)derlen, d, NULL, EVP_sha256(), NULL);
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	r = crl_record(l, which, *number, "issued", hex, *entries, NULL);
out:
	lint_result_free(lr);
	OPENSSL_free(der);
	X509_CRL_free(crl);
	crl_scan_free(&sc);
	return r;
}

int
crl_latest(struct home *h, enum crl_issuer which, unsigned char **der,
	   size_t *len, unsigned long long *number)
{
	struct ledger *l = NULL;
	struct crl_scan sc;
	unsigned char d[32];
	char name[80], hex[65];
	int i, r;

	*der = NULL;
	*len = 0;
	if ((r = crl_scan(h, &l, &sc)) != 0)
		goto out;
	if (sc.latest[which] == 0) {
		r = AIRLOCK_E_NOT_FOUND;
		goto out;
	}
	*number = sc.latest[which];
	snprintf(name, sizeof(name), "%s-%llu.crl", crl_issuer_name(which),
		 *number);
	if ((r = home_read(h, "crl", name, 16u << 20, der, len)) != 0)
		goto out;
	EVP_Digest(*der, *len, d, NULL, EVP_sha256(), NULL);
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	if (strcmp(hex, sc.latest_sha[which]) != 0) {
		err_detail_set("%s/crl/%s does not match the ledger's record",
			       home_dir(h), name);
		free(*der);
		*der = NULL;
		r = AIRLOCK_E_FORMAT;
		goto out;
	}
	r = 0;
out:
	crl_scan_free(&sc);
	return r;
}
