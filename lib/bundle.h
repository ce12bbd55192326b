/* The bundle: what crosses the air gap on a stick (docs/airlock-bundle.5).
 *
 * A bundle is a directory holding manifest.json, the files it lists, and
 * for a merge bundle manifest.json.sig, a detached CMS signature over the
 * exact manifest bytes. Reader and writer live here together so that they
 * cannot drift apart; the writer checks what it wrote with the reader. */
#ifndef AIRLOCK_BUNDLE_H
#define AIRLOCK_BUNDLE_H

#include <stddef.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#define BUNDLE_FORMAT	    "airlock-bundle"
#define BUNDLE_VERSION	    1
#define BUNDLE_MANIFEST	    "manifest.json"
#define BUNDLE_MANIFEST_SIG "manifest.json.sig"
#define BUNDLE_KIND_REQUEST "request"
#define BUNDLE_KIND_MERGE   "merge"
/* file roles in a merge bundle's "files" */
#define BUNDLE_ROLE_CRL	       "crl"
#define BUNDLE_ROLE_CA_CERT    "ca_cert"
#define BUNDLE_ROLE_LEDGER     "ledger"
#define BUNDLE_ROLE_CHECKPOINT "checkpoint"

/* Caps, all checked before anything is parsed (SECURITY.md section 3). */
#define BUNDLE_MANIFEST_MAX   (16u << 20)
#define BUNDLE_SIG_MAX	      (1u << 20)
#define BUNDLE_CSR_MAX	      (64u << 10)
#define BUNDLE_CHAIN_MAX      (64u << 10)
#define BUNDLE_CA_CERT_MAX    (64u << 10)
#define BUNDLE_CHECKPOINT_MAX (64u << 10)
#define BUNDLE_CRL_MAX	      (16u << 20)
#define BUNDLE_LEDGER_MAX     (256u << 20)
#define BUNDLE_ENTRIES_MAX    200000u
#define BUNDLE_FILES_MAX      1024u
#define BUNDLE_TOTAL_MAX      (2ull << 30)

/* Extended key usage of the station key that signs merge bundles.
 * PLACEHOLDER: an arc under a private enterprise number that airlock does
 * not own yet; replace it before production (and in docs/airlock-bundle.5)
 * once a real PEN arc is assigned. */
#define AIRLOCK_BUNDLE_EKU_OID "1.3.6.1.4.1.59999.1.1"

struct bundle;
struct bundle_writer;

/* Read and verify the bundle in directory DIR: the directory is not a
 * symbolic link and not a temporary (".NAME.tmp-...") name; manifest.json is
 * under its cap, strict JSON, and exactly the version 1 schema; every listed
 * file is read once beneath DIR without following links, with its cap, and
 * its size and SHA-256 equal the manifest's; no file names equal after ASCII
 * case folding; entry ids unique; no unlisted file or directory besides
 * manifest.json and manifest.json.sig (names starting with '.' are ignored).
 * The signature is read but not verified: see bundle_verify_signature().
 * Errors: AIRLOCK_E_FORMAT, _TOO_LARGE, _NOT_FOUND, _IO, _NOMEM, each with a
 * detail naming the bundle, the file and the manifest path. */
int bundle_read(const char *dir, struct bundle **out)
    __attribute__((warn_unused_result));
void bundle_free(struct bundle *b);

/* "request" or "merge". */
const char *bundle_kind(const struct bundle *b);
/* 32 lowercase hex digits. */
const char *bundle_id(const struct bundle *b);
/* RFC 3339 UTC creation time, as written. */
const char *bundle_created(const struct bundle *b);
const char *bundle_producer(const struct bundle *b);
/* Merge bundles: the request bundle they answer; NULL for requests. */
const char *bundle_request_bundle_id(const struct bundle *b);
/* The whole parsed manifest (borrowed). */
const cJSON *bundle_manifest_json(const struct bundle *b);
/* The exact manifest bytes (borrowed), as signed. */
const unsigned char *bundle_manifest_bytes(const struct bundle *b, size_t *len);

