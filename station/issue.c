#include "station/issue.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/bundle.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/safefile.h"
#include "pkcs11/token.h"
#include "station/certsign.h"
#include "station/crl.h"

#define EXPORT_STATE "export-state.json"

struct issuer {
	struct home *h;
	X509 *root, *inter, *station;
	struct p11_uri *uri, *suri;
	struct token_module *m;
	struct token *t;
	struct token_key *k, *sk;
	EVP_PKEY *priv, *pub, *spriv;
	/* the root key, for root CRLs (issuer_open_root) */
	struct p11_uri *ruri;
	struct token_module *rm;
	struct token *rt;
	struct token_key *rk;
	EVP_PKEY *rpriv;
	char network_note[600]; /* an air-gap override, recorded */
	int sessions;		/* token sessions signing at once */
	/* the chain every certificate must build to, made once */
	X509_STORE *trust;
	STACK_OF(X509) * untrusted;
};

static int
issue_load_cert(struct home *h, const char *name, X509 **out)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	BIO *b = NULL;
	int r;

	*out = NULL;
	if ((r = home_read(h, "ca", name, 1 << 20, &buf, &len)) != 0) {
		if (r == AIRLOCK_E_NOT_FOUND)
			err_detail_set("%s/ca/%s is missing: hold the "
				       "ceremonies first (`ca root`, `ca "
				       "intermediate`)",
				       home_dir(h), name);
		return r;
	}
	if ((b = BIO_new_mem_buf(buf, (int)len)) != NULL)
		*out = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	free(buf);
	if (*out == NULL) {
		ERR_clear_error();
		err_detail_set("%s/ca/%s is not a PEM certificate", home_dir(h),
			       name);
		return AIRLOCK_E_FORMAT;
	}
	return 0;
}

/* The key URI recorded at the ceremony in HOME/ca/NAME. */
static int
issue_key_uri(struct home *h, const char *name, struct p11_uri **out)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	cJSON *j = NULL;
	const char *s = NULL;
	int r;

	*out = NULL;
	if ((r = home_read(h, "ca", name, 1 << 16, &buf, &len)) != 0)
		return r;
	if ((r = json_parse_strict(buf, len, JSON_MAX_DEPTH, &j)) == 0 &&
	    (r = json_get_str(j, "key_uri", name, 4096, &s)) == 0)
		r = uri_parse(s, out);
	cJSON_Delete(j);
	free(buf);
	return r;
}

static int
issue_key(struct token *t, struct p11_uri *uri, X509 *cert,
	  struct token_key **k, EVP_PKEY **priv, EVP_PKEY **pub)
{
	int r;

	if ((r = token_key_find(t, uri, k)) != 0 ||
	    (r = token_key_check_safe(*k)) != 0 ||
	    (r = token_key_get1_pkey(*k, priv)) != 0 ||
	    (pub != NULL && (r = certsign_pubkey(*priv, pub)) != 0))
		return r;
	if (!certsign_same_key(*priv, X509_get0_pubkey(cert))) {
		char subj[256];
		X509_NAME_oneline(X509_get_subject_name(cert), subj,
				  sizeof(subj));
		err_detail_set("the key on token '%s' does not match the "
			       "certificate %s: wrong token?",
			       token_label(t), subj);
		return AIRLOCK_E_POLICY;
	}
	return 0;
}

int
issuer_open(struct home *h, int with_token, const char *pin_source,
	    const struct token_login_ui *ui, struct issuer **out)
{
	struct issuer *is = NULL;
	const char *path;
	int r = AIRLOCK_E_INTERNAL;

	*out = NULL;
	if ((is = calloc(1, sizeof(*is))) == NULL)
		return AIRLOCK_E_NOMEM;
	is->h = h;
	is->sessions = 1;
	if ((r = issue_load_cert(h, "root.pem", &is->root)) != 0 ||
	    (r = issue_load_cert(h, "intermediate.pem", &is->inter)) != 0 ||
	    (r = issue_load_cert(h, "station.pem", &is->station)) != 0)
		goto out;
	if ((is->trust = X509_STORE_new()) == NULL ||
	    (is->untrusted = sk_X509_new_null()) == NULL ||
	    !X509_STORE_add_cert(is->trust, is->root) ||
	    !sk_X509_push(is->untrusted, is->inter)) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	if (with_token) {
		if ((r = issue_key_uri(h, "intermediate.json", &is->uri)) !=
			0 ||
		    (r = issue_key_uri(h, "station.json", &is->suri)) != 0)
			goto out;
		path = uri_get0(is->uri, "module-path");
		if ((r = token_module_load(path, &is->m)) != 0 ||
		    (r = token_open(is->m, is->uri, &is->t)) != 0)
			goto out;
		if (pin_source == NULL)
			pin_source = uri_get0(is->uri, "pin-source");
		if ((r = token_login(is->t, pin_source, ui)) != 0 ||
		    (r = issue_key(is->t, is->uri, is->inter, &is->k, &is->priv,
				   &is->pub)) != 0 ||
		    (r = issue_key(is->t, is->suri, is->station, &is->sk,
				   &is->spriv, NULL)) != 0)
			goto out;
	} else if ((r = certsign_pubkey(X509_get0_pubkey(is->inter),
					&is->pub)) != 0) {
		goto out;
	}
	*out = is;
	is = NULL;
	r = 0;
out:
	issuer_close(is);
	return r;
}

