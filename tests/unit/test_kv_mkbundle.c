/* Test helper for airlock-kv's merge tests, and a small unit test.
 *
 *   test_kv_mkbundle                 unit test: an unsigned merge bundle is
 *                                    written, read back, and refused by
 *                                    bundle_verify_signature()
 *   test_kv_mkbundle merge SPEC.json write a merge bundle with lib/bundle.h's
 *                                    writer, signed with a software key, as
 *                                    the station would (tests only)
 *
 * SPEC: {"parent":DIR,"name":NAME,"request_bundle_id":HEX32,
 *        "key":PEM,"cert":PEM,"chain":[PEM...],"created":UNIX (optional),
 *        "entries":[{"meta":{id,request_id,source,serial,profile},
 *                    "file":NAME,"path":FILE}],
 *        "files":[{"role":ROLE,"file":NAME,"path":FILE}]} */
#include <cjson/cJSON.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/bundle.h"
#include "lib/err.h"
#include "tests/unit/tap.h"

static unsigned char *
slurp(const char *path, size_t *len)
{
	unsigned char *b;
	FILE *f = fopen(path, "rb");
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	if (n < 0 || (b = malloc((size_t)n + 1)) == NULL) {
		fclose(f);
		return NULL;
	}
	*len = fread(b, 1, (size_t)n, f);
	b[*len] = 0;
	fclose(f);
	return b;
}

static int
die(const char *what, int r)
{
	fprintf(stderr, "test_kv_mkbundle: %s: %s: %s\n", what, err_str(r),
		err_detail_get());
	return 1;
}

static int
mkmerge(const char *specfile)
{
	struct bundle_writer *w = NULL;
	STACK_OF(X509) *chain = sk_X509_new_null();
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	cJSON *spec, *it;
	unsigned char *buf;
	size_t len;
	char *id = NULL;
	FILE *f;
	int r;

	if ((buf = slurp(specfile, &len)) == NULL ||
	    (spec = cJSON_Parse((char *)buf)) == NULL)
		return die("spec", AIRLOCK_E_FORMAT);
	free(buf);
#define S(k) cJSON_GetStringValue(cJSON_GetObjectItem(spec, k))
	if ((f = fopen(S("key"), "r")) == NULL ||
	    (key = PEM_read_PrivateKey(f, NULL, NULL, NULL)) == NULL)
		return die("key", AIRLOCK_E_CRYPTO);
	fclose(f);
	if ((f = fopen(S("cert"), "r")) == NULL ||
	    (cert = PEM_read_X509(f, NULL, NULL, NULL)) == NULL)
		return die("cert", AIRLOCK_E_CRYPTO);
	fclose(f);
	cJSON_ArrayForEach (it, cJSON_GetObjectItem(spec, "chain")) {
		X509 *x;
		if ((f = fopen(it->valuestring, "r")) == NULL)
			return die("chain", AIRLOCK_E_IO);
		while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
			sk_X509_push(chain, x);
		fclose(f);
	}
	if ((r = bundle_writer_new(BUNDLE_KIND_MERGE, "test_kv_mkbundle",
				   &w)) != 0 ||
	    (r = bundle_writer_set_request_bundle_id(
		 w, S("request_bundle_id"))) != 0)
		return die("writer", r);
	if (cJSON_IsNumber(cJSON_GetObjectItem(spec, "created")))
		bundle_writer_set_created(
		    w,
		    (time_t)cJSON_GetObjectItem(spec, "created")->valuedouble);
	cJSON_ArrayForEach (it, cJSON_GetObjectItem(spec, "entries")) {
		cJSON *meta =
		    cJSON_Duplicate(cJSON_GetObjectItem(it, "meta"), 1);
		const char *path =
		    cJSON_GetStringValue(cJSON_GetObjectItem(it, "path"));
		if ((buf = slurp(path, &len)) == NULL)
			return die(path, AIRLOCK_E_IO);
		if ((r = bundle_writer_add_entry(
			 w, meta,
			 cJSON_GetStringValue(cJSON_GetObjectItem(it, "file")),
			 buf, len)) != 0)
			return die("entry", r);
		free(buf);
	}
	cJSON_ArrayForEach (it, cJSON_GetObjectItem(spec, "files")) {
		const char *path =
		    cJSON_GetStringValue(cJSON_GetObjectItem(it, "path"));
		if ((buf = slurp(path, &len)) == NULL)
			return die(path, AIRLOCK_E_IO);
		if ((r = bundle_writer_add_file(
			 w,
			 cJSON_GetStringValue(cJSON_GetObjectItem(it, "role")),
			 cJSON_GetStringValue(cJSON_GetObjectItem(it, "file")),
			 buf, len)) != 0)
			return die("file", r);
		free(buf);
	}
	if ((r = bundle_writer_commit(w, S("parent"), S("name"), key, cert,
				      chain, &id)) != 0)
		return die("commit", r);
	printf("%s\n", id);
#undef S
	free(id);
	bundle_writer_free(w);
	sk_X509_pop_free(chain, X509_free);
	X509_free(cert);
	EVP_PKEY_free(key);
	cJSON_Delete(spec);
	return 0;
}

static void
unit(void)
{
	static const char pem[] = "-----BEGIN CERTIFICATE-----\nMIIB\n"
				  "-----END CERTIFICATE-----\n";
	char dir[] = "/tmp/test_kv_mkbundle.XXXXXX", path[128];
	struct bundle_writer *w = NULL;
	struct bundle *b = NULL;
	X509_STORE *st = X509_STORE_new();
	cJSON *meta, *src;
	int r;

	TAP_CHECK(mkdtemp(dir) != NULL, "temporary directory");
	meta = cJSON_CreateObject();
	cJSON_AddStringToObject(meta, "id", "0001-web");
	cJSON_AddStringToObject(meta, "request_id", "0001-web");
	src = cJSON_AddObjectToObject(meta, "source");
	cJSON_AddStringToObject(src, "type", "csr");
	cJSON_AddStringToObject(src, "label", "web.csr");
	cJSON_AddStringToObject(meta, "serial", "1f");
	cJSON_AddStringToObject(meta, "profile", "tls-server");
	r = bundle_writer_new(BUNDLE_KIND_MERGE, "unit", &w);
	if (r == 0)
		r = bundle_writer_set_request_bundle_id(
		    w, "0123456789abcdef0123456789abcdef");
	if (r == 0)
		r = bundle_writer_add_entry(w, meta, "0001-web.pem", pem,
					    sizeof(pem) - 1);
	if (r == 0)
		r = bundle_writer_commit(w, dir, "mb", NULL, NULL, NULL, NULL);
	TAP_CHECK(r == 0, "an unsigned merge bundle can be written (%s)",
		  err_detail_get());
	snprintf(path, sizeof(path), "%s/mb", dir);
	TAP_CHECK(bundle_read(path, &b) == 0, "and read back");
	TAP_CHECK(b != NULL && bundle_verify_signature(b, st, NULL, NULL) ==
				   AIRLOCK_E_POLICY,
		  "an unsigned merge bundle is refused by the verifier "
		  "airlock-kv merge relies on");
	bundle_free(b);
	bundle_writer_free(w);
	X509_STORE_free(st);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	if (system(path) != 0)
		printf("# cleanup failed\n");
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "merge") == 0)
		return mkmerge(argv[2]);
	unit();
	return TAP_DONE();
}
