#include "lib/safefile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/term.h"

int
safefile_name_ok(const char *name)
{
	size_t n;

	if (name == NULL || name[0] == '.' || name[0] == '\0')
		return 0;
	for (n = 0; name[n] != '\0'; n++) {
		char c = name[n];

		if (n >= SAFEFILE_NAME_MAX)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* NAME as printable text for a detail message (it may be hostile). */
static const char *
safe(const char *name, char *buf, size_t len)
{
	return term_sanitize(name != NULL ? name : "(null)", buf, len);
}

static const char *
file_type(mode_t m)
{
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISLNK(m))
		return "a symbolic link";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISSOCK(m))
		return "a socket";
	if (S_ISCHR(m))
		return "a character device";
	if (S_ISBLK(m))
		return "a block device";
	return "not a regular file";
}

int
safefile_dir_open(const char *dir, int *fd_out)
{
	char path[4096], sp[256];
	struct stat st;
	size_t n;
	int fd, e;

	*fd_out = -1;
	if (dir == NULL || (n = strlen(dir)) == 0 || n >= sizeof(path)) {
		err_detail_set("directory name is empty or too long");
		return AIRLOCK_E_INVALID_ARG;
	}
	/* "link/" would follow the link despite O_NOFOLLOW: drop trailing
	 * slashes so the last component is the one checked. */
	memcpy(path, dir, n + 1);
	while (n > 1 && path[n - 1] == '/')
		path[--n] = '\0';
	fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1) {
		e = errno;
		safe(dir, sp, sizeof(sp));
		if (e == ENOENT) {
			err_detail_set("%s: no such directory", sp);
			return AIRLOCK_E_NOT_FOUND;
		}
		if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
			err_detail_set("%s: is a symbolic link; give the real "
				       "directory (links are not followed)",
				       sp);
			return AIRLOCK_E_FORMAT;
		}
		if (e == ENOTDIR) {
			err_detail_set("%s: not a directory", sp);
			return AIRLOCK_E_FORMAT;
		}
		err_detail_set("%s: cannot open directory: %s", sp,
			       strerror(e));
		return AIRLOCK_E_IO;
	}
	if (fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode)) {
		err_detail_set("%s: not a directory",
			       safe(dir, sp, sizeof(sp)));
		close(fd);
		return AIRLOCK_E_FORMAT;
	}
	*fd_out = fd;
	return 0;
}

static int
open_beneath(int dirfd, const char *name)
{
	struct open_how how;
	long fd;

	memset(&how, 0, sizeof(how));
	/* O_NONBLOCK: opening a FIFO must not hang until fstat rejects it. */
	how.flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	how.resolve =
	    RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
	do {
		fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
	} while (fd == -1 && (errno == EINTR || errno == EAGAIN));
	if (fd == -1 && errno == ENOSYS) {
		/* Pre-5.6 kernel: NAME has no '/' (safefile_name_ok), so
		 * O_NOFOLLOW on the single component is equivalent. */
		do {
			fd = openat(dirfd, name, (int)how.flags);
		} while (fd == -1 && errno == EINTR);
	}
	return (int)fd;
}

static int
open_error(const char *name, int e)
{
	char sn[96];

	safe(name, sn, sizeof(sn));
	switch (e) {
	case ENOENT:
		err_detail_set("%s: no such file", sn);
		return AIRLOCK_E_NOT_FOUND;
	case ELOOP:
		err_detail_set("%s: is a symbolic link; links are never "
			       "followed on transfer media",
			       sn);
		return AIRLOCK_E_FORMAT;
	case EXDEV:
		err_detail_set("%s: resolves outside its directory", sn);
		return AIRLOCK_E_FORMAT;
	case ENXIO:
	case ENODEV:
		err_detail_set("%s: not a regular file", sn);
		return AIRLOCK_E_FORMAT;
	default:
		err_detail_set("%s: cannot open: %s", sn, strerror(e));
		return AIRLOCK_E_IO;
	}
}

