/* The online replica of the station's ledger: see kv/replica.h. Each line
 * is read by the station's own line reader (lib/ledger_record.c): canonical
 * cJSON bytes, {"seq","prev","time","type",...} in that order, seq
 * contiguous, prev the SHA-256 of the line before. */
#include "kv/replica.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "lib/bundle.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/ledger_record.h"
#include "lib/safefile.h"
#include "lib/term.h"

#define REPLICA_LOCK "ledger-replica.lock"
#define REPLICA_MAX  (256u << 20) /* as the station reads its ledger */

/* One line of a ledger held in memory. */
struct rline {
	size_t off, len; /* without the newline */
	unsigned long long seq;
	char hash[65]; /* SHA-256 of the line, hex */
	char prev[65];
	int checkpoint;
};

struct lines {
	struct rline *v;
	size_t n, cap;
};

/* ---- one line ---- */

/* Check LINE[0..LEN) (no newline) as record WANT_SEQ (0: any); PREV_WANT is
 * the hex hash of the line before, or NULL to take any prev (the first line
 * of a slice, checked by the caller). The line format is the station's
 * (lib/ledger_record.h); a CHECKPOINT must also name the ledger before it.
 * Fills L (but not L->off). WHY on error. */
static int
line_check(const char *line, size_t len, unsigned long long want_seq,
	   const char *prev_want, struct rline *l, char *why, size_t whylen)
{
	struct ledger_record_meta meta;
	const cJSON *sz, *hd;
	cJSON *rec = NULL;
	int r = AIRLOCK_E_INTERNAL;

	r = ledger_record_parse(line, len, want_seq, prev_want, &rec, &meta,
				why, whylen);
	if (r == AIRLOCK_E_FORMAT || r == AIRLOCK_E_TOO_LARGE)
		r = AIRLOCK_E_POLICY;
	if (r != 0)
		goto out;
	l->seq = meta.seq;
	memcpy(l->prev, meta.prev, sizeof(l->prev));
	memcpy(l->hash, meta.hash, sizeof(l->hash));
	l->checkpoint = meta.type == LEDGER_RECORD_CHECKPOINT;
	/* a CHECKPOINT names the ledger it closes: its size and head */
	if (l->checkpoint) {
		sz = cJSON_GetObjectItemCaseSensitive(rec, "ledger_size");
		hd = cJSON_GetObjectItemCaseSensitive(rec, "ledger_head");
		if (!cJSON_IsNumber(sz) ||
		    sz->valuedouble != (double)(l->seq - 1) ||
		    !cJSON_IsString(hd) ||
		    strcmp(hd->valuestring, l->prev) != 0) {
			snprintf(why, whylen,
				 "CHECKPOINT does not name the ledger before "
				 "it (ledger_size, ledger_head)");
			r = AIRLOCK_E_POLICY;
			goto out;
		}
	}
	r = 0;
out:
	cJSON_Delete(rec);
	return r;
}

/* Split BUF[0..LEN) into lines and check the chain from its first line
 * (whose seq and prev are taken as they are, but seq 1 needs prev 0...0).
 * WHAT names BUF in messages. */
static int
lines_parse(const char *what, const char *buf, size_t len, struct lines *ls)
{
	char why[LEDGER_RECORD_WHY];
	size_t pos = 0, nl;
	const char *p;
	struct rline l, *nv;
	int r;

	while (pos < len) {
		if ((p = memchr(buf + pos, '\n', len - pos)) == NULL) {
			err_detail_set("%s: the last line has no newline (torn "
				       "or cut short)",
				       what);
			return AIRLOCK_E_POLICY;
		}
		nl = (size_t)(p - buf);
		memset(&l, 0, sizeof(l));
		l.off = pos;
		l.len = nl - pos;
		r = line_check(
		    buf + pos, l.len, ls->n ? ls->v[ls->n - 1].seq + 1 : 0,
		    ls->n ? ls->v[ls->n - 1].hash : NULL, &l, why, sizeof(why));
		if (r != 0) {
			if (r == AIRLOCK_E_POLICY)
				err_detail_set("%s line %zu: %s", what,
					       ls->n + 1, why);
			return r;
		}
		if (ls->n == ls->cap) {
			size_t ncap = ls->cap ? ls->cap * 2 : 64;
			if ((nv = realloc(ls->v, ncap * sizeof(*nv))) == NULL)
				return AIRLOCK_E_NOMEM;
			ls->v = nv;
			ls->cap = ncap;
		}
		ls->v[ls->n++] = l;
		pos = nl + 1;
	}
	return 0;
}

