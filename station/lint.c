/* Certificate and CRL lints (SECURITY.md §1).
 *
 * Every lint is one static function named lint_<name> with the stable id
 * "e_<name>", listed once in LINT_CERT_LIST or LINT_CRL_LIST below. A lint
 * adds a finding for each offending value and returns 0, or returns a
 * negative code when it could not run (out of memory). Lints read the
 * objects through OpenSSL's decoders, never the cached extension flags
 * (X509_get_key_usage and friends), because the TBS is linted while it is
 * still being built.
 *
 * One fault, one id: when an extension is duplicated or undecodable only
 * e_ext_duplicate / e_ext_undecodable report it and the lints that read it
 * stay silent; a time that breaks the encoding rules is reported by
 * e_time_format / e_time_type only and is not compared with other times;
 * DNS names holding a NUL are reported by e_dns_nul only. */
#include <arpa/inet.h>
#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "station/lint.h"

/* Findings are capped so that a hostile input cannot grow the list without
 * bound; values quoted in a finding are cut after LINT_SHOW_MAX bytes. */
#define LINT_TEXT_MAX	  384
#define LINT_FINDINGS_MAX 64
#define LINT_SHOW_MAX	  64

/* Limits: serial and cRLNumber octets (RFC 5280 §4.1.2.2, §5.2.3), serial
 * entropy by length (64 bits, BR 7.1), DNS name and label lengths (RFC 1035
 * §2.3.4), RSA modulus bits, and how far ahead of now notBefore may be. */
#define RFC5280_SERIAL_MAX 20
#define LINT_SERIAL_MIN	   8
#define RFC5280_CRLNUM_MAX 20
#define DNS_NAME_MAX	   253
#define DNS_LABEL_MAX	   63
#define LINT_RSA_MIN	   2048
#define LINT_RSA_MAX	   8192
#define LINT_FUTURE_SLACK  86400

/* keyUsage bit numbers, RFC 5280 §4.2.1.3 (x509v3.h has masks as KU_*) */
enum {
	KUB_DIGITAL_SIGNATURE = 0,
	KUB_NON_REPUDIATION = 1,
	KUB_KEY_ENCIPHERMENT = 2,
	KUB_DATA_ENCIPHERMENT = 3,
	KUB_KEY_AGREEMENT = 4,
	KUB_KEY_CERT_SIGN = 5,
	KUB_CRL_SIGN = 6,
	KUB_ENCIPHER_ONLY = 7,
	KUB_DECIPHER_ONLY = 8,
	KUB_BITS = 9,
};

static const char *const ku_names[KUB_BITS] = {
    "digitalSignature", "nonRepudiation", "keyEncipherment",
    "dataEncipherment", "keyAgreement",	  "keyCertSign",
    "cRLSign",		"encipherOnly",	  "decipherOnly",
};

struct lint_finding {
	const char *id; /* static */
	char *text;
};

struct lint_result {
	struct lint_finding *v;
	size_t n;
	size_t cap;
};

struct lint_ctx {
	X509 *cert;
	X509 *issuer;
	X509_CRL *crl;
	const struct lint_params *p;
	struct lint_result *lr;
	const char *id; /* of the running lint */
};

/* ---- findings ---------------------------------------------------------- */

static int finding(struct lint_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), warn_unused_result));

static int
finding(struct lint_ctx *c, const char *fmt, ...)
{
	struct lint_result *lr = c->lr;
	struct lint_finding *nv;
	char buf[LINT_TEXT_MAX];
	va_list ap;
	size_t ncap;

	if (lr->n >= LINT_FINDINGS_MAX)
		return 0;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (lr->n == lr->cap) {
		ncap = lr->cap == 0 ? 8 : lr->cap * 2;
		if ((nv = realloc(lr->v, ncap * sizeof(*nv))) == NULL)
			return AIRLOCK_E_NOMEM;
		lr->v = nv;
		lr->cap = ncap;
	}
	if ((lr->v[lr->n].text = strdup(buf)) == NULL)
		return AIRLOCK_E_NOMEM;
	lr->v[lr->n].id = c->id;
	lr->n++;
	return 0;
}

