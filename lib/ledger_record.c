/* One ledger line: reader and writer (see ledger_record.h). */
#include "lib/ledger_record.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "lib/err.h"

static const char *const ledger_record_type_names[] = {
    "INTENT",	   "ISSUED",   "ABORTED",    "INDOUBT", "REVOKED",
    "CRL",	   "REJECTED", "CHECKPOINT", "CA_ROOT", "CA_INTERMEDIATE",
    "STATION_KEY",
};

_Static_assert(sizeof(ledger_record_type_names) /
		       sizeof(ledger_record_type_names[0]) ==
		   LEDGER_RECORD_NTYPES,
	       "one name per record type");

/* The header keys, in the order every line begins with them. */
static const char *const ledger_record_header[] = {"seq", "prev", "time",
						   "type"};

const char *
ledger_record_type_name(int type)
{
	if (type < 0 || type >= LEDGER_RECORD_NTYPES)
		return NULL;
	return ledger_record_type_names[type];
}

int
ledger_record_type_lookup(const char *name, int *type)
{
	int i;

	*type = -1;
	if (name == NULL)
		return AIRLOCK_E_NOT_FOUND;
	for (i = 0; i < LEDGER_RECORD_NTYPES; i++) {
		if (strcmp(name, ledger_record_type_names[i]) == 0) {
			*type = i;
			return 0;
		}
	}
	return AIRLOCK_E_NOT_FOUND;
}

/* ---- time, hashes ---- */

int
ledger_record_time_format(time_t t, char out[21])
{
	struct tm tm;

	out[0] = '\0';
	if (gmtime_r(&t, &tm) == NULL || tm.tm_year < 70 || tm.tm_year > 8099)
		return AIRLOCK_E_INVALID_ARG;
	if (strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) != 20)
		return AIRLOCK_E_INVALID_ARG;
	return 0;
}

static int
digits_val(const char *s, size_t n)
{
	int v = 0;
	size_t i;

	for (i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

int
ledger_record_time_parse(const char *s, time_t *t)
{
	static const char pat[] = "dddd-dd-ddTdd:dd:ddZ";
	struct tm tm;
	char back[21];
	size_t i;

	*t = 0;
	if (s == NULL || strlen(s) != 20)
		return AIRLOCK_E_FORMAT;
	for (i = 0; i < 20; i++) {
		if (pat[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pat[i])
			return AIRLOCK_E_FORMAT;
	}
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = digits_val(s, 4) - 1900;
	tm.tm_mon = digits_val(s + 5, 2) - 1;
	tm.tm_mday = digits_val(s + 8, 2);
	tm.tm_hour = digits_val(s + 11, 2);
	tm.tm_min = digits_val(s + 14, 2);
	tm.tm_sec = digits_val(s + 17, 2);
	*t = timegm(&tm);
	/* timegm normalises Feb 30 or 24:00; the round trip refuses them. */
	if (ledger_record_time_format(*t, back) != 0 ||
	    memcmp(back, s, 20) != 0) {
		*t = 0;
		return AIRLOCK_E_FORMAT;
	}
	return 0;
}

int
ledger_record_sha256_hex(const void *p, size_t n, char out[65])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char d[32];
	unsigned int dl = 0;
	size_t i;

	out[0] = '\0';
	if (EVP_Digest(p, n, d, &dl, EVP_sha256(), NULL) != 1 || dl != 32)
		return AIRLOCK_E_CRYPTO;
	for (i = 0; i < 32; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 0xf];
	}
	out[64] = '\0';
	return 0;
}

int
ledger_record_hash_ok(const char *s)
{
	return s != NULL && strlen(s) == 64 &&
	       strspn(s, "0123456789abcdef") == 64;
}

/* ---- writing ---- */

int
ledger_record_format(unsigned long long seq, const char *prev_hex,
		     const char *time, int type, const cJSON *fields,
		     char **line_out, char *why, size_t whylen)
{
	cJSON *root = NULL, *dup = NULL;
	const cJSON *f;
	const char *name = ledger_record_type_name(type);
	int r = AIRLOCK_E_NOMEM;

	*line_out = NULL;
	why[0] = '\0';
	if (name == NULL) {
		snprintf(why, whylen, "unknown record type %d", type);
		return AIRLOCK_E_INVALID_ARG;
	}
	if ((root = cJSON_CreateObject()) == NULL ||
	    cJSON_AddNumberToObject(root, "seq", (double)seq) == NULL ||
	    cJSON_AddStringToObject(root, "prev", prev_hex) == NULL ||
	    cJSON_AddStringToObject(root, "time", time) == NULL ||
	    cJSON_AddStringToObject(root, "type", name) == NULL)
		goto out;
	cJSON_ArrayForEach (f, fields) {
		if (f->string == NULL) {
			snprintf(why, whylen, "a field has no key");
			r = AIRLOCK_E_INVALID_ARG;
			goto out;
		}
		if ((dup = cJSON_Duplicate(f, 1)) == NULL)
			goto out;
		if (!cJSON_AddItemToObject(root, f->string, dup))
			goto out;
		dup = NULL;
	}
	if ((*line_out = cJSON_PrintUnformatted(root)) == NULL)
		goto out;
	r = 0;
out:
	cJSON_Delete(dup);
	cJSON_Delete(root);
	return r;
}

/* ---- reading ---- */

/* Offset of the first byte that is not strict UTF-8 (RFC 3629: no overlong
 * forms, surrogates or code points above U+10FFFF), or N. */
static size_t
utf8_check(const unsigned char *s, size_t n)
{
	size_t i = 0, k, len;
	uint32_t cp;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if (s[i] >= 0xc2 && s[i] <= 0xdf) {
			len = 2;
			cp = s[i] & 0x1f;
		} else if (s[i] >= 0xe0 && s[i] <= 0xef) {
			len = 3;
			cp = s[i] & 0x0f;
		} else if (s[i] >= 0xf0 && s[i] <= 0xf4) {
			len = 4;
			cp = s[i] & 0x07;
		} else
			return i;
		if (n - i < len)
			return i;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return i;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return i;
		i += len;
	}
	return n;
}

