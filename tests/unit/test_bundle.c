/* Bundles: a request bundle written and read back; each way a stick can lie
 * (tampered bytes, sizes, extra, missing or linked files, case-folded
 * duplicates, unknown fields, wrong version or kind, symlinked or temporary
 * bundle directories) refused with a detail that names it; a signed merge
 * bundle verified, and refused when the root, the signer's EKU, the manifest
 * or the signature is wrong. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "lib/bundle.h"
#include "lib/err.h"
#include "tap.h"

static char base[] = "/tmp/airlock-test-bundle-XXXXXX";
static unsigned char csr[3][700];
static int case_no;

/* ---- helpers ---- */

static void
path_of(char *out, size_t len, const char *a, const char *b)
{
	if (b != NULL)
		snprintf(out, len, "%s/%s/%s", base, a, b);
	else
		snprintf(out, len, "%s/%s", base, a);
}

static unsigned char *
slurp(const char *path, size_t *len)
{
	unsigned char *b = NULL;
	FILE *f = fopen(path, "rb");
	long n;

	*len = 0;
	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (b = malloc((size_t)n + 1)) != NULL &&
	    fread(b, 1, (size_t)n, f) == (size_t)n) {
		b[n] = '\0';
		*len = (size_t)n;
	} else {
		free(b);
		b = NULL;
	}
	fclose(f);
	return b;
}

static void
spit(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0)
		printf("# setup: cannot write %s: %s\n", path, strerror(errno));
}

static int
temps_in_base(void)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd),
		 "ls -A '%s' | grep -q '\\.tmp-' && exit 1 || exit 0", base);
	return system(cmd) != 0;
}

static cJSON *
kv_source(const char *cert_name)
{
	cJSON *src = cJSON_CreateObject(), *pol = cJSON_CreateObject();
	cJSON *dns = cJSON_CreateArray(), *eku = cJSON_CreateArray();
	cJSON *ku = cJSON_CreateArray();

	cJSON_AddStringToObject(src, "type", "keyvault");
	cJSON_AddStringToObject(src, "vault_url",
				"https://contoso.vault.azure.net");
	cJSON_AddStringToObject(src, "certificate_name", cert_name);
	cJSON_AddStringToObject(src, "request_id",
				"7f3c5d1e9a0b4c2d8e6f1a2b3c4d5e6f");
	cJSON_AddStringToObject(pol, "subject", "CN=api.contoso.internal");
	cJSON_AddItemToArray(dns, cJSON_CreateString("api.contoso.internal"));
	cJSON_AddItemToObject(pol, "dns_names", dns);
	cJSON_AddItemToObject(pol, "ip_addresses", cJSON_CreateArray());
	cJSON_AddItemToArray(eku, cJSON_CreateString("1.3.6.1.5.5.7.3.1"));
	cJSON_AddItemToObject(pol, "ekus", eku);
	cJSON_AddItemToArray(ku, cJSON_CreateString("digitalSignature"));
	cJSON_AddItemToArray(ku, cJSON_CreateString("keyEncipherment"));
	cJSON_AddItemToObject(pol, "key_usage", ku);
	cJSON_AddNumberToObject(pol, "validity_months", 12);
	cJSON_AddStringToObject(pol, "key_type", "RSA");
	cJSON_AddNumberToObject(pol, "key_size", 2048);
	cJSON_AddFalseToObject(pol, "exportable");
	cJSON_AddFalseToObject(pol, "reuse_key");
	cJSON_AddItemToObject(src, "policy", pol);
	return src;
}

static cJSON *
csr_source(const char *label)
{
	cJSON *src = cJSON_CreateObject();

	cJSON_AddStringToObject(src, "type", "csr");
	cJSON_AddStringToObject(src, "label", label);
	return src;
}

static cJSON *
request_meta(size_t i)
{
	cJSON *m = cJSON_CreateObject();
	char id[32], cn[32];

	snprintf(id, sizeof(id), "req-%zu", i);
	snprintf(cn, sizeof(cn), "api-%zu", i);
	cJSON_AddStringToObject(m, "id", id);
	cJSON_AddItemToObject(
	    m, "source", i == 2 ? csr_source("device-42.csr") : kv_source(cn));
	if (i != 1)
		cJSON_AddStringToObject(m, "profile", "tls-server");
	return m;
}

static int
write_request(const char *name, char **id)
{
	struct bundle_writer *w = NULL;
	char file[32];
	size_t i;
	int r;

	if ((r = bundle_writer_new("request", "test_bundle", &w)) != 0)
		return r;
	for (i = 0; i < 3 && r == 0; i++) {
		snprintf(file, sizeof(file), "req-%zu.csr", i);
		r = bundle_writer_add_entry(w, request_meta(i), file, csr[i],
					    sizeof(csr[i]));
	}
	if (r == 0)
		r = bundle_writer_commit(w, base, name, NULL, NULL, NULL, id);
	bundle_writer_free(w);
	return r;
}

