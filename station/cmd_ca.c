/* airlock-station ca root | intermediate | csr: the ceremonies. */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/bundle.h"
#include "lib/err.h"
#include "lib/term.h"
#include "pkcs11/reader.h"
#include "pkcs11/token.h"
#include "station/certsign.h"
#include "station/cli.h"
#include "station/cmds.h"
#include "station/home.h"
#include "station/transcript.h"

/* The station's bundle-signing key carries the airlock EKU (lib/bundle.h). */
#define CA_STATION_EKU	 AIRLOCK_BUNDLE_EKU_OID
#define CA_STATION_LABEL "airlock-station-key"
#define CA_MAX_WITNESSES 8

static const char ca_usage[] =
    "usage: airlock-station ca root --key URI --subject DN [--days N]\n"
    "       airlock-station ca intermediate --key URI --issuer-key URI "
    "--subject DN\n"
    "                                      [--days N]\n"
    "       airlock-station ca csr --key URI --subject DN -o FILE\n"
    "       airlock-station ca intermediate --csr FILE --issuer-key URI -o "
    "FILE\n"
    "   common: [--operator NAME] [--witness NAME]... [--yes] [--dry-run "
    "[--type T]]\n"
    "           [--pin-source SRC] [--issuer-pin-source SRC] [--wait-card S]\n"
    "\n"
    "  root          a self-signed root certificate on the token key URI\n"
    "  intermediate  the intermediate certificate for the key URI, signed by "
    "the\n"
    "                root key --issuer-key on its own token, and the "
    "station's\n"
    "                bundle-signing key (made on the intermediate's token) "
    "with\n"
    "                its certificate; with --csr, sign an outside request\n"
    "  csr           a CSR for an intermediate whose root is elsewhere\n"
    "\n"
    "Subjects: \"/C=DE/O=Example/CN=Example Root\" or \"CN=Example "
    "Root,O=Example\".\n"
    "--days defaults to the profile's max_days (airlock.conf). Keys must be\n"
    "sensitive and never extractable; make them with `token keygen`. Each\n"
    "ceremony asks for the operator's and witnesses' names (or --operator\n"
    "and --witness), shows every digest in hex and as words to read aloud,\n"
    "asks for confirmation (or --yes), records to the ledger and writes a\n"
    "transcript into HOME/transcripts/. --dry-run rehearses with throwaway\n"
    "software keys of --type (default ec:p384): no token is touched and\n"
    "nothing is written. Outputs are never overwritten.\n"
    "--wait-card S: when a key's token is not present (two smartcards, one\n"
    "reader), ask for it and wait up to S seconds for a card.\n";

struct ca_args {
	const char *key, *issuer_key, *subject, *csr, *out, *type;
	const char *pin_source, *issuer_pin_source, *operator_name;
	char *witnesses[CA_MAX_WITNESSES];
	size_t nwitnesses;
	long days;
	int yes, dry_run;
	long wait_card;
	char network_note[600]; /* an air-gap override, recorded */
};

/* A CA key: on a token, or a throwaway software key in a dry run. */
struct ca_key {
	struct p11_uri *uri;
	struct token_module *m;
	int own_module;
	struct token *t;
	struct token_key *k;
	EVP_PKEY *priv, *pub;
	char *key_uri;
};

static void
ca_key_free(struct ca_key *ck)
{
	token_key_free(ck->k);
	token_close(ck->t);
	if (ck->own_module)
		token_module_free(ck->m);
	uri_free(ck->uri);
	EVP_PKEY_free(ck->priv);
	EVP_PKEY_free(ck->pub);
	free(ck->key_uri);
	memset(ck, 0, sizeof(*ck));
}

static int
ca_prompt_line(const char *question, char *buf, size_t len)
{
	FILE *tty = fopen("/dev/tty", "r+");
	char *nl;

	if (tty == NULL)
		return 0;
	fprintf(tty, "%s: ", question);
	fflush(tty);
	if (fgets(buf, (int)len, tty) == NULL) {
		fclose(tty);
		return 0;
	}
	fclose(tty);
	if ((nl = strchr(buf, '\n')) != NULL)
		*nl = '\0';
	return buf[0] != '\0';
}

/* Wait for a smartcard when the token is not present (card swaps). */
static int
ca_wait_token(const char *what, const char *uri_s, long wait_s)
{
	char *reader = NULL;
	int r;

	fprintf(stderr,
		"airlock-station: %s: insert the card or token for\n  %s\n"
		"waiting up to %ld s (Ctrl-C to stop)...\n",
		what, uri_s, wait_s);
	r = reader_card_wait(NULL, wait_s * 1000, &reader);
	free(reader);
	sleep(1); /* let the module see the new card */
	return r;
}

/* Open the key URI_S on its token (reusing module SHARE when the module path
 * is the same), log in, find the key, check it is a safe CA key. */
static int
ca_key_open(const char *what, const struct ca_args *a, const char *uri_s,
	    const char *pin_source, struct token_module *share,
	    struct ca_key *ck)
{
	const char *path;
	int r;

	memset(ck, 0, sizeof(*ck));
	if ((r = uri_parse(uri_s, &ck->uri)) != 0)
		return r;
	if (uri_get0(ck->uri, "object") == NULL &&
	    uri_get0(ck->uri, "id") == NULL) {
		err_detail_set("%s names no key: add object=LABEL (or id=) to "
			       "the URI",
			       uri_s);
		return AIRLOCK_E_INVALID_ARG;
	}
	path = uri_get0(ck->uri, "module-path");
	if (path == NULL)
		path = station_g.module;
	if (share != NULL &&
	    strcmp(token_module_path(share),
		   path != NULL ? path : TOKEN_DEFAULT_MODULE) == 0) {
		ck->m = share;
	} else {
		if ((r = token_module_load(path, &ck->m)) != 0)
			return r;
		ck->own_module = 1;
	}
	r = token_open(ck->m, ck->uri, &ck->t);
	if (r == AIRLOCK_E_TOKEN_NOT_FOUND && a->wait_card > 0) {
		if ((r = ca_wait_token(what, uri_s, a->wait_card)) != 0)
			return r;
		r = token_open(ck->m, ck->uri, &ck->t);
	}
	if (r != 0)
		return r;
	if (pin_source == NULL)
		pin_source = uri_get0(ck->uri, "pin-source");
	if ((r = token_login(ck->t, pin_source, &cli_login_ui)) != 0 ||
	    (r = token_key_find(ck->t, ck->uri, &ck->k)) != 0 ||
	    (r = token_key_check_safe(ck->k)) != 0 ||
	    (r = token_key_get1_pkey(ck->k, &ck->priv)) != 0 ||
	    (r = certsign_pubkey(ck->priv, &ck->pub)) != 0 ||
	    (r = token_key_uri(ck->k, &ck->key_uri)) != 0)
		return r;
	return 0;
}

