#include "station/certsign.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

int
certsign_serial(struct token *t, ASN1_INTEGER **out)
{
	unsigned char buf[CERTSIGN_SERIAL_LEN];
	BIGNUM *bn = NULL;
	int r;

	*out = NULL;
	if (t != NULL) {
		if ((r = token_random(t, buf, sizeof(buf))) != 0)
			return r;
	} else if (RAND_bytes(buf, sizeof(buf)) != 1) {
		return AIRLOCK_E_CRYPTO;
	}
	/* positive and exactly 16 octets in DER: first byte 0x01..0x7f */
	buf[0] = (unsigned char)(1 + buf[0] % 0x7f);
	if ((bn = BN_bin2bn(buf, sizeof(buf), NULL)) == NULL ||
	    (*out = BN_to_ASN1_INTEGER(bn, NULL)) == NULL) {
		BN_free(bn);
		return AIRLOCK_E_NOMEM;
	}
	BN_free(bn);
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

const EVP_MD *
certsign_md(EVP_PKEY *key)
{
	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC &&
	    EVP_PKEY_get_bits(key) >= 384)
		return EVP_sha384();
	return EVP_sha256();
}

/* Split S at SEP (not escaped with '\') and add each "KEY=VALUE". */
static int
dn_add_parts(X509_NAME *name, const char *s, char sep)
{
	char part[1024], *eq;
	size_t n = 0;
	const char *p = s;
	int nid;

	for (;; p++) {
		if (*p == '\\' && p[1] != '\0') {
			if (n + 1 >= sizeof(part))
				return AIRLOCK_E_TOO_LARGE;
			part[n++] = *++p;
			continue;
		}
		if (*p != sep && *p != '\0') {
			if (n + 1 >= sizeof(part))
				return AIRLOCK_E_TOO_LARGE;
			part[n++] = *p;
			continue;
		}
		part[n] = '\0';
		if (n > 0) {
			char *k = part;
			while (*k == ' ')
				k++;
			if ((eq = strchr(k, '=')) == NULL || eq == k ||
			    eq[1] == '\0') {
				err_detail_set("subject part '%s' is not "
					       "KEY=VALUE",
					       k);
				return AIRLOCK_E_INVALID_ARG;
			}
			*eq = '\0';
			if ((nid = OBJ_txt2nid(k)) == NID_undef) {
				err_detail_set("unknown subject attribute '%s' "
					       "(use C, ST, L, O, OU, CN, ...)",
					       k);
				return AIRLOCK_E_INVALID_ARG;
			}
			if (!X509_NAME_add_entry_by_NID(
				name, nid, MBSTRING_UTF8,
				(const unsigned char *)eq + 1, -1, -1, 0)) {
				ERR_clear_error();
				err_detail_set("subject value for %s is not "
					       "acceptable (length or "
					       "characters)",
					       k);
				return AIRLOCK_E_INVALID_ARG;
			}
		}
		n = 0;
		if (*p == '\0')
			break;
	}
	return 0;
}

int
certsign_parse_dn(const char *s, X509_NAME **out)
{
	X509_NAME *name = NULL;
	int r;

	*out = NULL;
	if ((name = X509_NAME_new()) == NULL)
		return AIRLOCK_E_NOMEM;
	if (s[0] == '/')
		r = dn_add_parts(name, s + 1, '/');
	else
		r = dn_add_parts(name, s, ',');
	if (r == 0 && X509_NAME_entry_count(name) == 0) {
		err_detail_set("empty subject");
		r = AIRLOCK_E_INVALID_ARG;
	}
	if (r != 0) {
		X509_NAME_free(name);
		return r;
	}
	*out = name;
	return 0;
}

static int
add_ext_v(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer != NULL ? issuer : cert, cert, NULL, NULL,
		       0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL) {
		ERR_clear_error();
		err_detail_set("cannot make %s", OBJ_nid2sn(nid));
		return AIRLOCK_E_CRYPTO;
	}
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : AIRLOCK_E_CRYPTO;
}