/* ---- the bundle's side ---- */

struct checkpoint {
	unsigned long long seq, from_seq;
	char head[65];
	char station[65];
};

static int
checkpoint_parse(const unsigned char *data, size_t len, struct checkpoint *cp)
{
	static const char *const req[] = {"seq", "head", "from_seq", "station",
					  NULL};
	const char *head = NULL, *st = NULL;
	long long seq = 0, from = 0;
	cJSON *j = NULL;
	int r;

	if ((r = json_parse_strict(data, len, 4, &j)) != 0 ||
	    (r = json_check_keys(j, "checkpoint.json", req, NULL)) != 0 ||
	    (r = json_get_int(j, "seq", "checkpoint.json", 1,
			      (long long)LEDGER_RECORD_SEQ_MAX - 1, &seq)) !=
		0 ||
	    (r = json_get_int(j, "from_seq", "checkpoint.json", 1,
			      (long long)LEDGER_RECORD_SEQ_MAX - 1, &from)) !=
		0 ||
	    (r = json_get_str(j, "head", "checkpoint.json", 64, &head)) != 0 ||
	    (r = json_get_str(j, "station", "checkpoint.json", 64, &st)) != 0)
		goto out;
	if (!ledger_record_hash_ok(head)) {
		err_detail_set("checkpoint.json: head is not 64 lowercase hex "
			       "digits");
		r = AIRLOCK_E_FORMAT;
		goto out;
	}
	cp->seq = (unsigned long long)seq;
	cp->from_seq = (unsigned long long)from;
	memcpy(cp->head, head, 65);
	snprintf(cp->station, sizeof(cp->station), "%s", st);
	r = 0;
out:
	cJSON_Delete(j);
	return r;
}

unsigned long long
replica_bundle_from_seq(const struct bundle *b)
{
	const unsigned char *data;
	const char *fname;
	struct checkpoint cp;
	size_t len;

	if (bundle_file_count(b, BUNDLE_ROLE_CHECKPOINT) != 1 ||
	    bundle_file_data(b, BUNDLE_ROLE_CHECKPOINT, 0, &data, &len,
			     &fname) != 0 ||
	    checkpoint_parse(data, len, &cp) != 0) {
		err_detail_clear();
		return 0;
	}
	return cp.from_seq;
}

/* ---- the replica's side ---- */

static int
head_parse(const unsigned char *data, size_t len, unsigned long long *first,
	   unsigned long long *seq, char head[65], char station[65])
{
	static const char *const req[] = {"first_seq", "seq", "head", "station",
					  NULL};
	const char *h = NULL, *st = NULL;
	long long f = 0, s = 0;
	cJSON *j = NULL;
	int r;

	if ((r = json_parse_strict(data, len, 4, &j)) != 0 ||
	    (r = json_check_keys(j, REPLICA_HEAD, req, NULL)) != 0 ||
	    (r = json_get_int(j, "first_seq", REPLICA_HEAD, 1,
			      (long long)LEDGER_RECORD_SEQ_MAX - 1, &f)) != 0 ||
	    (r = json_get_int(j, "seq", REPLICA_HEAD, 1,
			      (long long)LEDGER_RECORD_SEQ_MAX - 1, &s)) != 0 ||
	    (r = json_get_str(j, "head", REPLICA_HEAD, 64, &h)) != 0 ||
	    (r = json_get_str(j, "station", REPLICA_HEAD, 64, &st)) != 0)
		goto out;
	if (!ledger_record_hash_ok(h)) {
		err_detail_set("%s: head is not 64 hex digits", REPLICA_HEAD);
		r = AIRLOCK_E_FORMAT;
		goto out;
	}
	*first = (unsigned long long)f;
	*seq = (unsigned long long)s;
	memcpy(head, h, 65);
	snprintf(station, 65, "%s", st);
	r = 0;
out:
	cJSON_Delete(j);
	return r;
}

