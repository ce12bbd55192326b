#include "kv/mergebundle.h"

#include <cjson/cJSON.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/bundle.h"
#include "lib/err.h"

#define TRUST_MAX (1024 * 1024)

int
mergebundle_pem_certs(const unsigned char *buf, size_t len,
		      STACK_OF(X509) * *out)
{
	STACK_OF(X509) *sk = NULL;
	X509 *x;
	BIO *bio;
	int r = AIRLOCK_E_NOMEM;

	*out = NULL;
	if (len > INT32_MAX || (bio = BIO_new_mem_buf(buf, (int)len)) == NULL)
		return AIRLOCK_E_NOMEM;
	if ((sk = sk_X509_new_null()) == NULL)
		goto out;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			goto out;
		}
	}
	ERR_clear_error();
	if (sk_X509_num(sk) == 0) {
		err_detail_set("no PEM certificate found");
		r = AIRLOCK_E_FORMAT;
		goto out;
	}
	*out = sk;
	sk = NULL;
	r = 0;
out:
	sk_X509_pop_free(sk, X509_free);
	BIO_free(bio);
	return r;
}

static int
trust_load(const char *file, X509_STORE **out)
{
	STACK_OF(X509) *sk = NULL;
	unsigned char *buf = NULL;
	X509_STORE *st = NULL;
	size_t len = 0;
	FILE *f;
	int i, r = AIRLOCK_E_IO;

	*out = NULL;
	if ((f = fopen(file, "rb")) == NULL) {
		err_detail_set("--trust %s: cannot open", file);
		return AIRLOCK_E_NOT_FOUND;
	}
	if ((buf = malloc(TRUST_MAX)) == NULL) {
		fclose(f);
		return AIRLOCK_E_NOMEM;
	}
	len = fread(buf, 1, TRUST_MAX, f);
	if (ferror(f) || len == TRUST_MAX) {
		fclose(f);
		err_detail_set("--trust %s: unreadable or over 1 MiB", file);
		goto out;
	}
	fclose(f);
	if ((r = mergebundle_pem_certs(buf, len, &sk)) != 0) {
		err_detail_set("--trust %s: no PEM certificate", file);
		goto out;
	}
	r = AIRLOCK_E_NOMEM;
	if ((st = X509_STORE_new()) == NULL)
		goto out;
	for (i = 0; i < sk_X509_num(sk); i++)
		if (X509_STORE_add_cert(st, sk_X509_value(sk, i)) != 1)
			goto out;
	*out = st;
	st = NULL;
	r = 0;
out:
	X509_STORE_free(st);
	sk_X509_pop_free(sk, X509_free);
	free(buf);
	return r;
}

int
mergebundle_open(const char *dir, const char *trust_file, struct bundle **out)
{
	STACK_OF(X509) *untrusted = NULL, *sk = NULL;
	const unsigned char *data;
	X509_STORE *store = NULL;
	struct bundle *b = NULL;
	const char *fname;
	size_t i, len;
	int r;

	*out = NULL;
	if ((r = trust_load(trust_file, &store)) != 0)
		return r;
	if ((r = bundle_read(dir, &b)) != 0)
		goto out;
	if (strcmp(bundle_kind(b), BUNDLE_KIND_MERGE) != 0) {
		err_detail_set("%s is a %s bundle, not a merge bundle", dir,
			       bundle_kind(b));
		r = AIRLOCK_E_FORMAT;
		goto out;
	}
	/* CA certificates in the bundle may serve as intermediates; the
	 * anchor is only ever the pinned root. */
	if ((untrusted = sk_X509_new_null()) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	for (i = 0; i < bundle_file_count(b, BUNDLE_ROLE_CA_CERT); i++) {
		if ((r = bundle_file_data(b, BUNDLE_ROLE_CA_CERT, i, &data,
					  &len, &fname)) != 0)
			goto out;
		if (mergebundle_pem_certs(data, len, &sk) != 0)
			continue;
		while (sk_X509_num(sk) > 0)
			if (!sk_X509_push(untrusted, sk_X509_shift(sk))) {
				r = AIRLOCK_E_NOMEM;
				goto out;
			}
		sk_X509_free(sk);
		sk = NULL;
	}
	if ((r = bundle_verify_signature(b, store, untrusted, NULL)) != 0)
		goto out;
	*out = b;
	b = NULL;
	r = 0;
out:
	sk_X509_pop_free(sk, X509_free);
	sk_X509_pop_free(untrusted, X509_free);
	X509_STORE_free(store);
	bundle_free(b);
	return r;
}

const char *
mergebundle_entry_source(const struct bundle *b, size_t i, const char *field)
{
	const cJSON *m = bundle_entry_meta(b, i), *src, *it;

	src = cJSON_GetObjectItemCaseSensitive(m, "source");
	it = cJSON_GetObjectItemCaseSensitive(src, field);
	return cJSON_IsString(it) ? it->valuestring : NULL;
}

int
mergebundle_entry_chain(const struct bundle *b, size_t i, STACK_OF(X509) * *out)
{
	const unsigned char *data;
	const cJSON *serial;
	ASN1_INTEGER *ai;
	BIGNUM *bn = NULL;
	char *hex = NULL;
	size_t len, k;
	int r;

	*out = NULL;
	if ((r = bundle_entry_data(b, i, &data, &len)) != 0)
		return r;
	if ((r = mergebundle_pem_certs(data, len, out)) != 0) {
		err_detail_set("entry %s: the chain file holds no PEM "
			       "certificate",
			       bundle_entry_id(b, i));
		return r;
	}
	serial =
	    cJSON_GetObjectItemCaseSensitive(bundle_entry_meta(b, i), "serial");
	ai = X509_get_serialNumber(sk_X509_value(*out, 0));
	if ((bn = ASN1_INTEGER_to_BN(ai, NULL)) == NULL ||
	    (hex = BN_bn2hex(bn)) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	for (k = 0; hex[k] != '\0'; k++)
		if (hex[k] >= 'A' && hex[k] <= 'F')
			hex[k] = (char)(hex[k] - 'A' + 'a');
	{
		/* compare without leading zeros */
		const char *a = hex, *s2 = cJSON_IsString(serial)
					       ? serial->valuestring
					       : "";
		while (*a == '0' && a[1] != '\0')
			a++;
		while (*s2 == '0' && s2[1] != '\0')
			s2++;
		if (strcmp(a, s2) != 0) {
			err_detail_set("entry %s: the leaf's serial %s is not "
				       "the manifest's %s",
				       bundle_entry_id(b, i), a, s2);
			r = AIRLOCK_E_POLICY;
			goto out;
		}
	}
	r = 0;
out:
	if (r != 0) {
		sk_X509_pop_free(*out, X509_free);
		*out = NULL;
	}
	OPENSSL_free(hex);
	BN_free(bn);
	return r;
}
