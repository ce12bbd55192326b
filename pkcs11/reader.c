/* Smartcard readers through pcsc-lite (PC/SC: SCardListReaders,
 * SCardGetStatusChange). */
#include "pkcs11/reader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <winscard.h>

#include "lib/err.h"

/* pcsc-lite serves at most 16 readers; anything beyond this is garbage. */
#define READER_MAX 64
/* The pseudo reader whose state changes when a reader is plugged or
 * unplugged (PC/SC part 5; pcsc-lite's SCardGetStatusChange). */
#define READER_PNP "\\\\?PnP?\\Notification"
#define READER_STATE_GONE                                                      \
	(SCARD_STATE_UNKNOWN | SCARD_STATE_UNAVAILABLE | SCARD_STATE_IGNORE)

struct reader_entry {
	char *name;
	DWORD state;
	char atr_hex[2 * MAX_ATR_SIZE + 1];
};

struct reader_list {
	struct reader_entry *v;
	size_t n;
};

/* Translate a PC/SC error, keeping its name in the detail. */
static int
reader_pcsc_error(LONG rv, const char *what)
{
	const char *sock = getenv("PCSCLITE_CSOCK_NAME");

	switch (rv) {
	case SCARD_E_NO_SERVICE:
	case SCARD_E_SERVICE_STOPPED:
		err_detail_set("%s: %s No pcscd answers on %s: start it with "
			       "`systemctl start pcscd.socket` (or `pcscd -f` "
			       "to watch it)",
			       what, pcsc_stringify_error(rv),
			       sock != NULL ? sock : "/run/pcscd/pcscd.comm");
		return AIRLOCK_E_PCSC_NO_SERVICE;
	case SCARD_E_NO_READERS_AVAILABLE:
		err_detail_set(
		    "%s: pcscd sees no reader: plug one in, or check "
		    "that its driver is installed (`pcscd -f -d` shows why a "
		    "reader is ignored)",
		    what);
		return AIRLOCK_E_PCSC_NO_READER;
	case SCARD_E_UNKNOWN_READER:
		err_detail_set("%s: %s The reader was unplugged: plug it in "
			       "again",
			       what, pcsc_stringify_error(rv));
		return AIRLOCK_E_PCSC_NO_READER;
	case SCARD_E_NO_MEMORY:
		err_detail_set("%s: %s", what, pcsc_stringify_error(rv));
		return AIRLOCK_E_NOMEM;
	case SCARD_E_TIMEOUT:
		err_detail_set("%s: %s", what, pcsc_stringify_error(rv));
		return AIRLOCK_E_TIMEOUT;
	default:
		err_detail_set("%s: %s (0x%08lX)", what,
			       pcsc_stringify_error(rv), (unsigned long)rv);
		return AIRLOCK_E_PCSC;
	}
}

static int
reader_context_open(SCARDCONTEXT *ctx)
{
	LONG rv;

	rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, ctx);
	if (rv != SCARD_S_SUCCESS)
		return reader_pcsc_error(rv, "SCardEstablishContext");
	return 0;
}