/* Parse DIR/manifest.json, let EDIT change it, write it back. */
static void
manifest_edit(const char *dir, void (*edit)(cJSON *))
{
	char p[600], *text;
	unsigned char *b;
	size_t len;
	cJSON *j;

	snprintf(p, sizeof(p), "%s/manifest.json", dir);
	b = slurp(p, &len);
	j = b != NULL ? cJSON_ParseWithLength((const char *)b, len) : NULL;
	if (j == NULL) {
		printf("# setup: cannot parse %s\n", p);
		free(b);
		return;
	}
	edit(j);
	text = cJSON_PrintUnformatted(j);
	spit(p, text, strlen(text));
	free(text);
	cJSON_Delete(j);
	free(b);
}

static cJSON *
entry(cJSON *root, int i)
{
	return cJSON_GetArrayItem(cJSON_GetObjectItem(root, "entries"), i);
}

static void
set_num(cJSON *obj, const char *key, double v)
{
	cJSON_ReplaceItemInObject(obj, key, cJSON_CreateNumber(v));
}

static void
set_str(cJSON *obj, const char *key, const char *v)
{
	cJSON_ReplaceItemInObject(obj, key, cJSON_CreateString(v));
}

static void
expect_read_fails(const char *what, const char *dir, int want,
		  const char *detail)
{
	struct bundle *b = (struct bundle *)1;
	int r;

	err_detail_clear();
	r = bundle_read(dir, &b);
	TAP_CHECK(r == want && b == NULL, "%s: refused with %s (got %s)", what,
		  err_name(want), err_name(r));
	TAP_CHECK(strstr(err_detail_get(), detail) != NULL,
		  "%s: detail mentions '%s' (got '%s')", what, detail,
		  err_detail_get());
	if (r == 0)
		bundle_free(b);
}

/* A fresh request bundle, mutated by MUTATE(dir), must be refused. */
static void
tamper(const char *what, void (*mutate)(const char *dir), int want,
       const char *detail)
{
	char name[32], dir[600];
	int r;

	snprintf(name, sizeof(name), "t%d", ++case_no);
	path_of(dir, sizeof(dir), name, NULL);
	if ((r = write_request(name, NULL)) != 0) {
		TAP_CHECK(0, "%s: setup write (%s: %s)", what, err_name(r),
			  err_detail_get());
		return;
	}
	mutate(dir);
	expect_read_fails(what, dir, want, detail);
}

/* ---- mutations ---- */

static void
m_flip(const char *dir)
{
	char p[600];
	unsigned char *b;
	size_t len;

	snprintf(p, sizeof(p), "%s/req-1.csr", dir);
	b = slurp(p, &len);
	if (b != NULL && len > 10) {
		b[10] ^= 0x01;
		spit(p, b, len);
	}
	free(b);
}

static void
e_size_up(cJSON *j)
{
	set_num(entry(j, 0), "size", 701);
}
static void
m_size_up(const char *dir)
{
	manifest_edit(dir, e_size_up);
}

static void
e_size_down(cJSON *j)
{
	set_num(entry(j, 2), "size", 699);
}
static void
m_size_down(const char *dir)
{
	manifest_edit(dir, e_size_down);
}

static void
m_extra(const char *dir)
{
	char p[600];

	snprintf(p, sizeof(p), "%s/extra.txt", dir);
	spit(p, "hi", 2);
}

static void
m_subdir(const char *dir)
{
	char p[600];

	snprintf(p, sizeof(p), "%s/sub", dir);
	mkdir(p, 0700);
}

static void
m_missing(const char *dir)
{
	char p[600];

	snprintf(p, sizeof(p), "%s/req-2.csr", dir);
	unlink(p);
}

static void
m_symlink(const char *dir)
{
	char p[600], q[600];

	snprintf(p, sizeof(p), "%s/req-0.csr", dir);
	snprintf(q, sizeof(q), "%s/outside.csr", base);
	if (rename(p, q) != 0 || symlink(q, p) != 0)
		printf("# setup: symlink: %s\n", strerror(errno));
}

static void
m_hardlink(const char *dir)
{
	char p[600], q[600];

	snprintf(p, sizeof(p), "%s/req-0.csr", dir);
	snprintf(q, sizeof(q), "%s/hard-%d.csr", base, case_no);
	if (link(p, q) != 0)
		printf("# setup: link: %s\n", strerror(errno));
}

static void
e_casefold(cJSON *j)
{
	set_str(entry(j, 1), "file", "REQ-0.CSR");
}
static void
m_casefold(const char *dir)
{
	manifest_edit(dir, e_casefold);
}

static void
e_dupname(cJSON *j)
{
	set_str(entry(j, 2), "file", "req-0.csr");
}
static void
m_dupname(const char *dir)
{
	manifest_edit(dir, e_dupname);
}

static void
e_dupid(cJSON *j)
{
	set_str(entry(j, 2), "id", "req-0");
}
static void
m_dupid(const char *dir)
{
	manifest_edit(dir, e_dupid);
}