/* Hex of B into OUT ("0x0102..."), cut with "..." when long. */
static void
show_hex(char *out, size_t outsz, const unsigned char *b, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	size_t i, o = 0;

	if (outsz < 8)
		return;
	out[o++] = '0';
	out[o++] = 'x';
	for (i = 0; i < n && o + 6 < outsz; i++) {
		out[o++] = hx[b[i] >> 4];
		out[o++] = hx[b[i] & 0x0f];
	}
	if (i < n) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/* Untrusted bytes B as printable ASCII: anything else (and the backslash)
 * becomes \xHH, so a finding never carries control or bidi characters. */
static void
show_str(char *out, size_t outsz, const unsigned char *b, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	size_t i, o = 0;

	if (outsz < 8)
		return;
	for (i = 0; i < n && i < LINT_SHOW_MAX && o + 8 < outsz; i++) {
		if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '\\') {
			out[o++] = (char)b[i];
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hx[b[i] >> 4];
			out[o++] = hx[b[i] & 0x0f];
		}
	}
	if (i < n) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

static void
show_asn1(char *out, size_t outsz, const ASN1_STRING *s)
{
	show_str(out, outsz, ASN1_STRING_get0_data(s),
		 (size_t)ASN1_STRING_length(s));
}

static const char *
obj_name(const ASN1_OBJECT *o, char *buf, size_t bufsz)
{
	int nid = OBJ_obj2nid(o);

	if (nid != NID_undef)
		return OBJ_nid2ln(nid);
	if (OBJ_obj2txt(buf, (int)bufsz, o, 1) <= 0)
		return "(unknown OID)";
	return buf;
}

/* An extension the lint wanted is duplicated (crit -2) or present but not
 * decodable: another lint reports that. */
static int
ext_reported_elsewhere(const void *v, int crit)
{
	return v == NULL && crit != -1;
}

/* ---- serial numbers and INTEGERs ----------------------------------------- */

/* The magnitude of A without leading zero octets. */
static void
int_magnitude(const ASN1_INTEGER *a, const unsigned char **d, size_t *n)
{
	*d = ASN1_STRING_get0_data(a);
	*n = (size_t)ASN1_STRING_length(a);
	while (*n > 0 && (*d)[0] == 0) {
		(*d)++;
		(*n)--;
	}
}

/* Number of content octets of A's DER encoding. */
static int
int_content_octets(const ASN1_INTEGER *a, size_t *out)
{
	unsigned char *der = NULL;
	const unsigned char *q;
	long clen = 0;
	int len, tag, xclass, r = AIRLOCK_E_CRYPTO;

	*out = 0;
	if ((len = i2d_ASN1_INTEGER(a, &der)) <= 0)
		goto out;
	q = der;
	if (ASN1_get_object(&q, &clen, &tag, &xclass, len) & 0x80)
		goto out;
	*out = (size_t)clen;
	r = 0;
out:
	OPENSSL_free(der);
	return r;
}

static int
int_is_positive(const ASN1_INTEGER *a)
{
	const unsigned char *d;
	size_t n;

	int_magnitude(a, &d, &n);
	return ASN1_STRING_type(a) == V_ASN1_INTEGER && n > 0;
}

static void
show_int(char *out, size_t outsz, const ASN1_INTEGER *a)
{
	const unsigned char *d;
	size_t n;
	int neg = ASN1_STRING_type(a) == V_ASN1_NEG_INTEGER;
	static const unsigned char zero = 0;

	int_magnitude(a, &d, &n);
	if (n == 0) {
		d = &zero;
		n = 1;
	}
	if (neg && outsz > 1) {
		out[0] = '-';
		show_hex(out + 1, outsz - 1, d, n);
	} else {
		show_hex(out, outsz, d, n);
	}
}

static int
lint_serial_not_positive(struct lint_ctx *c)
{
	const ASN1_INTEGER *s = X509_get0_serialNumber(c->cert);
	char v[64];

	if (int_is_positive(s))
		return 0;
	show_int(v, sizeof(v), s);
	return finding(c, "serial %s is not positive", v);
}

static int
lint_serial_too_long(struct lint_ctx *c)
{
	const ASN1_INTEGER *s = X509_get0_serialNumber(c->cert);
	char v[64];
	size_t n;
	int r;

	if ((r = int_content_octets(s, &n)) != 0)
		return r;
	if (n <= RFC5280_SERIAL_MAX)
		return 0;
	show_int(v, sizeof(v), s);
	return finding(c, "serial %s is %zu octets; at most %d are allowed", v,
		       n, RFC5280_SERIAL_MAX);
}

/* By length: airlock draws 16 random octets, so fewer than 8 significant
 * octets means the serial was not drawn that way. Non-positive serials are
 * e_serial_not_positive's. */
static int
lint_serial_low_entropy(struct lint_ctx *c)
{
	const ASN1_INTEGER *s = X509_get0_serialNumber(c->cert);
	const unsigned char *d;
	char v[64];
	size_t n;

	if (!int_is_positive(s))
		return 0;
	int_magnitude(s, &d, &n);
	if (n >= LINT_SERIAL_MIN)
		return 0;
	show_int(v, sizeof(v), s);
	return finding(c,
		       "serial %s has %zu significant octets; at least %d "
		       "random octets (64 bits) are needed",
		       v, n, LINT_SERIAL_MIN);
}

static int
lint_version_not_v3(struct lint_ctx *c)
{
	long v = X509_get_version(c->cert);

	if (v == X509_VERSION_3)
		return 0;
	return finding(c, "version is v%ld; v3 is required", v + 1);
}

/* ---- names ----------------------------------------------------------------
 */

/* Compare the DER of two names byte for byte (not X509_NAME_cmp, which
 * canonicalises): chain building and CRL matching use the bytes. */
static int
name_bytes_check(struct lint_ctx *c, const char *what, const X509_NAME *got,
		 const X509_NAME *want)
{
	unsigned char *g = NULL, *w = NULL;
	char gs[200], ws[200];
	int gl, wl, r = AIRLOCK_E_CRYPTO;

	if ((gl = i2d_X509_NAME(got, &g)) < 0 ||
	    (wl = i2d_X509_NAME(want, &w)) < 0)
		goto out;
	r = 0;
	if (gl == wl && memcmp(g, w, (size_t)gl) == 0)
		goto out;
	X509_NAME_oneline(got, gs, sizeof(gs));
	X509_NAME_oneline(want, ws, sizeof(ws));
	r = finding(c,
		    "%s name %s (%d octets) differs from the CA subject %s "
		    "(%d octets) byte for byte%s",
		    what, gs, gl, ws, wl,
		    strcmp(gs, ws) == 0 ? " (same text, other string types)"
					: "");
out:
	OPENSSL_free(g);
	OPENSSL_free(w);
	return r;
}

static int
lint_issuer_name_mismatch(struct lint_ctx *c)
{
	return name_bytes_check(c, "issuer", X509_get_issuer_name(c->cert),
				X509_get_subject_name(c->issuer));
}

/* ---- signature algorithms -------------------------------------------------
 */

static int
algor_der_equal(const X509_ALGOR *a, const unsigned char *bder, int blen,
		int *equal)
{
	unsigned char *ad = NULL;
	int alen;

	*equal = 0;
	if ((alen = i2d_X509_ALGOR(a, &ad)) < 0)
		return AIRLOCK_E_CRYPTO;
	*equal = alen == blen && memcmp(ad, bder, (size_t)alen) == 0;
	OPENSSL_free(ad);
	return 0;
}

static int
sig_alg_mismatch_check(struct lint_ctx *c, const X509_ALGOR *inner_alg,
		       const unsigned char *inner, int inner_len,
		       const X509_ALGOR *outer)
{
	const ASN1_OBJECT *io = NULL, *oo = NULL;
	char ib[80], ob[80];
	int equal, r;

	if ((r = algor_der_equal(outer, inner, inner_len, &equal)) != 0)
		return r;
	if (equal)
		return 0;
	X509_ALGOR_get0(&oo, NULL, NULL, outer);
	if (inner_alg != NULL) {
		X509_ALGOR_get0(&io, NULL, NULL, inner_alg);
		return finding(c,
			       "TBS signature algorithm %s differs from the "
			       "outer signatureAlgorithm %s",
			       obj_name(io, ib, sizeof(ib)),
			       obj_name(oo, ob, sizeof(ob)));
	}
	return finding(c,
		       "TBS signature algorithm differs from the outer "
		       "signatureAlgorithm %s",
		       obj_name(oo, ob, sizeof(ob)));
}

static int
lint_sig_alg_mismatch(struct lint_ctx *c)
{
	const X509_ALGOR *inner = X509_get0_tbs_sigalg(c->cert), *outer = NULL;
	unsigned char *ider = NULL;
	int ilen, r;

	X509_get0_signature(NULL, &outer, c->cert);
	if ((ilen = i2d_X509_ALGOR(inner, &ider)) < 0)
		return AIRLOCK_E_CRYPTO;
	r = sig_alg_mismatch_check(c, inner, ider, ilen, outer);
	OPENSSL_free(ider);
	return r;
}

/* Allowed: PKCS #1 v1.5 with SHA-2 (parameters NULL, RFC 4055 §5) and ECDSA
 * with SHA-2 (parameters absent, RFC 5758 §3.2). No SHA-1, no MD5. Returns
 * NULL when allowed, else why not. */
static const char *
sig_alg_refusal(const X509_ALGOR *alg)
{
	const ASN1_OBJECT *o = NULL;
	int ptype = V_ASN1_UNDEF;

	X509_ALGOR_get0(&o, &ptype, NULL, alg);
	switch (OBJ_obj2nid(o)) {
	case NID_sha256WithRSAEncryption:
	case NID_sha384WithRSAEncryption:
	case NID_sha512WithRSAEncryption:
		return ptype == V_ASN1_NULL ? NULL : "parameters must be NULL";
	case NID_ecdsa_with_SHA256:
	case NID_ecdsa_with_SHA384:
	case NID_ecdsa_with_SHA512:
		return ptype == V_ASN1_UNDEF ? NULL
					     : "parameters must be absent";
	default:
		return "not an allowed algorithm (RSA or ECDSA with SHA-2)";
	}
}

static int
sig_alg_allowed_check(struct lint_ctx *c, const X509_ALGOR *inner,
		      const X509_ALGOR *outer)
{
	const ASN1_OBJECT *o = NULL;
	const char *why;
	char b[80];
	int r = 0;

	if ((why = sig_alg_refusal(outer)) != NULL) {
		X509_ALGOR_get0(&o, NULL, NULL, outer);
		r = finding(c, "signature algorithm %s: %s",
			    obj_name(o, b, sizeof(b)), why);
	}
	if (r == 0 && inner != NULL && X509_ALGOR_cmp(inner, outer) != 0 &&
	    (why = sig_alg_refusal(inner)) != NULL) {
		X509_ALGOR_get0(&o, NULL, NULL, inner);
		r = finding(c, "TBS signature algorithm %s: %s",
			    obj_name(o, b, sizeof(b)), why);
	}
	return r;
}

static int
lint_sig_alg_not_allowed(struct lint_ctx *c)
{
	const X509_ALGOR *outer = NULL;

	X509_get0_signature(NULL, &outer, c->cert);
	return sig_alg_allowed_check(c, X509_get0_tbs_sigalg(c->cert), outer);
}

/* The signature algorithm must be one the issuer's key can make. */
static int
lint_sig_alg_key_mismatch(struct lint_ctx *c)
{
	const ASN1_OBJECT *o = NULL;
	EVP_PKEY *ik = X509_get0_pubkey(c->issuer);
	int md_nid, pk_nid, ik_nid;
	char b[80];

	X509_ALGOR_get0(&o, NULL, NULL, X509_get0_tbs_sigalg(c->cert));
	if (ik == NULL ||
	    !OBJ_find_sigid_algs(OBJ_obj2nid(o), &md_nid, &pk_nid))
		return 0; /* e_sig_alg_not_allowed reports unknown ones */
	ik_nid = EVP_PKEY_get_base_id(ik);
	if (ik_nid == pk_nid)
		return 0;
	return finding(c,
		       "signature algorithm %s does not fit the issuer's %s "
		       "key",
		       obj_name(o, b, sizeof(b)), OBJ_nid2sn(ik_nid));
}

/* ---- extensions in general ------------------------------------------------
 */

static int
ext_duplicate_check(struct lint_ctx *c, const STACK_OF(X509_EXTENSION) * exts)
{
	const ASN1_OBJECT *oi, *oj;
	char b[80];
	int i, j, n = sk_X509_EXTENSION_num(exts), r = 0;

	for (i = 0; i < n && r == 0; i++) {
		oi =
		    X509_EXTENSION_get_object(sk_X509_EXTENSION_value(exts, i));
		for (j = 0; j < i; j++) {
			oj = X509_EXTENSION_get_object(
			    sk_X509_EXTENSION_value(exts, j));
			if (OBJ_cmp(oi, oj) == 0)
				break;
		}
		if (j < i) /* RFC 5280 §4.2: at most one instance */
			r = finding(c, "extension %s appears more than once",
				    obj_name(oi, b, sizeof(b)));
	}
	return r;
}

static int
lint_ext_duplicate(struct lint_ctx *c)
{
	return ext_duplicate_check(c, X509_get0_extensions(c->cert));
}

/* A known extension must decode, and re-encode to the same bytes (DER,
 * nothing trailing). */
static int
ext_decodes(X509_EXTENSION *ext)
{
	const X509V3_EXT_METHOD *m = X509V3_EXT_get(ext);
	ASN1_OCTET_STRING *data = X509_EXTENSION_get_data(ext);
	unsigned char *der = NULL;
	void *v;
	int len, ok;

	if (m == NULL)
		return 1; /* unknown: e_ext_unknown_critical's business */
	if ((v = X509V3_EXT_d2i(ext)) == NULL)
		return 0;
	if (m->it == NULL) {
		m->ext_free(v);
		return 1;
	}
	len = ASN1_item_i2d(v, &der, ASN1_ITEM_ptr(m->it));
	ok = len >= 0 && len == ASN1_STRING_length(data) &&
	     memcmp(der, ASN1_STRING_get0_data(data), (size_t)len) == 0;
	OPENSSL_free(der);
	ASN1_item_free(v, ASN1_ITEM_ptr(m->it));
	return ok;
}

static int
lint_ext_undecodable(struct lint_ctx *c)
{
	const STACK_OF(X509_EXTENSION) *exts = X509_get0_extensions(c->cert);
	X509_EXTENSION *ext;
	char b[80];
	int i, r = 0;

	for (i = 0; i < sk_X509_EXTENSION_num(exts) && r == 0; i++) {
		ext = sk_X509_EXTENSION_value(exts, i);
		if (!ext_decodes(ext))
			r = finding(c, "extension %s is not valid DER",
				    obj_name(X509_EXTENSION_get_object(ext), b,
					     sizeof(b)));
	}
	return r;
}

/* RFC 5280 §4.2: a verifier must reject a critical extension it does not
 * know; issuing one makes a certificate nobody can use. */
static int
lint_ext_unknown_critical(struct lint_ctx *c)
{
	const STACK_OF(X509_EXTENSION) *exts = X509_get0_extensions(c->cert);
	X509_EXTENSION *ext;
	char b[80];
	int i, r = 0;

	for (i = 0; i < sk_X509_EXTENSION_num(exts) && r == 0; i++) {
		ext = sk_X509_EXTENSION_value(exts, i);
		if (X509_EXTENSION_get_critical(ext) &&
		    !X509_supported_extension(ext))
			r = finding(c,
				    "critical extension %s is not one "
				    "verifiers know",
				    obj_name(X509_EXTENSION_get_object(ext), b,
					     sizeof(b)));
	}
	return r;
}

/* ---- subjectAltName and CN ------------------------------------------------
 */

static const char *
gen_type_name(int type)
{
	switch (type) {
	case GEN_OTHERNAME:
		return "otherName";
	case GEN_EMAIL:
		return "rfc822Name";
	case GEN_DNS:
		return "dNSName";
	case GEN_X400:
		return "x400Address";
	case GEN_DIRNAME:
		return "directoryName";
	case GEN_EDIPARTY:
		return "ediPartyName";
	case GEN_URI:
		return "uniformResourceIdentifier";
	case GEN_IPADD:
		return "iPAddress";
	case GEN_RID:
		return "registeredID";
	default:
		return "unknown";
	}
}

static int
lint_leaf_san_missing(struct lint_ctx *c)
{
	GENERAL_NAMES *gens;
	int crit, n;

	if (c->p->is_ca || c->p->signer)
		return 0;
	gens = X509_get_ext_d2i(c->cert, NID_subject_alt_name, &crit, NULL);
	if (ext_reported_elsewhere(gens, crit))
		return 0;
	n = gens == NULL ? -1 : sk_GENERAL_NAME_num(gens);
	GENERAL_NAMES_free(gens);
	if (n > 0)
		return 0;
	return finding(c, n < 0 ? "subjectAltName is missing"
				: "subjectAltName is empty");
}

static int
lint_leaf_san_type(struct lint_ctx *c)
{
	GENERAL_NAMES *gens;
	GENERAL_NAME *g;
	int crit, i, r = 0;

	if (c->p->is_ca)
		return 0;
	gens = X509_get_ext_d2i(c->cert, NID_subject_alt_name, &crit, NULL);
	for (i = 0; i < sk_GENERAL_NAME_num(gens) && r == 0; i++) {
		g = sk_GENERAL_NAME_value(gens, i);
		if (g->type != GEN_DNS && g->type != GEN_IPADD)
			r = finding(c,
				    "subjectAltName entry %d is a %s; only "
				    "dNSName and iPAddress are allowed",
				    i + 1, gen_type_name(g->type));
	}
	GENERAL_NAMES_free(gens);
	return r;
}

static int
ascii_lower(int ch)
{
	return ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch;
}

/* CN (UTF-8, LEN octets) equals a dNSName (ASCII case-insensitively) or the
 * textual form of an iPAddress (BR 7.1.4.3). */
static int
cn_in_sans(const unsigned char *cn, size_t len, const GENERAL_NAMES *gens)
{
	const GENERAL_NAME *g;
	const unsigned char *d;
	char ip[INET6_ADDRSTRLEN];
	size_t n, k;
	int i;

	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		g = sk_GENERAL_NAME_value(gens, i);
		if (g->type == GEN_DNS) {
			d = ASN1_STRING_get0_data(g->d.dNSName);
			n = (size_t)ASN1_STRING_length(g->d.dNSName);
			if (n != len)
				continue;
			for (k = 0; k < n; k++)
				if (ascii_lower(d[k]) != ascii_lower(cn[k]))
					break;
			if (k == n)
				return 1;
		} else if (g->type == GEN_IPADD) {
			n = (size_t)ASN1_STRING_length(g->d.iPAddress);
			d = ASN1_STRING_get0_data(g->d.iPAddress);
			if ((n != 4 && n != 16) ||
			    inet_ntop(n == 4 ? AF_INET : AF_INET6, d, ip,
				      sizeof(ip)) == NULL)
				continue;
			if (strlen(ip) == len && memcmp(ip, cn, len) == 0)
				return 1;
		}
	}
	return 0;
}