int
replica_head_get(const char *statedir, unsigned long long *first_seq,
		 unsigned long long *seq, char head[65], char station[65])
{
	unsigned char *data = NULL;
	size_t len = 0;
	int dirfd = -1, r;

	if ((r = safefile_dir_open(statedir, &dirfd)) != 0)
		return r;
	r = safefile_read_beneath(dirfd, REPLICA_HEAD, 4096, &data, &len);
	close(dirfd);
	if (r != 0)
		return r;
	r = head_parse(data, len, first_seq, seq, head, station);
	free(data);
	return r;
}

static int
head_write(int dirfd, const struct lines *ls, const char *station)
{
	char buf[512];
	cJSON *j;
	char *s;
	int r;

	if ((j = cJSON_CreateObject()) == NULL)
		return AIRLOCK_E_NOMEM;
	cJSON_AddNumberToObject(j, "first_seq", (double)ls->v[0].seq);
	cJSON_AddNumberToObject(j, "seq", (double)ls->v[ls->n - 1].seq);
	cJSON_AddStringToObject(j, "head", ls->v[ls->n - 1].hash);
	cJSON_AddStringToObject(j, "station", station);
	s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	if (s == NULL)
		return AIRLOCK_E_NOMEM;
	snprintf(buf, sizeof(buf), "%s\n", s);
	cJSON_free(s);
	r = safefile_write_atomic(dirfd, REPLICA_HEAD, buf, strlen(buf), 0600,
				  SAFEFILE_REPLACE);
	return r;
}

const char *
replica_describe(const struct replica_result *res, char *buf, size_t len)
{
	if (res->already)
		snprintf(buf, len,
			 "ledger: records %llu..%llu (checkpoint %.16s) "
			 "already in the replica; nothing appended",
			 res->from_seq, res->seq, res->head);
	else if (res->first_contact)
		snprintf(buf, len,
			 "ledger: first contact: the replica starts at record "
			 "%llu of station %s (records before it were never "
			 "seen here and cannot be checked); %llu records "
			 "witnessed up to checkpoint %llu (%.16s)",
			 res->first_seq, res->station, res->appended, res->seq,
			 res->head);
	else
		snprintf(buf, len,
			 "ledger: records %llu..%llu witnessed (%llu new), the "
			 "replica now ends at checkpoint %llu (%.16s)",
			 res->from_seq, res->seq, res->appended, res->seq,
			 res->head);
	return buf;
}

/* The common ending of the refusals that mean the station's ledger is not
 * the one this host witnessed. */
#define ROLLBACK_HINT                                                          \
	"the station's ledger was rolled back or edited (or this bundle "      \
	"comes from a station restored from a backup): stop signing, run "     \
	"`airlock-station ledger verify` there and compare with the "          \
	"replica; `airlock-station ledger restore` rebuilds a station ledger " \
	"from it"

int
replica_witness(const char *statedir, const struct bundle *b,
		struct replica_result *res)
{
	struct lines sl = {0}, rl = {0};
	struct checkpoint cp;
	const unsigned char *slice = NULL, *cpdata = NULL;
	unsigned char *rbuf = NULL, *hbuf = NULL, *nbuf = NULL;
	const char *fname;
	char hstation[65] = "", hhead[65] = "", safe[65];
	unsigned long long hfirst = 0, hseq = 0, rfirst, rlast;
	size_t slen = 0, cplen = 0, rlen = 0, hlen = 0, i, k, nlen;
	int dirfd = -1, lockfd = -1, r;

	memset(res, 0, sizeof(*res));
	if (bundle_file_count(b, BUNDLE_ROLE_LEDGER) == 0 &&
	    bundle_file_count(b, BUNDLE_ROLE_CHECKPOINT) == 0) {
		err_detail_set("bundle %s carries no ledger slice and no "
			       "checkpoint",
			       bundle_id(b));
		return AIRLOCK_E_NOT_FOUND;
	}
	if (bundle_file_count(b, BUNDLE_ROLE_LEDGER) != 1 ||
	    bundle_file_count(b, BUNDLE_ROLE_CHECKPOINT) != 1) {
		err_detail_set("bundle %s must carry exactly one ledger slice "
			       "and one checkpoint",
			       bundle_id(b));
		return AIRLOCK_E_POLICY;
	}
	if ((r = bundle_file_data(b, BUNDLE_ROLE_LEDGER, 0, &slice, &slen,
				  &fname)) != 0 ||
	    (r = bundle_file_data(b, BUNDLE_ROLE_CHECKPOINT, 0, &cpdata, &cplen,
				  &fname)) != 0)
		return r;
	if ((r = checkpoint_parse(cpdata, cplen, &cp)) != 0)
		return r == AIRLOCK_E_NOMEM ? r : AIRLOCK_E_POLICY;
	res->from_seq = cp.from_seq;
	res->seq = cp.seq;
	memcpy(res->head, cp.head, 65);
	term_sanitize(cp.station, res->station, sizeof(res->station));