static void
e_unknown_top(cJSON *j)
{
	cJSON_AddStringToObject(j, "comment", "hello");
}
static void
m_unknown_top(const char *dir)
{
	manifest_edit(dir, e_unknown_top);
}

static void
e_unknown_policy(cJSON *j)
{
	cJSON_AddTrueToObject(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(entry(j, 1), "source"),
				"policy"),
	    "ca");
}
static void
m_unknown_policy(const char *dir)
{
	manifest_edit(dir, e_unknown_policy);
}

static void
e_version(cJSON *j)
{
	set_num(j, "version", 2);
}
static void
m_version(const char *dir)
{
	manifest_edit(dir, e_version);
}

static void
e_version_str(cJSON *j)
{
	set_str(j, "version", "1");
}
static void
m_version_str(const char *dir)
{
	manifest_edit(dir, e_version_str);
}

static void
e_kind_merge(cJSON *j)
{
	set_str(j, "kind", "merge");
}
static void
m_kind_merge(const char *dir)
{
	manifest_edit(dir, e_kind_merge);
}

static void
e_kind_other(cJSON *j)
{
	set_str(j, "kind", "Request");
}
static void
m_kind_other(const char *dir)
{
	manifest_edit(dir, e_kind_other);
}

static void
e_cap(cJSON *j)
{
	set_num(entry(j, 0), "size", 65537);
}
static void
m_cap(const char *dir)
{
	manifest_edit(dir, e_cap);
}

static void
e_sha_upper(cJSON *j)
{
	char s[65];

	memset(s, 'A', 64);
	s[64] = '\0';
	set_str(entry(j, 0), "sha256", s);
}
static void
m_sha_upper(const char *dir)
{
	manifest_edit(dir, e_sha_upper);
}

static void
e_created(cJSON *j)
{
	set_str(j, "created", "2026-02-29T18:00:00Z");
}
static void
m_created(const char *dir)
{
	manifest_edit(dir, e_created);
}

static void
e_size_frac(cJSON *j)
{
	set_num(entry(j, 0), "size", 700.5);
}
static void
m_size_frac(const char *dir)
{
	manifest_edit(dir, e_size_frac);
}

static void
e_vault(cJSON *j)
{
	set_str(cJSON_GetObjectItem(entry(j, 0), "source"), "vault_url",
		"http://contoso.vault.azure.net");
}
static void
m_vault(const char *dir)
{
	manifest_edit(dir, e_vault);
}

static void
m_dupkey(const char *dir)
{
	char p[600], *text;
	unsigned char *b;
	size_t len;

	/* Raw text: a second "kind" that cJSON alone would shadow. */
	snprintf(p, sizeof(p), "%s/manifest.json", dir);
	b = slurp(p, &len);
	if (b == NULL)
		return;
	text = malloc(len + 32);
	memcpy(text, "{\"kind\":\"merge\",", 16);
	memcpy(text + 16, b + 1, len - 1);
	spit(p, text, len + 15);
	free(text);
	free(b);
}

static void
m_trailing(const char *dir)
{
	char p[600];
	FILE *f;

	snprintf(p, sizeof(p), "%s/manifest.json", dir);
	if ((f = fopen(p, "ab")) != NULL) {
		fputs("{}", f);
		fclose(f);
	}
}

static void
m_big_manifest(const char *dir)
{
	char p[600];
	int fd;

	snprintf(p, sizeof(p), "%s/manifest.json", dir);
	if ((fd = open(p, O_WRONLY)) >= 0) {
		if (ftruncate(fd, (off_t)BUNDLE_MANIFEST_MAX + 1) != 0)
			printf("# setup: ftruncate: %s\n", strerror(errno));
		close(fd);
	}
}

static void
m_no_manifest(const char *dir)
{
	char p[600];

	snprintf(p, sizeof(p), "%s/manifest.json", dir);
	unlink(p);
}

/* ---- request bundles ---- */