static int
lint_leaf_cn_not_in_san(struct lint_ctx *c)
{
	X509_NAME *subj = X509_get_subject_name(c->cert);
	GENERAL_NAMES *gens = NULL;
	unsigned char *u = NULL;
	char v[LINT_SHOW_MAX * 4 + 8];
	int crit, i = -1, ulen, r = 0;

	if (c->p->is_ca || c->p->signer)
		return 0;
	gens = X509_get_ext_d2i(c->cert, NID_subject_alt_name, &crit, NULL);
	if (sk_GENERAL_NAME_num(gens) <= 0)
		goto out; /* e_leaf_san_missing or e_ext_* report it */
	while (r == 0 &&
	       (i = X509_NAME_get_index_by_NID(subj, NID_commonName, i)) >= 0) {
		ulen = ASN1_STRING_to_UTF8(
		    &u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i)));
		if (ulen < 0) {
			r = finding(c, "subject CN is not a valid string");
		} else if (!cn_in_sans(u, (size_t)ulen, gens)) {
			show_str(v, sizeof(v), u, (size_t)ulen);
			r = finding(c,
				    "subject CN '%s' is not one of the "
				    "subjectAltNames",
				    v);
		}
		OPENSSL_free(u);
		u = NULL;
	}
out:
	GENERAL_NAMES_free(gens);
	return r;
}

/* ---- DNS names in subjectAltName (RFC 1035 §2.3.1, RFC 5890, BR 7.1.2) -- */

static int
san_dns_each(struct lint_ctx *c, int with_nul,
	     int (*check)(struct lint_ctx *, const unsigned char *, size_t))
{
	GENERAL_NAMES *gens;
	GENERAL_NAME *g;
	const unsigned char *d;
	size_t n;
	int crit, i, r = 0;

	gens = X509_get_ext_d2i(c->cert, NID_subject_alt_name, &crit, NULL);
	for (i = 0; i < sk_GENERAL_NAME_num(gens) && r == 0; i++) {
		g = sk_GENERAL_NAME_value(gens, i);
		if (g->type != GEN_DNS)
			continue;
		d = ASN1_STRING_get0_data(g->d.dNSName);
		n = (size_t)ASN1_STRING_length(g->d.dNSName);
		if (!with_nul && memchr(d, 0, n) != NULL)
			continue;
		r = check(c, d, n);
	}
	GENERAL_NAMES_free(gens);
	return r;
}

/* Length of NAME without one trailing dot (e_dns_trailing_dot's). */
static size_t
dns_body_len(const unsigned char *d, size_t n)
{
	return n > 0 && d[n - 1] == '.' ? n - 1 : n;
}

/* Next label of the body D[0..N) from *POS; 0 when done. An empty body has
 * one empty label. */
static int
dns_label_next(const unsigned char *d, size_t n, size_t *pos,
	       const unsigned char **lp, size_t *ln)
{
	size_t e;

	if (*pos > n)
		return 0;
	for (e = *pos; e < n && d[e] != '.'; e++)
		;
	*lp = d + *pos;
	*ln = e - *pos;
	*pos = e + 1;
	return 1;
}

static int
dns_finding(struct lint_ctx *c, const unsigned char *d, size_t n,
	    const char *what)
{
	char v[LINT_SHOW_MAX * 4 + 8];

	show_str(v, sizeof(v), d, n);
	return finding(c, "dNSName '%s' %s", v, what);
}

static int
dns_nul(struct lint_ctx *c, const unsigned char *d, size_t n)
{
	if (memchr(d, 0, n) == NULL)
		return 0;
	return dns_finding(c, d, n, "holds a NUL octet");
}

static int
dns_bad_char(struct lint_ctx *c, const unsigned char *d, size_t n)
{
	size_t i;
	int ch;

	for (i = 0; i < n; i++) {
		ch = d[i];
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
		    ch == '*')
			continue;
		return dns_finding(c, d, n,
				   "has a character other than letters, "
				   "digits and hyphen");
	}
	return 0;
}