int
safefile_read_beneath(int dirfd, const char *name, size_t max,
		      unsigned char **buf, size_t *len)
{
	unsigned char *b = NULL, extra;
	char sn[96];
	struct stat st;
	size_t size, got = 0;
	ssize_t n;
	int r = AIRLOCK_E_INTERNAL, fd = -1;

	*buf = NULL;
	*len = 0;
	safe(name, sn, sizeof(sn));
	if (!safefile_name_ok(name)) {
		err_detail_set("'%s': not an allowed file name "
			       "([a-z0-9._-]{1,64}, not starting with '.')",
			       sn);
		r = AIRLOCK_E_FORMAT;
		goto out;
	}
	if ((fd = open_beneath(dirfd, name)) == -1) {
		r = open_error(name, errno);
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		err_detail_set("%s: fstat: %s", sn, strerror(errno));
		r = AIRLOCK_E_IO;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err_detail_set("%s: is %s; only regular files are read", sn,
			       file_type(st.st_mode));
		r = AIRLOCK_E_FORMAT;
		goto out;
	}
	if (st.st_nlink != 1) {
		err_detail_set("%s: has %ju hard links; files on transfer "
			       "media must have exactly one",
			       sn, (uintmax_t)st.st_nlink);
		r = AIRLOCK_E_FORMAT;
		goto out;
	}
	if (st.st_size < 0 || (uintmax_t)st.st_size > max) {
		err_detail_set("%s: %jd bytes, over the cap of %zu bytes", sn,
			       (intmax_t)st.st_size, max);
		r = AIRLOCK_E_TOO_LARGE;
		goto out;
	}
	size = (size_t)st.st_size;
	if ((b = malloc(size + 1)) == NULL) {
		r = AIRLOCK_E_NOMEM;
		goto out;
	}
	while (got < size) {
		n = read(fd, b + got, size - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			err_detail_set("%s: read failed after %zu bytes: %s",
				       sn, got, strerror(errno));
			r = AIRLOCK_E_IO;
			goto out;
		}
		if (n == 0) {
			err_detail_set("%s: shrank while being read (%zu of "
				       "%zu bytes)",
				       sn, got, size);
			r = AIRLOCK_E_FORMAT;
			goto out;
		}
		got += (size_t)n;
	}
	do {
		n = read(fd, &extra, 1);
	} while (n == -1 && errno == EINTR);
	if (n != 0) {
		if (n > 0)
			err_detail_set("%s: grew while being read (more than "
				       "%zu bytes)",
				       sn, size);
		else
			err_detail_set("%s: read failed: %s", sn,
				       strerror(errno));
		r = n > 0 ? AIRLOCK_E_FORMAT : AIRLOCK_E_IO;
		goto out;
	}
	b[size] = '\0';
	*buf = b;
	*len = size;
	b = NULL;
	r = 0;
out:
	free(b);
	if (fd != -1)
		close(fd);
	return r;
}

int
safefile_tempname_make(const char *name, char *out, size_t outlen)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char rnd[6];
	char suffix[7];
	size_t k;
	int n;

	if (outlen > 0)
		out[0] = '\0';
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		err_detail_set("getrandom: %s", strerror(errno));
		return AIRLOCK_E_INTERNAL;
	}
	for (k = 0; k < sizeof(rnd); k++)
		suffix[k] = alphabet[rnd[k] % (sizeof(alphabet) - 1)];
	suffix[6] = '\0';
	n = snprintf(out, outlen, ".%s.tmp-%s", name, suffix);
	if (n < 0 || (size_t)n >= outlen) {
		err_detail_set("temporary name for '%s' too long", name);
		return AIRLOCK_E_INVALID_ARG;
	}
	return 0;
}

/* Explain a failed write or fsync of NAME; ENOSPC and EDQUOT say the medium
 * is full. WHAT is "write" or "fsync". */
static int
write_error(const char *name, const char *what, int e, size_t done, size_t len)
{
	char sn[96];

	safe(name, sn, sizeof(sn));
	if (e == ENOSPC || e == EDQUOT) {
		err_detail_set("%s: the medium is full (%s during %s, %zu of "
			       "%zu bytes); nothing was written under %s",
			       sn, e == ENOSPC ? "ENOSPC" : "EDQUOT", what,
			       done, len, sn);
		return AIRLOCK_E_IO;
	}
	err_detail_set("%s: %s failed: %s; nothing was written under %s "
		       "(%s is never retried)",
		       sn, what, strerror(e), sn, what);
	return AIRLOCK_E_IO;
}