static int
ca_key_soft(const char *type, const char *label, struct ca_key *ck)
{
	int r;

	memset(ck, 0, sizeof(*ck));
	if ((r = certsign_soft_key(type, &ck->priv)) != 0 ||
	    (r = certsign_pubkey(ck->priv, &ck->pub)) != 0)
		return r;
	if (asprintf(&ck->key_uri, "(dry run: throwaway %s key '%s')", type,
		     label) < 0) {
		ck->key_uri = NULL;
		return AIRLOCK_E_NOMEM;
	}
	return 0;
}

static int
file_sha256(const char *path, unsigned char out[32])
{
	unsigned char buf[65536];
	EVP_MD_CTX *ctx = NULL;
	ssize_t n;
	int fd, r = AIRLOCK_E_IO;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return AIRLOCK_E_IO;
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto out;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1)
			goto out;
	if (n == 0 && EVP_DigestFinal_ex(ctx, out, NULL) == 1)
		r = 0;
out:
	EVP_MD_CTX_free(ctx);
	close(fd);
	return r;
}

static void
ca_transcript_software(struct transcript *tr)
{
	unsigned char d[32];
	char now[32];
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
	transcript_add(tr, "time (UTC)", "%s", now);
	transcript_add(tr, "software", "airlock-station %s, %s",
		       AIRLOCK_VERSION, OpenSSL_version(OPENSSL_VERSION));
	if (file_sha256("/proc/self/exe", d) == 0)
		transcript_digest(tr, "binary SHA-256", d, sizeof(d));
}

static void
ca_transcript_key(struct transcript *tr, const char *role, struct ca_key *ck)
{
	unsigned char d[32];
	char key[64];

	transcript_section(tr, role);
	if (ck->t != NULL) {
		struct token_module *m = token_get0_module(ck->t);
		transcript_add(tr, "module", "%s", token_module_file(m));
		if (file_sha256(token_module_file(m), d) == 0)
			transcript_digest(tr, "module SHA-256", d, sizeof(d));
		transcript_add(tr, "token", "%s (%s %s, serial %s)",
			       token_label(ck->t), token_manufacturer(ck->t),
			       token_model(ck->t), token_serial(ck->t));
		transcript_add(tr, "CKA_ID", "%s", token_key_id_hex(ck->k));
	}
	transcript_add(tr, "key URI", "%s", ck->key_uri);
	snprintf(key, sizeof(key), "%s %d bits",
		 EVP_PKEY_get0_type_name(ck->pub), EVP_PKEY_get_bits(ck->pub));
	transcript_add(tr, "key", "%s", key);
	if (certsign_spki_sha256(ck->pub, d) == 0)
		transcript_digest(tr, "public key SHA-256", d, sizeof(d));
}

static void
ca_transcript_cert(struct transcript *tr, const char *role, X509 *cert)
{
	unsigned char d[32];
	char buf[512];
	BIO *b = BIO_new(BIO_s_mem());
	BUF_MEM *bm = NULL;
	ASN1_INTEGER *sn = X509_get_serialNumber(cert);
	BIGNUM *bn = ASN1_INTEGER_to_BN(sn, NULL);
	char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;

	transcript_section(tr, role);
	X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof(buf));
	transcript_add(tr, "subject", "%s", buf);
	X509_NAME_oneline(X509_get_issuer_name(cert), buf, sizeof(buf));
	transcript_add(tr, "issuer", "%s", buf);
	transcript_add(tr, "serial", "%s", hex != NULL ? hex : "?");
	if (b != NULL && ASN1_TIME_print(b, X509_get0_notBefore(cert)) == 1 &&
	    BIO_puts(b, " until ") > 0 &&
	    ASN1_TIME_print(b, X509_get0_notAfter(cert)) == 1 &&
	    BIO_write(b, "", 1) == 1) {
		BIO_get_mem_ptr(b, &bm);
		transcript_add(tr, "validity", "%s", bm->data);
	}
	if (certsign_cert_sha256(cert, d) == 0)
		transcript_digest(tr, "certificate SHA-256", d, sizeof(d));
	OPENSSL_free(hex);
	BN_free(bn);
	BIO_free(b);
}

static int
ca_confirm(const struct ca_args *a, struct transcript *tr, const char *what)
{
	char q[256];

	snprintf(q, sizeof(q), "%s? Check the digests read aloud.", what);
	if (a->yes || a->dry_run) {
		transcript_add(tr, "confirmed", "%s (%s)", what,
			       a->dry_run ? "dry run" : "--yes");
		return 0;
	}
	fputs(transcript_text(tr), stderr);
	if (!cli_confirm(q)) {
		err_detail_set("%s: not confirmed", what);
		return AIRLOCK_E_CANCELLED;
	}
	transcript_add(tr, "confirmed", "%s (by the operator at the terminal)",
		       what);
	return 0;
}

static char *
pem_of(X509 *c1, X509 *c2)
{
	BIO *b = BIO_new(BIO_s_mem());
	BUF_MEM *bm = NULL;
	char *s = NULL;

	if (b == NULL || PEM_write_bio_X509(b, c1) != 1 ||
	    (c2 != NULL && PEM_write_bio_X509(b, c2) != 1) ||
	    BIO_write(b, "", 1) != 1)
		goto out;
	BIO_get_mem_ptr(b, &bm);
	s = strdup(bm->data);
out:
	BIO_free(b);
	return s;
}

