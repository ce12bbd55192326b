#include "kv/merge.h"

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "kv/journal.h"
#include "kv/kvjson.h"
#include "kv/vault.h"
#include "lib/err.h"

#define MERGE_ROUNDS 6

const char *
merge_outcome_name(enum merge_outcome o)
{
	switch (o) {
	case MERGE_MERGED:
		return "merged";
	case MERGE_ALREADY:
		return "already-merged";
	case MERGE_SKIPPED:
		return "skipped";
	case MERGE_REJECTED:
		return "rejected";
	case MERGE_FAILED:
		return "failed";
	}
	return "?";
}

static void set(struct merge_result *res, enum merge_outcome o, int code,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
set(struct merge_result *res, enum merge_outcome o, int code, const char *fmt,
    ...)
{
	va_list ap;

	res->outcome = o;
	res->code = code;
	va_start(ap, fmt);
	vsnprintf(res->detail, sizeof(res->detail), fmt, ap);
	va_end(ap);
}

/* Does certificate NAME (VERSION, or the latest) hold exactly LEAF? 1 yes,
 * 0 no, negative on error. */
static int
cert_holds(struct vault *v, const char *name, const char *version,
	   const unsigned char *der, size_t len, const char *x5t, char *ver_out,
	   size_t vlen)
{
	struct kv_cert *c = NULL;
	cJSON *j = NULL;
	int r;

	if ((r = vault_cert_get(v, name, version, &j)) != 0) {
		if (r == AIRLOCK_E_NOT_FOUND)
			r = 0;
		goto out;
	}
	if ((r = kvjson_cert_parse(j, &c)) != 0)
		goto out;
	r = c->cer != NULL && c->cer_len == len &&
	    memcmp(c->cer, der, len) == 0 && c->x5t != NULL &&
	    strcmp(c->x5t, x5t) == 0;
	if (r && ver_out != NULL)
		snprintf(ver_out, vlen, "%s", c->version ? c->version : "");
out:
	kvjson_cert_free(c);
	cJSON_Delete(j);
	return r;
}

/* The version in a target id ".../certificates/NAME/VERSION", or NULL. */
static const char *
target_version(const char *target, const char *name)
{
	const char *p;
	size_t n = strlen(name);

	if (target == NULL || (p = strstr(target, "/certificates/")) == NULL)
		return NULL;
	p += strlen("/certificates/");
	if (strncasecmp(p, name, n) != 0 || p[n] != '/')
		return NULL;
	p += n + 1;
	return strlen(p) > 0 && strlen(p) <= 64 &&
		       strspn(p, "0123456789abcdefABCDEF") == strlen(p)
		   ? p
		   : NULL;
}

static int
key_matches(const struct kv_op *op, X509 *leaf)
{
	const unsigned char *p = op->csr;
	X509_REQ *req;
	EVP_PKEY *pk;
	int ok = 0;

	if (op->csr == NULL)
		return 0;
	if ((req = d2i_X509_REQ(NULL, &p, (long)op->csr_len)) == NULL)
		return 0;
	if ((pk = X509_REQ_get0_pubkey(req)) != NULL &&
	    EVP_PKEY_eq(pk, X509_get0_pubkey(leaf)) == 1)
		ok = 1;
	X509_REQ_free(req);
	return ok;
}

static int
x5c_build(STACK_OF(X509) * chain, cJSON **out, unsigned char **leaf_der,
	  size_t *leaf_len)
{
	cJSON *a;
	unsigned char *der = NULL;
	char *b64 = NULL;
	int i, n, r = AIRLOCK_E_NOMEM;

	*out = NULL;
	*leaf_der = NULL;
	if ((a = cJSON_CreateArray()) == NULL)
		return AIRLOCK_E_NOMEM;
	for (i = 0; i < sk_X509_num(chain); i++) {
		der = NULL;
		if ((n = i2d_X509(sk_X509_value(chain, i), &der)) <= 0)
			goto out;
		if ((r = kvjson_b64_encode(der, (size_t)n, &b64)) != 0)
			goto out;
		r = AIRLOCK_E_NOMEM;
		if (!cJSON_AddItemToArray(a, cJSON_CreateString(b64)))
			goto out;
		free(b64);
		b64 = NULL;
		if (i == 0) {
			*leaf_der = der;
			*leaf_len = (size_t)n;
		} else {
			OPENSSL_free(der);
		}
		der = NULL;
	}
	*out = a;
	a = NULL;
	r = 0;
out:
	if (r != 0) {
		OPENSSL_free(*leaf_der);
		*leaf_der = NULL;
	}
	OPENSSL_free(der);
	free(b64);
	cJSON_Delete(a);
	return r;
}

static void
pause_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

int
merge_one(struct vault *v, struct journal *j, const char *bundle_id,
	  const char *name, const char *request_id, STACK_OF(X509) * chain,
	  struct merge_result *res)
{
	const char *vurl = vault_url(v);
	unsigned char *der = NULL;
	struct kv_op *op = NULL;
	cJSON *x5c = NULL, *reply = NULL;
	size_t len = 0;
	int round, held, r = 0;

	memset(res, 0, sizeof(*res));
	if ((r = x5c_build(chain, &x5c, &der, &len)) != 0 ||
	    (r = kvjson_x5t(der, len, res->x5t)) != 0) {
		set(res, MERGE_FAILED, r, "cannot encode the chain");
		r = 0;
		goto out;
	}
	for (round = 0; round < MERGE_ROUNDS; round++) {
		kvjson_op_free(op);
		op = NULL;
		cJSON_Delete(reply);
		reply = NULL;
		r = vault_pending_get(v, name, &reply);
		if (r == AIRLOCK_E_NOT_FOUND) {
			held = cert_holds(v, name, NULL, der, len, res->x5t,
					  res->version, sizeof(res->version));
			if (held == 1) {
				set(res, MERGE_ALREADY, 0,
				    "already merged (no pending operation)");
				r = journal_append(j, JOURNAL_ALREADY, vurl,
						   name, request_id, res->x5t,
						   bundle_id);
				goto out;
			}
			set(res, MERGE_SKIPPED, AIRLOCK_E_NOT_FOUND,
			    "no pending operation to merge onto (deleted or "
			    "cancelled?)");
			r = journal_append(j, JOURNAL_SKIPPED, vurl, name,
					   request_id, res->x5t, bundle_id);
			goto out;
		}
		if (r != 0) {
			set(res, MERGE_FAILED, r,
			    "reading the pending "
			    "operation: %s",
			    err_detail_get());
			r = 0;
			goto out;
		}
		if ((r = kvjson_op_parse(reply, &op)) != 0) {
			set(res, MERGE_FAILED, r, "pending operation: %s",
			    err_detail_get());
			r = 0;
			goto out;
		}
		if (strcmp(op->status, "completed") == 0) {
			held = cert_holds(
			    v, name, target_version(op->target, name), der, len,
			    res->x5t, res->version, sizeof(res->version));
			if (held == 1) {
				set(res, MERGE_ALREADY, 0, "already merged");
				r = journal_append(j, JOURNAL_ALREADY, vurl,
						   name, request_id, res->x5t,
						   bundle_id);
				goto out;
			}
			if (held < 0) {
				set(res, MERGE_FAILED, held,
				    "reading the certificate: %s",
				    err_detail_get());
				goto out_ok;
			}
			set(res, MERGE_SKIPPED, AIRLOCK_E_EXISTS,
			    "the operation was completed with another "
			    "certificate: not merged");
			r = journal_append(j, JOURNAL_SKIPPED, vurl, name,
					   request_id, res->x5t, bundle_id);
			goto out;
		}
		if (strcmp(op->status, "inProgress") != 0) {
			set(res, MERGE_SKIPPED, AIRLOCK_E_NOT_FOUND,
			    "the pending operation is %.32s", op->status);
			r = journal_append(j, JOURNAL_SKIPPED, vurl, name,
					   request_id, res->x5t, bundle_id);
			goto out;
		}
		if (op->request_id == NULL ||
		    strcmp(op->request_id, request_id) != 0) {
			set(res, MERGE_SKIPPED, AIRLOCK_E_POLICY,
			    "another request is pending (request_id %.64s, "
			    "the bundle answers %.64s): renewed or re-created "
			    "since the export? Export again",
			    op->request_id ? op->request_id : "none",
			    request_id);
			r = journal_append(j, JOURNAL_SKIPPED, vurl, name,
					   request_id, res->x5t, bundle_id);
			goto out;
		}
		if (!key_matches(op, sk_X509_value(chain, 0))) {
			set(res, MERGE_REJECTED, AIRLOCK_E_POLICY,
			    "the certificate's key is not the pending CSR's "
			    "key: refused");
			r = journal_append(j, JOURNAL_FAILED, vurl, name,
					   request_id, res->x5t, bundle_id);
			goto out;
		}
		if ((r = journal_append(j, JOURNAL_INTENT, vurl, name,
					request_id, res->x5t, bundle_id)) != 0)
			goto out;
		cJSON_Delete(reply);
		reply = NULL;
		r = vault_pending_merge(v, name, x5c, &reply);
		if (r == 0)
			break;
		if (vault_last_outcome_unknown(v) || r == AIRLOCK_E_EXISTS ||
		    r == AIRLOCK_E_THROTTLED) {
			/* read the state before anything else */
			pause_ms(r == AIRLOCK_E_EXISTS ? 1000 : 200);
			continue;
		}
		set(res, MERGE_FAILED, r, "%s", err_detail_get());
		r = journal_append(j, JOURNAL_FAILED, vurl, name, request_id,
				   res->x5t, bundle_id);
		goto out;
	}
	if (round == MERGE_ROUNDS) {
		set(res, MERGE_FAILED, AIRLOCK_E_REMOTE,
		    "no clear answer after %d rounds of read and merge: run "
		    "again (it is safe)",
		    MERGE_ROUNDS);
		goto out_ok;
	}
	/* read it back and compare */
	held = cert_holds(v, name, NULL, der, len, res->x5t, res->version,
			  sizeof(res->version));
	if (held != 1) {
		set(res, MERGE_FAILED, held < 0 ? held : AIRLOCK_E_HTTP,
		    "merged, but the certificate read back is not the one "
		    "signed");
		r = journal_append(j, JOURNAL_FAILED, vurl, name, request_id,
				   res->x5t, bundle_id);
		goto out;
	}
	set(res, MERGE_MERGED, 0, "merged");
	r = journal_append(j, JOURNAL_MERGED, vurl, name, request_id, res->x5t,
			   bundle_id);
	goto out;
out_ok:
	r = 0;
out:
	kvjson_op_free(op);
	cJSON_Delete(reply);
	cJSON_Delete(x5c);
	OPENSSL_free(der);
	return r;
}