/* Write, fsync and close FD (which is consumed). */
static int
fd_write_sync(int fd, const char *name, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t done = 0;
	ssize_t n;
	int r = AIRLOCK_E_INTERNAL;

	while (done < len) {
		n = write(fd, p + done, len - done);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			r = write_error(name, "write", errno, done, len);
			goto out;
		}
		done += (size_t)n;
	}
	if (fsync(fd) != 0) {
		r = write_error(name, "fsync", errno, done, len);
		goto out;
	}
	/* Drop the cached pages, so that a read-back comes from the medium
	 * (flash sticks lie) rather than from memory. Advisory only. */
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	r = 0;
out:
	if (close(fd) != 0 && r == 0)
		r = write_error(name, "close", errno, done, len);
	return r;
}

int
safefile_rename(int dirfd, const char *from, const char *to, int flags)
{
	struct stat st;
	char sn[96];
	int rv;

	if (flags & SAFEFILE_REPLACE) {
		rv = renameat(dirfd, from, dirfd, to);
	} else {
		rv = renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE);
		if (rv == -1 && (errno == EINVAL || errno == ENOSYS)) {
			/* No RENAME_NOREPLACE on this filesystem: check,
			 * then rename (a narrow race, but media under
			 * airlock has one writer). */
			if (fstatat(dirfd, to, &st, AT_SYMLINK_NOFOLLOW) == 0) {
				errno = EEXIST;
				rv = -1;
			} else {
				rv = renameat(dirfd, from, dirfd, to);
			}
		}
	}
	if (rv == 0)
		return 0;
	safe(to, sn, sizeof(sn));
	if (errno == EEXIST || errno == ENOTEMPTY) {
		err_detail_set("%s: already exists; not replaced", sn);
		return AIRLOCK_E_EXISTS;
	}
	err_detail_set("%s: rename into place failed: %s", sn, strerror(errno));
	return AIRLOCK_E_IO;
}

