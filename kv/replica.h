/* The online replica of the station's ledger (SECURITY.md section 2): the
 * outside witness that makes a rolled-back or edited station ledger
 * visible.
 *
 * Every merge bundle carries the station ledger's lines since its last
 * export ("ledger.jsonl", ending in a CHECKPOINT record) and a checkpoint
 * ("checkpoint.json": {"seq","head","from_seq","station"}), both covered by
 * the manifest signature. airlock-kv keeps
 *
 *   STATE/ledger-replica.jsonl   the lines, byte for byte as the station
 *                                wrote them (one JSON record per line,
 *                                chained by SHA-256; station/ledger.h)
 *   STATE/ledger-head.json       {"first_seq","seq","head","station"}: what
 *                                the replica held after the last append
 *
 * replica_witness() checks a verified bundle's slice against the replica
 * and, when it extends it, appends the new lines durably (a new file
 * written, fsynced and renamed over the old one; the old replica stays on
 * any failure). It runs after the signature verifies and before anything
 * in the bundle is used. */
#ifndef AIRLOCK_KV_REPLICA_H
#define AIRLOCK_KV_REPLICA_H

#include <stddef.h>

struct bundle;

#define REPLICA_FILE "ledger-replica.jsonl"
#define REPLICA_HEAD "ledger-head.json"

struct replica_result {
	unsigned long long from_seq; /* the slice: records FROM_SEQ.. */
	unsigned long long seq;	     /* ..SEQ, the checkpoint */
	char head[65];		     /* the checkpoint's head hash */
	char station[65];	     /* the station's name (sanitised) */
	unsigned long long before;   /* records in the replica before */
	unsigned long long
	    first_seq;		     /* the replica's first record (0: empty) */
	unsigned long long appended; /* records appended now */
	int first_contact; /* the replica was empty and starts at from_seq>1 */
	int already;	   /* the whole slice was in the replica already */
};

/* Check the ledger slice and checkpoint of B (already verified) against
 * the replica in STATEDIR and append what is new. Errors:
 * AIRLOCK_E_NOT_FOUND the bundle carries neither file (nothing to witness);
 * AIRLOCK_E_POLICY the slice or checkpoint is malformed, does not extend the
 * replica (rolled back or edited station ledger, a gap, another station), or
 * the local replica itself does not verify; AIRLOCK_E_IO and friends.
 * Concurrent callers are serialised by an flock on STATE/ledger-replica.lock
 * (waited for: the lock is held only while checking and writing). The detail
 * says what and where. RES is filled as far as known. */
int replica_witness(const char *statedir, const struct bundle *b,
		    struct replica_result *res)
    __attribute__((warn_unused_result));

/* The checkpoint's from_seq of B (0 when it has none or it is malformed):
 * to witness several bundles in the order the station exported them. */
unsigned long long replica_bundle_from_seq(const struct bundle *b);

/* Read STATEDIR/ledger-head.json: 0 and the fields, AIRLOCK_E_NOT_FOUND
 * when there is no replica yet. */
int replica_head_get(const char *statedir, unsigned long long *first_seq,
		     unsigned long long *seq, char head[65], char station[65])
    __attribute__((warn_unused_result));

/* One line for people about RES ("ledger: records 12..20 witnessed, ..."),
 * into BUF. */
const char *replica_describe(const struct replica_result *res, char *buf,
			     size_t len);

#endif