/* Ledger record for a ceremony certificate (CA_ROOT, CA_INTERMEDIATE,
 * STATION_KEY). */
static int
ca_ledger_record(struct home *h, const char *type, X509 *cert,
		 struct ca_key *ck, const char *note)
{
	struct ledger *l = NULL;
	unsigned char d[32], *der = NULL;
	char hex[65], *b64 = NULL, subject[512];
	cJSON *f = NULL;
	int len, r, i;

	if ((r = home_ledger(h, &l)) != 0)
		return r;
	if ((len = i2d_X509(cert, &der)) <= 0)
		return AIRLOCK_E_CRYPTO;
	if ((b64 = malloc((size_t)len * 4 / 3 + 8)) == NULL) {
		OPENSSL_free(der);
		return AIRLOCK_E_NOMEM;
	}
	EVP_EncodeBlock((unsigned char *)b64, der, len);
	OPENSSL_free(der);
	if ((r = certsign_cert_sha256(cert, d)) != 0)
		goto out;
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	X509_NAME_oneline(X509_get_subject_name(cert), subject,
			  sizeof(subject));
	f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "subject", subject);
	cJSON_AddStringToObject(f, "cert_sha256", hex);
	cJSON_AddStringToObject(f, "key_uri", ck->key_uri);
	cJSON_AddStringToObject(f, "cert", b64);
	if (note != NULL && note[0] != '\0')
		cJSON_AddStringToObject(f, "network", note);
	if ((r = ledger_append(l, type, f, NULL)) != 0)
		goto out;
	r = 0;
out:
	cJSON_Delete(f);
	free(b64);
	return r;
}

static int
ca_save_meta(struct home *h, const char *name, const char *kind,
	     struct ca_key *ck, X509 *cert)
{
	unsigned char d[32];
	char hex[65], *s = NULL;
	cJSON *o = cJSON_CreateObject();
	int i, r;

	cJSON_AddStringToObject(o, "kind", kind);
	cJSON_AddStringToObject(o, "key_uri", ck->key_uri);
	if (ck->t != NULL) {
		cJSON_AddStringToObject(o, "token_serial", token_serial(ck->t));
		cJSON_AddStringToObject(o, "token_label", token_label(ck->t));
	}
	if ((r = certsign_cert_sha256(cert, d)) != 0)
		goto out;
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	cJSON_AddStringToObject(o, "cert_sha256", hex);
	if ((s = cJSON_Print(o)) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	r = home_write_new(h, "ca", name, s, strlen(s), 0644);
out:
	free(s);
	cJSON_Delete(o);
	return r;
}

static int
ca_write_transcript(struct home *h, const char *kind, struct transcript *tr,
		    const struct ca_args *a)
{
	char name[80], stamp[32];
	time_t t = time(NULL);
	struct tm tm;
	int r;

	transcript_sign_lines(tr, a->operator_name, a->witnesses,
			      a->nwitnesses);
	if ((r = transcript_status(tr)) != 0)
		return r;
	if (a->dry_run) {
		printf("DRY RUN: nothing was signed on a token, nothing "
		       "written\n\n%s",
		       transcript_text(tr));
		return 0;
	}
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dt%H%M%Sz", &tm);
	snprintf(name, sizeof(name), "%s-%s.txt", kind, stamp);
	if ((r = home_write_new(h, "transcripts", name, transcript_text(tr),
				strlen(transcript_text(tr)), 0644)) != 0)
		return r;
	printf("%s\ntranscript: %s/transcripts/%s\n", transcript_text(tr),
	       home_dir(h), name);
	return 0;
}

/* Names for the transcript: from options, else asked on the tty. */
static int
ca_names(struct ca_args *a, char *opbuf, size_t oplen, char *wbuf, size_t wlen)
{
	if (a->operator_name == NULL) {
		if (!ca_prompt_line("Operator's name", opbuf, oplen)) {
			err_detail_set(
			    "the transcript needs the operator's name: "
			    "--operator NAME");
			return AIRLOCK_E_INVALID_ARG;
		}
		a->operator_name = opbuf;
	}
	if (a->nwitnesses == 0) {
		if (!ca_prompt_line("Witness's name", wbuf, wlen)) {
			err_detail_set("the transcript needs at least one "
				       "witness: --witness NAME");
			return AIRLOCK_E_INVALID_ARG;
		}
		a->witnesses[a->nwitnesses++] = wbuf;
	}
	return 0;
}

static long
ca_days(const struct ca_args *a, const struct profile *pr)
{
	return a->days > 0 ? a->days : profile_max_days(pr);
}

static int
ca_check_days(const struct ca_args *a, const struct profile *pr)
{
	if (ca_days(a, pr) > profile_max_days(pr)) {
		err_detail_set("--days %ld is more than profile %s allows (%ld "
			       "days)",
			       a->days, profile_name(pr), profile_max_days(pr));
		return AIRLOCK_E_POLICY;
	}
	return 0;
}

static int
ca_load_cert(struct home *h, const char *name, X509 **out)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	BIO *b;
	int r;

	*out = NULL;
	if ((r = home_read(h, "ca", name, 1 << 20, &buf, &len)) != 0)
		return r;
	if ((b = BIO_new_mem_buf(buf, (int)len)) != NULL)
		*out = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	free(buf);
	if (*out == NULL) {
		err_detail_set("%s/ca/%s is not a PEM certificate", home_dir(h),
			       name);
		return AIRLOCK_E_FORMAT;
	}
	return 0;
}

static void
ca_report_lints(struct lint_result *lr)
{
	size_t i;

	for (i = 0; lr != NULL && i < lint_result_count(lr); i++)
		fprintf(stderr, "airlock-station: lint %s: %s\n",
			lint_result_id(lr, i), lint_result_text(lr, i));
}