static void
request_roundtrip(void)
{
	struct bundle *b = NULL;
	const unsigned char *d, *m;
	const cJSON *meta;
	char dir[600], *id = NULL;
	size_t len, i;
	int r, ok;

	r = write_request("req1", &id);
	TAP_CHECK(r == 0, "request bundle written (%s: %s)", err_name(r),
		  err_detail_get());
	TAP_CHECK(temps_in_base() == 0, "no temporary left after a commit");
	path_of(dir, sizeof(dir), "req1", NULL);
	r = bundle_read(dir, &b);
	TAP_CHECK(r == 0, "request bundle read back (%s: %s)", err_name(r),
		  err_detail_get());
	if (r != 0)
		return;
	TAP_STR_EQ(bundle_kind(b), "request", "kind");
	TAP_STR_EQ(bundle_id(b), id, "bundle id as returned by commit");
	TAP_CHECK(strlen(bundle_id(b)) == 32, "bundle id is 32 hex digits");
	TAP_CHECK(bundle_request_bundle_id(b) == NULL,
		  "request bundle has no request_bundle_id");
	TAP_STR_EQ(bundle_producer(b), "test_bundle", "producer");
	TAP_CHECK(bundle_created(b) != NULL && strlen(bundle_created(b)) == 20,
		  "created is RFC 3339 (%s)", bundle_created(b));
	TAP_CHECK(bundle_entry_count(b) == 3, "3 entries");
	ok = 1;
	for (i = 0; i < 3; i++) {
		if (bundle_entry_data(b, i, &d, &len) != 0 ||
		    len != sizeof(csr[i]) || memcmp(d, csr[i], len) != 0)
			ok = 0;
	}
	TAP_CHECK(ok, "every entry's bytes equal what was written");
	meta = bundle_entry_meta(b, 2);
	TAP_STR_EQ(bundle_entry_id(b, 2), "req-2", "entry id");
	TAP_STR_EQ(
	    cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(meta, "source"), "label")
		->valuestring,
	    "device-42.csr", "entry meta: csr source label");
	TAP_CHECK(bundle_entry_data(b, 3, &d, &len) == AIRLOCK_E_NOT_FOUND,
		  "entry index past the end");
	m = bundle_manifest_bytes(b, &len);
	TAP_CHECK(m != NULL && len > 0 && m[len - 1] == '\n' &&
		      memcmp(m, "{\"format\":\"airlock-bundle\",\"version\":1,",
			     39) == 0,
		  "manifest bytes start with format and version");
	TAP_CHECK(
	    bundle_verify_signature(b, NULL, NULL, NULL) == AIRLOCK_E_POLICY &&
		strstr(err_detail_get(), "manifest.json.sig is missing") !=
		    NULL,
	    "unsigned bundle: signature check refuses (%s)", err_detail_get());
	bundle_free(b);
	free(id);

	/* a dot-file in a bundle is ignored, not an extra file */
	path_of(dir, sizeof(dir), "req1", ".fseventsd");
	spit(dir, "x", 1);
	path_of(dir, sizeof(dir), "req1", NULL);
	r = bundle_read(dir, &b);
	TAP_CHECK(r == 0, "names starting with '.' inside a bundle ignored");
	bundle_free(b);
	path_of(dir, sizeof(dir), "req1/", NULL);
	r = bundle_read(dir, &b);
	TAP_CHECK(r == 0, "bundle path with a trailing slash");
	bundle_free(b);
}

