/* Certificate and CRL lints: for every lint a passing fixture (a good root,
 * intermediate, RSA and EC leaf, or CRL built here with software keys) and
 * at least one failing fixture that breaks exactly one thing and must be
 * reported under exactly that lint's id. Every id in lint_catalogue() must
 * have a failing fixture here. */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/err.h"
#include "station/lint.h"
#include "tap.h"

#define NOW	((time_t)1767225600) /* 2026-01-01T00:00:00Z */
#define DAY	86400L
#define ROOT_NA "20510101000000Z" /* GeneralizedTime: after 2049 */

enum fx_kind { FX_ROOT, FX_INTER, FX_LEAF_RSA, FX_LEAF_EC, FX_KINDS };
enum fx_phase { PH_CONF, PH_TBS, PH_SIGNED };

static const char *const kind_names[FX_KINDS] = {"root", "intermediate",
						 "RSA leaf", "EC leaf"};

struct fx {
	enum fx_kind kind;
	X509 *issuer; /* NULL: self-signed */
	EVP_PKEY *key;
	EVP_PKEY *signer;
	const EVP_MD *md;
	struct lint_params p;
	const char *cn, *issuer_cn, *bc, *ku, *eku, *san;
	int ski, aki; /* aki: 0 none, 1 issuer's SKI, 2 a wrong keyid */
	time_t nb;
	long days;
	const char *na_str; /* notAfter as text, overrides days */
	void (*mut)(struct fx *, enum fx_phase);
	int failed;
	X509 *x;
};

static struct {
	EVP_PKEY *root, *inter, *rsa, *ec;
	EVP_PKEY *rsa1024, *rsa2050, *rsa_e3, *p521, *ed25519, *ec_explicit;
	X509 *base[FX_KINDS];
} g;

/* ---- keys ------------------------------------------------------------- */

static EVP_PKEY *
key_rsa(unsigned int bits, unsigned long e)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	EVP_PKEY *k = NULL;
	BIGNUM *bn = BN_new();

	if (ctx == NULL || bn == NULL || !BN_set_word(bn, e) ||
	    EVP_PKEY_keygen_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, (int)bits) <= 0 ||
	    EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, bn) <= 0 ||
	    EVP_PKEY_keygen(ctx, &k) <= 0)
		k = NULL;
	BN_free(bn);
	EVP_PKEY_CTX_free(ctx);
	return k;
}

static EVP_PKEY *
key_ec(const char *curve, int explicit_params)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *k = NULL;
	OSSL_PARAM params[3];

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
						     (char *)curve, 0);
	params[1] = OSSL_PARAM_construct_utf8_string(
	    OSSL_PKEY_PARAM_EC_ENCODING,
	    explicit_params ? "explicit" : "named_curve", 0);
	params[2] = OSSL_PARAM_construct_end();
	if (ctx == NULL || EVP_PKEY_keygen_init(ctx) <= 0 ||
	    !EVP_PKEY_CTX_set_params(ctx, params) ||
	    EVP_PKEY_keygen(ctx, &k) <= 0)
		k = NULL;
	EVP_PKEY_CTX_free(ctx);
	return k;
}

static int
keys_make(void)
{
	g.root = key_ec("P-384", 0);
	g.inter = key_rsa(2048, RSA_F4);
	g.rsa = key_rsa(2048, RSA_F4);
	g.ec = key_ec("P-256", 0);
	g.rsa1024 = key_rsa(1024, RSA_F4);
	g.rsa2050 = key_rsa(2050, RSA_F4);
	g.rsa_e3 = key_rsa(2048, 3);
	g.p521 = key_ec("P-521", 0);
	g.ed25519 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	g.ec_explicit = key_ec("P-256", 1);
	return g.root && g.inter && g.rsa && g.ec && g.rsa1024 && g.rsa2050 &&
	       g.rsa_e3 && g.p521 && g.ed25519 && g.ec_explicit;
}

static void
keys_free(void)
{
	EVP_PKEY *all[] = {g.root,    g.inter,	    g.rsa,    g.ec,
			   g.rsa1024, g.rsa2050,    g.rsa_e3, g.p521,
			   g.ed25519, g.ec_explicit};
	size_t i;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		EVP_PKEY_free(all[i]);
}

/* ---- certificate fixtures ------------------------------------------------ */

static void
fx_defaults(struct fx *f, enum fx_kind kind)
{
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	f->nb = NOW - 3600;
	f->ski = 1;
	f->aki = 1;
	switch (kind) {
	case FX_ROOT:
		f->key = f->signer = g.root;
		f->md = EVP_sha384();
		f->p = (struct lint_params){1, 1, 0, -1, NOW, 0};
		f->cn = "Airlock Test Root";
		f->bc = "critical,CA:TRUE";
		f->ku = "critical,keyCertSign,cRLSign";
		f->na_str = ROOT_NA;
		break;
	case FX_INTER:
		f->issuer = g.base[FX_ROOT];
		f->key = g.inter;
		f->signer = g.root;
		f->md = EVP_sha384();
		f->p = (struct lint_params){1, 0, 0, 0, NOW, 0};
		f->cn = "Airlock Test Intermediate";
		f->bc = "critical,CA:TRUE,pathlen:0";
		f->ku = "critical,digitalSignature,keyCertSign,cRLSign";
		f->days = 5 * 365;
		break;
	case FX_LEAF_RSA:
		f->issuer = g.base[FX_INTER];
		f->key = g.rsa;
		f->signer = g.inter;
		f->md = EVP_sha256();
		f->p = (struct lint_params){0, 0, 398, -1, NOW, 0};
		f->cn = "www.example.com";
		f->san = "DNS:www.example.com,DNS:*.example.com,"
			 "DNS:xn--bcher-kva.example.com,DNS:WWW2.Example.COM,"
			 "IP:192.0.2.10,IP:2001:db8::1";
		f->bc = "critical,CA:FALSE";
		f->ku = "critical,digitalSignature,keyEncipherment";
		f->eku = "serverAuth,clientAuth";
		f->days = 90;
		break;
	case FX_LEAF_EC:
		f->issuer = g.base[FX_INTER];
		f->key = g.ec;
		f->signer = g.inter;
		f->md = EVP_sha256();
		f->p = (struct lint_params){0, 0, 398, -1, NOW, 0};
		f->cn = "192.0.2.10";
		f->san = "DNS:mqtt.example.com,IP:192.0.2.10";
		f->ku = "critical,digitalSignature";
		f->eku = "clientAuth";
		f->days = 397;
		break;
	default:
		break;
	}
}

#define FX_TRY(f, cond)                                                        \
	do {                                                                   \
		if (!(cond)) {                                                 \
			printf("# fixture step failed: %s (line %d)\n", #cond, \
			       __LINE__);                                      \
			(f)->failed = 1;                                       \
		}                                                              \
	} while (0)

static X509_NAME *
name_make(const char *cn)
{
	X509_NAME *n = X509_NAME_new();

	if (n != NULL &&
	    (!X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8,
					 (const unsigned char *)"Airlock Test",
					 -1, -1, 0) ||
	     !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
					 (const unsigned char *)cn, -1, -1,
					 0))) {
		X509_NAME_free(n);
		n = NULL;
	}
	return n;
}

static int
serial_set(X509 *x, const unsigned char *b, size_t n, int negative)
{
	BIGNUM *bn = BN_bin2bn(b, (int)n, NULL);
	ASN1_INTEGER *ai = NULL;
	int ok;

	if (bn != NULL)
		BN_set_negative(bn, negative);
	ok = bn != NULL && (ai = BN_to_ASN1_INTEGER(bn, NULL)) != NULL &&
	     X509_set_serialNumber(x, ai);
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	return ok;
}

static const unsigned char good_serial[16] = {
    0x5a, 0x11, 0x93, 0xc4, 0x07, 0xe2, 0x6b, 0x38,
    0xd1, 0x4f, 0x80, 0x2c, 0xaa, 0x19, 0x76, 0x05};

