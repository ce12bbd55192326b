/* One line of the station's issuance ledger (SECURITY.md §2): its reader and
 * writer, shared by the station (station/ledger.c, which keeps the file, the
 * lock, the indexes and the serial rules) and by airlock-kv's replica
 * (kv/replica.c), so that the two can never disagree about what a line is.
 *
 * A line is exactly what cJSON_PrintUnformatted gives for the object
 *
 *   {"seq":N,"prev":"<64 hex>","time":"YYYY-MM-DDTHH:MM:SSZ","type":"T",
 *    <the caller's fields, in the caller's order>}
 *
 * without its newline. "prev" is the SHA-256 of the previous line's bytes
 * (64 zeros for seq 1); "time" is RFC 3339 UTC (section 5.6) with seconds
 * and 'Z', 1970..9999, naming a real instant; "type" is one of the record
 * types below. A reader re-serialises every line it parses and compares
 * bytes, so a line that still parses after an edit (spaces, reordered keys,
 * escapes, number spelling) is refused. Caps: LEDGER_RECORD_LINE_MAX bytes,
 * JSON depth LEDGER_RECORD_DEPTH_MAX, LEDGER_RECORD_FIELDS_MAX caller
 * fields; no control byte below 0x20 and strict UTF-8 (RFC 3629); no key
 * twice, and no caller field named like a header key. */
#ifndef AIRLOCK_LEDGER_RECORD_H
#define AIRLOCK_LEDGER_RECORD_H

#include <stddef.h>
#include <time.h>

#include <cjson/cJSON.h>

/* Longest line, newline not counted. A certificate in base64 fits. */
#define LEDGER_RECORD_LINE_MAX	 65536
#define LEDGER_RECORD_DEPTH_MAX	 32
#define LEDGER_RECORD_FIELDS_MAX 64
/* seq is below 2^53, so that it is exact in a JSON number (a double). */
#define LEDGER_RECORD_SEQ_MAX (1ULL << 53)
/* "prev" of record 1. */
#define LEDGER_RECORD_PREV_FIRST                                               \
	"0000000000000000000000000000000000000000000000000000000000000000"
/* A why buffer of this size holds every reason the parser gives. */
#define LEDGER_RECORD_WHY 256

/* Append-only: the values index the type name table. */
enum ledger_record_type {
	LEDGER_RECORD_INTENT,
	LEDGER_RECORD_ISSUED,
	LEDGER_RECORD_ABORTED,
	LEDGER_RECORD_INDOUBT,
	LEDGER_RECORD_REVOKED,
	LEDGER_RECORD_CRL,
	LEDGER_RECORD_REJECTED,
	LEDGER_RECORD_CHECKPOINT,
	LEDGER_RECORD_CA_ROOT,
	LEDGER_RECORD_CA_INTERMEDIATE,
	LEDGER_RECORD_STATION_KEY,
	LEDGER_RECORD_NTYPES
};

/* The header of a parsed line, and its hash. */
struct ledger_record_meta {
	unsigned long long seq;
	char prev[65];
	time_t time;
	int type;      /* enum ledger_record_type */
	char hash[65]; /* SHA-256 of the line's bytes, lowercase hex */
};

/* "INTENT" for LEDGER_RECORD_INTENT, ...; NULL for anything else. */
const char *ledger_record_type_name(int type);
/* *TYPE for NAME (case-sensitive), or AIRLOCK_E_NOT_FOUND. */
int ledger_record_type_lookup(const char *name, int *type)
    __attribute__((warn_unused_result));

/* T as "YYYY-MM-DDTHH:MM:SSZ" into OUT; AIRLOCK_E_INVALID_ARG outside the
 * years 1970..9999. */
int ledger_record_time_format(time_t t, char out[21])
    __attribute__((warn_unused_result));
/* The inverse: AIRLOCK_E_FORMAT unless S is exactly what
 * ledger_record_time_format gives for some instant (so no Feb 30, no
 * 24:00:00, no leap second). */
int ledger_record_time_parse(const char *s, time_t *t)
    __attribute__((warn_unused_result));

/* SHA-256 of P[0..N) as 64 lowercase hex digits. AIRLOCK_E_CRYPTO. */
int ledger_record_sha256_hex(const void *p, size_t n, char out[65])
    __attribute__((warn_unused_result));
/* 1 if S is 64 lowercase hex digits (how a line's hash is written), else 0. */
int ledger_record_hash_ok(const char *s);

/* The line (no newline) for record SEQ of TYPE after the line hashing to
 * PREV_HEX, stamped TIME ("YYYY-MM-DDTHH:MM:SSZ"), with copies of the
 * members of FIELDS (borrowed; NULL is no fields) in order. *LINE_OUT is
 * freed with cJSON_free. Nothing is checked beyond building: run
 * ledger_record_parse on the result. Errors: AIRLOCK_E_INVALID_ARG (unknown
 * TYPE, a field without a key; WHY says which), AIRLOCK_E_NOMEM. */
int ledger_record_format(unsigned long long seq, const char *prev_hex,
			 const char *time, int type, const cJSON *fields,
			 char **line_out, char *why, size_t whylen)
    __attribute__((warn_unused_result));

/* Parse and check LINE[0..LEN) (no newline) as one record. WANT_SEQ, unless
 * 0, is the seq it must have. WANT_PREV, unless NULL, is the hex hash its
 * prev must be (the chain); with NULL any prev is taken, but record 1 still
 * needs LEDGER_RECORD_PREV_FIRST. On success *REC_OUT (when REC_OUT is not
 * NULL; cJSON_Delete it) is the record and META its header and hash.
 * Errors: AIRLOCK_E_FORMAT, AIRLOCK_E_TOO_LARGE (over the line cap), both
 * with WHY saying what is wrong; AIRLOCK_E_NOMEM, AIRLOCK_E_CRYPTO. */
int ledger_record_parse(const char *line, size_t len,
			unsigned long long want_seq, const char *want_prev,
			cJSON **rec_out, struct ledger_record_meta *meta,
			char *why, size_t whylen)
    __attribute__((warn_unused_result));

#endif