static int
dns_hyphen(struct lint_ctx *c, const unsigned char *d, size_t n)
{
	const unsigned char *l;
	size_t pos = 0, ln, body = dns_body_len(d, n);

	while (dns_label_next(d, body, &pos, &l, &ln))
		if (ln > 0 && (l[0] == '-' || l[ln - 1] == '-'))
			return dns_finding(c, d, n,
					   "has a label starting or ending "
					   "with a hyphen");
	return 0;
}

/* RFC 5891 §4.2.3.1: "--" in the third and fourth positions is reserved;
 * only the A-label prefix "xn--" may use it. */
static int
dns_reserved_label(struct lint_ctx *c, const unsigned char *d, size_t n)
{
	const unsigned char *l;
	size_t pos = 0, ln, body = dns_body_len(d, n);

	while (dns_label_next(d, body, &pos, &l, &ln))
		if (ln >= 4 && l[2] == '-' && l[3] == '-' &&
		    !(ascii_lower(l[0]) == 'x' && ascii_lower(l[1]) == 'n'))
			return dns_finding(c, d, n,
					   "has a reserved label (\"--\" in "
					   "positions 3-4 that is not xn--)");
	return 0;
}

static int
dns_trailing_dot(struct lint_ctx *c, const unsigned char *d, size_t n)
{
	if (n == 0 || d[n - 1] != '.')
		return 0;
	return dns_finding(c, d, n, "ends with a dot");
}

static int
dns_empty_label(struct lint_ctx *c, const unsigned char *d, size_t n)
{
	const unsigned char *l;
	size_t pos = 0, ln, body = dns_body_len(d, n);

	while (dns_label_next(d, body, &pos, &l, &ln))
		if (ln == 0)
			return dns_finding(c, d, n, "has an empty label");
	return 0;
}

static int
dns_too_long(struct lint_ctx *c, const unsigned char *d, size_t n)
{
	char what[96];

	if (dns_body_len(d, n) <= DNS_NAME_MAX)
		return 0;
	snprintf(what, sizeof(what), "is %zu octets; at most %d are allowed",
		 dns_body_len(d, n), DNS_NAME_MAX);
	return dns_finding(c, d, n, what);
}

static int
dns_label_too_long(struct lint_ctx *c, const unsigned char *d, size_t n)
{
	const unsigned char *l;
	size_t pos = 0, ln, body = dns_body_len(d, n);
	char what[96];

	while (dns_label_next(d, body, &pos, &l, &ln)) {
		if (ln <= DNS_LABEL_MAX)
			continue;
		snprintf(what, sizeof(what),
			 "has a label of %zu octets; at most %d are allowed",
			 ln, DNS_LABEL_MAX);
		return dns_finding(c, d, n, what);
	}
	return 0;
}

/* A wildcard is only ever the whole leftmost label (BR 1.6.1 "Wildcard
 * Domain Name"). */
static int
dns_wildcard_position(struct lint_ctx *c, const unsigned char *d, size_t n)
{
	const unsigned char *l;
	size_t pos = 0, ln, idx = 0, body = dns_body_len(d, n);

	for (; dns_label_next(d, body, &pos, &l, &ln); idx++) {
		if (memchr(l, '*', ln) == NULL)
			continue;
		if (idx == 0 && ln == 1)
			continue;
		return dns_finding(c, d, n,
				   "has a wildcard that is not the whole "
				   "leftmost label");
	}
	return 0;
}

/* "*.tld" (or a bare "*") covers a whole top-level domain. */
static int
dns_wildcard_tld(struct lint_ctx *c, const unsigned char *d, size_t n)
{
	const unsigned char *l;
	size_t pos = 0, ln, labels = 0, body = dns_body_len(d, n);

	if (body < 1 || d[0] != '*' || (body > 1 && d[1] != '.'))
		return 0;
	while (dns_label_next(d, body, &pos, &l, &ln))
		labels++;
	if (labels > 2)
		return 0;
	return dns_finding(c, d, n,
			   "is a wildcard over a top-level domain or less");
}

#define DNS_LINT(name, nul)                                                    \
	static int lint_dns_##name(struct lint_ctx *c)                         \
	{                                                                      \
		return san_dns_each(c, nul, dns_##name);                       \
	}
DNS_LINT(nul, 1)
DNS_LINT(bad_char, 0)
DNS_LINT(hyphen, 0)
DNS_LINT(reserved_label, 0)
DNS_LINT(trailing_dot, 0)
DNS_LINT(empty_label, 0)
DNS_LINT(too_long, 0)
DNS_LINT(label_too_long, 0)
DNS_LINT(wildcard_position, 0)
DNS_LINT(wildcard_tld, 0)
#undef DNS_LINT

static int
lint_ip_length(struct lint_ctx *c)
{
	GENERAL_NAMES *gens;
	GENERAL_NAME *g;
	char v[LINT_SHOW_MAX * 2 + 8];
	int crit, i, len, r = 0;

	gens = X509_get_ext_d2i(c->cert, NID_subject_alt_name, &crit, NULL);
	for (i = 0; i < sk_GENERAL_NAME_num(gens) && r == 0; i++) {
		g = sk_GENERAL_NAME_value(gens, i);
		if (g->type != GEN_IPADD)
			continue;
		len = ASN1_STRING_length(g->d.iPAddress);
		if (len == 4 || len == 16)
			continue;
		show_hex(v, sizeof(v), ASN1_STRING_get0_data(g->d.iPAddress),
			 (size_t)len);
		r = finding(c,
			    "iPAddress %s is %d octets; IPv4 is 4 and IPv6 "
			    "16",
			    v, len);
	}
	GENERAL_NAMES_free(gens);
	return r;
}

/* ---- basicConstraints, keyUsage, extendedKeyUsage ------------------------ */

static int
lint_leaf_bc_ca(struct lint_ctx *c)
{
	BASIC_CONSTRAINTS *bc;
	int crit, ca;

	if (c->p->is_ca)
		return 0;
	bc = X509_get_ext_d2i(c->cert, NID_basic_constraints, &crit, NULL);
	ca = bc != NULL && bc->ca;
	BASIC_CONSTRAINTS_free(bc);
	if (!ca)
		return 0;
	return finding(c, "leaf basicConstraints has CA:TRUE");
}

static int
lint_leaf_bc_path_len(struct lint_ctx *c)
{
	BASIC_CONSTRAINTS *bc;
	int crit, r = 0;

	if (c->p->is_ca)
		return 0;
	bc = X509_get_ext_d2i(c->cert, NID_basic_constraints, &crit, NULL);
	if (bc != NULL && bc->pathlen != NULL)
		r = finding(c,
			    "leaf basicConstraints has pathLenConstraint "
			    "%ld",
			    ASN1_INTEGER_get(bc->pathlen));
	BASIC_CONSTRAINTS_free(bc);
	return r;
}

static int
lint_leaf_ku_cert_sign(struct lint_ctx *c)
{
	ASN1_BIT_STRING *ku;
	int crit, r = 0;

	if (c->p->is_ca)
		return 0;
	ku = X509_get_ext_d2i(c->cert, NID_key_usage, &crit, NULL);
	if (ku != NULL && ASN1_BIT_STRING_get_bit(ku, KUB_KEY_CERT_SIGN))
		r = finding(c, "leaf keyUsage has keyCertSign");
	if (r == 0 && ku != NULL && ASN1_BIT_STRING_get_bit(ku, KUB_CRL_SIGN))
		r = finding(c, "leaf keyUsage has cRLSign");
	ASN1_BIT_STRING_free(ku);
	return r;
}

static int
lint_leaf_eku_missing(struct lint_ctx *c)
{
	EXTENDED_KEY_USAGE *eku;
	int crit, n;

	if (c->p->is_ca)
		return 0;
	eku = X509_get_ext_d2i(c->cert, NID_ext_key_usage, &crit, NULL);
	if (ext_reported_elsewhere(eku, crit))
		return 0;
	n = eku == NULL ? -1 : sk_ASN1_OBJECT_num(eku);
	EXTENDED_KEY_USAGE_free(eku);
	if (n > 0)
		return 0;
	return finding(c, n < 0 ? "leaf has no extendedKeyUsage"
				: "leaf extendedKeyUsage is empty");
}

static int
lint_leaf_eku_any(struct lint_ctx *c)
{
	EXTENDED_KEY_USAGE *eku;
	int crit, i, r = 0;

	if (c->p->is_ca)
		return 0;
	eku = X509_get_ext_d2i(c->cert, NID_ext_key_usage, &crit, NULL);
	for (i = 0; i < sk_ASN1_OBJECT_num(eku) && r == 0; i++)
		if (OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i)) ==
		    NID_anyExtendedKeyUsage)
			r = finding(c, "leaf extendedKeyUsage has "
				       "anyExtendedKeyUsage");
	EXTENDED_KEY_USAGE_free(eku);
	return r;
}

/* keyUsage bits must fit the certificate and its key (RFC 5280 §4.2.1.3,
 * RFC 8813 §3): a leaf RSA key signs and/or is encrypted to
 * (digitalSignature, keyEncipherment), a leaf EC key signs and/or agrees
 * (digitalSignature, keyAgreement) and never has keyEncipherment; a CA signs
 * (digitalSignature, keyCertSign, cRLSign). keyCertSign and cRLSign on a
 * leaf are e_leaf_ku_cert_sign's. */