void
issuer_close(struct issuer *is)
{
	if (is == NULL)
		return;
	EVP_PKEY_free(is->rpriv);
	token_key_free(is->rk);
	token_close(is->rt);
	if (is->rm != is->m)
		token_module_free(is->rm);
	uri_free(is->ruri);
	EVP_PKEY_free(is->priv);
	EVP_PKEY_free(is->spriv);
	EVP_PKEY_free(is->pub);
	token_key_free(is->k);
	token_key_free(is->sk);
	token_close(is->t);
	token_module_free(is->m);
	uri_free(is->uri);
	uri_free(is->suri);
	sk_X509_free(is->untrusted);
	X509_STORE_free(is->trust);
	X509_free(is->root);
	X509_free(is->inter);
	X509_free(is->station);
	free(is);
}

X509 *
issuer_get0_intermediate(const struct issuer *is)
{
	return is->inter;
}

void
issuer_set_sessions(struct issuer *is, int n)
{
	is->sessions = n < 1			? 1
		       : n > ISSUE_MAX_SESSIONS ? ISSUE_MAX_SESSIONS
						: n;
}

void
issuer_set_network_note(struct issuer *is, const char *note)
{
	snprintf(is->network_note, sizeof(is->network_note), "%s",
		 note != NULL ? note : "");
}

const char *
issuer_network_note(const struct issuer *is)
{
	return is->network_note;
}

X509 *
issuer_get0_root(const struct issuer *is)
{
	return is->root;
}

struct home *
issuer_get0_home(const struct issuer *is)
{
	return is->h;
}

EVP_PKEY *
issuer_get0_key(const struct issuer *is)
{
	return is->priv;
}

EVP_PKEY *
issuer_get0_root_key(const struct issuer *is)
{
	return is->rpriv;
}

int
issuer_open_root(struct issuer *is, const char *pin_source,
		 const struct token_login_ui *ui)
{
	const char *path;
	int r;

	if (is->rpriv != NULL)
		return 0;
	if ((r = issue_key_uri(is->h, "root.json", &is->ruri)) != 0)
		return r;
	path = uri_get0(is->ruri, "module-path");
	if (is->m != NULL &&
	    strcmp(token_module_path(is->m),
		   path != NULL ? path : TOKEN_DEFAULT_MODULE) == 0)
		is->rm = is->m;
	else if ((r = token_module_load(path, &is->rm)) != 0)
		return r;
	if ((r = token_open(is->rm, is->ruri, &is->rt)) != 0)
		return r;
	if (pin_source == NULL)
		pin_source = uri_get0(is->ruri, "pin-source");
	if ((r = token_login(is->rt, pin_source, ui)) != 0)
		return r;
	return issue_key(is->rt, is->ruri, is->root, &is->rk, &is->rpriv, NULL);
}

static const struct profile *
issue_inter_profile(struct issuer *is)
{
	return policy_find_kind(home_policy(is->h), PROFILE_INTERMEDIATE);
}

/* Subject: the CN only (from the request when it is one of the names, else
 * the first DNS name); SAN: the request's names, all allowed by policy. */
static int
issue_names(X509 *cert, const struct request *rq)
{
	GENERAL_NAMES *gens = NULL;
	GENERAL_NAME *g;
	X509_NAME *subj = NULL;
	const unsigned char *ip;
	const char *cn = csr_cn(rq->csr);
	size_t i, len;
	int r = AIRLOCK_E_CRYPTO;

	if ((gens = GENERAL_NAMES_new()) == NULL ||
	    (subj = X509_NAME_new()) == NULL)
		goto out;
	for (i = 0; i < csr_dns_count(rq->csr); i++) {
		ASN1_IA5STRING *s = ASN1_IA5STRING_new();
		if (s == NULL || !ASN1_STRING_set(s, csr_dns(rq->csr, i), -1) ||
		    (g = GENERAL_NAME_new()) == NULL) {
			ASN1_IA5STRING_free(s);
			goto out;
		}
		GENERAL_NAME_set0_value(g, GEN_DNS, s);
		sk_GENERAL_NAME_push(gens, g);
	}
	if (csr_dns_count(rq->csr) == 0 && csr_ip_count(rq->csr) == 0 &&
	    cn != NULL) {
		ASN1_IA5STRING *s = ASN1_IA5STRING_new();
		if (s == NULL || !ASN1_STRING_set(s, cn, -1) ||
		    (g = GENERAL_NAME_new()) == NULL) {
			ASN1_IA5STRING_free(s);
			goto out;
		}
		GENERAL_NAME_set0_value(g, GEN_DNS, s);
		sk_GENERAL_NAME_push(gens, g);
	}
	for (i = 0; i < csr_ip_count(rq->csr); i++) {
		ASN1_OCTET_STRING *o = ASN1_OCTET_STRING_new();
		ip = csr_ip(rq->csr, i, &len);
		if (o == NULL || !ASN1_OCTET_STRING_set(o, ip, (int)len) ||
		    (g = GENERAL_NAME_new()) == NULL) {
			ASN1_OCTET_STRING_free(o);
			goto out;
		}
		GENERAL_NAME_set0_value(g, GEN_IPADD, o);
		sk_GENERAL_NAME_push(gens, g);
	}
	if (cn == NULL)
		cn = csr_dns_count(rq->csr) > 0 ? csr_dns(rq->csr, 0) : NULL;
	if (cn != NULL &&
	    !X509_NAME_add_entry_by_NID(subj, NID_commonName, MBSTRING_UTF8,
					(const unsigned char *)cn, -1, -1, 0))
		goto out;
	if (!X509_set_subject_name(cert, subj) ||
	    !X509_add1_ext_i2d(cert, NID_subject_alt_name, gens,
			       X509_NAME_entry_count(subj) == 0, 0))
		goto out;
	r = 0;
out:
	GENERAL_NAMES_free(gens);
	X509_NAME_free(subj);
	return r;
}