static int
ext_conf_add(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	if (value == NULL)
		return 1;
	X509V3_set_ctx(&ctx, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
	X509V3_set_ctx_nodb(&ctx);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return 0;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

static ASN1_OCTET_STRING *
ski_compute(X509 *x)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	ASN1_OCTET_STRING *os = NULL;

	/* RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey */
	if (!X509_pubkey_digest(x, EVP_sha1(), md, &len) ||
	    (os = ASN1_OCTET_STRING_new()) == NULL ||
	    !ASN1_OCTET_STRING_set(os, md, (int)len)) {
		ASN1_OCTET_STRING_free(os);
		return NULL;
	}
	return os;
}

static int
aki_add(X509 *x, X509 *issuer, int mode)
{
	static const unsigned char bogus[20] = {0xaa, 0xbb, 0xcc, 0xdd, 0xee};
	AUTHORITY_KEYID *aki = AUTHORITY_KEYID_new();
	int crit, ok = 0;

	if (aki == NULL)
		return 0;
	if (mode == 2) {
		if ((aki->keyid = ASN1_OCTET_STRING_new()) == NULL ||
		    !ASN1_OCTET_STRING_set(aki->keyid, bogus, sizeof(bogus)))
			goto out;
	} else if (issuer != NULL) {
		aki->keyid = X509_get_ext_d2i(
		    issuer, NID_subject_key_identifier, &crit, NULL);
	} else {
		aki->keyid = ski_compute(x);
	}
	ok = aki->keyid != NULL &&
	     X509_add1_ext_i2d(x, NID_authority_key_identifier, aki, 0,
			       X509V3_ADD_APPEND);
out:
	AUTHORITY_KEYID_free(aki);
	return ok;
}

static X509 *
fx_build(struct fx *f)
{
	X509_NAME *subj = NULL, *iss = NULL;
	ASN1_OCTET_STRING *ski = NULL;
	X509 *x = NULL;

	if (f->mut != NULL)
		f->mut(f, PH_CONF);
	FX_TRY(f, (x = f->x = X509_new()) != NULL);
	if (f->failed)
		return NULL;
	FX_TRY(f, X509_set_version(x, X509_VERSION_3));
	FX_TRY(f, serial_set(x, good_serial, sizeof(good_serial), 0));
	FX_TRY(f, (subj = name_make(f->cn)) != NULL);
	FX_TRY(f, X509_set_subject_name(x, subj));
	if (f->issuer_cn != NULL)
		FX_TRY(f, (iss = name_make(f->issuer_cn)) != NULL &&
			      X509_set_issuer_name(x, iss));
	else
		FX_TRY(f, X509_set_issuer_name(
			      x, f->issuer != NULL
				     ? X509_get_subject_name(f->issuer)
				     : subj));
	FX_TRY(f, ASN1_TIME_set(X509_getm_notBefore(x), f->nb) != NULL);
	if (f->na_str != NULL)
		FX_TRY(f, ASN1_TIME_set_string_X509(X509_getm_notAfter(x),
						    f->na_str));
	else
		FX_TRY(f, ASN1_TIME_set(X509_getm_notAfter(x),
					f->nb + f->days * DAY) != NULL);
	FX_TRY(f, X509_set_pubkey(x, f->key));
	FX_TRY(f, ext_conf_add(x, f->issuer, NID_basic_constraints, f->bc));
	FX_TRY(f, ext_conf_add(x, f->issuer, NID_key_usage, f->ku));
	FX_TRY(f, ext_conf_add(x, f->issuer, NID_ext_key_usage, f->eku));
	FX_TRY(f, ext_conf_add(x, f->issuer, NID_subject_alt_name, f->san));
	if (f->ski)
		FX_TRY(f, (ski = ski_compute(x)) != NULL &&
			      X509_add1_ext_i2d(x, NID_subject_key_identifier,
						ski, 0, X509V3_ADD_APPEND));
	if (f->aki)
		FX_TRY(f, aki_add(x, f->issuer, f->aki));
	if (f->mut != NULL)
		f->mut(f, PH_TBS);
	FX_TRY(f, X509_sign(x, f->signer, f->md) > 0);
	if (f->mut != NULL)
		f->mut(f, PH_SIGNED);
	ASN1_OCTET_STRING_free(ski);
	X509_NAME_free(subj);
	X509_NAME_free(iss);
	if (f->failed) {
		X509_free(x);
		f->x = NULL;
	}
	return f->x;
}

/* ---- mutators: each breaks one thing ------------------------------------- */

static void
m_serial_zero(struct fx *f, enum fx_phase ph)
{
	static const unsigned char zero[1] = {0};

	if (ph == PH_TBS)
		FX_TRY(f, serial_set(f->x, zero, 1, 0));
}

static void
m_serial_negative(struct fx *f, enum fx_phase ph)
{
	if (ph == PH_TBS)
		FX_TRY(f,
		       serial_set(f->x, good_serial, sizeof(good_serial), 1));
}

static void
m_serial_21(struct fx *f, enum fx_phase ph)
{
	unsigned char b[21];

	memset(b, 0x5c, sizeof(b));
	b[0] = 0x01;
	if (ph == PH_TBS)
		FX_TRY(f, serial_set(f->x, b, sizeof(b), 0));
}

/* 20 octets with the top bit set: DER needs a 21st (a leading 0x00). */
static void
m_serial_20_high_bit(struct fx *f, enum fx_phase ph)
{
	unsigned char b[20];

	memset(b, 0x5c, sizeof(b));
	b[0] = 0x80;
	if (ph == PH_TBS)
		FX_TRY(f, serial_set(f->x, b, sizeof(b), 0));
}

static void
m_serial_4(struct fx *f, enum fx_phase ph)
{
	static const unsigned char b[4] = {0x12, 0x34, 0x56, 0x78};

	if (ph == PH_TBS)
		FX_TRY(f, serial_set(f->x, b, sizeof(b), 0));
}

static void
m_v1(struct fx *f, enum fx_phase ph)
{
	if (ph == PH_TBS)
		FX_TRY(f, X509_set_version(f->x, X509_VERSION_1));
}

/* Same text as the CA subject, but a PrintableString instead of the CA's
 * UTF8String: X509_NAME_cmp would call these equal. */
static void
m_issuer_printable(struct fx *f, enum fx_phase ph)
{
	X509_NAME *n;

	if (ph != PH_TBS)
		return;
	FX_TRY(f, (n = X509_NAME_new()) != NULL);
	if (n == NULL)
		return;
	FX_TRY(f, X509_NAME_add_entry_by_txt(
		      n, "O", MBSTRING_UTF8,
		      (const unsigned char *)"Airlock Test", -1, -1, 0));
	FX_TRY(f, X509_NAME_add_entry_by_txt(
		      n, "CN", V_ASN1_PRINTABLESTRING,
		      (const unsigned char *)"Airlock Test Intermediate", -1,
		      -1, 0));
	FX_TRY(f, X509_set_issuer_name(f->x, n));
	X509_NAME_free(n);
}

static void
m_sha1(struct fx *f, enum fx_phase ph)
{
	if (ph == PH_CONF)
		f->md = EVP_sha1();
}

static void
m_md5(struct fx *f, enum fx_phase ph)
{
	if (ph == PH_CONF)
		f->md = EVP_md5();
}

static void
m_outer_alg(struct fx *f, enum fx_phase ph)
{
	const X509_ALGOR *alg = NULL;

	if (ph != PH_SIGNED)
		return;
	X509_get0_signature(NULL, &alg, f->x);
	FX_TRY(f, X509_ALGOR_set0((X509_ALGOR *)alg,
				  OBJ_nid2obj(NID_sha384WithRSAEncryption),
				  V_ASN1_NULL, NULL));
}

static void
m_signed_by_root(struct fx *f, enum fx_phase ph)
{
	if (ph == PH_CONF)
		f->signer = g.root;
}

static void
m_dup_eku(struct fx *f, enum fx_phase ph)
{
	if (ph == PH_TBS)
		FX_TRY(f, ext_conf_add(f->x, f->issuer, NID_ext_key_usage,
				       "serverAuth"));
}

static void
ext_raw_add(struct fx *f, const char *oid, int crit, const void *data, int len)
{
	ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext = NULL;

	FX_TRY(f, o != NULL && os != NULL &&
		      ASN1_OCTET_STRING_set(os, data, len) &&
		      (ext = X509_EXTENSION_create_by_OBJ(NULL, o, crit, os)) !=
			  NULL &&
		      X509_add_ext(f->x, ext, -1));
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(o);
}

static void
m_bc_truncated(struct fx *f, enum fx_phase ph)
{
	if (ph == PH_TBS) /* SEQUENCE claiming 3 octets, holding 2 */
		ext_raw_add(f, "2.5.29.19", 1, "\x30\x03\x01\x01", 4);
}

static void
m_bc_trailing(struct fx *f, enum fx_phase ph)
{
	if (ph == PH_TBS) /* an empty SEQUENCE, then a stray NULL */
		ext_raw_add(f, "2.5.29.19", 1, "\x30\x00\x05\x00", 4);
}

static void
m_unknown_critical(struct fx *f, enum fx_phase ph)
{
	if (ph == PH_TBS)
		ext_raw_add(f, "1.3.6.1.4.1.55555.1", 1, "\x05\x00", 2);
}

static void
san_add_raw(struct fx *f, int type, const void *data, int len)
{
	GENERAL_NAMES *gens;
	GENERAL_NAME *gn = NULL;
	ASN1_STRING *s = NULL;
	int crit;

	gens = X509_get_ext_d2i(f->x, NID_subject_alt_name, &crit, NULL);
	if (gens == NULL)
		gens = GENERAL_NAMES_new();
	s = type == GEN_DNS ? ASN1_IA5STRING_new() : ASN1_OCTET_STRING_new();
	FX_TRY(f, gens != NULL && s != NULL && ASN1_STRING_set(s, data, len) &&
		      (gn = GENERAL_NAME_new()) != NULL);
	if (!f->failed) {
		GENERAL_NAME_set0_value(gn, type, s);
		s = NULL;
		FX_TRY(f, sk_GENERAL_NAME_push(gens, gn) > 0);
		gn = NULL;
		FX_TRY(f, X509_add1_ext_i2d(f->x, NID_subject_alt_name, gens, 0,
					    X509V3_ADD_REPLACE));
	}
	GENERAL_NAME_free(gn);
	ASN1_STRING_free(s);
	GENERAL_NAMES_free(gens);
}

static void
m_dns_nul(struct fx *f, enum fx_phase ph)
{
	static const char name[] = "www.example.com\0.evil.example";

	if (ph == PH_TBS)
		san_add_raw(f, GEN_DNS, name, (int)sizeof(name) - 1);
}

static void
m_ip_5(struct fx *f, enum fx_phase ph)
{
	if (ph == PH_TBS)
		san_add_raw(f, GEN_IPADD, "\xc0\x00\x02\x0b\x01", 5);
}

static char long_name[300];

static void
m_dns_254(struct fx *f, enum fx_phase ph)
{
	/* 63.63.63.62 octets + 3 dots = 254 */
	memset(long_name, 'a', 254);
	long_name[63] = long_name[127] = long_name[191] = '.';
	long_name[254] = '\0';
	if (ph == PH_TBS)
		san_add_raw(f, GEN_DNS, long_name, 254);
}

static void
m_dns_label_64(struct fx *f, enum fx_phase ph)
{
	memset(long_name, 'b', 64);
	memcpy(long_name + 64, ".example.com", sizeof(".example.com"));
	if (ph == PH_TBS)
		san_add_raw(f, GEN_DNS, long_name, (int)strlen(long_name));
}

static void
m_key_ec_keyenc(struct fx *f, enum fx_phase ph)
{
	if (ph == PH_CONF)
		f->ku = "critical,digitalSignature,keyEncipherment";
}

static void
m_validity_inverted(struct fx *f, enum fx_phase ph)
{
	if (ph != PH_TBS)
		return;
	FX_TRY(f, ASN1_TIME_set(X509_getm_notBefore(f->x), NOW + 3600));
	FX_TRY(f, ASN1_TIME_set(X509_getm_notAfter(f->x), NOW + 1800));
}

static void
m_days_400(struct fx *f, enum fx_phase ph)
{
	if (ph == PH_CONF)
		f->days = 400;
}

static void
m_outlive_issuer(struct fx *f, enum fx_phase ph)
{
	if (ph == PH_CONF) {
		f->days = 6 * 365;
		f->p.max_validity_days = 0;
	}
}

static void
m_expired(struct fx *f, enum fx_phase ph)
{
	if (ph == PH_CONF)
		f->nb = NOW - 100 * DAY;
}

static void
m_nb_future(struct fx *f, enum fx_phase ph)
{
	if (ph == PH_CONF)
		f->nb = NOW + 2 * DAY;
}

static void
time_raw(struct fx *f, ASN1_TIME *t, int type, const char *s)
{
	FX_TRY(f, ASN1_STRING_set(t, s, (int)strlen(s)));
	t->type = type; /* ASN1_TIME is an ASN1_STRING: type is public */
}

static void
m_na_no_seconds(struct fx *f, enum fx_phase ph)
{
	if (ph == PH_TBS)
		time_raw(f, X509_getm_notAfter(f->x), V_ASN1_UTCTIME,
			 "2603010000Z");
}

static void
m_na_fraction(struct fx *f, enum fx_phase ph)
{
	if (ph == PH_TBS)
		time_raw(f, X509_getm_notAfter(f->x), V_ASN1_GENERALIZEDTIME,
			 "20510101000000.5Z");
}

static void
m_nb_offset(struct fx *f, enum fx_phase ph)
{
	if (ph == PH_TBS)
		time_raw(f, X509_getm_notBefore(f->x), V_ASN1_UTCTIME,
			 "251231230000+0000");
}

static void
m_na_generalized_2026(struct fx *f, enum fx_phase ph)
{
	if (ph == PH_TBS)
		FX_TRY(f, ASN1_GENERALIZEDTIME_set_string(
			      X509_getm_notAfter(f->x), "20260401000000Z"));
}

static void
m_na_utc_2051(struct fx *f, enum fx_phase ph)
{
	if (ph == PH_TBS)
		FX_TRY(f, ASN1_UTCTIME_set_string(X509_getm_notAfter(f->x),
						  "510101000000Z"));
}

#define KEY_MUT(name, k)                                                       \
	static void m_key_##name(struct fx *f, enum fx_phase ph)               \
	{                                                                      \
		if (ph == PH_CONF)                                             \
			f->key = g.k;                                          \
	}
KEY_MUT(rsa1024, rsa1024)
KEY_MUT(rsa2050, rsa2050)
KEY_MUT(rsa_e3, rsa_e3)
KEY_MUT(p521, p521)
KEY_MUT(ed25519, ed25519)
KEY_MUT(ec_explicit, ec_explicit)
#undef KEY_MUT

static void
m_no_ski(struct fx *f, enum fx_phase ph)
{
	if (ph == PH_CONF)
		f->ski = 0;
}

static void
m_no_aki(struct fx *f, enum fx_phase ph)
{
	if (ph == PH_CONF)
		f->aki = 0;
}

static void
m_bad_aki(struct fx *f, enum fx_phase ph)
{
	if (ph == PH_CONF)
		f->aki = 2;
}

/* ---- the certificate cases ----------------------------------------------- */

enum fx_set {
	SET_NONE,
	SET_SAN,
	SET_SAN_ADD, /* a dNSName appended to the default SANs */
	SET_CN,
	SET_BC,
	SET_KU,
	SET_EKU,
	SET_ISSUER_CN,
};

struct cert_case {
	const char *id;
	enum fx_kind kind;
	const char *what;
	enum fx_set set;
	const char *value; /* NULL with SET_*: leave the extension out */
	void (*mut)(struct fx *, enum fx_phase);
};

static const struct cert_case cert_cases[] = {
    {"e_serial_not_positive", FX_LEAF_RSA, "serial 0", SET_NONE, NULL,
     m_serial_zero},
    {"e_serial_not_positive", FX_LEAF_RSA, "negative serial", SET_NONE, NULL,
     m_serial_negative},
    {"e_serial_too_long", FX_LEAF_RSA, "21-octet serial", SET_NONE, NULL,
     m_serial_21},
    {"e_serial_too_long", FX_LEAF_RSA, "20 octets, top bit set", SET_NONE, NULL,
     m_serial_20_high_bit},
    {"e_serial_low_entropy", FX_LEAF_RSA, "4-octet serial", SET_NONE, NULL,
     m_serial_4},
    {"e_version_not_v3", FX_LEAF_RSA, "v1", SET_NONE, NULL, m_v1},
    {"e_issuer_name_mismatch", FX_LEAF_RSA, "issuer differs by one byte",
     SET_ISSUER_CN, "Airlock Test Intermediatf", NULL},
    {"e_issuer_name_mismatch", FX_LEAF_RSA,
     "issuer PrintableString vs UTF8String", SET_NONE, NULL,
     m_issuer_printable},
    {"e_issuer_name_mismatch", FX_ROOT, "root issuer != subject", SET_ISSUER_CN,
     "Airlock Test Rooo", NULL},
    {"e_sig_alg_mismatch", FX_LEAF_RSA, "outer sha384WithRSA, TBS sha256",
     SET_NONE, NULL, m_outer_alg},
    {"e_sig_alg_not_allowed", FX_LEAF_RSA, "sha1WithRSAEncryption", SET_NONE,
     NULL, m_sha1},
    {"e_sig_alg_not_allowed", FX_LEAF_RSA, "md5WithRSAEncryption", SET_NONE,
     NULL, m_md5},
    {"e_sig_alg_not_allowed", FX_ROOT, "ecdsa-with-SHA1 root", SET_NONE, NULL,
     m_sha1},
    {"e_sig_alg_key_mismatch", FX_LEAF_RSA, "ECDSA signature, RSA issuer",
     SET_NONE, NULL, m_signed_by_root},
    {"e_ext_duplicate", FX_LEAF_RSA, "extendedKeyUsage twice", SET_NONE, NULL,
     m_dup_eku},
    {"e_ext_undecodable", FX_LEAF_EC, "truncated basicConstraints", SET_NONE,
     NULL, m_bc_truncated},
    {"e_ext_undecodable", FX_LEAF_EC, "basicConstraints with trailing bytes",
     SET_NONE, NULL, m_bc_trailing},
    {"e_ext_unknown_critical", FX_LEAF_RSA, "critical private extension",
     SET_NONE, NULL, m_unknown_critical},
    {"e_leaf_san_missing", FX_LEAF_RSA, "no subjectAltName", SET_SAN, NULL,
     NULL},
    {"e_leaf_san_type", FX_LEAF_RSA, "rfc822Name SAN", SET_SAN,
     "DNS:www.example.com,email:ops@example.com", NULL},
    {"e_leaf_san_type", FX_LEAF_RSA, "URI SAN", SET_SAN,
     "DNS:www.example.com,URI:https://example.com/", NULL},
    {"e_leaf_cn_not_in_san", FX_LEAF_RSA, "CN other.example.com", SET_CN,
     "other.example.com", NULL},
    {"e_leaf_cn_not_in_san", FX_LEAF_EC, "CN 192.0.2.11, SAN 192.0.2.10",
     SET_CN, "192.0.2.11", NULL},
    {"e_leaf_bc_ca", FX_LEAF_RSA, "CA:TRUE leaf", SET_BC, "critical,CA:TRUE",
     NULL},
    {"e_leaf_bc_path_len", FX_LEAF_RSA, "pathLen on leaf", SET_BC,
     "critical,CA:FALSE,pathlen:0", NULL},
    {"e_leaf_ku_cert_sign", FX_LEAF_RSA, "keyCertSign on leaf", SET_KU,
     "critical,digitalSignature,keyEncipherment,keyCertSign", NULL},
    {"e_leaf_ku_cert_sign", FX_LEAF_EC, "cRLSign on leaf", SET_KU,
     "critical,digitalSignature,cRLSign", NULL},
    {"e_leaf_eku_missing", FX_LEAF_RSA, "no extendedKeyUsage", SET_EKU, NULL,
     NULL},
    {"e_leaf_eku_any", FX_LEAF_RSA, "anyExtendedKeyUsage", SET_EKU,
     "serverAuth,anyExtendedKeyUsage", NULL},
    {"e_ku_bit_not_allowed", FX_LEAF_EC, "keyEncipherment on EC key", SET_NONE,
     NULL, m_key_ec_keyenc},
    {"e_ku_bit_not_allowed", FX_LEAF_RSA, "keyAgreement on RSA key", SET_KU,
     "critical,digitalSignature,keyAgreement", NULL},
    {"e_ku_bit_not_allowed", FX_INTER, "keyEncipherment on CA", SET_KU,
     "critical,keyCertSign,cRLSign,keyEncipherment", NULL},
    {"e_ca_bc_missing", FX_INTER, "no basicConstraints", SET_BC, NULL, NULL},
    {"e_ca_bc_not_ca", FX_INTER, "CA:FALSE on CA", SET_BC, "critical,CA:FALSE",
     NULL},
    {"e_ca_bc_not_critical", FX_INTER, "non-critical basicConstraints", SET_BC,
     "CA:TRUE,pathlen:0", NULL},
    {"e_ca_path_len", FX_INTER, "pathLen 1, profile 0", SET_BC,
     "critical,CA:TRUE,pathlen:1", NULL},
    {"e_ca_path_len", FX_INTER, "pathLen absent, profile 0", SET_BC,
     "critical,CA:TRUE", NULL},
    {"e_ca_path_len", FX_ROOT, "pathLen 0, profile none", SET_BC,
     "critical,CA:TRUE,pathlen:0", NULL},
    {"e_ca_ku_missing", FX_INTER, "no keyUsage", SET_KU, NULL, NULL},
    {"e_ca_ku_not_critical", FX_INTER, "non-critical keyUsage", SET_KU,
     "keyCertSign,cRLSign", NULL},
    {"e_ca_ku_sign_bits", FX_INTER, "no cRLSign", SET_KU,
     "critical,keyCertSign", NULL},
    {"e_ca_ku_sign_bits", FX_ROOT, "no keyCertSign", SET_KU,
     "critical,digitalSignature,cRLSign", NULL},
    {"e_ca_ski_missing", FX_INTER, "no subjectKeyIdentifier", SET_NONE, NULL,
     m_no_ski},
    {"e_aki_missing", FX_LEAF_RSA, "no authorityKeyIdentifier", SET_NONE, NULL,
     m_no_aki},
    {"e_aki_mismatch", FX_LEAF_EC, "AKI != issuer SKI", SET_NONE, NULL,
     m_bad_aki},
    {"e_aki_mismatch", FX_ROOT, "root AKI != own SKI", SET_NONE, NULL,
     m_bad_aki},
    {"e_time_format", FX_LEAF_RSA, "UTCTime without seconds", SET_NONE, NULL,
     m_na_no_seconds},
    {"e_time_format", FX_ROOT, "GeneralizedTime with fraction", SET_NONE, NULL,
     m_na_fraction},
    {"e_time_format", FX_LEAF_EC, "UTCTime with +0000", SET_NONE, NULL,
     m_nb_offset},
    {"e_time_type", FX_LEAF_RSA, "GeneralizedTime in 2026", SET_NONE, NULL,
     m_na_generalized_2026},
    {"e_time_type", FX_ROOT, "UTCTime meant for 2051", SET_NONE, NULL,
     m_na_utc_2051},
    {"e_validity_inverted", FX_LEAF_RSA, "notAfter before notBefore", SET_NONE,
     NULL, m_validity_inverted},
    {"e_validity_too_long", FX_LEAF_RSA, "400 days, cap 398", SET_NONE, NULL,
     m_days_400},
    {"e_validity_outlives_issuer", FX_LEAF_EC, "leaf outlives issuer", SET_NONE,
     NULL, m_outlive_issuer},
    {"e_validity_expired", FX_LEAF_RSA, "notAfter in the past", SET_NONE, NULL,
     m_expired},
    {"e_not_before_future", FX_LEAF_RSA, "notBefore in 2 days", SET_NONE, NULL,
     m_nb_future},
    {"e_dns_nul", FX_LEAF_RSA, "embedded NUL", SET_NONE, NULL, m_dns_nul},
    {"e_dns_bad_char", FX_LEAF_RSA, "underscore", SET_SAN_ADD,
     "_acme.example.com", NULL},
    {"e_dns_bad_char", FX_LEAF_RSA, "U-label", SET_SAN_ADD,
     "b\xc3\xbc"
     "cher.example.com",
     NULL},
    {"e_dns_hyphen", FX_LEAF_RSA, "leading hyphen", SET_SAN_ADD,
     "-a.example.com", NULL},
    {"e_dns_hyphen", FX_LEAF_RSA, "trailing hyphen", SET_SAN_ADD,
     "a-.example.com", NULL},
    {"e_dns_reserved_label", FX_LEAF_RSA, "ab--c label", SET_SAN_ADD,
     "ab--c.example.com", NULL},
    {"e_dns_trailing_dot", FX_LEAF_RSA, "trailing dot", SET_SAN_ADD,
     "www.example.com.", NULL},
    {"e_dns_empty_label", FX_LEAF_RSA, "a..example.com", SET_SAN_ADD,
     "a..example.com", NULL},
    {"e_dns_empty_label", FX_LEAF_RSA, "leading dot", SET_SAN_ADD,
     ".example.com", NULL},
    {"e_dns_too_long", FX_LEAF_RSA, "254 octets", SET_NONE, NULL, m_dns_254},
    {"e_dns_label_too_long", FX_LEAF_RSA, "64-octet label", SET_NONE, NULL,
     m_dns_label_64},
    {"e_dns_wildcard_position", FX_LEAF_RSA, "a.*.example.com", SET_SAN_ADD,
     "a.*.example.com", NULL},
    {"e_dns_wildcard_position", FX_LEAF_RSA, "f*.example.com", SET_SAN_ADD,
     "f*.example.com", NULL},
    {"e_dns_wildcard_tld", FX_LEAF_RSA, "*.com", SET_SAN_ADD, "*.com", NULL},
    {"e_ip_length", FX_LEAF_RSA, "5-octet iPAddress", SET_NONE, NULL, m_ip_5},
    {"e_key_type", FX_LEAF_EC, "Ed25519 key", SET_NONE, NULL, m_key_ed25519},
    {"e_rsa_key_size", FX_LEAF_RSA, "RSA-1024", SET_NONE, NULL, m_key_rsa1024},
    {"e_rsa_mod_bits", FX_LEAF_RSA, "RSA-2050", SET_NONE, NULL, m_key_rsa2050},
    {"e_rsa_exponent", FX_LEAF_RSA, "e=3", SET_NONE, NULL, m_key_rsa_e3},
    {"e_ec_curve", FX_LEAF_EC, "P-521", SET_NONE, NULL, m_key_p521},
    {"e_ec_curve", FX_LEAF_EC, "explicit P-256 parameters", SET_NONE, NULL,
     m_key_ec_explicit},
};

static const struct cert_case *cur_case;

static void
m_from_case(struct fx *f, enum fx_phase ph)
{
	const struct cert_case *cc = cur_case;

	if (ph == PH_CONF) {
		switch (cc->set) {
		case SET_SAN:
			f->san = cc->value;
			break;
		case SET_CN:
			f->cn = cc->value;
			break;
		case SET_BC:
			f->bc = cc->value;
			break;
		case SET_KU:
			f->ku = cc->value;
			break;
		case SET_EKU:
			f->eku = cc->value;
			break;
		case SET_ISSUER_CN:
			f->issuer_cn = cc->value;
			break;
		default:
			break;
		}
	}
	if (ph == PH_TBS && cc->set == SET_SAN_ADD)
		san_add_raw(f, GEN_DNS, cc->value, (int)strlen(cc->value));
	if (cc->mut != NULL)
		cc->mut(f, ph);
}

static void
findings_dump(const struct lint_result *lr)
{
	size_t i;

	for (i = 0; i < lint_result_count(lr); i++)
		printf("#   finding %s: %s\n", lint_result_id(lr, i),
		       lint_result_text(lr, i));
}

static int
only_id(const struct lint_result *lr, const char *id)
{
	size_t i, n = lint_result_count(lr);

	for (i = 0; i < n; i++)
		if (strcmp(lint_result_id(lr, i), id) != 0)
			return 0;
	return n > 0;
}

static X509 *
issuer_of(enum fx_kind kind, X509 *self)
{
	if (kind == FX_ROOT)
		return self;
	if (kind == FX_INTER)
		return g.base[FX_ROOT];
	return g.base[FX_INTER];
}

/* Lint X as it is, then again after a DER round trip (the second lint pass
 * sees a parsed certificate). Returns the in-memory result. */
static int
lint_both_ways(X509 *x, X509 *issuer, const struct lint_params *p,
	       struct lint_result **out, int *same)
{
	unsigned char *der = NULL;
	const unsigned char *q;
	struct lint_result *lr2 = NULL;
	X509 *y = NULL;
	size_t i;
	int len, r, r2 = AIRLOCK_E_INTERNAL;

	r = lint_cert_check(x, issuer, p, out);
	*same = 0;
	if ((len = i2d_X509(x, &der)) > 0) {
		q = der;
		if ((y = d2i_X509(NULL, &q, len)) != NULL)
			r2 = lint_cert_check(y, issuer == x ? y : issuer, p,
					     &lr2);
	}
	if (y == NULL) {
		*same = -1; /* OpenSSL will not parse it: nothing to compare */
	} else if (r2 == r &&
		   lint_result_count(lr2) == lint_result_count(*out)) {
		*same = 1;
		for (i = 0; i < lint_result_count(lr2); i++)
			if (strcmp(lint_result_id(lr2, i),
				   lint_result_id(*out, i)) != 0)
				*same = 0;
	}
	lint_result_free(lr2);
	X509_free(y);
	OPENSSL_free(der);
	return r;
}

static void
cert_case_run(const struct cert_case *cc, const char *prev_id)
{
	struct lint_result *lr = NULL;
	struct fx f;
	X509 *x, *issuer;
	int r, same;

	if (prev_id == NULL || strcmp(prev_id, cc->id) != 0) {
		fx_defaults(&f, cc->kind);
		r = lint_cert_check(g.base[cc->kind],
				    issuer_of(cc->kind, g.base[cc->kind]), &f.p,
				    &lr);
		TAP_CHECK(r == 0 && lint_result_count(lr) == 0,
			  "lint %s: passing fixture clean (%s)", cc->id,
			  kind_names[cc->kind]);
		findings_dump(lr);
		lint_result_free(lr);
		lr = NULL;
	}

	fx_defaults(&f, cc->kind);
	cur_case = cc;
	f.mut = m_from_case;
	if ((x = fx_build(&f)) == NULL) {
		TAP_CHECK(0, "lint %s: failing fixture built (%s)", cc->id,
			  cc->what);
		return;
	}
	issuer = issuer_of(cc->kind, x);
	err_detail_clear();
	r = lint_both_ways(x, issuer, &f.p, &lr, &same);
	TAP_CHECK(r == AIRLOCK_E_POLICY && only_id(lr, cc->id) &&
		      strncmp(err_detail_get(), cc->id, strlen(cc->id)) == 0,
		  "lint %s: failing fixture caught (%s: %s)", cc->id,
		  kind_names[cc->kind], cc->what);
	findings_dump(lr);
	if (same >= 0)
		TAP_CHECK(same == 1,
			  "lint %s: same verdict after a DER round trip (%s)",
			  cc->id, cc->what);
	lint_result_free(lr);
	X509_free(x);
}

static int
bases_make(void)
{
	struct fx f;
	int k;

	for (k = 0; k < FX_KINDS; k++) {
		fx_defaults(&f, (enum fx_kind)k);
		if ((g.base[k] = fx_build(&f)) == NULL)
			return 0;
	}
	return 1;
}

/* ---- CRL fixtures -------------------------------------------------------- */

struct crlfx {
	long version;
	const char *issuer_cn;
	int aki; /* 0 none, 1 CA SKI, 2 wrong */
	int number;
	int number_crit;
	time_t this_update, next_update; /* next 0: absent */
	const EVP_MD *md;
	void (*mut)(struct crlfx *, X509_CRL *, enum fx_phase);
	int failed;
};

static void
crlfx_defaults(struct crlfx *c)
{
	memset(c, 0, sizeof(*c));
	c->version = X509_CRL_VERSION_2;
	c->aki = 1;
	c->number = 1;
	c->this_update = NOW - 3600;
	c->next_update = NOW + 7 * DAY;
	c->md = EVP_sha256();
}

static int
crl_revoke(X509_CRL *crl, const unsigned char *serial, size_t n, time_t when)
{
	X509_REVOKED *rv = X509_REVOKED_new();
	ASN1_TIME *t = ASN1_TIME_set(NULL, when);
	BIGNUM *bn = BN_bin2bn(serial, (int)n, NULL);
	ASN1_INTEGER *ai = bn != NULL ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
	int ok;

	ok = rv != NULL && t != NULL && ai != NULL &&
	     X509_REVOKED_set_serialNumber(rv, ai) &&
	     X509_REVOKED_set_revocationDate(rv, t) &&
	     X509_CRL_add0_revoked(crl, rv);
	if (!ok)
		X509_REVOKED_free(rv);
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	ASN1_TIME_free(t);
	return ok;
}

static const unsigned char rev_serial_1[16] = {0x11, 0x22, 0x33, 0x44, 0x55,
					       0x66, 0x77, 0x08, 0x09, 0x0a,
					       0x0b, 0x0c, 0x0d, 0x0e, 0x0f};
static const unsigned char rev_serial_2[16] = {0x21, 0x22, 0x33, 0x44, 0x55,
					       0x66, 0x77, 0x08, 0x09, 0x0a,
					       0x0b, 0x0c, 0x0d, 0x0e, 0x0f};

static int
crl_number_add(X509_CRL *crl, const unsigned char *b, size_t n, int neg,
	       int crit)
{
	BIGNUM *bn = BN_bin2bn(b, (int)n, NULL);
	ASN1_INTEGER *ai = NULL;
	int ok;

	if (bn != NULL)
		BN_set_negative(bn, neg);
	ok = bn != NULL && (ai = BN_to_ASN1_INTEGER(bn, NULL)) != NULL &&
	     X509_CRL_add1_ext_i2d(crl, NID_crl_number, ai, crit,
				   X509V3_ADD_APPEND);
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	return ok;
}

static X509_CRL *
crlfx_build(struct crlfx *c)
{
	static const unsigned char num[2] = {0x12, 0x34};
	static const unsigned char bogus[20] = {0xaa, 0xbb, 0xcc};
	X509_CRL *crl = NULL;
	X509_NAME *iss = NULL;
	ASN1_TIME *t = NULL;
	AUTHORITY_KEYID *aki = NULL;
	int crit;

	if (c->mut != NULL)
		c->mut(c, NULL, PH_CONF);
	FX_TRY(c, (crl = X509_CRL_new()) != NULL);
	if (c->failed)
		return NULL;
	FX_TRY(c, X509_CRL_set_version(crl, c->version));
	if (c->issuer_cn != NULL)
		FX_TRY(c, (iss = name_make(c->issuer_cn)) != NULL &&
			      X509_CRL_set_issuer_name(crl, iss));
	else
		FX_TRY(c, X509_CRL_set_issuer_name(
			      crl, X509_get_subject_name(g.base[FX_INTER])));
	FX_TRY(c, (t = ASN1_TIME_set(NULL, c->this_update)) != NULL &&
		      X509_CRL_set1_lastUpdate(crl, t));
	ASN1_TIME_free(t);
	t = NULL;
	if (c->next_update != 0)
		FX_TRY(c, (t = ASN1_TIME_set(NULL, c->next_update)) != NULL &&
			      X509_CRL_set1_nextUpdate(crl, t));
	ASN1_TIME_free(t);
	FX_TRY(c,
	       crl_revoke(crl, rev_serial_1, sizeof(rev_serial_1), NOW - 7200));
	FX_TRY(c,
	       crl_revoke(crl, rev_serial_2, sizeof(rev_serial_2), NOW - 7000));
	if (c->aki != 0) {
		FX_TRY(c, (aki = AUTHORITY_KEYID_new()) != NULL);
		if (aki != NULL && c->aki == 1)
			aki->keyid = X509_get_ext_d2i(
			    g.base[FX_INTER], NID_subject_key_identifier, &crit,
			    NULL);
		else if (aki != NULL && (aki->keyid = ASN1_OCTET_STRING_new()))
			FX_TRY(c, ASN1_OCTET_STRING_set(aki->keyid, bogus,
							sizeof(bogus)));
		FX_TRY(c, aki != NULL && aki->keyid != NULL &&
			      X509_CRL_add1_ext_i2d(
				  crl, NID_authority_key_identifier, aki, 0,
				  X509V3_ADD_APPEND));
		AUTHORITY_KEYID_free(aki);
	}
	if (c->number)
		FX_TRY(c, crl_number_add(crl, num, sizeof(num), 0,
					 c->number_crit));
	if (c->mut != NULL)
		c->mut(c, crl, PH_TBS);
	FX_TRY(c, X509_CRL_sign(crl, g.inter, c->md) > 0);
	if (c->mut != NULL)
		c->mut(c, crl, PH_SIGNED);
	X509_NAME_free(iss);
	if (c->failed) {
		X509_CRL_free(crl);
		crl = NULL;
	}
	return crl;
}

static void
c_v1(struct crlfx *c, X509_CRL *crl, enum fx_phase ph)
{
	(void)crl;
	if (ph == PH_CONF)
		c->version = 0;
}

static void
c_issuer(struct crlfx *c, X509_CRL *crl, enum fx_phase ph)
{
	(void)crl;
	if (ph == PH_CONF)
		c->issuer_cn = "Airlock Test Intermediatf";
}

static void
c_no_aki(struct crlfx *c, X509_CRL *crl, enum fx_phase ph)
{
	(void)crl;
	if (ph == PH_CONF)
		c->aki = 0;
}

static void
c_bad_aki(struct crlfx *c, X509_CRL *crl, enum fx_phase ph)
{
	(void)crl;
	if (ph == PH_CONF)
		c->aki = 2;
}

static void
c_no_number(struct crlfx *c, X509_CRL *crl, enum fx_phase ph)
{
	(void)crl;
	if (ph == PH_CONF)
		c->number = 0;
}

static void
c_number_critical(struct crlfx *c, X509_CRL *crl, enum fx_phase ph)
{
	(void)crl;
	if (ph == PH_CONF)
		c->number_crit = 1;
}

static void
c_number_zero(struct crlfx *c, X509_CRL *crl, enum fx_phase ph)
{
	static const unsigned char zero[1] = {0};

	if (ph == PH_CONF)
		c->number = 0;
	if (ph == PH_TBS)
		FX_TRY(c, crl_number_add(crl, zero, 1, 0, 0));
}

static void
c_number_negative(struct crlfx *c, X509_CRL *crl, enum fx_phase ph)
{
	static const unsigned char five[1] = {5};

	if (ph == PH_CONF)
		c->number = 0;
	if (ph == PH_TBS)
		FX_TRY(c, crl_number_add(crl, five, 1, 1, 0));
}

static void
c_number_21(struct crlfx *c, X509_CRL *crl, enum fx_phase ph)
{
	unsigned char b[21];

	memset(b, 0x42, sizeof(b));
	if (ph == PH_CONF)
		c->number = 0;
	if (ph == PH_TBS)
		FX_TRY(c, crl_number_add(crl, b, sizeof(b), 0, 0));
}

static void
c_this_no_seconds(struct crlfx *c, X509_CRL *crl, enum fx_phase ph)
{
	ASN1_TIME *t;

	if (ph != PH_TBS)
		return;
	FX_TRY(c, (t = ASN1_TIME_new()) != NULL &&
		      ASN1_STRING_set(t, "2512312300Z", 11));
	if (t != NULL) {
		t->type = V_ASN1_UTCTIME;
		FX_TRY(c, X509_CRL_set1_lastUpdate(crl, t));
	}
	ASN1_TIME_free(t);
}

static void
c_revocation_generalized(struct crlfx *c, X509_CRL *crl, enum fx_phase ph)
{
	X509_REVOKED *rv;
	ASN1_TIME *t;

	if (ph != PH_TBS)
		return;
	rv = sk_X509_REVOKED_value(X509_CRL_get_REVOKED(crl), 0);
	FX_TRY(c, (t = ASN1_TIME_new()) != NULL &&
		      ASN1_GENERALIZEDTIME_set_string(t, "20251231220000Z") &&
		      X509_REVOKED_set_revocationDate(rv, t));
	ASN1_TIME_free(t);
}

static void
c_next_generalized(struct crlfx *c, X509_CRL *crl, enum fx_phase ph)
{
	ASN1_TIME *t;

	if (ph != PH_TBS)
		return;
	FX_TRY(c, (t = ASN1_TIME_new()) != NULL &&
		      ASN1_GENERALIZEDTIME_set_string(t, "20260108000000Z") &&
		      X509_CRL_set1_nextUpdate(crl, t));
	ASN1_TIME_free(t);
}

static void
c_no_next(struct crlfx *c, X509_CRL *crl, enum fx_phase ph)
{
	(void)crl;
	if (ph == PH_CONF)
		c->next_update = 0;
}

static void
c_next_before_this(struct crlfx *c, X509_CRL *crl, enum fx_phase ph)
{
	(void)crl;
	if (ph == PH_CONF)
		c->next_update = c->this_update - 3600;
}

static void
c_next_equal_this(struct crlfx *c, X509_CRL *crl, enum fx_phase ph)
{
	(void)crl;
	if (ph == PH_CONF)
		c->next_update = c->this_update;
}

static void
c_outer_alg(struct crlfx *c, X509_CRL *crl, enum fx_phase ph)
{
	const X509_ALGOR *alg = NULL;

	if (ph != PH_SIGNED)
		return;
	X509_CRL_get0_signature(crl, NULL, &alg);
	FX_TRY(c, X509_ALGOR_set0((X509_ALGOR *)alg,
				  OBJ_nid2obj(NID_sha512WithRSAEncryption),
				  V_ASN1_NULL, NULL));
}

static void
c_sha1(struct crlfx *c, X509_CRL *crl, enum fx_phase ph)
{
	(void)crl;
	if (ph == PH_CONF)
		c->md = EVP_sha1();
}

static void
c_dup_number(struct crlfx *c, X509_CRL *crl, enum fx_phase ph)
{
	static const unsigned char num[2] = {0x12, 0x35};

	if (ph == PH_TBS)
		FX_TRY(c, crl_number_add(crl, num, sizeof(num), 0, 0));
}

static void
c_dup_serial(struct crlfx *c, X509_CRL *crl, enum fx_phase ph)
{
	if (ph == PH_TBS)
		FX_TRY(c, crl_revoke(crl, rev_serial_1, sizeof(rev_serial_1),
				     NOW - 600));
}

struct crl_case {
	const char *id;
	const char *what;
	void (*mut)(struct crlfx *, X509_CRL *, enum fx_phase);
};

static const struct crl_case crl_cases[] = {
    {"e_crl_version", "v1 CRL", c_v1},
    {"e_crl_issuer_mismatch", "issuer differs by one byte", c_issuer},
    {"e_crl_aki_missing", "no authorityKeyIdentifier", c_no_aki},
    {"e_crl_aki_mismatch", "AKI != CA SKI", c_bad_aki},
    {"e_crl_number_missing", "no cRLNumber", c_no_number},
    {"e_crl_number_critical", "critical cRLNumber", c_number_critical},
    {"e_crl_number_range", "cRLNumber 0", c_number_zero},
    {"e_crl_number_range", "negative cRLNumber", c_number_negative},
    {"e_crl_number_range", "21-octet cRLNumber", c_number_21},
    {"e_crl_time_format", "thisUpdate without seconds", c_this_no_seconds},
    {"e_crl_time_type", "nextUpdate GeneralizedTime in 2026",
     c_next_generalized},
    {"e_crl_time_type", "revocationDate GeneralizedTime in 2025",
     c_revocation_generalized},
    {"e_crl_next_update_missing", "no nextUpdate", c_no_next},
    {"e_crl_update_order", "nextUpdate before thisUpdate", c_next_before_this},
    {"e_crl_update_order", "nextUpdate == thisUpdate", c_next_equal_this},
    {"e_crl_sig_alg_mismatch", "outer sha512WithRSA, TBS sha256", c_outer_alg},
    {"e_crl_sig_alg_not_allowed", "sha1WithRSAEncryption", c_sha1},
    {"e_crl_ext_duplicate", "cRLNumber twice", c_dup_number},
    {"e_crl_serial_duplicate", "serial listed twice", c_dup_serial},
};

static void
crl_case_run(const struct crl_case *cc, X509_CRL *good, const char *prev_id)
{
	struct lint_result *lr = NULL;
	struct crlfx c;
	X509_CRL *crl;
	int r;

	if (prev_id == NULL || strcmp(prev_id, cc->id) != 0) {
		r = lint_crl_check(good, g.base[FX_INTER], &lr);
		TAP_CHECK(r == 0 && lint_result_count(lr) == 0,
			  "lint %s: passing fixture clean (CRL)", cc->id);
		findings_dump(lr);
		lint_result_free(lr);
		lr = NULL;
	}
	crlfx_defaults(&c);
	c.mut = cc->mut;
	if ((crl = crlfx_build(&c)) == NULL) {
		TAP_CHECK(0, "lint %s: failing fixture built (%s)", cc->id,
			  cc->what);
		return;
	}
	err_detail_clear();
	r = lint_crl_check(crl, g.base[FX_INTER], &lr);
	TAP_CHECK(r == AIRLOCK_E_POLICY && only_id(lr, cc->id) &&
		      strncmp(err_detail_get(), cc->id, strlen(cc->id)) == 0,
		  "lint %s: failing fixture caught (CRL: %s)", cc->id,
		  cc->what);
	findings_dump(lr);
	lint_result_free(lr);
	X509_CRL_free(crl);
}

/* ---- whole-module checks ------------------------------------------------- */

static int
case_has_id(const char *id)
{
	size_t i;

	for (i = 0; i < sizeof(cert_cases) / sizeof(cert_cases[0]); i++)
		if (strcmp(cert_cases[i].id, id) == 0)
			return 1;
	for (i = 0; i < sizeof(crl_cases) / sizeof(crl_cases[0]); i++)
		if (strcmp(crl_cases[i].id, id) == 0)
			return 1;
	return 0;
}

static int
catalogue_has(const char *id)
{
	const char *const *ids;
	size_t i, n = lint_catalogue(&ids);

	for (i = 0; i < n; i++)
		if (strcmp(ids[i], id) == 0)
			return 1;
	return 0;
}

static void
catalogue_covered(void)
{
	const char *const *ids;
	size_t i, j, n = lint_catalogue(&ids);
	int dups = 0;

	TAP_CHECK(n > 0, "lint catalogue lists %zu lints", n);
	for (i = 0; i < n; i++) {
		TAP_CHECK(case_has_id(ids[i]),
			  "lint %s has a failing fixture in this test", ids[i]);
		for (j = 0; j < i; j++)
			dups += strcmp(ids[i], ids[j]) == 0;
	}
	TAP_CHECK(dups == 0, "lint ids are unique");
	for (i = 0; i < sizeof(cert_cases) / sizeof(cert_cases[0]); i++)
		if (!catalogue_has(cert_cases[i].id))
			TAP_CHECK(0, "fixture id %s is in the catalogue",
				  cert_cases[i].id);
	for (i = 0; i < sizeof(crl_cases) / sizeof(crl_cases[0]); i++)
		if (!catalogue_has(crl_cases[i].id))
			TAP_CHECK(0, "fixture id %s is in the catalogue",
				  crl_cases[i].id);
}

static void
texts_and_api(X509_CRL *good_crl)
{
	struct lint_result *lr = NULL;
	struct lint_params p;
	struct fx f;
	X509 *x;
	int r;

	/* the text names the value */
	fx_defaults(&f, FX_LEAF_RSA);
	cur_case = &cert_cases[0]; /* serial 0 */
	f.mut = m_from_case;
	TAP_CHECK((x = fx_build(&f)) != NULL, "zero-serial leaf built");
	if (x != NULL) {
		err_detail_clear();
		r = lint_cert_check(x, g.base[FX_INTER], &f.p, &lr);
		TAP_STR_EQ(lint_result_text(lr, 0),
			   "serial 0x00 is not positive",
			   "finding text names the serial");
		TAP_STR_EQ(err_detail_get(),
			   "e_serial_not_positive: serial 0x00 is not positive",
			   "error detail is '<id>: <text>'");
		TAP_CHECK(lint_result_id(lr, 1) == NULL &&
			      lint_result_text(lr, 1) == NULL,
			  "out-of-range finding index gives NULL");
		lint_result_free(lr);
		lr = NULL;
		r = lint_cert_check(x, g.base[FX_INTER], &f.p, NULL);
		TAP_CHECK(r == AIRLOCK_E_POLICY,
			  "verdict without a result list (got %s)",
			  err_name(r));
		X509_free(x);
	}

	/* a leaf linted as a CA, and a CA as a leaf, both fail */
	fx_defaults(&f, FX_INTER);
	p = f.p;
	r = lint_cert_check(g.base[FX_LEAF_RSA], g.base[FX_INTER], &p, &lr);
	TAP_CHECK(r == AIRLOCK_E_POLICY && lint_result_count(lr) >= 3,
		  "leaf linted as a CA is rejected (%zu findings)",
		  lint_result_count(lr));
	lint_result_free(lr);
	lr = NULL;
	fx_defaults(&f, FX_LEAF_RSA);
	r = lint_cert_check(g.base[FX_INTER], g.base[FX_ROOT], &f.p, &lr);
	TAP_CHECK(r == AIRLOCK_E_POLICY && lint_result_count(lr) >= 1,
		  "CA linted as a leaf is rejected (%zu findings)",
		  lint_result_count(lr));
	lint_result_free(lr);
	lr = NULL;

	/* the clock: the same leaf 100 days later has expired */
	p = f.p;
	p.now = NOW + 100 * DAY;
	r = lint_cert_check(g.base[FX_LEAF_RSA], g.base[FX_INTER], &p, &lr);
	TAP_CHECK(r == AIRLOCK_E_POLICY && only_id(lr, "e_validity_expired"),
		  "injected clock is used");
	lint_result_free(lr);
	lr = NULL;

	/* arguments */
	lr = (struct lint_result *)&p; /* must be cleared */
	r = lint_cert_check(NULL, g.base[FX_INTER], &f.p, &lr);
	TAP_CHECK(r == AIRLOCK_E_INVALID_ARG && lr == NULL,
		  "NULL certificate: invalid argument, result cleared");
	r = lint_cert_check(g.base[FX_LEAF_RSA], NULL, &f.p, NULL);
	TAP_CHECK(r == AIRLOCK_E_INVALID_ARG, "NULL issuer: invalid argument");
	r = lint_cert_check(g.base[FX_LEAF_RSA], g.base[FX_INTER], NULL, NULL);
	TAP_CHECK(r == AIRLOCK_E_INVALID_ARG, "NULL params: invalid argument");
	r = lint_crl_check(NULL, g.base[FX_INTER], NULL);
	TAP_CHECK(r == AIRLOCK_E_INVALID_ARG, "NULL CRL: invalid argument");
	TAP_CHECK(lint_result_count(NULL) == 0 &&
		      lint_result_id(NULL, 0) == NULL,
		  "NULL result is empty");
	lint_result_free(NULL);

	/* the good CRL survives a DER round trip */
	if (good_crl != NULL) {
		unsigned char *der = NULL;
		const unsigned char *q;
		X509_CRL *y = NULL;
		int len = i2d_X509_CRL(good_crl, &der);

		q = der;
		if (len > 0)
			y = d2i_X509_CRL(NULL, &q, len);
		r = y != NULL ? lint_crl_check(y, g.base[FX_INTER], &lr)
			      : AIRLOCK_E_FORMAT;
		TAP_CHECK(r == 0 && lint_result_count(lr) == 0,
			  "good CRL is clean after a DER round trip");
		findings_dump(lr);
		lint_result_free(lr);
		X509_CRL_free(y);
		OPENSSL_free(der);
	}
}

int
main(void)
{
	struct crlfx c;
	X509_CRL *good_crl = NULL;
	const char *prev = NULL;
	size_t i;
	int k;

	if (!keys_make() || !bases_make()) {
		TAP_CHECK(0, "software keys and base fixtures built");
		keys_free();
		return TAP_DONE();
	}
	for (k = 0; k < FX_KINDS; k++) {
		struct fx f;
		struct lint_result *lr = NULL;
		int r, same;

		fx_defaults(&f, (enum fx_kind)k);
		r = lint_both_ways(g.base[k], issuer_of(k, g.base[k]), &f.p,
				   &lr, &same);
		TAP_CHECK(r == 0 && lint_result_count(lr) == 0 && same == 1,
			  "good %s is clean, also after a DER round trip",
			  kind_names[k]);
		findings_dump(lr);
		lint_result_free(lr);
	}
	for (i = 0; i < sizeof(cert_cases) / sizeof(cert_cases[0]); i++) {
		cert_case_run(&cert_cases[i], prev);
		prev = cert_cases[i].id;
	}

	crlfx_defaults(&c);
	good_crl = crlfx_build(&c);
	TAP_CHECK(good_crl != NULL, "good CRL built");
	prev = NULL;
	for (i = 0;
	     good_crl != NULL && i < sizeof(crl_cases) / sizeof(crl_cases[0]);
	     i++) {
		crl_case_run(&crl_cases[i], good_crl, prev);
		prev = crl_cases[i].id;
	}
	catalogue_covered();
	texts_and_api(good_crl);

	X509_CRL_free(good_crl);
	for (k = 0; k < FX_KINDS; k++)
		X509_free(g.base[k]);
	keys_free();
	return TAP_DONE();
}
