/* The issuance ledger: reader and writer of one line format (see ledger.h).
 *
 * Memory stays flat however long the ledger grows: records are never kept in
 * memory. Two indexes hold fixed-size entries only: serial (20 bytes, binary)
 * -> state and the file offset of its INTENT; SHA-256(request_id) -> file
 * offset of its newest ISSUED. Records asked for are re-read by offset. */
#include "station/ledger.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "lib/err.h"

#define LEDGER_READ_BUF	  (256 * 1024) /* > LEDGER_LINE_MAX + 1 */
#define LEDGER_JSON_DEPTH 32
#define LEDGER_FIELDS_MAX 64
#define LEDGER_SERIAL_MAX 40 /* hex digits: RFC 5280 4.1.2.2, 20 octets */
#define LEDGER_SEQ_MAX	  9007199254740992.0 /* 2^53: exact in a double */
#define LEDGER_WHY	  256

enum ledger_type {
	LT_INTENT,
	LT_ISSUED,
	LT_ABORTED,
	LT_INDOUBT,
	LT_REVOKED,
	LT_CRL,
	LT_REJECTED,
	LT_CHECKPOINT,
	LT_CA_ROOT,
	LT_CA_INTERMEDIATE,
	LT_STATION_KEY,
};

static const char *const ledger_type_names[] = {
    "INTENT",	   "ISSUED",   "ABORTED",    "INDOUBT", "REVOKED",
    "CRL",	   "REJECTED", "CHECKPOINT", "CA_ROOT", "CA_INTERMEDIATE",
    "STATION_KEY",
};
#define LEDGER_NTYPES (sizeof(ledger_type_names) / sizeof(ledger_type_names[0]))

/* Serial states, in the order a serial goes through them. */
enum serial_state {
	SERIAL_OPEN = 1, /* INTENT seen, nothing closing it yet */
	SERIAL_ISSUED,
	SERIAL_ABORTED,
	SERIAL_INDOUBT,
};

struct serial_ent {
	uint64_t intent_off;
	uint8_t v[20]; /* big-endian value; canonical hex makes it unique */
	uint8_t state;
};

struct req_ent {
	uint64_t issued_off;
	uint8_t dig[32]; /* SHA-256 of the request_id string */
};

/* Open addressing, linear probing; a slot holds entry index + 1, 0 empty. */
struct slot_table {
	uint32_t *slots;
	size_t nslots; /* power of two */
};

struct ledger {
	int fd;
	int broken;
	char *path;
	unsigned long long count;
	unsigned char head[32];
	char head_hex[65];
	time_t newest;
	uint64_t end_off; /* end of the last full line */
	time_t (*clock)(void);
	struct serial_ent *ser;
	size_t nser, capser;
	struct slot_table sert;
	struct req_ent *req;
	size_t nreq, capreq;
	struct slot_table reqt;
};

/* What one parsed line tells the indexes. Strings are borrowed from the
 * parsed record. */
struct rec_meta {
	int type;
	time_t t;
	const char *serial;
	const char *request_id;
	uint8_t serial_v[20];
	unsigned char digest[32];  /* of the line */
	unsigned char req_dig[32]; /* of request_id, for ISSUED */
};

struct line_reader {
	int fd;
	char *buf;
	size_t start, end; /* unread bytes are buf[start, end) */
	uint64_t buf_off;  /* file offset of buf[0] */
	uint64_t limit;	   /* read no further than this offset */
	int eof;
};

static time_t
ledger_clock_default(void)
{
	return time(NULL);
}

static void
hex_encode(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * n] = '\0';
}

static int
hex_lower_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Exactly 64 lowercase hex digits into 32 bytes. */
static int
hex_decode32(const char *s, unsigned char out[32])
{
	size_t i;
	int hi, lo;

	if (strlen(s) != 64)
		return -1;
	for (i = 0; i < 32; i++) {
		if ((hi = hex_lower_val(s[2 * i])) < 0 ||
		    (lo = hex_lower_val(s[2 * i + 1])) < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/* Canonical serial: 1..40 lowercase hex digits, no leading zero but "0". */
static int
serial_to_bin(const char *s, uint8_t v[20])
{
	size_t n = strlen(s), i, k;
	int d;

	if (n == 0 || n > LEDGER_SERIAL_MAX || (n > 1 && s[0] == '0'))
		return -1;
	memset(v, 0, 20);
	for (i = 0; i < n; i++) {
		if ((d = hex_lower_val(s[i])) < 0)
			return -1;
		k = n - 1 - i; /* nibble index from the right */
		v[19 - k / 2] |= (uint8_t)(k % 2 ? d << 4 : d);
	}
	return 0;
}

static int
sha256(const void *p, size_t n, unsigned char out[32])
{
	unsigned int len = 0;

	if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1 || len != 32)
		return AIRLOCK_E_CRYPTO;
	return 0;
}

/* RFC 3339 UTC with seconds and 'Z', years 1970..9999. */
static int
time_format(time_t t, char out[21])
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || tm.tm_year < 70 || tm.tm_year > 8099)
		return -1;
	if (strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) != 20)
		return -1;
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

