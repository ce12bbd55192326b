#include "station/csr.h"

#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/term.h"

#define CSR_MAX_DEPTH	32
#define CSR_MAX_OID_LEN 32

struct csr {
	unsigned char *der;
	size_t der_len;
	unsigned char sha256[32];
	X509_REQ *req;
	EVP_PKEY *pub;
	char key_type[16];
	char *cn;
	char *dns[CSR_MAX_NAMES];
	size_t ndns;
	unsigned char ip[CSR_MAX_NAMES][16];
	size_t ip_len[CSR_MAX_NAMES];
	size_t nip;
};

static int reject(const char *rule, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
reject(const char *rule, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	err_detail_set("%s: %s", rule, text);
	return AIRLOCK_E_POLICY;
}

const char *
csr_rule_split(const char *detail, char *rule_out, size_t rule_len)
{
	const char *colon = strstr(detail, ": ");
	size_t n;

	if (colon == NULL || rule_len == 0) {
		if (rule_len > 0)
			snprintf(rule_out, rule_len, "other");
		return detail;
	}
	n = (size_t)(colon - detail);
	if (n >= rule_len)
		n = rule_len - 1;
	memcpy(rule_out, detail, n);
	rule_out[n] = '\0';
	return colon + 2;
}

/* Walk every TLV with OpenSSL's ASN1_get_object before any structure is
 * decoded: definite lengths only, contents within their parent, bounded
 * nesting, OIDs of sane size with arcs that fit 32 bits. */
static int
csr_tlv_walk(const unsigned char *p, long len, int depth)
{
	const unsigned char *q, *end = p + len;
	long clen, i;
	int tag, xclass, ret, arc_bytes;

	if (depth > CSR_MAX_DEPTH)
		return reject("csr.encoding", "nesting deeper than %d",
			      CSR_MAX_DEPTH);
	while (p < end) {
		q = p;
		ret = ASN1_get_object(&q, &clen, &tag, &xclass, end - p);
		if (ret & 0x80)
			return reject("csr.encoding",
				      "malformed DER at depth %d", depth);
		if (ret == 0x21 || (ret & 0x01))
			return reject("csr.encoding",
				      "indefinite-length BER is not DER");
		if (clen < 0 || clen > end - q)
			return reject("csr.encoding", "length past the end");
		if (xclass == V_ASN1_UNIVERSAL && tag == V_ASN1_OBJECT) {
			if (clen == 0 || clen > CSR_MAX_OID_LEN)
				return reject("csr.encoding",
					      "OID of %ld bytes", clen);
			for (i = 0, arc_bytes = 0; i < clen; i++) {
				if (++arc_bytes > 5 ||
				    (arc_bytes == 1 && q[i] == 0x80))
					return reject("csr.encoding",
						      "OID with an absurd arc");
				if (!(q[i] & 0x80))
					arc_bytes = 0;
			}
			if (arc_bytes != 0)
				return reject("csr.encoding",
					      "truncated OID arc");
		}
		if ((ret & V_ASN1_CONSTRUCTED) &&
		    csr_tlv_walk(q, clen, depth + 1) != 0)
			return AIRLOCK_E_POLICY;
		p = q + clen;
	}
	return 0;
}

/* The request's TBS part as it arrived, for the canonical-DER check. */
static int
csr_info_region(const unsigned char *der, size_t len,
		const unsigned char **info, long *info_len)
{
	const unsigned char *p = der;
	long l;
	int tag, xclass, ret;

	ret = ASN1_get_object(&p, &l, &tag, &xclass, (long)len);
	if ((ret & 0x80) || tag != V_ASN1_SEQUENCE ||
	    (size_t)(p - der) + (size_t)l != len)
		return reject(
		    "csr.encoding",
		    "not one DER SEQUENCE spanning the file (trailing "
		    "data?)");
	*info = p;
	ret = ASN1_get_object(&p, &l, &tag, &xclass,
			      (long)(len - (size_t)(p - der)));
	if ((ret & 0x80) || tag != V_ASN1_SEQUENCE)
		return reject("csr.encoding", "no CertificationRequestInfo");
	*info_len = (long)(p - *info) + l;
	return 0;
}

static int
csr_from_pem(const unsigned char *buf, size_t len, unsigned char **der,
	     size_t *der_len)
{
	BIO *b = BIO_new_mem_buf(buf, (int)len);
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long dlen = 0;
	int r = AIRLOCK_E_POLICY;

	if (b == NULL)
		return AIRLOCK_E_NOMEM;
	if (PEM_read_bio(b, &name, &header, &data, &dlen) != 1) {
		ERR_clear_error();
		r = reject("csr.encoding", "PEM that does not decode");
		goto out;
	}
	if (strcmp(name, "CERTIFICATE REQUEST") != 0 &&
	    strcmp(name, "NEW CERTIFICATE REQUEST") != 0) {
		r = reject("csr.encoding",
			   "PEM block '%.40s' is not a "
			   "CERTIFICATE REQUEST",
			   name);
		goto out;
	}
	if (header[0] != '\0') {
		r = reject("csr.encoding", "PEM headers are not allowed");
		goto out;
	}
	if ((*der = malloc((size_t)dlen)) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	memcpy(*der, data, (size_t)dlen);
	*der_len = (size_t)dlen;
	r = 0;
out:
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(data);
	BIO_free(b);
	return r;
}

static int
csr_check_key(struct csr *c)
{
	X509_PUBKEY *xpk = X509_REQ_get_X509_PUBKEY(c->req);
	X509_ALGOR *alg = NULL;
	const ASN1_OBJECT *aobj = NULL;
	const void *pval = NULL;
	int ptype = 0, nid, bits;
	BIGNUM *e = NULL;

	if (xpk == NULL || !X509_PUBKEY_get0_param(NULL, NULL, NULL, &alg, xpk))
		return reject("csr.key", "no public key");
	X509_ALGOR_get0(&aobj, &ptype, &pval, alg);
	nid = OBJ_obj2nid(aobj);
	if (nid == NID_X9_62_id_ecPublicKey) {
		int curve;
		/* only the named-curve encoding (RFC 5480), never explicit
		 * parameters */
		if (ptype != V_ASN1_OBJECT)
			return reject("csr.key", "EC key with explicit "
						 "parameters (only named "
						 "curves P-256 and P-384)");
		curve = OBJ_obj2nid(pval);
		if (curve != NID_X9_62_prime256v1 && curve != NID_secp384r1)
			return reject("csr.key",
				      "EC curve %s is not P-256 or "
				      "P-384",
				      OBJ_nid2sn(curve));
	} else if (nid != NID_rsaEncryption) {
		return reject("csr.key", "key algorithm %s (only RSA and EC)",
			      OBJ_nid2sn(nid));
	}
	if ((c->pub = X509_REQ_get_pubkey(c->req)) == NULL) {
		ERR_clear_error();
		return reject("csr.key", "public key does not decode");
	}
	bits = EVP_PKEY_get_bits(c->pub);
	if (nid == NID_rsaEncryption) {
		if (bits < 2048 || bits > 8192 || bits % 8 != 0)
			return reject("csr.key",
				      "RSA modulus of %d bits (2048..8192, a "
				      "multiple of 8)",
				      bits);
		if (!EVP_PKEY_get_bn_param(c->pub, "e", &e) ||
		    !BN_is_word(e, 65537)) {
			BN_free(e);
			return reject("csr.key", "RSA exponent is not 65537");
		}
		BN_free(e);
		snprintf(c->key_type, sizeof(c->key_type), "rsa:%d", bits);
	} else {
		snprintf(c->key_type, sizeof(c->key_type), "ec:p%d", bits);
	}
	return 0;
}

static int
csr_check_sig(struct csr *c)
{
	int nid = X509_REQ_get_signature_nid(c->req), md = NID_undef, pk;

	if (!OBJ_find_sigid_algs(nid, &md, &pk) ||
	    (md != NID_sha256 && md != NID_sha384 && md != NID_sha512))
		return reject("csr.sig_alg",
			      "signature algorithm %s (SHA-256/384/512 only)",
			      OBJ_nid2sn(nid));
	if (X509_REQ_verify(c->req, c->pub) != 1) {
		ERR_clear_error();
		return reject("csr.signature",
			      "the request's signature does not "
			      "verify with its own key (no "
			      "proof of possession)");
	}
	return 0;
}

/* Requested extensions are never copied; the ones that ask for CA powers
 * are refused so that the operator sees them. */
static int
csr_check_exts(struct csr *c, STACK_OF(X509_EXTENSION) * exts)
{
	X509_EXTENSION *ext;
	GENERAL_NAMES *gens;
	GENERAL_NAME *g;
	int i, j, nid;

	for (i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
		ext = sk_X509_EXTENSION_value(exts, i);
		nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));
		for (j = i + 1; j < sk_X509_EXTENSION_num(exts); j++)
			if (OBJ_cmp(X509_EXTENSION_get_object(ext),
				    X509_EXTENSION_get_object(
					sk_X509_EXTENSION_value(exts, j))) == 0)
				return reject("csr.extension",
					      "extension %s requested twice",
					      OBJ_nid2sn(nid));
		if (nid == NID_basic_constraints) {
			BASIC_CONSTRAINTS *bc = X509V3_EXT_d2i(ext);
			int ca = bc != NULL && bc->ca;
			BASIC_CONSTRAINTS_free(bc);
			if (bc == NULL || ca)
				return reject("csr.extension",
					      "the request asks for CA:TRUE");
		} else if (nid == NID_key_usage) {
			ASN1_BIT_STRING *ku = X509V3_EXT_d2i(ext);
			int bad = ku == NULL ||
				  ASN1_BIT_STRING_get_bit(ku, 5) ||
				  ASN1_BIT_STRING_get_bit(ku, 6);
			ASN1_BIT_STRING_free(ku);
			if (bad)
				return reject(
				    "csr.extension",
				    "the request asks for keyCertSign "
				    "or cRLSign");
		} else if (nid == NID_ext_key_usage) {
			EXTENDED_KEY_USAGE *eku = X509V3_EXT_d2i(ext);
			int bad = eku == NULL;
			for (j = 0; !bad && j < sk_ASN1_OBJECT_num(eku); j++)
				bad =
				    OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, j)) ==
				    NID_anyExtendedKeyUsage;
			sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
			if (bad)
				return reject("csr.extension",
					      "the request asks for "
					      "anyExtendedKeyUsage");
		} else if (nid == NID_name_constraints ||
			   nid == NID_policy_mappings ||
			   nid == NID_policy_constraints ||
			   nid == NID_inhibit_any_policy) {
			return reject("csr.extension",
				      "the request asks for %s (CA-only)",
				      OBJ_nid2sn(nid));
		} else if (nid == NID_subject_alt_name) {
			if ((gens = X509V3_EXT_d2i(ext)) == NULL)
				return reject("csr.san", "subjectAltName does "
							 "not decode");
			for (j = 0; j < sk_GENERAL_NAME_num(gens); j++) {
				g = sk_GENERAL_NAME_value(gens, j);
				if (g->type == GEN_DNS &&
				    c->ndns < CSR_MAX_NAMES) {
					const ASN1_IA5STRING *s = g->d.dNSName;
					c->dns[c->ndns] =
					    strndup((const char *)s->data,
						    (size_t)s->length);
					if (c->dns[c->ndns] == NULL ||
					    strlen(c->dns[c->ndns]) !=
						(size_t)s->length) {
						GENERAL_NAMES_free(gens);
						return reject(
						    "csr.san",
						    "a DNS name holds a NUL "
						    "byte");
					}
					c->ndns++;
				} else if (g->type == GEN_IPADD &&
					   c->nip < CSR_MAX_NAMES &&
					   (g->d.iPAddress->length == 4 ||
					    g->d.iPAddress->length == 16)) {
					memcpy(c->ip[c->nip],
					       g->d.iPAddress->data,
					       (size_t)g->d.iPAddress->length);
					c->ip_len[c->nip++] =
					    (size_t)g->d.iPAddress->length;
				} else {
					int t = g->type;
					GENERAL_NAMES_free(gens);
					if (t == GEN_IPADD)
						return reject(
						    "csr.san",
						    "an IP address that is not "
						    "4 or 16 bytes, or more "
						    "than %d",
						    CSR_MAX_NAMES);
					if (t == GEN_DNS)
						return reject(
						    "csr.san",
						    "more than %d DNS names",
						    CSR_MAX_NAMES);
					return reject("csr.san",
						      "a name of type %s (only "
						      "DNS names and IP "
						      "addresses)",
						      t == GEN_EMAIL ? "email"
						      : t == GEN_URI ? "URI"
						      : t == GEN_OTHERNAME
							  ? "otherName"
							  : "other");
				}
			}
			GENERAL_NAMES_free(gens);
		}
	}
	return 0;
}