static int
ca_root(struct ca_args *a)
{
	struct home *h = NULL;
	const struct profile *pr;
	struct ca_key ck;
	struct transcript *tr = NULL;
	struct lint_result *lr = NULL;
	X509 *cert = NULL;
	X509_NAME *subj = NULL;
	ASN1_INTEGER *serial = NULL;
	struct lint_params lp;
	char opbuf[128], wbuf[128], *pem = NULL;
	int r, st;

	memset(&ck, 0, sizeof(ck));
	if (a->key == NULL || a->subject == NULL)
		return cli_usage("ca root", "--key URI and --subject DN are "
					    "needed");
	if ((r = home_open(station_g.home, &h)) != 0)
		return cli_fail("ca root", r);
	if ((pr = policy_find_kind(home_policy(h), PROFILE_ROOT)) == NULL) {
		err_detail_set("airlock.conf has no profile of kind root");
		r = AIRLOCK_E_POLICY;
		goto out;
	}
	if (!a->dry_run && home_exists(h, "ca", "root.pem")) {
		err_detail_set("%s/ca/root.pem exists: a ceremony never "
			       "replaces a CA",
			       home_dir(h));
		r = AIRLOCK_E_EXISTS;
		goto out;
	}
	if ((r = ca_check_days(a, pr)) != 0 ||
	    (r = ca_names(a, opbuf, sizeof(opbuf), wbuf, sizeof(wbuf))) != 0 ||
	    (r = certsign_parse_dn(a->subject, &subj)) != 0 ||
	    (r = transcript_new(a->dry_run
				    ? "airlock root CA ceremony (DRY RUN)"
				    : "airlock root CA ceremony",
				&tr)) != 0)
		goto out;
	ca_transcript_software(tr);
	if (a->network_note[0] != '\0')
		transcript_add(tr, "NETWORK", "%s", a->network_note);
	transcript_add(tr, "station home", "%s", home_dir(h));
	transcript_add(tr, "operator", "%s", a->operator_name);
	if (a->dry_run)
		r = ca_key_soft(a->type, "root", &ck);
	else
		r = ca_key_open("ca root", a, a->key, a->pin_source, NULL, &ck);
	if (r != 0)
		goto out;
	ca_transcript_key(tr, "Root key", &ck);
	if ((r = profile_check_key(pr, ck.pub)) != 0)
		goto out;
	if ((r = certsign_serial(ck.t, &serial)) != 0 ||
	    (cert = X509_new()) == NULL ||
	    (r = certsign_prepare(cert, serial, subj, NULL, ck.pub, time(NULL),
				  ca_days(a, pr))) != 0 ||
	    (r = profile_add_extensions(pr, cert, ck.pub)) != 0)
		goto out;
	ca_transcript_cert(tr, "Root certificate (to be signed)", cert);
	if ((r = ca_confirm(a, tr, "Sign the root certificate on the token")) !=
	    0)
		goto out;
	memset(&lp, 0, sizeof(lp));
	lp.is_ca = 1;
	lp.self_signed = 1;
	lp.max_validity_days = profile_max_days(pr);
	lp.path_len = profile_path_len(pr);
	lp.now = time(NULL);
	if ((r = certsign_sign(cert, NULL, ck.priv, ck.pub, &lp, &lr)) != 0) {
		ca_report_lints(lr);
		goto out;
	}
	ca_transcript_cert(tr, "Root certificate (signed)", cert);
	if (!a->dry_run) {
		struct ledger *l = NULL;
		if ((r = ca_ledger_record(h, "CA_ROOT", cert, &ck,
					  a->network_note)) != 0 ||
		    (r = home_ledger(h, &l)) != 0 || (r = ledger_sync(l)) != 0)
			goto out;
		if ((pem = pem_of(cert, NULL)) == NULL) {
			r = AIRLOCK_E_NOMEM;
			goto out;
		}
		if ((r = home_write_new(h, "ca", "root.pem", pem, strlen(pem),
					0644)) != 0 ||
		    (r = ca_save_meta(h, "root.json", "root", &ck, cert)) != 0)
			goto out;
		transcript_add(tr, "written", "%s/ca/root.pem", home_dir(h));
	}
	r = ca_write_transcript(h, "root", tr, a);
out:
	st = r == 0 ? 0 : cli_fail("ca root", r);
	lint_result_free(lr);
	free(pem);
	X509_free(cert);
	X509_NAME_free(subj);
	ASN1_INTEGER_free(serial);
	transcript_free(tr);
	ca_key_free(&ck);
	home_close(h);
	return st;
}

/* The station home and its root and intermediate profiles. */
static int
ca_home_profiles(struct home **h, const struct profile **pr,
		 const struct profile **rootpr)
{
	int r;

	*h = NULL;
	if ((r = home_open(station_g.home, h)) != 0)
		return r;
	*pr = policy_find_kind(home_policy(*h), PROFILE_INTERMEDIATE);
	*rootpr = policy_find_kind(home_policy(*h), PROFILE_ROOT);
	if (*pr == NULL || *rootpr == NULL) {
		err_detail_set("airlock.conf needs profiles of kind root and "
			       "intermediate");
		return AIRLOCK_E_POLICY;
	}
	return 0;
}

/* The station's bundle-signing certificate, issued by the intermediate. */
static int
ca_station_cert(struct home *h, X509 *inter, struct ca_key *ik,
		struct ca_key *sk, X509 **out, struct lint_result **lr)
{
	const struct profile *ip =
	    policy_find_kind(home_policy(h), PROFILE_INTERMEDIATE);
	X509 *cert = NULL;
	X509_NAME *subj = NULL;
	ASN1_INTEGER *serial = NULL;
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	struct lint_params lp;
	char dn[200];
	const char *exts[][2] = {
	    {"basicConstraints", "critical,CA:FALSE"},
	    {"keyUsage", "critical,digitalSignature"},
	    {"extendedKeyUsage", CA_STATION_EKU},
	};
	size_t i;
	time_t now = time(NULL);
	long days;
	int r;