/* The raw bytes: not empty, under the cap, no control byte, UTF-8. */
static int
bytes_check(const char *line, size_t len, char *why, size_t whylen)
{
	size_t i, bad;

	if (len == 0) {
		snprintf(why, whylen, "empty line");
		return AIRLOCK_E_FORMAT;
	}
	if (len > LEDGER_RECORD_LINE_MAX) {
		snprintf(why, whylen, "%zu bytes, more than %d", len,
			 LEDGER_RECORD_LINE_MAX);
		return AIRLOCK_E_TOO_LARGE;
	}
	for (i = 0; i < len; i++) {
		if ((unsigned char)line[i] < 0x20) {
			snprintf(why, whylen,
				 "control byte 0x%02x at column %zu",
				 (unsigned char)line[i], i + 1);
			return AIRLOCK_E_FORMAT;
		}
	}
	if ((bad = utf8_check((const unsigned char *)line, len)) != len) {
		snprintf(why, whylen, "invalid UTF-8 at column %zu", bad + 1);
		return AIRLOCK_E_FORMAT;
	}
	return 0;
}

static int
depth_ok(const cJSON *item, int depth)
{
	const cJSON *c;

	if (depth > LEDGER_RECORD_DEPTH_MAX)
		return 0;
	for (c = item->child; c != NULL; c = c->next)
		if (!depth_ok(c, depth + 1))
			return 0;
	return 1;
}

/* Member C must be NAME of cJSON type TYPE. */
static int
header_member_ok(const cJSON *c, const char *name, int type)
{
	return c != NULL && c->string != NULL && strcmp(c->string, name) == 0 &&
	       (c->type & 0xff) == type;
}

/* seq, then prev: the record's place in the chain. */
static int
chain_check(const cJSON *c, unsigned long long want_seq, const char *want_prev,
	    struct ledger_record_meta *meta, char *why, size_t whylen)
{
	double d = c->valuedouble;

	if (!(d >= 1 && d < (double)LEDGER_RECORD_SEQ_MAX) ||
	    (double)(unsigned long long)d != d) {
		snprintf(why, whylen, "seq is not a positive integer");
		return AIRLOCK_E_FORMAT;
	}
	meta->seq = (unsigned long long)d;
	if (want_seq != 0 && meta->seq != want_seq) {
		snprintf(why, whylen,
			 "seq %llu where %llu was expected (a record is "
			 "missing, repeated or out of order)",
			 meta->seq, want_seq);
		return AIRLOCK_E_FORMAT;
	}
	c = c->next;
	if (!ledger_record_hash_ok(c->valuestring)) {
		snprintf(why, whylen, "prev is not 64 lowercase hex digits");
		return AIRLOCK_E_FORMAT;
	}
	memcpy(meta->prev, c->valuestring, 65);
	if (want_prev != NULL &&
	    CRYPTO_memcmp(meta->prev, want_prev, 64) != 0) {
		snprintf(why, whylen,
			 "prev does not match the SHA-256 of the line before "
			 "(that line was changed, or a line is missing)");
		return AIRLOCK_E_FORMAT;
	}
	if (want_prev == NULL && meta->seq == 1 &&
	    strcmp(meta->prev, LEDGER_RECORD_PREV_FIRST) != 0) {
		snprintf(why, whylen, "record 1 must have prev 0...0");
		return AIRLOCK_E_FORMAT;
	}
	return 0;
}