static int
time_parse(const char *s, time_t *t)
{
	static const char pat[] = "dddd-dd-ddTdd:dd:ddZ";
	struct tm tm;
	char back[21];
	size_t i;

	if (strlen(s) != 20)
		return -1;
	for (i = 0; i < 20; i++) {
		if (pat[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pat[i])
			return -1;
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
	if (time_format(*t, back) != 0 || memcmp(back, s, 20) != 0)
		return -1;
	return 0;
}

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

static int
json_depth_ok(const cJSON *item, int depth)
{
	const cJSON *c;

	if (depth > LEDGER_JSON_DEPTH)
		return 0;
	for (c = item->child; c != NULL; c = c->next)
		if (!json_depth_ok(c, depth + 1))
			return 0;
	return 1;
}

static int
type_lookup(const char *s)
{
	size_t i;

	for (i = 0; i < LEDGER_NTYPES; i++)
		if (strcmp(s, ledger_type_names[i]) == 0)
			return (int)i;
	return -1;
}

static int
type_has_serial(int type)
{
	return type == LT_INTENT || type == LT_ISSUED || type == LT_ABORTED ||
	       type == LT_INDOUBT;
}

/* ---- indexes ---- */

static uint64_t
mix64(uint64_t x)
{
	/* splitmix64 finaliser */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static uint64_t
serial_hash(const uint8_t v[20])
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	size_t i;

	for (i = 0; i < 20; i++) {
		h ^= v[i];
		h *= 1099511628211ULL;
	}
	return mix64(h);
}

static uint64_t
req_hash(const uint8_t dig[32])
{
	uint64_t h;

	memcpy(&h, dig, sizeof(h));
	return h;
}

/* The slot holding V (*found = 1) or the empty slot where it would go. */
static size_t
ser_slot(const struct ledger *l, const uint8_t v[20], int *found)
{
	size_t mask = l->sert.nslots - 1, i = serial_hash(v) & mask;
	uint32_t s;

	for (;; i = (i + 1) & mask) {
		if ((s = l->sert.slots[i]) == 0) {
			*found = 0;
			return i;
		}
		if (memcmp(l->ser[s - 1].v, v, 20) == 0) {
			*found = 1;
			return i;
		}
	}
}

static size_t
req_slot(const struct ledger *l, const uint8_t dig[32], int *found)
{
	size_t mask = l->reqt.nslots - 1, i = req_hash(dig) & mask;
	uint32_t s;

	for (;; i = (i + 1) & mask) {
		if ((s = l->reqt.slots[i]) == 0) {
			*found = 0;
			return i;
		}
		if (memcmp(l->req[s - 1].dig, dig, 32) == 0) {
			*found = 1;
			return i;
		}
	}
}

/* Grow an entry array so that one more fits. */
static int
array_reserve(void **arr, size_t n, size_t *cap, size_t elem)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return 0;
	if (n >= UINT32_MAX - 1)
		return AIRLOCK_E_TOO_LARGE;
	ncap = *cap ? *cap * 2 : 1024;
	if ((p = realloc(*arr, ncap * elem)) == NULL)
		return AIRLOCK_E_NOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

/* Make room for one more entry in each index that the record touches, so
 * that record_commit, which runs after the write, cannot fail. */
static int
record_reserve(struct ledger *l, const struct rec_meta *m)
{
	uint32_t *slots;
	size_t ns, i, slot;
	int r, found;

	if (m->type == LT_INTENT) {
		if ((r = array_reserve((void **)&l->ser, l->nser, &l->capser,
				       sizeof(*l->ser))) != 0)
			return r;
		if ((l->nser + 1) * 2 > l->sert.nslots) {
			ns = l->sert.nslots * 2;
			if ((slots = calloc(ns, sizeof(*slots))) == NULL)
				return AIRLOCK_E_NOMEM;
			free(l->sert.slots);
			l->sert.slots = slots;
			l->sert.nslots = ns;
			for (i = 0; i < l->nser; i++) {
				slot = ser_slot(l, l->ser[i].v, &found);
				l->sert.slots[slot] = (uint32_t)(i + 1);
			}
		}
	}
	if (m->type == LT_ISSUED) {
		if ((r = array_reserve((void **)&l->req, l->nreq, &l->capreq,
				       sizeof(*l->req))) != 0)
			return r;
		if ((l->nreq + 1) * 2 > l->reqt.nslots) {
			ns = l->reqt.nslots * 2;
			if ((slots = calloc(ns, sizeof(*slots))) == NULL)
				return AIRLOCK_E_NOMEM;
			free(l->reqt.slots);
			l->reqt.slots = slots;
			l->reqt.nslots = ns;
			for (i = 0; i < l->nreq; i++) {
				slot = req_slot(l, l->req[i].dig, &found);
				l->reqt.slots[slot] = (uint32_t)(i + 1);
			}
		}
	}
	return 0;
}

/* The serial rules; WHY says which one broke. */
static int
record_rules(const struct ledger *l, const struct rec_meta *m, char *why,
	     size_t whylen)
{
	const struct serial_ent *e;
	size_t slot;
	int found;

	if (!type_has_serial(m->type))
		return 0;
	slot = ser_slot(l, m->serial_v, &found);
	if (m->type == LT_INTENT) {
		if (!found)
			return 0;
		snprintf(why, whylen,
			 "INTENT for serial %s, which is already used (a "
			 "serial is never reused, not even an aborted one)",
			 m->serial);
		return AIRLOCK_E_EXISTS;
	}
	if (!found) {
		snprintf(why, whylen, "%s for serial %s without a prior INTENT",
			 ledger_type_names[m->type], m->serial);
		return AIRLOCK_E_REFUSED;
	}
	e = &l->ser[l->sert.slots[slot] - 1];
	if (e->state == SERIAL_OPEN)
		return 0;
	snprintf(why, whylen, "%s for serial %s, which is already closed by %s",
		 ledger_type_names[m->type], m->serial,
		 e->state == SERIAL_ISSUED    ? "ISSUED"
		 : e->state == SERIAL_ABORTED ? "ABORTED"
					      : "INDOUBT");
	return m->type == LT_ISSUED && e->state == SERIAL_ISSUED
		   ? AIRLOCK_E_EXISTS
		   : AIRLOCK_E_REFUSED;
}

/* Account for a line that is now in the file. Cannot fail: record_rules
 * and record_reserve ran first. */
static void
record_commit(struct ledger *l, const struct rec_meta *m, uint64_t off,
	      size_t len)
{
	struct serial_ent *e;
	struct req_ent *q;
	size_t slot;
	int found;

	l->count++;
	memcpy(l->head, m->digest, 32);
	hex_encode(l->head, 32, l->head_hex);
	if (m->t > l->newest)
		l->newest = m->t;
	l->end_off = off + len + 1;
	if (type_has_serial(m->type)) {
		slot = ser_slot(l, m->serial_v, &found);
		if (!found) {
			e = &l->ser[l->nser];
			memset(e, 0, sizeof(*e));
			memcpy(e->v, m->serial_v, 20);
			e->intent_off = off;
			l->sert.slots[slot] = (uint32_t)++l->nser;
		}
		e = &l->ser[l->sert.slots[slot] - 1];
		e->state = m->type == LT_INTENT	   ? SERIAL_OPEN
			   : m->type == LT_ISSUED  ? SERIAL_ISSUED
			   : m->type == LT_ABORTED ? SERIAL_ABORTED
						   : SERIAL_INDOUBT;
	}
	if (m->type == LT_ISSUED) {
		slot = req_slot(l, m->req_dig, &found);
		if (!found) {
			q = &l->req[l->nreq];
			memcpy(q->dig, m->req_dig, 32);
			l->reqt.slots[slot] = (uint32_t)++l->nreq;
		}
		l->req[l->reqt.slots[slot] - 1].issued_off = off;
	}
}

/* ---- one line ---- */

/* Header member I must be NAME of cJSON type TYPE. */
static int
header_ok(const cJSON *c, const char *name, int type)
{
	return c != NULL && c->string != NULL && strcmp(c->string, name) == 0 &&
	       (c->type & 0xff) == type;
}

static int
fields_check(struct rec_meta *m, const cJSON *first, char *why, size_t whylen)
{
	static const char *const reserved[] = {"seq", "prev", "time", "type"};
	const cJSON *c, *d;
	size_t n = 0, i;

	for (c = first; c != NULL; c = c->next) {
		if (++n > LEDGER_FIELDS_MAX) {
			snprintf(why, whylen, "more than %d fields",
				 LEDGER_FIELDS_MAX);
			return -1;
		}
		if (c->string == NULL) {
			snprintf(why, whylen, "field without a key");
			return -1;
		}
		for (i = 0; i < 4; i++) {
			if (strcmp(c->string, reserved[i]) == 0) {
				snprintf(why, whylen, "reserved key \"%s\"",
					 reserved[i]);
				return -1;
			}
		}
		for (d = first; d != c; d = d->next) {
			if (strcmp(c->string, d->string) == 0) {
				snprintf(why, whylen, "duplicate key \"%.64s\"",
					 c->string);
				return -1;
			}
		}
		if (strcmp(c->string, "serial") == 0 && cJSON_IsString(c))
			m->serial = c->valuestring;
		if (strcmp(c->string, "request_id") == 0 && cJSON_IsString(c))
			m->request_id = c->valuestring;
	}
	if (type_has_serial(m->type) &&
	    (m->serial == NULL || serial_to_bin(m->serial, m->serial_v) != 0)) {
		snprintf(why, whylen,
			 "%s needs \"serial\" as lowercase hex without leading "
			 "zeros, at most %d digits",
			 ledger_type_names[m->type], LEDGER_SERIAL_MAX);
		return -1;
	}
	if ((m->type == LT_INTENT || m->type == LT_ISSUED) &&
	    (m->request_id == NULL || m->request_id[0] == '\0')) {
		snprintf(why, whylen, "%s needs a non-empty \"request_id\"",
			 ledger_type_names[m->type]);
		return -1;
	}
	return 0;
}

/* Parse and check one line (without its newline) as record WANT_SEQ whose
 * predecessor hashes to PREV. On success *OUT is the record and M describes
 * it; otherwise WHY says what is wrong. */
static int
record_parse(const char *line, size_t len, unsigned long long want_seq,
	     const unsigned char prev[32], cJSON **out, struct rec_meta *m,
	     char *why, size_t whylen)
{
	cJSON *root = NULL;
	const cJSON *c;
	const char *end = NULL;
	char *canon = NULL;
	unsigned char p[32];
	size_t i, bad;
	double d;
	int r = AIRLOCK_E_FORMAT;

	*out = NULL;
	memset(m, 0, sizeof(*m));
	why[0] = '\0';
	if (len == 0) {
		snprintf(why, whylen, "empty line");
		goto out;
	}
	if (len > LEDGER_LINE_MAX) {
		snprintf(why, whylen, "%zu bytes, more than %d", len,
			 LEDGER_LINE_MAX);
		r = AIRLOCK_E_TOO_LARGE;
		goto out;
	}
	for (i = 0; i < len; i++) {
		if ((unsigned char)line[i] < 0x20) {
			snprintf(why, whylen,
				 "control byte 0x%02x at column %zu",
				 (unsigned char)line[i], i + 1);
			goto out;
		}
	}
	if ((bad = utf8_check((const unsigned char *)line, len)) != len) {
		snprintf(why, whylen, "invalid UTF-8 at column %zu", bad + 1);
		goto out;
	}
	root = cJSON_ParseWithLengthOpts(line, len, &end, 0);
	if (root == NULL || !cJSON_IsObject(root)) {
		snprintf(why, whylen, "not a JSON object");
		goto out;
	}
	if (end != line + len) {
		snprintf(why, whylen, "trailing data after the JSON object");
		goto out;
	}
	if (!json_depth_ok(root, 0)) {
		snprintf(why, whylen, "JSON nested deeper than %d",
			 LEDGER_JSON_DEPTH);
		goto out;
	}
	c = root->child;
	if (!header_ok(c, "seq", cJSON_Number) ||
	    !header_ok(c->next, "prev", cJSON_String) ||
	    !header_ok(c->next->next, "time", cJSON_String) ||
	    !header_ok(c->next->next->next, "type", cJSON_String)) {
		snprintf(why, whylen,
			 "does not begin with \"seq\" (number), \"prev\", "
			 "\"time\" and \"type\" (strings) in that order");
		goto out;
	}
	d = c->valuedouble;
	if (!(d >= 1 && d < LEDGER_SEQ_MAX) ||
	    (double)(unsigned long long)d != d) {
		snprintf(why, whylen, "seq is not a positive integer");
		goto out;
	}
	if ((unsigned long long)d != want_seq) {
		snprintf(why, whylen,
			 "seq %llu where %llu was expected (a record is "
			 "missing, repeated or out of order)",
			 (unsigned long long)d, want_seq);
		goto out;
	}
	c = c->next;
	if (hex_decode32(c->valuestring, p) != 0) {
		snprintf(why, whylen, "prev is not 64 lowercase hex digits");
		goto out;
	}
	if (CRYPTO_memcmp(p, prev, 32) != 0) {
		snprintf(why, whylen,
			 "prev does not match the SHA-256 of the line before "
			 "(that line was changed, or a line is missing)");
		goto out;
	}
	c = c->next;
	if (time_parse(c->valuestring, &m->t) != 0) {
		snprintf(why, whylen,
			 "time is not RFC 3339 UTC (YYYY-MM-DDTHH:MM:SSZ)");
		goto out;
	}
	c = c->next;
	if ((m->type = type_lookup(c->valuestring)) < 0) {
		snprintf(why, whylen, "unknown record type \"%.32s\"",
			 c->valuestring);
		goto out;
	}
	if (fields_check(m, c->next, why, whylen) != 0)
		goto out;
	/* The byte-exact round trip: spaces, key order, escapes and number
	 * spellings that still parse are all refused here. */
	if ((canon = cJSON_PrintUnformatted(root)) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	if (strlen(canon) != len || memcmp(canon, line, len) != 0) {
		snprintf(why, whylen,
			 "not in canonical form (whitespace, key order, "
			 "escapes or number spelling differ from what the "
			 "ledger writes)");
		goto out;
	}
	if ((r = sha256(line, len, m->digest)) != 0)
		goto out;
	if (m->type == LT_ISSUED &&
	    (r = sha256(m->request_id, strlen(m->request_id), m->req_dig)) != 0)
		goto out;
	*out = root;
	root = NULL;
	r = 0;
out:
	cJSON_Delete(root);
	cJSON_free(canon);
	return r;
}

/* ---- reading the file ---- */

static int
reader_init(struct line_reader *rd, int fd, uint64_t limit)
{
	memset(rd, 0, sizeof(*rd));
	rd->fd = fd;
	rd->limit = limit;
	if ((rd->buf = malloc(LEDGER_READ_BUF)) == NULL)
		return AIRLOCK_E_NOMEM;
	return 0;
}

static void
reader_free(struct line_reader *rd)
{
	free(rd->buf);
	rd->buf = NULL;
}

static int
reader_fill(struct line_reader *rd)
{
	uint64_t at;
	size_t room;
	ssize_t n;

	memmove(rd->buf, rd->buf + rd->start, rd->end - rd->start);
	rd->buf_off += rd->start;
	rd->end -= rd->start;
	rd->start = 0;
	at = rd->buf_off + rd->end;
	room = LEDGER_READ_BUF - rd->end;
	if (rd->limit - at < room)
		room = (size_t)(rd->limit - at);
	if (room == 0) {
		rd->eof = 1;
		return 0;
	}
	do {
		n = pread(rd->fd, rd->buf + rd->end, room, (off_t)at);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		err_detail_set("reading the ledger at offset %llu: %s",
			       (unsigned long long)at, strerror(errno));
		return AIRLOCK_E_IO;
	}
	if (n == 0)
		rd->eof = 1;
	rd->end += (size_t)n;
	return 0;
}

/* The next line (without its newline) at file offset *OFF. At the end,
 * *LINE is NULL and *TORN counts the bytes after the last newline. */
static int
reader_next(struct line_reader *rd, const char **line, size_t *len,
	    uint64_t *off, size_t *torn)
{
	size_t avail, scan;
	char *nl;
	int r;

	*line = NULL;
	*len = 0;
	*torn = 0;
	for (;;) {
		avail = rd->end - rd->start;
		scan =
		    avail < LEDGER_LINE_MAX + 1 ? avail : LEDGER_LINE_MAX + 1;
		nl = memchr(rd->buf + rd->start, '\n', scan);
		if (nl != NULL) {
			*line = rd->buf + rd->start;
			*len = (size_t)(nl - *line);
			*off = rd->buf_off + rd->start;
			rd->start += *len + 1;
			return 0;
		}
		*off = rd->buf_off + rd->start;
		if (avail > LEDGER_LINE_MAX)
			return AIRLOCK_E_TOO_LARGE;
		if (rd->eof) {
			*torn = avail;
			return 0;
		}
		if ((r = reader_fill(rd)) != 0)
			return r;
	}
}

/* Read and verify the whole file, building the indexes. */
static int
ledger_load(struct ledger *l, int repair)
{
	struct line_reader rd;
	struct rec_meta m;
	cJSON *rec = NULL;
	const char *line;
	char why[LEDGER_WHY];
	uint64_t off = 0;
	size_t len, torn = 0;
	int r;

	if ((r = reader_init(&rd, l->fd, UINT64_MAX)) != 0)
		return r;
	for (;;) {
		if ((r = reader_next(&rd, &line, &len, &off, &torn)) != 0) {
			if (r == AIRLOCK_E_TOO_LARGE)
				err_detail_set("ledger %s: line %llu is longer "
					       "than %d bytes",
					       l->path, l->count + 1,
					       LEDGER_LINE_MAX);
			goto out;
		}
		if (line == NULL)
			break;
		r = record_parse(line, len, l->count + 1, l->head, &rec, &m,
				 why, sizeof(why));
		if (r == 0 && (r = record_rules(l, &m, why, sizeof(why))) != 0)
			r = AIRLOCK_E_FORMAT;
		if (r == 0)
			r = record_reserve(l, &m);
		if (r != 0) {
			if (why[0] != '\0')
				err_detail_set("ledger %s: line %llu: %s",
					       l->path, l->count + 1, why);
			goto out;
		}
		record_commit(l, &m, off, len);
		cJSON_Delete(rec);
		rec = NULL;
	}
	if (torn > 0 && !repair) {
		err_detail_set("ledger %s: line %llu is torn: %zu bytes after "
			       "the last newline, left by a crash during a "
			       "write and never synced as a whole record; run "
			       "`airlock-station ledger repair` to truncate "
			       "them",
			       l->path, l->count + 1, torn);
		r = AIRLOCK_E_FORMAT;
		goto out;
	}
	if (torn > 0) {
		if (ftruncate(l->fd, (off_t)l->end_off) != 0 ||
		    fsync(l->fd) != 0) {
			err_detail_set("ledger %s: truncating the torn last "
				       "line: %s",
				       l->path, strerror(errno));
			l->broken = 1;
			r = AIRLOCK_E_IO;
			goto out;
		}
	}
	r = 0;
out:
	cJSON_Delete(rec);
	reader_free(&rd);
	return r;
}

/* ---- handles ---- */

static void
ledger_free(struct ledger *l)
{
	if (l == NULL)
		return;
	if (l->fd >= 0)
		close(l->fd);
	free(l->path);
	free(l->ser);
	free(l->sert.slots);
	free(l->req);
	free(l->reqt.slots);
	free(l);
}

static int
ledger_new(const char *path, struct ledger **out)
{
	struct ledger *l;

	*out = NULL;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return AIRLOCK_E_NOMEM;
	l->fd = -1;
	l->clock = ledger_clock_default;
	hex_encode(l->head, 32, l->head_hex);
	l->sert.nslots = l->reqt.nslots = 1024;
	if ((l->path = strdup(path)) == NULL ||
	    (l->sert.slots = calloc(1024, sizeof(uint32_t))) == NULL ||
	    (l->reqt.slots = calloc(1024, sizeof(uint32_t))) == NULL) {
		ledger_free(l);
		return AIRLOCK_E_NOMEM;
	}
	*out = l;
	return 0;
}

/* Make a newly created file's directory entry durable. */
static int
dir_sync(const char *path)
{
	char *dir = NULL, *slash;
	int fd = -1, r = AIRLOCK_E_IO;

	if ((dir = strdup(path)) == NULL)
		return AIRLOCK_E_NOMEM;
	if ((slash = strrchr(dir, '/')) == NULL) {
		free(dir);
		if ((dir = strdup(".")) == NULL)
			return AIRLOCK_E_NOMEM;
	} else
		slash[slash == dir ? 1 : 0] = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    fsync(fd) != 0) {
		err_detail_set("syncing directory %s: %s", dir,
			       strerror(errno));
		goto out;
	}
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	free(dir);
	return r;
}

static int
ledger_fd_open(struct ledger *l, int flags, int *created)
{
	struct stat st;
	int oflags = O_RDWR | O_APPEND | O_CLOEXEC;

	*created = 0;
	l->fd = open(l->path, oflags);
	if (l->fd < 0 && errno == ENOENT && (flags & LEDGER_OPEN_CREATE)) {
		l->fd = open(l->path, oflags | O_CREAT | O_EXCL, 0600);
		*created = l->fd >= 0;
	}
	if (l->fd < 0 && errno == ENOENT) {
		err_detail_set("ledger %s does not exist (`airlock-station "
			       "init` creates it)",
			       l->path);
		return AIRLOCK_E_NOT_FOUND;
	}
	if (l->fd < 0) {
		err_detail_set("opening ledger %s: %s", l->path,
			       strerror(errno));
		return AIRLOCK_E_IO;
	}
	if (fstat(l->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		err_detail_set("ledger %s is not a regular file", l->path);
		return AIRLOCK_E_IO;
	}
	return 0;
}

int
ledger_open(const char *path, int flags, struct ledger **out)
{
	struct ledger *l = NULL;
	int r = AIRLOCK_E_INTERNAL, created = 0;

	if (out != NULL)
		*out = NULL;
	if (path == NULL || out == NULL ||
	    (flags & ~(LEDGER_OPEN_CREATE | LEDGER_OPEN_REPAIR)) != 0)
		return AIRLOCK_E_INVALID_ARG;
	if ((r = ledger_new(path, &l)) != 0)
		goto out;
	if ((r = ledger_fd_open(l, flags, &created)) != 0)
		goto out;
	if (flock(l->fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK) {
			err_detail_set("ledger %s in use by another process",
				       path);
			r = AIRLOCK_E_REFUSED;
		} else {
			err_detail_set("locking ledger %s: %s", path,
				       strerror(errno));
			r = AIRLOCK_E_IO;
		}
		goto out;
	}
	if (created) {
		if (fsync(l->fd) != 0) {
			err_detail_set("syncing new ledger %s: %s", path,
				       strerror(errno));
			r = AIRLOCK_E_IO;
			goto out;
		}
		if ((r = dir_sync(path)) != 0)
			goto out;
	}
	if ((r = ledger_load(l, flags & LEDGER_OPEN_REPAIR)) != 0)
		goto out;
	*out = l;
	l = NULL;
	r = 0;
out:
	ledger_free(l);
	return r;
}

void
ledger_close(struct ledger *l)
{
	ledger_free(l);
}

int
ledger_verify_file(const char *path, unsigned long long *count,
		   char head_hex[65])
{
	struct ledger *l = NULL;
	struct stat st;
	int r = AIRLOCK_E_INTERNAL;

	if (count != NULL)
		*count = 0;
	if (head_hex != NULL)
		head_hex[0] = '\0';
	if (path == NULL)
		return AIRLOCK_E_INVALID_ARG;
	if ((r = ledger_new(path, &l)) != 0)
		goto out;
	if ((l->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		err_detail_set("opening ledger %s: %s", path, strerror(errno));
		r = errno == ENOENT ? AIRLOCK_E_NOT_FOUND : AIRLOCK_E_IO;
		goto out;
	}
	if (fstat(l->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		err_detail_set("ledger %s is not a regular file", path);
		r = AIRLOCK_E_IO;
		goto out;
	}
	if ((r = ledger_load(l, 0)) != 0)
		goto out;
	if (count != NULL)
		*count = l->count;
	if (head_hex != NULL)
		memcpy(head_hex, l->head_hex, 65);
	r = 0;
out:
	ledger_free(l);
	return r;
}

/* ---- appending ---- */

static int
broken_err(const struct ledger *l)
{
	err_detail_set("ledger %s: an earlier write or fsync failed; this "
		       "handle is unusable. Stop, then reopen the ledger and "
		       "run recovery",
		       l->path);
	return AIRLOCK_E_IO;
}

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The line for the next record, built by cJSON the way record_parse checks
 * it: {"seq","prev","time","type", then FIELDS in order}. */
static int
line_build(const struct ledger *l, int type, const char *when,
	   const cJSON *fields, char **out)
{
	cJSON *root = NULL, *dup;
	const cJSON *f;
	int r = AIRLOCK_E_NOMEM;

	*out = NULL;
	if ((root = cJSON_CreateObject()) == NULL ||
	    cJSON_AddNumberToObject(root, "seq", (double)(l->count + 1)) ==
		NULL ||
	    cJSON_AddStringToObject(root, "prev", l->head_hex) == NULL ||
	    cJSON_AddStringToObject(root, "time", when) == NULL ||
	    cJSON_AddStringToObject(root, "type", ledger_type_names[type]) ==
		NULL)
		goto out;
	cJSON_ArrayForEach (f, fields) {
		if (f->string == NULL) {
			err_detail_set("ledger append: a field has no key");
			r = AIRLOCK_E_INVALID_ARG;
			goto out;
		}
		if ((dup = cJSON_Duplicate(f, 1)) == NULL)
			goto out;
		if (!cJSON_AddItemToObject(root, f->string, dup)) {
			cJSON_Delete(dup);
			goto out;
		}
	}
	if ((*out = cJSON_PrintUnformatted(root)) == NULL)
		goto out;
	r = 0;
out:
	cJSON_Delete(root);
	return r;
}

static int
clock_check(const struct ledger *l, char when[21])
{
	char newest[21] = "?";
	time_t now = l->clock();

	if (time_format(now, when) != 0) {
		err_detail_set("the system clock (%lld) is outside 1970..9999; "
			       "fix the clock before signing",
			       (long long)now);
		return AIRLOCK_E_REFUSED;
	}
	if (now < l->newest) {
		if (time_format(l->newest, newest) != 0)
			newest[0] = '?', newest[1] = '\0';
		err_detail_set("the system clock reads %s, earlier than the "
			       "newest ledger record (%s): fix the clock "
			       "before signing",
			       when, newest);
		return AIRLOCK_E_REFUSED;
	}
	return 0;
}

int
ledger_append(struct ledger *l, const char *type, const cJSON *fields,
	      unsigned long long *seq_out)
{
	struct rec_meta m;
	cJSON *rec = NULL;
	char *line = NULL, *grown, when[21], why[LEDGER_WHY];
	size_t len;
	int r = AIRLOCK_E_INTERNAL, t;

	if (seq_out != NULL)
		*seq_out = 0;
	if (l == NULL || type == NULL ||
	    (fields != NULL && !cJSON_IsObject(fields)))
		return AIRLOCK_E_INVALID_ARG;
	if (l->broken)
		return broken_err(l);
	if ((t = type_lookup(type)) < 0) {
		err_detail_set("ledger append: unknown record type \"%.32s\"",
			       type);
		return AIRLOCK_E_INVALID_ARG;
	}
	if ((r = clock_check(l, when)) != 0)
		return r;
	if ((r = line_build(l, t, when, fields, &line)) != 0)
		goto out;
	len = strlen(line);
	if (len > LEDGER_LINE_MAX) {
		err_detail_set("ledger append: %s record is %zu bytes, more "
			       "than the %d-byte line limit",
			       type, len, LEDGER_LINE_MAX);
		r = AIRLOCK_E_TOO_LARGE;
		goto out;
	}
	/* Check the line exactly as a later open will, so that the ledger
	 * never holds a line it would refuse to read. */
	r = record_parse(line, len, l->count + 1, l->head, &rec, &m, why,
			 sizeof(why));
	if (r == AIRLOCK_E_FORMAT)
		r = AIRLOCK_E_INVALID_ARG;
	if (r == 0)
		r = record_rules(l, &m, why, sizeof(why));
	if (r != 0) {
		if (why[0] != '\0')
			err_detail_set("ledger append %s: %s", type, why);
		goto out;
	}
	if ((r = record_reserve(l, &m)) != 0)
		goto out;
	if ((grown = realloc(line, len + 2)) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	line = grown;
	line[len] = '\n';
	if (write_all(l->fd, line, len + 1) != 0) {
		err_detail_set("ledger %s: writing record %llu: %s; this "
			       "handle is now unusable",
			       l->path, l->count + 1, strerror(errno));
		l->broken = 1;
		r = AIRLOCK_E_IO;
		goto out;
	}
	record_commit(l, &m, l->end_off, len);
	if (seq_out != NULL)
		*seq_out = l->count;
	r = 0;
out:
	cJSON_Delete(rec);
	cJSON_free(line);
	return r;
}

int
ledger_sync(struct ledger *l)
{
	if (l == NULL)
		return AIRLOCK_E_INVALID_ARG;
	if (l->broken)
		return broken_err(l);
	if (fsync(l->fd) != 0) {
		/* Never retry: after a failed fsync the kernel may have
		 * dropped the dirty pages and a retry would report success. */
		err_detail_set("ledger %s: fsync failed: %s; records since the "
			       "last sync may be lost. Stop; reopen and run "
			       "recovery",
			       l->path, strerror(errno));
		l->broken = 1;
		return AIRLOCK_E_IO;
	}
	return 0;
}

/* ---- queries ---- */

unsigned long long
ledger_size(const struct ledger *l)
{
	return l != NULL ? l->count : 0;
}

const char *
ledger_head_hex(const struct ledger *l)
{
	return l != NULL ? l->head_hex : "";
}

void
ledger_set_clock(struct ledger *l, time_t (*clock)(void))
{
	if (l != NULL)
		l->clock = clock != NULL ? clock : ledger_clock_default;
}

time_t
ledger_newest_time(const struct ledger *l)
{
	return l != NULL ? l->newest : 0;
}

int
ledger_serial_used(const struct ledger *l, const char *serial_hex)
{
	uint8_t v[20];
	int found;

	if (l == NULL || l->broken)
		return 1;
	if (serial_hex == NULL || serial_to_bin(serial_hex, v) != 0)
		return 0;
	(void)ser_slot(l, v, &found);
	return found;
}

/* Re-read the record at OFF: it must be TYPE and its KEY must be VALUE,
 * else the file changed under the lock. */
static int
record_read_at(struct ledger *l, uint64_t off, int type, const char *key,
	       const char *value, cJSON **out)
{
	struct line_reader rd;
	cJSON *rec = NULL;
	const cJSON *t, *v;
	const char *line;
	uint64_t at;
	size_t len, torn;
	int r;

	*out = NULL;
	if ((r = reader_init(&rd, l->fd, l->end_off)) != 0)
		return r;
	rd.buf_off = off;
	if ((r = reader_next(&rd, &line, &len, &at, &torn)) != 0)
		goto out;
	r = AIRLOCK_E_FORMAT;
	if (line == NULL || (rec = cJSON_ParseWithLength(line, len)) == NULL) {
		err_detail_set("ledger %s: no record at offset %llu", l->path,
			       (unsigned long long)off);
		goto out;
	}
	t = cJSON_GetObjectItemCaseSensitive(rec, "type");
	v = cJSON_GetObjectItemCaseSensitive(rec, key);
	if (!cJSON_IsString(t) ||
	    strcmp(t->valuestring, ledger_type_names[type]) != 0 ||
	    !cJSON_IsString(v) || strcmp(v->valuestring, value) != 0) {
		err_detail_set("ledger %s changed while open: the record at "
			       "offset %llu is not the %s it was",
			       l->path, (unsigned long long)off,
			       ledger_type_names[type]);
		goto out;
	}
	*out = rec;
	rec = NULL;
	r = 0;
out:
	cJSON_Delete(rec);
	reader_free(&rd);
	return r;
}

int
ledger_find_issued(struct ledger *l, const char *request_id, cJSON **record_out)
{
	unsigned char dig[32];
	size_t slot;
	int r, found;

	if (record_out != NULL)
		*record_out = NULL;
	if (l == NULL || request_id == NULL || record_out == NULL)
		return AIRLOCK_E_INVALID_ARG;
	if (l->broken)
		return broken_err(l);
	if ((r = sha256(request_id, strlen(request_id), dig)) != 0)
		return r;
	slot = req_slot(l, dig, &found);
	if (!found)
		return AIRLOCK_E_NOT_FOUND;
	return record_read_at(l, l->req[l->reqt.slots[slot] - 1].issued_off,
			      LT_ISSUED, "request_id", request_id, record_out);
}

int
ledger_recover(struct ledger *l, size_t *n)
{
	cJSON *intent = NULL, *fields = NULL;
	const cJSON *ser, *req;
	uint8_t v[20];
	size_t i;
	int r = AIRLOCK_E_INTERNAL;

	if (n != NULL)
		*n = 0;
	if (l == NULL || n == NULL)
		return AIRLOCK_E_INVALID_ARG;
	if (l->broken)
		return broken_err(l);
	/* Entries are in ledger order; INDOUBT adds none, only closes. */
	for (i = 0; i < l->nser; i++) {
		if (l->ser[i].state != SERIAL_OPEN)
			continue;
		if ((r = record_read_at(l, l->ser[i].intent_off, LT_INTENT,
					"type", "INTENT", &intent)) != 0)
			goto out;
		ser = cJSON_GetObjectItemCaseSensitive(intent, "serial");
		req = cJSON_GetObjectItemCaseSensitive(intent, "request_id");
		if (!cJSON_IsString(ser) || !cJSON_IsString(req) ||
		    serial_to_bin(ser->valuestring, v) != 0 ||
		    memcmp(v, l->ser[i].v, 20) != 0) {
			err_detail_set(
			    "ledger %s changed while open: the "
			    "INTENT at offset %llu is not the one "
			    "read at open",
			    l->path, (unsigned long long)l->ser[i].intent_off);
			r = AIRLOCK_E_FORMAT;
			goto out;
		}
		r = AIRLOCK_E_NOMEM;
		if ((fields = cJSON_CreateObject()) == NULL ||
		    cJSON_AddStringToObject(
			fields, "serial", cJSON_GetStringValue(ser)) == NULL ||
		    cJSON_AddStringToObject(fields, "request_id",
					    cJSON_GetStringValue(req)) == NULL)
			goto out;
		if ((r = ledger_append(l, "INDOUBT", fields, NULL)) != 0)
			goto out;
		(*n)++;
		cJSON_Delete(fields);
		cJSON_Delete(intent);
		fields = intent = NULL;
	}
	r = *n > 0 ? ledger_sync(l) : 0;
out:
	cJSON_Delete(fields);
	cJSON_Delete(intent);
	return r;
}

int
ledger_foreach(struct ledger *l, int (*cb)(void *arg, const cJSON *rec),
	       void *arg)
{
	struct line_reader rd;
	struct rec_meta m;
	cJSON *rec = NULL;
	const char *line;
	char why[LEDGER_WHY];
	unsigned char prev[32];
	unsigned long long seq = 0;
	uint64_t off;
	size_t len, torn;
	int r;

	if (l == NULL || cb == NULL)
		return AIRLOCK_E_INVALID_ARG;
	if (l->broken)
		return broken_err(l);
	if ((r = reader_init(&rd, l->fd, l->end_off)) != 0)
		return r;
	memset(prev, 0, sizeof(prev));
	for (;;) {
		if ((r = reader_next(&rd, &line, &len, &off, &torn)) != 0)
			goto out;
		if (line == NULL)
			break;
		/* Serial rules held at open; the chain is re-checked so a
		 * line changed since then is not handed out. */
		if ((r = record_parse(line, len, seq + 1, prev, &rec, &m, why,
				      sizeof(why))) != 0) {
			err_detail_set("ledger %s changed while open: line "
				       "%llu: %s",
				       l->path, seq + 1, why);
			goto out;
		}
		seq++;
		memcpy(prev, m.digest, 32);
		if ((r = cb(arg, rec)) != 0)
			goto out;
		cJSON_Delete(rec);
		rec = NULL;
	}
	if (torn != 0 || seq != l->count ||
	    CRYPTO_memcmp(prev, l->head, 32) != 0) {
		err_detail_set("ledger %s changed while open: %llu records "
			       "where %llu were",
			       l->path, seq, l->count);
		r = AIRLOCK_E_FORMAT;
		goto out;
	}
	r = 0;
out:
	cJSON_Delete(rec);
	reader_free(&rd);
	return r;
}
