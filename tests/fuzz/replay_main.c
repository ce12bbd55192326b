/* Standalone driver for the fuzz harnesses without libFuzzer: feed every
 * file of each directory (or each file) named on the command line to
 * LLVMFuzzerTestOneInput, in name order, and print how many were replayed.
 * `make check` uses it to replay the checked-in corpora with any compiler.
 *
 * A crash or abort in the harness kills the process; a signal handler names
 * the input first, so the failure can be reproduced with the same binary
 * and that one file. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

#define REPLAY_MAX (1u << 20) /* larger inputs are refused, not truncated */

static char current[4096];

static void
on_fatal(int sig)
{
	static const char msg[] = "replay: crashed on input ";

	if (write(2, msg, sizeof(msg) - 1) < 0 ||
	    write(2, current, strlen(current)) < 0 || write(2, "\n", 1) < 0)
		_exit(128 + sig);
	signal(sig, SIG_DFL);
	raise(sig);
}

static int
read_file(const char *path, unsigned char **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *b;
	size_t n;

	if (f == NULL)
		return -1;
	/* one byte more than the cap, to see an oversized file */
	if ((b = malloc(REPLAY_MAX + 1)) == NULL) {
		fclose(f);
		return -1;
	}
	n = fread(b, 1, REPLAY_MAX + 1, f);
	if (ferror(f) || n > REPLAY_MAX) {
		fclose(f);
		free(b);
		return -1;
	}
	fclose(f);
	*buf = b;
	*len = n;
	return 0;
}

static int
replay_one(const char *path)
{
	unsigned char *buf = NULL, *copy;
	size_t len = 0;

	if (read_file(path, &buf, &len) != 0) {
		fprintf(stderr, "replay: %s: cannot read (or over %u bytes)\n",
			path, REPLAY_MAX);
		return -1;
	}
	/* an exact-size copy, so that an overread is visible to ASan as
	 * with libFuzzer */
	if ((copy = malloc(len ? len : 1)) == NULL) {
		free(buf);
		return -1;
	}
	memcpy(copy, buf, len);
	free(buf);
	snprintf(current, sizeof(current), "%s", path);
	LLVMFuzzerTestOneInput(copy, len);
	free(copy);
	return 0;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file directly in DIR, in name order; hidden names
 * skipped. *N counts the inputs replayed. */
static int
replay_dir(const char *dir, size_t *n)
{
	char **names = NULL, **nn, path[4096];
	size_t count = 0, cap = 0, i;
	struct dirent *de;
	struct stat st;
	DIR *d;
	int r = 0;

	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (count == cap) {
			cap = cap ? 2 * cap : 64;
			if ((nn = realloc(names, cap * sizeof(*nn))) == NULL) {
				r = -1;
				break;
			}
			names = nn;
		}
		if ((names[count] = strdup(de->d_name)) == NULL) {
			r = -1;
			break;
		}
		count++;
	}
	closedir(d);
	if (count > 0)
		qsort(names, count, sizeof(*names), name_cmp);
	for (i = 0; i < count && r == 0; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if ((r = replay_one(path)) == 0)
			(*n)++;
	}
	for (i = 0; i < count; i++)
		free(names[i]);
	free(names);
	return r;
}

int
main(int argc, char **argv)
{
	struct stat st;
	size_t n = 0;
	int i;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
		return 2;
	}
	signal(SIGSEGV, on_fatal);
	signal(SIGABRT, on_fatal);
	signal(SIGBUS, on_fatal);
	signal(SIGFPE, on_fatal);
	signal(SIGILL, on_fatal);
	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
				strerror(errno));
			return 1;
		}
		if (S_ISDIR(st.st_mode)) {
			if (replay_dir(argv[i], &n) != 0)
				return 1;
		} else {
			if (replay_one(argv[i]) != 0)
				return 1;
			n++;
		}
	}
	printf("%zu inputs replayed\n", n);
	return 0;
}