static void
request_tampering(void)
{
	char p[700], q[600];

	tamper("flipped byte in an entry", m_flip, AIRLOCK_E_FORMAT,
	       "entries[1].sha256: req-1.csr does not match");
	tamper("size in manifest larger than the file", m_size_up,
	       AIRLOCK_E_FORMAT,
	       "entries[0].size: the manifest lists 701 bytes, req-0.csr has "
	       "700");
	tamper("size in manifest smaller than the file", m_size_down,
	       AIRLOCK_E_FORMAT,
	       "entries[2].size: req-2.csr is larger than the 699 bytes");
	tamper("extra file", m_extra, AIRLOCK_E_FORMAT,
	       "\"extra.txt\" is not listed in manifest.json");
	tamper("extra subdirectory", m_subdir, AIRLOCK_E_FORMAT,
	       "\"sub\" is not listed");
	tamper("missing file", m_missing, AIRLOCK_E_NOT_FOUND,
	       "entries[2].file: req-2.csr: no such file");
	tamper("symlinked entry", m_symlink, AIRLOCK_E_FORMAT,
	       "entries[0].file: req-0.csr: is a symbolic link");
	tamper("hard-linked entry", m_hardlink, AIRLOCK_E_FORMAT,
	       "req-0.csr: has 2 hard links");
	tamper("names equal after case folding", m_casefold, AIRLOCK_E_FORMAT,
	       "entries[0].file and entries[1].file: both are \"REQ-0.CSR\" "
	       "(file names must differ after case folding)");
	tamper("the same name twice", m_dupname, AIRLOCK_E_FORMAT,
	       "entries[0].file and entries[2].file");
	tamper("duplicate entry id", m_dupid, AIRLOCK_E_FORMAT,
	       "entries[0].id and entries[2].id: both are \"req-0\"");
	tamper("unknown manifest field", m_unknown_top, AIRLOCK_E_FORMAT,
	       "manifest.json: manifest.comment: unknown key");
	tamper("unknown policy field", m_unknown_policy, AIRLOCK_E_FORMAT,
	       "entries[1].source.policy.ca: unknown key");
	tamper("version 2", m_version, AIRLOCK_E_FORMAT,
	       "version: 2 is not supported; this airlock reads version 1");
	tamper("version as a string", m_version_str, AIRLOCK_E_FORMAT,
	       "manifest.version: must be an integer");
	tamper("request bundle relabelled merge", m_kind_merge,
	       AIRLOCK_E_FORMAT,
	       "kind is merge: manifest.request_bundle_id: required key is "
	       "missing");
	tamper("unknown kind", m_kind_other, AIRLOCK_E_FORMAT,
	       "manifest.kind: must be one of request, merge");
	tamper("size over the CSR cap", m_cap, AIRLOCK_E_FORMAT,
	       "entries[0].size: 65537 bytes, over the CSR cap of 65536");
	tamper("uppercase sha256", m_sha_upper, AIRLOCK_E_FORMAT,
	       "entries[0].sha256: must be exactly 64 characters from "
	       "[0-9a-f]");
	tamper("impossible date", m_created, AIRLOCK_E_FORMAT,
	       "created: must be an RFC 3339 UTC time");
	tamper("fractional size", m_size_frac, AIRLOCK_E_FORMAT,
	       "entries[0].size: must be written as a plain integer");
	tamper("http vault URL", m_vault, AIRLOCK_E_FORMAT,
	       "entries[0].source.vault_url: must be https://");
	tamper("duplicate key in the manifest", m_dupkey, AIRLOCK_E_FORMAT,
	       "duplicate key \"kind\"");
	tamper("trailing data after the manifest", m_trailing, AIRLOCK_E_FORMAT,
	       "trailing data");
	tamper("manifest over 16 MiB", m_big_manifest, AIRLOCK_E_TOO_LARGE,
	       "manifest.json: 16777217 bytes, over the cap of 16777216");
	tamper("no manifest", m_no_manifest, AIRLOCK_E_NOT_FOUND,
	       "manifest.json: no such file");

	/* the bundle directory itself */
	path_of(p, sizeof(p), "req1", NULL);
	path_of(q, sizeof(q), "req1-link", NULL);
	if (symlink(p, q) != 0)
		printf("# setup: symlink: %s\n", strerror(errno));
	expect_read_fails("bundle directory that is a symlink", q,
			  AIRLOCK_E_FORMAT, "req1-link: is a symbolic link");
	if (write_request("interrupted", NULL) != 0)
		printf("# setup: write interrupted\n");
	path_of(p, sizeof(p), "interrupted", NULL);
	path_of(q, sizeof(q), ".interrupted.tmp-abc123", NULL);
	if (rename(p, q) != 0)
		printf("# setup: rename: %s\n", strerror(errno));
	expect_read_fails("temporary-named bundle", q, AIRLOCK_E_FORMAT,
			  "a temporary name");
	TAP_CHECK(write_request("interrupted", NULL) == 0,
		  "a leftover temporary does not stop a new bundle");
	snprintf(p, sizeof(p), "rm -rf '%s'", q);
	if (system(p) != 0)
		printf("# cleanup: %s\n", p);
	path_of(q, sizeof(q), "nonexistent", NULL);
	expect_read_fails("missing bundle", q, AIRLOCK_E_NOT_FOUND,
			  "no such directory");
}

static void
writer_refusals(void)
{
	struct bundle_writer *w = NULL;
	cJSON *m;
	int r;

	r = write_request("req1", NULL);
	TAP_CHECK(r == AIRLOCK_E_EXISTS &&
		      strstr(err_detail_get(), "req1: already exists") != NULL,
		  "commit refuses an existing bundle name (%s)",
		  err_detail_get());
	TAP_CHECK(temps_in_base() == 0, "no temporary left after the refusal");

	TAP_CHECK(bundle_writer_new("archive", "x", &w) ==
			  AIRLOCK_E_INVALID_ARG &&
		      w == NULL,
		  "unknown kind refused");
	if (bundle_writer_new("request", "x", &w) != 0)
		return;
	m = request_meta(0);
	cJSON_AddStringToObject(m, "sha256", "00");
	TAP_CHECK(bundle_writer_add_entry(w, m, "a.csr", "x", 1) ==
		      AIRLOCK_E_INVALID_ARG,
		  "meta with sha256 refused (the writer fills it)");
	TAP_CHECK(bundle_writer_add_entry(w, request_meta(0), "../a.csr", "x",
					  1) == AIRLOCK_E_INVALID_ARG,
		  "file name ../a.csr refused");
	TAP_CHECK(bundle_writer_add_entry(w, request_meta(0), "manifest.json",
					  "x", 1) == AIRLOCK_E_INVALID_ARG,
		  "file name manifest.json refused");
	TAP_CHECK(bundle_writer_add_file(w, "crl", "x.crl", "x", 1) ==
		      AIRLOCK_E_INVALID_ARG,
		  "extra files refused in a request bundle");
	TAP_CHECK(
	    bundle_writer_add_entry(w, request_meta(0), "a.csr", "x", 1) == 0 &&
		bundle_writer_add_entry(w, request_meta(1), "a.csr", "y", 1) ==
		    0,
	    "two entries with one file name added");
	err_detail_clear();
	r = bundle_writer_commit(w, base, "dupnames", NULL, NULL, NULL, NULL);
	TAP_CHECK(
	    r == AIRLOCK_E_FORMAT &&
		strstr(err_detail_get(),
		       "the bundle would not be readable: entries[0].file "
		       "and entries[1].file") != NULL,
	    "commit refuses what the reader would refuse (%s)",
	    err_detail_get());
	bundle_writer_free(w);
	w = NULL;
	if (bundle_writer_new("request", "x", &w) != 0)
		return;
	m = request_meta(0);
	cJSON_ReplaceItemInObject(m, "id", cJSON_CreateString("Req_0"));
	if (bundle_writer_add_entry(w, m, "a.csr", "x", 1) != 0)
		printf("# setup: add_entry\n");
	r = bundle_writer_commit(w, base, "badid", NULL, NULL, NULL, NULL);
	TAP_CHECK(r == AIRLOCK_E_FORMAT &&
		      strstr(err_detail_get(),
			     "entries[0].id: must be 1 to 64 "
			     "characters from [a-z0-9-]") != NULL,
		  "bad entry id refused at commit (%s)", err_detail_get());
	TAP_CHECK(temps_in_base() == 0, "nothing written for refused commits");
	bundle_writer_free(w);
	w = NULL;
	if (bundle_writer_new("merge", "x", &w) != 0)
		return;
	r = bundle_writer_commit(w, base, "nomerge", NULL, NULL, NULL, NULL);
	TAP_CHECK(r == AIRLOCK_E_INVALID_ARG &&
		      strstr(err_detail_get(), "request bundle id") != NULL,
		  "merge bundle without request_bundle_id refused (%s)",
		  err_detail_get());
	bundle_writer_free(w);
}

