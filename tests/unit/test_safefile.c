/* Reading hostile media and writing durably: links, hard links, FIFOs,
 * directories, oversize files and bad names are refused before a byte is
 * used; atomic writes leave nothing behind when they fail. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/safefile.h"
#include "tap.h"

static char base[] = "/tmp/airlock-test-safefile-XXXXXX";

static void
put(const char *name, const char *data, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", base, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0)
		printf("# setup: cannot write %s\n", path);
}

static void
at(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", base, name);
}

static void
read_rejects(int dfd, const char *name, size_t max, int want,
	     const char *detail)
{
	unsigned char *b = (unsigned char *)"x";
	size_t len = 99;
	int r;

	err_detail_clear();
	r = safefile_read_beneath(dfd, name, max, &b, &len);
	TAP_CHECK(r == want && b == NULL && len == 0,
		  "read of '%s' refused with %s (got %s)", name, err_name(want),
		  err_name(r));
	TAP_CHECK(strstr(err_detail_get(), detail) != NULL,
		  "detail for '%s' mentions '%s' (got '%s')", name, detail,
		  err_detail_get());
}

/* Number of names in DIR that contain ".tmp-". */
static int
temps_in(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strstr(e->d_name, ".tmp-") != NULL)
			n++;
	closedir(d);
	return n;
}

static void
names(void)
{
	char n64[65], n65[66];

	memset(n64, 'a', 64);
	n64[64] = '\0';
	memset(n65, 'a', 65);
	n65[65] = '\0';
	TAP_CHECK(safefile_name_ok("req-0001.csr") &&
		      safefile_name_ok("a_b.c-d") && safefile_name_ok(n64) &&
		      safefile_name_ok("0"),
		  "good names accepted (incl. 64 chars)");
	TAP_CHECK(!safefile_name_ok(n65), "65-char name refused");
	TAP_CHECK(!safefile_name_ok("") && !safefile_name_ok(NULL),
		  "empty name refused");
	TAP_CHECK(!safefile_name_ok(".") && !safefile_name_ok(".."),
		  ". and .. refused");
	TAP_CHECK(!safefile_name_ok("../x") && !safefile_name_ok("a/b") &&
		      !safefile_name_ok("/etc"),
		  "names with '/' refused");
	TAP_CHECK(!safefile_name_ok(".hidden") &&
		      !safefile_name_ok(".x.tmp-abc123"),
		  "hidden and temporary names refused");
	TAP_CHECK(!safefile_name_ok("A.csr") && !safefile_name_ok("a b") &&
		      !safefile_name_ok("a\xc3\xa9") &&
		      !safefile_name_ok("a\nb"),
		  "uppercase, space, non-ASCII, newline refused");
}