static int
lint_ku_bit_not_allowed(struct lint_ctx *c)
{
	ASN1_BIT_STRING *ku;
	EVP_PKEY *pk = X509_get0_pubkey(c->cert);
	const char *whom;
	int crit, bit, allowed, any = 0, r = 0, type;

	type = pk != NULL ? EVP_PKEY_get_base_id(pk) : EVP_PKEY_NONE;
	if (c->p->is_ca) {
		allowed = 1 << KUB_DIGITAL_SIGNATURE | 1 << KUB_KEY_CERT_SIGN |
			  1 << KUB_CRL_SIGN;
		whom = "a CA certificate";
	} else if (type == EVP_PKEY_RSA) {
		allowed = 1 << KUB_DIGITAL_SIGNATURE |
			  1 << KUB_KEY_ENCIPHERMENT | 1 << KUB_KEY_CERT_SIGN |
			  1 << KUB_CRL_SIGN;
		whom = "an RSA key";
	} else if (type == EVP_PKEY_EC) {
		allowed = 1 << KUB_DIGITAL_SIGNATURE | 1 << KUB_KEY_AGREEMENT |
			  1 << KUB_KEY_CERT_SIGN | 1 << KUB_CRL_SIGN;
		whom = "an EC key";
	} else {
		return 0; /* e_key_type reports the key */
	}
	ku = X509_get_ext_d2i(c->cert, NID_key_usage, &crit, NULL);
	if (ku == NULL)
		return 0;
	for (bit = 0; bit < KUB_BITS && r == 0; bit++) {
		if (!ASN1_BIT_STRING_get_bit(ku, bit))
			continue;
		any = 1;
		if (!(allowed & 1 << bit))
			r = finding(c, "keyUsage %s is not allowed for %s",
				    ku_names[bit], whom);
	}
	if (r == 0 && !any)
		r = finding(c, "keyUsage has no bits set");
	ASN1_BIT_STRING_free(ku);
	return r;
}

/* CA basicConstraints, RFC 5280 §4.2.1.9: present, critical, cA TRUE. */
static BASIC_CONSTRAINTS *
ca_bc_get(struct lint_ctx *c, int *crit)
{
	*crit = -1;
	if (!c->p->is_ca)
		return NULL;
	return X509_get_ext_d2i(c->cert, NID_basic_constraints, crit, NULL);
}

static int
lint_ca_bc_missing(struct lint_ctx *c)
{
	int crit;
	BASIC_CONSTRAINTS *bc = ca_bc_get(c, &crit);

	BASIC_CONSTRAINTS_free(bc);
	/* crit is -2 (duplicated) or 0/1 (undecodable) when present */
	if (!c->p->is_ca || crit != -1)
		return 0;
	return finding(c, "CA certificate has no basicConstraints");
}

static int
lint_ca_bc_not_ca(struct lint_ctx *c)
{
	int crit, r = 0;
	BASIC_CONSTRAINTS *bc = ca_bc_get(c, &crit);

	if (bc != NULL && !bc->ca)
		r = finding(c, "CA certificate has basicConstraints CA:FALSE");
	BASIC_CONSTRAINTS_free(bc);
	return r;
}

static int
lint_ca_bc_not_critical(struct lint_ctx *c)
{
	int crit, r = 0;
	BASIC_CONSTRAINTS *bc = ca_bc_get(c, &crit);

	if (bc != NULL && crit == 0)
		r = finding(c, "CA basicConstraints is not critical");
	BASIC_CONSTRAINTS_free(bc);
	return r;
}

static int
lint_ca_path_len(struct lint_ctx *c)
{
	int crit, r = 0;
	BASIC_CONSTRAINTS *bc = ca_bc_get(c, &crit);
	long got;

	if (bc == NULL || !bc->ca)
		goto out;
	if (bc->pathlen == NULL) {
		if (c->p->path_len >= 0)
			r = finding(c,
				    "pathLenConstraint is absent; the profile "
				    "wants %d",
				    c->p->path_len);
		goto out;
	}
	got = ASN1_INTEGER_get(bc->pathlen);
	if (c->p->path_len < 0)
		r = finding(c, "pathLenConstraint is %ld; the profile has none",
			    got);
	else if (got != c->p->path_len ||
		 ASN1_STRING_type(bc->pathlen) != V_ASN1_INTEGER)
		r = finding(c, "pathLenConstraint is %ld; the profile wants %d",
			    got, c->p->path_len);
out:
	BASIC_CONSTRAINTS_free(bc);
	return r;
}

static ASN1_BIT_STRING *
ca_ku_get(struct lint_ctx *c, int *crit)
{
	*crit = -1;
	if (!c->p->is_ca)
		return NULL;
	return X509_get_ext_d2i(c->cert, NID_key_usage, crit, NULL);
}

static int
lint_ca_ku_missing(struct lint_ctx *c)
{
	int crit;
	ASN1_BIT_STRING *ku = ca_ku_get(c, &crit);

	ASN1_BIT_STRING_free(ku);
	if (!c->p->is_ca || ku != NULL || crit != -1)
		return 0;
	return finding(c, "CA certificate has no keyUsage");
}

static int
lint_ca_ku_not_critical(struct lint_ctx *c)
{
	int crit, r = 0;
	ASN1_BIT_STRING *ku = ca_ku_get(c, &crit);

	if (ku != NULL && crit == 0)
		r = finding(c, "CA keyUsage is not critical");
	ASN1_BIT_STRING_free(ku);
	return r;
}

static int
lint_ca_ku_sign_bits(struct lint_ctx *c)
{
	int crit, r = 0;
	ASN1_BIT_STRING *ku = ca_ku_get(c, &crit);

	if (ku != NULL && !ASN1_BIT_STRING_get_bit(ku, KUB_KEY_CERT_SIGN))
		r = finding(c, "CA keyUsage lacks keyCertSign");
	if (r == 0 && ku != NULL && !ASN1_BIT_STRING_get_bit(ku, KUB_CRL_SIGN))
		r = finding(c, "CA keyUsage lacks cRLSign");
	ASN1_BIT_STRING_free(ku);
	return r;
}

/* ---- key identifiers (RFC 5280 §4.2.1.1, §4.2.1.2) ------------------------
 */

static int
lint_ca_ski_missing(struct lint_ctx *c)
{
	ASN1_OCTET_STRING *ski;
	int crit, len;

	if (!c->p->is_ca)
		return 0;
	ski =
	    X509_get_ext_d2i(c->cert, NID_subject_key_identifier, &crit, NULL);
	if (ext_reported_elsewhere(ski, crit))
		return 0;
	len = ski != NULL ? ASN1_STRING_length(ski) : -1;
	ASN1_OCTET_STRING_free(ski);
	if (len > 0)
		return 0;
	return finding(c, len < 0 ? "CA certificate has no subjectKeyIdentifier"
				  : "CA subjectKeyIdentifier is empty");
}

static int
lint_aki_missing(struct lint_ctx *c)
{
	AUTHORITY_KEYID *aki;
	int crit, has_keyid;

	if (c->p->self_signed)
		return 0;
	aki = X509_get_ext_d2i(c->cert, NID_authority_key_identifier, &crit,
			       NULL);
	if (ext_reported_elsewhere(aki, crit))
		return 0;
	has_keyid = aki == NULL ? -1 : aki->keyid != NULL;
	AUTHORITY_KEYID_free(aki);
	if (has_keyid > 0)
		return 0;
	return finding(c, has_keyid < 0
			      ? "authorityKeyIdentifier is missing"
			      : "authorityKeyIdentifier has no keyIdentifier");
}

/* AKI's keyIdentifier (if any) against the SKI of SIGNER. */
static int
aki_match_check(struct lint_ctx *c, const AUTHORITY_KEYID *aki, X509 *signer,
		const char *whose)
{
	ASN1_OCTET_STRING *ski;
	char a[100], s[100];
	int crit, r = 0;

	if (aki == NULL || aki->keyid == NULL)
		return 0;
	ski = X509_get_ext_d2i(signer, NID_subject_key_identifier, &crit, NULL);
	show_hex(a, sizeof(a), ASN1_STRING_get0_data(aki->keyid),
		 (size_t)ASN1_STRING_length(aki->keyid));
	if (ski == NULL) {
		r = finding(c,
			    "authorityKeyIdentifier %s has no %s "
			    "subjectKeyIdentifier to match",
			    a, whose);
	} else if (ASN1_OCTET_STRING_cmp(aki->keyid, ski) != 0) {
		show_hex(s, sizeof(s), ASN1_STRING_get0_data(ski),
			 (size_t)ASN1_STRING_length(ski));
		r = finding(c,
			    "authorityKeyIdentifier %s differs from the %s "
			    "subjectKeyIdentifier %s",
			    a, whose, s);
	}
	ASN1_OCTET_STRING_free(ski);
	return r;
}