	*out = NULL;
	/* not a host name, so no name constraint applies to it */
	snprintf(dn, sizeof(dn), "CN=airlock bundle signer %s",
		 home_station_name(h));
	/* as long as the intermediate, but never past it */
	{
		int pday = 0, psec = 0;
		if (!ASN1_TIME_diff(&pday, &psec, NULL,
				    X509_get0_notAfter(inter)))
			return AIRLOCK_E_CRYPTO;
		days = pday > 0 ? pday : 1;
	}
	if ((r = certsign_parse_dn(dn, &subj)) != 0 ||
	    (r = certsign_serial(ik->t, &serial)) != 0 ||
	    (cert = X509_new()) == NULL ||
	    (r = certsign_prepare(cert, serial, subj, inter, sk->pub, now,
				  days)) != 0)
		goto out;
	for (i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		X509V3_set_ctx(&ctx, inter, cert, NULL, NULL, 0);
		if ((ext = X509V3_EXT_conf(NULL, &ctx, exts[i][0],
					   exts[i][1])) == NULL) {
			r = AIRLOCK_E_CRYPTO;
			goto out;
		}
		if (!X509_add_ext(cert, ext, -1)) {
			X509_EXTENSION_free(ext);
			r = AIRLOCK_E_CRYPTO;
			goto out;
		}
		X509_EXTENSION_free(ext);
	}
	if (ip != NULL && (r = profile_add_issuer_urls(ip, cert)) != 0)
		goto out;
	memset(&lp, 0, sizeof(lp));
	lp.path_len = -1;
	lp.now = now;
	lp.signer = 1;
	if ((r = certsign_sign(cert, inter, ik->priv, ik->pub, &lp, lr)) != 0)
		goto out;
	*out = cert;
	cert = NULL;
	r = 0;
out:
	X509_free(cert);
	X509_NAME_free(subj);
	ASN1_INTEGER_free(serial);
	return r;
}

static int
ca_station_key(const struct ca_args *a, struct ca_key *ik, struct ca_key *sk)
{
	char *uri = NULL;
	int r;

	memset(sk, 0, sizeof(*sk));
	if (a->dry_run)
		return ca_key_soft("ec:p256", CA_STATION_LABEL, sk);
	if ((r = token_keygen(ik->t, "ec:p256", CA_STATION_LABEL, &uri)) != 0)
		return r;
	r = ca_key_open("ca intermediate", a, uri, a->pin_source,
			token_get0_module(ik->t), sk);
	free(uri);
	return r;
}

