/* airlock-kv publish DIR --to DIR --trust ROOT.pem: the CRLs (DER and PEM)
 * and CA certificates of a verified merge bundle into a directory that a
 * web server or a storage mount serves. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kv/cli.h"
#include "kv/cmds.h"
#include "kv/mergebundle.h"
#include "lib/bundle.h"
#include "lib/err.h"
#include "lib/safefile.h"

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: airlock-kv publish DIR --to DIR --trust ROOT.pem\n\n"
		"Verify the merge bundle DIR against the pinned root, then "
		"write its CRLs\n(NAME as DER and NAME.pem as PEM; each CRL "
		"must be signed by one of the\nbundle's CA certificates) "
		"and its CA certificates into the directory given\nby --to, "
		"replacing older copies atomically; a CRL older than the one "
		"published is\nrefused. The bundle's ledger records are "
		"witnessed first, as for merge.\nNo network.\n\n"
		"  --to DIR        the published directory (created if "
		"missing)\n"
		"  --trust FILE    the pinned root (PEM)\n"
		"  --state DIR     local state (the ledger replica the "
		"bundle must extend)\n"
		"  --json          one JSON document on stdout\n");
}

enum { OPT_TO = 1, OPT_TRUST };

static int
crl_check(const unsigned char *der, size_t len, STACK_OF(X509) * cas,
	  char **pem_out, size_t *pem_len)
{
	const unsigned char *p = der;
	X509_CRL *crl;
	BIO *bio = NULL;
	BUF_MEM *bm;
	int i, ok = 0, r = AIRLOCK_E_FORMAT;

	*pem_out = NULL;
	if ((crl = d2i_X509_CRL(NULL, &p, (long)len)) == NULL ||
	    p != der + len) {
		err_detail_set("not a DER CRL");
		goto out;
	}
	for (i = 0; i < sk_X509_num(cas) && !ok; i++) {
		X509 *ca = sk_X509_value(cas, i);
		if (X509_NAME_cmp(X509_get_subject_name(ca),
				  X509_CRL_get_issuer(crl)) == 0 &&
		    X509_CRL_verify(crl, X509_get0_pubkey(ca)) == 1)
			ok = 1;
	}
	if (!ok) {
		err_detail_set("the CRL is not signed by a CA certificate in "
			       "the bundle");
		r = AIRLOCK_E_POLICY;
		goto out;
	}
	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_X509_CRL(bio, crl) != 1) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	BIO_get_mem_ptr(bio, &bm);
	if ((*pem_out = malloc(bm->length)) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	memcpy(*pem_out, bm->data, bm->length);
	*pem_len = bm->length;
	r = 0;
out:
	BIO_free(bio);
	X509_CRL_free(crl);
	return r;
}

/* The CRL number of a DER CRL, or -1. */
static long long
crl_number(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)len);
	ASN1_INTEGER *n = NULL;
	long long v = -1;
	int64_t x;

	if (crl != NULL &&
	    (n = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL)) !=
		NULL &&
	    ASN1_INTEGER_get_int64(&x, n) == 1)
		v = (long long)x;
	ASN1_INTEGER_free(n);
	X509_CRL_free(crl);
	return v;
}

/* Never replace a published CRL with an older one (a replayed bundle). */
static int
crl_not_older(int dirfd, const char *fname, const unsigned char *der,
	      size_t len)
{
	unsigned char *old = NULL;
	size_t olen = 0;
	long long was, now;
	int r;

	if ((r = safefile_read_beneath(dirfd, fname, 16u << 20, &old, &olen)) ==
	    AIRLOCK_E_NOT_FOUND) {
		err_detail_clear();
		return 0;
	}
	if (r != 0)
		return r;
	was = crl_number(old, olen);
	now = crl_number(der, len);
	r = 0;
	if (now < was ||
	    (now == was && (olen != len || memcmp(old, der, len) != 0))) {
		err_detail_set("%s: the published CRL is number %lld; this "
			       "bundle's is %lld: refusing to go back (a "
			       "replayed or older bundle?)",
			       fname, was, now);
		r = AIRLOCK_E_POLICY;
	}
	free(old);
	return r;
}