static void
reads(int dfd)
{
	char p1[512], p2[512], n65[66], procdir[64];
	unsigned char *b = NULL;
	size_t len = 0;
	int r, pfd;

	put("good.csr", "hello", 5);
	r = safefile_read_beneath(dfd, "good.csr", 5, &b, &len);
	TAP_CHECK(
	    r == 0 && len == 5 && memcmp(b, "hello", 5) == 0 && b[5] == '\0',
	    "regular file read, exactly at the cap (%s)", err_detail_get());
	free(b);
	b = NULL;
	put("empty", "", 0);
	r = safefile_read_beneath(dfd, "empty", 10, &b, &len);
	TAP_CHECK(r == 0 && len == 0 && b != NULL, "empty file read");
	free(b);

	read_rejects(dfd, "good.csr", 4, AIRLOCK_E_TOO_LARGE,
		     "good.csr: 5 bytes, over the cap of 4 bytes");
	read_rejects(dfd, "missing.csr", 10, AIRLOCK_E_NOT_FOUND,
		     "no such file");

	if (symlink("good.csr", (at(p1, sizeof(p1), "link.csr"), p1)) != 0)
		printf("# setup: symlink: %s\n", strerror(errno));
	read_rejects(dfd, "link.csr", 100, AIRLOCK_E_FORMAT,
		     "link.csr: is a symbolic link");
	if (symlink("/etc/passwd", (at(p1, sizeof(p1), "abs.csr"), p1)) != 0)
		printf("# setup: symlink: %s\n", strerror(errno));
	read_rejects(dfd, "abs.csr", 1 << 20, AIRLOCK_E_FORMAT,
		     "symbolic link");
	if (symlink("/tmp", (at(p1, sizeof(p1), "ldir"), p1)) != 0)
		printf("# setup: symlink: %s\n", strerror(errno));
	read_rejects(dfd, "ldir", 1 << 20, AIRLOCK_E_FORMAT,
		     "ldir: is a symbolic link");
	if (symlink("..", (at(p1, sizeof(p1), "up"), p1)) != 0)
		printf("# setup: symlink: %s\n", strerror(errno));
	read_rejects(dfd, "up", 1 << 20, AIRLOCK_E_FORMAT,
		     "up: is a symbolic link");

	at(p1, sizeof(p1), "good.csr");
	at(p2, sizeof(p2), "hard.csr");
	if (link(p1, p2) != 0)
		printf("# setup: link: %s\n", strerror(errno));
	read_rejects(dfd, "hard.csr", 100, AIRLOCK_E_FORMAT,
		     "hard.csr: has 2 hard links");
	read_rejects(dfd, "good.csr", 100, AIRLOCK_E_FORMAT,
		     "good.csr: has 2 hard links");
	unlink(p2);

	if (mkfifo((at(p1, sizeof(p1), "fifo"), p1), 0600) != 0)
		printf("# setup: mkfifo: %s\n", strerror(errno));
	read_rejects(dfd, "fifo", 100, AIRLOCK_E_FORMAT,
		     "fifo: is a FIFO; only regular files");
	if (mkdir((at(p1, sizeof(p1), "sub"), p1), 0700) != 0)
		printf("# setup: mkdir: %s\n", strerror(errno));
	read_rejects(dfd, "sub", 100, AIRLOCK_E_FORMAT, "sub: is a directory");

	put("A.csr", "x", 1);
	read_rejects(dfd, "A.csr", 100, AIRLOCK_E_FORMAT,
		     "'A.csr': not an allowed file name");
	read_rejects(dfd, "../x", 100, AIRLOCK_E_FORMAT,
		     "'../x': not an allowed file name");
	read_rejects(dfd, "..", 100, AIRLOCK_E_FORMAT,
		     "not an allowed file name");
	put(".hidden", "x", 1);
	read_rejects(dfd, ".hidden", 100, AIRLOCK_E_FORMAT,
		     "not an allowed file name");
	memset(n65, 'a', 65);
	n65[65] = '\0';
	read_rejects(dfd, n65, 100, AIRLOCK_E_FORMAT,
		     "not an allowed file name");
	read_rejects(dfd, "sub/x", 100, AIRLOCK_E_FORMAT,
		     "not an allowed file name");

	/* procfs files claim size 0 and then produce bytes: the "grew
	 * while being read" check. /proc/PID, since /proc/self is a link. */
	snprintf(procdir, sizeof(procdir), "/proc/%ld", (long)getpid());
	if (safefile_dir_open(procdir, &pfd) == 0) {
		read_rejects(pfd, "status", 1 << 20, AIRLOCK_E_FORMAT,
			     "status: grew while being read");
		close(pfd);
	} else {
		printf("ok - grew-while-reading check # SKIP cannot open %s\n",
		       procdir);
	}
}

static void
dir_rejects(const char *path, int want, const char *detail)
{
	int fd = 5, r;

	err_detail_clear();
	r = safefile_dir_open(path, &fd);
	TAP_CHECK(r == want && fd == -1,
		  "dir_open '%s' refused with %s (got %s)", path,
		  err_name(want), err_name(r));
	TAP_CHECK(strstr(err_detail_get(), detail) != NULL,
		  "detail for '%s' mentions '%s' (got '%s')", path, detail,
		  err_detail_get());
	if (r == 0)
		close(fd);
}

static void
dirs(void)
{
	char p[600], q[512];
	int fd = -1;

	at(p, sizeof(p), "sub");
	at(q, sizeof(q), "sublink");
	if (symlink(p, q) != 0)
		printf("# setup: symlink: %s\n", strerror(errno));
	dir_rejects(q, AIRLOCK_E_FORMAT, "is a symbolic link");
	snprintf(p, sizeof(p), "%s/", q);
	dir_rejects(p, AIRLOCK_E_FORMAT, "is a symbolic link");
	snprintf(p, sizeof(p), "%s//", q);
	dir_rejects(p, AIRLOCK_E_FORMAT, "is a symbolic link");
	at(p, sizeof(p), "empty");
	dir_rejects(p, AIRLOCK_E_FORMAT, "not a directory");
	at(p, sizeof(p), "nonexistent");
	dir_rejects(p, AIRLOCK_E_NOT_FOUND, "no such directory");
	at(p, sizeof(p), "sub/");
	TAP_CHECK(safefile_dir_open(p, &fd) == 0 && fd >= 0,
		  "real directory with a trailing slash opens");
	TAP_CHECK(fd >= 0 && safefile_fsync_dir(fd) == 0,
		  "fsync of an O_PATH directory descriptor works (%s)",
		  err_detail_get());
	if (fd >= 0)
		close(fd);
}