static int
csr_check_subject(struct csr *c)
{
	X509_NAME *n = X509_REQ_get_subject_name(c->req);
	X509_NAME_ENTRY *e;
	unsigned char *utf8 = NULL;
	char safe[512];
	int i, len;

	for (i = 0; i < X509_NAME_entry_count(n); i++) {
		e = X509_NAME_get_entry(n, i);
		if ((len = ASN1_STRING_to_UTF8(
			 &utf8, X509_NAME_ENTRY_get_data(e))) < 0)
			return reject("csr.subject",
				      "a subject attribute does not decode");
		term_sanitize((char *)utf8, safe, sizeof(safe));
		if (memchr(utf8, '\0', (size_t)len) != NULL ||
		    strcmp(safe, (char *)utf8) != 0) {
			OPENSSL_free(utf8);
			return reject("csr.subject",
				      "control, NUL or bidi characters in the "
				      "subject: '%s'",
				      safe);
		}
		if (OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)) ==
			NID_commonName &&
		    c->cn == NULL)
			c->cn = strdup((char *)utf8);
		OPENSSL_free(utf8);
		utf8 = NULL;
	}
	return 0;
}

int
csr_parse(const unsigned char *buf, size_t len, struct csr **out)
{
	struct csr *c = NULL;
	const unsigned char *p, *info = NULL;
	unsigned char *re = NULL;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	long info_len = 0;
	int re_len, r = AIRLOCK_E_INTERNAL;

	*out = NULL;
	if (len > CSR_MAX_SIZE)
		return reject("csr.size", "%zu bytes (at most %d)", len,
			      CSR_MAX_SIZE);
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return AIRLOCK_E_NOMEM;
	if (len >= 10 && memcmp(buf, "-----BEGIN", 10) == 0)
		r = csr_from_pem(buf, len, &c->der, &c->der_len);
	else if ((c->der = malloc(len > 0 ? len : 1)) != NULL) {
		memcpy(c->der, buf, len);
		c->der_len = len;
		r = 0;
	} else
		r = AIRLOCK_E_NOMEM;
	if (r != 0)
		goto out;
	if ((r = csr_tlv_walk(c->der, (long)c->der_len, 0)) != 0 ||
	    (r = csr_info_region(c->der, c->der_len, &info, &info_len)) != 0)
		goto out;
	p = c->der;
	if ((c->req = d2i_X509_REQ(NULL, &p, (long)c->der_len)) == NULL ||
	    p != c->der + c->der_len) {
		ERR_clear_error();
		r = reject("csr.encoding", "not a PKCS#10 request");
		goto out;
	}
	/* canonical DER: the info re-encodes to the bytes that arrived */
	if ((re_len = i2d_re_X509_REQ_tbs(c->req, &re)) != info_len ||
	    CRYPTO_memcmp(re, info, (size_t)info_len) != 0) {
		r = reject("csr.encoding", "not canonical DER");
		goto out;
	}
	if (X509_REQ_get_version(c->req) != X509_REQ_VERSION_1) {
		r = reject("csr.encoding", "request version is not 1");
		goto out;
	}
	if ((r = csr_check_key(c)) != 0 || (r = csr_check_sig(c)) != 0)
		goto out;
	exts = X509_REQ_get_extensions(c->req);
	if ((r = csr_check_exts(c, exts)) != 0 ||
	    (r = csr_check_subject(c)) != 0)
		goto out;
	if (c->ndns == 0 && c->nip == 0 && c->cn == NULL) {
		r = reject("csr.names", "the request names nothing (no CN, no "
					"subjectAltName)");
		goto out;
	}
	EVP_Digest(c->der, c->der_len, c->sha256, NULL, EVP_sha256(), NULL);
	*out = c;
	c = NULL;
	r = 0;
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	OPENSSL_free(re);
	csr_free(c);
	return r;
}

void
csr_free(struct csr *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->ndns; i++)
		free(c->dns[i]);
	free(c->cn);
	EVP_PKEY_free(c->pub);
	X509_REQ_free(c->req);
	free(c->der);
	free(c);
}

EVP_PKEY *
csr_get0_pubkey(const struct csr *c)
{
	return c->pub;
}

const char *
csr_key_type(const struct csr *c)
{
	return c->key_type;
}

const char *
csr_cn(const struct csr *c)
{
	return c->cn;
}

size_t
csr_dns_count(const struct csr *c)
{
	return c->ndns;
}

const char *
csr_dns(const struct csr *c, size_t i)
{
	return i < c->ndns ? c->dns[i] : NULL;
}

size_t
csr_ip_count(const struct csr *c)
{
	return c->nip;
}

const unsigned char *
csr_ip(const struct csr *c, size_t i, size_t *len)
{
	*len = i < c->nip ? c->ip_len[i] : 0;
	return i < c->nip ? c->ip[i] : NULL;
}

const unsigned char *
csr_sha256(const struct csr *c)
{
	return c->sha256;
}

const unsigned char *
csr_der(const struct csr *c, size_t *len)
{
	*len = c->der_len;
	return c->der;
}