int
cmd_publish(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"to", required_argument, NULL, OPT_TO},
	    {"trust", required_argument, NULL, OPT_TRUST},
	    {"state", required_argument, NULL, CLI_OPT_STATE},
	    {"json", no_argument, NULL, CLI_OPT_JSON},
	    {"quiet", no_argument, NULL, CLI_OPT_QUIET},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *to = NULL, *trust = NULL, *fname;
	const unsigned char *data;
	STACK_OF(X509) *cas = NULL, *sk = NULL;
	struct bundle *b = NULL;
	char pemname[80], *pem = NULL;
	size_t i, len, pem_len;
	int opt, st, r, dirfd = -1;
	cJSON *j = NULL, *arr = NULL;

	while ((opt = getopt_long(argc, argv, "hq", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			usage(stdout);
			return 0;
		case OPT_TO:
			to = optarg;
			break;
		case OPT_TRUST:
			trust = optarg;
			break;
		default:
			if ((st = cli_common_opt("publish", opt, optarg)) == 0)
				break;
			if (st == 1)
				usage(stderr);
			return AIRLOCK_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc || to == NULL || trust == NULL)
		return cli_usage("publish", "want DIR, --to DIR and --trust "
					    "ROOT.pem");
	if ((st = cli_bundle_to_dir("publish", argv[optind], trust, to, &b,
				    &dirfd)) != 0)
		goto done;
	if (kv_g.json) {
		j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "bundle_id", bundle_id(b));
		arr = cJSON_AddArrayToObject(j, "files");
	}
	if ((cas = sk_X509_new_null()) == NULL) {
		st = cli_fail("publish", AIRLOCK_E_NOMEM);
		goto done;
	}
	for (i = 0; i < bundle_file_count(b, BUNDLE_ROLE_CA_CERT); i++) {
		if ((r = bundle_file_data(b, BUNDLE_ROLE_CA_CERT, i, &data,
					  &len, &fname)) != 0 ||
		    (r = mergebundle_pem_certs(data, len, &sk)) != 0) {
			st = cli_fail("publish: CA certificate", r);
			goto done;
		}
		while (sk_X509_num(sk) > 0)
			sk_X509_push(cas, sk_X509_shift(sk));
		sk_X509_free(sk);
		sk = NULL;
		if ((r = safefile_write_atomic(dirfd, fname, data, len, 0644,
					       SAFEFILE_REPLACE)) != 0) {
			st = cli_fail("publish", r);
			goto done;
		}
		if (arr)
			cJSON_AddItemToArray(arr, cJSON_CreateString(fname));
		else if (kv_g.verbose >= 0)
			printf("%s/%s\n", to, fname);
	}
	for (i = 0; i < bundle_file_count(b, BUNDLE_ROLE_CRL); i++) {
		if ((r = bundle_file_data(b, BUNDLE_ROLE_CRL, i, &data, &len,
					  &fname)) != 0 ||
		    (r = crl_check(data, len, cas, &pem, &pem_len)) != 0 ||
		    (r = crl_not_older(dirfd, fname, data, len)) != 0) {
			st = cli_fail("publish: CRL", r);
			goto done;
		}
		snprintf(pemname, sizeof(pemname), "%s.pem", fname);
		if ((r = safefile_write_atomic(dirfd, fname, data, len, 0644,
					       SAFEFILE_REPLACE)) != 0 ||
		    (r = safefile_write_atomic(dirfd, pemname, pem, pem_len,
					       0644, SAFEFILE_REPLACE)) != 0) {
			st = cli_fail("publish", r);
			goto done;
		}
		free(pem);
		pem = NULL;
		if (arr) {
			cJSON_AddItemToArray(arr, cJSON_CreateString(fname));
			cJSON_AddItemToArray(arr, cJSON_CreateString(pemname));
		} else if (kv_g.verbose >= 0) {
			printf("%s/%s\n%s/%s\n", to, fname, to, pemname);
		}
	}
	if (j != NULL) {
		cli_json_print(j);
		j = NULL;
	}
	st = 0;
done:
	cJSON_Delete(j);
	free(pem);
	sk_X509_pop_free(sk, X509_free);
	sk_X509_pop_free(cas, X509_free);
	if (dirfd >= 0)
		close(dirfd);
	bundle_free(b);
	return st;
}
