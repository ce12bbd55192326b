/* Files on untrusted media, read without following links; files written
 * durably (temp name, fsync, rename, fsync directory).
 *
 * SECURITY.md section 3: a stick is hostile. Every name read is checked
 * against [a-z0-9._-]{1,64} first, opened beneath its directory with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS),
 * must be a regular file with one link and a size under the caller's cap,
 * and is read once into memory: callers verify and use that copy only.
 * SECURITY.md section 2: outputs never appear half-written. */
#ifndef AIRLOCK_SAFEFILE_H
#define AIRLOCK_SAFEFILE_H

#include <stddef.h>
#include <sys/types.h>

#define SAFEFILE_NAME_MAX 64
/* ".NAME.tmp-XXXXXX" plus NUL */
#define SAFEFILE_TEMPNAME_SIZE (SAFEFILE_NAME_MAX + 13)

/* safefile_write_atomic() / safefile_rename() flag: replace an existing
 * NAME (default: refuse with AIRLOCK_E_EXISTS). */
#define SAFEFILE_REPLACE 1

/* 1 if NAME matches [a-z0-9._-]{1,64} and does not start with '.' (so never
 * "." or ".." or a temporary name); else 0. */
int safefile_name_ok(const char *name);

/* Open DIR as an O_PATH | O_DIRECTORY | O_CLOEXEC descriptor. DIR itself
 * must not be a symbolic link (O_NOFOLLOW); components before it may be.
 * Such a descriptor serves the *at() calls below; it cannot be read or
 * fsynced directly. */
int safefile_dir_open(const char *dir, int *fd_out)
    __attribute__((warn_unused_result));

/* Read NAME beneath DIRFD into a new malloc'd buffer (*BUF, *LEN; one spare
 * NUL byte after the data, not counted). Errors: AIRLOCK_E_FORMAT (bad
 * name, link, not a regular file, more than one link, size changed while
 * reading), AIRLOCK_E_TOO_LARGE (over MAX), AIRLOCK_E_NOT_FOUND,
 * AIRLOCK_E_IO. */
int safefile_read_beneath(int dirfd, const char *name, size_t max,
			  unsigned char **buf, size_t *len)
    __attribute__((warn_unused_result));

/* Durably and atomically write NAME beneath DIRFD with BUF[0..LEN): create
 * DIRFD/.NAME.tmp-XXXXXX (O_EXCL, MODE), write it all, fsync it, rename it
 * to NAME (refusing to replace an existing NAME unless SAFEFILE_REPLACE is
 * in FLAGS: AIRLOCK_E_EXISTS), then fsync the directory. On failure before
 * the rename the temporary file is removed and nothing exists under NAME.
 * A failed fsync is AIRLOCK_E_IO and is never retried; ENOSPC says the
 * medium is full. */
int safefile_write_atomic(int dirfd, const char *name, const void *buf,
			  size_t len, mode_t mode, int flags)
    __attribute__((warn_unused_result));

/* Create NAME beneath DIRFD (it must not exist), write BUF[0..LEN), fsync
 * it. No rename: for files inside a directory that is itself renamed into
 * place once complete (a bundle). On failure NAME is removed. The caller
 * fsyncs the directory. */
int safefile_write_new(int dirfd, const char *name, const void *buf, size_t len,
		       mode_t mode) __attribute__((warn_unused_result));

/* Rename FROM to TO, both beneath DIRFD (files or directories), with
 * RENAME_NOREPLACE unless FLAGS has SAFEFILE_REPLACE. Does not fsync. */
int safefile_rename(int dirfd, const char *from, const char *to, int flags)
    __attribute__((warn_unused_result));

/* Write ".NAME.tmp-XXXXXX" (random XXXXXX from [a-z0-9]) into OUT, which
 * has SAFEFILE_TEMPNAME_SIZE bytes. */
int safefile_tempname_make(const char *name, char *out, size_t outlen)
    __attribute__((warn_unused_result));

/* Remove what an interrupted run left under DIRFD: files and flat
 * directories named exactly like safefile_tempname_make()'s temporary names
 * (".NAME.tmp-XXXXXX"), nothing else. *REMOVED counts them. */
int safefile_clean_temps(int dirfd, size_t *removed)
    __attribute__((warn_unused_result));

/* fsync the directory DIRFD refers to (which may be an O_PATH descriptor). */
int safefile_fsync_dir(int dirfd) __attribute__((warn_unused_result));

#endif
