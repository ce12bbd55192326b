/* Per-process scratch directory for the fuzz harnesses (scratch.h). */
#include "tests/fuzz/scratch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[4096];

static void
remove_at_exit(void)
{
	if (dir[0] != '\0')
		scratch_rmtree(dir);
}

const char *
scratch_dir(void)
{
	const char *tmp;

	if (dir[0] != '\0')
		return dir;
	tmp = getenv("TMPDIR");
	if (tmp == NULL || tmp[0] == '\0')
		tmp = "/tmp";
	if ((size_t)snprintf(dir, sizeof(dir), "%s/airlock-fuzz-XXXXXX", tmp) >=
		sizeof(dir) ||
	    mkdtemp(dir) == NULL) {
		fprintf(stderr,
			"fuzz: cannot create a scratch directory in "
			"%s: %s\n",
			tmp, strerror(errno));
		abort();
	}
	atexit(remove_at_exit);
	return dir;
}

static int
kept(const char *name, const char *const *keep)
{
	for (; keep != NULL && *keep != NULL; keep++)
		if (strcmp(name, *keep) == 0)
			return 1;
	return 0;
}

static void
clean_at(int dfd, const char *const *keep)
{
	struct dirent *de;
	DIR *d;
	int fd, sub;

	if ((fd = dup(dfd)) == -1)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 || kept(de->d_name, keep))
			continue;
		if (unlinkat(dfd, de->d_name, 0) == 0)
			continue;
		/* a directory (never followed if it is a link: unlinkat
		 * removed links above) */
		sub = openat(dfd, de->d_name,
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub == -1)
			continue;
		fchmod(sub, 0700);
		clean_at(sub, NULL);
		close(sub);
		unlinkat(dfd, de->d_name, AT_REMOVEDIR);
	}
	rewinddir(d);
	closedir(d);
}

void
scratch_rmtree(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd == -1) {
		unlink(path);
		return;
	}
	clean_at(fd, NULL);
	close(fd);
	rmdir(path);
}

void
scratch_clean(const char *const *keep)
{
	int fd = open(scratch_dir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd == -1)
		abort();
	clean_at(fd, keep);
	close(fd);
}

void
scratch_path(const char *rel, char *out, size_t outlen)
{
	if ((size_t)snprintf(out, outlen, "%s/%s", scratch_dir(), rel) >=
	    outlen)
		abort();
}

int
scratch_write(const char *rel, const void *data, size_t len)
{
	char path[4096];
	const unsigned char *p = data;
	ssize_t n;
	int fd;

	scratch_path(rel, path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd == -1)
		return -1;
	while (len > 0) {
		n = write(fd, p, len);
		if (n <= 0) {
			close(fd);
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return close(fd);
}

int
scratch_mkdir(const char *rel)
{
	char path[4096];

	scratch_path(rel, path, sizeof(path));
	return mkdir(path, 0700);
}