int
safefile_fsync_dir(int dirfd)
{
	int fd, e;

	/* DIRFD may be O_PATH, which fsync refuses: open the directory. */
	if ((fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1) {
		err_detail_set("cannot open directory for fsync: %s",
			       strerror(errno));
		return AIRLOCK_E_IO;
	}
	if (fsync(fd) != 0) {
		e = errno;
		close(fd);
		err_detail_set("directory fsync failed: %s; the new names may "
			       "not be on the medium (fsync is never retried)",
			       strerror(e));
		return AIRLOCK_E_IO;
	}
	close(fd);
	return 0;
}

/* Create NAME exclusively; messages call it SHOWN. */
static int
create_excl(int dirfd, const char *name, const char *shown, mode_t mode,
	    int *fd_out)
{
	char sn[96];
	int fd;

	*fd_out = -1;
	do {
		fd = openat(dirfd, name,
			    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
				O_CLOEXEC | O_NOCTTY,
			    mode);
	} while (fd == -1 && errno == EINTR);
	if (fd != -1) {
		*fd_out = fd;
		return 0;
	}
	safe(shown, sn, sizeof(sn));
	if (errno == EEXIST) {
		err_detail_set("%s: already exists; not replaced", sn);
		return AIRLOCK_E_EXISTS;
	}
	if (errno == ENOSPC || errno == EDQUOT) {
		err_detail_set("%s: the medium is full (cannot create a file); "
			       "nothing was written under %s",
			       sn, sn);
		return AIRLOCK_E_IO;
	}
	err_detail_set("%s: cannot create: %s", sn, strerror(errno));
	return AIRLOCK_E_IO;
}

int
safefile_write_new(int dirfd, const char *name, const void *buf, size_t len,
		   mode_t mode)
{
	char sn[96];
	int r, fd;

	if (!safefile_name_ok(name)) {
		err_detail_set("'%s': not an allowed file name",
			       safe(name, sn, sizeof(sn)));
		return AIRLOCK_E_INVALID_ARG;
	}
	if ((r = create_excl(dirfd, name, name, mode, &fd)) != 0)
		return r;
	if ((r = fd_write_sync(fd, name, buf, len)) != 0)
		(void)unlinkat(dirfd, name, 0);
	return r;
}

int
safefile_write_atomic(int dirfd, const char *name, const void *buf, size_t len,
		      mode_t mode, int flags)
{
	char tmp[SAFEFILE_TEMPNAME_SIZE], sn[96];
	int r = AIRLOCK_E_INTERNAL, fd = -1, have_tmp = 0, tries;

	if (!safefile_name_ok(name)) {
		err_detail_set("'%s': not an allowed file name",
			       safe(name, sn, sizeof(sn)));
		return AIRLOCK_E_INVALID_ARG;
	}
	/* Messages name NAME, not the temporary: that is what the operator
	 * asked for, and the temporary never survives a failure. */
	for (tries = 0; tries < 16; tries++) {
		if ((r = safefile_tempname_make(name, tmp, sizeof(tmp))) != 0)
			goto out;
		r = create_excl(dirfd, tmp, name, mode, &fd);
		if (r != AIRLOCK_E_EXISTS)
			break;
	}
	if (r != 0)
		goto out;
	have_tmp = 1;
	r = fd_write_sync(fd, name, buf, len);
	fd = -1;
	if (r != 0)
		goto out;
	if ((r = safefile_rename(dirfd, tmp, name, flags)) != 0)
		goto out;
	have_tmp = 0;
	if ((r = safefile_fsync_dir(dirfd)) != 0)
		goto out;
	r = 0;
out:
	if (fd != -1)
		close(fd);
	if (have_tmp)
		(void)unlinkat(dirfd, tmp, 0);
	return r;
}

/* ".NAME.tmp-XXXXXX" exactly as safefile_tempname_make() writes it. */
static int
safefile_is_tempname(const char *n)
{
	size_t len = strlen(n), i;
	char name[SAFEFILE_NAME_MAX + 1];

	if (len < 1 + 1 + 5 + 6 || n[0] != '.' ||
	    strncmp(n + len - 11, ".tmp-", 5) != 0)
		return 0;
	for (i = len - 6; i < len; i++)
		if (!((n[i] >= 'a' && n[i] <= 'z') ||
		      (n[i] >= '0' && n[i] <= '9')))
			return 0;
	if (len - 12 > SAFEFILE_NAME_MAX)
		return 0;
	memcpy(name, n + 1, len - 12);
	name[len - 12] = '\0';
	return safefile_name_ok(name);
}

int
safefile_clean_temps(int dfd, size_t *removed)
{
	struct dirent *de, *ie;
	struct stat st;
	DIR *d = NULL, *inner;
	int fd, ifd, r = 0;

	*removed = 0;
	if ((fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return AIRLOCK_E_IO;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return AIRLOCK_E_IO;
	}
	while ((de = readdir(d)) != NULL) {
		if (!safefile_is_tempname(de->d_name) ||
		    fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			/* a bundle being written: flat files only */
			ifd = openat(dfd, de->d_name,
				     O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					 O_CLOEXEC);
			if (ifd < 0 || (inner = fdopendir(ifd)) == NULL) {
				if (ifd >= 0)
					close(ifd);
				r = AIRLOCK_E_IO;
				continue;
			}
			while ((ie = readdir(inner)) != NULL)
				if (strcmp(ie->d_name, ".") != 0 &&
				    strcmp(ie->d_name, "..") != 0)
					(void)unlinkat(dirfd(inner), ie->d_name,
						       0);
			closedir(inner);
			if (unlinkat(dfd, de->d_name, AT_REMOVEDIR) == 0)
				(*removed)++;
		} else if (S_ISREG(st.st_mode) &&
			   unlinkat(dfd, de->d_name, 0) == 0) {
			(*removed)++;
		}
	}
	closedir(d);
	if (*removed > 0 && safefile_fsync_dir(dfd) != 0)
		r = AIRLOCK_E_IO;
	return r;
}
