/* Key Vault's JSON shapes, read and written in one place (KEYVAULT.md,
 * Shapes): certificate policies (built from flags or read from a policy
 * file), CertificateOperation and CertificateBundle replies. */
#ifndef AIRLOCK_KV_KVJSON_H
#define AIRLOCK_KV_KVJSON_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* A CertificateOperation (GET .../pending, POST .../create). */
struct kv_op {
	char *status;	  /* inProgress, completed, failed, canceled, ... */
	char *issuer;	  /* issuer.name */
	char *request_id; /* may be NULL (older api-versions) */
	char *target;	  /* set once completed */
	char *error_code; /* error.code, when failed */
	char *error_message;
	unsigned char *csr; /* DER, may be NULL */
	size_t csr_len;
	int cancellation_requested;
};

/* A CertificateBundle or a list item (GET /certificates[/{name}/{v}]). */
struct kv_cert {
	char *id;
	char *name;
	char *version;	    /* from id; NULL for a list item without version */
	char *x5t;	    /* base64url SHA-1 of cer; NULL while pending */
	unsigned char *cer; /* DER leaf; NULL when absent */
	size_t cer_len;
	int enabled;
	long long nbf, exp, created, updated; /* 0 when absent */
	const cJSON *tags; /* borrowed from the tree; may be NULL */
};

int kvjson_op_parse(const cJSON *j, struct kv_op **out)
    __attribute__((warn_unused_result));
void kvjson_op_free(struct kv_op *op);
int kvjson_cert_parse(const cJSON *j, struct kv_cert **out)
    __attribute__((warn_unused_result));
void kvjson_cert_free(struct kv_cert *c);

/* Policy from flags. */
struct kv_policy_args {
	const char *subject;
	const char **dns;
	size_t n_dns;
	const char **ip;
	size_t n_ip;
	const char **eku; /* OIDs or serverAuth/clientAuth/... */
	size_t n_eku;
	const char **tags; /* "K=V" */
	size_t n_tags;
	const char *key;      /* rsa:2048|rsa:3072|rsa:4096|ec:p256|ec:p384 */
	long validity_months; /* 0: service default (12) */
	int exportable;
	int hsm;
};

/* The create body {"policy":{...},"tags":{...}} from flags; issuer
 * "Unknown", exportable false unless asked. */
int kvjson_create_body_from_args(const struct kv_policy_args *a, cJSON **out)
    __attribute__((warn_unused_result));
/* The create body from a policy file (BUF[0..LEN), Key Vault's JSON: a
 * policy object or {"policy":..,"tags":..}); unknown keys are refused,
 * issuer must be absent or "Unknown", exportable defaults to false.
 * TAGS (K=V, may be 0) are added. */
int kvjson_create_body_from_file(const unsigned char *buf, size_t len,
				 const char **tags, size_t n_tags, cJSON **out)
    __attribute__((warn_unused_result));
/* 1 if every field REQUESTED sets in key_props, x509_props and issuer is
 * equal in ACTUAL (arrays as sets, names case-insensitively): the pending
 * operation is for the same request. */
int kvjson_policy_covers(const cJSON *requested, const cJSON *actual);

/* A policy snapshot for a request bundle: subject, SANs, EKUs, key
 * usages, validity, key type/size/curve, exportable; new tree. */
int kvjson_policy_snapshot(const cJSON *policy, cJSON **out)
    __attribute__((warn_unused_result));

/* Strict standard base64 (RFC 4648 section 4, padding required, no
 * whitespace) into a new buffer. */
int kvjson_b64_decode(const char *in, unsigned char **out, size_t *outlen)
    __attribute__((warn_unused_result));
/* Standard base64 with padding into a new NUL-terminated string. */
int kvjson_b64_encode(const unsigned char *in, size_t len, char **out)
    __attribute__((warn_unused_result));
/* base64url(SHA-1(DER)) without padding, as Key Vault's x5t (28 chars). */
int kvjson_x5t(const unsigned char *der, size_t len, char out[32])
    __attribute__((warn_unused_result));

/* "2025-01-31T12:00:00Z" for Unix seconds T. */
void kvjson_time_rfc3339(long long t, char out[32]);

#endif