/* ---- merge bundles: a small PKI ---- */

struct pki {
	EVP_PKEY *root_key, *inter_key, *signer_key, *other_key;
	X509 *root, *inter, *signer, *noeku, *other_root;
};

static int
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;
	int ok;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	if ((e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return 0;
	ok = X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok;
}

static X509 *
mkcert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
       int ca, const char *eku)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	unsigned char serial[8];
	BIGNUM *bn;

	RAND_bytes(serial, sizeof(serial));
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
	BN_free(bn);
	X509_set_version(x, 2);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
	X509_NAME_free(n);
	X509_set_pubkey(x, key);
	add_ext(x, issuer ? issuer : x, NID_subject_key_identifier, "hash");
	add_ext(x, issuer ? issuer : x, NID_authority_key_identifier,
		"keyid:always");
	add_ext(x, issuer ? issuer : x, NID_basic_constraints,
		ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	add_ext(x, issuer ? issuer : x, NID_key_usage,
		ca ? "critical,keyCertSign,cRLSign"
		   : "critical,digitalSignature");
	if (eku != NULL)
		add_ext(x, issuer ? issuer : x, NID_ext_key_usage, eku);
	if (X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) <= 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static int
pki_make(struct pki *p)
{
	memset(p, 0, sizeof(*p));
	p->root_key = EVP_EC_gen("P-256");
	p->inter_key = EVP_EC_gen("P-256");
	p->signer_key = EVP_EC_gen("P-256");
	p->other_key = EVP_EC_gen("P-256");
	if (!p->root_key || !p->inter_key || !p->signer_key || !p->other_key)
		return -1;
	p->root = mkcert("Test Root", p->root_key, NULL, NULL, 1, NULL);
	p->inter = mkcert("Test Intermediate", p->inter_key, p->root,
			  p->root_key, 1, NULL);
	p->signer = mkcert("Test Station Bundle Key", p->signer_key, p->inter,
			   p->inter_key, 0, AIRLOCK_BUNDLE_EKU_OID);
	p->noeku = mkcert("Test TLS Leaf", p->signer_key, p->inter,
			  p->inter_key, 0, "serverAuth");
	p->other_root = mkcert("Test Root", p->other_key, NULL, NULL, 1, NULL);
	return p->root && p->inter && p->signer && p->noeku && p->other_root
		   ? 0
		   : -1;
}

static void
pki_free(struct pki *p)
{
	EVP_PKEY_free(p->root_key);
	EVP_PKEY_free(p->inter_key);
	EVP_PKEY_free(p->signer_key);
	EVP_PKEY_free(p->other_key);
	X509_free(p->root);
	X509_free(p->inter);
	X509_free(p->signer);
	X509_free(p->noeku);
	X509_free(p->other_root);
}

static void
pem_write(const char *path, X509 *x)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || !PEM_write_X509(f, x))
		printf("# setup: cannot write %s\n", path);
	if (f != NULL)
		fclose(f);
}