static int
ca_intermediate(struct ca_args *a)
{
	struct home *h = NULL;
	const struct profile *pr, *rootpr;
	struct ca_key ik, rk, sk;
	struct transcript *tr = NULL;
	struct lint_result *lr = NULL;
	X509 *root = NULL, *cert = NULL, *scert = NULL;
	X509_NAME *subj = NULL;
	ASN1_INTEGER *serial = NULL;
	struct lint_params lp;
	struct ledger *l = NULL;
	char opbuf[128], wbuf[128], *pem = NULL, *chain = NULL, *spem = NULL;
	int r, st;

	memset(&ik, 0, sizeof(ik));
	memset(&rk, 0, sizeof(rk));
	memset(&sk, 0, sizeof(sk));
	if (a->key == NULL || a->issuer_key == NULL || a->subject == NULL)
		return cli_usage("ca intermediate",
				 "--key URI, --issuer-key URI and --subject DN "
				 "are needed");
	if ((r = ca_home_profiles(&h, &pr, &rootpr)) != 0) {
		home_close(h);
		return cli_fail("ca intermediate", r);
	}
	if (!a->dry_run && (home_exists(h, "ca", "intermediate.pem") ||
			    home_exists(h, "ca", "station.pem"))) {
		err_detail_set("%s/ca/intermediate.pem or station.pem exists: "
			       "a ceremony never replaces a CA",
			       home_dir(h));
		r = AIRLOCK_E_EXISTS;
		goto out;
	}
	if ((r = ca_check_days(a, pr)) != 0 ||
	    (r = ca_names(a, opbuf, sizeof(opbuf), wbuf, sizeof(wbuf))) != 0 ||
	    (r = certsign_parse_dn(a->subject, &subj)) != 0 ||
	    (r = transcript_new(
		 a->dry_run ? "airlock intermediate CA ceremony (DRY RUN)"
			    : "airlock intermediate CA ceremony",
		 &tr)) != 0)
		goto out;
	ca_transcript_software(tr);
	if (a->network_note[0] != '\0')
		transcript_add(tr, "NETWORK", "%s", a->network_note);
	transcript_add(tr, "station home", "%s", home_dir(h));
	transcript_add(tr, "operator", "%s", a->operator_name);
	/* 1. the intermediate's token: its key, and the station key on it */
	if (a->dry_run)
		r = ca_key_soft(a->type, "intermediate", &ik);
	else
		r = ca_key_open("ca intermediate", a, a->key, a->pin_source,
				NULL, &ik);
	if (r != 0)
		goto out;
	ca_transcript_key(tr, "Intermediate key", &ik);
	if ((r = profile_check_key(pr, ik.pub)) != 0)
		goto out;
	/* 2. the root's token and certificate */
	if (a->dry_run) {
		if ((r = ca_key_soft(a->type, "root", &rk)) != 0 ||
		    (root = X509_new()) == NULL)
			goto out;
		{
			X509_NAME *rn = NULL;
			ASN1_INTEGER *rs = NULL;
			struct lint_params rlp = {1, 1, 0, -1, time(NULL), 0};
			if ((r = certsign_parse_dn("CN=dry-run root", &rn)) ==
				0 &&
			    (r = certsign_serial(NULL, &rs)) == 0 &&
			    (r = certsign_prepare(
				 root, rs, rn, NULL, rk.pub, time(NULL),
				 profile_max_days(rootpr))) == 0 &&
			    (r = profile_add_extensions(rootpr, root,
							rk.pub)) == 0)
				r = certsign_sign(root, NULL, rk.priv, rk.pub,
						  &rlp, &lr);
			X509_NAME_free(rn);
			ASN1_INTEGER_free(rs);
			if (r != 0)
				goto out;
		}
	} else {
		if ((r = ca_load_cert(h, "root.pem", &root)) != 0) {
			if (r == AIRLOCK_E_NOT_FOUND)
				err_detail_set(
				    "%s/ca/root.pem is missing: hold "
				    "the root ceremony first (`ca "
				    "root`)",
				    home_dir(h));
			goto out;
		}
		if ((r = ca_key_open("ca intermediate", a, a->issuer_key,
				     a->issuer_pin_source != NULL
					 ? a->issuer_pin_source
					 : a->pin_source,
				     token_get0_module(ik.t), &rk)) != 0)
			goto out;
		if (!certsign_same_key(rk.pub, X509_get0_pubkey(root))) {
			err_detail_set("the key %s does not match the root "
				       "certificate %s/ca/root.pem",
				       rk.key_uri, home_dir(h));
			r = AIRLOCK_E_POLICY;
			goto out;
		}
	}
	ca_transcript_key(tr, "Root key (issuer)", &rk);
	/* 3. the intermediate certificate */
	if ((r = certsign_serial(rk.t, &serial)) != 0 ||
	    (cert = X509_new()) == NULL ||
	    (r = certsign_prepare(cert, serial, subj, root, ik.pub, time(NULL),
				  ca_days(a, pr))) != 0 ||
	    (r = profile_add_extensions(pr, cert, ik.pub)) != 0 ||
	    (r = profile_add_issuer_urls(rootpr, cert)) != 0)
		goto out;
	ca_transcript_cert(tr, "Intermediate certificate (to be signed)", cert);
	if ((r = ca_confirm(a, tr,
			    "Sign the intermediate certificate with the root "
			    "key")) != 0)
		goto out;
	memset(&lp, 0, sizeof(lp));
	lp.is_ca = 1;
	lp.max_validity_days = profile_max_days(pr);
	lp.path_len = profile_path_len(pr);
	lp.now = time(NULL);
	if ((r = certsign_sign(cert, root, rk.priv, rk.pub, &lp, &lr)) != 0) {
		ca_report_lints(lr);
		goto out;
	}
	ca_transcript_cert(tr, "Intermediate certificate (signed)", cert);
	/* 4. the station's bundle-signing key and certificate */
	if ((r = ca_station_key(a, &ik, &sk)) != 0)
		goto out;
	ca_transcript_key(tr, "Station bundle-signing key", &sk);
	if ((r = ca_station_cert(h, cert, &ik, &sk, &scert, &lr)) != 0) {
		ca_report_lints(lr);
		goto out;
	}
	ca_transcript_cert(tr, "Station certificate (signed)", scert);
	if (!a->dry_run) {
		if ((r = ca_ledger_record(h, "CA_INTERMEDIATE", cert, &ik,
					  a->network_note)) != 0 ||
		    (r = ca_ledger_record(h, "STATION_KEY", scert, &sk,
					  a->network_note)) != 0 ||
		    (r = home_ledger(h, &l)) != 0 || (r = ledger_sync(l)) != 0)
			goto out;
		if ((pem = pem_of(cert, NULL)) == NULL ||
		    (chain = pem_of(cert, root)) == NULL ||
		    (spem = pem_of(scert, NULL)) == NULL) {
			r = AIRLOCK_E_NOMEM;
			goto out;
		}
		if ((r = home_write_new(h, "ca", "intermediate.pem", pem,
					strlen(pem), 0644)) != 0 ||
		    (r = home_write_new(h, "ca", "chain.pem", chain,
					strlen(chain), 0644)) != 0 ||
		    (r = home_write_new(h, "ca", "station.pem", spem,
					strlen(spem), 0644)) != 0 ||
		    (r = ca_save_meta(h, "intermediate.json", "intermediate",
				      &ik, cert)) != 0 ||
		    (r = ca_save_meta(h, "station.json", "station", &sk,
				      scert)) != 0)
			goto out;
		transcript_add(tr, "written",
			       "%s/ca/intermediate.pem, chain.pem, station.pem",
			       home_dir(h));
	}
	r = ca_write_transcript(h, "intermediate", tr, a);
out:
	st = r == 0 ? 0 : cli_fail("ca intermediate", r);
	lint_result_free(lr);
	free(pem);
	free(chain);
	free(spem);
	X509_free(root);
	X509_free(cert);
	X509_free(scert);
	X509_NAME_free(subj);
	ASN1_INTEGER_free(serial);
	transcript_free(tr);
	ca_key_free(&sk);
	ca_key_free(&rk);
	ca_key_free(&ik);
	home_close(h);
	return st;
}

static int
ca_write_out(const char *path, const char *text)
{
	FILE *f;

	if ((f = fopen(path, "wx")) == NULL) {
		err_detail_set("%s: cannot create it (it exists already?); "
			       "airlock never overwrites",
			       path);
		return AIRLOCK_E_EXISTS;
	}
	if (fputs(text, f) < 0 || fflush(f) != 0 || fsync(fileno(f)) != 0) {
		fclose(f);
		err_detail_set("%s: write failed", path);
		return AIRLOCK_E_IO;
	}
	if (fclose(f) != 0)
		return AIRLOCK_E_IO;
	return 0;
}

