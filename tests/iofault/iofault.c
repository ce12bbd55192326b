/* iofault.so: an LD_PRELOAD shim that counts, logs and breaks file I/O at
 * chosen boundaries (SECURITY.md section 6; see README.md beside this file).
 *
 * Interposed: write, pwrite(64), fsync, fdatasync, syncfs, rename, renameat,
 * renameat2, open(64) and openat(64) (only with O_CREAT: a create is a
 * boundary, a plain open is not), mkdir and mkdirat. Each call whose path
 * passes IOFAULT_FILTER is one boundary, numbered from 1 per process; the
 * real function is reached through dlsym(RTLD_NEXT). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define EXPORT	   __attribute__((visibility("default")))
#define MAX_RULES  32
#define MAX_FILTER 8
#define PATHBUF	   (PATH_MAX + 64)

enum action {
	A_KILL,
	A_KILL_AFTER,
	A_KILL_MID,
	A_EIO,
	A_ENOSPC,
	A_EROFS,
	A_SHORT,
	A_FSYNCFAIL
};
static const char *const action_names[] = {"kill",  "kill-after", "kill-mid",
					   "eio",   "enospc",	  "erofs",
					   "short", "fsyncfail"};

struct rule {
	enum action act;
	char func[16]; /* a function name or "any" */
	unsigned long n;
	int from;     /* "from N": N and every later call */
	char on[256]; /* path substring, "" for every path */
	unsigned long count;
};

static struct rule rules[MAX_RULES];
static int nrules;
static char *filters[MAX_FILTER];
static int nfilters;
static int log_fd = -1;
static unsigned long seq; /* boundaries seen */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static __thread int busy; /* inside the shim: pass straight through */

/* per-function counters, in the order of fnames */
static const char *const fnames[] = {
    "write",  "pwrite",	  "fsync",     "fdatasync", "syncfs",
    "rename", "renameat", "renameat2", "open",	    "mkdir"};
#define NF (sizeof(fnames) / sizeof(fnames[0]))
static unsigned long fcount[NF];

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_syncfs)(int);
static int (*real_rename)(const char *, const char *);
static int (*real_renameat)(int, const char *, int, const char *);
static int (*real_renameat2)(int, const char *, int, const char *, unsigned);
static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_openat64)(int, const char *, int, ...);
static int (*real_mkdir)(const char *, mode_t);
static int (*real_mkdirat)(int, const char *, mode_t);

#define RESOLVE(name)                                                          \
	do {                                                                   \
		if (real_##name == NULL)                                       \
			*(void **)&real_##name = dlsym(RTLD_NEXT, #name);      \
	} while (0)

static void
die(const char *what, int i, const char *why)
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "iofault: %s, rule %d: %s\n", what,
			 i, why);

	if (n > 0)
		(void)!write(2, buf,
			     (size_t)n < sizeof(buf) ? (size_t)n
						     : sizeof(buf) - 1);
	_exit(99);
}

static int
func_known(const char *f)
{
	size_t i;

	if (strcmp(f, "any") == 0)
		return 1;
	for (i = 0; i < NF; i++)
		if (strcmp(f, fnames[i]) == 0)
			return 1;
	return 0;
}