/* The unsigned certificate for RQ, with SERIAL. */
static int
issue_build(struct issuer *is, struct request *rq, ASN1_INTEGER *serial,
	    time_t now, X509 **out)
{
	X509 *cert = NULL;
	X509_NAME *placeholder = NULL;
	const struct profile *ip = issue_inter_profile(is);
	int r;

	*out = NULL;
	if ((cert = X509_new()) == NULL ||
	    (placeholder = X509_NAME_new()) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	if ((r = certsign_prepare(cert, serial, placeholder, is->inter,
				  csr_get0_pubkey(rq->csr), now, rq->days)) !=
	    0) {
		if (r == AIRLOCK_E_POLICY) {
			/* would outlive the intermediate: never silently
			 * shortened */
			snprintf(rq->rule, sizeof(rq->rule), "policy.validity");
			snprintf(rq->why, sizeof(rq->why),
				 "%ld days would outlive the intermediate",
				 rq->days);
			rq->ok = 0;
			err_detail_clear();
			r = 0;
		}
		goto out;
	}
	if ((r = issue_names(cert, rq)) != 0 ||
	    (r = profile_add_extensions(rq->profile, cert,
					csr_get0_pubkey(rq->csr))) != 0 ||
	    (ip != NULL && (r = profile_add_issuer_urls(ip, cert)) != 0))
		goto out;
	*out = cert;
	cert = NULL;
out:
	X509_free(cert);
	X509_NAME_free(placeholder);
	return r;
}

static void
issue_lint_params(const struct request *rq, time_t now, struct lint_params *lp)
{
	memset(lp, 0, sizeof(*lp));
	lp->max_validity_days = profile_max_days(rq->profile);
	lp->path_len = -1;
	lp->now = now;
}

static void
issue_reject_lints(struct request *rq, struct lint_result *lr)
{
	rq->ok = 0;
	snprintf(rq->rule, sizeof(rq->rule), "lint.%s",
		 lr != NULL && lint_result_count(lr) > 0 ? lint_result_id(lr, 0)
							 : "failed");
	snprintf(rq->why, sizeof(rq->why), "%s",
		 lr != NULL && lint_result_count(lr) > 0
		     ? lint_result_text(lr, 0)
		     : err_detail_get());
	err_detail_clear();
}

/* Build and lint; on a lint finding the request is rejected (r == 0). */
static int
issue_tbs(struct issuer *is, struct request *rq, ASN1_INTEGER *serial,
	  time_t now, X509 **cert, unsigned char **tbs, int *tbs_len)
{
	struct lint_result *lr = NULL;
	struct lint_params lp;
	int r;

	*cert = NULL;
	*tbs = NULL;
	if ((r = issue_build(is, rq, serial, now, cert)) != 0 || *cert == NULL)
		return r;
	issue_lint_params(rq, now, &lp);
	r = certsign_lint_tbs(*cert, is->inter, is->pub, &lp, tbs, tbs_len,
			      &lr);
	if (r == AIRLOCK_E_POLICY) {
		issue_reject_lints(rq, lr);
		X509_free(*cert);
		*cert = NULL;
		r = 0;
	}
	lint_result_free(lr);
	return r;
}

int
issuer_preview(struct issuer *is, struct request *rq)
{
	ASN1_INTEGER *serial = NULL;
	X509 *cert = NULL;
	unsigned char *tbs = NULL;
	int len = 0, r;

	if (!rq->ok)
		return 0;
	if ((r = certsign_serial(NULL, &serial)) != 0)
		return r;
	r = issue_tbs(is, rq, serial, time(NULL), &cert, &tbs, &len);
	OPENSSL_free(tbs);
	X509_free(cert);
	ASN1_INTEGER_free(serial);
	return r;
}

static void
hex_of(const unsigned char *d, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hx[d[i] >> 4];
		out[2 * i + 1] = hx[d[i] & 15];
	}
	out[2 * n] = '\0';
}

static int
serial_hex(const ASN1_INTEGER *a, char *out, size_t len)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(a, NULL);
	char *h = bn != NULL ? BN_bn2hex(bn) : NULL;
	size_t i, j = 0;

	BN_free(bn);
	if (h == NULL)
		return AIRLOCK_E_NOMEM;
	for (i = 0; h[i] == '0' && h[i + 1] != '\0'; i++)
		;
	for (; h[i] != '\0' && j + 1 < len; i++)
		out[j++] =
		    (char)(h[i] >= 'A' && h[i] <= 'F' ? h[i] + 32 : h[i]);
	out[j] = '\0';
	OPENSSL_free(h);
	return 0;
}

static int
issue_record_reject(struct ledger *l, const struct request *rq)
{
	cJSON *f = cJSON_CreateObject();
	int r;

	cJSON_AddStringToObject(f, "request_id", rq->request_id);
	cJSON_AddStringToObject(f, "rule", rq->rule);
	cJSON_AddStringToObject(f, "value", rq->why);
	r = ledger_append(l, "REJECTED", f, NULL);
	cJSON_Delete(f);
	return r;
}

/* The ISSUED record of an earlier run for the same request and CSR. */
static int
issue_already(struct ledger *l, const struct request *rq)
{
	cJSON *rec = NULL;
	char want[65];
	const cJSON *v;
	int same;

	if (ledger_find_issued(l, rq->request_id, &rec) != 0) {
		err_detail_clear();
		return 0;
	}
	hex_of(csr_sha256(rq->csr), 32, want);
	v = cJSON_GetObjectItemCaseSensitive(rec, "csr_sha256");
	same = cJSON_IsString(v) && strcmp(v->valuestring, want) == 0;
	cJSON_Delete(rec);
	return same;
}

struct pending {
	struct request *rq;
	X509 *cert;
	unsigned char *tbs;
	int tbs_len;
	char serial[48];
	int result; /* of the signature (AIRLOCK_E_CANCELLED: not tried) */
	char detail[400]; /* the error detail when it failed */
};

