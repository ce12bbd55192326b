/* Key generation on the token through the module's own C_GenerateKeyPair:
 * libp11 0.4.12 makes only RSA keys and cannot set CKA_EXTRACTABLE. */
#include <openssl/objects.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "pkcs11/ckr.h"
#include "pkcs11/token.h"
#include "pkcs11/token_int.h"

#define KEYGEN_ID_LEN 16

struct keygen_type {
	const char *name;
	CK_KEY_TYPE kt;
	CK_ULONG bits;
	int curve_nid;
};

static const struct keygen_type keygen_types[] = {
    {"rsa:2048", CKK_RSA, 2048, 0},
    {"rsa:3072", CKK_RSA, 3072, 0},
    {"rsa:4096", CKK_RSA, 4096, 0},
    {"ec:p256", CKK_EC, 256, NID_X9_62_prime256v1},
    {"ec:p384", CKK_EC, 384, NID_secp384r1},
};

static int
keygen_exists(struct token *t, CK_ATTRIBUTE_TYPE type, const void *v,
	      size_t len, int *exists)
{
	CK_ATTRIBUTE tmpl = {type, (void *)v, (CK_ULONG)len};
	CK_OBJECT_HANDLE h;
	CK_ULONG count = 0;
	int r;

	if ((r = token_int_find(t, &tmpl, 1, &h, 1, &count)) != 0)
		return r;
	*exists = count > 0;
	return 0;
}

static int
keygen_check_mech(struct token *t, CK_MECHANISM_TYPE mech, const char *mname,
		  const struct keygen_type *kt)
{
	CK_MECHANISM_INFO mi;
	CK_RV rv;

	rv = token_int_funcs(t)->C_GetMechanismInfo(token_int_slot(t), mech,
						    &mi);
	if (rv == CKR_MECHANISM_INVALID) {
		err_detail_set("token '%s' has no %s: it cannot make %s keys",
			       token_label(t), mname, kt->name);
		return AIRLOCK_E_TOKEN_MECHANISM;
	}
	if (rv != CKR_OK)
		return ckr_to_err(rv, "C_GetMechanismInfo");
	if (!(mi.flags & CKF_GENERATE_KEY_PAIR) ||
	    (mi.ulMaxKeySize != 0 &&
	     (kt->bits < mi.ulMinKeySize || kt->bits > mi.ulMaxKeySize))) {
		err_detail_set("token '%s' cannot make %s keys (%s sizes "
			       "%lu..%lu)",
			       token_label(t), kt->name, mname, mi.ulMinKeySize,
			       mi.ulMaxKeySize);
		return AIRLOCK_E_TOKEN_MECHANISM;
	}
	return 0;
}

/* DER of the named curve's OID, for CKA_EC_PARAMS (RFC 5480 namedCurve). */
static int
keygen_ec_params(int nid, unsigned char **der, int *len)
{
	ASN1_OBJECT *obj = OBJ_nid2obj(nid);

	*der = NULL;
	if (obj == NULL || (*len = i2d_ASN1_OBJECT(obj, der)) <= 0)
		return AIRLOCK_E_CRYPTO;
	return 0;
}

/* Read the private half back: the token must have kept what we asked. */
static int
keygen_verify(struct token *t, CK_OBJECT_HANDLE priv)
{
	CK_BBOOL sens = CK_FALSE, extr = CK_TRUE, nextr = CK_FALSE;
	CK_ATTRIBUTE a[] = {
	    {CKA_SENSITIVE, &sens, sizeof(sens)},
	    {CKA_EXTRACTABLE, &extr, sizeof(extr)},
	    {CKA_NEVER_EXTRACTABLE, &nextr, sizeof(nextr)},
	};
	CK_RV rv;

	rv = token_int_funcs(t)->C_GetAttributeValue(token_int_session(t), priv,
						     a, 3);
	if (rv != CKR_OK)
		return ckr_to_err(rv, "C_GetAttributeValue");
	if (sens != CK_TRUE || extr != CK_FALSE || nextr != CK_TRUE) {
		err_detail_set(
		    "token '%s' did not keep the new key sensitive "
		    "and non-extractable (sensitive=%d extractable=%d "
		    "never_extractable=%d); the key was destroyed",
		    token_label(t), sens, extr, nextr);
		return AIRLOCK_E_TOKEN_KEY_UNSAFE;
	}
	return 0;
}

