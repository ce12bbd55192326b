/* The issuance ledger (see ledger.h): the file, its lock, the chain across
 * lines, the indexes and the serial rules. One line's format, read and
 * written, is lib/ledger_record.c's.
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
#include "lib/ledger_record.h"

#define LEDGER_READ_BUF	  (256 * 1024) /* > LEDGER_LINE_MAX + 1 */
#define LEDGER_SERIAL_MAX 40 /* hex digits: RFC 5280 4.1.2.2, 20 octets */

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
	char head_hex[65]; /* SHA-256 of the last line */
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
	struct ledger_record_meta rm; /* header and hash of the line */
	const char *serial;
	const char *request_id;
	uint8_t serial_v[20];
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

static int
hex_lower_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
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

static int
type_has_serial(int type)
{
	return type == LEDGER_RECORD_INTENT || type == LEDGER_RECORD_ISSUED ||
	       type == LEDGER_RECORD_ABORTED || type == LEDGER_RECORD_INDOUBT;
}

/* The state a serial is in after a record of TYPE (one that has one). */
static uint8_t
serial_state_after(int type)
{
	switch (type) {
	case LEDGER_RECORD_INTENT:
		return SERIAL_OPEN;
	case LEDGER_RECORD_ISSUED:
		return SERIAL_ISSUED;
	case LEDGER_RECORD_ABORTED:
		return SERIAL_ABORTED;
	default:
		return SERIAL_INDOUBT;
	}
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

	if (m->rm.type == LEDGER_RECORD_INTENT) {
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
	if (m->rm.type == LEDGER_RECORD_ISSUED) {
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

	if (!type_has_serial(m->rm.type))
		return 0;
	slot = ser_slot(l, m->serial_v, &found);
	if (m->rm.type == LEDGER_RECORD_INTENT) {
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
			 ledger_record_type_name(m->rm.type), m->serial);
		return AIRLOCK_E_REFUSED;
	}
	e = &l->ser[l->sert.slots[slot] - 1];
	if (e->state == SERIAL_OPEN)
		return 0;
	snprintf(why, whylen, "%s for serial %s, which is already closed by %s",
		 ledger_record_type_name(m->rm.type), m->serial,
		 e->state == SERIAL_ISSUED    ? "ISSUED"
		 : e->state == SERIAL_ABORTED ? "ABORTED"
					      : "INDOUBT");
	return m->rm.type == LEDGER_RECORD_ISSUED && e->state == SERIAL_ISSUED
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
	memcpy(l->head_hex, m->rm.hash, sizeof(l->head_hex));
	if (m->rm.time > l->newest)
		l->newest = m->rm.time;
	l->end_off = off + len + 1;
	if (type_has_serial(m->rm.type)) {
		slot = ser_slot(l, m->serial_v, &found);
		if (!found) {
			e = &l->ser[l->nser];
			memset(e, 0, sizeof(*e));
			memcpy(e->v, m->serial_v, 20);
			e->intent_off = off;
			l->sert.slots[slot] = (uint32_t)++l->nser;
		}
		e = &l->ser[l->sert.slots[slot] - 1];
		e->state = serial_state_after(m->rm.type);
	}
	if (m->rm.type == LEDGER_RECORD_ISSUED) {
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

/* What the serial rules need from record M's fields: INTENT, ISSUED,
 * ABORTED and INDOUBT carry a canonical "serial"; INTENT and ISSUED a
 * non-empty "request_id". */
static int
serial_fields_check(const cJSON *rec, struct rec_meta *m, char *why,
		    size_t whylen)
{
	const cJSON *c;
	int type = m->rm.type;

	c = cJSON_GetObjectItemCaseSensitive(rec, "serial");
	if (cJSON_IsString(c))
		m->serial = c->valuestring;
	c = cJSON_GetObjectItemCaseSensitive(rec, "request_id");
	if (cJSON_IsString(c))
		m->request_id = c->valuestring;
	if (type_has_serial(type) &&
	    (m->serial == NULL || serial_to_bin(m->serial, m->serial_v) != 0)) {
		snprintf(why, whylen,
			 "%s needs \"serial\" as lowercase hex without leading "
			 "zeros, at most %d digits",
			 ledger_record_type_name(type), LEDGER_SERIAL_MAX);
		return AIRLOCK_E_FORMAT;
	}
	if ((type == LEDGER_RECORD_INTENT || type == LEDGER_RECORD_ISSUED) &&
	    (m->request_id == NULL || m->request_id[0] == '\0')) {
		snprintf(why, whylen, "%s needs a non-empty \"request_id\"",
			 ledger_record_type_name(type));
		return AIRLOCK_E_FORMAT;
	}
	return 0;
}

/* Parse and check one line (without its newline) as record WANT_SEQ whose
 * predecessor hashes to PREV_HEX: the line format (lib/ledger_record.h),
 * then the fields the serial rules read. On success *OUT is the record and
 * M describes it; otherwise WHY says what is wrong. */
static int
record_parse(const char *line, size_t len, unsigned long long want_seq,
	     const char *prev_hex, cJSON **out, struct rec_meta *m, char *why,
	     size_t whylen)
{
	cJSON *rec = NULL;
	int r = AIRLOCK_E_INTERNAL;

	*out = NULL;
	memset(m, 0, sizeof(*m));
	if ((r = ledger_record_parse(line, len, want_seq, prev_hex, &rec,
				     &m->rm, why, whylen)) != 0 ||
	    (r = serial_fields_check(rec, m, why, whylen)) != 0)
		goto out;
	if (m->rm.type == LEDGER_RECORD_ISSUED &&
	    (r = sha256(m->request_id, strlen(m->request_id), m->req_dig)) != 0)
		goto out;
	*out = rec;
	rec = NULL;
	r = 0;
out:
	cJSON_Delete(rec);
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
	char why[LEDGER_RECORD_WHY];
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
		r = record_parse(line, len, l->count + 1, l->head_hex, &rec, &m,
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
	memcpy(l->head_hex, LEDGER_RECORD_PREV_FIRST, sizeof(l->head_hex));
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

static int
clock_check(const struct ledger *l, char when[21])
{
	char newest[21] = "?";
	time_t now = l->clock();

	if (ledger_record_time_format(now, when) != 0) {
		err_detail_set("the system clock (%lld) is outside 1970..9999; "
			       "fix the clock before signing",
			       (long long)now);
		return AIRLOCK_E_REFUSED;
	}
	if (now < l->newest) {
		if (ledger_record_time_format(l->newest, newest) != 0)
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
	char *line = NULL, *grown, when[21], why[LEDGER_RECORD_WHY];
	size_t len;
	int r = AIRLOCK_E_INTERNAL, t;

	if (seq_out != NULL)
		*seq_out = 0;
	if (l == NULL || type == NULL ||
	    (fields != NULL && !cJSON_IsObject(fields)))
		return AIRLOCK_E_INVALID_ARG;
	if (l->broken)
		return broken_err(l);
	if (ledger_record_type_lookup(type, &t) != 0) {
		err_detail_set("ledger append: unknown record type \"%.32s\"",
			       type);
		return AIRLOCK_E_INVALID_ARG;
	}
	if ((r = clock_check(l, when)) != 0)
		return r;
	if ((r = ledger_record_format(l->count + 1, l->head_hex, when, t,
				      fields, &line, why, sizeof(why))) != 0) {
		if (why[0] != '\0')
			err_detail_set("ledger append: %s", why);
		goto out;
	}
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
	r = record_parse(line, len, l->count + 1, l->head_hex, &rec, &m, why,
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
		int e = errno;
		/* Take back what part of the record reached the file (ENOSPC
		 * halfway through a line): the ledger stays whole on disk.
		 * The handle is unusable all the same. */
		if (ftruncate(l->fd, (off_t)l->end_off) == 0)
			(void)fsync(l->fd);
		err_detail_set("ledger %s: writing record %llu: %s; this "
			       "handle is now unusable",
			       l->path, l->count + 1, strerror(e));
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
	    strcmp(t->valuestring, ledger_record_type_name(type)) != 0 ||
	    !cJSON_IsString(v) || strcmp(v->valuestring, value) != 0) {
		err_detail_set("ledger %s changed while open: the record at "
			       "offset %llu is not the %s it was",
			       l->path, (unsigned long long)off,
			       ledger_record_type_name(type));
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
			      LEDGER_RECORD_ISSUED, "request_id", request_id,
			      record_out);
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
		if ((r = record_read_at(l, l->ser[i].intent_off,
					LEDGER_RECORD_INTENT, "type", "INTENT",
					&intent)) != 0)
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
	char why[LEDGER_RECORD_WHY];
	char prev[65] = LEDGER_RECORD_PREV_FIRST;
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
		memcpy(prev, m.rm.hash, sizeof(prev));
		if ((r = cb(arg, rec)) != 0)
			goto out;
		cJSON_Delete(rec);
		rec = NULL;
	}
	if (torn != 0 || seq != l->count ||
	    CRYPTO_memcmp(prev, l->head_hex, 64) != 0) {
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