static int
write_merge(const char *name, struct pki *p, X509 *cert)
{
	struct bundle_writer *w = NULL;
	STACK_OF(X509) *chain = sk_X509_new_null();
	char file[32], id[32];
	cJSON *m;
	size_t i;
	int r;

	sk_X509_push(chain, p->inter);
	if ((r = bundle_writer_new("merge", "airlock-station test", &w)) != 0)
		goto out;
	if ((r = bundle_writer_set_request_bundle_id(
		 w, "0123456789abcdef0123456789abcdef")) != 0)
		goto out;
	for (i = 0; i < 2; i++) {
		m = cJSON_CreateObject();
		snprintf(id, sizeof(id), "req-%zu", i);
		cJSON_AddStringToObject(m, "id", id);
		cJSON_AddStringToObject(m, "request_id", id);
		cJSON_AddItemToObject(m, "source", kv_source("api"));
		cJSON_AddStringToObject(
		    m, "serial", i ? "7a1b2c3d4e5f60718293a4b5c6d7e8f9" : "01");
		cJSON_AddStringToObject(m, "profile", "tls-server");
		snprintf(file, sizeof(file), "req-%zu.pem", i);
		if ((r = bundle_writer_add_entry(w, m, file, csr[i],
						 sizeof(csr[i]))) != 0)
			goto out;
	}
	if ((r = bundle_writer_add_file(w, "crl", "inter.crl", "CRL1", 4)) !=
		0 ||
	    (r = bundle_writer_add_file(w, "crl", "root.crl", "CRL2", 4)) !=
		0 ||
	    (r = bundle_writer_add_file(w, "ca_cert", "inter.pem", "CA", 2)) !=
		0 ||
	    (r = bundle_writer_add_file(w, "ledger", "ledger.jsonl",
					"{\"seq\":1}\n", 10)) != 0 ||
	    (r = bundle_writer_add_file(w, "checkpoint", "checkpoint.json",
					"{}", 2)) != 0)
		goto out;
	r = bundle_writer_commit(w, base, name, p->signer_key, cert, chain,
				 NULL);
out:
	sk_X509_free(chain);
	bundle_writer_free(w);
	return r;
}

static void
expect_verify_fails(const char *what, const char *name, X509_STORE *store,
		    const char *detail)
{
	struct bundle *b = NULL;
	X509 *signer = (X509 *)1;
	char dir[600];
	int r;

	path_of(dir, sizeof(dir), name, NULL);
	if ((r = bundle_read(dir, &b)) != 0) {
		TAP_CHECK(0, "%s: bundle reads before verification (%s)", what,
			  err_detail_get());
		return;
	}
	err_detail_clear();
	r = bundle_verify_signature(b, store, NULL, &signer);
	TAP_CHECK(r == AIRLOCK_E_POLICY && signer == NULL,
		  "%s: refused with AIRLOCK_E_POLICY (got %s)", what,
		  err_name(r));
	TAP_CHECK(strstr(err_detail_get(), detail) != NULL,
		  "%s: detail mentions '%s' (got '%s')", what, detail,
		  err_detail_get());
	bundle_free(b);
}

static int
openssl_verify(const char *name, const char *root, const char *chain)
{
	char cmd[2048], dir[600];

	path_of(dir, sizeof(dir), name, NULL);
	snprintf(cmd, sizeof(cmd),
		 "openssl cms -verify -binary -inform DER -in '%s/%s' "
		 "-content '%s/%s' -CAfile '%s' -certfile '%s' -purpose any "
		 "-out /dev/null >/dev/null 2>&1",
		 dir, BUNDLE_MANIFEST_SIG, dir, BUNDLE_MANIFEST, root, chain);
	return system(cmd);
}

static void
e_producer(cJSON *j)
{
	set_str(j, "producer", "someone else");
}

