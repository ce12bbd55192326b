/* Merging one signed chain into Key Vault safely (KEYVAULT.md, "Merge is
 * not blindly repeatable"): read the pending operation first; merge only
 * onto the same request (request_id) and the same key (the CSR's public key
 * equals the leaf's); a completed operation whose certificate equals the
 * leaf is "already merged"; an ambiguous merge failure is followed by
 * reading the state again, never by a blind resend. The journal gets an
 * intent record before each merge and the outcome after it. */
#ifndef AIRLOCK_KV_MERGE_H
#define AIRLOCK_KV_MERGE_H

#include <openssl/x509.h>

struct vault;
struct journal;

enum merge_outcome {
	MERGE_MERGED,
	MERGE_ALREADY,	/* the same certificate was merged before */
	MERGE_SKIPPED,	/* nothing to merge onto (different request, gone) */
	MERGE_REJECTED, /* the key does not match the pending CSR's key */
	MERGE_FAILED,	/* Key Vault or transport error */
};

struct merge_result {
	enum merge_outcome outcome;
	int code; /* for MERGE_FAILED/REJECTED */
	char detail[600];
	char x5t[32];
	char version[80];
};

/* Merge CHAIN (leaf first) into certificate NAME's pending operation with
 * REQUEST_ID. The outcome goes into *RES; the return value is non-zero
 * only for errors that must stop the whole run (the journal failed). */
int merge_one(struct vault *v, struct journal *j, const char *bundle_id,
	      const char *name, const char *request_id, STACK_OF(X509) * chain,
	      struct merge_result *res) __attribute__((warn_unused_result));

const char *merge_outcome_name(enum merge_outcome o);

#endif