static void
reader_names_free(char **names, size_t n)
{
	size_t i;

	if (names == NULL)
		return;
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Split a PC/SC multi-string ("a\0b\0\0") of LEN bytes into an array. */
static int
reader_names_split(const char *msz, size_t len, char ***out, size_t *n_out)
{
	int r = AIRLOCK_E_INTERNAL;
	char **names = NULL;
	size_t n = 0, l;
	const char *p = msz, *end = msz + len;

	*out = NULL;
	*n_out = 0;
	if ((names = calloc(READER_MAX, sizeof(*names))) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	while (p < end && *p != '\0') {
		l = strnlen(p, (size_t)(end - p));
		if (l == (size_t)(end - p) || n == READER_MAX) {
			err_detail_set("SCardListReaders: malformed or "
				       "oversized reader list from pcscd");
			r = AIRLOCK_E_PCSC;
			goto out;
		}
		if ((names[n] = strdup(p)) == NULL) {
			r = AIRLOCK_E_NOMEM;
			goto out;
		}
		n++;
		p += l + 1;
	}
	if (n == 0) {
		r = reader_pcsc_error(SCARD_E_NO_READERS_AVAILABLE,
				      "SCardListReaders");
		goto out;
	}
	*out = names;
	*n_out = n;
	names = NULL;
	r = 0;
out:
	reader_names_free(names, n);
	return r;
}

/* The names of every reader pcscd knows; AIRLOCK_E_PCSC_NO_READER if none. */
static int
reader_names_get(SCARDCONTEXT ctx, char ***out, size_t *n_out)
{
	int r = AIRLOCK_E_INTERNAL;
	char *msz = NULL;
	DWORD len = SCARD_AUTOALLOCATE;
	LONG rv;

	*out = NULL;
	*n_out = 0;
	rv = SCardListReaders(ctx, NULL, (LPSTR)&msz, &len);
	if (rv != SCARD_S_SUCCESS) {
		msz = NULL;
		r = reader_pcsc_error(rv, "SCardListReaders");
		goto out;
	}
	if ((r = reader_names_split(msz, len, out, n_out)) != 0)
		goto out;
	r = 0;
out:
	if (msz != NULL)
		SCardFreeMemory(ctx, msz);
	return r;
}

/* "'a', 'b'" into BUF (truncated with "..." if it does not fit). */
static void
reader_names_join(char *buf, size_t size, char **names, size_t n)
{
	size_t i, off = 0;
	int k;

	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		k = snprintf(buf + off, size - off, "%s'%s'", i ? ", " : "",
			     names[i]);
		if (k < 0 || (size_t)k >= size - off) {
			if (size > 4)
				memcpy(buf + size - 4, "...", 4);
			return;
		}
		off += (size_t)k;
	}
}

/* Index of the reader called WANT: an exact name, or else a prefix that
 * matches exactly one reader. */
static int
reader_names_find(char **names, size_t n, const char *want, size_t *idx)
{
	char list[768];
	size_t i, hits = 0, len = strlen(want);

	for (i = 0; i < n; i++) {
		if (strcmp(names[i], want) == 0) {
			*idx = i;
			return 0;
		}
	}
	for (i = 0; i < n; i++) {
		if (len > 0 && strncmp(names[i], want, len) == 0) {
			*idx = i;
			hits++;
		}
	}
	if (hits == 1)
		return 0;
	reader_names_join(list, sizeof(list), names, n);
	if (hits > 1)
		err_detail_set("'%s' matches more than one reader; give the "
			       "full name of one of: %s",
			       want, list);
	else
		err_detail_set("no reader named '%s'; readers present: %s",
			       want, list);
	return AIRLOCK_E_PCSC_NO_READER;
}

static const char *
reader_state_str(DWORD s)
{
	if (s & READER_STATE_GONE)
		return "unavailable";
	if (s & SCARD_STATE_MUTE)
		return "mute";
	if (s & SCARD_STATE_PRESENT)
		return (s & (SCARD_STATE_INUSE | SCARD_STATE_EXCLUSIVE))
			   ? "in use"
			   : "present";
	return "empty";
}

static int
reader_state_present(DWORD s)
{
	return (s & READER_STATE_GONE) == 0 && (s & SCARD_STATE_PRESENT) != 0;
}

static void
reader_atr_hex(char *out, size_t size, const unsigned char *atr, DWORD len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;

	out[0] = '\0';
	if (len > MAX_ATR_SIZE || size < 2 * (size_t)len + 1)
		return;
	for (i = 0; i < len; i++) {
		out[2 * i] = hex[atr[i] >> 4];
		out[2 * i + 1] = hex[atr[i] & 0x0f];
	}
	out[2 * (size_t)len] = '\0';
}

int
reader_list_get(struct reader_list **out)
{
	int r = AIRLOCK_E_INTERNAL, have_ctx = 0;
	SCARDCONTEXT ctx = 0;
	SCARD_READERSTATE *rs = NULL;
	struct reader_list *rl = NULL;
	char **names = NULL;
	size_t n = 0, i;
	LONG rv;

	if (out == NULL) {
		err_detail_set("reader_list_get: no output pointer");
		return AIRLOCK_E_INVALID_ARG;
	}
	*out = NULL;
	if ((r = reader_context_open(&ctx)) != 0)
		goto out;
	have_ctx = 1;
	if ((r = reader_names_get(ctx, &names, &n)) != 0)
		goto out;
	if ((rs = calloc(n, sizeof(*rs))) == NULL ||
	    (rl = calloc(1, sizeof(*rl))) == NULL ||
	    (rl->v = calloc(n, sizeof(*rl->v))) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	rl->n = n;
	for (i = 0; i < n; i++) {
		rs[i].szReader = names[i];
		rs[i].dwCurrentState = SCARD_STATE_UNAWARE;
	}
	/* UNAWARE with no timeout: report the current state at once. */
	rv = SCardGetStatusChange(ctx, 0, rs, (DWORD)n);
	if (rv != SCARD_S_SUCCESS) {
		r = reader_pcsc_error(rv, "SCardGetStatusChange");
		goto out;
	}
	for (i = 0; i < n; i++) {
		rl->v[i].name = names[i];
		names[i] = NULL;
		rl->v[i].state = rs[i].dwEventState;
		if (reader_state_present(rs[i].dwEventState))
			reader_atr_hex(rl->v[i].atr_hex,
				       sizeof(rl->v[i].atr_hex), rs[i].rgbAtr,
				       rs[i].cbAtr);
	}
	*out = rl;
	rl = NULL;
	r = 0;
out:
	reader_list_free(rl);
	reader_names_free(names, n);
	free(rs);
	if (have_ctx)
		SCardReleaseContext(ctx);
	return r;
}

size_t
reader_list_count(const struct reader_list *rl)
{
	return rl != NULL ? rl->n : 0;
}

const char *
reader_list_name(const struct reader_list *rl, size_t i)
{
	return rl != NULL && i < rl->n ? rl->v[i].name : NULL;
}

int
reader_list_card_present(const struct reader_list *rl, size_t i)
{
	return rl != NULL && i < rl->n && reader_state_present(rl->v[i].state);
}

const char *
reader_list_state(const struct reader_list *rl, size_t i)
{
	return rl != NULL && i < rl->n ? reader_state_str(rl->v[i].state)
				       : NULL;
}

const char *
reader_list_atr_hex(const struct reader_list *rl, size_t i)
{
	return rl != NULL && i < rl->n ? rl->v[i].atr_hex : NULL;
}

void
reader_list_free(struct reader_list *rl)
{
	size_t i;

	if (rl == NULL)
		return;
	for (i = 0; i < rl->n && rl->v != NULL; i++)
		free(rl->v[i].name);
	free(rl->v);
	free(rl);
}

static long
reader_elapsed_ms(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(now.tv_sec - start->tv_sec) * 1000 +
	       (now.tv_nsec - start->tv_nsec) / 1000000;
}

static void
reader_timeout_detail(const char *reader, long timeout_ms, int want_present)
{
	char when[64];

	if (timeout_ms % 1000 == 0)
		snprintf(when, sizeof(when), "%ld s", timeout_ms / 1000);
	else
		snprintf(when, sizeof(when), "%ld ms", timeout_ms);
	if (want_present && reader != NULL)
		err_detail_set("no card appeared in reader '%s' within %s",
			       reader, when);
	else if (want_present)
		err_detail_set("no card appeared in any reader within %s",
			       when);
	else if (reader != NULL)
		err_detail_set("the card was not removed from reader '%s' "
			       "within %s",
			       reader, when);
	else
		err_detail_set("a card was still present within %s; remove "
			       "every card",
			       when);
}

/*
 * The state array to watch: the named reader alone, or every reader plus the
 * PnP pseudo reader so that readers plugged in while waiting are seen. Each
 * entry starts UNAWARE, so the first SCardGetStatusChange reports the
 * current state.
 */
static int
reader_watch_build(SCARDCONTEXT ctx, const char *reader, char ***names,
		   size_t *n, SCARD_READERSTATE **rs, size_t *nrs)
{
	int r = AIRLOCK_E_INTERNAL;
	size_t i, idx = 0;

	reader_names_free(*names, *n);
	free(*rs);
	*names = NULL;
	*n = 0;
	*rs = NULL;
	*nrs = 0;
	r = reader_names_get(ctx, names, n);
	if (r == AIRLOCK_E_PCSC_NO_READER && reader == NULL)
		r = 0;
	else if (r == AIRLOCK_E_PCSC_NO_READER)
		err_detail_set("no reader named '%s': pcscd sees no reader at "
			       "all; plug one in",
			       reader);
	if (r != 0)
		return r;
	if (reader != NULL &&
	    (r = reader_names_find(*names, *n, reader, &idx)) != 0)
		return r;
	if ((*rs = calloc(*n + 1, sizeof(**rs))) == NULL)
		return AIRLOCK_E_NOMEM;
	if (reader != NULL) {
		(*rs)[0].szReader = (*names)[idx];
		*nrs = 1;
		return 0;
	}
	for (i = 0; i < *n; i++)
		(*rs)[i].szReader = (*names)[i];
	(*rs)[*n].szReader = READER_PNP;
	*nrs = *n + 1;
	return 0;
}

/*
 * Wait until a card is present (WANT_PRESENT) or absent in the watched
 * readers. Returns 1 in *done when the condition holds, with *hit the index
 * of the reader that satisfied it; sets *relist when the reader set changed.
 * FRESH: the states come from the first call after building the watch list,
 * where every entry reports a change (it started UNAWARE), so changes there
 * say nothing about readers coming or going.
 */
static int
reader_watch_check(const char *reader, SCARD_READERSTATE *rs, size_t nrs,
		   int want_present, int fresh, int *done, size_t *hit,
		   int *relist)
{
	size_t i, nreal = reader != NULL ? nrs : nrs - 1;
	int any = 0;

	*done = 0;
	for (i = 0; i < nreal; i++) {
		if ((rs[i].dwEventState &
		     (SCARD_STATE_UNKNOWN | SCARD_STATE_IGNORE)) != 0) {
			/* The reader was unplugged: with it the card. */
			if (reader != NULL && !want_present) {
				*done = 1;
				return 0;
			}
			if (reader != NULL) {
				err_detail_set("reader '%s' was unplugged "
					       "while waiting for a card",
					       reader);
				return AIRLOCK_E_PCSC_NO_READER;
			}
			if (!fresh)
				*relist = 1;
			continue;
		}
		if (reader_state_present(rs[i].dwEventState) && !any) {
			any = 1;
			*hit = i;
		}
	}
	if (reader == NULL && !fresh &&
	    (rs[nreal].dwEventState & SCARD_STATE_CHANGED))
		*relist = 1;
	if (want_present ? any : !any)
		*done = 1;
	return 0;
}

static int
reader_wait(const char *reader, long timeout_ms, int want_present,
	    char **reader_out)
{
	int r = AIRLOCK_E_INTERNAL, have_ctx = 0, relist = 1, done = 0;
	int fresh = 0;
	SCARDCONTEXT ctx = 0;
	SCARD_READERSTATE *rs = NULL;
	struct timespec start;
	char **names = NULL;
	size_t n = 0, nrs = 0, i, hit = 0;
	DWORD tmo = 0;
	long left;
	LONG rv;

	if (reader_out != NULL)
		*reader_out = NULL;
	if (timeout_ms < -1) {
		err_detail_set("timeout %ld ms is negative", timeout_ms);
		return AIRLOCK_E_INVALID_ARG;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	if ((r = reader_context_open(&ctx)) != 0)
		goto out;
	have_ctx = 1;
	for (;;) {
		if (relist) {
			if ((r = reader_watch_build(ctx, reader, &names, &n,
						    &rs, &nrs)) != 0)
				goto out;
			relist = 0;
			fresh = 1;
			tmo = 0;
			/* No reader, no card: only the PnP entry is watched,
			 * and pcsc-lite reports no state for it when asked
			 * with no timeout. */
			if (n == 0 && !want_present)
				break;
		}
		rv = SCardGetStatusChange(ctx, tmo, rs, (DWORD)nrs);
		if (rv == SCARD_E_UNKNOWN_READER && reader == NULL) {
			/* A reader went away between listing and waiting. */
			relist = 1;
		} else if (rv != SCARD_S_SUCCESS && rv != SCARD_E_TIMEOUT) {
			r = reader_pcsc_error(rv, "SCardGetStatusChange");
			goto out;
		} else if (rv == SCARD_S_SUCCESS) {
			if ((r = reader_watch_check(reader, rs, nrs,
						    want_present, fresh, &done,
						    &hit, &relist)) != 0)
				goto out;
			if (done)
				break;
			for (i = 0; i < nrs; i++)
				rs[i].dwCurrentState =
				    rs[i].dwEventState &
				    ~(DWORD)SCARD_STATE_CHANGED;
		}
		fresh = 0;
		if (timeout_ms < 0) {
			tmo = INFINITE;
			continue;
		}
		left = timeout_ms - reader_elapsed_ms(&start);
		if (left <= 0) {
			reader_timeout_detail(reader, timeout_ms, want_present);
			r = AIRLOCK_E_TIMEOUT;
			goto out;
		}
		tmo = left >= (long)INFINITE ? INFINITE - 1 : (DWORD)left;
		if (relist)
			tmo = 0;
	}
	if (want_present && reader_out != NULL &&
	    (*reader_out = strdup(rs[hit].szReader)) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	r = 0;
out:
	reader_names_free(names, n);
	free(rs);
	if (have_ctx)
		SCardReleaseContext(ctx);
	return r;
}

int
reader_card_wait(const char *reader, long timeout_ms, char **reader_out)
{
	return reader_wait(reader, timeout_ms, 1, reader_out);
}

int
reader_card_wait_removed(const char *reader, long timeout_ms)
{
	return reader_wait(reader, timeout_ms, 0, NULL);
}