static int
lint_aki_mismatch(struct lint_ctx *c)
{
	AUTHORITY_KEYID *aki;
	int crit, r;

	aki = X509_get_ext_d2i(c->cert, NID_authority_key_identifier, &crit,
			       NULL);
	if (c->p->self_signed)
		r = aki_match_check(c, aki, c->cert, "certificate's own");
	else
		r = aki_match_check(c, aki, c->issuer, "issuer's");
	AUTHORITY_KEYID_free(aki);
	return r;
}

/* ---- times (RFC 5280 §4.1.2.5, §5.1.2.4) ------------------------------------
 */

/* UTCTime YYMMDDHHMMSSZ or GeneralizedTime YYYYMMDDHHMMSSZ: seconds, Zulu,
 * no fraction, a real date. */
static int
time_format_ok(const ASN1_TIME *t)
{
	const unsigned char *d = ASN1_STRING_get0_data(t);
	int len = ASN1_STRING_length(t), want, i;

	switch (ASN1_STRING_type(t)) {
	case V_ASN1_UTCTIME:
		want = 13;
		break;
	case V_ASN1_GENERALIZEDTIME:
		want = 15;
		break;
	default:
		return 0;
	}
	if (len != want || d[len - 1] != 'Z')
		return 0;
	for (i = 0; i < len - 1; i++)
		if (d[i] < '0' || d[i] > '9')
			return 0;
	return ASN1_TIME_check(t) == 1;
}

/* Year of a well-formed time, as the encoding means it (UTCTime 50..99 is
 * 1950..1999). */
static int
time_year(const ASN1_TIME *t)
{
	const unsigned char *d = ASN1_STRING_get0_data(t);
	int yy = (d[0] - '0') * 10 + (d[1] - '0');

	if (ASN1_STRING_type(t) == V_ASN1_UTCTIME)
		return yy >= 50 ? 1900 + yy : 2000 + yy;
	return yy * 100 + (d[2] - '0') * 10 + (d[3] - '0');
}

/* UTCTime through 2049, GeneralizedTime from 2050. A UTCTime of 1950..1999
 * is legal ASN.1 but never a date airlock means: it is 2050 and later
 * written with the wrong type. */
static int
time_type_ok(const ASN1_TIME *t)
{
	int y = time_year(t);

	if (ASN1_STRING_type(t) == V_ASN1_UTCTIME)
		return y >= 2000 && y <= 2049;
	return y >= 2050;
}

static int
time_usable(const ASN1_TIME *t)
{
	return t != NULL && time_format_ok(t) && time_type_ok(t);
}

static const char *
time_type_name(const ASN1_TIME *t)
{
	switch (ASN1_STRING_type(t)) {
	case V_ASN1_UTCTIME:
		return "UTCTime";
	case V_ASN1_GENERALIZEDTIME:
		return "GeneralizedTime";
	default:
		return "non-time type";
	}
}

static int
time_format_check(struct lint_ctx *c, const char *what, const ASN1_TIME *t)
{
	char v[LINT_SHOW_MAX * 4 + 8];

	if (t == NULL || time_format_ok(t))
		return 0;
	show_asn1(v, sizeof(v), t);
	return finding(c,
		       "%s %s '%s' is not YYMMDDHHMMSSZ (UTCTime) or "
		       "YYYYMMDDHHMMSSZ (GeneralizedTime)",
		       what, time_type_name(t), v);
}

static int
time_type_check(struct lint_ctx *c, const char *what, const ASN1_TIME *t)
{
	char v[LINT_SHOW_MAX * 4 + 8];
	int y;

	if (t == NULL || !time_format_ok(t) || time_type_ok(t))
		return 0;
	show_asn1(v, sizeof(v), t);
	y = time_year(t);
	if (ASN1_STRING_type(t) == V_ASN1_GENERALIZEDTIME)
		return finding(c,
			       "%s GeneralizedTime %s is in %d; dates "
			       "through 2049 must be UTCTime",
			       what, v, y);
	return finding(c,
		       "%s UTCTime %s is in %d; a date from 2050 on must be "
		       "GeneralizedTime",
		       what, v, y);
}

static int
lint_time_format(struct lint_ctx *c)
{
	int r;

	if ((r = time_format_check(c, "notBefore",
				   X509_get0_notBefore(c->cert))) != 0)
		return r;
	return time_format_check(c, "notAfter", X509_get0_notAfter(c->cert));
}

static int
lint_time_type(struct lint_ctx *c)
{
	int r;

	if ((r = time_type_check(c, "notBefore",
				 X509_get0_notBefore(c->cert))) != 0)
		return r;
	return time_type_check(c, "notAfter", X509_get0_notAfter(c->cert));
}

static void
show_time(char *out, size_t outsz, const ASN1_TIME *t)
{
	show_asn1(out, outsz, t);
}

static int
lint_validity_inverted(struct lint_ctx *c)
{
	const ASN1_TIME *nb = X509_get0_notBefore(c->cert);
	const ASN1_TIME *na = X509_get0_notAfter(c->cert);
	char b[40], a[40];

	if (!time_usable(nb) || !time_usable(na) ||
	    ASN1_TIME_compare(nb, na) < 0)
		return 0;
	show_time(b, sizeof(b), nb);
	show_time(a, sizeof(a), na);
	return finding(c, "notBefore %s is not before notAfter %s", b, a);
}

/* The cap counts notAfter - notBefore in seconds (airlock sets notAfter to
 * notBefore plus the profile's days). */
static int
lint_validity_too_long(struct lint_ctx *c)
{
	const ASN1_TIME *nb = X509_get0_notBefore(c->cert);
	const ASN1_TIME *na = X509_get0_notAfter(c->cert);
	long cap = c->p->max_validity_days;
	int days, secs;

	if (cap <= 0 || !time_usable(nb) || !time_usable(na) ||
	    !ASN1_TIME_diff(&days, &secs, nb, na) || days < 0 || secs < 0)
		return 0;
	if (days < cap || (days == cap && secs == 0))
		return 0;
	return finding(c,
		       "validity of %d days %d s exceeds the profile's %ld "
		       "days",
		       days, secs, cap);
}

static int
lint_validity_outlives_issuer(struct lint_ctx *c)
{
	const ASN1_TIME *na = X509_get0_notAfter(c->cert);
	const ASN1_TIME *ina = X509_get0_notAfter(c->issuer);
	char a[40], ia[40];

	if (c->p->self_signed || !time_usable(na) || !time_usable(ina) ||
	    ASN1_TIME_compare(na, ina) <= 0)
		return 0;
	show_time(a, sizeof(a), na);
	show_time(ia, sizeof(ia), ina);
	return finding(c, "notAfter %s is after the issuer's notAfter %s", a,
		       ia);
}

static int
lint_validity_expired(struct lint_ctx *c)
{
	const ASN1_TIME *na = X509_get0_notAfter(c->cert);
	char a[40];

	if (!time_usable(na) || ASN1_TIME_cmp_time_t(na, c->p->now) > 0)
		return 0;
	show_time(a, sizeof(a), na);
	return finding(c, "notAfter %s is not after the current time", a);
}

static int
lint_not_before_future(struct lint_ctx *c)
{
	const ASN1_TIME *nb = X509_get0_notBefore(c->cert);
	char b[40];

	if (!time_usable(nb) ||
	    ASN1_TIME_cmp_time_t(nb, c->p->now + LINT_FUTURE_SLACK) <= 0)
		return 0;
	show_time(b, sizeof(b), nb);
	return finding(c, "notBefore %s is more than a day in the future", b);
}

/* ---- subject public key (SECURITY.md §1) ----------------------------------
 */

static int
spki_alg_nid(const X509 *x)
{
	ASN1_OBJECT *o = NULL;

	if (!X509_PUBKEY_get0_param(&o, NULL, NULL, NULL,
				    X509_get_X509_PUBKEY(x)))
		return NID_undef;
	return OBJ_obj2nid(o);
}

static int
lint_key_type(struct lint_ctx *c)
{
	int nid = spki_alg_nid(c->cert);

	if (nid != NID_rsaEncryption && nid != NID_X9_62_id_ecPublicKey)
		return finding(c, "public key type %s is not RSA or EC",
			       nid == NID_undef ? "(unknown)"
						: OBJ_nid2sn(nid));
	if (X509_get0_pubkey(c->cert) == NULL)
		return finding(c, "public key cannot be decoded");
	return 0;
}

static EVP_PKEY *
rsa_key(struct lint_ctx *c)
{
	EVP_PKEY *pk;

	if (spki_alg_nid(c->cert) != NID_rsaEncryption)
		return NULL;
	pk = X509_get0_pubkey(c->cert);
	return pk != NULL && EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA ? pk
								      : NULL;
}

static int
lint_rsa_key_size(struct lint_ctx *c)
{
	EVP_PKEY *pk = rsa_key(c);
	int bits;

	if (pk == NULL)
		return 0;
	bits = EVP_PKEY_get_bits(pk);
	if (bits >= LINT_RSA_MIN && bits <= LINT_RSA_MAX)
		return 0;
	return finding(c, "RSA modulus of %d bits is outside %d..%d", bits,
		       LINT_RSA_MIN, LINT_RSA_MAX);
}

static int
lint_rsa_mod_bits(struct lint_ctx *c)
{
	EVP_PKEY *pk = rsa_key(c);
	int bits;

	if (pk == NULL || (bits = EVP_PKEY_get_bits(pk)) % 8 == 0)
		return 0;
	return finding(c, "RSA modulus of %d bits is not a multiple of 8",
		       bits);
}

