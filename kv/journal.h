/* The online host's merge journal, in the state directory: one JSON record
 * per line in journal.jsonl (append, fsync before going on), and the last
 * merge bundle seen per vault in last-bundle.json (atomic replace).
 *
 * Key Vault's pending operation is the truth about whether a chain was
 * merged; the journal records what this host meant to do and did, so that
 * after a crash or on a second run it can say which entries were in
 * flight, and so that merge bundles older than the last one seen are
 * refused (SECURITY.md section 3). Only one process holds the journal at a
 * time (flock). */
#ifndef AIRLOCK_KV_JOURNAL_H
#define AIRLOCK_KV_JOURNAL_H

struct journal;

#define JOURNAL_INTENT	"intent"
#define JOURNAL_MERGED	"merged"
#define JOURNAL_ALREADY "already-merged"
#define JOURNAL_SKIPPED "skipped"
#define JOURNAL_FAILED	"failed"

/* Open (create) STATEDIR/journal.jsonl, lock it, read it. A torn last line
 * (a crash mid-append) is ignored. AIRLOCK_E_REFUSED if another process
 * holds it. */
int journal_open(const char *statedir, struct journal **out)
    __attribute__((warn_unused_result));
void journal_free(struct journal *j);

/* Append one record and fsync it. An fsync failure is AIRLOCK_E_IO and the
 * caller must stop (never retry an fsync). Strings may be NULL. */
int journal_append(struct journal *j, const char *event, const char *vault,
		   const char *name, const char *request_id, const char *x5t,
		   const char *bundle_id) __attribute__((warn_unused_result));

/* The last event recorded for (VAULT, NAME, X5T), or NULL. */
const char *journal_event_last(const struct journal *j, const char *vault,
			       const char *name, const char *x5t);

struct journal_last {
	char bundle_id[96];
	char created[48];
	long long seen;
};
/* The last merge bundle seen for VAULT: 0, or AIRLOCK_E_NOT_FOUND. */
int journal_last_get(const char *statedir, const char *vault,
		     struct journal_last *out)
    __attribute__((warn_unused_result));
/* Record BUNDLE_ID (created CREATED, RFC 3339) as the last seen for VAULT.
 */
int journal_last_set(const char *statedir, const char *vault,
		     const char *bundle_id, const char *created)
    __attribute__((warn_unused_result));

#endif