static void
pending_clear(struct pending *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		X509_free(p[i].cert);
		OPENSSL_free(p[i].tbs);
		memset(&p[i], 0, sizeof(p[i]));
	}
}

static int
issue_intent(struct issuer *is, struct ledger *l, struct pending *p, time_t now)
{
	ASN1_INTEGER *serial = NULL;
	unsigned char d[32];
	char hex[65], dhex[65];
	cJSON *f = NULL;
	int tries, r;

	for (tries = 0; tries < 8; tries++) {
		ASN1_INTEGER_free(serial);
		serial = NULL;
		if ((r = certsign_serial(is->t, &serial)) != 0 ||
		    (r = serial_hex(serial, p->serial, sizeof(p->serial))) != 0)
			goto out;
		if (!ledger_serial_used(l, p->serial))
			break;
	}
	if (tries == 8) {
		err_detail_set("the token's RNG repeats serials");
		r = AIRLOCK_E_TOKEN;
		goto out;
	}
	if ((r = issue_tbs(is, p->rq, serial, now, &p->cert, &p->tbs,
			   &p->tbs_len)) != 0 ||
	    p->cert == NULL)
		goto out;
	EVP_Digest(p->tbs, (size_t)p->tbs_len, d, NULL, EVP_sha256(), NULL);
	hex_of(d, 32, hex);
	hex_of(csr_sha256(p->rq->csr), 32, dhex);
	f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "request_id", p->rq->request_id);
	cJSON_AddStringToObject(f, "serial", p->serial);
	cJSON_AddStringToObject(f, "tbs_sha256", hex);
	cJSON_AddStringToObject(f, "csr_sha256", dhex);
	cJSON_AddStringToObject(f, "profile", profile_name(p->rq->profile));
	if (is->network_note[0] != '\0')
		cJSON_AddStringToObject(f, "network", is->network_note);
	r = ledger_append(l, "INTENT", f, NULL);
out:
	cJSON_Delete(f);
	ASN1_INTEGER_free(serial);
	return r;
}

static int
issue_issued(struct ledger *l, struct pending *p)
{
	unsigned char *der = NULL, d[32];
	char hex[65], dhex[65], *b64 = NULL;
	cJSON *f = NULL;
	int len, r;

	if ((len = i2d_X509(p->cert, &der)) <= 0)
		return AIRLOCK_E_CRYPTO;
	if ((b64 = malloc((size_t)len * 4 / 3 + 8)) == NULL) {
		OPENSSL_free(der);
		return AIRLOCK_E_NOMEM;
	}
	EVP_EncodeBlock((unsigned char *)b64, der, len);
	EVP_Digest(der, (size_t)len, d, NULL, EVP_sha256(), NULL);
	OPENSSL_free(der);
	hex_of(d, 32, hex);
	hex_of(csr_sha256(p->rq->csr), 32, dhex);
	f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "serial", p->serial);
	cJSON_AddStringToObject(f, "request_id", p->rq->request_id);
	cJSON_AddStringToObject(f, "csr_sha256", dhex);
	cJSON_AddStringToObject(f, "profile", profile_name(p->rq->profile));
	cJSON_AddStringToObject(f, "cert_sha256", hex);
	cJSON_AddStringToObject(f, "cert", b64);
	r = ledger_append(l, "ISSUED", f, NULL);
	cJSON_Delete(f);
	free(b64);
	return r;
}

static int
issue_aborted(struct ledger *l, const struct pending *p, const char *why)
{
	cJSON *f = cJSON_CreateObject();
	int r;

	cJSON_AddStringToObject(f, "serial", p->serial);
	cJSON_AddStringToObject(f, "request_id", p->rq->request_id);
	cJSON_AddStringToObject(f, "reason", why);
	r = ledger_append(l, "ABORTED", f, NULL);
	cJSON_Delete(f);
	return r;
}

/* Sign a chunk whose INTENTs are durable. A token failure aborts the rest
 * of the chunk (recorded) and stops. */
/* Sign p[i] on the token: the lint, the signature, the checks. */
static int
issue_sign_one(struct issuer *is, struct pending *p, time_t now)
{
	struct lint_result *lr = NULL;
	struct lint_params lp;
	int r;

	issue_lint_params(p->rq, now, &lp);
	r = certsign_finish(p->cert, is->inter, is->priv, is->pub, p->tbs,
			    p->tbs_len, &lp, &lr);
	lint_result_free(lr);
	p->result = r;
	if (r != 0)
		snprintf(p->detail, sizeof(p->detail), "%s", err_detail_get());
	return r;
}

struct sign_work {
	struct issuer *is;
	struct pending *p;
	size_t n;
	time_t now;
	pthread_mutex_t lock;
	size_t next;
	int stop;
};

static void *
issue_worker(void *arg)
{
	struct sign_work *w = arg;
	size_t i;

	for (;;) {
		pthread_mutex_lock(&w->lock);
		while (w->next < w->n && w->p[w->next].cert == NULL)
			w->next++;
		i = w->next++;
		if (w->stop || i >= w->n) {
			pthread_mutex_unlock(&w->lock);
			return NULL;
		}
		pthread_mutex_unlock(&w->lock);
		if (issue_sign_one(w->is, &w->p[i], w->now) != 0) {
			pthread_mutex_lock(&w->lock);
			w->stop = 1; /* a failing token: no new signatures */
			pthread_mutex_unlock(&w->lock);
		}
	}
}

/* Sign a chunk whose INTENTs are durable, on is->sessions token sessions
 * at once. Then, in ledger order: ISSUED for every certificate the token
 * signed (also ones signed by another session after a failure: a
 * certificate that exists is never left unrecorded), ABORTED for the rest,
 * and the first failure is returned. */