static int
lint_rsa_exponent(struct lint_ctx *c)
{
	EVP_PKEY *pk = rsa_key(c);
	BIGNUM *e = NULL;
	char *dec = NULL;
	int r = 0;

	if (pk == NULL)
		return 0;
	if (!EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &e))
		return AIRLOCK_E_CRYPTO;
	if (!BN_is_word(e, RSA_F4)) {
		if ((dec = BN_bn2dec(e)) == NULL)
			r = AIRLOCK_E_NOMEM;
		else
			r = finding(c, "RSA public exponent %s is not 65537",
				    dec);
	}
	OPENSSL_free(dec);
	BN_free(e);
	return r;
}

/* Named P-256 or P-384 only; explicit parameters are refused (RFC 5480
 * §2.1.1: namedCurve). Read from the SPKI so no decoding is trusted. */
static int
lint_ec_curve(struct lint_ctx *c)
{
	X509_ALGOR *alg = NULL;
	const void *pval = NULL;
	int ptype = V_ASN1_UNDEF, nid;
	char b[80];

	if (spki_alg_nid(c->cert) != NID_X9_62_id_ecPublicKey ||
	    !X509_PUBKEY_get0_param(NULL, NULL, NULL, &alg,
				    X509_get_X509_PUBKEY(c->cert)))
		return 0;
	X509_ALGOR_get0(NULL, &ptype, &pval, alg);
	if (ptype != V_ASN1_OBJECT)
		return finding(c, "EC key does not name its curve (explicit "
				  "or implicit parameters)");
	nid = OBJ_obj2nid(pval);
	if (nid == NID_X9_62_prime256v1 || nid == NID_secp384r1)
		return 0;
	return finding(c, "EC curve %s is not P-256 or P-384",
		       obj_name(pval, b, sizeof(b)));
}

/* ---- CRLs (RFC 5280 §5) ------------------------------------------------ */

static int
lint_crl_version(struct lint_ctx *c)
{
	long v = X509_CRL_get_version(c->crl);

	if (v == X509_CRL_VERSION_2)
		return 0;
	return finding(c, "CRL version is v%ld; v2 is required", v + 1);
}

static int
lint_crl_issuer_mismatch(struct lint_ctx *c)
{
	return name_bytes_check(c, "CRL issuer", X509_CRL_get_issuer(c->crl),
				X509_get_subject_name(c->issuer));
}

static int
lint_crl_aki_missing(struct lint_ctx *c)
{
	AUTHORITY_KEYID *aki;
	int crit, has_keyid;

	aki = X509_CRL_get_ext_d2i(c->crl, NID_authority_key_identifier, &crit,
				   NULL);
	if (ext_reported_elsewhere(aki, crit))
		return 0;
	has_keyid = aki != NULL && aki->keyid != NULL;
	AUTHORITY_KEYID_free(aki);
	if (has_keyid)
		return 0;
	return finding(c, "CRL authorityKeyIdentifier is missing or has no "
			  "keyIdentifier");
}

static int
lint_crl_aki_mismatch(struct lint_ctx *c)
{
	AUTHORITY_KEYID *aki;
	int crit, r;

	aki = X509_CRL_get_ext_d2i(c->crl, NID_authority_key_identifier, &crit,
				   NULL);
	r = aki_match_check(c, aki, c->issuer, "CA's");
	AUTHORITY_KEYID_free(aki);
	return r;
}

static int
lint_crl_number_missing(struct lint_ctx *c)
{
	ASN1_INTEGER *num;
	int crit;

	num = X509_CRL_get_ext_d2i(c->crl, NID_crl_number, &crit, NULL);
	ASN1_INTEGER_free(num);
	if (crit != -1)
		return 0;
	return finding(c, "CRL has no cRLNumber");
}

static int
lint_crl_number_critical(struct lint_ctx *c)
{
	ASN1_INTEGER *num;
	int crit;

	num = X509_CRL_get_ext_d2i(c->crl, NID_crl_number, &crit, NULL);
	ASN1_INTEGER_free(num);
	if (num == NULL || crit != 1)
		return 0;
	return finding(c, "cRLNumber is critical; RFC 5280 §5.2.3 makes it "
			  "non-critical");
}

static int
lint_crl_number_range(struct lint_ctx *c)
{
	ASN1_INTEGER *num;
	char v[64];
	size_t n;
	int crit, r = 0;

	num = X509_CRL_get_ext_d2i(c->crl, NID_crl_number, &crit, NULL);
	if (num == NULL)
		return 0;
	show_int(v, sizeof(v), num);
	if (!int_is_positive(num))
		r = finding(c, "cRLNumber %s is not positive", v);
	else if ((r = int_content_octets(num, &n)) == 0 &&
		 n > RFC5280_CRLNUM_MAX)
		r = finding(c,
			    "cRLNumber %s is %zu octets; at most %d are "
			    "allowed",
			    v, n, RFC5280_CRLNUM_MAX);
	ASN1_INTEGER_free(num);
	return r;
}

static int
crl_times_each(struct lint_ctx *c,
	       int (*check)(struct lint_ctx *, const char *, const ASN1_TIME *))
{
	STACK_OF(X509_REVOKED) *rev = X509_CRL_get_REVOKED(c->crl);
	int i, r;

	if ((r = check(c, "thisUpdate", X509_CRL_get0_lastUpdate(c->crl))) !=
		0 ||
	    (r = check(c, "nextUpdate", X509_CRL_get0_nextUpdate(c->crl))) != 0)
		return r;
	for (i = 0; i < sk_X509_REVOKED_num(rev) && r == 0; i++)
		r = check(c, "revocationDate",
			  X509_REVOKED_get0_revocationDate(
			      sk_X509_REVOKED_value(rev, i)));
	return r;
}

static int
lint_crl_time_format(struct lint_ctx *c)
{
	return crl_times_each(c, time_format_check);
}

static int
lint_crl_time_type(struct lint_ctx *c)
{
	return crl_times_each(c, time_type_check);
}

/* RFC 5280 §5.1.2.5: conforming CAs include nextUpdate. */
static int
lint_crl_next_update_missing(struct lint_ctx *c)
{
	if (X509_CRL_get0_nextUpdate(c->crl) != NULL)
		return 0;
	return finding(c, "CRL has no nextUpdate");
}

static int
lint_crl_update_order(struct lint_ctx *c)
{
	const ASN1_TIME *tu = X509_CRL_get0_lastUpdate(c->crl);
	const ASN1_TIME *nu = X509_CRL_get0_nextUpdate(c->crl);
	char t[40], n[40];

	if (!time_usable(tu) || !time_usable(nu) ||
	    ASN1_TIME_compare(nu, tu) > 0)
		return 0;
	show_time(t, sizeof(t), tu);
	show_time(n, sizeof(n), nu);
	return finding(c, "nextUpdate %s is not after thisUpdate %s", n, t);
}

/* OpenSSL has no getter for the TBSCertList's signature field, so take it
 * from the CRL's own encoding with OpenSSL's DER parser: CertificateList ::=
 * SEQUENCE { tbsCertList SEQUENCE { version INTEGER OPTIONAL, signature
 * AlgorithmIdentifier, ... }, ... } (RFC 5280 §5.1). */