int
token_keygen(struct token *t, const char *type, const char *label,
	     char **uri_out)
{
	const struct keygen_type *kt = NULL;
	CK_FUNCTION_LIST_PTR f = token_int_funcs(t);
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG bits;
	CK_BYTE e65537[] = {0x01, 0x00, 0x01};
	unsigned char id[KEYGEN_ID_LEN], *ecp = NULL;
	int ecp_len = 0, exists, r = AIRLOCK_E_INTERNAL;
	CK_MECHANISM mech = {0, NULL, 0};
	CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, priv = CK_INVALID_HANDLE;
	CK_ATTRIBUTE pubt[8], privt[12];
	CK_ULONG npub = 0, npriv = 0;
	CK_RV rv;
	size_t i, llen;
	struct p11_uri *u = NULL;

	*uri_out = NULL;
	for (i = 0; i < sizeof(keygen_types) / sizeof(keygen_types[0]); i++)
		if (strcmp(type, keygen_types[i].name) == 0)
			kt = &keygen_types[i];
	if (kt == NULL) {
		err_detail_set("key type '%.20s': use rsa:2048, rsa:3072, "
			       "rsa:4096, ec:p256 or ec:p384",
			       type);
		return AIRLOCK_E_INVALID_ARG;
	}
	llen = strlen(label);
	if (llen == 0 || llen > 64) {
		err_detail_set("a key label has 1 to 64 characters");
		return AIRLOCK_E_INVALID_ARG;
	}
	if ((r = keygen_exists(t, CKA_LABEL, label, llen, &exists)) != 0)
		return r;
	if (exists) {
		err_detail_set("token '%s' already has an object labelled "
			       "'%s'; choose another label (airlock never "
			       "replaces a key)",
			       token_label(t), label);
		return AIRLOCK_E_EXISTS;
	}
	if ((r = token_random(t, id, sizeof(id))) != 0)
		return r;
	if ((r = keygen_exists(t, CKA_ID, id, sizeof(id), &exists)) != 0)
		return r;
	if (exists) {
		err_detail_set("token '%s': a fresh random CKA_ID already "
			       "exists; the token's RNG is suspect",
			       token_label(t));
		return AIRLOCK_E_EXISTS;
	}

	pubt[npub++] = (CK_ATTRIBUTE){CKA_TOKEN, &yes, sizeof(yes)};
	pubt[npub++] = (CK_ATTRIBUTE){CKA_PRIVATE, &no, sizeof(no)};
	pubt[npub++] = (CK_ATTRIBUTE){CKA_VERIFY, &yes, sizeof(yes)};
	pubt[npub++] = (CK_ATTRIBUTE){CKA_LABEL, (void *)label, llen};
	pubt[npub++] = (CK_ATTRIBUTE){CKA_ID, id, sizeof(id)};
	privt[npriv++] = (CK_ATTRIBUTE){CKA_TOKEN, &yes, sizeof(yes)};
	privt[npriv++] = (CK_ATTRIBUTE){CKA_PRIVATE, &yes, sizeof(yes)};
	privt[npriv++] = (CK_ATTRIBUTE){CKA_SENSITIVE, &yes, sizeof(yes)};
	privt[npriv++] = (CK_ATTRIBUTE){CKA_EXTRACTABLE, &no, sizeof(no)};
	privt[npriv++] = (CK_ATTRIBUTE){CKA_SIGN, &yes, sizeof(yes)};
	privt[npriv++] = (CK_ATTRIBUTE){CKA_DECRYPT, &no, sizeof(no)};
	privt[npriv++] = (CK_ATTRIBUTE){CKA_UNWRAP, &no, sizeof(no)};
	privt[npriv++] = (CK_ATTRIBUTE){CKA_DERIVE, &no, sizeof(no)};
	privt[npriv++] = (CK_ATTRIBUTE){CKA_LABEL, (void *)label, llen};
	privt[npriv++] = (CK_ATTRIBUTE){CKA_ID, id, sizeof(id)};
	if (kt->kt == CKK_RSA) {
		mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
		if ((r = keygen_check_mech(t, mech.mechanism,
					   "CKM_RSA_PKCS_KEY_PAIR_GEN", kt)) !=
		    0)
			return r;
		bits = kt->bits;
		pubt[npub++] =
		    (CK_ATTRIBUTE){CKA_MODULUS_BITS, &bits, sizeof(bits)};
		pubt[npub++] =
		    (CK_ATTRIBUTE){CKA_PUBLIC_EXPONENT, e65537, sizeof(e65537)};
	} else {
		mech.mechanism = CKM_EC_KEY_PAIR_GEN;
		if ((r = keygen_check_mech(t, mech.mechanism,
					   "CKM_EC_KEY_PAIR_GEN", kt)) != 0)
			return r;
		if ((r = keygen_ec_params(kt->curve_nid, &ecp, &ecp_len)) != 0)
			return r;
		pubt[npub++] =
		    (CK_ATTRIBUTE){CKA_EC_PARAMS, ecp, (CK_ULONG)ecp_len};
	}
	rv = f->C_GenerateKeyPair(token_int_session(t), &mech, pubt, npub,
				  privt, npriv, &pub, &priv);
	if ((r = ckr_to_err(rv, "C_GenerateKeyPair")) != 0)
		goto out;
	if ((r = keygen_verify(t, priv)) != 0) {
		(void)f->C_DestroyObject(token_int_session(t), priv);
		(void)f->C_DestroyObject(token_int_session(t), pub);
		goto out;
	}
	if ((r = uri_new(&u)) != 0 ||
	    (r = uri_set1(u, "serial", token_serial(t),
			  strlen(token_serial(t)))) != 0 ||
	    (r = uri_set1(u, "token", token_label(t),
			  strlen(token_label(t)))) != 0 ||
	    (r = uri_set1(u, "object", label, llen)) != 0 ||
	    (r = uri_set1(u, "id", id, sizeof(id))) != 0 ||
	    (r = uri_set1(u, "type", "private", 7)) != 0)
		goto out;
	{
		struct token_key *k = NULL;
		if ((r = token_key_find(t, u, &k)) != 0)
			goto out;
		r = token_key_uri(k, uri_out);
		token_key_free(k);
	}
out:
	uri_free(u);
	OPENSSL_free(ecp);
	return r;
}