/* The four header members, in order and of their types. */
static int
header_check(const cJSON *root, unsigned long long want_seq,
	     const char *want_prev, struct ledger_record_meta *meta, char *why,
	     size_t whylen)
{
	const cJSON *c = root->child;
	int r;

	if (!header_member_ok(c, "seq", cJSON_Number) ||
	    !header_member_ok(c->next, "prev", cJSON_String) ||
	    !header_member_ok(c->next->next, "time", cJSON_String) ||
	    !header_member_ok(c->next->next->next, "type", cJSON_String)) {
		snprintf(why, whylen,
			 "does not begin with \"seq\" (number), \"prev\", "
			 "\"time\" and \"type\" (strings) in that order");
		return AIRLOCK_E_FORMAT;
	}
	if ((r = chain_check(c, want_seq, want_prev, meta, why, whylen)) != 0)
		return r;
	c = c->next->next;
	if (ledger_record_time_parse(c->valuestring, &meta->time) != 0) {
		snprintf(why, whylen,
			 "time is not RFC 3339 UTC (YYYY-MM-DDTHH:MM:SSZ)");
		return AIRLOCK_E_FORMAT;
	}
	c = c->next;
	if (ledger_record_type_lookup(c->valuestring, &meta->type) != 0) {
		snprintf(why, whylen, "unknown record type \"%.32s\"",
			 c->valuestring);
		return AIRLOCK_E_FORMAT;
	}
	return 0;
}

/* The caller's fields, from FIRST on: keyed, capped, none twice, none named
 * like a header key. */
static int
fields_check(const cJSON *first, char *why, size_t whylen)
{
	const cJSON *c, *d;
	size_t n = 0, i;

	for (c = first; c != NULL; c = c->next) {
		if (++n > LEDGER_RECORD_FIELDS_MAX) {
			snprintf(why, whylen, "more than %d fields",
				 LEDGER_RECORD_FIELDS_MAX);
			return AIRLOCK_E_FORMAT;
		}
		if (c->string == NULL) {
			snprintf(why, whylen, "field without a key");
			return AIRLOCK_E_FORMAT;
		}
		for (i = 0; i < 4; i++) {
			if (strcmp(c->string, ledger_record_header[i]) == 0) {
				snprintf(why, whylen, "reserved key \"%s\"",
					 ledger_record_header[i]);
				return AIRLOCK_E_FORMAT;
			}
		}
		for (d = first; d != c; d = d->next) {
			if (strcmp(c->string, d->string) == 0) {
				snprintf(why, whylen, "duplicate key \"%.64s\"",
					 c->string);
				return AIRLOCK_E_FORMAT;
			}
		}
	}
	return 0;
}

/* The byte-exact round trip: spaces, key order, escapes and number
 * spellings that still parse are all refused here. */
static int
canonical_check(const cJSON *root, const char *line, size_t len, char *why,
		size_t whylen)
{
	char *canon = NULL;
	int r = AIRLOCK_E_FORMAT;

	if ((canon = cJSON_PrintUnformatted(root)) == NULL)
		return AIRLOCK_E_NOMEM;
	if (strlen(canon) != len || memcmp(canon, line, len) != 0) {
		snprintf(why, whylen,
			 "not in canonical form (whitespace, key order, "
			 "escapes or number spelling differ from what the "
			 "ledger writes)");
		goto out;
	}
	r = 0;
out:
	cJSON_free(canon);
	return r;
}

int
ledger_record_parse(const char *line, size_t len, unsigned long long want_seq,
		    const char *want_prev, cJSON **rec_out,
		    struct ledger_record_meta *meta, char *why, size_t whylen)
{
	cJSON *root = NULL;
	const char *end = NULL;
	int r = AIRLOCK_E_INTERNAL;

	if (rec_out != NULL)
		*rec_out = NULL;
	memset(meta, 0, sizeof(*meta));
	meta->type = -1;
	why[0] = '\0';
	if ((r = bytes_check(line, len, why, whylen)) != 0)
		goto out;
	r = AIRLOCK_E_FORMAT;
	root = cJSON_ParseWithLengthOpts(line, len, &end, 0);
	if (root == NULL || !cJSON_IsObject(root)) {
		snprintf(why, whylen, "not a JSON object");
		goto out;
	}
	if (end != line + len) {
		snprintf(why, whylen, "trailing data after the JSON object");
		goto out;
	}
	if (!depth_ok(root, 0)) {
		snprintf(why, whylen, "JSON nested deeper than %d",
			 LEDGER_RECORD_DEPTH_MAX);
		goto out;
	}
	if ((r = header_check(root, want_seq, want_prev, meta, why, whylen)) !=
		0 ||
	    (r = fields_check(root->child->next->next->next->next, why,
			      whylen)) != 0 ||
	    (r = canonical_check(root, line, len, why, whylen)) != 0 ||
	    (r = ledger_record_sha256_hex(line, len, meta->hash)) != 0)
		goto out;
	if (rec_out != NULL) {
		*rec_out = root;
		root = NULL;
	}
	r = 0;
out:
	if (r != 0) {
		memset(meta, 0, sizeof(*meta));
		meta->type = -1;
	}
	cJSON_Delete(root);
	return r;
}