/* ca csr: a request for an intermediate whose root is elsewhere. */
static int
ca_csr(struct ca_args *a)
{
	struct home *h = NULL;
	const struct profile *pr;
	struct ca_key ck;
	struct transcript *tr = NULL;
	X509_REQ *req = NULL;
	X509_NAME *subj = NULL;
	BIO *b = NULL;
	BUF_MEM *bm = NULL;
	unsigned char d[32];
	char opbuf[128], wbuf[128], *text = NULL;
	int r, st;

	memset(&ck, 0, sizeof(ck));
	if (a->key == NULL || a->subject == NULL || a->out == NULL)
		return cli_usage("ca csr",
				 "--key URI, --subject DN and -o FILE "
				 "are needed");
	if ((r = home_open(station_g.home, &h)) != 0)
		return cli_fail("ca csr", r);
	if ((pr = policy_find_kind(home_policy(h), PROFILE_INTERMEDIATE)) ==
	    NULL) {
		err_detail_set("airlock.conf has no profile of kind "
			       "intermediate");
		r = AIRLOCK_E_POLICY;
		goto out;
	}
	if ((r = ca_names(a, opbuf, sizeof(opbuf), wbuf, sizeof(wbuf))) != 0 ||
	    (r = certsign_parse_dn(a->subject, &subj)) != 0 ||
	    (r = transcript_new("airlock intermediate CSR ceremony", &tr)) != 0)
		goto out;
	ca_transcript_software(tr);
	transcript_add(tr, "operator", "%s", a->operator_name);
	if (a->dry_run)
		r = ca_key_soft(a->type, "intermediate", &ck);
	else
		r = ca_key_open("ca csr", a, a->key, a->pin_source, NULL, &ck);
	if (r != 0)
		goto out;
	ca_transcript_key(tr, "Intermediate key", &ck);
	if ((r = profile_check_key(pr, ck.pub)) != 0)
		goto out;
	if ((req = X509_REQ_new()) == NULL ||
	    !X509_REQ_set_version(req, X509_REQ_VERSION_1) ||
	    !X509_REQ_set_subject_name(req, subj) ||
	    !X509_REQ_set_pubkey(req, ck.pub)) {
		r = AIRLOCK_E_CRYPTO;
		goto out;
	}
	if ((r = ca_confirm(a, tr, "Sign the CSR with the intermediate key")) !=
	    0)
		goto out;
	if (X509_REQ_sign(req, ck.priv, certsign_md(ck.pub)) <= 0) {
		r = token_sign_error("C_Sign (CSR)");
		goto out;
	}
	if (X509_REQ_verify(req, ck.pub) != 1) {
		err_detail_set("the CSR's signature does not verify");
		r = AIRLOCK_E_CRYPTO;
		goto out;
	}
	if ((b = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_X509_REQ(b, req) != 1 || BIO_write(b, "", 1) != 1) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	BIO_get_mem_ptr(b, &bm);
	{
		unsigned char *der = NULL;
		int len = i2d_X509_REQ(req, &der);
		if (len > 0 &&
		    EVP_Digest(der, (size_t)len, d, NULL, EVP_sha256(), NULL))
			transcript_digest(tr, "CSR SHA-256", d, sizeof(d));
		OPENSSL_free(der);
	}
	if (!a->dry_run && (r = ca_write_out(a->out, bm->data)) != 0)
		goto out;
	transcript_add(tr, "written", "%s", a->dry_run ? "(dry run)" : a->out);
	r = ca_write_transcript(h, "csr", tr, a);
out:
	st = r == 0 ? 0 : cli_fail("ca csr", r);
	free(text);
	BIO_free(b);
	X509_REQ_free(req);
	X509_NAME_free(subj);
	transcript_free(tr);
	ca_key_free(&ck);
	home_close(h);
	return st;
}

/* ca intermediate --csr: the root signs an outside intermediate's request.
 * Only the subject and the public key are taken from the request. */
static int
ca_intermediate_csr(struct ca_args *a)
{
	struct home *h = NULL;
	const struct profile *pr, *rootpr;
	struct ca_key rk;
	struct transcript *tr = NULL;
	struct lint_result *lr = NULL;
	struct lint_params lp;
	X509_REQ *req = NULL;
	X509 *root = NULL, *cert = NULL;
	EVP_PKEY *pub = NULL;
	ASN1_INTEGER *serial = NULL;
	BIO *b = NULL;
	char opbuf[128], wbuf[128], *pem = NULL;
	int r, st;

	memset(&rk, 0, sizeof(rk));
	if (a->csr == NULL || a->issuer_key == NULL || a->out == NULL)
		return cli_usage("ca intermediate",
				 "--csr FILE, --issuer-key URI and -o FILE are "
				 "needed");
	if ((r = ca_home_profiles(&h, &pr, &rootpr)) != 0) {
		home_close(h);
		return cli_fail("ca intermediate", r);
	}
	if ((b = BIO_new_file(a->csr, "r")) == NULL ||
	    (req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL)) == NULL) {
		ERR_clear_error();
		err_detail_set("%s: not a PEM certificate request", a->csr);
		r = AIRLOCK_E_FORMAT;
		goto out;
	}
	if ((pub = X509_REQ_get_pubkey(req)) == NULL ||
	    X509_REQ_verify(req, pub) != 1) {
		ERR_clear_error();
		err_detail_set("%s: the request's signature does not verify",
			       a->csr);
		r = AIRLOCK_E_POLICY;
		goto out;
	}
	if ((r = profile_check_key(pr, pub)) != 0 ||
	    (r = ca_check_days(a, pr)) != 0 ||
	    (r = ca_names(a, opbuf, sizeof(opbuf), wbuf, sizeof(wbuf))) != 0 ||
	    (r = ca_load_cert(h, "root.pem", &root)) != 0 ||
	    (r = transcript_new("airlock outside intermediate ceremony",
				&tr)) != 0)
		goto out;
	ca_transcript_software(tr);
	transcript_add(tr, "operator", "%s", a->operator_name);
	transcript_add(tr, "request", "%s", a->csr);
	if ((r = ca_key_open("ca intermediate", a, a->issuer_key,
			     a->issuer_pin_source != NULL ? a->issuer_pin_source
							  : a->pin_source,
			     NULL, &rk)) != 0)
		goto out;
	if (!certsign_same_key(rk.pub, X509_get0_pubkey(root))) {
		err_detail_set("the key %s does not match the root certificate",
			       rk.key_uri);
		r = AIRLOCK_E_POLICY;
		goto out;
	}
	ca_transcript_key(tr, "Root key (issuer)", &rk);
	if ((r = certsign_serial(rk.t, &serial)) != 0 ||
	    (cert = X509_new()) == NULL ||
	    (r = certsign_prepare(cert, serial, X509_REQ_get_subject_name(req),
				  root, pub, time(NULL), ca_days(a, pr))) !=
		0 ||
	    (r = profile_add_extensions(pr, cert, pub)) != 0 ||
	    (r = profile_add_issuer_urls(rootpr, cert)) != 0)
		goto out;
	ca_transcript_cert(tr, "Intermediate certificate (to be signed)", cert);
	if ((r = ca_confirm(
		 a, tr, "Sign the outside intermediate with the root key")) !=
	    0)
		goto out;
	memset(&lp, 0, sizeof(lp));
	lp.is_ca = 1;
	lp.max_validity_days = profile_max_days(pr);
	lp.path_len = profile_path_len(pr);
	lp.now = time(NULL);
	if ((r = certsign_sign(cert, root, rk.priv, rk.pub, &lp, &lr)) != 0) {
		ca_report_lints(lr);
		goto out;
	}
	ca_transcript_cert(tr, "Intermediate certificate (signed)", cert);
	if ((pem = pem_of(cert, NULL)) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	{
		struct ledger *l = NULL;
		if ((r = ca_ledger_record(h, "CA_INTERMEDIATE", cert, &rk,
					  a->network_note)) != 0 ||
		    (r = home_ledger(h, &l)) != 0 || (r = ledger_sync(l)) != 0)
			goto out;
	}
	if ((r = ca_write_out(a->out, pem)) != 0)
		goto out;
	transcript_add(tr, "written", "%s", a->out);
	r = ca_write_transcript(h, "outside-intermediate", tr, a);
out:
	st = r == 0 ? 0 : cli_fail("ca intermediate", r);
	lint_result_free(lr);
	free(pem);
	BIO_free(b);
	X509_REQ_free(req);
	EVP_PKEY_free(pub);
	X509_free(root);
	X509_free(cert);
	ASN1_INTEGER_free(serial);
	transcript_free(tr);
	ca_key_free(&rk);
	home_close(h);
	return st;
}

int
cmd_ca(int argc, char **argv)
{
	enum {
		O_KEY = 256,
		O_ISSUER_KEY,
		O_SUBJECT,
		O_DAYS,
		O_CSR,
		O_OPERATOR,
		O_WITNESS,
		O_YES,
		O_DRY,
		O_TYPE,
		O_PIN,
		O_IPIN,
		O_WAIT
	};
	static const struct option opts[] = {
	    {"key", required_argument, NULL, O_KEY},
	    {"issuer-key", required_argument, NULL, O_ISSUER_KEY},
	    {"subject", required_argument, NULL, O_SUBJECT},
	    {"days", required_argument, NULL, O_DAYS},
	    {"csr", required_argument, NULL, O_CSR},
	    {"out", required_argument, NULL, 'o'},
	    {"operator", required_argument, NULL, O_OPERATOR},
	    {"witness", required_argument, NULL, O_WITNESS},
	    {"yes", no_argument, NULL, O_YES},
	    {"dry-run", no_argument, NULL, O_DRY},
	    {"type", required_argument, NULL, O_TYPE},
	    {"pin-source", required_argument, NULL, O_PIN},
	    {"issuer-pin-source", required_argument, NULL, O_IPIN},
	    {"wait-card", required_argument, NULL, O_WAIT},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct ca_args a;
	const char *verb;
	char *end;
	int c;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		fputs(ca_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	memset(&a, 0, sizeof(a));
	a.type = "ec:p384";
	a.yes = station_g.yes;
	verb = argv[1];
	argc--;
	argv++;
	optind = 0;
	while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		switch (c) {
		case O_KEY:
			a.key = optarg;
			break;
		case O_ISSUER_KEY:
			a.issuer_key = optarg;
			break;
		case O_SUBJECT:
			a.subject = optarg;
			break;
		case O_DAYS:
			a.days = strtol(optarg, &end, 10);
			if (*end != '\0' || a.days <= 0 || a.days > 36500)
				return cli_usage("ca", "--days: 1..36500");
			break;
		case O_CSR:
			a.csr = optarg;
			break;
		case 'o':
			a.out = optarg;
			break;
		case O_OPERATOR:
			a.operator_name = optarg;
			break;
		case O_WITNESS:
			if (a.nwitnesses == CA_MAX_WITNESSES)
				return cli_usage("ca", "at most %d witnesses",
						 CA_MAX_WITNESSES);
			a.witnesses[a.nwitnesses++] = optarg;
			break;
		case O_YES:
			a.yes = 1;
			break;
		case O_DRY:
			a.dry_run = 1;
			break;
		case O_TYPE:
			a.type = optarg;
			break;
		case O_PIN:
			a.pin_source = optarg;
			break;
		case O_IPIN:
			a.issuer_pin_source = optarg;
			break;
		case O_WAIT:
			a.wait_card = strtol(optarg, &end, 10);
			if (*end != '\0' || a.wait_card < 0)
				return cli_usage("ca", "--wait-card SECONDS");
			break;
		case 'h':
			fputs(ca_usage, stdout);
			return 0;
		default:
			return cli_usage("ca", "bad option");
		}
	}
	if (optind < argc)
		return cli_usage("ca", "unexpected argument '%s'",
				 argv[optind]);
	if (!a.dry_run &&
	    (strcmp(verb, "root") == 0 || strcmp(verb, "intermediate") == 0)) {
		int st =
		    cli_airgap("ca", a.network_note, sizeof(a.network_note));
		if (st != 0)
			return st;
	}
	if (strcmp(verb, "root") == 0)
		return ca_root(&a);
	if (strcmp(verb, "intermediate") == 0) {
		if (a.csr != NULL)
			return ca_intermediate_csr(&a);
		return ca_intermediate(&a);
	}
	if (strcmp(verb, "csr") == 0)
		return ca_csr(&a);
	return cli_usage("ca", "unknown verb '%s'", verb);
}
