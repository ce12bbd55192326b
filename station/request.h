/* Requests at the station: the spool of imported request bundles, and the
 * decision for each request (profile, names, validity, or the rule that
 * rejects it). Decisions are made fresh from the spooled bytes every time:
 * nothing an earlier run concluded is trusted. */
#ifndef AIRLOCK_REQUEST_H
#define AIRLOCK_REQUEST_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "lib/bundle.h"
#include "station/csr.h"
#include "station/home.h"
#include "station/profile.h"

#define REQUEST_ID_MAX 300

/* One request and its decision (plain data, filled by request_decide). */
struct request {
	const struct bundle *bundle;	 /* the spooled request bundle */
	size_t index;			 /* entry index in it */
	const char *entry_id;		 /* borrowed from the bundle */
	char request_id[REQUEST_ID_MAX]; /* ledger key: "kv:HOST/NAME/ID" or
					    "csr:LABEL" */
	char source[REQUEST_ID_MAX];	 /* for people: vault/name or label */
	struct csr *csr;		 /* NULL when the CSR was rejected */
	const struct profile *profile;	 /* NULL when rejected */
	long days;
	int ok;	       /* 1: policy allows it */
	char rule[64]; /* why not: a stable rule id ... */
	char why[600]; /* ... and the value that broke it */
};

struct request_set;

/* Copy a verified request bundle into HOME/spool/<bundle id>/ (atomically;
 * the source is only read). AIRLOCK_E_EXISTS when already imported. */
int request_import(struct home *h, const char *dir, char **id_out,
		   size_t *entries_out) __attribute__((warn_unused_result));
/* Record a refused request bundle DIR (CODE, and the current error
 * detail, which is kept) as a REJECTED ledger record: every rejection is
 * in the audit log, also a whole bundle's. */
int request_import_rejected(struct home *h, const char *dir, int code)
    __attribute__((warn_unused_result));
/* Every request in the spool, decided. */
int request_set_load(struct home *h, struct request_set **out)
    __attribute__((warn_unused_result));
void request_set_free(struct request_set *rs);
size_t request_set_count(const struct request_set *rs);
struct request *request_set_get(struct request_set *rs, size_t i);
size_t request_set_bundle_count(const struct request_set *rs);
const struct bundle *request_set_bundle(const struct request_set *rs, size_t i);
/* Move a spooled bundle out of the spool (after its merge bundle was
 * written): HOME/spool/ID -> HOME/spool/.done-ID. */
int request_spool_done(struct home *h, const char *bundle_id)
    __attribute__((warn_unused_result));

#endif