static int
issue_chunk(struct issuer *is, struct ledger *l, struct pending *p, size_t n,
	    time_t now, struct issue_stats *st)
{
	struct sign_work w;
	pthread_t th[ISSUE_MAX_SESSIONS];
	size_t i, nth = 0;
	char why[512], detail[400] = "";
	int r = 0, r2, first = 0;

	for (i = 0; i < n; i++)
		p[i].result = AIRLOCK_E_CANCELLED;
	memset(&w, 0, sizeof(w));
	w.is = is;
	w.p = p;
	w.n = n;
	w.now = now;
	pthread_mutex_init(&w.lock, NULL);
	for (i = 1; i < (size_t)is->sessions; i++)
		if (pthread_create(&th[nth], NULL, issue_worker, &w) == 0)
			nth++;
	issue_worker(&w);
	for (i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&w.lock);
	for (i = 0; i < n; i++) {
		if (p[i].cert == NULL)
			continue;
		if (p[i].result == 0) {
			if ((r2 = issue_issued(l, &p[i])) != 0)
				return r2;
			st->issued++;
			continue;
		}
		if (first == 0 && p[i].result != AIRLOCK_E_CANCELLED) {
			first = p[i].result;
			snprintf(detail, sizeof(detail), "%s", p[i].detail);
			snprintf(why, sizeof(why), "%s: %s", err_str(first),
				 detail);
		}
	}
	if (first != 0) {
		for (i = 0; i < n; i++)
			if (p[i].cert != NULL && p[i].result != 0) {
				if ((r2 = issue_aborted(l, &p[i], why)) != 0)
					return r2;
				st->aborted++;
			}
		r = first;
	}
	if ((r2 = ledger_sync(l)) != 0)
		return r2;
	if (r != 0)
		err_detail_set("%s", detail);
	return r;
}

int
issuer_sign(struct issuer *is, struct request_set *rs,
	    void (*progress)(void *arg, size_t done, size_t total), void *arg,
	    struct issue_stats *st)
{
	struct ledger *l = NULL;
	struct pending *p = NULL;
	size_t i, n = 0, recovered = 0, total = request_set_count(rs);
	time_t now = time(NULL);
	int r;

	memset(st, 0, sizeof(*st));
	if (is->t == NULL)
		return AIRLOCK_E_INTERNAL;
	if ((r = home_ledger(is->h, &l)) != 0 ||
	    (r = ledger_recover(l, &recovered)) != 0)
		return r;
	if ((p = calloc(ISSUE_CHUNK, sizeof(*p))) == NULL)
		return AIRLOCK_E_NOMEM;
	for (i = 0; i < total; i++) {
		struct request *rq = request_set_get(rs, i);
		if (rq->ok && issue_already(l, rq)) {
			st->already++;
		} else if (rq->ok) {
			p[n].rq = rq;
			if ((r = issue_intent(is, l, &p[n], now)) != 0)
				goto out;
			if (p[n].cert != NULL)
				n++;
		}
		if (!rq->ok) {
			if ((r = issue_record_reject(l, rq)) != 0)
				goto out;
			st->rejected++;
		}
		if (n == ISSUE_CHUNK || (i + 1 == total && n > 0)) {
			/* group commit: the chunk's INTENTs are durable
			 * before the token signs any of them */
			if ((r = ledger_sync(l)) != 0 ||
			    (r = issue_chunk(is, l, p, n, now, st)) != 0)
				goto out;
			pending_clear(p, n);
			n = 0;
		}
		if (progress != NULL)
			progress(arg, i + 1, total);
	}
	r = ledger_sync(l);
out:
	pending_clear(p, n);
	free(p);
	return r;
}

/* ---- export ------------------------------------------------------------ */

static int
issue_cert_from_record(const cJSON *rec, X509 **out)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(rec, "cert");
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t n;
	int len;

	*out = NULL;
	if (!cJSON_IsString(c))
		return AIRLOCK_E_FORMAT;
	n = strlen(c->valuestring);
	if ((der = malloc(n)) == NULL)
		return AIRLOCK_E_NOMEM;
	len = EVP_DecodeBlock(der, (unsigned char *)c->valuestring, (int)n);
	while (len > 0 && n > 0 && c->valuestring[n - 1] == '=') {
		len--;
		n--;
	}
	p = der;
	if (len > 0)
		*out = d2i_X509(NULL, &p, len);
	free(der);
	return *out != NULL ? 0 : AIRLOCK_E_FORMAT;
}

static int
has_eku(X509 *cert, const char *oid)
{
	EXTENDED_KEY_USAGE *eku =
	    X509_get_ext_d2i(cert, NID_ext_key_usage, NULL, NULL);
	ASN1_OBJECT *want = OBJ_txt2obj(oid, 1);
	int i, found = 0;

	for (i = 0; eku != NULL && want != NULL && i < sk_ASN1_OBJECT_num(eku);
	     i++)
		found |= OBJ_cmp(sk_ASN1_OBJECT_value(eku, i), want) == 0;
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	ASN1_OBJECT_free(want);
	return found;
}

/* Before a certificate leaves: its key is the CSR's, the chain builds to the
 * root, the EKUs cover what Key Vault asked for, notAfter within the
 * issuer's. */