static void
writes(int dfd)
{
	unsigned char *b = NULL;
	struct stat st;
	size_t len = 0;
	char p[512];
	int r;

	r = safefile_write_atomic(dfd, "out.pem", "first", 5, 0640, 0);
	TAP_CHECK(r == 0, "atomic write (%s)", err_detail_get());
	at(p, sizeof(p), "out.pem");
	TAP_CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0640 &&
		      st.st_size == 5,
		  "written with mode 0640 and 5 bytes");
	TAP_CHECK(temps_in(base) == 0, "no temporary file left");

	err_detail_clear();
	r = safefile_write_atomic(dfd, "out.pem", "second", 6, 0640, 0);
	TAP_CHECK(r == AIRLOCK_E_EXISTS &&
		      strstr(err_detail_get(), "out.pem: already exists") !=
			  NULL,
		  "no-replace refuses an existing name (%s: %s)", err_name(r),
		  err_detail_get());
	r = safefile_read_beneath(dfd, "out.pem", 100, &b, &len);
	TAP_CHECK(r == 0 && len == 5 && memcmp(b, "first", 5) == 0,
		  "existing file unchanged after the refusal");
	free(b);
	b = NULL;
	TAP_CHECK(temps_in(base) == 0, "no temporary left after the refusal");

	r = safefile_write_atomic(dfd, "out.pem", "second", 6, 0640,
				  SAFEFILE_REPLACE);
	TAP_CHECK(r == 0, "SAFEFILE_REPLACE replaces");
	r = safefile_read_beneath(dfd, "out.pem", 100, &b, &len);
	TAP_CHECK(r == 0 && len == 6 && memcmp(b, "second", 6) == 0,
		  "replacement content read back");
	free(b);

	r = safefile_write_atomic(dfd, "../escape", "x", 1, 0600, 0);
	TAP_CHECK(r == AIRLOCK_E_INVALID_ARG, "atomic write to '../escape' "
					      "refused");
	r = safefile_write_atomic(dfd, "Upper", "x", 1, 0600, 0);
	TAP_CHECK(r == AIRLOCK_E_INVALID_ARG, "atomic write to 'Upper' "
					      "refused");

	r = safefile_write_new(dfd, "new.bin", "abc", 3, 0600);
	TAP_CHECK(r == 0, "write_new creates");
	r = safefile_write_new(dfd, "new.bin", "abc", 3, 0600);
	TAP_CHECK(r == AIRLOCK_E_EXISTS, "write_new refuses an existing name");
	r = safefile_write_new(dfd, "link.csr", "abc", 3, 0600);
	TAP_CHECK(r == AIRLOCK_E_EXISTS, "write_new does not write through "
					 "a symlink");

	r = safefile_rename(dfd, "new.bin", "out.pem", 0);
	TAP_CHECK(r == AIRLOCK_E_EXISTS, "rename without replace refuses");
	r = safefile_rename(dfd, "sub", "out.pem", 0);
	TAP_CHECK(r == AIRLOCK_E_EXISTS, "directory rename refuses an "
					 "existing name");
}

/* ENOSPC on a 64 KiB tmpfs: the write fails, NAME does not exist, and no
 * temporary file remains. */
static void
full_medium(void)
{
	char mnt[600], big[256 * 1024];
	struct stat st;
	int fd = -1, r;

	at(mnt, sizeof(mnt), "tiny");
	if (mkdir(mnt, 0700) != 0 ||
	    mount("tmpfs", mnt, "tmpfs", 0, "size=64k") != 0) {
		printf("ok - ENOSPC leaves nothing behind # SKIP cannot mount "
		       "a tmpfs (%s)\n",
		       strerror(errno));
		return;
	}
	memset(big, 'z', sizeof(big));
	if (safefile_dir_open(mnt, &fd) != 0) {
		TAP_CHECK(0, "open tiny tmpfs");
		goto out;
	}
	err_detail_clear();
	r = safefile_write_atomic(fd, "ledger.jsonl", big, sizeof(big), 0600,
				  0);
	TAP_CHECK(r == AIRLOCK_E_IO,
		  "write to a full medium fails with IO "
		  "(got %s)",
		  err_name(r));
	TAP_CHECK(strstr(err_detail_get(), "medium is full") != NULL &&
		      strstr(err_detail_get(),
			     "nothing was written under ledger.jsonl") != NULL,
		  "detail says the medium is full and nothing was written "
		  "(%s)",
		  err_detail_get());
	TAP_CHECK(fstatat(fd, "ledger.jsonl", &st, 0) != 0 && errno == ENOENT,
		  "target does not exist after ENOSPC");
	TAP_CHECK(temps_in(mnt) == 0, "no temporary left after ENOSPC");
	r = safefile_write_new(fd, "chain.pem", big, sizeof(big), 0600);
	TAP_CHECK(r == AIRLOCK_E_IO && fstatat(fd, "chain.pem", &st, 0) != 0,
		  "write_new on a full medium fails and removes its file");
	r = safefile_write_atomic(fd, "small", "ok", 2, 0600, 0);
	TAP_CHECK(r == 0, "the medium still takes a small file afterwards");
out:
	if (fd != -1)
		close(fd);
	if (umount(mnt) != 0)
		printf("# umount %s: %s\n", mnt, strerror(errno));
	rmdir(mnt);
}

int
main(void)
{
	char cmd[600];
	int dfd = -1, r;

	if (mkdtemp(base) == NULL) {
		printf("not ok - mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	names();
	r = safefile_dir_open(base, &dfd);
	TAP_CHECK(r == 0, "open the test directory");
	if (r == 0) {
		reads(dfd);
		dirs();
		writes(dfd);
		full_medium();
		close(dfd);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	if (system(cmd) != 0)
		printf("# cleanup of %s failed\n", base);
	return TAP_DONE();
}