int
certsign_prepare(X509 *cert, ASN1_INTEGER *serial, X509_NAME *subject,
		 X509 *issuer, EVP_PKEY *subject_key, time_t now, long days)
{
	int r;

	if (!X509_set_version(cert, X509_VERSION_3) ||
	    !X509_set_serialNumber(cert, serial) ||
	    !X509_set_subject_name(cert, subject) ||
	    !X509_set_issuer_name(cert, issuer != NULL
					    ? X509_get_subject_name(issuer)
					    : subject) ||
	    !X509_set_pubkey(cert, subject_key) ||
	    X509_time_adj_ex(X509_getm_notBefore(cert), 0, 0, &now) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(cert), (int)days, 0, &now) ==
		NULL)
		return AIRLOCK_E_CRYPTO;
	if (issuer != NULL &&
	    ASN1_TIME_compare(X509_get0_notAfter(cert),
			      X509_get0_notAfter(issuer)) > 0) {
		err_detail_set("%ld days from now is beyond the issuer's "
			       "notAfter; choose fewer --days",
			       days);
		return AIRLOCK_E_POLICY;
	}
	if ((r = add_ext_v(cert, issuer, NID_subject_key_identifier, "hash")) !=
	    0)
		return r;
	return add_ext_v(cert, issuer, NID_authority_key_identifier,
			 "keyid:always");
}

/* Throwaway software keys, one per type, made once per process: lint must
 * cost nothing per certificate. */
static pthread_mutex_t soft_lock = PTHREAD_MUTEX_INITIALIZER;
static EVP_PKEY *soft_cache[8];
static char soft_names[8][16];

int
certsign_soft_key(const char *type, EVP_PKEY **out)
{
	*out = NULL;
	if (strncmp(type, "rsa:", 4) == 0) {
		unsigned int bits = (unsigned int)strtoul(type + 4, NULL, 10);
		/* 512 only for the lint's throwaway signature (never a CA) */
		if ((bits < 2048 && bits != 512) || bits > 8192)
			return AIRLOCK_E_INVALID_ARG;
		*out = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
	} else if (strcmp(type, "ec:p256") == 0) {
		*out = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	} else if (strcmp(type, "ec:p384") == 0) {
		*out = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	} else {
		err_detail_set("key type '%s'", type);
		return AIRLOCK_E_INVALID_ARG;
	}
	return *out != NULL ? 0 : AIRLOCK_E_CRYPTO;
}

static int
certsign_throwaway(EVP_PKEY *like, EVP_PKEY **out)
{
	char type[16];
	size_t i;
	int r = 0;

	*out = NULL;
	/* The throwaway signature only has to give the TBS the CA's signature
	 * algorithm identifier (sha256WithRSAEncryption, ecdsa-with-SHA384,
	 * ...), which does not depend on the key size or curve: the cheapest
	 * key of the same algorithm will do, and lint must cost next to
	 * nothing per certificate (DESIGN.md). The digest still comes from
	 * the CA key (certsign_md). */
	if (EVP_PKEY_get_base_id(like) == EVP_PKEY_RSA)
		snprintf(type, sizeof(type), "rsa:512");
	else if (EVP_PKEY_get_base_id(like) == EVP_PKEY_EC)
		snprintf(type, sizeof(type), "ec:p256");
	else
		return AIRLOCK_E_INVALID_ARG;
	pthread_mutex_lock(&soft_lock);
	for (i = 0; i < 8 && soft_cache[i] != NULL; i++)
		if (strcmp(soft_names[i], type) == 0)
			break;
	if (i < 8 && soft_cache[i] == NULL) {
		if ((r = certsign_soft_key(type, &soft_cache[i])) == 0)
			memcpy(soft_names[i], type, strlen(type) + 1);
	}
	if (r == 0 && i < 8 && soft_cache[i] != NULL &&
	    EVP_PKEY_up_ref(soft_cache[i]))
		*out = soft_cache[i];
	pthread_mutex_unlock(&soft_lock);
	if (r == 0 && *out == NULL)
		r = AIRLOCK_E_INTERNAL;
	return r;
}

static int
tbs_der(X509 *cert, unsigned char **der, int *len)
{
	*der = NULL;
	if ((*len = i2d_re_X509_tbs(cert, der)) <= 0)
		return AIRLOCK_E_CRYPTO;
	return 0;
}