static int
issue_check_cert(struct issuer *is, const struct request *rq, X509 *cert)
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	const cJSON *meta = bundle_entry_meta(rq->bundle, rq->index), *v;
	const cJSON *pol = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(meta, "source"), "policy");
	int r = AIRLOCK_E_POLICY, ok;

	if (ctx == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	if (!certsign_same_key(X509_get0_pubkey(cert),
			       csr_get0_pubkey(rq->csr))) {
		err_detail_set("%s: certificate key differs from the CSR's",
			       rq->source);
		goto out;
	}
	X509_STORE_CTX_init(ctx, is->trust, cert, is->untrusted);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_ANY);
	X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx),
				    X509_V_FLAG_X509_STRICT);
	ok = X509_verify_cert(ctx);
	if (ok != 1) {
		err_detail_set("%s: chain does not verify: %s", rq->source,
			       X509_verify_cert_error_string(
				   X509_STORE_CTX_get_error(ctx)));
		goto out;
	}
	cJSON_ArrayForEach (v, cJSON_GetObjectItemCaseSensitive(pol, "ekus")) {
		if (cJSON_IsString(v) && !has_eku(cert, v->valuestring)) {
			err_detail_set("%s: Key Vault asked for EKU %s, the "
				       "certificate lacks it",
				       rq->source, v->valuestring);
			goto out;
		}
	}
	if (ASN1_TIME_compare(X509_get0_notAfter(cert),
			      X509_get0_notAfter(is->inter)) > 0) {
		err_detail_set("%s: outlives the intermediate", rq->source);
		goto out;
	}
	r = 0;
out:
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	return r;
}

static char *
issue_pem(X509 *a, X509 *b)
{
	BIO *bio = BIO_new(BIO_s_mem());
	BUF_MEM *bm = NULL;
	char *s = NULL;

	if (bio != NULL && PEM_write_bio_X509(bio, a) == 1 &&
	    (b == NULL || PEM_write_bio_X509(bio, b) == 1) &&
	    BIO_write(bio, "", 1) == 1) {
		BIO_get_mem_ptr(bio, &bm);
		s = strdup(bm->data);
	}
	BIO_free(bio);
	return s;
}

/* The ledger lines after the last export, and the new export state. */
static int
issue_ledger_slice(struct issuer *is, unsigned long long *from,
		   unsigned char **buf, size_t *len)
{
	unsigned char *st = NULL, *all = NULL;
	size_t stlen = 0, alen = 0, i, line = 0, start = 0;
	cJSON *j = NULL;
	long long last = 0;
	int r;

	*buf = NULL;
	*len = 0;
	*from = 1;
	if (home_read(is->h, "", EXPORT_STATE, 4096, &st, &stlen) == 0) {
		if ((r = json_parse_strict(st, stlen, 4, &j)) != 0 ||
		    (r = json_get_int(j, "exported_seq", EXPORT_STATE, 0,
				      (1LL << 53), &last)) != 0) {
			free(st);
			cJSON_Delete(j);
			return r;
		}
		cJSON_Delete(j);
		free(st);
	}
	err_detail_clear();
	*from = (unsigned long long)last + 1;
	if ((r = home_read(is->h, "", HOME_LEDGER, 256u << 20, &all, &alen)) !=
	    0)
		return r;
	for (i = 0; i < alen && line < (size_t)last; i++)
		if (all[i] == '\n') {
			line++;
			start = i + 1;
		}
	if (last == 0)
		start = 0;
	*len = alen - start;
	if ((*buf = malloc(*len + 1)) == NULL) {
		free(all);
		return AIRLOCK_E_NOMEM;
	}
	memcpy(*buf, all + start, *len);
	free(all);
	return 0;
}

/* The CRL number last exported (0: none). */
static unsigned long long
issue_crl_exported(struct issuer *is)
{
	unsigned char *st = NULL;
	size_t stlen = 0;
	cJSON *j = NULL;
	long long n = 0;

	if (home_read(is->h, "", EXPORT_STATE, 4096, &st, &stlen) == 0 &&
	    json_parse_strict(st, stlen, 4, &j) == 0 &&
	    cJSON_GetObjectItemCaseSensitive(j, "crl_exported") != NULL &&
	    json_get_int(j, "crl_exported", EXPORT_STATE, 0, (1LL << 53), &n) !=
		0)
		n = 0;
	err_detail_clear();
	cJSON_Delete(j);
	free(st);
	return (unsigned long long)n;
}

static int
issue_export_state(struct issuer *is, unsigned long long seq,
		   unsigned long long crl)
{
	char buf[96];
	int fd = -1, r;

	snprintf(buf, sizeof(buf),
		 "{\"exported_seq\":%llu,\"crl_exported\":%llu}\n", seq, crl);
	if ((r = safefile_dir_open(home_dir(is->h), &fd)) != 0)
		return r;
	r = safefile_write_atomic(fd, EXPORT_STATE, buf, strlen(buf), 0600,
				  SAFEFILE_REPLACE);
	close(fd);
	return r;
}

/* A crash (or a failed fsync) after merge-<bid> was renamed into place but
 * before the export was recorded leaves a complete bundle behind. Finish
 * that export instead of refusing: the bundle must read back, carry this
 * station's signature and answer this request bundle with the certificates
 * the ledger issued. */