static int
crl_tbs_sigalg(X509_CRL *crl, unsigned char **out, int *outlen)
{
	ASN1_SEQUENCE_ANY *whole = NULL, *tbs = NULL;
	ASN1_TYPE *t;
	unsigned char *der = NULL;
	const unsigned char *q;
	int len, idx, r = AIRLOCK_E_CRYPTO;

	*out = NULL;
	*outlen = 0;
	if ((len = i2d_X509_CRL(crl, &der)) <= 0)
		goto out;
	q = der;
	if ((whole = d2i_ASN1_SEQUENCE_ANY(NULL, &q, len)) == NULL ||
	    (t = sk_ASN1_TYPE_value(whole, 0)) == NULL ||
	    t->type != V_ASN1_SEQUENCE)
		goto out;
	q = t->value.sequence->data;
	if ((tbs = d2i_ASN1_SEQUENCE_ANY(NULL, &q,
					 t->value.sequence->length)) == NULL ||
	    (t = sk_ASN1_TYPE_value(tbs, 0)) == NULL)
		goto out;
	idx = t->type == V_ASN1_INTEGER ? 1 : 0;
	if ((t = sk_ASN1_TYPE_value(tbs, idx)) == NULL ||
	    t->type != V_ASN1_SEQUENCE)
		goto out;
	*outlen = t->value.sequence->length;
	if ((*out = OPENSSL_memdup(t->value.sequence->data, *outlen)) == NULL) {
		*outlen = 0;
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	r = 0;
out:
	sk_ASN1_TYPE_pop_free(whole, ASN1_TYPE_free);
	sk_ASN1_TYPE_pop_free(tbs, ASN1_TYPE_free);
	OPENSSL_free(der);
	return r;
}

static int
lint_crl_sig_alg_mismatch(struct lint_ctx *c)
{
	const X509_ALGOR *outer = NULL;
	unsigned char *inner = NULL;
	int ilen, r;

	X509_CRL_get0_signature(c->crl, NULL, &outer);
	if ((r = crl_tbs_sigalg(c->crl, &inner, &ilen)) != 0)
		return r;
	r = sig_alg_mismatch_check(c, NULL, inner, ilen, outer);
	OPENSSL_free(inner);
	return r;
}

static int
lint_crl_sig_alg_not_allowed(struct lint_ctx *c)
{
	const X509_ALGOR *outer = NULL;

	X509_CRL_get0_signature(c->crl, NULL, &outer);
	return sig_alg_allowed_check(c, NULL, outer);
}

static int
lint_crl_ext_duplicate(struct lint_ctx *c)
{
	return ext_duplicate_check(c, X509_CRL_get0_extensions(c->crl));
}

static int
serial_ptr_cmp(const void *a, const void *b)
{
	return ASN1_INTEGER_cmp(*(const ASN1_INTEGER *const *)a,
				*(const ASN1_INTEGER *const *)b);
}

static int
lint_crl_serial_duplicate(struct lint_ctx *c)
{
	STACK_OF(X509_REVOKED) *rev = X509_CRL_get_REVOKED(c->crl);
	const ASN1_INTEGER **v = NULL;
	char s[64];
	int i, n = sk_X509_REVOKED_num(rev), r = 0;

	if (n < 2)
		return 0;
	if ((v = calloc((size_t)n, sizeof(*v))) == NULL)
		return AIRLOCK_E_NOMEM;
	for (i = 0; i < n; i++)
		v[i] = X509_REVOKED_get0_serialNumber(
		    sk_X509_REVOKED_value(rev, i));
	qsort(v, (size_t)n, sizeof(*v), serial_ptr_cmp);
	for (i = 1; i < n && r == 0; i++) {
		if (ASN1_INTEGER_cmp(v[i - 1], v[i]) != 0)
			continue;
		if (i >= 2 && ASN1_INTEGER_cmp(v[i - 2], v[i]) == 0)
			continue; /* named once already */
		show_int(s, sizeof(s), v[i]);
		r = finding(c, "serial %s is listed more than once", s);
	}
	free(v);
	return r;
}

/* ---- the catalogue ---------------------------------------------------------
 */

/* Each entry X(name) is the function lint_<name> with id "e_<name>". */
#define LINT_CERT_LIST(X)                                                      \
	X(serial_not_positive)                                                 \
	X(serial_too_long)                                                     \
	X(serial_low_entropy)                                                  \
	X(version_not_v3)                                                      \
	X(issuer_name_mismatch)                                                \
	X(sig_alg_mismatch)                                                    \
	X(sig_alg_not_allowed)                                                 \
	X(sig_alg_key_mismatch)                                                \
	X(ext_duplicate)                                                       \
	X(ext_undecodable)                                                     \
	X(ext_unknown_critical)                                                \
	X(leaf_san_missing)                                                    \
	X(leaf_san_type)                                                       \
	X(leaf_cn_not_in_san)                                                  \
	X(leaf_bc_ca)                                                          \
	X(leaf_bc_path_len)                                                    \
	X(leaf_ku_cert_sign)                                                   \
	X(leaf_eku_missing)                                                    \
	X(leaf_eku_any)                                                        \
	X(ku_bit_not_allowed)                                                  \
	X(ca_bc_missing)                                                       \
	X(ca_bc_not_ca)                                                        \
	X(ca_bc_not_critical)                                                  \
	X(ca_path_len)                                                         \
	X(ca_ku_missing)                                                       \
	X(ca_ku_not_critical)                                                  \
	X(ca_ku_sign_bits)                                                     \
	X(ca_ski_missing)                                                      \
	X(aki_missing)                                                         \
	X(aki_mismatch)                                                        \
	X(time_format)                                                         \
	X(time_type)                                                           \
	X(validity_inverted)                                                   \
	X(validity_too_long)                                                   \
	X(validity_outlives_issuer)                                            \
	X(validity_expired)                                                    \
	X(not_before_future)                                                   \
	X(dns_nul)                                                             \
	X(dns_bad_char)                                                        \
	X(dns_hyphen)                                                          \
	X(dns_reserved_label)                                                  \
	X(dns_trailing_dot)                                                    \
	X(dns_empty_label)                                                     \
	X(dns_too_long)                                                        \
	X(dns_label_too_long)                                                  \
	X(dns_wildcard_position)                                               \
	X(dns_wildcard_tld)                                                    \
	X(ip_length)                                                           \
	X(key_type)                                                            \
	X(rsa_key_size)                                                        \
	X(rsa_mod_bits)                                                        \
	X(rsa_exponent)                                                        \
	X(ec_curve)

#define LINT_CRL_LIST(X)                                                       \
	X(crl_version)                                                         \
	X(crl_issuer_mismatch)                                                 \
	X(crl_aki_missing)                                                     \
	X(crl_aki_mismatch)                                                    \
	X(crl_number_missing)                                                  \
	X(crl_number_critical)                                                 \
	X(crl_number_range)                                                    \
	X(crl_time_format)                                                     \
	X(crl_time_type)                                                       \
	X(crl_next_update_missing)                                             \
	X(crl_update_order)                                                    \
	X(crl_sig_alg_mismatch)                                                \
	X(crl_sig_alg_not_allowed)                                             \
	X(crl_ext_duplicate)                                                   \
	X(crl_serial_duplicate)

struct lint_def {
	const char *id;
	int (*fn)(struct lint_ctx *);
};

#define LINT_DEF(name) {"e_" #name, lint_##name},
#define LINT_ID(name)  "e_" #name,
static const struct lint_def cert_lints[] = {LINT_CERT_LIST(LINT_DEF)};
static const struct lint_def crl_lints[] = {LINT_CRL_LIST(LINT_DEF)};
static const char *const lint_ids[] = {LINT_CERT_LIST(LINT_ID)
					   LINT_CRL_LIST(LINT_ID)};
#undef LINT_DEF
#undef LINT_ID

size_t
lint_catalogue(const char *const **ids)
{
	if (ids != NULL)
		*ids = lint_ids;
	return sizeof(lint_ids) / sizeof(lint_ids[0]);
}

/* ---- running ------------------------------------------------------------- */

static int
lint_run(struct lint_ctx *c, const struct lint_def *defs, size_t n,
	 struct lint_result **out)
{
	struct lint_result *lr = NULL;
	size_t i;
	int r = AIRLOCK_E_INTERNAL;

	/* Decoding a malformed extension queues OpenSSL errors; those are
	 * findings here, not failures, so drop them unless we fail. */
	ERR_set_mark();
	if ((lr = calloc(1, sizeof(*lr))) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	c->lr = lr;
	for (i = 0; i < n; i++) {
		c->id = defs[i].id;
		if ((r = defs[i].fn(c)) != 0) {
			err_detail_set("lint %s could not run", defs[i].id);
			goto out;
		}
	}
	ERR_pop_to_mark();
	r = 0;
	if (lr->n > 0) {
		err_detail_set("%s: %s", lr->v[0].id, lr->v[0].text);
		r = AIRLOCK_E_POLICY;
	}
	if (out != NULL) {
		*out = lr;
		lr = NULL;
	}
out:
	if (r != 0 && r != AIRLOCK_E_POLICY)
		ERR_clear_last_mark();
	lint_result_free(lr);
	return r;
}

int
lint_cert_check(X509 *cert, X509 *issuer, const struct lint_params *p,
		struct lint_result **out)
{
	struct lint_ctx c;

	if (out != NULL)
		*out = NULL;
	if (cert == NULL || issuer == NULL || p == NULL)
		return AIRLOCK_E_INVALID_ARG;
	memset(&c, 0, sizeof(c));
	c.cert = cert;
	c.issuer = issuer;
	c.p = p;
	return lint_run(&c, cert_lints,
			sizeof(cert_lints) / sizeof(cert_lints[0]), out);
}

int
lint_crl_check(X509_CRL *crl, X509 *issuer, struct lint_result **out)
{
	static const struct lint_params none = {0, 0, 0, -1, 0, 0};
	struct lint_ctx c;

	if (out != NULL)
		*out = NULL;
	if (crl == NULL || issuer == NULL)
		return AIRLOCK_E_INVALID_ARG;
	memset(&c, 0, sizeof(c));
	c.crl = crl;
	c.issuer = issuer;
	c.p = &none;
	return lint_run(&c, crl_lints, sizeof(crl_lints) / sizeof(crl_lints[0]),
			out);
}

size_t
lint_result_count(const struct lint_result *lr)
{
	return lr != NULL ? lr->n : 0;
}

const char *
lint_result_id(const struct lint_result *lr, size_t i)
{
	return lr != NULL && i < lr->n ? lr->v[i].id : NULL;
}

const char *
lint_result_text(const struct lint_result *lr, size_t i)
{
	return lr != NULL && i < lr->n ? lr->v[i].text : NULL;
}

void
lint_result_free(struct lint_result *lr)
{
	size_t i;

	if (lr == NULL)
		return;
	for (i = 0; i < lr->n; i++)
		free(lr->v[i].text);
	free(lr->v);
	free(lr);
}
