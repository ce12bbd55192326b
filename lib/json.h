/* Strict JSON on top of cJSON, for everything that arrives from outside
 * (bundle manifests, Key Vault replies, policy files).
 *
 * cJSON alone is lenient: it skips any byte <= 0x20 as whitespace, accepts a
 * UTF-8 BOM, leading zeros, "1.", raw control characters and invalid UTF-8 in
 * strings, "\u0000" (which truncates the decoded string), and keeps the last
 * of two equal keys where lookups find the first. json_parse_strict() checks
 * the bytes against RFC 8259 first and the parsed tree afterwards, so that
 * one document always has one meaning. */
#ifndef AIRLOCK_JSON_H
#define AIRLOCK_JSON_H

#include <stddef.h>

#include <cjson/cJSON.h>

#define JSON_MAX_DEPTH 32
/* Largest integer json_get_int() accepts: every integer up to it is exact in
 * a double. */
#define JSON_INT_EXACT_MAX 9007199254740991LL /* 2^53 - 1 */

/* Parse BUF[0..LEN) strictly (RFC 8259 grammar, no extensions):
 *   - valid UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF),
 *     no BOM, no NUL byte anywhere, no raw control character in a string;
 *   - escapes: only the RFC 8259 ones; "\uXXXX" with four hex digits,
 *     surrogates only as a high+low pair, never "\u0000";
 *   - numbers per the RFC grammar (no leading zeros, "+", ".5", "1.", hex,
 *     NaN or Infinity);
 *   - nesting depth <= MAX_DEPTH (checked before cJSON sees the bytes);
 *   - nothing but JSON whitespace after the value;
 *   - no two equal keys in any object, compared after escape decoding
 *     ("a" and "\u0061" are the same key).
 * Errors: AIRLOCK_E_FORMAT, or AIRLOCK_E_TOO_LARGE for depth, with detail
 * "at byte N: ...". *OUT is the tree (cJSON_Delete it) or NULL. */
int json_parse_strict(const unsigned char *buf, size_t len, int max_depth,
		      cJSON **out) __attribute__((warn_unused_result));

/* Schema helpers. Lookups are case-sensitive only. PATH names OBJ in
 * messages ("manifest.entries[2]"); KEY is appended ("...entries[2].id").
 * Every failure is AIRLOCK_E_FORMAT with a detail naming the key. */

/* OBJ must be an object whose keys are all in REQUIRED or OPTIONAL (both
 * NULL-terminated lists; either may be NULL) and which has every REQUIRED
 * key. */
int json_check_keys(const cJSON *obj, const char *path,
		    const char *const *required, const char *const *optional)
    __attribute__((warn_unused_result));
/* OBJ[KEY] must be a string of at most MAX_LEN bytes; *OUT borrows it. */
int json_get_str(const cJSON *obj, const char *key, const char *path,
		 size_t max_len, const char **out)
    __attribute__((warn_unused_result));
/* OBJ[KEY] must be a number written as an integer (no fraction, no
 * exponent: "1.0" and "1e3" are rejected), |v| < 2^53 so that it is exact,
 * and within [MIN, MAX]. */
int json_get_int(const cJSON *obj, const char *key, const char *path,
		 long long min, long long max, long long *out)
    __attribute__((warn_unused_result));
/* OBJ[KEY] must be true or false; *OUT is 1 or 0. */
int json_get_bool(const cJSON *obj, const char *key, const char *path, int *out)
    __attribute__((warn_unused_result));
/* OBJ[KEY] must be an array of at most MAX_ITEMS elements; *OUT borrows it,
 * *N_OUT (if not NULL) is its length. */
int json_get_array(const cJSON *obj, const char *key, const char *path,
		   size_t max_items, const cJSON **out, size_t *n_out)
    __attribute__((warn_unused_result));
/* OBJ[KEY] must be an object; *OUT borrows it. */
int json_get_object(const cJSON *obj, const char *key, const char *path,
		    const cJSON **out) __attribute__((warn_unused_result));

/* 1 if ITEM is a number whose source text was a plain integer (no fraction
 * or exponent). Only meaningful for trees from json_parse_strict(); numbers
 * made with cJSON_CreateNumber count as integers if integral. */
int json_number_is_integer(const cJSON *item);

#endif