static int
issue_export_resume(struct issuer *is, struct request_set *rs,
		    const struct bundle *b, const char *path, size_t *entries)
{
	struct bundle *old = NULL;
	struct ledger *l = NULL;
	X509 *signer = NULL;
	const unsigned char *cp;
	const char *cpname;
	cJSON *cpj = NULL, *rec = NULL;
	long long seq = 0;
	size_t cplen, i, k;
	int r;

	*entries = 0;
	if ((r = bundle_read(path, &old)) != 0)
		goto bad;
	if (strcmp(bundle_kind(old), BUNDLE_KIND_MERGE) != 0 ||
	    strcmp(bundle_request_bundle_id(old), bundle_id(b)) != 0) {
		r = AIRLOCK_E_EXISTS;
		goto bad;
	}
	if ((r = bundle_verify_signature(old, is->trust, is->untrusted,
					 &signer)) != 0)
		goto bad;
	if (X509_cmp(signer, is->station) != 0) {
		r = AIRLOCK_E_POLICY;
		goto bad;
	}
	if ((r = home_ledger(is->h, &l)) != 0)
		goto out;
	for (i = 0; i < bundle_entry_count(old); i++) {
		const cJSON *m = bundle_entry_meta(old, i);
		const char *rid =
		    cJSON_GetObjectItemCaseSensitive(m, "request_id")
			->valuestring;
		const char *serial =
		    cJSON_GetObjectItemCaseSensitive(m, "serial")->valuestring;
		for (k = 0; k < request_set_count(rs); k++) {
			struct request *rq = request_set_get(rs, k);
			if (rq->bundle == b && strcmp(rq->entry_id, rid) == 0)
				break;
		}
		if (k == request_set_count(rs) ||
		    ledger_find_issued(l, request_set_get(rs, k)->request_id,
				       &rec) != 0 ||
		    strcmp(cJSON_GetObjectItemCaseSensitive(rec, "serial")
			       ->valuestring,
			   serial) != 0) {
			r = AIRLOCK_E_POLICY;
			goto bad;
		}
		cJSON_Delete(rec);
		rec = NULL;
	}
	if ((r = bundle_file_data(old, BUNDLE_ROLE_CHECKPOINT, 0, &cp, &cplen,
				  &cpname)) != 0 ||
	    (r = json_parse_strict(cp, cplen, 4, &cpj)) != 0 ||
	    (r = json_get_int(cpj, "seq", "checkpoint.json", 1, (1LL << 53),
			      &seq)) != 0)
		goto bad;
	if ((r = issue_export_state(is, (unsigned long long)seq,
				    issue_crl_exported(is))) != 0 ||
	    (r = request_spool_done(is->h, bundle_id(b))) != 0)
		goto out;
	*entries = bundle_entry_count(old);
	r = 0;
	goto out;
bad:
	err_detail_set("%s exists and is not a complete, signed export of "
		       "request bundle %s from this station; move it away and "
		       "export again",
		       path, bundle_id(b));
	r = AIRLOCK_E_EXISTS;
out:
	if (r == 0)
		err_detail_clear();
	cJSON_Delete(rec);
	cJSON_Delete(cpj);
	X509_free(signer);
	bundle_free(old);
	return r;
}