/* One rule: ACTION FUNC (at|from) N [on SUBSTR] */
static void
parse_rule(char *s, int idx)
{
	struct rule *r = &rules[nrules];
	char *tok[6], *save = NULL, *end;
	int nt = 0;
	size_t i;

	for (char *t = strtok_r(s, " \t", &save); t != NULL;
	     t = strtok_r(NULL, " \t", &save)) {
		if (nt == 6)
			die("IOFAULT_RULES", idx, "too many words");
		tok[nt++] = t;
	}
	if (nt == 0)
		return;
	if (nrules == MAX_RULES)
		die("IOFAULT_RULES", idx, "too many rules");
	if (nt != 4 && nt != 6)
		die("IOFAULT_RULES", idx,
		    "want: ACTION FUNC at|from N [on SUBSTR]");
	memset(r, 0, sizeof(*r));
	for (i = 0; i < sizeof(action_names) / sizeof(action_names[0]); i++)
		if (strcmp(tok[0], action_names[i]) == 0)
			break;
	if (i == sizeof(action_names) / sizeof(action_names[0]))
		die("IOFAULT_RULES", idx, "unknown action");
	r->act = (enum action)i;
	if (!func_known(tok[1]) || strlen(tok[1]) >= sizeof(r->func))
		die("IOFAULT_RULES", idx, "unknown function");
	snprintf(r->func, sizeof(r->func), "%s", tok[1]);
	if (strcmp(tok[2], "at") == 0)
		r->from = 0;
	else if (strcmp(tok[2], "from") == 0)
		r->from = 1;
	else
		die("IOFAULT_RULES", idx, "want 'at' or 'from'");
	errno = 0;
	r->n = strtoul(tok[3], &end, 10);
	if (errno != 0 || *end != '\0' || r->n == 0)
		die("IOFAULT_RULES", idx, "N must be a number from 1");
	if (nt == 6) {
		if (strcmp(tok[4], "on") != 0 ||
		    strlen(tok[5]) >= sizeof(r->on))
			die("IOFAULT_RULES", idx, "want 'on SUBSTR'");
		snprintf(r->on, sizeof(r->on), "%s", tok[5]);
	}
	if ((r->act == A_SHORT || r->act == A_KILL_MID) &&
	    strcmp(r->func, "write") != 0 && strcmp(r->func, "pwrite") != 0)
		die("IOFAULT_RULES", idx,
		    "short and kill-mid are for write "
		    "and pwrite");
	if (r->act == A_FSYNCFAIL && strcmp(r->func, "fsync") != 0 &&
	    strcmp(r->func, "fdatasync") != 0 && strcmp(r->func, "syncfs") != 0)
		die("IOFAULT_RULES", idx,
		    "fsyncfail is for fsync, fdatasync "
		    "and syncfs");
	nrules++;
}

__attribute__((constructor)) static void
iofault_init(void)
{
	const char *e;
	char *copy, *save = NULL, *p;
	int idx = 0;

	busy = 1;
	if ((e = getenv("IOFAULT_FILTER")) != NULL && *e != '\0' &&
	    (copy = strdup(e)) != NULL) {
		for (p = strtok_r(copy, ":", &save);
		     p != NULL && nfilters < MAX_FILTER;
		     p = strtok_r(NULL, ":", &save))
			filters[nfilters++] = p;
	}
	if ((e = getenv("IOFAULT_RULES")) != NULL &&
	    (copy = strdup(e)) != NULL) {
		save = NULL;
		for (p = strtok_r(copy, ";\n", &save); p != NULL;
		     p = strtok_r(NULL, ";\n", &save)) {
			char *hash = strchr(p, '#');
			if (hash != NULL)
				*hash = '\0';
			parse_rule(p, ++idx);
		}
	}
	if ((e = getenv("IOFAULT_LOG")) != NULL && *e != '\0') {
		RESOLVE(open);
		log_fd = real_open(e, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
				   0644);
		if (log_fd < 0)
			die("IOFAULT_LOG", 0, strerror(errno));
	}
	busy = 0;
}

/* The path behind FD, or NAME relative to DIRFD. */
static void
fd_path(int fd, char *out, size_t len)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, out, len - 1);
	if (n < 0)
		n = snprintf(out, len, "fd:%d", fd) > 0 ? (ssize_t)strlen(out)
							: 0;
	out[n] = '\0';
}

static void
at_path(int dirfd, const char *name, char *out, size_t len)
{
	char dir[PATHBUF];

	if (name == NULL) {
		snprintf(out, len, "(null)");
		return;
	}
	if (name[0] == '/') {
		snprintf(out, len, "%s", name);
		return;
	}
	if (dirfd == AT_FDCWD) {
		if (getcwd(dir, sizeof(dir)) == NULL)
			snprintf(dir, sizeof(dir), ".");
	} else
		fd_path(dirfd, dir, sizeof(dir));
	if (snprintf(out, len, "%s/%s", dir, name) >= (int)len)
		out[len - 1] = '\0'; /* truncated: still matched by prefix */
}

static int
passes_filter(const char *a, const char *b)
{
	int i;

	if (nfilters == 0)
		return 1;
	for (i = 0; i < nfilters; i++)
		if (strstr(a, filters[i]) != NULL ||
		    (b != NULL && strstr(b, filters[i]) != NULL))
			return 1;
	return 0;
}

static void
log_line(const char *buf, int n)
{
	if (log_fd >= 0 && n > 0) {
		RESOLVE(write);
		(void)!real_write(log_fd, buf, (size_t)n);
	}
}