	/* the slice on its own: a chain from FROM_SEQ ending in the
	 * CHECKPOINT that checkpoint.json names */
	if ((r = lines_parse("the bundle's ledger.jsonl", (const char *)slice,
			     slen, &sl)) != 0)
		goto out;
	r = AIRLOCK_E_POLICY;
	if (sl.n == 0) {
		err_detail_set("the bundle's ledger slice is empty");
		goto out;
	}
	if (sl.v[0].seq != cp.from_seq || sl.v[sl.n - 1].seq != cp.seq ||
	    strcmp(sl.v[sl.n - 1].hash, cp.head) != 0) {
		err_detail_set("checkpoint.json (records %llu..%llu, head "
			       "%.16s) does not describe the ledger slice "
			       "(records %llu..%llu, head %.16s)",
			       cp.from_seq, cp.seq, cp.head, sl.v[0].seq,
			       sl.v[sl.n - 1].seq, sl.v[sl.n - 1].hash);
		goto out;
	}
	if (!sl.v[sl.n - 1].checkpoint) {
		err_detail_set("the ledger slice does not end in a CHECKPOINT "
			       "record");
		goto out;
	}

	/* the replica, under its lock, verified whole */
	if ((r = safefile_dir_open(statedir, &dirfd)) != 0)
		goto out;
	if ((lockfd = openat(dirfd, REPLICA_LOCK,
			     O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) <
	    0) {
		err_detail_set("%s/%s: %s", statedir, REPLICA_LOCK,
			       strerror(errno));
		r = AIRLOCK_E_IO;
		goto out;
	}
	while (flock(lockfd, LOCK_EX) != 0) {
		if (errno == EINTR)
			continue;
		err_detail_set("locking %s/%s: %s", statedir, REPLICA_LOCK,
			       strerror(errno));
		r = AIRLOCK_E_IO;
		goto out;
	}
	r = safefile_read_beneath(dirfd, REPLICA_FILE, REPLICA_MAX, &rbuf,
				  &rlen);
	if (r == AIRLOCK_E_NOT_FOUND) {
		err_detail_clear();
		rlen = 0;
	} else if (r != 0)
		goto out;
	if ((r = lines_parse("the local " REPLICA_FILE, (const char *)rbuf,
			     rlen, &rl)) != 0) {
		if (r == AIRLOCK_E_POLICY) {
			char d[512];
			snprintf(d, sizeof(d), "%s", err_detail_get());
			err_detail_set("%s: the replica on this host does not "
				       "verify; refusing to witness anything "
				       "until it is repaired",
				       d);
		}
		goto out;
	}
	r = safefile_read_beneath(dirfd, REPLICA_HEAD, 4096, &hbuf, &hlen);
	if (r == 0)
		r = head_parse(hbuf, hlen, &hfirst, &hseq, hhead, hstation);
	if (r == AIRLOCK_E_NOT_FOUND) {
		err_detail_clear();
		hseq = 0;
	} else if (r != 0)
		goto out;
	r = AIRLOCK_E_POLICY;
	if (hseq != 0) {
		/* the replica must still hold what the head file says it
		 * held: a replica cut short or swapped is no witness */
		if (rl.n == 0 || rl.v[0].seq != hfirst || hseq < hfirst ||
		    rl.v[rl.n - 1].seq < hseq ||
		    strcmp(rl.v[hseq - hfirst].hash, hhead) != 0) {
			err_detail_set("the local replica %s/%s no longer "
				       "holds records %llu..%llu (head %.16s) "
				       "that %s records: it was truncated or "
				       "replaced on this host",
				       statedir, REPLICA_FILE, hfirst, hseq,
				       hhead, REPLICA_HEAD);
			goto out;
		}
		if (strcmp(hstation, cp.station) != 0) {
			err_detail_set(
			    "the bundle comes from station '%s'; "
			    "this replica witnesses station '%s' "
			    "(use another --state for another "
			    "station)",
			    res->station,
			    term_sanitize(hstation, safe, sizeof(safe)));
			goto out;
		}
	}
	res->before = rl.n;
	res->first_seq = rl.n ? rl.v[0].seq : cp.from_seq;

	if (rl.n == 0) {
		/* seq 1 has prev 0...0 (checked per line); later: first
		 * contact */
		res->first_contact = cp.from_seq > 1;
		k = 0;
	} else {
		rfirst = rl.v[0].seq;
		rlast = rl.v[rl.n - 1].seq;
		if (cp.from_seq > rlast + 1) {
			err_detail_set("the bundle's ledger slice starts at "
				       "record %llu but the replica ends at "
				       "record %llu: records %llu..%llu were "
				       "never witnessed. Witness the bundles "
				       "carrying them first (airlock-kv "
				       "witness DIR... sorts bundles into "
				       "export order)",
				       cp.from_seq, rlast, rlast + 1,
				       cp.from_seq - 1);
			goto out;
		}
		if (cp.from_seq < rfirst) {
			err_detail_set("the bundle's ledger slice starts at "
				       "record %llu, before the replica's "
				       "first record %llu: it cannot be "
				       "checked",
				       cp.from_seq, rfirst);
			goto out;
		}
		/* the part the replica holds must be the same bytes */
		for (k = 0; k < sl.n && sl.v[k].seq <= rlast; k++) {
			const struct rline *a = &sl.v[k],
					   *c = &rl.v[a->seq - rfirst];
			if (a->len != c->len ||
			    memcmp(slice + a->off, rbuf + c->off, a->len) !=
				0) {
				err_detail_set(
				    "record %llu in the bundle (checkpoint "
				    "%llu, head %.16s) differs from record "
				    "%llu witnessed before (replica head "
				    "%llu, %.16s): " ROLLBACK_HINT,
				    a->seq, cp.seq, cp.head, c->seq, rlast,
				    rl.v[rl.n - 1].hash);
				goto out;
			}
		}
		if (k == sl.n) {
			res->already = 1;
			r = 0;
			goto out;
		}
		/* the first new line must chain onto the replica's head */
		if (strcmp(sl.v[k].prev, rl.v[rl.n - 1].hash) != 0) {
			err_detail_set(
			    "record %llu in the bundle does not follow the "
			    "replica's head (record %llu, %.16s): its prev "
			    "is %.16s: " ROLLBACK_HINT,
			    sl.v[k].seq, rlast, rl.v[rl.n - 1].hash,
			    sl.v[k].prev);
			goto out;
		}
	}

	/* append records K.. of the slice: a new replica written, fsynced
	 * and renamed over the old one */
	nlen = rlen;
	for (i = k; i < sl.n; i++)
		nlen += sl.v[i].len + 1;
	if ((nbuf = malloc(nlen ? nlen : 1)) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	if (rlen)
		memcpy(nbuf, rbuf, rlen);
	memcpy(nbuf + rlen, slice + sl.v[k].off, nlen - rlen);
	if ((r = safefile_write_atomic(dirfd, REPLICA_FILE, nbuf, nlen, 0600,
				       SAFEFILE_REPLACE)) != 0)
		goto out;
	/* the head file follows the replica (a crash in between leaves the
	 * old head, which the longer replica still holds) */
	for (i = k; i < sl.n; i++) {
		struct rline l = sl.v[i];
		if (rl.n == rl.cap) {
			size_t ncap = rl.cap ? rl.cap * 2 : 64;
			struct rline *nv = realloc(rl.v, ncap * sizeof(*nv));
			if (nv == NULL) {
				r = AIRLOCK_E_NOMEM;
				goto out;
			}
			rl.v = nv;
			rl.cap = ncap;
		}
		rl.v[rl.n++] = l;
	}
	if ((r = head_write(dirfd, &rl, cp.station)) != 0)
		goto out;
	res->appended = sl.n - k;
	res->first_seq = rl.v[0].seq;
	r = 0;
out:
	if (lockfd >= 0)
		close(lockfd);
	if (dirfd >= 0)
		close(dirfd);
	free(nbuf);
	free(rbuf);
	free(hbuf);
	free(sl.v);
	free(rl.v);
	return r;
}