static int
issue_export_one(struct issuer *is, struct request_set *rs,
		 const struct bundle *b, const char *parent, size_t *entries)
{
	struct bundle_writer *w = NULL;
	struct ledger *l = NULL;
	STACK_OF(X509) *chain = NULL;
	unsigned char *slice = NULL;
	size_t slen = 0, i, count = 0;
	unsigned long long from = 1, seq, crl_num = 0;
	char name[80], file[80], *pem = NULL, *rpem = NULL, *ipem = NULL,
				 *cp = NULL, *id = NULL;
	cJSON *meta, *rec = NULL;
	X509 *cert = NULL;
	int r;

	*entries = 0;
	/* the output directory first: no CHECKPOINT for a bundle that cannot
	 * be written */
	{
		int pfd = -1;
		size_t cleaned = 0;
		if ((r = safefile_dir_open(parent, &pfd)) != 0)
			return r;
		r = safefile_clean_temps(pfd, &cleaned);
		close(pfd);
		if (r != 0)
			return r;
	}
	if (b != NULL) {
		char path[4200];
		snprintf(path, sizeof(path), "%s/merge-%s", parent,
			 bundle_id(b));
		if (access(path, F_OK) == 0)
			return issue_export_resume(is, rs, b, path, entries);
	}
	if ((r = bundle_writer_new(BUNDLE_KIND_MERGE,
				   "airlock-station " AIRLOCK_VERSION, &w)) !=
		0 ||
	    (r = bundle_writer_set_request_bundle_id(
		 w, b != NULL ? bundle_id(b)
			      : "00000000000000000000000000000000")) != 0)
		goto out;
	for (i = 0; b != NULL && i < request_set_count(rs); i++) {
		struct request *rq = request_set_get(rs, i);
		const cJSON *src;
		if (rq->bundle != b || !rq->ok)
			continue;
		if ((r = home_ledger(is->h, &l)) != 0)
			goto out;
		if (ledger_find_issued(l, rq->request_id, &rec) != 0) {
			err_detail_clear();
			continue;
		}
		if ((r = issue_cert_from_record(rec, &cert)) != 0 ||
		    (r = issue_check_cert(is, rq, cert)) != 0)
			goto out;
		if ((pem = issue_pem(cert, is->inter)) == NULL) {
			r = AIRLOCK_E_NOMEM;
			goto out;
		}
		src = cJSON_GetObjectItemCaseSensitive(
		    bundle_entry_meta(b, rq->index), "source");
		meta = cJSON_CreateObject();
		cJSON_AddStringToObject(meta, "id", rq->entry_id);
		cJSON_AddStringToObject(meta, "request_id", rq->entry_id);
		cJSON_AddItemToObject(meta, "source", cJSON_Duplicate(src, 1));
		cJSON_AddStringToObject(
		    meta, "serial",
		    cJSON_GetObjectItemCaseSensitive(rec, "serial")
			->valuestring);
		cJSON_AddStringToObject(meta, "profile",
					profile_name(rq->profile));
		snprintf(file, sizeof(file), "%.60s.pem", rq->entry_id);
		if ((r = bundle_writer_add_entry(w, meta, file, pem,
						 strlen(pem))) != 0)
			goto out;
		free(pem);
		pem = NULL;
		X509_free(cert);
		cert = NULL;
		cJSON_Delete(rec);
		rec = NULL;
		count++;
	}
	/* the CA certificates, the ledger since the last export, and a
	 * checkpoint of its head, all covered by the manifest signature */
	if ((r = home_ledger(is->h, &l)) != 0)
		goto out;
	{
		cJSON *f = cJSON_CreateObject();
		cJSON_AddStringToObject(f, "bundle", "merge");
		cJSON_AddStringToObject(f, "request_bundle_id",
					b != NULL ? bundle_id(b) : "none");
		cJSON_AddNumberToObject(f, "entries", (double)count);
		cJSON_AddNumberToObject(f, "ledger_size",
					(double)ledger_size(l));
		cJSON_AddStringToObject(f, "ledger_head", ledger_head_hex(l));
		r = ledger_append(l, "CHECKPOINT", f, &seq);
		cJSON_Delete(f);
		if (r != 0 || (r = ledger_sync(l)) != 0)
			goto out;
	}
	if ((r = issue_ledger_slice(is, &from, &slice, &slen)) != 0)
		goto out;
	{
		cJSON *cpj = cJSON_CreateObject();
		cJSON_AddNumberToObject(cpj, "seq", (double)ledger_size(l));
		cJSON_AddStringToObject(cpj, "head", ledger_head_hex(l));
		cJSON_AddNumberToObject(cpj, "from_seq", (double)from);
		cJSON_AddStringToObject(cpj, "station",
					home_station_name(is->h));
		cp = cJSON_PrintUnformatted(cpj);
		cJSON_Delete(cpj);
	}
	if ((rpem = issue_pem(is->root, NULL)) == NULL ||
	    (ipem = issue_pem(is->inter, NULL)) == NULL || cp == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	if ((r = bundle_writer_add_file(w, BUNDLE_ROLE_CA_CERT, "root.pem",
					rpem, strlen(rpem))) != 0 ||
	    (r = bundle_writer_add_file(w, BUNDLE_ROLE_CA_CERT,
					"intermediate.pem", ipem,
					strlen(ipem))) != 0 ||
	    (r = bundle_writer_add_file(w, BUNDLE_ROLE_LEDGER, "ledger.jsonl",
					slice, slen)) != 0 ||
	    (r = bundle_writer_add_file(w, BUNDLE_ROLE_CHECKPOINT,
					"checkpoint.json", cp, strlen(cp))) !=
		0)
		goto out;
	/* the newest CRLs travel in every merge bundle */
	for (i = 0; i < 2; i++) {
		unsigned char *der = NULL;
		size_t dlen = 0;
		unsigned long long num = 0;
		r = crl_latest(is->h, i == 0 ? CRL_INTERMEDIATE : CRL_ROOT,
			       &der, &dlen, &num);
		if (r == AIRLOCK_E_NOT_FOUND) {
			err_detail_clear();
			continue;
		}
		if (r == 0) {
			if (i == 0)
				crl_num = num;
			r = bundle_writer_add_file(w, BUNDLE_ROLE_CRL,
						   i == 0 ? "intermediate.crl"
							  : "root.crl",
						   der, dlen);
		}
		free(der);
		if (r != 0)
			goto out;
	}
	if ((chain = sk_X509_new_null()) == NULL ||
	    !sk_X509_push(chain, is->inter) || !sk_X509_push(chain, is->root)) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	if (b != NULL)
		snprintf(name, sizeof(name), "merge-%s", bundle_id(b));
	else
		snprintf(name, sizeof(name), "merge-crl-%llu", crl_num);
	if ((r = bundle_writer_commit(w, parent, name, is->spriv, is->station,
				      chain, &id)) != 0)
		goto out;
	if ((r = issue_export_state(is, ledger_size(l), crl_num)) != 0 ||
	    (b != NULL && (r = request_spool_done(is->h, bundle_id(b))) != 0))
		goto out;
	*entries = count;
	r = 0;
out:
	sk_X509_free(chain);
	bundle_writer_free(w);
	cJSON_Delete(rec);
	X509_free(cert);
	free(slice);
	free(pem);
	free(rpem);
	free(ipem);
	free(cp);
	free(id);
	return r;
}

int
issuer_export(struct issuer *is, struct request_set *rs, const char *parent,
	      size_t *n, size_t *entries)
{
	size_t i, e;
	int r;

	*n = 0;
	*entries = 0;
	if (is->spriv == NULL)
		return AIRLOCK_E_INTERNAL;
	{
		/* what an interrupted export left in the home */
		int hfd = -1;
		size_t cleaned = 0;
		if ((r = safefile_dir_open(home_dir(is->h), &hfd)) != 0)
			return r;
		r = safefile_clean_temps(hfd, &cleaned);
		close(hfd);
		if (r != 0)
			return r;
	}
	for (i = 0; i < request_set_bundle_count(rs); i++) {
		if ((r = issue_export_one(is, rs, request_set_bundle(rs, i),
					  parent, &e)) != 0)
			return r;
		(*n)++;
		*entries += e;
	}
	if (*n == 0) {
		/* nothing to answer: a revocation-only bundle when there is a
		 * CRL the online side has not seen */
		unsigned char *der = NULL;
		size_t dlen = 0;
		unsigned long long num = 0;
		r = crl_latest(is->h, CRL_INTERMEDIATE, &der, &dlen, &num);
		free(der);
		if (r == AIRLOCK_E_NOT_FOUND) {
			err_detail_clear();
			return 0;
		}
		if (r != 0)
			return r;
		if (num > issue_crl_exported(is)) {
			if ((r = issue_export_one(is, rs, NULL, parent, &e)) !=
			    0)
				return r;
			(*n)++;
		}
	}
	return 0;
}