/* Count one boundary and return the rule that fires on it, if any. */
static struct rule *
boundary(const char *func, const char *path, const char *path2, long size)
{
	struct rule *hit = NULL;
	unsigned long k = 0;
	char line[2 * PATHBUF + 128];
	size_t i;
	int n, j;

	if (!passes_filter(path, path2))
		return NULL;
	pthread_mutex_lock(&mu);
	seq++;
	for (i = 0; i < NF; i++)
		if (strcmp(fnames[i], func) == 0)
			k = ++fcount[i];
	if (log_fd >= 0) {
		n = snprintf(line, sizeof(line), "%lu\t%s\t%lu\t%ld\t%s%s%s\n",
			     seq, func, k, size, path, path2 ? "\t" : "",
			     path2 ? path2 : "");
		log_line(line,
			 n < (int)sizeof(line) ? n : (int)sizeof(line) - 1);
	}
	for (j = 0; j < nrules; j++) {
		struct rule *r = &rules[j];
		if (strcmp(r->func, "any") != 0 && strcmp(r->func, func) != 0)
			continue;
		if (r->on[0] != '\0' && strstr(path, r->on) == NULL &&
		    (path2 == NULL || strstr(path2, r->on) == NULL))
			continue;
		r->count++;
		if (hit == NULL &&
		    (r->count == r->n || (r->from && r->count > r->n)))
			hit = r;
	}
	if (hit != NULL && log_fd >= 0) {
		n = snprintf(line, sizeof(line), "!\t%s\t%lu\t%s\t%lu\t%s\n",
			     action_names[hit->act], seq, func, k, path);
		log_line(line,
			 n < (int)sizeof(line) ? n : (int)sizeof(line) - 1);
	}
	pthread_mutex_unlock(&mu);
	return hit;
}

static void
crash(void)
{
	kill(getpid(), SIGKILL);
	for (;;)
		pause();
}

/* Before the real call: 1 means "return -1 with errno set". */
static int
pre(const struct rule *r)
{
	if (r == NULL)
		return 0;
	switch (r->act) {
	case A_KILL:
		crash();
		break;
	case A_EIO:
	case A_FSYNCFAIL:
		errno = EIO;
		return 1;
	case A_ENOSPC:
		errno = ENOSPC;
		return 1;
	case A_EROFS:
		errno = EROFS;
		return 1;
	default:
		break;
	}
	return 0;
}

static void
post(const struct rule *r)
{
	if (r != NULL && r->act == A_KILL_AFTER)
		crash();
}

/* write and pwrite: SHORT and KILL_MID write half (at least one byte). */
static ssize_t
do_write(const char *func, int fd, const void *buf, size_t len, off_t off,
	 int positional)
{
	char path[PATHBUF];
	struct rule *r = NULL;
	ssize_t w;
	size_t want = len;

	RESOLVE(write);
	RESOLVE(pwrite);
	if (!busy) {
		busy = 1;
		fd_path(fd, path, sizeof(path));
		if (log_fd < 0 || fd != log_fd)
			r = boundary(func, path, NULL, (long)len);
		busy = 0;
	}
	if (pre(r))
		return -1;
	if (r != NULL && (r->act == A_SHORT || r->act == A_KILL_MID)) {
		if (len < 2 && r->act == A_SHORT) {
			errno = ENOSPC;
			return -1;
		}
		want = len / 2 > 0 ? len / 2 : 1;
	}
	w = positional ? real_pwrite(fd, buf, want, off)
		       : real_write(fd, buf, want);
	if (r != NULL && r->act == A_KILL_MID)
		crash();
	post(r);
	return w;
}

EXPORT ssize_t
write(int fd, const void *buf, size_t len)
{
	return do_write("write", fd, buf, len, 0, 0);
}

EXPORT ssize_t
pwrite(int fd, const void *buf, size_t len, off_t off)
{
	return do_write("pwrite", fd, buf, len, off, 1);
}

EXPORT ssize_t
pwrite64(int fd, const void *buf, size_t len, off_t off)
{
	return do_write("pwrite", fd, buf, len, off, 1);
}

static struct rule *
fd_boundary(const char *func, int fd)
{
	char path[PATHBUF];
	struct rule *r = NULL;

	if (!busy) {
		busy = 1;
		fd_path(fd, path, sizeof(path));
		r = boundary(func, path, NULL, -1);
		busy = 0;
	}
	return r;
}