static void
merge_bundles(void)
{
	struct pki p;
	struct bundle *b = NULL;
	X509_STORE *store = NULL, *other = NULL;
	STACK_OF(X509) *untrusted = NULL;
	const unsigned char *d;
	const char *fname;
	X509 *signer = NULL;
	char dir[600], rootpem[600], chainpem[600], q[600];
	size_t len;
	int r;

	if (pki_make(&p) != 0) {
		TAP_CHECK(0, "test PKI made");
		return;
	}
	store = X509_STORE_new();
	X509_STORE_add_cert(store, p.root);
	other = X509_STORE_new();
	X509_STORE_add_cert(other, p.other_root);
	untrusted = sk_X509_new_null();
	sk_X509_push(untrusted, p.inter);

	r = write_merge("merge1", &p, p.signer);
	TAP_CHECK(r == 0, "signed merge bundle written (%s: %s)", err_name(r),
		  err_detail_get());
	path_of(dir, sizeof(dir), "merge1", NULL);
	r = bundle_read(dir, &b);
	TAP_CHECK(r == 0, "merge bundle read (%s)", err_detail_get());
	if (r != 0)
		goto out;
	TAP_STR_EQ(bundle_kind(b), "merge", "kind merge");
	TAP_STR_EQ(bundle_request_bundle_id(b),
		   "0123456789abcdef0123456789abcdef", "request_bundle_id");
	TAP_CHECK(bundle_entry_count(b) == 2 &&
		      bundle_file_count(b, "crl") == 2 &&
		      bundle_file_count(b, "ledger") == 1 &&
		      bundle_file_count(b, "checkpoint") == 1 &&
		      bundle_file_count(b, "ca_cert") == 1,
		  "entries and extra files counted by role");
	r = bundle_file_data(b, "crl", 1, &d, &len, &fname);
	TAP_CHECK(r == 0 && len == 4 && memcmp(d, "CRL2", 4) == 0 &&
		      strcmp(fname, "root.crl") == 0,
		  "second CRL by role and index");
	TAP_CHECK(bundle_file_data(b, "crl", 2, &d, &len, &fname) ==
		      AIRLOCK_E_NOT_FOUND,
		  "no third CRL");
	r = bundle_verify_signature(b, store, NULL, &signer);
	TAP_CHECK(r == 0,
		  "signature verifies against the pinned root, "
		  "intermediate from the signature (%s)",
		  err_detail_get());
	TAP_CHECK(signer != NULL && X509_cmp(signer, p.signer) == 0,
		  "signer certificate returned");
	X509_free(signer);
	signer = NULL;
	r = bundle_verify_signature(b, store, untrusted, NULL);
	TAP_CHECK(r == 0,
		  "signature verifies with the intermediate also "
		  "given as untrusted (%s)",
		  err_detail_get());
	bundle_free(b);
	b = NULL;

	path_of(rootpem, sizeof(rootpem), "root.pem", NULL);
	path_of(chainpem, sizeof(chainpem), "chain.pem", NULL);
	pem_write(rootpem, p.root);
	pem_write(chainpem, p.inter);
	if (system("command -v openssl >/dev/null 2>&1") == 0) {
		TAP_CHECK(openssl_verify("merge1", rootpem, chainpem) == 0,
			  "openssl cms -verify -purpose any accepts the "
			  "signature");
	} else {
		printf("ok - openssl cms -verify # SKIP no openssl binary\n");
	}

	expect_verify_fails("wrong pinned root", "merge1", other,
			    "does not chain to the pinned root");

	r = write_merge("merge-noeku", &p, p.noeku);
	TAP_CHECK(r == 0, "merge bundle signed without the EKU written (%s)",
		  err_detail_get());
	expect_verify_fails("signer without the airlock EKU", "merge-noeku",
			    store,
			    "lacks the airlock bundle-signing extended key "
			    "usage 1.3.6.1.4.1.59999.1.1");

	r = write_merge("merge-edited", &p, p.signer);
	path_of(dir, sizeof(dir), "merge-edited", NULL);
	manifest_edit(dir, e_producer);
	expect_verify_fails("manifest edited after signing", "merge-edited",
			    store, "the signature does not verify");
	if (system("command -v openssl >/dev/null 2>&1") == 0)
		TAP_CHECK(
		    openssl_verify("merge-edited", rootpem, chainpem) != 0,
		    "openssl cms -verify refuses the edited manifest too");

	r = write_merge("merge-nosig", &p, p.signer);
	path_of(q, sizeof(q), "merge-nosig", BUNDLE_MANIFEST_SIG);
	unlink(q);
	expect_verify_fails("signature file missing", "merge-nosig", store,
			    "manifest.json.sig is missing; a merge bundle "
			    "must be signed");

	r = write_merge("merge-garbage", &p, p.signer);
	path_of(q, sizeof(q), "merge-garbage", BUNDLE_MANIFEST_SIG);
	spit(q, "not a signature", 15);
	expect_verify_fails("signature file not DER", "merge-garbage", store,
			    "not a DER CMS structure");

	r = write_merge("merge-trailing", &p, p.signer);
	path_of(q, sizeof(q), "merge-trailing", BUNDLE_MANIFEST_SIG);
	{
		unsigned char *s = slurp(q, &len), *s2;

		if (s != NULL && (s2 = realloc(s, len + 1)) != NULL) {
			s2[len] = 0;
			spit(q, s2, len + 1);
			s = s2;
		}
		free(s);
	}
	expect_verify_fails("signature with a trailing byte", "merge-trailing",
			    store, "1 bytes of trailing data");

	/* the merge schema is strict too */
	TAP_CHECK(write_merge("merge1", &p, p.signer) == AIRLOCK_E_EXISTS,
		  "merge commit refuses an existing name");
out:
	bundle_free(b);
	sk_X509_free(untrusted);
	X509_STORE_free(store);
	X509_STORE_free(other);
	pki_free(&p);
}

int
main(void)
{
	char cmd[600];
	size_t i;

	if (mkdtemp(base) == NULL) {
		printf("not ok - mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	for (i = 0; i < 3; i++)
		RAND_bytes(csr[i], sizeof(csr[i]));
	request_roundtrip();
	request_tampering();
	writer_refusals();
	merge_bundles();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	if (system(cmd) != 0)
		printf("# cleanup of %s failed\n", base);
	return TAP_DONE();
}
