/* The station's issuance ledger (SECURITY.md §2): an append-only file, one
 * JSON record per line, each holding its sequence number and the SHA-256 of
 * the previous line, so that an edited, deleted or reordered record breaks
 * the chain.
 *
 * A line is exactly what cJSON_PrintUnformatted gives for the object
 *
 *   {"seq":N,"prev":"<64 hex>","time":"YYYY-MM-DDTHH:MM:SSZ","type":"T",
 *    <the caller's fields, in the caller's order>}
 *
 * followed by one '\n'. "prev" is the SHA-256 of the previous line's bytes
 * without its newline (64 zeros for seq 1). A reader re-serialises every
 * line it parses and compares bytes, so a line that still parses after an
 * edit (spaces, reordered keys, escapes, number spelling) is refused; keys
 * are never duplicated. The line format itself, read and written, is
 * lib/ledger_record.h's (airlock-kv's replica reads the same lines).
 *
 * What the ledger itself enforces, and nothing more: the chain, the known
 * record types, a line cap of LEDGER_LINE_MAX bytes, JSON depth, and the
 * serial rules. INTENT, ISSUED, ABORTED and INDOUBT carry "serial" as
 * canonical lowercase hex (no leading zeros, at most 40 digits); INTENT and
 * ISSUED also carry a non-empty "request_id" string. Each serial has exactly
 * one INTENT and then at most one closing ISSUED, ABORTED or INDOUBT; a
 * serial named by any of these four is used forever. */
#ifndef AIRLOCK_STATION_LEDGER_H
#define AIRLOCK_STATION_LEDGER_H

#include <stddef.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "lib/ledger_record.h"

#define LEDGER_OPEN_CREATE 1 /* create the file if it is missing */
#define LEDGER_OPEN_REPAIR 2 /* truncate a torn last line */

/* Longest line, newline not counted. A certificate in base64 fits. */
#define LEDGER_LINE_MAX LEDGER_RECORD_LINE_MAX

struct ledger;

/* Open PATH read-write (O_APPEND), take an exclusive flock (a second holder
 * gets AIRLOCK_E_REFUSED), and verify the whole file. A missing file is
 * AIRLOCK_E_NOT_FOUND unless LEDGER_OPEN_CREATE. A torn last line (no
 * newline: a crash mid-write) is AIRLOCK_E_FORMAT unless LEDGER_OPEN_REPAIR,
 * which truncates exactly the torn bytes and fsyncs. */
int ledger_open(const char *path, int flags, struct ledger **out)
    __attribute__((warn_unused_result));
/* Releases the lock. NULL is a no-op. */
void ledger_close(struct ledger *l);

/* Append one record of TYPE with the members of FIELDS (borrowed; NULL is
 * no fields), assigning seq, prev and time. One write(), no fsync. Errors:
 * AIRLOCK_E_INVALID_ARG (unknown type, reserved or duplicate key, bad
 * serial), AIRLOCK_E_EXISTS (INTENT for a used serial, second ISSUED),
 * AIRLOCK_E_REFUSED (closing record without an open INTENT; clock earlier
 * than the newest record), AIRLOCK_E_TOO_LARGE (line over the cap),
 * AIRLOCK_E_IO (write failed: the handle is broken for good). */
int ledger_append(struct ledger *l, const char *type, const cJSON *fields,
		  unsigned long long *seq_out)
    __attribute__((warn_unused_result));
/* fsync. A failure breaks the handle for good (fsync is never retried). */
int ledger_sync(struct ledger *l) __attribute__((warn_unused_result));

/* Number of records, and the hex SHA-256 of the last line (64 zeros when
 * empty). */
unsigned long long ledger_size(const struct ledger *l);
const char *ledger_head_hex(const struct ledger *l);

/* Clock used by ledger_append (NULL restores time(NULL)). */
void ledger_set_clock(struct ledger *l, time_t (*clock)(void));
/* Latest "time" of any record; 0 when empty. */
time_t ledger_newest_time(const struct ledger *l);

/* 1 if SERIAL_HEX appears in any INTENT, ISSUED, ABORTED or INDOUBT record,
 * else 0. A broken handle answers 1, so nobody reuses a serial on it. */
int ledger_serial_used(const struct ledger *l, const char *serial_hex);

/* The newest ISSUED record whose request_id is REQUEST_ID, re-read from the
 * file; the caller frees *RECORD_OUT with cJSON_Delete. AIRLOCK_E_NOT_FOUND
 * when there is none. */
int ledger_find_issued(struct ledger *l, const char *request_id,
		       cJSON **record_out) __attribute__((warn_unused_result));

/* For each INTENT still open (no ISSUED/ABORTED/INDOUBT), in ledger order,
 * append INDOUBT {serial, request_id}; then fsync if anything was appended.
 * *N is the number appended. */
int ledger_recover(struct ledger *l, size_t *n)
    __attribute__((warn_unused_result));

/* Re-read and re-verify the records in order; CB gets each record (borrowed
 * for the call). A non-zero return from CB stops and is returned. */
int ledger_foreach(struct ledger *l, int (*cb)(void *arg, const cJSON *rec),
		   void *arg) __attribute__((warn_unused_result));

/* Verify PATH without locking it (for `ledger verify` and the online
 * replica). 0, or AIRLOCK_E_FORMAT (AIRLOCK_E_TOO_LARGE for an over-long
 * line) with a detail naming the line. COUNT and HEAD_HEX may be NULL; they
 * are set only on success. */
int ledger_verify_file(const char *path, unsigned long long *count,
		       char head_hex[65]) __attribute__((warn_unused_result));

#endif