#define SYNC_FN(name)                                                          \
	EXPORT int name(int fd)                                                \
	{                                                                      \
		struct rule *r;                                                \
		int rv;                                                        \
		RESOLVE(name);                                                 \
		r = fd_boundary(#name, fd);                                    \
		if (pre(r))                                                    \
			return -1;                                             \
		rv = real_##name(fd);                                          \
		post(r);                                                       \
		return rv;                                                     \
	}
SYNC_FN(fsync)
SYNC_FN(fdatasync)
SYNC_FN(syncfs)

static struct rule *
at2_boundary(const char *func, int d1, const char *p1, int d2, const char *p2)
{
	char a[PATHBUF], b[PATHBUF];
	struct rule *r = NULL;

	if (!busy) {
		busy = 1;
		at_path(d1, p1, a, sizeof(a));
		if (p2 != NULL)
			at_path(d2, p2, b, sizeof(b));
		r = boundary(func, a, p2 != NULL ? b : NULL, -1);
		busy = 0;
	}
	return r;
}

EXPORT int
rename(const char *from, const char *to)
{
	struct rule *r;
	int rv;

	RESOLVE(rename);
	r = at2_boundary("rename", AT_FDCWD, from, AT_FDCWD, to);
	if (pre(r))
		return -1;
	rv = real_rename(from, to);
	post(r);
	return rv;
}

EXPORT int
renameat(int d1, const char *from, int d2, const char *to)
{
	struct rule *r;
	int rv;

	RESOLVE(renameat);
	r = at2_boundary("renameat", d1, from, d2, to);
	if (pre(r))
		return -1;
	rv = real_renameat(d1, from, d2, to);
	post(r);
	return rv;
}

EXPORT int
renameat2(int d1, const char *from, int d2, const char *to, unsigned flags)
{
	struct rule *r;
	int rv;

	RESOLVE(renameat2);
	r = at2_boundary("renameat2", d1, from, d2, to);
	if (pre(r))
		return -1;
	rv = real_renameat2(d1, from, d2, to, flags);
	post(r);
	return rv;
}

EXPORT int
mkdir(const char *path, mode_t mode)
{
	struct rule *r;
	int rv;

	RESOLVE(mkdir);
	r = at2_boundary("mkdir", AT_FDCWD, path, AT_FDCWD, NULL);
	if (pre(r))
		return -1;
	rv = real_mkdir(path, mode);
	post(r);
	return rv;
}

EXPORT int
mkdirat(int dirfd, const char *path, mode_t mode)
{
	struct rule *r;
	int rv;

	RESOLVE(mkdirat);
	r = at2_boundary("mkdir", dirfd, path, AT_FDCWD, NULL);
	if (pre(r))
		return -1;
	rv = real_mkdirat(dirfd, path, mode);
	post(r);
	return rv;
}

/* open family: a boundary only when it may create (O_CREAT, O_TMPFILE). */
static int
creates(int flags)
{
	return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE;
}

#define OPEN_BODY(realfn, dirfd)                                               \
	mode_t mode = 0;                                                       \
	struct rule *r = NULL;                                                 \
	int rv;                                                                \
	if (creates(flags)) {                                                  \
		va_list ap;                                                    \
		va_start(ap, flags);                                           \
		mode = (mode_t)va_arg(ap, int);                                \
		va_end(ap);                                                    \
		r = at2_boundary("open", dirfd, path, AT_FDCWD, NULL);         \
	}                                                                      \
	if (pre(r))                                                            \
		return -1;                                                     \
	rv = realfn;                                                           \
	post(r);                                                               \
	return rv;

EXPORT int
open(const char *path, int flags, ...)
{
	RESOLVE(open);
	OPEN_BODY(real_open(path, flags, mode), AT_FDCWD)
}

EXPORT int
open64(const char *path, int flags, ...)
{
	RESOLVE(open64);
	OPEN_BODY(real_open64(path, flags, mode), AT_FDCWD)
}

EXPORT int
openat(int dirfd, const char *path, int flags, ...)
{
	RESOLVE(openat);
	OPEN_BODY(real_openat(dirfd, path, flags, mode), dirfd)
}

EXPORT int
openat64(int dirfd, const char *path, int flags, ...)
{
	RESOLVE(openat64);
	OPEN_BODY(real_openat64(dirfd, path, flags, mode), dirfd)
}