size_t bundle_entry_count(const struct bundle *b);
/* Entry I's JSON object (borrowed; valid until bundle_free). */
const cJSON *bundle_entry_meta(const struct bundle *b, size_t i);
/* Entry I's id (borrowed). */
const char *bundle_entry_id(const struct bundle *b, size_t i);
/* The verified in-memory copy of entry I's file (borrowed; one NUL byte
 * follows the data, not counted in *LEN). */
int bundle_entry_data(const struct bundle *b, size_t i,
		      const unsigned char **data, size_t *len)
    __attribute__((warn_unused_result));
/* Number of extra files with ROLE (merge bundles; 0 for requests). */
size_t bundle_file_count(const struct bundle *b, const char *role);
/* The IDX-th file with ROLE, in manifest order: verified bytes and its
 * name (borrowed). AIRLOCK_E_NOT_FOUND if there is none. */
int bundle_file_data(const struct bundle *b, const char *role, size_t idx,
		     const unsigned char **data, size_t *len, const char **name)
    __attribute__((warn_unused_result));

/* Verify the detached CMS signature (manifest.json.sig, DER SignedData,
 * one signer) over the exact manifest bytes: the signature is valid, the
 * signer chains to TRUSTED (pinned root; intermediates may come from
 * UNTRUSTED and from the certificates in the signature), and the signer
 * certificate is not a CA and has keyUsage digitalSignature and extended key
 * usage AIRLOCK_BUNDLE_EKU_OID. A bundle without a signature is refused.
 * AIRLOCK_E_POLICY with a detail on every failure. *SIGNER_OUT (if not NULL)
 * gets a new reference to the signer certificate. */
int bundle_verify_signature(const struct bundle *b, X509_STORE *trusted,
			    STACK_OF(X509) * untrusted, X509 **signer_out)
    __attribute__((warn_unused_result));

/* A new bundle of KIND ("request" or "merge") made by PRODUCER (free text,
 * at most 200 bytes, e.g. "airlock-kv 0.1.0 on host x"). */
int bundle_writer_new(const char *kind, const char *producer,
		      struct bundle_writer **out)
    __attribute__((warn_unused_result));
void bundle_writer_free(struct bundle_writer *w);
/* Merge bundles: the request bundle answered (32 lowercase hex). */
int bundle_writer_set_request_bundle_id(struct bundle_writer *w, const char *id)
    __attribute__((warn_unused_result));
/* The creation time written (default: the clock at commit). */
void bundle_writer_set_created(struct bundle_writer *w, time_t t);
/* Add an entry: META is its JSON object (id, source, profile, and for a
 * merge entry request_id and serial) without "file", "size" or "sha256",
 * which the writer fills in. Ownership of META is taken, also on failure.
 * DATA[0..LEN) is copied. FILE must be a valid, unused name. The full
 * schema is checked at commit. */
int bundle_writer_add_entry(struct bundle_writer *w, cJSON *meta,
			    const char *file, const void *data, size_t len)
    __attribute__((warn_unused_result));
/* Add an extra file with ROLE (merge bundles). DATA is copied. */
int bundle_writer_add_file(struct bundle_writer *w, const char *role,
			   const char *file, const void *data, size_t len)
    __attribute__((warn_unused_result));
/* Finish: check the manifest against the reader's schema; if KEY is not
 * NULL sign it (detached CMS, SHA-256, signer CERT, certificates CHAIN
 * included; KEY may live on a PKCS#11 token); write PARENT/.NAME.tmp-XXXXXX
 * with every file fsynced, fsync it, rename it to NAME (never replacing:
 * AIRLOCK_E_EXISTS), fsync PARENT; then read the bundle back from the
 * medium and compare. *BUNDLE_ID_OUT (if not NULL) gets a malloc'd copy of
 * the new bundle id. The writer can be freed afterwards, not reused. */
int bundle_writer_commit(struct bundle_writer *w, const char *parent,
			 const char *name, EVP_PKEY *key, X509 *cert,
			 STACK_OF(X509) * chain, char **bundle_id_out)
    __attribute__((warn_unused_result));

#endif