int
certsign_lint_tbs(X509 *cert, X509 *issuer, EVP_PKEY *ca_pub,
		  const struct lint_params *lp, unsigned char **tbs,
		  int *tbs_len, struct lint_result **lints)
{
	EVP_PKEY *soft = NULL;
	int r;

	*tbs = NULL;
	*tbs_len = 0;
	if (lints != NULL) {
		/* a caller may pass the same result holder twice */
		lint_result_free(*lints);
		*lints = NULL;
	}
	if ((r = certsign_throwaway(ca_pub, &soft)) != 0)
		return r;
	if (X509_sign(cert, soft, certsign_md(ca_pub)) <= 0) {
		r = AIRLOCK_E_CRYPTO;
		goto out;
	}
	if ((r = lint_cert_check(cert, issuer != NULL ? issuer : cert, lp,
				 lints)) != 0)
		goto out;
	lint_result_free(lints != NULL ? *lints : NULL);
	if (lints != NULL)
		*lints = NULL;
	r = tbs_der(cert, tbs, tbs_len);
out:
	EVP_PKEY_free(soft);
	return r;
}

int
certsign_finish(X509 *cert, X509 *issuer, EVP_PKEY *ca_key, EVP_PKEY *ca_pub,
		const unsigned char *tbs, int tbs_len,
		const struct lint_params *lp, struct lint_result **lints)
{
	unsigned char *tbs2 = NULL;
	int len2 = 0, r = AIRLOCK_E_INTERNAL;

	if (lints != NULL) {
		lint_result_free(*lints);
		*lints = NULL;
	}
	if (X509_sign(cert, ca_key, certsign_md(ca_pub)) <= 0) {
		r = token_sign_error("C_Sign");
		goto out;
	}
	/* the token signed exactly what was linted */
	if ((r = tbs_der(cert, &tbs2, &len2)) != 0)
		goto out;
	if (tbs_len != len2 || CRYPTO_memcmp(tbs, tbs2, (size_t)len2) != 0) {
		err_detail_set("the signed TBS differs from the linted TBS");
		r = AIRLOCK_E_CRYPTO;
		goto out;
	}
	/* the signature verifies with the CA's public key */
	if (X509_verify(cert, ca_pub) != 1) {
		ERR_clear_error();
		err_detail_set("the token's signature does not verify with the "
			       "CA public key: wrong key on the token?");
		r = AIRLOCK_E_CRYPTO;
		goto out;
	}
	/* lint the real certificate again */
	r = lint_cert_check(cert, issuer != NULL ? issuer : cert, lp, lints);
out:
	OPENSSL_free(tbs2);
	return r;
}

int
certsign_sign(X509 *cert, X509 *issuer, EVP_PKEY *ca_key, EVP_PKEY *ca_pub,
	      const struct lint_params *lp, struct lint_result **lints)
{
	unsigned char *tbs = NULL;
	int len = 0, r;

	if ((r = certsign_lint_tbs(cert, issuer, ca_pub, lp, &tbs, &len,
				   lints)) == 0)
		r = certsign_finish(cert, issuer, ca_key, ca_pub, tbs, len, lp,
				    lints);
	OPENSSL_free(tbs);
	return r;
}

int
certsign_pubkey(EVP_PKEY *key, EVP_PKEY **out)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	int len;

	*out = NULL;
	if ((len = i2d_PUBKEY(key, &der)) <= 0)
		return AIRLOCK_E_CRYPTO;
	p = der;
	*out = d2i_PUBKEY(NULL, &p, len);
	OPENSSL_free(der);
	return *out != NULL ? 0 : AIRLOCK_E_CRYPTO;
}

int
certsign_same_key(EVP_PKEY *a, EVP_PKEY *b)
{
	unsigned char *da = NULL, *db = NULL;
	int la, lb, same;

	la = i2d_PUBKEY(a, &da);
	lb = i2d_PUBKEY(b, &db);
	same = la > 0 && la == lb && CRYPTO_memcmp(da, db, (size_t)la) == 0;
	OPENSSL_free(da);
	OPENSSL_free(db);
	return same;
}

int
certsign_spki_sha256(EVP_PKEY *key, unsigned char out[32])
{
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(key, &der), ok;

	if (len <= 0)
		return AIRLOCK_E_CRYPTO;
	ok = EVP_Digest(der, (size_t)len, out, NULL, EVP_sha256(), NULL);
	OPENSSL_free(der);
	return ok ? 0 : AIRLOCK_E_CRYPTO;
}

int
certsign_cert_sha256(X509 *cert, unsigned char out[32])
{
	unsigned int n = 32;

	return X509_digest(cert, EVP_sha256(), out, &n) ? 0 : AIRLOCK_E_CRYPTO;
}
